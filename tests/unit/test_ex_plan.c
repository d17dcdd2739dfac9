/*
 * Unit tests for executor/plan.c, events.c and plan_print.c: filter globs,
 * triggers, inputs typing, needs stages, -j selection, matrix legs at plan
 * time (and deferred), printing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ex.h"

/* ---- helpers ----------------------------------------------------------- */

static struct ex_workflow *wf_parse(const char *src)
{
    struct ex_workflow *wf = NULL;
    struct gr_diag d = {0};

    if (ex_workflow_parse("t.yml", src, strlen(src), &wf, NULL, &d) != 0)
        fail_msg("workflow error %d:%d: %s", d.line, d.col, d.msg);
    return wf;
}

static json_t *J(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);

    if (!v)
        fail_msg("bad test JSON: %s", text);
    return v;
}

/* Plan with an optional event, payload and inputs (JSON texts). The repo is "/" (no git). */
static int plan(const struct ex_workflow *wf, const char *event, const char *payload,
                const char *inputs, const char *job, struct ex_plan **ret, struct gr_diag *d)
{
    json_t *p = payload ? J(payload) : NULL, *in = inputs ? J(inputs) : NULL;
    struct ex_plan_opts o = {
        .event_name = event,
        .event_payload = p,
        .inputs = in,
        .job_id = job,
        .repo_dir = "/",
    };
    int r = ex_plan_build(wf, &o, ret, d);

    json_decref(p);
    json_decref(in);
    return r;
}

static struct ex_plan *plan_ok(const struct ex_workflow *wf, const char *event, const char *payload,
                               const char *inputs, const char *job)
{
    struct ex_plan *p = NULL;
    struct gr_diag d = {0};

    if (plan(wf, event, payload, inputs, job, &p, &d) != 0)
        fail_msg("plan error %d:%d: %s", d.line, d.col, d.msg);
    return p;
}

/* "stage:id stage:id ..." */
static char *stages_str(const struct ex_plan *p)
{
    struct gr_buf b = GR_BUF_INIT(0);
    size_t i;

    for (i = 0; i < p->n_jobs; i++)
        assert_int_equal(gr_buf_addf(&b, "%s%d:%s", i ? " " : "", p->jobs[i].stage, p->jobs[i].id),
                         0);
    return gr_buf_detach(&b, NULL);
}

static void assert_stages(const struct ex_plan *p, const char *want)
{
    char *got = stages_str(p);

    assert_string_equal(got, want);
    free(got);
}

static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
}

static void assert_json(const json_t *v, const char *want)
{
    char *got = dump(v);

    assert_string_equal(got, want);
    free(got);
}

/* ---- globs and pattern lists ------------------------------------------- */

static void test_glob(void **state)
{
    static const struct {
        const char *pat, *s;
        bool match;
    } cases[] = {
        /* docs: filter pattern cheat sheet */
        {"feature/*", "feature/my-branch", true},
        {"feature/*", "feature/your-branch", true},
        {"feature/*", "feature/a/b", false},
        {"feature/**", "feature/beta-a/my-branch", true},
        {"feature/**", "feature/mona/the/octocat", true},
        {"main", "main", true},
        {"main", "mainline", false},
        {"releases/mona-the-octocat", "releases/mona-the-octocat", true},
        {"*", "main", true},
        {"*", "releases/x", false},
        {"**", "all/the/branches", true},
        {"**", "", true},
        {"*feature", "mona-feature", true},
        {"*feature", "feature", true},
        {"*feature", "ver-10-feature", true},
        {"v2*", "v2", true},
        {"v2*", "v2.0", true},
        {"v2*", "v2.9", true},
        {"v2*", "v1.0", false},
        {"v[12].[0-9]+.[0-9]+", "v1.10.1", true},
        {"v[12].[0-9]+.[0-9]+", "v2.0.0", true},
        {"v[12].[0-9]+.[0-9]+", "v3.0.0", false},
        {"v[12].[0-9]+.[0-9]+", "v1..0", false},
        {"**.js", "app.js", true},
        {"**.js", "index.js", true},
        {"**.js", "js/index.js", true},
        {"**.js", "src/js/app.js", true},
        {"*.js", "app.js", true},
        {"*.js", "src/app.js", false},
        {"docs/*", "docs/README.md", true},
        {"docs/*", "docs/file.txt", true},
        {"docs/*", "docs/a/b.txt", false},
        {"docs/**", "docs/README.md", true},
        {"docs/**", "docs/mona/octocat.txt", true},
        {"docs/**/*.md", "docs/README.md", true},
        {"docs/**/*.md", "docs/mona/hello-world.md", true},
        {"docs/**/*.md", "docs/a/markdown/file.md", true},
        {"**/docs/**", "docs/hello.md", true},
        {"**/docs/**", "dir/docs/my-file.txt", true},
        {"**/docs/**", "space/docs/plan/space.doc", true},
        {"**/README.md", "README.md", true},
        {"**/README.md", "js/README.md", true},
        {"**/*src/**", "a/src/app.js", true},
        {"**/*src/**", "my-src/code/js/app.js", true},
        {"**/*-post.md", "my-post.md", true},
        {"**/*-post.md", "path/their-post.md", true},
        {"**/migrate-*.sql", "migrate-10909.sql", true},
        {"**/migrate-*.sql", "db/migrate-v1.0.sql", true},
        {"**/migrate-*.sql", "db/sept/migrate-v1.sql", true},
        /* ? and + quantify the preceding character */
        {"*.jsx?", "page.js", true},
        {"*.jsx?", "page.jsx", true},
        {"*.jsx?", "page.jsxx", false},
        {"ab+c", "abbbc", true},
        {"ab+c", "ac", false},
        {"[a-c]+x", "abcx", true},
        {"[a-c]+x", "adx", false},
        /* escapes and a bracket without its end */
        {"a\\*b", "a*b", true},
        {"a\\*b", "axb", false},
        {"v\\[1\\]", "v[1]", true},
        {"a[b", "a[b", true},
        {"", "", true},
        {"", "x", false},
    };
    size_t i;
    (void)state;

    for (i = 0; i < GR_ARRAY_SIZE(cases); i++)
        if (ex_events_glob_match(cases[i].pat, cases[i].s) != cases[i].match)
            fail_msg("'%s' vs '%s': want %s", cases[i].pat, cases[i].s,
                     cases[i].match ? "match" : "no match");
}

/* Patterns apply in order; ! removes earlier matches, a later positive re-adds. */
static void test_pattern_lists(void **state)
{
    json_t *l = J("[\"releases/**\", \"!releases/**-alpha\"]");
    (void)state;

    assert_true(ex_events_patterns_match(l, "releases/10"));
    assert_true(ex_events_patterns_match(l, "releases/beta/mona"));
    assert_false(ex_events_patterns_match(l, "releases/10-alpha"));
    assert_false(ex_events_patterns_match(l, "main"));
    json_decref(l);
    l = J("[\"*\", \"!main\", \"ma*\"]");
    assert_true(ex_events_patterns_match(l, "main"));
    assert_true(ex_events_patterns_match(l, "dev"));
    json_decref(l);
    l = J("[\"!main\"]");
    assert_false(ex_events_patterns_match(l, "main"));
    assert_false(ex_events_patterns_match(l, "dev"));
    json_decref(l);
    l = J("\"v*\"");
    assert_true(ex_events_patterns_match(l, "v1"));
    json_decref(l);
}

/* ---- triggers ---------------------------------------------------------- */

static bool fires(const char *wf_src, const char *event, const char *github, const char *changed,
                  char **reason)
{
    struct ex_workflow *wf = wf_parse(wf_src);
    json_t *g = J(github), *c = changed ? J(changed) : NULL;
    const struct ex_trigger *t = ex_workflow_trigger(wf, event);
    bool r;

    assert_non_null(t);
    r = ex_events_triggered(t, g, c, reason);
    json_decref(g);
    json_decref(c);
    ex_workflow_free(wf);
    return r;
}

#define JOBS "jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n"

static void test_branch_and_tag_filters(void **state)
{
    static const char *br = "on:\n  push:\n    branches: [main, 'releases/**']\n" JOBS;
    static const char *tags = "on:\n  push:\n    tags: ['v*']\n" JOBS;
    static const char *ign = "on:\n  push:\n    branches-ignore: ['dependabot/**']\n" JOBS;
    char *why = NULL;
    (void)state;

    assert_true(fires(br, "push", "{\"ref\":\"refs/heads/main\"}", NULL, NULL));
    assert_true(fires(br, "push", "{\"ref\":\"refs/heads/releases/1.x\"}", NULL, NULL));
    assert_false(fires(br, "push", "{\"ref\":\"refs/heads/dev\"}", NULL, &why));
    assert_string_equal(why, "branch 'dev' does not match 'branches'");
    free(why);
    why = NULL;
    /* an unknown ref (no repository) cannot be filtered */
    assert_true(fires(br, "push", "{\"ref\":\"\"}", NULL, NULL));
    /* only branch filters: tag pushes never trigger */
    assert_false(fires(br, "push", "{\"ref\":\"refs/tags/v1\"}", NULL, &why));
    assert_non_null(strstr(why, "only branch filters"));
    free(why);
    why = NULL;
    /* only tag filters: branch pushes never trigger */
    assert_true(fires(tags, "push", "{\"ref\":\"refs/tags/v1.2\"}", NULL, NULL));
    assert_false(fires(tags, "push", "{\"ref\":\"refs/tags/1.2\"}", NULL, NULL));
    assert_false(fires(tags, "push", "{\"ref\":\"refs/heads/main\"}", NULL, NULL));
    assert_true(fires(ign, "push", "{\"ref\":\"refs/heads/main\"}", NULL, NULL));
    assert_false(fires(ign, "push", "{\"ref\":\"refs/heads/dependabot/npm/x\"}", NULL, &why));
    assert_string_equal(why, "branch 'dependabot/npm/x' matches 'branches-ignore'");
    free(why);
    /* pull_request filters look at the base branch */
    assert_true(fires("on:\n  pull_request:\n    branches: [main]\n" JOBS, "pull_request",
                      "{\"ref\":\"refs/pull/3/merge\",\"base_ref\":\"main\",\"event\":{\"action\":"
                      "\"opened\"}}",
                      NULL, NULL));
    assert_false(fires("on:\n  pull_request:\n    branches: [main]\n" JOBS, "pull_request",
                       "{\"ref\":\"refs/pull/3/merge\",\"base_ref\":\"dev\"}", NULL, NULL));
}

static void test_path_filters(void **state)
{
    static const char *paths = "on:\n  push:\n    paths: ['src/**', '!src/**.md']\n" JOBS;
    static const char *ign = "on:\n  push:\n    paths-ignore: ['docs/**']\n" JOBS;
    static const char *both = "on:\n  push:\n    branches: [main]\n    paths: ['src/**']\n" JOBS;
    static const char *g = "{\"ref\":\"refs/heads/main\"}";
    char *why = NULL;
    (void)state;

    assert_true(fires(paths, "push", g, "[\"README\",\"src/a.c\"]", NULL));
    assert_false(fires(paths, "push", g, "[\"src/a.md\",\"README\"]", &why));
    assert_string_equal(why, "no changed file matches 'paths'");
    free(why);
    why = NULL;
    assert_false(fires(paths, "push", g, "[]", &why));
    assert_non_null(strstr(why, "no changed files"));
    free(why);
    /* unknown changes (no repository) pass */
    assert_true(fires(paths, "push", g, NULL, NULL));
    assert_true(fires(ign, "push", g, "[\"docs/a.md\",\"src/x\"]", NULL));
    assert_false(fires(ign, "push", g, "[\"docs/a.md\",\"docs/b/c\"]", NULL));
    /* paths are not evaluated for tags */
    assert_true(fires("on:\n  push:\n    tags: ['v*']\n    paths: ['src/**']\n" JOBS, "push",
                      "{\"ref\":\"refs/tags/v1\"}", "[\"docs/x\"]", NULL));
    /* branch and path filters must both pass */
    assert_false(fires(both, "push", "{\"ref\":\"refs/heads/dev\"}", "[\"src/x\"]", NULL));
    assert_false(fires(both, "push", g, "[\"docs/x\"]", NULL));
    assert_true(fires(both, "push", g, "[\"src/x\"]", NULL));
}

static void test_pull_request_types(void **state)
{
    static const char *def = "on: [pull_request]\n" JOBS;
    static const char *closed = "on:\n  pull_request:\n    types: [closed]\n" JOBS;
    char *why = NULL;
    (void)state;

    assert_true(fires(def, "pull_request", "{\"event\":{\"action\":\"synchronize\"}}", NULL, NULL));
    assert_false(fires(def, "pull_request", "{\"event\":{\"action\":\"closed\"}}", NULL, &why));
    assert_string_equal(why, "activity type 'closed' is not in 'types'");
    free(why);
    assert_true(fires(closed, "pull_request", "{\"event\":{\"action\":\"closed\"}}", NULL, NULL));
    assert_false(fires(closed, "pull_request", "{\"event\":{\"action\":\"opened\"}}", NULL, NULL));
}

/* ---- plans ------------------------------------------------------------- */

static const char *graph_src = "on: push\n"
                               "jobs:\n"
                               "  a:\n    runs-on: x\n    steps: [{run: echo}]\n"
                               "  b:\n    needs: a\n    runs-on: x\n    steps: [{run: echo}]\n"
                               "  c:\n    needs: [B, a]\n    runs-on: x\n    steps: [{run: echo}]\n"
                               "  d:\n    runs-on: x\n    steps: [{run: echo}]\n"
                               "  e:\n    needs: [d]\n    runs-on: x\n    steps: [{run: echo}]\n";

static void test_stages(void **state)
{
    struct ex_workflow *wf = wf_parse(graph_src);
    struct ex_plan *p = plan_ok(wf, NULL, NULL, NULL, NULL);
    (void)state;

    assert_true(p->triggered);
    assert_string_equal(p->event_name, "push");
    assert_int_equal(p->n_stages, 3);
    assert_stages(p, "0:a 0:d 1:b 1:e 2:c");
    assert_int_equal(p->jobs[0].n_legs, 1);
    assert_null(p->jobs[0].legs[0].matrix);
    assert_string_equal(p->jobs[0].legs[0].display_name, "a");
    assert_true(p->jobs[0].fail_fast);
    ex_plan_free(p);
    ex_workflow_free(wf);
}

/* -j plans the job and everything it needs (act's PlanJob). */
static void test_job_selection(void **state)
{
    struct ex_workflow *wf = wf_parse(graph_src);
    struct ex_plan *p;
    struct gr_diag d = {0};
    (void)state;

    p = plan_ok(wf, NULL, NULL, NULL, "c");
    assert_stages(p, "0:a 1:b 2:c");
    ex_plan_free(p);
    p = plan_ok(wf, NULL, NULL, NULL, "E");
    assert_stages(p, "0:d 1:e");
    ex_plan_free(p);
    p = plan_ok(wf, NULL, NULL, NULL, "a");
    assert_stages(p, "0:a");
    ex_plan_free(p);
    /* -j ignores whether the event triggers the workflow */
    p = plan_ok(wf, "release", NULL, NULL, "a");
    assert_true(p->triggered);
    assert_stages(p, "0:a");
    ex_plan_free(p);
    p = NULL;
    assert_int_equal(plan(wf, NULL, NULL, NULL, "zz", &p, &d), GR_ENOTFOUND);
    assert_null(p);
    assert_non_null(strstr(d.msg, "job 'zz' not found"));
    ex_workflow_free(wf);
}

/* The validator rejects these; the planner still fails safely on a model that has them. */
static void test_bad_needs_fail_safely(void **state)
{
    struct ex_workflow *wf = wf_parse(graph_src);
    const char **saved_a = wf->jobs[0].needs, **saved_c = wf->jobs[2].needs;
    size_t na = wf->jobs[0].n_needs, nc = wf->jobs[2].n_needs;
    const char *cycle[] = {"c"}, *unknown[] = {"nope"};
    struct ex_plan *p = NULL;
    struct gr_diag d = {0};
    (void)state;

    wf->jobs[0].needs = cycle;
    wf->jobs[0].n_needs = 1;
    assert_int_equal(plan(wf, NULL, NULL, NULL, NULL, &p, &d), GR_EINVAL_WF);
    assert_null(p);
    assert_non_null(strstr(d.msg, "dependency cycle"));
    assert_string_equal(d.file, "t.yml");
    assert_true(d.line > 0);
    wf->jobs[0].needs = saved_a;
    wf->jobs[0].n_needs = na;
    wf->jobs[2].needs = unknown;
    wf->jobs[2].n_needs = 1;
    assert_int_equal(plan(wf, NULL, NULL, NULL, NULL, &p, &d), GR_EINVAL_WF);
    assert_non_null(strstr(d.msg, "Job 'c' depends on unknown job 'nope'"));
    wf->jobs[2].needs = saved_c;
    wf->jobs[2].n_needs = nc;
    ex_workflow_free(wf);
}

static void test_events(void **state)
{
    struct ex_workflow *wf = wf_parse("on: [pull_request, push]\n" JOBS);
    struct ex_plan *p;
    (void)state;

    p = plan_ok(wf, NULL, NULL, NULL, NULL);
    assert_string_equal(p->event_name, "push");
    assert_true(p->triggered);
    ex_plan_free(p);
    p = plan_ok(wf, "release", NULL, NULL, NULL);
    assert_false(p->triggered);
    assert_int_equal(p->n_jobs, 0);
    assert_int_equal(p->n_stages, 0);
    assert_string_equal(p->not_triggered, "'on' has no 'release' event");
    ex_plan_free(p);
    ex_workflow_free(wf);
    wf = wf_parse("on:\n  pull_request:\n  schedule:\n    - cron: '0 0 * * *'\n"
                  "    - cron: '5 * * * *'\n" JOBS);
    p = plan_ok(wf, NULL, NULL, NULL, NULL);
    assert_string_equal(p->event_name, "pull_request");
    assert_string_equal(json_string_value(json_object_get(p->github, "event_name")),
                        "pull_request");
    ex_plan_free(p);
    /* schedule: the payload carries the cron string */
    p = plan_ok(wf, "schedule", NULL, NULL, NULL);
    assert_true(p->triggered);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(p->github, "event"), "schedule")),
        "0 0 * * *");
    ex_plan_free(p);
    ex_workflow_free(wf);
}

static void test_filters_in_plan(void **state)
{
    struct ex_workflow *wf = wf_parse("on:\n  push:\n    branches: [main]\n" JOBS);
    struct ex_plan_opts o = {.repo_dir = "/"};
    json_t *payload = J("{\"ref\":\"refs/heads/dev\"}");
    struct ex_plan *p = NULL;
    (void)state;

    o.event_payload = payload;
    assert_int_equal(ex_plan_build(wf, &o, &p, NULL), 0);
    assert_false(p->triggered);
    assert_string_equal(p->not_triggered, "branch 'dev' does not match 'branches'");
    ex_plan_free(p);
    o.ignore_filters = true;
    assert_int_equal(ex_plan_build(wf, &o, &p, NULL), 0);
    assert_true(p->triggered);
    assert_int_equal(p->n_jobs, 1);
    ex_plan_free(p);
    json_decref(payload);
    ex_workflow_free(wf);
}

static const char *dispatch_src = "on:\n"
                                  "  workflow_dispatch:\n"
                                  "    inputs:\n"
                                  "      name:\n        required: true\n"
                                  "      debug:\n        type: boolean\n        default: false\n"
                                  "      count:\n        type: number\n        default: 2\n"
                                  "      level:\n        type: choice\n"
                                  "        options: [low, high]\n        default: low\n"
                                  "      env:\n        type: environment\n" JOBS;

static void test_dispatch_inputs(void **state)
{
    struct ex_workflow *wf = wf_parse(dispatch_src);
    struct ex_plan *p;
    (void)state;

    p = plan_ok(wf, NULL, NULL, "{\"name\":\"x\",\"debug\":\"true\",\"count\":\"7\"}", NULL);
    assert_string_equal(p->event_name, "workflow_dispatch");
    assert_json(p->inputs, "{\"name\":\"x\",\"debug\":true,\"count\":7,\"level\":\"low\","
                           "\"env\":\"\"}");
    /* github.event.inputs keeps strings */
    assert_json(json_object_get(json_object_get(p->github, "event"), "inputs"),
                "{\"name\":\"x\",\"debug\":\"true\",\"count\":\"7\",\"level\":\"low\","
                "\"env\":\"\"}");
    ex_plan_free(p);
    /* payload inputs, overridden by --input */
    p = plan_ok(wf, NULL, "{\"inputs\":{\"name\":\"from-payload\",\"count\":1.5}}",
                "{\"level\":\"high\"}", NULL);
    assert_json(p->inputs, "{\"name\":\"from-payload\",\"debug\":false,\"count\":1.5,"
                           "\"level\":\"high\",\"env\":\"\"}");
    ex_plan_free(p);
    ex_workflow_free(wf);
}

static void expect_input_error(const char *inputs, int line, const char *msg)
{
    struct ex_workflow *wf = wf_parse(dispatch_src);
    struct ex_plan *p = NULL;
    struct gr_diag d = {0};

    assert_int_equal(plan(wf, NULL, NULL, inputs, NULL, &p, &d), GR_EUSAGE);
    assert_null(p);
    if (!strstr(d.msg, msg))
        fail_msg("got '%s', want '%s'", d.msg, msg);
    assert_string_equal(d.file, "t.yml");
    assert_int_equal(d.line, line);
    ex_workflow_free(wf);
}

static void test_dispatch_input_errors(void **state)
{
    (void)state;
    expect_input_error("{}", 4, "Required input 'name' not provided");
    expect_input_error("{\"name\":\"x\",\"debug\":\"yes\"}", 6,
                       "Provided value 'yes' for input 'debug' not in the list of allowed values");
    expect_input_error("{\"name\":\"x\",\"count\":\"ten\"}", 9,
                       "Provided value 'ten' for input 'count' is not a valid number");
    expect_input_error("{\"name\":\"x\",\"level\":\"mid\"}", 12,
                       "Provided value 'mid' for input 'level' not in the list of allowed values");
    expect_input_error("{\"name\":\"x\",\"extra\":\"1\"}", 3,
                       "Unexpected inputs provided: [\"extra\"]");
}

static void test_call_inputs(void **state)
{
    struct ex_workflow *wf = wf_parse("on:\n"
                                      "  workflow_call:\n"
                                      "    inputs:\n"
                                      "      n:\n        type: number\n        default: ${{ 1 }}\n"
                                      "      b:\n        type: boolean\n"
                                      "      s:\n        type: string\n"
                                      "        default: ${{ github.event_name }}-x\n" JOBS);
    struct ex_plan *p = NULL;
    struct gr_diag d = {0};
    (void)state;

    p = plan_ok(wf, NULL, NULL, NULL, NULL);
    assert_string_equal(p->event_name, "workflow_call");
    assert_json(p->inputs, "{\"n\":1,\"b\":false,\"s\":\"workflow_call-x\"}");
    ex_plan_free(p);
    p = plan_ok(wf, NULL, "{\"inputs\":{\"b\":true,\"n\":4}}", NULL, NULL);
    assert_json(p->inputs, "{\"n\":4,\"b\":true,\"s\":\"workflow_call-x\"}");
    ex_plan_free(p);
    p = NULL;
    assert_int_equal(plan(wf, NULL, NULL, "{\"zz\":\"1\"}", NULL, &p, &d), GR_EUSAGE);
    assert_non_null(strstr(d.msg, "Invalid input, zz is not defined in the referenced workflow"));
    ex_workflow_free(wf);
}

static void test_matrix_legs(void **state)
{
    struct ex_workflow *wf = wf_parse(
        "on:\n  workflow_dispatch:\n    inputs:\n      versions:\n        default: '[1, 2]'\n"
        "jobs:\n"
        "  prep:\n    runs-on: x\n    outputs:\n      m: ${{ steps.s.outputs.m }}\n"
        "    steps: [{id: s, run: echo}]\n"
        "  plain:\n    runs-on: x\n"
        "    strategy:\n      fail-fast: false\n      max-parallel: 2\n"
        "      matrix:\n        os: [linux, mac]\n        include: [{os: linux, big: true}]\n"
        "    steps: [{run: echo}]\n"
        "  named:\n    name: Build ${{ matrix.os }}\n    runs-on: x\n"
        "    strategy:\n      matrix:\n        os: [linux]\n"
        "    steps: [{run: echo}]\n"
        "  fromexpr:\n    runs-on: x\n"
        "    strategy:\n      matrix:\n        v: ${{ fromJSON(inputs.versions) }}\n"
        "    steps: [{run: echo}]\n"
        "  deferred:\n    needs: prep\n    runs-on: x\n"
        "    strategy:\n      matrix: ${{ fromJSON(needs.prep.outputs.m) }}\n"
        "    steps: [{run: echo}]\n");
    struct ex_plan *p = plan_ok(wf, NULL, NULL, NULL, NULL);
    const struct ex_plan_job *j;
    (void)state;

    assert_stages(p, "0:prep 0:plain 0:named 0:fromexpr 1:deferred");
    j = &p->jobs[1];
    assert_false(j->fail_fast);
    assert_int_equal(j->max_parallel, 2);
    assert_int_equal(j->n_legs, 2);
    assert_string_equal(j->legs[0].display_name, "plain (linux)");
    assert_json(j->legs[0].matrix, "{\"os\":\"linux\",\"big\":true}");
    assert_string_equal(j->legs[1].display_name, "plain (mac)");
    j = &p->jobs[2];
    assert_string_equal(j->legs[0].display_name, "Build linux");
    j = &p->jobs[3];
    assert_false(j->matrix_deferred);
    assert_int_equal(j->n_legs, 2);
    assert_json(j->legs[1].matrix, "{\"v\":2}");
    assert_string_equal(j->legs[1].display_name, "fromexpr (2)");
    j = &p->jobs[4];
    assert_true(j->matrix_deferred);
    assert_int_equal(j->n_legs, 0);
    ex_plan_free(p);
    /* --matrix filter */
    {
        struct ex_plan_opts o = {.repo_dir = "/", .matrix_filter = J("{\"os\":[\"mac\"]}")};
        assert_int_equal(ex_plan_build(wf, &o, &p, NULL), 0);
        assert_int_equal(p->jobs[1].n_legs, 1);
        assert_json(p->jobs[1].legs[0].matrix, "{\"os\":\"mac\"}");
        assert_int_equal(p->jobs[2].n_legs, 0);
        assert_int_equal(p->jobs[3].n_legs, 2);
        ex_plan_free(p);
        json_decref(o.matrix_filter);
    }
    ex_workflow_free(wf);
}

static void test_github_extras(void **state)
{
    struct ex_workflow *wf = wf_parse("name: CI\non: push\n" JOBS);
    struct ex_plan_opts o = {.repo_dir = "/", .secrets = J("{\"GITHUB_TOKEN\":\"tok\"}")};
    struct ex_plan *p = NULL;
    (void)state;

    assert_int_equal(ex_plan_build(wf, &o, &p, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(p->github, "workflow")), "CI");
    assert_string_equal(json_string_value(json_object_get(p->github, "token")), "tok");
    assert_string_equal(json_string_value(json_object_get(p->secrets, "GITHUB_TOKEN")), "tok");
    assert_non_null(json_object_get(p->github, "event"));
    ex_plan_free(p);
    json_decref(o.secrets);
    ex_workflow_free(wf);
}

/* ---- reusable workflows ------------------------------------------------ */

struct tmpdir {
    char path[64];
};

static void put(const char *dir, const char *rel, const char *text)
{
    char *p = gr_path_join(dir, rel), *slash = strrchr(p, '/');

    *slash = '\0';
    assert_int_equal(gr_mkdir_p(p, 0755), 0);
    *slash = '/';
    assert_int_equal(gr_file_write_atomic(p, text, strlen(text), 0644), 0);
    free(p);
}

static const char *callee_src = "name: Callee\n"
                                "on:\n  workflow_call:\n    inputs:\n"
                                "      n: {type: number, required: true}\n"
                                "      flag: {type: boolean, default: true}\n"
                                "      s: {type: string, default: '${{ github.event_name }}-x'}\n"
                                "    secrets:\n      tok: {required: true}\n"
                                "jobs:\n  inner:\n    runs-on: x\n    steps: [{run: echo}]\n";

static int call_plan(const char *dir, const char *caller, const char *secrets, struct ex_plan **ret,
                     struct ex_workflow **ret_wf, struct gr_diag *d)
{
    struct ex_plan_opts o = {.repo_dir = dir};
    int r;

    *ret_wf = wf_parse(caller);
    o.secrets = secrets ? J(secrets) : NULL;
    r = ex_plan_build(*ret_wf, &o, ret, d);
    json_decref(o.secrets);
    return r;
}

static void expect_call_error(const char *dir, const char *caller, const char *msg)
{
    struct ex_workflow *wf = NULL;
    struct ex_plan *p = NULL;
    struct gr_diag d = {0};
    int r = call_plan(dir, caller, "{\"T\":\"v\"}", &p, &wf, &d);

    assert_true(r < 0);
    assert_null(p);
    if (!strstr(d.msg, msg))
        fail_msg("got '%s', want '%s'", d.msg, msg);
    assert_string_equal(d.file, "t.yml");
    assert_true(d.line > 0);
    ex_workflow_free(wf);
}

#define CALLER(with, secrets)                                                                      \
    "on: push\njobs:\n  c:\n    uses: ./.github/workflows/callee.yml\n" with secrets

static void test_reusable_workflows(void **state)
{
    char dir[] = "/tmp/gr-plan-XXXXXX";
    struct ex_workflow *wf = NULL;
    struct ex_plan *p = NULL, *sub;
    struct gr_diag d = {0};
    (void)state;

    assert_non_null(mkdtemp(dir));
    put(dir, ".github/workflows/callee.yml", callee_src);
    put(dir, ".github/workflows/plain.yml", "on: push\n" JOBS);
    put(dir, ".github/workflows/self.yml",
        "on: workflow_call\njobs:\n  again:\n    uses: ./.github/workflows/self.yml\n");
    assert_int_equal(
        call_plan(dir, CALLER("    with: {n: 2}\n", "    secrets: {tok: '${{ secrets.T }}'}\n"),
                  "{\"T\":\"v\",\"GITHUB_TOKEN\":\"g\"}", &p, &wf, &d),
        0);
    sub = p->jobs[0].called;
    assert_non_null(sub);
    assert_int_equal(sub->depth, 1);
    assert_ptr_equal(sub->caller, &p->jobs[0]);
    assert_false(sub->inputs_deferred);
    assert_json(sub->inputs, "{\"n\":2,\"flag\":true,\"s\":\"push-x\"}");
    assert_json(sub->secrets, "{\"tok\":\"v\",\"GITHUB_TOKEN\":\"g\"}");
    assert_string_equal(json_string_value(json_object_get(sub->github, "event_name")), "push");
    assert_stages(sub, "0:inner");
    assert_string_equal(sub->jobs[0].legs[0].display_name, "c / inner");
    ex_plan_free(p);
    ex_workflow_free(wf);
    /* secrets: inherit; with: from a matrix is deferred */
    assert_int_equal(call_plan(dir,
                               "on: push\njobs:\n  c:\n    strategy: {matrix: {k: [5]}}\n"
                               "    uses: ./.github/workflows/callee.yml\n"
                               "    with: {n: '${{ matrix.k }}'}\n    secrets: inherit\n",
                               "{\"T\":\"v\"}", &p, &wf, &d),
                     0);
    sub = p->jobs[0].called;
    assert_true(sub->inputs_deferred);
    assert_json(sub->secrets, "{\"T\":\"v\"}");
    ex_plan_free(p);
    ex_workflow_free(wf);
    expect_call_error(dir, CALLER("    with: {n: '2'}\n", "    secrets: inherit\n"),
                      "Input 'n' expects a number, got '2'");
    expect_call_error(dir, CALLER("", "    secrets: inherit\n"),
                      "Input n is required, but not provided while calling");
    expect_call_error(dir, CALLER("    with: {n: 1, zz: 2}\n", "    secrets: inherit\n"),
                      "Invalid input, zz is not defined in the referenced workflow");
    expect_call_error(dir, CALLER("    with: {n: 1}\n", "    secrets: {nope: x}\n"),
                      "Invalid secret, nope is not defined in the referenced workflow.");
    expect_call_error(dir, CALLER("    with: {n: 1}\n", ""),
                      "Secret tok is required, but not provided while calling.");
    expect_call_error(dir, "on: push\njobs:\n  c:\n    uses: ./.github/workflows/plain.yml\n",
                      "workflow_call key is not defined in the referenced workflow.");
    expect_call_error(dir, "on: push\njobs:\n  c:\n    uses: ./.github/workflows/missing.yml\n",
                      "cannot use './.github/workflows/missing.yml'");
    expect_call_error(dir, "on: push\njobs:\n  c:\n    uses: ./.github/workflows/self.yml\n",
                      "Nested reusable workflow depth exceeded 10.");
    /* remote calls are left to the engine */
    assert_int_equal(call_plan(dir,
                               "on: push\njobs:\n  c:\n    uses: o/r/.github/workflows/x.yml@v1\n",
                               NULL, &p, &wf, &d),
                     0);
    assert_null(p->jobs[0].called);
    ex_plan_free(p);
    ex_workflow_free(wf);
    assert_int_equal(gr_rm_rf(dir), 0);
}

/* The engine's call: with:/secrets: over the calling leg's contexts (needs, matrix, secrets). */
static void test_reusable_call_at_run_time(void **state)
{
    char dir[] = "/tmp/gr-plan-XXXXXX";
    struct ex_workflow *wf = NULL;
    struct ex_plan *p = NULL, *sub = NULL;
    struct gr_diag d = {0};
    struct ex_plan_call c = {.caller_name = "c (5)"};
    json_t *ctx;
    char *path;
    (void)state;

    assert_non_null(mkdtemp(dir));
    put(dir, ".github/workflows/callee.yml", callee_src);
    assert_int_equal(call_plan(dir,
                               "on: push\njobs:\n  c:\n    needs: []\n"
                               "    strategy: {matrix: {k: [5]}}\n"
                               "    uses: ./.github/workflows/callee.yml\n"
                               "    with: {n: '${{ matrix.k }}', s: '${{ needs.a.outputs.o }}'}\n"
                               "    secrets: {tok: '${{ secrets.T }}-${{ matrix.k }}'}\n",
                               "{\"T\":\"v\"}", &p, &wf, &d),
                     0);
    assert_true(p->jobs[0].called->inputs_deferred);
    ctx = J("{\"github\":{\"event_name\":\"push\"},\"inputs\":{},\"vars\":{},"
            "\"secrets\":{\"T\":\"v\"},\"needs\":{\"a\":{\"outputs\":{\"o\":\"from-a\"}}},"
            "\"matrix\":{\"k\":5},\"strategy\":{}}");
    c.ctx = ctx;
    assert_int_equal(ex_plan_call(p, &p->jobs[0], &c, &sub, &d), 0);
    assert_false(sub->inputs_deferred);
    assert_json(sub->inputs, "{\"n\":5,\"flag\":true,\"s\":\"from-a\"}");
    assert_json(sub->secrets, "{\"tok\":\"v-5\"}");
    assert_string_equal(sub->jobs[0].legs[0].display_name, "c (5) / inner");
    assert_string_equal(sub->repo_dir, dir);
    ex_plan_free(sub);
    /* a run-time value of the wrong type is an error at the caller's uses: */
    json_object_set_new(json_object_get(ctx, "matrix"), "k", json_string("five"));
    sub = NULL;
    assert_true(ex_plan_call(p, &p->jobs[0], &c, &sub, &d) < 0);
    assert_null(sub);
    assert_non_null(strstr(d.msg, "Input 'n' expects a number, got 'five'"));
    assert_string_equal(d.file, "t.yml");
    json_decref(ctx);
    /* ./.github/workflows/F falls back to F next to the calling workflow file */
    ex_plan_free(p);
    ex_workflow_free(wf);
    put(dir, "wfdir/other.yml", callee_src);
    put(dir, "wfdir/caller.yml", "on: push\n" JOBS);
    path = gr_path_join(dir, "wfdir/caller.yml");
    assert_int_equal(ex_workflow_load(path, &wf, NULL, &d), 0);
    free(path);
    {
        struct ex_plan fake = {.wf = wf, .repo_dir = dir};
        char *got = ex_plan_callee_path(&fake, "./.github/workflows/other.yml");
        char *want = gr_path_join(dir, "wfdir/other.yml");

        assert_string_equal(got, want);
        free(got);
        free(want);
        /* the repository's own file wins */
        got = ex_plan_callee_path(&fake, "./.github/workflows/callee.yml");
        want = gr_path_join(dir, ".github/workflows/callee.yml");
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    ex_workflow_free(wf);
    assert_int_equal(gr_rm_rf(dir), 0);
}

static char *capture(void (*fn)(const struct ex_plan *, FILE *), const struct ex_plan *p)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    fn(p, f);
    fclose(f);
    return buf;
}

static void test_printing(void **state)
{
    struct ex_workflow *wf =
        wf_parse("name: Demo\non: push\n"
                 "jobs:\n"
                 "  build:\n    runs-on: [self-hosted, linux]\n"
                 "    env:\n      T: ${{ secrets.TOKEN }}\n"
                 "    strategy:\n      matrix:\n        os: [a, b]\n"
                 "    steps:\n"
                 "      - uses: actions/checkout@v4\n"
                 "      - run: |\n\n          echo first\n          echo second\n"
                 "      - name: Named step\n        run: echo ${{ secrets.TOKEN }}\n"
                 "      - uses: docker://alpine:3\n"
                 "      - uses: ./local/action\n"
                 "  test:\n    needs: build\n    runs-on: x\n    steps: [{run: make test}]\n");
    struct ex_plan_opts o = {.repo_dir = "/", .secrets = J("{\"TOKEN\":\"s3cr3t-value\"}")};
    struct ex_plan *p = NULL;
    char *out;
    (void)state;

    assert_int_equal(ex_plan_build(wf, &o, &p, NULL), 0);
    out = capture(ex_plan_print_list, p);
    assert_non_null(strstr(out, "Stage  Job ID  Job name  Workflow name  Workflow file  Events\n"));
    assert_non_null(strstr(out, "0      build   build     Demo           t.yml          push\n"));
    assert_non_null(strstr(out, "1      test    test      Demo           t.yml          push\n"));
    free(out);
    out = capture(ex_plan_print_dryrun, p);
    assert_non_null(strstr(out, "Workflow: Demo (t.yml)\n"));
    assert_non_null(strstr(out, "Stage 0:\n  Job build\n    runs-on: self-hosted, linux\n"));
    assert_non_null(strstr(out, "      - build (a) {\"os\":\"a\"}\n"));
    assert_non_null(strstr(out, "      1. Run actions/checkout@v4\n"));
    assert_non_null(strstr(out, "      2. Run echo first\n"));
    assert_non_null(strstr(out, "      3. Named step\n"));
    assert_non_null(strstr(out, "      4. Run alpine:3\n"));
    assert_non_null(strstr(out, "      5. Run ./local/action\n"));
    assert_non_null(strstr(out, "Stage 1:\n  Job test\n    needs: build\n"));
    assert_null(strstr(out, "s3cr3t-value"));
    free(out);
    ex_plan_free(p);
    json_decref(o.secrets);
    ex_workflow_free(wf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_pattern_lists),
        cmocka_unit_test(test_branch_and_tag_filters),
        cmocka_unit_test(test_path_filters),
        cmocka_unit_test(test_pull_request_types),
        cmocka_unit_test(test_stages),
        cmocka_unit_test(test_job_selection),
        cmocka_unit_test(test_bad_needs_fail_safely),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_filters_in_plan),
        cmocka_unit_test(test_dispatch_inputs),
        cmocka_unit_test(test_dispatch_input_errors),
        cmocka_unit_test(test_call_inputs),
        cmocka_unit_test(test_matrix_legs),
        cmocka_unit_test(test_github_extras),
        cmocka_unit_test(test_printing),
        cmocka_unit_test(test_reusable_workflows),
        cmocka_unit_test(test_reusable_call_at_run_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
