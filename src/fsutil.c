#include "fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ic_write_file_atomic(const char *path, const void *data, size_t len, ic_err *err) {
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp) return ic_errf(err, "out of memory");
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmpXXXXXX", 11);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return ic_errf(err, "%s: cannot create a temporary file: %s", path, strerror(e));
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            free(tmp);
            return ic_errf(err, "%s: write failed: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return ic_errf(err, "%s: flush failed: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return ic_errf(err, "%s: rename failed: %s", path, strerror(e));
    }
    free(tmp);
    return 0;
}

int ic_read_file(const char *path, char **out, size_t *len, size_t max_len, ic_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return ic_errf(err, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) { fclose(f); return ic_errf(err, "out of memory reading %s", path); }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (n + 1 < cap) break;
        if (cap > max_len) { free(buf); fclose(f); return ic_errf(err, "%s: larger than %zu bytes", path, max_len); }
        cap *= 2;
        char *nb = realloc(buf, cap);
        if (!nb) free(buf);
        buf = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return ic_errf(err, "%s: read error", path); }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
}

int ic_mkdirs(const char *path, ic_err *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return ic_errf(err, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return ic_errf(err, "cannot create directory %s: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return ic_errf(err, "%s is not a directory", path);
    return 0;
}

int ic_path_join(char *buf, size_t len, const char *dir, const char *name, ic_err *err) {
    int w = snprintf(buf, len, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= len) return ic_errf(err, "path too long: %s/%s", dir, name);
    return 0;
}

int ic_file_exists(const char *path) { return access(path, F_OK) == 0; }
