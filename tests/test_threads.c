/*
 * test_threads.c — the worker pool and everything per caller:
 *
 *   - several caller threads on one context (and one corpus) at once, every
 *     result equal, bit for bit, to the same call made alone, each caller
 *     reading the report of its own last batch;
 *   - results bit-identical across thread counts (1, 2, 3, 4, 8), forced
 *     splits, every kernel path, repeated runs with timing perturbed;
 *   - a helper parked before it claims a unit does not delay the call (it
 *     completes while the helper is parked); one parked while it holds a
 *     unit delays the call by that unit only;
 *   - at most one worker per CPU whatever the number of callers and contexts;
 *   - threads above the CPU count capped and said (warning + report field);
 *     above 4096 refused;
 *   - vs_last_error_message per thread;
 *   - calls made from inside the caller's own OpenMP region.
 *
 * The CPU count is overridden to 8 (vs__pool_test_set_cpu_count) so that
 * 8 threads can be tested on a 2-core machine; the pool then has up to 7
 * workers, more than the cores, which only makes the timing harsher.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/pool.h"
#include "reference.h"
#include "vecscore.h"

#define NQ 60
#define NC 2000
#define DIM 96
#define K 8
#define CALLERS 6
#define TEST_CPUS 8

#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif

/* ThreadSanitizer runs everything ~20x slower: fewer rounds, the same interleavings. */
#ifdef TEST_TSAN
#define ROUNDS 2
#define REPEATS 1
#else
#define ROUNDS 5
#define REPEATS 2
#endif

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_ms(double ms) {
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms * 1e6) % 1000000000L};
    nanosleep(&ts, NULL);
}

static vs_context *make_context(int threads) {
    vs_options opts;
    vs_options_init(&opts);
    opts.device = "cpu";
    opts.threads = threads;
    vs_context *ctx = NULL;
    if (vs_context_create(&opts, &ctx) != VS_OK) fail_msg("vs_context_create(threads %d)", threads);
    return ctx;
}

typedef struct shared_data {
    vs_context *ctx;
    vs_corpus *corpus;
    float *queries, *candidates;
    float *expect_scores; /* NQ x NC, vs_score DOT */
    float expect_topk[NQ * K];
    int64_t expect_ids[NQ * K];
    float expect_corpus[NQ * K];
    int64_t expect_corpus_ids[NQ * K];
} shared_data;

typedef struct caller {
    shared_data *data;
    size_t nq; /* queries this caller sends (its reports must say so) */
    int failures;
    int report_failures;
    int status;
    int perturb; /* yield between calls, to shuffle the timing */
} caller;

static void *call_repeatedly(void *arg) {
    caller *me = arg;
    shared_data *d = me->data;
    const size_t nq = me->nq ? me->nq : NQ;
    float *scores = malloc(NQ * NC * sizeof(float));
    float top[NQ * K];
    int64_t ids[NQ * K];
    for (int round = 0; round < ROUNDS && scores != NULL; round++) {
        vs_batch_report report;
        int rc = vs_score(d->ctx, VS_METRIC_DOT, d->queries, nq, d->candidates, NC, DIM, scores);
        if (rc != VS_OK) me->status = rc;
        if (memcmp(scores, d->expect_scores, nq * NC * sizeof(float)) != 0) me->failures++;
        if (vs_context_last_report(d->ctx, &report) != VS_OK || report.queries != nq ||
            report.k != 0)
            me->report_failures++;
        if (me->perturb) sched_yield();
        rc = vs_topk(d->ctx, VS_METRIC_COSINE, d->queries, nq, d->candidates, NC, DIM, K, top, ids);
        if (rc != VS_OK) me->status = rc;
        if (memcmp(top, d->expect_topk, nq * K * sizeof(float)) ||
            memcmp(ids, d->expect_ids, nq * K * sizeof(int64_t)))
            me->failures++;
        if (vs_context_last_report(d->ctx, &report) != VS_OK || report.queries != nq ||
            report.k != K || report.metric != VS_METRIC_COSINE)
            me->report_failures++;
        rc = vs_corpus_topk(d->corpus, VS_METRIC_L2SQ, d->queries, nq, K, top, ids);
        if (rc != VS_OK) me->status = rc;
        if (memcmp(top, d->expect_corpus, nq * K * sizeof(float)) ||
            memcmp(ids, d->expect_corpus_ids, nq * K * sizeof(int64_t)))
            me->failures++;
        if (vs_context_last_report(d->ctx, &report) != VS_OK || report.queries != nq ||
            report.metric != VS_METRIC_L2SQ)
            me->report_failures++;
    }
    if (scores == NULL) me->status = VS_ERR_OUT_OF_MEMORY;
    free(scores);
    return NULL;
}

static int setup(void **state) {
    vs__pool_test_set_cpu_count(TEST_CPUS);
    shared_data *d = calloc(1, sizeof(*d));
    d->queries = malloc(NQ * DIM * sizeof(float));
    d->candidates = malloc(NC * DIM * sizeof(float));
    d->expect_scores = malloc(NQ * NC * sizeof(float));
    ref_rng rng;
    ref_rng_seed(&rng, 21);
    ref_fill_uniform(d->queries, NQ * DIM, &rng);
    ref_fill_uniform(d->candidates, NC * DIM, &rng);
    /* The expected results come from one thread: every other run must match them. */
    vs_context *alone = make_context(1);
    vs_corpus *corpus;
    if (vs_corpus_create(alone, d->candidates, NC, DIM, &corpus) != VS_OK) return -1;
    if (vs_score(alone, VS_METRIC_DOT, d->queries, NQ, d->candidates, NC, DIM, d->expect_scores))
        return -1;
    if (vs_topk(alone, VS_METRIC_COSINE, d->queries, NQ, d->candidates, NC, DIM, K, d->expect_topk,
                d->expect_ids))
        return -1;
    if (vs_corpus_topk(corpus, VS_METRIC_L2SQ, d->queries, NQ, K, d->expect_corpus,
                       d->expect_corpus_ids))
        return -1;
    vs_corpus_free(corpus);
    vs_context_free(alone);
    d->ctx = make_context(2);
    if (vs_corpus_create(d->ctx, d->candidates, NC, DIM, &d->corpus) != VS_OK) return -1;
    *state = d;
    return 0;
}

static int teardown(void **state) {
    shared_data *d = *state;
    vs_corpus_free(d->corpus);
    vs_context_free(d->ctx);
    free(d->queries);
    free(d->candidates);
    free(d->expect_scores);
    free(d);
    vs__pool_test_force_split(0);
    vs__pool_test_set_join(0, 0);
    vs__pool_test_set_cpu_count(0);
    return 0;
}

static void test_reference_results(void **state) {
    shared_data *d = *state;
    char why[256];
    assert_int_equal(ref_check_scores(VS_METRIC_DOT, d->queries, NQ, d->candidates, NC, DIM,
                                      d->expect_scores, 0, why, sizeof(why)),
                     0);
    assert_int_equal(ref_check_topk(VS_METRIC_COSINE, d->queries, NQ, d->candidates, NC, DIM, K,
                                    d->expect_topk, d->expect_ids, why, sizeof(why)),
                     0);
    assert_int_equal(ref_check_topk(VS_METRIC_L2SQ, d->queries, NQ, d->candidates, NC, DIM, K,
                                    d->expect_corpus, d->expect_corpus_ids, why, sizeof(why)),
                     0);
}

static void run_callers(shared_data *d, int count, int perturb) {
    pthread_t threads[CALLERS * 2];
    caller callers[CALLERS * 2];
    assert_true(count <= CALLERS * 2);
    for (int i = 0; i < count; i++) {
        /* Different query counts, so that a caller seeing another's report is caught. */
        callers[i] = (caller){.data = d, .nq = NQ - (size_t)i, .perturb = perturb};
        assert_int_equal(pthread_create(&threads[i], NULL, call_repeatedly, &callers[i]), 0);
    }
    for (int i = 0; i < count; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(callers[i].status, VS_OK);
        assert_int_equal(callers[i].failures, 0);
        assert_int_equal(callers[i].report_failures, 0);
    }
}

static void test_concurrent_callers(void **state) {
    shared_data *d = *state;
    run_callers(d, CALLERS, 0);
    /* Forced splits: every batch is shared with the pool's helpers. */
    vs__pool_test_force_split(1);
    run_callers(d, CALLERS, 1);
    vs__pool_test_force_split(0);
    /* The main thread has run no batch on this context since setup made it. */
    vs_batch_report report;
    assert_int_equal(vs_context_last_report(d->ctx, &report), VS_OK);
    assert_string_equal(report.backend, "");
    assert_int_equal(report.struct_size, sizeof(report));
    assert_int_equal(report.version, VS_REPORT_VERSION);
    /* However many callers, the pool never has more than one worker per CPU (minus the caller). */
    assert_true(vs__pool_test_workers() <= TEST_CPUS - 1);
}

#ifndef TEST_TSAN /* libgomp is not instrumented: TSan cannot see its barriers */
/* Calls from inside the caller's OpenMP team: results must not change. */
static void test_inside_caller_openmp(void **state) {
    shared_data *d = *state;
    int failures = 0, errors = 0;
#pragma omp parallel num_threads(2) reduction(+ : failures, errors)
    {
        caller me = {.data = d};
        call_repeatedly(&me);
        failures += me.failures + me.report_failures;
        errors += me.status != VS_OK;
    }
    assert_int_equal(errors, 0);
    assert_int_equal(failures, 0);
}
#endif

/* ---- bit-identical across thread counts ------------------------------------------------ */

typedef struct shape {
    size_t nq, nc, dim, k; /* k = 0: score matrix */
    int corpus;
} shape;

/* One call of the shape on ctx into scores/ids. */
static void run_shape(vs_context *ctx, const shape *s, vs_metric metric, const float *q,
                      const float *c, float *scores, int64_t *ids) {
    int rc;
    if (s->corpus) {
        vs_corpus *corpus;
        assert_int_equal(vs_corpus_create(ctx, c, s->nc, s->dim, &corpus), VS_OK);
        rc = s->k ? vs_corpus_topk(corpus, metric, q, s->nq, s->k, scores, ids)
                  : vs_corpus_score(corpus, metric, q, s->nq, scores);
        vs_corpus_free(corpus);
    } else {
        rc = s->k ? vs_topk(ctx, metric, q, s->nq, c, s->nc, s->dim, s->k, scores, ids)
                  : vs_score(ctx, metric, q, s->nq, c, s->nc, s->dim, scores);
    }
    assert_int_equal(rc, VS_OK);
}

/*
 * Uniform queries and candidates for a shape, with every tie_every-th
 * candidate copied to the next one: equal scores too, since the order of
 * ties must not depend on who found them. Free both.
 */
static void shape_inputs(const shape *s, ref_rng *rng, size_t tie_every, float **q, float **c) {
    *q = malloc(s->nq * s->dim * sizeof(float));
    *c = malloc(s->nc * s->dim * sizeof(float));
    assert_non_null(*q);
    assert_non_null(*c);
    ref_fill_uniform(*q, s->nq * s->dim, rng);
    ref_fill_uniform(*c, s->nc * s->dim, rng);
    for (size_t j = 0; j + 2 < s->nc; j += tie_every)
        memcpy(*c + (j + 1) * s->dim, *c + j * s->dim, s->dim * sizeof(float));
}

/* A shape's expected output (from one thread) and the output compared with it. */
typedef struct shape_outputs {
    size_t count; /* scores (and ids, for top-k) */
    float *expect, *got;
    int64_t *expect_ids, *got_ids;
} shape_outputs;

static shape_outputs outputs_alloc(const shape *s) {
    shape_outputs o;
    o.count = s->k ? s->nq * s->k : s->nq * s->nc;
    o.expect = malloc(o.count * sizeof(float));
    o.got = malloc(o.count * sizeof(float));
    o.expect_ids = malloc(o.count * sizeof(int64_t));
    o.got_ids = malloc(o.count * sizeof(int64_t));
    assert_true(o.expect && o.got && o.expect_ids && o.got_ids);
    return o;
}

static void outputs_free(shape_outputs *o) {
    free(o->expect);
    free(o->got);
    free(o->expect_ids);
    free(o->got_ids);
}

/* The shape on ctx into o->got (poisoned first): 1 when it is bit-identical to o->expect. */
static int outputs_match(vs_context *ctx, const shape *s, vs_metric metric, const float *q,
                         const float *c, shape_outputs *o) {
    memset(o->got, 0x7f, o->count * sizeof(float));
    memset(o->got_ids, 0x7f, o->count * sizeof(int64_t));
    run_shape(ctx, s, metric, q, c, o->got, o->got_ids);
    return memcmp(o->got, o->expect, o->count * sizeof(float)) == 0 &&
           (s->k == 0 || memcmp(o->got_ids, o->expect_ids, o->count * sizeof(int64_t)) == 0);
}

/* One context per thread count. */
static void contexts_make(vs_context **contexts, const int *thread_counts, int count) {
    for (int t = 0; t < count; t++)
        contexts[t] = make_context(thread_counts[t]);
}

static void test_bit_identical_across_threads(void **state) {
    (void)state;
    /* Every path: corpus (packed panels), per-call packing (nq >= 48), rows (few queries);
     * tails in every dimension; k above nc; score matrices. */
    static const shape shapes[] = {
        {1, 3001, 77, 10, 1}, {5, 2500, 33, 7, 1},  {70, 1300, 65, 5, 1}, {3, 4000, 19, 1, 0},
        {50, 1777, 31, 9, 0}, {2, 900, 128, 0, 0},  {64, 600, 16, 0, 1},  {7, 40, 9, 64, 0},
        {9, 3000, 5, 3, 0},   {1, 10000, 8, 20, 1},
    };
    static const int thread_counts[] = {1, 2, 3, 4, 8};
    static const vs_metric metrics[] = {VS_METRIC_DOT, VS_METRIC_COSINE, VS_METRIC_L2SQ};
    ref_rng rng;
    ref_rng_seed(&rng, 99);
    vs_context *contexts[5];
    contexts_make(contexts, thread_counts, 5);
    for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
        const shape *s = &shapes[si];
        float *q, *c;
        shape_inputs(s, &rng, 97, &q, &c);
        shape_outputs o = outputs_alloc(s);
        for (size_t mi = 0; mi < 3; mi++) {
            run_shape(contexts[0], s, metrics[mi], q, c, o.expect, o.expect_ids);
            for (int forced = 0; forced < 2; forced++) {
                vs__pool_test_force_split(forced);
                for (int t = 0; t < 5; t++)
                    for (int repeat = 0; repeat < REPEATS; repeat++) {
                        if (!outputs_match(contexts[t], s, metrics[mi], q, c, &o))
                            fail_msg("%zux%zux%zu k=%zu %s corpus=%d: threads %d (forced %d) "
                                     "differs from 1 thread",
                                     s->nq, s->nc, s->dim, s->k, vs_metric_name(metrics[mi]),
                                     s->corpus, thread_counts[t], forced);
                    }
            }
            vs__pool_test_force_split(0);
        }
        free(q);
        free(c);
        outputs_free(&o);
    }
    /* A forced split really used the helpers somewhere. */
    vs__pool_test_force_split(1);
    int joined = 0;
    for (int attempt = 0; attempt < 50 && joined < 2; attempt++) {
        float scores[4 * 10];
        int64_t ids[4 * 10];
        float *c = malloc(20000 * 64 * sizeof(float));
        ref_fill_uniform(c, 20000 * 64, &rng);
        assert_int_equal(vs_topk(contexts[4], VS_METRIC_DOT, c, 4, c, 20000, 64, 10, scores, ids),
                         VS_OK);
        vs_batch_report report;
        vs_context_last_report(contexts[4], &report);
        assert_int_equal(report.threads, 8);
        joined = report.threads_joined;
        free(c);
    }
    vs__pool_test_force_split(0);
    assert_true(joined >= 2);
    for (int t = 0; t < 5; t++)
        vs_context_free(contexts[t]);
}

/* ---- parked helpers ----------------------------------------------------------------------- */

typedef struct async_call {
    shared_data *d;
    float top[NQ * K];
    int64_t ids[NQ * K];
    int status;
    pthread_mutex_t lock;
    int done;
} async_call;

static void *async_main(void *arg) {
    async_call *call = arg;
    call->status = vs_corpus_topk(call->d->corpus, VS_METRIC_L2SQ, call->d->queries, NQ, K,
                                  call->top, call->ids);
    pthread_mutex_lock(&call->lock);
    call->done = 1;
    pthread_mutex_unlock(&call->lock);
    return NULL;
}

static int async_done(async_call *call) {
    pthread_mutex_lock(&call->lock);
    int done = call->done;
    pthread_mutex_unlock(&call->lock);
    return done;
}

/* Waits up to `seconds` for cond(); returns its last value. */
static int wait_for(int (*cond)(void *), void *arg, double seconds) {
    const double until = now_seconds() + seconds;
    while (!cond(arg)) {
        if (now_seconds() > until) return 0;
        sleep_ms(1);
    }
    return 1;
}

static int parked_cond(void *unused) {
    (void)unused;
    return vs__pool_test_parked();
}

static int done_cond(void *call) {
    return async_done(call);
}

static void check_async_result(async_call *call) {
    assert_int_equal(call->status, VS_OK);
    assert_memory_equal(call->top, call->d->expect_corpus, sizeof(call->top));
    assert_memory_equal(call->ids, call->d->expect_corpus_ids, sizeof(call->ids));
}

/* Starts a corpus top-k in its own thread with a helper parked (mode) inside its job. */
static void start_with_parked_helper(async_call *call, int mode, pthread_t *thread) {
    pthread_mutex_init(&call->lock, NULL);
    vs__pool_test_park(mode, 1);
    assert_int_equal(pthread_create(thread, NULL, async_main, call), 0);
    assert_true(wait_for(parked_cond, NULL, 20.0));
}

/* A helper that attached but was descheduled before it claimed a unit must not hold the call up. */
static void test_parked_helper_does_not_delay(void **state) {
    shared_data *d = *state;
    vs__pool_test_force_split(1);
    for (int round = 0; round < 3; round++) {
        async_call call = {.d = d};
        pthread_t thread;
        start_with_parked_helper(&call, VS_POOL_PARK_BEFORE_CLAIM, &thread);
        /* The call completes on the caller while the helper stays parked. */
        int completed = wait_for(done_cond, &call, 20.0);
        int still_parked = vs__pool_test_parked();
        vs__pool_test_unpark();
        pthread_join(thread, NULL);
        assert_true(completed);
        assert_true(still_parked);
        check_async_result(&call);
        pthread_mutex_destroy(&call.lock);
    }
    vs__pool_test_force_split(0);
    /* The helper that was parked is usable again: a normal run still matches. */
    caller me = {.data = d};
    call_repeatedly(&me);
    assert_int_equal(me.status, VS_OK);
    assert_int_equal(me.failures, 0);
}

/* A helper descheduled while it holds a unit delays the call by that unit, and only that. */
static void test_helper_holding_unit_delays_only_it(void **state) {
    shared_data *d = *state;
    vs__pool_test_force_split(1);
    async_call call = {.d = d};
    pthread_t thread;
    start_with_parked_helper(&call, VS_POOL_PARK_HOLDING_UNIT, &thread);
    sleep_ms(200);
    /* Its unit is not done, so neither is the call... */
    int done_while_parked = async_done(&call);
    vs__pool_test_unpark();
    /* ...and once it runs, the call completes (the caller did every other unit). */
    int completed = wait_for(done_cond, &call, 20.0);
    pthread_join(thread, NULL);
    vs__pool_test_force_split(0);
    assert_false(done_while_parked);
    assert_true(completed);
    check_async_result(&call);
    pthread_mutex_destroy(&call.lock);
}

/* ---- small batches, thread caps ------------------------------------------------------------ */

static void test_small_batch_runs_alone(void **state) {
    (void)state;
    vs_context *ctx = make_context(4);
    float q[4] = {1, 2, 3, 4}, c[16] = {0}, scores[4];
    int64_t ids[4];
    for (int i = 0; i < 100; i++) {
        assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, 1, c, 4, 4, 4, scores, ids), VS_OK);
        vs_batch_report report;
        vs_context_last_report(ctx, &report);
        /* 16 multiply-adds are never worth a helper, whatever the machine measured. */
        assert_int_equal(report.threads, 1);
        assert_int_equal(report.threads_joined, 1);
    }
    vs_context_free(ctx);
}

/*
 * The split decision and the unit count, on both sides of the threshold, for
 * shapes around 1 x 1000 x 768 top-10: the pool's measured helper cost is
 * replaced (vs__pool_test_set_join), so that the decision does not depend on
 * this machine's timing, and every side gives the 1-thread results bit for bit.
 *   - join 1 s: nothing here is worth a helper; the caller runs it alone, as
 *     one unit, and no helper joins;
 *   - join 1 ns, fastest 1 s: split, and a unit may not be shorter than 16
 *     fastest joins, so one unit per participant (the fewest);
 *   - forced split (join and fastest 0): up to 8 units per participant (the
 *     most; ranges are whole panels, so 7 x 8 ranges of 1000 come out as 32).
 */
static void test_split_threshold(void **state) {
    (void)state;
    static const shape shapes[] = {
        {1, 1000, 768, 10, 1}, {1, 999, 768, 10, 1},  {1, 1024, 768, 10, 1},  {1, 4000, 768, 10, 1},
        {3, 1000, 768, 10, 1}, {1, 1000, 768, 10, 0}, {1, 1000, 768, 500, 1}, {1, 1000, 96, 10, 1},
    };
    static const int thread_counts[] = {1, 2, 7};
    enum { MODES = 3 };
    ref_rng rng;
    ref_rng_seed(&rng, 5);
    vs_context *contexts[3];
    contexts_make(contexts, thread_counts, 3);
    for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
        const shape *s = &shapes[si];
        float *q, *c;
        shape_inputs(s, &rng, 61, &q, &c); /* ties across range boundaries */
        shape_outputs o = outputs_alloc(s);
        run_shape(contexts[0], s, VS_METRIC_DOT, q, c, o.expect, o.expect_ids);
        for (int mode = 0; mode < MODES; mode++) {
            if (mode == 0) vs__pool_test_set_join(1.0, 1.0);
            if (mode == 1) vs__pool_test_set_join(1e-9, 1.0);
            if (mode == 2) vs__pool_test_force_split(1);
            for (int t = 1; t < 3; t++)
                for (int repeat = 0; repeat < REPEATS; repeat++) {
                    if (!outputs_match(contexts[t], s, VS_METRIC_DOT, q, c, &o))
                        fail_msg("%zux%zux%zu k=%zu corpus=%d: threads %d (mode %d) differs "
                                 "from 1 thread",
                                 s->nq, s->nc, s->dim, s->k, s->corpus, thread_counts[t], mode);
                    int planned, split_candidates;
                    size_t units;
                    vs__cpu_test_last_plan(&planned, &units, &split_candidates);
                    vs_batch_report report;
                    assert_int_equal(vs_context_last_report(contexts[t], &report), VS_OK);
                    assert_int_equal(report.threads, planned);
                    const int threads = thread_counts[t];
                    if (mode == 0) {
                        assert_int_equal(planned, 1);
                        assert_int_equal(units, 1);
                        assert_int_equal(report.threads_joined, 1);
                        continue;
                    }
                    /* 1 query, enough candidates for every participant: candidate ranges. */
                    if (s->nq > 1 || s->nc < (size_t)threads * 4 * 16) continue;
                    assert_int_equal(planned, threads);
                    assert_int_equal(split_candidates, 1);
                    /* (ranges are whole panels, so a count can come out a little lower) */
                    assert_true(units >= 2);
                    if (mode == 1) assert_true(units <= (size_t)threads);
                    if (mode == 2) assert_true(units > (size_t)threads * 4);
                    assert_true(units <= (size_t)threads * 8);
                }
            vs__pool_test_set_join(0, 0);
            vs__pool_test_force_split(0);
        }
        free(q);
        free(c);
        outputs_free(&o);
    }
    for (int t = 0; t < 3; t++)
        vs_context_free(contexts[t]);
}

/*
 * Query groups (cpu/backend.c): a forced split (8 units per participant) of
 * a chunk of 512 or more queries against a corpus is nq / 256 query groups
 * (at most 4) times candidate ranges, the groups of one range sharing its
 * heaps; per-call candidates (packed by each unit) get candidate ranges
 * alone. Every metric, top-k and score, query counts that are not multiples of the tile rows, ties
 * across range and group boundaries: bit for bit the 1-thread results.
 */
static void test_query_groups(void **state) {
    (void)state;
    static const shape shapes[] = {{1030, 2000, 24, 7, 1},
                                   {1030, 2000, 24, 7, 0},
                                   {777, 1500, 13, 0, 1},
                                   {600, 999, 40, 3, 0}};
    static const int thread_counts[] = {1, 2, 3};
    static const vs_metric metrics[] = {VS_METRIC_DOT, VS_METRIC_COSINE, VS_METRIC_L2SQ};
    ref_rng rng;
    ref_rng_seed(&rng, 17);
    vs_context *contexts[3];
    contexts_make(contexts, thread_counts, 3);
    for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
        const shape *s = &shapes[si];
        /* per-call candidates are packed per unit, so they get no groups */
        const size_t groups = !s->corpus ? 1 : s->nq / 256 < 4 ? s->nq / 256 : 4;
        float *q, *c;
        shape_inputs(s, &rng, 53, &q, &c);
        shape_outputs o = outputs_alloc(s);
        for (size_t mi = 0; mi < 3; mi++) {
            run_shape(contexts[0], s, metrics[mi], q, c, o.expect, o.expect_ids);
            assert_int_equal(vs__cpu_test_last_query_groups(), 1); /* 1 thread: no split */
            vs__pool_test_force_split(1);
            for (int t = 1; t < 3; t++) {
                if (!outputs_match(contexts[t], s, metrics[mi], q, c, &o))
                    fail_msg("%zux%zux%zu k=%zu %s corpus=%d: threads %d differs from 1 thread",
                             s->nq, s->nc, s->dim, s->k, vs_metric_name(metrics[mi]), s->corpus,
                             thread_counts[t]);
                int planned, split_candidates;
                size_t units;
                vs__cpu_test_last_plan(&planned, &units, &split_candidates);
                assert_int_equal(planned, thread_counts[t]);
                assert_int_equal(split_candidates, 1);
                assert_int_equal(vs__cpu_test_last_query_groups(), groups);
                /* units = groups x ranges, 2 ranges or more, about 8 units per participant */
                const size_t most = ((size_t)thread_counts[t] * 8 + groups - 1) / groups;
                if (units % groups != 0 || units / groups < 2 || units / groups > most)
                    fail_msg("%zux%zux%zu threads %d: %zu units, expected %zu query groups of "
                             "2 to %zu ranges",
                             s->nq, s->nc, s->dim, thread_counts[t], units, groups, most);
            }
            vs__pool_test_force_split(0);
        }
        free(q);
        free(c);
        outputs_free(&o);
    }
    for (int t = 0; t < 3; t++)
        vs_context_free(contexts[t]);
}

/* Runs top-k (dot) on a corpus made beforehand (its packing is not the batch). */
static void corpus_topk(vs_corpus *corpus, const float *q, size_t nq, size_t k, float *scores,
                        int64_t *ids) {
    assert_int_equal(vs_corpus_topk(corpus, VS_METRIC_DOT, q, nq, k, scores, ids), VS_OK);
}

/* One shape's data and its outputs: the 1-thread ones (expect) and a run's (got). */
typedef struct shape_run {
    float *q, *c, *expect, *got;
    int64_t *expect_ids, *got_ids;
    size_t out;
} shape_run;

static void shape_run_make(shape_run *r, const shape *s, ref_rng *rng, size_t tie_every) {
    shape_inputs(s, rng, tie_every, &r->q, &r->c);
    r->out = s->k ? s->nq * s->k : s->nq * s->nc;
    r->expect = malloc(r->out * sizeof(float));
    r->got = malloc(r->out * sizeof(float));
    r->expect_ids = malloc(r->out * sizeof(int64_t));
    r->got_ids = malloc(r->out * sizeof(int64_t));
    assert_true(r->expect && r->got && r->expect_ids && r->got_ids);
}

static void shape_run_free(shape_run *r) {
    free(r->q);
    free(r->c);
    free(r->expect);
    free(r->got);
    free(r->expect_ids);
    free(r->got_ids);
}

/*
 * The split decision from the pool's state now (docs/threads.md, "When to
 * split"). The helper cost is set to 1 s, so the estimate declines every
 * batch, while the fastest join is tiny, so a split would pay: a batch then
 * splits only when a worker is on a CPU now and the last split paid, and
 * stays on the caller when either is missing. A split whose helper ran no
 * unit (parked before claiming) is marked as not paid. A declined call
 * that follows another closely wakes a sleeping worker when none spins.
 * Results stay bit-identical to
 * one thread in every case, for 2 and 7 threads, around the threshold
 * shapes (1 x 999/1000/4000 x 768, 3 x 1000 x 768, top-10).
 */
static void test_split_when_helper_on_cpu(void **state) {
    (void)state;
    static const shape shapes[] = {
        {1, 1000, 768, 10, 1}, {1, 999, 768, 10, 1}, {1, 4000, 768, 10, 1}, {3, 1000, 768, 10, 1}};
    static const int counts[] = {1, 2, 7};
    static const struct {
        int on_cpu, paid, split;
    } cases[] = {{1, 1, 1}, {0, 1, 0}, {1, 0, 0}, {0, 0, 0}};
    ref_rng rng;
    ref_rng_seed(&rng, 9);
    vs_context *ctxs[3];
    for (int t = 0; t < 3; t++)
        ctxs[t] = make_context(counts[t]);
    for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
        const shape *s = &shapes[si];
        shape_run r;
        shape_run_make(&r, s, &rng, 37);
        vs_corpus *corpora[3];
        for (int t = 0; t < 3; t++)
            assert_int_equal(vs_corpus_create(ctxs[t], r.c, s->nc, s->dim, &corpora[t]), VS_OK);
        corpus_topk(corpora[0], r.q, s->nq, s->k, r.expect, r.expect_ids);
        vs__pool_test_set_join(1.0, 1e-9);
        for (int t = 1; t < 3; t++)
            for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
                vs__pool_test_set_on_cpu(cases[ci].on_cpu);
                vs__pool_test_set_paid(cases[ci].paid);
                memset(r.got, 0x7f, r.out * sizeof(float));
                memset(r.got_ids, 0x7f, r.out * sizeof(int64_t));
                corpus_topk(corpora[t], r.q, s->nq, s->k, r.got, r.got_ids);
                if (memcmp(r.got, r.expect, r.out * sizeof(float)) != 0 ||
                    memcmp(r.got_ids, r.expect_ids, r.out * sizeof(int64_t)) != 0)
                    fail_msg("%zux%zux%zu: threads %d (on cpu %d, paid %d) differs from 1 thread",
                             s->nq, s->nc, s->dim, counts[t], cases[ci].on_cpu, cases[ci].paid);
                int planned, split_candidates;
                size_t units;
                vs__cpu_test_last_plan(&planned, &units, &split_candidates);
                vs_batch_report report;
                assert_int_equal(vs_context_last_report(ctxs[t], &report), VS_OK);
                assert_int_equal(report.threads, planned);
                if (!cases[ci].split) {
                    if (planned != 1)
                        fail_msg("%zux%zux%zu threads %d: split with on cpu %d, paid %d", s->nq,
                                 s->nc, s->dim, counts[t], cases[ci].on_cpu, cases[ci].paid);
                    assert_int_equal(units, 1);
                    assert_int_equal(report.threads_joined, 1);
                    continue;
                }
                if (planned != counts[t])
                    fail_msg("%zux%zux%zu threads %d: not split with a worker on a CPU and the "
                             "last split paid (planned %d)",
                             s->nq, s->nc, s->dim, counts[t], planned);
                assert_true(units >= 2);
            }
        /* A split whose helper attached but ran nothing did not pay. */
        vs__pool_test_set_on_cpu(1);
        vs__pool_test_set_paid(1);
        vs__pool_test_park(VS_POOL_PARK_BEFORE_CLAIM, 1);
        corpus_topk(corpora[1], r.q, s->nq, s->k, r.got, r.got_ids);
        assert_true(vs__pool_test_parked());
        vs__pool_test_unpark();
        assert_memory_equal(r.got, r.expect, r.out * sizeof(float));
        assert_memory_equal(r.got_ids, r.expect_ids, r.out * sizeof(int64_t));
        vs_batch_report report;
        assert_int_equal(vs_context_last_report(ctxs[1], &report), VS_OK);
        assert_int_equal(report.threads, 2);
        assert_int_equal(report.threads_joined, 1);
        assert_int_equal(vs__pool_test_paid(), 0);
        vs__pool_test_set_on_cpu(-1);
        vs__pool_test_set_join(0, 0);
        for (int t = 0; t < 3; t++)
            vs_corpus_free(corpora[t]);
        shape_run_free(&r);
    }

    /*
     * A declined call that comes soon after another wakes a sleeping worker
     * when none spins. Workers stop
     * spinning within 1 ms of their last job; the wait for that is bounded
     * by tries, and nothing here is timed.
     */
    float q[64] = {1}, c[64 * 64], scores[4];
    int64_t ids[4];
    for (size_t i = 0; i < 64 * 64; i++)
        c[i] = (float)(i % 13);
    vs__pool_test_set_join(1.0, 1e-9);
    vs__pool_test_set_on_cpu(0);
    vs__pool_test_set_paid(0);
    const unsigned before = vs__pool_test_nudges();
    int woken = 0;
    for (int attempt = 0; attempt < 200 && !woken; attempt++) {
        sleep_ms(10);
        /* Two calls back to back: the second comes soon after the first. */
        for (int call = 0; call < 2; call++) {
            assert_int_equal(vs_topk(ctxs[2], VS_METRIC_DOT, q, 1, c, 64, 64, 4, scores, ids),
                             VS_OK);
            int planned, split_candidates;
            size_t units;
            vs__cpu_test_last_plan(&planned, &units, &split_candidates);
            assert_int_equal(planned, 1);
        }
        woken = vs__pool_test_nudges() != before;
    }
    if (!woken) fail_msg("no declined call woke a sleeping worker in 200 tries");
    vs__pool_test_set_on_cpu(-1);
    vs__pool_test_set_join(0, 0);
    for (int t = 0; t < 3; t++)
        vs_context_free(ctxs[t]);
}

typedef struct log_capture {
    char warning[512];
    int warnings;
} log_capture;

static void capture_log(void *user, vs_log_level level, const char *message) {
    log_capture *capture = user;
    if (level == VS_LOG_WARN) {
        capture->warnings++;
        snprintf(capture->warning, sizeof(capture->warning), "%s", message);
    }
}

static void test_threads_above_cpu_count(void **state) {
    (void)state;
    vs__pool_test_set_cpu_count(0); /* the real CPU count */
    const int cpus = vs__pool_cpu_count();
    log_capture capture = {"", 0};
    vs_options opts;
    vs_options_init(&opts);
    opts.device = "cpu";
    opts.threads = 1000;
    opts.log = capture_log;
    opts.log_user = &capture;
    vs_context *ctx;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    /* Capped at the CPU count, and said: a warning and a report field. */
    assert_int_equal(vs_context_threads(ctx), cpus);
    assert_int_equal(capture.warnings, 1);
    assert_non_null(strstr(capture.warning, "threads 1000"));
    float q[8] = {1}, c[64] = {0}, scores[2];
    int64_t ids[2];
    assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, 1, c, 8, 8, 2, scores, ids), VS_OK);
    vs_batch_report report;
    vs_context_last_report(ctx, &report);
    assert_int_equal(report.threads_requested, 1000);
    assert_true(report.threads <= cpus);
    vs_context_free(ctx);

    /* The same through the environment. */
    setenv("VECSCORE_THREADS", "1000", 1);
    opts.threads = 0;
    capture.warnings = 0;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    assert_int_equal(vs_context_threads(ctx), cpus);
    assert_int_equal(capture.warnings, 1);
    vs_context_free(ctx);
    unsetenv("VECSCORE_THREADS");

    /* Within the CPU count: no warning, the value as given. */
    opts.threads = 1;
    capture.warnings = 0;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    assert_int_equal(vs_context_threads(ctx), 1);
    assert_int_equal(capture.warnings, 0);
    vs_context_free(ctx);

    /* Above the documented limit: refused, and the message says why. */
    opts.threads = 5000;
    opts.log = NULL;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
    assert_null(ctx);
    assert_non_null(strstr(vs_last_error_message(), "threads"));
    assert_non_null(strstr(vs_last_error_message(), "4096"));
    vs__pool_test_set_cpu_count(TEST_CPUS);
}

/* ---- last error message, per thread --------------------------------------------------------- */

typedef struct error_probe {
    vs_context *ctx;
    char seen_before[256];
    char seen_after[256];
    int status;
} error_probe;

static void *error_thread(void *arg) {
    error_probe *probe = arg;
    snprintf(probe->seen_before, sizeof(probe->seen_before), "%s", vs_last_error_message());
    float q[4] = {0}, s[1];
    int64_t id[1];
    probe->status = vs_topk(probe->ctx, VS_METRIC_DOT, q, 1, q, 1, 0, 1, s, id); /* dim 0 */
    snprintf(probe->seen_after, sizeof(probe->seen_after), "%s", vs_last_error_message());
    return NULL;
}

static void test_last_error_message(void **state) {
    (void)state;
    vs_context *ctx = make_context(2); /* no log callback */
    assert_string_equal(vs_last_error_message(), "");
    float q[4] = {1, 2, 3, 4}, scores[2];
    int64_t ids[2];
    assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, 1, q, 1, 4, 0, scores, ids),
                     VS_ERR_INVALID_ARGUMENT);
    assert_string_equal(vs_last_error_message(), "vs_topk: k is 0");
    /* Another thread has its own message; its error does not replace this one. */
    error_probe probe = {.ctx = ctx};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, error_thread, &probe), 0);
    pthread_join(thread, NULL);
    assert_int_equal(probe.status, VS_ERR_INVALID_ARGUMENT);
    assert_string_equal(probe.seen_before, "");
    assert_string_equal(probe.seen_after, "vs_topk: dim is 0");
    assert_string_equal(vs_last_error_message(), "vs_topk: k is 0");
    /* A call that succeeds clears it. */
    assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, 1, q, 1, 4, 2, scores, ids), VS_OK);
    assert_string_equal(vs_last_error_message(), "");
    /* NULL handles get a message too. */
    assert_int_equal(vs_score(NULL, VS_METRIC_DOT, q, 1, q, 1, 4, scores), VS_ERR_INVALID_ARGUMENT);
    assert_string_equal(vs_last_error_message(), "vs_score: ctx is NULL");
    assert_int_equal(vs_corpus_topk(NULL, VS_METRIC_DOT, q, 1, 1, scores, ids),
                     VS_ERR_INVALID_ARGUMENT);
    assert_string_equal(vs_last_error_message(), "vs_corpus_topk: corpus is NULL");
    vs_context_free(ctx);
    /* Option errors, which no context could log, name the variable. */
    setenv("VECSCORE_ARENA_BYTES", "lots", 1);
    vs_context *bad = NULL;
    assert_int_equal(vs_context_create(NULL, &bad), VS_ERR_INVALID_ARGUMENT);
    unsetenv("VECSCORE_ARENA_BYTES");
    assert_null(bad);
    assert_non_null(strstr(vs_last_error_message(), "VECSCORE_ARENA_BYTES"));
    vs_options opts;
    vs_options_init(&opts);
    opts.device = "cpu";
    assert_int_equal(vs_context_create(&opts, &bad), VS_OK);
    assert_string_equal(vs_last_error_message(), "");
    vs_context_free(bad);
}

/* ---- many contexts, many callers: one pool ------------------------------------------------- */

typedef struct context_user {
    int threads;
    int failures;
} context_user;

static void *use_own_context(void *arg) {
    context_user *user = arg;
    vs_options opts;
    vs_options_init(&opts);
    opts.device = "cpu";
    opts.threads = user->threads;
    vs_context *ctx;
    if (vs_context_create(&opts, &ctx) != VS_OK) {
        user->failures++;
        return NULL;
    }
    float *c = calloc(4000 * 32, sizeof(float));
    float q[2 * 32], scores[2 * 5];
    int64_t ids[2 * 5];
    for (int i = 0; i < 2 * 32; i++)
        q[i] = (float)(i % 5);
    for (size_t i = 0; i < 4000 * 32; i++)
        c[i] = (float)(i % 13) * 0.125f;
    for (int round = 0; round < 20; round++)
        if (vs_topk(ctx, VS_METRIC_L2SQ, q, 2, c, 4000, 32, 5, scores, ids) != VS_OK)
            user->failures++;
    free(c);
    vs_context_free(ctx);
    return NULL;
}

static void test_one_pool_for_all_contexts(void **state) {
    shared_data *d = *state; /* keeps the pool alive across the contexts below */
    (void)d;
    vs__pool_test_force_split(1);
    pthread_t threads[6];
    context_user users[6];
    for (int i = 0; i < 6; i++) {
        users[i] = (context_user){.threads = 1 + i % TEST_CPUS * 2};
        assert_int_equal(pthread_create(&threads[i], NULL, use_own_context, &users[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(users[i].failures, 0);
    }
    vs__pool_test_force_split(0);
    assert_true(vs__pool_test_workers() >= 1);
    assert_true(vs__pool_test_workers() <= TEST_CPUS - 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_results),
        cmocka_unit_test(test_concurrent_callers),
#ifndef TEST_TSAN
        cmocka_unit_test(test_inside_caller_openmp),
#endif
        cmocka_unit_test(test_bit_identical_across_threads),
        cmocka_unit_test(test_parked_helper_does_not_delay),
        cmocka_unit_test(test_helper_holding_unit_delays_only_it),
        cmocka_unit_test(test_small_batch_runs_alone),
        cmocka_unit_test(test_split_threshold),
        cmocka_unit_test(test_query_groups),
        cmocka_unit_test(test_split_when_helper_on_cpu),
        cmocka_unit_test(test_threads_above_cpu_count),
        cmocka_unit_test(test_last_error_message),
        cmocka_unit_test(test_one_pool_for_all_contexts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
