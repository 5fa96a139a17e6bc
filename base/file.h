/*
 * file.h — the one atomic writer (bottom layer, base/): a uniquely named
 * temporary file next to the target, written whole, synced, then renamed
 * over it, so a reader sees the old file or the new one, never a part.
 *
 * Two ways to use it. vs__atomic_write does all of it for one buffer (the
 * OpenCL program cache and the cost cache, through base/cache.c). io/writer.c
 * creates its temporary files with vs__temp_open, streams into them, and
 * renames them as a set when a whole run has succeeded.
 */
#ifndef VS_BASE_FILE_H
#define VS_BASE_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Random characters vs__temp_open appends to a prefix. */
#define VS_TEMP_RANDOM 6

/*
 * Creates a new file named `name` + VS_TEMP_RANDOM random characters
 * (letters and digits), relative to the directory dirfd (AT_FDCWD: the
 * working directory); name holds the prefix on entry (prefix_length
 * characters, a directory part allowed) and must have room for
 * prefix_length + VS_TEMP_RANDOM + 1 bytes. Opened write-only with
 * O_CREAT | O_EXCL | O_NOFOLLOW (never an existing file or a link) and
 * close-on-exec, with `mode` (less the umask). Returns the descriptor with
 * the full name in `name`, or -1 with errno.
 */
int vs__temp_open(int dirfd, char *name, size_t prefix_length, mode_t mode);

/* Writes all of data (retrying short writes and EINTR); 0, or -1 with errno. */
int vs__write_all(int fd, const void *data, size_t size);

/*
 * Replaces dirfd/name by a file holding data (mode `mode`): a temporary
 * ".NAME.tmp-XXXXXX" in the same directory, written, fsync'd, closed and
 * renamed over name. 0, or -1 with errno; on failure no temporary file is
 * left and name is untouched.
 */
int vs__atomic_write(int dirfd, const char *name, const void *data, size_t size, mode_t mode);

#endif /* VS_BASE_FILE_H */
