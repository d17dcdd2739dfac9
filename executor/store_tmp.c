/*
 * Temp files of the stores, and finding the ones a killed writer left behind (store_tmp.h).
 *
 * DESIGN. A writer killed with SIGKILL cannot clean up, so the sweeper must decide from the
 * outside whether a temp file is still in use. flock alone is not enough: the artifact and
 * cache services close a staged file's descriptor and keep only its path until the upload is
 * finalized. The name therefore carries the owning process as (boot id, pid namespace, pid,
 * start time); a file is removed only when that process is gone and, in addition, nobody holds
 * its flock (a child forked between open and exec holds it). pid reuse cannot fool the check:
 * a new process under the same pid has another start time.
 */
#include "store_tmp.h"
#include "gr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct owner {
    char boot[9];
    unsigned long long ns;
    long pid;
    unsigned long long start;
};

/* The first 8 hex digits of the boot id, or false. */
static bool boot_id(char out[9])
{
    char buf[64] = "";
    size_t n = 0;
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

    if (!f)
        return false;
    if (fgets(buf, sizeof(buf), f))
        for (const char *p = buf; *p && n < 8; p++)
            if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))
                out[n++] = *p;
    fclose(f);
    out[n] = '\0';
    return n == 8;
}

/* Start time (field 22 of /proc/<pid>/stat). 0, -ENOENT (no such process) or another -errno. */
static int proc_start(const char *pid, unsigned long long *ret)
{
    char path[64], buf[1024];
    const char *p;
    ssize_t n;
    int fd, field;

    (void)snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return n < 0 ? -errno : -ENOENT;
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields start after the last ')'. */
    p = strrchr(buf, ')');
    if (!p)
        return -EINVAL;
    for (field = 2; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (field != 22)
        return -EINVAL;
    *ret = strtoull(p, NULL, 10);
    return 0;
}

static bool self_owner(struct owner *o)
{
    struct stat st;

    memset(o, 0, sizeof(*o));
    if (!boot_id(o->boot) || stat("/proc/self/ns/pid", &st) < 0)
        return false;
    o->ns = (unsigned long long)st.st_ino;
    o->pid = (long)getpid();
    return proc_start("self", &o->start) == 0;
}

char *ex__store_tmp_owner(char *buf, size_t len)
{
    struct owner o;

    if (self_owner(&o))
        (void)snprintf(buf, len, "%s-%llu-%ld-%llu", o.boot, o.ns, o.pid, o.start);
    else
        (void)snprintf(buf, len, "x-0-0-0");
    return buf;
}

int ex__store_tmp_create(const char *dir, const char *prefix, char **ret_path, int *ret_fd)
{
    char owner[96], *path;
    int fd;

    path = gr_xasprintf("%s/%s-%s-XXXXXX", dir, prefix, ex__store_tmp_owner(owner, sizeof(owner)));
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        int r = -errno;
        free(path);
        return r;
    }
    (void)flock(fd, LOCK_EX);
    *ret_path = path;
    *ret_fd = fd;
    return 0;
}

/* Parse "<prefix>-<boot>-<ns>-<pid>-<start>-XXXXXX". */
static bool parse_owner(const char *name, struct owner *o)
{
    const char *p = strchr(name, '-');
    char *end;

    memset(o, 0, sizeof(*o));
    if (!p || strspn(p + 1, "0123456789abcdef") != 8 || p[9] != '-')
        return false;
    memcpy(o->boot, p + 1, 8);
    p += 10;
    o->ns = strtoull(p, &end, 10);
    if (end == p || *end != '-')
        return false;
    p = end + 1;
    o->pid = strtol(p, &end, 10);
    if (end == p || *end != '-' || o->pid <= 0)
        return false;
    p = end + 1;
    o->start = strtoull(p, &end, 10);
    return end != p && *end == '-';
}

/* 1: the owner is gone; 0: it lives; -1: cannot tell. self: this process, NULL if unknown. */
static int owner_gone(const char *name, const struct owner *self)
{
    struct owner file;
    unsigned long long start;
    char pid[24];
    int r;

    if (!self || !parse_owner(name, &file))
        return -1;
    if (strcmp(file.boot, self->boot))
        return 1;
    if (file.ns != self->ns)
        return -1;
    (void)snprintf(pid, sizeof(pid), "%ld", file.pid);
    r = proc_start(pid, &start);
    if (r == -ENOENT || r == -ESRCH)
        return 1;
    if (r < 0)
        return -1;
    return start != file.start;
}

static bool abandoned(int dfd, const char *name, const struct owner *self)
{
    int gone = owner_gone(name, self);
    struct stat st;

    if (gone == 0)
        return false;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return false;
    if (gone < 0 && time(NULL) - st.st_mtime < EX_STORE_TMP_STALE_S)
        return false;
    return true;
}

bool ex__store_tmp_abandoned(int dfd, const char *name)
{
    struct owner self;
    bool known = self_owner(&self);

    return abandoned(dfd, name, known ? &self : NULL);
}

/* Remove name when nobody holds its flock and it is still the file we locked. */
static bool remove_unlocked(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat a, b;
    bool removed = false;

    if (fd < 0)
        return false;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &a) == 0 &&
        fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_ino == b.st_ino &&
        a.st_dev == b.st_dev)
        removed = unlinkat(dfd, name, 0) == 0;
    close(fd);
    return removed;
}

size_t ex__store_tmp_sweep(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct owner self;
    bool known = self_owner(&self);
    size_t n = 0;

    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (abandoned(dirfd(d), de->d_name, known ? &self : NULL) &&
            remove_unlocked(dirfd(d), de->d_name))
            n++;
    }
    if (d)
        closedir(d);
    if (n)
        GR_LOG_DEBUG("store: removed %zu abandoned temp file%s in '%s'", n, n == 1 ? "" : "s", dir);
    return n;
}

/* Whether name is "<anything><suffix>.tmp.<digits>". */
static bool atomic_leftover(const char *name, const char *suffix)
{
    const char *t = strstr(name, ".tmp.");
    size_t slen = strlen(suffix);

    if (!t || (size_t)(t - name) < slen || strncmp(t - slen, suffix, slen))
        return false;
    t += 5;
    return *t && strspn(t, "0123456789") == strlen(t);
}

size_t ex__store_tmp_sweep_atomic(const char *dir, const char *base_suffix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    while (d && (de = readdir(d)) != NULL) {
        if (atomic_leftover(de->d_name, base_suffix) && unlinkat(dirfd(d), de->d_name, 0) == 0)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}
