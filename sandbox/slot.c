/*
 * Job slots (docs/sandbox.md section 2, "Identity"): a root runner runs
 * each job's steps as the uid of a slot that no other running job holds.
 *
 * A slot N is held by an flock() on <lock dir>/slot<N>.lock: exclusive
 * across every runner and replay process of the host (and between the jobs
 * of one process: each lease opens its own file description), and gone
 * with the process if it dies. Its ids are those of the user ghr-slot<N>
 * when the host has one, else uid = gid = base + N (base: the policy's
 * slot_uid, default 64000), which belongs to no group.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int lock_dir(const struct sb_policy *p, char *buf, size_t len)
{
    struct stat st;
    int r;

    if (p->slot_lock_dir)
        r = sb__path(buf, len, "%s", p->slot_lock_dir);
    else
        r = sb__path(buf, len, "%s", SB_SLOT_LOCK_DIR);
    if (r == 0)
        r = sb__mkdir_p(buf, 0700);
    if (r < 0)
        return r;
    /* a lock dir someone else controls could hand out a held slot twice */
    if (lstat(buf, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0022))
        return -EPERM;
    return 0;
}

static void slot_ids(const struct sb_policy *p, int n, struct sb_slot *s)
{
    uid_t base = p->slot_uid ? p->slot_uid : SB_SLOT_BASE;
    struct passwd *pw;
    char name[32];

    snprintf(name, sizeof(name), "ghr-slot%d", n);
    pw = getpwnam(name);
    if (pw && pw->pw_uid != 0) {
        s->uid = pw->pw_uid;
        s->gid = pw->pw_gid;
        s->named = true;
        return;
    }
    s->uid = base + (uid_t)n;
    s->gid = (gid_t)(base + (uid_t)n);
    s->named = false;
}

int sb__slot_lease(const struct sb_policy *p, struct sb_slot *ret)
{
    char dir[SB_PATH], path[SB_PATH];
    int r = lock_dir(p, dir, sizeof(dir));

    if (r < 0)
        return r;
    for (int n = 0; n < SB_SLOT_MAX; n++) {
        int fd;

        if (sb__path(path, sizeof(path), "%s/slot%d.lock", dir, n) < 0)
            return -ENAMETOOLONG;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            r = -errno;
            close(fd);
            if (r == -EWOULDBLOCK)
                continue;
            return r;
        }
        *ret = (struct sb_slot){.n = n, .fd = fd};
        slot_ids(p, n, ret);
        return 0;
    }
    return -EBUSY;
}

void sb__slot_release(struct sb_slot *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

int sb__slot_describe(uid_t uid, gid_t gid, char *buf, size_t len)
{
    struct passwd *pw = getpwuid(uid);
    int n;

    if (pw && pw->pw_name)
        n = snprintf(buf, len, "%u:%u (%s)", (unsigned)uid, (unsigned)gid, pw->pw_name);
    else
        n = snprintf(buf, len, "%u:%u (no user of that uid)", (unsigned)uid, (unsigned)gid);
    return n < 0 || (size_t)n >= len ? -E2BIG : 0;
}
