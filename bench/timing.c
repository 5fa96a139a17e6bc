/*
 * timing.c — the timing loop every path goes through:
 *
 *   for each shape (Q x N x d): generate data (fixed seeds)
 *     for each metric: float64 reference for up to 4 sampled queries
 *       for each path: prepare (untimed: corpus upload, index build)
 *         for each mode (score matrix, top-k):
 *           poison the outputs; one warm-up call; check it against the
 *           reference (a disagreeing path is reported FAIL and not timed);
 *           reps timed calls (median and min); check the last output again
 *
 * With --rounds N the path loop of a shape and metric runs N times, round r
 * starting at path r (mod the path count), so that a slow spell of a busy
 * machine falls on every path alike: round 0 is the loop above; a later
 * round prepares each path again, makes one untimed warm-up call per row
 * that was timed, then as many timed calls as round 0 made, and checks the
 * last one against the reference. A row's median and min are then over the
 * calls of every round, and its note lists each round's median.
 *
 * Budgets: a main path's row is skipped when its warm-up call times the
 * reps exceeds 1.5 x --budget; an auxiliary path's row is skipped before
 * its warm-up when an estimate from its earlier rows exceeds --aux-budget.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* One (path, problem) row being measured. */
typedef struct row_job {
    run_state *st;
    bench_path *path;
    const bench_problem *p;
    const shape *sh;
    const reference *ref;
    row *r;
} row_job;

/* The timed calls of one (path, mode) row over the rounds of a shape and metric. */
typedef struct round_slot {
    size_t row;     /* index in st->rows, or SIZE_MAX: no row (mode or path not run) */
    double *times;  /* every timed call of every round */
    int count, per; /* calls so far; calls per round (round 0's) */
    double medians[20];
    int rounds;
} round_slot;

static void set_status(row *r, const char *status, const char *note) {
    snprintf(r->status, sizeof(r->status), "%s", status);
    snprintf(r->note, sizeof(r->note), "%s", note);
}

/* Auxiliary paths are skipped on an estimate from their earlier rows; the
 * others always get their warm-up call (a peer's algorithm can change with
 * the shape, e.g. FAISS switches to BLAS at 20 queries). */
static int skip_by_estimate(const row_job *job, int reps, double budget) {
    double flops = bench_problem_flops(job->sh);
    if (!job->path->auxiliary || !(job->path->rate_flops > 0)) return 0;
    double estimate = flops / job->path->rate_flops * (reps + 1);
    if (estimate <= budget) return 0;
    char note[256];
    snprintf(note, sizeof(note),
             "estimated %.0f s for warm-up + %d reps (from its earlier rows) > budget %.0f s",
             estimate, reps, budget);
    set_status(job->r, "skipped", note);
    return 1;
}

/* Poison the outputs so that a path that writes nothing cannot pass. */
static void poison_outputs(const bench_problem *p) {
    size_t out_floats = p->topk ? p->queries_count * p->k : p->queries_count * p->base_count;
    for (size_t i = 0; i < out_floats; i++)
        p->scores[i] = NAN;
    if (p->topk)
        for (size_t i = 0; i < p->queries_count * p->k; i++)
            p->ids[i] = -2;
}

/* One call (with the path's untimed before_run); returns its seconds, or
 * -1 after marking the row "error". */
static double timed_call(const row_job *job) {
    bench_path *path = job->path;
    if (path->before_run) path->before_run(path, job->p);
    double start = bench_now();
    int status = path->run(path, job->p);
    double seconds = bench_now() - start;
    if (status == 0) return seconds;
    set_status(job->r, "error", path->error[0] ? path->error : "run failed");
    return -1;
}

/* An approximate path's top-k: recall@k on the sampled queries, into the row's note. */
static int approximate_recall(const row_job *job) {
    const bench_problem *p = job->p;
    const reference *ref = job->ref;
    size_t hits = 0, k = p->k < job->sh->n ? p->k : job->sh->n;
    for (size_t s = 0; s < ref->samples; s++)
        for (size_t a = 0; a < k; a++)
            for (size_t b = 0; b < k; b++)
                hits += p->ids[ref->rows[s] * p->k + a] == ref->best[s][b];
    snprintf(job->r->note, sizeof(job->r->note),
             "approximate: recall@%zu %.4f on %zu sampled queries (float64 reference top-k)", k,
             k && ref->samples ? (double)hits / (double)(k * ref->samples) : 0.0, ref->samples);
    return 1;
}

/* Checks the outputs against the reference; marks the row FAIL if they disagree. */
static int outputs_agree(const row_job *job, const char *prefix) {
    char why[256] = "", note[256];
    const bench_problem *p = job->p;
    if (job->path->approximate) return approximate_recall(job);
    size_t wrong = bench_reference_check(job->ref, p->metric, p->topk, job->sh->n, p->k, p->scores,
                                         p->ids, why, sizeof(why));
    if (wrong == 0) return 1;
    if (prefix)
        snprintf(note, sizeof(note), "%s: %s", prefix, why);
    else
        snprintf(note, sizeof(note), "%zu disagreements with float64 reference; first: %s", wrong,
                 why);
    set_status(job->r, "FAIL", note);
    if (strcmp(job->path->kind, "vecscore") == 0) job->st->vecscore_failures++;
    return 0;
}

static double median_of_sorted(const double *sorted, int count) {
    return count % 2 ? sorted[count / 2] : 0.5 * (sorted[count / 2 - 1] + sorted[count / 2]);
}

/* Appends one round's sorted call times to a slot. */
static void slot_add(round_slot *slot, const double *sorted, int count) {
    if (slot == NULL || slot->times == NULL) return;
    memcpy(slot->times + slot->count, sorted, (size_t)count * sizeof(double));
    slot->count += count;
    if (slot->rounds < 20) slot->medians[slot->rounds++] = median_of_sorted(sorted, count);
}

static void time_row(const row_job *job, round_slot *slot) {
    const options *o = &job->st->opt;
    bench_path *path = job->path;
    double flops = bench_problem_flops(job->sh);
    int reps = o->reps < MAX_REPS ? o->reps : MAX_REPS;
    double budget = path->auxiliary ? o->aux_budget : o->row_budget;
    if (skip_by_estimate(job, reps, budget)) return;
    poison_outputs(job->p);
    path->error[0] = '\0';
    double warm = timed_call(job);
    if (warm < 0 || !outputs_agree(job, NULL)) return;
    bench_path_info discard; /* report sums start after the warm-up */
    memset(&discard, 0, sizeof(discard));
    path->info(path, &discard);
    if (warm * reps > 1.5 * budget) {
        path->rate_flops = flops / warm;
        char note[256];
        snprintf(note, sizeof(note), "warm-up took %.1f s; %d reps exceed budget %.0f s", warm,
                 reps, budget);
        set_status(job->r, "skipped", note);
        return;
    }
    /* Short calls get more runs: up to a quarter second of timed calls
     * (quick: 0.05 s), at most MAX_REPS, never fewer than --reps. */
    double spread = o->quick ? 0.05 : 0.25;
    if (warm > 0 && spread / warm > reps)
        reps = spread / warm < MAX_REPS ? (int)(spread / warm) : MAX_REPS;
    static double times[MAX_REPS];
    for (int rep = 0; rep < reps; rep++)
        if ((times[rep] = timed_call(job)) < 0) return;
    if (!outputs_agree(job, "timed run disagrees with float64 reference")) return;
    bench_median(times, (size_t)reps); /* sorts */
    bench_row_times(job->r, times, reps);
    if (slot != NULL) slot->per = reps;
    slot_add(slot, times, reps);
    bench_row_limits(job->st, job->r);
    snprintf(job->r->status, sizeof(job->r->status), "ok");
    path->rate_flops = flops / job->r->median;
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

/* The rows of one path for one shape and metric: each mode it supports. */
static int run_path(run_state *st, bench_path *path, bench_problem *p, const shape *sh,
                    const reference *ref, round_slot slots[2]) {
    const options *o = &st->opt;
    int wanted = 0;
    for (int topk = 0; topk < 2; topk++)
        wanted |= o->modes[topk] && path->supports(path, p->metric, topk, sh->q);
    if (!wanted) return 0;
    path->error[0] = '\0';
    int prepared = path->prepare(path, p) == 0;
    for (int topk = 0; topk < 2; topk++) {
        if (!o->modes[topk] || !path->supports(path, p->metric, topk, sh->q)) continue;
        p->topk = topk;
        row *r = bench_row_new(st);
        if (r == NULL) return 3;
        r->sh = *sh;
        r->k = topk ? p->k : 0;
        r->metric = p->metric;
        r->topk = topk;
        snprintf(r->path, sizeof(r->path), "%s", path->name);
        r->kind = path->kind;
        slots[topk].row = (size_t)(r - st->rows);
        if (!prepared) {
            snprintf(r->status, sizeof(r->status), "error");
            snprintf(r->note, sizeof(r->note), "prepare failed: %s", path->error);
        } else {
            row_job job = {st, path, p, sh, ref, r};
            time_row(&job, &slots[topk]);
            path->info(path, &r->info);
            if (o->first_call && strcmp(r->status, "ok") == 0 && path->opencl_device >= 0 && topk &&
                p->metric == VS_METRIC_DOT)
                bench_first_call_measure(st, path, sh, r);
            describe_row(r);
        }
        if (o->rounds == 1) bench_print_row(r);
    }
    if (prepared) path->finish(path);
    return 0;
}

/*
 * A later round of one path (see the top): its rows timed ok in round 0 get a
 * warm-up call and slot->per timed calls more. A failed call or check marks
 * the row as round 0 would have.
 */
static int run_path_again(run_state *st, bench_path *path, bench_problem *p, const shape *sh,
                          const reference *ref, round_slot slots[2]) {
    int wanted = 0;
    for (int topk = 0; topk < 2; topk++)
        wanted |= slots[topk].row != SIZE_MAX && slots[topk].per > 0 &&
                  strcmp(st->rows[slots[topk].row].status, "ok") == 0;
    if (!wanted) return 0;
    path->error[0] = '\0';
    if (path->prepare(path, p) != 0) {
        for (int topk = 0; topk < 2; topk++)
            if (slots[topk].row != SIZE_MAX)
                set_status(&st->rows[slots[topk].row], "error", "prepare failed in a later round");
        return 0;
    }
    static double times[MAX_REPS];
    for (int topk = 0; topk < 2; topk++) {
        round_slot *slot = &slots[topk];
        if (slot->row == SIZE_MAX || slot->per <= 0) continue;
        row *r = &st->rows[slot->row];
        if (strcmp(r->status, "ok") != 0) continue;
        p->topk = topk;
        row_job job = {st, path, p, sh, ref, r};
        poison_outputs(p);
        if (timed_call(&job) < 0) continue; /* warm-up */
        int rep = 0;
        for (; rep < slot->per; rep++)
            if ((times[rep] = timed_call(&job)) < 0) break;
        if (rep < slot->per || !outputs_agree(&job, "a later round disagrees with the reference"))
            continue;
        bench_median(times, (size_t)slot->per); /* sorts */
        slot_add(slot, times, slot->per);
    }
    path->finish(path);
    return 0;
}

/* After the last round: a row's times over every round, its round medians in its note; printed. */
static void finish_rounds(run_state *st, round_slot *slot) {
    if (slot->row == SIZE_MAX) return;
    row *r = &st->rows[slot->row];
    if (strcmp(r->status, "ok") == 0 && slot->count > 0) {
        bench_median(slot->times, (size_t)slot->count); /* sorts */
        bench_row_times(r, slot->times, slot->count);
        bench_row_limits(st, r);
        size_t used = strlen(r->note);
        used += (size_t)snprintf(r->note + used, sizeof(r->note) - used,
                                 "%s%d rounds, round medians", used ? "; " : "", slot->rounds);
        for (int i = 0; i < slot->rounds && used < sizeof(r->note); i++)
            used += (size_t)snprintf(r->note + used, sizeof(r->note) - used, "%s%.3f",
                                     i ? "/" : " ", slot->medians[i] * 1e3);
        if (used < sizeof(r->note)) snprintf(r->note + used, sizeof(r->note) - used, " ms");
    }
    bench_print_row(r);
}

/* Every path on one problem, in st->opt.rounds rounds (see the top); 0 or 3 (out of memory). */
static int run_rounds(run_state *st, bench_problem *p, const shape *sh, const reference *ref) {
    int status = 0;
    const int rounds = st->opt.rounds, npaths = st->npaths;
    round_slot *slots = calloc((size_t)npaths * 2 + 1, sizeof(round_slot));
    for (int i = 0; slots != NULL && i < npaths * 2; i++) {
        slots[i].row = SIZE_MAX;
        if (rounds > 1 &&
            (slots[i].times = malloc((size_t)rounds * MAX_REPS * sizeof(double))) == NULL)
            status = 3;
    }
    if (slots == NULL) status = 3;
    if (status == 3) fprintf(stderr, "%s: out of memory for the rounds' times\n", st->prog);
    for (int round = 0; round < rounds && status == 0; round++)
        for (int i = 0; i < npaths && status == 0; i++) {
            const int pi = (i + round) % npaths;
            status = (round == 0 ? run_path : run_path_again)(st, &st->paths[pi], p, sh, ref,
                                                              &slots[2 * pi]);
        }
    for (int i = 0; rounds > 1 && status == 0 && i < npaths * 2; i++)
        finish_rounds(st, &slots[i]);
    for (int i = 0; slots != NULL && i < npaths * 2; i++)
        free(slots[i].times);
    free(slots);
    return status;
}

/* Every path on one shape, metric by metric. */
static int run_shape(run_state *st, int shape_index, const shape_data *data) {
    const options *o = &st->opt;
    const shape *sh = &o->shapes.items[shape_index];
    for (int mi = 0; mi < 3; mi++) {
        if (!o->metrics[mi]) continue;
        reference ref;
        if (bench_reference_build(&ref, bench_metric_at(mi), data->queries, sh->q, data->base,
                                  sh->n, sh->d, o->k) != 0) {
            fprintf(stderr, "%s: out of memory for the reference\n", st->prog);
            return 3;
        }
        bench_problem p = {.queries_count = sh->q,
                           .base_count = sh->n,
                           .dim = sh->d,
                           .k = o->k,
                           .metric = bench_metric_at(mi),
                           .queries = data->queries,
                           .base = data->base,
                           .base_norms = data->norms,
                           .scores = data->scores,
                           .shape_id = (unsigned)shape_index + 1,
                           .ids = data->ids};
        int status = run_rounds(st, &p, sh, &ref);
        bench_reference_free(&ref);
        if (status) return status;
    }
    return 0;
}

int bench_run_shapes(run_state *st) {
    bench_print_row_header();
    for (int si = 0; si < st->opt.shapes.count; si++) {
        const shape *sh = &st->opt.shapes.items[si];
        shape_data data;
        if (bench_shape_data_alloc(&data, sh, st->opt.k) != 0) {
            fprintf(stderr, "%s: out of memory for shape %zux%zux%zu\n", st->prog, sh->q, sh->n,
                    sh->d);
            return 3;
        }
        int status = run_shape(st, si, &data);
        /* What the paths keep while a shape lasts (vecscore corpora). */
        for (int pi = 0; pi < st->npaths; pi++)
            if (st->paths[pi].end_shape) st->paths[pi].end_shape(&st->paths[pi]);
        bench_shape_data_free(&data);
        if (status) return status;
    }
    return 0;
}
