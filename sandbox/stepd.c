/*
 * The step server: the `gr-sandbox --job-init` helper of a job (in the
 * job's mount, ipc, uts, net and cgroup namespaces, which it built once
 * with the job's init, but outside its pid namespace) starts every step of
 * the job itself, as children in the job's pid namespace (pid 2, 3, ...,
 * their parent invisible, orphans reaped by the job's init), so a step pays for no namespace entry,
 * no mount, no cgroup namespace and no filter read: the server clones a child that shares its
 * memory until exec (CLONE_VM|CLONE_VFORK, as posix_spawn does: no page
 * table copy, no copy-on-write faults), which moves itself into the job's
 * step/ cgroup, takes the slot's credentials, installs the filter compiled
 * once per job and execs. The child allocates nothing and changes no
 * memory of the init's but its own stack (the environment, HOME included,
 * is prepared before the clone).
 *
 * Not clone3(CLONE_INTO_CGROUP): on 6.14 to 6.18 kernels it takes the
 * cgroup.kill sequence number of the parent's cgroup and compares it with
 * the target's, so once step/ has been killed (a step's leftovers) every
 * child cloned into it is SIGKILLed at birth. The migration it saves is
 * one write of a cgroup without controllers.
 *
 * The client sends the step's stdin/stdout/stderr (SCM_RIGHTS), its
 * working directory (a path: resolved in the job's mount namespace, never an
 * fd from the host's), argv and environment over the job's unix socket,
 * forwards signals, and gets the step's wait status. The executor is the
 * client itself (step_conn.c, sb_stepc_*: no process of its own per step);
 * where it cannot connect it starts the wrapper, `gr-step --connect SOCK --
 * cmd...`, which does the same and mirrors the status.
 *
 * The socket lives in the job's private dir (root, 0700) and the server
 * only serves root peers outside the job's pid namespace (SO_PEERCRED, then
 * the peer's /proc/<pid>/ns/pid in the host's procfs): the runner, never a
 * step.
 *
 * The wire format is in stepd_wire.h. The clients: sb_stepc_* (step_conn.c,
 * in the runner), gr-step (step_client.c, no libc: a static glibc's start-up
 * alone costs more page faults than the rest of a step's sandbox) where it
 * builds, else `gr-sandbox --connect` (sb_stepd_client below).
 */
#include "internal.h"
#include "stepd_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CONNS 64
#define STEP_STACK (256 * 1024)
#define EXIT_SETUP 125

/* A setup failure, as the helper reports them (same record as helper.c's). */
struct sb_fail {
    int err;
    int code;
    char what[96];
    char path[SB_PATH];
};

struct conn {
    int fd;
    pid_t pid; /* the step, 0 while none */
};

static struct conn conns[MAX_CONNS];

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;

    while (len) {
        ssize_t n = read(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? -EPIPE : -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int open_dir(const char *path, int *ret)
{
    *ret = -1;
    if (!path)
        return 0;
    *ret = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return *ret < 0 ? -errno : 0;
}

static int write_procs(int dirfd, const char *path)
{
    int fd = dirfd >= 0 ? openat(dirfd, "cgroup.procs", O_WRONLY | O_CLOEXEC) : -1;
    int r = 0;

    if (!path)
        return 0;
    if (dirfd >= 0 && fd < 0)
        return -errno;
    if (fd < 0) {
        char p[SB_PATH];

        if (sb__path(p, sizeof(p), "%s/cgroup.procs", path) < 0)
            return -ENAMETOOLONG;
        fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
    }
    /* "0": the writing process, in whatever pid namespace it is */
    if (write(fd, "0", 1) != 1)
        r = -errno;
    close(fd);
    return r;
}

/*
 * In the host's namespaces, before the job's: the socket (bound to its path
 * on the host) and the step cgroups, which the init cannot reach by path
 * once its filesystem view stands.
 */
int sb_stepd_prepare(struct sb_hcfg *c, const char **ret_what)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int r;

    *ret_what = c->step_cg2;
    r = open_dir(c->step_cg2, &c->step_cg2_fd);
    if (r == 0) {
        *ret_what = c->step_cg1;
        r = open_dir(c->step_cg1, &c->step_cg1_fd);
    }
    if (r < 0)
        return r;
    *ret_what = "/proc";
    c->host_proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->host_proc_fd < 0)
        return -errno;
    *ret_what = c->socket;
    if (strlen(c->socket) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, c->socket, strlen(c->socket) + 1);
    c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->listen_fd < 0)
        return -errno;
    (void)unlink(c->socket);
    if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(c->socket, 0600) < 0 ||
        listen(c->listen_fd, 64) < 0)
        return -errno;
    return 0;
}

int sb_stepd_enter_init(struct sb_hcfg *c, const char **ret_what)
{
    int r;

    *ret_what = c->init_cg2;
    r = write_procs(-1, c->init_cg2);
    if (r == 0) {
        *ret_what = c->init_cg1;
        r = write_procs(-1, c->init_cg1);
    }
    return r;
}

/* ---- the init's side ---- */

struct step_req {
    int fds[3];
    char *buf;
    char *cwd;
    char **argv;
    char **envp;
};

static void req_free(struct step_req *q)
{
    for (int i = 0; i < 3; i++)
        if (q->fds[i] >= 0)
            close(q->fds[i]);
    free(q->buf);
    free(q->argv);
    free(q->envp);
}

/* Splits "cwd\0argv...\0env...\0" into q. */
static int req_parse(struct step_req *q, const struct sb_req_hdr *h)
{
    char *p = q->buf, *end = q->buf + h->len;
    char ***lists[2] = {&q->argv, &q->envp};
    uint32_t counts[2] = {h->argc, h->envc};

    if (h->argc == 0 || h->argc > h->len || h->envc > h->len)
        return -EINVAL;
    q->cwd = p;
    p = memchr(p, '\0', (size_t)(end - p));
    if (!p)
        return -EINVAL;
    p++;
    for (int l = 0; l < 2; l++) {
        char **v = calloc(counts[l] + 2, sizeof(*v)); /* + HOME (set_home) */

        if (!v)
            return -ENOMEM;
        *lists[l] = v;
        for (uint32_t i = 0; i < counts[l]; i++) {
            char *z = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;

            if (!z)
                return -EINVAL;
            v[i] = p;
            p = z + 1;
        }
    }
    return p == end ? 0 : -EINVAL;
}

static int req_read(int fd, struct step_req *q)
{
    char cbuf[CMSG_SPACE(3 * sizeof(int))];
    struct sb_req_hdr h;
    struct iovec iov = {.iov_base = &h, .iov_len = sizeof(h)};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    struct cmsghdr *cm;
    ssize_t n;

    do
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    while (n < 0 && errno == EINTR);
    for (cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
            cm->cmsg_len == CMSG_LEN(3 * sizeof(int)))
            memcpy(q->fds, CMSG_DATA(cm), 3 * sizeof(int));
    }
    if (n != (ssize_t)sizeof(h) || h.magic != SB_REQ_MAGIC || h.len == 0 || h.len > SB_REQ_MAX)
        return -EPROTO;
    if (q->fds[0] < 0 || q->fds[1] < 0 || q->fds[2] < 0)
        return -EPROTO;
    q->buf = malloc(h.len);
    if (!q->buf)
        return -ENOMEM;
    if (read_all(fd, q->buf, h.len) < 0 || q->buf[h.len - 1] != '\0')
        return -EPROTO;
    return req_parse(q, &h);
}

/* Straight into the init's record: the child shares its memory until exec (CLONE_VM). */
static void child_fail(struct sb_fail *f, const char *what, const char *path, int err, int code)
{
    f->err = err;
    snprintf(f->what, sizeof(f->what), "%s", what);
    snprintf(f->path, sizeof(f->path), "%s", path ? path : "");
    f->code = code; /* last: non-zero says the step failed */
    _exit(code);
}

/* HOME is the job's unless the workflow set its own (not the runner's). */
static void set_home(const struct sb_hcfg *c, struct step_req *q)
{
    static char home_env[SB_PATH + 8];
    size_t i = 0;

    if (!c->home)
        return;
    snprintf(home_env, sizeof(home_env), "HOME=%s", c->home);
    for (; q->envp[i]; i++) {
        if (strncmp(q->envp[i], "HOME=", 5) != 0)
            continue;
        if (c->home_from && strcmp(q->envp[i] + 5, c->home_from) == 0)
            q->envp[i] = home_env;
        return;
    }
    q->envp[i] = home_env; /* req_parse left room for it */
    q->envp[i + 1] = NULL;
}

struct child_args {
    const struct sb_hcfg *c;
    struct step_req *q;
    struct sb_fail *fail;
};

/* The step, sharing the init's memory until exec: never returns. */
static int step_child(void *arg)
{
    extern char **environ;
    const struct child_args *a = arg;
    const struct sb_hcfg *c = a->c;
    struct step_req *q = a->q;
    struct sb_fail *errfd = a->fail;
    const char *what = NULL;
    sigset_t none;
    int r;

    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    (void)setsid();
    for (int i = 0; i < 3; i++)
        if (dup2(q->fds[i], i) < 0)
            child_fail(errfd, "dup2", NULL, errno, EXIT_SETUP);
    if ((r = write_procs(c->step_cg2_fd, c->step_cg2)) < 0)
        child_fail(errfd, "cannot join the job's step cgroup", c->step_cg2, -r, EXIT_SETUP);
    if ((r = write_procs(c->step_cg1_fd, c->step_cg1)) < 0)
        child_fail(errfd, "cannot join the job's step cgroup", c->step_cg1, -r, EXIT_SETUP);
    (void)sb__write_file("/proc/self/oom_score_adj", "500", false);
    environ = q->envp; /* the init's too: it puts its own back */
    if (chdir(q->cwd) < 0)
        child_fail(errfd, "cannot enter the working directory", q->cwd, errno, EXIT_SETUP);
    sb__mark_fds_cloexec();
    r = sb_cred_enter(c, &what);
    if (r < 0)
        child_fail(errfd, what, NULL, -r, EXIT_SETUP);
    if (c->bpf && (r = sb_sc_install(c->bpf, c->bpf_len)) < 0)
        child_fail(errfd, "cannot install the seccomp filter", NULL, -r, EXIT_SETUP);
    execvp(q->argv[0], q->argv);
    child_fail(errfd, "cannot execute", q->argv[0], errno, errno == ENOENT ? 127 : 126);
    return EXIT_SETUP;
}

/*
 * Starts the step of q; 0 and the pid, or a failure record for the client. The
 * child reports a failure in *f itself: clone(CLONE_VFORK) returns once it has
 * exec'd (f untouched) or exited.
 */
static int start_step(const struct sb_hcfg *c, struct step_req *q, pid_t *ret, struct sb_fail *f)
{
    static char *stack;
    extern char **environ;
    char **saved = environ;
    struct child_args a;
    pid_t pid;

    memset(f, 0, sizeof(*f));
    if (!stack) {
        stack = mmap(NULL, STEP_STACK, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) {
            stack = NULL;
            f->err = errno;
            snprintf(f->what, sizeof(f->what), "mmap");
            return -1;
        }
    }
    set_home(c, q);
    a = (struct child_args){.c = c, .q = q, .fail = f};
    /* returns once the child has exec'd or failed */
    pid = clone(step_child, stack + STEP_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
    environ = saved;
    if (pid < 0) {
        f->err = errno;
        f->code = EXIT_SETUP;
        snprintf(f->what, sizeof(f->what), "cannot start the step");
        return -1;
    }
    if (__atomic_load_n(&f->code, __ATOMIC_ACQUIRE) != 0)
        return -1; /* it failed and exits: the reaper collects it */
    *ret = pid;
    return 0;
}

static void send_msg(int fd, int type, int value)
{
    struct sb_msg m = {.type = type, .value = value};

    (void)write_all(fd, &m, sizeof(m));
}

/* The failure as the helper says it, for the client to print. */
static void send_fail(int fd, const struct sb_fail *f)
{
    char text[SB_FAIL_TEXT_MAX];
    bool path = f->path[0] != '\0';
    int n = snprintf(text, sizeof(text), "gr-sandbox: %s%s%s%s: %s\n", f->what, path ? " '" : "",
                     f->path, path ? "'" : "", strerror(f->err));
    uint32_t len = n < 0 ? 0 : (uint32_t)n < sizeof(text) ? (uint32_t)n : sizeof(text) - 1;

    send_msg(fd, SB_MSG_FAIL, f->code > 0 && f->code < 256 ? f->code : EXIT_SETUP);
    (void)write_all(fd, &len, sizeof(len));
    (void)write_all(fd, text, len);
}

static bool peer_is_host(const struct sb_hcfg *c, int fd)
{
    static ino_t job_ns;
    struct ucred uc;
    socklen_t len = sizeof(uc);
    struct stat st;
    char p[64];

    if (!job_ns && fstatat(c->host_proc_fd, "self/ns/pid_for_children", &st, 0) == 0)
        job_ns = st.st_ino;
    if (!job_ns || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0 || uc.uid != 0 ||
        uc.pid <= 0)
        return false;
    snprintf(p, sizeof(p), "%ld/ns/pid", (long)uc.pid);
    return fstatat(c->host_proc_fd, p, &st, 0) == 0 && st.st_ino != job_ns;
}

static void accept_one(const struct sb_hcfg *c)
{
    struct step_req q = {.fds = {-1, -1, -1}};
    struct sb_fail f;
    size_t slot = 0;
    pid_t pid = 0;
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0)
        return;
    /* a client that stalls mid-request must not stall the job's other steps */
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){.tv_sec = 5},
                     sizeof(struct timeval));
    while (slot < MAX_CONNS && conns[slot].fd >= 0)
        slot++;
    if (slot == MAX_CONNS || !peer_is_host(c, fd) || req_read(fd, &q) < 0) {
        close(fd);
        req_free(&q);
        return;
    }
    if (start_step(c, &q, &pid, &f) < 0) {
        f.what[sizeof(f.what) - 1] = '\0';
        f.path[sizeof(f.path) - 1] = '\0';
        send_fail(fd, &f);
        close(fd);
    } else {
        conns[slot] = (struct conn){.fd = fd, .pid = pid};
    }
    req_free(&q);
}

static void drop(struct conn *k)
{
    if (k->pid > 0) {
        /* the client is gone (killed): so is its step */
        (void)kill(-k->pid, SIGKILL);
        (void)kill(k->pid, SIGKILL);
    }
    close(k->fd);
    *k = (struct conn){.fd = -1};
}

static void client_msg(struct conn *k)
{
    struct sb_msg m;
    ssize_t n = read(k->fd, &m, sizeof(m));

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n != (ssize_t)sizeof(m) || m.type != SB_MSG_SIGNAL || m.value <= 0 || m.value >= NSIG) {
        drop(k);
        return;
    }
    /* the step's process group, as a terminal would; the step alone if it left it */
    if (kill(-k->pid, m.value) < 0)
        (void)kill(k->pid, m.value);
}

static void reap(pid_t init)
{
    int status;
    pid_t w;

    while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
        if (w == init)
            _exit(0); /* the job's pid namespace is gone, and its steps with it */
        for (size_t i = 0; i < MAX_CONNS; i++) {
            if (conns[i].fd >= 0 && conns[i].pid == w) {
                send_msg(conns[i].fd, SB_MSG_EXIT, status);
                conns[i].pid = 0;
                drop(&conns[i]);
            }
        }
    }
}

/*
 * The bounding set once for every step (the server never execs, and its own
 * effective capabilities do not depend on it; children inherit it): each step's
 * sb_cred_enter() then has nothing left to drop, saving a prctl per capability.
 */
static void drop_bounding_set(struct sb_hcfg *c)
{
    for (int cap = 0; cap <= c->cap_last; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return; /* the steps drop it themselves, and fail as they would */
    c->cap_last = -1;
}

void sb_stepd_serve(struct sb_hcfg *c, pid_t init)
{
    struct pollfd pf[MAX_CONNS + 2];
    size_t map[MAX_CONNS];
    sigset_t chld;
    int sfd;

    for (size_t i = 0; i < MAX_CONNS; i++)
        conns[i] = (struct conn){.fd = -1};
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    (void)sigprocmask(SIG_BLOCK, &chld, NULL);
    sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (geteuid() == 0)
        drop_bounding_set(c);
    for (;;) {
        size_t n = 2;

        pf[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
        pf[1] = (struct pollfd){.fd = c->listen_fd, .events = POLLIN};
        for (size_t i = 0; i < MAX_CONNS; i++) {
            if (conns[i].fd < 0)
                continue;
            map[n - 2] = i;
            pf[n++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        }
        if (poll(pf, n, sfd < 0 ? 100 : -1) < 0 && errno != EINTR)
            continue;
        if (sfd >= 0 && (pf[0].revents & POLLIN)) {
            struct signalfd_siginfo si;

            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                ;
        }
        reap(init);
        for (size_t i = 2; i < n; i++) {
            struct conn *k = &conns[map[i - 2]];

            if (k->fd == pf[i].fd && (pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                client_msg(k);
        }
        if (pf[1].revents & POLLIN)
            accept_one(c);
    }
}

/* ---- the client (what the executor starts) ---- */

static volatile int client_fd = -1;
static const int fwd_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static void forward(int sig)
{
    int saved = errno;
    struct sb_msg m = {.type = SB_MSG_SIGNAL, .value = sig};

    if (client_fd >= 0)
        (void)!write(client_fd, &m, sizeof(m));
    errno = saved;
}

static int send_req(int fd, char **argv)
{
    extern char **environ;
    char cwd[SB_PATH], cbuf[CMSG_SPACE(3 * sizeof(int))];
    struct sb_req_hdr h = {.magic = SB_REQ_MAGIC};
    size_t len, off = 0;
    char *buf;
    int r;

    if (!getcwd(cwd, sizeof(cwd)))
        return -errno;
    len = strlen(cwd) + 1;
    for (char **a = argv; *a; a++, h.argc++)
        len += strlen(*a) + 1;
    for (char **e = environ; e && *e; e++, h.envc++)
        len += strlen(*e) + 1;
    if (len > SB_REQ_MAX)
        return -E2BIG;
    buf = malloc(sizeof(h) + len);
    if (!buf)
        return -ENOMEM;
    h.len = (uint32_t)len;
    memcpy(buf, &h, sizeof(h));
    off = sizeof(h);
#define PUT(s)                                                                                     \
    do {                                                                                           \
        size_t l_ = strlen(s) + 1;                                                                 \
        memcpy(buf + off, s, l_);                                                                  \
        off += l_;                                                                                 \
    } while (0)
    PUT(cwd);
    for (char **a = argv; *a; a++)
        PUT(*a);
    for (char **e = environ; e && *e; e++)
        PUT(*e);
#undef PUT
    {
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(h)};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        int fds[3] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};

        memset(cbuf, 0, sizeof(cbuf));
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(fds));
        memcpy(CMSG_DATA(cm), fds, sizeof(fds));
        r = sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(h) ? 0 : -EIO;
    }
    if (r == 0)
        r = write_all(fd, buf + sizeof(h), len);
    free(buf);
    return r;
}

int sb_stepd_client(struct sb_hcfg *c)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct sigaction act;
    char text[SB_FAIL_TEXT_MAX];
    struct sb_msg m;
    uint32_t len = 0;
    sigset_t set;
    int fd, r;

    if (strlen(c->connect) >= sizeof(sa.sun_path)) {
        sb__say(c, "socket path too long", c->connect, ENAMETOOLONG);
        return EXIT_SETUP;
    }
    memcpy(sa.sun_path, c->connect, strlen(c->connect) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        sb__say(c, "cannot reach the job's sandbox", c->connect, errno);
        return EXIT_SETUP;
    }
    memset(&act, 0, sizeof(act));
    act.sa_handler = forward;
    act.sa_flags = SA_RESTART;
    sigemptyset(&act.sa_mask);
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof(fwd_sigs) / sizeof(fwd_sigs[0]); i++) {
        (void)sigaction(fwd_sigs[i], &act, NULL);
        sigaddset(&set, fwd_sigs[i]);
    }
    /* a signal that came before the request waits until the init knows the step */
    (void)sigprocmask(SIG_BLOCK, &set, NULL);
    client_fd = fd;
    (void)signal(SIGPIPE, SIG_IGN);
    r = send_req(fd, c->argv);
    if (r < 0) {
        sb__say(c, "cannot start the step", c->argv[0], -r);
        return EXIT_SETUP;
    }
    (void)sigprocmask(SIG_UNBLOCK, &set, NULL);
    r = read_all(fd, &m, sizeof(m));
    if (r == 0 && m.type == SB_MSG_EXIT) {
        client_fd = -1;
        return sb__mirror(m.value);
    }
    if (r == 0 && m.type == SB_MSG_FAIL && read_all(fd, &len, sizeof(len)) == 0 &&
        len < sizeof(text) && read_all(fd, text, len) == 0) {
        (void)write_all(STDERR_FILENO, text, len);
        return m.value > 0 && m.value < 256 ? m.value : EXIT_SETUP;
    }
    sb__say(c, "the job's sandbox ended the step", NULL, r < 0 ? -r : EPROTO);
    return EXIT_SETUP;
}
