/*
 * options.c — the harness's options, described once in a table (name, value
 * placeholder, what it does, the help text); parsing, the defaults that
 * depend on --quick, and the --help text all read the table.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *const metric_names[3] = {"dot", "cosine", "l2sq"};
static const vs_metric metric_values[3] = {VS_METRIC_DOT, VS_METRIC_COSINE, VS_METRIC_L2SQ};
static const char *const mode_names[2] = {"score", "topk"};

const char *bench_metric_option_name(int index) {
    return metric_names[index];
}

vs_metric bench_metric_at(int index) {
    return metric_values[index];
}

int bench_parse_size(const char *text, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end != '\0' || v == 0 || text[0] == '-') return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_shapes(const char *text, shape_list *list) {
    char buffer[1024];
    if (strlen(text) >= sizeof(buffer)) return -1;
    snprintf(buffer, sizeof(buffer), "%s", text);
    list->count = 0;
    for (char *save = NULL, *item = strtok_r(buffer, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        unsigned long long q, n, d;
        char tail;
        /* Digits and 'x' only: sscanf's %llu would take "-1" as a huge count. */
        if (list->count >= MAX_SHAPES || strspn(item, "0123456789x") != strlen(item) ||
            sscanf(item, "%llux%llux%llu%c", &q, &n, &d, &tail) != 3 || !q || !n || !d)
            return -1;
        /* Every buffer a shape needs (Q x N scores, N x d base) must have a size
         * that cannot overflow; 2^36 elements is far beyond any memory here. */
        const double most = 68719476736.0;
        if ((double)q * (double)n > most || (double)n * (double)d > most ||
            (double)q * (double)d > most)
            return -1;
        list->items[list->count++] = (shape){(size_t)q, (size_t)n, (size_t)d};
    }
    return list->count ? 0 : -1;
}

static int parse_list(const char *text, const char *const *names, int count, int *enabled) {
    char buffer[256];
    if (strlen(text) >= sizeof(buffer)) return -1;
    snprintf(buffer, sizeof(buffer), "%s", text);
    for (int i = 0; i < count; i++)
        enabled[i] = 0;
    int any = 0;
    for (char *save = NULL, *item = strtok_r(buffer, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int i = 0; i < count; i++)
            if (strcmp(item, names[i]) == 0) enabled[i] = found = any = 1;
        if (!found) return -1;
    }
    return any ? 0 : -1;
}

static int parse_seconds(const char *text, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !(v > 0) || v > 1e6) return -1;
    *out = v;
    return 0;
}

static int parse_count(const char *text, int low, int high, int *out) {
    size_t v = 0;
    if (bench_parse_size(text, &v) != 0 || v < (size_t)low || v > (size_t)high) return -1;
    *out = (int)v;
    return 0;
}

int bench_path_selected(const options *o, const char *name) {
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

/* ---- the table ---------------------------------------------------------------------------- */

/* What an option does with its value (NULL for a flag): 0, or -1 when the value is bad. */
typedef int (*option_apply)(options *o, const char *value);

typedef struct option_spec {
    const char *name;   /* "--reps" */
    const char *value;  /* placeholder in the help ("N"), or NULL for a flag */
    option_apply apply; /* NULL: a flag that stores flag_value in the int at flag_field */
    size_t flag_field;
    int flag_value;
    const char *help; /* lines separated by '\n' */
} option_spec;

#define FLAG(name, field, value, help)                                                             \
    { name, NULL, NULL, offsetof(options, field), value, help }
#define WITH(name, value, apply, help)                                                             \
    { name, value, apply, 0, 0, help }

static int apply_contention(options *o, const char *v) {
    (void)v;
    o->contention = o->contention_only = 1;
    return 0;
}
static int apply_no_contention(options *o, const char *v) {
    (void)v;
    o->contention = 0;
    o->contention_only = 0;
    return 0;
}
static int apply_reps(options *o, const char *v) {
    return parse_count(v, 1, MAX_REPS, &o->reps);
}
static int apply_rounds(options *o, const char *v) {
    return parse_count(v, 1, 20, &o->rounds);
}
static int apply_k(options *o, const char *v) {
    return bench_parse_size(v, &o->k) || o->k > 1024 ? -1 : 0;
}
static int apply_shapes(options *o, const char *v) {
    o->narrowed = 1;
    return parse_shapes(v, &o->shapes);
}
static int apply_metrics(options *o, const char *v) {
    return parse_list(v, metric_names, 3, o->metrics);
}
static int apply_modes(options *o, const char *v) {
    return parse_list(v, mode_names, 2, o->modes);
}
static int apply_paths(options *o, const char *v) {
    o->narrowed = 1;
    if (strlen(v) >= sizeof(o->paths)) return -1;
    snprintf(o->paths, sizeof(o->paths), "%s", v);
    return 0;
}
static int apply_out(options *o, const char *v) {
    if (v[0] == '\0' || strlen(v) >= sizeof(o->out_dir)) return -1;
    snprintf(o->out_dir, sizeof(o->out_dir), "%s", v);
    return 0;
}
static int apply_budget(options *o, const char *v) {
    return parse_seconds(v, &o->row_budget);
}
static int apply_aux_budget(options *o, const char *v) {
    return parse_seconds(v, &o->aux_budget);
}
static int apply_contention_shapes(options *o, const char *v) {
    return parse_shapes(v, &o->contention_shapes);
}
static int apply_callers_shapes(options *o, const char *v) {
    return parse_shapes(v, &o->callers_shapes);
}
static int apply_contention_trials(options *o, const char *v) {
    return parse_count(v, 1, 100, &o->contention_trials);
}
static int apply_contention_budget(options *o, const char *v) {
    return parse_seconds(v, &o->contention_budget);
}
static int apply_contention_load(options *o, const char *v) {
    return parse_count(v, 1, 1024, &o->contention_load);
}
static int apply_contention_window(options *o, const char *v) {
    return parse_seconds(v, &o->contention_window);
}

/* The order is the order of the usage line and of the help. */
static const option_spec option_table[] = {
    FLAG("--quick", quick, 1, "small shapes, fewer reps: a smoke test (< 1 minute)"),
    WITH("--reps", "N", apply_reps,
         "timed calls per row after one warm-up (default 5; quick 3);\n"
         "short calls get more, up to 0.25 s of calls (quick 0.05 s)"),
    WITH("--rounds", "N", apply_rounds,
         "time the paths of each shape and metric in N rounds (default\n"
         "1, at most 20), rotating their order: round r starts at path\n"
         "r; a row's median and min are over the calls of all rounds,\n"
         "its note gives each round's median (the spread)"),
    WITH("--shapes", "QxNxD,...", apply_shapes,
         "default 1x1000x768,1x100000x768,16x100000x768,\n256x100000x128,1024x100000x768"),
    WITH("--metrics", "dot,cosine,l2sq", apply_metrics, "metrics to run (default all three)"),
    WITH("--modes", "score,topk", apply_modes, "score matrix and/or top-k (default both)"),
    WITH("-k", "K", apply_k, "top-k size (default 10, at most 1024)"),
    WITH("--paths", "NAME,...", apply_paths,
         "only these paths (a name, or a prefix ending in '*')"),
    WITH("--out", "DIR", apply_out, "output directory (default bench-results)"),
    WITH("--budget", "S", apply_budget,
         "skip a row when its warm-up call x reps exceeds 1.5 S\nseconds (default 60; quick 4)"),
    WITH("--aux-budget", "S", apply_aux_budget,
         "for auxiliary paths (ISAs below the best one, the blog\n"
         "baselines): skip a row when its warm-up + reps, estimated\n"
         "from the path's earlier rows, exceed S (default 15; quick 2)"),
    FLAG("--no-alloc", alloc, 0, "skip the arena vs malloc micro-benchmark"),
    FLAG("--no-plots", plots, 0, "write plot.gp and its data, but no PNGs"),
    FLAG("--no-first-call", first_call, 0, "skip the OpenCL cold/warm first-call child processes"),
    WITH("--contention", NULL, apply_contention,
         "run the contention scenario: busy loops on every core\n"
         "while batches run with the default threads and with 1\n"
         "thread, and 1, 2, 4 callers share one context; before it,\n"
         "idle, the rows its targets need (dot, vs-auto and openblas,\n"
         "1x100000x768 and 1024x100000x768; quick 1x20000x768 and\n"
         "64x20000x768) unless --shapes/--paths say otherwise. It is\n"
         "also part of a run without --shapes and --paths"),
    WITH("--no-contention", NULL, apply_no_contention, "leave the contention scenario out"),
    WITH("--contention-shapes", "LIST", apply_contention_shapes,
         "default 1x1000x768,1x100000x768,16x100000x768,\n"
         "256x100000x128,1024x100000x768 (quick 1x1000x768,\n"
         "1x20000x768,16x20000x768)"),
    WITH("--callers-shapes", "LIST", apply_callers_shapes,
         "shapes for 1, 2, 4 callers on one context (default\n"
         "1x1000x768,16x100000x768; quick 1x1000x768,16x20000x768)"),
    WITH("--contention-trials", "N", apply_contention_trials,
         "trials per shape under load (default 6; quick 3); at least\n"
         "2 run even past the budget"),
    WITH("--contention-budget", "S", apply_contention_budget,
         "seconds for the trials of all shapes (default 180; quick 20)"),
    WITH("--contention-load", "N", apply_contention_load,
         "busy loops in the competing load (default 2 per core)"),
    WITH("--contention-window", "S", apply_contention_window,
         "seconds of calls per setting and trial (default 1; quick\n0.15); 3 to 200 calls"),
    FLAG("--list", list_only, 1, "print the paths this build and machine have, and exit"),
};
#define OPTION_COUNT (sizeof(option_table) / sizeof(option_table[0]))

static void usage_synopsis(FILE *out, const char *prog) {
    char line[128];
    int used = snprintf(line, sizeof(line), "usage: %s", prog);
    int indent = (int)strlen("usage: ") - 1;
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        char item[64];
        const option_spec *s = &option_table[i];
        int len = s->value ? snprintf(item, sizeof(item), " [%s %s]", s->name, s->value)
                           : snprintf(item, sizeof(item), " [%s]", s->name);
        if (used + len > 80) {
            fprintf(out, "%s\n", line);
            used = snprintf(line, sizeof(line), "%*s", indent, "");
        }
        used += snprintf(line + used, sizeof(line) - (size_t)used, "%s", item);
    }
    fprintf(out, "%s\n", line);
}

void bench_usage(FILE *out, const char *prog) {
    usage_synopsis(out, prog);
    fprintf(out, "\n"
                 "Times every path (vecscore on each ISA, each OpenCL device and auto; OpenBLAS,\n"
                 "FAISS, CLBlast and the blog-style baselines when built in) through one loop,\n"
                 "checks each result against a float64 reference before timing it, and writes\n"
                 "a table to stdout and results.csv, results.json, alloc.csv, summary.md and\n"
                 "PNG plots (gnuplot) to DIR (default bench-results). See docs/benchmarks.md.\n");
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const option_spec *s = &option_table[i];
        char label[48];
        snprintf(label, sizeof(label), "%s%s%s", s->name, s->value ? " " : "",
                 s->value ? s->value : "");
        const char *text = s->help;
        int first = 1;
        while (*text) {
            size_t len = strcspn(text, "\n");
            fprintf(out, "  %-26s %.*s\n", first ? label : "", (int)len, text);
            text += len + (text[len] == '\n');
            first = 0;
        }
    }
    fprintf(out, "Exit status: 0, 1 usage, 2 a vecscore path failed its check, 3 setup failed.\n");
}

/* ---- parsing and defaults ----------------------------------------------------------------- */

static void set_defaults(options *o) {
    memset(o, 0, sizeof(*o));
    o->reps = -1;
    o->rounds = 1;
    o->k = 10;
    o->metrics[0] = o->metrics[1] = o->metrics[2] = 1;
    o->modes[0] = o->modes[1] = 1;
    o->alloc = o->plots = o->first_call = 1;
    o->row_budget = o->aux_budget = -1;
    o->contention = -1;
    o->contention_trials = -1;
    o->contention_budget = o->contention_window = -1;
    snprintf(o->out_dir, sizeof(o->out_dir), "bench-results");
}

static void default_shapes(shape_list *list, const shape *items, int count) {
    if (list->count) return; /* given on the command line */
    memcpy(list->items, items, (size_t)count * sizeof(shape));
    list->count = count;
}

/* The defaults that depend on --quick, for what the command line left unset. */
static void finish_defaults(options *o) {
    static const shape full[5] = {{1, 1000, 768},
                                  {1, 100000, 768},
                                  {16, 100000, 768},
                                  {256, 100000, 128},
                                  {1024, 100000, 768}};
    static const shape quick[4] = {
        {1, 1000, 768}, {1, 20000, 768}, {16, 20000, 768}, {64, 20000, 128}};
    static const shape callers_full[2] = {{1, 1000, 768}, {16, 100000, 768}};
    static const shape callers_quick[2] = {{1, 1000, 768}, {16, 20000, 768}};
    /*
     * --contention alone also times, idle, the rows its issue-9 targets compare
     * against (Q=1 against the read bandwidth, Q=1024 against OpenBLAS sgemm),
     * unless --shapes or --paths chose others.
     */
    static const shape contention_idle[2] = {{1, 100000, 768}, {1024, 100000, 768}};
    static const shape contention_idle_quick[2] = {{1, 20000, 768}, {64, 20000, 768}};
    int q = o->quick;
    if (o->contention_only && !o->narrowed) {
        default_shapes(&o->shapes, q ? contention_idle_quick : contention_idle, 2);
        o->metrics[1] = o->metrics[2] = 0; /* dot, as the contention rows */
        snprintf(o->paths, sizeof(o->paths), "vs-auto,openblas");
        o->first_call = 0;
    }
    if (o->reps < 0) o->reps = q ? 3 : 5;
    if (o->row_budget < 0) o->row_budget = q ? 4 : 60;
    if (o->aux_budget < 0) o->aux_budget = q ? 2 : 15;
    default_shapes(&o->shapes, q ? quick : full, q ? 4 : 5);
    default_shapes(&o->contention_shapes, q ? quick : full, q ? 3 : 5);
    default_shapes(&o->callers_shapes, q ? callers_quick : callers_full, 2);
    if (o->contention < 0) o->contention = !o->narrowed;
    if (o->contention_trials < 0) o->contention_trials = q ? 3 : 6;
    if (o->contention_budget < 0) o->contention_budget = q ? 20 : 180;
    if (o->contention_window < 0) o->contention_window = q ? 0.15 : 1.0;
}

static const option_spec *find_option(const char *name) {
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (strcmp(option_table[i].name, name) == 0) return &option_table[i];
    return NULL;
}

int bench_options_parse(options *o, int argc, char **argv, const char *prog) {
    set_defaults(o);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            o->help = 1;
            return 0;
        }
        const option_spec *spec = find_option(arg);
        int bad = spec == NULL || (spec->value && value == NULL);
        if (!bad && spec->apply == NULL)
            *(int *)((char *)o + spec->flag_field) = spec->flag_value;
        else if (!bad) {
            bad = spec->apply(o, spec->value ? value : NULL) != 0;
            if (spec->value) i++;
        }
        if (bad) {
            const char *shown = spec && !spec->value ? NULL : value;
            fprintf(stderr, "%s: bad option '%s'%s%s\n\n", prog, arg, shown ? " " : "",
                    shown ? shown : "");
            bench_usage(stderr, prog);
            return -1;
        }
    }
    finish_defaults(o);
    return 0;
}
