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
 * (Q = 1, the memory-bound case) scores only that one. The gpu family
 * launches the register-blocked kernels at the end of this file instead.
 */

#ifndef VS_COMPACT_QUERIES
#error "VS_COMPACT_QUERIES comes from the build options (cl/kernel_constants.h)"
#endif
#define VS_CQ VS_COMPACT_QUERIES /* queries per work-item */
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

/*
 * ---- the GPU family: register-blocked compact scans ---------------------------------
 *
 * vs_compact_f16_blocked, vs_compact_bf16_blocked, vs_compact_i8_blocked:
 * the structure of vs_score_blocked (score.cl, the same program: its VS_RM x
 * VS_RN block, VS_BK slabs, double-buffered local memory, one barrier per
 * slab), with the stored rows decoded as they enter local memory: a
 * work-group of VS_WG x VS_WG work-items computes the raw sums of a VS_BM x
 * VS_BN tile (queries x stored rows); the query slab and the decoded code
 * slab sit in local memory, transposed, and each work-item does RM x RN
 * multiply-adds per RM + RN local loads. A stored row is decoded once per
 * work-group of VS_BM queries, not once per query. Raw sums as the other
 * compact kernels: float32 with fma in dimension order (f16, bf16); for int8,
 * char x short products in int, moved into long every VS_CI8_FLUSH dims
 * (VS_CI8_FLUSH x 127 x 32767 < 2^31), so the sum is exact. Padding rows,
 * columns and depth are zeros and never written out: out holds rows x n.
 */
#define VS_CI8_FLUSH 256 /* int8: depth steps summed in int before the long total */

/* Four decoded components of a stored half row from `depth` on; zeros past its end or for a
 * padding row. */
inline float4 vs_compact_quad_half(__global const ushort *row, uint depth, uint dim, int valid,
                                   int bf16) {
    float4 v = (float4)(0.0f);
    if (!valid || depth >= dim) return v;
    if (depth + 4 <= dim) {
        if (bf16) return as_float4(convert_uint4(vload4(0, row + depth)) << 16);
        return vload_half4(0, (__global const half *)(row + depth));
    }
    v.x = vs_compact_load1(row, depth, bf16);
    if (depth + 1 < dim) v.y = vs_compact_load1(row, depth + 1, bf16);
    if (depth + 2 < dim) v.z = vs_compact_load1(row, depth + 2, bf16);
    return v;
}

/* The code slab of `count` stored rows from depth d0, decoded, into registers (as vs_fetch_slab). */
inline void vs_compact_fetch_half(float4 *next, uint lid, __global const ushort *codes, uint first,
                                  uint count, uint d0, uint dim, int bf16) {
    for (uint l = 0; l < VS_B_LOADS; l++) {
        const uint v = lid + l * VS_THREADS, r = first + v / VS_QUADS_PER_ROW;
        next[l] = vs_compact_quad_half(codes + (ulong)r * dim, d0 + (v % VS_QUADS_PER_ROW) * 4,
                                       dim, v < VS_B_QUADS && r < count, bf16);
    }
}

inline void vs_compact_blocked_half(__global const float *q, uint rows, __global const ushort *codes,
                                    uint n, uint dim, __global float *out, int bf16,
                                    __local float *a_slab, __local float *b_slab) {
    const uint tx = (uint)get_local_id(0), ty = (uint)get_local_id(1);
    const uint lid = ty * VS_WG + tx;
    const uint row0 = (uint)get_group_id(1) * VS_BM, col0 = (uint)get_group_id(0) * VS_BN;
    const uint a_stride = VS_BM + VS_PAD, b_stride = VS_BN + VS_PAD;
    const uint a_size = VS_BK * a_stride, b_size = VS_BK * b_stride;
    float acc[VS_RM][VS_RN];
#pragma unroll
    for (uint i = 0; i < VS_RM; i++)
#pragma unroll
        for (uint j = 0; j < VS_RN; j++)
            acc[i][j] = 0.0f;
    float4 a_next[VS_A_LOADS], b_next[VS_B_LOADS];
    const uint slabs = (dim + VS_BK - 1) / VS_BK;
    vs_fetch_slab(a_next, VS_A_LOADS, VS_A_QUADS, lid, q, row0, rows, 0, dim);
    vs_compact_fetch_half(b_next, lid, codes, col0, n, 0, dim, bf16);
    vs_store_slab(a_slab, a_stride, a_next, VS_A_LOADS, VS_A_QUADS, lid);
    vs_store_slab(b_slab, b_stride, b_next, VS_B_LOADS, VS_B_QUADS, lid);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint slab = 0; slab < slabs; slab++) {
        const uint buf = slab & 1u;
        const int more = slab + 1 < slabs;
        if (more) {
            vs_fetch_slab(a_next, VS_A_LOADS, VS_A_QUADS, lid, q, row0, rows,
                          (slab + 1) * VS_BK, dim);
            vs_compact_fetch_half(b_next, lid, codes, col0, n, (slab + 1) * VS_BK, dim, bf16);
        }
        const uint steps = min((uint)VS_BK, dim - slab * VS_BK);
        for (uint t = 0; t < steps; t++) {
            float a[VS_RM], b[VS_RN];
            vs_read_block(a, VS_RM, a_slab + buf * a_size + t * a_stride + ty * VS_RM);
            vs_read_block(b, VS_RN, b_slab + buf * b_size + t * b_stride + tx * VS_RN);
#pragma unroll
            for (uint i = 0; i < VS_RM; i++)
#pragma unroll
                for (uint j = 0; j < VS_RN; j++)
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        if (more) {
            vs_store_slab(a_slab + (buf ^ 1u) * a_size, a_stride, a_next, VS_A_LOADS, VS_A_QUADS,
                          lid);
            vs_store_slab(b_slab + (buf ^ 1u) * b_size, b_stride, b_next, VS_B_LOADS, VS_B_QUADS,
                          lid);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    VS_FOR_BLOCK(rows, n, { out[(ulong)row * n + col] = acc[i][j]; })
}

#define VS_COMPACT_BLOCKED_HALF_KERNEL(name, bf16)                                             \
    __kernel __attribute__((reqd_work_group_size(VS_WG, VS_WG, 1))) void name(               \
        __global const float *queries, uint rows, __global const ushort *codes, uint n,       \
        uint dim, __global float *out) {                                                      \
        __local float a_slab[2][VS_BK][VS_BM + VS_PAD];                                       \
        __local float b_slab[2][VS_BK][VS_BN + VS_PAD];                                       \
        vs_compact_blocked_half(queries, rows, codes, n, dim, out, bf16, &a_slab[0][0][0],    \
                                &b_slab[0][0][0]);                                            \
    }
VS_COMPACT_BLOCKED_HALF_KERNEL(vs_compact_f16_blocked, 0)
VS_COMPACT_BLOCKED_HALF_KERNEL(vs_compact_bf16_blocked, 1)

/* int8: four int lanes of a row of `count` rows (char codes or short query levels). */
#define VS_COMPACT_QUAD_INT(name, type)                                                        \
    inline int4 name(__global const type *row, uint depth, uint dim, int valid) {              \
        int4 v = (int4)(0);                                                                    \
        if (!valid || depth >= dim) return v;                                                  \
        if (depth + 4 <= dim) return convert_int4(vload4(0, row + depth));                     \
        v.x = row[depth];                                                                      \
        if (depth + 1 < dim) v.y = row[depth + 1];                                             \
        if (depth + 2 < dim) v.z = row[depth + 2];                                             \
        return v;                                                                              \
    }
VS_COMPACT_QUAD_INT(vs_compact_quad_char, char)
VS_COMPACT_QUAD_INT(vs_compact_quad_short, short)

/* The int slabs of vs_compact_i8_blocked: as vs_store_slab, for int lanes. */
inline void vs_compact_store_ints(__local int *slab, uint stride, const int4 *next, uint loads,
                                  uint quads, uint lid) {
    for (uint l = 0; l < loads; l++) {
        const uint v = lid + l * VS_THREADS;
        if (v >= quads) continue;
        const uint r = v / VS_QUADS_PER_ROW, k = (v % VS_QUADS_PER_ROW) * 4;
        slab[k * stride + r] = next[l].x;
        slab[(k + 1) * stride + r] = next[l].y;
        slab[(k + 2) * stride + r] = next[l].z;
        slab[(k + 3) * stride + r] = next[l].w;
    }
}

/* Both slabs of int8 step `d0` into registers: query levels (short) and codes (char). */
inline void vs_compact_fetch_i8(int4 *a_next, int4 *b_next, uint lid, __global const short *q,
                                uint row0, uint rows, __global const char *codes, uint col0,
                                uint n, uint d0, uint dim) {
    for (uint l = 0; l < VS_A_LOADS; l++) {
        const uint v = lid + l * VS_THREADS, r = row0 + v / VS_QUADS_PER_ROW;
        a_next[l] = vs_compact_quad_short(q + (ulong)r * dim, d0 + (v % VS_QUADS_PER_ROW) * 4, dim,
                                          v < VS_A_QUADS && r < rows);
    }
    for (uint l = 0; l < VS_B_LOADS; l++) {
        const uint v = lid + l * VS_THREADS, r = col0 + v / VS_QUADS_PER_ROW;
        b_next[l] = vs_compact_quad_char(codes + (ulong)r * dim, d0 + (v % VS_QUADS_PER_ROW) * 4,
                                         dim, v < VS_B_QUADS && r < n);
    }
}

__kernel __attribute__((reqd_work_group_size(VS_WG, VS_WG, 1))) void
vs_compact_i8_blocked(__global const short *queries, uint rows, __global const char *codes, uint n,
                      uint dim, __global long *out) {
    __local int a_slab[2][VS_BK][VS_BM + VS_PAD];
    __local int b_slab[2][VS_BK][VS_BN + VS_PAD];
    const uint tx = (uint)get_local_id(0), ty = (uint)get_local_id(1);
    const uint lid = ty * VS_WG + tx;
    const uint row0 = (uint)get_group_id(1) * VS_BM, col0 = (uint)get_group_id(0) * VS_BN;
    const uint a_stride = VS_BM + VS_PAD, b_stride = VS_BN + VS_PAD;
    int acc[VS_RM][VS_RN];
    long total[VS_RM][VS_RN];
#pragma unroll
    for (uint i = 0; i < VS_RM; i++)
#pragma unroll
        for (uint j = 0; j < VS_RN; j++) {
            acc[i][j] = 0;
            total[i][j] = 0;
        }
    int4 a_next[VS_A_LOADS], b_next[VS_B_LOADS];
    const uint slabs = (dim + VS_BK - 1) / VS_BK;
    vs_compact_fetch_i8(a_next, b_next, lid, queries, row0, rows, codes, col0, n, 0, dim);
    vs_compact_store_ints(&a_slab[0][0][0], a_stride, a_next, VS_A_LOADS, VS_A_QUADS, lid);
    vs_compact_store_ints(&b_slab[0][0][0], b_stride, b_next, VS_B_LOADS, VS_B_QUADS, lid);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint slab = 0; slab < slabs; slab++) {
        const uint buf = slab & 1u;
        const int more = slab + 1 < slabs;
        if (more)
            vs_compact_fetch_i8(a_next, b_next, lid, queries, row0, rows, codes, col0, n,
                                (slab + 1) * VS_BK, dim);
        const uint steps = min((uint)VS_BK, dim - slab * VS_BK);
        for (uint t = 0; t < steps; t++) {
            int a[VS_RM], b[VS_RN];
#pragma unroll
            for (uint i = 0; i < VS_RM; i++)
                a[i] = a_slab[buf][t][ty * VS_RM + i];
#pragma unroll
            for (uint j = 0; j < VS_RN; j++)
                b[j] = b_slab[buf][t][tx * VS_RN + j];
#pragma unroll
            for (uint i = 0; i < VS_RM; i++)
#pragma unroll
                for (uint j = 0; j < VS_RN; j++)
                    acc[i][j] += a[i] * b[j];
        }
        if ((slab + 1) * VS_BK % VS_CI8_FLUSH == 0 || !more) {
#pragma unroll
            for (uint i = 0; i < VS_RM; i++)
#pragma unroll
                for (uint j = 0; j < VS_RN; j++) {
                    total[i][j] += acc[i][j];
                    acc[i][j] = 0;
                }
        }
        if (more) {
            vs_compact_store_ints(&a_slab[buf ^ 1u][0][0], a_stride, a_next, VS_A_LOADS,
                                  VS_A_QUADS, lid);
            vs_compact_store_ints(&b_slab[buf ^ 1u][0][0], b_stride, b_next, VS_B_LOADS,
                                  VS_B_QUADS, lid);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    VS_FOR_BLOCK(rows, n, { out[(ulong)row * n + col] = total[i][j]; })
}
