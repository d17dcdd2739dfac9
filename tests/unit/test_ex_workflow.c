/*
 * Unit tests for executor/workflow.c and validate*.c: the model, schema
 * checks, model checks, host mode, the corpus (GR_SHARED_DIR) and the
 * fixtures under tests/data/workflows (GR_SOURCE_DIR).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ex/expr.h"
#include "ex/workflow.h"
#include "workflow_internal.h"

static struct ex_workflow *wf_ok(const char *src)
{
    struct ex_workflow *wf = NULL;
    struct ex_diags diags = {0};
    struct gr_diag d = {0};
    int r = ex_workflow_parse("w.yml", src, strlen(src), &wf, &diags, &d);

    if (r != 0) {
        for (size_t i = 0; i < diags.n; i++)
            fprintf(stderr, "  %d:%d: %s\n", diags.items[i].line, diags.items[i].col,
                    diags.items[i].msg);
        fail_msg("unexpected error %d: %d:%d: %s", r, d.line, d.col, d.msg);
    }
    assert_int_equal(diags.n, 0);
    ex_diags_release(&diags);
    return wf;
}

/*
 * Expect the given problems, in order: each "line:col:substring". The first
 * must also be in reterr; the count must match exactly.
 */
static void wf_errs(const char *src, int err, int n, ...)
{
    struct ex_workflow *wf = NULL;
    struct ex_diags diags = {0};
    struct gr_diag d = {0};
    int r = ex_workflow_parse("w.yml", src, strlen(src), &wf, &diags, &d);
    va_list ap;

    assert_null(wf);
    if (r != err || diags.n != (size_t)n)
        for (size_t i = 0; i < diags.n; i++)
            fprintf(stderr, "  got %d:%d: %s\n", diags.items[i].line, diags.items[i].col,
                    diags.items[i].msg);
    assert_int_equal(r, err);
    assert_int_equal(diags.n, n);
    assert_string_equal(d.file, "w.yml");
    assert_string_equal(d.msg, diags.items[0].msg);
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *want = va_arg(ap, const char *);
        int line, col, off = 0;
        assert_int_equal(sscanf(want, "%d:%d:%n", &line, &col, &off), 2);
        if (diags.items[i].line != line || diags.items[i].col != col ||
            !strstr(diags.items[i].msg, want + off))
            fail_msg("item %d: got %d:%d: '%s', wanted '%s'", i, diags.items[i].line,
                     diags.items[i].col, diags.items[i].msg, want);
    }
    va_end(ap);
    ex_diags_release(&diags);
}

/* ---- model ------------------------------------------------------------- */

static void test_model(void **state)
{
    struct ex_workflow *wf = wf_ok("name: CI\n"
                                   "on:\n"
                                   "  push:\n"
                                   "    branches: [main]\n"
                                   "  workflow_dispatch:\n"
                                   "env:\n"
                                   "  A: 1\n"
                                   "jobs:\n"
                                   "  build:\n"
                                   "    runs-on: ubuntu-latest\n"
                                   "    strategy:\n"
                                   "      fail-fast: false\n"
                                   "      matrix:\n"
                                   "        v: [1, 2]\n"
                                   "    steps:\n"
                                   "      - uses: actions/checkout@v4\n"
                                   "      - id: s2\n"
                                   "        run: echo hi\n"
                                   "        shell: bash\n"
                                   "  test:\n"
                                   "    needs: build\n"
                                   "    if: github.event_name == 'push'\n"
                                   "    runs-on: [self-hosted, linux]\n"
                                   "    steps:\n"
                                   "      - run: echo\n"
                                   "  deploy:\n"
                                   "    needs: [build, test]\n"
                                   "    uses: ./.github/workflows/deploy.yml\n"
                                   "    with:\n"
                                   "      x: 1\n"
                                   "    secrets: inherit\n");
    const struct ex_job *j;

    assert_string_equal(ex_node_str(wf->name), "CI");
    assert_int_equal(wf->n_triggers, 2);
    assert_string_equal(wf->triggers[0].event, "push");
    assert_non_null(wf->triggers[0].node);
    assert_string_equal(wf->triggers[1].event, "workflow_dispatch");
    assert_null(wf->triggers[1].node);
    assert_non_null(ex_workflow_trigger(wf, "push"));
    assert_null(ex_workflow_trigger(wf, "pull_request"));
    assert_int_equal(wf->n_jobs, 3);
    j = ex_workflow_job(wf, "build");
    assert_non_null(j);
    assert_int_equal(j->n_needs, 0);
    assert_int_equal(j->n_steps, 2);
    assert_null(j->steps[0].id);
    assert_string_equal(ex_node_str(j->steps[0].uses), "actions/checkout@v4");
    assert_string_equal(j->steps[1].id, "s2");
    assert_int_equal(j->steps[1].index, 1);
    assert_string_equal(ex_node_str(j->steps[1].shell), "bash");
    assert_int_equal(j->fail_fast->type, EX_SCALAR_BOOL);
    assert_int_equal(j->matrix->kind, EX_NODE_MAP);
    assert_int_equal(j->steps[1].node->line, 17);
    j = ex_workflow_job(wf, "test");
    assert_int_equal(j->n_needs, 1);
    assert_string_equal(j->needs[0], "build");
    assert_int_equal(j->runs_on->kind, EX_NODE_SEQ);
    assert_string_equal(ex_node_str(j->if_), "github.event_name == 'push'");
    j = ex_workflow_job(wf, "deploy");
    assert_int_equal(j->n_needs, 2);
    assert_string_equal(j->needs[1], "test");
    assert_string_equal(ex_node_str(j->secrets), "inherit");
    assert_int_equal(j->n_steps, 0);
    assert_null(ex_workflow_job(wf, "nope"));
    assert_ptr_equal(ex_workflow_job(wf, "BUILD"), ex_workflow_job(wf, "build"));
    ex_workflow_free(wf);
}

static void test_on_forms(void **state)
{
    struct ex_workflow *wf = wf_ok("on: push\njobs:\n  a:\n    runs-on: x\n");
    assert_int_equal(wf->n_triggers, 1);
    assert_string_equal(wf->triggers[0].event, "push");
    ex_workflow_free(wf);
    wf = wf_ok("on: [push, pull_request]\njobs:\n  a:\n    runs-on: x\n");
    assert_int_equal(wf->n_triggers, 2);
    assert_string_equal(wf->triggers[1].event, "pull_request");
    ex_workflow_free(wf);
    wf_errs("on: pushed\njobs:\n  a:\n    runs-on: x\n", GR_EINVAL_WF, 1,
            "1:5:Unexpected value 'pushed'");
    wf_errs("on: [push, nope]\njobs:\n  a:\n    runs-on: x\n", GR_EINVAL_WF, 1,
            "1:12:Unexpected value 'nope'");
    wf_errs("on:\n  push:\n    branch: main\n  foo:\njobs:\n  a:\n    runs-on: x\n", GR_EINVAL_WF,
            2, "3:5:Unexpected value 'branch'", "4:3:Unexpected value 'foo'");
    wf_errs("on:\n  pull_request:\n    types: [opened, bogus]\njobs:\n  a:\n    runs-on: x\n",
            GR_EINVAL_WF, 1, "3:21:Unexpected value 'bogus'");
    wf_errs("on: {push: 1}\njobs:\n  a:\n    runs-on: x\n", GR_EINVAL_WF, 1,
            "1:12:Unexpected value '1'");
    wf_errs("on:\n  push:\n    branches: [a]\n    branches-ignore: [b]\n    tags: [v1]\n"
            "  pull_request:\n    paths: [x]\n    paths-ignore: [y]\njobs:\n  a:\n"
            "    runs-on: x\n",
            GR_EINVAL_WF, 2,
            "3:5:you may only define one of `branches` and `branches-ignore` for a single event",
            "7:5:you may only define one of `paths` and `paths-ignore`");
    /* `on` is optional (act plans such a workflow as zero jobs) */
    wf = wf_ok("jobs:\n  a:\n    runs-on: x\n");
    assert_int_equal(wf->n_triggers, 0);
    ex_workflow_free(wf);
}

static void test_unknown_keys_and_types(void **state)
{
    wf_errs("on: push\nfoo: 1\njobs:\n  a:\n    runs-on: x\n    bogus: 2\n    steps:\n"
            "      - run: x\n        wat: 1\n",
            GR_EINVAL_WF, 3, "2:1:Unexpected value 'foo'", "6:5:Unexpected value 'bogus'",
            "9:9:Unexpected value 'wat'");
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      fail-fast: no\n"
            "      matrix:\n        v: [1]\n",
            GR_EINVAL_WF, 1, "6:18:Unexpected value 'no'");
    wf_errs("on: push\nenv: hello\njobs:\n  a:\n    runs-on: x\n", GR_EINVAL_WF, 1,
            "2:6:Unexpected value 'hello'");
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      run: x\n", GR_EINVAL_WF, 1,
            "6:7:A mapping was not expected");
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n    env: [a]\n", GR_EINVAL_WF, 1,
            "5:10:A sequence was not expected");
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n    timeout-minutes: abc\n", GR_EINVAL_WF, 1,
            "5:22:Unexpected value 'abc'");
    wf_errs("on: push\njobs: [a]\n", GR_EINVAL_WF, 1, "2:7:A sequence was not expected");
    wf_errs("on: push\njobs: {}\n", GR_EINVAL_WF, 1,
            "2:7:The workflow must contain at least one job with no dependencies.");
    wf_errs("on: push\njobs:\n", GR_EINVAL_WF, 1, "2:6:Unexpected value ''");
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n    concurrency:\n      cancel-in-progress: "
            "true\n",
            GR_EINVAL_WF, 1, "6:7:Required property is missing: group");
    /* numbers and booleans are fine where strings are expected */
    ex_workflow_free(wf_ok("on: push\nname: 3.10\nenv:\n  A: true\njobs:\n  a:\n"
                           "    runs-on: 1\n    timeout-minutes: 5\n"));
}

static void test_job_requirements(void **state)
{
    wf_errs("on: push\njobs:\n  a:\n    steps:\n      - run: x\n", GR_EINVAL_WF, 1,
            "4:5:Required property is missing: runs-on");
    wf_errs("on: push\njobs:\n  a:\n    name: x\n", GR_EINVAL_WF, 1,
            "4:5:There's not enough info to determine what you meant. Add one of these "
            "properties: cancel-timeout-minutes, container, continue-on-error, defaults, env, "
            "environment, outputs, runs-on, secrets, services, snapshot, steps, "
            "timeout-minutes, uses, with");
    wf_errs("on: push\njobs:\n  a:\n    uses: o/r/.github/workflows/x.yml@v1\n    runs-on: x\n",
            GR_EINVAL_WF, 1, "5:5:Unexpected value 'runs-on'");
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - name: only\n", GR_EINVAL_WF,
            1,
            "6:9:There's not enough info to determine what you meant. Add one of these "
            "properties: run, shell, uses, with, working-directory");
    wf_errs(
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: x\n        uses: o/r@v\n",
        GR_EINVAL_WF, 1, "7:9:Unexpected value 'uses'");
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      -\n", GR_EINVAL_WF, 1,
            "6:8:Unexpected value ''");
}

static void test_job_ids(void **state)
{
    wf_errs("on: push\njobs:\n  1abc:\n    runs-on: x\n  a.b:\n    runs-on: x\n  -a:\n"
            "    runs-on: x\n",
            GR_EINVAL_WF, 3, "3:3:The identifier '1abc' is invalid",
            "5:3:The identifier 'a.b' is invalid", "7:3:The identifier '-a' is invalid");
    /* leading underscores are fine for jobs (act-testdata valid-2), not for steps */
    ex_workflow_free(wf_ok("on: push\njobs:\n  _a-B_9:\n    runs-on: x\n  __b:\n    runs-on: x\n"));
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - id: __s\n"
            "        run: x\n",
            GR_EINVAL_WF, 1, "6:13:IDs starting with '__' are reserved");
}

static void test_needs(void **state)
{
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n  b:\n    needs: [a, nope]\n"
            "    runs-on: x\n",
            GR_EINVAL_WF, 1, "6:16:Job 'b' depends on unknown job 'nope'.");
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n  b:\n    needs: c\n    runs-on: x\n"
            "  c:\n    needs: b\n    runs-on: x\n",
            GR_EINVAL_WF, 2,
            "6:12:Job 'b' depends on job 'c' which creates a cycle in the dependency graph "
            "(b -> c -> b).",
            "9:12:Job 'c' depends on job 'b' which creates a cycle in the dependency graph "
            "(c -> b -> c).");
    wf_errs("on: push\njobs:\n  a:\n    needs: a\n    runs-on: x\n", GR_EINVAL_WF, 1,
            "3:3:The workflow must contain at least one job with no dependencies.");
    wf_errs("on: push\njobs:\n  r:\n    runs-on: x\n  a:\n    needs: [r, c]\n    runs-on: x\n"
            "  b:\n    needs: a\n    runs-on: x\n  c:\n    needs: b\n    runs-on: x\n",
            GR_EINVAL_WF, 3, "6:16:(a -> c -> b -> a)", "9:12:(b -> a -> c -> b)",
            "12:12:(c -> b -> a -> c)");
    /* needs match job ids case-insensitively */
    ex_workflow_free(wf_ok("on: push\njobs:\n  Build:\n    runs-on: x\n  t:\n    needs: build\n"
                           "    runs-on: x\n"));
}

static void test_steps(void **state)
{
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - id: s\n        run: x\n"
            "      - id: S\n        run: y\n      - id: 9z\n        run: z\n",
            GR_EINVAL_WF, 2,
            "8:13:The identifier 'S' may not be used more than once within the same scope.",
            "10:13:The identifier '9z' is invalid");
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - id: 5\n        run: x\n",
            GR_EINVAL_WF, 1, "6:13:The identifier '5' is invalid");
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout\n"
            "      - uses: checkout@v1\n      - uses: ''\n",
            GR_EINVAL_WF, 3, "6:15:Expected format {org}/{repo}[/path]@ref. Actual",
            "7:15:Expected format", "8:15:Unexpected value ''");
    ex_workflow_free(wf_ok("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n"
                           "      - uses: ./local\n      - uses: docker://alpine:3\n"
                           "      - uses: o/r/sub/dir@main\n"));
}

static void test_cron(void **state)
{
    static const char *const good[] = {"* * * * *",     "*/5 * * * *",
                                       "0 0 1 1 0",     "1-5/2 0,12 * jan-mar mon-fri",
                                       "59 23 31 12 6", "0  3 * * SUN"};
    static const char *const bad[] = {"* * * *",    "60 * * * *",   "* 24 * * *",  "* * 0 * *",
                                      "* * * 13 *", "* * * * 7",    "*/0 * * * *", "5-1 * * * *",
                                      "a * * * *",  "1,,2 * * * *", "* * * * * *", ""};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!ex__cron_valid(good[i]))
            fail_msg("'%s' should be valid", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ex__cron_valid(bad[i]))
            fail_msg("'%s' should be invalid", bad[i]);
    wf_errs("on:\n  schedule:\n    - cron: '61 * * * *'\njobs:\n  a:\n    runs-on: x\n",
            GR_EINVAL_WF, 1, "3:13:Invalid cron expression");
    ex_workflow_free(wf_ok("on:\n  schedule:\n    - cron: '0 5 * * *'\n"
                           "      timezone: Europe/Paris\njobs:\n  a:\n    runs-on: x\n"));
    wf_errs("on:\n  schedule:\n    - cron: '0 5 * * *'\n      tz: x\njobs:\n  a:\n"
            "    runs-on: x\n",
            GR_EINVAL_WF, 1, "4:7:Unexpected value 'tz'");
}

static void test_dispatch_inputs(void **state)
{
    ex_workflow_free(
        wf_ok("on:\n  workflow_dispatch:\n    inputs:\n      a:\n        type: choice\n"
              "        options: [x, y]\n      b:\n        type: boolean\n"
              "        default: true\n      c:\n        type: environment\n"
              "      d:\n        type: number\n        required: true\n"
              "jobs:\n  a:\n    runs-on: x\n"));
    wf_errs("on:\n  workflow_dispatch:\n    inputs:\n      a:\n        type: choice\n"
            "      b:\n        type: bogus\n      c:\n        type: string\n        options: [x]\n"
            "      d:\n        type: boolean\n        default: yes\n"
            "jobs:\n  a:\n    runs-on: x\n",
            GR_EINVAL_WF, 4, "5:9:Missing 'options' for choice input",
            "7:15:Unexpected value 'bogus'", "9:9:Input type is not 'choice'",
            "13:18:The default value of a boolean input must be true or false");
    ex_workflow_free(wf_ok("on:\n  workflow_call:\n    inputs:\n      a:\n        type: string\n"
                           "        default: ${{ github.ref }}\n    outputs:\n      o:\n"
                           "        description: d\n        value: ${{ jobs.a.outputs.x }}\n"
                           "    secrets:\n      s:\n        required: true\n"
                           "jobs:\n  a:\n    runs-on: x\n"));
    /* `type` may be left out (act-testdata workflow_call_inputs); choice is dispatch-only */
    ex_workflow_free(wf_ok("on:\n  workflow_call:\n    inputs:\n      a:\n"
                           "        description: no type\njobs:\n  a:\n    runs-on: x\n"));
    wf_errs("on:\n  workflow_call:\n    inputs:\n      a:\n        type: choice\n"
            "jobs:\n  a:\n    runs-on: x\n",
            GR_EINVAL_WF, 1, "5:15:Unexpected value 'choice'");
}

static void test_expression_places(void **state)
{
    /* where no context is allowed, named values do not parse and other expressions are refused */
    wf_errs(
        "on: push\nname: ${{ github.ref }}\njobs:\n  a:\n    runs-on: x\n    steps:\n"
        "      - run: x\n        shell: ${{ env.S }}\n      - uses: ${{ format('a/b@{0}', 1) }}\n",
        GR_EINVAL_WF, 3, "2:7:Unrecognized named-value: 'github'",
        "8:16:Unrecognized named-value: 'env'",
        "9:15:A template expression is not allowed in this context");
    wf_errs("on: push\njobs:\n  ${{ x }}:\n    runs-on: x\n", GR_EINVAL_WF, 1,
            "3:3:Unrecognized named-value: 'x'");
    /* a lone quoted string in ${{ }} is a literal, checked as such */
    ex_workflow_free(wf_ok("on: push\nname: ${{ 'it''s' }}\njobs:\n  a:\n    runs-on: x\n"));
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n    timeout-minutes: ${{ 'abc' }}\n"
            "    if: ${{ 'nope' }}\n",
            GR_EINVAL_WF, 2, "5:22:Unexpected value 'abc'", "6:9:Unrecognized named-value: 'nope'");
    /* contexts where they are not available (schema context lists) */
    wf_errs("on: push\nenv:\n  A: ${{ matrix.x }}\n  B: ${{ secrets.S }}\njobs:\n  a:\n"
            "    if: secrets.T == '' && hashFiles('x')\n    runs-on: ${{ steps.s.outputs.o }}\n"
            "    env:\n      C: ${{ env.A }}\n      D: ${{ needs.b.outputs.x }}\n"
            "    steps:\n      - if: ${{ secrets.X }}\n        run: echo\n"
            "      - if: always() && hashFiles('**/x') != '' && env.A && job.status\n"
            "        run: ${{ secrets.S }} ${{ steps.x.outputs.y }}\n"
            "concurrency: ${{ needs.a.result }}\n",
            GR_EINVAL_WF, 6, "3:6:Unrecognized named-value: 'matrix'",
            "7:9:Unrecognized named-value: 'secrets'", "8:14:Unrecognized named-value: 'steps'",
            "10:10:Unrecognized named-value: 'env'", "13:13:Unrecognized named-value: 'secrets'",
            "17:14:Unrecognized named-value: 'needs'");
    wf_errs("on: push\njobs:\n  a:\n    if: hashFiles('x')\n    runs-on: x\n", GR_EINVAL_WF, 1,
            "4:9:hashFiles");
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - if: github.ref ==\n"
            "        run: x\n",
            GR_EINVAL_WF, 1, "6:13:Unexpected end of expression");
    /* expressions skip type checks; the insert directive is accepted under a context */
    ex_workflow_free(wf_ok("on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n"
                           "      fail-fast: ${{ github.ref == 'x' }}\n      matrix:\n"
                           "        v: ${{ fromJSON('[1]') }}\n        ${{ insert }}: {}\n"
                           "    timeout-minutes: ${{ 5 }}\n"));
}

static void test_broken_yaml(void **state)
{
    wf_errs("on: push\njobs:\n\ta: 1\n", GR_EPARSE, 1,
            "3:1:found character that cannot start any token");
    wf_errs("on: push\njobs:\n  a:\n    runs-on: x\n  A:\n    runs-on: y\n", GR_EPARSE, 1,
            "5:3:'A' is already defined");
    wf_errs("on: push\n---\njobs: {}\n", GR_EPARSE, 1, "2:1:only one YAML document");
    wf_errs("on: &a [*a]\n", GR_EPARSE, 1, "1:9:unknown alias 'a'");
}

static void test_empty_and_garbage(void **state)
{
    struct ex_workflow *wf = NULL;
    struct gr_diag d = {0};
    unsigned char bin[2048];
    uint32_t x = 7;

    assert_int_equal(ex_workflow_parse("w.yml", "", 0, &wf, NULL, &d), GR_EINVAL_WF);
    assert_string_equal(d.msg, "the workflow file is empty");
    assert_int_equal(ex_workflow_parse("w.yml", "# c\n", 4, &wf, NULL, &d), GR_EINVAL_WF);
    {
        struct ex_diags diags = {0};
        const char *missing = "/nonexistent/ghrun/w.yml";
        assert_int_equal(ex_workflow_load(missing, &wf, &diags, &d), -ENOENT);
        assert_null(wf);
        assert_int_equal(diags.n, 1);
        assert_ptr_equal(d.file, missing);
        assert_non_null(strstr(d.msg, "cannot read"));
        ex_diags_release(&diags);
    }
    wf_errs("just a string\n", GR_EINVAL_WF, 1, "1:1:Unexpected value 'just a string'");
    wf_errs("- a\n", GR_EINVAL_WF, 1, "1:1:A sequence was not expected");
    for (int round = 0; round < 100; round++) {
        for (size_t i = 0; i < sizeof(bin); i++) {
            x = x * 1103515245u + 12345u;
            bin[i] = (unsigned char)(x >> 16);
        }
        assert_true(ex_workflow_parse("w.yml", (char *)bin, sizeof(bin), &wf, NULL, &d) < 0);
        assert_null(wf);
        assert_true(d.msg[0] != '\0');
    }
}

static void test_limits(void **state)
{
    struct ex_workflow *wf = NULL;
    struct gr_diag d = {0};
    char deep[400];
    size_t len = 0;
    size_t big = 1024 * 1024 + 100;
    char *src = malloc(big);

    len = (size_t)snprintf(deep, sizeof(deep), "on: push\nenv: ");
    for (int i = 0; i < 60; i++)
        deep[len++] = '[';
    for (int i = 0; i < 60; i++)
        deep[len++] = ']';
    deep[len++] = '\n';
    assert_int_equal(ex_workflow_parse("w.yml", deep, len, &wf, NULL, &d), -E2BIG);
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 55);
    assert_non_null(strstr(d.msg, "maximum object depth exceeded"));
    memset(src, '#', big);
    src[0] = 'a';
    src[1] = ':';
    src[2] = '\n';
    assert_int_equal(ex_workflow_parse("w.yml", src, big, &wf, NULL, &d), -E2BIG);
    assert_non_null(strstr(d.msg, "larger than 1048576 characters"));
    free(src);
}

static void test_host_mode(void **state)
{
    struct ex_workflow *wf = wf_ok("on: push\njobs:\n  a:\n    runs-on: x\n"
                                   "    container: node:20\n  b:\n    runs-on: x\n"
                                   "  c:\n    runs-on: x\n    services:\n      db:\n"
                                   "        image: postgres\n");
    struct ex_diags diags = {0};
    struct gr_diag d = {0};

    assert_int_equal(ex_workflow_check_host(wf, &diags, &d), GR_EINVAL_WF);
    assert_int_equal(diags.n, 2);
    assert_string_equal(d.msg, "job 'a': container and services are not supported in host mode");
    assert_int_equal(d.line, 5);
    assert_int_equal(d.col, 5);
    assert_string_equal(d.file, "w.yml");
    assert_int_equal(diags.items[1].line, 10);
    assert_non_null(strstr(diags.items[1].msg, "job 'c'"));
    ex_diags_release(&diags);
    ex_workflow_free(wf);
    wf = wf_ok("on: push\njobs:\n  a:\n    runs-on: x\n");
    assert_int_equal(ex_workflow_check_host(wf, NULL, NULL), 0);
    ex_workflow_free(wf);
}

/* ---- files: corpus and fixtures ---------------------------------------- */

static int check_file(const char *path, bool want_ok, bool verbose)
{
    struct ex_workflow *wf = NULL;
    struct ex_diags diags = {0};
    struct gr_diag d = {0};
    int r = ex_workflow_load(path, &wf, &diags, &d);

    if ((r == 0) != want_ok || verbose) {
        fprintf(stderr, "%s: %s (%d)\n", want_ok ? "should pass" : "should fail", path, r);
        for (size_t i = 0; i < diags.n; i++)
            fprintf(stderr, "  %d:%d: %s\n", diags.items[i].line, diags.items[i].col,
                    diags.items[i].msg);
    }
    if (r < 0) {
        assert_true(diags.n > 0);
        assert_ptr_equal(d.file, path);
        assert_true(d.msg[0] != '\0');
    }
    ex_workflow_free(wf);
    ex_diags_release(&diags);
    return (r == 0) == want_ok ? 0 : 1;
}

static char *shared_path(const char *rel)
{
    const char *dir = getenv("GR_SHARED_DIR");
    return dir ? gr_path_join(dir, rel) : NULL;
}

static void test_real_workflows(void **state)
{
    char *dir = shared_path("corpus/real-workflows");
    struct dirent *de;
    DIR *d;
    int bad = 0, n = 0;

    if (!dir || !(d = opendir(dir))) {
        free(dir);
        skip();
    }
    while ((de = readdir(d))) {
        if (!gr_endswith(de->d_name, ".yml"))
            continue;
        char *p = gr_path_join(dir, de->d_name);
        bad += check_file(p, true, false);
        n++;
        free(p);
    }
    closedir(d);
    free(dir);
    assert_true(n >= 20);
    assert_int_equal(bad, 0);
}

/* act-testdata: every workflow in CASES.tsv; plan-error rows must fail, the rest parse. */
static bool act_expect_error(const char *expected)
{
    return gr_startswith(expected, "plan-error") || strstr(expected, "Invalid run/uses syntax") ||
           strstr(expected, "Expected format") || strstr(expected, "missing run or uses");
}

static void test_act_cases(void **state)
{
    char *tsv = shared_path("corpus/act-testdata/CASES.tsv");
    char *base = shared_path("corpus/act-testdata");
    char *text = NULL, *line, *save = NULL;
    size_t len;
    int bad = 0, n = 0, fails = 0;

    if (!tsv || gr_file_read(tsv, 1 << 20, &text, &len) < 0) {
        free(tsv);
        free(base);
        skip();
    }
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4] = {0};
        char *p = line;
        for (int i = 0; i < 4 && p; i++) {
            f[i] = p;
            p = strchr(p, '\t');
            if (p)
                *p++ = '\0';
        }
        if (!f[3] || strcmp(f[0], "case") == 0 || gr_endswith(f[1], "/"))
            continue;
        char *path = gr_path_join(base, f[1]);
        bool want_ok = !act_expect_error(f[3]);
        bad += check_file(path, want_ok, false);
        fails += !want_ok;
        n++;
        free(path);
    }
    free(text);
    free(tsv);
    free(base);
    assert_true(n >= 60);
    assert_true(fails >= 8);
    assert_int_equal(bad, 0);
}

/*
 * A bad fixture starts with "# expect: LINE:COL: message" (the first
 * problem) and may add "# expect-count: N" (how many problems in all) and
 * "# expect-code: NAME" (gr_errname of the result; GR_EINVAL_WF if absent).
 */
static int check_expectation(const char *path)
{
    struct ex_workflow *wf = NULL;
    struct ex_diags diags = {0};
    struct gr_diag d = {0};
    char *text = NULL, want[512] = "", code[32] = "GR_EINVAL_WF";
    size_t len = 0;
    int line = -1, col = -1, count = -1, bad = 0, r;
    const char *c;

    assert_int_equal(gr_file_read(path, 1 << 22, &text, &len), 0);
    if (sscanf(text, "# expect: %d:%d: %511[^\n]", &line, &col, want) < 2)
        fail_msg("%s: no '# expect: L:C: message' first line", path);
    c = strstr(text, "\n# expect-count: ");
    if (c)
        count = (int)strtol(c + 17, NULL, 10);
    c = strstr(text, "\n# expect-code: ");
    if (c)
        sscanf(c + 16, "%31s", code);
    free(text);
    r = ex_workflow_load(path, &wf, &diags, &d);
    if (r == 0) {
        fprintf(stderr, "%s: should fail\n", path);
        ex_workflow_free(wf);
        return 1;
    }
    if (strcmp(gr_errname(r), code) != 0) {
        fprintf(stderr, "%s: wanted %s, got %s\n", path, code, gr_errname(r));
        bad = 1;
    }
    if (d.line != line || d.col != col || !strstr(d.msg, want) ||
        (count >= 0 && diags.n != (size_t)count)) {
        fprintf(stderr, "%s: wanted %d:%d: '%s' (count %d), got %d:%d: '%s' (count %zu)\n", path,
                line, col, want, count, d.line, d.col, d.msg, diags.n);
        bad = 1;
    }
    ex_diags_release(&diags);
    return bad;
}

/* tests/data/workflows/good-*.yml parse; bad-*.yml fail as their first line says. */
static void test_fixtures(void **state)
{
    const char *src = getenv("GR_SOURCE_DIR");
    char *dir = src ? gr_path_join(src, "tests/data/workflows") : NULL;
    struct dirent *de;
    DIR *d;
    int bad = 0, n = 0;

    if (!dir || !(d = opendir(dir))) {
        free(dir);
        skip();
    }
    while ((de = readdir(d))) {
        bool good = gr_startswith(de->d_name, "good-");
        if (!gr_endswith(de->d_name, ".yml") || (!good && !gr_startswith(de->d_name, "bad-")))
            continue;
        char *p = gr_path_join(dir, de->d_name);
        bad += good ? check_file(p, true, false) : check_expectation(p);
        n++;
        free(p);
    }
    closedir(d);
    free(dir);
    assert_true(n >= 18);
    assert_int_equal(bad, 0);
}

static void test_node_eval_templates(void **state)
{
    struct ex_workflow *wf = wf_ok("on: push\njobs:\n  a:\n    runs-on: x\n    env:\n"
                                   "      N: ${{ 3 }}\n      S: os-${{ matrix.os }}\n"
                                   "      P: plain\n      Q: ${{ matrix.os == 'linux' }}\n"
                                   "    strategy:\n      matrix:\n        os: [linux]\n"
                                   "    outputs:\n      bad: ${{ fromJSON('{') }}\n");
    json_t *ctx = json_pack("{s:{s:s}}", "matrix", "os", "linux");
    struct ex_eval_env env = {.contexts = ctx};
    struct gr_diag d = {0};
    json_t *j = NULL;
    char *s;

    assert_int_equal(ex_node_eval(wf->jobs[0].env, &env, &j, &d), 0);
    s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(s, "{\"N\":3,\"S\":\"os-linux\",\"P\":\"plain\",\"Q\":true}");
    free(s);
    json_decref(j);
    j = NULL;
    assert_true(ex_node_eval(wf->jobs[0].outputs, &env, &j, &d) < 0);
    assert_null(j);
    assert_int_equal(d.line, 14);
    assert_int_equal(d.col, 12);
    assert_string_equal(d.file, "w.yml");
    json_decref(ctx);
    ex_workflow_free(wf);
}

static void test_node_eval_plain(void **state)
{
    struct ex_workflow *wf = wf_ok("on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n"
                                   "      matrix:\n        A: [1]\n        B: [x, true]\n");
    json_t *j = NULL;
    char *s;

    assert_int_equal(ex_node_eval(wf->jobs[0].matrix, NULL, &j, NULL), 0);
    s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(s, "{\"A\":[1],\"B\":[\"x\",true]}");
    free(s);
    json_decref(j);
    ex_workflow_free(wf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_on_forms),
        cmocka_unit_test(test_unknown_keys_and_types),
        cmocka_unit_test(test_job_requirements),
        cmocka_unit_test(test_job_ids),
        cmocka_unit_test(test_needs),
        cmocka_unit_test(test_steps),
        cmocka_unit_test(test_cron),
        cmocka_unit_test(test_dispatch_inputs),
        cmocka_unit_test(test_expression_places),
        cmocka_unit_test(test_broken_yaml),
        cmocka_unit_test(test_empty_and_garbage),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_host_mode),
        cmocka_unit_test(test_node_eval_plain),
        cmocka_unit_test(test_node_eval_templates),
        cmocka_unit_test(test_real_workflows),
        cmocka_unit_test(test_act_cases),
        cmocka_unit_test(test_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
