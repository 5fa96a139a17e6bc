/*
 * fuzz_reader.c — one libFuzzer target per vector file reader.
 *
 * Built once per reader with VS_FUZZ_READER set to one of: fvecs bvecs ivecs
 * fbin u8bin ibin npy detect ("detect": no format given, name without a known
 * extension, so the content decides). The input is the whole file. A valid
 * file is read back completely, in chunks, as float32 and (integer types) as
 * int64, with and without strict flags, so every row path runs.
 *
 * The same entry point is replayed over tests/fuzz/corpus/<reader>/ by
 * regression_driver.c as a normal ctest, with any compiler.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

static void read_all(vs_reader *r) {
    const vs_reader_info *info = vs_reader_get_info(r);
    /* The reader promised rows x dim fits the input: check it. */
    if (info->dim == 0 || info->dim > VS_IO_MAX_DIM || info->rows == 0 ||
        info->data_offset > info->file_bytes)
        abort();
    uint64_t per_chunk = (1u << 16) / info->dim + 1;
    float *values = malloc(per_chunk * info->dim * sizeof(float));
    int64_t *ids = malloc(per_chunk * info->dim * sizeof(int64_t));
    if (values == NULL || ids == NULL) abort();
    int integer =
        info->dtype != VS_DTYPE_F32 && info->dtype != VS_DTYPE_F16 && info->dtype != VS_DTYPE_F64;
    for (uint64_t start = 0; start < info->rows; start += per_chunk) {
        uint64_t count = info->rows - start < per_chunk ? info->rows - start : per_chunk;
        int rc = vs_reader_read_f32(r, start, count, values);
        if (rc != 0 && rc != VS_ERR_FORMAT) abort();
        if (rc != 0 && vs_reader_error(r)[0] == '\0') abort(); /* errors explain themselves */
        int rc64 = vs_reader_read_i64(r, start, count, ids);
        if (integer && rc64 != rc) abort(); /* same rows, same verdict on record headers */
        if (!integer && rc64 != VS_ERR_FORMAT) abort();
        if (rc != 0) break;
    }
    /* out-of-range reads are refused, never performed */
    if (vs_reader_read_f32(r, info->rows, 1, values) != VS_ERR_INVALID_ARGUMENT) abort();
    (void)vs_reader_validate(r);
    free(values);
    free(ids);
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
        if (rc == 0) {
            if (r == NULL) abort();
            read_all(r);
            vs_reader_close(r);
        } else {
            if (r != NULL || err[0] == '\0' || strstr(err, name) == NULL) abort();
            if (rc != VS_ERR_FORMAT) abort();
        }
    }
    return 0;
}
