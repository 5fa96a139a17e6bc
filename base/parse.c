/*
 * parse.c — the strict number parser. One parser for every number the
 * library reads as text (the VECSCORE_* variables and the testing knobs), so
 * that every variable refuses the same inputs: a sign, a blank anywhere, a
 * base prefix, trailing characters and values that overflow are errors,
 * never read as something else (strtoull reads " -1" as 2^64 - 1;
 * sscanf("%d") wraps 4294967296 to 0).
 */
#include "parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vecscore.h"

const char *vs__parse_uint(const char *text, uint64_t min, uint64_t max, int suffixes,
                           uint64_t *out) {
    if (text == NULL || text[0] == '\0') return "it is empty";
    const char *p = text;
    uint64_t value = 0;
    int overflow = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        const uint64_t digit = (uint64_t)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10) overflow = 1;
        value = value * 10 + digit;
    }
    if (p == text) {
        if (*p == '-' || *p == '+') return "it has a sign (only digits are accepted)";
        if (*p == ' ' || (*p >= '\t' && *p <= '\r')) return "it starts with a blank";
        return "it does not start with a digit";
    }
    unsigned shift = 0;
    if (suffixes && (*p == 'K' || *p == 'k')) shift = 10;
    if (suffixes && (*p == 'M' || *p == 'm')) shift = 20;
    if (suffixes && (*p == 'G' || *p == 'g')) shift = 30;
    if (shift != 0) p++;
    if (*p != '\0') {
        if (*p == ' ' || (*p >= '\t' && *p <= '\r')) return "it has a blank after the number";
        return suffixes ? "it has characters after the number (other than one K, M or G)"
                        : "it has characters after the number";
    }
    if (overflow || value > (UINT64_MAX >> shift)) return "it is too large";
    value <<= shift;
    if (value < min || value > max) return "it is out of range";
    *out = value;
    return NULL;
}

int vs__env_uint(const char *name, const char *text, uint64_t min, uint64_t max, int suffixes,
                 const char *expected, uint64_t *out, char *why, size_t why_size) {
    if (text == NULL) return 0;
    const char *reason = vs__parse_uint(text, min, max, suffixes, out);
    if (reason == NULL) return 1;
    snprintf(why, why_size,
             "environment variable %s has an invalid value '%.64s%s': %s (expected %s)", name, text,
             strlen(text) > 64 ? "..." : "", reason, expected);
    return VS_ERR_INVALID_ARGUMENT;
}
