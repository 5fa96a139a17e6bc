/*
 * parse.c — the strict device selector parser ("auto", "cpu", "opencl",
 * "opencl:P:D", "opencl:name=TEXT"). Its indices go through the same strict
 * number parser as every option (base/parse.c): a sign, a blank, junk or an
 * overflow is an error, never read as something else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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
