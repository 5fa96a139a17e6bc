/*
 * writer.c — output files and vector file writers.
 *
 * An output is replaced or written through (the rules are in vecscore_io.h):
 *
 *   replaced   the last component's symbolic links are followed; data goes to
 *              DIR/.vs.tmp-XXXXXX (created O_EXCL with 0666 & ~umask, then
 *              given the existing target's mode and owner); finish = fflush,
 *              fsync and close; commit = rename over the target. A set is
 *              committed by finishing every file, checking every target, and
 *              only then renaming them in order.
 *   through    FIFOs, character devices and the process's own descriptors
 *              (/dev/stdout, /dev/fd/N): the stream writes to them directly.
 *
 * Headers that hold the row count (.fbin, .npy) are written at the first
 * write, with the declared count (vs_writer_expect_rows) or a placeholder
 * that finish rewrites. The .npy header is reserved at a fixed 128 bytes
 * (version 1.0), which fits any 64-bit shape.
 */
#include "../base/log.h"
#include "io_internal.h"

#include "../base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_HEADER_BYTES 128
#define TEMP_PREFIX ".vs.tmp-"
#define MAX_LINKS 40

/* OPEN: being written; FINISHED: flushed, synced, closed (only the rename is
 * left); FAILED: finish failed and removed the temporary file; RENAMED: in place. */
enum outfile_state { OUTFILE_OPEN, OUTFILE_FINISHED, OUTFILE_FAILED, OUTFILE_RENAMED };

struct vs_outfile {
    FILE *stream;
    char *path;   /* as given, for messages */
    char *target; /* what a commit replaces: path with its symbolic links followed */
    char *temp;   /* NULL when written through; never reallocated (signal handlers) */
    int through;  /* written through: no temporary file, nothing to rename */
    enum outfile_state state;
    char err[VS_IO_ERROR_SIZE]; /* why finish failed */
};

/* The descriptor that a name of the process's own descriptors stands for, or -1. */
static int descriptor_name(const char *path) {
    if (strcmp(path, "/dev/stdin") == 0) return 0;
    if (strcmp(path, "/dev/stdout") == 0) return 1;
    if (strcmp(path, "/dev/stderr") == 0) return 2;
    const char *digits = NULL;
    if (strncmp(path, "/dev/fd/", 8) == 0) digits = path + 8;
    if (strncmp(path, "/proc/self/fd/", 14) == 0) digits = path + 14;
    if (digits == NULL || digits[0] == '\0') return -1;
    long fd = 0;
    for (const char *p = digits; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || fd > INT_MAX / 10 - 1) return -1;
        fd = fd * 10 + (*p - '0');
    }
    return (int)fd;
}

/* Bytes of path up to and including its last '/', 0 if it has none. */
static size_t dir_length(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash != NULL ? (size_t)(slash - path) + 1 : 0;
}

/*
 * Follows the symbolic links of path's last component (at most MAX_LINKS).
 * Returns a malloc'd path whose last component is not a link (it may not
 * exist) with *fd = -1; or NULL with *fd >= 0 when the name or a link lands
 * on a descriptor name; or NULL with *fd = -1 and errno on failure.
 */
static char *follow_links(const char *path, int *fd) {
    if ((*fd = descriptor_name(path)) >= 0) return NULL;
    char *current = strdup(path);
    if (current == NULL) return NULL;
    char link[PATH_MAX];
    for (int hops = 0;; hops++) {
        struct stat st;
        if (lstat(current, &st) != 0 || !S_ISLNK(st.st_mode)) return current;
        ssize_t n = hops < MAX_LINKS ? readlink(current, link, sizeof(link)) : -1;
        if (hops >= MAX_LINKS || (n >= 0 && (size_t)n >= sizeof(link))) {
            errno = hops >= MAX_LINKS ? ELOOP : ENAMETOOLONG;
            n = -1;
        }
        size_t keep = n > 0 && link[0] != '/' ? dir_length(current) : 0;
        char *next = n > 0 ? malloc(keep + (size_t)n + 1) : NULL;
        if (next == NULL) {
            int saved = n > 0 ? ENOMEM : errno;
            free(current);
            errno = saved;
            return NULL;
        }
        memcpy(next, current, keep);
        memcpy(next + keep, link, (size_t)n);
        next[keep + (size_t)n] = '\0';
        free(current);
        current = next;
        if ((*fd = descriptor_name(current)) >= 0) {
            free(current);
            return NULL;
        }
    }
}

/* Gives fd the permission bits, and where the process may, the owner and
 * group of the regular file at target (if there is one). Best effort. */
static void match_target(int fd, const char *target) {
    struct stat st, mine;
    if (stat(target, &st) != 0 || !S_ISREG(st.st_mode) || fstat(fd, &mine) != 0) return;
    if ((mine.st_uid != st.st_uid || mine.st_gid != st.st_gid) &&
        fchown(fd, st.st_uid, st.st_gid) != 0 && fchown(fd, (uid_t)-1, st.st_gid) != 0) {
        /* not permitted: the new file keeps this process's owner */
    }
    if ((mine.st_mode & 0777) != (st.st_mode & 0777) && fchmod(fd, st.st_mode & 0777) != 0) {
        /* cannot happen for a file this process created; nothing to undo */
    }
}

/* Creates DIR/.vs.tmp-XXXXXX next to target (mode 0666 & ~umask) through the
 * atomic writer's temporary files (base/file.c); the descriptor and *temp
 * (malloc'd), or -1 with errno. */
static int create_temp(const char *target, char **temp) {
    size_t dir = dir_length(target);
    const size_t prefix = dir + sizeof(TEMP_PREFIX) - 1;
    char *name = malloc(prefix + VS_TEMP_RANDOM + 1);
    if (name == NULL) return -1;
    memcpy(name, target, dir);
    memcpy(name + dir, TEMP_PREFIX, sizeof(TEMP_PREFIX) - 1);
    int fd = vs__temp_open(AT_FDCWD, name, prefix, 0666);
    if (fd >= 0) {
        *temp = name;
        return fd;
    }
    int saved = errno;
    free(name);
    errno = saved;
    return -1;
}

static void outfile_free(vs_outfile *f) {
    free(f->path);
    free(f->target);
    free(f->temp);
    free(f);
}

static const char *kind_name(mode_t mode) {
    if (S_ISDIR(mode)) return "directory";
    if (S_ISBLK(mode)) return "block device";
    if (S_ISSOCK(mode)) return "socket";
    return "special file";
}

int vs_outfile_writes_through(const char *path) {
    if (path == NULL || path[0] == '\0') return 0;
    int fd;
    char *target = follow_links(path, &fd);
    if (fd >= 0) return 1;
    struct stat st;
    int through =
        target != NULL && stat(target, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode));
    free(target);
    return through;
}

/* Opens path's target for writing through, or creates the temporary file
 * next to it: the descriptor, or -1 with the message in err. */
static int outfile_descriptor(vs_outfile *f, char *err, size_t err_size) {
    int descriptor, fd;
    f->target = follow_links(f->path, &descriptor);
    if (descriptor >= 0) {
        f->through = 1;
        fd = fcntl(descriptor, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            vs__io_msg(err, err_size, "%s: descriptor %d is not open: %s", f->path, descriptor,
                       strerror(errno));
        return fd;
    }
    if (f->target == NULL) {
        return vs__fail_msg(err, err_size, -1, "%s: cannot follow its symbolic links: %s", f->path,
                            strerror(errno));
    }
    struct stat st;
    if (stat(f->target, &st) == 0) {
        if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
            f->through = 1;
            fd = open(f->target, O_WRONLY | O_NOCTTY | O_CLOEXEC);
            if (fd < 0) {
                vs__io_msg(err, err_size, "%s: cannot open for writing: %s", f->path,
                           strerror(errno));
            } else if (fstat(fd, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) {
                vs__io_msg(err, err_size, "%s: was replaced while it was being opened", f->path);
                close(fd);
                fd = -1;
            }
            return fd;
        }
        if (!S_ISREG(st.st_mode)) {
            return vs__fail_msg(err, err_size, -1, "%s: is a %s; expected a file name", f->path,
                                kind_name(st.st_mode));
        }
        if (access(f->target, W_OK) != 0) {
            return vs__fail_msg(err, err_size, -1, "%s: exists and is not writable: %s", f->path,
                                strerror(errno));
        }
    } else if (errno != ENOENT) {
        return vs__fail_msg(err, err_size, -1, "%s: %s", f->path, strerror(errno));
    }
    fd = create_temp(f->target, &f->temp);
    if (fd < 0) {
        size_t dir = dir_length(f->target);
        return vs__fail_msg(err, err_size, -1, "%s: cannot create a temporary file in %.*s: %s",
                            f->path, dir ? (int)dir : 1, dir ? f->target : ".", strerror(errno));
    }
    match_target(fd, f->target);
    return fd;
}

int vs_outfile_open(const char *path, vs_outfile **out, char *err, size_t err_size) {
    if (out != NULL) *out = NULL;
    if (path == NULL || out == NULL || path[0] == '\0') {
        return vs__fail_msg(err, err_size, VS_ERR_INVALID_ARGUMENT,
                            "vs_outfile_open: path and out must not be NULL or empty");
    }
    if (path[strlen(path) - 1] == '/') {
        return vs__fail_msg(err, err_size, VS_ERR_IO,
                            "%s: is a directory name, expected a file name", path);
    }
    vs_outfile *f = calloc(1, sizeof(*f));
    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        return vs__fail_msg(err, err_size, VS_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    int fd = outfile_descriptor(f, err, err_size);
    if (fd >= 0 && (f->stream = fdopen(fd, "wb")) == NULL) {
        vs__io_msg(err, err_size, "%s: fdopen: %s", f->path, strerror(errno));
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        if (f->temp != NULL) unlink(f->temp);
        outfile_free(f);
        return VS_ERR_IO;
    }
    *out = f;
    return 0;
}

FILE *vs_outfile_stream(vs_outfile *f) {
    return f->stream;
}

const char *vs_outfile_temp_path(const vs_outfile *f) {
    return f->temp;
}

int vs_outfile_finish(vs_outfile *f, char *err, size_t err_size) {
    if (f == NULL) {
        return vs__fail_msg(err, err_size, VS_ERR_INVALID_ARGUMENT, "vs_outfile_finish: f is NULL");
    }
    if (f->state != OUTFILE_OPEN) {
        if (f->state == OUTFILE_FAILED) vs__io_msg(err, err_size, "%s", f->err);
        return f->state == OUTFILE_FAILED ? VS_ERR_IO : 0;
    }
    int flushed = fflush(f->stream) == 0;
    int failed = !flushed || ferror(f->stream);
    int saved = flushed ? 0 : errno;
    if (!failed && !f->through) {
        match_target(fileno(f->stream), f->target); /* the target as it is now */
        if (fsync(fileno(f->stream)) != 0 && errno != EINVAL && errno != EROFS) {
            failed = 1;
            saved = errno;
        }
    }
    if (fclose(f->stream) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    f->stream = NULL;
    if (failed) {
        vs__io_msg(f->err, sizeof(f->err), "%s: write failed: %s", f->path,
                   saved ? strerror(saved) : "an earlier write failed");
        vs__io_msg(err, err_size, "%s", f->err);
        if (f->temp != NULL) unlink(f->temp);
        f->state = OUTFILE_FAILED;
        return VS_ERR_IO;
    }
    f->state = OUTFILE_FINISHED;
    return 0;
}

void vs_outfile_abort(vs_outfile *f) {
    if (f == NULL) return;
    if (f->stream != NULL) fclose(f->stream);
    if (f->temp != NULL && (f->state == OUTFILE_OPEN || f->state == OUTFILE_FINISHED))
        unlink(f->temp);
    outfile_free(f);
}

/* printf at *used into buf, never past size. */
static void append(char *buf, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t size, size_t *used, const char *fmt, ...) {
    if (*used >= size) return;
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(buf + *used, size - *used, fmt, args);
    va_end(args);
    if (n > 0) *used = *used + (size_t)n < size ? *used + (size_t)n : size;
}

/* fsync of the directory that holds target, so that a rename survives a crash. */
static void sync_directory(const char *target) {
    size_t dir = dir_length(target);
    char *name = dir ? strndup(target, dir) : strdup(".");
    int fd = name != NULL ? open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        if (fsync(fd) != 0) { /* best effort: some file systems cannot */
        }
        close(fd);
    }
    free(name);
}

int vs_outfile_commit_all(vs_outfile *const *files, size_t count, char *err, size_t err_size) {
    if (files == NULL && count > 0) {
        return vs__fail_msg(err, err_size, VS_ERR_INVALID_ARGUMENT,
                            "vs_outfile_commit_all: files is NULL");
    }
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++)
        if (files[i] != NULL) rc = vs_outfile_finish(files[i], err, err_size);
    for (size_t i = 0; i < count && rc == 0; i++) { /* every target, before any rename */
        const vs_outfile *f = files[i];
        struct stat st;
        if (f == NULL || f->through || lstat(f->target, &st) != 0 || S_ISREG(st.st_mode) ||
            S_ISLNK(st.st_mode))
            continue;
        vs__io_msg(err, err_size, "%s: is now a %s; no output of this run was written", f->path,
                   kind_name(st.st_mode));
        rc = VS_ERR_IO;
    }
    if (rc != 0) {
        for (size_t i = 0; i < count; i++)
            vs_outfile_abort(files[i]);
        return rc;
    }
    size_t renamed = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        vs_outfile *f = files[i];
        if (f == NULL || f->through) continue;
        if (rename(f->temp, f->target) == 0) {
            f->state = OUTFILE_RENAMED;
            renamed++;
            continue;
        }
        char message[VS_IO_ERROR_SIZE];
        size_t used = 0;
        append(message, sizeof(message), &used, "%s: cannot rename %s into place: %s", f->path,
               f->temp, strerror(errno));
        for (size_t j = 0, listed = 0; j < i; j++)
            if (files[j] != NULL && files[j]->state == OUTFILE_RENAMED)
                append(message, sizeof(message), &used, "%s %s",
                       listed++ ? "," : "; already replaced:", files[j]->path);
        if (renamed > 0)
            append(message, sizeof(message), &used, " (the outputs of this run are incomplete)");
        vs__io_msg(err, err_size, "%s", message);
        rc = VS_ERR_IO;
    }
    for (size_t i = 0; i < count; i++) {
        if (files[i] == NULL) continue;
        if (rc == 0 && !files[i]->through) sync_directory(files[i]->target);
        vs_outfile_abort(files[i]);
    }
    return rc;
}

int vs_outfile_commit(vs_outfile *f, char *err, size_t err_size) {
    if (f == NULL) {
        return vs__fail_msg(err, err_size, VS_ERR_INVALID_ARGUMENT, "vs_outfile_commit: f is NULL");
    }
    return vs_outfile_commit_all(&f, 1, err, err_size);
}

/* ---- same file ------------------------------------------------------------------------ */

typedef struct file_id {
    int known;   /* 0 unknown, 1 exists (dev, ino), 2 would be created (dir dev, ino + name) */
    int special; /* a character device: never "the same file" */
    dev_t dev;
    ino_t ino;
    char *name;
} file_id;

static void identify(const char *path, file_id *id) {
    memset(id, 0, sizeof(*id));
    struct stat st;
    int fd;
    char *target = follow_links(path, &fd);
    if (fd >= 0 ? fstat(fd, &st) == 0 : target != NULL && stat(target, &st) == 0) {
        id->known = 1;
        id->special = S_ISCHR(st.st_mode);
        id->dev = st.st_dev;
        id->ino = st.st_ino;
    } else if (target != NULL && errno == ENOENT) {
        size_t dir = dir_length(target);
        char *parent = dir ? strndup(target, dir) : strdup(".");
        if (parent != NULL && stat(parent, &st) == 0 && (id->name = strdup(target + dir))) {
            id->known = 2;
            id->dev = st.st_dev;
            id->ino = st.st_ino;
        }
        free(parent);
    }
    free(target);
}

int vs_path_same_file(const char *a, const char *b) {
    if (a == NULL || b == NULL) return 0;
    file_id x, y;
    identify(a, &x);
    identify(b, &y);
    int same = x.known != 0 && x.known == y.known && x.dev == y.dev && x.ino == y.ino &&
               !(x.special && y.special) && (x.known == 1 || strcmp(x.name, y.name) == 0);
    free(x.name);
    free(y.name);
    return same;
}

/* ---- vector writers ------------------------------------------------------------------- */

struct vs_writer {
    vs_outfile *file;
    vs_file_format format;
    vs_dtype dtype;
    uint64_t dim;
    uint64_t rows;
    uint64_t declared; /* vs_writer_expect_rows, if has_declared */
    int has_declared;
    int header_written; /* at the first write (or at finish for 0 rows) */
    uint64_t header_rows;
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

/* The 128-byte npy 1.0 preamble + header for shape (rows, dim). */
static void npy_header(unsigned char *out, vs_dtype dtype, uint64_t rows, uint64_t dim) {
    memset(out, ' ', NPY_HEADER_BYTES);
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)((NPY_HEADER_BYTES - 10) & 0xff);
    out[9] = (unsigned char)((NPY_HEADER_BYTES - 10) >> 8);
    char text[NPY_HEADER_BYTES];
    int n = snprintf(text, sizeof(text),
                     "{'descr': '%s', 'fortran_order': False, 'shape': (%llu, %llu), }",
                     vs__npy_descr(dtype), (unsigned long long)rows, (unsigned long long)dim);
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
        return vs__fail_msg(err, err_size, VS_ERR_INVALID_ARGUMENT,
                            "vs_writer_open: path and out must not be NULL");
    }
    if (!dtype_allowed(format, dtype)) {
        return vs__fail_msg(err, err_size, VS_ERR_INVALID_ARGUMENT,
                            "%s: .%s cannot hold %s elements", path, vs_file_format_name(format),
                            vs_dtype_name(dtype) ? vs_dtype_name(dtype) : "?");
    }
    if (dim == 0 || dim > VS_IO_MAX_DIM) {
        return vs__fail_msg(err, err_size, VS_ERR_INVALID_ARGUMENT,
                            "%s: dimension %llu; expected 1..%u", path, (unsigned long long)dim,
                            VS_IO_MAX_DIM);
    }
    vs_writer *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return vs__fail_msg(err, err_size, VS_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    int rc = vs_outfile_open(path, &w->file, err, err_size);
    if (rc != 0) {
        free(w);
        return rc;
    }
    w->format = format;
    w->dtype = dtype;
    w->dim = dim;
    *out = w;
    return 0;
}

/* Bytes of the header that holds the row count: 8 (.fbin .u8bin .ibin), 128 (.npy) or 0. */
static size_t header_size(vs_file_format format) {
    return is_bin(format) ? 8 : format == VS_FORMAT_NPY ? NPY_HEADER_BYTES : 0;
}

static void header_bytes(const vs_writer *w, uint64_t rows, unsigned char *out) {
    if (is_bin(w->format)) {
        store_u32(out, (uint32_t)rows);
        store_u32(out + 4, (uint32_t)w->dim);
    } else if (w->format == VS_FORMAT_NPY) {
        npy_header(out, w->dtype, rows, w->dim);
    }
}

/* Writes the header once, with the declared row count or a placeholder. */
static int write_header(vs_writer *w) {
    size_t bytes = header_size(w->format);
    if (w->header_written || bytes == 0) return 0;
    if (!w->has_declared && w->file->through) {
        vs__io_msg(w->err, sizeof(w->err),
                   "%s: a .%s header holds the row count, and this output cannot be rewritten "
                   "(a FIFO or device): declare the rows first (vs_writer_expect_rows)",
                   w->file->path, vs_file_format_name(w->format));
        w->failed = 1;
        return VS_ERR_INVALID_ARGUMENT;
    }
    unsigned char header[NPY_HEADER_BYTES];
    w->header_rows = w->has_declared ? w->declared : 0;
    header_bytes(w, w->header_rows, header);
    w->header_written = 1;
    return write_bytes(w, header, bytes);
}

int vs_writer_expect_rows(vs_writer *w, uint64_t rows) {
    if (w == NULL) return VS_ERR_INVALID_ARGUMENT;
    w->err[0] = '\0';
    if (w->header_written || w->rows > 0 || w->failed) {
        return vs__fail_msg(w->err, sizeof(w->err), VS_ERR_INVALID_ARGUMENT,
                            "%s: the row count must be declared before any write", w->file->path);
    }
    if (is_bin(w->format) && rows > UINT32_MAX) {
        return vs__fail_msg(w->err, sizeof(w->err), VS_ERR_INVALID_ARGUMENT,
                            "%s: %llu rows do not fit the uint32 count of .%s", w->file->path,
                            (unsigned long long)rows, vs_file_format_name(w->format));
    }
    w->declared = rows;
    w->has_declared = 1;
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
        return vs__fail_msg(w->err, sizeof(w->err), VS_ERR_IO, "%s: an earlier write failed",
                            w->file->path);
    }
    if (rows > 0 && fvalues == NULL && ivalues == NULL) {
        return vs__fail_msg(w->err, sizeof(w->err), VS_ERR_INVALID_ARGUMENT, "%s: values are NULL",
                            w->file->path);
    }
    if (w->has_declared && rows > w->declared - w->rows) {
        vs__io_msg(w->err, sizeof(w->err), "%s: %llu more rows than the %llu declared",
                   w->file->path, (unsigned long long)(w->rows + rows - w->declared),
                   (unsigned long long)w->declared);
        w->failed = 1;
        return VS_ERR_INVALID_ARGUMENT;
    }
    int header_rc = write_header(w);
    if (header_rc != 0) return header_rc;
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

int vs_writer_finish(vs_writer *w, vs_outfile **file, char *err, size_t err_size) {
    if (file != NULL) *file = NULL;
    if (w == NULL || file == NULL) {
        vs__io_msg(err, err_size, "vs_writer_finish: w and file must not be NULL");
        vs_writer_abort(w);
        return VS_ERR_INVALID_ARGUMENT;
    }
    int rc = w->failed ? VS_ERR_IO : 0;
    if (rc == 0 && w->has_declared && w->rows != w->declared) {
        vs__io_msg(w->err, sizeof(w->err), "%s: %llu rows written but %llu declared", w->file->path,
                   (unsigned long long)w->rows, (unsigned long long)w->declared);
        rc = VS_ERR_INVALID_ARGUMENT;
    }
    if (rc == 0 && is_bin(w->format) && w->rows > UINT32_MAX) {
        vs__io_msg(w->err, sizeof(w->err), "%s: %llu rows do not fit the uint32 count of .%s",
                   w->file->path, (unsigned long long)w->rows, vs_file_format_name(w->format));
        rc = VS_ERR_INVALID_ARGUMENT;
    }
    if (rc == 0) rc = write_header(w); /* a file of 0 rows */
    size_t bytes = header_size(w->format);
    if (rc == 0 && bytes > 0 && w->header_rows != w->rows) { /* the placeholder: rewrite it */
        FILE *stream = vs_outfile_stream(w->file);
        unsigned char header[NPY_HEADER_BYTES];
        header_bytes(w, w->rows, header);
        if (fflush(stream) != 0 || fseek(stream, 0, SEEK_SET) != 0 ||
            fwrite(header, 1, bytes, stream) != bytes) {
            vs__io_msg(w->err, sizeof(w->err), "%s: write failed: %s", w->file->path,
                       strerror(errno));
            rc = VS_ERR_IO;
        }
    }
    if (rc != 0) {
        vs__io_msg(err, err_size, "%s", w->err);
        vs_writer_abort(w);
        return rc;
    }
    rc = vs_outfile_finish(w->file, err, err_size);
    if (rc != 0) {
        vs_writer_abort(w);
        return rc;
    }
    *file = w->file;
    free(w);
    return 0;
}

int vs_writer_commit(vs_writer *w, char *err, size_t err_size) {
    if (w == NULL) {
        return vs__fail_msg(err, err_size, VS_ERR_INVALID_ARGUMENT, "vs_writer_commit: w is NULL");
    }
    vs_outfile *file = NULL;
    int rc = vs_writer_finish(w, &file, err, err_size);
    return rc != 0 ? rc : vs_outfile_commit(file, err, err_size);
}
