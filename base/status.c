/*
 * status.c — the public helpers every layer may call: names and sentences
 * for vs_status (generated from VS_STATUS_MAP), the version, metric names and
 * the aligned output buffers (bottom layer, base/).
 */
#include <stdint.h>
#include <stdlib.h>

#include "vecscore.h"

const char *vs_status_name(int status) {
    switch (status) {
#define VS_STATUS_NAME_(suffix, value, sentence)                                                   \
    case value: return "VS_" #suffix;
        VS_STATUS_MAP(VS_STATUS_NAME_)
#undef VS_STATUS_NAME_
    default: return "VS_ERR_UNKNOWN";
    }
}

const char *vs_strerror(int status) {
    switch (status) {
#define VS_STATUS_SENTENCE_(suffix, value, sentence)                                               \
    case value: return sentence;
        VS_STATUS_MAP(VS_STATUS_SENTENCE_)
#undef VS_STATUS_SENTENCE_
    default: return "unknown status code";
    }
}

const char *vs_version(void) {
    return VS_VERSION_STRING;
}

const char *vs_metric_name(vs_metric metric) {
    switch (metric) {
    case VS_METRIC_DOT: return "dot";
    case VS_METRIC_COSINE: return "cosine";
    case VS_METRIC_L2SQ: return "l2sq";
    }
    return NULL;
}

/* Output buffers: page-aligned, so an OpenCL device with shared memory can map them in place. */
#define VS_OUTPUT_ALIGN 4096

void *vs_alloc_output(size_t bytes) {
    if (bytes == 0 || bytes > SIZE_MAX - VS_OUTPUT_ALIGN) return NULL;
    size_t rounded = (bytes + VS_OUTPUT_ALIGN - 1) / VS_OUTPUT_ALIGN * VS_OUTPUT_ALIGN;
    return aligned_alloc(VS_OUTPUT_ALIGN, rounded);
}

void vs_free_output(void *ptr) {
    free(ptr);
}
