/*
 * neon.c — AArch64 Advanced SIMD (NEON) kernels (compiled with
 * -march=armv8-a+simd, chosen at run time when getauxval(AT_HWCAP) reports
 * FP and ASIMD; see dispatch.c).
 *
 * tile: 12 queries x 8 candidates held in 24 of the 32 vector registers over
 * the whole dimension. Per dimension step: two panel loads (8 candidates),
 * three loads of 4 query values each, and 24 FMLA-by-element, so a query
 * value is used straight from its lane, with no broadcast. That leaves 29
 * registers live, so nothing spills.
 *
 * dot: 8 four-lane accumulators along the dimension. dot_rows: up to
 * 4 queries x 4 candidates in 16 accumulators along the dimension.
 *
 * Tails are loaded lane by lane (load_f32x4_partial), so a kernel never reads
 * a float past the end of a row or sliver. Loads are vld1q (no alignment
 * needed). There is no software prefetch (the x86 files have one): the panel
 * stream is sequential, left to the hardware prefetchers until someone
 * measures on ARM hardware that a PRFM helps.
 */
#include <arm_neon.h>

#include "kernels.h"

#if !defined(__ARM_NEON) || !defined(__aarch64__)
#error "cpu/neon.c is AArch64 Advanced SIMD code: build it for aarch64 with +simd"
#endif

#define VS_BLOCK_MR 12
#define VS_BLOCK_NR 8
#define VS_ALWAYS_INLINE inline __attribute__((always_inline))

/* count (1..4) floats from p into the low lanes, zeros above; reads count floats only. */
static VS_ALWAYS_INLINE float32x4_t load_f32x4_partial(const float *p, size_t count) {
    float32x4_t v = vdupq_n_f32(0.0f);
    v = vld1q_lane_f32(p, v, 0);
    if (count > 1) v = vld1q_lane_f32(p + 1, v, 1);
    if (count > 2) v = vld1q_lane_f32(p + 2, v, 2);
    if (count > 3) v = vld1q_lane_f32(p + 3, v, 3);
    return v;
}

static float dot_kernel(const float *a, const float *b, size_t dim) {
    float32x4_t sum_f32x4[8];
    for (int l = 0; l < 8; l++)
        sum_f32x4[l] = vdupq_n_f32(0.0f);
    size_t d = 0;
    for (; d + 32 <= dim; d += 32)
        for (int l = 0; l < 8; l++)
            sum_f32x4[l] =
                vfmaq_f32(sum_f32x4[l], vld1q_f32(a + d + 4 * l), vld1q_f32(b + d + 4 * l));
    for (; d + 4 <= dim; d += 4)
        sum_f32x4[0] = vfmaq_f32(sum_f32x4[0], vld1q_f32(a + d), vld1q_f32(b + d));
    if (d < dim)
        sum_f32x4[1] = vfmaq_f32(sum_f32x4[1], load_f32x4_partial(a + d, dim - d),
                                 load_f32x4_partial(b + d, dim - d));
    /* Tree reduction (no loop: see VS_TILE_ROWS), then the four lanes (faddp). */
    const float32x4_t sum_lo =
        vaddq_f32(vaddq_f32(sum_f32x4[0], sum_f32x4[4]), vaddq_f32(sum_f32x4[2], sum_f32x4[6]));
    const float32x4_t sum_hi =
        vaddq_f32(vaddq_f32(sum_f32x4[1], sum_f32x4[5]), vaddq_f32(sum_f32x4[3], sum_f32x4[7]));
    return vaddvq_f32(vaddq_f32(sum_lo, sum_hi));
}

/* rows x cols dot products with rows, cols compile-time after inlining. */
static VS_ALWAYS_INLINE void dot_rows_fixed(const float *queries, const int rows,
                                            const float *candidates, const int cols, size_t dim,
                                            float *out, size_t ldo) {
    float32x4_t acc[VS_ROWS_BLOCK][4];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            acc[r][c] = vdupq_n_f32(0.0f);
    size_t d = 0;
    for (; d + 4 <= dim; d += 4) {
        float32x4_t cand[4];
        for (int c = 0; c < cols; c++)
            cand[c] = vld1q_f32(candidates + c * dim + d);
        for (int r = 0; r < rows; r++) {
            const float32x4_t query = vld1q_f32(queries + r * dim + d);
            for (int c = 0; c < cols; c++)
                acc[r][c] = vfmaq_f32(acc[r][c], query, cand[c]);
        }
    }
    if (d < dim) {
        float32x4_t cand[4];
        for (int c = 0; c < cols; c++)
            cand[c] = load_f32x4_partial(candidates + c * dim + d, dim - d);
        for (int r = 0; r < rows; r++) {
            const float32x4_t query = load_f32x4_partial(queries + r * dim + d, dim - d);
            for (int c = 0; c < cols; c++)
                acc[r][c] = vfmaq_f32(acc[r][c], query, cand[c]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            out[r * ldo + c] = vaddvq_f32(acc[r][c]);
}

#define VS_ROWS_CASES(cols)                                                                        \
    switch (rows) {                                                                                \
    case 1: dot_rows_fixed(queries, 1, cand, cols, dim, out + c, ldo); break;                      \
    case 2: dot_rows_fixed(queries, 2, cand, cols, dim, out + c, ldo); break;                      \
    case 3: dot_rows_fixed(queries, 3, cand, cols, dim, out + c, ldo); break;                      \
    default: dot_rows_fixed(queries, 4, cand, cols, dim, out + c, ldo); break;                     \
    }

static void dot_rows_kernel(const float *queries, size_t rows, const float *candidates, size_t cols,
                            size_t dim, float *out, size_t ldo) {
    size_t c = 0;
    for (; c + 4 <= cols; c += 4) {
        const float *cand = candidates + c * dim;
        VS_ROWS_CASES(4)
    }
    if (c + 2 <= cols) { /* keeps 8 accumulators in flight for a short remainder */
        const float *cand = candidates + c * dim;
        VS_ROWS_CASES(2)
        c += 2;
    }
    if (c < cols) {
        const float *cand = candidates + c * dim;
        VS_ROWS_CASES(1)
    }
}

/* The query lane's FMAs into both halves of its row of the tile, if the row exists. */
#define VS_TILE_LANE(group, lane)                                                                  \
    if (4 * (group) + (lane) < rows) {                                                             \
        lo[4 * (group) + (lane)] =                                                                 \
            vfmaq_laneq_f32(lo[4 * (group) + (lane)], panel_lo, query_f32x4, lane);                \
        hi[4 * (group) + (lane)] =                                                                 \
            vfmaq_laneq_f32(hi[4 * (group) + (lane)], panel_hi, query_f32x4, lane);                \
    }

/* Four query rows of one dimension step: one load (lane by lane when the sliver ends). */
#define VS_TILE_GROUP(group)                                                                       \
    if (4 * (group) < rows) {                                                                      \
        const float32x4_t query_f32x4 =                                                            \
            rows - 4 * (group) >= 4                                                                \
                ? vld1q_f32(query + 4 * (group))                                                   \
                : load_f32x4_partial(query + 4 * (group), (size_t)(rows - 4 * (group)));           \
        VS_TILE_LANE(group, 0)                                                                     \
        VS_TILE_LANE(group, 1)                                                                     \
        VS_TILE_LANE(group, 2)                                                                     \
        VS_TILE_LANE(group, 3)                                                                     \
    }

/* Row r's accumulators: zeroed, and stored to out, if the row exists. */
#define VS_TILE_ZERO(r)                                                                            \
    if ((r) < rows) lo[r] = hi[r] = vdupq_n_f32(0.0f);
#define VS_TILE_STORE(r)                                                                           \
    if ((r) < rows) {                                                                              \
        vst1q_f32(out + (r)*VS_BLOCK_NR, lo[r]);                                                   \
        vst1q_f32(out + (r)*VS_BLOCK_NR + 4, hi[r]);                                               \
    }
/* Written out rather than looped: gcc keeps the accumulator arrays in memory
 * (a store per FMA pair) when a loop over rows is left rolled. */
#define VS_TILE_ROWS(step)                                                                         \
    step(0) step(1) step(2) step(3) step(4) step(5) step(6) step(7) step(8) step(9) step(10)       \
        step(11)

static VS_ALWAYS_INLINE void tile_fixed(const float *qpack, const int rows, const float *cpack,
                                        size_t dim, float *out) {
    float32x4_t lo[VS_BLOCK_MR], hi[VS_BLOCK_MR];
    VS_TILE_ROWS(VS_TILE_ZERO)
    for (size_t d = 0; d < dim; d++) {
        const float32x4_t panel_lo = vld1q_f32(cpack + d * VS_BLOCK_NR);
        const float32x4_t panel_hi = vld1q_f32(cpack + d * VS_BLOCK_NR + 4);
        const float *query = qpack + d * rows;
        VS_TILE_GROUP(0)
        VS_TILE_GROUP(1)
        VS_TILE_GROUP(2)
    }
    VS_TILE_ROWS(VS_TILE_STORE)
}

static void tile_kernel(const float *qpack, size_t rows, const float *cpack, size_t dim,
                        float *out) {
    switch (rows) {
    case 1: tile_fixed(qpack, 1, cpack, dim, out); break;
    case 2: tile_fixed(qpack, 2, cpack, dim, out); break;
    case 3: tile_fixed(qpack, 3, cpack, dim, out); break;
    case 4: tile_fixed(qpack, 4, cpack, dim, out); break;
    case 5: tile_fixed(qpack, 5, cpack, dim, out); break;
    case 6: tile_fixed(qpack, 6, cpack, dim, out); break;
    case 7: tile_fixed(qpack, 7, cpack, dim, out); break;
    case 8: tile_fixed(qpack, 8, cpack, dim, out); break;
    case 9: tile_fixed(qpack, 9, cpack, dim, out); break;
    case 10: tile_fixed(qpack, 10, cpack, dim, out); break;
    case 11: tile_fixed(qpack, 11, cpack, dim, out); break;
    default: tile_fixed(qpack, 12, cpack, dim, out); break;
    }
}

#include "block.h"

const vs__cpu_kernels vs__kernels_neon = {
    .isa = "neon",
    .mr = VS_BLOCK_MR,
    .nr = VS_BLOCK_NR,
    .dot = dot_kernel,
    .dot_rows = dot_rows_kernel,
    .tile = tile_kernel,
    .block_packed = block_packed_kernel,
    .block_rows = block_rows_kernel,
};
