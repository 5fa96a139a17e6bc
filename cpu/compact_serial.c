/* compact_serial.c — the reference compact kernels (plain C). */
#include <math.h>
#include <string.h>

#include "compact.h"
#include "kernels.h"

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

/* One query with the threshold mask (compact.h scan1_*): the rows kernels, then the test. */
static uint64_t scan1_half(const float *query, const uint16_t *stored, size_t count, size_t dim,
                           float threshold, float *out, int bf16) {
    const float *queries[1] = {query};
    half_rows(queries, 1, stored, count, dim, out, count, bf16);
    uint64_t keep = 0;
    for (size_t j = 0; j < count; j++)
        keep |= (uint64_t) !(out[j] < threshold) << j;
    return keep;
}

static uint64_t scan1_f16_serial(const float *query, const uint16_t *stored, size_t count,
                                 size_t dim, float threshold, float *out) {
    return scan1_half(query, stored, count, dim, threshold, out, 0);
}

static uint64_t scan1_bf16_serial(const float *query, const uint16_t *stored, size_t count,
                                  size_t dim, float threshold, float *out) {
    return scan1_half(query, stored, count, dim, threshold, out, 1);
}

static uint64_t scan1_i8_serial(const int16_t *query, const int8_t *stored, size_t count,
                                size_t dim, int64_t threshold, int64_t *out) {
    const int16_t *queries[1] = {query};
    dot_i8_serial(queries, 1, stored, count, dim, out, count);
    uint64_t keep = 0;
    for (size_t j = 0; j < count; j++)
        keep |= (uint64_t) !(out[j] < threshold) << j;
    return keep;
}

/* ---- the blocked kernels' reference (cpu/compact.h): the packed layouts, plain loops ---- */

#define SERIAL_I8_MR 4
#define SERIAL_I8_NR 8

void vs__compact_i8_pack_queries(const int16_t *const *queries, size_t rows, size_t dim, size_t mr,
                                 int32_t *dst) {
    const size_t pairs = (dim + 1) / 2;
    for (size_t s = 0; s * mr < rows; s++) {
        const size_t n = rows - s * mr < mr ? rows - s * mr : mr;
        int32_t *sliver = dst + s * mr * pairs;
        for (size_t r = 0; r < n; r++) {
            const int16_t *q = queries[s * mr + r];
            for (size_t p = 0; p < pairs; p++) {
                const uint16_t lo = (uint16_t)q[2 * p];
                const uint16_t hi = 2 * p + 1 < dim ? (uint16_t)q[2 * p + 1] : 0;
                sliver[p * n + r] = (int32_t)((uint32_t)lo | (uint32_t)hi << 16);
            }
        }
    }
}

static void pack_half_serial(const uint16_t *stored, size_t count, size_t dim, int bf16, size_t nr,
                             float *panels) {
    const size_t whole = (count + nr - 1) / nr;
    for (size_t j = 0; j < whole * nr; j++)
        for (size_t d = 0; d < dim; d++) {
            float value = 0;
            if (j < count) {
                const uint16_t bits = stored[j * dim + d];
                value = bf16 ? vs__compact_bf16_to_f32(bits) : vs__compact_f16_to_f32(bits);
            }
            panels[j / nr * nr * dim + d * nr + j % nr] = value;
        }
}

static void pack_i8_serial(const int8_t *stored, size_t count, size_t dim, int16_t *panels) {
    const size_t pairs = (dim + 1) / 2, nr = SERIAL_I8_NR, whole = (count + nr - 1) / nr;
    for (size_t j = 0; j < whole * nr; j++)
        for (size_t d = 0; d < 2 * pairs; d++)
            panels[j / nr * nr * 2 * pairs + (d / 2 * nr + j % nr) * 2 + d % 2] =
                (int16_t)(j < count && d < dim ? stored[j * dim + d] : 0);
}

/* One int16 level of a packed query pair (e = 0 low half, 1 high half). */
static int32_t pair_level(int32_t pair, int e) {
    const uint16_t bits = (uint16_t)((uint32_t)pair >> (16 * e));
    return bits >= 0x8000u ? (int32_t)bits - 0x10000 : (int32_t)bits;
}

static void dot_i8_blocked_serial(const int32_t *qpack, size_t nq, const int16_t *panels,
                                  size_t count, size_t dim, const vs__compact_filter *filter,
                                  int64_t *out, size_t ldo) {
    const size_t pairs = (dim + 1) / 2, mr = SERIAL_I8_MR, nr = SERIAL_I8_NR;
    for (size_t q = 0; q < nq; q++) {
        const size_t s = q / mr, rows = nq - s * mr < mr ? nq - s * mr : mr;
        const int32_t *sliver = qpack + s * mr * pairs;
        for (size_t j = 0; j < count; j++) {
            const int16_t *panel = panels + j / nr * nr * 2 * pairs;
            int64_t sum = 0;
            for (size_t p = 0; p < pairs; p++)
                for (int e = 0; e < 2; e++)
                    sum += (int64_t)pair_level(sliver[p * rows + q % mr], e) *
                           panel[(p * nr + j % nr) * 2 + e];
            out[q * ldo + j] = sum;
            if (filter != NULL)
                filter->hits[q] += !((float)sum * filter->factor[j] < filter->threshold[q]);
        }
    }
}

const vs__compact_kernels vs__compact_serial = {
    .isa = "serial",
    .dot_f16 = dot_f16_serial,
    .dot_bf16 = dot_bf16_serial,
    .dot_i8 = dot_i8_serial,
    .scan1_f16 = scan1_f16_serial,
    .scan1_bf16 = scan1_bf16_serial,
    .scan1_i8 = scan1_i8_serial,
    .block_queries = 16,
    .f32 = &vs__kernels_serial,
    .pack_half = pack_half_serial,
    .i8_mr = SERIAL_I8_MR,
    .i8_nr = SERIAL_I8_NR,
    .pack_i8 = pack_i8_serial,
    .dot_i8_blocked = dot_i8_blocked_serial,
};
