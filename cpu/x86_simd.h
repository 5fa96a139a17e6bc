/*
 * x86_simd.h — where the AVX-512 ISA files (avx512.c, compact_avx512*.c) get
 * their intrinsics from, so that the same sources are tested on a CPU without
 * AVX-512.
 *
 * Normally this is <immintrin.h>, and the file's own -m flags make the
 * instructions real. Compiled with VS_SIMDE defined (the emulated objects of
 * tests/CMakeLists.txt, linked only into the test programs), it is SIMDe's
 * header-only implementation of the same intrinsics under the same names
 * (SIMDE_ENABLE_NATIVE_ALIASES), and the file's tables and exported kernels
 * take a _simde suffix, so the emulated objects link next to the real ones.
 * Tests hand the emulated tables to the dispatcher (vs__cpu_emulate_avx512,
 * cpu/kernels.h); the library itself never references them.
 *
 * Include this before kernels.h / compact.h (the renames below apply to their
 * declarations too).
 */
#ifndef VS_CPU_X86_SIMD_H
#define VS_CPU_X86_SIMD_H

#include <string.h>

#ifdef VS_SIMDE
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#define vs__kernels_avx512 vs__kernels_avx512_simde
#define vs__compact_avx512 vs__compact_avx512_simde
#define vs__compact_avx512_bf16 vs__compact_avx512_bf16_simde
#define vs__compact_avx512_vnni vs__compact_avx512_vnni_simde
#define vs__compact_avx512_bf16_vnni vs__compact_avx512_bf16_vnni_simde
#define vs__compact_dot_bf16_avx512bf16 vs__compact_dot_bf16_avx512bf16_simde
#define vs__compact_dot_i8_avx512vnni vs__compact_dot_i8_avx512vnni_simde
#define vs__compact_scan1_bf16_avx512bf16 vs__compact_scan1_bf16_avx512bf16_simde
#define vs__compact_scan1_i8_avx512vnni vs__compact_scan1_i8_avx512vnni_simde
#define vs__compact_avx512_pack_half vs__compact_avx512_pack_half_simde
#define vs__compact_avx512_pack_i8 vs__compact_avx512_pack_i8_simde
#define vs__compact_avx512_dot_i8_blocked vs__compact_avx512_dot_i8_blocked_simde
#define vs__compact_avx512vnni_dot_i8_blocked vs__compact_avx512vnni_dot_i8_blocked_simde
#include "compact.h" /* after the renames: vs__compact_f16_to_f32 for vcvtph2ps below */
/*
 * What SIMDe 0.7.4 lacks of what the files use, with the instructions'
 * semantics: a masked load reads only the lanes its mask selects (the
 * no-overread tests check that the emulated kernels honour it too).
 */
/* SIMDe 0.7.4's alias of _mm512_madd_epi16 takes the 4 arguments of the masked form. */
#undef _mm512_madd_epi16
#define _mm512_madd_epi16(a, b) simde_mm512_madd_epi16(a, b)
#ifndef __mmask16
#define __mmask16 simde__mmask16
#endif
static inline __m512 vs__simde_maskz_loadu_ps(__mmask16 mask, const void *at) {
    float lanes[16] = {0};
    for (int i = 0; i < 16; i++)
        if (mask & (1u << i)) memcpy(&lanes[i], (const char *)at + 4 * i, 4);
    return _mm512_loadu_ps(lanes);
}
#define _mm512_maskz_loadu_ps(mask, at) vs__simde_maskz_loadu_ps(mask, at)
/* The order of gcc's _mm512_reduce_add_ps: halves, quarters, then pairs. */
static inline float vs__simde_reduce_add_ps(__m512 v) {
    float l[16], h[8], q[4];
    _mm512_storeu_ps(l, v);
    for (int i = 0; i < 8; i++)
        h[i] = l[i + 8] + l[i];
    for (int i = 0; i < 4; i++)
        q[i] = h[i + 4] + h[i];
    return (q[0] + q[2]) + (q[1] + q[3]);
}
#define _mm512_reduce_add_ps(v) vs__simde_reduce_add_ps(v)
static inline long long vs__simde_reduce_add_epi64(__m512i v) {
    long long l[8], sum = 0;
    _mm512_storeu_si512((void *)l, v);
    for (int i = 0; i < 8; i++)
        sum += l[i];
    return sum;
}
#define _mm512_reduce_add_epi64(v) vs__simde_reduce_add_epi64(v)
static inline __m512i vs__simde_cvtepi32_epi64(__m256i v) {
    int l[8];
    long long w[8];
    _mm256_storeu_si256((__m256i *)(void *)l, v);
    for (int i = 0; i < 8; i++)
        w[i] = l[i];
    return _mm512_loadu_si512((const void *)w);
}
#define _mm512_cvtepi32_epi64(v) vs__simde_cvtepi32_epi64(v)
/* vcvtph2ps: exact, subnormal halves included (the instruction ignores DAZ). */
static inline __m512 vs__simde_cvtph_ps(__m256i v) {
    uint16_t bits[16];
    float lanes[16];
    _mm256_storeu_si256((__m256i *)(void *)bits, v);
    for (int i = 0; i < 16; i++)
        lanes[i] = vs__compact_f16_to_f32(bits[i]);
    return _mm512_loadu_ps(lanes);
}
#define _mm512_cvtph_ps(v) vs__simde_cvtph_ps(v)
/*
 * vdpbf16ps as the hardware does it, not as SIMDe 0.7.4 does (plain float
 * arithmetic): per lane, the odd pair's product then the even pair's is added
 * to the lane, rounded to nearest even, with subnormal inputs (DAZ),
 * products and sums (FTZ) flushed to zero. So the emulated tests exercise the
 * bound's flush terms (docs/numerics.md).
 */
static inline float vs__simde_flush(float x) {
    return __builtin_fabsf(x) < 0x1p-126f ? 0.0f : x;
}
static inline float vs__simde_bf16(unsigned short bits) {
    const unsigned int word = (unsigned int)bits << 16;
    float x;
    memcpy(&x, &word, sizeof(x));
    return vs__simde_flush(x);
}
static inline __m512 vs__simde_dpbf16_ps(__m512 src, __m512bh a, __m512bh b) {
    float lanes[16];
    unsigned short wa[32], wb[32];
    _mm512_storeu_ps(lanes, src);
    memcpy(wa, &a, sizeof(wa));
    memcpy(wb, &b, sizeof(wb));
    for (int i = 0; i < 16; i++) {
        float acc = vs__simde_flush(lanes[i]);
        for (int half = 1; half >= 0; half--) {
            const float product = vs__simde_flush(vs__simde_bf16(wa[2 * i + half]) *
                                                  vs__simde_bf16(wb[2 * i + half]));
            acc = vs__simde_flush(acc + product);
        }
        lanes[i] = acc;
    }
    return _mm512_loadu_ps(lanes);
}
#undef _mm512_dpbf16_ps
#define _mm512_dpbf16_ps(src, a, b) vs__simde_dpbf16_ps(src, a, b)
#else
#include <immintrin.h>
#endif

/* 32 bfloat16 values, reinterpreted from 16 32-bit lanes (no instruction). */
static inline __m512bh vs__m512i_as_bh(__m512i v) {
    __m512bh r;
    memcpy(&r, &v, sizeof(r));
    return r;
}

#endif /* VS_CPU_X86_SIMD_H */
