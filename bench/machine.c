/*
 * machine.c — this machine's limits, measured by the harness at start:
 *
 *   - memory read bandwidth: every OpenMP thread sums its share of a buffer
 *     much larger than the caches, with eight independent vector
 *     accumulators, so the adds never limit it; best of several passes. The
 *     probe runs on 4 KiB pages and again on a buffer advised for
 *     transparent huge pages (MADV_HUGEPAGE), as the library advises a large
 *     packed corpus (arena/pinned.h); the limit is the better of the two
 *     (on 4 KiB pages the hardware prefetchers stop at every page boundary,
 *     so the plain loop can read less than the machine can; see
 *     docs/benchmarks.md);
 *   - peak FMA throughput: every thread runs a loop of fused multiply-adds on
 *     independent accumulators (16 for AVX-512, 12 for AVX2), so neither
 *     latency nor loads limit it; best of several passes, per ISA;
 *   - the last-level cache size (sysfs), which the plots use to explain a
 *     row above 100% of the limit: data that fit in cache are read faster
 *     than the memory bandwidth.
 */
#define _GNU_SOURCE
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define BENCH_X86 1
#endif

/* ---- read bandwidth ---------------------------------------------------------------- */

static float sum_range_scalar(const float *p, size_t n) {
    float lanes[32] = {0};
    for (size_t i = 0; i + 32 <= n; i += 32)
        for (int l = 0; l < 32; l++)
            lanes[l] += p[i + l];
    float total = 0;
    for (int l = 0; l < 32; l++)
        total += lanes[l];
    return total;
}

#ifdef BENCH_X86
__attribute__((target("avx2"))) static float sum_range_avx2(const float *p, size_t n) {
    __m256 acc[8];
    for (int l = 0; l < 8; l++)
        acc[l] = _mm256_setzero_ps();
    for (size_t i = 0; i + 64 <= n; i += 64)
        for (int l = 0; l < 8; l++)
            acc[l] = _mm256_add_ps(acc[l], _mm256_loadu_ps(p + i + 8 * l));
    float lanes[8], total = 0;
    for (int l = 1; l < 8; l++)
        acc[0] = _mm256_add_ps(acc[0], acc[l]);
    _mm256_storeu_ps(lanes, acc[0]);
    for (int l = 0; l < 8; l++)
        total += lanes[l];
    return total;
}

__attribute__((target("avx512f"))) static float sum_range_avx512(const float *p, size_t n) {
    __m512 acc[8];
    for (int l = 0; l < 8; l++)
        acc[l] = _mm512_setzero_ps();
    for (size_t i = 0; i + 128 <= n; i += 128)
        for (int l = 0; l < 8; l++)
            acc[l] = _mm512_add_ps(acc[l], _mm512_loadu_ps(p + i + 16 * l));
    for (int l = 1; l < 8; l++)
        acc[0] = _mm512_add_ps(acc[0], acc[l]);
    return _mm512_reduce_add_ps(acc[0]);
}
#endif

/* huge: advise the buffer for transparent huge pages before its first touch (best effort). */
static double measure_bandwidth(int quick, int huge) {
    size_t n = (size_t)1 << (quick ? 26 : 28); /* 256 MiB or 1 GiB of floats */
    float *buffer = aligned_alloc((size_t)2 << 20, n * sizeof(float));
    if (buffer == NULL) return 0;
#ifdef MADV_HUGEPAGE
    if (huge) (void)madvise(buffer, n * sizeof(float), MADV_HUGEPAGE);
#else
    (void)huge;
#endif
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        buffer[i] = (float)(i & 1023) * 0.001f;
    float (*sum)(const float *, size_t) = sum_range_scalar;
#ifdef BENCH_X86
    if (__builtin_cpu_supports("avx2")) sum = sum_range_avx2;
    if (__builtin_cpu_supports("avx512f")) sum = sum_range_avx512;
#endif
    double best = 1e30;
    volatile float sink = 0;
    for (int pass = 0; pass < (quick ? 3 : 8); pass++) {
        double start = bench_now();
        float total = 0;
#pragma omp parallel reduction(+ : total)
        {
            size_t threads = (size_t)omp_get_num_threads(), me = (size_t)omp_get_thread_num();
            size_t share = (n / threads) & ~(size_t)127;
            total += sum(buffer + me * share, share);
        }
        sink = total;
        double elapsed = bench_now() - start;
        if (pass > 0 && elapsed < best) best = elapsed; /* pass 0 warms the TLB */
    }
    (void)sink;
    free(buffer);
    return (double)n * sizeof(float) / best / 1e9;
}

/* ---- peak FMA ---------------------------------------------------------------------- */

#ifdef BENCH_X86
__attribute__((target("avx512f"))) static float fma_loop_avx512(long iterations) {
    __m512 acc[16];
    const __m512 mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-6f);
    for (int l = 0; l < 16; l++)
        acc[l] = _mm512_set1_ps((float)l);
    for (long i = 0; i < iterations; i++)
        for (int l = 0; l < 16; l++)
            acc[l] = _mm512_fmadd_ps(acc[l], mul, add);
    for (int l = 1; l < 16; l++)
        acc[0] = _mm512_add_ps(acc[0], acc[l]);
    return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx2,fma"))) static float fma_loop_avx2(long iterations) {
    __m256 acc[12];
    const __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-6f);
    for (int l = 0; l < 12; l++)
        acc[l] = _mm256_set1_ps((float)l);
    for (long i = 0; i < iterations; i++)
        for (int l = 0; l < 12; l++)
            acc[l] = _mm256_fmadd_ps(acc[l], mul, add);
    for (int l = 1; l < 12; l++)
        acc[0] = _mm256_add_ps(acc[0], acc[l]);
    float lanes[8], total = 0;
    _mm256_storeu_ps(lanes, acc[0]);
    for (int l = 0; l < 8; l++)
        total += lanes[l];
    return total;
}
#endif

/* Returns GFLOP/s of loop over all threads: flops_per_iteration per call-iteration. */
static double measure_fma(float (*loop)(long), long iterations, double flops_per_iteration,
                          int quick) {
    double best = 1e30;
    volatile float sink = 0;
    int threads = 1;
    for (int pass = 0; pass < (quick ? 3 : 12); pass++) {
        double start = bench_now();
        float total = 0;
#pragma omp parallel reduction(+ : total)
        {
#pragma omp single
            threads = omp_get_num_threads();
            total += loop(iterations);
        }
        sink = total;
        double elapsed = bench_now() - start;
        if (elapsed < best) best = elapsed;
    }
    (void)sink;
    return (double)threads * (double)iterations * flops_per_iteration / best / 1e9;
}

static void cpu_model(char *out, size_t size) {
    snprintf(out, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL) return;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                while (*colon == ' ' || *colon == '\t')
                    colon++;
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(out, size, "%s", colon);
            }
            break;
        }
    }
    fclose(f);
}

/* The largest cache of cpu0 that sysfs lists (the last level), in bytes; 0 if none. */
static size_t last_level_cache(void) {
    size_t best = 0;
    for (int index = 0; index < 8; index++) {
        char path[96], text[64];
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
        FILE *f = fopen(path, "r");
        if (f == NULL) continue;
        unsigned long long value = 0;
        char unit = 0;
        if (fgets(text, sizeof(text), f) && sscanf(text, "%llu%c", &value, &unit) >= 1) {
            if (unit == 'K') value <<= 10;
            if (unit == 'M') value <<= 20;
            if (value > best) best = (size_t)value;
        }
        fclose(f);
    }
    return best;
}

void bench_machine_describe(bench_machine *machine) {
    memset(machine, 0, sizeof(*machine));
    cpu_model(machine->cpu_model, sizeof(machine->cpu_model));
    machine->llc_bytes = last_level_cache();
    machine->threads = omp_get_max_threads();
}

void bench_machine_measure(bench_machine *machine, int quick) {
    bench_machine_describe(machine);
    machine->read_bandwidth_small_gbs = measure_bandwidth(quick, 0);
    machine->read_bandwidth_gbs = measure_bandwidth(quick, 1);
    if (machine->read_bandwidth_small_gbs > machine->read_bandwidth_gbs)
        machine->read_bandwidth_gbs = machine->read_bandwidth_small_gbs;
    long iterations = quick ? 4000000 : 10000000;
#ifdef BENCH_X86
    if (__builtin_cpu_supports("avx512f"))
        machine->peak_avx512_gflops =
            measure_fma(fma_loop_avx512, iterations, 16.0 * 16 * 2, quick);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        machine->peak_avx2_gflops = measure_fma(fma_loop_avx2, iterations, 12.0 * 8 * 2, quick);
#endif
    machine->peak_gflops = machine->peak_avx512_gflops > machine->peak_avx2_gflops
                               ? machine->peak_avx512_gflops
                               : machine->peak_avx2_gflops;
}
