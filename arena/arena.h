/*
 * arena.h — a bump arena over one contiguous region that is reserved up
 * front and committed as it is used.
 *
 * Layout of one arena:
 *
 *   base                      base + offset     base + committed    base + capacity
 *   |<- live allocations ------>|<- free, poisoned ->|<- reserved only ---->|
 *   | [pad][alloc 0] [pad]...   |   (committed)      |  (no memory behind)  |
 *                  ^ mark() returns the offset here; release(mark) rewinds to it
 *
 *   - capacity is address space, reserved at init: it costs no memory.
 *     Memory is committed when an allocation first reaches it, in steps
 *     (at least VS_ARENA_COMMIT_STEP, and at least a quarter of what is
 *     already committed, so a large batch takes few steps), and each step
 *     is locked with mlock while the arena's lock budget allows (best
 *     effort; the stats say how much is locked).
 *   - alloc: round offset up to the requested power-of-two alignment, bump,
 *     commit if the end passes the committed size. Aligned relative to the
 *     absolute address, so any backing works.
 *   - reset: offset = 0, O(1); committed memory stays for the next batch.
 *     release(mark): offset = mark, O(1).
 *   - trim(keep): gives committed memory above max(offset, keep) back to
 *     the system (the reservation stays); the owner decides when (host/
 *     trims idle workspaces).
 *   - A failed allocation (does not fit the capacity, or the system refused
 *     to commit) returns NULL and sets the sticky `failed` flag, which only
 *     reset() clears: a batch checks it once at the end instead of after
 *     every call, and can never miss an exhaustion.
 *   - Statistics: high-water offset, committed and locked bytes, commit
 *     steps, allocations, overflows, resets.
 *   - Under AddressSanitizer, free space is poisoned: touching memory past
 *     the bump offset, or memory released by reset/release, is reported.
 *
 * Backing memory comes from a vs_pinned_block (pinned.h): reserved pages
 * committed on demand, or a fixed block such as a mapped OpenCL
 * CL_MEM_ALLOC_HOST_PTR buffer, which is committed from the start.
 *
 * An arena is not thread-safe; each worker thread owns its own.
 */
#ifndef VS_ARENA_H
#define VS_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "pinned.h"

#define VS_ARENA_DEFAULT_ALIGN 64
#define VS_ARENA_COMMIT_STEP ((size_t)64 << 10) /* smallest commit step */

typedef struct vs_arena_stats {
    size_t capacity;   /* reserved bytes */
    size_t high_water; /* largest offset reached since the stats were cleared */
    size_t committed;  /* bytes with memory behind them now */
    size_t locked;     /* bytes locked now (a prefix of committed) */
    uint64_t commits;  /* commit steps taken (growing) */
    uint64_t allocations;
    uint64_t overflows; /* allocations that did not fit (capacity or commit) */
    uint64_t resets;
    int pinned; /* 1 if every committed page is locked (and some are committed) */
} vs_arena_stats;

typedef struct vs_arena {
    unsigned char *base;
    size_t capacity;
    size_t offset;
    size_t align; /* default alignment, a power of two */
    int failed;   /* sticky: set by a failed allocation, cleared by reset */
    vs_arena_stats stats;
    vs_pinned_block block;
} vs_arena;

/*
 * Makes an arena over capacity bytes of reserved address space (rounded up
 * to the page size); nothing is committed until used. Committed steps are
 * locked while budget allows (NULL: never locked). align is the default
 * alignment (0 = 64), a power of two.
 * Returns 0 or VS_ERR_INVALID_ARGUMENT / VS_ERR_OUT_OF_MEMORY.
 */
int vs_arena_reserve(vs_arena *arena, size_t capacity, size_t align, vs_lock_budget *budget);

/* vs_arena_reserve without locking. */
int vs_arena_init(vs_arena *arena, size_t capacity, size_t align);

/* Makes an arena over a block the caller obtained; the arena takes ownership. */
int vs_arena_init_block(vs_arena *arena, vs_pinned_block block, size_t align);

/* Releases the backing block. Safe on a zeroed arena. */
void vs_arena_destroy(vs_arena *arena);

/* bytes at the default alignment; NULL (and failed = 1) if it does not fit. */
void *vs_arena_alloc(vs_arena *arena, size_t bytes);

/* bytes at align (a power of two); NULL (and failed = 1) if it does not fit. */
void *vs_arena_alloc_aligned(vs_arena *arena, size_t bytes, size_t align);

/* Allocates count * size bytes, checking the product for overflow. */
void *vs_arena_alloc_array(vs_arena *arena, size_t count, size_t size);

/* The current offset, to rewind to with vs_arena_release. */
size_t vs_arena_mark(const vs_arena *arena);

/* Rewinds to mark (which must be <= the current offset); poisons the rest. */
void vs_arena_release(vs_arena *arena, size_t mark);

/* Rewinds to 0, clears the failed flag, counts a reset. O(1) (plus poisoning). */
void vs_arena_reset(vs_arena *arena);

/*
 * Gives back committed memory above max(offset, keep) (rounded up to the
 * commit step); what is live is never touched. Returns the bytes given back
 * (0 for fixed blocks).
 */
size_t vs_arena_trim(vs_arena *arena, size_t keep);

/* Bytes an allocation at align could still get. */
size_t vs_arena_remaining(const vs_arena *arena, size_t align);

/* 1 if an allocation failed since the last reset. */
int vs_arena_failed(const vs_arena *arena);

/* Clears high_water to the current offset (start of a batch's measurement). */
void vs_arena_stats_clear_high_water(vs_arena *arena);

/*
 * Consistency check used by tests and debug builds: base/capacity/offset
 * agree, alignment is a power of two, high-water >= offset, live memory is
 * committed, locked <= committed <= capacity. Returns 0 when consistent,
 * else a negative number identifying the first broken rule.
 */
int vs_arena_check(const vs_arena *arena);

#endif /* VS_ARENA_H */
