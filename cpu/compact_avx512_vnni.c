/*
 * compact_avx512_vnni.c — the int8 compact kernel with AVX512_VNNI (compiled
 * with -mavx512f -mavx512bw -mavx512vnni -mfma -mf16c): vpdpwssd adds the
 * pairwise int16 x int16 products straight into the int32 lanes, one
 * instruction for vpmaddwd + vpaddd. The sums are the same integers, so the
 * kernel stays exact (int32 lanes widened to int64 every VS_COMPACT_I8_BLOCK
 * dims, as in compact_body.h).
 */
#include "compact_zmm.h"

#define C_MADD_ADD(acc, x, q) _mm512_dpwssd_epi32(acc, x, q)

#include "compact_body.h"

void vs__compact_dot_i8_avx512vnni(const int16_t *const *queries, size_t rows, const int8_t *stored,
                                   size_t count, size_t dim, int64_t *out, size_t ldo) {
    compact_i8_rows(queries, rows, stored, count, dim, out, ldo);
}

uint64_t vs__compact_scan1_i8_avx512vnni(const int16_t *query, const int8_t *stored, size_t count,
                                         size_t dim, int64_t threshold, int64_t *out) {
    return i8_row1(query, stored, count, dim, out, threshold);
}
