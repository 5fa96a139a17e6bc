/*
 * log.h — the log sink and this thread's last error message (bottom layer,
 * base/). The library never prints: a message goes to the caller's callback
 * when its level allows, and every VS_LOG_ERROR message is also kept as the
 * calling thread's last error (vs_last_error_message).
 */
#ifndef VS_BASE_LOG_H
#define VS_BASE_LOG_H

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

/* This thread's last error message (vs_last_error_message reads it). */
void vs__error_clear(void);
void vs__error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vs__error_is_set(void);

#endif /* VS_BASE_LOG_H */
