/*
 * json.h — the one JSON string writer, header-only so that the programs
 * (the CLI's --json output, the benchmark's results.json) use it without
 * linking anything of the library's internals. Bottom layer (base/).
 */
#ifndef VS_BASE_JSON_H
#define VS_BASE_JSON_H

#include <stdio.h>

/* Writes text as a JSON string: quoted, with '"', '\' and control bytes escaped. */
static inline void vs__json_string(FILE *out, const char *text) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

#endif /* VS_BASE_JSON_H */
