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

/* Removes the temporary files ic_write_file_atomic leaves behind when a writer
 * is killed: every ic_is_temp_name() file in dir, and dir/NAME.tmpXXXXXX for
 * each NAME in names (the naming of earlier iclab versions). Call only while
 * no writer can be active (e.g. holding the directory's lock). *removed and
 * *bytes (each may be NULL) count what was removed. */
int ic_remove_atomic_temps(const char *dir, const char *const *names, int n_names, int *removed,
                           unsigned long long *bytes, ic_err *err);

/* CRC-32 (IEEE 802.3, as zlib's crc32 and Python's zlib.crc32): pass 0 as
 * crc to start, or a previous result to continue. */
unsigned long ic_crc32(unsigned long crc, const void *data, size_t n);

/* ---- output directories that change as a whole ----
 *
 * An analysis command (eval, loops, probe, surgery, compare) writes its files
 * into a fresh temporary sibling of its output directory OUT,
 * "OUT.tmp-<pid>-XXXXXX", and swaps it in only when every file is written, so
 * a reader of OUT sees either the old complete set or the new complete set:
 *
 *     ic_outdir od;
 *     if (ic_outdir_begin(&od, out, inputs, n_inputs, err)) return -1;
 *     ... write everything into od.tmp ...
 *     if (ok) ic_outdir_commit(&od, err); else ic_outdir_abort(&od, err);
 *
 * The swap replaces OUT as a whole: files the new run does not write are gone
 * afterwards. The old directory is exchanged with the new one in one step
 * (renameat2 RENAME_EXCHANGE) where the kernel and file system support it;
 * elsewhere OUT is renamed aside to "OUT.old-<pid>-XXXXXX", the new directory
 * renamed into place (the old one is put back if that fails), and the old one
 * removed, which leaves a moment in which OUT does not exist. */
typedef struct {
    char out[4096];  /* OUT as given, without trailing slashes */
    char tmp[4096];  /* where the files go until the commit */
    int existed;     /* OUT existed when begun */
    int no_exchange; /* 1: skip RENAME_EXCHANGE and use the rename-aside fallback (tests) */
} ic_outdir;

/* Creates OUT's parent directories and the temporary directory od->tmp, after
 * removing leftover temporary directories of OUT whose process (the pid in the
 * name) is no longer alive. Refuses, with nothing created, an OUT that is not
 * a directory or is a symbolic link, one that holds anything but regular files
 * or holds a training run (state.safetensors) — it is replaced as a whole —,
 * one that contains the current directory, and one that contains any of the
 * n_inputs paths in inputs (NULL entries are skipped): the swap would delete
 * them. */
int ic_outdir_begin(ic_outdir *od, const char *out, const char *const *inputs, int n_inputs, ic_err *err);
/* Swaps od->tmp in as OUT and removes the previous OUT. On failure OUT is as it
 * was and od->tmp is removed. */
int ic_outdir_commit(ic_outdir *od, ic_err *err);
/* Removes od->tmp and everything in it; OUT is untouched. */
int ic_outdir_abort(ic_outdir *od, ic_err *err);
/* A path the command was asked to write: if it lies inside OUT, the same path
 * inside od->tmp (so the file arrives with the swap), else path itself. */
int ic_outdir_path(const ic_outdir *od, const char *path, char *buf, size_t len, ic_err *err);
/* rm -r: removes path and, if it is a directory, everything below it (symbolic
 * links are removed, not followed). A missing path is not an error. */
int ic_remove_tree(const char *path, ic_err *err);
/* 1 if `inner` is `outer` or lies below it (both resolved through the file
 * system where they exist, else compared as absolute, normalised paths). */
int ic_path_within(const char *inner, const char *outer);

#endif
