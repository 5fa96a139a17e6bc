/*
 * pinned.h — the platform primitive behind arena backing memory.
 *
 * A vs_pinned_block is a region plus the function that gives it back. One
 * implementation lives here (page-aligned anonymous pages, locked with mlock
 * when RLIMIT_MEMLOCK allows; best effort, reported in `locked`); the OpenCL
 * backend adds another (a CL_MEM_ALLOC_HOST_PTR buffer kept mapped) that
 * fills the same struct.
 */
#ifndef VS_PINNED_H
#define VS_PINNED_H

#include <stddef.h>

typedef struct vs_pinned_block {
    void *ptr;
    size_t bytes;
    int locked; /* 1 if the pages are locked in memory */
    void (*release)(struct vs_pinned_block *block);
    void *handle; /* owner-specific (e.g. the cl_mem) */
} vs_pinned_block;

/* Page-aligned pages, mlock'd when allowed. Returns 0 or VS_ERR_OUT_OF_MEMORY. */
int vs__pinned_pages_alloc(size_t bytes, vs_pinned_block *out);

/* Releases a block through its own release function. NULL-safe, idempotent. */
void vs__pinned_release(vs_pinned_block *block);

#endif /* VS_PINNED_H */
