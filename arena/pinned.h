/*
 * pinned.h — the platform primitive behind arena backing memory.
 *
 * A vs_pinned_block is a region plus the functions that manage it. Two kinds
 * exist:
 *
 *   - reserve-and-commit pages (pinned_pages.c): the whole region is reserved
 *     as address space only (PROT_NONE, no memory behind it); commit() makes
 *     a prefix of it usable, in page multiples, and gives memory back when
 *     the prefix shrinks. Newly committed pages are locked with mlock while
 *     the block's lock budget allows and the kernel agrees (best effort,
 *     reported in locked_bytes and `locked`); a block without a budget never
 *     locks.
 *   - fixed blocks (commit == NULL): every byte is usable from the start,
 *     e.g. the OpenCL backend's mapped CL_MEM_ALLOC_HOST_PTR buffer
 *     (cl/pinned_cl.c) or memory a test made.
 *
 *   ptr                     ptr + committed                    ptr + bytes
 *   |<- locked_bytes ->|       |                                   |
 *   |<------ committed (read/write) --->|<--- reserved (PROT_NONE) --->|
 *
 * Locked memory is a prefix: once a step cannot be locked, later steps are
 * not locked either, until the block shrinks below the locked part.
 */
#ifndef VS_PINNED_H
#define VS_PINNED_H

#include <stdatomic.h>
#include <stddef.h>

/*
 * A cap on locked bytes shared by several blocks (one per context): blocks
 * take from it before mlock and give back on munlock. Thread-safe.
 */
typedef struct vs_lock_budget {
    size_t cap;
    atomic_size_t used;
} vs_lock_budget;

typedef struct vs_pinned_block {
    void *ptr;
    size_t bytes; /* reserved size (page multiple for pages) */
    int locked;   /* 1 if committed > 0 and every committed byte is locked */
    void (*release)(struct vs_pinned_block *block);
    void *handle; /* owner-specific (e.g. the cl_mem) */
    /*
     * Sets the committed prefix to `bytes` (a page multiple <= the reserved
     * size), growing or shrinking it. NULL for fixed blocks. Returns 0 or
     * VS_ERR_OUT_OF_MEMORY (nothing changed).
     */
    int (*commit)(struct vs_pinned_block *block, size_t bytes);
    size_t committed;       /* usable prefix; fixed blocks: bytes */
    size_t locked_bytes;    /* locked prefix, <= committed */
    vs_lock_budget *budget; /* NULL: never lock */
} vs_pinned_block;

/*
 * Reserves bytes (rounded up to the page size) of address space; nothing is
 * committed or locked yet. Returns 0, VS_ERR_INVALID_ARGUMENT (0 bytes, or a
 * size that cannot be rounded) or VS_ERR_OUT_OF_MEMORY (no address space).
 */
int vs__pinned_pages_alloc(size_t bytes, vs_lock_budget *budget, vs_pinned_block *out);

/* Releases a block through its own release function. NULL-safe, idempotent. */
void vs__pinned_release(vs_pinned_block *block);

/* The system page size. */
size_t vs__page_size(void);

/* Bytes from which vs__alloc_large asks for transparent huge pages. */
#define VS_LARGE_HUGE_MIN ((size_t)16 << 20)
#define VS_LARGE_HUGE_ALIGN ((size_t)2 << 20)

/*
 * A large read-mostly buffer (a packed corpus), freed with free(); NULL when
 * out of memory (or bytes is 0). Below VS_LARGE_HUGE_MIN it is
 * aligned_alloc(64, bytes rounded up to 64). From there up it is aligned to
 * and rounded up to 2 MiB (at most 1/8 more) and advised MADV_HUGEPAGE, best
 * effort: with THP set to "madvise" (a common default) the kernel then backs
 * it with 2 MiB pages where it can, so a stream over it takes one TLB entry
 * per 2 MiB instead of per 4 KiB, and the hardware prefetchers, which stop at
 * page boundaries, are not stopped every 4 KiB. Where the kernel lacks THP
 * or the advice fails, the buffer is the same memory on small pages.
 * *advised (may be NULL) is set to 1 when the advice was taken.
 */
void *vs__alloc_large(size_t bytes, int *advised);

/* Takes bytes from a budget if they fit under its cap; 1 if taken. */
int vs__lock_budget_take(vs_lock_budget *budget, size_t bytes);
/* Gives bytes back to a budget. */
void vs__lock_budget_give(vs_lock_budget *budget, size_t bytes);

#endif /* VS_PINNED_H */
