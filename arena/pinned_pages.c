/* pinned_pages.c — page-aligned, best-effort locked backing for arenas. */
#define _GNU_SOURCE
#include "pinned.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vecscore.h"

static void pages_release(vs_pinned_block *block) {
    if (block->locked) munlock(block->ptr, block->bytes);
    munmap(block->ptr, block->bytes);
}

int vs__pinned_pages_alloc(size_t bytes, vs_pinned_block *out) {
    memset(out, 0, sizeof(*out));
    long page = sysconf(_SC_PAGESIZE);
    size_t page_size = page > 0 ? (size_t)page : 4096;
    if (bytes == 0 || bytes > SIZE_MAX - page_size) return VS_ERR_INVALID_ARGUMENT;
    size_t rounded = (bytes + page_size - 1) / page_size * page_size;
    void *ptr = mmap(NULL, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ptr == MAP_FAILED) return VS_ERR_OUT_OF_MEMORY;
    out->ptr = ptr;
    out->bytes = rounded;
    /* Best effort: mlock fails with ENOMEM/EPERM above RLIMIT_MEMLOCK; the
     * pages then stay ordinary and `locked` says so. */
    out->locked = mlock(ptr, rounded) == 0;
    out->release = pages_release;
    return VS_OK;
}

void vs__pinned_release(vs_pinned_block *block) {
    if (block == NULL || block->ptr == NULL || block->release == NULL) return;
    block->release(block);
    memset(block, 0, sizeof(*block));
}
