/*
 * cost.c — the cost model "auto" uses to pick the CPU or the OpenCL device per
 * call shape, and its calibration.
 *
 * Each side is described by four constants:
 *
 *   seconds = launch + max(bytes / bandwidth, flops / throughput)
 *             + (results back + per-call candidates up) / link
 *
 * with bytes = (nq + nc) * dim * 4 and flops = 2 * nq * nc * dim. They are
 * measured once per device, driver, CPU ISA, thread count and library version
 * by timing a few small batches on each side (about 0.5 s), and cached
 * in cost-<key>.txt in the context's cache directory (base/cache.c: used only
 * when private; atomic write), so later contexts reuse them. Without a usable
 * cache directory or file the calibration simply runs again.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define VS_COST_VERSION 1
#define VS_CAL_N 65536 /* streamed: 64 MiB, larger than the caches */
#define VS_CAL_DIM 256
#define VS_CAL_WARM_N 4096 /* compute: 4 MiB, cache-resident */
#define VS_CAL_BIG_Q 256

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
    return seconds;
}

/* Best of 3 timed runs (after one warm-up) of one top-k batch on one backend. */
static double time_batch(vs_context *ctx, const vs__backend_ops *ops, void *state,
                         const void *corpus, const float *candidates, const float *queries,
                         size_t nq, size_t nc, float *scores, int64_t *ids) {
    double best = INFINITY;
    for (int run = 0; run < 4; run++) {
        vs_batch_report report;
        memset(&report, 0, sizeof(report));
        vs__batch b = vs__batch_make(VS_METRIC_DOT, queries, nq, VS_CAL_DIM, candidates, corpus, nc,
                                     10, scores, ids);
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
    float *scores = malloc(VS_CAL_BIG_Q * 10 * sizeof(float));
    int64_t *ids = malloc(VS_CAL_BIG_Q * 10 * sizeof(int64_t));
    if (scores == NULL || ids == NULL) goto done;
    if (ops->corpus_prepare(state, &ctx->env, data, VS_CAL_N, VS_CAL_DIM, &big) != VS_OK) goto done;
    if (ops->corpus_prepare(state, &ctx->env, data, VS_CAL_WARM_N, VS_CAL_DIM, &warm) != VS_OK)
        goto done;
    if (ops->corpus_prepare(state, &ctx->env, data, 64, VS_CAL_DIM, &small) != VS_OK) goto done;
    const float *queries = data; /* the first rows double as queries */
    double launch = time_batch(ctx, ops, state, small, NULL, queries, 1, 64, scores, ids);
    double stream = time_batch(ctx, ops, state, big, NULL, queries, 1, VS_CAL_N, scores, ids);
    double compute =
        time_batch(ctx, ops, state, warm, NULL, queries, VS_CAL_BIG_Q, VS_CAL_WARM_N, scores, ids);
    double upload = time_batch(ctx, ops, state, NULL, data, queries, 1, VS_CAL_N, scores, ids);
    if (launch < 0 || stream < 0 || compute < 0 || upload < 0) goto done;
    const double floor = 1e-6;
    out->launch = launch;
    out->bandwidth = (double)(VS_CAL_N + 1) * VS_CAL_DIM * 4.0 / fmax(stream - launch, floor);
    out->flops = 2.0 * VS_CAL_BIG_Q * VS_CAL_WARM_N * VS_CAL_DIM / fmax(compute - launch, floor);
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
           isfinite(side->link) && side->bandwidth > 0 && side->flops > 0 && side->launch >= 0 &&
           side->link >= 0;
}

/* 0 and the model from the cost file; -1 when it is missing, not usable or malformed. */
static int load(const vs_context *ctx, const char *name, vs__cost_model *model) {
    unsigned char *text = NULL;
    size_t size = 0;
    if (!vs__cache_read(ctx->env.cache, VS_COST_WHAT, name, VS_COST_MAX_BYTES, &text, &size))
        return -1;
    int version = 0, used = 0;
    vs__cost_side *c = &model->cpu, *d = &model->device;
    int n = sscanf((const char *)text, "vecscore-cost %3d %lg %lg %lg %lg %lg %lg %lg %lg%n",
                   &version, &c->launch, &c->bandwidth, &c->flops, &c->link, &d->launch,
                   &d->bandwidth, &d->flops, &d->link, &used);
    const int whole = n == 9 && strlen((const char *)text) == size &&
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
    int length =
        snprintf(text, sizeof(text), "vecscore-cost %d %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g\n",
                 VS_COST_VERSION, c->launch, c->bandwidth, c->flops, c->link, d->launch,
                 d->bandwidth, d->flops, d->link);
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
            "auto: calibrated in %.3f s: cpu %.1f GB/s %.1f GFLOP/s %.0f us; device %.1f GB/s "
            "%.1f GFLOP/s %.0f us, upload %.1f GB/s",
            vs__now() - start, model->cpu.bandwidth / 1e9, model->cpu.flops / 1e9,
            model->cpu.launch * 1e6, model->device.bandwidth / 1e9, model->device.flops / 1e9,
            model->device.launch * 1e6, model->device.link / 1e9);
    store(ctx, name, model);
    return VS_OK;
}
