/*
 * log.h — the log sink and this thread's last error message (bottom layer,
 * base/). The library never prints: a message goes to the caller's callback
 * when its level allows, and every VS_LOG_ERROR message is also kept as the
 * calling thread's last error (vs_last_error_message).
 */
#ifndef VS_BASE_LOG_H
#define VS_BASE_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "vecscore.h"

/* Where messages go: the callback, its user pointer and the most verbose level delivered. */
typedef struct vs__log_sink {
    vs_log_fn fn; /* NULL: nothing is delivered (errors are still kept) */
    void *user;
    int level;
} vs__log_sink;

/* Formats and sends to sink (which may be NULL) if its level allows; keeps errors. */
void vs__log(const vs__log_sink *sink, vs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The library's one error idiom: a failure is reported where it is found,
 * in one line that says what is wrong and returns the status.
 *
 *   return vs__fail(sink, VS_ERR_INVALID_ARGUMENT, "vs_score: dim is 0");
 *       logs at VS_LOG_ERROR (so it is also the thread's last error) and
 *       returns the status;
 *   return vs__fail_msg(err, err_size, VS_ERR_FORMAT, "%s: truncated", path);
 *       the same into a caller's message buffer (io/, whose functions take
 *       one), NULL or size 0 allowed.
 *
 * Both are macros, so the status is visible where the line is (to readers and
 * to the static analyzer). A function that must release what it holds keeps
 * the status and jumps to
 * its cleanup, both written at the call site:
 *   if (x == NULL) { status = vs__fail(...); goto cleanup; }
 * (cl/ writes the same line with vs__cl_failed, which names the CL_* error.)
 */
#define vs__fail(sink, status, ...) (vs__log((sink), VS_LOG_ERROR, __VA_ARGS__), (status))
#define vs__fail_msg(buf, size, status, ...) (vs__msg((buf), (size), __VA_ARGS__), (status))

/* printf into a message buffer; NULL or size 0 is fine. */
__attribute__((format(printf, 3, 4))) static inline void vs__msg(char *buf, size_t size,
                                                                 const char *fmt, ...) {
    if (buf == NULL || size == 0) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(buf, size, fmt, args);
    va_end(args);
}

/* This thread's last error message (vs_last_error_message reads it). */
void vs__error_clear(void);
void vs__error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vs__error_is_set(void);

#endif /* VS_BASE_LOG_H */
