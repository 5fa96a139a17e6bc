/*
 * parse.h — the strict number parser behind every option and environment
 * variable the library reads as text (bottom layer, base/).
 */
#ifndef VS_BASE_PARSE_H
#define VS_BASE_PARSE_H

#include <stddef.h>
#include <stdint.h>

/*
 * vs__parse_uint: one or more ASCII digits and nothing else (no sign, no
 * blank, no base prefix), with `suffixes` one trailing K, M or G (times
 * 1024, 1024^2, 1024^3); the value must lie in [min, max]. Returns NULL and
 * sets *out, or a reason ("it has a sign ...") and leaves *out alone.
 */
const char *vs__parse_uint(const char *text, uint64_t min, uint64_t max, int suffixes,
                           uint64_t *out);
/*
 * The value `text` of the environment variable `name` (NULL when it is not
 * set; the caller reads it) through vs__parse_uint: 0 when it is not set, 1
 * when it is (*out set), or VS_ERR_INVALID_ARGUMENT with a message naming the
 * variable, its value, the reason and `expected` in why.
 */
int vs__env_uint(const char *name, const char *text, uint64_t min, uint64_t max, int suffixes,
                 const char *expected, uint64_t *out, char *why, size_t why_size);

#endif /* VS_BASE_PARSE_H */
