/* Unit tests for executor/yaml.c: tree, positions, core schema, limits, errors. */
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

#include "ex/yaml.h"

static struct ex_doc *parse_ok(const char *src)
{
    struct ex_doc *doc = NULL;
    struct gr_diag d = {0};
    int r = ex_yaml_parse("t.yml", src, strlen(src), &doc, &d);
    if (r != 0)
        fail_msg("unexpected error %d: %d:%d: %s", r, d.line, d.col, d.msg);
    return doc;
}

/* Parse, expect error code, position and message substring. */
static void parse_err(const char *src, size_t len, int err, int line, int col, const char *msg)
{
    struct ex_doc *doc = NULL;
    struct gr_diag d = {0};
    int r = ex_yaml_parse("t.yml", src, len, &doc, &d);

    assert_null(doc);
    if (r != err || !strstr(d.msg, msg))
        fail_msg("got %d '%s', wanted %d '%s'", r, d.msg, err, msg);
    assert_string_equal(d.file, "t.yml");
    if (line >= 0) {
        assert_int_equal(d.line, line);
        assert_int_equal(d.col, col);
    }
}

static void test_tree_and_positions(void **state)
{
    struct ex_doc *doc = parse_ok("name: ci\non:\n  push:\n    branches: [main, 'dev']\n"
                                  "jobs:\n  a:\n    steps:\n      - run: echo\n");
    const struct ex_node *root = ex_doc_root(doc), *n;

    assert_int_equal(root->kind, EX_NODE_MAP);
    assert_int_equal(root->n, 3);
    assert_string_equal(ex_node_str(ex_node_get(root, "name")), "ci");
    n = ex_node_get(ex_node_get(ex_node_get(root, "on"), "push"), "branches");
    assert_int_equal(n->kind, EX_NODE_SEQ);
    assert_int_equal(n->n, 2);
    assert_int_equal(n->line, 4);
    assert_int_equal(n->col, 15);
    assert_string_equal(n->items[1]->str, "dev");
    assert_false(n->items[1]->plain);
    assert_true(n->items[0]->plain);
    assert_int_equal(n->items[1]->col, 22);
    n = ex_node_get(ex_node_get(ex_node_get(root, "jobs"), "a"), "steps");
    assert_int_equal(n->items[0]->line, 8);
    assert_int_equal(n->items[0]->col, 9);
    assert_string_equal(ex_node_kind_name(n), "sequence");
    assert_null(ex_node_get(root, "NAME")); /* lookups are case-sensitive */
    assert_string_equal(ex_doc_file(doc), "t.yml");
    assert_string_equal(root->file, "t.yml");
    ex_doc_free(doc);
}

static void test_core_schema(void **state)
{
    static const struct {
        const char *s;
        enum ex_scalar_type t;
    } cases[] = {
        {"", EX_SCALAR_NULL},         {"~", EX_SCALAR_NULL},       {"null", EX_SCALAR_NULL},
        {"NULL", EX_SCALAR_NULL},     {"nULL", EX_SCALAR_STRING},  {"true", EX_SCALAR_BOOL},
        {"False", EX_SCALAR_BOOL},    {"on", EX_SCALAR_STRING},    {"yes", EX_SCALAR_STRING},
        {"no", EX_SCALAR_STRING},     {"off", EX_SCALAR_STRING},   {"y", EX_SCALAR_STRING},
        {"12", EX_SCALAR_INT},        {"-12", EX_SCALAR_INT},      {"+7", EX_SCALAR_INT},
        {"0x1F", EX_SCALAR_INT},      {"0o17", EX_SCALAR_INT},     {"0o19", EX_SCALAR_STRING},
        {"0x", EX_SCALAR_STRING},     {"3.10", EX_SCALAR_FLOAT},   {".5", EX_SCALAR_FLOAT},
        {"1.", EX_SCALAR_FLOAT},      {"1e3", EX_SCALAR_FLOAT},    {"-1.5E-3", EX_SCALAR_FLOAT},
        {".inf", EX_SCALAR_FLOAT},    {"-.Inf", EX_SCALAR_FLOAT},  {".NaN", EX_SCALAR_FLOAT},
        {".", EX_SCALAR_STRING},      {"1_000", EX_SCALAR_STRING}, {"1.2.3", EX_SCALAR_STRING},
        {"e3", EX_SCALAR_STRING},     {"1e", EX_SCALAR_STRING},    {"-", EX_SCALAR_STRING},
        {"ubuntu", EX_SCALAR_STRING},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum ex_scalar_type t = ex_yaml_resolve(cases[i].s, strlen(cases[i].s));
        if (t != cases[i].t)
            fail_msg("'%s': got %d, wanted %d", cases[i].s, t, cases[i].t);
    }
}

static void test_scalar_types_in_doc(void **state)
{
    struct ex_doc *doc = parse_ok("a: on\nb: 'true'\nc: true\nd: 3.10\ne:\nf: !!str 12\n"
                                  "g: !!int '12'\nh: !!float 1\ni: !!bool True\nj: !!null ''\n"
                                  "k: \"x\\ty\"\nl: |\n  line1\n  line2\n");
    const struct ex_node *r = ex_doc_root(doc);

    assert_int_equal(ex_node_get(r, "a")->type, EX_SCALAR_STRING);
    assert_int_equal(ex_node_get(r, "b")->type, EX_SCALAR_STRING);
    assert_int_equal(ex_node_get(r, "c")->type, EX_SCALAR_BOOL);
    assert_int_equal(ex_node_get(r, "d")->type, EX_SCALAR_FLOAT);
    assert_int_equal(ex_node_get(r, "e")->type, EX_SCALAR_NULL);
    assert_int_equal(ex_node_get(r, "f")->type, EX_SCALAR_STRING);
    assert_int_equal(ex_node_get(r, "g")->type, EX_SCALAR_INT);
    assert_int_equal(ex_node_get(r, "h")->type, EX_SCALAR_FLOAT);
    assert_int_equal(ex_node_get(r, "i")->type, EX_SCALAR_BOOL);
    assert_int_equal(ex_node_get(r, "j")->type, EX_SCALAR_NULL);
    assert_string_equal(ex_node_get(r, "k")->str, "x\ty");
    assert_string_equal(ex_node_get(r, "l")->str, "line1\nline2\n");
    assert_string_equal(ex_node_kind_name(ex_node_get(r, "d")), "number");
    ex_doc_free(doc);
}

static void test_to_json(void **state)
{
    struct ex_doc *doc = parse_ok("a: [1, 0x10, 3.10, true, ~, on, '2', .inf]\nb: {c: d}\n");
    json_t *j = ex_node_to_json(ex_doc_root(doc));
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

    assert_string_equal(s, "{\"a\":[1,16,3.1000000000000001,true,null,\"on\",\"2\",\".inf\"],"
                           "\"b\":{\"c\":\"d\"}}");
    free(s);
    json_decref(j);
    ex_doc_free(doc);
}

static void test_anchors(void **state)
{
    struct ex_doc *doc = parse_ok("x: &a {k: v, n: [1, 2]}\ny: *a\nz: &s str\nw: *s\n");
    const struct ex_node *r = ex_doc_root(doc);

    assert_ptr_equal(ex_node_get(r, "x"), ex_node_get(r, "y"));
    assert_string_equal(ex_node_str(ex_node_get(r, "w")), "str");
    assert_int_equal(ex_node_get(r, "x")->weight, 7); /* map, 2 keys, v, seq, 1, 2 */
    /* merge keys are ordinary keys */
    ex_doc_free(doc);
    doc = parse_ok("base: &b {k: v}\nuse:\n  <<: *b\n  o: 1\n");
    assert_non_null(ex_node_get(ex_node_get(ex_doc_root(doc), "use"), "<<"));
    assert_null(ex_node_get(ex_node_get(ex_doc_root(doc), "use"), "k"));
    ex_doc_free(doc);
}

static void test_alias_errors(void **state)
{
    static const char bomb[] = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                               "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                               "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                               "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                               "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                               "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                               "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                               "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                               "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    parse_err("a: *nope\n", 9, GR_EPARSE, 1, 4, "unknown alias 'nope'");
    parse_err("a: &x [*x]\n", 11, GR_EPARSE, 1, 8, "unknown alias 'x'");
    parse_err(bomb, strlen(bomb), -E2BIG, 5, 20, "more than 50000 nodes");
}

static void test_duplicate_keys(void **state)
{
    parse_err("on: push\njobs:\n  a: 1\n  A: 2\n", 26, GR_EPARSE, 4, 3, "'A' is already defined");
    parse_err("env:\n  X: 1\n  y: 2\n  x: 3\n", 26, GR_EPARSE, 4, 3, "'x' is already defined");
    parse_err("? [a]\n: b\n", 10, GR_EPARSE, 1, 3, "mapping key must be a scalar");
}

/* Mappings past the linear-scan size use a hash set; duplicates are still found, fast. */
static void test_wide_mapping(void **state)
{
    struct gr_buf b = GR_BUF_INIT(0);
    struct ex_doc *doc = NULL;
    struct gr_diag d = {0};
    uint64_t t0;

    for (int i = 0; i < 20000; i++)
        assert_int_equal(gr_buf_addf(&b, "key%05d: %d\n", i, i), 0);
    t0 = gr_now_ns();
    assert_int_equal(ex_yaml_parse("t.yml", b.ptr, b.len, &doc, &d), 0);
    assert_true(gr_now_ns() - t0 < 2000000000ull);
    assert_int_equal(ex_doc_root(doc)->n, 20000);
    assert_string_equal(ex_node_str(ex_node_get(ex_doc_root(doc), "key12345")), "12345");
    ex_doc_free(doc);
    assert_int_equal(gr_buf_adds(&b, "KEY00017: again\n"), 0);
    parse_err(b.ptr, b.len, GR_EPARSE, 20001, 1, "'KEY00017' is already defined");
    gr_buf_reset(&b);
    for (int i = 0; i < 40; i++)
        assert_int_equal(gr_buf_addf(&b, "k%d: x\n", i), 0);
    assert_int_equal(gr_buf_adds(&b, "K39: y\n"), 0);
    parse_err(b.ptr, b.len, GR_EPARSE, 41, 1, "'K39' is already defined");
    gr_buf_release(&b);
}

static void test_tags(void **state)
{
    parse_err("a: !custom x\n", 12, GR_EPARSE, 1, 4, "unsupported tag '!custom'");
    parse_err("a: !!binary eA==\n", 16, GR_EPARSE, 1, 4, "unsupported tag '!!binary'");
    parse_err("a: !!int abc\n", 13, GR_EPARSE, 1, 4, "'abc' is not a valid value for the tag");
    parse_err("a: !!bool yes\n", 14, GR_EPARSE, 1, 4, "'yes' is not a valid value");
    parse_err("a: !!set {x}\n", 12, GR_EPARSE, 1, 4, "unsupported tag");
}

static void test_libyaml_errors(void **state)
{
    parse_err("a:\n\tb: 1\n", 9, GR_EPARSE, 2, 1, "found character that cannot start any token");
    parse_err("a: [1, 2\n", 9, GR_EPARSE, -1, 0, "did not find expected");
    parse_err("a: b: c\n", 8, GR_EPARSE, 1, 5, "mapping values are not allowed");
    parse_err("a: 'x\n", 6, GR_EPARSE, -1, 0, "found unexpected end of stream");
    parse_err("a: \"\\q\"\n", 8, GR_EPARSE, -1, 0, "found unknown escape character");
}

static void test_documents(void **state)
{
    struct ex_doc *doc;

    parse_err("a: 1\n---\nb: 2\n", 14, GR_EPARSE, 2, 1, "only one YAML document");
    doc = parse_ok("");
    assert_null(ex_doc_root(doc));
    ex_doc_free(doc);
    doc = parse_ok("# only a comment\n");
    assert_null(ex_doc_root(doc));
    ex_doc_free(doc);
    doc = parse_ok("---\na: 1\n...\n");
    assert_non_null(ex_doc_root(doc));
    ex_doc_free(doc);
}

static void test_depth_limit(void **state)
{
    char buf[512];
    size_t len = 0;
    struct ex_doc *doc;

    for (int i = 0; i < 50; i++)
        buf[len++] = '[';
    for (int i = 0; i < 50; i++)
        buf[len++] = ']';
    doc = NULL;
    assert_int_equal(ex_yaml_parse("t.yml", buf, len, &doc, NULL), 0);
    ex_doc_free(doc);
    len = 0;
    for (int i = 0; i < 51; i++)
        buf[len++] = '[';
    for (int i = 0; i < 51; i++)
        buf[len++] = ']';
    parse_err(buf, len, -E2BIG, 1, 51, "maximum object depth exceeded");
}

static void test_size_limit(void **state)
{
    size_t len = 1024 * 1024 + 10;
    char *big = malloc(len);
    struct ex_doc *doc = NULL;

    memset(big, ' ', len);
    memcpy(big, "a: b\n#", 6);
    parse_err(big, len, -E2BIG, 0, 0, "larger than 1048576 characters");
    /* exactly the limit is accepted */
    assert_int_equal(ex_yaml_parse("t.yml", big, 1024 * 1024, &doc, NULL), 0);
    ex_doc_free(doc);
    free(big);
}

static void test_garbage(void **state)
{
    unsigned char bin[4096];
    uint32_t x = 12345;
    struct ex_doc *doc;
    struct gr_diag d;

    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof(bin); i++) {
            x = x * 1103515245u + 12345u;
            bin[i] = (unsigned char)(x >> 16);
        }
        doc = NULL;
        if (ex_yaml_parse("t.yml", (const char *)bin, sizeof(bin), &doc, &d) == 0)
            ex_doc_free(doc);
        else
            assert_true(d.msg[0] != '\0');
    }
    parse_err("a: \xff\xfe\n", 7, GR_EPARSE, 1, 4, "invalid leading UTF-8 octet (0xff)");
    parse_err("a: b\0c\n", 7, GR_EPARSE, 1, 5, "control characters are not allowed");
}

static void test_load(void **state)
{
    char path[64] = "/tmp/test_ex_yaml_";
    size_t plen = strlen(path);
    struct ex_doc *doc = NULL;
    struct gr_diag d = {0};
    int fd;

    memset(path + plen, 'X', 6); /* the mkstemp template */
    path[plen + 6] = '\0';
    fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "k: v\n", 5), 5);
    close(fd);
    assert_int_equal(ex_yaml_load(path, &doc, &d), 0);
    assert_string_equal(ex_node_str(ex_node_get(ex_doc_root(doc), "k")), "v");
    assert_string_equal(ex_doc_file(doc), path);
    assert_true(ex_doc_mem(doc) > 0);
    ex_doc_free(doc);
    unlink(path);
    doc = NULL;
    assert_int_equal(ex_yaml_load(path, &doc, &d), -ENOENT);
    assert_null(doc);
    assert_non_null(strstr(d.msg, "cannot read"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_and_positions),
        cmocka_unit_test(test_core_schema),
        cmocka_unit_test(test_scalar_types_in_doc),
        cmocka_unit_test(test_to_json),
        cmocka_unit_test(test_anchors),
        cmocka_unit_test(test_alias_errors),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_wide_mapping),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_libyaml_errors),
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
