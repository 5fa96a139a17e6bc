/*
 * arena.h — a bump arena over one contiguous, pinned region.
 *
 * Layout of one arena:
 *
 *   base                                   base + offset        base + capacity
 *   |<- live allocations (bump order) ------>|<- free (poisoned) ---->|
 *   | [pad][alloc 0] [pad][alloc 1] ...      |                        |
 *                  ^ mark()  returns the offset here; release(mark) rewinds to it
 *
 *   - alloc: round offset up to the requested power-of-two alignment, bump.
 *     Aligned relative to the absolute address, so any backing works.
 *   - reset: offset = 0, O(1). release(mark): offset = mark, O(1).
 *   - A failed allocation returns NULL and sets the sticky `failed` flag,
 *     which only reset() clears: a batch checks it once at the end instead of
 *     after every call, and can never miss an exhaustion.
 *   - Statistics: high-water offset, allocations, overflows, resets.
 *   - Under AddressSanitizer, free space is poisoned: touching memory past
 *     the bump offset, or memory released by reset/release, is reported.
 *
 * Backing memory comes from a vs_pinned_block (pinned.h): page-aligned pages
 * locked with mlock when the limit allows, or (OpenCL backend) a mapped
 * CL_MEM_ALLOC_HOST_PTR buffer. The arena does not care which.
 *
 * An arena is not thread-safe; each worker thread owns its own.
 */
#ifndef VS_ARENA_H
#define VS_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "pinned.h"

#define VS_ARENA_DEFAULT_ALIGN 64

typedef struct vs_arena_stats {
    size_t capacity;
    size_t high_water; /* largest offset reached since the stats were cleared */
    uint64_t allocations;
    uint64_t overflows; /* allocations that did not fit */
    uint64_t resets;
    int pinned; /* 1 if the backing pages are locked */
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
 * Makes an arena over a new pinned block of capacity bytes (rounded up to
 * the page size). align is the default alignment (0 = 64), a power of two.
 * Returns 0 or VS_ERR_INVALID_ARGUMENT / VS_ERR_OUT_OF_MEMORY.
 */
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

/* Bytes an allocation at align could still get. */
size_t vs_arena_remaining(const vs_arena *arena, size_t align);

/* 1 if an allocation failed since the last reset. */
int vs_arena_failed(const vs_arena *arena);

/* Clears high_water to the current offset (start of a batch's measurement). */
void vs_arena_stats_clear_high_water(vs_arena *arena);

/*
 * Consistency check used by tests and debug builds: base/capacity/offset
 * agree, alignment is a power of two, high-water >= offset. Returns 0 when
 * consistent, else a negative number identifying the first broken rule.
 */
int vs_arena_check(const vs_arena *arena);

#endif /* VS_ARENA_H */
