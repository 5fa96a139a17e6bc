/*
 * avx2.c — AVX2 + FMA kernels (compiled with -mavx2 -mfma).
 *
 * tile: 6 queries x 16 candidates in 12 ymm accumulators over the whole
 * dimension. dot / dot_rows: 8-lane accumulators along the dimension with a
 * masked tail load (_mm256_maskload_ps never touches masked-off lanes).
 */
#include <immintrin.h>

#include "kernels.h"

#define VS_BLOCK_MR 6
#define VS_BLOCK_NR 16
#define VS_ALWAYS_INLINE inline __attribute__((always_inline))
/* Dimension steps ahead that the tile kernel prefetches its panel stream (64 B
 * a step); see avx512.c. */
#ifndef VS_PREFETCH_STEPS
#define VS_PREFETCH_STEPS 32
#endif
/*
 * Dimension blocking of the packed macro-kernel (block.h): a 256-dimension
 * slab of a panel is 16 KiB, half of a 32 KiB L1d, and a group of slivers
 * holds at most 192 KiB of packed queries (in a 512 KiB L2). See docs/isa.md.
 */
#ifndef VS_BLOCK_KC
#define VS_BLOCK_KC 256
#endif
#ifndef VS_BLOCK_GROUP_BYTES
#define VS_BLOCK_GROUP_BYTES ((size_t)192 << 10)
#endif

static VS_ALWAYS_INLINE float hsum_f32x8(__m256 v) {
    __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_shuffle_ps(sum, sum, 1));
    return _mm_cvtss_f32(sum);
}

static VS_ALWAYS_INLINE __m256i tail_mask(size_t remaining) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)remaining),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static float dot_kernel(const float *a, const float *b, size_t dim) {
    __m256 sum_f32x8[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                           _mm256_setzero_ps()};
    size_t d = 0;
    for (; d + 32 <= dim; d += 32)
        for (int l = 0; l < 4; l++)
            sum_f32x8[l] = _mm256_fmadd_ps(_mm256_loadu_ps(a + d + 8 * l),
                                           _mm256_loadu_ps(b + d + 8 * l), sum_f32x8[l]);
    for (; d + 8 <= dim; d += 8)
        sum_f32x8[0] =
            _mm256_fmadd_ps(_mm256_loadu_ps(a + d), _mm256_loadu_ps(b + d), sum_f32x8[0]);
    if (d < dim) {
        __m256i tail = tail_mask(dim - d);
        sum_f32x8[1] = _mm256_fmadd_ps(_mm256_maskload_ps(a + d, tail),
                                       _mm256_maskload_ps(b + d, tail), sum_f32x8[1]);
    }
    return hsum_f32x8(_mm256_add_ps(_mm256_add_ps(sum_f32x8[0], sum_f32x8[1]),
                                    _mm256_add_ps(sum_f32x8[2], sum_f32x8[3])));
}

static VS_ALWAYS_INLINE void dot_rows_fixed(const float *queries, const int rows,
                                            const float *candidates, const int cols, size_t dim,
                                            float *out, size_t ldo) {
    __m256 acc[VS_ROWS_BLOCK][2];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            acc[r][c] = _mm256_setzero_ps();
    size_t d = 0;
    for (; d + 8 <= dim; d += 8) {
        __m256 cand[2];
        for (int c = 0; c < cols; c++)
            cand[c] = _mm256_loadu_ps(candidates + c * dim + d);
        for (int r = 0; r < rows; r++) {
            __m256 query = _mm256_loadu_ps(queries + r * dim + d);
            for (int c = 0; c < cols; c++)
                acc[r][c] = _mm256_fmadd_ps(query, cand[c], acc[r][c]);
        }
    }
    if (d < dim) {
        __m256i tail = tail_mask(dim - d);
        __m256 cand[2];
        for (int c = 0; c < cols; c++)
            cand[c] = _mm256_maskload_ps(candidates + c * dim + d, tail);
        for (int r = 0; r < rows; r++) {
            __m256 query = _mm256_maskload_ps(queries + r * dim + d, tail);
            for (int c = 0; c < cols; c++)
                acc[r][c] = _mm256_fmadd_ps(query, cand[c], acc[r][c]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            out[r * ldo + c] = hsum_f32x8(acc[r][c]);
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
    for (; c + 2 <= cols; c += 2) {
        const float *cand = candidates + c * dim;
        VS_ROWS_CASES(2)
    }
    for (; c < cols; c++) {
        const float *cand = candidates + c * dim;
        VS_ROWS_CASES(1)
    }
}

/*
 * The tile over dimensions [0, k) of a sliver and a panel: out holds the 6 x 16
 * sums, started from zero (accumulate 0) or continued from what out holds
 * (accumulate 1), so a dimension split into slabs gives the sums of one pass,
 * bit for bit. The accumulators are named variables, not an array: gcc kept an
 * array of __m256 in registers but also stored every element to the stack on
 * each step (12 stores for 12 FMAs, half the FMA rate).
 */
#define VS_ACC_ROW(r)                                                                              \
    __m256 lo##r = _mm256_setzero_ps(), hi##r = _mm256_setzero_ps();                               \
    if (rows > (r) && accumulate) {                                                                \
        lo##r = _mm256_load_ps(out + (r)*VS_BLOCK_NR);                                             \
        hi##r = _mm256_load_ps(out + (r)*VS_BLOCK_NR + 8);                                         \
    }
#define VS_FMA_ROW(r)                                                                              \
    if (rows > (r)) {                                                                              \
        const __m256 q = _mm256_broadcast_ss(query + (r));                                         \
        lo##r = _mm256_fmadd_ps(q, panel_lo, lo##r);                                               \
        hi##r = _mm256_fmadd_ps(q, panel_hi, hi##r);                                               \
    }
#define VS_STORE_ROW(r)                                                                            \
    if (rows > (r)) {                                                                              \
        _mm256_store_ps(out + (r)*VS_BLOCK_NR, lo##r);                                             \
        _mm256_store_ps(out + (r)*VS_BLOCK_NR + 8, hi##r);                                         \
    }

static VS_ALWAYS_INLINE void tile_fixed(const float *qpack, const int rows, const float *cpack,
                                        size_t k, float *out, const int accumulate) {
    VS_ACC_ROW(0)
    VS_ACC_ROW(1)
    VS_ACC_ROW(2) VS_ACC_ROW(3) VS_ACC_ROW(4) VS_ACC_ROW(5) for (size_t d = 0; d < k; d++) {
        const __m256 panel_lo = _mm256_load_ps(cpack + d * VS_BLOCK_NR);
        const __m256 panel_hi = _mm256_load_ps(cpack + d * VS_BLOCK_NR + 8);
        _mm_prefetch((const char *)(cpack + (d + VS_PREFETCH_STEPS) * VS_BLOCK_NR), _MM_HINT_T0);
        const float *query = qpack + d * rows;
        VS_FMA_ROW(0) VS_FMA_ROW(1) VS_FMA_ROW(2) VS_FMA_ROW(3) VS_FMA_ROW(4) VS_FMA_ROW(5)
    }
    VS_STORE_ROW(0) VS_STORE_ROW(1) VS_STORE_ROW(2) VS_STORE_ROW(3) VS_STORE_ROW(4) VS_STORE_ROW(5)
}

#define VS_TILE_CASES(accumulate)                                                                  \
    switch (rows) {                                                                                \
    case 1: tile_fixed(qpack, 1, cpack, k, out, accumulate); break;                                \
    case 2: tile_fixed(qpack, 2, cpack, k, out, accumulate); break;                                \
    case 3: tile_fixed(qpack, 3, cpack, k, out, accumulate); break;                                \
    case 4: tile_fixed(qpack, 4, cpack, k, out, accumulate); break;                                \
    case 5: tile_fixed(qpack, 5, cpack, k, out, accumulate); break;                                \
    default: tile_fixed(qpack, 6, cpack, k, out, accumulate); break;                               \
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
 * one query): out + i * VS_BLOCK_NR gets panel i's 16 sums. Each sum is the
 * same FMA chain over the whole dimension as tile_kernel's with rows 1, but
 * one query alone has only 2 chains per panel, and a panel's next step waits
 * for the FMA latency; 4 panels give 8 independent chains, so the loads of 4
 * streams are in flight at once.
 */
#define VS_ROW1_PANELS 4
#define VS_ROW1_ACC(i) __m256 lo##i = _mm256_setzero_ps(), hi##i = _mm256_setzero_ps();
#define VS_ROW1_FMA(i)                                                                             \
    if (panels > (i)) {                                                                            \
        const float *at = cpack + (i)*VS_BLOCK_NR * dim + d * VS_BLOCK_NR;                         \
        lo##i = _mm256_fmadd_ps(q, _mm256_load_ps(at), lo##i);                                     \
        hi##i = _mm256_fmadd_ps(q, _mm256_load_ps(at + 8), hi##i);                                 \
        _mm_prefetch((const char *)(at + VS_PREFETCH_STEPS * VS_BLOCK_NR), _MM_HINT_T0);           \
    }
#define VS_ROW1_STORE(i)                                                                           \
    if (panels > (i)) {                                                                            \
        _mm256_store_ps(out + (i)*VS_BLOCK_NR, lo##i);                                             \
        _mm256_store_ps(out + (i)*VS_BLOCK_NR + 8, hi##i);                                         \
    }

static VS_ALWAYS_INLINE void row1_fixed(const float *query, const float *cpack, const int panels,
                                        size_t dim, float *out) {
    VS_ROW1_ACC(0) VS_ROW1_ACC(1) VS_ROW1_ACC(2) VS_ROW1_ACC(3) for (size_t d = 0; d < dim; d++) {
        const __m256 q = _mm256_broadcast_ss(query + d);
        VS_ROW1_FMA(0) VS_ROW1_FMA(1) VS_ROW1_FMA(2) VS_ROW1_FMA(3)
    }
    VS_ROW1_STORE(0) VS_ROW1_STORE(1) VS_ROW1_STORE(2) VS_ROW1_STORE(3)
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

const vs__cpu_kernels vs__kernels_avx2 = {
    .isa = "avx2",
    .mr = VS_BLOCK_MR,
    .nr = VS_BLOCK_NR,
    .dot = dot_kernel,
    .dot_rows = dot_rows_kernel,
    .tile = tile_kernel,
    .block_packed = block_packed_kernel,
    .block_rows = block_rows_kernel,
};
