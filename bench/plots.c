/*
 * plots.c — plot.gp, its data files, and the PNGs (gnuplot, when installed).
 *
 *   time_topk.png, time_score.png    median time per call (log scale)
 *   limit_topk.png, limit_score.png  % of the machine limit
 *   contention.png                   the contention scenario's ratios
 *
 * Each of the first four has one panel per metric that ran (dot, cosine,
 * l2sq): the shapes along x, a point per path. A path keeps its colour and
 * marker in every plot (its place in the run's path list picks both; no two
 * paths share either among the first 15). A path that has no time at a
 * shape gets a label in its colour instead of a point: "not run: over
 * budget", "not run: error", "not run: n/a" (it does not do that shape or
 * mode), or "FAIL: not timed". Every plot carries the machine, the threads,
 * the environment and the date; the % plots state the limit's definition,
 * draw the 100% line, and say for each shape above 100% why it can be.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define PANEL_HEIGHT 380

static const char *const colours[16] = {
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22", "#000000", "#aec7e8", "#98df8a", "#ff9896", "#c5b0d5", "#f0c808"};
/* gnuplot point types: filled circle, square, triangles, diamond, pentagon, the
 * same empty, then +, x, *. */
static const int markers[15] = {7, 5, 9, 11, 13, 15, 6, 4, 8, 10, 12, 14, 1, 2, 3};

typedef struct plot_kind {
    const char *png, *data;
    int topk, percent;
    const char *title; /* may contain %zu for k */
} plot_kind;

static const plot_kind plot_kinds[4] = {
    {"time_topk.png", "time_topk.dat", 1, 0,
     "top-k (k=%zu): median time per call, lower is better"},
    {"time_score.png", "time_score.dat", 0, 0,
     "score matrix: median time per call, lower is better"},
    {"limit_topk.png", "limit_topk.dat", 1, 1,
     "top-k (k=%zu): %% of the machine limit, higher is better"},
    {"limit_score.png", "limit_score.dat", 0, 1,
     "score matrix: %% of the machine limit, higher is better"},
};

/* A gnuplot double-quoted string (backslash and quote escaped). */
static void gp_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void append(char *text, size_t size, const char *format, const char *value) {
    size_t used = strlen(text);
    if (used < size) snprintf(text + used, size - used, format, value);
}

/* The lines on every plot: the machine, the threads, the environment, the date. */
static void machine_lines(const run_state *st, char *out, size_t size) {
    const bench_machine *mc = &st->machine;
    const char *env = bench_environment_settings();
    snprintf(out, size,
             "machine: %s, best ISA %s, %d online CPUs; threads: %d OpenMP (each row records its "
             "own in results.csv)\nenvironment: %s; run %s, vecscore %s",
             mc->cpu_model, vs_cpu_best_isa(), bench_online_cpus(), mc->threads,
             env[0] ? env : "none set", st->date, vs_version());
}

/* ---- the paths' panels -------------------------------------------------------------------- */

/* The main row of a path at a shape, metric and mode, whatever its status; NULL if none. */
static const row *any_row(const run_state *st, const shape *sh, vs_metric metric, int topk,
                          const char *path) {
    for (size_t i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        if (bench_row_is_main(r) && bench_shape_equal(&r->sh, sh) && r->metric == metric &&
            r->topk == topk && strcmp(r->path, path) == 0)
            return r;
    }
    return NULL;
}

/* The paths (indices into st->paths) with a row of this metric and mode. */
static int panel_series(const run_state *st, vs_metric metric, int topk, int *series) {
    int count = 0;
    for (int p = 0; p < st->npaths; p++)
        for (int si = 0; si < st->opt.shapes.count; si++)
            if (any_row(st, &st->opt.shapes.items[si], metric, topk, st->paths[p].name)) {
                series[count++] = p;
                break;
            }
    return count;
}

static double slot_x(int shape_index, int series_index, int count) {
    double width = 0.8 / count;
    return shape_index - 0.4 + width * (series_index + 0.5);
}

static const char *missing_label(const row *r) {
    if (r == NULL) return "not run: n/a";
    if (strcmp(r->status, "skipped") == 0) return "not run: over budget";
    if (strcmp(r->status, "FAIL") == 0) return "FAIL: not timed";
    return "not run: error";
}

/* Writes one block per series of the panel to the data file; returns the
 * index of the first block. */
static int panel_data(FILE *data, int *blocks, const run_state *st, const plot_kind *kind,
                      vs_metric metric, const int *series, int count) {
    int first = *blocks;
    for (int i = 0; i < count; i++) {
        const char *name = st->paths[series[i]].name;
        fprintf(data, "# %s %s %s\n", vs_metric_name(metric), bench_mode_name(kind->topk), name);
        int points = 0;
        for (int si = 0; si < st->opt.shapes.count; si++) {
            const row *r = any_row(st, &st->opt.shapes.items[si], metric, kind->topk, name);
            if (r == NULL || strcmp(r->status, "ok") != 0) continue;
            fprintf(data, "%.4f %.6g\n", slot_x(si, i, count),
                    kind->percent ? r->pct_limit : r->median * 1e3);
            points++;
        }
        if (points == 0) fprintf(data, "0 NaN\n"); /* a block gnuplot can read; nothing drawn */
        fprintf(data, "\n\n");
        (*blocks)++;
    }
    return first;
}

/* The labels of the slots without a point, in the series' colours. */
static void panel_missing_labels(FILE *f, const run_state *st, const plot_kind *kind,
                                 vs_metric metric, const int *series, int count) {
    for (int i = 0; i < count; i++) {
        const char *name = st->paths[series[i]].name;
        for (int si = 0; si < st->opt.shapes.count; si++) {
            const row *r = any_row(st, &st->opt.shapes.items[si], metric, kind->topk, name);
            if (r && strcmp(r->status, "ok") == 0) continue;
            fprintf(f,
                    "set label \"%s\" at first %.4f, graph 0.03 rotate by 90 left font ',8' "
                    "tc rgb '%s'\n",
                    missing_label(r), slot_x(si, i, count), colours[series[i] % 16]);
        }
    }
}

static void shape_tics(FILE *f, const shape_list *shapes) {
    fprintf(f, "set xrange [-0.5:%d.5]\nset xtics (", shapes->count - 1);
    for (int si = 0; si < shapes->count; si++) {
        char label[48];
        bench_shape_label(&shapes->items[si], label, sizeof(label));
        fprintf(f, "%s\"%s\" %d", si ? ", " : "", label, si);
    }
    fprintf(f, ")\n");
}

static void panel_axes(FILE *f, const run_state *st, const plot_kind *kind, vs_metric metric) {
    fprintf(f, "unset label\nunset arrow\n");
    shape_tics(f, &st->opt.shapes);
    for (int si = 0; si + 1 < st->opt.shapes.count; si++) /* a thin line between shapes */
        fprintf(f, "set arrow from %d.5, graph 0 to %d.5, graph 1 nohead lc rgb '#cccccc'\n", si,
                si);
    fprintf(f, "set title 'metric %s'\n", vs_metric_name(metric));
    if (kind->percent)
        /* The range always holds the 100% line (an arrow outside it would be
         * drawn over the next panel). */
        fprintf(f, "unset logscale y\nset ylabel '%% of limit'\nset yrange [0:110<*]\n"
                   "set arrow from graph 0, first 100 to graph 1, first 100 nohead dt 2 lw 1.5 "
                   "lc rgb '#444444'\n"
                   "set label '100%% = machine limit' at graph 0.005, first 100 offset 0,0.6 "
                   "font ',8'\n");
    else
        fprintf(f, "set logscale y\nset ylabel 'milliseconds (log scale)'\nset yrange [*:*]\n");
}

static void panel_plot(FILE *f, const run_state *st, const plot_kind *kind, const int *series,
                       int count, int first_block) {
    fprintf(f, "plot ");
    for (int i = 0; i < count; i++) {
        int p = series[i];
        fprintf(f, "%s'%s' index %d using 1:2 with points pt %d ps 1.6 lw 1.5 lc rgb '%s' title ",
                i ? ", \\\n     " : "", kind->data, first_block + i, markers[p % 15],
                colours[p % 16]);
        gp_string(f, st->paths[p].name);
    }
    fprintf(f, "\n");
}

/* For a % plot: why a shape's rows can be above 100% (or "" if none is). */
static void above_limit_note(const run_state *st, const plot_kind *kind, char *out, size_t size) {
    out[0] = '\0';
    for (int si = 0; si < st->opt.shapes.count; si++) {
        const shape *sh = &st->opt.shapes.items[si];
        int above = 0;
        for (size_t i = 0; i < st->nrows; i++) {
            const row *r = &st->rows[i];
            above |= bench_row_is_main(r) && r->topk == kind->topk &&
                     bench_shape_equal(&r->sh, sh) && strcmp(r->status, "ok") == 0 &&
                     r->pct_limit > 100;
        }
        if (!above) continue;
        char label[48], part[320];
        bench_shape_label(sh, label, sizeof(label));
        double data_mb = ((double)sh->n + (double)sh->q) * (double)sh->d * 4.0 / 1e6;
        double llc_mb = (double)st->machine.llc_bytes / 1e6;
        if (st->machine.llc_bytes && data_mb * 1e6 <= (double)st->machine.llc_bytes)
            snprintf(part, sizeof(part),
                     "%s: its %.1f MB of data fit the %.1f MB last-level cache, so calls after the "
                     "warm-up read them from cache, faster than the memory bandwidth of the limit",
                     label, data_mb, llc_mb);
        else
            snprintf(part, sizeof(part),
                     "%s: faster than the limit measured; both limit measurements (start, end) "
                     "ran slower than this row, e.g. while other work shared the machine",
                     label);
        append(out, size, "%s", out[0] ? "\n" : "Above 100%: ");
        append(out, size, "%s", part);
    }
}

static void plot_header(FILE *f, const run_state *st, const plot_kind *kind, int panels) {
    char title[1600], machine[640], note[900];
    snprintf(title, sizeof(title), kind->title, st->opt.k);
    machine_lines(st, machine, sizeof(machine));
    append(title, sizeof(title), "\n%s", machine);
    if (kind->percent) {
        char definition[512];
        snprintf(definition, sizeof(definition),
                 "\n%% of limit = 100 x roofline time / median time; roofline time = max(bytes / "
                 "%.1f GB/s read bandwidth, flops / %.1f GFLOP/s peak FMA),"
                 "\nboth measured in this run (the better of start and end); compact paths "
                 "(vs-*-f16, -bf16, -i8) count their candidates at 2 or 1 bytes per element",
                 st->machine.read_bandwidth_gbs, st->machine.peak_gflops);
        append(title, sizeof(title), "%s", definition);
        above_limit_note(st, kind, note, sizeof(note));
        if (note[0]) append(title, sizeof(title), "\n%s", note);
    }
    int lines = 1;
    for (const char *c = title; *c; c++)
        lines += *c == '\n';
    fprintf(f, "\nset output '%s'\nset terminal pngcairo size 1500,%d noenhanced font ',10'\n",
            kind->png, PANEL_HEIGHT * panels + 20 * lines + 40);
    fprintf(f, "set multiplot layout %d,1 title ", panels);
    gp_string(f, title);
    fprintf(f, " font ',10'\n");
}

/* One PNG: a panel per metric that has rows. Returns 1 if it has a panel, else 0. */
static int write_kind(FILE *f, const run_state *st, const plot_kind *kind) {
    int series[3][MAX_PATHS], counts[3], panels = 0;
    for (int mi = 0; mi < 3; mi++) {
        counts[mi] = st->opt.metrics[mi] && st->opt.modes[kind->topk]
                         ? panel_series(st, bench_metric_at(mi), kind->topk, series[mi])
                         : 0;
        panels += counts[mi] > 0;
    }
    FILE *data = panels ? bench_open_out(st, kind->data) : NULL;
    if (data == NULL) return 0;
    plot_header(f, st, kind, panels);
    int blocks = 0;
    for (int mi = 0; mi < 3; mi++) {
        if (counts[mi] == 0) continue;
        vs_metric metric = bench_metric_at(mi);
        int first = panel_data(data, &blocks, st, kind, metric, series[mi], counts[mi]);
        panel_axes(f, st, kind, metric);
        panel_missing_labels(f, st, kind, metric, series[mi], counts[mi]);
        panel_plot(f, st, kind, series[mi], counts[mi], first);
    }
    fprintf(f, "unset multiplot\n");
    fclose(data);
    return 1;
}

/* ---- contention.png ----------------------------------------------------------------------- */

/* Trials (index 0), worst per shape (index 1), then per callers series. */
static int contention_data(const run_state *st, int *any_callers) {
    FILE *f = bench_open_out(st, "contention.dat");
    if (f == NULL) return -1;
    const shape_list *shapes = &st->opt.contention_shapes;
    for (int pass = 0; pass < 2; pass++) {
        fprintf(f, "# %s\n", pass ? "worst trial per shape" : "every trial");
        for (size_t i = 0; i < st->nrows; i++) {
            const row *r = &st->rows[i];
            if (bench_row_is_main(r) || r->callers || !r->has_ratio || (r->trial == 0) != pass)
                continue;
            for (int si = 0; si < shapes->count; si++)
                if (bench_shape_equal(&shapes->items[si], &r->sh))
                    fprintf(f, "%.3f %.6g\n", si + (pass ? 0.0 : 0.05 * (r->trial - 3.5)),
                            r->ratio);
        }
        fprintf(f, "0 NaN\n\n\n");
    }
    static const int counts[2] = {2, 4};
    *any_callers = 0;
    for (int load = 0; load < 2; load++)
        for (int c = 0; c < 2; c++) {
            fprintf(f, "# %d callers, %s\n", counts[c], load ? "under load" : "idle");
            for (size_t i = 0; i < st->nrows; i++) {
                const row *r = &st->rows[i];
                if (r->callers != counts[c] || (r->load > 0) != load || !r->has_ratio) continue;
                for (int si = 0; si < st->opt.callers_shapes.count; si++)
                    if (bench_shape_equal(&st->opt.callers_shapes.items[si], &r->sh)) {
                        fprintf(f, "%.3f %.6g\n", si - 0.3 + 0.2 * (2 * load + c), r->ratio);
                        *any_callers = 1;
                    }
            }
            fprintf(f, "0 NaN\n\n\n");
        }
    fclose(f);
    return 0;
}

/* "not run" under each contention shape that has no summary row with a ratio. */
static void contention_missing(FILE *f, const run_state *st) {
    const shape_list *shapes = &st->opt.contention_shapes;
    for (int si = 0; si < shapes->count; si++) {
        int found = 0;
        for (size_t i = 0; i < st->nrows; i++) {
            const row *r = &st->rows[i];
            found |= !bench_row_is_main(r) && !r->callers && r->trial == 0 && r->has_ratio &&
                     bench_shape_equal(&r->sh, &shapes->items[si]);
        }
        if (!found)
            fprintf(f, "set label 'not run' at first %d, graph 0.03 rotate by 90 left font ',8'\n",
                    si);
    }
}

static void write_contention(FILE *f, const run_state *st) {
    int callers = 0;
    if (contention_data(st, &callers) != 0) return;
    char title[1200], machine[640];
    machine_lines(st, machine, sizeof(machine));
    snprintf(title, sizeof(title),
             "contention: %d busy loops on %d CPUs in a child process group while vecscore runs "
             "(dot top-k, k=%zu, device=cpu)\n%s",
             st->opt.contention_load ? st->opt.contention_load : 2 * bench_online_cpus(),
             bench_online_cpus(), st->opt.k, machine);
    fprintf(f,
            "\nset output 'contention.png'\nset terminal pngcairo size 1500,%d noenhanced "
            "font ',10'\nset multiplot layout %d,1 title ",
            PANEL_HEIGHT * (1 + callers) + 100, 1 + callers);
    gp_string(f, title);
    /* Ranges that always hold the target lines (1.5; 0.9 below). */
    fprintf(f, " font ',10'\nunset label\nunset arrow\nset logscale y\nset yrange [*<0.5:3<*]\n"
               "set ylabel 'default threads / 1 thread (log)'\n"
               "set title 'under load: median time with the default threads / with 1 thread, "
               "same trial (above 1: the default is slower)'\n");
    shape_tics(f, &st->opt.contention_shapes);
    contention_missing(f, st);
    fprintf(f,
            "set arrow from graph 0, first 1.5 to graph 1, first 1.5 nohead dt 2 lw 1.5 lc rgb "
            "'#d62728'\nset label 'target: at most 1.5x' at graph 0.005, first 1.5 offset 0,0.6 "
            "font ',8' tc rgb '#d62728'\n"
            "plot 'contention.dat' index 0 using 1:2 with points pt 6 ps 1.4 lw 1.5 lc rgb "
            "'#1f77b4' title 'each trial', \\\n     'contention.dat' index 1 using 1:2 with points "
            "pt 9 ps 2 lc rgb '#d62728' title 'worst trial'\n");
    if (callers) {
        fprintf(f, "unset label\nunset arrow\nunset logscale y\nset yrange [0:1.1<*]\n"
                   "set ylabel 'throughput / 1 caller'\nset title 'N callers on one context: "
                   "total queries per second / that of 1 caller using all cores'\n");
        shape_tics(f, &st->opt.callers_shapes);
        fprintf(f, "set arrow from graph 0, first 0.9 to graph 1, first 0.9 nohead dt 2 lw 1.5 lc "
                   "rgb '#d62728'\nset label 'target (4 callers, idle): at least 0.9' at graph "
                   "0.005, first 0.9 offset 0,0.6 font ',8' tc rgb '#d62728'\nplot ");
        static const char *const titles[4] = {"2 callers, idle", "4 callers, idle",
                                              "2 callers, under load", "4 callers, under load"};
        for (int i = 0; i < 4; i++)
            fprintf(f,
                    "%s'contention.dat' index %d using 1:2 with points pt %d ps 1.8 lw 1.5 "
                    "lc rgb '%s' title '%s'",
                    i ? ", \\\n     " : "", 2 + i, markers[i], colours[i], titles[i]);
        fprintf(f, "\n");
    }
    fprintf(f, "unset multiplot\n");
}

static int has_contention_rows(const run_state *st) {
    for (size_t i = 0; i < st->nrows; i++)
        if (!bench_row_is_main(&st->rows[i])) return 1;
    return 0;
}

void bench_write_plots(const run_state *st) {
    FILE *f = bench_open_out(st, "plot.gp");
    if (f == NULL) return;
    fprintf(f, "# gnuplot script written by the vecscore benchmark; run in this directory.\n"
               "set datafile missing 'NaN'\nset key outside right top\nset grid ytics\n"
               "set offsets 0, 0, graph 0.06, graph 0.02 # no point on the frame\n"
               "set xtics norotate\nset xlabel 'shape (queries x candidates x dim)'\n");
    int plotted = 0;
    for (int i = 0; i < 4; i++)
        plotted += write_kind(f, st, &plot_kinds[i]);
    if (has_contention_rows(st)) {
        write_contention(f, st);
        plotted++;
    }
    fclose(f);
    if (!st->opt.plots || !plotted) return;
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "%s: gnuplot not found; plot.gp written, no PNGs\n", st->prog);
        return;
    }
    char command[2200] = "cd '";
    size_t used = strlen(command);
    for (const char *c = st->opt.out_dir; *c && used + 8 < sizeof(command); c++) {
        if (*c == '\'') { /* close the quote, an escaped quote, reopen */
            memcpy(command + used, "'\\''", 4);
            used += 4;
        } else {
            command[used++] = *c;
        }
    }
    snprintf(command + used, sizeof(command) - used, "' && gnuplot plot.gp");
    if (system(command) != 0) fprintf(stderr, "%s: gnuplot failed\n", st->prog);
}
