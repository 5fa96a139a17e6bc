/*
 * peers_faiss.c — FAISS as a peer: IndexFlatIP for DOT, IndexFlatIP over
 * normalised base vectors for COSINE (queries normalised inside the timed
 * call, as an application must), IndexFlatL2 for L2SQ. Top-k only: a flat
 * index has no "all scores" call. The index is built once per shape and
 * metric (untimed). FAISS uses BLAS (sgemm + heap) for batches of at least
 * distance_compute_blas_threshold queries and its own SIMD scan below that.
 *
 * Threads: one call with 1 OpenMP thread and one with all are timed before
 * each shape; the faster is kept and recorded, and restored afterwards.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#ifdef VECSCORE_BENCH_FAISS

typedef struct faiss_state {
    bench_faiss_index *index;
    float *normalized; /* base copy (cosine) or query scratch */
    float *query_scratch;
    size_t query_scratch_floats;
    int threads_best, threads_max;
    double probe_seconds[2];
    int sq; /* 0 IndexFlat; 1 IndexScalarQuantizer fp16, 2 8-bit (approximate) */
} faiss_state;

static int faiss_supports(const bench_path *path, vs_metric metric, int topk, size_t q) {
    (void)path, (void)metric, (void)q;
    return topk;
}

static void normalize_rows(const float *in, float *out, size_t rows, size_t dim) {
    for (size_t i = 0; i < rows; i++) {
        const float *x = in + i * dim;
        float *y = out + i * dim;
        float norm = 0;
        for (size_t j = 0; j < dim; j++)
            norm += x[j] * x[j];
        float scale = norm > 0 ? 1.0f / sqrtf(norm) : 0.0f;
        for (size_t j = 0; j < dim; j++)
            y[j] = x[j] * scale;
    }
}

static int faiss_run(bench_path *path, const bench_problem *p) {
    faiss_state *s = path->state;
    const float *queries = p->queries;
    if (p->metric == VS_METRIC_COSINE) {
        normalize_rows(p->queries, s->query_scratch, p->queries_count, p->dim);
        queries = s->query_scratch;
    }
    return bench_faiss_search(s->index, queries, p->queries_count, p->k, p->scores, p->ids);
}

static int faiss_prepare(bench_path *path, const bench_problem *p) {
    faiss_state *s = path->state;
    const float *base = p->base;
    if (p->metric == VS_METRIC_COSINE) {
        s->normalized = malloc(p->base_count * p->dim * sizeof(float));
        if (s->normalized == NULL) return -1;
        normalize_rows(p->base, s->normalized, p->base_count, p->dim);
        base = s->normalized;
    }
    size_t need = p->queries_count * p->dim;
    if (need > s->query_scratch_floats) {
        free(s->query_scratch);
        s->query_scratch = malloc(need * sizeof(float));
        s->query_scratch_floats = s->query_scratch ? need : 0;
        if (s->query_scratch == NULL) return -1;
    }
    s->index = s->sq ? bench_faiss_create_sq(p->metric != VS_METRIC_L2SQ, s->sq, p->dim, base,
                                             p->base_count)
                     : bench_faiss_create(p->metric != VS_METRIC_L2SQ, p->dim, base, p->base_count);
    free(s->normalized);
    s->normalized = NULL;
    if (s->index == NULL) return -1;
    /* Probe 1 thread against all (top-k call of this problem). */
    bench_problem probe = *p;
    probe.topk = 1;
    int settings[2] = {1, s->threads_max};
    for (int i = 0; i < 2; i++) {
        omp_set_num_threads(settings[i]);
        faiss_run(path, &probe);
        double start = bench_now();
        faiss_run(path, &probe);
        s->probe_seconds[i] = bench_now() - start;
    }
    s->threads_best = s->probe_seconds[0] < s->probe_seconds[1] ? 1 : s->threads_max;
    omp_set_num_threads(s->threads_best);
    return 0;
}

static void faiss_info(bench_path *path, bench_path_info *out) {
    faiss_state *s = path->state;
    snprintf(out->backend, sizeof(out->backend), "faiss");
    snprintf(out->isa, sizeof(out->isa), "generic");
    snprintf(out->device, sizeof(out->device), "CPU");
    snprintf(out->settings, sizeof(out->settings),
             "libfaiss-dev 1.7.3 (Debian build, no AVX2 variant); %s; "
             "OpenMP threads %d (probe 1: %.2f ms, %d: %.2f ms); "
             "distance_compute_blas_threshold %d (BLAS sgemm path at >= that many queries)",
             s->sq == 0   ? "IndexFlatIP/IndexFlatL2"
             : s->sq == 1 ? "IndexScalarQuantizer QT_fp16 (approximate)"
                          : "IndexScalarQuantizer QT_8bit (approximate)",
             s->threads_best, s->probe_seconds[0] * 1e3, s->threads_max, s->probe_seconds[1] * 1e3,
             bench_faiss_blas_threshold());
    out->threads = s->threads_best;
}

static void faiss_finish(bench_path *path) {
    faiss_state *s = path->state;
    bench_faiss_free(s->index);
    s->index = NULL;
    omp_set_num_threads(s->threads_max);
}

static void faiss_destroy(bench_path *path) {
    faiss_state *s = path->state;
    if (s) {
        bench_faiss_free(s->index);
        free(s->query_scratch);
        free(s->normalized);
    }
    free(s);
    path->state = NULL;
}

/* faiss-flat, then faiss-sq-fp16 and faiss-sq8 (IndexScalarQuantizer, approximate). */
int bench_faiss_paths(bench_path *paths, int max) {
    static const char *const names[] = {"faiss-flat", "faiss-sq-fp16", "faiss-sq8"};
    int count = 0;
    for (int sq = 0; sq < 3 && count < max; sq++) {
        faiss_state *s = calloc(1, sizeof(*s));
        if (s == NULL) break;
        s->threads_max = omp_get_max_threads();
        s->sq = sq;
        bench_path *path = &paths[count++];
        memset(path, 0, sizeof(*path));
        snprintf(path->name, sizeof(path->name), "%s", names[sq]);
        path->kind = "peer";
        path->state = s;
        path->approximate = sq != 0;
        path->supports = faiss_supports;
        path->prepare = faiss_prepare;
        path->run = faiss_run;
        path->info = faiss_info;
        path->finish = faiss_finish;
        path->destroy = faiss_destroy;
        path->opencl_device = -1;
    }
    return count;
}

#else

int bench_faiss_paths(bench_path *paths, int max) {
    (void)paths, (void)max;
    return 0;
}

#endif
