/*
 * options.c — the options table (host/options.h) as data.
 */
#include "options.h"

#include <stddef.h>

const vs__option_row vs__options[VS_OPTION_COUNT] = {
#define VS_OPTION_ROW_(field, env, kind, min, max, expected, readme)                               \
    {#field, env, kind, min, max, expected, readme},
    VS_OPTIONS_TABLE(VS_OPTION_ROW_)
#undef VS_OPTION_ROW_
};
