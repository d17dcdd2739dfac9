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
