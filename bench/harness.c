/*
 * harness.c — the device-comparison and peer benchmark (docs/benchmarks.md).
 *
 * Every path (the library on each CPU ISA, on each OpenCL device and on
 * "auto", the peers, the blog-style baselines) goes through one loop:
 *
 *   for each shape (Q x N x d): generate data (fixed seeds)
 *     for each metric: float64 reference for up to 4 sampled queries
 *       for each path: prepare (untimed: corpus upload, index build)
 *         for each mode (score matrix, top-k):
 *           poison the outputs; one warm-up call; check it against the
 *           reference (a disagreeing path is reported FAIL and not timed);
 *           reps timed calls (median and min); check the last output again
 *
 * The machine's limits (read bandwidth, peak FMA) are measured at start;
 * every row states its GFLOP/s, GB/s and % of the roofline limit
 * max(bytes / bandwidth, flops / peak) for its shape. OpenCL paths also get
 * a cold and a warm first call, each in a fresh process with its own
 * program caches (VECSCORE_CACHE_DIR and POCL_CACHE_DIR), and the report's
 * transfer/kernel split, bytes mapped/copied and arena high-water.
 *
 * Output: a table on stdout (rows as they finish, then the targets), and in
 * --out DIR: results.csv, results.json, alloc.csv, plot.gp and PNG plots
 * (gnuplot, when installed).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "tests/reference.h"

#define MAX_PATHS 32
#define MAX_SHAPES 32
#define MAX_SAMPLES 4
#define MAX_REPS 1000

/* ---- options ------------------------------------------------------------------------------ */

typedef struct shape {
    size_t q, n, d;
} shape;

typedef struct options {
    int quick;
    int reps;
    size_t k;
    shape shapes[MAX_SHAPES];
    int nshapes;
    int metrics[3]; /* enabled DOT, COSINE, L2SQ */
    int modes[2];   /* enabled score, top-k */
    char paths[512];
    char out_dir[512];
    int alloc, plots, first_call;
    double row_budget; /* seconds one row may take (warm-up + reps), estimated */
    double aux_budget; /* the same for auxiliary paths (other ISAs, blog baselines) */
} options;

static void usage(FILE *out, const char *prefix) {
    fprintf(out,
            "usage: %s [--quick] [--reps N] [--shapes QxNxD,...] [--metrics dot,cosine,l2sq]\n"
            "       [--modes score,topk] [-k K] [--paths NAME,...] [--out DIR]\n"
            "       [--budget S] [--aux-budget S] [--no-alloc] [--no-plots] [--no-first-call]\n"
            "       [--list]\n"
            "\n"
            "Times every path (vecscore on each ISA, each OpenCL device and auto; OpenBLAS,\n"
            "FAISS, CLBlast and the blog-style baselines when built in) through one loop,\n"
            "checks each result against a float64 reference before timing it, and writes\n"
            "a table to stdout and results.csv, results.json, alloc.csv, summary.md and\n"
            "PNG plots (gnuplot) to DIR (default bench-results). See docs/benchmarks.md.\n"
            "  --no-alloc      skip the arena vs malloc micro-benchmark\n"
            "  --no-first-call skip the OpenCL cold/warm first-call child processes\n"
            "  --quick         small shapes, fewer reps: a smoke test (< 1 minute)\n"
            "  --reps N        timed calls per row after one warm-up (default 5; quick 3);\n"
            "                  short calls get more, up to 0.25 s of calls (quick 0.05 s)\n"
            "  --shapes LIST   default 1x1000x768,1x100000x768,16x100000x768,\n"
            "                  256x100000x128,1024x100000x768\n"
            "  --paths LIST    only these paths (a name, or a prefix ending in '*')\n"
            "  --budget S      skip a row when its warm-up call x reps exceeds 1.5 S\n"
            "                  seconds (default 60; quick 4)\n"
            "  --aux-budget S  for auxiliary paths (ISAs below the best one, the blog\n"
            "                  baselines): skip a row when its warm-up + reps, estimated\n"
            "                  from the path's earlier rows, exceed S (default 15; quick 2)\n"
            "  --list          print the paths this build and machine have, and exit\n"
            "Exit status: 0, 1 usage, 2 a vecscore path failed its check, 3 setup failed.\n",
            prefix);
}

static int parse_size(const char *text, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end != '\0' || v == 0) return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_shapes(const char *text, options *o) {
    char buffer[1024];
    snprintf(buffer, sizeof(buffer), "%s", text);
    o->nshapes = 0;
    for (char *save = NULL, *item = strtok_r(buffer, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        unsigned long long q, n, d;
        char tail;
        if (o->nshapes >= MAX_SHAPES || sscanf(item, "%llux%llux%llu%c", &q, &n, &d, &tail) != 3 ||
            !q || !n || !d)
            return -1;
        o->shapes[o->nshapes++] = (shape){(size_t)q, (size_t)n, (size_t)d};
    }
    return o->nshapes ? 0 : -1;
}

static int parse_list(const char *text, const char *const *names, int count, int *enabled) {
    char buffer[256];
    snprintf(buffer, sizeof(buffer), "%s", text);
    for (int i = 0; i < count; i++)
        enabled[i] = 0;
    for (char *save = NULL, *item = strtok_r(buffer, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int i = 0; i < count; i++)
            if (strcmp(item, names[i]) == 0) enabled[i] = found = 1;
        if (!found) return -1;
    }
    return 0;
}

static int path_selected(const options *o, const char *name) {
    if (o->paths[0] == '\0') return 1;
    char buffer[512];
    snprintf(buffer, sizeof(buffer), "%s", o->paths);
    for (char *save = NULL, *item = strtok_r(buffer, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        size_t len = strlen(item);
        if (len && item[len - 1] == '*') {
            if (strncmp(name, item, len - 1) == 0) return 1;
        } else if (strcmp(name, item) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- data --------------------------------------------------------------------------------- */

static void fill(float *x, size_t n, uint64_t seed) {
#pragma omp parallel
    {
        /* Each thread fills whole 4096-float blocks from a seed of its own. */
#pragma omp for schedule(static)
        for (long block = 0; block < (long)((n + 4095) / 4096); block++) {
            uint64_t state = seed * 0x9E3779B97F4A7C15ull + (uint64_t)block * 0xD1B54A32D192ED03ull;
            size_t start = (size_t)block * 4096, end = start + 4096 < n ? start + 4096 : n;
            for (size_t i = start; i < end; i++) {
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                x[i] = (float)((double)(state >> 40) / (double)(1u << 24) * 2.0 - 1.0);
            }
        }
    }
}

/* ---- top-k helper ------------------------------------------------------------------------- */

void bench_select_topk(const float *row, size_t n, size_t k, int similarity, float *scores,
                       int64_t *ids) {
    const float pad = similarity ? -INFINITY : INFINITY;
    size_t filled = 0;
    for (size_t j = 0; j < n; j++) {
        float s = row[j];
        if (isnan(s)) continue;
        if (filled == k) {
            int better = similarity ? s > scores[k - 1] : s < scores[k - 1];
            if (!better) continue;
            filled--;
        }
        size_t r = filled;
        while (r > 0 && (similarity ? s > scores[r - 1] : s < scores[r - 1])) {
            scores[r] = scores[r - 1];
            ids[r] = ids[r - 1];
            r--;
        }
        scores[r] = s;
        ids[r] = (int64_t)j;
        filled++;
    }
    for (size_t r = filled; r < k; r++) {
        scores[r] = pad;
        ids[r] = -1;
    }
}

/* ---- float64 reference for sampled queries ------------------------------------------------ */

typedef struct reference {
    size_t samples;
    size_t rows[MAX_SAMPLES];
    double *score[MAX_SAMPLES];
    double *bound[MAX_SAMPLES];
    int64_t *best[MAX_SAMPLES]; /* reference top-k ids */
} reference;

static void reference_free(reference *ref) {
    for (size_t s = 0; s < MAX_SAMPLES; s++) {
        free(ref->score[s]);
        free(ref->bound[s]);
        free(ref->best[s]);
    }
    memset(ref, 0, sizeof(*ref));
}

static int reference_build(reference *ref, vs_metric metric, const float *queries, size_t q,
                           const float *base, size_t n, size_t d, size_t k) {
    memset(ref, 0, sizeof(*ref));
    size_t candidates[MAX_SAMPLES] = {0, q - 1, q / 2, q / 3};
    for (size_t c = 0; c < MAX_SAMPLES; c++) {
        int seen = 0;
        for (size_t s = 0; s < ref->samples; s++)
            seen |= ref->rows[s] == candidates[c];
        if (!seen) ref->rows[ref->samples++] = candidates[c];
    }
    for (size_t s = 0; s < ref->samples; s++) {
        ref->score[s] = malloc(n * sizeof(double));
        ref->bound[s] = malloc(n * sizeof(double));
        ref->best[s] = malloc(k * sizeof(int64_t));
        if (!ref->score[s] || !ref->bound[s] || !ref->best[s]) return -1;
        const float *query = queries + ref->rows[s] * d;
        double *score = ref->score[s], *bound = ref->bound[s];
#pragma omp parallel for schedule(static)
        for (long j = 0; j < (long)n; j++)
            score[j] = ref_score(metric, query, base + (size_t)j * d, d, &bound[j]);
        /* reference top-k: best first, lower id on ties */
        int similarity = metric != VS_METRIC_L2SQ;
        size_t filled = 0;
        for (size_t j = 0; j < n; j++) {
            double v = score[j];
            if (filled == k) {
                double worst = score[ref->best[s][k - 1]];
                if (!(similarity ? v > worst : v < worst)) continue;
                filled--;
            }
            size_t r = filled;
            while (r > 0 &&
                   (similarity ? v > score[ref->best[s][r - 1]] : v < score[ref->best[s][r - 1]])) {
                ref->best[s][r] = ref->best[s][r - 1];
                r--;
            }
            ref->best[s][r] = (int64_t)j;
            filled++;
        }
        for (size_t r = filled; r < k; r++)
            ref->best[s][r] = -1;
    }
    return 0;
}

/* Returns the number of disagreements; the first is described in why. */
static size_t reference_check(const reference *ref, vs_metric metric, int topk, size_t n, size_t k,
                              const float *scores, const int64_t *ids, char *why, size_t size) {
    size_t failures = 0;
    int similarity = metric != VS_METRIC_L2SQ;
#define CHECK_FAIL(...)                                                                            \
    do {                                                                                           \
        if (failures++ == 0) snprintf(why, size, __VA_ARGS__);                                     \
    } while (0)
    for (size_t s = 0; s < ref->samples; s++) {
        size_t row = ref->rows[s];
        const double *score = ref->score[s], *bound = ref->bound[s];
        if (!topk) {
            const float *got = scores + row * n;
            for (size_t j = 0; j < n; j++)
                if (!(fabs((double)got[j] - score[j]) <= bound[j]))
                    CHECK_FAIL("query %zu candidate %zu: %.9g, reference %.9g (bound %.3g)", row, j,
                               (double)got[j], score[j], bound[j]);
            continue;
        }
        const float *got = scores + row * k;
        const int64_t *got_ids = ids + row * k;
        for (size_t r = 0; r < k; r++) {
            int64_t id = got_ids[r], want = ref->best[s][r];
            if (want < 0) {
                if (id != -1)
                    CHECK_FAIL("query %zu rank %zu: id %lld, expected padding", row, r,
                               (long long)id);
                continue;
            }
            if (id < 0 || (size_t)id >= n) {
                CHECK_FAIL("query %zu rank %zu: invalid id %lld", row, r, (long long)id);
                continue;
            }
            for (size_t e = 0; e < r; e++)
                if (got_ids[e] == id) CHECK_FAIL("query %zu: id %lld twice", row, (long long)id);
            if (!(fabs((double)got[r] - score[id]) <= bound[id]))
                CHECK_FAIL("query %zu rank %zu id %lld: score %.9g, reference %.9g (bound %.3g)",
                           row, r, (long long)id, (double)got[r], score[id], bound[id]);
            double slack = bound[id] + bound[want];
            int worse =
                similarity ? score[id] < score[want] - slack : score[id] > score[want] + slack;
            if (worse)
                CHECK_FAIL("query %zu rank %zu: id %lld (%.9g) ranks below reference id %lld "
                           "(%.9g) beyond the bounds",
                           row, r, (long long)id, score[id], (long long)want, score[want]);
        }
    }
#undef CHECK_FAIL
    return failures;
}

/* ---- vecscore paths ----------------------------------------------------------------------- */

typedef struct vs_state {
    vs_context *ctx;
    vs_corpus *corpus;
    unsigned shape_id;
    char selector[64];
    char isa[16];
    char driver[64];
    int interfere; /* run an OpenBLAS call (untimed) before each call */
    int oneshot;   /* vs_score / vs_topk with the candidates passed every call */
    float *interfere_scratch;
    size_t interfere_floats;
    vs_batch_report report;
    int reports;
    double transfer_sum, kernel_sum;
} vs_state;

static int vs_supports(const bench_path *path, vs_metric metric, int topk, size_t q) {
    (void)path, (void)metric, (void)topk, (void)q;
    return 1;
}

static int vs_prepare(bench_path *path, const bench_problem *p) {
    vs_state *s = path->state;
    if (s->oneshot || (s->corpus && s->shape_id == p->shape_id)) return 0;
    vs_corpus_free(s->corpus);
    s->corpus = NULL;
    int status = vs_corpus_create(s->ctx, p->base, p->base_count, p->dim, &s->corpus);
    if (status != VS_OK) {
        snprintf(path->error, sizeof(path->error), "vs_corpus_create: %s", vs_status_name(status));
        return -1;
    }
    s->shape_id = p->shape_id;
    if (s->interfere) {
        size_t need = p->queries_count * p->base_count;
        if (need > s->interfere_floats) {
            free(s->interfere_scratch);
            s->interfere_scratch = malloc(need * sizeof(float));
            s->interfere_floats = s->interfere_scratch ? need : 0;
            if (s->interfere_scratch == NULL) return -1;
        }
    }
    return 0;
}

static void vs_before_run(bench_path *path, const bench_problem *p) {
    vs_state *s = path->state;
    if (s->interfere) bench_blas_interfere(p, s->interfere_scratch);
}

static int vs_run(bench_path *path, const bench_problem *p) {
    vs_state *s = path->state;
    int status;
    if (s->oneshot)
        status = p->topk ? vs_topk(s->ctx, p->metric, p->queries, p->queries_count, p->base,
                                   p->base_count, p->dim, p->k, p->scores, p->ids)
                         : vs_score(s->ctx, p->metric, p->queries, p->queries_count, p->base,
                                    p->base_count, p->dim, p->scores);
    else
        status = p->topk ? vs_corpus_topk(s->corpus, p->metric, p->queries, p->queries_count, p->k,
                                          p->scores, p->ids)
                         : vs_corpus_score(s->corpus, p->metric, p->queries, p->queries_count,
                                           p->scores);
    if (status != VS_OK) {
        snprintf(path->error, sizeof(path->error), "%s: %s",
                 s->oneshot ? (p->topk ? "vs_topk" : "vs_score")
                            : (p->topk ? "vs_corpus_topk" : "vs_corpus_score"),
                 vs_status_name(status));
        return -1;
    }
    vs_context_last_report(s->ctx, &s->report);
    s->transfer_sum += s->report.transfer_seconds;
    s->kernel_sum += s->report.kernel_seconds;
    s->reports++;
    return 0;
}

static void vs_info(bench_path *path, bench_path_info *out) {
    vs_state *s = path->state;
    const vs_batch_report *r = &s->report;
    snprintf(out->backend, sizeof(out->backend), "%s", r->backend);
    snprintf(out->isa, sizeof(out->isa), "%s", r->isa);
    snprintf(out->device, sizeof(out->device), "%s", r->device);
    snprintf(out->driver, sizeof(out->driver), "%s", s->driver);
    snprintf(out->fallback, sizeof(out->fallback), "%s", r->fallback);
    snprintf(out->settings, sizeof(out->settings), "%s; device=%s isa=%s threads=%d%s",
             s->oneshot ? "vs_score/vs_topk, candidates passed every call"
                        : "vs_corpus_* (corpus uploaded once, untimed)",
             s->selector, s->isa[0] ? s->isa : "(best)", r->threads,
             s->interfere ? "; an OpenBLAS call (untimed) before every timed call" : "");
    out->threads = r->threads;
    out->has_report = 1;
    double reports = s->reports ? (double)s->reports : 1;
    out->transfer_seconds = s->transfer_sum / reports;
    out->kernel_seconds = s->kernel_sum / reports;
    out->compile_seconds = r->compile_seconds;
    out->bytes_mapped = r->bytes_mapped;
    out->bytes_copied = r->bytes_copied;
    out->arena_high_water = r->arena_high_water_bytes;
    out->scratch_high_water = r->scratch_high_water_bytes;
    s->transfer_sum = s->kernel_sum = 0;
    s->reports = 0;
}

static void vs_finish(bench_path *path) {
    (void)path; /* the corpus is kept while the shape lasts (see vs_prepare) */
}

static void vs_destroy(bench_path *path) {
    vs_state *s = path->state;
    if (s) {
        vs_corpus_free(s->corpus);
        vs_context_free(s->ctx);
        free(s->interfere_scratch);
    }
    free(s);
    path->state = NULL;
}

static int vs_path(bench_path *path, const char *name, const char *device, const char *isa,
                   int interfere, int opencl_device, const char *driver) {
    vs_state *s = calloc(1, sizeof(*s));
    if (s == NULL) return 0;
    vs_options opts;
    vs_options_init(&opts);
    opts.device = device;
    opts.isa = isa;
    opts.log_level = VS_LOG_ERROR;
    int status = vs_context_create(&opts, &s->ctx);
    if (status != VS_OK) {
        fprintf(stderr, "bench: path %s unavailable: vs_context_create: %s\n", name,
                vs_strerror(status));
        free(s);
        return 0;
    }
    snprintf(s->selector, sizeof(s->selector), "%s", device);
    snprintf(s->isa, sizeof(s->isa), "%s", isa ? isa : "");
    snprintf(s->driver, sizeof(s->driver), "%s", driver ? driver : "");
    s->interfere = interfere;
    memset(path, 0, sizeof(*path));
    snprintf(path->name, sizeof(path->name), "%s", name);
    path->kind = "vecscore";
    path->state = s;
    path->supports = vs_supports;
    path->prepare = vs_prepare;
    path->run = vs_run;
    path->before_run = interfere ? vs_before_run : NULL;
    path->info = vs_info;
    path->finish = vs_finish;
    path->destroy = vs_destroy;
    path->opencl_device = opencl_device;
    return 1;
}

/* ---- rows --------------------------------------------------------------------------------- */

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
} row;

typedef struct run_state {
    options opt;
    bench_machine machine; /* limits in use: the better of start and end */
    bench_machine machine_start, machine_end;
    bench_path paths[MAX_PATHS];
    int npaths;
    row *rows;
    size_t nrows, cap;
    bench_alloc_row alloc[64];
    int nalloc;
    char date[32];
    char self_exe[1024];
    const char *self_prefix;
    int vecscore_failures;
} run_state;

static row *new_row(run_state *st) {
    if (st->nrows == st->cap) {
        size_t cap = st->cap ? 2 * st->cap : 64;
        row *grown = realloc(st->rows, cap * sizeof(row));
        if (grown == NULL) return NULL;
        st->rows = grown;
        st->cap = cap;
    }
    row *r = &st->rows[st->nrows++];
    memset(r, 0, sizeof(*r));
    return r;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double problem_flops(const shape *sh) {
    return 2.0 * (double)sh->q * (double)sh->n * (double)sh->d;
}

static double problem_bytes(const shape *sh, int topk, size_t k) {
    double bytes = ((double)sh->n * (double)sh->d + (double)sh->q * (double)sh->d) * 4.0;
    bytes += topk ? (double)sh->q * (double)k * 12.0 : (double)sh->q * (double)sh->n * 4.0;
    return bytes;
}

static const char *mode_name(int topk) {
    return topk ? "topk" : "score";
}

static void print_row_header(void) {
    printf("%-20s %-6s %-5s %-20s %-6s %10s %10s %8s %7s %6s  %s\n", "shape", "metric", "mode",
           "path", "status", "median_ms", "min_ms", "GFLOP/s", "GB/s", "%limit", "note");
}

static void print_row(const row *r) {
    char label[48];
    snprintf(label, sizeof(label), "%zux%zux%zu", r->sh.q, r->sh.n, r->sh.d);
    if (strcmp(r->status, "ok") == 0)
        printf("%-20s %-6s %-5s %-20s %-6s %10.3f %10.3f %8.1f %7.1f %5.0f%%  %s\n", label,
               vs_metric_name(r->metric), mode_name(r->topk), r->path, r->status, r->median * 1e3,
               r->min * 1e3, r->gflops, r->gbs, r->pct_limit, r->note);
    else
        printf("%-20s %-6s %-5s %-20s %-6s %10s %10s %8s %7s %6s  %s\n", label,
               vs_metric_name(r->metric), mode_name(r->topk), r->path, r->status, "-", "-", "-",
               "-", "-", r->note);
    fflush(stdout);
}

/* ---- first call in a fresh process (OpenCL) ----------------------------------------------- */

/* Child mode: --first-call SELECTOR Q N D K. Prints one line of numbers. */
static int first_call_child(int argc, char **argv) {
    if (argc < 6) return 1;
    size_t q, n, d, k;
    if (parse_size(argv[2], &q) || parse_size(argv[3], &n) || parse_size(argv[4], &d) ||
        parse_size(argv[5], &k))
        return 1;
    float *base = malloc(n * d * sizeof(float)), *queries = malloc(q * d * sizeof(float));
    float *scores = vs_alloc_output(q * k * sizeof(float));
    int64_t *ids = vs_alloc_output(q * k * sizeof(int64_t));
    if (!base || !queries || !scores || !ids) return 3;
    fill(base, n * d, 1000 + n + d);
    fill(queries, q * d, 2000 + q + d);
    vs_options opts;
    vs_options_init(&opts);
    opts.device = argv[1];
    opts.log_level = VS_LOG_ERROR;
    vs_context *ctx = NULL;
    vs_corpus *corpus = NULL;
    double t0 = bench_now();
    if (vs_context_create(&opts, &ctx) != VS_OK) return 3;
    double t1 = bench_now();
    if (vs_corpus_create(ctx, base, n, d, &corpus) != VS_OK) return 3;
    double t2 = bench_now();
    if (vs_corpus_topk(corpus, VS_METRIC_DOT, queries, q, k, scores, ids) != VS_OK) return 3;
    double t3 = bench_now();
    vs_batch_report first;
    vs_context_last_report(ctx, &first);
    if (vs_corpus_topk(corpus, VS_METRIC_DOT, queries, q, k, scores, ids) != VS_OK) return 3;
    double t4 = bench_now();
    printf("first_call %.6f %.6f %.6f %.6f %.6f %d %s\n", t1 - t0, t2 - t1, t3 - t2, t4 - t3,
           first.compile_seconds, first.program_cache, first.backend);
    vs_corpus_free(corpus);
    vs_context_free(ctx);
    free(base);
    free(queries);
    vs_free_output(scores);
    vs_free_output(ids);
    return 0;
}

typedef struct first_call_result {
    double create, corpus, first, second, compile;
    int cache;
    int ok;
} first_call_result;

static first_call_result first_call_spawn(run_state *st, const char *selector, const shape *sh,
                                          const char *cache_dir, const char *pocl_dir) {
    first_call_result result;
    memset(&result, 0, sizeof(result));
    char command[3072];
    snprintf(command, sizeof(command),
             "VECSCORE_CACHE_DIR='%s' POCL_CACHE_DIR='%s' '%s' %s --first-call '%s' %zu %zu %zu "
             "%zu",
             cache_dir, pocl_dir, st->self_exe, st->self_prefix ? st->self_prefix : "", selector,
             sh->q, sh->n, sh->d, st->opt.k);
    FILE *child = popen(command, "r");
    if (child == NULL) return result;
    char line[512];
    while (fgets(line, sizeof(line), child)) {
        char backend[32] = "";
        if (sscanf(line, "first_call %lf %lf %lf %lf %lf %d %31s", &result.create, &result.corpus,
                   &result.first, &result.second, &result.compile, &result.cache, backend) >= 6)
            result.ok = 1;
    }
    if (pclose(child) != 0) result.ok = 0;
    return result;
}

static void remove_tree(const char *dir) {
    char command[1100];
    snprintf(command, sizeof(command), "rm -rf '%s'", dir);
    if (system(command) != 0) fprintf(stderr, "bench: could not remove %s\n", dir);
}

/* Cold: fresh program caches; warm: the same caches again. Both in new processes. */
static void measure_first_call(run_state *st, const bench_path *path, const shape *sh, row *r) {
    vs_state *s = path->state;
    char cache_dir[] = "/tmp/vecscore-bench-cache-XXXXXX";
    char pocl_dir[] = "/tmp/vecscore-bench-pocl-XXXXXX";
    if (mkdtemp(cache_dir) == NULL) return;
    if (mkdtemp(pocl_dir) == NULL) {
        remove_tree(cache_dir);
        return;
    }
    first_call_result cold = first_call_spawn(st, s->selector, sh, cache_dir, pocl_dir);
    first_call_result warm = first_call_spawn(st, s->selector, sh, cache_dir, pocl_dir);
    remove_tree(cache_dir);
    remove_tree(pocl_dir);
    if (!cold.ok || !warm.ok) {
        snprintf(r->note + strlen(r->note), sizeof(r->note) - strlen(r->note),
                 "; first-call child failed");
        return;
    }
    r->has_first = 1;
    r->first_cold = cold.first;
    r->first_warm = warm.first;
    r->compile_cold = cold.compile;
    r->compile_warm = warm.compile;
    r->cache_cold = cold.cache;
    r->cache_warm = warm.cache;
    r->setup_cold = cold.create + cold.corpus;
    r->setup_warm = warm.create + warm.corpus;
}

/* % of the roofline limit max(bytes / bandwidth, flops / peak) for a timed row. */
static void row_limits(const run_state *st, row *r) {
    if (!(r->median > 0)) return;
    double flops = problem_flops(&r->sh), bytes = problem_bytes(&r->sh, r->topk, r->k);
    double t_bw =
        st->machine.read_bandwidth_gbs > 0 ? bytes / (st->machine.read_bandwidth_gbs * 1e9) : 0;
    double t_fma = st->machine.peak_gflops > 0 ? flops / (st->machine.peak_gflops * 1e9) : 0;
    r->bound = t_bw >= t_fma ? "bandwidth" : "fma";
    double t_limit = t_bw > t_fma ? t_bw : t_fma;
    r->pct_limit = 100.0 * t_limit / r->median;
    r->pct_limit_best = 100.0 * t_limit / r->min;
}

/* ---- the timing loop ---------------------------------------------------------------------- */

static void time_row(run_state *st, bench_path *path, const bench_problem *p, const shape *sh,
                     const reference *ref, row *r) {
    const options *o = &st->opt;
    double flops = problem_flops(sh), bytes = problem_bytes(sh, p->topk, p->k);
    size_t out_floats = p->topk ? sh->q * p->k : sh->q * sh->n;
    int reps = o->reps < MAX_REPS ? o->reps : MAX_REPS;

    double budget = path->auxiliary ? o->aux_budget : o->row_budget;
    /* Auxiliary paths are skipped on an estimate from their earlier rows; the
     * others always get their warm-up call (a peer's algorithm can change with
     * the shape, e.g. FAISS switches to BLAS at 20 queries). */
    if (path->auxiliary && path->rate_flops > 0) {
        double estimate = flops / path->rate_flops * (reps + 1);
        if (estimate > budget) {
            snprintf(r->status, sizeof(r->status), "skipped");
            snprintf(r->note, sizeof(r->note),
                     "estimated %.0f s for warm-up + %d reps (from its earlier rows) > budget %.0f "
                     "s",
                     estimate, reps, budget);
            return;
        }
    }
    /* Poison the outputs so that a path that writes nothing cannot pass. */
    for (size_t i = 0; i < out_floats; i++)
        p->scores[i] = NAN;
    if (p->topk)
        for (size_t i = 0; i < sh->q * p->k; i++)
            p->ids[i] = -2;

    path->error[0] = '\0';
    if (path->before_run) path->before_run(path, p);
    double start = bench_now();
    int status = path->run(path, p);
    double warm = bench_now() - start;
    if (status != 0) {
        snprintf(r->status, sizeof(r->status), "error");
        snprintf(r->note, sizeof(r->note), "%s", path->error[0] ? path->error : "run failed");
        return;
    }
    char why[256] = "";
    size_t wrong =
        reference_check(ref, p->metric, p->topk, sh->n, p->k, p->scores, p->ids, why, sizeof(why));
    if (wrong) {
        snprintf(r->status, sizeof(r->status), "FAIL");
        snprintf(r->note, sizeof(r->note), "%zu disagreements with float64 reference; first: %s",
                 wrong, why);
        if (strcmp(path->kind, "vecscore") == 0) st->vecscore_failures++;
        return;
    }
    {
        bench_path_info discard; /* report sums start after the warm-up */
        memset(&discard, 0, sizeof(discard));
        path->info(path, &discard);
    }
    if (warm * reps > 1.5 * budget) {
        path->rate_flops = flops / warm;
        snprintf(r->status, sizeof(r->status), "skipped");
        snprintf(r->note, sizeof(r->note), "warm-up took %.1f s; %d reps exceed budget %.0f s",
                 warm, reps, budget);
        return;
    }

    /* Short calls get more runs: up to a quarter second of timed calls
     * (quick: 0.05 s), at most MAX_REPS, never fewer than --reps. */
    double spread = o->quick ? 0.05 : 0.25;
    if (warm > 0 && spread / warm > reps)
        reps = spread / warm < MAX_REPS ? (int)(spread / warm) : MAX_REPS;
    static double times[MAX_REPS];
    for (int rep = 0; rep < reps; rep++) {
        if (path->before_run) path->before_run(path, p);
        start = bench_now();
        status = path->run(path, p);
        times[rep] = bench_now() - start;
        if (status != 0) {
            snprintf(r->status, sizeof(r->status), "error");
            snprintf(r->note, sizeof(r->note), "%s", path->error[0] ? path->error : "run failed");
            return;
        }
    }
    wrong =
        reference_check(ref, p->metric, p->topk, sh->n, p->k, p->scores, p->ids, why, sizeof(why));
    if (wrong) {
        snprintf(r->status, sizeof(r->status), "FAIL");
        snprintf(r->note, sizeof(r->note), "timed run disagrees with float64 reference: %s", why);
        if (strcmp(path->kind, "vecscore") == 0) st->vecscore_failures++;
        return;
    }
    qsort(times, (size_t)reps, sizeof(double), compare_double);
    r->reps = reps;
    r->median = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
    r->min = times[0];
    r->gflops = flops / r->median / 1e9;
    r->gbs = bytes / r->median / 1e9;
    row_limits(st, r);
    snprintf(r->status, sizeof(r->status), "ok");
    path->rate_flops = flops / r->median;
}

static void describe_row(row *r) {
    const bench_path_info *in = &r->info;
    size_t used = strlen(r->note);
    if (in->has_report && strcmp(in->backend, "opencl") == 0)
        used += (size_t)snprintf(r->note + used, sizeof(r->note) - used,
                                 "%sxfer %.2f ms kernel %.2f ms mapped %llu B copied %llu B "
                                 "arena %llu B",
                                 used ? "; " : "", in->transfer_seconds * 1e3,
                                 in->kernel_seconds * 1e3, (unsigned long long)in->bytes_mapped,
                                 (unsigned long long)in->bytes_copied,
                                 (unsigned long long)in->arena_high_water);
    if (r->has_first && used < sizeof(r->note))
        used += (size_t)snprintf(r->note + used, sizeof(r->note) - used,
                                 "%sfirst call cold %.1f ms after %.0f ms setup (compile %.0f "
                                 "ms), warm %.1f ms after %.0f ms setup",
                                 used ? "; " : "", r->first_cold * 1e3, r->setup_cold * 1e3,
                                 r->compile_cold * 1e3, r->first_warm * 1e3, r->setup_warm * 1e3);
    if (in->fallback[0] && strcmp(in->backend, "opencl") != 0 && used < sizeof(r->note) &&
        strncmp(in->fallback, "auto:", 5) != 0)
        snprintf(r->note + used, sizeof(r->note) - used, "%sfallback: %s", used ? "; " : "",
                 in->fallback);
}

static int run_shapes(run_state *st) {
    options *o = &st->opt;
    static const vs_metric metrics[3] = {VS_METRIC_DOT, VS_METRIC_COSINE, VS_METRIC_L2SQ};
    print_row_header();
    for (int si = 0; si < o->nshapes; si++) {
        const shape *sh = &o->shapes[si];
        size_t k = o->k;
        float *base = malloc(sh->n * sh->d * sizeof(float));
        float *queries = malloc(sh->q * sh->d * sizeof(float));
        float *norms = malloc(sh->n * sizeof(float));
        size_t out_floats = sh->q * sh->n > sh->q * k ? sh->q * sh->n : sh->q * k;
        float *scores = vs_alloc_output(out_floats * sizeof(float));
        int64_t *ids = vs_alloc_output(sh->q * k * sizeof(int64_t));
        if (!base || !queries || !norms || !scores || !ids) {
            fprintf(stderr, "bench: out of memory for shape %zux%zux%zu\n", sh->q, sh->n, sh->d);
            return 3;
        }
        fill(base, sh->n * sh->d, 1000 + sh->n + sh->d);
        fill(queries, sh->q * sh->d, 2000 + sh->q + sh->d);
#pragma omp parallel for schedule(static)
        for (long j = 0; j < (long)sh->n; j++) {
            double sum = 0;
            for (size_t i = 0; i < sh->d; i++)
                sum += (double)base[(size_t)j * sh->d + i] * base[(size_t)j * sh->d + i];
            norms[j] = (float)sqrt(sum);
        }
        for (int mi = 0; mi < 3; mi++) {
            if (!o->metrics[mi]) continue;
            reference ref;
            if (reference_build(&ref, metrics[mi], queries, sh->q, base, sh->n, sh->d, k) != 0) {
                fprintf(stderr, "bench: out of memory for the reference\n");
                return 3;
            }
            bench_problem p = {.queries_count = sh->q,
                               .base_count = sh->n,
                               .dim = sh->d,
                               .k = k,
                               .metric = metrics[mi],
                               .queries = queries,
                               .base = base,
                               .base_norms = norms,
                               .scores = scores,
                               .shape_id = (unsigned)si + 1,
                               .ids = ids};
            for (int pi = 0; pi < st->npaths; pi++) {
                bench_path *path = &st->paths[pi];
                int wanted = 0;
                for (int topk = 0; topk < 2; topk++)
                    wanted |= o->modes[topk] && path->supports(path, p.metric, topk, sh->q);
                if (!wanted) continue;
                path->error[0] = '\0';
                int prepared = path->prepare(path, &p) == 0;
                for (int topk = 0; topk < 2; topk++) {
                    if (!o->modes[topk] || !path->supports(path, p.metric, topk, sh->q)) continue;
                    p.topk = topk;
                    row *r = new_row(st);
                    if (r == NULL) return 3;
                    r->sh = *sh;
                    r->k = topk ? k : 0;
                    r->metric = p.metric;
                    r->topk = topk;
                    snprintf(r->path, sizeof(r->path), "%s", path->name);
                    r->kind = path->kind;
                    if (!prepared) {
                        snprintf(r->status, sizeof(r->status), "error");
                        snprintf(r->note, sizeof(r->note), "prepare failed: %s", path->error);
                    } else {
                        time_row(st, path, &p, sh, &ref, r);
                        path->info(path, &r->info);
                        if (o->first_call && strcmp(r->status, "ok") == 0 &&
                            path->opencl_device >= 0 && topk && p.metric == VS_METRIC_DOT)
                            measure_first_call(st, path, sh, r);
                        describe_row(r);
                    }
                    print_row(r);
                }
                if (prepared) path->finish(path);
            }
            reference_free(&ref);
        }
        /* Corpora live while the shape lasts. */
        for (int pi = 0; pi < st->npaths; pi++)
            if (strcmp(st->paths[pi].kind, "vecscore") == 0) {
                vs_state *s = st->paths[pi].state;
                vs_corpus_free(s->corpus);
                s->corpus = NULL;
            }
        free(base);
        free(queries);
        free(norms);
        vs_free_output(scores);
        vs_free_output(ids);
    }
    return 0;
}

/* ---- targets ------------------------------------------------------------------------------ */

static const row *find_row(const run_state *st, size_t q, size_t n, size_t d, vs_metric metric,
                           int topk, const char *path) {
    for (size_t i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        if (r->sh.q == q && r->sh.n == n && r->sh.d == d && r->metric == metric &&
            r->topk == topk && strcmp(r->path, path) == 0 && strcmp(r->status, "ok") == 0)
            return r;
    }
    return NULL;
}

typedef struct target {
    char name[160];
    char measured[256];
    char verdict[96];
} target;

static int add_target(target *t, int count, int max, const char *name, const char *measured,
                      int met, const char *missing) {
    if (count >= max) return count;
    snprintf(t[count].name, sizeof(t[count].name), "%s", name);
    snprintf(t[count].measured, sizeof(t[count].measured), "%s", measured);
    if (missing)
        snprintf(t[count].verdict, sizeof(t[count].verdict), "not measured (%s)", missing);
    else
        snprintf(t[count].verdict, sizeof(t[count].verdict), "%s", met ? "met" : "MISSED");
    return count + 1;
}

/* The first OpenCL vecscore path, if any. */
static const char *opencl_path_name(const run_state *st) {
    for (int i = 0; i < st->npaths; i++)
        if (st->paths[i].opencl_device >= 0) return st->paths[i].name;
    return NULL;
}

static const char *clblast_path_name(const run_state *st) {
    for (int i = 0; i < st->npaths; i++)
        if (strncmp(st->paths[i].name, "clblast", 7) == 0) return st->paths[i].name;
    return NULL;
}

static int evaluate_targets(const run_state *st, target *t, int max) {
    int count = 0;
    char m[256];
    const vs_metric dot = VS_METRIC_DOT;
    const char *ours = "vs-auto";
    /* 1. Q=1 N=100000 d=768 top-k >= 90% of read bandwidth. */
    const row *a = find_row(st, 1, 100000, 768, dot, 1, ours);
    const row *b = find_row(st, 1, 100000, 768, dot, 0, "openblas");
    const row *c = find_row(st, 1, 100000, 768, dot, 1, "faiss-flat");
    if (a) {
        snprintf(m, sizeof(m), "%.0f%% of %.1f GB/s (%.1f GB/s); openblas sgemv %s; faiss %s",
                 a->pct_limit, st->machine.read_bandwidth_gbs, a->gbs, b ? "" : "n/a",
                 c ? "" : "n/a");
        if (b)
            snprintf(m, sizeof(m),
                     "%.0f%% of %.1f GB/s (%.1f GB/s); openblas sgemv %.0f%%; faiss %.0f%%",
                     a->pct_limit, st->machine.read_bandwidth_gbs, a->gbs, b->pct_limit,
                     c ? c->pct_limit : 0.0);
    }
    count = add_target(t, count, max, "Q=1 N=100000 d=768 top-k >= 90% of read bandwidth",
                       a ? m : "", a && a->pct_limit >= 90, a ? NULL : "shape not run");
    /* 2. Q=1 N=1000 d=768: >= 30x blog-malloc, no slower than sgemv. */
    a = find_row(st, 1, 1000, 768, VS_METRIC_COSINE, 1, ours);
    b = find_row(st, 1, 1000, 768, VS_METRIC_COSINE, 1, "blog-malloc");
    if (a && b)
        snprintf(m, sizeof(m), "%.1fx (%.2f us vs %.2f us, cosine top-k)", b->median / a->median,
                 a->median * 1e6, b->median * 1e6);
    count = add_target(t, count, max, "Q=1 N=1000 d=768 >= 30x blog scalar+malloc (-O2)",
                       a && b ? m : "", a && b && b->median / a->median >= 30,
                       a && b ? NULL : "rows missing");
    a = find_row(st, 1, 1000, 768, dot, 1, ours);
    b = find_row(st, 1, 1000, 768, dot, 0, "openblas");
    if (a && b)
        snprintf(m, sizeof(m), "vecscore top-k %.2f us vs sgemv score-only %.2f us (%.2fx)",
                 a->median * 1e6, b->median * 1e6, b->median / a->median);
    count =
        add_target(t, count, max, "Q=1 N=1000 d=768 no slower than OpenBLAS sgemv", a && b ? m : "",
                   a && b && a->median <= b->median, a && b ? NULL : "rows missing");
    /* 3. Q=16: >= 2x sgemm + top-k, >= 10x FAISS. */
    a = find_row(st, 16, 100000, 768, dot, 1, ours);
    b = find_row(st, 16, 100000, 768, dot, 1, "openblas");
    if (a && b)
        snprintf(m, sizeof(m), "%.2fx (%.2f ms vs %.2f ms)", b->median / a->median, a->median * 1e3,
                 b->median * 1e3);
    count = add_target(t, count, max, "Q=16 N=100000 d=768 top-k >= 2x OpenBLAS sgemm + top-k",
                       a && b ? m : "", a && b && b->median / a->median >= 2,
                       a && b ? NULL : "rows missing");
    c = find_row(st, 16, 100000, 768, dot, 1, "faiss-flat");
    if (a && c)
        snprintf(m, sizeof(m), "%.1fx (%.2f ms vs %.2f ms)", c->median / a->median, a->median * 1e3,
                 c->median * 1e3);
    count = add_target(t, count, max, "Q=16 N=100000 d=768 top-k >= 10x FAISS IndexFlatIP",
                       a && c ? m : "", a && c && c->median / a->median >= 10,
                       a && c ? NULL : "rows missing");
    /* 4. Batched shapes: >= 1.0x sgemm score-only, >= 2x FAISS. */
    static const shape batched[2] = {{256, 100000, 128}, {1024, 100000, 768}};
    for (int i = 0; i < 2; i++) {
        const shape *sh = &batched[i];
        char name[160];
        a = find_row(st, sh->q, sh->n, sh->d, dot, 1, ours);
        b = find_row(st, sh->q, sh->n, sh->d, dot, 0, "openblas");
        if (a && b)
            snprintf(m, sizeof(m), "%.2fx (%.2f ms vs %.2f ms; sgemm at %.0f%% of peak)",
                     b->median / a->median, a->median * 1e3, b->median * 1e3, b->pct_limit);
        snprintf(name, sizeof(name), "Q=%zu N=%zu d=%zu top-k >= 1.0x OpenBLAS sgemm score-only",
                 sh->q, sh->n, sh->d);
        count = add_target(t, count, max, name, a && b ? m : "",
                           a && b && b->median / a->median >= 1.0, a && b ? NULL : "rows missing");
        c = find_row(st, sh->q, sh->n, sh->d, dot, 1, "faiss-flat");
        if (a && c)
            snprintf(m, sizeof(m), "%.2fx (%.2f ms vs %.2f ms)", c->median / a->median,
                     a->median * 1e3, c->median * 1e3);
        snprintf(name, sizeof(name), "Q=%zu N=%zu d=%zu top-k >= 2x FAISS", sh->q, sh->n, sh->d);
        count = add_target(t, count, max, name, a && c ? m : "",
                           a && c && c->median / a->median >= 2, a && c ? NULL : "rows missing");
    }
    /* 5. OpenCL. */
    const char *cl = opencl_path_name(st), *clb = clblast_path_name(st);
    static const shape cl_batched[3] = {{16, 100000, 768}, {256, 100000, 128}, {1024, 100000, 768}};
    for (int i = 0; i < 3; i++) {
        const shape *sh = &cl_batched[i];
        char name[160];
        a = cl ? find_row(st, sh->q, sh->n, sh->d, dot, 1, cl) : NULL;
        const row *a_score = cl ? find_row(st, sh->q, sh->n, sh->d, dot, 0, cl) : NULL;
        b = clb ? find_row(st, sh->q, sh->n, sh->d, dot, 0, clb) : NULL;
        if (a && b)
            snprintf(m, sizeof(m), "top-k %.2fx, score %.2fx (%.1f / %.1f ms vs CLBlast %.1f ms)",
                     b->median / a->median, a_score ? b->median / a_score->median : 0.0,
                     a->median * 1e3, a_score ? a_score->median * 1e3 : 0.0, b->median * 1e3);
        snprintf(name, sizeof(name), "OpenCL Q=%zu N=%zu d=%zu >= 3x CLBlast SGEMM (same device)",
                 sh->q, sh->n, sh->d);
        count = add_target(t, count, max, name, a && b ? m : "",
                           a && b && b->median / a->median >= 3, a && b ? NULL : "rows missing");
    }
    a = cl ? find_row(st, 1, 100000, 768, dot, 1, cl) : NULL;
    if (a)
        snprintf(m, sizeof(m), "%.0f%% (%.1f GB/s of %.1f)", a->pct_limit, a->gbs,
                 st->machine.read_bandwidth_gbs);
    count = add_target(t, count, max, "OpenCL Q=1 N=100000 d=768 top-k >= 50% of read bandwidth",
                       a ? m : "", a && a->pct_limit >= 50, a ? NULL : "rows missing");
    {
        double worst = 0;
        char detail[256] = "";
        int any = 0;
        for (size_t i = 0; i < st->nrows; i++) {
            const row *r = &st->rows[i];
            if (!r->has_first) continue;
            double ratio = r->first_warm / r->median;
            size_t used = strlen(detail);
            if (used < sizeof(detail))
                snprintf(detail + used, sizeof(detail) - used,
                         "%s%zux%zux%zu %.2fx (setup %.0f ms)", any ? ", " : "", r->sh.q, r->sh.n,
                         r->sh.d, ratio, r->setup_warm * 1e3);
            if (ratio > worst) worst = ratio;
            any = 1;
        }
        snprintf(m, sizeof(m), "warm first call / steady median: %s", detail);
        count =
            add_target(t, count, max, "OpenCL warm-cache first call within 2x a steady call",
                       any ? m : "", any && worst <= 2.0, any ? NULL : "no OpenCL first-call rows");
    }
    /* 6. Arena. */
    {
        double arena3k = 0, malloc3k = 0, worst_arena = 0, arena1 = 0, arena2 = 0;
        size_t worst_size = 0;
        for (int i = 0; i < st->nalloc; i++) {
            const bench_alloc_row *r = &st->alloc[i];
            if (strcmp(r->pattern, "single") != 0) continue;
            int arena = strcmp(r->allocator, "arena") == 0;
            if (arena && r->ns_per_alloc > worst_arena) worst_arena = r->ns_per_alloc;
            if (r->bytes == 3 * 1024 && r->threads == 1) {
                if (arena)
                    arena3k = r->ns_per_alloc;
                else
                    malloc3k = r->ns_per_alloc;
            }
            if (arena && r->threads == 2) /* compare with the same size on 1 thread */
                for (int j = 0; j < st->nalloc; j++) {
                    const bench_alloc_row *one = &st->alloc[j];
                    if (strcmp(one->pattern, "single") == 0 && one->threads == 1 &&
                        one->bytes == r->bytes && strcmp(one->allocator, "arena") == 0 &&
                        (arena2 == 0 || r->ns_per_alloc / one->ns_per_alloc > arena2 / arena1)) {
                        arena1 = one->ns_per_alloc;
                        arena2 = r->ns_per_alloc;
                        worst_size = r->bytes;
                    }
                }
        }
        int have = st->nalloc > 0;
        snprintf(m, sizeof(m),
                 "worst arena allocation %.2f ns (single pattern, 64 B .. 1 MB, 1 and 2 threads)",
                 worst_arena);
        count = add_target(t, count, max, "Arena <= 3 ns per allocation", have ? m : "",
                           have && worst_arena <= 3.0, have ? NULL : "--no-alloc");
        snprintf(m, sizeof(m), "%.1fx (arena %.2f ns, malloc+free %.2f ns)",
                 arena3k > 0 ? malloc3k / arena3k : 0.0, arena3k, malloc3k);
        count =
            add_target(t, count, max, "Arena >= 5x faster than malloc+free at 3 KB", have ? m : "",
                       have && arena3k > 0 && malloc3k / arena3k >= 5, have ? NULL : "--no-alloc");
        snprintf(m, sizeof(m), "worst size %zu B: 1 thread %.2f ns, 2 threads %.2f ns per thread",
                 worst_size, arena1, arena2);
        count =
            add_target(t, count, max, "Arena: no slowdown with both threads allocating",
                       have && arena2 > 0 ? m : "", have && arena2 > 0 && arena2 <= 1.1 * arena1,
                       have && arena2 > 0 ? NULL : "needs 2 threads");
    }
    /* 7. auto within 10% of the best vecscore path. */
    {
        double worst = 0;
        char detail[256] = "";
        int any = 0;
        for (size_t i = 0; i < st->nrows; i++) {
            const row *r = &st->rows[i];
            if (strcmp(r->path, "vs-auto") != 0 || strcmp(r->status, "ok") != 0) continue;
            double best = r->median;
            const char *best_name = "vs-auto";
            for (size_t j = 0; j < st->nrows; j++) {
                const row *o = &st->rows[j];
                if (strcmp(o->kind, "vecscore") != 0 || strcmp(o->status, "ok") != 0 ||
                    strstr(o->path, "after") || strstr(o->path, "oneshot") || o->sh.q != r->sh.q ||
                    o->sh.n != r->sh.n || o->sh.d != r->sh.d || o->metric != r->metric ||
                    o->topk != r->topk)
                    continue;
                if (o->median < best) {
                    best = o->median;
                    best_name = o->path;
                }
            }
            double ratio = r->median / best;
            if (ratio > worst) {
                worst = ratio;
                snprintf(detail, sizeof(detail),
                         "worst: %zux%zux%zu %s %s, auto %.3f ms vs %s %.3f ms", r->sh.q, r->sh.n,
                         r->sh.d, vs_metric_name(r->metric), mode_name(r->topk), r->median * 1e3,
                         best_name, best * 1e3);
            }
            any = 1;
        }
        snprintf(m, sizeof(m), "%.2fx of the best vecscore path (%s)", worst, detail);
        count = add_target(t, count, max, "auto within 10% of the best path for every shape",
                           any ? m : "", any && worst <= 1.10, any ? NULL : "no vs-auto rows");
    }
    return count;
}

/* ---- output ------------------------------------------------------------------------------- */

static void csv_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static double finite_or_zero(double x) {
    return isfinite(x) ? x : 0;
}

/* The environment variables that change how the paths run, "NAME=value ...". */
static const char *environment_settings(void) {
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

static FILE *open_out(const run_state *st, const char *name) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", st->opt.out_dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

static const char *machine_isa(void) {
    return vs_cpu_best_isa();
}

static int write_csv(const run_state *st) {
    FILE *f = open_out(st, "results.csv");
    if (f == NULL) return -1;
    fprintf(f, "date,cpu,library_version,best_isa,queries,candidates,dim,metric,mode,k,path,kind,"
               "status,reps,median_s,min_s,gflops,gbs,pct_limit,pct_limit_best,limit,backend,isa,"
               "device,driver,threads,settings,transfer_s,kernel_s,compile_s,bytes_mapped,"
               "bytes_copied,arena_high_water,scratch_high_water,first_call_cold_s,"
               "first_call_warm_s,compile_cold_s,compile_warm_s,setup_cold_s,setup_warm_s,note\n");
    for (size_t i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        const bench_path_info *in = &r->info;
        fprintf(f, "%s,", st->date);
        csv_string(f, st->machine.cpu_model);
        fprintf(f, ",%s,%s,%zu,%zu,%zu,%s,%s,%zu,%s,%s,%s,%d,%.9f,%.9f,%.3f,%.3f,%.2f,%.2f,%s,",
                vs_version(), machine_isa(), r->sh.q, r->sh.n, r->sh.d, vs_metric_name(r->metric),
                mode_name(r->topk), r->k, r->path, r->kind, r->status, r->reps, r->median, r->min,
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
            fprintf(f, "%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,", r->first_cold, r->first_warm,
                    r->compile_cold, r->compile_warm, r->setup_cold, r->setup_warm);
        else
            fprintf(f, ",,,,,,");
        csv_string(f, r->note);
        fputc('\n', f);
    }
    fclose(f);
    f = open_out(st, "alloc.csv");
    if (f == NULL) return -1;
    fprintf(f, "pattern,allocator,bytes,threads,ns_per_alloc_median,ns_per_alloc_min\n");
    for (int i = 0; i < st->nalloc; i++) {
        const bench_alloc_row *a = &st->alloc[i];
        fprintf(f, "%s,%s,%zu,%d,%.3f,%.3f\n", a->pattern, a->allocator, a->bytes, a->threads,
                a->ns_per_alloc, a->ns_per_alloc_min);
    }
    fclose(f);
    return 0;
}

static int write_json(const run_state *st, const target *targets, int ntargets) {
    FILE *f = open_out(st, "results.json");
    if (f == NULL) return -1;
    const bench_machine *mc = &st->machine;
    fprintf(f, "{\n  \"date\": ");
    json_string(f, st->date);
    fprintf(f, ",\n  \"library_version\": ");
    json_string(f, vs_version());
    fprintf(f, ",\n  \"machine\": {\"cpu\": ");
    json_string(f, mc->cpu_model);
    fprintf(f, ", \"best_isa\": ");
    json_string(f, machine_isa());
    fprintf(f,
            ", \"threads\": %d, \"read_bandwidth_gbs\": %.3f, \"peak_gflops\": %.3f, "
            "\"peak_avx512_gflops\": %.3f, \"peak_avx2_gflops\": %.3f, \"omp_wait_policy\": ",
            mc->threads, mc->read_bandwidth_gbs, mc->peak_gflops, mc->peak_avx512_gflops,
            mc->peak_avx2_gflops);
    json_string(f, getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "");
    fprintf(f, ", \"environment\": ");
    json_string(f, environment_settings());
    fprintf(f,
            ", \"limits_start\": {\"read_bandwidth_gbs\": %.3f, \"peak_gflops\": %.3f}, "
            "\"limits_end\": {\"read_bandwidth_gbs\": %.3f, \"peak_gflops\": %.3f}",
            st->machine_start.read_bandwidth_gbs, st->machine_start.peak_gflops,
            st->machine_end.read_bandwidth_gbs, st->machine_end.peak_gflops);
    fprintf(f, ", \"openblas\": ");
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
    fprintf(f, "\n  ],\n  \"rows\": [");
    for (size_t i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        const bench_path_info *in = &r->info;
        fprintf(f, "%s\n    {\"queries\": %zu, \"candidates\": %zu, \"dim\": %zu, \"metric\": ",
                i ? "," : "", r->sh.q, r->sh.n, r->sh.d);
        json_string(f, vs_metric_name(r->metric));
        fprintf(f, ", \"mode\": \"%s\", \"k\": %zu, \"path\": ", mode_name(r->topk), r->k);
        json_string(f, r->path);
        fprintf(f,
                ", \"kind\": \"%s\", \"status\": \"%s\", \"reps\": %d, \"median_s\": %.9f, "
                "\"min_s\": %.9f, \"gflops\": %.3f, \"gbs\": %.3f, \"pct_limit\": %.2f, "
                "\"pct_limit_best\": %.2f, \"limit\": \"%s\", \"backend\": ",
                r->kind, r->status, r->reps, r->median, r->min, finite_or_zero(r->gflops),
                finite_or_zero(r->gbs), finite_or_zero(r->pct_limit),
                finite_or_zero(r->pct_limit_best), r->bound ? r->bound : "");
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
        fprintf(f, ", \"note\": ");
        json_string(f, r->note);
        fprintf(f, "}");
    }
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
    for (int i = 0; i < ntargets; i++) {
        fprintf(f, "%s\n    {\"target\": ", i ? "," : "");
        json_string(f, targets[i].name);
        fprintf(f, ", \"measured\": ");
        json_string(f, targets[i].measured);
        fprintf(f, ", \"verdict\": ");
        json_string(f, targets[i].verdict);
        fprintf(f, "}");
    }
    fprintf(f, "\n  ]\n}\n");
    fclose(f);
    return 0;
}

/* One data file per plot: a row per shape, a column per path (dot metric). */
static int write_plot_data(const run_state *st, const char *file, int topk, int percent,
                           char names[][48], int *nnames) {
    FILE *f = open_out(st, file);
    if (f == NULL) return -1;
    *nnames = 0;
    for (size_t i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        if (r->metric != VS_METRIC_DOT || r->topk != topk || strcmp(r->status, "ok") != 0) continue;
        int seen = 0;
        for (int j = 0; j < *nnames; j++)
            seen |= strcmp(names[j], r->path) == 0;
        if (!seen && *nnames < MAX_PATHS) snprintf(names[(*nnames)++], 48, "%s", r->path);
    }
    fprintf(f, "shape");
    for (int j = 0; j < *nnames; j++)
        fprintf(f, " %s", names[j]);
    fprintf(f, "\n");
    for (int si = 0; si < st->opt.nshapes; si++) {
        const shape *sh = &st->opt.shapes[si];
        fprintf(f, "%zux%zux%zu", sh->q, sh->n, sh->d);
        for (int j = 0; j < *nnames; j++) {
            const row *r = find_row(st, sh->q, sh->n, sh->d, VS_METRIC_DOT, topk, names[j]);
            if (r)
                fprintf(f, " %.6g", percent ? r->pct_limit : r->median * 1e3);
            else
                fprintf(f, " -");
        }
        fprintf(f, "\n");
    }
    fclose(f);
    return 0;
}

static void write_plots(const run_state *st) {
    char names[MAX_PATHS][48];
    int counts[3];
    static const char *data[3] = {"time_topk.dat", "time_score.dat", "limit_topk.dat"};
    if (write_plot_data(st, data[0], 1, 0, names, &counts[0]) ||
        write_plot_data(st, data[1], 0, 0, names, &counts[1]) ||
        write_plot_data(st, data[2], 1, 1, names, &counts[2]))
        return;
    FILE *f = open_out(st, "plot.gp");
    if (f == NULL) return;
    fprintf(f, "# gnuplot script written by the vecscore benchmark; run in this directory.\n"
               "set terminal pngcairo size 1400,700 noenhanced font ',10'\n"
               "set datafile missing '-'\n"
               "set style data histogram\n"
               "set style histogram cluster gap 1\n"
               "set style fill solid 0.85 border -1\n"
               "set key outside right top\n"
               "set grid ytics\n"
               "set xtics rotate by -20\n"
               "set xlabel 'shape (queries x candidates x dim), metric dot'\n");
    static const char *titles[3] = {"top-k (k=%zu): median time per call, lower is better",
                                    "score matrix: median time per call, lower is better",
                                    "top-k (k=%zu): %% of the machine limit (bandwidth or FMA)"};
    static const char *pngs[3] = {"time_topk.png", "time_score.png", "limit_topk.png"};
    for (int i = 0; i < 3; i++) {
        if (counts[i] == 0) continue;
        char title[200];
        snprintf(title, sizeof(title), titles[i], st->opt.k);
        fprintf(f, "\nset output '%s'\nset title '%s'\n", pngs[i], title);
        if (i < 2)
            fprintf(f, "set logscale y\nset ylabel 'milliseconds (log scale)'\nset yrange [*:*]\n");
        else
            fprintf(f, "unset logscale y\nset ylabel '%% of limit'\nset yrange [0:*]\n");
        fprintf(f, "plot for [c=2:%d] '%s' using c:xtic(1) title columnheader(c)\n", counts[i] + 1,
                data[i]);
    }
    fclose(f);
    if (!st->opt.plots) return;
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "bench: gnuplot not found; plot.gp written, no PNGs\n");
        return;
    }
    char command[1200];
    snprintf(command, sizeof(command), "cd '%s' && gnuplot plot.gp", st->opt.out_dir);
    if (system(command) != 0) fprintf(stderr, "bench: gnuplot failed\n");
}

/* ---- main --------------------------------------------------------------------------------- */

static int build_paths(run_state *st) {
    const options *o = &st->opt;
    bench_path candidates[MAX_PATHS];
    int n = 0;
    char name[48];
    for (int i = 0; vs_cpu_isa_name(i) != NULL; i++) { /* every ISA the library knows */
        const char *isa = vs_cpu_isa_name(i);
        snprintf(name, sizeof(name), "vs-%s", isa);
        if (vs_cpu_isa_supported(isa) && path_selected(o, name) &&
            vs_path(&candidates[n], name, "cpu", isa, 0, -1, NULL))
            candidates[n++].auxiliary = strcmp(isa, vs_cpu_best_isa()) != 0;
    }
    int devices = vs_device_count();
    for (int i = 1; i < devices && n < MAX_PATHS - 4; i++) {
        vs_device dev;
        if (vs_device_info(i, &dev) != VS_OK) continue;
        snprintf(name, sizeof(name), "vs-%s", dev.selector);
        if (path_selected(o, name))
            n += vs_path(&candidates[n], name, dev.selector, NULL, 0, i, dev.driver_version);
    }
    if (path_selected(o, "vs-auto"))
        n += vs_path(&candidates[n], "vs-auto", "auto", NULL, 0, -1, NULL);
    if (path_selected(o, "vs-auto-oneshot") &&
        vs_path(&candidates[n], "vs-auto-oneshot", "auto", NULL, 0, -1, NULL)) {
        ((vs_state *)candidates[n].state)->oneshot = 1;
        candidates[n++].auxiliary = 1;
    }
    bench_path scratch[4];
    int blas = bench_blas_paths(scratch, 1);
    if (blas) {
        if (path_selected(o, "openblas"))
            candidates[n++] = scratch[0];
        else
            scratch[0].destroy(&scratch[0]);
        if (path_selected(o, "vs-auto-after-blas"))
            n += vs_path(&candidates[n], "vs-auto-after-blas", "auto", NULL, 1, -1, NULL);
    }
    if (bench_faiss_paths(scratch, 1)) {
        if (path_selected(o, "faiss-flat"))
            candidates[n++] = scratch[0];
        else
            scratch[0].destroy(&scratch[0]);
    }
    for (int i = 1; i < devices && n < MAX_PATHS - 3; i++) {
        vs_device dev;
        if (vs_device_info(i, &dev) != VS_OK) continue;
        if (bench_clblast_paths(scratch, 1, dev.platform_index, dev.device_index, dev.name)) {
            if (path_selected(o, scratch[0].name))
                candidates[n++] = scratch[0];
            else
                scratch[0].destroy(&scratch[0]);
        }
    }
    int blog = bench_blog_paths(scratch, 2);
    for (int i = 0; i < blog; i++) {
        if (path_selected(o, scratch[i].name))
            candidates[n++] = scratch[i];
        else
            scratch[i].destroy(&scratch[i]);
    }
    memcpy(st->paths, candidates, (size_t)n * sizeof(bench_path));
    st->npaths = n;
    return n;
}

/* summary.md: the machine, the DOT rows of every shape (both modes), the
 * allocation rows and the targets, as Markdown tables for docs/benchmarks.md. */
static int write_markdown(const run_state *st, const target *targets, int ntargets) {
    FILE *f = open_out(st, "summary.md");
    if (f == NULL) return -1;
    const bench_machine *mc = &st->machine;
    fprintf(f,
            "Run %s, vecscore %s, CPU \"%s\" (best ISA %s, %d OpenMP threads, "
            "OMP_WAIT_POLICY=%s; environment: %s).\n\n"
            "Limits measured in this run (better of start and end): read bandwidth %.1f GB/s "
            "(start %.1f, end %.1f); peak FMA %.1f GFLOP/s (start %.1f, end %.1f; AVX-512 %.1f, "
            "AVX2 %.1f).\n\n",
            st->date, vs_version(), mc->cpu_model, vs_cpu_best_isa(), mc->threads,
            getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "(unset)",
            environment_settings()[0] ? environment_settings() : "none set", mc->read_bandwidth_gbs,
            st->machine_start.read_bandwidth_gbs, st->machine_end.read_bandwidth_gbs,
            mc->peak_gflops, st->machine_start.peak_gflops, st->machine_end.peak_gflops,
            mc->peak_avx512_gflops, mc->peak_avx2_gflops);
    fprintf(f, "| shape QxNxd | mode | path | status | median ms | min ms | GFLOP/s | GB/s | "
               "%% limit | note |\n|---|---|---|---|---:|---:|---:|---:|---:|---|\n");
    for (size_t i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        if (r->metric != VS_METRIC_DOT) continue;
        fprintf(f, "| %zux%zux%zu | %s | %s | %s |", r->sh.q, r->sh.n, r->sh.d, mode_name(r->topk),
                r->path, r->status);
        if (strcmp(r->status, "ok") == 0)
            fprintf(f, " %.3f | %.3f | %.1f | %.1f | %.0f%% |", r->median * 1e3, r->min * 1e3,
                    r->gflops, r->gbs, r->pct_limit);
        else
            fprintf(f, " | | | | |");
        fprintf(f, " %s |\n", r->note);
    }
    if (st->nalloc) {
        fprintf(f, "\n| pattern | allocator | bytes | threads | ns per allocation (median) | "
                   "min |\n|---|---|---:|---:|---:|---:|\n");
        for (int i = 0; i < st->nalloc; i++) {
            const bench_alloc_row *a = &st->alloc[i];
            if (a->bytes)
                fprintf(f, "| %s | %s | %zu | %d | %.2f | %.2f |\n", a->pattern, a->allocator,
                        a->bytes, a->threads, a->ns_per_alloc, a->ns_per_alloc_min);
            else
                fprintf(f, "| %s | %s | 3 KB-1 MB | %d | %.2f | %.2f |\n", a->pattern, a->allocator,
                        a->threads, a->ns_per_alloc, a->ns_per_alloc_min);
        }
    }
    fprintf(f, "\n| target | measured | verdict |\n|---|---|---|\n");
    for (int i = 0; i < ntargets; i++)
        fprintf(f, "| %s | %s | %s |\n", targets[i].name, targets[i].measured, targets[i].verdict);
    fclose(f);
    return 0;
}

static void print_targets(const target *t, int count) {
    printf("\ntargets (this run)\n");
    for (int i = 0; i < count; i++)
        printf("  %-8s %-62s %s\n", t[i].verdict, t[i].name, t[i].measured);
}

int vs_bench_main(int argc, char **argv, const char *self_prefix) {
    const char *prog = self_prefix ? "vecscore bench" : "bench_core";
    if (argc >= 2 && strcmp(argv[1], "--first-call") == 0)
        return first_call_child(argc - 1, argv + 1);

    run_state *st = calloc(1, sizeof(*st));
    if (st == NULL) return 3;
    options *o = &st->opt;
    o->reps = -1;
    o->k = 10;
    o->metrics[0] = o->metrics[1] = o->metrics[2] = 1;
    o->modes[0] = o->modes[1] = 1;
    o->alloc = o->plots = o->first_call = 1;
    o->row_budget = o->aux_budget = -1;
    snprintf(o->out_dir, sizeof(o->out_dir), "bench-results");
    const char *shapes_text = NULL;
    int list_only = 0;
    static const char *metric_names[3] = {"dot", "cosine", "l2sq"};
    static const char *mode_names[2] = {"score", "topk"};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout, prog);
            free(st);
            return 0;
        } else if (strcmp(arg, "--quick") == 0) {
            o->quick = 1;
        } else if (strcmp(arg, "--no-alloc") == 0) {
            o->alloc = 0;
        } else if (strcmp(arg, "--no-plots") == 0) {
            o->plots = 0;
        } else if (strcmp(arg, "--no-first-call") == 0) {
            o->first_call = 0;
        } else if (strcmp(arg, "--list") == 0) {
            list_only = 1;
        } else if (value == NULL) {
            bad = 1;
        } else if (strcmp(arg, "--reps") == 0) {
            size_t reps = 0;
            bad = parse_size(value, &reps) || reps > MAX_REPS;
            o->reps = (int)reps;
            i++;
        } else if (strcmp(arg, "-k") == 0) {
            bad = parse_size(value, &o->k) || o->k > 1024;
            i++;
        } else if (strcmp(arg, "--shapes") == 0) {
            shapes_text = value;
            bad = parse_shapes(value, o);
            i++;
        } else if (strcmp(arg, "--metrics") == 0) {
            bad = parse_list(value, metric_names, 3, o->metrics);
            i++;
        } else if (strcmp(arg, "--modes") == 0) {
            bad = parse_list(value, mode_names, 2, o->modes);
            i++;
        } else if (strcmp(arg, "--paths") == 0) {
            snprintf(o->paths, sizeof(o->paths), "%s", value);
            i++;
        } else if (strcmp(arg, "--out") == 0) {
            snprintf(o->out_dir, sizeof(o->out_dir), "%s", value);
            i++;
        } else if (strcmp(arg, "--budget") == 0 || strcmp(arg, "--aux-budget") == 0) {
            char *end;
            double *budget = strcmp(arg, "--budget") == 0 ? &o->row_budget : &o->aux_budget;
            *budget = strtod(value, &end);
            bad = *end != '\0' || !(*budget > 0);
            i++;
        } else {
            bad = 1;
        }
        if (bad) {
            fprintf(stderr, "%s: bad option '%s'%s%s\n\n", prog, arg, value ? " " : "",
                    value ? value : "");
            usage(stderr, prog);
            free(st);
            return 1;
        }
    }
    if (o->reps < 0) o->reps = o->quick ? 3 : 5;
    if (o->row_budget < 0) o->row_budget = o->quick ? 4 : 60;
    if (o->aux_budget < 0) o->aux_budget = o->quick ? 2 : 15;
    if (shapes_text == NULL) {
        static const shape full[5] = {{1, 1000, 768},
                                      {1, 100000, 768},
                                      {16, 100000, 768},
                                      {256, 100000, 128},
                                      {1024, 100000, 768}};
        static const shape quick[4] = {
            {1, 1000, 768}, {1, 20000, 768}, {16, 20000, 768}, {64, 20000, 128}};
        o->nshapes = o->quick ? 4 : 5;
        memcpy(o->shapes, o->quick ? quick : full, (size_t)o->nshapes * sizeof(shape));
    }
    st->self_prefix = self_prefix;
    ssize_t len = readlink("/proc/self/exe", st->self_exe, sizeof(st->self_exe) - 1);
    if (len <= 0) {
        o->first_call = 0;
    } else {
        st->self_exe[len] = '\0';
    }
    time_t now = time(NULL);
    struct tm tm_utc;
    gmtime_r(&now, &tm_utc);
    strftime(st->date, sizeof(st->date), "%Y-%m-%dT%H:%M:%SZ", &tm_utc);

    if (build_paths(st) == 0) {
        fprintf(stderr, "%s: no path selected (see --list)\n", prog);
        free(st);
        return 1;
    }
    if (list_only) {
        for (int i = 0; i < st->npaths; i++)
            printf("%-22s %s\n", st->paths[i].name, st->paths[i].kind);
        for (int i = 0; i < st->npaths; i++)
            st->paths[i].destroy(&st->paths[i]);
        free(st);
        return 0;
    }
    if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: cannot create %s: %s\n", prog, o->out_dir, strerror(errno));
        free(st);
        return 3;
    }

    bench_machine_measure(&st->machine, o->quick);
    const bench_machine *mc = &st->machine;
    printf("vecscore %s benchmark, %s\n", vs_version(), st->date);
    printf("cpu: %s; best ISA %s; %d OpenMP threads; OMP_WAIT_POLICY=%s\n", mc->cpu_model,
           vs_cpu_best_isa(), mc->threads,
           getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "(unset)");
    printf("measured limits: read bandwidth %.1f GB/s; peak FMA %.1f GFLOP/s (AVX-512 %.1f, AVX2 "
           "%.1f)\n",
           mc->read_bandwidth_gbs, mc->peak_gflops, mc->peak_avx512_gflops, mc->peak_avx2_gflops);
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
    printf("environment: %s\n", environment_settings()[0] ? environment_settings() : "(none set)");
    printf("paths:");
    for (int i = 0; i < st->npaths; i++)
        printf(" %s", st->paths[i].name);
    printf("\nreps %d after 1 warm-up; k=%zu; times are per call; %%limit = roofline time "
           "max(bytes/bandwidth, flops/peak) / median\n\n",
           o->reps, o->k);
    fflush(stdout);

    /* The allocation benchmark runs first, while malloc is in its start-up
     * state (glibc's mmap threshold adapts to what the process has freed). */
    int status = 0;
    if (o->alloc) {
        st->nalloc = bench_alloc_run(st->alloc, 64, o->quick, omp_get_max_threads());
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
            printf("%-14s %-7s %9s %7d %10.2f %10.2f\n", a->pattern, a->allocator, bytes,
                   a->threads, a->ns_per_alloc, a->ns_per_alloc_min);
        }
    }
    printf("\n");
    status = run_shapes(st);
    if (status == 0) {
        /* Limits again at the end; the better of the two is the limit (a busy
         * moment during one measurement then does not inflate every %). */
        bench_machine end;
        bench_machine_measure(&end, o->quick);
        printf("\nlimits at the end: read bandwidth %.1f GB/s; peak FMA %.1f GFLOP/s (AVX-512 "
               "%.1f, AVX2 %.1f); the larger of start and end is used\n",
               end.read_bandwidth_gbs, end.peak_gflops, end.peak_avx512_gflops,
               end.peak_avx2_gflops);
        st->machine_start = st->machine;
        st->machine_end = end;
        bench_machine *mc_best = &st->machine;
#define BENCH_MAX_(field)                                                                          \
    if (end.field > mc_best->field) mc_best->field = end.field
        BENCH_MAX_(read_bandwidth_gbs);
        BENCH_MAX_(peak_gflops);
        BENCH_MAX_(peak_avx512_gflops);
        BENCH_MAX_(peak_avx2_gflops);
#undef BENCH_MAX_
        for (size_t i = 0; i < st->nrows; i++)
            row_limits(st, &st->rows[i]);
    }
    target targets[32];
    int ntargets = 0;
    if (status == 0) {
        ntargets = evaluate_targets(st, targets, 32);
        print_targets(targets, ntargets);
        if (write_csv(st) != 0 || write_json(st, targets, ntargets) != 0) status = 3;
        if (write_markdown(st, targets, ntargets) != 0) status = 3;
        write_plots(st);
        printf("\nwrote %s/results.csv, results.json, alloc.csv, summary.md, plot.gp%s\n",
               o->out_dir, o->plots ? " and PNG plots" : "");
    }
    for (int i = 0; i < st->npaths; i++)
        st->paths[i].destroy(&st->paths[i]);
    if (status == 0 && st->vecscore_failures) {
        fprintf(stderr, "%s: %d vecscore row(s) disagree with the float64 reference\n", prog,
                st->vecscore_failures);
        status = 2;
    }
    free(st->rows);
    free(st);
    return status;
}
