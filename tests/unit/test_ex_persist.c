/*
 * Unit tests of executor/persist.c (persisted dependency directories: the list, the manifest,
 * keys, restore, save and prune) and of the cache store's private-HOME naming that the native
 * actions/cache uses (ex_cache_save_members_from, ex_cache_restore_members_alias).
 */
#include "ex.h"
#include "ex/persist.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

static const char *const MAIN[] = {"refs/heads/main"};

struct fx {
    char *root, *home, *store;
    struct ex_cache *c;
};

static void write_file(const char *dir, const char *rel, const char *content)
{
    char *p = gr_path_join(dir, rel), *slash = strrchr(p, '/');

    *slash = '\0';
    assert_int_equal(gr_mkdir_p(p, 0755), 0);
    *slash = '/';
    assert_int_equal(gr_file_write_atomic(p, content, strlen(content), 0644), 0);
    free(p);
}

static char *read_file(const char *dir, const char *rel)
{
    char *p = gr_path_join(dir, rel), *got = NULL;
    size_t len = 0;

    if (gr_file_read(p, 1 << 20, &got, &len) < 0)
        got = NULL;
    free(p);
    return got;
}

static int setup(void **state)
{
    struct fx *f = gr_xcalloc(1, sizeof(*f));

    f->root = gr_xstrdup("/tmp/ex-persist-test-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    f->home = gr_path_join(f->root, "home");
    f->store = gr_path_join(f->root, "store");
    assert_int_equal(gr_mkdir_p(f->home, 0700), 0);
    assert_int_equal(ex_cache_open(f->store, 0, &f->c, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    ex_cache_free(f->c);
    assert_int_equal(gr_rm_rf(f->root), 0);
    free(f->root);
    free(f->home);
    free(f->store);
    free(f);
    return 0;
}

/* ---- the list ---------------------------------------------------------- */

static void test_parse(void **state)
{
    char **v = NULL;
    size_t n = 9;

    (void)state;
    assert_int_equal(ex_persist_parse(" ~/.npm ,~/.cache//pip/, ,~/.cache/uv", &v, &n, NULL), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "~/.cache/pip");
    assert_string_equal(v[1], "~/.cache/uv");
    assert_string_equal(v[2], "~/.npm");
    assert_null(v[3]);
    ex_persist_dirs_free(v);

    /* a directory inside another listed one goes; a twin too; a prefix that is not a parent
     * stays */
    assert_int_equal(ex_persist_parse("~/.cache/pip,~/.cache,~/.cache2,~/.cache", &v, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0], "~/.cache");
    assert_string_equal(v[1], "~/.cache2");
    ex_persist_dirs_free(v);

    assert_int_equal(ex_persist_parse("", &v, &n, NULL), 0);
    assert_int_equal(n, 0);
    assert_null(v[0]);
    ex_persist_dirs_free(v);
    assert_int_equal(ex_persist_parse(NULL, &v, &n, NULL), 0);
    assert_int_equal(n, 0);
    ex_persist_dirs_free(v);
}

static void test_parse_errors(void **state)
{
    static const struct {
        const char *list, *msg;
    } bad[] = {
        {"/etc", "'/etc': a persisted directory is a path in the home directory"},
        {"~/.npm,.cache", "'.cache': a persisted directory"},
        {"~", "'~': a persisted directory"},
        {"~/", "'~/': a persisted directory"},
        {"~//", "'~//': the whole home directory cannot persist"},
        {"~/a/../b", "'~/a/../b': '.' and '..' are not allowed"},
        {"~/./a", "'.' and '..' are not allowed"},
        {"~user/x", "a persisted directory"},
    };
    char **v = (char **)1;
    size_t n = 7;

    (void)state;
    for (size_t i = 0; i < GR_ARRAY_SIZE(bad); i++) {
        struct gr_diag d = {0};

        assert_int_equal(ex_persist_parse(bad[i].list, &v, &n, &d), GR_EPARSE);
        if (!strstr(d.msg, bad[i].msg))
            fail_msg("'%s': got '%s'", bad[i].list, d.msg);
        assert_ptr_equal(v, (char **)1); /* untouched on error */
        assert_int_equal(n, 7);
    }
}

/* ---- the manifest ------------------------------------------------------ */

static void manifest(struct fx *f, const char *dir, struct ex_persist_manifest *m)
{
    assert_int_equal(ex_persist_manifest(f->home, dir, m), 0);
}

static void set_mtime(const char *dir, const char *rel, long sec)
{
    char *p = gr_path_join(dir, rel);
    struct timeval tv[2] = {{sec, 0}, {sec, 0}};

    assert_int_equal(utimes(p, tv), 0);
    free(p);
}

/* A symbolic link to target at p, with a fixed mtime. */
static void relink(const char *p, const char *target)
{
    struct timespec ts[2] = {{5000, 0}, {5000, 0}};

    (void)unlink(p);
    assert_int_equal(symlink(target, p), 0);
    assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void test_manifest(void **state)
{
    struct fx *f = *state;
    struct ex_persist_manifest a, b;
    char *p;

    manifest(f, "~/.npm", &a);
    assert_false(a.exists);
    assert_int_equal(a.files, 0);
    assert_string_equal(a.digest, "");

    write_file(f->home, ".npm/_cacache/index/aa", "12345");
    write_file(f->home, ".npm/b.json", "{}");
    set_mtime(f->home, ".npm/b.json", 1000000);
    p = gr_path_join(f->home, ".npm/link");
    relink(p, "b.json");
    manifest(f, "~/.npm", &a);
    assert_true(a.exists);
    assert_int_equal(a.files, 3); /* two files and a link */
    assert_int_equal(a.bytes, 7);
    assert_int_equal(strlen(a.digest), 64);

    /* the same tree gives the same digest */
    manifest(f, "~/.npm", &b);
    assert_string_equal(a.digest, b.digest);

    /* a new mtime alone is a change */
    set_mtime(f->home, ".npm/b.json", 1000001);
    manifest(f, "~/.npm", &b);
    assert_string_not_equal(a.digest, b.digest);
    set_mtime(f->home, ".npm/b.json", 1000000);
    manifest(f, "~/.npm", &b);
    assert_string_equal(a.digest, b.digest);

    /* another link target, same length and times */
    relink(p, "c.json");
    manifest(f, "~/.npm", &b);
    assert_string_not_equal(a.digest, b.digest);
    relink(p, "b.json");
    manifest(f, "~/.npm", &b);
    assert_string_equal(a.digest, b.digest);

    /* a mode */
    free(p);
    p = gr_path_join(f->home, ".npm/b.json");
    assert_int_equal(chmod(p, 0600), 0);
    manifest(f, "~/.npm", &b);
    assert_string_not_equal(a.digest, b.digest);
    assert_int_equal(chmod(p, 0644), 0);

    /* an empty directory more */
    free(p);
    p = gr_path_join(f->home, ".npm/_cacache/tmp");
    assert_int_equal(mkdir(p, 0755), 0);
    manifest(f, "~/.npm", &b);
    assert_string_not_equal(a.digest, b.digest);
    assert_int_equal(b.files, 3);
    assert_int_equal(rmdir(p), 0);
    manifest(f, "~/.npm", &b);
    assert_string_equal(a.digest, b.digest);

    /* a file removed */
    free(p);
    p = gr_path_join(f->home, ".npm/_cacache/index/aa");
    assert_int_equal(unlink(p), 0);
    manifest(f, "~/.npm", &b);
    assert_int_equal(b.files, 2);
    assert_int_equal(b.bytes, 2);
    assert_string_not_equal(a.digest, b.digest);
    free(p);

    /* a symbolic link in the dir's place is not the directory */
    p = gr_path_join(f->home, ".cache");
    assert_int_equal(symlink(".npm", p), 0);
    manifest(f, "~/.cache", &b);
    assert_false(b.exists);
    free(p);
}

/* ---- keys -------------------------------------------------------------- */

static void test_keys(void **state)
{
    char v1[EX_CACHE_HEX_LEN], v2[EX_CACHE_HEX_LEN], v3[EX_CACHE_HEX_LEN];
    const char *paths[] = {"~/.npm"};
    char *k1 = ex_persist_key("~/.npm", "refs/heads/main", 1700000000123, 0xabcdef);
    char *k2 = ex_persist_key("~/.npm", "refs/heads/main", 1700000000124, 1);
    char *prefix = ex_persist_key_prefix("~/.npm", "refs/heads/main");
    char *other = ex_persist_key_prefix("~/.npm2", "refs/heads/main");

    (void)state;
    assert_string_equal(k1, "ghrun-persist:~/.npm:refs/heads/main:1700000000123-00abcdef");
    assert_true(gr_startswith(k1, prefix));
    assert_true(gr_startswith(k2, prefix));
    assert_string_not_equal(k1, k2);
    assert_false(gr_startswith(k1, other)); /* ~/.npm2's entries never match ~/.npm's */
    ex_persist_version("~/.npm", v1);
    ex_persist_version("~/.cache/pip", v2);
    assert_int_equal(strlen(v1), 64);
    assert_string_not_equal(v1, v2);
    /* never the version of an actions/cache entry of the same path */
    ex_cache_version(paths, 1, "zstd-without-long", false, v3);
    assert_string_not_equal(v1, v3);
    ex_cache_version(paths, 1, "gzip", false, v3);
    assert_string_not_equal(v1, v3);
    free(k1);
    free(k2);
    free(prefix);
    free(other);
}

/* ---- restore and save -------------------------------------------------- */

static size_t count_entries(struct fx *f, const char *prefix)
{
    struct ex_cache_entry *v = NULL;
    size_t n = 0, found = 0;

    assert_int_equal(ex_cache_list(f->c, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        found += gr_startswith(v[i].key, prefix);
    ex_cache_entries_free(v, n);
    return found;
}

static void test_round_trip(void **state)
{
    struct fx *f = *state;
    struct ex_cache_entry e = {0}, e2 = {0};
    struct gr_diag d = {0};
    size_t pruned = 9;
    char *got;

    assert_int_equal(ex_persist_restore(f->c, "o/r", MAIN, 1, f->home, "~/.cache/pip", &e, &d),
                     GR_ENOTFOUND);
    assert_int_equal(ex_persist_save(f->c, "o/r", "refs/heads/main", f->home, "~/.cache/pip", 1000,
                                     NULL, NULL, &d),
                     GR_ENOTFOUND);

    write_file(f->home, ".cache/pip/http/a", "first");
    write_file(f->home, ".cache/other/x", "not persisted");
    assert_int_equal(ex_persist_save(f->c, "o/r", "refs/heads/main", f->home, "~/.cache/pip", 1000,
                                     &e, &pruned, &d),
                     0);
    assert_int_equal(pruned, 0);
    assert_true(gr_startswith(e.key, "ghrun-persist:~/.cache/pip:refs/heads/main:0000000001000-"));
    assert_string_equal(e.scope, "o/r");
    ex_cache_entry_release(&e);

    /* a fresh home gets it; another scope does not */
    assert_int_equal(gr_rm_rf(f->home), 0);
    assert_int_equal(ex_persist_restore(f->c, "o/other", MAIN, 1, f->home, "~/.cache/pip", &e, &d),
                     GR_ENOTFOUND);
    assert_int_equal(ex_persist_restore(f->c, "o/r", MAIN, 1, f->home, "~/.cache/pip", &e, &d), 0);
    got = read_file(f->home, ".cache/pip/http/a");
    assert_string_equal(got, "first");
    free(got);
    assert_null(read_file(f->home, ".cache/other/x"));
    ex_cache_entry_release(&e);

    /* a second save replaces the first */
    write_file(f->home, ".cache/pip/http/a", "second");
    assert_int_equal(ex_persist_save(f->c, "o/r", "refs/heads/main", f->home, "~/.cache/pip", 2000,
                                     &e, &pruned, &d),
                     0);
    assert_int_equal(pruned, 1);
    assert_int_equal(count_entries(f, "ghrun-persist:~/.cache/pip:"), 1);
    /* another scope's entry of the same directory is not pruned by it */
    assert_int_equal(ex_persist_save(f->c, "o/other", "refs/heads/main", f->home, "~/.cache/pip",
                                     3000, &e2, &pruned, &d),
                     0);
    assert_int_equal(pruned, 0);
    assert_int_equal(count_entries(f, "ghrun-persist:~/.cache/pip:"), 2);
    ex_cache_entry_release(&e2);
    ex_cache_entry_release(&e);

    /* a directory with files is left alone */
    write_file(f->home, ".cache/pip/http/a", "local");
    assert_int_equal(ex_persist_restore(f->c, "o/r", MAIN, 1, f->home, "~/.cache/pip", &e, &d),
                     -EEXIST);
    got = read_file(f->home, ".cache/pip/http/a");
    assert_string_equal(got, "local");
    free(got);

    /* an empty one is filled */
    assert_int_equal(gr_rm_rf(f->home), 0);
    got = gr_path_join(f->home, ".cache/pip");
    assert_int_equal(gr_mkdir_p(got, 0755), 0);
    free(got);
    assert_int_equal(ex_persist_restore(f->c, "o/r", MAIN, 1, f->home, "~/.cache/pip", &e, &d), 0);
    got = read_file(f->home, ".cache/pip/http/a");
    assert_string_equal(got, "second");
    free(got);
    ex_cache_entry_release(&e);
}

/* Entries are scoped by ref as GitHub scopes caches: the job's ref, else the default branch. */
static void test_refs(void **state)
{
    static const char *const feature[] = {"refs/heads/feature", "refs/heads/main"};
    static const char *const pr[] = {"refs/pull/7/merge", "refs/heads/main"};
    static const char *const main2[] = {"refs/heads/main", "refs/heads/main"};
    struct fx *f = *state;
    struct ex_cache_entry e = {0};
    struct gr_diag d = {0};
    size_t pruned = 9;
    char *got;

    write_file(f->home, ".npm/a", "main");
    assert_int_equal(
        ex_persist_save(f->c, "o/r", "refs/heads/main", f->home, "~/.npm", 1000, NULL, NULL, &d),
        0);
    write_file(f->home, ".npm/a", "feature");
    assert_int_equal(ex_persist_save(f->c, "o/r", "refs/heads/feature", f->home, "~/.npm", 2000,
                                     NULL, &pruned, &d),
                     0);
    assert_int_equal(pruned, 0); /* main's entry is not the feature branch's to prune */
    assert_int_equal(count_entries(f, "ghrun-persist:~/.npm:"), 2);

    /* the feature branch gets its own newest */
    assert_int_equal(gr_rm_rf(f->home), 0);
    assert_int_equal(ex_persist_restore(f->c, "o/r", feature, 2, f->home, "~/.npm", &e, &d), 0);
    got = read_file(f->home, ".npm/a");
    assert_string_equal(got, "feature");
    free(got);
    ex_cache_entry_release(&e);
    /* main never sees the (newer) feature entry */
    assert_int_equal(gr_rm_rf(f->home), 0);
    assert_int_equal(ex_persist_restore(f->c, "o/r", main2, 2, f->home, "~/.npm", &e, &d), 0);
    got = read_file(f->home, ".npm/a");
    assert_string_equal(got, "main");
    free(got);
    ex_cache_entry_release(&e);
    /* a pull request without entries of its own starts from the default branch's */
    assert_int_equal(gr_rm_rf(f->home), 0);
    assert_int_equal(ex_persist_restore(f->c, "o/r", pr, 2, f->home, "~/.npm", &e, &d), 0);
    got = read_file(f->home, ".npm/a");
    assert_string_equal(got, "main");
    free(got);
    ex_cache_entry_release(&e);
    /* ... and only that ref's list: no fallback, no entry */
    assert_int_equal(gr_rm_rf(f->home), 0);
    assert_int_equal(ex_persist_restore(f->c, "o/r", pr, 1, f->home, "~/.npm", &e, &d),
                     GR_ENOTFOUND);
}

static void test_corrupt(void **state)
{
    struct fx *f = *state;
    struct ex_cache_entry e = {0};
    struct gr_diag d = {0};
    char *blob;

    write_file(f->home, ".npm/a", "data");
    assert_int_equal(
        ex_persist_save(f->c, "o/r", "refs/heads/main", f->home, "~/.npm", 1000, &e, NULL, &d), 0);
    blob = ex_cache_blob_path(f->c, &e);
    ex_cache_entry_release(&e);
    assert_int_equal(gr_file_write_atomic(blob, "garbage", 7, 0644), 0);
    free(blob);
    assert_int_equal(gr_rm_rf(f->home), 0);
    assert_int_equal(ex_persist_restore(f->c, "o/r", MAIN, 1, f->home, "~/.npm", &e, &d),
                     GR_EARCHIVE);
    assert_true(d.msg[0] != '\0'); /* the reason is in the diag */
    blob = gr_path_join(f->home, ".npm/a");
    assert_false(gr_path_exists(blob));
    free(blob);
    /* the broken entry went: the next job is a plain miss */
    assert_int_equal(count_entries(f, "ghrun-persist:~/.npm:"), 0);
    assert_int_equal(ex_persist_restore(f->c, "o/r", MAIN, 1, f->home, "~/.npm", &e, &d),
                     GR_ENOTFOUND);
}

static void test_chown_tree(void **state)
{
    struct fx *f = *state;
    struct stat st;
    char *p;

    write_file(f->home, ".npm/a/b", "x");
    if (geteuid() != 0) {
        /* only the own uid: nothing to change */
        assert_int_equal(gr_chown_tree(f->home, NULL, 12345, getuid(), getgid()), 0);
        skip();
    }
    assert_int_equal(gr_chown_tree(f->home, NULL, 0, 64123, 64124), 4); /* home .npm a b */
    p = gr_path_join(f->home, ".npm/a/b");
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_uid, 64123);
    assert_int_equal(st.st_gid, 64124);
    free(p);
    /* files of other owners stay */
    assert_int_equal(gr_chown_tree(f->home, NULL, 0, 1, 1), 0);
    assert_int_equal(gr_chown_tree("/nonexistent/x", NULL, 0, 1, 1), -ENOENT);
}

/* ---- the native actions/cache's naming of a private HOME --------------- */

static void test_cache_home_alias(void **state)
{
    struct fx *f = *state;
    char *ws = gr_path_join(f->root, "ws");
    char *priv = gr_path_join(f->root, "job1/home");
    char *priv2 = gr_path_join(f->root, "job2/home");
    char *runner = gr_path_join(f->root, "runner");
    char *from_tool = gr_path_join(priv, ".tool");
    const char *members[] = {"deps", "../runner/.tool"};
    const char *from[] = {NULL, from_tool};
    char *roots2[2], *got;
    struct ex_cache_alias alias = {.named = runner, .real = priv2};
    struct ex_cache_entry e = {0};
    struct gr_diag d = {0};

    write_file(ws, "deps/d.txt", "dep");
    write_file(priv, ".tool/t.txt", "tool");
    assert_int_equal(
        ex_cache_save_members_from(f->c, "o/r", "k", "v", ws, members, from, 2, false, &e, &d), 0);
    assert_false(gr_path_exists(runner)); /* read from the private home */

    /* the next job (another private home) gets it there, not in the runner's HOME */
    assert_int_equal(gr_rm_rf(ws), 0);
    roots2[0] = gr_path_join(ws, "deps");
    roots2[1] = gr_path_join(priv2, ".tool");
    assert_int_equal(
        ex_cache_restore_members_alias(f->c, &e, ws, (const char *const *)roots2, 2, &alias, &d),
        0);
    got = read_file(priv2, ".tool/t.txt");
    assert_string_equal(got, "tool");
    free(got);
    got = read_file(ws, "deps/d.txt");
    assert_string_equal(got, "dep");
    free(got);
    assert_false(gr_path_exists(runner));

    /* without a sandbox (no alias) it goes where it is named */
    free(roots2[1]);
    roots2[1] = gr_path_join(runner, ".tool");
    assert_int_equal(ex_cache_restore_members(f->c, &e, ws, (const char *const *)roots2, 2, &d), 0);
    got = read_file(runner, ".tool/t.txt");
    assert_string_equal(got, "tool");
    free(got);

    /* an alias whose place is not a cached path does not widen what may be written */
    assert_int_equal(gr_rm_rf(priv2), 0);
    assert_int_equal(
        ex_cache_restore_members_alias(f->c, &e, ws, (const char *const *)roots2, 2, &alias, &d),
        0);
    assert_false(gr_path_exists(priv2));
    free(roots2[0]);
    free(roots2[1]);
    ex_cache_entry_release(&e);
    free(ws);
    free(priv);
    free(priv2);
    free(runner);
    free(from_tool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_keys),
        cmocka_unit_test_setup_teardown(test_manifest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chown_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_home_alias, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
