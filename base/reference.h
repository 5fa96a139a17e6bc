/*
 * reference.h — the float64 reference score of one pair and its documented
 * error bound (docs/numerics.md). Bottom layer (base/), so that one
 * implementation serves the library's verify mode (host/api.c), the tests
 * (tests/reference.c), the benchmark's checks (bench/check.c, through
 * tests/reference.c) and the CLI's brute-force ground truth
 * (tests/cli/bruteforce.c).
 *
 * It shares nothing with the kernels: plain float64 sums in index order,
 * then the documented formulas, so a kernel's mistake cannot hide in it.
 */
#ifndef VS_BASE_REFERENCE_H
#define VS_BASE_REFERENCE_H

#include <stddef.h>

#include "vecscore.h"

/*
 * The float64 score of (q, c) by the documented formulas: DOT the dot
 * product; COSINE dot / (|q| |c|) clamped to [-1, 1], 0 for a zero vector;
 * L2SQ |q|^2 + |c|^2 - 2 dot clamped at 0. *bound (if not NULL) receives the
 * documented bound of a float32 result (a relative part, and for DOT and L2SQ
 * what underflowing products can lose: d 2^-149 and 2d 2^-149), *overflow
 * (if not NULL) 1 when the float32 computation of DOT or L2SQ may overflow
 * (some partial sum can reach FLT_MAX; the result may then be +-inf or NaN).
 * NaN for an unknown metric.
 */
double vs__reference_score(vs_metric metric, const float *q, const float *c, size_t dim,
                           double *bound, int *overflow);

#endif /* VS_BASE_REFERENCE_H */
