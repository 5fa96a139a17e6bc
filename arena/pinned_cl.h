/* pinned_cl.h — arena backing from a mapped CL_MEM_ALLOC_HOST_PTR buffer. */
#ifndef VS_PINNED_CL_H
#define VS_PINNED_CL_H

#include "../cl/cl_calls.h"
#include "pinned.h"

/*
 * Creates a host-accessible buffer of `bytes` on the queue's device and maps
 * it for reading and writing; the block's release unmaps and frees it.
 * Returns 0, VS_ERR_OUT_OF_MEMORY or VS_ERR_DEVICE (logged with the CL name).
 */
int vs__pinned_cl_alloc(const vs__env *ctx, cl_context context, cl_command_queue queue,
                        size_t bytes, vs_pinned_block *out);

#endif /* VS_PINNED_CL_H */
