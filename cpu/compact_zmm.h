/*
 * compact_zmm.h — the AVX-512F/BW register forms of cpu/compact_body.h's
 * macros, shared by compact_avx512.c and its feature files
 * (compact_avx512_bf16.c, compact_avx512_vnni.c), which may add the body's
 * hooks (C_MADD_ADD, C_BF16_DP) before including compact_body.h. Include it
 * first: its intrinsics come through x86_simd.h (SIMDe in the emulated build).
 */
#ifndef VS_CPU_COMPACT_ZMM_H
#define VS_CPU_COMPACT_ZMM_H

#include "x86_simd.h"

#include <stdint.h>

#include "compact.h"

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
#define C_ADD(a, b) _mm512_add_ps(a, b)
#define C_ADDI(a, b) _mm512_add_epi32(a, b)
#define C_HSUM(v) _mm512_reduce_add_ps(v)

static inline int64_t C_HSUM_I32(__m512i v) {
    const __m512i wide = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(v)),
                                          _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1)));
    return _mm512_reduce_add_epi64(wide);
}

#endif /* VS_CPU_COMPACT_ZMM_H */
