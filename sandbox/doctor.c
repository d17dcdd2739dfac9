/*
 * What this host supports for the sandbox (docs/sandbox.md section 10),
 * one feature a line, for `ghrun doctor`. Probes read files and make
 * harmless calls; nothing here forks.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#define SB_LANDLOCK_VERSION 1

extern char **environ;

static const char *yes(bool b)
{
    return b ? "yes" : "no";
}

static bool kernel_has_cgroup_kill(const struct sb_cg *cg)
{
    struct utsname u;
    char p[SB_PATH];
    int maj = 0, min = 0;

    if (sb__path(p, sizeof(p), "%s/cgroup.kill", cg->v2_self) == 0 && sb__exists(p))
        return true;
    /* the root cgroup has no cgroup.kill: go by the version (5.14+) */
    if (uname(&u) == 0)
        (void)sscanf(u.release, "%d.%d", &maj, &min);
    return maj > 5 || (maj == 5 && min >= 14);
}

static void doctor_cgroups(FILE *out)
{
    enum sb_cg_kill kill = SB_KILL_NONE;
    struct sb_cg cg;
    char desc[128];

    if (sb_cg_detect(&(struct sb_cg_env){0}, &cg) < 0) {
        fprintf(out, "cgroup: none found\n");
        return;
    }
    if (cg.v2_mount[0] && kernel_has_cgroup_kill(&cg))
        kill = SB_KILL_V2;
    else if (cg.v2_mount[0])
        kill = SB_KILL_V2_FREEZE;
    else if (cg.on[SB_CTL_FREEZER] == SB_CG_ON_V1)
        kill = SB_KILL_V1_FREEZER;
    sb_cg_describe(&cg, kill, desc, sizeof(desc));
    fprintf(out, "cgroup: %s\n", desc);
    if (cg.v2_mount[0])
        fprintf(out, "cgroup v2: %s (ours: %s)\n", cg.v2_mount, cg.v2_self);
    for (int c = 0; c < SB_CTL_N; c++)
        if (cg.on[c] == SB_CG_ON_V1)
            fprintf(out, "cgroup v1 %s: %s\n", sb_cg_ctl_name((enum sb_cg_ctl)c), cg.v1_self[c]);
}

/* Start the helper once with namespaces and a read-only root: does the setup hold here? */
static void doctor_helper_run(FILE *out, const char *helper)
{
    char *argv[] = {(char *)helper, "--ns", "mnt,pid,ipc,uts,cgroup", "--ro-root", "--",
                    "/bin/true",    NULL};
    posix_spawn_file_actions_t fa;
    int st = 0, r;
    pid_t pid;

    if (geteuid() != 0)
        return;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    r = posix_spawn(&pid, helper, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r == 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        fprintf(out, "helper run: ok (namespaces, read-only root)\n");
    else
        fprintf(out, "helper run: failed (%s)\n",
                r ? strerror(r) : "gr-sandbox could not set up namespaces and mounts");
}

static void doctor_gpus(FILE *out)
{
    struct sb_gpu_inv inv;

    if (sb_gpu_discover(NULL, &inv) < 0 || inv.n == 0) {
        fprintf(out, "gpu: none\n");
        return;
    }
    fprintf(out, "gpu: %zu (isolation: device nodes hidden; no device cgroup)\n", inv.n);
    for (size_t i = 0; i < inv.n; i++)
        fprintf(out, "gpu %d: %s %s\n", inv.gpu[i].minor,
                inv.gpu[i].uuid[0] ? inv.gpu[i].uuid : "(uuid unknown)", inv.gpu[i].bus_id);
}

/* The ids a job's steps get here: a slot's (leased like a real job's), or why not. */
static void doctor_slot(FILE *out, const struct sb_job *j)
{
    char desc[128];
    uid_t uid;
    gid_t gid;

    if (sb_job_slot(j, &uid, &gid, NULL) < 0) {
        fprintf(out, "slot: none: steps run as %s\n",
                geteuid() ? "the invoking user (not root)" : "root without capabilities");
        return;
    }
    if (sb__slot_describe(uid, gid, desc, sizeof(desc)) < 0)
        desc[0] = '\0';
    fprintf(out, "slot: uid:gid %s, leased in %s (ghr-slot<N> users, else %d+N)\n", desc,
            SB_SLOT_LOCK_DIR, SB_SLOT_BASE);
    fprintf(out, "idmapped mounts: %s\n",
            sb__have_mount_setattr() ? "kernel has mount_setattr (replay binds the project "
                                       "idmapped where its filesystem allows)"
                                     : "no (replay steps run as root without capabilities)");
}

int sb_doctor(FILE *out)
{
    static const char *const ns[] = {"mnt", "pid", "net", "ipc", "uts", "cgroup", "user"};
    long ll = syscall(SYS_landlock_create_ruleset, NULL, 0, SB_LANDLOCK_VERSION);
    char helper[SB_PATH];
    struct sb_job *j = NULL;

    fprintf(out, "root: %s\n", yes(geteuid() == 0));
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
        fprintf(out, "namespace %s: %s\n", ns[i], yes(sb__have_ns(ns[i])));
    fprintf(out, "seccomp: %s (%zu rules in the deny-list)\n", yes(sb__have_seccomp()),
            sb_sc_rule_count());
    fprintf(out, "mount_setattr: %s\n", yes(sb__have_mount_setattr()));
    if (ll > 0)
        fprintf(out, "landlock: abi %ld (not used yet)\n", ll);
    else
        fprintf(out, "landlock: no\n");
    doctor_cgroups(out);
    doctor_gpus(out);
    if (sb__find_helper(helper, sizeof(helper)) == 0) {
        fprintf(out, "helper: %s\n", helper);
        doctor_helper_run(out, helper);
    } else
        fprintf(out, "helper: gr-sandbox not found\n");
    if (sb_job_new("doctor",
                   &(struct sb_policy){.memory_max = 1 << 30, .pids_max = 4096, .slot_auto = true},
                   &j) < 0) {
        fprintf(out, "job: cannot set one up: %s\n", sb_last_error());
        return ferror(out) ? -EIO : 0;
    }
    doctor_slot(out, j);
    fprintf(out, "%s\n", sb_job_summary(j));
    for (const char *const *d = sb_job_degraded(j); *d; d++)
        fprintf(out, "degraded: %s\n", *d);
    sb_job_free(j);
    return ferror(out) ? -EIO : 0;
}
