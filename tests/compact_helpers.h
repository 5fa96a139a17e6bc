/*
 * compact_helpers.h — set-up shared by the compact storage suites
 * (test_compact.c, test_compact_cl.c; compact_helpers.c). Each helper asserts
 * through cmocka, so call it only from inside a cmocka test.
 */
#ifndef VS_TESTS_COMPACT_HELPERS_H
#define VS_TESTS_COMPACT_HELPERS_H

#include <stddef.h>

#include "vecscore.h"

/* A corpus of base (n x dim floats) on ctx in storage, exact or approximate
 * mode; asserted made (VS_OK and not NULL). Free it with vs_corpus_free. */
vs_corpus *compact_corpus(vs_context *ctx, const float *base, size_t n, size_t dim,
                          vs_storage storage, int exact);

#endif /* VS_TESTS_COMPACT_HELPERS_H */
