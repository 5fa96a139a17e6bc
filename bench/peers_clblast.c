/*
 * peers_clblast.c — CLBlast SGEMM on the same OpenCL device as a vecscore
 * OpenCL path: scores = queries x base^T (DOT, score matrix only). The base
 * matrix is uploaded once per shape (untimed); each timed call writes the
 * queries, runs CLBlastSgemm and reads the score matrix back into host
 * memory, the same work a vecscore score call does. CLBlast compiles its
 * kernels on the first call (the untimed warm-up).
 */
#define _POSIX_C_SOURCE 200809L
#define CL_TARGET_OPENCL_VERSION 120
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#ifdef VECSCORE_BENCH_CLBLAST
#include <CL/cl.h>
#include <clblast_c.h>

typedef struct clblast_state {
    cl_context context;
    cl_command_queue queue;
    cl_device_id device;
    cl_mem base, queries, scores;
    char device_name[128];
    char driver[64];
    int last_status;
} clblast_state;

static int clblast_supports(const bench_path *path, vs_metric metric, int topk, size_t q) {
    (void)path;
    return metric == VS_METRIC_DOT && !topk && q > 1;
}

static void release_buffers(clblast_state *s) {
    if (s->base) clReleaseMemObject(s->base);
    if (s->queries) clReleaseMemObject(s->queries);
    if (s->scores) clReleaseMemObject(s->scores);
    s->base = s->queries = s->scores = NULL;
}

static int clblast_prepare(bench_path *path, const bench_problem *p) {
    clblast_state *s = path->state;
    cl_int err;
    size_t base_bytes = p->base_count * p->dim * sizeof(float);
    s->base = clCreateBuffer(s->context, CL_MEM_READ_ONLY, base_bytes, NULL, &err);
    if (err != CL_SUCCESS) goto fail;
    s->queries = clCreateBuffer(s->context, CL_MEM_READ_ONLY,
                                p->queries_count * p->dim * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) goto fail;
    s->scores = clCreateBuffer(s->context, CL_MEM_WRITE_ONLY,
                               p->queries_count * p->base_count * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) goto fail;
    err = clEnqueueWriteBuffer(s->queue, s->base, CL_TRUE, 0, base_bytes, p->base, 0, NULL, NULL);
    if (err != CL_SUCCESS) goto fail;
    return 0;
fail:
    snprintf(path->error, sizeof(path->error), "OpenCL buffer setup failed (%d)", (int)err);
    release_buffers(s);
    return -1;
}

static int clblast_run(bench_path *path, const bench_problem *p) {
    clblast_state *s = path->state;
    cl_int err =
        clEnqueueWriteBuffer(s->queue, s->queries, CL_FALSE, 0,
                             p->queries_count * p->dim * sizeof(float), p->queries, 0, NULL, NULL);
    if (err != CL_SUCCESS) return -1;
    CLBlastStatusCode status =
        CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes,
                     p->queries_count, p->base_count, p->dim, 1.0f, s->queries, 0, p->dim, s->base,
                     0, p->dim, 0.0f, s->scores, 0, p->base_count, &s->queue, NULL);
    s->last_status = (int)status;
    if (status != CLBlastSuccess) {
        snprintf(path->error, sizeof(path->error), "CLBlastSgemm returned %d", (int)status);
        return -1;
    }
    err = clEnqueueReadBuffer(s->queue, s->scores, CL_TRUE, 0,
                              p->queries_count * p->base_count * sizeof(float), p->scores, 0, NULL,
                              NULL);
    return err == CL_SUCCESS ? 0 : -1;
}

static void clblast_info(bench_path *path, bench_path_info *out) {
    clblast_state *s = path->state;
    snprintf(out->backend, sizeof(out->backend), "clblast");
    snprintf(out->device, sizeof(out->device), "%s", s->device_name);
    snprintf(out->driver, sizeof(out->driver), "%s", s->driver);
    snprintf(out->settings, sizeof(out->settings),
             "CLBlast 1.5.3 (libclblast-dev) CLBlastSgemm row-major NT, default tuning; timed: "
             "query write + SGEMM + score read-back");
}

static void clblast_finish(bench_path *path) {
    release_buffers(path->state);
}

static void clblast_destroy(bench_path *path) {
    clblast_state *s = path->state;
    if (s) {
        release_buffers(s);
        if (s->queue) clReleaseCommandQueue(s->queue);
        if (s->context) clReleaseContext(s->context);
    }
    free(s);
    path->state = NULL;
}

int bench_clblast_paths(bench_path *paths, int max, int platform_index, int device_index,
                        const char *device_name) {
    if (max < 1 || platform_index < 0 || device_index < 0) return 0;
    cl_platform_id platforms[16];
    cl_uint nplatforms = 0;
    if (clGetPlatformIDs(16, platforms, &nplatforms) != CL_SUCCESS ||
        (cl_uint)platform_index >= nplatforms)
        return 0;
    cl_device_id devices[16];
    cl_uint ndevices = 0;
    if (clGetDeviceIDs(platforms[platform_index], CL_DEVICE_TYPE_ALL, 16, devices, &ndevices) !=
            CL_SUCCESS ||
        (cl_uint)device_index >= ndevices)
        return 0;
    clblast_state *s = calloc(1, sizeof(*s));
    if (s == NULL) return 0;
    cl_int err;
    s->device = devices[device_index];
    s->context = clCreateContext(NULL, 1, &s->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) goto fail;
    s->queue = clCreateCommandQueue(s->context, s->device, 0, &err);
    if (err != CL_SUCCESS) goto fail;
    snprintf(s->device_name, sizeof(s->device_name), "%s", device_name);
    clGetDeviceInfo(s->device, CL_DRIVER_VERSION, sizeof(s->driver), s->driver, NULL);
    bench_path *path = &paths[0];
    memset(path, 0, sizeof(*path));
    snprintf(path->name, sizeof(path->name), "clblast:%d:%d", platform_index, device_index);
    path->kind = "peer";
    path->state = s;
    path->supports = clblast_supports;
    path->prepare = clblast_prepare;
    path->run = clblast_run;
    path->info = clblast_info;
    path->finish = clblast_finish;
    path->destroy = clblast_destroy;
    path->opencl_device = -1;
    return 1;
fail:
    if (s->queue) clReleaseCommandQueue(s->queue);
    if (s->context) clReleaseContext(s->context);
    free(s);
    return 0;
}

#else

int bench_clblast_paths(bench_path *paths, int max, int platform_index, int device_index,
                        const char *device_name) {
    (void)paths, (void)max, (void)platform_index, (void)device_index, (void)device_name;
    return 0;
}

#endif
