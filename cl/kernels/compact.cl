/*
 * compact.cl — scan kernels for compact corpora (float16, bfloat16, int8 rows;
 * host/compact.c, docs/opencl.md "Compact corpora"). Built into the same
 * program as score.cl (cl/backend.c appends this source).
 *
 * Each kernel writes the raw sums the CPU's compact kernels write
 * (cpu/compact.h): for query row r (of a chunk padded to VS_CQ rows with
 * zeros by the host) and stored row j,
 *
 *   out[r * n + j] = sum_i query_r[i] * decode(row j)[i]
 *
 *   float16   vload_half (core OpenCL C, no cl_khr_fp16 needed); products
 *             and sums in float32 with fma(), in dimension order
 *   bfloat16  the 16 bits shifted into the top of a float32
 *   int8      char x short products summed exactly: in int over blocks of
 *             VS_CI8_BLOCK dims (256 x 127 x 32767 < 2^31), then in long
 *
 * host/compact.c then applies the per-vector scales and the metric, and
 * bounds every candidate's error; its float bound allows any summation order
 * and, on a device, flushed subnormals (docs/numerics.md, "Compact storage").
 *
 * One work-item per (stored row, VS_CQ queries): global size (n, rows / VS_CQ).
 */

#define VS_CQ 4           /* queries per work-item; must match cl/compact.c */
#define VS_CI8_BLOCK 256  /* int8 dims per int block; must match cl/compact.c */

__kernel void vs_compact_f16(__global const float *queries, uint rows,
                             __global const ushort *codes, uint n, uint dim,
                             __global float *out) {
    const size_t j = get_global_id(0);
    const size_t r0 = get_global_id(1) * VS_CQ;
    if (j >= n || r0 >= rows) return;
    __global const half *row = (__global const half *)(codes + j * (size_t)dim);
    __global const float *q = queries + r0 * dim;
    float acc[VS_CQ];
    for (uint r = 0; r < VS_CQ; r++)
        acc[r] = 0.0f;
    for (uint i = 0; i < dim; i++) {
        const float x = vload_half(i, row);
        for (uint r = 0; r < VS_CQ; r++)
            acc[r] = fma(q[r * (size_t)dim + i], x, acc[r]);
    }
    for (uint r = 0; r < VS_CQ; r++)
        out[(r0 + r) * (size_t)n + j] = acc[r];
}

__kernel void vs_compact_bf16(__global const float *queries, uint rows,
                              __global const ushort *codes, uint n, uint dim,
                              __global float *out) {
    const size_t j = get_global_id(0);
    const size_t r0 = get_global_id(1) * VS_CQ;
    if (j >= n || r0 >= rows) return;
    __global const ushort *row = codes + j * (size_t)dim;
    __global const float *q = queries + r0 * dim;
    float acc[VS_CQ];
    for (uint r = 0; r < VS_CQ; r++)
        acc[r] = 0.0f;
    for (uint i = 0; i < dim; i++) {
        const float x = as_float((uint)row[i] << 16);
        for (uint r = 0; r < VS_CQ; r++)
            acc[r] = fma(q[r * (size_t)dim + i], x, acc[r]);
    }
    for (uint r = 0; r < VS_CQ; r++)
        out[(r0 + r) * (size_t)n + j] = acc[r];
}

__kernel void vs_compact_i8(__global const short *queries, uint rows,
                            __global const char *codes, uint n, uint dim,
                            __global long *out) {
    const size_t j = get_global_id(0);
    const size_t r0 = get_global_id(1) * VS_CQ;
    if (j >= n || r0 >= rows) return;
    __global const char *row = codes + j * (size_t)dim;
    __global const short *q = queries + r0 * dim;
    long total[VS_CQ];
    for (uint r = 0; r < VS_CQ; r++)
        total[r] = 0;
    for (uint i0 = 0; i0 < dim; i0 += VS_CI8_BLOCK) {
        const uint end = dim - i0 < VS_CI8_BLOCK ? dim : i0 + VS_CI8_BLOCK;
        int acc[VS_CQ];
        for (uint r = 0; r < VS_CQ; r++)
            acc[r] = 0;
        for (uint i = i0; i < end; i++) {
            const int x = row[i];
            for (uint r = 0; r < VS_CQ; r++)
                acc[r] += x * (int)q[r * (size_t)dim + i];
        }
        for (uint r = 0; r < VS_CQ; r++)
            total[r] += acc[r];
    }
    for (uint r = 0; r < VS_CQ; r++)
        out[(r0 + r) * (size_t)n + j] = total[r];
}
