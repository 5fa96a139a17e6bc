/*
 * file.c — the atomic writer: unique temporary files and temp + rename.
 */
#define _GNU_SOURCE
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"

int vs__temp_open(int dirfd, char *name, size_t prefix_length, mode_t mode) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static atomic_uint serial;
    /* Unique enough to make collisions rare; O_EXCL makes them harmless (another try). */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const unsigned count = atomic_fetch_add_explicit(&serial, 1, memory_order_relaxed);
    const pid_t pid = getpid();
    const uintptr_t where = (uintptr_t)name;
    uint64_t state = vs__fnv1a(VS_FNV1A_SEED, &now, sizeof(now));
    state = vs__fnv1a(state, &count, sizeof(count));
    state = vs__fnv1a(state, &pid, sizeof(pid));
    state = vs__fnv1a(state, &where, sizeof(where));
    char *random = name + prefix_length;
    for (int attempt = 0; attempt < 100; attempt++) {
        for (int i = 0; i < VS_TEMP_RANDOM; i++) {
            state = state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
            random[i] = alphabet[(state >> 33) % (sizeof(alphabet) - 1)];
        }
        random[VS_TEMP_RANDOM] = '\0';
        int fd = openat(dirfd, name,
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1; /* errno is EEXIST */
}

int vs__write_all(int fd, const void *data, size_t size) {
    const unsigned char *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

int vs__atomic_write(int dirfd, const char *name, const void *data, size_t size, mode_t mode) {
    char temp[256];
    const int prefix = snprintf(temp, sizeof(temp), ".%.200s.tmp-", name);
    if (prefix < 0 || (size_t)prefix + VS_TEMP_RANDOM + 1 > sizeof(temp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = vs__temp_open(dirfd, temp, (size_t)prefix, mode);
    if (fd < 0) return -1;
    int ok = vs__write_all(fd, data, size) == 0;
    int saved = errno;
    /* EINVAL / EROFS: a file system that cannot sync; the rename is still atomic. */
    if (ok && fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
        ok = 0;
        saved = errno;
    }
    if (close(fd) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (ok && renameat(dirfd, temp, dirfd, name) != 0) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        unlinkat(dirfd, temp, 0);
        errno = saved;
        return -1;
    }
    return 0;
}
