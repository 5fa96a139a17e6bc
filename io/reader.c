/*
 * reader.c — strict, memory-mapped, streaming readers for .fvecs .bvecs
 * .ivecs .fbin .u8bin .ibin and .npy.
 *
 * The file is mapped read-only once; vs_reader_open checks the header and
 * the size arithmetic (every product checked for 64-bit overflow) before a
 * single row is touched. Rows are converted to float32 (or int64) only when
 * asked for, into the caller's buffer, with unaligned-safe loads: neither a
 * record's data nor an npy data offset is assumed aligned.
 *
 *   .*vecs   [int32 dim][dim x elem] [int32 dim][dim x elem] ...
 *   .*bin    [uint32 rows][uint32 dim][rows x dim x elem]
 *   .npy     [\x93NUMPY][major][minor][len u16|u32][dict text ... \n][data]
 */
#define _DEFAULT_SOURCE /* madvise(MADV_DONTNEED): posix_madvise ignores it on glibc */
#include "io_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct vs_reader {
    vs_reader_info info;
    const unsigned char *data; /* the whole file */
    size_t size;
    int mapped; /* 1: munmap on close */
    unsigned flags;
    uint64_t record_bytes; /* .*vecs: 4 + dim x elem; others: dim x elem */
    int vecs;              /* 1 for .fvecs/.bvecs/.ivecs */
    size_t page;           /* page size, for releasing consumed pages */
    char *name;
    char err[VS_IO_ERROR_SIZE];
};

/* ---- small helpers ----------------------------------------------------------- */

void vs__io_msg(char *buf, size_t size, const char *fmt, ...) {
    if (buf == NULL || size == 0) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(buf, size, fmt, args);
    va_end(args);
}

static uint32_t load_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t load_u16(const unsigned char *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint64_t load_u64(const unsigned char *p) {
    return (uint64_t)load_u32(p) | (uint64_t)load_u32(p + 4) << 32;
}

float vs__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13); /* inf or NaN */
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else { /* subnormal half: normalise */
        exponent = 113;
        while ((mantissa & 0x400u) == 0) {
            mantissa <<= 1;
            exponent--;
        }
        bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

uint16_t vs__f32_to_f16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof(bits));
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t exponent = (bits >> 23) & 0xffu;
    uint32_t mantissa = bits & 0x7fffffu;
    if (exponent == 0xff) return (uint16_t)(sign | 0x7c00u | (mantissa ? 0x200u : 0));
    int e = (int)exponent - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u); /* overflow: inf */
    if (e <= 0) {                                     /* subnormal or zero */
        if (e < -10) return sign;
        mantissa |= 0x800000u;
        int shift = 14 - e;
        uint32_t half = mantissa >> shift;
        uint32_t rest = mantissa & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (mantissa >> 13);
    uint32_t rest = mantissa & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half++; /* may carry into inf */
    return (uint16_t)(sign | half);
}

const char *vs_file_format_name(vs_file_format format) {
    switch (format) {
    case VS_FORMAT_FVECS: return "fvecs";
    case VS_FORMAT_BVECS: return "bvecs";
    case VS_FORMAT_IVECS: return "ivecs";
    case VS_FORMAT_FBIN: return "fbin";
    case VS_FORMAT_U8BIN: return "u8bin";
    case VS_FORMAT_IBIN: return "ibin";
    case VS_FORMAT_NPY: return "npy";
    case VS_FORMAT_UNKNOWN: break;
    }
    return "unknown";
}

vs_file_format vs_file_format_from_path(const char *path) {
    if (path == NULL) return VS_FORMAT_UNKNOWN;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (dot == NULL) return VS_FORMAT_UNKNOWN;
    static const vs_file_format all[] = {VS_FORMAT_FVECS, VS_FORMAT_BVECS, VS_FORMAT_IVECS,
                                         VS_FORMAT_FBIN,  VS_FORMAT_U8BIN, VS_FORMAT_IBIN,
                                         VS_FORMAT_NPY};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcasecmp(dot + 1, vs_file_format_name(all[i])) == 0) return all[i];
    }
    /* common aliases */
    if (strcasecmp(dot + 1, "bin") == 0) return VS_FORMAT_FBIN;
    return VS_FORMAT_UNKNOWN;
}

const char *vs_dtype_name(vs_dtype dtype) {
    switch (dtype) {
    case VS_DTYPE_F32: return "f4";
    case VS_DTYPE_F16: return "f2";
    case VS_DTYPE_F64: return "f8";
    case VS_DTYPE_U8: return "u1";
    case VS_DTYPE_I8: return "i1";
    case VS_DTYPE_I32: return "i4";
    case VS_DTYPE_I64: return "i8";
    }
    return NULL;
}

size_t vs_dtype_size(vs_dtype dtype) {
    switch (dtype) {
    case VS_DTYPE_F32: return 4;
    case VS_DTYPE_F16: return 2;
    case VS_DTYPE_F64: return 8;
    case VS_DTYPE_U8:
    case VS_DTYPE_I8: return 1;
    case VS_DTYPE_I32: return 4;
    case VS_DTYPE_I64: return 8;
    }
    return 0;
}

static const char *dtype_words(vs_dtype dtype) {
    switch (dtype) {
    case VS_DTYPE_F32: return "float32";
    case VS_DTYPE_F16: return "float16";
    case VS_DTYPE_F64: return "float64";
    case VS_DTYPE_U8: return "uint8";
    case VS_DTYPE_I8: return "int8";
    case VS_DTYPE_I32: return "int32";
    case VS_DTYPE_I64: return "int64";
    }
    return "?";
}

/* ---- per-format checks ------------------------------------------------------------ */

/*
 * Each check decides whether size bytes at p are a valid file of one format.
 * On success it fills *info and returns 0; otherwise VS_ERR_FORMAT and a
 * reason (without the file name) in why.
 */
typedef struct parse_out {
    vs_reader_info info;
    uint64_t record_bytes;
    int vecs;
} parse_out;

static int check_vecs(const unsigned char *p, size_t size, vs_file_format format, vs_dtype dtype,
                      unsigned flags, int sniffing, parse_out *out, char *why, size_t why_size) {
    const char *ext = vs_file_format_name(format);
    size_t elem = vs_dtype_size(dtype);
    if (size < 4) {
        vs__io_msg(why, why_size,
                   "truncated: %zu bytes, but a .%s record starts with a 4-byte dimension", size,
                   ext);
        return VS_ERR_FORMAT;
    }
    int32_t dim;
    uint32_t raw = load_u32(p);
    memcpy(&dim, &raw, sizeof(dim));
    if (dim <= 0 || (uint32_t)dim > VS_IO_MAX_DIM) {
        vs__io_msg(why, why_size, "record 0 (byte 0): dimension %ld; expected 1..%u", (long)dim,
                   VS_IO_MAX_DIM);
        return VS_ERR_FORMAT;
    }
    uint64_t record = 4 + (uint64_t)dim * elem; /* dim <= 2^20: no overflow */
    if (size < record) {
        vs__io_msg(why, why_size,
                   "truncated: record 0 (dimension %ld) needs %llu bytes, the file has %zu",
                   (long)dim, (unsigned long long)record, size);
        return VS_ERR_FORMAT;
    }
    uint64_t rows = size / record;
    if (size % record != 0) {
        vs__io_msg(why, why_size,
                   "trailing partial record %llu at byte %llu: %llu bytes, expected %llu "
                   "(4 + %ld x %zu)",
                   (unsigned long long)rows, (unsigned long long)(rows * record),
                   (unsigned long long)(size % record), (unsigned long long)record, (long)dim,
                   elem);
        return VS_ERR_FORMAT;
    }
    /* First records, the last record, or all of them. */
    uint64_t check_first = (flags & VS_READ_VALIDATE_ALL) ? rows : (sniffing ? 16 : 2);
    for (uint64_t i = 0; i <= check_first && i < rows; i++) {
        uint64_t row = i < check_first ? i : rows - 1;
        if (row >= rows) break;
        uint32_t d = load_u32(p + row * record);
        if (d != (uint32_t)dim) {
            int32_t signed_d;
            memcpy(&signed_d, &d, sizeof(signed_d));
            vs__io_msg(why, why_size,
                       "record %llu (byte %llu): dimension %ld differs from the first record's "
                       "%ld",
                       (unsigned long long)row, (unsigned long long)(row * record), (long)signed_d,
                       (long)dim);
            return VS_ERR_FORMAT;
        }
    }
    memset(out, 0, sizeof(*out));
    out->info.format = format;
    out->info.dtype = dtype;
    out->info.rows = rows;
    out->info.dim = (uint64_t)dim;
    out->info.data_offset = 4;
    out->info.file_bytes = size;
    out->record_bytes = record;
    out->vecs = 1;
    return 0;
}

static int check_bin(const unsigned char *p, size_t size, vs_file_format format, vs_dtype dtype,
                     parse_out *out, char *why, size_t why_size) {
    const char *ext = vs_file_format_name(format);
    if (size < 8) {
        vs__io_msg(why, why_size,
                   "truncated header: %zu bytes, expected 8 (uint32 count, uint32 dimension) for "
                   ".%s",
                   size, ext);
        return VS_ERR_FORMAT;
    }
    uint32_t rows = load_u32(p), dim = load_u32(p + 4);
    if (dim == 0 || dim > VS_IO_MAX_DIM) {
        vs__io_msg(why, why_size, "dimension %lu at byte 4; expected 1..%u", (unsigned long)dim,
                   VS_IO_MAX_DIM);
        return VS_ERR_FORMAT;
    }
    uint64_t bytes, need;
    if (!vs__mul_u64((uint64_t)rows * dim, vs_dtype_size(dtype), &bytes) ||
        !vs__add_u64(bytes, 8, &need)) {
        vs__io_msg(why, why_size, "count %lu x dimension %lu overflows 64 bits",
                   (unsigned long)rows, (unsigned long)dim);
        return VS_ERR_FORMAT;
    }
    if (need != size) {
        vs__io_msg(why, why_size,
                   "size %zu is not 8 + %lu x %lu x %zu = %llu bytes (%s at byte %llu)", size,
                   (unsigned long)rows, (unsigned long)dim, vs_dtype_size(dtype),
                   (unsigned long long)need,
                   need > size ? "truncated: data ends early" : "trailing bytes after the data end",
                   (unsigned long long)(need > size ? size : need));
        return VS_ERR_FORMAT;
    }
    if (rows == 0) {
        vs__io_msg(why, why_size, "count 0 at byte 0: the file holds no vectors");
        return VS_ERR_FORMAT;
    }
    memset(out, 0, sizeof(*out));
    out->info.format = format;
    out->info.dtype = dtype;
    out->info.rows = rows;
    out->info.dim = dim;
    out->info.data_offset = 8;
    out->info.file_bytes = size;
    out->record_bytes = (uint64_t)dim * vs_dtype_size(dtype);
    return 0;
}

/* ---- npy header parsing --------------------------------------------------------------- */

typedef struct npy_cursor {
    const unsigned char *text;
    size_t length;
    size_t at;
    size_t file_offset; /* of text[0] */
    char *why;
    size_t why_size;
} npy_cursor;

static void npy_skip_space(npy_cursor *c) {
    while (c->at < c->length && (c->text[c->at] == ' ' || c->text[c->at] == '\t' ||
                                 c->text[c->at] == '\n' || c->text[c->at] == '\r'))
        c->at++;
}

static int npy_fail(npy_cursor *c, const char *expected) {
    char found[24];
    if (c->at >= c->length) {
        snprintf(found, sizeof(found), "the end of the header");
    } else if (isprint(c->text[c->at])) {
        snprintf(found, sizeof(found), "'%c'", c->text[c->at]);
    } else {
        snprintf(found, sizeof(found), "byte 0x%02x", c->text[c->at]);
    }
    vs__io_msg(c->why, c->why_size, "malformed npy header at byte %zu: expected %s, found %s",
               c->file_offset + c->at, expected, found);
    return VS_ERR_FORMAT;
}

static int npy_expect(npy_cursor *c, char ch, const char *what) {
    npy_skip_space(c);
    if (c->at >= c->length || c->text[c->at] != (unsigned char)ch) return npy_fail(c, what);
    c->at++;
    return 0;
}

/* A quoted Python string of printable ASCII without escapes. */
static int npy_string(npy_cursor *c, char *out, size_t out_size) {
    npy_skip_space(c);
    if (c->at >= c->length || (c->text[c->at] != '\'' && c->text[c->at] != '"'))
        return npy_fail(c, "a quoted string");
    unsigned char quote = c->text[c->at++];
    size_t n = 0;
    while (c->at < c->length && c->text[c->at] != quote) {
        unsigned char ch = c->text[c->at];
        if (ch == '\\' || !isprint(ch)) return npy_fail(c, "a plain printable string");
        if (n + 1 >= out_size) return npy_fail(c, "a shorter string");
        out[n++] = (char)ch;
        c->at++;
    }
    if (c->at >= c->length) return npy_fail(c, "a closing quote");
    c->at++;
    out[n] = '\0';
    return 0;
}

static int npy_bool(npy_cursor *c, int *out) {
    npy_skip_space(c);
    if (c->length - c->at >= 4 && memcmp(c->text + c->at, "True", 4) == 0) {
        c->at += 4;
        *out = 1;
        return 0;
    }
    if (c->length - c->at >= 5 && memcmp(c->text + c->at, "False", 5) == 0) {
        c->at += 5;
        *out = 0;
        return 0;
    }
    return npy_fail(c, "True or False");
}

static int npy_shape(npy_cursor *c, uint64_t *dims, int *ndim) {
    if (npy_expect(c, '(', "'(' starting the shape tuple")) return VS_ERR_FORMAT;
    *ndim = 0;
    for (;;) {
        npy_skip_space(c);
        if (c->at < c->length && c->text[c->at] == ')') {
            c->at++;
            break;
        }
        if (c->at >= c->length || !isdigit(c->text[c->at]))
            return npy_fail(c, "a non-negative integer or ')' in the shape");
        uint64_t value = 0;
        while (c->at < c->length && isdigit(c->text[c->at])) {
            if (!vs__mul_u64(value, 10, &value) ||
                !vs__add_u64(value, (uint64_t)(c->text[c->at] - '0'), &value)) {
                vs__io_msg(c->why, c->why_size, "npy shape value at byte %zu overflows 64 bits",
                           c->file_offset + c->at);
                return VS_ERR_FORMAT;
            }
            c->at++;
        }
        if (c->at < c->length && c->text[c->at] == 'L') c->at++; /* Python 2 long suffix */
        if (*ndim < 8) dims[*ndim] = value;
        (*ndim)++;
        if (*ndim > 32) return npy_fail(c, "at most 32 dimensions");
        npy_skip_space(c);
        if (c->at < c->length && c->text[c->at] == ',') {
            c->at++;
            continue;
        }
        if (c->at < c->length && c->text[c->at] == ')') {
            c->at++;
            break;
        }
        return npy_fail(c, "',' or ')' in the shape");
    }
    return 0;
}

static int npy_dtype(const char *descr, vs_dtype *out, char *why, size_t why_size, size_t offset) {
    static const struct {
        const char *descr;
        vs_dtype dtype;
    } known[] = {{"<f4", VS_DTYPE_F32}, {"<f2", VS_DTYPE_F16}, {"<f8", VS_DTYPE_F64},
                 {"|u1", VS_DTYPE_U8},  {"|i1", VS_DTYPE_I8},  {"<u1", VS_DTYPE_U8},
                 {"<i1", VS_DTYPE_I8},  {"<i4", VS_DTYPE_I32}, {"<i8", VS_DTYPE_I64}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(descr, known[i].descr) == 0) {
            *out = known[i].dtype;
            return 0;
        }
    }
    if (descr[0] == '>' && strcmp(descr + 1, "u1") != 0 && strcmp(descr + 1, "i1") != 0) {
        vs__io_msg(why, why_size,
                   "big-endian dtype '%s' in the npy header (at byte %zu) is not supported; "
                   "expected little-endian '<%s'",
                   descr, offset, descr + 1);
        return VS_ERR_FORMAT;
    }
    vs__io_msg(why, why_size,
               "unsupported npy dtype '%s' (header at byte %zu); expected one of <f4 <f2 <f8 |u1 "
               "|i1 <i4 <i8",
               descr, offset);
    return VS_ERR_FORMAT;
}

static int check_npy(const unsigned char *p, size_t size, parse_out *out, char *why,
                     size_t why_size) {
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (size < 10) {
        vs__io_msg(why, why_size, "truncated: %zu bytes, an npy preamble is at least 10", size);
        return VS_ERR_FORMAT;
    }
    if (memcmp(p, magic, 6) != 0) {
        vs__io_msg(why, why_size, "bytes 0-5 are not the npy magic \\x93NUMPY");
        return VS_ERR_FORMAT;
    }
    unsigned major = p[6], minor = p[7];
    if (major < 1 || major > 3 || minor != 0) {
        vs__io_msg(why, why_size, "npy version %u.%u at byte 6; expected 1.0, 2.0 or 3.0", major,
                   minor);
        return VS_ERR_FORMAT;
    }
    size_t text_at = major == 1 ? 10 : 12;
    if (size < text_at) {
        vs__io_msg(why, why_size, "truncated: %zu bytes, an npy %u.0 preamble is %zu", size, major,
                   text_at);
        return VS_ERR_FORMAT;
    }
    uint64_t header_len = major == 1 ? load_u16(p + 8) : load_u32(p + 8);
    if (header_len > VS_IO_NPY_MAX_HEADER) {
        vs__io_msg(why, why_size, "npy header length %llu at byte 8 exceeds the limit of %u bytes",
                   (unsigned long long)header_len, VS_IO_NPY_MAX_HEADER);
        return VS_ERR_FORMAT;
    }
    if (text_at + header_len > size) {
        vs__io_msg(why, why_size,
                   "npy header of %llu bytes (length at byte 8) ends at byte %llu, past the end "
                   "of the file (%zu bytes)",
                   (unsigned long long)header_len, (unsigned long long)(text_at + header_len),
                   size);
        return VS_ERR_FORMAT;
    }
    if (header_len == 0 || p[text_at + header_len - 1] != '\n') {
        vs__io_msg(why, why_size, "malformed npy header: it must end with a newline at byte %llu",
                   (unsigned long long)(text_at + header_len - (header_len ? 1 : 0)));
        return VS_ERR_FORMAT;
    }

    npy_cursor c = {p + text_at, (size_t)header_len, 0, text_at, why, why_size};
    char descr[32] = "";
    int fortran = -1, have_descr = 0, ndim = -1;
    size_t descr_at = 0;
    uint64_t dims[8] = {0};
    if (npy_expect(&c, '{', "'{' opening the header dict")) return VS_ERR_FORMAT;
    for (;;) {
        npy_skip_space(&c);
        if (c.at < c.length && c.text[c.at] == '}') {
            c.at++;
            break;
        }
        char key[32];
        size_t key_at = c.at;
        if (npy_string(&c, key, sizeof(key))) return VS_ERR_FORMAT;
        if (npy_expect(&c, ':', "':' after a key")) return VS_ERR_FORMAT;
        int duplicate = 0;
        if (strcmp(key, "descr") == 0) {
            duplicate = have_descr;
            npy_skip_space(&c);
            descr_at = text_at + c.at;
            if (c.at < c.length && (c.text[c.at] == '[' || c.text[c.at] == '{')) {
                vs__io_msg(why, why_size,
                           "unsupported npy dtype at byte %zu: structured (record) dtypes are "
                           "not supported; expected one of <f4 <f2 <f8 |u1 |i1 <i4 <i8",
                           descr_at);
                return VS_ERR_FORMAT;
            }
            if (npy_string(&c, descr, sizeof(descr))) return VS_ERR_FORMAT;
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            duplicate = fortran >= 0;
            if (npy_bool(&c, &fortran)) return VS_ERR_FORMAT;
        } else if (strcmp(key, "shape") == 0) {
            duplicate = ndim >= 0;
            if (npy_shape(&c, dims, &ndim)) return VS_ERR_FORMAT;
        } else {
            vs__io_msg(why, why_size,
                       "malformed npy header at byte %zu: unknown key '%s'; expected 'descr', "
                       "'fortran_order', 'shape'",
                       text_at + key_at, key);
            return VS_ERR_FORMAT;
        }
        if (duplicate) {
            vs__io_msg(why, why_size, "malformed npy header at byte %zu: key '%s' appears twice",
                       text_at + key_at, key);
            return VS_ERR_FORMAT;
        }
        npy_skip_space(&c);
        if (c.at < c.length && c.text[c.at] == ',') {
            c.at++;
            continue;
        }
        if (npy_expect(&c, '}', "',' or '}' after a value")) return VS_ERR_FORMAT;
        break;
    }
    npy_skip_space(&c);
    if (c.at != c.length) return npy_fail(&c, "only spaces after the header dict");
    if (!have_descr || fortran < 0 || ndim < 0) {
        vs__io_msg(why, why_size, "malformed npy header: missing key '%s'",
                   !have_descr   ? "descr"
                   : fortran < 0 ? "fortran_order"
                                 : "shape");
        return VS_ERR_FORMAT;
    }
    vs_dtype dtype;
    if (npy_dtype(descr, &dtype, why, why_size, descr_at)) return VS_ERR_FORMAT;
    if (fortran) {
        vs__io_msg(why, why_size,
                   "Fortran-order npy arrays are not supported; expected C order (save "
                   "np.ascontiguousarray(a))");
        return VS_ERR_FORMAT;
    }
    uint64_t rows, dim;
    if (ndim == 2) {
        rows = dims[0];
        dim = dims[1];
    } else if (ndim == 1) {
        rows = 1;
        dim = dims[0];
    } else {
        vs__io_msg(why, why_size,
                   "npy array has %d dimensions; expected 2 (rows, dim) or 1 (one vector)", ndim);
        return VS_ERR_FORMAT;
    }
    if (dim == 0 || dim > VS_IO_MAX_DIM) {
        vs__io_msg(why, why_size, "npy dimension %llu; expected 1..%u", (unsigned long long)dim,
                   VS_IO_MAX_DIM);
        return VS_ERR_FORMAT;
    }
    uint64_t count, bytes, need;
    if (!vs__mul_u64(rows, dim, &count) || !vs__mul_u64(count, vs_dtype_size(dtype), &bytes) ||
        !vs__add_u64(bytes, text_at + header_len, &need)) {
        vs__io_msg(why, why_size, "npy shape (%llu, %llu) x %zu bytes overflows 64 bits",
                   (unsigned long long)rows, (unsigned long long)dim, vs_dtype_size(dtype));
        return VS_ERR_FORMAT;
    }
    if (need != size) {
        vs__io_msg(why, why_size,
                   "size %zu does not match the npy header: %llu + %llu x %llu x %zu = %llu bytes "
                   "(%s at byte %llu)",
                   size, (unsigned long long)(text_at + header_len), (unsigned long long)rows,
                   (unsigned long long)dim, vs_dtype_size(dtype), (unsigned long long)need,
                   need > size ? "truncated: data ends early" : "trailing bytes after the data",
                   (unsigned long long)(need > size ? size : need));
        return VS_ERR_FORMAT;
    }
    if (rows == 0) {
        vs__io_msg(why, why_size, "npy shape has 0 rows: the file holds no vectors");
        return VS_ERR_FORMAT;
    }
    memset(out, 0, sizeof(*out));
    out->info.format = VS_FORMAT_NPY;
    out->info.dtype = dtype;
    out->info.rows = rows;
    out->info.dim = dim;
    out->info.data_offset = text_at + header_len;
    out->info.file_bytes = size;
    out->info.npy_version = (int)major;
    out->record_bytes = dim * vs_dtype_size(dtype);
    return 0;
}

static int check_format(const unsigned char *p, size_t size, vs_file_format format, unsigned flags,
                        int sniffing, parse_out *out, char *why, size_t why_size) {
    switch (format) {
    case VS_FORMAT_FVECS:
        return check_vecs(p, size, format, VS_DTYPE_F32, flags, sniffing, out, why, why_size);
    case VS_FORMAT_BVECS:
        return check_vecs(p, size, format, VS_DTYPE_U8, flags, sniffing, out, why, why_size);
    case VS_FORMAT_IVECS:
        return check_vecs(p, size, format, VS_DTYPE_I32, flags, sniffing, out, why, why_size);
    case VS_FORMAT_FBIN: return check_bin(p, size, format, VS_DTYPE_F32, out, why, why_size);
    case VS_FORMAT_U8BIN: return check_bin(p, size, format, VS_DTYPE_U8, out, why, why_size);
    case VS_FORMAT_IBIN: return check_bin(p, size, format, VS_DTYPE_I32, out, why, why_size);
    case VS_FORMAT_NPY: return check_npy(p, size, out, why, why_size);
    case VS_FORMAT_UNKNOWN: break;
    }
    vs__io_msg(why, why_size, "unknown format");
    return VS_ERR_INVALID_ARGUMENT;
}

/* Formats tried when content decides; layouts that are identical (fvecs/ivecs,
 * fbin/ibin) are told apart only by the extension. */
static const vs_file_format sniff_order[] = {VS_FORMAT_NPY, VS_FORMAT_FVECS, VS_FORMAT_BVECS,
                                             VS_FORMAT_FBIN, VS_FORMAT_U8BIN};

static int same_layout(vs_file_format a, vs_file_format b) {
    if (a == b) return 1;
    if ((a == VS_FORMAT_FVECS && b == VS_FORMAT_IVECS) ||
        (a == VS_FORMAT_IVECS && b == VS_FORMAT_FVECS))
        return 1;
    if ((a == VS_FORMAT_FBIN && b == VS_FORMAT_IBIN) ||
        (a == VS_FORMAT_IBIN && b == VS_FORMAT_FBIN))
        return 1;
    return 0;
}

static int parse(vs_reader *r, vs_file_format format, parse_out *out) {
    const char *name = r->name;
    if (r->size == 0) {
        vs__io_msg(r->err, sizeof(r->err), "%s: empty file (0 bytes)", name);
        return VS_ERR_FORMAT;
    }
    char why[VS_IO_ERROR_SIZE];
    vs_file_format want = format != VS_FORMAT_UNKNOWN ? format : vs_file_format_from_path(name);
    if (want != VS_FORMAT_UNKNOWN) {
        int rc = check_format(r->data, r->size, want, r->flags, 0, out, why, sizeof(why));
        if (rc == 0) return 0;
        for (size_t i = 0; i < sizeof(sniff_order) / sizeof(sniff_order[0]); i++) {
            vs_file_format other = sniff_order[i];
            if (same_layout(other, want)) continue;
            parse_out ignored;
            char ignored_why[8];
            if (check_format(r->data, r->size, other, 0, 1, &ignored, ignored_why,
                             sizeof(ignored_why)) == 0) {
                vs__io_msg(r->err, sizeof(r->err), "%s: looks like .%s, not .%s (%s)", name,
                           vs_file_format_name(other), vs_file_format_name(want), why);
                return VS_ERR_FORMAT;
            }
        }
        vs__io_msg(r->err, sizeof(r->err), "%s: not a valid .%s file: %s", name,
                   vs_file_format_name(want), why);
        return rc;
    }
    for (size_t i = 0; i < sizeof(sniff_order) / sizeof(sniff_order[0]); i++) {
        if (check_format(r->data, r->size, sniff_order[i], r->flags, 1, out, why, sizeof(why)) == 0)
            return 0;
    }
    vs__io_msg(r->err, sizeof(r->err),
               "%s: unknown format: the extension is not one of .fvecs .bvecs .ivecs .fbin "
               ".u8bin .ibin .npy and the content matches none of them",
               name);
    return VS_ERR_FORMAT;
}

/* ---- open / close ---------------------------------------------------------------------- */

static vs_reader *reader_new(const char *name, unsigned flags) {
    vs_reader *r = calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    r->name = strdup(name != NULL ? name : "<memory>");
    if (r->name == NULL) {
        free(r);
        return NULL;
    }
    r->flags = flags;
    long page = sysconf(_SC_PAGESIZE);
    r->page = page > 0 ? (size_t)page : 4096;
    return r;
}

static int reader_finish(vs_reader *r, vs_file_format format, vs_reader **out, char *err,
                         size_t err_size) {
    parse_out parsed;
    int rc = parse(r, format, &parsed);
    if (rc != 0) {
        vs__io_msg(err, err_size, "%s", r->err);
        vs_reader_close(r);
        return rc;
    }
    r->info = parsed.info;
    r->record_bytes = parsed.record_bytes;
    r->vecs = parsed.vecs;
    r->err[0] = '\0';
    *out = r;
    return 0;
}

int vs_reader_open(const char *path, vs_file_format format, unsigned flags, vs_reader **out,
                   char *err, size_t err_size) {
    if (out != NULL) *out = NULL;
    if (path == NULL || out == NULL) {
        vs__io_msg(err, err_size, "vs_reader_open: path and out must not be NULL");
        return VS_ERR_INVALID_ARGUMENT;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vs__io_msg(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return VS_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        vs__io_msg(err, err_size, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return VS_ERR_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        vs__io_msg(err, err_size, "%s: not a regular file", path);
        close(fd);
        return VS_ERR_IO;
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        vs__io_msg(err, err_size, "%s: %llu bytes do not fit this machine's address space", path,
                   (unsigned long long)st.st_size);
        close(fd);
        return VS_ERR_FORMAT;
    }
    vs_reader *r = reader_new(path, flags);
    if (r == NULL) {
        close(fd);
        vs__io_msg(err, err_size, "%s: out of memory", path);
        return VS_ERR_OUT_OF_MEMORY;
    }
    r->size = (size_t)st.st_size;
    if (r->size > 0) {
        void *map = mmap(NULL, r->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            vs__io_msg(err, err_size, "%s: cannot map %zu bytes: %s", path, r->size,
                       strerror(errno));
            close(fd);
            free(r->name);
            free(r);
            return VS_ERR_IO;
        }
        r->data = map;
        r->mapped = 1;
        (void)madvise(map, r->size, MADV_SEQUENTIAL);
    }
    close(fd);
    return reader_finish(r, format, out, err, err_size);
}

int vs_reader_open_memory(const void *data, size_t size, const char *name, vs_file_format format,
                          unsigned flags, vs_reader **out, char *err, size_t err_size) {
    if (out != NULL) *out = NULL;
    if (out == NULL || (data == NULL && size > 0)) {
        vs__io_msg(err, err_size, "vs_reader_open_memory: out and data must not be NULL");
        return VS_ERR_INVALID_ARGUMENT;
    }
    vs_reader *r = reader_new(name, flags);
    if (r == NULL) {
        vs__io_msg(err, err_size, "out of memory");
        return VS_ERR_OUT_OF_MEMORY;
    }
    r->data = data;
    r->size = size;
    return reader_finish(r, format, out, err, err_size);
}

void vs_reader_close(vs_reader *r) {
    if (r == NULL) return;
    if (r->mapped) munmap((void *)r->data, r->size);
    free(r->name);
    free(r);
}

const vs_reader_info *vs_reader_get_info(const vs_reader *r) {
    return &r->info;
}

const char *vs_reader_error(const vs_reader *r) {
    return r != NULL ? r->err : "vs_reader is NULL";
}

/* ---- reading rows ------------------------------------------------------------------------ */

static int check_range(vs_reader *r, uint64_t start, uint64_t count, const void *out,
                       const char *fn) {
    r->err[0] = '\0';
    if (out == NULL && count > 0) {
        vs__io_msg(r->err, sizeof(r->err), "%s: %s: out is NULL", r->name, fn);
        return VS_ERR_INVALID_ARGUMENT;
    }
    if (start > r->info.rows || count > r->info.rows - start) {
        vs__io_msg(r->err, sizeof(r->err), "%s: %s: rows [%llu, %llu + %llu) outside 0..%llu",
                   r->name, fn, (unsigned long long)start, (unsigned long long)start,
                   (unsigned long long)count, (unsigned long long)r->info.rows);
        return VS_ERR_INVALID_ARGUMENT;
    }
    return 0;
}

static uint64_t row_offset(const vs_reader *r, uint64_t row) {
    return r->vecs ? row * r->record_bytes + 4 : r->info.data_offset + row * r->record_bytes;
}

static int check_record(vs_reader *r, uint64_t row) {
    if (!r->vecs) return 0;
    uint64_t at = row * r->record_bytes;
    uint32_t d = load_u32(r->data + at);
    if (d == r->info.dim) return 0;
    int32_t signed_d;
    memcpy(&signed_d, &d, sizeof(signed_d));
    vs__io_msg(r->err, sizeof(r->err),
               "%s: record %llu (byte %llu): dimension %ld differs from the first record's %llu",
               r->name, (unsigned long long)row, (unsigned long long)at, (long)signed_d,
               (unsigned long long)r->info.dim);
    return VS_ERR_FORMAT;
}

/* Drops the pages of rows [start, start + count) from the process: the
 * caller has its copy, and a streamed file must not pile up in RSS. */
static void release_rows(vs_reader *r, uint64_t start, uint64_t count) {
    if (!r->mapped || count == 0) return;
    uint64_t begin = start * r->record_bytes + (r->vecs ? 0 : r->info.data_offset);
    uint64_t end = begin + count * r->record_bytes;
    uint64_t first = (begin + r->page - 1) / r->page * r->page;
    uint64_t last = end / r->page * r->page;
    if (last > first) (void)madvise((void *)(r->data + first), last - first, MADV_DONTNEED);
}

static void convert_f32(const unsigned char *src, vs_dtype dtype, uint64_t n, float *out) {
    switch (dtype) {
    case VS_DTYPE_F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(out, src, n * sizeof(float));
#else
        for (uint64_t i = 0; i < n; i++) {
            uint32_t bits = load_u32(src + 4 * i);
            memcpy(&out[i], &bits, sizeof(float));
        }
#endif
        break;
    case VS_DTYPE_F16:
        for (uint64_t i = 0; i < n; i++)
            out[i] = vs__f16_to_f32(load_u16(src + 2 * i));
        break;
    case VS_DTYPE_F64:
        for (uint64_t i = 0; i < n; i++) {
            uint64_t bits = load_u64(src + 8 * i);
            double d;
            memcpy(&d, &bits, sizeof(d));
            out[i] = (float)d;
        }
        break;
    case VS_DTYPE_U8:
        for (uint64_t i = 0; i < n; i++)
            out[i] = (float)src[i];
        break;
    case VS_DTYPE_I8:
        for (uint64_t i = 0; i < n; i++)
            out[i] = (float)(int8_t)src[i];
        break;
    case VS_DTYPE_I32:
        for (uint64_t i = 0; i < n; i++)
            out[i] = (float)(int32_t)load_u32(src + 4 * i);
        break;
    case VS_DTYPE_I64:
        for (uint64_t i = 0; i < n; i++)
            out[i] = (float)(int64_t)load_u64(src + 8 * i);
        break;
    }
}

int vs_reader_read_f32(vs_reader *r, uint64_t start, uint64_t count, float *out) {
    if (r == NULL) return VS_ERR_INVALID_ARGUMENT;
    int rc = check_range(r, start, count, out, "vs_reader_read_f32");
    if (rc != 0) return rc;
    uint64_t dim = r->info.dim;
    if (r->vecs) {
        for (uint64_t i = 0; i < count; i++) {
            if ((rc = check_record(r, start + i)) != 0) return rc;
            convert_f32(r->data + row_offset(r, start + i), r->info.dtype, dim, out + i * dim);
        }
    } else if (count > 0) {
        convert_f32(r->data + row_offset(r, start), r->info.dtype, count * dim, out);
    }
    if (r->flags & VS_READ_REJECT_NONFINITE) {
        for (uint64_t i = 0; i < count * dim; i++) {
            if (!isfinite(out[i])) {
                vs__io_msg(r->err, sizeof(r->err),
                           "%s: row %llu, element %llu is %s; non-finite values are rejected",
                           r->name, (unsigned long long)(start + i / dim),
                           (unsigned long long)(i % dim), isnan(out[i]) ? "NaN" : "infinite");
                return VS_ERR_FORMAT;
            }
        }
    }
    release_rows(r, start, count);
    return 0;
}

int vs_reader_read_i64(vs_reader *r, uint64_t start, uint64_t count, int64_t *out) {
    if (r == NULL) return VS_ERR_INVALID_ARGUMENT;
    int rc = check_range(r, start, count, out, "vs_reader_read_i64");
    if (rc != 0) return rc;
    vs_dtype dtype = r->info.dtype;
    if (dtype == VS_DTYPE_F32 || dtype == VS_DTYPE_F16 || dtype == VS_DTYPE_F64) {
        vs__io_msg(r->err, sizeof(r->err),
                   "%s: holds %s values; expected integer ids (.ivecs, .ibin or an integer .npy)",
                   r->name, dtype_words(dtype));
        return VS_ERR_FORMAT;
    }
    uint64_t dim = r->info.dim;
    for (uint64_t i = 0; i < count; i++) {
        if ((rc = check_record(r, start + i)) != 0) return rc;
        const unsigned char *src = r->data + row_offset(r, start + i);
        int64_t *dst = out + i * dim;
        for (uint64_t j = 0; j < dim; j++) {
            switch (dtype) {
            case VS_DTYPE_U8: dst[j] = src[j]; break;
            case VS_DTYPE_I8: dst[j] = (int8_t)src[j]; break;
            case VS_DTYPE_I32: dst[j] = (int32_t)load_u32(src + 4 * j); break;
            case VS_DTYPE_I64: dst[j] = (int64_t)load_u64(src + 8 * j); break;
            default: break;
            }
        }
    }
    release_rows(r, start, count);
    return 0;
}

int vs_reader_validate(vs_reader *r) {
    if (r == NULL) return VS_ERR_INVALID_ARGUMENT;
    r->err[0] = '\0';
    for (uint64_t row = 0; r->vecs && row < r->info.rows; row++) {
        int rc = check_record(r, row);
        if (rc != 0) return rc;
    }
    return 0;
}
