/*
 * targets.c — the targets of the issues, judged on the rows of this run.
 *
 * Most targets compare two rows (ours against a peer, or ours against the
 * machine limit); they are one line each in the table below: the name, the
 * rows (shape, metric, mode, path), the rule and its threshold, and how the
 * measurement is written. "@opencl" stands for the first OpenCL vecscore
 * path and "@clblast" for the first CLBlast path. The targets that look at
 * many rows (first calls, the arena, auto against every path, contention)
 * are functions, listed in the same table.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct row_ref {
    shape sh;
    vs_metric metric;
    int topk;
    const char *path; /* NULL: no such row */
} row_ref;

/* How a two-row target is judged: */
typedef enum rule {
    PCT_AT_LEAST,     /* ours: % of limit >= threshold */
    SPEEDUP_AT_LEAST, /* peer median / ours median >= threshold */
} rule;

/* How its measurement is written (the texts of earlier runs, kept). */
typedef enum text_style {
    TEXT_BANDWIDTH,      /* % of bandwidth, with the peer and the extra row's % */
    TEXT_RATIO_US,       /* "N.Nx (a us vs b us, cosine top-k)" */
    TEXT_NO_SLOWER_US,   /* "vecscore top-k a us vs sgemv score-only b us (N.NNx)" */
    TEXT_RATIO_MS,       /* "N.NNx (a ms vs b ms)" */
    TEXT_RATIO_MS_PEAK,  /* as TEXT_RATIO_MS, with the peer's % of peak */
    TEXT_RATIO_MS_1,     /* "N.Nx (a ms vs b ms)" */
    TEXT_OPENCL_CLBLAST, /* top-k and score (extra row) against CLBlast */
    TEXT_OPENCL_BANDWIDTH,
    TEXT_COMPACT, /* "ratio 0.NN to float32 (a ms vs b ms)" */
} text_style;

typedef struct target_spec target_spec;
typedef void (*target_fn)(run_state *st, const target_spec *spec);

struct target_spec {
    const char *name;
    row_ref ours, peer, extra; /* extra: a third row shown in the text */
    rule rule;
    double threshold;
    text_style text;
    const char *missing; /* the verdict's reason when a row is missing */
    target_fn evaluate;  /* the many-row targets: everything above unused */
};

#define DOT VS_METRIC_DOT
#define COS VS_METRIC_COSINE
#define ROW(q, n, d, metric, topk, path)                                                           \
    { {q, n, d}, metric, topk, path }

static void add_target(run_state *st, const char *name, const char *measured, int met,
                       const char *missing) {
    if (st->ntargets >= MAX_TARGETS) return;
    target *t = &st->targets[st->ntargets++];
    snprintf(t->name, sizeof(t->name), "%s", name);
    snprintf(t->measured, sizeof(t->measured), "%s", measured);
    if (missing)
        snprintf(t->verdict, sizeof(t->verdict), "not measured (%s)", missing);
    else
        snprintf(t->verdict, sizeof(t->verdict), "%s", met ? "met" : "MISSED");
}

/* The path a row_ref names in this run ("@opencl", "@clblast" resolved), or NULL. */
static const char *resolve_path(const run_state *st, const char *path) {
    if (path == NULL || path[0] != '@') return path;
    for (int i = 0; i < st->npaths; i++) {
        const bench_path *p = &st->paths[i];
        if (strcmp(path, "@opencl") == 0 && p->opencl_device >= 0) return p->name;
        if (strcmp(path, "@clblast") == 0 && strncmp(p->name, "clblast", 7) == 0) return p->name;
    }
    return NULL;
}

static const row *find(const run_state *st, const row_ref *ref) {
    const char *path = resolve_path(st, ref->path);
    return path ? bench_row_find(st, &ref->sh, ref->metric, ref->topk, path) : NULL;
}

static void write_text(const run_state *st, const target_spec *spec, const row *a, const row *b,
                       const row *c, char *m, size_t size) {
    double ratio = b ? b->median / a->median : 0;
    double bw = st->machine.read_bandwidth_gbs;
    switch (spec->text) {
    case TEXT_BANDWIDTH:
        if (b)
            snprintf(m, size,
                     "%.0f%% of %.1f GB/s (%.1f GB/s); openblas sgemv %.0f%%; faiss %.0f%%",
                     a->pct_limit, bw, a->gbs, b->pct_limit, c ? c->pct_limit : 0.0);
        else
            snprintf(m, size, "%.0f%% of %.1f GB/s (%.1f GB/s); openblas sgemv %s; faiss %s",
                     a->pct_limit, bw, a->gbs, "n/a", c ? "" : "n/a");
        break;
    case TEXT_RATIO_US:
        snprintf(m, size, "%.1fx (%.2f us vs %.2f us, cosine top-k)", ratio, a->median * 1e6,
                 b->median * 1e6);
        break;
    case TEXT_NO_SLOWER_US:
        snprintf(m, size, "vecscore top-k %.2f us vs sgemv score-only %.2f us (%.2fx)",
                 a->median * 1e6, b->median * 1e6, ratio);
        break;
    case TEXT_RATIO_MS:
        snprintf(m, size, "%.2fx (%.2f ms vs %.2f ms)", ratio, a->median * 1e3, b->median * 1e3);
        break;
    case TEXT_RATIO_MS_PEAK:
        snprintf(m, size, "%.2fx (%.2f ms vs %.2f ms; sgemm at %.0f%% of peak)", ratio,
                 a->median * 1e3, b->median * 1e3, b->pct_limit);
        break;
    case TEXT_RATIO_MS_1:
        snprintf(m, size, "%.1fx (%.2f ms vs %.2f ms)", ratio, a->median * 1e3, b->median * 1e3);
        break;
    case TEXT_OPENCL_CLBLAST:
        snprintf(m, size, "top-k %.2fx, score %.2fx (%.1f / %.1f ms vs CLBlast %.1f ms)", ratio,
                 c ? b->median / c->median : 0.0, a->median * 1e3, c ? c->median * 1e3 : 0.0,
                 b->median * 1e3);
        break;
    case TEXT_OPENCL_BANDWIDTH:
        snprintf(m, size, "%.0f%% (%.1f GB/s of %.1f)", a->pct_limit, a->gbs, bw);
        break;
    case TEXT_COMPACT:
        snprintf(m, size,
                 "ratio %.3f to float32 (%.2f ms vs %.2f ms; rescored: the path's settings)",
                 a->median / b->median, a->median * 1e3, b->median * 1e3);
        break;
    }
}

/* A target of two rows (the peer row is optional for PCT_AT_LEAST). */
static void evaluate_pair(run_state *st, const target_spec *spec) {
    const row *a = find(st, &spec->ours), *b = find(st, &spec->peer), *c = find(st, &spec->extra);
    int have = a && (spec->rule == PCT_AT_LEAST || b);
    char m[256] = "";
    if (have) write_text(st, spec, a, b, c, m, sizeof(m));
    int met = 0;
    if (have && spec->rule == PCT_AT_LEAST) met = a->pct_limit >= spec->threshold;
    if (have && spec->rule == SPEEDUP_AT_LEAST) met = b->median / a->median >= spec->threshold;
    add_target(st, spec->name, m, met, have ? NULL : spec->missing);
}

/* ---- the many-row targets ----------------------------------------------------------------- */

static void first_call_target(run_state *st, const target_spec *spec) {
    double worst = 0;
    char detail[256] = "", m[256];
    int any = 0;
    for (size_t i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        if (!r->has_first) continue;
        double ratio = r->first_warm / r->median;
        size_t used = strlen(detail);
        if (used < sizeof(detail))
            snprintf(detail + used, sizeof(detail) - used, "%s%zux%zux%zu %.2fx (setup %.0f ms)",
                     any ? ", " : "", r->sh.q, r->sh.n, r->sh.d, ratio, r->setup_warm * 1e3);
        if (ratio > worst) worst = ratio;
        any = 1;
    }
    snprintf(m, sizeof(m), "warm first call / steady median: %s", detail);
    add_target(st, spec->name, any ? m : "", any && worst <= 2.0,
               any ? NULL : "no OpenCL first-call rows");
}

/* The arena's single-pattern figures: the worst, 3 KB against malloc, 1 vs 2 threads. */
typedef struct arena_figures {
    double arena3k, malloc3k, worst_arena, arena1, arena2;
    size_t worst_size;
} arena_figures;

static void arena_two_threads(const run_state *st, const bench_alloc_row *r, arena_figures *f) {
    for (int j = 0; j < st->nalloc; j++) { /* the same size on 1 thread */
        const bench_alloc_row *one = &st->alloc[j];
        if (strcmp(one->pattern, "single") == 0 && one->threads == 1 && one->bytes == r->bytes &&
            strcmp(one->allocator, "arena") == 0 &&
            (f->arena2 == 0 || r->ns_per_alloc / one->ns_per_alloc > f->arena2 / f->arena1)) {
            f->arena1 = one->ns_per_alloc;
            f->arena2 = r->ns_per_alloc;
            f->worst_size = r->bytes;
        }
    }
}

static arena_figures arena_collect(const run_state *st) {
    arena_figures f;
    memset(&f, 0, sizeof(f));
    for (int i = 0; i < st->nalloc; i++) {
        const bench_alloc_row *r = &st->alloc[i];
        if (strcmp(r->pattern, "single") != 0) continue;
        int arena = strcmp(r->allocator, "arena") == 0;
        if (arena && r->ns_per_alloc > f.worst_arena) f.worst_arena = r->ns_per_alloc;
        if (r->bytes == 3 * 1024 && r->threads == 1) {
            if (arena)
                f.arena3k = r->ns_per_alloc;
            else
                f.malloc3k = r->ns_per_alloc;
        }
        if (arena && r->threads == 2) arena_two_threads(st, r, &f);
    }
    return f;
}

static void arena_targets(run_state *st, const target_spec *spec) {
    (void)spec;
    arena_figures f = arena_collect(st);
    int have = st->nalloc > 0;
    char m[256];
    snprintf(m, sizeof(m),
             "worst arena allocation %.2f ns (single pattern, 64 B .. 1 MB, 1 and 2 threads)",
             f.worst_arena);
    add_target(st, "Arena <= 3 ns per allocation", have ? m : "", have && f.worst_arena <= 3.0,
               have ? NULL : "--no-alloc");
    snprintf(m, sizeof(m), "%.1fx (arena %.2f ns, malloc+free %.2f ns)",
             f.arena3k > 0 ? f.malloc3k / f.arena3k : 0.0, f.arena3k, f.malloc3k);
    add_target(st, "Arena >= 5x faster than malloc+free at 3 KB", have ? m : "",
               have && f.arena3k > 0 && f.malloc3k / f.arena3k >= 5, have ? NULL : "--no-alloc");
    snprintf(m, sizeof(m), "worst size %zu B: 1 thread %.2f ns, 2 threads %.2f ns per thread",
             f.worst_size, f.arena1, f.arena2);
    add_target(st, "Arena: no slowdown with both threads allocating", have && f.arena2 > 0 ? m : "",
               have && f.arena2 > 0 && f.arena2 <= 1.1 * f.arena1,
               have && f.arena2 > 0 ? NULL : "needs 2 threads");
}

/* The fastest float32 vecscore path (not after-BLAS, not one-shot, not compact storage) on r's
 * shape, metric and mode. */
static const row *best_vecscore_row(const run_state *st, const row *r) {
    const row *best = r;
    for (size_t j = 0; j < st->nrows; j++) {
        const row *o = &st->rows[j];
        if (!bench_row_is_main(o) || strcmp(o->kind, "vecscore") != 0 ||
            strcmp(o->status, "ok") != 0 || strstr(o->path, "after") ||
            strstr(o->path, "oneshot") || bench_path_element_bytes(o->path) != 4 ||
            !bench_shape_equal(&o->sh, &r->sh) || o->metric != r->metric || o->topk != r->topk)
            continue;
        if (o->median < best->median) best = o;
    }
    return best;
}

static void auto_target(run_state *st, const target_spec *spec) {
    double worst = 0;
    char detail[256] = "", m[256];
    int any = 0;
    for (size_t i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        if (!bench_row_is_main(r) || strcmp(r->path, "vs-auto") != 0 ||
            strcmp(r->status, "ok") != 0)
            continue;
        const row *best = best_vecscore_row(st, r);
        double ratio = r->median / best->median;
        if (ratio > worst) {
            worst = ratio;
            snprintf(detail, sizeof(detail), "worst: %zux%zux%zu %s %s, auto %.3f ms vs %s %.3f ms",
                     r->sh.q, r->sh.n, r->sh.d, vs_metric_name(r->metric), bench_mode_name(r->topk),
                     r->median * 1e3, best->path, best->median * 1e3);
        }
        any = 1;
    }
    snprintf(m, sizeof(m), "%.2fx of the best vecscore path (%s)", worst, detail);
    add_target(st, spec->name, any ? m : "", any && worst <= 1.10, any ? NULL : "no vs-auto rows");
}

/* Under load, every shape, every trial: default threads / 1 thread <= 1.5. */
static void contention_threads_target(run_state *st, const target_spec *spec) {
    double worst = 0;
    char m[256] = "", where[96] = "";
    size_t used = 0;
    int shapes = 0, failed = 0;
    for (size_t i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        if (bench_row_is_main(r) || r->callers || strcmp(r->path, "vs-cpu:threads=default") != 0)
            continue;
        if (r->trial == 0) { /* one per shape: its worst and median */
            if (!r->has_ratio) failed = 1;
            if (r->has_ratio && used < sizeof(m))
                used += (size_t)snprintf(m + used, sizeof(m) - used,
                                         "%s%zux%zux%zu max %.2fx med %.2fx", shapes ? ", " : "",
                                         r->sh.q, r->sh.n, r->sh.d, r->ratio_max, r->ratio_median);
            shapes++;
        } else if (r->has_ratio && r->ratio > worst) {
            worst = r->ratio;
            snprintf(where, sizeof(where), "%zux%zux%zu trial %d", r->sh.q, r->sh.n, r->sh.d,
                     r->trial);
        }
    }
    char measured[256];
    snprintf(measured, sizeof(measured), "worst %.2fx (%s); %s", worst, where, m);
    add_target(st, spec->name, shapes ? measured : "",
               shapes && !failed && worst <= spec->threshold, shapes ? NULL : "no contention rows");
}

/* Idle: N callers on one context against 1 caller, total throughput. */
static void contention_callers_target(run_state *st, const target_spec *spec) {
    double worst = 0;
    char m[256] = "";
    size_t used = 0;
    int any = 0;
    for (size_t i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        if (bench_row_is_main(r) || r->callers != 4 || r->load) continue;
        double ratio = r->has_ratio ? r->ratio : 0;
        if (!any || ratio < worst) worst = ratio;
        if (used < sizeof(m))
            used += (size_t)snprintf(m + used, sizeof(m) - used, "%s%zux%zux%zu %.2fx",
                                     any ? ", " : "", r->sh.q, r->sh.n, r->sh.d, ratio);
        any = 1;
    }
    char measured[256];
    snprintf(measured, sizeof(measured), "4 callers / 1 caller, total queries per second: %s", m);
    add_target(st, spec->name, any ? measured : "", any && worst >= spec->threshold,
               any ? NULL : "no callers rows");
}

/*
 * The best OpenBLAS core type for this CPU, as OPENBLAS_CORETYPE takes it:
 * the AVX-512 kernels where the CPU has AVX-512, else the AVX2 + FMA ones
 * (OpenBLAS's Zen core runs the Haswell kernels, so either counts).
 */
static const char *best_blas_core(void) {
    if (vs_cpu_isa_supported("avx512")) return "SkylakeX";
    if (vs_cpu_isa_supported("avx2")) return "Haswell";
    return NULL;
}

static int blas_core_is_best(const char *core) {
    const char *best = best_blas_core();
    if (best == NULL) return 1;
    char lower[32];
    size_t i = 0;
    for (; core[i] && i + 1 < sizeof(lower); i++)
        lower[i] = (char)(core[i] >= 'A' && core[i] <= 'Z' ? core[i] - 'A' + 'a' : core[i]);
    lower[i] = '\0';
    if (strcmp(best, "SkylakeX") == 0)
        return strcmp(lower, "skylakex") == 0 || strcmp(lower, "cooperlake") == 0 ||
               strcmp(lower, "sapphirerapids") == 0;
    return strcmp(lower, "haswell") == 0 || strcmp(lower, "zen") == 0 ||
           strcmp(lower, "skylakex") == 0 || strcmp(lower, "cooperlake") == 0 ||
           strcmp(lower, "sapphirerapids") == 0;
}

/*
 * Issue 9, idle: top-k against OpenBLAS sgemm score-only, with OpenBLAS on
 * the best core type this CPU supports; the line says which core ran and
 * whether OPENBLAS_CORETYPE chose it. On another core the comparison is not
 * the one asked for, and the line says what to set.
 */
static void idle_sgemm_target(run_state *st, const target_spec *spec) {
    const row *a = find(st, &spec->ours), *b = find(st, &spec->peer);
    if (a == NULL || b == NULL) {
        add_target(st, spec->name, "", 0, spec->missing);
        return;
    }
    const char *core = b->info.isa[0] ? b->info.isa : "unknown";
    const char *forced = getenv("OPENBLAS_CORETYPE");
    const char *best = best_blas_core();
    const double ratio = b->median / a->median;
    char m[256], forced_text[64] = "chosen by OpenBLAS";
    if (forced && forced[0])
        snprintf(forced_text, sizeof(forced_text), "OPENBLAS_CORETYPE=%s", forced);
    snprintf(m, sizeof(m),
             "%.2fx (%.2f ms vs sgemm %.2f ms); OpenBLAS core %s (%s); best for this CPU: %s%s",
             ratio, a->median * 1e3, b->median * 1e3, core, forced_text, best ? best : "any",
             best && strcmp(best, "Haswell") == 0 ? " or Zen (no AVX-512)" : "");
    if (!blas_core_is_best(core)) {
        size_t used = strlen(m);
        snprintf(m + used, sizeof(m) - used, "; rerun with OPENBLAS_CORETYPE=%s", best);
        add_target(st, spec->name, m, 0, "OpenBLAS not on the best core type");
        return;
    }
    add_target(st, spec->name, m, ratio >= spec->threshold, NULL);
}

/*
 * Issue 9, idle: 1x1000x768 top-10 no slower than the OpenMP driver of
 * e9e36ee. One process cannot load both libraries, so
 * bench/small_batch_openmp.sh measures the two alternately and writes its
 * verdict line ("PASS|FAIL ..."); this target repeats the line of the file
 * that VECSCORE_OPENMP_SMALL_RESULT names.
 */
static void openmp_small_target(run_state *st, const target_spec *spec) {
    const char *path = getenv("VECSCORE_OPENMP_SMALL_RESULT");
    if (path == NULL || path[0] == '\0') {
        add_target(st, spec->name, "bash bench/small_batch_openmp.sh measures it", 0,
                   "VECSCORE_OPENMP_SMALL_RESULT not set");
        return;
    }
    char line[256] = "";
    FILE *f = fopen(path, "r");
    const int read = f != NULL && fgets(line, sizeof(line), f) != NULL;
    if (f != NULL) fclose(f);
    line[strcspn(line, "\n")] = '\0';
    const int pass = strncmp(line, "PASS ", 5) == 0, fail = strncmp(line, "FAIL ", 5) == 0;
    if (!read || (!pass && !fail)) {
        char m[256];
        snprintf(m, sizeof(m), "%s: %s", path, read ? "no PASS/FAIL line" : "cannot be read");
        add_target(st, spec->name, m, 0, "no small_batch_openmp.sh result");
        return;
    }
    add_target(st, spec->name, line + 5, pass, NULL);
}

/* ---- the table ---------------------------------------------------------------------------- */

#define NONE ROW(0, 0, 0, DOT, 0, NULL)
#define PAIR(name, ours, peer, extra, rule, threshold, text, missing)                              \
    { name, ours, peer, extra, rule, threshold, text, missing, evaluate_pair }
#define MANY(name, threshold, fn)                                                                  \
    { name, NONE, NONE, NONE, PCT_AT_LEAST, threshold, 0, NULL, fn }

static const target_spec target_table[] = {
    /* issue 5: the CPU paths against the machine and the peers */
    PAIR("Q=1 N=100000 d=768 top-k >= 90% of read bandwidth",
         ROW(1, 100000, 768, DOT, 1, "vs-auto"), ROW(1, 100000, 768, DOT, 0, "openblas"),
         ROW(1, 100000, 768, DOT, 1, "faiss-flat"), PCT_AT_LEAST, 90, TEXT_BANDWIDTH,
         "shape not run"),
    PAIR("Q=1 N=1000 d=768 >= 30x blog scalar+malloc (-O2)", ROW(1, 1000, 768, COS, 1, "vs-auto"),
         ROW(1, 1000, 768, COS, 1, "blog-malloc"), NONE, SPEEDUP_AT_LEAST, 30, TEXT_RATIO_US,
         "rows missing"),
    PAIR("Q=1 N=1000 d=768 no slower than OpenBLAS sgemv", ROW(1, 1000, 768, DOT, 1, "vs-auto"),
         ROW(1, 1000, 768, DOT, 0, "openblas"), NONE, SPEEDUP_AT_LEAST, 1.0, TEXT_NO_SLOWER_US,
         "rows missing"),
    PAIR("Q=16 N=100000 d=768 top-k >= 2x OpenBLAS sgemm + top-k",
         ROW(16, 100000, 768, DOT, 1, "vs-auto"), ROW(16, 100000, 768, DOT, 1, "openblas"), NONE,
         SPEEDUP_AT_LEAST, 2, TEXT_RATIO_MS, "rows missing"),
    PAIR("Q=16 N=100000 d=768 top-k >= 10x FAISS IndexFlatIP",
         ROW(16, 100000, 768, DOT, 1, "vs-auto"), ROW(16, 100000, 768, DOT, 1, "faiss-flat"), NONE,
         SPEEDUP_AT_LEAST, 10, TEXT_RATIO_MS_1, "rows missing"),
    PAIR("Q=256 N=100000 d=128 top-k >= 1.0x OpenBLAS sgemm score-only",
         ROW(256, 100000, 128, DOT, 1, "vs-auto"), ROW(256, 100000, 128, DOT, 0, "openblas"), NONE,
         SPEEDUP_AT_LEAST, 1.0, TEXT_RATIO_MS_PEAK, "rows missing"),
    PAIR("Q=256 N=100000 d=128 top-k >= 2x FAISS", ROW(256, 100000, 128, DOT, 1, "vs-auto"),
         ROW(256, 100000, 128, DOT, 1, "faiss-flat"), NONE, SPEEDUP_AT_LEAST, 2, TEXT_RATIO_MS,
         "rows missing"),
    PAIR("Q=1024 N=100000 d=768 top-k >= 1.0x OpenBLAS sgemm score-only",
         ROW(1024, 100000, 768, DOT, 1, "vs-auto"), ROW(1024, 100000, 768, DOT, 0, "openblas"),
         NONE, SPEEDUP_AT_LEAST, 1.0, TEXT_RATIO_MS_PEAK, "rows missing"),
    PAIR("Q=1024 N=100000 d=768 top-k >= 2x FAISS", ROW(1024, 100000, 768, DOT, 1, "vs-auto"),
         ROW(1024, 100000, 768, DOT, 1, "faiss-flat"), NONE, SPEEDUP_AT_LEAST, 2, TEXT_RATIO_MS,
         "rows missing"),
    /* the OpenCL paths against CLBlast on the same device, and the machine */
    PAIR("OpenCL Q=16 N=100000 d=768 >= 3x CLBlast SGEMM (same device)",
         ROW(16, 100000, 768, DOT, 1, "@opencl"), ROW(16, 100000, 768, DOT, 0, "@clblast"),
         ROW(16, 100000, 768, DOT, 0, "@opencl"), SPEEDUP_AT_LEAST, 3, TEXT_OPENCL_CLBLAST,
         "rows missing"),
    PAIR("OpenCL Q=256 N=100000 d=128 >= 3x CLBlast SGEMM (same device)",
         ROW(256, 100000, 128, DOT, 1, "@opencl"), ROW(256, 100000, 128, DOT, 0, "@clblast"),
         ROW(256, 100000, 128, DOT, 0, "@opencl"), SPEEDUP_AT_LEAST, 3, TEXT_OPENCL_CLBLAST,
         "rows missing"),
    PAIR("OpenCL Q=1024 N=100000 d=768 >= 3x CLBlast SGEMM (same device)",
         ROW(1024, 100000, 768, DOT, 1, "@opencl"), ROW(1024, 100000, 768, DOT, 0, "@clblast"),
         ROW(1024, 100000, 768, DOT, 0, "@opencl"), SPEEDUP_AT_LEAST, 3, TEXT_OPENCL_CLBLAST,
         "rows missing"),
    PAIR("OpenCL Q=1 N=100000 d=768 top-k >= 50% of read bandwidth",
         ROW(1, 100000, 768, DOT, 1, "@opencl"), NONE, NONE, PCT_AT_LEAST, 50,
         TEXT_OPENCL_BANDWIDTH, "rows missing"),
    MANY("OpenCL warm-cache first call within 2x a steady call", 2.0, first_call_target),
    MANY("Arena (three targets)", 0, arena_targets),
    MANY("auto within 10% of the best path for every shape", 1.10, auto_target),
    /* issue 9: a busy machine, many callers; and idle, nothing slower */
    MANY("contention: default threads <= 1.5x 1 thread, every shape, every trial", 1.5,
         contention_threads_target),
    MANY("4 callers on one context: total throughput within 10% of 1 caller", 0.9,
         contention_callers_target),
    PAIR("idle: Q=1 N=100000 d=768 top-k >= 90% of read bandwidth (this run)",
         ROW(1, 100000, 768, DOT, 1, "vs-auto"), NONE, NONE, PCT_AT_LEAST, 90,
         TEXT_OPENCL_BANDWIDTH, "shape not run"),
    /* issue 11: compact storage, exact mode, against the float32 corpus in the same run (a ratio
     * of medians <= R is a speedup >= 1/R) */
    PAIR("compact Q=1 N=1000000 d=768 top-k f16 <= 0.55x float32",
         ROW(1, 1000000, 768, DOT, 1, "vs-auto-f16"), ROW(1, 1000000, 768, DOT, 1, "vs-auto"), NONE,
         SPEEDUP_AT_LEAST, 1 / 0.55, TEXT_COMPACT, "shape not run"),
    PAIR("compact Q=1 N=1000000 d=768 top-k bf16 <= 0.55x float32",
         ROW(1, 1000000, 768, DOT, 1, "vs-auto-bf16"), ROW(1, 1000000, 768, DOT, 1, "vs-auto"),
         NONE, SPEEDUP_AT_LEAST, 1 / 0.55, TEXT_COMPACT, "shape not run"),
    PAIR("compact Q=1 N=1000000 d=768 top-k i8 <= 0.30x float32",
         ROW(1, 1000000, 768, DOT, 1, "vs-auto-i8"), ROW(1, 1000000, 768, DOT, 1, "vs-auto"), NONE,
         SPEEDUP_AT_LEAST, 1 / 0.30, TEXT_COMPACT, "shape not run"),
    PAIR("compact Q=1024 N=100000 d=768 top-k bf16 <= 0.60x float32",
         ROW(1024, 100000, 768, DOT, 1, "vs-auto-bf16"), ROW(1024, 100000, 768, DOT, 1, "vs-auto"),
         NONE, SPEEDUP_AT_LEAST, 1 / 0.60, TEXT_COMPACT, "rows missing"),
    PAIR("compact Q=1024 N=100000 d=768 top-k i8 <= 0.40x float32",
         ROW(1024, 100000, 768, DOT, 1, "vs-auto-i8"), ROW(1024, 100000, 768, DOT, 1, "vs-auto"),
         NONE, SPEEDUP_AT_LEAST, 1 / 0.40, TEXT_COMPACT, "rows missing"),
    PAIR("compact Q=16 N=100000 d=768 top-k i8 <= 0.50x float32",
         ROW(16, 100000, 768, DOT, 1, "vs-auto-i8"), ROW(16, 100000, 768, DOT, 1, "vs-auto"), NONE,
         SPEEDUP_AT_LEAST, 1 / 0.50, TEXT_COMPACT, "rows missing"),
    {"idle: Q=1024 N=100000 d=768 top-k >= 1.0x OpenBLAS sgemm, best core type",
     ROW(1024, 100000, 768, DOT, 1, "vs-auto"), ROW(1024, 100000, 768, DOT, 0, "openblas"), NONE,
     SPEEDUP_AT_LEAST, 1.0, 0, "rows missing", idle_sgemm_target},
    MANY("idle: Q=1 N=1000 d=768 top-10 default threads no slower than OpenMP (e9e36ee)", 1.0,
         openmp_small_target),
};

void bench_targets_evaluate(run_state *st) {
    st->ntargets = 0;
    for (size_t i = 0; i < sizeof(target_table) / sizeof(target_table[0]); i++)
        target_table[i].evaluate(st, &target_table[i]);
}
