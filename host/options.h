/*
 * options.h — every knob of the library, in one X-macro table (mimalloc's
 * option table is the model). Not installed.
 *
 * A knob is either an option (a vs_options field with an environment
 * override) or an environment-only knob for testing and tuning (no field:
 * the public API stays as it is). host/context.c resolves every row once,
 * when a context is created, into the vs__config / vs__env the rest of the
 * library reads; vs__option_env (host/options.c) is the library's one
 * getenv of a VECSCORE_* variable, and scripts/check_getenv.py fails on any
 * other. scripts/check_options.py checks that the README's options table
 * lists the same rows, variables and defaults (the last column) in the same
 * order. A new knob is a row here, (for an option) a field in vs_options,
 * its resolution in host/context.c, and the README row the check asks for.
 *
 * X(field, env, scope, kind, min, max, expected, readme)
 *   field     the vs_options field (and the knob's name in messages); for an
 *             environment-only knob, the name of its row
 *   env       its environment variable
 *   scope     VS_OPTION_FIELD (a vs_options field) or VS_OPTION_ENV_ONLY
 *             (environment only; the README's option column says "—")
 *   kind      VS_OPTION_TEXT (a string, checked where it is resolved),
 *             VS_OPTION_NUMBER (digits only), VS_OPTION_BYTES (digits and one
 *             K, M or G), VS_OPTION_LEVEL (a log level name, or a number)
 *   min, max  the accepted range of a number
 *   expected  what a bad value is told to be
 *   readme    the README's "default" column for it, verbatim
 */
#ifndef VS_HOST_OPTIONS_H
#define VS_HOST_OPTIONS_H

#include <stdint.h>

typedef enum vs__option_kind {
    VS_OPTION_TEXT,
    VS_OPTION_NUMBER,
    VS_OPTION_BYTES,
    VS_OPTION_LEVEL
} vs__option_kind;

typedef enum vs__option_scope { VS_OPTION_FIELD, VS_OPTION_ENV_ONLY } vs__option_scope;

#define VS_BYTES_EXPECTED "a byte count of 1 or more: digits, optionally followed by K, M or G"

/* clang-format off */
#define VS_OPTIONS_TABLE(X)                                                                        \
    X(device, "VECSCORE_DEVICE", VS_OPTION_FIELD, VS_OPTION_TEXT, 0, 0, "a device selector",       \
      "`auto`; also `cpu`, `opencl`, `opencl:P:D`, `opencl:name=TEXT` "                            \
      "([docs/opencl.md](docs/opencl.md))")                                                        \
    X(threads, "VECSCORE_THREADS", VS_OPTION_FIELD, VS_OPTION_NUMBER, 0, 4096,                     \
      "a thread count from 0 (all cores) to 4096",                                                 \
      "0 = every CPU the process may use; most threads per batch, caller included; above the "     \
      "CPU count (up to 4096) capped there with a warning ([docs/threads.md](docs/threads.md))")   \
    X(arena_bytes, "VECSCORE_ARENA_BYTES", VS_OPTION_FIELD, VS_OPTION_BYTES, 1, SIZE_MAX,          \
      VS_BYTES_EXPECTED,                                                                           \
      "64 MiB staging arena per concurrent batch (address space; memory committed as used)")       \
    X(scratch_bytes, "VECSCORE_SCRATCH_BYTES", VS_OPTION_FIELD, VS_OPTION_BYTES, 1, SIZE_MAX,      \
      VS_BYTES_EXPECTED, "8 MiB scratch arena per thread (the same)")                              \
    X(lock_bytes, "VECSCORE_LOCK_BYTES", VS_OPTION_FIELD, VS_OPTION_BYTES, 0, SIZE_MAX,            \
      "a byte count: digits, optionally followed by K, M or G (0 locks nothing)",                  \
      "16 MiB: most staging memory a context locks with `mlock`; `VECSCORE_LOCK_BYTES=0` locks "   \
      "nothing")                                                                                   \
    X(isa, "VECSCORE_ISA", VS_OPTION_FIELD, VS_OPTION_TEXT, 0, 0, "an ISA name",                   \
      "best available: `serial`, `avx2`, `avx512` or `neon` ([docs/isa.md](docs/isa.md))")         \
    X(cache_dir, "VECSCORE_CACHE_DIR", VS_OPTION_FIELD, VS_OPTION_TEXT, 0, 0, "a directory",       \
      "`$XDG_CACHE_HOME/vecscore` (OpenCL programs, cost model); created 0700, used only when "    \
      "private ([docs/opencl.md](docs/opencl.md#the-cache-directory-trust-model))")                \
    X(verify, "VECSCORE_VERIFY", VS_OPTION_FIELD, VS_OPTION_NUMBER, 0, 1, "0 or 1",                \
      "0; 1 re-checks a sample of every batch in float64")                                         \
    X(log_level, "VECSCORE_LOG_LEVEL", VS_OPTION_FIELD, VS_OPTION_LEVEL, 0, 3,                     \
      "error, warn, info, debug or 0..3", "`warn`")                                                \
    X(cl_kernels, "VECSCORE_CL_KERNELS", VS_OPTION_FIELD, VS_OPTION_TEXT, 0, 0,                    \
      "auto, gpu or cpu",                                                                          \
      "`auto`: the OpenCL kernel family by device type (`cpu` on PoCL-style CPU devices, `gpu` "   \
      "elsewhere); `gpu` or `cpu` forces one ([docs/opencl.md](docs/opencl.md#kernel-families))")  \
    X(cl_kernel, "VECSCORE_CL_KERNEL", VS_OPTION_ENV_ONLY, VS_OPTION_TEXT, 0, 0, "tile or rows",   \
      "unset; testing: `tile` forces the `tile` family, `rows` the `cpu` family, while "           \
      "`cl_kernels` is `auto`")                                                                    \
    X(cl_block, "VECSCORE_CL_BLOCK", VS_OPTION_ENV_ONLY, VS_OPTION_TEXT, 0, 0,                     \
      "RxC with R and C each 1, 2, 4 or 8, e.g. 4x4",                                              \
      "unset: the device table's register block of the GPU score kernel; `RxC` (R and C each 1, "  \
      "2, 4 or 8) forces one")                                                                     \
    X(cl_fused, "VECSCORE_CL_FUSED", VS_OPTION_ENV_ONLY, VS_OPTION_NUMBER, 0, 1, "0 or 1",         \
      "unset: score and top-k in one OpenCL kernel on CPU-type devices for k up to 32 and dim "    \
      "from 256; `0` never, `1` wherever k allows")                                                \
    X(cl_max_alloc_bytes, "VECSCORE_CL_MAX_ALLOC_BYTES", VS_OPTION_ENV_ONLY, VS_OPTION_BYTES, 1,   \
      SIZE_MAX, VS_BYTES_EXPECTED,                                                                 \
      "unset: the OpenCL device's largest allocation; testing: a smaller cap in bytes (K, M, G)")  \
    X(cl_survivors, "VECSCORE_CL_SURVIVORS", VS_OPTION_ENV_ONLY, VS_OPTION_NUMBER, 0, 16777216,   \
      "0 to 16777216",                                                                             \
      "unset: the OpenCL top-k survivor buffer sized from k; testing: `0` segment lists instead "  \
      "of the threshold selection, N slots per query")                                             \
    X(cl_filter, "VECSCORE_CL_FILTER", VS_OPTION_ENV_ONLY, VS_OPTION_NUMBER, 0, 1, "0 or 1",       \
      "unset or `1`: the OpenCL top-k threshold test inside the score kernels, on every "         \
      "family; `0` a separate pass over a score tile")                                             \
    X(auto_opencl_cpu, "VECSCORE_AUTO_OPENCL_CPU", VS_OPTION_ENV_ONLY, VS_OPTION_NUMBER, 0, 1,     \
      "0 or 1", "0: `auto` never picks an OpenCL CPU device; 1 weighs them as it weighs a GPU")    \
    X(compact_isa, "VECSCORE_COMPACT_ISA", VS_OPTION_ENV_ONLY, VS_OPTION_TEXT, 0, 0,               \
      "serial, avx2, avx512, avx512bf16, avx512vnni or avx512bf16vnni",                            \
      "unset: the compact-storage table of the context's ISA, with every AVX512_BF16 / "           \
      "AVX512_VNNI feature the CPU has; testing: `serial`, `avx2`, `avx512` (both features off), " \
      "`avx512bf16`, `avx512vnni` or `avx512bf16vnni` forces one at or below it "                  \
      "([docs/isa.md](docs/isa.md))")
/* clang-format on */

/* VS_OPTION_ID(threads) is the row of the threads option. */
typedef enum vs__option_id {
#define VS_OPTION_ID_(field, env, scope, kind, min, max, expected, readme) VS_OPTION_ID_##field,
    VS_OPTIONS_TABLE(VS_OPTION_ID_)
#undef VS_OPTION_ID_
        VS_OPTION_COUNT
} vs__option_id;
#define VS_OPTION_ID(field) VS_OPTION_ID_##field

typedef struct vs__option_row {
    const char *field, *env;
    vs__option_scope scope;
    vs__option_kind kind;
    uint64_t min, max;
    const char *expected, *readme;
} vs__option_row;

/* The table as data (host/options.c). */
extern const vs__option_row vs__options[VS_OPTION_COUNT];

/*
 * The value of the row's environment variable, or NULL when it is unset: the
 * library's one read of a VECSCORE_* variable (host/context.c calls it while
 * it resolves a context's configuration; scripts/check_getenv.py checks that
 * no other library code calls getenv).
 */
const char *vs__option_env(vs__option_id id);

#endif /* VS_HOST_OPTIONS_H */
