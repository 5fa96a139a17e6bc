/*
 * reference.h — float64 reference scores, the documented error bounds, and
 * tie-aware checks of library results. Written independently of the
 * library's code so a shared mistake cannot hide.
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

/* Float64 score of one pair by the documented formulas, and its error bound. */
double ref_score(vs_metric metric, const float *q, const float *c, size_t dim, double *bound);

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

/* malloc'd float buffer whose returned pointer is offset by `misalign` floats from 64 B. */
float *ref_alloc_floats(size_t n, size_t misalign, void **base);

#endif
