/*
 * Cgroups: detection (v2 unified, hybrid, v1 legacy), per-job and per-step
 * cgroups, limits, whole-tree kill and OOM/peak statistics.
 *
 * Layout (docs/sandbox.md section 8):
 *   v2:  <own cgroup or root>/ghrun/job-<name>/step-<pid>   limits on job-<name>
 *   v1:  <own cgroup per controller>/ghrun/job-<name>/step-<pid>
 * On a hybrid host each controller goes where it is available (v2 first),
 * and the tree kill comes from v2 cgroup.kill whenever a unified hierarchy
 * exists, even one without controllers. Steps run one at a time in a job,
 * so reaping a step kills the whole job tree and the OOM counters of the job
 * are read as a difference since the last reap.
 *
 * Every path is rooted in struct sb_cg_env so tests can run both back ends
 * against fake trees of plain files (env.fake: files are created on write,
 * nothing waits for real processes).
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

static void collect(struct sb_cgjob *j, struct sb_step_stats *st);
static int v1_devices(struct sb_cgjob *j, const char *d, const struct sb_policy *p);

static const char *const ctl_names[SB_CTL_N] = {"memory", "pids", "cpu", "freezer", "devices"};

const char *sb_cg_ctl_name(enum sb_cg_ctl c)
{
    return ctl_names[c];
}

static bool is_cgroup2(const char *path, bool fake)
{
    char p[SB_PATH];
    struct statfs sfs;

    if (fake) {
        if (sb__path(p, sizeof(p), "%s/cgroup.controllers", path) < 0)
            return false;
        return sb__exists(p);
    }
    return statfs(path, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

static bool has_token(const char *list, const char *tok, char sep)
{
    size_t n = strlen(tok);

    for (const char *p = list; p && *p;) {
        if (strncmp(p, tok, n) == 0 && (p[n] == sep || p[n] == '\0' || p[n] == '\n'))
            return true;
        p = strchr(p, sep);
        if (p)
            p++;
    }
    return false;
}

/*
 * The v1 mount of controller c from mountinfo: "... mnt opts - cgroup src
 * super,opts". Also returns the mount's root so our path can be made
 * relative to it.
 */
static int v1_mount(const char *mountinfo, const char *ctl, char *mnt, char *root)
{
    FILE *f = fopen(mountinfo, "re");
    char line[4096];
    int r = -ENOENT;

    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        char mroot[1024], mpoint[1024], fstype[64], super[1024];
        const char *dash = strstr(line, " - ");

        if (!dash || sscanf(line, "%*s %*s %*s %1023s %1023s", mroot, mpoint) != 2)
            continue;
        if (sscanf(dash + 3, "%63s %*s %1023s", fstype, super) != 2)
            continue;
        if (strcmp(fstype, "cgroup") != 0 || !has_token(super, ctl, ','))
            continue;
        snprintf(mnt, SB_PATH, "%s", mpoint);
        snprintf(root, SB_PATH, "%s", mroot);
        r = 0;
        break;
    }
    fclose(f);
    return r;
}

/* Joins a mount point and a cgroup path, stripping the mount's own root. */
static int join_self(char *out, const char *mnt, const char *mroot, const char *path)
{
    size_t rl = strlen(mroot);

    if (strcmp(mroot, "/") != 0 && strncmp(path, mroot, rl) == 0)
        path += rl;
    if (strcmp(path, "/") == 0 || *path == '\0')
        return sb__path(out, SB_PATH, "%s", mnt);
    return sb__path(out, SB_PATH, "%s%s", mnt, path);
}

static void detect_v1(const struct sb_cg_env *env, const char *root, struct sb_cg *cg,
                      enum sb_cg_ctl c, const char *path)
{
    char mnt[SB_PATH], mroot[SB_PATH] = "/";
    const char *mi = env->mountinfo;

    if (cg->on[c] != SB_CG_OFF)
        return;
    if (mi) {
        if (v1_mount(mi, ctl_names[c], mnt, mroot) < 0)
            return;
    } else if (sb__path(mnt, sizeof(mnt), "%s/%s", root, ctl_names[c]) < 0) {
        return;
    }
    if (join_self(cg->v1_self[c], mnt, mroot, path) < 0 || !sb__exists(cg->v1_self[c])) {
        cg->v1_self[c][0] = '\0';
        return;
    }
    cg->on[c] = SB_CG_ON_V1;
}

/* Parses /proc/self/cgroup: "0::/path" (v2) and "N:ctl,ctl:/path" (v1). */
static int parse_self(const struct sb_cg_env *env, const char *root, struct sb_cg *cg, char *v2path,
                      size_t v2len)
{
    FILE *f = fopen(env->self_cgroup, "re");
    char line[4096];

    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        char *ctls = strchr(line, ':');
        char *path = ctls ? strchr(ctls + 1, ':') : NULL;

        if (!path)
            continue;
        *path++ = '\0';
        ctls++;
        path[strcspn(path, "\n")] = '\0';
        if (*ctls == '\0') {
            snprintf(v2path, v2len, "%s", path);
            continue;
        }
        if (cg->mode == SB_CG_V2)
            continue;
        for (int c = 0; c < SB_CTL_N; c++)
            if (has_token(ctls, ctl_names[c], ','))
                detect_v1(env, root, cg, (enum sb_cg_ctl)c, path);
    }
    fclose(f);
    return 0;
}

static void detect_v2_controllers(struct sb_cg *cg)
{
    char p[SB_PATH], list[1024];

    if (sb__path(p, sizeof(p), "%s/cgroup.controllers", cg->v2_self) < 0)
        return;
    if (sb__read_file(p, list, sizeof(list)) < 0)
        return;
    for (int c = SB_CTL_MEMORY; c <= SB_CTL_CPU; c++)
        if (has_token(list, ctl_names[c], ' '))
            cg->on[c] = SB_CG_ON_V2;
}

int sb_cg_detect(const struct sb_cg_env *env, struct sb_cg *ret)
{
    struct sb_cg_env e = *env;
    const char *root = e.root ? e.root : "/sys/fs/cgroup";
    char uni[SB_PATH], v2path[SB_PATH] = "";
    struct sb_cg *cg = calloc(1, sizeof(*cg));
    int r;

    if (!cg)
        return -ENOMEM;
    cg->fake = e.fake;
    if (!e.self_cgroup)
        e.self_cgroup = "/proc/self/cgroup";
    if (!e.mountinfo && !e.fake)
        e.mountinfo = "/proc/self/mountinfo";
    r = sb__path(uni, sizeof(uni), "%s/unified", root);
    if (r < 0)
        goto out;
    if (is_cgroup2(root, e.fake)) {
        cg->mode = SB_CG_V2;
        snprintf(cg->v2_mount, SB_PATH, "%s", root);
    } else if (is_cgroup2(uni, e.fake)) {
        cg->mode = SB_CG_HYBRID;
        snprintf(cg->v2_mount, SB_PATH, "%s", uni);
    }
    snprintf(cg->proc_devices, SB_PATH, "%s", e.proc_devices ? e.proc_devices : "/proc/devices");
    r = parse_self(&e, root, cg, v2path, sizeof(v2path));
    if (r < 0)
        goto out;
    if (cg->v2_mount[0]) {
        r = join_self(cg->v2_self, cg->v2_mount, "/", v2path[0] ? v2path : "/");
        if (r < 0)
            goto out;
        detect_v2_controllers(cg);
        /* Hybrid: v2 wins for controllers it has; drop the v1 ones. */
        for (int c = 0; c < SB_CTL_N; c++)
            if (cg->on[c] == SB_CG_ON_V2)
                cg->v1_self[c][0] = '\0';
    }
    if (cg->mode == SB_CG_NONE) {
        for (int c = 0; c < SB_CTL_N; c++)
            if (cg->on[c] == SB_CG_ON_V1)
                cg->mode = SB_CG_V1;
    }
    *ret = *cg;
    r = 0;
out:
    free(cg);
    return r;
}

void sb_cg_describe(const struct sb_cg *cg, enum sb_cg_kill kill, char *buf, size_t len)
{
    static const char *const modes[] = {"none", "v2", "hybrid", "v1"};
    static const char *const on[] = {"off", "v2", "v1"};
    static const char *const kills[] = {"none", "v2", "v2-freeze", "v1-freezer"};

    snprintf(buf, len, "%s[mem:%s pids:%s cpu:%s kill:%s]", modes[cg->mode],
             on[cg->on[SB_CTL_MEMORY]], on[cg->on[SB_CTL_PIDS]], on[cg->on[SB_CTL_CPU]],
             kills[kill]);
}

/* ---- parent side: job cgroups ---- */

static int write_text(const char *dir, const char *file, bool fake, const char *text)
{
    char p[SB_PATH];
    int r = sb__path(p, sizeof(p), "%s/%s", dir, file);

    if (r < 0)
        return r;
    return sb__write_file(p, text, fake);
}

static int write_in(const char *dir, const char *file, bool fake, uint64_t v)
{
    char num[32];

    snprintf(num, sizeof(num), "%" PRIu64, v);
    return write_text(dir, file, fake, num);
}

static int enable_controllers(const struct sb_cg *cg, const char *dir)
{
    char p[SB_PATH];
    int r = sb__path(p, sizeof(p), "%s/cgroup.subtree_control", dir);

    for (int c = SB_CTL_MEMORY; r == 0 && c <= SB_CTL_CPU; c++) {
        char word[32];

        if (cg->on[c] != SB_CG_ON_V2)
            continue;
        snprintf(word, sizeof(word), "+%s", ctl_names[c]);
        r = sb__write_file(p, word, cg->fake);
    }
    return r;
}

/*
 * Moves every process of dir into dir/runner so controllers can be enabled
 * in dir (the no-internal-processes rule).
 */
static int move_to_leaf(const char *dir)
{
    char src[SB_PATH], dst[SB_PATH], leaf[SB_PATH];
    FILE *f;
    long pid;
    int r;

    r = sb__path(leaf, sizeof(leaf), "%s/runner", dir);
    if (r < 0)
        return r;
    if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
        return -errno;
    (void)sb__path(src, sizeof(src), "%s/cgroup.procs", dir);
    (void)sb__path(dst, sizeof(dst), "%s/cgroup.procs", leaf);
    f = fopen(src, "re");
    if (!f)
        return -errno;
    while (fscanf(f, "%ld", &pid) == 1) {
        r = sb__write_filef(dst, false, "%ld", pid);
        if (r < 0 && r != -ESRCH)
            break;
        r = 0;
    }
    fclose(f);
    return r;
}

/* The dir under which job cgroups go in v2: <self>/ghrun, controllers enabled on the way. */
static int v2_base(const struct sb_cg *cg, char *base)
{
    bool want = false;
    int r;

    for (int c = SB_CTL_MEMORY; c <= SB_CTL_CPU; c++)
        want = want || cg->on[c] == SB_CG_ON_V2;
    if (want) {
        r = enable_controllers(cg, cg->v2_self);
        if (r == -EBUSY && strcmp(cg->v2_self, cg->v2_mount) != 0) {
            r = move_to_leaf(cg->v2_self);
            if (r == 0)
                r = enable_controllers(cg, cg->v2_self);
        }
        if (r < 0)
            return r;
    }
    r = sb__path(base, SB_PATH, "%s/ghrun", cg->v2_self);
    if (r < 0)
        return r;
    if (mkdir(base, 0755) < 0 && errno != EEXIST)
        return -errno;
    return want ? enable_controllers(cg, base) : 0;
}

static int v2_limits(struct sb_cgjob *j, const struct sb_policy *p)
{
    const struct sb_cg *cg = &j->cg;
    bool fake = cg->fake;
    int r = 0;

    if (cg->on[SB_CTL_MEMORY] == SB_CG_ON_V2 && p->memory_max) {
        char swap[SB_PATH];

        r = write_in(j->v2, "memory.max", fake, p->memory_max);
        if (r == 0 && sb__path(swap, sizeof(swap), "%s/memory.swap.max", j->v2) == 0 &&
            (fake || sb__exists(swap)))
            r = write_in(j->v2, "memory.swap.max", fake, p->swap_max);
        j->memory_limit = p->memory_max;
        /* an OOM kill ends the whole step, not a random part of it */
        if (r == 0 && sb__path(swap, sizeof(swap), "%s/memory.oom.group", j->v2) == 0 &&
            sb__exists(swap))
            (void)write_in(j->v2, "memory.oom.group", fake, 1);
    }
    if (r == 0 && cg->on[SB_CTL_PIDS] == SB_CG_ON_V2 && p->pids_max) {
        r = write_in(j->v2, "pids.max", fake, p->pids_max);
        j->pids_limit = p->pids_max;
    }
    if (r == 0 && cg->on[SB_CTL_CPU] == SB_CG_ON_V2 && p->cpu_quota_us) {
        char max[48];

        snprintf(max, sizeof(max), "%" PRIu64 " 100000", p->cpu_quota_us);
        r = write_text(j->v2, "cpu.max", fake, max);
    }
    return r;
}

/* Controllers that the kernel did not give the new job dir are off for this job. */
static void v2_check_controllers(struct sb_cgjob *j)
{
    static const char *const probe[] = {"memory.max", "pids.max", "cpu.max"};
    char p[SB_PATH];

    if (j->cg.fake)
        return;
    for (int c = SB_CTL_MEMORY; c <= SB_CTL_CPU; c++) {
        if (j->cg.on[c] != SB_CG_ON_V2)
            continue;
        if (sb__path(p, sizeof(p), "%s/%s", j->v2, probe[c]) < 0 || !sb__exists(p))
            j->cg.on[c] = SB_CG_OFF;
    }
}

static enum sb_cg_kill v2_kill_mode(const struct sb_cgjob *j)
{
    static const char *const files[] = {"cgroup.kill", "cgroup.freeze"};
    char p[SB_PATH];

    for (int i = 0; i < 2; i++) {
        const char *dir = j->v2;

        if (sb__path(p, sizeof(p), "%s/%s", dir, files[i]) == 0 && sb__exists(p))
            return i == 0 ? SB_KILL_V2 : SB_KILL_V2_FREEZE;
        /* A fake tree cannot grow control files in new dirs: ask the parent. */
        if (j->cg.fake && sb__path(p, sizeof(p), "%s/%s", j->cg.v2_self, files[i]) == 0 &&
            sb__exists(p))
            return i == 0 ? SB_KILL_V2 : SB_KILL_V2_FREEZE;
    }
    return SB_KILL_NONE;
}

/*
 * GPU isolation on v2: the device program of devbpf.c on the job dir. When
 * the kernel refuses it, the v1 devices controller (if any) takes over.
 */
static void v2_devices(struct sb_cgjob *j, const struct sb_policy *p)
{
    struct sb_dev_rule rules[64];
    struct bpf_insn prog[512];
    size_t n = sb_devbpf_rules(p, j->cg.proc_devices, rules, 64);
    int r = n <= 64 ? sb_devbpf_build(rules, n, prog, 512) : -E2BIG;

    if (r > 0)
        r = sb_devbpf_attach(j->v2, prog, (size_t)r, NULL, 0);
    j->devbpf = r == 0;
    j->devbpf_err = r < 0 ? r : 0;
}

static int v2_job(struct sb_cgjob *j, const char *leaf, const struct sb_policy *p)
{
    char base[SB_PATH];
    int r = v2_base(&j->cg, base);

    if (r < 0)
        return r;
    r = sb__path(j->v2, sizeof(j->v2), "%s/%s", base, leaf);
    if (r < 0)
        return r;
    if (mkdir(j->v2, 0755) < 0) {
        r = -errno;
        j->v2[0] = '\0';
        return r;
    }
    v2_check_controllers(j);
    r = enable_controllers(&j->cg, j->v2);
    if (r < 0)
        return r;
    j->kill = v2_kill_mode(j);
    r = v2_limits(j, p);
    if (r == 0 && p->gpu_isolate && !j->cg.fake)
        v2_devices(j, p);
    return r;
}

static int v1_limits(struct sb_cgjob *j, enum sb_cg_ctl c, const struct sb_policy *p)
{
    const char *d = j->v1[c];
    bool fake = j->cg.fake;
    char memsw[SB_PATH], parent_memsw[SB_PATH];
    int r = 0;

    switch (c) {
    case SB_CTL_MEMORY:
        if (!p->memory_max)
            break;
        r = write_in(d, "memory.limit_in_bytes", fake, p->memory_max);
        j->memory_limit = p->memory_max;
        (void)sb__path(memsw, sizeof(memsw), "%s/memory.memsw.limit_in_bytes", d);
        (void)sb__path(parent_memsw, sizeof(parent_memsw), "%s/memory.memsw.limit_in_bytes",
                       j->cg.v1_self[c]);
        if (r == 0 && (sb__exists(memsw) || (fake && sb__exists(parent_memsw))))
            r = write_in(d, "memory.memsw.limit_in_bytes", fake, p->memory_max + p->swap_max);
        break;
    case SB_CTL_PIDS:
        if (p->pids_max)
            r = write_in(d, "pids.max", fake, p->pids_max);
        j->pids_limit = p->pids_max;
        break;
    case SB_CTL_CPU:
        if (!p->cpu_quota_us)
            break;
        r = write_in(d, "cpu.cfs_period_us", fake, 100000);
        if (r == 0)
            r = write_in(d, "cpu.cfs_quota_us", fake, p->cpu_quota_us);
        break;
    case SB_CTL_DEVICES:
        r = v1_devices(j, d, p);
        break;
    default:
        break;
    }
    return r;
}

/* One rule per write, as the kernel takes them; a fake tree keeps them all. */
static int device_rule(const char *dir, const char *file, bool fake, const char *rule)
{
    char p[SB_PATH];
    int fd, r = sb__path(p, sizeof(p), "%s/%s", dir, file);

    if (r < 0 || !fake)
        return r < 0 ? r : sb__write_file(p, rule, false);
    fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    r = dprintf(fd, "%s\n", rule) < 0 ? -EIO : 0;
    close(fd);
    return r;
}

/* "c 195:255 rw": a rule of the device table (devbpf.c) as the v1 devices controller takes it. */
static void v1_rule_text(const struct sb_dev_rule *r, char *buf, size_t len)
{
    char major[16] = "*", minor[16] = "*";

    if (r->major >= 0)
        snprintf(major, sizeof(major), "%d", r->major);
    if (r->minor >= 0)
        snprintf(minor, sizeof(minor), "%d", r->minor);
    snprintf(buf, len, "%c %s:%s %s%s%s", r->type, major, minor, r->access & 2 ? "r" : "",
             r->access & 4 ? "w" : "", r->access & 1 ? "m" : "");
}

/*
 * v1 devices: deny everything, then allow the device table of devbpf.c:
 * the basic char devices (runc's default list, without mknod), the NVIDIA
 * control node (195:255), the uvm and caps drivers and the leased
 * /dev/nvidia<minor> (docs section 9).
 */
static int v1_devices(struct sb_cgjob *j, const char *d, const struct sb_policy *p)
{
    struct sb_dev_rule rules[64];
    size_t n = sb_devbpf_rules(p, j->cg.proc_devices, rules, 64);
    bool fake = j->cg.fake;
    char rule[64];
    int r = device_rule(d, "devices.deny", fake, "a");

    for (size_t i = 0; r == 0 && i < n && i < 64; i++) {
        v1_rule_text(&rules[i], rule, sizeof(rule));
        r = device_rule(d, "devices.allow", fake, rule);
    }
    if (r == 0)
        j->devices = true;
    return r;
}

/*
 * A v1 hierarchy only where the job needs it: each one costs every step a
 * cgroup migration. Memory also tracks the job when nothing else can.
 */
static bool v1_wanted(const struct sb_cgjob *j, enum sb_cg_ctl c, const struct sb_policy *p)
{
    switch (c) {
    case SB_CTL_MEMORY:
        return p->memory_max || (!j->v2[0] && j->cg.on[SB_CTL_FREEZER] != SB_CG_ON_V1);
    case SB_CTL_PIDS:
        return p->pids_max != 0;
    case SB_CTL_CPU:
        return p->cpu_quota_us != 0;
    case SB_CTL_FREEZER:
        return j->kill == SB_KILL_NONE;
    case SB_CTL_DEVICES:
        return p->gpu_isolate && !j->devbpf;
    default:
        return false;
    }
}

static int v1_job(struct sb_cgjob *j, const char *leaf, const struct sb_policy *p)
{
    int r;

    for (int c = 0; c < SB_CTL_N; c++) {
        if (j->cg.on[c] != SB_CG_ON_V1 || !v1_wanted(j, (enum sb_cg_ctl)c, p))
            continue;
        r = sb__path(j->v1[c], SB_PATH, "%s/ghrun/%s", j->cg.v1_self[c], leaf);
        if (r == 0)
            r = sb__mkdir_p(j->v1[c], 0755);
        if (r < 0) {
            j->v1[c][0] = '\0';
            return r;
        }
        if (c == SB_CTL_FREEZER)
            j->kill = SB_KILL_V1_FREEZER;
        r = v1_limits(j, (enum sb_cg_ctl)c, p);
        if (r < 0)
            return r;
    }
    return 0;
}

static void leaf_name(char *out, size_t len, const char *name)
{
    static unsigned seq;
    char clean[64];
    size_t i = 0;

    for (; name[i] && i + 1 < sizeof(clean); i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';

        clean[i] = ok ? ch : '_';
    }
    clean[i] = '\0';
    snprintf(out, len, "job-%s-%ld-%u", clean, (long)getpid(), seq++);
}

static void remove_children(const char *dir, bool fake, bool all);

/* The creator's pid in a leaf name job-<name>-<pid>-<seq> (leaf_name), or 0. */
static pid_t leaf_pid(const char *leaf)
{
    const char *end = strrchr(leaf, '-'), *p;

    if (strncmp(leaf, "job-", 4) != 0 || !end || end < leaf + 5)
        return 0;
    for (p = end - 1; p > leaf + 3 && *p >= '0' && *p <= '9'; p--)
        ;
    return *p == '-' && p + 1 < end ? (pid_t)strtol(p + 1, NULL, 10) : 0;
}

/*
 * Remove the job cgroup dir of a dead worker. What still runs there (its sandbox's helper or
 * init, on their way out) is killed first where v2's cgroup.kill exists; the removal is
 * retried for up to about 50 ms while they exit, and left to the next sweep after that.
 */
static void sweep_leaf(const char *dir)
{
    char k[SB_PATH];

    if (sb__path(k, sizeof(k), "%s/cgroup.kill", dir) == 0 && access(k, W_OK) == 0)
        (void)sb__write_file(k, "1", false);
    for (int i = 0; i < 10; i++) {
        remove_children(dir, false, true);
        if (rmdir(dir) == 0 || errno != EBUSY)
            return;
        (void)usleep(5000);
    }
}

static void sweep_base(const char *base, bool fake)
{
    char p[SB_PATH];
    DIR *d = opendir(base);
    struct dirent *de;

    while (d && (de = readdir(d))) {
        pid_t pid = de->d_type == DT_DIR ? leaf_pid(de->d_name) : 0;

        if (pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH ||
            sb__path(p, sizeof(p), "%s/%s", base, de->d_name) < 0)
            continue;
        if (fake) {
            (void)sb__rm_rf(p);
            continue;
        }
        sweep_leaf(p);
    }
    if (d)
        closedir(d);
}

void sb_cg_sweep_stale(const struct sb_cg *cg)
{
    char base[SB_PATH];

    if (cg->mode == SB_CG_NONE)
        return;
    if (cg->v2_mount[0] && sb__path(base, sizeof(base), "%s/ghrun", cg->v2_self) == 0)
        sweep_base(base, cg->fake);
    for (int c = 0; c < SB_CTL_N; c++) {
        bool seen = false;

        for (int e = 0; e < c && !seen; e++)
            seen = !strcmp(cg->v1_self[c], cg->v1_self[e]);
        if (!seen && cg->v1_self[c][0] &&
            sb__path(base, sizeof(base), "%s/ghrun", cg->v1_self[c]) == 0)
            sweep_base(base, cg->fake);
    }
}

int sb_cg_job_create(const struct sb_cg *cg, const char *name, const struct sb_policy *p,
                     struct sb_cgjob *ret)
{
    char leaf[128];
    int r = 0;

    memset(ret, 0, sizeof(*ret));
    ret->cg = *cg;
    if (cg->mode == SB_CG_NONE)
        return -EOPNOTSUPP;
    leaf_name(leaf, sizeof(leaf), name);
    if (cg->v2_mount[0])
        r = v2_job(ret, leaf, p);
    if (r == 0)
        r = v1_job(ret, leaf, p);
    if (r < 0) {
        (void)sb_cg_job_destroy(ret);
        return r;
    }
    collect(ret, &(struct sb_step_stats){0});
    return 0;
}

static int make_leaf(char *out, const char *dir, const char *name)
{
    int r = sb__path(out, SB_PATH, "%s/%s", dir, name);

    if (r == 0 && mkdir(out, 0755) < 0 && errno != EEXIST)
        r = -errno;
    if (r < 0)
        out[0] = '\0';
    return r;
}

int sb_cg_job_split(struct sb_cgjob *j)
{
    char p[SB_PATH];
    int r = 0;

    if (j->v2[0]) {
        /* processes live in the leaves now, and the job dir itself briefly (its cgroup ns) */
        if (!j->cg.fake && sb__path(p, sizeof(p), "%s/cgroup.subtree_control", j->v2) == 0)
            (void)sb__write_file(p, "-memory -pids -cpu", false);
        r = make_leaf(j->v2_init, j->v2, "init");
        if (r == 0)
            r = make_leaf(j->v2_step, j->v2, "step");
    }
    if (r == 0 && j->kill == SB_KILL_V1_FREEZER) {
        r = make_leaf(j->v1_init, j->v1[SB_CTL_FREEZER], "init");
        if (r == 0)
            r = make_leaf(j->v1_step, j->v1[SB_CTL_FREEZER], "step");
    }
    if (r == 0)
        j->split = true;
    return r;
}

size_t sb_cg_v1_dirs(const struct sb_cgjob *j, const char **ret, size_t max)
{
    size_t n = 0;

    for (int c = 0; c < SB_CTL_N && n < max; c++) {
        bool dup = false;

        if (!j->v1[c][0])
            continue;
        for (size_t i = 0; i < n; i++)
            dup = dup || strcmp(ret[i], j->v1[c]) == 0;
        if (!dup)
            ret[n++] = j->v1[c];
    }
    return n;
}

/* ---- helper side ---- */

static int step_join(const char *job, bool v2, bool fake, pid_t pid)
{
    char step[SB_PATH], p[SB_PATH];
    int r = sb__path(step, sizeof(step), "%s/step-%ld", job, (long)pid);

    if (r < 0)
        return r;
    if (mkdir(step, 0755) < 0 && errno != EEXIST)
        return -errno;
    if (v2 && sb__path(p, sizeof(p), "%s/memory.oom.group", step) == 0 && sb__exists(p))
        (void)sb__write_file(p, "1", false);
    r = sb__path(p, sizeof(p), "%s/cgroup.procs", step);
    if (r < 0)
        return r;
    return sb__write_filef(p, fake, "%ld", (long)pid);
}

int sb_cg_step_enter(const char *v2_job, const char *const *v1_jobs, size_t n_v1, bool fake,
                     pid_t pid, const char **ret_failed)
{
    int r;

    if (v2_job) {
        r = step_join(v2_job, true, fake, pid);
        if (r < 0) {
            *ret_failed = v2_job;
            return r;
        }
    }
    for (size_t i = 0; i < n_v1; i++) {
        r = step_join(v1_jobs[i], false, fake, pid);
        if (r < 0) {
            *ret_failed = v1_jobs[i];
            return r;
        }
    }
    return 0;
}

/*
 * Steps straight into the job's cgroups, without a step-<pid> child: one
 * cgroup.procs write per hierarchy and no mkdir/rmdir per step (the
 * kernel's memcg creation is most of a step's cgroup cost). Statistics then
 * come from the job's own counters, as deltas (sb_cg_step_finish).
 */
int sb_cg_job_enter(const char *v2_job, const char *const *v1_jobs, size_t n_v1, bool fake,
                    pid_t pid, const char **ret_failed)
{
    char p[SB_PATH];
    int r;

    for (size_t i = 0; i <= n_v1; i++) {
        const char *dir = i == 0 ? v2_job : v1_jobs[i - 1];

        if (!dir)
            continue;
        *ret_failed = dir;
        r = sb__path(p, sizeof(p), "%s/cgroup.procs", dir);
        if (r == 0)
            r = sb__write_filef(p, fake, "%ld", (long)pid);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- parent side: kill, wait, statistics, removal ---- */

typedef void (*pid_fn)(long pid, void *ctx);

/* Calls fn for every process in dir and its child cgroups. Returns how many. */
static size_t for_each_pid(const char *dir, pid_fn fn, void *ctx)
{
    char p[SB_PATH];
    size_t n = 0;
    DIR *d;
    FILE *f;
    long pid;
    struct dirent *de;

    if (sb__path(p, sizeof(p), "%s/cgroup.procs", dir) == 0) {
        f = fopen(p, "re");
        while (f && fscanf(f, "%ld", &pid) == 1) {
            if (fn)
                fn(pid, ctx);
            n++;
        }
        if (f)
            fclose(f);
    }
    d = opendir(dir);
    while (d && (de = readdir(d))) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        if (sb__path(p, sizeof(p), "%s/%s", dir, de->d_name) == 0)
            n += for_each_pid(p, fn, ctx);
    }
    if (d)
        closedir(d);
    return n;
}

static void kill_one(long pid, void *ctx)
{
    (void)kill((pid_t)pid, *(int *)ctx);
}

static void nap(long usec)
{
    struct timespec ts = {.tv_sec = usec / 1000000, .tv_nsec = (usec % 1000000) * 1000};

    nanosleep(&ts, NULL);
}

/* What a kill reaches: the whole job, or (split layout) only its steps. */
struct kill_target {
    const char *v2;        /* "" when none */
    const char *v1_freeze; /* the freezer dir for SB_KILL_V1_FREEZER */
    const pid_t *keep;     /* spared by a sweep */
};

static struct kill_target target(const struct sb_cgjob *j, bool steps)
{
    static const pid_t none[2];

    if (steps && j->split)
        return (struct kill_target){j->v2_step, j->v1_step, j->keep};
    return (struct kill_target){j->v2, j->v1[SB_CTL_FREEZER], none};
}

struct sweep {
    int sig;
    const pid_t *keep;
    size_t n;
};

static void sweep_one(long pid, void *ctx)
{
    struct sweep *s = ctx;

    if (pid == s->keep[0] || pid == s->keep[1])
        return;
    s->n++;
    if (s->sig)
        (void)kill((pid_t)pid, s->sig);
}

/* Without a kill switch: every process of the job's dirs but the kept ones. */
static size_t sweep(const struct sb_cgjob *j, const struct kill_target *t, int sig)
{
    struct sweep s = {.sig = sig, .keep = t->keep};

    for (int c = 0; c < SB_CTL_N; c++)
        if (j->v1[c][0])
            for_each_pid(j->v1[c], sweep_one, &s);
    if (j->v2[0])
        for_each_pid(j->v2, sweep_one, &s);
    return s.n;
}

static bool is_empty(const struct sb_cgjob *j, const struct kill_target *t)
{
    char p[SB_PATH];
    uint64_t v = 0;

    if (t->v2[0]) {
        if (sb__path(p, sizeof(p), "%s/cgroup.events", t->v2) < 0)
            return true;
        if (sb__read_key_u64(p, "populated", &v) < 0)
            return j->cg.fake || for_each_pid(t->v2, NULL, NULL) == 0;
        return v == 0;
    }
    if (j->cg.fake)
        return true;
    if (j->kill == SB_KILL_V1_FREEZER)
        return for_each_pid(t->v1_freeze, NULL, NULL) == 0;
    return sweep(j, t, 0) == 0;
}

/* Waits up to about 2 s for the target to be empty. */
static int wait_empty(const struct sb_cgjob *j, const struct kill_target *t)
{
    long step = 100;

    for (long waited = 0; waited < 2000000; waited += step) {
        if (is_empty(j, t))
            return 0;
        nap(step);
        if (step < 20000)
            step *= 2;
    }
    return -EBUSY;
}

static int freeze(const char *file, const char *value, bool fake)
{
    return sb__write_file(file, value, fake);
}

static int kill_frozen(struct sb_cgjob *j, const char *dir, const char *file, const char *on,
                       const char *off)
{
    int sig = SIGKILL;
    int r = freeze(file, on, j->cg.fake);

    if (r < 0)
        return r;
    nap(1000);
    for_each_pid(dir, kill_one, &sig);
    return freeze(file, off, j->cg.fake);
}

/* Kills everything in the job (steps: only its steps, split layout) and waits until empty. */
static int tree_kill(struct sb_cgjob *j, bool steps)
{
    struct kill_target t = target(j, steps);
    char p[SB_PATH];
    int r = 0;

    for (int round = 0; round < 50; round++) {
        /* an empty target needs no kill (and no freeze round trip) */
        if (round == 0 && !j->cg.fake && is_empty(j, &t))
            return 0;
        switch (j->kill) {
        case SB_KILL_V2:
            r = sb__path(p, sizeof(p), "%s/cgroup.kill", t.v2);
            if (r == 0)
                r = sb__write_file(p, "1", j->cg.fake);
            break;
        case SB_KILL_V2_FREEZE:
            r = sb__path(p, sizeof(p), "%s/cgroup.freeze", t.v2);
            if (r == 0)
                r = kill_frozen(j, t.v2, p, "1", "0");
            break;
        case SB_KILL_V1_FREEZER:
            r = sb__path(p, sizeof(p), "%s/freezer.state", t.v1_freeze);
            if (r == 0)
                r = kill_frozen(j, t.v1_freeze, p, "FROZEN", "THAWED");
            break;
        case SB_KILL_NONE:
            (void)sweep(j, &t, SIGKILL);
            break;
        }
        if (r < 0)
            return r;
        if (wait_empty(j, &t) == 0)
            return 0;
    }
    return -EBUSY;
}

struct pid_set {
    long *v;
    size_t n, cap;
};

static void add_pid(long pid, void *ctx)
{
    struct pid_set *set = ctx;
    long *v;

    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 64;
        v = realloc(set->v, set->cap * sizeof(*v));
        if (!v)
            return;
        set->v = v;
    }
    set->v[set->n++] = pid;
}

static long parent_of(long pid)
{
    char p[64], stat[512];
    const char *close_paren;
    long ppid = -1;

    snprintf(p, sizeof(p), "/proc/%ld/stat", pid);
    if (sb__read_file(p, stat, sizeof(stat)) < 0)
        return -1;
    close_paren = strrchr(stat, ')');
    if (!close_paren || sscanf(close_paren + 1, " %*c %ld", &ppid) != 1)
        return -1;
    return ppid;
}

/*
 * A catchable signal goes to the top of each step only (the step's main
 * process under a step server, else the helper, which forwards it), and
 * to the top's process group, as a terminal would: every process
 * signalled directly would get it twice.
 */
static void signal_tops(const char *dir, int sig)
{
    struct pid_set set = {0};

    for_each_pid(dir, add_pid, &set);
    for (size_t i = 0; i < set.n; i++) {
        long ppid = parent_of(set.v[i]);
        bool inside = false;

        for (size_t k = 0; k < set.n && !inside; k++)
            inside = set.v[k] == ppid;
        /* a top that leads its process group (a step, a daemon) takes its group along */
        if (!inside && kill(-(pid_t)set.v[i], sig) < 0)
            (void)kill((pid_t)set.v[i], sig);
    }
    free(set.v);
}

int sb_cg_job_kill(struct sb_cgjob *j, int sig)
{
    if (!j->v2[0] && j->cg.mode == SB_CG_NONE)
        return -EOPNOTSUPP;
    if (sig == SIGKILL)
        return tree_kill(j, true);
    if (j->split && j->v2_step[0]) {
        signal_tops(j->v2_step, sig);
        return 0;
    }
    if (j->v2[0]) {
        signal_tops(j->v2, sig);
        return 0;
    }
    for (int c = 0; c < SB_CTL_N; c++) {
        if (j->v1[c][0]) {
            signal_tops(j->v1[c], sig);
            return 0;
        }
    }
    return -EOPNOTSUPP;
}

/* Removes step-* (or every child when all) below dir; fake trees hold plain files. */
static void remove_children(const char *dir, bool fake, bool all)
{
    char p[SB_PATH];
    DIR *d = opendir(dir);
    struct dirent *de;

    while (d && (de = readdir(d))) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        if (!all && strncmp(de->d_name, "step-", 5) != 0)
            continue;
        if (sb__path(p, sizeof(p), "%s/%s", dir, de->d_name) < 0)
            continue;
        if (fake) {
            (void)sb__rm_rf(p);
            continue;
        }
        remove_children(p, fake, true);
        (void)rmdir(p);
    }
    if (d)
        closedir(d);
}

/* Max (or sum) of a value over the step-* cgroups of dir. */
static uint64_t over_steps(const char *dir, const char *file, const char *key, bool sum)
{
    char p[SB_PATH];
    uint64_t acc = 0, v;
    DIR *d = opendir(dir);
    struct dirent *de;

    while (d && (de = readdir(d))) {
        if (de->d_type != DT_DIR || strncmp(de->d_name, "step-", 5) != 0)
            continue;
        if (sb__path(p, sizeof(p), "%s/%s/%s", dir, de->d_name, file) < 0)
            continue;
        if ((key ? sb__read_key_u64(p, key, &v) : sb__read_u64(p, &v)) < 0)
            continue;
        if (sum)
            acc += v;
        else if (v > acc)
            acc = v;
    }
    if (d)
        closedir(d);
    return acc;
}

static uint64_t counter(const char *dir, const char *file, const char *key)
{
    char p[SB_PATH];
    uint64_t v = 0;

    if (!dir[0] || sb__path(p, sizeof(p), "%s/%s", dir, file) < 0)
        return 0;
    if (key)
        (void)sb__read_key_u64(p, key, &v);
    else
        (void)sb__read_u64(p, &v);
    return v;
}

static void collect(struct sb_cgjob *j, struct sb_step_stats *st)
{
    const char *mem = j->v1[SB_CTL_MEMORY];
    uint64_t oom = 0, pids = 0, step_oom = 0, step_pids = 0;
    bool scan = !j->split; /* step-* dirs exist only without the split layout */

    memset(st, 0, sizeof(*st));
    st->memory_limit = j->memory_limit;
    if (j->cg.on[SB_CTL_MEMORY] == SB_CG_ON_V2) {
        oom = counter(j->v2, "memory.events", "oom_kill");
        st->memory_peak = scan ? over_steps(j->v2, "memory.peak", NULL, false) : 0;
        if (!st->memory_peak) /* steps in the job's cgroup: the job's peak so far */
            st->memory_peak = counter(j->v2, "memory.peak", NULL);
    } else if (mem[0]) {
        /* v1 counts an OOM kill in the victim's own memcg only. */
        oom = counter(mem, "memory.oom_control", "oom_kill");
        step_oom = scan ? over_steps(mem, "memory.oom_control", "oom_kill", true) : 0;
        st->memory_peak = scan ? over_steps(mem, "memory.max_usage_in_bytes", NULL, false) : 0;
        if (!st->memory_peak && !j->cg.fake) {
            /* steps in the job's memcg: its peak, reset for the next step */
            char p[SB_PATH];

            st->memory_peak = counter(mem, "memory.max_usage_in_bytes", NULL);
            if (sb__path(p, sizeof(p), "%s/memory.max_usage_in_bytes", mem) == 0)
                (void)sb__write_file(p, "0", false);
        }
        st->memory_failcnt = counter(mem, "memory.failcnt", NULL);
    }
    if (j->cg.on[SB_CTL_PIDS] == SB_CG_ON_V2)
        pids = counter(j->v2, "pids.events", "max");
    else if (j->v1[SB_CTL_PIDS][0])
        pids = counter(j->v1[SB_CTL_PIDS], "pids.events", "max");
    /* v1 counts a refused fork in the forking cgroup (the step's) only */
    if (scan && j->v1[SB_CTL_PIDS][0])
        step_pids = over_steps(j->v1[SB_CTL_PIDS], "pids.events", "max", true);
    st->pids_limit = j->pids_limit;
    st->oom_kills = oom >= j->oom_seen ? oom - j->oom_seen : oom;
    if (step_oom > st->oom_kills)
        st->oom_kills = step_oom; /* kernels that also count it in the parent */
    st->oom_killed = st->oom_kills > 0;
    st->pids_limit_hit = (pids >= j->pids_seen ? pids - j->pids_seen : pids) + step_pids;
    j->oom_seen = oom;
    j->pids_seen = pids;
}

int sb_cg_step_finish(struct sb_cgjob *j, struct sb_step_stats *ret)
{
    int r = 0;

    if (j->cg.mode == SB_CG_NONE)
        return -EOPNOTSUPP;
    if (!j->cg.fake || j->kill != SB_KILL_NONE)
        r = tree_kill(j, true);
    collect(j, ret);
    if (j->split)
        return r; /* steps never have their own dirs here: nothing to scan */
    if (j->v2[0])
        remove_children(j->v2, j->cg.fake, false);
    for (int c = 0; c < SB_CTL_N; c++)
        if (j->v1[c][0])
            remove_children(j->v1[c], j->cg.fake, false);
    return r;
}

static void remove_dir(char *dir, bool fake)
{
    if (!dir[0])
        return;
    if (fake) {
        (void)sb__rm_rf(dir);
    } else {
        remove_children(dir, fake, true);
        (void)rmdir(dir);
    }
    dir[0] = '\0';
}

int sb_cg_job_destroy(struct sb_cgjob *j)
{
    int r = 0;

    if (j->cg.mode == SB_CG_NONE)
        return 0;
    if (j->v2[0] || j->kill != SB_KILL_NONE || !j->cg.fake)
        r = tree_kill(j, false);
    remove_dir(j->v2, j->cg.fake);
    for (int c = 0; c < SB_CTL_N; c++) {
        for (int d = c + 1; d < SB_CTL_N; d++)
            if (strcmp(j->v1[c], j->v1[d]) == 0)
                j->v1[d][0] = '\0';
        remove_dir(j->v1[c], j->cg.fake);
    }
    return r;
}
