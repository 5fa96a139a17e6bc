/*
 * sanitizer_canary.c — a program that must fail under the sanitizer build.
 *
 * The ASan+UBSan suite runs with the options of tests/CMakeLists.txt
 * (suppressions by library name, intercept_tls_get_addr=0). This canary
 * proves, in the same process state as the OpenCL tests (PoCL and LLVM
 * loaded by the ICD loader, their threads running), that those options
 * still let LeakSanitizer report a leak of ours: it opens a context on the
 * first OpenCL device when the build has OpenCL (the CPU otherwise), runs
 * one batch, and exits without vs_context_free. The ctest case
 * (sanitizer_canary) passes only when the run fails with a leak report
 * that names vs_context_create.
 */
#include <stdio.h>

#include "vecscore.h"

int main(void) {
    vs_options opts;
    vs_options_init(&opts);
    opts.device = VECSCORE_WITH_OPENCL ? "opencl" : "cpu";
    vs_context *ctx = NULL;
    int status = vs_context_create(&opts, &ctx);
    if (status != VS_OK) {
        fprintf(stderr, "sanitizer_canary: vs_context_create(%s): %s\n", opts.device,
                vs_status_name(status));
        return 3; /* not the leak report the check looks for: the case fails */
    }
    const float vectors[4 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};
    float scores[2];
    int64_t ids[2];
    status = vs_topk(ctx, VS_METRIC_DOT, vectors, 1, vectors, 4, 3, 2, scores, ids);
    if (status != VS_OK) {
        fprintf(stderr, "sanitizer_canary: vs_topk: %s\n", vs_status_name(status));
        return 3;
    }
    printf("sanitizer_canary: batch done on %s; the context is left unfreed on purpose\n",
           opts.device);
    return 0; /* LeakSanitizer must turn this into a failure */
}
