/*
 * compact.c — compact corpora on an OpenCL device (cl/compact.h): the codes
 * uploaded once, the query chunk written, one launch of the storage's scan
 * kernel (cl/kernels/compact.cl) over every stored row, the raw sums read
 * back for host/compact.c to bound, select and rescore.
 */
#include "compact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vs__cl_compact {
    int storage;
    size_t n, dim;
    cl_mem codes;
    cl_mem queries, out; /* per-scan buffers, kept and grown on demand */
    size_t query_bytes, out_bytes;
};

static size_t code_bytes(int storage) {
    return storage == VS_STORAGE_I8 ? 1 : 2;
}

void vs__cl_compact_free(vs__cl_compact *cc) {
    if (cc == NULL) return;
    if (cc->codes != NULL) vs__cl.ReleaseMemObject(cc->codes);
    if (cc->queries != NULL) vs__cl.ReleaseMemObject(cc->queries);
    if (cc->out != NULL) vs__cl.ReleaseMemObject(cc->out);
    free(cc);
}

int vs__cl_compact_upload(const vs__env *ctx, const vs__cl_compact_device *dev, int storage,
                          const void *codes, size_t n, size_t dim, vs__cl_compact **out, char *why,
                          size_t why_size) {
    *out = NULL;
    const size_t bytes = n * dim * code_bytes(storage); /* host/compact.c checked the product */
    if (n > UINT32_MAX || dim > UINT32_MAX || bytes > dev->max_alloc) {
        snprintf(why, why_size,
                 "the %zu x %zu compact corpus (%zu B) exceeds the device's largest allocation "
                 "(%zu B) or a 32-bit kernel argument",
                 n, dim, bytes, dev->max_alloc);
        return VS_ERR_UNSUPPORTED;
    }
    vs__cl_compact *cc = calloc(1, sizeof(*cc));
    if (cc == NULL) return VS_ERR_OUT_OF_MEMORY;
    cc->storage = storage;
    cc->n = n;
    cc->dim = dim;
    cl_int err = CL_SUCCESS;
    /* n == 0: a 16-byte placeholder, so the kernel arguments are always set */
    const cl_mem_flags flags = CL_MEM_READ_ONLY | (bytes > 0 ? CL_MEM_COPY_HOST_PTR : 0);
    cc->codes = vs__cl.CreateBuffer(dev->context, flags, bytes > 0 ? bytes : 16,
                                    bytes > 0 ? (void *)codes : NULL, &err);
    if (err != CL_SUCCESS) {
        cc->codes = NULL;
        vs__cl_compact_free(cc);
        return vs__cl_failed(ctx, "clCreateBuffer(compact corpus)", err);
    }
    *out = cc;
    return VS_OK;
}

/* Makes *mem at least `bytes` long (contents not kept); 0 or the failing status. */
static int ensure_buffer(const vs__env *ctx, const vs__cl_compact_device *dev, cl_mem *mem,
                         size_t *have, size_t bytes, cl_mem_flags flags, const char *what) {
    if (*mem != NULL && *have >= bytes) return VS_OK;
    if (*mem != NULL) vs__cl.ReleaseMemObject(*mem);
    *mem = NULL;
    *have = 0;
    cl_int err = CL_SUCCESS;
    *mem = vs__cl.CreateBuffer(dev->context, flags, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        *mem = NULL;
        char label[96];
        snprintf(label, sizeof(label), "clCreateBuffer(%s, %zu B)", what, bytes);
        return vs__cl_failed(ctx, label, err);
    }
    *have = bytes;
    return VS_OK;
}

/* NOLINTBEGIN(bugprone-sizeof-expression): cl_mem handles are passed by their own size. */
int vs__cl_compact_scan(const vs__env *ctx, const vs__cl_compact_device *dev, vs__cl_compact *cc,
                        const void *queries, size_t rows, float *out_f, int64_t *out_i,
                        vs_batch_report *report, int *kernel, char *why, size_t why_size) {
    const int i8 = cc->storage == VS_STORAGE_I8;
    const size_t padded =
        (rows + VS_CL_COMPACT_QUERIES - 1) / VS_CL_COMPACT_QUERIES * VS_CL_COMPACT_QUERIES;
    const size_t query_bytes = padded * cc->dim * (i8 ? sizeof(int16_t) : sizeof(float));
    const size_t out_bytes = padded * cc->n * (i8 ? sizeof(int64_t) : sizeof(float));
    if (rows == 0 || rows > UINT32_MAX || query_bytes > dev->max_alloc ||
        out_bytes > dev->max_alloc) {
        snprintf(why, why_size, "a chunk of %zu compact queries does not fit the device", rows);
        return VS_ERR_UNSUPPORTED;
    }
    static const char *const names[6] = {"vs_compact_f16",          "vs_compact_bf16",
                                         "vs_compact_i8",           "vs_compact_f16_blocked",
                                         "vs_compact_bf16_blocked", "vs_compact_i8_blocked"};
    *kernel = (i8 ? 2 : (cc->storage == VS_STORAGE_BF16 ? 1 : 0)) + (dev->blocked ? 3 : 0);
    const cl_kernel k = dev->kernels[*kernel];
    const char *name = names[*kernel];
    int status = ensure_buffer(ctx, dev, &cc->queries, &cc->query_bytes, query_bytes,
                               CL_MEM_READ_ONLY, "compact queries");
    if (status == VS_OK)
        status = ensure_buffer(ctx, dev, &cc->out, &cc->out_bytes, out_bytes, CL_MEM_WRITE_ONLY,
                               "compact sums");
    if (status != VS_OK) return status;
    double start = vs__now();
    cl_int err = vs__cl.EnqueueWriteBuffer(dev->queue, cc->queries, CL_TRUE, 0, query_bytes,
                                           queries, 0, NULL, NULL);
    if (err != CL_SUCCESS) return vs__cl_failed(ctx, "clEnqueueWriteBuffer(compact queries)", err);
    report->bytes_copied += query_bytes;
    report->transfer_seconds += vs__now() - start;
    const cl_uint nrows = (cl_uint)rows, n = (cl_uint)cc->n, dim = (cl_uint)cc->dim;
    const struct {
        size_t size;
        const void *value;
    } args[] = {{sizeof(cc->queries), &cc->queries},
                {sizeof(nrows), &nrows},
                {sizeof(cc->codes), &cc->codes},
                {sizeof(n), &n},
                {sizeof(dim), &dim},
                {sizeof(cc->out), &cc->out}};
    for (cl_uint i = 0; i < sizeof(args) / sizeof(*args); i++) {
        err = vs__cl.SetKernelArg(k, i, args[i].size, args[i].value);
        if (err != CL_SUCCESS) {
            char label[96];
            snprintf(label, sizeof(label), "clSetKernelArg(%s, %u)", name, i);
            return vs__cl_failed(ctx, label, err);
        }
    }
    start = vs__now();
    /* one work-item per (stored row, VS_CL_COMPACT_QUERIES queries); blocked: a work-group of
     * VS_CL_WG x VS_CL_WG per (VS_CL_WG x block_columns stored rows, VS_CL_WG x block_rows) */
    const size_t tile_rows = (size_t)VS_CL_WG * (size_t)dev->block_rows;
    const size_t tile_columns = (size_t)VS_CL_WG * (size_t)dev->block_columns;
    const size_t global[2] = {dev->blocked ? (cc->n + tile_columns - 1) / tile_columns * VS_CL_WG
                                           : cc->n,
                              dev->blocked ? (rows + tile_rows - 1) / tile_rows * VS_CL_WG
                                           : padded / VS_CL_COMPACT_QUERIES};
    const size_t local[2] = {VS_CL_WG, VS_CL_WG};
    err = vs__cl.EnqueueNDRangeKernel(dev->queue, k, 2, NULL, global, dev->blocked ? local : NULL,
                                      0, NULL, NULL);
    if (err != CL_SUCCESS) {
        char label[96];
        snprintf(label, sizeof(label), "clEnqueueNDRangeKernel(%s)", name);
        return vs__cl_failed(ctx, label, err);
    }
    err = vs__cl.Finish(dev->queue);
    if (err != CL_SUCCESS) return vs__cl_failed(ctx, "clFinish(compact scan)", err);
    report->kernel_seconds += vs__now() - start;
    start = vs__now();
    err = vs__cl.EnqueueReadBuffer(dev->queue, cc->out, CL_TRUE, 0, out_bytes,
                                   i8 ? (void *)out_i : (void *)out_f, 0, NULL, NULL);
    if (err != CL_SUCCESS) return vs__cl_failed(ctx, "clEnqueueReadBuffer(compact sums)", err);
    report->bytes_copied += out_bytes;
    report->transfer_seconds += vs__now() - start;
    return VS_OK;
}
/* NOLINTEND(bugprone-sizeof-expression) */
