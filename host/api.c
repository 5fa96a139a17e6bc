/*
 * api.c — the front door: argument checks, the batch flow (workspace, backend,
 * optional verification, arena reset, report), the corpus API and output
 * memory.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/reference.h"
#include "internal.h"

/* ---- argument checks ------------------------------------------------------ */

static int bytes_of(size_t a, size_t b, size_t element, size_t *out) {
    size_t count;
    if (__builtin_mul_overflow(a, b, &count)) return -1;
    if (__builtin_mul_overflow(count, element, out)) return -1;
    return 0;
}

static int check_batch(const char *fn, vs_context *ctx, vs_metric metric, const float *queries,
                       size_t nq, const float *candidates, int need_candidates, size_t nc,
                       size_t dim, size_t k, int topk, const float *scores, const int64_t *ids) {
    size_t bytes;
    vs__error_clear();
    if (ctx == NULL) {
        vs__error_set("%s: ctx is NULL", fn);
        return VS_ERR_INVALID_ARGUMENT;
    }
    if (vs_metric_name(metric) == NULL)
        return vs__fail(vs__sink(ctx), VS_ERR_INVALID_ARGUMENT, "%s: unknown metric %d", fn,
                        (int)metric);
    if (dim == 0) return vs__fail(vs__sink(ctx), VS_ERR_INVALID_ARGUMENT, "%s: dim is 0", fn);
    if (topk && k == 0) return vs__fail(vs__sink(ctx), VS_ERR_INVALID_ARGUMENT, "%s: k is 0", fn);
    if (nq > 0 && queries == NULL)
        return vs__fail(vs__sink(ctx), VS_ERR_INVALID_ARGUMENT, "%s: queries is NULL with nq = %zu",
                        fn, nq);
    if (need_candidates && nc > 0 && candidates == NULL)
        return vs__fail(vs__sink(ctx), VS_ERR_INVALID_ARGUMENT,
                        "%s: candidates is NULL with nc = %zu", fn, nc);
    if (bytes_of(nq, dim, sizeof(float), &bytes))
        return vs__fail(vs__sink(ctx), VS_ERR_INVALID_ARGUMENT,
                        "%s: nq x dim x 4 bytes overflows (nq = %zu, dim = %zu)", fn, nq, dim);
    if (bytes_of(nc, dim, sizeof(float), &bytes) || nc > (size_t)INT64_MAX)
        return vs__fail(vs__sink(ctx), VS_ERR_INVALID_ARGUMENT,
                        "%s: nc x dim x 4 bytes overflows (nc = %zu, dim = %zu)", fn, nc, dim);
    if (topk) {
        if (bytes_of(nq, k, sizeof(int64_t), &bytes))
            return vs__fail(vs__sink(ctx), VS_ERR_INVALID_ARGUMENT,
                            "%s: nq x k x 8 bytes overflows (nq = %zu, k = %zu)", fn, nq, k);
        if (nq > 0 && (scores == NULL || ids == NULL))
            return vs__fail(vs__sink(ctx), VS_ERR_INVALID_ARGUMENT, "%s: %s output is NULL", fn,
                            scores == NULL ? "scores" : "ids");
    } else {
        if (bytes_of(nq, nc, sizeof(float), &bytes))
            return vs__fail(vs__sink(ctx), VS_ERR_INVALID_ARGUMENT,
                            "%s: nq x nc x 4 bytes overflows (nq = %zu, nc = %zu)", fn, nq, nc);
        if (nq > 0 && nc > 0 && scores == NULL)
            return vs__fail(vs__sink(ctx), VS_ERR_INVALID_ARGUMENT, "%s: scores output is NULL",
                            fn);
    }
    return VS_OK;
}

/* ---- verification ----------------------------------------------------------- */

/* A finite result means nothing overflowed, so the bound applies to it. */
static int agrees(double reference, double bound, int overflow, float got) {
    if (isnan(reference)) return isnan(got);
    if (isinf(reference)) return (double)got == reference;
    if (overflow && !isfinite(got)) return 1;
    return fabs((double)got - reference) <= bound;
}

/* Candidate row j (from the caller's memory or the corpus). */
typedef const float *(*row_fn)(const void *source, size_t j, size_t dim, float *buffer);

static const float *plain_row(const void *source, size_t j, size_t dim, float *buffer) {
    (void)buffer;
    return (const float *)source + j * dim;
}

static int verify_batch(vs_context *ctx, const vs__batch *b, row_fn row, const void *source) {
    if (b->nq == 0 || b->nc == 0) return VS_OK;
    float *buffer = malloc(b->dim * sizeof(float));
    if (buffer == NULL) return VS_ERR_OUT_OF_MEMORY;
    uint64_t state = 0x9e3779b97f4a7c15ull ^ (b->nq * 31 + b->nc);
    int status = VS_OK;
    for (int sample = 0; sample < 16 && status == VS_OK; sample++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        size_t i = (size_t)(state >> 33) % b->nq;
        size_t j, at;
        float got;
        if (b->k) {
            size_t limit = b->k < b->nc ? b->k : b->nc;
            at = i * b->k + (size_t)(state >> 13) % limit;
            if (b->ids[at] < 0 || (size_t)b->ids[at] >= b->nc) {
                status = VS_ERR_VERIFY;
                vs__log(vs__sink(ctx), VS_LOG_ERROR,
                        "verify: query %zu has id %lld inside the first %zu", i,
                        (long long)b->ids[at], limit);
                break;
            }
            j = (size_t)b->ids[at];
            got = b->scores[at];
        } else {
            j = (size_t)(state >> 13) % b->nc;
            got = b->scores[i * b->nc + j];
        }
        double bound;
        int overflow;
        double expected =
            vs__reference_score(b->metric, b->queries + i * b->dim, row(source, j, b->dim, buffer),
                                b->dim, &bound, &overflow);
        if (!agrees(expected, bound, overflow, got)) {
            status = VS_ERR_VERIFY;
            vs__log(vs__sink(ctx), VS_LOG_ERROR,
                    "verify: score(query %zu, candidate %zu) = %.9g, float64 reference %.9g, "
                    "bound %.3g",
                    i, j, (double)got, expected, bound);
        }
    }
    free(buffer);
    return status;
}

/* ---- the batch flow ----------------------------------------------------------- */

/*
 * "auto" with an OpenCL device: estimated seconds on each side for this shape
 * from the calibrated cost model (host/cost.c), or from conservative built-in
 * constants when calibration failed. Returns 1 if the device should run it.
 */
static const vs__cost_model builtin_cost = {
    .cpu = {.launch = 20e-6, .bandwidth = 20e9, .flops = 32e9, .link = 0, .select = 5e-9},
    .device = {.launch = 300e-6, .bandwidth = 300e9, .flops = 2e12, .link = 10e9, .select = 20e-9},
};

int vs__device_failure_count(vs_context *ctx, int status) {
    if (status != VS_ERR_DEVICE) return 0;
    pthread_mutex_lock(&ctx->lock);
    const int failures = ++ctx->device_failures;
    if (failures >= VS_DEMOTE_AFTER) ctx->demoted = 1;
    pthread_mutex_unlock(&ctx->lock);
    return failures;
}

int vs__device_preferred(const vs_context *ctx, const vs__batch *b, char *why, size_t size) {
    const vs__cost_model *model = ctx->cost.valid ? &ctx->cost : &builtin_cost;
    const double cpu = vs__cost_seconds(&model->cpu, b);
    const double device = vs__cost_seconds(&model->device, b);
    if (device < cpu) return 1;
    snprintf(why, size,
             "auto: the %s cost model estimates %.3g ms on the CPU vs %.3g ms on the device",
             ctx->cost.valid ? "calibrated" : "built-in", cpu * 1e3, device * 1e3);
    return 0;
}

static int run_batch(vs_context *ctx, vs__batch *b, row_fn row, const void *source,
                     const vs_corpus *corpus) {
    double start = vs__now();
    vs_batch_report report;
    memset(&report, 0, sizeof(report));
    report.struct_size = sizeof(report);
    report.version = VS_REPORT_VERSION;
    report.metric = (int)b->metric;
    report.queries = b->nq;
    report.candidates = b->nc;
    report.dim = b->dim;
    report.k = b->k;
    report.storage = corpus != NULL ? (int)corpus->storage : 0;
    report.threads_requested = ctx->cfg.threads_requested;
    b->report = &report;
    b->ctx = &ctx->env;

    char why[320] = ""; /* copied, truncated, into report.fallback */
    pthread_mutex_lock(&ctx->lock);
    int use_device = ctx->backend != ctx->cpu && !ctx->demoted;
    if (ctx->demoted)
        snprintf(why, sizeof(why), "the device failed %d batches; this context uses the CPU",
                 ctx->device_failures);
    pthread_mutex_unlock(&ctx->lock);
    if (ctx->backend == ctx->cpu) snprintf(why, sizeof(why), "%s", ctx->why_cpu);
    if (use_device && corpus != NULL && corpus->compact != NULL &&
        corpus->data == corpus->cpu_data) {
        use_device = 0;
        snprintf(why, sizeof(why), "the compact corpus's float32 rows are not on the device");
    }
    if (use_device && corpus != NULL && corpus->data == NULL) {
        use_device = 0;
        snprintf(why, sizeof(why), "the corpus could not be placed on the device");
    }
    if (use_device && ctx->is_auto) use_device = vs__device_preferred(ctx, b, why, sizeof(why));

    int status;
    if (use_device) {
        status = vs__run_on(ctx, ctx->backend, ctx->backend_state, b, corpus);
        if (status != VS_OK && status != VS_ERR_INVALID_ARGUMENT && b->no_rerun) {
            pthread_mutex_lock(&ctx->lock);
            if (++ctx->device_failures >= VS_DEMOTE_AFTER) ctx->demoted = 1;
            pthread_mutex_unlock(&ctx->lock);
            vs__log(vs__sink(ctx), VS_LOG_ERROR,
                    "the device failed and could not be confirmed idle; the outputs are not "
                    "re-written on the CPU");
        } else if (status != VS_OK && status != VS_ERR_INVALID_ARGUMENT) {
            /*
             * The CPU re-runs the whole batch (it overwrites every output). Only a
             * device failure counts toward demotion; a batch the device cannot take
             * (too large a k, a dim beyond its limits) is simply run on the CPU.
             */
            const int failure = status == VS_ERR_DEVICE;
            const int failures = vs__device_failure_count(ctx, status);
            char detail[sizeof(b->why)];
            memcpy(detail, b->why, sizeof(detail));
            snprintf(why, sizeof(why), "%s (%s%s%.120s); re-ran on the CPU%s",
                     failure ? "device failed" : "device cannot take this batch",
                     vs_status_name(status), detail[0] ? ": " : "", detail,
                     failures >= VS_DEMOTE_AFTER ? "; device demoted for this context" : "");
            vs__log(vs__sink(ctx), failure ? VS_LOG_WARN : VS_LOG_INFO, "%s", why);
            const double compile = report.compile_seconds;
            const int cache = report.program_cache;
            memset(b->why, 0, sizeof(b->why));
            memset(report.kernel_family, 0, sizeof(report.kernel_family)); /* the CPU ran */
            memset(report.kernels, 0, sizeof(report.kernels));
            status = vs__run_on(ctx, ctx->cpu, ctx->cpu_state, b, corpus);
            report.compile_seconds = compile;
            report.program_cache = cache;
        }
    } else {
        status = vs__run_on(ctx, ctx->cpu, ctx->cpu_state, b, corpus);
    }
    snprintf(report.fallback, sizeof(report.fallback), "%.191s", why);
    if (status == VS_OK && ctx->cfg.verify) status = verify_batch(ctx, b, row, source);
    report.status = status;
    report.total_seconds = vs__now() - start;
    vs__report_store(ctx, &report); /* the calling thread's own last report */
    if (status == VS_OK)
        vs__error_clear(); /* a recovered device error is in report.fallback */
    else if (!vs__error_is_set())
        vs__error_set("batch failed: %s", vs_strerror(status));
    return status;
}

int vs_score(vs_context *ctx, vs_metric metric, const float *queries, size_t nq,
             const float *candidates, size_t nc, size_t dim, float *scores) {
    int status = check_batch("vs_score", ctx, metric, queries, nq, candidates, 1, nc, dim, 0, 0,
                             scores, NULL);
    if (status != VS_OK) return status;
    vs__batch b = vs__batch_make(metric, queries, nq, dim, candidates, NULL, nc, 0, scores, NULL);
    return run_batch(ctx, &b, plain_row, candidates, NULL);
}

int vs_topk(vs_context *ctx, vs_metric metric, const float *queries, size_t nq,
            const float *candidates, size_t nc, size_t dim, size_t k, float *scores, int64_t *ids) {
    int status =
        check_batch("vs_topk", ctx, metric, queries, nq, candidates, 1, nc, dim, k, 1, scores, ids);
    if (status != VS_OK) return status;
    vs__batch b = vs__batch_make(metric, queries, nq, dim, candidates, NULL, nc, k, scores, ids);
    return run_batch(ctx, &b, plain_row, candidates, NULL);
}

/* ---- corpus ------------------------------------------------------------------- */

int vs_corpus_create(vs_context *ctx, const float *vectors, size_t n, size_t dim, vs_corpus **out) {
    if (out == NULL) {
        vs__error_set("vs_corpus_create: out is NULL");
        return VS_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    int status = check_batch("vs_corpus_create", ctx, VS_METRIC_DOT, NULL, 0, vectors, 1, n, dim, 0,
                             0, NULL, NULL);
    if (status != VS_OK) return status;
    vs_corpus *corpus = calloc(1, sizeof(*corpus));
    if (corpus == NULL) {
        vs__error_set("vs_corpus_create: cannot allocate the corpus");
        return VS_ERR_OUT_OF_MEMORY;
    }
    corpus->ctx = ctx;
    corpus->n = n;
    corpus->dim = dim;
    /* The CPU always holds a copy: it re-runs batches the device fails. */
    status =
        ctx->cpu->corpus_prepare(ctx->cpu_state, &ctx->env, vectors, n, dim, &corpus->cpu_data);
    if (status != VS_OK) {
        free(corpus);
        return status;
    }
    if (ctx->backend == ctx->cpu) {
        corpus->data = corpus->cpu_data;
    } else if (ctx->backend->corpus_prepare(ctx->backend_state, &ctx->env, vectors, n, dim,
                                            &corpus->data) != VS_OK) {
        /* Not fatal: batches on this corpus run on the CPU (and the report says so). */
        corpus->data = NULL;
        vs__log(vs__sink(ctx), VS_LOG_WARN,
                "vs_corpus_create: the device could not take the corpus; it stays on the CPU");
    }
    *out = corpus;
    return VS_OK;
}

static const float *corpus_row(const void *source, size_t j, size_t dim, float *buffer) {
    const vs_corpus *corpus = source;
    corpus->ctx->cpu->corpus_row(corpus->ctx->cpu_state, corpus->cpu_data, j, buffer);
    (void)dim;
    return buffer;
}

int vs_corpus_score(vs_corpus *c, vs_metric metric, const float *queries, size_t nq,
                    float *scores) {
    if (c == NULL) {
        vs__error_set("vs_corpus_score: corpus is NULL");
        return VS_ERR_INVALID_ARGUMENT;
    }
    int status = check_batch("vs_corpus_score", c->ctx, metric, queries, nq, NULL, 0, c->n, c->dim,
                             0, 0, scores, NULL);
    if (status != VS_OK) return status;
    if (c->compact != NULL && c->cpu_data == NULL)
        return c->compact_ops->run(c, metric, queries, nq, 0, scores, NULL);
    vs__batch b = vs__batch_make(metric, queries, nq, c->dim, NULL, c->data, c->n, 0, scores, NULL);
    return run_batch(c->ctx, &b, corpus_row, c, c);
}

int vs_corpus_topk(vs_corpus *c, vs_metric metric, const float *queries, size_t nq, size_t k,
                   float *scores, int64_t *ids) {
    if (c == NULL) {
        vs__error_set("vs_corpus_topk: corpus is NULL");
        return VS_ERR_INVALID_ARGUMENT;
    }
    int status = check_batch("vs_corpus_topk", c->ctx, metric, queries, nq, NULL, 0, c->n, c->dim,
                             k, 1, scores, ids);
    if (status != VS_OK) return status;
    if (c->compact != NULL) return c->compact_ops->run(c, metric, queries, nq, k, scores, ids);
    vs__batch b = vs__batch_make(metric, queries, nq, c->dim, NULL, c->data, c->n, k, scores, ids);
    return run_batch(c->ctx, &b, corpus_row, c, c);
}

size_t vs_corpus_size(const vs_corpus *c) {
    return c != NULL ? c->n : 0;
}

size_t vs_corpus_dim(const vs_corpus *c) {
    return c != NULL ? c->dim : 0;
}

void vs_corpus_free(vs_corpus *c) {
    if (c == NULL) return;
    vs_context *ctx = c->ctx;
    if (c->data != NULL && c->data != c->cpu_data)
        ctx->backend->corpus_release(ctx->backend_state, c->data);
    ctx->cpu->corpus_release(ctx->cpu_state, c->cpu_data);
    if (c->compact != NULL) c->compact_ops->release(c->compact);
    free(c);
}
