/*
 * report.c — what a run writes besides the plots: the targets on stdout,
 * and in --out DIR results.csv (one line per row), alloc.csv, results.json
 * (the machine, the devices, the rows, the allocation rows, the targets)
 * and summary.md (the tables of docs/benchmarks.md).
 *
 * The columns of results.csv up to `note` are those of earlier versions;
 * the contention scenario's columns come after it (empty on main rows but
 * `scenario`).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "harness.h"

static void csv_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* The one JSON string writer (base/json.h), shared with the CLI. */
static void json_string(FILE *f, const char *s) {
    vs__json_string(f, s);
}

static double finite_or_zero(double x) {
    return isfinite(x) ? x : 0;
}

const char *bench_environment_settings(void) {
    static const char *names[] = {
        "OMP_WAIT_POLICY",      "OMP_NUM_THREADS",         "OMP_PROC_BIND",      "GOMP_SPINCOUNT",
        "OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_CORETYPE",  "VECSCORE_THREADS",
        "VECSCORE_ISA",         "VECSCORE_DEVICE",         "VECSCORE_CL_KERNEL", "POCL_CACHE_DIR",
        "VECSCORE_CACHE_DIR"};
    static char text[1024];
    size_t used = 0;
    text[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *value = getenv(names[i]);
        if (value && used < sizeof(text))
            used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s=%s", used ? " " : "",
                                     names[i], value);
    }
    return text;
}

const char *bench_wait_policy(void) {
    return getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "(unset)";
}

FILE *bench_open_out(const run_state *st, const char *name) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", st->opt.out_dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) fprintf(stderr, "%s: cannot write %s: %s\n", st->prog, path, strerror(errno));
    return f;
}

/* Closes f; -1 (and a message) if anything written to it was lost. */
static int close_out(const run_state *st, FILE *f, const char *name) {
    int failed = ferror(f);
    failed |= fclose(f) != 0;
    if (failed) fprintf(stderr, "%s: writing %s/%s failed\n", st->prog, st->opt.out_dir, name);
    return failed ? -1 : 0;
}

void bench_print_targets(const run_state *st) {
    printf("\ntargets (this run)\n");
    for (int i = 0; i < st->ntargets; i++)
        printf("  %-8s %-62s %s\n", st->targets[i].verdict, st->targets[i].name,
               st->targets[i].measured);
}

/* ---- results.csv, alloc.csv --------------------------------------------------------------- */

static void csv_contention_fields(FILE *f, const row *r) {
    fprintf(f, ",%s,", r->scenario);
    if (bench_row_is_main(r)) {
        fprintf(f, ",,,,,,,,");
        return;
    }
    fprintf(f, "%d,%d,%d,%ld,%.3f,", r->trial, r->load, r->callers, r->calls, r->throughput);
    if (r->has_ratio)
        fprintf(f, "%.4f,%.4f,%.4f,", r->ratio, r->ratio_max, r->ratio_median);
    else
        fprintf(f, ",,,");
    csv_string(f, r->ratio_definition ? r->ratio_definition : "");
}

static void csv_row(FILE *f, const run_state *st, const row *r) {
    const bench_path_info *in = &r->info;
    fprintf(f, "%s,", st->date);
    csv_string(f, st->machine.cpu_model);
    fprintf(f, ",%s,%s,%zu,%zu,%zu,%s,%s,%zu,%s,%s,%s,%d,%.9f,%.9f,%.3f,%.3f,%.2f,%.2f,%s,",
            vs_version(), vs_cpu_best_isa(), r->sh.q, r->sh.n, r->sh.d, vs_metric_name(r->metric),
            bench_mode_name(r->topk), r->k, r->path, r->kind, r->status, r->reps, r->median, r->min,
            r->gflops, r->gbs, r->pct_limit, r->pct_limit_best, r->bound ? r->bound : "");
    csv_string(f, in->backend);
    fputc(',', f);
    csv_string(f, in->isa);
    fputc(',', f);
    csv_string(f, in->device);
    fputc(',', f);
    csv_string(f, in->driver);
    fprintf(f, ",%d,", in->threads);
    csv_string(f, in->settings);
    fprintf(f, ",%.6f,%.6f,%.6f,%llu,%llu,%llu,%llu,", in->transfer_seconds, in->kernel_seconds,
            in->compile_seconds, (unsigned long long)in->bytes_mapped,
            (unsigned long long)in->bytes_copied, (unsigned long long)in->arena_high_water,
            (unsigned long long)in->scratch_high_water);
    if (r->has_first)
        fprintf(f, "%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,", r->first_cold, r->first_warm, r->compile_cold,
                r->compile_warm, r->setup_cold, r->setup_warm);
    else
        fprintf(f, ",,,,,,");
    csv_string(f, r->note);
    csv_contention_fields(f, r);
    fputc('\n', f);
}

static int write_csv(const run_state *st) {
    FILE *f = bench_open_out(st, "results.csv");
    if (f == NULL) return -1;
    fprintf(f, "date,cpu,library_version,best_isa,queries,candidates,dim,metric,mode,k,path,kind,"
               "status,reps,median_s,min_s,gflops,gbs,pct_limit,pct_limit_best,limit,backend,isa,"
               "device,driver,threads,settings,transfer_s,kernel_s,compile_s,bytes_mapped,"
               "bytes_copied,arena_high_water,scratch_high_water,first_call_cold_s,"
               "first_call_warm_s,compile_cold_s,compile_warm_s,setup_cold_s,setup_warm_s,note,"
               "scenario,trial,load,callers,calls,throughput_qps,ratio,ratio_max,ratio_median,"
               "ratio_definition\n");
    for (size_t i = 0; i < st->nrows; i++)
        csv_row(f, st, &st->rows[i]);
    if (close_out(st, f, "results.csv") != 0) return -1;
    f = bench_open_out(st, "alloc.csv");
    if (f == NULL) return -1;
    fprintf(f, "pattern,allocator,bytes,threads,ns_per_alloc_median,ns_per_alloc_min\n");
    for (int i = 0; i < st->nalloc; i++) {
        const bench_alloc_row *a = &st->alloc[i];
        fprintf(f, "%s,%s,%zu,%d,%.3f,%.3f\n", a->pattern, a->allocator, a->bytes, a->threads,
                a->ns_per_alloc, a->ns_per_alloc_min);
    }
    return close_out(st, f, "alloc.csv");
}

/* ---- results.json ------------------------------------------------------------------------- */

static void json_machine(FILE *f, const run_state *st) {
    const bench_machine *mc = &st->machine;
    fprintf(f, ",\n  \"machine\": {\"cpu\": ");
    json_string(f, mc->cpu_model);
    fprintf(f, ", \"best_isa\": ");
    json_string(f, vs_cpu_best_isa());
    fprintf(f,
            ", \"threads\": %d, \"read_bandwidth_gbs\": %.3f, "
            "\"read_bandwidth_small_pages_gbs\": %.3f, \"peak_gflops\": %.3f, "
            "\"peak_avx512_gflops\": %.3f, \"peak_avx2_gflops\": %.3f, \"omp_wait_policy\": ",
            mc->threads, mc->read_bandwidth_gbs, mc->read_bandwidth_small_gbs, mc->peak_gflops,
            mc->peak_avx512_gflops, mc->peak_avx2_gflops);
    json_string(f, getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "");
    fprintf(f, ", \"environment\": ");
    json_string(f, bench_environment_settings());
    fprintf(f,
            ", \"limits_start\": {\"read_bandwidth_gbs\": %.3f, \"peak_gflops\": %.3f}, "
            "\"limits_end\": {\"read_bandwidth_gbs\": %.3f, \"peak_gflops\": %.3f}",
            st->machine_start.read_bandwidth_gbs, st->machine_start.peak_gflops,
            st->machine_end.read_bandwidth_gbs, st->machine_end.peak_gflops);
    fprintf(f,
            ", \"last_level_cache_bytes\": %zu, \"online_cpus\": %d, \"openblas\": ", mc->llc_bytes,
            bench_online_cpus());
    json_string(f, bench_blas_config());
    fprintf(f, "},\n  \"devices\": [");
    int devices = vs_device_count();
    for (int i = 0; i < devices; i++) {
        vs_device dev;
        if (vs_device_info(i, &dev) != VS_OK) continue;
        fprintf(f, "%s\n    {\"selector\": ", i ? "," : "");
        json_string(f, dev.selector);
        fprintf(f, ", \"name\": ");
        json_string(f, dev.name);
        fprintf(f, ", \"platform\": ");
        json_string(f, dev.platform);
        fprintf(f, ", \"driver\": ");
        json_string(f, dev.driver_version);
        fprintf(f, ", \"compute_units\": %u}", dev.compute_units);
    }
    fprintf(f, "\n  ]");
}

/* The fields after "settings": report, first call, contention, note. */
static void json_row_tail(FILE *f, const row *r) {
    const bench_path_info *in = &r->info;
    if (in->has_report)
        fprintf(f,
                ", \"transfer_s\": %.6f, \"kernel_s\": %.6f, \"compile_s\": %.6f, "
                "\"bytes_mapped\": %llu, \"bytes_copied\": %llu, \"arena_high_water\": %llu, "
                "\"scratch_high_water\": %llu",
                in->transfer_seconds, in->kernel_seconds, in->compile_seconds,
                (unsigned long long)in->bytes_mapped, (unsigned long long)in->bytes_copied,
                (unsigned long long)in->arena_high_water,
                (unsigned long long)in->scratch_high_water);
    if (r->has_first)
        fprintf(f,
                ", \"first_call_cold_s\": %.6f, \"first_call_warm_s\": %.6f, "
                "\"compile_cold_s\": %.6f, \"compile_warm_s\": %.6f, \"program_cache_cold\": "
                "%d, \"program_cache_warm\": %d, \"setup_cold_s\": %.6f, \"setup_warm_s\": "
                "%.6f",
                r->first_cold, r->first_warm, r->compile_cold, r->compile_warm, r->cache_cold,
                r->cache_warm, r->setup_cold, r->setup_warm);
    fprintf(f, ", \"scenario\": \"%s\"", r->scenario);
    if (!bench_row_is_main(r)) {
        fprintf(f,
                ", \"trial\": %d, \"load\": %d, \"callers\": %d, \"calls\": %ld, "
                "\"throughput_qps\": %.3f",
                r->trial, r->load, r->callers, r->calls, finite_or_zero(r->throughput));
        if (r->has_ratio) {
            fprintf(f, ", \"ratio\": %.4f, \"ratio_max\": %.4f, \"ratio_median\": %.4f",
                    finite_or_zero(r->ratio), finite_or_zero(r->ratio_max),
                    finite_or_zero(r->ratio_median));
            fprintf(f, ", \"ratio_definition\": ");
            json_string(f, r->ratio_definition);
        }
    }
    fprintf(f, ", \"note\": ");
    json_string(f, r->note);
}

static void json_row(FILE *f, const row *r, int first) {
    const bench_path_info *in = &r->info;
    fprintf(f, "%s\n    {\"queries\": %zu, \"candidates\": %zu, \"dim\": %zu, \"metric\": ",
            first ? "" : ",", r->sh.q, r->sh.n, r->sh.d);
    json_string(f, vs_metric_name(r->metric));
    fprintf(f, ", \"mode\": \"%s\", \"k\": %zu, \"path\": ", bench_mode_name(r->topk), r->k);
    json_string(f, r->path);
    fprintf(f,
            ", \"kind\": \"%s\", \"status\": \"%s\", \"reps\": %d, \"median_s\": %.9f, "
            "\"min_s\": %.9f, \"gflops\": %.3f, \"gbs\": %.3f, \"pct_limit\": %.2f, "
            "\"pct_limit_best\": %.2f, \"limit\": \"%s\", \"backend\": ",
            r->kind, r->status, r->reps, r->median, r->min, finite_or_zero(r->gflops),
            finite_or_zero(r->gbs), finite_or_zero(r->pct_limit), finite_or_zero(r->pct_limit_best),
            r->bound ? r->bound : "");
    json_string(f, in->backend);
    fprintf(f, ", \"isa\": ");
    json_string(f, in->isa);
    fprintf(f, ", \"device\": ");
    json_string(f, in->device);
    fprintf(f, ", \"driver\": ");
    json_string(f, in->driver);
    fprintf(f, ", \"threads\": %d, \"settings\": ", in->threads);
    json_string(f, in->settings);
    fprintf(f, ", \"fallback\": ");
    json_string(f, in->fallback);
    json_row_tail(f, r);
    fprintf(f, "}");
}

static void json_alloc_and_targets(FILE *f, const run_state *st) {
    fprintf(f, "\n  ],\n  \"alloc\": [");
    for (int i = 0; i < st->nalloc; i++) {
        const bench_alloc_row *a = &st->alloc[i];
        fprintf(f,
                "%s\n    {\"pattern\": \"%s\", \"allocator\": \"%s\", \"bytes\": %zu, \"threads\": "
                "%d, \"ns_per_alloc\": %.3f, \"ns_per_alloc_min\": %.3f}",
                i ? "," : "", a->pattern, a->allocator, a->bytes, a->threads, a->ns_per_alloc,
                a->ns_per_alloc_min);
    }
    fprintf(f, "\n  ],\n  \"targets\": [");
    for (int i = 0; i < st->ntargets; i++) {
        fprintf(f, "%s\n    {\"target\": ", i ? "," : "");
        json_string(f, st->targets[i].name);
        fprintf(f, ", \"measured\": ");
        json_string(f, st->targets[i].measured);
        fprintf(f, ", \"verdict\": ");
        json_string(f, st->targets[i].verdict);
        fprintf(f, "}");
    }
    fprintf(f, "\n  ]\n}\n");
}

static int write_json(const run_state *st) {
    FILE *f = bench_open_out(st, "results.json");
    if (f == NULL) return -1;
    fprintf(f, "{\n  \"date\": ");
    json_string(f, st->date);
    fprintf(f, ",\n  \"library_version\": ");
    json_string(f, vs_version());
    json_machine(f, st);
    fprintf(f, ",\n  \"rows\": [");
    for (size_t i = 0; i < st->nrows; i++)
        json_row(f, &st->rows[i], i == 0);
    json_alloc_and_targets(f, st);
    return close_out(st, f, "results.json");
}

/* ---- summary.md --------------------------------------------------------------------------- */

static void markdown_machine(FILE *f, const run_state *st) {
    const bench_machine *mc = &st->machine;
    fprintf(f,
            "Run %s, vecscore %s, CPU \"%s\" (best ISA %s, %d OpenMP threads, "
            "OMP_WAIT_POLICY=%s; environment: %s).\n\n"
            "Limits measured in this run (better of start and end): read bandwidth %.1f GB/s "
            "(start %.1f, end %.1f); peak FMA %.1f GFLOP/s (start %.1f, end %.1f; AVX-512 %.1f, "
            "AVX2 %.1f).\n\n",
            st->date, vs_version(), mc->cpu_model, vs_cpu_best_isa(), mc->threads,
            bench_wait_policy(),
            bench_environment_settings()[0] ? bench_environment_settings() : "none set",
            mc->read_bandwidth_gbs, st->machine_start.read_bandwidth_gbs,
            st->machine_end.read_bandwidth_gbs, mc->peak_gflops, st->machine_start.peak_gflops,
            st->machine_end.peak_gflops, mc->peak_avx512_gflops, mc->peak_avx2_gflops);
}

static void markdown_dot_rows(FILE *f, const run_state *st) {
    fprintf(f, "| shape QxNxd | mode | path | status | median ms | min ms | GFLOP/s | GB/s | "
               "%% limit | note |\n|---|---|---|---|---:|---:|---:|---:|---:|---|\n");
    for (size_t i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        if (!bench_row_is_main(r) || r->metric != VS_METRIC_DOT) continue;
        fprintf(f, "| %zux%zux%zu | %s | %s | %s |", r->sh.q, r->sh.n, r->sh.d,
                bench_mode_name(r->topk), r->path, r->status);
        if (strcmp(r->status, "ok") == 0)
            fprintf(f, " %.3f | %.3f | %.1f | %.1f | %.0f%% |", r->median * 1e3, r->min * 1e3,
                    r->gflops, r->gbs, r->pct_limit);
        else
            fprintf(f, " | | | | |");
        fprintf(f, " %s |\n", r->note);
    }
}

static void markdown_alloc(FILE *f, const run_state *st) {
    if (!st->nalloc) return;
    fprintf(f, "\n| pattern | allocator | bytes | threads | ns per allocation (median) | "
               "min |\n|---|---|---:|---:|---:|---:|\n");
    for (int i = 0; i < st->nalloc; i++) {
        const bench_alloc_row *a = &st->alloc[i];
        if (a->bytes)
            fprintf(f, "| %s | %s | %zu | %d | %.2f | %.2f |\n", a->pattern, a->allocator, a->bytes,
                    a->threads, a->ns_per_alloc, a->ns_per_alloc_min);
        else
            fprintf(f, "| %s | %s | 3 KB-1 MB | %d | %.2f | %.2f |\n", a->pattern, a->allocator,
                    a->threads, a->ns_per_alloc, a->ns_per_alloc_min);
    }
}

/* The contention rows: a line per trial (default vs 1 thread), per shape, per callers count. */
static void markdown_contention(FILE *f, const run_state *st) {
    int header = 0;
    for (size_t i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        if (bench_row_is_main(r)) continue;
        if (!header++)
            fprintf(f, "\n| contention: shape QxNxd | path | trial | load (busy loops) | "
                       "callers | status | median ms | queries/s | ratio | ratio max | "
                       "ratio median | note |\n"
                       "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|\n");
        fprintf(f, "| %zux%zux%zu | %s | %s%.0d | %d | %d | %s |", r->sh.q, r->sh.n, r->sh.d,
                r->path, r->trial ? "" : "all", r->trial, r->load, r->callers, r->status);
        if (strcmp(r->status, "ok") == 0)
            fprintf(f, " %.3f | %.0f |", r->median * 1e3, r->throughput);
        else
            fprintf(f, " | |");
        if (r->has_ratio)
            fprintf(f, " %.2fx | %.2fx | %.2fx |", r->ratio, r->ratio_max, r->ratio_median);
        else
            fprintf(f, " | | |");
        fprintf(f, " %s |\n", r->note);
    }
    if (header)
        fprintf(f, "\nratio: default threads / 1 thread (median time, same trial, under load) on "
                   "vs-cpu:threads=default rows; total throughput of N callers / 1 caller on "
                   "vs-cpu:callers=N rows. Trial \"all\": ratio = the worst trial.\n");
}

static int write_markdown(const run_state *st) {
    FILE *f = bench_open_out(st, "summary.md");
    if (f == NULL) return -1;
    markdown_machine(f, st);
    markdown_dot_rows(f, st);
    markdown_alloc(f, st);
    markdown_contention(f, st);
    fprintf(f, "\n| target | measured | verdict |\n|---|---|---|\n");
    for (int i = 0; i < st->ntargets; i++)
        fprintf(f, "| %s | %s | %s |\n", st->targets[i].name, st->targets[i].measured,
                st->targets[i].verdict);
    return close_out(st, f, "summary.md");
}

int bench_write_results(const run_state *st) {
    int failed = write_csv(st) != 0;
    failed |= write_json(st) != 0;
    failed |= write_markdown(st) != 0;
    return failed ? -1 : 0;
}
