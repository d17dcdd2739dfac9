/*
 * Unit tests for the engine's pieces that need no workflow: shell templates
 * and argument splitting, GITHUB_PATH order, the step process environment,
 * job output filtering, and process supervision on a private loop (line
 * splitting, exit status, background children holding the pipes, timeouts
 * killing the whole process group).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine_internal.h"

static size_t argv_len(char **argv)
{
    size_t n = 0;

    while (argv[n])
        n++;
    return n;
}

static void test_split_args(void **state)
{
    char **a = ex__split_args("-command \". '{0}'\"");

    (void)state;
    assert_int_equal(argv_len(a), 2);
    assert_string_equal(a[0], "-command");
    assert_string_equal(a[1], ". '{0}'");
    ex__argv_free(a);

    a = ex__split_args("  a\\\\\"b c\"  d\\\"e f\\g ");
    assert_int_equal(argv_len(a), 3);
    assert_string_equal(a[0], "a\\b c");
    assert_string_equal(a[1], "d\"e");
    assert_string_equal(a[2], "f\\g");
    ex__argv_free(a);

    a = ex__split_args("");
    assert_int_equal(argv_len(a), 0);
    ex__argv_free(a);
}

static void test_shell_builtin(void **state)
{
    struct ex__shell sh;
    struct gr_diag d = {0};

    (void)state;
    assert_int_equal(ex__shell_parse("bash", "/usr/bin:/bin", &sh, &d), 0);
    assert_int_equal(argv_len(sh.argv), 7);
    assert_string_equal(sh.argv[0], "bash");
    assert_string_equal(sh.argv[1], "--noprofile");
    assert_string_equal(sh.argv[5], "pipefail");
    assert_string_equal(sh.argv[6], "{0}");
    assert_string_equal(sh.ext, ".sh");
    ex__shell_release(&sh);

    assert_int_equal(ex__shell_parse("sh", "/usr/bin:/bin", &sh, &d), 0);
    assert_int_equal(argv_len(sh.argv), 3);
    assert_string_equal(sh.argv[1], "-e");
    ex__shell_release(&sh);

    assert_int_equal(ex__shell_parse("python", "", &sh, &d), 0);
    assert_int_equal(argv_len(sh.argv), 2);
    assert_string_equal(sh.ext, ".py");
    ex__shell_release(&sh);

    assert_int_equal(ex__shell_parse("pwsh", "", &sh, &d), 0);
    assert_true(sh.pwsh);
    assert_string_equal(sh.ext, ".ps1");
    assert_string_equal(sh.argv[2], ". '{0}'");
    ex__shell_release(&sh);
}

static void test_shell_default(void **state)
{
    struct ex__shell sh;
    struct gr_diag d = {0};
    char *bash = ex__which("bash", "/usr/bin:/bin");

    (void)state;
    assert_non_null(bash); /* the test host has bash */
    free(bash);
    assert_int_equal(ex__shell_parse(NULL, "/usr/bin:/bin", &sh, &d), 0);
    assert_int_equal(argv_len(sh.argv), 3);
    assert_string_equal(sh.argv[0], "bash");
    assert_string_equal(sh.argv[1], "-e"); /* no pipefail, no --noprofile */
    ex__shell_release(&sh);

    /* without bash on PATH: sh -e {0} */
    assert_int_equal(ex__shell_parse("", "/nonexistent", &sh, &d), 0);
    assert_string_equal(sh.argv[0], "sh");
    ex__shell_release(&sh);
}

static void test_shell_custom(void **state)
{
    struct ex__shell sh;
    struct gr_diag d = {0};
    char **argv;

    (void)state;
    assert_int_equal(ex__shell_parse("cp {0} action.yml", "", &sh, &d), 0);
    assert_string_equal(sh.ext, "");
    argv = ex__shell_argv(&sh, "/tmp/dir with space/x");
    assert_int_equal(argv_len(argv), 3);
    assert_string_equal(argv[1], "/tmp/dir with space/x");
    assert_string_equal(argv[2], "action.yml");
    ex__argv_free(argv);
    ex__shell_release(&sh);

    assert_int_equal(ex__shell_parse("python -u {0}", "", &sh, &d), 0);
    assert_string_equal(sh.ext, ".py"); /* keyed on the program word */
    ex__shell_release(&sh);

    assert_int_equal(ex__shell_parse("perl -w", "", &sh, &d), GR_EFAILED);
    assert_non_null(strstr(d.msg, "{0}"));
}

static void test_script_text(void **state)
{
    struct ex__shell sh;
    struct gr_diag d = {0};
    char *t;

    (void)state;
    assert_int_equal(ex__shell_parse("bash", "", &sh, &d), 0);
    t = ex__script_text(&sh, "echo hi");
    assert_string_equal(t, "echo hi");
    free(t);
    ex__shell_release(&sh);
    assert_int_equal(ex__shell_parse("pwsh", "", &sh, &d), 0);
    t = ex__script_text(&sh, "echo hi");
    assert_true(gr_startswith(t, "$ErrorActionPreference = 'stop'\necho hi\n"));
    assert_non_null(strstr(t, "exit $LASTEXITCODE"));
    free(t);
    ex__shell_release(&sh);
}

static void test_path_order(void **state)
{
    json_t *list = json_array();
    char *v;

    (void)state;
    ex__path_add(list, "/a");
    ex__path_add(list, "/b");
    ex__path_add(list, "/a"); /* moved to the end: first in PATH */
    ex__path_add(list, "");
    assert_int_equal(json_array_size(list), 2);
    v = ex__path_value(list, "/usr/bin");
    assert_string_equal(v, "/a:/b:/usr/bin");
    free(v);
    json_decref(list);
}

static const char *envp_get(char **envp, const char *key)
{
    size_t kl = strlen(key);

    for (size_t i = 0; envp[i]; i++) {
        if (strncmp(envp[i], key, kl) == 0 && envp[i][kl] == '=')
            return envp[i] + kl + 1;
    }
    return NULL;
}

static void test_step_environ(void **state)
{
    char *base[] = {"PATH=/usr/bin", "HOME=/home/x", "FOO=base", NULL};
    json_t *env = json_pack("{s:s,s:s,s:i}", "FOO", "ctx", "GITHUB_SHA", "user", "N", 3);
    json_t *forced = json_pack("{s:s}", "GITHUB_SHA", "real");
    json_t *path = json_pack("[s]", "/tools");
    char **e = ex__step_environ(base, env, forced, path);

    (void)state;
    assert_string_equal(envp_get(e, "FOO"), "ctx");
    assert_string_equal(envp_get(e, "HOME"), "/home/x");
    assert_string_equal(envp_get(e, "GITHUB_SHA"), "real");
    assert_string_equal(envp_get(e, "GITHUB_ACTIONS"), "true");
    assert_string_equal(envp_get(e, "CI"), "true");
    assert_string_equal(envp_get(e, "N"), "3");
    assert_string_equal(envp_get(e, "PATH"), "/tools:/usr/bin");
    ex__argv_free(e);

    /* CI set by the workflow stays */
    json_object_set_new(env, "CI", json_string("false"));
    e = ex__step_environ(base, env, forced, path);
    assert_string_equal(envp_get(e, "CI"), "false");
    ex__argv_free(e);
    json_decref(env);
    json_decref(forced);
    json_decref(path);
}

static void test_outputs_filter(void **state)
{
    struct ex_reporter rep = {0};
    struct ex_run_opts opts = {0};
    struct ex__run run = {.rep = &rep, .opts = &opts};
    struct ex__leg leg = {.run = &run};
    json_t *outs = json_pack("{s:s,s:s,s:s,s:i}", "empty", "", "secret", "token=s3cr3t!", "plain",
                             "ok", "num", 5);

    (void)state;
    leg.masker = ex_masker_new();
    ex_masker_add(leg.masker, "s3cr3t", 6);
    ex__outputs_filter(&leg, outs);
    assert_int_equal(json_object_size(outs), 2);
    assert_string_equal(json_string_value(json_object_get(outs, "plain")), "ok");
    assert_string_equal(json_string_value(json_object_get(outs, "num")), "5");
    json_decref(outs);
    ex_masker_free(leg.masker);
}

/* ---- processes --------------------------------------------------------- */

struct proc_result {
    json_t *lines;
    int status;
    bool timed_out, done;
    uint64_t t_done;
};

static void on_line(void *ctx, const char *line, size_t len)
{
    struct proc_result *pr = ctx;

    json_array_append_new(pr->lines, json_stringn_nocheck(line, len));
}

static void on_done(void *ctx, int status, bool timed_out)
{
    struct proc_result *pr = ctx;

    pr->status = status;
    pr->timed_out = timed_out;
    pr->done = true;
    pr->t_done = gr_now_ns();
}

static pid_t run_proc(const char *script, double timeout_s, struct proc_result *pr)
{
    uv_loop_t loop;
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct ex__proc_opts o = {.argv = argv,
                              .envp = envp,
                              .cwd = "/",
                              .timeout_s = timeout_s,
                              .on_line = on_line,
                              .on_done = on_done,
                              .ctx = pr};
    struct ex__proc *p = NULL;
    pid_t pgid;

    pr->lines = json_array();
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(ex__proc_start(&loop, &o, &p), 0);
    pgid = ex__proc_pgid(p);
    assert_false(pr->done); /* never inside the start call */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_true(pr->done);
    assert_int_equal(uv_loop_close(&loop), 0);
    return pgid;
}

static void test_proc_lines_status(void **state)
{
    struct proc_result pr = {0};

    (void)state;
    run_proc("echo one; printf 'two\\r\\nthree'; echo err >&2; exit 3", 0, &pr);
    assert_int_equal(pr.status, 3);
    assert_false(pr.timed_out);
    assert_int_equal(json_array_size(pr.lines), 4);
    assert_string_equal(json_string_value(json_array_get(pr.lines, 0)), "one");
    json_decref(pr.lines);
}

static void test_proc_background_holds_pipe(void **state)
{
    struct proc_result pr = {0};
    uint64_t t0 = gr_now_ns();
    pid_t pgid;

    (void)state;
    /* the child keeps stdout open for 30 s; the step must end when sh exits */
    pgid = run_proc("sleep 30 & echo started", 0, &pr);
    assert_int_equal(pr.status, 0);
    assert_true(pr.t_done - t0 < 5000000000ull);
    assert_string_equal(json_string_value(json_array_get(pr.lines, 0)), "started");
    assert_int_equal(kill(-pgid, 0), 0); /* still alive until the job ends */
    assert_int_equal(kill(-pgid, SIGKILL), 0);
    json_decref(pr.lines);
}

static void test_proc_timeout_kills_tree(void **state)
{
    struct proc_result pr = {0};
    uint64_t t0 = gr_now_ns();
    char dir[] = "/tmp/ex_engine_XXXXXX", *script, *flag;

    (void)state;
    assert_non_null(mkdtemp(dir));
    flag = gr_path_join(dir, "flag");
    /* the background child would leave a file after 1 s unless the group is killed */
    script = gr_xasprintf("(sleep 1; touch '%s') & sleep 30; echo never", flag);
    run_proc(script, 0.3, &pr);
    assert_true(pr.timed_out);
    assert_int_equal(pr.status, -SIGKILL);
    assert_true(pr.t_done - t0 < 5000000000ull);
    assert_int_equal(json_array_size(pr.lines), 0);
    usleep(1500000);
    assert_false(gr_path_exists(flag));
    assert_int_equal(gr_rm_rf(dir), 0);
    free(script);
    free(flag);
    json_decref(pr.lines);
}

static void test_proc_spawn_error(void **state)
{
    uv_loop_t loop;
    char *argv[] = {"/nonexistent/prog", NULL};
    char *envp[] = {NULL};
    struct proc_result pr = {0};
    struct ex__proc_opts o = {
        .argv = argv, .envp = envp, .cwd = "/", .on_line = on_line, .on_done = on_done, .ctx = &pr};
    struct ex__proc *p = NULL;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(ex__proc_start(&loop, &o, &p), UV_ENOENT);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_false(pr.done);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_proc_huge_binary(void **state)
{
    struct proc_result pr = {0};
    size_t total = 0;

    (void)state;
    run_proc("head -c 3000000 /dev/zero; printf '\\001\\377x\\n'", 10, &pr);
    assert_int_equal(pr.status, 0);
    assert_true(json_array_size(pr.lines) >= 3); /* cut at the line limit */
    for (size_t i = 0; i < json_array_size(pr.lines); i++)
        total += json_string_length(json_array_get(pr.lines, i));
    assert_int_equal(total, 3000000 + 3);
    json_decref(pr.lines);
}

/* ---- the whole engine over a parsed workflow, with a recording reporter --- */

struct rec {
    json_t *events;
};

static void rec_add(struct rec *r, json_t *ev)
{
    json_array_append_new(r->events, ev);
}

static void rec_job_started(void *ctx, const void *job, const char *name)
{
    (void)job;
    rec_add(ctx, json_pack("{s:s,s:s}", "ev", "job_started", "name", name));
}

static void rec_step_finished(void *ctx, const void *job, int step, enum ex_result outcome,
                              enum ex_result conclusion, uint64_t dur)
{
    (void)job;
    (void)dur;
    rec_add(ctx, json_pack("{s:s,s:i,s:s,s:s}", "ev", "step", "i", step, "outcome",
                           ex_result_name(outcome), "conclusion", ex_result_name(conclusion)));
}

static void rec_log(void *ctx, const void *job, const char *line, size_t len)
{
    (void)job;
    rec_add(ctx, json_pack("{s:s,s:s%}", "ev", "log", "line", line, len));
}

static void rec_job_finished(void *ctx, const void *job, enum ex_result result, json_t *outputs,
                             uint64_t dur)
{
    (void)job;
    (void)dur;
    rec_add(ctx, json_pack("{s:s,s:s,s:O?}", "ev", "job_finished", "result", ex_result_name(result),
                           "outputs", outputs));
}

static const char engine_wf[] = "on: push\n"
                                "jobs:\n"
                                "  a:\n"
                                "    runs-on: x\n"
                                "    outputs:\n"
                                "      o: ${{ steps.s.outputs.v }}\n"
                                "      hidden: ${{ secrets.TOKEN }}\n"
                                "    steps:\n"
                                "      - id: s\n"
                                "        run: echo v=1 >> $GITHUB_OUTPUT; echo tok=$T\n"
                                "        env:\n"
                                "          T: ${{ secrets.TOKEN }}\n"
                                "      - run: exit 4\n"
                                "        continue-on-error: true\n"
                                "      - if: failure()\n"
                                "        run: echo never\n"
                                "  b:\n"
                                "    needs: a\n"
                                "    runs-on: x\n"
                                "    steps:\n"
                                "      - run: test '${{ needs.a.outputs.o }}' = 1 && exit 2\n"
                                "  c:\n"
                                "    needs: b\n"
                                "    runs-on: x\n"
                                "    steps:\n"
                                "      - run: echo skipped\n";

static void test_run_plan(void **state)
{
    char dir[] = "/tmp/ex_engine_run_XXXXXX";
    struct rec rec = {.events = json_array()};
    struct ex_reporter rep = {.ctx = &rec,
                              .job_started = rec_job_started,
                              .log_line = rec_log,
                              .step_finished = rec_step_finished,
                              .job_finished = rec_job_finished};
    struct ex_workflow *wf = NULL;
    struct ex_plan *plan = NULL;
    struct gr_diag d = {0};
    json_t *secrets = json_pack("{s:s}", "TOKEN", "t0ps3cr3t");
    struct ex_plan_opts po = {.event_name = "push", .secrets = secrets};
    struct ex_run_opts ro = {.max_jobs = 2};
    char *dump, *json_path;
    uv_loop_t loop;
    bool ok = true;

    (void)state;
    assert_non_null(mkdtemp(dir));
    po.repo_dir = dir;
    ro.workdir = dir;
    json_path = gr_path_join(dir, "out.json");
    ro.json_path = json_path;
    assert_int_equal(ex_workflow_parse("wf.yml", engine_wf, strlen(engine_wf), &wf, NULL, &d), 0);
    assert_int_equal(ex_plan_build(wf, &po, &plan, &d), 0);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(ex_run_plan(&loop, plan, &ro, &rep, &ok), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_false(ok); /* b failed */
    dump = json_dumps(rec.events, 0);
    /* a: continue-on-error keeps the job green; failure() does not run after it */
    assert_non_null(strstr(dump, "\"i\": 1, \"outcome\": \"failure\", \"conclusion\": "
                                 "\"success\""));
    assert_non_null(strstr(dump, "\"i\": 2, \"outcome\": \"skipped\""));
    /* the secret is masked in the log and its job output dropped */
    assert_null(strstr(dump, "t0ps3cr3t"));
    assert_non_null(strstr(dump, "tok=***"));
    assert_non_null(strstr(dump, "\"outputs\": {\"o\": \"1\"}"));
    /* b saw needs.a.outputs.o and failed with exit 2; c was skipped */
    assert_non_null(strstr(dump, "\"result\": \"failure\""));
    assert_non_null(strstr(dump, "\"result\": \"skipped\""));
    assert_true(gr_path_exists(json_path));
    free(dump);
    free(json_path);
    ex_plan_free(plan);
    ex_workflow_free(wf);
    json_decref(secrets);
    json_decref(rec.events);
    assert_int_equal(gr_rm_rf(dir), 0);
}

/* The same engine through the gr-sandbox helper: the workspace and RUNNER_TEMP stay writable. */
static void test_run_plan_sandboxed(void **state)
{
    static const char wf_src[] = "on: push\n"
                                 "jobs:\n"
                                 "  a:\n"
                                 "    runs-on: x\n"
                                 "    steps:\n"
                                 "      - run: touch ws-ok \"$RUNNER_TEMP/t\" && echo \"x=1\" >> "
                                 "\"$GITHUB_OUTPUT\"\n";
    char dir[] = "ex_engine_sb_XXXXXX"; /* not under /tmp, which the sandbox replaces */
    struct sb_policy pol = {0};
    struct ex_workflow *wf = NULL;
    struct ex_plan *plan = NULL;
    struct gr_diag d = {0};
    struct ex_plan_opts po = {.event_name = "push"};
    struct ex_run_opts ro = {.max_jobs = 1, .sandbox = &pol};
    struct rec rec = {.events = json_array()};
    struct ex_reporter rep = {.ctx = &rec, .log_line = rec_log, .job_finished = rec_job_finished};
    char *flag, *dump;
    uv_loop_t loop;
    bool ok = false, exists;

    (void)state;
    assert_non_null(mkdtemp(dir));
    po.repo_dir = dir;
    ro.workdir = dir;
    assert_int_equal(ex_workflow_parse("wf.yml", wf_src, strlen(wf_src), &wf, NULL, &d), 0);
    assert_int_equal(ex_plan_build(wf, &po, &plan, &d), 0);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(ex_run_plan(&loop, plan, &ro, &rep, &ok), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    flag = gr_path_join(dir, "ws-ok");
    exists = gr_path_exists(flag);
    dump = json_dumps(rec.events, 0);
    free(flag);
    ex_plan_free(plan);
    ex_workflow_free(wf);
    json_decref(rec.events);
    assert_int_equal(gr_rm_rf(dir), 0);
    if (!ok && strstr(dump, "gr-sandbox: ")) {
        print_message("no sandbox on this host: %s\n", dump);
        free(dump);
        skip();
    }
    free(dump);
    assert_true(ok);
    assert_true(exists);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_args),
        cmocka_unit_test(test_shell_builtin),
        cmocka_unit_test(test_shell_default),
        cmocka_unit_test(test_shell_custom),
        cmocka_unit_test(test_script_text),
        cmocka_unit_test(test_path_order),
        cmocka_unit_test(test_step_environ),
        cmocka_unit_test(test_outputs_filter),
        cmocka_unit_test(test_proc_lines_status),
        cmocka_unit_test(test_proc_background_holds_pipe),
        cmocka_unit_test(test_proc_timeout_kills_tree),
        cmocka_unit_test(test_proc_spawn_error),
        cmocka_unit_test(test_proc_huge_binary),
        cmocka_unit_test(test_run_plan),
        cmocka_unit_test(test_run_plan_sandboxed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
