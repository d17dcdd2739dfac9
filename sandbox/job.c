/*
 * Per-job sandbox state and the entry points the executor calls.
 *
 * sb_job_new() decides what the job gets on this host (namespaces when the
 * runner is root, seccomp, cgroups), prepares it (job cgroup with limits,
 * compiled filter, private dir with /tmp) and records what is missing;
 * strict policies refuse instead. sb_wrap_command() turns that into the
 * gr-sandbox command line. A NULL policy keeps the plain back end: the
 * command runs as given, unsandboxed, and the job reports it as degraded.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SB_MAX_DEGRADED 16

struct sb_job {
    char *name;
    bool sandboxed; /* false: NULL policy, plain commands */
    struct sb_policy policy;
    struct sb_policy asked; /* the policy as given (lists: the copies); sb_job_policy_is() */
    char *asked_state_dir;
    char *asked_lock_dir;
    char **masks;
    char **rws;
    char **idmaps;
    char **idmaps_ro;
    bool root, ns, seccomp, slot, mount_setattr;
    struct sb_slot lease; /* slot_auto: the held slot */
    int idmap_err;        /* the idmap_paths could not be idmapped (errno) */
    char noslot[600];     /* why a slot was wanted but steps run as root */
    const char *arches;
    char dir[SB_PATH];
    char tmp[SB_PATH];
    char empty[SB_PATH];
    char bpf[SB_PATH];
    char home[SB_PATH];
    char home_from[SB_PATH];   /* the runner's HOME, replaced by home in steps */
    pid_t init_helper;         /* gr-sandbox --job-init, parent of the job's init */
    pid_t init_pid;            /* pid 1 of the job's namespaces, as the host sees it */
    char sock[108];            /* the init's step socket (sun_path); "" when steps --join */
    bool serve;                /* the init starts the steps (gr-step or gr-sandbox --connect) */
    char step_client[SB_PATH]; /* gr-step next to the helper; "" to use the helper */
    char init_error[600];
    struct sb_cgjob *cg; /* NULL: no cgroup */
    const char *degraded[SB_MAX_DEGRADED + 1];
    size_t n_degraded;
    char summary[512];
    struct sb_step_stats last;
    bool have_last;
};

struct argv_b {
    char **v;
    size_t n, cap;
    int err;
};

static char helper_override[SB_PATH];

int sb_set_helper_path(const char *path)
{
    if (!path) {
        helper_override[0] = '\0';
        return 0;
    }
    return sb__path(helper_override, sizeof(helper_override), "%s", path);
}

int sb__find_helper(char *out, size_t len)
{
    const char *env = getenv("GR_SANDBOX_HELPER");
    char exe[SB_PATH];
    ssize_t n;
    char *slash;

    if (helper_override[0])
        return sb__path(out, len, "%s", helper_override);
    if (env && *env)
        return sb__path(out, len, "%s", env);
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            if (sb__path(out, len, "%s/gr-sandbox", exe) == 0 && access(out, X_OK) == 0)
                return 0;
        }
    }
#ifdef GR_SANDBOX_BUILD_HELPER
    if (access(GR_SANDBOX_BUILD_HELPER, X_OK) == 0)
        return sb__path(out, len, "%s", GR_SANDBOX_BUILD_HELPER);
#endif
    return -ENOENT;
}

static char **copy_list(const char *const *src)
{
    size_t n = 0;
    char **out;

    while (src && src[n])
        n++;
    out = calloc(n + 1, sizeof(*out));
    for (size_t i = 0; out && i < n; i++) {
        out[i] = strdup(src[i]);
        if (!out[i]) {
            sb_argv_free(out);
            return NULL;
        }
    }
    return out;
}

bool sb__have_seccomp(void)
{
    return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
}

bool sb__have_ns(const char *name)
{
    char p[64];

    snprintf(p, sizeof(p), "/proc/self/ns/%s", name);
    return sb__exists(p);
}

static const struct sb_cg *host_cgroups(void)
{
    static struct sb_cg cg;
    static bool done;

    if (!done && sb_cg_detect(&(struct sb_cg_env){0}, &cg) < 0)
        cg.mode = SB_CG_NONE;
    done = true;
    return &cg;
}

static void degrade(struct sb_job *j, const char *why)
{
    if (j->n_degraded < SB_MAX_DEGRADED)
        j->degraded[j->n_degraded++] = why;
}

/* The private dir: <state>/ghrun-job-<pid>-<random>/{tmp,home,empty,seccomp.bpf}. */
static int make_dirs(struct sb_job *j)
{
    const char *state = j->policy.state_dir ? j->policy.state_dir : getenv("TMPDIR");
    char prefix[SB_PATH];
    int fd, r;

    r = sb__path(prefix, sizeof(prefix), "%s/ghrun-job-%ld-", state ? state : "/tmp",
                 (long)getpid());
    if (r == 0)
        r = sb__mkdtemp(j->dir, sizeof(j->dir), prefix);
    if (r < 0) {
        j->dir[0] = '\0';
        return r;
    }
    (void)sb__path(j->tmp, sizeof(j->tmp), "%s/tmp", j->dir);
    (void)sb__path(j->empty, sizeof(j->empty), "%s/empty", j->dir);
    (void)sb__path(j->bpf, sizeof(j->bpf), "%s/seccomp.bpf", j->dir);
    (void)sb__path(j->home, sizeof(j->home), "%s/home", j->dir);
    /* a longer path than a unix socket takes: steps join the namespaces instead */
    if (sb__path(j->sock, sizeof(j->sock), "%s/init.sock", j->dir) < 0)
        j->sock[0] = '\0';
    if (mkdir(j->tmp, 0700) < 0 || chmod(j->tmp, 01777) < 0 || mkdir(j->home, 0700) < 0)
        return -errno;
    if (j->slot && (chown(j->tmp, j->policy.slot_uid, j->policy.slot_gid) < 0 ||
                    chown(j->home, j->policy.slot_uid, j->policy.slot_gid) < 0))
        return -errno;
    if (getenv("HOME"))
        (void)sb__path(j->home_from, sizeof(j->home_from), "%s", getenv("HOME"));
    fd = open(j->empty, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0444);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

static int compile_filter(struct sb_job *j)
{
    int fd = open(j->bpf, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    int r;

    if (fd < 0)
        return -errno;
    r = sb_sc_export(&j->policy, fd, &j->arches);
    close(fd);
    return r;
}

static void cgroup_setup(struct sb_job *j)
{
    const struct sb_cg *host = host_cgroups();
    struct sb_cgjob *cg = calloc(1, sizeof(*cg));
    int r;

    if (!cg) {
        degrade(j, "no cgroup: out of memory");
        return;
    }
    r = sb_cg_job_create(host, j->name, &j->policy, cg);
    if (r < 0) {
        free(cg);
        degrade(j, host->mode == SB_CG_NONE ? "no cgroup: no cgroup hierarchy found"
                                            : "no cgroup: cannot create the job cgroup");
        return;
    }
    j->cg = cg;
}

static void check_cgroup(struct sb_job *j)
{
    const struct sb_policy *p = &j->policy;

    if (!j->cg)
        return;
    if (p->memory_max && j->cg->cg.on[SB_CTL_MEMORY] == SB_CG_OFF)
        degrade(j, "no memory limit: memory controller unavailable");
    if (p->pids_max && j->cg->cg.on[SB_CTL_PIDS] == SB_CG_OFF)
        degrade(j, "no pids limit: pids controller unavailable (RLIMIT_NPROC instead)");
    if (p->cpu_quota_us && j->cg->cg.on[SB_CTL_CPU] == SB_CG_OFF)
        degrade(j, "no cpu limit: cpu controller unavailable");
    if (j->cg->kill == SB_KILL_NONE)
        degrade(j, "no cgroup tree kill: neither cgroup.kill nor a freezer");
}

static void check_features(struct sb_job *j)
{
    if (!j->root)
        degrade(j, "no namespaces, masks or read-only root: the runner is not root");
    else if (!j->ns && !j->init_error[0])
        degrade(j, "no mount/pid namespaces: the kernel lacks them");
    if (j->root && !j->slot)
        degrade(j, j->noslot[0] ? j->noslot
                                : "steps run as root without capabilities: no slot uid configured");
    if (!j->root)
        degrade(j, "steps run as the invoking user: the runner is not root (no slot uid)");
    if (!j->seccomp)
        degrade(j, "no seccomp filter: the kernel lacks seccomp");
    else if (j->policy.seccomp_audit)
        degrade(j, "seccomp in audit mode: denials are only logged");
    if (j->root && j->ns && !j->mount_setattr)
        degrade(j, "only the top mount is read-only: mount_setattr unavailable");
    if (j->policy.network_none && !j->ns)
        degrade(j, "network not isolated: network namespaces need root");
    if (j->policy.gpu_isolate && !(j->cg && (j->cg->devices || j->cg->devbpf)))
        degrade(j, j->cg && j->cg->devbpf_err
                       ? "GPU isolation advisory: the kernel refused the cgroup v2 device program "
                         "and there is no v1 devices controller; only the device nodes are hidden"
                       : "GPU isolation advisory: neither a cgroup v2 job cgroup for the device "
                         "program nor a v1 devices controller; only the device nodes are hidden");
    check_cgroup(j);
}

static const char *strict_missing(const struct sb_job *j)
{
    if (!j->root || !j->ns)
        return "mount and pid namespaces (the runner must be root)";
    if (!j->slot && !j->policy.slot_optional)
        return "a slot uid (policy slot_uid)";
    if (!j->seccomp || j->policy.seccomp_audit)
        return "an enforcing seccomp filter";
    if (!j->cg)
        return "a job cgroup";
    if (j->cg->cg.on[SB_CTL_MEMORY] == SB_CG_OFF || j->cg->cg.on[SB_CTL_PIDS] == SB_CG_OFF)
        return "memory and pids cgroup controllers";
    if (j->cg->kill == SB_KILL_NONE)
        return "a cgroup tree kill (cgroup.kill or freezer)";
    if (j->policy.gpu_isolate && !j->cg->devices && !j->cg->devbpf)
        return "GPU device isolation (a cgroup v2 device program or the v1 devices controller)";
    return NULL;
}

static void push(struct argv_b *b, const char *s);
static void push_opt(struct argv_b *b, const char *opt, const char *v);
static void push_ns(struct argv_b *b, const struct sb_job *j);
static void push_server(struct argv_b *b, const struct sb_job *j);
static void push_step_opts(struct argv_b *b, const struct sb_job *j);

/* Reads the helper's report: its init's pid, or its error message. */
static int read_init_report(struct sb_job *j, int fd)
{
    char buf[512];
    size_t got = 0;
    ssize_t n;
    long pid = 0;

    while (got + 1 < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    if (sscanf(buf, "%ld", &pid) == 1 && pid > 0) {
        const char *im = strstr(buf, " idmap=");

        j->init_pid = (pid_t)pid;
        if (im && sscanf(im, " idmap=%d", &j->idmap_err) != 1)
            j->idmap_err = EIO;
        return 0;
    }
    buf[strcspn(buf, "\n")] = '\0';
    sb__set_error("%s", got ? buf : "gr-sandbox --job-init exited without a report");
    return -EIO;
}

/* gr-step (no libc: a cheaper exec per step) installs next to the helper. */
static void find_step_client(struct sb_job *j, const char *helper)
{
    const char *slash = strrchr(helper, '/');

    j->step_client[0] = '\0';
    if (!slash ||
        sb__path(j->step_client, sizeof(j->step_client), "%.*s/gr-step", (int)(slash - helper),
                 helper) < 0 ||
        access(j->step_client, X_OK) < 0)
        j->step_client[0] = '\0';
}

/*
 * The job's namespaces live as long as the job: a `gr-sandbox --job-init`
 * builds them (filesystem view included) once, and every step joins them
 * (--join), so steps share a pid namespace and pay no mount setup. The
 * helper runs with an empty environment: its init is /proc/1 of the job.
 */
static int spawn_init(struct sb_job *j)
{
    static char *const empty_env[] = {NULL};
    posix_spawn_file_actions_t fa;
    struct argv_b b = {0};
    char helper[SB_PATH];
    int p[2], r, st;
    pid_t pid;

    r = sb__find_helper(helper, sizeof(helper));
    if (r < 0)
        return r;
    push(&b, helper);
    push(&b, "--job-init");
    push_opt(&b, "--status-fd", "3");
    push_ns(&b, j);
    if (j->sock[0])
        push_server(&b, j);
    push(&b, "--");
    push(&b, "init");
    if (b.err || pipe2(p, O_CLOEXEC) < 0) {
        sb_argv_free(b.v);
        return b.err ? b.err : -errno;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 3);
    r = -posix_spawn(&pid, helper, &fa, NULL, b.v, empty_env);
    posix_spawn_file_actions_destroy(&fa);
    sb_argv_free(b.v);
    close(p[1]);
    if (r == 0) {
        r = read_init_report(j, p[0]);
        if (r < 0) {
            (void)kill(pid, SIGKILL);
            (void)waitpid(pid, &st, 0);
        } else {
            j->init_helper = pid;
            j->serve = j->sock[0] != '\0';
            find_step_client(j, helper);
            if (j->cg) {
                /* a step's reap spares them when it has to sweep by pid */
                j->cg->keep[0] = pid;
                j->cg->keep[1] = j->init_pid;
            }
        }
    }
    close(p[0]);
    return r;
}

static void stop_init(struct sb_job *j)
{
    int st;

    if (j->init_helper <= 0)
        return;
    (void)kill(j->init_helper, SIGKILL);
    while (waitpid(j->init_helper, &st, 0) < 0 && errno == EINTR)
        ;
    j->init_helper = 0;
    j->init_pid = 0;
    j->serve = false;
}

static void make_summary(struct sb_job *j)
{
    char cg[128] = "none", uid[32] = "slot";

    if (!j->sandboxed) {
        snprintf(j->summary, sizeof(j->summary), "sandbox: off (no policy)");
        return;
    }
    if (j->cg)
        sb_cg_describe(&j->cg->cg, j->cg->kill, cg, sizeof(cg));
    if (j->slot)
        snprintf(uid, sizeof(uid), "slot:%u", (unsigned)j->policy.slot_uid);
    snprintf(
        j->summary, sizeof(j->summary),
        "sandbox: uid=%s ns=%s net=%s seccomp=%s%s nnp=on cgroup=%s%s%s",
        j->slot ? uid : (j->root ? "root-nocaps" : "self"),
        j->ns ? "mnt,pid,ipc,uts,cgroup" : "off", j->policy.network_none && j->ns ? "none" : "host",
        j->seccomp && j->policy.seccomp_audit ? "audit:" : "", j->seccomp ? j->arches : "off", cg,
        j->cg && j->cg->devbpf    ? " devices=bpf"
        : j->cg && j->cg->devices ? " devices=v1"
                                  : "",
        j->n_degraded ? " (degraded)" : "");
}

static int copy_policy(struct sb_job *j, const struct sb_policy *p)
{
    j->policy = *p;
    j->masks = copy_list(p->mask_paths);
    j->rws = copy_list(p->rw_paths);
    j->idmaps = copy_list(p->idmap_paths);
    j->idmaps_ro = copy_list(p->idmap_ro_paths);
    if (!j->masks || !j->rws || !j->idmaps || !j->idmaps_ro)
        return -ENOMEM;
    j->policy.mask_paths = (const char *const *)j->masks;
    j->policy.rw_paths = (const char *const *)j->rws;
    j->policy.idmap_paths = (const char *const *)j->idmaps;
    j->policy.idmap_ro_paths = (const char *const *)j->idmaps_ro;
    j->policy.state_dir = NULL;
    j->asked = j->policy;
    j->asked_state_dir = p->state_dir ? strdup(p->state_dir) : NULL;
    j->asked_lock_dir = p->slot_lock_dir ? strdup(p->slot_lock_dir) : NULL;
    if ((p->state_dir && !j->asked_state_dir) || (p->slot_lock_dir && !j->asked_lock_dir))
        return -ENOMEM;
    j->asked.state_dir = j->asked_state_dir;
    j->asked.slot_lock_dir = j->asked_lock_dir;
    return 0;
}

/* The slot the steps run as, when the runner is root: leased (slot_auto) or as configured. */
static int slot_take(struct sb_job *j)
{
    const char *dir = j->policy.slot_lock_dir ? j->policy.slot_lock_dir : SB_SLOT_LOCK_DIR;
    int r;

    j->slot = j->root && (j->policy.slot_uid != 0 || j->policy.slot_auto);
    if (!j->slot)
        return 0;
    if (!j->policy.slot_auto) {
        if (!j->policy.slot_gid)
            j->policy.slot_gid = j->policy.slot_uid;
        return 0;
    }
    r = sb__slot_lease(&j->policy, &j->lease);
    if (r < 0) {
        sb__set_error("cannot lease a job slot in '%s': %s", dir,
                      r == -EBUSY ? "all slots are held by running jobs" : strerror(-r));
        if (j->policy.strict)
            return r;
        /* best-effort: root without capabilities, and the job says why */
        snprintf(j->noslot, sizeof(j->noslot), "steps run as root without capabilities: %s",
                 sb_last_error());
        sb__set_error("%s", "");
        j->slot = false;
        j->policy.slot_uid = 0;
        j->policy.slot_gid = 0;
        return 0;
    }
    j->policy.slot_uid = j->lease.uid;
    j->policy.slot_gid = j->lease.gid;
    return 0;
}

/*
 * A slot promised paths it cannot write (idmap_paths not idmapped: the kernel or the
 * filesystem refused, or there is no mount namespace): steps run as root without
 * capabilities instead, and the job's dirs go back to root.
 */
static int slot_check(struct sb_job *j)
{
    if (!j->slot || !j->idmaps[0] || (j->ns && j->init_pid > 0 && !j->idmap_err))
        return 0;
    snprintf(j->noslot, sizeof(j->noslot),
             "steps run as root without capabilities: cannot idmap '%s' for the slot uid %u: %s",
             j->idmaps[0], (unsigned)j->policy.slot_uid,
             j->idmap_err ? strerror(j->idmap_err) : "no mount namespace");
    if (chown(j->tmp, 0, 0) < 0 || chown(j->home, 0, 0) < 0)
        return -errno;
    sb__slot_release(&j->lease);
    j->slot = false;
    j->policy.slot_uid = 0;
    j->policy.slot_gid = 0;
    return 0;
}

static int setup(struct sb_job *j, const struct sb_policy *p)
{
    const char *missing;
    int r;

    j->root = geteuid() == 0;
    j->ns = j->root && sb__have_ns("mnt") && sb__have_ns("pid");
    j->seccomp = sb__have_seccomp();
    j->mount_setattr = sb__have_mount_setattr();
    j->policy.state_dir = p->state_dir;
    r = slot_take(j);
    if (r < 0)
        return r;
    r = make_dirs(j);
    if (r < 0)
        return r;
    r = j->seccomp ? compile_filter(j) : 0;
    if (r < 0)
        return r;
    cgroup_setup(j);
    /* init/ and step/ leaves: a step's reap must not reach the job's init */
    if (j->ns && j->cg && sb_cg_job_split(j->cg) < 0)
        j->sock[0] = '\0';
    if (!j->ns || !j->seccomp)
        j->sock[0] = '\0';
    r = j->ns ? spawn_init(j) : 0;
    if (r == -ENOENT) {
        /* no helper: the steps cannot start either, and say so then */
        degrade(j, "no per-job pid namespace: the gr-sandbox helper is missing");
    } else if (r < 0) {
        /* the host refused what the job's namespaces need: run without them */
        snprintf(j->init_error, sizeof(j->init_error), "no namespaces, masks or read-only root: %s",
                 sb_last_error());
        j->ns = false;
        degrade(j, j->init_error);
        if (p->strict) {
            sb__set_error("strict sandbox: %s", j->init_error);
            return -EOPNOTSUPP;
        }
        sb__set_error("%s", "");
    }
    r = slot_check(j);
    if (r < 0)
        return r;
    check_features(j);
    missing = strict_missing(j);
    if (p->strict && missing) {
        sb__set_error("strict sandbox: missing %s", missing);
        return -EOPNOTSUPP;
    }
    return 0;
}

int sb_job_new(const char *name, const struct sb_policy *policy, struct sb_job **ret)
{
    struct sb_job *j = calloc(1, sizeof(*j));
    int r;

    sb__set_error("%s", "");
    if (!j)
        return -ENOMEM;
    j->lease.fd = -1;
    j->name = strdup(name ? name : "job");
    r = j->name ? 0 : -ENOMEM;
    if (r == 0 && policy) {
        j->sandboxed = true;
        r = copy_policy(j, policy);
        if (r == 0)
            r = setup(j, policy);
    } else if (r == 0) {
        degrade(j, "no sandbox: no policy given");
    }
    if (r < 0) {
        if (!sb_last_error()[0])
            sb__set_error("cannot set up the job sandbox: %s", strerror(-r));
        sb_job_free(j);
        return r;
    }
    j->policy.state_dir = NULL;
    make_summary(j);
    *ret = j;
    return 0;
}

void sb_job_free(struct sb_job *job)
{
    if (!job)
        return;
    /*
     * A served job's helper and init live in its cgroup: one cgroup.kill
     * ends them with the steps, and the waits overlap (the init's namespace
     * teardown, the helper's exit). Otherwise the init goes first.
     */
    if (!job->serve)
        stop_init(job);
    if (job->cg) {
        (void)sb_cg_job_destroy(job->cg);
        free(job->cg);
    }
    stop_init(job);
    sb__slot_release(&job->lease); /* nothing of the job runs any more */
    if (job->dir[0])
        (void)sb__rm_rf(job->dir);
    sb_argv_free(job->masks);
    sb_argv_free(job->rws);
    sb_argv_free(job->idmaps);
    sb_argv_free(job->idmaps_ro);
    free(job->asked_state_dir);
    free(job->asked_lock_dir);
    free(job->name);
    free(job);
}

/* The pid in a private dir's name ghrun-job-<pid>-<random> (make_dirs), or 0. */
static pid_t dir_pid(const char *name)
{
    char *end;
    long pid;

    if (strncmp(name, "ghrun-job-", 10) != 0)
        return 0;
    pid = strtol(name + 10, &end, 10);
    return *end == '-' && pid > 0 ? (pid_t)pid : 0;
}

void sb_job_sweep_stale(const char *state_dir)
{
    const char *state = state_dir ? state_dir : getenv("TMPDIR");
    char p[SB_PATH];
    DIR *d = opendir(state ? state : "/tmp");
    struct dirent *de;

    while (d && (de = readdir(d))) {
        pid_t pid = dir_pid(de->d_name);

        if (pid > 0 && kill(pid, 0) < 0 && errno == ESRCH &&
            sb__path(p, sizeof(p), "%s/%s", state ? state : "/tmp", de->d_name) == 0)
            (void)sb__rm_rf(p);
    }
    if (d)
        closedir(d);
    if (geteuid() == 0)
        sb_cg_sweep_stale(host_cgroups());
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* NULL and an empty list are the same. */
static bool same_list(const char *const *a, const char *const *b)
{
    size_t i = 0;

    for (; a && b && a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]))
            return false;
    return (!a || !a[i]) && (!b || !b[i]);
}

bool sb_job_policy_is(const struct sb_job *job, const struct sb_policy *p)
{
    const struct sb_policy *a = job ? &job->asked : NULL;

    if (!job || !p || !job->sandboxed)
        return false;
    return a->memory_max == p->memory_max && a->cpu_quota_us == p->cpu_quota_us &&
           a->pids_max == p->pids_max && a->network_none == p->network_none &&
           a->strict == p->strict && a->slot_uid == p->slot_uid && a->slot_gid == p->slot_gid &&
           same_list(a->mask_paths, p->mask_paths) && same_list(a->rw_paths, p->rw_paths) &&
           same_str(a->state_dir, p->state_dir) && a->nofile == p->nofile &&
           a->allow_ptrace == p->allow_ptrace && a->seccomp_audit == p->seccomp_audit &&
           a->swap_max == p->swap_max && a->slot_optional == p->slot_optional &&
           a->slot_auto == p->slot_auto && same_str(a->slot_lock_dir, p->slot_lock_dir) &&
           same_list(a->idmap_paths, p->idmap_paths) &&
           same_list(a->idmap_ro_paths, p->idmap_ro_paths) && a->gpu_isolate == p->gpu_isolate &&
           a->n_gpu_minors == p->n_gpu_minors &&
           (!p->n_gpu_minors ||
            (p->n_gpu_minors <= SB_GPU_MAX &&
             !memcmp(a->gpu_minors, p->gpu_minors, p->n_gpu_minors * sizeof(p->gpu_minors[0]))));
}

/* ---- command lines ---- */

static void push(struct argv_b *b, const char *s)
{
    char **v;

    if (b->err)
        return;
    if (b->n + 2 > b->cap) {
        b->cap = b->cap ? b->cap * 2 : 32;
        v = realloc(b->v, b->cap * sizeof(*v));
        if (!v) {
            b->err = -ENOMEM;
            return;
        }
        b->v = v;
    }
    b->v[b->n] = strdup(s);
    if (!b->v[b->n]) {
        b->err = -ENOMEM;
        return;
    }
    b->v[++b->n] = NULL;
}

static void push_opt(struct argv_b *b, const char *opt, const char *v)
{
    push(b, opt);
    push(b, v);
}

static void push_u64(struct argv_b *b, const char *opt, uint64_t v)
{
    char num[32];

    snprintf(num, sizeof(num), "%" PRIu64, v);
    push_opt(b, opt, num);
}

static void push_cgroups(struct argv_b *b, const struct sb_job *j)
{
    const char *v1[SB_CTL_N];
    size_t n;

    if (!j->cg)
        return;
    push(b, "--cgroup-flat");
    /* split layout: steps go to step/ where the kill switch is, the rest to the job */
    if (j->cg->v2[0])
        push_opt(b, "--cgroup2", j->cg->split ? j->cg->v2_step : j->cg->v2);
    n = sb_cg_v1_dirs(j->cg, v1, SB_CTL_N);
    for (size_t i = 0; i < n; i++) {
        bool freezer =
            j->cg->split && j->cg->v1_step[0] && strcmp(v1[i], j->cg->v1[SB_CTL_FREEZER]) == 0;

        push_opt(b, "--cgroup1", freezer ? j->cg->v1_step : v1[i]);
    }
}

/*
 * The job init as the step server (stepd.c): it joins the job's cgroups
 * before its cgroup namespace (so the namespace is rooted at the job),
 * lives in init/, starts steps in step/ with the job's credentials, limits
 * and filter.
 */
static void push_server(struct argv_b *b, const struct sb_job *j)
{
    const char *v1[SB_CTL_N];
    size_t n;

    if (j->cg) {
        push(b, "--cgroup-flat");
        if (j->cg->v2[0])
            push_opt(b, "--cgroup2", j->cg->v2);
        n = sb_cg_v1_dirs(j->cg, v1, SB_CTL_N);
        for (size_t i = 0; i < n; i++)
            push_opt(b, "--cgroup1", v1[i]);
        if (j->cg->v2_init[0]) {
            push_opt(b, "--init-cgroup2", j->cg->v2_init);
            push_opt(b, "--step-cgroup2", j->cg->v2_step);
        }
        if (j->cg->v1_init[0]) {
            push_opt(b, "--init-cgroup1", j->cg->v1_init);
            push_opt(b, "--step-cgroup1", j->cg->v1_step);
        }
    }
    push_step_opts(b, j);
    push_opt(b, "--socket", j->sock);
}

static void push_ns(struct argv_b *b, const struct sb_job *j)
{
    push_opt(b, "--ns",
             j->policy.network_none ? "mnt,pid,ipc,uts,cgroup,net" : "mnt,pid,ipc,uts,cgroup");
    push(b, "--ro-root");
    push_opt(b, "--tmp", j->tmp);
    push_opt(b, "--empty", j->empty);
    for (size_t i = 0; j->masks[i]; i++)
        push_opt(b, "--mask", j->masks[i]);
    for (size_t i = 0; j->rws[i]; i++)
        push_opt(b, "--rw", j->rws[i]);
    push_opt(b, "--rw", j->home);
    for (size_t i = 0; j->slot && j->idmaps[i]; i++)
        push_opt(b, "--idmap", j->idmaps[i]);
    for (size_t i = 0; j->slot && j->idmaps[0] && j->idmaps_ro[i]; i++)
        push_opt(b, "--idmap-ro", j->idmaps_ro[i]);
    if (j->slot && j->idmaps[0]) {
        push_u64(b, "--idmap-uid", j->policy.slot_uid);
        push_u64(b, "--idmap-gid", j->policy.slot_gid);
    }
}

/* What every step gets: filter, HOME, ids, rlimits. */
static void push_step_opts(struct argv_b *b, const struct sb_job *j)
{
    bool pids_cg = j->cg && j->cg->cg.on[SB_CTL_PIDS] != SB_CG_OFF;

    if (j->seccomp)
        push_opt(b, "--seccomp", j->bpf);
    push_opt(b, "--home", j->home);
    if (j->home_from[0])
        push_opt(b, "--home-from", j->home_from);
    if (j->slot) {
        push_u64(b, "--uid", j->policy.slot_uid);
        push_u64(b, "--gid", j->policy.slot_gid);
    }
    push_u64(b, "--nofile", j->policy.nofile ? j->policy.nofile : 65536);
    /* RLIMIT_NPROC counts per uid: meaningful only for a slot uid. */
    if (j->slot && !pids_cg && j->policy.pids_max)
        push_u64(b, "--nproc", j->policy.pids_max);
}

static void push_sandbox(struct argv_b *b, const struct sb_job *j, const char *helper)
{
    if (j->serve) {
        /* everything else is the init's already */
        push(b, j->step_client[0] ? j->step_client : helper);
        push_opt(b, "--connect", j->sock);
        push(b, "--");
        return;
    }
    push(b, helper);
    push_cgroups(b, j);
    if (j->init_pid > 0)
        push_u64(b, "--join", (uint64_t)j->init_pid);
    else if (j->ns)
        push_ns(b, j);
    push_step_opts(b, j);
    push(b, "--");
}

int sb_wrap_command(const struct sb_job *job, char *const argv[], char ***ret_argv)
{
    struct argv_b b = {0};
    char helper[SB_PATH];
    int r;

    if (!argv || !argv[0])
        return -EINVAL;
    if (job && job->sandboxed) {
        r = sb__find_helper(helper, sizeof(helper));
        if (r < 0) {
            sb__set_error("cannot find the gr-sandbox helper");
            return r;
        }
        push_sandbox(&b, job, helper);
    }
    for (size_t i = 0; argv[i]; i++)
        push(&b, argv[i]);
    if (b.err) {
        sb_argv_free(b.v);
        return b.err;
    }
    *ret_argv = b.v;
    return 0;
}

void sb_argv_free(char **argv)
{
    if (!argv)
        return;
    for (size_t i = 0; argv[i]; i++)
        free(argv[i]);
    free(argv);
}

/* ---- steps and kills ---- */

int sb_step_reap(struct sb_job *job)
{
    int r;

    if (!job || !job->cg)
        return 0;
    r = sb_cg_step_finish(job->cg, &job->last);
    job->have_last = true;
    return r;
}

int sb_job_kill(struct sb_job *job, int sig)
{
    if (!job || !job->cg)
        return 0;
    return sb_cg_job_kill(job->cg, sig);
}

int sb_step_result(const struct sb_job *job, struct sb_step_stats *ret)
{
    if (!job || !job->have_last)
        return -ENODATA;
    *ret = job->last;
    return 0;
}

static void human(char *buf, size_t len, uint64_t v, bool exact)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double d = (double)v;
    size_t u = 0;

    while (d >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        d /= 1024;
        u++;
    }
    if (exact && d == (double)(uint64_t)d)
        snprintf(buf, len, "%" PRIu64 " %s", (uint64_t)d, units[u]);
    else
        snprintf(buf, len, "%.1f %s", d, units[u]);
}

size_t sb_step_stats_message(const struct sb_step_stats *st, char *buf, size_t len)
{
    char limit[32], peak[32];
    int n;

    if (len == 0)
        return 0;
    buf[0] = '\0';
    if (!st->oom_killed && st->pids_limit_hit && st->pids_limit) {
        n = snprintf(buf, len, "pids limit of %" PRIu64 " reached: %" PRIu64 " forks refused",
                     st->pids_limit, st->pids_limit_hit);
        return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
    }
    if (!st->oom_killed)
        return 0;
    human(limit, sizeof(limit), st->memory_limit, true);
    human(peak, sizeof(peak), st->memory_peak, false);
    if (!st->memory_limit)
        n = snprintf(buf, len, "killed: out of memory (the kernel OOM killer ended a process)");
    else if (st->memory_peak)
        n = snprintf(buf, len, "killed: memory limit of %s reached (peak %s)", limit, peak);
    else
        n = snprintf(buf, len, "killed: memory limit of %s reached", limit);
    if (n < 0)
        return 0;
    return (size_t)n < len ? (size_t)n : len - 1;
}

int sb_job_slot(const struct sb_job *job, uid_t *ret_uid, gid_t *ret_gid, bool *ret_idmapped)
{
    if (!job || !job->sandboxed || !job->slot)
        return -ENOENT;
    *ret_uid = job->policy.slot_uid;
    *ret_gid = job->policy.slot_gid;
    if (ret_idmapped)
        *ret_idmapped = job->idmaps[0] != NULL;
    return 0;
}

const char *const *sb_job_degraded(const struct sb_job *job)
{
    return job->degraded;
}

const char *sb_job_summary(const struct sb_job *job)
{
    return job->summary;
}

const char *sb_job_home(const struct sb_job *job)
{
    if (!job || !job->sandboxed || !job->home[0])
        return NULL;
    return job->home;
}

const char *sb_job_step_socket(const struct sb_job *job)
{
    return job && job->sandboxed && job->serve && job->sock[0] ? job->sock : NULL;
}
