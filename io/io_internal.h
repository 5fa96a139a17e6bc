/*
 * io_internal.h — helpers shared by io/reader.c and io/writer.c. Not installed.
 */
#ifndef VS_IO_INTERNAL_H
#define VS_IO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vecscore_io.h"

/* printf into a message buffer; NULL or size 0 is fine. */
void vs__io_msg(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Checked products and sums of 64-bit sizes: 0 on overflow, else 1 and *out. */
static inline int vs__mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}
static inline int vs__add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (b > UINT64_MAX - a) return 0;
    *out = a + b;
    return 1;
}

/* An .npy header, as io/npy.c read it. */
typedef struct vs__npy_header {
    vs_dtype dtype;
    uint64_t rows, dim;   /* a 1-D array is one row */
    uint64_t data_offset; /* where the data starts: preamble + header */
    int version;          /* 1, 2 or 3 */
    int fortran_order;    /* as the header says */
    int column_major;     /* fortran_order with more than one row and column */
} vs__npy_header;

/*
 * Checks the .npy preamble and header in head (the file's first bytes: at
 * least min(size, 12 + VS_IO_NPY_MAX_HEADER)) against the file's size.
 * 0 and *out, or VS_ERR_FORMAT with the reason (no file name) in why.
 */
int vs__npy_parse(const unsigned char *head, uint64_t size, vs__npy_header *out, char *why,
                  size_t why_size);
/* The descr the npy writer writes for dtype ("<f4"); "?" for an unknown value. */
const char *vs__npy_descr(vs_dtype dtype);

/* IEEE half <-> single conversions (round to nearest even). */
float vs__f16_to_f32(uint16_t h);
uint16_t vs__f32_to_f16(float f);

#endif /* VS_IO_INTERNAL_H */
