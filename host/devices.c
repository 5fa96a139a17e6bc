/*
 * devices.c — the public device list: the native CPU (always index 0), then
 * every OpenCL device the backend finds (vs__opencl_list and
 * vs__opencl_string: cl/devices.c, or cl/none.c in a build without OpenCL,
 * which finds none and says so).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu/pool.h"
#include "internal.h"

static void native_cpu(vs_device *info) {
    memset(info, 0, sizeof(*info));
    info->kind = VS_DEVICE_NATIVE_CPU;
    snprintf(info->selector, sizeof(info->selector), "cpu");
    int threads = vs__pool_cpu_count(); /* what threads = 0 resolves to */
    snprintf(info->name, sizeof(info->name), "native CPU (%s, %d threads)", vs_cpu_best_isa(),
             threads);
    snprintf(info->vendor, sizeof(info->vendor), "vecscore");
    snprintf(info->device_version, sizeof(info->device_version), "%s", vs_cpu_best_isa());
    info->platform_index = -1;
    info->device_index = -1;
    info->compute_units = (unsigned)threads;
    info->base_align_bytes = 64;
    info->unified_memory = 1;
    info->zero_copy_expected = 1;
    info->auto_eligible = 1;
}

static _Thread_local char opencl_status[256];

int vs_device_count(void) {
    vs_device *list = NULL;
    int count = 0;
    if (vs__opencl_list(NULL, &list, &count, opencl_status, sizeof(opencl_status)) != VS_OK)
        return 1;
    free(list);
    return 1 + count;
}

int vs_device_info(int index, vs_device *out) {
    if (out == NULL || index < 0) return VS_ERR_INVALID_ARGUMENT;
    if (index == 0) {
        native_cpu(out);
        return VS_OK;
    }
    vs_device *list = NULL;
    int count = 0;
    int status = vs__opencl_list(NULL, &list, &count, opencl_status, sizeof(opencl_status));
    if (status != VS_OK) return status;
    if (index > count) {
        free(list);
        return VS_ERR_INVALID_ARGUMENT;
    }
    *out = list[index - 1];
    free(list);
    return VS_OK;
}

/* One string field of a vs_device, by enum; NULL for an unknown field. */
static const char *device_field(const vs_device *d, vs_device_field field) {
    switch (field) {
    case VS_DEVICE_FIELD_NAME: return d->name;
    case VS_DEVICE_FIELD_VENDOR: return d->vendor;
    case VS_DEVICE_FIELD_PLATFORM: return d->platform;
    case VS_DEVICE_FIELD_DRIVER_VERSION: return d->driver_version;
    case VS_DEVICE_FIELD_DEVICE_VERSION: return d->device_version;
    }
    return NULL;
}

int vs_device_string(int index, vs_device_field field, char *out, size_t size) {
    vs_device native;
    native_cpu(&native);
    if (index < 0 || (out == NULL && size > 0) || device_field(&native, field) == NULL)
        return VS_ERR_INVALID_ARGUMENT;
    char *full = NULL;
    if (index == 0) {
        full = strdup(device_field(&native, field));
    } else {
        int status = vs__opencl_string(index - 1, field, &full);
        if (status != VS_OK) return status;
    }
    if (full == NULL) return VS_ERR_OUT_OF_MEMORY;
    size_t length = strlen(full);
    if (size > 0) snprintf(out, size, "%s", full);
    free(full);
    return length > (size_t)INT32_MAX ? VS_ERR_OUT_OF_MEMORY : (int)length;
}

const char *vs_opencl_status(void) {
    vs_device *list = NULL;
    int count = 0;
    if (vs__opencl_list(NULL, &list, &count, opencl_status, sizeof(opencl_status)) != VS_OK)
        return "out of memory while listing OpenCL devices";
    free(list);
    return opencl_status;
}
