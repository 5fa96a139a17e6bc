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
 *   float16   vload_half16 (core OpenCL C, no cl_khr_fp16 needed); products
 *             and sums in float32 with fma() in 16 lanes, then the lanes
 *             summed and the tail added in dimension order
 *   bfloat16  the 16 bits shifted into the top of a float32, as above
 *   int8      char x short products summed exactly: in 16 int lanes over
 *             blocks of VS_CI8_BLOCK dims (256 per lane x 127 x 32767 <
 *             2^31), then in long
 *
 * host/compact.c then applies the per-vector scales and the metric, and
 * bounds every candidate's error; its float bound allows any summation order
 * and, on a device, flushed subnormals (docs/numerics.md, "Compact storage").
 *
 * One work-item per (stored row, VS_CQ queries): global size (n, padded rows
 * / VS_CQ); `rows` is the real count, and a work-item with one real query
 * (Q = 1, the memory-bound case) scores only that one.
 */

#define VS_CQ 4            /* queries per work-item; must match cl/compact.c */
#define VS_CI8_BLOCK 4096  /* int8 dims per int block (256 per lane) */

inline float vs_compact_sum16(float16 v) {
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.lo + c.hi;
}

inline long vs_compact_sum16i(int16 v) {
    long8 a = convert_long8(v.lo) + convert_long8(v.hi);
    long4 b = a.lo + a.hi;
    long2 c = b.lo + b.hi;
    return c.lo + c.hi;
}

/* 16 stored components widened to float: float16 bits (bf16 = 0) or bfloat16 (bf16 = 1). */
inline float16 vs_compact_load16(__global const ushort *row, uint i, int bf16) {
    if (bf16) return as_float16(convert_uint16(vload16(0, row + i)) << 16);
    return vload_half16(0, (__global const half *)(row + i));
}

inline float vs_compact_load1(__global const ushort *row, uint i, int bf16) {
    if (bf16) return as_float((uint)row[i] << 16);
    return vload_half(i, (__global const half *)row);
}

/* nq (1 or VS_CQ, a constant at each call) queries q x one stored half row into out. */
inline void vs_compact_half_rows(__global const float *q, __global const ushort *row, uint dim,
                                 uint nq, int bf16, __global float *out, ulong ld) {
    float16 acc[VS_CQ];
    for (uint r = 0; r < VS_CQ; r++)
        acc[r] = (float16)(0.0f);
    const uint body = dim & ~15u;
    for (uint i = 0; i < body; i += 16) {
        const float16 x = vs_compact_load16(row, i, bf16);
        for (uint r = 0; r < nq; r++)
            acc[r] = fma(vload16(0, q + (ulong)r * dim + i), x, acc[r]);
    }
    for (uint r = 0; r < nq; r++) {
        float sum = vs_compact_sum16(acc[r]);
        for (uint i = body; i < dim; i++)
            sum = fma(q[(ulong)r * dim + i], vs_compact_load1(row, i, bf16), sum);
        out[r * ld] = sum;
    }
}

inline void vs_compact_i8_rows(__global const short *q, __global const char *row, uint dim,
                               uint nq, __global long *out, ulong ld) {
    long total[VS_CQ];
    for (uint r = 0; r < VS_CQ; r++)
        total[r] = 0;
    const uint body = dim & ~15u;
    for (uint i0 = 0; i0 < body; i0 += VS_CI8_BLOCK) {
        const uint end = body - i0 < VS_CI8_BLOCK ? body : i0 + VS_CI8_BLOCK;
        int16 acc[VS_CQ];
        for (uint r = 0; r < VS_CQ; r++)
            acc[r] = (int16)(0);
        for (uint i = i0; i < end; i += 16) {
            const int16 x = convert_int16(vload16(0, row + i));
            for (uint r = 0; r < nq; r++)
                acc[r] += x * convert_int16(vload16(0, q + (ulong)r * dim + i));
        }
        for (uint r = 0; r < nq; r++)
            total[r] += vs_compact_sum16i(acc[r]);
    }
    for (uint r = 0; r < nq; r++) {
        for (uint i = body; i < dim; i++)
            total[r] += (int)row[i] * (int)q[(ulong)r * dim + i];
        out[r * ld] = total[r];
    }
}

/* The float16 (bf16 = 0) and bfloat16 (bf16 = 1) kernels. */
#define VS_COMPACT_HALF_KERNEL(name, bf16)                                                   \
    __kernel void name(__global const float *queries, uint rows, __global const ushort *codes, \
                       uint n, uint dim, __global float *out) {                               \
        const size_t j = get_global_id(0), r0 = get_global_id(1) * VS_CQ;                     \
        if (j >= n || r0 >= rows) return;                                                     \
        __global const ushort *row = codes + j * (size_t)dim;                                 \
        __global const float *q = queries + r0 * dim;                                         \
        if (rows - r0 == 1)                                                                   \
            vs_compact_half_rows(q, row, dim, 1, bf16, out + r0 * n + j, n);                  \
        else                                                                                  \
            vs_compact_half_rows(q, row, dim, VS_CQ, bf16, out + r0 * n + j, n);              \
    }
VS_COMPACT_HALF_KERNEL(vs_compact_f16, 0)
VS_COMPACT_HALF_KERNEL(vs_compact_bf16, 1)

__kernel void vs_compact_i8(__global const short *queries, uint rows,
                            __global const char *codes, uint n, uint dim,
                            __global long *out) {
    const size_t j = get_global_id(0), r0 = get_global_id(1) * VS_CQ;
    if (j >= n || r0 >= rows) return;
    __global const char *row = codes + j * (size_t)dim;
    __global const short *q = queries + r0 * dim;
    if (rows - r0 == 1)
        vs_compact_i8_rows(q, row, dim, 1, out + r0 * n + j, n);
    else
        vs_compact_i8_rows(q, row, dim, VS_CQ, out + r0 * n + j, n);
}
