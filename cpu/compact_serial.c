/*
 * compact_serial.c — the reference compact kernels (plain C) and the choice of
 * compact table per ISA.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compact.h"

float vs__compact_f16_to_f32(uint16_t bits) {
    const int sign = bits >> 15, exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
    float value;
    if (exponent == 0)
        value = ldexpf((float)mantissa, -24);
    else if (exponent == 31)
        value = mantissa ? NAN : INFINITY;
    else
        value = ldexpf((float)(mantissa | 0x400), exponent - 25);
    return sign ? -value : value;
}

static void dot_f16_serial(const float *const *queries, size_t rows, const uint16_t *stored,
                           size_t count, size_t dim, float *out, size_t ldo) {
    for (size_t j = 0; j < count; j++) {
        const uint16_t *row = stored + j * dim;
        for (size_t r = 0; r < rows; r++) {
            float sum = 0;
            for (size_t i = 0; i < dim; i++)
                sum += queries[r][i] * vs__compact_f16_to_f32(row[i]);
            out[r * ldo + j] = sum;
        }
    }
}

static void dot_bf16_serial(const float *const *queries, size_t rows, const uint16_t *stored,
                            size_t count, size_t dim, float *out, size_t ldo) {
    for (size_t j = 0; j < count; j++) {
        const uint16_t *row = stored + j * dim;
        for (size_t r = 0; r < rows; r++) {
            float sum = 0;
            for (size_t i = 0; i < dim; i++)
                sum += queries[r][i] * vs__compact_bf16_to_f32(row[i]);
            out[r * ldo + j] = sum;
        }
    }
}

static void dot_i8_serial(const int16_t *const *queries, size_t rows, const int8_t *stored,
                          size_t count, size_t dim, int64_t *out, size_t ldo) {
    for (size_t j = 0; j < count; j++) {
        const int8_t *row = stored + j * dim;
        for (size_t r = 0; r < rows; r++) {
            int64_t sum = 0;
            for (size_t i = 0; i < dim; i++)
                sum += (int32_t)queries[r][i] * row[i];
            out[r * ldo + j] = sum;
        }
    }
}

const vs__compact_kernels vs__compact_serial = {
    .isa = "serial",
    .dot_f16 = dot_f16_serial,
    .dot_bf16 = dot_bf16_serial,
    .dot_i8 = dot_i8_serial,
};

/* Rank of an ISA name among the x86 compact tables (serial 0); -1 if unknown. */
static int rank_of(const char *isa) {
    if (isa == NULL || strcmp(isa, "serial") == 0 || strcmp(isa, "neon") == 0) return 0;
    if (strcmp(isa, "avx2") == 0) return 1;
    if (strcmp(isa, "avx512") == 0) return 2;
    return -1;
}

const vs__compact_kernels *vs__compact_kernels_for(const char *isa) {
    int rank = rank_of(isa);
    if (rank < 0) return NULL;
    const char *forced = getenv("VECSCORE_COMPACT_ISA");
    if (forced != NULL && forced[0] != '\0') {
        const int want = rank_of(forced);
        if (want < 0 || strcmp(forced, "neon") == 0 || want > rank) return NULL;
        rank = want;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (rank == 2 && __builtin_cpu_supports("avx512bw")) return &vs__compact_avx512;
    if (rank == 2 && forced != NULL && strcmp(forced, "avx512") == 0) return NULL;
    if (rank == 2) rank = 1; /* AVX-512F/DQ without BW: the AVX2 compact table */
    if (rank == 1) return &vs__compact_avx2;
#endif
    return &vs__compact_serial;
}
