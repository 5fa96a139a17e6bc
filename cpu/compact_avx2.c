/*
 * compact_avx2.c — compact kernels for AVX2 + FMA + F16C: float16 widened with
 * vcvtph2ps, bfloat16 by a 16-bit shift and a mask (even / odd dims, against
 * permuted queries), int8 x int16 by vpmaddwd into int32 lanes (widened to
 * int64 every VS_COMPACT_I8_BLOCK dims, so nothing can overflow). Compiled with -mavx2 -mfma
 * -mf16c. The kernels are cpu/compact_body.h, compiled here with this file's flags.
 */
#include <immintrin.h>
#include <stdint.h>

#include "compact.h"
#include "kernels.h"

#define CV __m256
#define CVI __m256i
#define CW 8
#define CIW 16
#define C_ZERO() _mm256_setzero_ps()
#define C_ZEROI() _mm256_setzero_si256()
#define C_FMA(a, b, acc) _mm256_fmadd_ps(a, b, acc)
#define C_LOADQ(p) _mm256_loadu_ps(p)
#define C_LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define C_LOADW(p) _mm256_loadu_si256((const __m256i *)(p))
#define C_BF16_EVEN(w) _mm256_castsi256_ps(_mm256_slli_epi32(w, 16))
#define C_BF16_ODD(w) _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32((int)0xffff0000u)))
#define C_I8_WIDEN(row) _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row)))
#define C_LOADQI(q) _mm256_loadu_si256((const __m256i *)(q))
#define C_MADD(x, q) _mm256_madd_epi16(x, q)
#define C_ADD(a, b) _mm256_add_ps(a, b)
#define C_ADDI(a, b) _mm256_add_epi32(a, b)

static inline float C_HSUM(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int64_t C_HSUM_I32(__m256i v) {
    const __m256i wide = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)),
                                          _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1)));
    int64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, wide);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

#include "compact_body.h"

static void dot_f16_avx2(const float *const *queries, size_t rows, const uint16_t *stored,
                         size_t count, size_t dim, float *out, size_t ldo) {
    compact_half_rows(queries, rows, stored, count, dim, out, ldo, 0);
}

static void dot_bf16_avx2(const float *const *queries, size_t rows, const uint16_t *stored,
                          size_t count, size_t dim, float *out, size_t ldo) {
    compact_half_rows(queries, rows, stored, count, dim, out, ldo, 1);
}

static uint64_t scan1_f16_avx2(const float *query, const uint16_t *stored, size_t count, size_t dim,
                               float threshold, float *out) {
    return half_row1(query, stored, count, dim, out, threshold, 0);
}

static uint64_t scan1_bf16_avx2(const float *query, const uint16_t *stored, size_t count,
                                size_t dim, float threshold, float *out) {
    return half_row1(query, stored, count, dim, out, threshold, 1);
}

static uint64_t scan1_i8_avx2(const int16_t *query, const int8_t *stored, size_t count, size_t dim,
                              int64_t threshold, int64_t *out) {
    return i8_row1(query, stored, count, dim, out, threshold);
}

const vs__compact_kernels vs__compact_avx2 = {
    .isa = "avx2",
    .bf16_pairs = 8,
    .dot_f16 = dot_f16_avx2,
    .dot_bf16 = dot_bf16_avx2,
    .dot_i8 = compact_i8_rows,
    .scan1_f16 = scan1_f16_avx2,
    .scan1_bf16 = scan1_bf16_avx2,
    .scan1_i8 = scan1_i8_avx2,
    .block_queries = 8, /* measured: blocked wins from 8 queries (docs/isa.md) */
    .f32 = &vs__kernels_avx2,
    .pack_half = vs__compact_avx2_pack_half,
    .i8_mr = 6,
    .i8_nr = 2 * 8,
    .pack_i8 = vs__compact_avx2_pack_i8,
    .dot_i8_blocked = vs__compact_avx2_dot_i8_blocked,
};
