/*
 * parse.c — the strict parsers behind every option the library reads as
 * text: numbers (the VECSCORE_* variables and the testing knobs) and device
 * selectors. One parser per kind, so that every variable refuses the same
 * inputs: a sign, a blank anywhere, a base prefix, trailing characters and
 * values that overflow are errors, never read as something else (strtoull
 * reads " -1" as 2^64 - 1; sscanf("%d") wraps 4294967296 to 0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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

int vs__env_uint(const char *name, uint64_t min, uint64_t max, int suffixes, const char *expected,
                 uint64_t *out, char *why, size_t why_size) {
    const char *text = getenv(name);
    if (text == NULL) return 0;
    const char *reason = vs__parse_uint(text, min, max, suffixes, out);
    if (reason == NULL) return 1;
    snprintf(why, why_size,
             "environment variable %s has an invalid value '%.64s%s': %s (expected %s)", name, text,
             strlen(text) > 64 ? "..." : "", reason, expected);
    return VS_ERR_INVALID_ARGUMENT;
}

/* One index of "opencl:P:D": digits up to `stop`, below `limit`. */
static const char *parse_index(const char *text, size_t length, int limit, int *out) {
    char digits[24];
    if (length >= sizeof(digits)) return "it is too large";
    memcpy(digits, text, length);
    digits[length] = '\0';
    uint64_t value = 0;
    const char *reason = vs__parse_uint(digits, 0, (uint64_t)limit - 1, 0, &value);
    if (reason != NULL) return reason;
    *out = (int)value;
    return NULL;
}

#define VS_SELECTOR_EXPECTED                                                                       \
    "expected auto, cpu, opencl, opencl:P:D with P in 0..%d and D in 0..%d, or opencl:name=TEXT"

int vs__selector_parse(const char *text, vs__selector *out, char *why, size_t why_size) {
    memset(out, 0, sizeof(*out));
    const char *reason = NULL;
    char detail[96] = "";
    if (text == NULL || strcmp(text, "auto") == 0) {
        out->kind = VS_SELECT_AUTO;
    } else if (strcmp(text, "cpu") == 0) {
        out->kind = VS_SELECT_CPU;
    } else if (strcmp(text, "opencl") == 0) {
        out->kind = VS_SELECT_OPENCL;
    } else if (strncmp(text, "opencl:name=", 12) == 0) {
        out->kind = VS_SELECT_OPENCL_NAME;
        out->name = text + 12;
        if (out->name[0] == '\0') reason = "the name to look for is empty";
    } else if (strncmp(text, "opencl:", 7) == 0) {
        out->kind = VS_SELECT_OPENCL_INDEX;
        const char *platform = text + 7, *colon = strchr(platform, ':');
        if (colon == NULL) {
            reason = "it has no ':' between P and D";
        } else if ((reason = parse_index(platform, (size_t)(colon - platform), VS__CL_MAX_PLATFORMS,
                                         &out->platform)) != NULL) {
            snprintf(detail, sizeof(detail), "platform index '%.*s': %s",
                     (int)(colon - platform < 24 ? colon - platform : 24), platform, reason);
        } else if ((reason = parse_index(colon + 1, strlen(colon + 1), VS__CL_MAX_DEVICES,
                                         &out->device)) != NULL) {
            snprintf(detail, sizeof(detail), "device index '%.24s': %s", colon + 1, reason);
        }
    } else {
        snprintf(why, why_size, "unknown device selector '%.64s%s' (" VS_SELECTOR_EXPECTED ")",
                 text, strlen(text) > 64 ? "..." : "", VS__CL_MAX_PLATFORMS - 1,
                 VS__CL_MAX_DEVICES - 1);
        return VS_ERR_INVALID_ARGUMENT;
    }
    if (reason == NULL) return VS_OK;
    snprintf(why, why_size, "device selector '%.64s%s' is invalid: %s (" VS_SELECTOR_EXPECTED ")",
             text, strlen(text) > 64 ? "..." : "", detail[0] ? detail : reason,
             VS__CL_MAX_PLATFORMS - 1, VS__CL_MAX_DEVICES - 1);
    return VS_ERR_INVALID_ARGUMENT;
}
