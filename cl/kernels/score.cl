/*
 * score.cl — tiled scoring and top-k selection for vecscore's OpenCL backend.
 *
 * No -cl-fast-relaxed-math: products are accumulated with fma() in float32,
 * in depth order within a tile, so results stay within the bound stated in
 * docs/numerics.md. Metric epilogues match cpu/block.h exactly:
 *   DOT     s
 *   COSINE  s * qaux * caux, 0 when either side has zero norm, clamped to
 *           [-1, 1] with comparisons that keep NaN
 *   L2SQ    (qaux + caux) - 2 s, clamped at 0 (NaN kept)
 * where aux is 1/|v| (cosine) or |v|^2 (L2), computed on the host.
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
    float s = acc;
    if (metric == VS_METRIC_COSINE) {
        const float qa = qaux[row], ca = caux[caux_offset + col];
        s = s * qa * ca;
        s = (qa == 0.0f || ca == 0.0f) ? 0.0f : s;
        s = s > 1.0f ? 1.0f : s;
        s = s < -1.0f ? -1.0f : s;
    } else if (metric == VS_METRIC_L2SQ) {
        const float d = (qaux[row] + caux[caux_offset + col]) - 2.0f * s;
        s = d < 0.0f ? 0.0f : d;
    }
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

__kernel void vs_score_rows(__global const float *queries, ulong query_offset, uint rows,
                            __global const float *candidates, ulong candidate_offset,
                            uint columns, uint dim, int metric, __global const float *qaux,
                            __global const float *caux, ulong caux_offset, __global float *out,
                            ulong out_offset, ulong ld_out, int negate) {
    const uint col = (uint)get_global_id(0);
    const uint row0 = (uint)get_global_id(1) * VS_ROWS;
    if (col >= columns || row0 >= rows) return;
    const uint count = min((uint)VS_ROWS, rows - row0);
    __global const float *c = candidates + candidate_offset + (ulong)col * dim;
    __global const float *q = queries + query_offset + (ulong)row0 * dim;
    float16 acc[VS_ROWS];
    for (uint r = 0; r < VS_ROWS; r++)
        acc[r] = (float16)(0.0f);
    const uint body = dim & ~15u;
    for (uint d = 0; d < body; d += 16) {
        const float16 cv = vload16(0, c + d);
        for (uint r = 0; r < VS_ROWS; r++)
            if (r < count) acc[r] = fma(vload16(0, q + (ulong)r * dim + d), cv, acc[r]);
    }
    for (uint r = 0; r < count; r++) {
        float s = vs_reduce16(acc[r]);
        for (uint d = body; d < dim; d++)
            s = fma(q[(ulong)r * dim + d], c[d], s);
        const uint row = row0 + r;
        if (metric == VS_METRIC_COSINE) {
            const float qa = qaux[row], ca = caux[caux_offset + col];
            s = s * qa * ca;
            s = (qa == 0.0f || ca == 0.0f) ? 0.0f : s;
            s = s > 1.0f ? 1.0f : s;
            s = s < -1.0f ? -1.0f : s;
        } else if (metric == VS_METRIC_L2SQ) {
            const float dist = (qaux[row] + caux[caux_offset + col]) - 2.0f * s;
            s = dist < 0.0f ? 0.0f : dist;
        }
        out[out_offset + (ulong)row * ld_out + col] = negate ? -s : s;
    }
}

/* 1 if (a, ia) ranks before (b, ib). */
inline int vs_before(float a, long ia, float b, long ib) {
    if (ib < 0) return ia >= 0;
    if (ia < 0) return 0;
    const int na = isnan(a), nb = isnan(b);
    if (na || nb) return (na && nb) ? ia < ib : nb;
    if (a != b) return a > b;
    return ia < ib;
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
