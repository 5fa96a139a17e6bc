/*
 * topk.c — the plain top-k selection the peers run over a row of scores
 * (OpenBLAS after sgemm/sgemv): an insertion into a sorted k-list, best
 * first, lower index first among equal scores, NaN scores left out, the tail
 * padded with id -1. It is the peers' cost, not the library's algorithm.
 */
#include <math.h>

#include "bench.h"

void bench_select_topk(const float *row, size_t n, size_t k, int similarity, float *scores,
                       int64_t *ids) {
    const float pad = similarity ? -INFINITY : INFINITY;
    size_t filled = 0;
    for (size_t j = 0; j < n; j++) {
        float s = row[j];
        if (isnan(s)) continue;
        if (filled == k) {
            int better = similarity ? s > scores[k - 1] : s < scores[k - 1];
            if (!better) continue;
            filled--;
        }
        size_t r = filled;
        while (r > 0 && (similarity ? s > scores[r - 1] : s < scores[r - 1])) {
            scores[r] = scores[r - 1];
            ids[r] = ids[r - 1];
            r--;
        }
        scores[r] = s;
        ids[r] = (int64_t)j;
        filled++;
    }
    for (size_t r = filled; r < k; r++) {
        scores[r] = pad;
        ids[r] = -1;
    }
}
