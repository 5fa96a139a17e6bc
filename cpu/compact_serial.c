/* compact_serial.c — the reference compact kernels (plain C). */
#include <math.h>

#include "compact.h"

/* float16 (bf16 = 0) or bfloat16 (bf16 = 1) rows: products and sums in float32, in order. */
static void half_rows(const float *const *queries, size_t rows, const uint16_t *stored,
                      size_t count, size_t dim, float *out, size_t ldo, int bf16) {
    for (size_t j = 0; j < count; j++) {
        const uint16_t *row = stored + j * dim;
        for (size_t r = 0; r < rows; r++) {
            float sum = 0;
            for (size_t i = 0; i < dim; i++)
                sum += queries[r][i] *
                       (bf16 ? vs__compact_bf16_to_f32(row[i]) : vs__compact_f16_to_f32(row[i]));
            out[r * ldo + j] = sum;
        }
    }
}

static void dot_f16_serial(const float *const *queries, size_t rows, const uint16_t *stored,
                           size_t count, size_t dim, float *out, size_t ldo) {
    half_rows(queries, rows, stored, count, dim, out, ldo, 0);
}

static void dot_bf16_serial(const float *const *queries, size_t rows, const uint16_t *stored,
                            size_t count, size_t dim, float *out, size_t ldo) {
    half_rows(queries, rows, stored, count, dim, out, ldo, 1);
}

static void dot_i8_serial(const int16_t *const *queries, size_t rows, const int8_t *stored,
                          size_t count, size_t dim, int64_t *out, size_t ldo) {
    for (size_t j = 0; j < count; j++) {
        const int8_t *row = stored + j * dim;
        for (size_t r = 0; r < rows; r++) {
            int64_t sum = 0;
            for (size_t i = 0; i < dim; i++)
                sum += (int32_t)queries[r][i] * row[i];
            out[r * ldo + j] = sum;
        }
    }
}

const vs__compact_kernels vs__compact_serial = {
    .isa = "serial",
    .dot_f16 = dot_f16_serial,
    .dot_bf16 = dot_bf16_serial,
    .dot_i8 = dot_i8_serial,
};
