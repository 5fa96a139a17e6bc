/*
 * alloc.c — allocation micro-benchmark: the library's arena (arena/arena.h,
 * the one every batch uses) against malloc/free.
 *
 *   single    allocate one block and release it: the allocator's own cost,
 *             memory untouched (arena: bump, with a reset whenever the next
 *             block would not fit an 8 MiB arena, its cost included; malloc:
 *             malloc + free), sizes 64 B .. 1 MB;
 *   batch64   allocate 64 blocks of 3 KB .. 1 MB (log-uniform, fixed seed),
 *             then release them all (arena: one reset), as a batch's scratch
 *             does; "+touch" also writes one byte per 4 KiB page of every
 *             block, which is where returned-and-refaulted memory costs.
 *
 * With 2 threads each thread has its own arena (as the library's workers
 * do) and runs the same loop at the same time; the figure is per thread.
 * Each figure is the median (and min) of 5 repetitions.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena/arena.h"
#include "bench.h"

#define ALLOC_REPS 5
#define BATCH_BLOCKS 64

/* Each thread stores its pointers here (its own stack), so that the compiler
 * cannot drop an allocation and threads share no cache line. */
static double run_single(int use_arena, vs_arena *arena, size_t bytes, long iterations) {
    void *volatile sink = NULL;
    double start = bench_now();
    if (use_arena) {
        for (long i = 0; i < iterations; i++) {
            void *p = vs_arena_alloc(arena, bytes);
            if (p == NULL) {
                vs_arena_reset(arena);
                p = vs_arena_alloc(arena, bytes);
            }
            sink = p;
        }
        vs_arena_reset(arena);
    } else {
        for (long i = 0; i < iterations; i++) {
            void *p = malloc(bytes);
            sink = p;
            free(p);
        }
    }
    (void)sink;
    return (bench_now() - start) / (double)iterations * 1e9;
}

static double run_batch(int use_arena, vs_arena *arena, const size_t *sizes, long batches,
                        int touch) {
    unsigned char *blocks[BATCH_BLOCKS];
    void *volatile sink = NULL;
    double start = bench_now();
    for (long b = 0; b < batches; b++) {
        for (int i = 0; i < BATCH_BLOCKS; i++) {
            blocks[i] = use_arena ? vs_arena_alloc(arena, sizes[i]) : malloc(sizes[i]);
            if (blocks[i] == NULL) return -1;
            blocks[i][0] = 1;
            if (touch)
                for (size_t offset = 4096; offset < sizes[i]; offset += 4096)
                    blocks[i][offset] = 1;
        }
        sink = blocks[BATCH_BLOCKS - 1];
        if (use_arena)
            vs_arena_reset(arena);
        else
            for (int i = 0; i < BATCH_BLOCKS; i++)
                free(blocks[i]);
    }
    (void)sink;
    return (bench_now() - start) / (double)(batches * BATCH_BLOCKS) * 1e9;
}

/* Runs one configuration on `threads` threads at once, ALLOC_REPS times. */
static int measure(bench_alloc_row *row, const char *pattern, int use_arena, size_t bytes,
                   int threads, long iterations, const size_t *sizes, int touch) {
    double per_rep[ALLOC_REPS];
    int failed = 0;
    for (int rep = 0; rep < ALLOC_REPS; rep++) {
        double worst = 0;
#pragma omp parallel num_threads(threads) reduction(max : worst) reduction(+ : failed)
        {
            vs_arena arena;
            memset(&arena, 0, sizeof(arena));
            size_t capacity = sizes ? (size_t)96 << 20 : (size_t)8 << 20;
            if (use_arena && vs_arena_init(&arena, capacity, 64) != 0) {
                failed++;
            } else {
#pragma omp barrier
                double ns = sizes ? run_batch(use_arena, &arena, sizes, iterations, touch)
                                  : run_single(use_arena, &arena, bytes, iterations);
                if (ns < 0) failed++;
                worst = ns;
            }
            if (use_arena) vs_arena_destroy(&arena);
        }
        per_rep[rep] = worst;
    }
    if (failed) return 0;
    double median = bench_median(per_rep, ALLOC_REPS); /* sorts per_rep */
    memset(row, 0, sizeof(*row));
    snprintf(row->pattern, sizeof(row->pattern), "%s", pattern);
    snprintf(row->allocator, sizeof(row->allocator), "%s", use_arena ? "arena" : "malloc");
    row->bytes = bytes;
    row->threads = threads;
    row->ns_per_alloc = median;
    row->ns_per_alloc_min = per_rep[0];
    return 1;
}

int bench_alloc_run(bench_alloc_row *rows, int max, int quick, int threads_max) {
    static const size_t single_sizes[] = {64, 3 * 1024, 64 * 1024, 1024 * 1024};
    size_t batch_sizes[BATCH_BLOCKS];
    uint64_t seed = 12345;
    for (int i = 0; i < BATCH_BLOCKS; i++) { /* log-uniform in [3 KB, 1 MB] */
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(seed >> 11) / (double)(1ull << 53);
        double lo = 3.0 * 1024, hi = 1024.0 * 1024;
        batch_sizes[i] = (size_t)(lo * pow(hi / lo, u));
    }
    int count = 0;
    int thread_counts[2] = {1, threads_max >= 2 ? 2 : 0};
    for (int t = 0; t < 2; t++) {
        int threads = thread_counts[t];
        if (threads == 0) continue;
        for (size_t s = 0; s < sizeof(single_sizes) / sizeof(single_sizes[0]); s++) {
            size_t bytes = single_sizes[s];
            long iterations = bytes >= 1024 * 1024 ? 20000 : (bytes >= 65536 ? 200000 : 2000000);
            if (quick) iterations /= 10;
            for (int use_arena = 1; use_arena >= 0; use_arena--)
                if (count < max)
                    count += measure(&rows[count], "single", use_arena, bytes, threads, iterations,
                                     NULL, 0);
        }
        for (int touch = 0; touch < 2; touch++)
            for (int use_arena = 1; use_arena >= 0; use_arena--)
                if (count < max)
                    count += measure(&rows[count], touch ? "batch64+touch" : "batch64", use_arena,
                                     0, threads, quick ? 40 : 400, batch_sizes, touch);
    }
    return count;
}
