/*
 * compact_avx512_vnni.c — the int8 compact kernel with AVX512_VNNI (compiled
 * with -mavx512f -mavx512bw -mavx512vnni -mfma -mf16c): vpdpwssd adds the
 * pairwise int16 x int16 products straight into the int32 lanes, one
 * instruction for vpmaddwd + vpaddd. The sums are the same integers, so the
 * kernel stays exact (int32 lanes widened to int64 every VS_COMPACT_I8_BLOCK
 * dims, as in compact_body.h). The blocked int8 kernel (compact_blocked_body.h)
 * is compiled here too with vpdpwssd as its madd-accumulate, on the panels
 * that compact_blocked_avx512.c packs.
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

/* The blocked int8 tile (6 queries x 32 rows, 12 zmm accumulators) with vpdpwssd. */
#define CBI __m512i
#define CBW 16
#define CB_ZEROI() _mm512_setzero_si512()
#define CB_LOADI(p) _mm512_loadu_si512((const void *)(p))
#define CB_STOREI(p, v) _mm512_storeu_si512((void *)(p), v)
#define CB_BCAST32(p) _mm512_set1_epi32(*(p))
#define CB_MADD_ACC(acc, x, q) _mm512_dpwssd_epi32(acc, x, q)
#define CB_NO_PACK
#define CB_PREFIX vs__compact_avx512vnni_
#include "compact_blocked_body.h"
