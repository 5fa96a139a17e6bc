/*
 * serial.c — the reference kernels: plain C, no intrinsics, compiled with the
 * baseline flags. Every other ISA is tested against these and against a
 * float64 reference. Accumulation order: 8 independent partial sums along
 * the dimension (dot, dot_rows), one running sum per output (tile).
 */
#include "kernels.h"

#define VS_BLOCK_MR 4
#define VS_BLOCK_NR 8

static float dot_kernel(const float *a, const float *b, size_t dim) {
    float partial[8] = {0};
    size_t d = 0;
    for (; d + 8 <= dim; d += 8)
        for (size_t l = 0; l < 8; l++)
            partial[l] += a[d + l] * b[d + l];
    for (size_t l = 0; d < dim; d++, l++)
        partial[l] += a[d] * b[d];
    float sum = 0.0f;
    for (size_t l = 0; l < 8; l++)
        sum += partial[l];
    return sum;
}

static void dot_rows_kernel(const float *queries, size_t rows, const float *candidates, size_t cols,
                            size_t dim, float *out, size_t ldo) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            out[r * ldo + c] = dot_kernel(queries + r * dim, candidates + c * dim, dim);
}

static void tile_kernel(const float *qpack, size_t rows, const float *cpack, size_t dim,
                        float *out) {
    float acc[VS_BLOCK_MR][VS_BLOCK_NR] = {{0}};
    for (size_t d = 0; d < dim; d++) {
        const float *panel = cpack + d * VS_BLOCK_NR;
        for (size_t r = 0; r < rows; r++) {
            const float q = qpack[d * rows + r];
            for (size_t j = 0; j < VS_BLOCK_NR; j++)
                acc[r][j] += q * panel[j];
        }
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < VS_BLOCK_NR; j++)
            out[r * VS_BLOCK_NR + j] = acc[r][j];
}

#include "block.h"

const vs__cpu_kernels vs__kernels_serial = {
    .isa = "serial",
    .mr = VS_BLOCK_MR,
    .nr = VS_BLOCK_NR,
    .dot = dot_kernel,
    .dot_rows = dot_rows_kernel,
    .tile = tile_kernel,
    .block_packed = block_packed_kernel,
    .block_rows = block_rows_kernel,
};
