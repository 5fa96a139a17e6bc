/*
 * backend.c — the OpenCL backend: context and two queues on one device,
 * resident corpora, the batch pipeline (stage queries through the pinned
 * arena, score tile by tile, select top-k on the device, write results into
 * the caller's memory without a copy when it is aligned).
 *
 * Plan of one batch (all sizes fixed before the first command is enqueued):
 *
 *   corpus     resident in parts of at most CL_DEVICE_MAX_MEM_ALLOC_SIZE bytes
 *              (a larger corpus is split, never refused), with |v|^2 and 1/|v|
 *              (float64, rounded once); a part holding a vector whose norm is
 *              outside the cosine safe range (cpu/kernels.h) also keeps a copy
 *              with such vectors scaled by a power of two, for COSINE batches;
 *              per-call candidates are uploaded through the pinned arena in
 *              bounded, alternating halves (upload_staged)
 *   queries    in chunks of `rows` that fit the staging arena and the
 *              device scratch limits; each chunk is copied into the pinned
 *              arena with its aux values (COSINE: scaled like the corpus copy)
 *              and written to the device, into one of two alternating slots
 *   candidates in tiles of `columns` within a part
 *   score      the score kernel writes straight into the output (zero-copy) or
 *              into one of two tile buffers, read back non-blocking into the
 *              pinned read-back block while the next tile is scored
 *   top-k      the threshold selection (the test in the score kernel's
 *              epilogue, vs_select_query) or segment lists and a merge per
 *              tile; the running best k stays on the device, only nq x k
 *              results come back (non-blocking, into the read-back block)
 *
 * Kernels run on the compute queue (s->queue), uploads and read-backs on the
 * transfer queue (s->transfer); events order them (run_chunk). Batches on
 * one context are serialised (the lock); the staging arena is given back
 * after every chunk once its upload has completed.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pinned_cl.h"
#include "../cpu/kernels.h"
#include "cl_internal.h"
#include "compact.h"
#include "kernel_constants.h"

#define VS_CL_FUSED_MIN_DIM 256  /* shortest vectors for which vs_topk_rows is chosen */
#define VS_CL_TILE_COLUMNS 8192  /* candidates per scoring tile for top-k */
#define VS_CL_SEGMENT_TARGET 128 /* candidates per selection work-item */
#define VS_CL_MAX_ROWS 1024      /* queries per chunk */
#define VS_CL_MIN_ROWS 256       /* queries per chunk kept before the tile is narrowed */
#define VS_CL_SCRATCH_LIMIT ((size_t)256 << 20)
#define VS_CL_BUILD_OPTIONS "-cl-std=CL1.2"
#define VS_CL_STREAM_LOCAL (32 * 129 * 4 + 32 * 32 * 4) /* its local memory, bytes */
#define VS_CL_SELECT_IDS 0x7ffffffe /* ids it can encode (31 bits, one word kept for "empty") */
#define VS_CL_SURVIVORS_MIN 1024    /* survivor slots per query: max(4 k, this) ... */
#define VS_CL_SURVIVORS_MAX 8192    /* ... at most this, unless VECSCORE_CL_SURVIVORS says */
#define VS_CL_READBACK_SLOT ((size_t)8 << 20) /* bytes of a copied score tile (rows x columns) */

/* The kernels of score.cl and compact.cl (one program), in one table: index, name, family that
 * launches it ("compact": compact corpora, cl/compact.c, whatever the family). */
#define VS_CL_KERNEL_LIST(X)                                                                       \
    X(SCORE_TILE, "vs_score_tile", "tile")                                                         \
    X(SCORE_ROWS, "vs_score_rows", "cpu")                                                          \
    X(TOPK_ROWS, "vs_topk_rows", "cpu")                                                            \
    X(SCORE_BLOCKED, "vs_score_blocked", "gpu")                                                    \
    X(SCORE_STREAM, "vs_score_stream", "gpu")                                                      \
    X(SELECT, "vs_select_segments", "any")                                                         \
    X(MERGE, "vs_merge_segments", "any")                                                           \
    X(MERGE_SORTED, "vs_merge_sorted", "gpu")                                                      \
    X(TOPK_RESET, "vs_topk_reset", "any")                                                          \
    X(FILTER, "vs_filter_tile", "any")                                                             \
    X(RESCORE, "vs_rescore_tile", "any")                                                           \
    X(SELECT_QUERY, "vs_select_query", "any")                                                      \
    X(COMPACT_F16, "vs_compact_f16", "compact")                                                    \
    X(COMPACT_BF16, "vs_compact_bf16", "compact")                                                  \
    X(COMPACT_I8, "vs_compact_i8", "compact")                                                      \
    X(COMPACT_F16_BLOCKED, "vs_compact_f16_blocked", "compact")                                    \
    X(COMPACT_BF16_BLOCKED, "vs_compact_bf16_blocked", "compact")                                  \
    X(COMPACT_I8_BLOCKED, "vs_compact_i8_blocked", "compact")
enum {
#define VS_CL_KERNEL_ENUM_(id, name, family) K_##id,
    VS_CL_KERNEL_LIST(VS_CL_KERNEL_ENUM_)
#undef VS_CL_KERNEL_ENUM_
        K_COUNT
};
static const char *const kernel_names[K_COUNT] = {
#define VS_CL_KERNEL_NAME_(id, name, family) name,
    VS_CL_KERNEL_LIST(VS_CL_KERNEL_NAME_)
#undef VS_CL_KERNEL_NAME_
};
static const char *const family_names[] = {"auto", "cpu", "gpu", "tile"}; /* VS__CL_KERNELS_* */

/*
 * Register blocks of vs_score_blocked per device (rows x columns of
 * accumulators per work-item; the work-group tile is 16 times that). The
 * first row whose type and vendor match wins; VECSCORE_CL_BLOCK overrides.
 * GPUs get 8 x 8 (a 128 x 128 tile, 64 accumulators per work-item); other
 * devices, PoCL's CPU device included when the gpu family is forced, 4 x 4.
 */
static const struct block_row {
    int kind;           /* vs_device_kind, or -1 for any */
    const char *vendor; /* substring of the vendor (case as reported), or NULL for any */
    int rows, columns;
} block_table[] = {
    {VS_DEVICE_OPENCL_GPU, "NVIDIA", 8, 8},
    {VS_DEVICE_OPENCL_GPU, "AMD", 8, 8},
    {VS_DEVICE_OPENCL_GPU, "Advanced Micro Devices", 8, 8},
    {VS_DEVICE_OPENCL_GPU, "Intel", 4, 8},
    {VS_DEVICE_OPENCL_GPU, NULL, 8, 8},
    {-1, NULL, 4, 4},
};
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

/* Slots of the context's buffer pool (pool_get). */
enum {
    P_QUERIES, /* two slots each: chunks (queries, results) and copied score tiles alternate */
    P_QAUX = P_QUERIES + 2,
    P_TILE = P_QAUX + 2,
    P_SEG_KEYS = P_TILE + 2,
    P_SEG_IDS,
    P_RUN_KEYS, /* two slots: the running lists alternate */
    P_RUN_IDS = P_RUN_KEYS + 2,
    P_OUT_SCORES = P_RUN_IDS + 2,
    P_OUT_IDS = P_OUT_SCORES + 2,
    P_SURVIVORS = P_OUT_IDS +
                  2, /* threshold selection: survivor words, running lists, thresholds, counters */
    P_RUNNING,
    P_THRESHOLDS,
    P_STATE,
    P_COUNT
};

typedef struct pooled {
    cl_mem mem;
    size_t bytes;
} pooled;

typedef struct cl_state {
    vs__cl_entry entry;
    cl_context context;
    cl_command_queue queue;    /* compute: every kernel */
    cl_command_queue transfer; /* uploads and read-backs; events order the two */
    cl_event gate;             /* the next kernel waits for it (a chunk's upload); not owned */
    cl_event last;             /* the last kernel enqueued (owned) */
    vs_pinned_block readback;  /* pinned read-back staging: two slots, grown on demand */
    cl_program program;
    cl_kernel kernels[K_COUNT];    /* VS_CL_KERNEL_LIST */
    unsigned launched;             /* bit per kernel launched by the current batch */
    pooled pool[P_COUNT];          /* scratch buffers kept between batches, grown on demand */
    int block_rows, block_columns; /* vs_score_blocked's register block (-D VS_RM, VS_RN) */
    int stream_ok;                 /* vs_score_stream fits the device's local memory */
    int merge_sorted_ok;           /* vs_merge_sorted fits it */
    int select_ok;                 /* vs_select_query fits it */
    long survivors_policy;         /* ctx->cl_survivors: -1 automatic, 0 off, N slots */
    int filter_policy;             /* ctx->cl_filter: -1 automatic, 0 a separate pass, 1 fused */
    int filter_fused;              /* the current batch ran the threshold test in a score kernel */
    char build_options[96];
    int family;       /* VS__CL_KERNELS_CPU, _GPU or _TILE (never _AUTO here) */
    int rows_kernel;  /* family CPU: vs_score_rows and vs_topk_rows */
    int fused_policy; /* -1 automatic, 0 never, 1 whenever possible (ctx->cl_fused) */
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

/* Staging bytes per row of per-call candidates: the vector and its two aux values. */
static size_t staging_candidate_bytes(size_t dim) {
    return dim * sizeof(float) + 2 * sizeof(float);
}

static size_t device_align(const vs__cl_entry *entry) {
    return entry->info.base_align_bytes > 64 ? entry->info.base_align_bytes : 64;
}

size_t vs__cl_min_arena_bytes(const vs__cl_entry *entry, size_t *reserve) {
    *reserve = staging_reserve(device_align(entry));
    /* the warm-up batch stages a query row and uploads its candidates a row at a time */
    return *reserve + staging_candidate_bytes(VS_CL_WARM_DIM);
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

static void release_event(cl_event *event) {
    if (*event != NULL) vs__cl.ReleaseEvent(*event);
    *event = NULL;
}

/* Waits for one event of the batch (an upload or a read-back). */
static int wait_event(const vs__env *ctx, cl_event event, const char *what) {
    cl_int err = vs__cl.WaitForEvents(1, &event);
    if (err == CL_SUCCESS) return VS_OK;
    char label[96];
    snprintf(label, sizeof(label), "clWaitForEvents(%s)", what);
    return vs__cl_failed(ctx, label, err);
}

/* Starts what is queued on a queue (an in-order queue otherwise may hold it back). */
static int flush(const vs__env *ctx, cl_command_queue queue, const char *what) {
    cl_int err = vs__cl.Flush(queue);
    if (err == CL_SUCCESS) return VS_OK;
    char label[96];
    snprintf(label, sizeof(label), "clFlush(%s queue)", what);
    return vs__cl_failed(ctx, label, err);
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

static void release_kernels(cl_state *s) {
    for (int i = 0; i < K_COUNT; i++) {
        if (s->kernels[i] != NULL) vs__cl.ReleaseKernel(s->kernels[i]);
        s->kernels[i] = NULL;
    }
}

static int ensure_built(cl_state *s, const vs__env *ctx, vs_batch_report *report) {
    if (s->built) return VS_OK;
    int status = VS_OK;
    cl_int err = CL_SUCCESS;
    vs__cl_program_result result;
    /* One program: score.cl, then compact.cl. */
    const size_t length = vs__cl_source_score_length + vs__cl_source_compact_length;
    char *source = malloc(length + 1);
    if (source == NULL) return VS_ERR_OUT_OF_MEMORY;
    memcpy(source, vs__cl_source_score, vs__cl_source_score_length);
    memcpy(source + vs__cl_source_score_length, vs__cl_source_compact,
           vs__cl_source_compact_length);
    source[length] = '\0';
    status =
        vs__cl_program_get(ctx, s->context, &s->entry, source, length, s->build_options, &result);
    free(source);
    if (status != VS_OK) return status;
    s->program = result.program;
    for (int i = 0; i < K_COUNT; i++) {
        s->kernels[i] = vs__cl.CreateKernel(s->program, kernel_names[i], &err);
        if (err != CL_SUCCESS) {
            char label[96];
            snprintf(label, sizeof(label), "clCreateKernel(%s)", kernel_names[i]);
            status = vs__cl_failed(ctx, label, err);
            goto cleanup;
        }
    }
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
    release_kernels(s);
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

/*
 * Per-call candidates: one part's vectors and aux values go to the device
 * through the pinned staging arena (free while a batch has not started;
 * the caller holds the lock), in chunks of rows that fill half of it, the
 * halves alternating: a half is refilled once its upload (transfer queue,
 * non-blocking) has completed, so copying into one overlaps the transfer
 * of the other, and the staging stays bounded whatever the size. 0 or a
 * vs_status.
 */
static int upload_staged(const vs__env *ctx, cl_state *s, const cl_part *part, const float *rows,
                         const float *norm_sq, const float *inv_norm, size_t dim) {
    const size_t row_bytes = staging_candidate_bytes(dim);
    const size_t reserve = staging_reserve(s->align);
    const size_t usable = s->staging.capacity > reserve ? s->staging.capacity - reserve : 0;
    int halves = 2;
    size_t chunk = usable / 2 / row_bytes;
    if (chunk == 0) { /* one half holds no row: the whole arena, one upload at a time */
        halves = 1;
        chunk = usable / row_bytes;
    }
    if (chunk == 0) {
        vs__log(&ctx->log, VS_LOG_INFO,
                "opencl: the staging arena (%zu B) holds no candidate row of dim %zu",
                s->staging.capacity, dim);
        return VS_ERR_UNSUPPORTED;
    }
    const size_t mark = vs_arena_mark(&s->staging);
    unsigned char *half[2] = {NULL, NULL};
    for (int h = 0; h < halves; h++)
        half[h] = vs_arena_alloc_aligned(&s->staging, chunk * row_bytes, s->align);
    cl_event sent[2] = {NULL, NULL};
    int status = half[0] == NULL || half[halves - 1] == NULL ? VS_ERR_OUT_OF_MEMORY : VS_OK;
    for (size_t j0 = 0, c = 0; j0 < part->count && status == VS_OK; j0 += chunk, c++) {
        const int h = (int)(c % (size_t)halves);
        const size_t count = part->count - j0 < chunk ? part->count - j0 : chunk;
        if (sent[h] != NULL) status = wait_event(ctx, sent[h], "candidate upload");
        release_event(&sent[h]);
        if (status != VS_OK) break;
        float *v = (float *)(void *)half[h], *norms = v + count * dim, *invs = norms + count;
        memcpy(v, rows + j0 * dim, count * dim * sizeof(float));
        memcpy(norms, norm_sq + j0, count * sizeof(float));
        memcpy(invs, inv_norm + j0, count * sizeof(float));
        const cl_mem to[3] = {part->vectors, part->norm_sq, part->inv_norm};
        const void *from[3] = {v, norms, invs};
        const size_t unit[3] = {dim * sizeof(float), sizeof(float), sizeof(float)};
        for (int i = 0; i < 3 && status == VS_OK; i++) {
            cl_int err = vs__cl.EnqueueWriteBuffer(s->transfer, to[i], CL_FALSE, j0 * unit[i],
                                                   count * unit[i], from[i], 0, NULL,
                                                   i == 2 ? &sent[h] : NULL);
            if (err != CL_SUCCESS)
                status = vs__cl_failed(ctx, "clEnqueueWriteBuffer(candidates)", err);
        }
        if (status == VS_OK) status = flush(ctx, s->transfer, "transfer");
    }
    for (int h = 0; h < 2; h++) {
        if (status == VS_OK && sent[h] != NULL)
            status = wait_event(ctx, sent[h], "candidate upload");
        release_event(&sent[h]);
    }
    if (status != VS_OK) vs__cl.Finish(s->transfer); /* nothing may still read the staging */
    vs_arena_release(&s->staging, mark);
    return status;
}

/*
 * A device corpus: resident (vs_corpus, created from the caller's memory,
 * staged = 0; takes the lock) or per-call candidates (staged = 1: the
 * caller holds the lock, and the rows go through the staging arena).
 */
static int corpus_build(cl_state *s, const vs__env *ctx, const float *vectors, size_t n, size_t dim,
                        int staged, void **out) {
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
    if (!staged) pthread_mutex_lock(&s->lock);
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
        const cl_mem_flags flags = CL_MEM_READ_ONLY | (staged ? 0 : CL_MEM_COPY_HOST_PTR);
        part->vectors = make_buffer(ctx, s, flags, part->count * dim * sizeof(float),
                                    staged ? NULL : (void *)rows, "corpus vectors", &status);
        if (status == VS_OK)
            part->norm_sq = make_buffer(ctx, s, flags, part->count * sizeof(float),
                                        staged ? NULL : norm_sq, "corpus norms", &status);
        if (status == VS_OK)
            part->inv_norm = make_buffer(ctx, s, flags, part->count * sizeof(float),
                                         staged ? NULL : inv_norm, "corpus inverse norms", &status);
        if (status == VS_OK && staged)
            status = upload_staged(ctx, s, part, rows, norm_sq, inv_norm, dim);
        if (status == VS_OK) status = make_cosine_copy(ctx, s, part, rows, dim, shifts);
    }
    if (!staged) pthread_mutex_unlock(&s->lock);
cleanup:
    free(norm_sq);
    free(inv_norm);
    free(shifts);
    if (status != VS_OK) {
        corpus_release(s, corpus);
        return status;
    }
    *out = corpus;
    return VS_OK;
}

static int corpus_prepare(void *state, const vs__env *ctx, const float *vectors, size_t n,
                          size_t dim, void **out) {
    return corpus_build(state, ctx, vectors, n, dim, 0, out);
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
    size_t k;         /* min(k, nc): entries kept on the device */
    size_t survivors; /* threshold selection: survivor slots per query; 0 = segment lists */
    int fused_filter; /* threshold selection: the test in the score kernel's epilogue */
    int fused;        /* top-k scored and selected in one kernel (vs_topk_rows) */
    int zero_copy;    /* outputs wrapped in place */
} plan;

/*
 * Threshold selection (the test in the score kernel, vs_select_query) for
 * every unfused top-k it can encode; segment lists (vs_select_segments + a
 * merge) for larger k or ids. Sets p->survivors and p->fused_filter.
 */
static void plan_selection(const cl_state *s, const vs__batch *b, const cl_corpus *corpus,
                           plan *p) {
    if (b->k && !p->fused && s->select_ok && s->survivors_policy != 0 && p->k <= VS_CL_SELECT_CAP &&
        b->nc <= VS_CL_SELECT_IDS && corpus->nparts > 0) {
        size_t slots = 4 * p->k;
        if (slots < VS_CL_SURVIVORS_MIN) slots = VS_CL_SURVIVORS_MIN;
        if (slots > VS_CL_SURVIVORS_MAX) slots = VS_CL_SURVIVORS_MAX;
        p->survivors = s->survivors_policy > 0 ? (size_t)s->survivors_policy : slots;
        /* Automatic: fused on every family (docs/opencl.md, "The threshold test fused or
         * separate"); VECSCORE_CL_FILTER=0 runs the separate pass instead. */
        p->fused_filter = s->filter_policy < 0 ? 1 : s->filter_policy;
    }
}

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
    plan_selection(s, b, corpus, p);
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
    /* Keep at least VS_CL_MIN_ROWS queries per chunk (or all there are) by narrowing the tile,
     * down to VS_CL_TILE columns; only then give up rows (not below one). */
    const size_t want_rows = b->nq < VS_CL_MIN_ROWS ? (b->nq > 0 ? b->nq : 1) : VS_CL_MIN_ROWS;
    if (tile_buffer && rows > limit / (p->columns * sizeof(float)) &&
        limit / (p->columns * sizeof(float)) < want_rows && rows >= want_rows &&
        limit / (want_rows * sizeof(float)) >= VS_CL_TILE) {
        const size_t narrow = limit / (want_rows * sizeof(float)) / VS_CL_TILE * VS_CL_TILE;
        if (narrow < p->columns) p->columns = narrow;
    }
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
    if (p->survivors) {
        /* per query: survivor words, its running list, threshold and counters; a smaller
         * buffer (still exact, it overflows sooner) rather than fewer queries per chunk */
        const size_t fixed = (p->k + 1) * sizeof(uint64_t) + 4 * sizeof(uint32_t);
        while (s->survivors_policy < 0 && p->survivors > 16 &&
               limit / (p->survivors * sizeof(uint64_t) + fixed) < want_rows)
            p->survivors /= 2;
        const size_t per_row = p->survivors * sizeof(uint64_t) + fixed;
        if (rows > limit / per_row) rows = limit / per_row;
    } else if (p->k) {
        const size_t entry = sizeof(float) + sizeof(int64_t);
        while (p->segments > 1 && rows > limit / (p->segments * p->k * entry))
            p->segments /= 2;
        if (rows > limit / (p->segments * p->k * entry))
            rows = limit / (p->segments * p->k * entry);
    }
    if (rows == 0 || p->columns == 0) return VS_ERR_UNSUPPORTED; /* k too large for the device */
    p->rows = rows < b->nq ? rows : (b->nq > 0 ? b->nq : 1);
    if (!b->k && !p->zero_copy) { /* copied score tiles: each read-back slot stays bounded */
        size_t fit = VS_CL_READBACK_SLOT / (p->rows * sizeof(float)) / VS_CL_TILE * VS_CL_TILE;
        if (fit < VS_CL_TILE) fit = VS_CL_TILE;
        if (p->columns > fit) p->columns = fit;
    }
    p->segment_length = (p->columns + p->segments - 1) / p->segments;
    return VS_OK;
}

/* Elements of the caller's outputs: nq x k for top-k, nq x nc for scores. */
static size_t output_floats(const vs__batch *b) {
    return b->k ? b->nq * b->k : b->nq * b->nc;
}

/* One batch's device buffers: the pool's (owned by cl_state), or the caller's memory wrapped. */
/*
 * A read-back in flight: the transfer queue copies device results into a
 * slot of the pinned read-back block; once `done` has completed the host
 * copies its rows (width floats / ids each) into the caller's memory.
 */
typedef struct pending {
    cl_event done; /* NULL: nothing in flight in this slot */
    const float *from_scores;
    const int64_t *from_ids; /* NULL for a score tile */
    float *to_scores;
    int64_t *to_ids;
    size_t rows, width, ld; /* ld: floats between rows in the caller's matrix */
} pending;

/*
 * One batch's device buffers: the pool's (owned by cl_state), or the caller's
 * memory wrapped; and the events of its pipeline. queries, qaux, tile,
 * out_scores and out_ids are the current slot's (two of each alternate).
 */
typedef struct buffers {
    cl_mem queries, qaux, tile, seg_keys, seg_ids, run_keys[2], run_ids[2], out_scores, out_ids;
    cl_mem survivors, running, thresholds, state; /* threshold selection */
    int wrapped; /* out_scores / out_ids wrap the caller's memory: released after the batch */
    cl_event uploaded[2]; /* a chunk's query upload into query slot i */
    cl_event computed[2]; /* the last kernel of the chunk that read query slot i */
    pending results[2];   /* copied top-k rows of the chunk in slot i */
    pending tiles[2];     /* copied score tiles, alternating */
    size_t tile_count;    /* copied score tiles so far (the slot is tile_count % 2) */
} buffers;

static void release_buffers(buffers *d) {
    if (d->wrapped) {
        release_mem(&d->out_scores);
        release_mem(&d->out_ids);
    }
    for (int i = 0; i < 2; i++) {
        release_event(&d->uploaded[i]);
        release_event(&d->computed[i]);
        release_event(&d->results[i].done);
        release_event(&d->tiles[i].done);
    }
    memset(d, 0, sizeof(*d));
}

/* Sets the arguments of kernel `which` and launches it; the batch report will name it. */
static int launch(const vs__env *ctx, cl_state *s, int which, const arg *args, int count,
                  cl_uint dims, const size_t *global, const size_t *local) {
    const char *name = kernel_names[which];
    int status = set_args(ctx, s->kernels[which], name, args, count);
    if (status != VS_OK) return status;
    /* The chunk's first kernel waits for its upload; the rest follow in queue order. */
    cl_event done = NULL;
    cl_int err =
        vs__cl.EnqueueNDRangeKernel(s->queue, s->kernels[which], dims, NULL, global, local,
                                    s->gate != NULL, s->gate != NULL ? &s->gate : NULL, &done);
    if (err != CL_SUCCESS) {
        char label[96];
        snprintf(label, sizeof(label), "clEnqueueNDRangeKernel(%s)", name);
        return vs__cl_failed(ctx, label, err);
    }
    s->gate = NULL;
    release_event(&s->last);
    s->last = done;
    s->launched |= 1u << which;
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
/* cap > 0: the threshold test fused, scores offered to the survivor buffers (no out). */
static int score_tile(const vs__env *ctx, cl_state *s, const vs__batch *b, const buffers *d,
                      const cl_part *part, size_t t0, size_t columns, size_t rows, cl_mem out,
                      cl_ulong out_offset, cl_ulong ld_out, size_t cap) {
    const cl_ulong query_offset = 0, candidate_offset = (cl_ulong)t0 * b->dim,
                   caux_offset = (cl_ulong)t0;
    const cl_uint nrows = (cl_uint)rows, ncolumns = (cl_uint)columns, dim = (cl_uint)b->dim;
    const cl_int metric = (cl_int)b->metric, negate = b->k && b->metric == VS_METRIC_L2SQ;
    const cl_mem caux = b->metric == VS_METRIC_COSINE ? part->inv_norm : part->norm_sq;
    const cl_mem vectors = part_vectors(b, part);
    const cl_uint slots = (cl_uint)cap;
    const cl_long id_base = (cl_long)(part->first + t0);
    const arg args[] = {
        ARG(d->queries),       ARG(query_offset), ARG(nrows),       ARG(vectors),
        ARG(candidate_offset), ARG(ncolumns),     ARG(dim),         ARG(metric),
        ARG(d->qaux),          ARG(caux),         ARG(caux_offset), ARG(out),
        ARG(out_offset),       ARG(ld_out),       ARG(negate),      ARG(d->thresholds),
        ARG(d->state),         ARG(d->survivors), ARG(slots),       ARG(id_base)};
    const int count = (int)(sizeof(args) / sizeof(*args));
    if (s->family == VS__CL_KERNELS_CPU) {
        const size_t global[2] = {columns, (rows + VS_CL_ROWS - 1) / VS_CL_ROWS};
        return launch(ctx, s, K_SCORE_ROWS, args, count, 2, global, NULL);
    }
    if (s->family == VS__CL_KERNELS_GPU && s->stream_ok && rows <= VS_CL_STREAM_ROWS) {
        const size_t global[1] = {round_up(columns, VS_CL_STREAM_WG)};
        const size_t local[1] = {VS_CL_STREAM_WG};
        return launch(ctx, s, K_SCORE_STREAM, args, count, 1, global, local);
    }
    if (s->family == VS__CL_KERNELS_GPU) {
        const size_t tile_rows = (size_t)VS_CL_WG * (size_t)s->block_rows;
        const size_t tile_columns = (size_t)VS_CL_WG * (size_t)s->block_columns;
        const size_t global[2] = {(columns + tile_columns - 1) / tile_columns * VS_CL_WG,
                                  (rows + tile_rows - 1) / tile_rows * VS_CL_WG};
        const size_t local[2] = {VS_CL_WG, VS_CL_WG};
        return launch(ctx, s, K_SCORE_BLOCKED, args, count, 2, global, local);
    }
    const size_t global[2] = {round_up(columns, VS_CL_TILE), round_up(rows, VS_CL_TILE)};
    const size_t local[2] = {VS_CL_TILE, VS_CL_TILE};
    return launch(ctx, s, K_SCORE_TILE, args, count, 2, global, local);
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
        /* One work-item per group: its private lists (3 KiB) never pile up on a stack. */
        const size_t global[2] = {*segments, (rows + VS_CL_ROWS - 1) / VS_CL_ROWS};
        const size_t local[2] = {1, 1};
        return launch(ctx, s, K_TOPK_ROWS, args, 17, 2, global, local);
    }
    int status = score_tile(ctx, s, b, d, part, t0, columns, rows, d->tile, 0, p->columns, 0);
    if (status != VS_OK) return status;
    const cl_ulong ld = (cl_ulong)p->columns;
    const arg args[] = {ARG(d->tile),   ARG(ld),   ARG(nrows), ARG(ncolumns),    ARG(seg_len),
                        ARG(*segments), ARG(base), ARG(k),     ARG(d->seg_keys), ARG(d->seg_ids)};
    const size_t global[2] = {*segments, rows};
    return launch(ctx, s, K_SELECT, args, 10, 2, global, NULL);
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
    /* GPU family: a work-group per query sorts the lists in local memory when they fit. */
    const size_t entries = ((size_t)segments + (has_running ? 1 : 0)) * p->k;
    if (s->family == VS__CL_KERNELS_GPU && s->merge_sorted_ok && entries <= VS_CL_MERGE_CAP &&
        p->k <= VS_CL_MERGE_CAP) {
        const size_t global[1] = {rows * VS_CL_MERGE_WG}, local[1] = {VS_CL_MERGE_WG};
        status = launch(ctx, s, K_MERGE_SORTED, args, 16, 1, global, local);
    } else {
        const size_t global[1] = {rows};
        status = launch(ctx, s, K_MERGE, args, 16, 1, global, NULL);
    }
    *current = next;
    return status;
}
/* Threshold selection: clears the per-query state at the start of a chunk. */
static int reset_selection(const vs__env *ctx, cl_state *s, buffers *d, size_t rows) {
    const cl_uint nrows = (cl_uint)rows;
    const arg args[] = {ARG(nrows), ARG(d->state), ARG(d->thresholds)};
    const size_t global[1] = {rows};
    return launch(ctx, s, K_TOPK_RESET, args, 3, 1, global, NULL);
}

/* After a fused threshold test: rows whose survivor buffer overflowed get the tile's scores. */
static int rescore_overflow(const vs__env *ctx, cl_state *s, const vs__batch *b, const buffers *d,
                            const cl_part *part, size_t t0, size_t rows, size_t columns,
                            cl_ulong ld, cl_uint cap) {
    const cl_ulong candidate_offset = (cl_ulong)t0 * b->dim, caux_offset = (cl_ulong)t0;
    const cl_uint nrows = (cl_uint)rows, ncolumns = (cl_uint)columns, dim = (cl_uint)b->dim;
    const cl_int metric = (cl_int)b->metric, negate = b->metric == VS_METRIC_L2SQ;
    const cl_int lanes16 = s->family == VS__CL_KERNELS_CPU;
    const cl_mem caux = b->metric == VS_METRIC_COSINE ? part->inv_norm : part->norm_sq;
    const cl_mem vectors = part_vectors(b, part);
    const arg args[] = {ARG(d->queries), ARG(nrows),       ARG(vectors), ARG(candidate_offset),
                        ARG(ncolumns),   ARG(dim),         ARG(metric),  ARG(d->qaux),
                        ARG(caux),       ARG(caux_offset), ARG(d->tile), ARG(ld),
                        ARG(negate),     ARG(d->state),    ARG(cap),     ARG(lanes16)};
    const size_t global[1] = {rows * 64}, local[1] = {64}; /* a work-group per query */
    return launch(ctx, s, K_RESCORE, args, 16, 1, global, local);
}

/*
 * Threshold selection of one tile (score.cl): score it, let every score that
 * beats its query's threshold into the survivor buffer, then a work-group
 * per query selects when the buffer is half full, overflowed, or (last) the
 * outputs are due.
 */
static int select_tile(const vs__env *ctx, cl_state *s, const vs__batch *b, const plan *p,
                       buffers *d, const cl_part *part, size_t t0, size_t rows, size_t columns,
                       int last, cl_ulong out_offset) {
    const cl_ulong ld = (cl_ulong)p->columns;
    const cl_uint nrows = (cl_uint)rows, ncolumns = (cl_uint)columns, cap = (cl_uint)p->survivors;
    const cl_long base = (cl_long)(part->first + t0);
    const size_t fglobal[2] = {round_up(columns, 64), rows};
    int status = VS_OK;
    if (p->fused_filter) {
        /* The test in the score kernel's epilogue; overflowed rows scored again into the tile. */
        status = score_tile(ctx, s, b, d, part, t0, columns, rows, d->tile, 0, ld, p->survivors);
        if (status == VS_OK)
            status = rescore_overflow(ctx, s, b, d, part, t0, rows, columns, ld, cap);
        s->filter_fused = 1;
    } else {
        status = score_tile(ctx, s, b, d, part, t0, columns, rows, d->tile, 0, ld, 0);
        const arg filter[] = {ARG(d->tile),  ARG(ld),           ARG(nrows),
                              ARG(ncolumns), ARG(base),         ARG(d->thresholds),
                              ARG(d->state), ARG(d->survivors), ARG(cap)};
        if (status == VS_OK) status = launch(ctx, s, K_FILTER, filter, 9, 2, fglobal, NULL);
    }
    if (status != VS_OK) return status;
    const cl_uint k = (cl_uint)p->k, k_out = (cl_uint)b->k;
    const cl_int final = last, distance = b->metric == VS_METRIC_L2SQ;
    const arg select[] = {ARG(d->tile),
                          ARG(ld),
                          ARG(nrows),
                          ARG(ncolumns),
                          ARG(base),
                          ARG(d->thresholds),
                          ARG(d->state),
                          ARG(d->survivors),
                          ARG(cap),
                          ARG(d->running),
                          ARG(k),
                          ARG(final),
                          ARG(distance),
                          ARG(k_out),
                          ARG(d->out_scores),
                          ARG(d->out_ids),
                          ARG(out_offset)};
    const size_t global[1] = {rows * VS_CL_SELECT_WG}, local[1] = {VS_CL_SELECT_WG};
    return launch(ctx, s, K_SELECT_QUERY, select, 17, 1, global, local);
}
/* NOLINTEND(bugprone-sizeof-expression) */

/* A non-blocking upload on the transfer queue, after `after` (if any); its event in *done. */
static int write_to_device(const vs__env *ctx, cl_state *s, cl_mem mem, size_t bytes,
                           const void *host, const char *what, vs_batch_report *report,
                           cl_event after, cl_event *done) {
    double start = vs__now();
    cl_int err = vs__cl.EnqueueWriteBuffer(s->transfer, mem, CL_FALSE, 0, bytes, host,
                                           after != NULL, after != NULL ? &after : NULL, done);
    report->transfer_seconds += vs__now() - start;
    report->bytes_copied += bytes;
    return err == CL_SUCCESS ? VS_OK : vs__cl_failed(ctx, what, err);
}

/*
 * A slot's read-back: waits for it, then copies its rows from the pinned
 * block into the caller's memory (so the caller's rows are written only
 * from results that have fully arrived). No-op when nothing is in flight.
 */
static int drain(const vs__env *ctx, pending *pd, vs_batch_report *report) {
    if (pd->done == NULL) return VS_OK;
    double start = vs__now();
    int status = wait_event(ctx, pd->done, "read-back");
    release_event(&pd->done);
    if (status == VS_OK)
        for (size_t r = 0; r < pd->rows; r++) {
            memcpy(pd->to_scores + r * pd->ld, pd->from_scores + r * pd->width,
                   pd->width * sizeof(float));
            if (pd->from_ids != NULL)
                memcpy(pd->to_ids + r * pd->ld, pd->from_ids + r * pd->width,
                       pd->width * sizeof(int64_t));
        }
    report->transfer_seconds += vs__now() - start;
    return status;
}

/*
 * The pinned read-back block, two slots of `slot` bytes each: kept between
 * batches and grown (never shrunk) like the buffer pool. 0 or a vs_status.
 */
static int readback_slots(const vs__env *ctx, cl_state *s, size_t slot, vs_batch_report *report,
                          unsigned char **base) {
    const size_t bytes = 2 * slot;
    if (s->readback.ptr == NULL || s->readback.bytes < bytes) {
        if (s->readback.release != NULL) s->readback.release(&s->readback);
        memset(&s->readback, 0, sizeof(s->readback));
        const size_t grown = round_up(bytes, (size_t)64 << 10);
        int status = vs__pinned_cl_alloc(ctx, s->context, s->queue, grown, &s->readback);
        if (status != VS_OK) return status;
        report->device_buffers_created++;
    }
    *base = s->readback.ptr;
    return VS_OK;
}

/* The end of a batch: every kernel (compute queue), then every transfer, done. */
static int finish(const vs__env *ctx, cl_state *s, vs_batch_report *report) {
    double start = vs__now();
    cl_int err = vs__cl.Finish(s->queue);
    report->kernel_seconds += vs__now() - start;
    if (err != CL_SUCCESS) return vs__cl_failed(ctx, "clFinish(compute queue)", err);
    err = vs__cl.Finish(s->transfer);
    return err == CL_SUCCESS ? VS_OK : vs__cl_failed(ctx, "clFinish(transfer queue)", err);
}

/* ---- the steps of one batch: buffers, staging, launches, read-back, mapping ------- */

/*
 * The context's buffer pool: one slot per scratch buffer a batch uses, kept
 * between batches and grown (never shrunk) when a batch needs more, so a
 * steady stream of batches creates no buffers. A grown buffer is touched
 * at once (a small blocking write), so that a driver that allocates lazily
 * (NVIDIA) reports a failed allocation here, as VS_ERR_OUT_OF_MEMORY (the
 * CPU runs the batch, and it does not count as a device failure), not at a
 * later launch. 0 or a vs_status.
 */
static int pool_get(const vs__env *ctx, cl_state *s, int slot, cl_mem_flags flags, size_t bytes,
                    const char *what, cl_mem *out, vs_batch_report *report) {
    pooled *entry = &s->pool[slot];
    if (entry->mem != NULL && entry->bytes >= bytes) {
        *out = entry->mem;
        return VS_OK;
    }
    release_mem(&entry->mem);
    entry->bytes = 0;
    size_t grown = round_up(bytes > 0 ? bytes : 1, (size_t)64 << 10); /* 64 KiB steps */
    if (grown > s->max_alloc && bytes <= s->max_alloc) grown = bytes > 0 ? bytes : 1;
    int status = VS_OK;
    cl_mem mem = make_buffer(ctx, s, flags, grown, NULL, what, &status);
    if (status != VS_OK) return status;
    static const unsigned char zeros[64] = {0};
    const size_t touch = grown < sizeof(zeros) ? grown : sizeof(zeros);
    cl_int err = vs__cl.EnqueueWriteBuffer(s->queue, mem, CL_TRUE, grown - touch, touch, zeros, 0,
                                           NULL, NULL);
    if (err != CL_SUCCESS) {
        char label[96];
        snprintf(label, sizeof(label), "clEnqueueWriteBuffer(%s, first touch of %zu B)", what,
                 grown);
        vs__cl.ReleaseMemObject(mem);
        return vs__cl_failed(ctx, label, err);
    }
    entry->mem = mem;
    entry->bytes = grown;
    report->device_buffers_created++;
    *out = mem;
    return VS_OK;
}

static void pool_release(cl_state *s) {
    for (int i = 0; i < P_COUNT; i++) {
        release_mem(&s->pool[i].mem);
        s->pool[i].bytes = 0;
    }
    if (s->readback.release != NULL) s->readback.release(&s->readback);
    memset(&s->readback, 0, sizeof(s->readback));
}

/*
 * The buffers of chunk slot i (0 or 1; chunks alternate): queries, their aux
 * values and, for copied top-k results, the result buffers. Slot 1 is made
 * only when a batch has a second chunk. 0 or a vs_status.
 */
static int use_slot(const vs__env *ctx, cl_state *s, const vs__batch *b, const plan *p, buffers *d,
                    int i) {
    vs_batch_report *report = b->report;
    const cl_mem_flags rw = CL_MEM_READ_WRITE, ro = CL_MEM_READ_ONLY;
    const size_t rows = p->rows;
    int status = pool_get(ctx, s, P_QUERIES + i, ro, rows * b->dim * sizeof(float), "queries",
                          &d->queries, report);
    if (status == VS_OK)
        status =
            pool_get(ctx, s, P_QAUX + i, ro, rows * sizeof(float), "query aux", &d->qaux, report);
    if (status == VS_OK && b->k && !p->zero_copy) {
        status = pool_get(ctx, s, P_OUT_SCORES + i, rw, rows * b->k * sizeof(float),
                          "result scores", &d->out_scores, report);
        if (status == VS_OK)
            status = pool_get(ctx, s, P_OUT_IDS + i, rw, rows * b->k * sizeof(int64_t),
                              "result ids", &d->out_ids, report);
    }
    return status;
}

/* Device buffers for the whole batch (make_plan sized them), from the pool. 0 or a vs_status. */
static int create_buffers(const vs__env *ctx, cl_state *s, const vs__batch *b, const plan *p,
                          buffers *d) {
    vs_batch_report *report = b->report;
    const cl_mem_flags rw = CL_MEM_READ_WRITE;
    const size_t rows = p->rows;
    int status = use_slot(ctx, s, b, p, d, 0);
    if (status == VS_OK && b->k && !p->fused)
        status = pool_get(ctx, s, P_TILE, rw, rows * p->columns * sizeof(float), "score tile",
                          &d->tile, report);
    if (p->survivors) {
        if (status == VS_OK)
            status = pool_get(ctx, s, P_SURVIVORS, rw, rows * p->survivors * sizeof(uint64_t),
                              "survivors", &d->survivors, report);
        if (status == VS_OK)
            status = pool_get(ctx, s, P_RUNNING, rw, rows * p->k * sizeof(uint64_t),
                              "running lists", &d->running, report);
        if (status == VS_OK)
            status = pool_get(ctx, s, P_THRESHOLDS, rw, rows * sizeof(uint64_t), "thresholds",
                              &d->thresholds, report);
        if (status == VS_OK)
            status = pool_get(ctx, s, P_STATE, rw, rows * 4 * sizeof(uint32_t), "survivor counts",
                              &d->state, report);
    } else if (b->k) {
        const size_t list = rows * p->segments * p->k, running = rows * p->k;
        if (status == VS_OK)
            status = pool_get(ctx, s, P_SEG_KEYS, rw, list * sizeof(float), "segment keys",
                              &d->seg_keys, report);
        if (status == VS_OK)
            status = pool_get(ctx, s, P_SEG_IDS, rw, list * sizeof(int64_t), "segment ids",
                              &d->seg_ids, report);
        for (int i = 0; i < 2 && status == VS_OK; i++) {
            status = pool_get(ctx, s, P_RUN_KEYS + i, rw, running * sizeof(float), "running keys",
                              &d->run_keys[i], report);
            if (status == VS_OK)
                status = pool_get(ctx, s, P_RUN_IDS + i, rw, running * sizeof(int64_t),
                                  "running ids", &d->run_ids[i], report);
        }
    }
    const size_t out_floats = output_floats(b);
    if (status == VS_OK && p->zero_copy) {
        /* The caller's memory, wrapped for this batch only (never pooled). */
        const cl_mem_flags wrap = CL_MEM_WRITE_ONLY | CL_MEM_USE_HOST_PTR;
        d->wrapped = 1;
        d->out_scores = make_buffer(ctx, s, wrap, out_floats * sizeof(float), b->scores,
                                    "caller scores", &status);
        if (status == VS_OK && b->k)
            d->out_ids = make_buffer(ctx, s, wrap, out_floats * sizeof(int64_t), b->ids,
                                     "caller ids", &status);
    }
    return status;
}

/*
 * Stages queries [q0, q0 + count) and their aux values (COSINE: scaled like
 * the corpus copy) in the pinned arena and writes them to the device. The
 * caller releases the arena to its mark once the device is done with them.
 */
static int stage_chunk(const vs__env *ctx, cl_state *s, const vs__batch *b, buffers *d, size_t q0,
                       size_t count, int slot) {
    float *staged = vs_arena_alloc_aligned(&s->staging, count * b->dim * sizeof(float), s->align);
    float *qaux = vs_arena_alloc_aligned(&s->staging, count * sizeof(float), s->align);
    if (staged == NULL || qaux == NULL) return VS_ERR_OUT_OF_MEMORY;
    memcpy(staged, b->queries + q0 * b->dim, count * b->dim * sizeof(float));
    for (size_t i = 0; i < count && b->metric != VS_METRIC_DOT; i++) {
        float *row = staged + i * b->dim;
        const double norm_sq = vs__norm_sq_f64(row, b->dim);
        int shift = 0;
        qaux[i] = b->metric == VS_METRIC_L2SQ ? (float)norm_sq : vs__cosine_aux(norm_sq, &shift);
        if (shift != 0) vs__scale_strided(row, b->dim, 1, shift); /* as the corpus copy */
    }
    if (b->metric == VS_METRIC_DOT) memset(qaux, 0, count * sizeof(float));
    /* The slot's buffers are free once the kernels of the chunk before last (same slot) are
     * done; the in-order transfer queue puts the aux values after the queries. */
    int status =
        write_to_device(ctx, s, d->queries, count * b->dim * sizeof(float), staged,
                        "clEnqueueWriteBuffer(queries)", b->report, d->computed[slot], NULL);
    release_event(&d->uploaded[slot]);
    if (status == VS_OK)
        status =
            write_to_device(ctx, s, d->qaux, count * sizeof(float), qaux,
                            "clEnqueueWriteBuffer(query aux)", b->report, NULL, &d->uploaded[slot]);
    if (status == VS_OK) status = flush(ctx, s->transfer, "transfer");
    s->gate = d->uploaded[slot]; /* the chunk's first kernel waits for it */
    return status;
}

/*
 * A copied score matrix, one tile: the two tile buffers and pinned slots
 * alternate, so the tile is scored while the one before crosses back. The
 * slot's previous tile is waited for and copied into the caller's matrix
 * first; this tile's read-back (transfer queue, after its kernel) is left
 * in flight.
 */
static int score_copied_tile(const vs__env *ctx, cl_state *s, const vs__batch *b, const plan *p,
                             buffers *d, const cl_part *part, size_t t0, size_t q0, size_t count,
                             size_t columns) {
    const int slot = (int)(d->tile_count++ % 2);
    pending *pd = &d->tiles[slot];
    unsigned char *base = NULL;
    const size_t slot_bytes = round_up(p->rows * p->columns * sizeof(float), 64);
    int status = drain(ctx, pd, b->report);
    if (status == VS_OK) status = readback_slots(ctx, s, slot_bytes, b->report, &base);
    if (status == VS_OK)
        status = pool_get(ctx, s, P_TILE + slot, CL_MEM_READ_WRITE,
                          p->rows * p->columns * sizeof(float), "score tile", &d->tile, b->report);
    if (status == VS_OK)
        status = score_tile(ctx, s, b, d, part, t0, columns, count, d->tile, 0, p->columns, 0);
    if (status != VS_OK) return status;
    float *into = (float *)(void *)(base + (size_t)slot * slot_bytes);
    const size_t origin[3] = {0, 0, 0};
    const size_t region[3] = {columns * sizeof(float), count, 1};
    double start = vs__now();
    cl_int err = vs__cl.EnqueueReadBufferRect(
        s->transfer, d->tile, CL_FALSE, origin, origin, region, p->columns * sizeof(float), 0,
        columns * sizeof(float), 0, into, 1, &s->last, &pd->done);
    b->report->transfer_seconds += vs__now() - start;
    b->report->bytes_copied += columns * count * sizeof(float);
    if (err != CL_SUCCESS) return vs__cl_failed(ctx, "clEnqueueReadBufferRect(scores)", err);
    *pd = (pending){.done = pd->done,
                    .from_scores = into,
                    .to_scores = b->scores + q0 * b->nc + part->first + t0,
                    .rows = count,
                    .width = columns,
                    .ld = b->nc};
    status = flush(ctx, s->queue, "compute");
    if (status == VS_OK) status = flush(ctx, s->transfer, "transfer");
    return status;
}

/*
 * The width of the tile of part pi from candidate t0 on: p->columns, but
 * for the threshold selection the chunk's first tile is no wider than the
 * survivor buffer. No query has a threshold before its first select, so
 * every score of the first tile survives: a tile wider than the buffer
 * would overflow every row (scored twice, then a select over the whole tile
 * row). At most cap wide, it fills the buffer without overflowing, the
 * select after it (the buffer is more than half full) runs over cap
 * entries and sets every threshold, and later tiles pass few scores.
 */
static size_t tile_width(const plan *p, const cl_part *part, size_t pi, size_t t0) {
    size_t width = p->columns;
    if (p->survivors && pi == 0 && t0 == 0 && p->survivors < width) width = p->survivors;
    return part->count - t0 < width ? part->count - t0 : width;
}

/*
 * Launches every tile of every corpus part for one staged chunk: top-k
 * (select, then merge into the running list; the last tile writes the
 * outputs), or the score matrix (in place, or through the tile buffer).
 */
static int launch_chunk(const vs__env *ctx, cl_state *s, const vs__batch *b, const plan *p,
                        buffers *d, const cl_corpus *corpus, size_t q0, size_t count) {
    int status = VS_OK;
    int current = 0, has_running = 0;
    const cl_ulong out_row = p->zero_copy ? (cl_ulong)q0 : 0;
    if (b->k && corpus->nparts == 0) /* no candidates: padding only */
        return merge_segments(ctx, s, b, p, d, count, 0, 0, &current, 1, out_row);
    if (p->survivors) status = reset_selection(ctx, s, d, count);
    for (size_t pi = 0; pi < corpus->nparts && status == VS_OK; pi++) {
        const cl_part *part = &corpus->parts[pi];
        for (size_t t0 = 0, columns = 0; t0 < part->count && status == VS_OK; t0 += columns) {
            columns = tile_width(p, part, pi, t0);
            const size_t id_base = part->first + t0;
            const int last = pi + 1 == corpus->nparts && t0 + columns >= part->count;
            if (b->k && p->survivors) {
                status = select_tile(ctx, s, b, p, d, part, t0, count, columns, last, out_row);
            } else if (b->k) {
                cl_uint segments = 0;
                status = select_segments(ctx, s, b, p, d, part, t0, count, columns, &segments);
                if (status == VS_OK)
                    status = merge_segments(ctx, s, b, p, d, count, segments, has_running, &current,
                                            last, out_row);
                has_running = 1;
            } else if (p->zero_copy) {
                status = score_tile(ctx, s, b, d, part, t0, columns, count, d->out_scores,
                                    (cl_ulong)q0 * b->nc + id_base, b->nc, 0);
            } else {
                status = score_copied_tile(ctx, s, b, p, d, part, t0, q0, count, columns);
            }
        }
    }
    return status;
}

/*
 * Copied top-k results: the chunk's count x k rows go back on the transfer
 * queue, after the chunk's last kernel, into the slot's pinned staging;
 * they reach the caller's memory when the slot is drained (the next chunk
 * but one, or the end of the batch), so the next chunk computes meanwhile.
 */
static int read_back_chunk(const vs__env *ctx, cl_state *s, const vs__batch *b, const plan *p,
                           buffers *d, size_t q0, size_t count, int slot) {
    pending *pd = &d->results[slot];
    unsigned char *base = NULL;
    const size_t score_bytes = round_up(p->rows * b->k * sizeof(float), 64);
    const size_t slot_bytes = score_bytes + round_up(p->rows * b->k * sizeof(int64_t), 64);
    int status = readback_slots(ctx, s, slot_bytes, b->report, &base);
    if (status != VS_OK) return status;
    float *scores = (float *)(void *)(base + (size_t)slot * slot_bytes);
    int64_t *ids = (int64_t *)(base + (size_t)slot * slot_bytes + score_bytes);
    double start = vs__now();
    cl_event after = d->computed[slot];
    cl_int err = vs__cl.EnqueueReadBuffer(s->transfer, d->out_scores, CL_FALSE, 0,
                                          count * b->k * sizeof(float), scores, after != NULL,
                                          after != NULL ? &after : NULL, NULL);
    if (err == CL_SUCCESS)
        err = vs__cl.EnqueueReadBuffer(s->transfer, d->out_ids, CL_FALSE, 0,
                                       count * b->k * sizeof(int64_t), ids, 0, NULL, &pd->done);
    b->report->transfer_seconds += vs__now() - start;
    b->report->bytes_copied += count * b->k * (sizeof(float) + sizeof(int64_t));
    if (err != CL_SUCCESS) return vs__cl_failed(ctx, "clEnqueueReadBuffer(results)", err);
    *pd = (pending){.done = pd->done,
                    .from_scores = scores,
                    .from_ids = ids,
                    .to_scores = b->scores + q0 * b->k,
                    .to_ids = b->ids + q0 * b->k,
                    .rows = 1,
                    .width = count * b->k,
                    .ld = 0};
    return flush(ctx, s->transfer, "transfer");
}

/* Zero-copy outputs: mapping makes the caller's memory current, without a copy. */
static int map_outputs(const vs__env *ctx, cl_state *s, const vs__batch *b, const buffers *d) {
    const size_t out_floats = output_floats(b);
    cl_mem outs[2] = {d->out_scores, b->k ? d->out_ids : NULL};
    const size_t out_bytes[2] = {out_floats * sizeof(float), out_floats * sizeof(int64_t)};
    for (int i = 0; i < 2; i++) {
        if (outs[i] == NULL) continue;
        cl_int err = CL_SUCCESS;
        double start = vs__now();
        void *mapped = vs__cl.EnqueueMapBuffer(s->queue, outs[i], CL_TRUE, CL_MAP_READ, 0,
                                               out_bytes[i], 0, NULL, NULL, &err);
        if (err != CL_SUCCESS) return vs__cl_failed(ctx, "clEnqueueMapBuffer(results)", err);
        void *host = i == 0 ? (void *)b->scores : (void *)b->ids;
        if (mapped == host)
            b->report->bytes_mapped += out_bytes[i];
        else {
            /* A driver that maps elsewhere: copy (and count it). */
            memcpy(host, mapped, out_bytes[i]);
            b->report->bytes_copied += out_bytes[i];
        }
        err = vs__cl.EnqueueUnmapMemObject(s->queue, outs[i], mapped, 0, NULL, NULL);
        if (err == CL_SUCCESS) err = vs__cl.Finish(s->queue);
        b->report->transfer_seconds += vs__now() - start;
        if (err != CL_SUCCESS) return vs__cl_failed(ctx, "clEnqueueUnmapMemObject(results)", err);
    }
    return VS_OK;
}

/*
 * Which path ran: the family and every kernel the batch launched, with its
 * tile parameters (score.cl's constants, the register block from the build).
 */
static void report_kernels(const cl_state *s, vs_batch_report *report) {
    snprintf(report->kernel_family, sizeof(report->kernel_family), "%s", family_names[s->family]);
    size_t used = 0;
    report->kernels[0] = '\0';
    for (int i = 0; i < K_COUNT; i++) {
        if (!(s->launched & (1u << i))) continue;
        char detail[64] = "";
        if (i == K_SCORE_BLOCKED)
            snprintf(detail, sizeof(detail), "(block %dx%d, tile %dx%dx%d)", s->block_rows,
                     s->block_columns, VS_CL_WG * s->block_rows, VS_CL_WG * s->block_columns,
                     VS_CL_BK);
        else if (i == K_SCORE_STREAM)
            snprintf(detail, sizeof(detail), "(queries <= %d, group %d)", VS_CL_STREAM_ROWS,
                     VS_CL_STREAM_WG);
        else if (i == K_SCORE_TILE)
            snprintf(detail, sizeof(detail), "(tile %dx%d)", VS_CL_TILE, VS_CL_TILE);
        else if (i >= K_COMPACT_F16_BLOCKED && i <= K_COMPACT_I8_BLOCKED)
            snprintf(detail, sizeof(detail), "(block %dx%d)", s->block_rows, s->block_columns);
        else if (i == K_SCORE_ROWS || i == K_TOPK_ROWS)
            snprintf(detail, sizeof(detail), "(%d queries per work-item)", VS_CL_ROWS);
        const int scores =
            i == K_SCORE_TILE || i == K_SCORE_ROWS || i == K_SCORE_BLOCKED || i == K_SCORE_STREAM;
        const size_t shown = strlen(detail);
        if (scores && s->filter_fused && shown > 0 && shown + 24 < sizeof(detail))
            snprintf(detail + shown - 1, sizeof(detail) - shown + 1, ", threshold test fused)");
        const size_t room = sizeof(report->kernels) - used;
        const int n = snprintf(report->kernels + used, room, "%s%s%s", used ? " " : "",
                               kernel_names[i], detail);
        if (n < 0 || (size_t)n >= room) break; /* truncated: what fits stays */
        used += (size_t)n;
    }
}

/* The report fields every batch sets first, and the build once per program. */
static void report_start(cl_state *s, vs_batch_report *report) {
    s->launched = 0;
    s->filter_fused = 0;
    snprintf(report->backend, sizeof(report->backend), "opencl");
    snprintf(report->device, sizeof(report->device), "%s", s->entry.info.name);
    report->isa[0] = '\0';
    report->threads = 0;
    if (s->built && !s->build_reported) { /* built when the context was created: say so once */
        report->compile_seconds = s->build_seconds;
        report->program_cache = s->build_cache;
        s->build_reported = 1;
    }
}

/*
 * One chunk of queries [q0, q0 + rows) in slot `slot` (chunks alternate
 * between two): its buffers, the rows of the chunk before last drained
 * from the slot, then stage and upload (transfer queue), every kernel
 * (compute queue, the first one after the upload), and for copied top-k
 * the read-back, left in flight. The staging arena is given back once the
 * upload is done, so the next chunk is staged while this one computes.
 */
static int run_chunk(const vs__env *ctx, cl_state *s, const vs__batch *b, const plan *p, buffers *d,
                     const cl_corpus *corpus, size_t q0, int slot) {
    const size_t count = b->nq - q0 < p->rows ? b->nq - q0 : p->rows;
    b->report->query_chunks++;
    int status = use_slot(ctx, s, b, p, d, slot);
    if (status == VS_OK) status = drain(ctx, &d->results[slot], b->report);
    if (status != VS_OK) return status;
    const size_t mark = vs_arena_mark(&s->staging);
    status = stage_chunk(ctx, s, b, d, q0, count, slot);
    if (status == VS_OK) status = launch_chunk(ctx, s, b, p, d, corpus, q0, count);
    release_event(&d->computed[slot]);
    d->computed[slot] = s->last; /* the chunk's last kernel: the slot is free after it */
    s->last = NULL;
    if (status == VS_OK && b->k && !p->zero_copy)
        status = read_back_chunk(ctx, s, b, p, d, q0, count, slot);
    if (status == VS_OK) status = flush(ctx, s->queue, "compute");
    if (status == VS_OK && d->uploaded[slot] != NULL)
        status = wait_event(ctx, d->uploaded[slot], "upload"); /* the staging is free after it */
    b->report->arena_high_water_bytes = s->staging.stats.high_water;
    if (status != VS_OK) { /* the device may still read the staged rows */
        vs__cl.Finish(s->transfer);
        vs__cl.Finish(s->queue);
    }
    vs_arena_release(&s->staging, mark);
    return status;
}

/*
 * One batch: plan, buffers, then per chunk of queries: stage, launch, read
 * back; finally map in-place outputs. Holds the state's lock throughout
 * except while per-call candidates are uploaded.
 */
static int run_batch(cl_state *s, vs__batch *b) {
    const vs__env *ctx = b->ctx;
    vs_batch_report *report = b->report;
    int status = VS_OK;
    cl_corpus *temporary = NULL;
    plan p;
    memset(&p, 0, sizeof(p)); /* p.zero_copy is read on the error path */
    buffers d;
    memset(&d, 0, sizeof(d));
    vs__cl_clear_error();

    pthread_mutex_lock(&s->lock);
    status = ensure_built(s, ctx, report);
    report_start(s, report);
    if (status != VS_OK) goto unlock;
    const cl_corpus *corpus = b->corpus;
    if (corpus == NULL) {
        /* Per-call candidates: uploaded for this call only, through the staging arena. */
        void *data = NULL;
        status = corpus_build(s, b->ctx, b->candidates, b->nc, b->dim, 1, &data);
        if (status != VS_OK) goto unlock;
        temporary = data;
        corpus = temporary;
        report->bytes_copied += b->nc * b->dim * sizeof(float);
    }
    status = make_plan(s, b, corpus, &p);
    if (status != VS_OK) {
        p.zero_copy = 0;
        vs__log(&ctx->log, VS_LOG_INFO,
                "opencl: the batch does not fit the device (dim %zu, k %zu, staging %zu B)", b->dim,
                b->k, s->staging.capacity);
        snprintf(b->why, sizeof(b->why), "the batch does not fit the device (dim %zu, k %zu)",
                 b->dim, b->k);
        goto unlock;
    }
    report->arena_capacity_bytes = s->staging.capacity;
    report->arena_pinned = s->staging.stats.pinned;
    vs_arena_stats_clear_high_water(&s->staging);
    if (b->nq == 0 || (b->nc == 0 && b->k == 0)) goto unlock;

    status = create_buffers(ctx, s, b, &p, &d);
    for (size_t q0 = 0, chunk = 0; q0 < b->nq && status == VS_OK; q0 += p.rows, chunk++)
        status = run_chunk(ctx, s, b, &p, &d, corpus, q0, (int)(chunk % 2));
    for (int i = 0; i < 2 && status == VS_OK; i++) { /* what is still in flight */
        status = drain(ctx, &d.results[i], report);
        if (status == VS_OK) status = drain(ctx, &d.tiles[i], report);
    }
    if (status == VS_OK) status = finish(ctx, s, report);
    if (status == VS_OK && p.zero_copy) status = map_outputs(ctx, s, b, &d);

unlock:
    /* After a failure both queues must be idle before buffers (and the caller's memory,
     * when wrapped in place) are given back; if that cannot be confirmed, the host
     * must not re-run the batch into memory the device may still write. */
    if (status != VS_OK) {
        const cl_int compute = vs__cl.Finish(s->queue);
        const cl_int transfer = vs__cl.Finish(s->transfer);
        if ((compute != CL_SUCCESS || transfer != CL_SUCCESS) && p.zero_copy) b->no_rerun = 1;
    }
    s->gate = NULL;
    release_event(&s->last);
    release_buffers(&d);
    if (status != VS_OK) pool_release(s); /* after a failure, start the next batch afresh */
    vs_arena_reset(&s->staging);
    report_kernels(s, report);
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
    pool_release(s);
    release_kernels(s);
    if (s->program != NULL) vs__cl.ReleaseProgram(s->program);
    if (s->transfer != NULL) vs__cl.ReleaseCommandQueue(s->transfer);
    if (s->queue != NULL) vs__cl.ReleaseCommandQueue(s->queue);
    if (s->context != NULL) vs__cl.ReleaseContext(s->context);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- compact corpora (cl/compact.c) ------------------------------------------------ */

/* The gpu family scans with the register-blocked compact kernels (vs_score_blocked's block). */
static vs__cl_compact_device compact_device(const cl_state *s) {
    const int blocked = s->family == VS__CL_KERNELS_GPU;
    return (vs__cl_compact_device){
        .context = s->context,
        .queue = s->queue,
        .kernels = {s->kernels[K_COMPACT_F16], s->kernels[K_COMPACT_BF16], s->kernels[K_COMPACT_I8],
                    s->kernels[K_COMPACT_F16_BLOCKED], s->kernels[K_COMPACT_BF16_BLOCKED],
                    s->kernels[K_COMPACT_I8_BLOCKED]},
        .blocked = blocked,
        .block_rows = s->block_rows,
        .block_columns = s->block_columns,
        .max_alloc = s->max_alloc};
}

static int compact_prepare(void *state, const vs__env *ctx, int storage, const void *codes,
                           size_t n, size_t dim, void **out, char *why, size_t why_size) {
    cl_state *s = state;
    pthread_mutex_lock(&s->lock);
    int status = ensure_built(s, ctx, NULL);
    const vs__cl_compact_device dev = compact_device(s);
    if (status == VS_OK)
        status = vs__cl_compact_upload(ctx, &dev, storage, codes, n, dim, (vs__cl_compact **)out,
                                       why, why_size);
    pthread_mutex_unlock(&s->lock);
    return status;
}

static void compact_release(void *state, void *compact) {
    cl_state *s = state;
    pthread_mutex_lock(&s->lock);
    vs__cl_compact_free(compact);
    pthread_mutex_unlock(&s->lock);
}

static int compact_scan(void *state, const vs__env *ctx, void *compact, const void *queries,
                        size_t rows, float *out_f, int64_t *out_i, vs_batch_report *report,
                        char *why, size_t why_size) {
    cl_state *s = state;
    pthread_mutex_lock(&s->lock);
    vs__cl_clear_error();
    report_start(s, report);
    const vs__cl_compact_device dev = compact_device(s);
    int kernel = 0;
    int status = vs__cl_compact_scan(ctx, &dev, compact, queries, rows, out_f, out_i, report,
                                     &kernel, why, why_size);
    if (status == VS_OK) s->launched |= 1u << (K_COMPACT_F16 + kernel);
    if (status != VS_OK && vs__cl.Finish(s->queue) != CL_SUCCESS) status = VS_ERR_DEVICE;
    report_kernels(s, report);
    pthread_mutex_unlock(&s->lock);
    if (status != VS_OK && why[0] == '\0' && vs__cl_last_error()[0] != '\0')
        snprintf(why, why_size, "%s", vs__cl_last_error());
    return status;
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
    .compact_prepare = compact_prepare,
    .compact_release = compact_release,
    .compact_scan = compact_scan,
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
    float *scores = vs_alloc_output(columns * columns * sizeof(float));
    int64_t *ids = vs_alloc_output(rows * big_k * sizeof(int64_t));
    /* fused (or unfused) top-k, unfused top-k, scores; then scores for 40 queries, which the
     * gpu family gives to vs_score_blocked (fewer go to vs_score_stream) */
    const size_t ks[] = {1, big_k, 0, 0}, nqs[] = {rows, rows, rows, columns};
    for (int i = 0; i < 4 && status == VS_OK; i++) {
        if (scores == NULL || ids == NULL) {
            status = VS_ERR_OUT_OF_MEMORY;
            break;
        }
        vs_batch_report report;
        memset(&report, 0, sizeof(report));
        vs__batch b = vs__batch_make(VS_METRIC_COSINE, vectors, nqs[i], dim, vectors, NULL, columns,
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

/* Local memory of vs_score_blocked with an r x c register block (two slabs per side). */
static size_t blocked_local_bytes(int r, int c) {
    return 2u * VS_CL_BK * ((size_t)VS_CL_WG * (size_t)(r + c) + 8) * sizeof(float);
}

/*
 * The GPU family's tile parameters: the block table's row for this device
 * (or ctx->cl_block_*), halved until the kernel fits the device's local
 * memory; a device that cannot run a 16 x 16 work-group at all runs the
 * tile family instead. The build options carry the choice (-D VS_RM, VS_RN).
 */
static void choose_blocks(const vs__env *ctx, cl_state *s, const vs__cl_entry *entry) {
    int r = 4, c = 4;
    for (size_t i = 0; i < sizeof(block_table) / sizeof(*block_table); i++) {
        const struct block_row *row = &block_table[i];
        if (row->kind >= 0 && row->kind != (int)entry->info.kind) continue;
        if (row->vendor != NULL && strstr(entry->info.vendor, row->vendor) == NULL) continue;
        r = row->rows;
        c = row->columns;
        break;
    }
    if (ctx->cl_block_rows > 0) {
        r = ctx->cl_block_rows;
        c = ctx->cl_block_columns;
    }
    cl_ulong local = 0;
    size_t group = 0;
    if (vs__cl.GetDeviceInfo(entry->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof(local), &local,
                             NULL) != CL_SUCCESS)
        local = 16384; /* the OpenCL 1.2 minimum */
    if (vs__cl.GetDeviceInfo(entry->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof(group), &group,
                             NULL) != CL_SUCCESS)
        group = 1;
    while (blocked_local_bytes(r, c) > local && (r > 1 || c > 1)) {
        if (r >= c)
            r /= 2;
        else
            c /= 2;
    }
    s->stream_ok = local >= VS_CL_STREAM_LOCAL && group >= VS_CL_STREAM_WG;
    s->merge_sorted_ok =
        local >= VS_CL_MERGE_CAP * (sizeof(float) + sizeof(int64_t)) && group >= VS_CL_MERGE_WG;
    s->select_ok = local >= VS_CL_SELECT_CAP * sizeof(uint64_t) + 1100 && group >= VS_CL_SELECT_WG;
    if (s->family == VS__CL_KERNELS_GPU &&
        (group < (size_t)VS_CL_WG * VS_CL_WG || blocked_local_bytes(r, c) > local)) {
        vs__log(&ctx->log, VS_LOG_INFO,
                "opencl: %s cannot run vs_score_blocked (work-groups up to %zu, %llu B local "
                "memory): the tile kernels run instead",
                entry->info.name, group, (unsigned long long)local);
        s->family = VS__CL_KERNELS_TILE;
    }
    s->block_rows = r;
    s->block_columns = c;
    snprintf(s->build_options, sizeof(s->build_options), "%s -DVS_RM=%d -DVS_RN=%d",
             VS_CL_BUILD_OPTIONS, r, c);
}

int vs__cl_backend_create(const vs__env *ctx, const vs__cl_entry *entry,
                          const vs__backend_ops **ops, void **state) {
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
    /* The kernel family: by device type unless the context's options force one. CPU cores
     * run the barrier-free kernels far faster than local-memory tiles. */
    const vs__env *cfg = ctx; /* knobs resolved once by host/context.c */
    s->family = cfg->cl_kernels;
    if (s->family == VS__CL_KERNELS_AUTO)
        s->family =
            entry->info.kind == VS_DEVICE_OPENCL_CPU ? VS__CL_KERNELS_CPU : VS__CL_KERNELS_GPU;
    s->rows_kernel = s->family == VS__CL_KERNELS_CPU;
    s->fused_policy = cfg->cl_fused;
    s->survivors_policy = cfg->cl_survivors;
    s->filter_policy = cfg->cl_filter;
    if (cfg->cl_max_alloc > 0) s->max_alloc = cfg->cl_max_alloc;
    choose_blocks(ctx, s, entry);
    const cl_context_properties properties[] = {CL_CONTEXT_PLATFORM,
                                                (cl_context_properties)entry->platform, 0};
    s->context = vs__cl.CreateContext(properties, 1, &entry->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        status = vs__cl_failed(ctx, "clCreateContext", err);
        goto cleanup;
    }
    s->queue = vs__cl.CreateCommandQueue(s->context, entry->device, 0, &err);
    if (err != CL_SUCCESS) {
        status = vs__cl_failed(ctx, "clCreateCommandQueue(compute)", err);
        goto cleanup;
    }
    s->transfer = vs__cl.CreateCommandQueue(s->context, entry->device, 0, &err);
    if (err != CL_SUCCESS) {
        status = vs__cl_failed(ctx, "clCreateCommandQueue(transfer)", err);
        goto cleanup;
    }
    vs_pinned_block block;
    status = vs__pinned_cl_alloc(ctx, s->context, s->queue, ctx->arena_bytes, &block);
    if (status != VS_OK) goto cleanup;
    status = vs_arena_init_block(&s->staging, block, s->align);
    if (status != VS_OK) goto cleanup;
    status = warm_up(s, ctx);
    if (status != VS_OK) goto cleanup;
    snprintf(s->description, sizeof(s->description),
             "%s (%s, %s, driver %s, %u compute units, max allocation %zu MiB, kernels %s%s)",
             entry->info.name, entry->info.platform, entry->info.selector,
             entry->info.driver_version, entry->info.compute_units, s->max_alloc >> 20,
             family_names[s->family],
             s->fused_policy == 0 ? ", unfused" : (s->fused_policy == 1 ? ", fused" : ""));
    *ops = &cl_ops;
    *state = s;
    return VS_OK;
cleanup:
    release(s);
    return status;
}
