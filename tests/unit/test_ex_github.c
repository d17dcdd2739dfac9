/*
 * Unit tests for executor/github.c: the github context and changed files from
 * a temporary git repository built with libgit2, with and without a remote.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <git2.h>

#include "ex/plan.h"

struct fixture {
    char dir[PATH_MAX]; /* realpath of the temporary directory */
    char shas[3][GIT_OID_HEXSZ + 1];
};

static void write_file(const char *dir, const char *rel, const char *text)
{
    char *path = gr_path_join(dir, rel), *slash = strrchr(path, '/');

    *slash = '\0';
    assert_int_equal(gr_mkdir_p(path, 0755), 0);
    *slash = '/';
    assert_int_equal(gr_file_write_atomic(path, text, strlen(text), 0644), 0);
    free(path);
}

/* Stage the given paths and commit on HEAD; returns the new commit's hex id. */
static void commit(git_repository *repo, const char *const *paths, const char *msg, char *ret)
{
    git_index *idx = NULL;
    git_oid tree_id, cid;
    git_tree *tree = NULL;
    git_signature *sig = NULL;
    git_object *parent = NULL;
    int np;

    assert_int_equal(git_repository_index(&idx, repo), 0);
    for (; *paths; paths++)
        assert_int_equal(git_index_add_bypath(idx, *paths), 0);
    assert_int_equal(git_index_write(idx), 0);
    assert_int_equal(git_index_write_tree(&tree_id, idx), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &tree_id), 0);
    assert_int_equal(git_signature_new(&sig, "Test User", "test@example.com", 1700000000, 60), 0);
    np = git_revparse_single(&parent, repo, "HEAD") == 0 ? 1 : 0;
    assert_int_equal(git_commit_create_v(&cid, repo, "HEAD", sig, sig, NULL, msg, tree, np, parent),
                     0);
    git_oid_tostr(ret, GIT_OID_HEXSZ + 1, &cid);
    git_object_free(parent);
    git_signature_free(sig);
    git_tree_free(tree);
    git_index_free(idx);
}

/* A repository on branch main with two commits: a.txt, then b/c.txt. */
static int setup_repo(void **state)
{
    struct fixture *f = gr_xcalloc(1, sizeof(*f));
    git_repository_init_options o;
    git_repository *repo = NULL;
    git_config *cfg = NULL;
    char tmpl[] = "/tmp/gr-github-XXXXXX";
    static const char *const p1[] = {"a.txt", NULL}, *const p2[] = {"b/c.txt", NULL};

    git_libgit2_init();
    assert_int_equal(git_repository_init_options_init(&o, GIT_REPOSITORY_INIT_OPTIONS_VERSION), 0);
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, f->dir));
    o.initial_head = "main";
    o.flags = GIT_REPOSITORY_INIT_MKPATH;
    assert_int_equal(git_repository_init_ext(&repo, f->dir, &o), 0);
    assert_int_equal(git_repository_config(&cfg, repo), 0);
    assert_int_equal(git_config_set_string(cfg, "user.name", "Test User"), 0);
    git_config_free(cfg);
    write_file(f->dir, "a.txt", "a\n");
    commit(repo, p1, "first\n", f->shas[0]);
    write_file(f->dir, "b/c.txt", "c\n");
    commit(repo, p2, "second commit\n\nbody\n", f->shas[1]);
    git_repository_free(repo);
    *state = f;
    return 0;
}

static int teardown_repo(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(gr_rm_rf(f->dir), 0);
    free(f);
    git_libgit2_shutdown();
    return 0;
}

static const char *gs(const json_t *g, const char *key)
{
    const char *v = json_string_value(json_object_get(g, key));

    if (!v)
        fail_msg("github.%s is not a string", key);
    return v;
}

static json_t *context(const char *dir, const char *event, const char *payload)
{
    json_t *p = payload ? json_loads(payload, 0, NULL) : NULL, *g = NULL;
    struct gr_diag d = {0};

    if (payload)
        assert_non_null(p);
    assert_int_equal(ex_github_context(dir, event, p, &g, &d), 0);
    json_decref(p);
    return g;
}

static char *changed(const char *dir, const json_t *g);

static void test_parse_remote(void **state)
{
    static const struct {
        const char *url, *host, *owner, *name;
    } ok[] = {
        {"https://github.com/octo/hello.git", "github.com", "octo", "hello"},
        {"https://github.com/octo/hello", "github.com", "octo", "hello"},
        {"https://github.com/octo/hello/", "github.com", "octo", "hello"},
        {"git@github.com:octo/hello.git", "github.com", "octo", "hello"},
        {"ssh://git@github.com/octo/hello.git", "github.com", "octo", "hello"},
        {"ssh://git@ghe.corp:2222/team/tool", "ghe.corp", "team", "tool"},
        {"https://user:token@ghe.corp/team/tool.git", "ghe.corp", "team", "tool"},
    };
    static const char *const bad[] = {"", "foo", "https://github.com/octo",
                                      "https://github.com/a/b/c", "/srv/git/repo.git"};
    char *h, *o, *n;
    size_t i;
    (void)state;

    for (i = 0; i < GR_ARRAY_SIZE(ok); i++) {
        if (!ex_github_parse_remote(ok[i].url, &h, &o, &n))
            fail_msg("could not parse '%s'", ok[i].url);
        assert_string_equal(h, ok[i].host);
        assert_string_equal(o, ok[i].owner);
        assert_string_equal(n, ok[i].name);
        free(h);
        free(o);
        free(n);
    }
    for (i = 0; i < GR_ARRAY_SIZE(bad); i++)
        if (ex_github_parse_remote(bad[i], &h, &o, &n))
            fail_msg("'%s' should not parse", bad[i]);
}

static void test_push_without_remote(void **state)
{
    struct fixture *f = *state;
    json_t *g = context(f->dir, "push", NULL), *ev = json_object_get(g, "event");
    char *want_repo = gr_xasprintf("local/%s", strrchr(f->dir, '/') + 1);

    assert_string_equal(gs(g, "sha"), f->shas[1]);
    assert_string_equal(gs(g, "ref"), "refs/heads/main");
    assert_string_equal(gs(g, "ref_name"), "main");
    assert_string_equal(gs(g, "ref_type"), "branch");
    assert_string_equal(gs(g, "repository"), want_repo);
    assert_string_equal(gs(g, "repository_owner"), "local");
    assert_string_equal(gs(g, "actor"), "Test User");
    assert_string_equal(gs(g, "workspace"), f->dir);
    assert_string_equal(gs(g, "event_name"), "push");
    assert_string_equal(gs(g, "server_url"), "https://github.com");
    assert_string_equal(gs(g, "api_url"), "https://api.github.com");
    assert_string_equal(gs(g, "graphql_url"), "https://api.github.com/graphql");
    assert_string_equal(gs(g, "head_ref"), "");
    assert_string_equal(gs(g, "base_ref"), "");
    assert_true(strtoll(gs(g, "run_id"), NULL, 10) > 0);
    assert_string_equal(gs(g, "run_number"), "1");
    assert_string_equal(gs(g, "run_attempt"), "1");
    /* the generated push payload */
    assert_string_equal(gs(ev, "ref"), "refs/heads/main");
    assert_string_equal(gs(ev, "after"), f->shas[1]);
    assert_string_equal(gs(ev, "before"), f->shas[0]);
    assert_string_equal(gs(json_object_get(ev, "head_commit"), "id"), f->shas[1]);
    assert_string_equal(gs(json_object_get(ev, "head_commit"), "message"),
                        "second commit\n\nbody\n");
    assert_string_equal(gs(json_object_get(ev, "head_commit"), "timestamp"),
                        "2023-11-14T23:13:20+01:00");
    assert_int_equal(json_array_size(json_object_get(ev, "commits")), 1);
    assert_string_equal(gs(json_object_get(ev, "repository"), "full_name"), want_repo);
    assert_string_equal(gs(json_object_get(ev, "repository"), "default_branch"), "main");
    free(want_repo);
    json_decref(g);
}

static void add_remote(const char *dir, const char *name, const char *url)
{
    /* through the config: git_remote_create leaks in libgit2 1.5 (pcre2 match data) */
    git_repository *repo = NULL;
    git_config *cfg = NULL;
    char *key = gr_xasprintf("remote.%s.url", name);

    assert_int_equal(git_repository_open(&repo, dir), 0);
    assert_int_equal(git_repository_config(&cfg, repo), 0);
    assert_int_equal(git_config_set_string(cfg, key, url), 0);
    git_config_free(cfg);
    git_repository_free(repo);
    free(key);
}

static void test_remote_https_and_ssh(void **state)
{
    struct fixture *f = *state;
    json_t *g;

    add_remote(f->dir, "upstream", "https://ghe.corp/team/tool.git");
    g = context(f->dir, "push", NULL);
    /* no origin: the first remote */
    assert_string_equal(gs(g, "repository"), "team/tool");
    assert_string_equal(gs(g, "server_url"), "https://ghe.corp");
    assert_string_equal(gs(g, "api_url"), "https://ghe.corp/api/v3");
    assert_string_equal(gs(g, "graphql_url"), "https://ghe.corp/api/graphql");
    json_decref(g);
    add_remote(f->dir, "origin", "git@github.com:octo/hello.git");
    g = context(f->dir, "push", NULL);
    assert_string_equal(gs(g, "repository"), "octo/hello");
    assert_string_equal(gs(g, "repository_owner"), "octo");
    assert_string_equal(gs(g, "server_url"), "https://github.com");
    assert_string_equal(gs(json_object_get(json_object_get(g, "event"), "repository"), "html_url"),
                        "https://github.com/octo/hello");
    json_decref(g);
}

static void test_payload_overrides(void **state)
{
    struct fixture *f = *state;
    json_t *g = context(f->dir, "push",
                        "{\"ref\":\"refs/heads/feature\",\"repository\":{\"full_name\":"
                        "\"nektos/act\"},\"sender\":{\"login\":\"bob\"}}");

    assert_string_equal(gs(g, "ref"), "refs/heads/feature");
    assert_string_equal(gs(g, "ref_name"), "feature");
    assert_string_equal(gs(g, "repository"), "nektos/act");
    assert_string_equal(gs(g, "repository_owner"), "nektos");
    assert_string_equal(gs(g, "actor"), "bob");
    assert_string_equal(gs(g, "sha"), f->shas[1]);
    json_decref(g);
    g = context(f->dir, "workflow_dispatch", "{\"ref\":\"release\",\"inputs\":{}}");
    assert_string_equal(gs(g, "ref"), "refs/heads/release");
    json_decref(g);
    g = context(f->dir, "push", "{\"ref\":\"refs/tags/v2.0\"}");
    assert_string_equal(gs(g, "ref_type"), "tag");
    assert_string_equal(gs(g, "ref_name"), "v2.0");
    json_decref(g);
}

static void test_pull_request(void **state)
{
    struct fixture *f = *state;
    json_t *g = context(f->dir, "pull_request",
                        "{\"number\":7,\"pull_request\":{\"head\":{\"ref\":\"feat\"},"
                        "\"base\":{\"ref\":\"main\"}}}");

    assert_string_equal(gs(g, "ref"), "refs/pull/7/merge");
    assert_string_equal(gs(g, "ref_name"), "7/merge");
    assert_string_equal(gs(g, "head_ref"), "feat");
    assert_string_equal(gs(g, "base_ref"), "main");
    json_decref(g);
    /* the generated payload */
    g = context(f->dir, "pull_request", NULL);
    assert_string_equal(gs(g, "ref"), "refs/pull/1/merge");
    assert_string_equal(gs(g, "head_ref"), "main");
    assert_string_equal(gs(g, "base_ref"), "main");
    assert_string_equal(
        gs(json_object_get(json_object_get(json_object_get(g, "event"), "pull_request"), "head"),
           "sha"),
        f->shas[1]);
    json_decref(g);
}

/* A feature branch: the pull request's files are everything since the merge base with main. */
static void test_feature_branch(void **state)
{
    struct fixture *f = *state;
    static const char *const p3[] = {"d.txt", NULL}, *const p4[] = {"e/f.txt", NULL};
    git_repository *repo = NULL;
    git_reference *br = NULL;
    git_commit *head = NULL;
    git_oid oid;
    json_t *g;
    char *s;

    assert_int_equal(git_repository_open(&repo, f->dir), 0);
    assert_int_equal(git_reference_name_to_id(&oid, repo, "HEAD"), 0);
    assert_int_equal(git_commit_lookup(&head, repo, &oid), 0);
    assert_int_equal(git_branch_create(&br, repo, "feat", head, 0), 0);
    assert_int_equal(git_repository_set_head(repo, "refs/heads/feat"), 0);
    write_file(f->dir, "d.txt", "d\n");
    commit(repo, p3, "third\n", f->shas[2]);
    write_file(f->dir, "e/f.txt", "f\n");
    commit(repo, p4, "fourth\n", f->shas[2]);
    g = context(f->dir, "pull_request", NULL);
    assert_string_equal(gs(g, "head_ref"), "feat");
    assert_string_equal(gs(g, "base_ref"), "main");
    s = changed(f->dir, g);
    assert_string_equal(s, "[\"d.txt\",\"e/f.txt\"]");
    free(s);
    json_decref(g);
    g = context(f->dir, "push", NULL);
    assert_string_equal(gs(g, "ref"), "refs/heads/feat");
    s = changed(f->dir, g);
    assert_string_equal(s, "[\"e/f.txt\"]");
    free(s);
    json_decref(g);
    git_reference_free(br);
    git_commit_free(head);
    git_repository_free(repo);
}

static void test_detached_tag(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = NULL;
    git_object *obj = NULL;
    git_oid tag;
    json_t *g;

    assert_int_equal(git_repository_open(&repo, f->dir), 0);
    assert_int_equal(git_revparse_single(&obj, repo, "HEAD~1"), 0);
    assert_int_equal(git_tag_create_lightweight(&tag, repo, "v1.0", obj, 0), 0);
    assert_int_equal(git_repository_set_head_detached(repo, git_object_id(obj)), 0);
    git_object_free(obj);
    git_repository_free(repo);
    g = context(f->dir, "push", NULL);
    assert_string_equal(gs(g, "sha"), f->shas[0]);
    assert_string_equal(gs(g, "ref"), "refs/tags/v1.0");
    assert_string_equal(gs(g, "ref_type"), "tag");
    assert_string_equal(gs(g, "ref_name"), "v1.0");
    /* root commit: before is all zeros */
    assert_string_equal(gs(json_object_get(g, "event"), "before"),
                        "0000000000000000000000000000000000000000");
    json_decref(g);
}

static void test_not_a_repository(void **state)
{
    char tmpl[] = "/tmp/gr-norepo-XXXXXX", real[PATH_MAX];
    json_t *g;
    (void)state;

    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, real));
    g = context(real, "schedule", NULL);
    assert_string_equal(gs(g, "sha"), "0000000000000000000000000000000000000000");
    /* outside git, replay runs as the default branch main */
    assert_string_equal(gs(g, "ref"), "refs/heads/main");
    assert_string_equal(gs(g, "workspace"), real);
    assert_true(gr_startswith(gs(g, "repository"), "local/gr-norepo-"));
    assert_string_equal(gs(g, "event_name"), "schedule");
    assert_non_null(json_object_get(json_object_get(g, "event"), "repository"));
    json_decref(g);
    assert_int_equal(gr_rm_rf(real), 0);
    assert_int_equal(ex_github_context(real, "", NULL, &g, NULL), GR_EUSAGE);
}

static char *changed(const char *dir, const json_t *g)
{
    json_t *arr = NULL;
    char *s;

    assert_int_equal(ex_github_changed_files(dir, g, &arr, NULL), 0);
    if (!arr)
        return gr_xstrdup("null");
    s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return s;
}

static void test_changed_files(void **state)
{
    struct fixture *f = *state;
    json_t *g = context(f->dir, "push", NULL);
    char *s, *before;

    s = changed(f->dir, g);
    assert_string_equal(s, "[\"b/c.txt\"]");
    free(s);
    json_decref(g);
    /* before..after from the payload: the root commit against nothing */
    before = gr_xasprintf("{\"before\":\"0000000000000000000000000000000000000000\","
                          "\"after\":\"%s\"}",
                          f->shas[0]);
    g = context(f->dir, "push", before);
    s = changed(f->dir, g);
    assert_string_equal(s, "[\"a.txt\"]");
    free(s);
    free(before);
    json_decref(g);
    /* pull_request from main itself: the last commit */
    g = context(f->dir, "pull_request", NULL);
    s = changed(f->dir, g);
    assert_string_equal(s, "[\"b/c.txt\"]");
    free(s);
    json_decref(g);
    /* not a repository: unknown */
    g = context("/", "push", NULL);
    s = changed("/proc", g);
    assert_string_equal(s, "null");
    free(s);
    json_decref(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_remote),
        cmocka_unit_test_setup_teardown(test_push_without_remote, setup_repo, teardown_repo),
        cmocka_unit_test_setup_teardown(test_remote_https_and_ssh, setup_repo, teardown_repo),
        cmocka_unit_test_setup_teardown(test_payload_overrides, setup_repo, teardown_repo),
        cmocka_unit_test_setup_teardown(test_pull_request, setup_repo, teardown_repo),
        cmocka_unit_test_setup_teardown(test_detached_tag, setup_repo, teardown_repo),
        cmocka_unit_test_setup_teardown(test_feature_branch, setup_repo, teardown_repo),
        cmocka_unit_test(test_not_a_repository),
        cmocka_unit_test_setup_teardown(test_changed_files, setup_repo, teardown_repo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
