/*
 * bench.h — the bottom layer of the benchmark (not installed): the path
 * interface that the peers implement, the machine limits and the clock.
 * The harness's own modules are listed in harness.h.
 *
 * One timing loop (timing.c) runs every path through the same code. A path
 * is a small table of functions:
 *
 *   prepare(shape)   untimed: build an index / upload a corpus for the shape
 *   run(problem)     timed: one call, writing scores (score mode) or the
 *                    top-k scores and ids (top-k mode) into the problem's
 *                    output buffers
 *   finish(shape)    untimed: release what prepare made (per metric)
 *   end_shape()      optional: release what a path keeps while a shape lasts
 *
 * Paths: the library on each CPU ISA, on each OpenCL device and on "auto";
 * the peers (OpenBLAS, FAISS, CLBlast), each compiled only when found; and
 * the two blog-style baselines.
 */
#ifndef VS_BENCH_H
#define VS_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include <vecscore.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One call's inputs and outputs. */
typedef struct bench_problem {
    size_t queries_count, base_count, dim, k;
    vs_metric metric;
    int topk;                /* 0: full score matrix, 1: top-k */
    const float *queries;    /* queries_count x dim */
    const float *base;       /* base_count x dim */
    const float *base_norms; /* |c| per base row (float64-exact rounding), for peers */
    float *scores;           /* score mode: queries x base; top-k: queries x k */
    unsigned shape_id;       /* changes with the shape (data), not with metric or mode */
    int64_t *ids;            /* top-k: queries x k */
} bench_problem;

/* What a path says about itself after a run (settings and report fields). */
typedef struct bench_path_info {
    char backend[16];
    char isa[16];
    char device[128];
    char driver[64];
    char settings[256]; /* threads and other knobs that ran */
    char fallback[192];
    int threads;
    int has_report; /* the fields below come from vs_context_last_report */
    double transfer_seconds, kernel_seconds, compile_seconds;
    uint64_t bytes_mapped, bytes_copied, arena_high_water, scratch_high_water;
} bench_path_info;

typedef struct bench_path bench_path;
struct bench_path {
    char name[48];
    const char *kind; /* "vecscore", "peer", "baseline" */
    void *state;
    /* 1 if the path can do this metric/mode at all. */
    int (*supports)(const bench_path *path, vs_metric metric, int topk, size_t queries_count);
    int (*prepare)(bench_path *path, const bench_problem *problem);     /* untimed, per shape */
    int (*run)(bench_path *path, const bench_problem *problem);         /* timed; 0 or an error */
    void (*before_run)(bench_path *path, const bench_problem *problem); /* untimed, optional */
    void (*info)(bench_path *path, bench_path_info *out);               /* after a run */
    void (*finish)(bench_path *path);                                   /* per metric */
    void (*end_shape)(bench_path *path); /* optional: after the last metric of a shape */
    void (*destroy)(bench_path *path);   /* at exit */
    int opencl_device;                   /* vs_device_info index for OpenCL paths, else -1 */
    double rate_flops; /* measured flop rate from the last shape, to budget the next */
    int auxiliary;     /* 1: informative only (ISAs below the best, blog baselines) */
    int approximate;   /* 1: approximate top-k (compact scores, FAISS SQ): not checked against
                          the float64 bounds; the row's note gives recall@k on the sampled
                          queries, against the float64 reference top-k */
    char error[192];   /* why prepare/run failed */
};

/* ---- machine limits (machine.c) ---- */
typedef struct bench_machine {
    char cpu_model[128];
    int threads;               /* OpenMP threads used for the limits */
    double read_bandwidth_gbs; /* all threads, 1 GiB buffer (256 MiB in quick mode): the better
                                  of read_bandwidth_small_gbs and the same on huge pages */
    double read_bandwidth_small_gbs; /* the same buffer on 4 KiB pages (no MADV_HUGEPAGE) */
    double peak_gflops;              /* best of the FMA loops below */
    double peak_avx512_gflops, peak_avx2_gflops;
    size_t llc_bytes; /* last-level cache of one CPU (0: unknown) */
} bench_machine;

/* The CPU model, threads and cache; _measure also measures the limits. */
void bench_machine_describe(bench_machine *machine);
void bench_machine_measure(bench_machine *machine, int quick);

/* ---- clock (clock.c) ---- */
double bench_now(void); /* seconds, monotonic */
/* Sorts values ascending in place and returns their median (0 when count is 0). */
double bench_median(double *values, size_t count);

/* ---- top-k helper shared by peers ---- */
/* Best k of row (higher is better when similarity, else lower), ids ascending
 * on ties; pads with -1 when n < k. */
void bench_select_topk(const float *row, size_t n, size_t k, int similarity, float *scores,
                       int64_t *ids);

/* ---- paths ---- */
/* Each returns the number of paths appended to paths[] (at most max). */
int bench_blas_paths(bench_path *paths, int max);
int bench_faiss_paths(bench_path *paths, int max);
int bench_clblast_paths(bench_path *paths, int max, int platform_index, int device_index,
                        const char *device_name);
int bench_blog_paths(bench_path *paths, int max);

/* OpenBLAS: one untimed call that keeps BLAS threads busy before a vecscore
 * call (the "after BLAS" path). Returns 0 if OpenBLAS is not built in. */
int bench_blas_interfere(const bench_problem *problem, float *scratch);
const char *bench_blas_config(void); /* "OpenBLAS 0.3.21 core=... threads=N" or "" */

/* FAISS shim (peers_faiss.cpp), C linkage. */
typedef struct bench_faiss_index bench_faiss_index;
bench_faiss_index *bench_faiss_create(int inner_product, size_t dim, const float *base, size_t n);
/* IndexScalarQuantizer: sq 1 fp16, 2 8-bit (QT_8bit), trained and filled with base. */
bench_faiss_index *bench_faiss_create_sq(int inner_product, int sq, size_t dim, const float *base,
                                         size_t n);
int bench_faiss_search(bench_faiss_index *index, const float *queries, size_t nq, size_t k,
                       float *distances, int64_t *labels);
void bench_faiss_free(bench_faiss_index *index);
int bench_faiss_blas_threshold(void);

/* ---- allocation micro-benchmark (alloc.c) ---- */
typedef struct bench_alloc_row {
    char pattern[32]; /* "single" or "batch64" or "batch64+touch" */
    char allocator[16];
    size_t bytes; /* 0 for the batch pattern (3 KB .. 1 MB) */
    int threads;
    double ns_per_alloc; /* median over repetitions, per thread */
    double ns_per_alloc_min;
} bench_alloc_row;

/* Appends rows; returns the count (at most max). */
int bench_alloc_run(bench_alloc_row *rows, int max, int quick, int threads_max);

/* The entry point of `vecscore-bench` (driver.c). argv[0] names the program
 * in messages: `vecscore bench` runs it with argv[0] = "vecscore bench". */
int vs_bench_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* VS_BENCH_H */
