/*
 * harness.h — the benchmark harness's modules and what they share (not
 * installed). bench.h is the layer below: the path interface that the peers
 * implement, the machine limits and the clock. The modules here, each in its
 * own file, from the bottom up:
 *
 *   options.c     the option table: parsing, defaults, --help text
 *   data.c        synthetic data (fixed seeds) and base norms
 *   check.c       the float64 reference (tests/reference.c) for sampled
 *                 queries, and the check of a path's output against it
 *   rows.c        the result rows: storage, lookup, rates, % of limit, and
 *                 the stdout line of a row as it finishes
 *   paths.c       the vecscore paths (each ISA, each OpenCL device, auto,
 *                 one-shot, after BLAS) and the list of every path to run
 *   first_call.c  the OpenCL first call in fresh processes (cold, warm)
 *   timing.c      the timing loop: every shape x metric x path x mode
 *   load.c        the competing load: busy loops in a child process group
 *   contention.c  the contention scenario (issue 9): default threads vs
 *                 1 thread under load, and N callers on one context
 *   targets.c     the targets, as a table, judged on the rows
 *   report.c      stdout table, results.csv, results.json, summary.md
 *   plots.c       plot.gp, its data files and the PNGs (gnuplot)
 *   driver.c      vs_bench_main: the steps above in order
 *
 * Every module includes only this header and bench.h (check.c also
 * tests/reference.h); a module calls only modules listed above it, so the
 * files form no cycle. The peers (peers_*.c, baseline_blog.c) and alloc.c
 * sit below all of them and see only bench.h.
 */
#ifndef VS_BENCH_HARNESS_H
#define VS_BENCH_HARNESS_H

#include <stdio.h>

#include "bench.h"

#define MAX_PATHS 128 /* 7 per corpus path (float32 and 6 storage rows), the peers */
#define MAX_SHAPES 32
#define MAX_SAMPLES 4
#define MAX_REPS 1000
#define MAX_TARGETS 40

/* ---- options (options.c) ------------------------------------------------------------------ */

typedef struct shape {
    size_t q, n, d;
} shape;

typedef struct shape_list {
    shape items[MAX_SHAPES];
    int count;
} shape_list;

typedef struct options {
    int quick;
    int reps;
    int rounds; /* passes over the paths of a shape and metric, in rotated order */
    size_t k;
    shape_list shapes;
    int metrics[3]; /* enabled DOT, COSINE, L2SQ */
    int modes[2];   /* enabled score, top-k */
    char paths[512];
    char out_dir[512];
    int alloc, plots, first_call;
    double row_budget; /* seconds one row may take (warm-up + reps), estimated */
    double aux_budget; /* the same for auxiliary paths (other ISAs, blog baselines) */
    int list_only, help;
    int narrowed;   /* --shapes or --paths given: a narrowed run (no contention unless asked) */
    int contention; /* 1 run it, 0 not, -1 default (on unless narrowed) */
    int contention_only;
    shape_list contention_shapes, callers_shapes;
    int contention_trials;    /* most trials per shape */
    double contention_budget; /* seconds for the whole scenario (each shape gets its share) */
    int contention_load;      /* busy loops in the competing load (0: 2 per core) */
    double contention_window; /* seconds of calls per setting per trial */
} options;

/* Fills o from argv (argv[0] is the program). Returns 0, or -1 after
 * printing "PROG: bad option ..." and the usage to stderr. */
int bench_options_parse(options *o, int argc, char **argv, const char *prog);
void bench_usage(FILE *out, const char *prog);
int bench_path_selected(const options *o, const char *name);
int bench_parse_size(const char *text, size_t *out);
const char *bench_metric_option_name(int index); /* "dot", "cosine", "l2sq" */
vs_metric bench_metric_at(int index);            /* VS_METRIC_DOT, COSINE, L2SQ */

/* ---- data (data.c) ------------------------------------------------------------------------ */

/* Uniform floats in [-1, 1) from a seed; the same n and seed give the same data. */
void bench_fill(float *x, size_t n, uint64_t seed);
/* The seeds every module uses, so that a shape's data is the same everywhere. */
uint64_t bench_base_seed(const shape *sh);
uint64_t bench_query_seed(const shape *sh);

/* One shape's inputs and outputs, allocated together. */
typedef struct shape_data {
    float *base, *queries, *norms; /* norms: |c| per base row, float64-exact rounding */
    float *scores;                 /* room for a score matrix or a top-k result */
    int64_t *ids;
} shape_data;

int bench_shape_data_alloc(shape_data *data, const shape *sh, size_t k);
void bench_shape_data_free(shape_data *data);

/* ---- float64 reference (check.c) ---------------------------------------------------------- */

typedef struct reference {
    size_t samples;
    size_t rows[MAX_SAMPLES];
    double *score[MAX_SAMPLES];
    double *bound[MAX_SAMPLES];
    int64_t *best[MAX_SAMPLES]; /* reference top-k ids */
} reference;

int bench_reference_build(reference *ref, vs_metric metric, const float *queries, size_t q,
                          const float *base, size_t n, size_t d, size_t k);
void bench_reference_free(reference *ref);
/* Returns the number of disagreements; the first is described in why. */
size_t bench_reference_check(const reference *ref, vs_metric metric, int topk, size_t n, size_t k,
                             const float *scores, const int64_t *ids, char *why, size_t size);

/* ---- rows (rows.c) ------------------------------------------------------------------------ */

/* The scenario a row belongs to. */
#define BENCH_SCENARIO_MAIN "main"
#define BENCH_SCENARIO_CONTENTION "contention"

typedef struct row {
    shape sh;
    size_t k;
    vs_metric metric;
    int topk;
    char path[48];
    const char *kind;
    char status[16]; /* ok, FAIL, skipped, error */
    int reps;
    double median, min;
    double gflops, gbs, pct_limit, pct_limit_best;
    const char *bound; /* "bandwidth" or "fma" */
    bench_path_info info;
    int has_first;
    double first_cold, first_warm, compile_cold, compile_warm;
    double setup_cold, setup_warm; /* vs_context_create + vs_corpus_create in that process */
    int cache_cold, cache_warm;
    char note[256];
    /* The contention scenario (contention.c); main rows leave these empty. */
    const char *scenario; /* BENCH_SCENARIO_MAIN or BENCH_SCENARIO_CONTENTION */
    int trial;            /* 1, 2, ...; 0 on a row that sums up every trial of a shape */
    int load;             /* busy loops running while the row was measured (0: idle) */
    int callers;          /* caller threads sharing one context (0: not a callers row) */
    long calls;           /* calls measured (all callers) */
    double throughput;    /* queries per second, all callers together */
    int has_ratio;        /* ratio, ratio_max and ratio_median below are set */
    double ratio, ratio_max, ratio_median;
    const char *ratio_definition;
} row;

typedef struct target {
    char name[160];
    char measured[256];
    char verdict[96];
} target;

typedef struct run_state {
    options opt;
    const char *prog;      /* "vecscore bench" or "vecscore-bench" (messages) */
    bench_machine machine; /* limits in use: the better of start and end */
    bench_machine machine_start, machine_end;
    bench_path paths[MAX_PATHS];
    int npaths;
    row *rows;
    size_t nrows, cap;
    bench_alloc_row alloc[64];
    int nalloc;
    target targets[MAX_TARGETS];
    int ntargets;
    char date[32];
    char self_exe[1024];
    int vecscore_failures;
} run_state;

/* A new zeroed row (scenario main), or NULL when out of memory. */
row *bench_row_new(run_state *st);
/* The ok main-scenario row for this shape, metric, mode and path, or NULL. */
const row *bench_row_find(const run_state *st, const shape *sh, vs_metric metric, int topk,
                          const char *path);
int bench_row_is_main(const row *r);
double bench_problem_flops(const shape *sh);
double bench_problem_bytes(const shape *sh, int topk, size_t k);
/* Bytes per stored element of a path: 2 for vs-<path>-f16[-approx] / -bf16, 1 for -i8, else 4. */
int bench_path_element_bytes(const char *path);
/* Sets bound and % of the roofline limit max(bytes / bandwidth, flops / peak). */
void bench_row_limits(const run_state *st, row *r);
/* Sets median, min, GFLOP/s and GB/s from sorted call times. */
void bench_row_times(row *r, const double *sorted, int count);
const char *bench_mode_name(int topk);
int bench_shape_equal(const shape *a, const shape *b);
/* "QxNxD" */
void bench_shape_label(const shape *sh, char *out, size_t size);
/* The stdout table: its header, and one line per row as it finishes. */
void bench_print_row_header(void);
void bench_print_row(const row *r);

/* ---- paths (paths.c) ---------------------------------------------------------------------- */

/* Fills st->paths with every path this build and machine have that --paths
 * selects; returns the count. */
int bench_paths_build(run_state *st);
void bench_paths_destroy(run_state *st);

/* ---- OpenCL first call (first_call.c) ----------------------------------------------------- */

/* Child mode: argv = {"--first-call", SELECTOR, Q, N, D, K}. */
int bench_first_call_child(int argc, char **argv);
/* Runs the cold and warm child processes for an OpenCL path's row. */
void bench_first_call_measure(const run_state *st, const bench_path *path, const shape *sh, row *r);

/* ---- the timing loop (timing.c) ----------------------------------------------------------- */

/* Every shape x metric x path x mode; returns 0 or 3 (out of memory). */
int bench_run_shapes(run_state *st);

/* ---- the competing load (load.c) ---------------------------------------------------------- */

typedef struct bench_load {
    int pid;   /* the load's child process (and its process group); 0 when not running */
    int loops; /* busy loops it runs */
} bench_load;

/* Starts loops busy loops (0: two per online CPU) in a child process group
 * that stops by itself after seconds; it is also killed by bench_load_stop,
 * at exit, on SIGINT/SIGTERM/SIGHUP, and when this process dies. Returns 0
 * or -1 (fork failed). */
int bench_load_start(bench_load *load, int loops, double seconds);
void bench_load_stop(bench_load *load);
/* 1 while the load runs; 0 once it has stopped (it is then reaped). */
int bench_load_running(bench_load *load);
int bench_online_cpus(void);

/* ---- the contention scenario (contention.c) ----------------------------------------------- */

/* Returns 0, or 3 when it could not be set up. */
int bench_contention_run(run_state *st);

/* ---- targets (targets.c) ------------------------------------------------------------------ */

/* Fills st->targets from the rows. */
void bench_targets_evaluate(run_state *st);

/* ---- report (report.c) -------------------------------------------------------------------- */

void bench_print_targets(const run_state *st);
/* The environment variables that change how the paths run, "NAME=value ...". */
const char *bench_environment_settings(void);
const char *bench_wait_policy(void); /* OMP_WAIT_POLICY or "(unset)" */
FILE *bench_open_out(const run_state *st, const char *name);
/* results.csv, alloc.csv, results.json, summary.md: 0 or -1. */
int bench_write_results(const run_state *st);

/* ---- plots (plots.c) ---------------------------------------------------------------------- */

/* plot.gp and its data; the PNGs too unless --no-plots or no gnuplot. */
void bench_write_plots(const run_state *st);

#endif /* VS_BENCH_HARNESS_H */
