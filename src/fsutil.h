/* fsutil.h: small file helpers shared by the library. */
#ifndef ICLAB_FSUTIL_H
#define ICLAB_FSUTIL_H

#include <stddef.h>

#include "err.h"

/* Writes len bytes to path atomically (temp file in the same directory,
 * fsync, rename). On failure path is untouched and no temp file remains.
 *
 * Temporary files: IC_TMP_PREFIX, six characters from [A-Za-z0-9] (mkstemps)
 * and IC_TMP_SUFFIX, in the target's directory: ".iclab-Ab3xYz.tmp", 17
 * characters whatever the target's name, so every name up to NAME_MAX (255)
 * can be written. Only a crash between create and rename leaves one behind;
 * ic_is_temp_name() recognises them (for cleaning a directory no iclab
 * process is writing to). */
int ic_write_file_atomic(const char *path, const void *data, size_t len, ic_err *err);
#define IC_TMP_PREFIX ".iclab-"
#define IC_TMP_SUFFIX ".tmp"
/* 1 if name (a file name, no directory) is one of ic_write_file_atomic's
 * temporary files: IC_TMP_PREFIX, six [A-Za-z0-9], IC_TMP_SUFFIX. */
int ic_is_temp_name(const char *name);
/* Reads a whole file into a NUL-terminated malloc'ed buffer (max max_len bytes). */
int ic_read_file(const char *path, char **out, size_t *len, size_t max_len, ic_err *err);
/* mkdir -p. */
int ic_mkdirs(const char *path, ic_err *err);
/* "dir/name" into buf; error if it does not fit. */
int ic_path_join(char *buf, size_t len, const char *dir, const char *name, ic_err *err);
int ic_file_exists(const char *path);
/* 1 if a and b name the same existing file (same st_dev and st_ino after
 * following symbolic links; hard links count), else 0 (also when either
 * does not exist). */
int ic_same_file(const char *a, const char *b);
/* 1 if writing dir/<the last component of path> would replace the file path
 * names (path's directory is dir: same st_dev/st_ino), else 0. */
int ic_file_in_dir(const char *path, const char *dir);

#endif
