/* merge.c — vs_topk_merge: combines top-k results from disjoint candidate sets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/topk_order.h"
#include "internal.h"

/* 1 if (sa, ia) ranks before (sb, ib) in the library's order (base/topk_order.h): distances
 * are compared as negated keys. */
static int before(float sa, int64_t ia, float sb, int64_t ib, int distance) {
    return distance ? VS_TOPK_BEFORE(-sa, ia, -sb, ib) : VS_TOPK_BEFORE(sa, ia, sb, ib);
}

int vs_topk_merge(vs_metric metric, size_t nq, size_t k, float *scores, int64_t *ids,
                  const float *more_scores, const int64_t *more_ids, int64_t id_offset) {
    size_t entries;
    if (vs_metric_name(metric) == NULL || k == 0 || id_offset < 0 ||
        __builtin_mul_overflow(nq, k, &entries) || entries > SIZE_MAX / sizeof(int64_t))
        return VS_ERR_INVALID_ARGUMENT;
    if (nq == 0) return VS_OK;
    if (scores == NULL || ids == NULL || more_scores == NULL || more_ids == NULL)
        return VS_ERR_INVALID_ARGUMENT;
    for (size_t e = 0; e < entries; e++)
        if (more_ids[e] > INT64_MAX - id_offset) return VS_ERR_INVALID_ARGUMENT;
    float *merged_scores = malloc(k * sizeof(float));
    int64_t *merged_ids = malloc(k * sizeof(int64_t));
    if (merged_scores == NULL || merged_ids == NULL) {
        free(merged_scores);
        free(merged_ids);
        return VS_ERR_OUT_OF_MEMORY;
    }
    const int distance = metric == VS_METRIC_L2SQ;
    for (size_t q = 0; q < nq; q++) {
        float *s = scores + q * k;
        int64_t *id = ids + q * k;
        const float *ms = more_scores + q * k;
        const int64_t *mid = more_ids + q * k;
        size_t i = 0, j = 0;
        for (size_t n = 0; n < k; n++) {
            const int64_t shifted = j < k && mid[j] >= 0 ? mid[j] + id_offset : -1;
            const int take_more =
                j < k && (i >= k || before(ms[j], shifted, s[i], id[i], distance));
            if (take_more) {
                merged_scores[n] = ms[j];
                merged_ids[n] = shifted;
                j++;
            } else {
                merged_scores[n] = s[i];
                merged_ids[n] = id[i];
                i++;
            }
        }
        memcpy(s, merged_scores, k * sizeof(float));
        memcpy(id, merged_ids, k * sizeof(int64_t));
    }
    free(merged_scores);
    free(merged_ids);
    return VS_OK;
}
