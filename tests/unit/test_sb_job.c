/*
 * The job-level API without starting anything: the plain back end for a
 * NULL policy, the helper command line, strictness, the degraded list and
 * summary, and the doctor report. Works as root and as a normal user.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sb.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t count(char **v)
{
    size_t n = 0;

    while (v[n])
        n++;
    return n;
}

static ssize_t find(char **v, const char *s)
{
    for (size_t i = 0; v[i]; i++)
        if (strcmp(v[i], s) == 0)
            return (ssize_t)i;
    return -1;
}

static void test_null_policy_plain(void **state)
{
    char *argv[] = {"bash", "-e", "script.sh", NULL};
    struct sb_step_stats st;
    struct sb_job *j = NULL;
    char **w = NULL;

    assert_int_equal(sb_job_new("plain", NULL, &j), 0);
    assert_int_equal(sb_wrap_command(j, argv, &w), 0);
    assert_int_equal(count(w), 3);
    assert_string_equal(w[0], "bash");
    assert_string_equal(w[2], "script.sh");
    assert_string_equal(sb_job_degraded(j)[0], "no sandbox: no policy given");
    assert_null(sb_job_degraded(j)[1]);
    assert_string_equal(sb_job_summary(j), "sandbox: off (no policy)");
    assert_int_equal(sb_step_reap(j), 0);
    assert_int_equal(sb_job_kill(j, SIGKILL), 0);
    assert_int_equal(sb_step_result(j, &st), -ENODATA);
    sb_argv_free(w);
    sb_job_free(j);
    sb_job_free(NULL);
    (void)state;
}

static void test_wrap_command_line(void **state)
{
    static const char *const masks[] = {"/srv/runner", "/root", NULL};
    static const char *const rws[] = {"/srv/work/repo", NULL};
    struct sb_policy p = {
        .memory_max = 1 << 30,
        .pids_max = 512,
        .slot_uid = 64005,
        .mask_paths = masks,
        .rw_paths = rws,
        .nofile = 4096,
    };
    char *argv[] = {"sh", "-c", "echo hi", NULL};
    struct sb_job *j = NULL;
    char **w = NULL;
    ssize_t dd;

    assert_int_equal(sb_set_helper_path("/opt/ghrun/bin/gr-sandbox"), 0);
    assert_int_equal(sb_job_new("wrap", &p, &j), 0);
    assert_int_equal(sb_wrap_command(j, argv, &w), 0);
    assert_string_equal(w[0], "/opt/ghrun/bin/gr-sandbox");
    dd = find(w, "--");
    assert_true(dd > 0);
    assert_string_equal(w[dd + 1], "sh");
    assert_string_equal(w[dd + 3], "echo hi");
    assert_null(w[dd + 4]);
    assert_true(find(w, "--nofile") > 0);
    assert_string_equal(w[find(w, "--nofile") + 1], "4096");
    if (geteuid() == 0) {
        assert_string_equal(w[find(w, "--uid") + 1], "64005");
        assert_string_equal(w[find(w, "--gid") + 1], "64005");
        assert_true(find(w, "/srv/runner") > find(w, "--mask"));
        assert_true(find(w, "/srv/work/repo") > 0);
        assert_true(find(w, "--ro-root") > 0);
    } else {
        assert_int_equal(find(w, "--uid"), -1); /* runs as the invoking user */
    }
    assert_non_null(strstr(sb_job_summary(j), "sandbox: "));
    sb_argv_free(w);
    w = NULL;
    assert_int_equal(sb_wrap_command(j, (char *const[]){NULL}, &w), -EINVAL);
    assert_null(w);
    sb_job_free(j);
    assert_int_equal(sb_set_helper_path(NULL), 0);
    (void)state;
}

/* As root, steps start through the job's init: the command line names its socket only. */
static void test_wrap_through_init(void **state)
{
    struct sb_policy p = {.slot_uid = 64006, .nofile = 4096};
    char *argv[] = {"true", NULL};
    struct sb_job *j = NULL;
    char **w = NULL;
    struct stat st;

    if (geteuid() != 0) {
        printf("skipped: the job's init needs root\n");
        return;
    }
    assert_int_equal(sb_job_new("served", &p, &j), 0);
    assert_int_equal(sb_wrap_command(j, argv, &w), 0);
    if (find(w, "--connect") < 0) {
        printf("skipped: no job init here: %s\n", sb_job_summary(j));
    } else {
        assert_int_equal(find(w, "--connect"), 1);
        assert_non_null(strstr(w[2], "/init.sock"));
        /* the socket is the runner's alone */
        assert_int_equal(stat(w[2], &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(st.st_mode & 077, 0);
        assert_string_equal(w[3], "--");
        assert_string_equal(w[4], "true");
        assert_null(w[5]);
    }
    sb_argv_free(w);
    sb_job_free(j);
    (void)state;
}

static void test_strict_refuses(void **state)
{
    struct sb_policy p = {.strict = true}; /* no slot uid: never acceptable in strict */
    struct sb_job *j = NULL;

    assert_int_equal(sb_job_new("strict", &p, &j), -EOPNOTSUPP);
    assert_null(j);
    assert_non_null(strstr(sb_last_error(), "strict sandbox: missing"));
    (void)state;
}

static void test_best_effort_reports(void **state)
{
    struct sb_policy p = {.memory_max = 1 << 30};
    struct sb_job *j = NULL;
    bool said = false;

    assert_int_equal(sb_job_new("best", &p, &j), 0);
    for (const char *const *d = sb_job_degraded(j); *d; d++) {
        printf("degraded: %s\n", *d);
        if (geteuid() == 0)
            said = said || strstr(*d, "no slot uid") != NULL;
        else
            said = said || strstr(*d, "not root") != NULL;
    }
    assert_true(said);
    assert_non_null(strstr(sb_job_summary(j), "(degraded)"));
    sb_job_free(j);
    (void)state;
}

/* When the host refuses the job's namespaces, best-effort runs without them and says why. */
static void test_init_failure_degrades(void **state)
{
    static const char *const rws[] = {"/nonexistent/gr-sb-rw", NULL};
    struct sb_policy p = {.rw_paths = rws};
    char *argv[] = {"true", NULL};
    struct sb_job *j = NULL;
    bool said = false;
    char **w = NULL;

    if (geteuid() != 0) {
        printf("skipped: the job's namespaces need root\n");
        return;
    }
    assert_int_equal(sb_job_new("init-fails", &p, &j), 0);
    for (const char *const *d = sb_job_degraded(j); *d; d++) {
        printf("degraded: %s\n", *d);
        said = said || (strstr(*d, "no namespaces, masks or read-only root: gr-sandbox: ") &&
                        strstr(*d, "/nonexistent/gr-sb-rw"));
    }
    assert_true(said);
    assert_int_equal(sb_wrap_command(j, argv, &w), 0);
    assert_int_equal(find(w, "--join"), -1);
    assert_int_equal(find(w, "--ns"), -1);
    assert_true(find(w, "--seccomp") > 0); /* what needs no namespace stays */
    sb_argv_free(w);
    sb_job_free(j);
    (void)state;
}

static void test_doctor(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    assert_int_equal(sb_doctor(f), 0);
    fclose(f);
    printf("%s", text);
    assert_non_null(strstr(text, "root: "));
    assert_non_null(strstr(text, "namespace pid: "));
    assert_non_null(strstr(text, "seccomp: "));
    assert_non_null(strstr(text, "cgroup: "));
    assert_non_null(strstr(text, "sandbox: "));
    if (geteuid() == 0 && strstr(text, "helper: /"))
        assert_non_null(strstr(text, "helper run: "));
    free(text);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_policy_plain),
        cmocka_unit_test(test_wrap_command_line),
        cmocka_unit_test(test_wrap_through_init),
        cmocka_unit_test(test_strict_refuses),
        cmocka_unit_test(test_best_effort_reports),
        cmocka_unit_test(test_init_failure_degrades),
        cmocka_unit_test(test_doctor),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
