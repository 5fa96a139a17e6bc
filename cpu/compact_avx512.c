/*
 * compact_avx512.c — compact kernels for AVX-512F/BW: float16 widened with
 * vcvtph2ps (zmm), bfloat16 by a 16-bit shift and a mask (even / odd dims), int8 x int16 by
 * vpmaddwd (zmm) into int32 lanes (widened to int64 every VS_COMPACT_I8_BLOCK dims). Compiled with
 * -mavx512f -mavx512bw -mfma -mf16c. The AVX512_BF16 (vdpbf16ps) and AVX512_VNNI (vpdpbusd) forms
 * are not used yet (docs/isa.md). The kernels are cpu/compact_body.h, compiled here with this
 * file's flags.
 */
#include <immintrin.h>
#include <stdint.h>

#include "compact.h"
#include "kernels.h"

#define CV __m512
#define CVI __m512i
#define CW 16
#define CIW 32
#define C_ZERO() _mm512_setzero_ps()
#define C_ZEROI() _mm512_setzero_si512()
#define C_FMA(a, b, acc) _mm512_fmadd_ps(a, b, acc)
#define C_LOADQ(p) _mm512_loadu_ps(p)
#define C_LOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define C_LOADW(p) _mm512_loadu_si512((const void *)(p))
#define C_BF16_EVEN(w) _mm512_castsi512_ps(_mm512_slli_epi32(w, 16))
#define C_BF16_ODD(w) _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32((int)0xffff0000u)))
#define C_I8_WIDEN(row) _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(row)))
#define C_LOADQI(q) _mm512_loadu_si512((const void *)(q))
#define C_MADD(x, q) _mm512_madd_epi16(x, q)
#define C_PREFETCH(p) _mm_prefetch((p), _MM_HINT_T0)
#define C_ADDI(a, b) _mm512_add_epi32(a, b)
#define C_HSUM(v) _mm512_reduce_add_ps(v)

static inline int64_t C_HSUM_I32(__m512i v) {
    const __m512i wide = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(v)),
                                          _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1)));
    return _mm512_reduce_add_epi64(wide);
}

#include "compact_body.h"

static void dot_f16_avx512(const float *const *queries, size_t rows, const uint16_t *stored,
                           size_t count, size_t dim, float *out, size_t ldo) {
    compact_half_rows(queries, rows, stored, count, dim, out, ldo, 0);
}

static void dot_bf16_avx512(const float *const *queries, size_t rows, const uint16_t *stored,
                            size_t count, size_t dim, float *out, size_t ldo) {
    compact_half_rows(queries, rows, stored, count, dim, out, ldo, 1);
}

const vs__compact_kernels vs__compact_avx512 = {
    .isa = "avx512",
    .bf16_pairs = 16,
    .dot_f16 = dot_f16_avx512,
    .dot_bf16 = dot_bf16_avx512,
    .dot_i8 = compact_i8_rows,
    .block_queries = 16,
    .f32 = &vs__kernels_avx512,
    .pack_half = vs__compact_avx512_pack_half,
    .i8_mr = 6,
    .i8_nr = 2 * 16,
    .pack_i8 = vs__compact_avx512_pack_i8,
    .dot_i8_blocked = vs__compact_avx512_dot_i8_blocked,
};
