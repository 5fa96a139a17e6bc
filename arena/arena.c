/* arena.c — bump arena; see arena.h for the layout and the rules. */
#include "arena.h"

#include <string.h>

#include "vecscore.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VS_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define VS_ASAN 1
#endif

#ifdef VS_ASAN
#include <sanitizer/asan_interface.h>
#define VS_POISON(ptr, size) ASAN_POISON_MEMORY_REGION((ptr), (size))
#define VS_UNPOISON(ptr, size) ASAN_UNPOISON_MEMORY_REGION((ptr), (size))
#else
#define VS_POISON(ptr, size) ((void)(ptr), (void)(size))
#define VS_UNPOISON(ptr, size) ((void)(ptr), (void)(size))
#endif

static int is_pow2(size_t value) {
    return value != 0 && (value & (value - 1)) == 0;
}

static void sync_block_stats(vs_arena *arena) {
    arena->stats.committed = arena->block.committed;
    arena->stats.locked = arena->block.locked_bytes;
    arena->stats.pinned = arena->block.locked;
}

int vs_arena_init_block(vs_arena *arena, vs_pinned_block block, size_t align) {
    if (arena == NULL) return VS_ERR_INVALID_ARGUMENT;
    memset(arena, 0, sizeof(*arena));
    if (align == 0) align = VS_ARENA_DEFAULT_ALIGN;
    if (!is_pow2(align) || block.ptr == NULL) {
        vs__pinned_release(&block);
        return VS_ERR_INVALID_ARGUMENT;
    }
    if (block.commit == NULL) {
        /* A fixed block: all of it is usable (and locked if the block says so). */
        block.committed = block.bytes;
        block.locked_bytes = block.locked ? block.bytes : 0;
    }
    arena->block = block;
    arena->base = block.ptr;
    arena->capacity = block.bytes;
    arena->align = align;
    arena->stats.capacity = block.bytes;
    sync_block_stats(arena);
    /* Only committed memory is poisoned: the rest faults anyway, and its shadow stays untouched. */
    VS_POISON(arena->base, arena->block.committed);
    return VS_OK;
}

int vs_arena_reserve(vs_arena *arena, size_t capacity, size_t align, vs_lock_budget *budget) {
    if (arena == NULL) return VS_ERR_INVALID_ARGUMENT;
    memset(arena, 0, sizeof(*arena));
    vs_pinned_block block;
    int status = vs__pinned_pages_alloc(capacity, budget, &block);
    if (status != VS_OK) return status;
    return vs_arena_init_block(arena, block, align);
}

int vs_arena_init(vs_arena *arena, size_t capacity, size_t align) {
    return vs_arena_reserve(arena, capacity, align, NULL);
}

void vs_arena_destroy(vs_arena *arena) {
    if (arena == NULL) return;
    if (arena->base != NULL) VS_UNPOISON(arena->base, arena->block.committed);
    vs__pinned_release(&arena->block);
    memset(arena, 0, sizeof(*arena));
}

static size_t round_up(size_t value, size_t step) {
    size_t rounded = (value + step - 1) / step * step;
    return rounded < value ? SIZE_MAX : rounded;
}

/* Commits memory up to at least `end` (<= capacity); 1 on success. */
static int commit_to(vs_arena *arena, size_t end) {
    vs_pinned_block *block = &arena->block;
    if (end <= block->committed) return 1;
    if (block->commit == NULL) return 0;
    /* Grow by at least a quarter, so that a large batch takes few steps. */
    size_t target = block->committed + block->committed / 4;
    if (target < end) target = end;
    target = round_up(target, VS_ARENA_COMMIT_STEP);
    if (target > arena->capacity) target = arena->capacity;
    const size_t before = block->committed;
    if (block->commit(block, target) != VS_OK) return 0;
    VS_POISON(arena->base + before, block->committed - before); /* free until allocated */
    arena->stats.commits++;
    sync_block_stats(arena);
    return 1;
}

size_t vs_arena_trim(vs_arena *arena, size_t keep) {
    if (arena == NULL || arena->base == NULL || arena->block.commit == NULL) return 0;
    if (keep < arena->offset) keep = arena->offset;
    size_t target = round_up(keep, VS_ARENA_COMMIT_STEP);
    if (target > arena->capacity) target = arena->capacity;
    const size_t before = arena->block.committed;
    if (target >= before) return 0;
    if (arena->block.commit(&arena->block, target) != VS_OK) return 0;
    VS_UNPOISON(arena->base + target, before - target); /* reserved again: faults, no shadow */
    sync_block_stats(arena);
    return before - arena->block.committed;
}

/* Offset at which an allocation aligned to align would start, or SIZE_MAX. */
static size_t aligned_offset(const vs_arena *arena, size_t align) {
    uintptr_t address = (uintptr_t)arena->base + arena->offset;
    uintptr_t aligned = (address + (align - 1)) & ~(uintptr_t)(align - 1);
    if (aligned < address) return SIZE_MAX;
    return arena->offset + (size_t)(aligned - address);
}

void *vs_arena_alloc_aligned(vs_arena *arena, size_t bytes, size_t align) {
    if (arena == NULL || arena->base == NULL || !is_pow2(align)) {
        if (arena != NULL) arena->failed = 1;
        return NULL;
    }
    size_t start = aligned_offset(arena, align);
    if (start > arena->capacity || bytes > arena->capacity - start ||
        !commit_to(arena, start + bytes)) {
        arena->failed = 1;
        arena->stats.overflows++;
        return NULL;
    }
    unsigned char *ptr = arena->base + start;
    arena->offset = start + bytes;
    arena->stats.allocations++;
    if (arena->offset > arena->stats.high_water) arena->stats.high_water = arena->offset;
    VS_UNPOISON(ptr, bytes);
    return ptr;
}

void *vs_arena_alloc(vs_arena *arena, size_t bytes) {
    return vs_arena_alloc_aligned(arena, bytes, arena != NULL ? arena->align : 1);
}

void *vs_arena_alloc_array(vs_arena *arena, size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) {
        if (arena != NULL) {
            arena->failed = 1;
            arena->stats.overflows++;
        }
        return NULL;
    }
    return vs_arena_alloc(arena, count * size);
}

size_t vs_arena_mark(const vs_arena *arena) {
    return arena->offset;
}

void vs_arena_release(vs_arena *arena, size_t mark) {
    if (mark > arena->offset) return; /* a mark from the future: ignore, check() stays clean */
    VS_POISON(arena->base + mark, arena->block.committed - mark);
    arena->offset = mark;
}

void vs_arena_reset(vs_arena *arena) {
    if (arena->base != NULL) VS_POISON(arena->base, arena->block.committed);
    arena->offset = 0;
    arena->failed = 0;
    arena->stats.resets++;
}

size_t vs_arena_remaining(const vs_arena *arena, size_t align) {
    if (arena->base == NULL || !is_pow2(align)) return 0;
    size_t start = aligned_offset(arena, align);
    return start >= arena->capacity ? 0 : arena->capacity - start;
}

int vs_arena_failed(const vs_arena *arena) {
    return arena->failed;
}

void vs_arena_stats_clear_high_water(vs_arena *arena) {
    arena->stats.high_water = arena->offset;
}

int vs_arena_check(const vs_arena *arena) {
    if (arena == NULL) return -1;
    if (arena->base == NULL) return (arena->capacity == 0 && arena->offset == 0) ? 0 : -2;
    if (!is_pow2(arena->align)) return -3;
    if (arena->offset > arena->capacity) return -4;
    if (arena->stats.high_water < arena->offset) return -5;
    if (arena->stats.high_water > arena->capacity) return -6;
    if (arena->stats.capacity != arena->capacity) return -7;
    if (arena->block.ptr != arena->base || arena->block.bytes != arena->capacity) return -8;
    if (arena->block.committed > arena->capacity || arena->offset > arena->block.committed)
        return -9;
    if (arena->block.locked_bytes > arena->block.committed) return -10;
    if (arena->stats.committed != arena->block.committed ||
        arena->stats.locked != arena->block.locked_bytes)
        return -11;
    return 0;
}
