/*
 * reference.c — the float64 reference score (reference.h).
 */
#include "reference.h"

#include <float.h>
#include <math.h>

#define VS_UNIT_ROUNDOFF 5.9604644775390625e-08 /* 2^-24 */
#define VS_SUBNORMAL_MIN 1.4012984643248171e-45 /* 2^-149, the spacing of float32 subnormals */

double vs__reference_score(vs_metric metric, const float *q, const float *c, size_t dim,
                           double *bound, int *overflow) {
    double dot = 0, abs_dot = 0, nq2 = 0, nc2 = 0;
    for (size_t i = 0; i < dim; i++) {
        dot += (double)q[i] * (double)c[i];
        abs_dot += fabs((double)q[i] * (double)c[i]);
        nq2 += (double)q[i] * (double)q[i];
        nc2 += (double)c[i] * (double)c[i];
    }
    const double u = VS_UNIT_ROUNDOFF, d = (double)dim;
    double score = NAN, limit = 0;
    int may_overflow = 0;
    switch (metric) {
    case VS_METRIC_DOT:
        score = dot;
        limit = (d + 2) * u * abs_dot + d * VS_SUBNORMAL_MIN;
        may_overflow = abs_dot * (1 + (d + 2) * u) >= FLT_MAX;
        break;
    case VS_METRIC_COSINE:
        limit = (2 * d + 10) * u;
        if (nq2 == 0 || nc2 == 0) {
            score = 0;
        } else {
            score = dot / (sqrt(nq2) * sqrt(nc2));
            score = score > 1 ? 1 : (score < -1 ? -1 : score);
        }
        break;
    case VS_METRIC_L2SQ:
        score = nq2 + nc2 - 2 * dot;
        score = score < 0 ? 0 : score;
        limit = (2 * d + 8) * u * (nq2 + nc2) + 2 * d * VS_SUBNORMAL_MIN;
        may_overflow = (nq2 + nc2 + 2 * abs_dot) * (1 + (2 * d + 8) * u) >= FLT_MAX;
        break;
    }
    if (bound != NULL) *bound = limit;
    if (overflow != NULL) *overflow = may_overflow;
    return score;
}
