/*
 * kernels.h — the CPU dispatch table and the kernels behind it.
 *
 * Three kernel shapes, implemented once per ISA (serial.c is the reference;
 * avx2.c, avx512.c and neon.c are compiled with their own flags):
 *
 *   dot        one pair of vectors, vectorised along the dimension.
 *   dot_rows   a rows x cols block of raw dot products between row-major
 *              queries and row-major candidates (vectorised along dim). Used
 *              when queries are few and candidates are passed per call, so no
 *              packing is worth its cost.
 *   tile       the GEMM-style micro-kernel: rows (<= mr) packed queries x one
 *              packed panel of nr candidates, vectorised across candidates,
 *              accumulators held in registers for the whole dimension.
 *
 * Packed layouts (see pack.c): a panel of n rows of dimension dim is stored
 * dimension-major, element (row j, dimension d) at panel[d * stride + j].
 *   - candidate panels: stride = nr, padded with zero rows to nr;
 *   - query slivers: stride = rows (the sliver's own row count, <= mr), so a
 *     one-row sliver is the query itself and needs no staging.
 *
 * The two macro-kernels (block_packed, block_rows) are written once in
 * block.h and compiled inside each ISA file, so the epilogue (metric
 * transform, top-k filter) is vectorised with that ISA's flags.
 */
#ifndef VS_CPU_KERNELS_H
#define VS_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "topk.h"
#include "vecscore.h"

#define VS_MAX_MR 16
#define VS_MAX_NR 32
#define VS_ROWS_BLOCK 4 /* queries per dot_rows call in block_rows */

/*
 * What the epilogue needs to turn raw dot products into scores and deliver
 * them: either into a score matrix or into per-query heaps.
 *
 *   qaux[i]   for query i (relative to the chunk): COSINE 1/|q| of the query
 *             as the kernels see it (scaled by 2^shift, see vs__cosine_aux; 0
 *             for a zero vector, NaN if a component is not finite), L2SQ
 *             |q|^2, DOT unused.
 *   caux[j]   the same for candidate j, indexed from caux_base; for COSINE,
 *             VS_CAUX_RESCUE marks a candidate the kernels see unscaled whose
 *             norm is outside the safe range: its cosines are recomputed in
 *             float64 (vs__cosine_f64) before delivery. `rescue` says whether
 *             any candidate of the range is marked.
 */
typedef struct vs__epilogue {
    vs_metric metric;
    const float *qaux;
    const float *caux;
    size_t caux_base; /* candidate index of caux[0] */
    int rescue;       /* COSINE: some caux in this range is VS_CAUX_RESCUE */
    /* score mode (heaps == NULL): scores[(query) * ld + candidate] */
    float *scores;
    size_t ld;
    /* top-k mode: one heap per query of the chunk */
    vs__heap *heaps;
    /*
     * Score mode, optional (pass_hits NULL: none): exact compact mode's fused
     * threshold (cpu/compact.h vs__compact_filter): pass_hits[query] counts the
     * candidates whose raw dot s has !(s * pass_factor[candidate] <
     * pass_threshold[query]). DOT only (no transform).
     */
    const float *pass_threshold, *pass_factor;
    uint32_t *pass_hits;
} vs__epilogue;

typedef struct vs__cpu_kernels {
    const char *isa;
    size_t mr; /* query rows per tile, <= VS_MAX_MR */
    size_t nr; /* candidates per packed panel, <= VS_MAX_NR */

    float (*dot)(const float *a, const float *b, size_t dim);

    /* out[r * ldo + c] = dot(queries row r, candidates row c); rows <= VS_ROWS_BLOCK. */
    void (*dot_rows)(const float *queries, size_t rows, const float *candidates, size_t cols,
                     size_t dim, float *out, size_t ldo);

    /* out[r * nr + j] = dot(sliver row r, panel row j); qpack stride = rows <= mr. */
    void (*tile)(const float *qpack, size_t rows, const float *cpack, size_t dim, float *out);

    /*
     * Packed macro-kernel: queries [q0, q0 + nq) of the chunk, packed as
     * consecutive slivers of mr rows at qpack (qpack_sliver_stride floats
     * apart; the last may be shorter), against packed panels cpack holding
     * candidates [c0, c0 + nc). Results go through the epilogue.
     */
    void (*block_packed)(const vs__epilogue *epi, const float *qpack, size_t qpack_sliver_stride,
                         size_t q0, size_t nq, const float *cpack, size_t c0, size_t nc,
                         size_t dim);

    /*
     * Row-major macro-kernel: queries [q0, q0 + nq) at queries (row-major),
     * against row-major candidates [c0, c0 + nc) at candidates.
     */
    void (*block_rows)(const vs__epilogue *epi, const float *queries, size_t q0, size_t nq,
                       const float *candidates, size_t c0, size_t nc, size_t dim);
} vs__cpu_kernels;

/*
 * Every ISA the library knows, on every architecture, as X(name, arch):
 * arch is ALL, X86 or ARM64, and an ISA of another architecture has no table
 * in the build and is never supported. The reference comes first; among
 * those this CPU supports, a later row is preferred over an earlier one, so
 * the order within one architecture is worst to best. cpu/dispatch.c builds
 * its table from these rows (vs__kernels_<name>, has_<name>), and
 * vs_cpu_isa_name lists the names in this order. A new ISA is a row here,
 * its file, and its CPU check in dispatch.c (CONTRIBUTING.md).
 */
#define VS_CPU_ISA_TABLE(X) X(serial, ALL) X(avx2, X86) X(avx512, X86) X(neon, ARM64)

/* Per-ISA tables (each file defines one; the x86 ones only on x86, neon only on AArch64). */
extern const vs__cpu_kernels vs__kernels_serial;
#if defined(__x86_64__) || defined(__i386__)
extern const vs__cpu_kernels vs__kernels_avx2;
extern const vs__cpu_kernels vs__kernels_avx512;
#endif
#if defined(__aarch64__)
extern const vs__cpu_kernels vs__kernels_neon;
#endif

/*
 * Resolves an ISA: NULL or "" = the best this CPU has; otherwise the named
 * one. Returns 0 and sets *out, VS_ERR_UNSUPPORTED if the CPU lacks it, or
 * VS_ERR_INVALID_ARGUMENT for an unknown name.
 */
int vs__cpu_kernels_get(const char *isa, const vs__cpu_kernels **out);

/* Packing (pack.c): rows x dim row-major -> dimension-major with the given stride. */
void vs__pack_rows(const float *rows, size_t count, size_t dim, size_t stride, float *dst);

/* Size in floats of the packed panels for n candidates (panels of nr). */
size_t vs__packed_floats(size_t n, size_t dim, size_t nr);

/*
 * Norms for cosine (pack.c; docs/numerics.md "Tiny and huge vectors").
 *
 * The float32 dot of two vectors is accurate (relative to |q| |c|) while
 * |q| |c| stays inside about [2^-100, 2^100]: below, products underflow;
 * above, sums overflow. A vector is "moderate" when |v| is in
 * [2^-VS_NORM_SAFE_EXP, 2^VS_NORM_SAFE_EXP]; any two moderate vectors are
 * safe together. Other finite nonzero vectors are either scaled by an exact
 * power of two into [0.5, 1) before the kernels see them (queries, and
 * candidates on OpenCL), or, as CPU candidates, marked VS_CAUX_RESCUE and
 * scored in float64.
 */
#define VS_NORM_SAFE_EXP 40
#define VS_CAUX_RESCUE (-1.0f)

/* Sum of v_i^2 in float64: no underflow or overflow for any float32 input. */
double vs__norm_sq_f64(const float *v, size_t dim);

/*
 * Cosine aux value from a float64 squared norm: 0 for a zero vector, NaN if
 * it is not finite, else 1/|v 2^shift| rounded once, where *shift is 0 for a
 * moderate vector and otherwise the power of two that brings |v| into
 * [0.5, 1). *shift is 0 whenever the result is 0 or NaN.
 */
float vs__cosine_aux(double norm_sq, int *shift);

/*
 * The same from a float32 squared norm computed by a kernel (fast path for
 * per-call candidates): used as it is when it shows a moderate vector, else
 * recomputed in float64 from v.
 */
float vs__cosine_aux_f32(float norm_sq, const float *v, size_t dim, int *shift);

/* x[i * stride] *= 2^shift for i < count (ldexpf: exact unless it underflows). */
void vs__scale_strided(float *x, size_t count, size_t stride, int shift);

/*
 * Cosine of a and b (element i at a[i * a_step], b[i * b_step]) in float64,
 * clamped to [-1, 1], 0 if either is a zero vector: the rescue path.
 */
float vs__cosine_f64(const float *a, size_t a_step, const float *b, size_t b_step, size_t dim);

#endif /* VS_CPU_KERNELS_H */
