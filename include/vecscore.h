/*
 * vecscore.h — batched float32 vector scoring: dot product, cosine, squared L2.
 *
 * This header is the manual. Read it top to bottom once; each section says
 * what a call does, who owns what, the units, and what it returns.
 *
 * ## Introduction
 *
 * vecscore scores float32 vectors in batches and returns either the full
 * score matrix (queries x candidates) or the best k candidates per query.
 * Work runs on native SIMD CPU kernels (serial, AVX2+FMA, AVX-512, NEON,
 * chosen at run time from what the CPU reports) and, where present, on
 * OpenCL devices. Temporary memory comes from arenas owned by the context
 * and reset after every batch; results are written straight into the
 * caller's buffers.
 *
 * Sections:
 *   1. Status codes          every fallible call returns 0 or a negative vs_status
 *   2. Logging and options   vs_options, environment overrides
 *   3. Context               vs_context_create / vs_context_free
 *   4. Simple API            vs_score / vs_topk (candidates passed every call)
 *   5. Corpus API            vs_corpus_* (candidates copied once, norms cached)
 *   6. Reports               vs_batch_report: what ran the last batch
 *   7. Output memory         vs_alloc_output / vs_free_output
 *   8. CPU information       which instruction sets exist
 *   9. Devices               vs_device_count / vs_device_info
 *  10. Errors                vs_last_error_message: the calling thread's last error
 *
 * ## Numerics (the same on every backend; details in docs/numerics.md)
 *
 *   - Inputs are float32, row-major, contiguous: row i of a matrix with
 *     dimension dim starts at element i * dim. Any dim >= 1 works; pointers
 *     need only the natural alignment of float (4 bytes).
 *   - Accumulation is in float32 with fused multiply-add. A dot product of
 *     dimension d is within (d + 2) * 2^-24 * sum_i |q_i * c_i| + d * 2^-149
 *     (underflow) of the exact value, as long as no partial sum overflows
 *     (DOT and L2SQ keep float32's range: beyond it they give +-inf or NaN);
 *     cosine and L2SQ add the error of the norms they use (stated in
 *     docs/numerics.md). Tests hold every kernel to these bounds against a
 *     float64 reference.
 *   - VS_METRIC_DOT and VS_METRIC_COSINE are similarities: higher is better.
 *     VS_METRIC_L2SQ is a squared distance: lower is better.
 *   - Cosine is dot(q, c) / (|q| |c|), clamped to [-1, 1]; if either vector
 *     is zero the cosine is 0. It is within its bound for every finite
 *     vector, from subnormal norms to components near FLT_MAX (norms are
 *     computed in float64 and such vectors are rescaled or rescored; see
 *     docs/numerics.md, "Tiny and huge vectors").
 *   - L2SQ is computed as |q|^2 + |c|^2 - 2 dot(q, c) and clamped at 0, so it
 *     is never negative.
 *   - NaN or infinite components give the scores those formulas give in IEEE
 *     arithmetic (typically NaN or +-inf). They are never an error.
 *   - Top-k order: best first; equal scores order by lower candidate index;
 *     NaN scores sort after every other score; when k exceeds the number of
 *     candidates the tail is padded with id -1 and score -INFINITY (DOT,
 *     COSINE) or +INFINITY (L2SQ).
 *
 * ## Thread safety
 *
 * A context may be used from several threads at once; each call takes its
 * own workspace (arenas) for the duration of the batch. A corpus may be
 * scored from several threads at once. Freeing a context or corpus while
 * another thread uses it is undefined. Each thread sees its own last report
 * (vs_context_last_report) and its own last error (vs_last_error_message).
 *
 * ## Threads
 *
 * CPU batches run on the calling thread plus, when it pays, helpers from one
 * worker pool that the library keeps per process and shares between every
 * context and every calling thread:
 *
 *   - The pool has at most one worker per CPU the process may run on
 *     (sched_getaffinity), minus one for the caller, however many threads
 *     call in. Workers start at the first batch that wants them, spin
 *     (yielding the CPU to any other runnable thread) for about as long as
 *     waking a sleeping one costs (measured, at most 1 ms), then sleep. They
 *     stop when the last context is freed.
 *   - A batch is cut into units (up to 8 per participant, fewer for small
 *     batches, so that a unit is worth claiming) that the caller
 *     and the helpers claim one at a time. The caller always works, and a
 *     call returns as soon as its units are done: it never waits for a
 *     helper that has not started (asleep, or descheduled on a busy
 *     machine); a helper descheduled while it runs a unit delays the call by
 *     that unit at most.
 *   - A batch runs on the caller alone when its estimated time is less than
 *     twice what a helper costs. Both are measured: the seconds per
 *     multiply-add of each kernel path on the calling thread (a short
 *     measurement at vs_context_create, then every batch), and the time
 *     until a helper joins plus any wait for a helper stalled in its unit
 *     (a calibration when the workers start, then every split batch), so
 *     that on a busy machine, where helpers come late, batches stay on the
 *     caller. A spinning worker counts as ready only while it is on a CPU
 *     (its last spin step is recent); a declined call that follows another
 *     closely may wake a sleeping worker for the next one, and while the
 *     last split paid, a batch that finds a worker on a CPU splits at once,
 *     so that small batches split again soon after a busy spell. Some
 *     declined batches are split anyway (1 in 16 to 1 in 1024) to keep the
 *     measurement current. vs_batch_report.threads says how many threads the
 *     batch was planned for and threads_joined how many took part.
 *   - Results are bit-identical whatever the thread count and timing: a
 *     score depends only on its (query, candidate) pair, and top-k keeps
 *     the best k under a total order (ties by lower id), merged in a fixed
 *     order.
 *   - threads (option, VECSCORE_THREADS, the CLI's --threads) is the most
 *     threads one batch uses, the caller included: 0 = every CPU. Values
 *     from 1 to 4096 are accepted; above the CPU count they are capped at it
 *     (one worker per core), with a VS_LOG_WARN message through the log
 *     callback, and the report's threads_requested keeps the value asked
 *     for. Above 4096 is VS_ERR_INVALID_ARGUMENT. vs_context_threads()
 *     returns the capped value.
 *   - The library does not use OpenMP threads for CPU batches, so it
 *     neither starts an OpenMP team per calling thread nor competes with
 *     the application's own OpenMP or BLAS teams beyond its pool.
 *
 * ## Memory
 *
 * What is allocated when, what is locked, what is kept:
 *
 *   - vs_context_create: the context and the CPU backend's state (a few KB).
 *     On a context that may run CPU batches it makes one workspace: a
 *     staging arena of arena_bytes and one scratch arena of scratch_bytes
 *     per thread, all reserved as address space only, with no memory behind
 *     them. Device "auto" and "opencl..." also load the OpenCL ICD loader
 *     and the drivers it lists (their libraries' memory is theirs); an
 *     OpenCL context maps its own staging buffer of arena_bytes.
 *   - A batch commits arena memory as it first uses it, in steps (64 KiB,
 *     or a quarter of what the arena already holds), so a batch holds what
 *     its shape needs: a few pages for small batches, about
 *     nq x dim x 4 bytes of staging (capped by the query chunk) for large
 *     ones. Concurrent callers each take their own workspace, so N threads
 *     calling at once hold what their N batches need at the same time.
 *   - Locked: staging memory is locked with mlock (best effort, and only
 *     while RLIMIT_MEMLOCK allows) as it is committed, up to lock_bytes per
 *     context in total (default 16 MiB); what is beyond stays ordinary
 *     memory. Scratch arenas are never locked. The report's locked_bytes
 *     says how much the context holds locked.
 *   - Kept: after a batch its workspace goes back to the context. The most
 *     recently used one keeps what its recent batches used (decaying when
 *     batches get smaller); any other that has been idle for 100 ms gives
 *     its memory back to the system, at the next call on the context, and
 *     at most 8 idle reservations are kept. vs_context_free returns
 *     everything.
 *   - The worker pool's threads (stacks of the system's default size, of
 *     which only touched pages are resident) exist once per process.
 *   - vs_corpus_create copies the vectors: the CPU backend keeps n x dim
 *     floats packed for its kernels (n rounded up to the panel width, 8 to
 *     32 rows), plus 2 floats per vector of norms; an OpenCL context also
 *     copies them to the device (and keeps the CPU copy for fallback). The
 *     caller's memory is not referenced after the call. Packed panels of
 *     16 MiB or more are rounded up to 2 MiB and advised for transparent
 *     huge pages (madvise MADV_HUGEPAGE; best effort, never locked), so a
 *     scan of the corpus does not stop at every 4 KiB page.
 *   - Outputs are the caller's; vs_alloc_output allocates only when called.
 *   A context that has run one 1 x 1000 x 768 CPU batch holds well under
 *   16 MiB more resident memory than before it was created (tested).
 */
#ifndef VECSCORE_H
#define VECSCORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(VECSCORE_SHARED_BUILD)
#define VS_API __declspec(dllexport)
#elif defined(__GNUC__)
#define VS_API __attribute__((visibility("default")))
#else
#define VS_API
#endif

#define VS_VERSION_MAJOR 0
#define VS_VERSION_MINOR 1
#define VS_VERSION_PATCH 0
#define VS_VERSION_STRING "0.1.0"

/** The library's version string, e.g. "0.1.0" (static storage). */
VS_API const char *vs_version(void);

/* ==================================================================== */
/* 1. Status codes                                                       */
/* ==================================================================== */

/*
 * One table generates the enum, vs_status_name() and vs_strerror().
 * Values are pinned: they never change between releases.
 *   XX(suffix, value, sentence)
 */
#define VS_STATUS_MAP(XX)                                                                          \
    XX(OK, 0, "success")                                                                           \
    XX(ERR_INVALID_ARGUMENT, -1,                                                                   \
       "invalid argument: a NULL pointer where data is needed, dim or k of 0, an unknown "         \
       "metric or option, or sizes whose byte count overflows size_t")                             \
    XX(ERR_OUT_OF_MEMORY, -2,                                                                      \
       "out of memory: an allocation failed or the work does not fit the configured arenas")       \
    XX(ERR_NO_DEVICE, -3, "no device matches the requested selector")                              \
    XX(ERR_DEVICE, -4, "the device failed while running the batch")                                \
    XX(ERR_UNSUPPORTED, -5,                                                                        \
       "not supported on this machine or build (e.g. a forced ISA the CPU lacks)")                 \
    XX(ERR_IO, -6, "an input/output operation failed")                                             \
    XX(ERR_FORMAT, -7, "malformed or unsupported file contents")                                   \
    XX(ERR_VERIFY, -8, "verification found a result outside the documented error bound")

typedef enum vs_status {
#define VS_STATUS_ENUM_(suffix, value, sentence) VS_##suffix = (value),
    VS_STATUS_MAP(VS_STATUS_ENUM_)
#undef VS_STATUS_ENUM_
} vs_status;

/** "VS_ERR_INVALID_ARGUMENT" for -1, "VS_OK" for 0, "VS_ERR_UNKNOWN" otherwise. */
VS_API const char *vs_status_name(int status);
/** A sentence for people, e.g. for status -2 "out of memory: ...". Never NULL. */
VS_API const char *vs_strerror(int status);

/* ==================================================================== */
/* 2. Logging and options                                                */
/* ==================================================================== */

typedef enum vs_log_level {
    VS_LOG_ERROR = 0,
    VS_LOG_WARN = 1,
    VS_LOG_INFO = 2,
    VS_LOG_DEBUG = 3
} vs_log_level;

/*
 * The library never prints. Messages go to this callback, from whichever
 * thread made the call; message is valid only during the call.
 */
typedef void (*vs_log_fn)(void *user, vs_log_level level, const char *message);

typedef enum vs_metric { VS_METRIC_DOT = 0, VS_METRIC_COSINE = 1, VS_METRIC_L2SQ = 2 } vs_metric;

/** "dot", "cosine", "l2sq"; NULL for an unknown value. */
VS_API const char *vs_metric_name(vs_metric metric);

/*
 * Options for a context. Always start from vs_options_init(), then set what
 * you need. A field left at its default (0, NULL or "auto") takes the value
 * of its environment variable when that is set, else the built-in default:
 * explicit option > environment > default.
 *
 *   field          environment              default
 *   device         VECSCORE_DEVICE          "auto"
 *   threads        VECSCORE_THREADS         0 = every CPU this process may use; at most
 *                                           the CPU count (higher values up to 4096 are
 *                                           capped, with a warning: see "Threads")
 *   arena_bytes    VECSCORE_ARENA_BYTES     64 MiB staging arena per concurrent batch
 *                                           (address space; committed as used)
 *   scratch_bytes  VECSCORE_SCRATCH_BYTES   8 MiB scratch arena per thread (the same)
 *   lock_bytes     VECSCORE_LOCK_BYTES      16 MiB: most arena memory the context locks
 *                                           with mlock; below 64 KiB (or the variable
 *                                           set to 0) nothing is locked
 *   isa            VECSCORE_ISA             best the CPU has ("serial", "avx2", "avx512", "neon")
 *   cache_dir      VECSCORE_CACHE_DIR       $XDG_CACHE_HOME/vecscore (OpenCL programs)
 *   verify         VECSCORE_VERIFY          0 (off)
 *   log_level      VECSCORE_LOG_LEVEL       VS_LOG_WARN ("error", "warn", "info", "debug")
 *   cl_kernels     VECSCORE_CL_KERNELS      "auto": the OpenCL kernel family by device type
 *                                           ("cpu" on CPU-type devices such as PoCL, "gpu"
 *                                           elsewhere); "gpu" or "cpu" forces one family on
 *                                           any device (same results, docs/opencl.md)
 *
 * Numbers in the environment are decimal digits and nothing else: a sign,
 * a blank before or after, a base prefix, other trailing characters or a
 * value that overflows is malformed. Byte sizes accept one K, M or G suffix
 * (powers of 1024) and must be at least 1. A malformed environment value
 * makes vs_context_create fail with VS_ERR_INVALID_ARGUMENT and a log
 * message naming the variable, its value and what is wrong.
 *
 * cache_dir holds the OpenCL program binaries and the cost model's
 * constants. It is created 0700 where missing and used only when it is
 * private: owned by the user and not writable by group or others (else one
 * warning, and programs are built from source). Entries must be regular
 * files with the same properties. See docs/opencl.md for the trust model.
 *
 * device selects where batches run (see section 9 for the list):
 *   "auto"              an OpenCL GPU or accelerator when there is one (a
 *                       cost model then picks it or the CPU per call shape),
 *                       else the native CPU kernels; the batch report says
 *                       why the CPU ran. PoCL-style OpenCL CPU devices are
 *                       never chosen by "auto", only by name.
 *   "cpu"               the native SIMD kernels
 *   "opencl"            the first OpenCL device found (any type)
 *   "opencl:P:D"        device D of platform P (0-based, as `vecscore devices`;
 *                       digits only, P in 0..15, D in 0..63, else the
 *                       selector is malformed: VS_ERR_INVALID_ARGUMENT)
 *   "opencl:name=TEXT"  the first OpenCL device whose name contains TEXT
 *                       (case-insensitive)
 * An OpenCL selector that matches nothing (or no OpenCL platform at all)
 * makes vs_context_create fail with VS_ERR_NO_DEVICE and a log message
 * naming what was looked for. An explicit OpenCL selector with an
 * arena_bytes below what the device needs fails with VS_ERR_INVALID_ARGUMENT,
 * and the message gives the minimum ("auto" runs on the CPU instead). A
 * context on an OpenCL device re-runs a batch on the CPU kernels when the
 * device fails inside it (same results; the report's fallback field says
 * why); after 3 such failures the context stops using the device.
 *
 * verify = 1 recomputes a sample of every batch's results (up to 16 scores)
 * in float64 after the batch and fails the call with VS_ERR_VERIFY if one is
 * outside the documented bound. It costs O(16 * dim) per batch.
 */
typedef struct vs_options {
    const char *device;
    int threads;
    size_t arena_bytes;
    size_t scratch_bytes;
    const char *isa;
    const char *cache_dir;
    int verify;
    vs_log_fn log;
    void *log_user;
    int log_level;          /* a vs_log_level, or -1 for the default */
    size_t lock_bytes;      /* cap on locked arena memory; 0 = environment or 16 MiB */
    const char *cl_kernels; /* "auto" (or NULL), "gpu" or "cpu": OpenCL kernel family */
} vs_options;

/** Fills opts with the defaults above (device "auto", threads 0 = all cores). */
VS_API void vs_options_init(vs_options *opts);

/* ==================================================================== */
/* 3. Context                                                            */
/* ==================================================================== */

typedef struct vs_context vs_context;

/*
 * Creates a context. opts may be NULL for the defaults. The context copies
 * what it needs from opts (strings included). On success *out owns the new
 * context; free it with vs_context_free. On failure *out is set to NULL.
 * Returns 0 or a negative vs_status: VS_ERR_INVALID_ARGUMENT (bad option),
 * VS_ERR_UNSUPPORTED (forced ISA not available), VS_ERR_NO_DEVICE,
 * VS_ERR_OUT_OF_MEMORY.
 */
VS_API int vs_context_create(const vs_options *opts, vs_context **out);

/** Frees the context and everything it owns. NULL is fine. */
VS_API void vs_context_free(vs_context *ctx);

/** The ISA the context's CPU kernels use ("serial", "avx2", "avx512", "neon"). */
VS_API const char *vs_context_isa(const vs_context *ctx);

/**
 * The most threads one batch of this context uses, the caller included
 * (>= 1, at most the CPU count; see "Threads" above).
 */
VS_API int vs_context_threads(const vs_context *ctx);

/* ==================================================================== */
/* 4. Simple API: candidates passed every call                           */
/* ==================================================================== */

/*
 * Scores every query against every candidate.
 *   queries     nq x dim floats, row-major
 *   candidates  nc x dim floats, row-major
 *   scores      nq x nc floats, written row-major (query-major):
 *               scores[i * nc + j] = score(query i, candidate j)
 * nq == 0 or nc == 0 is valid and writes nothing. Inputs are never modified.
 * Returns 0 or a negative vs_status; on error nothing is written.
 */
VS_API int vs_score(vs_context *ctx, vs_metric metric, const float *queries, size_t nq,
                    const float *candidates, size_t nc, size_t dim, float *scores);

/*
 * The best k candidates per query, best first.
 *   scores, ids   nq x k each, row-major: row i holds query i's results.
 *                 ids are candidate row numbers (0-based); padding is id -1.
 * The full score matrix is never materialised. k must be >= 1; k > nc is
 * valid (padded). nq == 0 writes nothing; nc == 0 writes only padding.
 * Returns 0 or a negative vs_status; on error nothing is written.
 */
VS_API int vs_topk(vs_context *ctx, vs_metric metric, const float *queries, size_t nq,
                   const float *candidates, size_t nc, size_t dim, size_t k, float *scores,
                   int64_t *ids);

/* ==================================================================== */
/* 5. Corpus API: candidates held by the library                         */
/* ==================================================================== */

typedef struct vs_corpus vs_corpus;

/*
 * Copies n x dim vectors into a corpus laid out for the context's kernels
 * and computes their norms once. The caller's memory is not referenced after
 * the call returns. n may be 0. The corpus keeps a reference to ctx: free
 * every corpus before its context.
 * Returns 0 or a negative vs_status; on failure *out is NULL.
 */
VS_API int vs_corpus_create(vs_context *ctx, const float *vectors, size_t n, size_t dim,
                            vs_corpus **out);

/** Like vs_score with the corpus as candidates; scores is nq x vs_corpus_size(c). */
VS_API int vs_corpus_score(vs_corpus *c, vs_metric metric, const float *queries, size_t nq,
                           float *scores);

/** Like vs_topk with the corpus as candidates. */
VS_API int vs_corpus_topk(vs_corpus *c, vs_metric metric, const float *queries, size_t nq, size_t k,
                          float *scores, int64_t *ids);

/** Number of vectors in the corpus. */
VS_API size_t vs_corpus_size(const vs_corpus *c);
/** Dimension of the corpus vectors. */
VS_API size_t vs_corpus_dim(const vs_corpus *c);

/** Frees the corpus. NULL is fine. */
VS_API void vs_corpus_free(vs_corpus *c);

/* ---- 5a. Compact corpora: float16, bfloat16 and int8 storage ------------ */

/*
 * A corpus may keep its vectors in a compact type and be scanned with
 * kernels for that type. Queries stay float32 at the API.
 *
 *   VS_STORAGE_F32   float32, as vs_corpus_create.
 *   VS_STORAGE_F16   IEEE binary16 per component, times a per-vector power of
 *                    two chosen so that the largest component does not
 *                    overflow (|x| <= 2^15 after scaling).
 *   VS_STORAGE_BF16  bfloat16 (the top 16 bits of a float32, rounded to
 *                    nearest even), times a per-vector power of two.
 *   VS_STORAGE_I8    int8 in [-127, 127] per component, times a per-vector
 *                    float32 scale max|x_i| / 127 (symmetric, no offset).
 *
 * exact = 1 (the default): vs_corpus_topk returns exactly the ids and
 * float32 scores that vs_corpus_create on the same vectors returns, on the
 * same context (same ISA): same tie rule, padding, NaN handling and clamps.
 * The library scans the compact copy, keeps every candidate whose compact
 * score could reach the top k within a rigorous per-candidate error bound
 * (docs/numerics.md, "Compact storage"), and rescores those with the float32
 * kernel. When that set would exceed max(2k, n/8) candidates for a query, or
 * a bound cannot be certified (non-finite or zero query, a product that may
 * overflow float32), the query is scored by the float32 corpus instead: the
 * answer is never approximate. vs_corpus_score returns float32 scores. The
 * float32 rows are kept for rescoring.
 *
 * exact = 0: no float32 copy is kept. Scores are computed from the compact
 * copy; each is within its bound of the exact score, and the batch report's
 * max_error_bound gives the largest bound of the scores the batch returned.
 * A vector with a NaN or infinite component scores NaN in this mode.
 *
 * Memory per vector (n vectors of dimension dim, in bytes):
 *
 *   storage   exact = 1                  exact = 0
 *   F32       4 dim + 8 (vs_corpus_create, as before; exact is ignored)
 *   F16       2 dim + 32 + (4 dim + 8)   2 dim + 32
 *   BF16      2 dim + 32 + (4 dim + 8)   2 dim + 32
 *   I8        dim + 32 + (4 dim + 8)     dim + 32
 *
 * (32 bytes per vector: its scale, its float64 norm, the norm of its
 * quantisation error and the norm of its stored form; 4 dim + 8 is the
 * float32 copy with its norms.) Packed panels round n up to the kernel's
 * panel width.
 *
 * On a context with an OpenCL device (chosen explicitly, or by "auto"), the
 * compact copy is also placed on the device, and in exact mode the float32
 * rows too (device memory per vector: the compact bytes, plus 4 dim + 8 in
 * exact mode; the host keeps its copies for the CPU path). A batch the
 * device takes scans there (report.kernels names vs_compact_f16, _bf16 or
 * _i8) and rescores through the device's float32 kernels, so exact results
 * are those of a float32 corpus on the same context, i.e. on that device.
 * "auto" asks its cost model per batch, as for float32 corpora. A corpus the
 * device cannot hold (larger than one device allocation), a demoted context
 * or a device failure during the batch runs it on the CPU (a failed batch is
 * re-run whole); report.backend says which ran and report.fallback why.
 */
typedef enum {
    VS_STORAGE_F32 = 0,
    VS_STORAGE_F16 = 1,
    VS_STORAGE_BF16 = 2,
    VS_STORAGE_I8 = 3
} vs_storage;

typedef struct vs_corpus_options {
    vs_storage storage; /* default VS_STORAGE_F32 */
    int exact;          /* default 1: results are those of a float32 corpus */
} vs_corpus_options;

/** Fills *opts with the defaults (VS_STORAGE_F32, exact = 1). NULL is fine. */
VS_API void vs_corpus_options_init(vs_corpus_options *opts);

/** "f32", "f16", "bf16", "i8", or NULL for an unknown value. */
VS_API const char *vs_storage_name(vs_storage storage);

/**
 * Parses "f32", "f16", "bf16" or "i8" (also "float32", "float16", "bfloat16",
 * "int8"). Returns 0 and sets *out, or VS_ERR_INVALID_ARGUMENT.
 */
VS_API int vs_storage_parse(const char *name, vs_storage *out);

/*
 * Like vs_corpus_create, with the storage and mode of opts (NULL = defaults,
 * which is vs_corpus_create). Returns 0 or a negative vs_status:
 * VS_ERR_INVALID_ARGUMENT for an unknown storage, an exact value other than
 * 0 or 1, a NULL ctx/out, NULL vectors with n > 0, dim 0, or a size that
 * overflows; VS_ERR_UNSUPPORTED on an explicit OpenCL device (see above);
 * VS_ERR_OUT_OF_MEMORY. On failure *out is NULL and nothing is kept.
 */
VS_API int vs_corpus_create_with(vs_context *ctx, const float *vectors, size_t n, size_t dim,
                                 const vs_corpus_options *opts, vs_corpus **out);

/*
 * Like vs_corpus_create_with, from vectors that are already float16 or
 * bfloat16: n x dim uint16_t bit patterns (row-major, host byte order),
 * `input` VS_STORAGE_F16 or VS_STORAGE_BF16. When opts->storage equals input
 * the bits are stored as they are (no float32 round trip; the per-vector
 * scale is 1 and the stored error is 0). Otherwise each row is widened to
 * float32 (exact) and encoded. With exact = 1 the float32 copy kept for
 * rescoring is the exact widening of the input.
 */
VS_API int vs_corpus_create_from_half(vs_context *ctx, const uint16_t *vectors, vs_storage input,
                                      size_t n, size_t dim, const vs_corpus_options *opts,
                                      vs_corpus **out);

/** The storage of a corpus (VS_STORAGE_F32 for NULL). */
VS_API vs_storage vs_corpus_storage(const vs_corpus *c);

/*
 * Merges top-k results computed over two disjoint sets of candidates, such as
 * chunks of one base file or shards on other machines, in the library's
 * order. A base too large for one corpus can then be scored chunk by chunk
 * with exact results.
 *
 *   scores, ids              nq x k, best first: the running result, updated
 *                            in place
 *   more_scores, more_ids    nq x k, best first, from the other candidates;
 *                            their ids are shifted by id_offset (padding
 *                            id -1 stays -1)
 *
 * The order is the same as vs_topk's: better score first (higher for DOT and
 * COSINE, lower for L2SQ), equal scores by lower id, NaN after every number,
 * padding (id -1) last. Merging the top-k of each part of a candidate set
 * gives exactly the top-k of the whole set. The two inputs must not
 * overlap.
 *
 * Sharding. Any framework that splits a base over workers (MPI ranks, Spark
 * partitions, Ray tasks, a job array) gets the one-call result, byte for
 * byte, in three steps: (1) each worker runs vs_topk / vs_corpus_topk on a
 * contiguous range of rows [begin, end), ids local to it; (2) it merges that
 * into an all-padding result (id -1, score -inf, or +inf for L2SQ) with
 * id_offset = begin, which makes the ids global; (3) the per-worker results
 * are merged pairwise in any order or tree shape with id_offset = 0. Only
 * nq x k x 12 bytes per worker travel, whatever the base size; every worker
 * must score with the same device kind, so that the scores themselves are
 * the same bits. examples/shard.c does this inside one process and checks
 * it; vecscore-mpi (docs/cli.md) does it over MPI.
 *
 * Returns 0, VS_ERR_INVALID_ARGUMENT (NULL with nq > 0, k = 0, an
 * unknown metric, nq x k overflowing, or a negative id_offset), or
 * VS_ERR_OUT_OF_MEMORY (k entries of temporary space). On error nothing is
 * written.
 */
VS_API int vs_topk_merge(vs_metric metric, size_t nq, size_t k, float *scores, int64_t *ids,
                         const float *more_scores, const int64_t *more_ids, int64_t id_offset);

/* ==================================================================== */
/* 6. Reports: what ran the last batch                                   */
/* ==================================================================== */

/*
 * Numeric report fields, defined once: X(type, name, unit, description).
 * The CLI and benchmarks print reports from this list.
 */
#define VS_REPORT_FIELDS(X)                                                                        \
    X(int, status, "", "status the batch returned (0 or a negative vs_status)")                    \
    X(int, metric, "", "vs_metric of the batch")                                                   \
    X(uint64_t, queries, "", "number of queries")                                                  \
    X(uint64_t, candidates, "", "number of candidates")                                            \
    X(uint64_t, dim, "", "vector dimension")                                                       \
    X(uint64_t, k, "", "k for top-k, 0 for a score matrix")                                        \
    X(int, threads, "", "worker threads used")                                                     \
    X(uint64_t, query_chunks, "", "query chunks the batch was split into to fit the arena")        \
    X(uint64_t, arena_capacity_bytes, "B", "staging arena capacity")                               \
    X(uint64_t, arena_high_water_bytes, "B", "staging arena high-water mark in this batch")        \
    X(uint64_t, scratch_high_water_bytes, "B", "largest per-worker scratch high-water mark")       \
    X(int, arena_pinned, "", "1 if all the staging memory the batch used is locked in memory")     \
    X(uint64_t, bytes_mapped, "B", "output bytes a device wrote in place (zero-copy)")             \
    X(uint64_t, bytes_copied, "B", "bytes copied between host and device or staging")              \
    X(double, compile_seconds, "s",                                                                \
      "OpenCL: context's program build or cache load plus first launch of each kernel; "           \
      "reported with the context's first batch")                                                   \
    X(int, program_cache, "",                                                                      \
      "OpenCL program: 0 not built in this batch, 1 compiled, 2 loaded from cache")                \
    X(double, transfer_seconds, "s", "host-device transfer time")                                  \
    X(double, kernel_seconds, "s", "time in scoring kernels")                                      \
    X(double, total_seconds, "s", "wall time of the whole call")                                   \
    X(int, threads_requested, "",                                                                  \
      "threads asked for (option or VECSCORE_THREADS; 0 resolved to the CPU count); more than "    \
      "threads when it was capped at the CPU count")                                               \
    X(int, threads_joined, "", "threads that ran part of the batch, the caller included")          \
    X(uint64_t, workspace_bytes, "B",                                                              \
      "memory committed in the batch's workspace (staging + scratch) when it ended")               \
    X(uint64_t, locked_bytes, "B", "arena memory the context held locked when the batch ended")    \
    X(uint64_t, device_buffers_created, "",                                                        \
      "OpenCL: scratch buffers the batch had to create or grow (0 when the context's pool "        \
      "already held them)")                                                                        \
    X(int, storage, "", "vs_storage of the corpus (0 float32 for the simple API)")                 \
    X(uint64_t, rescored, "",                                                                      \
      "compact exact mode: candidates rescored in float32 (all of a query's candidates when it "   \
      "fell back to the float32 corpus)")                                                          \
    X(uint64_t, fallback_queries, "",                                                              \
      "compact exact mode: queries scored by the float32 corpus because no bound could be "        \
      "certified or the candidate set was too large")                                              \
    X(double, max_error_bound, "",                                                                 \
      "compact approximate mode: largest error bound of the scores returned (0 otherwise)")

/*
 * Text report fields, defined once: X(name, size, description). The first
 * list opens the struct; the second (which path ran) follows the numbers.
 */
#define VS_REPORT_TEXT_FIELDS(X)                                                                   \
    X(backend, 16, "\"cpu\" or \"opencl\"")                                                        \
    X(isa, 16,                                                                                     \
      "CPU ISA that ran (or ran the fallback); a compact corpus's batch names its compact table, " \
      "e.g. \"avx512bf16vnni\" (docs/isa.md)")                                                     \
    X(device, 128, "device name")                                                                  \
    X(fallback, 192, "why the batch ran elsewhere than asked; empty if it did not")
#define VS_REPORT_PATH_FIELDS(X)                                                                   \
    X(kernel_family, 8,                                                                            \
      "OpenCL kernel family that ran: \"gpu\", \"cpu\" or \"tile\" (empty on the CPU backend)")    \
    X(kernels, 192,                                                                                \
      "OpenCL kernels the batch launched, in launch-table order, with their tile parameters, "     \
      "e.g. \"vs_score_blocked(block 8x8, tile 128x128x16) vs_select_segments\"")

#define VS_REPORT_VERSION 3

typedef struct vs_batch_report {
    size_t struct_size; /* sizeof(vs_batch_report) of the library that filled it */
    int version;        /* VS_REPORT_VERSION */
#define VS_REPORT_TEXT_MEMBER_(name, size, description) char name[size];
    VS_REPORT_TEXT_FIELDS(VS_REPORT_TEXT_MEMBER_)
#define VS_REPORT_MEMBER_(type, name, unit, description) type name;
    VS_REPORT_FIELDS(VS_REPORT_MEMBER_)
#undef VS_REPORT_MEMBER_
    VS_REPORT_PATH_FIELDS(VS_REPORT_TEXT_MEMBER_)
#undef VS_REPORT_TEXT_MEMBER_
} vs_batch_report;

/*
 * Copies the report of the last batch the calling thread completed on this
 * context into *out: each thread sees its own batches, never another
 * thread's. When this thread has run no batch on ctx (or has since used 8
 * other contexts, the most a thread remembers), the report is zeroed
 * (backend "") apart from struct_size and version.
 * Returns 0, or VS_ERR_INVALID_ARGUMENT if ctx or out is NULL.
 */
VS_API int vs_context_last_report(vs_context *ctx, vs_batch_report *out);

/*
 * Writes the report as "name=value" lines into buf (always NUL-terminated
 * when size > 0). Returns the length the full text needs, like snprintf.
 */
VS_API size_t vs_batch_report_format(const vs_batch_report *report, char *buf, size_t size);

/* ==================================================================== */
/* 7. Output memory                                                      */
/* ==================================================================== */

/*
 * Allocates bytes (rounded up to a multiple of 4096) aligned to 4096 bytes,
 * which lets an OpenCL device write results into it in place. Returns NULL
 * on failure or when bytes is 0. Free with vs_free_output (NULL is fine).
 */
VS_API void *vs_alloc_output(size_t bytes);
VS_API void vs_free_output(void *ptr);

/* ==================================================================== */
/* 8. CPU information                                                    */
/* ==================================================================== */

/*
 * The ISAs: "serial" (plain C, the reference, everywhere), "avx2" (AVX2 +
 * FMA) and "avx512" (AVX-512F/DQ) on x86-64, "neon" (Advanced SIMD) on
 * AArch64. Detection: CPUID and XGETBV on x86, getauxval(AT_HWCAP) on
 * AArch64 Linux. docs/isa.md says how dispatch chooses.
 */
/** 1 if this CPU (and build) can run the named ISA ("serial", "avx2", "avx512", "neon"), else 0. */
VS_API int vs_cpu_isa_supported(const char *isa);
/** The best ISA this CPU supports. */
VS_API const char *vs_cpu_best_isa(void);
/**
 * The index-th ISA name the library knows (0 is "serial"), on any
 * architecture, or NULL when index is negative or past the last. A known ISA
 * may be unsupported here: ask vs_cpu_isa_supported. The names stay valid
 * for the life of the program.
 */
VS_API const char *vs_cpu_isa_name(int index);

/* ==================================================================== */
/* 9. Devices                                                            */
/* ==================================================================== */

typedef enum vs_device_kind {
    VS_DEVICE_NATIVE_CPU = 0,         /* the native SIMD kernels */
    VS_DEVICE_OPENCL_GPU = 1,         /* CL_DEVICE_TYPE_GPU */
    VS_DEVICE_OPENCL_CPU = 2,         /* CL_DEVICE_TYPE_CPU (e.g. PoCL) */
    VS_DEVICE_OPENCL_ACCELERATOR = 3, /* CL_DEVICE_TYPE_ACCELERATOR */
    VS_DEVICE_OPENCL_OTHER = 4
} vs_device_kind;

/** What one device is; strings are NUL-terminated and cut to their field's
 * size (vs_device_string gives any of them whole). */
typedef struct vs_device {
    vs_device_kind kind;
    char selector[32];         /* "cpu" or "opencl:P:D": pass it as vs_options.device */
    char name[128];            /* device name (CPU: "native CPU (avx512, 16 threads)") */
    char vendor[128];          /* device vendor */
    char platform[128];        /* OpenCL platform name; "" for the native CPU */
    char driver_version[64];   /* CL_DRIVER_VERSION; "" for the native CPU */
    char device_version[64];   /* CL_DEVICE_VERSION; the ISA for the native CPU */
    int platform_index;        /* P of "opencl:P:D"; -1 for the native CPU */
    int device_index;          /* D of "opencl:P:D"; -1 for the native CPU */
    unsigned compute_units;    /* CL_DEVICE_MAX_COMPUTE_UNITS, or CPU threads */
    uint64_t global_mem_bytes; /* CL_DEVICE_GLOBAL_MEM_SIZE; 0 for the native CPU */
    uint64_t max_alloc_bytes;  /* CL_DEVICE_MAX_MEM_ALLOC_SIZE; 0 for the native CPU */
    unsigned base_align_bytes; /* CL_DEVICE_MEM_BASE_ADDR_ALIGN in bytes */
    int unified_memory;        /* CL_DEVICE_HOST_UNIFIED_MEMORY (1 for the native CPU) */
    int zero_copy_expected;    /* 1 if aligned outputs are written in place, without a copy */
    int auto_eligible;         /* 1 if "auto" may choose it */
} vs_device;

/*
 * Number of devices: 1 (the native CPU, always index 0) plus every OpenCL
 * device the ICD loader reports, in platform then device order. Discovery
 * runs on every call (a few OpenCL queries). A library built without OpenCL
 * (-DVECSCORE_OPENCL=OFF) has the native CPU only: "auto" runs there, and an
 * "opencl..." selector fails with VS_ERR_NO_DEVICE.
 */
VS_API int vs_device_count(void);

/*
 * Fills *out for device index (0 <= index < vs_device_count()). Returns 0,
 * or VS_ERR_INVALID_ARGUMENT for a bad index or NULL out.
 */
VS_API int vs_device_info(int index, vs_device *out);

/** The string fields of vs_device, for vs_device_string. */
typedef enum vs_device_field {
    VS_DEVICE_FIELD_NAME = 0,           /* vs_device.name */
    VS_DEVICE_FIELD_VENDOR = 1,         /* vs_device.vendor */
    VS_DEVICE_FIELD_PLATFORM = 2,       /* vs_device.platform */
    VS_DEVICE_FIELD_DRIVER_VERSION = 3, /* vs_device.driver_version */
    VS_DEVICE_FIELD_DEVICE_VERSION = 4  /* vs_device.device_version */
} vs_device_field;

/*
 * One string property of device index, whole: the vs_device fields have
 * fixed sizes and cut longer strings (a CL_DEVICE_VERSION can exceed 63
 * characters). Copies it into out, NUL-terminated and cut to size - 1
 * characters (out may be NULL when size is 0), and returns its full length
 * like snprintf: call with size 0 for the length, then with length + 1.
 * Returns a negative vs_status instead: VS_ERR_INVALID_ARGUMENT for a bad
 * index or field or a NULL out with size > 0, VS_ERR_OUT_OF_MEMORY.
 */
VS_API int vs_device_string(int index, vs_device_field field, char *out, size_t size);

/*
 * Why there are no OpenCL devices: "" when at least one was found, else a
 * sentence (e.g. "no OpenCL platform (clGetPlatformIDs: CL_PLATFORM_NOT_FOUND_KHR)",
 * or, in a library built with -DVECSCORE_OPENCL=OFF, "no OpenCL platform
 * (built without OpenCL)"). The string is static.
 */
VS_API const char *vs_opencl_status(void);

/* ==================================================================== */
/* 10. Errors                                                            */
/* ==================================================================== */

/*
 * The detailed message of the calling thread's last failed call into the
 * library, the same text the log callback gets at VS_LOG_ERROR (e.g.
 * "vs_topk: k is 0"), whether or not a callback is set. "" when this
 * thread's last call (vs_context_create, the batch calls, vs_corpus_create)
 * succeeded or none failed yet. The string belongs to the thread and stays
 * valid until its next call into the library. Never NULL.
 */
VS_API const char *vs_last_error_message(void);

#ifdef __cplusplus
}
#endif

#endif /* VECSCORE_H */
