/*
 * test_api.c — the public contract: argument checks that write nothing,
 * empty inputs, padding, options and environment overrides, forced ISAs,
 * reports, verification, arena exhaustion, output memory.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"
#include "vecscore.h"

#define SENTINEL_SCORE 12345.0f
#define SENTINEL_ID 777

/* ---- helpers -------------------------------------------------------------- */

/* threads as a context takes it: capped at the CPU count (docs/threads.md). */
static int capped_threads(int threads) {
    vs_device cpu;
    if (vs_device_info(0, &cpu) != VS_OK) fail_msg("vs_device_info(0) failed");
    return threads < (int)cpu.compute_units ? threads : (int)cpu.compute_units;
}

typedef struct log_capture {
    char last[512];
    int count;
} log_capture;

static void capture_log(void *user, vs_log_level level, const char *message) {
    log_capture *capture = user;
    (void)level;
    snprintf(capture->last, sizeof(capture->last), "%s", message);
    capture->count++;
}

static vs_context *make_context(log_capture *capture) {
    vs_options opts;
    vs_options_init(&opts);
    if (capture != NULL) {
        opts.log = capture_log;
        opts.log_user = capture;
    }
    vs_context *ctx = NULL;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    return ctx;
}

static void fill_sentinels(float *scores, int64_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++) {
        scores[i] = SENTINEL_SCORE;
        if (ids != NULL) ids[i] = SENTINEL_ID;
    }
}

static void assert_untouched(const float *scores, const int64_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++) {
        assert_true(scores[i] == SENTINEL_SCORE);
        if (ids != NULL) assert_int_equal(ids[i], SENTINEL_ID);
    }
}

/* ---- options and context ------------------------------------------------- */

static void test_options_defaults(void **state) {
    (void)state;
    vs_options opts;
    memset(&opts, 0xab, sizeof(opts));
    vs_options_init(&opts);
    assert_string_equal(opts.device, "auto");
    assert_int_equal(opts.threads, 0);
    assert_int_equal(opts.arena_bytes, 0);
    assert_null(opts.isa);
    assert_null(opts.log);

    vs_context *ctx = NULL;
    assert_int_equal(vs_context_create(NULL, &ctx), VS_OK);
    assert_non_null(ctx);
    assert_true(vs_context_threads(ctx) >= 1);
    assert_string_equal(vs_context_isa(ctx), vs_cpu_best_isa());
    vs_context_free(ctx);
    vs_context_free(NULL);
    vs_corpus_free(NULL);
    assert_int_equal(vs_context_create(NULL, NULL), VS_ERR_INVALID_ARGUMENT);
}

static void test_bad_options(void **state) {
    (void)state;
    log_capture capture = {0};
    vs_options opts;
    vs_context *ctx = (vs_context *)&capture; /* must be reset to NULL on failure */

    vs_options_init(&opts);
    opts.log = capture_log;
    opts.log_user = &capture;
    opts.device = "gpu-please";
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
    assert_null(ctx);
    assert_non_null(strstr(capture.last, "gpu-please"));

#if VECSCORE_WITH_OPENCL /* these need OpenCL devices to match against; see test_build.c */
    opts.device = "opencl:name=no-such-device-xyz";
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_NO_DEVICE);
    assert_null(ctx);
    assert_non_null(strstr(capture.last, "no-such-device-xyz"));

    opts.device = "opencl:7:0";
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_NO_DEVICE);
    assert_non_null(strstr(capture.last, "platform 7"));

    opts.device = "opencl:1:x";
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(capture.last, "opencl:1:x"));
#endif

    opts.device = "cpu";
    opts.isa = "sse9";
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(capture.last, "sse9"));

    opts.isa = NULL;
    opts.threads = -2;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);

    opts.threads = 0;
    opts.verify = 7;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
}

static void test_environment_overrides(void **state) {
    (void)state;
    log_capture capture = {0};
    vs_options opts;
    vs_context *ctx = NULL;

    /* environment beats the default */
    setenv("VECSCORE_THREADS", "1", 1);
    setenv("VECSCORE_ISA", "serial", 1);
    vs_options_init(&opts);
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    assert_int_equal(vs_context_threads(ctx), 1);
    assert_string_equal(vs_context_isa(ctx), "serial");
    vs_context_free(ctx);

    /* an explicit option beats the environment */
    opts.threads = 2;
    opts.isa = vs_cpu_best_isa();
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    assert_int_equal(vs_context_threads(ctx), capped_threads(2));
    assert_string_equal(vs_context_isa(ctx), vs_cpu_best_isa());
    vs_context_free(ctx);
    unsetenv("VECSCORE_ISA");

    /* malformed values are errors that name the variable */
    vs_options_init(&opts);
    opts.log = capture_log;
    opts.log_user = &capture;
    setenv("VECSCORE_THREADS", "two", 1);
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(capture.last, "VECSCORE_THREADS"));
    unsetenv("VECSCORE_THREADS");
    setenv("VECSCORE_ARENA_BYTES", "12Q", 1);
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(capture.last, "VECSCORE_ARENA_BYTES"));
    setenv("VECSCORE_ARENA_BYTES", "1M", 1);
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    float q[4] = {1, 2, 3, 4}, s[1];
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, q, 1, 4, s), VS_OK);
    vs_batch_report report;
    assert_int_equal(vs_context_last_report(ctx, &report), VS_OK);
    assert_int_equal(report.arena_capacity_bytes, 1u << 20);
    vs_context_free(ctx);
    unsetenv("VECSCORE_ARENA_BYTES");
    setenv("VECSCORE_DEVICE", "nonsense", 1);
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
    opts.device = "cpu"; /* explicit wins */
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    vs_context_free(ctx);
    unsetenv("VECSCORE_DEVICE");
    setenv("VECSCORE_VERIFY", "yes", 1);
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
    unsetenv("VECSCORE_VERIFY");
}

static void test_forced_isa(void **state) {
    (void)state;
    /* Every ISA the library knows, on every architecture, the reference first. */
    assert_string_equal(vs_cpu_isa_name(0), "serial");
    assert_null(vs_cpu_isa_name(-1));
    int count = 0, best_listed = 0, listed = 0;
    for (; vs_cpu_isa_name(count) != NULL; count++) {
        const char *name = vs_cpu_isa_name(count);
        best_listed |= strcmp(name, vs_cpu_best_isa()) == 0;
        listed |= (strcmp(name, "avx2") == 0) << 0 | (strcmp(name, "avx512") == 0) << 1 |
                  (strcmp(name, "neon") == 0) << 2;
    }
    assert_int_equal(listed, 7);
    assert_true(best_listed);
    assert_int_equal(vs_cpu_isa_supported(vs_cpu_best_isa()), 1);
#if defined(__aarch64__) /* an ISA of another architecture is never supported */
    assert_int_equal(vs_cpu_isa_supported("avx2") | vs_cpu_isa_supported("avx512"), 0);
#elif defined(__x86_64__)
    assert_int_equal(vs_cpu_isa_supported("neon"), 0);
#endif
    for (int i = 0; i < count; i++) {
        const char *isa = vs_cpu_isa_name(i);
        vs_options opts;
        vs_options_init(&opts);
        opts.isa = isa;
        vs_context *ctx = NULL;
        int rc = vs_context_create(&opts, &ctx);
        if (vs_cpu_isa_supported(isa)) {
            assert_int_equal(rc, VS_OK);
            assert_string_equal(vs_context_isa(ctx), isa);
            float q[3] = {1, 2, 3}, s[1];
            assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, q, 1, 3, s), VS_OK);
            vs_batch_report report;
            vs_context_last_report(ctx, &report);
            assert_string_equal(report.isa, isa);
            assert_true(s[0] == 14.0f);
            vs_context_free(ctx);
        } else {
            /* never a silent downgrade */
            assert_int_equal(rc, VS_ERR_UNSUPPORTED);
            assert_null(ctx);
        }
    }
    assert_int_equal(vs_cpu_isa_supported("serial"), 1);
    assert_int_equal(vs_cpu_isa_supported("nope"), 0);
    assert_int_equal(vs_cpu_isa_supported(NULL), 0);

    /* An unknown name is an argument error whose message lists the names. */
    log_capture capture = {0};
    vs_options opts;
    vs_options_init(&opts);
    opts.isa = "sse9";
    opts.log = capture_log;
    opts.log_user = &capture;
    vs_context *ctx = NULL;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
    assert_null(ctx);
    assert_non_null(strstr(capture.last, "'sse9'"));
    assert_non_null(strstr(capture.last, "serial, avx2, avx512, neon"));
}

/* ---- invalid arguments write nothing ----------------------------------------- */

static void test_invalid_arguments(void **state) {
    (void)state;
    log_capture capture = {0};
    vs_context *ctx = make_context(&capture);
    float q[8] = {1, 2, 3, 4, 5, 6, 7, 8}, c[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    float s[16];
    int64_t ids[16];
    const size_t huge = SIZE_MAX / 2;

    fill_sentinels(s, ids, 16);
    assert_int_equal(vs_score(NULL, VS_METRIC_DOT, q, 1, c, 1, 4, s), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_score(ctx, (vs_metric)3, q, 1, c, 1, 4, s), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(capture.last, "metric"));
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, c, 1, 0, s), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(capture.last, "dim"));
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, NULL, 1, c, 1, 4, s), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(capture.last, "queries"));
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, NULL, 1, 4, s), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(capture.last, "candidates"));
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, c, 1, 4, NULL), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, huge, c, 1, 4, s), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(capture.last, "overflow"));
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, c, huge, 4, s), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, (size_t)1 << 33, c, (size_t)1 << 33, 1, s),
                     VS_ERR_INVALID_ARGUMENT); /* nq * nc * 4 overflows */
    assert_untouched(s, NULL, 16);

    assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, 1, c, 2, 4, 0, s, ids),
                     VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(capture.last, "k is 0"));
    assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, 1, c, 2, 4, 1, NULL, ids),
                     VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, 1, c, 2, 4, 1, s, NULL),
                     VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, 2, c, 2, 4, huge, s, ids),
                     VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_topk(ctx, VS_METRIC_L2SQ, q, 1, c, 2, 0, 1, s, ids),
                     VS_ERR_INVALID_ARGUMENT);
    assert_untouched(s, ids, 16);

    vs_corpus *corpus = (vs_corpus *)&capture;
    assert_int_equal(vs_corpus_create(ctx, NULL, 2, 4, &corpus), VS_ERR_INVALID_ARGUMENT);
    assert_null(corpus);
    assert_int_equal(vs_corpus_create(ctx, c, 2, 0, &corpus), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_create(NULL, c, 2, 4, &corpus), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_create(ctx, c, huge, 4, &corpus), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_create(ctx, c, 2, 4, NULL), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_create(ctx, c, 2, 4, &corpus), VS_OK);
    assert_int_equal(vs_corpus_size(corpus), 2);
    assert_int_equal(vs_corpus_dim(corpus), 4);
    assert_int_equal(vs_corpus_score(NULL, VS_METRIC_DOT, q, 1, s), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_score(corpus, (vs_metric)-1, q, 1, s), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_score(corpus, VS_METRIC_DOT, NULL, 1, s), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_score(corpus, VS_METRIC_DOT, q, 1, NULL), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_topk(corpus, VS_METRIC_DOT, q, 1, 0, s, ids),
                     VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_topk(corpus, VS_METRIC_DOT, q, 1, 1, s, NULL),
                     VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_topk(corpus, VS_METRIC_DOT, q, huge, 3, s, ids),
                     VS_ERR_INVALID_ARGUMENT);
    assert_untouched(s, ids, 16);
    vs_corpus_free(corpus);

    assert_int_equal(vs_context_last_report(NULL, NULL), VS_ERR_INVALID_ARGUMENT);
    vs_context_free(ctx);
}

/* ---- empty inputs and padding ------------------------------------------------- */

static void test_empty_and_padding(void **state) {
    (void)state;
    vs_context *ctx = make_context(NULL);
    float q[6] = {1, 0, 0, 0, 1, 0}, c[9] = {1, 0, 0, 0, 2, 0, 0, 0, 3};
    float s[20];
    int64_t ids[20];

    /* nq == 0: valid, writes nothing, NULL outputs allowed */
    fill_sentinels(s, ids, 20);
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, NULL, 0, c, 3, 3, NULL), VS_OK);
    assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, 0, c, 3, 3, 5, s, ids), VS_OK);
    assert_untouched(s, ids, 20);

    /* nc == 0: score writes nothing; top-k writes only padding */
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 2, NULL, 0, 3, s), VS_OK);
    assert_untouched(s, ids, 20);
    const vs_metric metrics[] = {VS_METRIC_DOT, VS_METRIC_COSINE, VS_METRIC_L2SQ};
    for (int m = 0; m < 3; m++) {
        fill_sentinels(s, ids, 20);
        assert_int_equal(vs_topk(ctx, metrics[m], q, 2, NULL, 0, 3, 4, s, ids), VS_OK);
        float pad = metrics[m] == VS_METRIC_L2SQ ? INFINITY : -INFINITY;
        for (int i = 0; i < 8; i++) {
            assert_int_equal(ids[i], -1);
            assert_true(s[i] == pad);
        }
        assert_untouched(s + 8, ids + 8, 12);
    }

    /* k > nc: real results then padding; exact values on exact data */
    fill_sentinels(s, ids, 20);
    assert_int_equal(vs_topk(ctx, VS_METRIC_L2SQ, q, 2, c, 3, 3, 5, s, ids), VS_OK);
    const int64_t want0[5] = {0, 1, 2, -1, -1}; /* q0 = e0: distances 0, 5, 10 */
    const float dist0[5] = {0, 5, 10, INFINITY, INFINITY};
    const int64_t want1[5] = {0, 1, 2, -1, -1}; /* q1 = e1: distances 2, 1, 10 -> 1, 0, 2 */
    const float dist1[5] = {1, 2, 10, INFINITY, INFINITY};
    for (int r = 0; r < 5; r++) {
        assert_int_equal(ids[r], want0[r]);
        assert_true(s[r] == dist0[r]);
    }
    assert_int_equal(ids[5 + 0], 1);
    assert_int_equal(ids[5 + 1], 0);
    for (int r = 2; r < 5; r++)
        assert_int_equal(ids[5 + r], want1[r]);
    for (int r = 0; r < 5; r++)
        assert_true(s[5 + r] == dist1[r]);
    assert_untouched(s + 10, ids + 10, 10);

    /* corpus of 0 vectors behaves the same */
    vs_corpus *corpus = NULL;
    assert_int_equal(vs_corpus_create(ctx, NULL, 0, 3, &corpus), VS_OK);
    fill_sentinels(s, ids, 20);
    assert_int_equal(vs_corpus_topk(corpus, VS_METRIC_DOT, q, 2, 3, s, ids), VS_OK);
    for (int i = 0; i < 6; i++)
        assert_int_equal(ids[i], -1);
    assert_untouched(s + 6, ids + 6, 14);
    vs_corpus_free(corpus);
    vs_context_free(ctx);
}

/* ---- corpus does not reference or modify caller memory --------------------------- */

static void test_corpus_copies(void **state) {
    (void)state;
    vs_context *ctx = make_context(NULL);
    const size_t n = 100, dim = 37;
    float *c = malloc(n * dim * sizeof(float)), *copy = malloc(n * dim * sizeof(float));
    float q[37], s1[100], s2[100];
    ref_rng rng;
    ref_rng_seed(&rng, 11);
    ref_fill_uniform(c, n * dim, &rng);
    ref_fill_uniform(q, dim, &rng);
    memcpy(copy, c, n * dim * sizeof(float));
    vs_corpus *corpus = NULL;
    assert_int_equal(vs_corpus_create(ctx, c, n, dim, &corpus), VS_OK);
    assert_memory_equal(c, copy, n * dim * sizeof(float)); /* inputs never modified */
    assert_int_equal(vs_corpus_score(corpus, VS_METRIC_COSINE, q, 1, s1), VS_OK);
    memset(c, 0, n * dim * sizeof(float)); /* corpus must not reference caller memory */
    assert_int_equal(vs_corpus_score(corpus, VS_METRIC_COSINE, q, 1, s2), VS_OK);
    assert_memory_equal(s1, s2, sizeof(s1));
    vs_corpus_free(corpus);
    free(c);
    free(copy);
    vs_context_free(ctx);
}

/* ---- arena exhaustion: split work, or fail cleanly ------------------------------- */

static void test_small_arenas_split(void **state) {
    (void)state;
    const size_t nq = 100, nc = 500, dim = 300, k = 7;
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    float *s_big = malloc(nq * nc * sizeof(float)), *s_small = malloc(nq * nc * sizeof(float));
    float ts_big[700], ts_small[700];
    int64_t ti_big[700], ti_small[700];
    ref_rng rng;
    ref_rng_seed(&rng, 12);
    ref_fill_uniform(q, nq * dim, &rng);
    ref_fill_uniform(c, nc * dim, &rng);

    vs_context *big = make_context(NULL);
    vs_options opts;
    vs_options_init(&opts);
    opts.arena_bytes = 4096;   /* one page: a handful of queries per chunk */
    opts.scratch_bytes = 4096; /* too small to pack a candidate block */
    vs_context *small = NULL;
    assert_int_equal(vs_context_create(&opts, &small), VS_OK);

    vs_corpus *corpus_big = NULL, *corpus_small = NULL;
    assert_int_equal(vs_corpus_create(big, c, nc, dim, &corpus_big), VS_OK);
    assert_int_equal(vs_corpus_create(small, c, nc, dim, &corpus_small), VS_OK);
    for (int m = 0; m < 3; m++) {
        vs_metric metric = (vs_metric)m;
        assert_int_equal(vs_score(big, metric, q, nq, c, nc, dim, s_big), VS_OK);
        assert_int_equal(vs_score(small, metric, q, nq, c, nc, dim, s_small), VS_OK);
        char why[256];
        assert_int_equal(ref_check_scores(metric, q, nq, c, nc, dim, s_small, 0, why, sizeof(why)),
                         0);
        assert_int_equal(vs_topk(small, metric, q, nq, c, nc, dim, k, ts_small, ti_small), VS_OK);
        assert_int_equal(
            ref_check_topk(metric, q, nq, c, nc, dim, k, ts_small, ti_small, why, sizeof(why)), 0);
        assert_int_equal(vs_corpus_topk(corpus_big, metric, q, nq, k, ts_big, ti_big), VS_OK);
        assert_int_equal(vs_corpus_topk(corpus_small, metric, q, nq, k, ts_small, ti_small), VS_OK);
        vs_batch_report report;
        vs_context_last_report(small, &report);
        assert_true(report.query_chunks > 1); /* the work was split, not dropped */
        assert_true(report.arena_high_water_bytes <= 4096);
        assert_memory_equal(ti_big, ti_small, sizeof(ti_big));
        assert_memory_equal(ts_big, ts_small, sizeof(ts_big));
    }
    vs_corpus_free(corpus_big);
    vs_corpus_free(corpus_small);
    vs_context_free(big);
    vs_context_free(small);

    /* An arena that cannot be mapped: the context is refused up front (its first
     * workspace is made at creation), with the reason logged. */
    vs_options_init(&opts);
    opts.device = "cpu";
    opts.arena_bytes = (size_t)1 << 60;
    log_capture capture = {0};
    opts.log = capture_log;
    opts.log_user = &capture;
    vs_context *impossible = NULL;
    assert_int_equal(vs_context_create(&opts, &impossible), VS_ERR_OUT_OF_MEMORY);
    assert_null(impossible);
    assert_non_null(strstr(capture.last, "arena"));

    free(q);
    free(c);
    free(s_big);
    free(s_small);
}

/* ---- merge ---------------------------------------------------------------------------- */

/* Top-k of a base scored in chunks and merged equals top-k of the whole base. */
static void test_topk_merge(void **state) {
    (void)state;
    vs_context *ctx = make_context(NULL);
    const size_t nq = 7, nc = 203, dim = 9;
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    ref_rng rng;
    ref_rng_seed(&rng, 99);
    ref_fill_small_ints(q, nq * dim, &rng); /* small integers: many exact ties */
    ref_fill_small_ints(c, nc * dim, &rng);
    c[50 * dim] = NAN;                    /* a NaN candidate in the first chunk */
    c[180 * dim + 1] = NAN;               /* and one in the last */
    const size_t ks[] = {1, 10, 60, 250}; /* 250 > nc: padding */
    const size_t chunks[] = {1, 40, 64, 203};
    for (int m = 0; m < 3; m++) {
        for (size_t ki = 0; ki < 4; ki++) {
            const size_t k = ks[ki];
            float *whole_s = malloc(nq * k * sizeof(float)),
                  *run_s = malloc(nq * k * sizeof(float));
            float *part_s = malloc(nq * k * sizeof(float));
            int64_t *whole_i = malloc(nq * k * sizeof(int64_t)),
                    *run_i = malloc(nq * k * sizeof(int64_t));
            int64_t *part_i = malloc(nq * k * sizeof(int64_t));
            assert_int_equal(vs_topk(ctx, (vs_metric)m, q, nq, c, nc, dim, k, whole_s, whole_i),
                             VS_OK);
            for (size_t ci = 0; ci < 4; ci++) {
                const size_t chunk = chunks[ci];
                for (size_t c0 = 0; c0 < nc; c0 += chunk) {
                    const size_t count = nc - c0 < chunk ? nc - c0 : chunk;
                    float *dst_s = c0 == 0 ? run_s : part_s;
                    int64_t *dst_i = c0 == 0 ? run_i : part_i;
                    assert_int_equal(vs_topk(ctx, (vs_metric)m, q, nq, c + c0 * dim, count, dim, k,
                                             dst_s, dst_i),
                                     VS_OK);
                    if (c0 > 0)
                        assert_int_equal(vs_topk_merge((vs_metric)m, nq, k, run_s, run_i, part_s,
                                                       part_i, (int64_t)c0),
                                         VS_OK);
                }
                for (size_t e = 0; e < nq * k; e++) {
                    if (run_i[e] != whole_i[e])
                        fail_msg("metric %d k %zu chunk %zu entry %zu: merged id %lld, whole %lld",
                                 m, k, chunk, e, (long long)run_i[e], (long long)whole_i[e]);
                    assert_memory_equal(&run_s[e], &whole_s[e], sizeof(float));
                }
            }
            free(whole_s);
            free(run_s);
            free(part_s);
            free(whole_i);
            free(run_i);
            free(part_i);
        }
    }
    /* Bad arguments write nothing. */
    float s[2] = {1, 2}, ms[2] = {3, 4};
    int64_t i[2] = {0, 1}, mi[2] = {0, INT64_MAX};
    assert_int_equal(vs_topk_merge(VS_METRIC_DOT, 1, 2, s, i, ms, mi, 5), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_topk_merge(VS_METRIC_DOT, 1, 0, s, i, ms, mi, 0), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_topk_merge(VS_METRIC_DOT, 1, 2, s, i, NULL, mi, 0),
                     VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_topk_merge((vs_metric)7, 1, 2, s, i, ms, mi, 0), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_topk_merge(VS_METRIC_DOT, 1, 2, s, i, ms, mi, -1), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_topk_merge(VS_METRIC_DOT, SIZE_MAX, 2, s, i, ms, mi, 0),
                     VS_ERR_INVALID_ARGUMENT);
    assert_float_equal(s[0], 1, 0);
    assert_int_equal(i[1], 1);
    assert_int_equal(vs_topk_merge(VS_METRIC_DOT, 0, 2, NULL, NULL, NULL, NULL, 0), VS_OK);
    free(q);
    free(c);
    vs_context_free(ctx);
}

/* ---- reports --------------------------------------------------------------------- */

static void test_report(void **state) {
    (void)state;
    setenv("VECSCORE_DEVICE", "cpu", 1);
    vs_context *ctx = make_context(NULL);
    unsetenv("VECSCORE_DEVICE");
    vs_batch_report report;
    assert_int_equal(vs_context_last_report(ctx, &report), VS_OK);
    assert_int_equal(report.struct_size, sizeof(report));
    assert_int_equal(report.version, VS_REPORT_VERSION);
    assert_string_equal(report.backend, "");

    const size_t nq = 64, nc = 3000, dim = 64;
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    ref_rng rng;
    ref_rng_seed(&rng, 13);
    ref_fill_uniform(q, nq * dim, &rng);
    ref_fill_uniform(c, nc * dim, &rng);
    float s[64 * 5];
    int64_t ids[64 * 5];
    assert_int_equal(vs_topk(ctx, VS_METRIC_COSINE, q, nq, c, nc, dim, 5, s, ids), VS_OK);
    assert_int_equal(vs_context_last_report(ctx, &report), VS_OK);
    assert_string_equal(report.backend, "cpu");
    assert_string_equal(report.isa, vs_context_isa(ctx));
    assert_string_equal(report.fallback, ""); /* "cpu" was asked for */
    assert_non_null(strstr(report.device, "CPU"));
    assert_int_equal(report.status, 0);
    assert_int_equal(report.metric, VS_METRIC_COSINE);
    assert_int_equal(report.queries, nq);
    assert_int_equal(report.candidates, nc);
    assert_int_equal(report.dim, dim);
    assert_int_equal(report.k, 5);
    assert_true(report.threads >= 1);
    assert_int_equal(report.query_chunks, 1);
    assert_true(report.arena_high_water_bytes > nq * dim * sizeof(float)); /* queries staged */
    assert_true(report.arena_high_water_bytes <= report.arena_capacity_bytes);
    assert_int_equal(report.bytes_copied, 0);
    assert_true(report.total_seconds > 0 && report.total_seconds >= report.kernel_seconds);

    char text[2048];
    size_t length = vs_batch_report_format(&report, text, sizeof(text));
    assert_int_equal(length, strlen(text));
    assert_non_null(strstr(text, "backend=cpu\n"));
    assert_non_null(strstr(text, "queries=64\n"));

    /* a failed batch does not replace the report with garbage: it is not a batch */
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, c, 1, 0, s), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_context_last_report(ctx, &report), VS_OK);
    assert_int_equal(report.queries, nq);
    free(q);
    free(c);
    vs_context_free(ctx);
}

/* ---- verification mode ------------------------------------------------------------- */

static void test_verify(void **state) {
    (void)state;
    vs_options opts;
    vs_options_init(&opts);
    opts.verify = 1;
    vs_context *ctx = NULL;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    const size_t nq = 20, nc = 300, dim = 77;
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    float *s = malloc(nq * nc * sizeof(float));
    int64_t ids[20 * 10];
    ref_rng rng;
    ref_rng_seed(&rng, 14);
    ref_fill_uniform(q, nq * dim, &rng);
    ref_fill_uniform(c, nc * dim, &rng);
    c[5 * dim] = NAN; /* NaN scores agree with NaN references */
    vs_corpus *corpus = NULL;
    assert_int_equal(vs_corpus_create(ctx, c, nc, dim, &corpus), VS_OK);
    for (int m = 0; m < 3; m++) {
        assert_int_equal(vs_score(ctx, (vs_metric)m, q, nq, c, nc, dim, s), VS_OK);
        assert_int_equal(vs_topk(ctx, (vs_metric)m, q, nq, c, nc, dim, 10, s, ids), VS_OK);
        assert_int_equal(vs_corpus_score(corpus, (vs_metric)m, q, nq, s), VS_OK);
        assert_int_equal(vs_corpus_topk(corpus, (vs_metric)m, q, nq, 10, s, ids), VS_OK);
    }
    vs_corpus_free(corpus);
    free(q);
    free(c);
    free(s);
    vs_context_free(ctx);
}

/* ---- output memory --------------------------------------------------------------- */

static void test_alloc_output(void **state) {
    (void)state;
    assert_null(vs_alloc_output(0));
    assert_null(vs_alloc_output(SIZE_MAX));
    float *out = vs_alloc_output(1000 * sizeof(float));
    assert_non_null(out);
    assert_int_equal((uintptr_t)out % 4096, 0);
    for (int i = 0; i < 1024; i++)
        out[i] = (float)i; /* rounded up to whole pages */
    vs_context *ctx = make_context(NULL);
    float q[2] = {1, 1};
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, q, 1, 2, out), VS_OK);
    assert_true(out[0] == 2.0f);
    vs_context_free(ctx);
    vs_free_output(out);
    vs_free_output(NULL);
}

/* ---- strict parsing of selectors and numeric environment variables ------------------------ */

static int create_logged(vs_options *opts, log_capture *capture) {
    memset(capture, 0, sizeof(*capture));
    opts->log = capture_log;
    opts->log_user = capture;
    vs_context *ctx = NULL;
    int status = vs_context_create(opts, &ctx);
    if (status == VS_OK) vs_context_free(ctx);
    if (status != VS_OK) assert_null(ctx);
    return status;
}

static void test_selector_parsing(void **state) {
    (void)state;
    /* Malformed or out-of-range selectors: a bad option naming the selector, never another
     * device (opencl:4294967296:0 used to wrap to 0:0). */
    const char *bad[] = {"opencl:4294967296:0",
                         "opencl:0:4294967296",
                         "opencl:18446744073709551616:0",
                         "opencl:-1:0",
                         "opencl:0:-0",
                         "opencl:+0:0",
                         "opencl: 0:0",
                         "opencl:0: 0",
                         "opencl:0:0 ",
                         "opencl:\t0:0",
                         "opencl:0:0x",
                         "opencl:0x0:0",
                         "opencl:0:1e0",
                         "opencl:0",
                         "opencl:0:0:0",
                         "opencl::0",
                         "opencl:0:",
                         "opencl:",
                         "opencl:16:0",
                         "opencl:0:64",
                         "opencl:name=",
                         " cpu",
                         "cpu ",
                         "CPU",
                         "opencl ",
                         ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vs_options opts;
        vs_options_init(&opts);
        opts.device = bad[i];
        log_capture capture;
        int status = create_logged(&opts, &capture);
        if (status != VS_ERR_INVALID_ARGUMENT)
            fail_msg("selector '%s': %s", bad[i], vs_status_name(status));
        char quoted[96];
        snprintf(quoted, sizeof(quoted), "'%s'", bad[i]);
        if (strstr(capture.last, quoted) == NULL)
            fail_msg("selector '%s': message does not name it: %s", bad[i], capture.last);
    }
    /* The index that overflows is named, with the range that is accepted. */
    vs_options opts;
    vs_options_init(&opts);
    opts.device = "opencl:4294967296:0";
    log_capture capture;
    assert_int_equal(create_logged(&opts, &capture), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(capture.last, "platform index '4294967296': it is out of range"));
    assert_non_null(strstr(capture.last, "P in 0..15"));
    /* Through the environment: the message names the variable too. */
    vs_options_init(&opts);
    setenv("VECSCORE_DEVICE", "opencl:0:+1", 1);
    assert_int_equal(create_logged(&opts, &capture), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(capture.last, "environment variable VECSCORE_DEVICE"));
    assert_non_null(strstr(capture.last, "'opencl:0:+1'"));
    unsetenv("VECSCORE_DEVICE");
    /* Well-formed selectors still parse: ones that match nothing say so (not "bad option"). */
    opts.device = "opencl:15:63";
    int status = create_logged(&opts, &capture);
    assert_true(status == VS_ERR_NO_DEVICE);
    opts.device = "cpu";
    assert_int_equal(create_logged(&opts, &capture), VS_OK);
}

static void test_environment_numbers(void **state) {
    (void)state;
    const char *vars[] = {"VECSCORE_ARENA_BYTES", "VECSCORE_SCRATCH_BYTES", "VECSCORE_THREADS",
                          "VECSCORE_VERIFY", "VECSCORE_LOG_LEVEL"};
    /* Signs, blanks on either side, junk, base prefixes, exponents, overflow, empty. */
    const char *bad[] = {" -1", "-1",  "+1",  " 1",   "1 ",
                         "\t1", "1\n", "1x",  "0x10", "1e3",
                         "",    "1.",  "1,0", "0b1",  "99999999999999999999"};
    for (size_t v = 0; v < sizeof(vars) / sizeof(vars[0]); v++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            setenv(vars[v], bad[i], 1);
            vs_options opts;
            vs_options_init(&opts);
            opts.device = "cpu";
            log_capture capture;
            int status = create_logged(&opts, &capture);
            unsetenv(vars[v]);
            if (status != VS_ERR_INVALID_ARGUMENT)
                fail_msg("%s='%s': %s", vars[v], bad[i], vs_status_name(status));
            char expect[128];
            snprintf(expect, sizeof(expect), "environment variable %s has an invalid value '%s'",
                     vars[v], bad[i]);
            if (strstr(capture.last, expect) == NULL)
                fail_msg("%s='%s': message: %s", vars[v], bad[i], capture.last);
        }
    }
    /* Byte sizes: a suffix multiplies; a suffixed value that overflows is refused. */
    const struct {
        const char *text;
        int ok;
    } sizes[] = {{"17179869184G", 0}, {"18446744073709551616", 0},
                 {"1KK", 0},          {"0", 0},
                 {"1 K", 0},          {"2k", 1},
                 {"3K", 1},           {"0003", 1}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        setenv("VECSCORE_SCRATCH_BYTES", sizes[i].text, 1);
        vs_options opts;
        vs_options_init(&opts);
        opts.device = "cpu";
        log_capture capture;
        int status = create_logged(&opts, &capture);
        unsetenv("VECSCORE_SCRATCH_BYTES");
        if (status != (sizes[i].ok ? VS_OK : VS_ERR_INVALID_ARGUMENT))
            fail_msg("VECSCORE_SCRATCH_BYTES='%s': %s", sizes[i].text, vs_status_name(status));
    }
    setenv("VECSCORE_ARENA_BYTES", "8K", 1);
    vs_context *ctx = make_context(NULL);
    float q[4] = {1, 2, 3, 4}, s[1];
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, q, 1, 4, s), VS_OK);
    vs_batch_report report;
    assert_int_equal(vs_context_last_report(ctx, &report), VS_OK);
    assert_int_equal(report.arena_capacity_bytes, 8192);
    vs_context_free(ctx);
    unsetenv("VECSCORE_ARENA_BYTES");
    /* Ranges: threads 0..4096, verify 0..1, log level 0..3 or a name. */
    const struct {
        const char *name, *text;
        int ok;
    } ranges[] = {{"VECSCORE_THREADS", "4097", 0},    {"VECSCORE_THREADS", "3", 1},
                  {"VECSCORE_VERIFY", "2", 0},        {"VECSCORE_VERIFY", "1", 1},
                  {"VECSCORE_LOG_LEVEL", "4", 0},     {"VECSCORE_LOG_LEVEL", "3", 1},
                  {"VECSCORE_LOG_LEVEL", "info", 1},  {"VECSCORE_LOG_LEVEL", "INFO", 0},
                  {"VECSCORE_LOG_LEVEL", " warn", 0}, {"VECSCORE_THREADS", "2147483648", 0}};
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        setenv(ranges[i].name, ranges[i].text, 1);
        vs_options opts;
        vs_options_init(&opts);
        opts.device = "cpu";
        log_capture capture;
        int status = create_logged(&opts, &capture);
        unsetenv(ranges[i].name);
        if (status != (ranges[i].ok ? VS_OK : VS_ERR_INVALID_ARGUMENT))
            fail_msg("%s='%s': %s", ranges[i].name, ranges[i].text, vs_status_name(status));
        if (!ranges[i].ok) assert_non_null(strstr(capture.last, ranges[i].name));
    }
    setenv("VECSCORE_THREADS", "3", 1);
    ctx = make_context(NULL);
    assert_int_equal(vs_context_threads(ctx), capped_threads(3));
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, q, 1, 4, s), VS_OK);
    assert_int_equal(vs_context_last_report(ctx, &report), VS_OK);
    assert_int_equal(report.threads_requested, 3);
    vs_context_free(ctx);
    unsetenv("VECSCORE_THREADS");
}

int main(void) {
    unsetenv("VECSCORE_THREADS");
    unsetenv("VECSCORE_ISA");
    unsetenv("VECSCORE_DEVICE");
    unsetenv("VECSCORE_ARENA_BYTES");
    unsetenv("VECSCORE_SCRATCH_BYTES");
    unsetenv("VECSCORE_VERIFY");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_defaults),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_environment_overrides),
        cmocka_unit_test(test_forced_isa),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_empty_and_padding),
        cmocka_unit_test(test_corpus_copies),
        cmocka_unit_test(test_small_arenas_split),
        cmocka_unit_test(test_topk_merge),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_alloc_output),
        cmocka_unit_test(test_selector_parsing),
        cmocka_unit_test(test_environment_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
