/*
 * The step's filesystem view (docs/sandbox.md section 4), built in the new
 * mount namespace by the helper's init child (so the new procfs belongs to
 * the new pid namespace):
 *   1. "/" becomes a recursive slave: host mounts propagate in, none out;
 *   2. the whole tree turns read-only and nosuid (mount_setattr on 5.12+,
 *      otherwise the top mount only);
 *   3. a new /proc, with Docker's list of masked entries;
 *   4. /sys again when the network namespace is new (host interfaces);
 *   5. masked paths: an empty tmpfs on dirs, an empty file on files;
 *   6. the job's private /tmp and the writable paths, bound rw from fds
 *      opened at the start (a writable path may sit inside a masked dir
 *      or under /tmp: its mount point is made in the mask's tmpfs or in
 *      the private /tmp);
 *   7. the masks' tmpfs turn read-only;
 *   8. a private /dev/shm for the new IPC namespace.
 * Runs between fork and exec: no malloc, no stdio.
 *
 * Idmapped writable paths (--idmap, replay's project as the slot's): before
 * the helper unshares anything, sb_mnt_idmap_prepare() makes a user
 * namespace whose only mapping is "owner of the path -> slot", clones the
 * path's mount detached (open_tree) and sets MOUNT_ATTR_IDMAP on the clone
 * with it; step 6 attaches the clone (move_mount) instead of a plain bind.
 * The slot then owns what the owner owns there, and its new files belong
 * to the owner on disk. Anything else on that mount (other owners) shows
 * as the overflow uid.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#define SB_OPEN_TREE_CLONE 1
#define SB_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define SB_MOUNT_ATTR_NODEV 0x00000004
#define SB_MOUNT_ATTR_IDMAP 0x00100000
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#define SB_MOUNT_ATTR_RDONLY 0x00000001
#define SB_MOUNT_ATTR_NOSUID 0x00000002

struct sb_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

bool sb__have_mount_setattr(void)
{
    /* An invalid call: ENOSYS only when the syscall is missing. */
    return syscall(SYS_mount_setattr, -1, "", 0, NULL, 0) < 0 && errno != ENOSYS;
}

static int ro_root(void)
{
    struct sb_mount_attr a = {.attr_set = SB_MOUNT_ATTR_RDONLY | SB_MOUNT_ATTR_NOSUID};

    if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &a, sizeof(a)) == 0)
        return 0;
    if (errno != ENOSYS)
        return -errno;
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, NULL) < 0)
        return -errno;
    return 0;
}

/*
 * A user namespace mapping from_uid/from_gid (inside) to to_uid/to_gid
 * (outside), and nothing else: the idmap of a mount. A child made with a
 * fork-like clone(CLONE_NEWUSER) holds it while its maps are written and
 * its ns file opened. Returns the namespace fd or -errno.
 */
static int make_userns(uid_t from_uid, gid_t from_gid, uid_t to_uid, gid_t to_gid)
{
    char path[64], map[64];
    int p[2], fd = -1, r = 0;
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0) {
        char b;

        close(p[1]);
        (void)!read(p[0], &b, 1); /* EOF: the parent is done with us */
        _exit(0);
    }
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        return -errno;
    }
    snprintf(path, sizeof(path), "/proc/%ld/uid_map", (long)pid);
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)from_uid, (unsigned)to_uid);
    r = sb__write_file(path, map, false);
    snprintf(path, sizeof(path), "/proc/%ld/gid_map", (long)pid);
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)from_gid, (unsigned)to_gid);
    if (r == 0)
        r = sb__write_file(path, map, false);
    snprintf(path, sizeof(path), "/proc/%ld/ns/user", (long)pid);
    if (r == 0) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        r = fd < 0 ? -errno : 0;
    }
    close(p[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return r < 0 ? r : fd;
}

/* A detached clone of path's mount, idmapped owner -> (uid, gid). Returns its fd or -errno. */
static int idmapped_clone(const char *path, uid_t uid, gid_t gid, bool ro)
{
    struct sb_mount_attr a = {.attr_set = SB_MOUNT_ATTR_IDMAP | SB_MOUNT_ATTR_NOSUID |
                                          SB_MOUNT_ATTR_NODEV | (ro ? SB_MOUNT_ATTR_RDONLY : 0)};
    struct stat st;
    int ns, fd, r = 0;

    if (stat(path, &st) < 0)
        return -errno;
    ns = make_userns(st.st_uid, st.st_gid, uid, gid);
    if (ns < 0)
        return ns;
    fd = (int)syscall(SYS_open_tree, AT_FDCWD, path, SB_OPEN_TREE_CLONE | O_CLOEXEC);
    if (fd < 0)
        r = -errno;
    a.userns_fd = (uint64_t)ns;
    if (r == 0 && syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0)
        r = -errno;
    close(ns);
    if (r < 0 && fd >= 0)
        close(fd);
    return r < 0 ? r : fd;
}

void sb_mnt_idmap_prepare(struct sb_hcfg *c)
{
    for (size_t i = 0; i < SB_MAX_IDMAP; i++)
        c->idmap_fd[i] = -1;
    if (c->n_idmap > SB_MAX_IDMAP) {
        c->idmap_err = E2BIG;
        return;
    }
    for (size_t i = 0; i < c->n_idmap; i++) {
        int fd = idmapped_clone(c->idmap[i], c->idmap_uid, c->idmap_gid, c->idmap_ro[i]);

        if (fd < 0) {
            c->idmap_err = -fd;
            break;
        }
        c->idmap_fd[i] = fd;
    }
    if (c->idmap_err == 0)
        return;
    /* all or nothing: the slot must own every path it was promised */
    for (size_t i = 0; i < c->n_idmap; i++) {
        if (c->idmap_fd[i] >= 0)
            close(c->idmap_fd[i]);
        c->idmap_fd[i] = -1;
    }
}

/* The idmapped clone made for path, attached there; 1 when path has none. */
static int attach_idmapped(const struct sb_hcfg *c, const char *path)
{
    for (size_t i = 0; i < c->n_idmap && i < SB_MAX_IDMAP; i++) {
        if (c->idmap_fd[i] < 0 || c->idmap_ro[i] || strcmp(c->idmap[i], path) != 0)
            continue;
        if (syscall(SYS_move_mount, c->idmap_fd[i], "", AT_FDCWD, path,
                    SB_MOVE_MOUNT_F_EMPTY_PATH) < 0)
            return -errno;
        return 0;
    }
    return 1;
}

static bool is_under(const char *path, const char *dir);

/*
 * Read-only idmapped paths (replay: the invoking user's home, where their
 * tools live, readable by the slot as it was by the user): attached after
 * before the masks and the writable paths (which may lie inside them),
 * except where a mask or the private /tmp hides them.
 */
static int readable_idmaps(const struct sb_hcfg *c, const char **ret_path)
{
    for (size_t i = 0; i < c->n_idmap && i < SB_MAX_IDMAP; i++) {
        bool hidden = c->tmp && (!strcmp(c->idmap[i], "/tmp") || is_under(c->idmap[i], "/tmp"));

        for (size_t m = 0; m < c->n_mask && !hidden; m++)
            hidden = !strcmp(c->idmap[i], c->mask[m]) || is_under(c->idmap[i], c->mask[m]);
        if (c->idmap_fd[i] < 0 || !c->idmap_ro[i] || hidden)
            continue;
        *ret_path = c->idmap[i];
        if (syscall(SYS_move_mount, c->idmap_fd[i], "", AT_FDCWD, c->idmap[i],
                    SB_MOVE_MOUNT_F_EMPTY_PATH) < 0)
            return -errno;
    }
    return 0;
}

static int bind(const char *src, const char *dst, unsigned long flags)
{
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
        return -errno;
    /* A bind copies the source mount's flags (read-only by now): set ours. */
    if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
        return -errno;
    return 0;
}

/*
 * The empty file, opened before /tmp (where the job dir may live) is
 * covered; without one, /dev/null as Docker does.
 */
static char empty_src[64] = "/dev/null";

#define SB_MAX_RW 64

/* Sources of the rw binds, opened before anything covers them. */
static char rw_src[SB_MAX_RW + 1][32];

static int open_sources(const struct sb_hcfg *c, const char **ret_path)
{
    if (c->n_rw > SB_MAX_RW)
        return -E2BIG;
    for (size_t i = 0; i <= c->n_rw; i++) {
        const char *path = i < c->n_rw ? c->rw[i] : c->tmp;
        int fd;

        if (!path)
            continue;
        *ret_path = path;
        fd = open(path, O_PATH | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        snprintf(rw_src[i], sizeof(rw_src[i]), "/proc/self/fd/%d", fd);
    }
    return 0;
}

static bool is_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/*
 * In the job's private /tmp, the dirs made above a writable path belong to
 * the slot, which may make siblings there, as root (who made them) could.
 */
static void give_parents(const struct sb_hcfg *c, const char *dir, const char *path)
{
    char p[SB_PATH];
    char *s;

    if (!c->set_ids || strcmp(dir, "/tmp") != 0)
        return;
    snprintf(p, sizeof(p), "%s", path);
    while ((s = strrchr(p, '/')) != NULL && s > p + strlen(dir)) {
        *s = '\0';
        (void)lchown(p, c->uid, c->gid);
    }
}

/* Mount points, inside a fresh mask tmpfs, for the writable paths below it. */
static int make_mountpoints(const struct sb_hcfg *c, const char *dir)
{
    for (size_t i = 0; i < c->n_rw; i++) {
        char parent[SB_PATH];
        struct stat st;
        int r, fd;

        if (!is_under(c->rw[i], dir))
            continue;
        if (stat(rw_src[i], &st) < 0)
            return -errno;
        if (S_ISDIR(st.st_mode)) {
            r = sb__mkdir_p(c->rw[i], 0755);
            if (r < 0)
                return r;
            give_parents(c, dir, c->rw[i]);
            continue;
        }
        snprintf(parent, sizeof(parent), "%s", c->rw[i]);
        *strrchr(parent, '/') = '\0';
        r = sb__mkdir_p(parent, 0755);
        if (r < 0)
            return r;
        fd = open(c->rw[i], O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0)
            return -errno;
        close(fd);
    }
    return 0;
}

/* A mask the job's private /tmp already hides (nothing of the host's /tmp shows through it). */
static bool hidden_by_tmp(const struct sb_hcfg *c, const char *path)
{
    return c->tmp && (strcmp(path, "/tmp") == 0 || is_under(path, "/tmp"));
}

/* Hide path; a dir's tmpfs stays writable until seal_masks() when c is given. */
static int mask(const struct sb_hcfg *c, const char *path)
{
    unsigned long ro = c ? 0 : MS_RDONLY;
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return bind(empty_src, path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    if (mount("tmpfs", path, "tmpfs", ro | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=64k,nr_inodes=64,mode=0755") < 0)
        return -errno;
    return c ? make_mountpoints(c, path) : 0;
}

/* A mask inside a writable path: it goes on after the writable binds, or they would cover it. */
static bool late_mask(const struct sb_hcfg *c, const char *path)
{
    for (size_t i = 0; i < c->n_rw; i++)
        if (is_under(path, c->rw[i]))
            return true;
    return false;
}

static int seal_masks(const struct sb_hcfg *c, const char **ret_path)
{
    struct stat st;

    for (size_t i = 0; i < c->n_mask; i++) {
        *ret_path = c->mask[i];
        if (hidden_by_tmp(c, c->mask[i]) || late_mask(c, c->mask[i]) ||
            lstat(c->mask[i], &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (mount(NULL, c->mask[i], NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  NULL) < 0)
            return -errno;
    }
    return 0;
}

static const char *const proc_masked[] = {"/proc/kcore",        "/proc/keys", "/proc/timer_list",
                                          "/proc/sched_debug",  "/proc/acpi", "/proc/scsi",
                                          "/proc/sysrq-trigger"};
static const char *const proc_ro[] = {"/proc/sys", "/proc/irq", "/proc/bus"};

static int new_proc(const char **ret_path)
{
    int r;

    *ret_path = "/proc";
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        return -errno;
    for (size_t i = 0; i < sizeof(proc_masked) / sizeof(proc_masked[0]); i++) {
        *ret_path = proc_masked[i];
        r = mask(NULL, proc_masked[i]);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < sizeof(proc_ro) / sizeof(proc_ro[0]); i++) {
        *ret_path = proc_ro[i];
        if (!sb__exists(proc_ro[i]))
            continue;
        r = bind(proc_ro[i], proc_ro[i], MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
        if (r < 0)
            return r;
    }
    return 0;
}

static int writable(const struct sb_hcfg *c, const char **ret_path)
{
    int r;

    if (c->tmp) {
        *ret_path = "/tmp";
        r = bind(rw_src[c->n_rw], "/tmp", MS_NOSUID | MS_NODEV);
        /* a workspace under /tmp stays where it was, on top of the private /tmp */
        if (r == 0)
            r = make_mountpoints(c, "/tmp");
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < c->n_rw; i++) {
        *ret_path = c->rw[i];
        r = attach_idmapped(c, c->rw[i]);
        if (r > 0)
            r = bind(rw_src[i], c->rw[i], MS_NOSUID | MS_NODEV);
        if (r < 0)
            return r;
    }
    return 0;
}

int sb_mnt_enter(const struct sb_hcfg *c, const char **ret_path)
{
    int r;

    *ret_path = c->empty;
    if (c->empty) {
        int fd = open(c->empty, O_PATH | O_CLOEXEC);

        if (fd < 0)
            return -errno;
        snprintf(empty_src, sizeof(empty_src), "/proc/self/fd/%d", fd);
    }
    r = open_sources(c, ret_path);
    if (r < 0)
        return r;
    *ret_path = "/";
    if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        return -errno;
    if (c->ro_root) {
        r = ro_root();
        if (r < 0)
            return r;
    }
    if (c->ns_pid) {
        r = new_proc(ret_path);
        if (r < 0)
            return r;
    }
    *ret_path = "/sys";
    if (c->ns_net &&
        mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        return -errno;
    /* under the masks and writable paths that lie inside them */
    r = readable_idmaps(c, ret_path);
    if (r < 0)
        return r;
    for (size_t i = 0; i < c->n_mask; i++) {
        *ret_path = c->mask[i];
        if (hidden_by_tmp(c, c->mask[i]) || late_mask(c, c->mask[i]))
            continue;
        r = mask(c, c->mask[i]);
        if (r < 0)
            return r;
    }
    r = writable(c, ret_path);
    if (r == 0)
        r = seal_masks(c, ret_path);
    for (size_t i = 0; r == 0 && i < c->n_mask; i++) {
        *ret_path = c->mask[i];
        if (late_mask(c, c->mask[i]))
            r = mask(NULL, c->mask[i]);
    }
    if (r < 0)
        return r;
    *ret_path = "/dev/shm";
    if (c->ns_ipc && sb__exists("/dev/shm") &&
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777") < 0)
        return -errno;
    return 0;
}
