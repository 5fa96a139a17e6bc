/*
 * topk_order.h — the library's one top-k order, for C and for the OpenCL
 * kernels (bottom layer, base/).
 *
 * Keys are "higher is better" (L2SQ distances are negated first). The order
 * is total, the same on every backend:
 *   1. a real entry beats padding (id -1);
 *   2. a non-NaN key beats a NaN key;
 *   3. a higher key beats a lower one;
 *   4. on equal keys (or both NaN) the lower id wins.
 *
 * VS_TOPK_BEFORE(a, ia, b, ib) is 1 when (key a, id ia) ranks before
 * (b, ib). The CPU heaps (cpu/topk.c) and vs_topk_merge (host/merge.c) use
 * it as it is. The OpenCL kernels get the same text: cl/program.c adds
 * VS_TOPK_ORDER_CL_OPTIONS to every program's build options (it is part of
 * the program cache key), and cl/kernels/score.cl calls the macro. The
 * rule is written without blanks because a build option ends at a blank;
 * vs__isnan is a function in C and isnan in OpenCL C, so the text stays the
 * same in both.
 */
#ifndef VS_BASE_TOPK_ORDER_H
#define VS_BASE_TOPK_ORDER_H

#include <math.h>

static inline int vs__isnan(float x) {
    return isnan(x) != 0;
}

/* clang-format off */
#define VS_TOPK_BEFORE(a,ia,b,ib) ((ib)<0?(ia)>=0:(ia)<0?0:(vs__isnan(a)||vs__isnan(b))?(vs__isnan(a)&&vs__isnan(b)?(ia)<(ib):vs__isnan(b)):(a)!=(b)?(a)>(b):(ia)<(ib))
/* clang-format on */

#define VS__TOPK_STR(x) #x
#define VS__TOPK_XSTR(x) VS__TOPK_STR(x)
/* The build options that define the same macro in an OpenCL program. */
#define VS_TOPK_ORDER_CL_OPTIONS                                                                   \
    "-Dvs__isnan=isnan -DVS_TOPK_BEFORE(a,ia,b,ib)=" VS__TOPK_XSTR(VS_TOPK_BEFORE(a, ia, b, ib))

#endif /* VS_BASE_TOPK_ORDER_H */
