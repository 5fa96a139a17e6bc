/*
 * compact_avx512_bf16.c — the bfloat16 compact kernel with AVX512_BF16
 * (compiled with -mavx512f -mavx512bw -mavx512bf16 -mfma -mf16c): vdpbf16ps
 * multiplies 32 stored bfloat16 by 32 query bfloat16 and adds the pair
 * products to 16 float32 lanes, one instruction for what the plain AVX-512
 * kernel does with a shift, a mask and two FMAs. The host gives the queries
 * already rounded to bfloat16 (bf16_round in compact.h), laid out as
 * bf16_pairs = 16 wants (each 32-dim block: 16 even dims, then 16 odd), so a
 * query's words are one shift, one mask and one or. The instruction flushes
 * subnormal inputs, products and sums to zero; the bound allows for it
 * (docs/numerics.md, "AVX512_BF16").
 */
#include "compact_zmm.h"

#define CVB __m512bh
/* Query words from [16 even dims | 16 odd dims] floats that are bfloat16 values (exact). */
static inline __m512bh bf16_query_words(const float *p) {
    const __m512i even = _mm512_castps_si512(_mm512_loadu_ps(p));
    const __m512i odd = _mm512_castps_si512(_mm512_loadu_ps(p + 16));
    return vs__m512i_as_bh(_mm512_or_si512(
        _mm512_srli_epi32(even, 16), _mm512_and_si512(odd, _mm512_set1_epi32((int)0xffff0000u))));
}
#define C_BF16_QUERY(p) bf16_query_words(p)
#define C_BF16_DP(acc, q, w) _mm512_dpbf16_ps(acc, q, vs__m512i_as_bh(w))

#include "compact_body.h"

void vs__compact_dot_bf16_avx512bf16(const float *const *queries, size_t rows,
                                     const uint16_t *stored, size_t count, size_t dim, float *out,
                                     size_t ldo) {
    compact_half_rows(queries, rows, stored, count, dim, out, ldo, 1);
}

uint64_t vs__compact_scan1_bf16_avx512bf16(const float *query, const uint16_t *stored, size_t count,
                                           size_t dim, float threshold, float *out) {
    return half_row1(query, stored, count, dim, out, threshold, 1);
}
