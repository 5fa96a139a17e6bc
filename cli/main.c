/*
 * main.c — the `vecscore` command: dispatch, shared helpers, and the
 * devices, gen and recall subcommands (topk and score are in search.c).
 */
#include "cli.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifdef VECSCORE_CLI_BENCH
#include "bench.h" /* bench/: the benchmark harness, linked in when it is built */
#endif

/* ---- shared helpers ------------------------------------------------------------ */

int cli_fail(int code, const char *cmd, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "vecscore %s: ", cmd);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    return code;
}

int cli_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out) {
    if (text == NULL || text[0] < '0' || text[0] > '9') return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') return -1;
    if (value < min || value > max) return -1;
    *out = value;
    return 0;
}

const char *cli_option(int argc, char **argv, int *i, const char *long_name, const char *short_name,
                       int *missing) {
    const char *arg = argv[*i];
    size_t n = strlen(long_name);
    if (strncmp(arg, long_name, n) == 0 && arg[n] == '=') return arg + n + 1;
    if (strcmp(arg, long_name) == 0 || (short_name != NULL && strcmp(arg, short_name) == 0)) {
        if (*i + 1 >= argc) {
            *missing = 1;
            return NULL;
        }
        *i += 1;
        return argv[*i];
    }
    return NULL;
}

#define CLI_MAX_TEMPS 4
static const char *volatile temp_paths[CLI_MAX_TEMPS];

static void on_signal(int sig) {
    for (int i = 0; i < CLI_MAX_TEMPS; i++) {
        const char *path = temp_paths[i];
        if (path != NULL) unlink(path); /* async-signal-safe */
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void cli_signals_install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGHUP, &action, NULL);
}

void cli_temp_register(const char *path) {
    for (int i = 0; i < CLI_MAX_TEMPS; i++) {
        if (temp_paths[i] == NULL) {
            temp_paths[i] = path;
            return;
        }
    }
}

void cli_temp_unregister(const char *path) {
    for (int i = 0; i < CLI_MAX_TEMPS; i++) {
        if (temp_paths[i] == path) temp_paths[i] = NULL;
    }
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void cli_log_callback(void *user, vs_log_level level, const char *message) {
    cli_log *log = user;
    pthread_mutex_lock(&log_lock);
    if (level == VS_LOG_ERROR) snprintf(log->last, sizeof(log->last), "%s", message);
    if (level == VS_LOG_WARN && !log->quiet) fprintf(stderr, "vecscore: warning: %s\n", message);
    pthread_mutex_unlock(&log_lock);
}

int cli_context(const char *cmd, const char *device, int threads, cli_log *log, vs_context **out) {
    vs_options opts;
    vs_options_init(&opts);
    if (device != NULL) opts.device = device;
    opts.threads = threads;
    opts.log = cli_log_callback;
    opts.log_user = log;
    log->last[0] = '\0';
    int rc = vs_context_create(&opts, out);
    if (rc == 0) return EXIT_OK;
    const char *detail = log->last[0] ? log->last : vs_strerror(rc);
    if (rc == VS_ERR_INVALID_ARGUMENT) /* a malformed selector, or a VECSCORE_* variable */
        return cli_fail(EXIT_USAGE, cmd, "bad option: %s (%s)", detail, vs_status_name(rc));
    return cli_fail(EXIT_DEVICE, cmd, "cannot use device '%s': %s (%s)", device ? device : "auto",
                    detail, vs_status_name(rc));
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t cli_peak_rss_bytes(void) {
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
    return (uint64_t)usage.ru_maxrss * 1024u; /* Linux: kilobytes */
}

void cli_progress_start(cli_progress *p, int quiet, const char *unit) {
    memset(p, 0, sizeof(*p));
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->start = cli_now();
    p->unit = unit;
}

void cli_progress_update(cli_progress *p, uint64_t done, uint64_t total) {
    if (!p->enabled || total == 0) return;
    double now = cli_now();
    double elapsed = now - p->start;
    if (elapsed < 1.0 || now - p->last_draw < 0.1) return;
    p->last_draw = now;
    double fraction = (double)done / (double)total;
    if (fraction > 1) fraction = 1;
    int width = 30, filled = (int)(fraction * width);
    char bar[31];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "\r[%s] %5.1f%% %.3g %s/s ETA %.0fs   ", bar, fraction * 100, rate, p->unit,
            eta);
    fflush(stderr);
    p->drawn = 1;
}

void cli_progress_finish(cli_progress *p) {
    if (p->drawn) fprintf(stderr, "\r\033[K");
    p->drawn = 0;
}

/* ---- help ------------------------------------------------------------------------- */

static const char exit_codes_help[] =
    "Exit codes: 0 success, 1 usage error, 2 bad input file, 3 device error,\n"
    "            4 output error. A run killed by SIGINT/SIGTERM/SIGHUP removes its\n"
    "            temporary output and dies by that signal (130 for Ctrl-C).\n";

static void main_help(FILE *out) {
    fprintf(out,
            "usage: vecscore <command> [options]\n"
            "\n"
            "Batched vector scoring (dot, cosine, squared L2) over vector files.\n"
            "\n"
            "Commands:\n"
            "  devices [--json]        what can run, and what auto picks\n"
            "  gen                     generate random vectors into a file\n"
            "  topk                    best k base vectors per query (streams BASE)\n"
            "  score                   full query x base score matrix\n"
            "  recall                  recall of a top-k result against ground truth\n"
            "  bench                   device and peer benchmark (docs/benchmarks.md)\n"
            "\n"
            "Options: --help (also after a command), --version\n"
            "Files: .fvecs .bvecs .ivecs .fbin .u8bin .ibin .npy (see docs/formats.md)\n"
            "\n%s",
            exit_codes_help);
}

static void devices_help(FILE *out) {
    fprintf(out,
            "usage: vecscore devices [--json]\n"
            "\n"
            "Lists every device the library can use (the native CPU with its ISA and\n"
            "threads, then each OpenCL device with its selector, memory and driver),\n"
            "why there is no OpenCL device if there is none, and what 'auto' picks\n"
            "(found by running one tiny batch).\n"
            "  --json   one JSON object on stdout\n"
            "\n%s",
            exit_codes_help);
}

static void gen_help(FILE *out) {
    fprintf(out,
            "usage: vecscore gen --count N --dim D [--seed S]\n"
            "                    [--distribution gaussian|uniform|clustered] [--normalize]\n"
            "                    -o FILE\n"
            "\n"
            "Writes N random D-dimensional vectors. The format comes from FILE's\n"
            "extension: .fvecs .fbin .npy (float32) or .bvecs .u8bin (bytes).\n"
            "  --count N          rows (1 .. 4294967295)\n"
            "  --dim D            dimension (1 .. 1048576)\n"
            "  --seed S           random seed (default 42); the same seed gives the\n"
            "                     same file on every machine\n"
            "  --distribution     gaussian (default; N(0,1) per element), uniform\n"
            "                     ([-1,1) per element), clustered (16 gaussian centers\n"
            "                     plus N(0, 0.1^2) noise). Byte formats map values to\n"
            "                     0..255 (128 + 40 x, clamped; uniform: 0..255)\n"
            "  --normalize        scale every vector to unit L2 norm (float formats)\n"
            "  -o, --output FILE  where to write (temporary file + rename)\n"
            "\n%s",
            exit_codes_help);
}

static void recall_help(FILE *out) {
    fprintf(out,
            "usage: vecscore recall --result IDS --truth IDS [-k K]\n"
            "\n"
            "Compares a top-k result with ground truth (both integer id files:\n"
            ".ivecs .ibin or an integer .npy; one row per query, best first) and prints\n"
            "recall@1, recall@10, recall@100 (those within both files' widths) and\n"
            "recall@K, one per line as 'recall@N<TAB>VALUE'. recall@N is the mean over\n"
            "queries of |result[:N] & truth[:N]| / N (ids of -1 are padding and never\n"
            "count; a truth row with fewer than N real ids divides by that count).\n"
            "  --result IDS   the result to check\n"
            "  --truth IDS    the ground truth\n"
            "  -k K           also print recall@K (default: the smaller width)\n"
            "\n%s",
            exit_codes_help);
}

void cli_topk_help(FILE *out);
void cli_score_help(FILE *out);

void cli_topk_help(FILE *out) {
    fprintf(out,
            "usage: vecscore topk -q QUERIES -b BASE -k K [--metric dot|cosine|l2]\n"
            "                     [--device SEL] -o RESULT [--scores SCORES]\n"
            "                     [--batch N] [--chunk N] [--threads N] [--report]\n"
            "                     [--quiet] [--reject-nonfinite]\n"
            "\n"
            "The best K rows of BASE for every row of QUERIES, best first. Ids are\n"
            "0-based row numbers of BASE; equal scores order by lower id, NaN last;\n"
            "when K exceeds BASE's rows the tail is id -1 with score -inf (dot,\n"
            "cosine) or +inf (l2).\n"
            "  -q, --queries FILE   query vectors (any vector format)\n"
            "  -b, --base FILE      base vectors; streamed in chunks, so it may be\n"
            "                       larger than memory\n"
            "  -k K                 results per query (1 .. 1048576)\n"
            "  --metric M           dot, cosine (default) or l2 (squared L2)\n"
            "  --device SEL         auto (default), cpu, opencl, opencl:P:D,\n"
            "                       opencl:name=TEXT\n"
            "  -o, --output RESULT  .ivecs (int32 ids), .npy (int64 ids), .tsv (query,\n"
            "                       rank, id, score), .json, or - for TSV on stdout\n"
            "  --scores SCORES      scores next to .ivecs/.ibin/.npy ids: .fvecs,\n"
            "                       .fbin or .npy (float32)\n"
            "  --batch N            queries per batch (default 1024)\n"
            "  --chunk N            base rows per chunk (default: 256 MiB of float32)\n"
            "  --threads N          worker threads (default: all cores)\n"
            "  --report             print the last batch's report, totals and peak\n"
            "                       resident memory to stderr at the end\n"
            "  --quiet              no progress bar and no warnings\n"
            "  --reject-nonfinite   a NaN or infinite input value is an error naming\n"
            "                       the row (default: scored per IEEE arithmetic)\n"
            "\n"
            "Memory: about (chunk + batch) x dim x 4 bytes for vectors, twice the chunk\n"
            "for the library's copy, (queries + batch) x K x 12 bytes for results, plus\n"
            "the library's arenas (see docs/cli.md).\n"
            "\n%s",
            exit_codes_help);
}

void cli_score_help(FILE *out) {
    fprintf(out,
            "usage: vecscore score -q QUERIES -b BASE [--metric dot|cosine|l2]\n"
            "                      [--device SEL] -o SCORES [--batch N] [--chunk N]\n"
            "                      [--threads N] [--report] [--quiet]\n"
            "                      [--reject-nonfinite]\n"
            "\n"
            "Every query scored against every base row: a QUERIES x BASE matrix.\n"
            "  -o, --output SCORES  .fvecs (one row per query, width = BASE rows),\n"
            "                       .fbin or .npy (float32 matrix), .tsv (query, id,\n"
            "                       score), .json, or - for TSV on stdout\n"
            "  other options as for 'vecscore topk' (--batch defaults to as many\n"
            "  queries as fit 256 MiB of scores)\n"
            "\n%s",
            exit_codes_help);
}

/* ---- devices / version ------------------------------------------------------------- */

typedef struct probe {
    int available;
    int status;
    char backend[16];
    char device[128];
    char isa[16];
    int threads;
    char error[512];
} probe;

/* Creates a context for selector and runs one tiny batch to learn what ran it. */
static void probe_device(const char *selector, probe *out) {
    memset(out, 0, sizeof(*out));
    cli_log log = {1, ""};
    vs_options opts;
    vs_options_init(&opts);
    opts.device = selector;
    opts.log = cli_log_callback;
    opts.log_user = &log;
    vs_context *ctx = NULL;
    int rc = vs_context_create(&opts, &ctx);
    if (rc == 0) {
        float query = 1.0f, candidate = 1.0f, score;
        int64_t id;
        rc = vs_topk(ctx, VS_METRIC_DOT, &query, 1, &candidate, 1, 1, 1, &score, &id);
        vs_batch_report report;
        if (rc == 0 && vs_context_last_report(ctx, &report) == 0) {
            snprintf(out->backend, sizeof(out->backend), "%s", report.backend);
            snprintf(out->device, sizeof(out->device), "%s", report.device);
            snprintf(out->isa, sizeof(out->isa), "%s", report.isa);
        }
        out->threads = vs_context_threads(ctx);
        vs_context_free(ctx);
    }
    out->status = rc;
    out->available = rc == 0;
    if (rc != 0)
        snprintf(out->error, sizeof(out->error), "%s", log.last[0] ? log.last : vs_strerror(rc));
}

static void json_string(FILE *out, const char *text) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void json_probe(FILE *out, const char *selector, const probe *p) {
    fprintf(out, "{\"selector\": ");
    json_string(out, selector);
    fprintf(out, ", \"available\": %s", p->available ? "true" : "false");
    if (p->available) {
        fprintf(out, ", \"backend\": ");
        json_string(out, p->backend);
        fprintf(out, ", \"device\": ");
        json_string(out, p->device);
        fprintf(out, ", \"isa\": ");
        json_string(out, p->isa);
        fprintf(out, ", \"threads\": %d}", p->threads);
    } else {
        fprintf(out, ", \"status\": ");
        json_string(out, vs_status_name(p->status));
        fprintf(out, ", \"error\": ");
        json_string(out, p->error);
        fprintf(out, "}");
    }
}

static const char *kind_name(vs_device_kind kind) {
    switch (kind) {
    case VS_DEVICE_NATIVE_CPU: return "native-cpu";
    case VS_DEVICE_OPENCL_GPU: return "opencl-gpu";
    case VS_DEVICE_OPENCL_CPU: return "opencl-cpu";
    case VS_DEVICE_OPENCL_ACCELERATOR: return "opencl-accelerator";
    case VS_DEVICE_OPENCL_OTHER: break;
    }
    return "opencl-other";
}

static void json_device(FILE *out, int index, const vs_device *d) {
    fprintf(out, "{\"index\": %d, \"selector\": ", index);
    json_string(out, d->selector);
    fprintf(out, ", \"kind\": \"%s\", \"name\": ", kind_name(d->kind));
    json_string(out, d->name);
    fprintf(out, ", \"vendor\": ");
    json_string(out, d->vendor);
    fprintf(out, ", \"platform\": ");
    json_string(out, d->platform);
    fprintf(out, ", \"driver_version\": ");
    json_string(out, d->driver_version);
    fprintf(out, ", \"device_version\": ");
    json_string(out, d->device_version);
    fprintf(out,
            ", \"compute_units\": %u, \"global_mem_bytes\": %llu, \"max_alloc_bytes\": %llu, "
            "\"unified_memory\": %s, \"zero_copy_expected\": %s, \"auto_eligible\": %s}",
            d->compute_units, (unsigned long long)d->global_mem_bytes,
            (unsigned long long)d->max_alloc_bytes, d->unified_memory ? "true" : "false",
            d->zero_copy_expected ? "true" : "false", d->auto_eligible ? "true" : "false");
}

static void format_bytes(uint64_t bytes, char *out, size_t size) {
    if (bytes == 0)
        snprintf(out, size, "-");
    else if (bytes >= ((uint64_t)1 << 30))
        snprintf(out, size, "%.1f GiB", (double)bytes / (double)((uint64_t)1 << 30));
    else
        snprintf(out, size, "%.0f MiB", (double)bytes / (double)((uint64_t)1 << 20));
}

/* Every device the library reports (vs_device_count/vs_device_info), and
 * what "auto" picks, learned by running one tiny batch under "auto". */
int cli_devices(int argc, char **argv) {
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            devices_help(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else {
            return cli_fail(EXIT_USAGE, "devices",
                            "unknown argument '%s'; see 'vecscore devices --help'", argv[i]);
        }
    }
    int count = vs_device_count();
    probe automatic;
    probe_device("auto", &automatic);
    const char *opencl_status = vs_opencl_status();
    if (json) {
        printf("{\"version\": \"%s\", \"cpu_best_isa\": \"%s\", \"opencl_status\": ", vs_version(),
               vs_cpu_best_isa());
        json_string(stdout, opencl_status);
        printf(", \"devices\": [");
        for (int i = 0; i < count; i++) {
            vs_device d;
            if (vs_device_info(i, &d) != 0) continue;
            if (i) printf(", ");
            json_device(stdout, i, &d);
        }
        printf("], \"auto\": ");
        json_probe(stdout, "auto", &automatic);
        printf("}\n");
    } else {
        printf("%-12s %-12s %-4s %5s %9s %-9s %s\n", "SELECTOR", "KIND", "AUTO", "UNITS", "MEMORY",
               "ZERO-COPY", "NAME");
        for (int i = 0; i < count; i++) {
            vs_device d;
            if (vs_device_info(i, &d) != 0) continue;
            char memory[32];
            format_bytes(d.global_mem_bytes, memory, sizeof(memory));
            printf("%-12s %-12s %-4s %5u %9s %-9s %s", d.selector, kind_name(d.kind),
                   d.auto_eligible ? "yes" : "no", d.compute_units, memory,
                   d.zero_copy_expected ? "yes" : "no", d.name);
            if (d.platform[0]) printf(" [%s, %s]", d.platform, d.driver_version);
            printf("\n");
        }
        if (opencl_status[0]) printf("opencl: %s\n", opencl_status);
        if (automatic.available)
            printf("auto picks: %s (isa %s), device %s\n", automatic.backend, automatic.isa,
                   automatic.device);
        else
            printf("auto picks nothing: %s\n", automatic.error);
    }
    if (fflush(stdout) != 0) return EXIT_OUTPUT;
    return automatic.available ? EXIT_OK : EXIT_DEVICE;
}

static int print_version(void) {
    printf("vecscore %s\n", vs_version());
    printf("isa: %s (supported:", vs_cpu_best_isa());
    for (int i = 0; vs_cpu_isa_name(i) != NULL; i++)
        if (vs_cpu_isa_supported(vs_cpu_isa_name(i))) printf(" %s", vs_cpu_isa_name(i));
    printf(")\ndevices:");
    int count = vs_device_count();
    for (int i = 0; i < count; i++) {
        vs_device d;
        if (vs_device_info(i, &d) == 0) printf(" %s (%s)", d.selector, d.name);
    }
    if (vs_opencl_status()[0]) printf("; opencl: %s", vs_opencl_status());
    printf("\n");
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_OUTPUT;
}

/* ---- gen ------------------------------------------------------------------------------ */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r) { /* xoshiro256** */
    uint64_t result = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;
    r->s[2] ^= r->s[0];
    r->s[3] ^= r->s[1];
    r->s[1] ^= r->s[2];
    r->s[0] ^= r->s[3];
    r->s[2] ^= t;
    r->s[3] = rotl(r->s[3], 45);
    return result;
}

static double rng_uniform(rng *r) { /* [0, 1) */
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static double rng_gaussian(rng *r) {
    double u = 1.0 - rng_uniform(r), v = rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

enum { DIST_GAUSSIAN, DIST_UNIFORM, DIST_CLUSTERED };
#define GEN_CENTERS 16

int cli_gen(int argc, char **argv) {
    const char *cmd = "gen", *output = NULL, *dist_name = "gaussian";
    uint64_t count = 0, dim = 0, seed = 42;
    int have_count = 0, have_dim = 0, normalize = 0;
    for (int i = 0; i < argc; i++) {
        int missing = 0;
        const char *value;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            gen_help(stdout);
            return EXIT_OK;
        } else if ((value = cli_option(argc, argv, &i, "--count", "-n", &missing)) != NULL) {
            if (cli_parse_u64(value, 1, UINT32_MAX, &count) != 0)
                return cli_fail(EXIT_USAGE, cmd, "--count '%s': expected 1 .. 4294967295", value);
            have_count = 1;
        } else if (!missing && (value = cli_option(argc, argv, &i, "--dim", "-d", &missing))) {
            if (cli_parse_u64(value, 1, VS_IO_MAX_DIM, &dim) != 0)
                return cli_fail(EXIT_USAGE, cmd, "--dim '%s': expected 1 .. %u", value,
                                VS_IO_MAX_DIM);
            have_dim = 1;
        } else if (!missing && (value = cli_option(argc, argv, &i, "--seed", NULL, &missing))) {
            if (cli_parse_u64(value, 0, UINT64_MAX, &seed) != 0)
                return cli_fail(EXIT_USAGE, cmd, "--seed '%s': expected a non-negative integer",
                                value);
        } else if (!missing &&
                   (value = cli_option(argc, argv, &i, "--distribution", NULL, &missing))) {
            dist_name = value;
        } else if (!missing && (value = cli_option(argc, argv, &i, "--output", "-o", &missing))) {
            output = value;
        } else if (!missing && strcmp(argv[i], "--normalize") == 0) {
            normalize = 1;
        } else if (missing) {
            return cli_fail(EXIT_USAGE, cmd, "%s needs a value", argv[i]);
        } else {
            return cli_fail(EXIT_USAGE, cmd, "unknown argument '%s'; see 'vecscore gen --help'",
                            argv[i]);
        }
    }
    if (!have_count || !have_dim || output == NULL)
        return cli_fail(EXIT_USAGE, cmd,
                        "--count, --dim and -o are required; see 'vecscore gen --help'");
    int dist;
    if (strcmp(dist_name, "gaussian") == 0)
        dist = DIST_GAUSSIAN;
    else if (strcmp(dist_name, "uniform") == 0)
        dist = DIST_UNIFORM;
    else if (strcmp(dist_name, "clustered") == 0)
        dist = DIST_CLUSTERED;
    else
        return cli_fail(EXIT_USAGE, cmd,
                        "--distribution '%s': expected gaussian, uniform or clustered", dist_name);
    vs_file_format format = vs_file_format_from_path(output);
    vs_dtype dtype = VS_DTYPE_F32;
    if (format == VS_FORMAT_BVECS || format == VS_FORMAT_U8BIN) {
        dtype = VS_DTYPE_U8;
        if (normalize)
            return cli_fail(EXIT_USAGE, cmd, "--normalize needs a float format, not .%s",
                            vs_file_format_name(format));
    } else if (format != VS_FORMAT_FVECS && format != VS_FORMAT_FBIN && format != VS_FORMAT_NPY) {
        return cli_fail(EXIT_USAGE, cmd,
                        "%s: cannot tell the format; use .fvecs .fbin .npy .bvecs or .u8bin",
                        output);
    }

    char err[VS_IO_ERROR_SIZE];
    vs_writer *writer = NULL;
    int rc = vs_writer_open(output, format, dtype, dim, &writer, err, sizeof(err));
    if (rc != 0) return cli_fail(EXIT_OUTPUT, cmd, "%s", err);
    const char *temp = vs_writer_temp_path(writer);
    cli_temp_register(temp);

    rng r;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r.s[i] = splitmix64(&x);
    size_t rows_per_block = (size_t)(1 + (1u << 20) / dim);
    float *block = malloc(rows_per_block * dim * sizeof(float));
    float *centers = dist == DIST_CLUSTERED ? malloc(GEN_CENTERS * dim * sizeof(float)) : NULL;
    if (block == NULL || (dist == DIST_CLUSTERED && centers == NULL)) {
        cli_temp_unregister(temp);
        vs_writer_abort(writer);
        free(block);
        free(centers);
        return cli_fail(EXIT_OUTPUT, cmd, "out of memory");
    }
    for (size_t i = 0; centers != NULL && i < GEN_CENTERS * dim; i++)
        centers[i] = (float)rng_gaussian(&r);
    cli_progress progress;
    cli_progress_start(&progress, 0, "vec");
    for (uint64_t done = 0; done < count && rc == 0;) {
        size_t rows = count - done < rows_per_block ? (size_t)(count - done) : rows_per_block;
        for (size_t i = 0; i < rows; i++) {
            float *row = block + i * dim;
            const float *center = centers ? centers + (rng_next(&r) % GEN_CENTERS) * dim : NULL;
            double norm = 0;
            for (size_t j = 0; j < dim; j++) {
                double v = dist == DIST_UNIFORM ? 2.0 * rng_uniform(&r) - 1.0 : rng_gaussian(&r);
                if (center) v = center[j] + 0.1 * v;
                if (dtype == VS_DTYPE_U8) {
                    v = dist == DIST_UNIFORM ? floor((v + 1.0) * 128.0)
                                             : floor(128.0 + 40.0 * v + 0.5);
                    v = v < 0 ? 0 : v > 255 ? 255 : v;
                }
                row[j] = (float)v;
                norm += (double)row[j] * row[j];
            }
            if (normalize && norm > 0) {
                double scale = 1.0 / sqrt(norm);
                for (size_t j = 0; j < dim; j++)
                    row[j] = (float)(row[j] * scale);
            }
        }
        rc = vs_writer_write_f32(writer, block, rows);
        done += rows;
        cli_progress_update(&progress, done, count);
    }
    cli_progress_finish(&progress);
    free(block);
    free(centers);
    if (rc != 0) {
        cli_fail(EXIT_OUTPUT, cmd, "%s", vs_writer_error(writer));
        cli_temp_unregister(temp);
        vs_writer_abort(writer);
        return EXIT_OUTPUT;
    }
    cli_temp_unregister(temp);
    rc = vs_writer_commit(writer, err, sizeof(err));
    if (rc != 0) return cli_fail(EXIT_OUTPUT, cmd, "%s", err);
    return EXIT_OK;
}

/* ---- recall ----------------------------------------------------------------------------- */

static int open_ids(const char *cmd, const char *path, vs_reader **out) {
    char err[VS_IO_ERROR_SIZE];
    int rc = vs_reader_open(path, VS_FORMAT_UNKNOWN, 0, out, err, sizeof(err));
    if (rc != 0) return cli_fail(EXIT_INPUT, cmd, "%s", err);
    vs_dtype dtype = vs_reader_get_info(*out)->dtype;
    if (dtype == VS_DTYPE_F32 || dtype == VS_DTYPE_F16 || dtype == VS_DTYPE_F64) {
        cli_fail(EXIT_INPUT, cmd,
                 "%s: holds %s values; expected integer ids (.ivecs, .ibin or an integer .npy)",
                 path, vs_dtype_name(dtype));
        vs_reader_close(*out);
        *out = NULL;
        return EXIT_INPUT;
    }
    return EXIT_OK;
}

int cli_recall(int argc, char **argv) {
    const char *cmd = "recall", *result_path = NULL, *truth_path = NULL;
    uint64_t k = 0;
    for (int i = 0; i < argc; i++) {
        int missing = 0;
        const char *value;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            recall_help(stdout);
            return EXIT_OK;
        } else if ((value = cli_option(argc, argv, &i, "--result", "-r", &missing)) != NULL) {
            result_path = value;
        } else if (!missing && (value = cli_option(argc, argv, &i, "--truth", "-t", &missing))) {
            truth_path = value;
        } else if (!missing && (value = cli_option(argc, argv, &i, "-k", NULL, &missing))) {
            if (cli_parse_u64(value, 1, VS_IO_MAX_DIM, &k) != 0)
                return cli_fail(EXIT_USAGE, cmd, "-k '%s': expected 1 .. %u", value, VS_IO_MAX_DIM);
        } else if (missing) {
            return cli_fail(EXIT_USAGE, cmd, "%s needs a value", argv[i]);
        } else {
            return cli_fail(EXIT_USAGE, cmd, "unknown argument '%s'; see 'vecscore recall --help'",
                            argv[i]);
        }
    }
    if (result_path == NULL || truth_path == NULL)
        return cli_fail(EXIT_USAGE, cmd,
                        "--result and --truth are required; see 'vecscore recall --help'");

    vs_reader *result = NULL, *truth = NULL;
    int code = open_ids(cmd, result_path, &result);
    if (code == EXIT_OK) code = open_ids(cmd, truth_path, &truth);
    if (code != EXIT_OK) {
        vs_reader_close(result);
        return code;
    }
    const vs_reader_info *ri = vs_reader_get_info(result), *ti = vs_reader_get_info(truth);
    uint64_t width = ri->dim < ti->dim ? ri->dim : ti->dim;
    if (ri->rows != ti->rows) {
        code = cli_fail(
            EXIT_INPUT, cmd, "%s has %llu rows but %s has %llu; expected one row per query in both",
            result_path, (unsigned long long)ri->rows, truth_path, (unsigned long long)ti->rows);
    } else if (k > width) {
        code = cli_fail(EXIT_INPUT, cmd, "-k %llu exceeds the ids per query (%s: %llu, %s: %llu)",
                        (unsigned long long)k, result_path, (unsigned long long)ri->dim, truth_path,
                        (unsigned long long)ti->dim);
    }
    if (code != EXIT_OK) {
        vs_reader_close(result);
        vs_reader_close(truth);
        return code;
    }
    if (k == 0) k = width;
    uint64_t levels[4] = {1, 10, 100, k};
    double sums[4] = {0};
    int64_t *rrow = malloc(ri->dim * sizeof(int64_t)), *trow = malloc(ti->dim * sizeof(int64_t));
    if (rrow == NULL || trow == NULL) code = cli_fail(EXIT_DEVICE, cmd, "out of memory");
    for (uint64_t q = 0; code == EXIT_OK && q < ri->rows; q++) {
        if (vs_reader_read_i64(result, q, 1, rrow) != 0) {
            code = cli_fail(EXIT_INPUT, cmd, "%s", vs_reader_error(result));
        } else if (vs_reader_read_i64(truth, q, 1, trow) != 0) {
            code = cli_fail(EXIT_INPUT, cmd, "%s", vs_reader_error(truth));
        }
        for (int l = 0; code == EXIT_OK && l < 4; l++) {
            uint64_t n = levels[l];
            if (n > width) continue;
            uint64_t real = 0, hits = 0;
            for (uint64_t t = 0; t < n; t++) {
                if (trow[t] < 0) continue;
                real++;
                for (uint64_t j = 0; j < n; j++) {
                    if (rrow[j] == trow[t]) {
                        hits++;
                        break;
                    }
                }
            }
            sums[l] += real ? (double)hits / (double)real : 1.0;
        }
    }
    if (code == EXIT_OK) {
        for (int l = 0; l < 4; l++) {
            if (levels[l] > width || (l == 3 && (k == 1 || k == 10 || k == 100))) continue;
            printf("recall@%llu\t%.6f\n", (unsigned long long)levels[l],
                   sums[l] / (double)ri->rows);
        }
        if (fflush(stdout) != 0) code = EXIT_OUTPUT;
    }
    free(rrow);
    free(trow);
    vs_reader_close(result);
    vs_reader_close(truth);
    return code;
}

/* ---- bench ------------------------------------------------------------------------------- */

/* `vecscore bench [options]` is the benchmark harness of bench/ (the same as
 * build/bench/bench_core); argv[0] here is "bench". */
static int cli_bench(int argc, char **argv) {
#ifdef VECSCORE_CLI_BENCH
    return vs_bench_main(argc, argv, "bench");
#else
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: vecscore bench [options]\n\nThis build has no benchmark harness "
                   "(configure with -DVECSCORE_BUILD_BENCH=ON).\nIt exits with code 1.\n");
            return EXIT_OK;
        }
    }
    return cli_fail(EXIT_USAGE, "bench",
                    "not in this build (configure with -DVECSCORE_BUILD_BENCH=ON)");
#endif
}

/* ---- dispatch ------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    /* Before the malloc tuning below: the benchmark's allocation figures are
     * for glibc's defaults, as an application gets them. */
    if (argc >= 2 && strcmp(argv[1], "bench") == 0) return cli_bench(argc - 1, argv + 1);
#ifdef __GLIBC__
    /* Chunk buffers and corpora are large and short-lived: keep them in
     * their own mappings so that freeing one returns it to the system.
     * glibc's default raises the threshold after the first such free, and
     * freed chunks then stay resident in the heap (measured: 2.5x the
     * documented memory bound with 25 MB chunks). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    cli_signals_install();
    if (argc < 2) {
        main_help(stderr);
        return EXIT_USAGE;
    }
    const char *command = argv[1];
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
        strcmp(command, "help") == 0) {
        main_help(stdout);
        return EXIT_OK;
    }
    if (strcmp(command, "--version") == 0 || strcmp(command, "-V") == 0) return print_version();
    if (strcmp(command, "devices") == 0) return cli_devices(argc - 2, argv + 2);
    if (strcmp(command, "gen") == 0) return cli_gen(argc - 2, argv + 2);
    if (strcmp(command, "topk") == 0) return cli_topk(argc - 2, argv + 2);
    if (strcmp(command, "score") == 0) return cli_score(argc - 2, argv + 2);
    if (strcmp(command, "recall") == 0) return cli_recall(argc - 2, argv + 2);
    fprintf(stderr, "vecscore: unknown command '%s'\n\n", command);
    main_help(stderr);
    return EXIT_USAGE;
}
