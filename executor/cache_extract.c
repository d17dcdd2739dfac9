/*
 * Writing the members of a cache archive below the destination directory (cache_internal.h).
 *
 * DESIGN. libarchive's disk writer, asked to refuse symbolic links on the way
 * (ARCHIVE_EXTRACT_SECURE_SYMLINKS), checks every component of every absolute path again: about
 * eight openat and fstatat calls per file, which made a restore of a node_modules tree slower
 * than `tar -xf`. This writer works relative to descriptors instead: it keeps the directories of
 * the current member's parent open as a stack (members come grouped by directory, so most files
 * reuse it whole), opens each component with O_NOFOLLOW and refuses a symbolic link on the way,
 * and creates files with O_CREAT|O_EXCL|O_NOFOLLOW, so nothing is written through a link. A file
 * costs openat, write, futimens and close (fchmod only when the umask changed its mode).
 * Directory modes and times are set at the end, deepest last created first, because creating
 * entries inside a directory changes its time. An existing non-directory in the way is replaced
 * (as tar does); an existing directory is never removed, so a directory seen once stays one.
 *
 * Member names reach here checked (relative, no ".." component); symbolic link targets and hard
 * link names are checked by the caller as well.
 */
#include "cache_internal.h"
#include "gr.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define XW_MAX_DEPTH 256

struct xdir {
    char *name;
    int fd;
};

struct fixup {
    char *rel;
    mode_t mode;
    struct timespec ts[2];
};

struct ex__cache_xw {
    int dest;
    struct xdir stack[XW_MAX_DEPTH];
    size_t depth;
    struct fixup *fix;
    size_t nfix, fcap;
    int umask; /* the process's umask, or -1 when unknown */
};

/* The umask without changing it (umask(2) would race with other threads): /proc/self/status. */
static int read_umask(void)
{
    char line[256];
    int mask = -1;
    FILE *f = fopen("/proc/self/status", "re");

    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "Umask:", 6) == 0)
            mask = (int)strtol(line + 6, NULL, 8);
    if (f)
        fclose(f);
    return mask;
}

int ex__cache_xw_new(const char *dest, struct ex__cache_xw **ret, struct gr_diag *reterr)
{
    struct ex__cache_xw *w;
    int fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return gr_diag_set(reterr, -errno, dest, 0, 0, "cannot open the destination: %s",
                           strerror(errno));
    w = gr_xcalloc(1, sizeof(*w));
    w->dest = fd;
    w->umask = read_umask();
    *ret = w;
    return 0;
}

static void stack_pop_to(struct ex__cache_xw *w, size_t depth)
{
    while (w->depth > depth) {
        struct xdir *d = &w->stack[--w->depth];
        close(d->fd);
        free(d->name);
    }
}

void ex__cache_xw_free(struct ex__cache_xw *w)
{
    if (!w)
        return;
    stack_pop_to(w, 0);
    for (size_t i = 0; i < w->nfix; i++)
        free(w->fix[i].rel);
    free(w->fix);
    close(w->dest);
    free(w);
}

static int refuse_link(const char *rel, struct gr_diag *reterr)
{
    return gr_diag_set(reterr, GR_EARCHIVE, rel, 0, 0,
                       "refusing archive member '%s': a symbolic link is on its way", rel);
}

/*
 * Open directory comp below at, creating it (0755) when missing and replacing a
 * non-directory in the way; a symbolic link in the way is refused.
 */
static int open_dir(int at, const char *comp, const char *rel, bool create, struct gr_diag *reterr)
{
    struct stat st;

    for (int tries = 0; tries < 3; tries++) {
        int fd = openat(at, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
            return fd;
        if (errno == ENOENT && create) {
            if (mkdirat(at, comp, 0755) < 0 && errno != EEXIST)
                break;
            continue;
        }
        if ((errno != ENOTDIR && errno != ELOOP) || !create)
            break;
        if (fstatat(at, comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
            break;
        if (S_ISLNK(st.st_mode))
            return refuse_link(rel, reterr);
        if (unlinkat(at, comp, 0) < 0)
            break;
    }
    return gr_diag_set(reterr, -errno, rel, 0, 0, "cannot extract: %s", strerror(errno));
}

/* The fd of directory path (relative, may be empty: dest) via the stack. Borrowed. */
static int dir_fd(struct ex__cache_xw *w, const char *path, size_t len, const char *rel,
                  struct gr_diag *reterr)
{
    size_t level = 0;

    for (size_t i = 0; i < len;) {
        size_t n = 0;
        int at, fd;

        while (i + n < len && path[i + n] != '/')
            n++;
        if (n == 0 || (n == 1 && path[i] == '.')) {
            i += n + 1;
            continue;
        }
        if (level < w->depth && strlen(w->stack[level].name) == n &&
            memcmp(w->stack[level].name, path + i, n) == 0) {
            level++;
            i += n + 1;
            continue;
        }
        stack_pop_to(w, level);
        if (level == XW_MAX_DEPTH)
            return gr_diag_set(reterr, -ELOOP, rel, 0, 0, "directories nest too deeply");
        char *comp = gr_xstrndup(path + i, n);
        at = level ? w->stack[level - 1].fd : w->dest;
        fd = open_dir(at, comp, rel, true, reterr);
        if (fd < 0) {
            free(comp);
            return fd;
        }
        w->stack[level].name = comp;
        w->stack[level].fd = fd;
        w->depth = ++level;
        i += n + 1;
    }
    stack_pop_to(w, level);
    return level ? w->stack[level - 1].fd : w->dest;
}

/* Split rel (trailing slashes removed into *ret_len) at its last '/'. */
static const char *base_name(const char *rel, size_t *ret_len, size_t *ret_parent_len)
{
    size_t len = strlen(rel);
    const char *slash;

    while (len > 1 && rel[len - 1] == '/')
        len--;
    slash = memrchr(rel, '/', len);
    *ret_len = len;
    *ret_parent_len = slash ? (size_t)(slash - rel) : 0;
    return slash ? slash + 1 : rel;
}

static void entry_times(struct archive_entry *ent, struct timespec ts[2])
{
    ts[1].tv_sec = archive_entry_mtime(ent);
    ts[1].tv_nsec = archive_entry_mtime_nsec(ent);
    if (!archive_entry_mtime_is_set(ent))
        ts[1].tv_nsec = UTIME_OMIT;
    if (archive_entry_atime_is_set(ent)) {
        ts[0].tv_sec = archive_entry_atime(ent);
        ts[0].tv_nsec = archive_entry_atime_nsec(ent);
    } else {
        ts[0] = ts[1];
    }
}

/* Copy the member's data into fd (sparse blocks at their offsets). */
static int copy_into(struct archive *in, int fd, int64_t size, const char *rel,
                     struct gr_diag *reterr)
{
    int64_t pos = 0;

    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int st = archive_read_data_block(in, &buf, &len, &off), r;

        if (st == ARCHIVE_EOF)
            break;
        if (st != ARCHIVE_OK)
            return gr_diag_set(reterr, GR_EARCHIVE, rel, 0, 0, "cannot read archive: %s",
                               archive_error_string(in));
        if (off != pos && lseek(fd, (off_t)off, SEEK_SET) < 0)
            return gr_diag_set(reterr, -errno, rel, 0, 0, "cannot extract: %s", strerror(errno));
        r = gr_write_all(fd, buf, len);
        if (r < 0)
            return gr_diag_set(reterr, r, rel, 0, 0, "cannot extract: %s", gr_strerror(r));
        pos = off + (int64_t)len;
    }
    if (pos < size && ftruncate(fd, (off_t)size) < 0)
        return gr_diag_set(reterr, -errno, rel, 0, 0, "cannot extract: %s", strerror(errno));
    return 0;
}

/* Remove a non-directory base in pfd so that it can be created again. */
static int make_room(int pfd, const char *base, const char *rel, struct gr_diag *reterr)
{
    if (unlinkat(pfd, base, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno == EISDIR || errno == EPERM)
        return gr_diag_set(reterr, -EISDIR, rel, 0, 0,
                           "cannot extract '%s': a directory is in the way", rel);
    return gr_diag_set(reterr, -errno, rel, 0, 0, "cannot extract: %s", strerror(errno));
}

static int put_file(struct ex__cache_xw *w, struct archive *in, struct archive_entry *ent, int pfd,
                    const char *base, const char *rel, struct gr_diag *reterr)
{
    mode_t mode = archive_entry_perm(ent) & 0777;
    struct timespec ts[2];
    int fd, r;

    fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 && errno == EEXIST) {
        r = make_room(pfd, base, rel, reterr);
        if (r < 0)
            return r;
        fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    }
    if (fd < 0)
        return gr_diag_set(reterr, -errno, rel, 0, 0, "cannot extract: %s", strerror(errno));
    r = archive_entry_size(ent) > 0 ? copy_into(in, fd, archive_entry_size(ent), rel, reterr) : 0;
    if (r == 0 && (w->umask < 0 || (mode & (mode_t)w->umask)) && fchmod(fd, mode) < 0)
        r = gr_diag_set(reterr, -errno, rel, 0, 0, "cannot set the mode: %s", strerror(errno));
    entry_times(ent, ts);
    if (r == 0)
        (void)futimens(fd, ts);
    if (close(fd) < 0 && r == 0)
        r = gr_diag_set(reterr, -errno, rel, 0, 0, "cannot extract: %s", strerror(errno));
    return r;
}

static int put_dir(struct ex__cache_xw *w, struct archive_entry *ent, int pfd, const char *base,
                   const char *rel, size_t len, struct gr_diag *reterr)
{
    struct fixup *f;
    struct stat st;

    if (mkdirat(pfd, base, 0700) < 0) {
        if (errno != EEXIST || fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return gr_diag_set(reterr, -errno, rel, 0, 0, "cannot extract: %s", strerror(errno));
        if (!S_ISDIR(st.st_mode) && (unlinkat(pfd, base, 0) < 0 || mkdirat(pfd, base, 0700) < 0))
            return gr_diag_set(reterr, -errno, rel, 0, 0, "cannot extract: %s", strerror(errno));
    }
    GR_GROW(w->fix, w->fcap, w->nfix + 1);
    f = &w->fix[w->nfix++];
    f->rel = gr_xstrndup(rel, len);
    f->mode = archive_entry_perm(ent) & 01777;
    entry_times(ent, f->ts);
    return 0;
}

static int put_symlink(struct archive_entry *ent, int pfd, const char *base, const char *rel,
                       struct gr_diag *reterr)
{
    const char *target = archive_entry_symlink(ent);
    struct timespec ts[2];

    if (symlinkat(target, pfd, base) < 0) {
        int r = errno == EEXIST ? make_room(pfd, base, rel, reterr) : 0;
        if (r < 0)
            return r;
        if (symlinkat(target, pfd, base) < 0)
            return gr_diag_set(reterr, -errno, rel, 0, 0, "cannot extract: %s", strerror(errno));
    }
    entry_times(ent, ts);
    (void)utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
    return 0;
}

/* Open the parent of a hard link's target (checked name) without creating anything. */
static int target_parent(struct ex__cache_xw *w, const char *target, size_t plen,
                         struct gr_diag *reterr)
{
    int at = dup(w->dest);

    for (size_t i = 0; at >= 0 && i < plen;) {
        size_t n = 0;
        while (i + n < plen && target[i + n] != '/')
            n++;
        if (n) {
            char *comp = gr_xstrndup(target + i, n);
            int fd = open_dir(at, comp, target, false, reterr);
            free(comp);
            close(at);
            if (fd < 0)
                return fd;
            at = fd;
        }
        i += n + 1;
    }
    if (at < 0)
        return gr_diag_set(reterr, -errno, target, 0, 0, "cannot extract: %s", strerror(errno));
    return at;
}

static int put_hardlink(struct ex__cache_xw *w, const char *target, int pfd, const char *base,
                        const char *rel, struct gr_diag *reterr)
{
    size_t tlen, tplen;
    const char *tbase = base_name(target, &tlen, &tplen);
    char *tb = gr_xstrndup(tbase, tlen - (size_t)(tbase - target));
    int tfd, r = 0;

    tfd = target_parent(w, target, tplen, reterr);
    if (tfd < 0) {
        free(tb);
        return tfd;
    }
    if (linkat(tfd, tb, pfd, base, 0) < 0) {
        r = errno == EEXIST ? make_room(pfd, base, rel, reterr) : 0;
        if (r == 0 && linkat(tfd, tb, pfd, base, 0) < 0)
            r = gr_diag_set(reterr, -errno, rel, 0, 0, "cannot link to '%s': %s", target,
                            strerror(errno));
    }
    close(tfd);
    free(tb);
    return r;
}

int ex__cache_xw_entry(struct ex__cache_xw *w, struct archive *in, struct archive_entry *ent,
                       const char *rel, const char *hardlink, struct gr_diag *reterr)
{
    size_t len, plen;
    const char *base = base_name(rel, &len, &plen);
    mode_t type = archive_entry_filetype(ent);
    char *b;
    int pfd, r;

    if (!hardlink && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
        return 1;
    pfd = dir_fd(w, rel, plen, rel, reterr);
    if (pfd < 0)
        return pfd;
    b = gr_xstrndup(base, len - (size_t)(base - rel));
    if (hardlink)
        r = put_hardlink(w, hardlink, pfd, b, rel, reterr);
    else if (type == AE_IFREG)
        r = put_file(w, in, ent, pfd, b, rel, reterr);
    else if (type == AE_IFDIR)
        r = put_dir(w, ent, pfd, b, rel, len, reterr);
    else
        r = put_symlink(ent, pfd, b, rel, reterr);
    free(b);
    return r;
}

int ex__cache_xw_finish(struct ex__cache_xw *w, struct gr_diag *reterr)
{
    int r = 0;

    stack_pop_to(w, 0);
    /* Children before parents: a parent made read-only last. */
    for (size_t i = w->nfix; i-- > 0;) {
        struct fixup *f = &w->fix[i];
        if (fchmodat(w->dest, f->rel, f->mode, 0) < 0 && r == 0)
            r = gr_diag_set(reterr, -errno, f->rel, 0, 0, "cannot set the mode: %s",
                            strerror(errno));
        (void)utimensat(w->dest, f->rel, f->ts, AT_SYMLINK_NOFOLLOW);
    }
    return r;
}
