/*
 * test_compact.c — compact corpora (float16, bfloat16, int8 storage).
 *
 *   exact mode: vs_corpus_topk / vs_corpus_score equal, bit for bit, to a
 *     float32 corpus of the same vectors on the same context, for every
 *     storage x metric x ISA (forced, serial included), on Gaussian data,
 *     unit-normalised clustered data, ties (duplicated rows), zero and NaN
 *     vectors, tiny and huge values, NaN queries, k = 1, k = n, k > n, odd
 *     dims and misaligned query pointers;
 *   bounds: every compact score of approximate mode is within its bound of
 *     the float64 reference, over about a million random pairs per ISA
 *     (fewer under a sanitizer), and approximate top-k is within the
 *     report's max_error_bound, which (one bound per 64-row block) covers
 *     every pair's own bound and error and stays within 2x of the largest;
 *   exact mode's raw threshold: the same answer and rescored count with it
 *     on and off, and it drops most Gaussian rows;
 *   input already in float16 / bfloat16 (vs_corpus_create_from_half);
 *   bad options: clear errors, *out NULL, nothing leaked (ASan);
 *   the report: storage, rescored, fallback_queries;
 *   blocked kernels (cpu/compact.h): int8 sums exact against int64 at random
 *     and at the int8 / int16 extremes over 9007 dims, the panel layouts
 *     checked element by element, float16 / bfloat16 sums within the
 *     any-order bound of float64, over odd dims, slab edges, rows not a
 *     multiple of nr and queries not a multiple of mr; exact mode with jobs
 *     of 23 queries (the blocked path) equal to float32;
 *   threads: a corpus of several pool units scanned by 1, 2 and 3 threads
 *     (every batch split, vs__pool_test_force_split) gives the same ids,
 *     scores, score matrix, rescored count and error bound, bit for bit, and
 *     exact mode still equals float32 across the units and jobs.
 * An ISA this CPU lacks prints "ISA x: not supported by this CPU" and runs
 * nothing for it (it is not counted as a pass). The ISAs include each
 * AVX-512 compact table (avx512 alone, avx512bf16, avx512vnni, avx512bf16vnni), forced
 * through VECSCORE_COMPACT_ISA on an avx512 context, and the report names
 * the table that ran (test_compact_tables_named).
 *
 * Built with VS_TEST_SIMDE (compact_simde), the ISAs are the four AVX-512
 * tables compiled against SIMDe (simde_main.h), on a CPU without AVX-512;
 * under ASan too, exact mode and the raw threshold run one metric per
 * storage and data kind (a Latin square: SAMPLE_PRODUCTS), every dim, k
 * and ISA still.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/compact.h"
#include "cpu/kernels.h"
#include "cpu/pool.h"
#include "host/internal.h"
#include "compact_helpers.h"
#include "reference.h"
#ifdef VS_TEST_SIMDE
#include "simde_main.h"
#endif

#if defined(__SANITIZE_ADDRESS__) && defined(VS_TEST_SIMDE)
#define PAIRS_SCALE 32 /* four emulated tables */
#elif defined(__SANITIZE_ADDRESS__)
#define PAIRS_SCALE 8
#elif defined(VS_TEST_SIMDE)
#define PAIRS_SCALE 4
#else
#define PAIRS_SCALE 1
#endif
/*
 * The SIMDe-emulated suite under ASan (emulated lanes, each access checked:
 * CI's longest test) runs the storage x metric x data kind products of exact
 * mode and the raw threshold as a Latin square: for each storage and kind
 * one metric, so that every pair of the three still meets (sampled_out).
 */
#if defined(__SANITIZE_ADDRESS__) && defined(VS_TEST_SIMDE)
#define SAMPLE_PRODUCTS 1
#else
#define SAMPLE_PRODUCTS 0
#endif
static int sampled_out(size_t storage, size_t metric, int kind) {
    return SAMPLE_PRODUCTS && (storage + metric + (size_t)kind) % 3 != 0;
}

static const vs_storage storages[] = {VS_STORAGE_F16, VS_STORAGE_BF16, VS_STORAGE_I8};
static const vs_metric metrics[] = {VS_METRIC_DOT, VS_METRIC_COSINE, VS_METRIC_L2SQ};
#ifdef VS_TEST_SIMDE
static const char *const isas[] = {"avx512", "avx512bf16", "avx512vnni", "avx512bf16vnni"};
#else
static const char *const isas[] = {"serial",     "avx2",           "avx512", "avx512bf16",
                                   "avx512vnni", "avx512bf16vnni", "neon"};
#endif

static vs_context *context_for(const char *isa) {
    vs_options opts;
    vs_options_init(&opts);
    opts.device = "cpu";
    opts.isa = isa;
    opts.threads = 1;
    vs_context *ctx = NULL;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    return ctx;
}

/*
 * A context forced to the ISA, or NULL (said on stdout) when this CPU lacks
 * it. An AVX-512 name is a compact table: an avx512 context with
 * VECSCORE_COMPACT_ISA naming it (read when the context is created).
 */
static vs_context *isa_context(const char *isa) {
    const int avx512 = strncmp(isa, "avx512", 6) == 0;
    if (!vs_cpu_isa_supported(avx512 ? "avx512" : isa) ||
        (avx512 && vs__compact_kernels_for("avx512", isa) == NULL)) {
        printf("ISA %s: not supported by this CPU, no test run\n", isa);
        return NULL;
    }
    if (!avx512) return context_for(isa);
    setenv("VECSCORE_COMPACT_ISA", isa, 1);
    vs_context *ctx = context_for("avx512");
    unsetenv("VECSCORE_COMPACT_ISA");
    return ctx;
}

static float gaussian(ref_rng *rng) {
    double u1 = (ref_uniform(rng) + 1) / 2, u2 = (ref_uniform(rng) + 1) / 2;
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
}

enum data { GAUSSIAN, CLUSTERED, TIES, SPECIAL, EXTREME, DATA_KINDS };
static const char *const data_names[] = {"gaussian", "clustered", "ties", "zero+nan", "extreme"};

static void fill(enum data kind, float *x, size_t n, size_t dim, ref_rng *rng) {
    switch (kind) {
    case GAUSSIAN:
        for (size_t e = 0; e < n * dim; e++)
            x[e] = gaussian(rng);
        break;
    case CLUSTERED: {
        float centres[4 * 512];
        for (size_t e = 0; e < 4 * dim; e++)
            centres[e] = gaussian(rng);
        for (size_t j = 0; j < n; j++) {
            double norm = 0;
            for (size_t i = 0; i < dim; i++) {
                x[j * dim + i] = centres[(j % 4) * dim + i] + 0.05f * gaussian(rng);
                norm += (double)x[j * dim + i] * x[j * dim + i];
            }
            for (size_t i = 0; i < dim; i++)
                x[j * dim + i] = (float)(x[j * dim + i] / sqrt(norm));
        }
        break;
    }
    case TIES:
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < dim; i++)
                x[j * dim + i] = (float)ref_int(rng, -3, 3) * ((j % 3) == 0 ? 1.0f : 0.5f);
        for (size_t j = 1; j < n; j += 2) /* duplicated rows: exact ties */
            memcpy(x + j * dim, x + (j - 1) * dim, dim * sizeof(float));
        break;
    case SPECIAL:
        for (size_t e = 0; e < n * dim; e++)
            x[e] = gaussian(rng);
        for (size_t j = 0; j < n; j += 5)
            memset(x + j * dim, 0, dim * sizeof(float));
        for (size_t j = 3; j < n; j += 7)
            x[j * dim + j % dim] = NAN;
        if (n > 2) x[2 * dim] = INFINITY;
        break;
    default: ref_fill_extreme(x, n, dim, 0, rng); break;
    }
}

/* n base rows of kind and nq query rows of query_kind, dim floats each, from one generator
 * seeded with seed. Free both. */
static void seeded_data(uint64_t seed, enum data kind, enum data query_kind, size_t n, size_t nq,
                        size_t dim, float **base, float **queries) {
    ref_rng rng;
    ref_rng_seed(&rng, seed);
    *base = malloc(n * dim * sizeof(float));
    *queries = malloc(nq * dim * sizeof(float));
    assert_true(*base != NULL && *queries != NULL);
    fill(kind, *base, n, dim, &rng);
    fill(query_kind, *queries, nq, dim, &rng);
}

/* ---- the blocked kernels (cpu/compact.h), against the serial reference and float64 ------------
 */

/* The compact table of a forced ISA, or NULL (said) when this CPU lacks it. */
static const vs__compact_kernels *blocked_table(const char *isa) {
    /* the AVX-512 compact tables (avx512bf16, ...) run on the float32 ISA avx512 */
    const char *f32 = strncmp(isa, "avx512", 6) == 0 ? "avx512" : isa;
    if (!vs_cpu_isa_supported(f32)) {
        printf("ISA %s: not supported by this CPU, no test run\n", isa);
        return NULL;
    }
    const vs__compact_kernels *kern = vs__compact_kernels_for(f32, isa);
    if (kern == NULL || strcmp(kern->isa, isa) != 0) {
        printf("ISA %s: no compact table of its own here, no test run\n", isa);
        return NULL;
    }
    assert_true(kern->block_queries > 0 && kern->f32 != NULL && kern->pack_half != NULL &&
                kern->pack_i8 != NULL && kern->dot_i8_blocked != NULL);
    assert_true(kern->i8_mr >= 1 && kern->i8_mr <= VS_COMPACT_I8_MAX_MR && kern->i8_nr >= 1);
    return kern;
}

/*
 * A fused threshold for a kernel test (cpu/compact.h vs__compact_filter):
 * factors in (0, 1], thresholds around the sums' scale of either sign, some
 * -INFINITY (everything passes) and some +INFINITY (nothing does).
 */
typedef struct blocked_filter {
    float *threshold, *factor;
    uint32_t *hits;
    vs__compact_filter filter;
} blocked_filter;

static blocked_filter blocked_filter_make(size_t nq, size_t count, ref_rng *rng) {
    blocked_filter f = {.threshold = malloc(nq * sizeof(float)),
                        .factor = malloc(count * sizeof(float)),
                        .hits = calloc(nq, sizeof(uint32_t))};
    assert_true(f.threshold && f.factor && f.hits);
    for (size_t j = 0; j < count; j++)
        f.factor[j] = 0.25f + 0.75f * (float)ref_uniform(rng) * (float)ref_uniform(rng);
    for (size_t r = 0; r < nq; r++)
        f.threshold[r] = r % 7 == 5   ? -INFINITY
                         : r % 7 == 6 ? INFINITY
                                      : (float)(ref_uniform(rng) * 8 - 3) * (float)(1 << (r % 24));
    f.filter = (vs__compact_filter){.threshold = f.threshold, .factor = f.factor, .hits = f.hits};
    return f;
}

static void blocked_filter_free(blocked_filter *f) {
    free(f->threshold);
    free(f->factor);
    free(f->hits);
}

/* int8: every sum exact (int64 reference), at int8 / int16 extremes and at random. */
static int blocked_i8_case(const vs__compact_kernels *kern, size_t dim, size_t count, size_t nq,
                           int extreme, ref_rng *rng) {
    const size_t pairs = (dim + 1) / 2, mr = kern->i8_mr, nr = kern->i8_nr;
    int8_t *stored = malloc(count * dim);
    int16_t *q = malloc(nq * dim * sizeof(int16_t));
    const int16_t **rows = malloc(nq * sizeof(*rows));
    int32_t *qpack = malloc((nq + mr - 1) / mr * mr * pairs * sizeof(int32_t));
    int16_t *panels =
        aligned_alloc(64, ((count + nr - 1) / nr * nr * 2 * pairs * 2 + 63) / 64 * 64);
    int64_t *out = malloc(nq * count * sizeof(int64_t));
    assert_true(stored && q && rows && qpack && panels && out);
    for (size_t e = 0; e < count * dim; e++)
        stored[e] = (int8_t)(extreme ? (e % 3 ? -128 : 127) : ref_int(rng, -128, 127));
    for (size_t e = 0; e < nq * dim; e++)
        q[e] = (int16_t)(extreme ? (e % 3 ? 32767 : -32767) : ref_int(rng, -32767, 32767));
    for (size_t r = 0; r < nq; r++)
        rows[r] = q + r * dim;
    vs__compact_i8_pack_queries(rows, nq, dim, mr, qpack);
    kern->pack_i8(stored, count, dim, panels);
    /* the panel layout of cpu/compact.h, padding included */
    int bad = 0;
    for (size_t j = 0; j < (count + nr - 1) / nr * nr && !bad; j++)
        for (size_t d = 0; d < 2 * pairs; d++) {
            const int16_t want = j < count && d < dim ? stored[j * dim + d] : 0;
            if (panels[j / nr * nr * 2 * pairs + (d / 2 * nr + j % nr) * 2 + d % 2] != want) {
                printf("  %s pack_i8 dim %zu: row %zu dim %zu wrong\n", kern->isa, dim, j, d);
                bad = 1;
                break;
            }
        }
    for (size_t e = 0; e < nq * count; e++)
        out[e] = INT64_MIN;
    /* with the fused threshold: the same sums, and each query's count of rows that pass */
    blocked_filter f = blocked_filter_make(nq, count, rng);
    kern->dot_i8_blocked(qpack, nq, panels, count, dim, &f.filter, out, count);
    for (size_t r = 0; r < nq && !bad; r++) {
        uint32_t want_hits = 0;
        for (size_t j = 0; j < count; j++) {
            int64_t want = 0;
            for (size_t d = 0; d < dim; d++)
                want += (int64_t)q[r * dim + d] * stored[j * dim + d];
            want_hits += !((float)want * f.factor[j] < f.threshold[r]);
            if (out[r * count + j] != want) {
                printf("  %s i8 blocked dim %zu count %zu nq %zu: (%zu, %zu) %lld, want %lld\n",
                       kern->isa, dim, count, nq, r, j, (long long)out[r * count + j],
                       (long long)want);
                bad = 1;
                break;
            }
        }
        if (!bad && f.hits[r] != want_hits) {
            printf("  %s i8 blocked filter dim %zu count %zu: query %zu %u rows pass, want %u\n",
                   kern->isa, dim, count, r, f.hits[r], want_hits);
            bad = 1;
        }
    }
    blocked_filter_free(&f);
    free(stored);
    free(q);
    free(rows);
    free(qpack);
    free(panels);
    free(out);
    return bad;
}

/*
 * float16 / bfloat16: the panels hold the decoded values (zero padding), and the
 * float32 block_packed over them is within the any-order bound
 * dim u / (1 - dim u) x sum |q_i x_i| of the float64 dot (docs/numerics.md);
 * a NaN stored value gives NaN.
 */
static int blocked_half_case(const vs__compact_kernels *kern, int bf16, size_t dim, size_t count,
                             size_t nq, ref_rng *rng) {
    const vs__cpu_kernels *f32 = kern->f32;
    const size_t mr = f32->mr, nr = f32->nr, whole = (count + nr - 1) / nr;
    uint16_t *stored = malloc(count * dim * sizeof(uint16_t));
    float *q = malloc(nq * dim * sizeof(float));
    float *qpack = malloc((nq + mr - 1) / mr * mr * dim * sizeof(float));
    float *panels = aligned_alloc(64, (whole * nr * dim * sizeof(float) + 63) / 64 * 64);
    float *out = malloc(nq * count * sizeof(float));
    assert_true(stored && q && qpack && panels && out);
    for (size_t e = 0; e < count * dim; e++) {
        const float v = ref_uniform(rng) * 4;
        union {
            float f;
            uint32_t u;
        } b = {.f = v};
        /* bfloat16: the top half; float16: a finite value with a random mantissa */
        stored[e] = bf16 ? (uint16_t)(b.u >> 16)
                         : (uint16_t)((b.u >> 31) << 15 | (0x3400u + (e * 2654435761u) % 0x1000u));
    }
    const size_t nan_at = count > 2 ? 2 * dim + dim / 2 : SIZE_MAX; /* row 2 gets a NaN */
    if (nan_at != SIZE_MAX) stored[nan_at] = bf16 ? 0x7fc0 : 0x7e00;
    for (size_t e = 0; e < nq * dim; e++)
        q[e] = ref_uniform(rng);
    for (size_t s = 0; s * mr < nq; s++) {
        const size_t m = nq - s * mr < mr ? nq - s * mr : mr;
        vs__pack_rows(q + s * mr * dim, m, dim, m, qpack + s * mr * dim);
    }
    kern->pack_half(stored, count, dim, bf16, nr, panels);
    int bad = 0;
    for (size_t j = 0; j < whole * nr && !bad; j++)
        for (size_t d = 0; d < dim; d++) {
            const float got = panels[j / nr * nr * dim + d * nr + j % nr];
            float want = 0;
            if (j < count)
                want = bf16 ? vs__compact_bf16_to_f32(stored[j * dim + d])
                            : vs__compact_f16_to_f32(stored[j * dim + d]);
            if (memcmp(&got, &want, sizeof(float)) != 0 && !(isnan(got) && isnan(want))) {
                printf("  %s pack_half bf16=%d dim %zu: row %zu dim %zu %g, want %g\n", kern->isa,
                       bf16, dim, j, d, (double)got, (double)want);
                bad = 1;
                break;
            }
        }
    /* with the fused threshold (vs__epilogue pass_*): each query's count of rows that pass */
    blocked_filter f = blocked_filter_make(nq, count, rng);
    const vs__epilogue epi = {.metric = VS_METRIC_DOT,
                              .scores = out,
                              .ld = count,
                              .pass_threshold = f.threshold,
                              .pass_factor = f.factor,
                              .pass_hits = f.hits};
    f32->block_packed(&epi, qpack, mr * dim, 0, nq, panels, 0, count, dim);
    for (size_t r = 0; r < nq && !bad; r++) {
        uint32_t want_hits = 0;
        for (size_t j = 0; j < count; j++)
            want_hits += !(out[r * count + j] * f.factor[j] < f.threshold[r]);
        if (f.hits[r] != want_hits) {
            printf("  %s half blocked filter dim %zu count %zu: query %zu %u rows pass, want %u\n",
                   kern->isa, dim, count, r, f.hits[r], want_hits);
            bad = 1;
        }
    }
    blocked_filter_free(&f);
    const double u = 0x1p-24, gamma = dim * u / (1 - dim * u);
    for (size_t r = 0; r < nq && !bad; r++)
        for (size_t j = 0; j < count; j++) {
            double dot = 0, mag = 0;
            for (size_t d = 0; d < dim; d++) {
                const double x = bf16 ? vs__compact_bf16_to_f32(stored[j * dim + d])
                                      : vs__compact_f16_to_f32(stored[j * dim + d]);
                dot += (double)q[r * dim + d] * x;
                mag += fabs((double)q[r * dim + d] * x);
            }
            const double got = out[r * count + j];
            const int ok = j == 2 && nan_at != SIZE_MAX
                               ? isnan(got)
                               : fabs(got - dot) <= gamma * mag * (1 + 1e-9);
            if (!ok) {
                printf("  %s half blocked bf16=%d dim %zu count %zu nq %zu: (%zu, %zu) %.9g, "
                       "float64 %.17g\n",
                       kern->isa, bf16, dim, count, nq, r, j, got, dot);
                bad = 1;
                break;
            }
        }
    free(stored);
    free(q);
    free(qpack);
    free(panels);
    free(out);
    return bad;
}

static void test_blocked_kernels(void **state) {
    (void)state;
    int ran = 0;
    /* dims around the pair, the vector step, the 512-dim int32 slab; rows and queries around
     * the tile shapes */
    const size_t dims[] = {1, 2, 3, 8, 15, 16, 17, 33, 255, 511, 512, 513, 1025};
    const size_t counts[] = {1, 7, 16, 17, 33, 64};
    const size_t nqs[] = {1, 5, 6, 7, 13, 16, 29};
    for (size_t a = 0; a < sizeof(isas) / sizeof(isas[0]); a++) {
        const vs__compact_kernels *kern = blocked_table(isas[a]);
        if (kern == NULL) continue;
        ref_rng rng;
        ref_rng_seed(&rng, 301 + a);
        int failures = 0, cases = 0;
        for (size_t d = 0; d < sizeof(dims) / sizeof(dims[0]); d++)
            for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
                const size_t nq = nqs[(d + c) % (sizeof(nqs) / sizeof(nqs[0]))];
                failures += blocked_i8_case(kern, dims[d], counts[c], nq, 0, &rng);
                failures += blocked_half_case(kern, 0, dims[d], counts[c], nq, &rng);
                failures += blocked_half_case(kern, 1, dims[d], counts[c], nq, &rng);
                cases += 3;
            }
        /* int8 and int16 extremes over long vectors: the int32 lanes must be widened in time */
        const size_t long_dims[] = {9007, 4096, 1023};
        for (size_t d = 0; d < 3; d++) {
            failures += blocked_i8_case(kern, long_dims[d], 17, 7, 1, &rng);
            cases++;
        }
        printf("ISA %s: %d blocked kernel cases, %d failed\n", isas[a], cases, failures);
        assert_int_equal(failures, 0);
        ran++;
    }
    assert_true(ran >= 1);
}

/*
 * The one-query kernels (cpu/compact.h scan1_*): bit for bit the sums of
 * dot_*(rows = 1), within the any-order bound of the float64 dot (int8:
 * exact, at int8 / int16 extremes over several int32 blocks), NaN rows NaN,
 * and the mask exactly the rows with !(sum < threshold) for thresholds below,
 * at, between and above the sums; odd dims, tails, counts up to 64 and
 * misaligned rows.
 */
static size_t kernel_pair_index(size_t i, size_t dim, size_t pairs) {
    const size_t width = 2 * pairs, b = pairs > 0 ? i / width * width : 0;
    if (pairs == 0 || b + width > dim) return i;
    const size_t e = i - b;
    return b + (e % 2 ? pairs + e / 2 : e / 2);
}

static int mask_case(const char *what, size_t dim, size_t count, uint64_t keep, const double *sums,
                     double threshold) {
    for (size_t j = 0; j < 64; j++) {
        const int want = j < count && !(sums[j] < threshold);
        if ((int)(keep >> j & 1) != want) {
            printf("  %s dim %zu count %zu: row %zu bit %d, sum %.9g threshold %.9g\n", what, dim,
                   count, j, (int)(keep >> j & 1), j < count ? sums[j] : 0.0, threshold);
            return 1;
        }
    }
    return 0;
}

static int one_query_i8_case(const vs__compact_kernels *kern, size_t dim, size_t count,
                             size_t offset, int extreme, ref_rng *rng) {
    int8_t *buffer = malloc(count * dim + offset), *stored = buffer + offset;
    int16_t *q = malloc(dim * sizeof(int16_t));
    int64_t out[64], dot[64];
    double sums[64];
    assert_true(buffer != NULL && q != NULL);
    for (size_t e = 0; e < count * dim; e++)
        stored[e] = (int8_t)(extreme ? (e % 3 ? -128 : 127) : ref_int(rng, -127, 127));
    for (size_t i = 0; i < dim; i++)
        q[i] = (int16_t)(extreme ? (i % 3 ? 32767 : -32767) : ref_int(rng, -32767, 32767));
    const int16_t *rows[1] = {q};
    kern->dot_i8(rows, 1, stored, count, dim, dot, count);
    int bad = 0;
    for (size_t j = 0; j < count && !bad; j++) {
        int64_t want = 0;
        for (size_t i = 0; i < dim; i++)
            want += (int64_t)q[i] * stored[j * dim + i];
        sums[j] = (double)want;
        if (dot[j] != want) {
            printf("  %s i8 dot dim %zu row %zu: %lld, want %lld\n", kern->isa, dim, j,
                   (long long)dot[j], (long long)want);
            bad = 1;
        }
    }
    const int64_t thresholds[] = {INT64_MIN, dot[count / 2], dot[count / 2] + 1, dot[0] - 1,
                                  INT64_MAX};
    for (size_t t = 0; t < 5 && !bad; t++) {
        for (size_t j = 0; j < 64; j++)
            out[j] = -7;
        const uint64_t keep = kern->scan1_i8(q, stored, count, dim, thresholds[t], out);
        if (memcmp(out, dot, count * sizeof(int64_t)) != 0 || (count < 64 && out[count] != -7)) {
            printf("  %s i8 scan1 dim %zu count %zu: sums differ from dot_i8\n", kern->isa, dim,
                   count);
            bad = 1;
        }
        bad = bad || mask_case("i8 scan1", dim, count, keep, sums, (double)thresholds[t]);
    }
    free(buffer);
    free(q);
    return bad;
}

static int one_query_half_case(const vs__compact_kernels *kern, int bf16, size_t dim, size_t count,
                               size_t offset, ref_rng *rng) {
    uint16_t *buffer = malloc((count * dim + offset) * sizeof(uint16_t)), *stored = buffer + offset;
    float *q = malloc(dim * sizeof(float)), out[64], dot[64];
    double sums[64];
    assert_true(buffer != NULL && q != NULL);
    for (size_t e = 0; e < count * dim; e++) {
        union {
            float f;
            uint32_t u;
        } b = {.f = ref_uniform(rng) * 4};
        stored[e] = bf16 ? (uint16_t)(b.u >> 16)
                         : (uint16_t)((b.u >> 31) << 15 | (0x3400u + (e * 2654435761u) % 0x1000u));
    }
    const size_t nan_row = count > 3 ? 3 : SIZE_MAX;
    if (nan_row != SIZE_MAX) stored[nan_row * dim + dim / 3] = bf16 ? 0x7fc0 : 0x7e00;
    for (size_t i = 0; i < dim; i++) {
        q[i] = ref_uniform(rng);
        if (bf16 && kern->bf16_round) { /* vdpbf16ps tables get bfloat16 queries (compact.h) */
            uint32_t bits;
            memcpy(&bits, &q[i], sizeof(bits));
            bits &= 0xffff0000u;
            memcpy(&q[i], &bits, sizeof(bits));
        }
    }
    const float *rows[1] = {q};
    (bf16 ? kern->dot_bf16 : kern->dot_f16)(rows, 1, stored, count, dim, dot, count);
    const size_t pairs = bf16 ? kern->bf16_pairs : 0;
    const double u = 0x1p-24, gamma = dim * u / (1 - dim * u);
    int bad = 0;
    for (size_t j = 0; j < count && !bad; j++) {
        double want = 0, mag = 0;
        for (size_t i = 0; i < dim; i++) {
            const uint16_t bits = stored[j * dim + i];
            const double x = bf16 ? vs__compact_bf16_to_f32(bits) : vs__compact_f16_to_f32(bits);
            const double product = (double)q[kernel_pair_index(i, dim, pairs)] * x;
            want += product;
            mag += fabs(product);
        }
        sums[j] = dot[j];
        const int ok =
            j == nan_row ? isnan(dot[j]) : fabs(dot[j] - want) <= gamma * mag * (1 + 1e-9);
        if (!ok) {
            printf("  %s bf16=%d dot dim %zu row %zu: %.9g, float64 %.17g\n", kern->isa, bf16, dim,
                   j, (double)dot[j], want);
            bad = 1;
        }
    }
    const float between = count > 1 ? (dot[0] + dot[1]) / 2 : dot[0];
    const float thresholds[] = {-INFINITY, dot[count / 2 == 3 ? 0 : count / 2], between,
                                nextafterf(dot[0], INFINITY), INFINITY};
    for (size_t t = 0; t < 5 && !bad; t++) {
        for (size_t j = 0; j < 64; j++)
            out[j] = -7;
        const uint64_t keep =
            (bf16 ? kern->scan1_bf16 : kern->scan1_f16)(q, stored, count, dim, thresholds[t], out);
        if (memcmp(out, dot, count * sizeof(float)) != 0 || (count < 64 && out[count] != -7)) {
            printf("  %s bf16=%d scan1 dim %zu count %zu: sums differ from dot\n", kern->isa, bf16,
                   dim, count);
            bad = 1;
        }
        bad = bad || mask_case(bf16 ? "bf16 scan1" : "f16 scan1", dim, count, keep, sums,
                               (double)thresholds[t]);
    }
    free(buffer);
    free(q);
    return bad;
}

static void test_one_query_kernels(void **state) {
    (void)state;
    int ran = 0;
    /* dims around the vector step, the 4-accumulator step, the int32 block (2048) */
    const size_t dims[] = {1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 255, 768, 2049};
    const size_t counts[] = {1, 2, 5, 63, 64};
    for (size_t a = 0; a < sizeof(isas) / sizeof(isas[0]); a++) {
        const vs__compact_kernels *kern = blocked_table(isas[a]);
        if (kern == NULL) continue;
        assert_true(kern->scan1_f16 != NULL && kern->scan1_bf16 != NULL && kern->scan1_i8 != NULL);
        ref_rng rng;
        ref_rng_seed(&rng, 601 + a);
        int failures = 0, cases = 0;
        for (size_t d = 0; d < sizeof(dims) / sizeof(dims[0]); d++)
            for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
                const size_t offset = (d + c) % 4; /* rows misaligned by 0..3 elements */
                failures += one_query_i8_case(kern, dims[d], counts[c], offset, 0, &rng);
                failures += one_query_half_case(kern, 0, dims[d], counts[c], offset, &rng);
                failures += one_query_half_case(kern, 1, dims[d], counts[c], offset, &rng);
                cases += 3;
            }
        const size_t long_dims[] = {9007, 4096, 2048};
        for (size_t d = 0; d < 3; d++) {
            failures += one_query_i8_case(kern, long_dims[d], 5, d, 1, &rng);
            cases++;
        }
        printf("ISA %s: %d one-query kernel cases, %d failed\n", isas[a], cases, failures);
        assert_int_equal(failures, 0);
        ran++;
    }
    assert_true(ran >= 1);
}

/* ---- exact mode equals the float32 corpus ------------------------------------------ */

static int run_exact_case(vs_context *ctx, vs_storage storage, enum data kind, size_t n, size_t dim,
                          size_t nq, ref_rng *rng) {
    float *base = malloc(n * dim * sizeof(float));
    void *qbase = NULL;
    float *queries = ref_alloc_floats(nq * dim, 1, &qbase); /* misaligned */
    assert_non_null(base);
    fill(kind, base, n, dim, rng);
    fill(kind == TIES ? TIES : GAUSSIAN, queries, nq, dim, rng);
    if (kind == SPECIAL && nq > 1) queries[dim] = NAN; /* a NaN query falls back */
    if (kind == EXTREME) fill(EXTREME, queries, nq, dim, rng);
    vs_corpus *f32 = NULL, *compact = NULL;
    vs_corpus_options opts;
    vs_corpus_options_init(&opts);
    opts.storage = storage;
    assert_int_equal(vs_corpus_create(ctx, base, n, dim, &f32), VS_OK);
    assert_int_equal(vs_corpus_create_with(ctx, base, n, dim, &opts, &compact), VS_OK);
    assert_int_equal(vs_corpus_storage(compact), storage);
    int failures = 0;
    const size_t ks[] = {1, 10, n, n + 5};
    size_t si = 0;
    while (storages[si] != storage)
        si++;
    for (size_t m = 0; m < 3; m++) {
        if (sampled_out(si, m, kind)) continue;
        for (size_t ki = 0; ki < 4; ki++) {
            const size_t k = ks[ki];
            float *s1 = malloc(nq * k * sizeof(float)), *s2 = malloc(nq * k * sizeof(float));
            int64_t *i1 = malloc(nq * k * sizeof(int64_t)), *i2 = malloc(nq * k * sizeof(int64_t));
            assert_int_equal(vs_corpus_topk(f32, metrics[m], queries, nq, k, s1, i1), VS_OK);
            assert_int_equal(vs_corpus_topk(compact, metrics[m], queries, nq, k, s2, i2), VS_OK);
            vs_batch_report report;
            assert_int_equal(vs_context_last_report(ctx, &report), VS_OK);
            assert_int_equal(report.storage, (int)storage);
            assert_int_equal(report.status, VS_OK);
            if (memcmp(i1, i2, nq * k * sizeof(int64_t)) != 0 ||
                memcmp(s1, s2, nq * k * sizeof(float)) != 0) {
                for (size_t e = 0; e < nq * k; e++)
                    if (i1[e] != i2[e] || memcmp(&s1[e], &s2[e], sizeof(float)) != 0) {
                        printf("  %s %s %s n=%zu dim=%zu k=%zu: entry %zu: float32 (%lld, %.9g), "
                               "compact (%lld, %.9g)\n",
                               vs_storage_name(storage), vs_metric_name(metrics[m]),
                               data_names[kind], n, dim, k, e, (long long)i1[e], (double)s1[e],
                               (long long)i2[e], (double)s2[e]);
                        break;
                    }
                failures++;
            }
            free(s1);
            free(s2);
            free(i1);
            free(i2);
        }
        /* vs_corpus_score in exact mode is the float32 corpus's score matrix. */
        float *m1 = malloc(nq * n * sizeof(float)), *m2 = malloc(nq * n * sizeof(float));
        assert_int_equal(vs_corpus_score(f32, metrics[m], queries, nq, m1), VS_OK);
        assert_int_equal(vs_corpus_score(compact, metrics[m], queries, nq, m2), VS_OK);
        if (memcmp(m1, m2, nq * n * sizeof(float)) != 0) failures++;
        free(m1);
        free(m2);
    }
    vs_corpus_free(f32);
    vs_corpus_free(compact);
    free(base);
    free(qbase);
    return failures;
}

static void test_exact_equals_float32(void **state) {
    (void)state;
    int ran = 0;
    for (size_t a = 0; a < sizeof(isas) / sizeof(isas[0]); a++) {
        vs_context *ctx = isa_context(isas[a]);
        if (ctx == NULL) continue;
        ref_rng rng;
        ref_rng_seed(&rng, 11 + a);
        int failures = 0;
        const size_t dims[] = {1, 7, 33, 96};
        for (size_t s = 0; s < 3; s++)
            for (int kind = 0; kind < DATA_KINDS; kind++)
                for (size_t d = 0; d < 4; d++)
                    failures += run_exact_case(ctx, storages[s], (enum data)kind, d == 3 ? 700 : 97,
                                               dims[d], 6, &rng);
        /* a job of >= block_queries queries: the blocked kernels (cpu/compact.h) */
        const size_t many_dims[] = {1, 9, 257};
        for (size_t s = 0; s < 3; s++)
            for (int kind = 0; kind < DATA_KINDS; kind++)
                for (size_t d = 0; d < 3; d++)
                    failures += run_exact_case(ctx, storages[s], (enum data)kind,
                                               d == 2 ? 333 : 150, many_dims[d], 23, &rng);
        printf("ISA %s: exact mode %s\n", isas[a], failures ? "DIFFERS" : "equals float32");
        assert_int_equal(failures, 0);
        vs_context_free(ctx);
        ran++;
    }
    assert_true(ran >= 1);
}

/* The scan rescored only part of the corpus on ordinary data, and said so. */
static void test_report_counts(void **state) {
    (void)state;
    vs_context *ctx = context_for(NULL);
    const size_t n = 4000, dim = 64, nq = 8, k = 10;
    float *base, *queries;
    seeded_data(5, GAUSSIAN, GAUSSIAN, n, nq, dim, &base, &queries);
    float scores[8 * 10];
    int64_t ids[8 * 10];
    for (size_t s = 0; s < 3; s++) {
        vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[s], 1);
        assert_int_equal(vs_corpus_topk(c, VS_METRIC_DOT, queries, nq, k, scores, ids), VS_OK);
        vs_batch_report r;
        assert_int_equal(vs_context_last_report(ctx, &r), VS_OK);
        printf("%s: rescored %llu of %zu pairs, fallback queries %llu\n",
               vs_storage_name(storages[s]), (unsigned long long)r.rescored, n * nq,
               (unsigned long long)r.fallback_queries);
        assert_int_equal(r.storage, (int)storages[s]);
        assert_true(r.rescored >= nq * k);
        assert_true(r.rescored < n * nq / 4);
        assert_int_equal(r.fallback_queries, 0);
        /* A NaN query cannot be certified: it falls back to the float32 corpus. */
        queries[0] = NAN;
        assert_int_equal(vs_corpus_topk(c, VS_METRIC_DOT, queries, nq, k, scores, ids), VS_OK);
        assert_int_equal(vs_context_last_report(ctx, &r), VS_OK);
        assert_int_equal(r.fallback_queries, 1);
        queries[0] = 0.5f;
        vs_corpus_free(c);
    }
    free(base);
    free(queries);
    vs_context_free(ctx);
}

/* ---- the bounds themselves ------------------------------------------------------------ */

static void test_bounds_hold(void **state) {
    (void)state;
    int ran = 0;
    for (size_t a = 0; a < sizeof(isas) / sizeof(isas[0]); a++) {
        vs_context *ctx = isa_context(isas[a]);
        if (ctx == NULL) continue;
        ref_rng rng;
        ref_rng_seed(&rng, 77 + a);
        size_t pairs = 0, violations = 0;
        double worst = 0; /* largest error / bound seen */
        const size_t n = 2048 / PAIRS_SCALE, nq = 16;
        const size_t dims[] = {5, 64, 193};
        for (size_t s = 0; s < 3; s++)
            for (size_t d = 0; d < 3; d++)
                for (int kind = 0; kind < DATA_KINDS; kind++) {
                    if (kind == SPECIAL || kind == TIES) continue;
                    const size_t dim = dims[d];
                    float *base = malloc(n * dim * sizeof(float));
                    float *q = malloc(nq * dim * sizeof(float));
                    double *approx = malloc(n * sizeof(double)),
                           *bound = malloc(n * sizeof(double));
                    fill((enum data)kind, base, n, dim, &rng);
                    fill((enum data)kind, q, nq, dim, &rng);
                    vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[s], 0);
                    for (size_t m = 0; m < 3; m++)
                        for (size_t i = 0; i < nq; i++) {
                            assert_int_equal(
                                vs__compact_pair_bounds(c, metrics[m], q + i * dim, approx, bound),
                                VS_OK);
                            char why[200];
                            const size_t beyond =
                                ref_check_bounds(metrics[m], q + i * dim, base, n, dim, approx,
                                                 bound, &pairs, &worst, why, sizeof(why));
                            if (beyond > 0 && violations < 5)
                                printf("  %s: %s\n", vs_storage_name(storages[s]), why);
                            violations += beyond;
                        }
                    vs_corpus_free(c);
                    free(base);
                    free(q);
                    free(approx);
                    free(bound);
                }
        printf("ISA %s: %zu pairs, %zu beyond their bound, largest error/bound %.3g\n", isas[a],
               pairs, violations, worst);
        assert_int_equal(violations, 0);
        assert_true(pairs > 100000 / PAIRS_SCALE);
        vs_context_free(ctx);
        ran++;
    }
    assert_true(ran >= 1);
}

/* Long vectors at the int8 extremes: int32 lanes must be widened before they can overflow. */
static void test_long_extreme_vectors(void **state) {
    (void)state;
    const size_t n = 9, dim = 4500;
    float *base = malloc(n * dim * sizeof(float)), *q = malloc(dim * sizeof(float));
    double approx[9], bound[9];
    for (size_t e = 0; e < n * dim; e++)
        base[e] = (e / dim) % 2 ? -1.0f : 1.0f; /* codes +-127 everywhere */
    for (size_t i = 0; i < dim; i++)
        q[i] = 1.999f; /* int16 levels near 32767 */
    for (size_t a = 0; a < sizeof(isas) / sizeof(isas[0]); a++) {
        vs_context *ctx = isa_context(isas[a]);
        if (ctx == NULL) continue;
        for (size_t s = 0; s < 3; s++) {
            vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[s], 0);
            for (size_t m = 0; m < 3; m++) {
                assert_int_equal(vs__compact_pair_bounds(c, metrics[m], q, approx, bound), VS_OK);
                size_t pairs = 0;
                double worst = 0;
                assert_int_equal(ref_check_bounds(metrics[m], q, base, n, dim, approx, bound,
                                                  &pairs, &worst, NULL, 0),
                                 0);
                assert_int_equal(pairs, n);
            }
            vs_corpus_free(c);
        }
        vs_context_free(ctx);
    }
    free(base);
    free(q);
}

/* Approximate top-k: every returned score within max_error_bound of the float64 reference. */
static void test_approximate_topk(void **state) {
    (void)state;
    vs_context *ctx = context_for(NULL);
    /* 5 queries: the row kernels; 19: a job for the blocked kernels (cpu/compact.h) */
    const size_t n = 3000, dim = 48, k = 10, nqs[] = {5, 19};
    for (size_t b = 0; b < 2; b++) {
        const size_t nq = nqs[b];
        float *base, *q;
        seeded_data(9 + b, CLUSTERED, GAUSSIAN, n, nq, dim, &base, &q);
        float *scores = malloc(nq * k * sizeof(float));
        int64_t *ids = malloc(nq * k * sizeof(int64_t));
        assert_true(scores != NULL && ids != NULL);
        for (size_t s = 0; s < 3; s++)
            for (size_t m = 0; m < 3; m++) {
                vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[s], 0);
                assert_int_equal(vs_corpus_topk(c, metrics[m], q, nq, k, scores, ids), VS_OK);
                vs_batch_report r;
                assert_int_equal(vs_context_last_report(ctx, &r), VS_OK);
                assert_true(r.max_error_bound > 0);
                assert_int_equal(r.rescored, 0);
                for (size_t e = 0; e < nq * k; e++) {
                    assert_true(ids[e] >= 0 && (size_t)ids[e] < n);
                    double ignored;
                    const double ref = ref_score(metrics[m], q + (e / k) * dim, base + ids[e] * dim,
                                                 dim, &ignored);
                    assert_true(fabs((double)scores[e] - ref) <=
                                r.max_error_bound * (1 + 1e-6) + 1e-30);
                    if (e % k) /* best first */
                        assert_true(metrics[m] == VS_METRIC_L2SQ ? scores[e - 1] <= scores[e]
                                                                 : scores[e - 1] >= scores[e]);
                }
                vs_corpus_free(c);
            }
        free(scores);
        free(ids);
        free(base);
        free(q);
    }
    vs_context_free(ctx);
}

/* The outputs of one filter comparison (filter_on_off): float32, filter on, filter off. */
typedef struct filter_bufs {
    float *s32, *s1, *s0;
    int64_t *i32, *i1, *i0;
} filter_bufs;

static filter_bufs filter_bufs_alloc(size_t results) {
    filter_bufs b = {malloc(results * sizeof(float)),   malloc(results * sizeof(float)),
                     malloc(results * sizeof(float)),   malloc(results * sizeof(int64_t)),
                     malloc(results * sizeof(int64_t)), malloc(results * sizeof(int64_t))};
    assert_true(b.s32 && b.s1 && b.s0 && b.i32 && b.i1 && b.i0);
    return b;
}

static void filter_bufs_free(filter_bufs *b) {
    free(b->s32);
    free(b->s1);
    free(b->s0);
    free(b->i32);
    free(b->i1);
    free(b->i0);
}

/*
 * One top-k batch on the compact corpus c with a filter on (counting) and off,
 * through its testing hook (mode 0 off, 1 on, 2 on and counting): both equal
 * the float32 corpus's ids and scores bit for bit, and the rescored and
 * fallback counts are the same with and without it. Returns the rows the
 * filter dropped.
 */
static size_t filter_on_off(vs_context *ctx, vs_corpus *f32, vs_corpus *c, size_t (*hook)(int),
                            vs_metric metric, const float *q, size_t nq, size_t k,
                            const filter_bufs *b) {
    vs_batch_report r1, r0;
    assert_int_equal(vs_corpus_topk(f32, metric, q, nq, k, b->s32, b->i32), VS_OK);
    hook(2);
    assert_int_equal(vs_corpus_topk(c, metric, q, nq, k, b->s1, b->i1), VS_OK);
    const size_t dropped = hook(0);
    assert_int_equal(vs_context_last_report(ctx, &r1), VS_OK);
    assert_int_equal(vs_corpus_topk(c, metric, q, nq, k, b->s0, b->i0), VS_OK);
    assert_int_equal(vs_context_last_report(ctx, &r0), VS_OK);
    hook(1);
    assert_memory_equal(b->i1, b->i32, nq * k * sizeof(int64_t));
    assert_memory_equal(b->s1, b->s32, nq * k * sizeof(float));
    assert_memory_equal(b->i0, b->i32, nq * k * sizeof(int64_t));
    assert_memory_equal(b->s0, b->s32, nq * k * sizeof(float));
    assert_int_equal(r1.rescored, r0.rescored);
    assert_int_equal(r1.fallback_queries, r0.fallback_queries);
    return dropped;
}

/*
 * Exact mode's raw threshold (host/compact.c raw_threshold) drops only rows the
 * block filter would drop: with it on and off, every storage x metric x data
 * kind gives the same ids, scores and rescored count, equal to float32, on a
 * corpus of several pool units, for one query (the fused one-query kernels,
 * which apply the threshold themselves) and for five (tiles of 4 and 1); and
 * on Gaussian data it drops most rows.
 */
static void test_raw_filter_same_candidates(void **state) {
    (void)state;
    vs_context *ctx = context_for(NULL);
    const size_t n = 2 * 4096 + 333, dim = 40, nq_max = 5, ks[] = {1, 10, 64};
    float *base = malloc(n * dim * sizeof(float)), *q = malloc(nq_max * dim * sizeof(float));
    filter_bufs b = filter_bufs_alloc(nq_max * 64);
    ref_rng rng;
    ref_rng_seed(&rng, 404);
    size_t gaussian_dropped = 0, gaussian_pairs = 0;
    for (int kind = 0; kind < DATA_KINDS; kind++) {
        fill((enum data)kind, base, n, dim, &rng);
        fill(kind == TIES || kind == EXTREME ? (enum data)kind : GAUSSIAN, q, nq_max, dim, &rng);
        vs_corpus *f32 = NULL;
        assert_int_equal(vs_corpus_create(ctx, base, n, dim, &f32), VS_OK);
        for (size_t st = 0; st < 3; st++) {
            vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[st], 1);
            for (size_t m = 0; m < 3; m++)
                for (size_t e = 0; e < 6 && !sampled_out(st, m, kind); e++) {
                    /* one query: the fused one-query kernels alone; five: tiles of 4 and 1 */
                    const size_t k = ks[e % 3], nq = e < 3 ? 1 : nq_max;
                    const size_t dropped = filter_on_off(ctx, f32, c, vs__compact_test_raw_filter,
                                                         metrics[m], q, nq, k, &b);
                    if (kind == GAUSSIAN) {
                        gaussian_dropped += dropped;
                        gaussian_pairs += nq * n;
                    }
                }
            vs_corpus_free(c);
        }
        vs_corpus_free(f32);
    }
    printf("raw threshold: %zu of %zu Gaussian pairs dropped before float64\n", gaussian_dropped,
           gaussian_pairs);
    assert_true(gaussian_dropped > gaussian_pairs / 2);
    free(base);
    free(q);
    filter_bufs_free(&b);
    vs_context_free(ctx);
}

/*
 * Exact mode's fused threshold in the blocked kernels' epilogue
 * (host/compact.c fused_threshold) drops only rows the per-candidate bound
 * drops: jobs of 16 and 23 queries (the blocked kernels on every table) give,
 * with it on and off, the same ids, scores and rescored and fallback counts,
 * equal to float32, for every ISA x storage x metric x data kind x k; on
 * Gaussian data it drops most pairs before any float64 work. A threshold made
 * too tight drops a candidate, and the rescored counts differ.
 */
static void test_fused_filter_same_candidates(void **state) {
    (void)state;
    /* 6 pool units: 2 seed units (host/compact.c SEED_UNITS) and 4 seeded */
    const size_t n = 5 * 4096 + 333, dim = 40, ks[] = {1, 10, 64}, nqs[] = {16, 23}, most = 23;
    float *base = malloc(n * dim * sizeof(float)), *q = malloc(most * dim * sizeof(float));
    filter_bufs b = filter_bufs_alloc(most * 64);
    assert_true(base && q);
    int ran = 0;
    for (size_t a = 0; a < sizeof(isas) / sizeof(isas[0]); a++) {
        vs_context *ctx = isa_context(isas[a]);
        if (ctx == NULL) continue;
        ref_rng rng;
        ref_rng_seed(&rng, 606 + a);
        size_t gaussian_dropped = 0, gaussian_pairs = 0;
        for (int kind = 0; kind < DATA_KINDS; kind++) {
            fill((enum data)kind, base, n, dim, &rng);
            fill(kind == TIES || kind == EXTREME ? (enum data)kind : GAUSSIAN, q, most, dim, &rng);
            vs_corpus *f32 = NULL;
            assert_int_equal(vs_corpus_create(ctx, base, n, dim, &f32), VS_OK);
            for (size_t st = 0; st < 3; st++) {
                vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[st], 1);
                for (size_t m = 0; m < 3; m++)
                    for (size_t ki = 0; ki < 3; ki++) {
                        /* under a sanitizer: one k per storage x metric x kind, the Latin square
                         * of the emulated suite (sampled_out) */
                        if (PAIRS_SCALE > 1 && ki != (st + m + (size_t)kind) % 3) continue;
                        if (sampled_out(st, m, kind)) continue;
                        const size_t k = ks[ki], nq = nqs[(ki + m + st) % 2];
                        const size_t dropped = filter_on_off(
                            ctx, f32, c, vs__compact_test_fused_filter, metrics[m], q, nq, k, &b);
                        if (kind == GAUSSIAN) {
                            gaussian_dropped += dropped;
                            gaussian_pairs += nq * n;
                        }
                    }
                vs_corpus_free(c);
            }
            vs_corpus_free(f32);
        }
        printf("ISA %s: fused threshold dropped %zu of %zu Gaussian pairs before float64\n",
               isas[a], gaussian_dropped, gaussian_pairs);
        assert_true(gaussian_dropped > gaussian_pairs * 9 / 10);
        vs_context_free(ctx);
        ran++;
    }
    assert_true(ran >= 1);
    free(base);
    free(q);
    filter_bufs_free(&b);
}

/*
 * Approximate mode's reported bound (one per 64-row block) is at least every
 * pair's own bound and every observed error against float64, for top-k and the
 * score matrix alike, yet within a small factor of the largest pair bound.
 */
static void test_approximate_block_bound(void **state) {
    (void)state;
    vs_context *ctx = context_for(NULL);
    const size_t n = 1000, dim = 33, k = 10;
    float *base = malloc(n * dim * sizeof(float)), *q = malloc(dim * sizeof(float));
    float *matrix = malloc(n * sizeof(float)), scores[10];
    int64_t ids[10];
    double *approx = malloc(n * sizeof(double)), *bound = malloc(n * sizeof(double));
    ref_rng rng;
    ref_rng_seed(&rng, 505);
    for (int kind = 0; kind < DATA_KINDS; kind++) {
        if (kind == SPECIAL) continue; /* zero / NaN rows take the per-pair path */
        fill((enum data)kind, base, n, dim, &rng);
        fill(kind == EXTREME ? EXTREME : GAUSSIAN, q, 1, dim, &rng);
        for (size_t st = 0; st < 3; st++) {
            vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[st], 0);
            for (size_t m = 0; m < 3; m++) {
                vs_batch_report rt, rs;
                assert_int_equal(vs_corpus_topk(c, metrics[m], q, 1, k, scores, ids), VS_OK);
                assert_int_equal(vs_context_last_report(ctx, &rt), VS_OK);
                assert_int_equal(vs_corpus_score(c, metrics[m], q, 1, matrix), VS_OK);
                assert_int_equal(vs_context_last_report(ctx, &rs), VS_OK);
                assert_true(rt.max_error_bound == rs.max_error_bound);
                assert_int_equal(vs__compact_pair_bounds(c, metrics[m], q, approx, bound), VS_OK);
                double largest = 0;
                for (size_t j = 0; j < n; j++) {
                    double ignored;
                    const double ref = ref_score(metrics[m], q, base + j * dim, dim, &ignored);
                    assert_true(bound[j] <= rs.max_error_bound);
                    assert_true(fabs(approx[j] - ref) <= rs.max_error_bound);
                    assert_true((float)approx[j] == matrix[j]);
                    if (bound[j] > largest) largest = bound[j];
                }
                assert_true(rs.max_error_bound <= 2 * largest);
            }
            vs_corpus_free(c);
        }
    }
    free(base);
    free(q);
    free(matrix);
    free(approx);
    free(bound);
    vs_context_free(ctx);
}

/* ---- input already in float16 / bfloat16 ------------------------------------------------ */

static void test_from_half(void **state) {
    (void)state;
    vs_context *ctx = context_for(NULL);
    const size_t n = 500, dim = 24, nq = 4, k = 7;
    uint16_t *bits = malloc(n * dim * sizeof(uint16_t));
    float *wide = malloc(n * dim * sizeof(float)), *q = malloc(nq * dim * sizeof(float));
    ref_rng rng;
    ref_rng_seed(&rng, 3);
    for (int type = 1; type <= 2; type++) {
        for (size_t e = 0; e < n * dim; e++) {
            /* random finite patterns: sign, an exponent well inside range, any mantissa */
            const uint16_t mant = (uint16_t)ref_int(&rng, 0, type == 1 ? 1023 : 127);
            const uint16_t expo =
                (uint16_t)ref_int(&rng, type == 1 ? 10 : 120, type == 1 ? 18 : 132);
            const uint16_t sign = (uint16_t)(ref_int(&rng, 0, 1) << 15);
            bits[e] = type == 1 ? (uint16_t)(sign | expo << 10 | mant)
                                : (uint16_t)(sign | expo << 7 | mant);
            union {
                uint32_t u;
                float f;
            } v = {.u = (uint32_t)bits[e] << 16};
            wide[e] =
                type == 1 ? ldexpf((float)(1024 + mant), (int)expo - 25) * (sign ? -1 : 1) : v.f;
        }
        fill(GAUSSIAN, q, nq, dim, &rng);
        vs_corpus *f32 = NULL, *exact = NULL, *approx = NULL;
        vs_corpus_options opts;
        vs_corpus_options_init(&opts);
        opts.storage = (vs_storage)type;
        assert_int_equal(vs_corpus_create(ctx, wide, n, dim, &f32), VS_OK);
        assert_int_equal(
            vs_corpus_create_from_half(ctx, bits, (vs_storage)type, n, dim, &opts, &exact), VS_OK);
        opts.exact = 0;
        assert_int_equal(
            vs_corpus_create_from_half(ctx, bits, (vs_storage)type, n, dim, &opts, &approx), VS_OK);
        float s1[4 * 7], s2[4 * 7];
        int64_t i1[4 * 7], i2[4 * 7];
        for (size_t m = 0; m < 3; m++) {
            assert_int_equal(vs_corpus_topk(f32, metrics[m], q, nq, k, s1, i1), VS_OK);
            assert_int_equal(vs_corpus_topk(exact, metrics[m], q, nq, k, s2, i2), VS_OK);
            assert_memory_equal(s1, s2, sizeof(s1));
            assert_memory_equal(i1, i2, sizeof(i1));
            /* stored as given: only the accumulation bound remains */
            double a[500], b[500];
            assert_int_equal(vs__compact_pair_bounds(approx, metrics[m], q, a, b), VS_OK);
            for (size_t j = 0; j < n; j++) {
                double ignored;
                const double ref = ref_score(metrics[m], q, wide + j * dim, dim, &ignored);
                assert_true(fabs(a[j] - ref) <= b[j]);
            }
        }
        /* half input stored as float32 is the float32 corpus */
        vs_corpus *as_f32 = NULL;
        opts.storage = VS_STORAGE_F32;
        opts.exact = 1;
        assert_int_equal(
            vs_corpus_create_from_half(ctx, bits, (vs_storage)type, n, dim, &opts, &as_f32), VS_OK);
        assert_int_equal(vs_corpus_topk(as_f32, VS_METRIC_DOT, q, nq, k, s2, i2), VS_OK);
        assert_int_equal(vs_corpus_topk(f32, VS_METRIC_DOT, q, nq, k, s1, i1), VS_OK);
        assert_memory_equal(s1, s2, sizeof(s1));
        vs_corpus_free(as_f32);
        vs_corpus_free(f32);
        vs_corpus_free(exact);
        vs_corpus_free(approx);
    }
    free(bits);
    free(wide);
    free(q);
    vs_context_free(ctx);
}

/* ---- bad options ------------------------------------------------------------------------- */

static void test_bad_options(void **state) {
    (void)state;
    vs_context *ctx = context_for(NULL);
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint16_t h[8] = {0};
    vs_corpus *c = (vs_corpus *)v; /* must be reset to NULL */
    vs_corpus_options opts;
    vs_corpus_options_init(&opts);
    assert_int_equal(opts.storage, VS_STORAGE_F32);
    assert_int_equal(opts.exact, 1);
    vs_corpus_options_init(NULL);
    opts.storage = (vs_storage)7;
    assert_int_equal(vs_corpus_create_with(ctx, v, 2, 4, &opts, &c), VS_ERR_INVALID_ARGUMENT);
    assert_null(c);
    assert_non_null(strstr(vs_last_error_message(), "unknown storage 7"));
    opts.storage = VS_STORAGE_I8;
    opts.exact = 2;
    assert_int_equal(vs_corpus_create_with(ctx, v, 2, 4, &opts, &c), VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vs_last_error_message(), "exact is 2"));
    opts.exact = 1;
    assert_int_equal(vs_corpus_create_with(NULL, v, 2, 4, &opts, &c), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_create_with(ctx, v, 2, 4, &opts, NULL), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_create_with(ctx, NULL, 2, 4, &opts, &c), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_create_with(ctx, v, 2, 0, &opts, &c), VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_create_with(ctx, v, SIZE_MAX / 2, 4, &opts, &c),
                     VS_ERR_INVALID_ARGUMENT);
    assert_int_equal(vs_corpus_create_from_half(ctx, h, VS_STORAGE_I8, 2, 4, &opts, &c),
                     VS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vs_last_error_message(), "input type 3"));
    assert_int_equal(vs_corpus_create_from_half(ctx, NULL, VS_STORAGE_F16, 2, 4, &opts, &c),
                     VS_ERR_INVALID_ARGUMENT);
    assert_null(c);
    /* NULL options are the defaults (float32); n = 0 is valid. */
    assert_int_equal(vs_corpus_create_with(ctx, v, 2, 4, NULL, &c), VS_OK);
    assert_int_equal(vs_corpus_storage(c), VS_STORAGE_F32);
    vs_corpus_free(c);
    assert_int_equal(vs_corpus_create_with(ctx, NULL, 0, 4, &opts, &c), VS_OK);
    float s[3];
    int64_t id[3];
    assert_int_equal(vs_corpus_topk(c, VS_METRIC_DOT, v, 1, 3, s, id), VS_OK);
    assert_int_equal(id[0], -1);
    assert_true(isinf(s[2]) && s[2] < 0);
    /* a query batch with a dim mismatch cannot be expressed; a NULL query can */
    assert_int_equal(vs_corpus_topk(c, VS_METRIC_DOT, NULL, 1, 3, s, id), VS_ERR_INVALID_ARGUMENT);
    vs_corpus_free(c);
    assert_string_equal(vs_storage_name(VS_STORAGE_BF16), "bf16");
    assert_null(vs_storage_name((vs_storage)4));
    vs_storage parsed;
    assert_int_equal(vs_storage_parse("int8", &parsed), VS_OK);
    assert_int_equal(parsed, VS_STORAGE_I8);
    assert_int_equal(vs_storage_parse("f8", &parsed), VS_ERR_INVALID_ARGUMENT);
    vs_context_free(ctx);
    /* Compact corpora on an OpenCL device: tests/test_compact_cl.c. */
}

/* A forced compact ISA above the float32 one is refused, not silently downgraded; the
 * variable is read once, when the context is created (host/options.h). */
static vs_context *context_forcing(const char *compact_isa) {
    setenv("VECSCORE_COMPACT_ISA", compact_isa, 1);
    vs_context *ctx = context_for("serial");
    unsetenv("VECSCORE_COMPACT_ISA");
    return ctx;
}

static void test_compact_isa_override(void **state) {
    (void)state;
    static const struct {
        const char *forced;
        int status;
    } cases[] = {{"avx2", VS_ERR_UNSUPPORTED},
                 {"neon", VS_ERR_UNSUPPORTED},
                 {"bogus", VS_ERR_UNSUPPORTED},
                 {"serial", VS_OK}};
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8}, s[2];
    int64_t id[2];
    vs_corpus_options opts;
    vs_corpus_options_init(&opts);
    opts.storage = VS_STORAGE_BF16;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vs_context *ctx = context_forcing(cases[i].forced);
        vs_corpus *c = NULL;
        assert_int_equal(vs_corpus_create_with(ctx, v, 2, 4, &opts, &c), VS_OK);
        /* set after creation: no effect on this context */
        setenv("VECSCORE_COMPACT_ISA", cases[i].status == VS_OK ? "avx2" : "serial", 1);
        assert_int_equal(vs_corpus_topk(c, VS_METRIC_DOT, v, 1, 2, s, id), cases[i].status);
        unsetenv("VECSCORE_COMPACT_ISA");
        if (cases[i].status == VS_OK)
            assert_int_equal(id[0], 1);
        else
            assert_non_null(strstr(vs_last_error_message(), "VECSCORE_COMPACT_ISA"));
        vs_corpus_free(c);
        vs_context_free(ctx);
    }
}

/*
 * Each AVX-512 compact table runs when forced, and the report names it: so
 * forcing a feature off really uses the other kernel. The bfloat16 queries
 * of avx512bf16 (rounded to bfloat16) widen the approximate bound on the same
 * data, which the float32 queries of plain avx512 do not. Unforced, an
 * avx512 context takes every feature the CPU has (under SIMDe: both).
 */
static void test_compact_tables_named(void **state) {
    (void)state;
    const size_t n = 300, dim = 70, nq = 3, k = 5;
    float *base, *queries;
    seeded_data(21, GAUSSIAN, GAUSSIAN, n, nq, dim, &base, &queries);
    float scores[3 * 5];
    int64_t ids[3 * 5];
    double bf16_bound[2] = {0, 0}; /* approximate bfloat16: avx512, avx512bf16 */
    int ran = 0;
    for (size_t a = 0; a < sizeof(isas) / sizeof(isas[0]); a++) {
        if (strncmp(isas[a], "avx512", 6) != 0) continue;
        vs_context *ctx = isa_context(isas[a]);
        if (ctx == NULL) continue;
        for (size_t s = 0; s < 3; s++)
            for (int exact = 0; exact < 2; exact++) {
                vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[s], exact);
                assert_int_equal(vs_corpus_topk(c, VS_METRIC_DOT, queries, nq, k, scores, ids),
                                 VS_OK);
                vs_batch_report r;
                assert_int_equal(vs_context_last_report(ctx, &r), VS_OK);
                if (strcmp(r.isa, isas[a]) != 0)
                    fail_msg("VECSCORE_COMPACT_ISA=%s: the report says %s ran", isas[a], r.isa);
                if (storages[s] == VS_STORAGE_BF16 && !exact && strcmp(isas[a], "avx512") == 0)
                    bf16_bound[0] = r.max_error_bound;
                if (storages[s] == VS_STORAGE_BF16 && !exact && strcmp(isas[a], "avx512bf16") == 0)
                    bf16_bound[1] = r.max_error_bound;
                vs_corpus_free(c);
            }
        vs_context_free(ctx);
        ran++;
    }
    if (bf16_bound[0] > 0 && bf16_bound[1] > 0) {
        printf("approximate bf16 bound: avx512 %.3g, avx512bf16 %.3g\n", bf16_bound[0],
               bf16_bound[1]);
        assert_true(bf16_bound[1] > 1.2 * bf16_bound[0]);
    }
#ifdef VS_TEST_SIMDE
    assert_int_equal(ran, 4);
    vs_context *ctx = context_for("avx512");
    vs_corpus *c = compact_corpus(ctx, base, n, dim, VS_STORAGE_I8, 1);
    assert_int_equal(vs_corpus_topk(c, VS_METRIC_DOT, queries, nq, k, scores, ids), VS_OK);
    vs_batch_report r;
    assert_int_equal(vs_context_last_report(ctx, &r), VS_OK);
    assert_string_equal(r.isa, "avx512bf16vnni");
    vs_corpus_free(c);
    vs_context_free(ctx);
#else
    assert_true(ran >= 1);
#endif
    free(base);
    free(queries);
}

/* ---- threads ---------------------------------------------------------------------------- */

typedef struct threaded_run {
    float *scores;
    int64_t *ids;
    float *matrix;
    uint64_t rescored[2];
    double bound[3];
} threaded_run;

/* Every output of one context's batches on one corpus (exact top-k, approximate top-k, scores). */
static void threaded_batches(vs_context *ctx, const float *base, const float *queries, size_t n,
                             size_t dim, size_t nq, size_t k, vs_storage storage, vs_metric metric,
                             threaded_run *out, int expect_threads) {
    for (int exact = 1; exact >= 0; exact--) {
        vs_corpus *c = compact_corpus(ctx, base, n, dim, storage, exact);
        const size_t at = exact ? 0 : nq * k;
        assert_int_equal(vs_corpus_topk(c, metric, queries, nq, k, out->scores + at, out->ids + at),
                         VS_OK);
        vs_batch_report r;
        assert_int_equal(vs_context_last_report(ctx, &r), VS_OK);
        assert_int_equal(r.status, VS_OK);
        if (expect_threads > 1) assert_int_equal(r.threads, expect_threads);
        out->rescored[exact] = r.rescored;
        out->bound[exact] = r.max_error_bound;
        if (!exact) {
            assert_int_equal(vs_corpus_score(c, metric, queries, nq, out->matrix), VS_OK);
            assert_int_equal(vs_context_last_report(ctx, &r), VS_OK);
            out->bound[2] = r.max_error_bound;
        }
        vs_corpus_free(c);
    }
}

static void test_threads_same_answer(void **state) {
    (void)state;
    vs__pool_test_set_cpu_count(8);
    vs__pool_test_force_split(1);
    /* 3 pool units of 4096 rows (the last one short), 2 jobs of 64 queries */
    const size_t n = 2 * 4096 + 777, dim = 20, nq = 67, k = 10;
    float *base = malloc(n * dim * sizeof(float)), *queries = malloc(nq * dim * sizeof(float));
    ref_rng rng;
    ref_rng_seed(&rng, 29);
    threaded_run runs[3];
    for (int t = 0; t < 3; t++) {
        runs[t].scores = malloc(2 * nq * k * sizeof(float));
        runs[t].ids = malloc(2 * nq * k * sizeof(int64_t));
        runs[t].matrix = malloc(nq * n * sizeof(float));
    }
    float *f32_scores = malloc(nq * k * sizeof(float));
    int64_t *f32_ids = malloc(nq * k * sizeof(int64_t));
    vs_context *ctxs[3];
    for (int t = 0; t < 3; t++) {
        vs_options o;
        vs_options_init(&o);
        o.device = "cpu";
        o.threads = t + 1;
        assert_int_equal(vs_context_create(&o, &ctxs[t]), VS_OK);
    }
    const enum data kinds[] = {GAUSSIAN, CLUSTERED, TIES};
    int cases = 0;
    for (size_t d = 0; d < 3; d++) {
        fill(kinds[d], base, n, dim, &rng);
        fill(kinds[d] == TIES ? TIES : GAUSSIAN, queries, nq, dim, &rng);
        for (size_t s = 0; s < 3; s++)
            for (size_t m = 0; m < 3; m++) {
                for (int t = 0; t < 3; t++)
                    threaded_batches(ctxs[t], base, queries, n, dim, nq, k, storages[s], metrics[m],
                                     &runs[t], t + 1);
                vs_corpus *f32 = NULL;
                assert_int_equal(vs_corpus_create(ctxs[0], base, n, dim, &f32), VS_OK);
                assert_int_equal(
                    vs_corpus_topk(f32, metrics[m], queries, nq, k, f32_scores, f32_ids), VS_OK);
                vs_corpus_free(f32);
                /* exact mode is float32's answer whatever the thread count */
                assert_memory_equal(runs[0].ids, f32_ids, nq * k * sizeof(int64_t));
                assert_memory_equal(runs[0].scores, f32_scores, nq * k * sizeof(float));
                for (int t = 1; t < 3; t++) {
                    assert_memory_equal(runs[t].ids, runs[0].ids, 2 * nq * k * sizeof(int64_t));
                    assert_memory_equal(runs[t].scores, runs[0].scores, 2 * nq * k * sizeof(float));
                    assert_memory_equal(runs[t].matrix, runs[0].matrix, nq * n * sizeof(float));
                    assert_memory_equal(runs[t].rescored, runs[0].rescored,
                                        sizeof(runs[0].rescored));
                    assert_memory_equal(runs[t].bound, runs[0].bound, sizeof(runs[0].bound));
                }
                assert_true(runs[0].rescored[1] >= nq * k);
                cases++;
            }
    }
    printf("threads 1, 2, 3: %d storage x metric x data cases identical\n", cases);
    for (int t = 0; t < 3; t++) {
        vs_context_free(ctxs[t]);
        free(runs[t].scores);
        free(runs[t].ids);
        free(runs[t].matrix);
    }
    vs__pool_test_force_split(0);
    vs__pool_test_set_cpu_count(0);
    free(f32_scores);
    free(f32_ids);
    free(base);
    free(queries);
}

int main(void) {
#ifdef VS_TEST_SIMDE
    simde_install();
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_compact_isa_override),
        cmocka_unit_test(test_report_counts),
        cmocka_unit_test(test_approximate_topk),
        cmocka_unit_test(test_approximate_block_bound),
        cmocka_unit_test(test_raw_filter_same_candidates),
        cmocka_unit_test(test_fused_filter_same_candidates),
        cmocka_unit_test(test_from_half),
        cmocka_unit_test(test_bounds_hold),
        cmocka_unit_test(test_long_extreme_vectors),
        cmocka_unit_test(test_exact_equals_float32),
        cmocka_unit_test(test_blocked_kernels),
        cmocka_unit_test(test_one_query_kernels),
        cmocka_unit_test(test_threads_same_answer),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    /* Only where some AVX-512 compact table runs: registered, never counted when it cannot. */
    if (vs_cpu_isa_supported("avx512") && vs__compact_kernels_for("avx512", "avx512") != NULL) {
        const struct CMUnitTest avx512_tests[] = {cmocka_unit_test(test_compact_tables_named)};
        failed += cmocka_run_group_tests_name("avx512 compact tables", avx512_tests, NULL, NULL);
    } else {
        printf("ISA avx512: not supported by this CPU, test_compact_tables_named not run\n");
    }
    return failed != 0;
}
