/* reference.c — see reference.h. */
#define _POSIX_C_SOURCE 200809L
#include "reference.h"

#include "base/reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ref_rng_seed(ref_rng *rng, uint64_t seed) {
    rng->state = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (rng->state == 0) rng->state = 1;
}

static uint64_t next(ref_rng *rng) {
    rng->state ^= rng->state >> 12;
    rng->state ^= rng->state << 25;
    rng->state ^= rng->state >> 27;
    return rng->state * 0x2545F4914F6CDD1Dull;
}

float ref_uniform(ref_rng *rng) {
    return (float)((double)(next(rng) >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

int ref_int(ref_rng *rng, int low, int high) {
    return low + (int)(next(rng) % (uint64_t)(high - low + 1));
}

void ref_fill_uniform(float *x, size_t n, ref_rng *rng) {
    for (size_t i = 0; i < n; i++)
        x[i] = ref_uniform(rng);
}

void ref_fill_small_ints(float *x, size_t n, ref_rng *rng) {
    for (size_t i = 0; i < n; i++)
        x[i] = (float)ref_int(rng, -4, 4);
}

const char *ref_extreme_name(size_t kind) {
    static const char *const names[REF_EXTREME_KINDS] = {
        "uniform",         "norm 3.7e-24",    "norm 3.7e-21",      "norm 1e-30",
        "norm 1e-38",      "norm 2^-40",      "norm 2^40",         "smallest subnormals",
        "components 1e20", "components 3e38", "one component 3e38"};
    return names[kind % REF_EXTREME_KINDS];
}

/* Component d of a row of the given kind, from a uniform value in [-1, 1). */
static double extreme_component(size_t kind, size_t d, double value, double typical, ref_rng *rng) {
    static const double norms[] = {0, 3.7e-24, 3.7e-21, 1e-30, 1e-38, 0x1p-40, 0x1p40};
    switch (kind) {
    case 0: return value;
    case 7: return ldexp((double)ref_int(rng, -4, 4), -149);
    case 8: return value * 1e20;
    case 9: return value * 3e38;
    case 10: return d == 0 ? (value < 0 ? -3e38 : 3e38) : value;
    default: return value * norms[kind] / typical;
    }
}

void ref_fill_extreme(float *x, size_t n, size_t dim, size_t first_kind, ref_rng *rng) {
    /* Uniform components in [-1, 1) give a norm of about sqrt(dim / 3). */
    const double typical = sqrt((double)dim / 3.0);
    for (size_t i = 0; i < n; i++) {
        float *row = x + i * dim;
        const size_t kind = (first_kind + i) % REF_EXTREME_KINDS;
        int nonzero = 0;
        for (size_t d = 0; d < dim; d++) {
            row[d] = (float)extreme_component(kind, d, ref_uniform(rng), typical, rng);
            nonzero |= row[d] != 0.0f;
        }
        if (!nonzero) /* keep every row nonzero, of its kind */
            row[0] = kind == 7 ? ldexpf(3.0f, -149)
                               : (float)extreme_component(kind, 0, 0.5, typical, rng);
    }
}

/* The float64 reference (base/reference.c): one implementation for the tests, the benchmark,
 * the CLI's ground truth and the library's verify mode. */
double ref_score(vs_metric metric, const float *q, const float *c, size_t dim, double *bound) {
    return vs__reference_score(metric, q, c, dim, bound, NULL);
}

size_t ref_check_bounds(vs_metric metric, const float *query, const float *cands, size_t n,
                        size_t dim, const double *approx, const double *bounds, size_t *pairs,
                        double *worst, char *why, size_t why_size) {
    size_t violations = 0;
    for (size_t j = 0; j < n; j++) {
        double ignored;
        const double ref = ref_score(metric, query, cands + j * dim, dim, &ignored);
        if (!isfinite(ref)) continue;
        const double err = fabs(approx[j] - ref);
        ++*pairs;
        if (!(err <= bounds[j])) {
            if (violations++ == 0 && why != NULL)
                snprintf(why, why_size,
                         "%s dim %zu candidate %zu: |%.17g - %.17g| = %.3g > bound %.3g",
                         vs_metric_name(metric), dim, j, approx[j], ref, err, bounds[j]);
        } else if (bounds[j] > 0 && err / bounds[j] > *worst) {
            *worst = err / bounds[j];
        }
    }
    return violations;
}

int ref_may_overflow(vs_metric metric, const float *q, const float *c, size_t dim) {
    int overflow = 0;
    vs__reference_score(metric, q, c, dim, NULL, &overflow);
    return overflow;
}

static int close_enough(double expected, double bound, float got, int exact) {
    if (isnan(expected)) return isnan(got);
    if (isinf(expected)) return (double)got == expected;
    if (exact) return (double)got == expected;
    return fabs((double)got - expected) <= bound;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        if (failures++ == 0 && why != NULL) snprintf(why, why_size, __VA_ARGS__);                  \
    } while (0)

static size_t check_scores(vs_metric metric, const float *queries, size_t nq, const float *cands,
                           size_t nc, size_t dim, const float *got, int exact, int overflow,
                           char *why, size_t why_size) {
    size_t failures = 0;
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < nc; j++) {
            double bound;
            const float *q = queries + i * dim, *c = cands + j * dim;
            double expected = ref_score(metric, q, c, dim, &bound);
            float value = got[i * nc + j];
            if (overflow && !isfinite(value) && ref_may_overflow(metric, q, c, dim)) continue;
            if (!close_enough(expected, bound, value, exact))
                FAIL("%s dim %zu: score[%zu][%zu] = %.9g, reference %.12g, bound %.3g",
                     vs_metric_name(metric), dim, i, j, (double)value, expected, bound);
        }
    return failures;
}

size_t ref_check_scores(vs_metric metric, const float *queries, size_t nq, const float *cands,
                        size_t nc, size_t dim, const float *got, int exact, char *why,
                        size_t why_size) {
    return check_scores(metric, queries, nq, cands, nc, dim, got, exact, 0, why, why_size);
}

size_t ref_check_scores_overflow(vs_metric metric, const float *queries, size_t nq,
                                 const float *cands, size_t nc, size_t dim, const float *got,
                                 char *why, size_t why_size) {
    return check_scores(metric, queries, nq, cands, nc, dim, got, 0, 1, why, why_size);
}

/* Higher is better; NaN maps to NaN. */
static double key_of(vs_metric metric, double score) {
    return metric == VS_METRIC_L2SQ ? -score : score;
}

size_t ref_check_topk(vs_metric metric, const float *queries, size_t nq, const float *cands,
                      size_t nc, size_t dim, size_t k, const float *scores, const int64_t *ids,
                      char *why, size_t why_size) {
    size_t failures = 0;
    const size_t m = k < nc ? k : nc;
    const float padding = metric == VS_METRIC_L2SQ ? INFINITY : -INFINITY;
    double *ref = malloc((nc ? nc : 1) * sizeof(double));
    double *bounds = malloc((nc ? nc : 1) * sizeof(double));
    unsigned char *taken = malloc(nc ? nc : 1);
    if (ref == NULL || bounds == NULL || taken == NULL) abort();
    for (size_t i = 0; i < nq && failures == 0; i++) {
        const float *q = queries + i * dim;
        const float *row_scores = scores + i * k;
        const int64_t *row_ids = ids + i * k;
        for (size_t j = 0; j < nc; j++)
            ref[j] = ref_score(metric, q, cands + j * dim, dim, &bounds[j]);
        memset(taken, 0, nc ? nc : 1);
        for (size_t r = m; r < k; r++)
            if (row_ids[r] != -1 || row_scores[r] != padding)
                FAIL("query %zu rank %zu: expected padding (-1, %g), got (%lld, %g)", i, r,
                     (double)padding, (long long)row_ids[r], (double)row_scores[r]);
        double worst_key = INFINITY, worst_bound = 0;
        int worst_nan = 0;
        for (size_t r = 0; r < m; r++) {
            int64_t id = row_ids[r];
            if (id < 0 || (size_t)id >= nc) {
                FAIL("query %zu rank %zu: id %lld out of range [0, %zu)", i, r, (long long)id, nc);
                break;
            }
            if (taken[id]) FAIL("query %zu rank %zu: id %lld returned twice", i, r, (long long)id);
            taken[id] = 1;
            if (!close_enough(ref[id], bounds[id], row_scores[r], 0))
                FAIL("query %zu rank %zu id %lld: score %.9g, reference %.12g, bound %.3g", i, r,
                     (long long)id, (double)row_scores[r], ref[id], bounds[id]);
            if (r > 0) {
                int64_t prev = row_ids[r - 1];
                double kp = key_of(metric, ref[prev]), kc = key_of(metric, ref[id]);
                if (isnan(kp) && !isnan(kc))
                    FAIL("query %zu rank %zu: NaN score ranked before a number", i, r);
                else if (!isnan(kp) && !isnan(kc) && kc > kp + bounds[prev] + bounds[id])
                    FAIL("query %zu rank %zu: order broken (%.9g after %.9g)", i, r, ref[id],
                         ref[prev]);
                if (row_scores[r] == row_scores[r - 1] && id < prev)
                    FAIL("query %zu rank %zu: equal scores but id %lld after %lld", i, r,
                         (long long)id, (long long)prev);
                if (isnan(row_scores[r]) && isnan(row_scores[r - 1]) && id < prev)
                    FAIL("query %zu rank %zu: NaN ids not ascending", i, r);
            }
            double key = key_of(metric, ref[id]);
            if (isnan(key))
                worst_nan = 1;
            else if (!worst_nan) {
                worst_key = key;
                worst_bound = bounds[id];
            }
        }
        /* Nothing left out may beat the worst returned entry beyond the bounds. */
        for (size_t j = 0; j < nc && failures == 0 && m > 0; j++) {
            if (taken[j]) continue;
            double key = key_of(metric, ref[j]);
            if (isnan(key)) continue;
            if (worst_nan)
                FAIL("query %zu: candidate %zu (score %.9g) left out while a NaN was returned", i,
                     j, ref[j]);
            else if (key > worst_key + worst_bound + bounds[j])
                FAIL("query %zu: candidate %zu (score %.9g) better than the worst returned", i, j,
                     ref[j]);
        }
    }
    free(ref);
    free(bounds);
    free(taken);
    return failures;
}

float *ref_alloc_floats(size_t n, size_t misalign, void **base) {
    void *memory = NULL;
    if (posix_memalign(&memory, 64, (n + misalign + 1) * sizeof(float)) != 0) abort();
    *base = memory;
    return (float *)memory + misalign;
}
