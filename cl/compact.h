/*
 * compact.h — compact corpora (float16, bfloat16, int8) on an OpenCL device:
 * the codes resident on the device and the scan of cl/kernels/compact.cl.
 * host/compact.c reaches these through the backend ops compact_prepare,
 * compact_scan and compact_release (backend/backend.h), which cl/backend.c
 * forwards here with its context, queue and kernels, holding its lock.
 * Not installed.
 */
#ifndef VS_CL_COMPACT_H
#define VS_CL_COMPACT_H

#include "cl_calls.h"
#include "kernel_constants.h" /* VS_CL_COMPACT_QUERIES */

/* What the scan needs of the backend's state (cl/backend.c fills it in). */
typedef struct vs__cl_compact_device {
    cl_context context;
    cl_command_queue queue;
    /* vs_compact_f16, _bf16, _i8, then vs_compact_f16_blocked, _bf16_blocked, _i8_blocked */
    cl_kernel kernels[6];
    int blocked;                   /* 1: the gpu family, which launches the blocked kernels */
    int block_rows, block_columns; /* their register block (vs_score_blocked's, -D VS_RM, VS_RN) */
    size_t max_alloc; /* the largest allocation (CL_DEVICE_MAX_MEM_ALLOC_SIZE or the cap) */
} vs__cl_compact_device;

typedef struct vs__cl_compact vs__cl_compact;

/*
 * Uploads n x dim codes of `storage` (VS_STORAGE_F16 / _BF16: uint16 bits;
 * VS_STORAGE_I8: int8). VS_ERR_UNSUPPORTED, with the reason in why, when the
 * codes exceed one device allocation or a 32-bit kernel argument.
 */
int vs__cl_compact_upload(const vs__env *ctx, const vs__cl_compact_device *dev, int storage,
                          const void *codes, size_t n, size_t dim, vs__cl_compact **out, char *why,
                          size_t why_size);
void vs__cl_compact_free(vs__cl_compact *cc);

/*
 * Raw sums of `rows` queries (float32 for f16/bf16, int16 for i8; the
 * buffer holds rows rounded up to a multiple of VS_CL_COMPACT_QUERIES, the
 * extra rows zero, x dim) against every stored row, into out_f or out_i
 * (that many rows x n; the extra rows' sums are written too, except by the blocked kernels).
 * *kernel receives which kernel ran (its index in dev->kernels: 0 f16, 1 bf16, 2 i8, plus 3 when
 * blocked). VS_ERR_UNSUPPORTED (why says why) when the chunk does not fit one allocation; a failed
 * OpenCL call gives its vs_status (recorded).
 */
int vs__cl_compact_scan(const vs__env *ctx, const vs__cl_compact_device *dev, vs__cl_compact *cc,
                        const void *queries, size_t rows, float *out_f, int64_t *out_i,
                        vs_batch_report *report, int *kernel, char *why, size_t why_size);

#endif /* VS_CL_COMPACT_H */
