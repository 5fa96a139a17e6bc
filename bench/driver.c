/*
 * driver.c — vecscore-bench, the device-comparison and peer benchmark
 * (docs/benchmarks.md): the steps of a run, in order. The modules that do
 * the work are listed in harness.h, the interface they share; this file is
 * above all of them and no module calls it.
 *
 *   1. options; paths (--list stops here)
 *   2. the machine's limits (read bandwidth, peak FMA) at the start
 *   3. the allocation benchmark (first, while malloc is in its start-up state)
 *   4. the timing loop over shapes x metrics x paths x modes
 *   5. the contention scenario (a competing load; N callers on one context)
 *   6. the limits again at the end (the better of the two is the limit),
 *      then the targets, results.csv/json, summary.md and the plots
 *
 * Exit status: 0, 1 usage, 2 a vecscore path failed its check, 3 setup failed.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* The name in messages: argv[0] without its directory ("vecscore bench" when
 * the vecscore command runs us). */
static const char *program_name(const char *argv0) {
    if (argv0 == NULL || argv0[0] == '\0') return "vecscore-bench";
    const char *slash = strrchr(argv0, '/');
    return slash ? slash + 1 : argv0;
}

static void print_header(const run_state *st) {
    const bench_machine *mc = &st->machine;
    printf("vecscore %s benchmark, %s\n", vs_version(), st->date);
    printf("cpu: %s; best ISA %s; %d OpenMP threads; OMP_WAIT_POLICY=%s\n", mc->cpu_model,
           vs_cpu_best_isa(), mc->threads, bench_wait_policy());
    printf("measured limits: read bandwidth %.1f GB/s (%.1f on 4 KiB pages); peak FMA %.1f "
           "GFLOP/s (AVX-512 %.1f, AVX2 %.1f)\n",
           mc->read_bandwidth_gbs, mc->read_bandwidth_small_gbs, mc->peak_gflops,
           mc->peak_avx512_gflops, mc->peak_avx2_gflops);
    if (bench_blas_config()[0]) {
        printf("openblas: %s\n", bench_blas_config());
        char lower[256];
        size_t i = 0;
        for (const char *c = bench_blas_config(); *c && i + 1 < sizeof(lower); c++)
            lower[i++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        lower[i] = '\0';
        if (vs_cpu_isa_supported("avx512") && !strstr(lower, "core skylakex") &&
            !strstr(lower, "core cooperlake") && !strstr(lower, "core sapphirerapids"))
            printf("note: OpenBLAS runs kernels without AVX-512 on this AVX-512 CPU; "
                   "OPENBLAS_CORETYPE=SkylakeX selects its AVX-512 kernels\n");
    }
    const char *env = bench_environment_settings();
    printf("environment: %s\n", env[0] ? env : "(none set)");
    printf("paths:");
    for (int i = 0; i < st->npaths; i++)
        printf(" %s", st->paths[i].name);
    printf("\nreps %d after 1 warm-up; k=%zu; times are per call; %%limit = roofline time "
           "max(bytes/bandwidth, flops/peak) / median\n\n",
           st->opt.reps, st->opt.k);
    fflush(stdout);
}

static void run_alloc(run_state *st) {
    st->nalloc = bench_alloc_run(st->alloc, 64, st->opt.quick, omp_get_max_threads());
    printf("allocation (ns per allocation per thread, median of 5; min)\n");
    printf("%-14s %-7s %9s %7s %10s %10s\n", "pattern", "alloc", "bytes", "threads", "median",
           "min");
    for (int i = 0; i < st->nalloc; i++) {
        const bench_alloc_row *a = &st->alloc[i];
        char bytes[32];
        if (a->bytes)
            snprintf(bytes, sizeof(bytes), "%zu", a->bytes);
        else
            snprintf(bytes, sizeof(bytes), "3K-1M");
        printf("%-14s %-7s %9s %7d %10.2f %10.2f\n", a->pattern, a->allocator, bytes, a->threads,
               a->ns_per_alloc, a->ns_per_alloc_min);
    }
}

/* Limits again at the end; the better of the two is the limit (a busy moment
 * during one measurement then does not inflate every %). */
static void limits_at_end(run_state *st) {
    bench_machine end;
    bench_machine_measure(&end, st->opt.quick);
    printf("\nlimits at the end: read bandwidth %.1f GB/s (%.1f on 4 KiB pages); peak FMA %.1f "
           "GFLOP/s (AVX-512 %.1f, AVX2 %.1f); the larger of start and end is used\n",
           end.read_bandwidth_gbs, end.read_bandwidth_small_gbs, end.peak_gflops,
           end.peak_avx512_gflops, end.peak_avx2_gflops);
    st->machine_start = st->machine;
    st->machine_end = end;
    bench_machine *best = &st->machine;
#define BENCH_MAX_(field)                                                                          \
    if (end.field > best->field) best->field = end.field
    BENCH_MAX_(read_bandwidth_gbs);
    BENCH_MAX_(read_bandwidth_small_gbs);
    BENCH_MAX_(peak_gflops);
    BENCH_MAX_(peak_avx512_gflops);
    BENCH_MAX_(peak_avx2_gflops);
#undef BENCH_MAX_
    for (size_t i = 0; i < st->nrows; i++)
        if (bench_row_is_main(&st->rows[i])) bench_row_limits(st, &st->rows[i]);
}

/* Steps 2 to 6; returns the exit status. */
static int run(run_state *st) {
    const options *o = &st->opt;
    if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: cannot create %s: %s\n", st->prog, o->out_dir, strerror(errno));
        return 3;
    }
    /* --contention measures the limits too: its idle rows are judged against them. */
    bench_machine_measure(&st->machine, o->quick);
    print_header(st);
    /* The allocation benchmark runs first, while malloc is in its start-up
     * state (glibc's mmap threshold adapts to what the process has freed). */
    if (o->alloc && !o->contention_only) run_alloc(st);
    printf("\n");
    int status = bench_run_shapes(st);
    if (status == 0 && o->contention) status = bench_contention_run(st);
    if (status != 0) return status;
    limits_at_end(st);
    bench_targets_evaluate(st);
    bench_print_targets(st);
    if (bench_write_results(st) != 0) status = 3;
    bench_write_plots(st);
    printf("\nwrote %s/results.csv, results.json, alloc.csv, summary.md, plot.gp%s\n", o->out_dir,
           o->plots ? " and PNG plots" : "");
    if (status == 0 && st->vecscore_failures) {
        fprintf(stderr, "%s: %d vecscore row(s) disagree with the float64 reference\n", st->prog,
                st->vecscore_failures);
        status = 2;
    }
    return status;
}

static int list_paths(const run_state *st) {
    for (int i = 0; i < st->npaths; i++)
        printf("%-22s %s\n", st->paths[i].name, st->paths[i].kind);
    return 0;
}

int vs_bench_main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--first-call") == 0)
        return bench_first_call_child(argc - 1, argv + 1);
    run_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        fprintf(stderr, "%s: out of memory\n", program_name(argc ? argv[0] : NULL));
        return 3;
    }
    st->prog = program_name(argc ? argv[0] : NULL);
    int status = bench_options_parse(&st->opt, argc, argv, st->prog) == 0 ? 0 : 1;
    if (status == 0 && st->opt.help) {
        bench_usage(stdout, st->prog);
        free(st);
        return 0;
    }
    ssize_t len = status ? -1 : readlink("/proc/self/exe", st->self_exe, sizeof(st->self_exe) - 1);
    if (len > 0)
        st->self_exe[len] = '\0';
    else
        st->opt.first_call = 0; /* the children run this program again */
    time_t now = time(NULL);
    struct tm tm_utc;
    gmtime_r(&now, &tm_utc);
    strftime(st->date, sizeof(st->date), "%Y-%m-%dT%H:%M:%SZ", &tm_utc);
    if (status == 0 && bench_paths_build(st) == 0) {
        fprintf(stderr, "%s: no path selected (see --list)\n", st->prog);
        status = 1;
    }
    if (status == 0) status = st->opt.list_only ? list_paths(st) : run(st);
    bench_paths_destroy(st);
    free(st->rows);
    free(st);
    return status;
}
