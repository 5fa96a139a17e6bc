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
 * Top-k for k up to VS_SELECT_CAP is the threshold selection (the section
 * at the end: the test in the score kernels' epilogue, vs_emit). Larger k
 * runs in two kernels per candidate tile, so only nq x k results ever
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

/* Constants shared with the host arrive as build options (cl/kernel_constants.h). */
#ifndef VS_TILE
#error "VS_TILE comes from the build options (cl/kernel_constants.h)"
#endif
#ifndef VS_ROWS
#error "VS_ROWS comes from the build options (cl/kernel_constants.h)"
#endif
#ifndef VS_FUSED_K
#error "VS_FUSED_K comes from the build options (cl/kernel_constants.h)"
#endif
#ifndef VS_MAX_SEGMENTS
#error "VS_MAX_SEGMENTS comes from the build options (cl/kernel_constants.h)"
#endif
#ifndef VS_WG
#error "VS_WG comes from the build options (cl/kernel_constants.h)"
#endif
#ifndef VS_BK
#error "VS_BK comes from the build options (cl/kernel_constants.h)"
#endif
#ifndef VS_STREAM_ROWS
#error "VS_STREAM_ROWS comes from the build options (cl/kernel_constants.h)"
#endif
#ifndef VS_STREAM_WG
#error "VS_STREAM_WG comes from the build options (cl/kernel_constants.h)"
#endif
#ifndef VS_MERGE_WG
#error "VS_MERGE_WG comes from the build options (cl/kernel_constants.h)"
#endif
#ifndef VS_MERGE_CAP
#error "VS_MERGE_CAP comes from the build options (cl/kernel_constants.h)"
#endif
#ifndef VS_SELECT_WG
#error "VS_SELECT_WG comes from the build options (cl/kernel_constants.h)"
#endif
#ifndef VS_SELECT_CAP
#error "VS_SELECT_CAP comes from the build options (cl/kernel_constants.h)"
#endif
#ifndef VS_METRIC_DOT
#error "VS_METRIC_DOT comes from the build options (cl/kernel_constants.h)"
#endif
#ifndef VS_METRIC_COSINE
#error "VS_METRIC_COSINE comes from the build options (cl/kernel_constants.h)"
#endif
#ifndef VS_METRIC_L2SQ
#error "VS_METRIC_L2SQ comes from the build options (cl/kernel_constants.h)"
#endif

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

/* The 64-bit order word of (key, id) for the threshold top-k (its layout: the threshold
 * section at the end of this file). */
inline ulong vs_entry(float key, long id) {
    uint ord = 0;
    const uint neg_zero = ((key == 0.0f || isnan(key)) && signbit(key)) ? 1u : 0u;
    if (!isnan(key)) {
        const uint bits = as_uint(key == 0.0f ? 0.0f : key);
        ord = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
    }
    return ((ulong)ord << 32) | ((ulong)(0x7fffffffu - (uint)id) << 1) | neg_zero;
}

/*
 * The threshold test of the threshold top-k (the section at the end): a key
 * that ranks before its query's threshold takes a slot of the query's
 * survivor buffer (cap slots; the counter goes on past cap, which marks an
 * overflow). vs_filter_tile runs it over a score tile; the score kernels
 * run it in their epilogue (vs_emit), so no score tile is written.
 * Almost every key stops at the first comparison, with the threshold's key
 * as a float (state[3]; -inf while there is none or it is NaN): a key below
 * it as a float has a smaller order word whatever its id, so the word is
 * built only for the few that pass it (keys equal to it, NaN keys, better
 * keys).
 */
inline void vs_offer(float key, long id, uint row, __global const ulong *thresholds,
                     __global uint *state, __global ulong *survivors, uint cap) {
    if (key < as_float(state[row * 4 + 3])) return;
    const ulong e = vs_entry(key, id);
    if (e <= thresholds[row]) return;
    const uint slot = atomic_inc(&state[row * 4]);
    if (slot < cap) survivors[(ulong)row * cap + slot] = e;
}

/*
 * The last step of every score kernel for score s of (row, col): negated for
 * an L2 top-k, then written to the output (cap == 0), or (cap > 0: a
 * threshold top-k, the test fused into the kernel) offered to the row's
 * survivor buffer as candidate id_base + col.
 */
inline void vs_emit(float s, int negate, uint row, uint col, __global float *out,
                    ulong out_offset, ulong ld_out, __global const ulong *thresholds,
                    __global uint *state, __global ulong *survivors, uint cap, long id_base) {
    s = negate ? -s : s;
    if (cap != 0)
        vs_offer(s, id_base + (long)col, row, thresholds, state, survivors, cap);
    else
        out[out_offset + (ulong)row * ld_out + col] = s;
}

__kernel __attribute__((reqd_work_group_size(VS_TILE, VS_TILE, 1))) void
vs_score_tile(__global const float *queries, ulong query_offset, uint rows,
              __global const float *candidates, ulong candidate_offset, uint columns, uint dim,
              int metric, __global const float *qaux, __global const float *caux,
              ulong caux_offset, __global float *out, ulong out_offset, ulong ld_out,
              int negate, __global const ulong *thresholds, __global uint *state,
              __global ulong *survivors, uint cap, long id_base) {
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
    vs_emit(vs_epilogue(metric, acc, qaux[row], caux[caux_offset + col]), negate, row, col, out,
            out_offset, ld_out, thresholds, state, survivors, cap, id_base);
}

/*
 * vs_score_rows: the same scores for devices whose compute units are CPU
 * cores (PoCL): no local memory and no barriers, each work-item scores one
 * candidate against VS_ROWS queries with 16-wide vector loads, keeping 16
 * interleaved partial sums per pair (then a fixed-order reduction), like the
 * CPU's dot kernel. Arguments and output as vs_score_tile.
 */

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
                            ulong out_offset, ulong ld_out, int negate,
                            __global const ulong *thresholds, __global uint *state,
                            __global ulong *survivors, uint cap, long id_base) {
    const uint col = (uint)get_global_id(0);
    const uint row0 = (uint)get_global_id(1) * VS_ROWS;
    if (col >= columns || row0 >= rows) return;
    const uint count = min((uint)VS_ROWS, rows - row0);
    float dots[VS_ROWS];
    vs_dots_rows(queries + query_offset + (ulong)row0 * dim,
                 candidates + candidate_offset + (ulong)col * dim, dim, count, dots);
    const float ca = caux[caux_offset + col];
    for (uint r = 0; r < count; r++)
        vs_emit(vs_epilogue(metric, dots[r], qaux[row0 + r], ca), negate, row0 + r, col, out,
                out_offset, ld_out, thresholds, state, survivors, cap, id_base);
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

/*
 * ---- the GPU family ------------------------------------------------------------------
 *
 * vs_score_blocked: a register-blocked product for GPU-type devices. A
 * work-group of 16 x 16 work-items computes a VS_BM x VS_BN output tile
 * (queries x candidates); each work-item keeps a VS_RM x VS_RN block of
 * accumulators in registers. The depth is walked in slabs of VS_BK: the
 * work-group copies the slab of its VS_BM query rows and VS_BN candidate
 * rows into local memory (transposed, so that a work-item reads its RM
 * queries and RN candidates of one depth step as contiguous vectors), and
 * every work-item then does RM x RN fma per RM + RN local loads. Slabs are
 * double-buffered: the next slab is read from global memory into registers
 * while the current one is multiplied, then stored into the other buffer,
 * so one barrier per slab suffices. Global reads are float4 (vload4) where
 * the four floats lie inside the row, elementwise at a row's tail.
 *
 * VS_RM and VS_RN come from the build options (-D, cl/backend.c picks them
 * from a per-device table or VECSCORE_CL_BLOCK); the defaults below are for
 * a plain build. Every accumulator sums its products in increasing depth
 * order with fma, as vs_score_tile does, and the epilogue is the same, so
 * the results are those of vs_score_tile (padding rows, columns and depth
 * are zeros that are never written out).
 */
#ifndef VS_RM
#define VS_RM 4
#endif
#ifndef VS_RN
#define VS_RN 4
#endif
#define VS_BM (VS_WG * VS_RM)
#define VS_BN (VS_WG * VS_RN)
#define VS_PAD 4 /* keeps rows of the local slabs float4-aligned, spreads banks */
#define VS_QUADS_PER_ROW (VS_BK / 4)
#define VS_A_QUADS (VS_BM * VS_QUADS_PER_ROW)
#define VS_B_QUADS (VS_BN * VS_QUADS_PER_ROW)
#define VS_THREADS (VS_WG * VS_WG)
#define VS_A_LOADS ((VS_A_QUADS + VS_THREADS - 1) / VS_THREADS)
#define VS_B_LOADS ((VS_B_QUADS + VS_THREADS - 1) / VS_THREADS)

/* Four floats of one row from `depth` on, zeros past the row's end or for a padding row. */
inline float4 vs_load_quad(__global const float *row, uint depth, uint dim, int valid) {
    if (!valid || depth >= dim) return (float4)(0.0f);
    if (depth + 4 <= dim) return vload4(0, row + depth);
    float4 v = (float4)(0.0f);
    v.x = row[depth];
    if (depth + 1 < dim) v.y = row[depth + 1];
    if (depth + 2 < dim) v.z = row[depth + 2];
    return v;
}

/*
 * One slab of `count` rows (queries or candidates) from depth d0 into
 * registers: quad v of the slab is row v / VS_QUADS_PER_ROW, depth
 * (v % VS_QUADS_PER_ROW) * 4, so neighbouring work-items read neighbouring
 * floats of a row.
 */
inline void vs_fetch_slab(float4 *next, uint loads, uint quads, uint lid,
                          __global const float *base, uint first, uint count, uint d0, uint dim) {
    for (uint l = 0; l < loads; l++) {
        const uint v = lid + l * VS_THREADS, r = first + v / VS_QUADS_PER_ROW;
        next[l] = vs_load_quad(base + (ulong)r * dim, d0 + (v % VS_QUADS_PER_ROW) * 4, dim,
                               v < quads && r < count);
    }
}

/* The registers into a local slab, transposed (depth-major, `stride` floats per depth). */
inline void vs_store_slab(__local float *slab, uint stride, const float4 *next, uint loads,
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

/*
 * The epilogue loop of the register-blocked kernels (vs_score_blocked here,
 * the blocked compact scans of compact.cl): runs `body` for each (i, j) of
 * the work-item's VS_RM x VS_RN block whose output row (`row`, from row0)
 * is below `rows` and whose column (`col`, from col0) is below `columns`;
 * padding rows and columns are never written. Needs row0, col0, tx and ty
 * in scope, as every blocked kernel has them.
 */
#define VS_FOR_BLOCK(rows, columns, body)                                                      \
    _Pragma("unroll") for (uint i = 0; i < VS_RM; i++) {                                       \
        const uint row = row0 + ty * VS_RM + i;                                                \
        if (row >= (rows)) continue;                                                           \
        _Pragma("unroll") for (uint j = 0; j < VS_RN; j++) {                                   \
            const uint col = col0 + tx * VS_RN + j;                                            \
            if (col < (columns)) body                                                          \
        }                                                                                      \
    }

/*
 * A work-item's `count` values of one depth step, as float4 loads (the
 * slabs' padding keeps a load that runs past `count` inside the row).
 */
inline void vs_read_block(float *out, uint count, __local const float *at) {
#pragma unroll
    for (uint i = 0; i < count; i += 4) {
        const float4 v = vload4(0, at + i);
        out[i] = v.x;
        if (i + 1 < count) out[i + 1] = v.y;
        if (i + 2 < count) out[i + 2] = v.z;
        if (i + 3 < count) out[i + 3] = v.w;
    }
}

__kernel __attribute__((reqd_work_group_size(VS_WG, VS_WG, 1))) void
vs_score_blocked(__global const float *queries, ulong query_offset, uint rows,
                 __global const float *candidates, ulong candidate_offset, uint columns, uint dim,
                 int metric, __global const float *qaux, __global const float *caux,
                 ulong caux_offset, __global float *out, ulong out_offset, ulong ld_out,
                 int negate, __global const ulong *thresholds, __global uint *state,
                 __global ulong *survivors, uint cap, long id_base) {
    __local float a_slab[2][VS_BK][VS_BM + VS_PAD];
    __local float b_slab[2][VS_BK][VS_BN + VS_PAD];
    const uint tx = (uint)get_local_id(0), ty = (uint)get_local_id(1);
    const uint lid = ty * VS_WG + tx;
    const uint row0 = (uint)get_group_id(1) * VS_BM, col0 = (uint)get_group_id(0) * VS_BN;
    float acc[VS_RM][VS_RN];
#pragma unroll
    for (uint i = 0; i < VS_RM; i++)
#pragma unroll
        for (uint j = 0; j < VS_RN; j++)
            acc[i][j] = 0.0f;
    float4 a_next[VS_A_LOADS], b_next[VS_B_LOADS];
    const uint slabs = (dim + VS_BK - 1) / VS_BK;

    __global const float *q = queries + query_offset, *c = candidates + candidate_offset;
    const uint a_stride = VS_BM + VS_PAD, b_stride = VS_BN + VS_PAD;
    vs_fetch_slab(a_next, VS_A_LOADS, VS_A_QUADS, lid, q, row0, rows, 0, dim);
    vs_fetch_slab(b_next, VS_B_LOADS, VS_B_QUADS, lid, c, col0, columns, 0, dim);
    vs_store_slab(&a_slab[0][0][0], a_stride, a_next, VS_A_LOADS, VS_A_QUADS, lid);
    vs_store_slab(&b_slab[0][0][0], b_stride, b_next, VS_B_LOADS, VS_B_QUADS, lid);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint slab = 0; slab < slabs; slab++) {
        const uint buf = slab & 1u;
        const int more = slab + 1 < slabs;
        if (more) { /* the next slab travels while this one is multiplied */
            vs_fetch_slab(a_next, VS_A_LOADS, VS_A_QUADS, lid, q, row0, rows,
                          (slab + 1) * VS_BK, dim);
            vs_fetch_slab(b_next, VS_B_LOADS, VS_B_QUADS, lid, c, col0, columns,
                          (slab + 1) * VS_BK, dim);
        }
        /* Depth steps past dim are zeros on both sides: fma(0, 0, acc) leaves acc as it is,
         * but they are skipped so that the sums match vs_score_tile's step for step. */
        const uint steps = min((uint)VS_BK, dim - slab * VS_BK);
        for (uint t = 0; t < steps; t++) {
            float a[VS_RM], b[VS_RN];
            vs_read_block(a, VS_RM, &a_slab[buf][t][ty * VS_RM]);
            vs_read_block(b, VS_RN, &b_slab[buf][t][tx * VS_RN]);
#pragma unroll
            for (uint i = 0; i < VS_RM; i++)
#pragma unroll
                for (uint j = 0; j < VS_RN; j++)
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        if (more) {
            vs_store_slab(&a_slab[buf ^ 1u][0][0], a_stride, a_next, VS_A_LOADS, VS_A_QUADS, lid);
            vs_store_slab(&b_slab[buf ^ 1u][0][0], b_stride, b_next, VS_B_LOADS, VS_B_QUADS, lid);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    VS_FOR_BLOCK(rows, columns, {
        vs_emit(vs_epilogue(metric, acc[i][j], qaux[row], caux[caux_offset + col]), negate, row,
                col, out, out_offset, ld_out, thresholds, state, survivors, cap, id_base);
    })
}

/*
 * vs_score_stream: the bandwidth kernel for few queries (rows <=
 * VS_STREAM_ROWS, e.g. Q = 1). Each work-item owns one candidate and keeps
 * one accumulator per query. The corpus is read once, coalesced: per slab of
 * VS_SK floats of depth, the work-group's VS_STREAM_WG candidates are read
 * as consecutive float4s of each row (VS_SK * 4 = 128 contiguous bytes per
 * row) into local memory, and the queries' slab sits in local memory too,
 * read as a broadcast. Sums in increasing depth order with fma, as the other
 * kernels; same epilogue.
 */
#define VS_SK 32
#define VS_SK_QUADS (VS_SK / 4)

__kernel __attribute__((reqd_work_group_size(VS_STREAM_WG, 1, 1))) void
vs_score_stream(__global const float *queries, ulong query_offset, uint rows,
                __global const float *candidates, ulong candidate_offset, uint columns, uint dim,
                int metric, __global const float *qaux, __global const float *caux,
                ulong caux_offset, __global float *out, ulong out_offset, ulong ld_out,
                int negate, __global const ulong *thresholds, __global uint *state,
                __global ulong *survivors, uint cap, long id_base) {
    __local float c_slab[VS_SK][VS_STREAM_WG + 1];
    __local float q_slab[VS_STREAM_ROWS][VS_SK];
    const uint lid = (uint)get_local_id(0);
    const uint col0 = (uint)get_group_id(0) * VS_STREAM_WG, col = col0 + lid;
    float acc[VS_STREAM_ROWS];
#pragma unroll
    for (uint r = 0; r < VS_STREAM_ROWS; r++)
        acc[r] = 0.0f;
    for (uint d0 = 0; d0 < dim; d0 += VS_SK) {
        /* Candidates: quad v is candidate v / VS_SK_QUADS, depth (v % VS_SK_QUADS) * 4. */
        for (uint v = lid; v < VS_STREAM_WG * VS_SK_QUADS; v += VS_STREAM_WG) {
            const uint c = v / VS_SK_QUADS, k = (v % VS_SK_QUADS) * 4;
            const float4 x =
                vs_load_quad(candidates + candidate_offset + (ulong)(col0 + c) * dim, d0 + k,
                             dim, col0 + c < columns);
            c_slab[k][c] = x.x;
            c_slab[k + 1][c] = x.y;
            c_slab[k + 2][c] = x.z;
            c_slab[k + 3][c] = x.w;
        }
        for (uint v = lid; v < rows * VS_SK_QUADS; v += VS_STREAM_WG) {
            const uint r = v / VS_SK_QUADS, k = (v % VS_SK_QUADS) * 4;
            vstore4(vs_load_quad(queries + query_offset + (ulong)r * dim, d0 + k, dim, 1), 0,
                    &q_slab[r][k]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        const uint steps = min((uint)VS_SK, dim - d0);
        for (uint t = 0; t < steps; t++) {
            const float x = c_slab[t][lid];
#pragma unroll
            for (uint r = 0; r < VS_STREAM_ROWS; r++)
                if (r < rows) acc[r] = fma(q_slab[r][t], x, acc[r]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (col >= columns) return;
    const float ca = caux[caux_offset + col];
#pragma unroll
    for (uint r = 0; r < VS_STREAM_ROWS; r++) {
        if (r >= rows) continue;
        vs_emit(vs_epilogue(metric, acc[r], qaux[r], ca), negate, r, col, out, out_offset, ld_out,
                thresholds, state, survivors, cap, id_base);
    }
}

/*
 * The one sorting network of score.cl: a bitonic sort of n (a power of two)
 * entries in local memory by a work-group of wg work-items (lid its own),
 * best entry first, under the library's order. Two entry types share it:
 * 64-bit order words (words != 0; larger word = ranks before, see
 * vs_entry), or (key, id) pairs compared with vs_before (words == 0). Every
 * work-item of the group must call it (it has barriers); on return the
 * sorted entries are visible to the whole group.
 */
/* 1 if local entry a ranks before entry b (the two entry types of vs_sort_local). */
inline int vs_local_before(__local const ulong *words, __local const float *keys,
                           __local const long *ids, uint a, uint b) {
    if (words != 0) return words[a] > words[b];
    return vs_before(keys[a], ids[a], keys[b], ids[b]);
}

inline void vs_sort_local(uint n, uint lid, uint wg, __local ulong *words, __local float *keys,
                          __local long *ids) {
    for (uint size = 2; size <= n; size <<= 1) {
        for (uint stride = size >> 1; stride > 0; stride >>= 1) {
            for (uint i = lid; i < n; i += wg) {
                const uint j = i ^ stride;
                if (j <= i) continue;
                /* In the first half of each block of `size`, entry i must rank before entry
                 * j; in the second half after it (the bitonic merge). */
                const int best_first = (i & size) == 0;
                if (!vs_local_before(words, keys, ids, best_first ? j : i, best_first ? i : j))
                    continue;
                if (words != 0) {
                    const ulong w = words[i];
                    words[i] = words[j];
                    words[j] = w;
                } else {
                    const float key = keys[i];
                    const long id = ids[i];
                    keys[i] = keys[j];
                    ids[i] = ids[j];
                    keys[j] = key;
                    ids[j] = id;
                }
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }
}

/*
 * vs_merge_sorted: vs_merge_segments for the GPU family, one work-group of
 * VS_MERGE_WG work-items per query instead of one work-item: the running
 * list and every segment list of the query (at most VS_MERGE_CAP entries,
 * which the host checks) are copied into local memory, padded to a power of
 * two with (-inf, -1), and sorted by a bitonic network under vs_before, the
 * library's total order; the first k are the merged list. Same arguments
 * and outputs as vs_merge_segments, so the results are identical.
 */

__kernel __attribute__((reqd_work_group_size(VS_MERGE_WG, 1, 1))) void
vs_merge_sorted(__global const float *segment_keys, __global const long *segment_ids,
                uint segments, uint k, uint rows, __global const float *running_keys,
                __global const long *running_ids, int has_running, __global float *next_keys,
                __global long *next_ids, int final_rows, int is_distance, uint k_out,
                __global float *out_scores, __global long *out_ids, ulong out_offset) {
    __local float keys[VS_MERGE_CAP];
    __local long ids[VS_MERGE_CAP];
    const uint row = (uint)get_group_id(0), lid = (uint)get_local_id(0);
    if (row >= rows) return; /* the whole group leaves together */
    const uint listed = segments * k, count = listed + (has_running ? k : 0);
    uint n = 1;
    while (n < count || n < k) /* k entries are read back, padding included */
        n <<= 1;
    __global const float *seg_keys = segment_keys + (ulong)row * listed;
    __global const long *seg_ids = segment_ids + (ulong)row * listed;
    for (uint i = lid; i < n; i += VS_MERGE_WG) {
        if (i < listed) {
            keys[i] = seg_keys[i];
            ids[i] = seg_ids[i];
        } else if (i < count) {
            keys[i] = running_keys[(ulong)row * k + (i - listed)];
            ids[i] = running_ids[(ulong)row * k + (i - listed)];
        } else {
            keys[i] = -INFINITY;
            ids[i] = -1;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    vs_sort_local(n, lid, VS_MERGE_WG, 0, keys, ids);
    for (uint r = lid; r < k; r += VS_MERGE_WG) {
        if (final_rows) {
            const ulong at = (out_offset + row) * (ulong)k_out + r;
            out_ids[at] = ids[r];
            out_scores[at] = ids[r] < 0 ? (is_distance ? INFINITY : -INFINITY)
                                        : (is_distance ? -keys[r] : keys[r]);
        } else {
            next_keys[(ulong)row * k + r] = keys[r];
            next_ids[(ulong)row * k + r] = ids[r];
        }
    }
    if (final_rows)
        for (uint r = k + lid; r < k_out; r += VS_MERGE_WG) {
            const ulong at = (out_offset + row) * (ulong)k_out + r;
            out_ids[at] = -1;
            out_scores[at] = is_distance ? INFINITY : -INFINITY;
        }
}

/*
 * ---- threshold top-k: both families ------------------------------------------------
 *
 * For k up to VS_SELECT_CAP the score tile is not cut into segment lists.
 * Each query keeps, in global memory, its running best list (at most k
 * entries, sorted), its threshold (the k-th entry of that list once it is
 * full, else "take anything") and a bounded survivor buffer of `cap`
 * entries with an atomic counter:
 *   vs_topk_reset    clears the per-query state for a chunk;
 *   the score kernel with cap > 0 (vs_emit): a score that ranks before its
 *                    query's threshold takes a survivor slot (atomic_inc);
 *                    almost every score stops at that comparison, and no
 *                    score tile is written;
 *   vs_rescore_tile  rows that overflowed get the tile's scores again, into
 *                    the tile buffer;
 *   vs_filter_tile   the same test as a pass of its own over a score tile
 *                    (VECSCORE_CL_FILTER=0, for comparison);
 *   vs_select_query  one work-group per query, after every tile; it returns
 *                    at once unless the buffer is more than half full, has
 *                    overflowed, or this is the last tile. Then it selects
 *                    the best k of running list + survivors by a radix
 *                    select (a 256-bucket histogram of 8 key bits per pass
 *                    in local memory, most significant first, stopping as
 *                    soon as the bucket holding the k-th entry is wholly
 *                    taken), gathers them into local memory, sorts them
 *                    with a bitonic network and writes the new running
 *                    list and threshold, or the caller's rows on the last
 *                    tile. On overflow the survivors of the current tile
 *                    are not trusted: it takes those of earlier tiles from
 *                    the buffer and scans the whole score row of the tile
 *                    again (in the tile buffer: vs_rescore_tile, or the
 *                    separate pass's tile), so the answer stays exact
 *                    whatever the buffer size.
 * An entry is one 64-bit word whose unsigned order is the library's order
 * (VS_TOPK_BEFORE; larger word = ranks before): bits 63..32 the key mapped
 * to an ordered integer (NaN lowest, -0 as +0), bits 31..1 0x7fffffff - id
 * (ids < 2^31, the host checks), bit 0 the sign of a key of -0.0 or NaN so
 * the score is given back bit for bit (a NaN with its sign, the quiet NaN's
 * payload).
 * Words are unique (one per candidate id), so the k-th is exact.
 */

inline float vs_entry_key(ulong e) {
    const uint ord = (uint)(e >> 32);
    if (ord == 0) return (e & 1ul) ? -NAN : NAN;
    if (e & 1ul) return -0.0f;
    return as_float((ord & 0x80000000u) ? (ord & 0x7fffffffu) : ~ord);
}

inline long vs_entry_id(ulong e) {
    return (long)(0x7fffffffu - (uint)((e >> 1) & 0x7fffffffu));
}

/* state per query: [0] survivors counted this round, [1] survivors of earlier tiles
 * (kept), [2] entries of the running list, [3] the threshold's key as float bits (vs_offer's
 * first test; -inf: none). */
__kernel void vs_topk_reset(uint rows, __global uint *state, __global ulong *thresholds) {
    const uint row = (uint)get_global_id(0);
    if (row >= rows) return;
    state[row * 4] = 0;
    state[row * 4 + 1] = 0;
    state[row * 4 + 2] = 0;
    state[row * 4 + 3] = as_uint(-INFINITY);
    thresholds[row] = 0; /* every real entry's word is > 0 */
}

__kernel void vs_filter_tile(__global const float *tile, ulong ld_tile, uint rows, uint columns,
                             long id_base, __global const ulong *thresholds,
                             __global uint *state, __global ulong *survivors, uint cap) {
    const uint c = (uint)get_global_id(0), row = (uint)get_global_id(1);
    if (c >= columns || row >= rows) return;
    vs_offer(tile[(ulong)row * ld_tile + c], id_base + (long)c, row, thresholds, state, survivors,
             cap);
}

/*
 * vs_rescore_tile: after a score kernel with the threshold test fused
 * (cap > 0), the rows whose survivor buffer overflowed (count > cap) get
 * their whole score row of the tile written into `out` (ld_out apart), so
 * vs_select_query can read it again as it reads the separate pass's tile;
 * other rows return at once (a work-group per row, so a tile without an
 * overflow costs one read per row). Each score is the one the family's kernel
 * computed, bit for bit: lanes16 != 0 sums as vs_score_rows (16 lanes, then
 * the fixed reduction and the tail), else one fma chain in depth order (as
 * vs_score_tile, vs_score_blocked and vs_score_stream); same epilogue.
 */
__kernel void vs_rescore_tile(__global const float *queries, uint rows,
                              __global const float *candidates, ulong candidate_offset,
                              uint columns, uint dim, int metric, __global const float *qaux,
                              __global const float *caux, ulong caux_offset, __global float *out,
                              ulong ld_out, int negate, __global const uint *state, uint cap,
                              int lanes16) {
    const uint row = (uint)get_group_id(0), lid = (uint)get_local_id(0);
    if (row >= rows || state[row * 4] <= cap) return; /* the whole group leaves together */
    __global const float *q = queries + (ulong)row * dim;
    for (uint col = lid; col < columns; col += (uint)get_local_size(0)) {
        __global const float *c = candidates + candidate_offset + (ulong)col * dim;
        float dot = 0.0f;
        if (lanes16)
            vs_dots_rows(q, c, dim, 1, &dot);
        else
            for (uint d = 0; d < dim; d++)
                dot = fma(q[d], c[d], dot);
        const float s = vs_epilogue(metric, dot, qaux[row], caux[caux_offset + col]);
        out[(ulong)row * ld_out + col] = negate ? -s : s;
    }
}

/* Entry i of the query's candidates: the running list, then survivors, then (on overflow)
 * the tile row; 0 for a tile score that does not pass the threshold. */
inline ulong vs_candidate(uint i, uint run_n, uint surv_n, __global const ulong *run,
                          __global const ulong *surv, __global const float *scores,
                          long id_base, ulong threshold) {
    if (i < run_n) return run[i];
    i -= run_n;
    if (i < surv_n) return surv[i];
    i -= surv_n;
    const ulong e = vs_entry(scores[i], id_base + (long)i);
    return e > threshold ? e : 0;
}

__kernel __attribute__((reqd_work_group_size(VS_SELECT_WG, 1, 1))) void
vs_select_query(__global const float *tile, ulong ld_tile, uint rows, uint columns, long id_base,
                __global ulong *thresholds, __global uint *state, __global const ulong *survivors,
                uint cap, __global ulong *running, uint k, int last, int is_distance, uint k_out,
                __global float *out_scores, __global long *out_ids, ulong out_offset) {
    __local ulong sorted[VS_SELECT_CAP];
    __local uint histogram[256];
    __local uint found[4]; /* bucket, still needed, done, gathered */
    const uint row = (uint)get_group_id(0), lid = (uint)get_local_id(0);
    if (row >= rows) return; /* the whole group leaves together */
    __global uint *st = state + row * 4;
    const uint counted = st[0], kept = st[1], run_n = st[2];
    const int overflow = counted > cap;
    if (!last && !overflow && counted <= cap / 2) {
        barrier(CLK_GLOBAL_MEM_FENCE); /* every work-item has read st[0] */
        if (lid == 0) st[1] = counted;
        return;
    }
    const ulong threshold = thresholds[row];
    const uint surv_n = overflow ? kept : counted;
    const uint total = run_n + surv_n + (overflow ? columns : 0);
    __global const ulong *run = running + (ulong)row * k;
    __global const ulong *surv = survivors + (ulong)row * cap;
    __global const float *scores = tile + (ulong)row * ld_tile;
    ulong prefix = 0, mask = 0;
    uint need = k;
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (uint b = lid; b < 256; b += VS_SELECT_WG)
            histogram[b] = 0;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint i = lid; i < total; i += VS_SELECT_WG) {
            const ulong e = vs_candidate(i, run_n, surv_n, run, surv, scores, id_base, threshold);
            if (e != 0 && (e & mask) == prefix) atomic_inc(&histogram[(uint)(e >> shift) & 255u]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid == 0) {
            uint above = 0, b = 256, done = 0;
            if (shift == 56) {
                uint all = 0;
                for (uint j = 0; j < 256; j++)
                    all += histogram[j];
                done = all <= need; /* fewer than k candidates: take them all */
            }
            if (!done) {
                while (b > 0 && above + histogram[b - 1] < need)
                    above += histogram[--b];
                b--; /* the bucket holding the need-th entry */
                done = histogram[b] == need - above;
            }
            found[0] = b;
            found[1] = need - above;
            found[2] = done;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        const uint done = found[2];
        if (found[0] < 256) { /* keep the bucket's bits: everything above it is taken whole */
            prefix |= (ulong)found[0] << shift;
            mask |= (ulong)255 << shift;
            need = found[1];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (done) break;
    }
    /* Gather: every entry whose masked word is >= prefix is one of the best (<= k). */
    if (lid == 0) found[3] = 0;
    for (uint i = lid; i < VS_SELECT_CAP; i += VS_SELECT_WG)
        sorted[i] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint i = lid; i < total; i += VS_SELECT_WG) {
        const ulong e = vs_candidate(i, run_n, surv_n, run, surv, scores, id_base, threshold);
        if (e != 0 && (e & mask) >= prefix) {
            const uint at = atomic_inc(&found[3]);
            if (at < VS_SELECT_CAP) sorted[at] = e;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const uint gathered = min(found[3], k);
    uint n = 1;
    while (n < gathered)
        n <<= 1;
    /* Largest word first (ranks before); zeros (empty) sink to the end. */
    vs_sort_local(n, lid, VS_SELECT_WG, sorted, 0, 0);
    if (last) {
        for (uint r = lid; r < k_out; r += VS_SELECT_WG) {
            const ulong at = (out_offset + row) * (ulong)k_out + r;
            if (r < gathered) {
                const float key = vs_entry_key(sorted[r]);
                out_ids[at] = vs_entry_id(sorted[r]);
                out_scores[at] = is_distance ? -key : key;
            } else {
                out_ids[at] = -1;
                out_scores[at] = is_distance ? INFINITY : -INFINITY;
            }
        }
        return;
    }
    __global ulong *next = running + (ulong)row * k;
    for (uint r = lid; r < gathered; r += VS_SELECT_WG)
        next[r] = sorted[r];
    barrier(CLK_GLOBAL_MEM_FENCE);
    if (lid == 0) {
        st[0] = 0;
        st[1] = 0;
        st[2] = gathered;
        thresholds[row] = gathered == k ? sorted[k - 1] : 0;
        const float key = gathered == k ? vs_entry_key(sorted[k - 1]) : -INFINITY;
        st[3] = as_uint(isnan(key) ? -INFINITY : key);
    }
}
