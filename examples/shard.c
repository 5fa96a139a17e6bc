/*
 * shard.c — sharded top-k with vs_topk_merge, inside one process.
 *
 * Any framework that splits a base across workers (MPI ranks, Spark
 * partitions, Ray tasks, a job array) does the same three steps:
 *
 *   1. each worker takes a contiguous range of base rows [begin, end) and
 *      runs vs_topk on it: nq x k scores and ids, ids local to the range;
 *   2. it shifts its ids to global row numbers, which is a merge into an
 *      empty result: vs_topk_merge(..., id_offset = begin) (padding id -1
 *      stays -1);
 *   3. results are combined pairwise, in any order or tree shape, with
 *      vs_topk_merge(..., id_offset = 0); only nq x k x 12 bytes travel per
 *      worker, whatever the base size.
 *
 * The merge is exact, in the library's order (better score first, equal
 * scores by lower id, NaN after every number, padding last), so the result
 * is the same bytes as one vs_topk over the whole base. This program checks
 * that for every metric, with uneven shards, k larger than a shard, equal
 * rows on both sides of shard boundaries, a zero row and a NaN row.
 *
 * Usage: shard [base_count] [query_count] [dim] [shards]; exits 0 when every
 * merged result equals the one-call result, 1 otherwise.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vecscore.h>

#define K 25

static void fill_random(float *x, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        x[i] = (float)((double)(seed >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
    }
}

/* An empty result: every entry padding (id -1, the worst score). */
static void fill_padding(vs_metric metric, float *scores, int64_t *ids, size_t entries) {
    for (size_t i = 0; i < entries; i++) {
        scores[i] = metric == VS_METRIC_L2SQ ? INFINITY : -INFINITY;
        ids[i] = -1;
    }
}

/* Steps 1-3 with `shards` uneven ranges, merged as a binary tree. */
static int sharded_topk(vs_context *ctx, vs_metric metric, const float *queries, size_t nq,
                        const float *base, size_t nb, size_t dim, size_t shards, float *scores,
                        int64_t *ids) {
    size_t entries = nq * K;
    float *part_scores = malloc(shards * entries * sizeof(float));
    int64_t *part_ids = malloc(shards * entries * sizeof(int64_t));
    float *local_scores = malloc(entries * sizeof(float));
    int64_t *local_ids = malloc(entries * sizeof(int64_t));
    int rc = part_scores && part_ids && local_scores && local_ids ? 0 : VS_ERR_OUT_OF_MEMORY;
    size_t begin = 0;
    for (size_t s = 0; s < shards && rc == 0; s++) {
        /* Uneven on purpose: shard 0 holds fewer rows than k, shard s > 0 a
         * share proportional to s + 1, the last one the rest. */
        size_t end = s == 0 ? (nb / 2 < K / 2 ? nb / 2 : K / 2)
                            : begin + (nb - begin) * 2 * (s + 1) / (shards * (shards + 1));
        if (s + 1 == shards || end > nb) end = nb;
        float *my_scores = part_scores + s * entries;
        int64_t *my_ids = part_ids + s * entries;
        rc = vs_topk(ctx, metric, queries, nq, base + begin * dim, end - begin, dim, K,
                     local_scores, local_ids); /* step 1 */
        fill_padding(metric, my_scores, my_ids, entries);
        if (rc == 0) /* step 2: global ids */
            rc = vs_topk_merge(metric, nq, K, my_scores, my_ids, local_scores, local_ids,
                               (int64_t)begin);
        begin = end;
    }
    for (size_t step = 1; step < shards && rc == 0; step *= 2) /* step 3: a tree */
        for (size_t s = 0; s + step < shards && rc == 0; s += 2 * step)
            rc = vs_topk_merge(metric, nq, K, part_scores + s * entries, part_ids + s * entries,
                               part_scores + (s + step) * entries, part_ids + (s + step) * entries,
                               0);
    if (rc == 0) {
        memcpy(scores, part_scores, entries * sizeof(float));
        memcpy(ids, part_ids, entries * sizeof(int64_t));
    }
    free(part_scores);
    free(part_ids);
    free(local_scores);
    free(local_ids);
    return rc;
}

int main(int argc, char **argv) {
    size_t nb = argc > 1 ? strtoul(argv[1], NULL, 10) : 5000;
    size_t nq = argc > 2 ? strtoul(argv[2], NULL, 10) : 16;
    size_t dim = argc > 3 ? strtoul(argv[3], NULL, 10) : 64;
    size_t shards = argc > 4 ? strtoul(argv[4], NULL, 10) : 5;
    if (nb < 8 || nq < 1 || dim < 1 || shards < 1 || shards > nb) {
        fprintf(stderr, "usage: shard [base_count >= 8] [query_count] [dim] [shards <= base]\n");
        return 1;
    }
    float *base = malloc(nb * dim * sizeof(float)), *queries = malloc(nq * dim * sizeof(float));
    float *one_scores = malloc(nq * K * sizeof(float)), *scores = malloc(nq * K * sizeof(float));
    int64_t *one_ids = malloc(nq * K * sizeof(int64_t)), *ids = malloc(nq * K * sizeof(int64_t));
    vs_context *ctx = NULL;
    if (!base || !queries || !one_scores || !scores || !one_ids || !ids ||
        vs_context_create(NULL, &ctx) != 0) {
        fprintf(stderr, "shard: setup failed\n");
        return 1;
    }
    fill_random(base, nb * dim, 42);
    fill_random(queries, nq * dim, 7);
    /* Equal rows across every boundary: each row i = 0 mod 7 repeats row 0. */
    for (size_t i = 7; i < nb; i += 7)
        memcpy(base + i * dim, base, dim * sizeof(float));
    memset(base + 3 * dim, 0, dim * sizeof(float)); /* a zero row */
    base[5 * dim] = NAN;                            /* a NaN row */
    int failures = 0;
    const vs_metric metrics[3] = {VS_METRIC_DOT, VS_METRIC_COSINE, VS_METRIC_L2SQ};
    for (int m = 0; m < 3; m++) {
        int rc = vs_topk(ctx, metrics[m], queries, nq, base, nb, dim, K, one_scores, one_ids);
        if (rc == 0)
            rc = sharded_topk(ctx, metrics[m], queries, nq, base, nb, dim, shards, scores, ids);
        int same = rc == 0 && memcmp(one_ids, ids, nq * K * sizeof(int64_t)) == 0 &&
                   memcmp(one_scores, scores, nq * K * sizeof(float)) == 0;
        printf("%-6s %zu shards of %zu rows merged == one vs_topk call: %s\n",
               vs_metric_name(metrics[m]), shards, nb,
               rc != 0 ? vs_strerror(rc)
               : same  ? "yes"
                       : "NO");
        failures += !same;
    }
    vs_context_free(ctx);
    free(base);
    free(queries);
    free(one_scores);
    free(scores);
    free(one_ids);
    free(ids);
    return failures == 0 ? 0 : 1;
}
