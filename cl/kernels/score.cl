/*
 * score.cl — tiled scoring and top-k selection for vecscore's OpenCL backend.
 *
 * No -cl-fast-relaxed-math: products are accumulated with fma() in float32,
 * so results stay within the bound stated in docs/numerics.md. The metric
 * epilogues use the same formulas as cpu/block.h (the compiler may contract
 * a multiply-add, as the CPU build may; both stay within the bound):
 *   DOT     s
 *   COSINE  s * qaux * caux, 0 when either side has zero norm, clamped to
 *           [-1, 1] with comparisons that keep NaN
 *   L2SQ    (qaux + caux) - 2 s, clamped at 0 (NaN kept)
 * where aux is 1/|v| (cosine) or |v|^2 (L2), computed on the host in float64.
 * For COSINE, the host scales any vector whose norm is outside [2^-40, 2^40]
 * by a power of two into [0.5, 1) (queries when staged, candidates in a
 * second copy of the corpus part) and passes 1/|v 2^s|: every pair then has
 * |q| |c| in [2^-80, 2^80], so neither the dot products below nor s * qa * ca
 * underflow or overflow (docs/numerics.md, "Tiny and huge vectors").
 *
 * Top-k runs in two kernels per candidate tile, so only nq x k results ever
 * cross back to the host:
 *   vs_select_segments  one work-item per (query, segment of the tile) keeps
 *                       the best k of its segment, sorted, in global memory;
 *   vs_merge_segments   one work-item per query merges the running best k
 *                       with every segment's list (a multiway merge) and, on
 *                       the last tile, writes the caller's rows, padding
 *                       included (every output element is written here).
 * Keys are "higher is better": L2 distances are negated before selection.
 * Order: a real candidate before padding (id -1), non-NaN before NaN, higher
 * key first, equal keys by lower id.
 */

#define VS_TILE 16
#define VS_METRIC_DOT 0
#define VS_METRIC_COSINE 1
#define VS_METRIC_L2SQ 2
#define VS_MAX_SEGMENTS 64

/* The metric epilogue, exactly as cpu/block.h: NaN is kept by the comparisons. */
inline float vs_epilogue(int metric, float s, float qa, float ca) {
    if (metric == VS_METRIC_COSINE) {
        s = s * qa * ca;
        s = (qa == 0.0f || ca == 0.0f) ? 0.0f : s;
        s = s > 1.0f ? 1.0f : s;
        s = s < -1.0f ? -1.0f : s;
    } else if (metric == VS_METRIC_L2SQ) {
        const float d = (qa + ca) - 2.0f * s;
        s = d < 0.0f ? 0.0f : d;
    }
    return s;
}

__kernel __attribute__((reqd_work_group_size(VS_TILE, VS_TILE, 1))) void
vs_score_tile(__global const float *queries, ulong query_offset, uint rows,
              __global const float *candidates, ulong candidate_offset, uint columns, uint dim,
              int metric, __global const float *qaux, __global const float *caux,
              ulong caux_offset, __global float *out, ulong out_offset, ulong ld_out,
              int negate) {
    __local float query_tile[VS_TILE][VS_TILE + 1];
    __local float candidate_tile[VS_TILE][VS_TILE + 1];
    const uint lc = (uint)get_local_id(0), lr = (uint)get_local_id(1);
    const uint row0 = (uint)get_group_id(1) * VS_TILE, col0 = (uint)get_group_id(0) * VS_TILE;
    const uint row = row0 + lr, col = col0 + lc;
    float acc = 0.0f;
    for (uint d0 = 0; d0 < dim; d0 += VS_TILE) {
        const uint depth = d0 + lc;
        const uint load_row = row0 + lr, load_col = col0 + lr;
        query_tile[lr][lc] = (load_row < rows && depth < dim)
                                 ? queries[query_offset + (ulong)load_row * dim + depth]
                                 : 0.0f;
        candidate_tile[lr][lc] =
            (load_col < columns && depth < dim)
                ? candidates[candidate_offset + (ulong)load_col * dim + depth]
                : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        const uint steps = min((uint)VS_TILE, dim - d0);
        for (uint t = 0; t < steps; t++)
            acc = fma(query_tile[lr][t], candidate_tile[lc][t], acc);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (row >= rows || col >= columns) return;
    const float s = vs_epilogue(metric, acc, qaux[row], caux[caux_offset + col]);
    out[out_offset + (ulong)row * ld_out + col] = negate ? -s : s;
}

/*
 * vs_score_rows: the same scores for devices whose compute units are CPU
 * cores (PoCL): no local memory and no barriers, each work-item scores one
 * candidate against VS_ROWS queries with 16-wide vector loads, keeping 16
 * interleaved partial sums per pair (then a fixed-order reduction), like the
 * CPU's dot kernel. Arguments and output as vs_score_tile.
 */
#define VS_ROWS 8

inline float vs_reduce16(float16 v) {
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.lo + c.hi;
}

/*
 * Raw dot products of candidate c with `count` (<= VS_ROWS) consecutive
 * queries starting at q, into dots[0..count).
 */
inline void vs_dots_rows(__global const float *q, __global const float *c, uint dim, uint count,
                         float *dots) {
    float16 acc[VS_ROWS];
    for (uint r = 0; r < VS_ROWS; r++)
        acc[r] = (float16)(0.0f);
    const uint body = dim & ~15u;
    if (count == VS_ROWS) {
        /* Full block: fixed trip counts, so the compiler keeps acc in registers. */
        for (uint d = 0; d < body; d += 16) {
            const float16 cv = vload16(0, c + d);
#pragma unroll
            for (uint r = 0; r < VS_ROWS; r++)
                acc[r] = fma(vload16(0, q + (ulong)r * dim + d), cv, acc[r]);
        }
    } else {
        for (uint d = 0; d < body; d += 16) {
            const float16 cv = vload16(0, c + d);
            for (uint r = 0; r < count; r++)
                acc[r] = fma(vload16(0, q + (ulong)r * dim + d), cv, acc[r]);
        }
    }
    for (uint r = 0; r < count; r++) {
        float s = vs_reduce16(acc[r]);
        for (uint d = body; d < dim; d++)
            s = fma(q[(ulong)r * dim + d], c[d], s);
        dots[r] = s;
    }
}

__kernel void vs_score_rows(__global const float *queries, ulong query_offset, uint rows,
                            __global const float *candidates, ulong candidate_offset,
                            uint columns, uint dim, int metric, __global const float *qaux,
                            __global const float *caux, ulong caux_offset, __global float *out,
                            ulong out_offset, ulong ld_out, int negate) {
    const uint col = (uint)get_global_id(0);
    const uint row0 = (uint)get_global_id(1) * VS_ROWS;
    if (col >= columns || row0 >= rows) return;
    const uint count = min((uint)VS_ROWS, rows - row0);
    float dots[VS_ROWS];
    vs_dots_rows(queries + query_offset + (ulong)row0 * dim,
                 candidates + candidate_offset + (ulong)col * dim, dim, count, dots);
    const float ca = caux[caux_offset + col];
    for (uint r = 0; r < count; r++) {
        const float s = vs_epilogue(metric, dots[r], qaux[row0 + r], ca);
        out[out_offset + (ulong)(row0 + r) * ld_out + col] = negate ? -s : s;
    }
}

/* 1 if (a, ia) ranks before (b, ib): the library's order, defined by the build options
 * (base/topk_order.h, added by cl/program.c). */
inline int vs_before(float a, long ia, float b, long ib) {
    return VS_TOPK_BEFORE(a, ia, b, ib);
}

__kernel void vs_select_segments(__global const float *tile, ulong ld_tile, uint rows,
                                 uint columns, uint segment_length, uint segments, long id_base,
                                 uint k, __global float *segment_keys,
                                 __global long *segment_ids) {
    const uint segment = (uint)get_global_id(0), row = (uint)get_global_id(1);
    if (row >= rows || segment >= segments) return;
    __global float *keys = segment_keys + ((ulong)row * segments + segment) * k;
    __global long *ids = segment_ids + ((ulong)row * segments + segment) * k;
    for (uint r = 0; r < k; r++) {
        keys[r] = -INFINITY;
        ids[r] = -1;
    }
    const uint lo = segment * segment_length;
    const uint hi = min(columns, lo + segment_length);
    uint filled = 0;
    /* The current k-th best, kept in registers: most candidates stop here. */
    float worst_key = -INFINITY;
    long worst_id = -1;
    __global const float *scores = tile + (ulong)row * ld_tile;
    for (uint c = lo; c < hi; c++) {
        const float key = scores[c];
        const long id = id_base + (long)c;
        if (filled == k && !vs_before(key, id, worst_key, worst_id)) continue;
        uint at = filled < k ? filled : k - 1;
        while (at > 0 && vs_before(key, id, keys[at - 1], ids[at - 1])) {
            keys[at] = keys[at - 1];
            ids[at] = ids[at - 1];
            at--;
        }
        keys[at] = key;
        ids[at] = id;
        if (filled < k) filled++;
        worst_key = keys[k - 1];
        worst_id = ids[k - 1];
    }
}

/*
 * vs_topk_rows: vs_score_rows and vs_select_segments in one pass, for CPU-type
 * devices and k <= VS_FUSED_K: each work-item scores one segment of the tile
 * against VS_ROWS queries and keeps each query's best k in private memory,
 * so no score tile is written. Writes the same segment lists as
 * vs_select_segments (keys negated for L2).
 */
#define VS_FUSED_K 32

__kernel void vs_topk_rows(__global const float *queries, ulong query_offset, uint rows,
                           __global const float *candidates, ulong candidate_offset,
                           uint columns, uint dim, int metric, __global const float *qaux,
                           __global const float *caux, ulong caux_offset, uint segment_length,
                           uint segments, long id_base, uint k, __global float *segment_keys,
                           __global long *segment_ids) {
    const uint segment = (uint)get_global_id(0);
    const uint row0 = (uint)get_global_id(1) * VS_ROWS;
    if (segment >= segments || row0 >= rows) return;
    const uint count = min((uint)VS_ROWS, rows - row0);
    const int negate = metric == VS_METRIC_L2SQ;
    float keys[VS_ROWS][VS_FUSED_K];
    long ids[VS_ROWS][VS_FUSED_K];
    uint filled[VS_ROWS];
    float qa[VS_ROWS];
    for (uint r = 0; r < VS_ROWS; r++) {
        filled[r] = 0;
        qa[r] = r < count ? qaux[row0 + r] : 0.0f;
    }
    __global const float *q = queries + query_offset + (ulong)row0 * dim;
    const uint lo = segment * segment_length;
    const uint hi = min(columns, lo + segment_length);
    for (uint col = lo; col < hi; col++) {
        float dots[VS_ROWS];
        vs_dots_rows(q, candidates + candidate_offset + (ulong)col * dim, dim, count, dots);
        const float ca = caux[caux_offset + col];
        const long id = id_base + (long)col;
        for (uint r = 0; r < count; r++) {
            float key = vs_epilogue(metric, dots[r], qa[r], ca);
            key = negate ? -key : key;
            uint n = filled[r];
            if (n == k && !vs_before(key, id, keys[r][k - 1], ids[r][k - 1])) continue;
            uint at = n < k ? n : k - 1;
            while (at > 0 && vs_before(key, id, keys[r][at - 1], ids[r][at - 1])) {
                keys[r][at] = keys[r][at - 1];
                ids[r][at] = ids[r][at - 1];
                at--;
            }
            keys[r][at] = key;
            ids[r][at] = id;
            if (n < k) filled[r] = n + 1;
        }
    }
    for (uint r = 0; r < count; r++) {
        const ulong base = ((ulong)(row0 + r) * segments + segment) * k;
        for (uint i = 0; i < k; i++) {
            segment_keys[base + i] = i < filled[r] ? keys[r][i] : -INFINITY;
            segment_ids[base + i] = i < filled[r] ? ids[r][i] : -1;
        }
    }
}

/*
 * Merges, per row, the running list (if has_running) and `segments` segment
 * lists, all sorted and of length k, into the best k. With final_rows != 0
 * the result goes to the caller's outputs (k_out per row, from out_offset
 * rows): scores un-negated for L2, and rows past k padded; otherwise it goes
 * to the next running list.
 */
__kernel void vs_merge_segments(__global const float *segment_keys,
                                __global const long *segment_ids, uint segments, uint k, uint rows,
                                __global const float *running_keys,
                                __global const long *running_ids, int has_running,
                                __global float *next_keys, __global long *next_ids, int final_rows,
                                int is_distance, uint k_out, __global float *out_scores,
                                __global long *out_ids, ulong out_offset) {
    const uint row = (uint)get_global_id(0);
    if (row >= rows) return;
    uint heads[VS_MAX_SEGMENTS];
    for (uint s = 0; s < segments; s++)
        heads[s] = 0;
    uint running_head = 0;
    __global const float *seg_keys = segment_keys + (ulong)row * segments * k;
    __global const long *seg_ids = segment_ids + (ulong)row * segments * k;
    __global const float *run_keys = running_keys + (ulong)row * k;
    __global const long *run_ids = running_ids + (ulong)row * k;
    for (uint r = 0; r < k; r++) {
        float best_key = -INFINITY;
        long best_id = -1;
        int best_source = -1; /* -1 none, segments = running list, else a segment */
        if (has_running && running_head < k) {
            best_key = run_keys[running_head];
            best_id = run_ids[running_head];
            best_source = (int)segments;
        }
        for (uint s = 0; s < segments; s++) {
            if (heads[s] >= k) continue;
            const float key = seg_keys[(ulong)s * k + heads[s]];
            const long id = seg_ids[(ulong)s * k + heads[s]];
            if (best_source < 0 || vs_before(key, id, best_key, best_id)) {
                best_key = key;
                best_id = id;
                best_source = (int)s;
            }
        }
        if (best_source == (int)segments)
            running_head++;
        else if (best_source >= 0)
            heads[best_source]++;
        if (final_rows) {
            const ulong at = (out_offset + row) * (ulong)k_out + r;
            out_ids[at] = best_id;
            out_scores[at] = best_id < 0 ? (is_distance ? INFINITY : -INFINITY)
                                         : (is_distance ? -best_key : best_key);
        } else {
            next_keys[(ulong)row * k + r] = best_key;
            next_ids[(ulong)row * k + r] = best_id;
        }
    }
    if (final_rows)
        for (uint r = k; r < k_out; r++) {
            const ulong at = (out_offset + row) * (ulong)k_out + r;
            out_ids[at] = -1;
            out_scores[at] = is_distance ? INFINITY : -INFINITY;
        }
}
