/*
 * compact.c — vecscore-bench-compact: the compact-storage targets of issue 11
 * (docs/benchmarks.md, "Compact storage"), measured in one run.
 *
 *   vecscore-bench-compact [--repeats R] [--threads T] [--device SEL] Q N D ...
 *
 * For each shape Q x N x D (Gaussian data, dot, k = 10): the float32 corpus
 * and the f16, bf16 and i8 corpora in exact mode, each timed R times
 * (vs_corpus_topk, wall clock); prints per storage the median, the spread
 * (min .. max), the ratio of medians to float32, the median CPU time of the
 * process per call (every thread: the pool's, an OpenCL CPU device's; the
 * load of other processes disturbs it far less than the wall time) and its
 * ratio to float32, the fraction of candidates
 * rescored, whether exact mode equals float32 bit for bit, and, for
 * approximate mode, recall@10 against float32. Not part of vecscore-bench
 * yet: it does not use the harness's paths, peers or plots. --device runs
 * every corpus on that device (default cpu; e.g. opencl for the OpenCL
 * compact kernels, docs/opencl.md "Compact corpora").
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "vecscore.h"

#define K 10

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float gaussian(uint64_t *state) {
    double u[2];
    for (int i = 0; i < 2; i++) {
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        u[i] = ((double)(*state >> 11) + 0.5) / 9007199254740992.0;
    }
    return (float)(sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

static int compare_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* CPU time of the whole process (every thread: the pool's and an OpenCL CPU device's). */
static double cpu_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

/* Times R runs; returns the median wall time, sets min and max and the median CPU time. */
static double time_topk(vs_corpus *c, const float *q, size_t nq, float *s, int64_t *ids,
                        int repeats, double *min, double *max, double *cpu) {
    double t[64], u[64];
    for (int r = 0; r < repeats; r++) {
        const double start = now(), cpu_start = cpu_now();
        if (vs_corpus_topk(c, VS_METRIC_DOT, q, nq, K, s, ids) != 0) {
            fprintf(stderr, "vs_corpus_topk: %s\n", vs_last_error_message());
            exit(1);
        }
        t[r] = now() - start;
        u[r] = cpu_now() - cpu_start;
    }
    qsort(t, (size_t)repeats, sizeof(double), compare_double);
    qsort(u, (size_t)repeats, sizeof(double), compare_double);
    *min = t[0];
    *max = t[repeats - 1];
    *cpu = u[repeats / 2];
    return t[repeats / 2];
}

int main(int argc, char **argv) {
    int repeats = 3, threads = 0, a = 1;
    const char *device = "cpu";
    for (; a + 1 < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
        if (strcmp(argv[a], "--repeats") == 0)
            repeats = atoi(argv[a + 1]);
        else if (strcmp(argv[a], "--threads") == 0)
            threads = atoi(argv[a + 1]);
        else if (strcmp(argv[a], "--device") == 0)
            device = argv[a + 1];
    }
    if (repeats < 1 || repeats > 64 || (argc - a) % 3 != 0 || argc == a) {
        fprintf(stderr, "usage: vecscore-bench-compact [--repeats R] [--threads T] [--device SEL] "
                        "Q N D ...\n");
        return 1;
    }
    vs_options opts;
    vs_options_init(&opts);
    opts.device = device;
    opts.threads = threads;
    vs_context *ctx = NULL;
    if (vs_context_create(&opts, &ctx) != 0) return 1;
    printf("device %s, isa %s, repeats %d, dot, k = %d, exact mode unless noted\n", device,
           vs_context_isa(ctx), repeats, K);
    printf("%-22s %-6s %10s %22s %7s %10s %7s %10s %6s %9s\n", "shape", "store", "median_ms",
           "spread_ms", "ratio", "cpu_ms", "ratio", "rescored", "equal", "recall@10");
    for (; a < argc; a += 3) {
        const size_t nq = strtoull(argv[a], NULL, 10), n = strtoull(argv[a + 1], NULL, 10),
                     dim = strtoull(argv[a + 2], NULL, 10);
        float *base = malloc(n * dim * sizeof(float)), *q = malloc(nq * dim * sizeof(float));
        float *s0 = malloc(nq * K * sizeof(float)), *s1 = malloc(nq * K * sizeof(float));
        int64_t *i0 = malloc(nq * K * sizeof(int64_t)), *i1 = malloc(nq * K * sizeof(int64_t));
        if (!base || !q || !s0 || !s1 || !i0 || !i1) return 1;
        uint64_t state = 42;
        for (size_t e = 0; e < n * dim; e++)
            base[e] = gaussian(&state);
        for (size_t e = 0; e < nq * dim; e++)
            q[e] = gaussian(&state);
        char shape[64];
        snprintf(shape, sizeof(shape), "Q=%zu N=%zu D=%zu", nq, n, dim);
        double f32_median = 0, f32_cpu = 0;
        for (int st = 0; st < 4; st++) {
            for (int exact = 1; exact >= (st == 0 ? 1 : 0); exact--) {
                vs_corpus_options co;
                vs_corpus_options_init(&co);
                co.storage = (vs_storage)st;
                co.exact = exact;
                vs_corpus *c = NULL;
                if (vs_corpus_create_with(ctx, base, n, dim, &co, &c) != 0) return 1;
                double lo, hi, cpu;
                const double median = time_topk(c, q, nq, st == 0 ? s0 : s1, st == 0 ? i0 : i1,
                                                repeats, &lo, &hi, &cpu);
                vs_batch_report r;
                vs_context_last_report(ctx, &r);
                if (st == 0) {
                    f32_median = median;
                    f32_cpu = cpu;
                }
                char rescored[16] = "-", equal[8] = "-", recall[16] = "-";
                if (st > 0 && exact) {
                    snprintf(rescored, sizeof(rescored), "%.5f",
                             (double)r.rescored / ((double)nq * (double)n));
                    snprintf(equal, sizeof(equal), "%s",
                             memcmp(s0, s1, nq * K * sizeof(float)) == 0 &&
                                     memcmp(i0, i1, nq * K * sizeof(int64_t)) == 0
                                 ? "yes"
                                 : "NO");
                }
                if (st > 0 && !exact) {
                    size_t hits = 0;
                    for (size_t i = 0; i < nq; i++)
                        for (size_t x = 0; x < K; x++)
                            for (size_t y = 0; y < K; y++)
                                hits += i1[i * K + x] == i0[i * K + y];
                    snprintf(recall, sizeof(recall), "%.4f", (double)hits / (double)(nq * K));
                }
                char name[16], spread[48];
                snprintf(name, sizeof(name), "%s%s", vs_storage_name((vs_storage)st),
                         exact ? "" : "~");
                snprintf(spread, sizeof(spread), "%.3f .. %.3f", lo * 1e3, hi * 1e3);
                printf("%-22s %-6s %10.3f %22s %7.3f %10.3f %7.3f %10s %6s %9s\n", shape, name,
                       median * 1e3, spread, median / f32_median, cpu * 1e3, cpu / f32_cpu,
                       rescored, equal, recall);
                fflush(stdout);
                vs_corpus_free(c);
            }
        }
        free(base);
        free(q);
        free(s0);
        free(s1);
        free(i0);
        free(i1);
    }
    vs_context_free(ctx);
    return 0;
}
