/*
 * test_kernels.c — every kernel on every ISA this CPU has, against the
 * float64 reference (reference.c) within the documented bound, and exactly
 * on small-integer data (where float32 arithmetic is exact, so any lost or
 * doubled element shows). Dims cover tails of every vector width; pointers
 * are misaligned on purpose.
 *
 * Each test runs once per ISA this CPU supports, from the library's own list
 * (vs_cpu_isa_name), forced through the kernel table and through
 * vs_options.isa: one cmocka group per ISA. An ISA this CPU lacks runs no
 * test and is named on stdout; it is never counted as passed.
 * VECSCORE_TEST_REQUIRE_ISA=name[,name...] makes the run fail unless each
 * named ISA is supported here (scripts/test-arm.sh requires neon, so a
 * detection fault cannot pass by testing serial alone). VECSCORE_ISA=name,
 * as for the library, runs that ISA's group only (and fails if this CPU
 * lacks it).
 *
 * Built with VS_TEST_SIMDE (kernels_simde), the suite runs the "avx512"
 * group only, on the AVX-512 kernels compiled against SIMDe (simde_main.h),
 * with the small dims (the emulation is slow; the same tails).
 */
#define _DEFAULT_SOURCE /* mmap's MAP_ANONYMOUS */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/kernels.h"
#include "reference.h"
#ifdef VS_TEST_SIMDE
#include "simde_main.h"
#endif

/*
 * Dims with tails of every vector width. VECSCORE_TEST_SMALL=1 (set by
 * scripts/test-arm.sh, which runs the suites under qemu) swaps the three
 * large ones for smaller dims with the same remainders modulo 32 (so the
 * same tails) that still span several panel blocks: every case still runs.
 */
static const size_t dims_full[] = {1, 2, 3, 7, 15, 16, 17, 31, 100, 768, 1000, 4099};
static const size_t dims_small[] = {1, 2, 3, 7, 15, 16, 17, 31, 100, 256, 264, 1027};
#define NDIMS (sizeof(dims_full) / sizeof(dims_full[0]))
static const size_t *dims = dims_full;
static const vs_metric metrics[] = {VS_METRIC_DOT, VS_METRIC_COSINE, VS_METRIC_L2SQ};

static const vs__cpu_kernels *table_for(void **state) {
    const char *isa = *state;
    const vs__cpu_kernels *kernels = NULL;
    assert_true(vs_cpu_isa_supported(isa));
    assert_int_equal(vs__cpu_kernels_get(isa, &kernels), VS_OK);
    assert_non_null(kernels);
    assert_string_equal(kernels->isa, isa);
    return kernels;
}

static vs_context *context_for(const char *isa, int threads) {
    vs_options opts;
    vs_options_init(&opts);
    opts.isa = isa;
    opts.threads = threads;
    vs_context *ctx = NULL;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    assert_string_equal(vs_context_isa(ctx), isa);
    return ctx;
}

/* ---- direct kernels --------------------------------------------------------- */

static void test_dot(void **state) {
    const vs__cpu_kernels *kern = table_for(state);
    ref_rng rng;
    ref_rng_seed(&rng, 1);
    for (size_t di = 0; di < NDIMS; di++) {
        size_t dim = dims[di];
        for (size_t misalign = 0; misalign < 4; misalign++) {
            void *ba, *bb;
            float *a = ref_alloc_floats(dim, misalign, &ba);
            float *b = ref_alloc_floats(dim, 3 - misalign, &bb);
            for (int exact = 0; exact < 2; exact++) {
                if (exact) {
                    ref_fill_small_ints(a, dim, &rng);
                    ref_fill_small_ints(b, dim, &rng);
                } else {
                    ref_fill_uniform(a, dim, &rng);
                    ref_fill_uniform(b, dim, &rng);
                }
                double bound;
                double expected = ref_score(VS_METRIC_DOT, a, b, dim, &bound);
                float got = kern->dot(a, b, dim);
                if (exact)
                    assert_true((double)got == expected);
                else if (fabs(got - expected) > bound)
                    fail_msg("%s dot dim %zu: %.9g vs %.12g (bound %.3g)", kern->isa, dim,
                             (double)got, expected, bound);
            }
            free(ba);
            free(bb);
        }
    }
}

static void test_dot_rows(void **state) {
    const vs__cpu_kernels *kern = table_for(state);
    ref_rng rng;
    ref_rng_seed(&rng, 2);
    const size_t ldo = 16;
    float out[VS_ROWS_BLOCK * 16];
    for (size_t di = 0; di < NDIMS; di++) {
        size_t dim = dims[di];
        void *bq, *bc;
        float *q = ref_alloc_floats(VS_ROWS_BLOCK * dim, 1, &bq);
        float *c = ref_alloc_floats(9 * dim, 2, &bc);
        for (int exact = 0; exact < 2; exact++) {
            if (exact) {
                ref_fill_small_ints(q, VS_ROWS_BLOCK * dim, &rng);
                ref_fill_small_ints(c, 9 * dim, &rng);
            } else {
                ref_fill_uniform(q, VS_ROWS_BLOCK * dim, &rng);
                ref_fill_uniform(c, 9 * dim, &rng);
            }
            for (size_t rows = 1; rows <= VS_ROWS_BLOCK; rows++)
                for (size_t cols = 1; cols <= 9; cols++) {
                    for (size_t i = 0; i < VS_ROWS_BLOCK * 16; i++)
                        out[i] = -12345.0f;
                    kern->dot_rows(q, rows, c, cols, dim, out, ldo);
                    for (size_t r = 0; r < VS_ROWS_BLOCK; r++)
                        for (size_t j = 0; j < 16; j++) {
                            if (r >= rows || j >= cols) {
                                assert_true(out[r * ldo + j] == -12345.0f); /* untouched */
                                continue;
                            }
                            double bound;
                            double expected =
                                ref_score(VS_METRIC_DOT, q + r * dim, c + j * dim, dim, &bound);
                            float got = out[r * ldo + j];
                            if (exact ? (double)got != expected : fabs(got - expected) > bound)
                                fail_msg("%s dot_rows %zux%zu dim %zu [%zu][%zu]: %.9g vs %.12g",
                                         kern->isa, rows, cols, dim, r, j, (double)got, expected);
                        }
                }
        }
        free(bq);
        free(bc);
    }
}

static void test_tile(void **state) {
    const vs__cpu_kernels *kern = table_for(state);
    ref_rng rng;
    ref_rng_seed(&rng, 3);
    for (size_t di = 0; di < NDIMS; di++) {
        size_t dim = dims[di];
        size_t mr = kern->mr, nr = kern->nr;
        float *q = malloc(mr * dim * sizeof(float));
        float *c = malloc(nr * dim * sizeof(float));
        float *qpack = aligned_alloc(64, (mr * dim * sizeof(float) + 63) / 64 * 64);
        float *cpack = aligned_alloc(64, (nr * dim * sizeof(float) + 63) / 64 * 64);
        float *out = aligned_alloc(64, VS_MAX_MR * VS_MAX_NR * sizeof(float));
        assert_non_null(q);
        assert_non_null(c);
        assert_non_null(qpack);
        assert_non_null(cpack);
        assert_non_null(out);
        for (int exact = 0; exact < 2; exact++) {
            if (exact) {
                ref_fill_small_ints(q, mr * dim, &rng);
                ref_fill_small_ints(c, nr * dim, &rng);
            } else {
                ref_fill_uniform(q, mr * dim, &rng);
                ref_fill_uniform(c, nr * dim, &rng);
            }
            for (size_t count = 1; count <= nr; count += (count < 3 ? 1 : nr / 4)) {
                vs__pack_rows(c, count, dim, nr, cpack);
                for (size_t rows = 1; rows <= mr; rows++) {
                    vs__pack_rows(q, rows, dim, rows, qpack);
                    kern->tile(qpack, rows, cpack, dim, out);
                    for (size_t r = 0; r < rows; r++)
                        for (size_t j = 0; j < nr; j++) {
                            float got = out[r * nr + j];
                            if (j >= count) { /* zero padding rows score exactly 0 */
                                assert_true(got == 0.0f);
                                continue;
                            }
                            double bound;
                            double expected =
                                ref_score(VS_METRIC_DOT, q + r * dim, c + j * dim, dim, &bound);
                            if (exact ? (double)got != expected : fabs(got - expected) > bound)
                                fail_msg("%s tile rows %zu dim %zu [%zu][%zu]: %.9g vs %.12g",
                                         kern->isa, rows, dim, r, j, (double)got, expected);
                        }
                }
            }
        }
        free(q);
        free(c);
        free(qpack);
        free(cpack);
        free(out);
    }
}

/* ---- the packed macro-kernel: blocking boundaries ----------------------------- */

/*
 * Dims around the AVX2 slab of 256 dimensions (just below, at, just above, and
 * past two slabs), and query counts that are not multiples of any tile's rows and
 * cross a group of slivers (at most 16 slivers of 6 = 96 queries on AVX2);
 * candidate counts that are not multiples of any panel width (80: the AVX2
 * one-query kernel takes 4 panels at a time, then 1). Whatever the
 * ISA blocks, block_packed must give each tile the bits the whole-dimension
 * tile gives (the same FMA chain), and the reference's value.
 */
static const size_t block_dims[] = {255, 256, 257, 513};
static const size_t block_nq[] = {1, 7, 13, 97};
static const size_t block_nc[] = {1, 17, 80};

static void test_block_packed(void **state) {
    const vs__cpu_kernels *kern = table_for(state);
    const size_t mr = kern->mr, nr = kern->nr, nq_max = 97, nc_max = 80;
    ref_rng rng;
    ref_rng_seed(&rng, 8);
    for (size_t di = 0; di < sizeof(block_dims) / sizeof(block_dims[0]); di++) {
        const size_t dim = block_dims[di];
        const size_t slivers_max = (nq_max + mr - 1) / mr, panels_max = (nc_max + nr - 1) / nr;
        float *q = malloc(nq_max * dim * sizeof(float));
        float *c = malloc(nc_max * dim * sizeof(float));
        float *qpack = aligned_alloc(64, (slivers_max * mr * dim * sizeof(float) + 63) / 64 * 64);
        float *cpack = aligned_alloc(64, (panels_max * nr * dim * sizeof(float) + 63) / 64 * 64);
        float *scores = malloc(nq_max * nc_max * sizeof(float));
        float *tile = aligned_alloc(64, VS_MAX_MR * VS_MAX_NR * sizeof(float));
        assert_non_null(q);
        assert_non_null(c);
        assert_non_null(qpack);
        assert_non_null(cpack);
        assert_non_null(scores);
        assert_non_null(tile);
        for (int exact = 0; exact < 2; exact++) {
            if (exact) {
                ref_fill_small_ints(q, nq_max * dim, &rng);
                ref_fill_small_ints(c, nc_max * dim, &rng);
            } else {
                ref_fill_uniform(q, nq_max * dim, &rng);
                ref_fill_uniform(c, nc_max * dim, &rng);
            }
            for (size_t qi = 0; qi < sizeof(block_nq) / sizeof(block_nq[0]); qi++)
                for (size_t ci = 0; ci < sizeof(block_nc) / sizeof(block_nc[0]); ci++) {
                    const size_t nq = block_nq[qi], nc = block_nc[ci];
                    for (size_t s = 0; s * mr < nq; s++) {
                        size_t rows = nq - s * mr < mr ? nq - s * mr : mr;
                        vs__pack_rows(q + s * mr * dim, rows, dim, rows, qpack + s * mr * dim);
                    }
                    for (size_t p = 0; p * nr < nc; p++) {
                        size_t n = nc - p * nr < nr ? nc - p * nr : nr;
                        vs__pack_rows(c + p * nr * dim, n, dim, nr, cpack + p * nr * dim);
                    }
                    for (size_t i = 0; i < nq * nc; i++)
                        scores[i] = NAN;
                    vs__epilogue epi = {.metric = VS_METRIC_DOT, .scores = scores, .ld = nc};
                    kern->block_packed(&epi, qpack, mr * dim, 0, nq, cpack, 0, nc, dim);
                    for (size_t s = 0; s * mr < nq; s++) {
                        size_t rows = nq - s * mr < mr ? nq - s * mr : mr;
                        for (size_t p = 0; p * nr < nc; p++) {
                            kern->tile(qpack + s * mr * dim, rows, cpack + p * nr * dim, dim, tile);
                            for (size_t r = 0; r < rows; r++)
                                for (size_t j = p * nr; j < nc && j < (p + 1) * nr; j++) {
                                    const size_t i = s * mr + r;
                                    const float got = scores[i * nc + j];
                                    if (memcmp(&got, &tile[r * nr + (j - p * nr)], sizeof(float)) !=
                                        0)
                                        fail_msg("%s block_packed %zux%zu dim %zu [%zu][%zu]: "
                                                 "%.9g, the tile gives %.9g",
                                                 kern->isa, nq, nc, dim, i, j, (double)got,
                                                 (double)tile[r * nr + (j - p * nr)]);
                                    double bound;
                                    double expected = ref_score(VS_METRIC_DOT, q + i * dim,
                                                                c + j * dim, dim, &bound);
                                    if (exact ? (double)got != expected
                                              : fabs(got - expected) > bound)
                                        fail_msg("%s block_packed %zux%zu dim %zu [%zu][%zu]: "
                                                 "%.9g vs %.12g",
                                                 kern->isa, nq, nc, dim, i, j, (double)got,
                                                 expected);
                                }
                        }
                    }
                }
        }
        free(q);
        free(c);
        free(qpack);
        free(cpack);
        free(scores);
        free(tile);
    }
}

/* ---- no read past the end ---------------------------------------------------- */

/* n floats ending exactly where an inaccessible page starts: reading past them faults. */
typedef struct guarded {
    void *map;
    size_t map_bytes;
} guarded;

static float *guarded_floats(size_t n, guarded *g) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t bytes = n * sizeof(float), pages = (bytes + page - 1) / page;
    g->map_bytes = (pages + 1) * page;
    g->map = mmap(NULL, g->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g->map != MAP_FAILED);
    char *guard = (char *)g->map + pages * page;
    assert_int_equal(mprotect(guard, page, PROT_NONE), 0);
    return (float *)(guard - bytes);
}

static void guarded_free(guarded *g) {
    munmap(g->map, g->map_bytes);
}

/*
 * Every kernel with its last input row ending at a PROT_NONE page: a tail
 * load that reads one float too many crashes the suite. The values are
 * small integers, so the results must also be exact.
 */
static void test_no_overread(void **state) {
    const vs__cpu_kernels *kern = table_for(state);
    ref_rng rng;
    ref_rng_seed(&rng, 7);
    const size_t mr = kern->mr, nr = kern->nr, max_cols = 9;
    float out[VS_MAX_MR * VS_MAX_NR] __attribute__((aligned(64))); /* as block.h gives tile */
    for (size_t di = 0; di < NDIMS; di++) {
        const size_t dim = dims[di];
        guarded ga, gb, gq, gc, gp;
        float *a = guarded_floats(dim, &ga), *b = guarded_floats(dim, &gb);
        ref_fill_small_ints(a, dim, &rng);
        ref_fill_small_ints(b, dim, &rng);
        double bound;
        assert_true((double)kern->dot(a, b, dim) == ref_score(VS_METRIC_DOT, a, b, dim, &bound));

        /* dot_rows: queries and candidates are the last rows of their blocks. */
        float *q = guarded_floats(VS_ROWS_BLOCK * dim, &gq);
        float *c = guarded_floats(max_cols * dim, &gc);
        ref_fill_small_ints(q, VS_ROWS_BLOCK * dim, &rng);
        ref_fill_small_ints(c, max_cols * dim, &rng);
        for (size_t rows = 1; rows <= VS_ROWS_BLOCK; rows++)
            for (size_t cols = 1; cols <= max_cols; cols++) {
                const float *qr = q + (VS_ROWS_BLOCK - rows) * dim,
                            *cr = c + (max_cols - cols) * dim;
                kern->dot_rows(qr, rows, cr, cols, dim, out, max_cols);
                for (size_t r = 0; r < rows; r++)
                    for (size_t j = 0; j < cols; j++)
                        if ((double)out[r * max_cols + j] !=
                            ref_score(VS_METRIC_DOT, qr + r * dim, cr + j * dim, dim, &bound))
                            fail_msg("%s dot_rows %zux%zu dim %zu [%zu][%zu] at a page end",
                                     kern->isa, rows, cols, dim, r, j);
            }

        /* tile: the query sliver and the candidate panel end at the guard page.
         * The panel's start (page end - nr * dim floats) keeps the 64-byte
         * alignment packed panels have. */
        float *panel = guarded_floats(nr * dim, &gp);
        vs__pack_rows(c, nr < max_cols ? nr : max_cols, dim, nr, panel);
        guarded gs;
        float *sliver_space = guarded_floats(mr * dim, &gs);
        for (size_t rows = 1; rows <= mr; rows++) {
            float *sliver = sliver_space + (mr - rows) * dim;
            vs__pack_rows(q, rows < VS_ROWS_BLOCK ? rows : VS_ROWS_BLOCK, dim, rows, sliver);
            for (size_t r = VS_ROWS_BLOCK; r < rows; r++) /* rows beyond the 4 queries: copies */
                for (size_t d = 0; d < dim; d++)
                    sliver[d * rows + r] = q[(r % VS_ROWS_BLOCK) * dim + d];
            kern->tile(sliver, rows, panel, dim, out);
            for (size_t r = 0; r < rows; r++)
                for (size_t j = 0; j < nr; j++) {
                    double want = j < max_cols
                                      ? ref_score(VS_METRIC_DOT, q + (r % VS_ROWS_BLOCK) * dim,
                                                  c + j * dim, dim, &bound)
                                      : 0.0;
                    if ((double)out[r * nr + j] != want)
                        fail_msg("%s tile rows %zu dim %zu [%zu][%zu] at a page end", kern->isa,
                                 rows, dim, r, j);
                }
        }
        guarded_free(&ga);
        guarded_free(&gb);
        guarded_free(&gq);
        guarded_free(&gc);
        guarded_free(&gp);
        guarded_free(&gs);
    }
}

/* ---- through the public API ------------------------------------------------ */

typedef struct shape {
    size_t nq, nc;
} shape;

/* nq 5: row path; nq 50: packed path; nc with tails of every panel width. */
static const shape shapes[] = {{1, 45}, {5, 45}, {50, 203}};

static void check_all_calls(vs_context *ctx, vs_metric metric, const float *q, size_t nq,
                            const float *c, size_t nc, size_t dim, int exact) {
    char why[512];
    float *scores = malloc((nq * nc + 1) * sizeof(float));
    size_t kmax = nc + 5;
    float *top_scores = malloc(nq * kmax * sizeof(float));
    int64_t *top_ids = malloc(nq * kmax * sizeof(int64_t));
    assert_non_null(scores);
    assert_non_null(top_scores);
    assert_non_null(top_ids);
    vs_corpus *corpus = NULL;
    assert_int_equal(vs_corpus_create(ctx, c, nc, dim, &corpus), VS_OK);
    for (int use_corpus = 0; use_corpus < 2; use_corpus++) {
        int rc = use_corpus ? vs_corpus_score(corpus, metric, q, nq, scores)
                            : vs_score(ctx, metric, q, nq, c, nc, dim, scores);
        assert_int_equal(rc, VS_OK);
        if (ref_check_scores(metric, q, nq, c, nc, dim, scores, exact && metric != VS_METRIC_COSINE,
                             why, sizeof(why)))
            fail_msg("%s %s score nq %zu: %s", vs_context_isa(ctx),
                     use_corpus ? "corpus" : "simple", nq, why);
        const size_t ks[] = {1, 10, nc, kmax};
        for (size_t ki = 0; ki < 4; ki++) {
            size_t k = ks[ki];
            rc = use_corpus ? vs_corpus_topk(corpus, metric, q, nq, k, top_scores, top_ids)
                            : vs_topk(ctx, metric, q, nq, c, nc, dim, k, top_scores, top_ids);
            assert_int_equal(rc, VS_OK);
            if (ref_check_topk(metric, q, nq, c, nc, dim, k, top_scores, top_ids, why, sizeof(why)))
                fail_msg("%s %s topk nq %zu k %zu: %s", vs_context_isa(ctx),
                         use_corpus ? "corpus" : "simple", nq, k, why);
        }
    }
    vs_corpus_free(corpus);
    free(scores);
    free(top_scores);
    free(top_ids);
}

static void test_api_all_dims(void **state) {
    table_for(state);
    vs_context *ctx = context_for(*state, 2);
    ref_rng rng;
    ref_rng_seed(&rng, 4);
    for (size_t di = 0; di < NDIMS; di++) {
        size_t dim = dims[di];
        for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
            size_t nq = shapes[si].nq, nc = shapes[si].nc;
            if (dim >= 1000 && nq > 5) nq = 49; /* keep the large dims quick */
            void *bq, *bc;
            float *q = ref_alloc_floats(nq * dim, 1, &bq);
            float *c = ref_alloc_floats(nc * dim, 3, &bc);
            for (int exact = 0; exact < 2; exact++) {
                if (exact) {
                    ref_fill_small_ints(q, nq * dim, &rng);
                    ref_fill_small_ints(c, nc * dim, &rng);
                } else {
                    ref_fill_uniform(q, nq * dim, &rng);
                    ref_fill_uniform(c, nc * dim, &rng);
                }
                for (size_t mi = 0; mi < 3; mi++)
                    check_all_calls(ctx, metrics[mi], q, nq, c, nc, dim, exact);
            }
            free(bq);
            free(bc);
        }
    }
    vs_context_free(ctx);
}

/*
 * The corpus path (packed panels) and the per-call packed path through the
 * API at the dims around the AVX2 slab boundary, with query counts that
 * cross a group of slivers, every metric, score and top-k; and scores
 * bit-identical between 1 and 2 threads.
 */
static void test_api_block_boundaries(void **state) {
    table_for(state);
    vs_context *ctx = context_for(*state, 2), *ctx1 = context_for(*state, 1);
    ref_rng rng;
    ref_rng_seed(&rng, 9);
    const size_t bdims[] = {255, 257, 513};
    const size_t nq = 97, nc = 53;
    for (size_t di = 0; di < sizeof(bdims) / sizeof(bdims[0]); di++) {
        const size_t dim = bdims[di];
        void *bq, *bc;
        float *q = ref_alloc_floats(nq * dim, 1, &bq);
        float *c = ref_alloc_floats(nc * dim, 3, &bc);
        float *s2 = malloc(nq * nc * sizeof(float)), *s1 = malloc(nq * nc * sizeof(float));
        assert_non_null(s2);
        assert_non_null(s1);
        ref_fill_uniform(q, nq * dim, &rng);
        ref_fill_uniform(c, nc * dim, &rng);
        for (size_t mi = 0; mi < 3; mi++) {
            check_all_calls(ctx, metrics[mi], q, nq, c, nc, dim, 0);
            vs_corpus *corpus2 = NULL, *corpus1 = NULL;
            assert_int_equal(vs_corpus_create(ctx, c, nc, dim, &corpus2), VS_OK);
            assert_int_equal(vs_corpus_create(ctx1, c, nc, dim, &corpus1), VS_OK);
            assert_int_equal(vs_corpus_score(corpus2, metrics[mi], q, nq, s2), VS_OK);
            assert_int_equal(vs_corpus_score(corpus1, metrics[mi], q, nq, s1), VS_OK);
            assert_memory_equal(s1, s2, nq * nc * sizeof(float));
            vs_corpus_free(corpus2);
            vs_corpus_free(corpus1);
        }
        free(s1);
        free(s2);
        free(bq);
        free(bc);
    }
    vs_context_free(ctx);
    vs_context_free(ctx1);
}

/* Zero, NaN and Inf vectors, and exact ties from duplicated candidates. */
static void test_special_values(void **state) {
    table_for(state);
    vs_context *ctx = context_for(*state, 2);
    ref_rng rng;
    ref_rng_seed(&rng, 5);
    const size_t dims_here[] = {3, 17, 100};
    for (size_t di = 0; di < 3; di++) {
        size_t dim = dims_here[di];
        for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
            size_t nq = shapes[si].nq, nc = shapes[si].nc;
            float *q = malloc(nq * dim * sizeof(float));
            float *c = malloc(nc * dim * sizeof(float));
            assert_non_null(q);
            assert_non_null(c);
            ref_fill_uniform(q, nq * dim, &rng);
            ref_fill_uniform(c, nc * dim, &rng);
            /* candidate 0 zero, 1 has a NaN, 2 has +inf, 3..5 duplicate 7 */
            memset(c, 0, dim * sizeof(float));
            c[1 * dim + dim / 2] = NAN;
            c[2 * dim + 0] = INFINITY;
            for (size_t dup = 3; dup <= 5; dup++)
                memcpy(c + dup * dim, c + 7 * dim, dim * sizeof(float));
            memcpy(c + 20 * dim, c + 7 * dim, dim * sizeof(float));
            /* query 0 is zero; the last query has a NaN */
            memset(q, 0, dim * sizeof(float));
            if (nq > 1) q[(nq - 1) * dim] = NAN;
            for (size_t mi = 0; mi < 3; mi++)
                check_all_calls(ctx, metrics[mi], q, nq, c, nc, dim, 0);

            /* Exact ties: duplicates must come out in ascending id order, adjacent. */
            size_t k = nc;
            float *ts = malloc(nq * k * sizeof(float));
            int64_t *ti = malloc(nq * k * sizeof(int64_t));
            assert_non_null(ts);
            assert_non_null(ti);
            for (size_t mi = 0; mi < 3; mi++) {
                assert_int_equal(vs_topk(ctx, metrics[mi], q, nq, c, nc, dim, k, ts, ti), VS_OK);
                for (size_t i = 1; i + 1 < nq; i++) { /* queries without NaN or zero */
                    size_t pos[5], found = 0;
                    const int64_t want[5] = {3, 4, 5, 7, 20};
                    for (size_t r = 0; r < k; r++)
                        for (size_t w = 0; w < 5; w++)
                            if (ti[i * k + r] == want[w]) pos[found++] = r;
                    assert_int_equal(found, 5);
                    for (size_t w = 1; w < 5; w++) {
                        assert_int_equal(ti[i * k + pos[w]], want[w]);
                        assert_int_equal(pos[w], pos[w - 1] + 1);
                        assert_true(ts[i * k + pos[w]] == ts[i * k + pos[0]]);
                    }
                    /* NaN scores (candidate 1 always, 2 where inf - inf) sort last */
                    assert_true(isnan(ts[i * k + k - 1]));
                    assert_true(ti[i * k + k - 1] == 1 || ti[i * k + k - 1] == 2);
                }
            }
            free(ts);
            free(ti);
            free(q);
            free(c);
        }
    }
    vs_context_free(ctx);
}

/* Cosine with zero vectors is 0; cosine stays in [-1, 1]; L2SQ never negative. */
static void test_clamps(void **state) {
    table_for(state);
    vs_context *ctx = context_for(*state, 1);
    const size_t dim = 33, n = 6;
    float v[6 * 33];
    ref_rng rng;
    ref_rng_seed(&rng, 6);
    ref_fill_uniform(v, n * dim, &rng);
    memcpy(v + 1 * dim, v, dim * sizeof(float)); /* identical: cos 1, l2 0 */
    for (size_t d = 0; d < dim; d++)
        v[2 * dim + d] = -v[d] * 3.0f; /* opposite: cos -1 */
    memset(v + 3 * dim, 0, dim * sizeof(float));
    float s[36];
    assert_int_equal(vs_score(ctx, VS_METRIC_COSINE, v, n, v, n, dim, s), VS_OK);
    for (size_t i = 0; i < n * n; i++) {
        assert_true(s[i] >= -1.0f && s[i] <= 1.0f);
        if (i / n == 3 || i % n == 3) assert_true(s[i] == 0.0f);
    }
    assert_true(s[0 * n + 1] > 0.99999f);
    assert_true(s[0 * n + 2] < -0.99999f);
    assert_int_equal(vs_score(ctx, VS_METRIC_L2SQ, v, n, v, n, dim, s), VS_OK);
    for (size_t i = 0; i < n * n; i++)
        assert_true(s[i] >= 0.0f);
    assert_true(s[0 * n + 1] >= 0.0f && s[0 * n + 1] < 1e-4f);
    vs_context_free(ctx);
}

/* ---- tiny and huge norms (docs/numerics.md) ------------------------------------- */

/* Scores of every metric on data from ref_fill_extreme, plus a zero and a NaN row. */
static void check_extreme(vs_context *ctx, size_t nq, size_t nc, size_t dim, size_t first_kind,
                          size_t misalign, ref_rng *rng) {
    void *bq, *bc;
    float *q = ref_alloc_floats(nq * dim, misalign, &bq);
    float *c = ref_alloc_floats(nc * dim, 3 - misalign, &bc);
    ref_fill_extreme(q, nq, dim, first_kind, rng);
    ref_fill_extreme(c, nc, dim, 0, rng);
    memset(c + 3 * dim, 0, dim * sizeof(float)); /* zero candidate */
    c[4 * dim + dim / 2] = NAN;                  /* NaN candidate */
    /* Cosine: within the bound for every pair, score and top-k, per call and corpus. */
    check_all_calls(ctx, VS_METRIC_COSINE, q, nq, c, nc, dim, 0);
    /* DOT and L2SQ keep float32 semantics: within bound, or non-finite where they overflow. */
    float *scores = malloc(nq * nc * sizeof(float));
    assert_non_null(scores);
    vs_corpus *corpus = NULL;
    assert_int_equal(vs_corpus_create(ctx, c, nc, dim, &corpus), VS_OK);
    const vs_metric others[] = {VS_METRIC_DOT, VS_METRIC_L2SQ};
    char why[512];
    for (size_t mi = 0; mi < 2; mi++)
        for (int use_corpus = 0; use_corpus < 2; use_corpus++) {
            int rc = use_corpus ? vs_corpus_score(corpus, others[mi], q, nq, scores)
                                : vs_score(ctx, others[mi], q, nq, c, nc, dim, scores);
            assert_int_equal(rc, VS_OK);
            if (ref_check_scores_overflow(others[mi], q, nq, c, nc, dim, scores, why, sizeof(why)))
                fail_msg("%s %s %s nq %zu first kind %zu: %s", vs_context_isa(ctx),
                         vs_metric_name(others[mi]), use_corpus ? "corpus" : "simple", nq,
                         first_kind, why);
        }
    vs_corpus_free(corpus);
    free(scores);
    free(bq);
    free(bc);
}

/*
 * Cosine for every finite nonzero vector: norms from the smallest subnormals
 * to components near FLT_MAX, queries and candidates of every kind against
 * each other, on the rows (5 queries), packed (50) and corpus paths, one
 * query at a time (read in place), odd dims, misaligned pointers.
 */
static void test_extreme_norms(void **state) {
    table_for(state);
    vs_context *ctx = context_for(*state, 2);
    ref_rng rng;
    ref_rng_seed(&rng, 7);
    const size_t dims_here[] = {1, 3, 7, 16, 17, 33, 100, 768};
    for (size_t di = 0; di < sizeof(dims_here) / sizeof(*dims_here); di++) {
        const size_t dim = dims_here[di];
        for (size_t kind = 0; kind < REF_EXTREME_KINDS; kind++)
            check_extreme(ctx, 1, 45, dim, kind, kind % 4, &rng); /* every query kind alone */
        for (size_t kind = 0; kind < REF_EXTREME_KINDS; kind += 5)
            check_extreme(ctx, 5, 45, dim, kind, 1, &rng);
        check_extreme(ctx, 50, 203, dim, 0, 2, &rng);
    }
    vs_context_free(ctx);
}

/*
 * The case: a query of norm 3.7e-24 got cosine 0 against every
 * candidate, so top-1 was candidate 0. Candidate 17 points the query's way
 * (at another scale): it must come first with cosine ~1, for every pairing
 * of scales and on every path.
 */
static void test_tiny_query_top1(void **state) {
    table_for(state);
    vs_context *ctx = context_for(*state, 2);
    const size_t dim = 100, nc = 64, best = 17;
    const double scales[] = {3.7e-24, 1, 1e-30, 1e20, 1e-42, 1e37};
    const size_t nscales = sizeof(scales) / sizeof(*scales);
    float *q = malloc(50 * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    float *direction = malloc(dim * sizeof(float));
    float top_scores[50 * 3];
    int64_t top_ids[50 * 3];
    assert_non_null(q);
    assert_non_null(c);
    assert_non_null(direction);
    ref_rng rng;
    ref_rng_seed(&rng, 8);
    char why[512];
    for (size_t qs = 0; qs < nscales; qs++)
        for (size_t cs = 0; cs < nscales; cs++) {
            ref_fill_uniform(direction, dim, &rng);
            for (size_t d = 0; d < dim; d++)
                direction[d] = direction[d] > 0 ? direction[d] + 0.5f : direction[d] - 0.5f;
            ref_fill_uniform(c, nc * dim, &rng);
            for (size_t j = 0; j < nc * dim; j++)
                c[j] = (float)(c[j] * scales[cs]);
            for (size_t d = 0; d < dim; d++)
                c[best * dim + d] = (float)(direction[d] * scales[cs]);
            for (size_t i = 0; i < 50; i++)
                for (size_t d = 0; d < dim; d++)
                    q[i * dim + d] = (float)(direction[d] * scales[qs] * (1.0 + (double)i / 50.0));
            vs_corpus *corpus = NULL;
            assert_int_equal(vs_corpus_create(ctx, c, nc, dim, &corpus), VS_OK);
            const size_t nqs[] = {1, 5, 50};
            for (size_t n = 0; n < 3; n++)
                for (int use_corpus = 0; use_corpus < 2; use_corpus++) {
                    const size_t nq = nqs[n];
                    int rc = use_corpus ? vs_corpus_topk(corpus, VS_METRIC_COSINE, q, nq, 3,
                                                         top_scores, top_ids)
                                        : vs_topk(ctx, VS_METRIC_COSINE, q, nq, c, nc, dim, 3,
                                                  top_scores, top_ids);
                    assert_int_equal(rc, VS_OK);
                    for (size_t i = 0; i < nq; i++)
                        if (top_ids[i * 3] != (int64_t)best || !(top_scores[i * 3] > 0.9999f))
                            fail_msg("%s query scale %g, candidates %g, nq %zu %s: top-1 is %lld "
                                     "(%.9g), expected %zu (1)",
                                     vs_context_isa(ctx), scales[qs], scales[cs], nq,
                                     use_corpus ? "corpus" : "simple", (long long)top_ids[i * 3],
                                     (double)top_scores[i * 3], best);
                    if (ref_check_topk(VS_METRIC_COSINE, q, nq, c, nc, dim, 3, top_scores, top_ids,
                                       why, sizeof(why)))
                        fail_msg("%s scales %g/%g nq %zu: %s", vs_context_isa(ctx), scales[qs],
                                 scales[cs], nq, why);
                }
            vs_corpus_free(corpus);
        }
    free(q);
    free(c);
    free(direction);
    vs_context_free(ctx);
}

/*
 * Scaled queries are bit-for-bit the same however a batch is chunked: arenas
 * of one page split it into many chunks (one query read in place at a time)
 * and the scores must equal those of the default arenas exactly.
 */
static void test_extreme_chunking(void **state) {
    table_for(state);
    const size_t nq = 60, nc = 150, dim = 77, k = 5;
    vs_context *big = context_for(*state, 2);
    vs_options opts;
    vs_options_init(&opts);
    opts.isa = *state;
    opts.threads = 2;
    opts.arena_bytes = 4096;
    opts.scratch_bytes = 4096;
    vs_context *small = NULL;
    assert_int_equal(vs_context_create(&opts, &small), VS_OK);
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    float *s_big = malloc(nq * nc * sizeof(float)), *s_small = malloc(nq * nc * sizeof(float));
    float ts_big[60 * 5], ts_small[60 * 5];
    int64_t ti_big[60 * 5], ti_small[60 * 5];
    assert_non_null(q);
    assert_non_null(c);
    assert_non_null(s_big);
    assert_non_null(s_small);
    ref_rng rng;
    ref_rng_seed(&rng, 9);
    ref_fill_extreme(q, nq, dim, 1, &rng);
    ref_fill_extreme(c, nc, dim, 0, &rng);
    vs_corpus *cb = NULL, *cs = NULL;
    assert_int_equal(vs_corpus_create(big, c, nc, dim, &cb), VS_OK);
    assert_int_equal(vs_corpus_create(small, c, nc, dim, &cs), VS_OK);
    char why[512];
    for (int use_corpus = 0; use_corpus < 2; use_corpus++) {
        assert_int_equal(use_corpus ? vs_corpus_score(cb, VS_METRIC_COSINE, q, nq, s_big)
                                    : vs_score(big, VS_METRIC_COSINE, q, nq, c, nc, dim, s_big),
                         VS_OK);
        assert_int_equal(use_corpus ? vs_corpus_score(cs, VS_METRIC_COSINE, q, nq, s_small)
                                    : vs_score(small, VS_METRIC_COSINE, q, nq, c, nc, dim, s_small),
                         VS_OK);
        vs_batch_report report;
        vs_context_last_report(small, &report);
        assert_true(report.query_chunks > 1);
        if (ref_check_scores(VS_METRIC_COSINE, q, nq, c, nc, dim, s_small, 0, why, sizeof(why)))
            fail_msg("%s small arenas: %s", vs_context_isa(small), why);
        if (use_corpus) assert_memory_equal(s_big, s_small, nq * nc * sizeof(float));
        assert_int_equal(use_corpus
                             ? vs_corpus_topk(cb, VS_METRIC_COSINE, q, nq, k, ts_big, ti_big)
                             : vs_topk(big, VS_METRIC_COSINE, q, nq, c, nc, dim, k, ts_big, ti_big),
                         VS_OK);
        assert_int_equal(
            use_corpus ? vs_corpus_topk(cs, VS_METRIC_COSINE, q, nq, k, ts_small, ti_small)
                       : vs_topk(small, VS_METRIC_COSINE, q, nq, c, nc, dim, k, ts_small, ti_small),
            VS_OK);
        if (ref_check_topk(VS_METRIC_COSINE, q, nq, c, nc, dim, k, ts_small, ti_small, why,
                           sizeof(why)))
            fail_msg("%s small arenas top-k: %s", vs_context_isa(small), why);
        if (use_corpus) {
            assert_memory_equal(ti_big, ti_small, sizeof(ti_big));
            assert_memory_equal(ts_big, ts_small, sizeof(ts_big));
        }
    }
    vs_corpus_free(cb);
    vs_corpus_free(cs);
    vs_context_free(big);
    vs_context_free(small);
    free(q);
    free(c);
    free(s_big);
    free(s_small);
}

/*
 * Verification mode re-checks in float64 and must agree with the documented
 * semantics on such data: no VS_ERR_VERIFY for correct cosines of tiny or
 * huge vectors, nor for DOT and L2SQ results that overflow as float32 does.
 */
static void test_extreme_verify(void **state) {
    table_for(state);
    vs_options opts;
    vs_options_init(&opts);
    opts.isa = *state;
    opts.threads = 2;
    opts.verify = 1;
    vs_context *ctx = NULL;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    const size_t nc = 88, dim = 40, k = 4;
    float *q = malloc(50 * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    float *scores = malloc(50 * nc * sizeof(float));
    float top_scores[50 * 4];
    int64_t top_ids[50 * 4];
    assert_non_null(q);
    assert_non_null(c);
    assert_non_null(scores);
    ref_rng rng;
    ref_rng_seed(&rng, 10);
    ref_fill_extreme(c, nc, dim, 0, &rng);
    vs_corpus *corpus = NULL;
    assert_int_equal(vs_corpus_create(ctx, c, nc, dim, &corpus), VS_OK);
    const size_t nqs[] = {1, 5, 50};
    for (size_t kind = 0; kind < REF_EXTREME_KINDS; kind++) {
        ref_fill_extreme(q, 50, dim, kind, &rng);
        for (size_t n = 0; n < 3; n++)
            for (int m = 0; m < 3; m++) {
                const vs_metric metric = (vs_metric)m;
                const size_t nq = nqs[n];
                /* 16 samples per batch: repeated batches see many pairs. */
                for (int repeat = 0; repeat < 4; repeat++) {
                    ref_fill_extreme(q, nq, dim, kind + (size_t)repeat, &rng);
                    assert_int_equal(vs_score(ctx, metric, q, nq, c, nc, dim, scores), VS_OK);
                    assert_int_equal(vs_corpus_score(corpus, metric, q, nq, scores), VS_OK);
                    assert_int_equal(
                        vs_topk(ctx, metric, q, nq, c, nc, dim, k, top_scores, top_ids), VS_OK);
                    assert_int_equal(vs_corpus_topk(corpus, metric, q, nq, k, top_scores, top_ids),
                                     VS_OK);
                }
            }
    }
    vs_corpus_free(corpus);
    vs_context_free(ctx);
    free(q);
    free(c);
    free(scores);
}

/* Every ISA named in VECSCORE_TEST_REQUIRE_ISA is known and supported on this CPU. */
static void test_required_isas(void **state) {
    (void)state;
    const char *required = getenv("VECSCORE_TEST_REQUIRE_ISA");
    if (required == NULL) return;
    char name[32];
    for (const char *at = required; *at != '\0';) {
        size_t len = strcspn(at, ",");
        if (len == 0 || len >= sizeof(name))
            fail_msg("VECSCORE_TEST_REQUIRE_ISA='%s': empty or overlong name", required);
        memcpy(name, at, len);
        name[len] = '\0';
        if (!vs_cpu_isa_supported(name))
            fail_msg("VECSCORE_TEST_REQUIRE_ISA: ISA '%s' is not supported here (best: %s)", name,
                     vs_cpu_best_isa());
        at += len + (at[len] == ',');
    }
}

int main(void) {
    _Static_assert(sizeof(dims_small) == sizeof(dims_full), "as many small dims as full ones");
    const char *small = getenv("VECSCORE_TEST_SMALL");
    if (small != NULL && strcmp(small, "1") != 0 && strcmp(small, "0") != 0) {
        fprintf(stderr, "VECSCORE_TEST_SMALL='%s': expected 0 or 1\n", small);
        return 1;
    }
    if (small != NULL && strcmp(small, "1") == 0) dims = dims_small;
    const char *forced = getenv("VECSCORE_ISA");
    if (forced != NULL && (forced[0] == '\0' || strcmp(forced, "auto") == 0)) forced = NULL;
#ifdef VS_TEST_SIMDE
    simde_install();
    forced = "avx512";
    dims = dims_small;
#endif

    const struct CMUnitTest common[] = {cmocka_unit_test(test_required_isas)};
    int failed = cmocka_run_group_tests_name("required ISAs", common, NULL, NULL);
    int groups = 0;
    for (int i = 0; vs_cpu_isa_name(i) != NULL; i++) {
        char *isa = (char *)vs_cpu_isa_name(i);
        if (forced != NULL && strcmp(forced, isa) != 0) continue;
        if (!vs_cpu_isa_supported(isa)) {
            printf("ISA %s: not supported by this CPU, no test run\n", isa);
            continue;
        }
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_prestate(test_dot, isa),
            cmocka_unit_test_prestate(test_dot_rows, isa),
            cmocka_unit_test_prestate(test_tile, isa),
            cmocka_unit_test_prestate(test_block_packed, isa),
            cmocka_unit_test_prestate(test_api_block_boundaries, isa),
            cmocka_unit_test_prestate(test_no_overread, isa),
            cmocka_unit_test_prestate(test_api_all_dims, isa),
            cmocka_unit_test_prestate(test_special_values, isa),
            cmocka_unit_test_prestate(test_clamps, isa),
            cmocka_unit_test_prestate(test_extreme_norms, isa),
            cmocka_unit_test_prestate(test_tiny_query_top1, isa),
            cmocka_unit_test_prestate(test_extreme_chunking, isa),
            cmocka_unit_test_prestate(test_extreme_verify, isa),
        };
        failed += cmocka_run_group_tests_name(isa, tests, NULL, NULL);
        groups++;
    }
    if (groups == 0) { /* VECSCORE_ISA named an unknown or unsupported ISA */
        fprintf(stderr, "VECSCORE_ISA=%s: no such ISA on this CPU, nothing tested\n",
                forced != NULL ? forced : "");
        failed++;
    }
    return failed != 0;
}
