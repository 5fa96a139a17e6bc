/*
 * cost.c — the cost model "auto" uses to pick the CPU or the OpenCL device per
 * call shape, and its calibration.
 *
 * Each side is described by five constants:
 *
 *   seconds = launch + max(bytes / bandwidth, flops / throughput)
 *             + (results back + per-call candidates up) / link
 *             + select * nq * max(k - 10, 0) * ceil(nc / 8192)
 *
 * with bytes = (nq + nc) * dim * 4 and flops = 2 * nq * nc * dim. The last
 * term is the selection's growth with k: both backends keep k results per
 * query and per block of candidates (on the device about k survivors per
 * 8192-candidate tile early on and a work-group select now and then, or,
 * past k = 2048, k entries merged per segment; the CPU's heaps take k log k
 * insertions per chunk), which a top-10 calibration does not see. The
 * constant is measured (top-64 against top-10), so it follows whichever
 * selection the device runs.
 *
 * Calibration times, on each side: a tiny batch (launch), top-10 over a
 * streamed 64 MiB corpus (bandwidth), a score matrix of a cache-resident
 * corpus (throughput: no selection in it; the query count grows 4x at a
 * time, up to 1024, until the product takes 20x the launch time, so a fast
 * device is measured on its matrix product, not on its launch), top-64
 * against top-10 of 16 queries over the cache-resident corpus (select), and the
 * streamed batch with candidates passed per call (link). The constants are
 * measured once per device, driver, CPU ISA, thread count and library
 * version (about 0.5-1 s here) and cached
 * in cost-<key>.txt in the context's cache directory (base/cache.c: used only
 * when private; atomic write), so later contexts reuse them. Without a usable
 * cache directory or file the calibration simply runs again.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define VS_COST_VERSION 2
#define VS_CAL_N 65536 /* streamed: 64 MiB, larger than the caches */
#define VS_CAL_DIM 256
#define VS_CAL_WARM_N 4096  /* compute: 4 MiB, cache-resident */
#define VS_CAL_MIN_Q 64     /* compute: first query count, grown 4x ... */
#define VS_CAL_MAX_Q 1024   /* ... up to this */
#define VS_CAL_SELECT_Q 16  /* select: queries, at k = 10 and at k = VS_CAL_K */
#define VS_CAL_K 64         /* shows the growth with k, and stays cheap on every device */
#define VS_COST_TILE 8192.0 /* candidates per selection block in the k term */
#define VS_COST_BASE_K 10   /* the k the other terms were measured at */

double vs__cost_seconds(const vs__cost_side *side, const vs__batch *b) {
    const double nq = (double)b->nq, nc = (double)b->nc, dim = (double)b->dim;
    const double bytes = (nq + nc) * dim * 4.0, flops = 2.0 * nq * nc * dim;
    double seconds = side->launch + fmax(bytes / side->bandwidth, flops / side->flops);
    if (side->link > 0) {
        /* Across the link: per-call candidates up, results (matrix or top-k) back. */
        double moved = b->k ? nq * (double)b->k * 12.0 : nq * nc * 4.0;
        if (b->corpus == NULL && b->candidates != NULL) moved += nc * dim * 4.0;
        seconds += moved / side->link;
    }
    if (b->k > VS_COST_BASE_K && side->select > 0)
        seconds += side->select * nq * (double)(b->k - VS_COST_BASE_K) * ceil(nc / VS_COST_TILE);
    return seconds;
}

/* Best of 3 timed runs (after one warm-up) of one batch (top-k, or scores when k is 0). */
static double time_batch(vs_context *ctx, const vs__backend_ops *ops, void *state,
                         const void *corpus, const float *candidates, const float *queries,
                         size_t nq, size_t nc, size_t k, float *scores, int64_t *ids) {
    double best = INFINITY;
    for (int run = 0; run < 4; run++) {
        vs_batch_report report;
        memset(&report, 0, sizeof(report));
        vs__batch b = vs__batch_make(VS_METRIC_DOT, queries, nq, VS_CAL_DIM, candidates, corpus, nc,
                                     k, scores, ids);
        b.report = &report;
        b.ctx = &ctx->env;
        double start = vs__now();
        if (vs__run_on(ctx, ops, state, &b, NULL) != VS_OK) return -1;
        double elapsed = vs__now() - start;
        if (run > 0 && elapsed < best) best = elapsed;
    }
    return best;
}

static int calibrate_side(vs_context *ctx, const vs__backend_ops *ops, void *state,
                          const float *data, vs__cost_side *out) {
    void *big = NULL, *warm = NULL, *small = NULL;
    int status = VS_ERR_DEVICE;
    /* Room for the largest score matrix and the top-VS_CAL_K lists. */
    float *scores = malloc((size_t)VS_CAL_MAX_Q * VS_CAL_WARM_N * sizeof(float));
    int64_t *ids = malloc((size_t)VS_CAL_SELECT_Q * VS_CAL_K * sizeof(int64_t));
    if (scores == NULL || ids == NULL) goto done;
    if (ops->corpus_prepare(state, &ctx->env, data, VS_CAL_N, VS_CAL_DIM, &big) != VS_OK) goto done;
    if (ops->corpus_prepare(state, &ctx->env, data, VS_CAL_WARM_N, VS_CAL_DIM, &warm) != VS_OK)
        goto done;
    if (ops->corpus_prepare(state, &ctx->env, data, 64, VS_CAL_DIM, &small) != VS_OK) goto done;
    const float *queries = data; /* the first rows double as queries */
    double launch = time_batch(ctx, ops, state, small, NULL, queries, 1, 64, 10, scores, ids);
    double stream = time_batch(ctx, ops, state, big, NULL, queries, 1, VS_CAL_N, 10, scores, ids);
    size_t nq = VS_CAL_MIN_Q;
    double compute = -1;
    for (;; nq *= 4) {
        compute =
            time_batch(ctx, ops, state, warm, NULL, queries, nq, VS_CAL_WARM_N, 0, scores, ids);
        if (compute < 0 || compute - launch >= 20 * launch || nq * 4 > VS_CAL_MAX_Q) break;
    }
    const double few_k = time_batch(ctx, ops, state, warm, NULL, queries, VS_CAL_SELECT_Q,
                                    VS_CAL_WARM_N, VS_COST_BASE_K, scores, ids);
    const double many_k = time_batch(ctx, ops, state, warm, NULL, queries, VS_CAL_SELECT_Q,
                                     VS_CAL_WARM_N, VS_CAL_K, scores, ids);
    double upload = time_batch(ctx, ops, state, NULL, data, queries, 1, VS_CAL_N, 10, scores, ids);
    if (launch < 0 || stream < 0 || compute < 0 || upload < 0 || few_k < 0 || many_k < 0) goto done;
    const double floor = 1e-6;
    out->launch = launch;
    out->bandwidth = (double)(VS_CAL_N + 1) * VS_CAL_DIM * 4.0 / fmax(stream - launch, floor);
    out->flops = 2.0 * (double)nq * VS_CAL_WARM_N * VS_CAL_DIM / fmax(compute - launch, floor);
    /* What k adds: 0 when top-VS_CAL_K costs no more than top-10 (noise included). */
    const double blocks = ceil(VS_CAL_WARM_N / VS_COST_TILE);
    out->select =
        fmax(many_k - few_k, 0) / ((double)VS_CAL_SELECT_Q * (VS_CAL_K - VS_COST_BASE_K) * blocks);
    /* What a per-call upload adds over the resident corpus; 0 = nothing measurable. */
    const double extra = upload - stream;
    out->link = extra > 1e-5 ? (double)VS_CAL_N * VS_CAL_DIM * 4.0 / extra : 0;
    status = VS_OK;
done:
    if (big != NULL) ops->corpus_release(state, big);
    if (warm != NULL) ops->corpus_release(state, warm);
    if (small != NULL) ops->corpus_release(state, small);
    free(scores);
    free(ids);
    return status;
}

#define VS_COST_WHAT "auto: cost cache"
#define VS_COST_MAX_BYTES 4096

/* The cost file's name in the cache directory (base/cache.c). */
static void cache_name(const vs_context *ctx, char *out, size_t size) {
    char threads[32];
    snprintf(threads, sizeof(threads), "%d", ctx->cfg.threads);
    uint64_t key = VS_FNV1A_SEED;
    key =
        vs__fnv1a_field(key, ctx->backend->describe(ctx->backend_state)); /* name, driver, units */
    key = vs__fnv1a_field(key, ctx->cpu->describe(ctx->cpu_state));       /* ISA and threads */
    key = vs__fnv1a_field(key, threads);
    key = vs__fnv1a_field(key, vs_version());
    snprintf(out, size, "cost-%016llx.txt", (unsigned long long)key);
}

static int finite_side(const vs__cost_side *side) {
    return isfinite(side->launch) && isfinite(side->bandwidth) && isfinite(side->flops) &&
           isfinite(side->link) && isfinite(side->select) && side->bandwidth > 0 &&
           side->flops > 0 && side->launch >= 0 && side->link >= 0 && side->select >= 0;
}

/* 0 and the model from the cost file; -1 when it is missing, not usable or malformed. */
static int load(const vs_context *ctx, const char *name, vs__cost_model *model) {
    unsigned char *text = NULL;
    size_t size = 0;
    if (!vs__cache_read(ctx->env.cache, VS_COST_WHAT, name, VS_COST_MAX_BYTES, &text, &size))
        return -1;
    int version = 0, used = 0;
    vs__cost_side *c = &model->cpu, *d = &model->device;
    int n =
        sscanf((const char *)text, "vecscore-cost %3d %lg %lg %lg %lg %lg %lg %lg %lg %lg %lg%n",
               &version, &c->launch, &c->bandwidth, &c->flops, &c->link, &c->select, &d->launch,
               &d->bandwidth, &d->flops, &d->link, &d->select, &used);
    const int whole = n == 11 && strlen((const char *)text) == size &&
                      strspn((const char *)text + used, "\n") == size - (size_t)used;
    free(text);
    if (!whole || version != VS_COST_VERSION || !finite_side(c) || !finite_side(d)) {
        vs__log(vs__sink(ctx), VS_LOG_WARN, "%s: entry %s is malformed; measuring again",
                VS_COST_WHAT, name);
        memset(model, 0, sizeof(*model));
        return -1;
    }
    return 0;
}

static void store(const vs_context *ctx, const char *name, const vs__cost_model *model) {
    const vs__cost_side *c = &model->cpu, *d = &model->device;
    char text[512];
    int length = snprintf(text, sizeof(text),
                          "vecscore-cost %d %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g\n",
                          VS_COST_VERSION, c->launch, c->bandwidth, c->flops, c->link, c->select,
                          d->launch, d->bandwidth, d->flops, d->link, d->select);
    if (length > 0 && (size_t)length < sizeof(text))
        vs__cache_write(ctx->env.cache, VS_COST_WHAT, name, text, (size_t)length);
}

int vs__cost_calibrate(vs_context *ctx) {
    vs__cost_model *model = &ctx->cost;
    memset(model, 0, sizeof(*model));
    char name[64];
    cache_name(ctx, name, sizeof(name));
    if (load(ctx, name, model) == 0) {
        model->valid = 1;
        model->from_cache = 1;
        return VS_OK;
    }
    double start = vs__now();
    float *data = malloc((size_t)VS_CAL_N * VS_CAL_DIM * sizeof(float));
    if (data == NULL) return VS_ERR_OUT_OF_MEMORY;
    uint64_t state = 0x2545f4914f6cdd1dull;
    for (size_t i = 0; i < (size_t)VS_CAL_N * VS_CAL_DIM; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data[i] = (float)((double)(state >> 40) / (double)(1u << 24) - 0.5);
    }
    int status = calibrate_side(ctx, ctx->cpu, ctx->cpu_state, data, &model->cpu);
    if (status == VS_OK)
        status = calibrate_side(ctx, ctx->backend, ctx->backend_state, data, &model->device);
    free(data);
    if (status != VS_OK) {
        vs__log(vs__sink(ctx), VS_LOG_WARN,
                "auto: calibration failed; built-in cost constants apply");
        memset(model, 0, sizeof(*model));
        return status;
    }
    model->valid = 1;
    vs__log(vs__sink(ctx), VS_LOG_INFO,
            "auto: calibrated in %.3f s: cpu %.1f GB/s %.1f GFLOP/s %.0f us, select %.3g ns; "
            "device %.1f GB/s %.1f GFLOP/s %.0f us, select %.3g ns, upload %.1f GB/s",
            vs__now() - start, model->cpu.bandwidth / 1e9, model->cpu.flops / 1e9,
            model->cpu.launch * 1e6, model->cpu.select * 1e9, model->device.bandwidth / 1e9,
            model->device.flops / 1e9, model->device.launch * 1e6, model->device.select * 1e9,
            model->device.link / 1e9);
    store(ctx, name, model);
    return VS_OK;
}
