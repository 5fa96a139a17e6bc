/*
 * formats.c — names, sizes and extensions of the file formats and element
 * types, all generated from the tables in io/formats.h.
 */
#include "formats.h"

#include <string.h>
#include <strings.h>

const char *vs_file_format_name(vs_file_format format) {
    switch (format) {
#define VS_FORMAT_NAME_(suffix, extension)                                                         \
    case VS_FORMAT_##suffix: return extension;
        VS_IO_FORMAT_TABLE(VS_FORMAT_NAME_)
#undef VS_FORMAT_NAME_
    case VS_FORMAT_UNKNOWN: break;
    }
    return "unknown";
}

vs_file_format vs_file_format_from_path(const char *path) {
    if (path == NULL) return VS_FORMAT_UNKNOWN;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (dot == NULL) return VS_FORMAT_UNKNOWN;
#define VS_FORMAT_MATCH_(suffix, extension)                                                        \
    if (strcasecmp(dot + 1, extension) == 0) return VS_FORMAT_##suffix;
    VS_IO_FORMAT_TABLE(VS_FORMAT_MATCH_)
#undef VS_FORMAT_MATCH_
    /* common aliases */
    if (strcasecmp(dot + 1, "bin") == 0) return VS_FORMAT_FBIN;
    return VS_FORMAT_UNKNOWN;
}

const vs__dtype_row vs__dtypes[] = {
#define VS_DTYPE_ROW_(suffix, name, bytes, words, descr, alias)                                    \
    {VS_DTYPE_##suffix, name, bytes, words, descr, alias},
    VS_IO_DTYPE_TABLE(VS_DTYPE_ROW_)
#undef VS_DTYPE_ROW_
};
const size_t vs__dtype_count = sizeof(vs__dtypes) / sizeof(vs__dtypes[0]);

const vs__dtype_row *vs__dtype_find(vs_dtype dtype) {
    for (size_t i = 0; i < vs__dtype_count; i++)
        if (vs__dtypes[i].dtype == dtype) return &vs__dtypes[i];
    return NULL;
}

const char *vs_dtype_name(vs_dtype dtype) {
    const vs__dtype_row *row = vs__dtype_find(dtype);
    return row != NULL ? row->name : NULL;
}

size_t vs_dtype_size(vs_dtype dtype) {
    const vs__dtype_row *row = vs__dtype_find(dtype);
    return row != NULL ? row->bytes : 0;
}

const char *vs__dtype_words(vs_dtype dtype) {
    const vs__dtype_row *row = vs__dtype_find(dtype);
    return row != NULL ? row->words : "?";
}
