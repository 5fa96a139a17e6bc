/*
 * none.c — the OpenCL entry points of a build without OpenCL
 * (-DVECSCORE_OPENCL=OFF): no OpenCL headers, no loader, no device. The host
 * then behaves as on a machine without an OpenCL platform: "auto" runs on the
 * CPU and says why, and an explicit opencl selector fails with
 * VS_ERR_NO_DEVICE and that reason.
 */
#include <stdio.h>

#include "../backend/backend.h"

#define VS_NO_OPENCL "no OpenCL platform (built without OpenCL)"

int vs__opencl_list(const vs__env *ctx, vs_device **out, int *count, char *why, size_t why_size) {
    (void)ctx;
    *out = NULL;
    *count = 0;
    snprintf(why, why_size, "%s", VS_NO_OPENCL);
    return VS_OK;
}

int vs__opencl_string(int index, vs_device_field field, char **out) {
    (void)index;
    (void)field;
    *out = NULL;
    return VS_ERR_INVALID_ARGUMENT; /* there is no OpenCL device */
}

/* Every selector, "auto" included: no device. (The OpenCL testing knobs, such as
 * VECSCORE_AUTO_OPENCL_CPU, have nothing to act on and are not read.) */
int vs__opencl_open(const vs__env *ctx, const vs__selector *selector, const vs__backend_ops **ops,
                    void **state, char *why, size_t why_size) {
    (void)ctx;
    (void)selector;
    *ops = NULL;
    *state = NULL;
    snprintf(why, why_size, "%s", VS_NO_OPENCL);
    return VS_ERR_NO_DEVICE;
}
