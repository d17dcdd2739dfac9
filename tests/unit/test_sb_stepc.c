/*
 * Steps handed straight to a served job's init over its socket (sb_stepc_*,
 * step_conn.c), with no wrapper process: exit codes, death by a signal,
 * the FAIL message of a command that cannot run, output order, forwarded
 * signals, a hang-up that kills the step's whole tree, a large request
 * that takes several writes, and a client that is not the runner. Needs
 * root (the job's init); skips otherwise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sb.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static struct sb_job *job;
static const char *sock;

static int group_setup(void **state)
{
    struct sb_policy p = {.slot_uid = 64007, .slot_gid = 64007, .nofile = 4096};

    (void)state;
    if (geteuid() != 0)
        return 0;
    if (sb_job_new("stepc", &p, &job) < 0)
        return -1;
    sock = sb_job_step_socket(job);
    if (!sock)
        printf("note: no job init here: %s\n", sb_job_summary(job));
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    sb_job_free(job);
    return 0;
}

static bool no_init(void)
{
    if (sock)
        return false;
    printf("skipped: needs root and a job init\n");
    return true;
}

/* Waits for the end (10 s at most); 1, or 0 when it did not come. */
/* The waits below poll 10 ms at a time for up to 30-60 s: a loaded CI machine running the
 * ASan build can take seconds to start or end a step in its sandbox. */
static int wait_end(struct sb_stepc *c, struct sb_stepc_end *e)
{
    for (int i = 0; i < 6000; i++) {
        struct pollfd pf = {.fd = sb_stepc_fd(c),
                            .events = POLLIN | (sb_stepc_want_write(c) ? POLLOUT : 0)};
        int r;

        if (poll(&pf, 1, 10) < 0 && errno != EINTR)
            return 0;
        r = sb_stepc_io(c, e);
        assert_true(r >= 0);
        if (r == 1)
            return 1;
    }
    return 0;
}

/* Starts argv with stdin /dev/null and the given stdout/stderr; *ret the end. */
static void run_step(char *const argv[], char *const envp[], int out, int err,
                     struct sb_stepc_end *ret)
{
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct sb_stepc *c = NULL;

    assert_true(null >= 0);
    assert_int_equal(sb_stepc_start(sock, "/", argv, envp, (const int[3]){null, out, err}, &c), 0);
    close(null);
    assert_int_equal(wait_end(c, ret), 1);
    assert_int_equal(sb_stepc_io(c, ret), -EALREADY);
    sb_stepc_free(c);
    assert_int_equal(sb_step_reap(job), 0);
}

static void sh(const char *script, struct sb_stepc_end *ret)
{
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

    run_step(argv, environ, null, null, ret);
    close(null);
}

static void test_exit_codes(void **state)
{
    struct sb_stepc_end e;

    (void)state;
    if (no_init())
        return;
    sh("exit 0", &e);
    assert_true(e.exited);
    assert_true(WIFEXITED(e.status) && WEXITSTATUS(e.status) == 0);
    sh("exit 7", &e);
    assert_true(e.exited);
    assert_true(WIFEXITED(e.status) && WEXITSTATUS(e.status) == 7);
    /* the step runs as the slot, in the job's pid namespace */
    sh("test \"$(id -u)\" = 64007 && test $$ -gt 1 && test $$ -lt 100", &e);
    assert_true(WIFEXITED(e.status) && WEXITSTATUS(e.status) == 0);
    sh("kill -TERM $$", &e);
    assert_true(e.exited);
    assert_true(WIFSIGNALED(e.status) && WTERMSIG(e.status) == SIGTERM);
    assert_int_equal(e.text_len, 0);
}

/* A command that cannot run: no step, 127 or 126 and the wrapper's message. */
static void test_fail_message(void **state)
{
    char *missing[] = {"/nonexistent/gr-stepc-cmd", NULL};
    char *dir[] = {"/", NULL};
    struct sb_stepc_end e;

    (void)state;
    if (no_init())
        return;
    run_step(missing, environ, 1, 2, &e);
    assert_false(e.exited);
    assert_int_equal(e.status, 127);
    assert_string_equal(e.text, "gr-sandbox: cannot execute '/nonexistent/gr-stepc-cmd': No such "
                                "file or directory\n");
    assert_int_equal(e.text_len, strlen(e.text));
    run_step(dir, environ, 1, 2, &e);
    assert_false(e.exited);
    assert_int_equal(e.status, 126);
    assert_non_null(strstr(e.text, "gr-sandbox: cannot execute '/': "));
}

static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t k;

    while (n < cap - 1 && (k = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = '\0';
    return n;
}

/* stdout and stderr are the caller's pipes; the environment is the one sent. */
static void test_output_and_env(void **state)
{
    char *argv[] = {"/bin/sh", "-c",
                    "i=1; while [ $i -le 500 ]; do echo \"$GR_STEPC_V $i\"; i=$((i+1)); done; "
                    "echo to-err >&2",
                    NULL};
    char *envp[] = {"GR_STEPC_V=line", "PATH=/usr/bin:/bin", NULL};
    static char buf[65536], want[65536];
    struct sb_stepc_end e;
    int out[2], err[2];
    size_t w = 0;

    (void)state;
    if (no_init())
        return;
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(pipe2(err, O_CLOEXEC), 0);
    run_step(argv, envp, out[1], err[1], &e);
    close(out[1]);
    close(err[1]);
    assert_true(WIFEXITED(e.status) && WEXITSTATUS(e.status) == 0);
    for (int i = 1; i <= 500; i++)
        w += (size_t)snprintf(want + w, sizeof(want) - w, "line %d\n", i);
    read_all(out[0], buf, sizeof(buf));
    assert_string_equal(buf, want);
    read_all(err[0], buf, sizeof(buf));
    assert_string_equal(buf, "to-err\n");
    close(out[0]);
    close(err[0]);
}

/* A request larger than the socket takes at once goes out in pieces. */
static void test_large_request(void **state)
{
    size_t n = 1200, vlen = 1024; /* 1.2 MB: several socket buffers, under ARG_MAX */
    char **envp = calloc(n + 2, sizeof(*envp));
    char script[64];
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct sb_stepc *c = NULL;
    struct sb_stepc_end e;

    snprintf(script, sizeof(script), "test ${#GR_BIG_%zu} -eq %zu", n - 1,
             vlen - 1 - strlen("GR_BIG_1199="));

    (void)state;
    if (no_init()) {
        free(envp);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        envp[i] = malloc(vlen);
        int k = snprintf(envp[i], vlen, "GR_BIG_%zu=", i);

        memset(envp[i] + k, 'x', vlen - (size_t)k - 1);
        envp[i][vlen - 1] = '\0';
    }
    envp[n] = "PATH=/usr/bin:/bin";
    assert_int_equal(sb_stepc_start(sock, "/", argv, envp, (const int[3]){0, 1, 2}, &c), 0);
    assert_true(sb_stepc_want_write(c)); /* the rest waits for the socket */
    assert_int_equal(wait_end(c, &e), 1);
    assert_false(sb_stepc_want_write(c));
    sb_stepc_free(c);
    assert_int_equal(sb_step_reap(job), 0);
    assert_true(e.exited);
    assert_true(WIFEXITED(e.status) && WEXITSTATUS(e.status) == 0);
    for (size_t i = 0; i < n; i++)
        free(envp[i]);
    free(envp);
}

/* Reads until buf holds want or 5 s passed. */
static bool wait_for(int fd, const char *want)
{
    char buf[256];
    size_t n = 0;

    for (int i = 0; i < 3000 && n < sizeof(buf) - 1; i++) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        ssize_t k;

        if (poll(&pf, 1, 10) <= 0)
            continue;
        k = read(fd, buf + n, sizeof(buf) - 1 - n);
        if (k <= 0)
            return false;
        n += (size_t)k;
        buf[n] = '\0';
        if (strstr(buf, want))
            return true;
    }
    return false;
}

static struct sb_stepc *start_sh(const char *script, int out_w)
{
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct sb_stepc *c = NULL;

    assert_int_equal(
        sb_stepc_start(sock, "/", argv, environ, (const int[3]){null, out_w, out_w}, &c), 0);
    close(null);
    close(out_w);
    return c;
}

/* SIGTERM through the socket reaches the step's trap; a second signal is queued too. */
static void test_signal_forwarded(void **state)
{
    struct sb_stepc_end e;
    struct sb_stepc *c;
    int out[2];

    (void)state;
    if (no_init())
        return;
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    c = start_sh("trap 'exit 9' TERM; echo ready; while :; do sleep 0.05; done", out[1]);
    assert_true(wait_for(out[0], "ready"));
    assert_int_equal(sb_stepc_signal(c, SIGTERM), 0);
    assert_int_equal(sb_stepc_signal(c, 0), -EINVAL);
    assert_int_equal(wait_end(c, &e), 1);
    assert_true(e.exited);
    assert_true(WIFEXITED(e.status) && WEXITSTATUS(e.status) == 9);
    assert_int_equal(sb_stepc_signal(c, SIGTERM), -ESRCH);
    sb_stepc_free(c);
    close(out[0]);
    assert_int_equal(sb_step_reap(job), 0);
}

/* Hanging up kills the step and what it started: the pipe they hold reaches EOF. */
static void test_hangup_kills_tree(void **state)
{
    struct sb_stepc *c;
    char buf[64];
    int out[2];
    bool eof = false;

    (void)state;
    if (no_init())
        return;
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    c = start_sh("sleep 1000 & sleep 1001 & echo ready; wait", out[1]);
    assert_true(wait_for(out[0], "ready"));
    sb_stepc_hangup(c);
    for (int i = 0; i < 3000 && !eof; i++) {
        struct pollfd pf = {.fd = out[0], .events = POLLIN};

        if (poll(&pf, 1, 10) > 0)
            eof = read(out[0], buf, sizeof(buf)) == 0;
    }
    assert_true(eof);
    sb_stepc_free(c);
    close(out[0]);
    assert_int_equal(sb_step_reap(job), 0);
}

/* Not the runner: a user other than root cannot reach the socket at all. */
static void test_other_user_refused(void **state)
{
    int st = 0;
    pid_t pid;

    (void)state;
    if (no_init())
        return;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *argv[] = {"/bin/true", NULL};
        struct sb_stepc *c = NULL;
        int r;

        if (setresgid(64007, 64007, 64007) < 0 || setresuid(64007, 64007, 64007) < 0)
            _exit(2);
        r = sb_stepc_start(sock, "/", argv, environ, (const int[3]){0, 1, 2}, &c);
        _exit(r == -EACCES ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* Copy an executable (0755). */
static void copy_file(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC), out;
    ssize_t n;

    assert_true(in >= 0);
    out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    assert_true(out >= 0);
    while ((n = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    close(in);
    assert_int_equal(close(out), 0);
}

/*
 * A step that reaches the socket (steps of a job without a slot run as root, capabilities
 * dropped, and this job's dir is visible inside) is still refused: it is in the job's pid
 * namespace. gr-step run as the step says how: the init hung up on it (EPIPE while it
 * sent its request, or no reply).
 */
static void test_step_refused(void **state)
{
    char dir[] = "/var/tmp/gr-stepc-state-XXXXXX"; /* not under /tmp: the job has its own */
    struct sb_policy p = {.nofile = 4096};
    char *argv[] = {"/bin/true", NULL}, *inner[6];
    struct sb_job *j = NULL;
    struct sb_stepc_end e;
    struct sb_stepc *c = NULL;
    char **w = NULL, out[4096], abs[4096], vdir[] = "/var/tmp/gr-stepc-XXXXXX", copy[4200];
    const char *s;
    int pp[2];

    (void)state;
    if (no_init())
        return;
    assert_non_null(mkdtemp(dir));
    assert_non_null(realpath(dir, abs));
    p.state_dir = abs;
    assert_int_equal(sb_job_new("stepc-noslot", &p, &j), 0);
    s = sb_job_step_socket(j);
    assert_int_equal(sb_wrap_command(j, argv, &w), 0);
    if (!s || !strstr(w[0], "gr-step")) {
        printf("skipped: no served job without a slot here: %s\n", sb_job_summary(j));
    } else {
        /* a copy where the job sees it: a build tree under /tmp is behind the private /tmp */
        assert_non_null(mkdtemp(vdir));
        assert_int_equal(chmod(vdir, 0755), 0);
        snprintf(copy, sizeof(copy), "%s/gr-step", vdir);
        copy_file(w[0], copy);
        inner[0] = copy;
        inner[1] = "--connect";
        inner[2] = (char *)s;
        inner[3] = "--";
        inner[4] = "/bin/true";
        inner[5] = NULL;
        assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
        assert_int_equal(
            sb_stepc_start(s, "/", inner, environ, (const int[3]){0, pp[1], pp[1]}, &c), 0);
        close(pp[1]);
        assert_int_equal(wait_end(c, &e), 1);
        sb_stepc_free(c);
        read_all(pp[0], out, sizeof(out));
        close(pp[0]);
        printf("the step's own request: %s", out);
        assert_true(e.exited);
        assert_true(WIFEXITED(e.status));
        assert_int_equal(WEXITSTATUS(e.status), 125);
        /* it connected (no "cannot reach"), and the init hung up before or after the request */
        assert_true(strstr(out, "gr-step: the job's sandbox ended the step") ||
                    strstr(out, "gr-step: cannot start the step '/bin/true': error 32"));
        assert_int_equal(unlink(copy), 0);
        assert_int_equal(rmdir(vdir), 0);
    }
    sb_argv_free(w);
    sb_job_free(j);
    assert_int_equal(rmdir(dir), 0);
}

static void test_bad_args(void **state)
{
    char *argv[] = {"/bin/true", NULL};
    struct sb_stepc *c = NULL;

    (void)state;
    assert_int_equal(
        sb_stepc_start("/nonexistent/gr.sock", "relative", argv, NULL, (const int[3]){0, 1, 2}, &c),
        -EINVAL);
    assert_int_equal(
        sb_stepc_start("/nonexistent/gr.sock", "/", argv, NULL, (const int[3]){0, 1, 2}, &c),
        -ENOENT);
    assert_null(c);
    assert_null(sb_job_step_socket(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes),         cmocka_unit_test(test_fail_message),
        cmocka_unit_test(test_output_and_env),     cmocka_unit_test(test_large_request),
        cmocka_unit_test(test_signal_forwarded),   cmocka_unit_test(test_hangup_kills_tree),
        cmocka_unit_test(test_other_user_refused), cmocka_unit_test(test_step_refused),
        cmocka_unit_test(test_bad_args),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
