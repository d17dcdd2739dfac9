/* Small file and path helpers. Blocking: call them off the loop or before uv_run. */
#include "gr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int gr_file_read(const char *path, size_t max, char **ret, size_t *ret_len)
{
    struct gr_buf b = GR_BUF_INIT(max);
    char chunk[65536];
    int fd, r = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto out;
        }
        if (n == 0)
            break;
        r = gr_buf_add(&b, chunk, (size_t)n);
        if (r < 0)
            goto out;
    }
    *ret = gr_buf_detach(&b, ret_len);
out:
    close(fd);
    gr_buf_release(&b);
    return r;
}

int gr_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int gr_pwrite_all(int fd, const void *data, size_t len, uint64_t off)
{
    const char *p = data;

    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int gr_file_write_atomic(const char *path, const void *data, size_t len, int mode)
{
    char *tmp = gr_xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd, r;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        r = -errno;
        goto out;
    }
    /* open() honours the umask; make the mode exact (credentials must be 0600). */
    if (fchmod(fd, (mode_t)mode) < 0 || (r = gr_write_all(fd, data, len)) < 0 || fsync(fd) < 0) {
        r = r < 0 ? r : -errno;
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        r = -errno;
        unlink(tmp);
        goto out;
    }
    r = 0;
out:
    free(tmp);
    return r;
}

int gr_mkdir_p(const char *path, int mode)
{
    char *p = gr_xstrdup(path);
    int r = 0;

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST) {
            r = -errno;
            goto out;
        }
        *s = '/';
    }
    if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST)
        r = -errno;
out:
    free(p);
    return r;
}

static int rm_at(int atfd, const char *name)
{
    struct stat st;
    int r = 0;

    if (fstatat(atfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(atfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;

    int fd = openat(atfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int q = rm_at(dirfd(d), de->d_name);
        if (q < 0 && r == 0)
            r = q;
    }
    closedir(d);
    if (unlinkat(atfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
        r = -errno;
    return r;
}

int gr_rm_rf(const char *path)
{
    return rm_at(AT_FDCWD, path);
}

char *gr_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);

    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    if (la == 0)
        return gr_xstrdup(b);
    if (!*b)
        return gr_xstrndup(a, la);
    if (la == 1 && a[0] == '/')
        return gr_xasprintf("/%s", b);
    return gr_xasprintf("%.*s/%s", (int)la, a, b);
}

#define CHOWN_DEPTH 256

struct own {
    uid_t from; /* files of this uid ... */
    uid_t uid;  /* ... go to this uid and gid */
    gid_t gid;
    dev_t dev;      /* stay on the tree's file system */
    dev_t skip_dev; /* and out of this directory */
    ino_t skip_ino;
    int changed;
};

static void chown_at(struct own *o, int dfd, const char *name, int depth)
{
    struct stat st;
    struct dirent *de;
    DIR *d;
    int fd;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != o->dev)
        return;
    if (S_ISDIR(st.st_mode) && st.st_dev == o->skip_dev && st.st_ino == o->skip_ino)
        return;
    if (st.st_uid == o->from) {
        if (fchownat(dfd, name, o->uid, o->gid, AT_SYMLINK_NOFOLLOW) == 0)
            o->changed++;
        else
            GR_LOG_DEBUG("cannot chown '%s': %s", name, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode) || depth >= CHOWN_DEPTH)
        return;
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            chown_at(o, dirfd(d), de->d_name, depth + 1);
    closedir(d);
}

int gr_chown_tree(const char *path, const char *skip, uid_t from, uid_t uid, gid_t gid)
{
    struct own o = {.from = from, .uid = uid, .gid = gid};
    struct stat st;

    if (lstat(path, &st) < 0)
        return -errno;
    o.dev = st.st_dev;
    if (skip && stat(skip, &st) == 0) {
        o.skip_dev = st.st_dev;
        o.skip_ino = st.st_ino;
    }
    chown_at(&o, AT_FDCWD, path, 0);
    return o.changed;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **gr_dir_names(DIR *d, size_t *ret_n)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;

    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        GR_GROW(names, cap, n + 1);
        names[n++] = gr_xstrdup(de->d_name);
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    *ret_n = n;
    return names;
}

bool gr_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

bool gr_path_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
