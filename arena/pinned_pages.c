/*
 * pinned_pages.c — reserved address space, committed in page multiples and
 * locked (best effort, within a budget) as it is committed. See pinned.h.
 */
#define _GNU_SOURCE
#include "pinned.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vecscore.h"

size_t vs__page_size(void) {
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (size_t)page : 4096;
}

void *vs__alloc_large(size_t bytes, int *advised) {
    if (advised != NULL) *advised = 0;
    if (bytes == 0 || bytes > SIZE_MAX - VS_LARGE_HUGE_ALIGN) return NULL;
    if (bytes < VS_LARGE_HUGE_MIN) return aligned_alloc(64, (bytes + 63) / 64 * 64);
    const size_t rounded =
        (bytes + VS_LARGE_HUGE_ALIGN - 1) / VS_LARGE_HUGE_ALIGN * VS_LARGE_HUGE_ALIGN;
    void *ptr = aligned_alloc(VS_LARGE_HUGE_ALIGN, rounded);
#ifdef MADV_HUGEPAGE
    /* Before the first touch, so the first faults can already take huge pages. */
    if (ptr != NULL && madvise(ptr, rounded, MADV_HUGEPAGE) == 0 && advised != NULL) *advised = 1;
#endif
    return ptr;
}

int vs__lock_budget_take(vs_lock_budget *budget, size_t bytes) {
    size_t used = atomic_load_explicit(&budget->used, memory_order_relaxed);
    do {
        if (bytes > budget->cap || used > budget->cap - bytes) return 0;
    } while (!atomic_compare_exchange_weak_explicit(&budget->used, &used, used + bytes,
                                                    memory_order_relaxed, memory_order_relaxed));
    return 1;
}

void vs__lock_budget_give(vs_lock_budget *budget, size_t bytes) {
    atomic_fetch_sub_explicit(&budget->used, bytes, memory_order_relaxed);
}

static void update_locked_flag(vs_pinned_block *block) {
    block->locked = block->committed > 0 && block->locked_bytes == block->committed;
}

static void unlock_from(vs_pinned_block *block, size_t keep) {
    if (block->locked_bytes <= keep) return;
    munlock((unsigned char *)block->ptr + keep, block->locked_bytes - keep);
    if (block->budget != NULL) vs__lock_budget_give(block->budget, block->locked_bytes - keep);
    block->locked_bytes = keep;
}

static int pages_commit(vs_pinned_block *block, size_t bytes) {
    unsigned char *base = block->ptr;
    const size_t committed = block->committed;
    if (bytes > block->bytes) return VS_ERR_OUT_OF_MEMORY;
    if (bytes > committed) {
        if (mprotect(base + committed, bytes - committed, PROT_READ | PROT_WRITE) != 0)
            return VS_ERR_OUT_OF_MEMORY;
        /* Lock the new step only if everything below it is locked (a locked prefix). */
        const size_t step = bytes - committed;
        if (block->budget != NULL && block->locked_bytes == committed &&
            vs__lock_budget_take(block->budget, step)) {
            /* mlock fails with ENOMEM/EPERM above RLIMIT_MEMLOCK: the pages stay ordinary. */
            if (mlock(base + committed, step) == 0)
                block->locked_bytes = bytes;
            else
                vs__lock_budget_give(block->budget, step);
        }
    } else if (bytes < committed) {
        unlock_from(block, bytes);
        /* Mapping fresh PROT_NONE pages over the tail frees its memory at once. */
        void *tail = mmap(base + bytes, committed - bytes, PROT_NONE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
        if (tail == MAP_FAILED) {
            madvise(base + bytes, committed - bytes, MADV_DONTNEED);
            mprotect(base + bytes, committed - bytes, PROT_NONE);
        }
    }
    block->committed = bytes;
    update_locked_flag(block);
    return VS_OK;
}

static void pages_release(vs_pinned_block *block) {
    unlock_from(block, 0);
    munmap(block->ptr, block->bytes);
}

int vs__pinned_pages_alloc(size_t bytes, vs_lock_budget *budget, vs_pinned_block *out) {
    memset(out, 0, sizeof(*out));
    const size_t page_size = vs__page_size();
    if (bytes == 0 || bytes > SIZE_MAX - page_size) return VS_ERR_INVALID_ARGUMENT;
    size_t rounded = (bytes + page_size - 1) / page_size * page_size;
    /* Address space only: no memory, no commit charge, until commit(). */
    void *ptr = mmap(NULL, rounded, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ptr == MAP_FAILED) return VS_ERR_OUT_OF_MEMORY;
    out->ptr = ptr;
    out->bytes = rounded;
    out->release = pages_release;
    out->commit = pages_commit;
    out->budget = budget;
    return VS_OK;
}

void vs__pinned_release(vs_pinned_block *block) {
    if (block == NULL || block->ptr == NULL || block->release == NULL) return;
    block->release(block);
    memset(block, 0, sizeof(*block));
}
