#include "fsutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int ic_write_file_atomic(const char *path, const void *data, size_t len, ic_err *err) {
    if (!path || !path[0]) return ic_errf(err, "no output path given");
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp) return ic_errf(err, "%s: out of memory", path);
    snprintf(tmp, pl + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
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

/* ---------------- run directories ---------------- */

static void read_lock_holder(int fd, long *pid, char *host, size_t host_len) {
    char buf[512];
    *pid = 0;
    host[0] = 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return;
    buf[n] = 0;
    char *h = strstr(buf, "host ");
    if (sscanf(buf, "pid %ld", pid) != 1) *pid = 0;
    if (h) {
        h += 5;
        size_t k = strcspn(h, "\n");
        if (k >= host_len) k = host_len - 1;
        memcpy(host, h, k);
        host[k] = 0;
    }
}

int ic_dir_lock_acquire(ic_dir_lock *lk, const char *dir, const char *name, ic_err *err) {
    lk->fd = -1;
    lk->path = NULL;
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = malloc(len);
    if (!path) return ic_errf(err, "out of memory");
    snprintf(path, len, "%s/%s", dir, name);
    /* The holder unlinks the file before it lets go, so a file we lock may
     * already be unlinked: then open the new one and try again. */
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            int e = errno;
            free(path);
            return ic_errf(err, "%s: cannot create the lock file %s: %s", dir, name, strerror(e));
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            if (e != EWOULDBLOCK) {
                close(fd);
                free(path);
                return ic_errf(err, "%s: cannot lock %s: %s", dir, name, strerror(e));
            }
            long pid;
            char host[256], me[256] = "";
            read_lock_holder(fd, &pid, host, sizeof host);
            close(fd);
            gethostname(me, sizeof me - 1);
            int here = host[0] && strcmp(host, me) == 0;
            /* the holder writes its name just after locking: the file may still name a dead one */
            if (pid > 0 && host[0] && !(here && kill((pid_t)pid, 0) != 0 && errno == ESRCH))
                ic_errf(err, "%s is locked by pid %ld on host %s (another iclab process is using it); wait for it to "
                        "finish or stop it (kill -INT %ld%s%s), then retry",
                        dir, pid, host, pid, here ? "" : " on ", here ? "" : host);
            else
                ic_errf(err, "%s is locked by another process (%s names no live holder yet); wait for it to finish, "
                        "then retry", dir, path);
            free(path);
            return -1;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            char me[256] = "", line[400];
            gethostname(me, sizeof me - 1);
            int n = snprintf(line, sizeof line, "pid %ld\nhost %s\n", (long)getpid(), me);
            if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n) {
                int e = errno;
                unlink(path); /* ours while we hold it */
                close(fd);
                free(path);
                return ic_errf(err, "%s: cannot write the lock file %s: %s", dir, name, strerror(e));
            }
            lk->fd = fd;
            lk->path = path;
            return 0;
        }
        close(fd); /* locked a file its holder had just unlinked */
    }
    free(path);
    return ic_errf(err, "%s: could not take the lock %s (it keeps being replaced); retry", dir, name);
}

void ic_dir_lock_release(ic_dir_lock *lk) {
    if (lk->fd >= 0) {
        if (lk->path) unlink(lk->path); /* while still holding it (see acquire) */
        close(lk->fd);
    }
    free(lk->path);
    lk->fd = -1;
    lk->path = NULL;
}

int ic_remove_atomic_temps(const char *dir, const char *const *names, int n_names, int *removed,
                           unsigned long long *bytes, ic_err *err) {
    if (removed) *removed = 0;
    if (bytes) *bytes = 0;
    DIR *d = opendir(dir);
    if (!d) return ic_errf(err, "%s: cannot list the directory: %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *ent = e->d_name;
        int match = 0;
        for (int i = 0; i < n_names && !match; i++) {
            size_t nl = strlen(names[i]);
            const char *tail = ent + nl;
            if (strncmp(ent, names[i], nl) != 0 || strncmp(tail, ".tmp", 4) != 0 || strlen(tail + 4) != 6) continue;
            match = 1; /* mkstemp's XXXXXX: letters and digits */
            for (const char *c = tail + 4; *c; c++)
                if (!isalnum((unsigned char)*c)) match = 0;
        }
        if (!match) continue;
        char path[4096];
        if (ic_path_join(path, sizeof path, dir, ent, err)) { rc = -1; break; }
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (unlink(path) != 0) {
            rc = ic_errf(err, "%s: cannot remove the leftover temporary file: %s", path, strerror(errno));
            break;
        }
        if (removed) (*removed)++;
        if (bytes) *bytes += (unsigned long long)st.st_size;
    }
    closedir(d);
    return rc;
}

unsigned long ic_crc32(unsigned long crc, const void *data, size_t n) {
    /* slicing-by-8; the 8 KiB of tables cost less than 64 KiB of data */
    uint32_t t[8][256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        t[0][i] = c;
    }
    for (int k = 1; k < 8; k++)
        for (int i = 0; i < 256; i++) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
    uint32_t c = (uint32_t)crc ^ 0xFFFFFFFFu;
    const unsigned char *p = data;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
            t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    }
    for (; n > 0; n--, p++) c = t[0][(c ^ *p) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}
