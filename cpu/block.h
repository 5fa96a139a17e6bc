/*
 * block.h — the macro-kernels and epilogue, written once and compiled inside
 * each ISA file (serial.c, avx2.c, avx512.c, neon.c), which first defines:
 *
 *   VS_BLOCK_MR, VS_BLOCK_NR         tile shape
 *   static void tile_kernel(...)     signature of vs__cpu_kernels.tile
 *   static void dot_rows_kernel(...) signature of vs__cpu_kernels.dot_rows
 *
 * and then includes this file, which defines block_packed_kernel and
 * block_rows_kernel for its table. Being compiled with the ISA's flags, the
 * epilogue loops below vectorise to that ISA.
 *
 * An ISA file may also define, before including this file,
 *
 *   VS_BLOCK_KC                      dimensions per slab (a multiple of 8)
 *   VS_BLOCK_GROUP_BYTES             packed query bytes a group may hold
 *   static void tile_more_kernel(...) the tile continued from the sums in out
 *   VS_ROW1_PANELS, static void row1_kernel(...)
 *                                    optional: one query against that many
 *                                    panels at once, for a batch of one query
 *
 * and block_packed_kernel then blocks along the dimension (see below): the
 * same sums in the same order, with the panel slab held in L1 while a group
 * of slivers passes over it.
 */
#ifndef VS_BLOCK_MR
#error "define VS_BLOCK_MR, VS_BLOCK_NR, tile_kernel and dot_rows_kernel before block.h"
#endif

#include <string.h>

#define VS_ROWS_COLS 64 /* candidates per dot_rows call */

/* Turns raw dot products in tile rows into scores (in place). */
static inline void transform_rows(const vs__epilogue *epi, float *tile, size_t ldt, size_t q0,
                                  size_t rows, size_t c0, size_t cols) {
    if (epi->metric == VS_METRIC_DOT) return;
    const float *caux = epi->caux + (c0 - epi->caux_base);
    for (size_t r = 0; r < rows; r++) {
        float *row = tile + r * ldt;
        const float qaux = epi->qaux[q0 + r];
        if (epi->metric == VS_METRIC_COSINE) {
            for (size_t j = 0; j < cols; j++) {
                float s = row[j] * qaux * caux[j];
                s = (qaux == 0.0f || caux[j] == 0.0f) ? 0.0f : s;
                s = s > 1.0f ? 1.0f : s;
                s = s < -1.0f ? -1.0f : s;
                row[j] = s;
            }
        } else {
            for (size_t j = 0; j < cols; j++) {
                float d = (qaux + caux[j]) - 2.0f * row[j];
                row[j] = d < 0.0f ? 0.0f : d;
            }
        }
    }
}

/*
 * COSINE pairs with a candidate marked VS_CAUX_RESCUE (norm outside the safe
 * range, see kernels.h): the float32 dot may have underflowed or overflowed,
 * so the cosine is recomputed in float64 from the vectors. Query row r's
 * element d is at queries[r * query_next + d * query_step], candidate j's at
 * candidates[j * candidate_next + d * candidate_step].
 */
static void rescue_rows(const vs__epilogue *epi, float *tile, size_t ldt, size_t rows, size_t c0,
                        size_t cols, const float *queries, size_t query_step, size_t query_next,
                        const float *candidates, size_t candidate_step, size_t candidate_next,
                        size_t dim) {
    const float *caux = epi->caux + (c0 - epi->caux_base);
    for (size_t j = 0; j < cols; j++) {
        if (caux[j] != VS_CAUX_RESCUE) continue;
        for (size_t r = 0; r < rows; r++)
            tile[r * ldt + j] =
                vs__cosine_f64(queries + r * query_next, query_step,
                               candidates + j * candidate_next, candidate_step, dim);
    }
}

/* Delivers transformed tile rows: into the score matrix or the heaps. */
static inline void deliver_rows(const vs__epilogue *epi, float *tile, size_t ldt, size_t q0,
                                size_t rows, size_t c0, size_t cols) {
    if (epi->heaps == NULL) {
        for (size_t r = 0; r < rows; r++)
            memcpy(epi->scores + (q0 + r) * epi->ld + c0, tile + r * ldt, cols * sizeof(float));
        if (epi->pass_hits != NULL)
            for (size_t r = 0; r < rows; r++) {
                const float *row = tile + r * ldt, *factor = epi->pass_factor + c0;
                const float threshold = epi->pass_threshold[q0 + r];
                uint32_t hits = 0;
                for (size_t j = 0; j < cols; j++)
                    hits += !(row[j] * factor[j] < threshold);
                epi->pass_hits[q0 + r] += hits;
            }
        return;
    }
    const int negate = epi->metric == VS_METRIC_L2SQ;
    for (size_t r = 0; r < rows; r++) {
        float *row = tile + r * ldt;
        vs__heap *heap = &epi->heaps[q0 + r];
        if (negate)
            for (size_t j = 0; j < cols; j++)
                row[j] = -row[j];
        if (!heap->open) {
            const float threshold = heap->threshold;
            int any = 0;
            for (size_t j = 0; j < cols; j++)
                any |= row[j] > threshold;
            if (!any) continue;
        }
        for (size_t j = 0; j < cols; j++)
            vs__heap_push(heap, row[j], (int64_t)(c0 + j));
    }
}

/*
 * Finishes one packed tile (rows x cols raw dot products of sliver rows
 * against panel candidates, row stride VS_BLOCK_NR): metric transform, float64
 * rescue where marked, delivery.
 */
static inline void finish_packed_tile(const vs__epilogue *epi, float *tile, size_t qs, size_t rows,
                                      size_t cs, size_t cols, const float *sliver,
                                      const float *panel, size_t dim) {
    transform_rows(epi, tile, VS_BLOCK_NR, qs, rows, cs, cols);
    if (epi->rescue)
        rescue_rows(epi, tile, VS_BLOCK_NR, rows, cs, cols, sliver, rows, 1, panel, VS_BLOCK_NR, 1,
                    dim);
    deliver_rows(epi, tile, VS_BLOCK_NR, qs, rows, cs, cols);
}

#ifndef VS_BLOCK_KC
static void block_packed_kernel(const vs__epilogue *epi, const float *qpack,
                                size_t qpack_sliver_stride, size_t q0, size_t nq,
                                const float *cpack, size_t c0, size_t nc, size_t dim) {
    float tile[VS_BLOCK_MR * VS_BLOCK_NR] __attribute__((aligned(64)));
    for (size_t s = 0; s * VS_BLOCK_MR < nq; s++) {
        size_t rows = nq - s * VS_BLOCK_MR;
        if (rows > VS_BLOCK_MR) rows = VS_BLOCK_MR;
        const float *sliver = qpack + s * qpack_sliver_stride;
        for (size_t p = 0; p * VS_BLOCK_NR < nc; p++) {
            size_t cols = nc - p * VS_BLOCK_NR;
            if (cols > VS_BLOCK_NR) cols = VS_BLOCK_NR;
            const float *panel = cpack + p * VS_BLOCK_NR * dim;
            tile_kernel(sliver, rows, panel, dim, tile);
            finish_packed_tile(epi, tile, q0 + s * VS_BLOCK_MR, rows, c0 + p * VS_BLOCK_NR, cols,
                               sliver, panel, dim);
        }
    }
}
#else
/* Most slivers in one group (bounds the tiles kept on the stack). */
#define VS_BLOCK_GROUP_MAX 16

/*
 * Dimension-blocked form. The slivers go by groups whose packed queries fit
 * VS_BLOCK_GROUP_BYTES (L2); for each panel, the dimension goes by slabs of
 * VS_BLOCK_KC, and every sliver of the group runs over one slab of the panel
 * (kept in L1) before the next slab, its sums carried in its own tile. A
 * sliver's slab is contiguous (element (r, d) at sliver[d * rows + r]) and so
 * is a panel's (panel[d * nr + j]), so nothing is repacked. Each sum is still
 * one FMA chain over d = 0 .. dim-1 in order, so scores are bit-identical to
 * the unblocked kernel's; each query's heap still receives the panels in
 * candidate order.
 */
static void block_packed_kernel(const vs__epilogue *epi, const float *qpack,
                                size_t qpack_sliver_stride, size_t q0, size_t nq,
                                const float *cpack, size_t c0, size_t nc, size_t dim) {
    float tiles[VS_BLOCK_GROUP_MAX][VS_BLOCK_MR * VS_BLOCK_NR] __attribute__((aligned(64)));
#ifdef VS_ROW1_PANELS
    if (nq == 1) {
        /* One query: VS_ROW1_PANELS panels at a time, delivered in panel order. */
        _Static_assert(VS_ROW1_PANELS <= VS_BLOCK_MR, "the row tiles fit in one tile");
        float *row = tiles[0];
        const size_t panels = (nc + VS_BLOCK_NR - 1) / VS_BLOCK_NR;
        for (size_t p0 = 0; p0 < panels; p0 += VS_ROW1_PANELS) {
            const size_t np = panels - p0 < VS_ROW1_PANELS ? panels - p0 : VS_ROW1_PANELS;
            row1_kernel(qpack, cpack + p0 * VS_BLOCK_NR * dim, np, dim, row);
            for (size_t i = 0; i < np; i++) {
                const size_t cs = c0 + (p0 + i) * VS_BLOCK_NR;
                size_t cols = nc - (p0 + i) * VS_BLOCK_NR;
                if (cols > VS_BLOCK_NR) cols = VS_BLOCK_NR;
                finish_packed_tile(epi, row + i * VS_BLOCK_NR, q0, 1, cs, cols, qpack,
                                   cpack + (p0 + i) * VS_BLOCK_NR * dim, dim);
            }
        }
        return;
    }
#endif
    const size_t slivers = (nq + VS_BLOCK_MR - 1) / VS_BLOCK_MR;
    size_t group = VS_BLOCK_GROUP_BYTES / (VS_BLOCK_MR * dim * sizeof(float));
    if (group < 1) group = 1;
    if (group > VS_BLOCK_GROUP_MAX) group = VS_BLOCK_GROUP_MAX;
    /*
     * Groups of even size (differing by one at most, none above group): a
     * short last group would read every panel again for a few slivers.
     */
    const size_t groups = (slivers + group - 1) / group;
    for (size_t gi = 0; gi < groups; gi++) {
        const size_t g0 = gi * slivers / groups, g1 = (gi + 1) * slivers / groups;
        for (size_t p = 0; p * VS_BLOCK_NR < nc; p++) {
            size_t cols = nc - p * VS_BLOCK_NR;
            if (cols > VS_BLOCK_NR) cols = VS_BLOCK_NR;
            const float *panel = cpack + p * VS_BLOCK_NR * dim;
            for (size_t k0 = 0; k0 < dim; k0 += VS_BLOCK_KC) {
                const size_t kn = dim - k0 < VS_BLOCK_KC ? dim - k0 : VS_BLOCK_KC;
                for (size_t s = g0; s < g1; s++) {
                    size_t rows = nq - s * VS_BLOCK_MR;
                    if (rows > VS_BLOCK_MR) rows = VS_BLOCK_MR;
                    const float *sliver = qpack + s * qpack_sliver_stride + k0 * rows;
                    if (k0 == 0)
                        tile_kernel(sliver, rows, panel, kn, tiles[s - g0]);
                    else
                        tile_more_kernel(sliver, rows, panel + k0 * VS_BLOCK_NR, kn, tiles[s - g0]);
                }
            }
            for (size_t s = g0; s < g1; s++) {
                size_t rows = nq - s * VS_BLOCK_MR;
                if (rows > VS_BLOCK_MR) rows = VS_BLOCK_MR;
                const float *sliver = qpack + s * qpack_sliver_stride;
                finish_packed_tile(epi, tiles[s - g0], q0 + s * VS_BLOCK_MR, rows,
                                   c0 + p * VS_BLOCK_NR, cols, sliver, panel, dim);
            }
        }
    }
}
#endif

static void block_rows_kernel(const vs__epilogue *epi, const float *queries, size_t q0, size_t nq,
                              const float *candidates, size_t c0, size_t nc, size_t dim) {
    float tile[VS_ROWS_BLOCK * VS_ROWS_COLS] __attribute__((aligned(64)));
    for (size_t cb = 0; cb < nc; cb += VS_ROWS_COLS) {
        size_t cols = nc - cb < VS_ROWS_COLS ? nc - cb : VS_ROWS_COLS;
        for (size_t qb = 0; qb < nq; qb += VS_ROWS_BLOCK) {
            size_t rows = nq - qb < VS_ROWS_BLOCK ? nq - qb : VS_ROWS_BLOCK;
            dot_rows_kernel(queries + qb * dim, rows, candidates + cb * dim, cols, dim, tile,
                            VS_ROWS_COLS);
            transform_rows(epi, tile, VS_ROWS_COLS, q0 + qb, rows, c0 + cb, cols);
            if (epi->rescue)
                rescue_rows(epi, tile, VS_ROWS_COLS, rows, c0 + cb, cols, queries + qb * dim, 1,
                            dim, candidates + cb * dim, 1, dim, dim);
            deliver_rows(epi, tile, VS_ROWS_COLS, q0 + qb, rows, c0 + cb, cols);
        }
    }
}
