/* sysmem.h: how much memory this process can still use, so that a
 * configuration that cannot fit is refused up front with a one-line error
 * instead of being killed halfway (Linux overcommits: a malloc of more than
 * there is succeeds, and the process dies when the pages are touched).
 *
 * The limit is the smallest known of: MemAvailable (/proc/meminfo), the
 * cgroup's memory limit minus its usage (v2 memory.max/memory.current, v1
 * memory.limit_in_bytes/memory.usage_in_bytes), RLIMIT_AS minus the
 * process's VmSize and RLIMIT_DATA minus its VmData (/proc/self/status). */
#ifndef ICLAB_SYSMEM_H
#define ICLAB_SYSMEM_H

#include <stddef.h>

#include "err.h"

typedef struct {
    double bytes;      /* available; < 0: nothing could be read (no check) */
    char source[48];   /* which limit it is: "MemAvailable", "RLIMIT_AS", ... */
} ic_mem_avail;

/* The limit from the texts of /proc/meminfo and /proc/self/status (either
 * may be NULL), the soft RLIMIT_AS and RLIMIT_DATA (< 0: unlimited) and the
 * cgroup limit and usage in bytes (cg_limit < 0: none). Pure, for tests. */
void ic_mem_avail_from(const char *meminfo, const char *status, double rlimit_as, double rlimit_data, double cg_limit,
                       double cg_usage, ic_mem_avail *out);
/* The same for this process now. */
void ic_mem_available(ic_mem_avail *out);

/* "1.5 GB", "820 MB", "3.2 TB" into buf; returns buf. */
char *ic_fmt_bytes(double bytes, char *buf, size_t len);

/* 0 when need bytes fit in what is available (or nothing is known); else -1
 * and err says "<what> needs 12.3 GB of memory but 4.5 GB is available
 * (MemAvailable); <hint>" (what: "training", "the activation buffer"). */
int ic_mem_check(double need, const char *what, const char *hint, ic_err *err);
/* Same, against an explicit availability (tests). */
int ic_mem_check_with(double need, const ic_mem_avail *avail, const char *what, const char *hint, ic_err *err);

#endif
