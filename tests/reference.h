/*
 * reference.h — float64 reference scores, the documented error bounds, and
 * tie-aware checks of library results. The score and bound of one pair are
 * base/reference.c's (the one float64 reference, which the library's verify
 * mode also uses); it shares nothing with the kernels, so a kernel's mistake
 * cannot hide in it. The generators and the tie-aware checks are the tests'
 * own.
 */
#ifndef VS_TEST_REFERENCE_H
#define VS_TEST_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "vecscore.h"

/* Deterministic generator (xorshift64*). */
typedef struct ref_rng {
    uint64_t state;
} ref_rng;
void ref_rng_seed(ref_rng *rng, uint64_t seed);
float ref_uniform(ref_rng *rng);              /* [-1, 1) */
int ref_int(ref_rng *rng, int low, int high); /* [low, high] */

/* Fills n floats: uniform in [-1, 1). */
void ref_fill_uniform(float *x, size_t n, ref_rng *rng);
/* Fills n floats with small integers in [-4, 4]: every kernel must be exact. */
void ref_fill_small_ints(float *x, size_t n, ref_rng *rng);

/*
 * Vectors whose norms span the float32 range (docs/numerics.md, "Tiny and
 * huge vectors"). Row i of the n x dim block gets kind (first_kind + i) %
 * REF_EXTREME_KINDS; ref_extreme_name(kind) says which. Every row is finite
 * and nonzero. Kinds: uniform; norms 3.7e-24, 3.7e-21, 1e-30, 1e-38 and
 * about 2^-40 and 2^40 (the edges of the moderate range); the smallest
 * subnormals (small multiples of 2^-149); components about 1e20 and 3e38;
 * one component near 3e38 with the rest ordinary.
 */
#define REF_EXTREME_KINDS 11
void ref_fill_extreme(float *x, size_t n, size_t dim, size_t first_kind, ref_rng *rng);
const char *ref_extreme_name(size_t kind);

/*
 * Float64 score of one pair by the documented formulas, and its error bound
 * (docs/numerics.md: a relative part, and for DOT and L2SQ what underflowing
 * products can lose, d 2^-149 and 2d 2^-149).
 */
double ref_score(vs_metric metric, const float *q, const float *c, size_t dim, double *bound);

/*
 * Error bounds of one query against n candidates (cands, n x dim): for every
 * candidate whose float64 reference score is finite, |approx[j] - reference|
 * must be <= bounds[j] (a NaN error fails). Adds the pairs checked to *pairs,
 * raises *worst to the largest error / bound of the pairs within their
 * bound, and returns the number beyond it; describes the first in why.
 */
size_t ref_check_bounds(vs_metric metric, const float *query, const float *cands, size_t n,
                        size_t dim, const double *approx, const double *bounds, size_t *pairs,
                        double *worst, char *why, size_t why_size);

/* 1 if DOT or L2SQ of the pair may overflow in float32 (result +-inf or NaN allowed). */
int ref_may_overflow(vs_metric metric, const float *q, const float *c, size_t dim);

/*
 * Checks got (nq x nc) against the reference. exact = 1 demands equality
 * (integer data). Returns the number of failures; describes the first in why.
 */
size_t ref_check_scores(vs_metric metric, const float *queries, size_t nq, const float *cands,
                        size_t nc, size_t dim, const float *got, int exact, char *why,
                        size_t why_size);

/*
 * Tie-aware top-k check: ids valid and distinct, padding only past
 * min(k, nc) with the right score, each score within its bound, order
 * best-first within bounds, NaN last, no missing candidate better than the
 * worst returned one beyond the bounds, and among exactly equal returned
 * scores ids ascending. Returns failures; first described in why.
 */
size_t ref_check_topk(vs_metric metric, const float *queries, size_t nq, const float *cands,
                      size_t nc, size_t dim, size_t k, const float *scores, const int64_t *ids,
                      char *why, size_t why_size);

/*
 * As ref_check_scores (never exact), but a non-finite score is also accepted
 * where ref_may_overflow says the float32 computation may overflow: DOT and
 * L2SQ keep float32 semantics there. A finite score must be within bound.
 */
size_t ref_check_scores_overflow(vs_metric metric, const float *queries, size_t nq,
                                 const float *cands, size_t nc, size_t dim, const float *got,
                                 char *why, size_t why_size);

/* malloc'd float buffer whose returned pointer is offset by `misalign` floats from 64 B. */
float *ref_alloc_floats(size_t n, size_t misalign, void **base);

#endif
