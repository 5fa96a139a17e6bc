/*
 * test_io.c — vector file readers and writers: every rejection the readers
 * promise (each checked for its status and for a message naming the file,
 * the offset or record and what was expected), format detection and
 * mismatch messages, round trips through every format and dtype, streaming
 * reads, non-finite handling, and atomic writes.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vecscore_io.h"

static char dir[256];

/* ---- helpers ------------------------------------------------------------------ */

static int setup_dir(void **state) {
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/vs_test_io_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown_dir(void **state) {
    (void)state;
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char path[512];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || e->d_name[1] == '.')) continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
    return 0;
}

/* A test that counts the files it leaves starts in an empty directory of its own. */
static int fresh_dir(void **state) {
    teardown_dir(state);
    return setup_dir(state);
}

static const char *path_of(const char *name) {
    static char path[4][512];
    static int next;
    next = (next + 1) % 4;
    snprintf(path[next], sizeof(path[next]), "%s/%s", dir, name);
    return path[next];
}

static void write_file(const char *name, const void *data, size_t size) {
    FILE *f = fopen(path_of(name), "wb");
    assert_non_null(f);
    if (size > 0) assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

/* Number of entries in dir (temporary files included). */
static int dir_entries(void) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || e->d_name[1] == '.')) continue;
        n++;
    }
    closedir(d);
    return n;
}

/* A byte buffer built piece by piece. */
typedef struct bytes {
    unsigned char data[200000];
    size_t size;
} bytes;

static bytes buf;

static void put(const void *data, size_t size) {
    assert_true(buf.size + size <= sizeof(buf.data));
    memcpy(buf.data + buf.size, data, size);
    buf.size += size;
}
static void put_i32(int32_t v) {
    put(&v, 4);
}
static void put_u32(uint32_t v) {
    put(&v, 4);
}
static void put_f32(float v) {
    put(&v, 4);
}

/* An .npy file with the given version and dict text (padded, '\n'-ended),
 * then data_bytes bytes of data. */
static void put_npy(int major, const char *dict, size_t pad_to, size_t data_bytes) {
    buf.size = 0;
    unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0};
    put(magic, 8);
    size_t preamble = major == 1 ? 10 : 12;
    size_t text = strlen(dict) + 1;
    size_t total = preamble + text;
    if (pad_to > 0 && total % pad_to) total += pad_to - total % pad_to;
    size_t header_len = total - preamble;
    if (major == 1) {
        uint16_t len16 = (uint16_t)header_len;
        put(&len16, 2);
    } else {
        put_u32((uint32_t)header_len);
    }
    put(dict, strlen(dict));
    for (size_t i = text; i < header_len; i++)
        put(" ", 1);
    put("\n", 1);
    for (size_t i = 0; i < data_bytes; i++) {
        unsigned char b = (unsigned char)(i * 7 + 1);
        put(&b, 1);
    }
}

/*
 * Writes buf to name, opens it (and the same bytes from memory) with format,
 * and checks the status and that the message contains every needle.
 */
static void expect_reject_fmt(const char *name, vs_file_format format, int status, ...) {
    write_file(name, buf.data, buf.size);
    char err[VS_IO_ERROR_SIZE] = "";
    vs_reader *r = (vs_reader *)&buf;
    int rc = vs_reader_open(path_of(name), format, 0, &r, err, sizeof(err));
    if (rc != status) fprintf(stderr, "%s: got %d (%s)\n", name, rc, err);
    assert_int_equal(rc, status);
    assert_null(r);
    assert_non_null(strstr(err, name)); /* names the file */
    va_list args;
    va_start(args, status);
    for (const char *needle = va_arg(args, const char *); needle != NULL;
         needle = va_arg(args, const char *)) {
        if (strstr(err, needle) == NULL) fprintf(stderr, "message: %s\nlacks: %s\n", err, needle);
        assert_non_null(strstr(err, needle));
    }
    va_end(args);

    char err2[VS_IO_ERROR_SIZE] = "";
    rc = vs_reader_open_memory(buf.data, buf.size, name, format, 0, &r, err2, sizeof(err2));
    assert_int_equal(rc, status);
    assert_null(r);
    assert_non_null(strstr(err2, name));
}
#define expect_reject(name, status, ...)                                                           \
    expect_reject_fmt(name, VS_FORMAT_UNKNOWN, status, __VA_ARGS__, (const char *)NULL)

static vs_reader *open_ok(const char *name, unsigned flags) {
    char err[VS_IO_ERROR_SIZE] = "";
    vs_reader *r = NULL;
    int rc = vs_reader_open(path_of(name), VS_FORMAT_UNKNOWN, flags, &r, err, sizeof(err));
    if (rc != 0) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(r);
    return r;
}

/* A valid fvecs file of rows x dim, value = row * 100 + column. */
static void put_fvecs(int rows, int dim) {
    buf.size = 0;
    for (int i = 0; i < rows; i++) {
        put_i32(dim);
        for (int j = 0; j < dim; j++)
            put_f32((float)(i * 100 + j));
    }
}

/* ---- .fvecs / .bvecs / .ivecs rejections ----------------------------------------------- */

static void test_vecs_rejections(void **state) {
    (void)state;
    buf.size = 0;
    expect_reject("empty.fvecs", VS_ERR_FORMAT, "empty file");
    put("\x01\x00", 2);
    expect_reject("short.fvecs", VS_ERR_FORMAT, "truncated", "4-byte dimension");

    buf.size = 0;
    put_i32(0);
    put_f32(1.0f);
    expect_reject("dim0.fvecs", VS_ERR_FORMAT, "record 0 (byte 0)", "dimension 0", "expected 1..");
    buf.size = 0;
    put_i32(-3);
    put_f32(1.0f);
    expect_reject("dimneg.fvecs", VS_ERR_FORMAT, "dimension -3", "expected 1..");
    buf.size = 0;
    put_i32((int32_t)VS_IO_MAX_DIM + 1);
    put_f32(1.0f);
    expect_reject("dimbig.fvecs", VS_ERR_FORMAT, "dimension 1048577", "expected 1..1048576");

    put_fvecs(1, 8);
    buf.size -= 3;
    expect_reject("trunc.fvecs", VS_ERR_FORMAT, "truncated", "record 0", "needs 36 bytes");

    put_fvecs(3, 4);
    put("\x04\x00\x00\x00\x01", 5);
    expect_reject("partial.fvecs", VS_ERR_FORMAT, "trailing partial record 3", "byte 60",
                  "expected 20");

    put_fvecs(4, 4);
    int32_t bad = 5;
    memcpy(buf.data + 3 * 20, &bad, 4);
    expect_reject("lastdim.fvecs", VS_ERR_FORMAT, "record 3 (byte 60)", "dimension 5",
                  "first record's 4");

    /* bvecs: 1-byte elements */
    buf.size = 0;
    put_i32(4);
    put("\x01\x02\x03\x04", 4);
    put_i32(4);
    put("\x01\x02", 2);
    expect_reject("partial.bvecs", VS_ERR_FORMAT, "trailing partial record 1", "byte 8");

    /* ivecs: truncated header */
    buf.size = 0;
    put("\x01", 1);
    expect_reject("short.ivecs", VS_ERR_FORMAT, "truncated", ".ivecs");
}

/* A record in the middle whose dimension differs: found when read (naming the
 * record), by vs_reader_validate, and at open with VS_READ_VALIDATE_ALL. */
static void test_vecs_middle_record(void **state) {
    (void)state;
    put_fvecs(40, 4);
    int32_t bad = 7;
    memcpy(buf.data + 20 * 20, &bad, 4);
    write_file("middle.fvecs", buf.data, buf.size);
    vs_reader *r = open_ok("middle.fvecs", 0);
    float out[40 * 4];
    assert_int_equal(vs_reader_read_f32(r, 0, 20, out), 0);
    assert_true(out[19 * 4 + 3] == 1903.0f);
    assert_int_equal(vs_reader_read_f32(r, 10, 20, out), VS_ERR_FORMAT);
    assert_non_null(strstr(vs_reader_error(r), "record 20 (byte 400)"));
    assert_non_null(strstr(vs_reader_error(r), "middle.fvecs"));
    assert_int_equal(vs_reader_validate(r), VS_ERR_FORMAT);
    assert_non_null(strstr(vs_reader_error(r), "record 20"));
    vs_reader_close(r);

    char err[VS_IO_ERROR_SIZE];
    assert_int_equal(vs_reader_open(path_of("middle.fvecs"), VS_FORMAT_UNKNOWN,
                                    VS_READ_VALIDATE_ALL, &r, err, sizeof(err)),
                     VS_ERR_FORMAT);
    assert_non_null(strstr(err, "record 20 (byte 400): dimension 7"));
}

/* ---- .fbin / .u8bin / .ibin rejections ------------------------------------------------- */

static void test_bin_rejections(void **state) {
    (void)state;
    buf.size = 0;
    put_u32(2);
    expect_reject("short.fbin", VS_ERR_FORMAT, "truncated header", "expected 8");

    buf.size = 0;
    put_u32(2);
    put_u32(0);
    expect_reject("dim0.fbin", VS_ERR_FORMAT, "dimension 0 at byte 4", "expected 1..");

    buf.size = 0;
    put_u32(2);
    put_u32(VS_IO_MAX_DIM + 5);
    expect_reject("dimbig.u8bin", VS_ERR_FORMAT, "dimension 1048581 at byte 4");

    buf.size = 0;
    put_u32(3);
    put_u32(2);
    for (int i = 0; i < 5; i++)
        put_f32(1.0f);
    expect_reject("trunc.fbin", VS_ERR_FORMAT, "not 8 + 3 x 2 x 4 = 32 bytes", "truncated",
                  "byte 28");

    buf.size = 0;
    put_u32(2);
    put_u32(2);
    for (int i = 0; i < 4; i++)
        put_i32(i);
    put("\x00", 1);
    expect_reject("trail.ibin", VS_ERR_FORMAT, "trailing bytes", "byte 24");

    buf.size = 0;
    put_u32(0);
    put_u32(3);
    expect_reject("zero.fbin", VS_ERR_FORMAT, "count 0", "no vectors");

    buf.size = 0;
    put_u32(0xffffffffu);
    put_u32(VS_IO_MAX_DIM);
    expect_reject("huge.fbin", VS_ERR_FORMAT, "4294967295 x 1048576 x 4", "truncated");
}

/* ---- .npy rejections ----------------------------------------------------------------------- */

static void test_npy_rejections(void **state) {
    (void)state;
    buf.size = 0;
    put("\x93NUMP", 5);
    expect_reject("short.npy", VS_ERR_FORMAT, "truncated");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", 64, 8);
    buf.data[1] = 'X';
    expect_reject("magic.npy", VS_ERR_FORMAT, "npy magic");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", 64, 8);
    buf.data[6] = 4;
    expect_reject("version.npy", VS_ERR_FORMAT, "npy version 4.0 at byte 6",
                  "expected 1.0, 2.0 or 3.0");

    put_npy(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", 64, 8);
    uint32_t big = VS_IO_NPY_MAX_HEADER + 1;
    memcpy(buf.data + 8, &big, 4);
    expect_reject("hdrbig.npy", VS_ERR_FORMAT, "header length 65537 at byte 8", "limit");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", 64, 0);
    buf.size -= 10;
    expect_reject("hdrpast.npy", VS_ERR_FORMAT, "past the end of the file");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", 64, 8);
    buf.data[buf.size - 8 - 1] = ' ';
    expect_reject("nonl.npy", VS_ERR_FORMAT, "newline at byte 127");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, }", 64, 8);
    expect_reject("noshape.npy", VS_ERR_FORMAT, "missing key 'shape'");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), 'extra': 1}", 64, 8);
    expect_reject("extra.npy", VS_ERR_FORMAT, "unknown key 'extra'");

    put_npy(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}", 64, 8);
    expect_reject("dup.npy", VS_ERR_FORMAT, "key 'descr' appears twice");

    put_npy(1, "{'descr': '<f4' 'fortran_order': False, 'shape': (1, 2)}", 64, 8);
    expect_reject("comma.npy", VS_ERR_FORMAT, "malformed npy header at byte 26",
                  "expected ',' or '}'");

    put_npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2), }", 64, 8);
    expect_reject("bigendian.npy", VS_ERR_FORMAT, "big-endian dtype '>f4'", "'<f4'");

    put_npy(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1, 2), }", 64, 16);
    expect_reject("complex.npy", VS_ERR_FORMAT, "unsupported npy dtype '<c8'", "<f4 <f2 <f8");

    put_npy(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 2), }", 64, 8);
    expect_reject("struct.npy", VS_ERR_FORMAT, "structured");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2), }", 64, 32);
    expect_reject("3d.npy", VS_ERR_FORMAT, "3 dimensions", "expected 2");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 64, 4);
    expect_reject("0d.npy", VS_ERR_FORMAT, "0 dimensions");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 0), }", 64, 0);
    expect_reject("dim0.npy", VS_ERR_FORMAT, "npy dimension 0");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", 64, 0);
    expect_reject("rows0.npy", VS_ERR_FORMAT, "0 rows");

    put_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 1024), }",
            64, 8);
    expect_reject("overflow.npy", VS_ERR_FORMAT, "overflows 64 bits");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 1), }",
            64, 8);
    expect_reject("bigvalue.npy", VS_ERR_FORMAT, "shape value at byte", "overflows 64 bits");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 64, 20);
    expect_reject("trunc.npy", VS_ERR_FORMAT, "truncated", "128 + 3 x 2 x 4 = 152");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 64, 25);
    expect_reject("trail.npy", VS_ERR_FORMAT, "trailing bytes", "byte 152");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }\x01", 64, 8);
    expect_reject("ctrl.npy", VS_ERR_FORMAT, "malformed npy header", "byte 0x01");
}

/* ---- format detection -------------------------------------------------------------------------
 */

static void test_detection(void **state) {
    (void)state;
    put_fvecs(3, 5);
    expect_reject("vecs.fbin", VS_ERR_FORMAT, "looks like .fvecs, not .fbin");

    buf.size = 0;
    put_u32(3);
    put_u32(4);
    for (int i = 0; i < 12; i++)
        put_f32((float)i + 0.5f);
    expect_reject("bin.fvecs", VS_ERR_FORMAT, "looks like .fbin, not .fvecs");

    put_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 64, 24);
    expect_reject("array.ivecs", VS_ERR_FORMAT, "looks like .npy, not .ivecs");

    /* explicit format beats the extension */
    put_fvecs(3, 5);
    expect_reject_fmt("vecs.dat", VS_FORMAT_FBIN, VS_ERR_FORMAT, "looks like .fvecs, not .fbin",
                      (const char *)NULL);

    /* unknown extension: the content decides */
    write_file("vecs.dat", buf.data, buf.size);
    vs_reader *r = open_ok("vecs.dat", 0);
    assert_int_equal(vs_reader_get_info(r)->format, VS_FORMAT_FVECS);
    assert_int_equal(vs_reader_get_info(r)->rows, 3);
    assert_int_equal(vs_reader_get_info(r)->dim, 5);
    vs_reader_close(r);

    buf.size = 0;
    put("garbage!!", 9);
    expect_reject("junk.dat", VS_ERR_FORMAT, "unknown format");

    assert_int_equal(vs_file_format_from_path("a/b.c/x.FVECS"), VS_FORMAT_FVECS);
    assert_int_equal(vs_file_format_from_path("x.u8bin"), VS_FORMAT_U8BIN);
    assert_int_equal(vs_file_format_from_path("dir.npy/x"), VS_FORMAT_UNKNOWN);
    assert_string_equal(vs_file_format_name(VS_FORMAT_IBIN), "ibin");

    char err[VS_IO_ERROR_SIZE];
    assert_int_equal(vs_reader_open(path_of("missing.fvecs"), 0, 0, &r, err, sizeof(err)),
                     VS_ERR_IO);
    assert_non_null(strstr(err, "missing.fvecs: cannot open"));
    assert_int_equal(vs_reader_open(dir, 0, 0, &r, err, sizeof(err)), VS_ERR_IO);
    assert_non_null(strstr(err, "not a regular file"));
    assert_int_equal(vs_reader_open(NULL, 0, 0, &r, err, sizeof(err)), VS_ERR_INVALID_ARGUMENT);
}

/* ---- npy versions, dtypes, unaligned data, 1-D -------------------------------------------- */

static void test_npy_variants(void **state) {
    (void)state;
    /* v2 and v3 headers, data offset 12 + 3 = 15 bytes past... not a multiple of 4 */
    for (int major = 1; major <= 3; major++) {
        put_npy(major, "{ \"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(2,3)}", 0, 0);
        assert_true(buf.size % 4 != 0); /* unaligned data offset */
        for (int i = 0; i < 6; i++)
            put_f32((float)i * 1.5f);
        char name[32];
        snprintf(name, sizeof(name), "v%d.npy", major);
        write_file(name, buf.data, buf.size);
        vs_reader *r = open_ok(name, 0);
        const vs_reader_info *info = vs_reader_get_info(r);
        assert_int_equal(info->npy_version, major);
        assert_int_equal(info->rows, 2);
        assert_int_equal(info->dim, 3);
        float out[6];
        assert_int_equal(vs_reader_read_f32(r, 0, 2, out), 0);
        for (int i = 0; i < 6; i++)
            assert_true(out[i] == (float)i * 1.5f);
        assert_int_equal(vs_reader_read_i64(r, 0, 1, (int64_t *)out), VS_ERR_FORMAT);
        assert_non_null(strstr(vs_reader_error(r), "float32"));
        vs_reader_close(r);
    }

    /* 1-D: one vector; Python-2 long suffix and trailing comma */
    put_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4L,), }", 16, 0);
    for (int i = 0; i < 4; i++) {
        double d = -2.25 * i;
        put(&d, 8);
    }
    write_file("one.npy", buf.data, buf.size);
    vs_reader *r = open_ok("one.npy", 0);
    assert_int_equal(vs_reader_get_info(r)->rows, 1);
    assert_int_equal(vs_reader_get_info(r)->dim, 4);
    assert_int_equal(vs_reader_get_info(r)->dtype, VS_DTYPE_F64);
    float out[4];
    assert_int_equal(vs_reader_read_f32(r, 0, 1, out), 0);
    for (int i = 0; i < 4; i++)
        assert_true(out[i] == (float)(-2.25 * i));
    vs_reader_close(r);

    /* float16 values: 1, -2, 0.5, 65504, subnormal 2^-24, inf */
    put_npy(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 6), }", 64, 0);
    uint16_t halves[6] = {0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00};
    put(halves, sizeof(halves));
    write_file("half.npy", buf.data, buf.size);
    r = open_ok("half.npy", 0);
    float h[6];
    assert_int_equal(vs_reader_read_f32(r, 0, 1, h), 0);
    assert_true(h[0] == 1.0f && h[1] == -2.0f && h[2] == 0.5f && h[3] == 65504.0f);
    assert_true(h[4] == ldexpf(1.0f, -24));
    assert_true(isinf(h[5]));
    /* the same rows as float16 bits, unconverted (vs_reader_read_f16) */
    uint16_t bits[6];
    assert_int_equal(vs_reader_read_f16(r, 0, 1, bits), 0);
    assert_memory_equal(bits, halves, sizeof(halves));
    assert_int_equal(vs_reader_read_f16(r, 1, 1, bits), VS_ERR_INVALID_ARGUMENT);
    vs_reader_close(r);
    r = open_ok("half.npy", VS_READ_REJECT_NONFINITE);
    assert_int_equal(vs_reader_read_f16(r, 0, 1, bits), VS_ERR_FORMAT);
    assert_non_null(strstr(vs_reader_error(r), "row 0, element 5 is infinite"));
    vs_reader_close(r);
    /* column-major float16: rows come out row-major, bits unchanged */
    put_npy(1, "{'descr': '<f2', 'fortran_order': True, 'shape': (2, 3), }", 64, 0);
    put(halves, sizeof(halves)); /* column 0 = {halves[0], halves[1]}, ... */
    write_file("half_f.npy", buf.data, buf.size);
    r = open_ok("half_f.npy", 0);
    assert_int_equal(vs_reader_read_f16(r, 0, 2, bits), 0);
    const uint16_t row_major[6] = {0x3c00, 0x3800, 0x0001, 0xc000, 0x7bff, 0x7c00};
    assert_memory_equal(bits, row_major, sizeof(row_major));
    vs_reader_close(r);
    /* other element types are refused, with the type named */
    r = open_ok("one.npy", 0);
    assert_int_equal(vs_reader_read_f16(r, 0, 1, bits), VS_ERR_FORMAT);
    assert_non_null(strstr(vs_reader_error(r), "vs_reader_read_f16 reads float16"));
    vs_reader_close(r);

    /* int8 */
    put_npy(1, "{'descr': '|i1', 'fortran_order': False, 'shape': (2, 2), }", 64, 0);
    put("\x01\xff\x80\x7f", 4);
    write_file("i8.npy", buf.data, buf.size);
    r = open_ok("i8.npy", 0);
    float b[4];
    int64_t ids[4];
    assert_int_equal(vs_reader_read_f32(r, 0, 2, b), 0);
    assert_true(b[0] == 1.0f && b[1] == -1.0f && b[2] == -128.0f && b[3] == 127.0f);
    assert_int_equal(vs_reader_read_i64(r, 1, 1, ids), 0);
    assert_int_equal(ids[0], -128);
    assert_int_equal(ids[1], 127);
    vs_reader_close(r);
}

/* ---- streaming reads, ranges, non-finite values ------------------------------------------- */

static void test_streaming_and_nonfinite(void **state) {
    (void)state;
    put_fvecs(10, 3);
    float nan = NAN;
    memcpy(buf.data + 6 * 16 + 4 + 2 * 4, &nan, 4); /* row 6, element 2 */
    write_file("nan.fvecs", buf.data, buf.size);

    vs_reader *r = open_ok("nan.fvecs", 0);
    float out[30];
    for (uint64_t start = 0; start < 10; start += 4) { /* chunks of 4, 4, 2 */
        uint64_t count = start + 4 <= 10 ? 4 : 10 - start;
        assert_int_equal(vs_reader_read_f32(r, start, count, out), 0);
        assert_true(out[0] == (float)(start * 100));
    }
    assert_int_equal(vs_reader_read_f32(r, 8, 3, out), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vs_reader_error(r), "outside"));
    assert_int_equal(vs_reader_read_f32(r, 10, 0, out), 0);
    vs_reader_close(r);

    r = open_ok("nan.fvecs", VS_READ_REJECT_NONFINITE);
    assert_int_equal(vs_reader_read_f32(r, 0, 6, out), 0);
    assert_int_equal(vs_reader_read_f32(r, 4, 4, out), VS_ERR_FORMAT);
    assert_non_null(strstr(vs_reader_error(r), "row 6, element 2 is NaN"));
    assert_non_null(strstr(vs_reader_error(r), "nan.fvecs"));
    vs_reader_close(r);
}

/* ---- round trips through every format and dtype -------------------------------------------- */

static void round_trip(const char *name, vs_file_format format, vs_dtype dtype, int ids) {
    enum { ROWS = 5, DIM = 7 };
    float values[ROWS * DIM];
    int64_t ivalues[ROWS * DIM];
    for (int i = 0; i < ROWS * DIM; i++) {
        int v = (i * 37) % 200 - (dtype == VS_DTYPE_U8 ? 0 : 100);
        if (dtype == VS_DTYPE_U8 && v < 0) v = -v;
        ivalues[i] = v;
        /* halves of small integers are exact in every float type */
        values[i] = (dtype == VS_DTYPE_F32 || dtype == VS_DTYPE_F16 || dtype == VS_DTYPE_F64)
                        ? (float)v * 0.5f
                        : (float)v;
    }
    if (dtype == VS_DTYPE_I64) ivalues[3] = INT64_C(1) << 40;
    char err[VS_IO_ERROR_SIZE];
    vs_writer *w = NULL;
    assert_int_equal(vs_writer_open(path_of(name), format, dtype, DIM, &w, err, sizeof(err)), 0);
    if (ids) {
        assert_int_equal(vs_writer_write_i64(w, ivalues, 2), 0);
        assert_int_equal(vs_writer_write_i64(w, ivalues + 2 * DIM, ROWS - 2), 0);
    } else {
        assert_int_equal(vs_writer_write_f32(w, values, 3), 0);
        assert_int_equal(vs_writer_write_f32(w, values + 3 * DIM, ROWS - 3), 0);
    }
    assert_int_equal(vs_writer_commit(w, err, sizeof(err)), 0);

    vs_reader *r = open_ok(name, VS_READ_VALIDATE_ALL);
    const vs_reader_info *info = vs_reader_get_info(r);
    assert_int_equal(info->format, format);
    assert_int_equal(info->dtype, dtype);
    assert_int_equal(info->rows, ROWS);
    assert_int_equal(info->dim, DIM);
    if (ids) {
        int64_t back[ROWS * DIM];
        assert_int_equal(vs_reader_read_i64(r, 0, ROWS, back), 0);
        for (int i = 0; i < ROWS * DIM; i++)
            assert_int_equal(back[i], ivalues[i]);
    } else {
        float back[ROWS * DIM];
        assert_int_equal(vs_reader_read_f32(r, 1, ROWS - 1, back), 0);
        for (int i = 0; i < (ROWS - 1) * DIM; i++)
            assert_true(back[i] == values[DIM + i]);
    }
    vs_reader_close(r);
}

static void test_round_trips(void **state) {
    (void)state;
    round_trip("rt.fvecs", VS_FORMAT_FVECS, VS_DTYPE_F32, 0);
    round_trip("rt.bvecs", VS_FORMAT_BVECS, VS_DTYPE_U8, 0);
    round_trip("rt.ivecs", VS_FORMAT_IVECS, VS_DTYPE_I32, 1);
    round_trip("rt.fbin", VS_FORMAT_FBIN, VS_DTYPE_F32, 0);
    round_trip("rt.u8bin", VS_FORMAT_U8BIN, VS_DTYPE_U8, 0);
    round_trip("rt.ibin", VS_FORMAT_IBIN, VS_DTYPE_I32, 1);
    round_trip("rt_f4.npy", VS_FORMAT_NPY, VS_DTYPE_F32, 0);
    round_trip("rt_f2.npy", VS_FORMAT_NPY, VS_DTYPE_F16, 0);
    round_trip("rt_f8.npy", VS_FORMAT_NPY, VS_DTYPE_F64, 0);
    round_trip("rt_u1.npy", VS_FORMAT_NPY, VS_DTYPE_U8, 0);
    round_trip("rt_i1.npy", VS_FORMAT_NPY, VS_DTYPE_I8, 0);
    round_trip("rt_i4.npy", VS_FORMAT_NPY, VS_DTYPE_I32, 1);
    round_trip("rt_i8.npy", VS_FORMAT_NPY, VS_DTYPE_I64, 1);
    /* only the targets remain: no temporary files */
    assert_int_equal(dir_entries(), 13);
}

/* ---- atomic writes ----------------------------------------------------------------------------
 */

static void test_atomic_writes(void **state) {
    (void)state;
    char err[VS_IO_ERROR_SIZE];
    float row[3] = {1, 2, 3};

    /* abort leaves nothing */
    vs_writer *w = NULL;
    assert_int_equal(
        vs_writer_open(path_of("a.fvecs"), VS_FORMAT_FVECS, VS_DTYPE_F32, 3, &w, err, sizeof(err)),
        0);
    assert_non_null(strstr(vs_writer_temp_path(w), "/.vs.tmp-"));
    assert_int_equal(access(vs_writer_temp_path(w), F_OK), 0);
    assert_int_equal(vs_writer_write_f32(w, row, 1), 0);
    assert_int_equal(dir_entries(), 1);
    vs_writer_abort(w);
    assert_int_equal(dir_entries(), 0);

    /* an existing target is untouched by a failed write, replaced by a commit */
    write_file("keep.bvecs", "old", 3);
    assert_int_equal(vs_writer_open(path_of("keep.bvecs"), VS_FORMAT_BVECS, VS_DTYPE_U8, 3, &w, err,
                                    sizeof(err)),
                     0);
    float bad[3] = {1, 300, 2};
    assert_int_equal(vs_writer_write_f32(w, bad, 1), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vs_writer_error(w), "row 0, element 1: 300 does not fit u1"));
    assert_int_equal(vs_writer_commit(w, err, sizeof(err)), VS_ERR_IO);
    assert_non_null(strstr(err, "300"));
    assert_int_equal(dir_entries(), 1);
    struct stat st;
    assert_int_equal(stat(path_of("keep.bvecs"), &st), 0);
    assert_int_equal(st.st_size, 3);

    assert_int_equal(vs_writer_open(path_of("keep.bvecs"), VS_FORMAT_BVECS, VS_DTYPE_U8, 3, &w, err,
                                    sizeof(err)),
                     0);
    assert_int_equal(vs_writer_write_f32(w, row, 1), 0);
    assert_int_equal(vs_writer_commit(w, err, sizeof(err)), 0);
    assert_int_equal(stat(path_of("keep.bvecs"), &st), 0);
    assert_int_equal(st.st_size, 7);
    assert_int_equal(dir_entries(), 1);

    /* a missing directory, a bad dtype, a bad dim */
    assert_int_equal(vs_writer_open(path_of("nodir/x.fvecs"), VS_FORMAT_FVECS, VS_DTYPE_F32, 3, &w,
                                    err, sizeof(err)),
                     VS_ERR_IO);
    assert_null(w);
    assert_non_null(strstr(err, "cannot create a temporary file"));
    assert_int_equal(
        vs_writer_open(path_of("x.fvecs"), VS_FORMAT_FVECS, VS_DTYPE_U8, 3, &w, err, sizeof(err)),
        VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        vs_writer_open(path_of("x.fvecs"), VS_FORMAT_FVECS, VS_DTYPE_F32, 0, &w, err, sizeof(err)),
        VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        vs_writer_open(path_of("x.dat"), VS_FORMAT_UNKNOWN, VS_DTYPE_F32, 2, &w, err, sizeof(err)),
        VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(dir_entries(), 1);

    /* vs_outfile on its own */
    vs_outfile *f = NULL;
    assert_int_equal(vs_outfile_open(path_of("t.tsv"), &f, err, sizeof(err)), 0);
    fprintf(vs_outfile_stream(f), "hello\n");
    assert_int_equal(access(path_of("t.tsv"), F_OK), -1);
    assert_int_equal(vs_outfile_commit(f, err, sizeof(err)), 0);
    assert_int_equal(stat(path_of("t.tsv"), &st), 0);
    assert_int_equal(st.st_size, 6);
    vs_outfile_abort(NULL);
    vs_writer_abort(NULL);
    vs_reader_close(NULL);
}

/* ---- output files: names, modes, links, streams, sets ------------------------------------- */

static long file_size(const char *name) {
    struct stat st;
    return stat(path_of(name), &st) == 0 ? (long)st.st_size : -1;
}

static void read_back(const char *name, char *out, size_t size) {
    FILE *in = fopen(path_of(name), "rb");
    assert_non_null(in);
    size_t n = fread(out, 1, size - 1, in);
    out[n] = '\0';
    fclose(in);
}

/* A text output holding text, committed alone. */
static void commit_text(const char *name, const char *text) {
    char err[VS_IO_ERROR_SIZE];
    vs_outfile *f = NULL;
    assert_int_equal(vs_outfile_open(path_of(name), &f, err, sizeof(err)), 0);
    fputs(text, vs_outfile_stream(f));
    assert_int_equal(vs_outfile_commit(f, err, sizeof(err)), 0);
}

static void test_outfile_names_and_modes(void **state) {
    (void)state;
    char err[VS_IO_ERROR_SIZE], text[64];

    /* the temporary name is short and fixed, next to the target: any valid name works */
    for (size_t len = 240; len <= 255; len += 5) {
        char name[256];
        memset(name, 'n', len);
        name[len] = '\0';
        vs_outfile *f = NULL;
        int rc = vs_outfile_open(path_of(name), &f, err, sizeof(err));
        if (rc != 0) fprintf(stderr, "%s\n", err);
        assert_int_equal(rc, 0);
        const char *temp = vs_outfile_temp_path(f);
        assert_non_null(temp);
        assert_int_equal(strncmp(temp, dir, strlen(dir)), 0);
        assert_int_equal(strlen(strrchr(temp, '/') + 1), 14);
        assert_non_null(strstr(temp, "/.vs.tmp-"));
        fputs("x", vs_outfile_stream(f));
        assert_int_equal(vs_outfile_commit(f, err, sizeof(err)), 0);
        assert_int_equal(file_size(name), 1);
        unlink(path_of(name));
    }

    /* an existing file keeps its mode; a new one gets 0666 & ~umask */
    write_file("private.tsv", "old", 3);
    assert_int_equal(chmod(path_of("private.tsv"), 0600), 0);
    vs_outfile *f = NULL;
    assert_int_equal(vs_outfile_open(path_of("private.tsv"), &f, err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(stat(vs_outfile_temp_path(f), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600); /* from the start, not only after the rename */
    fputs("new", vs_outfile_stream(f));
    assert_int_equal(vs_outfile_commit(f, err, sizeof(err)), 0);
    assert_int_equal(stat(path_of("private.tsv"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    read_back("private.tsv", text, sizeof(text));
    assert_string_equal(text, "new");
    assert_int_equal(chmod(path_of("private.tsv"), 0640), 0);
    commit_text("private.tsv", "again");
    assert_int_equal(stat(path_of("private.tsv"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    mode_t old_mask = umask(027);
    commit_text("fresh.tsv", "x");
    umask(old_mask);
    assert_int_equal(stat(path_of("fresh.tsv"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);

    /* refused at open: a directory, a name ending in '/'; nothing is created */
    assert_int_equal(mkdir(path_of("adir"), 0755), 0);
    assert_int_equal(vs_outfile_open(path_of("adir"), &f, err, sizeof(err)), VS_ERR_IO);
    assert_null(f);
    assert_non_null(strstr(err, "adir: is a directory"));
    assert_int_equal(vs_outfile_open(path_of("adir/"), &f, err, sizeof(err)), VS_ERR_IO);
    assert_int_equal(rmdir(path_of("adir")), 0);
    assert_int_equal(dir_entries(), 2);
}

static void test_outfile_links(void **state) {
    (void)state;
    char text[64];
    struct stat st;

    /* a symbolic link: its target is replaced, the link stays a link */
    write_file("real.tsv", "old", 3);
    assert_int_equal(symlink("real.tsv", path_of("link.tsv")), 0);
    assert_int_equal(symlink("link.tsv", path_of("link2.tsv")), 0);
    commit_text("link2.tsv", "via link");
    assert_int_equal(lstat(path_of("link.tsv"), &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lstat(path_of("link2.tsv"), &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    read_back("real.tsv", text, sizeof(text));
    assert_string_equal(text, "via link");
    /* a dangling link creates its target */
    assert_int_equal(symlink("later.tsv", path_of("dangling.tsv")), 0);
    commit_text("dangling.tsv", "created");
    read_back("later.tsv", text, sizeof(text));
    assert_string_equal(text, "created");
    assert_int_equal(dir_entries(), 5);

    /* a loop of links is an error naming the file */
    assert_int_equal(symlink("loop2", path_of("loop1")), 0);
    assert_int_equal(symlink("loop1", path_of("loop2")), 0);
    char err[VS_IO_ERROR_SIZE];
    vs_outfile *f = NULL;
    assert_int_equal(vs_outfile_open(path_of("loop1"), &f, err, sizeof(err)), VS_ERR_IO);
    assert_non_null(strstr(err, "loop1: cannot follow its symbolic links"));
    assert_int_equal(dir_entries(), 7);
}

static void test_path_same_file(void **state) {
    (void)state;
    write_file("a.fvecs", "a", 1);
    write_file("b.fvecs", "b", 1);
    assert_int_equal(link(path_of("a.fvecs"), path_of("hard.fvecs")), 0);
    assert_int_equal(symlink("a.fvecs", path_of("soft.fvecs")), 0);
    assert_int_equal(symlink("new.npy", path_of("to_new.npy")), 0);
    assert_int_equal(mkdir(path_of("sub"), 0755), 0);

    assert_int_equal(vs_path_same_file(path_of("a.fvecs"), path_of("a.fvecs")), 1);
    assert_int_equal(vs_path_same_file(path_of("a.fvecs"), path_of("hard.fvecs")), 1);
    assert_int_equal(vs_path_same_file(path_of("soft.fvecs"), path_of("a.fvecs")), 1);
    assert_int_equal(vs_path_same_file(path_of("sub/../a.fvecs"), path_of("a.fvecs")), 1);
    assert_int_equal(vs_path_same_file(path_of("a.fvecs"), path_of("b.fvecs")), 0);
    /* names that do not exist yet: by directory and name */
    assert_int_equal(vs_path_same_file(path_of("new.npy"), path_of("sub/../new.npy")), 1);
    assert_int_equal(vs_path_same_file(path_of("new.npy"), path_of("to_new.npy")), 1);
    assert_int_equal(vs_path_same_file(path_of("new.npy"), path_of("sub/new.npy")), 0);
    assert_int_equal(vs_path_same_file(path_of("new.npy"), path_of("other.npy")), 0);
    assert_int_equal(vs_path_same_file(path_of("new.npy"), path_of("a.fvecs")), 0);
    /* relative names, "./x" and "x" */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(vs_path_same_file("./a.fvecs", "a.fvecs"), 1);
    assert_int_equal(vs_path_same_file("./x.npy", "x.npy"), 1);
    assert_int_equal(vs_path_same_file("sub/../x.npy", "./x.npy"), 1);
    assert_int_equal(chdir(cwd), 0);
    /* character devices are never "the same file"; NULL is not either */
    assert_int_equal(vs_path_same_file("/dev/null", "/dev/null"), 0);
    assert_int_equal(vs_path_same_file(NULL, path_of("a.fvecs")), 0);
    assert_int_equal(rmdir(path_of("sub")), 0);
}

/* A FIFO with this process as its reader (so that opening it to write does not wait). */
static int fifo_reader(const char *name) {
    unlink(path_of(name));
    assert_int_equal(mkfifo(path_of(name), 0600), 0);
    int fd = open(path_of(name), O_RDONLY | O_NONBLOCK);
    assert_true(fd >= 0);
    return fd;
}

static void test_outfile_write_through(void **state) {
    (void)state;
    char err[VS_IO_ERROR_SIZE];
    struct stat st;

    /* /dev/null and character devices: no temporary file, nothing renamed */
    assert_int_equal(vs_outfile_writes_through("/dev/null"), 1);
    assert_int_equal(vs_outfile_writes_through("/dev/stdout"), 1);
    assert_int_equal(vs_outfile_writes_through("/dev/fd/2"), 1);
    assert_int_equal(vs_outfile_writes_through(path_of("plain.tsv")), 0);
    vs_outfile *f = NULL;
    assert_int_equal(vs_outfile_open("/dev/null", &f, err, sizeof(err)), 0);
    assert_null(vs_outfile_temp_path(f));
    fputs("discarded", vs_outfile_stream(f));
    assert_int_equal(vs_outfile_commit(f, err, sizeof(err)), 0);
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));

    /* a FIFO stays a FIFO, and its reader gets the bytes */
    int reader = fifo_reader("pipe.tsv");
    assert_int_equal(vs_outfile_writes_through(path_of("pipe.tsv")), 1);
    assert_int_equal(vs_outfile_open(path_of("pipe.tsv"), &f, err, sizeof(err)), 0);
    assert_null(vs_outfile_temp_path(f));
    fputs("through the pipe", vs_outfile_stream(f));
    assert_int_equal(vs_outfile_commit(f, err, sizeof(err)), 0);
    char got[64] = "";
    assert_int_equal(read(reader, got, sizeof(got) - 1), 16);
    assert_string_equal(got, "through the pipe");
    close(reader);
    assert_int_equal(lstat(path_of("pipe.tsv"), &st), 0);
    assert_true(S_ISFIFO(st.st_mode));

    /* .npy to a FIFO: the row count must be declared, and the header then holds it */
    reader = fifo_reader("pipe.npy");
    vs_writer *w = NULL;
    float row[2] = {1, 2};
    assert_int_equal(
        vs_writer_open(path_of("pipe.npy"), VS_FORMAT_NPY, VS_DTYPE_F32, 2, &w, err, sizeof(err)),
        0);
    assert_int_equal(vs_writer_write_f32(w, row, 1), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vs_writer_error(w), "declare the rows first"));
    vs_writer_abort(w);
    close(reader);
    reader = fifo_reader("pipe.npy");
    assert_int_equal(
        vs_writer_open(path_of("pipe.npy"), VS_FORMAT_NPY, VS_DTYPE_F32, 2, &w, err, sizeof(err)),
        0);
    assert_int_equal(vs_writer_expect_rows(w, 2), 0);
    assert_int_equal(vs_writer_write_f32(w, row, 1), 0);
    assert_int_equal(vs_writer_write_f32(w, row, 1), 0);
    assert_int_equal(vs_writer_commit(w, err, sizeof(err)), 0);
    unsigned char npy[200];
    assert_int_equal(read(reader, npy, sizeof(npy)), 128 + 16);
    close(reader);
    vs_reader *r = NULL;
    assert_int_equal(vs_reader_open_memory(npy, 144, "pipe.npy", 0, 0, &r, err, sizeof(err)), 0);
    assert_int_equal(vs_reader_get_info(r)->rows, 2);
    vs_reader_close(r);
    unlink(path_of("pipe.tsv"));
    unlink(path_of("pipe.npy"));
    assert_int_equal(dir_entries(), 0);
}

static void test_writer_expect_rows(void **state) {
    (void)state;
    char err[VS_IO_ERROR_SIZE];
    int64_t ids[6] = {0, 1, 2, 3, 4, 5};
    vs_writer *w = NULL;

    /* the declared count is in the header from the first write; the file reads back */
    assert_int_equal(
        vs_writer_open(path_of("d.ibin"), VS_FORMAT_IBIN, VS_DTYPE_I32, 2, &w, err, sizeof(err)),
        0);
    assert_int_equal(vs_writer_expect_rows(w, 3), 0);
    assert_int_equal(vs_writer_write_i64(w, ids, 3), 0);
    assert_int_equal(vs_writer_commit(w, err, sizeof(err)), 0);
    vs_reader *r = open_ok("d.ibin", 0);
    assert_int_equal(vs_reader_get_info(r)->rows, 3);
    vs_reader_close(r);

    /* more rows than declared fail at once; fewer fail at finish; nothing is committed */
    write_file("keep.ibin", "old", 3);
    assert_int_equal(
        vs_writer_open(path_of("keep.ibin"), VS_FORMAT_IBIN, VS_DTYPE_I32, 2, &w, err, sizeof(err)),
        0);
    assert_int_equal(vs_writer_expect_rows(w, 2), 0);
    assert_int_equal(vs_writer_write_i64(w, ids, 3), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vs_writer_error(w), "1 more rows than the 2 declared"));
    assert_int_equal(vs_writer_commit(w, err, sizeof(err)), VS_ERR_IO);
    assert_int_equal(
        vs_writer_open(path_of("keep.ibin"), VS_FORMAT_IBIN, VS_DTYPE_I32, 2, &w, err, sizeof(err)),
        0);
    assert_int_equal(vs_writer_expect_rows(w, 2), 0);
    assert_int_equal(vs_writer_write_i64(w, ids, 1), 0);
    assert_int_equal(vs_writer_expect_rows(w, 1), VS_ERR_INVALID_ARGUMENT); /* after a write */
    assert_int_equal(vs_writer_commit(w, err, sizeof(err)), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "1 rows written but 2 declared"));
    assert_int_equal(file_size("keep.ibin"), 3);
    /* a count the header cannot hold */
    assert_int_equal(
        vs_writer_open(path_of("big.fbin"), VS_FORMAT_FBIN, VS_DTYPE_F32, 2, &w, err, sizeof(err)),
        0);
    assert_int_equal(vs_writer_expect_rows(w, (uint64_t)UINT32_MAX + 1), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vs_writer_error(w), "do not fit the uint32 count"));
    vs_writer_abort(w);
    assert_int_equal(dir_entries(), 2);
}

/* An output of `text` that is finished (flushed, synced) but not renamed. */
static vs_outfile *finished_text(const char *name, const char *text) {
    char err[VS_IO_ERROR_SIZE];
    vs_outfile *f = NULL;
    assert_int_equal(vs_outfile_open(path_of(name), &f, err, sizeof(err)), 0);
    fputs(text, vs_outfile_stream(f));
    assert_int_equal(vs_outfile_finish(f, err, sizeof(err)), 0);
    assert_int_equal(vs_outfile_finish(f, err, sizeof(err)), 0); /* again: a no-op */
    return f;
}

static void test_outfile_commit_set(void **state) {
    (void)state;
    char err[VS_IO_ERROR_SIZE], text[64];
    write_file("ids.ivecs", "old ids", 7);
    write_file("scores.fvecs", "old scores", 10);

    /* both committed */
    vs_outfile *set[3] = {finished_text("scores.fvecs", "S1"), NULL,
                          finished_text("ids.ivecs", "I1")};
    assert_int_equal(vs_outfile_commit_all(set, 3, err, sizeof(err)), 0);
    read_back("ids.ivecs", text, sizeof(text));
    assert_string_equal(text, "I1");
    read_back("scores.fvecs", text, sizeof(text));
    assert_string_equal(text, "S1");
    assert_int_equal(dir_entries(), 2);

    /* one output cannot be flushed (/dev/full): nothing is renamed, no temporary file */
    vs_outfile *full = NULL;
    assert_int_equal(vs_outfile_open("/dev/full", &full, err, sizeof(err)), 0);
    fputs("no room", vs_outfile_stream(full));
    vs_outfile *failing[2] = {finished_text("ids.ivecs", "I2"), full};
    assert_int_equal(vs_outfile_commit_all(failing, 2, err, sizeof(err)), VS_ERR_IO);
    assert_non_null(strstr(err, "/dev/full: write failed: No space left on device"));
    read_back("ids.ivecs", text, sizeof(text));
    assert_string_equal(text, "I1");
    assert_int_equal(dir_entries(), 2);

    /* the disk fills at the final flush (RLIMIT_FSIZE, SIGXFSZ ignored) */
    struct rlimit old_limit, limit;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    vs_outfile *small = NULL, *large = NULL;
    assert_int_equal(vs_outfile_open(path_of("ids.ivecs"), &small, err, sizeof(err)), 0);
    assert_int_equal(vs_outfile_open(path_of("scores.fvecs"), &large, err, sizeof(err)), 0);
    fputs("I3", vs_outfile_stream(small));
    for (int i = 0; i < 3000; i++) /* 3000 bytes, still in the stream's buffer */
        fputc('s', vs_outfile_stream(large));
    limit = old_limit;
    limit.rlim_cur = 1024;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &limit), 0);
    vs_outfile *flushing[2] = {small, large};
    int rc = vs_outfile_commit_all(flushing, 2, err, sizeof(err));
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, VS_ERR_IO);
    assert_non_null(strstr(err, "scores.fvecs: write failed: File too large"));
    read_back("ids.ivecs", text, sizeof(text));
    assert_string_equal(text, "I1");
    read_back("scores.fvecs", text, sizeof(text));
    assert_string_equal(text, "S1");
    assert_int_equal(dir_entries(), 2);

    /* a target that became a directory: found before any rename */
    vs_outfile *before_dir[2] = {finished_text("ids.ivecs", "I4"), finished_text("gone", "G")};
    assert_int_equal(mkdir(path_of("gone"), 0755), 0);
    assert_int_equal(vs_outfile_commit_all(before_dir, 2, err, sizeof(err)), VS_ERR_IO);
    assert_non_null(strstr(err, "gone: is now a directory; no output of this run was written"));
    read_back("ids.ivecs", text, sizeof(text));
    assert_string_equal(text, "I1");
    assert_int_equal(rmdir(path_of("gone")), 0);
    assert_int_equal(dir_entries(), 2);

    /* a rename that fails half-way through the set says what was already replaced */
    vs_outfile *half[2] = {finished_text("scores.fvecs", "S5"), finished_text("ids.ivecs", "I5")};
    assert_int_equal(unlink(vs_outfile_temp_path(half[1])), 0);
    assert_int_equal(vs_outfile_commit_all(half, 2, err, sizeof(err)), VS_ERR_IO);
    assert_non_null(strstr(err, "ids.ivecs: cannot rename "));
    assert_non_null(strstr(err, "; already replaced: "));
    assert_non_null(strstr(err, "scores.fvecs (the outputs of this run are incomplete)"));
    read_back("scores.fvecs", text, sizeof(text));
    assert_string_equal(text, "S5");
    assert_int_equal(dir_entries(), 2);

    /* abort after finish removes the temporary file */
    vs_outfile_abort(finished_text("ids.ivecs", "I6"));
    assert_int_equal(dir_entries(), 2);
    assert_int_equal(vs_outfile_commit_all(NULL, 0, err, sizeof(err)), 0);
}

static void test_half_conversion(void **state) {
    (void)state;
    /* halves survive half -> float -> half (a sample across every exponent, NaNs excluded) */
    for (uint32_t h = 0; h < 0x10000u; h++) {
        if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0) continue; /* NaN payloads */
        if ((h & 0xffu) != 0x23u && (h & 0x3ffu) != 0) continue;     /* sample */
        float f = 0;
        put_npy(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 1), }", 64, 0);
        uint16_t h16 = (uint16_t)h;
        put(&h16, 2);
        vs_reader *r = NULL;
        assert_int_equal(vs_reader_open_memory(buf.data, buf.size, "h.npy", 0, 0, &r, NULL, 0), 0);
        assert_int_equal(vs_reader_read_f32(r, 0, 1, &f), 0);
        vs_reader_close(r);
        vs_writer *w = NULL;
        char e[VS_IO_ERROR_SIZE];
        assert_int_equal(
            vs_writer_open(path_of("h.npy"), VS_FORMAT_NPY, VS_DTYPE_F16, 1, &w, e, sizeof(e)), 0);
        assert_int_equal(vs_writer_write_f32(w, &f, 1), 0);
        assert_int_equal(vs_writer_commit(w, e, sizeof(e)), 0);
        FILE *in = fopen(path_of("h.npy"), "rb");
        unsigned char back[130];
        assert_int_equal(fread(back, 1, 130, in), 130);
        fclose(in);
        assert_int_equal(back[128] | back[129] << 8, h);
    }
}

/* ---- inputs that change while they are read -------------------------------------------------- */

/* Sets name's modification time to seconds after the epoch (a rewrite that
 * the clock's granularity could hide is made visible deterministically). */
static void set_mtime(const char *name, time_t seconds) {
    struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path_of(name), times, 0), 0);
}

static void expect_read_fails(vs_reader *r, uint64_t start, uint64_t count, int status,
                              const char *needle) {
    static float out[64 * 1024];
    assert_true(count * vs_reader_get_info(r)->dim <= sizeof(out) / sizeof(out[0]));
    int rc = vs_reader_read_f32(r, start, count, out);
    if (rc != status || strstr(vs_reader_error(r), needle) == NULL)
        fprintf(stderr, "got %d: %s\nwanted %d: %s\n", rc, vs_reader_error(r), status, needle);
    assert_int_equal(rc, status);
    assert_non_null(strstr(vs_reader_error(r), needle));
}

/* One file per layout read path: vecs records, float32 read in place,
 * converted data through staging, and a Fortran-order panel. */
static void make_changing(const char *name) {
    if (strstr(name, ".fvecs")) {
        put_fvecs(100, 8);
    } else if (strstr(name, ".fbin")) {
        buf.size = 0;
        put_u32(100);
        put_u32(8);
        for (int i = 0; i < 800; i++)
            put_f32((float)i);
    } else {
        int fortran = strstr(name, "fortran") != NULL;
        put_npy(1,
                fortran ? "{'descr': '<f8', 'fortran_order': True, 'shape': (100, 8), }"
                        : "{'descr': '<f8', 'fortran_order': False, 'shape': (100, 8), }",
                64, 0);
        for (int i = 0; i < 800; i++) {
            double d = i;
            put(&d, 8);
        }
    }
    write_file(name, buf.data, buf.size);
    set_mtime(name, 1000000000);
}

static void test_file_shrinks_or_is_rewritten(void **state) {
    (void)state;
    const char *names[] = {"ch.fvecs", "ch.fbin", "ch.npy", "ch_fortran.npy"};
    for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
        const char *name = names[n];
        float out[100 * 8];
        char needle[160];

        /* truncated between two reads: an error naming both sizes, no SIGBUS */
        make_changing(name);
        uint64_t size = buf.size;
        vs_reader *r = open_ok(name, 0);
        assert_int_equal(vs_reader_read_f32(r, 0, 10, out), 0);
        assert_int_equal(truncate(path_of(name), (off_t)(size / 2)), 0);
        snprintf(needle, sizeof(needle), "%s: file shrank from %llu to %llu bytes while being read",
                 path_of(name), (unsigned long long)size, (unsigned long long)(size / 2));
        expect_read_fails(r, 90, 10, VS_ERR_IO, needle); /* rows past the new end */
        expect_read_fails(r, 0, 10, VS_ERR_IO, needle);  /* rows still there */
        assert_int_equal(vs_reader_read_i64(r, 0, 1, (int64_t *)out), VS_ERR_FORMAT); /* float */
        assert_int_equal(vs_reader_validate(r), VS_ERR_IO);
        assert_non_null(strstr(vs_reader_error(r), "shrank"));
        vs_reader_close(r);

        /* truncated to nothing and written again with other values, same size */
        make_changing(name);
        r = open_ok(name, 0);
        assert_int_equal(vs_reader_read_f32(r, 0, 50, out), 0);
        for (size_t i = 0; i < buf.size; i++)
            buf.data[i] ^= i >= 128 ? 0x40 : 0;
        write_file(name, buf.data, buf.size);
        set_mtime(name, 1000000100);
        expect_read_fails(r, 50, 50, VS_ERR_IO, "file was rewritten while being read");
        vs_reader_close(r);

        /* grown (appended to) */
        make_changing(name);
        r = open_ok(name, 0);
        FILE *f = fopen(path_of(name), "ab");
        assert_non_null(f);
        assert_int_equal(fwrite("abcd", 1, 4, f), 4);
        assert_int_equal(fclose(f), 0);
        snprintf(needle, sizeof(needle), "file grew from %llu to %llu bytes while being read",
                 (unsigned long long)size, (unsigned long long)(size + 4));
        expect_read_fails(r, 0, 100, VS_ERR_IO, needle);
        vs_reader_close(r);

        /* untouched: every row reads back */
        make_changing(name);
        r = open_ok(name, VS_READ_VALIDATE_ALL);
        assert_int_equal(vs_reader_read_f32(r, 0, 100, out), 0);
        float expect = strstr(name, ".fvecs") ? 9907.0f : 799.0f;
        assert_true(out[799] == expect);
        vs_reader_close(r);
    }
}

/* Special files are refused at open, without waiting for a FIFO's writer. */
static void test_special_files(void **state) {
    (void)state;
    char err[VS_IO_ERROR_SIZE];
    vs_reader *r = NULL;
    assert_int_equal(mkfifo(path_of("pipe.fvecs"), 0600), 0);
    assert_int_equal(vs_reader_open(path_of("pipe.fvecs"), 0, 0, &r, err, sizeof(err)), VS_ERR_IO);
    assert_null(r);
    assert_non_null(strstr(err, "pipe.fvecs: not a regular file (it is a FIFO (pipe))"));
    assert_int_equal(unlink(path_of("pipe.fvecs")), 0);
    assert_int_equal(vs_reader_open("/dev/null", 0, 0, &r, err, sizeof(err)), VS_ERR_IO);
    assert_non_null(strstr(err, "a character device"));
    assert_int_equal(vs_reader_open(dir, 0, 0, &r, err, sizeof(err)), VS_ERR_IO);
    assert_non_null(strstr(err, "a directory"));
}

/* ---- Fortran-order npy ------------------------------------------------------------------------
 */

/* The npy of rows x dim values v(i, j) = i * 10 + j - 50 (exact in every
 * dtype here) in Fortran (column-major) order, as numpy saves a.T. */
static void write_fortran(const char *name, const char *descr, size_t elem, uint64_t rows,
                          uint64_t dim, int fortran) {
    char dict[160];
    snprintf(dict, sizeof(dict), "{'descr': '%s', 'fortran_order': %s, 'shape': (%llu, %llu), }",
             descr, fortran ? "True" : "False", (unsigned long long)rows, (unsigned long long)dim);
    put_npy(1, dict, 64, 0);
    FILE *f = fopen(path_of(name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf.data, 1, buf.size, f), buf.size);
    for (uint64_t o = 0; o < rows * dim; o++) {
        uint64_t i = fortran ? o % rows : o / dim, j = fortran ? o / rows : o % dim;
        long long v = (long long)(i * 10 + j) - 50;
        if (descr[1] == 'u') v = (long long)((i * 10 + j) % 256);
        if (descr[1] == 'i' && elem == 1) v = (long long)((i * 10 + j) % 256) - 128;
        unsigned char raw[8];
        if (descr[1] == 'f' && elem == 8) {
            double d = (double)v;
            memcpy(raw, &d, 8);
        } else if (descr[1] == 'f' && elem == 4) {
            float x = (float)v;
            memcpy(raw, &x, 4);
        } else if (descr[1] == 'f') {
            /* float16 of small integers: 1.mantissa x 2^e, |v| < 2048 is exact */
            float x = (float)v;
            uint32_t bits;
            memcpy(&bits, &x, 4);
            uint16_t h = 0;
            if (v != 0) {
                int e = (int)((bits >> 23) & 0xff) - 127 + 15;
                h = (uint16_t)(((bits >> 16) & 0x8000u) | ((uint32_t)e << 10) |
                               ((bits & 0x7fffffu) >> 13));
            }
            memcpy(raw, &h, 2);
        } else {
            memcpy(raw, &v, 8); /* little-endian: the low bytes first */
        }
        assert_int_equal(fwrite(raw, 1, elem, f), elem);
    }
    assert_int_equal(fclose(f), 0);
}

static float fortran_value(const char *descr, size_t elem, uint64_t i, uint64_t j) {
    if (descr[1] == 'u') return (float)((i * 10 + j) % 256);
    if (descr[1] == 'i' && elem == 1) return (float)((long long)((i * 10 + j) % 256) - 128);
    return (float)((long long)(i * 10 + j) - 50);
}

static void check_fortran(const char *descr, size_t elem, uint64_t rows, uint64_t dim,
                          uint64_t chunk) {
    write_fortran("f.npy", descr, elem, rows, dim, 1);
    vs_reader *r = open_ok("f.npy", 0);
    assert_int_equal(vs_reader_get_info(r)->rows, rows);
    assert_int_equal(vs_reader_get_info(r)->dim, dim);
    assert_int_equal(vs_reader_get_info(r)->fortran_order, 1);
    /* the same bytes from memory take the strided in-memory path */
    FILE *in = fopen(path_of("f.npy"), "rb");
    assert_non_null(in);
    size_t total = (size_t)(128 + rows * dim * elem);
    unsigned char *whole = malloc(total);
    assert_non_null(whole);
    assert_int_equal(fread(whole, 1, total, in), total);
    fclose(in);
    vs_reader *m = NULL;
    assert_int_equal(vs_reader_open_memory(whole, total, "f.npy", 0, 0, &m, NULL, 0), 0);
    float *out = malloc(chunk * dim * sizeof(float));
    int64_t *ids = malloc(chunk * dim * sizeof(int64_t));
    assert_non_null(out);
    assert_non_null(ids);
    int integer = descr[1] != 'f';
    /* forwards in chunks, then backwards (a panel reload per chunk) */
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t c = 0; c < rows; c += chunk) {
            uint64_t start = pass == 0 ? c : (rows - c > chunk ? rows - c - chunk : 0);
            uint64_t count = rows - start < chunk ? rows - start : chunk;
            for (int from_memory = 0; from_memory < 2; from_memory++) {
                vs_reader *which = from_memory ? m : r;
                assert_int_equal(vs_reader_read_f32(which, start, count, out), 0);
                for (uint64_t i = 0; i < count; i++)
                    for (uint64_t j = 0; j < dim; j++)
                        if (out[i * dim + j] != fortran_value(descr, elem, start + i, j))
                            fail_msg("%s %s: row %llu column %llu is %g", descr,
                                     from_memory ? "memory" : "file",
                                     (unsigned long long)(start + i), (unsigned long long)j,
                                     (double)out[i * dim + j]);
                if (!integer) continue;
                assert_int_equal(vs_reader_read_i64(which, start, count, ids), 0);
                for (uint64_t i = 0; i < count * dim; i++)
                    assert_true((float)ids[i] == out[i]);
            }
        }
    }
    vs_reader_close(r);
    vs_reader_close(m);
    free(whole);
    free(out);
    free(ids);
}

static void test_fortran_npy(void **state) {
    (void)state;
    static const struct {
        const char *descr;
        size_t elem;
    } dtypes[] = {{"<f4", 4}, {"<f2", 2}, {"<f8", 8}, {"|u1", 1},
                  {"|i1", 1}, {"<i4", 4}, {"<i8", 8}};
    for (size_t t = 0; t < sizeof(dtypes) / sizeof(dtypes[0]); t++) {
        check_fortran(dtypes[t].descr, dtypes[t].elem, 7, 3, 1);
        check_fortran(dtypes[t].descr, dtypes[t].elem, 7, 3, 3);
        check_fortran(dtypes[t].descr, dtypes[t].elem, 7, 3, 7);
    }
    /* larger than one 4 MiB panel (20000 x 64 x 8 = 10 MB): chunks cross panels */
    check_fortran("<f8", 8, 20000, 64, 3000);
    check_fortran("<f4", 4, 20000, 64, 20000);
    /* a Fortran (1, dim) or (rows, 1) array is the C layout */
    check_fortran("<f4", 4, 1, 5, 1);
    check_fortran("<f4", 4, 6, 1, 4);
    /* C and Fortran files of the same matrix read the same */
    write_fortran("c.npy", "<i4", 4, 9, 4, 0);
    vs_reader *c = open_ok("c.npy", 0);
    assert_int_equal(vs_reader_get_info(c)->fortran_order, 0);
    float rows_c[36];
    assert_int_equal(vs_reader_read_f32(c, 0, 9, rows_c), 0);
    for (uint64_t i = 0; i < 36; i++)
        assert_true(rows_c[i] == fortran_value("<i4", 4, i / 4, i % 4));
    vs_reader_close(c);
}

/* ---- integer files as float32 vectors ------------------------------------------------------- */

static void test_integer_vectors(void **state) {
    (void)state;
    float out[12];
    int64_t ids[12];
    /* exact in float32: 2^24, -2^24, 2^40, -2^63, small values */
    int64_t exact[6] = {16777216, -16777216, INT64_C(1) << 40, INT64_MIN, 7, -3};
    put_npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3, 2), }", 64, 0);
    put(exact, sizeof(exact));
    write_file("exact.npy", buf.data, buf.size);
    vs_reader *r = open_ok("exact.npy", 0);
    assert_int_equal(vs_reader_read_f32(r, 0, 3, out), 0);
    for (int i = 0; i < 6; i++)
        assert_true(out[i] == (float)exact[i]);
    vs_reader_close(r);

    /* the first inexact element in row order is named; ids read unchanged */
    int64_t values[12] = {1, 2, 3, 4, 5, 6, 7, 16777217, 9, 10, INT64_MAX, 12};
    put_npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (4, 3), }", 64, 0);
    put(values, sizeof(values));
    write_file("inexact.npy", buf.data, buf.size);
    r = open_ok("inexact.npy", 0);
    assert_int_equal(vs_reader_read_f32(r, 0, 2, out), 0); /* rows 0-1 are exact */
    expect_read_fails(r, 0, 4, VS_ERR_FORMAT,
                      "row 2, column 1: the int64 value 16777217 does not convert exactly to "
                      "float32 (it would become 16777216)");
    expect_read_fails(r, 3, 1, VS_ERR_FORMAT,
                      "row 3, column 1: the int64 value 9223372036854775807");
    assert_int_equal(vs_reader_read_i64(r, 0, 4, ids), 0);
    assert_int_equal(ids[7], 16777217);
    assert_int_equal(ids[10], INT64_MAX);
    vs_reader_close(r);

    /* int32, C and Fortran order: (1, 2) and (2, 0) are inexact; (1, 2) comes first in
     * row order though (2, 0) comes first in the file */
    int32_t f32[9] = {0, 1, 33554431, 3, 4, 5, 6, 16777217, 8}; /* column-major (3, 3) */
    put_npy(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (3, 3), }", 64, 0);
    put(f32, sizeof(f32));
    write_file("inexact_f.npy", buf.data, buf.size);
    r = open_ok("inexact_f.npy", 0);
    expect_read_fails(r, 0, 3, VS_ERR_FORMAT, "row 1, column 2: the int32 value 16777217");
    expect_read_fails(r, 2, 1, VS_ERR_FORMAT, "row 2, column 0: the int32 value 33554431");
    assert_int_equal(vs_reader_read_f32(r, 0, 1, out), 0);
    assert_true(out[0] == 0.0f && out[1] == 3.0f && out[2] == 6.0f);
    vs_reader_close(r);
    /* the same through memory */
    assert_int_equal(vs_reader_open_memory(buf.data, buf.size, "m.npy", 0, 0, &r, NULL, 0), 0);
    expect_read_fails(r, 0, 3, VS_ERR_FORMAT, "row 1, column 2: the int32 value 16777217");
    vs_reader_close(r);

    /* .ivecs and .ibin as vectors follow the same rule */
    buf.size = 0;
    put_i32(2);
    put_i32(5);
    put_i32(6);
    put_i32(2);
    put_i32(-16777217);
    put_i32(8);
    write_file("v.ivecs", buf.data, buf.size);
    r = open_ok("v.ivecs", 0);
    assert_int_equal(vs_reader_read_f32(r, 0, 1, out), 0);
    assert_true(out[0] == 5.0f && out[1] == 6.0f);
    expect_read_fails(r, 0, 2, VS_ERR_FORMAT,
                      "v.ivecs: row 1, column 0: the int32 value -16777217");
    vs_reader_close(r);
    buf.size = 0;
    put_u32(1);
    put_u32(2);
    put_i32(2147483647);
    put_i32(1);
    write_file("v.ibin", buf.data, buf.size);
    r = open_ok("v.ibin", 0);
    expect_read_fails(r, 0, 1, VS_ERR_FORMAT, "row 0, column 0: the int32 value 2147483647");
    vs_reader_close(r);
}

/* ---- big-ann ground truth .ibin: ids, then distances ---------------------------------------- */

static void put_truth(uint32_t n, uint32_t k) {
    buf.size = 0;
    put_u32(n);
    put_u32(k);
    for (uint32_t i = 0; i < n * k; i++)
        put_i32((int32_t)(i * 7 + 1));
    for (uint32_t i = 0; i < n * k; i++)
        put_f32(0.25f * (float)i);
}

static void test_ibin_ground_truth(void **state) {
    (void)state;
    put_truth(3, 4);
    write_file("gt.ibin", buf.data, buf.size);
    write_file("gt.dat", buf.data, buf.size);
    const char *names[] = {"gt.ibin", "gt.dat"};
    for (int n = 0; n < 2; n++) {
        vs_reader *r = open_ok(names[n], VS_READ_VALIDATE_ALL);
        const vs_reader_info *info = vs_reader_get_info(r);
        assert_int_equal(info->format, VS_FORMAT_IBIN);
        assert_int_equal(info->rows, 3);
        assert_int_equal(info->dim, 4);
        assert_int_equal(info->distances_offset, 8 + 3 * 4 * 4);
        int64_t ids[12];
        assert_int_equal(vs_reader_read_i64(r, 0, 3, ids), 0);
        for (int i = 0; i < 12; i++)
            assert_int_equal(ids[i], i * 7 + 1);
        assert_int_equal(vs_reader_read_i64(r, 2, 1, ids), 0);
        assert_int_equal(ids[0], 8 * 7 + 1);
        vs_reader_close(r);
    }
    /* a plain .ibin has no distances */
    buf.size = 0;
    put_u32(1);
    put_u32(2);
    put_i32(3);
    put_i32(4);
    write_file("plain.ibin", buf.data, buf.size);
    vs_reader *r = open_ok("plain.ibin", 0);
    assert_int_equal(vs_reader_get_info(r)->distances_offset, 0);
    vs_reader_close(r);
    /* named .fbin (or .bin), the layout is recognised and named */
    put_truth(3, 4);
    expect_reject("gt.bin", VS_ERR_FORMAT, "looks like .ibin (ids then distances", "not .fbin");
    /* neither size: both are named */
    put_truth(3, 4);
    buf.size -= 4;
    expect_reject("gtshort.ibin", VS_ERR_FORMAT, "not 8 + 3 x 4 x 4 = 56 bytes",
                  "nor 8 + 3 x 4 x 8 = 104 bytes");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vecs_rejections),
        cmocka_unit_test(test_vecs_middle_record),
        cmocka_unit_test(test_bin_rejections),
        cmocka_unit_test(test_npy_rejections),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_npy_variants),
        cmocka_unit_test(test_streaming_and_nonfinite),
        cmocka_unit_test_setup(test_round_trips, fresh_dir),
        cmocka_unit_test_setup(test_atomic_writes, fresh_dir),
        cmocka_unit_test_setup(test_outfile_names_and_modes, fresh_dir),
        cmocka_unit_test_setup(test_outfile_links, fresh_dir),
        cmocka_unit_test_setup(test_path_same_file, fresh_dir),
        cmocka_unit_test_setup(test_outfile_write_through, fresh_dir),
        cmocka_unit_test_setup(test_writer_expect_rows, fresh_dir),
        cmocka_unit_test_setup(test_outfile_commit_set, fresh_dir),
        cmocka_unit_test(test_half_conversion),
        cmocka_unit_test(test_file_shrinks_or_is_rewritten),
        cmocka_unit_test(test_special_files),
        cmocka_unit_test(test_fortran_npy),
        cmocka_unit_test(test_integer_vectors),
        cmocka_unit_test(test_ibin_ground_truth),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
