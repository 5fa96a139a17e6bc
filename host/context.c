/*
 * context.c — options (with environment overrides), context lifetime, the
 * workspace pool and per-thread reports.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../cpu/pool.h"
#include "internal.h"
#include "options.h"

/* ---- per-thread facts: the last report per context --------------------------------- */

#define VS_REPORTS_PER_THREAD 8

typedef struct thread_facts {
    struct {
        uint64_t context; /* vs_context.id, 0 = unused */
        vs_batch_report report;
    } reports[VS_REPORTS_PER_THREAD];
    unsigned next; /* slot the next new context takes (round robin) */
} thread_facts;

/*
 * Allocated at a thread's first use of the library, freed when the thread
 * exits (the key's destructor); the thread-local pointer keeps it reachable.
 */
static _Thread_local thread_facts *tl_facts;
static pthread_key_t facts_key;
static pthread_once_t facts_once = PTHREAD_ONCE_INIT;
static int facts_key_ok;

static void facts_free(void *facts) {
    if (tl_facts == facts) tl_facts = NULL; /* a later destructor calling in starts afresh */
    free(facts);
}

static void facts_key_make(void) {
    facts_key_ok = pthread_key_create(&facts_key, facts_free) == 0;
}

/* This thread's facts; NULL only if they cannot be allocated. */
static thread_facts *facts(void) {
    if (tl_facts != NULL) return tl_facts;
    pthread_once(&facts_once, facts_key_make);
    thread_facts *made = calloc(1, sizeof(*made));
    if (made == NULL) return NULL;
    if (facts_key_ok) pthread_setspecific(facts_key, made);
    tl_facts = made;
    return made;
}

void vs__report_store(const vs_context *ctx, const vs_batch_report *report) {
    thread_facts *f = facts();
    if (f == NULL) return;
    for (int i = 0; i < VS_REPORTS_PER_THREAD; i++)
        if (f->reports[i].context == ctx->id) {
            f->reports[i].report = *report;
            return;
        }
    unsigned slot = f->next++ % VS_REPORTS_PER_THREAD;
    f->reports[slot].context = ctx->id;
    f->reports[slot].report = *report;
}

void vs_options_init(vs_options *opts) {
    if (opts == NULL) return;
    memset(opts, 0, sizeof(*opts));
    opts->device = "auto";
    opts->threads = 0;
    opts->log_level = -1;
}

/* ---- parsing environment values -------------------------------------- */

/* Logs through the options' callback before a context exists. */
static void early_log(const vs_options *opts, const char *message) {
    if (opts != NULL && opts->log != NULL) opts->log(opts->log_user, VS_LOG_ERROR, message);
}

/*
 * The environment variable of a numeric row of the options table, through
 * the library's one strict parser as its row says: 0 unset, 1 set (*out),
 * or VS_ERR_INVALID_ARGUMENT (logged, naming it).
 */
static int env_option(const vs_options *opts, vs__option_id id, uint64_t *out) {
    const vs__option_row *row = &vs__options[id];
    char why[256];
    int found = vs__env_uint(row->env, vs__option_env(id), row->min, row->max,
                             row->kind == VS_OPTION_BYTES, row->expected, out, why, sizeof(why));
    if (found < 0) early_log(opts, why);
    return found;
}

static int env_size(const vs_options *opts, vs__option_id id, size_t *inout) {
    uint64_t value = 0;
    int found = env_option(opts, id, &value);
    if (found == 1) *inout = (size_t)value;
    return found < 0 ? found : VS_OK;
}

/* VECSCORE_LOG_LEVEL: a name, or the number 0..3. */
static int env_log_level(const vs_options *opts, int *out) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    const char *text = vs__option_env(VS_OPTION_ID(log_level));
    if (text == NULL) return VS_OK;
    for (int i = 0; i < 4; i++)
        if (strcmp(text, names[i]) == 0) {
            *out = i;
            return VS_OK;
        }
    uint64_t value = 0;
    int found = env_option(opts, VS_OPTION_ID(log_level), &value);
    if (found == 1) *out = (int)value;
    return found < 0 ? found : VS_OK;
}

/* A word-valued variable or option: the index of `text` in `words`, or -1. */
static int word_index(const char *text, const char *const *words, int count) {
    for (int i = 0; i < count; i++)
        if (strcmp(text, words[i]) == 0) return i;
    return -1;
}

static int bad_word(const vs_options *opts, const char *what, const char *name, const char *text,
                    const char *expected) {
    char message[256];
    snprintf(message, sizeof(message), "%s %s has an invalid value '%.64s%s' (expected %s)", what,
             name, text, strlen(text) > 64 ? "..." : "", expected);
    early_log(opts, message);
    return VS_ERR_INVALID_ARGUMENT;
}

/* VECSCORE_CL_BLOCK=RxC, R and C in {1, 2, 4, 8}: 1 set, 0 unset, or an error (logged). */
static int env_block(const vs_options *opts, int *rows, int *columns) {
    const vs__option_row *row = &vs__options[VS_OPTION_ID(cl_block)];
    const char *text = vs__option_env(VS_OPTION_ID(cl_block));
    if (text == NULL) return 0;
    static const char *const sizes[] = {"1", "2", "4", "8"};
    const char *x = strchr(text, 'x');
    char first[4] = "";
    if (x != NULL && (size_t)(x - text) < sizeof(first)) {
        memcpy(first, text, (size_t)(x - text));
        first[x - text] = '\0';
    }
    const int r = x != NULL ? word_index(first, sizes, 4) : -1;
    const int c = x != NULL ? word_index(x + 1, sizes, 4) : -1;
    if (r < 0 || c < 0)
        return bad_word(opts, "environment variable", row->env, text, row->expected);
    *rows = 1 << r;
    *columns = 1 << c;
    return 1;
}

/*
 * The OpenCL knobs, read here once so that cl/ never reads the environment:
 * the kernel family (option cl_kernels, VECSCORE_CL_KERNELS; the older
 * testing knob VECSCORE_CL_KERNEL=tile|rows), the GPU kernel's register
 * block, fused top-k, the allocation cap, the top-k survivor buffer and
 * auto's view of CPU devices.
 */
static int resolve_cl_config(const vs_options *opts, vs__config *cfg) {
    static const char *const families[] = {"auto", "cpu", "gpu"}; /* VS__CL_KERNELS_* order */
    const vs__option_row *row = &vs__options[VS_OPTION_ID(cl_kernels)];
    const char *family = opts->cl_kernels;
    const char *source = "option";
    if (family == NULL || strcmp(family, "auto") == 0) {
        const char *env = vs__option_env(VS_OPTION_ID(cl_kernels));
        family = env != NULL ? env : "auto";
        if (env != NULL) source = "environment variable";
    }
    cfg->cl_kernels = word_index(family, families, 3);
    if (cfg->cl_kernels < 0)
        return bad_word(opts, source, strcmp(source, "option") == 0 ? row->field : row->env, family,
                        row->expected);
    static const char *const legacy[] = {"rows", "tile"};
    const char *kernel = vs__option_env(VS_OPTION_ID(cl_kernel));
    if (kernel != NULL) {
        const int which = word_index(kernel, legacy, 2);
        if (which < 0)
            return bad_word(opts, "environment variable", vs__options[VS_OPTION_ID(cl_kernel)].env,
                            kernel, vs__options[VS_OPTION_ID(cl_kernel)].expected);
        if (cfg->cl_kernels == VS__CL_KERNELS_AUTO)
            cfg->cl_kernels = which == 0 ? VS__CL_KERNELS_CPU : VS__CL_KERNELS_TILE;
    }
    if (env_block(opts, &cfg->cl_block_rows, &cfg->cl_block_columns) < 0)
        return VS_ERR_INVALID_ARGUMENT;
    uint64_t value = 0;
    int found = env_option(opts, VS_OPTION_ID(cl_fused), &value);
    if (found < 0) return VS_ERR_INVALID_ARGUMENT;
    cfg->cl_fused = found == 1 ? (int)value : -1;
    found = env_option(opts, VS_OPTION_ID(cl_max_alloc_bytes), &value);
    if (found < 0) return VS_ERR_INVALID_ARGUMENT;
    cfg->cl_max_alloc = found == 1 ? (size_t)value : 0;
    found = env_option(opts, VS_OPTION_ID(cl_survivors), &value);
    if (found < 0) return VS_ERR_INVALID_ARGUMENT;
    cfg->cl_survivors = found == 1 ? (long)value : -1;
    found = env_option(opts, VS_OPTION_ID(cl_filter), &value);
    if (found < 0) return VS_ERR_INVALID_ARGUMENT;
    cfg->cl_filter = found == 1 ? (int)value : -1;
    found = env_option(opts, VS_OPTION_ID(auto_opencl_cpu), &value);
    if (found < 0) return VS_ERR_INVALID_ARGUMENT;
    cfg->cl_auto_opencl_cpu = found == 1 && value == 1;
    return VS_OK;
}

/*
 * A text knob: the option's value, else its row's environment variable; ""
 * counts as unset. 0 and *out a copy or NULL, or -1 when the copy cannot be
 * made.
 */
static int resolve_text(const char *option, vs__option_id id, char **out) {
    const char *text = option;
    if (text == NULL || text[0] == '\0') text = vs__option_env(id);
    *out = text != NULL && text[0] != '\0' ? strdup(text) : NULL;
    return text != NULL && text[0] != '\0' && *out == NULL ? -1 : 0;
}

/* The ISA, the compact ISA (VECSCORE_COMPACT_ISA, checked against the context's ISA by
 * host/compact.c) and the cache directory; VS_OK or VS_ERR_OUT_OF_MEMORY. */
static int resolve_names(const vs_options *opts, vs__config *cfg) {
    if (resolve_text(opts->isa, VS_OPTION_ID(isa), &cfg->isa) != 0 ||
        resolve_text(NULL, VS_OPTION_ID(compact_isa), &cfg->compact_isa) != 0 ||
        resolve_text(opts->cache_dir, VS_OPTION_ID(cache_dir), &cfg->cache_dir) != 0)
        return VS_ERR_OUT_OF_MEMORY;
    return VS_OK;
}

static int resolve_config(const vs_options *opts, vs__config *cfg) {
    vs_options defaults;
    vs_options_init(&defaults);
    if (opts == NULL) opts = &defaults;
    memset(cfg, 0, sizeof(*cfg));
    cfg->log = opts->log;
    cfg->log_user = opts->log_user;

    const char *env;
    uint64_t value = 0;
    char why[384];
    /* log level first, so later problems can be logged */
    cfg->log_level = VS_DEFAULT_LOG_LEVEL;
    if (opts->log_level >= 0) {
        if (opts->log_level > VS_LOG_DEBUG) return VS_ERR_INVALID_ARGUMENT;
        cfg->log_level = opts->log_level;
    } else if (env_log_level(opts, &cfg->log_level) != VS_OK) {
        return VS_ERR_INVALID_ARGUMENT;
    }

    const char *device = opts->device;
    const char *device_source = "";
    if (device == NULL || strcmp(device, "auto") == 0) {
        env = vs__option_env(VS_OPTION_ID(device));
        device = env != NULL && env[0] != '\0' ? env : "auto";
        if (device == env) device_source = "environment variable VECSCORE_DEVICE: ";
    }
    cfg->device = strdup(device);
    if (cfg->device == NULL) return VS_ERR_OUT_OF_MEMORY;
    /* Parsed once here; select_backend and cl/devices.c use the result. */
    if (vs__selector_parse(cfg->device, &cfg->selector, why, sizeof(why)) != VS_OK) {
        char message[448];
        snprintf(message, sizeof(message), "%s%s", device_source, why);
        early_log(opts, message);
        return VS_ERR_INVALID_ARGUMENT;
    }

    cfg->threads = opts->threads;
    if (cfg->threads < 0) {
        early_log(opts, "option threads is negative (use 0 for all cores)");
        return VS_ERR_INVALID_ARGUMENT;
    }
    if (cfg->threads == 0) {
        int found = env_option(opts, VS_OPTION_ID(threads), &value);
        if (found < 0) return VS_ERR_INVALID_ARGUMENT;
        if (found == 1) cfg->threads = (int)value;
    }
    if (cfg->threads > VS_THREADS_LIMIT) {
        early_log(opts, "option threads is above 4096 (use 0 for all cores)");
        return VS_ERR_INVALID_ARGUMENT;
    }
    /* The cap at the CPU count is applied (and said) by vs_context_create. */
    if (cfg->threads == 0) cfg->threads = vs__pool_cpu_count();
    cfg->threads_requested = cfg->threads;

    cfg->arena_bytes = opts->arena_bytes;
    if (cfg->arena_bytes == 0 &&
        env_size(opts, VS_OPTION_ID(arena_bytes), &cfg->arena_bytes) != VS_OK)
        return VS_ERR_INVALID_ARGUMENT;
    if (cfg->arena_bytes == 0) cfg->arena_bytes = VS_DEFAULT_ARENA_BYTES;

    cfg->scratch_bytes = opts->scratch_bytes;
    if (cfg->scratch_bytes == 0 &&
        env_size(opts, VS_OPTION_ID(scratch_bytes), &cfg->scratch_bytes) != VS_OK)
        return VS_ERR_INVALID_ARGUMENT;
    if (cfg->scratch_bytes == 0) cfg->scratch_bytes = VS_DEFAULT_SCRATCH_BYTES;

    cfg->lock_bytes = opts->lock_bytes;
    if (cfg->lock_bytes == 0) {
        /* VECSCORE_LOCK_BYTES=0 is valid: lock nothing. */
        int found = env_option(opts, VS_OPTION_ID(lock_bytes), &value);
        if (found < 0) return VS_ERR_INVALID_ARGUMENT;
        cfg->lock_bytes = found == 1 ? (size_t)value : VS_DEFAULT_LOCK_BYTES;
    }

    if (resolve_names(opts, cfg) != VS_OK) return VS_ERR_OUT_OF_MEMORY;

    cfg->verify = opts->verify;
    if (cfg->verify == 0) {
        int found = env_option(opts, VS_OPTION_ID(verify), &value);
        if (found < 0) return VS_ERR_INVALID_ARGUMENT;
        if (found == 1) cfg->verify = (int)value;
    }
    if (cfg->verify < 0 || cfg->verify > 1) return VS_ERR_INVALID_ARGUMENT;
    if (resolve_cl_config(opts, cfg) != VS_OK) return VS_ERR_INVALID_ARGUMENT;

    return VS_OK;
}

static void free_config(vs__config *cfg) {
    free(cfg->device);
    free(cfg->isa);
    free(cfg->compact_isa);
    free(cfg->cache_dir);
}

/* ---- context ------------------------------------------------------------ */

static int select_backend(vs_context *ctx) {
    const char *device = ctx->cfg.device;
    const vs__selector *selector = &ctx->cfg.selector; /* parsed by resolve_config */
    int status = vs__cpu_backend_create(&ctx->env, &ctx->cpu, &ctx->cpu_state, &ctx->isa);
    if (status != VS_OK) return status;
    ctx->backend = ctx->cpu;
    ctx->backend_state = ctx->cpu_state;
    if (selector->kind == VS_SELECT_CPU) return VS_OK;
    const int is_auto = selector->kind == VS_SELECT_AUTO;
    char why[384] = "";
    const vs__backend_ops *ops = NULL;
    void *state = NULL;
    status = vs__opencl_open(&ctx->env, selector, &ops, &state, why, sizeof(why));
    if (status == VS_OK) {
        ctx->backend = ops;
        ctx->backend_state = state;
        ctx->is_auto = is_auto;
        /* Not fatal: without calibration the built-in constants apply. */
        if (is_auto) vs__cost_calibrate(ctx);
        return VS_OK;
    }
    if (is_auto && status != VS_ERR_INVALID_ARGUMENT) {
        /* No GPU or accelerator (or it failed to open): the CPU runs, and says why. */
        snprintf(ctx->why_cpu, sizeof(ctx->why_cpu), "%s", why);
        vs__log(vs__sink(ctx), VS_LOG_INFO, "auto: using the CPU backend: %s", why);
        return VS_OK;
    }
    /* A bad option (a malformed testing knob) is an error under "auto" too. */
    return vs__fail(vs__sink(ctx), status, "device '%s': %s", device, why);
}

/* Passes option errors on to the caller's callback and keeps them for vs_last_error_message. */
typedef struct early_sink {
    vs_log_fn log;
    void *user;
} early_sink;

static void early_record(void *user, vs_log_level level, const char *message) {
    const early_sink *sink = user;
    if (level == VS_LOG_ERROR) vs__error_set("%s", message);
    if (sink->log != NULL) sink->log(sink->user, level, message);
}

static atomic_uint_fast64_t context_ids;

static int context_create(const vs_options *opts, vs_context **out) {
    if (out == NULL) {
        vs__error_set("vs_context_create: out is NULL");
        return VS_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    vs_context *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) return VS_ERR_OUT_OF_MEMORY;
    vs_options local;
    if (opts != NULL)
        local = *opts;
    else
        vs_options_init(&local);
    early_sink sink = {local.log, local.log_user};
    local.log = early_record;
    local.log_user = &sink;
    int status = resolve_config(&local, &ctx->cfg);
    ctx->cfg.log = sink.log;
    ctx->cfg.log_user = sink.user;
    ctx->env.log = (vs__log_sink){ctx->cfg.log, ctx->cfg.log_user, ctx->cfg.log_level};
    if (status != VS_OK) {
        free_config(&ctx->cfg);
        free(ctx);
        return status;
    }
    if (pthread_mutex_init(&ctx->lock, NULL) != 0) {
        free_config(&ctx->cfg);
        free(ctx);
        return VS_ERR_OUT_OF_MEMORY;
    }
    if (vs__cache_init(&ctx->cache, ctx->cfg.cache_dir, &ctx->env.log) != 0) {
        pthread_mutex_destroy(&ctx->lock);
        free_config(&ctx->cfg);
        free(ctx);
        return VS_ERR_OUT_OF_MEMORY;
    }
    ctx->id = atomic_fetch_add(&context_ids, 1) + 1;
    ctx->lock_budget.cap = ctx->cfg.lock_bytes;
    atomic_init(&ctx->lock_budget.used, 0);
    const int cpus = vs__pool_cpu_count();
    if (ctx->cfg.threads > cpus) {
        vs__log(vs__sink(ctx), VS_LOG_WARN,
                "threads %d is more than the %d CPU%s this process may use; batches use at most "
                "%d thread%s (one per CPU)",
                ctx->cfg.threads, cpus, cpus == 1 ? "" : "s", cpus, cpus == 1 ? "" : "s");
        ctx->cfg.threads = cpus;
    }
    /* What the backends see of the context: resolved options, the log sink, the cache. */
    ctx->env.cache = &ctx->cache;
    ctx->env.threads = ctx->cfg.threads;
    ctx->env.arena_bytes = ctx->cfg.arena_bytes;
    ctx->env.isa = ctx->cfg.isa;
    ctx->env.cl_kernels = ctx->cfg.cl_kernels;
    ctx->env.cl_block_rows = ctx->cfg.cl_block_rows;
    ctx->env.cl_block_columns = ctx->cfg.cl_block_columns;
    ctx->env.cl_fused = ctx->cfg.cl_fused;
    ctx->env.cl_max_alloc = ctx->cfg.cl_max_alloc;
    ctx->env.cl_survivors = ctx->cfg.cl_survivors;
    ctx->env.cl_filter = ctx->cfg.cl_filter;
    ctx->env.cl_auto_opencl_cpu = ctx->cfg.cl_auto_opencl_cpu;
    status = select_backend(ctx);
    if (status != VS_OK) {
        vs_context_free(ctx);
        return status;
    }
    if (ctx->backend == ctx->cpu || ctx->is_auto) {
        /* The first workspace (address space only) now, not in the first batch. */
        vs__workspace *ws = NULL;
        status = vs__workspace_acquire(ctx, &ws);
        if (status != VS_OK) {
            vs_context_free(ctx);
            return status;
        }
        vs__workspace_release(ctx, ws);
    }
    vs__log(vs__sink(ctx), VS_LOG_INFO,
            "context: backend %s, %s, arena %zu B, scratch %zu B/thread, lock cap %zu B",
            ctx->backend->name, ctx->backend->describe(ctx->backend_state), ctx->cfg.arena_bytes,
            ctx->cfg.scratch_bytes, ctx->cfg.lock_bytes);
    *out = ctx;
    return VS_OK;
}

int vs_context_create(const vs_options *opts, vs_context **out) {
    vs__error_clear();
    int status = context_create(opts, out);
    if (status != VS_OK && !vs__error_is_set())
        vs__error_set("vs_context_create: %s", vs_strerror(status));
    else if (status == VS_OK)
        vs__error_clear();
    return status;
}

void vs_context_free(vs_context *ctx) {
    if (ctx == NULL) return;
    while (ctx->pool != NULL) {
        vs__workspace *next = ctx->pool->next;
        vs__workspace_destroy(ctx->pool);
        ctx->pool = next;
    }
    if (ctx->backend != NULL && ctx->backend != ctx->cpu) ctx->backend->release(ctx->backend_state);
    if (ctx->cpu != NULL) ctx->cpu->release(ctx->cpu_state);
    vs__cache_close(&ctx->cache);
    pthread_mutex_destroy(&ctx->lock);
    free_config(&ctx->cfg);
    free(ctx);
}

const char *vs_context_isa(const vs_context *ctx) {
    return ctx != NULL && ctx->isa != NULL ? ctx->isa : "";
}

int vs_context_threads(const vs_context *ctx) {
    return ctx != NULL ? ctx->cfg.threads : 0;
}

/* ---- reports -------------------------------------------------------------- */

int vs_context_last_report(vs_context *ctx, vs_batch_report *out) {
    if (ctx == NULL || out == NULL) return VS_ERR_INVALID_ARGUMENT;
    const thread_facts *f = tl_facts;
    if (f != NULL)
        for (int i = 0; i < VS_REPORTS_PER_THREAD; i++)
            if (f->reports[i].context == ctx->id) {
                *out = f->reports[i].report;
                return VS_OK;
            }
    memset(out, 0, sizeof(*out));
    out->struct_size = sizeof(*out);
    out->version = VS_REPORT_VERSION;
    return VS_OK;
}

static int format_field_int(char *buf, size_t size, const char *name, int value, const char *unit) {
    return snprintf(buf, size, "%s=%d%s\n", name, value, unit);
}
static int format_field_uint64_t(char *buf, size_t size, const char *name, uint64_t value,
                                 const char *unit) {
    return snprintf(buf, size, "%s=%llu%s\n", name, (unsigned long long)value, unit);
}
static int format_field_double(char *buf, size_t size, const char *name, double value,
                               const char *unit) {
    return snprintf(buf, size, "%s=%.6f%s\n", name, value, unit);
}

size_t vs_batch_report_format(const vs_batch_report *report, char *buf, size_t size) {
    if (report == NULL) return 0;
    size_t used = 0;
    char scratch[1] = {0};
#define VS_APPEND_(expr)                                                                           \
    do {                                                                                           \
        char *at = used < size ? buf + used : scratch;                                             \
        size_t room = used < size ? size - used : 0;                                               \
        int n = (expr);                                                                            \
        if (n > 0) used += (size_t)n;                                                              \
    } while (0)
#define VS_FORMAT_TEXT_(name, size, description)                                                   \
    VS_APPEND_(snprintf(at, room, #name "=%.*s\n", (int)(size), report->name));
    VS_REPORT_TEXT_FIELDS(VS_FORMAT_TEXT_)
#define VS_FORMAT_FIELD_(type, name, unit, description)                                            \
    VS_APPEND_(format_field_##type(at, room, #name, report->name, unit));
    VS_REPORT_FIELDS(VS_FORMAT_FIELD_)
#undef VS_FORMAT_FIELD_
    VS_REPORT_PATH_FIELDS(VS_FORMAT_TEXT_)
#undef VS_FORMAT_TEXT_
#undef VS_APPEND_
    if (size > 0 && used >= size) buf[size - 1] = '\0';
    return used;
}
