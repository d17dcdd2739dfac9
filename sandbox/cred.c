/*
 * Credentials of the step child, in the order of docs/sandbox.md section 2:
 * rlimits, bounding set, securebits, groups and ids, capability sets,
 * no_new_privs. Runs between fork and exec: no malloc, no stdio.
 */
#include "internal.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static int set_limit(int res, rlim_t v)
{
    struct rlimit rl = {.rlim_cur = v, .rlim_max = v};

    if (setrlimit(res, &rl) == 0)
        return 0;
    /* Without privileges the hard limit cannot go up: stay at it. */
    if (errno == EPERM && getrlimit(res, &rl) == 0 && rl.rlim_max < v) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(res, &rl) == 0)
            return 0;
    }
    return -errno;
}

static int limits(const struct sb_hcfg *c, const char **ret_what)
{
    int r;

    *ret_what = "setrlimit(RLIMIT_CORE)";
    r = set_limit(RLIMIT_CORE, 0);
    if (r < 0)
        return r;
    *ret_what = "setrlimit(RLIMIT_NOFILE)";
    r = set_limit(RLIMIT_NOFILE, c->nofile ? c->nofile : 65536);
    if (r < 0)
        return r;
    *ret_what = "setrlimit(RLIMIT_NPROC)";
    if (c->nproc)
        r = set_limit(RLIMIT_NPROC, c->nproc);
    return r;
}

/* As root: empty the bounding set and lock root's special treatment away. */
static int drop_root(const struct sb_hcfg *c, const char **ret_what)
{
    unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                         SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED;

    *ret_what = "prctl(PR_CAPBSET_DROP)";
    for (int cap = 0; cap <= c->cap_last; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return -errno;
    *ret_what = "prctl(PR_SET_SECUREBITS)";
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
        return -errno;
    *ret_what = "setgroups";
    if (setgroups(0, NULL) < 0)
        return -errno;
    if (!c->set_ids)
        return 0;
    *ret_what = "setresgid";
    if (setresgid(c->gid, c->gid, c->gid) < 0)
        return -errno;
    *ret_what = "setresuid";
    if (setresuid(c->uid, c->uid, c->uid) < 0)
        return -errno;
    return 0;
}

static int clear_caps(const char **ret_what)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2] = {{0}};

    *ret_what = "prctl(PR_CAP_AMBIENT_CLEAR_ALL)";
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -errno;
    *ret_what = "capset";
    if (syscall(SYS_capset, &hdr, data) < 0)
        return -errno;
    return 0;
}

int sb_cred_enter(const struct sb_hcfg *c, const char **ret_what)
{
    int r = limits(c, ret_what);

    if (r == 0 && geteuid() == 0)
        r = drop_root(c, ret_what);
    if (r == 0)
        r = clear_caps(ret_what);
    if (r < 0)
        return r;
    *ret_what = "prctl(PR_SET_NO_NEW_PRIVS)";
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    return 0;
}
