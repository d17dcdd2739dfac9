/*
 * Small file helpers for the parent side and the helper's setup (before any
 * fork). Control files in cgroupfs are written in one write() each, since
 * the kernel parses each write separately.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char last_error[512];

void sb__set_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
}

const char *sb_last_error(void)
{
    return last_error;
}

int sb__write_file(const char *path, const char *text, bool create)
{
    int flags = O_WRONLY | (create ? O_CREAT | O_TRUNC : 0);
    int fd = open(path, flags | O_CLOEXEC, 0644);
    size_t len = strlen(text);
    ssize_t n;
    int r = 0;

    if (fd < 0)
        return -errno;
    n = write(fd, text, len);
    if (n < 0)
        r = -errno;
    else if ((size_t)n != len)
        r = -EIO;
    close(fd);
    return r;
}

int sb__write_filef(const char *path, bool create, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(text))
        return -E2BIG;
    return sb__write_file(path, text, create);
}

ssize_t sb__read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    ssize_t n;

    if (fd < 0)
        return -errno;
    while (got + 1 < len) {
        n = read(fd, buf + got, len - 1 - got);
        if (n < 0) {
            n = -errno;
            close(fd);
            return n;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    return (ssize_t)got;
}

static int parse_u64(const char *s, uint64_t *ret)
{
    char *end;
    unsigned long long v;

    while (*s == ' ')
        s++;
    if (strncmp(s, "max", 3) == 0) {
        *ret = UINT64_MAX;
        return 0;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -EINVAL;
    *ret = v;
    return 0;
}

int sb__read_u64(const char *path, uint64_t *ret)
{
    char buf[64];
    ssize_t n = sb__read_file(path, buf, sizeof(buf));

    if (n < 0)
        return (int)n;
    return parse_u64(buf, ret);
}

int sb__read_key_u64(const char *path, const char *key, uint64_t *ret)
{
    char buf[4096];
    size_t klen = strlen(key);
    ssize_t n = sb__read_file(path, buf, sizeof(buf));
    const char *p = buf;

    if (n < 0)
        return (int)n;
    while (*p) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
            return parse_u64(p + klen + 1, ret);
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
    }
    return -ENOENT;
}

int sb__path(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return 0;
}

int sb__mkdir_p(const char *path, mode_t mode)
{
    char tmp[SB_PATH];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(tmp))
        return -ENAMETOOLONG;
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        (void)rmdir(path);
    else
        (void)unlink(path);
    return 0;
}

int sb__rm_rf(const char *path)
{
    if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
        return -errno;
    return sb__exists(path) ? -ENOTEMPTY : 0;
}

bool sb__exists(const char *path)
{
    return access(path, F_OK) == 0;
}

int sb__mkdtemp(char *buf, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);

    if (n + 7 > len)
        return -ENAMETOOLONG;
    memcpy(buf, prefix, n);
    memset(buf + n, 'X', 6); /* mkdtemp's template */
    buf[n + 6] = '\0';
    if (!mkdtemp(buf))
        return -errno;
    return 0;
}
