/*
 * compact.h — kernels that scan a compact corpus (float16, bfloat16, int8
 * rows, row-major, one per-vector scale kept by host/compact.c).
 *
 * Each kernel scores `rows` queries (rows <= VS_COMPACT_QUERIES) against
 * `count` consecutive stored rows of dimension dim, row-major:
 *
 *   out[r * ldo + j] = sum_i query_r[i] * decode(row j)[i]
 *
 *   f16, bf16   queries are float32 (already scaled by a power of two by the
 *               host); products and sums in float32 (FMA where the ISA has
 *               it), in any order: the host's bound allows for every order
 *               (docs/numerics.md, "Compact storage").
 *   i8          queries are int16 (quantised by the host, its error is in the
 *               bound); the sum is exact, in int64.
 *
 * The SIMD kernels work in register tiles of queries x stored rows, one
 * accumulator per (query, row) pair, so a pair's sum is the same in any tile;
 * a call of one query walks the rows one at a time with 4 accumulators each
 * (cpu/compact_body.h). serial (compact_serial.c) is the reference; avx2
 * (compact_avx2.c: F16C conversions, bfloat16 by a shift and a mask, int8 x
 * int16 by vpmaddwd) and avx512
 * (compact_avx512.c: the same with 512-bit registers) are compiled with their
 * own flags. neon uses the serial table.
 */
#ifndef VS_CPU_COMPACT_H
#define VS_CPU_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#define VS_COMPACT_QUERIES 4 /* queries per kernel call */
/* dims per int32 block of the int8 kernels: 2048 / 8 lanes x 127 x 32768 < 2^31 */
#define VS_COMPACT_I8_BLOCK 2048
#define VS_COMPACT_SCAN1_ROWS 64 /* stored rows per scan1_* call, at most */

/*
 * The blocked kernels (cpu/compact_blocked_body.h), for jobs of at least
 * block_queries queries: each block of stored rows is decoded once into
 * packed panels, then every query of the job runs over them in register
 * tiles, as the float32 micro-kernels do (cpu/kernels.h, cpu/block.h).
 *
 *   f16, bf16  pack_half decodes `count` stored rows into float32 panels of
 *              f32->nr rows, dimension-major (the float32 candidate panel
 *              layout of cpu/kernels.h: element (row j, dim d) of panel P at
 *              panels[P * nr * dim + d * nr + j], zero rows to a whole
 *              panel); the host runs f32->block_packed on them against the
 *              job's queries packed in slivers of f32->mr (natural dim order:
 *              bf16_pairs does not apply). Each sum is one FMA chain in dim
 *              order: another order than dot_f16's, which the bound allows.
 *   i8         pack_i8 widens `count` stored rows to int16 panels of i8_nr
 *              rows in pairs of dims: int16 element (row j, dim 2p + e) of
 *              panel P at panels[P * i8_nr * 2 * pairs + (p * i8_nr + j) * 2
 *              + e], pairs = ceil(dim / 2), a missing odd dim and missing rows
 *              zero. The queries go by vs__compact_i8_pack_queries into
 *              slivers of i8_mr (int32 = the pair's two int16 levels).
 *              dot_i8_blocked sums exactly (int32 lanes over slabs of
 *              VS_COMPACT_I8_SLAB dims, then int64).
 * Only dim <= VS_COMPACT_BLOCKED_MAX_DIM (bounds the per-thread panels).
 */
#define VS_COMPACT_BLOCKED_MAX_DIM 16384
/* dims per int32 slab of the blocked int8 kernel: 512 x 128 x 32767 < 2^31 (queries |level| <=
 * 32767) */
#define VS_COMPACT_I8_SLAB 512
#define VS_COMPACT_I8_MAX_MR 8

/*
 * Exact mode's fused threshold (host/compact.c, docs/numerics.md "Fused
 * threshold"): in the blocked kernels' epilogue, the sum s of query r and
 * stored row j of the call passes unless (float)s * factor[j] < threshold[r]
 * (so a NaN sum passes); hits[r] is increased by the number of rows of the
 * call that pass. The sums are still written in full. The float32 kernels'
 * epilogue runs the same test (vs__epilogue pass_*, cpu/kernels.h).
 */
typedef struct vs__compact_filter {
    const float *threshold; /* per query of the call */
    const float *factor;    /* per stored row of the call */
    uint32_t *hits;         /* per query of the call */
} vs__compact_filter;

struct vs__cpu_kernels;

typedef struct vs__compact_kernels {
    const char *isa;
    /*
     * 0: dot_bf16 reads its queries in natural order. P > 0: it reads each
     * block of 2P dims [b, b + 2P) (b a multiple of 2P, b + 2P <= dim) as the
     * P even dims b, b + 2, ... then the P odd ones, so that one load of 2P
     * stored bfloat16 values gives both halves by a shift and a mask, with no
     * shuffle; the host passes the queries so permuted (the dims after the
     * last whole block stay in order).
     */
    size_t bf16_pairs;
    /*
     * 1: dot_bf16 multiplies bfloat16 by bfloat16 (AVX512_BF16 vdpbf16ps), so
     * the host rounds its float queries to bfloat16 (nearest even, values
     * below 2^-126 flushed to zero: what the kernel sees), and the bound
     * allows for the instruction's flush to zero of subnormal stored values,
     * products and sums (docs/numerics.md). 0: the queries stay float32.
     */
    int bf16_round;
    void (*dot_f16)(const float *const *queries, size_t rows, const uint16_t *stored, size_t count,
                    size_t dim, float *out, size_t ldo);
    void (*dot_bf16)(const float *const *queries, size_t rows, const uint16_t *stored, size_t count,
                     size_t dim, float *out, size_t ldo);
    void (*dot_i8)(const int16_t *const *queries, size_t rows, const int8_t *stored, size_t count,
                   size_t dim, int64_t *out, size_t ldo);
    /*
     * One query (the memory-bound shape), the threshold test fused: out[j] is
     * the query's sum against stored row j (count <= VS_COMPACT_SCAN1_ROWS), the
     * same value dot_*(rows = 1) gives, and bit j of the result is set when
     * !(out[j] < threshold) (a NaN sum is kept). The SIMD kernels walk the rows
     * one after another, each with C_ROW1_ACC accumulators (cpu/compact_body.h):
     * one sequential stream, which the hardware prefetcher follows best.
     */
    uint64_t (*scan1_f16)(const float *query, const uint16_t *stored, size_t count, size_t dim,
                          float threshold, float *out);
    uint64_t (*scan1_bf16)(const float *query, const uint16_t *stored, size_t count, size_t dim,
                           float threshold, float *out);
    uint64_t (*scan1_i8)(const int16_t *query, const int8_t *stored, size_t count, size_t dim,
                         int64_t threshold, int64_t *out);

    /* The blocked kernels (see above); block_queries 0: none. */
    size_t block_queries;
    const struct vs__cpu_kernels *f32; /* the float32 table whose block_packed runs the panels */
    void (*pack_half)(const uint16_t *stored, size_t count, size_t dim, int bf16, size_t nr,
                      float *panels);
    size_t i8_mr, i8_nr; /* i8_mr <= VS_COMPACT_I8_MAX_MR */
    void (*pack_i8)(const int8_t *stored, size_t count, size_t dim, int16_t *panels);
    /*
     * out[r * ldo + j] = sum_i query_r[i] * row_j[i], r < nq, j < count, exact;
     * filter (NULL: none) counts the rows that pass its threshold.
     */
    void (*dot_i8_blocked)(const int32_t *qpack, size_t nq, const int16_t *panels, size_t count,
                           size_t dim, const vs__compact_filter *filter, int64_t *out, size_t ldo);
} vs__compact_kernels;

/*
 * int16 query levels (rows of them, row r at queries[r]) into slivers of mr:
 * sliver s at dst + s * mr * pairs, int32 element (pair p, row r) at
 * [p * rows_s + r] holding levels 2p (low half) and 2p + 1 (high half, 0
 * past dim), rows_s = min(mr, rows - s * mr). compact_serial.c.
 */
void vs__compact_i8_pack_queries(const int16_t *const *queries, size_t rows, size_t dim, size_t mr,
                                 int32_t *dst);

extern const vs__compact_kernels vs__compact_serial;
#if defined(__x86_64__) || defined(__i386__)
extern const vs__compact_kernels vs__compact_avx2;
/*
 * The AVX-512 tables (compact_avx512.c): AVX-512F/BW alone ("avx512"), and
 * with AVX512_BF16 dot products for bfloat16 ("avx512bf16"), AVX512_VNNI
 * vpdpwssd for int8 ("avx512vnni"), or both ("avx512bf16vnni").
 */
extern const vs__compact_kernels vs__compact_avx512;
/* The blocked kernels of avx2 / avx512 (compact_blocked_avx2.c, compact_blocked_avx512.c). */
void vs__compact_avx2_pack_half(const uint16_t *stored, size_t count, size_t dim, int bf16,
                                size_t nr, float *panels);
void vs__compact_avx2_pack_i8(const int8_t *stored, size_t count, size_t dim, int16_t *panels);
void vs__compact_avx2_dot_i8_blocked(const int32_t *qpack, size_t nq, const int16_t *panels,
                                     size_t count, size_t dim, const vs__compact_filter *filter,
                                     int64_t *out, size_t ldo);
void vs__compact_avx512_pack_half(const uint16_t *stored, size_t count, size_t dim, int bf16,
                                  size_t nr, float *panels);
void vs__compact_avx512_pack_i8(const int8_t *stored, size_t count, size_t dim, int16_t *panels);
void vs__compact_avx512_dot_i8_blocked(const int32_t *qpack, size_t nq, const int16_t *panels,
                                       size_t count, size_t dim, const vs__compact_filter *filter,
                                       int64_t *out, size_t ldo);
/* The blocked int8 kernel with vpdpwssd (compact_avx512_vnni.c; avx512's packing). */
void vs__compact_avx512vnni_dot_i8_blocked(const int32_t *qpack, size_t nq, const int16_t *panels,
                                           size_t count, size_t dim,
                                           const vs__compact_filter *filter, int64_t *out,
                                           size_t ldo);
extern const vs__compact_kernels vs__compact_avx512_bf16;
extern const vs__compact_kernels vs__compact_avx512_vnni;
extern const vs__compact_kernels vs__compact_avx512_bf16_vnni;
/* The same four built against SIMDe (cpu/x86_simd.h), in test programs only. */
extern const vs__compact_kernels vs__compact_avx512_simde;
extern const vs__compact_kernels vs__compact_avx512_bf16_simde;
extern const vs__compact_kernels vs__compact_avx512_vnni_simde;
extern const vs__compact_kernels vs__compact_avx512_bf16_vnni_simde;
/* The feature kernels behind them (compact_avx512_bf16.c, compact_avx512_vnni.c). */
void vs__compact_dot_bf16_avx512bf16(const float *const *queries, size_t rows,
                                     const uint16_t *stored, size_t count, size_t dim, float *out,
                                     size_t ldo);
void vs__compact_dot_i8_avx512vnni(const int16_t *const *queries, size_t rows, const int8_t *stored,
                                   size_t count, size_t dim, int64_t *out, size_t ldo);
uint64_t vs__compact_scan1_bf16_avx512bf16(const float *query, const uint16_t *stored, size_t count,
                                           size_t dim, float threshold, float *out);
uint64_t vs__compact_scan1_i8_avx512vnni(const int16_t *query, const int8_t *stored, size_t count,
                                         size_t dim, int64_t threshold, int64_t *out);
#endif

struct vs__cpu_kernels;
/*
 * Test hook (tests/simde_main.h): from now on the float32 ISA "avx512" is
 * supported and is `kernels`, and its compact tables are `compact` (the four
 * above, in that order), whatever this CPU has: the test programs built
 * against SIMDe hand their emulated tables here. Call it before creating a
 * context; NULL restores the hardware tables. Not part of the library's use.
 */
void vs__cpu_emulate_avx512(const struct vs__cpu_kernels *kernels,
                            const vs__compact_kernels *const compact[4]);

/*
 * The compact table for a float32 kernel ISA name ("serial", "avx2",
 * "avx512", "neon"): the table of that ISA where there is one, else serial;
 * on avx512, the one with every feature of AVX512_BF16 and AVX512_VNNI this
 * CPU has. forced (NULL or "" for none; host/compact.c passes
 * VECSCORE_COMPACT_ISA, so cpu/ reads no environment) names one table for
 * testing ("serial", "avx2", "avx512", "avx512bf16", "avx512vnni",
 * "avx512bf16vnni"; "avx512" is the one with both features off); it must
 * not name an ISA above the float32 one. Returns NULL for a forced table
 * this CPU or build lacks, or an unknown name.
 */
const vs__compact_kernels *vs__compact_kernels_for(const char *isa, const char *forced);

/* float16 / bfloat16 bit patterns to float32 (exact). */
static inline float vs__compact_f16_to_f32(uint16_t bits) {
    const int sign = bits >> 15, exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
    float value;
    if (exponent == 0)
        value = __builtin_ldexpf((float)mantissa, -24);
    else if (exponent == 31)
        value = mantissa ? __builtin_nanf("") : __builtin_inff();
    else
        value = __builtin_ldexpf((float)(mantissa | 0x400), exponent - 25);
    return sign ? -value : value;
}
static inline float vs__compact_bf16_to_f32(uint16_t bits) {
    union {
        uint32_t u;
        float f;
    } v = {.u = (uint32_t)bits << 16};
    return v.f;
}

#endif /* VS_CPU_COMPACT_H */
