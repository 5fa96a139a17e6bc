/*
 * compact_blocked_avx2.c — the blocked compact kernels (cpu/compact_blocked_body.h)
 * for AVX2 + FMA + F16C: int8 panels packed by widening (vpmovsxbw) and an 8 x 8
 * transpose of 32-bit pairs, half panels by vcvtph2ps (float16) or a zero
 * extension and shift (bfloat16) and an 8 x 8 float transpose; the int8 tile
 * is 6 queries x 16 rows in 12 ymm int32 accumulators (vpmaddwd + vpaddd).
 * Compiled with -mavx2 -mfma -mf16c; compact_avx2.c's table points here.
 */
#include <immintrin.h>
#include <stdint.h>

#include "compact.h"

#define CBI __m256i
#define CBW 8
#define CB_MR 6
#define CB_MR 6
#define CB_ZEROI() _mm256_setzero_si256()
#define CB_LOADI(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define CB_STOREI(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), v)
#define CB_BCAST32(p) _mm256_set1_epi32(*(p))
#define CB_MADD_ACC(acc, x, q) _mm256_add_epi32(acc, _mm256_madd_epi16(x, q))
#define CB_I8_PAIRS(row) _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(row)))
#define CB_HALF(p, bf16)                                                                           \
    ((bf16) ? _mm256_castsi256_ps(_mm256_slli_epi32(                                               \
                  _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))), 16)) \
            : _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p))))

/* Rows r0..r7 -> columns r0..r7 of an 8 x 8 block of floats, in named registers. */
#define TRANSPOSE8_PS(r0, r1, r2, r3, r4, r5, r6, r7)                                              \
    do {                                                                                           \
        const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);             \
        const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);             \
        const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);             \
        const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);             \
        const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee);   \
        const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);   \
        const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xee);   \
        const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xee);   \
        (r0) = _mm256_permute2f128_ps(s0, s4, 0x20);                                               \
        (r1) = _mm256_permute2f128_ps(s1, s5, 0x20);                                               \
        (r2) = _mm256_permute2f128_ps(s2, s6, 0x20);                                               \
        (r3) = _mm256_permute2f128_ps(s3, s7, 0x20);                                               \
        (r4) = _mm256_permute2f128_ps(s0, s4, 0x31);                                               \
        (r5) = _mm256_permute2f128_ps(s1, s5, 0x31);                                               \
        (r6) = _mm256_permute2f128_ps(s2, s6, 0x31);                                               \
        (r7) = _mm256_permute2f128_ps(s3, s7, 0x31);                                               \
    } while (0)

/* r0..r7 to dst, nr floats apart. */
static inline __attribute__((always_inline)) void store8_ps(float *dst, size_t nr, __m256 r0,
                                                            __m256 r1, __m256 r2, __m256 r3,
                                                            __m256 r4, __m256 r5, __m256 r6,
                                                            __m256 r7) {
    const __m256 r[8] = {r0, r1, r2, r3, r4, r5, r6, r7};
    for (size_t t = 0; t < 8; t++)
        _mm256_storeu_ps(dst + t * nr, r[t]);
}

/* 8 rows (dim apart) x 8 dims of halves at src -> dst[t * nr + j], dim t, row j. */
static inline __attribute__((always_inline)) void
pack8_half(const uint16_t *src, size_t dim, const int bf16, float *dst, size_t nr) {
    __m256 r0 = CB_HALF(src, bf16), r1 = CB_HALF(src + dim, bf16);
    __m256 r2 = CB_HALF(src + 2 * dim, bf16), r3 = CB_HALF(src + 3 * dim, bf16);
    __m256 r4 = CB_HALF(src + 4 * dim, bf16), r5 = CB_HALF(src + 5 * dim, bf16);
    __m256 r6 = CB_HALF(src + 6 * dim, bf16), r7 = CB_HALF(src + 7 * dim, bf16);
    TRANSPOSE8_PS(r0, r1, r2, r3, r4, r5, r6, r7);
    store8_ps(dst, nr, r0, r1, r2, r3, r4, r5, r6, r7);
}

/* 8 rows (dim apart) x 16 int8 dims at src -> int32 pairs dst[t * nr + j], pair t, row j. */
static inline __attribute__((always_inline)) void pack8_i8(const int8_t *src, size_t dim,
                                                           int32_t *dst, size_t nr) {
#define PAIRS_PS(k) _mm256_castsi256_ps(CB_I8_PAIRS(src + (k)*dim))
    __m256 r0 = PAIRS_PS(0), r1 = PAIRS_PS(1), r2 = PAIRS_PS(2), r3 = PAIRS_PS(3);
    __m256 r4 = PAIRS_PS(4), r5 = PAIRS_PS(5), r6 = PAIRS_PS(6), r7 = PAIRS_PS(7);
#undef PAIRS_PS
    TRANSPOSE8_PS(r0, r1, r2, r3, r4, r5, r6, r7);
    store8_ps((float *)(void *)dst, nr, r0, r1, r2, r3, r4, r5, r6, r7);
}

/*
 * One query's step as one asm block: broadcast, then madd + add into each
 * accumulator through one temporary. Written as C, gcc hoisted every
 * query's broadcast ahead of the madds and spilled half the accumulators
 * to the stack (16 ymm registers: 12 accumulators, 2 panel vectors, the
 * broadcast and the madd result fit only in this order).
 */
#define CB_ROW_STEP(lo, hi, x0, x1, p)                                                             \
    do {                                                                                           \
        __m256i q_, t_;                                                                            \
        __asm__("vpbroadcastd %[m], %[q]\n\t"                                                      \
                "vpmaddwd %[q], %[a], %[t]\n\t"                                                    \
                "vpaddd %[t], %[l], %[l]\n\t"                                                      \
                "vpmaddwd %[q], %[b], %[t]\n\t"                                                    \
                "vpaddd %[t], %[h], %[h]"                                                          \
                : [l] "+x"(lo), [h] "+x"(hi), [q] "=&x"(q_), [t] "=&x"(t_)                         \
                : [a] "x"(x0), [b] "x"(x1), [m] "m"(*(p)));                                        \
    } while (0)

#define CB_PREFETCH(p) _mm_prefetch((const char *)(const void *)(p), _MM_HINT_T0)
#define CB_PACK_HALF(src, dim, bf16, dst, nr) pack8_half(src, dim, bf16, dst, nr)
#define CB_PACK_I8(src, dim, dst, nr) pack8_i8(src, dim, dst, nr)

#define CB_PREFIX vs__compact_avx2_
#include "compact_blocked_body.h"
