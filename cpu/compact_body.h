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
 *   C_PREFETCH(p)      prefetch one cache line into L1
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
 * Register tiles: a call scores `rows` queries (1..VS_COMPACT_QUERIES)
 * against `count` stored rows, in tiles of rows x T stored rows (T = 8, 4, 2,
 * 2 for 1, 2, 3, 4 queries: at most 8 accumulators), so each stored row is
 * decoded once per tile and used for every query of the call, and each query
 * vector loaded once per step is used for every row of the tile. Every
 * (query, row) pair has one accumulator, stepped over the dims in the same
 * order whatever the tile, then the same horizontal sum and the same scalar
 * tail: a pair's sum does not depend on the tile, the call's other queries or
 * rows, hence not on how the host splits the work between threads. With one
 * query (the memory-bound shape) the next tile's bytes are prefetched while
 * this one is scanned.
 */
#ifndef VS_CPU_COMPACT_BODY_H
#define VS_CPU_COMPACT_BODY_H

#include <math.h>

#include "compact.h"

#define C_TILE_MAX 8 /* stored rows per tile, at most */
#ifndef C_MADD_ADD
#define C_MADD_ADD(acc, x, q) C_ADDI(acc, C_MADD(x, q))
#endif

/*
 * One tile: nq queries x nr stored rows from row0 (nq, nr constants after
 * inlining). float16: CW dims per step, widened by C_LOAD_F16. bfloat16: 2 CW
 * dims per step, one load giving the even dims (shift) and the odd ones
 * (mask), against queries permuted to match (bf16_pairs in compact.h).
 */
static inline __attribute__((always_inline)) void
half_tile(const float *const *queries, const size_t nq, const uint16_t *row0, const size_t nr,
          size_t dim, float *out, size_t ldo, const int bf16, const int prefetch) {
    CV acc[VS_COMPACT_QUERIES][C_TILE_MAX];
    for (size_t r = 0; r < nq; r++)
        for (size_t j = 0; j < nr; j++)
            acc[r][j] = C_ZERO();
    const size_t step = bf16 ? 2 * CW : CW;
    size_t i = 0;
    for (; i + step <= dim; i += step) {
        if (prefetch) /* the next tile (contiguous), as far into it as this step is into this one */
            for (size_t b = 0; b < nr * step * sizeof(uint16_t); b += 64)
                C_PREFETCH((const char *)(row0 + nr * dim + nr * i) + b);
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
    for (; j + 2 * nr <= count; j += nr)
        half_tile(queries, nq, stored + j * dim, nr, dim, out + j, ldo, bf16, nq == 1);
    for (; j + nr <= count; j += nr)
        half_tile(queries, nq, stored + j * dim, nr, dim, out + j, ldo, bf16, 0);
    for (; j < count; j++)
        half_tile(queries, nq, stored + j * dim, 1, dim, out + j, ldo, bf16, 0);
}

/* float16 (bf16 = 0) or bfloat16 (bf16 = 1) rows; bf16 is a constant at each call. */
static inline __attribute__((always_inline)) void
compact_half_rows(const float *const *queries, size_t rows, const uint16_t *stored, size_t count,
                  size_t dim, float *out, size_t ldo, const int bf16) {
    switch (rows) {
    case 1: half_span(queries, 1, 8, stored, count, dim, out, ldo, bf16); break;
    case 2: half_span(queries, 2, 4, stored, count, dim, out, ldo, bf16); break;
    case 3: half_span(queries, 3, 2, stored, count, dim, out, ldo, bf16); break;
    default: half_span(queries, 4, 2, stored, count, dim, out, ldo, bf16); break;
    }
}

/* One int8 tile: exact sums, int32 lanes widened to int64 every VS_COMPACT_I8_BLOCK dims. */
static inline __attribute__((always_inline)) void i8_tile(const int16_t *const *queries,
                                                          const size_t nq, const int8_t *row0,
                                                          const size_t nr, size_t dim, int64_t *out,
                                                          size_t ldo, const int prefetch) {
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
            if (prefetch)
                for (size_t b = 0; b < nr * CIW; b += 64)
                    C_PREFETCH((const char *)(row0 + nr * dim + nr * i) + b);
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
    for (; j + 2 * nr <= count; j += nr)
        i8_tile(queries, nq, stored + j * dim, nr, dim, out + j, ldo, nq == 1);
    for (; j + nr <= count; j += nr)
        i8_tile(queries, nq, stored + j * dim, nr, dim, out + j, ldo, 0);
    for (; j < count; j++)
        i8_tile(queries, nq, stored + j * dim, 1, dim, out + j, ldo, 0);
}

/* int8 rows against int16 queries, exact. */
static inline void compact_i8_rows(const int16_t *const *queries, size_t rows, const int8_t *stored,
                                   size_t count, size_t dim, int64_t *out, size_t ldo) {
    switch (rows) {
    case 1: i8_span(queries, 1, 8, stored, count, dim, out, ldo); break;
    case 2: i8_span(queries, 2, 4, stored, count, dim, out, ldo); break;
    case 3: i8_span(queries, 3, 2, stored, count, dim, out, ldo); break;
    default: i8_span(queries, 4, 2, stored, count, dim, out, ldo); break;
    }
}

#endif /* VS_CPU_COMPACT_BODY_H */
