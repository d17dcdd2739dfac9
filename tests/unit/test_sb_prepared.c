/*
 * A job sandbox made ahead (the idle worker's): sb_job_policy_is() says whether it was made
 * from exactly the policy a job asks for (every field and list, the slot as asked, not as
 * leased), and sb_job_sweep_stale() removes the private dirs of processes that are gone,
 * never those of a live one. Works as root and as a normal user.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const masks[] = {"/srv/runner", "/root", NULL};
static const char *const rws[] = {"/srv/work/repo/repo", "/srv/work/_ghrun", NULL};

static struct sb_policy base_policy(void)
{
    return (struct sb_policy){
        .memory_max = 1 << 30,
        .pids_max = 512,
        .slot_uid = 64007,
        .slot_auto = false,
        .mask_paths = masks,
        .rw_paths = rws,
        .nofile = 4096,
    };
}

static void test_policy_is(void **state)
{
    struct sb_policy p = base_policy(), q;
    /* equal lists at other addresses */
    const char *rws2[] = {"/srv/work/repo/repo", "/srv/work/_ghrun", NULL};
    const char *other_ws[] = {"/srv/work/other/other", "/srv/work/_ghrun", NULL};
    const char *longer[] = {"/srv/work/repo/repo", "/srv/work/_ghrun", "/opt/actions", NULL};
    const char *empty[] = {NULL};
    struct sb_job *j = NULL, *plain = NULL;

    assert_int_equal(sb_set_helper_path("/nonexistent/gr-sandbox"), 0);
    assert_int_equal(sb_job_new("next", &p, &j), 0);
    assert_true(sb_job_policy_is(j, &p));
    q = p;
    q.rw_paths = rws2;
    assert_true(sb_job_policy_is(j, &q));
    /* another job's workspace, one more writable path, one fewer */
    q.rw_paths = other_ws;
    assert_false(sb_job_policy_is(j, &q));
    q.rw_paths = longer;
    assert_false(sb_job_policy_is(j, &q));
    q.rw_paths = rws2;
    rws2[1] = NULL;
    assert_false(sb_job_policy_is(j, &q));
    /* NULL and an empty list are the same */
    q = p;
    q.idmap_paths = empty;
    assert_true(sb_job_policy_is(j, &q));
    /* each setting a label or the config can change */
    q = p;
    q.network_none = true;
    assert_false(sb_job_policy_is(j, &q));
    q = p;
    q.gpu_isolate = true;
    assert_false(sb_job_policy_is(j, &q));
    q = p;
    q.gpu_minors[0] = 1;
    q.n_gpu_minors = 1;
    assert_false(sb_job_policy_is(j, &q));
    q = p;
    q.memory_max = 2u << 30;
    assert_false(sb_job_policy_is(j, &q));
    q = p;
    q.strict = true;
    assert_false(sb_job_policy_is(j, &q));
    q = p;
    q.mask_paths = NULL;
    assert_false(sb_job_policy_is(j, &q));
    q = p;
    q.state_dir = "/var/tmp";
    assert_false(sb_job_policy_is(j, &q));
    q = p;
    q.slot_uid = 64008;
    assert_false(sb_job_policy_is(j, &q));
    /* a job without a policy, and nothing, match nothing */
    assert_int_equal(sb_job_new("plain", NULL, &plain), 0);
    assert_false(sb_job_policy_is(plain, &p));
    assert_false(sb_job_policy_is(NULL, &p));
    assert_false(sb_job_policy_is(j, NULL));
    sb_job_free(plain);
    sb_job_free(j);
    assert_int_equal(sb_set_helper_path(NULL), 0);
    (void)state;
}

/* A leased slot changes the job's ids, not what it was asked for. */
static void test_policy_is_leased_slot(void **state)
{
    char dir[] = "/tmp/test_sb_prepared.XXXXXX", cmd[128];
    struct sb_policy p = base_policy();
    struct sb_job *j = NULL;

    assert_non_null(mkdtemp(dir));
    p.slot_auto = true;
    p.slot_uid = 0;
    p.slot_lock_dir = dir;
    assert_int_equal(sb_set_helper_path("/nonexistent/gr-sandbox"), 0);
    assert_int_equal(sb_job_new("next", &p, &j), 0);
    assert_true(sb_job_policy_is(j, &p));
    p.slot_lock_dir = "/run/ghrun/other-slots";
    assert_false(sb_job_policy_is(j, &p));
    sb_job_free(j);
    assert_int_equal(sb_set_helper_path(NULL), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    (void)state;
}

/* A pid that was a process of ours and is gone now. */
static pid_t dead_pid(void)
{
    int st;
    pid_t pid = fork();

    if (pid == 0)
        _exit(0);
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return pid;
}

static bool exists(const char *dir, const char *name)
{
    char p[512];
    struct stat st;

    assert_true((size_t)snprintf(p, sizeof(p), "%s/%s", dir, name) < sizeof(p));
    return stat(p, &st) == 0;
}

static void test_sweep_stale(void **state)
{
    char dir[] = "/tmp/test_sb_prepared.XXXXXX", p[1024], dead[64], live[64];
    pid_t gone = dead_pid();
    FILE *f;

    assert_non_null(mkdtemp(dir));
    snprintf(dead, sizeof(dead), "ghrun-job-%ld-AbC123", (long)gone);
    snprintf(live, sizeof(live), "ghrun-job-%ld-XyZ789", (long)getpid());
    snprintf(p, sizeof(p), "%s/%s", dir, dead);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/%s/tmp", dir, dead);
    assert_int_equal(mkdir(p, 01777), 0);
    snprintf(p, sizeof(p), "%s/%s/tmp/left-by-a-step", dir, dead);
    f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(p, sizeof(p), "%s/%s", dir, live);
    assert_int_equal(mkdir(p, 0700), 0);
    /* not ours: names that only look alike */
    snprintf(p, sizeof(p), "%s/ghrun-job-x-1", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/other-%ld-1", dir, (long)gone);
    assert_int_equal(mkdir(p, 0700), 0);

    sb_job_sweep_stale(dir);
    assert_false(exists(dir, dead));
    assert_true(exists(dir, live));
    assert_true(exists(dir, "ghrun-job-x-1"));
    snprintf(p, sizeof(p), "other-%ld-1", (long)gone);
    assert_true(exists(dir, p));
    /* a missing dir is nothing to sweep */
    sb_job_sweep_stale("/nonexistent/state");
    snprintf(p, sizeof(p), "rm -rf '%s'", dir);
    assert_int_equal(system(p), 0);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_is),
        cmocka_unit_test(test_policy_is_leased_slot),
        cmocka_unit_test(test_sweep_stale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
