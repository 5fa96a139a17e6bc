/*
 * compact_avx512.c — compact kernels for AVX-512F/BW: float16 widened with
 * vcvtph2ps (zmm), bfloat16 by a 16-bit shift, int8 x int16 by vpmaddwd
 * (zmm) into int32 lanes (widened to int64 every VS_COMPACT_I8_BLOCK dims).
 * Compiled with -mavx512f -mavx512bw -mfma. The AVX512_BF16 (vdpbf16ps) and
 * AVX512_VNNI (vpdpbusd) forms are not used yet (docs/isa.md).
 */
#include <immintrin.h>
#include <math.h>

#include "compact.h"

static inline float hsum(__m512 v) {
    return _mm512_reduce_add_ps(v);
}

static inline int64_t hsum_i32(__m512i v) {
    int32_t lanes[16];
    _mm512_storeu_si512((void *)lanes, v);
    int64_t sum = 0;
    for (int l = 0; l < 16; l++)
        sum += lanes[l];
    return sum;
}

static void dot_f16_avx512(const float *const *queries, size_t rows, const uint16_t *stored,
                           size_t count, size_t dim, float *out, size_t ldo) {
    for (size_t j = 0; j < count; j++) {
        const uint16_t *row = stored + j * dim;
        __m512 sum_a[VS_COMPACT_QUERIES], sum_b[VS_COMPACT_QUERIES];
        for (size_t r = 0; r < rows; r++)
            sum_a[r] = sum_b[r] = _mm512_setzero_ps();
        size_t i = 0;
        for (; i + 32 <= dim; i += 32) {
            const __m512 lo = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + i)));
            const __m512 hi = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + i + 16)));
            for (size_t r = 0; r < rows; r++) {
                sum_a[r] = _mm512_fmadd_ps(_mm512_loadu_ps(queries[r] + i), lo, sum_a[r]);
                sum_b[r] = _mm512_fmadd_ps(_mm512_loadu_ps(queries[r] + i + 16), hi, sum_b[r]);
            }
        }
        for (; i + 16 <= dim; i += 16) {
            const __m512 lo = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + i)));
            for (size_t r = 0; r < rows; r++)
                sum_a[r] = _mm512_fmadd_ps(_mm512_loadu_ps(queries[r] + i), lo, sum_a[r]);
        }
        for (size_t r = 0; r < rows; r++) {
            float sum = hsum(sum_a[r]) + hsum(sum_b[r]);
            for (size_t t = i; t < dim; t++)
                sum = fmaf(queries[r][t], vs__compact_f16_to_f32(row[t]), sum);
            out[r * ldo + j] = sum;
        }
    }
}

static void dot_bf16_avx512(const float *const *queries, size_t rows, const uint16_t *stored,
                            size_t count, size_t dim, float *out, size_t ldo) {
    for (size_t j = 0; j < count; j++) {
        const uint16_t *row = stored + j * dim;
        __m512 sum_a[VS_COMPACT_QUERIES], sum_b[VS_COMPACT_QUERIES];
        for (size_t r = 0; r < rows; r++)
            sum_a[r] = sum_b[r] = _mm512_setzero_ps();
        size_t i = 0;
        for (; i + 32 <= dim; i += 32) {
            const __m512 lo = _mm512_castsi512_ps(_mm512_slli_epi32(
                _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(row + i))), 16));
            const __m512 hi = _mm512_castsi512_ps(_mm512_slli_epi32(
                _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(row + i + 16))), 16));
            for (size_t r = 0; r < rows; r++) {
                sum_a[r] = _mm512_fmadd_ps(_mm512_loadu_ps(queries[r] + i), lo, sum_a[r]);
                sum_b[r] = _mm512_fmadd_ps(_mm512_loadu_ps(queries[r] + i + 16), hi, sum_b[r]);
            }
        }
        for (; i + 16 <= dim; i += 16) {
            const __m512 lo = _mm512_castsi512_ps(_mm512_slli_epi32(
                _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(row + i))), 16));
            for (size_t r = 0; r < rows; r++)
                sum_a[r] = _mm512_fmadd_ps(_mm512_loadu_ps(queries[r] + i), lo, sum_a[r]);
        }
        for (size_t r = 0; r < rows; r++) {
            float sum = hsum(sum_a[r]) + hsum(sum_b[r]);
            for (size_t t = i; t < dim; t++)
                sum = fmaf(queries[r][t], vs__compact_bf16_to_f32(row[t]), sum);
            out[r * ldo + j] = sum;
        }
    }
}

static void dot_i8_avx512(const int16_t *const *queries, size_t rows, const int8_t *stored,
                          size_t count, size_t dim, int64_t *out, size_t ldo) {
    for (size_t j = 0; j < count; j++) {
        const int8_t *row = stored + j * dim;
        int64_t total[VS_COMPACT_QUERIES] = {0};
        size_t i = 0;
        while (i + 32 <= dim) {
            const size_t block_end = i + VS_COMPACT_I8_BLOCK < dim ? i + VS_COMPACT_I8_BLOCK : dim;
            __m512i sum[VS_COMPACT_QUERIES];
            for (size_t r = 0; r < rows; r++)
                sum[r] = _mm512_setzero_si512();
            for (; i + 32 <= block_end; i += 32)
                for (size_t r = 0; r < rows; r++)
                    sum[r] = _mm512_add_epi32(
                        sum[r],
                        _mm512_madd_epi16(
                            _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(row + i))),
                            _mm512_loadu_si512((const void *)(queries[r] + i))));
            for (size_t r = 0; r < rows; r++)
                total[r] += hsum_i32(sum[r]);
        }
        for (size_t r = 0; r < rows; r++) {
            for (size_t t = i; t < dim; t++)
                total[r] += (int32_t)queries[r][t] * row[t];
            out[r * ldo + j] = total[r];
        }
    }
}

const vs__compact_kernels vs__compact_avx512 = {
    .isa = "avx512",
    .dot_f16 = dot_f16_avx512,
    .dot_bf16 = dot_bf16_avx512,
    .dot_i8 = dot_i8_avx512,
};
