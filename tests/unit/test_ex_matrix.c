/*
 * Unit tests for executor/matrix.c: GitHub's MatrixBuilder semantics
 * (workflow-semantics.md section 1), docs examples and act-testdata cases.
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

#include "ex/plan.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

    if (!v)
        fail_msg("bad test JSON: %s: %s", text, e.text);
    return v;
}

/* Expand matrix (JSON text) with job name "job"; compare legs and names. */
static void expect_legs(const char *matrix, const char *filter, const char *want_legs,
                        const char *const *want_names)
{
    json_t *m = J(matrix), *f = filter ? J(filter) : NULL, *want = J(want_legs), *got;
    struct ex_leg *legs = NULL;
    struct gr_diag d = {0};
    size_t n = 0, i;
    int r;

    r = ex_matrix_build(m, f, "job", &legs, &n, &d);
    if (r != 0)
        fail_msg("unexpected error %d: %s", r, d.msg);
    got = json_array();
    for (i = 0; i < n; i++)
        json_array_append(got, legs[i].matrix);
    if (!json_equal(got, want)) {
        char *a = json_dumps(got, JSON_COMPACT), *b = json_dumps(want, JSON_COMPACT);
        print_error("got  %s\nwant %s\n", a, b);
        free(a);
        free(b);
        fail();
    }
    /* key order matters too: GitHub keeps YAML order */
    for (i = 0; i < n; i++) {
        char *a = json_dumps(legs[i].matrix, JSON_COMPACT);
        char *b = json_dumps(json_array_get(want, i), JSON_COMPACT);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    for (i = 0; want_names && want_names[i]; i++) {
        assert_true(i < n);
        assert_string_equal(legs[i].display_name, want_names[i]);
    }
    if (want_names)
        assert_int_equal(i, n);
    ex_legs_free(legs, n);
    json_decref(got);
    json_decref(want);
    json_decref(m);
    json_decref(f);
}

/* Loose equality of two JSON texts. */
static bool eqj(const char *a, const char *b)
{
    json_t *x = J(a), *y = J(b);
    bool r = ex_matrix_value_eq(x, y);

    json_decref(x);
    json_decref(y);
    return r;
}

static void expect_error(const char *matrix, int err, const char *msg)
{
    json_t *m = J(matrix), *ret = NULL;
    struct gr_diag d = {0};
    int r = ex_matrix_expand(m, NULL, &ret, &d);

    assert_null(ret);
    if (r != err || !strstr(d.msg, msg))
        fail_msg("got %d '%s', want %d '%s'", r, d.msg, err, msg);
    json_decref(m);
}

static void test_cross_product_order(void **state)
{
    static const char *const names[] = {"job (a, 1)", "job (a, 2)", "job (b, 1)", "job (b, 2)",
                                        NULL};
    (void)state;
    expect_legs("{\"os\":[\"a\",\"b\"],\"v\":[1,2]}", NULL,
                "[{\"os\":\"a\",\"v\":1},{\"os\":\"a\",\"v\":2},{\"os\":\"b\",\"v\":1},"
                "{\"os\":\"b\",\"v\":2}]",
                names);
}

/* MatrixBuilder.cs examples 2 and 3 */
static void test_exclude_and_extend(void **state)
{
    (void)state;
    expect_legs("{\"arch\":[\"x64\",\"x86\"],\"os\":[\"linux\",\"windows\"],"
                "\"exclude\":[{\"arch\":\"x86\",\"os\":\"linux\"}]}",
                NULL,
                "[{\"arch\":\"x64\",\"os\":\"linux\"},{\"arch\":\"x64\",\"os\":\"windows\"},"
                "{\"arch\":\"x86\",\"os\":\"windows\"}]",
                NULL);
    static const char *const names[] = {"job (x64, linux)", "job (x64, windows)",
                                        "job (x86, linux)", "job (x86, windows)", NULL};
    expect_legs("{\"arch\":[\"x64\",\"x86\"],\"os\":[\"linux\",\"windows\"],"
                "\"include\":[{\"arch\":\"x64\",\"os\":\"linux\",\"publish\":true}]}",
                NULL,
                "[{\"arch\":\"x64\",\"os\":\"linux\",\"publish\":true},"
                "{\"arch\":\"x64\",\"os\":\"windows\"},{\"arch\":\"x86\",\"os\":\"linux\"},"
                "{\"arch\":\"x86\",\"os\":\"windows\"}]",
                names);
}

/* Include entries naming only vectors that match add nothing; others become new rows. */
static void test_include_new_rows(void **state)
{
    static const char *const names[] = {"job (x64, linux)", "job (x64, windows)",
                                        "job (x86, linux)", "job (x86, windows)",
                                        "job (macos)",      NULL};
    (void)state;
    expect_legs("{\"arch\":[\"x64\",\"x86\"],\"os\":[\"linux\",\"windows\"],"
                "\"include\":[{\"arch\":\"x64\"},{\"os\":\"macos\"}]}",
                NULL,
                "[{\"arch\":\"x64\",\"os\":\"linux\"},{\"arch\":\"x64\",\"os\":\"windows\"},"
                "{\"arch\":\"x86\",\"os\":\"linux\"},{\"arch\":\"x86\",\"os\":\"windows\"},"
                "{\"os\":\"macos\"}]",
                names);
}

/* docs run-job-variations: the fruit/animal example gives exactly these six legs */
static void test_docs_fruit_animal(void **state)
{
    static const char *const names[] = {"job (apple, cat)",
                                        "job (apple, dog)",
                                        "job (pear, cat)",
                                        "job (pear, dog)",
                                        "job (banana)",
                                        "job (banana, cat)",
                                        NULL};
    (void)state;
    expect_legs("{\"fruit\":[\"apple\",\"pear\"],\"animal\":[\"cat\",\"dog\"],\"include\":["
                "{\"color\":\"green\"},{\"color\":\"pink\",\"animal\":\"cat\"},"
                "{\"fruit\":\"apple\",\"shape\":\"circle\"},{\"fruit\":\"banana\"},"
                "{\"fruit\":\"banana\",\"animal\":\"cat\"}]}",
                NULL,
                "[{\"fruit\":\"apple\",\"animal\":\"cat\",\"color\":\"pink\",\"shape\":\"circle\"},"
                "{\"fruit\":\"apple\",\"animal\":\"dog\",\"color\":\"green\",\"shape\":\"circle\"},"
                "{\"fruit\":\"pear\",\"animal\":\"cat\",\"color\":\"pink\"},"
                "{\"fruit\":\"pear\",\"animal\":\"dog\",\"color\":\"green\"},"
                "{\"fruit\":\"banana\"},{\"fruit\":\"banana\",\"animal\":\"cat\"}]",
                names);
}

/* docs: windows-latest/17 is one extra job next to the 3x3 product */
static void test_docs_add_with_include(void **state)
{
    json_t *m = J("{\"os\":[\"macos-latest\",\"windows-latest\",\"ubuntu-latest\"],"
                  "\"version\":[12,14,16],\"include\":[{\"os\":\"windows-latest\","
                  "\"version\":17}]}"),
           *legs = NULL;
    (void)state;
    assert_int_equal(ex_matrix_expand(m, NULL, &legs, NULL), 0);
    assert_int_equal(json_array_size(legs), 10);
    {
        char *last = json_dumps(json_array_get(legs, 9), JSON_COMPACT);
        assert_string_equal(last, "{\"os\":\"windows-latest\",\"version\":17}");
        free(last);
    }
    json_decref(legs);
    json_decref(m);
}

static void test_include_only(void **state)
{
    static const char *const names[] = {"job (production, site-a)", "job (staging, site-b)", NULL};
    (void)state;
    expect_legs("{\"include\":[{\"site\":\"production\",\"datacenter\":\"site-a\"},"
                "{\"site\":\"staging\",\"datacenter\":\"site-b\"}]}",
                NULL,
                "[{\"site\":\"production\",\"datacenter\":\"site-a\"},"
                "{\"site\":\"staging\",\"datacenter\":\"site-b\"}]",
                names);
}

/* Filters use loose ==: case-insensitive strings, '12' == 12, true == 1 */
static void test_loose_equality(void **state)
{
    (void)state;
    expect_legs("{\"os\":[\"Linux\",\"mac\"],\"v\":[12,14],"
                "\"exclude\":[{\"os\":\"LINUX\",\"v\":\"12\"}],"
                "\"include\":[{\"v\":\"14.0\",\"big\":true}]}",
                NULL,
                "[{\"os\":\"Linux\",\"v\":14,\"big\":true},{\"os\":\"mac\",\"v\":12},"
                "{\"os\":\"mac\",\"v\":14,\"big\":true}]",
                NULL);
    assert_true(eqj("true", "1"));
    assert_true(eqj("null", "\"\""));
    assert_true(eqj("\"0x10\"", "16"));
    assert_true(eqj("\" 1.5 \"", "1.5"));
    assert_true(eqj("\"ABC\"", "\"abc\""));
    assert_false(eqj("\"abc\"", "0"));
    assert_false(eqj("\"inf\"", "\"1\""));
    assert_false(eqj("{}", "{}"));
    assert_false(eqj("[1]", "1"));
}

/* Object values: leaf-wise partial match; names flatten every scalar leaf. */
static void test_object_values(void **state)
{
    static const char *const names[] = {"job (2, x)", NULL};
    (void)state;
    expect_legs("{\"cfg\":[{\"a\":1,\"b\":{\"c\":2}},{\"a\":2,\"b\":{\"c\":\"x\"}}],"
                "\"exclude\":[{\"cfg\":{\"b\":{\"c\":2}}}]}",
                NULL, "[{\"cfg\":{\"a\":2,\"b\":{\"c\":\"x\"}}}]", names);
    /* a null literal matches a missing leaf (matrix[k][x] is null) */
    expect_legs("{\"cfg\":[{\"a\":1},{\"a\":2,\"z\":5}],\"exclude\":[{\"cfg\":{\"z\":null}}]}",
                NULL, "[{\"cfg\":{\"a\":2,\"z\":5}}]", NULL);
    /* arrays inside values, indexed by position */
    expect_legs("{\"l\":[[1,2],[1,3]],\"include\":[{\"l\":[1,3],\"hit\":\"yes\"}]}", NULL,
                "[{\"l\":[1,2]},{\"l\":[1,3],\"hit\":\"yes\"}]", NULL);
}

static void test_display_names(void **state)
{
    json_t *leg = J("{\"a\":null,\"b\":\"\",\"c\":3.1,\"d\":true,\"e\":[1,{\"f\":\"g\"}]}");
    char *name;
    (void)state;

    name = ex_matrix_display_name("build", leg);
    assert_string_equal(name, "build (3.1, true, 1, g)");
    free(name);
    json_decref(leg);
    leg = J("{\"a\":null}");
    name = ex_matrix_display_name("build", leg);
    assert_string_equal(name, "build");
    free(name);
    json_decref(leg);
    leg = J("{\"a\":\"0123456789012345678901234567890123456789012345678901234567890123456789"
            "0123456789012345678901234567890123456789\"}");
    name = ex_matrix_display_name("build", leg);
    assert_int_equal(strlen(name), 100);
    assert_string_equal(name + 97, "...");
    assert_memory_equal(name, "build (0123", 11);
    free(name);
    json_decref(leg);
    leg = J("{\"v\":1e20,\"w\":0.1,\"x\":-7}");
    name = ex_matrix_display_name("j", leg);
    assert_string_equal(name, "j (1E+20, 0.1, -7)");
    free(name);
    json_decref(leg);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("{}", GR_EINVAL_WF, "Matrix must define at least one vector");
    expect_error("{\"include\":[]}", GR_EINVAL_WF, "Matrix must define at least one vector");
    expect_error("{\"os\":[]}", GR_EINVAL_WF, "Matrix vector 'os' does not contain any values");
    expect_error("{\"os\":\"a\"}", GR_EINVAL_WF, "Matrix vector 'os' must be a sequence");
    expect_error("{\"os\":[1],\"exclude\":[{}]}", GR_EINVAL_WF,
                 "Matrix exclude filter must not be empty");
    expect_error("{\"os\":[1],\"exclude\":[{\"x\":1}]}", GR_EINVAL_WF,
                 "Matrix exclude key 'x' does not match any key within the matrix");
    expect_error("{\"os\":[1],\"include\":[{}]}", GR_EINVAL_WF,
                 "Matrix include mapping does not contain any values");
    expect_error("{\"os\":[1],\"include\":[3]}", GR_EINVAL_WF, "must be a mapping");
    expect_error("[1]", GR_EINVAL_WF, "Matrix must be a mapping");
}

static json_t *range(int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(i));
    return a;
}

static void test_leg_limit(void **state)
{
    json_t *m = json_object(), *legs = NULL;
    struct gr_diag d = {0};
    (void)state;

    json_object_set_new(m, "a", range(16));
    json_object_set_new(m, "b", range(16));
    assert_int_equal(ex_matrix_expand(m, NULL, &legs, &d), 0);
    assert_int_equal(json_array_size(legs), 256);
    json_decref(legs);
    legs = NULL;
    json_object_set_new(m, "include", J("[{\"a\":99}]"));
    assert_int_equal(ex_matrix_expand(m, NULL, &legs, &d), -E2BIG);
    assert_non_null(strstr(d.msg, "257 jobs; at most 256"));
    /* a huge product is refused before it is enumerated */
    json_object_set_new(m, "c", range(1000));
    json_object_set_new(m, "d", range(1000));
    assert_int_equal(ex_matrix_expand(m, NULL, &legs, &d), -E2BIG);
    assert_null(legs);
    json_decref(m);
}

/* act-testdata matrix-include-exclude and matrix-with-user-inclusions (--matrix) */
static void test_act_include_exclude(void **state)
{
    static const char *m = "{\"os\":[\"ubuntu-18.04\",\"macos-latest\"],\"node\":[4,6,8,10],"
                           "\"exclude\":[{\"os\":\"macos-latest\",\"node\":4}],"
                           "\"include\":[{\"os\":\"ubuntu-16.04\",\"node\":10}]}";
    static const char *const names[] = {
        "job (ubuntu-18.04, 4)",  "job (ubuntu-18.04, 6)",  "job (ubuntu-18.04, 8)",
        "job (ubuntu-18.04, 10)", "job (macos-latest, 6)",  "job (macos-latest, 8)",
        "job (macos-latest, 10)", "job (ubuntu-16.04, 10)", NULL};
    static const char *const filtered[] = {"job (ubuntu-18.04, 8)", NULL};
    static const char *const nodes[] = {"job (8.x)", NULL};
    (void)state;

    expect_legs(m, NULL,
                "[{\"os\":\"ubuntu-18.04\",\"node\":4},{\"os\":\"ubuntu-18.04\",\"node\":6},"
                "{\"os\":\"ubuntu-18.04\",\"node\":8},{\"os\":\"ubuntu-18.04\",\"node\":10},"
                "{\"os\":\"macos-latest\",\"node\":6},{\"os\":\"macos-latest\",\"node\":8},"
                "{\"os\":\"macos-latest\",\"node\":10},{\"os\":\"ubuntu-16.04\",\"node\":10}]",
                names);
    expect_legs(m, "{\"node\":[\"8\",\"8.x\"],\"os\":[\"ubuntu-18.04\"]}",
                "[{\"os\":\"ubuntu-18.04\",\"node\":8}]", filtered);
    expect_legs("{\"node\":[\"8.x\",\"10.x\",\"12.x\",\"13.x\"]}",
                "{\"node\":[\"8\",\"8.x\"],\"os\":[\"ubuntu-18.04\"]}", "[{\"node\":\"8.x\"}]",
                nodes);
}

/* act model-testdata/strategy: include adding to all rows vs new rows, partial exclude */
static void test_act_strategy(void **state)
{
    (void)state;
    expect_legs(
        "{\"datacenter\":[\"site-c\",\"site-d\"],\"exclude\":[{\"datacenter\":\"site-d\","
        "\"node-version\":\"14.x\",\"site\":\"staging\"}],\"include\":[{\"php-version\":5.4},"
        "{\"datacenter\":\"site-a\",\"node-version\":\"10.x\",\"site\":\"prod\"},"
        "{\"datacenter\":\"site-b\",\"node-version\":\"12.x\",\"site\":\"dev\"}],"
        "\"node-version\":[\"14.x\",\"16.x\"],\"site\":[\"staging\"]}",
        NULL,
        "[{\"datacenter\":\"site-c\",\"node-version\":\"14.x\",\"site\":\"staging\","
        "\"php-version\":5.4},"
        "{\"datacenter\":\"site-c\",\"node-version\":\"16.x\",\"site\":\"staging\","
        "\"php-version\":5.4},"
        "{\"datacenter\":\"site-d\",\"node-version\":\"16.x\",\"site\":\"staging\","
        "\"php-version\":5.4},"
        "{\"datacenter\":\"site-a\",\"node-version\":\"10.x\",\"site\":\"prod\"},"
        "{\"datacenter\":\"site-b\",\"node-version\":\"12.x\",\"site\":\"dev\"}]",
        NULL);
}

/* act evalmatrix: include adding a key to a 1x1x1 matrix; include-only with one entry */
static void test_act_evalmatrix(void **state)
{
    static const char *const n1[] = {"job (0, 0, 0)", NULL};
    static const char *const n2[] = {"job (val)", NULL};
    (void)state;
    expect_legs("{\"x\":[0],\"y\":[0],\"z\":[0],\"include\":[{\"def\":\"val\",\"z\":0}]}", NULL,
                "[{\"x\":0,\"y\":0,\"z\":0,\"def\":\"val\"}]", n1);
    expect_legs("{\"include\":[{\"def\":\"val\"}]}", NULL, "[{\"def\":\"val\"}]", n2);
    expect_legs("{\"A\":[\"A\",\"B\"]}", NULL, "[{\"A\":\"A\"},{\"A\":\"B\"}]", NULL);
}

/* Unmatched include rows list filter keys first, then extras (MatrixInclude). */
static void test_unmatched_key_order(void **state)
{
    static const char *const names[] = {"job (1)", "job (9, e)", NULL};
    (void)state;
    expect_legs("{\"v\":[1],\"include\":[{\"extra\":\"e\",\"v\":9}]}", NULL,
                "[{\"v\":1},{\"v\":9,\"extra\":\"e\"}]", names);
}

/* Excluded rows are never extended; include can re-add an excluded combination. */
static void test_include_readds_excluded(void **state)
{
    (void)state;
    expect_legs("{\"a\":[1,2],\"exclude\":[{\"a\":2}],\"include\":[{\"a\":2,\"x\":\"y\"}]}", NULL,
                "[{\"a\":1},{\"a\":2,\"x\":\"y\"}]", NULL);
    /* every combination excluded: no legs */
    expect_legs("{\"a\":[1],\"exclude\":[{\"a\":1}]}", NULL, "[]", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_product_order),
        cmocka_unit_test(test_exclude_and_extend),
        cmocka_unit_test(test_include_new_rows),
        cmocka_unit_test(test_docs_fruit_animal),
        cmocka_unit_test(test_docs_add_with_include),
        cmocka_unit_test(test_include_only),
        cmocka_unit_test(test_loose_equality),
        cmocka_unit_test(test_object_values),
        cmocka_unit_test(test_display_names),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_leg_limit),
        cmocka_unit_test(test_act_include_exclude),
        cmocka_unit_test(test_act_strategy),
        cmocka_unit_test(test_act_evalmatrix),
        cmocka_unit_test(test_unmatched_key_order),
        cmocka_unit_test(test_include_readds_excluded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
