/* strbuf.h: a growing NUL-terminated string, for the writers that build a
 * whole file in memory before one atomic write (src/plot.c's SVGs,
 * src/page.c's HTML). An allocation failure sets oom and turns every later
 * call into a no-op, so a writer checks once at the end. */
#ifndef ICLAB_STRBUF_H
#define ICLAB_STRBUF_H

#include <stddef.h>

typedef struct {
    char *p; /* NULL until the first append; the caller frees it */
    size_t n, cap;
    int oom;
} ic_sbuf;

void ic_sb_put(ic_sbuf *b, const char *s, size_t n);
void ic_sb_puts(ic_sbuf *b, const char *s);
void ic_sb_printf(ic_sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
