#include "fsutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ic_write_file_atomic(const char *path, const void *data, size_t len, ic_err *err) {
    if (!path || !path[0]) return ic_errf(err, "no output path given");
    /* the temporary file: same directory, a short fixed-length name (a
     * suffix on the target's name would push names near NAME_MAX over it) */
    const char *slash0 = strrchr(path, '/');
    const size_t dl = slash0 ? (size_t)(slash0 - path) + 1 : 0;
    const size_t tl = dl + sizeof IC_TMP_PREFIX - 1 + 6 + sizeof IC_TMP_SUFFIX;
    char *tmp = malloc(tl);
    if (!tmp) return ic_errf(err, "%s: out of memory", path);
    snprintf(tmp, tl, "%.*s%sXXXXXX%s", (int)dl, path, IC_TMP_PREFIX, IC_TMP_SUFFIX);
    int fd = mkstemps(tmp, (int)sizeof IC_TMP_SUFFIX - 1);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return ic_errf(err, "%s: cannot create temporary file: %s (nothing written)", path, strerror(e));
    }
    /* mkstemp makes the file 0600; keep an existing file's mode, else rw-r--r-- */
    struct stat st;
    mode_t mode = (stat(path, &st) == 0 && S_ISREG(st.st_mode)) ? (st.st_mode & 07777) : 0644;
    const char *what = NULL;
    int saved = 0;
    if (fchmod(fd, mode) != 0) what = "chmod";
    const char *p = data;
    for (size_t off = 0; !what && off < len;) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            what = "write";
            break;
        }
        off += (size_t)w;
    }
    if (!what && fsync(fd) != 0) what = "fsync";
    if (what) saved = errno;
    if (close(fd) != 0 && !what) {
        what = "close";
        saved = errno;
    }
    if (!what && rename(tmp, path) != 0) {
        what = "rename";
        saved = errno;
    }
    if (what) {
        unlink(tmp);
        free(tmp);
        return ic_errf(err, "%s: %s of temporary file failed: %s (nothing written)", path, what, strerror(saved));
    }
    free(tmp);
    /* make the rename durable; a failure here loses nothing already written */
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    if (dir) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
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

int ic_is_temp_name(const char *name) {
    const size_t pl = sizeof IC_TMP_PREFIX - 1, sl = sizeof IC_TMP_SUFFIX - 1;
    if (strlen(name) != pl + 6 + sl || strncmp(name, IC_TMP_PREFIX, pl) || strcmp(name + pl + 6, IC_TMP_SUFFIX))
        return 0;
    for (size_t i = pl; i < pl + 6; i++)
        if (!isalnum((unsigned char)name[i])) return 0;
    return 1;
}

int ic_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int ic_file_in_dir(const char *path, const char *dir) {
    if (!path || !dir) return 0;
    const char *slash = strrchr(path, '/');
    char *pdir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    if (!pdir) return 1; /* cannot tell: say yes, the caller refuses rather than risk the file */
    int same = ic_same_file(pdir, dir);
    free(pdir);
    return same;
}
