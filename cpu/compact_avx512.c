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

#include "compact_body.h"

static void dot_f16_avx512(const float *const *queries, size_t rows, const uint16_t *stored,
                           size_t count, size_t dim, float *out, size_t ldo) {
    compact_half_rows(queries, rows, stored, count, dim, out, ldo, 0);
}

static void dot_bf16_avx512(const float *const *queries, size_t rows, const uint16_t *stored,
                            size_t count, size_t dim, float *out, size_t ldo) {
    compact_half_rows(queries, rows, stored, count, dim, out, ldo, 1);
}

const vs__compact_kernels vs__compact_avx512 = {
    .isa = "avx512",
    .bf16_pairs = 16,
    .dot_f16 = dot_f16_avx512,
    .dot_bf16 = dot_bf16_avx512,
    .dot_i8 = compact_i8_rows,
};

const vs__compact_kernels vs__compact_avx512_bf16 = {
    .isa = "avx512bf16",
    .bf16_pairs = 16,
    .bf16_round = 1,
    .dot_f16 = dot_f16_avx512,
    .dot_bf16 = vs__compact_dot_bf16_avx512bf16,
    .dot_i8 = compact_i8_rows,
};

const vs__compact_kernels vs__compact_avx512_vnni = {
    .isa = "avx512vnni",
    .bf16_pairs = 16,
    .dot_f16 = dot_f16_avx512,
    .dot_bf16 = dot_bf16_avx512,
    .dot_i8 = vs__compact_dot_i8_avx512vnni,
};

const vs__compact_kernels vs__compact_avx512_bf16_vnni = {
    .isa = "avx512bf16vnni",
    .bf16_pairs = 16,
    .bf16_round = 1,
    .dot_f16 = dot_f16_avx512,
    .dot_bf16 = vs__compact_dot_bf16_avx512bf16,
    .dot_i8 = vs__compact_dot_i8_avx512vnni,
};
