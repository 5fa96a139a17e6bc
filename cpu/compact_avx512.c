/*
 * compact_avx512.c — compact kernels for AVX-512F/BW: float16 widened with
 * vcvtph2ps (zmm), bfloat16 by a 16-bit shift and a mask (even / odd dims), int8 x int16 by
 * vpmaddwd (zmm) into int32 lanes (widened to int64 every VS_COMPACT_I8_BLOCK dims). Compiled with
 * -mavx512f -mavx512bw -mfma -mf16c. The kernels are cpu/compact_body.h, compiled here with this
 * file's flags (the register forms in compact_zmm.h).
 *
 * The four AVX-512 tables are defined here: where the CPU has AVX512_BF16,
 * bfloat16 goes through vdpbf16ps (compact_avx512_bf16.c), and where it has
 * AVX512_VNNI, int8 through vpdpwssd (compact_avx512_vnni.c); cpu/dispatch.c
 * picks the table (docs/isa.md).
 */
#include "compact_zmm.h"
#include "kernels.h"

#include "compact_body.h"

/* The blocked kernels (compact_blocked_avx512.c), the same in every AVX-512 table. */
#define AVX512_BLOCKED                                                                             \
    .block_queries = 16, .f32 = &vs__kernels_avx512, .pack_half = vs__compact_avx512_pack_half,    \
    .i8_mr = 6, .i8_nr = 2 * 16, .pack_i8 = vs__compact_avx512_pack_i8,                            \
    .dot_i8_blocked = vs__compact_avx512_dot_i8_blocked
/* With AVX512_VNNI: the same, the int8 tile by vpdpwssd (compact_avx512_vnni.c). */
#define AVX512_BLOCKED_VNNI                                                                        \
    .block_queries = 16, .f32 = &vs__kernels_avx512, .pack_half = vs__compact_avx512_pack_half,    \
    .i8_mr = 6, .i8_nr = 2 * 16, .pack_i8 = vs__compact_avx512_pack_i8,                            \
    .dot_i8_blocked = vs__compact_avx512vnni_dot_i8_blocked

static void dot_f16_avx512(const float *const *queries, size_t rows, const uint16_t *stored,
                           size_t count, size_t dim, float *out, size_t ldo) {
    compact_half_rows(queries, rows, stored, count, dim, out, ldo, 0);
}

static void dot_bf16_avx512(const float *const *queries, size_t rows, const uint16_t *stored,
                            size_t count, size_t dim, float *out, size_t ldo) {
    compact_half_rows(queries, rows, stored, count, dim, out, ldo, 1);
}

static uint64_t scan1_f16_avx512(const float *query, const uint16_t *stored, size_t count,
                                 size_t dim, float threshold, float *out) {
    return half_row1(query, stored, count, dim, out, threshold, 0);
}

static uint64_t scan1_bf16_avx512(const float *query, const uint16_t *stored, size_t count,
                                  size_t dim, float threshold, float *out) {
    return half_row1(query, stored, count, dim, out, threshold, 1);
}

static uint64_t scan1_i8_avx512(const int16_t *query, const int8_t *stored, size_t count,
                                size_t dim, int64_t threshold, int64_t *out) {
    return i8_row1(query, stored, count, dim, out, threshold);
}

const vs__compact_kernels vs__compact_avx512 = {
    .isa = "avx512",
    .bf16_pairs = 16,
    .dot_f16 = dot_f16_avx512,
    .dot_bf16 = dot_bf16_avx512,
    .dot_i8 = compact_i8_rows,
    .scan1_f16 = scan1_f16_avx512,
    .scan1_bf16 = scan1_bf16_avx512,
    .scan1_i8 = scan1_i8_avx512,
    AVX512_BLOCKED,
};

const vs__compact_kernels vs__compact_avx512_bf16 = {
    .isa = "avx512bf16",
    .bf16_pairs = 16,
    .bf16_round = 1,
    .dot_f16 = dot_f16_avx512,
    .dot_bf16 = vs__compact_dot_bf16_avx512bf16,
    .dot_i8 = compact_i8_rows,
    .scan1_f16 = scan1_f16_avx512,
    .scan1_bf16 = vs__compact_scan1_bf16_avx512bf16,
    .scan1_i8 = scan1_i8_avx512,
    AVX512_BLOCKED,
};

const vs__compact_kernels vs__compact_avx512_vnni = {
    .isa = "avx512vnni",
    .bf16_pairs = 16,
    .dot_f16 = dot_f16_avx512,
    .dot_bf16 = dot_bf16_avx512,
    .dot_i8 = vs__compact_dot_i8_avx512vnni,
    .scan1_f16 = scan1_f16_avx512,
    .scan1_bf16 = scan1_bf16_avx512,
    .scan1_i8 = vs__compact_scan1_i8_avx512vnni,
    AVX512_BLOCKED_VNNI,
};

const vs__compact_kernels vs__compact_avx512_bf16_vnni = {
    .isa = "avx512bf16vnni",
    .bf16_pairs = 16,
    .bf16_round = 1,
    .dot_f16 = dot_f16_avx512,
    .dot_bf16 = vs__compact_dot_bf16_avx512bf16,
    .dot_i8 = vs__compact_dot_i8_avx512vnni,
    .scan1_f16 = scan1_f16_avx512,
    .scan1_bf16 = vs__compact_scan1_bf16_avx512bf16,
    .scan1_i8 = vs__compact_scan1_i8_avx512vnni,
    AVX512_BLOCKED_VNNI,
};
