/*
 * cl_figures.c — `vecscore-bench-cl-k --figures`: issue 10's three figures
 * on an OpenCL device (PoCL's CPU device here) in one run:
 *
 *   (a) the gpu kernel family forced (VECSCORE_CL_KERNELS=gpu) against the
 *       16x16 tile kernel it replaces (VECSCORE_CL_KERNEL=tile): score
 *       matrix and top-10, on every shape of the (a) list; target: faster
 *       on every shape;
 *   (b) the default kernels (no knob: the cpu family on a CPU device)
 *       against CLBlast SGEMM on the same device (query upload + SGEMM +
 *       read-back, bench/peers_clblast.c): the score matrix, and top-10
 *       against CLBlast's score matrix; target: >= 3x;
 *   (c) top-1000 against top-10, default kernels and gpu family; target:
 *       <= 3x.
 *
 * Every way of running a shape is open at once (its own context and
 * corpus, or CLBlast's buffers) and warmed up by one untimed call of each
 * measurement; then each repeat times every measurement once, in an order
 * that turns round from one repeat to the next, so that a change of machine
 * load hits all alike. Each call is timed twice: wall clock, and the CPU
 * time of the whole process (every PoCL worker thread included), which the
 * load of other processes disturbs far less on a busy machine. Medians
 * (min .. max) per measurement, then the ratios of medians. Each vecscore
 * call's report must show the device and the kernel family asked for;
 * CLBlast's first score row must match the default kernels' within 1e-3
 * relative. Exit status 0, or 1 with a message.
 */
#define _POSIX_C_SOURCE 200809L
#include "cl_figures.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "vecscore.h"

enum { FIG_A = 1, FIG_B = 2, FIG_C = 4 };
enum { M_SCORE, M_TOP10, M_TOP1000, MODES };
enum { R_DEFAULT, R_GPU, R_TILE, R_CLBLAST, RUNNERS };

static const char *const mode_names[MODES] = {"score", "top-10", "top-1000"};
static const size_t mode_k[MODES] = {0, 10, 1000};

typedef struct fig_shape {
    size_t nq, n, dim;
    unsigned figures;
} fig_shape;

/* The shapes: (a) on every one the tile kernel can finish in seconds, (b) at Q > 1
 * (CLBlast), (c) at Q = 1 and at d = 128. */
static const fig_shape shapes[] = {
    {1, 100000, 768, FIG_A | FIG_C},
    {16, 100000, 768, FIG_A | FIG_B},
    {256, 100000, 128, FIG_A | FIG_B | FIG_C},
    {1024, 10000, 768, FIG_A},
    {1024, 100000, 768, FIG_B},
};

/* One way of running a shape. */
typedef struct runner {
    const char *label, *family; /* family: what the batch report must name */
    int open;
    vs_context *ctx;
    vs_corpus *corpus;
    bench_path clblast;
    double wall[MODES][FIG_MAX_REPEATS], cpu[MODES][FIG_MAX_REPEATS];
    int measured[MODES];
} runner;

typedef struct fig_data {
    const float *base, *queries;
    float *scores, *top_scores;
    int64_t *top_ids;
    size_t repeats;
    const char *device;
    int clblast_platform, clblast_device;
} fig_data;

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Which measurements runner r makes for a shape of these figures. */
static int wants(int r, int mode, unsigned figures) {
    switch (r) {
    case R_DEFAULT:
        return mode == M_SCORE
                   ? (figures & FIG_B) != 0
                   : (mode == M_TOP10 ? (figures & (FIG_B | FIG_C)) != 0 : (figures & FIG_C) != 0);
    case R_GPU:
        return mode == M_TOP1000 ? (figures & FIG_C) != 0
                                 : (figures & (mode == M_SCORE ? FIG_A : FIG_A | FIG_C)) != 0;
    case R_TILE: return mode != M_TOP1000 && (figures & FIG_A) != 0;
    default: return mode == M_SCORE && (figures & FIG_B) != 0;
    }
}

static int runner_needed(int r, unsigned figures) {
    for (int m = 0; m < MODES; m++)
        if (wants(r, m, figures)) return 1;
    return 0;
}

/* Opens runner r's context (the knob set only while it is created) and corpus. */
static int open_vecscore(runner *ru, int r, const fig_data *fd, const fig_shape *sh) {
    static const char *const families[] = {"cpu", "gpu", "tile"};
    ru->family = families[r];
    ru->label =
        r == R_DEFAULT ? "default kernels" : (r == R_GPU ? "gpu family forced" : "tile kernel");
    if (r == R_GPU) setenv("VECSCORE_CL_KERNELS", "gpu", 1);
    if (r == R_TILE) setenv("VECSCORE_CL_KERNEL", "tile", 1);
    vs_options opts;
    vs_options_init(&opts);
    opts.device = fd->device;
    int status = vs_context_create(&opts, &ru->ctx);
    unsetenv("VECSCORE_CL_KERNELS");
    unsetenv("VECSCORE_CL_KERNEL");
    if (status == VS_OK) status = vs_corpus_create(ru->ctx, fd->base, sh->n, sh->dim, &ru->corpus);
    if (status != VS_OK) {
        fprintf(stderr, "vecscore-bench-cl-k: %s: cannot open %s: %s\n", ru->label, fd->device,
                vs_strerror(status));
        return 1;
    }
    ru->open = 1;
    return 0;
}

static int open_clblast(runner *ru, const fig_data *fd, const bench_problem *problem) {
    ru->label = "CLBlast SGEMM";
    if (bench_clblast_paths(&ru->clblast, 1, fd->clblast_platform, fd->clblast_device, "opencl") !=
        1) {
        fprintf(stderr,
                "vecscore-bench-cl-k: CLBlast is not built in, or OpenCL device %d:%d "
                "is missing (figure b needs it: apt-get install libclblast-dev)\n",
                fd->clblast_platform, fd->clblast_device);
        return 1;
    }
    ru->open = 1;
    if (ru->clblast.prepare(&ru->clblast, problem) != 0) {
        fprintf(stderr, "vecscore-bench-cl-k: CLBlast: %s\n", ru->clblast.error);
        return 1;
    }
    return 0;
}

static void close_runner(runner *ru) {
    if (!ru->open) return;
    if (ru->clblast.destroy != NULL) {
        ru->clblast.finish(&ru->clblast);
        ru->clblast.destroy(&ru->clblast);
    }
    vs_corpus_free(ru->corpus);
    vs_context_free(ru->ctx);
    memset(ru, 0, sizeof(*ru));
}

/* One call of measurement (r, mode); its wall and CPU seconds; 0, or 1 after a message. */
static int fig_call(runner *ru, int r, int mode, const fig_data *fd, const fig_shape *sh,
                    bench_problem *problem, double *wall, double *cpu) {
    const double c0 = cpu_seconds(), w0 = bench_now();
    int status = VS_OK;
    if (r == R_CLBLAST) {
        status = ru->clblast.run(&ru->clblast, problem) == 0 ? VS_OK : VS_ERR_DEVICE;
    } else if (mode == M_SCORE) {
        status = vs_corpus_score(ru->corpus, VS_METRIC_DOT, fd->queries, sh->nq, fd->scores);
    } else {
        status = vs_corpus_topk(ru->corpus, VS_METRIC_DOT, fd->queries, sh->nq, mode_k[mode],
                                fd->top_scores, fd->top_ids);
    }
    *wall = bench_now() - w0;
    *cpu = cpu_seconds() - c0;
    if (status != VS_OK) {
        fprintf(stderr, "vecscore-bench-cl-k: %s %s failed: %s %s\n", ru->label, mode_names[mode],
                vs_strerror(status), r == R_CLBLAST ? ru->clblast.error : "");
        return 1;
    }
    if (r == R_CLBLAST) return 0;
    vs_batch_report report;
    vs_context_last_report(ru->ctx, &report);
    if (strcmp(report.backend, "opencl") != 0 || strcmp(report.kernel_family, ru->family) != 0) {
        fprintf(stderr, "vecscore-bench-cl-k: %s %s ran on %s, family '%s' (expected %s; %s)\n",
                ru->label, mode_names[mode], report.backend, report.kernel_family, ru->family,
                report.fallback);
        return 1;
    }
    return 0;
}

/* CLBlast's first score row against the default kernels' (both dot, float32). */
static int check_clblast(runner *runners, const fig_data *fd, const fig_shape *sh,
                         bench_problem *problem) {
    double wall, cpu;
    if (fig_call(&runners[R_DEFAULT], R_DEFAULT, M_SCORE, fd, sh, problem, &wall, &cpu)) return 1;
    float *row = malloc(sh->n * sizeof(float));
    if (row == NULL) return 1;
    memcpy(row, fd->scores, sh->n * sizeof(float));
    int failed = fig_call(&runners[R_CLBLAST], R_CLBLAST, M_SCORE, fd, sh, problem, &wall, &cpu);
    for (size_t j = 0; j < sh->n && !failed; j++)
        if (fabsf(row[j] - fd->scores[j]) > 1e-3f * (1.0f + fabsf(row[j]))) {
            fprintf(stderr, "vecscore-bench-cl-k: CLBlast score [0][%zu] %.7g, vecscore %.7g\n", j,
                    (double)fd->scores[j], (double)row[j]);
            failed = 1;
        }
    free(row);
    return failed;
}

static void print_cell(double *values, size_t repeats) {
    const double median = bench_median(values, repeats); /* sorts: [0] min, [R-1] max */
    printf(" %8.1f (%.1f .. %.1f)", 1e3 * median, 1e3 * values[0], 1e3 * values[repeats - 1]);
}

/* A ratio of two measurements' medians, wall and CPU time ("-" when one is missing). */
static void print_ratio(const char *what, runner *num, int num_mode, runner *den, int den_mode,
                        size_t repeats, const char *target) {
    if (!num->measured[num_mode] || !den->measured[den_mode]) return;
    const double wall =
        bench_median(num->wall[num_mode], repeats) / bench_median(den->wall[den_mode], repeats);
    const double cpu =
        bench_median(num->cpu[num_mode], repeats) / bench_median(den->cpu[den_mode], repeats);
    printf("  %-58s wall %6.2f  cpu %6.2f  (target %s)\n", what, wall, cpu, target);
}

static void print_shape(runner *runners, const fig_shape *sh, size_t repeats) {
    for (int r = 0; r < RUNNERS; r++)
        for (int m = 0; m < MODES; m++) {
            runner *ru = &runners[r];
            if (!ru->measured[m]) continue;
            printf("  %-18s %-8s wall", ru->label, mode_names[m]);
            print_cell(ru->wall[m], repeats);
            printf("  cpu");
            print_cell(ru->cpu[m], repeats);
            printf(" ms\n");
        }
    runner *def = &runners[R_DEFAULT], *gpu = &runners[R_GPU], *tile = &runners[R_TILE];
    runner *clb = &runners[R_CLBLAST];
    if (sh->figures & FIG_A) {
        print_ratio("(a) tile kernel / gpu family, score", tile, M_SCORE, gpu, M_SCORE, repeats,
                    "> 1");
        print_ratio("(a) tile kernel / gpu family, top-10", tile, M_TOP10, gpu, M_TOP10, repeats,
                    "> 1");
    }
    if (sh->figures & FIG_B) {
        print_ratio("(b) CLBlast score / default score", clb, M_SCORE, def, M_SCORE, repeats,
                    ">= 3");
        print_ratio("(b) CLBlast score / default top-10", clb, M_SCORE, def, M_TOP10, repeats,
                    ">= 3");
    }
    if (sh->figures & FIG_C) {
        print_ratio("(c) default top-1000 / top-10", def, M_TOP1000, def, M_TOP10, repeats, "<= 3");
        print_ratio("(c) gpu family top-1000 / top-10", gpu, M_TOP1000, gpu, M_TOP10, repeats,
                    "<= 3");
    }
    fflush(stdout);
}

/* Warm-up, then the alternating repeats of every measurement of one shape. */
static int measure_shape(runner *runners, const fig_data *fd, const fig_shape *sh,
                         bench_problem *problem) {
    int items[RUNNERS * MODES][2], count = 0;
    for (int r = 0; r < RUNNERS; r++)
        for (int m = 0; m < MODES; m++)
            if (wants(r, m, sh->figures)) {
                items[count][0] = r;
                items[count][1] = m;
                count++;
            }
    double wall, cpu;
    for (int i = 0; i < count; i++) /* first calls: programs, buffers, CLBlast's compile */
        if (fig_call(&runners[items[i][0]], items[i][0], items[i][1], fd, sh, problem, &wall, &cpu))
            return 1;
    for (size_t rep = 0; rep < fd->repeats; rep++)
        for (int j = 0; j < count; j++) {
            const int i = rep % 2 ? count - 1 - j : j, r = items[i][0], m = items[i][1];
            runner *ru = &runners[r];
            if (fig_call(ru, r, m, fd, sh, problem, &ru->wall[m][rep], &ru->cpu[m][rep])) return 1;
            ru->measured[m] = 1;
        }
    return 0;
}

static int run_shape(const fig_data *fd, const fig_shape *sh) {
    runner runners[RUNNERS];
    memset(runners, 0, sizeof(runners));
    bench_problem problem = {.queries_count = sh->nq,
                             .base_count = sh->n,
                             .dim = sh->dim,
                             .metric = VS_METRIC_DOT,
                             .queries = fd->queries,
                             .base = fd->base,
                             .scores = fd->scores};
    printf("%zu x %zu x %zu, dot, figures%s%s%s: median (min .. max) of %zu, wall and process "
           "CPU time\n",
           sh->nq, sh->n, sh->dim, sh->figures & FIG_A ? " a" : "", sh->figures & FIG_B ? " b" : "",
           sh->figures & FIG_C ? " c" : "", fd->repeats);
    int failed = 0;
    for (int r = 0; r < RUNNERS && !failed; r++)
        if (runner_needed(r, sh->figures))
            failed = r == R_CLBLAST ? open_clblast(&runners[r], fd, &problem)
                                    : open_vecscore(&runners[r], r, fd, sh);
    if (!failed && runners[R_CLBLAST].open) failed = check_clblast(runners, fd, sh, &problem);
    if (!failed) failed = measure_shape(runners, fd, sh, &problem);
    if (!failed) print_shape(runners, sh, fd->repeats);
    for (int r = 0; r < RUNNERS; r++)
        close_runner(&runners[r]);
    return failed;
}

static void print_load(const char *when) {
    double load[3] = {0, 0, 0};
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
        fclose(f);
    }
    printf("load average at the %s: %.2f %.2f %.2f\n", when, load[0], load[1], load[2]);
}

int bench_cl_figures(const char *device, size_t repeats, size_t divide, int clblast_platform,
                     int clblast_device) {
    if (repeats > FIG_MAX_REPEATS) repeats = FIG_MAX_REPEATS;
    size_t most_base = 0, most_q = 0, most_scores = 0;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(*shapes); s++) {
        const size_t n = shapes[s].n / divide;
        if (n * shapes[s].dim > most_base) most_base = n * shapes[s].dim;
        if (shapes[s].nq * shapes[s].dim > most_q) most_q = shapes[s].nq * shapes[s].dim;
        if (shapes[s].nq * n > most_scores) most_scores = shapes[s].nq * n;
    }
    float *base = malloc(most_base * sizeof(float)), *queries = malloc(most_q * sizeof(float));
    fig_data fd = {.base = base,
                   .queries = queries,
                   .scores = vs_alloc_output(most_scores * sizeof(float)),
                   .top_scores = vs_alloc_output(1024 * 1000 * sizeof(float)),
                   .top_ids = vs_alloc_output(1024 * 1000 * sizeof(int64_t)),
                   .repeats = repeats,
                   .device = device,
                   .clblast_platform = clblast_platform,
                   .clblast_device = clblast_device};
    int failed = base == NULL || queries == NULL || fd.scores == NULL || fd.top_scores == NULL ||
                 fd.top_ids == NULL;
    if (failed) fprintf(stderr, "vecscore-bench-cl-k: out of memory\n");
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < most_base + most_q && !failed; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        const float x = (float)((state >> 40) & 0xFFFF) / 65536.0f - 0.5f;
        if (i < most_base)
            base[i] = x;
        else
            queries[i - most_base] = x;
    }
    const double start = bench_now();
    print_load("start");
    for (size_t s = 0; s < sizeof(shapes) / sizeof(*shapes) && !failed; s++) {
        fig_shape sh = shapes[s];
        sh.n /= divide;
        failed = run_shape(&fd, &sh);
    }
    print_load("end");
    printf("running time %.1f s\n", bench_now() - start);
    free(base);
    free(queries);
    vs_free_output(fd.scores);
    vs_free_output(fd.top_scores);
    vs_free_output(fd.top_ids);
    return failed;
}
