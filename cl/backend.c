/*
 * backend.c — the OpenCL backend: context and queue on one device, resident
 * corpora, the batch pipeline (stage queries through the pinned arena, score
 * tile by tile, select top-k on the device, write results into the caller's
 * memory without a copy when it is aligned).
 *
 * Plan of one batch (all sizes fixed before the first command is enqueued):
 *
 *   corpus     resident in parts of at most CL_DEVICE_MAX_MEM_ALLOC_SIZE bytes
 *              (a larger corpus is split, never refused), with |v|^2 and 1/|v|
 *              (float64, rounded once); a part holding a vector whose norm is
 *              outside the cosine safe range (cpu/kernels.h) also keeps a copy
 *              with such vectors scaled by a power of two, for COSINE batches
 *   queries    in chunks of `rows` that fit the staging arena and the
 *              device scratch limits; each chunk is copied into the pinned
 *              arena with its aux values (COSINE: scaled like the corpus copy)
 *              and written to the device
 *   candidates in tiles of `columns` within a part
 *   score      vs_score_tile writes straight into the output (zero-copy) or
 *              into a tile buffer read back with clEnqueueReadBufferRect
 *   top-k      vs_score_tile -> vs_select_segments -> vs_merge_segments per
 *              tile; the running best k stays on the device, only nq x k
 *              results come back
 *
 * Batches on one context are serialised (one in-order queue); the staging
 * arena is reset after every chunk once the device has finished with it.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../arena/pinned_cl.h"
#include "../cpu/kernels.h"
#include "cl_internal.h"

#define VS_CL_TILE 16
#define VS_CL_ROWS 8             /* queries per work-item in vs_score_rows; must match score.cl */
#define VS_CL_FUSED_K 32         /* largest k for vs_topk_rows; must match score.cl */
#define VS_CL_FUSED_MIN_DIM 256  /* shortest vectors for which vs_topk_rows is chosen */
#define VS_CL_MAX_SEGMENTS 64    /* must match score.cl */
#define VS_CL_TILE_COLUMNS 8192  /* candidates per scoring tile for top-k */
#define VS_CL_SEGMENT_TARGET 128 /* candidates per selection work-item */
#define VS_CL_MAX_ROWS 1024      /* queries per chunk */
#define VS_CL_SCRATCH_LIMIT ((size_t)256 << 20)
#define VS_CL_BUILD_OPTIONS "-cl-std=CL1.2"
#define VS_CL_WARM_DIM 24 /* dimension of the warm-up batch (warm_up) */

typedef struct cl_part {
    cl_mem vectors;
    cl_mem norm_sq;        /* |v|^2: L2 aux */
    cl_mem inv_norm;       /* 1/|v 2^shift| (0 for a zero vector): cosine aux */
    cl_mem cosine_vectors; /* the vectors scaled by 2^shift, when some shift != 0; else NULL */
    size_t first, count;
} cl_part;

typedef struct cl_corpus {
    size_t n, dim;
    size_t nparts;
    cl_part *parts;
} cl_corpus;

typedef struct cl_state {
    vs__cl_entry entry;
    cl_context context;
    cl_command_queue queue;
    cl_program program;
    cl_kernel score, select, merge;
    cl_kernel score_rows; /* used instead of score when rows_kernel is set */
    cl_kernel topk_rows;  /* fused scoring + selection for rows_kernel, k <= VS_CL_FUSED_K */
    int rows_kernel;      /* 1 on CPU-type devices (or VECSCORE_CL_KERNEL=rows) */
    int fused_policy;     /* -1 automatic, 0 never, 1 whenever possible (VECSCORE_CL_FUSED) */
    int built;
    double build_seconds; /* program build or load + first launch of every kernel */
    int build_cache;      /* 1 compiled, 2 loaded from the binary cache */
    int build_reported;   /* the first batch's report carried build_* */
    vs_arena staging;
    size_t align;     /* device base-address alignment, at least 64 */
    size_t max_alloc; /* CL_DEVICE_MAX_MEM_ALLOC_SIZE (or the test override) */
    pthread_mutex_t lock;
    char description[512];
} cl_state;

static size_t round_up(size_t value, size_t unit) {
    return (value + unit - 1) / unit * unit;
}

/* Staging arena bytes a chunk needs besides its rows: alignment of its two allocations. */
static size_t staging_reserve(size_t align) {
    return 2 * align + 128;
}

/* Staging bytes per query row: the vector and its aux value. */
static size_t staging_row_bytes(size_t dim) {
    return dim * sizeof(float) + sizeof(float);
}

static size_t device_align(const vs__cl_entry *entry) {
    return entry->info.base_align_bytes > 64 ? entry->info.base_align_bytes : 64;
}

size_t vs__cl_min_arena_bytes(const vs__cl_entry *entry, size_t *reserve) {
    *reserve = staging_reserve(device_align(entry));
    return *reserve + staging_row_bytes(VS_CL_WARM_DIM);
}

static cl_mem make_buffer(const vs__env *ctx, cl_state *s, cl_mem_flags flags, size_t bytes,
                          void *host, const char *what, int *status) {
    cl_int err = CL_SUCCESS;
    cl_mem mem = vs__cl.CreateBuffer(s->context, flags, bytes > 0 ? bytes : 16, host, &err);
    if (err != CL_SUCCESS) {
        char label[96];
        snprintf(label, sizeof(label), "clCreateBuffer(%s, %zu B)", what, bytes);
        *status = vs__cl_failed(ctx, label, err);
        return NULL;
    }
    return mem;
}

static void release_mem(cl_mem *mem) {
    if (*mem != NULL) vs__cl.ReleaseMemObject(*mem);
    *mem = NULL;
}

/* Sets kernel arguments from (size, pointer) pairs; 0 or the failing status. */
typedef struct arg {
    size_t size;
    const void *value;
} arg;
#define ARG(v) ((arg){sizeof(v), &(v)})

static int set_args(const vs__env *ctx, cl_kernel kernel, const char *name, const arg *args,
                    int count) {
    for (int i = 0; i < count; i++) {
        cl_int err = vs__cl.SetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS) {
            char label[96];
            snprintf(label, sizeof(label), "clSetKernelArg(%s, %d)", name, i);
            return vs__cl_failed(ctx, label, err);
        }
    }
    return VS_OK;
}

/* ---- program --------------------------------------------------------------------- */

static int ensure_built(cl_state *s, const vs__env *ctx, vs_batch_report *report) {
    if (s->built) return VS_OK;
    int status = VS_OK;
    cl_int err = CL_SUCCESS;
    vs__cl_program_result result;
    status = vs__cl_program_get(ctx, s->context, &s->entry, vs__cl_source_score,
                                vs__cl_source_score_length, VS_CL_BUILD_OPTIONS, &result);
    if (status != VS_OK) return status;
    s->program = result.program;
    s->score = vs__cl.CreateKernel(s->program, "vs_score_tile", &err);
    VS_CL_CHECK(ctx, err, "clCreateKernel(vs_score_tile)");
    s->select = vs__cl.CreateKernel(s->program, "vs_select_segments", &err);
    VS_CL_CHECK(ctx, err, "clCreateKernel(vs_select_segments)");
    s->merge = vs__cl.CreateKernel(s->program, "vs_merge_segments", &err);
    VS_CL_CHECK(ctx, err, "clCreateKernel(vs_merge_segments)");
    s->score_rows = vs__cl.CreateKernel(s->program, "vs_score_rows", &err);
    VS_CL_CHECK(ctx, err, "clCreateKernel(vs_score_rows)");
    s->topk_rows = vs__cl.CreateKernel(s->program, "vs_topk_rows", &err);
    VS_CL_CHECK(ctx, err, "clCreateKernel(vs_topk_rows)");
    s->built = 1;
    s->build_seconds = result.seconds;
    s->build_cache = result.from_cache ? 2 : 1;
    if (report != NULL) {
        report->compile_seconds = result.seconds;
        report->program_cache = s->build_cache;
        s->build_reported = 1;
    }
    vs__log(&ctx->log, VS_LOG_INFO, "opencl: program %s in %.3f s",
            result.from_cache ? "loaded from cache" : "compiled", result.seconds);
    return VS_OK;
cleanup:
    if (s->score != NULL) vs__cl.ReleaseKernel(s->score);
    if (s->select != NULL) vs__cl.ReleaseKernel(s->select);
    if (s->merge != NULL) vs__cl.ReleaseKernel(s->merge);
    if (s->score_rows != NULL) vs__cl.ReleaseKernel(s->score_rows);
    if (s->topk_rows != NULL) vs__cl.ReleaseKernel(s->topk_rows);
    s->score = s->select = s->merge = s->score_rows = s->topk_rows = NULL;
    vs__cl.ReleaseProgram(s->program);
    s->program = NULL;
    return status;
}

/* ---- corpus ---------------------------------------------------------------------- */

static void corpus_release(void *state, void *data) {
    (void)state;
    cl_corpus *corpus = data;
    if (corpus == NULL) return;
    for (size_t p = 0; p < corpus->nparts; p++) {
        release_mem(&corpus->parts[p].vectors);
        release_mem(&corpus->parts[p].norm_sq);
        release_mem(&corpus->parts[p].inv_norm);
        release_mem(&corpus->parts[p].cosine_vectors);
    }
    free(corpus->parts);
    free(corpus);
}

/*
 * A part that holds a vector with a nonzero cosine shift (a norm outside the
 * safe range, cpu/kernels.h; rare) gets a copy with those vectors scaled by
 * 2^shift, which COSINE batches read instead, so the float32 dot on the
 * device neither underflows nor overflows. 0 or a vs_status.
 */
static int make_cosine_copy(const vs__env *ctx, cl_state *s, cl_part *part, const float *rows,
                            size_t dim, const int *shifts) {
    size_t first = 0;
    while (first < part->count && shifts[first] == 0)
        first++;
    if (first == part->count) return VS_OK;
    const size_t bytes = part->count * dim * sizeof(float);
    float *scaled = malloc(bytes);
    if (scaled == NULL) return VS_ERR_OUT_OF_MEMORY;
    memcpy(scaled, rows, bytes);
    for (size_t j = first; j < part->count; j++)
        if (shifts[j] != 0) vs__scale_strided(scaled + j * dim, dim, 1, shifts[j]);
    int status = VS_OK;
    part->cosine_vectors = make_buffer(ctx, s, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes,
                                       scaled, "corpus vectors for cosine", &status);
    free(scaled);
    return status;
}

static int corpus_prepare(void *state, const vs__env *ctx, const float *vectors, size_t n,
                          size_t dim, void **out) {
    cl_state *s = state;
    int status = VS_OK;
    *out = NULL;
    float *norm_sq = NULL, *inv_norm = NULL;
    int *shifts = NULL;
    cl_corpus *corpus = calloc(1, sizeof(*corpus));
    if (corpus == NULL) return VS_ERR_OUT_OF_MEMORY;
    corpus->n = n;
    corpus->dim = dim;
    size_t rows_per_part = s->max_alloc / (dim * sizeof(float));
    if (rows_per_part == 0) {
        vs__log(&ctx->log, VS_LOG_ERROR,
                "opencl: one vector of dim %zu is larger than the device's largest allocation "
                "(%zu B)",
                dim, s->max_alloc);
        free(corpus);
        return VS_ERR_UNSUPPORTED;
    }
    corpus->nparts = n == 0 ? 0 : (n + rows_per_part - 1) / rows_per_part;
    if (corpus->nparts > 0) {
        corpus->parts = calloc(corpus->nparts, sizeof(cl_part));
        if (corpus->parts == NULL) corpus->nparts = 0; /* corpus_release walks parts */
        size_t rows = n < rows_per_part ? n : rows_per_part;
        norm_sq = malloc(rows * sizeof(float));
        inv_norm = malloc(rows * sizeof(float));
        shifts = malloc(rows * sizeof(int));
        if (corpus->parts == NULL || norm_sq == NULL || inv_norm == NULL || shifts == NULL) {
            status = VS_ERR_OUT_OF_MEMORY;
            goto cleanup;
        }
    }
    pthread_mutex_lock(&s->lock);
    for (size_t p = 0; p < corpus->nparts && status == VS_OK; p++) {
        cl_part *part = &corpus->parts[p];
        part->first = p * rows_per_part;
        part->count = n - part->first < rows_per_part ? n - part->first : rows_per_part;
        const float *rows = vectors + part->first * dim;
#pragma omp parallel for schedule(static) if (part->count * dim > 1000000)
        for (size_t j = 0; j < part->count; j++) {
            const double sum = vs__norm_sq_f64(rows + j * dim, dim);
            norm_sq[j] = (float)sum;
            inv_norm[j] = vs__cosine_aux(sum, &shifts[j]);
        }
        const cl_mem_flags flags = CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR;
        part->vectors = make_buffer(ctx, s, flags, part->count * dim * sizeof(float), (void *)rows,
                                    "corpus vectors", &status);
        if (status == VS_OK)
            part->norm_sq = make_buffer(ctx, s, flags, part->count * sizeof(float), norm_sq,
                                        "corpus norms", &status);
        if (status == VS_OK)
            part->inv_norm = make_buffer(ctx, s, flags, part->count * sizeof(float), inv_norm,
                                         "corpus inverse norms", &status);
        if (status == VS_OK) status = make_cosine_copy(ctx, s, part, rows, dim, shifts);
    }
    pthread_mutex_unlock(&s->lock);
cleanup:
    free(norm_sq);
    free(inv_norm);
    free(shifts);
    if (status != VS_OK) {
        corpus_release(state, corpus);
        return status;
    }
    *out = corpus;
    return VS_OK;
}

static void corpus_row(void *state, const void *data, size_t j, float *out) {
    /* Verification reads rows back from the device (rare, small). */
    cl_state *s = state;
    const cl_corpus *corpus = data;
    size_t p = 0;
    while (p + 1 < corpus->nparts && j >= corpus->parts[p + 1].first)
        p++;
    const cl_part *part = &corpus->parts[p];
    pthread_mutex_lock(&s->lock);
    cl_int err = vs__cl.EnqueueReadBuffer(s->queue, part->vectors, CL_TRUE,
                                          (j - part->first) * corpus->dim * sizeof(float),
                                          corpus->dim * sizeof(float), out, 0, NULL, NULL);
    pthread_mutex_unlock(&s->lock);
    if (err != CL_SUCCESS) {
        vs__cl_failed(NULL, "clEnqueueReadBuffer(corpus row)", err);
        for (size_t i = 0; i < corpus->dim; i++)
            out[i] = NAN; /* verification then reports a mismatch */
    }
}

/* ---- one batch --------------------------------------------------------------------- */

typedef struct plan {
    size_t rows;     /* queries per chunk */
    size_t columns;  /* candidates per tile */
    size_t segments; /* selection segments per tile (top-k) */
    size_t segment_length;
    size_t k;      /* min(k, nc): entries kept on the device */
    int fused;     /* top-k scored and selected in one kernel (vs_topk_rows) */
    int zero_copy; /* outputs wrapped in place */
} plan;

static int make_plan(const cl_state *s, const vs__batch *b, const cl_corpus *corpus, plan *p) {
    memset(p, 0, sizeof(*p));
    const size_t limit = s->max_alloc < VS_CL_SCRATCH_LIMIT ? s->max_alloc : VS_CL_SCRATCH_LIMIT;
    size_t largest_part = 0;
    for (size_t i = 0; i < corpus->nparts; i++)
        if (corpus->parts[i].count > largest_part) largest_part = corpus->parts[i].count;
    p->k = b->k < b->nc ? b->k : b->nc;
    /* Fused pays when scoring dominates (dim >= 256); for short vectors the
     * per-candidate selection in the fused loop costs more than a separate pass
     * (PoCL here: d=128 top-10 at Q=1/4/256 2.7/3.2/126 ms separate vs
     * 3.5/4.9/152 ms fused; d=768 at Q=1/16 fused 8/21 ms vs 13/36 ms). */
    p->fused = b->k && s->rows_kernel && p->k <= VS_CL_FUSED_K;
    if (s->fused_policy >= 0)
        p->fused = p->fused && s->fused_policy;
    else
        p->fused = p->fused && b->dim >= VS_CL_FUSED_MIN_DIM;
    /* Kernel arguments are 32-bit: such shapes go to the CPU (not a device failure). */
    if (b->dim > UINT32_MAX || b->k > UINT32_MAX) return VS_ERR_UNSUPPORTED;
    const size_t max_columns = (size_t)(UINT32_MAX & ~(uint32_t)(VS_CL_TILE - 1));
    p->columns = b->k ? VS_CL_TILE_COLUMNS : round_up(largest_part, VS_CL_TILE);
    if (p->columns > round_up(largest_part, VS_CL_TILE))
        p->columns = round_up(largest_part, VS_CL_TILE);
    if (p->columns > max_columns) p->columns = max_columns;
    if (p->columns == 0) p->columns = VS_CL_TILE;

    /*
     * Outputs in place when the device shares host memory and the caller's
     * memory meets its alignment; on a discrete device USE_HOST_PTR would make
     * the driver copy anyway, so results are read back (and counted as copied).
     */
    const size_t out_bytes = b->k ? b->nq * b->k * sizeof(int64_t) : b->nq * b->nc * sizeof(float);
    p->zero_copy = s->entry.info.unified_memory && (uintptr_t)b->scores % s->align == 0 &&
                   (b->k == 0 || (uintptr_t)b->ids % s->align == 0) && out_bytes <= s->max_alloc;
    /* Per-tile score buffer: needed for unfused top-k and for copied score matrices. */
    const int tile_buffer = (b->k && !p->fused) || (!b->k && !p->zero_copy);

    /* Rows per chunk: the staging arena, the device scratch and the queries buffer. */
    const size_t per_row_staging = staging_row_bytes(b->dim);
    const size_t reserve = staging_reserve(s->align);
    size_t rows =
        s->staging.capacity > reserve ? (s->staging.capacity - reserve) / per_row_staging : 0;
    if (rows > VS_CL_MAX_ROWS) rows = VS_CL_MAX_ROWS;
    if (rows > s->max_alloc / (b->dim * sizeof(float)))
        rows = s->max_alloc / (b->dim * sizeof(float));
    if (rows == 0) return VS_ERR_UNSUPPORTED; /* one query does not fit the staging arena */
    /* Copied top-k results come back through rows x k buffers. */
    if (b->k && !p->zero_copy && rows > limit / (b->k * sizeof(int64_t)))
        rows = limit / (b->k * sizeof(int64_t));
    /* Keep as many rows as fit, then shrink the tile (not below one row). */
    if (tile_buffer && rows > limit / (p->columns * sizeof(float))) {
        size_t fit = limit / (p->columns * sizeof(float));
        if (fit >= 1) {
            rows = fit;
        } else {
            rows = 1;
            p->columns = limit / sizeof(float) / VS_CL_TILE * VS_CL_TILE;
        }
    }
    p->segments = (p->columns + VS_CL_SEGMENT_TARGET - 1) / VS_CL_SEGMENT_TARGET;
    if (p->segments > VS_CL_MAX_SEGMENTS) p->segments = VS_CL_MAX_SEGMENTS;
    if (p->segments == 0) p->segments = 1;
    if (p->k) {
        const size_t entry = sizeof(float) + sizeof(int64_t);
        while (p->segments > 1 && rows > limit / (p->segments * p->k * entry))
            p->segments /= 2;
        if (rows > limit / (p->segments * p->k * entry))
            rows = limit / (p->segments * p->k * entry);
    }
    if (rows == 0 || p->columns == 0) return VS_ERR_UNSUPPORTED; /* k too large for the device */
    p->rows = rows < b->nq ? rows : (b->nq > 0 ? b->nq : 1);
    p->segment_length = (p->columns + p->segments - 1) / p->segments;
    return VS_OK;
}

typedef struct buffers {
    cl_mem queries, qaux, tile, seg_keys, seg_ids, run_keys[2], run_ids[2], out_scores, out_ids;
} buffers;

static void release_buffers(buffers *d) {
    release_mem(&d->queries);
    release_mem(&d->qaux);
    release_mem(&d->tile);
    release_mem(&d->seg_keys);
    release_mem(&d->seg_ids);
    for (int i = 0; i < 2; i++) {
        release_mem(&d->run_keys[i]);
        release_mem(&d->run_ids[i]);
    }
    release_mem(&d->out_scores);
    release_mem(&d->out_ids);
}

static int launch(const vs__env *ctx, cl_state *s, cl_kernel kernel, const char *name, cl_uint dims,
                  const size_t *global, const size_t *local) {
    cl_int err =
        vs__cl.EnqueueNDRangeKernel(s->queue, kernel, dims, NULL, global, local, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        char label[96];
        snprintf(label, sizeof(label), "clEnqueueNDRangeKernel(%s)", name);
        return vs__cl_failed(ctx, label, err);
    }
    return VS_OK;
}

/* The candidates the kernels read: COSINE uses the scaled copy where there is one. */
static cl_mem part_vectors(const vs__batch *b, const cl_part *part) {
    if (b->metric == VS_METRIC_COSINE && part->cosine_vectors != NULL) return part->cosine_vectors;
    return part->vectors;
}

/* NOLINTBEGIN(bugprone-sizeof-expression): ARG(v) passes sizeof(v) to clSetKernelArg, and
 * OpenCL handles (cl_mem) are pointers to opaque structs: that size is the one wanted. */

/* Scores a chunk of queries against one tile of a part (see score.cl). */
static int score_tile(const vs__env *ctx, cl_state *s, const vs__batch *b, const buffers *d,
                      const cl_part *part, size_t t0, size_t columns, size_t rows, cl_mem out,
                      cl_ulong out_offset, cl_ulong ld_out) {
    const cl_ulong query_offset = 0, candidate_offset = (cl_ulong)t0 * b->dim,
                   caux_offset = (cl_ulong)t0;
    const cl_uint nrows = (cl_uint)rows, ncolumns = (cl_uint)columns, dim = (cl_uint)b->dim;
    const cl_int metric = (cl_int)b->metric, negate = b->k && b->metric == VS_METRIC_L2SQ;
    const cl_mem caux = b->metric == VS_METRIC_COSINE ? part->inv_norm : part->norm_sq;
    const cl_mem vectors = part_vectors(b, part);
    const arg args[] = {ARG(d->queries),       ARG(query_offset), ARG(nrows),       ARG(vectors),
                        ARG(candidate_offset), ARG(ncolumns),     ARG(dim),         ARG(metric),
                        ARG(d->qaux),          ARG(caux),         ARG(caux_offset), ARG(out),
                        ARG(out_offset),       ARG(ld_out),       ARG(negate)};
    cl_kernel kernel = s->rows_kernel ? s->score_rows : s->score;
    const char *name = s->rows_kernel ? "vs_score_rows" : "vs_score_tile";
    int status = set_args(ctx, kernel, name, args, (int)(sizeof(args) / sizeof(*args)));
    if (status != VS_OK) return status;
    if (s->rows_kernel) {
        const size_t global[2] = {columns, (rows + VS_CL_ROWS - 1) / VS_CL_ROWS};
        return launch(ctx, s, kernel, name, 2, global, NULL);
    }
    const size_t global[2] = {round_up(columns, VS_CL_TILE), round_up(rows, VS_CL_TILE)};
    const size_t local[2] = {VS_CL_TILE, VS_CL_TILE};
    return launch(ctx, s, kernel, name, 2, global, local);
}

/* Selects per segment, then merges into the running list or the outputs. */
/*
 * Best k of each segment of the tile: from the score tile (vs_select_segments),
 * or scored and selected in one pass (vs_topk_rows) when p->fused.
 */
static int select_segments(const vs__env *ctx, cl_state *s, const vs__batch *b, const plan *p,
                           buffers *d, const cl_part *part, size_t t0, size_t rows, size_t columns,
                           cl_uint *segments) {
    const cl_uint k = (cl_uint)p->k, nrows = (cl_uint)rows, ncolumns = (cl_uint)columns;
    const cl_uint seg_len = (cl_uint)p->segment_length;
    const cl_long base = (cl_long)(part->first + t0);
    *segments = (cl_uint)((columns + p->segment_length - 1) / p->segment_length);
    if (p->fused) {
        const cl_ulong query_offset = 0, candidate_offset = (cl_ulong)t0 * b->dim,
                       caux_offset = (cl_ulong)t0;
        const cl_uint dim = (cl_uint)b->dim;
        const cl_int metric = (cl_int)b->metric;
        const cl_mem caux = b->metric == VS_METRIC_COSINE ? part->inv_norm : part->norm_sq;
        const cl_mem vectors = part_vectors(b, part);
        const arg args[] = {
            ARG(d->queries),       ARG(query_offset), ARG(nrows),       ARG(vectors),
            ARG(candidate_offset), ARG(ncolumns),     ARG(dim),         ARG(metric),
            ARG(d->qaux),          ARG(caux),         ARG(caux_offset), ARG(seg_len),
            ARG(*segments),        ARG(base),         ARG(k),           ARG(d->seg_keys),
            ARG(d->seg_ids)};
        int status = set_args(ctx, s->topk_rows, "vs_topk_rows", args, 17);
        if (status != VS_OK) return status;
        /* One work-item per group: its private lists (3 KiB) never pile up on a stack. */
        const size_t global[2] = {*segments, (rows + VS_CL_ROWS - 1) / VS_CL_ROWS};
        const size_t local[2] = {1, 1};
        return launch(ctx, s, s->topk_rows, "vs_topk_rows", 2, global, local);
    }
    int status = score_tile(ctx, s, b, d, part, t0, columns, rows, d->tile, 0, p->columns);
    if (status != VS_OK) return status;
    const cl_ulong ld = (cl_ulong)p->columns;
    const arg args[] = {ARG(d->tile),   ARG(ld),   ARG(nrows), ARG(ncolumns),    ARG(seg_len),
                        ARG(*segments), ARG(base), ARG(k),     ARG(d->seg_keys), ARG(d->seg_ids)};
    status = set_args(ctx, s->select, "vs_select_segments", args, 10);
    if (status != VS_OK) return status;
    const size_t global[2] = {*segments, rows};
    return launch(ctx, s, s->select, "vs_select_segments", 2, global, NULL);
}

/* Merges the segment lists into the running list, or (final_rows) into the outputs. */
static int merge_segments(const vs__env *ctx, cl_state *s, const vs__batch *b, const plan *p,
                          buffers *d, size_t rows, cl_uint segments, int has_running, int *current,
                          int final_rows, cl_ulong out_offset) {
    int status = VS_OK;
    const cl_uint k = (cl_uint)p->k, nrows = (cl_uint)rows;
    const int next = has_running ? 1 - *current : *current;
    const cl_int running = has_running, final = final_rows, distance = b->metric == VS_METRIC_L2SQ;
    const cl_uint k_out = (cl_uint)b->k;
    const arg args[] = {ARG(d->seg_keys),
                        ARG(d->seg_ids),
                        ARG(segments),
                        ARG(k),
                        ARG(nrows),
                        ARG(d->run_keys[*current]),
                        ARG(d->run_ids[*current]),
                        ARG(running),
                        ARG(d->run_keys[next]),
                        ARG(d->run_ids[next]),
                        ARG(final),
                        ARG(distance),
                        ARG(k_out),
                        ARG(d->out_scores),
                        ARG(d->out_ids),
                        ARG(out_offset)};
    status = set_args(ctx, s->merge, "vs_merge_segments", args, 16);
    if (status != VS_OK) return status;
    const size_t global[1] = {rows};
    status = launch(ctx, s, s->merge, "vs_merge_segments", 1, global, NULL);
    *current = next;
    return status;
}
/* NOLINTEND(bugprone-sizeof-expression) */

static int write_to_device(const vs__env *ctx, cl_state *s, cl_mem mem, size_t bytes,
                           const void *host, const char *what, vs_batch_report *report) {
    double start = vs__now();
    cl_int err = vs__cl.EnqueueWriteBuffer(s->queue, mem, CL_TRUE, 0, bytes, host, 0, NULL, NULL);
    report->transfer_seconds += vs__now() - start;
    report->bytes_copied += bytes;
    return err == CL_SUCCESS ? VS_OK : vs__cl_failed(ctx, what, err);
}

static int finish(const vs__env *ctx, cl_state *s, vs_batch_report *report) {
    double start = vs__now();
    cl_int err = vs__cl.Finish(s->queue);
    report->kernel_seconds += vs__now() - start;
    return err == CL_SUCCESS ? VS_OK : vs__cl_failed(ctx, "clFinish", err);
}

static int run_batch(cl_state *s, vs__batch *b) {
    const vs__env *ctx = b->ctx;
    vs_batch_report *report = b->report;
    int status = VS_OK;
    cl_corpus *temporary = NULL;
    int p_zero_copy = 0; /* caller memory wrapped in place (for the error path) */
    buffers d;
    memset(&d, 0, sizeof(d));
    vs__cl_clear_error();
    snprintf(report->backend, sizeof(report->backend), "opencl");
    snprintf(report->device, sizeof(report->device), "%s", s->entry.info.name);
    report->isa[0] = '\0';
    report->threads = 0;

    pthread_mutex_lock(&s->lock);
    status = ensure_built(s, ctx, report);
    if (status != VS_OK) goto unlock;
    if (!s->build_reported) { /* built when the context was created: say so once */
        report->compile_seconds = s->build_seconds;
        report->program_cache = s->build_cache;
        s->build_reported = 1;
    }
    const cl_corpus *corpus = b->corpus;
    if (corpus == NULL) {
        /* Per-call candidates: uploaded for this call only. */
        pthread_mutex_unlock(&s->lock);
        void *data = NULL;
        status = corpus_prepare(s, b->ctx, b->candidates, b->nc, b->dim, &data);
        pthread_mutex_lock(&s->lock);
        if (status != VS_OK) goto unlock;
        temporary = data;
        corpus = temporary;
        report->bytes_copied += b->nc * b->dim * sizeof(float);
    }
    plan p;
    status = make_plan(s, b, corpus, &p);
    if (status != VS_OK) {
        vs__log(&ctx->log, VS_LOG_INFO,
                "opencl: the batch does not fit the device (dim %zu, k %zu, staging %zu B)", b->dim,
                b->k, s->staging.capacity);
        snprintf(b->why, sizeof(b->why), "the batch does not fit the device (dim %zu, k %zu)",
                 b->dim, b->k);
        goto unlock;
    }
    p_zero_copy = p.zero_copy;
    report->arena_capacity_bytes = s->staging.capacity;
    report->arena_pinned = s->staging.stats.pinned;
    vs_arena_stats_clear_high_water(&s->staging);
    if (b->nq == 0 || (b->nc == 0 && b->k == 0)) goto unlock;

    /* Device buffers for the whole batch. */
    const cl_mem_flags rw = CL_MEM_READ_WRITE;
    const size_t rows = p.rows;
    d.queries = make_buffer(ctx, s, CL_MEM_READ_ONLY, rows * b->dim * sizeof(float), NULL,
                            "queries", &status);
    if (status == VS_OK)
        d.qaux =
            make_buffer(ctx, s, CL_MEM_READ_ONLY, rows * sizeof(float), NULL, "query aux", &status);
    if (status == VS_OK && ((b->k && !p.fused) || (!b->k && !p.zero_copy)))
        d.tile =
            make_buffer(ctx, s, rw, rows * p.columns * sizeof(float), NULL, "score tile", &status);
    if (b->k) {
        const size_t list = rows * p.segments * p.k, running = rows * p.k;
        if (status == VS_OK)
            d.seg_keys =
                make_buffer(ctx, s, rw, list * sizeof(float), NULL, "segment keys", &status);
        if (status == VS_OK)
            d.seg_ids =
                make_buffer(ctx, s, rw, list * sizeof(int64_t), NULL, "segment ids", &status);
        for (int i = 0; i < 2 && status == VS_OK; i++) {
            d.run_keys[i] =
                make_buffer(ctx, s, rw, running * sizeof(float), NULL, "running keys", &status);
            if (status == VS_OK)
                d.run_ids[i] = make_buffer(ctx, s, rw, running * sizeof(int64_t), NULL,
                                           "running ids", &status);
        }
    }
    const size_t out_floats = b->k ? b->nq * b->k : b->nq * b->nc;
    if (status == VS_OK && p.zero_copy) {
        const cl_mem_flags wrap = CL_MEM_WRITE_ONLY | CL_MEM_USE_HOST_PTR;
        d.out_scores = make_buffer(ctx, s, wrap, out_floats * sizeof(float), b->scores,
                                   "caller scores", &status);
        if (status == VS_OK && b->k)
            d.out_ids = make_buffer(ctx, s, wrap, out_floats * sizeof(int64_t), b->ids,
                                    "caller ids", &status);
    } else if (status == VS_OK && b->k) {
        d.out_scores =
            make_buffer(ctx, s, rw, rows * b->k * sizeof(float), NULL, "result scores", &status);
        if (status == VS_OK)
            d.out_ids =
                make_buffer(ctx, s, rw, rows * b->k * sizeof(int64_t), NULL, "result ids", &status);
    }
    if (status != VS_OK) goto unlock;

    for (size_t q0 = 0; q0 < b->nq && status == VS_OK; q0 += rows) {
        const size_t count = b->nq - q0 < rows ? b->nq - q0 : rows;
        report->query_chunks++;
        /* Stage the chunk (queries and aux values) in the pinned arena. */
        size_t mark = vs_arena_mark(&s->staging);
        float *staged =
            vs_arena_alloc_aligned(&s->staging, count * b->dim * sizeof(float), s->align);
        float *qaux = vs_arena_alloc_aligned(&s->staging, count * sizeof(float), s->align);
        if (staged == NULL || qaux == NULL) {
            vs_arena_release(&s->staging, mark);
            status = VS_ERR_OUT_OF_MEMORY;
            break;
        }
        memcpy(staged, b->queries + q0 * b->dim, count * b->dim * sizeof(float));
        for (size_t i = 0; i < count && b->metric != VS_METRIC_DOT; i++) {
            float *row = staged + i * b->dim;
            const double norm_sq = vs__norm_sq_f64(row, b->dim);
            int shift = 0;
            qaux[i] =
                b->metric == VS_METRIC_L2SQ ? (float)norm_sq : vs__cosine_aux(norm_sq, &shift);
            if (shift != 0) vs__scale_strided(row, b->dim, 1, shift); /* as the corpus copy */
        }
        if (b->metric == VS_METRIC_DOT) memset(qaux, 0, count * sizeof(float));
        status = write_to_device(ctx, s, d.queries, count * b->dim * sizeof(float), staged,
                                 "clEnqueueWriteBuffer(queries)", report);
        if (status == VS_OK)
            status = write_to_device(ctx, s, d.qaux, count * sizeof(float), qaux,
                                     "clEnqueueWriteBuffer(query aux)", report);

        int current = 0, has_running = 0;
        const cl_ulong out_row = p.zero_copy ? (cl_ulong)q0 : 0;
        if (b->k && corpus->nparts == 0 && status == VS_OK) /* no candidates: padding only */
            status = merge_segments(ctx, s, b, &p, &d, count, 0, 0, &current, 1, out_row);
        for (size_t pi = 0; pi < corpus->nparts && status == VS_OK; pi++) {
            const cl_part *part = &corpus->parts[pi];
            for (size_t t0 = 0; t0 < part->count && status == VS_OK; t0 += p.columns) {
                const size_t columns = part->count - t0 < p.columns ? part->count - t0 : p.columns;
                const size_t id_base = part->first + t0;
                if (b->k) {
                    const int last = pi + 1 == corpus->nparts && t0 + columns >= part->count;
                    cl_uint segments = 0;
                    status =
                        select_segments(ctx, s, b, &p, &d, part, t0, count, columns, &segments);
                    if (status == VS_OK)
                        status = merge_segments(ctx, s, b, &p, &d, count, segments, has_running,
                                                &current, last, out_row);
                    has_running = 1;
                } else if (p.zero_copy) {
                    status = score_tile(ctx, s, b, &d, part, t0, columns, count, d.out_scores,
                                        (cl_ulong)q0 * b->nc + id_base, b->nc);
                } else {
                    status =
                        score_tile(ctx, s, b, &d, part, t0, columns, count, d.tile, 0, p.columns);
                    if (status == VS_OK) status = finish(ctx, s, report);
                    if (status == VS_OK) {
                        const size_t origin[3] = {0, 0, 0};
                        const size_t region[3] = {columns * sizeof(float), count, 1};
                        double start = vs__now();
                        cl_int err = vs__cl.EnqueueReadBufferRect(
                            s->queue, d.tile, CL_TRUE, origin, origin, region,
                            p.columns * sizeof(float), 0, b->nc * sizeof(float), 0,
                            b->scores + q0 * b->nc + id_base, 0, NULL, NULL);
                        report->transfer_seconds += vs__now() - start;
                        report->bytes_copied += columns * count * sizeof(float);
                        if (err != CL_SUCCESS)
                            status = vs__cl_failed(ctx, "clEnqueueReadBufferRect(scores)", err);
                    }
                }
            }
        }
        if (status == VS_OK) status = finish(ctx, s, report);
        if (status == VS_OK && b->k && !p.zero_copy) {
            double start = vs__now();
            cl_int err = vs__cl.EnqueueReadBuffer(s->queue, d.out_scores, CL_TRUE, 0,
                                                  count * b->k * sizeof(float),
                                                  b->scores + q0 * b->k, 0, NULL, NULL);
            if (err == CL_SUCCESS)
                err = vs__cl.EnqueueReadBuffer(s->queue, d.out_ids, CL_TRUE, 0,
                                               count * b->k * sizeof(int64_t), b->ids + q0 * b->k,
                                               0, NULL, NULL);
            report->transfer_seconds += vs__now() - start;
            report->bytes_copied += count * b->k * (sizeof(float) + sizeof(int64_t));
            if (err != CL_SUCCESS) status = vs__cl_failed(ctx, "clEnqueueReadBuffer(results)", err);
        }
        report->arena_high_water_bytes = s->staging.stats.high_water;
        vs__cl.Finish(s->queue); /* the device is done with the staged chunk */
        vs_arena_release(&s->staging, mark);
    }

    /* Zero-copy outputs: mapping makes the caller's memory current, without a copy. */
    cl_mem outs[2] = {d.out_scores, b->k ? d.out_ids : NULL};
    const size_t out_bytes[2] = {out_floats * sizeof(float), out_floats * sizeof(int64_t)};
    for (int i = 0; i < 2 && status == VS_OK && p.zero_copy; i++) {
        if (outs[i] == NULL) continue;
        cl_int err = CL_SUCCESS;
        double start = vs__now();
        void *mapped = vs__cl.EnqueueMapBuffer(s->queue, outs[i], CL_TRUE, CL_MAP_READ, 0,
                                               out_bytes[i], 0, NULL, NULL, &err);
        if (err != CL_SUCCESS) {
            status = vs__cl_failed(ctx, "clEnqueueMapBuffer(results)", err);
            break;
        }
        void *host = i == 0 ? (void *)b->scores : (void *)b->ids;
        if (mapped == host)
            report->bytes_mapped += out_bytes[i];
        else {
            /* A driver that maps elsewhere: copy (and count it). */
            memcpy(host, mapped, out_bytes[i]);
            report->bytes_copied += out_bytes[i];
        }
        err = vs__cl.EnqueueUnmapMemObject(s->queue, outs[i], mapped, 0, NULL, NULL);
        if (err == CL_SUCCESS) err = vs__cl.Finish(s->queue);
        report->transfer_seconds += vs__now() - start;
        if (err != CL_SUCCESS) status = vs__cl_failed(ctx, "clEnqueueUnmapMemObject(results)", err);
    }

unlock:
    /* After a failure the queue must be idle before buffers (and the caller's memory,
     * when wrapped in place) are given back; if that cannot be confirmed, the host
     * must not re-run the batch into memory the device may still write. */
    if (status != VS_OK && vs__cl.Finish(s->queue) != CL_SUCCESS && p_zero_copy) b->no_rerun = 1;
    release_buffers(&d);
    vs_arena_reset(&s->staging);
    pthread_mutex_unlock(&s->lock);
    corpus_release(s, temporary);
    if (status != VS_OK && vs__cl_last_error()[0] != '\0')
        snprintf(b->why, sizeof(b->why), "%s", vs__cl_last_error());
    return status;
}

static int score(void *state, vs__batch *b) {
    return run_batch(state, b);
}

static int topk(void *state, vs__batch *b) {
    return run_batch(state, b);
}

static const char *describe(void *state) {
    return ((cl_state *)state)->description;
}

static void release(void *state) {
    cl_state *s = state;
    if (s == NULL) return;
    vs_arena_destroy(&s->staging);
    if (s->score != NULL) vs__cl.ReleaseKernel(s->score);
    if (s->select != NULL) vs__cl.ReleaseKernel(s->select);
    if (s->merge != NULL) vs__cl.ReleaseKernel(s->merge);
    if (s->score_rows != NULL) vs__cl.ReleaseKernel(s->score_rows);
    if (s->topk_rows != NULL) vs__cl.ReleaseKernel(s->topk_rows);
    if (s->program != NULL) vs__cl.ReleaseProgram(s->program);
    if (s->queue != NULL) vs__cl.ReleaseCommandQueue(s->queue);
    if (s->context != NULL) vs__cl.ReleaseContext(s->context);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const vs__backend_ops cl_ops = {
    .name = "opencl",
    .describe = describe,
    .corpus_prepare = corpus_prepare,
    .corpus_release = corpus_release,
    .corpus_row = corpus_row,
    .score = score,
    .topk = topk,
    .release = release,
};

/*
 * Builds the program and launches every kernel path once on a tiny problem,
 * so that compilers that specialise at the first launch (PoCL compiles its
 * work-group functions then) do it now, not in the caller's first batch.
 */
static int warm_up(cl_state *s, const vs__env *ctx) {
    double start = vs__now();
    int status = ensure_built(s, ctx, NULL);
    if (status != VS_OK) return status;
    enum { rows = 2, columns = 40, dim = VS_CL_WARM_DIM, big_k = VS_CL_FUSED_K + 1 };
    float vectors[columns * dim];
    for (int i = 0; i < columns * dim; i++)
        vectors[i] = (float)(i % 7) - 3.0f;
    float *scores = vs_alloc_output(rows * columns * sizeof(float));
    int64_t *ids = vs_alloc_output(rows * big_k * sizeof(int64_t));
    const size_t ks[] = {1, big_k, 0}; /* fused (or unfused) top-k, unfused top-k, scores */
    for (int i = 0; i < 3 && status == VS_OK; i++) {
        if (scores == NULL || ids == NULL) {
            status = VS_ERR_OUT_OF_MEMORY;
            break;
        }
        vs_batch_report report;
        memset(&report, 0, sizeof(report));
        vs__batch b = vs__batch_make(VS_METRIC_COSINE, vectors, rows, dim, vectors, NULL, columns,
                                     ks[i], scores, ids);
        b.report = &report;
        b.ctx = ctx;
        status = run_batch(s, &b);
    }
    vs_free_output(scores);
    vs_free_output(ids);
    s->build_reported = 0; /* the caller's first batch reports the build */
    s->build_seconds = vs__now() - start;
    return status;
}

int vs__cl_backend_create(const vs__env *ctx, const vs__cl_entry *entry,
                          const vs__backend_ops **ops, void **state, char *why, size_t why_size) {
    int status = VS_OK;
    cl_int err = CL_SUCCESS;
    cl_state *s = calloc(1, sizeof(*s));
    if (s == NULL) return VS_ERR_OUT_OF_MEMORY;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return VS_ERR_OUT_OF_MEMORY;
    }
    s->entry = *entry;
    s->align = device_align(entry);
    s->max_alloc = (size_t)entry->info.max_alloc_bytes;
    /* CPU cores run the barrier-free kernel far faster than local-memory tiles. */
    s->rows_kernel = entry->info.kind == VS_DEVICE_OPENCL_CPU;
    /* Testing knobs, parsed as strictly as the options: a bad value is a bad option. */
    uint64_t knob = 0;
    const char *kernel = getenv("VECSCORE_CL_KERNEL"); /* "tile" or "rows" */
    if (kernel != NULL && strcmp(kernel, "tile") != 0 && strcmp(kernel, "rows") != 0) {
        snprintf(why, why_size,
                 "environment variable VECSCORE_CL_KERNEL has an invalid value '%.64s' (expected "
                 "tile or rows)",
                 kernel);
        status = VS_ERR_INVALID_ARGUMENT;
    } else if (kernel != NULL) {
        s->rows_kernel = strcmp(kernel, "rows") == 0;
    }
    int found = vs__env_uint("VECSCORE_CL_FUSED", 0, 1, 0, "0 or 1", &knob, why, why_size);
    s->fused_policy = found == 1 ? (int)knob : -1; /* -1: automatic */
    if (found < 0) status = found;
    found = vs__env_uint("VECSCORE_CL_MAX_ALLOC_BYTES", 1, SIZE_MAX, 1,
                         "a byte count of 1 or more: digits, optionally followed by K, M or G",
                         &knob, why, why_size);
    if (found == 1) s->max_alloc = (size_t)knob;
    if (found < 0) status = found;
    if (status != VS_OK) {
        vs__log(&ctx->log, VS_LOG_ERROR, "opencl: %s", why);
        goto cleanup;
    }
    const cl_context_properties properties[] = {CL_CONTEXT_PLATFORM,
                                                (cl_context_properties)entry->platform, 0};
    s->context = vs__cl.CreateContext(properties, 1, &entry->device, NULL, NULL, &err);
    VS_CL_CHECK(ctx, err, "clCreateContext");
    s->queue = vs__cl.CreateCommandQueue(s->context, entry->device, 0, &err);
    VS_CL_CHECK(ctx, err, "clCreateCommandQueue");
    vs_pinned_block block;
    status = vs__pinned_cl_alloc(ctx, s->context, s->queue, ctx->arena_bytes, &block);
    if (status != VS_OK) goto cleanup;
    status = vs_arena_init_block(&s->staging, block, s->align);
    if (status != VS_OK) goto cleanup;
    status = warm_up(s, ctx);
    if (status != VS_OK) goto cleanup;
    snprintf(s->description, sizeof(s->description),
             "%s (%s, %s, driver %s, %u compute units, max allocation %zu MiB, kernel %s%s)",
             entry->info.name, entry->info.platform, entry->info.selector,
             entry->info.driver_version, entry->info.compute_units, s->max_alloc >> 20,
             s->rows_kernel ? "rows" : "tile",
             s->fused_policy == 0 ? ", unfused" : (s->fused_policy == 1 ? ", fused" : ""));
    *ops = &cl_ops;
    *state = s;
    return VS_OK;
cleanup:
    release(s);
    return status;
}
