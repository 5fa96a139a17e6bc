/*
 * small_batch.c — vecscore-small-batch: the latency of one small top-k batch
 * (issue 9: idle 1 x 1000 x 768 top-10 must be no slower than the OpenMP
 * driver was), through the public API only, so that the same source builds
 * against any version of the library and the versions can be run side by
 * side in one session (docs/threads.md, "Small batches").
 *
 *   vecscore-small-batch [--threads T] [--q Q] [--n N] [--dim D] [--k K]
 *                        [--calls C] [--repeats R] [--warmup W] [--seed S]
 *
 * Each repeat times C calls of vs_corpus_topk (dot) one by one and prints
 * their median and p90; the last line gives the median, smallest and largest
 * of the R repeat medians. With a library that reports threads_joined, each
 * repeat also says in how many calls a helper ran part of the batch (timed
 * outside the calls). Exit status 0, or 1 with a message on bad arguments or
 * a failed call.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vecscore.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(double *values, size_t count, double q) {
    qsort(values, count, sizeof(double), compare_double);
    size_t at = (size_t)(q * (double)(count - 1) + 0.5);
    return values[at];
}

static int parse_size(const char *prog, const char *name, const char *text, size_t min,
                      size_t *out) {
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '-' || value < min || value > (1ull << 40)) {
        fprintf(stderr, "%s: %s: '%s' is not a whole number >= %zu\n", prog, name, text, min);
        return -1;
    }
    *out = (size_t)value;
    return 0;
}

typedef struct bench_args {
    size_t threads, nq, n, dim, k, calls, repeats, warmup, seed;
} bench_args;

/* The command line into *a (its defaults stay where an option is absent); 0, or -1 (said). */
static int parse_args(int argc, char **argv, bench_args *a) {
    const char *prog = argv[0];
    for (int i = 1; i < argc; i++) {
        struct {
            const char *name;
            size_t *value;
            size_t min;
        } known[] = {
            {"--threads", &a->threads, 0}, {"--q", &a->nq, 1},          {"--n", &a->n, 1},
            {"--dim", &a->dim, 1},         {"--k", &a->k, 1},           {"--calls", &a->calls, 1},
            {"--repeats", &a->repeats, 1}, {"--warmup", &a->warmup, 0}, {"--seed", &a->seed, 0}};
        int matched = 0;
        for (size_t j = 0; j < sizeof(known) / sizeof(known[0]); j++) {
            if (strcmp(argv[i], known[j].name) != 0) continue;
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", prog, argv[i]);
                return -1;
            }
            if (parse_size(prog, argv[i], argv[i + 1], known[j].min, known[j].value) != 0)
                return -1;
            i++;
            matched = 1;
        }
        if (!matched) {
            fprintf(stderr, "%s: unknown argument '%s' (see the top of bench/small_batch.c)\n",
                    prog, argv[i]);
            return -1;
        }
    }
    if (a->threads > 4096) {
        fprintf(stderr, "%s: --threads %zu is above 4096\n", prog, a->threads);
        return -1;
    }
    return 0;
}

/* count floats in [-0.5, 0.5) from a 64-bit LCG in *state. */
static void fill_random(float *out, size_t count, uint64_t *state) {
    for (size_t i = 0; i < count; i++) {
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        out[i] = (float)((*state >> 40) & 0xFFFF) / 65536.0f - 0.5f;
    }
}

/* The repeats of a->calls timed calls each, printed; medians[r] each repeat's median. */
static int time_repeats(const bench_args *a, vs_context *ctx, vs_corpus *corpus,
                        const float *queries, float *scores, int64_t *ids, double *times,
                        double *medians) {
    int status = VS_OK;
    (void)ctx;
    for (size_t r = 0; r < a->repeats && status == VS_OK; r++) {
        size_t split = 0;
        (void)split;
        for (size_t c = 0; c < a->calls && status == VS_OK; c++) {
            double t0 = now_seconds();
            status = vs_corpus_topk(corpus, VS_METRIC_DOT, queries, a->nq, a->k, scores, ids);
            times[c] = now_seconds() - t0;
#if defined(VS_REPORT_VERSION) && VS_REPORT_VERSION >= 2
            vs_batch_report report;
            if (vs_context_last_report(ctx, &report) == VS_OK && report.threads_joined > 1) split++;
#endif
        }
        if (status != VS_OK) break;
        double p90 = quantile(times, a->calls, 0.9);
        medians[r] = quantile(times, a->calls, 0.5);
        printf("repeat %zu: median %.4f ms, p90 %.4f ms", r + 1, 1e3 * medians[r], 1e3 * p90);
#if defined(VS_REPORT_VERSION) && VS_REPORT_VERSION >= 2
        printf(", helper joined in %zu of %zu calls", split, a->calls);
#endif
        printf("\n");
    }
    return status;
}

int main(int argc, char **argv) {
    const char *prog = argv[0];
    bench_args a = {.threads = 0,
                    .nq = 1,
                    .n = 1000,
                    .dim = 768,
                    .k = 10,
                    .calls = 200,
                    .repeats = 7,
                    .warmup = 50,
                    .seed = 1};
    if (parse_args(argc, argv, &a) != 0) return 1;
    const size_t nq = a.nq, n = a.n, dim = a.dim, k = a.k, repeats = a.repeats;
    float *corpus_rows = malloc(n * dim * sizeof(float));
    float *queries = malloc(nq * dim * sizeof(float));
    float *scores = malloc(nq * k * sizeof(float));
    int64_t *ids = malloc(nq * k * sizeof(int64_t));
    double *times = malloc(a.calls * sizeof(double));
    double *medians = malloc(repeats * sizeof(double));
    if (!corpus_rows || !queries || !scores || !ids || !times || !medians) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    uint64_t state = a.seed * 0x9E3779B97F4A7C15ull + 1;
    fill_random(corpus_rows, n * dim, &state);
    fill_random(queries, nq * dim, &state);
    vs_options opts;
    vs_options_init(&opts);
    opts.device = "cpu";
    opts.threads = (int)a.threads;
    vs_context *ctx = NULL;
    vs_corpus *corpus = NULL;
    int status = vs_context_create(&opts, &ctx);
    if (status == VS_OK) status = vs_corpus_create(ctx, corpus_rows, n, dim, &corpus);
    if (status != VS_OK) {
        fprintf(stderr, "%s: cannot make the context or corpus: %s\n", prog, vs_strerror(status));
        return 1;
    }
    for (size_t i = 0; i < a.warmup && status == VS_OK; i++)
        status = vs_corpus_topk(corpus, VS_METRIC_DOT, queries, nq, k, scores, ids);
    printf("small batch %zu x %zu x %zu top-%zu dot, threads %zu, %zu calls x %zu repeats\n", nq, n,
           dim, k, a.threads, a.calls, repeats);
    if (status == VS_OK)
        status = time_repeats(&a, ctx, corpus, queries, scores, ids, times, medians);
    if (status != VS_OK) {
        fprintf(stderr, "%s: vs_corpus_topk failed: %s\n", prog, vs_strerror(status));
        return 1;
    }
    double lo = medians[0], hi = medians[0];
    for (size_t r = 1; r < repeats; r++) {
        if (medians[r] < lo) lo = medians[r];
        if (medians[r] > hi) hi = medians[r];
    }
    double mid = quantile(medians, repeats, 0.5);
    printf("summary: median of repeat medians %.4f ms (min %.4f, max %.4f)\n", 1e3 * mid, 1e3 * lo,
           1e3 * hi);
    vs_corpus_free(corpus);
    vs_context_free(ctx);
    free(corpus_rows);
    free(queries);
    free(scores);
    free(ids);
    free(times);
    free(medians);
    return 0;
}
