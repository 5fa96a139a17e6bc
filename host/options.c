/*
 * options.c — the options table (host/options.h) as data.
 */
#include "options.h"

#include <stddef.h>
#include <stdlib.h>

const vs__option_row vs__options[VS_OPTION_COUNT] = {
#define VS_OPTION_ROW_(field, env, scope, kind, min, max, expected, readme)                        \
    {#field, env, scope, kind, min, max, expected, readme},
    VS_OPTIONS_TABLE(VS_OPTION_ROW_)
#undef VS_OPTION_ROW_
};

const char *vs__option_env(vs__option_id id) {
    return id >= 0 && id < VS_OPTION_COUNT ? getenv(vs__options[id].env) : NULL;
}
