/*
 * Unit tests of the native actions' pieces: the native-action table, the cache version as
 * @actions/cache computes it, path resolution of actions/cache (globs, `!`, `~`, paths outside
 * the workspace) and the save/restore of members outside the workspace with their checks.
 */
#include "engine_internal.h"
#include "cache_internal.h"
#include "ex/cache.h"
#include "ex/native.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char *mktemp_dir(void)
{
    char *t = gr_xstrdup("/tmp/ex-native-test-XXXXXX");
    char *real;

    assert_non_null(mkdtemp(t));
    real = realpath(t, NULL);
    assert_non_null(real);
    free(t);
    return real;
}

static void put(const char *dir, const char *rel, const char *content)
{
    char *p = gr_path_join(dir, rel), *slash = strrchr(p, '/');

    *slash = '\0';
    assert_int_equal(gr_mkdir_p(p, 0755), 0);
    *slash = '/';
    assert_int_equal(gr_file_write_atomic(p, content, strlen(content), 0644), 0);
    free(p);
}

static void rm(char *dir)
{
    assert_int_equal(gr_rm_rf(dir), 0);
    free(dir);
}

static void test_table(void **state)
{
    (void)state;
    assert_ptr_equal(ex__native_lookup("actions/checkout@v4"), ex__checkout_run);
    assert_ptr_equal(ex__native_lookup("actions/cache@v4"), ex__cache_run);
    assert_ptr_equal(ex__native_lookup("Actions/Cache@v3"), ex__cache_run);
    assert_ptr_equal(ex__native_lookup("actions/cache/restore@main"), ex__cache_restore_run);
    assert_ptr_equal(ex__native_lookup("actions/cache/save@v4.2.0"), ex__cache_save_run);
    assert_null(ex__native_lookup("actions/cache-extra@v1"));
    assert_null(ex__native_lookup("actions/cache"));
    assert_null(ex__native_lookup("other/cache@v4"));
    assert_null(ex__native_lookup(NULL));
}

/* The per-action no-native list (--no-native=LIST, GHRUN_NO_NATIVE, "no_native"). */
static void test_no_native_list(void **state)
{
    const char *list = " actions/checkout , Actions/Cache,,";
    struct ex_run_opts o = {.no_native_list = list};
    struct gr_diag d = {0};

    (void)state;
    assert_true(ex_native_list_has(list, "actions/checkout@v4"));
    assert_true(ex_native_list_has(list, "actions/cache@v4"));
    assert_true(ex_native_list_has(list, "actions/cache/restore@v4")); /* sub-actions too */
    assert_true(ex_native_list_has(list, "ACTIONS/CACHE/save@main"));
    assert_false(ex_native_list_has(list, "actions/upload-artifact@v4"));
    assert_false(ex_native_list_has(list, "actions/cache-extra@v1")); /* not a prefix match */
    assert_false(ex_native_list_has(list, "actions/checkout"));       /* no ref: not an action */
    assert_false(ex_native_list_has(NULL, "actions/checkout@v4"));
    assert_false(ex_native_list_has("", "actions/checkout@v4"));
    assert_true(ex_native_list_has("all", "actions/download-artifact@v4"));
    assert_true(ex_native_list_has("*", "actions/cache/save@v4"));
    assert_false(ex_native_list_has("actions/cache/restore", "actions/cache@v4"));
    assert_true(ex_native_list_has("actions/cache/restore", "actions/cache/restore@v4"));

    /* the engine's lookup applies the list, then the table */
    assert_null(ex__native_for(&o, "actions/checkout@v4"));
    assert_null(ex__native_for(&o, "actions/cache/save@v4"));
    assert_ptr_equal(ex__native_for(&o, "actions/upload-artifact@v4"),
                     ex__native_lookup("actions/upload-artifact@v4"));
    assert_non_null(ex__native_for(&o, "actions/download-artifact@v4"));
    o.no_native_list = NULL;
    assert_ptr_equal(ex__native_for(&o, "actions/checkout@v4"), ex__checkout_run);
    o.no_native = true; /* bare --no-native: all of them */
    assert_null(ex__native_for(&o, "actions/download-artifact@v4"));
    assert_true(ex_native_exists("actions/cache/restore@v4"));
    assert_false(ex_native_exists("actions/setup-node@v4"));

    /* checking: every entry must name a native action (or a parent of one) */
    assert_int_equal(ex_native_list_check(list, &d), 0);
    assert_int_equal(ex_native_list_check("", &d), 0);
    assert_int_equal(ex_native_list_check(NULL, &d), 0);
    assert_int_equal(ex_native_list_check("all", &d), 0);
    assert_int_equal(ex_native_list_check("actions", &d), 0); /* the parent of them all */
    assert_int_equal(ex_native_list_check("actions/checkout,actions/chekout", &d), -EINVAL);
    assert_non_null(strstr(d.msg, "'actions/chekout' is not a native action"));
    assert_int_equal(ex_native_list_check("actions/cache@v4", &d), -EINVAL);
    assert_non_null(strstr(d.msg, "'actions/cache@v4'"));
    assert_int_equal(ex_native_list_check("actions/setup-node", &d), -EINVAL);
}

/* toolkit packages/cache/__tests__/cacheHttpClient.test.ts */
static void test_version_vectors(void **state)
{
    const char *p[] = {"node_modules"};
    const char *two[] = {"a", "~/b"};
    char v[EX_CACHE_HEX_LEN], w[EX_CACHE_HEX_LEN];

    (void)state;
    ex_cache_version(p, 1, NULL, false, v);
    assert_string_equal(v, "b3e0c6cb5ecf32614eeb2997d905b9c297046d7cbf69062698f25b14b4cb0985");
    ex_cache_version(p, 1, "zstd", false, v);
    assert_string_equal(v, "273877e14fd65d270b87a198edbfa2db5a43de567c9a548d2a2505b408befe24");
    ex_cache_version(two, 2, "zstd-without-long", false, v);
    ex_cache_version(two, 2, "gzip", false, w);
    assert_string_not_equal(v, w);
}

static void test_member_names(void **state)
{
    char *s;

    (void)state;
    assert_string_equal(ex__cache_outside_name("../../home/u/.npm"), "../../home/u/.npm");
    assert_string_equal(ex__cache_outside_name("./a/b"), "a/b");
    assert_null(ex__cache_outside_name("a/../../b"));
    assert_null(ex__cache_outside_name("/etc/passwd"));
    assert_null(ex__cache_outside_name("../a/../b"));
    s = ex__cache_norm_path("/w/s", "../../home/./u//x/");
    assert_string_equal(s, "/home/u/x");
    free(s);
    s = ex__cache_norm_path("/w", "../../..");
    assert_string_equal(s, "/");
    free(s);
}

static char *members_str(const char *const *pats, size_t n, const char *ws, const char *home)
{
    json_t *a = json_array();
    struct gr_buf b = GR_BUF_INIT(0);
    size_t nm = 0;
    char **m;

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(pats[i]));
    m = ex__cache_members(a, ws, home, &nm);
    for (size_t i = 0; i < nm; i++) {
        assert_int_equal(gr_buf_addf(&b, "%s%s", i ? " " : "", m[i]), 0);
        free(m[i]);
    }
    free(m);
    json_decref(a);
    return gr_buf_detach(&b, NULL);
}

static void test_resolve(void **state)
{
    char *root = mktemp_dir(), *ws = gr_path_join(root, "ws"), *home = gr_path_join(root, "home");
    const char *p1[] = {"deps", "~/.npm"};
    const char *p2[] = {"pkgs/*/lib", "!pkgs/b/lib"};
    const char *p3[] = {"**/node_modules"};
    const char *p4[] = {"missing", "also/*.none"};
    const char *p5[] = {".", "deps/x"};
    const char *p6[] = {"dirs/", "pkgs/?/lib/f.js"};
    char *s;

    (void)state;
    put(ws, "deps/x", "1");
    put(ws, "pkgs/a/lib/f.js", "a");
    put(ws, "pkgs/b/lib/f.js", "b");
    put(ws, "pkgs/.hidden/lib/f.js", "h");
    put(ws, "app/node_modules/m/index.js", "m");
    put(ws, "node_modules/n/node_modules/deep.js", "d");
    put(ws, "dirs/f", "f");
    put(home, ".npm/_cacache/x", "n");

    s = members_str(p1, 2, ws, home);
    assert_string_equal(s, "../home/.npm deps");
    free(s);
    s = members_str(p2, 2, ws, home);
    assert_string_equal(s, "pkgs/.hidden/lib pkgs/a/lib"); /* hidden match, b excluded */
    free(s);
    s = members_str(p3, 1, ws, home);
    assert_string_equal(s, "app/node_modules node_modules"); /* nested ones are inside */
    free(s);
    s = members_str(p4, 2, ws, home);
    assert_string_equal(s, "");
    free(s);
    s = members_str(p5, 2, ws, home);
    assert_string_equal(s, ".");
    free(s);
    s = members_str(p6, 2, ws, home);
    assert_string_equal(s, "dirs pkgs/a/lib/f.js pkgs/b/lib/f.js");
    free(s);
    free(ws);
    free(home);
    rm(root);
}

static void test_outside_roundtrip(void **state)
{
    char *root = mktemp_dir(), *ws = gr_path_join(root, "ws"), *home = gr_path_join(root, "home");
    char *store = gr_path_join(root, "store"), *rootv, *got = NULL, *hl = NULL;
    const char *members[] = {"deps", "../home/.npm"};
    const char *bad_members[] = {"../home/.npm/link"};
    struct ex_cache_entry e = {0};
    struct gr_diag d = {0};
    struct ex_cache *c = NULL;
    size_t len = 0;
    int r;

    (void)state;
    put(ws, "deps/x", "ws data");
    put(home, ".npm/y", "home data");
    assert_int_equal(ex_cache_open(store, 0, &c, &d), 0);
    assert_int_equal(ex_cache_save_members(c, "o/r", "k", "v", ws, members, 2, false, &e, &d), 0);
    ex_cache_entry_release(&e);
    /* gzip archives restore too */
    assert_int_equal(ex_cache_save_members(c, "o/r", "kz", "v", ws, members, 2, true, NULL, &d), 0);
    assert_int_equal(ex_cache_save_members(c, "o/r", "x", "v", ws, (const char *[]){"a/../../b"}, 1,
                                           false, NULL, &d),
                     -EINVAL);

    for (int gz = 0; gz < 2; gz++) {
        const char *keys[] = {gz ? "kz" : "k"};

        assert_int_equal(gr_rm_rf(home), 0);
        assert_int_equal(gr_rm_rf(ws), 0);
        assert_int_equal(ex_cache_lookup(c, "o/r", keys, 1, "v", &e, &d), 0);
        /* without roots, members outside the workspace are refused */
        memset(&d, 0, sizeof(d));
        r = ex_cache_restore_members(c, &e, ws, NULL, 0, &d);
        assert_int_equal(r, GR_EARCHIVE);
        assert_non_null(strstr(d.msg, "../home/.npm"));
        /* a root elsewhere refuses them too */
        rootv = gr_path_join(root, "other");
        memset(&d, 0, sizeof(d));
        r = ex_cache_restore_members(c, &e, ws, (const char *const *)&rootv, 1, &d);
        assert_int_equal(r, GR_EARCHIVE);
        free(rootv);
        rootv = gr_path_join(home, ".npm");
        assert_int_equal(ex_cache_restore_members(c, &e, ws, (const char *const *)&rootv, 1, &d),
                         0);
        free(rootv);
        ex_cache_entry_release(&e);
        hl = gr_path_join(home, ".npm/y");
        assert_int_equal(gr_file_read(hl, 1024, &got, &len), 0);
        assert_string_equal(got, "home data");
        free(got);
        free(hl);
        hl = gr_path_join(ws, "deps/x");
        assert_int_equal(gr_file_read(hl, 1024, &got, &len), 0);
        assert_string_equal(got, "ws data");
        free(got);
        free(hl);
    }

    /* a link outside the workspace that points out of its root is refused on restore */
    hl = gr_path_join(home, ".npm/link");
    assert_int_equal(symlink("../../../etc", hl), 0);
    free(hl);
    assert_int_equal(ex_cache_save_members(c, "o/r", "l", "v", ws, bad_members, 1, false, NULL, &d),
                     0);
    assert_int_equal(ex_cache_lookup(c, "o/r", (const char *[]){"l"}, 1, "v", &e, &d), 0);
    assert_int_equal(gr_rm_rf(home), 0);
    rootv = gr_path_join(home, ".npm");
    memset(&d, 0, sizeof(d));
    r = ex_cache_restore_members(c, &e, ws, (const char *const *)&rootv, 1, &d);
    assert_int_equal(r, GR_EARCHIVE);
    assert_non_null(strstr(d.msg, "symbolic link"));
    free(rootv);
    ex_cache_entry_release(&e);

    ex_cache_free(c);
    free(ws);
    free(home);
    free(store);
    rm(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),           cmocka_unit_test(test_no_native_list),
        cmocka_unit_test(test_version_vectors), cmocka_unit_test(test_member_names),
        cmocka_unit_test(test_resolve),         cmocka_unit_test(test_outside_roundtrip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
