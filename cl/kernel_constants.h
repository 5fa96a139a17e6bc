/*
 * kernel_constants.h — the numbers that the host code of cl/ and the kernel
 * sources (cl/kernels/score.cl, compact.cl) must agree on, written once.
 *
 * Each row X(NAME, VALUE) becomes an enum constant VS_CL_NAME for the host
 * and the build option -DVS_NAME=VALUE for every program (cl/program.c adds
 * VS_CL_KERNEL_CONSTANT_OPTIONS, so the values are part of the program cache
 * key). The kernels define none of these themselves: each source checks
 * with #error that the option arrived. VALUE must be a plain literal, since
 * it is turned into text. Not installed.
 */
#ifndef VS_CL_KERNEL_CONSTANTS_H
#define VS_CL_KERNEL_CONSTANTS_H

#include "../include/vecscore.h"

#define VS_CL_KERNEL_CONSTANTS(X)                                                                  \
    X(TILE, 16)           /* vs_score_tile and the segment kernels: work-items per side */         \
    X(ROWS, 8)            /* vs_score_rows: queries per work-item */                               \
    X(FUSED_K, 32)        /* vs_topk_rows: the largest k */                                        \
    X(MAX_SEGMENTS, 64)   /* segment lists per query and tile */                                   \
    X(WG, 16)             /* vs_score_blocked: work-items per side of a work-group */              \
    X(BK, 16)             /* vs_score_blocked: slab depth */                                       \
    X(STREAM_ROWS, 32)    /* vs_score_stream: queries per launch */                                \
    X(STREAM_WG, 128)     /* vs_score_stream: work-group size */                                   \
    X(MERGE_WG, 256)      /* vs_merge_sorted: work-items per query */                              \
    X(MERGE_CAP, 2048)    /* vs_merge_sorted: entries sorted in local memory */                    \
    X(SELECT_WG, 256)     /* vs_select_query: work-items per query */                              \
    X(SELECT_CAP, 2048)   /* vs_select_query: the largest k */                                     \
    X(COMPACT_QUERIES, 4) /* compact.cl: queries per work-item */                                  \
    X(METRIC_DOT, 0)      /* the vs_metric values (checked below) */                               \
    X(METRIC_COSINE, 1)                                                                            \
    X(METRIC_L2SQ, 2)

#define VS_CL_KERNEL_CONSTANT_ENUM(name, value) VS_CL_##name = (value),
enum vs__cl_kernel_constant { VS_CL_KERNEL_CONSTANTS(VS_CL_KERNEL_CONSTANT_ENUM) };
#undef VS_CL_KERNEL_CONSTANT_ENUM

#define VS_CL_KERNEL_CONSTANT_OPTION(name, value) " -DVS_" #name "=" #value
#define VS_CL_KERNEL_CONSTANT_OPTIONS VS_CL_KERNEL_CONSTANTS(VS_CL_KERNEL_CONSTANT_OPTION)

_Static_assert((int)VS_CL_METRIC_DOT == (int)VS_METRIC_DOT &&
                   (int)VS_CL_METRIC_COSINE == (int)VS_METRIC_COSINE &&
                   (int)VS_CL_METRIC_L2SQ == (int)VS_METRIC_L2SQ,
               "the kernels' metric numbers are the vs_metric values");

#endif /* VS_CL_KERNEL_CONSTANTS_H */
