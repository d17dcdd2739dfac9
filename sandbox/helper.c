/*
 * gr-sandbox: started by the executor through uv_spawn for every step.
 *
 *   gr-sandbox [options] -- command [args...]
 *
 * The helper (root when the runner is root) joins the job's cgroups, unshares
 * the namespaces, and starts an init that is pid 1 of the new pid namespace.
 * The init builds the filesystem view and starts the step, which takes its
 * credentials, installs the seccomp filter and execs. The init reaps
 * orphans and reports the step's wait status; the helper forwards signals
 * and mirrors that status. When the step's main process ends, the init
 * exits and the kernel kills whatever is left in the pid namespace.
 *
 * Both children share the helper's memory (CLONE_VM; the step also
 * CLONE_VFORK, as posix_spawn does) because copying page tables is most of
 * a fork's cost. That is safe here because the helper is single-threaded,
 * nothing after the clones allocates, each process has its own stack, fd
 * table and signal handlers, and the helper and the init keep their
 * signal targets in separate variables.
 *
 * Failures before exec travel over a close-on-exec pipe as one record; the
 * helper prints "gr-sandbox: <what>: <path>: <error>" on the status fd
 * (--status-fd) or stderr and exits 125 (126/127: the command could not be
 * executed, as in the shell).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define EXIT_SETUP 125

/* One failure record, written in one write() by any process of the chain. */
struct fail_rec {
    int err;
    int code;
    char what[96];
    char path[SB_PATH];
};

static struct sb_hcfg cfg;           /* static: still reachable at exit for LeakSanitizer */
static volatile pid_t fwd_pid;       /* helper: the init */
static volatile pid_t init_step_pid; /* init: the step (a process group) */
static char *init_stack, *step_stack;

#define SB_STACK (256 * 1024)

struct child_args {
    struct sb_hcfg *c;
    int errfd;
    int stfd;
};
static const int fwd_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static void copy_str(char *dst, size_t len, const char *src)
{
    size_t n = src ? strlen(src) : 0;

    if (n >= len)
        n = len - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static void say(const char *what, const char *path, int err)
{
    int fd = cfg.status_fd >= 0 ? cfg.status_fd : STDERR_FILENO;

    dprintf(fd, "gr-sandbox: %s%s%s%s: %s\n", what, path && *path ? " '" : "", path ? path : "",
            path && *path ? "'" : "", strerror(err));
}

void sb__say(const struct sb_hcfg *c, const char *what, const char *path, int err)
{
    (void)c;
    say(what, path, err);
}

static int die(const char *what, const char *path, int err)
{
    say(what, path, err);
    return EXIT_SETUP;
}

/* From a child: report and _exit; the helper prints it. No malloc here. */
static void fail(int errfd, const char *what, const char *path, int err, int code)
{
    struct fail_rec rec;

    memset(&rec, 0, sizeof(rec));
    rec.err = err;
    rec.code = code;
    copy_str(rec.what, sizeof(rec.what), what);
    copy_str(rec.path, sizeof(rec.path), path);
    if (errfd >= 0)
        (void)!write(errfd, &rec, sizeof(rec));
    else
        say(what, path, err);
    _exit(code);
}

static void forward(int sig)
{
    int saved = errno;
    pid_t p = fwd_pid;

    if (p > 0)
        (void)kill(p, sig);
    errno = saved;
}

static void init_forward(int sig)
{
    int saved = errno;
    pid_t p = init_step_pid;

    if (p > 0 && kill(-p, sig) < 0)
        (void)kill(p, sig);
    errno = saved;
}

static void set_forwarding(void (*handler)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(fwd_sigs) / sizeof(fwd_sigs[0]); i++)
        (void)sigaction(fwd_sigs[i], &sa, NULL);
}

static void block_forwarded(int how)
{
    sigset_t set;

    sigemptyset(&set);
    for (size_t i = 0; i < sizeof(fwd_sigs) / sizeof(fwd_sigs[0]); i++)
        sigaddset(&set, fwd_sigs[i]);
    (void)sigprocmask(how, &set, NULL);
}

void sb__mark_fds_cloexec(void)
{
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
    for (int fd = 3; fd < 4096; fd++)
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* The step: the last process before exec. Never returns. */
static void step_exec(const struct sb_hcfg *c, int errfd)
{
    const char *what = "setsid";
    int r;

    if (setsid() < 0 && errno != EPERM)
        fail(errfd, what, NULL, errno, EXIT_SETUP);
    if (chdir(c->cwd) < 0)
        fail(errfd, "cannot enter the working directory", c->cwd, errno, EXIT_SETUP);
    sb__mark_fds_cloexec();
    r = sb_cred_enter(c, &what);
    if (r < 0)
        fail(errfd, what, NULL, -r, EXIT_SETUP);
    if (c->bpf) {
        r = sb_sc_install(c->bpf, c->bpf_len);
        if (r < 0)
            fail(errfd, "cannot install the seccomp filter", NULL, -r, EXIT_SETUP);
    }
    execvp(c->argv[0], c->argv);
    fail(errfd, "cannot execute", c->argv[0], errno, errno == ENOENT ? 127 : 126);
}

static void reset_signals(void)
{
    set_forwarding(SIG_DFL);
    block_forwarded(SIG_UNBLOCK);
}

static int step_entry(void *arg)
{
    struct child_args *a = arg;

    reset_signals();
    step_exec(a->c, a->errfd);
    return EXIT_SETUP;
}

/* pid 1 of the step's pid namespace; starts with the forwarded signals blocked. Never returns. */
static int init_entry(void *arg)
{
    struct child_args *a = arg;
    const struct sb_hcfg *c = a->c;
    int errfd = a->errfd, stfd = a->stfd;
    const char *path = NULL;
    int status = 0;
    pid_t pid, w;
    int r;

    set_forwarding(init_forward);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (c->ns_mnt) {
        r = sb_mnt_enter(c, &path);
        if (r < 0)
            fail(errfd, "cannot set up the filesystem view", path, -r, EXIT_SETUP);
    }
    /* returns once the step has exec'd or failed */
    pid = clone(step_entry, step_stack + SB_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, a);
    if (pid < 0)
        fail(errfd, "clone", NULL, errno, EXIT_SETUP);
    init_step_pid = pid;
    block_forwarded(SIG_UNBLOCK);
    close(errfd);
    for (;;) {
        w = waitpid(-1, &status, 0);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            status = 255 << 8;
            break;
        }
    }
    (void)!write(stfd, &status, sizeof(status));
    _exit(0);
    return 0;
}

/* Become what the step became: same exit code, or death by the same signal. */
int sb__mirror(int status)
{
    struct rlimit no_core = {0, 0};
    int sig;

    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (!WIFSIGNALED(status))
        return EXIT_SETUP;
    sig = WTERMSIG(status);
    (void)setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    reset_signals();
    (void)kill(getpid(), sig);
    return 128 + sig;
}

static ssize_t read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static int run_with_init(struct sb_hcfg *c)
{
    static struct child_args args; /* read by the children after this frame is gone */
    int errp[2], stp[2], status = 0;
    struct fail_rec rec;
    pid_t pid;

    if (pipe2(errp, O_CLOEXEC) < 0 || pipe2(stp, O_CLOEXEC) < 0)
        return die("pipe", NULL, errno);
    init_stack = mmap(NULL, 2 * SB_STACK, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (init_stack == MAP_FAILED)
        return die("mmap", NULL, errno);
    step_stack = init_stack + SB_STACK;
    args = (struct child_args){.c = c, .errfd = errp[1], .stfd = stp[1]};
    block_forwarded(SIG_BLOCK);
    pid = clone(init_entry, init_stack + SB_STACK, CLONE_VM | SIGCHLD, &args);
    if (pid < 0)
        return die("clone", NULL, errno);
    fwd_pid = pid;
    set_forwarding(forward);
    block_forwarded(SIG_UNBLOCK);
    close(errp[1]);
    close(stp[1]);
    if (read_full(errp[0], &rec, sizeof(rec)) == (ssize_t)sizeof(rec)) {
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
        say(rec.what, rec.path, rec.err);
        return rec.code;
    }
    if (read_full(stp[0], &status, sizeof(status)) != (ssize_t)sizeof(status))
        status = 255 << 8;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    close(errp[0]);
    close(stp[0]);
    return sb__mirror(status);
}

/* pid 1 of the job's namespaces: builds the filesystem view once, then only reaps. */
static int job_init_entry(void *arg)
{
    struct child_args *a = arg;
    const char *path = NULL;
    sigset_t chld;
    int r;

    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (a->c->ns_mnt) {
        r = sb_mnt_enter(a->c, &path);
        if (r < 0)
            fail(a->errfd, "cannot set up the filesystem view", path, -r, EXIT_SETUP);
    }
    close(a->errfd);
    close(a->c->status_fd);
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    (void)sigprocmask(SIG_BLOCK, &chld, NULL);
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        (void)sigwaitinfo(&chld, NULL);
    }
    return 0;
}

/*
 * --job-init: start the job's init in fresh namespaces, print its pid on
 * the status fd once the filesystem view stands, and live as long as it.
 * Killing this process kills the init (parent-death signal) and with it
 * every process of the job's pid namespace.
 */
static int run_job_init(struct sb_hcfg *c)
{
    static struct child_args args;
    struct fail_rec rec;
    int errp[2];
    pid_t pid;

    if (c->status_fd < 0)
        return die("--job-init needs --status-fd", NULL, EINVAL);
    (void)sb__write_file("/proc/self/oom_score_adj", "-1000", false);
    if (c->socket) {
        const char *what = NULL;
        int r = sb_stepd_enter_init(c, &what);

        if (r < 0)
            return die("cannot join the job's init cgroup", what, -r);
    }
    if (pipe2(errp, O_CLOEXEC) < 0)
        return die("pipe", NULL, errno);
    init_stack = mmap(NULL, SB_STACK, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (init_stack == MAP_FAILED)
        return die("mmap", NULL, errno);
    args = (struct child_args){.c = c, .errfd = errp[1], .stfd = -1};
    pid = clone(job_init_entry, init_stack + SB_STACK, SIGCHLD, &args);
    if (pid < 0)
        return die("clone", NULL, errno);
    close(errp[1]);
    if (read_full(errp[0], &rec, sizeof(rec)) == (ssize_t)sizeof(rec)) {
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
        say(rec.what, rec.path, rec.err);
        return rec.code;
    }
    close(errp[0]);
    /* "<pid>", then " idmap=<errno>" when the --idmap paths are bound plainly */
    if (c->idmap_err)
        dprintf(c->status_fd, "%ld idmap=%d\n", (long)pid, c->idmap_err);
    else
        dprintf(c->status_fd, "%ld\n", (long)pid);
    close(c->status_fd);
    c->status_fd = -1;
    /* outside the job's pid namespace, its children inside: steps cannot see or signal it */
    if (c->socket)
        sb_stepd_serve(c, pid);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

/* --join: the step starts in the job init's namespaces (pid 2, 3, ... of the job). */
static int run_joined(struct sb_hcfg *c)
{
    static struct child_args args;
    int errp[2], status = 0;
    struct fail_rec rec;
    pid_t pid;

    if (pipe2(errp, O_CLOEXEC) < 0)
        return die("pipe", NULL, errno);
    step_stack = mmap(NULL, SB_STACK, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (step_stack == MAP_FAILED)
        return die("mmap", NULL, errno);
    args = (struct child_args){.c = c, .errfd = errp[1], .stfd = -1};
    block_forwarded(SIG_BLOCK);
    /* returns once the step has exec'd or failed */
    pid = clone(step_entry, step_stack + SB_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
    if (pid < 0)
        return die("clone", NULL, errno);
    init_step_pid = pid;
    set_forwarding(init_forward);
    block_forwarded(SIG_UNBLOCK);
    close(errp[1]);
    if (read_full(errp[0], &rec, sizeof(rec)) == (ssize_t)sizeof(rec)) {
        (void)waitpid(pid, NULL, 0);
        say(rec.what, rec.path, rec.err);
        return rec.code;
    }
    close(errp[0]);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return die("waitpid", NULL, errno);
    }
    return sb__mirror(status);
}

/* Enter the job init's namespaces; mnt last (it changes what /proc shows). */
static int join_job(const struct sb_hcfg *c, const char **ret_what)
{
    static const char *const names[] = {"ipc", "uts", "net", "pid", "cgroup", "mnt"};
    int fds[6];
    size_t n = 0;
    char p[64];
    int r = 0;

    for (; n < sizeof(names) / sizeof(names[0]); n++) {
        snprintf(p, sizeof(p), "/proc/%ld/ns/%s", (long)c->join, names[n]);
        *ret_what = names[n];
        fds[n] = open(p, O_RDONLY | O_CLOEXEC);
        if (fds[n] < 0) {
            r = -errno;
            break;
        }
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        *ret_what = names[i];
        if (setns(fds[i], 0) < 0)
            r = -errno;
    }
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
    /* the job's cgroup namespace (rooted at the job's cgroup) came with the others */
    return r;
}

static int parse_u64(const char *s, uint64_t *ret)
{
    char *end;

    errno = 0;
    *ret = strtoull(s, &end, 10);
    return errno || *end || end == s ? -EINVAL : 0;
}

static int parse_ns(struct sb_hcfg *c, const char *list)
{
    static const struct {
        const char *name;
        size_t off;
    } ns[] = {
        {"mnt", offsetof(struct sb_hcfg, ns_mnt)}, {"pid", offsetof(struct sb_hcfg, ns_pid)},
        {"net", offsetof(struct sb_hcfg, ns_net)}, {"ipc", offsetof(struct sb_hcfg, ns_ipc)},
        {"uts", offsetof(struct sb_hcfg, ns_uts)}, {"cgroup", offsetof(struct sb_hcfg, ns_cgroup)},
    };

    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        bool found = false;

        for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
            if (strlen(ns[i].name) == n && strncmp(p, ns[i].name, n) == 0) {
                *(bool *)((char *)c + ns[i].off) = true;
                found = true;
            }
        }
        if (!found)
            return -EINVAL;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int add_list(const char ***list, size_t *n, const char *v)
{
    const char **l = realloc(*list, (*n + 1) * sizeof(*l));

    if (!l)
        return -ENOMEM;
    l[(*n)++] = v;
    *list = l;
    return 0;
}

static int parse_opt(struct sb_hcfg *c, const char *opt, const char *v)
{
    uint64_t n;

    if (strcmp(opt, "--cgroup2") == 0)
        c->cg2 = v;
    else if (strcmp(opt, "--cgroup1") == 0 && c->n_cg1 < SB_CTL_N)
        c->cg1[c->n_cg1++] = v;
    else if (strcmp(opt, "--seccomp") == 0)
        c->seccomp = v;
    else if (strcmp(opt, "--tmp") == 0)
        c->tmp = v;
    else if (strcmp(opt, "--empty") == 0)
        c->empty = v;
    else if (strcmp(opt, "--mask") == 0)
        return add_list(&c->mask, &c->n_mask, v);
    else if (strcmp(opt, "--rw") == 0)
        return add_list(&c->rw, &c->n_rw, v);
    else if (strcmp(opt, "--idmap") == 0)
        return add_list(&c->idmap, &c->n_idmap, v);
    else if (strcmp(opt, "--idmap-ro") == 0 && c->n_idmap < SB_MAX_IDMAP) {
        c->idmap_ro[c->n_idmap] = true;
        return add_list(&c->idmap, &c->n_idmap, v);
    } else if (strcmp(opt, "--ns") == 0)
        return parse_ns(c, v);
    else if (strcmp(opt, "--home") == 0)
        c->home = v;
    else if (strcmp(opt, "--home-from") == 0)
        c->home_from = v;
    else if (strcmp(opt, "--socket") == 0)
        c->socket = v;
    else if (strcmp(opt, "--connect") == 0)
        c->connect = v;
    else if (strcmp(opt, "--init-cgroup2") == 0)
        c->init_cg2 = v;
    else if (strcmp(opt, "--step-cgroup2") == 0)
        c->step_cg2 = v;
    else if (strcmp(opt, "--init-cgroup1") == 0)
        c->init_cg1 = v;
    else if (strcmp(opt, "--step-cgroup1") == 0)
        c->step_cg1 = v;
    else if (parse_u64(v, &n) < 0)
        return -EINVAL;
    else if (strcmp(opt, "--uid") == 0)
        c->uid = (uid_t)n, c->set_ids = true;
    else if (strcmp(opt, "--gid") == 0)
        c->gid = (gid_t)n;
    else if (strcmp(opt, "--idmap-uid") == 0)
        c->idmap_uid = (uid_t)n;
    else if (strcmp(opt, "--idmap-gid") == 0)
        c->idmap_gid = (gid_t)n;
    else if (strcmp(opt, "--nofile") == 0)
        c->nofile = n;
    else if (strcmp(opt, "--nproc") == 0)
        c->nproc = n;
    else if (strcmp(opt, "--status-fd") == 0)
        c->status_fd = (int)n;
    else if (strcmp(opt, "--join") == 0 && n > 0)
        c->join = (pid_t)n;
    else
        return -EINVAL;
    return 0;
}

static int parse_args(struct sb_hcfg *c, int argc, char **argv)
{
    int i = 1;

    c->status_fd = -1;
    c->listen_fd = c->step_cg2_fd = c->step_cg1_fd = c->host_proc_fd = -1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--ro-root") == 0) {
            c->ro_root = true;
            continue;
        }
        if (strcmp(argv[i], "--job-init") == 0) {
            c->job_init = true;
            continue;
        }
        if (strcmp(argv[i], "--cgroup-flat") == 0) {
            c->cgroup_flat = true;
            continue;
        }
        if (i + 1 >= argc || parse_opt(c, argv[i], argv[i + 1]) < 0) {
            say("invalid option", argv[i], EINVAL);
            return -EINVAL;
        }
        i++;
    }
    if (i + 1 >= argc) {
        say("usage: gr-sandbox [options] -- command [args...]", NULL, EINVAL);
        return -EINVAL;
    }
    c->argv = argv + i + 1;
    return 0;
}

static int load_filter(struct sb_hcfg *c)
{
    struct stat st;
    int fd = open(c->seccomp, O_RDONLY | O_CLOEXEC);
    int r = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > 65536) {
        close(fd);
        return -EINVAL;
    }
    c->bpf = malloc((size_t)st.st_size);
    if (!c->bpf)
        r = -ENOMEM;
    else if (read_full(fd, c->bpf, (size_t)st.st_size) != st.st_size)
        r = -EIO;
    c->bpf_len = (size_t)st.st_size;
    close(fd);
    return r;
}

static int ns_flags(const struct sb_hcfg *c)
{
    return (c->ns_mnt ? CLONE_NEWNS : 0) | (c->ns_pid ? CLONE_NEWPID : 0) |
           (c->ns_net ? CLONE_NEWNET : 0) | (c->ns_ipc ? CLONE_NEWIPC : 0) |
           (c->ns_uts ? CLONE_NEWUTS : 0) | (c->ns_cgroup ? CLONE_NEWCGROUP : 0);
}

static int prepare(struct sb_hcfg *c)
{
    const char *failed = NULL;
    uint64_t last = 40;
    char buf[32];
    int r;

    if (c->status_fd >= 0)
        (void)fcntl(c->status_fd, F_SETFD, FD_CLOEXEC);
    if (c->socket && !c->job_init)
        return die("--socket needs --job-init", NULL, EINVAL);
    if (c->socket) {
        r = sb_stepd_prepare(c, &failed);
        if (r < 0)
            return die("cannot set up the job's step socket", failed, -r);
    }
    r = c->seccomp ? load_filter(c) : 0;
    if (r < 0)
        return die("cannot read the seccomp filter", c->seccomp, -r);
    if (!getcwd(c->cwd, sizeof(c->cwd)))
        return die("getcwd", NULL, errno);
    if (sb__read_file("/proc/sys/kernel/cap_last_cap", buf, sizeof(buf)) > 0)
        (void)sb__read_u64("/proc/sys/kernel/cap_last_cap", &last);
    c->cap_last = (int)last;
    r = c->cgroup_flat ? sb_cg_job_enter(c->cg2, c->cg1, c->n_cg1, false, getpid(), &failed)
                       : sb_cg_step_enter(c->cg2, c->cg1, c->n_cg1, false, getpid(), &failed);
    if (r < 0)
        return die("cannot join the job cgroup", failed, -r);
    (void)sb__write_file("/proc/self/oom_score_adj", "500", false);
    if (c->home) {
        const char *h = getenv("HOME");

        if ((!h || !c->home_from || strcmp(h, c->home_from) == 0) && setenv("HOME", c->home, 1) < 0)
            return die("setenv", "HOME", errno);
    }
    if (c->join) {
        r = join_job(c, &failed);
        if (r < 0)
            return die("cannot join the job's namespace", failed, -r);
        return 0;
    }
    if (c->n_idmap)
        sb_mnt_idmap_prepare(c); /* in the host's namespaces: needs the host's /proc */
    /* a slot that cannot write its idmapped paths is no use: steps the init serves run as
     * root without capabilities (the job drops its slot on the report) */
    if (c->idmap_err)
        c->set_ids = false;
    if (ns_flags(c) && unshare(ns_flags(c)) < 0)
        return die("cannot create namespaces", NULL, errno);
    r = c->ns_net ? sb_net_lo_up() : 0;
    if (r < 0)
        return die("cannot bring up loopback", "lo", -r);
    return 0;
}

int sb__helper_main(int argc, char **argv)
{
    const char *path = NULL;
    int r;

    if (parse_args(&cfg, argc, argv) < 0)
        return EXIT_SETUP;
    if (cfg.connect)
        return sb_stepd_client(&cfg);
    if (cfg.job_init)
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    r = prepare(&cfg);
    if (r != 0)
        return r;
    if (cfg.job_init)
        return run_job_init(&cfg);
    if (cfg.join)
        return run_joined(&cfg);
    if (cfg.ns_pid)
        return run_with_init(&cfg);
    if (cfg.ns_mnt) {
        r = sb_mnt_enter(&cfg, &path);
        if (r < 0)
            return die("cannot set up the filesystem view", path, -r);
    }
    step_exec(&cfg, -1);
    return EXIT_SETUP;
}
