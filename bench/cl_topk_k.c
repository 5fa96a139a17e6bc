/*
 * cl_topk_k.c — vecscore-bench-cl-k: what a large k costs on the OpenCL
 * device (issue 10: top-k at k = 1000 no more than 3x the cost of k = 10).
 *
 *   vecscore-bench-cl-k [--q Q] [--n N] [--dim D] [--repeats R] [--segments]
 *                       [--device SELECTOR]
 *
 * For each kernel family (VECSCORE_CL_KERNELS=cpu, then gpu) it opens the
 * device (default "opencl"), makes a corpus of N random rows, warms both k
 * up once, then times vs_corpus_topk (dot) R times at k = 10 and k = 1000,
 * alternating the two so that a change of machine load hits both alike. It
 * prints each family's median, smallest and largest time per k and the
 * ratio of medians. --segments adds the same rows with the segment-list
 * selection (VECSCORE_CL_SURVIVORS=0), the path before threshold selection.
 * Each call's batch report must say that the device ran it; exit status 0,
 * or 1 with a message.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "vecscore.h"

enum { KS = 2 };
static const size_t ks[KS] = {10, 1000};

typedef struct setup {
    const char *family, *survivors, *label;
} setup;

static int parse_size(const char *prog, const char *name, const char *text, size_t *out) {
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '-' || value < 1 || value > (1ull << 30)) {
        fprintf(stderr, "%s: %s: '%s' is not a whole number from 1 to 2^30\n", prog, name, text);
        return -1;
    }
    *out = (size_t)value;
    return 0;
}

/* One timed call; 0, or 1 after a message when it failed or did not run on the device. */
static int timed_call(vs_context *ctx, vs_corpus *corpus, const float *queries, size_t nq, size_t k,
                      float *scores, int64_t *ids, double *seconds) {
    const double start = bench_now();
    int status = vs_corpus_topk(corpus, VS_METRIC_DOT, queries, nq, k, scores, ids);
    *seconds = bench_now() - start;
    vs_batch_report report;
    if (status == VS_OK) status = vs_context_last_report(ctx, &report);
    if (status != VS_OK) {
        fprintf(stderr, "vecscore-bench-cl-k: top-%zu failed: %s\n", k, vs_strerror(status));
        return 1;
    }
    if (strcmp(report.backend, "opencl") != 0) {
        fprintf(stderr, "vecscore-bench-cl-k: top-%zu ran on %s (%s)\n", k, report.backend,
                report.fallback);
        return 1;
    }
    return 0;
}

static int run_setup(const setup *su, const char *device, const float *rows, size_t n, size_t dim,
                     const float *queries, size_t nq, size_t repeats) {
    setenv("VECSCORE_CL_KERNELS", su->family, 1);
    if (su->survivors != NULL) setenv("VECSCORE_CL_SURVIVORS", su->survivors, 1);
    vs_options opts;
    vs_options_init(&opts);
    opts.device = device;
    vs_context *ctx = NULL;
    vs_corpus *corpus = NULL;
    int status = vs_context_create(&opts, &ctx);
    unsetenv("VECSCORE_CL_SURVIVORS");
    if (status == VS_OK) status = vs_corpus_create(ctx, rows, n, dim, &corpus);
    float *scores = malloc(nq * ks[KS - 1] * sizeof(float));
    int64_t *ids = malloc(nq * ks[KS - 1] * sizeof(int64_t));
    double *times[KS] = {malloc(repeats * sizeof(double)), malloc(repeats * sizeof(double))};
    int failed = status != VS_OK || !scores || !ids || !times[0] || !times[1];
    if (status != VS_OK)
        fprintf(stderr, "vecscore-bench-cl-k: %s: cannot open %s: %s\n", su->label, device,
                vs_strerror(status));
    double warm = 0;
    for (int j = 0; j < KS && !failed; j++) /* first calls: program and buffers */
        failed = timed_call(ctx, corpus, queries, nq, ks[j], scores, ids, &warm);
    for (size_t r = 0; r < repeats && !failed; r++)
        for (int j = 0; j < KS && !failed; j++) {
            const int at = r % 2 ? KS - 1 - j : j; /* alternate which k goes first */
            failed = timed_call(ctx, corpus, queries, nq, ks[at], scores, ids, &times[at][r]);
        }
    if (!failed) {
        double median[KS];
        printf("%-22s", su->label);
        for (int j = 0; j < KS; j++) {
            median[j] = bench_median(times[j], repeats); /* sorts: [0] min, [R-1] max */
            printf("  k=%-5zu %9.1f ms (%.1f .. %.1f)", ks[j], 1e3 * median[j], 1e3 * times[j][0],
                   1e3 * times[j][repeats - 1]);
        }
        printf("  ratio %.2f\n", median[1] / median[0]);
        fflush(stdout);
    }
    free(scores);
    free(ids);
    free(times[0]);
    free(times[1]);
    vs_corpus_free(corpus);
    vs_context_free(ctx);
    return failed;
}

int main(int argc, char **argv) {
    const char *prog = argv[0], *device = "opencl";
    size_t nq = 1, n = 100000, dim = 768, repeats = 5;
    int segments = 0;
    for (int i = 1; i < argc; i++) {
        size_t *value = NULL;
        if (strcmp(argv[i], "--q") == 0) value = &nq;
        if (strcmp(argv[i], "--n") == 0) value = &n;
        if (strcmp(argv[i], "--dim") == 0) value = &dim;
        if (strcmp(argv[i], "--repeats") == 0) value = &repeats;
        if (strcmp(argv[i], "--segments") == 0) {
            segments = 1;
            continue;
        }
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            device = argv[++i];
            continue;
        }
        if (value == NULL || i + 1 >= argc) {
            fprintf(stderr, "%s: unknown argument or missing value '%s' (see bench/cl_topk_k.c)\n",
                    prog, argv[i]);
            return 1;
        }
        if (parse_size(prog, argv[i], argv[i + 1], value) != 0) return 1;
        i++;
    }
    float *rows = malloc(n * dim * sizeof(float)), *queries = malloc(nq * dim * sizeof(float));
    if (rows == NULL || queries == NULL) {
        fprintf(stderr, "%s: out of memory for %zu x %zu rows\n", prog, n, dim);
        return 1;
    }
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n * dim + nq * dim; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        const float x = (float)((state >> 40) & 0xFFFF) / 65536.0f - 0.5f;
        if (i < n * dim)
            rows[i] = x;
        else
            queries[i - n * dim] = x;
    }
    printf("OpenCL top-k cost of k: %zu x %zu x %zu dot on %s, %zu repeats, median (min .. max)\n",
           nq, n, dim, device, repeats);
    const setup setups[] = {{"cpu", NULL, "cpu family"},
                            {"gpu", NULL, "gpu family"},
                            {"cpu", "0", "cpu family, segments"},
                            {"gpu", "0", "gpu family, segments"}};
    int failed = 0;
    for (int i = 0; i < (segments ? 4 : 2) && !failed; i++)
        failed = run_setup(&setups[i], device, rows, n, dim, queries, nq, repeats);
    free(rows);
    free(queries);
    return failed;
}
