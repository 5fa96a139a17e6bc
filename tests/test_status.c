/*
 * test_status.c — the public status table (VS_STATUS_MAP), the name and
 * sentence lookups generated from it, metric names, the version string and
 * the text form of a batch report.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vecscore.h"

/* The table, expanded once into an array the tests walk. */
typedef struct status_row {
    const char *suffix;
    int value;
    const char *sentence;
} status_row;

static const status_row rows[] = {
#define ROW_(suffix, value, sentence) {#suffix, value, sentence},
    VS_STATUS_MAP(ROW_)
#undef ROW_
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* ---- status codes ----------------------------------------------------------- */

static void test_pinned_values(void **state) {
    (void)state;
    /* Values are part of the ABI: they must never change. */
    assert_int_equal(VS_OK, 0);
    assert_int_equal(VS_ERR_INVALID_ARGUMENT, -1);
    assert_int_equal(VS_ERR_OUT_OF_MEMORY, -2);
    assert_int_equal(VS_ERR_NO_DEVICE, -3);
    assert_int_equal(VS_ERR_DEVICE, -4);
    assert_int_equal(VS_ERR_UNSUPPORTED, -5);
    assert_int_equal(VS_ERR_IO, -6);
    assert_int_equal(VS_ERR_FORMAT, -7);
    assert_int_equal(VS_ERR_VERIFY, -8);
    /* ... and the map holds exactly these nine codes. */
    assert_int_equal(NROWS, 9);
}

static void test_values_distinct_and_nonpositive(void **state) {
    (void)state;
    for (size_t i = 0; i < NROWS; i++) {
        assert_true(rows[i].value <= 0);
        for (size_t j = i + 1; j < NROWS; j++) {
            if (rows[i].value == rows[j].value)
                fail_msg("%s and %s share value %d", rows[i].suffix, rows[j].suffix, rows[i].value);
        }
    }
}

static void test_status_names(void **state) {
    (void)state;
    char expected[64];
    for (size_t i = 0; i < NROWS; i++) {
        snprintf(expected, sizeof(expected), "VS_%s", rows[i].suffix);
        const char *name = vs_status_name(rows[i].value);
        assert_non_null(name);
        assert_string_equal(name, expected);
    }
    assert_string_equal(vs_status_name(VS_OK), "VS_OK");
    assert_string_equal(vs_status_name(-1), "VS_ERR_INVALID_ARGUMENT");
    assert_string_equal(vs_status_name(VS_ERR_VERIFY), "VS_ERR_VERIFY");
}

static void test_strerror_sentences(void **state) {
    (void)state;
    for (size_t i = 0; i < NROWS; i++) {
        const char *sentence = vs_strerror(rows[i].value);
        assert_non_null(sentence);
        assert_true(strlen(sentence) > 0);
        assert_string_equal(sentence, rows[i].sentence);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(sentence, vs_strerror(rows[j].value)) == 0)
                fail_msg("%s and %s share the sentence \"%s\"", rows[i].suffix, rows[j].suffix,
                         sentence);
        }
    }
    assert_string_equal(vs_strerror(VS_OK), "success");
    assert_true(strncmp(vs_strerror(VS_ERR_OUT_OF_MEMORY), "out of memory", 13) == 0);
}

static void test_unknown_codes(void **state) {
    (void)state;
    const int unknown[] = {5, 1, -9, -99, 100, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_string_equal(vs_status_name(unknown[i]), "VS_ERR_UNKNOWN");
        const char *sentence = vs_strerror(unknown[i]);
        assert_non_null(sentence);
        assert_true(strlen(sentence) > 0);
        /* The unknown sentence must not pass itself off as a known code's. */
        for (size_t j = 0; j < NROWS; j++)
            assert_string_not_equal(sentence, rows[j].sentence);
    }
}

/* ---- metric names and version ------------------------------------------------ */

static void test_metric_names(void **state) {
    (void)state;
    assert_string_equal(vs_metric_name(VS_METRIC_DOT), "dot");
    assert_string_equal(vs_metric_name(VS_METRIC_COSINE), "cosine");
    assert_string_equal(vs_metric_name(VS_METRIC_L2SQ), "l2sq");
    assert_int_equal(VS_METRIC_DOT, 0);
    assert_int_equal(VS_METRIC_COSINE, 1);
    assert_int_equal(VS_METRIC_L2SQ, 2);
    assert_null(vs_metric_name((vs_metric)7));
    assert_null(vs_metric_name((vs_metric)3));
    assert_null(vs_metric_name((vs_metric)-1));
}

static void test_version(void **state) {
    (void)state;
    const char *version = vs_version();
    assert_non_null(version);
    assert_string_equal(version, VS_VERSION_STRING);
    char expected[32];
    snprintf(expected, sizeof(expected), "%d.%d.%d", VS_VERSION_MAJOR, VS_VERSION_MINOR,
             VS_VERSION_PATCH);
    assert_string_equal(version, expected);
}

/* ---- batch report text -------------------------------------------------------- */

static void fill_report(vs_batch_report *report) {
    memset(report, 0, sizeof(*report));
    report->struct_size = sizeof(*report);
    report->version = VS_REPORT_VERSION;
    strcpy(report->backend, "cpu");
    strcpy(report->isa, "avx2");
    strcpy(report->device, "test device");
    report->threads = 3;
    report->queries = 7;
    report->candidates = 12345;
    report->dim = 768;
    report->k = 10;
    report->metric = VS_METRIC_COSINE;
    report->arena_capacity_bytes = 1048576;
    report->total_seconds = 0.5;
}

/* 1 if needle occurs as a whole line of text. */
static int has_line(const char *text, const char *line) {
    size_t n = strlen(line);
    for (const char *at = text; (at = strstr(at, line)) != NULL; at++) {
        if ((at == text || at[-1] == '\n') && at[n - 1] == '\n') return 1;
    }
    return 0;
}

static void test_report_format_full(void **state) {
    (void)state;
    vs_batch_report report;
    fill_report(&report);
    char buf[8192];
    memset(buf, 'x', sizeof(buf));
    size_t len = vs_batch_report_format(&report, buf, sizeof(buf));
    assert_true(len > 0);
    assert_true(len < sizeof(buf));
    assert_int_equal(len, strlen(buf));

    assert_true(has_line(buf, "backend=cpu\n"));
    assert_true(has_line(buf, "isa=avx2\n"));
    assert_true(has_line(buf, "device=test device\n"));
    assert_true(has_line(buf, "fallback=\n"));
    assert_true(has_line(buf, "threads=3\n"));
    assert_true(has_line(buf, "queries=7\n"));
    assert_true(has_line(buf, "candidates=12345\n"));
    assert_true(has_line(buf, "dim=768\n"));
    assert_true(has_line(buf, "k=10\n"));
    assert_true(has_line(buf, "metric=1\n"));
    assert_true(has_line(buf, "status=0\n"));
    assert_true(strstr(buf, "total_seconds=0.5") != NULL);
    assert_true(strstr(buf, "arena_capacity_bytes=1048576") != NULL);
    assert_true(strncmp(buf, "backend=cpu\n", 12) == 0);
    assert_int_equal(buf[len - 1], '\n');

    /* Every numeric field of the X-macro list appears as "name=" at a line start. */
    char key[64];
#define CHECK_FIELD_(type, name, unit, description)                                                \
    snprintf(key, sizeof(key), "\n%s=", #name);                                                    \
    if (strstr(buf, key) == NULL) fail_msg("field %s missing from report text", #name);
    VS_REPORT_FIELDS(CHECK_FIELD_)
#undef CHECK_FIELD_

    /* One line per string field and per numeric field. */
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    size_t fields = 0;
#define COUNT_TEXT_(name, size, description) fields++;
    VS_REPORT_TEXT_FIELDS(COUNT_TEXT_)
    VS_REPORT_PATH_FIELDS(COUNT_TEXT_)
#undef COUNT_TEXT_
#define COUNT_FIELD_(type, name, unit, description) fields++;
    VS_REPORT_FIELDS(COUNT_FIELD_)
#undef COUNT_FIELD_
    assert_int_equal(lines, fields);
}

static void test_report_format_truncated(void **state) {
    (void)state;
    vs_batch_report report;
    fill_report(&report);
    char full[8192];
    size_t len = vs_batch_report_format(&report, full, sizeof(full));
    assert_int_equal(len, strlen(full));

    char small[10];
    memset(small, 'x', sizeof(small));
    assert_int_equal(vs_batch_report_format(&report, small, sizeof(small)), len);
    assert_int_equal(small[9], '\0');
    assert_string_equal(small, "backend=c");

    /* Size 0 writes nothing (buf may be NULL) and still reports the length. */
    assert_int_equal(vs_batch_report_format(&report, NULL, 0), len);
    char untouched = 'q';
    assert_int_equal(vs_batch_report_format(&report, &untouched, 0), len);
    assert_int_equal(untouched, 'q');

    /* Every size: a NUL-terminated prefix of the full text, nothing past size. */
    char *buf = malloc(len + 16);
    assert_non_null(buf);
    for (size_t size = 1; size <= len + 2; size++) {
        memset(buf, 'z', len + 16);
        size_t got = vs_batch_report_format(&report, buf, size);
        if (got != len) fail_msg("size %zu: returned %zu, want %zu", size, got, len);
        size_t keep = size - 1 < len ? size - 1 : len;
        if (buf[keep] != '\0') fail_msg("size %zu: no NUL at %zu", size, keep);
        if (memcmp(buf, full, keep) != 0) fail_msg("size %zu: not a prefix", size);
        for (size_t i = size; i < len + 16; i++)
            if (buf[i] != 'z') fail_msg("size %zu: wrote byte %zu past the buffer", size, i);
    }
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pinned_values),
        cmocka_unit_test(test_values_distinct_and_nonpositive),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_strerror_sentences),
        cmocka_unit_test(test_unknown_codes),
        cmocka_unit_test(test_metric_names),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_report_format_full),
        cmocka_unit_test(test_report_format_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
