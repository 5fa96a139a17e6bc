/*
 * devices.c — OpenCL platform and device discovery, the OpenCL devices of the
 * public device list (host/devices.c) and the choice of a device from a
 * selector.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_internal.h"

#define VS_MAX_PLATFORMS VS__CL_MAX_PLATFORMS
#define VS_MAX_DEVICES_PER_PLATFORM VS__CL_MAX_DEVICES

static int device_details(const vs__env *ctx, cl_platform_id platform, cl_device_id device, int p,
                          int d, vs_device *info) {
    memset(info, 0, sizeof(*info));
    cl_device_type type = 0;
    cl_uint units = 0, align_bits = 0;
    cl_ulong global = 0, max_alloc = 0;
    cl_bool unified = CL_FALSE;
    const struct {
        cl_device_info what;
        size_t size;
        void *value;
        const char *name;
    } facts[] = {
        {CL_DEVICE_TYPE, sizeof(type), &type, "CL_DEVICE_TYPE"},
        {CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(units), &units, "CL_DEVICE_MAX_COMPUTE_UNITS"},
        {CL_DEVICE_GLOBAL_MEM_SIZE, sizeof(global), &global, "CL_DEVICE_GLOBAL_MEM_SIZE"},
        {CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof(max_alloc), &max_alloc,
         "CL_DEVICE_MAX_MEM_ALLOC_SIZE"},
        {CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof(align_bits), &align_bits,
         "CL_DEVICE_MEM_BASE_ADDR_ALIGN"},
        {CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof(unified), &unified, "CL_DEVICE_HOST_UNIFIED_MEMORY"},
    };
    for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++) {
        cl_int err =
            vs__cl.GetDeviceInfo(device, facts[i].what, facts[i].size, facts[i].value, NULL);
        if (err != CL_SUCCESS) {
            char what[80];
            snprintf(what, sizeof(what), "clGetDeviceInfo(%s)", facts[i].name);
            return vs__cl_failed(ctx, what, err);
        }
    }
    vs__cl_info_string(NULL, device, CL_DEVICE_NAME, info->name, sizeof(info->name));
    vs__cl_info_string(NULL, device, CL_DEVICE_VENDOR, info->vendor, sizeof(info->vendor));
    vs__cl_info_string(NULL, device, CL_DRIVER_VERSION, info->driver_version,
                       sizeof(info->driver_version));
    vs__cl_info_string(NULL, device, CL_DEVICE_VERSION, info->device_version,
                       sizeof(info->device_version));
    vs__cl_info_string(platform, NULL, CL_PLATFORM_NAME, info->platform, sizeof(info->platform));
    if (type & CL_DEVICE_TYPE_GPU)
        info->kind = VS_DEVICE_OPENCL_GPU;
    else if (type & CL_DEVICE_TYPE_ACCELERATOR)
        info->kind = VS_DEVICE_OPENCL_ACCELERATOR;
    else if (type & CL_DEVICE_TYPE_CPU)
        info->kind = VS_DEVICE_OPENCL_CPU;
    else
        info->kind = VS_DEVICE_OPENCL_OTHER;
    snprintf(info->selector, sizeof(info->selector), "opencl:%d:%d", p, d);
    info->platform_index = p;
    info->device_index = d;
    info->compute_units = units;
    info->global_mem_bytes = global;
    info->max_alloc_bytes = max_alloc;
    info->base_align_bytes = align_bits / 8 > 0 ? align_bits / 8 : 1;
    info->unified_memory = unified == CL_TRUE;
    /* USE_HOST_PTR buffers on a device that shares host memory are written in place. */
    info->zero_copy_expected = info->unified_memory;
    info->auto_eligible =
        info->kind == VS_DEVICE_OPENCL_GPU || info->kind == VS_DEVICE_OPENCL_ACCELERATOR;
    return VS_OK;
}

int vs__cl_discover(const vs__env *ctx, vs__cl_entry **out, int *count, char *why,
                    size_t why_size) {
    *out = NULL;
    *count = 0;
    why[0] = '\0';
    cl_platform_id platforms[VS_MAX_PLATFORMS];
    cl_uint nplatforms = 0;
    cl_int err = vs__cl.GetPlatformIDs(VS_MAX_PLATFORMS, platforms, &nplatforms);
    if (err == -1001 || (err == CL_SUCCESS && nplatforms == 0)) {
        snprintf(why, why_size, "no OpenCL platform (clGetPlatformIDs: %s)",
                 err == CL_SUCCESS ? "0 platforms" : vs__cl_error_name(err));
        return VS_OK;
    }
    if (err != CL_SUCCESS) {
        vs__cl_failed(ctx, "clGetPlatformIDs", err);
        snprintf(why, why_size, "OpenCL discovery failed (clGetPlatformIDs: %s)",
                 vs__cl_error_name(err));
        return VS_OK;
    }
    if (nplatforms > VS_MAX_PLATFORMS) nplatforms = VS_MAX_PLATFORMS;
    vs__cl_entry *list = calloc((size_t)nplatforms * VS_MAX_DEVICES_PER_PLATFORM, sizeof(*list));
    if (list == NULL) return VS_ERR_OUT_OF_MEMORY;
    int n = 0;
    char last_failure[160] = "";
    for (cl_uint p = 0; p < nplatforms; p++) {
        cl_device_id devices[VS_MAX_DEVICES_PER_PLATFORM];
        cl_uint ndevices = 0;
        err = vs__cl.GetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, VS_MAX_DEVICES_PER_PLATFORM,
                                  devices, &ndevices);
        if (err != CL_SUCCESS) {
            if (err != CL_DEVICE_NOT_FOUND) vs__cl_failed(ctx, "clGetDeviceIDs", err);
            snprintf(last_failure, sizeof(last_failure), "clGetDeviceIDs on platform %u: %s",
                     (unsigned)p, vs__cl_error_name(err));
            continue;
        }
        if (ndevices > VS_MAX_DEVICES_PER_PLATFORM) ndevices = VS_MAX_DEVICES_PER_PLATFORM;
        for (cl_uint d = 0; d < ndevices; d++) {
            if (device_details(ctx, platforms[p], devices[d], (int)p, (int)d, &list[n].info) !=
                VS_OK) {
                snprintf(last_failure, sizeof(last_failure), "%s", vs__cl_last_error());
                continue;
            }
            list[n].platform = platforms[p];
            list[n].device = devices[d];
            n++;
        }
    }
    if (n == 0) {
        free(list);
        snprintf(why, why_size, "%u OpenCL platform(s) but no usable device (%s)",
                 (unsigned)nplatforms, last_failure[0] ? last_failure : "none listed");
        return VS_OK;
    }
    *out = list;
    *count = n;
    return VS_OK;
}

/* ---- the OpenCL part of the public device list (host/devices.c) ------------- */

int vs__opencl_list(const vs__env *ctx, vs_device **out, int *count, char *why, size_t why_size) {
    *out = NULL;
    *count = 0;
    vs__cl_entry *list = NULL;
    int n = 0;
    int status = vs__cl_discover(ctx, &list, &n, why, why_size);
    if (status != VS_OK || n == 0) return status;
    vs_device *infos = malloc((size_t)n * sizeof(*infos));
    if (infos == NULL) {
        free(list);
        return VS_ERR_OUT_OF_MEMORY;
    }
    for (int i = 0; i < n; i++)
        infos[i] = list[i].info;
    free(list);
    *out = infos;
    *count = n;
    return VS_OK;
}

int vs__opencl_string(int index, vs_device_field field, char **out) {
    *out = NULL;
    vs__cl_entry *list = NULL;
    int count = 0;
    char why[256];
    int status = vs__cl_discover(NULL, &list, &count, why, sizeof(why));
    if (status != VS_OK) return status;
    if (index < 0 || index >= count) {
        free(list);
        return VS_ERR_INVALID_ARGUMENT;
    }
    static const cl_uint queries[] = {CL_DEVICE_NAME, CL_DEVICE_VENDOR, CL_PLATFORM_NAME,
                                      CL_DRIVER_VERSION, CL_DEVICE_VERSION};
    if (field == VS_DEVICE_FIELD_PLATFORM)
        *out = vs__cl_info_dup(list[index].platform, NULL, CL_PLATFORM_NAME);
    else
        *out = vs__cl_info_dup(NULL, list[index].device, queries[field]);
    free(list);
    return *out != NULL ? VS_OK : VS_ERR_OUT_OF_MEMORY;
}

/* ---- choosing a device --------------------------------------------------------- */

static int contains_folded(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    for (const char *h = haystack; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return 1;
    }
    return n == 0;
}

/*
 * Opens the OpenCL backend for a selector ("auto" or an opencl one). For
 * "auto" with no eligible device, returns VS_ERR_NO_DEVICE with the reason
 * in why (the caller then uses the CPU).
 */
int vs__opencl_open(const vs__env *ctx, const vs__selector *selector, const vs__backend_ops **ops,
                    void **state, char *why, size_t why_size) {
    const int is_auto = selector->kind == VS_SELECT_AUTO;
    /* testing knob: let "auto" weigh OpenCL CPU devices too (PoCL in CI) */
    const int any = ctx->cl_auto_opencl_cpu;
    vs__cl_entry *list = NULL;
    int count = 0;
    int status = vs__cl_discover(ctx, &list, &count, why, why_size);
    if (status != VS_OK) return status;
    const vs__cl_entry *chosen = NULL;
    if (count == 0) {
        /* why says what discovery found */
    } else if (is_auto) {
        for (int i = 0; i < count && chosen == NULL; i++)
            if (list[i].info.auto_eligible || any) chosen = &list[i];
        if (chosen == NULL)
            snprintf(why, why_size,
                     "auto: no OpenCL GPU or accelerator among %d OpenCL device(s); OpenCL CPU "
                     "devices are used only when asked for by name",
                     count);
    } else if (selector->kind == VS_SELECT_OPENCL) {
        chosen = &list[0];
    } else if (selector->kind == VS_SELECT_OPENCL_NAME) {
        for (int i = 0; i < count && chosen == NULL; i++)
            if (contains_folded(list[i].info.name, selector->name)) chosen = &list[i];
        if (chosen == NULL)
            snprintf(why, why_size, "no OpenCL device name contains '%s' (%d device(s) found)",
                     selector->name, count);
    } else {
        for (int i = 0; i < count && chosen == NULL; i++)
            if (list[i].info.platform_index == selector->platform &&
                list[i].info.device_index == selector->device)
                chosen = &list[i];
        if (chosen == NULL)
            snprintf(why, why_size, "no OpenCL device %d on platform %d (%d device(s) found)",
                     selector->device, selector->platform, count);
    }
    if (chosen == NULL) {
        free(list);
        return VS_ERR_NO_DEVICE;
    }
    /* A staging arena too small for the device: a bad option when the device was asked for,
     * the CPU's turn under "auto" (the arena may suit the CPU). */
    size_t reserve = 0;
    const size_t need = vs__cl_min_arena_bytes(chosen, &reserve);
    if (ctx->arena_bytes < need) {
        snprintf(why, why_size,
                 "%sthe staging arena (arena_bytes or VECSCORE_ARENA_BYTES) of %zu bytes is too "
                 "small for OpenCL device '%s': it needs at least %zu bytes to open (a batch "
                 "stages %zu bytes plus 4 x dim + 4 per query row, 4 x dim + 8 per candidate "
                 "row passed with the call)",
                 is_auto ? "auto: " : "", ctx->arena_bytes, chosen->info.name, need, reserve);
        free(list);
        return is_auto ? VS_ERR_NO_DEVICE : VS_ERR_INVALID_ARGUMENT;
    }
    status = vs__cl_backend_create(ctx, chosen, ops, state);
    if (status != VS_OK)
        snprintf(why, why_size, "OpenCL device '%s' could not be opened (%s)", chosen->info.name,
                 vs__cl_last_error()[0] ? vs__cl_last_error() : vs_status_name(status));
    free(list);
    return status;
}
