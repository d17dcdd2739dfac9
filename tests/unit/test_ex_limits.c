/*
 * A job's own limits (executor/limits.c) and the runner settings that feed them
 * (runner/config_sandbox.c "jobs" and GPU slots): parsing, labels, rules, and that a job can
 * only ever lower the runner's policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ex/limits.h"
#include "sandbox_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_sizes(void **state)
{
    uint64_t v = 0;

    assert_int_equal(ex_parse_size("4G", &v), 0);
    assert_int_equal(v, 4ull << 30);
    assert_int_equal(ex_parse_size("512MiB", &v), 0);
    assert_int_equal(v, 512ull << 20);
    assert_int_equal(ex_parse_size("64k", &v), 0);
    assert_int_equal(v, 64ull << 10);
    assert_int_equal(ex_parse_size("123", &v), 0);
    assert_int_equal(v, 123);
    assert_int_equal(ex_parse_size("1TB", &v), 0);
    assert_int_equal(v, 1ull << 40);
    assert_int_equal(ex_parse_size("", &v), -EINVAL);
    assert_int_equal(ex_parse_size("-1G", &v), -EINVAL);
    assert_int_equal(ex_parse_size("4X", &v), -EINVAL);
    assert_int_equal(ex_parse_size("4Gx", &v), -EINVAL);
    assert_int_equal(ex_parse_size(" 4G", &v), -EINVAL);
    assert_int_equal(ex_parse_size("99999999999999T", &v), -ERANGE);
    assert_int_equal(ex_parse_size(NULL, &v), -EINVAL);
    (void)state;
}

static void test_labels(void **state)
{
    struct ex_limits l = {0};
    const char *want = NULL;

    /* labels that are not limits are left to GitHub's matching */
    assert_int_equal(ex_limits_label(&l, "self-hosted", &want), 0);
    assert_int_equal(ex_limits_label(&l, "ubuntu-latest", &want), 0);
    assert_int_equal(ex_limits_label(&l, "team:infra", &want), 0);
    assert_int_equal(l.set, 0);
    assert_int_equal(ex_limits_label(&l, "memory:2G", &want), 1);
    assert_int_equal(ex_limits_label(&l, "cpus:1.5", &want), 1);
    assert_int_equal(ex_limits_label(&l, "pids:64", &want), 1);
    assert_int_equal(ex_limits_label(&l, "nofile:1024", &want), 1);
    assert_int_equal(ex_limits_label(&l, "swap:0", &want), 1);
    assert_int_equal(ex_limits_label(&l, "gpu:2", &want), 1);
    assert_int_equal(ex_limits_label(&l, "network:none", &want), 1);
    assert_int_equal(l.set, EX_LIM_MEMORY | EX_LIM_CPUS | EX_LIM_PIDS | EX_LIM_NOFILE |
                                EX_LIM_SWAP | EX_LIM_GPUS | EX_LIM_NETWORK);
    assert_int_equal(l.memory, 2ull << 30);
    assert_true(l.cpus > 1.49 && l.cpus < 1.51);
    assert_int_equal(l.pids, 64);
    assert_int_equal(l.nofile, 1024);
    assert_int_equal(l.swap, 0);
    assert_int_equal(l.gpus, 2);
    assert_true(l.network_none);
    /* a limit label with a bad value is an error that says what it wants */
    assert_int_equal(ex_limits_label(&l, "memory:lots", &want), -EINVAL);
    assert_non_null(strstr(want, "size"));
    assert_int_equal(ex_limits_label(&l, "memory:0", &want), -EINVAL);
    assert_int_equal(ex_limits_label(&l, "cpus:0", &want), -EINVAL);
    assert_int_equal(ex_limits_label(&l, "cpus:fast", &want), -EINVAL);
    assert_int_equal(ex_limits_label(&l, "pids:0", &want), -EINVAL);
    assert_int_equal(ex_limits_label(&l, "gpu:999", &want), -EINVAL);
    assert_int_equal(ex_limits_label(&l, "network:wide", &want), -EINVAL);
    assert_int_equal(ex_limits_label(&l, "gpu:", &want), -EINVAL);
    (void)state;
}

static void test_merge_takes_the_lower(void **state)
{
    struct ex_limits a = {0}, b = {0};
    const char *want;

    assert_int_equal(ex_limits_set(&a, "memory", "4G", &want), 0);
    assert_int_equal(ex_limits_set(&a, "pids", "100", &want), 0);
    assert_int_equal(ex_limits_set(&b, "memory", "8G", &want), 0);
    assert_int_equal(ex_limits_set(&b, "pids", "50", &want), 0);
    assert_int_equal(ex_limits_set(&b, "gpu", "0", &want), 0);
    ex_limits_merge(&a, &b);
    assert_int_equal(a.memory, 4ull << 30);
    assert_int_equal(a.pids, 50);
    assert_true(a.set & EX_LIM_GPUS);
    assert_int_equal(a.gpus, 0);
    assert_int_equal(ex_limits_set(&a, "color", "red", &want), -ENOENT);
    (void)state;
}

static void test_apply_only_lowers(void **state)
{
    struct sb_policy p = {.memory_max = 1ull << 30, .cpu_quota_us = 200000, .pids_max = 1000};
    struct ex_limits l = {0};
    const char *want;
    char note[256], refused[256];
    size_t gpus = 2;

    assert_int_equal(ex_limits_set(&l, "memory", "256M", &want), 0);
    assert_int_equal(ex_limits_set(&l, "cpus", "8", &want), 0); /* more than the runner's 2 */
    assert_int_equal(ex_limits_set(&l, "pids", "5000", &want), 0);
    assert_int_equal(ex_limits_set(&l, "nofile", "1024", &want), 0);
    assert_int_equal(ex_limits_set(&l, "gpu", "1", &want), 0);
    assert_int_equal(ex_limits_set(&l, "network", "none", &want), 0);
    ex_limits_apply(&l, &p, &gpus, note, sizeof(note), refused, sizeof(refused));
    assert_int_equal(p.memory_max, 256ull << 20);
    assert_int_equal(p.cpu_quota_us, 200000); /* never raised */
    assert_int_equal(p.pids_max, 1000);
    assert_int_equal(p.nofile, 1024); /* below the sandbox's default 65536 */
    assert_int_equal(gpus, 1);
    assert_true(p.network_none);
    assert_string_equal(note, "memory 256 MiB, nofile 1024, gpu 1, network none");
    assert_string_equal(refused, "cpus 8 (the runner's 2 stays), pids 5000 (the runner's 1000 "
                                 "stays)");

    /* no runner limit: the job's own applies; asking more GPUs than the slots is refused */
    struct sb_policy open = {0};
    struct ex_limits m = {0};

    gpus = 1;
    assert_int_equal(ex_limits_set(&m, "memory", "1G", &want), 0);
    assert_int_equal(ex_limits_set(&m, "cpus", "0.5", &want), 0);
    assert_int_equal(ex_limits_set(&m, "gpu", "4", &want), 0);
    ex_limits_apply(&m, &open, &gpus, note, sizeof(note), refused, sizeof(refused));
    assert_int_equal(open.memory_max, 1ull << 30);
    assert_int_equal(open.cpu_quota_us, 50000);
    assert_int_equal(gpus, 1);
    assert_string_equal(note, "memory 1 GiB, cpus 0.5");
    assert_string_equal(refused, "gpu 4 (the runner's 1 stays)");

    /* nothing asked: nothing changes */
    struct sb_policy same = p;
    struct ex_limits none = {0};

    ex_limits_apply(&none, &same, NULL, note, sizeof(note), NULL, 0);
    assert_memory_equal(&same, &p, sizeof(p));
    assert_string_equal(note, "");
    (void)state;
}

static void test_rules_match(void **state)
{
    struct ex_limit_rule r = {.repository = "acme/*", .job = "gpu-?"};

    assert_true(ex_limit_rule_matches(&r, "acme/app", "Deploy", "gpu-1"));
    assert_false(ex_limit_rule_matches(&r, "other/app", "Deploy", "gpu-1"));
    assert_false(ex_limit_rule_matches(&r, "acme/app", "Deploy", "gpu-12"));
    assert_false(ex_limit_rule_matches(&r, NULL, NULL, "gpu-1"));
    r = (struct ex_limit_rule){0};
    assert_true(ex_limit_rule_matches(&r, NULL, NULL, NULL)); /* no pattern: every job */
    (void)state;
}

static void test_settings_rules(void **state)
{
    const char *text = "{\"memory\": \"4G\", \"jobs\": ["
                       "{\"repository\": \"acme/*\", \"job\": \"small\", \"memory\": \"64M\", "
                       "\"pids\": 32, \"cpus\": 0.5, \"network\": \"none\"},"
                       "{\"workflow\": \"Deploy\", \"gpus\": 1}]}";
    struct rn_sandbox_config c;
    struct gr_diag d = {0};

    assert_int_equal(rn_sandbox_config_parse(text, strlen(text), "s.json", NULL, &c, &d), 0);
    assert_int_equal(c.n_rules, 2);
    assert_string_equal(c.rules[0].repository, "acme/*");
    assert_string_equal(c.rules[0].job, "small");
    assert_null(c.rules[0].workflow);
    assert_int_equal(c.rules[0].lim.memory, 64ull << 20);
    assert_int_equal(c.rules[0].lim.pids, 32);
    assert_true(c.rules[0].lim.cpus > 0.49 && c.rules[0].lim.cpus < 0.51);
    assert_true(c.rules[0].lim.network_none);
    assert_string_equal(c.rules[1].workflow, "Deploy");
    assert_int_equal(c.rules[1].lim.set, EX_LIM_GPUS);
    assert_int_equal(c.rules[1].lim.gpus, 1);
    rn_sandbox_config_release(&c);

    static const struct {
        const char *text, *says;
    } bad[] = {
        {"{\"jobs\": {}}", "want a list of rules"},
        {"{\"jobs\": [3]}", "rule 1 is not an object"},
        {"{\"jobs\": [{}, {\"memory\": \"big\"}]}", "rule 2: 'memory': want a size"},
        {"{\"jobs\": [{\"job\": 5}]}", "rule 1: 'job' wants a pattern"},
        {"{\"jobs\": [{\"colour\": \"red\"}]}", "unknown key 'colour'"},
        {"{\"jobs\": [{\"pids\": -4}]}", "rule 1: 'pids'"},
        {"{\"jobs\": [{\"network\": true}]}", "rule 1: 'network'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char msg[700];

        d = (struct gr_diag){0};
        assert_true(
            rn_sandbox_config_parse(bad[i].text, strlen(bad[i].text), "s.json", NULL, &c, &d) < 0);
        gr_diag_format(&d, msg, sizeof(msg));
        if (!strstr(msg, bad[i].says))
            fail_msg("%s: '%s' does not say '%s'", bad[i].text, msg, bad[i].says);
        assert_non_null(strstr(msg, "s.json"));
    }
    (void)state;
}

/* Fake GPU nodes: the slots are the configured minors the host has, per job as configured. */
static void test_gpu_slots(void **state)
{
    char dir[] = "/tmp/gr-gpuslots-XXXXXX", path[64];
    const char *text = "{\"gpus\": [0, 2, 7], \"gpus_per_job\": 1}";
    struct rn_sandbox_config c;
    struct ex_gpu_slots g;

    assert_non_null(mkdtemp(dir));
    for (int m = 0; m < 4; m++) {
        snprintf(path, sizeof(path), "%s/nvidia%d", dir, m);
        assert_int_equal(close(creat(path, 0600)), 0); /* discovery reads the names */
    }
    setenv("GHRUN_GPU_DEV_DIR", dir, 1);
    setenv("GHRUN_GPU_PROC_DIR", "/nonexistent", 1);
    setenv("GHRUN_NVIDIA_SMI", "", 1);
    setenv("GHRUN_GPU_LOCK_DIR", dir, 1);
    assert_int_equal(rn_sandbox_config_parse(text, strlen(text), "s.json", NULL, &c, NULL), 0);
    assert_int_equal(rn_config_gpu_slots(&c, &g), 1); /* says on stderr: no GPU 7 */
    assert_int_equal(g.all.n, 4);
    assert_int_equal(g.slots.n, 2);
    assert_int_equal(g.slots.gpu[0].minor, 0);
    assert_int_equal(g.slots.gpu[1].minor, 2);
    assert_int_equal(g.per_job, 1);
    assert_string_equal(g.lock_dir, dir);
    assert_string_equal(g.dev_dir, dir);
    rn_sandbox_config_release(&c);

    /* "all" without gpus_per_job: a job gets every GPU */
    text = "{\"gpus\": \"all\"}";
    assert_int_equal(rn_sandbox_config_parse(text, strlen(text), "s.json", NULL, &c, NULL), 0);
    assert_int_equal(rn_config_gpu_slots(&c, &g), 1);
    assert_int_equal(g.slots.n, 4);
    assert_int_equal(g.per_job, 4);
    rn_sandbox_config_release(&c);

    /* no GPUs named: no slots */
    assert_int_equal(rn_sandbox_config_parse("{}", 2, "s.json", NULL, &c, NULL), 0);
    assert_int_equal(rn_config_gpu_slots(&c, &g), 0);
    rn_sandbox_config_release(&c);

    for (int m = 0; m < 4; m++) {
        snprintf(path, sizeof(path), "%s/nvidia%d", dir, m);
        unlink(path);
    }
    rmdir(dir);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_merge_takes_the_lower),
        cmocka_unit_test(test_apply_only_lowers),
        cmocka_unit_test(test_rules_match),
        cmocka_unit_test(test_settings_rules),
        cmocka_unit_test(test_gpu_slots),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
