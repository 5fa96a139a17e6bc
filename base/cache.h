/*
 * cache.h — the private on-disk cache directory (bottom layer, base/),
 * shared by the OpenCL program cache and the cost cache.
 *
 * The directory is resolved once per context at first use (cache_dir, else
 * VECSCORE_CACHE_DIR as resolved into the options, else
 * $XDG_CACHE_HOME/vecscore, else ~/.cache/vecscore), created 0700 where
 * missing, and trusted only when it is a directory owned by this user that
 * group and others cannot write; otherwise both caches are off for the
 * context (one warning). Entries are opened without blocking or following a
 * link and used only when they are regular files owned by this user, not
 * writable by group or others, and at most max_bytes long; anything else is
 * ignored with a warning (a rebuilt entry then replaces it). `what` names
 * the cache in messages. The functions are safe to call from several
 * threads.
 */
#ifndef VS_BASE_CACHE_H
#define VS_BASE_CACHE_H

#include <pthread.h>
#include <stddef.h>

#include "log.h"

typedef struct vs__cache {
    const char *configured;  /* the directory asked for, or NULL (not owned) */
    const vs__log_sink *log; /* warnings go here (not owned) */
    pthread_mutex_t lock;    /* guards the lazy open */
    int initialized;         /* 1 between vs__cache_init and vs__cache_close */
    int state; /* 0 not opened yet, 1 private and open as fd, -1 none or not trusted */
    int fd;
    char *path; /* for messages, while state is 1 */
} vs__cache;

/* Prepares an unopened cache (nothing touches the disk until first use); 0 or -1. */
int vs__cache_init(vs__cache *cache, const char *configured, const vs__log_sink *log);
/* Closes the directory; safe on a cache never initialized (zeroed) or already closed. */
void vs__cache_close(vs__cache *cache);

/*
 * vs__cache_read: 1 and a malloc'd copy (NUL-terminated, *size bytes) of the
 * entry, or 0 when there is nothing usable.
 * vs__cache_write: replaces `name` through the atomic writer (base/file.h),
 * mode 0600; 0, or -1 (warned).
 * vs__cache_drop: removes a damaged entry.
 */
int vs__cache_read(vs__cache *cache, const char *what, const char *name, size_t max_bytes,
                   unsigned char **data, size_t *size);
int vs__cache_write(vs__cache *cache, const char *what, const char *name, const void *data,
                    size_t size);
void vs__cache_drop(vs__cache *cache, const char *name);

#endif /* VS_BASE_CACHE_H */
