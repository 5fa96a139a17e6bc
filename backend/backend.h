/*
 * backend.h — the backend interface: what host/ hands a backend and what a
 * backend gives back. Not installed.
 *
 * host/ owns policy: argument checks, options, the workspace pool, reports,
 * fallback and demotion. A backend (cpu/, cl/) owns mechanism: it scores one
 * batch described by a vs__batch, using only the arenas it is handed and the
 * vs__env it was created with, and never decides policy. A backend
 * includes this header (and base/, arena/), never host/: it does not see
 * struct vs_context, and it returns facts (the ISA it chose, why a batch
 * failed) that host/ records.
 */
#ifndef VS_BACKEND_H
#define VS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "../arena/arena.h"
#include "../base/cache.h"
#include "../base/clock.h"
#include "../base/hash.h"
#include "../base/log.h"
#include "../base/parse.h"
#include "vecscore.h"

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
 * The backend's environment: what a backend needs of the context, resolved
 * by host/ before any backend is created and constant for the context's
 * lifetime. Backends name it `ctx` (it is the context as they see it).
 */
typedef struct vs__env {
    vs__log_sink log;   /* the context's log callback and level */
    vs__cache *cache;   /* the private cache directory (may be off); thread-safe */
    int threads;        /* participant slots per workspace (the threads option, capped) */
    size_t arena_bytes; /* the staging arena size (arena_bytes option) */
    const char *isa;    /* the ISA asked for, NULL or "" for the best one */
    /* OpenCL knobs (options and VECSCORE_CL_*, resolved once by host/context.c): */
    int cl_kernels;         /* VS__CL_KERNELS_*: which kernel family cl/ launches */
    int cl_block_rows;      /* register block of vs_score_blocked; 0: the device table's */
    int cl_block_columns;   /*   (VECSCORE_CL_BLOCK=RxC) */
    int cl_fused;           /* -1 automatic, 0 never, 1 where k allows (VECSCORE_CL_FUSED) */
    size_t cl_max_alloc;    /* 0: the device's largest allocation (VECSCORE_CL_MAX_ALLOC_BYTES) */
    long cl_survivors;      /* -1 auto, 0 segment lists, N slots (VECSCORE_CL_SURVIVORS) */
    int cl_filter;          /* -1 auto, 0 separate pass, 1 fused (VECSCORE_CL_FILTER) */
    int cl_auto_opencl_cpu; /* 1: "auto" weighs OpenCL CPU devices (VECSCORE_AUTO_OPENCL_CPU) */
} vs__env;

/* vs__env.cl_kernels: the option cl_kernels / VECSCORE_CL_KERNELS ("tile": VECSCORE_CL_KERNEL). */
enum {
    VS__CL_KERNELS_AUTO = 0, /* by the device type: cpu on CPU-type devices, else gpu */
    VS__CL_KERNELS_CPU = 1,  /* vs_score_rows, vs_topk_rows */
    VS__CL_KERNELS_GPU = 2,  /* vs_score_blocked, vs_score_stream, vs_merge_sorted */
    VS__CL_KERNELS_TILE = 3  /* the 16x16 vs_score_tile, kept as the reference for comparisons */
};

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

#define VS__BATCH_WHY_BYTES 192

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
    const vs__env *ctx;
    /* Facts a backend returns (host/ records them): */
    int no_rerun;                  /* outputs may still change, do not re-run on the CPU */
    char why[VS__BATCH_WHY_BYTES]; /* why the batch failed or was refused ("" if not said) */
} vs__batch;

/*
 * The one way to describe a batch: every field zero but these. The host
 * then sets ws, report and ctx (host/api.c vs__run_on and run_batch).
 */
static inline vs__batch vs__batch_make(vs_metric metric, const float *queries, size_t nq,
                                       size_t dim, const float *candidates, const void *corpus,
                                       size_t nc, size_t k, float *scores, int64_t *ids) {
    vs__batch b = {0};
    b.metric = metric;
    b.queries = queries;
    b.nq = nq;
    b.dim = dim;
    b.candidates = candidates;
    b.corpus = corpus;
    b.nc = nc;
    b.k = k;
    b.scores = scores;
    b.ids = ids;
    return b;
}

/* The interface every backend implements (cpu/backend.c, cl/backend.c). */
typedef struct vs__backend_ops {
    const char *name;
    /* Human-readable device description for reports. */
    const char *(*describe)(void *state);
    int (*corpus_prepare)(void *state, const vs__env *ctx, const float *vectors, size_t n,
                          size_t dim, void **out);
    void (*corpus_release)(void *state, void *corpus);
    /* Copies vector j of a prepared corpus into out (dim floats); for verification. */
    void (*corpus_row)(void *state, const void *corpus, size_t j, float *out);
    int (*score)(void *state, vs__batch *batch);
    int (*topk)(void *state, vs__batch *batch);
    void (*release)(void *state);
    /*
     * Compact corpora (host/compact.c), optional: NULL in a backend without
     * compact kernels (the CPU's are called by host/compact.c directly).
     * compact_prepare puts n x dim codes of `storage` (a vs_storage: uint16
     * float16/bfloat16 bits, or int8) on the device; VS_ERR_UNSUPPORTED, with
     * the reason in why, when the device cannot hold them. compact_scan writes
     * the raw sums (cpu/compact.h's, in any summation order) of `rows` queries
     * (float32 for float16/bfloat16, int16 for int8; rows rounded up to a
     * multiple of 4, the extra ones zero, x dim) against every stored row into
     * out_f (float16, bfloat16) or out_i (int8), as many rows x n, and names
     * its kernel in report->kernels; a failure says why (why_size bytes).
     */
    int (*compact_prepare)(void *state, const vs__env *ctx, int storage, const void *codes,
                           size_t n, size_t dim, void **out, char *why, size_t why_size);
    void (*compact_release)(void *state, void *compact);
    int (*compact_scan)(void *state, const vs__env *ctx, void *compact, const void *queries,
                        size_t rows, float *out_f, int64_t *out_i, vs_batch_report *report,
                        char *why, size_t why_size);
} vs__backend_ops;

/*
 * CPU backend (cpu/backend.c). ctx->isa forces an ISA (VS_ERR_UNSUPPORTED
 * when the CPU lacks it, VS_ERR_INVALID_ARGUMENT when unknown); *isa
 * receives the name of the ISA chosen, for host/ to record.
 */
int vs__cpu_backend_create(const vs__env *ctx, const vs__backend_ops **ops, void **state,
                           const char **isa);

/*
 * OpenCL (cl/devices.c; cl/none.c in a build without OpenCL, which finds no
 * device and says "no OpenCL platform (built without OpenCL)").
 *
 * vs__opencl_list: every OpenCL device, in selector order, as a malloc'd
 * array (*out, free() it; NULL when *count is 0); when there is none, why
 * says why ("" otherwise). ctx may be NULL (nothing is logged). Returns 0 or
 * VS_ERR_OUT_OF_MEMORY.
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
int vs__opencl_list(const vs__env *ctx, vs_device **out, int *count, char *why, size_t why_size);
int vs__opencl_string(int index, vs_device_field field, char **out);
int vs__opencl_open(const vs__env *ctx, const vs__selector *selector, const vs__backend_ops **ops,
                    void **state, char *why, size_t why_size);

#endif /* VS_BACKEND_H */
