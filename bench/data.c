/*
 * data.c — the benchmark's inputs: uniform floats in [-1, 1) from fixed
 * seeds (the same shape gets the same data in every module and every child
 * process), the base norms the peers' epilogues use, and one shape's
 * buffers allocated together.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

void bench_fill(float *x, size_t n, uint64_t seed) {
#pragma omp parallel
    {
        /* Each thread fills whole 4096-float blocks from a seed of its own. */
#pragma omp for schedule(static)
        for (long block = 0; block < (long)((n + 4095) / 4096); block++) {
            uint64_t state = seed * 0x9E3779B97F4A7C15ull + (uint64_t)block * 0xD1B54A32D192ED03ull;
            size_t start = (size_t)block * 4096, end = start + 4096 < n ? start + 4096 : n;
            for (size_t i = start; i < end; i++) {
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                x[i] = (float)((double)(state >> 40) / (double)(1u << 24) * 2.0 - 1.0);
            }
        }
    }
}

uint64_t bench_base_seed(const shape *sh) {
    return 1000 + sh->n + sh->d;
}

uint64_t bench_query_seed(const shape *sh) {
    return 2000 + sh->q + sh->d;
}

void bench_shape_data_free(shape_data *data) {
    free(data->base);
    free(data->queries);
    free(data->norms);
    vs_free_output(data->scores);
    vs_free_output(data->ids);
    memset(data, 0, sizeof(*data));
}

int bench_shape_data_alloc(shape_data *data, const shape *sh, size_t k) {
    memset(data, 0, sizeof(*data));
    size_t out_floats = sh->q * sh->n > sh->q * k ? sh->q * sh->n : sh->q * k;
    data->base = malloc(sh->n * sh->d * sizeof(float));
    data->queries = malloc(sh->q * sh->d * sizeof(float));
    data->norms = malloc(sh->n * sizeof(float));
    /* From vs_alloc_output, so that an OpenCL device can write them in place. */
    data->scores = vs_alloc_output(out_floats * sizeof(float));
    data->ids = vs_alloc_output(sh->q * k * sizeof(int64_t));
    if (!data->base || !data->queries || !data->norms || !data->scores || !data->ids) {
        bench_shape_data_free(data);
        return -1;
    }
    bench_fill(data->base, sh->n * sh->d, bench_base_seed(sh));
    bench_fill(data->queries, sh->q * sh->d, bench_query_seed(sh));
    const float *base = data->base;
    float *norms = data->norms;
#pragma omp parallel for schedule(static)
    for (long j = 0; j < (long)sh->n; j++) {
        double sum = 0;
        for (size_t i = 0; i < sh->d; i++)
            sum += (double)base[(size_t)j * sh->d + i] * base[(size_t)j * sh->d + i];
        norms[j] = (float)sqrt(sum);
    }
    return 0;
}
