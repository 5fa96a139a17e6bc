/*
 * quickstart.c — vecscore from an application's point of view.
 *
 * Generates a base of 20,000 x 128 vectors and 100 queries, keeps the base
 * in a corpus, asks for the 10 nearest by cosine, and prints the first
 * results, the ISA and device that ran, and the time per batch. Then it
 * re-runs the same batch on the serial reference kernels and reports how many
 * of the top-10 ids agree (ties within rounding may legitimately swap).
 *
 * Usage: quickstart [base_count] [query_count] [dim]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vecscore.h>

#define K 10

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill_random(float *x, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        x[i] = (float)((double)(seed >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
    }
}

static void print_log(void *user, vs_log_level level, const char *message) {
    (void)user;
    fprintf(stderr, "vecscore[%d]: %s\n", (int)level, message);
}

/* Runs the batch on a context with the given ISA (NULL = best); returns seconds per batch. */
static int run(const char *isa, const float *base, size_t n, const float *queries, size_t nq,
               size_t dim, float *scores, int64_t *ids, double *per_batch,
               vs_batch_report *report) {
    vs_options opts;
    vs_options_init(&opts);
    opts.isa = isa;
    opts.log = print_log;
    vs_context *ctx = NULL;
    vs_corpus *corpus = NULL;
    int status = vs_context_create(&opts, &ctx);
    if (status == VS_OK) status = vs_corpus_create(ctx, base, n, dim, &corpus);
    double best = 1e30;
    for (int rep = 0; rep < 5 && status == VS_OK; rep++) {
        double start = seconds();
        status = vs_corpus_topk(corpus, VS_METRIC_COSINE, queries, nq, K, scores, ids);
        double elapsed = seconds() - start;
        if (elapsed < best) best = elapsed;
    }
    if (status == VS_OK) {
        vs_context_last_report(ctx, report);
        *per_batch = best;
    } else {
        fprintf(stderr, "vecscore: %s (%s)\n", vs_strerror(status), vs_status_name(status));
    }
    vs_corpus_free(corpus);
    vs_context_free(ctx);
    return status;
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    size_t nq = argc > 2 ? strtoull(argv[2], NULL, 10) : 100;
    size_t dim = argc > 3 ? strtoull(argv[3], NULL, 10) : 128;
    if (n == 0 || nq == 0 || dim == 0) {
        fprintf(stderr, "usage: quickstart [base_count] [query_count] [dim] (all >= 1)\n");
        return 1;
    }
    float *base = malloc(n * dim * sizeof(float));
    float *queries = malloc(nq * dim * sizeof(float));
    float *scores = vs_alloc_output(nq * K * sizeof(float));
    int64_t *ids = vs_alloc_output(nq * K * sizeof(int64_t));
    float *ref_scores = malloc(nq * K * sizeof(float));
    int64_t *ref_ids = malloc(nq * K * sizeof(int64_t));
    if (!base || !queries || !scores || !ids || !ref_scores || !ref_ids) {
        fprintf(stderr, "quickstart: out of memory\n");
        return 1;
    }
    fill_random(base, n * dim, 0x1234567);
    fill_random(queries, nq * dim, 0x7654321);

    printf("vecscore %s: top-%d cosine, %zu queries x %zu base vectors x %zu dims\n", vs_version(),
           K, nq, n, dim);
    vs_batch_report report;
    double best = 0, serial = 0;
    if (run(NULL, base, n, queries, nq, dim, scores, ids, &best, &report) != VS_OK) return 3;
    printf("ran on: %s (backend %s, ISA %s, %d threads)\n", report.device, report.backend,
           report.isa, report.threads);
    printf("time per batch: %.3f ms (%.2f GFLOP/s), arena high-water %llu bytes\n", best * 1e3,
           2.0 * (double)nq * (double)n * (double)dim / best / 1e9,
           (unsigned long long)report.arena_high_water_bytes);
    for (size_t q = 0; q < nq && q < 3; q++) {
        printf("query %zu:", q);
        for (int r = 0; r < 5; r++)
            printf("  %lld (%.4f)", (long long)ids[q * K + r], (double)scores[q * K + r]);
        printf("\n");
    }

    vs_batch_report serial_report;
    if (run("serial", base, n, queries, nq, dim, ref_scores, ref_ids, &serial, &serial_report) !=
        VS_OK)
        return 3;
    size_t agree = 0;
    for (size_t q = 0; q < nq; q++)
        for (int r = 0; r < K; r++)
            for (int s = 0; s < K; s++)
                if (ids[q * K + r] == ref_ids[q * K + s]) {
                    agree++;
                    break;
                }
    printf("serial reference kernels: %.3f ms per batch (%.1fx slower); top-%d agreement %.2f%%\n",
           serial * 1e3, serial / best, K, 100.0 * (double)agree / (double)(nq * K));

    free(base);
    free(queries);
    vs_free_output(scores);
    vs_free_output(ids);
    free(ref_scores);
    free(ref_ids);
    /* ties within rounding may swap ids at the k boundary; anything more is a fault */
    return (double)agree >= 0.99 * (double)(nq * K) ? 0 : 2;
}
