/*
 * util.c — what every subcommand uses: failure messages, number parsing,
 * required options, the library's log sink, the context from --device and
 * --threads, the clock, peak memory and the progress bar.
 */
#include "cli.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

const char cli_exit_codes_help[] =
    "Exit codes: 0 success, 1 usage error, 2 bad input file, 3 device error,\n"
    "            4 output error. A run killed by SIGINT/SIGTERM/SIGHUP removes its\n"
    "            temporary output and dies by that signal (130 for Ctrl-C).\n";

static int capture_on;
static char captured[1024];

void cli_fail_capture(int on) {
    capture_on = on;
    captured[0] = '\0';
}

const char *cli_fail_captured(void) {
    return captured;
}

int cli_fail(int code, const char *cmd, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    if (capture_on) {
        if (captured[0] == '\0') {
            int used = snprintf(captured, sizeof(captured), "vecscore %s: ", cmd);
            if (used > 0 && (size_t)used < sizeof(captured))
                vsnprintf(captured + used, sizeof(captured) - (size_t)used, fmt, args);
        }
    } else {
        fprintf(stderr, "vecscore %s: ", cmd);
        vfprintf(stderr, fmt, args);
        fputc('\n', stderr);
    }
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
