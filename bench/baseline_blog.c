/*
 * baseline_blog.c — the two baselines written after the original arena blog
 * post, compiled with -O2 (bench/CMakeLists.txt), single-threaded, scalar:
 *
 *   blog-malloc  per call: malloc a normalised copy of the query, then for
 *                every candidate a scalar loop computing dot(q', c) and
 *                |c|, cosine = dot / |c|; free the copy.
 *   blog-arena   the same, with the copy taken from an arena (bump + reset)
 *                instead of malloc/free.
 *
 * Cosine only (the post's metric). In top-k mode each score goes through an
 * insertion into a sorted k-list, as the post did; in score mode it is stored.
 * A batch of queries is a loop of single-query calls.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena/arena.h"
#include "bench.h"

typedef struct blog_state {
    int use_arena;
    vs_arena arena;
    int arena_ready;
} blog_state;

static float cosine_normalized(const float *query_normalized, const float *candidate, size_t dim) {
    float dot = 0, norm = 0;
    for (size_t i = 0; i < dim; i++) {
        dot += query_normalized[i] * candidate[i];
        norm += candidate[i] * candidate[i];
    }
    if (norm == 0) return 0;
    float s = dot / sqrtf(norm);
    return s > 1 ? 1 : (s < -1 ? -1 : s);
}

static int blog_query(blog_state *s, const float *query, const float *base, size_t n, size_t dim,
                      size_t k, int topk, float *scores, int64_t *ids) {
    float *normalized =
        s->use_arena ? vs_arena_alloc(&s->arena, dim * sizeof(float)) : malloc(dim * sizeof(float));
    if (normalized == NULL) return -1;
    float norm = 0;
    for (size_t i = 0; i < dim; i++)
        norm += query[i] * query[i];
    float scale = norm > 0 ? 1.0f / sqrtf(norm) : 0.0f;
    for (size_t i = 0; i < dim; i++)
        normalized[i] = query[i] * scale;
    if (topk) {
        for (size_t r = 0; r < k; r++) {
            scores[r] = -INFINITY;
            ids[r] = -1;
        }
    }
    for (size_t j = 0; j < n; j++) {
        float score = cosine_normalized(normalized, base + j * dim, dim);
        if (!topk) {
            scores[j] = score;
            continue;
        }
        if (ids[k - 1] >= 0 && !(score > scores[k - 1])) continue;
        size_t r = k - 1;
        while (r > 0 && (ids[r - 1] < 0 || score > scores[r - 1])) {
            scores[r] = scores[r - 1];
            ids[r] = ids[r - 1];
            r--;
        }
        scores[r] = score;
        ids[r] = (int64_t)j;
    }
    if (s->use_arena)
        vs_arena_reset(&s->arena);
    else
        free(normalized);
    return 0;
}

static int blog_supports(const bench_path *path, vs_metric metric, int topk, size_t q) {
    (void)path, (void)topk, (void)q;
    return metric == VS_METRIC_COSINE;
}

static int blog_prepare(bench_path *path, const bench_problem *p) {
    blog_state *s = path->state;
    if (s->use_arena && !s->arena_ready) {
        if (vs_arena_init(&s->arena, 1 << 20, 64) != 0) return -1;
        s->arena_ready = 1;
    }
    (void)p;
    return 0;
}

static int blog_run(bench_path *path, const bench_problem *p) {
    blog_state *s = path->state;
    for (size_t i = 0; i < p->queries_count; i++) {
        float *scores = p->scores + i * (p->topk ? p->k : p->base_count);
        int64_t *ids = p->topk ? p->ids + i * p->k : NULL;
        if (blog_query(s, p->queries + i * p->dim, p->base, p->base_count, p->dim, p->k, p->topk,
                       scores, ids) != 0)
            return -1;
    }
    return 0;
}

static void blog_info(bench_path *path, bench_path_info *out) {
    blog_state *s = path->state;
    snprintf(out->backend, sizeof(out->backend), "baseline");
    snprintf(out->isa, sizeof(out->isa), "scalar -O2");
    snprintf(out->device, sizeof(out->device), "CPU");
    snprintf(out->settings, sizeof(out->settings),
             "1 thread; normalised query copy from %s each call; gcc -O2",
             s->use_arena ? "an arena (vs_arena_alloc + vs_arena_reset)" : "malloc/free");
    out->threads = 1;
}

static void blog_finish(bench_path *path) {
    (void)path;
}

static void blog_destroy(bench_path *path) {
    blog_state *s = path->state;
    if (s && s->arena_ready) vs_arena_destroy(&s->arena);
    free(s);
    path->state = NULL;
}

int bench_blog_paths(bench_path *paths, int max) {
    int count = 0;
    for (int use_arena = 0; use_arena < 2 && count < max; use_arena++) {
        blog_state *s = calloc(1, sizeof(*s));
        if (s == NULL) break;
        s->use_arena = use_arena;
        bench_path *path = &paths[count++];
        memset(path, 0, sizeof(*path));
        snprintf(path->name, sizeof(path->name), "%s", use_arena ? "blog-arena" : "blog-malloc");
        path->kind = "baseline";
        path->state = s;
        path->supports = blog_supports;
        path->prepare = blog_prepare;
        path->run = blog_run;
        path->info = blog_info;
        path->finish = blog_finish;
        path->destroy = blog_destroy;
        path->opencl_device = -1;
        path->auxiliary = 1;
    }
    return count;
}
