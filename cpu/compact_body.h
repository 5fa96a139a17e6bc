/*
 * compact_body.h — the compact scan kernels, written once and compiled inside
 * each SIMD ISA file (compact_avx2.c, compact_avx512.c) with that file's
 * flags, as block.h is for the float32 macro-kernels. The including file
 * defines, for its register width:
 *
 *   CV, CVI            float and integer vector types
 *   CW                 float lanes; CIW int8 dims per integer step
 *   C_ZERO(), C_ZEROI()           zero vectors
 *   C_FMA(a, b, acc)   acc + a * b, fused
 *   C_LOADQ(p)         CW floats of the query
 *   C_LOAD_F16(p), C_LOAD_BF16(p) CW stored halves widened to float32
 *   C_HSUM(v)          sum of the float lanes
 *   C_I8_STEP(row, q)  CIW int8 x int16 products, summed pairwise into int32 lanes
 *   C_ADDI(a, b)       lane-wise int32 add
 *   C_HSUM_I32(v)      sum of the int32 lanes, in int64
 *
 * and then defines its table from compact_half_rows / compact_i8_rows.
 */
#ifndef VS_CPU_COMPACT_BODY_H
#define VS_CPU_COMPACT_BODY_H

#include <math.h>

#include "compact.h"

/* float16 (bf16 = 0) or bfloat16 (bf16 = 1) rows; bf16 is a constant at each call. */
static inline __attribute__((always_inline)) void
compact_half_rows(const float *const *queries, size_t rows, const uint16_t *stored, size_t count,
                  size_t dim, float *out, size_t ldo, const int bf16) {
    for (size_t j = 0; j < count; j++) {
        const uint16_t *row = stored + j * dim;
        CV sum_a[VS_COMPACT_QUERIES], sum_b[VS_COMPACT_QUERIES];
        for (size_t r = 0; r < rows; r++)
            sum_a[r] = sum_b[r] = C_ZERO();
        size_t i = 0;
        for (; i + 2 * CW <= dim; i += 2 * CW) {
            const CV lo = bf16 ? C_LOAD_BF16(row + i) : C_LOAD_F16(row + i);
            const CV hi = bf16 ? C_LOAD_BF16(row + i + CW) : C_LOAD_F16(row + i + CW);
            for (size_t r = 0; r < rows; r++) {
                sum_a[r] = C_FMA(C_LOADQ(queries[r] + i), lo, sum_a[r]);
                sum_b[r] = C_FMA(C_LOADQ(queries[r] + i + CW), hi, sum_b[r]);
            }
        }
        for (; i + CW <= dim; i += CW) {
            const CV lo = bf16 ? C_LOAD_BF16(row + i) : C_LOAD_F16(row + i);
            for (size_t r = 0; r < rows; r++)
                sum_a[r] = C_FMA(C_LOADQ(queries[r] + i), lo, sum_a[r]);
        }
        for (size_t r = 0; r < rows; r++) {
            float sum = C_HSUM(sum_a[r]) + C_HSUM(sum_b[r]);
            for (size_t t = i; t < dim; t++)
                sum = fmaf(queries[r][t],
                           bf16 ? vs__compact_bf16_to_f32(row[t]) : vs__compact_f16_to_f32(row[t]),
                           sum);
            out[r * ldo + j] = sum;
        }
    }
}

/* int8 rows against int16 queries, exact (int32 lanes widened every VS_COMPACT_I8_BLOCK dims). */
static inline void compact_i8_rows(const int16_t *const *queries, size_t rows, const int8_t *stored,
                                   size_t count, size_t dim, int64_t *out, size_t ldo) {
    for (size_t j = 0; j < count; j++) {
        const int8_t *row = stored + j * dim;
        int64_t total[VS_COMPACT_QUERIES] = {0};
        size_t i = 0;
        while (i + CIW <= dim) {
            const size_t block_end = i + VS_COMPACT_I8_BLOCK < dim ? i + VS_COMPACT_I8_BLOCK : dim;
            CVI sum[VS_COMPACT_QUERIES];
            for (size_t r = 0; r < rows; r++)
                sum[r] = C_ZEROI();
            for (; i + CIW <= block_end; i += CIW)
                for (size_t r = 0; r < rows; r++)
                    sum[r] = C_ADDI(sum[r], C_I8_STEP(row + i, queries[r] + i));
            for (size_t r = 0; r < rows; r++)
                total[r] += C_HSUM_I32(sum[r]);
        }
        for (size_t r = 0; r < rows; r++) {
            for (size_t t = i; t < dim; t++)
                total[r] += (int32_t)queries[r][t] * row[t];
            out[r * ldo + j] = total[r];
        }
    }
}

#endif /* VS_CPU_COMPACT_BODY_H */
