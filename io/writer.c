/*
 * writer.c — atomic output files and vector file writers.
 *
 * Everything is written to ".NAME.tmp-XXXXXX" in the target's directory and
 * renamed over the target only on commit, after fflush + fsync; any failure
 * removes the temporary file. Headers that hold the row count (.fbin,
 * .npy) are written as placeholders and rewritten at commit. The .npy
 * header is reserved at a fixed 128 bytes (version 1.0), which fits any
 * 64-bit shape.
 */
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_HEADER_BYTES 128

struct vs_outfile {
    FILE *stream;
    char *path;
    char *temp; /* never reallocated: a signal handler may unlink it */
};

int vs_outfile_open(const char *path, vs_outfile **out, char *err, size_t err_size) {
    if (out != NULL) *out = NULL;
    if (path == NULL || out == NULL || path[0] == '\0') {
        vs__io_msg(err, err_size, "vs_outfile_open: path and out must not be NULL or empty");
        return VS_ERR_INVALID_ARGUMENT;
    }
    size_t len = strlen(path);
    if (path[len - 1] == '/') {
        vs__io_msg(err, err_size, "%s: is a directory name, expected a file name", path);
        return VS_ERR_IO;
    }
    vs_outfile *f = calloc(1, sizeof(*f));
    char *temp = malloc(len + 32);
    char *copy = strdup(path);
    if (f == NULL || temp == NULL || copy == NULL) {
        free(f);
        free(temp);
        free(copy);
        vs__io_msg(err, err_size, "%s: out of memory", path);
        return VS_ERR_OUT_OF_MEMORY;
    }
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    memcpy(temp, path, dir_len);
    snprintf(temp + dir_len, len + 32 - dir_len, ".%s.tmp-XXXXXX", path + dir_len);
    int fd = mkstemp(temp);
    if (fd < 0) {
        int saved = errno;
        vs__io_msg(err, err_size, "%s: cannot create a temporary file in %.*s: %s", path,
                   dir_len ? (int)dir_len : 1, dir_len ? path : ".", strerror(saved));
        free(f);
        free(temp);
        free(copy);
        return VS_ERR_IO;
    }
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    f->stream = fdopen(fd, "wb");
    if (f->stream == NULL) {
        vs__io_msg(err, err_size, "%s: fdopen: %s", temp, strerror(errno));
        close(fd);
        unlink(temp);
        free(f);
        free(temp);
        free(copy);
        return VS_ERR_IO;
    }
    f->path = copy;
    f->temp = temp;
    *out = f;
    return 0;
}

FILE *vs_outfile_stream(vs_outfile *f) {
    return f->stream;
}

const char *vs_outfile_temp_path(const vs_outfile *f) {
    return f->temp;
}

static void outfile_free(vs_outfile *f) {
    free(f->path);
    free(f->temp);
    free(f);
}

void vs_outfile_abort(vs_outfile *f) {
    if (f == NULL) return;
    if (f->stream != NULL) fclose(f->stream);
    unlink(f->temp);
    outfile_free(f);
}

int vs_outfile_commit(vs_outfile *f, char *err, size_t err_size) {
    if (f == NULL) return VS_ERR_INVALID_ARGUMENT;
    int failed = fflush(f->stream) != 0 || ferror(f->stream);
    int saved = errno;
    if (!failed && fsync(fileno(f->stream)) != 0 && errno != EINVAL && errno != EROFS) {
        failed = 1;
        saved = errno;
    }
    if (fclose(f->stream) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    f->stream = NULL;
    if (failed) {
        vs__io_msg(err, err_size, "%s: write failed: %s", f->path,
                   saved ? strerror(saved) : "stream error");
        unlink(f->temp);
        outfile_free(f);
        return VS_ERR_IO;
    }
    if (rename(f->temp, f->path) != 0) {
        vs__io_msg(err, err_size, "%s: cannot rename %s into place: %s", f->path, f->temp,
                   strerror(errno));
        unlink(f->temp);
        outfile_free(f);
        return VS_ERR_IO;
    }
    outfile_free(f);
    return 0;
}

/* ---- vector writers ------------------------------------------------------------------- */

struct vs_writer {
    vs_outfile *file;
    vs_file_format format;
    vs_dtype dtype;
    uint64_t dim;
    uint64_t rows;
    int failed; /* a write failed: commit refuses */
    char err[VS_IO_ERROR_SIZE];
};

static int dtype_allowed(vs_file_format format, vs_dtype dtype) {
    switch (format) {
    case VS_FORMAT_FVECS:
    case VS_FORMAT_FBIN: return dtype == VS_DTYPE_F32;
    case VS_FORMAT_BVECS:
    case VS_FORMAT_U8BIN: return dtype == VS_DTYPE_U8;
    case VS_FORMAT_IVECS:
    case VS_FORMAT_IBIN: return dtype == VS_DTYPE_I32;
    case VS_FORMAT_NPY: return vs_dtype_size(dtype) != 0;
    case VS_FORMAT_UNKNOWN: break;
    }
    return 0;
}

static int is_vecs(vs_file_format format) {
    return format == VS_FORMAT_FVECS || format == VS_FORMAT_BVECS || format == VS_FORMAT_IVECS;
}

static int is_bin(vs_file_format format) {
    return format == VS_FORMAT_FBIN || format == VS_FORMAT_U8BIN || format == VS_FORMAT_IBIN;
}

static const char *npy_descr(vs_dtype dtype) {
    switch (dtype) {
    case VS_DTYPE_F32: return "<f4";
    case VS_DTYPE_F16: return "<f2";
    case VS_DTYPE_F64: return "<f8";
    case VS_DTYPE_U8: return "|u1";
    case VS_DTYPE_I8: return "|i1";
    case VS_DTYPE_I32: return "<i4";
    case VS_DTYPE_I64: return "<i8";
    }
    return "?";
}

/* The 128-byte npy 1.0 preamble + header for shape (rows, dim). */
static void npy_header(unsigned char *out, vs_dtype dtype, uint64_t rows, uint64_t dim) {
    memset(out, ' ', NPY_HEADER_BYTES);
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)((NPY_HEADER_BYTES - 10) & 0xff);
    out[9] = (unsigned char)((NPY_HEADER_BYTES - 10) >> 8);
    char text[NPY_HEADER_BYTES];
    int n = snprintf(text, sizeof(text),
                     "{'descr': '%s', 'fortran_order': False, 'shape': (%llu, %llu), }",
                     npy_descr(dtype), (unsigned long long)rows, (unsigned long long)dim);
    memcpy(out + 10, text, (size_t)n); /* at most ~105 bytes: always fits */
    out[NPY_HEADER_BYTES - 1] = '\n';
}

static void store_u32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static int write_bytes(vs_writer *w, const void *data, size_t bytes) {
    if (bytes == 0) return 0;
    if (fwrite(data, 1, bytes, vs_outfile_stream(w->file)) != bytes) {
        vs__io_msg(w->err, sizeof(w->err), "%s: write failed: %s", w->file->path, strerror(errno));
        w->failed = 1;
        return VS_ERR_IO;
    }
    return 0;
}

int vs_writer_open(const char *path, vs_file_format format, vs_dtype dtype, uint64_t dim,
                   vs_writer **out, char *err, size_t err_size) {
    if (out != NULL) *out = NULL;
    if (path == NULL || out == NULL) {
        vs__io_msg(err, err_size, "vs_writer_open: path and out must not be NULL");
        return VS_ERR_INVALID_ARGUMENT;
    }
    if (!dtype_allowed(format, dtype)) {
        vs__io_msg(err, err_size, "%s: .%s cannot hold %s elements", path,
                   vs_file_format_name(format), vs_dtype_name(dtype) ? vs_dtype_name(dtype) : "?");
        return VS_ERR_INVALID_ARGUMENT;
    }
    if (dim == 0 || dim > VS_IO_MAX_DIM) {
        vs__io_msg(err, err_size, "%s: dimension %llu; expected 1..%u", path,
                   (unsigned long long)dim, VS_IO_MAX_DIM);
        return VS_ERR_INVALID_ARGUMENT;
    }
    vs_writer *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        vs__io_msg(err, err_size, "%s: out of memory", path);
        return VS_ERR_OUT_OF_MEMORY;
    }
    int rc = vs_outfile_open(path, &w->file, err, err_size);
    if (rc != 0) {
        free(w);
        return rc;
    }
    w->format = format;
    w->dtype = dtype;
    w->dim = dim;
    unsigned char header[NPY_HEADER_BYTES] = {0};
    if (is_bin(format)) rc = write_bytes(w, header, 8);
    if (format == VS_FORMAT_NPY) {
        npy_header(header, dtype, 0, dim);
        rc = write_bytes(w, header, sizeof(header));
    }
    if (rc != 0) {
        vs__io_msg(err, err_size, "%s", w->err);
        vs_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

const char *vs_writer_error(const vs_writer *w) {
    return w != NULL ? w->err : "vs_writer is NULL";
}

const char *vs_writer_temp_path(const vs_writer *w) {
    return vs_outfile_temp_path(w->file);
}

/* Converts one value to the stored type into out; 0, or -1 if it does not fit. */
static int store_value(vs_dtype dtype, double value, int64_t whole, int is_int,
                       unsigned char *out) {
    switch (dtype) {
    case VS_DTYPE_F32: {
        float f = is_int ? (float)whole : (float)value;
        memcpy(out, &f, 4);
        return 0;
    }
    case VS_DTYPE_F16: {
        uint16_t h = vs__f32_to_f16(is_int ? (float)whole : (float)value);
        memcpy(out, &h, 2);
        return 0;
    }
    case VS_DTYPE_F64: {
        double d = is_int ? (double)whole : value;
        memcpy(out, &d, 8);
        return 0;
    }
    default: break;
    }
    int64_t v = whole;
    if (!is_int) {
        if (!isfinite(value) || value != floor(value) || value < -9.2e18 || value > 9.2e18)
            return -1;
        v = (int64_t)value;
    }
    switch (dtype) {
    case VS_DTYPE_U8:
        if (v < 0 || v > 255) return -1;
        out[0] = (unsigned char)v;
        return 0;
    case VS_DTYPE_I8:
        if (v < -128 || v > 127) return -1;
        out[0] = (unsigned char)(int8_t)v;
        return 0;
    case VS_DTYPE_I32:
        if (v < INT32_MIN || v > INT32_MAX) return -1;
        store_u32(out, (uint32_t)(int32_t)v);
        return 0;
    case VS_DTYPE_I64:
        store_u32(out, (uint32_t)((uint64_t)v & 0xffffffffu));
        store_u32(out + 4, (uint32_t)((uint64_t)v >> 32));
        return 0;
    default: return -1;
    }
}

static int writer_rows(vs_writer *w, const float *fvalues, const int64_t *ivalues, uint64_t rows) {
    if (w == NULL) return VS_ERR_INVALID_ARGUMENT;
    w->err[0] = '\0';
    if (w->failed) {
        vs__io_msg(w->err, sizeof(w->err), "%s: an earlier write failed", w->file->path);
        return VS_ERR_IO;
    }
    if (rows > 0 && fvalues == NULL && ivalues == NULL) {
        vs__io_msg(w->err, sizeof(w->err), "%s: values are NULL", w->file->path);
        return VS_ERR_INVALID_ARGUMENT;
    }
    size_t elem = vs_dtype_size(w->dtype);
    unsigned char buffer[8192];
    for (uint64_t row = 0; row < rows; row++) {
        size_t used = 0;
        if (is_vecs(w->format)) {
            store_u32(buffer, (uint32_t)w->dim);
            used = 4;
        }
        for (uint64_t j = 0; j < w->dim; j++) {
            uint64_t index = row * w->dim + j;
            int bad = fvalues != NULL
                          ? store_value(w->dtype, fvalues[index], 0, 0, buffer + used)
                          : store_value(w->dtype, 0.0, ivalues[index], 1, buffer + used);
            if (bad) {
                char shown[40];
                if (fvalues != NULL)
                    snprintf(shown, sizeof(shown), "%.9g", fvalues[index]);
                else
                    snprintf(shown, sizeof(shown), "%lld", (long long)ivalues[index]);
                vs__io_msg(w->err, sizeof(w->err),
                           "%s: row %llu, element %llu: %s does not fit %s (.%s)", w->file->path,
                           (unsigned long long)(w->rows + row), (unsigned long long)j, shown,
                           vs_dtype_name(w->dtype), vs_file_format_name(w->format));
                w->failed = 1;
                return VS_ERR_INVALID_ARGUMENT;
            }
            used += elem;
            if (used + 8 > sizeof(buffer)) {
                int rc = write_bytes(w, buffer, used);
                if (rc != 0) return rc;
                used = 0;
            }
        }
        int rc = write_bytes(w, buffer, used);
        if (rc != 0) return rc;
    }
    w->rows += rows;
    return 0;
}

int vs_writer_write_f32(vs_writer *w, const float *values, uint64_t rows) {
    return writer_rows(w, values, NULL, rows);
}

int vs_writer_write_i64(vs_writer *w, const int64_t *values, uint64_t rows) {
    return writer_rows(w, NULL, values, rows);
}

void vs_writer_abort(vs_writer *w) {
    if (w == NULL) return;
    vs_outfile_abort(w->file);
    free(w);
}

int vs_writer_commit(vs_writer *w, char *err, size_t err_size) {
    if (w == NULL) return VS_ERR_INVALID_ARGUMENT;
    if (w->failed) {
        vs__io_msg(err, err_size, "%s", w->err);
        vs_writer_abort(w);
        return VS_ERR_IO;
    }
    FILE *stream = vs_outfile_stream(w->file);
    unsigned char header[NPY_HEADER_BYTES];
    size_t header_bytes = 0;
    if (is_bin(w->format)) {
        if (w->rows > UINT32_MAX) {
            vs__io_msg(err, err_size, "%s: %llu rows do not fit the uint32 count of .%s",
                       w->file->path, (unsigned long long)w->rows, vs_file_format_name(w->format));
            vs_writer_abort(w);
            return VS_ERR_INVALID_ARGUMENT;
        }
        store_u32(header, (uint32_t)w->rows);
        store_u32(header + 4, (uint32_t)w->dim);
        header_bytes = 8;
    } else if (w->format == VS_FORMAT_NPY) {
        npy_header(header, w->dtype, w->rows, w->dim);
        header_bytes = NPY_HEADER_BYTES;
    }
    if (header_bytes > 0) {
        if (fflush(stream) != 0 || fseek(stream, 0, SEEK_SET) != 0 ||
            fwrite(header, 1, header_bytes, stream) != header_bytes) {
            vs__io_msg(err, err_size, "%s: write failed: %s", w->file->path, strerror(errno));
            vs_writer_abort(w);
            return VS_ERR_IO;
        }
    }
    int rc = vs_outfile_commit(w->file, err, err_size);
    free(w);
    return rc;
}
