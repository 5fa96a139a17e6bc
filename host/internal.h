/*
 * internal.h — what the files of host/ share. Not installed.
 *
 * host/ owns policy: argument checks, options, the workspace pool, reports,
 * fallback and demotion. The backends see only backend/backend.h (the
 * interface and the vs__env the host fills); this header is host/'s
 * own.
 */
#ifndef VS_HOST_INTERNAL_H
#define VS_HOST_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "../arena/arena.h"
#include "../backend/backend.h"
#include "vecscore.h"

#define VS_DEFAULT_ARENA_BYTES ((size_t)64 << 20)
#define VS_DEFAULT_SCRATCH_BYTES ((size_t)8 << 20)
#define VS_DEFAULT_LOG_LEVEL VS_LOG_WARN
#define VS_DEFAULT_LOCK_BYTES ((size_t)16 << 20)
/* The largest threads value accepted; above the CPU count it is capped there. */
#define VS_THREADS_LIMIT 4096
#define VS_DEMOTE_AFTER 3 /* device failures before a context stops using the device */

typedef struct vs__config {
    char *device;
    vs__selector selector; /* device, parsed */
    int threads;
    size_t arena_bytes;
    size_t scratch_bytes;
    size_t lock_bytes;
    int threads_requested; /* before the cap at the CPU count */
    char *isa;
    char *compact_isa; /* VECSCORE_COMPACT_ISA (testing), NULL: the table of the context's ISA */
    char *cache_dir;
    int verify;
    vs_log_fn log;
    void *log_user;
    int log_level;
    /* OpenCL knobs, resolved once by host/context.c (the backend never reads the environment). */
    int cl_kernels;         /* VS__CL_KERNELS_* (backend/backend.h): the OpenCL kernel family */
    int cl_block_rows;      /* register block of the GPU score kernel; 0: the device table's */
    int cl_block_columns;   /*   (VECSCORE_CL_BLOCK=RxC) */
    int cl_fused;           /* -1 automatic, 0 never, 1 where k allows (VECSCORE_CL_FUSED) */
    size_t cl_max_alloc;    /* 0: the device's largest allocation (VECSCORE_CL_MAX_ALLOC_BYTES) */
    long cl_survivors;      /* -1 auto, 0 segment lists, N slots (VECSCORE_CL_SURVIVORS) */
    int cl_filter;          /* -1 auto, 0 separate pass, 1 fused (VECSCORE_CL_FILTER) */
    int cl_auto_opencl_cpu; /* 1: "auto" weighs OpenCL CPU devices (VECSCORE_AUTO_OPENCL_CPU) */
} vs__config;

/* One side of the cost model (host/cost.c): seconds per batch shape. */
typedef struct vs__cost_side {
    double launch;    /* s per batch */
    double bandwidth; /* bytes/s streamed */
    double flops;     /* flop/s */
    double link;      /* bytes/s to upload per-call candidates; 0 = free */
    double select;    /* s per result kept beyond 10, per query and 8192-candidate tile */
} vs__cost_side;

typedef struct vs__cost_model {
    vs__cost_side cpu, device;
    int valid;      /* 0: built-in constants apply */
    int from_cache; /* loaded from the cost cache, not measured by this context */
} vs__cost_model;

struct vs_context {
    vs__config cfg;
    const vs__backend_ops *backend; /* where batches go: cpu, or an OpenCL device */
    void *backend_state;
    const vs__backend_ops *cpu; /* always present: the CPU backend, for fallback */
    void *cpu_state;
    int is_auto;                /* device "auto": a cost model picks the device per call */
    int device_failures;        /* batches the device failed (guarded by lock) */
    int demoted;                /* set after VS_DEMOTE_AFTER failures: CPU only from then on */
    char why_cpu[192];          /* why "auto" runs on the CPU ("" if it does not) */
    vs__cost_model cost;        /* "auto" with a device: calibrated per device and driver */
    const char *isa;            /* the CPU backend's ISA, as it returned it */
    pthread_mutex_t lock;       /* guards the workspace list; never held while scoring */
    vs__workspace *pool;        /* idle workspaces, most recently used first */
    vs_lock_budget lock_budget; /* the cap on locked arena memory (lock_bytes) */
    uint64_t id;                /* unique per process, keys the per-thread reports */
    vs__cache cache; /* the private cache directory (base/cache.c), opened at first use */
    vs__env env;     /* what the backends see of this context (filled before they exist) */
};

typedef struct vs__compact vs__compact;

/* Where the context's messages go (NULL for no context). */
static inline const vs__log_sink *vs__sink(const vs_context *ctx) {
    return ctx != NULL ? &ctx->env.log : NULL;
}

struct vs_corpus {
    vs_context *ctx;
    size_t n;
    size_t dim;
    void *data;     /* the context backend's (NULL if that failed to take it) */
    void *cpu_data; /* the CPU backend's copy (the same pointer on a CPU context); a compact
                       corpus: its float32 rows (exact mode) or NULL */
    vs_storage storage;
    vs__compact *compact; /* host/compact.c; NULL for float32 storage */
    const struct vs__compact_ops *compact_ops;
};

/*
 * Compact corpora (host/compact.c) sit above this file's batch flow: they
 * are created by vs_corpus_create_with there, and host/api.c reaches them
 * only through the corpus's ops. run: top-k (k > 0) or, approximate mode
 * only, the score matrix (k = 0), after host/api.c checked the arguments;
 * it stores the report. release frees the compact data.
 */
typedef struct vs__compact_ops {
    int (*run)(vs_corpus *c, vs_metric metric, const float *queries, size_t nq, size_t k,
               float *scores, int64_t *ids);
    void (*release)(vs__compact *cc);
} vs__compact_ops;
/* Testing hook: compact scores of every candidate against one query, and their bounds. */
int vs__compact_pair_bounds(const vs_corpus *c, vs_metric metric, const float *query,
                            double *approx, double *bounds);
/* Testing hook for exact mode's raw threshold (host/compact.c block_exact): mode 0 turns it off,
 * 1 on (the default), 2 on and counting the rows it drops; returns the rows dropped while counting
 * since the last call, and resets that count. Call it between batches only. */
size_t vs__compact_test_raw_filter(int mode);
/* Testing hook for exact mode's fused threshold in the blocked kernels (host/compact.c
 * fused_threshold), with the same modes and return: the rows it drops before any float64 work. */
size_t vs__compact_test_fused_filter(int mode);
/* Testing hook: 1 when the compact corpus is on the context's device (its batches may scan there).
 */
int vs__compact_on_device(const vs_corpus *c);
/* Testing hook: the float32 rescoring batches of this thread's last compact batch on a device
 * (exact mode), and how many of them ran on the whole float32 corpus instead of a gathered union.
 */
void vs__compact_rescore_batches(uint64_t *batches, uint64_t *whole);
/* Testing hook: bound a device rescoring batch's union of candidates at `rows` (0: the default,
 * 64 MiB of float32 rows); not thread-safe, for tests only. */
void vs__compact_test_rescore_rows(size_t rows);

/* Parses a device selector; VS_OK, or VS_ERR_INVALID_ARGUMENT with a message naming it in why. */
int vs__selector_parse(const char *text, vs__selector *out, char *why, size_t why_size);

/* Cost model (host/cost.c): measures (or loads) ctx->cost; 0 or a vs_status. */
int vs__cost_calibrate(vs_context *ctx);
double vs__cost_seconds(const vs__cost_side *side, const struct vs__batch *b);
/* A batch the device failed with status: VS_ERR_DEVICE counts toward demotion (returns the
 * failure count, demoting at VS_DEMOTE_AFTER); any other status counts nothing (returns 0). */
int vs__device_failure_count(vs_context *ctx, int status);
/* "auto": 1 when the cost model prefers the device for batch b, else 0 with the reason in why. */
int vs__device_preferred(const vs_context *ctx, const struct vs__batch *b, char *why, size_t size);

/* Runs one batch on one backend with that backend's corpus data (host/workspace.c). */
int vs__run_on(vs_context *ctx, const vs__backend_ops *ops, void *state, vs__batch *b,
               const vs_corpus *corpus);

/* Workspace pool (host/workspace.c). */
int vs__workspace_acquire(vs_context *ctx, vs__workspace **out);
void vs__workspace_destroy(vs__workspace *ws);
void vs__workspace_release(vs_context *ctx, vs__workspace *ws);
/* Bytes committed in a workspace's arenas. */
size_t vs__workspace_committed(const vs__workspace *ws);
/* Bytes committed in the context's idle workspaces (for tests). */
size_t vs__context_idle_committed(vs_context *ctx);

/* Per-thread facts (host/context.c): the last report per context (the last error message is
 * base/log.c's). */
void vs__report_store(const vs_context *ctx, const vs_batch_report *report);

#endif /* VS_HOST_INTERNAL_H */
