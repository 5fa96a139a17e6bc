/*
 * avx512.c — AVX-512F kernels (compiled with -mavx512f -mavx512dq -mfma).
 *
 * tile: 12 queries x 32 candidates held in 24 zmm accumulators over the
 * whole dimension; per dimension step two aligned panel loads and twelve
 * broadcast FMAs pairs. dot / dot_rows: 16-lane accumulators along the
 * dimension with a masked tail load (masked lanes are never read).
 */
#include <immintrin.h>

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

static VS_ALWAYS_INLINE void tile_fixed(const float *qpack, const int rows, const float *cpack,
                                        size_t dim, float *out) {
    __m512 lo[VS_BLOCK_MR], hi[VS_BLOCK_MR];
    for (int r = 0; r < rows; r++) {
        lo[r] = _mm512_setzero_ps();
        hi[r] = _mm512_setzero_ps();
    }
    for (size_t d = 0; d < dim; d++) {
        const __m512 panel_lo = _mm512_load_ps(cpack + d * VS_BLOCK_NR);
        const __m512 panel_hi = _mm512_load_ps(cpack + d * VS_BLOCK_NR + 16);
        _mm_prefetch((const char *)(cpack + (d + VS_PREFETCH_STEPS) * VS_BLOCK_NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(cpack + (d + VS_PREFETCH_STEPS) * VS_BLOCK_NR + 16),
                     _MM_HINT_T0);
        const float *query = qpack + d * rows;
        for (int r = 0; r < rows; r++) {
            const __m512 q = _mm512_set1_ps(query[r]);
            lo[r] = _mm512_fmadd_ps(q, panel_lo, lo[r]);
            hi[r] = _mm512_fmadd_ps(q, panel_hi, hi[r]);
        }
    }
    for (int r = 0; r < rows; r++) {
        _mm512_store_ps(out + r * VS_BLOCK_NR, lo[r]);
        _mm512_store_ps(out + r * VS_BLOCK_NR + 16, hi[r]);
    }
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
