/*
 * reader.c — strict, streaming readers for .fvecs .bvecs .ivecs .fbin .u8bin
 * .ibin and .npy.
 *
 * vs_reader_open checks the header and the size arithmetic (every product
 * checked for 64-bit overflow) before a single row is touched. Rows are
 * converted to float32 (or int64) only when asked for, into the caller's
 * buffer, with unaligned-safe loads: neither a record's data nor an npy data
 * offset is assumed aligned.
 *
 *   .*vecs   [int32 dim][dim x elem] [int32 dim][dim x elem] ...
 *   .*bin    [uint32 rows][uint32 dim][rows x dim x elem]   (.ibin ground truth:
 *            [uint32 rows][uint32 k][rows x k int32 ids][rows x k float32 distances])
 *   .npy     [\x93NUMPY][major][minor][len u16|u32][dict text ... \n][data]
 *
 * Files are read with pread(), never mapped. Another process may truncate or
 * rewrite a file while it is being read; through a mapping that is a SIGBUS
 * in the caller's process, and a library must not install a process-wide
 * signal handler to survive it. With pread a shrink is a short read, and
 * every range is bracketed by fstat() checks of the size and modification
 * time recorded at open, so a file that shrank, grew or was rewritten is an
 * error naming the file and what happened, never a crash or a mix of old and
 * new contents. Conversions go through a staging buffer of the reader's own
 * (VS_READER_STAGING_BYTES, or one record if that is larger); float32 rows
 * of .fbin and C-order .npy files are read straight into the caller's
 * buffer. A Fortran-order .npy is read one panel of rows at a time: each
 * column's run of the panel's rows is one read, and the panel is transposed
 * while it is converted.
 *
 * Memory readers (vs_reader_open_memory) run the same code with memcpy in
 * place of pread, so the fuzz targets cover every row path.
 */
#define _DEFAULT_SOURCE /* st_mtim, posix_fadvise */
#include "formats.h"
#include "../base/log.h"
#include "io_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Staging buffer per reader (at least one record or row). */
#define VS_READER_STAGING_BYTES ((size_t)4 << 20)
/* Bytes read at open for the header checks: the largest npy preamble and header. */
#define VS_READER_HEAD_BYTES ((size_t)12 + VS_IO_NPY_MAX_HEADER)

struct vs_reader {
    vs_reader_info info;
    const unsigned char *mem;  /* memory reader: the caller's bytes; NULL for a file */
    int fd;                    /* file reader: the open file; -1 for memory */
    const unsigned char *head; /* the first head_size bytes (files: head_copy) */
    unsigned char *head_copy;
    size_t head_size;
    uint64_t size;         /* bytes at open */
    struct timespec mtime; /* file reader: modification time at open */
    unsigned flags;
    uint64_t record_bytes; /* .*vecs: 4 + dim x elem; others: dim x elem */
    int vecs;              /* 1 for .fvecs/.bvecs/.ivecs */
    int fortran;           /* 1 for a column-major npy of more than one row and column */
    unsigned char *staging;
    size_t staging_size;
    uint64_t panel_start, panel_rows; /* Fortran, file: rows held in staging, column-major */
    char *name;
    char err[VS_IO_ERROR_SIZE];
};

/* ---- small helpers ----------------------------------------------------------- */

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

/* ---- reading bytes: pread with change checks, or memcpy ------------------------------ */

static int same_time(struct timespec a, struct timespec b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Describes how the file differs from what was opened (st: its state now). */
static int changed_error(vs_reader *r, const struct stat *st) {
    uint64_t now = (uint64_t)st->st_size;
    if (now < r->size) {
        vs__io_msg(r->err, sizeof(r->err),
                   "%s: file shrank from %llu to %llu bytes while being read", r->name,
                   (unsigned long long)r->size, (unsigned long long)now);
    } else if (now > r->size) {
        vs__io_msg(r->err, sizeof(r->err), "%s: file grew from %llu to %llu bytes while being read",
                   r->name, (unsigned long long)r->size, (unsigned long long)now);
    } else {
        vs__io_msg(r->err, sizeof(r->err),
                   "%s: file was rewritten while being read (same size, %llu bytes, but a new "
                   "modification time)",
                   r->name, (unsigned long long)now);
    }
    return VS_ERR_IO;
}

/* 0 if the file still has the size and modification time it had at open. */
static int check_unchanged(vs_reader *r) {
    if (r->mem != NULL) return 0;
    struct stat st;
    if (fstat(r->fd, &st) != 0) {
        return vs__fail_msg(r->err, sizeof(r->err), VS_ERR_IO, "%s: cannot stat: %s", r->name,
                            strerror(errno));
    }
    if ((uint64_t)st.st_size != r->size || !same_time(st.st_mtim, r->mtime))
        return changed_error(r, &st);
    return 0;
}

/*
 * Copies the n bytes at offset (offset + n <= r->size) into out. A read that
 * ends early means the file shrank since open: that is an error naming the
 * file and its sizes, never a short copy.
 */
static int fetch(vs_reader *r, uint64_t offset, size_t n, void *out) {
    if (n == 0) return 0;
    if (r->mem != NULL) {
        memcpy(out, r->mem + offset, n);
        return 0;
    }
    unsigned char *dst = out;
    size_t done = 0;
    while (done < n) {
        ssize_t got = pread(r->fd, dst + done, n - done, (off_t)(offset + done));
        if (got > 0) {
            done += (size_t)got;
        } else if (got < 0 && errno == EINTR) {
            continue;
        } else if (got < 0) {
            return vs__fail_msg(r->err, sizeof(r->err), VS_ERR_IO,
                                "%s: read failed at byte %llu: %s", r->name,
                                (unsigned long long)(offset + done), strerror(errno));
        } else { /* end of file inside a range that existed at open */
            struct stat st;
            if (fstat(r->fd, &st) == 0 && (uint64_t)st.st_size != r->size)
                return changed_error(r, &st);
            return vs__fail_msg(
                r->err, sizeof(r->err), VS_ERR_IO,
                "%s: file shrank while being read (it had %llu bytes at open; a read at "
                "byte %llu found its end)",
                r->name, (unsigned long long)r->size, (unsigned long long)(offset + done));
        }
    }
    return 0;
}

/*
 * A view of the n bytes at offset: in place for a memory reader, else read
 * into dst (n bytes). NULL on failure (r->err says why).
 */
static const unsigned char *load(vs_reader *r, uint64_t offset, size_t n, unsigned char *dst) {
    if (r->mem != NULL) return r->mem + offset;
    return fetch(r, offset, n, dst) == 0 ? dst : NULL;
}

/* The little-endian uint32 at offset (offset + 4 <= r->size). */
static int peek_u32(vs_reader *r, uint64_t offset, uint32_t *out) {
    if (offset + 4 <= r->head_size) {
        *out = load_u32(r->head + offset);
        return 0;
    }
    unsigned char bytes[4];
    int rc = fetch(r, offset, 4, bytes);
    if (rc == 0) *out = load_u32(bytes);
    return rc;
}

/* The staging buffer, allocated on first use. */
static int staging(vs_reader *r) {
    if (r->staging != NULL) return 0;
    size_t size = VS_READER_STAGING_BYTES;
    if (r->record_bytes > size) size = (size_t)r->record_bytes;
    r->staging = malloc(size);
    if (r->staging == NULL) {
        return vs__fail_msg(r->err, sizeof(r->err), VS_ERR_OUT_OF_MEMORY,
                            "%s: out of memory for a %zu-byte read buffer", r->name, size);
    }
    r->staging_size = size;
    return 0;
}

/* ---- per-format checks ------------------------------------------------------------ */

/*
 * Each check decides whether the r->size bytes of r (r->head holds the first
 * r->head_size of them, at least min(size, VS_READER_HEAD_BYTES)) are a valid
 * file of one format. On success it fills *out and returns 0; otherwise
 * VS_ERR_FORMAT and a reason (without the file name) in why, or VS_ERR_IO
 * (the file could not be read; r->err says why).
 */
typedef struct parse_out {
    vs_reader_info info;
    uint64_t record_bytes;
    int vecs;
    int fortran;
} parse_out;

static int check_vecs(vs_reader *r, vs_file_format format, vs_dtype dtype, int sniffing,
                      parse_out *out, char *why, size_t why_size) {
    const char *ext = vs_file_format_name(format);
    size_t elem = vs_dtype_size(dtype);
    uint64_t size = r->size;
    if (size < 4) {
        return vs__fail_msg(
            why, why_size, VS_ERR_FORMAT,
            "truncated: %llu bytes, but a .%s record starts with a 4-byte dimension",
            (unsigned long long)size, ext);
    }
    int32_t dim;
    uint32_t raw = load_u32(r->head);
    memcpy(&dim, &raw, sizeof(dim));
    if (dim <= 0 || (uint32_t)dim > VS_IO_MAX_DIM) {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT,
                            "record 0 (byte 0): dimension %ld; expected 1..%u", (long)dim,
                            VS_IO_MAX_DIM);
    }
    uint64_t record = 4 + (uint64_t)dim * elem; /* dim <= 2^20: no overflow */
    if (size < record) {
        return vs__fail_msg(
            why, why_size, VS_ERR_FORMAT,
            "truncated: record 0 (dimension %ld) needs %llu bytes, the file has %llu", (long)dim,
            (unsigned long long)record, (unsigned long long)size);
    }
    uint64_t rows = size / record;
    if (size % record != 0) {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT,
                            "trailing partial record %llu at byte %llu: %llu bytes, expected %llu "
                            "(4 + %ld x %zu)",
                            (unsigned long long)rows, (unsigned long long)(rows * record),
                            (unsigned long long)(size % record), (unsigned long long)record,
                            (long)dim, elem);
    }
    /* The first records and the last one (VS_READ_VALIDATE_ALL checks the
     * rest after the format is settled). */
    uint64_t check_first = sniffing ? 16 : 2;
    for (uint64_t i = 0; i <= check_first && i < rows; i++) {
        uint64_t row = i < check_first ? i : rows - 1;
        uint32_t d;
        int rc = peek_u32(r, row * record, &d);
        if (rc != 0) return rc;
        if (d != (uint32_t)dim) {
            int32_t signed_d;
            memcpy(&signed_d, &d, sizeof(signed_d));
            return vs__fail_msg(
                why, why_size, VS_ERR_FORMAT,
                "record %llu (byte %llu): dimension %ld differs from the first record's "
                "%ld",
                (unsigned long long)row, (unsigned long long)(row * record), (long)signed_d,
                (long)dim);
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

static int check_bin(vs_reader *r, vs_file_format format, vs_dtype dtype, parse_out *out, char *why,
                     size_t why_size) {
    const char *ext = vs_file_format_name(format);
    uint64_t size = r->size;
    if (size < 8) {
        return vs__fail_msg(
            why, why_size, VS_ERR_FORMAT,
            "truncated header: %llu bytes, expected 8 (uint32 count, uint32 dimension) for "
            ".%s",
            (unsigned long long)size, ext);
    }
    uint32_t rows = load_u32(r->head), dim = load_u32(r->head + 4);
    if (dim == 0 || dim > VS_IO_MAX_DIM) {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT, "dimension %lu at byte 4; expected 1..%u",
                            (unsigned long)dim, VS_IO_MAX_DIM);
    }
    uint64_t bytes, need;
    if (!vs__mul_u64((uint64_t)rows * dim, vs_dtype_size(dtype), &bytes) ||
        !vs__add_u64(bytes, 8, &need)) {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT,
                            "count %lu x dimension %lu overflows 64 bits", (unsigned long)rows,
                            (unsigned long)dim);
    }
    /* big-ann ground truth (.ibin): the ids, then as many float32 distances. */
    uint64_t truth = 0;
    int is_truth = format == VS_FORMAT_IBIN && vs__add_u64(need, bytes, &truth) && truth == size;
    if (need != size && !is_truth) {
        char also[160] = "";
        if (format == VS_FORMAT_IBIN && truth != 0)
            snprintf(also, sizeof(also),
                     "; nor 8 + %lu x %lu x 8 = %llu bytes (ids then float32 distances, as in "
                     "big-ann ground truth)",
                     (unsigned long)rows, (unsigned long)dim, (unsigned long long)truth);
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT,
                            "size %llu is not 8 + %lu x %lu x %zu = %llu bytes (%s at byte %llu)%s",
                            (unsigned long long)size, (unsigned long)rows, (unsigned long)dim,
                            vs_dtype_size(dtype), (unsigned long long)need,
                            need > size ? "truncated: data ends early"
                                        : "trailing bytes after the data end",
                            (unsigned long long)(need > size ? size : need), also);
    }
    if (rows == 0) {
        return vs__fail_msg(why, why_size, VS_ERR_FORMAT,
                            "count 0 at byte 0: the file holds no vectors");
    }
    memset(out, 0, sizeof(*out));
    out->info.format = format;
    out->info.dtype = dtype;
    out->info.rows = rows;
    out->info.dim = dim;
    out->info.data_offset = 8;
    out->info.file_bytes = size;
    out->info.distances_offset = is_truth ? need : 0;
    out->record_bytes = (uint64_t)dim * vs_dtype_size(dtype);
    return 0;
}

/* The npy header (io/npy.c), as the reader's parse result. */
static int check_npy(vs_reader *r, parse_out *out, char *why, size_t why_size) {
    vs__npy_header h;
    int status = vs__npy_parse(r->head, r->size, &h, why, why_size);
    if (status != 0) return status;
    memset(out, 0, sizeof(*out));
    out->info.format = VS_FORMAT_NPY;
    out->info.dtype = h.dtype;
    out->info.rows = h.rows;
    out->info.dim = h.dim;
    out->info.data_offset = h.data_offset;
    out->info.file_bytes = r->size;
    out->info.npy_version = h.version;
    out->info.fortran_order = h.fortran_order;
    out->fortran = h.column_major;
    out->record_bytes = h.dim * vs_dtype_size(h.dtype);
    return 0;
}

static int check_format(vs_reader *r, vs_file_format format, int sniffing, parse_out *out,
                        char *why, size_t why_size) {
    switch (format) {
    case VS_FORMAT_FVECS: return check_vecs(r, format, VS_DTYPE_F32, sniffing, out, why, why_size);
    case VS_FORMAT_BVECS: return check_vecs(r, format, VS_DTYPE_U8, sniffing, out, why, why_size);
    case VS_FORMAT_IVECS: return check_vecs(r, format, VS_DTYPE_I32, sniffing, out, why, why_size);
    case VS_FORMAT_FBIN: return check_bin(r, format, VS_DTYPE_F32, out, why, why_size);
    case VS_FORMAT_U8BIN: return check_bin(r, format, VS_DTYPE_U8, out, why, why_size);
    case VS_FORMAT_IBIN: return check_bin(r, format, VS_DTYPE_I32, out, why, why_size);
    case VS_FORMAT_NPY: return check_npy(r, out, why, why_size);
    case VS_FORMAT_UNKNOWN: break;
    }
    return vs__fail_msg(why, why_size, VS_ERR_INVALID_ARGUMENT, "unknown format");
}

/* Formats tried when content decides. fvecs/ivecs and fbin/ibin have the same
 * layouts and are told apart only by the extension; .ibin comes last because
 * only its ground-truth layout (ids then distances) is not already a .fbin. */
static const vs_file_format sniff_order[] = {VS_FORMAT_NPY,  VS_FORMAT_FVECS, VS_FORMAT_BVECS,
                                             VS_FORMAT_FBIN, VS_FORMAT_U8BIN, VS_FORMAT_IBIN};

static int same_layout(vs_file_format a, vs_file_format b) {
    if (a == b) return 1;
    if ((a == VS_FORMAT_FVECS && b == VS_FORMAT_IVECS) ||
        (a == VS_FORMAT_IVECS && b == VS_FORMAT_FVECS))
        return 1;
    return 0;
}

static int parse(vs_reader *r, vs_file_format format, parse_out *out) {
    const char *name = r->name;
    if (r->size == 0) {
        return vs__fail_msg(r->err, sizeof(r->err), VS_ERR_FORMAT, "%s: empty file (0 bytes)",
                            name);
    }
    char why[VS_IO_ERROR_SIZE];
    vs_file_format want = format != VS_FORMAT_UNKNOWN ? format : vs_file_format_from_path(name);
    if (want != VS_FORMAT_UNKNOWN) {
        int rc = check_format(r, want, 0, out, why, sizeof(why));
        if (rc != VS_ERR_FORMAT) return rc; /* 0, or an I/O error with r->err set */
        for (size_t i = 0; i < sizeof(sniff_order) / sizeof(sniff_order[0]); i++) {
            vs_file_format other = sniff_order[i];
            if (same_layout(other, want)) continue;
            parse_out found;
            char ignored_why[8];
            int other_rc = check_format(r, other, 1, &found, ignored_why, sizeof(ignored_why));
            if (other_rc == VS_ERR_IO) return other_rc;
            if (other_rc == 0) {
                return vs__fail_msg(
                    r->err, sizeof(r->err), VS_ERR_FORMAT, "%s: looks like .%s%s, not .%s (%s)",
                    name, vs_file_format_name(other),
                    found.info.distances_offset ? " (ids then distances: big-ann ground "
                                                  "truth)"
                                                : "",
                    vs_file_format_name(want), why);
            }
        }
        return vs__fail_msg(r->err, sizeof(r->err), rc, "%s: not a valid .%s file: %s", name,
                            vs_file_format_name(want), why);
    }
    for (size_t i = 0; i < sizeof(sniff_order) / sizeof(sniff_order[0]); i++) {
        int rc = check_format(r, sniff_order[i], 1, out, why, sizeof(why));
        if (rc != VS_ERR_FORMAT) return rc;
    }
    return vs__fail_msg(
        r->err, sizeof(r->err), VS_ERR_FORMAT,
        "%s: unknown format: the extension is not one of .fvecs .bvecs .ivecs .fbin "
        ".u8bin .ibin .npy and the content matches none of them",
        name);
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
    r->fd = -1;
    r->flags = flags;
    return r;
}

static int check_dims(vs_reader *r, uint64_t start, uint64_t count);

static int reader_finish(vs_reader *r, vs_file_format format, vs_reader **out, char *err,
                         size_t err_size) {
    parse_out parsed;
    int rc = parse(r, format, &parsed);
    if (rc == 0) {
        r->info = parsed.info;
        r->record_bytes = parsed.record_bytes;
        r->vecs = parsed.vecs;
        r->fortran = parsed.fortran;
        if (r->vecs && (r->flags & VS_READ_VALIDATE_ALL)) rc = check_dims(r, 0, r->info.rows);
    }
    if (rc == 0) rc = check_unchanged(r); /* the header was read from the file opened */
    if (rc != 0) {
        vs__io_msg(err, err_size, "%s", r->err);
        vs_reader_close(r);
        return rc;
    }
    /* The header copy is not needed any more. */
    free(r->head_copy);
    r->head_copy = NULL;
    r->head = r->mem;
    r->head_size = r->mem != NULL ? (size_t)r->size : 0;
    r->err[0] = '\0';
    *out = r;
    return 0;
}

static const char *file_type(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (pipe)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

int vs_reader_open(const char *path, vs_file_format format, unsigned flags, vs_reader **out,
                   char *err, size_t err_size) {
    if (out != NULL) *out = NULL;
    if (path == NULL || out == NULL) {
        return vs__fail_msg(err, err_size, VS_ERR_INVALID_ARGUMENT,
                            "vs_reader_open: path and out must not be NULL");
    }
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return vs__fail_msg(err, err_size, VS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        vs__io_msg(err, err_size, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return VS_ERR_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        vs__io_msg(err, err_size, "%s: not a regular file (it is %s)", path, file_type(st.st_mode));
        close(fd);
        return VS_ERR_IO;
    }
    vs_reader *r = reader_new(path, flags);
    if (r == NULL) {
        close(fd);
        return vs__fail_msg(err, err_size, VS_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    r->fd = fd;
    r->size = (uint64_t)st.st_size;
    r->mtime = st.st_mtim;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    size_t head = r->size < VS_READER_HEAD_BYTES ? (size_t)r->size : VS_READER_HEAD_BYTES;
    if (head > 0) {
        r->head_copy = malloc(head);
        if (r->head_copy == NULL) {
            vs__io_msg(err, err_size, "%s: out of memory", path);
            vs_reader_close(r);
            return VS_ERR_OUT_OF_MEMORY;
        }
        int rc = fetch(r, 0, head, r->head_copy);
        if (rc != 0) {
            vs__io_msg(err, err_size, "%s", r->err);
            vs_reader_close(r);
            return rc;
        }
    }
    r->head = r->head_copy;
    r->head_size = head;
    return reader_finish(r, format, out, err, err_size);
}

int vs_reader_open_memory(const void *data, size_t size, const char *name, vs_file_format format,
                          unsigned flags, vs_reader **out, char *err, size_t err_size) {
    if (out != NULL) *out = NULL;
    if (out == NULL || (data == NULL && size > 0)) {
        return vs__fail_msg(err, err_size, VS_ERR_INVALID_ARGUMENT,
                            "vs_reader_open_memory: out and data must not be NULL");
    }
    vs_reader *r = reader_new(name, flags);
    if (r == NULL) {
        return vs__fail_msg(err, err_size, VS_ERR_OUT_OF_MEMORY, "out of memory");
    }
    static const unsigned char nothing[1] = {0};
    r->mem = size > 0 ? data : nothing;
    r->size = size;
    r->head = r->mem;
    r->head_size = size;
    return reader_finish(r, format, out, err, err_size);
}

void vs_reader_close(vs_reader *r) {
    if (r == NULL) return;
    if (r->fd >= 0) close(r->fd);
    free(r->head_copy);
    free(r->staging);
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
        return vs__fail_msg(r->err, sizeof(r->err), VS_ERR_INVALID_ARGUMENT, "%s: %s: out is NULL",
                            r->name, fn);
    }
    if (start > r->info.rows || count > r->info.rows - start) {
        return vs__fail_msg(r->err, sizeof(r->err), VS_ERR_INVALID_ARGUMENT,
                            "%s: %s: rows [%llu, %llu + %llu) outside 0..%llu", r->name, fn,
                            (unsigned long long)start, (unsigned long long)start,
                            (unsigned long long)count, (unsigned long long)r->info.rows);
    }
    return 0;
}

/* Byte offset of row's record (.*vecs: its dimension field) or first element. */
static uint64_t record_offset(const vs_reader *r, uint64_t row) {
    return r->vecs ? row * r->record_bytes : r->info.data_offset + row * r->record_bytes;
}

static int dim_error(vs_reader *r, uint64_t row, uint32_t d) {
    int32_t signed_d;
    memcpy(&signed_d, &d, sizeof(signed_d));
    return vs__fail_msg(
        r->err, sizeof(r->err), VS_ERR_FORMAT,
        "%s: record %llu (byte %llu): dimension %ld differs from the first record's %llu", r->name,
        (unsigned long long)row, (unsigned long long)(row * r->record_bytes), (long)signed_d,
        (unsigned long long)r->info.dim);
}

/* Checks the dimension field of records [start, start + count) (.*vecs). */
static int check_dims(vs_reader *r, uint64_t start, uint64_t count) {
    if (!r->vecs || count == 0) return 0;
    if (r->mem == NULL && r->record_bytes >= 4096) { /* one small read per record */
        for (uint64_t row = start; row < start + count; row++) {
            uint32_t d;
            int rc = peek_u32(r, row * r->record_bytes, &d);
            if (rc != 0) return rc;
            if (d != r->info.dim) return dim_error(r, row, d);
        }
        return 0;
    }
    int rc = r->mem != NULL ? 0 : staging(r);
    if (rc != 0) return rc;
    uint64_t per = r->mem != NULL ? count : r->staging_size / r->record_bytes;
    for (uint64_t done = 0; done < count;) {
        uint64_t n = count - done < per ? count - done : per;
        const unsigned char *records =
            load(r, (start + done) * r->record_bytes, (size_t)(n * r->record_bytes), r->staging);
        if (records == NULL) return VS_ERR_IO;
        for (uint64_t i = 0; i < n; i++) {
            uint32_t d = load_u32(records + i * r->record_bytes);
            if (d != r->info.dim) return dim_error(r, start + done + i, d);
        }
        done += n;
    }
    return 0;
}

/*
 * Converts n elements of dtype (element i at src + i x stride bytes) to
 * float32 at out[i x out_stride]. Returns n, or the index of the first
 * integer that float32 cannot hold exactly (out is then incomplete).
 */
static uint64_t convert_f32(const unsigned char *src, size_t stride, vs_dtype dtype, uint64_t n,
                            float *out, size_t out_stride) {
    switch (dtype) {
    case VS_DTYPE_F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (stride == 4 && out_stride == 1) {
            memcpy(out, src, n * sizeof(float));
            break;
        }
#endif
        for (uint64_t i = 0; i < n; i++) {
            uint32_t bits = load_u32(src + i * stride);
            memcpy(&out[i * out_stride], &bits, sizeof(float));
        }
        break;
    case VS_DTYPE_F16:
        for (uint64_t i = 0; i < n; i++)
            out[i * out_stride] = vs__f16_to_f32(load_u16(src + i * stride));
        break;
    case VS_DTYPE_F64:
        for (uint64_t i = 0; i < n; i++) {
            uint64_t bits = load_u64(src + i * stride);
            double d;
            memcpy(&d, &bits, sizeof(d));
            out[i * out_stride] = (float)d;
        }
        break;
    case VS_DTYPE_U8:
        for (uint64_t i = 0; i < n; i++)
            out[i * out_stride] = (float)src[i * stride];
        break;
    case VS_DTYPE_I8:
        for (uint64_t i = 0; i < n; i++)
            out[i * out_stride] = (float)(int8_t)src[i * stride];
        break;
    case VS_DTYPE_I32:
        for (uint64_t i = 0; i < n; i++) {
            int32_t v = (int32_t)load_u32(src + i * stride);
            float f = (float)v;
            if ((int64_t)f != (int64_t)v) return i; /* |f| <= 2^31: the cast is defined */
            out[i * out_stride] = f;
        }
        break;
    case VS_DTYPE_I64:
        for (uint64_t i = 0; i < n; i++) {
            int64_t v = (int64_t)load_u64(src + i * stride);
            float f = (float)v;
            /* 2^63 does not fit int64: only INT64_MAX and its neighbours round there */
            if (f >= 0x1p63f || (int64_t)f != v) return i;
            out[i * out_stride] = f;
        }
        break;
    }
    return n;
}

/* Converts n integer elements to int64 at out[i x out_stride]. */
static void convert_i64(const unsigned char *src, size_t stride, vs_dtype dtype, uint64_t n,
                        int64_t *out, size_t out_stride) {
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *at = src + i * stride;
        int64_t v = 0;
        switch (dtype) {
        case VS_DTYPE_U8: v = at[0]; break;
        case VS_DTYPE_I8: v = (int8_t)at[0]; break;
        case VS_DTYPE_I32: v = (int32_t)load_u32(at); break;
        case VS_DTYPE_I64: v = (int64_t)load_u64(at); break;
        default: break; /* float types are refused before */
        }
        out[i * out_stride] = v;
    }
}

static int inexact_error(vs_reader *r, uint64_t row, uint64_t column, const unsigned char *at) {
    int64_t v =
        r->info.dtype == VS_DTYPE_I32 ? (int64_t)(int32_t)load_u32(at) : (int64_t)load_u64(at);
    return vs__fail_msg(
        r->err, sizeof(r->err), VS_ERR_FORMAT,
        "%s: row %llu, column %llu: the %s value %lld does not convert exactly to float32 "
        "(it would become %.9g); integer vectors are read only when every value is exact "
        "in float32 (every integer of magnitude up to 2^24 is)",
        r->name, (unsigned long long)row, (unsigned long long)column,
        vs__dtype_words(r->info.dtype), (long long)v, (double)(float)v);
}

/* to_i64 of the readers below: 0 float32, 1 int64, READ_HALF_BITS float16 bits. */
#define READ_HALF_BITS 2

/*
 * Converts elements to out (float32 or int64, per to_i64): n_rows rows of
 * dim elements; element (i, j) at src + i x row_stride + j x column_stride
 * bytes goes to out[(first + i) x dim + j]. rows_done is the reader row of
 * src's row 0, for messages. Returns 0 or VS_ERR_FORMAT (an inexact integer,
 * the first one in row order).
 */
static int convert_block(vs_reader *r, const unsigned char *src, size_t row_stride,
                         size_t column_stride, uint64_t n_rows, void *out, uint64_t first,
                         uint64_t row0, int to_i64) {
    vs_dtype dtype = r->info.dtype;
    uint64_t dim = r->info.dim;
    int row_major = row_stride >= column_stride;
    /* Rows outer when rows are contiguous; columns outer for a column-major panel. */
    uint64_t outer = row_major ? n_rows : dim, inner = row_major ? dim : n_rows;
    size_t outer_stride = row_major ? row_stride : column_stride;
    size_t inner_stride = row_major ? column_stride : row_stride;
    size_t out_outer = row_major ? (size_t)dim : 1, out_inner = row_major ? 1 : (size_t)dim;
    uint64_t bad_row = UINT64_MAX, bad_column = 0;
    for (uint64_t o = 0; o < outer; o++) {
        const unsigned char *line = src + o * outer_stride;
        size_t at = (size_t)(first * dim + o * out_outer);
        if (to_i64 == READ_HALF_BITS) { /* float16 bits, unconverted */
            for (uint64_t i = 0; i < inner; i++)
                ((uint16_t *)out)[at + i * out_inner] = load_u16(line + i * inner_stride);
            continue;
        }
        if (to_i64) {
            convert_i64(line, inner_stride, dtype, inner, (int64_t *)out + at, out_inner);
            continue;
        }
        /* A contiguous run of rows converts in one call. */
        if (row_major && column_stride * dim == row_stride && o == 0) {
            uint64_t got =
                convert_f32(line, column_stride, dtype, n_rows * dim, (float *)out + at, 1);
            if (got < n_rows * dim) {
                bad_row = got / dim;
                bad_column = got % dim;
            }
            break;
        }
        uint64_t got = convert_f32(line, inner_stride, dtype, inner, (float *)out + at, out_inner);
        if (got < inner) {
            uint64_t row = row_major ? o : got, column = row_major ? got : o;
            if (row < bad_row) { /* columns come in order: an equal row keeps the first */
                bad_row = row;
                bad_column = column;
            }
            if (row_major) break;
        }
    }
    if (bad_row == UINT64_MAX) return 0;
    return inexact_error(r, row0 + bad_row, bad_column,
                         src + bad_row * row_stride + bad_column * column_stride);
}

/*
 * convert_block for n_rows rows stored column-major (element (i, j) at src +
 * i x elem + j x column_stride), a block of rows at a time so that the rows
 * being written stay in cache. Blocks go in row order, so the first inexact
 * value named is still the first in row order.
 */
static int convert_columns(vs_reader *r, const unsigned char *src, size_t column_stride,
                           uint64_t n_rows, void *out, uint64_t first, uint64_t row0, int to_i64) {
    size_t elem = vs_dtype_size(r->info.dtype);
    enum { BLOCK_ROWS = 64 };
    for (uint64_t b = 0; b < n_rows; b += BLOCK_ROWS) {
        uint64_t n = n_rows - b < BLOCK_ROWS ? n_rows - b : BLOCK_ROWS;
        int rc = convert_block(r, src + b * elem, elem, column_stride, n, out, first + b, row0 + b,
                               to_i64);
        if (rc != 0) return rc;
    }
    return 0;
}

/* Rows [start, start + count) of a column-major npy, through panels of rows. */
static int read_fortran(vs_reader *r, uint64_t start, uint64_t count, void *out, int to_i64) {
    uint64_t rows = r->info.rows, dim = r->info.dim;
    size_t elem = vs_dtype_size(r->info.dtype);
    if (r->mem != NULL) { /* strided straight from memory */
        const unsigned char *base = r->mem + r->info.data_offset + start * elem;
        return convert_columns(r, base, (size_t)(rows * elem), count, out, 0, start, to_i64);
    }
    int rc = staging(r);
    if (rc != 0) return rc;
    uint64_t panel_max = r->staging_size / (dim * elem);
    if (panel_max == 0) panel_max = 1; /* staging holds at least one row (record_bytes) */
    for (uint64_t done = 0; done < count;) {
        uint64_t row = start + done;
        if (r->panel_rows == 0 || row < r->panel_start || row >= r->panel_start + r->panel_rows) {
            uint64_t n = rows - row < panel_max ? rows - row : panel_max;
            r->panel_rows = 0;
            for (uint64_t j = 0; j < dim; j++) {
                rc = fetch(r, r->info.data_offset + (j * rows + row) * elem, (size_t)(n * elem),
                           r->staging + j * n * elem);
                if (rc != 0) return rc;
            }
            r->panel_start = row;
            r->panel_rows = n;
        }
        uint64_t offset = row - r->panel_start;
        uint64_t n = r->panel_start + r->panel_rows - row;
        if (n > count - done) n = count - done;
        rc = convert_columns(r, r->staging + offset * elem, (size_t)(r->panel_rows * elem), n, out,
                             done, row, to_i64);
        if (rc != 0) return rc;
        done += n;
    }
    return 0;
}

/* Rows [start, start + count) of any layout into out (float32 or int64). */
static int read_rows(vs_reader *r, uint64_t start, uint64_t count, void *out, int to_i64) {
    if (count == 0) return 0;
    int rc = check_unchanged(r);
    if (rc != 0) return rc;
    if (r->fortran) {
        rc = read_fortran(r, start, count, out, to_i64);
        return rc != 0 ? rc : check_unchanged(r);
    }
    size_t elem = vs_dtype_size(r->info.dtype);
    uint64_t dim = r->info.dim;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (!to_i64 && !r->vecs && r->info.dtype == VS_DTYPE_F32) { /* no conversion: read in place */
        rc = fetch(r, record_offset(r, start), (size_t)(count * r->record_bytes), out);
        return rc != 0 ? rc : check_unchanged(r);
    }
#endif
    if (r->mem == NULL && (rc = staging(r)) != 0) return rc;
    uint64_t per = r->mem != NULL ? count : r->staging_size / r->record_bytes;
    size_t skip = r->vecs ? 4 : 0; /* the dimension field of a record */
    for (uint64_t done = 0; done < count;) {
        uint64_t n = count - done < per ? count - done : per;
        const unsigned char *records =
            load(r, record_offset(r, start + done), (size_t)(n * r->record_bytes), r->staging);
        if (records == NULL) return VS_ERR_IO;
        for (uint64_t i = 0; r->vecs && i < n; i++) {
            uint32_t d = load_u32(records + i * r->record_bytes);
            if (d != dim) return dim_error(r, start + done + i, d);
        }
        rc = convert_block(r, records + skip, (size_t)r->record_bytes, elem, n, out, done,
                           start + done, to_i64);
        if (rc != 0) return rc;
        done += n;
    }
    return check_unchanged(r);
}

int vs_reader_read_f32(vs_reader *r, uint64_t start, uint64_t count, float *out) {
    if (r == NULL) return VS_ERR_INVALID_ARGUMENT;
    int rc = check_range(r, start, count, out, "vs_reader_read_f32");
    if (rc == 0) rc = read_rows(r, start, count, out, 0);
    if (rc != 0) return rc;
    uint64_t dim = r->info.dim;
    if (r->flags & VS_READ_REJECT_NONFINITE) {
        for (uint64_t i = 0; i < count * dim; i++) {
            if (!isfinite(out[i])) {
                return vs__fail_msg(
                    r->err, sizeof(r->err), VS_ERR_FORMAT,
                    "%s: row %llu, element %llu is %s; non-finite values are rejected", r->name,
                    (unsigned long long)(start + i / dim), (unsigned long long)(i % dim),
                    isnan(out[i]) ? "NaN" : "infinite");
            }
        }
    }
    return 0;
}

int vs_reader_read_i64(vs_reader *r, uint64_t start, uint64_t count, int64_t *out) {
    if (r == NULL) return VS_ERR_INVALID_ARGUMENT;
    int rc = check_range(r, start, count, out, "vs_reader_read_i64");
    if (rc != 0) return rc;
    vs_dtype dtype = r->info.dtype;
    if (dtype == VS_DTYPE_F32 || dtype == VS_DTYPE_F16 || dtype == VS_DTYPE_F64) {
        return vs__fail_msg(
            r->err, sizeof(r->err), VS_ERR_FORMAT,
            "%s: holds %s values; expected integer ids (.ivecs, .ibin or an integer .npy)", r->name,
            vs__dtype_words(dtype));
    }
    return read_rows(r, start, count, out, 1);
}

int vs_reader_read_f16(vs_reader *r, uint64_t start, uint64_t count, uint16_t *out) {
    if (r == NULL) return VS_ERR_INVALID_ARGUMENT;
    int rc = check_range(r, start, count, out, "vs_reader_read_f16");
    if (rc != 0) return rc;
    if (r->info.dtype != VS_DTYPE_F16)
        return vs__fail_msg(r->err, sizeof(r->err), VS_ERR_FORMAT,
                            "%s: holds %s values; vs_reader_read_f16 reads float16 ('<f2') files "
                            "only (vs_reader_read_f32 converts the others)",
                            r->name, vs__dtype_words(r->info.dtype));
    rc = read_rows(r, start, count, out, READ_HALF_BITS);
    if (rc != 0 || !(r->flags & VS_READ_REJECT_NONFINITE)) return rc;
    const uint64_t dim = r->info.dim;
    for (uint64_t i = 0; i < count * dim; i++)
        if ((out[i] & 0x7c00) == 0x7c00)
            return vs__fail_msg(r->err, sizeof(r->err), VS_ERR_FORMAT,
                                "%s: row %llu, element %llu is %s; non-finite values are rejected",
                                r->name, (unsigned long long)(start + i / dim),
                                (unsigned long long)(i % dim),
                                (out[i] & 0x3ff) ? "NaN" : "infinite");
    return 0;
}

int vs_reader_validate(vs_reader *r) {
    if (r == NULL) return VS_ERR_INVALID_ARGUMENT;
    r->err[0] = '\0';
    int rc = check_unchanged(r);
    if (rc == 0) rc = check_dims(r, 0, r->info.rows);
    return rc;
}
