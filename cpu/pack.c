/* pack.c — dimension-major packing for the tile micro-kernel, and aux values. */
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

float vs__aux_from_norm_sq(vs_metric metric, float norm_sq) {
    if (metric == VS_METRIC_L2SQ) return norm_sq;
    if (metric != VS_METRIC_COSINE) return 0.0f;
    if (norm_sq == 0.0f) return 0.0f;   /* zero vector: cosine 0 */
    if (!isfinite(norm_sq)) return NAN; /* inf/NaN components: the score is NaN */
    return 1.0f / sqrtf(norm_sq);
}
