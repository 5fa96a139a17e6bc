/*
 * rows.c — the result rows: one per shape x metric x mode x path (main
 * scenario) or per trial and setting (contention scenario). Storage, lookup,
 * the rates (GFLOP/s counts 2·Q·N·d; GB/s the candidate and query bytes plus
 * the output: Q·N·4 for a score matrix, Q·k·12 for top-k; a compact
 * storage path, vs-<path>-f16/-bf16/-i8[-approx], counts its candidates at 2 or 1 bytes
 * per element, what it streams), % of the roofline limit, and the stdout
 * line of a row.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "harness.h"

row *bench_row_new(run_state *st) {
    if (st->nrows == st->cap) {
        size_t cap = st->cap ? 2 * st->cap : 64;
        row *grown = realloc(st->rows, cap * sizeof(row));
        if (grown == NULL) return NULL;
        st->rows = grown;
        st->cap = cap;
    }
    row *r = &st->rows[st->nrows++];
    memset(r, 0, sizeof(*r));
    r->scenario = BENCH_SCENARIO_MAIN;
    return r;
}

int bench_row_is_main(const row *r) {
    return strcmp(r->scenario, BENCH_SCENARIO_MAIN) == 0;
}

int bench_shape_equal(const shape *a, const shape *b) {
    return a->q == b->q && a->n == b->n && a->d == b->d;
}

void bench_shape_label(const shape *sh, char *out, size_t size) {
    snprintf(out, size, "%zux%zux%zu", sh->q, sh->n, sh->d);
}

const row *bench_row_find(const run_state *st, const shape *sh, vs_metric metric, int topk,
                          const char *path) {
    for (size_t i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        if (bench_row_is_main(r) && bench_shape_equal(&r->sh, sh) && r->metric == metric &&
            r->topk == topk && strcmp(r->path, path) == 0 && strcmp(r->status, "ok") == 0)
            return r;
    }
    return NULL;
}

double bench_problem_flops(const shape *sh) {
    return 2.0 * (double)sh->q * (double)sh->n * (double)sh->d;
}

double bench_problem_bytes(const shape *sh, int topk, size_t k) {
    double bytes = ((double)sh->n * (double)sh->d + (double)sh->q * (double)sh->d) * 4.0;
    bytes += topk ? (double)sh->q * (double)k * 12.0 : (double)sh->q * (double)sh->n * 4.0;
    return bytes;
}

const char *bench_mode_name(int topk) {
    return topk ? "topk" : "score";
}

int bench_path_element_bytes(const char *path) {
    /* vs-<corpus path>-<storage>[-approx] (bench/paths.c add_storage_paths) */
    size_t end = strlen(path);
    if (end > 7 && strcmp(path + end - 7, "-approx") == 0) end -= 7;
    size_t start = end;
    while (start > 0 && path[start - 1] != '-')
        start--;
    char storage[8] = "";
    vs_storage type;
    if (strncmp(path, "vs-", 3) != 0 || start <= 3 || end - start >= sizeof(storage)) return 4;
    snprintf(storage, sizeof(storage), "%.*s", (int)(end - start), path + start);
    if (vs_storage_parse(storage, &type) != VS_OK) return 4;
    return type == VS_STORAGE_I8 ? 1 : type == VS_STORAGE_F32 ? 4 : 2;
}

/* The bytes of r's call: bench_problem_bytes with the candidates at the path's element size. */
static double row_bytes(const row *r) {
    const double compact =
        (double)r->sh.n * (double)r->sh.d * (4 - bench_path_element_bytes(r->path));
    return bench_problem_bytes(&r->sh, r->topk, r->k) - compact;
}

void bench_row_limits(const run_state *st, row *r) {
    if (!(r->median > 0)) return;
    double flops = bench_problem_flops(&r->sh), bytes = row_bytes(r);
    double t_bw =
        st->machine.read_bandwidth_gbs > 0 ? bytes / (st->machine.read_bandwidth_gbs * 1e9) : 0;
    double t_fma = st->machine.peak_gflops > 0 ? flops / (st->machine.peak_gflops * 1e9) : 0;
    r->bound = t_bw >= t_fma ? "bandwidth" : "fma";
    double t_limit = t_bw > t_fma ? t_bw : t_fma;
    r->pct_limit = 100.0 * t_limit / r->median;
    r->pct_limit_best = 100.0 * t_limit / r->min;
}

void bench_row_times(row *r, const double *sorted, int count) {
    r->reps = count;
    r->median = count % 2 ? sorted[count / 2] : 0.5 * (sorted[count / 2 - 1] + sorted[count / 2]);
    r->min = sorted[0];
    r->gflops = bench_problem_flops(&r->sh) / r->median / 1e9;
    r->gbs = row_bytes(r) / r->median / 1e9;
}

void bench_print_row_header(void) {
    printf("%-20s %-6s %-5s %-20s %-6s %10s %10s %8s %7s %6s  %s\n", "shape", "metric", "mode",
           "path", "status", "median_ms", "min_ms", "GFLOP/s", "GB/s", "%limit", "note");
}

void bench_print_row(const row *r) {
    char label[48];
    bench_shape_label(&r->sh, label, sizeof(label));
    if (strcmp(r->status, "ok") == 0)
        printf("%-20s %-6s %-5s %-20s %-6s %10.3f %10.3f %8.1f %7.1f %5.0f%%  %s\n", label,
               vs_metric_name(r->metric), bench_mode_name(r->topk), r->path, r->status,
               r->median * 1e3, r->min * 1e3, r->gflops, r->gbs, r->pct_limit, r->note);
    else
        printf("%-20s %-6s %-5s %-20s %-6s %10s %10s %8s %7s %6s  %s\n", label,
               vs_metric_name(r->metric), bench_mode_name(r->topk), r->path, r->status, "-", "-",
               "-", "-", "-", r->note);
    fflush(stdout);
}
