/*
 * cl_internal.h — what the files of the OpenCL backend share. Not installed.
 */
#ifndef VS_CL_INTERNAL_H
#define VS_CL_INTERNAL_H

#include "cl_calls.h"

/* One discovered device. */
typedef struct vs__cl_entry {
    cl_platform_id platform;
    cl_device_id device;
    vs_device info;
} vs__cl_entry;

/*
 * Lists every OpenCL device (platform order, then device order) into a
 * malloc'd array (*out, free() it; NULL when *count is 0). When there are
 * none, `why` receives the reason. Returns 0, or VS_ERR_OUT_OF_MEMORY.
 */
int vs__cl_discover(const vs__env *ctx, vs__cl_entry **out, int *count, char *why, size_t why_size);

/*
 * The smallest staging arena (vs_options.arena_bytes) the backend can open
 * with on this device: room for one query row of the warm-up batch. A batch
 * needs *reserve bytes plus 4 * dim + 4 per query row it stages at once.
 */
size_t vs__cl_min_arena_bytes(const vs__cl_entry *entry, size_t *reserve);

/*
 * Creates the backend on one device (context, queue, staging arena). Its
 * knobs (kernel family, fused top-k, allocation cap) come from the vs__env,
 * which host/context.c resolved from the options and the environment.
 */
int vs__cl_backend_create(const vs__env *ctx, const vs__cl_entry *entry,
                          const vs__backend_ops **ops, void **state);

/* Program build with the on-disk binary cache (cl/program.c). */
typedef struct vs__cl_program_result {
    cl_program program;
    double seconds; /* build or load time */
    int from_cache; /* 1 if loaded from the binary cache */
} vs__cl_program_result;

/* The cache directory is the context's (ctx->cache, base/cache.c). */
int vs__cl_program_get(const vs__env *ctx, cl_context context, const vs__cl_entry *entry,
                       const char *source, size_t source_length, const char *options,
                       vs__cl_program_result *out);

/* The embedded kernel sources (generated from cl/kernels/score.cl and compact.cl). */
extern const char vs__cl_source_score[];
extern const size_t vs__cl_source_score_length;
extern const char vs__cl_source_compact[];
extern const size_t vs__cl_source_compact_length;

#endif /* VS_CL_INTERNAL_H */
