/*
 * Containment, end to end: real steps started through the gr-sandbox helper
 * exactly as the executor does (sb_wrap_command, then exec), probing from
 * inside. The probes are this executable re-run with "--probe <name>"; each
 * prints one line and exits 0 when the sandbox held.
 *
 * Needs root, a kernel with namespaces and the built helper; skips otherwise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sb.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOT_UID 64011
#define MEM_LIMIT (64ull << 20)
#define PIDS_LIMIT 48

static char self_exe[4096];
static char secret_dir[1024];
static char secret_file[1024];
static char work_dir[1100]; /* rw, inside the masked secret_dir */
static char ws_dir[1100];   /* rw, elsewhere on the read-only root */

/* ---- probes: run inside the sandbox ---- */

static int expect_errno(const char *what, long rc, int want)
{
    int err = errno;

    printf("%s: rc=%ld errno=%d\n", what, rc, rc < 0 ? err : 0);
    fflush(stdout);
    return rc < 0 && err == want ? 0 : 1;
}

static int probe_syscalls(void)
{
    int bad = 0;
    char buf[16];

    bad |= expect_errno("mount", mount("none", "/mnt", "tmpfs", 0, NULL), EPERM);
    bad |= expect_errno("umount", umount2("/proc", MNT_DETACH), EPERM);
    bad |= expect_errno("unshare-mnt", unshare(CLONE_NEWNS), EPERM);
    bad |= expect_errno("unshare-user", unshare(CLONE_NEWUSER), EPERM);
    bad |= expect_errno("setns", setns(0, 0), EPERM);
    bad |= expect_errno("ptrace-parent", ptrace(PTRACE_ATTACH, getppid(), 0, 0), EPERM);
    bad |= expect_errno("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0), EPERM);
    bad |= expect_errno("init_module", syscall(SYS_init_module, NULL, 0, ""), EPERM);
    bad |= expect_errno("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, NULL, 0), EPERM);
    bad |= expect_errno("keyctl", syscall(SYS_keyctl, 0, -3, 0), EPERM);
    bad |= expect_errno("add_key", syscall(SYS_add_key, "user", "k", "v", 1, -3), EPERM);
    /* reboot with a bad magic gives EINVAL unless the filter answers first */
    bad |= expect_errno("reboot", syscall(SYS_reboot, 0, 0, 0, NULL), EPERM);
    bad |= expect_errno("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), EPERM);
    bad |= expect_errno("open_by_handle_at", syscall(SYS_open_by_handle_at, -1, NULL, 0), EPERM);
    bad |= expect_errno("clone3", syscall(SYS_clone3, NULL, 0), ENOSYS);
    bad |= expect_errno("swapon", syscall(SYS_swapon, "/x", 0), EPERM);
    bad |= expect_errno("write-etc",
                        open("/etc/gr-sandbox-probe", O_CREAT | O_WRONLY | O_CLOEXEC, 0600), EROFS);
    snprintf(buf, sizeof(buf), "%d", 1);
    return bad;
}

static int probe_status(void)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "re");
    int seen = 0, bad = 0;

    if (!f)
        return 2;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Cap", 3) == 0) {
            seen++;
            bad |= strstr(line, "0000000000000000") == NULL;
        } else if (strncmp(line, "NoNewPrivs:", 11) == 0) {
            seen++;
            bad |= strstr(line, "1") == NULL;
        } else if (strncmp(line, "Seccomp:", 8) == 0) {
            seen++;
            bad |= strstr(line, "2") == NULL;
        }
    }
    fclose(f);
    printf("status: seen=%d bad=%d uid=%d pid=%d\n", seen, bad, (int)getuid(), (int)getpid());
    /* the job's pid namespace: its init is 1, the job's steps come after it */
    return seen == 7 && !bad && getuid() == SLOT_UID && getpid() > 1 && getpid() < 64 ? 0 : 1;
}

static int probe_read(const char *path)
{
    char buf[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));

    printf("read %s: fd=%d n=%zd errno=%d\n", path, fd, n, errno);
    if (fd >= 0)
        close(fd);
    return n > 0 ? 1 : 0;
}

static int probe_forkbomb(void)
{
    int n = 0;

    for (; n < 10000; n++) {
        pid_t p = fork();

        if (p == 0) {
            pause();
            _exit(0);
        }
        if (p < 0)
            break;
    }
    printf("forks=%d errno=%d\n", n, errno);
    return n < 10000 && errno == EAGAIN ? 0 : 1;
}

static int probe_memhog(void)
{
    size_t chunk = 8 << 20;

    for (int i = 0; i < 256; i++) {
        char *p = malloc(chunk);

        if (!p)
            return 3;
        memset(p, i + 1, chunk);
    }
    printf("memhog survived\n");
    return 1;
}

/* A double-forked, setsid'd daemon that ignores signals, holding stdout open. */
static int probe_daemon(void)
{
    pid_t p = fork();

    if (p == 0) {
        if (fork() == 0) {
            setsid();
            signal(SIGTERM, SIG_IGN);
            signal(SIGHUP, SIG_IGN);
            for (;;)
                pause();
        }
        _exit(0);
    }
    waitpid(p, NULL, 0);
    printf("daemon started\n");
    return 0;
}

static int probe_net(void)
{
    struct if_nameindex *ifs = if_nameindex();
    struct ifreq ifr;
    int n = 0, lo_up = 0, fd;

    for (struct if_nameindex *i = ifs; i && i->if_index; i++, n++)
        printf("if %s\n", i->if_name);
    if (ifs)
        if_freenameindex(ifs);
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0)
        lo_up = (ifr.ifr_flags & IFF_UP) != 0;
    printf("interfaces=%d lo_up=%d\n", n, lo_up);
    return n == 1 && lo_up ? 0 : 1;
}

static int probe_write(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

    printf("write %s: fd=%d errno=%d\n", path, fd, fd < 0 ? errno : 0);
    if (fd < 0)
        return 1;
    close(fd);
    return 0;
}

static int probe_tmp(void)
{
    int fd = open("/tmp/gr-sandbox-private", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

    printf("tmp fd=%d\n", fd);
    return fd >= 0 ? 0 : 1;
}

static int probe_sleep(void)
{
    printf("sleeping\n");
    fflush(stdout);
    for (;;)
        pause();
    return 1;
}

/* Opens the fake NVIDIA nodes in dir: errno per node (ENXIO: allowed, no driver; EPERM: denied). */
static int probe_devopen(const char *dir)
{
    static const char *const nodes[] = {"nvidia0", "nvidia1", "nvidiactl"};
    char p[4200];

    for (size_t i = 0; i < 3; i++) {
        int fd;

        snprintf(p, sizeof(p), "%s/%s", dir, nodes[i]);
        errno = 0;
        fd = open(p, O_RDWR | O_CLOEXEC);
        printf("open %s: errno=%d\n", nodes[i], fd < 0 ? errno : 0);
        if (fd >= 0)
            close(fd);
    }
    errno = 0;
    printf("open null: errno=%d\n", open("/dev/null", O_RDWR | O_CLOEXEC) < 0 ? errno : 0);
    return 0;
}

/* The step's cgroup namespace: its inode, and where the step sits inside it. */
static int probe_cgroupns(void)
{
    char ns[64] = "", line[512];
    FILE *f = fopen("/proc/self/cgroup", "re");
    ssize_t n = readlink("/proc/self/ns/cgroup", ns, sizeof(ns) - 1);

    if (n > 0)
        ns[n] = '\0';
    printf("ns %s\n", ns);
    while (f && fgets(line, sizeof(line), f))
        printf("cg %s", line);
    if (f)
        fclose(f);
    return n > 0 && f ? 0 : 1;
}

static int run_probe(int argc, char **argv)
{
    const char *name = argv[2];

    if (strcmp(name, "ok") == 0)
        return 0;
    if (strcmp(name, "syscalls") == 0)
        return probe_syscalls();
    if (strcmp(name, "status") == 0)
        return probe_status();
    if (strcmp(name, "read") == 0 && argc > 3)
        return probe_read(argv[3]);
    if (strcmp(name, "forkbomb") == 0)
        return probe_forkbomb();
    if (strcmp(name, "memhog") == 0)
        return probe_memhog();
    if (strcmp(name, "daemon") == 0)
        return probe_daemon();
    if (strcmp(name, "net") == 0)
        return probe_net();
    if (strcmp(name, "tmp") == 0)
        return probe_tmp();
    if (strcmp(name, "write") == 0 && argc > 3)
        return probe_write(argv[3]);
    if (strcmp(name, "sleep") == 0)
        return probe_sleep();
    if (strcmp(name, "cgroupns") == 0)
        return probe_cgroupns();
    if (strcmp(name, "devopen") == 0 && argc > 3)
        return probe_devopen(argv[3]);
    return 100;
}

/* ---- the test side ---- */

struct run {
    int status;
    char out[8192];
};

static struct sb_policy test_policy(bool net_none)
{
    static const char *masks[3], *rws[3];

    masks[0] = secret_dir;
    masks[1] = secret_file;
    masks[2] = NULL;
    rws[0] = work_dir;
    rws[1] = ws_dir;
    rws[2] = NULL;
    return (struct sb_policy){
        .memory_max = MEM_LIMIT,
        .pids_max = PIDS_LIMIT,
        .slot_uid = SLOT_UID,
        .slot_gid = SLOT_UID,
        .mask_paths = masks,
        .rw_paths = rws,
        .network_none = net_none,
    };
}

/*
 * Runs the "ok" probe through the helper: can this host set up the sandbox,
 * and can the slot uid reach this executable (a checkout under a 0700 home
 * cannot)?
 */
static bool helper_works(struct sb_job *j)
{
    char *argv[] = {self_exe, "--probe", "ok", NULL};
    char **w = NULL;
    int st = -1;
    pid_t pid;

    if (sb_wrap_command(j, argv, &w) < 0)
        return false;
    pid = fork();
    if (pid == 0) {
        execv(w[0], w);
        _exit(99);
    }
    sb_argv_free(w);
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return false;
    (void)sb_step_reap(j);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/*
 * Whether this host gives the sandbox what the test needs; prints
 * "skipped: <reason>" otherwise. needs: degraded-list words that must not appear.
 */
static bool usable(bool net_none, const char *const *needs)
{
    struct sb_policy p = test_policy(net_none);
    struct sb_job *j = NULL;
    const char *why = NULL;

    if (geteuid() != 0) {
        printf("skipped: needs root\n");
        return false;
    }
    if (sb_job_new("probe", &p, &j) < 0) {
        printf("skipped: %s\n", sb_last_error());
        return false;
    }
    for (const char *const *d = sb_job_degraded(j); *d && !why; d++)
        for (size_t i = 0; needs && needs[i] && !why; i++)
            if (strstr(*d, needs[i]))
                why = *d;
    if (!why && !helper_works(j))
        why = "gr-sandbox cannot set up the sandbox here, or the slot uid cannot run this test";
    if (why)
        printf("skipped: %s\n", why);
    sb_job_free(j);
    return why == NULL;
}

static const char *const need_pids[] = {"no cgroup", "no pids limit", NULL};
static const char *const need_memory[] = {"no cgroup", "no memory limit", NULL};
static const char *const need_kill[] = {"no cgroup", "tree kill", NULL};

/* Starts the probe in job like the executor would; stdout collected until EOF or timeout. */
static void run_in(struct sb_job *job, const char *probe, const char *arg, struct run *r,
                   int eof_timeout_ms)
{
    char *argv[] = {self_exe, "--probe", (char *)probe, (char *)arg, NULL};
    char **wrapped = NULL;
    int pfd[2];
    size_t got = 0;
    pid_t pid;

    assert_int_equal(sb_wrap_command(job, argv, &wrapped), 0);
    assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pfd[1], STDOUT_FILENO);
        execv(wrapped[0], wrapped);
        _exit(99);
    }
    close(pfd[1]);
    for (;;) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        ssize_t n;

        if (poll(&p, 1, eof_timeout_ms) <= 0)
            break;
        n = read(pfd[0], r->out + got, sizeof(r->out) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    r->out[got] = '\0';
    close(pfd[0]);
    assert_int_equal(waitpid(pid, &r->status, 0), pid);
    sb_argv_free(wrapped);
    printf("%s", r->out);
}

static struct sb_job *new_job(bool net_none)
{
    struct sb_policy p = test_policy(net_none);
    struct sb_job *j = NULL;

    assert_int_equal(sb_job_new("contain", &p, &j), 0);
    printf("%s\n", sb_job_summary(j));
    for (const char *const *d = sb_job_degraded(j); *d; d++)
        printf("degraded: %s\n", *d);
    return j;
}

static void check_exit0(const struct run *r)
{
    assert_true(WIFEXITED(r->status));
    assert_int_equal(WEXITSTATUS(r->status), 0);
}

static void test_syscalls_denied(void **state)
{
    struct sb_job *j;
    struct run r;

    if (!usable(false, NULL))
        skip();
    j = new_job(false);
    run_in(j, "syscalls", NULL, &r, 10000);
    check_exit0(&r);
    assert_int_equal(sb_step_reap(j), 0);
    run_in(j, "status", NULL, &r, 10000);
    check_exit0(&r);
    assert_int_equal(sb_step_reap(j), 0);
    sb_job_free(j);
}

static void test_masked_and_tmp(void **state)
{
    char path[4200], host_tmp[] = "/tmp/gr-sandbox-private";
    struct sb_job *j;
    struct run r;

    if (!usable(false, NULL))
        skip();
    (void)unlink(host_tmp);
    j = new_job(false);
    snprintf(path, sizeof(path), "%s/key.pem", secret_dir);
    assert_int_equal(access(path, R_OK), 0);
    run_in(j, "read", path, &r, 10000);
    check_exit0(&r);
    assert_non_null(strstr(r.out, "fd=-1 n=-1 errno=2")); /* the dir is an empty tmpfs */
    run_in(j, "read", secret_file, &r, 10000);
    check_exit0(&r);
    assert_non_null(strstr(r.out, " n=0 ")); /* the file is there, but empty */
    run_in(j, "tmp", NULL, &r, 10000);
    check_exit0(&r);
    assert_int_equal(access(host_tmp, F_OK), -1); /* went to the job's /tmp */
    /* writable paths, one of them inside the masked dir, reach the host */
    snprintf(path, sizeof(path), "%s/from-step", work_dir);
    run_in(j, "write", path, &r, 10000);
    check_exit0(&r);
    assert_int_equal(access(path, F_OK), 0);
    (void)unlink(path);
    snprintf(path, sizeof(path), "%s/from-step", ws_dir);
    run_in(j, "write", path, &r, 10000);
    check_exit0(&r);
    assert_int_equal(access(path, F_OK), 0);
    (void)unlink(path);
    /* the rest of the root is read-only, the masked dir's tmpfs too */
    snprintf(path, sizeof(path), "%s/planted", secret_dir);
    run_in(j, "write", path, &r, 10000);
    assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
    assert_int_equal(sb_step_reap(j), 0);
    sb_job_free(j);
}

static void test_forkbomb_bounded(void **state)
{
    struct sb_job *j;
    struct run r;
    int forks = 0;

    if (!usable(false, need_pids))
        skip();
    j = new_job(false);
    run_in(j, "forkbomb", NULL, &r, 30000);
    check_exit0(&r);
    assert_int_equal(sscanf(strstr(r.out, "forks="), "forks=%d", &forks), 1);
    assert_true(forks < PIDS_LIMIT);
    assert_int_equal(sb_step_reap(j), 0);
    sb_job_free(j);
}

static void test_memhog_oom_reported(void **state)
{
    struct sb_step_stats st;
    char msg[128];
    struct sb_job *j;
    struct run r;

    if (!usable(false, need_memory))
        skip();
    j = new_job(false);
    run_in(j, "memhog", NULL, &r, 30000);
    assert_true(WIFSIGNALED(r.status));
    assert_int_equal(WTERMSIG(r.status), SIGKILL);
    assert_int_equal(sb_step_reap(j), 0);
    assert_int_equal(sb_step_result(j, &st), 0);
    assert_true(st.oom_killed);
    assert_true(st.oom_kills >= 1);
    assert_int_equal(st.memory_limit, MEM_LIMIT);
    assert_true(sb_step_stats_message(&st, msg, sizeof(msg)) > 0);
    printf("%s\n", msg);
    assert_non_null(strstr(msg, "memory limit of 64 MiB reached"));
    /* the next step starts with a clean count */
    run_in(j, "tmp", NULL, &r, 10000);
    assert_int_equal(sb_step_reap(j), 0);
    assert_int_equal(sb_step_result(j, &st), 0);
    assert_false(st.oom_killed);
    sb_job_free(j);
}

static void test_daemon_gone_after_reap(void **state)
{
    struct sb_job *j;
    struct run r;

    if (!usable(false, NULL))
        skip();
    j = new_job(false);
    /* stdout reaches EOF only once the daemon, which holds it, is gone */
    run_in(j, "daemon", NULL, &r, 5000);
    check_exit0(&r);
    assert_non_null(strstr(r.out, "daemon started"));
    assert_int_equal(sb_step_reap(j), 0);
    /* the steps after a reap that had to kill run normally (the same step cgroup) */
    for (int i = 0; i < 2; i++) {
        run_in(j, "tmp", NULL, &r, 10000);
        check_exit0(&r);
        assert_int_equal(sb_step_reap(j), 0);
    }
    sb_job_free(j);
}

static void test_network_none(void **state)
{
    struct sb_job *j;
    struct run r;

    if (!usable(true, NULL))
        skip();
    j = new_job(true);
    run_in(j, "net", NULL, &r, 10000);
    check_exit0(&r);
    assert_int_equal(sb_step_reap(j), 0);
    sb_job_free(j);
}

static void test_setup_failure_reported(void **state)
{
    struct sb_job *j;
    struct run r;
    char *argv[] = {"/nonexistent/gr-probe", NULL};
    char **wrapped = NULL;
    int st;
    pid_t pid;

    if (!usable(false, NULL))
        skip();
    (void)r;
    j = new_job(false);
    assert_int_equal(sb_wrap_command(j, argv, &wrapped), 0);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

        dup2(null, STDERR_FILENO);
        execv(wrapped[0], wrapped);
        _exit(99);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 127);
    sb_argv_free(wrapped);
    assert_int_equal(sb_step_reap(j), 0);
    sb_job_free(j);
}

/* Starts the probe in the background; returns its pid and the read end of its stdout. */
static pid_t start_in(struct sb_job *job, const char *probe, bool no_pidns, int *ret_fd)
{
    char *argv[] = {self_exe, "--probe", (char *)probe, NULL};
    char **wrapped = NULL;
    int pfd[2];
    size_t w = 0;
    pid_t pid;

    assert_int_equal(sb_wrap_command(job, argv, &wrapped), 0);
    /* without a pid namespace only the cgroup holds the step's processes */
    for (size_t i = 0; wrapped[i]; i++) {
        if (no_pidns && strcmp(wrapped[i], "--ns") == 0) {
            free(wrapped[i]);
            free(wrapped[i + 1]);
            i++;
            continue;
        }
        wrapped[w++] = wrapped[i];
    }
    wrapped[w] = NULL;
    assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pfd[1], STDOUT_FILENO);
        execv(wrapped[0], wrapped);
        _exit(99);
    }
    close(pfd[1]);
    sb_argv_free(wrapped);
    *ret_fd = pfd[0];
    return pid;
}

/* True when fd reaches EOF within ms (everything holding it is gone). */
static bool eof_within(int fd, int ms)
{
    char buf[256];

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        if (poll(&p, 1, ms) <= 0)
            return false;
        if (read(fd, buf, sizeof(buf)) <= 0)
            return true;
    }
}

static void test_reap_kills_daemon_by_cgroup(void **state)
{
    struct sb_job *j;
    int fd, st;
    pid_t pid;

    if (!usable(false, need_kill))
        skip();
    j = new_job(false);
    pid = start_in(j, "daemon", true, &fd);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* the step is done, its daemon still holds stdout */
    assert_false(eof_within(fd, 300));
    assert_int_equal(sb_step_reap(j), 0);
    assert_true(eof_within(fd, 5000));
    close(fd);
    sb_job_free(j);
}

static void test_job_kill_running_step(void **state)
{
    struct sb_job *j;
    char line[64] = "";
    int fd, st;
    pid_t pid;

    if (!usable(false, need_kill))
        skip();
    j = new_job(false);
    pid = start_in(j, "sleep", false, &fd);
    assert_true(read(fd, line, sizeof(line) - 1) > 0);
    assert_non_null(strstr(line, "sleeping"));
    assert_int_equal(sb_job_kill(j, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    assert_true(eof_within(fd, 5000));
    close(fd);
    assert_int_equal(sb_step_reap(j), 0);
    sb_job_free(j);
}

static void test_job_sigterm_reaches_step(void **state)
{
    struct sb_job *j;
    char line[64] = "";
    int fd, st;
    pid_t pid;

    if (!usable(false, need_kill))
        skip();
    j = new_job(false);
    pid = start_in(j, "sleep", false, &fd);
    assert_true(read(fd, line, sizeof(line) - 1) > 0);
    assert_int_equal(sb_job_kill(j, SIGTERM), 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    /* the step died of SIGTERM and the helper mirrored it */
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);
    close(fd);
    assert_int_equal(sb_step_reap(j), 0);
    sb_job_free(j);
}

/*
 * GPU slots: fake NVIDIA nodes (major 195, no driver) on the read-only root;
 * the job leases minor 0. The devices controller lets it reach the driver
 * (ENXIO: no driver behind it) and refuses minor 1 (EPERM).
 */
static void test_gpu_devices(void **state)
{
    static const struct {
        const char *name;
        int minor;
    } nodes[] = {{"nvidia0", 0}, {"nvidia1", 1}, {"nvidiactl", 255}};
    struct sb_policy p = test_policy(false);
    char dir[] = "/var/tmp/gr-sb-gpu-XXXXXX", path[64];
    const char *why = NULL;
    struct sb_job *j = NULL;
    struct run r;

    if (!usable(false, need_kill))
        skip();
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0755), 0);
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, nodes[i].name);
        if (mknod(path, S_IFCHR | 0666, makedev(195, nodes[i].minor)) < 0 && !why)
            why = "cannot create device nodes here";
        (void)chmod(path, 0666);
    }
    p.gpu_isolate = true;
    p.gpu_minors[0] = 0;
    p.n_gpu_minors = 1;
    if (!why && sb_job_new("gpu", &p, &j) < 0)
        why = sb_last_error();
    for (const char *const *d = j ? sb_job_degraded(j) : NULL; d && *d && !why; d++)
        if (strstr(*d, "GPU isolation advisory"))
            why = *d;
    if (!why) {
        printf("%s\n", sb_job_summary(j));
        run_in(j, "devopen", dir, &r, 10000);
        check_exit0(&r);
        assert_int_equal(sb_step_reap(j), 0);
        assert_non_null(strstr(r.out, "open nvidia0: errno=6\n"));   /* ENXIO: allowed */
        assert_non_null(strstr(r.out, "open nvidia1: errno=1\n"));   /* EPERM: not leased */
        assert_non_null(strstr(r.out, "open nvidiactl: errno=6\n")); /* ENXIO: allowed */
        assert_non_null(strstr(r.out, "open null: errno=0\n"));
    } else {
        printf("skipped: %s\n", why);
    }
    sb_job_free(j);
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, nodes[i].name);
        (void)unlink(path);
    }
    (void)rmdir(dir);
    (void)state;
}

/*
 * One cgroup namespace per job, rooted at the job's cgroup: every step of
 * the job is in the same namespace (not the host's), sees its own cgroup
 * as a path inside the job ("/step" in v2, the job's root in the v1
 * hierarchies) and nothing above it.
 */
static void test_cgroup_namespace_per_job(void **state)
{
    char host_ns[64] = "", first[64] = "";
    struct sb_job *j;
    struct run r;
    ssize_t n = readlink("/proc/self/ns/cgroup", host_ns, sizeof(host_ns) - 1);

    if (!usable(false, need_kill) || n <= 0)
        skip();
    host_ns[n] = '\0';
    j = new_job(false);
    for (int i = 0; i < 2; i++) {
        char *ns, *line;

        run_in(j, "cgroupns", NULL, &r, 10000);
        check_exit0(&r);
        assert_int_equal(sb_step_reap(j), 0);
        ns = strstr(r.out, "ns cgroup:[");
        assert_non_null(ns);
        *strchr(ns, '\n') = '\0';
        assert_string_not_equal(ns + 3, host_ns);
        if (i == 0)
            snprintf(first, sizeof(first), "%s", ns + 3);
        else
            assert_string_equal(ns + 3, first);
        *strchr(ns, '\0') = '\n';
        /* nothing of the host's tree above the job: no runner or ghrun path */
        assert_null(strstr(r.out, "ghrun"));
        assert_null(strstr(r.out, "job-"));
        line = strstr(r.out, "cg 0::");
        if (line)
            assert_int_equal(strncmp(line, "cg 0::/step\n", 12), 0);
    }
    sb_job_free(j);
    (void)state;
}

static int setup_secrets(void **state)
{
    char tmpl[64] = "/var/tmp/gr-sb-secret-";
    char p[4200];
    int fd;

    memset(tmpl + strlen(tmpl), 'X', 6); /* mkdtemp's template */
    if (!mkdtemp(tmpl) || chmod(tmpl, 0755) < 0)
        return -1;
    snprintf(secret_dir, sizeof(secret_dir), "%s/runner", tmpl);
    snprintf(secret_file, sizeof(secret_file), "%s/credentials", tmpl);
    snprintf(work_dir, sizeof(work_dir), "%s/work", secret_dir);
    snprintf(ws_dir, sizeof(ws_dir), "%s/ws", tmpl);
    if (mkdir(secret_dir, 0755) < 0 || mkdir(work_dir, 0777) < 0 || mkdir(ws_dir, 0777) < 0 ||
        chmod(work_dir, 0777) < 0 || chmod(ws_dir, 0777) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s/key.pem", secret_dir);
    /* world-readable on purpose: only the mask protects it */
    fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, "SECRET\n", 7) != 7)
        return -1;
    close(fd);
    fd = open(secret_file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, "SECRET\n", 7) != 7)
        return -1;
    close(fd);
    return 0;
}

static int teardown_secrets(void **state)
{
    char p[4200];

    snprintf(p, sizeof(p), "%s/key.pem", secret_dir);
    (void)unlink(p);
    (void)rmdir(work_dir);
    (void)rmdir(ws_dir);
    (void)rmdir(secret_dir);
    (void)unlink(secret_file);
    snprintf(p, sizeof(p), "%s", secret_dir);
    *strrchr(p, '/') = '\0';
    (void)rmdir(p);
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syscalls_denied),
        cmocka_unit_test(test_masked_and_tmp),
        cmocka_unit_test(test_forkbomb_bounded),
        cmocka_unit_test(test_memhog_oom_reported),
        cmocka_unit_test(test_daemon_gone_after_reap),
        cmocka_unit_test(test_network_none),
        cmocka_unit_test(test_setup_failure_reported),
        cmocka_unit_test(test_reap_kills_daemon_by_cgroup),
        cmocka_unit_test(test_job_kill_running_step),
        cmocka_unit_test(test_job_sigterm_reaches_step),
        cmocka_unit_test(test_gpu_devices),
        cmocka_unit_test(test_cgroup_namespace_per_job),
    };
    ssize_t n;

    if (argc > 2 && strcmp(argv[1], "--probe") == 0) {
        int rc = run_probe(argc, argv);

        fflush(stdout);
        _exit(rc);
    }
    n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    if (n <= 0)
        return 1;
    self_exe[n] = '\0';
    return cmocka_run_group_tests(tests, setup_secrets, teardown_secrets);
}
