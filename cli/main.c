/*
 * main.c — the `vecscore` command: dispatch, shared helpers, and the
 * devices, gen and recall subcommands (topk and score are in search.c).
 */
#include "cli.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

int cli_repeated(const char *cmd, const char *names) {
    return cli_fail(EXIT_USAGE, cmd, "%s is given more than once; give it once", names);
}

int cli_require(const char *cmd, int n, const char *const *names, const int *present) {
    char list[256] = "";
    int missing = 0, total = 0;
    for (int i = 0; i < n; i++)
        total += !present[i];
    for (int i = 0; i < n; i++) {
        if (present[i]) continue;
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s",
                 missing == 0           ? ""
                 : missing == total - 1 ? " and "
                                        : ", ",
                 names[i]);
        missing++;
    }
    if (missing == 0) return -1;
    return cli_fail(EXIT_USAGE, cmd, "%s %s required; see 'vecscore %s --help'", list,
                    missing == 1 ? "is" : "are", cmd);
}

/* Reads all of standard input into a malloc'd buffer; EXIT_OK or EXIT_INPUT. */
static int read_stdin(const char *cmd, unsigned char **out, size_t *out_size) {
    size_t size = 0, capacity = 0;
    unsigned char *data = NULL;
    for (;;) {
        if (size == capacity) {
            size_t bigger = capacity ? capacity * 2 : (size_t)1 << 16;
            unsigned char *grown = bigger > capacity ? realloc(data, bigger) : NULL;
            if (grown == NULL) {
                free(data);
                return cli_fail(EXIT_INPUT, cmd, "%s: out of memory after %zu bytes",
                                CLI_STDIN_NAME, size);
            }
            data = grown;
            capacity = bigger;
        }
        ssize_t got = read(STDIN_FILENO, data + size, capacity - size);
        if (got > 0) {
            size += (size_t)got;
        } else if (got == 0) {
            break;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) { /* a non-blocking pipe */
            struct pollfd ready = {STDIN_FILENO, POLLIN, 0};
            (void)poll(&ready, 1, -1);
        } else {
            int error = errno;
            free(data);
            return cli_fail(EXIT_INPUT, cmd, "%s: read failed after %zu bytes: %s", CLI_STDIN_NAME,
                            size, strerror(error));
        }
    }
    *out = data;
    *out_size = size;
    return EXIT_OK;
}

int cli_open_input(const char *cmd, const char *path, unsigned flags, int ids, vs_reader **out,
                   unsigned char **owned) {
    *out = NULL;
    *owned = NULL;
    char err[VS_IO_ERROR_SIZE];
    if (strcmp(path, "-") != 0) {
        if (vs_reader_open(path, VS_FORMAT_UNKNOWN, flags, out, err, sizeof(err)) == 0)
            return EXIT_OK;
        struct stat st; /* a pipe by name (a FIFO, /dev/stdin): say how to read it */
        int stream = stat(path, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode));
        return cli_fail(EXIT_INPUT, cmd, "%s%s", err,
                        stream ? "; to read a stream, give - and pipe it to standard input" : "");
    }
    if (isatty(STDIN_FILENO))
        return cli_fail(EXIT_INPUT, cmd,
                        "%s: standard input is a terminal; pipe or redirect a vector file into "
                        "it",
                        CLI_STDIN_NAME);
    unsigned char *data = NULL;
    size_t size = 0;
    int code = read_stdin(cmd, &data, &size);
    if (code != EXIT_OK) return code;
    /* The name has no extension: the content decides the format. */
    if (vs_reader_open_memory(data, size, CLI_STDIN_NAME, VS_FORMAT_UNKNOWN, flags, out, err,
                              sizeof(err)) != 0) {
        free(data);
        return cli_fail(EXIT_INPUT, cmd, "%s", err);
    }
    /* .ivecs/.ibin have the layouts of .fvecs/.fbin: where ids are expected,
     * that layout means the integer one. */
    vs_file_format format = vs_reader_get_info(*out)->format;
    if (ids && (format == VS_FORMAT_FVECS || format == VS_FORMAT_FBIN)) {
        vs_reader_close(*out);
        if (vs_reader_open_memory(data, size, CLI_STDIN_NAME,
                                  format == VS_FORMAT_FVECS ? VS_FORMAT_IVECS : VS_FORMAT_IBIN,
                                  flags, out, err, sizeof(err)) != 0) {
            free(data);
            return cli_fail(EXIT_INPUT, cmd, "%s", err);
        }
    }
    *owned = data;
    return EXIT_OK;
}

void cli_close_input(vs_reader *reader, unsigned char *owned) {
    vs_reader_close(reader);
    free(owned);
}

void cli_test_chunk_read(void) {
    static long stop_at = -1; /* -1: not read yet; 0: off */
    static long reads;
    if (stop_at < 0) {
        const char *text = getenv("VECSCORE_TEST_STOP_AFTER_CHUNK");
        uint64_t value = 0;
        stop_at = text != NULL && cli_parse_u64(text, 1, 1000000000, &value) == 0 ? (long)value : 0;
    }
    if (stop_at > 0 && ++reads == stop_at) raise(SIGSTOP);
}

/* ---- signals and temporary files ----------------------------------------------------------
 *
 * The clean-up list holds copies of the temporary paths (a signal handler
 * must not follow pointers into memory that the main thread may free).
 * Slots are appended and never reused, so a handler never reads a slot that
 * is being written: a slot's path is complete before its flag is set, and
 * the flag is cleared before the slot is forgotten. One run registers a few
 * outputs; CLI_MAX_TEMPS is far above that.
 *
 * cli_signals_hold defers SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGPIPE: a handler
 * (on any thread) only records the signal, and cli_signals_release then acts
 * on it. The CLI holds them while a temporary file is created and registered,
 * and while a set of outputs is renamed, so a signal then ends the run after
 * the set is complete, never half-way through it. */

#define CLI_MAX_TEMPS 16
static char temp_paths[CLI_MAX_TEMPS][PATH_MAX];
static atomic_int temp_live[CLI_MAX_TEMPS];
static atomic_int temp_count;
static atomic_int signals_held;
static atomic_int signal_pending;

static void remove_temps(void) {
    int count = atomic_load(&temp_count);
    for (int i = 0; i < count && i < CLI_MAX_TEMPS; i++)
        if (atomic_load(&temp_live[i])) unlink(temp_paths[i]); /* async-signal-safe */
}

static void die_by(int sig) {
    remove_temps();
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    sigaction(sig, &action, NULL);
    raise(sig); /* delivered when the handler returns (or now, outside one) */
}

static void on_signal(int sig) {
    atomic_store(&signal_pending, sig);
    if (atomic_load(&signals_held)) return;
    die_by(sig);
}

void cli_signals_install(void) {
    static const int catch[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof(catch) / sizeof(catch[0]); i++) {
        struct sigaction old;
        /* An inherited "ignore SIGPIPE" stays: writes to a closed pipe then fail
         * with EPIPE and are reported (exit 4) instead of killing the run. */
        if (catch[i] == SIGPIPE && sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaction(catch[i], &action, NULL);
    }
    /* A write past RLIMIT_FSIZE (ulimit -f) then fails with EFBIG and is
     * reported like a full disk, instead of killing the run with its
     * temporary file in place. */
    action.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &action, NULL);
}

void cli_signals_hold(void) {
    atomic_store(&signals_held, 1);
    /* A handler that saw signals not held yet is ending the process and may
     * have cleaned up already: end it here too, before anything is created. */
    int sig = atomic_load(&signal_pending);
    if (sig != 0) die_by(sig);
}

void cli_signals_release(void) {
    atomic_store(&signals_held, 0);
    int sig = atomic_load(&signal_pending);
    if (sig != 0) die_by(sig);
}

void cli_temp_register(const char *path) {
    if (path == NULL || strlen(path) >= PATH_MAX) return;
    int slot = atomic_load(&temp_count);
    if (slot >= CLI_MAX_TEMPS) return;
    memcpy(temp_paths[slot], path, strlen(path) + 1);
    atomic_store(&temp_live[slot], 1);
    atomic_store(&temp_count, slot + 1);
}

void cli_temp_unregister(const char *path) {
    if (path == NULL) return;
    int count = atomic_load(&temp_count);
    for (int i = 0; i < count && i < CLI_MAX_TEMPS; i++)
        if (atomic_load(&temp_live[i]) && strcmp(temp_paths[i], path) == 0)
            atomic_store(&temp_live[i], 0);
}

/* Testing knob: VECSCORE_CLI_TEST_PAUSE=flushed|rename stops the commit for
 * up to 30 s at that point (after every output is flushed and synced; inside
 * the held rename phase), after printing "vecscore: test pause: PHASE" to
 * stderr, so that a test can deliver a signal exactly there. */
static void test_pause(const char *phase) {
    const char *knob = getenv("VECSCORE_CLI_TEST_PAUSE");
    if (knob == NULL || strcmp(knob, phase) != 0) return;
    fprintf(stderr, "vecscore: test pause: %s\n", phase);
    fflush(stderr);
    struct timespec step = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 3000 && atomic_load(&signal_pending) == 0; i++)
        nanosleep(&step, NULL);
}

int cli_output_open(const char *cmd, const char *path, vs_outfile **out) {
    char err[VS_IO_ERROR_SIZE];
    /* Held so that no signal falls between creating the temporary file and
     * registering it; not for a FIFO, whose open may wait for a reader. */
    int hold = !vs_outfile_writes_through(path);
    if (hold) cli_signals_hold();
    int rc = vs_outfile_open(path, out, err, sizeof(err));
    if (rc == 0) cli_temp_register(vs_outfile_temp_path(*out));
    if (hold) cli_signals_release();
    return rc == 0 ? EXIT_OK : cli_fail(EXIT_OUTPUT, cmd, "%s", err);
}

int cli_writer_open(const char *cmd, const char *path, vs_file_format format, vs_dtype dtype,
                    uint64_t dim, uint64_t rows, vs_writer **out) {
    char err[VS_IO_ERROR_SIZE];
    int hold = !vs_outfile_writes_through(path);
    if (hold) cli_signals_hold();
    int rc = vs_writer_open(path, format, dtype, dim, out, err, sizeof(err));
    if (rc == 0) cli_temp_register(vs_writer_temp_path(*out));
    if (hold) cli_signals_release();
    if (rc != 0) return cli_fail(EXIT_OUTPUT, cmd, "%s", err);
    if (vs_writer_expect_rows(*out, rows) != 0) {
        cli_fail(EXIT_OUTPUT, cmd, "%s", vs_writer_error(*out));
        cli_writer_abort(*out);
        *out = NULL;
        return EXIT_OUTPUT;
    }
    return EXIT_OK;
}

void cli_output_abort(vs_outfile *f) {
    if (f == NULL) return;
    char temp[PATH_MAX] = "";
    const char *path = vs_outfile_temp_path(f);
    if (path != NULL) snprintf(temp, sizeof(temp), "%s", path);
    vs_outfile_abort(f); /* removed first, then forgotten: never a moment without either */
    cli_temp_unregister(temp);
}

void cli_writer_abort(vs_writer *w) {
    if (w == NULL) return;
    char temp[PATH_MAX] = "";
    const char *path = vs_writer_temp_path(w);
    if (path != NULL) snprintf(temp, sizeof(temp), "%s", path);
    vs_writer_abort(w);
    cli_temp_unregister(temp);
}

int cli_writer_finish(const char *cmd, vs_writer *w, vs_outfile **file) {
    char err[VS_IO_ERROR_SIZE], temp[PATH_MAX] = "";
    const char *path = vs_writer_temp_path(w);
    if (path != NULL) snprintf(temp, sizeof(temp), "%s", path);
    if (vs_writer_finish(w, file, err, sizeof(err)) == 0) return EXIT_OK;
    cli_temp_unregister(temp); /* vs_writer_finish removed it */
    return cli_fail(EXIT_OUTPUT, cmd, "%s", err);
}

int cli_commit(const char *cmd, vs_outfile **files, size_t count) {
    char err[VS_IO_ERROR_SIZE];
    char temps[CLI_MAX_TEMPS][PATH_MAX];
    int failed = count > CLI_MAX_TEMPS;
    for (size_t i = 0; i < count && !failed; i++) {
        temps[i][0] = '\0';
        if (files[i] == NULL) continue;
        const char *temp = vs_outfile_temp_path(files[i]);
        if (temp != NULL) snprintf(temps[i], sizeof(temps[i]), "%s", temp);
        failed = vs_outfile_finish(files[i], err, sizeof(err)) != 0;
    }
    if (failed) {
        for (size_t i = 0; i < count; i++)
            cli_output_abort(files[i]);
        return cli_fail(EXIT_OUTPUT, cmd, "%s", count > CLI_MAX_TEMPS ? "too many outputs" : err);
    }
    test_pause("flushed");
    cli_signals_hold();
    test_pause("rename");
    int rc = vs_outfile_commit_all(files, count, err, sizeof(err));
    for (size_t i = 0; i < count; i++)
        cli_temp_unregister(temps[i]);
    cli_signals_release();
    return rc == 0 ? EXIT_OK : cli_fail(EXIT_OUTPUT, cmd, "%s", err);
}

/* ---- stdout ------------------------------------------------------------------------------
 *
 * Every subcommand's stdout is checked when it returns (main): a write that
 * failed (a full disk, /dev/full, a closed pipe with SIGPIPE ignored) turns
 * a successful exit into 4, with a message. */

static int stdout_reported;

int cli_stdout_failed(const char *cmd) {
    int saved = errno;
    stdout_reported = 1;
    return cli_fail(EXIT_OUTPUT, cmd, "writing to stdout failed: %s",
                    saved ? strerror(saved) : "an earlier write failed");
}

static int finish_stdout(int code) {
    errno = 0;
    int flushed = fflush(stdout) == 0;
    if (flushed && !ferror(stdout)) return code;
    if (!stdout_reported) {
        fprintf(stderr, "vecscore: writing to stdout failed: %s\n",
                !flushed && errno ? strerror(errno) : "an earlier write failed");
        stdout_reported = 1;
    }
    return code == EXIT_OK ? EXIT_OUTPUT : code;
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
            "Options: --help (also after a command, or as: help COMMAND), --version\n"
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
            ".ivecs .ibin or an integer .npy, one row per query, best first; big-ann\n"
            "ground-truth .ibin files, ids then distances, are read as their ids;\n"
            "- reads standard input) and prints\n"
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
            "                     [--storage f32|f16|bf16|i8] [--approx]\n"
            "\n"
            "The best K rows of BASE for every row of QUERIES, best first. Ids are\n"
            "0-based row numbers of BASE; equal scores order by lower id, NaN last;\n"
            "when K exceeds BASE's rows the tail is id -1 with score -inf (dot,\n"
            "cosine) or +inf (l2).\n"
            "  -q, --queries FILE   query vectors (any vector format; - reads standard\n"
            "                       input whole, the content decides the format)\n"
            "  -b, --base FILE      base vectors; streamed in chunks, so it may be\n"
            "                       larger than memory (- reads standard input)\n"
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
            "  --storage S          the library keeps BASE as f32 (default), f16, bf16\n"
            "                       or i8 and scans that copy; results stay exactly\n"
            "                       those of f32 (candidates rescored in float32)\n"
            "  --approx             with --storage: scores from the compact copy only\n"
            "                       (no float32 copy kept; not exact)\n"
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
            "                      [--reject-nonfinite] [--storage S] [--approx]\n"
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

/*
 * One string of device index, whole (vs_device_string; the vs_device fields
 * cut long strings), malloc'd; NULL when that fails (print the field then).
 */
static char *device_text(int index, vs_device_field field) {
    for (int tries = 0; tries < 4; tries++) {
        int length = vs_device_string(index, field, NULL, 0);
        if (length < 0) return NULL;
        char *text = malloc((size_t)length + 1);
        if (text == NULL) return NULL;
        int again = vs_device_string(index, field, text, (size_t)length + 1);
        if (again >= 0 && again <= length) return text;
        free(text); /* it grew between the two calls: ask again */
    }
    return NULL;
}

/* The five strings of a device, whole where they can be had. */
typedef struct device_texts {
    char *owned[5];
    const char *text[5]; /* owned[i], or the vs_device field */
} device_texts;

static void device_texts_get(int index, const vs_device *d, device_texts *t) {
    const char *fields[5] = {d->name, d->vendor, d->platform, d->driver_version, d->device_version};
    for (int i = 0; i < 5; i++) {
        t->owned[i] = device_text(index, (vs_device_field)i);
        t->text[i] = t->owned[i] != NULL ? t->owned[i] : fields[i];
    }
}

static void device_texts_free(device_texts *t) {
    for (int i = 0; i < 5; i++)
        free(t->owned[i]);
}

/* The whole name of the device a probe ran on: the report's name is cut like
 * the vs_device one, so the device whose cut name matches is the one. */
static char *probe_device_name(const probe *p) {
    int count = vs_device_count();
    for (int i = 0; i < count; i++) {
        vs_device d;
        if (vs_device_info(i, &d) == 0 && strcmp(d.name, p->device) == 0)
            return device_text(i, VS_DEVICE_FIELD_NAME);
    }
    return NULL;
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
        char *name = probe_device_name(p);
        json_string(out, name != NULL ? name : p->device);
        free(name);
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
    device_texts t;
    device_texts_get(index, d, &t);
    fprintf(out, "{\"index\": %d, \"selector\": ", index);
    json_string(out, d->selector);
    fprintf(out, ", \"kind\": \"%s\", \"name\": ", kind_name(d->kind));
    json_string(out, t.text[VS_DEVICE_FIELD_NAME]);
    fprintf(out, ", \"vendor\": ");
    json_string(out, t.text[VS_DEVICE_FIELD_VENDOR]);
    fprintf(out, ", \"platform\": ");
    json_string(out, t.text[VS_DEVICE_FIELD_PLATFORM]);
    fprintf(out, ", \"driver_version\": ");
    json_string(out, t.text[VS_DEVICE_FIELD_DRIVER_VERSION]);
    fprintf(out, ", \"device_version\": ");
    json_string(out, t.text[VS_DEVICE_FIELD_DEVICE_VERSION]);
    device_texts_free(&t);
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
            device_texts t;
            device_texts_get(i, &d, &t);
            printf("%-12s %-12s %-4s %5u %9s %-9s %s", d.selector, kind_name(d.kind),
                   d.auto_eligible ? "yes" : "no", d.compute_units, memory,
                   d.zero_copy_expected ? "yes" : "no", t.text[VS_DEVICE_FIELD_NAME]);
            if (d.platform[0])
                printf(" [%s, %s]", t.text[VS_DEVICE_FIELD_PLATFORM],
                       t.text[VS_DEVICE_FIELD_DRIVER_VERSION]);
            printf("\n");
            device_texts_free(&t);
        }
        if (opencl_status[0]) printf("opencl: %s\n", opencl_status);
        if (automatic.available) {
            char *name = probe_device_name(&automatic);
            printf("auto picks: %s (isa %s), device %s\n", automatic.backend, automatic.isa,
                   name != NULL ? name : automatic.device);
            free(name);
        } else
            printf("auto picks nothing: %s\n", automatic.error);
    }
    if (fflush(stdout) != 0) return cli_stdout_failed("devices");
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
        if (vs_device_info(i, &d) != 0) continue;
        char *name = device_text(i, VS_DEVICE_FIELD_NAME);
        printf(" %s (%s)", d.selector, name != NULL ? name : d.name);
        free(name);
    }
    if (vs_opencl_status()[0]) printf("; opencl: %s", vs_opencl_status());
    printf("\n");
    return fflush(stdout) == 0 ? EXIT_OK : cli_stdout_failed("--version");
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
    int have_count = 0, have_dim = 0, have_seed = 0, have_dist = 0, normalize = 0;
    for (int i = 0; i < argc; i++) {
        int missing = 0;
        const char *value;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            gen_help(stdout);
            return EXIT_OK;
        } else if ((value = cli_option(argc, argv, &i, "--count", "-n", &missing)) != NULL) {
            if (have_count) return cli_repeated(cmd, "-n/--count");
            if (cli_parse_u64(value, 1, UINT32_MAX, &count) != 0)
                return cli_fail(EXIT_USAGE, cmd, "--count '%s': expected 1 .. 4294967295", value);
            have_count = 1;
        } else if (!missing && (value = cli_option(argc, argv, &i, "--dim", "-d", &missing))) {
            if (have_dim) return cli_repeated(cmd, "-d/--dim");
            if (cli_parse_u64(value, 1, VS_IO_MAX_DIM, &dim) != 0)
                return cli_fail(EXIT_USAGE, cmd, "--dim '%s': expected 1 .. %u", value,
                                VS_IO_MAX_DIM);
            have_dim = 1;
        } else if (!missing && (value = cli_option(argc, argv, &i, "--seed", NULL, &missing))) {
            if (have_seed) return cli_repeated(cmd, "--seed");
            if (cli_parse_u64(value, 0, UINT64_MAX, &seed) != 0)
                return cli_fail(EXIT_USAGE, cmd, "--seed '%s': expected a non-negative integer",
                                value);
            have_seed = 1;
        } else if (!missing &&
                   (value = cli_option(argc, argv, &i, "--distribution", NULL, &missing))) {
            if (have_dist) return cli_repeated(cmd, "--distribution");
            dist_name = value;
            have_dist = 1;
        } else if (!missing && (value = cli_option(argc, argv, &i, "--output", "-o", &missing))) {
            if (output != NULL) return cli_repeated(cmd, "-o/--output");
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
    static const char *const required[] = {"--count", "--dim", "-o"};
    int present[3] = {have_count, have_dim, output != NULL};
    int code = cli_require(cmd, 3, required, present);
    if (code >= 0) return code;
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
    /* A FIFO or device with no extension (/dev/null, /dev/stdout) gets .fvecs. */
    if (format == VS_FORMAT_UNKNOWN && vs_outfile_writes_through(output)) format = VS_FORMAT_FVECS;
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

    vs_writer *writer = NULL;
    int rc = cli_writer_open(cmd, output, format, dtype, dim, count, &writer);
    if (rc != EXIT_OK) return rc;

    rng r;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r.s[i] = splitmix64(&x);
    size_t rows_per_block = (size_t)(1 + (1u << 20) / dim);
    float *block = malloc(rows_per_block * dim * sizeof(float));
    float *centers = dist == DIST_CLUSTERED ? malloc(GEN_CENTERS * dim * sizeof(float)) : NULL;
    if (block == NULL || (dist == DIST_CLUSTERED && centers == NULL)) {
        cli_writer_abort(writer);
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
        cli_writer_abort(writer);
        return EXIT_OUTPUT;
    }
    vs_outfile *file = NULL;
    if ((rc = cli_writer_finish(cmd, writer, &file)) != EXIT_OK) return rc;
    return cli_commit(cmd, &file, 1);
}

/* ---- recall ----------------------------------------------------------------------------- */

static int open_ids(const char *cmd, const char *path, vs_reader **out, unsigned char **owned) {
    int code = cli_open_input(cmd, path, 0, 1, out, owned);
    if (code != EXIT_OK) return code;
    vs_dtype dtype = vs_reader_get_info(*out)->dtype;
    if (dtype == VS_DTYPE_F32 || dtype == VS_DTYPE_F16 || dtype == VS_DTYPE_F64) {
        cli_fail(EXIT_INPUT, cmd,
                 "%s: holds %s values; expected integer ids (.ivecs, .ibin or an integer .npy)",
                 strcmp(path, "-") == 0 ? CLI_STDIN_NAME : path, vs_dtype_name(dtype));
        cli_close_input(*out, *owned);
        *out = NULL;
        *owned = NULL;
        return EXIT_INPUT;
    }
    return EXIT_OK;
}

int cli_recall(int argc, char **argv) {
    const char *cmd = "recall", *result_path = NULL, *truth_path = NULL;
    uint64_t k = 0;
    int have_k = 0;
    for (int i = 0; i < argc; i++) {
        int missing = 0;
        const char *value;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            recall_help(stdout);
            return EXIT_OK;
        } else if ((value = cli_option(argc, argv, &i, "--result", "-r", &missing)) != NULL) {
            if (result_path != NULL) return cli_repeated(cmd, "-r/--result");
            result_path = value;
        } else if (!missing && (value = cli_option(argc, argv, &i, "--truth", "-t", &missing))) {
            if (truth_path != NULL) return cli_repeated(cmd, "-t/--truth");
            truth_path = value;
        } else if (!missing && (value = cli_option(argc, argv, &i, "-k", NULL, &missing))) {
            if (have_k) return cli_repeated(cmd, "-k");
            if (cli_parse_u64(value, 1, VS_IO_MAX_DIM, &k) != 0)
                return cli_fail(EXIT_USAGE, cmd, "-k '%s': expected 1 .. %u", value, VS_IO_MAX_DIM);
            have_k = 1;
        } else if (missing) {
            return cli_fail(EXIT_USAGE, cmd, "%s needs a value", argv[i]);
        } else {
            return cli_fail(EXIT_USAGE, cmd, "unknown argument '%s'; see 'vecscore recall --help'",
                            argv[i]);
        }
    }
    static const char *const required[] = {"--result", "--truth"};
    int present[2] = {result_path != NULL, truth_path != NULL};
    int code = cli_require(cmd, 2, required, present);
    if (code >= 0) return code;
    if (strcmp(result_path, "-") == 0 && strcmp(truth_path, "-") == 0)
        return cli_fail(EXIT_USAGE, cmd,
                        "--result and --truth cannot both be - (there is one standard input)");

    vs_reader *result = NULL, *truth = NULL;
    unsigned char *result_owned = NULL, *truth_owned = NULL;
    code = open_ids(cmd, result_path, &result, &result_owned);
    if (code == EXIT_OK) code = open_ids(cmd, truth_path, &truth, &truth_owned);
    if (code != EXIT_OK) {
        cli_close_input(result, result_owned);
        return code;
    }
    if (strcmp(result_path, "-") == 0) result_path = CLI_STDIN_NAME;
    if (strcmp(truth_path, "-") == 0) truth_path = CLI_STDIN_NAME;
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
        cli_close_input(result, result_owned);
        cli_close_input(truth, truth_owned);
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
        if (fflush(stdout) != 0) code = cli_stdout_failed(cmd);
    }
    free(rrow);
    free(trow);
    cli_close_input(result, result_owned);
    cli_close_input(truth, truth_owned);
    return code;
}

/* ---- bench ------------------------------------------------------------------------------- */

/* `vecscore bench [options]` runs the benchmark program vecscore-bench
 * (bench/, docs/benchmarks.md) with the same options: the one next to this
 * binary, else the first on PATH. It is a program of its own so that this
 * command links only the library. argv[0] here is "bench"; the benchmark
 * gets "vecscore bench" as its name for messages. Returns only on failure. */
static int cli_bench(int argc, char **argv) {
    static char name[] = "vecscore bench";
    char self[4096] = "", next_to[4200] = "";
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[len > 0 ? len : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) {
        *slash = '\0'; /* self is now this binary's directory */
        snprintf(next_to, sizeof(next_to), "%s/vecscore-bench", self);
    }
    argv[0] = name;
    fflush(NULL);
    if (next_to[0] && access(next_to, X_OK) == 0) {
        execv(next_to, argv);
        return cli_fail(EXIT_USAGE, "bench", "cannot run %s: %s", next_to, strerror(errno));
    }
    execvp("vecscore-bench", argv);
    if (errno != ENOENT)
        return cli_fail(EXIT_USAGE, "bench", "cannot run vecscore-bench from PATH: %s",
                        strerror(errno));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: vecscore bench [options]\n\nThe benchmark program vecscore-bench is "
                   "not installed next to vecscore or on PATH\n(configure with "
                   "-DVECSCORE_BUILD_BENCH=ON). It exits with code 1.\n");
            return EXIT_OK;
        }
    }
    return cli_fail(EXIT_USAGE, "bench",
                    "the benchmark program vecscore-bench is not in %s nor on PATH (configure "
                    "with -DVECSCORE_BUILD_BENCH=ON; it is built and installed next to vecscore)",
                    self[0] ? self : "this command's directory");
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static int run_command(int argc, char **argv) {
    /* `vecscore help CMD` is `vecscore CMD --help`; an unknown CMD is refused as a command. */
    static char help_flag[] = "--help";
    char *as_help[4] = {NULL, NULL, help_flag, NULL};
    if (argc >= 3 && strcmp(argv[1], "help") == 0) {
        if (argc > 3)
            return cli_fail(EXIT_USAGE, "help",
                            "unexpected argument '%s'; usage: vecscore help [COMMAND]", argv[3]);
        if (strcmp(argv[2], "help") != 0) {
            as_help[0] = argv[0];
            as_help[1] = argv[2];
            argv = as_help;
        }
    }
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

int main(int argc, char **argv) {
    return finish_stdout(run_command(argc, argv));
}
