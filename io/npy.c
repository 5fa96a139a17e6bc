/*
 * npy.c — the .npy header: its parser (for io/reader.c) and the descr strings
 * its writer uses (io/writer.c). The element types it knows are the rows of
 * VS_IO_DTYPE_TABLE (io/formats.h).
 *
 * A header is checked in three steps, each with its own messages:
 * the preamble (magic, version, header length; npy_preamble), the header
 * dict (keys, quoting, the shape tuple; npy_dict) and the layout the dict
 * describes against the file's size (npy_layout).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "formats.h"
#include "../base/log.h"
#include "io_internal.h"

/* ---- descr strings ---------------------------------------------------------------- */

const char *vs__npy_descr(vs_dtype dtype) {
    const vs__dtype_row *row = vs__dtype_find(dtype);
    return row != NULL ? row->descr : "?";
}

/* "<f4 <f2 ...": every descr the writer writes, for messages. */
#define VS_NPY_DESCR_WORD_(suffix, name, bytes, words, descr, alias) " " descr
static const char npy_known[] = VS_IO_DTYPE_TABLE(VS_NPY_DESCR_WORD_);
#undef VS_NPY_DESCR_WORD_
#define VS_NPY_KNOWN (npy_known + 1) /* without the leading blank */

static int npy_dtype(const char *descr, vs_dtype *out, char *why, size_t why_size, size_t offset) {
    for (size_t i = 0; i < vs__dtype_count; i++) {
        const vs__dtype_row *row = &vs__dtypes[i];
        if (strcmp(descr, row->descr) == 0 ||
            (row->alias[0] != '\0' && strcmp(descr, row->alias) == 0)) {
            *out = row->dtype;
            return 0;
        }
    }
    if (descr[0] == '>' && strcmp(descr + 1, "u1") != 0 && strcmp(descr + 1, "i1") != 0) {
        return vs__fail_msg(
            why, why_size, VS_ERR_FORMAT,
            "big-endian dtype '%s' in the npy header (at byte %zu) is not supported; "
            "expected little-endian '<%s'",
            descr, offset, descr + 1);
    }
    return vs__fail_msg(why, why_size, VS_ERR_FORMAT,
                        "unsupported npy dtype '%s' (header at byte %zu); expected one of %s",
                        descr, offset, VS_NPY_KNOWN);
}

/* ---- the header dict: a tiny strict Python-literal reader ------------------------- */

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
    return vs__fail_msg(c->why, c->why_size, VS_ERR_FORMAT,
                        "malformed npy header at byte %zu: expected %s, found %s",
                        c->file_offset + c->at, expected, found);
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
                return vs__fail_msg(c->why, c->why_size, VS_ERR_FORMAT,
                                    "npy shape value at byte %zu overflows 64 bits",
                                    c->file_offset + c->at);
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

/* ---- step 1: the preamble ------------------------------------------------------------ */

typedef struct npy_preamble {
    unsigned major;      /* 1, 2 or 3 */
    size_t text_at;      /* where the header text starts (10 or 12) */
    uint64_t header_len; /* bytes of header text, newline included */
} npy_preamble;

static int npy_read_preamble(const unsigned char *p, uint64_t size, npy_preamble *pre, char *why,
                             size_t why_size) {
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (size < 10) {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT,
                            "truncated: %llu bytes, an npy preamble is at least 10",
                            (unsigned long long)size);
    }
    if (memcmp(p, magic, 6) != 0) {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT,
                            "bytes 0-5 are not the npy magic \\x93NUMPY");
    }
    unsigned major = p[6], minor = p[7];
    if (major < 1 || major > 3 || minor != 0) {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT,
                            "npy version %u.%u at byte 6; expected 1.0, 2.0 or 3.0", major, minor);
    }
    size_t text_at = major == 1 ? 10 : 12;
    if (size < text_at) {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT,
                            "truncated: %llu bytes, an npy %u.0 preamble is %zu",
                            (unsigned long long)size, major, text_at);
    }
    /* Little-endian u16 (version 1) or u32 length, read byte by byte (unaligned-safe). */
    uint64_t header_len = (uint64_t)p[8] | (uint64_t)p[9] << 8;
    if (major != 1) header_len |= (uint64_t)p[10] << 16 | (uint64_t)p[11] << 24;
    if (header_len > VS_IO_NPY_MAX_HEADER) {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT,
                            "npy header length %llu at byte 8 exceeds the limit of %u bytes",
                            (unsigned long long)header_len, VS_IO_NPY_MAX_HEADER);
    }
    if (text_at + header_len > size) {
        return vs__fail_msg(
            why, why_size, VS_ERR_FORMAT,
            "npy header of %llu bytes (length at byte 8) ends at byte %llu, past the end "
            "of the file (%llu bytes)",
            (unsigned long long)header_len, (unsigned long long)(text_at + header_len),
            (unsigned long long)size);
    }
    if (header_len == 0 || p[text_at + header_len - 1] != '\n') {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT,
                            "malformed npy header: it must end with a newline at byte %llu",
                            (unsigned long long)(text_at + header_len - (header_len ? 1 : 0)));
    }
    pre->major = major;
    pre->text_at = text_at;
    pre->header_len = header_len;
    return 0;
}

/* ---- step 2: the header dict ----------------------------------------------------------- */

typedef struct npy_dict {
    char descr[32];
    size_t descr_at; /* file offset of the descr value */
    int fortran;     /* -1 until read */
    int have_descr;
    int ndim; /* -1 until read */
    uint64_t dims[8];
} npy_dict;

/* The value of one key (the cursor is after its ':'). */
static int npy_value(npy_cursor *c, const char *key, size_t key_at, npy_dict *d) {
    int duplicate = 0;
    if (strcmp(key, "descr") == 0) {
        duplicate = d->have_descr;
        npy_skip_space(c);
        d->descr_at = c->file_offset + c->at;
        if (c->at < c->length && (c->text[c->at] == '[' || c->text[c->at] == '{')) {
            return vs__fail_msg(c->why, c->why_size, VS_ERR_FORMAT,
                                "unsupported npy dtype at byte %zu: structured (record) dtypes are "
                                "not supported; expected one of %s",
                                d->descr_at, VS_NPY_KNOWN);
        }
        if (npy_string(c, d->descr, sizeof(d->descr))) return VS_ERR_FORMAT;
        d->have_descr = 1;
    } else if (strcmp(key, "fortran_order") == 0) {
        duplicate = d->fortran >= 0;
        if (npy_bool(c, &d->fortran)) return VS_ERR_FORMAT;
    } else if (strcmp(key, "shape") == 0) {
        duplicate = d->ndim >= 0;
        if (npy_shape(c, d->dims, &d->ndim)) return VS_ERR_FORMAT;
    } else {
        return vs__fail_msg(c->why, c->why_size, VS_ERR_FORMAT,
                            "malformed npy header at byte %zu: unknown key '%s'; expected 'descr', "
                            "'fortran_order', 'shape'",
                            c->file_offset + key_at, key);
    }
    if (duplicate) {
        return vs__fail_msg(c->why, c->why_size, VS_ERR_FORMAT,
                            "malformed npy header at byte %zu: key '%s' appears twice",
                            c->file_offset + key_at, key);
    }
    return 0;
}

static int npy_read_dict(const unsigned char *p, const npy_preamble *pre, npy_dict *d, char *why,
                         size_t why_size) {
    npy_cursor c = {p + pre->text_at, (size_t)pre->header_len, 0, pre->text_at, why, why_size};
    memset(d, 0, sizeof(*d));
    d->fortran = -1;
    d->ndim = -1;
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
        if (npy_value(&c, key, key_at, d)) return VS_ERR_FORMAT;
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
    if (!d->have_descr || d->fortran < 0 || d->ndim < 0) {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT, "malformed npy header: missing key '%s'",
                            !d->have_descr   ? "descr"
                            : d->fortran < 0 ? "fortran_order"
                                             : "shape");
    }
    return 0;
}

/* ---- step 3: the layout against the file -------------------------------------------------- */

static int npy_layout(const npy_preamble *pre, const npy_dict *d, uint64_t size,
                      vs__npy_header *out, char *why, size_t why_size) {
    const size_t text_at = pre->text_at;
    const uint64_t header_len = pre->header_len;
    const int ndim = d->ndim;
    vs_dtype dtype = VS_DTYPE_F32; /* set by npy_dtype */
    if (npy_dtype(d->descr, &dtype, why, why_size, d->descr_at)) return VS_ERR_FORMAT;
    uint64_t rows, dim;
    if (ndim == 2) {
        rows = d->dims[0];
        dim = d->dims[1];
    } else if (ndim == 1) {
        rows = 1;
        dim = d->dims[0];
    } else {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT,
                            "npy array has %d dimensions; expected 2 (rows, dim) or 1 (one vector)",
                            ndim);
    }
    if (dim == 0 || dim > VS_IO_MAX_DIM) {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT, "npy dimension %llu; expected 1..%u",
                            (unsigned long long)dim, VS_IO_MAX_DIM);
    }
    uint64_t count, bytes, need;
    if (!vs__mul_u64(rows, dim, &count) || !vs__mul_u64(count, vs_dtype_size(dtype), &bytes) ||
        !vs__add_u64(bytes, text_at + header_len, &need)) {
        return vs__fail_msg(
            why, why_size, VS_ERR_FORMAT, "npy shape (%llu, %llu) x %zu bytes overflows 64 bits",
            (unsigned long long)rows, (unsigned long long)dim, vs_dtype_size(dtype));
    }
    if (need != size) {
        return vs__fail_msg(
            why, why_size, VS_ERR_FORMAT,
            "size %llu does not match the npy header: %llu + %llu x %llu x %zu = %llu bytes "
            "(%s at byte %llu)",
            (unsigned long long)size, (unsigned long long)(text_at + header_len),
            (unsigned long long)rows, (unsigned long long)dim, vs_dtype_size(dtype),
            (unsigned long long)need,
            need > size ? "truncated: data ends early" : "trailing bytes after the data",
            (unsigned long long)(need > size ? size : need));
    }
    if (rows == 0) {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT,
                            "npy shape has 0 rows: the file holds no vectors");
    }
    out->dtype = dtype;
    out->rows = rows;
    out->dim = dim;
    out->data_offset = text_at + header_len;
    out->version = (int)pre->major;
    out->fortran_order = d->fortran;
    /* Column-major data: element (i, j) at (j x rows + i). With one row or one
     * column that is the C layout. */
    out->column_major = d->fortran && ndim == 2 && rows > 1 && dim > 1;
    return 0;
}

int vs__npy_parse(const unsigned char *head, uint64_t size, vs__npy_header *out, char *why,
                  size_t why_size) {
    npy_preamble pre = {0, 0, 0}; /* set by npy_read_preamble */
    npy_dict dict;
    if (npy_read_preamble(head, size, &pre, why, why_size)) return VS_ERR_FORMAT;
    if (npy_read_dict(head, &pre, &dict, why, why_size)) return VS_ERR_FORMAT;
    return npy_layout(&pre, &dict, size, out, why, why_size);
}
