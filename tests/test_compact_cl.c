/*
 * test_compact_cl.c — compact corpora (float16, bfloat16, int8) on the OpenCL
 * device (cl/compact.c, cl/kernels/compact.cl), with the kernel family the
 * environment selects (scripts/test.sh runs it again with
 * VECSCORE_CL_KERNELS=gpu, so the float32 rescoring runs on both families, and
 * the gpu family's register-blocked scan kernels are checked too):
 *
 *   exact mode: top-k and score matrices equal, bit for bit, to a float32
 *     corpus on the same device context, for every storage x metric, on
 *     Gaussian, unit-normalised clustered, tied, zero/NaN/inf and tiny/huge
 *     data, k = 1, 10, n and n + 5, odd dims; the results are also checked
 *     against the float64 reference, and the report must name the device's
 *     scan kernel;
 *   approximate mode: every score within the report's max_error_bound of the
 *     float64 reference;
 *   the bounds: no device compact score of many random pairs is farther from
 *     the float64 reference than its own bound;
 *   injected OpenCL failures: the batch re-runs on the CPU (the report says
 *     so) and still returns a float32 corpus's answer; a corpus larger than
 *     one device allocation runs on the CPU and every report says why;
 *   auto: it runs on the device or the CPU, the report says which, and the
 *     answer is that of a float32 corpus on the same context.
 *
 * These tests fail (they do not skip) when no OpenCL device is present.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl_calls.h"
#include "host/internal.h"
#include "compact_helpers.h"
#include "reference.h"

#if defined(__SANITIZE_ADDRESS__)
#define SAN_SCALE 4
#else
#define SAN_SCALE 1
#endif

static const vs_storage storages[] = {VS_STORAGE_F16, VS_STORAGE_BF16, VS_STORAGE_I8};
static const char *const scan_kernels[] = {"vs_compact_f16", "vs_compact_bf16", "vs_compact_i8"};
static const vs_metric metrics[] = {VS_METRIC_DOT, VS_METRIC_COSINE, VS_METRIC_L2SQ};
static char cache_dir[64];

static vs_context *open_context(const char *selector) {
    vs_options opts;
    vs_options_init(&opts);
    opts.device = selector;
    opts.cache_dir = cache_dir;
    opts.threads = 1;
    vs_context *ctx = NULL;
    const int status = vs_context_create(&opts, &ctx);
    if (status != VS_OK)
        fail_msg("vs_context_create(%s) = %s: %s (is pocl-opencl-icd installed?)", selector,
                 vs_status_name(status), vs_last_error_message());
    return ctx;
}

/* Data sets: how the corpus (and its queries) are drawn. */
enum kind { GAUSS, CLUSTER, TIED, SPECIALS, EXTREMES, KINDS };
static const char *const kind_names[] = {"gaussian", "clustered", "ties", "zero+nan+inf",
                                         "tiny+huge"};

static double normal(ref_rng *rng) {
    double a = (ref_uniform(rng) + 1) / 2, b = (ref_uniform(rng) + 1) / 2;
    if (a < 1e-300) a = 1e-300;
    return sqrt(-2 * log(a)) * cos(6.283185307179586 * b);
}

/* n rows of dim for kind; `queries` draws the query side of the same kind. */
static void draw(enum kind kind, float *x, size_t n, size_t dim, int queries, ref_rng *rng) {
    if (kind == TIED) { /* small integers (exact in every storage) and duplicated rows */
        ref_fill_small_ints(x, n * dim, rng);
        for (size_t j = 1; !queries && j < n; j += 3)
            memcpy(x + j * dim, x + (j - 1) * dim, dim * sizeof(float));
        return;
    }
    if (kind == EXTREMES) {
        ref_fill_extreme(x, n, dim, queries ? 3 : 0, rng);
        return;
    }
    for (size_t e = 0; e < n * dim; e++)
        x[e] = (float)normal(rng);
    if (kind == CLUSTER) { /* 3 centres, small noise, unit norm */
        for (size_t j = 0; j < n; j++) {
            double sq = 0;
            for (size_t i = 0; i < dim; i++) {
                const double centre = ((j % 3) + 1) * (((i * 7 + j % 3) % 5) - 2.0);
                x[j * dim + i] = (float)(centre + 0.03 * x[j * dim + i]);
                sq += (double)x[j * dim + i] * x[j * dim + i];
            }
            for (size_t i = 0; i < dim && sq > 0; i++)
                x[j * dim + i] = (float)(x[j * dim + i] / sqrt(sq));
        }
    }
    if (kind == SPECIALS && !queries) {
        for (size_t j = 0; j < n; j += 4)
            memset(x + j * dim, 0, dim * sizeof(float));
        for (size_t j = 1; j < n; j += 6)
            x[j * dim + (j % dim)] = NAN;
        if (n > 2) x[2 * dim + dim / 2] = -INFINITY;
    }
    if (kind == SPECIALS && queries && n > 2) {
        memset(x + dim, 0, dim * sizeof(float)); /* a zero query */
        x[2 * dim] = NAN;                        /* a NaN query */
    }
}

/* 1 when the report says the device scanned with the storage's kernel: in the gpu family its
 * register-blocked one (vs_compact_f16_blocked, ...), in the others the plain one. */
static int scanned_on_device(const vs_batch_report *r, size_t s) {
    char blocked[48];
    snprintf(blocked, sizeof(blocked), "%s_blocked", scan_kernels[s]);
    if (strcmp(r->backend, "opencl") != 0) return 0;
    if (strcmp(r->kernel_family, "gpu") == 0) return strstr(r->kernels, blocked) != NULL;
    return strstr(r->kernels, scan_kernels[s]) != NULL && strstr(r->kernels, blocked) == NULL;
}

/* ---- exact mode ------------------------------------------------------------------------- */

typedef struct tally {
    int differences, reference_failures;
    size_t batches, on_device;
} tally;

static void compare_topk(vs_corpus *f32, vs_corpus *compact, size_t s, vs_metric metric,
                         const float *base, const float *queries, size_t n, size_t dim, size_t nq,
                         size_t k, enum kind kind, tally *t) {
    float *s1 = malloc(nq * k * sizeof(float)), *s2 = malloc(nq * k * sizeof(float));
    int64_t *i1 = malloc(nq * k * sizeof(int64_t)), *i2 = malloc(nq * k * sizeof(int64_t));
    assert_true(s1 && s2 && i1 && i2);
    assert_int_equal(vs_corpus_topk(f32, metric, queries, nq, k, s1, i1), VS_OK);
    assert_int_equal(vs_corpus_topk(compact, metric, queries, nq, k, s2, i2), VS_OK);
    vs_batch_report r;
    assert_int_equal(vs_context_last_report(compact->ctx, &r), VS_OK);
    assert_int_equal(r.storage, (int)storages[s]);
    t->batches++;
    if (scanned_on_device(&r, s)) t->on_device++;
    if (memcmp(i1, i2, nq * k * sizeof(int64_t)) != 0 || memcmp(s1, s2, nq * k * sizeof(float))) {
        for (size_t e = 0; e < nq * k; e++)
            if (i1[e] != i2[e] || memcmp(&s1[e], &s2[e], sizeof(float)) != 0) {
                printf("  %s %s %s n=%zu dim=%zu k=%zu entry %zu: float32 (%lld, %.9g) compact "
                       "(%lld, %.9g) [%s]\n",
                       vs_storage_name(storages[s]), vs_metric_name(metric), kind_names[kind], n,
                       dim, k, e, (long long)i1[e], (double)s1[e], (long long)i2[e], (double)s2[e],
                       r.kernels);
                break;
            }
        t->differences++;
    }
    if (kind == GAUSS || kind == CLUSTER || kind == TIED) {
        char why[256] = "";
        if (ref_check_topk(metric, queries, nq, base, n, dim, k, s2, i2, why, sizeof(why)) != 0) {
            printf("  %s %s %s k=%zu: against the float64 reference: %s\n",
                   vs_storage_name(storages[s]), vs_metric_name(metric), kind_names[kind], k, why);
            t->reference_failures++;
        }
    }
    free(s1);
    free(s2);
    free(i1);
    free(i2);
}

static void exact_case(vs_context *ctx, size_t s, enum kind kind, size_t n, size_t dim, size_t nq,
                       ref_rng *rng, tally *t) {
    float *base = malloc(n * dim * sizeof(float)), *queries = malloc(nq * dim * sizeof(float));
    assert_true(base && queries);
    draw(kind, base, n, dim, 0, rng);
    draw(kind, queries, nq, dim, 1, rng);
    vs_corpus *f32 = NULL;
    assert_int_equal(vs_corpus_create(ctx, base, n, dim, &f32), VS_OK);
    vs_corpus *compact = compact_corpus(ctx, base, n, dim, storages[s], 1);
    assert_true(vs__compact_on_device(compact));
    const size_t ks[] = {1, 10, n, n + 5};
    for (size_t m = 0; m < 3; m++) {
        for (size_t ki = 0; ki < 4; ki++)
            compare_topk(f32, compact, s, metrics[m], base, queries, n, dim, nq, ks[ki], kind, t);
        float *m1 = malloc(nq * n * sizeof(float)), *m2 = malloc(nq * n * sizeof(float));
        assert_true(m1 && m2);
        assert_int_equal(vs_corpus_score(f32, metrics[m], queries, nq, m1), VS_OK);
        assert_int_equal(vs_corpus_score(compact, metrics[m], queries, nq, m2), VS_OK);
        vs_batch_report r;
        assert_int_equal(vs_context_last_report(ctx, &r), VS_OK);
        assert_string_equal(r.backend, "opencl"); /* the device's float32 rows */
        if (memcmp(m1, m2, nq * n * sizeof(float)) != 0) {
            printf("  %s %s %s dim=%zu: exact score matrix differs\n", vs_storage_name(storages[s]),
                   vs_metric_name(metrics[m]), kind_names[kind], dim);
            t->differences++;
        }
        free(m1);
        free(m2);
    }
    vs_corpus_free(f32);
    vs_corpus_free(compact);
    free(base);
    free(queries);
}

static void test_exact_equals_float32(void **state) {
    (void)state;
    vs_context *ctx = open_context("opencl");
    ref_rng rng;
    ref_rng_seed(&rng, 2026);
    const size_t dims[] = {1, 7, 33, 131};
    for (size_t s = 0; s < 3; s++) {
        tally t = {0};
        for (int kind = 0; kind < KINDS; kind++)
            for (size_t d = 0; d < 4; d++)
                exact_case(ctx, s, (enum kind)kind, d == 3 ? 611 : 83, dims[d], 7, &rng, &t);
        /* more than 32 queries: the gpu family scores the float32 corpus with vs_score_blocked,
         * the single-query rescoring batches with vs_score_stream */
        exact_case(ctx, s, GAUSS, 300, 45, 41, &rng, &t);
        printf("%s: %zu exact batches, %zu scanned by %s, %d differ from float32, %d fail the "
               "float64 reference\n",
               vs_storage_name(storages[s]), t.batches, t.on_device, scan_kernels[s], t.differences,
               t.reference_failures);
        assert_int_equal(t.differences, 0);
        assert_int_equal(t.reference_failures, 0);
        assert_true(t.on_device * 2 > t.batches); /* all but the uncertifiable batches */
    }
    vs_context_free(ctx);
}

/*
 * Exact mode rescoring: many queries with many survivors (tie-heavy data), or
 * with few (Gaussian data), are rescored in one float32 batch per device chunk
 * (<= 256 queries), bit for bit the float32 corpus's; with the union of a
 * batch bounded at a few rows (testing hook) they take several batches, with
 * the same answer. The test hook counts the batches; a tie-heavy union of half
 * the corpus or more runs on the whole float32 corpus.
 */
static size_t rescore_round(vs_context *ctx, vs_corpus *f32, vs_corpus *compact, size_t s,
                            const float *queries, size_t nq, size_t k, uint64_t *batches,
                            uint64_t *whole) {
    float *s1 = malloc(nq * k * sizeof(float)), *s2 = malloc(nq * k * sizeof(float));
    int64_t *i1 = malloc(nq * k * sizeof(int64_t)), *i2 = malloc(nq * k * sizeof(int64_t));
    assert_true(s1 && s2 && i1 && i2);
    assert_int_equal(vs_corpus_topk(f32, VS_METRIC_DOT, queries, nq, k, s1, i1), VS_OK);
    assert_int_equal(vs_corpus_topk(compact, VS_METRIC_DOT, queries, nq, k, s2, i2), VS_OK);
    vs__compact_rescore_batches(batches, whole);
    vs_batch_report r;
    assert_int_equal(vs_context_last_report(ctx, &r), VS_OK);
    assert_true(scanned_on_device(&r, s));
    assert_int_equal(r.fallback_queries, 0);
    assert_memory_equal(i1, i2, nq * k * sizeof(int64_t));
    assert_memory_equal(s1, s2, nq * k * sizeof(float));
    free(s1);
    free(s2);
    free(i1);
    free(i2);
    return (size_t)r.rescored;
}

static void test_rescore_batches(void **state) {
    (void)state;
    vs_context *ctx = open_context("opencl");
    const size_t n = 1500, dim = 16, k = 10, nqs[] = {70, 300};
    float *base = malloc(n * dim * sizeof(float)), *q = malloc(300 * dim * sizeof(float));
    assert_true(base && q);
    ref_rng rng;
    ref_rng_seed(&rng, 515);
    uint64_t whole_batches = 0, gathered_batches = 0;
    for (int kind = 0; kind < 2; kind++) {
        if (kind == 0) { /* ties: every row one of 60 small-integer vectors, ~25 copies each */
            float pool[60 * 16];
            ref_fill_small_ints(pool, 60 * dim, &rng);
            for (size_t j = 0; j < n; j++)
                memcpy(base + j * dim, pool + (size_t)ref_int(&rng, 0, 59) * dim,
                       dim * sizeof(float));
            ref_fill_small_ints(q, 300 * dim, &rng);
        } else {
            draw(GAUSS, base, n, dim, 0, &rng);
            draw(GAUSS, q, 300, dim, 1, &rng);
        }
        vs_corpus *f32 = NULL;
        assert_int_equal(vs_corpus_create(ctx, base, n, dim, &f32), VS_OK);
        for (size_t s = 0; s < 3; s++) {
            vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[s], 1);
            for (size_t t = 0; t < 2; t++) {
                uint64_t batches, whole;
                const size_t rescored =
                    rescore_round(ctx, f32, c, s, q, nqs[t], k, &batches, &whole);
                printf("%s %s Q=%zu: %zu candidates rescored in %llu batch(es), %llu on the whole "
                       "corpus\n",
                       kind ? "gaussian" : "ties", vs_storage_name(storages[s]), nqs[t], rescored,
                       (unsigned long long)batches, (unsigned long long)whole);
                assert_true(rescored >= nqs[t] * k);
                assert_int_equal(batches, (nqs[t] + 255) / 256); /* one per chunk of <= 256 */
                whole_batches += whole;
                gathered_batches += batches - whole;
                if (kind == 0) assert_true(rescored > 2 * nqs[t] * k); /* many survivors */
            }
            /* a union of at most 40 rows: several batches, the same answer */
            vs__compact_test_rescore_rows(40);
            uint64_t batches, whole;
            rescore_round(ctx, f32, c, s, q, nqs[0], k, &batches, &whole);
            vs__compact_test_rescore_rows(0);
            printf("  union <= 40 rows: %llu batches, %llu on the whole corpus\n",
                   (unsigned long long)batches, (unsigned long long)whole);
            assert_true(batches >= 2 && batches <= nqs[0]);
            gathered_batches += batches - whole;
            vs_corpus_free(c);
        }
        vs_corpus_free(f32);
    }
    /* both ways of rescoring ran: a gathered union, and the whole corpus */
    assert_true(gathered_batches > 0);
    assert_true(whole_batches > 0);
    free(base);
    free(q);
    vs_context_free(ctx);
}

/* ---- approximate mode against the float64 reference ------------------------------------------ */

static void test_approximate_within_bound(void **state) {
    (void)state;
    vs_context *ctx = open_context("opencl");
    const size_t n = 2500, dim = 67, nq = 6, k = 12;
    float *base = malloc(n * dim * sizeof(float)), *q = malloc(nq * dim * sizeof(float));
    float *matrix = malloc(nq * n * sizeof(float));
    float scores[6 * 12];
    int64_t ids[6 * 12];
    assert_true(base && q && matrix);
    ref_rng rng;
    ref_rng_seed(&rng, 31);
    draw(CLUSTER, base, n, dim, 0, &rng);
    draw(GAUSS, q, nq, dim, 1, &rng);
    for (size_t s = 0; s < 3; s++)
        for (size_t m = 0; m < 3; m++) {
            vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[s], 0);
            assert_int_equal(vs_corpus_topk(c, metrics[m], q, nq, k, scores, ids), VS_OK);
            vs_batch_report r;
            assert_int_equal(vs_context_last_report(ctx, &r), VS_OK);
            assert_true(scanned_on_device(&r, s));
            assert_true(r.max_error_bound > 0);
            assert_int_equal(r.rescored, 0);
            const double topk_bound = r.max_error_bound;
            for (size_t e = 0; e < nq * k; e++) {
                assert_true(ids[e] >= 0 && (size_t)ids[e] < n);
                double ignored;
                const double ref =
                    ref_score(metrics[m], q + (e / k) * dim, base + ids[e] * dim, dim, &ignored);
                /* the float score is the double one rounded once: half an ulp more */
                assert_true(fabs((double)scores[e] - ref) <=
                            topk_bound + fabs(ref) * 0x1p-24 + 1e-37);
            }
            assert_int_equal(vs_corpus_score(c, metrics[m], q, nq, matrix), VS_OK);
            assert_int_equal(vs_context_last_report(ctx, &r), VS_OK);
            assert_true(scanned_on_device(&r, s));
            size_t beyond = 0;
            for (size_t e = 0; e < nq * n; e++) {
                double ignored;
                const double ref =
                    ref_score(metrics[m], q + (e / n) * dim, base + (e % n) * dim, dim, &ignored);
                if (!(fabs((double)matrix[e] - ref) <=
                      r.max_error_bound + fabs(ref) * 0x1p-24 + 1e-37))
                    beyond++;
            }
            printf("%s %s approximate: max_error_bound %.3g, %zu of %zu scores beyond it\n",
                   vs_storage_name(storages[s]), vs_metric_name(metrics[m]), r.max_error_bound,
                   beyond, nq * n);
            assert_int_equal(beyond, 0);
            vs_corpus_free(c);
        }
    free(base);
    free(q);
    free(matrix);
    vs_context_free(ctx);
}

/* ---- the bounds of the device scan ---------------------------------------------------------- */

static void test_device_bounds_hold(void **state) {
    (void)state;
    vs_context *ctx = open_context("opencl");
    ref_rng rng;
    ref_rng_seed(&rng, 4242);
    const size_t n = 3000 / SAN_SCALE, nq = 12;
    const size_t dims[] = {3, 96, 257};
    size_t pairs = 0, violations = 0;
    double worst = 0;
    for (size_t s = 0; s < 3; s++)
        for (size_t d = 0; d < 3; d++)
            for (int kind = GAUSS; kind < KINDS; kind++) {
                if (kind == SPECIALS) continue;
                const size_t dim = dims[d];
                float *base = malloc(n * dim * sizeof(float)),
                      *q = malloc(nq * dim * sizeof(float));
                double *approx = malloc(n * sizeof(double)), *bound = malloc(n * sizeof(double));
                assert_true(base && q && approx && bound);
                draw((enum kind)kind, base, n, dim, 0, &rng);
                draw((enum kind)kind, q, nq, dim, 1, &rng);
                vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[s], 0);
                assert_true(vs__compact_on_device(c));
                for (size_t m = 0; m < 3; m++)
                    for (size_t i = 0; i < nq; i++) {
                        assert_int_equal(
                            vs__compact_pair_bounds(c, metrics[m], q + i * dim, approx, bound),
                            VS_OK);
                        char why[200];
                        const size_t beyond =
                            ref_check_bounds(metrics[m], q + i * dim, base, n, dim, approx, bound,
                                             &pairs, &worst, why, sizeof(why));
                        if (beyond > 0 && violations < 5)
                            printf("  %s %s: %s\n", vs_storage_name(storages[s]), kind_names[kind],
                                   why);
                        violations += beyond;
                    }
                vs_corpus_free(c);
                free(base);
                free(q);
                free(approx);
                free(bound);
            }
    printf("device scan: %zu pairs, %zu beyond their bound, largest error/bound %.3g\n", pairs,
           violations, worst);
    assert_int_equal(violations, 0);
    assert_true(pairs > 1000000 / SAN_SCALE);
    vs_context_free(ctx);
}

/* Long vectors at the int8 extremes (codes +-127, int16 levels near 32767, 9000 dims: two int
 * blocks of the device kernel and a tail): the int lanes must be widened before they overflow. */
static void test_long_extreme_vectors(void **state) {
    (void)state;
    vs_context *ctx = open_context("opencl");
    const size_t n = 9, dim = 9000 + 7;
    float *base = malloc(n * dim * sizeof(float)), *q = malloc(dim * sizeof(float));
    double approx[9], bound[9];
    assert_true(base && q);
    for (size_t e = 0; e < n * dim; e++)
        base[e] = (e / dim) % 2 ? -1.0f : 1.0f;
    for (size_t i = 0; i < dim; i++)
        q[i] = 1.999f;
    for (size_t s = 0; s < 3; s++) {
        vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[s], 0);
        assert_true(vs__compact_on_device(c));
        for (size_t m = 0; m < 3; m++) {
            assert_int_equal(vs__compact_pair_bounds(c, metrics[m], q, approx, bound), VS_OK);
            size_t pairs = 0;
            double worst = 0;
            assert_int_equal(ref_check_bounds(metrics[m], q, base, n, dim, approx, bound, &pairs,
                                              &worst, NULL, 0),
                             0);
            assert_int_equal(pairs, n);
        }
        vs_corpus_free(c);
    }
    vs_context_free(ctx);
    free(base);
    free(q);
}

/* ---- failures and auto ---------------------------------------------------------------------- */

/* Every OpenCL call of a compact batch failing in turn: the CPU re-runs the batch. */
static void test_injected_failures_rerun_on_cpu(void **state) {
    (void)state;
    vs_context *cpu = open_context("cpu");
    const size_t n = 900, dim = 40, nq = 5, k = 8;
    float *base = malloc(n * dim * sizeof(float)), *q = malloc(nq * dim * sizeof(float));
    assert_true(base && q);
    ref_rng rng;
    ref_rng_seed(&rng, 8);
    draw(GAUSS, base, n, dim, 0, &rng);
    draw(GAUSS, q, nq, dim, 1, &rng);
    float want[5 * 8], got[5 * 8];
    int64_t want_ids[5 * 8], got_ids[5 * 8];
    vs_corpus *reference = NULL;
    assert_int_equal(vs_corpus_create(cpu, base, n, dim, &reference), VS_OK);
    assert_int_equal(vs_corpus_topk(reference, VS_METRIC_COSINE, q, nq, k, want, want_ids), VS_OK);
    size_t reruns = 0;
    for (size_t s = 0; s < 3; s++) {
        vs_context *ctx = open_context("opencl");
        vs_corpus *f32 = NULL;
        vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[s], 1);
        assert_int_equal(vs_corpus_create(ctx, base, n, dim, &f32), VS_OK);
        float device_scores[5 * 8];
        int64_t device_ids[5 * 8];
        assert_int_equal(vs_corpus_topk(f32, VS_METRIC_COSINE, q, nq, k, device_scores, device_ids),
                         VS_OK);
        vs__cl_fail_after(0, 0);
        assert_int_equal(vs_corpus_topk(c, VS_METRIC_COSINE, q, nq, k, got, got_ids), VS_OK);
        const long calls = vs__cl_fail_after(0, 0);
        assert_true(calls > 0);
        for (long at = 1; at <= calls; at++) {
            vs__cl_fail_after(at, 0);
            const int status = vs_corpus_topk(c, VS_METRIC_COSINE, q, nq, k, got, got_ids);
            vs__cl_fail_after(0, 0);
            assert_int_equal(status, VS_OK);
            vs_batch_report r;
            assert_int_equal(vs_context_last_report(ctx, &r), VS_OK);
            if (strcmp(r.backend, "cpu") == 0) {
                /* the CPU ran it: a CPU float32 corpus's answer, and the report says why */
                assert_non_null(strstr(r.fallback, "CPU"));
                assert_memory_equal(got, want, sizeof(want));
                assert_memory_equal(got_ids, want_ids, sizeof(want_ids));
                reruns++;
            } else {
                assert_memory_equal(got, device_scores, sizeof(got));
                assert_memory_equal(got_ids, device_ids, sizeof(got_ids));
            }
        }
        vs_corpus_free(c);
        vs_corpus_free(f32);
        vs_context_free(ctx);
    }
    printf("injected failures: %zu batches re-ran on the CPU\n", reruns);
    assert_true(reruns >= 3);
    vs_corpus_free(reference);
    vs_context_free(cpu);
    free(base);
    free(q);
}

/* A compact corpus larger than one device allocation stays on the CPU, and every batch says
 * why; the answer is then the CPU float32 corpus's. */
static void test_too_large_for_device_runs_on_cpu(void **state) {
    (void)state;
    setenv("VECSCORE_CL_MAX_ALLOC_BYTES", "64K", 1);
    vs_context *ctx = open_context("opencl");
    unsetenv("VECSCORE_CL_MAX_ALLOC_BYTES");
    vs_context *cpu = open_context("cpu");
    const size_t n = 2000, dim = 40, nq = 3, k = 4; /* 80,000 B as int8 > 64 KiB */
    float *base = malloc(n * dim * sizeof(float)), *q = malloc(nq * dim * sizeof(float));
    float s1[3 * 4], s2[3 * 4];
    int64_t i1[3 * 4], i2[3 * 4];
    assert_true(base && q);
    ref_rng rng;
    ref_rng_seed(&rng, 12);
    draw(GAUSS, base, n, dim, 0, &rng);
    draw(GAUSS, q, nq, dim, 1, &rng);
    vs_corpus *want = NULL;
    assert_int_equal(vs_corpus_create(cpu, base, n, dim, &want), VS_OK);
    assert_int_equal(vs_corpus_topk(want, VS_METRIC_L2SQ, q, nq, k, s1, i1), VS_OK);
    for (size_t s = 0; s < 3; s++) {
        vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[s], 1);
        assert_false(vs__compact_on_device(c));
        assert_int_equal(vs_corpus_topk(c, VS_METRIC_L2SQ, q, nq, k, s2, i2), VS_OK);
        vs_batch_report r;
        assert_int_equal(vs_context_last_report(ctx, &r), VS_OK);
        printf("%s on a 64 KiB device: %s: %s\n", vs_storage_name(storages[s]), r.backend,
               r.fallback);
        assert_string_equal(r.backend, "cpu");
        assert_non_null(strstr(r.fallback, "largest allocation"));
        assert_memory_equal(s1, s2, sizeof(s1));
        assert_memory_equal(i1, i2, sizeof(i1));
        vs_corpus_free(c);
    }
    vs_corpus_free(want);
    vs_context_free(cpu);
    vs_context_free(ctx);
    free(base);
    free(q);
}

static void write_cost_files(const char *line) {
    char command[300];
    snprintf(command, sizeof(command), "for f in %s/cost-*.txt; do echo '%s' > \"$f\"; done",
             cache_dir, line);
    assert_int_equal(system(command), 0);
}

/*
 * One auto context (OpenCL CPU devices weighed): every compact batch runs on
 * `expect` ("opencl", "cpu", or NULL for either), the report says which, a
 * CPU run says why, and the answer is the float32 corpus's on the same side.
 */
static void auto_round(const char *expect) {
    setenv("VECSCORE_AUTO_OPENCL_CPU", "1", 1);
    vs_context *ctx = open_context("auto");
    unsetenv("VECSCORE_AUTO_OPENCL_CPU");
    const size_t n = 1500, dim = 50, k = 5;
    const size_t nqs[] = {1, 40};
    float *base = malloc(n * dim * sizeof(float)), *q = malloc(40 * dim * sizeof(float));
    float s1[40 * 5], s2[40 * 5];
    int64_t i1[40 * 5], i2[40 * 5];
    assert_true(base && q);
    ref_rng rng;
    ref_rng_seed(&rng, 99);
    draw(GAUSS, base, n, dim, 0, &rng);
    draw(GAUSS, q, 40, dim, 1, &rng);
    for (size_t s = 0; s < 3; s++) {
        vs_corpus *f32 = NULL;
        vs_corpus *c = compact_corpus(ctx, base, n, dim, storages[s], 1);
        assert_int_equal(vs_corpus_create(ctx, base, n, dim, &f32), VS_OK);
        for (size_t t = 0; t < 2; t++) {
            vs_batch_report a, b;
            assert_int_equal(vs_corpus_topk(f32, VS_METRIC_DOT, q, nqs[t], k, s1, i1), VS_OK);
            assert_int_equal(vs_context_last_report(ctx, &a), VS_OK);
            assert_int_equal(vs_corpus_topk(c, VS_METRIC_DOT, q, nqs[t], k, s2, i2), VS_OK);
            assert_int_equal(vs_context_last_report(ctx, &b), VS_OK);
            printf("auto %s Q=%zu: float32 on %s, compact on %s%s%.100s\n",
                   vs_storage_name(storages[s]), nqs[t], a.backend, b.backend,
                   b.fallback[0] ? ": " : "", b.fallback);
            assert_true(strcmp(b.backend, "cpu") == 0 || scanned_on_device(&b, s));
            if (expect != NULL) assert_string_equal(b.backend, expect);
            if (strcmp(b.backend, "cpu") == 0 && ctx->backend != ctx->cpu)
                assert_non_null(strstr(b.fallback, "cost model")); /* why the CPU ran it */
            if (strcmp(a.backend, b.backend) == 0) {
                assert_memory_equal(s1, s2, nqs[t] * k * sizeof(float));
                assert_memory_equal(i1, i2, nqs[t] * k * sizeof(int64_t));
            }
        }
        vs_corpus_free(c);
        vs_corpus_free(f32);
    }
    free(base);
    free(q);
    vs_context_free(ctx);
}

/* auto decides with its cost model: a fresh calibration (either side, by the machine's load),
 * then cost files that make the device, then the CPU, 1000x faster. */
static void test_auto_says_which_ran(void **state) {
    (void)state;
    auto_round(NULL);
    write_cost_files("vecscore-cost 2 1e-3 1e9 1e9 0 0 1e-9 1e15 1e15 0 0");
    auto_round("opencl");
    write_cost_files("vecscore-cost 2 1e-9 1e15 1e15 0 0 1e-3 1e9 1e9 0 0");
    auto_round("cpu");
}

int main(void) {
    snprintf(cache_dir, sizeof(cache_dir), "/tmp/vecscore-test-compact-cl-XXXXXX");
    if (mkdtemp(cache_dir) == NULL) return 1;
    if (getenv("VS_TEST_FILTER") != NULL) cmocka_set_test_filter(getenv("VS_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_equals_float32),
        cmocka_unit_test(test_rescore_batches),
        cmocka_unit_test(test_approximate_within_bound),
        cmocka_unit_test(test_device_bounds_hold),
        cmocka_unit_test(test_long_extreme_vectors),
        cmocka_unit_test(test_injected_failures_rerun_on_cpu),
        cmocka_unit_test(test_too_large_for_device_runs_on_cpu),
        cmocka_unit_test(test_auto_says_which_ran),
    };
    const int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char command[128];
    snprintf(command, sizeof(command), "rm -rf '%s'", cache_dir);
    if (system(command) != 0) return 1;
    return failed;
}
