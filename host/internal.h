/*
 * internal.h — what host/ and the backends share. Not installed.
 *
 * host/ owns policy: argument checks, options, the workspace pool, reports,
 * logging. A backend owns mechanism: it scores one batch described by a
 * vs__batch, using only the arenas it is handed, and never decides policy.
 */
#ifndef VS_HOST_INTERNAL_H
#define VS_HOST_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "../arena/arena.h"
#include "vecscore.h"

#define VS_DEFAULT_ARENA_BYTES ((size_t)64 << 20)
#define VS_DEFAULT_SCRATCH_BYTES ((size_t)8 << 20)
#define VS_DEFAULT_LOG_LEVEL VS_LOG_WARN
#define VS_DEFAULT_LOCK_BYTES ((size_t)16 << 20)
/* The largest threads value accepted; above the CPU count it is capped there. */
#define VS_THREADS_LIMIT 4096
#define VS_DEMOTE_AFTER 3       /* device failures before a context stops using the device */
#define VS__CL_MAX_PLATFORMS 16 /* OpenCL platforms listed (P of "opencl:P:D" is below this) */
#define VS__CL_MAX_DEVICES 64   /* devices listed per platform (D is below this) */

/* A parsed device selector (host/parse.c); name points into the parsed text. */
typedef enum vs__selector_kind {
    VS_SELECT_AUTO,
    VS_SELECT_CPU,
    VS_SELECT_OPENCL,       /* "opencl": the first OpenCL device */
    VS_SELECT_OPENCL_INDEX, /* "opencl:P:D" */
    VS_SELECT_OPENCL_NAME   /* "opencl:name=TEXT" */
} vs__selector_kind;

typedef struct vs__selector {
    vs__selector_kind kind;
    int platform, device; /* VS_SELECT_OPENCL_INDEX */
    const char *name;     /* VS_SELECT_OPENCL_NAME: TEXT, never empty */
} vs__selector;

/*
 * Memory one batch may use: a staging arena and one scratch arena per
 * participant slot, all reserved address space that commits as it is used.
 * Idle workspaces wait in the context's list: the first keeps what its
 * recent batches used, the others give their memory back once idle for
 * VS_WORKSPACE_IDLE_SECONDS (checked by every acquire and release).
 */
#define VS_WORKSPACE_IDLE_SECONDS 0.1
#define VS_WORKSPACE_IDLE_MAX 8 /* idle workspaces kept (as reservations) beyond the first */
typedef struct vs__workspace {
    vs_arena staging;
    vs_arena *scratch; /* threads of them */
    int threads;
    size_t keep;       /* bytes per arena the workspace keeps committed while idle (decays) */
    double idle_since; /* when it was released */
    int trimmed;       /* 1 once its memory went back (nothing committed) */
    struct vs__workspace *next;
} vs__workspace;

typedef struct vs__config {
    char *device;
    vs__selector selector; /* device, parsed */
    int threads;
    size_t arena_bytes;
    size_t scratch_bytes;
    size_t lock_bytes;
    int threads_requested; /* before the cap at the CPU count */
    char *isa;
    char *cache_dir;
    int verify;
    vs_log_fn log;
    void *log_user;
    int log_level;
} vs__config;

/* One batch, as the host hands it to a backend. */
typedef struct vs__batch {
    vs_metric metric;
    const float *queries;
    size_t nq;
    size_t dim;
    const float *candidates; /* simple API; NULL with a corpus */
    const void *corpus;      /* the backend's prepared corpus, or NULL */
    size_t nc;
    size_t k; /* 0 = full score matrix */
    float *scores;
    int64_t *ids;
    vs__workspace *ws;
    vs_batch_report *report;
    vs_context *ctx;
    int no_rerun; /* set by a backend: outputs may still change, do not re-run on the CPU */
} vs__batch;

/* The interface every backend implements (cpu/ now; cl/ next). */
typedef struct vs__backend_ops {
    const char *name;
    /* Human-readable device description for reports. */
    const char *(*describe)(void *state);
    int (*corpus_prepare)(void *state, vs_context *ctx, const float *vectors, size_t n, size_t dim,
                          void **out);
    void (*corpus_release)(void *state, void *corpus);
    /* Copies vector j of a prepared corpus into out (dim floats); for verification. */
    void (*corpus_row)(void *state, const void *corpus, size_t j, float *out);
    int (*score)(void *state, vs__batch *batch);
    int (*topk)(void *state, vs__batch *batch);
    void (*release)(void *state);
} vs__backend_ops;

/* One side of the cost model (host/cost.c): seconds per batch shape. */
typedef struct vs__cost_side {
    double launch;    /* s per batch */
    double bandwidth; /* bytes/s streamed */
    double flops;     /* flop/s */
    double link;      /* bytes/s to upload per-call candidates; 0 = free */
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
    int is_auto;         /* device "auto": a cost model picks the device per call */
    int device_failures; /* batches the device failed (guarded by lock) */
    int demoted;         /* set after VS_DEMOTE_AFTER failures: CPU only from then on */
    char why_cpu[192];   /* why "auto" runs on the CPU ("" if it does not) */
    vs__cost_model cost; /* "auto" with a device: calibrated per device and driver */
    const char *isa;
    pthread_mutex_t lock;       /* guards the workspace list; never held while scoring */
    vs__workspace *pool;        /* idle workspaces, most recently used first */
    vs_lock_budget lock_budget; /* the cap on locked arena memory (lock_bytes) */
    uint64_t id;                /* unique per process, keys the per-thread reports */
    /* The cache directory (host/cache.c), opened and checked at first use (under lock). */
    int cache_state; /* 0 not opened yet, 1 private and open as cache_fd, -1 none or not trusted */
    int cache_fd;
    char *cache_path; /* for messages, while cache_state is 1 */
};

typedef struct vs__compact vs__compact;

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

/* 64-bit FNV-1a, for cache keys and checksums (not cryptographic). */
#define VS_FNV1A_SEED 0xcbf29ce484222325ull
static inline uint64_t vs__fnv1a(uint64_t hash, const void *data, size_t size) {
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < size; i++) {
        hash ^= p[i];
        hash *= 0x100000001b3ull;
    }
    return hash;
}

/* Adds a string and a separator, so that "ab" + "c" and "a" + "bc" differ. */
static inline uint64_t vs__fnv1a_field(uint64_t hash, const char *s) {
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    return vs__fnv1a(vs__fnv1a(hash, s, n), "|", 1);
}

/*
 * Strict parsers (host/parse.c), used for every number and selector the
 * library reads as text.
 *
 * vs__parse_uint: one or more ASCII digits and nothing else (no sign, no
 * blank, no base prefix), with `suffixes` one trailing K, M or G (times
 * 1024, 1024^2, 1024^3); the value must lie in [min, max]. Returns NULL and
 * sets *out, or a reason ("it has a sign ...") and leaves *out alone.
 */
const char *vs__parse_uint(const char *text, uint64_t min, uint64_t max, int suffixes,
                           uint64_t *out);
/*
 * The environment variable `name` through vs__parse_uint: 0 when it is not
 * set, 1 when it is (*out set), or VS_ERR_INVALID_ARGUMENT with a message
 * naming the variable, its value, the reason and `expected` in why.
 */
int vs__env_uint(const char *name, uint64_t min, uint64_t max, int suffixes, const char *expected,
                 uint64_t *out, char *why, size_t why_size);
/* Parses a device selector; VS_OK, or VS_ERR_INVALID_ARGUMENT with a message naming it in why. */
int vs__selector_parse(const char *text, vs__selector *out, char *why, size_t why_size);

/*
 * The on-disk cache (host/cache.c), shared by the OpenCL program cache and
 * the cost cache. The directory is resolved once per context (cache_dir,
 * else VECSCORE_CACHE_DIR, else $XDG_CACHE_HOME/vecscore, else
 * ~/.cache/vecscore), created 0700 where missing, and trusted only when it
 * is a directory owned by this user that group and others cannot write;
 * otherwise both caches are off for the context (one warning). Entries are
 * opened without blocking or following a link and used only when they are
 * regular files owned by this user, not writable by group or others, and at
 * most max_bytes long; anything else is ignored with a warning (a rebuilt
 * entry then replaces it). `what` names the cache in messages.
 *
 * vs__cache_read: 1 and a malloc'd copy (NUL-terminated, *size bytes) of the
 * entry, or 0 when there is nothing usable.
 * vs__cache_write: writes a 0600 temporary file and renames it over `name`;
 * 0, or -1 (warned).
 * vs__cache_drop: removes a damaged entry.
 */
int vs__cache_read(const vs_context *ctx, const char *what, const char *name, size_t max_bytes,
                   unsigned char **data, size_t *size);
int vs__cache_write(const vs_context *ctx, const char *what, const char *name, const void *data,
                    size_t size);
void vs__cache_drop(const vs_context *ctx, const char *name);
void vs__cache_close(vs_context *ctx);

/* Logging: formats and sends to the context's callback if level allows. */
void vs__log(const vs_context *ctx, vs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Monotonic seconds. */
double vs__now(void);

/* CPU backend (cpu/backend.c). */
int vs__cpu_backend_create(vs_context *ctx, const char *isa, const vs__backend_ops **ops,
                           void **state);

/*
 * OpenCL (cl/devices.c; cl/none.c in a build without OpenCL, which finds no
 * device and says "no OpenCL platform (built without OpenCL)").
 *
 * vs__opencl_list: every OpenCL device, in selector order, as a malloc'd
 * array (*out, free() it; NULL when *count is 0); when there is none, why
 * says why ("" otherwise). Returns 0 or VS_ERR_OUT_OF_MEMORY.
 *
 * vs__opencl_string: the whole string `field` (a valid vs_device_field) of
 * OpenCL device index (0-based, in vs__opencl_list's order), malloc'd into
 * *out. Returns 0, VS_ERR_INVALID_ARGUMENT for no such device, or
 * VS_ERR_OUT_OF_MEMORY.
 *
 * vs__opencl_open: opens the backend for "auto" or an opencl selector.
 * Returns VS_ERR_NO_DEVICE (why says what was looked for and found) when
 * nothing matches; for "auto" that means: use the CPU. A bad testing knob,
 * or (for an explicit selector) a staging arena too small for the device,
 * is VS_ERR_INVALID_ARGUMENT with the reason in why.
 */
int vs__opencl_list(const vs_context *ctx, vs_device **out, int *count, char *why, size_t why_size);
int vs__opencl_string(int index, vs_device_field field, char **out);
int vs__opencl_open(vs_context *ctx, const vs__selector *selector, const vs__backend_ops **ops,
                    void **state, char *why, size_t why_size);

/* Cost model (host/cost.c): measures (or loads) ctx->cost; 0 or a vs_status. */
int vs__cost_calibrate(vs_context *ctx);
double vs__cost_seconds(const vs__cost_side *side, const struct vs__batch *b);

/* Runs one batch on one backend with that backend's corpus data (host/api.c). */
int vs__run_on(vs_context *ctx, const vs__backend_ops *ops, void *state, vs__batch *b,
               const vs_corpus *corpus);

/* Workspace pool (host/context.c). */
int vs__workspace_acquire(vs_context *ctx, vs__workspace **out);
void vs__workspace_release(vs_context *ctx, vs__workspace *ws);
/* Bytes committed in a workspace's arenas. */
size_t vs__workspace_committed(const vs__workspace *ws);
/* Bytes committed in the context's idle workspaces (for tests). */
size_t vs__context_idle_committed(vs_context *ctx);

/* Per-thread facts (host/context.c): the last report per context, the last error message. */
void vs__report_store(const vs_context *ctx, const vs_batch_report *report);
void vs__error_clear(void);
void vs__error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vs__error_is_set(void);

#endif /* VS_HOST_INTERNAL_H */
