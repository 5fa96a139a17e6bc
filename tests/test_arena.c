/*
 * test_arena.c — the bump arena (arena/arena.h) over pinned pages
 * (arena/pinned.h): sizes, alignment, exhaustion and the sticky failed flag,
 * overflow-checked arrays, marks, reset, statistics, caller-made blocks, and
 * two threads with one arena each. vs_arena_check() must pass after every
 * operation.
 *
 * The memory model: capacity is reserved address space (no resident memory,
 * not usable until committed), commits grow in bounded steps, trim gives
 * memory back, locking stays within a shared budget; a context's memory
 * grows with use (RSS measured from /proc/self/statm), concurrent callers
 * hold what their batches need and idle workspaces give memory back; the
 * lock_bytes option and VECSCORE_LOCK_BYTES cap locked memory.
 */
#define _GNU_SOURCE

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arena/arena.h"
#include "arena/pinned.h"
#include "host/internal.h"
#include "vecscore.h"

#define CHECK(arena) assert_int_equal(vs_arena_check(arena), 0)

static size_t page_size(void) {
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (size_t)page : 4096;
}

/* 1 if [ptr, ptr + bytes) lies inside the arena's region. */
static int inside(const vs_arena *arena, const void *ptr, size_t bytes) {
    const unsigned char *p = ptr;
    return p >= arena->base && p <= arena->base + arena->capacity &&
           bytes <= (size_t)(arena->base + arena->capacity - p);
}

/* 1 if the page at ptr is mapped in this process (msync fails with ENOMEM otherwise). */
static int page_mapped(void *ptr) {
    errno = 0;
    if (msync(ptr, page_size(), MS_ASYNC) == 0) return 1;
    return errno != ENOMEM;
}

/* Resident bytes of this process (/proc/self/statm, second field). */
static size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f == NULL) fail_msg("cannot open /proc/self/statm");
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) fail_msg("cannot parse /proc/self/statm");
    fclose(f);
    return (size_t)resident * page_size();
}

/*
 * 1 if this process's RSS is the tests' own. Under user-mode emulation
 * (scripts/test-arm.sh sets VECSCORE_TEST_EMULATED=1) /proc/self/statm is
 * the emulator's, which maps guest reservations and its translation cache
 * itself, so the RSS bounds are checked natively only (every native run,
 * CI included); every other assertion of these tests still runs.
 */
static int rss_is_ours(void) {
    const char *emulated = getenv("VECSCORE_TEST_EMULATED");
    if (emulated == NULL || strcmp(emulated, "0") == 0) return 1;
    if (strcmp(emulated, "1") != 0)
        fail_msg("VECSCORE_TEST_EMULATED='%s': expected 0 or 1", emulated);
    printf("# RSS bounds not checked under emulation (VECSCORE_TEST_EMULATED=1)\n");
    return 0;
}

/* 1 if this process may lock a page (root, or RLIMIT_MEMLOCK room). */
static int can_lock(void) {
    void *page =
        mmap(NULL, page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return 0;
    int locked = mlock(page, page_size()) == 0;
    munmap(page, page_size());
    return locked;
}

/* 1 if writing at ptr faults (checked in a child process, which the fault kills). */
static int write_faults(unsigned char *ptr) {
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 2); /* a sanitizer's report of the fault is expected */
        signal(SIGSEGV, SIG_DFL);     /* not cmocka's handler, which would go on testing */
        signal(SIGBUS, SIG_DFL);
        *(volatile unsigned char *)ptr = 1;
        _exit(0);
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child) fail_msg("fork/waitpid failed");
    return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- init ------------------------------------------------------------------- */

static void test_init_rounds_capacity(void **state) {
    (void)state;
    const size_t page = page_size();
    vs_arena arena;

    assert_int_equal(vs_arena_init(&arena, page + 1, 0), VS_OK);
    CHECK(&arena);
    assert_non_null(arena.base);
    assert_int_equal(arena.capacity, 2 * page);
    assert_int_equal(arena.capacity % page, 0);
    assert_int_equal((uintptr_t)arena.base % page, 0);
    assert_int_equal(arena.align, VS_ARENA_DEFAULT_ALIGN);
    assert_int_equal(VS_ARENA_DEFAULT_ALIGN, 64);
    assert_int_equal(arena.offset, 0);
    assert_int_equal(arena.failed, 0);
    assert_int_equal(vs_arena_failed(&arena), 0);
    assert_int_equal(arena.stats.capacity, arena.capacity);
    assert_int_equal(arena.stats.high_water, 0);
    assert_int_equal(arena.stats.allocations, 0);
    assert_int_equal(arena.stats.overflows, 0);
    assert_int_equal(arena.stats.resets, 0);
    /* mlock is best effort: only require that the stats tell the truth. */
    assert_true(arena.block.locked == 0 || arena.block.locked == 1);
    assert_int_equal(arena.stats.pinned, arena.block.locked);
    assert_int_equal(vs_arena_remaining(&arena, 1), arena.capacity);
    vs_arena_destroy(&arena);
    CHECK(&arena);

    assert_int_equal(vs_arena_init(&arena, 1, 0), VS_OK);
    CHECK(&arena);
    assert_int_equal(arena.capacity, page);
    vs_arena_destroy(&arena);

    assert_int_equal(vs_arena_init(&arena, 3 * page, 128), VS_OK);
    CHECK(&arena);
    assert_int_equal(arena.capacity, 3 * page);
    assert_int_equal(arena.align, 128);
    void *p = vs_arena_alloc_aligned(&arena, 1, 1); /* offset 1 */
    assert_non_null(p);
    void *q = vs_arena_alloc(&arena, 8); /* default alignment 128 */
    assert_non_null(q);
    assert_int_equal((uintptr_t)q % 128, 0);
    assert_int_equal((unsigned char *)q - arena.base, 128);
    CHECK(&arena);
    vs_arena_destroy(&arena);
}

static void test_init_invalid_align(void **state) {
    (void)state;
    vs_arena arena;
    assert_int_equal(vs_arena_init(&arena, 4096, 3), VS_ERR_INVALID_ARGUMENT);
    assert_null(arena.base);
    CHECK(&arena);
    vs_arena_destroy(&arena);
    assert_int_equal(vs_arena_init(&arena, 4096, 48), VS_ERR_INVALID_ARGUMENT);
    assert_null(arena.base);
    CHECK(&arena);
    assert_int_equal(vs_arena_init(NULL, 4096, 0), VS_ERR_INVALID_ARGUMENT);
}

static void test_init_too_large(void **state) {
    (void)state;
    vs_arena arena;
    /* 2^60 bytes exceeds any user address space: the mapping must fail cleanly. */
    int status = vs_arena_init(&arena, (size_t)1 << 60, 0);
    assert_int_equal(status, VS_ERR_OUT_OF_MEMORY);
    assert_null(arena.base);
    CHECK(&arena);
    /* A size whose page rounding would wrap is refused, not wrapped. */
    status = vs_arena_init(&arena, SIZE_MAX, 0);
    assert_true(status == VS_ERR_INVALID_ARGUMENT || status == VS_ERR_OUT_OF_MEMORY);
    assert_null(arena.base);
    CHECK(&arena);
    vs_arena_destroy(&arena);
}

/* ---- allocation and alignment ----------------------------------------------- */

static void test_alignments_distinct_regions(void **state) {
    (void)state;
    static const size_t aligns[] = {1, 2, 8, 64, 256, 4096};
    static const size_t sizes[] = {3, 5, 17, 100, 301, 777};
    enum { NA = sizeof(aligns) / sizeof(aligns[0]), ROUNDS = 3, N = NA * ROUNDS };
    vs_arena arena;
    assert_int_equal(vs_arena_init(&arena, 64 * 1024, 0), VS_OK);
    CHECK(&arena);

    unsigned char *ptrs[N];
    size_t lens[N];
    size_t n = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < NA; i++) {
            size_t align = aligns[i], bytes = sizes[(i + (size_t)round) % NA];
            size_t before = arena.offset;
            unsigned char *p = vs_arena_alloc_aligned(&arena, bytes, align);
            CHECK(&arena);
            if (p == NULL) fail_msg("alloc %zu at align %zu failed", bytes, align);
            if ((uintptr_t)p % align != 0) fail_msg("%p not aligned to %zu", (void *)p, align);
            assert_true(inside(&arena, p, bytes));
            /* The bump never goes backwards and ends right after this allocation. */
            assert_true((size_t)(p - arena.base) >= before);
            assert_true((size_t)(p - arena.base) - before < align);
            assert_int_equal(arena.offset, (size_t)(p - arena.base) + bytes);
            assert_int_equal(arena.stats.high_water, arena.offset);
            memset(p, (int)(n + 1), bytes);
            ptrs[n] = p;
            lens[n] = bytes;
            n++;
        }
    }
    assert_int_equal(arena.stats.allocations, N);
    assert_int_equal(vs_arena_failed(&arena), 0);

    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            int disjoint = ptrs[i] + lens[i] <= ptrs[j] || ptrs[j] + lens[j] <= ptrs[i];
            if (!disjoint) fail_msg("allocations %zu and %zu overlap", i, j);
        }
        for (size_t b = 0; b < lens[i]; b++)
            if (ptrs[i][b] != (unsigned char)(i + 1))
                fail_msg("allocation %zu byte %zu overwritten", i, b);
    }

    /* Default alignment. */
    unsigned char *d = vs_arena_alloc(&arena, 10);
    CHECK(&arena);
    assert_non_null(d);
    assert_int_equal((uintptr_t)d % VS_ARENA_DEFAULT_ALIGN, 0);
    vs_arena_destroy(&arena);
    CHECK(&arena);
}

static void test_non_power_of_two_alignment(void **state) {
    (void)state;
    vs_arena arena;
    assert_int_equal(vs_arena_init(&arena, 4096, 0), VS_OK);
    assert_non_null(vs_arena_alloc(&arena, 10));
    size_t offset = arena.offset;
    uint64_t allocations = arena.stats.allocations;

    assert_null(vs_arena_alloc_aligned(&arena, 8, 48));
    CHECK(&arena);
    assert_int_equal(vs_arena_failed(&arena), 1);
    assert_int_equal(arena.offset, offset);
    assert_int_equal(arena.stats.allocations, allocations);

    vs_arena_reset(&arena);
    CHECK(&arena);
    assert_int_equal(vs_arena_failed(&arena), 0);
    assert_null(vs_arena_alloc_aligned(&arena, 8, 0));
    CHECK(&arena);
    assert_int_equal(vs_arena_failed(&arena), 1);
    assert_int_equal(vs_arena_remaining(&arena, 48), 0);
    vs_arena_destroy(&arena);
}

static void test_exhaustion_sticky_failed(void **state) {
    (void)state;
    vs_arena arena;
    assert_int_equal(vs_arena_init(&arena, page_size(), 0), VS_OK);
    const size_t cap = arena.capacity;

    unsigned char *first = vs_arena_alloc_aligned(&arena, 1000, 1);
    CHECK(&arena);
    assert_non_null(first);
    memset(first, 0xA5, 1000);
    assert_int_equal(arena.offset, 1000);
    size_t left = vs_arena_remaining(&arena, 1);
    assert_int_equal(left, cap - 1000);

    /* One byte too many: NULL, sticky flag, counted, nothing moved. */
    assert_null(vs_arena_alloc_aligned(&arena, left + 1, 1));
    CHECK(&arena);
    assert_int_equal(vs_arena_failed(&arena), 1);
    assert_int_equal(arena.stats.overflows, 1);
    assert_int_equal(arena.stats.allocations, 1);
    assert_int_equal(arena.offset, 1000);
    assert_int_equal(vs_arena_remaining(&arena, 1), left);

    /* A huge request cannot wrap around. */
    assert_null(vs_arena_alloc(&arena, SIZE_MAX));
    CHECK(&arena);
    assert_int_equal(arena.stats.overflows, 2);
    assert_int_equal(arena.offset, 1000);

    /* A small allocation that fits still works; the flag stays set. */
    unsigned char *small = vs_arena_alloc_aligned(&arena, 16, 1);
    CHECK(&arena);
    assert_non_null(small);
    assert_ptr_equal(small, arena.base + 1000);
    memset(small, 0x5A, 16);
    assert_int_equal(vs_arena_failed(&arena), 1);

    /* Exactly what is left fits. */
    left = vs_arena_remaining(&arena, 1);
    assert_int_equal(left, cap - 1016);
    unsigned char *rest = vs_arena_alloc_aligned(&arena, left, 1);
    CHECK(&arena);
    assert_non_null(rest);
    memset(rest, 0x3C, left);
    assert_int_equal(arena.offset, cap);
    assert_int_equal(vs_arena_remaining(&arena, 1), 0);
    assert_null(vs_arena_alloc_aligned(&arena, 1, 1));
    CHECK(&arena);
    assert_int_equal(arena.stats.overflows, 3);
    assert_int_equal(arena.offset, cap);
    assert_int_equal(vs_arena_failed(&arena), 1);

    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(first[i], 0xA5);
    for (size_t i = 0; i < 16; i++)
        assert_int_equal(small[i], 0x5A);

    vs_arena_reset(&arena);
    CHECK(&arena);
    assert_int_equal(vs_arena_failed(&arena), 0);
    assert_int_equal(arena.offset, 0);
    assert_non_null(vs_arena_alloc(&arena, cap));
    CHECK(&arena);
    assert_int_equal(vs_arena_failed(&arena), 0);
    vs_arena_destroy(&arena);
}

static void test_alloc_array(void **state) {
    (void)state;
    vs_arena arena;
    assert_int_equal(vs_arena_init(&arena, 4096, 0), VS_OK);

    double *values = vs_arena_alloc_array(&arena, 10, sizeof(double));
    CHECK(&arena);
    assert_non_null(values);
    assert_int_equal((uintptr_t)values % VS_ARENA_DEFAULT_ALIGN, 0);
    assert_int_equal(arena.offset, (size_t)((unsigned char *)values - arena.base) + 80);
    for (int i = 0; i < 10; i++)
        values[i] = i * 0.5;
    size_t offset = arena.offset;

    /* count * size wraps around SIZE_MAX: refused before multiplying. */
    assert_null(vs_arena_alloc_array(&arena, SIZE_MAX / 2 + 1, 2));
    CHECK(&arena);
    assert_int_equal(vs_arena_failed(&arena), 1);
    assert_int_equal(arena.offset, offset);
    /* (SIZE_MAX/8 + 2) * 8 wraps to a tiny number that would otherwise fit. */
    assert_null(vs_arena_alloc_array(&arena, SIZE_MAX / 8 + 2, 8));
    CHECK(&arena);
    assert_null(vs_arena_alloc_array(&arena, SIZE_MAX, SIZE_MAX));
    CHECK(&arena);
    assert_int_equal(arena.offset, offset);
    for (int i = 0; i < 10; i++)
        assert_true(values[i] == i * 0.5);

    vs_arena_reset(&arena);
    assert_int_equal(vs_arena_failed(&arena), 0);
    /* Zero-sized products are allowed. */
    assert_non_null(vs_arena_alloc_array(&arena, 0, 8));
    assert_non_null(vs_arena_alloc_array(&arena, 5, 0));
    CHECK(&arena);
    assert_int_equal(vs_arena_failed(&arena), 0);
    vs_arena_destroy(&arena);
}

static void test_zero_byte_allocation(void **state) {
    (void)state;
    vs_arena arena;
    assert_int_equal(vs_arena_init(&arena, 4096, 0), VS_OK);
    void *p = vs_arena_alloc(&arena, 0);
    CHECK(&arena);
    assert_non_null(p);
    assert_int_equal(vs_arena_failed(&arena), 0);
    assert_int_equal(arena.offset, 0);
    assert_int_equal(arena.stats.allocations, 1);
    unsigned char *q = vs_arena_alloc_aligned(&arena, 5, 1);
    assert_non_null(q);
    memset(q, 1, 5);
    void *r = vs_arena_alloc_aligned(&arena, 0, 8);
    CHECK(&arena);
    assert_non_null(r);
    assert_int_equal((uintptr_t)r % 8, 0);
    assert_int_equal(arena.offset, 8);
    assert_int_equal(vs_arena_failed(&arena), 0);
    vs_arena_destroy(&arena);
}

/* ---- marks, reset, statistics ------------------------------------------------ */

static void test_marks(void **state) {
    (void)state;
    vs_arena arena;
    assert_int_equal(vs_arena_init(&arena, 16384, 0), VS_OK);

    unsigned char *keep = vs_arena_alloc_aligned(&arena, 37, 1);
    assert_non_null(keep);
    memset(keep, 0x11, 37);
    CHECK(&arena);

    size_t a = vs_arena_mark(&arena);
    assert_int_equal(a, 37);
    unsigned char *x = vs_arena_alloc_aligned(&arena, 100, 16);
    assert_non_null(x);
    memset(x, 0x22, 100);
    CHECK(&arena);
    size_t b = vs_arena_mark(&arena);
    assert_int_equal(b, arena.offset);
    assert_true(b > a);
    unsigned char *y = vs_arena_alloc_aligned(&arena, 500, 256);
    assert_non_null(y);
    memset(y, 0x33, 500);
    CHECK(&arena);
    size_t high = arena.offset;

    vs_arena_release(&arena, b);
    CHECK(&arena);
    assert_int_equal(arena.offset, b);
    assert_int_equal(vs_arena_mark(&arena), b);
    /* Memory below the mark is untouched. */
    for (int i = 0; i < 100; i++)
        assert_int_equal(x[i], 0x22);
    /* The same request lands at the same place again. */
    unsigned char *y2 = vs_arena_alloc_aligned(&arena, 500, 256);
    assert_ptr_equal(y2, y);
    CHECK(&arena);
    vs_arena_release(&arena, b);
    CHECK(&arena);

    vs_arena_release(&arena, a);
    CHECK(&arena);
    assert_int_equal(arena.offset, a);
    for (int i = 0; i < 37; i++)
        assert_int_equal(keep[i], 0x11);
    assert_int_equal(arena.stats.high_water, high);
    assert_int_equal(vs_arena_failed(&arena), 0);

    /* A mark from the future is ignored. */
    vs_arena_release(&arena, a + 1000);
    CHECK(&arena);
    assert_int_equal(arena.offset, a);
    vs_arena_release(&arena, SIZE_MAX);
    CHECK(&arena);
    assert_int_equal(arena.offset, a);

    /* Release to 0 empties the arena but is not a reset. */
    vs_arena_release(&arena, 0);
    CHECK(&arena);
    assert_int_equal(arena.offset, 0);
    assert_int_equal(arena.stats.resets, 0);
    vs_arena_destroy(&arena);
}

static void test_reset_and_high_water(void **state) {
    (void)state;
    vs_arena arena;
    assert_int_equal(vs_arena_init(&arena, 16384, 0), VS_OK);

    assert_non_null(vs_arena_alloc_aligned(&arena, 1000, 1));
    assert_non_null(vs_arena_alloc_aligned(&arena, 2000, 1));
    CHECK(&arena);
    assert_int_equal(arena.offset, 3000);
    assert_int_equal(arena.stats.high_water, 3000);

    vs_arena_reset(&arena);
    CHECK(&arena);
    assert_int_equal(arena.offset, 0);
    assert_int_equal(arena.stats.resets, 1);
    assert_int_equal(arena.stats.high_water, 3000);
    assert_int_equal(vs_arena_remaining(&arena, 1), arena.capacity);

    assert_non_null(vs_arena_alloc_aligned(&arena, 100, 1));
    CHECK(&arena);
    assert_int_equal(arena.stats.high_water, 3000);
    vs_arena_stats_clear_high_water(&arena);
    CHECK(&arena);
    assert_int_equal(arena.stats.high_water, 100);
    assert_non_null(vs_arena_alloc_aligned(&arena, 50, 1));
    assert_int_equal(arena.stats.high_water, 150);

    vs_arena_reset(&arena);
    vs_arena_reset(&arena);
    CHECK(&arena);
    assert_int_equal(arena.stats.resets, 3);
    assert_int_equal(arena.stats.allocations, 4);
    vs_arena_stats_clear_high_water(&arena);
    CHECK(&arena);
    assert_int_equal(arena.stats.high_water, 0);
    vs_arena_destroy(&arena);
}

static void test_remaining(void **state) {
    (void)state;
    vs_arena arena;
    assert_int_equal(vs_arena_init(&arena, 8192, 0), VS_OK);
    const size_t cap = arena.capacity;
    assert_int_equal(vs_arena_remaining(&arena, 1), cap);
    assert_int_equal(vs_arena_remaining(&arena, 4096), cap);

    size_t total = 0;
    static const size_t sizes[] = {1, 7, 64, 333, 1024};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t before = vs_arena_remaining(&arena, 1);
        assert_non_null(vs_arena_alloc_aligned(&arena, sizes[i], 1));
        CHECK(&arena);
        total += sizes[i];
        assert_int_equal(vs_arena_remaining(&arena, 1), before - sizes[i]);
        assert_int_equal(vs_arena_remaining(&arena, 1), cap - total);
    }
    /* offset is total (1429); at align 64 the next start is 1472. */
    assert_int_equal(vs_arena_remaining(&arena, 64), cap - 1472);
    assert_int_equal(vs_arena_remaining(&arena, 4096), cap - 4096);
    /* What remaining() promises really fits. */
    size_t r = vs_arena_remaining(&arena, 64);
    assert_non_null(vs_arena_alloc_aligned(&arena, r, 64));
    CHECK(&arena);
    assert_int_equal(vs_arena_remaining(&arena, 1), 0);
    assert_int_equal(vs_arena_failed(&arena), 0);
    vs_arena_destroy(&arena);
}

/* ---- lifetime ------------------------------------------------------------------ */

static void test_zeroed_and_destroyed(void **state) {
    (void)state;
    vs_arena zeroed;
    memset(&zeroed, 0, sizeof(zeroed));
    CHECK(&zeroed);
    assert_null(vs_arena_alloc(&zeroed, 8));
    assert_int_equal(vs_arena_remaining(&zeroed, 1), 0);
    vs_arena_destroy(&zeroed);
    CHECK(&zeroed);
    vs_arena_destroy(NULL);
    assert_true(vs_arena_check(NULL) < 0);

    vs_arena arena;
    assert_int_equal(vs_arena_init(&arena, 8192, 0), VS_OK);
    unsigned char *base = arena.base;
    assert_true(page_mapped(base));
    assert_non_null(vs_arena_alloc(&arena, 100));
    vs_arena_destroy(&arena);
    CHECK(&arena);
    assert_null(arena.base);
    assert_int_equal(arena.capacity, 0);
    assert_int_equal(arena.offset, 0);
    assert_false(page_mapped(base)); /* the pages went back */
    vs_arena_destroy(&arena);        /* idempotent */
    CHECK(&arena);
}

static void test_check_detects_corruption(void **state) {
    (void)state;
    vs_arena arena;
    assert_int_equal(vs_arena_init(&arena, 4096, 0), VS_OK);
    assert_non_null(vs_arena_alloc(&arena, 100));
    CHECK(&arena);

    size_t offset = arena.offset;
    arena.offset = arena.capacity + 1;
    assert_true(vs_arena_check(&arena) < 0);
    arena.offset = offset;
    CHECK(&arena);

    size_t high = arena.stats.high_water;
    arena.stats.high_water = offset - 1;
    assert_true(vs_arena_check(&arena) < 0);
    arena.stats.high_water = high;

    arena.align = 48;
    assert_true(vs_arena_check(&arena) < 0);
    arena.align = VS_ARENA_DEFAULT_ALIGN;
    CHECK(&arena);
    vs_arena_destroy(&arena);
}

/* ---- caller-made blocks ----------------------------------------------------------- */

static void test_init_block(void **state) {
    (void)state;
    const size_t page = page_size();
    vs_pinned_block block;
    assert_int_equal(vs__pinned_pages_alloc(2 * page + 5, NULL, &block), VS_OK);
    assert_non_null(block.ptr);
    assert_int_equal(block.bytes, 3 * page);
    assert_int_equal((uintptr_t)block.ptr % page, 0);
    assert_non_null(block.release);
    assert_true(block.locked == 0 || block.locked == 1);
    void *ptr = block.ptr;
    int locked = block.locked;

    vs_arena arena;
    assert_int_equal(vs_arena_init_block(&arena, block, 256), VS_OK);
    CHECK(&arena);
    assert_ptr_equal(arena.base, ptr);
    assert_int_equal(arena.capacity, 3 * page);
    assert_int_equal(arena.align, 256);
    assert_int_equal(arena.stats.pinned, locked);
    unsigned char *p = vs_arena_alloc(&arena, 3 * page - 256);
    CHECK(&arena);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 256, 0);
    memset(p, 0x77, 3 * page - 256);
    assert_int_equal(p[3 * page - 257], 0x77);
    vs_arena_destroy(&arena);
    assert_false(page_mapped(ptr));

    /* A NULL block is refused. */
    vs_pinned_block empty;
    memset(&empty, 0, sizeof(empty));
    assert_int_equal(vs_arena_init_block(&arena, empty, 0), VS_ERR_INVALID_ARGUMENT);
    assert_null(arena.base);
    CHECK(&arena);
    vs_arena_destroy(&arena);

    /* A bad alignment is refused and, since the arena owns the block, released. */
    assert_int_equal(vs__pinned_pages_alloc(page, NULL, &block), VS_OK);
    ptr = block.ptr;
    assert_int_equal(vs_arena_init_block(&arena, block, 24), VS_ERR_INVALID_ARGUMENT);
    assert_null(arena.base);
    CHECK(&arena);
    assert_false(page_mapped(ptr));

    /* An unlocked block (as an OpenCL host buffer would be) reports pinned = 0. */
    assert_int_equal(vs__pinned_pages_alloc(page, NULL, &block), VS_OK);
    if (block.locked) {
        assert_int_equal(munlock(block.ptr, block.bytes), 0);
        block.locked = 0;
    }
    assert_int_equal(vs_arena_init_block(&arena, block, 0), VS_OK);
    CHECK(&arena);
    assert_int_equal(arena.stats.pinned, 0);
    vs_arena_destroy(&arena);

    /* The pinned primitive on its own: release is NULL-safe and idempotent. */
    assert_int_equal(vs__pinned_pages_alloc(1, NULL, &block), VS_OK);
    assert_int_equal(block.bytes, page);
    ptr = block.ptr;
    vs__pinned_release(&block);
    assert_null(block.ptr);
    assert_false(page_mapped(ptr));
    vs__pinned_release(&block);
    vs__pinned_release(NULL);
}

/* A block over malloc'd memory starting 8 bytes past a 64-byte boundary. */
static void heap_block_release(vs_pinned_block *block) {
    free(block->handle);
}

static void test_misaligned_backing(void **state) {
    (void)state;
    enum { BYTES = 8192 };
    unsigned char *raw = aligned_alloc(64, BYTES + 64);
    assert_non_null(raw);
    vs_pinned_block block = {
        .ptr = raw + 8, .bytes = BYTES, .release = heap_block_release, .handle = raw};
    vs_arena arena;
    assert_int_equal(vs_arena_init_block(&arena, block, 0), VS_OK);
    CHECK(&arena);
    assert_int_equal(arena.stats.pinned, 0);

    /* Alignment is of the absolute address, not of the offset. */
    static const size_t aligns[] = {1, 16, 64, 256, 1024};
    for (size_t i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
        unsigned char *p = vs_arena_alloc_aligned(&arena, 3, aligns[i]);
        CHECK(&arena);
        assert_non_null(p);
        if ((uintptr_t)p % aligns[i] != 0) fail_msg("%p not aligned to %zu", (void *)p, aligns[i]);
        assert_true(inside(&arena, p, 3));
        memset(p, 0xEE, 3);
    }
    unsigned char *d = vs_arena_alloc(&arena, 1);
    assert_non_null(d);
    assert_int_equal((uintptr_t)d % VS_ARENA_DEFAULT_ALIGN, 0);
    /* remaining() accounts for the padding the absolute address needs. */
    size_t r = vs_arena_remaining(&arena, 512);
    unsigned char *last = vs_arena_alloc_aligned(&arena, r, 512);
    CHECK(&arena);
    assert_non_null(last);
    assert_int_equal((uintptr_t)last % 512, 0);
    assert_ptr_equal(last + r, arena.base + arena.capacity);
    assert_int_equal(vs_arena_failed(&arena), 0);
    vs_arena_destroy(&arena); /* frees raw through the block's release */
    CHECK(&arena);
}

/* ---- AddressSanitizer poisoning ------------------------------------------------ */

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#endif

#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>

static int poisoned(const void *ptr) {
    return __asan_address_is_poisoned(ptr);
}
#endif

/* Registered only in AddressSanitizer builds (VECSCORE_SANITIZE=ON), which CI runs. */
#ifdef TEST_ASAN
static void test_asan_poisoning(void **state) {
    (void)state;
    vs_arena arena;
    assert_int_equal(vs_arena_init(&arena, 8192, 0), VS_OK);
    unsigned char *base = arena.base;
    assert_int_equal(arena.stats.committed, 0); /* nothing committed, nothing to poison yet */

    unsigned char *p = vs_arena_alloc_aligned(&arena, 100, 1);
    assert_ptr_equal(p, base);
    assert_int_equal(arena.stats.committed, arena.capacity); /* 8 KiB: one step */
    assert_false(poisoned(p));
    assert_false(poisoned(p + 99));
    assert_true(poisoned(p + 100)); /* free space right past the offset */
    assert_true(poisoned(base + 4096));
    assert_true(poisoned(base + arena.capacity - 1));

    size_t mark = vs_arena_mark(&arena);
    unsigned char *q = vs_arena_alloc_aligned(&arena, 1000, 64);
    assert_non_null(q);
    assert_false(poisoned(q + 999));
    vs_arena_release(&arena, mark);
    assert_true(poisoned(q));
    assert_true(poisoned(q + 999));
    assert_false(poisoned(p + 99)); /* below the mark: still live */

    vs_arena_reset(&arena);
    assert_true(poisoned(p));
    assert_true(poisoned(p + 50));
    vs_arena_destroy(&arena);
}
#endif

/* ---- reserve, commit, trim, lock --------------------------------------------------------- */

static size_t round_step(size_t bytes) {
    return (bytes + VS_ARENA_COMMIT_STEP - 1) / VS_ARENA_COMMIT_STEP * VS_ARENA_COMMIT_STEP;
}

static void test_reserve_commits_in_steps(void **state) {
    (void)state;
    const size_t reserve = (size_t)256 << 20;
    size_t before = rss_bytes();
    vs_arena arena;
    assert_int_equal(vs_arena_reserve(&arena, reserve, 0, NULL), VS_OK);
    CHECK(&arena);
    /* Reserved only: no memory behind it, and not usable. */
    assert_int_equal(arena.capacity, reserve);
    assert_int_equal(arena.stats.committed, 0);
    assert_int_equal(arena.stats.locked, 0);
    if (rss_is_ours()) assert_true(rss_bytes() < before + ((size_t)1 << 20));
    assert_true(write_faults(arena.base));

    /* The first allocation commits one step; the step's end is usable, past it is not. */
    unsigned char *p = vs_arena_alloc(&arena, 1000);
    CHECK(&arena);
    assert_non_null(p);
    assert_int_equal(arena.stats.committed, VS_ARENA_COMMIT_STEP);
    assert_int_equal(arena.stats.commits, 1);
    memset(p, 1, 1000);
    /* The rest of the step needs no new commit, and its last byte is writable. */
    const size_t rest = VS_ARENA_COMMIT_STEP - arena.offset;
    unsigned char *tail = vs_arena_alloc_aligned(&arena, rest, 1);
    assert_non_null(tail);
    tail[rest - 1] = 1;
    assert_int_equal(arena.stats.commits, 1);
    assert_true(write_faults(arena.base + VS_ARENA_COMMIT_STEP));

    /* Growing: at least to the end of the allocation, at most a quarter more, in steps. */
    size_t committed = arena.stats.committed;
    for (int i = 0; i < 200; i++) {
        size_t bytes = 1000 + (size_t)i * 997;
        size_t prev = arena.stats.committed;
        unsigned char *q = vs_arena_alloc_aligned(&arena, bytes, 1);
        CHECK(&arena);
        assert_non_null(q);
        size_t end = arena.offset;
        assert_true(arena.stats.committed >= end);
        if (arena.stats.committed != prev) {
            size_t bound = round_step(end > prev + prev / 4 ? end : prev + prev / 4);
            assert_true(arena.stats.committed <= bound);
        }
        memset(q, 2, bytes);
        committed = arena.stats.committed;
    }
    /* ~20 MB in steps that grow by a quarter: about 26 steps, not 300 of 64 KiB. */
    assert_true(arena.stats.commits <= 32);

    /* Touching 32 MiB makes it resident; trim gives it back. */
    size_t mark = vs_arena_mark(&arena);
    unsigned char *big = vs_arena_alloc(&arena, (size_t)32 << 20);
    assert_non_null(big);
    memset(big, 3, (size_t)32 << 20);
    size_t touched = rss_bytes();
    vs_arena_release(&arena, mark);
    size_t returned = vs_arena_trim(&arena, 0);
    CHECK(&arena);
    assert_true(returned >= ((size_t)32 << 20));
    assert_true(arena.stats.committed >= arena.offset);
    assert_true(arena.stats.committed <= round_step(arena.offset));
    if (rss_is_ours()) assert_true(rss_bytes() + ((size_t)30 << 20) < touched);
    /* What is live survived the trim. */
    assert_int_equal(p[999], 1);
    (void)committed;

    /* After a reset, trim(keep) keeps keep bytes (rounded to a step) and nothing else. */
    vs_arena_reset(&arena);
    assert_non_null(vs_arena_alloc(&arena, (size_t)4 << 20));
    vs_arena_reset(&arena);
    vs_arena_trim(&arena, 100000);
    CHECK(&arena);
    assert_int_equal(arena.stats.committed, round_step(100000));
    assert_true(write_faults(arena.base + round_step(100000)));
    vs_arena_trim(&arena, 0);
    assert_int_equal(arena.stats.committed, 0);
    /* And it commits again on demand. */
    unsigned char *again = vs_arena_alloc(&arena, 5000);
    assert_non_null(again);
    memset(again, 4, 5000);
    CHECK(&arena);
    vs_arena_destroy(&arena);
}

static void test_fixed_block_never_commits(void **state) {
    (void)state;
    enum { BYTES = 8192 };
    unsigned char *raw = aligned_alloc(64, BYTES);
    assert_non_null(raw);
    vs_pinned_block block = {
        .ptr = raw, .bytes = BYTES, .locked = 1, .release = heap_block_release, .handle = raw};
    vs_arena arena;
    assert_int_equal(vs_arena_init_block(&arena, block, 0), VS_OK);
    CHECK(&arena);
    /* A fixed block is usable at once, and says it is locked when its owner says so. */
    assert_int_equal(arena.stats.committed, BYTES);
    assert_int_equal(arena.stats.locked, BYTES);
    assert_int_equal(arena.stats.pinned, 1);
    assert_non_null(vs_arena_alloc(&arena, BYTES));
    vs_arena_reset(&arena);
    assert_int_equal(vs_arena_trim(&arena, 0), 0);
    assert_int_equal(arena.stats.committed, BYTES);
    CHECK(&arena);
    vs_arena_destroy(&arena);
}

static void test_lock_budget_caps_locked_memory(void **state) {
    (void)state;
    const int lockable = can_lock();
    vs_lock_budget budget = {.cap = (size_t)256 << 10};
    atomic_init(&budget.used, 0);
    vs_arena a, b;
    assert_int_equal(vs_arena_reserve(&a, (size_t)8 << 20, 0, &budget), VS_OK);
    assert_int_equal(vs_arena_reserve(&b, (size_t)8 << 20, 0, &budget), VS_OK);
    /* a: one 256 KiB step fits the budget exactly. */
    assert_non_null(vs_arena_alloc(&a, (size_t)200 << 10));
    CHECK(&a);
    assert_int_equal(a.stats.committed, (size_t)256 << 10);
    assert_int_equal(a.stats.locked, lockable ? (size_t)256 << 10 : 0);
    assert_int_equal(a.stats.pinned, lockable);
    assert_int_equal(atomic_load(&budget.used), a.stats.locked);
    /* b: nothing left in the budget; its memory is ordinary, and so are its later steps. */
    assert_non_null(vs_arena_alloc(&b, 1000));
    CHECK(&b);
    assert_int_equal(b.stats.committed, VS_ARENA_COMMIT_STEP);
    assert_int_equal(b.stats.locked, 0);
    assert_int_equal(b.stats.pinned, 0);
    /* a grows past the budget: the new step is not locked, the locked prefix stays. */
    assert_non_null(vs_arena_alloc(&a, (size_t)1 << 20));
    CHECK(&a);
    assert_true(a.stats.committed > ((size_t)256 << 10));
    assert_int_equal(a.stats.locked, lockable ? (size_t)256 << 10 : 0);
    assert_int_equal(a.stats.pinned, 0);
    assert_true(atomic_load(&budget.used) <= budget.cap);
    /* Trimming a gives its locked bytes back to the budget. */
    vs_arena_reset(&a);
    vs_arena_trim(&a, 0);
    CHECK(&a);
    assert_int_equal(a.stats.locked, 0);
    assert_int_equal(atomic_load(&budget.used), 0);
    /* Now a fresh step of a can be locked again. */
    assert_non_null(vs_arena_alloc(&a, 1000));
    assert_int_equal(a.stats.locked, lockable ? VS_ARENA_COMMIT_STEP : 0);
    vs_arena_destroy(&a);
    vs_arena_destroy(&b);
    assert_int_equal(atomic_load(&budget.used), 0);
    /* A budget of 0 locks nothing. */
    vs_lock_budget none = {.cap = 0};
    atomic_init(&none.used, 0);
    assert_int_equal(vs_arena_reserve(&a, (size_t)1 << 20, 0, &none), VS_OK);
    assert_non_null(vs_arena_alloc(&a, 1000));
    assert_int_equal(a.stats.locked, 0);
    vs_arena_destroy(&a);
}

/* ---- a context's memory --------------------------------------------------------------------- */

static vs_context *cpu_context(int threads, size_t lock_bytes) {
    vs_options opts;
    vs_options_init(&opts);
    opts.device = "cpu";
    opts.threads = threads;
    opts.lock_bytes = lock_bytes;
    vs_context *ctx = NULL;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_OK);
    return ctx;
}

static void fill(float *v, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 9) & 0xffff) / 65536.0f - 0.5f;
    }
}

/* One 1 x 1000 x 768 batch: the context holds at most 16 MiB more than before it existed. */
static void test_context_rss_after_one_batch(void **state) {
    (void)state;
    const size_t nc = 1000, dim = 768, k = 10;
    float *q = malloc(dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    float scores[10];
    int64_t ids[10];
    assert_non_null(q);
    assert_non_null(c);
    fill(q, dim, 1);
    fill(c, nc * dim, 2);
    const size_t before = rss_bytes();
    vs_context *ctx = cpu_context(0, 0); /* defaults: every CPU, default lock cap */
    assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, 1, c, nc, dim, k, scores, ids), VS_OK);
    size_t after = rss_bytes();
    vs_batch_report report;
    vs_context_last_report(ctx, &report);
    printf("# RSS: +%.2f MiB after create + one 1x1000x768 batch (workspace %llu B committed, "
           "%llu B locked)\n",
           (double)(after - before) / (1 << 20), (unsigned long long)report.workspace_bytes,
           (unsigned long long)report.locked_bytes);
    if (rss_is_ours()) assert_true(after <= before + ((size_t)16 << 20));
    /* The batch committed what it used, not the 64 MiB staging + 8 MiB per thread reserved. */
    assert_true(report.workspace_bytes <= ((size_t)1 << 20));
    assert_true(report.arena_capacity_bytes >= ((size_t)64 << 20));
    /* The same with a corpus (which copies 3 MB): still within 16 MiB. */
    vs_corpus *corpus;
    assert_int_equal(vs_corpus_create(ctx, c, nc, dim, &corpus), VS_OK);
    assert_int_equal(vs_corpus_topk(corpus, VS_METRIC_DOT, q, 1, k, scores, ids), VS_OK);
    if (rss_is_ours()) assert_true(rss_bytes() <= before + ((size_t)16 << 20));
    vs_corpus_free(corpus);
    vs_context_free(ctx);
    free(q);
    free(c);
}

enum { CALLERS = 8 };

typedef struct memory_caller {
    vs_context *ctx;
    pthread_barrier_t *start;
    const float *q, *c;
    size_t nq, nc, dim;
    uint64_t workspace_bytes;
    int status;
} memory_caller;

static void *memory_caller_main(void *arg) {
    memory_caller *me = arg;
    float *scores = malloc(me->nq * 4 * sizeof(float));
    int64_t *ids = malloc(me->nq * 4 * sizeof(int64_t));
    pthread_barrier_wait(me->start);
    for (int round = 0; round < 5; round++) {
        int rc = vs_topk(me->ctx, VS_METRIC_COSINE, me->q, me->nq, me->c, me->nc, me->dim, 4,
                         scores, ids);
        if (rc != VS_OK) me->status = rc;
        vs_batch_report report;
        vs_context_last_report(me->ctx, &report);
        if (report.workspace_bytes > me->workspace_bytes)
            me->workspace_bytes = report.workspace_bytes;
    }
    free(scores);
    free(ids);
    return NULL;
}

/* 8 callers at once hold what their batches need; once they are idle the memory goes back. */
static void test_concurrent_callers_memory(void **state) {
    (void)state;
    const size_t nq = 256, nc = 64, dim = 768;
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    fill(q, nq * dim, 3);
    fill(c, nc * dim, 4);
    vs_context *ctx = cpu_context(1, 0);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, CALLERS);
    pthread_t threads[CALLERS];
    memory_caller callers[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        callers[i] = (memory_caller){ctx, &start, q, c, nq, nc, dim, 0, VS_OK};
        assert_int_equal(pthread_create(&threads[i], NULL, memory_caller_main, &callers[i]), 0);
    }
    uint64_t largest = 0;
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(callers[i].status, VS_OK);
        if (callers[i].workspace_bytes > largest) largest = callers[i].workspace_bytes;
    }
    pthread_barrier_destroy(&start);
    /* A batch of 256 x 768 queries needs about 1 MiB of staging: so does its workspace. */
    assert_true(largest >= nq * dim * sizeof(float));
    assert_true(largest <= 2 * nq * dim * sizeof(float) + 2 * VS_ARENA_COMMIT_STEP);
    /* Together they hold at most what 8 such batches need (not 8 x 64 MiB). */
    size_t idle = vs__context_idle_committed(ctx);
    assert_true(idle <= CALLERS * largest);
    /* Idle for longer than VS_WORKSPACE_IDLE_SECONDS: the next call gives all but one back. */
    struct timespec pause = {0, (long)(VS_WORKSPACE_IDLE_SECONDS * 1.5e9)};
    nanosleep(&pause, NULL);
    float scores[4];
    int64_t ids[4];
    assert_int_equal(vs_topk(ctx, VS_METRIC_COSINE, q, 1, c, nc, dim, 4, scores, ids), VS_OK);
    idle = vs__context_idle_committed(ctx);
    assert_true(idle <= largest);
    vs_context_free(ctx);
    free(q);
    free(c);
}

/* The same batch again and again: its workspace neither gives memory back nor commits anew. */
static void test_steady_batches_keep_their_memory(void **state) {
    (void)state;
    const size_t nq = 300, nc = 64, dim = 768;
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    float *scores = malloc(nq * 4 * sizeof(float));
    int64_t *ids = malloc(nq * 4 * sizeof(int64_t));
    fill(q, nq * dim, 7);
    fill(c, nc * dim, 8);
    vs_context *ctx = cpu_context(1, 0);
    uint64_t commits = 0;
    size_t committed = 0;
    for (int round = 0; round < 12; round++) {
        assert_int_equal(vs_topk(ctx, VS_METRIC_L2SQ, q, nq, c, nc, dim, 4, scores, ids), VS_OK);
        const vs__workspace *ws = ctx->pool; /* the one the batch used, idle again */
        assert_non_null(ws);
        if (round == 1) {
            commits = ws->staging.stats.commits;
            committed = ws->staging.stats.committed;
        }
        if (round > 1) {
            assert_int_equal(ws->staging.stats.commits, commits);
            assert_int_equal(ws->staging.stats.committed, committed);
        }
    }
    assert_true(committed >= nq * dim * sizeof(float));
    /* Smaller batches afterwards: the memory decays back down. */
    for (int round = 0; round < 40; round++)
        assert_int_equal(vs_topk(ctx, VS_METRIC_L2SQ, q, 1, c, nc, dim, 4, scores, ids), VS_OK);
    assert_true(ctx->pool->staging.stats.committed <= 4 * VS_ARENA_COMMIT_STEP);
    vs_context_free(ctx);
    free(q);
    free(c);
    free(scores);
    free(ids);
}

static void test_lock_bytes_option_and_environment(void **state) {
    (void)state;
    const int lockable = can_lock();
    const size_t nq = 512, nc = 100, dim = 768;
    float *q = malloc(nq * dim * sizeof(float)), *c = malloc(nc * dim * sizeof(float));
    float *scores = malloc(nq * 3 * sizeof(float));
    int64_t *ids = malloc(nq * 3 * sizeof(int64_t));
    fill(q, nq * dim, 5);
    fill(c, nc * dim, 6);
    vs_batch_report report;

    /* A 128 KiB cap: a batch staging 1.5 MB locks at most 128 KiB. */
    vs_context *ctx = cpu_context(1, (size_t)128 << 10);
    assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, nq, c, nc, dim, 3, scores, ids), VS_OK);
    vs_context_last_report(ctx, &report);
    assert_true(report.arena_high_water_bytes > ((size_t)1 << 20));
    assert_true(report.locked_bytes <= ((size_t)128 << 10));
    if (lockable) assert_true(report.locked_bytes > 0);
    assert_int_equal(report.arena_pinned, 0); /* not all of what it used is locked */
    vs_context_free(ctx);

    /* The default cap (16 MiB) covers this batch entirely, where locking is allowed. */
    ctx = cpu_context(1, 0);
    assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, nq, c, nc, dim, 3, scores, ids), VS_OK);
    vs_context_last_report(ctx, &report);
    assert_true(report.locked_bytes <= ((size_t)16 << 20));
    assert_int_equal(report.arena_pinned, lockable);
    vs_context_free(ctx);

    /* VECSCORE_LOCK_BYTES=0: nothing locked. */
    setenv("VECSCORE_LOCK_BYTES", "0", 1);
    ctx = cpu_context(1, 0);
    assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, nq, c, nc, dim, 3, scores, ids), VS_OK);
    vs_context_last_report(ctx, &report);
    assert_int_equal(report.locked_bytes, 0);
    assert_int_equal(report.arena_pinned, 0);
    vs_context_free(ctx);
    /* An explicit option wins over the environment. */
    ctx = cpu_context(1, (size_t)64 << 10);
    assert_int_equal(vs_topk(ctx, VS_METRIC_DOT, q, nq, c, nc, dim, 3, scores, ids), VS_OK);
    vs_context_last_report(ctx, &report);
    assert_int_equal(report.locked_bytes, lockable ? (size_t)64 << 10 : 0);
    vs_context_free(ctx);
    /* A malformed value is an error that names the variable. */
    setenv("VECSCORE_LOCK_BYTES", "12Q", 1);
    vs_options opts;
    vs_options_init(&opts);
    opts.device = "cpu";
    ctx = NULL;
    assert_int_equal(vs_context_create(&opts, &ctx), VS_ERR_INVALID_ARGUMENT);
    assert_null(ctx);
    assert_non_null(strstr(vs_last_error_message(), "VECSCORE_LOCK_BYTES"));
    unsetenv("VECSCORE_LOCK_BYTES");
    free(q);
    free(c);
    free(scores);
    free(ids);
}

/* ---- threads ------------------------------------------------------------------------ */

enum { THREAD_CYCLES = 100000 };

typedef struct thread_job {
    unsigned seed;
    int errors;
    uint64_t allocations, resets;
    int check;
} thread_job;

static void *arena_worker(void *arg) {
    thread_job *job = arg;
    vs_arena arena;
    if (vs_arena_init(&arena, 8192, 0) != VS_OK) {
        job->errors++;
        return NULL;
    }
    for (unsigned cycle = 0; cycle < THREAD_CYCLES; cycle++) {
        vs_arena_reset(&arena);
        size_t n1 = 8 + cycle % 57, n2 = 16 + cycle % 91;
        unsigned char *a = vs_arena_alloc(&arena, n1);
        uint32_t *b = vs_arena_alloc_array(&arena, n2, sizeof(uint32_t));
        if (a == NULL || b == NULL || !inside(&arena, a, n1) ||
            !inside(&arena, b, n2 * sizeof(uint32_t))) {
            job->errors++;
            break;
        }
        unsigned char tag = (unsigned char)(job->seed + cycle);
        memset(a, tag, n1);
        for (size_t i = 0; i < n2; i++)
            b[i] = job->seed * 0x9E3779B1u + cycle + (uint32_t)i;
        for (size_t i = 0; i < n1; i++)
            job->errors += a[i] != tag;
        for (size_t i = 0; i < n2; i++)
            job->errors += b[i] != job->seed * 0x9E3779B1u + cycle + (uint32_t)i;
        if (vs_arena_check(&arena) != 0 || vs_arena_failed(&arena)) job->errors++;
        if (job->errors) break;
    }
    job->allocations = arena.stats.allocations;
    job->resets = arena.stats.resets;
    job->check = vs_arena_check(&arena);
    vs_arena_destroy(&arena);
    return NULL;
}

static void test_two_threads(void **state) {
    (void)state;
    thread_job jobs[2] = {{.seed = 1}, {.seed = 2}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, arena_worker, &jobs[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(jobs[i].errors, 0);
        assert_int_equal(jobs[i].check, 0);
        assert_int_equal(jobs[i].allocations, 2 * (uint64_t)THREAD_CYCLES);
        assert_int_equal(jobs[i].resets, THREAD_CYCLES);
    }
}

/*
 * The VmFlags of the mapping of this process that holds addr (/proc/self/smaps),
 * into flags; 0, or -1 when no mapping holds it.
 */
static int vm_flags_of(const void *addr, char *flags, size_t size) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (f == NULL) fail_msg("cannot open /proc/self/smaps");
    char line[512];
    int inside = 0, found = -1;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
            continue;
        }
        if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            strncpy(flags, line + 8, size - 1);
            flags[size - 1] = '\0';
            found = 0;
            break;
        }
    }
    fclose(f);
    return found;
}

/*
 * vs__alloc_large (the packed corpus's buffer): below VS_LARGE_HUGE_MIN plain
 * 64-byte aligned memory, no advice; from there up 2 MiB aligned, the whole
 * rounded buffer usable, and, on a kernel with transparent huge pages, the
 * advice taken and visible in the mapping's VmFlags ("hg"), which is what
 * lets the kernel back it with 2 MiB pages.
 */
static void test_alloc_large_huge_pages(void **state) {
    (void)state;
    int advised = -1;
    assert_null(vs__alloc_large(0, &advised));
    assert_int_equal(advised, 0);
    unsigned char *small = vs__alloc_large(100000, &advised);
    assert_non_null(small);
    assert_int_equal((uintptr_t)small % 64, 0);
    assert_int_equal(advised, 0);
    memset(small, 1, 100000);
    free(small);

    const size_t bytes = VS_LARGE_HUGE_MIN + 12345;
    unsigned char *large = vs__alloc_large(bytes, &advised);
    assert_non_null(large);
    assert_int_equal((uintptr_t)large % VS_LARGE_HUGE_ALIGN, 0);
    memset(large, 7, (bytes + VS_LARGE_HUGE_ALIGN - 1) / VS_LARGE_HUGE_ALIGN * VS_LARGE_HUGE_ALIGN);
    assert_int_equal(large[bytes - 1], 7);
    const int thp = access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
    if (!rss_is_ours()) {
        /* qemu-user answers madvise without doing it: only usability is checked there. */
        free(large);
        return;
    }
    char flags[512] = "";
    if (thp) {
        assert_int_equal(advised, 1);
        assert_int_equal(vm_flags_of(large, flags, sizeof(flags)), 0);
        if (strstr(flags, " hg") == NULL)
            fail_msg("vs__alloc_large: mapping not advised for huge pages (VmFlags:%s)", flags);
    } else {
        assert_int_equal(advised, 0);
    }
    free(large);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rounds_capacity),
        cmocka_unit_test(test_init_invalid_align),
        cmocka_unit_test(test_init_too_large),
        cmocka_unit_test(test_alignments_distinct_regions),
        cmocka_unit_test(test_non_power_of_two_alignment),
        cmocka_unit_test(test_exhaustion_sticky_failed),
        cmocka_unit_test(test_alloc_array),
        cmocka_unit_test(test_zero_byte_allocation),
        cmocka_unit_test(test_marks),
        cmocka_unit_test(test_reset_and_high_water),
        cmocka_unit_test(test_remaining),
        cmocka_unit_test(test_zeroed_and_destroyed),
        cmocka_unit_test(test_check_detects_corruption),
        cmocka_unit_test(test_init_block),
        cmocka_unit_test(test_misaligned_backing),
#ifdef TEST_ASAN
        cmocka_unit_test(test_asan_poisoning),
#endif
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_reserve_commits_in_steps),
        cmocka_unit_test(test_fixed_block_never_commits),
        cmocka_unit_test(test_lock_budget_caps_locked_memory),
        cmocka_unit_test(test_context_rss_after_one_batch),
        cmocka_unit_test(test_concurrent_callers_memory),
        cmocka_unit_test(test_steady_batches_keep_their_memory),
        cmocka_unit_test(test_lock_bytes_option_and_environment),
        cmocka_unit_test(test_alloc_large_huge_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
