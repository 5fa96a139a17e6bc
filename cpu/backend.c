/*
 * backend.c — the native CPU backend: plans a batch, splits it into units of
 * work for the library's worker pool (pool.h) and drives the ISA kernels.
 *
 * Plan of one batch:
 *
 *   queries are processed in chunks that fit the staging arena (packed
 *   slivers + per-query aux values + heap headers);
 *   the caller alone runs a chunk as one unit when the batch is estimated to
 *   take less than twice what it costs to get a helper (both measured: the
 *   seconds per multiply-add of each path on the calling thread, and the
 *   pool's join time); otherwise the chunk is cut into up to 8 units per
 *   participant (fewer when a unit would take less than 16 times what any
 *   unit costs: the fastest helper join plus, for top-k candidate ranges,
 *   filling and merging a fresh set of heaps), which the caller and the
 *   pool's helpers claim one at a time:
 *     - candidate ranges (each unit streams its own range of the base once
 *       against every query of the chunk, into its own heaps; range 0 uses
 *       the output heaps, ranges 1.. private heaps in the staging arena,
 *       merged afterwards in range order); against a corpus, a chunk of 512
 *       queries or more is also cut into query groups, a unit being one
 *       group against one range, in that range's heaps; or
 *     - query ranges (each unit owns whole queries; heaps live directly in
 *       the caller's output rows and are finished by the unit), when
 *       candidates are too few to share or the private heaps do not fit;
 *   per unit, candidates go by blocks sized for the L2 cache: a corpus is
 *   already packed; per-call candidates are packed into the participant's
 *   scratch arena when enough queries share the cost, or scored in place
 *   (dot_rows) when queries are few.
 *
 * Results do not depend on the number of participants or on timing: a score
 * depends only on its (query, candidate) pair, and top-k keeps the best m
 * under a total order (ties by id), merged in range order.
 *
 * Every arena allocation for a chunk (every participant slot included) is
 * made by the caller before any output is written, so exhaustion is found
 * while nothing has been written. Sizes are planned up front, so a later
 * chunk never fails where the first succeeded.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../arena/pinned.h"
#include "../backend/backend.h"
#include "kernels.h"
#include "pool.h"

/* Queries from which per-call candidates are packed for the tile kernel. */
#define VS_PACK_MIN_QUERIES 48
/* Target bytes of one packed candidate block (stays in L2 while all queries pass). */
#define VS_BLOCK_TARGET_BYTES ((size_t)512 << 10)
/* Candidates per block when scoring in place (rows path). */
#define VS_ROWS_BLOCK_CANDIDATES 256
/* Largest packed query chunk (keeps the queries a block meets in L2/L3). */
#define VS_CHUNK_MAX_BYTES ((size_t)8 << 20)
/*
 * Most units per participant: enough that a helper descheduled in its last
 * unit (on a busy machine) holds the call up by a small part of it.
 */
#define VS_UNITS_PER_PARTICIPANT 8
/* A unit should take at least this many of the fastest helper joins (so that a unit pays). */
#define VS_UNIT_MIN_JOINS 16
/* Queries a merge unit merges and sorts. */
#define VS_MERGE_UNIT_QUERIES 16
/*
 * Candidate split of a large chunk against a corpus (whose panels are
 * packed once, not per unit): the units are query groups (up to
 * VS_QUERY_GROUPS_MAX of at least VS_QUERY_GROUP_MIN queries) times candidate
 * ranges, instead of candidate ranges alone. A group uses its range's heaps
 * (each query's heap still gets the range's candidates in order, from one
 * unit), so for the same number of units there are fewer ranges, and so
 * fewer fresh heaps to fill and merge: at 1024 x 100k top-10 on 2 threads,
 * 4 ranges x 4 groups instead of 16 ranges take about 350 heap insertions
 * per query instead of about 1200. A group still reuses each candidate
 * block for hundreds of queries.
 */
#define VS_QUERY_GROUPS_MAX 4
#define VS_QUERY_GROUP_MIN 256

enum path { PATH_CORPUS, PATH_PACK, PATH_ROWS };

/* What the split decision measures, per context (shared by its callers; races only lose samples).
 */
enum rate {
    RATE_CORPUS = PATH_CORPUS,
    RATE_PACK = PATH_PACK,
    RATE_ROWS = PATH_ROWS,
    RATE_MERGE,
    RATE_INSERT, /* seconds per insertion into a filling heap (measured once, not updated) */
    RATE_COUNT
};

typedef struct cpu_state {
    const vs__cpu_kernels *kernels;
    int threads;
    /*
     * Seconds per multiply-add of each path (per merged heap entry for
     * RATE_MERGE) as the calling thread ran them lately: seeded by a short
     * measurement when the backend is made, then a moving average of every
     * batch's own units. RATE_INSERT keeps its seed.
     */
    _Atomic double rate[RATE_COUNT];
    char description[96];
} cpu_state;

typedef struct cpu_corpus {
    size_t n, dim, nr;
    float *panels;   /* packed, 64-byte aligned */
    float *norm_sq;  /* |c|^2 */
    float *inv_norm; /* cosine aux (VS_CAUX_RESCUE: scored in float64, see kernels.h) */
    size_t rescued;  /* candidates marked VS_CAUX_RESCUE */
} cpu_corpus;

/* ------------------------------------------------------------------ */
/* corpus                                                               */
/* ------------------------------------------------------------------ */

static double rate_get(const cpu_state *cpu, enum rate which) {
    return atomic_load_explicit(&cpu->rate[which], memory_order_relaxed);
}

/*
 * Folds a sample (seconds for `amount` of work, on the calling thread) into a
 * rate: a moving average of logarithms that follows a faster sample at once
 * (half way) and a slower one slowly (an eighth), since a slow sample is
 * usually the caller having been descheduled, not the work getting harder.
 */
static void rate_observe(cpu_state *cpu, enum rate which, double seconds, double amount) {
    if (!(seconds > 1e-6) || !(amount > 0)) return; /* too short to mean anything */
    const double sample = seconds / amount, old = rate_get(cpu, which);
    const double step = log(sample / old);
    const double moved = exp(log(old) + (step < 0 ? step / 2 : step / 8));
    atomic_store_explicit(&cpu->rate[which], moved, memory_order_relaxed);
}

/*
 * Participants for work estimated to take `seconds` on the caller alone: all
 * the context's threads when that is more than twice what a helper costs
 * (measured by the pool), else 1; some declined calls are split anyway
 * (vs__pool_probe), so that the estimate can come down after a busy spell.
 * *units receives the units to cut the work into: VS_UNITS_PER_PARTICIPANT
 * per participant, fewer when a unit would take less than VS_UNIT_MIN_JOINS
 * times what every unit costs whatever its size: handing it out (the fastest
 * join seen) plus `unit_fixed`, the caller's estimate of the unit's own fixed
 * work (for top-k candidate ranges: filling a fresh set of heaps and merging
 * it, see range_fixed_seconds). Small batches lose more to the cuts than
 * they gain in balance.
 */
static int participants_for(const cpu_state *cpu, double seconds, double unit_fixed,
                            size_t *units) {
    *units = 1;
    if (cpu->threads <= 1) return 1;
    const double join = vs__pool_join_seconds(cpu->threads - 1);
    if (!isfinite(join)) return 1;
    if (!(seconds > 2 * join) && !vs__pool_probe(seconds)) return 1;
    const int threads = cpu->threads;
    /* A fastest join of 0 is a forced split (testing): as many units as allowed. */
    const double fastest = vs__pool_join_fastest();
    const double fixed = fastest > 0 ? fastest + unit_fixed : 0;
    double per =
        fixed > 0 ? seconds / (VS_UNIT_MIN_JOINS * fixed * threads) : VS_UNITS_PER_PARTICIPANT;
    if (!(per >= 1)) per = 1;
    if (per > VS_UNITS_PER_PARTICIPANT) per = VS_UNITS_PER_PARTICIPANT;
    *units = (size_t)threads * (size_t)per;
    return threads;
}

static void corpus_release(void *state, void *data) {
    (void)state;
    cpu_corpus *corpus = data;
    if (corpus == NULL) return;
    free(corpus->panels);
    free(corpus->norm_sq);
    free(corpus->inv_norm);
    free(corpus);
}

/* Packing a corpus: each unit packs a run of panels and computes their norms. */
typedef struct pack_job {
    const vs__cpu_kernels *kern;
    const float *vectors;
    size_t n, dim, panels_per_unit;
    cpu_corpus *corpus;
} pack_job;

static void pack_unit(void *arg, size_t unit, int slot) {
    (void)slot;
    const pack_job *job = arg;
    const vs__cpu_kernels *kern = job->kern;
    const float *vectors = job->vectors;
    const size_t n = job->n, dim = job->dim;
    cpu_corpus *corpus = job->corpus;
    const size_t first_panel = unit * job->panels_per_unit;
    const size_t panels = vs__packed_floats(n, dim, kern->nr) / (dim * kern->nr);
    const size_t end_panel =
        first_panel + job->panels_per_unit < panels ? first_panel + job->panels_per_unit : panels;
    for (size_t p = first_panel; p < end_panel; p++) {
        size_t first = p * kern->nr;
        size_t count = n - first < kern->nr ? n - first : kern->nr;
        vs__pack_rows(vectors + first * dim, count, dim, kern->nr,
                      corpus->panels + p * kern->nr * dim);
        for (size_t j = first; j < first + count; j++) {
            /* Once per corpus, so in float64 (docs/numerics.md). */
            const double norm_sq = vs__norm_sq_f64(vectors + j * dim, dim);
            int shift;
            corpus->norm_sq[j] = (float)norm_sq;
            corpus->inv_norm[j] = vs__cosine_aux(norm_sq, &shift);
            if (shift != 0) corpus->inv_norm[j] = VS_CAUX_RESCUE;
        }
    }
}

static int corpus_prepare(void *state, const vs__env *ctx, const float *vectors, size_t n,
                          size_t dim, void **out) {
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
    /* Large panels on huge pages where the kernel gives them (arena/pinned.h, docs/isa.md). */
    bytes = floats * sizeof(float);
    if (bytes > 0 && (corpus->panels = vs__alloc_large(bytes, NULL)) == NULL) goto oom;
    if (n > 0) {
        corpus->norm_sq = malloc(n * sizeof(float));
        corpus->inv_norm = malloc(n * sizeof(float));
        if (corpus->norm_sq == NULL || corpus->inv_norm == NULL) goto oom;
    }
    size_t panels = floats / (dim * kern->nr);
    pack_job job = {.kern = kern, .vectors = vectors, .n = n, .dim = dim, .corpus = corpus};
    size_t units;
    const int participants =
        participants_for(cpu, 2.0 * (double)n * (double)dim * rate_get(cpu, RATE_ROWS), 0, &units);
    if (units > panels) units = panels;
    if (units > 0) {
        job.panels_per_unit = (panels + units - 1) / units;
        units = (panels + job.panels_per_unit - 1) / job.panels_per_unit;
        vs__pool_run(pack_unit, &job, units, participants, NULL);
    }
    for (size_t j = 0; j < n; j++)
        corpus->rescued += corpus->inv_norm[j] == VS_CAUX_RESCUE;
    *out = corpus;
    return VS_OK;
oom:
    vs__log(&ctx->log, VS_LOG_ERROR, "vs_corpus_create: cannot allocate %zu x %zu floats", n, dim);
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

typedef struct plan {
    enum path path;
    size_t chunk;         /* queries per chunk */
    size_t sliver_floats; /* floats between packed slivers (mr * dim) */
    size_t block;         /* candidates per block (multiple of nr on packed paths) */
    size_t heap_size;     /* m = min(k, nc); 0 for score */
    int cosine;           /* queries read in place get a staged copy to scale into */
    int split_candidates; /* units are candidate ranges (else query ranges) */
    size_t ranges;        /* candidate split: number of ranges */
    size_t range_span;    /* candidate split: candidates per range */
    size_t query_groups;  /* candidate split: query groups of a full chunk (units: x ranges) */
    size_t query_units;   /* query split: units of a full chunk */
    int threads;          /* participants: 1 = the caller alone */
    double seconds;       /* estimated seconds on the caller alone */
} plan;

static size_t align64(size_t bytes) {
    return (bytes + 63) / 64 * 64;
}

/* Staging bytes a chunk of q queries needs, without private range heaps. */
static size_t staging_bytes(const plan *p, size_t q, size_t mr, size_t dim, int topk) {
    size_t bytes = align64(q * sizeof(float)) + 64; /* aux */
    if (p->path != PATH_ROWS && q > 1)
        bytes += align64((q + mr - 1) / mr * mr * dim * sizeof(float)) + 64;
    else if (p->cosine)
        bytes += align64(q * dim * sizeof(float)) + 64; /* scaled copy (chunk_stage) */
    if (topk) bytes += align64(q * sizeof(vs__heap)) + 64;
    return bytes;
}

/* Staging bytes of one set of private heaps (one candidate range) for q queries. */
static size_t range_heap_bytes(const plan *p, size_t q) {
    return align64(q * sizeof(vs__heap)) + 64 +              /* headers */
           align64(q * p->heap_size * sizeof(float)) + 64 +  /* keys */
           align64(q * p->heap_size * sizeof(int64_t)) + 64; /* ids */
}

/* Staging bytes of the per-slot buffer table. */
static size_t slot_table_bytes(int slots);

/* Scratch bytes each participant needs. */
static size_t scratch_bytes(const plan *p, size_t dim) {
    size_t bytes = 0;
    if (p->path != PATH_CORPUS) bytes += align64(p->block * sizeof(float)) + 64; /* aux */
    if (p->path == PATH_PACK) bytes += align64(p->block * dim * sizeof(float)) + 64;
    return bytes;
}

/*
 * The fixed work of one candidate range of a top-k chunk, in seconds: each
 * of its q heaps of m entries starts empty, so it takes its first m
 * candidates and then, for candidates in random order, about m ln(n/m) more
 * of the n it sees before its threshold is as high as one long stream's
 * would be; then its m entries are merged into the output. At the finest
 * split (VS_UNITS_PER_PARTICIPANT ranges per participant), priced at the
 * measured seconds per insertion into a filling heap (RATE_INSERT). With 16 ranges of
 * 1 x 1000 x 768 top-10 this is about 30 insertions per range against 6 per
 * range in 2, and the split took 62 us against 43 us.
 */
static double range_fixed_seconds(const cpu_state *cpu, size_t q, size_t m, size_t nc,
                                  int threads) {
    if (m == 0) return 0;
    const double per_range = (double)nc / ((double)threads * VS_UNITS_PER_PARTICIPANT);
    const double fill =
        per_range > (double)m ? (double)m * (1.0 + log(per_range / (double)m)) : per_range;
    return (double)q * (fill + (double)m) * rate_get(cpu, RATE_INSERT);
}

/* The rows path's block: the default, halved until its scratch fits. */
static void plan_rows_block(plan *p, size_t dim, size_t scratch_cap) {
    p->path = PATH_ROWS;
    p->block = VS_ROWS_BLOCK_CANDIDATES;
    while (p->block > 1 && scratch_bytes(p, dim) > scratch_cap)
        p->block /= 2;
}

/* Path and candidate block, within the scratch arena of each participant. */
static int plan_path_block(const vs__batch *b, size_t nr, size_t scratch_cap, plan *p) {
    const size_t dim = b->dim;
    if (b->corpus != NULL) {
        p->path = PATH_CORPUS;
    } else if (b->nq >= VS_PACK_MIN_QUERIES) {
        p->path = PATH_PACK;
    } else {
        plan_rows_block(p, dim, scratch_cap);
        return scratch_bytes(p, dim) > scratch_cap ? VS_ERR_OUT_OF_MEMORY : VS_OK;
    }
    size_t per_candidate = dim * sizeof(float);
    p->block = VS_BLOCK_TARGET_BYTES / per_candidate / nr * nr;
    if (p->block < nr) p->block = nr;
    if (p->block > 64 * nr) p->block = 64 * nr;
    /* A per-call pack block must fit the scratch arena; else score in place. */
    if (p->path == PATH_PACK) {
        while (p->block > nr && scratch_bytes(p, dim) > scratch_cap)
            p->block -= nr;
        if (scratch_bytes(p, dim) > scratch_cap) plan_rows_block(p, dim, scratch_cap);
    }
    return scratch_bytes(p, dim) > scratch_cap ? VS_ERR_OUT_OF_MEMORY : VS_OK;
}

/*
 * Chunk: as many queries as staging holds (next to the slot table of
 * slots_room bytes), capped for cache locality.
 */
static int plan_chunk(const vs__batch *b, size_t mr, size_t slots_room, plan *p) {
    const size_t dim = b->dim;
    const int topk = b->k > 0;
    const size_t staging_cap = b->ws->staging.capacity;
    size_t chunk = b->nq;
    size_t cap = VS_CHUNK_MAX_BYTES / (dim * sizeof(float));
    if (cap < mr) cap = mr;
    if (chunk > cap) chunk = cap / mr * mr;
    while (chunk > 1 && staging_bytes(p, chunk, mr, dim, topk) + slots_room > staging_cap)
        chunk = chunk > mr ? (chunk / 2 + mr - 1) / mr * mr : chunk - 1;
    if (staging_bytes(p, chunk, mr, dim, topk) + slots_room > staging_cap)
        return VS_ERR_OUT_OF_MEMORY;
    if (chunk == 1 && p->path == PATH_PACK) {
        /* Too little staging to pack: one query at a time, in place. */
        plan_rows_block(p, dim, b->ws->scratch[0].capacity);
    }
    p->chunk = chunk;
    return VS_OK;
}

/*
 * Query groups of a candidate split of a chunk into about want units: up to
 * VS_QUERY_GROUPS_MAX of at least VS_QUERY_GROUP_MIN queries, and at most
 * want / 2, so that there are still 2 ranges or more.
 */
static size_t plan_query_groups(size_t chunk, size_t want) {
    size_t groups = chunk / VS_QUERY_GROUP_MIN;
    if (groups > VS_QUERY_GROUPS_MAX) groups = VS_QUERY_GROUPS_MAX;
    if (groups > want / 2) groups = want / 2;
    return groups < 1 ? 1 : groups;
}

/*
 * Split of a chunk among p->threads participants into at most want units:
 * candidate ranges when there are enough candidates to share and their
 * private heaps fit staging (times query groups when the chunk is large,
 * plan_query_groups), else query ranges; the caller alone when
 * neither gives two units.
 */
static void plan_split(const vs__batch *b, size_t mr, size_t nr, size_t slots_room, size_t want,
                       plan *p) {
    const int topk = b->k > 0;
    const size_t staging_cap = b->ws->staging.capacity;
    if (want > (size_t)p->threads * VS_UNITS_PER_PARTICIPANT)
        want = (size_t)p->threads * VS_UNITS_PER_PARTICIPANT;
    const size_t cand_unit = p->path == PATH_ROWS ? 1 : nr;
    if (b->nc >= (size_t)p->threads * 4 * nr) {
        /* Per-call candidates are packed by every unit that meets them: no groups there. */
        const size_t groups = p->path == PATH_CORPUS ? plan_query_groups(p->chunk, want) : 1;
        size_t ranges = (b->nc + cand_unit - 1) / cand_unit;
        if (ranges > (want + groups - 1) / groups) ranges = (want + groups - 1) / groups;
        if (topk) {
            size_t used = staging_bytes(p, p->chunk, mr, b->dim, topk) + slots_room;
            size_t fit = 1 + (staging_cap - used) / range_heap_bytes(p, p->chunk);
            if (ranges > fit) ranges = fit;
        }
        if (ranges >= 2) {
            size_t span = (b->nc + ranges - 1) / ranges;
            span = (span + cand_unit - 1) / cand_unit * cand_unit;
            p->split_candidates = 1;
            p->range_span = span;
            p->ranges = (b->nc + span - 1) / span;
            p->query_groups = groups;
            return;
        }
    }
    const size_t query_unit = p->path == PATH_ROWS ? VS_ROWS_BLOCK : mr;
    size_t units = (p->chunk + query_unit - 1) / query_unit;
    if (units > want) units = want;
    if (units < 2) {
        /* Few queries and huge heaps, or too little of anything to share. */
        p->threads = 1;
        return;
    }
    p->query_units = units;
}

static int make_plan(const cpu_state *cpu, const vs__batch *b, plan *p) {
    const vs__cpu_kernels *kern = cpu->kernels;
    const size_t mr = kern->mr, nr = kern->nr;
    memset(p, 0, sizeof(*p));
    p->heap_size = b->k > 0 ? (b->k < b->nc ? b->k : b->nc) : 0;
    p->cosine = b->metric == VS_METRIC_COSINE;
    int status = plan_path_block(b, nr, b->ws->scratch[0].capacity, p);
    if (status != VS_OK) return status;
    p->sliver_floats = mr * b->dim;

    /* Threads: the estimated time alone against the measured cost of a helper. */
    int threads = cpu->threads < b->ws->threads ? cpu->threads : b->ws->threads;
    const size_t slots_room = slot_table_bytes(threads);
    status = plan_chunk(b, mr, slots_room, p);
    if (status != VS_OK) return status;

    p->seconds = (double)b->nq * (double)b->nc * (double)b->dim * rate_get(cpu, (enum rate)p->path);
    size_t want = 1;
    double unit_fixed = 0;
    if (b->k > 0 && b->nc >= (size_t)threads * 4 * nr)
        unit_fixed = range_fixed_seconds(cpu, p->chunk, p->heap_size, b->nc, threads);
    p->threads = threads > 1 ? participants_for(cpu, p->seconds, unit_fixed, &want) : 1;
    if (p->threads > threads) p->threads = threads;
    if (p->threads <= 1) {
        p->threads = 1;
        return VS_OK;
    }
    plan_split(b, mr, nr, slots_room, want, p);
    return VS_OK;
}

/* ------------------------------------------------------------------ */
/* execution                                                            */
/* ------------------------------------------------------------------ */

typedef struct worker_buffers {
    float *caux;  /* block aux values (per-call candidates) */
    float *cpack; /* packed block (PATH_PACK) */
} worker_buffers;

static size_t slot_table_bytes(int slots) {
    return align64((size_t)slots * sizeof(worker_buffers)) + 64;
}

typedef struct chunk_job {
    const vs__cpu_kernels *kern;
    const vs__batch *b;
    const plan *p;
    const cpu_corpus *corpus;
    size_t q_first; /* first query of the chunk in the batch */
    size_t q_count;
    const float *qpack; /* packed slivers, or the query rows themselves */
    const float *qrows; /* row-major queries of the chunk: the caller's, or qcopy */
    float *qcopy;       /* COSINE, queries read in place: room for scaled rows */
    size_t sliver_stride;
    float *qaux;
    vs__heap *heaps;       /* chunk heaps in the output (topk): range 0, or every query */
    vs__heap *range_heaps; /* candidate split: ranges 1.. x q_count private heaps */
    size_t units;          /* units of this chunk */
    size_t ranges;         /* candidate ranges of this chunk (1 without a candidate split) */
    size_t query_span;     /* queries per unit (query split) or per query group (candidate) */
    worker_buffers *slots; /* one per participant slot */
} chunk_job;

/*
 * Candidate aux values for [c0, c0 + count) of per-call candidates. Returns
 * the number marked VS_CAUX_RESCUE (COSINE norms outside the safe range).
 */
static size_t block_aux(const chunk_job *job, size_t c0, size_t count, float *caux) {
    const vs__batch *b = job->b;
    size_t rescued = 0;
    if (b->metric == VS_METRIC_DOT) return 0;
    for (size_t j = 0; j < count; j++) {
        const float *row = b->candidates + (c0 + j) * b->dim;
        const float norm_sq = job->kern->dot(row, row, b->dim);
        int shift = 0;
        caux[j] = b->metric == VS_METRIC_L2SQ ? norm_sq
                                              : vs__cosine_aux_f32(norm_sq, row, b->dim, &shift);
        if (shift != 0) {
            caux[j] = VS_CAUX_RESCUE;
            rescued++;
        }
    }
    return rescued;
}

/* One unit of work: queries [qa, qb) of the chunk against candidates [ca, cb). */
static void run_range(const chunk_job *job, int slot, size_t qa, size_t qb, size_t ca, size_t cb,
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
    worker_buffers *wb = &job->slots[slot];
    for (size_t c0 = ca; c0 < cb; c0 += p->block) {
        size_t count = cb - c0 < p->block ? cb - c0 : p->block;
        switch (p->path) {
        case PATH_CORPUS: {
            const cpu_corpus *corpus = job->corpus;
            epi.caux = b->metric == VS_METRIC_COSINE ? corpus->inv_norm : corpus->norm_sq;
            epi.caux_base = 0;
            epi.rescue = b->metric == VS_METRIC_COSINE && corpus->rescued > 0;
            const float *cpack = corpus->panels + c0 * dim; /* c0 is panel-aligned */
            kern->block_packed(&epi, job->qpack + (qa / mr) * job->sliver_stride,
                               job->sliver_stride, qa, qb - qa, cpack, c0, count, dim);
            break;
        }
        case PATH_PACK: {
            epi.rescue = block_aux(job, c0, count, wb->caux) > 0;
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
            epi.rescue = block_aux(job, c0, count, wb->caux) > 0;
            epi.caux = wb->caux;
            epi.caux_base = c0;
            kern->block_rows(&epi, job->qrows + qa * dim, qa, qb - qa, b->candidates + c0 * dim, c0,
                             count, dim);
            break;
        }
    }
}

/* Merges the private range heaps of queries [qa, qb) into the output heaps (in range order), then
 * sorts and pads the output rows. */
static void finish_queries(const chunk_job *job, size_t qa, size_t qb) {
    const vs__batch *b = job->b;
    const float padding = b->metric == VS_METRIC_L2SQ ? INFINITY : -INFINITY;
    const int negate = b->metric == VS_METRIC_L2SQ;
    const size_t ranges = job->ranges;
    for (size_t i = qa; i < qb; i++) {
        /*
         * Range order. Once the output heap is full of numbers, an entry
         * whose key is below its threshold cannot enter, so most of a range's
         * entries cost one comparison; an equal key (its id decides) and
         * anything while the heap is open take the full comparison.
         */
        vs__heap *into = &job->heaps[i];
        for (size_t r = 1; r < ranges; r++) {
            const vs__heap *from = &job->range_heaps[(r - 1) * job->q_count + i];
            for (size_t j = 0; j < from->size; j++)
                if (into->open || !(from->keys[j] < into->threshold))
                    vs__heap_insert(into, from->keys[j], from->ids[j]);
        }
        size_t row = job->q_first + i;
        vs__heap_finish(&job->heaps[i], negate, padding, b->scores + row * b->k,
                        b->ids + row * b->k, b->k);
    }
}

static void run_unit(void *arg, size_t unit, int slot) {
    const chunk_job *job = arg;
    const vs__batch *b = job->b;
    const plan *p = job->p;
    if (p->split_candidates) {
        const size_t range = unit % job->ranges, group = unit / job->ranges;
        size_t ca = range * p->range_span;
        size_t cb = b->nc - ca < p->range_span ? b->nc : ca + p->range_span;
        size_t qa = group * job->query_span;
        size_t qb = job->q_count - qa < job->query_span ? job->q_count : qa + job->query_span;
        vs__heap *heaps = NULL;
        if (b->k) heaps = range == 0 ? job->heaps : job->range_heaps + (range - 1) * job->q_count;
        run_range(job, slot, qa, qb, ca, cb, heaps);
        return;
    }
    size_t qa = unit * job->query_span;
    size_t qb = job->q_count - qa < job->query_span ? job->q_count : qa + job->query_span;
    run_range(job, slot, qa, qb, 0, b->nc, b->k ? job->heaps : NULL);
    if (b->k) finish_queries(job, qa, qb);
}

static void merge_unit(void *arg, size_t unit, int slot) {
    (void)slot;
    const chunk_job *job = arg;
    size_t qa = unit * VS_MERGE_UNIT_QUERIES;
    size_t qb =
        job->q_count - qa < VS_MERGE_UNIT_QUERIES ? job->q_count : qa + VS_MERGE_UNIT_QUERIES;
    finish_queries(job, qa, qb);
}

/* Runs one staged chunk; returns the participants that took part. */
static int run_chunk(cpu_state *cpu, const chunk_job *job) {
    const plan *p = job->p;
    const vs__batch *b = job->b;
    vs__pool_run_info info;
    vs__pool_run(run_unit, (void *)job, job->units, p->threads, &info);
    /* The caller's own units say how fast this path runs on it now. */
    const double chunk_work = (double)job->q_count * (double)b->nc * (double)b->dim;
    rate_observe(cpu, (enum rate)p->path, info.caller_seconds,
                 chunk_work * (double)info.caller_units / (double)job->units);
    if (!b->k || !p->split_candidates) return info.joined;
    /* Merge the private heaps into the output heaps (range order), then sort and pad. */
    const double entries = (double)job->q_count * (double)job->ranges * (double)p->heap_size;
    size_t merge_cut; /* merge units are fixed (VS_MERGE_UNIT_QUERIES): only the decision */
    const int merge_threads =
        participants_for(cpu, entries * rate_get(cpu, RATE_MERGE), 0, &merge_cut);
    size_t units = (job->q_count + VS_MERGE_UNIT_QUERIES - 1) / VS_MERGE_UNIT_QUERIES;
    vs__pool_run_info merged;
    vs__pool_run(merge_unit, (void *)job, units, merge_threads, &merged);
    rate_observe(cpu, RATE_MERGE, merged.caller_seconds,
                 entries * (double)merged.caller_units / (double)units);
    return info.joined > merged.joined ? info.joined : merged.joined;
}

/* Allocates every buffer a chunk of q queries needs. Returns 0 or OOM. */
static int chunk_alloc(chunk_job *job, size_t q) {
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
    job->qcopy = NULL;
    if (!(p->path != PATH_ROWS && q > 1) && p->cosine)
        job->qcopy = vs_arena_alloc_array(&ws->staging, q * dim, sizeof(float));
    job->heaps = b->k ? vs_arena_alloc_array(&ws->staging, q, sizeof(vs__heap)) : NULL;
    job->range_heaps = NULL;
    job->ranges = 1;
    if (p->split_candidates) {
        /* unit u: query group u / ranges against candidate range u % ranges */
        size_t span = (q + p->query_groups - 1) / p->query_groups;
        job->query_span = (span + mr - 1) / mr * mr;
        job->ranges = p->ranges;
        job->units = p->ranges * ((q + job->query_span - 1) / job->query_span);
    } else if (p->threads > 1) {
        const size_t query_unit = p->path == PATH_ROWS ? VS_ROWS_BLOCK : mr;
        size_t span = (q + p->query_units - 1) / p->query_units;
        job->query_span = (span + query_unit - 1) / query_unit * query_unit;
        job->units = (q + job->query_span - 1) / job->query_span;
    } else {
        job->query_span = q;
        job->units = 1;
    }
    if (b->k && p->split_candidates && job->ranges > 1) {
        const size_t sets = job->ranges - 1;
        job->range_heaps = vs_arena_alloc_array(&ws->staging, sets * q, sizeof(vs__heap));
        float *keys = vs_arena_alloc_array(&ws->staging, sets * q * p->heap_size, sizeof(float));
        int64_t *ids = vs_arena_alloc_array(&ws->staging, sets * q * p->heap_size, sizeof(int64_t));
        if (job->range_heaps != NULL && keys != NULL && ids != NULL)
            for (size_t i = 0; i < sets * q; i++)
                vs__heap_init(&job->range_heaps[i], keys + i * p->heap_size, ids + i * p->heap_size,
                              p->heap_size);
    }
    job->slots = vs_arena_alloc_array(&ws->staging, (size_t)p->threads, sizeof(worker_buffers));
    if (vs_arena_failed(&ws->staging)) return VS_ERR_OUT_OF_MEMORY;
    for (int w = 0; w < p->threads; w++) {
        vs_arena *scratch = &ws->scratch[w];
        memset(&job->slots[w], 0, sizeof(job->slots[w]));
        if (p->path != PATH_CORPUS)
            job->slots[w].caux = vs_arena_alloc_array(scratch, p->block, sizeof(float));
        if (p->path == PATH_PACK)
            job->slots[w].cpack = vs_arena_alloc_array(scratch, p->block * dim, sizeof(float));
        if (vs_arena_failed(scratch)) return VS_ERR_OUT_OF_MEMORY;
    }
    return VS_OK;
}

/*
 * Fills aux values, packed slivers and output heaps for the chunk. Query
 * norms are computed once per batch, in float64; for COSINE a query whose
 * norm is outside the safe range is scaled by an exact power of two
 * (kernels.h), in its packed sliver or in a staged copy of the rows.
 */
static void chunk_stage(chunk_job *job) {
    const vs__batch *b = job->b;
    const size_t mr = job->kern->mr, dim = b->dim;
    const float *rows = b->queries + job->q_first * dim;
    if (job->qpack != NULL) {
        for (size_t s = 0; s * mr < job->q_count; s++) {
            size_t n = job->q_count - s * mr < mr ? job->q_count - s * mr : mr;
            vs__pack_rows(rows + s * mr * dim, n, dim, n,
                          (float *)job->qpack + s * job->sliver_stride);
        }
    }
    job->qrows = rows;
    for (size_t i = 0; i < job->q_count; i++) {
        const float *row = rows + i * dim;
        int shift = 0;
        if (b->metric == VS_METRIC_DOT) {
            job->qaux[i] = 0.0f;
        } else {
            const double norm_sq = vs__norm_sq_f64(row, dim);
            job->qaux[i] =
                b->metric == VS_METRIC_L2SQ ? (float)norm_sq : vs__cosine_aux(norm_sq, &shift);
        }
        if (shift == 0) continue;
        if (job->qpack != NULL) {
            const size_t s = i / mr, n = job->q_count - s * mr < mr ? job->q_count - s * mr : mr;
            vs__scale_strided((float *)job->qpack + s * job->sliver_stride + i % mr, dim, n, shift);
        } else {
            if (job->qrows == rows) { /* first scaled query: stage the chunk */
                memcpy(job->qcopy, rows, job->q_count * dim * sizeof(float));
                job->qrows = job->qcopy;
            }
            vs__scale_strided(job->qcopy + i * dim, dim, 1, shift);
        }
    }
    if (job->qpack == NULL) job->qpack = job->qrows; /* one query: a one-row sliver is the row */
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

/* The plan of the calling thread's last CPU batch, for vs__cpu_test_last_plan. */
static _Thread_local struct {
    int threads;
    size_t units;
    int split_candidates;
    size_t query_groups;
} last_plan;

size_t vs__cpu_test_last_query_groups(void) {
    return last_plan.query_groups;
}

void vs__cpu_test_last_plan(int *threads, size_t *units, int *split_candidates) {
    *threads = last_plan.threads;
    *units = last_plan.units;
    *split_candidates = last_plan.split_candidates;
}

static int cpu_run(void *state, vs__batch *b) {
    cpu_state *cpu = state;
    vs_batch_report *report = b->report;
    snprintf(report->backend, sizeof(report->backend), "cpu");
    snprintf(report->isa, sizeof(report->isa), "%s", cpu->kernels->isa);
    snprintf(report->device, sizeof(report->device), "%s", cpu->description);
    report->threads = 1;
    report->threads_joined = 1;
    last_plan.threads = 1;
    last_plan.units = 0;
    last_plan.split_candidates = 0;
    last_plan.query_groups = 1;
    if (b->nq == 0) return VS_OK;
    if (b->nc == 0) {
        if (b->k) write_padding(b);
        return VS_OK;
    }
    plan p;
    int status = make_plan(cpu, b, &p);
    if (status != VS_OK) {
        vs__log(&b->ctx->log, VS_LOG_ERROR,
                "batch does not fit the arenas (staging %zu B, scratch %zu B per worker) "
                "for dim %zu; raise arena_bytes/scratch_bytes",
                b->ws->staging.capacity, b->ws->scratch[0].capacity, b->dim);
        return status;
    }
    report->threads = p.threads;
    chunk_job job = {.kern = cpu->kernels, .b = b, .p = &p, .corpus = b->corpus};
    double kernel_seconds = 0.0;
    for (size_t q0 = 0; q0 < b->nq; q0 += p.chunk) {
        size_t q = b->nq - q0 < p.chunk ? b->nq - q0 : p.chunk;
        size_t staging_mark = vs_arena_mark(&b->ws->staging);
        job.q_first = q0;
        job.q_count = q;
        status = chunk_alloc(&job, q);
        if (status != VS_OK) {
            /* Only possible on the first chunk: later chunks reuse the same space. */
            vs__log(&b->ctx->log, VS_LOG_ERROR, "arena exhausted staging a chunk of %zu queries",
                    q);
            return status;
        }
        chunk_stage(&job);
        if (q0 == 0) {
            last_plan.threads = p.threads;
            last_plan.units = job.units;
            last_plan.split_candidates = p.split_candidates;
            last_plan.query_groups = p.split_candidates ? job.units / job.ranges : 1;
        }
        double t0 = vs__now();
        int joined = run_chunk(cpu, &job);
        kernel_seconds += vs__now() - t0;
        if (joined > report->threads_joined) report->threads_joined = joined;
        report->query_chunks++;
        vs_arena_release(&b->ws->staging, staging_mark);
        for (int w = 0; w < p.threads; w++)
            vs_arena_release(&b->ws->scratch[w], 0);
    }
    report->kernel_seconds = kernel_seconds;
    return VS_OK;
}

static const char *cpu_describe(void *state) {
    return ((cpu_state *)state)->description;
}

static void cpu_release(void *state) {
    free(state);
    vs__pool_release();
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

/* Seeds the rates with a short measurement on this thread (tens of microseconds). */
static void seed_rates(cpu_state *cpu) {
    enum { DIM = 1024, REPEATS = 16, HEAP = 64 };
    float a[DIM], c[DIM]; /* on the stack: contexts may be made by several threads at once */
    for (int d = 0; d < DIM; d++) {
        a[d] = (float)(d % 7) * 0.25f;
        c[d] = (float)(d % 5) * 0.5f;
    }
    volatile float sink = 0;
    double best = INFINITY;
    for (int trial = 0; trial < 3; trial++) {
        double t0 = vs__now();
        for (int r = 0; r < REPEATS; r++)
            sink += cpu->kernels->dot(a, c, DIM);
        double t = vs__now() - t0;
        if (t < best) best = t;
    }
    (void)sink;
    double per_mac = best / (REPEATS * DIM);
    if (!(per_mac > 0)) per_mac = 1e-9;
    /* The tile kernels do better than a single dot; the batches' own timings correct it. */
    for (int path = 0; path < 3; path++)
        atomic_store_explicit(&cpu->rate[path], per_mac, memory_order_relaxed);
    /* Merging: one heap of HEAP entries into another. */
    float keys[2][HEAP];
    int64_t ids[2][HEAP];
    vs__heap into, from;
    best = INFINITY;
    for (int trial = 0; trial < 3; trial++) {
        vs__heap_init(&into, keys[0], ids[0], HEAP);
        vs__heap_init(&from, keys[1], ids[1], HEAP);
        for (int i = 0; i < HEAP; i++) {
            vs__heap_insert(&into, (float)((i * 37) % 101), i);
            vs__heap_insert(&from, (float)((i * 53) % 103), HEAP + i);
        }
        double t0 = vs__now();
        vs__heap_merge(&into, &from);
        double t = vs__now() - t0;
        if (t < best) best = t;
    }
    double per_entry = best / HEAP;
    atomic_store_explicit(&cpu->rate[RATE_MERGE], per_entry > 0 ? per_entry : 1e-8,
                          memory_order_relaxed);
    /*
     * Filling: FILL candidates in id order, with keys from a fixed sequence,
     * pushed into a fresh heap of HEAP / 4 entries as a candidate range's
     * heaps are; seconds per push that entered (a range's fixed work is
     * priced in those, range_fixed_seconds). Best of 5.
     */
    enum { FILL = 512 };
    best = INFINITY;
    for (int trial = 0; trial < 5; trial++) {
        vs__heap_init(&into, keys[0], ids[0], HEAP / 4);
        uint32_t state = 12345u;
        size_t entered = 0;
        double t0 = vs__now();
        for (int i = 0; i < FILL; i++) {
            state = state * 1664525u + 1013904223u;
            const float key = (float)(state >> 8);
            entered += into.open || key > into.threshold;
            vs__heap_push(&into, key, i);
        }
        double t = (vs__now() - t0) / (double)(entered ? entered : 1);
        if (t < best) best = t;
    }
    atomic_store_explicit(&cpu->rate[RATE_INSERT], best > 0 && isfinite(best) ? best : 1e-8,
                          memory_order_relaxed);
}

int vs__cpu_backend_create(const vs__env *ctx, const vs__backend_ops **ops, void **state,
                           const char **isa_chosen) {
    const char *isa = ctx->isa;
    const vs__cpu_kernels *kernels;
    int status = vs__cpu_kernels_get(isa, &kernels);
    if (status == VS_ERR_UNSUPPORTED) {
        vs__log(&ctx->log, VS_LOG_ERROR, "ISA '%s' was requested but this CPU does not support it",
                isa);
        return status;
    }
    if (status != VS_OK) {
        char known[64] = "";
        for (int i = 0; vs_cpu_isa_name(i) != NULL; i++) {
            size_t used = strlen(known);
            snprintf(known + used, sizeof(known) - used, "%s%s", i > 0 ? ", " : "",
                     vs_cpu_isa_name(i));
        }
        vs__log(&ctx->log, VS_LOG_ERROR, "unknown ISA '%s' (expected one of %s)", isa, known);
        return status;
    }
    cpu_state *cpu = calloc(1, sizeof(*cpu));
    if (cpu == NULL) return VS_ERR_OUT_OF_MEMORY;
    if (vs__pool_retain() != VS_OK) {
        free(cpu);
        return VS_ERR_OUT_OF_MEMORY;
    }
    cpu->kernels = kernels;
    cpu->threads = ctx->threads;
    seed_rates(cpu);
    snprintf(cpu->description, sizeof(cpu->description), "native CPU (%s, %d thread%s)",
             kernels->isa, cpu->threads, cpu->threads == 1 ? "" : "s");
    *ops = &cpu_ops;
    *state = cpu;
    *isa_chosen = kernels->isa;
    return VS_OK;
}
