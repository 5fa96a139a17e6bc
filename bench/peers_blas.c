/*
 * peers_blas.c — OpenBLAS as a peer: cblas_sgemv for one query, cblas_sgemm
 * for a batch (queries x base^T), then the metric epilogue (cosine: divide by
 * the norms; L2SQ: |q|^2 + |c|^2 - 2 dot, the way BLAS-based search does it)
 * and, in top-k mode, a top-k pass over every score row. Base norms are
 * precomputed once per shape (untimed), as an index would keep them.
 *
 * Threads: before timing a shape, one call with 1 thread and one with all of
 * OpenBLAS's threads are timed; the faster setting is kept and recorded.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#ifdef VECSCORE_BENCH_OPENBLAS
#include <cblas.h>

typedef struct blas_state {
    float *matrix; /* queries x base scores (top-k mode's scratch) */
    size_t matrix_floats;
    int threads_best, threads_max;
    double probe_seconds[2];
} blas_state;

static void blas_product(const bench_problem *p, float *out) {
    if (p->queries_count == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)p->base_count, (int)p->dim, 1.0f, p->base,
                    (int)p->dim, p->queries, 1, 0.0f, out, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p->queries_count,
                    (int)p->base_count, (int)p->dim, 1.0f, p->queries, (int)p->dim, p->base,
                    (int)p->dim, 0.0f, out, (int)p->base_count);
}

/* Turns one row of dot products into the metric's scores. */
static void epilogue_row(const bench_problem *p, const float *query, float *row) {
    if (p->metric == VS_METRIC_DOT) return;
    float qq = 0;
    for (size_t i = 0; i < p->dim; i++)
        qq += query[i] * query[i];
    if (p->metric == VS_METRIC_COSINE) {
        float qn = sqrtf(qq);
        for (size_t j = 0; j < p->base_count; j++) {
            float denominator = qn * p->base_norms[j];
            float s = denominator > 0 ? row[j] / denominator : 0.0f;
            row[j] = s > 1 ? 1 : (s < -1 ? -1 : s);
        }
    } else {
        for (size_t j = 0; j < p->base_count; j++) {
            float s = qq + p->base_norms[j] * p->base_norms[j] - 2 * row[j];
            row[j] = s < 0 ? 0 : s;
        }
    }
}

static int blas_supports(const bench_path *path, vs_metric metric, int topk, size_t q) {
    (void)path, (void)metric, (void)topk, (void)q;
    return 1;
}

static int blas_run(bench_path *path, const bench_problem *p) {
    blas_state *s = path->state;
    float *out = p->topk ? s->matrix : p->scores;
    blas_product(p, out);
    long rows = (long)p->queries_count;
#pragma omp parallel for schedule(static) if (rows > 1)
    for (long i = 0; i < rows; i++) {
        float *row = out + (size_t)i * p->base_count;
        epilogue_row(p, p->queries + (size_t)i * p->dim, row);
        if (p->topk)
            bench_select_topk(row, p->base_count, p->k, p->metric != VS_METRIC_L2SQ,
                              p->scores + (size_t)i * p->k, p->ids + (size_t)i * p->k);
    }
    return 0;
}

static int blas_prepare(bench_path *path, const bench_problem *p) {
    blas_state *s = path->state;
    size_t need = p->queries_count * p->base_count;
    if (need > s->matrix_floats) {
        free(s->matrix);
        s->matrix = malloc(need * sizeof(float));
        s->matrix_floats = s->matrix ? need : 0;
        if (s->matrix == NULL) return -1;
    }
    /* Probe: 1 thread versus all threads, on the bare product. */
    int settings[2] = {1, s->threads_max};
    for (int i = 0; i < 2; i++) {
        openblas_set_num_threads(settings[i]);
        blas_product(p, s->matrix); /* warm */
        double start = bench_now();
        blas_product(p, s->matrix);
        s->probe_seconds[i] = bench_now() - start;
    }
    s->threads_best = s->probe_seconds[0] < s->probe_seconds[1] ? 1 : s->threads_max;
    openblas_set_num_threads(s->threads_best);
    return 0;
}

static void blas_info(bench_path *path, bench_path_info *out) {
    blas_state *s = path->state;
    snprintf(out->backend, sizeof(out->backend), "openblas");
    snprintf(out->isa, sizeof(out->isa), "%s", openblas_get_corename());
    snprintf(out->device, sizeof(out->device), "CPU");
    snprintf(out->settings, sizeof(out->settings),
             "%s; core %s; threads %d (probe 1: %.2f ms, %d: %.2f ms); top-k pass: OpenMP "
             "over queries",
             openblas_get_config(), openblas_get_corename(), s->threads_best,
             s->probe_seconds[0] * 1e3, s->threads_max, s->probe_seconds[1] * 1e3);
    out->threads = s->threads_best;
}

static void blas_finish(bench_path *path) {
    blas_state *s = path->state;
    openblas_set_num_threads(s->threads_max);
}

static void blas_destroy(bench_path *path) {
    blas_state *s = path->state;
    if (s) free(s->matrix);
    free(s);
    path->state = NULL;
}

int bench_blas_paths(bench_path *paths, int max) {
    if (max < 1) return 0;
    blas_state *s = calloc(1, sizeof(*s));
    if (s == NULL) return 0;
    s->threads_max = openblas_get_num_threads();
    s->threads_best = s->threads_max;
    bench_path *path = &paths[0];
    memset(path, 0, sizeof(*path));
    snprintf(path->name, sizeof(path->name), "openblas");
    path->kind = "peer";
    path->state = s;
    path->supports = blas_supports;
    path->prepare = blas_prepare;
    path->run = blas_run;
    path->info = blas_info;
    path->finish = blas_finish;
    path->destroy = blas_destroy;
    path->opencl_device = -1;
    return 1;
}

int bench_blas_interfere(const bench_problem *problem, float *scratch) {
    blas_product(problem, scratch);
    return 1;
}

const char *bench_blas_config(void) {
    static char text[256];
    snprintf(text, sizeof(text), "%s; core %s; %d threads", openblas_get_config(),
             openblas_get_corename(), openblas_get_num_threads());
    return text;
}

#else /* no OpenBLAS */

int bench_blas_paths(bench_path *paths, int max) {
    (void)paths, (void)max;
    return 0;
}
int bench_blas_interfere(const bench_problem *problem, float *scratch) {
    (void)problem, (void)scratch;
    return 0;
}
const char *bench_blas_config(void) {
    return "";
}
#endif
