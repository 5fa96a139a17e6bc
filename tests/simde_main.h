/*
 * simde_main.h — for the suites built a second time against SIMDe
 * (VS_TEST_SIMDE: kernels_simde, compact_simde; tests/CMakeLists.txt).
 * simde_install() hands the AVX-512 tables compiled from the same sources
 * against SIMDe's portable intrinsics (cpu/x86_simd.h) to the dispatcher, so
 * that "avx512" and its compact tables are supported and run through the
 * very checks of the hardware suites, on a CPU without AVX-512. It says so on
 * stdout: these runs test the kernels' logic (lanes, tails, masks, blocking,
 * the feature instructions' semantics as cpu/x86_simd.h states them), not the
 * hardware or its speed.
 */
#ifndef VS_TESTS_SIMDE_MAIN_H
#define VS_TESTS_SIMDE_MAIN_H

#include <stdio.h>

#include "cpu/compact.h"
#include "cpu/kernels.h"

extern const vs__cpu_kernels vs__kernels_avx512_simde;

static void simde_install(void) {
    static const vs__compact_kernels *const compact[4] = {
        &vs__compact_avx512_simde, &vs__compact_avx512_bf16_simde, &vs__compact_avx512_vnni_simde,
        &vs__compact_avx512_bf16_vnni_simde};
    vs__cpu_emulate_avx512(&vs__kernels_avx512_simde, compact);
    printf("AVX-512 in this run is the SIMDe emulation (libsimde-dev), not the hardware: the same "
           "kernel sources, portable intrinsics\n");
}

#endif /* VS_TESTS_SIMDE_MAIN_H */
