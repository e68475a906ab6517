#include "fsutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

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
        /* today's temporaries (ic_is_temp_name) carry no target name: under the
         * directory's lock every one of them is a dead writer's */
        int match = ic_is_temp_name(ent);
        /* older iclab versions named them NAME.tmpXXXXXX */
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

/* ---- output directories that change as a whole ---- */

/* Absolute, normalised ("." and ".." and repeated slashes folded) form of
 * path, lexically. */
static int abs_normal(const char *path, char *buf, size_t len) {
    char tmp[8192];
    if (path[0] == '/') {
        if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return -1;
    } else {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd)) return -1;
        if (snprintf(tmp, sizeof tmp, "%s/%s", cwd, path) >= (int)sizeof tmp) return -1;
    }
    size_t n = 0;
    char *save = NULL;
    buf[0] = 0;
    for (char *c = strtok_r(tmp, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, ".")) continue;
        if (!strcmp(c, "..")) {
            while (n > 0 && buf[n - 1] != '/') n--;
            if (n > 0) n--; /* the slash */
            buf[n] = 0;
            continue;
        }
        size_t cl = strlen(c);
        if (n + 1 + cl + 1 > len) return -1;
        buf[n++] = '/';
        memcpy(buf + n, c, cl + 1);
        n += cl;
    }
    if (n == 0) {
        if (len < 2) return -1;
        strcpy(buf, "/");
    }
    return 0;
}

/* Canonical form of path: realpath of its longest existing prefix, then the
 * rest (which does not exist) lexically. */
static int resolve_path(const char *path, char *buf, size_t len) {
    char norm[4096];
    if (abs_normal(path, norm, sizeof norm)) return -1;
    size_t cut = strlen(norm); /* the prefix tried: norm[cut] is the end or a slash */
    for (;;) {
        char head[4096], real[PATH_MAX];
        if (cut == 0) {
            strcpy(head, "/");
        } else {
            memcpy(head, norm, cut);
            head[cut] = 0;
        }
        if (realpath(head, real)) {
            const char *rest = norm + cut; /* "" or "/..." */
            int w = snprintf(buf, len, "%s%s", strcmp(real, "/") == 0 && *rest ? "" : real, rest);
            return w < 0 || (size_t)w >= len ? -1 : 0;
        }
        if (cut == 0) return -1;
        do cut--;
        while (cut > 0 && norm[cut] != '/');
    }
}

int ic_path_within(const char *inner, const char *outer) {
    char a[4096], b[4096];
    if (!inner || !outer || resolve_path(inner, a, sizeof a) || resolve_path(outer, b, sizeof b)) return 0;
    size_t bl = strlen(b);
    if (!strcmp(b, "/")) return 1;
    return strncmp(a, b, bl) == 0 && (a[bl] == 0 || a[bl] == '/');
}

static int remove_at(int dirfd, const char *name, int depth) {
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0 : -1;
    if (depth > 64) {
        errno = ELOOP;
        return -1;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    int rc = 0;
    /* removing entries while reading may hide others from this pass: repeat
     * until a pass finds nothing (or nothing more can be removed) */
    for (int pass = 0; pass < 8 && rc == 0; pass++) {
        int seen = 0;
        struct dirent *e;
        rewinddir(d);
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            seen++;
            if (remove_at(fd, e->d_name, depth + 1)) rc = -1;
        }
        if (!seen) break;
    }
    int e = errno;
    closedir(d);
    errno = e;
    if (rc) return -1;
    return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

int ic_remove_tree(const char *path, ic_err *err) {
    if (!path || !path[0]) return ic_errf(err, "no path to remove");
    if (remove_at(AT_FDCWD, path, 0)) return ic_errf(err, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

/* "dir" and "base" of a path without trailing slashes ("." for a bare name). */
static void split_path(const char *path, char *dir, size_t dlen, const char **base) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dlen, ".");
        *base = path;
    } else if (slash == path) {
        snprintf(dir, dlen, "/");
        *base = slash + 1;
    } else {
        snprintf(dir, dlen, "%.*s", (int)(slash - path), path);
        *base = slash + 1;
    }
}

static void fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Is name "<base>.tmp-<pid>-XXXXXX" or "<base>.old-<pid>-XXXXXX"? Returns the pid or 0. */
static long leftover_pid(const char *name, const char *base) {
    size_t bl = strlen(base);
    if (strncmp(name, base, bl) || (strncmp(name + bl, ".tmp-", 5) && strncmp(name + bl, ".old-", 5))) return 0;
    const char *p = name + bl + 5;
    char *end;
    errno = 0;
    long pid = strtol(p, &end, 10);
    if (end == p || errno || pid <= 0 || *end != '-' || strlen(end + 1) != 6) return 0;
    return pid;
}

/* Removes OUT's temporary and set-aside directories left by processes that
 * are no longer alive (best effort). */
static void remove_leftovers(const char *dir, const char *base) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char names[64][256];
    int n = 0;
    while ((e = readdir(d)) && n < 64) {
        long pid = leftover_pid(e->d_name, base);
        if (!pid || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive (or not ours to judge) */
        if (strlen(e->d_name) < sizeof names[0]) snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        char path[8192];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) < (int)sizeof path) (void)remove_at(AT_FDCWD, path, 0);
    }
}

int ic_outdir_begin(ic_outdir *od, const char *out, const char *const *inputs, int n_inputs, ic_err *err) {
    memset(od, 0, sizeof *od);
    if (!out || !out[0]) return ic_errf(err, "no output directory given");
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/') n--;
    if (n + 32 >= sizeof od->out) return ic_errf(err, "output directory path too long: %.64s...", out);
    memcpy(od->out, out, n);
    od->out[n] = 0;
    char dir[4096];
    const char *base;
    split_path(od->out, dir, sizeof dir, &base);
    if (!base[0] || !strcmp(base, ".") || !strcmp(base, ".."))
        return ic_errf(err, "'%s' cannot be an output directory: it is replaced as a whole, so name a directory of its own", out);

    struct stat st;
    if (lstat(od->out, &st) == 0) {
        if (S_ISLNK(st.st_mode))
            return ic_errf(err, "%s is a symbolic link; give the directory it points to as the output directory", od->out);
        if (!S_ISDIR(st.st_mode)) return ic_errf(err, "%s exists and is not a directory", od->out);
        DIR *d = opendir(od->out);
        if (!d) return ic_errf(err, "%s: cannot read: %s", od->out, strerror(errno));
        struct dirent *e;
        int bad = 0;
        while (!bad && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            struct stat es;
            if (fstatat(dirfd(d), e->d_name, &es, AT_SYMLINK_NOFOLLOW) != 0) continue;
            if (!strcmp(e->d_name, "state.safetensors"))
                bad = ic_errf(err, "%s holds a training run (state.safetensors); an output directory is replaced as a "
                                   "whole, so choose another one, e.g. %s/eval", od->out, od->out);
            else if (!S_ISREG(es.st_mode))
                bad = ic_errf(err, "%s holds '%s', which is not a file; an output directory is replaced as a whole and "
                                   "holds only the files one command writes: choose another one", od->out, e->d_name);
        }
        closedir(d);
        if (bad) return -1;
        od->existed = 1;
    } else if (errno != ENOENT) {
        return ic_errf(err, "%s: %s", od->out, strerror(errno));
    }
    if (ic_path_within(".", od->out))
        return ic_errf(err, "%s contains the current directory; an output directory is replaced as a whole: choose "
                            "another one", od->out);
    for (int i = 0; i < n_inputs; i++)
        if (inputs && inputs[i] && ic_path_within(inputs[i], od->out))
            return ic_errf(err, "%s lies inside the output directory %s, which is replaced as a whole when the command "
                                "finishes: choose another output directory", inputs[i], od->out);

    if (strcmp(dir, ".") && strcmp(dir, "/") && ic_mkdirs(dir, err)) return -1;
    remove_leftovers(dir, base);
    if (snprintf(od->tmp, sizeof od->tmp, "%s.tmp-%ld-XXXXXX", od->out, (long)getpid()) >= (int)sizeof od->tmp ||
        !mkdtemp(od->tmp)) {
        int e = errno;
        od->tmp[0] = 0;
        return ic_errf(err, "%s: cannot create a temporary directory next to it: %s", od->out, strerror(e));
    }
    /* mkdtemp makes it 0700; the directory gets the usual mode (or the old one's) */
    mode_t mask = umask(0);
    umask(mask);
    (void)chmod(od->tmp, od->existed ? (st.st_mode & 07777) : (0777 & ~mask));
    return 0;
}

int ic_outdir_abort(ic_outdir *od, ic_err *err) {
    if (!od->tmp[0]) return 0;
    int rc = ic_remove_tree(od->tmp, err);
    od->tmp[0] = 0;
    return rc;
}

#define IC_RENAME_EXCHANGE (1 << 1)

/* Exchanges two paths atomically; -1 with errno ENOSYS where unsupported. */
static int exchange_paths(const char *a, const char *b) {
#if defined(__linux__) && defined(SYS_renameat2)
    return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, IC_RENAME_EXCHANGE);
#else
    (void)a;
    (void)b;
    errno = ENOSYS;
    return -1;
#endif
}

int ic_outdir_commit(ic_outdir *od, ic_err *err) {
    if (!od->tmp[0]) return ic_errf(err, "%s: nothing to commit", od->out);
    char dir[4096];
    const char *base;
    split_path(od->out, dir, sizeof dir, &base);
    fsync_dir(od->tmp);
    struct stat st;
    int rc = 0, e = 0;
    if (lstat(od->out, &st) != 0) {
        if (rename(od->tmp, od->out) == 0) goto done;
        e = errno;
        if ((e != EEXIST && e != ENOTEMPTY) || lstat(od->out, &st) != 0) goto fail; /* else: it appeared meanwhile */
    }
    if (!S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) {
        e = ENOTDIR;
        goto fail;
    }
    if (!od->no_exchange) {
        if (exchange_paths(od->tmp, od->out) == 0) {
            /* od->tmp now holds the old set */
            (void)remove_at(AT_FDCWD, od->tmp, 0);
            goto done;
        }
        e = errno;
        if (e != ENOSYS && e != EINVAL && e != ENOTSUP && e != EOPNOTSUPP) goto fail;
    }
    {
        /* rename the old set aside (onto an empty directory of a unique name), the new one into place */
        char old[4096];
        if (snprintf(old, sizeof old, "%s.old-%ld-XXXXXX", od->out, (long)getpid()) >= (int)sizeof old) {
            e = ENAMETOOLONG;
            goto fail;
        }
        if (!mkdtemp(old)) {
            e = errno;
            goto fail;
        }
        if (rename(od->out, old) != 0) {
            e = errno;
            rmdir(old);
            goto fail;
        }
        if (rename(od->tmp, od->out) != 0) {
            e = errno;
            (void)rename(old, od->out); /* put the old set back */
            goto fail;
        }
        (void)remove_at(AT_FDCWD, old, 0);
    }
done:
    od->tmp[0] = 0;
    fsync_dir(dir);
    return 0;
fail:
    rc = ic_errf(err, "%s: cannot move the new files into place: %s (%s unchanged)", od->out, strerror(e), od->out);
    (void)remove_at(AT_FDCWD, od->tmp, 0);
    od->tmp[0] = 0;
    return rc;
}

int ic_outdir_path(const ic_outdir *od, const char *path, char *buf, size_t len, ic_err *err) {
    if (!path) return ic_errf(err, "no path given");
    if (!ic_path_within(path, od->out)) {
        if (snprintf(buf, len, "%s", path) >= (int)len) return ic_errf(err, "path too long: %s", path);
        return 0;
    }
    char a[4096], b[4096];
    if (resolve_path(path, a, sizeof a) || resolve_path(od->out, b, sizeof b))
        return ic_errf(err, "%s: cannot resolve the path", path);
    const char *rest = a + strlen(b);
    if (!*rest) return ic_errf(err, "%s is the output directory itself, not a file in it", path);
    if (snprintf(buf, len, "%s%s", od->tmp, rest) >= (int)len) return ic_errf(err, "path too long: %s%s", od->tmp, rest);
    return 0;
}

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
