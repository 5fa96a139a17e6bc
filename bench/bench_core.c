/*
 * bench_core.c — the core library's speed targets, measured side by side in
 * one run (the full device/peer harness grows from here):
 *
 *   - memory read bandwidth of this machine, measured here at start;
 *   - vs_corpus_topk (k = 10) for Q=1 N=100000 d=768: GB/s and % of that
 *     bandwidth; OpenBLAS cblas_sgemv on the same product for comparison;
 *   - vs_corpus_topk for Q=1024 N=100000 d=768 (and Q=16, Q=256 d=128):
 *     GFLOP/s next to OpenBLAS cblas_sgemm score-only on the same product.
 *
 * Each figure is the median and minimum of REPS runs after one warm-up. Before
 * a time is recorded, the result is checked: vecscore's top-10 against the
 * top-10 selected from sgemm's scores (ids must agree up to ties within the
 * documented bound), so a fast wrong answer is reported as FAIL, not timed.
 *
 * Usage: bench_core [--quick] [--reps N]
 *   --quick  smaller shapes (N=20000), for a smoke test; asserts no speed.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vecscore.h>
#ifdef VECSCORE_BENCH_OPENBLAS
#include <cblas.h>
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct timing {
    double median, min;
} timing;

static timing summarize(double *t, int n) {
    qsort(t, (size_t)n, sizeof(double), compare_double);
    timing r = {n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]), t[0]};
    return r;
}

static void fill(float *x, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(seed >> 40) / (double)(1u << 24) - 0.5);
    }
}

/* Read bandwidth: every thread sums its share of a buffer much larger than the
 * caches. The per-thread sum is a plain function (compiled for AVX2 where the
 * CPU has it, with eight independent accumulators) so that the adds are never
 * the bottleneck; OpenMP only splits the range. */
static float sum_range_baseline(const float *p, size_t n) {
    float lanes[32] = {0};
    for (size_t i = 0; i + 32 <= n; i += 32)
        for (int l = 0; l < 32; l++)
            lanes[l] += p[i + l];
    float total = 0;
    for (int l = 0; l < 32; l++)
        total += lanes[l];
    return total;
}
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx2"))) static float sum_range_avx2(const float *p, size_t n) {
    __m256 acc[8];
    for (int l = 0; l < 8; l++)
        acc[l] = _mm256_setzero_ps();
    for (size_t i = 0; i + 64 <= n; i += 64)
        for (int l = 0; l < 8; l++)
            acc[l] = _mm256_add_ps(acc[l], _mm256_loadu_ps(p + i + 8 * l));
    float lanes[8], total = 0;
    for (int l = 1; l < 8; l++)
        acc[0] = _mm256_add_ps(acc[0], acc[l]);
    _mm256_storeu_ps(lanes, acc[0]);
    for (int l = 0; l < 8; l++)
        total += lanes[l];
    return total;
}
#endif

static float sum_parallel(const float *buffer, size_t n) {
    float (*sum)(const float *, size_t) = sum_range_baseline;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2")) sum = sum_range_avx2;
#endif
    float total = 0;
#pragma omp parallel reduction(+ : total)
    {
        size_t threads = (size_t)omp_get_num_threads(), me = (size_t)omp_get_thread_num();
        size_t share = (n / threads) & ~(size_t)63;
        total += sum(buffer + me * share, share);
    }
    return total;
}

static double measure_bandwidth(const float *buffer, size_t n, int reps) {
    double best = 1e30;
    volatile float sink = 0;
    for (int r = 0; r < reps + 1; r++) {
        double start = now();
        sink = sum_parallel(buffer, n);
        double elapsed = now() - start;
        if (r > 0 && elapsed < best) best = elapsed;
    }
    (void)sink;
    return (double)n * sizeof(float) / best / 1e9;
}

#ifdef VECSCORE_BENCH_OPENBLAS
/* Top-k ids from a score row, best first (DOT: higher first), for checking. */
static void select_topk(const float *row, size_t n, size_t k, int64_t *ids) {
    for (size_t r = 0; r < k; r++)
        ids[r] = -1;
    for (size_t j = 0; j < n; j++) {
        size_t r = k;
        while (r > 0 && (ids[r - 1] < 0 || row[j] > row[ids[r - 1]]))
            r--;
        if (r >= k) continue;
        memmove(ids + r + 1, ids + r, (k - r - 1) * sizeof(int64_t));
        ids[r] = (int64_t)j;
    }
}
#endif

typedef struct shape {
    size_t q, n, dim;
} shape;

int main(int argc, char **argv) {
    int quick = 0, reps = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_core [--quick] [--reps N]\n");
            return 1;
        }
    }
    if (reps < 1) reps = 1;
    const size_t n = quick ? 20000 : 100000, k = 10;
    const shape shapes[] = {{1, n, 768}, {16, n, 768}, {256, n, 128}, {1024, n, 768}};
    const size_t nshapes = quick ? 3 : 4;

    vs_context *ctx = NULL;
    int status = vs_context_create(NULL, &ctx);
    if (status != VS_OK) {
        fprintf(stderr, "bench_core: %s\n", vs_strerror(status));
        return 3;
    }
    size_t bw_floats = (size_t)1 << (quick ? 26 : 28); /* 256 MiB or 1 GiB */
    float *bw_buffer = malloc(bw_floats * sizeof(float));
    if (bw_buffer == NULL) return 3;
    fill(bw_buffer, bw_floats, 1);
    double bandwidth = measure_bandwidth(bw_buffer, bw_floats, reps);
    free(bw_buffer);

    printf("vecscore %s bench_core: ISA %s, %d threads, OMP_WAIT_POLICY=%s\n", vs_version(),
           vs_context_isa(ctx), vs_context_threads(ctx),
           getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "(default)");
    printf("memory read bandwidth (measured): %.1f GB/s\n\n", bandwidth);
    printf("%-22s %-22s %10s %10s %9s %8s %s\n", "shape", "path", "median_ms", "min_ms", "GFLOP/s",
           "GB/s", "note");

    int failures = 0;
    for (size_t si = 0; si < nshapes; si++) {
        const shape sh = shapes[si];
        float *base = malloc(sh.n * sh.dim * sizeof(float));
        float *queries = malloc(sh.q * sh.dim * sizeof(float));
        float *scores = malloc(sh.q * k * sizeof(float));
        int64_t *ids = malloc(sh.q * k * sizeof(int64_t));
        if (!base || !queries || !scores || !ids) return 3;
        fill(base, sh.n * sh.dim, 2 + si);
        fill(queries, sh.q * sh.dim, 100 + si);
        vs_corpus *corpus = NULL;
        if (vs_corpus_create(ctx, base, sh.n, sh.dim, &corpus) != VS_OK) return 3;
        char label[64];
        snprintf(label, sizeof(label), "Q=%zu N=%zu d=%zu", sh.q, sh.n, sh.dim);
        const double flops = 2.0 * (double)sh.q * (double)sh.n * (double)sh.dim;
        const double bytes = (double)sh.n * (double)sh.dim * sizeof(float);

        double times[64];
        int runs = reps < 64 ? reps : 64;
        vs_corpus_topk(corpus, VS_METRIC_DOT, queries, sh.q, k, scores, ids); /* warm-up */
        for (int r = 0; r < runs; r++) {
            double start = now();
            vs_corpus_topk(corpus, VS_METRIC_DOT, queries, sh.q, k, scores, ids);
            times[r] = now() - start;
        }
        timing ours = summarize(times, runs);
        char note[96] = "";
        if (sh.q == 1)
            snprintf(note, sizeof(note), "%.0f%% of read bandwidth",
                     100.0 * bytes / ours.min / 1e9 / bandwidth);

#ifdef VECSCORE_BENCH_OPENBLAS
        float *full = malloc(sh.q * sh.n * sizeof(float));
        if (full == NULL) return 3;
        const char *peer = sh.q == 1 ? "openblas sgemv" : "openblas sgemm";
        for (int r = -1; r < runs; r++) {
            double start = now();
            if (sh.q == 1)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)sh.n, (int)sh.dim, 1.0f, base,
                            (int)sh.dim, queries, 1, 0.0f, full, 1);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)sh.q, (int)sh.n,
                            (int)sh.dim, 1.0f, queries, (int)sh.dim, base, (int)sh.dim, 0.0f, full,
                            (int)sh.n);
            if (r >= 0) times[r] = now() - start;
        }
        timing blas = summarize(times, runs);
        /* Check: our top-10 ids equal sgemm's, up to ties within the bound. */
        int64_t expect[10];
        size_t wrong = 0;
        const double bound = (double)(sh.dim + 2) * ldexp(1.0, -24) * (double)sh.dim * 0.25;
        for (size_t i = 0; i < sh.q; i++) {
            select_topk(full + i * sh.n, sh.n, k, expect);
            for (size_t r = 0; r < k; r++)
                if (ids[i * k + r] != expect[r] &&
                    fabs((double)full[i * sh.n + (size_t)ids[i * k + r]] -
                         (double)full[i * sh.n + (size_t)expect[r]]) > 2 * bound)
                    wrong++;
        }
        if (wrong) {
            failures++;
            snprintf(note, sizeof(note), "FAIL: %zu top-10 entries disagree with sgemm", wrong);
        }
        char ratio[64];
        snprintf(ratio, sizeof(ratio), "ours/%s = %.2fx", sh.q == 1 ? "sgemv" : "sgemm",
                 blas.min / ours.min);
        printf("%-22s %-22s %10.3f %10.3f %9.1f %8.1f %s\n", label, peer, blas.median * 1e3,
               blas.min * 1e3, flops / blas.min / 1e9, bytes / blas.min / 1e9, "score only");
        printf("%-22s %-22s %10.3f %10.3f %9.1f %8.1f %s%s%s\n", label, "vecscore corpus_topk",
               ours.median * 1e3, ours.min * 1e3, flops / ours.min / 1e9, bytes / ours.min / 1e9,
               ratio, note[0] ? "; " : "", note);
        free(full);
#else
        printf("%-22s %-22s %10.3f %10.3f %9.1f %8.1f %s\n", label, "vecscore corpus_topk",
               ours.median * 1e3, ours.min * 1e3, flops / ours.min / 1e9, bytes / ours.min / 1e9,
               note);
#endif
        vs_corpus_free(corpus);
        free(base);
        free(queries);
        free(scores);
        free(ids);
    }
#ifndef VECSCORE_BENCH_OPENBLAS
    printf("\n(OpenBLAS not found at build time: no peer rows)\n");
#endif
    vs_context_free(ctx);
    return failures ? 2 : 0;
}
