#include "sysmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "fsutil.h"

/* "Key:   123 kB" in a /proc text: the value in bytes, or -1. */
static double proc_kb(const char *text, const char *key) {
    if (!text) return -1;
    const size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, key, kl) && p[kl] == ':') {
            char *end;
            double v = strtod(p + kl + 1, &end);
            if (end == p + kl + 1 || v < 0) return -1;
            return v * 1024.0;
        }
    return -1;
}

static void take(ic_mem_avail *o, double bytes, const char *source) {
    if (bytes < 0) bytes = 0;
    if (o->bytes < 0 || bytes < o->bytes) {
        o->bytes = bytes;
        snprintf(o->source, sizeof o->source, "%s", source);
    }
}

void ic_mem_avail_from(const char *meminfo, const char *status, double rlimit_as, double rlimit_data, double cg_limit,
                       double cg_usage, ic_mem_avail *out) {
    out->bytes = -1;
    out->source[0] = 0;
    double avail = proc_kb(meminfo, "MemAvailable");
    if (avail >= 0) take(out, avail, "MemAvailable");
    if (cg_limit >= 0) take(out, cg_limit - (cg_usage > 0 ? cg_usage : 0), "the cgroup's memory limit");
    if (rlimit_as >= 0) {
        double used = proc_kb(status, "VmSize");
        take(out, rlimit_as - (used > 0 ? used : 0), "RLIMIT_AS (ulimit -v)");
    }
    if (rlimit_data >= 0) {
        double used = proc_kb(status, "VmData");
        take(out, rlimit_data - (used > 0 ? used : 0), "RLIMIT_DATA (ulimit -d)");
    }
}

/* A number from a small file ("max" or absent: -1). */
static double read_number(const char *path) {
    char *t = NULL;
    if (ic_read_file(path, &t, NULL, 4096, NULL)) return -1;
    char *end;
    double v = strtod(t, &end);
    double r = end == t ? -1 : v;
    free(t);
    return r;
}

/* The cgroup memory limit and usage (v2, else v1), -1 when there is none. */
static void cgroup_limit(double *limit, double *usage) {
    *limit = *usage = -1;
    char *cg = NULL;
    if (ic_read_file("/proc/self/cgroup", &cg, NULL, 1 << 16, NULL)) return;
    char path[4096];
    for (char *line = cg; line && *line && *limit < 0; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        char *nl = strchr(line, '\n');
        int len = nl ? (int)(nl - line) : (int)strlen(line);
        const char *v2 = !strncmp(line, "0::", 3) ? line + 3 : NULL;
        const char *v1 = strstr(line, ":memory:");
        if (v1 && v1 > line + len) v1 = NULL;
        const char *rel = v2 ? v2 : v1 ? v1 + 8 : NULL;
        if (!rel) continue;
        int rl = len - (int)(rel - line);
        /* the process's own cgroup, else the root of the mount (a cgroup namespace) */
        for (int root = 0; root < 2 && *limit < 0; root++) {
            snprintf(path, sizeof path, "/sys/fs/cgroup%s%.*s/%s", v2 ? "" : "/memory", root ? 0 : rl, rel,
                     v2 ? "memory.max" : "memory.limit_in_bytes");
            double l = read_number(path);
            if (l < 0 || l >= 9.2e18) continue; /* "max", or v1's "unlimited" (2^63 rounded to pages) */
            snprintf(path, sizeof path, "/sys/fs/cgroup%s%.*s/%s", v2 ? "" : "/memory", root ? 0 : rl, rel,
                     v2 ? "memory.current" : "memory.usage_in_bytes");
            *limit = l;
            *usage = read_number(path);
        }
    }
    free(cg);
}

void ic_mem_available(ic_mem_avail *out) {
    char *meminfo = NULL, *status = NULL;
    (void)ic_read_file("/proc/meminfo", &meminfo, NULL, 1 << 20, NULL);
    (void)ic_read_file("/proc/self/status", &status, NULL, 1 << 20, NULL);
    struct rlimit r;
    double as = -1, data = -1, cgl, cgu;
    if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY) as = (double)r.rlim_cur;
    if (getrlimit(RLIMIT_DATA, &r) == 0 && r.rlim_cur != RLIM_INFINITY) data = (double)r.rlim_cur;
    cgroup_limit(&cgl, &cgu);
    ic_mem_avail_from(meminfo, status, as, data, cgl, cgu, out);
    free(meminfo);
    free(status);
}

char *ic_fmt_bytes(double b, char *buf, size_t len) {
    if (b >= 1e12) snprintf(buf, len, "%.3g TB", b / 1e12);
    else if (b >= 1e9) snprintf(buf, len, "%.3g GB", b / 1e9);
    else if (b >= 1e6) snprintf(buf, len, "%.3g MB", b / 1e6);
    else snprintf(buf, len, "%.3g kB", b / 1e3);
    return buf;
}

int ic_mem_check_with(double need, const ic_mem_avail *a, const char *what, const char *hint, ic_err *err) {
    if (a->bytes < 0 || need <= a->bytes) return 0;
    char nb[32], ab[32];
    return ic_errf(err, "%s needs %s of memory but %s is available (%s)%s%s", what, ic_fmt_bytes(need, nb, sizeof nb),
                   ic_fmt_bytes(a->bytes, ab, sizeof ab), a->source, hint && *hint ? "; " : "", hint ? hint : "");
}

int ic_mem_check(double need, const char *what, const char *hint, ic_err *err) {
    ic_mem_avail a;
    ic_mem_available(&a);
    return ic_mem_check_with(need, &a, what, hint, err);
}
