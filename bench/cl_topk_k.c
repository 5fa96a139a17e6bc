/*
 * cl_topk_k.c — vecscore-bench-cl-k: what a large k costs on the OpenCL
 * device (issue 10: top-k at k = 1000 no more than 3x the cost of k = 10).
 *
 *   vecscore-bench-cl-k [--q Q] [--n N] [--dim D] [--repeats R] [--segments]
 *                       [--family cpu|gpu] [--device SELECTOR]
 *   vecscore-bench-cl-k --figures [--repeats R] [--divide F] [--clblast P:D]
 *                       [--device SELECTOR]
 *
 * --figures measures issue 10's three PoCL figures in one run instead
 * (bench/cl_figures.c: gpu family against the tile kernel, the default
 * kernels against CLBlast SGEMM, top-1000 against top-10), on the listed
 * shapes with corpora of 1/F of their size (F = 1 by default; a larger F
 * is a quick check of the program, not a figure).
 *
 * For each kernel family (VECSCORE_CL_KERNELS=cpu, then gpu) it opens the
 * device (default "opencl") once per variant: the threshold selection with
 * its test fused into the score kernel (the default), the same with the
 * test as a separate pass over a score tile (VECSCORE_CL_FILTER=0), and
 * with --segments the segment-list selection (VECSCORE_CL_SURVIVORS=0, the
 * path before threshold selection). Each variant gets a corpus of the same
 * N random rows and warms both k up once; then each of R repeats times
 * vs_corpus_topk (dot) for every variant at k = 10 and k = 1000, the order
 * of variants and of k turning round from repeat to repeat so that a
 * change of machine load hits all alike. It prints each variant's median,
 * smallest and largest time per k and the ratio of medians, in wall time
 * and in the process's CPU time (every PoCL worker thread included; a busy
 * machine disturbs it far less). --family runs one family only.
 * Each call's batch report must say that the device ran it; exit status 0,
 * or 1 with a message.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "cl_figures.h"
#include "vecscore.h"

enum { KS = 2 };
static const size_t ks[KS] = {10, 1000};

/* One way of running top-k: family, VECSCORE_CL_SURVIVORS, VECSCORE_CL_FILTER (NULL: unset). */
typedef struct setup {
    const char *survivors, *filter, *label;
} setup;

/* What one variant holds while its family is measured. */
typedef struct variant {
    const setup *su;
    vs_context *ctx;
    vs_corpus *corpus;
    double *times[2], *cpu[2];
} variant;

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

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

/* One timed call (wall and process CPU seconds); 0, or 1 after a message when it failed or
 * did not run on the device. */
static int timed_call(vs_context *ctx, vs_corpus *corpus, const float *queries, size_t nq, size_t k,
                      float *scores, int64_t *ids, double *seconds, double *cpu) {
    const double start = bench_now(), cpu_start = cpu_now();
    int status = vs_corpus_topk(corpus, VS_METRIC_DOT, queries, nq, k, scores, ids);
    *seconds = bench_now() - start;
    *cpu = cpu_now() - cpu_start;
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

static int open_variant(variant *v, const char *family, const char *device, const float *rows,
                        size_t n, size_t dim, size_t repeats) {
    setenv("VECSCORE_CL_KERNELS", family, 1);
    if (v->su->survivors != NULL) setenv("VECSCORE_CL_SURVIVORS", v->su->survivors, 1);
    if (v->su->filter != NULL) setenv("VECSCORE_CL_FILTER", v->su->filter, 1);
    vs_options opts;
    vs_options_init(&opts);
    opts.device = device;
    int status = vs_context_create(&opts, &v->ctx);
    unsetenv("VECSCORE_CL_SURVIVORS");
    unsetenv("VECSCORE_CL_FILTER");
    if (status == VS_OK) status = vs_corpus_create(v->ctx, rows, n, dim, &v->corpus);
    if (status != VS_OK)
        fprintf(stderr, "vecscore-bench-cl-k: %s family, %s: cannot open %s: %s\n", family,
                v->su->label, device, vs_strerror(status));
    int missing = 0;
    for (int j = 0; j < KS; j++) {
        v->times[j] = malloc(repeats * sizeof(double));
        v->cpu[j] = malloc(repeats * sizeof(double));
        missing |= v->times[j] == NULL || v->cpu[j] == NULL;
    }
    return status != VS_OK || missing;
}

static void print_variant(const char *family, variant *v, size_t repeats) {
    double median[KS], cpu[KS];
    char label[64];
    snprintf(label, sizeof(label), "%s family, %s", family, v->su->label);
    printf("%-37s", label);
    for (int j = 0; j < KS; j++) {
        median[j] = bench_median(v->times[j], repeats); /* sorts: [0] min, [R-1] max */
        printf("  k=%-5zu %9.1f ms (%.1f .. %.1f)", ks[j], 1e3 * median[j], 1e3 * v->times[j][0],
               1e3 * v->times[j][repeats - 1]);
    }
    printf("  ratio %.2f\n%-37s", median[1] / median[0], "  process CPU time");
    for (int j = 0; j < KS; j++) {
        cpu[j] = bench_median(v->cpu[j], repeats);
        printf("  k=%-5zu %9.1f ms (%.1f .. %.1f)", ks[j], 1e3 * cpu[j], 1e3 * v->cpu[j][0],
               1e3 * v->cpu[j][repeats - 1]);
    }
    printf("  ratio %.2f\n", cpu[1] / cpu[0]);
    fflush(stdout);
}

/*
 * Every variant of one family, open at once; each repeat times every
 * variant at both k, the variants and the k in an order that turns round
 * from one repeat to the next, so a change of machine load hits all alike.
 */
static int run_family(const char *family, const setup *setups, int count, const char *device,
                      const float *rows, size_t n, size_t dim, const float *queries, size_t nq,
                      size_t repeats) {
    variant v[8];
    memset(v, 0, sizeof(v));
    float *scores = malloc(nq * ks[KS - 1] * sizeof(float));
    int64_t *ids = malloc(nq * ks[KS - 1] * sizeof(int64_t));
    int failed = scores == NULL || ids == NULL;
    for (int i = 0; i < count && !failed; i++) {
        v[i].su = &setups[i];
        failed = open_variant(&v[i], family, device, rows, n, dim, repeats);
    }
    double warm = 0, warm_cpu = 0;
    for (int i = 0; i < count && !failed; i++) /* first calls: program and buffers */
        for (int j = 0; j < KS && !failed; j++)
            failed = timed_call(v[i].ctx, v[i].corpus, queries, nq, ks[j], scores, ids, &warm,
                                &warm_cpu);
    for (size_t r = 0; r < repeats && !failed; r++)
        for (int i = 0; i < count && !failed; i++) {
            variant *at = &v[r % 2 ? count - 1 - i : i];
            for (int j = 0; j < KS && !failed; j++) {
                const int kj = (r / 2) % 2 ? KS - 1 - j : j;
                failed = timed_call(at->ctx, at->corpus, queries, nq, ks[kj], scores, ids,
                                    &at->times[kj][r], &at->cpu[kj][r]);
            }
        }
    for (int i = 0; i < count && !failed; i++)
        print_variant(family, &v[i], repeats);
    for (int i = 0; i < count; i++) {
        for (int j = 0; j < KS; j++) {
            free(v[i].times[j]);
            free(v[i].cpu[j]);
        }
        vs_corpus_free(v[i].corpus);
        vs_context_free(v[i].ctx);
    }
    free(scores);
    free(ids);
    return failed;
}

int main(int argc, char **argv) {
    const char *prog = argv[0], *device = "opencl";
    const char *only_family = NULL;
    size_t nq = 1, n = 100000, dim = 768, repeats = 5, divide = 1;
    int segments = 0, figures = 0, clblast_platform = 0, clblast_device = 0;
    for (int i = 1; i < argc; i++) {
        size_t *value = NULL;
        if (strcmp(argv[i], "--q") == 0) value = &nq;
        if (strcmp(argv[i], "--n") == 0) value = &n;
        if (strcmp(argv[i], "--dim") == 0) value = &dim;
        if (strcmp(argv[i], "--repeats") == 0) value = &repeats;
        if (strcmp(argv[i], "--divide") == 0) value = &divide;
        if (strcmp(argv[i], "--segments") == 0 || strcmp(argv[i], "--figures") == 0) {
            *(argv[i][2] == 's' ? &segments : &figures) = 1;
            continue;
        }
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            device = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--family") == 0 && i + 1 < argc &&
            (strcmp(argv[i + 1], "cpu") == 0 || strcmp(argv[i + 1], "gpu") == 0)) {
            only_family = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--clblast") == 0 && i + 1 < argc) {
            char tail = 0;
            if (sscanf(argv[i + 1], "%d:%d%c", &clblast_platform, &clblast_device, &tail) != 2 ||
                clblast_platform < 0 || clblast_device < 0) {
                fprintf(stderr, "%s: --clblast: '%s' is not P:D (OpenCL platform and device)\n",
                        prog, argv[i + 1]);
                return 1;
            }
            i++;
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
    if (figures && repeats > FIG_MAX_REPEATS) {
        fprintf(stderr, "%s: --repeats: at most %d with --figures\n", prog, FIG_MAX_REPEATS);
        return 1;
    }
    if (figures) return bench_cl_figures(device, repeats, divide, clblast_platform, clblast_device);
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
    const setup setups[] = {{NULL, "1", "threshold test fused"},
                            {NULL, "0", "threshold test separate"},
                            {"0", NULL, "segments"}};
    const char *families[] = {"cpu", "gpu"};
    int failed = 0;
    for (int f = 0; f < 2 && !failed; f++)
        if (only_family == NULL || strcmp(only_family, families[f]) == 0)
            failed = run_family(families[f], setups, segments ? 3 : 2, device, rows, n, dim,
                                queries, nq, repeats);
    free(rows);
    free(queries);
    return failed;
}
