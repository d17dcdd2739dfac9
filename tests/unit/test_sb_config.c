/*
 * The runner's sandbox settings (runner/config_sandbox.c): defaults, every
 * key, the errors for bad values and unknown keys, and the sb_policy that
 * online jobs get from them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sandbox_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool has_mask(const struct sb_policy *p, const char *path)
{
    for (size_t i = 0; p->mask_paths && p->mask_paths[i]; i++)
        if (strcmp(p->mask_paths[i], path) == 0)
            return true;
    return false;
}

static void test_defaults_mask_the_runner_root(void **state)
{
    struct rn_sandbox_config c;
    struct sb_policy p;
    char root[] = "/tmp/gr-sbconf-XXXXXX";
    char *abs;

    assert_non_null(mkdtemp(root));
    assert_int_equal(rn_sandbox_config_load(root, &c, NULL), 0); /* no file: defaults */
    rn_config_sandbox_policy(&c, &p);
    abs = realpath(root, NULL);
    assert_non_null(abs);
    assert_true(has_mask(&p, abs));
    assert_string_equal(p.mask_paths[0], abs); /* the runner root comes first */
    assert_true(has_mask(&p, "/root"));
    assert_true(p.strict);
    assert_int_equal(p.pids_max, 16384);
    assert_int_equal(p.nofile, 65536);
    assert_int_equal(p.memory_max, 0);
    assert_false(p.network_none);
    assert_false(p.gpu_isolate);
    /* a root runner leases a job slot: ghr-slot<N> or 64000 + N, never root */
    assert_true(p.slot_auto);
    assert_false(p.slot_optional);
    assert_int_equal(p.slot_uid, 0);
    rn_sandbox_config_release(&c);
    rmdir(root);
    free(abs);
    (void)state;
}

static void test_every_key(void **state)
{
    static const char text[] =
        "{\"memory\": \"4G\", \"swap\": \"512MiB\", \"cpus\": 1.5, \"pids\": 512,\n"
        " \"nofile\": 4096, \"network\": \"none\", \"strictness\": \"best-effort\",\n"
        " \"slot_uid\": 64100, \"gpus\": [0, 3], \"gpus_per_job\": 2,\n"
        " \"mask\": [\"/srv/secrets\", \"/root\"], \"allow_ptrace\": true, \"seccomp\": \"audit\"}";
    struct rn_sandbox_config c;
    struct sb_policy p;

    assert_int_equal(rn_sandbox_config_parse(text, strlen(text), "s.json", "/srv/runner", &c, NULL),
                     0);
    rn_config_sandbox_policy(&c, &p);
    assert_int_equal(p.memory_max, 4ull << 30);
    assert_int_equal(p.swap_max, 512ull << 20);
    assert_int_equal(p.cpu_quota_us, 150000);
    assert_int_equal(p.pids_max, 512);
    assert_int_equal(p.nofile, 4096);
    assert_true(p.network_none);
    assert_false(p.strict);
    assert_true(p.slot_auto);
    assert_int_equal(p.slot_uid, 64100); /* the base: slot N runs as 64100 + N */
    assert_true(p.allow_ptrace);
    assert_true(p.seccomp_audit);
    assert_true(p.gpu_isolate); /* GPUs configured: devices restricted, none leased yet */
    assert_int_equal(p.n_gpu_minors, 0);
    assert_int_equal(c.n_gpus, 2);
    assert_int_equal(c.gpus[1], 3);
    assert_int_equal(c.gpus_per_job, 2);
    assert_true(has_mask(&p, "/srv/runner"));
    assert_true(has_mask(&p, "/srv/secrets"));
    /* "/root" is a default already: listed once */
    size_t n = 0;
    for (size_t i = 0; p.mask_paths[i]; i++)
        n += strcmp(p.mask_paths[i], "/root") == 0;
    assert_int_equal(n, 1);
    rn_sandbox_config_release(&c);
    (void)state;
}

static void expect_error(const char *text, const char *want)
{
    struct rn_sandbox_config c;
    struct gr_diag d = {0};
    char msg[700];

    assert_true(rn_sandbox_config_parse(text, strlen(text), "s.json", NULL, &c, &d) < 0);
    gr_diag_format(&d, msg, sizeof(msg));
    printf("%s\n", msg);
    assert_non_null(strstr(msg, want));
}

static void test_errors(void **state)
{
    expect_error("{\"memroy\": 1}", "unknown sandbox setting 'memroy'");
    expect_error("{\"memory\": \"4X\"}", "'memory': a size");
    expect_error("{\"memory\": -1}", "'memory': a size");
    expect_error("{\"network\": \"off\"}", "'network': \"host\" or \"none\"");
    expect_error("{\"strictness\": true}", "'strictness'");
    expect_error("{\"cpus\": \"two\"}", "'cpus'");
    expect_error("{\"slot_uid\": 0}", "'slot_uid'");
    expect_error("{\"mask\": [\"relative\"]}", "'mask'");
    expect_error("{\"mask\": [\"/\"]}", "'mask'");
    expect_error("{\"gpus\": [0], \"gpus_per_job\": 2}", "only 1 GPUs");
    expect_error("[1]", "not an object");
    expect_error("{\"pids\": 1,\n \"pids\": 2}", "s.json:2:");
    expect_error("{\"memory\": \"99999999999T\"}", "'memory'");
    (void)state;
}

/* "no_native": true, a list or a comma-separated string of actions with a native version. */
static void expect_no_native(const char *text, const char *want)
{
    struct rn_sandbox_config c;
    struct gr_diag d = {0};

    assert_int_equal(rn_sandbox_config_parse(text, strlen(text), "s.json", NULL, &c, &d), 0);
    if (want)
        assert_string_equal(c.no_native, want);
    else
        assert_null(c.no_native);
    rn_sandbox_config_release(&c);
}

static void test_no_native(void **state)
{
    expect_no_native("{}", NULL);
    expect_no_native("{\"no_native\": true}", "all");
    expect_no_native("{\"no_native\": false}", NULL);
    expect_no_native("{\"no_native\": []}", NULL);
    expect_no_native("{\"no_native\": [\"actions/checkout\", \"actions/cache\"]}",
                     "actions/checkout,actions/cache");
    expect_no_native("{\"no_native\": \"actions/cache/save\"}", "actions/cache/save");
    expect_error("{\"no_native\": [\"actions/chekout\"]}", "'no_native': true, or a list");
    expect_error("{\"no_native\": [\"actions/cache,actions/checkout\"]}", "'no_native'");
    expect_error("{\"no_native\": [1]}", "'no_native'");
    expect_error("{\"no_native\": 1}", "'no_native'");
    (void)state;
}

/* "persist": a list or a comma-separated string of "~/..." directories (ex/persist.h). */
static void expect_persist(const char *text, const char *want)
{
    struct rn_sandbox_config c;
    struct gr_diag d = {0};

    assert_int_equal(rn_sandbox_config_parse(text, strlen(text), "s.json", NULL, &c, &d), 0);
    if (want)
        assert_string_equal(c.persist, want);
    else
        assert_null(c.persist);
    rn_sandbox_config_release(&c);
}

static void test_persist(void **state)
{
    expect_persist("{}", NULL);
    expect_persist("{\"persist\": []}", NULL);
    expect_persist("{\"persist\": \"\"}", NULL);
    expect_persist("{\"persist\": [\"~/.cache/pip\", \"~/.npm\"]}", "~/.cache/pip,~/.npm");
    expect_persist("{\"persist\": \"~/.cache/uv, ~/.npm\"}", "~/.cache/uv, ~/.npm");
    expect_error("{\"persist\": [\"/etc\"]}", "'persist': a list of directories in the home");
    expect_error("{\"persist\": [\"~/a,~/b\"]}", "'persist'");
    expect_error("{\"persist\": [\"~/../x\"]}", "'persist'");
    expect_error("{\"persist\": true}", "'persist'");
    (void)state;
}

/* GHRUN_NO_NATIVE and GHRUN_PERSIST replace the file's values for `ghrun run`'s jobs. */
static void test_env_overrides(void **state)
{
    struct rn_sandbox_config c;
    struct gr_diag d = {0};
    char root[] = "/tmp/gr-sbconf-XXXXXX", path[64];
    FILE *f;

    assert_non_null(mkdtemp(root));
    snprintf(path, sizeof(path), "%s/.sandbox", root);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"no_native\": [\"actions/checkout\"], \"persist\": \"~/.npm\"}", f);
    fclose(f);
    unsetenv("GHRUN_NO_NATIVE");
    unsetenv("GHRUN_PERSIST");
    assert_int_equal(rn_sandbox_config_load(root, &c, &d), 0);
    assert_string_equal(c.no_native, "actions/checkout");
    assert_string_equal(c.persist, "~/.npm");
    rn_sandbox_config_release(&c);

    setenv("GHRUN_NO_NATIVE", "actions/cache", 1);
    setenv("GHRUN_PERSIST", "~/.cache/pip", 1);
    assert_int_equal(rn_sandbox_config_load(root, &c, &d), 0);
    assert_string_equal(c.no_native, "actions/cache");
    assert_string_equal(c.persist, "~/.cache/pip");
    rn_sandbox_config_release(&c);

    setenv("GHRUN_NO_NATIVE", "true", 1);
    setenv("GHRUN_PERSIST", "", 1); /* empty: the file's */
    assert_int_equal(rn_sandbox_config_load(root, &c, &d), 0);
    assert_string_equal(c.no_native, "all");
    assert_string_equal(c.persist, "~/.npm");
    rn_sandbox_config_release(&c);

    setenv("GHRUN_NO_NATIVE", "actions/nothing", 1);
    assert_true(rn_sandbox_config_load(root, &c, &d) < 0);
    assert_non_null(strstr(d.msg, "GHRUN_NO_NATIVE: "));
    unsetenv("GHRUN_NO_NATIVE");
    setenv("GHRUN_PERSIST", "/etc", 1);
    assert_true(rn_sandbox_config_load(root, &c, &d) < 0);
    assert_non_null(strstr(d.msg, "GHRUN_PERSIST: '/etc'"));
    unsetenv("GHRUN_PERSIST");
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(root), 0);
    (void)state;
}

static void test_load_file_errors(void **state)
{
    struct rn_sandbox_config c;
    struct gr_diag d = {0};

    assert_true(rn_sandbox_config_load_file("/nonexistent/gr.sandbox", NULL, &c, &d) < 0);
    assert_non_null(strstr(d.msg, "cannot read the sandbox settings"));
    (void)state;
}

/* A bad <root>/.sandbox is named in the error, which outlives the loader's own path. */
static void test_load_names_the_file(void **state)
{
    struct rn_sandbox_config c;
    struct gr_diag d = {0};
    char root[] = "/tmp/gr-sbconf-XXXXXX", path[64], msg[700];
    FILE *f;

    assert_non_null(mkdtemp(root));
    snprintf(path, sizeof(path), "%s/.sandbox", root);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"pids\": 10,\n \"pids\": 20}", f);
    fclose(f);
    assert_true(rn_sandbox_config_load(root, &c, &d) < 0);
    gr_diag_format(&d, msg, sizeof(msg));
    printf("%s\n", msg);
    assert_non_null(strstr(msg, path));
    assert_non_null(strstr(msg, ":2:"));
    unlink(path);
    rmdir(root);
    (void)state;
}

static void test_pids_message(void **state)
{
    struct sb_step_stats st = {.pids_limit = 64, .pids_limit_hit = 3};
    char msg[128];

    assert_true(sb_step_stats_message(&st, msg, sizeof(msg)) > 0);
    assert_string_equal(msg, "pids limit of 64 reached: 3 forks refused");
    st.oom_killed = true; /* an OOM kill explains more */
    st.memory_limit = 4ull << 30;
    (void)sb_step_stats_message(&st, msg, sizeof(msg));
    assert_string_equal(msg, "killed: memory limit of 4 GiB reached");
    st = (struct sb_step_stats){.pids_limit_hit = 3}; /* no limit known: nothing to say */
    assert_int_equal(sb_step_stats_message(&st, msg, sizeof(msg)), 0);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_mask_the_runner_root),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_no_native),
        cmocka_unit_test(test_persist),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_load_file_errors),
        cmocka_unit_test(test_load_names_the_file),
        cmocka_unit_test(test_pids_message),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
