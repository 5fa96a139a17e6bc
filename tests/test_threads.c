/*
 * test_threads.c — several caller threads using one context (and one corpus)
 * at once, and calls made from inside the caller's own OpenMP region. Every
 * result must equal, bit for bit, the same call made alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"
#include "vecscore.h"

#define NQ 60
#define NC 2000
#define DIM 96
#define K 8
#define CALLERS 6
#define ROUNDS 5

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
    int failures;
    int status;
} caller;

static void *call_repeatedly(void *arg) {
    caller *me = arg;
    shared_data *d = me->data;
    float *scores = malloc(NQ * NC * sizeof(float));
    float top[NQ * K];
    int64_t ids[NQ * K];
    for (int round = 0; round < ROUNDS && scores != NULL; round++) {
        int rc = vs_score(d->ctx, VS_METRIC_DOT, d->queries, NQ, d->candidates, NC, DIM, scores);
        if (rc != VS_OK) me->status = rc;
        if (memcmp(scores, d->expect_scores, NQ * NC * sizeof(float)) != 0) me->failures++;
        rc = vs_topk(d->ctx, VS_METRIC_COSINE, d->queries, NQ, d->candidates, NC, DIM, K, top, ids);
        if (rc != VS_OK) me->status = rc;
        if (memcmp(top, d->expect_topk, sizeof(top)) || memcmp(ids, d->expect_ids, sizeof(ids)))
            me->failures++;
        rc = vs_corpus_topk(d->corpus, VS_METRIC_L2SQ, d->queries, NQ, K, top, ids);
        if (rc != VS_OK) me->status = rc;
        if (memcmp(top, d->expect_corpus, sizeof(top)) ||
            memcmp(ids, d->expect_corpus_ids, sizeof(ids)))
            me->failures++;
    }
    if (scores == NULL) me->status = VS_ERR_OUT_OF_MEMORY;
    free(scores);
    return NULL;
}

static int setup(void **state) {
    shared_data *d = calloc(1, sizeof(*d));
    d->queries = malloc(NQ * DIM * sizeof(float));
    d->candidates = malloc(NC * DIM * sizeof(float));
    d->expect_scores = malloc(NQ * NC * sizeof(float));
    ref_rng rng;
    ref_rng_seed(&rng, 21);
    ref_fill_uniform(d->queries, NQ * DIM, &rng);
    ref_fill_uniform(d->candidates, NC * DIM, &rng);
    vs_options opts;
    vs_options_init(&opts);
    opts.threads = 2;
    if (vs_context_create(&opts, &d->ctx) != VS_OK) return -1;
    if (vs_corpus_create(d->ctx, d->candidates, NC, DIM, &d->corpus) != VS_OK) return -1;
    if (vs_score(d->ctx, VS_METRIC_DOT, d->queries, NQ, d->candidates, NC, DIM, d->expect_scores))
        return -1;
    if (vs_topk(d->ctx, VS_METRIC_COSINE, d->queries, NQ, d->candidates, NC, DIM, K, d->expect_topk,
                d->expect_ids))
        return -1;
    if (vs_corpus_topk(d->corpus, VS_METRIC_L2SQ, d->queries, NQ, K, d->expect_corpus,
                       d->expect_corpus_ids))
        return -1;
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

static void test_concurrent_callers(void **state) {
    shared_data *d = *state;
    pthread_t threads[CALLERS];
    caller callers[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        callers[i] = (caller){.data = d};
        assert_int_equal(pthread_create(&threads[i], NULL, call_repeatedly, &callers[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(callers[i].status, VS_OK);
        assert_int_equal(callers[i].failures, 0);
    }
    vs_batch_report report;
    assert_int_equal(vs_context_last_report(d->ctx, &report), VS_OK);
    assert_int_equal(report.status, VS_OK);
    assert_int_equal(report.queries, NQ);
}

/* Calls from inside the caller's OpenMP team: nested regions may get one
 * thread; results must not change. */
static void test_inside_caller_openmp(void **state) {
    shared_data *d = *state;
    int failures = 0, errors = 0;
#pragma omp parallel num_threads(2) reduction(+ : failures, errors)
    {
        caller me = {.data = d};
        call_repeatedly(&me);
        failures += me.failures;
        errors += me.status != VS_OK;
    }
    assert_int_equal(errors, 0);
    assert_int_equal(failures, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_results),
        cmocka_unit_test(test_concurrent_callers),
        cmocka_unit_test(test_inside_caller_openmp),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
