/*
 * test_topk.c — the bounded selection heap (cpu/topk.h) against a brute-force
 * sort of every (key, id) pair by the documented total order:
 *   real entry > padding (id -1); non-NaN > NaN; higher key > lower key;
 *   equal keys (or both NaN): lower id first.
 * Covers k = 1, k = n, k > n (padding), heavy ties, NaN and infinite keys,
 * negated output (L2 distances), merging heaps built on disjoint id ranges,
 * a heap of size 0, and finishing into the arrays the heap lives in.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/topk.h"
#include "reference.h"

/* ---- brute-force reference ------------------------------------------------------- */

typedef struct pair {
    float key;
    int64_t id;
} pair;

/* 0 for a real number, 1 for a real NaN, 2 for padding: lower class is better. */
static int pair_class(const pair *p) {
    if (p->id < 0) return 2;
    return isnan(p->key) ? 1 : 0;
}

/* qsort comparator: best first. */
static int pair_cmp(const void *va, const void *vb) {
    const pair *a = va, *b = vb;
    int ca = pair_class(a), cb = pair_class(b);
    if (ca != cb) return ca < cb ? -1 : 1;
    if (ca == 0 && a->key != b->key) return a->key > b->key ? -1 : 1;
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    return 0;
}

/* The expected k results for keys[0..n) with ids 0..n-1. */
static void expected_topk(const float *keys, size_t n, size_t k, int negate, float padding,
                          float *scores, int64_t *ids) {
    pair *all = malloc((n ? n : 1) * sizeof(*all));
    assert_non_null(all);
    for (size_t i = 0; i < n; i++) {
        all[i].key = keys[i];
        all[i].id = (int64_t)i;
    }
    qsort(all, n, sizeof(*all), pair_cmp);
    for (size_t i = 0; i < k; i++) {
        if (i < n) {
            scores[i] = negate ? -all[i].key : all[i].key;
            ids[i] = all[i].id;
        } else {
            scores[i] = padding;
            ids[i] = -1;
        }
    }
    free(all);
}

/* Fails with a description unless the rows match exactly (NaN matches NaN). */
static void assert_rows_equal(const float *want_scores, const int64_t *want_ids,
                              const float *got_scores, const int64_t *got_ids, size_t k,
                              const char *what) {
    for (size_t i = 0; i < k; i++) {
        int same_score = isnan(want_scores[i])
                             ? isnan(got_scores[i])
                             : (got_scores[i] == want_scores[i] &&
                                signbit(got_scores[i]) == signbit(want_scores[i]));
        if (got_ids[i] != want_ids[i] || !same_score) {
            fail_msg("%s: row %zu: got (%g, id %lld), want (%g, id %lld)", what, i,
                     (double)got_scores[i], (long long)got_ids[i], (double)want_scores[i],
                     (long long)want_ids[i]);
        }
    }
}

/*
 * Runs the heap (m slots) over keys with ids 0..n-1 pushed in ascending order
 * and finishes into rows of length k. With alias set, the heap lives in the
 * first m slots of the output rows themselves.
 */
static void run_heap(const float *keys, size_t n, size_t m, size_t k, int negate, float padding,
                     int alias, float *scores, int64_t *ids) {
    float *hkeys = scores;
    int64_t *hids = ids;
    if (!alias) {
        hkeys = malloc((m ? m : 1) * sizeof(*hkeys));
        hids = malloc((m ? m : 1) * sizeof(*hids));
        assert_non_null(hkeys);
        assert_non_null(hids);
    }
    vs__heap heap;
    vs__heap_init(&heap, hkeys, hids, m);
    for (size_t i = 0; i < n; i++)
        vs__heap_push(&heap, keys[i], (int64_t)i);
    vs__heap_finish(&heap, negate, padding, scores, ids, k);
    if (!alias) {
        free(hkeys);
        free(hids);
    }
}

/* ---- key generators ----------------------------------------------------------------- */

enum {
    MODE_UNIFORM,
    MODE_TIES,
    MODE_SPECIAL,
    MODE_MOSTLY_NAN,
    MODE_ASCENDING,
    MODE_DESCENDING,
    NMODES
};

static void make_keys(float *keys, size_t n, int mode, ref_rng *rng) {
    for (size_t i = 0; i < n; i++) {
        switch (mode) {
        case MODE_UNIFORM: keys[i] = ref_uniform(rng); break;
        case MODE_TIES: keys[i] = (float)ref_int(rng, -3, 3); break;
        case MODE_SPECIAL: {
            int r = ref_int(rng, 0, 19);
            keys[i] = r == 0 || r == 1 ? NAN
                      : r == 2         ? -INFINITY
                      : r == 3         ? INFINITY
                      : r == 4         ? -0.0f
                                       : (float)ref_int(rng, -2, 2);
            break;
        }
        case MODE_MOSTLY_NAN:
            keys[i] = ref_int(rng, 0, 9) < 8 ? NAN : (float)ref_int(rng, -1, 1);
            break;
        case MODE_ASCENDING: keys[i] = (float)i; break;
        default: keys[i] = -(float)i; break;
        }
    }
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_init_fills_padding(void **state) {
    (void)state;
    float keys[7];
    int64_t ids[7];
    for (int i = 0; i < 7; i++) {
        keys[i] = 42.0f;
        ids[i] = 99;
    }
    vs__heap heap;
    vs__heap_init(&heap, keys, ids, 6);
    assert_int_equal(heap.size, 6);
    assert_ptr_equal(heap.keys, keys);
    assert_ptr_equal(heap.ids, ids);
    assert_true(heap.open);
    for (int i = 0; i < 6; i++) {
        assert_true(isinf(keys[i]) && keys[i] < 0);
        assert_int_equal(ids[i], -1);
    }
    /* Nothing past size is touched. */
    assert_true(keys[6] == 42.0f);
    assert_int_equal(ids[6], 99);
}

static void test_random_against_sort(void **state) {
    (void)state;
    static const size_t ns[] = {0, 1, 2, 3, 7, 64, 257, 1000, 2000};
    ref_rng rng;
    ref_rng_seed(&rng, 20240607);
    const size_t maxn = 2000, maxk = maxn + 3;
    float *keys = malloc(maxn * sizeof(float));
    float *want_s = malloc(maxk * sizeof(float)), *got_s = malloc(maxk * sizeof(float));
    int64_t *want_i = malloc(maxk * sizeof(int64_t)), *got_i = malloc(maxk * sizeof(int64_t));
    assert_true(keys && want_s && got_s && want_i && got_i);
    char what[160];

    for (size_t in = 0; in < sizeof(ns) / sizeof(ns[0]); in++) {
        size_t n = ns[in];
        const size_t ks[] = {1, 2, 5, n, n + 3, 100};
        for (int mode = 0; mode < NMODES; mode++) {
            make_keys(keys, n, mode, &rng);
            for (size_t ik = 0; ik < sizeof(ks) / sizeof(ks[0]); ik++) {
                size_t k = ks[ik];
                if (k == 0) continue;
                for (int negate = 0; negate <= 1; negate++) {
                    float padding = negate ? INFINITY : -INFINITY;
                    expected_topk(keys, n, k, negate, padding, want_s, want_i);
                    /* heap of k slots, and of min(k, n) slots (finish pads the tail) */
                    size_t m_small = k < n ? k : n;
                    for (int variant = 0; variant < 4; variant++) {
                        size_t m = variant & 1 ? m_small : k;
                        int alias = variant >> 1;
                        memset(got_s, 0x7f, k * sizeof(float));
                        memset(got_i, 0x7f, k * sizeof(int64_t));
                        run_heap(keys, n, m, k, negate, padding, alias, got_s, got_i);
                        snprintf(what, sizeof(what), "n=%zu k=%zu m=%zu mode=%d negate=%d alias=%d",
                                 n, k, m, mode, negate, alias);
                        assert_rows_equal(want_s, want_i, got_s, got_i, k, what);
                    }
                }
            }
        }
    }
    free(keys);
    free(want_s);
    free(got_s);
    free(want_i);
    free(got_i);
}

static void test_k_greater_than_n_pads(void **state) {
    (void)state;
    const float keys[] = {0.5f, -1.0f, 2.0f};
    float scores[5];
    int64_t ids[5];
    for (int m = 3; m <= 5; m += 2) {
        run_heap(keys, 3, (size_t)m, 5, 0, -INFINITY, 0, scores, ids);
        const float want_s[] = {2.0f, 0.5f, -1.0f, -INFINITY, -INFINITY};
        const int64_t want_i[] = {2, 0, 1, -1, -1};
        assert_rows_equal(want_s, want_i, scores, ids, 5, "k > n");
    }
    /* The padding score is whatever the caller passes, also for in-heap padding. */
    for (int m = 3; m <= 5; m += 2) {
        run_heap(keys, 3, (size_t)m, 5, 0, 123.0f, 0, scores, ids);
        const float want_s[] = {2.0f, 0.5f, -1.0f, 123.0f, 123.0f};
        const int64_t want_i[] = {2, 0, 1, -1, -1};
        assert_rows_equal(want_s, want_i, scores, ids, 5, "custom padding");
    }
}

static void test_ties_lowest_ids_win(void **state) {
    (void)state;
    enum { N = 300 };
    float keys[N];
    for (int i = 0; i < N; i++)
        keys[i] = 1.0f;
    float scores[N + 2];
    int64_t ids[N + 2];
    const size_t ks[] = {1, 2, 38, 150, N, N + 2};
    for (size_t ik = 0; ik < sizeof(ks) / sizeof(ks[0]); ik++) {
        size_t k = ks[ik];
        run_heap(keys, N, k, k, 0, -INFINITY, 0, scores, ids);
        for (size_t i = 0; i < k; i++) {
            if (i < N) {
                assert_int_equal(ids[i], (int64_t)i);
                assert_true(scores[i] == 1.0f);
            } else {
                assert_int_equal(ids[i], -1);
            }
        }
    }
    /* A better key late in the stream still enters; equal keys keep the low ids. */
    keys[250] = 2.0f;
    run_heap(keys, N, 4, 4, 0, -INFINITY, 0, scores, ids);
    const float want_s[] = {2.0f, 1.0f, 1.0f, 1.0f};
    const int64_t want_i[] = {250, 0, 1, 2};
    assert_rows_equal(want_s, want_i, scores, ids, 4, "late winner");

    /* -0.0 and +0.0 are equal keys: order by id. */
    const float zeros[] = {0.0f, -0.0f, 0.0f, -0.0f};
    run_heap(zeros, 4, 3, 3, 0, -INFINITY, 0, scores, ids);
    const int64_t zero_ids[] = {0, 1, 2};
    for (int i = 0; i < 3; i++)
        assert_int_equal(ids[i], zero_ids[i]);
    assert_true(scores[0] == 0.0f && scores[1] == 0.0f && scores[2] == 0.0f);
}

static void test_nan_keys(void **state) {
    (void)state;
    const float keys[] = {NAN, 1.0f, NAN, -5.0f, NAN};
    float scores[7];
    int64_t ids[7];

    run_heap(keys, 5, 2, 2, 0, -INFINITY, 0, scores, ids);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 3);
    assert_true(scores[0] == 1.0f && scores[1] == -5.0f);

    /* Fewer than k numbers: NaNs fill in, ordered by id, after every number. */
    run_heap(keys, 5, 4, 4, 0, -INFINITY, 0, scores, ids);
    const int64_t want4[] = {1, 3, 0, 2};
    for (int i = 0; i < 4; i++)
        assert_int_equal(ids[i], want4[i]);
    assert_true(isnan(scores[2]) && isnan(scores[3]));

    run_heap(keys, 5, 7, 7, 0, -INFINITY, 0, scores, ids);
    const int64_t want7[] = {1, 3, 0, 2, 4, -1, -1};
    for (int i = 0; i < 7; i++)
        assert_int_equal(ids[i], want7[i]);
    assert_true(isnan(scores[4]));
    assert_true(isinf(scores[5]) && scores[5] < 0 && isinf(scores[6]) && scores[6] < 0);

    /* All NaN: the lowest ids. */
    const float nans[] = {NAN, NAN, NAN, NAN};
    run_heap(nans, 4, 2, 2, 0, -INFINITY, 0, scores, ids);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 1);
    assert_true(isnan(scores[0]) && isnan(scores[1]));

    /* A number arriving after NaNs filled the heap displaces them. */
    const float late[] = {NAN, NAN, NAN, -100.0f};
    run_heap(late, 4, 2, 2, 0, -INFINITY, 0, scores, ids);
    assert_int_equal(ids[0], 3);
    assert_int_equal(ids[1], 0);
    assert_true(scores[0] == -100.0f && isnan(scores[1]));
}

static void test_negative_infinity_is_real(void **state) {
    (void)state;
    const float keys[] = {-INFINITY, NAN, -INFINITY};
    float scores[4];
    int64_t ids[4];
    run_heap(keys, 3, 4, 4, 0, -INFINITY, 0, scores, ids);
    const int64_t want[] = {0, 2, 1, -1};
    for (int i = 0; i < 4; i++)
        assert_int_equal(ids[i], want[i]);
    assert_true(isinf(scores[0]) && scores[0] < 0);
    assert_true(isinf(scores[1]) && scores[1] < 0);
    assert_true(isnan(scores[2]));

    /* k = 1: the first -inf stays, neither a later -inf nor a NaN displaces it. */
    run_heap(keys, 3, 1, 1, 0, -INFINITY, 0, scores, ids);
    assert_int_equal(ids[0], 0);
    assert_true(isinf(scores[0]) && scores[0] < 0);

    /* -inf beats padding even though padding keys are -inf too. */
    const float one[] = {-INFINITY};
    run_heap(one, 1, 3, 3, 0, 7.0f, 0, scores, ids);
    assert_int_equal(ids[0], 0);
    assert_true(isinf(scores[0]) && scores[0] < 0);
    assert_int_equal(ids[1], -1);
    assert_int_equal(ids[2], -1);
    assert_true(scores[1] == 7.0f && scores[2] == 7.0f);
}

static void test_negate_l2(void **state) {
    (void)state;
    /* Squared distances; the driver pushes -distance, lower distance is better. */
    const float dist[] = {4.0f, 1.0f, 9.0f, 1.0f, 0.25f, 0.0f};
    float keys[6];
    for (int i = 0; i < 6; i++)
        keys[i] = -dist[i];
    float scores[8];
    int64_t ids[8];

    run_heap(keys, 6, 3, 3, 1, INFINITY, 0, scores, ids);
    const float want_s[] = {0.0f, 0.25f, 1.0f};
    const int64_t want_i[] = {5, 4, 1};
    assert_rows_equal(want_s, want_i, scores, ids, 3, "l2 k=3");
    assert_false(signbit(scores[0])); /* -(-0.0) is +0.0 */

    run_heap(keys, 6, 8, 8, 1, INFINITY, 0, scores, ids);
    const float all_s[] = {0.0f, 0.25f, 1.0f, 1.0f, 4.0f, 9.0f, INFINITY, INFINITY};
    const int64_t all_i[] = {5, 4, 1, 3, 0, 2, -1, -1};
    assert_rows_equal(all_s, all_i, scores, ids, 8, "l2 k=8");
}

/* Builds one heap per id range [cuts[c], cuts[c+1]), each pushed in ascending id order. */
static void check_merge(const float *keys, size_t n, size_t k, const size_t *cuts, size_t nchunks,
                        int reverse, const char *what) {
    float *hk = malloc(nchunks * k * sizeof(float));
    int64_t *hi = malloc(nchunks * k * sizeof(int64_t));
    vs__heap *heaps = malloc(nchunks * sizeof(vs__heap));
    float *want_s = malloc(k * sizeof(float)), *got_s = malloc(k * sizeof(float));
    int64_t *want_i = malloc(k * sizeof(int64_t)), *got_i = malloc(k * sizeof(int64_t));
    assert_true(hk && hi && heaps && want_s && got_s && want_i && got_i);

    for (size_t c = 0; c < nchunks; c++) {
        vs__heap_init(&heaps[c], hk + c * k, hi + c * k, k);
        for (size_t i = cuts[c]; i < cuts[c + 1]; i++)
            vs__heap_push(&heaps[c], keys[i], (int64_t)i);
    }
    /* Merge into the heap of the highest ids (reverse) or of the lowest. */
    size_t into = reverse ? nchunks - 1 : 0;
    for (size_t step = 0; step < nchunks; step++) {
        size_t c = reverse ? nchunks - 1 - step : step;
        if (c != into) vs__heap_merge(&heaps[into], &heaps[c]);
    }
    vs__heap_finish(&heaps[into], 0, -INFINITY, got_s, got_i, k);
    expected_topk(keys, n, k, 0, -INFINITY, want_s, want_i);
    assert_rows_equal(want_s, want_i, got_s, got_i, k, what);

    free(hk);
    free(hi);
    free(heaps);
    free(want_s);
    free(got_s);
    free(want_i);
    free(got_i);
}

static void test_merge(void **state) {
    (void)state;
    /* Ties across heaps: the lower id must win, whichever heap it came from. */
    {
        const float keys[] = {1.0f, 1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 1.0f};
        const size_t cuts[] = {0, 2, 7};
        check_merge(keys, 7, 2, cuts, 2, 1, "tie across heaps, into high");
        check_merge(keys, 7, 2, cuts, 2, 0, "tie across heaps, into low");
        check_merge(keys, 7, 3, cuts, 2, 1, "tie across heaps k=3");
    }
    /* Direct: heap of ids {5, 6} absorbs heap of ids {0, 1}, all keys equal. */
    {
        float ak[2], bk[2], out_s[2];
        int64_t ai[2], bi[2], out_i[2];
        vs__heap high, low;
        vs__heap_init(&high, ak, ai, 2);
        vs__heap_init(&low, bk, bi, 2);
        vs__heap_push(&high, 3.0f, 5);
        vs__heap_push(&high, 3.0f, 6);
        vs__heap_push(&low, 3.0f, 0);
        vs__heap_push(&low, 3.0f, 1);
        vs__heap_merge(&high, &low);
        vs__heap_finish(&high, 0, -INFINITY, out_s, out_i, 2);
        assert_int_equal(out_i[0], 0);
        assert_int_equal(out_i[1], 1);
        assert_true(out_s[0] == 3.0f && out_s[1] == 3.0f);
    }

    ref_rng rng;
    ref_rng_seed(&rng, 77);
    static const size_t ns[] = {1, 10, 333, 2000};
    float *keys = malloc(2000 * sizeof(float));
    assert_non_null(keys);
    char what[128];
    for (size_t in = 0; in < sizeof(ns) / sizeof(ns[0]); in++) {
        size_t n = ns[in];
        const size_t ks[] = {1, 4, n, n + 2};
        for (int mode = 0; mode < NMODES; mode++) {
            make_keys(keys, n, mode, &rng);
            for (size_t ik = 0; ik < sizeof(ks) / sizeof(ks[0]); ik++) {
                size_t k = ks[ik];
                const size_t two[] = {0, n / 3, n};
                const size_t four[] = {0, n / 4, n / 2, n / 2 + n / 5, n};
                for (int reverse = 0; reverse <= 1; reverse++) {
                    snprintf(what, sizeof(what), "merge2 n=%zu k=%zu mode=%d reverse=%d", n, k,
                             mode, reverse);
                    check_merge(keys, n, k, two, 2, reverse, what);
                    snprintf(what, sizeof(what), "merge4 n=%zu k=%zu mode=%d reverse=%d", n, k,
                             mode, reverse);
                    check_merge(keys, n, k, four, 4, reverse, what);
                }
            }
        }
    }
    free(keys);
}

static void test_size_zero_heap(void **state) {
    (void)state;
    float hk[1] = {5.0f};
    int64_t hi[1] = {77};
    vs__heap heap;
    vs__heap_init(&heap, hk, hi, 0);
    for (int i = 0; i < 10; i++)
        vs__heap_push(&heap, (float)i, i);
    vs__heap_insert(&heap, 100.0f, 3);
    /* The storage of a 0-slot heap is never touched. */
    assert_true(hk[0] == 5.0f);
    assert_int_equal(hi[0], 77);

    float scores[4] = {1, 2, 3, 4};
    int64_t ids[4] = {1, 2, 3, 4};
    vs__heap_finish(&heap, 1, INFINITY, scores, ids, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ids[i], -1);
        assert_true(isinf(scores[i]) && scores[i] > 0);
    }

    /* A 0-slot heap merged into a real one adds nothing; merged from, it takes nothing. */
    float rk[2];
    int64_t ri[2];
    vs__heap real;
    vs__heap_init(&real, rk, ri, 2);
    vs__heap_push(&real, 1.0f, 4);
    vs__heap_merge(&real, &heap);
    vs__heap_merge(&heap, &real);
    vs__heap_finish(&real, 0, -INFINITY, scores, ids, 2);
    assert_int_equal(ids[0], 4);
    assert_int_equal(ids[1], -1);
}

static void test_finish_in_place(void **state) {
    (void)state;
    ref_rng rng;
    ref_rng_seed(&rng, 4242);
    enum { N = 500, K = 37 };
    float keys[N];
    make_keys(keys, N, MODE_SPECIAL, &rng);

    float want_s[K + 5];
    int64_t want_i[K + 5];
    expected_topk(keys, N, K, 1, INFINITY, want_s, want_i);

    /* The heap occupies exactly the output row. */
    float row_s[K + 5];
    int64_t row_i[K + 5];
    vs__heap heap;
    vs__heap_init(&heap, row_s, row_i, K);
    for (int i = 0; i < N; i++)
        vs__heap_push(&heap, keys[i], i);
    vs__heap_finish(&heap, 1, INFINITY, row_s, row_i, K);
    assert_rows_equal(want_s, want_i, row_s, row_i, K, "in place k=size");

    /* The heap occupies the first slots of a longer row; the tail is padded. */
    enum { SMALL = 4 };
    float few_keys[SMALL] = {0.5f, NAN, -2.0f, 0.5f};
    expected_topk(few_keys, SMALL, K + 5, 0, -INFINITY, want_s, want_i);
    vs__heap_init(&heap, row_s, row_i, SMALL);
    for (int i = 0; i < SMALL; i++)
        vs__heap_push(&heap, few_keys[i], i);
    vs__heap_finish(&heap, 0, -INFINITY, row_s, row_i, K + 5);
    assert_rows_equal(want_s, want_i, row_s, row_i, K + 5, "in place, padded tail");
    assert_int_equal(row_i[0], 0);
    assert_int_equal(row_i[1], 3);
    assert_int_equal(row_i[2], 2);
    assert_int_equal(row_i[3], 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_fills_padding),
        cmocka_unit_test(test_random_against_sort),
        cmocka_unit_test(test_k_greater_than_n_pads),
        cmocka_unit_test(test_ties_lowest_ids_win),
        cmocka_unit_test(test_nan_keys),
        cmocka_unit_test(test_negative_infinity_is_real),
        cmocka_unit_test(test_negate_l2),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_size_zero_heap),
        cmocka_unit_test(test_finish_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
