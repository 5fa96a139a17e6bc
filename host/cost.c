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
 * in <cache_dir>/cost-<key>.txt (atomic write), so later contexts reuse them.
 * Without a usable cache directory the calibration simply runs again.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
        vs__batch b = {.metric = VS_METRIC_DOT,
                       .queries = queries,
                       .nq = nq,
                       .dim = VS_CAL_DIM,
                       .candidates = candidates,
                       .corpus = corpus,
                       .nc = nc,
                       .k = 10,
                       .scores = scores,
                       .ids = ids,
                       .report = &report,
                       .ctx = ctx};
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
    if (ops->corpus_prepare(state, ctx, data, VS_CAL_N, VS_CAL_DIM, &big) != VS_OK) goto done;
    if (ops->corpus_prepare(state, ctx, data, VS_CAL_WARM_N, VS_CAL_DIM, &warm) != VS_OK) goto done;
    if (ops->corpus_prepare(state, ctx, data, 64, VS_CAL_DIM, &small) != VS_OK) goto done;
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

static void cache_path(const vs_context *ctx, char *out, size_t size) {
    out[0] = '\0';
    char dir[3072];
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (ctx->cfg.cache_dir != NULL)
        snprintf(dir, sizeof(dir), "%s", ctx->cfg.cache_dir);
    else if (xdg != NULL && xdg[0] == '/')
        snprintf(dir, sizeof(dir), "%s/vecscore", xdg);
    else if (home != NULL && home[0] != '\0')
        snprintf(dir, sizeof(dir), "%s/.cache/vecscore", home);
    else
        return;
    char threads[32];
    snprintf(threads, sizeof(threads), "%d", ctx->cfg.threads);
    uint64_t key = VS_FNV1A_SEED;
    key =
        vs__fnv1a_field(key, ctx->backend->describe(ctx->backend_state)); /* name, driver, units */
    key = vs__fnv1a_field(key, ctx->cpu->describe(ctx->cpu_state));       /* ISA and threads */
    key = vs__fnv1a_field(key, threads);
    key = vs__fnv1a_field(key, vs_version());
    snprintf(out, size, "%s/cost-%016llx.txt", dir, (unsigned long long)key);
}

static int load(const char *path, vs__cost_model *model) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    int version = 0;
    vs__cost_side *c = &model->cpu, *d = &model->device;
    int n =
        fscanf(f, "vecscore-cost %d %lg %lg %lg %lg %lg %lg %lg %lg", &version, &c->launch,
               &c->bandwidth, &c->flops, &c->link, &d->launch, &d->bandwidth, &d->flops, &d->link);
    fclose(f);
    if (n != 9 || version != VS_COST_VERSION || !(c->bandwidth > 0) || !(c->flops > 0) ||
        !(d->bandwidth > 0) || !(d->flops > 0) || !(c->launch >= 0) || !(d->launch >= 0) ||
        !(c->link >= 0) || !(d->link >= 0))
        return -1;
    return 0;
}

static void store(const vs_context *ctx, const char *path, const vs__cost_model *model) {
    char dir[4096], temp[4200];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) return;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) { /* mkdir -p */
        if (*p != '/') continue;
        *p = '\0';
        mkdir(dir, 0755);
        *p = '/';
    }
    mkdir(dir, 0755);
    snprintf(temp, sizeof(temp), "%s.tmp.XXXXXX", path); /* unique per writer */
    int fd = mkstemp(temp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fd >= 0 && f == NULL) {
        close(fd);
        unlink(temp);
    }
    if (f == NULL) {
        vs__log(ctx, VS_LOG_WARN, "auto: cannot write cost cache %s: %s", path, strerror(errno));
        return;
    }
    const vs__cost_side *c = &model->cpu, *d = &model->device;
    int ok = fprintf(f, "vecscore-cost %d %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g\n",
                     VS_COST_VERSION, c->launch, c->bandwidth, c->flops, c->link, d->launch,
                     d->bandwidth, d->flops, d->link) > 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(temp, path) != 0) unlink(temp);
}

int vs__cost_calibrate(vs_context *ctx) {
    vs__cost_model *model = &ctx->cost;
    memset(model, 0, sizeof(*model));
    char path[4200];
    cache_path(ctx, path, sizeof(path));
    if (path[0] != '\0' && load(path, model) == 0) {
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
        vs__log(ctx, VS_LOG_WARN, "auto: calibration failed; built-in cost constants apply");
        memset(model, 0, sizeof(*model));
        return status;
    }
    model->valid = 1;
    vs__log(ctx, VS_LOG_INFO,
            "auto: calibrated in %.3f s: cpu %.1f GB/s %.1f GFLOP/s %.0f us; device %.1f GB/s "
            "%.1f GFLOP/s %.0f us, upload %.1f GB/s",
            vs__now() - start, model->cpu.bandwidth / 1e9, model->cpu.flops / 1e9,
            model->cpu.launch * 1e6, model->device.bandwidth / 1e9, model->device.flops / 1e9,
            model->device.launch * 1e6, model->device.link / 1e9);
    if (path[0] != '\0') store(ctx, path, model);
    return VS_OK;
}
