/*
 * fuzz_reader.c — one libFuzzer target per vector file reader.
 *
 * Built once per reader with VS_FUZZ_READER set to one of: fvecs bvecs ivecs
 * fbin u8bin ibin npy detect ("detect": no format given, name without a known
 * extension, so the content decides). The input is the whole file. A valid
 * file is read back completely, in chunks, as float32 and (integer types) as
 * int64, with and without strict flags, so every row path runs. The input is
 * also written to a temporary file and read through vs_reader_open (pread
 * and its change checks): both readers must agree on every row and verdict.
 *
 * The same entry point is replayed over tests/fuzz/corpus/<reader>/ by
 * regression_driver.c as a normal ctest, with any compiler.
 */
#define _DEFAULT_SOURCE /* mkstemps */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vecscore_io.h"

#ifndef VS_FUZZ_READER
#error "define VS_FUZZ_READER (fvecs, bvecs, ivecs, fbin, u8bin, ibin, npy or detect)"
#endif
#define VS_FUZZ_STR2(x) #x
#define VS_FUZZ_STR(x) VS_FUZZ_STR2(x)

static vs_file_format fuzz_format(const char *reader) {
    if (strcmp(reader, "detect") == 0) return VS_FORMAT_UNKNOWN;
    return vs_file_format_from_path(reader);
}

/* Reads every row of r (and of twin, the same bytes through the other
 * reader kind, when not NULL): both must agree. */
static void read_all(vs_reader *r, vs_reader *twin) {
    const vs_reader_info *info = vs_reader_get_info(r);
    /* The reader promised rows x dim fits the input: check it. */
    if (info->dim == 0 || info->dim > VS_IO_MAX_DIM || info->rows == 0 ||
        info->data_offset > info->file_bytes)
        abort();
    if (twin != NULL && memcmp(info, vs_reader_get_info(twin), sizeof(*info)) != 0) abort();
    uint64_t per_chunk = (1u << 16) / info->dim + 1;
    size_t n = per_chunk * info->dim;
    float *values = malloc(n * sizeof(float)), *twin_values = malloc(n * sizeof(float));
    int64_t *ids = malloc(n * sizeof(int64_t)), *twin_ids = malloc(n * sizeof(int64_t));
    if (values == NULL || ids == NULL || twin_values == NULL || twin_ids == NULL) abort();
    int integer =
        info->dtype != VS_DTYPE_F32 && info->dtype != VS_DTYPE_F16 && info->dtype != VS_DTYPE_F64;
    for (uint64_t start = 0; start < info->rows; start += per_chunk) {
        uint64_t count = info->rows - start < per_chunk ? info->rows - start : per_chunk;
        int rc = vs_reader_read_f32(r, start, count, values);
        if (rc != 0 && rc != VS_ERR_FORMAT) abort();
        if (rc != 0 && vs_reader_error(r)[0] == '\0') abort(); /* errors explain themselves */
        /* an integer float32 cannot hold is refused as a vector, never as an id */
        int inexact = rc != 0 && strstr(vs_reader_error(r), "does not convert exactly") != NULL;
        if (inexact && !integer) abort();
        int rc64 = vs_reader_read_i64(r, start, count, ids);
        if (integer && rc64 != (inexact ? 0 : rc)) abort(); /* same verdict on record headers */
        if (!integer && rc64 != VS_ERR_FORMAT) abort();
        if (twin != NULL) {
            if (vs_reader_read_f32(twin, start, count, twin_values) != rc) abort();
            if (rc == 0 && memcmp(values, twin_values, count * info->dim * sizeof(float)) != 0)
                abort();
            if (vs_reader_read_i64(twin, start, count, twin_ids) != rc64) abort();
            if (rc64 == 0 && memcmp(ids, twin_ids, count * info->dim * sizeof(int64_t)) != 0)
                abort();
        }
        if (rc != 0 && !inexact) break;
    }
    /* out-of-range reads are refused, never performed */
    if (vs_reader_read_f32(r, info->rows, 1, values) != VS_ERR_INVALID_ARGUMENT) abort();
    int valid = vs_reader_validate(r);
    if (twin != NULL && vs_reader_validate(twin) != valid) abort();
    free(values);
    free(ids);
    free(twin_values);
    free(twin_ids);
}

/* The input as a file named like name (the extension decides detection), or
 * NULL when no temporary file can be made. */
static char *as_file(const uint8_t *data, size_t size, const char *name) {
    const char *tmp = getenv("TMPDIR");
    const char *ext = strrchr(name, '.');
    char *path = malloc(4096);
    if (path == NULL) return NULL;
    snprintf(path, 4096, "%s/vs_fuzz_XXXXXX%s", tmp && tmp[0] ? tmp : "/tmp", ext ? ext : "");
    int fd = mkstemps(path, ext ? (int)strlen(ext) : 0);
    if (fd < 0) {
        free(path);
        return NULL;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t got = write(fd, data + done, size - done);
        if (got <= 0) break;
        done += (size_t)got;
    }
    close(fd);
    if (done != size) {
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *reader = VS_FUZZ_STR(VS_FUZZ_READER);
    vs_file_format format = fuzz_format(reader);
    char name[32];
    /* with the format given, and with only the extension to go on */
    strcpy(name, "input.dat");
    static const unsigned flag_sets[2] = {0, VS_READ_REJECT_NONFINITE | VS_READ_VALIDATE_ALL};
    for (int pass = 0; pass < 3; pass++) {
        vs_file_format given = pass == 2 ? VS_FORMAT_UNKNOWN : format;
        if (pass == 2) {
            if (format == VS_FORMAT_UNKNOWN) break;
            strcpy(name, "input.");
            strcat(name, reader);
        }
        char err[VS_IO_ERROR_SIZE];
        err[0] = '\0';
        vs_reader *r = NULL;
        int rc = vs_reader_open_memory(size ? data : (const void *)"", size, name, given,
                                       flag_sets[pass == 1], &r, err, sizeof(err));
        /* the same bytes as a file (pread), with the same name ending */
        vs_reader *file = NULL;
        char *path = as_file(data, size, name);
        if (path == NULL) abort();
        char file_err[VS_IO_ERROR_SIZE];
        int file_rc =
            vs_reader_open(path, given, flag_sets[pass == 1], &file, file_err, sizeof(file_err));
        unlink(path);
        if (file_rc != rc) abort();
        if (rc == 0) {
            if (r == NULL || file == NULL) abort();
            read_all(r, file);
            vs_reader_close(r);
            vs_reader_close(file);
        } else {
            if (r != NULL || err[0] == '\0' || strstr(err, name) == NULL) abort();
            if (rc != VS_ERR_FORMAT) abort();
            if (file != NULL || strstr(file_err, path) == NULL) abort();
        }
        free(path);
    }
    return 0;
}
