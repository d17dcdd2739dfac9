/*
 * The step server: the job's init (pid 1 of the job's namespaces, built
 * once per job by `gr-sandbox --job-init`) starts every step of the job
 * itself, so a step pays for no namespace entry, no mount, no cgroup
 * namespace and no filter read: the init forks (a small static process:
 * few page tables), the child moves itself into the job's step/ cgroup,
 * takes the slot's credentials, installs the filter compiled once per job
 * and execs.
 *
 * Not clone3(CLONE_INTO_CGROUP): on 6.14 to 6.18 kernels it takes the
 * cgroup.kill sequence number of the parent's cgroup and compares it with
 * the target's, so once step/ has been killed (a step's leftovers) every
 * child cloned into it is SIGKILLed at birth. The migration it saves is
 * one write of a cgroup without controllers.
 *
 * The executor still starts one process per step, `gr-sandbox --connect
 * SOCK -- cmd...` (the client): it sends its stdin/stdout/stderr (SCM_RIGHTS),
 * its working directory (a path: resolved in the job's mount namespace,
 * never an fd from the host's), argv and environment over the job's unix
 * socket, forwards the signals it gets, and mirrors the step's wait status.
 *
 * The socket lives in the job's private dir (root, 0700) and the init only
 * serves peers that it cannot see in its pid namespace (SO_PEERCRED pid 0)
 * and that are root: the host side, never a step.
 *
 * Wire format (SOCK_STREAM): client -> init: struct req_hdr then len bytes
 * "cwd\0argv...\0env...\0", the three fds on the first byte; then any
 * number of struct msg {MSG_SIGNAL, sig}. init -> client: struct msg
 * {MSG_EXIT, wait status} or {MSG_FAIL, 0} followed by a struct sb_fail.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define REQ_MAGIC 0x62737267u /* "grsb" */
#define REQ_MAX (64u << 20)
#define MAX_CONNS 64
#define EXIT_SETUP 125

enum { MSG_EXIT = 1, MSG_FAIL = 2, MSG_SIGNAL = 3 };

struct req_hdr {
    uint32_t magic;
    uint32_t len;
    uint32_t argc;
    uint32_t envc;
};

struct msg {
    int32_t type;
    int32_t value;
};

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
static int req_parse(struct step_req *q, const struct req_hdr *h)
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
        char **v = calloc(counts[l] + 1, sizeof(*v));

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
    struct req_hdr h;
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
    if (n != (ssize_t)sizeof(h) || h.magic != REQ_MAGIC || h.len == 0 || h.len > REQ_MAX)
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

static void child_fail(int errfd, const char *what, const char *path, int err, int code)
{
    struct sb_fail f;

    memset(&f, 0, sizeof(f));
    f.err = err;
    f.code = code;
    snprintf(f.what, sizeof(f.what), "%s", what);
    snprintf(f.path, sizeof(f.path), "%s", path ? path : "");
    (void)!write(errfd, &f, sizeof(f));
    _exit(code);
}

static void set_home(const struct sb_hcfg *c)
{
    const char *h = getenv("HOME");

    if (c->home && (!h || !c->home_from || strcmp(h, c->home_from) == 0))
        (void)setenv("HOME", c->home, 1);
}

/* The step, in a forked copy of the init: never returns. */
static void step_child(const struct sb_hcfg *c, struct step_req *q, int errfd)
{
    extern char **environ;
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
    environ = q->envp;
    set_home(c);
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
}

/* Starts the step of q; 0 and the pid, or a failure record for the client. */
static int start_step(const struct sb_hcfg *c, struct step_req *q, pid_t *ret, struct sb_fail *f)
{
    int errp[2];
    pid_t pid;
    ssize_t n;

    memset(f, 0, sizeof(*f));
    f->code = EXIT_SETUP;
    if (pipe2(errp, O_CLOEXEC) < 0) {
        f->err = errno;
        snprintf(f->what, sizeof(f->what), "pipe");
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        close(errp[0]);
        step_child(c, q, errp[1]);
    }
    close(errp[1]);
    if (pid < 0) {
        f->err = errno;
        snprintf(f->what, sizeof(f->what), "cannot start the step");
        close(errp[0]);
        return -1;
    }
    /* EOF: exec'd (close-on-exec); a record: it failed and exits */
    do
        n = read(errp[0], f, sizeof(*f));
    while (n < 0 && errno == EINTR);
    close(errp[0]);
    if (n == (ssize_t)sizeof(*f))
        return -1;
    memset(f, 0, sizeof(*f));
    *ret = pid;
    return 0;
}

static void send_msg(int fd, int type, int value)
{
    struct msg m = {.type = type, .value = value};

    (void)write_all(fd, &m, sizeof(m));
}

static bool peer_is_host(int fd)
{
    struct ucred uc;
    socklen_t len = sizeof(uc);

    /* pid 0: not in our pid namespace, so not a step of this job */
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0 && uc.pid == 0 && uc.uid == 0;
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
    while (slot < MAX_CONNS && conns[slot].fd >= 0)
        slot++;
    if (slot == MAX_CONNS || !peer_is_host(fd) || req_read(fd, &q) < 0) {
        close(fd);
        req_free(&q);
        return;
    }
    if (start_step(c, &q, &pid, &f) < 0) {
        send_msg(fd, MSG_FAIL, 0);
        (void)write_all(fd, &f, sizeof(f));
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
    struct msg m;
    ssize_t n = read(k->fd, &m, sizeof(m));

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n != (ssize_t)sizeof(m) || m.type != MSG_SIGNAL || m.value <= 0 || m.value >= NSIG) {
        drop(k);
        return;
    }
    /* the step's process group, as a terminal would; the step alone if it left it */
    if (kill(-k->pid, m.value) < 0)
        (void)kill(k->pid, m.value);
}

static void reap(void)
{
    int status;
    pid_t w;

    while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < MAX_CONNS; i++) {
            if (conns[i].fd >= 0 && conns[i].pid == w) {
                send_msg(conns[i].fd, MSG_EXIT, status);
                conns[i].pid = 0;
                drop(&conns[i]);
            }
        }
    }
}

void sb_stepd_serve(struct sb_hcfg *c)
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
        reap();
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
    struct msg m = {.type = MSG_SIGNAL, .value = sig};

    if (client_fd >= 0)
        (void)!write(client_fd, &m, sizeof(m));
    errno = saved;
}

static int send_req(int fd, char **argv)
{
    extern char **environ;
    char cwd[SB_PATH], cbuf[CMSG_SPACE(3 * sizeof(int))];
    struct req_hdr h = {.magic = REQ_MAGIC};
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
    if (len > REQ_MAX)
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
    struct sb_fail f;
    struct msg m;
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
    if (r == 0 && m.type == MSG_EXIT) {
        client_fd = -1;
        return sb__mirror(m.value);
    }
    if (r == 0 && m.type == MSG_FAIL && read_all(fd, &f, sizeof(f)) == 0) {
        f.what[sizeof(f.what) - 1] = '\0';
        f.path[sizeof(f.path) - 1] = '\0';
        sb__say(c, f.what, f.path, f.err);
        return f.code > 0 && f.code < 256 ? f.code : EXIT_SETUP;
    }
    sb__say(c, "the job's sandbox ended the step", NULL, r < 0 ? -r : EPROTO);
    return EXIT_SETUP;
}
