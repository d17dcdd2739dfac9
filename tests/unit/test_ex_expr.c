/*
 * Unit tests for executor/expr*.c: literals, operators, coercion, indexing
 * and filters, functions, errors and limits, templates and `if:`.
 *
 * Expected values come from actions/runner (src/Sdk/Expressions) and from the
 * cross-language test data of actions/languageservices (expressions/testdata/
 * *.json, cited per table): those files are what GitHub's implementations
 * agree on. Results are compared as compact JSON text; errors by message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <unistd.h>

#include "ex/expr.h"

struct tcase {
    const char *expr;
    const char *want; /* compact JSON of the value, or NULL when err is set */
    const char *err;  /* substring of the error message */
};

static const char *test_ctx_json =
    "{\"github\": {\"event_name\": \"push\", \"ref\": \"refs/tags/v1.2\", "
    "\"event\": {\"head_commit\": {\"message\": \"fix: it [skip ci]\"}, \"n\": 3}, "
    "\"arr\": [10, 20, 30], \"items\": [{\"name\": \"a\", \"v\": {\"x\": 1}}, "
    "{\"name\": \"b\", \"v\": {\"x\": 2}}, 5, [7, 8]], \"big\": 12345678901234567, "
    "\"f\": 1.5, \"t\": true, \"nul\": null, \"empty\": \"\", \"obj\": {\"Key\": 1, \"key2\": "
    "\"v\"}, \"nested\": [[1, 2], [3, 4]]},"
    " \"matrix\": {\"os\": \"ubuntu-latest\", \"node\": 18},"
    " \"needs\": {\"plan\": {\"outputs\": {\"m\": \"{\\\"include\\\": [{\\\"a\\\": 1}]}\"}, "
    "\"result\": \"success\"}},"
    " \"steps\": {\"build\": {\"outputs\": {\"version\": \"1.2.3\"}}}}";

static json_t *test_ctx(void)
{
    json_error_t je;
    json_t *c = json_loads(test_ctx_json, 0, &je);
    assert_non_null(c);
    return c;
}

static char *dump(json_t *v)
{
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
}

static int run_cases(const struct tcase *tc, size_t n, const char *status)
{
    json_t *ctx = test_ctx();
    struct ex_eval_env env = {.contexts = ctx, .status = status};
    int bad = 0;

    for (size_t i = 0; i < n; i++) {
        struct gr_diag d = {0};
        json_t *v = NULL;
        int r = ex_expr_eval_str(tc[i].expr, &env, &v, &d);
        if (tc[i].err) {
            if (r == 0 || !strstr(d.msg, tc[i].err)) {
                printf("FAIL %s: want error '%s', got r=%d '%s'\n", tc[i].expr, tc[i].err, r,
                       d.msg);
                bad++;
            }
        } else if (r < 0) {
            printf("FAIL %s: error %s\n", tc[i].expr, d.msg);
            bad++;
        } else {
            char *s = dump(v);
            if (strcmp(s, tc[i].want) != 0) {
                printf("FAIL %s: want %s got %s\n", tc[i].expr, tc[i].want, s);
                bad++;
            }
            free(s);
        }
        json_decref(v);
    }
    json_decref(ctx);
    return bad;
}

#define RUN(tab) assert_int_equal(run_cases((tab), GR_ARRAY_SIZE(tab), NULL), 0)

/* languageservices testdata/number.json, coerce_string.json, basic.json */
static void literals(void **state)
{
    static const struct tcase tc[] = {
        {"null", "null", NULL},
        {"true", "true", NULL},
        {"false", "false", NULL},
        {"1", "1", NULL},
        {"-1.5", "-1.5", NULL},
        {"+2", "2", NULL},
        {".5", "0.5", NULL},
        {"1.", "1", NULL},
        {"1.2e2", "120", NULL},
        {"1.2E-2", "0.012", NULL},
        {"0xff", "255", NULL},
        {"0xFF", "255", NULL},
        {"0o10", "8", NULL},
        {"0xFFFFFFFF", "-1", NULL}, /* Int32 hex parse */
        {"0x100000000", NULL, "Unexpected symbol: '0x100000000'"},
        {"0X10", NULL, "Unexpected symbol: '0X10'"},
        {"0o8", NULL, "Unexpected symbol: '0o8'"},
        {"NaN", "\"NaN\"", NULL},
        {"Infinity", "\"Infinity\"", NULL},
        {"-Infinity", "\"-Infinity\"", NULL},
        {"'it''s'", "\"it's\"", NULL},
        {"''", "\"\"", NULL},
        {"'${{ x }}'", "\"${{ x }}\"", NULL},
        {"1e400", "\"Infinity\"", NULL},
        {"TRUE", NULL, "Unrecognized named-value: 'TRUE'"},
    };
    (void)state;
    RUN(tc);
}

/* EvaluationResult.ConvertToString: G15, -0 as 0; coerce_string.json */
static void number_format(void **state)
{
    static const struct tcase tc[] = {
        {"format('{0}', 1)", "\"1\"", NULL},
        {"format('{0}', -0)", "\"0\"", NULL},
        {"format('{0}', -0.0)", "\"0\"", NULL},
        {"format('{0}', 123456.789)", "\"123456.789\"", NULL},
        {"format('{0}', 0.84551240822557006)", "\"0.84551240822557\"", NULL},
        {"format('{0}', 1e15)", "\"1E+15\"", NULL},
        {"format('{0}', 123456789012345)", "\"123456789012345\"", NULL},
        {"format('{0}', 1234567890123456)", "\"1.23456789012346E+15\"", NULL},
        {"format('{0}', 0.0001)", "\"0.0001\"", NULL},
        {"format('{0}', 0.00001)", "\"1E-05\"", NULL},
        {"format('{0}', 1.5e300)", "\"1.5E+300\"", NULL},
        {"format('{0}', github.big)", "\"1.23456789012346E+16\"", NULL},
        {"format('{0}', NaN)", "\"NaN\"", NULL},
        {"format('{0}', -Infinity)", "\"-Infinity\"", NULL},
        {"toJSON(1.25)", "\"1.25\"", NULL},
    };
    (void)state;
    RUN(tc);
}

/* Token.cs precedence; testdata/operators_precedence.json, op_and.json, op_or.json, op_not.json */
static void operators(void **state)
{
    static const struct tcase tc[] = {
        {"!true == false", "true", NULL},
        {"1 < 2 == true", "true", NULL},
        {"true || false && false", "true", NULL},
        {"(true || false) && false", "false", NULL},
        {"!(1 == 2)", "true", NULL},
        {"!!'x'", "true", NULL},
        {"!''", "true", NULL},
        {"!NaN", "true", NULL},
        {"!github", "false", NULL},
        {"'a' && 'b'", "\"b\"", NULL},
        {"'' && 'b'", "\"\"", NULL},
        {"'' || 'x'", "\"x\"", NULL},
        {"0 || ''", "\"\"", NULL},
        {"null && 1", "null", NULL},
        {"github.nul || matrix.os", "\"ubuntu-latest\"", NULL},
        {"1 || fromJSON('bad')", "1", NULL}, /* short-circuit: the right side never runs */
        {"0 && fromJSON('bad')", "0", NULL},
        {"1 != 2", "true", NULL},
        {"2 >= 2", "true", NULL},
        {"2 <= 1", "false", NULL},
    };
    (void)state;
    RUN(tc);
}

/* EvaluationResult.AbstractEqual / CoerceTypes; testdata/op_eq.json, op_gt.json, op_lt.json */
static void coercion(void **state)
{
    static const struct tcase tc[] = {
        {"null == 0", "true", NULL},
        {"null == ''", "true", NULL},
        {"null == false", "true", NULL},
        {"true == 1", "true", NULL},
        {"true == '1'", "true", NULL},
        {"true == 'true'", "false", NULL},
        {"'' == false", "true", NULL},
        {"'abc' == 'ABC'", "true", NULL},
        {"'abc' != 'ABC'", "false", NULL},
        {"'0x10' == 16", "true", NULL},
        {"' 12 ' == 12", "true", NULL},
        {"'1e1' == 10", "true", NULL},
        {"'a' == 'a '", "false", NULL},
        {"NaN == NaN", "false", NULL},
        {"'' == 0", "true", NULL},
        {"'abc' == 0", "false", NULL},
        {"github.obj == github.obj", "true", NULL},
        {"fromJSON('{}') == fromJSON('{}')", "false", NULL},
        {"github.arr == false", "false", NULL},
        {"github.arr == 'Array'", "false", NULL},
        {"'b' > 'A'", "true", NULL},
        {"'a' < 'B'", "true", NULL},
        {"2 > '10'", "false", NULL},
        {"'2' > '10'", "true", NULL},
        {"null < 1", "true", NULL},
        {"true > false", "true", NULL},
        {"1 > 'abc'", "false", NULL},
        {"1 < 'abc'", "false", NULL},
        {"github.arr > 1", "false", NULL},
        {"'\xc3\xa9' == '\xc3\x89'", "true", NULL}, /* OrdinalIgnoreCase beyond ASCII */
        {"'\xd0\xb6\xce\xbb' == '\xd0\x96\xce\x9b'", "true", NULL}, /* Cyrillic, Greek */
        {"contains('x\xc3\xa9y', '\xc3\x89Y')", "true", NULL},
        {"startsWith('\xc3\xa9t\xc3\xa9', '\xc3\x89T')", "true", NULL},
        {"'\xc3\xa9' > 'z'", "true", NULL}, /* ordinal: U+00C9 sorts after Z */
        {"matrix.node == '18'", "true", NULL},
        {"matrix.os == 'UBUNTU-LATEST'", "true", NULL},
    };
    (void)state;
    RUN(tc);
}

/* Index.cs; testdata/op_idx.json, op_dot.json, op_idx_star.json */
static void indexing(void **state)
{
    static const struct tcase tc[] = {
        {"github.event.head_commit.message", "\"fix: it [skip ci]\"", NULL},
        {"GitHub.EVENT_NAME", "\"push\"", NULL},
        {"github['event_name']", "\"push\"", NULL},
        {"github.obj.key", "1", NULL},
        {"github.obj['KEY2']", "\"v\"", NULL},
        {"github.arr[0]", "10", NULL},
        {"github.arr[1.9]", "20", NULL},
        {"github.arr['2']", "30", NULL},
        {"github.arr[3]", "null", NULL},
        {"github.arr[-1]", "null", NULL},
        {"github.arr[true]", "20", NULL},
        {"github.arr['x']", "null", NULL},
        {"github.missing.deep.deeper", "null", NULL},
        {"github.event_name[0]", "null", NULL},
        {"github.obj[1]", "null", NULL},
        {"github.nested[1][0]", "3", NULL},
        {"needs.plan.result == 'success'", "true", NULL},
        {"steps.build.outputs.version", "\"1.2.3\"", NULL},
        {"vars.anything", "null", NULL},
        {"github.items.*.name", "[\"a\",\"b\"]", NULL},
        {"github.items.*.v.x", "[1,2]", NULL},
        {"github.items[*].name", "[\"a\",\"b\"]", NULL},
        {"github.items.*[1]", "[8]", NULL},
        {"github.nested.*.*", "[1,2,3,4]", NULL},
        {"github.obj.*", "[1,\"v\"]", NULL},
        {"github.arr.*", "[10,20,30]", NULL},
        {"github.event_name.*", "[]", NULL},
        {"github.nul.*.x", "[]", NULL},
        {"contains(github.items.*.name, 'B')", "true", NULL},
        {"toJSON(github.items.*.v.x)", "\"[\\n  1,\\n  2\\n]\"", NULL},
        {"github.items.* == github.items.*", "false", NULL},
        {"fromJSON(needs.plan.outputs.m).include[0].a", "1", NULL},
    };
    (void)state;
    RUN(tc);
}

/* Contains.cs, StartsWith.cs, EndsWith.cs, Join.cs; testdata/contains.json, join.json */
static void string_functions(void **state)
{
    static const struct tcase tc[] = {
        {"contains(github.event.head_commit.message, '[SKIP CI]')", "true", NULL},
        {"contains('abc', '')", "true", NULL},
        {"contains(123, 2)", "true", NULL},
        {"contains(true, 'ru')", "true", NULL},
        {"contains(null, '')", "true", NULL},
        {"contains(github.arr, 20)", "true", NULL},
        {"contains(github.arr, '20')", "true", NULL},
        {"contains(github.arr, 21)", "false", NULL},
        {"contains(github.obj, 'Key')", "false", NULL},
        {"contains('abc', github.arr)", "false", NULL},
        {"startsWith(github.ref, 'REFS/TAGS/')", "true", NULL},
        {"startsWith('abc', '')", "true", NULL},
        {"startsWith(github.arr, 1)", "false", NULL},
        {"endsWith('abc', 'BC')", "true", NULL},
        {"endsWith(1.5, '.5')", "true", NULL},
        {"endsWith('a', 'ba')", "false", NULL},
        {"join(github.arr)", "\"10,20,30\"", NULL},
        {"join(github.arr, ' + ')", "\"10 + 20 + 30\"", NULL},
        {"join(github.items.*.name, '-')", "\"a-b\"", NULL},
        {"join(github.items)", "\"Object,Object,5,Array\"", NULL},
        {"join('abc', '-')", "\"abc\"", NULL},
        {"join(1.5)", "\"1.5\"", NULL},
        {"join(github.obj)", "\"\"", NULL},
        {"join(fromJSON('[]'))", "\"\"", NULL},
        {"join(github.arr, github.obj)", "\"10,20,30\"", NULL},
        {"join(github.arr, null)", "\"102030\"", NULL},
        {"JOIN(github.arr, '')", "\"102030\"", NULL},
    };
    (void)state;
    RUN(tc);
}

/* Format.cs; testdata/format.json */
static void format_function(void **state)
{
    static const struct tcase tc[] = {
        {"format('{0}-{1}', matrix.os, 2)", "\"ubuntu-latest-2\"", NULL},
        {"format('123{0}456{0}789', 'abc')", "\"123abc456abc789\"", NULL},
        {"format('{{0}}', 'abc')", "\"{0}\"", NULL},
        {"format('{{{{0}}}}', 'abc')", "\"{{0}}\"", NULL},
        {"format('}}{{}}', 'abc')", "\"}{}\"", NULL},
        {"format(null)", "\"\"", NULL},
        {"format('{0}', github.obj)", "\"Object\"", NULL},
        {"format('{0}', github.arr)", "\"Array\"", NULL},
        {"format('{0}', null)", "\"\"", NULL},
        {"format('{00}', 'x')", "\"x\"", NULL},
        {"format('{0')", NULL, "The following format string is invalid: {0"},
        {"format('{0}}', '')", NULL, "The following format string is invalid: {0}}"},
        {"format('}0{')", NULL, "The following format string is invalid: }0{"},
        {"format('{a}', 1)", NULL, "The following format string is invalid: {a}"},
        {"format('{0}{1}', 'abc')", NULL,
         "The following format string references more arguments than were supplied: {0}{1}"},
        {"format('{0:x}', 1)", NULL,
         "The format specifiers 'x' are not valid for objects of type 'Number'"},
        /* A bad format string is reported before any argument is evaluated. */
        {"format('{0}{', fromJSON('bad'))", NULL, "The following format string is invalid"},
        {"format('{0}', fromJSON('bad'))", NULL, "Error parsing fromJson"},
    };
    (void)state;
    RUN(tc);
}

/* ToJson.cs (Newtonsoft escaping, 2-space indent), FromJson.cs; testdata/tojson.json */
static void json_functions(void **state)
{
    static const struct tcase tc[] = {
        {"toJSON(null)", "\"null\"", NULL},
        {"toJSON('abc''def')", "\"\\\"abc'def\\\"\"", NULL},
        {"toJSON('a\"\\b')", "\"\\\"a\\\\\\\"\\\\\\\\b\\\"\"", NULL},
        {"toJSON(matrix)", "\"{\\n  \\\"os\\\": \\\"ubuntu-latest\\\",\\n  \\\"node\\\": 18\\n}\"",
         NULL},
        {"toJSON(github.nested)",
         "\"[\\n  [\\n    1,\\n    2\\n  ],\\n  [\\n    3,\\n    4\\n  ]\\n]\"", NULL},
        {"toJSON(fromJSON('{\"a\":[],\"b\":{}}'))",
         "\"{\\n  \\\"a\\\": [],\\n  \\\"b\\\": {}\\n}\"", NULL},
        {"toJSON(fromJSON('\"x\\u0001\\n\"'))", "\"\\\"x\\\\u0001\\\\n\\\"\"", NULL},
        {"tojson(fromJSON('1.0'))", "\"1\"", NULL},
        {"fromJSON('{\"a\": 1}').a", "1", NULL},
        {"fromJSON('[1, \"x\", true, null]')", "[1,\"x\",true,null]", NULL},
        {"fromJSON(' 12 ')", "12", NULL},
        {"fromJSON('true')", "true", NULL},
        {"fromJSON('{\"A\": 2}').a", "2", NULL},
        {"fromJSON('')", NULL, "Error parsing fromJson"},
        /* Newtonsoft's leniency: comments, single quotes, bare names, trailing commas. */
        {"fromJSON('{a: ''x'', /* c */ \"b\": [1, 2,], // end\n}')", "{\"a\":\"x\",\"b\":[1,2]}",
         NULL},
        {"fromJSON('[''it\\''s'', \"q\\\"\"]')", "[\"it's\",\"q\\\"\"]", NULL},
        {"fromJSON('[1.5E+3, true, null,]')", "[1500.0,true,null]", NULL},
        {"fromJSON('[1 2]')", NULL, "Error parsing fromJson"},
        {"fromJSON('{\"a\": 1} trailing')", "{\"a\":1}", NULL},
        {"fromJSON('{')", NULL, "Error parsing fromJson"},
    };
    (void)state;
    RUN(tc);
}

/* Case.cs; testdata/case.json */
static void case_function(void **state)
{
    static const struct tcase tc[] = {
        {"case(true, 'first', 'default')", "\"first\"", NULL},
        {"case(false, 'first', true, 'second', 'default')", "\"second\"", NULL},
        {"case(false, 'first', false, 'second', 'default')", "\"default\"", NULL},
        {"case(github.event_name == 'push', 1, 2)", "1", NULL},
        {"case(true, fromJSON('[1,2,3]'), 'default')", "[1,2,3]", NULL},
        {"case(false, fromJSON('bad'), 'd')", "\"d\"", NULL},
        {"case(1, 'first', 'default')", NULL, "case predicate must evaluate to a boolean value"},
        {"case('true', 'a', 'b')", NULL, "case predicate must evaluate to a boolean value"},
        {"case(true, 'first', false, 'second')", NULL,
         "Even number of parameters supplied, requires an odd number of parameters: 'case'. "
         "Located at position 1 within expression: case(true, 'first', false, 'second')"},
        {"case(true, 'a')", NULL, "Too few parameters supplied: 'case'"},
    };
    (void)state;
    RUN(tc);
}

static void status_functions(void **state)
{
    static const struct tcase ok[] = {
        {"success()", "true", NULL},
        {"failure()", "false", NULL},
        {"cancelled()", "false", NULL},
        {"always()", "true", NULL},
        {"success() && !cancelled()", "true", NULL},
        {"SUCCESS()", "true", NULL},
        {"success(1)", NULL, "Too many parameters supplied: 'success'"},
    };
    static const struct tcase failed[] = {
        {"success()", "false", NULL},
        {"failure()", "true", NULL},
        {"cancelled()", "false", NULL},
    };
    static const struct tcase cancelled[] = {
        {"success()", "false", NULL},
        {"failure()", "false", NULL},
        {"cancelled()", "true", NULL},
    };
    (void)state;
    assert_int_equal(run_cases(ok, GR_ARRAY_SIZE(ok), "success"), 0);
    assert_int_equal(run_cases(failed, GR_ARRAY_SIZE(failed), "failure"), 0);
    assert_int_equal(run_cases(cancelled, GR_ARRAY_SIZE(cancelled), "cancelled"), 0);
}

/* ParseException texts and positions; testdata/syntax-errors.json */
static void parse_errors(void **state)
{
    static const struct tcase tc[] = {
        {"1 <", NULL,
         "Unexpected end of expression: '<'. Located at position 3 within expression: 1 <"},
        {"1 < )", NULL, "Unexpected symbol: ')'. Located at position 5 within expression: 1 < )"},
        {"> 1", NULL, "Unexpected symbol: '>'. Located at position 1"},
        {"github.()", NULL, "Unexpected symbol: '('. Located at position 8"},
        {"endswith(1, 2 a)", NULL, "Unexpected symbol: 'a'. Located at position 15"},
        {"(1,", NULL, "Unexpected symbol: ','. Located at position 3"},
        {"1 2", NULL, "Unexpected symbol: '2'. Located at position 3"},
        {"tojson(1)2", NULL, "Unexpected symbol: '2'. Located at position 10"},
        {"1 = < 2", NULL, "Unexpected symbol: '='. Located at position 3"},
        {"1 =2 =3", NULL, "Unexpected symbol: '=2'. Located at position 3"},
        {"1 @abc 2", NULL, "Unexpected symbol: '@abc'. Located at position 3"},
        {"'foo", NULL, "Unexpected symbol: ''foo'. Located at position 1"},
        {" true ||( false && false", NULL,
         "Unexpected end of expression: 'false'. Located at position 20"},
        {"\xf0\x9f\x98\x8a Emoji", NULL,
         "Unexpected symbol: '\xf0\x9f\x98\x8a'. Located at position 1"},
        {"'\xf0\x9f\x98\x8a' == x", NULL, "Unrecognized named-value: 'x'. Located at position 9"},
        {"..github/workflow.md", NULL, "Unexpected symbol: '..github/workflow.md'"},
        {"github/workflow.md", NULL, "Unexpected symbol: 'github/workflow'"},
        {"nonExistentFunction()", NULL,
         "Unrecognized function: 'nonExistentFunction'. Located at position 1"},
        {"false && foo(1)", NULL, "Unrecognized function: 'foo'. Located at position 10"},
        {"matrix.0", NULL, "Unexpected symbol: '0'"},
        {"contains('a')", NULL, "Too few parameters supplied: 'contains'. Located at position 1"},
        {"toJSON(1, 2)", NULL, "Too many parameters supplied: 'toJSON'"},
        {"format(", NULL, "Unexpected end of expression: '('"},
        {"github[", NULL, "Unexpected end of expression: '['"},
        {"contains", NULL, "Unrecognized named-value: 'contains'"},
        {"github.a b", NULL, "Unexpected symbol: 'b'"},
        {"a.*b", NULL, "Unrecognized named-value: 'a'"},
        {"github.*b", NULL, "Unexpected symbol: 'b'"},
    };
    (void)state;
    RUN(tc);
}

static int parse_err(const char *src, unsigned ctx, unsigned fn, struct gr_diag *d)
{
    struct ex_expr *e = NULL;
    int r = ex_expr_parse(src, strlen(src), ctx, fn, &e, d);
    ex_expr_free(e);
    return r;
}

static void allowed_names(void **state)
{
    struct gr_diag d = {0};

    (void)state;
    assert_int_equal(parse_err("github.sha == env.X", EX_CTX_GITHUB, 0, &d), GR_EEXPR);
    assert_string_equal(d.msg, "Unrecognized named-value: 'env'. Located at position 15 within "
                               "expression: github.sha == env.X");
    assert_int_equal(d.col, 15);
    assert_int_equal(parse_err("GITHUB.sha", EX_CTX_GITHUB, 0, &d), 0);
    assert_int_equal(parse_err("success()", EX_CTX_ALL, 0, &d), GR_EEXPR);
    assert_string_equal(d.msg, "Unrecognized function: 'success'. Located at position 1 within "
                               "expression: success()");
    assert_int_equal(parse_err("hashFiles('x')", EX_CTX_ALL, EX_FN_STATUS, &d), GR_EEXPR);
    assert_int_equal(parse_err("hashFiles('x')", EX_CTX_ALL, EX_FN_HASHFILES, &d), 0);
    assert_int_equal(parse_err("format('{0}', 1)", 0, 0, &d), 0);
    assert_int_equal(parse_err("inputs.x", EX_CTX_INPUTS, 0, &d), 0);
    assert_int_equal(parse_err("  ", EX_CTX_ALL, EX_FN_ALL, &d), 0);
    assert_int_equal(ex_ctx_bit("Matrix", 6), EX_CTX_MATRIX);
    assert_int_equal(ex_ctx_bit("nope", 4), 0);
    assert_string_equal(ex_ctx_name(EX_CTX_STRATEGY), "strategy");
}

/* ExpressionConstants.MaxDepth / MaxLength; testdata/syntax-errors.json depth-errors */
static void limits(void **state)
{
    struct gr_diag d = {0};
    char *s = malloc(EX_EXPR_MAX_LEN + 2);
    size_t n = 0;

    (void)state;
    memset(s, '!', 49);
    strcpy(s + 49, "false");
    assert_int_equal(parse_err(s, EX_CTX_ALL, EX_FN_ALL, &d), 0);
    memset(s, '!', 50);
    strcpy(s + 50, "false");
    assert_int_equal(parse_err(s, EX_CTX_ALL, EX_FN_ALL, &d), GR_EEXPR);
    assert_string_equal(d.msg, "Exceeded max expression depth 50");
    /* Flattened || does not add depth. */
    n = 0;
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(s + n, 16, "%s%d", i ? " || " : "", i);
    assert_int_equal(parse_err(s, EX_CTX_ALL, EX_FN_ALL, &d), 0);
    /* Deep grouping makes no nodes: accepted, and no recursion to overflow. */
    memset(s, '(', 10000);
    s[10000] = '1';
    memset(s + 10001, ')', 10000);
    s[20001] = '\0';
    assert_int_equal(parse_err(s, EX_CTX_ALL, EX_FN_ALL, &d), 0);
    /* Deep ! trees are rejected without trouble. */
    memset(s, '!', 20000);
    strcpy(s + 20000, "true");
    assert_int_equal(parse_err(s, EX_CTX_ALL, EX_FN_ALL, &d), GR_EEXPR);
    memset(s, ' ', EX_EXPR_MAX_LEN + 1);
    s[EX_EXPR_MAX_LEN + 1] = '\0';
    assert_int_equal(parse_err(s, EX_CTX_ALL, EX_FN_ALL, &d), GR_EEXPR);
    assert_string_equal(d.msg, "Exceeded max expression length 21000");
    free(s);
}

static void memory_limit(void **state)
{
    struct gr_buf b = GR_BUF_INIT(0);
    struct ex_eval_env env = {0};
    struct gr_diag d = {0};
    json_t *v = NULL;

    (void)state;
    assert_int_equal(gr_buf_adds(&b, "format('"), 0);
    for (int i = 0; i < 40; i++)
        assert_int_equal(gr_buf_adds(&b, "{0}"), 0);
    assert_int_equal(gr_buf_adds(&b,
                                 "', format('{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}', "
                                 "format('{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}', "
                                 "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')))"),
                     0);
    assert_int_equal(ex_expr_eval_str(b.ptr, &env, &v, &d), GR_EEXPR);
    assert_non_null(strstr(d.msg, "The maximum allowed memory size was exceeded"));
    gr_buf_release(&b);
}

static void uses_status(void **state)
{
    static const struct {
        const char *src;
        bool want;
    } tc[] = {
        {"github.x", false},
        {"always()", true},
        {"github.x || FAILURE()", true},
        {"format('{0}', cancelled())", true},
        {"contains(github.x, 'success')", false},
    };
    (void)state;
    for (size_t i = 0; i < GR_ARRAY_SIZE(tc); i++) {
        struct ex_expr *e = NULL;
        assert_int_equal(
            ex_expr_parse(tc[i].src, strlen(tc[i].src), EX_CTX_ALL, EX_FN_ALL, &e, NULL), 0);
        assert_int_equal(ex_expr_uses_status(e), tc[i].want);
        ex_expr_free(e);
    }
}

/* TemplateReader.ParseScalar */
static void templates(void **state)
{
    json_t *ctx = test_ctx();
    struct ex_eval_env env = {.contexts = ctx};
    struct gr_diag d = {0};
    json_t *v = NULL;
    char *s;

    (void)state;
    assert_true(ex_tmpl_has_expr("a ${{ b }}"));
    assert_false(ex_tmpl_has_expr("a $ {{ b }}"));
    assert_int_equal(ex_tmpl_eval("${{ matrix.node }}", &env, &v, &d), 0);
    assert_true(json_is_integer(v) && json_integer_value(v) == 18);
    json_decref(v);
    assert_int_equal(ex_tmpl_eval("${{ github.arr }}", &env, &v, &d), 0);
    assert_true(json_is_array(v));
    json_decref(v);
    assert_int_equal(ex_tmpl_eval("v${{ matrix.node }}-${{ github.f }}${{ github.nul }}!${{ "
                                  "github.obj }}",
                                  &env, &v, &d),
                     0);
    assert_string_equal(json_string_value(v), "v18-1.5!Object");
    json_decref(v);
    assert_int_equal(ex_tmpl_eval("${{ matrix.node }}\n", &env, &v, &d), 0);
    assert_string_equal(json_string_value(v), "18\n");
    json_decref(v);
    assert_int_equal(ex_tmpl_eval("a ${{ '}}' }} b ${{ 'x''}}' }}", &env, &v, &d), 0);
    assert_string_equal(json_string_value(v), "a }} b x'}}");
    json_decref(v);
    assert_int_equal(ex_tmpl_eval("plain {{ text }}", &env, &v, &d), 0);
    assert_string_equal(json_string_value(v), "plain {{ text }}");
    json_decref(v);
    assert_int_equal(ex_tmpl_eval("x ${{ github.arr ", &env, &v, &d), GR_EEXPR);
    assert_non_null(strstr(d.msg, "The expression is not closed. An unescaped ${{ sequence was "
                                  "found, but the closing }} sequence was not found."));
    assert_int_equal(d.col, 3);
    assert_int_equal(ex_tmpl_eval("x ${{ }}", &env, &v, &d), GR_EEXPR);
    assert_string_equal(d.msg, "An expression was expected");
    assert_int_equal(ex_tmpl_check("ab ${{ github.x }} ${{ env.y }}", EX_CTX_GITHUB, 0, &d),
                     GR_EEXPR);
    assert_non_null(strstr(d.msg, "Unrecognized named-value: 'env'. Located at position 1"));
    assert_int_equal(d.col, 24);
    assert_int_equal(ex_tmpl_check("ab ${{ github.x }}", EX_CTX_GITHUB, 0, &d), 0);
    v = json_string("x");
    s = ex_value_to_string(v);
    assert_string_equal(s, "x");
    free(s);
    json_decref(v);
    json_decref(ctx);
}

static void if_conditions(void **state)
{
    static const struct {
        const char *cond;
        const char *status;
        bool want;
    } tc[] = {
        {"", NULL, true},
        {"  ", "failure", false},
        {"github.event_name == 'push'", NULL, true},
        {"github.event_name == 'push'", "failure", false},
        {"${{ github.event_name == 'push' }}", NULL, true},
        {"  ${{ github.event_name == 'pull' }}  ", NULL, false},
        {"always()", "cancelled", true},
        {"failure()", "failure", true},
        {"failure()", NULL, false},
        {"${{ cancelled() }}", "cancelled", true},
        {"!cancelled()", "failure", true},
        {"github.nul", NULL, false},
        {"github.f", NULL, true},
        {"fromJSON('bad')", "failure", false}, /* success() && ... never reaches the error */
        {"${{ github.event_name }} == 'x'", NULL, true}, /* a non-empty string */
        {"${{ github.empty }}", NULL, false},
    };
    json_t *ctx = test_ctx();

    (void)state;
    for (size_t i = 0; i < GR_ARRAY_SIZE(tc); i++) {
        struct ex_eval_env env = {.contexts = ctx, .status = tc[i].status};
        struct gr_diag d = {0};
        bool got = !tc[i].want;
        int r = ex_if_eval(tc[i].cond, &env, &got, &d);
        if (r < 0 || got != tc[i].want)
            printf("FAIL if '%s' (%s): r=%d got=%d %s\n", tc[i].cond, tc[i].status, r, got, d.msg);
        assert_int_equal(r, 0);
        assert_int_equal(got, tc[i].want);
    }
    {
        struct ex_eval_env env = {.contexts = ctx};
        struct gr_diag d = {0};
        bool got;
        assert_int_equal(ex_if_eval("fromJSON('bad')", &env, &got, &d), GR_EEXPR);
        assert_int_equal(ex_if_eval("github.x ==", &env, &got, &d), GR_EEXPR);
        assert_non_null(strstr(d.msg, "Unexpected end of expression"));
    }
    json_decref(ctx);
}

static void results_by_reference(void **state)
{
    json_t *ctx = test_ctx();
    struct ex_eval_env env = {.contexts = ctx};
    json_t *v = NULL;

    (void)state;
    assert_int_equal(ex_expr_eval_str("github.obj", &env, &v, NULL), 0);
    assert_ptr_equal(v, json_object_get(json_object_get(ctx, "github"), "obj"));
    json_decref(v);
    assert_int_equal(
        ex_expr_eval_str("github.nul || github.event.head_commit.message", &env, &v, NULL), 0);
    assert_ptr_equal(
        v, json_object_get(json_object_get(json_object_get(json_object_get(ctx, "github"), "event"),
                                           "head_commit"),
                           "message"));
    json_decref(v);
    /* A fromJSON value outlives the evaluation that made it. */
    assert_int_equal(ex_expr_eval_str("fromJSON('{\"a\": [1, 2]}').a", &env, &v, NULL), 0);
    assert_int_equal(json_array_size(v), 2);
    json_decref(v);
    assert_int_equal(ex_expr_eval_str("", &env, &v, NULL), 0);
    assert_true(json_is_null(v));
    json_decref(ctx);
}

static size_t json_allocs;

static void *counting_malloc(size_t n)
{
    json_allocs++;
    return malloc(n);
}

/* Lookups, comparisons and logic allocate nothing: no jansson value is made. */
static void no_alloc_lookups(void **state)
{
    static const char *const srcs[] = {
        "github.event_name == 'push' && startsWith(github.ref, 'refs/tags/')",
        "steps.build.outputs.version",
        "contains(github.event.head_commit.message, '[skip ci]')",
        "needs.plan.result != 'failure' || github.nul",
        "matrix.os == 'UBUNTU-latest'",
    };
    json_t *ctx = test_ctx();
    struct ex_eval_env env = {.contexts = ctx};
    struct ex_expr *e[GR_ARRAY_SIZE(srcs)];

    (void)state;
    for (size_t i = 0; i < GR_ARRAY_SIZE(srcs); i++)
        assert_int_equal(
            ex_expr_parse(srcs[i], strlen(srcs[i]), EX_CTX_ALL, EX_FN_ALL, &e[i], NULL), 0);
    json_set_alloc_funcs(counting_malloc, free);
    json_allocs = 0;
    for (int k = 0; k < 100; k++) {
        for (size_t i = 0; i < GR_ARRAY_SIZE(srcs); i++) {
            json_t *v = NULL;
            assert_int_equal(ex_expr_eval(e[i], &env, &v, NULL), 0);
            json_decref(v);
        }
    }
    json_set_alloc_funcs(malloc, free);
    assert_int_equal(json_allocs, 0);
    for (size_t i = 0; i < GR_ARRAY_SIZE(srcs); i++)
        ex_expr_free(e[i]);
    json_decref(ctx);
}

static void value_helpers(void **state)
{
    json_t *o = json_pack("{s:i, s:s}", "Name", 1, "other", "x");
    json_t *r = json_real(2.5);
    json_t *i = json_integer(-7);
    char *s;

    (void)state;
    assert_ptr_equal(ex_value_get(o, "name"), json_object_get(o, "Name"));
    assert_ptr_equal(ex_value_get(o, "OTHER"), json_object_get(o, "other"));
    assert_null(ex_value_get(o, "missing"));
    assert_null(ex_value_get(r, "x"));
    s = ex_value_to_string(r);
    assert_string_equal(s, "2.5");
    free(s);
    s = ex_value_to_string(i);
    assert_string_equal(s, "-7");
    free(s);
    s = ex_value_to_string(json_null());
    assert_string_equal(s, "");
    free(s);
    s = ex_value_to_string(o);
    assert_string_equal(s, "Object");
    free(s);
    s = ex_value_to_json(o);
    assert_string_equal(s, "{\n  \"Name\": 1,\n  \"other\": \"x\"\n}");
    free(s);
    assert_true(ex_value_truthy(o));
    assert_false(ex_value_truthy(json_null()));
    assert_false(ex_value_truthy(NULL));
    json_decref(o);
    json_decref(r);
    json_decref(i);
}

/* ---- hashFiles --------------------------------------------------------- */

static void put(const char *dir, const char *rel, const char *text)
{
    char *path = gr_path_join(dir, rel);
    char *slash = strrchr(path, '/');

    *slash = '\0';
    assert_int_equal(gr_mkdir_p(path, 0755), 0);
    *slash = '/';
    assert_int_equal(gr_file_write_atomic(path, text, strlen(text), 0644), 0);
    free(path);
}

/* sha256 over the sha256 of each file's text, in order: what hashFiles.ts computes. */
static void expect_hash(const char *const *texts, size_t n, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE], inner[EVP_MAX_MD_SIZE];
    unsigned len = 0, ilen = 0;
    EVP_MD_CTX *outer = EVP_MD_CTX_new();

    EVP_DigestInit_ex(outer, EVP_sha256(), NULL);
    for (size_t i = 0; i < n; i++) {
        EVP_Digest(texts[i], strlen(texts[i]), inner, &ilen, EVP_sha256(), NULL);
        EVP_DigestUpdate(outer, inner, ilen);
    }
    EVP_DigestFinal_ex(outer, md, &len);
    EVP_MD_CTX_free(outer);
    for (unsigned i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void check_hash(const char *ws, const char *expr, const char *const *texts, size_t n)
{
    struct ex_eval_env env = {.workspace = ws};
    struct gr_diag d = {0};
    char want[65] = "";
    json_t *v = NULL;

    if (n)
        expect_hash(texts, n, want);
    if (ex_expr_eval_str(expr, &env, &v, &d) < 0)
        printf("FAIL %s: %s\n", expr, d.msg);
    assert_non_null(v);
    if (strcmp(json_string_value(v), want) != 0)
        printf("FAIL %s: want '%s' got '%s'\n", expr, want, json_string_value(v));
    assert_string_equal(json_string_value(v), want);
    json_decref(v);
}

static void hash_files(void **state)
{
    char tmpl[] = "/tmp/ex_expr_hashXXXXXX";
    char *base = mkdtemp(tmpl);
    char *ws;
    struct ex_eval_env env = {0};
    struct gr_diag d = {0};
    json_t *v = NULL;

    (void)state;
    assert_non_null(base);
    ws = gr_path_join(base, "ws");
    put(ws, "a/b.txt", "one");
    put(ws, "a-c.txt", "two");
    put(ws, "x.md", "three");
    put(ws, ".hidden/h.txt", "four");
    put(ws, "node_modules/m.txt", "five");
    put(base, "outside.txt", "six");
    /* Depth-first, entries in byte order: "a" (and a/b.txt) before "a-c.txt". */
    check_hash(ws, "hashFiles('**/*.txt')", (const char *const[]){"four", "one", "two", "five"}, 4);
    check_hash(ws, "hashFiles('**/*.txt', '!node_modules/**')",
               (const char *const[]){"four", "one", "two"}, 3);
    check_hash(ws, "hashFiles('**/*.txt\n!node_modules\n# comment')",
               (const char *const[]){"four", "one", "two"}, 3);
    check_hash(ws, "hashFiles('a')", (const char *const[]){"one"}, 1);
    check_hash(ws, "hashFiles('./x.md')", (const char *const[]){"three"}, 1);
    check_hash(ws, "hashFiles('--follow-symbolic-links', '*.md', 'a/*')",
               (const char *const[]){"one", "three"}, 2);
    check_hash(ws, "hashFiles('nomatch*')", NULL, 0);
    check_hash(ws, "hashFiles('../*.txt')", NULL, 0);
    check_hash(ws, "hashFiles('**/*.TXT')", NULL, 0);
    /* Links: a link to a file is hashed through; a link to a directory is not walked unless
     * links are followed; a broken link fails as the runner's node script does. */
    {
        char *target = gr_path_join(ws, "a"), *link = gr_path_join(ws, "z-link");
        char *flink = gr_path_join(ws, "y.txt");
        assert_int_equal(symlink(target, link), 0);
        assert_int_equal(symlink("x.md", flink), 0);
        check_hash(ws, "hashFiles('y.txt')", (const char *const[]){"three"}, 1);
        check_hash(ws, "hashFiles('z-link/**')", NULL, 0);
        check_hash(ws, "hashFiles('--follow-symbolic-links', 'z-link/**')",
                   (const char *const[]){"one"}, 1);
        assert_int_equal(unlink(flink), 0);
        assert_int_equal(symlink("missing", flink), 0);
        env.workspace = ws;
        assert_int_equal(ex_expr_eval_str("hashFiles('*.txt')", &env, &v, &d), GR_EEXPR);
        assert_int_equal(unlink(flink), 0);
        free(target);
        free(link);
        free(flink);
    }
    env.workspace = ws;
    assert_int_equal(ex_expr_eval_str("hashFiles('--bad', 'x')", &env, &v, &d), GR_EEXPR);
    assert_non_null(strstr(d.msg, "Invalid glob option --bad"));
    assert_int_equal(ex_expr_eval_str("hashFiles('a/../x')", &env, &v, &d), GR_EEXPR);
    assert_non_null(strstr(d.msg, "hashFiles('a/../x') failed. Fail to hash files under"));
    env.workspace = NULL;
    assert_int_equal(ex_expr_eval_str("hashFiles('x')", &env, &v, &d), GR_EEXPR);
    assert_int_equal(gr_rm_rf(base), 0);
    free(ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(literals),         cmocka_unit_test(number_format),
        cmocka_unit_test(operators),        cmocka_unit_test(coercion),
        cmocka_unit_test(indexing),         cmocka_unit_test(string_functions),
        cmocka_unit_test(format_function),  cmocka_unit_test(json_functions),
        cmocka_unit_test(case_function),    cmocka_unit_test(status_functions),
        cmocka_unit_test(parse_errors),     cmocka_unit_test(allowed_names),
        cmocka_unit_test(limits),           cmocka_unit_test(memory_limit),
        cmocka_unit_test(uses_status),      cmocka_unit_test(templates),
        cmocka_unit_test(if_conditions),    cmocka_unit_test(value_helpers),
        cmocka_unit_test(hash_files),       cmocka_unit_test(results_by_reference),
        cmocka_unit_test(no_alloc_lookups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
