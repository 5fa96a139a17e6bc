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

/* IEEE half <-> single conversions (round to nearest even). */
float vs__f16_to_f32(uint16_t h);
uint16_t vs__f32_to_f16(float f);

#endif /* VS_IO_INTERNAL_H */
