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

#endif
