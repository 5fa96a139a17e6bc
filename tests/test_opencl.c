/*
 * test_opencl.c — the OpenCL backend on PoCL's CPU device (CI installs
 * pocl-opencl-icd): device list, agreement with the float64 reference and
 * with the CPU backend, zero-copy outputs, a corpus split over many device
 * allocations, the program binary cache, and fault injection.
 *
 * These tests fail (they do not skip) when no OpenCL device is present.
 * Run with --no-platform under OCL_ICD_VENDORS=<empty dir> to check the
 * behaviour without any OpenCL platform instead.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl/cl_calls.h"
#include "reference.h"
#include "vecscore.h"

typedef struct log_capture {
    char last[512];
    int errors;
} log_capture;

static void capture_log(void *user, vs_log_level level, const char *message) {
    log_capture *capture = user;
    if (capture == NULL) return;
    if (level == VS_LOG_ERROR) capture->errors++;
    snprintf(capture->last, sizeof(capture->last), "%s", message);
}

static char cache_dir[200];

static vs_context *open_device(const char *selector, log_capture *capture, int *status) {
    vs_options opts;
    vs_options_init(&opts);
    opts.device = selector;
    opts.cache_dir = cache_dir;
    opts.log = capture_log;
    opts.log_user = capture;
    vs_context *ctx = NULL;
    *status = vs_context_create(&opts, &ctx);
    return ctx;
}

/* The context keeps the log target: it must outlive the context. */
static log_capture must_open_log;

static vs_context *must_open(const char *selector) {
    log_capture *capture = &must_open_log;
    int status;
    vs_context *ctx = open_device(selector, capture, &status);
    if (status != VS_OK)
        fail_msg("vs_context_create(%s) = %s: %s (is pocl-opencl-icd installed?)", selector,
                 vs_status_name(status), capture->last);
    return ctx;
}

/* ---- devices ------------------------------------------------------------------------ */

static void test_devices(void **state) {
    (void)state;
    int count = vs_device_count();
    if (count < 2)
        fail_msg("no OpenCL device found (%s); install pocl-opencl-icd", vs_opencl_status());
    assert_string_equal(vs_opencl_status(), "");
    vs_device info;
    assert_int_equal(vs_device_info(0, &info), VS_OK);
    assert_int_equal(info.kind, VS_DEVICE_NATIVE_CPU);
    assert_string_equal(info.selector, "cpu");
    int found_cpu_device = 0;
    for (int i = 1; i < count; i++) {
        assert_int_equal(vs_device_info(i, &info), VS_OK);
        assert_true(info.kind != VS_DEVICE_NATIVE_CPU);
        assert_true(strncmp(info.selector, "opencl:", 7) == 0);
        assert_true(info.name[0] != '\0');
        assert_true(info.compute_units > 0);
        assert_true(info.max_alloc_bytes > 0);
        assert_true(info.global_mem_bytes >= info.max_alloc_bytes);
        assert_true(info.base_align_bytes > 0);
        assert_int_equal(info.base_align_bytes & (info.base_align_bytes - 1), 0);
        if (info.kind == VS_DEVICE_OPENCL_CPU) {
            found_cpu_device = 1;
            assert_int_equal(info.auto_eligible, 0); /* auto never prefers PoCL */
        }
    }
    assert_true(found_cpu_device);
    assert_int_equal(vs_device_info(count, &info), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_device_info(-1, &info), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_device_info(0, NULL), VS_ERR_INVALID_ARGUMENT);
}

static void test_selectors(void **state) {
    (void)state;
    vs_device info;
    assert_int_equal(vs_device_info(1, &info), VS_OK);
    const char *selectors[] = {"opencl", info.selector, "opencl:name=pthread"};
    for (size_t i = 0; i < 3; i++) {
        if (i == 2 && strstr(info.name, "pthread") == NULL) continue; /* PoCL's naming */
        vs_context *ctx = must_open(selectors[i]);
        float q[3] = {1, 2, 3}, c[6] = {1, 0, 0, 0, 1, 0}, s[2];
        assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, c, 2, 3, s), VS_OK);
        vs_batch_report report;
        vs_context_last_report(ctx, &report);
        assert_string_equal(report.backend, "opencl");
        assert_string_equal(report.device, info.name);
        assert_float_equal(s[0], 1.0f, 0);
        assert_float_equal(s[1], 2.0f, 0);
        vs_context_free(ctx);
    }
    /* The environment selects when the option is left at "auto". */
    setenv("VECSCORE_DEVICE", "opencl", 1);
    vs_context *ctx = NULL;
    assert_int_equal(vs_context_create(NULL, &ctx), VS_OK);
    float q[2] = {1, 1}, s[1];
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, q, 1, 2, s), VS_OK);
    vs_batch_report report;
    vs_context_last_report(ctx, &report);
    assert_string_equal(report.backend, "opencl");
    vs_context_free(ctx);
    /* An explicit option beats the environment. */
    vs_options opts;
    vs_options_init(&opts);
    opts.device = "cpu";
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, q, 1, 2, s), VS_OK);
    vs_context_last_report(ctx, &report);
    assert_string_equal(report.backend, "cpu");
    vs_context_free(ctx);
    unsetenv("VECSCORE_DEVICE");

    /* "auto" never picks PoCL's CPU device; the report says why the CPU ran. */
    ctx = must_open("auto");
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, q, 1, 2, s), VS_OK);
    vs_context_last_report(ctx, &report);
    int has_gpu = 0;
    for (int i = 1; i < vs_device_count(); i++)
        if (vs_device_info(i, &info) == VS_OK && info.auto_eligible) has_gpu = 1;
    if (!has_gpu) {
        assert_string_equal(report.backend, "cpu");
        assert_non_null(strstr(report.fallback, "auto: no OpenCL GPU"));
    }
    vs_context_free(ctx);
}

/* ---- agreement ------------------------------------------------------------------------ */

/* Makes candidates with duplicated rows (exact ties), a zero row and a NaN row. */
static void make_data(float *q, size_t nq, float *c, size_t nc, size_t dim, uint64_t seed) {
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    ref_fill_uniform(q, nq * dim, &rng);
    ref_fill_uniform(c, nc * dim, &rng);
    if (nc >= 8) {
        memcpy(c + 5 * dim, c + 2 * dim, dim * sizeof(float)); /* tie: 2 and 5 */
        memcpy(c + 7 * dim, c + 2 * dim, dim * sizeof(float)); /* and 7 */
        memset(c + 3 * dim, 0, dim * sizeof(float));           /* zero vector */
        c[4 * dim + dim / 2] = NAN;                            /* NaN vector */
    }
    if (nq >= 3) {
        memset(q + 1 * dim, 0, dim * sizeof(float)); /* zero query */
        q[2 * dim] = NAN;                            /* NaN query */
    }
}

/* Same ids, and scores within the documented bound of each other, up to exact-tie order. */
static void compare_topk(const char *what, size_t nq, size_t k, const float *s1, const int64_t *i1,
                         const float *s2, const int64_t *i2) {
    for (size_t i = 0; i < nq * k; i++) {
        int both_nan = isnan(s1[i]) && isnan(s2[i]);
        if (i1[i] != i2[i] && !(s1[i] == s2[i] || both_nan) && fabsf(s1[i] - s2[i]) > 1e-4f)
            fail_msg("%s: entry %zu (query %zu rank %zu): device id %lld score %.9g, cpu id %lld "
                     "score %.9g",
                     what, i, i / k, i % k, (long long)i1[i], (double)s1[i], (long long)i2[i],
                     (double)s2[i]);
    }
}

static void check_agreement(vs_context *dev, vs_context *cpu, size_t nq, size_t nc, size_t dim,
                            size_t k, int use_corpus, size_t misalign) {
    void *qbase, *cbase;
    float *q = ref_alloc_floats(nq * dim + 1, misalign, &qbase);
    float *c = ref_alloc_floats(nc * dim + 1, misalign, &cbase);
    make_data(q, nq, c, nc, dim, 1000 + nq * 7 + nc * 3 + dim);
    const size_t out = nq * k > 0 ? nq * k : 1, full = nq * nc > 0 ? nq * nc : 1;
    float *s1 = malloc(out * sizeof(float)), *s2 = malloc(out * sizeof(float));
    int64_t *i1 = malloc(out * sizeof(int64_t)), *i2 = malloc(out * sizeof(int64_t));
    float *f1 = malloc(full * sizeof(float));
    char why[512], what[160];
    for (int m = 0; m < 3; m++) {
        vs_metric metric = (vs_metric)m;
        snprintf(what, sizeof(what), "%s nq %zu nc %zu dim %zu k %zu %s misalign %zu",
                 vs_metric_name(metric), nq, nc, dim, k, use_corpus ? "corpus" : "simple",
                 misalign);
        vs_corpus *corpus = NULL;
        if (use_corpus) {
            assert_int_equal(vs_corpus_create(dev, c, nc, dim, &corpus), VS_OK);
            assert_int_equal(vs_corpus_topk(corpus, metric, q, nq, k, s1, i1), VS_OK);
        } else {
            assert_int_equal(vs_topk(dev, metric, q, nq, c, nc, dim, k, s1, i1), VS_OK);
        }
        vs_batch_report report;
        vs_context_last_report(dev, &report);
        if (strcmp(report.backend, "opencl") != 0)
            fail_msg("%s: ran on %s (%s)", what, report.backend, report.fallback);
        if (ref_check_topk(metric, q, nq, c, nc, dim, k, s1, i1, why, sizeof(why)))
            fail_msg("%s: device top-k: %s", what, why);
        assert_int_equal(vs_topk(cpu, metric, q, nq, c, nc, dim, k, s2, i2), VS_OK);
        compare_topk(what, nq, k, s1, i1, s2, i2);
        if (use_corpus)
            assert_int_equal(vs_corpus_score(corpus, metric, q, nq, f1), VS_OK);
        else
            assert_int_equal(vs_score(dev, metric, q, nq, c, nc, dim, f1), VS_OK);
        vs_context_last_report(dev, &report);
        assert_string_equal(report.backend, "opencl");
        if (ref_check_scores(metric, q, nq, c, nc, dim, f1, 0, why, sizeof(why)))
            fail_msg("%s: device scores: %s", what, why);
        vs_corpus_free(corpus);
    }
    free(s1);
    free(s2);
    free(i1);
    free(i2);
    free(f1);
    free(qbase);
    free(cbase);
}

/*
 * kernel: "tile" (GPU-style) or "rows" (CPU-style) scoring kernel; fused: "1"
 * to score and select in one kernel where k allows it (rows only), "0" not to.
 */
static void run_agreement(const char *kernel, const char *fused) {
    setenv("VECSCORE_CL_KERNEL", kernel, 1);
    setenv("VECSCORE_CL_FUSED", fused, 1);
    vs_context *dev = must_open("opencl");
    unsetenv("VECSCORE_CL_KERNEL");
    unsetenv("VECSCORE_CL_FUSED");
    vs_context *cpu = must_open("cpu");
    const size_t dims[] = {1, 2, 3, 7, 15, 16, 17, 31, 100, 768};
    for (size_t i = 0; i < sizeof(dims) / sizeof(*dims); i++) {
        const size_t dim = dims[i];
        check_agreement(dev, cpu, 5, 37, dim, 4, (int)(i % 2), i % 3);
        check_agreement(dev, cpu, 3, 9, dim, 12, (int)((i + 1) % 2), 1); /* k > n */
    }
    check_agreement(dev, cpu, 33, 1000, 64, 1, 1, 0);   /* k = 1 */
    check_agreement(dev, cpu, 17, 300, 33, 300, 0, 0);  /* k = n */
    check_agreement(dev, cpu, 70, 20000, 24, 10, 1, 2); /* several tiles, merged */
    check_agreement(dev, cpu, 2, 9000, 4099, 5, 1, 0);  /* dim 4099 over two tiles */
    vs_context_free(dev);
    vs_context_free(cpu);
}

/* Every kernel path runs on every device; PoCL defaults to "rows" (fused), GPUs to "tile". */
static void test_agreement_rows_fused(void **state) {
    (void)state;
    run_agreement("rows", "1");
}

static void test_agreement_rows_separate(void **state) {
    (void)state;
    run_agreement("rows", "0");
}

static void test_agreement_tile_kernel(void **state) {
    (void)state;
    run_agreement("tile", "0");
}

static void test_empty_and_invalid(void **state) {
    (void)state;
    vs_context *dev = must_open("opencl");
    float q[4] = {1, 2, 3, 4}, c[4] = {4, 3, 2, 1};
    float s[6];
    int64_t ids[6];
    for (int i = 0; i < 6; i++) {
        s[i] = 42;
        ids[i] = 42;
    }
    /* nc = 0: padding only, written by the device. */
    assert_int_equal(vs_topk(dev, VS_METRIC_L2SQ, q, 2, c, 0, 2, 3, s, ids), VS_OK);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(ids[i], -1);
        assert_true(isinf(s[i]) && s[i] > 0);
    }
    assert_int_equal(vs_topk(dev, VS_METRIC_DOT, q, 2, c, 0, 2, 3, s, ids), VS_OK);
    for (int i = 0; i < 6; i++)
        assert_true(isinf(s[i]) && s[i] < 0);
    /* nq = 0 writes nothing. */
    s[0] = 42;
    assert_int_equal(vs_topk(dev, VS_METRIC_DOT, q, 0, c, 2, 2, 3, s, ids), VS_OK);
    assert_float_equal(s[0], 42, 0);
    /* Invalid arguments are refused before the device is touched. */
    assert_int_equal(vs_topk(dev, VS_METRIC_DOT, q, 1, c, 1, 0, 1, s, ids),
                     VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_topk(dev, VS_METRIC_DOT, q, 1, c, 1, 4, 0, s, ids),
                     VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_score(dev, VS_METRIC_DOT, q, 1, NULL, 1, 4, s), VS_ERR_INVALID_ARGUMENT);
    assert_float_equal(s[0], 42, 0);
    vs_context_free(dev);
}

/* ---- memory ------------------------------------------------------------------------------ */

static void test_zero_copy(void **state) {
    (void)state;
    vs_context *dev = must_open("opencl");
    const size_t nq = 20, nc = 500, dim = 48, k = 7;
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    make_data(q, nq, c, nc, dim, 77);
    vs_corpus *corpus;
    assert_int_equal(vs_corpus_create(dev, c, nc, dim, &corpus), VS_OK);
    char why[512];
    vs_batch_report report;

    /* Aligned outputs (vs_alloc_output): written in place, nothing copied back. */
    float *scores = vs_alloc_output(nq * k * sizeof(float));
    int64_t *ids = vs_alloc_output(nq * k * sizeof(int64_t));
    assert_int_equal(vs_corpus_topk(corpus, VS_METRIC_COSINE, q, nq, k, scores, ids), VS_OK);
    vs_context_last_report(dev, &report);
    assert_string_equal(report.backend, "opencl");
    assert_int_equal(report.bytes_mapped, nq * k * (sizeof(float) + sizeof(int64_t)));
    assert_int_equal(report.bytes_copied, nq * dim * sizeof(float) + nq * sizeof(float));
    assert_true(report.arena_pinned);
    assert_true(report.arena_high_water_bytes >= nq * dim * sizeof(float));
    if (ref_check_topk(VS_METRIC_COSINE, q, nq, c, nc, dim, k, scores, ids, why, sizeof(why)))
        fail_msg("zero-copy top-k: %s", why);
    float *matrix = vs_alloc_output(nq * nc * sizeof(float));
    assert_int_equal(vs_corpus_score(corpus, VS_METRIC_L2SQ, q, nq, matrix), VS_OK);
    vs_context_last_report(dev, &report);
    assert_int_equal(report.bytes_mapped, nq * nc * sizeof(float));
    if (ref_check_scores(VS_METRIC_L2SQ, q, nq, c, nc, dim, matrix, 0, why, sizeof(why)))
        fail_msg("zero-copy scores: %s", why);

    /* Misaligned outputs: staged and copied, and counted as such. */
    void *sbase, *ibase;
    float *s2 = ref_alloc_floats(nq * k, 1, &sbase);
    int64_t *raw = malloc((nq * k + 1) * sizeof(int64_t));
    ibase = raw;
    int64_t *i2 = raw + 1;
    assert_int_equal(vs_corpus_topk(corpus, VS_METRIC_COSINE, q, nq, k, s2, i2), VS_OK);
    vs_context_last_report(dev, &report);
    assert_int_equal(report.bytes_mapped, 0);
    assert_true(report.bytes_copied >= nq * k * (sizeof(float) + sizeof(int64_t)));
    for (size_t i = 0; i < nq * k; i++) {
        assert_int_equal(i2[i], ids[i]);
        assert_memory_equal(&s2[i], &scores[i], sizeof(float));
    }
    void *mbase;
    float *m2 = ref_alloc_floats(nq * nc, 3, &mbase);
    assert_int_equal(vs_corpus_score(corpus, VS_METRIC_L2SQ, q, nq, m2), VS_OK);
    vs_context_last_report(dev, &report);
    assert_int_equal(report.bytes_mapped, 0);
    assert_true(report.bytes_copied >= nq * nc * sizeof(float));
    assert_memory_equal(m2, matrix, nq * nc * sizeof(float));
    free(mbase);
    free(sbase);
    free(ibase);
    vs_free_output(scores);
    vs_free_output(ids);
    vs_free_output(matrix);
    vs_corpus_free(corpus);
    free(q);
    free(c);
    vs_context_free(dev);
}

static void test_corpus_split(void **state) {
    (void)state;
    /* Pretend the device's largest allocation is 40 KiB: the corpus is split into parts. */
    setenv("VECSCORE_CL_MAX_ALLOC_BYTES", "40960", 1);
    vs_context *dev = must_open("opencl");
    unsetenv("VECSCORE_CL_MAX_ALLOC_BYTES");
    vs_context *cpu = must_open("cpu");
    check_agreement(dev, cpu, 9, 3001, 29, 11, 1, 0); /* 88 rows per part: 35 parts */
    check_agreement(dev, cpu, 4, 700, 29, 6, 0, 1);
    vs_context_free(dev);
    vs_context_free(cpu);
}

/* A batch the device cannot take runs on the CPU and does not demote the device. */
static void test_batch_too_large_for_device(void **state) {
    (void)state;
    setenv("VECSCORE_CL_MAX_ALLOC_BYTES", "1000", 1); /* k = 200 lists need more */
    vs_context *dev = must_open("opencl");
    unsetenv("VECSCORE_CL_MAX_ALLOC_BYTES");
    const size_t nq = 3, nc = 200, dim = 2, k = 300;
    float q[6] = {1, 0, 0, 1, 1, 1}, *c = malloc(nc * dim * sizeof(float));
    for (size_t i = 0; i < nc * dim; i++)
        c[i] = (float)(i % 13) - 6.0f;
    float *s = malloc(nq * k * sizeof(float));
    int64_t *ids = malloc(nq * k * sizeof(int64_t));
    char why[512];
    vs_batch_report report;
    for (int round = 0; round < 5; round++) {
        assert_int_equal(vs_topk(dev, VS_METRIC_DOT, q, nq, c, nc, dim, k, s, ids), VS_OK);
        if (ref_check_topk(VS_METRIC_DOT, q, nq, c, nc, dim, k, s, ids, why, sizeof(why)))
            fail_msg("%s", why);
        vs_context_last_report(dev, &report);
        assert_string_equal(report.backend, "cpu");
        assert_non_null(strstr(report.fallback, "cannot take this batch"));
        assert_null(strstr(report.fallback, "demoted"));
    }
    /* Still on the device for what fits. */
    assert_int_equal(vs_topk(dev, VS_METRIC_DOT, q, nq, c, 20, dim, 3, s, ids), VS_OK);
    vs_context_last_report(dev, &report);
    assert_string_equal(report.backend, "opencl");
    free(c);
    free(s);
    free(ids);
    vs_context_free(dev);
}

/* ---- program cache ------------------------------------------------------------------------ */

static int first_batch(int *cache_state, double *compile_seconds) {
    vs_context *ctx = must_open("opencl");
    float q[4] = {1, 2, 3, 4}, s[1];
    int status = vs_score(ctx, VS_METRIC_DOT, q, 1, q, 1, 4, s);
    vs_batch_report report;
    vs_context_last_report(ctx, &report);
    *cache_state = report.program_cache;
    *compile_seconds = report.compile_seconds;
    if (status == VS_OK && s[0] != 30.0f) status = -100;
    vs_context_free(ctx);
    return status;
}

static void test_program_cache(void **state) {
    (void)state;
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/cache-test", cache_dir);
    char saved[200];
    snprintf(saved, sizeof(saved), "%s", cache_dir);
    snprintf(cache_dir, sizeof(cache_dir), "%.190s", dir); /* created by the library */
    int hit;
    double cold, warm;
    assert_int_equal(first_batch(&hit, &cold), VS_OK);
    assert_int_equal(hit, 1); /* compiled */
    assert_int_equal(first_batch(&hit, &warm), VS_OK);
    assert_int_equal(hit, 2); /* loaded from the cache, not recompiled */
    printf("# compile %.3f s cold, %.3f s from cache\n", cold, warm);

    /* A corrupt entry is deleted and rebuilt. */
    char command[600];
    snprintf(command, sizeof(command),
             "for f in %s/vecscore-*.clbin; do printf garbage > \"$f\"; done", dir);
    assert_int_equal(system(command), 0);
    assert_int_equal(first_batch(&hit, &warm), VS_OK);
    assert_int_equal(hit, 1);
    assert_int_equal(first_batch(&hit, &warm), VS_OK);
    assert_int_equal(hit, 2);
    /* A truncated entry too. */
    snprintf(
        command, sizeof(command),
        "for f in %s/vecscore-*.clbin; do head -c 100 \"$f\" > \"$f.t\" && mv \"$f.t\" \"$f\"; "
        "done",
        dir);
    assert_int_equal(system(command), 0);
    assert_int_equal(first_batch(&hit, &warm), VS_OK);
    assert_int_equal(hit, 1);
    snprintf(cache_dir, sizeof(cache_dir), "%.190s", saved);
}

/* ---- faults ------------------------------------------------------------------------------- */

/* One complete use of the device; returns VS_OK with correct results, or a clean error. */
static int use_device_once(const float *q, size_t nq, const float *c, size_t nc, size_t dim,
                           size_t k, const float *expect_s, const int64_t *expect_i,
                           int *ran_on_device) {
    log_capture capture = {{0}, 0};
    int status;
    vs_context *ctx = open_device("opencl", &capture, &status);
    if (status != VS_OK) {
        assert_null(ctx);
        assert_true(status == VS_ERR_DEVICE || status == VS_ERR_NO_DEVICE ||
                    status == VS_ERR_OUT_OF_MEMORY);
        assert_true(capture.last[0] != '\0'); /* the failure was explained */
        return status;
    }
    float *s = vs_alloc_output(nq * k * sizeof(float));
    int64_t *ids = vs_alloc_output(nq * k * sizeof(int64_t));
    vs_corpus *corpus = NULL;
    *ran_on_device = 1;
    for (int round = 0; round < 2; round++) {
        if (round == 0)
            status = vs_topk(ctx, VS_METRIC_COSINE, q, nq, c, nc, dim, k, s, ids);
        else if ((status = vs_corpus_create(ctx, c, nc, dim, &corpus)) == VS_OK)
            status = vs_corpus_topk(corpus, VS_METRIC_COSINE, q, nq, k, s, ids);
        /* Device failures inside a batch are re-run on the CPU: results are always right. */
        assert_int_equal(status, VS_OK);
        char why[512];
        if (ref_check_topk(VS_METRIC_COSINE, q, nq, c, nc, dim, k, s, ids, why, sizeof(why)))
            fail_msg("fault run: %s", why);
        compare_topk("fault run", nq, k, s, ids, expect_s, expect_i);
        vs_batch_report report;
        vs_context_last_report(ctx, &report);
        if (strcmp(report.backend, "opencl") != 0) {
            *ran_on_device = 0;
            assert_true(report.fallback[0] != '\0');
            assert_true(strstr(report.fallback, "CL_") != NULL ||
                        strstr(report.fallback, "device") != NULL);
        }
    }
    vs_corpus_free(corpus);
    vs_free_output(s);
    vs_free_output(ids);
    vs_context_free(ctx);
    return VS_OK;
}

static void test_fault_injection(void **state) {
    (void)state;
    const size_t nq = 6, nc = 300, dim = 20, k = 5;
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    make_data(q, nq, c, nc, dim, 5);
    float expect_s[6 * 5];
    int64_t expect_i[6 * 5];
    int ran = 0;
    /* The expected answer from a fault-free run on the device. */
    vs_context *dev = must_open("opencl");
    assert_int_equal(vs_topk(dev, VS_METRIC_COSINE, q, nq, c, nc, dim, k, expect_s, expect_i),
                     VS_OK);
    vs_context_free(dev);
    vs__cl_fail_after(0, 0);
    assert_int_equal(use_device_once(q, nq, c, nc, dim, k, expect_s, expect_i, &ran), VS_OK);
    const long calls = vs__cl_calls_made();
    assert_true(ran);
    assert_true(calls > 10);

    /* Fail call N (N = 1, 2, ...) until a run makes fewer than N calls. */
    long n = 1, fell_back = 0, refused = 0;
    for (;; n++) {
        vs__cl_fail_after(n, 0);
        int status = use_device_once(q, nq, c, nc, dim, k, expect_s, expect_i, &ran);
        long made = vs__cl_fail_after(0, 0);
        if (status != VS_OK) refused++;
        if (status == VS_OK && !ran) fell_back++;
        if (made < n) break; /* the failure point is past the end: a clean run */
        assert_true(n < 10000);
    }
    printf("# fault injection: %ld call sites, %ld refused at creation, %ld fell back to CPU\n",
           n - 1, refused, fell_back);
    assert_true(fell_back > 0);
    assert_true(refused > 0);

    /* Every call failing from some point on: repeated fallback, then demotion. */
    /* Outputs one element off the device alignment: results come back by copy, so a
     * dead device can never still be writing them while the CPU re-runs the batch. */
    dev = must_open("opencl");
    float *s_raw = vs_alloc_output((6 * 5 + 1) * sizeof(float)), *s = s_raw + 1;
    int64_t *ids_raw = vs_alloc_output((6 * 5 + 1) * sizeof(int64_t)), *ids = ids_raw + 1;
    assert_int_equal(vs_topk(dev, VS_METRIC_COSINE, q, nq, c, nc, dim, k, s, ids), VS_OK);
    vs__cl_fail_after(1, 1);
    vs_batch_report report;
    for (int round = 0; round < 5; round++) {
        assert_int_equal(vs_topk(dev, VS_METRIC_COSINE, q, nq, c, nc, dim, k, s, ids), VS_OK);
        compare_topk("after demotion", nq, k, s, ids, expect_s, expect_i);
        vs_context_last_report(dev, &report);
        assert_string_equal(report.backend, "cpu");
        if (round < 2) assert_non_null(strstr(report.fallback, "CL_OUT_OF_RESOURCES"));
        if (round == 2) assert_non_null(strstr(report.fallback, "demoted"));
        if (round > 2) assert_non_null(strstr(report.fallback, "uses the CPU"));
    }
    vs__cl_fail_after(0, 0);
    vs_context_free(dev);
    vs_free_output(s_raw);
    vs_free_output(ids_raw);
    free(q);
    free(c);
}

/* ---- threads ------------------------------------------------------------------------------ */

typedef struct thread_job {
    vs_context *ctx;
    vs_corpus *corpus;
    const float *q;
    const float *c;
    size_t nq, nc, dim, k;
    int metric;
    int failures;
} thread_job;

static void *thread_main(void *arg) {
    thread_job *job = arg;
    float *s = malloc(job->nq * job->k * sizeof(float));
    int64_t *ids = malloc(job->nq * job->k * sizeof(int64_t));
    char why[256];
    for (int round = 0; round < 6; round++) {
        int status = round % 2 ? vs_corpus_topk(job->corpus, (vs_metric)job->metric, job->q,
                                                job->nq, job->k, s, ids)
                               : vs_topk(job->ctx, (vs_metric)job->metric, job->q, job->nq, job->c,
                                         job->nc, job->dim, job->k, s, ids);
        if (status != VS_OK || ref_check_topk((vs_metric)job->metric, job->q, job->nq, job->c,
                                              job->nc, job->dim, job->k, s, ids, why, sizeof(why)))
            job->failures++;
    }
    /* Each thread reads the report of its own last batch. */
    vs_batch_report report;
    if (vs_context_last_report(job->ctx, &report) != VS_OK || strcmp(report.backend, "opencl") ||
        report.queries != job->nq)
        job->failures++;
    free(s);
    free(ids);
    return NULL;
}

/* Several threads share one OpenCL context and corpus; batches are serialised inside. */
static void test_threads_share_context(void **state) {
    (void)state;
    vs_context *dev = must_open("opencl");
    const size_t nq = 9, nc = 700, dim = 19, k = 6;
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    make_data(q, nq, c, nc, dim, 21);
    vs_corpus *corpus;
    assert_int_equal(vs_corpus_create(dev, c, nc, dim, &corpus), VS_OK);
    pthread_t threads[4];
    thread_job jobs[4];
    for (int t = 0; t < 4; t++) {
        jobs[t] = (thread_job){dev, corpus, q, c, nq, nc, dim, k, t % 3, 0};
        assert_int_equal(pthread_create(&threads[t], NULL, thread_main, &jobs[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(jobs[t].failures, 0);
    }
    /* Reports are per thread: this one ran no batch on dev. */
    vs_batch_report report;
    vs_context_last_report(dev, &report);
    assert_string_equal(report.backend, "");
    vs_corpus_free(corpus);
    free(q);
    free(c);
    vs_context_free(dev);
}

/* ---- auto: calibrated cost model ------------------------------------------------------- */

static const char *auto_batch(float *s, int64_t *ids) {
    static char backend[16];
    vs_context *ctx = must_open("auto");
    float q[64], c[64 * 40];
    for (int i = 0; i < 64; i++)
        q[i] = (float)(i % 7) - 3.0f;
    for (int i = 0; i < 64 * 40; i++)
        c[i] = (float)(i % 11) - 5.0f;
    assert_int_equal(vs_topk(ctx, VS_METRIC_L2SQ, q, 1, c, 40, 64, 5, s, ids), VS_OK);
    vs_batch_report report;
    vs_context_last_report(ctx, &report);
    snprintf(backend, sizeof(backend), "%s", report.backend);
    if (strcmp(backend, "cpu") == 0) assert_non_null(strstr(report.fallback, "cost model"));
    vs_context_free(ctx);
    return backend;
}

static void test_auto_cost_model(void **state) {
    (void)state;
    char saved[200], command[600];
    snprintf(saved, sizeof(saved), "%s", cache_dir);
    snprintf(cache_dir, sizeof(cache_dir), "%.150s/cost-test", saved);
    setenv("VECSCORE_AUTO_OPENCL_CPU", "1", 1); /* let auto weigh PoCL, as it would a GPU */

    /* First context: calibrates both sides and writes the cost file; PoCL loses to the CPU. */
    float s1[5], s2[5];
    int64_t i1[5], i2[5];
    assert_string_equal(auto_batch(s1, i1), "cpu");
    snprintf(command, sizeof(command), "test -s %s/cost-*.txt", cache_dir);
    assert_int_equal(system(command), 0);

    /* A cost file that makes the device look 1000x faster: auto now sends the call there. */
    snprintf(command, sizeof(command),
             "for f in %s/cost-*.txt; do echo 'vecscore-cost 1 1e-3 1e9 1e9 0 1e-9 1e15 1e15 0' > "
             "\"$f\"; done",
             cache_dir);
    assert_int_equal(system(command), 0);
    assert_string_equal(auto_batch(s2, i2), "opencl");
    assert_memory_equal(i1, i2, sizeof(i1));

    /* A corrupt cost file is measured again and rewritten. */
    snprintf(command, sizeof(command), "for f in %s/cost-*.txt; do echo junk > \"$f\"; done",
             cache_dir);
    assert_int_equal(system(command), 0);
    assert_string_equal(auto_batch(s2, i2), "cpu");
    snprintf(command, sizeof(command), "grep -q '^vecscore-cost 1 ' %s/cost-*.txt", cache_dir);
    assert_int_equal(system(command), 0);

    unsetenv("VECSCORE_AUTO_OPENCL_CPU");
    snprintf(cache_dir, sizeof(cache_dir), "%.190s", saved);
}

/* ---- without any OpenCL platform ----------------------------------------------------------- */

static void test_no_platform(void **state) {
    (void)state;
    assert_int_equal(vs_device_count(), 1);
    assert_non_null(strstr(vs_opencl_status(), "no OpenCL platform"));
    log_capture capture = {{0}, 0};
    int status;
    vs_context *ctx = open_device("opencl", &capture, &status);
    assert_int_equal(status, VS_ERR_NO_DEVICE);
    assert_null(ctx);
    assert_non_null(strstr(capture.last, "opencl"));
    assert_non_null(strstr(capture.last, "no OpenCL platform"));
    ctx = open_device("auto", &capture, &status);
    assert_int_equal(status, VS_OK);
    float q[2] = {1, 2}, s[1];
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, q, 1, 2, s), VS_OK);
    assert_float_equal(s[0], 5.0f, 0);
    vs_batch_report report;
    vs_context_last_report(ctx, &report);
    assert_string_equal(report.backend, "cpu");
    assert_non_null(strstr(report.fallback, "no OpenCL platform"));
    vs_context_free(ctx);
}

int main(int argc, char **argv) {
    snprintf(cache_dir, sizeof(cache_dir), "/tmp/vecscore-test-opencl-XXXXXX");
    if (mkdtemp(cache_dir) == NULL) return 1;
    int failed;
    if (getenv("VS_TEST_FILTER") != NULL) cmocka_set_test_filter(getenv("VS_TEST_FILTER"));
    if (argc > 1 && strcmp(argv[1], "--no-platform") == 0) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_no_platform)};
        failed = cmocka_run_group_tests(tests, NULL, NULL);
    } else {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_devices),
            cmocka_unit_test(test_selectors),
            cmocka_unit_test(test_agreement_rows_fused),
            cmocka_unit_test(test_agreement_rows_separate),
            cmocka_unit_test(test_agreement_tile_kernel),
            cmocka_unit_test(test_empty_and_invalid),
            cmocka_unit_test(test_zero_copy),
            cmocka_unit_test(test_corpus_split),
            cmocka_unit_test(test_batch_too_large_for_device),
            cmocka_unit_test(test_program_cache),
            cmocka_unit_test(test_fault_injection),
            cmocka_unit_test(test_auto_cost_model),
            cmocka_unit_test(test_threads_share_context),
        };
        failed = cmocka_run_group_tests(tests, NULL, NULL);
    }
    char command[400];
    snprintf(command, sizeof(command), "rm -rf '%s'", cache_dir);
    if (system(command) != 0) failed++;
    return failed;
}
