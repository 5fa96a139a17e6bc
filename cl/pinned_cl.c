/*
 * pinned_cl.c — arena backing from an OpenCL CL_MEM_ALLOC_HOST_PTR buffer,
 * mapped once and kept mapped for the arena's lifetime. Drivers back such
 * buffers with page-locked host memory, so transfers from it to the device
 * run at full DMA speed without an extra copy.
 */
#include <stdlib.h>
#include <string.h>

#include "cl_calls.h"
#include "../arena/pinned.h"
#include "pinned_cl.h"

typedef struct cl_backing {
    cl_command_queue queue;
    cl_mem buffer;
} cl_backing;

static void release_cl(vs_pinned_block *block) {
    cl_backing *backing = block->handle;
    if (backing == NULL) return;
    if (block->ptr != NULL)
        vs__cl.EnqueueUnmapMemObject(backing->queue, backing->buffer, block->ptr, 0, NULL, NULL);
    vs__cl.Finish(backing->queue);
    vs__cl.ReleaseMemObject(backing->buffer);
    free(backing);
    block->handle = NULL;
    block->ptr = NULL;
}

int vs__pinned_cl_alloc(const vs__env *ctx, cl_context context, cl_command_queue queue,
                        size_t bytes, vs_pinned_block *out) {
    int status = VS_OK;
    cl_int err = CL_SUCCESS;
    cl_mem buffer = NULL;
    memset(out, 0, sizeof(*out)); /* a fixed block: commit stays NULL */
    cl_backing *backing = malloc(sizeof(*backing));
    if (backing == NULL) return VS_ERR_OUT_OF_MEMORY;
    buffer =
        vs__cl.CreateBuffer(context, CL_MEM_ALLOC_HOST_PTR | CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        status = vs__cl_failed(ctx, "clCreateBuffer(staging, CL_MEM_ALLOC_HOST_PTR)", err);
        goto cleanup;
    }
    void *ptr = vs__cl.EnqueueMapBuffer(queue, buffer, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0,
                                        bytes, 0, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        status = vs__cl_failed(ctx, "clEnqueueMapBuffer(staging)", err);
        goto cleanup;
    }
    backing->queue = queue;
    backing->buffer = buffer;
    out->ptr = ptr;
    out->bytes = bytes;
    out->locked = 1; /* the driver pins ALLOC_HOST_PTR memory */
    out->committed = bytes;
    out->locked_bytes = bytes;
    out->release = release_cl;
    out->handle = backing;
    return VS_OK;
cleanup:
    if (buffer != NULL) vs__cl.ReleaseMemObject(buffer);
    free(backing);
    return status;
}
