/*
 * cl_calls.c — the OpenCL call table with fault injection, error names, and
 * the string properties of platforms and devices (read through the table).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "cl_calls.h"

static atomic_long fail_countdown; /* 0 = off; the call that takes it to 0 fails */
static atomic_int fail_sticky;
static atomic_long calls_made;

long vs__cl_fail_after(long n, int sticky) {
    long made = atomic_exchange(&calls_made, 0);
    atomic_store(&fail_sticky, n > 0 && sticky);
    atomic_store(&fail_countdown, n > 0 ? n : 0);
    return made;
}

long vs__cl_calls_made(void) {
    return atomic_load_explicit(&calls_made, memory_order_relaxed);
}

/* 1 if this call must fail. */
static int inject(void) {
    atomic_fetch_add_explicit(&calls_made, 1, memory_order_relaxed);
    long left = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (left == 0) return 0;
    if (left == 1) {
        if (!atomic_load(&fail_sticky)) atomic_store(&fail_countdown, 0);
        return 1;
    }
    atomic_fetch_sub(&fail_countdown, 1);
    return 0;
}

#define VS_INJECTED CL_OUT_OF_RESOURCES

/* Calls returning cl_int. */
#define VS_WRAP_STATUS(name, params, args)                                                         \
    static cl_int wrap_##name params {                                                             \
        return inject() ? VS_INJECTED : cl##name args;                                             \
    }

/* Releases are never failed on purpose: a test that fails one would only
 * leak the object and hide real leaks. They still count as calls. */
#define VS_WRAP_RELEASE(name, params, args)                                                        \
    static cl_int wrap_##name params {                                                             \
        atomic_fetch_add_explicit(&calls_made, 1, memory_order_relaxed);                           \
        return cl##name args;                                                                      \
    }

/* Calls returning an object and reporting through errcode_ret. */
#define VS_WRAP_OBJECT(type, name, params, args)                                                   \
    static type wrap_##name params {                                                               \
        if (inject()) {                                                                            \
            if (err != NULL) *err = VS_INJECTED;                                                   \
            return NULL;                                                                           \
        }                                                                                          \
        return cl##name args;                                                                      \
    }

VS_WRAP_STATUS(GetPlatformIDs, (cl_uint n, cl_platform_id *p, cl_uint *c), (n, p, c))
VS_WRAP_STATUS(GetPlatformInfo,
               (cl_platform_id p, cl_platform_info i, size_t s, void *v, size_t *r),
               (p, i, s, v, r))
VS_WRAP_STATUS(GetDeviceIDs,
               (cl_platform_id p, cl_device_type t, cl_uint n, cl_device_id *d, cl_uint *c),
               (p, t, n, d, c))
VS_WRAP_STATUS(GetDeviceInfo, (cl_device_id d, cl_device_info i, size_t s, void *v, size_t *r),
               (d, i, s, v, r))
VS_WRAP_OBJECT(cl_context, CreateContext,
               (const cl_context_properties *p, cl_uint n, const cl_device_id *d,
                void(CL_CALLBACK *f)(const char *, const void *, size_t, void *), void *u,
                cl_int *err),
               (p, n, d, f, u, err))
VS_WRAP_RELEASE(ReleaseContext, (cl_context c), (c))
VS_WRAP_OBJECT(cl_command_queue, CreateCommandQueue,
               (cl_context c, cl_device_id d, cl_command_queue_properties p, cl_int *err),
               (c, d, p, err))
VS_WRAP_RELEASE(ReleaseCommandQueue, (cl_command_queue q), (q))
VS_WRAP_OBJECT(cl_mem, CreateBuffer, (cl_context c, cl_mem_flags f, size_t s, void *h, cl_int *err),
               (c, f, s, h, err))
VS_WRAP_RELEASE(ReleaseMemObject, (cl_mem m), (m))
VS_WRAP_OBJECT(cl_program, CreateProgramWithSource,
               (cl_context c, cl_uint n, const char **s, const size_t *l, cl_int *err),
               (c, n, s, l, err))
VS_WRAP_OBJECT(cl_program, CreateProgramWithBinary,
               (cl_context c, cl_uint n, const cl_device_id *d, const size_t *l,
                const unsigned char **b, cl_int *st, cl_int *err),
               (c, n, d, l, b, st, err))
VS_WRAP_STATUS(BuildProgram,
               (cl_program p, cl_uint n, const cl_device_id *d, const char *o,
                void(CL_CALLBACK *f)(cl_program, void *), void *u),
               (p, n, d, o, f, u))
VS_WRAP_STATUS(GetProgramInfo, (cl_program p, cl_program_info i, size_t s, void *v, size_t *r),
               (p, i, s, v, r))
VS_WRAP_STATUS(GetProgramBuildInfo,
               (cl_program p, cl_device_id d, cl_program_build_info i, size_t s, void *v,
                size_t *r),
               (p, d, i, s, v, r))
VS_WRAP_RELEASE(ReleaseProgram, (cl_program p), (p))
VS_WRAP_OBJECT(cl_kernel, CreateKernel, (cl_program p, const char *n, cl_int *err), (p, n, err))
VS_WRAP_RELEASE(ReleaseKernel, (cl_kernel k), (k))
VS_WRAP_STATUS(SetKernelArg, (cl_kernel k, cl_uint i, size_t s, const void *v), (k, i, s, v))
VS_WRAP_STATUS(EnqueueNDRangeKernel,
               (cl_command_queue q, cl_kernel k, cl_uint d, const size_t *o, const size_t *g,
                const size_t *l, cl_uint n, const cl_event *w, cl_event *e),
               (q, k, d, o, g, l, n, w, e))
VS_WRAP_STATUS(EnqueueWriteBuffer,
               (cl_command_queue q, cl_mem m, cl_bool b, size_t o, size_t s, const void *p,
                cl_uint n, const cl_event *w, cl_event *e),
               (q, m, b, o, s, p, n, w, e))
VS_WRAP_STATUS(EnqueueReadBuffer,
               (cl_command_queue q, cl_mem m, cl_bool b, size_t o, size_t s, void *p, cl_uint n,
                const cl_event *w, cl_event *e),
               (q, m, b, o, s, p, n, w, e))
VS_WRAP_STATUS(EnqueueReadBufferRect,
               (cl_command_queue q, cl_mem m, cl_bool b, const size_t *bo, const size_t *ho,
                const size_t *r, size_t brp, size_t bsp, size_t hrp, size_t hsp, void *p, cl_uint n,
                const cl_event *w, cl_event *e),
               (q, m, b, bo, ho, r, brp, bsp, hrp, hsp, p, n, w, e))
VS_WRAP_STATUS(EnqueueUnmapMemObject,
               (cl_command_queue q, cl_mem m, void *p, cl_uint n, const cl_event *w, cl_event *e),
               (q, m, p, n, w, e))
VS_WRAP_STATUS(Finish, (cl_command_queue q), (q))
VS_WRAP_STATUS(Flush, (cl_command_queue q), (q))
VS_WRAP_STATUS(WaitForEvents, (cl_uint n, const cl_event *e), (n, e))
VS_WRAP_RELEASE(ReleaseEvent, (cl_event e), (e))

static void *wrap_EnqueueMapBuffer(cl_command_queue q, cl_mem m, cl_bool b, cl_map_flags f,
                                   size_t o, size_t s, cl_uint n, const cl_event *w, cl_event *e,
                                   cl_int *err) {
    if (inject()) {
        if (err != NULL) *err = VS_INJECTED;
        return NULL;
    }
    return clEnqueueMapBuffer(q, m, b, f, o, s, n, w, e, err);
}

const vs__cl_api vs__cl = {
    .GetPlatformIDs = wrap_GetPlatformIDs,
    .GetPlatformInfo = wrap_GetPlatformInfo,
    .GetDeviceIDs = wrap_GetDeviceIDs,
    .GetDeviceInfo = wrap_GetDeviceInfo,
    .CreateContext = wrap_CreateContext,
    .ReleaseContext = wrap_ReleaseContext,
    .CreateCommandQueue = wrap_CreateCommandQueue,
    .ReleaseCommandQueue = wrap_ReleaseCommandQueue,
    .CreateBuffer = wrap_CreateBuffer,
    .ReleaseMemObject = wrap_ReleaseMemObject,
    .CreateProgramWithSource = wrap_CreateProgramWithSource,
    .CreateProgramWithBinary = wrap_CreateProgramWithBinary,
    .BuildProgram = wrap_BuildProgram,
    .GetProgramInfo = wrap_GetProgramInfo,
    .GetProgramBuildInfo = wrap_GetProgramBuildInfo,
    .ReleaseProgram = wrap_ReleaseProgram,
    .CreateKernel = wrap_CreateKernel,
    .ReleaseKernel = wrap_ReleaseKernel,
    .SetKernelArg = wrap_SetKernelArg,
    .EnqueueNDRangeKernel = wrap_EnqueueNDRangeKernel,
    .EnqueueWriteBuffer = wrap_EnqueueWriteBuffer,
    .EnqueueReadBuffer = wrap_EnqueueReadBuffer,
    .EnqueueReadBufferRect = wrap_EnqueueReadBufferRect,
    .EnqueueMapBuffer = wrap_EnqueueMapBuffer,
    .EnqueueUnmapMemObject = wrap_EnqueueUnmapMemObject,
    .Finish = wrap_Finish,
    .Flush = wrap_Flush,
    .WaitForEvents = wrap_WaitForEvents,
    .ReleaseEvent = wrap_ReleaseEvent,
};

/* ---- error names ------------------------------------------------------------ */

#define VS_CL_ERRORS(X)                                                                            \
    X(CL_SUCCESS)                                                                                  \
    X(CL_DEVICE_NOT_FOUND)                                                                         \
    X(CL_DEVICE_NOT_AVAILABLE)                                                                     \
    X(CL_COMPILER_NOT_AVAILABLE)                                                                   \
    X(CL_MEM_OBJECT_ALLOCATION_FAILURE)                                                            \
    X(CL_OUT_OF_RESOURCES)                                                                         \
    X(CL_OUT_OF_HOST_MEMORY)                                                                       \
    X(CL_PROFILING_INFO_NOT_AVAILABLE)                                                             \
    X(CL_MEM_COPY_OVERLAP)                                                                         \
    X(CL_IMAGE_FORMAT_MISMATCH)                                                                    \
    X(CL_IMAGE_FORMAT_NOT_SUPPORTED)                                                               \
    X(CL_BUILD_PROGRAM_FAILURE)                                                                    \
    X(CL_MAP_FAILURE)                                                                              \
    X(CL_MISALIGNED_SUB_BUFFER_OFFSET)                                                             \
    X(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)                                                \
    X(CL_COMPILE_PROGRAM_FAILURE)                                                                  \
    X(CL_LINKER_NOT_AVAILABLE)                                                                     \
    X(CL_LINK_PROGRAM_FAILURE)                                                                     \
    X(CL_DEVICE_PARTITION_FAILED)                                                                  \
    X(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)                                                            \
    X(CL_INVALID_VALUE)                                                                            \
    X(CL_INVALID_DEVICE_TYPE)                                                                      \
    X(CL_INVALID_PLATFORM)                                                                         \
    X(CL_INVALID_DEVICE)                                                                           \
    X(CL_INVALID_CONTEXT)                                                                          \
    X(CL_INVALID_QUEUE_PROPERTIES)                                                                 \
    X(CL_INVALID_COMMAND_QUEUE)                                                                    \
    X(CL_INVALID_HOST_PTR)                                                                         \
    X(CL_INVALID_MEM_OBJECT)                                                                       \
    X(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)                                                          \
    X(CL_INVALID_IMAGE_SIZE)                                                                       \
    X(CL_INVALID_SAMPLER)                                                                          \
    X(CL_INVALID_BINARY)                                                                           \
    X(CL_INVALID_BUILD_OPTIONS)                                                                    \
    X(CL_INVALID_PROGRAM)                                                                          \
    X(CL_INVALID_PROGRAM_EXECUTABLE)                                                               \
    X(CL_INVALID_KERNEL_NAME)                                                                      \
    X(CL_INVALID_KERNEL_DEFINITION)                                                                \
    X(CL_INVALID_KERNEL)                                                                           \
    X(CL_INVALID_ARG_INDEX)                                                                        \
    X(CL_INVALID_ARG_VALUE)                                                                        \
    X(CL_INVALID_ARG_SIZE)                                                                         \
    X(CL_INVALID_KERNEL_ARGS)                                                                      \
    X(CL_INVALID_WORK_DIMENSION)                                                                   \
    X(CL_INVALID_WORK_GROUP_SIZE)                                                                  \
    X(CL_INVALID_WORK_ITEM_SIZE)                                                                   \
    X(CL_INVALID_GLOBAL_OFFSET)                                                                    \
    X(CL_INVALID_EVENT_WAIT_LIST)                                                                  \
    X(CL_INVALID_EVENT)                                                                            \
    X(CL_INVALID_OPERATION)                                                                        \
    X(CL_INVALID_GL_OBJECT)                                                                        \
    X(CL_INVALID_BUFFER_SIZE)                                                                      \
    X(CL_INVALID_MIP_LEVEL)                                                                        \
    X(CL_INVALID_GLOBAL_WORK_SIZE)                                                                 \
    X(CL_INVALID_PROPERTY)

const char *vs__cl_error_name(cl_int err) {
#define VS_CL_ERROR_CASE(name)                                                                     \
    case name: return #name;
    switch (err) {
        VS_CL_ERRORS(VS_CL_ERROR_CASE)
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL_UNKNOWN_ERROR";
    }
#undef VS_CL_ERROR_CASE
}

int vs__cl_status(cl_int err) {
    switch (err) {
    case CL_SUCCESS: return VS_OK;
    case CL_OUT_OF_HOST_MEMORY: return VS_ERR_OUT_OF_MEMORY;
    case CL_DEVICE_NOT_FOUND:
    case -1001: return VS_ERR_NO_DEVICE;
    default: return VS_ERR_DEVICE;
    }
}

static _Thread_local char last_error[160];

int vs__cl_failed(const vs__env *ctx, const char *what, cl_int err) {
    snprintf(last_error, sizeof(last_error), "%s failed: %s (%d)", what, vs__cl_error_name(err),
             (int)err);
    if (ctx != NULL) vs__log(&ctx->log, VS_LOG_ERROR, "opencl: %s", last_error);
    return vs__cl_status(err);
}

const char *vs__cl_last_error(void) {
    return last_error;
}

void vs__cl_clear_error(void) {
    last_error[0] = '\0';
}

/* ---- string properties (for device listing and cache keys) --------------------- */

/*
 * The whole of a string property of a device (platform NULL) or of a
 * platform (device NULL), malloc'd; "" if the query fails, NULL only when
 * memory runs out. The length is asked first because drivers refuse a
 * buffer that is too small rather than truncate.
 */
char *vs__cl_info_dup(cl_platform_id platform, cl_device_id device, cl_uint what) {
    size_t needed = 0;
    cl_int err = device != NULL ? vs__cl.GetDeviceInfo(device, what, 0, NULL, &needed)
                                : vs__cl.GetPlatformInfo(platform, what, 0, NULL, &needed);
    if (err != CL_SUCCESS) needed = 0;
    char *full = malloc(needed + 1);
    if (full == NULL) return NULL;
    full[0] = '\0';
    if (needed == 0) return full;
    err = device != NULL ? vs__cl.GetDeviceInfo(device, what, needed, full, NULL)
                         : vs__cl.GetPlatformInfo(platform, what, needed, full, NULL);
    full[err == CL_SUCCESS ? needed : 0] = '\0';
    return full;
}

/* vs__cl_info_dup truncated into a fixed buffer of size bytes. */
void vs__cl_info_string(cl_platform_id platform, cl_device_id device, cl_uint what, char *out,
                        size_t size) {
    char *full = vs__cl_info_dup(platform, device, what);
    snprintf(out, size, "%s", full != NULL ? full : "");
    free(full);
}
