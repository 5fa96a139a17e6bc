/*
 * options.h — every vs_options field with an environment override, in one
 * X-macro table (mimalloc's option table is the model). Not installed.
 *
 * host/context.c reads each VECSCORE_* variable through the row of its
 * option (the variable's name, how it is parsed, what the message says is
 * expected), and scripts/check_options.py checks that the README's options
 * table lists the same options, variables and defaults (the last column) in
 * the same order. A new option is a row here, a field in vs_options, its
 * resolution in host/context.c, and the README row the check asks for.
 *
 * X(field, env, kind, min, max, expected, readme)
 *   field     the vs_options field (and the option's name in messages)
 *   env       its environment variable
 *   kind      VS_OPTION_TEXT (a string), VS_OPTION_NUMBER (digits only),
 *             VS_OPTION_BYTES (digits and one K, M or G), VS_OPTION_LEVEL
 *             (a log level name, or a number)
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

#define VS_BYTES_EXPECTED "a byte count of 1 or more: digits, optionally followed by K, M or G"

/* clang-format off */
#define VS_OPTIONS_TABLE(X)                                                                        \
    X(device, "VECSCORE_DEVICE", VS_OPTION_TEXT, 0, 0, "a device selector",                        \
      "`auto`; also `cpu`, `opencl`, `opencl:P:D`, `opencl:name=TEXT` "                            \
      "([docs/opencl.md](docs/opencl.md))")                                                        \
    X(threads, "VECSCORE_THREADS", VS_OPTION_NUMBER, 0, 4096,                                      \
      "a thread count from 0 (all cores) to 4096",                                                 \
      "0 = every CPU the process may use; most threads per batch, caller included; above the "     \
      "CPU count (up to 4096) capped there with a warning ([docs/threads.md](docs/threads.md))")   \
    X(arena_bytes, "VECSCORE_ARENA_BYTES", VS_OPTION_BYTES, 1, SIZE_MAX, VS_BYTES_EXPECTED,        \
      "64 MiB staging arena per concurrent batch (address space; memory committed as used)")      \
    X(scratch_bytes, "VECSCORE_SCRATCH_BYTES", VS_OPTION_BYTES, 1, SIZE_MAX, VS_BYTES_EXPECTED,    \
      "8 MiB scratch arena per thread (the same)")                                                 \
    X(lock_bytes, "VECSCORE_LOCK_BYTES", VS_OPTION_BYTES, 0, SIZE_MAX,                             \
      "a byte count: digits, optionally followed by K, M or G (0 locks nothing)",                  \
      "16 MiB: most staging memory a context locks with `mlock`; `VECSCORE_LOCK_BYTES=0` locks "   \
      "nothing")                                                                                   \
    X(isa, "VECSCORE_ISA", VS_OPTION_TEXT, 0, 0, "an ISA name",                                    \
      "best available: `serial`, `avx2`, `avx512` or `neon` ([docs/isa.md](docs/isa.md))")         \
    X(cache_dir, "VECSCORE_CACHE_DIR", VS_OPTION_TEXT, 0, 0, "a directory",                        \
      "`$XDG_CACHE_HOME/vecscore` (OpenCL programs, cost model); created 0700, used only when "    \
      "private ([docs/opencl.md](docs/opencl.md#the-cache-directory-trust-model))")                \
    X(verify, "VECSCORE_VERIFY", VS_OPTION_NUMBER, 0, 1, "0 or 1",                                 \
      "0; 1 re-checks a sample of every batch in float64")                                         \
    X(log_level, "VECSCORE_LOG_LEVEL", VS_OPTION_LEVEL, 0, 3, "error, warn, info, debug or 0..3",  \
      "`warn`")
/* clang-format on */

/* VS_OPTION_ID(threads) is the row of the threads option. */
typedef enum vs__option_id {
#define VS_OPTION_ID_(field, env, kind, min, max, expected, readme) VS_OPTION_ID_##field,
    VS_OPTIONS_TABLE(VS_OPTION_ID_)
#undef VS_OPTION_ID_
        VS_OPTION_COUNT
} vs__option_id;
#define VS_OPTION_ID(field) VS_OPTION_ID_##field

typedef struct vs__option_row {
    const char *field, *env;
    vs__option_kind kind;
    uint64_t min, max;
    const char *expected, *readme;
} vs__option_row;

/* The table as data (host/options.c). */
extern const vs__option_row vs__options[VS_OPTION_COUNT];

#endif /* VS_HOST_OPTIONS_H */
