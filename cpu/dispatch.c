/*
 * dispatch.c — picks the kernel table: serial first, then the best ISA the
 * CPU (and OS, for register state) reports: CPUID/XGETBV on x86,
 * getauxval(AT_HWCAP) on AArch64 Linux. VECSCORE_ISA / vs_options.isa force
 * one; forcing an ISA the CPU lacks is an error, never a downgrade. The
 * compact tables add AVX512_BF16 and AVX512_VNNI on top of AVX-512
 * (vs__compact_kernels_for). Test programs may stand emulated AVX-512 tables
 * in for the hardware's (vs__cpu_emulate_avx512, cpu/compact.h).
 */
#include <stdlib.h>
#include <string.h>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_FP /* Linux's AT_HWCAP bits for AArch64 (arch/arm64/include/uapi/asm/hwcap.h) */
#define HWCAP_FP (1UL << 0)
#endif
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "compact.h"
#include "kernels.h"

static int has_serial(void) {
    return 1;
}

#if defined(__x86_64__) || defined(__i386__)
/* libgcc's checks include XGETBV, so an OS that does not save the registers
 * reports the feature as missing. */
static int has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* Emulated AVX-512 tables (vs__cpu_emulate_avx512, test programs only); NULL: the hardware's. */
static const vs__cpu_kernels *emulated_avx512;
static const vs__compact_kernels *const *emulated_compact;

static int has_avx512(void) {
    if (emulated_avx512 != NULL) return 1;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("fma");
}
#define VS_ISA_X86(table, check) table, check
#else
#define VS_ISA_X86(table, check) NULL, NULL
#endif

#if defined(__aarch64__)
/* The kernel reports FP and ASIMD in AT_HWCAP when the CPU has them and it
 * saves their registers. Platforms without an auxiliary vector that run
 * AArch64 code (macOS, Windows) pass floats in SIMD registers by their ABI,
 * so they always have them. */
static int has_neon(void) {
#if defined(__linux__)
    const unsigned long hwcap = getauxval(AT_HWCAP);
    return (hwcap & HWCAP_FP) != 0 && (hwcap & HWCAP_ASIMD) != 0;
#else
    return 1;
#endif
}
#define VS_ISA_ARM64(table, check) table, check
#else
#define VS_ISA_ARM64(table, check) NULL, NULL
#endif

#define VS_ISA_ALL(table, check) table, check

/* The rows of VS_CPU_ISA_TABLE (cpu/kernels.h), in its order. */
typedef struct isa_entry {
    const char *name;
    const vs__cpu_kernels *table; /* NULL when not built for this architecture */
    int (*cpu_has)(void);
} isa_entry;

static const isa_entry isas[] = {
#define VS_ISA_ROW_(name, arch) {#name, VS_ISA_##arch(&vs__kernels_##name, has_##name)},
    VS_CPU_ISA_TABLE(VS_ISA_ROW_)
#undef VS_ISA_ROW_
};
#define ISA_COUNT (sizeof(isas) / sizeof(isas[0]))

static const isa_entry *isa_named(const char *isa) {
    for (size_t i = 0; i < ISA_COUNT; i++)
        if (strcmp(isa, isas[i].name) == 0) return &isas[i];
    return NULL;
}

/* The table an entry stands for: the emulated one for avx512 when a test set one. */
static const vs__cpu_kernels *entry_table(const isa_entry *entry) {
#if defined(__x86_64__) || defined(__i386__)
    if (emulated_avx512 != NULL && entry->table == &vs__kernels_avx512) return emulated_avx512;
#endif
    return entry->table;
}

const char *vs_cpu_isa_name(int index) {
    return index >= 0 && (size_t)index < ISA_COUNT ? isas[index].name : NULL;
}

int vs_cpu_isa_supported(const char *isa) {
    const isa_entry *entry = isa == NULL ? NULL : isa_named(isa);
    return entry != NULL && entry->table != NULL && entry->cpu_has();
}

const char *vs_cpu_best_isa(void) {
    for (size_t i = ISA_COUNT; i-- > 0;)
        if (isas[i].table != NULL && isas[i].cpu_has()) return isas[i].name;
    return "serial";
}

int vs__cpu_kernels_get(const char *isa, const vs__cpu_kernels **out) {
    *out = NULL;
    if (isa == NULL || isa[0] == '\0' || strcmp(isa, "auto") == 0) isa = vs_cpu_best_isa();
    const isa_entry *entry = isa_named(isa);
    if (entry == NULL) return VS_ERR_INVALID_ARGUMENT;
    if (!vs_cpu_isa_supported(isa)) return VS_ERR_UNSUPPORTED;
    *out = entry_table(entry);
    return VS_OK;
}

/* ---- compact tables (cpu/compact.h) ---- */

/* Rank of an ISA name among the x86 compact tables (serial 0); -1 if unknown. */
static int rank_of(const char *isa) {
    if (isa == NULL || strcmp(isa, "serial") == 0 || strcmp(isa, "neon") == 0) return 0;
    if (strcmp(isa, "avx2") == 0) return 1;
    if (strncmp(isa, "avx512", 6) == 0) return 2;
    return -1;
}

#if defined(__x86_64__) || defined(__i386__)
/* F16C (CPUID leaf 1, ECX bit 29); its registers are the AVX ones, which the AVX2 check covers. */
static int has_f16c(void) {
    unsigned eax, ebx, ecx, edx;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
}

/*
 * AVX512_BF16: CPUID.(EAX=7, ECX=1):EAX bit 5; AVX512_VNNI: CPUID.(EAX=7,
 * ECX=0):ECX bit 11. Both use the zmm state, which libgcc's avx512bw check
 * (part of the caller's) already requires the OS to save (XGETBV).
 */
static int has_avx512_bf16(void) {
    unsigned eax, ebx, ecx, edx;
    return __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5)) != 0;
}
static int has_avx512_vnni(void) {
    unsigned eax, ebx, ecx, edx;
    return __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 11)) != 0;
}

/* The AVX-512 compact tables, indexed by bf16 + 2 vnni (compact.h's order). */
static const vs__compact_kernels *const avx512_compact[4] = {
    &vs__compact_avx512, &vs__compact_avx512_bf16, &vs__compact_avx512_vnni,
    &vs__compact_avx512_bf16_vnni};

/*
 * The AVX-512 compact table: forced names one (NULL when it is not one of the
 * four or the CPU lacks its features); otherwise the one with every feature
 * the CPU has. NULL when the CPU (or the emulation) has no AVX-512BW.
 */
static const vs__compact_kernels *avx512_table(const char *forced) {
    const vs__compact_kernels *const *tables = emulated_compact;
    int bf16 = 1, vnni = 1;
    if (tables == NULL) {
        __builtin_cpu_init();
        if (!__builtin_cpu_supports("avx512bw")) return NULL;
        tables = avx512_compact;
        bf16 = has_avx512_bf16();
        vnni = has_avx512_vnni();
    }
    if (forced == NULL) return tables[bf16 + 2 * vnni];
    for (int i = 0; i < 4; i++)
        if (strcmp(forced, avx512_compact[i]->isa) == 0)
            return (i & 1) <= bf16 && (i >> 1) <= vnni ? tables[i] : NULL;
    return NULL;
}
#endif

void vs__cpu_emulate_avx512(const vs__cpu_kernels *kernels,
                            const vs__compact_kernels *const compact[4]) {
#if defined(__x86_64__) || defined(__i386__)
    emulated_avx512 = kernels;
    emulated_compact = compact;
#else
    (void)kernels;
    (void)compact;
#endif
}

const vs__compact_kernels *vs__compact_kernels_for(const char *isa, const char *forced) {
    int rank = rank_of(isa);
    if (rank < 0) return NULL;
    if (forced != NULL && forced[0] == '\0') forced = NULL;
    if (forced != NULL) {
        const int want = rank_of(forced);
        if (want < 0 || strcmp(forced, "neon") == 0 || want > rank) return NULL;
        rank = want;
    }
#if defined(__x86_64__) || defined(__i386__)
    if (rank == 2) {
        const vs__compact_kernels *table = avx512_table(forced);
        if (table != NULL || forced != NULL) return table;
        rank = 1; /* AVX-512F/DQ without BW: the AVX2 compact table */
    }
    if (rank == 1 && has_f16c()) return &vs__compact_avx2;
    if (rank == 1 && forced != NULL) return NULL;
#endif
    return &vs__compact_serial;
}
