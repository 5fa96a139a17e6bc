/*
 * backend.c — the native CPU backend: plans a batch, splits it over OpenMP
 * threads and drives the ISA kernels.
 *
 * Plan of one batch:
 *
 *   queries are processed in chunks that fit the staging arena (packed
 *   slivers + per-query aux values + heap headers);
 *   per chunk, threads split either
 *     - the candidates (each thread streams its own range of the base once,
 *       keeps private heaps for every query of the chunk, merged at the end), or
 *     - the queries (each thread owns whole queries; heaps live directly in
 *       the caller's output rows), when candidates are too few to share or the
 *       private heaps would not fit the scratch arenas;
 *   per thread, candidates go by blocks sized for the L2 cache: a corpus is
 *   already packed; per-call candidates are packed into the thread's scratch
 *   arena when enough queries share the cost, or scored in place (dot_rows)
 *   when queries are few.
 *
 * Every arena allocation for a chunk is made before any output is written,
 * so exhaustion is found while nothing has been written. Sizes are planned up
 * front, so a later chunk never fails where the first succeeded.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../host/internal.h"
#include "kernels.h"

/* Queries from which per-call candidates are packed for the tile kernel. */
#define VS_PACK_MIN_QUERIES 48
/* Target bytes of one packed candidate block (stays in L2 while all queries pass). */
#define VS_BLOCK_TARGET_BYTES ((size_t)512 << 10)
/* Candidates per block when scoring in place (rows path). */
#define VS_ROWS_BLOCK_CANDIDATES 256
/* Largest packed query chunk (keeps the queries a block meets in L2/L3). */
#define VS_CHUNK_MAX_BYTES ((size_t)8 << 20)
/*
 * Below this many multiply-adds one thread does the whole batch. Waking a
 * sleeping OpenMP team costs ~60 us here (futex), against ~3 us for a
 * spinning one, so the threshold follows OMP_WAIT_POLICY: with "passive"
 * (threads always sleep) only batches worth well over 100 us are split.
 */
#define VS_PARALLEL_MIN_WORK ((size_t)1 << 18)
#define VS_PARALLEL_MIN_WORK_PASSIVE ((size_t)1 << 22)
/* Queries per chunk below which the heaps are merged and sorted by one thread. */
#define VS_PARALLEL_MIN_MERGE 32

typedef struct cpu_state {
    const vs__cpu_kernels *kernels;
    int threads;
    size_t parallel_min_work; /* VS_PARALLEL_MIN_WORK or its passive variant */
    char description[96];
} cpu_state;

typedef struct cpu_corpus {
    size_t n, dim, nr;
    float *panels;   /* packed, 64-byte aligned */
    float *norm_sq;  /* |c|^2 */
    float *inv_norm; /* cosine aux */
} cpu_corpus;

/* ------------------------------------------------------------------ */
/* corpus                                                               */
/* ------------------------------------------------------------------ */

static void corpus_release(void *state, void *data) {
    (void)state;
    cpu_corpus *corpus = data;
    if (corpus == NULL) return;
    free(corpus->panels);
    free(corpus->norm_sq);
    free(corpus->inv_norm);
    free(corpus);
}

static int corpus_prepare(void *state, vs_context *ctx, const float *vectors, size_t n, size_t dim,
                          void **out) {
    cpu_state *cpu = state;
    const vs__cpu_kernels *kern = cpu->kernels;
    *out = NULL;
    cpu_corpus *corpus = calloc(1, sizeof(*corpus));
    if (corpus == NULL) return VS_ERR_OUT_OF_MEMORY;
    corpus->n = n;
    corpus->dim = dim;
    corpus->nr = kern->nr;
    /* Panels round n up to a multiple of nr; the host checked n * dim * 4. */
    size_t padded_rows = 0, floats = 0, bytes = 0;
    if (__builtin_add_overflow(n, kern->nr, &padded_rows) ||
        __builtin_mul_overflow(padded_rows, dim, &floats) ||
        __builtin_mul_overflow(floats, sizeof(float) * 2, &bytes))
        goto oom;
    floats = vs__packed_floats(n, dim, kern->nr);
    bytes = (floats * sizeof(float) + 63) / 64 * 64;
    if (bytes > 0 && (corpus->panels = aligned_alloc(64, bytes)) == NULL) goto oom;
    if (n > 0) {
        corpus->norm_sq = malloc(n * sizeof(float));
        corpus->inv_norm = malloc(n * sizeof(float));
        if (corpus->norm_sq == NULL || corpus->inv_norm == NULL) goto oom;
    }
    size_t panels = floats / (dim * kern->nr);
    int threads = cpu->threads;
#pragma omp parallel for num_threads(threads) schedule(static) if (n * dim > VS_PARALLEL_MIN_WORK)
    for (size_t p = 0; p < panels; p++) {
        size_t first = p * kern->nr;
        size_t count = n - first < kern->nr ? n - first : kern->nr;
        vs__pack_rows(vectors + first * dim, count, dim, kern->nr,
                      corpus->panels + p * kern->nr * dim);
        for (size_t j = first; j < first + count; j++) {
            float norm_sq = kern->dot(vectors + j * dim, vectors + j * dim, dim);
            corpus->norm_sq[j] = norm_sq;
            corpus->inv_norm[j] = vs__aux_from_norm_sq(VS_METRIC_COSINE, norm_sq);
        }
    }
    *out = corpus;
    return VS_OK;
oom:
    vs__log(ctx, VS_LOG_ERROR, "vs_corpus_create: cannot allocate %zu x %zu floats", n, dim);
    corpus_release(state, corpus);
    return VS_ERR_OUT_OF_MEMORY;
}

static void corpus_row(void *state, const void *data, size_t j, float *out) {
    (void)state;
    const cpu_corpus *corpus = data;
    const float *panel = corpus->panels + (j / corpus->nr) * corpus->nr * corpus->dim;
    for (size_t d = 0; d < corpus->dim; d++)
        out[d] = panel[d * corpus->nr + j % corpus->nr];
}

/* ------------------------------------------------------------------ */
/* planning                                                             */
/* ------------------------------------------------------------------ */

enum path { PATH_CORPUS, PATH_PACK, PATH_ROWS };

typedef struct plan {
    enum path path;
    size_t chunk;         /* queries per chunk */
    size_t sliver_floats; /* floats between packed slivers (mr * dim) */
    size_t block;         /* candidates per block (multiple of nr on packed paths) */
    size_t heap_size;     /* m = min(k, nc); 0 for score */
    int split_candidates;
    int threads;
} plan;

static size_t align64(size_t bytes) {
    return (bytes + 63) / 64 * 64;
}

/* Staging bytes a chunk of q queries needs. */
static size_t staging_bytes(const plan *p, size_t q, size_t mr, size_t dim, int topk) {
    size_t bytes = align64(q * sizeof(float)) + 64; /* aux */
    if (p->path != PATH_ROWS && q > 1)
        bytes += align64((q + mr - 1) / mr * mr * dim * sizeof(float)) + 64;
    if (topk) bytes += align64(q * sizeof(vs__heap)) + 64;
    return bytes;
}

/* Scratch bytes each worker needs for a chunk of q queries. */
static size_t scratch_bytes(const plan *p, size_t q, size_t dim, int topk, int worker) {
    size_t bytes = 0;
    if (p->path != PATH_CORPUS) bytes += align64(p->block * sizeof(float)) + 64; /* aux */
    if (p->path == PATH_PACK) bytes += align64(p->block * dim * sizeof(float)) + 64;
    if (topk && p->split_candidates && worker > 0)
        bytes += align64(q * sizeof(vs__heap)) + 64 +              /* headers */
                 align64(q * p->heap_size * sizeof(float)) + 64 +  /* keys */
                 align64(q * p->heap_size * sizeof(int64_t)) + 64; /* ids */
    return bytes;
}

static int make_plan(const cpu_state *cpu, const vs__batch *b, plan *p) {
    const vs__cpu_kernels *kern = cpu->kernels;
    const size_t mr = kern->mr, nr = kern->nr, dim = b->dim;
    const int topk = b->k > 0;
    const size_t staging_cap = b->ws->staging.capacity;
    const size_t scratch_cap = b->ws->scratch[0].capacity;
    memset(p, 0, sizeof(*p));
    p->heap_size = topk ? (b->k < b->nc ? b->k : b->nc) : 0;

    /* Threads: enough work, and at most the workspace's workers. */
    p->threads = cpu->threads;
    double work = (double)b->nq * (double)b->nc * (double)dim;
    if (work < (double)cpu->parallel_min_work) p->threads = 1;

    /* Path and candidate block. */
    if (b->corpus != NULL) {
        p->path = PATH_CORPUS;
    } else if (b->nq >= VS_PACK_MIN_QUERIES) {
        p->path = PATH_PACK;
    } else {
        p->path = PATH_ROWS;
    }
    if (p->path == PATH_ROWS) {
        p->block = VS_ROWS_BLOCK_CANDIDATES;
    } else {
        size_t per_candidate = dim * sizeof(float);
        p->block = VS_BLOCK_TARGET_BYTES / per_candidate / nr * nr;
        if (p->block < nr) p->block = nr;
        if (p->block > 64 * nr) p->block = 64 * nr;
        /* A per-call pack block must fit the scratch arena; else score in place. */
        if (p->path == PATH_PACK) {
            while (p->block > nr && scratch_bytes(p, 0, dim, 0, 0) > scratch_cap)
                p->block -= nr;
            if (scratch_bytes(p, 0, dim, 0, 0) > scratch_cap) {
                p->path = PATH_ROWS;
                p->block = VS_ROWS_BLOCK_CANDIDATES;
            }
        }
    }
    if (p->path == PATH_ROWS)
        while (p->block > 1 && scratch_bytes(p, 0, dim, 0, 0) > scratch_cap)
            p->block /= 2;
    if (scratch_bytes(p, 0, dim, 0, 0) > scratch_cap) return VS_ERR_OUT_OF_MEMORY;
    p->sliver_floats = mr * dim;

    /* Chunk: as many queries as staging holds, capped for cache locality. */
    size_t chunk = b->nq;
    size_t cap = VS_CHUNK_MAX_BYTES / (dim * sizeof(float));
    if (cap < mr) cap = mr;
    if (chunk > cap) chunk = cap / mr * mr;
    while (chunk > 1 && staging_bytes(p, chunk, mr, dim, topk) > staging_cap)
        chunk = chunk > mr ? (chunk / 2 + mr - 1) / mr * mr : chunk - 1;
    if (staging_bytes(p, chunk, mr, dim, topk) > staging_cap) return VS_ERR_OUT_OF_MEMORY;
    if (chunk == 1 && p->path == PATH_PACK) {
        /* Too little staging to pack: one query at a time, in place. */
        p->path = PATH_ROWS;
        p->block = VS_ROWS_BLOCK_CANDIDATES;
        while (p->block > 1 && scratch_bytes(p, 0, dim, 0, 0) > scratch_cap)
            p->block /= 2;
    }
    p->chunk = chunk;

    /* Split: candidates when there are enough to share and private heaps fit. */
    p->split_candidates = 0;
    if (p->threads > 1 && b->nc >= (size_t)p->threads * 4 * nr) {
        p->split_candidates = 1;
        if (topk && scratch_bytes(p, chunk, dim, topk, 1) > scratch_cap) p->split_candidates = 0;
        if (!p->split_candidates && b->nq < (size_t)p->threads) {
            /* Few queries and huge heaps: shrink heaps is impossible, run serially. */
            p->threads = 1;
        }
    }
    if (!p->split_candidates && p->threads > 1) {
        size_t units = p->path == PATH_ROWS ? (b->nq + VS_ROWS_BLOCK - 1) / VS_ROWS_BLOCK
                                            : (b->nq + mr - 1) / mr;
        if (units < 2) p->threads = 1;
    }
    if (p->threads > b->ws->threads) p->threads = b->ws->threads;
    return VS_OK;
}

/* ------------------------------------------------------------------ */
/* execution                                                            */
/* ------------------------------------------------------------------ */

typedef struct worker_buffers {
    float *caux;     /* block aux values (per-call candidates) */
    float *cpack;    /* packed block (PATH_PACK) */
    vs__heap *heaps; /* private heaps (candidate split, worker > 0) */
} worker_buffers;

typedef struct chunk_job {
    const vs__cpu_kernels *kern;
    const vs__batch *b;
    const plan *p;
    const cpu_corpus *corpus;
    size_t q_first; /* first query of the chunk in the batch */
    size_t q_count;
    const float *qpack; /* packed slivers, or the query rows themselves */
    size_t sliver_stride;
    float *qaux;
    vs__heap *heaps; /* chunk heaps in the output (topk) */
    worker_buffers *workers;
} chunk_job;

/* Candidate aux values for [c0, c0 + count) of per-call candidates. */
static void block_aux(const chunk_job *job, size_t c0, size_t count, float *caux) {
    const vs__batch *b = job->b;
    if (b->metric == VS_METRIC_DOT) return;
    for (size_t j = 0; j < count; j++) {
        const float *row = b->candidates + (c0 + j) * b->dim;
        caux[j] = vs__aux_from_norm_sq(b->metric, job->kern->dot(row, row, b->dim));
    }
}

/* One thread: queries [qa, qb) of the chunk against candidates [ca, cb). */
static void run_range(const chunk_job *job, int worker, size_t qa, size_t qb, size_t ca, size_t cb,
                      vs__heap *heaps) {
    const vs__cpu_kernels *kern = job->kern;
    const vs__batch *b = job->b;
    const plan *p = job->p;
    const size_t dim = b->dim, mr = kern->mr;
    if (qa >= qb || ca >= cb) return;
    vs__epilogue epi = {
        .metric = b->metric,
        .qaux = job->qaux,
        .scores = b->k ? NULL : b->scores + job->q_first * b->nc,
        .ld = b->nc,
        .heaps = heaps,
    };
    worker_buffers *wb = &job->workers[worker];
    for (size_t c0 = ca; c0 < cb; c0 += p->block) {
        size_t count = cb - c0 < p->block ? cb - c0 : p->block;
        switch (p->path) {
        case PATH_CORPUS: {
            const cpu_corpus *corpus = job->corpus;
            epi.caux = b->metric == VS_METRIC_COSINE ? corpus->inv_norm : corpus->norm_sq;
            epi.caux_base = 0;
            const float *cpack = corpus->panels + c0 * dim; /* c0 is panel-aligned */
            kern->block_packed(&epi, job->qpack + (qa / mr) * job->sliver_stride,
                               job->sliver_stride, qa, qb - qa, cpack, c0, count, dim);
            break;
        }
        case PATH_PACK: {
            block_aux(job, c0, count, wb->caux);
            epi.caux = wb->caux;
            epi.caux_base = c0;
            for (size_t j = 0; j < count; j += kern->nr) {
                size_t n = count - j < kern->nr ? count - j : kern->nr;
                vs__pack_rows(b->candidates + (c0 + j) * dim, n, dim, kern->nr,
                              wb->cpack + j * dim);
            }
            kern->block_packed(&epi, job->qpack + (qa / mr) * job->sliver_stride,
                               job->sliver_stride, qa, qb - qa, wb->cpack, c0, count, dim);
            break;
        }
        case PATH_ROWS:
            block_aux(job, c0, count, wb->caux);
            epi.caux = wb->caux;
            epi.caux_base = c0;
            kern->block_rows(&epi, b->queries + (job->q_first + qa) * dim, qa, qb - qa,
                             b->candidates + c0 * dim, c0, count, dim);
            break;
        }
    }
}

/* Splits [0, total) in `units`-sized pieces over `parts`; returns [*lo, *hi) of `part`. */
static void split_range(size_t total, size_t unit, int parts, int part, size_t *lo, size_t *hi) {
    size_t units = (total + unit - 1) / unit;
    size_t a = units * (size_t)part / (size_t)parts, z = units * (size_t)(part + 1) / (size_t)parts;
    *lo = a * unit < total ? a * unit : total;
    *hi = z * unit < total ? z * unit : total;
}

static void run_chunk(const chunk_job *job) {
    const plan *p = job->p;
    const vs__batch *b = job->b;
    const size_t mr = job->kern->mr;
    int team = 1;
#pragma omp parallel num_threads(p->threads) if (p->threads > 1)
    {
        int worker = omp_get_thread_num(), workers = omp_get_num_threads();
        if (worker == 0) team = workers; /* read after the region's join; no barrier needed */
        size_t lo, hi;
        if (p->split_candidates) {
            size_t unit = p->path == PATH_ROWS ? 1 : job->kern->nr;
            split_range(b->nc, unit, workers, worker, &lo, &hi);
            vs__heap *heaps = NULL;
            if (b->k) heaps = worker == 0 ? job->heaps : job->workers[worker].heaps;
            run_range(job, worker, 0, job->q_count, lo, hi, heaps);
        } else {
            size_t unit = p->path == PATH_ROWS ? VS_ROWS_BLOCK : mr;
            split_range(job->q_count, unit, workers, worker, &lo, &hi);
            run_range(job, worker, lo, hi, 0, b->nc, b->k ? job->heaps : NULL);
        }
    }
    if (!b->k) return;
    /* Merge private heaps into the output heaps, then sort and pad. */
    const float padding = b->metric == VS_METRIC_L2SQ ? INFINITY : -INFINITY;
    const int negate = b->metric == VS_METRIC_L2SQ;
    const int merge = p->split_candidates ? team : 1;
    /* A second team wake-up only pays when there are many heaps to finish. */
#pragma omp parallel for num_threads(p->threads)                                                   \
    schedule(static) if (p->threads > 1 && job->q_count >= VS_PARALLEL_MIN_MERGE)
    for (size_t i = 0; i < job->q_count; i++) {
        for (int w = 1; w < merge; w++)
            vs__heap_merge(&job->heaps[i], &job->workers[w].heaps[i]);
        size_t row = job->q_first + i;
        vs__heap_finish(&job->heaps[i], negate, padding, b->scores + row * b->k,
                        b->ids + row * b->k, b->k);
    }
}

/* Allocates every buffer a chunk of q queries needs. Returns 0 or OOM. */
static int chunk_alloc(chunk_job *job, size_t q, worker_buffers *workers) {
    const vs__batch *b = job->b;
    const plan *p = job->p;
    vs__workspace *ws = b->ws;
    const size_t mr = job->kern->mr, dim = b->dim;
    job->qaux = vs_arena_alloc_array(&ws->staging, q, sizeof(float));
    job->qpack = NULL;
    job->sliver_stride = mr * dim;
    if (p->path != PATH_ROWS && q > 1)
        job->qpack =
            vs_arena_alloc_array(&ws->staging, (q + mr - 1) / mr * mr * dim, sizeof(float));
    job->heaps = b->k ? vs_arena_alloc_array(&ws->staging, q, sizeof(vs__heap)) : NULL;
    for (int w = 0; w < p->threads; w++) {
        vs_arena *scratch = &ws->scratch[w];
        memset(&workers[w], 0, sizeof(workers[w]));
        if (p->path != PATH_CORPUS)
            workers[w].caux = vs_arena_alloc_array(scratch, p->block, sizeof(float));
        if (p->path == PATH_PACK)
            workers[w].cpack = vs_arena_alloc_array(scratch, p->block * dim, sizeof(float));
        if (b->k && p->split_candidates && w > 0) {
            workers[w].heaps = vs_arena_alloc_array(scratch, q, sizeof(vs__heap));
            float *keys = vs_arena_alloc_array(scratch, q * p->heap_size, sizeof(float));
            int64_t *ids = vs_arena_alloc_array(scratch, q * p->heap_size, sizeof(int64_t));
            if (workers[w].heaps != NULL && keys != NULL && ids != NULL)
                for (size_t i = 0; i < q; i++)
                    vs__heap_init(&workers[w].heaps[i], keys + i * p->heap_size,
                                  ids + i * p->heap_size, p->heap_size);
        }
        if (vs_arena_failed(scratch)) return VS_ERR_OUT_OF_MEMORY;
    }
    if (vs_arena_failed(&ws->staging)) return VS_ERR_OUT_OF_MEMORY;
    job->workers = workers;
    return VS_OK;
}

/* Fills aux values, packed slivers and output heaps for the chunk. */
static void chunk_stage(chunk_job *job) {
    const vs__batch *b = job->b;
    const size_t mr = job->kern->mr, dim = b->dim;
    const float *rows = b->queries + job->q_first * dim;
    for (size_t i = 0; i < job->q_count; i++) {
        const float *row = rows + i * dim;
        job->qaux[i] = b->metric == VS_METRIC_DOT
                           ? 0.0f
                           : vs__aux_from_norm_sq(b->metric, job->kern->dot(row, row, dim));
    }
    if (job->qpack != NULL) {
        for (size_t s = 0; s * mr < job->q_count; s++) {
            size_t n = job->q_count - s * mr < mr ? job->q_count - s * mr : mr;
            vs__pack_rows(rows + s * mr * dim, n, dim, n,
                          (float *)job->qpack + s * job->sliver_stride);
        }
    } else {
        job->qpack = rows; /* one query: a one-row sliver is the row itself */
    }
    if (b->k) {
        for (size_t i = 0; i < job->q_count; i++) {
            size_t row = job->q_first + i;
            vs__heap_init(&job->heaps[i], b->scores + row * b->k, b->ids + row * b->k,
                          job->p->heap_size);
        }
    }
}

static void write_padding(const vs__batch *b) {
    const float padding = b->metric == VS_METRIC_L2SQ ? INFINITY : -INFINITY;
    for (size_t i = 0; i < b->nq * b->k; i++) {
        b->scores[i] = padding;
        b->ids[i] = -1;
    }
}

static int cpu_run(void *state, vs__batch *b) {
    cpu_state *cpu = state;
    vs_batch_report *report = b->report;
    snprintf(report->backend, sizeof(report->backend), "cpu");
    snprintf(report->isa, sizeof(report->isa), "%s", cpu->kernels->isa);
    snprintf(report->device, sizeof(report->device), "%s", cpu->description);
    report->threads = 1;
    if (b->nq == 0) return VS_OK;
    if (b->nc == 0) {
        if (b->k) write_padding(b);
        return VS_OK;
    }
    plan p;
    int status = make_plan(cpu, b, &p);
    if (status != VS_OK) {
        vs__log(b->ctx, VS_LOG_ERROR,
                "batch does not fit the arenas (staging %zu B, scratch %zu B per worker) "
                "for dim %zu; raise arena_bytes/scratch_bytes",
                b->ws->staging.capacity, b->ws->scratch[0].capacity, b->dim);
        return status;
    }
    report->threads = p.threads;
    worker_buffers workers[VS_MAX_THREADS];
    chunk_job job = {.kern = cpu->kernels, .b = b, .p = &p, .corpus = b->corpus};
    double kernel_seconds = 0.0;
    for (size_t q0 = 0; q0 < b->nq; q0 += p.chunk) {
        size_t q = b->nq - q0 < p.chunk ? b->nq - q0 : p.chunk;
        size_t staging_mark = vs_arena_mark(&b->ws->staging);
        size_t scratch_marks[VS_MAX_THREADS];
        for (int w = 0; w < p.threads; w++)
            scratch_marks[w] = vs_arena_mark(&b->ws->scratch[w]);
        job.q_first = q0;
        job.q_count = q;
        status = chunk_alloc(&job, q, workers);
        if (status != VS_OK) {
            /* Only possible on the first chunk: later chunks reuse the same space. */
            vs__log(b->ctx, VS_LOG_ERROR, "arena exhausted staging a chunk of %zu queries", q);
            return status;
        }
        chunk_stage(&job);
        double t0 = vs__now();
        run_chunk(&job);
        kernel_seconds += vs__now() - t0;
        report->query_chunks++;
        vs_arena_release(&b->ws->staging, staging_mark);
        for (int w = 0; w < p.threads; w++)
            vs_arena_release(&b->ws->scratch[w], scratch_marks[w]);
    }
    report->kernel_seconds = kernel_seconds;
    return VS_OK;
}

static const char *cpu_describe(void *state) {
    return ((cpu_state *)state)->description;
}

static void cpu_release(void *state) {
    free(state);
}

static const vs__backend_ops cpu_ops = {
    .name = "cpu",
    .describe = cpu_describe,
    .corpus_prepare = corpus_prepare,
    .corpus_release = corpus_release,
    .corpus_row = corpus_row,
    .score = cpu_run,
    .topk = cpu_run,
    .release = cpu_release,
};

int vs__cpu_backend_create(vs_context *ctx, const char *isa, const vs__backend_ops **ops,
                           void **state) {
    const vs__cpu_kernels *kernels;
    int status = vs__cpu_kernels_get(isa, &kernels);
    if (status == VS_ERR_UNSUPPORTED) {
        vs__log(ctx, VS_LOG_ERROR, "ISA '%s' was requested but this CPU does not support it", isa);
        return status;
    }
    if (status != VS_OK) {
        char known[64] = "";
        for (int i = 0; vs_cpu_isa_name(i) != NULL; i++) {
            size_t used = strlen(known);
            snprintf(known + used, sizeof(known) - used, "%s%s", i > 0 ? ", " : "",
                     vs_cpu_isa_name(i));
        }
        vs__log(ctx, VS_LOG_ERROR, "unknown ISA '%s' (expected one of %s)", isa, known);
        return status;
    }
    cpu_state *cpu = calloc(1, sizeof(*cpu));
    if (cpu == NULL) return VS_ERR_OUT_OF_MEMORY;
    cpu->kernels = kernels;
    cpu->threads = ctx->cfg.threads;
    const char *wait = getenv("OMP_WAIT_POLICY");
    cpu->parallel_min_work = wait != NULL && strcasecmp(wait, "passive") == 0
                                 ? VS_PARALLEL_MIN_WORK_PASSIVE
                                 : VS_PARALLEL_MIN_WORK;
    snprintf(cpu->description, sizeof(cpu->description), "native CPU (%s, %d thread%s)",
             kernels->isa, cpu->threads, cpu->threads == 1 ? "" : "s");
    *ops = &cpu_ops;
    *state = cpu;
    ctx->isa = kernels->isa;
    return VS_OK;
}
