/*
 * cache.c — the on-disk cache directory that the OpenCL program cache
 * (cl/program.c) and the cost cache (host/cost.c) share; the one place the
 * directory is looked up (cache_dir, VECSCORE_CACHE_DIR, XDG, HOME).
 *
 * Trust model. A program cache entry holds native code that the OpenCL
 * driver loads into this process (PoCL binaries are shared objects), and a
 * checksum does not help against someone who can write the entry: they can
 * recompute it. So the cache is used only when nobody else can write it:
 *
 *   - the directory is opened once per context, and used through that file
 *     descriptor (openat/renameat), so it cannot be swapped afterwards;
 *   - it must be a directory (a symbolic link to one is followed, and then
 *     the target is checked), owned by the effective user, and not writable
 *     by group or others; directories the library creates are made 0700 and
 *     checked the same way;
 *   - entries are opened with O_NONBLOCK | O_NOFOLLOW (a FIFO cannot block,
 *     a link is not followed) and checked after the open with fstat: a
 *     regular file, owned by the user, not writable by group or others, of a
 *     sane size. Anything else is ignored with a warning and never handed to
 *     the caller; the rebuilt entry is renamed over it;
 *   - writes go through the atomic writer (base/file.c): a 0600 temporary
 *     file created with O_EXCL, synced and renamed into place, so readers
 *     see a whole entry or none.
 *
 * When the directory fails its check, both caches are off for the context:
 * one warning, programs built from source, calibration measured again.
 */
#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "log.h"

/* Why st fails the privacy check (NULL when it passes): a message fragment. */
static const char *not_private(const struct stat *st, char *buffer, size_t size) {
    if (st->st_uid != geteuid()) {
        snprintf(buffer, size, "it is owned by uid %lu, not by this user (uid %lu)",
                 (unsigned long)st->st_uid, (unsigned long)geteuid());
        return buffer;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(buffer, size, "it is writable by %s (mode %04o)",
                 (st->st_mode & S_IWGRP) && (st->st_mode & S_IWOTH) ? "group and others"
                 : (st->st_mode & S_IWGRP)                          ? "its group"
                                                                    : "others",
                 (unsigned)(st->st_mode & 07777));
        return buffer;
    }
    return NULL;
}

static const char *file_kind(mode_t mode) {
    if (S_ISREG(mode)) return "it is a regular file";
    if (S_ISDIR(mode)) return "it is a directory";
    if (S_ISFIFO(mode)) return "it is a FIFO";
    if (S_ISCHR(mode)) return "it is a character device";
    if (S_ISBLK(mode)) return "it is a block device";
    if (S_ISSOCK(mode)) return "it is a socket";
    if (S_ISLNK(mode)) return "it is a symbolic link";
    return "it is of an unknown file type";
}

/* Why a directory that (l/f)stat described (status: its result) cannot be trusted, or NULL. */
static const char *dir_not_private(int status, const struct stat *st, char *buffer, size_t size) {
    if (status != 0) return strerror(errno);
    if (!S_ISDIR(st->st_mode)) return file_kind(st->st_mode);
    return not_private(st, buffer, size);
}

/* The configured directory, else the XDG default; malloc'd, or NULL (none). */
static char *resolve_dir(const vs__cache *cache) {
    const char *configured = cache->configured, *xdg = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
    const char *base = NULL, *tail = NULL;
    if (configured != NULL && configured[0] != '\0') {
        base = configured;
        tail = "";
    } else if (xdg != NULL && xdg[0] == '/') { /* a relative XDG_CACHE_HOME is ignored */
        base = xdg;
        tail = "/vecscore";
    } else if (home != NULL && home[0] != '\0') {
        base = home;
        tail = "/.cache/vecscore";
    } else {
        return NULL;
    }
    size_t length = strlen(base) + strlen(tail) + 1;
    char *path = malloc(length);
    if (path != NULL) snprintf(path, length, "%s%s", base, tail);
    return path;
}

/*
 * mkdir -p with mode 0700. A directory this call creates must then be a
 * directory owned by the user that group and others cannot write (it can
 * only fail that if someone replaced it in between). 0, or -1 with a
 * message in why.
 */
static int make_private_dirs(char *path, char *why, size_t why_size) {
    size_t length = strlen(path);
    for (size_t i = 1; i <= length; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        if (path[i - 1] == '/') continue; /* "a//b" */
        char saved = path[i];
        path[i] = '\0';
        int made = mkdir(path, 0700) == 0;
        const int mkdir_errno = errno;
        struct stat existing;
        /* Some file systems say EROFS or EACCES even for a directory that exists. */
        if (!made && mkdir_errno != EEXIST &&
            !(stat(path, &existing) == 0 && S_ISDIR(existing.st_mode))) {
            snprintf(why, why_size, "cannot create %s: %s", path, strerror(mkdir_errno));
            path[i] = saved;
            return -1;
        }
        if (made) {
            struct stat st;
            char reason[128];
            const char *bad = dir_not_private(lstat(path, &st), &st, reason, sizeof(reason));
            if (bad != NULL) {
                snprintf(why, why_size, "the directory %s it created is not private: %s", path,
                         bad);
                path[i] = saved;
                return -1;
            }
        }
        path[i] = saved;
    }
    return 0;
}

/* Opens and checks the directory; the fd, or -1 with the reason in why. */
static int open_private_dir(char *path, char *why, size_t why_size) {
    if (make_private_dirs(path, why, why_size) != 0) return -1;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* follows a link: checks the target */
    if (fd < 0) {
        snprintf(why, why_size, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st, link;
    char reason[128];
    const char *bad = dir_not_private(fstat(fd, &st), &st, reason, sizeof(reason));
    if (bad != NULL) {
        const int is_link = lstat(path, &link) == 0 && S_ISLNK(link.st_mode);
        snprintf(why, why_size, "%s%s is not private: %s", path,
                 is_link ? " (a symbolic link; its target checked)" : "", bad);
        close(fd);
        return -1;
    }
    return fd;
}

/* The directory's fd, opening it at the first call; -1 when the cache is off. */
static int cache_dir_fd(vs__cache *cache) {
    char why[600] = "";
    int warn = -1; /* the level to log why at, once the lock is released (the callback may call
                      back into the library) */
    pthread_mutex_lock(&cache->lock);
    if (cache->state == 0) {
        char *path = resolve_dir(cache);
        int fd = -1;
        if (path == NULL)
            snprintf(why, sizeof(why),
                     "no cache directory (set cache_dir or VECSCORE_CACHE_DIR, or HOME)");
        else
            fd = open_private_dir(path, why, sizeof(why));
        if (fd < 0) {
            warn = path != NULL ? VS_LOG_WARN : VS_LOG_INFO;
            free(path);
            path = NULL;
        }
        cache->fd = fd;
        cache->path = path;
        cache->state = fd >= 0 ? 1 : -1;
    }
    int fd = cache->state == 1 ? cache->fd : -1;
    pthread_mutex_unlock(&cache->lock);
    if (warn >= 0)
        vs__log(cache->log, (vs_log_level)warn,
                "cache: %s; the OpenCL program cache and the cost cache are off (programs are "
                "built from source)",
                why);
    return fd;
}

int vs__cache_init(vs__cache *cache, const char *configured, const vs__log_sink *log) {
    memset(cache, 0, sizeof(*cache));
    cache->configured = configured;
    cache->log = log;
    cache->fd = -1;
    if (pthread_mutex_init(&cache->lock, NULL) != 0) return -1;
    cache->initialized = 1;
    return 0;
}

void vs__cache_close(vs__cache *cache) {
    if (!cache->initialized) return;
    if (cache->state == 1) close(cache->fd);
    free(cache->path);
    cache->path = NULL;
    cache->state = 0;
    pthread_mutex_destroy(&cache->lock);
    cache->initialized = 0;
}

int vs__cache_read(vs__cache *cache, const char *what, const char *name, size_t max_bytes,
                   unsigned char **data, size_t *size) {
    *data = NULL;
    *size = 0;
    int dir = cache_dir_fd(cache);
    if (dir < 0) return 0;
    int fd = openat(dir, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0; /* a miss */
        vs__log(cache->log, VS_LOG_WARN, "%s: entry %s/%s is not used: %s", what, cache->path, name,
                errno == ELOOP ? "it is a symbolic link" : strerror(errno));
        return 0;
    }
    struct stat st;
    char reason[128];
    const char *bad = NULL;
    if (fstat(fd, &st) != 0)
        bad = strerror(errno);
    else if (!S_ISREG(st.st_mode)) {
        snprintf(reason, sizeof(reason), "%s, not a regular file", file_kind(st.st_mode));
        bad = reason;
    } else if ((bad = not_private(&st, reason, sizeof(reason))) == NULL &&
               (st.st_size < 0 || (uint64_t)st.st_size > max_bytes)) {
        snprintf(reason, sizeof(reason), "it is %lld bytes, more than the %zu an entry may have",
                 (long long)st.st_size, max_bytes);
        bad = reason;
    }
    unsigned char *buffer = NULL;
    size_t have = 0;
    if (bad == NULL) {
        buffer = malloc((size_t)st.st_size + 1);
        if (buffer == NULL) bad = "out of memory";
    }
    while (bad == NULL && have < (size_t)st.st_size) {
        ssize_t n = read(fd, buffer + have, (size_t)st.st_size - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            bad = n < 0 ? strerror(errno) : "it shrank while it was read";
            break;
        }
        have += (size_t)n;
    }
    close(fd);
    if (bad != NULL) {
        vs__log(cache->log, VS_LOG_WARN, "%s: entry %s/%s is not used: %s", what, cache->path, name,
                bad);
        free(buffer);
        return 0;
    }
    buffer[have] = '\0';
    *data = buffer;
    *size = have;
    return 1;
}

int vs__cache_write(vs__cache *cache, const char *what, const char *name, const void *data,
                    size_t size) {
    int dir = cache_dir_fd(cache);
    if (dir < 0) return -1;
    if (vs__atomic_write(dir, name, data, size, 0600) != 0) {
        vs__log(cache->log, VS_LOG_WARN, "%s: cannot write entry %s/%s: %s", what, cache->path,
                name, strerror(errno));
        return -1;
    }
    return 0;
}

void vs__cache_drop(vs__cache *cache, const char *name) {
    int dir = cache_dir_fd(cache);
    if (dir >= 0) unlinkat(dir, name, 0);
}
