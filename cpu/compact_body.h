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
 *   C_LOAD_F16(p)      CW stored halves widened to float32
 *   C_LOADW(p)         2 CW stored bfloat16 (CW 32-bit words)
 *   C_BF16_EVEN(w), C_BF16_ODD(w)  their even / odd elements as float32 (shift, mask)
 *   C_HSUM(v)          sum of the float lanes
 *   C_I8_WIDEN(row)    CIW stored int8 widened to int16 lanes
 *   C_LOADQI(q)        CIW int16 query levels
 *   C_MADD(x, q)       int16 x int16 products, summed pairwise into int32 lanes
 *   C_ADDI(a, b)       lane-wise int32 add
 *   C_HSUM_I32(v)      sum of the int32 lanes, in int64
 *   C_ADD(a, b)        lane-wise float add
 *
 * and may define two hooks for instructions that do more in one step:
 *
 *   C_MADD_ADD(acc, x, q)  acc + C_MADD(x, q) (default: C_ADDI of C_MADD; AVX512_VNNI: vpdpwssd)
 *   C_BF16_DP(acc, q, w), C_BF16_QUERY(p), CVB
 *                      bfloat16 pair products: acc + the products of the 2 CW stored
 *                      bfloat16 in w with the query's 2 CW dims at p (even then odd, as
 *                      bf16_pairs = CW lays them out), already bfloat16 values, in CVB
 *                      form (AVX512_BF16: vdpbf16ps), instead of the shift, the mask
 *                      and two FMAs
 *
 * and then defines its table from compact_half_rows / compact_i8_rows.
 *
 * One query (rows = 1, and the scan1_* kernels of compact.h): the stored rows
 * are walked one after another, each with C_ROW1_ACC vector accumulators
 * taking consecutive steps in turn, summed pairwise at the row's end
 * ((acc0 + acc1) + (acc2 + acc3)), then the horizontal sum and the scalar
 * tail. The bytes are read as one sequential stream, which the hardware
 * prefetcher follows (measured on Zen 3: 13-14 GB/s per thread against 10-12
 * for 8 rows in parallel with a software prefetch of the next tile;
 * docs/isa.md), and the four chains hide the FMA latency. scan1 also
 * compares each row's sum with the caller's threshold and returns the mask
 * of the rows at or above it (host/compact.c, the raw filter).
 *
 * Register tiles (2..VS_COMPACT_QUERIES queries): a call scores `rows`
 * queries against `count` stored rows, in tiles of rows x T stored rows (T =
 * 4, 2, 2 for 2, 3, 4 queries: at most 8 accumulators), so each stored row is
 * decoded once per tile and used for every query of the call, and each query
 * vector loaded once per step is used for every row of the tile. Every
 * (query, row) pair has one accumulator, stepped over the dims in the same
 * order whatever the tile, then the same horizontal sum and the same scalar
 * tail: a pair's sum does not depend on the tile, the call's other queries or
 * rows, hence not on how the host splits the work between threads. (A
 * query's float sums in a call of one query may differ by rounding from
 * those in a call of 2 to 4, both within the bound, which allows every
 * order; which one a query gets depends only on the batch's size. int8 sums
 * are exact, the same in both.)
 */
#ifndef VS_CPU_COMPACT_BODY_H
#define VS_CPU_COMPACT_BODY_H

#include <math.h>

#include "compact.h"

#define C_TILE_MAX 8 /* stored rows per tile, at most */
#define C_ROW1_ACC 4 /* accumulators per stored row of the one-query kernels */
#ifndef C_MADD_ADD
#define C_MADD_ADD(acc, x, q) C_ADDI(acc, C_MADD(x, q))
#endif

/*
 * One tile: nq queries x nr stored rows from row0 (nq, nr constants after
 * inlining). float16: CW dims per step, widened by C_LOAD_F16. bfloat16: 2 CW
 * dims per step, one load giving the even dims (shift) and the odd ones
 * (mask), against queries permuted to match (bf16_pairs in compact.h).
 */
static inline __attribute__((always_inline)) void half_tile(const float *const *queries,
                                                            const size_t nq, const uint16_t *row0,
                                                            const size_t nr, size_t dim, float *out,
                                                            size_t ldo, const int bf16) {
    CV acc[VS_COMPACT_QUERIES][C_TILE_MAX];
    for (size_t r = 0; r < nq; r++)
        for (size_t j = 0; j < nr; j++)
            acc[r][j] = C_ZERO();
    const size_t step = bf16 ? 2 * CW : CW;
    size_t i = 0;
    for (; i + step <= dim; i += step) {
        if (bf16) {
#ifdef C_BF16_DP
            CVB qw[VS_COMPACT_QUERIES];
            for (size_t r = 0; r < nq; r++)
                qw[r] = C_BF16_QUERY(queries[r] + i);
            for (size_t j = 0; j < nr; j++) {
                const CVI w = C_LOADW(row0 + j * dim + i);
                for (size_t r = 0; r < nq; r++)
                    acc[r][j] = C_BF16_DP(acc[r][j], qw[r], w);
            }
            continue;
#endif
            for (size_t j = 0; j < nr; j++) {
                const CVI w = C_LOADW(row0 + j * dim + i);
                const CV even = C_BF16_EVEN(w), odd = C_BF16_ODD(w);
                for (size_t r = 0; r < nq; r++) {
                    acc[r][j] = C_FMA(C_LOADQ(queries[r] + i), even, acc[r][j]);
                    acc[r][j] = C_FMA(C_LOADQ(queries[r] + i + CW), odd, acc[r][j]);
                }
            }
            continue;
        }
        CV x[C_TILE_MAX];
        for (size_t j = 0; j < nr; j++)
            x[j] = C_LOAD_F16(row0 + j * dim + i);
        for (size_t r = 0; r < nq; r++) {
            const CV q = C_LOADQ(queries[r] + i);
            for (size_t j = 0; j < nr; j++)
                acc[r][j] = C_FMA(q, x[j], acc[r][j]);
        }
    }
    for (size_t r = 0; r < nq; r++)
        for (size_t j = 0; j < nr; j++) {
            const uint16_t *row = row0 + j * dim;
            float sum = C_HSUM(acc[r][j]);
            for (size_t t = i; t < dim; t++)
                sum = fmaf(queries[r][t],
                           bf16 ? vs__compact_bf16_to_f32(row[t]) : vs__compact_f16_to_f32(row[t]),
                           sum);
            out[r * ldo + j] = sum;
        }
}

/* Every stored row in tiles of nr, the last ones one at a time. */
static inline __attribute__((always_inline)) void
half_span(const float *const *queries, const size_t nq, const size_t nr, const uint16_t *stored,
          size_t count, size_t dim, float *out, size_t ldo, const int bf16) {
    size_t j = 0;
    for (; j + nr <= count; j += nr)
        half_tile(queries, nq, stored + j * dim, nr, dim, out + j, ldo, bf16);
    for (; j < count; j++)
        half_tile(queries, nq, stored + j * dim, 1, dim, out + j, ldo, bf16);
}

/* One step of one query against one stored row at dim i, into acc. */
static inline __attribute__((always_inline)) CV half_step(const float *query, const uint16_t *row,
                                                          size_t i, CV acc, const int bf16) {
    if (bf16) {
#ifdef C_BF16_DP
        return C_BF16_DP(acc, C_BF16_QUERY(query + i), C_LOADW(row + i));
#else
        const CVI w = C_LOADW(row + i);
        acc = C_FMA(C_LOADQ(query + i), C_BF16_EVEN(w), acc);
        return C_FMA(C_LOADQ(query + i + CW), C_BF16_ODD(w), acc);
#endif
    }
    return C_FMA(C_LOADQ(query + i), C_LOAD_F16(row + i), acc);
}

/*
 * One query against `count` stored rows, one row after another (see above):
 * out[j] the sum, bit j of the result set when !(out[j] < threshold).
 */
static inline __attribute__((always_inline)) uint64_t
half_row1(const float *query, const uint16_t *stored, size_t count, size_t dim, float *out,
          float threshold, const int bf16) {
    const size_t step = bf16 ? 2 * CW : CW;
    uint64_t keep = 0;
    for (size_t j = 0; j < count; j++) {
        const uint16_t *row = stored + j * dim;
        CV acc[C_ROW1_ACC];
        for (size_t a = 0; a < C_ROW1_ACC; a++)
            acc[a] = C_ZERO();
        size_t i = 0;
        for (; i + C_ROW1_ACC * step <= dim; i += C_ROW1_ACC * step)
            for (size_t a = 0; a < C_ROW1_ACC; a++)
                acc[a] = half_step(query, row, i + a * step, acc[a], bf16);
        for (size_t a = 0; a < C_ROW1_ACC && i + step <= dim; a++, i += step)
            acc[a] = half_step(query, row, i, acc[a], bf16);
        float sum = C_HSUM(C_ADD(C_ADD(acc[0], acc[1]), C_ADD(acc[2], acc[3])));
        for (size_t t = i; t < dim; t++)
            sum =
                fmaf(query[t],
                     bf16 ? vs__compact_bf16_to_f32(row[t]) : vs__compact_f16_to_f32(row[t]), sum);
        out[j] = sum;
        keep |= (uint64_t) !(sum < threshold) << j;
    }
    return keep;
}

/* float16 (bf16 = 0) or bfloat16 (bf16 = 1) rows; bf16 is a constant at each call. */
static inline __attribute__((always_inline)) void
compact_half_rows(const float *const *queries, size_t rows, const uint16_t *stored, size_t count,
                  size_t dim, float *out, size_t ldo, const int bf16) {
    switch (rows) {
    case 1:
        for (size_t j0 = 0; j0 < count; j0 += VS_COMPACT_SCAN1_ROWS)
            half_row1(queries[0], stored + j0 * dim,
                      count - j0 < VS_COMPACT_SCAN1_ROWS ? count - j0 : VS_COMPACT_SCAN1_ROWS, dim,
                      out + j0, -INFINITY, bf16);
        break;
    case 2: half_span(queries, 2, 4, stored, count, dim, out, ldo, bf16); break;
    case 3: half_span(queries, 3, 2, stored, count, dim, out, ldo, bf16); break;
    default: half_span(queries, 4, 2, stored, count, dim, out, ldo, bf16); break;
    }
}

/* One int8 tile: exact sums, int32 lanes widened to int64 every VS_COMPACT_I8_BLOCK dims. */
static inline __attribute__((always_inline)) void i8_tile(const int16_t *const *queries,
                                                          const size_t nq, const int8_t *row0,
                                                          const size_t nr, size_t dim, int64_t *out,
                                                          size_t ldo) {
    int64_t total[VS_COMPACT_QUERIES][C_TILE_MAX];
    for (size_t r = 0; r < nq; r++)
        for (size_t j = 0; j < nr; j++)
            total[r][j] = 0;
    size_t i = 0;
    while (i + CIW <= dim) {
        const size_t block_end = i + VS_COMPACT_I8_BLOCK < dim ? i + VS_COMPACT_I8_BLOCK : dim;
        CVI acc[VS_COMPACT_QUERIES][C_TILE_MAX];
        for (size_t r = 0; r < nq; r++)
            for (size_t j = 0; j < nr; j++)
                acc[r][j] = C_ZEROI();
        for (; i + CIW <= block_end; i += CIW) {
            CVI x[C_TILE_MAX];
            for (size_t j = 0; j < nr; j++)
                x[j] = C_I8_WIDEN(row0 + j * dim + i);
            for (size_t r = 0; r < nq; r++) {
                const CVI q = C_LOADQI(queries[r] + i);
                for (size_t j = 0; j < nr; j++)
                    acc[r][j] = C_MADD_ADD(acc[r][j], x[j], q);
            }
        }
        for (size_t r = 0; r < nq; r++)
            for (size_t j = 0; j < nr; j++)
                total[r][j] += C_HSUM_I32(acc[r][j]);
    }
    for (size_t r = 0; r < nq; r++)
        for (size_t j = 0; j < nr; j++) {
            const int8_t *row = row0 + j * dim;
            for (size_t t = i; t < dim; t++)
                total[r][j] += (int32_t)queries[r][t] * row[t];
            out[r * ldo + j] = total[r][j];
        }
}

static inline __attribute__((always_inline)) void i8_span(const int16_t *const *queries,
                                                          const size_t nq, const size_t nr,
                                                          const int8_t *stored, size_t count,
                                                          size_t dim, int64_t *out, size_t ldo) {
    size_t j = 0;
    for (; j + nr <= count; j += nr)
        i8_tile(queries, nq, stored + j * dim, nr, dim, out + j, ldo);
    for (; j < count; j++)
        i8_tile(queries, nq, stored + j * dim, 1, dim, out + j, ldo);
}

/* One query against `count` int8 rows, one after another: exact, as i8_tile; the mask as half_row1.
 */
static inline __attribute__((always_inline)) uint64_t i8_row1(const int16_t *query,
                                                              const int8_t *stored, size_t count,
                                                              size_t dim, int64_t *out,
                                                              int64_t threshold) {
    uint64_t keep = 0;
    for (size_t j = 0; j < count; j++) {
        const int8_t *row = stored + j * dim;
        int64_t total = 0;
        size_t i = 0;
        while (i + CIW <= dim) {
            /* the accumulators' lanes together hold one block's products, as i8_tile's one */
            const size_t block_end = i + VS_COMPACT_I8_BLOCK < dim ? i + VS_COMPACT_I8_BLOCK : dim;
            CVI acc[C_ROW1_ACC];
            for (size_t a = 0; a < C_ROW1_ACC; a++)
                acc[a] = C_ZEROI();
            for (; i + C_ROW1_ACC * CIW <= block_end; i += C_ROW1_ACC * CIW)
                for (size_t a = 0; a < C_ROW1_ACC; a++)
                    acc[a] = C_MADD_ADD(acc[a], C_I8_WIDEN(row + i + a * CIW),
                                        C_LOADQI(query + i + a * CIW));
            for (size_t a = 0; a < C_ROW1_ACC && i + CIW <= block_end; a++, i += CIW)
                acc[a] = C_MADD_ADD(acc[a], C_I8_WIDEN(row + i), C_LOADQI(query + i));
            total += C_HSUM_I32(C_ADDI(C_ADDI(acc[0], acc[1]), C_ADDI(acc[2], acc[3])));
        }
        for (size_t t = i; t < dim; t++)
            total += (int32_t)query[t] * row[t];
        out[j] = total;
        keep |= (uint64_t) !(total < threshold) << j;
    }
    return keep;
}

/* int8 rows against int16 queries, exact. */
static inline void compact_i8_rows(const int16_t *const *queries, size_t rows, const int8_t *stored,
                                   size_t count, size_t dim, int64_t *out, size_t ldo) {
    switch (rows) {
    case 1:
        for (size_t j0 = 0; j0 < count; j0 += VS_COMPACT_SCAN1_ROWS)
            i8_row1(queries[0], stored + j0 * dim,
                    count - j0 < VS_COMPACT_SCAN1_ROWS ? count - j0 : VS_COMPACT_SCAN1_ROWS, dim,
                    out + j0, INT64_MIN);
        break;
    case 2: i8_span(queries, 2, 4, stored, count, dim, out, ldo); break;
    case 3: i8_span(queries, 3, 2, stored, count, dim, out, ldo); break;
    default: i8_span(queries, 4, 2, stored, count, dim, out, ldo); break;
    }
}

#endif /* VS_CPU_COMPACT_BODY_H */
