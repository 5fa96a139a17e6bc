/*
 * test_opencl.c — the OpenCL backend on PoCL's CPU device (CI installs
 * pocl-opencl-icd): device list, agreement with the float64 reference and
 * with the CPU backend, zero-copy outputs, a corpus split over many device
 * allocations, the program binary cache, and fault injection.
 *
 * These tests fail (they do not skip) when no OpenCL device is present.
 * Run with --no-platform under OCL_ICD_VENDORS=<empty dir> to check the
 * behaviour without any OpenCL platform instead.
 *
 * VECSCORE_TEST_DEVICE=<selector> (e.g. opencl:name=NVIDIA) picks the device
 * for the whole suite (default "opencl", the first device). Expectations
 * follow what the device reports (unified memory or not, its type), not
 * PoCL's facts. VECSCORE_CL_KERNELS=gpu|cpu forces a kernel family for every
 * context the suite opens that does not choose one itself.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
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
    char all[16384]; /* every message, one per line */
    size_t used;
} log_capture;

static void capture_log(void *user, vs_log_level level, const char *message) {
    log_capture *capture = user;
    if (capture == NULL) return;
    if (level == VS_LOG_ERROR) capture->errors++;
    snprintf(capture->last, sizeof(capture->last), "%s", message);
    size_t room = sizeof(capture->all) - capture->used;
    int n = snprintf(capture->all + capture->used, room, "%s\n", message);
    if (n > 0 && (size_t)n < room) capture->used += (size_t)n;
}

static char cache_dir[200];

/* The device under test: VECSCORE_TEST_DEVICE, else the first OpenCL device. */
static const char *test_device(void) {
    const char *selector = getenv("VECSCORE_TEST_DEVICE");
    return selector != NULL && selector[0] != '\0' ? selector : "opencl";
}

static vs_context *open_with(const char *selector, const char *dir, log_capture *capture,
                             int *status) {
    vs_options opts;
    vs_options_init(&opts);
    opts.device = selector;
    opts.cache_dir = dir;
    opts.log = capture_log;
    opts.log_user = capture;
    vs_context *ctx = NULL;
    *status = vs_context_create(&opts, &ctx);
    return ctx;
}

static vs_context *open_device(const char *selector, log_capture *capture, int *status) {
    return open_with(selector, cache_dir, capture, status);
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

/*
 * What the device under test reports about itself: a context on it runs one
 * batch, and the listed device with the name its report gives is returned
 * (its index, or fails the test).
 */
static int test_device_info(vs_device *out) {
    vs_context *ctx = must_open(test_device());
    float q[2] = {1, 2}, s[1];
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, q, 1, 2, s), VS_OK);
    vs_batch_report report;
    vs_context_last_report(ctx, &report);
    vs_context_free(ctx);
    if (strcmp(report.backend, "opencl") != 0)
        fail_msg("device %s ran a batch on %s (%s)", test_device(), report.backend,
                 report.fallback);
    for (int i = 1; i < vs_device_count(); i++)
        if (vs_device_info(i, out) == VS_OK && strcmp(out->name, report.device) == 0) return i;
    fail_msg("device %s ('%s') is not in the device list", test_device(), report.device);
    return -1;
}

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
        /* auto never prefers an OpenCL CPU device (PoCL); it weighs GPUs and accelerators. */
        assert_int_equal(info.auto_eligible, info.kind == VS_DEVICE_OPENCL_GPU ||
                                                 info.kind == VS_DEVICE_OPENCL_ACCELERATOR);
        assert_true(info.unified_memory == 0 || info.unified_memory == 1);
    }
    /* The device under test is one of them, with the facts the rest of the suite follows. */
    vs_device tested;
    const int index = test_device_info(&tested);
    assert_true(index >= 1 && index < count);
    assert_true(tested.kind == VS_DEVICE_OPENCL_CPU || tested.kind == VS_DEVICE_OPENCL_GPU ||
                tested.kind == VS_DEVICE_OPENCL_ACCELERATOR);
    assert_int_equal(vs_device_info(count, &info), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_device_info(-1, &info), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_device_info(0, NULL), VS_ERR_INVALID_ARGUMENT);
}

static void test_selectors(void **state) {
    (void)state;
    vs_device info;
    test_device_info(&info);
    const char *selectors[] = {test_device(), info.selector, "opencl:name=pthread"};
    for (size_t i = 0; i < 3; i++) {
        if (i == 2 && strstr(info.name, "pthread") == NULL) continue; /* PoCL's naming */
        vs_context *ctx = must_open(selectors[i]);
        float q[3] = {1, 2, 3}, c[6] = {1, 0, 0, 0, 1, 0}, s[2];
        assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, c, 2, 3, s), VS_OK);
        vs_batch_report report;
        vs_context_last_report(ctx, &report);
        assert_string_equal(report.backend, "opencl");
        assert_string_equal(report.device, info.name);
        /* Unforced, the family follows the device type; 1 query runs the stream kernel. */
        const char *forced = getenv("VECSCORE_CL_KERNELS");
        const char *family = forced != NULL && strcmp(forced, "auto") != 0
                                 ? forced
                                 : (info.kind == VS_DEVICE_OPENCL_CPU ? "cpu" : "gpu");
        assert_string_equal(report.kernel_family, family);
        assert_non_null(strstr(report.kernels,
                               strcmp(family, "cpu") == 0 ? "vs_score_rows" : "vs_score_stream"));
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

/* The family open_family asked for ("" when the context chose its own), whether it asked for
 * the fused kernel and for segment lists instead of threshold selection. */
static char expected_family[8];
static int expected_fused, expected_segments;
static const char *filter_setting;   /* VECSCORE_CL_FILTER for open_selection; NULL: unset */
static int expected_separate_filter; /* the threshold test as a pass of its own (vs_filter_tile) */

/*
 * The report names the family and the scoring kernel that must have run for
 * a batch of nq queries (score matrix or top-k) on the expected family.
 */
static void check_path(const char *what, const vs_batch_report *report, size_t nq, size_t nc,
                       size_t k) {
    const int topk = k > 0;
    if (expected_family[0] == '\0') return;
    if (strcmp(report->kernel_family, expected_family) != 0)
        fail_msg("%s: kernel family '%s', expected '%s'", what, report->kernel_family,
                 expected_family);
    const char *kernel = "vs_score_tile";
    if (strcmp(expected_family, "cpu") == 0)
        kernel = topk ? "vs_" : "vs_score_rows(";
    else if (strcmp(expected_family, "gpu") == 0)
        kernel = nq <= 32 ? "vs_score_stream(" : "vs_score_blocked(block ";
    if (strstr(report->kernels, kernel) == NULL)
        fail_msg("%s: kernels '%s' lack %s", what, report->kernels, kernel);
    /* Unfused top-k up to k = 2048 selects by threshold (survivor buffers, a work-group per
     * query); larger k, or VECSCORE_CL_SURVIVORS=0, by segment lists and a merge: a work-group
     * per query in the gpu family while (64 segments + 1) x k fit its 2048 local entries, else
     * one work-item per query. The cpu family's fused kernel selects by itself (k <= 32). */
    const size_t kept = k < nc ? k : nc;
    const int fused = strcmp(expected_family, "cpu") == 0 && expected_fused && k <= 32;
    const char *select = "vs_merge_";
    if (kept <= 2048 && !expected_segments)
        select = "vs_select_query";
    else if (strcmp(expected_family, "gpu") == 0 && k <= 31)
        select = "vs_merge_sorted";
    if (topk && !fused && strstr(report->kernels, select) == NULL)
        fail_msg("%s: kernels '%s' lack %s", what, report->kernels, select);
    /* The threshold test runs in the score kernel's epilogue (and overflowed rows are scored
     * again, vs_rescore_tile), unless VECSCORE_CL_FILTER=0 asks for the separate pass. */
    if (topk && !fused && strcmp(select, "vs_select_query") == 0) {
        const int separate = strstr(report->kernels, "vs_filter_tile") != NULL;
        const int in_epilogue = strstr(report->kernels, ", threshold test fused)") != NULL &&
                                strstr(report->kernels, "vs_rescore_tile") != NULL;
        if (separate != expected_separate_filter || in_epilogue == expected_separate_filter)
            fail_msg("%s: kernels '%s': the threshold test should run %s", what, report->kernels,
                     expected_separate_filter ? "separately" : "fused");
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
        if (nc > 0) check_path(what, &report, nq, nc, k);
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
        if (nc > 0 && nq > 0) check_path(what, &report, nq, nc, 0);
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
 * Opens the device under test with one kernel path: family "gpu" or "cpu"
 * (VECSCORE_CL_KERNELS), or "tile" (the 16x16 reference kernel,
 * VECSCORE_CL_KERNEL=tile); fused "1" to score and select in one kernel
 * where k allows it (cpu family only), "0" not to; survivors NULL for the
 * automatic survivor buffer of the threshold selection, "0" for segment
 * lists instead, "N" for N slots per query (VECSCORE_CL_SURVIVORS);
 * filter_setting, when set, is VECSCORE_CL_FILTER (0: the threshold test
 * as a separate pass). The suite's own VECSCORE_CL_KERNELS (a second CI run forces gpu) is put back
 * afterwards.
 */
static vs_context *open_selection(const char *family, const char *fused, const char *survivors) {
    const char *outer = getenv("VECSCORE_CL_KERNELS");
    char saved[16] = "";
    if (outer != NULL) snprintf(saved, sizeof(saved), "%s", outer);
    if (strcmp(family, "tile") == 0) {
        unsetenv("VECSCORE_CL_KERNELS");
        setenv("VECSCORE_CL_KERNEL", "tile", 1);
    } else {
        setenv("VECSCORE_CL_KERNELS", family, 1);
    }
    setenv("VECSCORE_CL_FUSED", fused, 1);
    if (survivors != NULL) setenv("VECSCORE_CL_SURVIVORS", survivors, 1);
    if (filter_setting != NULL) setenv("VECSCORE_CL_FILTER", filter_setting, 1);
    vs_context *dev = must_open(test_device());
    unsetenv("VECSCORE_CL_KERNEL");
    unsetenv("VECSCORE_CL_FUSED");
    unsetenv("VECSCORE_CL_SURVIVORS");
    unsetenv("VECSCORE_CL_FILTER");
    /* unset: fused on every family */
    expected_separate_filter = filter_setting != NULL && strcmp(filter_setting, "0") == 0;
    if (outer != NULL)
        setenv("VECSCORE_CL_KERNELS", saved, 1);
    else
        unsetenv("VECSCORE_CL_KERNELS");
    snprintf(expected_family, sizeof(expected_family), "%s", family); /* check_path's */
    expected_fused = strcmp(fused, "1") == 0;
    expected_segments = survivors != NULL && strcmp(survivors, "0") == 0;
    return dev;
}

static vs_context *open_family(const char *family, const char *fused) {
    vs_context *dev = open_selection(family, fused, NULL);
    expected_family[0] = '\0';
    return dev;
}

/* Top-k at large k: the threshold selection up to 2048, segment lists past it; one tile,
 * several tiles, k = n and k > n (padding). */
static void check_large_k(vs_context *dev, vs_context *cpu) {
    check_agreement(dev, cpu, 3, 20000, 16, 1000, 1, 0);
    check_agreement(dev, cpu, 2, 20000, 9, 2048, 0, 1);
    check_agreement(dev, cpu, 2, 9000, 5, 3000, 1, 0); /* k > 2048 */
    check_agreement(dev, cpu, 3, 1500, 7, 1500, 0, 0); /* k = n */
    check_agreement(dev, cpu, 3, 1500, 7, 1600, 1, 0); /* k > n */
    check_agreement(dev, cpu, 2, 2100, 3, 2500, 0, 2); /* k > n > 2048 */
}

static void run_agreement(const char *kernel, const char *fused) {
    vs_context *dev = open_selection(kernel, fused, NULL);
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
    check_agreement(dev, cpu, 40, 300, 4099, 3, 0, 1);  /* blocked: many slabs, a tail */
    if (strcmp(fused, "1") == 0) { /* the fused kernel at its largest k; past 32 as fused "0" */
        check_agreement(dev, cpu, 6, 20000, 16, 31, 1, 0);
        check_agreement(dev, cpu, 6, 20000, 16, 32, 0, 0);
        expected_family[0] = '\0';
        vs_context_free(dev);
        vs_context_free(cpu);
        return;
    }
    check_large_k(dev, cpu);
    expected_family[0] = '\0';
    vs_context_free(dev);
    /* The segment lists where the threshold selection would run: the gpu family's sorted
     * merge at its capacity (65 lists x 31 = 2015 entries), just past it (32: the
     * one-work-item merge instead) and well past it, over several tiles. */
    dev = open_selection(kernel, fused, "0");
    check_agreement(dev, cpu, 33, 1000, 64, 1, 1, 0);
    check_agreement(dev, cpu, 6, 20000, 16, 31, 1, 0);
    check_agreement(dev, cpu, 6, 20000, 16, 32, 0, 0);
    check_agreement(dev, cpu, 3, 20000, 16, 100, 1, 1);
    check_agreement(dev, cpu, 3, 1500, 7, 1600, 1, 0);
    expected_family[0] = '\0';
    vs_context_free(dev);
    vs_context_free(cpu);
}

/*
 * The threshold selection against the CPU, bit for bit: small-integer
 * vectors, so DOT and L2SQ are exact on both sides and most scores are
 * exact ties (the k-th often sits inside a run of equal scores, which the
 * lower id must win); NaN rows and zero rows; k from 1 past n; the
 * automatic survivor buffer and tiny ones (1 and 17 slots) that overflow
 * on every tile, so the select re-reads the tile. COSINE is checked
 * within the bound (its 1/|v| rounds differently on the device).
 */
static void check_selection_exact(vs_context *dev, vs_context *cpu, const char *label) {
    const size_t nq = 4, nc = 20000, dim = 6;
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    assert_non_null(q);
    assert_non_null(c);
    ref_rng rng;
    ref_rng_seed(&rng, 77);
    for (size_t i = 0; i < nc * dim; i++)
        c[i] = (float)ref_int(&rng, -1, 1);
    for (size_t i = 0; i < nq * dim; i++)
        q[i] = (float)ref_int(&rng, -2, 2);
    for (size_t r = 100; r < nc; r += 997)
        c[r * dim + 1] = NAN; /* NaN rows, after every other score */
    memset(c + 4000 * dim, 0, dim * sizeof(float));
    const size_t ks[] = {1, 10, 1000, 2048, 3000, nc, nc + 7};
    const size_t most = (nc + 7) * nq;
    float *s1 = malloc(most * sizeof(float)), *s2 = malloc(most * sizeof(float));
    int64_t *i1 = malloc(most * sizeof(int64_t)), *i2 = malloc(most * sizeof(int64_t));
    assert_true(s1 && s2 && i1 && i2);
    char why[512], what[160];
    for (size_t ki = 0; ki < sizeof(ks) / sizeof(*ks); ki++) {
        const size_t k = ks[ki];
        for (int m = 0; m < 3; m++) {
            const vs_metric metric = (vs_metric)m;
            snprintf(what, sizeof(what), "%s %s k %zu", label, vs_metric_name(metric), k);
            assert_int_equal(vs_topk(dev, metric, q, nq, c, nc, dim, k, s1, i1), VS_OK);
            vs_batch_report report;
            vs_context_last_report(dev, &report);
            if (strcmp(report.backend, "opencl") != 0)
                fail_msg("%s: ran on %s (%s)", what, report.backend, report.fallback);
            check_path(what, &report, nq, nc, k);
            assert_int_equal(vs_topk(cpu, metric, q, nq, c, nc, dim, k, s2, i2), VS_OK);
            if (metric == VS_METRIC_COSINE) {
                if (ref_check_topk(metric, q, nq, c, nc, dim, k, s1, i1, why, sizeof(why)))
                    fail_msg("%s: device top-k: %s", what, why);
                compare_topk(what, nq, k, s1, i1, s2, i2);
                continue;
            }
            for (size_t i = 0; i < nq * k; i++)
                if (i1[i] != i2[i] || memcmp(&s1[i], &s2[i], sizeof(float)) != 0)
                    fail_msg("%s: entry %zu (query %zu rank %zu): device id %lld score %.9g, "
                             "cpu id %lld score %.9g",
                             what, i, i / k, i % k, (long long)i1[i], (double)s1[i],
                             (long long)i2[i], (double)s2[i]);
        }
    }
    free(s1);
    free(s2);
    free(i1);
    free(i2);
    free(q);
    free(c);
}

/*
 * The threshold selection, bit for bit against the CPU: both families, the
 * test in the score kernels' epilogue with the automatic buffer and with 1
 * and 17 slots (overflow on almost every tile: rows scored again), then the
 * separate pass (VECSCORE_CL_FILTER=0) with the automatic buffer and 17.
 */
static void test_threshold_selection(void **state) {
    (void)state;
    vs_context *cpu = must_open("cpu");
    const char *families[] = {"gpu", "cpu"};
    const char *survivors[] = {NULL, "1", "17", NULL, "17"};
    const char *filters[] = {"1", "1", "1", "0", "0"};
    for (int f = 0; f < 2; f++)
        for (int v = 0; v < 5; v++) {
            char label[96];
            snprintf(label, sizeof(label), "family %s survivors %s filter %s", families[f],
                     survivors[v] ? survivors[v] : "auto",
                     filters[v][0] == '0' ? "separate" : "fused");
            filter_setting = filters[v];
            vs_context *dev = open_selection(families[f], "0", survivors[v]);
            filter_setting = NULL;
            check_selection_exact(dev, cpu, label);
            expected_family[0] = '\0';
            vs_context_free(dev);
        }
    vs_context_free(cpu);
}

/* Every kernel path runs on every device; PoCL defaults to the cpu family, GPUs to gpu. */
static void test_agreement_rows_fused(void **state) {
    (void)state;
    run_agreement("cpu", "1");
}

static void test_agreement_rows_separate(void **state) {
    (void)state;
    run_agreement("cpu", "0");
}

static void test_agreement_tile_kernel(void **state) {
    (void)state;
    run_agreement("tile", "0");
}

static void test_agreement_gpu_family(void **state) {
    (void)state;
    run_agreement("gpu", "0");
}

/* ---- numerics: tiny and huge norms (docs/numerics.md) ---------------------------------- */

/* Every metric of one batch shape on the device against the reference; it must run there. */
static void check_extreme_on_device(vs_context *dev, const char *what, const float *q, size_t nq,
                                    const float *c, size_t nc, size_t dim, size_t k) {
    float *scores = malloc(nq * nc * sizeof(float));
    float *top_scores = malloc(nq * k * sizeof(float));
    int64_t *top_ids = malloc(nq * k * sizeof(int64_t));
    assert_non_null(scores);
    assert_non_null(top_scores);
    assert_non_null(top_ids);
    vs_corpus *corpus = NULL;
    assert_int_equal(vs_corpus_create(dev, c, nc, dim, &corpus), VS_OK);
    char why[512];
    vs_batch_report report;
    for (int m = 0; m < 3; m++) {
        const vs_metric metric = (vs_metric)m;
        for (int use_corpus = 0; use_corpus < 2; use_corpus++) {
            const char *how = use_corpus ? "corpus" : "simple";
            int rc = use_corpus ? vs_corpus_score(corpus, metric, q, nq, scores)
                                : vs_score(dev, metric, q, nq, c, nc, dim, scores);
            assert_int_equal(rc, VS_OK);
            vs_context_last_report(dev, &report);
            if (strcmp(report.backend, "opencl") != 0)
                fail_msg("%s %s: ran on %s (%s)", what, how, report.backend, report.fallback);
            /* Cosine is within its bound for every pair; DOT and L2SQ may overflow as float32. */
            if (metric == VS_METRIC_COSINE
                    ? ref_check_scores(metric, q, nq, c, nc, dim, scores, 0, why, sizeof(why))
                    : ref_check_scores_overflow(metric, q, nq, c, nc, dim, scores, why,
                                                sizeof(why)))
                fail_msg("%s %s %s scores: %s", what, how, vs_metric_name(metric), why);
            if (metric != VS_METRIC_COSINE) continue;
            rc = use_corpus ? vs_corpus_topk(corpus, metric, q, nq, k, top_scores, top_ids)
                            : vs_topk(dev, metric, q, nq, c, nc, dim, k, top_scores, top_ids);
            assert_int_equal(rc, VS_OK);
            vs_context_last_report(dev, &report);
            assert_string_equal(report.backend, "opencl");
            if (ref_check_topk(metric, q, nq, c, nc, dim, k, top_scores, top_ids, why, sizeof(why)))
                fail_msg("%s %s cosine top-k: %s", what, how, why);
        }
    }
    vs_corpus_free(corpus);
    free(scores);
    free(top_scores);
    free(top_ids);
}

/*
 * Queries and candidates of every norm kind against each other (zero and NaN
 * rows too) on one kernel path; then the case, a query of norm
 * 3.7e-24 whose top-1 must be the candidate pointing its way.
 */
static void run_extreme_norms(const char *kernel, const char *fused) {
    vs_context *dev = open_family(kernel, fused);
    ref_rng rng;
    ref_rng_seed(&rng, 77);
    const size_t dims[] = {1, 7, 17, 100, 300};
    char what[160];
    for (size_t di = 0; di < sizeof(dims) / sizeof(*dims); di++) {
        const size_t dim = dims[di], nq = 13, nc = 60;
        void *qbase, *cbase;
        float *q = ref_alloc_floats(nq * dim, di % 3, &qbase);
        float *c = ref_alloc_floats(nc * dim, (di + 1) % 3, &cbase);
        ref_fill_extreme(q, nq, dim, di, &rng);
        ref_fill_extreme(c, nc, dim, 0, &rng);
        memset(c + 3 * dim, 0, dim * sizeof(float)); /* zero candidate */
        c[4 * dim + dim / 2] = NAN;                  /* NaN candidate */
        snprintf(what, sizeof(what), "kernel %s fused %s dim %zu", kernel, fused, dim);
        check_extreme_on_device(dev, what, q, nq, c, nc, dim, 5);
        check_extreme_on_device(dev, what, q + 2 * dim, 1, c, nc, dim, 5); /* one query */
        free(qbase);
        free(cbase);
    }
    /* Top-1 of a tiny query (and of a subnormal and a huge one) among ordinary candidates. */
    const size_t dim = 64, nc = 40, best = 17;
    float q[3 * 64], c[40 * 64], top_scores[3];
    int64_t top_ids[3];
    ref_fill_uniform(c, nc * dim, &rng);
    const double scales[3] = {3.7e-24, 1e-42, 1e36};
    for (size_t i = 0; i < 3; i++)
        for (size_t d = 0; d < dim; d++)
            q[i * dim + d] = (float)(c[best * dim + d] * scales[i]);
    assert_int_equal(vs_topk(dev, VS_METRIC_COSINE, q, 3, c, nc, dim, 1, top_scores, top_ids),
                     VS_OK);
    for (size_t i = 0; i < 3; i++)
        if (top_ids[i] != (int64_t)best || !(top_scores[i] > 0.9999f))
            fail_msg("kernel %s: query of scale %g: top-1 %lld (%.9g), expected %zu (1)", kernel,
                     scales[i], (long long)top_ids[i], (double)top_scores[i], best);
    vs_context_free(dev);
}

static void test_extreme_norms_rows_fused(void **state) {
    (void)state;
    run_extreme_norms("cpu", "1");
}

static void test_extreme_norms_rows_separate(void **state) {
    (void)state;
    run_extreme_norms("cpu", "0");
}

static void test_extreme_norms_tile_kernel(void **state) {
    (void)state;
    run_extreme_norms("tile", "0");
}

static void test_extreme_norms_gpu_family(void **state) {
    (void)state;
    run_extreme_norms("gpu", "0");
}

/*
 * A corpus split into parts where only the middle part holds tiny and huge
 * vectors: that part's scaled copy is used, the others are read as they are.
 */
static void test_extreme_norms_corpus_parts(void **state) {
    (void)state;
    setenv("VECSCORE_CL_MAX_ALLOC_BYTES", "40960", 1); /* 353 rows of dim 29 per part */
    vs_context *dev = must_open(test_device());
    unsetenv("VECSCORE_CL_MAX_ALLOC_BYTES");
    const size_t nq = 11, nc = 1000, dim = 29;
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    assert_non_null(q);
    assert_non_null(c);
    ref_rng rng;
    ref_rng_seed(&rng, 78);
    ref_fill_uniform(c, nc * dim, &rng);
    ref_fill_extreme(c + 400 * dim, 2 * REF_EXTREME_KINDS, dim, 0, &rng);
    ref_fill_extreme(q, nq, dim, 0, &rng);
    check_extreme_on_device(dev, "corpus in parts", q, nq, c, nc, dim, 7);
    free(q);
    free(c);
    vs_context_free(dev);
}

static void test_empty_and_invalid(void **state) {
    (void)state;
    vs_context *dev = must_open(test_device());
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

/*
 * Outputs in place where the device says it shares host memory
 * (unified_memory); on a discrete device the same calls read results back,
 * and the report counts them as copied, never as mapped.
 */
static void test_zero_copy(void **state) {
    (void)state;
    vs_device info;
    test_device_info(&info);
    const int unified = info.unified_memory;
    vs_context *dev = must_open(test_device());
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
    const size_t staged = nq * dim * sizeof(float) + nq * sizeof(float);
    const size_t topk_bytes = nq * k * (sizeof(float) + sizeof(int64_t));
    if (unified) {
        assert_int_equal(report.bytes_mapped, topk_bytes);
        assert_int_equal(report.bytes_copied, staged);
    } else {
        assert_int_equal(report.bytes_mapped, 0);
        assert_int_equal(report.bytes_copied, staged + topk_bytes);
    }
    assert_true(report.arena_pinned);
    assert_true(report.arena_high_water_bytes >= nq * dim * sizeof(float));
    if (ref_check_topk(VS_METRIC_COSINE, q, nq, c, nc, dim, k, scores, ids, why, sizeof(why)))
        fail_msg("zero-copy top-k: %s", why);
    float *matrix = vs_alloc_output(nq * nc * sizeof(float));
    assert_int_equal(vs_corpus_score(corpus, VS_METRIC_L2SQ, q, nq, matrix), VS_OK);
    vs_context_last_report(dev, &report);
    assert_int_equal(report.bytes_mapped, unified ? nq * nc * sizeof(float) : 0);
    if (!unified) assert_true(report.bytes_copied >= staged + nq * nc * sizeof(float));
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

/*
 * The context keeps its scratch buffers between batches and grows them only
 * when a batch needs more: a repeated batch creates none, a larger one grows
 * them, and a smaller one after it reuses them. Results stay exact.
 */
static void test_buffer_pool(void **state) {
    (void)state;
    vs_context *dev = must_open(test_device());
    const size_t nc = 3000, dim = 40, k = 9;
    float *c = malloc(nc * dim * sizeof(float)), *q = malloc(64 * dim * sizeof(float));
    assert_non_null(c);
    assert_non_null(q);
    make_data(q, 64, c, nc, dim, 91);
    vs_corpus *corpus = NULL;
    assert_int_equal(vs_corpus_create(dev, c, nc, dim, &corpus), VS_OK);
    float scores[64 * 9];
    int64_t ids[64 * 9];
    char why[512];
    const size_t shapes[] = {8, 8, 64, 8, 64}; /* queries per batch */
    const int grows[] = {-1, 0, 1, 0, 0};      /* -1: may grow (warm-up shapes were smaller) */
    float *matrix = malloc(64 * nc * sizeof(float) + sizeof(float));
    assert_non_null(matrix);
    for (size_t i = 0; i < sizeof(shapes) / sizeof(*shapes); i++) {
        const size_t nq = shapes[i];
        assert_int_equal(vs_corpus_topk(corpus, VS_METRIC_L2SQ, q, nq, k, scores, ids), VS_OK);
        vs_batch_report report;
        vs_context_last_report(dev, &report);
        assert_string_equal(report.backend, "opencl");
        if (grows[i] == 0 && report.device_buffers_created != 0)
            fail_msg("batch %zu (nq %zu): %llu buffers created, expected the pool's", i, nq,
                     (unsigned long long)report.device_buffers_created);
        if (grows[i] == 1 && report.device_buffers_created == 0)
            fail_msg("batch %zu (nq %zu): a larger batch created no buffer", i, nq);
        if (ref_check_topk(VS_METRIC_L2SQ, q, nq, c, nc, dim, k, scores, ids, why, sizeof(why)))
            fail_msg("batch %zu: %s", i, why);
        /* A copied score matrix (misaligned output) uses the pooled tile buffer too. */
        assert_int_equal(vs_corpus_score(corpus, VS_METRIC_DOT, q, nq, matrix + 1), VS_OK);
        if (ref_check_scores(VS_METRIC_DOT, q, nq, c, nc, dim, matrix + 1, 0, why, sizeof(why)))
            fail_msg("batch %zu scores: %s", i, why);
    }
    vs_corpus_free(corpus);
    free(matrix);
    free(q);
    free(c);
    vs_context_free(dev);
}

static void test_corpus_split(void **state) {
    (void)state;
    /* Pretend the device's largest allocation is 40 KiB: the corpus is split into parts. */
    setenv("VECSCORE_CL_MAX_ALLOC_BYTES", "40960", 1);
    vs_context *dev = must_open(test_device());
    unsetenv("VECSCORE_CL_MAX_ALLOC_BYTES");
    vs_context *cpu = must_open("cpu");
    check_agreement(dev, cpu, 9, 3001, 29, 11, 1, 0); /* 88 rows per part: 35 parts */
    check_agreement(dev, cpu, 4, 700, 29, 6, 0, 1);
    vs_context_free(dev);
    vs_context_free(cpu);
}

/* A batch the device cannot take runs on the CPU and does not demote the device. */
/*
 * Chunk planning keeps 256 queries per chunk by narrowing the score tile:
 * with a 4 MiB allocation cap, 300 queries x 8192-candidate tiles do not
 * fit, 256 x 4096 do, so 300 queries take 2 chunks (not 3 of 128).
 */
static void test_chunk_keeps_rows(void **state) {
    (void)state;
    setenv("VECSCORE_CL_MAX_ALLOC_BYTES", "4M", 1);
    vs_context *dev = must_open(test_device());
    unsetenv("VECSCORE_CL_MAX_ALLOC_BYTES");
    const size_t nq = 300, nc = 20000, dim = 16, k = 10;
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    float *s = malloc(nq * k * sizeof(float));
    int64_t *ids = malloc(nq * k * sizeof(int64_t));
    assert_true(q && c && s && ids);
    make_data(q, nq, c, nc, dim, 4242);
    char why[512];
    for (int m = 0; m < 3; m++) {
        const vs_metric metric = (vs_metric)m;
        assert_int_equal(vs_topk(dev, metric, q, nq, c, nc, dim, k, s, ids), VS_OK);
        vs_batch_report report;
        vs_context_last_report(dev, &report);
        assert_string_equal(report.backend, "opencl");
        if (strcmp(report.kernel_family, "cpu") != 0 ||
            strstr(report.kernels, "vs_topk_rows") == NULL)
            assert_int_equal(report.query_chunks, 2);
        if (ref_check_topk(metric, q, nq, c, nc, dim, k, s, ids, why, sizeof(why)))
            fail_msg("%s: %s", vs_metric_name(metric), why);
    }
    free(q);
    free(c);
    free(s);
    free(ids);
    vs_context_free(dev);
}

/*
 * The pipeline (two queues, events, double-buffered uploads and read-backs):
 * a small staging arena makes many query chunks (and candidate uploads),
 * a small allocation cap corpus parts of 1024 rows and narrow tiles, so
 * every slot is reused many times and a wrong order (a slot overwritten
 * before its read-back arrived, a read-back before its kernel) changes
 * results. Outputs misaligned (copied back through the pinned read-back
 * slots; DOT and L2SQ) and aligned (in place where the device shares
 * memory; DOT); every result bit for bit against the CPU backend
 * (small-integer data: the sums are exact on both sides).
 */
static void check_pipeline(vs_context *dev, vs_context *cpu, const float *q, size_t nq,
                           const float *c, size_t nc, size_t dim, size_t misalign) {
    const size_t ks[] = {1, 10, 300, nc + 100}; /* the last: segment lists, padded rows */
    const size_t most = nq * (nc + 100) + 1;
    float *s1 = vs_alloc_output(most * sizeof(float)), *s2 = malloc(most * sizeof(float));
    int64_t *i1 = vs_alloc_output((nq * (nc + 100) + 1) * sizeof(int64_t));
    int64_t *i2 = malloc(nq * (nc + 100) * sizeof(int64_t));
    assert_true(s1 && s2 && i1 && i2);
    float *scores = s1 + misalign;
    int64_t *ids = i1 + misalign;
    char what[160];
    vs_batch_report report;
    for (int m = 0; m < (misalign ? 3 : 1); m += 2) { /* DOT and L2SQ: exact on integers */
        const vs_metric metric = (vs_metric)m;
        for (size_t ki = 0; ki <= sizeof(ks) / sizeof(*ks); ki++) {
            const size_t k = ki < sizeof(ks) / sizeof(*ks) ? ks[ki] : 0; /* 0: scores */
            snprintf(what, sizeof(what), "pipeline %s k %zu misalign %zu", vs_metric_name(metric),
                     k, misalign);
            const size_t out = k ? nq * k : nq * nc;
            if (k) {
                assert_int_equal(vs_topk(dev, metric, q, nq, c, nc, dim, k, scores, ids), VS_OK);
            } else {
                assert_int_equal(vs_score(dev, metric, q, nq, c, nc, dim, scores), VS_OK);
            }
            vs_context_last_report(dev, &report);
            if (strcmp(report.backend, "opencl") != 0)
                fail_msg("%s: ran on %s (%s)", what, report.backend, report.fallback);
            if (report.query_chunks < 4)
                fail_msg("%s: %llu query chunks, expected many", what,
                         (unsigned long long)report.query_chunks);
            if (k)
                assert_int_equal(vs_topk(cpu, metric, q, nq, c, nc, dim, k, s2, i2), VS_OK);
            else
                assert_int_equal(vs_score(cpu, metric, q, nq, c, nc, dim, s2), VS_OK);
            for (size_t i = 0; i < out; i++)
                if (memcmp(&scores[i], &s2[i], sizeof(float)) != 0 || (k && ids[i] != i2[i]))
                    fail_msg("%s: entry %zu (query %zu): device %.9g id %lld, cpu %.9g id %lld",
                             what, i, i / (k ? k : nc), (double)scores[i],
                             (long long)(k ? ids[i] : -2), (double)s2[i],
                             (long long)(k ? i2[i] : -2));
        }
    }
    vs_free_output(s1);
    vs_free_output(i1);
    free(s2);
    free(i2);
}

static void test_pipeline_many_chunks(void **state) {
    (void)state;
    const size_t nq = 70, nc = 2500, dim = 16;
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    assert_true(q && c);
    ref_rng rng;
    ref_rng_seed(&rng, 1234);
    for (size_t i = 0; i < nc * dim; i++)
        c[i] = (float)ref_int(&rng, -2, 2);
    for (size_t i = 0; i < nq * dim; i++)
        q[i] = (float)ref_int(&rng, -3, 3);
    /* 64 KiB allocations: corpus parts of 1024 rows, tiles and chunks to match */
    setenv("VECSCORE_CL_MAX_ALLOC_BYTES", "64K", 1);
    vs_options opts;
    vs_options_init(&opts);
    opts.device = test_device();
    opts.cache_dir = cache_dir;
    opts.arena_bytes = 2048; /* a few query rows per chunk */
    vs_context *dev = NULL;
    assert_int_equal(vs_context_create(&opts, &dev), VS_OK);
    unsetenv("VECSCORE_CL_MAX_ALLOC_BYTES");
    vs_context *cpu = must_open("cpu");
    check_pipeline(dev, cpu, q, nq, c, nc, dim, 1);
    check_pipeline(dev, cpu, q, nq, c, nc, dim, 0);
    vs_context_free(dev);
    vs_context_free(cpu);
    free(q);
    free(c);
}

/*
 * Per-call candidates go to the device through the staging arena in
 * chunks: with a 2 KiB arena, 16-dim rows go 11 to a half (5000 rows: 455
 * uploads, the halves alternating), and a 300-dim row fills the arena on
 * its own (one upload at a time). Results bit for bit against the CPU.
 */
static void test_candidates_staged(void **state) {
    (void)state;
    const size_t dims[] = {16, 300}, counts[] = {5000, 41}, nq = 3;
    vs_options opts;
    vs_options_init(&opts);
    opts.device = test_device();
    opts.cache_dir = cache_dir;
    opts.arena_bytes = 2048;
    vs_context *dev = NULL;
    assert_int_equal(vs_context_create(&opts, &dev), VS_OK);
    vs_context *cpu = must_open("cpu");
    for (int t = 0; t < 2; t++) {
        const size_t dim = dims[t], nc = counts[t], k = 7;
        float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
        float *s1 = malloc(nq * nc * sizeof(float)), *s2 = malloc(nq * nc * sizeof(float));
        int64_t *i1 = malloc(nq * k * sizeof(int64_t)), *i2 = malloc(nq * k * sizeof(int64_t));
        assert_true(q && c && s1 && s2 && i1 && i2);
        ref_rng rng;
        ref_rng_seed(&rng, 99 + (uint64_t)t);
        for (size_t i = 0; i < nc * dim; i++)
            c[i] = (float)ref_int(&rng, -2, 2);
        for (size_t i = 0; i < nq * dim; i++)
            q[i] = (float)ref_int(&rng, -2, 2);
        vs_batch_report report;
        for (int m = 0; m < 3; m += 2) {
            const vs_metric metric = (vs_metric)m;
            assert_int_equal(vs_topk(dev, metric, q, nq, c, nc, dim, k, s1, i1), VS_OK);
            vs_context_last_report(dev, &report);
            if (strcmp(report.backend, "opencl") != 0)
                fail_msg("dim %zu: ran on %s (%s)", dim, report.backend, report.fallback);
            assert_int_equal(vs_topk(cpu, metric, q, nq, c, nc, dim, k, s2, i2), VS_OK);
            assert_memory_equal(i1, i2, nq * k * sizeof(int64_t));
            assert_memory_equal(s1, s2, nq * k * sizeof(float));
            assert_int_equal(vs_score(dev, metric, q, nq, c, nc, dim, s1), VS_OK);
            vs_context_last_report(dev, &report);
            assert_string_equal(report.backend, "opencl");
            assert_int_equal(vs_score(cpu, metric, q, nq, c, nc, dim, s2), VS_OK);
            assert_memory_equal(s1, s2, nq * nc * sizeof(float));
        }
        free(q);
        free(c);
        free(s1);
        free(s2);
        free(i1);
        free(i2);
    }
    vs_context_free(dev);
    vs_context_free(cpu);
}

static void test_batch_too_large_for_device(void **state) {
    (void)state;
    setenv("VECSCORE_CL_MAX_ALLOC_BYTES", "1000", 1); /* k = 200 lists need more */
    vs_context *dev = must_open(test_device());
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
    vs_context *ctx = must_open(test_device());
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
    log_capture capture = {0};
    int status;
    vs_context *ctx = open_device(test_device(), &capture, &status);
    if (status != VS_OK) {
        assert_null(ctx);
        assert_true(status == VS_ERR_DEVICE || status == VS_ERR_NO_DEVICE ||
                    status == VS_ERR_OUT_OF_MEMORY);
        assert_true(capture.last[0] != '\0'); /* the failure was explained */
        return status;
    }
    /* room for a score matrix, one element off the alignment for the copied rounds */
    float *s_raw = vs_alloc_output((nq * nc + 1) * sizeof(float)), *s = s_raw;
    int64_t *ids_raw = vs_alloc_output((nq * k + 1) * sizeof(int64_t)), *ids = ids_raw;
    vs_corpus *corpus = NULL;
    *ran_on_device = 1;
    /* Rounds: top-k with per-call candidates, top-k of a corpus (outputs in place where the
     * device shares memory), then both through the pipeline's copied read-back: top-k with
     * outputs one element off the alignment, and a copied score matrix. */
    for (int round = 0; round < 4; round++) {
        s = s_raw + (round >= 2);
        ids = ids_raw + (round >= 2);
        if (round == 0 || round == 2)
            status = vs_topk(ctx, VS_METRIC_COSINE, q, nq, c, nc, dim, k, s, ids);
        else if (round == 1 && (status = vs_corpus_create(ctx, c, nc, dim, &corpus)) == VS_OK)
            status = vs_corpus_topk(corpus, VS_METRIC_COSINE, q, nq, k, s, ids);
        else if (round == 3)
            status = vs_corpus_score(corpus, VS_METRIC_COSINE, q, nq, s);
        /* Device failures inside a batch are re-run on the CPU: results are always right. */
        assert_int_equal(status, VS_OK);
        char why[512];
        if (round == 3) {
            if (ref_check_scores(VS_METRIC_COSINE, q, nq, c, nc, dim, s, 0, why, sizeof(why)))
                fail_msg("fault run, scores: %s", why);
        } else {
            if (ref_check_topk(VS_METRIC_COSINE, q, nq, c, nc, dim, k, s, ids, why, sizeof(why)))
                fail_msg("fault run: %s", why);
            compare_topk("fault run", nq, k, s, ids, expect_s, expect_i);
        }
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
    vs_free_output(s_raw);
    vs_free_output(ids_raw);
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
    vs_context *dev = must_open(test_device());
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
    dev = must_open(test_device());
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
    vs_context *dev = must_open(test_device());
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

/* A context for selector with its cache in dir, logging into log (cleared first); must open. */
static vs_context *open_in(const char *selector, const char *dir, log_capture *log) {
    memset(log, 0, sizeof(*log));
    int status;
    vs_context *ctx = open_with(selector, dir, log, &status);
    if (status != VS_OK)
        fail_msg("vs_context_create(%s) = %s: %s", selector, vs_status_name(status), log->all);
    return ctx;
}

/* One auto context with its cache in dir; the backend that ran its top-k. */
static const char *cost_run(const char *dir, log_capture *log, float *s, int64_t *ids) {
    static char backend[16];
    vs_context *ctx = open_in("auto", dir, log);
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

static const char *auto_batch(float *s, int64_t *ids) {
    static log_capture log;
    return cost_run(cache_dir, &log, s, ids);
}

/* Which side a fresh calibration favours depends on the load on the machine while it ran, so
 * the test asserts only that it chose one of the two sides; the decision itself is checked with
 * cost files that make one side 1000x faster than the other. */
static void assert_auto_side(const char *backend) {
    if (strcmp(backend, "cpu") != 0 && strcmp(backend, "opencl") != 0)
        fail_msg("auto chose \"%s\", expected cpu or opencl", backend);
}

static void write_cost_files(const char *line) {
    char command[600];
    snprintf(command, sizeof(command), "for f in %s/cost-*.txt; do echo '%s' > \"$f\"; done",
             cache_dir, line);
    assert_int_equal(system(command), 0);
}

static void test_auto_cost_model(void **state) {
    (void)state;
    char saved[200], command[600];
    snprintf(saved, sizeof(saved), "%s", cache_dir);
    snprintf(cache_dir, sizeof(cache_dir), "%.150s/cost-test", saved);
    setenv("VECSCORE_AUTO_OPENCL_CPU", "1", 1); /* let auto weigh PoCL, as it would a GPU */

    /* First context: calibrates both sides and writes the cost file. */
    float s1[5], s2[5];
    int64_t i1[5], i2[5];
    assert_auto_side(auto_batch(s1, i1));
    snprintf(command, sizeof(command), "grep -q '^vecscore-cost 2 ' %s/cost-*.txt", cache_dir);
    assert_int_equal(system(command), 0);

    /* A cost file that makes the device look 1000x faster: auto now sends the call there. */
    write_cost_files("vecscore-cost 2 1e-3 1e9 1e9 0 0 1e-9 1e15 1e15 0 0");
    assert_string_equal(auto_batch(s2, i2), "opencl");
    assert_memory_equal(i1, i2, sizeof(i1));

    /* The k term: a device that is fast but pays 1 s per result kept beyond 10 takes top-5
     * and leaves top-20 to the CPU; the same shape otherwise. */
    write_cost_files("vecscore-cost 2 1e-3 1e9 1e9 0 0 1e-9 1e15 1e15 0 1");
    {
        static log_capture log;
        vs_context *ctx = open_in("auto", cache_dir, &log);
        float q[64], c[64 * 40], ks[20];
        int64_t kids[20];
        for (int i = 0; i < 64; i++)
            q[i] = (float)(i % 7) - 3.0f;
        for (int i = 0; i < 64 * 40; i++)
            c[i] = (float)(i % 11) - 5.0f;
        vs_batch_report report;
        assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, 1, c, 40, 64, 5, ks, kids), VS_OK);
        vs_context_last_report(ctx, &report);
        assert_string_equal(report.backend, "opencl");
        assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, 1, c, 40, 64, 20, ks, kids), VS_OK);
        vs_context_last_report(ctx, &report);
        assert_string_equal(report.backend, "cpu");
        assert_non_null(strstr(report.fallback, "cost model"));
        vs_context_free(ctx);
    }

    /* And one that makes the CPU look 1000x faster: the call stays on the CPU. */
    write_cost_files("vecscore-cost 2 1e-9 1e15 1e15 0 0 1e-3 1e9 1e9 0 0");
    memset(i2, 0, sizeof(i2));
    assert_string_equal(auto_batch(s2, i2), "cpu");
    assert_memory_equal(i1, i2, sizeof(i1));

    /* A corrupt cost file is measured again and rewritten. */
    write_cost_files("junk");
    memset(i2, 0, sizeof(i2));
    assert_auto_side(auto_batch(s2, i2));
    assert_memory_equal(i1, i2, sizeof(i1));
    assert_int_equal(system(command), 0);

    unsetenv("VECSCORE_AUTO_OPENCL_CPU");
    snprintf(cache_dir, sizeof(cache_dir), "%.190s", saved);
}

/* ---- cache trust (base/cache.c) ------------------------------------------------------------ */

static int count_in(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* One context on PoCL with its cache in dir; returns the report's program_cache (1 compiled,
 * 2 loaded). The log is cleared first. */
static int cache_run(const char *dir, log_capture *log) {
    vs_context *ctx = open_in(test_device(), dir, log);
    float q[4] = {1, 2, 3, 4}, s[1];
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, q, 1, 4, s), VS_OK);
    assert_float_equal(s[0], 30.0f, 0);
    vs_batch_report report;
    vs_context_last_report(ctx, &report);
    assert_string_equal(report.backend, "opencl");
    vs_context_free(ctx);
    return report.program_cache;
}

/* The one file in dir named PREFIX*SUFFIX (not a temporary one). */
static void find_entry(const char *dir, const char *prefix, const char *suffix, char *out,
                       size_t size) {
    char command[600];
    snprintf(command, sizeof(command), "ls '%s' | grep '^%s.*%s$'", dir, prefix, suffix);
    FILE *p = popen(command, "r");
    assert_non_null(p);
    char name[256] = "", extra[256];
    int found = fgets(name, sizeof(name), p) != NULL;
    int more = fgets(extra, sizeof(extra), p) != NULL;
    pclose(p);
    if (!found || more) fail_msg("expected one %s*%s in %s", prefix, suffix, dir);
    name[strcspn(name, "\n")] = '\0';
    snprintf(out, size, "%s/%s", dir, name);
}

static int file_count(const char *dir) {
    char command[400];
    snprintf(command, sizeof(command), "ls -A '%s' | wc -l", dir);
    FILE *p = popen(command, "r");
    assert_non_null(p);
    int n = -1;
    if (fscanf(p, "%d", &n) != 1) n = -1;
    pclose(p);
    return n;
}

static void test_cache_entry_checks(void **state) {
    (void)state;
    char dir[256], entry[512], outside[320];
    log_capture log;
    struct stat st, before;
    snprintf(dir, sizeof(dir), "%s/trust-entry", cache_dir);
    assert_int_equal(cache_run(dir, &log), 1);
    assert_int_equal(cache_run(dir, &log), 2);
    find_entry(dir, "vecscore-", ".clbin", entry, sizeof(entry));
    assert_int_equal(stat(entry, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* A FIFO at the entry path: opened without blocking, refused after the open, replaced. The
     * alarm kills the test (a failure, not a hang) if the open ever blocks again. */
    assert_int_equal(unlink(entry), 0);
    assert_int_equal(mkfifo(entry, 0600), 0);
    alarm(300);
    assert_int_equal(cache_run(dir, &log), 1);
    alarm(0);
    assert_non_null(strstr(log.all, "it is a FIFO, not a regular file"));
    assert_int_equal(lstat(entry, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(cache_run(dir, &log), 2);

    /* A directory at the entry path: refused, and the build still succeeds. */
    assert_int_equal(unlink(entry), 0);
    assert_int_equal(mkdir(entry, 0700), 0);
    assert_int_equal(cache_run(dir, &log), 1);
    assert_non_null(strstr(log.all, "it is a directory, not a regular file"));
    assert_int_equal(rmdir(entry), 0);
    assert_int_equal(cache_run(dir, &log), 1);
    assert_int_equal(cache_run(dir, &log), 2);

    /* A symbolic link at the entry path, even to a valid entry: not followed; the link (not its
     * target) is replaced by the rebuilt entry. */
    snprintf(outside, sizeof(outside), "%s/outside.clbin", cache_dir);
    assert_int_equal(rename(entry, outside), 0);
    assert_int_equal(symlink(outside, entry), 0);
    assert_int_equal(stat(outside, &before), 0);
    assert_int_equal(cache_run(dir, &log), 1);
    assert_non_null(strstr(log.all, "it is a symbolic link"));
    assert_int_equal(lstat(entry, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(stat(outside, &st), 0);
    assert_true(st.st_ino == before.st_ino && st.st_size == before.st_size &&
                st.st_mtime == before.st_mtime);
    assert_int_equal(unlink(outside), 0);
    assert_int_equal(cache_run(dir, &log), 2);

    /* Writable by group, or by others: refused, then rewritten 0600. */
    const mode_t modes[] = {0620, 0602, 0666};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(chmod(entry, modes[i]), 0);
        assert_int_equal(cache_run(dir, &log), 1);
        assert_non_null(strstr(log.all, "writable by"));
        assert_int_equal(stat(entry, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(cache_run(dir, &log), 2);
    }

    /* Larger than an entry may be (a sparse file): refused without being read. */
    int fd = open(entry, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)300 << 20), 0);
    close(fd);
    assert_int_equal(cache_run(dir, &log), 1);
    assert_non_null(strstr(log.all, "more than the"));
    assert_int_equal(cache_run(dir, &log), 2);

    /* A damaged payload (checksum no longer matches): dropped and rebuilt. */
    assert_int_equal(stat(entry, &st), 0);
    fd = open(entry, O_RDWR);
    assert_true(fd >= 0);
    unsigned char byte = 0;
    assert_int_equal(pread(fd, &byte, 1, st.st_size / 2), 1);
    byte ^= 0x5a;
    assert_int_equal(pwrite(fd, &byte, 1, st.st_size / 2), 1);
    close(fd);
    assert_int_equal(cache_run(dir, &log), 1);
    assert_non_null(strstr(log.all, "corrupt or foreign"));
    assert_int_equal(cache_run(dir, &log), 2);
    assert_int_equal(file_count(dir), 1); /* no temporary file left behind */
}

static void test_cache_entry_owner(void **state) {
    (void)state;
    if (geteuid() != 0) skip(); /* giving a file away needs root (CI runs the tests as root) */
    char dir[256], entry[512];
    log_capture log;
    struct stat st;
    snprintf(dir, sizeof(dir), "%s/trust-owner", cache_dir);
    assert_int_equal(cache_run(dir, &log), 1);
    find_entry(dir, "vecscore-", ".clbin", entry, sizeof(entry));
    assert_int_equal(chown(entry, 12345, 12345), 0);
    assert_int_equal(cache_run(dir, &log), 1);
    assert_non_null(strstr(log.all, "owned by uid 12345"));
    assert_int_equal(stat(entry, &st), 0);
    assert_int_equal(st.st_uid, geteuid());
    assert_int_equal(cache_run(dir, &log), 2);
    /* The directory given away: not trusted, nothing read or written. */
    assert_int_equal(chown(dir, 12345, 12345), 0);
    assert_int_equal(cache_run(dir, &log), 1);
    assert_non_null(strstr(log.all, "is not private: it is owned by uid 12345"));
    assert_int_equal(chown(dir, 0, 0), 0);
    assert_int_equal(cache_run(dir, &log), 2);
}

static void test_cache_dir_checks(void **state) {
    (void)state;
    char root[256], dir[300], entry[512], link[300], path[300];
    log_capture log;
    struct stat st, before;
    /* Created where missing, every new level 0700. */
    snprintf(root, sizeof(root), "%s/trust-dir", cache_dir);
    snprintf(dir, sizeof(dir), "%s/a/b", root);
    assert_int_equal(cache_run(dir, &log), 1);
    const char *levels[] = {"", "/a", "/a/b"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s%s", root, levels[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
    }
    assert_int_equal(cache_run(dir, &log), 2);
    find_entry(dir, "vecscore-", ".clbin", entry, sizeof(entry));

    /* Writable by its group or by others: the valid entry is not loaded, nothing is written,
     * one warning. */
    const mode_t modes[] = {0770, 0703, 0777, 01777};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(chmod(dir, modes[i]), 0);
        assert_int_equal(stat(entry, &before), 0);
        assert_int_equal(cache_run(dir, &log), 1);
        assert_int_equal(count_in(log.all, "is not private: it is writable by"), 1);
        assert_int_equal(stat(entry, &st), 0);
        assert_true(st.st_ino == before.st_ino && st.st_mtime == before.st_mtime);
        assert_int_equal(file_count(dir), 1);
    }
    assert_int_equal(chmod(dir, 0700), 0);
    assert_int_equal(cache_run(dir, &log), 2);

    /* A symbolic link to the directory: trusted when its target is. */
    snprintf(link, sizeof(link), "%s/link", root);
    assert_int_equal(symlink(dir, link), 0);
    assert_int_equal(cache_run(link, &log), 2);
    assert_int_equal(chmod(dir, 0775), 0);
    assert_int_equal(cache_run(link, &log), 1);
    assert_non_null(strstr(log.all, "(a symbolic link; its target checked) is not private"));
    assert_int_equal(chmod(dir, 0700), 0);

    /* A regular file where the directory should be: no cache, the build still succeeds. */
    assert_int_equal(cache_run(entry, &log), 1);
    assert_non_null(strstr(log.all, "cache: cannot open"));
}

#define VS_FAST_DEVICE "vecscore-cost 2 1e-3 1e9 1e9 0 0 1e-9 1e15 1e15 0 0\n"

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static int has_text(const char *path, const char *text) {
    char buffer[256] = "";
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    size_t n = fread(buffer, 1, sizeof(buffer) - 1, f);
    fclose(f);
    buffer[n] = '\0';
    return strcmp(buffer, text) == 0;
}

/* The cost file was not used: this context measured the constants itself. Which side then wins
 * depends on the machine (under ASan the CPU kernels are slower than PoCL's), so only the
 * measurement is checked. */
static void expect_measured(const char *dir, log_capture *log) {
    float s[5];
    int64_t ids[5];
    cost_run(dir, log, s, ids);
    if (strstr(log->all, "auto: calibrated in") == NULL)
        fail_msg("expected a calibration (the cost file must not be used); log:\n%s", log->all);
}

/* The "fast device" cost file was used: no calibration, and the device ran. */
static void expect_loaded(const char *dir, log_capture *log) {
    float s[5];
    int64_t ids[5];
    assert_string_equal(cost_run(dir, log, s, ids), "opencl");
    if (strstr(log->all, "auto: calibrated in") != NULL)
        fail_msg("the cost file was measured again, not used; log:\n%s", log->all);
}

static void test_cost_cache_checks(void **state) {
    (void)state;
    char dir[256], entry[512], outside[320];
    log_capture log;
    struct stat st;
    setenv("VECSCORE_AUTO_OPENCL_CPU", "1", 1);
    setenv("VECSCORE_LOG_LEVEL", "info", 1); /* "auto: calibrated in ..." says it measured */
    snprintf(dir, sizeof(dir), "%s/trust-cost", cache_dir);
    expect_measured(dir, &log);
    find_entry(dir, "cost-", ".txt", entry, sizeof(entry));
    assert_int_equal(stat(entry, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* A cost file that makes the device look faster is used: the device runs. */
    write_text(entry, VS_FAST_DEVICE);
    expect_loaded(dir, &log);

    /* A FIFO at the cost file: no block, measured again, replaced. */
    assert_int_equal(unlink(entry), 0);
    assert_int_equal(mkfifo(entry, 0600), 0);
    alarm(300);
    expect_measured(dir, &log);
    alarm(0);
    assert_non_null(strstr(log.all, "auto: cost cache: entry"));
    assert_non_null(strstr(log.all, "it is a FIFO, not a regular file"));
    assert_int_equal(lstat(entry, &st), 0);
    assert_true(S_ISREG(st.st_mode));

    /* A symbolic link to a "fast device" file: not followed, the link replaced. */
    snprintf(outside, sizeof(outside), "%s/outside-cost.txt", cache_dir);
    write_text(outside, VS_FAST_DEVICE);
    assert_int_equal(unlink(entry), 0);
    assert_int_equal(symlink(outside, entry), 0);
    expect_measured(dir, &log);
    assert_non_null(strstr(log.all, "it is a symbolic link"));
    assert_true(has_text(outside, VS_FAST_DEVICE));
    assert_int_equal(lstat(entry, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    unlink(outside);

    /* Writable by group or others: not used. */
    write_text(entry, VS_FAST_DEVICE);
    assert_int_equal(chmod(entry, 0660), 0);
    expect_measured(dir, &log);
    assert_non_null(strstr(log.all, "writable by its group"));

    /* Owned by someone else (root only): not used. */
    if (geteuid() == 0) {
        write_text(entry, VS_FAST_DEVICE);
        assert_int_equal(chown(entry, 12345, 12345), 0);
        expect_measured(dir, &log);
        assert_non_null(strstr(log.all, "owned by uid 12345"));
    }

    /* Malformed: trailing junk, values that are not finite or negative, an older version. */
    const char *bad[] = {"vecscore-cost 2 1e-3 1e9 1e9 0 0 1e-9 1e15 1e15 0 0 junk\n",
                         "vecscore-cost 2 1e-3 1e9 1e9 0 0 1e-9 inf 1e15 0 0\n",
                         "vecscore-cost 2 1e-3 1e9 1e9 0 0 1e-9 1e15 1e15 0 -1\n",
                         "vecscore-cost 1 1e-3 1e9 1e9 0 1e-9 1e15 1e15 0\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        write_text(entry, bad[i]);
        expect_measured(dir, &log);
        assert_non_null(strstr(log.all, "is malformed"));
    }

    /* A directory its group can write: neither cache is used, one warning for both. */
    write_text(entry, VS_FAST_DEVICE);
    assert_int_equal(chmod(dir, 0770), 0);
    expect_measured(dir, &log);
    assert_int_equal(count_in(log.all, "not private"), 1);
    assert_true(has_text(entry, VS_FAST_DEVICE)); /* not rewritten either */
    assert_int_equal(chmod(dir, 0700), 0);
    expect_loaded(dir, &log);
    unsetenv("VECSCORE_LOG_LEVEL");
    unsetenv("VECSCORE_AUTO_OPENCL_CPU");
}

/* ---- parsing: the staging arena and the testing knobs ------------------------------------- */

static void test_arena_too_small(void **state) {
    (void)state;
    log_capture log;
    vs_options opts;
    vs_options_init(&opts);
    opts.device = test_device();
    opts.cache_dir = cache_dir;
    opts.log = capture_log;
    opts.log_user = &log;
    opts.arena_bytes = 1;
    vs_context *ctx = (vs_context *)&log;
    memset(&log, 0, sizeof(log));
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
    assert_null(ctx);
    const char *at = strstr(log.all, "it needs at least ");
    assert_non_null(strstr(log.all, "staging arena"));
    assert_non_null(strstr(log.all, "of 1 bytes is too small for OpenCL device"));
    assert_non_null(at);
    size_t need = (size_t)strtoull(at + strlen("it needs at least "), NULL, 10);
    assert_true(need > 1);

    /* One byte short still fails; the minimum opens and runs on the device. */
    opts.arena_bytes = need - 1;
    memset(&log, 0, sizeof(log));
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(log.all, "too small"));
    opts.arena_bytes = need;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    float q[24], s[1];
    for (int i = 0; i < 24; i++)
        q[i] = 1.0f;
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, q, 1, 24, s), VS_OK);
    assert_float_equal(s[0], 24.0f, 0);
    vs_batch_report report;
    vs_context_last_report(ctx, &report);
    assert_string_equal(report.backend, "opencl");
    vs_context_free(ctx);

    /* The same from the environment. */
    opts.arena_bytes = 0;
    setenv("VECSCORE_ARENA_BYTES", "64", 1);
    memset(&log, 0, sizeof(log));
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(log.all, "of 64 bytes is too small"));
    unsetenv("VECSCORE_ARENA_BYTES");

    /* Under auto the arena may suit the CPU: the CPU runs, and the report says why. */
    setenv("VECSCORE_AUTO_OPENCL_CPU", "1", 1);
    opts.device = "auto";
    opts.arena_bytes = 64;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    assert_int_equal(vs_score(ctx, VS_METRIC_DOT, q, 1, q, 1, 24, s), VS_OK);
    vs_context_last_report(ctx, &report);
    assert_string_equal(report.backend, "cpu");
    assert_non_null(strstr(report.fallback, "too small"));
    vs_context_free(ctx);
    unsetenv("VECSCORE_AUTO_OPENCL_CPU");
}

static void test_bad_knobs(void **state) {
    (void)state;
    const struct {
        const char *name, *value, *device;
    } cases[] = {
        {"VECSCORE_CL_FUSED", "2", NULL},
        {"VECSCORE_CL_FUSED", " 1", NULL},
        {"VECSCORE_CL_FUSED", "1x", NULL},
        {"VECSCORE_CL_SURVIVORS", "-1", NULL},
        {"VECSCORE_CL_SURVIVORS", "16777217", NULL},
        {"VECSCORE_CL_SURVIVORS", "8k", NULL},
        {"VECSCORE_CL_FILTER", "2", NULL},
        {"VECSCORE_CL_FILTER", "fused", NULL},
        {"VECSCORE_CL_MAX_ALLOC_BYTES", " -1", NULL},
        {"VECSCORE_CL_MAX_ALLOC_BYTES", "0", NULL},
        {"VECSCORE_CL_MAX_ALLOC_BYTES", "0x100000", NULL},
        {"VECSCORE_CL_MAX_ALLOC_BYTES", "99999999999999999999", NULL},
        {"VECSCORE_CL_KERNEL", "tiles", NULL},
        {"VECSCORE_CL_KERNELS", "GPU", NULL},
        {"VECSCORE_CL_KERNELS", "gpu ", "cpu"},
        {"VECSCORE_CL_KERNELS", "", NULL},
        {"VECSCORE_CL_BLOCK", "3x3", NULL},
        {"VECSCORE_CL_BLOCK", "4x", NULL},
        {"VECSCORE_CL_BLOCK", "44", NULL},
        {"VECSCORE_CL_BLOCK", "16x4", NULL},
        {"VECSCORE_AUTO_OPENCL_CPU", "yes", "auto"},
        {"VECSCORE_AUTO_OPENCL_CPU", "+1", "auto"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        log_capture log;
        memset(&log, 0, sizeof(log));
        vs_options opts;
        vs_options_init(&opts);
        opts.device = cases[i].device != NULL ? cases[i].device : test_device();
        opts.cache_dir = cache_dir;
        opts.log = capture_log;
        opts.log_user = &log;
        setenv(cases[i].name, cases[i].value, 1);
        vs_context *ctx = NULL;
        int status = vs_context_create(&opts, &ctx);
        unsetenv(cases[i].name);
        if (status != VS_ERR_INVALID_ARGUMENT)
            fail_msg("%s='%s': %s", cases[i].name, cases[i].value, vs_status_name(status));
        assert_null(ctx);
        char expect[160];
        snprintf(expect, sizeof(expect), "environment variable %s has an invalid value '%s'",
                 cases[i].name, cases[i].value);
        if (strstr(log.all, expect) == NULL) fail_msg("no '%s' in: %s", expect, log.all);
    }
    /* The option itself, checked as strictly. */
    const char *bad_families[] = {"GPU", "gpus", "", "rows"};
    for (size_t i = 0; i < sizeof(bad_families) / sizeof(*bad_families); i++) {
        log_capture log;
        memset(&log, 0, sizeof(log));
        vs_options opts;
        vs_options_init(&opts);
        opts.device = "cpu";
        opts.cl_kernels = bad_families[i];
        opts.log = capture_log;
        opts.log_user = &log;
        vs_context *ctx = NULL;
        assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
        assert_null(ctx);
        char expect[160];
        snprintf(expect, sizeof(expect), "option cl_kernels has an invalid value '%s'",
                 bad_families[i]);
        if (strstr(log.all, expect) == NULL) fail_msg("no '%s' in: %s", expect, log.all);
    }
}

/* ---- without any OpenCL platform ----------------------------------------------------------- */

static void test_no_platform(void **state) {
    (void)state;
    assert_int_equal(vs_device_count(), 1);
    assert_non_null(strstr(vs_opencl_status(), "no OpenCL platform"));
    log_capture capture = {0};
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
/* vs_device_string: every field whole (the direct clGetDeviceInfo answer),
 * snprintf-style lengths and truncation, and its argument checks. */
static void test_device_strings(void **state) {
    (void)state;
    int count = vs_device_count();
    assert_true(count >= 2);
    for (int i = 0; i < count; i++) {
        vs_device info;
        assert_int_equal(vs_device_info(i, &info), VS_OK);
        const char *fields[5] = {info.name, info.vendor, info.platform, info.driver_version,
                                 info.device_version};
        for (int f = 0; f < 5; f++) {
            int length = vs_device_string(i, (vs_device_field)f, NULL, 0);
            assert_true(length >= (int)strlen(fields[f]));
            char *whole = malloc((size_t)length + 1);
            assert_non_null(whole);
            assert_int_equal(vs_device_string(i, (vs_device_field)f, whole, (size_t)length + 1),
                             length);
            assert_int_equal(strlen(whole), (size_t)length);
            /* the vs_device field is the same string, cut to its size */
            assert_memory_equal(whole, fields[f], strlen(fields[f]));
            char cut[4] = "xyz";
            assert_int_equal(vs_device_string(i, (vs_device_field)f, cut, sizeof(cut)), length);
            assert_true(strlen(cut) == (length < 3 ? (size_t)length : 3));
            assert_memory_equal(cut, whole, strlen(cut));
            free(whole);
        }
        if (i == 0) continue;
        /* the OpenCL answer itself, however long */
        cl_platform_id platforms[16];
        cl_uint nplatforms = 0;
        assert_int_equal(clGetPlatformIDs(16, platforms, &nplatforms), CL_SUCCESS);
        assert_true((cl_uint)info.platform_index < nplatforms);
        cl_device_id devices[64];
        cl_uint ndevices = 0;
        assert_int_equal(clGetDeviceIDs(platforms[info.platform_index], CL_DEVICE_TYPE_ALL, 64,
                                        devices, &ndevices),
                         CL_SUCCESS);
        assert_true((cl_uint)info.device_index < ndevices);
        size_t needed = 0;
        assert_int_equal(
            clGetDeviceInfo(devices[info.device_index], CL_DEVICE_VERSION, 0, NULL, &needed),
            CL_SUCCESS);
        char *direct = malloc(needed + 1);
        assert_non_null(direct);
        assert_int_equal(
            clGetDeviceInfo(devices[info.device_index], CL_DEVICE_VERSION, needed, direct, NULL),
            CL_SUCCESS);
        direct[needed] = '\0';
        char *ours = malloc(needed + 1);
        assert_non_null(ours);
        assert_int_equal(vs_device_string(i, VS_DEVICE_FIELD_DEVICE_VERSION, ours, needed + 1),
                         (int)strlen(direct));
        assert_string_equal(ours, direct);
        free(direct);
        free(ours);
    }
    char out[8];
    assert_int_equal(vs_device_string(count, VS_DEVICE_FIELD_NAME, out, sizeof(out)),
                     VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_device_string(-1, VS_DEVICE_FIELD_NAME, out, sizeof(out)),
                     VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_device_string(0, (vs_device_field)5, out, sizeof(out)),
                     VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_device_string(0, VS_DEVICE_FIELD_NAME, NULL, 4), VS_ERR_INVALID_ARGUMENT);
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
            cmocka_unit_test(test_agreement_gpu_family),
            cmocka_unit_test(test_threshold_selection),
            cmocka_unit_test(test_extreme_norms_rows_fused),
            cmocka_unit_test(test_extreme_norms_rows_separate),
            cmocka_unit_test(test_extreme_norms_tile_kernel),
            cmocka_unit_test(test_extreme_norms_gpu_family),
            cmocka_unit_test(test_extreme_norms_corpus_parts),
            cmocka_unit_test(test_empty_and_invalid),
            cmocka_unit_test(test_zero_copy),
            cmocka_unit_test(test_buffer_pool),
            cmocka_unit_test(test_corpus_split),
            cmocka_unit_test(test_batch_too_large_for_device),
            cmocka_unit_test(test_chunk_keeps_rows),
            cmocka_unit_test(test_pipeline_many_chunks),
            cmocka_unit_test(test_candidates_staged),
            cmocka_unit_test(test_program_cache),
            cmocka_unit_test(test_fault_injection),
            cmocka_unit_test(test_auto_cost_model),
            cmocka_unit_test(test_threads_share_context),
            cmocka_unit_test(test_device_strings),
            cmocka_unit_test(test_cache_entry_checks),
            cmocka_unit_test(test_cache_entry_owner),
            cmocka_unit_test(test_cache_dir_checks),
            cmocka_unit_test(test_cost_cache_checks),
            cmocka_unit_test(test_arena_too_small),
            cmocka_unit_test(test_bad_knobs),
        };
        failed = cmocka_run_group_tests(tests, NULL, NULL);
    }
    char command[400];
    snprintf(command, sizeof(command), "rm -rf '%s'", cache_dir);
    if (system(command) != 0) failed++;
    return failed;
}
