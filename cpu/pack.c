/* pack.c — dimension-major packing for the tile micro-kernel, and norms (aux values). */
#include <math.h>
#include <string.h>

#include "kernels.h"

void vs__pack_rows(const float *rows, size_t count, size_t dim, size_t stride, float *dst) {
    /* Blocks of 16 dimensions keep the source rows' cache lines hot. */
    for (size_t d0 = 0; d0 < dim; d0 += 16) {
        size_t d1 = d0 + 16 < dim ? d0 + 16 : dim;
        for (size_t j = 0; j < count; j++) {
            const float *src = rows + j * dim;
            for (size_t d = d0; d < d1; d++)
                dst[d * stride + j] = src[d];
        }
        for (size_t j = count; j < stride; j++)
            for (size_t d = d0; d < d1; d++)
                dst[d * stride + j] = 0.0f;
    }
}

size_t vs__packed_floats(size_t n, size_t dim, size_t nr) {
    size_t panels = n / nr + (n % nr != 0);
    return panels * nr * dim;
}

double vs__norm_sq_f64(const float *v, size_t dim) {
    /* Four chains keep the adds from waiting on each other; the order is fixed. */
    double sum[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= dim; i += 4)
        for (size_t l = 0; l < 4; l++)
            sum[l] += (double)v[i + l] * (double)v[i + l];
    for (; i < dim; i++)
        sum[0] += (double)v[i] * (double)v[i];
    return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

float vs__cosine_aux(double norm_sq, int *shift) {
    *shift = 0;
    if (norm_sq == 0) return 0.0f;      /* zero vector: cosine 0 */
    if (!isfinite(norm_sq)) return NAN; /* inf/NaN components: the score is NaN */
    const double low = ldexp(1.0, -2 * VS_NORM_SAFE_EXP), high = ldexp(1.0, 2 * VS_NORM_SAFE_EXP);
    if (norm_sq >= low && norm_sq <= high) return (float)(1.0 / sqrt(norm_sq));
    int exponent;
    double mantissa = frexp(sqrt(norm_sq), &exponent); /* |v| = mantissa 2^exponent */
    *shift = -exponent;
    return (float)(1.0 / mantissa);
}

float vs__cosine_aux_f32(float norm_sq, const float *v, size_t dim, int *shift) {
    const float low = ldexpf(1.0f, -2 * VS_NORM_SAFE_EXP),
                high = ldexpf(1.0f, 2 * VS_NORM_SAFE_EXP);
    if (norm_sq >= low && norm_sq <= high) {
        *shift = 0;
        return 1.0f / sqrtf(norm_sq);
    }
    return vs__cosine_aux(vs__norm_sq_f64(v, dim), shift);
}

void vs__scale_strided(float *x, size_t count, size_t stride, int shift) {
    for (size_t i = 0; i < count; i++)
        x[i * stride] = ldexpf(x[i * stride], shift);
}

float vs__cosine_f64(const float *a, size_t a_step, const float *b, size_t b_step, size_t dim) {
    /* Products of two floats are exact in float64 and cannot underflow or overflow. */
    double dot = 0, norm_a = 0, norm_b = 0;
    for (size_t i = 0; i < dim; i++) {
        const double x = a[i * a_step], y = b[i * b_step];
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    if (norm_a == 0 || norm_b == 0) return 0.0f;
    double s = dot / (sqrt(norm_a) * sqrt(norm_b)); /* NaN stays NaN below */
    s = s > 1 ? 1 : s;
    s = s < -1 ? -1 : s;
    return (float)s;
}
