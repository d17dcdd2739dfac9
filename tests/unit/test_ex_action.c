/* Unit tests for executor/action.c: action.yml model, errors with positions, uses: syntax. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ex.h"

static struct ex_action *parse_ok(const char *src)
{
    struct ex_action *a = NULL;
    struct gr_diag d = {0};
    int r = ex_action_parse("dir/action.yml", src, strlen(src), &a, &d);

    if (r != 0)
        fail_msg("unexpected error %d: %s", r, d.msg);
    return a;
}

/* Expect code r and a message holding "dir/action.yml:line:col: " and want. */
static void parse_err(const char *src, int err, int line, int col, const char *want)
{
    struct ex_action *a = NULL;
    struct gr_diag d = {0};
    char pos[64];
    int r = ex_action_parse("dir/action.yml", src, strlen(src), &a, &d);

    assert_null(a);
    snprintf(pos, sizeof(pos), "dir/action.yml:%d:%d: ", line, col);
    if (r != err || !strstr(d.msg, want) || strncmp(d.msg, pos, strlen(pos)) != 0)
        fail_msg("got %d '%s', wanted %d '%s%s'", r, d.msg, err, pos, want);
    assert_null(d.file);
}

static void test_composite(void **state)
{
    struct ex_action *a = parse_ok("name: x\n"
                                   "inputs:\n"
                                   "  who:\n"
                                   "    required: true\n"
                                   "    default: ${{ github.actor }}\n"
                                   "    deprecationMessage: use name\n"
                                   "  plain: {}\n"
                                   "  bare:\n"
                                   "outputs:\n"
                                   "  o:\n"
                                   "    value: ${{ steps.a.outputs.v }}\n"
                                   "runs:\n"
                                   "  using: composite\n"
                                   "  steps:\n"
                                   "    - id: a\n"
                                   "      run: echo hi\n"
                                   "      shell: bash\n"
                                   "    - uses: ./other\n"
                                   "      with: {k: v}\n");

    (void)state;
    assert_int_equal(a->kind, EX_ACTION_COMPOSITE);
    assert_string_equal(a->dir, "dir");
    assert_string_equal(ex_node_str(a->name), "x");
    assert_int_equal(a->n_inputs, 3);
    assert_string_equal(a->inputs[0].name, "who");
    assert_string_equal(ex_node_str(a->inputs[0].default_), "${{ github.actor }}");
    assert_string_equal(ex_node_str(a->inputs[0].required), "true");
    assert_string_equal(ex_node_str(a->inputs[0].deprecation), "use name");
    assert_null(a->inputs[1].default_);
    assert_null(a->inputs[2].default_);
    assert_int_equal(a->n_outputs, 1);
    assert_string_equal(ex_node_str(a->outputs[0].value), "${{ steps.a.outputs.v }}");
    assert_int_equal(a->n_steps, 2);
    assert_string_equal(a->steps[0].id, "a");
    assert_string_equal(ex_node_str(a->steps[0].shell), "bash");
    assert_int_equal(a->steps[1].index, 1);
    assert_string_equal(ex_node_str(a->steps[1].uses), "./other");
    assert_non_null(a->steps[1].with);
    ex_action_free(a);
}

static void test_node_and_docker(void **state)
{
    struct ex_action *a = parse_ok("runs:\n"
                                   "  using: node20\n"
                                   "  main: dist/index.js\n"
                                   "  pre: pre.js\n"
                                   "  pre-if: runner.os == 'Linux'\n"
                                   "  post: post.js\n"
                                   "  post-if: success()\n");

    (void)state;
    assert_int_equal(a->kind, EX_ACTION_NODE);
    assert_int_equal(a->node_major, 20);
    assert_string_equal(a->main, "dist/index.js");
    assert_string_equal(a->pre, "pre.js");
    assert_string_equal(a->post, "post.js");
    assert_string_equal(ex_node_str(a->post_if), "success()");
    ex_action_free(a);
    a = parse_ok("runs: {using: node24, main: m.js}\n");
    assert_int_equal(a->node_major, 24);
    assert_null(a->pre);
    ex_action_free(a);
    a = parse_ok("runs: {using: docker, image: Dockerfile}\n");
    assert_int_equal(a->kind, EX_ACTION_DOCKER);
    assert_string_equal(a->image, "Dockerfile");
    ex_action_free(a);
}

static void test_errors(void **state)
{
    (void)state;
    parse_err("name: x\n", GR_EINVAL_WF, 1, 1, "'runs' is required");
    parse_err("- a\n", GR_EINVAL_WF, 1, 1, "must be a mapping");
    parse_err("runs: x\n", GR_EINVAL_WF, 1, 7, "'runs' must be a mapping");
    parse_err("runs:\n  main: a.js\n", GR_EINVAL_WF, 2, 3, "'runs.using' is required");
    parse_err("runs:\n  using: node10\n  main: a.js\n", GR_EINVAL_WF, 2, 10,
              "unknown runs.using 'node10'");
    parse_err("runs:\n  using: node20\n", GR_EINVAL_WF, 2, 3, "needs 'runs.main'");
    parse_err("runs:\n  using: docker\n", GR_EINVAL_WF, 2, 3, "needs 'runs.image'");
    parse_err("runs:\n  using: composite\n", GR_EINVAL_WF, 2, 3, "needs 'runs.steps'");
    parse_err("runs:\n  using: composite\n  steps: []\n", GR_EINVAL_WF, 3, 10, "is empty");
    parse_err("runs:\n  using: composite\n  steps:\n    - name: Foo\n", GR_EINVAL_WF, 4, 7,
              "needs 'run' or 'uses'");
    parse_err("runs:\n  using: composite\n  steps:\n    - run: echo\n", GR_EINVAL_WF, 4, 12,
              "needs 'shell'");
    parse_err("runs:\n  using: composite\n  steps:\n    - {run: a, uses: ./b, shell: sh}\n",
              GR_EINVAL_WF, 4, 22, "both 'run' and 'uses'");
    parse_err("runs:\n  using: composite\n  steps:\n    - {uses: ./b, bogus: 1}\n", GR_EINVAL_WF, 4,
              19, "unexpected key 'bogus'");
    parse_err("outputs:\n  o: {description: d}\nruns:\n  using: composite\n  steps:\n"
              "    - {uses: ./b}\n",
              GR_EINVAL_WF, 2, 6, "needs 'value'");
    parse_err("inputs: [a]\nruns: {using: node20, main: a.js}\n", GR_EINVAL_WF, 1, 9,
              "'inputs' must be a mapping");
    parse_err("runs: {using: node20, main: [a]}\n", GR_EINVAL_WF, 1, 29, "'main' must be a string");
    parse_err("runs: {using: node20, main: a.js}\nruns: {}\n", GR_EPARSE, 2, 1, "");
}

static void test_load(void **state)
{
    char dir[] = "/tmp/ghrun-action-XXXXXX";
    struct ex_action *a = NULL;
    struct gr_diag d = {0};
    char *path;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(ex_action_load(dir, &a, &d), -ENOENT);
    assert_non_null(strstr(d.msg, "no action.yml or action.yaml in"));
    path = gr_path_join(dir, "action.yaml");
    assert_int_equal(gr_file_write_atomic(path, "runs: {using: node16, main: m.js}\n", 34, 0644),
                     0);
    assert_int_equal(ex_action_load(dir, &a, &d), 0);
    assert_int_equal(a->node_major, 16);
    assert_string_equal(a->dir, dir);
    ex_action_free(a);
    assert_int_equal(gr_file_write_atomic(path, "runs: {using: nope}\n", 20, 0644), 0);
    assert_int_equal(ex_action_load(dir, &a, &d), GR_EINVAL_WF);
    assert_non_null(strstr(d.msg, "action.yaml:1:15: unknown runs.using 'nope'"));
    assert_null(d.file);
    free(path);
    assert_int_equal(gr_rm_rf(dir), 0);
}

static void test_input_env(void **state)
{
    char *s = ex_action_input_env("my input-name");

    (void)state;
    assert_string_equal(s, "INPUT_MY_INPUT-NAME");
    free(s);
}

static void ref_ok(const char *uses, enum ex_uses_kind kind, const char *owner, const char *repo,
                   const char *path, const char *ref)
{
    struct ex_action_ref r;
    struct gr_diag d = {0};

    assert_int_equal(ex_action_ref_parse(uses, &r, &d), 0);
    assert_int_equal(r.kind, kind);
    if (kind == EX_USES_REMOTE) {
        assert_string_equal(r.owner, owner);
        assert_string_equal(r.repo, repo);
        assert_string_equal(r.path, path);
        assert_string_equal(r.ref, ref);
    } else {
        assert_string_equal(r.local, path);
    }
    ex_action_ref_release(&r);
}

static void ref_bad(const char *uses, const char *want)
{
    struct ex_action_ref r;
    struct gr_diag d = {0};

    assert_int_equal(ex_action_ref_parse(uses, &r, &d), GR_EINVAL_WF);
    if (!strstr(d.msg, want))
        fail_msg("'%s': got '%s', wanted '%s'", uses, d.msg, want);
}

static void test_refs(void **state)
{
    (void)state;
    ref_ok("actions/setup-node@v4", EX_USES_REMOTE, "actions", "setup-node", "", "v4");
    ref_ok("o/r/sub/dir@main", EX_USES_REMOTE, "o", "r", "sub/dir", "main");
    ref_ok("o/r@feature/x", EX_USES_REMOTE, "o", "r", "", "feature/x");
    ref_ok("./a/b", EX_USES_LOCAL, NULL, NULL, "./a/b", NULL);
    ref_ok("docker://alpine:3", EX_USES_DOCKER, NULL, NULL, "alpine:3", NULL);
    ref_bad("Foo/Bar", "Expected format {owner}/{repo}[/path]@{ref}. Actual 'Foo/Bar'");
    ref_bad("foo@v1", "Expected format");
    ref_bad("o/r@", "Expected format");
    ref_bad("/r@v1", "Expected format");
    ref_bad("o/r/../x@v1", "invalid action reference");
    ref_bad("", "empty");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_composite), cmocka_unit_test(test_node_and_docker),
        cmocka_unit_test(test_errors),    cmocka_unit_test(test_load),
        cmocka_unit_test(test_input_env), cmocka_unit_test(test_refs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
