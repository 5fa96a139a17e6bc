/*
 * formats.h — the file formats and element types of io/, one table each
 * (X-macros, like VS_STATUS_MAP). Not installed.
 *
 * Every name, size and npy descr is read from these rows: the public
 * vs_file_format_name / vs_file_format_from_path / vs_dtype_name /
 * vs_dtype_size (io/formats.c), the npy reader's and writer's descr strings
 * (io/npy.c) and the readers' messages. A new element type is one row here
 * (and its value in vs_dtype, include/vecscore_io.h), plus its conversion in
 * io/reader.c and io/writer.c.
 */
#ifndef VS_IO_FORMATS_H
#define VS_IO_FORMATS_H

#include "vecscore_io.h"

/*
 * X(SUFFIX, name, bytes, words, npy_descr, npy_alias)
 *   SUFFIX     VS_DTYPE_<SUFFIX>
 *   name       vs_dtype_name ("f4")
 *   bytes      vs_dtype_size
 *   words      for messages ("float32")
 *   npy_descr  what the npy writer writes, and the reader accepts
 *   npy_alias  another descr the npy reader accepts for it ("" if none)
 */
#define VS_IO_DTYPE_TABLE(X)                                                                       \
    X(F32, "f4", 4, "float32", "<f4", "")                                                          \
    X(F16, "f2", 2, "float16", "<f2", "")                                                          \
    X(F64, "f8", 8, "float64", "<f8", "")                                                          \
    X(U8, "u1", 1, "uint8", "|u1", "<u1")                                                          \
    X(I8, "i1", 1, "int8", "|i1", "<i1")                                                           \
    X(I32, "i4", 4, "int32", "<i4", "")                                                            \
    X(I64, "i8", 8, "int64", "<i8", "")

/*
 * X(SUFFIX, extension) for every format a file can have: VS_FORMAT_<SUFFIX>,
 * and the extension (without the dot) that vs_file_format_name returns and
 * vs_file_format_from_path recognises (case-insensitively).
 */
#define VS_IO_FORMAT_TABLE(X)                                                                      \
    X(FVECS, "fvecs")                                                                              \
    X(BVECS, "bvecs")                                                                              \
    X(IVECS, "ivecs")                                                                              \
    X(FBIN, "fbin")                                                                                \
    X(U8BIN, "u8bin")                                                                              \
    X(IBIN, "ibin")                                                                                \
    X(NPY, "npy")

/* VS_IO_DTYPE_TABLE as data: one row per dtype, in table order. */
typedef struct vs__dtype_row {
    vs_dtype dtype;
    const char *name;
    size_t bytes;
    const char *words, *descr, *alias;
} vs__dtype_row;
extern const vs__dtype_row vs__dtypes[];
extern const size_t vs__dtype_count;

/* The row of dtype, or NULL for a value that is not a vs_dtype. */
const vs__dtype_row *vs__dtype_find(vs_dtype dtype);

/* "float32", ... for messages; "?" for an unknown value. */
const char *vs__dtype_words(vs_dtype dtype);

#endif /* VS_IO_FORMATS_H */
