/*
 * check.c — a path's output against the float64 reference. The scores come
 * from tests/reference.c (ref_score and its error bound: the reference the
 * tests use); here they are computed for up to 4 sampled queries (first,
 * last, middle, a third) against every candidate, with the reference top-k
 * of each, and a path's score matrix or top-k is checked against them
 * within the bounds of docs/numerics.md.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tests/reference.h"

void bench_reference_free(reference *ref) {
    for (size_t s = 0; s < MAX_SAMPLES; s++) {
        free(ref->score[s]);
        free(ref->bound[s]);
        free(ref->best[s]);
    }
    memset(ref, 0, sizeof(*ref));
}

int bench_reference_build(reference *ref, vs_metric metric, const float *queries, size_t q,
                          const float *base, size_t n, size_t d, size_t k) {
    memset(ref, 0, sizeof(*ref));
    size_t candidates[MAX_SAMPLES] = {0, q - 1, q / 2, q / 3};
    for (size_t c = 0; c < MAX_SAMPLES; c++) {
        int seen = 0;
        for (size_t s = 0; s < ref->samples; s++)
            seen |= ref->rows[s] == candidates[c];
        if (!seen) ref->rows[ref->samples++] = candidates[c];
    }
    for (size_t s = 0; s < ref->samples; s++) {
        ref->score[s] = malloc(n * sizeof(double));
        ref->bound[s] = malloc(n * sizeof(double));
        ref->best[s] = malloc(k * sizeof(int64_t));
        if (!ref->score[s] || !ref->bound[s] || !ref->best[s]) {
            bench_reference_free(ref);
            return -1;
        }
        const float *query = queries + ref->rows[s] * d;
        double *score = ref->score[s], *bound = ref->bound[s];
#pragma omp parallel for schedule(static)
        for (long j = 0; j < (long)n; j++)
            score[j] = ref_score(metric, query, base + (size_t)j * d, d, &bound[j]);
        /* reference top-k: best first, lower id on ties */
        int similarity = metric != VS_METRIC_L2SQ;
        size_t filled = 0;
        for (size_t j = 0; j < n; j++) {
            double v = score[j];
            if (filled == k) {
                double worst = score[ref->best[s][k - 1]];
                if (!(similarity ? v > worst : v < worst)) continue;
                filled--;
            }
            size_t r = filled;
            while (r > 0 &&
                   (similarity ? v > score[ref->best[s][r - 1]] : v < score[ref->best[s][r - 1]])) {
                ref->best[s][r] = ref->best[s][r - 1];
                r--;
            }
            ref->best[s][r] = (int64_t)j;
            filled++;
        }
        for (size_t r = filled; r < k; r++)
            ref->best[s][r] = -1;
    }
    return 0;
}

/* Returns the number of disagreements; the first is described in why. */
size_t bench_reference_check(const reference *ref, vs_metric metric, int topk, size_t n, size_t k,
                             const float *scores, const int64_t *ids, char *why, size_t size) {
    size_t failures = 0;
    int similarity = metric != VS_METRIC_L2SQ;
#define CHECK_FAIL(...)                                                                            \
    do {                                                                                           \
        if (failures++ == 0) snprintf(why, size, __VA_ARGS__);                                     \
    } while (0)
    for (size_t s = 0; s < ref->samples; s++) {
        size_t query_row = ref->rows[s];
        const double *score = ref->score[s], *bound = ref->bound[s];
        if (!topk) {
            const float *got = scores + query_row * n;
            for (size_t j = 0; j < n; j++)
                if (!(fabs((double)got[j] - score[j]) <= bound[j]))
                    CHECK_FAIL("query %zu candidate %zu: %.9g, reference %.9g (bound %.3g)",
                               query_row, j, (double)got[j], score[j], bound[j]);
            continue;
        }
        const float *got = scores + query_row * k;
        const int64_t *got_ids = ids + query_row * k;
        for (size_t r = 0; r < k; r++) {
            int64_t id = got_ids[r], want = ref->best[s][r];
            if (want < 0) {
                if (id != -1)
                    CHECK_FAIL("query %zu rank %zu: id %lld, expected padding", query_row, r,
                               (long long)id);
                continue;
            }
            if (id < 0 || (size_t)id >= n) {
                CHECK_FAIL("query %zu rank %zu: invalid id %lld", query_row, r, (long long)id);
                continue;
            }
            for (size_t e = 0; e < r; e++)
                if (got_ids[e] == id)
                    CHECK_FAIL("query %zu: id %lld twice", query_row, (long long)id);
            if (!(fabs((double)got[r] - score[id]) <= bound[id]))
                CHECK_FAIL("query %zu rank %zu id %lld: score %.9g, reference %.9g (bound %.3g)",
                           query_row, r, (long long)id, (double)got[r], score[id], bound[id]);
            double slack = bound[id] + bound[want];
            int worse =
                similarity ? score[id] < score[want] - slack : score[id] > score[want] + slack;
            if (worse)
                CHECK_FAIL("query %zu rank %zu: id %lld (%.9g) ranks below reference id %lld "
                           "(%.9g) beyond the bounds",
                           query_row, r, (long long)id, score[id], (long long)want, score[want]);
        }
    }
#undef CHECK_FAIL
    return failures;
}
