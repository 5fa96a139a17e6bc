/*
 * compact_avx2.c — compact kernels for AVX2 + FMA + F16C: float16 widened with
 * vcvtph2ps, bfloat16 by a 16-bit shift, int8 x int16 by vpmaddwd into int32
 * lanes (widened to int64 every VS_COMPACT_I8_BLOCK dims, so nothing can
 * overflow). Compiled with -mavx2 -mfma -mf16c.
 */
#include <immintrin.h>
#include <math.h>

#include "compact.h"

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int64_t hsum_i32(__m256i v) {
    int32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, v);
    int64_t sum = 0;
    for (int l = 0; l < 8; l++)
        sum += lanes[l];
    return sum;
}

static void dot_f16_avx2(const float *const *queries, size_t rows, const uint16_t *stored,
                         size_t count, size_t dim, float *out, size_t ldo) {
    for (size_t j = 0; j < count; j++) {
        const uint16_t *row = stored + j * dim;
        __m256 sum_a[VS_COMPACT_QUERIES], sum_b[VS_COMPACT_QUERIES];
        for (size_t r = 0; r < rows; r++)
            sum_a[r] = sum_b[r] = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 16 <= dim; i += 16) {
            const __m256 lo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + i)));
            const __m256 hi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + i + 8)));
            for (size_t r = 0; r < rows; r++) {
                sum_a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(queries[r] + i), lo, sum_a[r]);
                sum_b[r] = _mm256_fmadd_ps(_mm256_loadu_ps(queries[r] + i + 8), hi, sum_b[r]);
            }
        }
        for (; i + 8 <= dim; i += 8) {
            const __m256 lo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + i)));
            for (size_t r = 0; r < rows; r++)
                sum_a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(queries[r] + i), lo, sum_a[r]);
        }
        for (size_t r = 0; r < rows; r++) {
            float sum = hsum(sum_a[r]) + hsum(sum_b[r]);
            for (size_t t = i; t < dim; t++)
                sum = fmaf(queries[r][t], vs__compact_f16_to_f32(row[t]), sum);
            out[r * ldo + j] = sum;
        }
    }
}

static void dot_bf16_avx2(const float *const *queries, size_t rows, const uint16_t *stored,
                          size_t count, size_t dim, float *out, size_t ldo) {
    for (size_t j = 0; j < count; j++) {
        const uint16_t *row = stored + j * dim;
        __m256 sum_a[VS_COMPACT_QUERIES], sum_b[VS_COMPACT_QUERIES];
        for (size_t r = 0; r < rows; r++)
            sum_a[r] = sum_b[r] = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 16 <= dim; i += 16) {
            const __m256 lo = _mm256_castsi256_ps(_mm256_slli_epi32(
                _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + i))), 16));
            const __m256 hi = _mm256_castsi256_ps(_mm256_slli_epi32(
                _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + i + 8))), 16));
            for (size_t r = 0; r < rows; r++) {
                sum_a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(queries[r] + i), lo, sum_a[r]);
                sum_b[r] = _mm256_fmadd_ps(_mm256_loadu_ps(queries[r] + i + 8), hi, sum_b[r]);
            }
        }
        for (; i + 8 <= dim; i += 8) {
            const __m256 lo = _mm256_castsi256_ps(_mm256_slli_epi32(
                _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + i))), 16));
            for (size_t r = 0; r < rows; r++)
                sum_a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(queries[r] + i), lo, sum_a[r]);
        }
        for (size_t r = 0; r < rows; r++) {
            float sum = hsum(sum_a[r]) + hsum(sum_b[r]);
            for (size_t t = i; t < dim; t++)
                sum = fmaf(queries[r][t], vs__compact_bf16_to_f32(row[t]), sum);
            out[r * ldo + j] = sum;
        }
    }
}

static void dot_i8_avx2(const int16_t *const *queries, size_t rows, const int8_t *stored,
                        size_t count, size_t dim, int64_t *out, size_t ldo) {
    for (size_t j = 0; j < count; j++) {
        const int8_t *row = stored + j * dim;
        int64_t total[VS_COMPACT_QUERIES] = {0};
        size_t i = 0;
        while (i + 16 <= dim) {
            const size_t block_end = i + VS_COMPACT_I8_BLOCK < dim ? i + VS_COMPACT_I8_BLOCK : dim;
            __m256i sum[VS_COMPACT_QUERIES];
            for (size_t r = 0; r < rows; r++)
                sum[r] = _mm256_setzero_si256();
            for (; i + 16 <= block_end; i += 16)
                for (size_t r = 0; r < rows; r++)
                    sum[r] = _mm256_add_epi32(
                        sum[r],
                        _mm256_madd_epi16(
                            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row + i))),
                            _mm256_loadu_si256((const __m256i *)(queries[r] + i))));
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

const vs__compact_kernels vs__compact_avx2 = {
    .isa = "avx2",
    .dot_f16 = dot_f16_avx2,
    .dot_bf16 = dot_bf16_avx2,
    .dot_i8 = dot_i8_avx2,
};
