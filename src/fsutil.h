/* fsutil.h: small file helpers shared by the library. */
#ifndef ICLAB_FSUTIL_H
#define ICLAB_FSUTIL_H

#include <stddef.h>

#include "err.h"

/* Writes len bytes to path atomically (temp file in the same directory,
 * fsync, rename). On failure path is untouched and no temp file remains. */
int ic_write_file_atomic(const char *path, const void *data, size_t len, ic_err *err);
/* Reads a whole file into a NUL-terminated malloc'ed buffer (max max_len bytes). */
int ic_read_file(const char *path, char **out, size_t *len, size_t max_len, ic_err *err);
/* mkdir -p. */
int ic_mkdirs(const char *path, ic_err *err);
/* "dir/name" into buf; error if it does not fit. */
int ic_path_join(char *buf, size_t len, const char *dir, const char *name, ic_err *err);
int ic_file_exists(const char *path);

/* ---- run directories: locks, leftovers of killed writers, checksums ---- */

/* An exclusive advisory lock on a directory: flock(2) on the lock file
 * dir/name, which names the holder ("pid P\nhost H\n"). The kernel drops the
 * lock when its holder exits however it exits, so a lock file left by a
 * killed process never blocks anyone. */
typedef struct {
    int fd;     /* -1: not held */
    char *path; /* the lock file */
} ic_dir_lock;

/* Takes the lock without waiting. If another process holds it: -1 with
 * "DIR is locked by pid P on host H; ..." (what to do included). */
int ic_dir_lock_acquire(ic_dir_lock *lk, const char *dir, const char *name, ic_err *err);
/* Removes the lock file and drops the lock (no-op when not held). */
void ic_dir_lock_release(ic_dir_lock *lk);

/* Removes dir/NAME.tmpXXXXXX for each NAME in names: the temporary files
 * ic_write_file_atomic makes (its naming; the two must agree), left behind
 * when a writer was killed. Call only while no writer can be active (e.g.
 * holding the directory's lock). *removed and *bytes (each may be NULL)
 * count what was removed. */
int ic_remove_atomic_temps(const char *dir, const char *const *names, int n_names, int *removed,
                           unsigned long long *bytes, ic_err *err);

/* CRC-32 (IEEE 802.3, as zlib's crc32 and Python's zlib.crc32): pass 0 as
 * crc to start, or a previous result to continue. */
unsigned long ic_crc32(unsigned long crc, const void *data, size_t n);

#endif
