/* err.h: the library's error convention.
 *
 * Every fallible library function returns int: 0 on success, -1 on failure,
 * and fills an ic_err with one human-readable line saying what is wrong and
 * where. Library code never calls exit() and never prints; the CLI prints
 * err.msg. The struct lives on the caller's stack, so there is no global
 * error state. */
#ifndef ICLAB_ERR_H
#define ICLAB_ERR_H

#include <stddef.h>

typedef struct {
    char msg[512];
} ic_err;

/* Formats the message into e (if e is non-NULL) and returns -1, so callers
 * can write `return ic_errf(err, "...", ...);`. */
int ic_errf(ic_err *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prepends "prefix: " to an existing message (for adding context such as a
 * file name as an error travels up). Returns -1. */
int ic_err_prefix(ic_err *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
