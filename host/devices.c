/*
 * devices.c — the public device list: the native CPU (always index 0), then
 * every OpenCL device the backend finds (vs__opencl_list: cl/devices.c, or
 * cl/none.c in a build without OpenCL, which finds none and says so).
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void native_cpu(vs_device *info) {
    memset(info, 0, sizeof(*info));
    info->kind = VS_DEVICE_NATIVE_CPU;
    snprintf(info->selector, sizeof(info->selector), "cpu");
    int threads = omp_get_max_threads();
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

const char *vs_opencl_status(void) {
    vs_device *list = NULL;
    int count = 0;
    if (vs__opencl_list(NULL, &list, &count, opencl_status, sizeof(opencl_status)) != VS_OK)
        return "out of memory while listing OpenCL devices";
    free(list);
    return opencl_status;
}
