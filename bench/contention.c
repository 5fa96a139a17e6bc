/*
 * contention.c — the library on a busy machine (issue 9), through the
 * public API only, so that it measures any version of the library:
 *
 *   1. Threads under load. For each shape (default 1x1000x768 up to
 *      1024x100000x768, dot top-k), two contexts on device=cpu: the default
 *      thread count and threads=1, each with its own corpus (made untimed,
 *      before the load). Each trial starts the competing load (load.c: two
 *      busy loops per core in a child process group that stops by itself),
 *      then times a block of vs_corpus_topk calls with each context (3 to
 *      200 calls, --contention-window seconds; the order alternates between
 *      trials), then stops the load. A trial's ratio is the default
 *      context's median over the 1-thread context's median. A fork-join
 *      team that waits for a descheduled worker shows up as a ratio far
 *      above 1, and only in some trials, so every trial is a row, and one
 *      row per shape gives the worst (ratio, ratio_max) and the median.
 *      Each shape gets its share of --contention-budget, and runs at least
 *      2 trials and at most --contention-trials.
 *   2. Callers (after 1). 1, 2 and 4 threads call vs_corpus_topk on one context
 *      (default threads) and one corpus at the same time for a window; the
 *      total throughput (queries per second, all callers) of N callers over
 *      that of 1 caller is the ratio. Once idle (what the target judges) and
 *      once under the load.
 *
 * Every block's last output is checked against the float64 reference; a
 * disagreement makes the row FAIL and the exit status 2.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MIN_CALLS 3
#define MAX_CALLS 200
#define MIN_TRIALS 2
#define CALLER_COUNTS 3
#define MAX_CALLERS 4

static const char *const threads_ratio_definition =
    "default-threads median / 1-thread median, same trial, under load";
static const char *const callers_ratio_definition =
    "total throughput of N callers on one context / that of 1 caller (all cores)";

/* One shape's data, reference and contexts (0: default threads, 1: one thread). */
typedef struct contention_shape {
    shape sh;
    size_t k;
    float *base, *queries;
    reference ref;
    vs_context *ctx[2];
    vs_corpus *corpus[2];
    float *scores[2];
    int64_t *ids[2];
    double idle_call[2]; /* one idle call's seconds, to bound the load's duration */
} contention_shape;

/* One timed block of calls. */
typedef struct block {
    double times[MAX_CALLS];
    int calls;
    char error[160];
} block;

static void shape_free(contention_shape *cs) {
    for (int i = 0; i < 2; i++) {
        vs_corpus_free(cs->corpus[i]);
        vs_context_free(cs->ctx[i]);
        vs_free_output(cs->scores[i]);
        vs_free_output(cs->ids[i]);
    }
    bench_reference_free(&cs->ref);
    free(cs->base);
    free(cs->queries);
    memset(cs, 0, sizeof(*cs));
}

static int make_context(int threads, const float *base, const shape *sh, vs_context **ctx,
                        vs_corpus **corpus, char *why, size_t size) {
    vs_options opts;
    vs_options_init(&opts);
    opts.device = "cpu";
    opts.threads = threads;
    opts.log_level = VS_LOG_ERROR;
    int status = vs_context_create(&opts, ctx);
    if (status == VS_OK) status = vs_corpus_create(*ctx, base, sh->n, sh->d, corpus);
    if (status == VS_OK) return 0;
    snprintf(why, size, "%s (threads=%d): %s", *ctx ? "vs_corpus_create" : "vs_context_create",
             threads, vs_strerror(status));
    return -1;
}

/* Calls until window seconds have passed (MIN_CALLS..MAX_CALLS calls). */
static int run_block(vs_corpus *corpus, const contention_shape *cs, int setting, double window,
                     block *b) {
    double start = bench_now();
    b->calls = 0;
    while (b->calls < MAX_CALLS && (b->calls < MIN_CALLS || bench_now() - start < window)) {
        double t0 = bench_now();
        int status = vs_corpus_topk(corpus, VS_METRIC_DOT, cs->queries, cs->sh.q, cs->k,
                                    cs->scores[setting], cs->ids[setting]);
        b->times[b->calls++] = bench_now() - t0;
        if (status != VS_OK) {
            snprintf(b->error, sizeof(b->error), "vs_corpus_topk: %s", vs_strerror(status));
            return -1;
        }
    }
    return 0;
}

/* The output of the setting's last call against the reference; 1 if it agrees. */
static int output_agrees(const contention_shape *cs, const float *scores, const int64_t *ids,
                         char *why, size_t size) {
    char first[256] = "";
    size_t wrong = bench_reference_check(&cs->ref, VS_METRIC_DOT, 1, cs->sh.n, cs->k, scores, ids,
                                         first, sizeof(first));
    if (wrong)
        snprintf(why, size, "%zu disagreements with float64 reference; first: %s", wrong, first);
    return wrong == 0;
}

static int shape_prepare(run_state *st, contention_shape *cs, const shape *sh) {
    memset(cs, 0, sizeof(*cs));
    cs->sh = *sh;
    cs->k = st->opt.k;
    cs->base = malloc(sh->n * sh->d * sizeof(float));
    cs->queries = malloc(sh->q * sh->d * sizeof(float));
    int allocated = cs->base && cs->queries;
    for (int i = 0; i < 2; i++) {
        cs->scores[i] = vs_alloc_output(sh->q * cs->k * sizeof(float));
        cs->ids[i] = vs_alloc_output(sh->q * cs->k * sizeof(int64_t));
        allocated = allocated && cs->scores[i] && cs->ids[i];
    }
    if (!allocated) {
        fprintf(stderr, "%s: out of memory for contention shape %zux%zux%zu\n", st->prog, sh->q,
                sh->n, sh->d);
        return -1;
    }
    bench_fill(cs->base, sh->n * sh->d, bench_base_seed(sh));
    bench_fill(cs->queries, sh->q * sh->d, bench_query_seed(sh));
    if (bench_reference_build(&cs->ref, VS_METRIC_DOT, cs->queries, sh->q, cs->base, sh->n, sh->d,
                              cs->k) != 0) {
        fprintf(stderr, "%s: out of memory for the reference\n", st->prog);
        return -1;
    }
    char why[256];
    for (int i = 0; i < 2; i++) {
        if (make_context(i == 0 ? 0 : 1, cs->base, sh, &cs->ctx[i], &cs->corpus[i], why,
                         sizeof(why)) != 0) {
            fprintf(stderr, "%s: contention: %s\n", st->prog, why);
            return -1;
        }
        block b; /* warm-up, idle; also the first estimate of a call's time */
        if (run_block(cs->corpus[i], cs, i, 0, &b) != 0) {
            fprintf(stderr, "%s: contention: %s\n", st->prog, b.error);
            return -1;
        }
        cs->idle_call[i] = bench_median(b.times, (size_t)b.calls);
    }
    return 0;
}

/* ---- rows --------------------------------------------------------------------------------- */

static row *contention_row(run_state *st, const shape *sh, size_t k, const char *path, int trial,
                           int load) {
    row *r = bench_row_new(st);
    if (r == NULL) return NULL;
    r->scenario = BENCH_SCENARIO_CONTENTION;
    r->sh = *sh;
    r->k = k;
    r->metric = VS_METRIC_DOT;
    r->topk = 1;
    r->kind = "vecscore";
    r->trial = trial;
    r->load = load;
    snprintf(r->path, sizeof(r->path), "%s", path);
    snprintf(r->status, sizeof(r->status), "ok");
    return r;
}

static void row_settings(row *r, vs_context *ctx, const char *what, int load) {
    bench_path_info *in = &r->info;
    snprintf(in->backend, sizeof(in->backend), "cpu");
    snprintf(in->isa, sizeof(in->isa), "%s", vs_context_isa(ctx));
    snprintf(in->device, sizeof(in->device), "cpu");
    in->threads = vs_context_threads(ctx);
    snprintf(in->settings, sizeof(in->settings),
             "vs_corpus_topk, device=cpu, %s (%d worker threads); %s", what, in->threads,
             load ? "competing load: busy loops in a child process group" : "idle");
}

static void set_ratio(row *r, double ratio, double ratio_max, double ratio_median,
                      const char *definition) {
    r->has_ratio = 1;
    r->ratio = ratio;
    r->ratio_max = ratio_max;
    r->ratio_median = ratio_median;
    r->ratio_definition = definition;
}

/* Fills a timed row from a block; FAIL/error rows keep their note. */
static void row_from_block(run_state *st, row *r, block *b, int failed, const char *why) {
    if (failed) {
        snprintf(r->status, sizeof(r->status), "%s", b->error[0] ? "error" : "FAIL");
        snprintf(r->note, sizeof(r->note), "%s", b->error[0] ? b->error : why);
        if (!b->error[0]) st->vecscore_failures++;
        return;
    }
    r->calls = b->calls;
    bench_median(b->times, (size_t)b->calls); /* sorts */
    bench_row_times(r, b->times, b->calls);
    r->throughput = (double)r->sh.q / r->median;
}

static void print_trial(const row *def, const row *one) {
    char label[48];
    bench_shape_label(&def->sh, label, sizeof(label));
    if (strcmp(def->status, "ok") != 0 || strcmp(one->status, "ok") != 0) {
        printf("contention %-16s trial %d: %s %s / %s %s\n", label, def->trial, def->status,
               def->note, one->status, one->note);
    } else {
        printf("contention %-16s trial %d: default (%d threads) %9.3f ms, 1 thread %9.3f ms: "
               "%6.2fx  [load %d busy loops]\n",
               label, def->trial, def->info.threads, def->median * 1e3, one->median * 1e3,
               def->ratio, def->load);
    }
    fflush(stdout);
}

/* ---- 1. threads under load ---------------------------------------------------------------- */

static int load_loops(const options *o) {
    return o->contention_load ? o->contention_load : 2 * bench_online_cpus();
}

/* A shape's trials so far: each one's ratio and default-threads median. */
typedef struct trials {
    double ratios[100], medians[100];
    int count; /* trials with a ratio */
    int run;   /* trials run */
} trials;

/* One trial: the load, a block with each setting (order alternates), the rows. */
static int run_trial(run_state *st, contention_shape *cs, trials *t) {
    const options *o = &st->opt;
    int trial = ++t->run;
    bench_load load;
    double slowest = cs->idle_call[0] > cs->idle_call[1] ? cs->idle_call[0] : cs->idle_call[1];
    int loops = load_loops(o);
    double slowdown = 1.0 + (double)loops / bench_online_cpus();
    double bound = 2.0 * (2.0 * (o->contention_window + MIN_CALLS * slowest * slowdown)) + 10.0;
    if (bench_load_start(&load, o->contention_load, bound) != 0) {
        fprintf(stderr, "%s: contention: cannot start the load (fork failed)\n", st->prog);
        return 3;
    }
    struct timespec settle = {0, 50 * 1000 * 1000}; /* let every busy loop start */
    nanosleep(&settle, NULL);
    block blocks[2];
    int failed[2];
    char why[2][256] = {"", ""};
    for (int j = 0; j < 2; j++) {
        int i = trial % 2 ? j : 1 - j;
        blocks[i].error[0] = '\0';
        failed[i] = run_block(cs->corpus[i], cs, i, o->contention_window, &blocks[i]) != 0 ||
                    !output_agrees(cs, cs->scores[i], cs->ids[i], why[i], sizeof(why[i]));
    }
    int stayed = bench_load_running(&load);
    bench_load_stop(&load);
    static const char *const paths[2] = {"vs-cpu:threads=default", "vs-cpu:threads=1"};
    static const char *const what[2] = {"threads=0 (the default: all cores)", "threads=1"};
    row *rows[2];
    for (int i = 0; i < 2; i++) {
        if ((rows[i] = contention_row(st, &cs->sh, cs->k, paths[i], trial, load.loops)) == NULL)
            return 3;
        row_settings(rows[i], cs->ctx[i], what[i], 1);
        row_from_block(st, rows[i], &blocks[i], failed[i], why[i]);
        size_t used = strlen(rows[i]->note);
        if (!stayed)
            snprintf(rows[i]->note + used, sizeof(rows[i]->note) - used,
                     "%sthe load stopped before the trial ended", used ? "; " : "");
    }
    if (!failed[0] && !failed[1]) {
        double ratio = rows[0]->median / rows[1]->median;
        set_ratio(rows[0], ratio, ratio, ratio, threads_ratio_definition);
        t->ratios[t->count] = ratio;
        t->medians[t->count++] = rows[0]->median;
    }
    print_trial(rows[0], rows[1]);
    return 0;
}

/* The row that sums up a shape's trials: worst and median ratio; the median
 * and min of the default-threads medians. */
static int summary_row(run_state *st, const contention_shape *cs, trials *t) {
    const options *o = &st->opt;
    row *r = contention_row(st, &cs->sh, cs->k, "vs-cpu:threads=default", 0, load_loops(o));
    if (r == NULL) return 3;
    row_settings(r, cs->ctx[0], "threads=0 (the default: all cores)", 1);
    if (t->count == 0) {
        snprintf(r->status, sizeof(r->status), "error");
        snprintf(r->note, sizeof(r->note), "no trial of %d gave a ratio", t->run);
        return 0;
    }
    double worst = 0;
    for (int i = 0; i < t->count; i++)
        if (t->ratios[i] > worst) worst = t->ratios[i];
    double median = bench_median(t->ratios, (size_t)t->count);
    set_ratio(r, worst, worst, median, threads_ratio_definition);
    bench_median(t->medians, (size_t)t->count); /* sorts */
    bench_row_times(r, t->medians, t->count);
    r->throughput = (double)r->sh.q / r->median;
    snprintf(r->note, sizeof(r->note),
             "%d trials of %d%s: ratio max %.2fx, median %.2fx; times: median and min of the "
             "trials' medians",
             t->run, o->contention_trials, t->run < o->contention_trials ? " (budget reached)" : "",
             worst, median);
    char label[48];
    bench_shape_label(&cs->sh, label, sizeof(label));
    printf("contention %-16s all %d trials: default / 1 thread max %.2fx, median %.2fx\n", label,
           t->count, worst, median);
    return 0;
}

static int run_threads_shape(run_state *st, const shape *sh, double share) {
    const options *o = &st->opt;
    contention_shape cs;
    if (shape_prepare(st, &cs, sh) != 0) {
        shape_free(&cs);
        return 3;
    }
    trials t;
    memset(&t, 0, sizeof(t));
    int status = 0;
    double start = bench_now(), last = 0;
    while (t.run < o->contention_trials && status == 0) {
        /* At least MIN_TRIALS; then only while the next one fits the shape's share. */
        if (t.run >= MIN_TRIALS && bench_now() - start + last > share) break;
        double t0 = bench_now();
        status = run_trial(st, &cs, &t);
        last = bench_now() - t0;
    }
    if (status == 0) status = summary_row(st, &cs, &t);
    shape_free(&cs);
    return status;
}

/* ---- 2. callers sharing one context ------------------------------------------------------- */

/* The callers wait at a gate, so that they start together; it opens once
 * every thread is created (or at once, to stop, when one cannot be). */
typedef struct gate {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int open, cancelled;
} gate;

typedef struct caller {
    pthread_t thread;
    gate *gate;
    const contention_shape *cs;
    double window, start, end;
    float *scores;
    int64_t *ids;
    block b; /* the first MAX_CALLS call times */
    long calls;
    int failed;
} caller;

static int gate_pass(gate *g) {
    pthread_mutex_lock(&g->mutex);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->mutex);
    int cancelled = g->cancelled;
    pthread_mutex_unlock(&g->mutex);
    return !cancelled;
}

static void gate_open(gate *g, int cancelled) {
    pthread_mutex_lock(&g->mutex);
    g->open = 1;
    g->cancelled = cancelled;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mutex);
}

static void *caller_main(void *arg) {
    caller *c = arg;
    if (!gate_pass(c->gate)) return NULL;
    c->start = bench_now();
    do {
        double t0 = bench_now();
        int status = vs_corpus_topk(c->cs->corpus[0], VS_METRIC_DOT, c->cs->queries, c->cs->sh.q,
                                    c->cs->k, c->scores, c->ids);
        c->end = bench_now();
        if (c->calls < MAX_CALLS) c->b.times[c->calls] = c->end - t0;
        c->calls++;
        if (status != VS_OK) {
            snprintf(c->b.error, sizeof(c->b.error), "vs_corpus_topk: %s", vs_strerror(status));
            c->failed = 1;
            break;
        }
    } while (c->end - c->start < c->window);
    return NULL;
}

/* Starts count callers behind the gate; returns how many started (all, or fewer on failure). */
static int start_callers(caller *callers, int count, gate *g, const contention_shape *cs,
                         double window) {
    int started = 0;
    for (int i = 0; i < count; i++) {
        caller *c = &callers[i];
        c->gate = g;
        c->cs = cs;
        c->window = window;
        c->scores = vs_alloc_output(cs->sh.q * cs->k * sizeof(float));
        c->ids = vs_alloc_output(cs->sh.q * cs->k * sizeof(int64_t));
        if (!c->scores || !c->ids || pthread_create(&c->thread, NULL, caller_main, c) != 0) break;
        started++;
    }
    return started;
}

/* Joins the callers and folds them into one block: the time span, the calls,
 * up to MAX_CALLS call times, the first error, and the output check. */
static void join_callers(caller *callers, int count, int started, block *all, double *span,
                         char *why, size_t size, int *wrong) {
    double first = 0, last = 0;
    all->calls = 0;
    all->error[0] = '\0';
    *wrong = 0;
    for (int i = 0; i < count; i++) {
        caller *c = &callers[i];
        if (i < started) {
            pthread_join(c->thread, NULL);
            if (i == 0 || c->start < first) first = c->start;
            if (c->end > last) last = c->end;
            for (long j = 0; j < c->calls && j < MAX_CALLS && all->calls < MAX_CALLS; j++)
                all->times[all->calls++] = c->b.times[j];
            if (c->failed && !all->error[0])
                snprintf(all->error, sizeof(all->error), "%s", c->b.error);
            if (!c->failed && !*wrong) *wrong = !output_agrees(c->cs, c->scores, c->ids, why, size);
        }
        vs_free_output(c->scores);
        vs_free_output(c->ids);
    }
    *span = last - first;
}

/* Runs count callers at once; fills the row (throughput over all of them). */
static void run_callers(run_state *st, const contention_shape *cs, int count, row *r) {
    caller callers[MAX_CALLERS];
    memset(callers, 0, sizeof(callers));
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    int started = start_callers(callers, count, &g, cs, st->opt.contention_window);
    gate_open(&g, started < count);
    block all;
    double span = 0;
    char why[256] = "";
    int wrong = 0;
    join_callers(callers, count, started, &all, &span, why, sizeof(why), &wrong);
    if (started < count) {
        snprintf(r->status, sizeof(r->status), "error");
        snprintf(r->note, sizeof(r->note), "could not start %d caller threads", count);
        return;
    }
    long calls = 0;
    for (int i = 0; i < count; i++)
        calls += callers[i].calls;
    row_from_block(st, r, &all, wrong || all.error[0], why);
    r->calls = calls;
    if (strcmp(r->status, "ok") == 0 && span > 0)
        r->throughput = (double)calls * (double)cs->sh.q / span;
}

static int run_callers_shape(run_state *st, const shape *sh, int loops) {
    static const int counts[CALLER_COUNTS] = {1, 2, MAX_CALLERS};
    contention_shape cs;
    if (shape_prepare(st, &cs, sh) != 0) {
        shape_free(&cs);
        return 3;
    }
    bench_load load = {0, 0};
    double bound = 2.0 * CALLER_COUNTS * (st->opt.contention_window + 4 * cs.idle_call[0]) + 10.0;
    if (loops && bench_load_start(&load, st->opt.contention_load, bound) != 0) {
        fprintf(stderr, "%s: contention: cannot start the load (fork failed)\n", st->prog);
        shape_free(&cs);
        return 3;
    }
    double one = 0;
    char label[48];
    bench_shape_label(sh, label, sizeof(label));
    for (int i = 0; i < CALLER_COUNTS; i++) {
        char path[48];
        snprintf(path, sizeof(path), "vs-cpu:callers=%d", counts[i]);
        row *r = contention_row(st, sh, cs.k, path, 0, load.loops);
        if (r == NULL) {
            bench_load_stop(&load);
            shape_free(&cs);
            return 3;
        }
        run_callers(st, &cs, counts[i], r);
        r->callers = counts[i];
        row_settings(r, cs.ctx[0], "threads=0 (the default: all cores), one shared context", loops);
        if (counts[i] == 1) one = r->throughput;
        if (strcmp(r->status, "ok") == 0 && one > 0) {
            double ratio = r->throughput / one;
            set_ratio(r, ratio, ratio, ratio, callers_ratio_definition);
            printf("callers    %-16s %s: %d caller%s %12.0f queries/s (%ld calls): %.2fx of 1\n",
                   label, loops ? "under load" : "idle", counts[i], counts[i] > 1 ? "s" : " ",
                   r->throughput, r->calls, ratio);
        } else {
            printf("callers    %-16s %d callers: %s %s\n", label, counts[i], r->status, r->note);
        }
        fflush(stdout);
    }
    bench_load_stop(&load);
    shape_free(&cs);
    return 0;
}

/* ---- the scenario ------------------------------------------------------------------------- */

int bench_contention_run(run_state *st) {
    const options *o = &st->opt;
    int loops = load_loops(o);
    printf("\ncontention (dot top-k k=%zu, device=cpu): competing load of %d busy loops on %d "
           "CPUs in a child process group, started for each trial and stopped after it\n",
           o->k, loops, bench_online_cpus());
    fflush(stdout);
    int status = 0;
    double share = o->contention_budget / o->contention_shapes.count;
    for (int i = 0; i < o->contention_shapes.count && status == 0; i++)
        status = run_threads_shape(st, &o->contention_shapes.items[i], share);
    for (int i = 0; i < o->callers_shapes.count && status == 0; i++)
        status = run_callers_shape(st, &o->callers_shapes.items[i], 0);
    for (int i = 0; i < o->callers_shapes.count && status == 0; i++)
        status = run_callers_shape(st, &o->callers_shapes.items[i], loops);
    return status;
}
