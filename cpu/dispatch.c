/*
 * dispatch.c — picks the kernel table: serial first, then the best ISA the
 * CPU (and OS, for register state) reports. VECSCORE_ISA / vs_options.isa
 * force one; forcing an ISA the CPU lacks is an error, never a downgrade.
 */
#include <string.h>

#include "kernels.h"

static int cpu_has(const char *isa) {
    if (strcmp(isa, "serial") == 0) return 1;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    /* libgcc's checks include XGETBV, so an OS that does not save the
     * registers reports the feature as missing. */
    if (strcmp(isa, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(isa, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("fma");
#endif
    return 0;
}

static const vs__cpu_kernels *table_named(const char *isa) {
    if (strcmp(isa, "serial") == 0) return &vs__kernels_serial;
#if defined(__x86_64__) || defined(__i386__)
    if (strcmp(isa, "avx2") == 0) return &vs__kernels_avx2;
    if (strcmp(isa, "avx512") == 0) return &vs__kernels_avx512;
#endif
    return NULL;
}

static int isa_known(const char *isa) {
    return strcmp(isa, "serial") == 0 || strcmp(isa, "avx2") == 0 || strcmp(isa, "avx512") == 0;
}

int vs_cpu_isa_supported(const char *isa) {
    return isa != NULL && table_named(isa) != NULL && cpu_has(isa);
}

const char *vs_cpu_best_isa(void) {
    static const char *const order[] = {"avx512", "avx2", "serial"};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (vs_cpu_isa_supported(order[i])) return order[i];
    return "serial";
}

int vs__cpu_kernels_get(const char *isa, const vs__cpu_kernels **out) {
    *out = NULL;
    if (isa == NULL || isa[0] == '\0' || strcmp(isa, "auto") == 0) isa = vs_cpu_best_isa();
    if (!isa_known(isa)) return VS_ERR_INVALID_ARGUMENT;
    if (!vs_cpu_isa_supported(isa)) return VS_ERR_UNSUPPORTED;
    *out = table_named(isa);
    return VS_OK;
}
