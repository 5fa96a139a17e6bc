/*
 * vecscore_io.h — reading and writing vector files: .fvecs .bvecs .ivecs
 * .fbin .u8bin .ibin .npy.
 *
 * This header is the manual for the io part of the library (the formats
 * themselves are described byte by byte in docs/formats.md).
 *
 * ## Reading
 *
 * A reader opens a file (or wraps a caller's buffer), checks every header
 * field and every size product for overflow, and then hands out rows on
 * request: vs_reader_read_f32(r, start, count, out) converts rows
 * [start, start + count) to float32 into the caller's buffer. Nothing is
 * read that the caller did not ask for, so a file larger than memory can be
 * processed chunk by chunk; besides the caller's buffers a reader holds at
 * most one staging buffer of 4 MiB (or one record, if larger), allocated
 * only when rows need converting.
 *
 * Files are read with pread(), not mapped, so a file that another process
 * truncates while it is read cannot crash the caller (no SIGBUS). Every read
 * re-checks the file's size and modification time against those at open: a
 * file that shrank, grew or was rewritten fails the read with VS_ERR_IO and
 * a message naming the file and what happened, e.g.
 *   "base.fvecs: file shrank from 34000 to 17000 bytes while being read"
 * (a file replaced by rename is not noticed: the reader keeps the file it
 * opened). Special files (FIFOs, devices, directories) are refused at open
 * without blocking; to read a stream, read it into memory and use
 * vs_reader_open_memory.
 *
 * Validation is strict. vs_reader_open rejects: empty or truncated files, a
 * header past the end of the file, dimension 0, negative or above
 * VS_IO_MAX_DIM, a size that is not exactly header + rows x record, size
 * products that overflow 64 bits, unknown or unsupported npy dtypes,
 * big-endian data, arrays of more than 2 dimensions and malformed npy
 * headers. For .fvecs/.bvecs/.ivecs the dimension of the first and last
 * record is checked at open and every other record's when it is read (an
 * error names the record). vs_reader_validate checks them all.
 *
 * Accepted layouts beyond the plain ones: Fortran-order (column-major) .npy
 * arrays are read transposed, so rows come out as for C order; an .ibin of
 * 8 + n x k x 8 bytes is big-ann ground truth (n x k int32 ids followed by
 * n x k float32 distances), read as its ids (vs_reader_info.distances_offset
 * says where the distances start).
 *
 * Integer data (.ivecs, .ibin, integer .npy) read as float32 vectors must be
 * exact in float32: vs_reader_read_f32 fails with VS_ERR_FORMAT naming the
 * row, column and value of the first element in the range read (in row
 * order) that float32 cannot represent (int32/int64 values beyond 2^24 in
 * magnitude that are not multiples of a large enough power of two). 8-bit
 * types are always exact. vs_reader_read_i64 reads them unchanged.
 *
 * Every rejection returns a negative vs_status (VS_ERR_IO for operating
 * system failures and files that changed, VS_ERR_FORMAT for bad contents,
 * VS_ERR_INVALID_ARGUMENT for bad arguments) and writes a message naming the
 * file, the byte offset or record, and what was expected, e.g.
 *   "base.fbin: looks like .fvecs, not .fbin (size 5160 is not 8 + 7 x 1 x 4)"
 *
 * ## Writing
 *
 * Writers never leave a partial file and never touch an existing file unless
 * the write succeeded: data goes to a temporary file ".vs.tmp-XXXXXX" in the
 * target's directory (a fixed 14-byte name, so it fits next to any valid
 * output name) that is renamed over the target only on commit. Several
 * outputs of one job can be committed as a set (vs_outfile_commit_all): all
 * of them, or, if any fails before the renames, none. FIFOs and character
 * devices are written through instead (see "Output files" below).
 *
 * All functions return 0 or a negative vs_status unless they say otherwise.
 * Objects are not thread-safe; use one per thread.
 */
#ifndef VECSCORE_IO_H
#define VECSCORE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vecscore.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest dimension a reader accepts (and a writer writes). */
#define VS_IO_MAX_DIM (1u << 20)
/** Largest npy header (the dict text) a reader accepts, in bytes. */
#define VS_IO_NPY_MAX_HEADER 65536u
/** Recommended size of the message buffers passed to this API. */
#define VS_IO_ERROR_SIZE 512

typedef enum vs_file_format {
    VS_FORMAT_UNKNOWN = 0, /* for open: detect from content and extension */
    VS_FORMAT_FVECS = 1,
    VS_FORMAT_BVECS = 2,
    VS_FORMAT_IVECS = 3,
    VS_FORMAT_FBIN = 4,
    VS_FORMAT_U8BIN = 5,
    VS_FORMAT_IBIN = 6,
    VS_FORMAT_NPY = 7
} vs_file_format;

/** Element types, named like numpy's: f4 f2 f8 u1 i1 i4 i8. */
typedef enum vs_dtype {
    VS_DTYPE_F32 = 0,
    VS_DTYPE_F16 = 1,
    VS_DTYPE_F64 = 2,
    VS_DTYPE_U8 = 3,
    VS_DTYPE_I8 = 4,
    VS_DTYPE_I32 = 5,
    VS_DTYPE_I64 = 6
} vs_dtype;

/** "fvecs", "npy", ... (without the dot); "unknown" for VS_FORMAT_UNKNOWN. */
VS_API const char *vs_file_format_name(vs_file_format format);
/** The format an extension names (".fvecs" or "FILE.fvecs"), else VS_FORMAT_UNKNOWN. */
VS_API vs_file_format vs_file_format_from_path(const char *path);
/** "f4", "f2", "f8", "u1", "i1", "i4", "i8"; NULL for an unknown value. */
VS_API const char *vs_dtype_name(vs_dtype dtype);
/** Bytes per element: 4, 2, 8, 1, 1, 4, 8; 0 for an unknown value. */
VS_API size_t vs_dtype_size(vs_dtype dtype);

/* ==================================================================== */
/* Reader                                                                */
/* ==================================================================== */

typedef struct vs_reader vs_reader;

/*
 * Flags for vs_reader_open:
 *   VS_READ_REJECT_NONFINITE  read_f32 fails on a NaN or infinite value, naming the row
 *   VS_READ_VALIDATE_ALL      check every record's dimension at open (.*vecs)
 */
#define VS_READ_REJECT_NONFINITE 1u
#define VS_READ_VALIDATE_ALL 2u

typedef struct vs_reader_info {
    vs_file_format format;
    vs_dtype dtype;            /* element type stored in the file */
    uint64_t rows;             /* number of vectors (a 1-D npy array is one vector) */
    uint64_t dim;              /* elements per vector, 1..VS_IO_MAX_DIM */
    uint64_t data_offset;      /* byte offset of the first row's first element */
    uint64_t file_bytes;       /* total size */
    int npy_version;           /* 1, 2 or 3 for .npy, else 0 */
    int fortran_order;         /* .npy stored column-major (rows are still read as rows) */
    uint64_t distances_offset; /* .ibin ground truth: byte offset of the float32
                                  distances after the ids; else 0 */
} vs_reader_info;

/*
 * Opens and checks path. format VS_FORMAT_UNKNOWN detects the format from
 * the content and the extension together; a format given explicitly (or by
 * the extension) that the content contradicts is an error naming both
 * ("looks like .fvecs, not .fbin"). flags: VS_READ_* above, or 0.
 * On failure *out is NULL and err (if not NULL, err_size > 0) holds the
 * message. On success *out owns the reader: free it with vs_reader_close.
 */
VS_API int vs_reader_open(const char *path, vs_file_format format, unsigned flags, vs_reader **out,
                          char *err, size_t err_size);

/*
 * Like vs_reader_open on size bytes at data (which the caller keeps alive
 * and unchanged until vs_reader_close). name is used in messages only and
 * for extension-based detection; it may be NULL ("<memory>"). This is how a
 * stream (a pipe, standard input) is read: read it whole into memory first;
 * a name without a known extension lets the content decide the format.
 */
VS_API int vs_reader_open_memory(const void *data, size_t size, const char *name,
                                 vs_file_format format, unsigned flags, vs_reader **out, char *err,
                                 size_t err_size);

/** Unmaps and frees. NULL is fine. */
VS_API void vs_reader_close(vs_reader *r);

/** What the file holds. r must not be NULL. */
VS_API const vs_reader_info *vs_reader_get_info(const vs_reader *r);

/** The message of the last failed call on r ("" if none). Valid until the next call. */
VS_API const char *vs_reader_error(const vs_reader *r);

/*
 * Converts rows [start, start + count) to float32 into out (count x dim
 * floats, row-major). start + count must not exceed rows. Returns
 * VS_ERR_FORMAT for a record whose dimension differs (.*vecs), an integer
 * that float32 cannot hold exactly, or, with VS_READ_REJECT_NONFINITE, a
 * NaN/infinite value; the message names the row. VS_ERR_IO when the file
 * cannot be read or changed since open (shrank, grew, rewritten). On error
 * the contents of out are unspecified.
 */
VS_API int vs_reader_read_f32(vs_reader *r, uint64_t start, uint64_t count, float *out);

/*
 * Like vs_reader_read_f32 for integer files (ids, ground truth): converts
 * rows to int64. Float files are refused with VS_ERR_FORMAT.
 */
VS_API int vs_reader_read_i64(vs_reader *r, uint64_t start, uint64_t count, int64_t *out);

/*
 * Rows of a float16 file (a '<f2' .npy) as their IEEE binary16 bit patterns,
 * unconverted (count x dim uint16_t, row-major), e.g. for
 * vs_corpus_create_from_half with no float32 copy. Other element types are
 * refused with VS_ERR_FORMAT (read them with vs_reader_read_f32);
 * VS_READ_REJECT_NONFINITE and the other errors as for vs_reader_read_f32.
 */
VS_API int vs_reader_read_f16(vs_reader *r, uint64_t start, uint64_t count, uint16_t *out);

/* Checks the dimension field of every record (.*vecs; a no-op for the others). */
VS_API int vs_reader_validate(vs_reader *r);

/* ==================================================================== */
/* Output files                                                          */
/* ==================================================================== */

typedef struct vs_outfile vs_outfile;

/*
 * An output path is either replaced or written through.
 *
 * Replaced: a regular file, or a name that does not exist yet.
 *   - Data goes to DIR/.vs.tmp-XXXXXX, created next to the target (O_EXCL,
 *     mode 0666 minus the umask). It is flushed, fsync'd and closed by
 *     vs_outfile_finish, and renamed over the target by a commit; the
 *     directory is fsync'd after the rename.
 *   - A symbolic link (the last component, up to 40 links deep) is followed:
 *     its final target is replaced atomically and the link stays a link. A
 *     dangling link creates its target.
 *   - An existing target keeps its permission bits (rwx for user, group and
 *     others) and, where the process is allowed to set them, its owner and
 *     group; the temporary file has them from the start. A hard link to the
 *     target keeps the old contents (a rename gives the name a new inode).
 *   - Refused at open: an existing target the process may not write
 *     (access(W_OK), as the shell's > would refuse it), a directory, a block
 *     device, a socket, a name that ends in '/'.
 *
 * Written through: a FIFO, a character device (/dev/null, a terminal), and
 * the names of the process's own descriptors (/dev/stdout, /dev/stderr,
 * /dev/fd/N, /proc/self/fd/N, also reached through a symbolic link), which
 * are written through a dup() of that descriptor, at its offset. Bytes go out
 * as they are written: there is no temporary file and nothing to rename, a
 * failure cannot take back what was already written, and opening a FIFO
 * waits for a reader, as any writer of a FIFO does.
 */

/** 1 if vs_outfile_open(path) would write through (see above), else 0. */
VS_API int vs_outfile_writes_through(const char *path);

/*
 * 1 if a and b name the same file, else 0 (also when either cannot be
 * examined). Files that exist compare by device and inode, after following
 * symbolic links, so hard links, symbolic links and "./x" vs "x" are caught.
 * A name that does not exist yet compares by the directory it would be
 * created in (device and inode) and its last component after following
 * links, so two outputs that would create the same file are caught too.
 * Character devices (/dev/null, a terminal) are never the same file: writing
 * to one twice loses nothing. Used to refuse an output that would replace an
 * input or another output of the same job.
 */
VS_API int vs_path_same_file(const char *a, const char *b);

/*
 * Opens path for writing as described above. Write through
 * vs_outfile_stream; then either commit (vs_outfile_commit, or
 * vs_outfile_commit_all for a set) or vs_outfile_abort. Exactly one of them
 * must be called; each frees the object.
 */
VS_API int vs_outfile_open(const char *path, vs_outfile **out, char *err, size_t err_size);
/** The stdio stream to write to. Check ferror() as you go: a full disk is reported there. */
VS_API FILE *vs_outfile_stream(vs_outfile *f);
/*
 * The temporary file's path (valid until commit/abort), or NULL when the
 * output is written through. A signal handler may unlink() it; the string is
 * never reallocated.
 */
VS_API const char *vs_outfile_temp_path(const vs_outfile *f);
/*
 * Flushes, fsyncs and closes the stream (the existing target's mode and owner
 * are applied again first): everything but the rename, which may then fail
 * only if the directory changes. On failure (a full disk, an I/O error, an
 * earlier failed write) the temporary file is removed and f must still be
 * aborted or committed (which then fails). Calling it again is a no-op.
 */
VS_API int vs_outfile_finish(vs_outfile *f, char *err, size_t err_size);
/*
 * Commits a set of outputs, all or nothing as far as the file system allows:
 *   1. finishes every file that is not finished yet; if one fails,
 *   2. or any replaced target has become something other than a regular
 *      file or a link (a directory, say), every temporary file is removed,
 *      no target is touched, and the first failure is returned;
 *   3. renames the temporary files over their targets in the order given.
 * Two renames are not one atomic step: if a rename fails in step 3 (the
 * directory's permissions changed during the run, say), the files before it
 * are already replaced and those after it are not; the message names both
 * ("...; already replaced: A (the outputs of this run are incomplete)").
 * Give the file whose presence means "the job is done" last. Entries may be
 * NULL (skipped). Every file is freed, success or not.
 */
VS_API int vs_outfile_commit_all(vs_outfile *const *files, size_t count, char *err,
                                 size_t err_size);
/** vs_outfile_commit_all of one file. */
VS_API int vs_outfile_commit(vs_outfile *f, char *err, size_t err_size);
/** Closes and removes the temporary file. NULL is fine. */
VS_API void vs_outfile_abort(vs_outfile *f);

/* ==================================================================== */
/* Writer                                                                */
/* ==================================================================== */

typedef struct vs_writer vs_writer;

/*
 * Starts a vector file at path (replaced or written through, as vs_outfile).
 * format must not be VS_FORMAT_UNKNOWN; dtype is the stored element type:
 *   fvecs/fbin: F32;  bvecs/u8bin: U8;  ivecs/ibin: I32;
 *   npy: F32, F16, F64, U8, I8, I32 or I64.
 * dim is 1..VS_IO_MAX_DIM. The row count is whatever was written by commit
 * (0 rows gives a header-only .fbin/.npy and an empty .*vecs file).
 */
VS_API int vs_writer_open(const char *path, vs_file_format format, vs_dtype dtype, uint64_t dim,
                          vs_writer **out, char *err, size_t err_size);

/*
 * Declares how many rows will be written, before the first write. The
 * .fbin/.npy header then holds the final count from the start, which is what
 * lets those formats go to an output that cannot be rewritten (a FIFO, a
 * device, stdout): without it such an output fails at the first write. Writing
 * more rows than declared fails at once, fewer fails at finish.
 */
VS_API int vs_writer_expect_rows(vs_writer *w, uint64_t rows);

/*
 * Appends rows (rows x dim values, row-major), converting to the stored
 * type. Integer and byte types refuse values that are not finite, not
 * whole numbers or out of range (VS_ERR_INVALID_ARGUMENT, naming the row).
 * A failed write (VS_ERR_IO: a full disk, a closed pipe) is reported by the
 * call that hit it; every later call and the commit fail too.
 */
VS_API int vs_writer_write_f32(vs_writer *w, const float *values, uint64_t rows);
VS_API int vs_writer_write_i64(vs_writer *w, const int64_t *values, uint64_t rows);

/** The message of the last failed call on w. */
VS_API const char *vs_writer_error(const vs_writer *w);
/** The temporary file's path, for signal handlers (see vs_outfile_temp_path); NULL if none. */
VS_API const char *vs_writer_temp_path(const vs_writer *w);

/*
 * Completes the header and finishes the file (vs_outfile_finish), then hands
 * it over: *file is then committed by the caller, alone or in a set with
 * vs_outfile_commit_all, or aborted. Frees w, success or not; on failure
 * *file is NULL and the temporary file is removed.
 */
VS_API int vs_writer_finish(vs_writer *w, vs_outfile **file, char *err, size_t err_size);
/** vs_writer_finish, then vs_outfile_commit. Frees w, success or not. */
VS_API int vs_writer_commit(vs_writer *w, char *err, size_t err_size);
/** Removes the temporary file and frees w. NULL is fine. */
VS_API void vs_writer_abort(vs_writer *w);

#ifdef __cplusplus
}
#endif

#endif /* VECSCORE_IO_H */
