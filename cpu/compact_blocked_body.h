/*
 * compact_blocked_body.h — the blocked compact kernels (cpu/compact.h, "The
 * blocked kernels"), written once and compiled inside each SIMD ISA file
 * (compact_blocked_avx2.c, compact_blocked_avx512.c) with that file's flags.
 * The including file defines, for its register width:
 *
 *   CBI                 integer vector type, CBW int32 lanes in it
 *   CB_ZEROI()          zero vector
 *   CB_LOADI(p)         CBW int32 (unaligned)
 *   CB_STOREI(p, v)     CBW int32 (unaligned)
 *   CB_BCAST32(p)       the int32 at p in every lane
 *   CB_MADD_ACC(acc, x, q)  acc + madd(x, q): the int16 pairs of x and q
 *                       multiplied and summed pairwise into int32 lanes, added
 *                       to acc (vpmaddwd + vpaddd; AVX512_VNNI: vpdpwssd)
 *   CB_ROW_STEP(lo, hi, x0, x1, p)  optional: one query's step, both
 *                       accumulators (default: CB_BCAST32 then two CB_MADD_ACC)
 *   CB_I8_PAIRS(row)    2 CBW stored int8 widened to int16, as CBW int32 pairs
 *   CB_PACK_HALF(src, dim, bf16, dst, nr)  optional: CBW rows (dim apart) x
 *                       CBW dims of halves at src, decoded and transposed to
 *                       dst[t * nr + j] (dim t, row j)
 *   CB_PACK_I8(src, dim, dst, nr)  optional: CBW rows x 2 CBW int8 dims at
 *                       src, widened and transposed to int32 pairs dst[t * nr + j]
 *   CB_PREFETCH(p)      with those two: prefetch the line at p (never faults)
 * (without the last two, the panels are packed by plain loops)
 *
 *   CB_PREFIX           the prefix of the exported names (vs__compact_avx2_)
 *   CB_NO_PACK          optional: export dot_i8_blocked only (a variant that
 *                       shares another file's packing, e.g. AVX512_VNNI's)
 *
 * and this file defines CB_PREFIX##pack_half, ##pack_i8 and
 * ##dot_i8_blocked (declared in compact.h) for the ISA's table, whose
 * i8_mr, i8_nr are CB_MR, CB_NR.
 *
 * The int8 tile: CB_MR queries x CB_NR = 2 CBW stored rows, 2 CB_MR int32
 * accumulators (12 on AVX2); a step is one pair of dims: two panel loads,
 * and per query one 32-bit broadcast of its pair and two madd-accumulates.
 * Every VS_COMPACT_I8_SLAB dims the lanes are added to int64 totals. The sums
 * are exact, so they equal the serial reference's whatever the order. With a
 * filter, each finished tile's totals are tested against it (cb_filter_tile).
 */
#ifndef VS_CPU_COMPACT_BLOCKED_BODY_H
#define VS_CPU_COMPACT_BLOCKED_BODY_H

#include <string.h>

#include "compact.h"

#ifndef CB_MR
#define CB_MR 6 /* queries per tile (the including file may choose fewer, at most 6) */
#endif
#define CB_NR (2 * CBW)
#define CB_SLAB_PAIRS (VS_COMPACT_I8_SLAB / 2)

_Static_assert(CB_MR <= VS_COMPACT_I8_MAX_MR, "the sliver fits the host's packing");

#ifndef CB_NO_PACK
/* float16 / bfloat16 rows into float32 panels of nr rows, dimension-major (bf16 a constant). */
static inline __attribute__((always_inline)) void cb_pack_half_kind(const uint16_t *stored,
                                                                    size_t count, size_t dim,
                                                                    const int bf16, size_t nr,
                                                                    float *panels) {
    const size_t whole = (count + nr - 1) / nr;
    for (size_t p = 0; p < whole; p++) {
        float *panel = panels + p * nr * dim;
        size_t j = 0;
#ifdef CB_PACK_HALF
        /* CBW rows x CBW dims at a time, transposed in registers */
        for (; j + CBW <= nr && p * nr + j + CBW <= count; j += CBW) {
            const uint16_t *row0 = stored + (p * nr + j) * dim;
            size_t d = 0;
            for (; d + CBW <= dim; d += CBW) {
                if (d % 32 == 0) /* the next block (the rows that follow), a line per row */
                    for (size_t t = 0; t < CBW; t++)
                        CB_PREFETCH(row0 + count * dim + t * dim + d);
                CB_PACK_HALF(row0 + d, dim, bf16, panel + d * nr + j, nr);
            }
            for (; d < dim; d++)
                for (size_t t = 0; t < CBW; t++) {
                    const uint16_t bits = row0[t * dim + d];
                    panel[d * nr + j + t] =
                        bf16 ? vs__compact_bf16_to_f32(bits) : vs__compact_f16_to_f32(bits);
                }
        }
#endif
        for (; j < nr; j++) {
            const size_t row = p * nr + j;
            for (size_t d = 0; d < dim; d++) {
                float value = 0;
                if (row < count) {
                    const uint16_t bits = stored[row * dim + d];
                    value = bf16 ? vs__compact_bf16_to_f32(bits) : vs__compact_f16_to_f32(bits);
                }
                panel[d * nr + j] = value;
            }
        }
    }
}

static void cb_pack_half(const uint16_t *stored, size_t count, size_t dim, int bf16, size_t nr,
                         float *panels) {
    if (bf16)
        cb_pack_half_kind(stored, count, dim, 1, nr, panels);
    else
        cb_pack_half_kind(stored, count, dim, 0, nr, panels);
}

/* int8 rows into int16 pair panels of CB_NR rows (cpu/compact.h). */
static void cb_pack_i8(const int8_t *stored, size_t count, size_t dim, int16_t *panels) {
    const size_t pairs = (dim + 1) / 2, whole = (count + CB_NR - 1) / CB_NR;
    for (size_t p = 0; p < whole; p++) {
        int16_t *panel = panels + p * CB_NR * 2 * pairs;
        size_t j = 0;
#ifdef CB_PACK_I8
        for (; j + CBW <= CB_NR && p * CB_NR + j + CBW <= count; j += CBW) {
            const int8_t *row0 = stored + (p * CB_NR + j) * dim;
            size_t d = 0;
            for (; d + 2 * CBW <= dim; d += 2 * CBW) {
                if (d % 64 == 0) /* the next block (the rows that follow), a line per row */
                    for (size_t t = 0; t < CBW; t++)
                        CB_PREFETCH(row0 + count * dim + t * dim + d);
                CB_PACK_I8(row0 + d, dim, (int32_t *)(void *)(panel + (d / 2 * CB_NR + j) * 2),
                           CB_NR);
            }
            for (; d < 2 * pairs; d++)
                for (size_t t = 0; t < CBW; t++)
                    panel[((d / 2) * CB_NR + j + t) * 2 + d % 2] =
                        (int16_t)(d < dim ? row0[t * dim + d] : 0);
        }
#endif
        for (; j < CB_NR; j++) {
            const size_t row = p * CB_NR + j;
            for (size_t d = 0; d < 2 * pairs; d++)
                panel[((d / 2) * CB_NR + j) * 2 + d % 2] =
                    (int16_t)(row < count && d < dim ? stored[row * dim + d] : 0);
        }
    }
}

#endif /* CB_NO_PACK */

#define CB_ACC(r) CBI lo##r = CB_ZEROI(), hi##r = CB_ZEROI();
#ifndef CB_ROW_STEP
#define CB_ROW_STEP(lo, hi, x0, x1, p)                                                             \
    do {                                                                                           \
        const CBI q = CB_BCAST32(p);                                                               \
        (lo) = CB_MADD_ACC(lo, x0, q);                                                             \
        (hi) = CB_MADD_ACC(hi, x1, q);                                                             \
    } while (0)
#endif
#define CB_STEP(r)                                                                                 \
    if (rows > (r)) CB_ROW_STEP(lo##r, hi##r, x0, x1, pair + (r));
#define CB_FLUSH(r)                                                                                \
    if (rows > (r)) {                                                                              \
        int32_t lanes[CB_NR];                                                                      \
        CB_STOREI(lanes, lo##r);                                                                   \
        CB_STOREI(lanes + CBW, hi##r);                                                             \
        for (size_t j = 0; j < CB_NR; j++)                                                         \
            total[(r)*CB_NR + j] += lanes[j];                                                      \
    }

/*
 * One slab of at most CB_SLAB_PAIRS pairs [p0, p1) of a tile: a sliver of
 * `rows` (<= CB_MR) queries x one panel, added to total (CB_MR x CB_NR int64).
 * The accumulators live in this function only, so gcc keeps them in
 * registers (held across the slab loop they were spilled to the stack).
 */
static inline __attribute__((always_inline)) void cb_slab(const int32_t *sliver, const int rows,
                                                          const int16_t *panel, size_t p0,
                                                          size_t p1, int64_t *total) {
    CB_ACC(0) CB_ACC(1) CB_ACC(2) CB_ACC(3) CB_ACC(4) CB_ACC(5);
    for (size_t p = p0; p < p1; p++) {
        const CBI x0 = CB_LOADI(panel + p * CB_NR * 2);
        const CBI x1 = CB_LOADI(panel + p * CB_NR * 2 + 2 * CBW);
        const int32_t *pair = sliver + p * (size_t)rows;
        CB_STEP(0) CB_STEP(1) CB_STEP(2) CB_STEP(3) CB_STEP(4) CB_STEP(5)
    }
    CB_FLUSH(0) CB_FLUSH(1) CB_FLUSH(2) CB_FLUSH(3) CB_FLUSH(4) CB_FLUSH(5)
}

/* One slab of a sliver of `rows` queries (the tile's row count as a constant). */
static void cb_slab_rows(const int32_t *sliver, size_t rows, const int16_t *panel, size_t p0,
                         size_t p1, int64_t *total) {
    switch (rows) {
    case 1: cb_slab(sliver, 1, panel, p0, p1, total); break;
    case 2: cb_slab(sliver, 2, panel, p0, p1, total); break;
    case 3: cb_slab(sliver, 3, panel, p0, p1, total); break;
    case 4: cb_slab(sliver, 4, panel, p0, p1, total); break;
    case 5: cb_slab(sliver, 5, panel, p0, p1, total); break;
    default: cb_slab(sliver, 6, panel, p0, p1, total); break;
    }
}

/*
 * The fused threshold on one finished tile (cpu/compact.h vs__compact_filter):
 * queries q0 .. q0 + rows, stored rows c0 .. c0 + cols of the call.
 */
static inline __attribute__((always_inline)) void cb_filter_tile(const vs__compact_filter *filter,
                                                                 const int64_t *total, size_t q0,
                                                                 size_t rows, size_t c0,
                                                                 size_t cols) {
    const float *factor = filter->factor + c0;
    for (size_t r = 0; r < rows; r++) {
        const float threshold = filter->threshold[q0 + r];
        uint32_t hits = 0;
        for (size_t j = 0; j < cols; j++)
            hits += !((float)total[r * CB_NR + j] * factor[j] < threshold);
        filter->hits[q0 + r] += hits;
    }
}

/* Slivers whose int64 totals a panel's slab loop carries (bounds the stack: 12 KiB on AVX2). */
#define CB_GROUP 16

/*
 * Every sliver of the job against every panel, in groups of CB_GROUP slivers:
 * for each panel, slab by slab (VS_COMPACT_I8_SLAB dims), every sliver of the
 * group runs over the slab, which stays in L1 (16 KiB of int16 pairs on AVX2)
 * while they pass; each sliver's sums are carried in its int64 totals.
 */
static void cb_dot_i8_blocked(const int32_t *qpack, size_t nq, const int16_t *panels, size_t count,
                              size_t dim, const vs__compact_filter *filter, int64_t *out,
                              size_t ldo) {
    const size_t pairs = (dim + 1) / 2, slivers = (nq + CB_MR - 1) / CB_MR;
    int64_t totals[CB_GROUP][CB_MR * CB_NR];
    for (size_t p = 0; p * CB_NR < count; p++) {
        const int16_t *panel = panels + p * CB_NR * 2 * pairs;
        const size_t cols = count - p * CB_NR < CB_NR ? count - p * CB_NR : CB_NR;
        for (size_t g0 = 0; g0 < slivers; g0 += CB_GROUP) {
            const size_t g1 = slivers - g0 < CB_GROUP ? slivers : g0 + CB_GROUP;
            memset(totals, 0, (g1 - g0) * sizeof(totals[0]));
            for (size_t p0 = 0; p0 < pairs; p0 += CB_SLAB_PAIRS) {
                const size_t p1 = pairs - p0 < CB_SLAB_PAIRS ? pairs : p0 + CB_SLAB_PAIRS;
                for (size_t s = g0; s < g1; s++) {
                    const size_t rows = nq - s * CB_MR < CB_MR ? nq - s * CB_MR : CB_MR;
                    cb_slab_rows(qpack + s * CB_MR * pairs, rows, panel, p0, p1, totals[s - g0]);
                }
            }
            for (size_t s = g0; s < g1; s++) {
                const size_t rows = nq - s * CB_MR < CB_MR ? nq - s * CB_MR : CB_MR;
                const int64_t *total = totals[s - g0];
                if (filter != NULL) cb_filter_tile(filter, total, s * CB_MR, rows, p * CB_NR, cols);
                for (size_t r = 0; r < rows; r++)
                    memcpy(out + (s * CB_MR + r) * ldo + p * CB_NR, total + r * CB_NR,
                           cols * sizeof(int64_t));
            }
        }
    }
}

#define CB_CAT2(a, b) a##b
#define CB_CAT(a, b) CB_CAT2(a, b)

#ifndef CB_NO_PACK
void CB_CAT(CB_PREFIX, pack_half)(const uint16_t *stored, size_t count, size_t dim, int bf16,
                                  size_t nr, float *panels) {
    cb_pack_half(stored, count, dim, bf16, nr, panels);
}

void CB_CAT(CB_PREFIX, pack_i8)(const int8_t *stored, size_t count, size_t dim, int16_t *panels) {
    cb_pack_i8(stored, count, dim, panels);
}
#endif

void CB_CAT(CB_PREFIX, dot_i8_blocked)(const int32_t *qpack, size_t nq, const int16_t *panels,
                                       size_t count, size_t dim, const vs__compact_filter *filter,
                                       int64_t *out, size_t ldo) {
    cb_dot_i8_blocked(qpack, nq, panels, count, dim, filter, out, ldo);
}

#endif /* VS_CPU_COMPACT_BLOCKED_BODY_H */
