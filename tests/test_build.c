/*
 * test_build.c — what the build configuration promises (CMake option
 * VECSCORE_OPENCL, passed in as VECSCORE_WITH_OPENCL).
 *
 * Without OpenCL: the device list is the native CPU alone and says why,
 * "auto" runs on the CPU and reports the reason, and every opencl selector
 * (from the options or from VECSCORE_DEVICE) fails with VS_ERR_NO_DEVICE and
 * a message naming the selector and the reason.
 *
 * With OpenCL: the reason of a build without OpenCL never appears, and the
 * OpenCL devices are listed (PoCL in CI: this fails, not skips, without one).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vecscore.h"

#ifndef VECSCORE_WITH_OPENCL
#error "tests/CMakeLists.txt defines VECSCORE_WITH_OPENCL to 0 or 1"
#endif

#define NO_OPENCL "no OpenCL platform (built without OpenCL)"

#if VECSCORE_WITH_OPENCL

static void test_opencl_devices_listed(void **state) {
    (void)state;
    assert_null(strstr(vs_opencl_status(), "built without OpenCL"));
    int count = vs_device_count();
    assert_true(count >= 2); /* the native CPU and at least one OpenCL device */
    for (int i = 1; i < count; i++) {
        vs_device info;
        assert_int_equal(vs_device_info(i, &info), VS_OK);
        assert_int_not_equal(info.kind, VS_DEVICE_NATIVE_CPU);
        assert_int_equal(strncmp(info.selector, "opencl:", 7), 0);
    }
    assert_string_equal(vs_opencl_status(), "");
}

#else

typedef struct log_capture {
    char all[2048]; /* every message, one per line */
} log_capture;

static void capture_log(void *user, vs_log_level level, const char *message) {
    log_capture *capture = user;
    (void)level;
    size_t used = strlen(capture->all);
    snprintf(capture->all + used, sizeof(capture->all) - used, "%s\n", message);
}

static void test_device_list_is_the_cpu(void **state) {
    (void)state;
    assert_int_equal(vs_device_count(), 1);
    vs_device info;
    memset(&info, 0xab, sizeof(info));
    assert_int_equal(vs_device_info(0, &info), VS_OK);
    assert_int_equal(info.kind, VS_DEVICE_NATIVE_CPU);
    assert_string_equal(info.selector, "cpu");
    assert_int_equal(info.auto_eligible, 1);
    assert_int_equal(vs_device_info(1, &info), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_device_info(-1, &info), VS_ERR_INVALID_ARGUMENT);
    assert_string_equal(vs_opencl_status(), NO_OPENCL);
}

static void test_auto_runs_on_the_cpu(void **state) {
    (void)state;
    log_capture capture = {{0}};
    vs_options opts;
    vs_options_init(&opts);
    opts.log = capture_log;
    opts.log_user = &capture;
    opts.log_level = VS_LOG_INFO;
    vs_context *ctx = NULL;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    assert_non_null(strstr(capture.all, NO_OPENCL));

    const float queries[2 * 3] = {1, 0, 0, 0, 1, 0};
    const float candidates[3 * 3] = {0, 1, 0, 1, 0, 0, 0, 0, 1};
    float scores[2] = {0};
    int64_t ids[2] = {-7, -7};
    assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, queries, 2, candidates, 3, 3, 1, scores, ids),
                     VS_OK);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 0);
    assert_true(scores[0] == 1.0f && scores[1] == 1.0f);

    vs_batch_report report;
    assert_int_equal(vs_context_last_report(ctx, &report), VS_OK);
    assert_string_equal(report.backend, "cpu");
    assert_string_equal(report.fallback, NO_OPENCL);
    vs_context_free(ctx);
}

static void expect_no_device(const char *selector, int from_environment) {
    log_capture capture = {{0}};
    vs_options opts;
    vs_options_init(&opts);
    opts.log = capture_log;
    opts.log_user = &capture;
    if (from_environment) {
        opts.device = NULL;
        assert_int_equal(setenv("VECSCORE_DEVICE", selector, 1), 0);
    } else {
        opts.device = selector;
    }
    vs_context *ctx = (vs_context *)&capture; /* must be reset to NULL */
    int status = vs_context_create(&opts, &ctx);
    if (from_environment) unsetenv("VECSCORE_DEVICE");
    assert_int_equal(status, VS_ERR_NO_DEVICE);
    assert_null(ctx);
    char expected[160];
    snprintf(expected, sizeof(expected), "device '%s'", selector);
    assert_non_null(strstr(capture.all, expected));
    assert_non_null(strstr(capture.all, NO_OPENCL));
}

static void test_opencl_selectors_fail(void **state) {
    (void)state;
    const char *selectors[] = {"opencl", "opencl:0:0", "opencl:3:1", "opencl:name=pocl"};
    for (size_t i = 0; i < sizeof(selectors) / sizeof(selectors[0]); i++) {
        expect_no_device(selectors[i], 0);
        expect_no_device(selectors[i], 1);
    }
    /* A selector that is no selector at all stays a usage error, as with OpenCL. */
    vs_options opts;
    vs_options_init(&opts);
    opts.device = "gpu-please";
    vs_context *ctx = NULL;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
    assert_null(ctx);
}

#endif

int main(void) {
    unsetenv("VECSCORE_DEVICE");
    const struct CMUnitTest tests[] = {
#if VECSCORE_WITH_OPENCL
        cmocka_unit_test(test_opencl_devices_listed),
#else
        cmocka_unit_test(test_device_list_is_the_cpu),
        cmocka_unit_test(test_auto_runs_on_the_cpu),
        cmocka_unit_test(test_opencl_selectors_fail),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
