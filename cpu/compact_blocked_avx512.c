/*
 * compact_blocked_avx512.c — the blocked compact kernels (cpu/compact_blocked_body.h)
 * for AVX-512F/BW: the int8 tile is 6 queries x 32 rows in 12 zmm int32
 * accumulators (vpmaddwd + vpaddd); an AVX512_VNNI form is CB_MADD_ACC as
 * _mm512_dpwssd_epi32 (vpdpwssd). The panels are packed by the body's plain
 * loops (no 16 x 16 transpose yet). Compiled with -mavx512f -mavx512bw -mfma
 * -mf16c; compact_avx512.c's table points here.
 */
#include "x86_simd.h" /* first: <immintrin.h>, or SIMDe and the _simde names (tests) */

#include <stdint.h>

#include "compact.h"

#define CBI __m512i
#define CBW 16
#define CB_ZEROI() _mm512_setzero_si512()
#define CB_LOADI(p) _mm512_loadu_si512((const void *)(p))
#define CB_STOREI(p, v) _mm512_storeu_si512((void *)(p), v)
#define CB_BCAST32(p) _mm512_set1_epi32(*(p))
#define CB_MADD_ACC(acc, x, q) _mm512_add_epi32(acc, _mm512_madd_epi16(x, q))

#define CB_PREFIX vs__compact_avx512_
#include "compact_blocked_body.h"
