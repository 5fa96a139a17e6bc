/*
 * avx512.c — AVX-512F kernels (compiled with -mavx512f -mavx512dq -mfma).
 *
 * tile: 12 queries x 32 candidates held in 24 named zmm accumulators; per
 * dimension step two aligned panel loads and twelve broadcast FMA pairs. The
 * packed macro-kernel blocks the dimension in slabs (tile_more, block.h), and
 * one query runs 4 panels at once (row1). dot / dot_rows: 16-lane
 * accumulators along the dimension with a masked tail load (masked lanes are
 * never read). Intrinsics come through x86_simd.h, so the same source also
 * builds against SIMDe for the tests (docs/isa.md, "Testing AVX-512").
 */
#include "x86_simd.h"

#include "kernels.h"

#define VS_BLOCK_MR 12
#define VS_BLOCK_NR 32
#define VS_ALWAYS_INLINE inline __attribute__((always_inline))
/* Dimension steps ahead that the tile kernel prefetches its panel stream
 * (128 B a step): running past the panel end warms the next panel, which is
 * adjacent in a corpus and in a packed block. Prefetches never fault. */
#ifndef VS_PREFETCH_STEPS
#define VS_PREFETCH_STEPS 16
#endif
/*
 * Dimension blocking of the packed macro-kernel (block.h), as on AVX2: a
 * 128-dimension slab of a 32-candidate panel is 16 KiB, half of the smallest
 * L1d of AVX-512 cores (32 KiB; 48 KiB from Ice Lake and Zen 4), and a group
 * of slivers holds at most 384 KiB of packed queries (L2 is 1 MiB or more).
 * Not tuned on hardware: this machine has no AVX-512 (docs/isa.md).
 */
#ifndef VS_BLOCK_KC
#define VS_BLOCK_KC 128
#endif
#ifndef VS_BLOCK_GROUP_BYTES
#define VS_BLOCK_GROUP_BYTES ((size_t)384 << 10)
#endif

static float dot_kernel(const float *a, const float *b, size_t dim) {
    __m512 sum_f32x16[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                            _mm512_setzero_ps()};
    size_t d = 0;
    for (; d + 64 <= dim; d += 64)
        for (int l = 0; l < 4; l++)
            sum_f32x16[l] = _mm512_fmadd_ps(_mm512_loadu_ps(a + d + 16 * l),
                                            _mm512_loadu_ps(b + d + 16 * l), sum_f32x16[l]);
    for (; d + 16 <= dim; d += 16)
        sum_f32x16[0] =
            _mm512_fmadd_ps(_mm512_loadu_ps(a + d), _mm512_loadu_ps(b + d), sum_f32x16[0]);
    if (d < dim) {
        __mmask16 tail = (__mmask16)((1u << (dim - d)) - 1u);
        sum_f32x16[1] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a + d),
                                        _mm512_maskz_loadu_ps(tail, b + d), sum_f32x16[1]);
    }
    __m512 sum = _mm512_add_ps(_mm512_add_ps(sum_f32x16[0], sum_f32x16[1]),
                               _mm512_add_ps(sum_f32x16[2], sum_f32x16[3]));
    return _mm512_reduce_add_ps(sum);
}

/* rows x cols dot products with rows, cols compile-time after inlining. */
static VS_ALWAYS_INLINE void dot_rows_fixed(const float *queries, const int rows,
                                            const float *candidates, const int cols, size_t dim,
                                            float *out, size_t ldo) {
    __m512 acc[VS_ROWS_BLOCK][4];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            acc[r][c] = _mm512_setzero_ps();
    size_t d = 0;
    for (; d + 16 <= dim; d += 16) {
        __m512 cand[4];
        for (int c = 0; c < cols; c++)
            cand[c] = _mm512_loadu_ps(candidates + c * dim + d);
        for (int r = 0; r < rows; r++) {
            __m512 query = _mm512_loadu_ps(queries + r * dim + d);
            for (int c = 0; c < cols; c++)
                acc[r][c] = _mm512_fmadd_ps(query, cand[c], acc[r][c]);
        }
    }
    if (d < dim) {
        __mmask16 tail = (__mmask16)((1u << (dim - d)) - 1u);
        __m512 cand[4];
        for (int c = 0; c < cols; c++)
            cand[c] = _mm512_maskz_loadu_ps(tail, candidates + c * dim + d);
        for (int r = 0; r < rows; r++) {
            __m512 query = _mm512_maskz_loadu_ps(tail, queries + r * dim + d);
            for (int c = 0; c < cols; c++)
                acc[r][c] = _mm512_fmadd_ps(query, cand[c], acc[r][c]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            out[r * ldo + c] = _mm512_reduce_add_ps(acc[r][c]);
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
    for (; c < cols; c++) {
        const float *cand = candidates + c * dim;
        VS_ROWS_CASES(1)
    }
}

/*
 * The tile over dimensions [0, k) of a sliver and a panel: out holds the
 * 12 x 32 sums, started from zero (accumulate 0) or continued from what out
 * holds (accumulate 1), so a dimension split into slabs (block.h) gives the
 * sums of one pass, bit for bit. The 24 accumulators are named variables, not
 * an array, as in avx2.c: gcc keeps an array of vectors in registers but also
 * stores every element to the stack on each step.
 */
#define VS_ACC_ROW(r)                                                                              \
    __m512 lo##r = _mm512_setzero_ps(), hi##r = _mm512_setzero_ps();                               \
    if (rows > (r) && accumulate) {                                                                \
        lo##r = _mm512_load_ps(out + (r)*VS_BLOCK_NR);                                             \
        hi##r = _mm512_load_ps(out + (r)*VS_BLOCK_NR + 16);                                        \
    }
#define VS_FMA_ROW(r)                                                                              \
    if (rows > (r)) {                                                                              \
        const __m512 q = _mm512_set1_ps(query[r]);                                                 \
        lo##r = _mm512_fmadd_ps(q, panel_lo, lo##r);                                               \
        hi##r = _mm512_fmadd_ps(q, panel_hi, hi##r);                                               \
    }
#define VS_STORE_ROW(r)                                                                            \
    if (rows > (r)) {                                                                              \
        _mm512_store_ps(out + (r)*VS_BLOCK_NR, lo##r);                                             \
        _mm512_store_ps(out + (r)*VS_BLOCK_NR + 16, hi##r);                                        \
    }
#define VS_ROWS_0_11(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

static VS_ALWAYS_INLINE void tile_fixed(const float *qpack, const int rows, const float *cpack,
                                        size_t k, float *out, const int accumulate) {
    VS_ROWS_0_11(VS_ACC_ROW)
    for (size_t d = 0; d < k; d++) {
        const __m512 panel_lo = _mm512_load_ps(cpack + d * VS_BLOCK_NR);
        const __m512 panel_hi = _mm512_load_ps(cpack + d * VS_BLOCK_NR + 16);
        _mm_prefetch((const char *)(cpack + (d + VS_PREFETCH_STEPS) * VS_BLOCK_NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(cpack + (d + VS_PREFETCH_STEPS) * VS_BLOCK_NR + 16),
                     _MM_HINT_T0);
        const float *query = qpack + d * rows;
        VS_ROWS_0_11(VS_FMA_ROW)
    }
    VS_ROWS_0_11(VS_STORE_ROW)
}

#define VS_TILE_CASES(accumulate)                                                                  \
    switch (rows) {                                                                                \
    case 1: tile_fixed(qpack, 1, cpack, k, out, accumulate); break;                                \
    case 2: tile_fixed(qpack, 2, cpack, k, out, accumulate); break;                                \
    case 3: tile_fixed(qpack, 3, cpack, k, out, accumulate); break;                                \
    case 4: tile_fixed(qpack, 4, cpack, k, out, accumulate); break;                                \
    case 5: tile_fixed(qpack, 5, cpack, k, out, accumulate); break;                                \
    case 6: tile_fixed(qpack, 6, cpack, k, out, accumulate); break;                                \
    case 7: tile_fixed(qpack, 7, cpack, k, out, accumulate); break;                                \
    case 8: tile_fixed(qpack, 8, cpack, k, out, accumulate); break;                                \
    case 9: tile_fixed(qpack, 9, cpack, k, out, accumulate); break;                                \
    case 10: tile_fixed(qpack, 10, cpack, k, out, accumulate); break;                              \
    case 11: tile_fixed(qpack, 11, cpack, k, out, accumulate); break;                              \
    default: tile_fixed(qpack, 12, cpack, k, out, accumulate); break;                              \
    }

static void tile_kernel(const float *qpack, size_t rows, const float *cpack, size_t k, float *out) {
    VS_TILE_CASES(0)
}

/* tile_kernel continued: out already holds the sums over the dimensions before this slab. */
static void tile_more_kernel(const float *qpack, size_t rows, const float *cpack, size_t k,
                             float *out) {
    VS_TILE_CASES(1)
}

/*
 * One query against up to VS_ROW1_PANELS panels at once (block.h, a batch of
 * one query): out + i * VS_BLOCK_NR gets panel i's 32 sums, each the same FMA
 * chain over the whole dimension as tile_kernel's with rows 1. One panel
 * alone has 2 chains that wait on the FMA latency; 4 panels give 8.
 */
#define VS_ROW1_PANELS 4
#define VS_ROW1_ACC(i) __m512 lo##i = _mm512_setzero_ps(), hi##i = _mm512_setzero_ps();
#define VS_ROW1_FMA(i)                                                                             \
    if (panels > (i)) {                                                                            \
        const float *at = cpack + (i)*VS_BLOCK_NR * dim + d * VS_BLOCK_NR;                         \
        lo##i = _mm512_fmadd_ps(q, _mm512_load_ps(at), lo##i);                                     \
        hi##i = _mm512_fmadd_ps(q, _mm512_load_ps(at + 16), hi##i);                                \
        _mm_prefetch((const char *)(at + VS_PREFETCH_STEPS * VS_BLOCK_NR), _MM_HINT_T0);           \
        _mm_prefetch((const char *)(at + VS_PREFETCH_STEPS * VS_BLOCK_NR + 16), _MM_HINT_T0);      \
    }
#define VS_ROW1_STORE(i)                                                                           \
    if (panels > (i)) {                                                                            \
        _mm512_store_ps(out + (i)*VS_BLOCK_NR, lo##i);                                             \
        _mm512_store_ps(out + (i)*VS_BLOCK_NR + 16, hi##i);                                        \
    }
#define VS_PANELS_0_3(X) X(0) X(1) X(2) X(3)

static VS_ALWAYS_INLINE void row1_fixed(const float *query, const float *cpack, const int panels,
                                        size_t dim, float *out) {
    VS_PANELS_0_3(VS_ROW1_ACC)
    for (size_t d = 0; d < dim; d++) {
        const __m512 q = _mm512_set1_ps(query[d]);
        VS_PANELS_0_3(VS_ROW1_FMA)
    }
    VS_PANELS_0_3(VS_ROW1_STORE)
}

/* Panels at cpack, VS_BLOCK_NR * dim floats apart; panels <= VS_ROW1_PANELS. */
static void row1_kernel(const float *query, const float *cpack, size_t panels, size_t dim,
                        float *out) {
    switch (panels) {
    case 1: row1_fixed(query, cpack, 1, dim, out); break;
    case 2: row1_fixed(query, cpack, 2, dim, out); break;
    case 3: row1_fixed(query, cpack, 3, dim, out); break;
    default: row1_fixed(query, cpack, 4, dim, out); break;
    }
}

#include "block.h"

const vs__cpu_kernels vs__kernels_avx512 = {
    .isa = "avx512",
    .mr = VS_BLOCK_MR,
    .nr = VS_BLOCK_NR,
    .dot = dot_kernel,
    .dot_rows = dot_rows_kernel,
    .tile = tile_kernel,
    .block_packed = block_packed_kernel,
    .block_rows = block_rows_kernel,
};
