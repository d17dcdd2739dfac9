/*
 * Both cgroup back ends against fake trees in a temporary directory: the
 * detection (unified, hybrid, legacy, nested own cgroup, mountinfo with a
 * mount root), the files a job writes (limits), step join, the kill switch
 * used, the statistics read at reap, and removal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../sandbox/internal.h" /* executor/ has an internal.h too */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fake {
    char root[256];
    char self[300];
    char mountinfo[300];
};

static void put(const struct fake *f, const char *rel, const char *text)
{
    char p[SB_PATH], dir[SB_PATH];

    snprintf(p, sizeof(p), "%s/%s", f->root, rel);
    snprintf(dir, sizeof(dir), "%s", p);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(sb__mkdir_p(dir, 0755), 0);
    assert_int_equal(sb__write_file(p, text, true), 0);
}

static void dir(const struct fake *f, const char *rel)
{
    char p[2 * SB_PATH];

    snprintf(p, sizeof(p), "%s/%s", f->root, rel);
    assert_int_equal(sb__mkdir_p(p, 0755), 0);
}

static void expect_file(const char *dirpath, const char *file, const char *want)
{
    char p[SB_PATH], got[256];

    snprintf(p, sizeof(p), "%s/%s", dirpath, file);
    assert_true(sb__read_file(p, got, sizeof(got)) >= 0);
    assert_string_equal(got, want);
}

static int setup(void **state)
{
    struct fake *f = calloc(1, sizeof(*f));
    char tmpl[200];

    if (!f || sb__mkdtemp(tmpl, sizeof(tmpl), "/tmp/gr-sb-cgtest-") < 0)
        return -1;
    snprintf(f->root, sizeof(f->root), "%s/fs", tmpl);
    snprintf(f->self, sizeof(f->self), "%s/self_cgroup", tmpl);
    snprintf(f->mountinfo, sizeof(f->mountinfo), "%s/mountinfo", tmpl);
    if (mkdir(f->root, 0755) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fake *f = *state;
    char top[256];

    snprintf(top, sizeof(top), "%s", f->root);
    *strrchr(top, '/') = '\0';
    (void)sb__rm_rf(top);
    free(f);
    return 0;
}

static struct sb_cg_env env_of(const struct fake *f, bool mountinfo)
{
    return (struct sb_cg_env){
        .root = f->root,
        .self_cgroup = f->self,
        .mountinfo = mountinfo ? f->mountinfo : NULL,
        .fake = true,
    };
}

static struct sb_cg cg_scratch;

static const struct sb_policy limits = {
    .memory_max = 64ull << 20,
    .pids_max = 100,
    .cpu_quota_us = 50000,
};

static void test_v2_unified(void **state)
{
    struct fake *f = *state;
    struct sb_cgjob *j = calloc(1, sizeof(*j));
    struct sb_cg cg;
    struct sb_step_stats st;
    const char *failed = NULL;
    char step[2 * SB_PATH], desc[128];

    put(f, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    put(f, "cgroup.subtree_control", "");
    put(f, "cgroup.kill", "");
    assert_int_equal(sb__write_file(f->self, "0::/\n", true), 0);
    assert_int_equal(
        sb_cg_detect(&(struct sb_cg_env){.root = f->root, .self_cgroup = f->self, .fake = true},
                     &cg),
        0);
    assert_int_equal(cg.mode, SB_CG_V2);
    assert_string_equal(cg.v2_self, f->root);
    assert_int_equal(cg.on[SB_CTL_MEMORY], SB_CG_ON_V2);
    assert_int_equal(cg.on[SB_CTL_PIDS], SB_CG_ON_V2);
    assert_int_equal(cg.on[SB_CTL_CPU], SB_CG_ON_V2);
    assert_int_equal(cg.on[SB_CTL_FREEZER], SB_CG_OFF);

    assert_int_equal(sb_cg_job_create(&cg, "build/1", &limits, j), 0);
    assert_int_equal(j->kill, SB_KILL_V2);
    assert_non_null(strstr(j->v2, "/ghrun/job-build_1-"));
    expect_file(j->v2, "memory.max", "67108864");
    expect_file(j->v2, "memory.swap.max", "0");
    expect_file(j->v2, "pids.max", "100");
    expect_file(j->v2, "cpu.max", "50000 100000");
    sb_cg_describe(&j->cg, j->kill, desc, sizeof(desc));
    assert_string_equal(desc, "v2[mem:v2 pids:v2 cpu:v2 kill:v2]");

    assert_int_equal(sb_cg_step_enter(j->v2, NULL, 0, true, 4242, &failed), 0);
    snprintf(step, sizeof(step), "%s/step-4242", j->v2);
    expect_file(step, "cgroup.procs", "4242");
    snprintf(step, sizeof(step), "%s/step-4242/memory.peak", j->v2);
    assert_int_equal(sb__write_file(step, "5000\n", true), 0);
    {
        char ev[2 * SB_PATH];

        snprintf(ev, sizeof(ev), "%s/memory.events", j->v2);
        assert_int_equal(sb__write_file(ev, "low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\n", true), 0);
    }
    assert_int_equal(sb_cg_step_finish(j, &st), 0);
    expect_file(j->v2, "cgroup.kill", "1");
    assert_true(st.oom_killed);
    assert_int_equal(st.oom_kills, 2);
    assert_int_equal(st.memory_peak, 5000);
    assert_int_equal(st.memory_limit, 64ull << 20);
    snprintf(step, sizeof(step), "%s/step-4242", j->v2);
    assert_false(sb__exists(step));

    /* the next step starts from the job's count */
    assert_int_equal(sb_cg_step_finish(j, &st), 0);
    assert_false(st.oom_killed);
    assert_int_equal(st.oom_kills, 0);

    snprintf(step, sizeof(step), "%s", j->v2);
    assert_int_equal(sb_cg_job_destroy(j), 0);
    assert_false(sb__exists(step));
    free(j);
}

/* Steps in the job's own cgroup (--cgroup-flat): no step dir, statistics from the job. */
static void test_v2_flat_steps(void **state)
{
    struct fake *f = *state;
    struct sb_cgjob *j = calloc(1, sizeof(*j));
    struct sb_cg cg;
    struct sb_step_stats st;
    const char *failed = NULL;
    char p[2 * SB_PATH];

    put(f, "cgroup.controllers", "memory pids\n");
    put(f, "cgroup.subtree_control", "");
    put(f, "cgroup.kill", "");
    assert_int_equal(sb__write_file(f->self, "0::/\n", true), 0);
    assert_int_equal(
        sb_cg_detect(&(struct sb_cg_env){.root = f->root, .self_cgroup = f->self, .fake = true},
                     &cg),
        0);
    assert_int_equal(sb_cg_job_create(&cg, "flat", &limits, j), 0);
    assert_int_equal(sb_cg_job_enter(j->v2, NULL, 0, true, 5151, &failed), 0);
    expect_file(j->v2, "cgroup.procs", "5151");
    snprintf(p, sizeof(p), "%s/step-5151", j->v2);
    assert_false(sb__exists(p));
    snprintf(p, sizeof(p), "%s/memory.peak", j->v2);
    assert_int_equal(sb__write_file(p, "7000\n", true), 0);
    snprintf(p, sizeof(p), "%s/memory.events", j->v2);
    assert_int_equal(sb__write_file(p, "oom 1\noom_kill 1\n", true), 0);
    snprintf(p, sizeof(p), "%s/pids.events", j->v2);
    assert_int_equal(sb__write_file(p, "max 4\n", true), 0);
    assert_int_equal(sb_cg_step_finish(j, &st), 0);
    assert_true(st.oom_killed);
    assert_int_equal(st.memory_peak, 7000);
    assert_int_equal(st.pids_limit_hit, 4);
    assert_int_equal(st.pids_limit, 100);
    /* the next step: only what changed since */
    snprintf(p, sizeof(p), "%s/pids.events", j->v2);
    assert_int_equal(sb__write_file(p, "max 6\n", true), 0);
    assert_int_equal(sb_cg_step_finish(j, &st), 0);
    assert_false(st.oom_killed);
    assert_int_equal(st.pids_limit_hit, 2);
    /* a missing job dir is named */
    assert_true(sb_cg_job_enter("/nonexistent/gr-cg", NULL, 0, false, 1, &failed) < 0);
    assert_string_equal(failed, "/nonexistent/gr-cg");
    assert_int_equal(sb_cg_job_destroy(j), 0);
    free(j);
}

static void test_v2_nested_self(void **state)
{
    struct fake *f = *state;
    struct sb_cg cg;
    char want[SB_PATH];

    put(f, "cgroup.controllers", "cpu memory pids\n");
    put(f, "system.slice/ghrun.service/cgroup.controllers", "memory pids\n");
    assert_int_equal(sb__write_file(f->self, "0::/system.slice/ghrun.service\n", true), 0);
    assert_int_equal(
        sb_cg_detect(&(struct sb_cg_env){.root = f->root, .self_cgroup = f->self, .fake = true},
                     &cg),
        0);
    snprintf(want, sizeof(want), "%s/system.slice/ghrun.service", f->root);
    assert_string_equal(cg.v2_self, want);
    assert_int_equal(cg.on[SB_CTL_MEMORY], SB_CG_ON_V2);
    assert_int_equal(cg.on[SB_CTL_PIDS], SB_CG_ON_V2);
    assert_int_equal(cg.on[SB_CTL_CPU], SB_CG_OFF); /* not delegated to us */
}

static void hybrid_tree(struct fake *f)
{
    put(f, "unified/cgroup.controllers", "hugetlb\n");
    put(f, "unified/cgroup.kill", "");
    put(f, "memory/runner/memory.memsw.limit_in_bytes", "9223372036854771712");
    dir(f, "pids");
    dir(f, "cpu");
    dir(f, "freezer");
    assert_int_equal(sb__write_file(f->self,
                                    "9:name=systemd:/\n8:pids:/\n6:freezer:/\n"
                                    "4:memory:/runner\n1:cpu,cpuacct:/\n0::/\n",
                                    true),
                     0);
}

static void test_hybrid(void **state)
{
    struct fake *f = *state;
    struct sb_cgjob *j = calloc(1, sizeof(*j));
    struct sb_cg cg;
    struct sb_step_stats st;
    const char *v1[SB_CTL_N], *failed = NULL;
    char want[SB_PATH], p[2 * SB_PATH], desc[128];
    size_t n;

    hybrid_tree(f);
    assert_int_equal(
        sb_cg_detect(&(struct sb_cg_env){.root = f->root, .self_cgroup = f->self, .fake = true},
                     &cg),
        0);
    assert_int_equal(cg.mode, SB_CG_HYBRID);
    snprintf(want, sizeof(want), "%s/unified", f->root);
    assert_string_equal(cg.v2_mount, want);
    snprintf(want, sizeof(want), "%s/memory/runner", f->root);
    assert_string_equal(cg.v1_self[SB_CTL_MEMORY], want);
    assert_int_equal(cg.on[SB_CTL_MEMORY], SB_CG_ON_V1);
    assert_int_equal(cg.on[SB_CTL_PIDS], SB_CG_ON_V1);
    assert_int_equal(cg.on[SB_CTL_CPU], SB_CG_ON_V1);

    assert_int_equal(sb_cg_job_create(&cg, "j", &limits, j), 0);
    /* kill through v2 cgroup.kill even though v2 has no controllers: no freezer dir */
    assert_int_equal(j->kill, SB_KILL_V2);
    assert_string_equal(j->v1[SB_CTL_FREEZER], "");
    sb_cg_describe(&j->cg, j->kill, desc, sizeof(desc));
    assert_string_equal(desc, "hybrid[mem:v1 pids:v1 cpu:v1 kill:v2]");
    expect_file(j->v1[SB_CTL_MEMORY], "memory.limit_in_bytes", "67108864");
    expect_file(j->v1[SB_CTL_MEMORY], "memory.memsw.limit_in_bytes", "67108864");
    expect_file(j->v1[SB_CTL_PIDS], "pids.max", "100");
    expect_file(j->v1[SB_CTL_CPU], "cpu.cfs_period_us", "100000");
    expect_file(j->v1[SB_CTL_CPU], "cpu.cfs_quota_us", "50000");
    n = sb_cg_v1_dirs(j, v1, SB_CTL_N);
    assert_int_equal(n, 3);

    assert_int_equal(sb_cg_step_enter(j->v2, v1, n, true, 77, &failed), 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof(p), "%s/step-77", v1[i]);
        expect_file(p, "cgroup.procs", "77");
    }
    /* v1 counts the kill in the victim's memcg (the step) */
    snprintf(p, sizeof(p), "%s/step-77/memory.oom_control", j->v1[SB_CTL_MEMORY]);
    assert_int_equal(sb__write_file(p, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n", true), 0);
    snprintf(p, sizeof(p), "%s/step-77/memory.max_usage_in_bytes", j->v1[SB_CTL_MEMORY]);
    assert_int_equal(sb__write_file(p, "67100000\n", true), 0);
    snprintf(p, sizeof(p), "%s/memory.failcnt", j->v1[SB_CTL_MEMORY]);
    assert_int_equal(sb__write_file(p, "12\n", true), 0);
    assert_int_equal(sb_cg_step_finish(j, &st), 0);
    assert_true(st.oom_killed);
    assert_int_equal(st.oom_kills, 1);
    assert_int_equal(st.memory_peak, 67100000);
    assert_int_equal(st.memory_failcnt, 12);
    snprintf(p, sizeof(p), "%s/step-77", j->v1[SB_CTL_MEMORY]);
    assert_false(sb__exists(p));

    snprintf(p, sizeof(p), "%s", j->v1[SB_CTL_PIDS]);
    assert_int_equal(sb_cg_job_destroy(j), 0);
    assert_false(sb__exists(p));
    free(j);
}

/* GPU isolation on v1: deny all, then the basic devices, the NVIDIA nodes and the leased GPU. */
static void test_v1_devices(void **state)
{
    struct fake *f = *state;
    struct sb_cgjob *j = calloc(1, sizeof(*j));
    struct sb_policy gpu = {.gpu_isolate = true, .gpu_minors = {1}, .n_gpu_minors = 1};
    struct sb_cg_env env = {.root = f->root, .self_cgroup = f->self, .fake = true};
    char devs[SB_PATH + 16];
    const char *v1[SB_CTL_N];

    dir(f, "pids");
    dir(f, "devices");
    snprintf(devs, sizeof(devs), "%s/proc_devices", f->root);
    assert_int_equal(sb__write_file(devs,
                                    "Character devices:\n  1 mem\n195 nvidia-frontend\n"
                                    "508 nvidia-uvm\n509 nvidia-caps\n\nBlock devices:\n"
                                    "  7 nvidia-uvm\n",
                                    true),
                     0);
    env.proc_devices = devs;
    assert_int_equal(sb__write_file(f->self, "5:devices:/\n8:pids:/\n", true), 0);
    assert_int_equal(sb_cg_detect(&env, &cg_scratch), 0);
    assert_int_equal(cg_scratch.on[SB_CTL_DEVICES], SB_CG_ON_V1);
    /* without gpu_isolate the job has no devices dir */
    assert_int_equal(sb_cg_job_create(&cg_scratch, "nogpu", &limits, j), 0);
    assert_string_equal(j->v1[SB_CTL_DEVICES], "");
    assert_false(j->devices);
    assert_int_equal(sb_cg_job_destroy(j), 0);

    assert_int_equal(sb_cg_job_create(&cg_scratch, "gpu", &gpu, j), 0);
    assert_true(j->devices);
    expect_file(j->v1[SB_CTL_DEVICES], "devices.deny", "a\n");
    expect_file(j->v1[SB_CTL_DEVICES], "devices.allow",
                "c 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\nc 5:0 rwm\n"
                "c 5:2 rwm\nc 136:* rwm\nc 195:255 rw\nc 508:* rw\nc 509:* rw\nc 195:1 rw\n");
    /* no pids limit: only the devices dir for the helper to join */
    assert_string_equal(j->v1[SB_CTL_PIDS], "");
    assert_int_equal(sb_cg_v1_dirs(j, v1, SB_CTL_N), 1);
    assert_int_equal(sb_cg_job_destroy(j), 0);
    free(j);
}

static void test_legacy_v1_freezer(void **state)
{
    struct fake *f = *state;
    struct sb_cgjob *j = calloc(1, sizeof(*j));
    struct sb_cg cg;
    struct sb_step_stats st;
    char p[2 * SB_PATH];

    dir(f, "memory");
    dir(f, "pids");
    dir(f, "freezer");
    assert_int_equal(sb__write_file(f->self, "6:freezer:/\n4:memory:/\n8:pids:/\n", true), 0);
    assert_int_equal(
        sb_cg_detect(&(struct sb_cg_env){.root = f->root, .self_cgroup = f->self, .fake = true},
                     &cg),
        0);
    assert_int_equal(cg.mode, SB_CG_V1);
    assert_int_equal(cg.on[SB_CTL_CPU], SB_CG_OFF);
    assert_int_equal(cg.on[SB_CTL_FREEZER], SB_CG_ON_V1);
    assert_int_equal(sb_cg_job_create(&cg, "legacy", &limits, j), 0);
    assert_int_equal(j->kill, SB_KILL_V1_FREEZER);
    assert_string_equal(j->v2, "");
    /* no memsw file in the parent: no swap accounting, so none written */
    snprintf(p, sizeof(p), "%s/memory.memsw.limit_in_bytes", j->v1[SB_CTL_MEMORY]);
    assert_false(sb__exists(p));
    assert_int_equal(sb_cg_step_finish(j, &st), 0);
    /* frozen, swept, thawed */
    expect_file(j->v1[SB_CTL_FREEZER], "freezer.state", "THAWED");
    assert_false(st.oom_killed);
    assert_int_equal(sb_cg_job_kill(j, SIGKILL), 0);
    assert_int_equal(sb_cg_job_destroy(j), 0);
    free(j);
}

/*
 * The split layout of a job with a step server: the init in init/, steps in
 * step/. A step's reap and a SIGKILL of the job reach step/ only (the init
 * survives them); the job's end reaches the whole job.
 */
static void test_v2_split(void **state)
{
    struct fake *f = *state;
    struct sb_cgjob *j = calloc(1, sizeof(*j));
    struct sb_cg cg;
    struct sb_step_stats st;
    char p[2 * SB_PATH], job[SB_PATH];

    put(f, "cgroup.controllers", "memory pids\n");
    put(f, "cgroup.subtree_control", "");
    put(f, "cgroup.kill", "");
    assert_int_equal(sb__write_file(f->self, "0::/\n", true), 0);
    assert_int_equal(
        sb_cg_detect(&(struct sb_cg_env){.root = f->root, .self_cgroup = f->self, .fake = true},
                     &cg),
        0);
    assert_int_equal(sb_cg_job_create(&cg, "split", &limits, j), 0);
    assert_int_equal(sb_cg_job_split(j), 0);
    assert_true(j->split);
    snprintf(p, sizeof(p), "%s/init", j->v2);
    assert_string_equal(j->v2_init, p);
    assert_true(sb__exists(p));
    snprintf(p, sizeof(p), "%s/step", j->v2);
    assert_string_equal(j->v2_step, p);
    assert_true(sb__exists(p));
    assert_string_equal(j->v1_step, ""); /* the kill switch is v2 */
    snprintf(p, sizeof(p), "%s/memory.events", j->v2);
    assert_int_equal(sb__write_file(p, "oom 1\noom_kill 1\n", true), 0);
    assert_int_equal(sb_cg_step_finish(j, &st), 0);
    expect_file(j->v2_step, "cgroup.kill", "1");
    snprintf(p, sizeof(p), "%s/cgroup.kill", j->v2);
    assert_false(sb__exists(p)); /* the job's init lives on */
    /* counters stay the job's: the step's OOM kill is seen there */
    assert_true(st.oom_killed);
    assert_true(sb__exists(j->v2_init));
    assert_true(sb__exists(j->v2_step));
    assert_int_equal(sb_cg_job_kill(j, SIGKILL), 0);
    assert_false(sb__exists(p));
    snprintf(job, sizeof(job), "%s", j->v2);
    assert_int_equal(sb_cg_job_destroy(j), 0);
    assert_false(sb__exists(job));
    free(j);
}

static void test_v1_freezer_split(void **state)
{
    struct fake *f = *state;
    struct sb_cgjob *j = calloc(1, sizeof(*j));
    struct sb_cg cg;
    struct sb_step_stats st;
    char p[2 * SB_PATH];

    dir(f, "memory");
    dir(f, "freezer");
    assert_int_equal(sb__write_file(f->self, "6:freezer:/\n4:memory:/\n", true), 0);
    assert_int_equal(
        sb_cg_detect(&(struct sb_cg_env){.root = f->root, .self_cgroup = f->self, .fake = true},
                     &cg),
        0);
    assert_int_equal(sb_cg_job_create(&cg, "legacy-split", &limits, j), 0);
    assert_int_equal(j->kill, SB_KILL_V1_FREEZER);
    assert_int_equal(sb_cg_job_split(j), 0);
    snprintf(p, sizeof(p), "%s/step", j->v1[SB_CTL_FREEZER]);
    assert_string_equal(j->v1_step, p);
    snprintf(p, sizeof(p), "%s/init", j->v1[SB_CTL_FREEZER]);
    assert_string_equal(j->v1_init, p);
    assert_int_equal(sb_cg_step_finish(j, &st), 0);
    /* the step's freezer was frozen, swept and thawed; the job's was not touched */
    expect_file(j->v1_step, "freezer.state", "THAWED");
    snprintf(p, sizeof(p), "%s/freezer.state", j->v1[SB_CTL_FREEZER]);
    assert_false(sb__exists(p));
    snprintf(p, sizeof(p), "%s", j->v1[SB_CTL_FREEZER]);
    assert_int_equal(sb_cg_job_destroy(j), 0);
    assert_false(sb__exists(p));
    free(j);
}

static void test_mountinfo_root(void **state)
{
    struct fake *f = *state;
    struct sb_cg cg;
    char line[1024], want[SB_PATH];
    struct sb_cg_env env = env_of(f, true);

    dir(f, "mnt/mem/job-host");
    snprintf(line, sizeof(line),
             "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
             "34 30 0:31 /outer %s/mnt/mem rw,relatime - cgroup cgroup rw,memory\n"
             "38 30 0:35 / %s/mnt/pids rw,relatime - cgroup cgroup rw,pids\n",
             f->root, f->root);
    assert_int_equal(sb__write_file(f->mountinfo, line, true), 0);
    dir(f, "mnt/pids");
    assert_int_equal(sb__write_file(f->self, "4:memory:/outer/job-host\n8:pids:/\n", true), 0);
    assert_int_equal(sb_cg_detect(&env, &cg), 0);
    assert_int_equal(cg.mode, SB_CG_V1);
    snprintf(want, sizeof(want), "%s/mnt/mem/job-host", f->root);
    assert_string_equal(cg.v1_self[SB_CTL_MEMORY], want);
    snprintf(want, sizeof(want), "%s/mnt/pids", f->root);
    assert_string_equal(cg.v1_self[SB_CTL_PIDS], want);
    assert_int_equal(cg.on[SB_CTL_FREEZER], SB_CG_OFF);
}

static void test_none(void **state)
{
    struct fake *f = *state;
    struct sb_cgjob *j = calloc(1, sizeof(*j));
    struct sb_cg cg;

    assert_int_equal(sb__write_file(f->self, "0::/\n", true), 0);
    assert_int_equal(
        sb_cg_detect(&(struct sb_cg_env){.root = f->root, .self_cgroup = f->self, .fake = true},
                     &cg),
        0);
    assert_int_equal(cg.mode, SB_CG_NONE);
    assert_int_equal(sb_cg_job_create(&cg, "x", &limits, j), -EOPNOTSUPP);
    free(j);
}

static void test_missing_self_file(void **state)
{
    struct fake *f = *state;
    struct sb_cg cg;

    put(f, "cgroup.controllers", "memory\n");
    assert_int_equal(sb_cg_detect(&(struct sb_cg_env){.root = f->root,
                                                      .self_cgroup = "/nonexistent/cgroup",
                                                      .fake = true},
                                  &cg),
                     -ENOENT);
}

static void test_stats_message(void **state)
{
    struct sb_step_stats st = {.oom_killed = true,
                               .oom_kills = 1,
                               .memory_limit = 4ull << 30,
                               .memory_peak = (4ull << 30) - 1024};
    char msg[128];

    assert_true(sb_step_stats_message(&st, msg, sizeof(msg)) > 0);
    assert_string_equal(msg, "killed: memory limit of 4 GiB reached (peak 4.0 GiB)");
    st.memory_peak = 0;
    st.memory_limit = 1536ull << 20;
    (void)sb_step_stats_message(&st, msg, sizeof(msg));
    assert_string_equal(msg, "killed: memory limit of 1.5 GiB reached");
    st.oom_killed = false;
    assert_int_equal(sb_step_stats_message(&st, msg, sizeof(msg)), 0);
    assert_string_equal(msg, "");
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_v2_unified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_flat_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_nested_self, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hybrid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_devices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_v1_freezer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_freezer_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mountinfo_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_self_file, setup, teardown),
        cmocka_unit_test(test_stats_message),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
