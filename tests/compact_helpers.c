/* compact_helpers.c — see compact_helpers.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "compact_helpers.h"

vs_corpus *compact_corpus(vs_context *ctx, const float *base, size_t n, size_t dim,
                          vs_storage storage, int exact) {
    vs_corpus_options opts;
    vs_corpus_options_init(&opts);
    opts.storage = storage;
    opts.exact = exact;
    vs_corpus *c = NULL;
    assert_int_equal(vs_corpus_create_with(ctx, base, n, dim, &opts, &c), VS_OK);
    assert_non_null(c);
    return c;
}
