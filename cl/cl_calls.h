/*
 * cl_calls.h — every OpenCL entry point vecscore uses, behind one table.
 *
 * The backend calls OpenCL only through vs__cl (never clFoo directly), so a
 * test can make the Nth call fail (vs__cl_fail_after) and check that each
 * failure gives correct results (CPU fallback) or a clean error, leaks
 * nothing and leaves the context usable. Outside tests the wrappers cost one
 * relaxed atomic load per call.
 *
 * A failed call is reported in the library's one error idiom (base/log.h),
 * written out at the call site, with vs__cl_failed naming the CL_* error:
 *   if (err != CL_SUCCESS) { status = vs__cl_failed(ctx, "clFoo", err); goto cleanup; }
 * or `return vs__cl_failed(...)` where nothing is held.
 */
#ifndef VS_CL_CALLS_H
#define VS_CL_CALLS_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "../backend/backend.h"

typedef struct vs__cl_api {
    cl_int (*GetPlatformIDs)(cl_uint, cl_platform_id *, cl_uint *);
    cl_int (*GetPlatformInfo)(cl_platform_id, cl_platform_info, size_t, void *, size_t *);
    cl_int (*GetDeviceIDs)(cl_platform_id, cl_device_type, cl_uint, cl_device_id *, cl_uint *);
    cl_int (*GetDeviceInfo)(cl_device_id, cl_device_info, size_t, void *, size_t *);
    cl_context (*CreateContext)(const cl_context_properties *, cl_uint, const cl_device_id *,
                                void(CL_CALLBACK *)(const char *, const void *, size_t, void *),
                                void *, cl_int *);
    cl_int (*ReleaseContext)(cl_context);
    cl_command_queue (*CreateCommandQueue)(cl_context, cl_device_id, cl_command_queue_properties,
                                           cl_int *);
    cl_int (*ReleaseCommandQueue)(cl_command_queue);
    cl_mem (*CreateBuffer)(cl_context, cl_mem_flags, size_t, void *, cl_int *);
    cl_int (*ReleaseMemObject)(cl_mem);
    cl_program (*CreateProgramWithSource)(cl_context, cl_uint, const char **, const size_t *,
                                          cl_int *);
    cl_program (*CreateProgramWithBinary)(cl_context, cl_uint, const cl_device_id *, const size_t *,
                                          const unsigned char **, cl_int *, cl_int *);
    cl_int (*BuildProgram)(cl_program, cl_uint, const cl_device_id *, const char *,
                           void(CL_CALLBACK *)(cl_program, void *), void *);
    cl_int (*GetProgramInfo)(cl_program, cl_program_info, size_t, void *, size_t *);
    cl_int (*GetProgramBuildInfo)(cl_program, cl_device_id, cl_program_build_info, size_t, void *,
                                  size_t *);
    cl_int (*ReleaseProgram)(cl_program);
    cl_kernel (*CreateKernel)(cl_program, const char *, cl_int *);
    cl_int (*ReleaseKernel)(cl_kernel);
    cl_int (*SetKernelArg)(cl_kernel, cl_uint, size_t, const void *);
    cl_int (*EnqueueNDRangeKernel)(cl_command_queue, cl_kernel, cl_uint, const size_t *,
                                   const size_t *, const size_t *, cl_uint, const cl_event *,
                                   cl_event *);
    cl_int (*EnqueueWriteBuffer)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, const void *,
                                 cl_uint, const cl_event *, cl_event *);
    cl_int (*EnqueueReadBuffer)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, void *, cl_uint,
                                const cl_event *, cl_event *);
    cl_int (*EnqueueReadBufferRect)(cl_command_queue, cl_mem, cl_bool, const size_t *,
                                    const size_t *, const size_t *, size_t, size_t, size_t, size_t,
                                    void *, cl_uint, const cl_event *, cl_event *);
    void *(*EnqueueMapBuffer)(cl_command_queue, cl_mem, cl_bool, cl_map_flags, size_t, size_t,
                              cl_uint, const cl_event *, cl_event *, cl_int *);
    cl_int (*EnqueueUnmapMemObject)(cl_command_queue, cl_mem, void *, cl_uint, const cl_event *,
                                    cl_event *);
    cl_int (*Finish)(cl_command_queue);
    cl_int (*Flush)(cl_command_queue);
    cl_int (*WaitForEvents)(cl_uint, const cl_event *);
    cl_int (*ReleaseEvent)(cl_event);
} vs__cl_api;

/* The table the backend calls through (fault-injecting wrappers). */
extern const vs__cl_api vs__cl;

/*
 * Test hook: the Nth OpenCL call from now (N >= 1) fails with an error, as
 * does every later one while `sticky` is set; N = 0 turns injection off.
 * Returns the number of calls made since the last vs__cl_fail_after.
 */
long vs__cl_fail_after(long n, int sticky);
long vs__cl_calls_made(void);

/* "CL_OUT_OF_RESOURCES" for -5, "CL_UNKNOWN_ERROR" for codes it does not know. */
const char *vs__cl_error_name(cl_int err);

/* Maps an OpenCL error to a vs_status (allocation failures to OUT_OF_MEMORY). */
int vs__cl_status(cl_int err);

/*
 * Records a failed call: logs "<what> failed: CL_NAME (code)" and keeps the
 * text as this thread's last OpenCL error (for the batch report). Returns
 * the matching vs_status.
 */
int vs__cl_failed(const vs__env *ctx, const char *what, cl_int err);

/* This thread's last failed OpenCL call, "" if none since vs__cl_clear_error. */
const char *vs__cl_last_error(void);
void vs__cl_clear_error(void);

/* A device (platform NULL) or platform (device NULL) string, whole and malloc'd ("" if the
 * query fails; NULL when out of memory), or truncated to size ("" on failure). */
char *vs__cl_info_dup(cl_platform_id platform, cl_device_id device, cl_uint what);
void vs__cl_info_string(cl_platform_id platform, cl_device_id device, cl_uint what, char *out,
                        size_t size);

#endif /* VS_CL_CALLS_H */
