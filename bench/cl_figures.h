/*
 * cl_figures.h — issue 10's PoCL figures in one run (bench/cl_figures.c),
 * the --figures mode of vecscore-bench-cl-k (bench/cl_topk_k.c).
 */
#ifndef VECSCORE_BENCH_CL_FIGURES_H
#define VECSCORE_BENCH_CL_FIGURES_H

#include <stddef.h>

#define FIG_MAX_REPEATS 64

/* Runs figures (a), (b) and (c) on `device`, `repeats` timed calls each, corpora of
 * 1/divide of the listed sizes; CLBlast on OpenCL platform / device index. 0, or 1 after a
 * message. */
int bench_cl_figures(const char *device, size_t repeats, size_t divide, int clblast_platform,
                     int clblast_device);

#endif
