/*
 * Steps of a root runner run as a job slot's uid (docs/sandbox.md section
 * 2): what they must write is handed to that uid, and what the runner reads
 * back from places they can write is opened without trusting them.
 *
 * - RUNNER_TEMP and the file-command files are created by the runner and
 *   fchown()ed to the slot right away; $HOME and the private /tmp are the
 *   sandbox's (sb_job_new); the tool cache is shared by the jobs of a
 *   runner, so it is sticky and world-writable, as /tmp.
 * - Online jobs: the workspace under _work is the runner's; it is handed to
 *   the slot at the start of the job and taken back (as root) at the end,
 *   so no slot-owned file waits there for the next job's slot.
 * - Replay: the workspace is the user's project and is never chowned; the
 *   sandbox binds it idmapped (its owner appears as the slot), so files
 *   the runner makes there need handing over only when the owner is not
 *   the runner.
 * - Native steps (checkout, cache restore, download-artifact) write into
 *   the workspace as the runner: afterwards what they made is chowned to
 *   whoever the steps write as on disk, without following links.
 * - Scratch files live below RUNNER_TEMP, which a step may fill with links:
 *   the runner walks there from RUNNER_TEMP (whose parent only the runner
 *   can write) one component at a time with O_NOFOLLOW, never follows a
 *   link, never blocks on a FIFO, and reads back only regular files owned
 *   by the uid the steps run as, with one link, up to a size bound.
 *
 * No step process runs while the runner does this: leftovers of a step are
 * killed before its files are read (sb_step_reap).
 */
#include "engine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- scratch files below RUNNER_TEMP ----------------------------------- */

static uid_t writer_uid(const struct ex__leg *leg)
{
    return leg->slot ? leg->slot_uid : geteuid();
}

int ex__slot_own_fd(const struct ex__leg *leg, int fd)
{
    if (!leg->slot)
        return 0;
    return fchown(fd, leg->slot_uid, leg->slot_gid) < 0 ? -errno : 0;
}

/* Open (and with create, make) the directory comp below dfd, never through a link. */
static int open_comp(const struct ex__leg *leg, int dfd, const char *comp, bool create)
{
    int fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int r;

    if (fd >= 0 || !create || (errno != ENOENT && errno != ELOOP && errno != ENOTDIR))
        return fd < 0 ? -errno : fd;
    /* a step left a link or a file in the way: it goes (unlinkat follows nothing) */
    if (errno != ENOENT && unlinkat(dfd, comp, 0) < 0)
        return -errno;
    if (mkdirat(dfd, comp, 0755) < 0 && errno != EEXIST)
        return -errno;
    fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    r = ex__slot_own_fd(leg, fd);
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

/* RUNNER_TEMP itself: made again (as the leg's dirs are) when it is gone. */
static int open_temp(const struct ex__leg *leg, bool create)
{
    int fd = open(leg->temp_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int r;

    if (fd >= 0 || errno != ENOENT || !create)
        return fd < 0 ? -errno : fd;
    r = gr_mkdir_p(leg->temp_dir, 0755);
    if (r == 0)
        r = ex__slot_own(leg, leg->temp_dir);
    if (r < 0)
        return r;
    fd = open(leg->temp_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int ex__scratch_dir(const struct ex__leg *leg, const char *path, bool create, const char **ret_name)
{
    size_t bl = strlen(leg->temp_dir);
    const char *rel, *slash;
    int dfd, nfd;

    if (strncmp(path, leg->temp_dir, bl) != 0 || path[bl] != '/')
        return -EINVAL;
    dfd = open_temp(leg, create);
    if (dfd < 0)
        return dfd;
    for (rel = path + bl + 1; (slash = strchr(rel, '/')) != NULL; rel = slash + 1) {
        char comp[256];
        size_t n = (size_t)(slash - rel);

        memcpy(comp, rel, n < sizeof(comp) ? n : 0);
        comp[n < sizeof(comp) ? n : 0] = '\0';
        nfd = !comp[0] || !strcmp(comp, ".") || !strcmp(comp, "..")
                  ? -EINVAL
                  : open_comp(leg, dfd, comp, create);
        close(dfd);
        if (nfd < 0)
            return nfd;
        dfd = nfd;
    }
    if (!*rel) {
        close(dfd);
        return -EINVAL;
    }
    *ret_name = rel;
    return dfd;
}

/* fd is a file the steps may have left: only a regular file of theirs, linked once. */
static int check_fd(const struct ex__leg *leg, int fd)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != writer_uid(leg))
        return -EPERM;
    return 0;
}

/* The previous step's file, renamed to name: emptied, if it is still the file we made. */
int ex__scratch_read(const struct ex__leg *leg, const char *path, size_t max, char **ret,
                     size_t *ret_len)
{
    struct gr_buf b = GR_BUF_INIT(max);
    char chunk[65536];
    const char *name;
    int dfd, fd, r;

    dfd = ex__scratch_dir(leg, path, false, &name);
    if (dfd < 0)
        return dfd;
    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    r = fd < 0 ? -errno : check_fd(leg, fd);
    close(dfd);
    while (r == 0) {
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? -errno : 1;
            break;
        }
        r = gr_buf_add(&b, chunk, (size_t)n);
    }
    if (fd >= 0)
        close(fd);
    if (r > 0) {
        *ret = gr_buf_detach(&b, ret_len);
        r = 0;
    }
    gr_buf_release(&b);
    return r;
}

/* Every file of uid from in the workspace (but the state dir, in replay) to uid:gid. */
static void chown_workdir(const struct ex__leg *leg, uid_t from, uid_t uid, gid_t gid)
{
    (void)gr_chown_tree(leg->run->workdir, leg->run->state_dir, from, uid, gid);
}

int ex__slot_own(const struct ex__leg *leg, const char *path)
{
    if (!leg->slot)
        return 0;
    return lchown(path, leg->slot_uid, leg->slot_gid) < 0 ? -errno : 0;
}

void ex__slot_claim(struct ex__leg *leg)
{
    if (!leg->slot)
        return;
    if (leg->ws_owned)
        chown_workdir(leg, geteuid(), leg->slot_uid, leg->slot_gid);
    else if (leg->ws_idmapped && leg->ws_uid != geteuid())
        chown_workdir(leg, geteuid(), leg->ws_uid, leg->ws_gid);
}

int ex__slot_setup(struct ex__leg *leg)
{
    struct stat st;
    bool idmapped = false;

    if (sb_job_slot(leg->sb, &leg->slot_uid, &leg->slot_gid, &idmapped) < 0)
        return 0;
    leg->slot = true;
    leg->ws_idmapped = idmapped;
    if (stat(leg->run->workdir, &st) < 0)
        return -errno;
    leg->ws_uid = st.st_uid;
    leg->ws_gid = st.st_gid;
    if (idmapped || !leg->run->opts->checkout_clones)
        return 0;
    /*
     * online: the runner's workspace (and what an earlier job left there) to the slot. The
     * native checkout (libgit2, as the runner) then works in a directory of another owner,
     * which libgit2 refuses like git's safe.directory unless told: libgit2 runs no hooks,
     * fsmonitor or other commands from a repository's config, and the runner is not the
     * user that check protects.
     */
    git_libgit2_init();
    if (git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0) < 0)
        GR_LOG_WARN("libgit2: cannot turn off the owner check; checkout may fail");
    leg->ws_owned = true;
    chown_workdir(leg, geteuid(), leg->slot_uid, leg->slot_gid);
    return 0;
}

void ex__slot_reclaim(struct ex__leg *leg)
{
    if (!leg->slot || !leg->ws_owned)
        return;
    chown_workdir(leg, leg->slot_uid, geteuid(), getegid());
    leg->ws_owned = false;
}
