/* Unit tests for executor/commands.c: workflow commands and file commands. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ex/commands.h"

/* ---- helpers ----------------------------------------------------------- */

static struct ex_cmd parse(struct ex_cmd_state *st, const char *line)
{
    struct ex_cmd c;
    assert_int_equal(ex_cmd_parse(st, line, strlen(line), &c), 0);
    return c;
}

/* Parse with a fresh state and check the kind. */
static struct ex_cmd parse1(const char *line, enum ex_cmd_kind kind)
{
    struct ex_cmd_state st = {0};
    struct ex_cmd c = parse(&st, line);
    assert_int_equal(c.kind, kind);
    ex_cmd_state_release(&st);
    return c;
}

static void assert_plain(struct ex_cmd_state *st, const char *line)
{
    struct ex_cmd c = parse(st, line);
    assert_int_equal(c.kind, EX_CMD_NONE);
    assert_true(c.print_line);
    assert_null(c.name);
    assert_null(c.error);
    ex_cmd_release(&c);
}

static void assert_kind(struct ex_cmd_state *st, const char *line, enum ex_cmd_kind kind)
{
    struct ex_cmd c = parse(st, line);
    assert_int_equal(c.kind, kind);
    ex_cmd_release(&c);
}

/* ---- parsing ----------------------------------------------------------- */

static void plain_lines(void **state)
{
    struct ex_cmd_state st = {0};
    static const char *const lines[] = {
        "hello",           "",     ":: not a command", "::unknown::x", ":error::x", "::error",
        "echo ::error::x", "::::", ":: error::x",      "##[error",     "##[nope]x", "::error-x::y",
    };
    size_t i;

    (void)state;
    for (i = 0; i < GR_ARRAY_SIZE(lines); i++)
        assert_plain(&st, lines[i]);
    ex_cmd_state_release(&st);
}

static void leading_whitespace_and_case(void **state)
{
    struct ex_cmd c;

    (void)state;
    c = parse1("   ::warning::w", EX_CMD_WARNING);
    assert_string_equal(c.message, "w");
    ex_cmd_release(&c);
    c = parse1("\t\r::debug::d", EX_CMD_DEBUG);
    ex_cmd_release(&c);
    c = parse1("\xC2\xA0\xE2\x80\x83::notice::n", EX_CMD_NOTICE); /* NBSP, EM SPACE */
    ex_cmd_release(&c);
    c = parse1("::ERROR::x", EX_CMD_ERROR);
    assert_string_equal(c.name, "ERROR");
    ex_cmd_release(&c);
}

static void annotation_properties(void **state)
{
    struct ex_cmd c;

    (void)state;
    c = parse1("::error file=app.js,line=10,col=15,endLine=10,endColumn=20,title=A%2C B%3A C"
               "::Missing semicolon%0Anext%25",
               EX_CMD_ERROR);
    assert_string_equal(c.name, "error");
    assert_string_equal(c.file, "app.js");
    assert_string_equal(c.title, "A, B: C");
    assert_string_equal(c.message, "Missing semicolon\nnext%");
    assert_int_equal(c.line, 10);
    assert_int_equal(c.col, 15);
    assert_int_equal(c.end_line, 10);
    assert_int_equal(c.end_col, 20);
    assert_false(c.print_line);
    assert_null(c.error);
    ex_cmd_release(&c);

    /* keys are case-insensitive, the last duplicate wins, the list is trimmed */
    c = parse1("::warning   FILE=a,File=b,LINE= 2 ,title=,junk,=x::m::n", EX_CMD_WARNING);
    assert_string_equal(c.file, "b");
    assert_int_equal(c.line, 2);
    assert_null(c.title);
    assert_string_equal(c.message, "m::n");
    ex_cmd_release(&c);

    /* .NET Core Split('=', 2, RemoveEmptyEntries): extra '=' after the key are dropped */
    c = parse1("::error file==x=y::m", EX_CMD_ERROR);
    assert_string_equal(c.file, "x=y");
    ex_cmd_release(&c);
}

static void data_escaping(void **state)
{
    struct ex_cmd c;

    (void)state;
    /* data does not unescape %3A and %2C; %250A is a literal %0A */
    c = parse1("::debug::a%3Ab%2Cc%25 %250A %0D%0A", EX_CMD_DEBUG);
    assert_string_equal(c.message, "a%3Ab%2Cc% %0A \r\n");
    ex_cmd_release(&c);
    c = parse1("::error title=%250A%3a::x", EX_CMD_ERROR);
    assert_string_equal(c.title, "%0A%3a"); /* escapes are case-sensitive */
    ex_cmd_release(&c);
}

static void escape_round_trip(void **state)
{
    char *e, *u;
    unsigned seed = 99;
    int round;

    (void)state;
    e = ex_cmd_escape_data("a%b\r\nc:,", 9);
    assert_string_equal(e, "a%25b%0D%0Ac:,");
    free(e);
    e = ex_cmd_escape_prop("a:b,c%\n", 7);
    assert_string_equal(e, "a%3Ab%2Cc%25%0A");
    free(e);
    for (round = 0; round < 500; round++) {
        static const char alphabet[] = "%0ADC32:,\r\na5";
        char s[24];
        size_t n = (size_t)round % sizeof(s), i;
        for (i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            s[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        e = ex_cmd_escape_prop(s, n);
        u = ex_cmd_unescape_prop(e, strlen(e));
        assert_int_equal(strlen(u), n);
        assert_memory_equal(u, s, n);
        free(e);
        free(u);
        e = ex_cmd_escape_data(s, n);
        u = ex_cmd_unescape_data(e, strlen(e));
        assert_memory_equal(u, s, n);
        free(e);
        free(u);
    }
}

static void position_repair(void **state)
{
    struct {
        const char *props;
        int line, end_line, col, end_col;
    } cases[] = {
        {"endLine=5", 5, 5, 0, 0},
        {"col=3", 0, 0, 0, 0},
        {"endColumn=4", 0, 0, 0, 0},
        {"line=7,endColumn=4", 7, 0, 4, 4},
        {"line=1,endLine=3,col=2", 1, 3, 0, 0},
        {"line=5,endLine=3", 0, 0, 0, 0},
        {"line=2,col=9,endColumn=4", 2, 0, 0, 0},
        {"line=abc,col=1", 0, 0, 0, 0},
        {"line=2,endLine=2,col=1,endColumn=4", 2, 2, 1, 4},
        {"line=99999999999", 0, 0, 0, 0},
        {"line=-3", -3, 0, 0, 0},
        {"line=+4", 4, 0, 0, 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < GR_ARRAY_SIZE(cases); i++) {
        char *line = gr_xasprintf("::error %s::m", cases[i].props);
        struct ex_cmd c = parse1(line, EX_CMD_ERROR);
        assert_int_equal(c.line, cases[i].line);
        assert_int_equal(c.end_line, cases[i].end_line);
        assert_int_equal(c.col, cases[i].col);
        assert_int_equal(c.end_col, cases[i].end_col);
        ex_cmd_release(&c);
        free(line);
    }
}

static void group_and_mask(void **state)
{
    struct ex_cmd c;

    (void)state;
    c = parse1("::group::My title", EX_CMD_GROUP);
    assert_string_equal(c.message, "My title");
    assert_false(c.print_line);
    ex_cmd_release(&c);
    c = parse1("::endgroup::", EX_CMD_ENDGROUP);
    assert_string_equal(c.message, "");
    ex_cmd_release(&c);
    c = parse1("::add-mask::s3cret%0Aline2", EX_CMD_ADD_MASK);
    assert_string_equal(c.message, "s3cret\nline2");
    assert_false(c.print_line);
    assert_null(c.warning);
    ex_cmd_release(&c);
    c = parse1("::add-mask::  ", EX_CMD_ADD_MASK);
    assert_string_equal(c.warning,
                        "Can't add secret mask for empty string in ##[add-mask] command.");
    ex_cmd_release(&c);
}

static void echo_command(void **state)
{
    struct ex_cmd_state st = {0};
    struct ex_cmd c;

    (void)state;
    c = parse(&st, "::echo::on");
    assert_int_equal(c.kind, EX_CMD_ECHO);
    assert_false(c.print_line); /* echo was off when the command came */
    assert_true(st.echo);
    ex_cmd_release(&c);
    c = parse(&st, "::error::x");
    assert_false(c.print_line); /* error omits the echo */
    ex_cmd_release(&c);
    c = parse(&st, "::group::g");
    assert_true(c.print_line);
    ex_cmd_release(&c);
    c = parse(&st, "::add-mask::secret");
    assert_false(c.print_line); /* the runner prints ::add-mask::*** instead */
    ex_cmd_release(&c);
    c = parse(&st, "::echo:: OFF ");
    assert_true(c.print_line);
    assert_false(st.echo);
    ex_cmd_release(&c);
    c = parse(&st, "::echo::maybe");
    assert_string_equal(c.error, "Invalid echo command value. Possible values can be: 'on', "
                                 "'off'. Current value is: 'maybe'.");
    ex_cmd_release(&c);
    c = parse(&st, "::echo::");
    assert_non_null(c.error);
    ex_cmd_release(&c);
    ex_cmd_state_release(&st);
}

static void stop_and_resume(void **state)
{
    struct ex_cmd_state st = {0};
    struct ex_cmd c;

    (void)state;
    c = parse(&st, "::stop-commands::tok123");
    assert_int_equal(c.kind, EX_CMD_STOP_COMMANDS);
    assert_string_equal(c.message, "tok123");
    assert_true(c.print_line);
    assert_null(c.error);
    ex_cmd_release(&c);
    assert_string_equal(st.stop_token, "tok123");
    assert_plain(&st, "::error::x");
    assert_plain(&st, "::stop-commands::other");
    assert_plain(&st, "::tok12::");
    c = parse(&st, "  ::TOK123:: ");
    assert_int_equal(c.kind, EX_CMD_RESUME_COMMANDS);
    assert_true(c.print_line);
    ex_cmd_release(&c);
    assert_null(st.stop_token);
    assert_kind(&st, "::error::x", EX_CMD_ERROR);
    /* the token is unregistered again after the resume */
    assert_plain(&st, "::tok123::");

    /* legacy form resumes too */
    assert_kind(&st, "::stop-commands::abc", EX_CMD_STOP_COMMANDS);
    assert_plain(&st, "##[error]x");
    assert_kind(&st, "text ##[abc]", EX_CMD_RESUME_COMMANDS);
    ex_cmd_state_release(&st);
}

static void stop_invalid_tokens(void **state)
{
    static const char *const bad[] = {
        "::stop-commands::",
        "::stop-commands::error",
        "::stop-commands::Pause-Logging",
        "::stop-commands::stop-commands",
        "::stop-commands::SET-OUTPUT",
    };
    struct ex_cmd_state st = {0};
    size_t i;

    (void)state;
    for (i = 0; i < GR_ARRAY_SIZE(bad); i++) {
        struct ex_cmd c = parse(&st, bad[i]);
        assert_int_equal(c.kind, EX_CMD_STOP_COMMANDS);
        assert_non_null(c.error);
        assert_true(strstr(c.error, "You cannot use a endToken") == c.error);
        assert_false(c.print_line);
        assert_null(st.stop_token);
        ex_cmd_release(&c);
    }
    assert_kind(&st, "::error::still works", EX_CMD_ERROR);
    ex_cmd_state_release(&st);
}

static void stop_unsecure_tokens(void **state)
{
    struct ex_cmd_state st = {.allow_unsecure_stop_tokens = true};
    struct ex_cmd c;

    (void)state;
    c = parse(&st, "::stop-commands::error");
    assert_null(c.error);
    ex_cmd_release(&c);
    assert_plain(&st, "::warning::x");
    assert_kind(&st, "::error::", EX_CMD_RESUME_COMMANDS);
    /* as in the runner, resuming unregisters the command named like the token */
    assert_plain(&st, "::error::x");
    assert_kind(&st, "::warning::w", EX_CMD_WARNING);
    ex_cmd_state_release(&st);

    /* an empty token (allowed) never resumes */
    st = (struct ex_cmd_state){.allow_unsecure_stop_tokens = true};
    assert_kind(&st, "::stop-commands::", EX_CMD_STOP_COMMANDS);
    assert_plain(&st, "::::");
    assert_plain(&st, "::error::");
    ex_cmd_state_release(&st);
}

static void deprecated_commands(void **state)
{
    struct ex_cmd_state st = {0};
    struct ex_cmd c;

    (void)state;
    c = parse(&st, "::set-output name=foo::bar%0Abaz");
    assert_int_equal(c.kind, EX_CMD_SET_OUTPUT);
    assert_string_equal(c.prop_name, "foo");
    assert_string_equal(c.message, "bar\nbaz");
    assert_null(c.error);
    ex_cmd_release(&c);
    c = parse(&st, "::set-output::bar");
    assert_string_equal(c.error, "Required field 'name' is missing in ##[set-output] command.");
    ex_cmd_release(&c);
    c = parse(&st, "::save-state name=pid::42");
    assert_int_equal(c.kind, EX_CMD_SAVE_STATE);
    assert_string_equal(c.prop_name, "pid");
    ex_cmd_release(&c);
    c = parse(&st, "::save-state nme=pid::42");
    assert_string_equal(c.error, "Required field 'name' is missing in ##[save-state] command.");
    ex_cmd_release(&c);

    c = parse(&st, "::set-env name=A::b");
    assert_int_equal(c.kind, EX_CMD_SET_ENV);
    assert_non_null(c.error);
    assert_true(strstr(c.error, "The `set-env` command is disabled.") == c.error);
    char *fm = ex_cmd_failure_message(&c, "::set-env name=A::b", 19);
    assert_string_equal(fm, "Unable to process command '::set-env name=A::b' successfully.");
    free(fm);
    ex_cmd_release(&c);
    c = parse(&st, "::add-path::/opt/bin");
    assert_true(strstr(c.error, "The `add-path` command is disabled.") == c.error);
    ex_cmd_release(&c);

    st.allow_unsecure = true;
    c = parse(&st, "::set-env name=A::b");
    assert_null(c.error);
    assert_string_equal(c.prop_name, "A");
    assert_string_equal(c.message, "b");
    ex_cmd_release(&c);
    c = parse(&st, "::set-env::b");
    assert_string_equal(c.error, "Required field 'name' is missing in ##[set-env] command.");
    ex_cmd_release(&c);
    c = parse(&st, "::add-path::/opt/bin");
    assert_int_equal(c.kind, EX_CMD_ADD_PATH);
    assert_null(c.error);
    assert_string_equal(c.message, "/opt/bin");
    ex_cmd_release(&c);
    c = parse(&st, "::add-path::");
    assert_non_null(c.error);
    ex_cmd_release(&c);
    ex_cmd_state_release(&st);
}

static void failure_message_names_omitted_commands(void **state)
{
    struct ex_cmd c = {.name = "error", .omit_echo = true};
    char *fm;

    (void)state;
    fm = ex_cmd_failure_message(&c, "::error::secret", 15);
    assert_string_equal(fm, "Unable to process command 'error' successfully.");
    free(fm);
}

static void legacy_form(void **state)
{
    struct ex_cmd c;

    (void)state;
    c = parse1("foo ##[error file=a.c;line=3;col=%5D]oops%3B%5D", EX_CMD_ERROR);
    assert_string_equal(c.file, "a.c");
    assert_int_equal(c.line, 3);
    assert_string_equal(c.message, "oops;]");
    ex_cmd_release(&c);
    c = parse1("##[warning]w", EX_CMD_WARNING);
    assert_string_equal(c.message, "w");
    ex_cmd_release(&c);
    /* the "::" parser fails on an unknown name; the legacy one still finds ##[debug] */
    c = parse1("::nope::##[debug]x", EX_CMD_DEBUG);
    assert_string_equal(c.message, "x");
    ex_cmd_release(&c);
}

static void matchers(void **state)
{
    struct ex_cmd c;

    (void)state;
    c = parse1("::add-matcher::.github/eslint.json", EX_CMD_ADD_MATCHER);
    assert_string_equal(c.message, ".github/eslint.json");
    assert_null(c.warning);
    ex_cmd_release(&c);
    c = parse1("::add-matcher::", EX_CMD_ADD_MATCHER);
    assert_string_equal(c.warning, "File path must be specified.");
    ex_cmd_release(&c);
    c = parse1("::remove-matcher owner=eslint::", EX_CMD_REMOVE_MATCHER);
    assert_string_equal(c.owner, "eslint");
    assert_null(c.warning);
    ex_cmd_release(&c);
    c = parse1("::remove-matcher::", EX_CMD_REMOVE_MATCHER);
    assert_non_null(c.warning);
    ex_cmd_release(&c);
    c = parse1("::remove-matcher owner=x::file.json", EX_CMD_REMOVE_MATCHER);
    assert_non_null(c.warning);
    ex_cmd_release(&c);
}

static void bad_arguments(void **state)
{
    struct ex_cmd_state st = {0};
    struct ex_cmd c;

    (void)state;
    assert_int_equal(ex_cmd_parse(NULL, "x", 1, &c), -EINVAL);
    assert_int_equal(ex_cmd_parse(&st, "x", 1, NULL), -EINVAL);
    assert_int_equal(ex_cmd_parse(&st, NULL, 1, &c), -EINVAL);
    /* NUL bytes in a line are kept in the data */
    assert_int_equal(ex_cmd_parse(&st, "::debug::a\0b", 12, &c), 0);
    assert_int_equal(c.kind, EX_CMD_DEBUG);
    ex_cmd_release(&c);
    ex_cmd_release(NULL);
    ex_cmd_state_release(NULL);
}

/* ---- file commands ------------------------------------------------------ */

static json_t *kv_ok(const char *text)
{
    json_t *o = json_object();
    struct gr_diag d = {0};
    int r = ex_filecmd_parse_kv("envfile", text, strlen(text), o, &d);
    if (r != 0)
        fail_msg("unexpected error: %s", d.msg);
    return o;
}

static void assert_kv(json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);
    assert_non_null(v);
    assert_string_equal(json_string_value(v), want);
}

static void assert_kv_error(const char *text, int line, const char *msg)
{
    json_t *o = json_object();
    struct gr_diag d = {0};

    assert_int_equal(ex_filecmd_parse_kv("/tmp/set_env_1", text, strlen(text), o, &d), GR_EPARSE);
    assert_string_equal(d.msg, msg);
    assert_string_equal(d.file, "/tmp/set_env_1");
    assert_int_equal(d.line, line);
    json_decref(o);
}

static void kv_simple(void **state)
{
    json_t *o;

    (void)state;
    o = kv_ok("A=1\nB=x=y<<z\n\n\nC=\nA=2\nD==b");
    assert_kv(o, "A", "2");
    assert_kv(o, "B", "x=y<<z");
    assert_kv(o, "C", "");
    assert_kv(o, "D", "=b");
    assert_int_equal(json_object_size(o), 4);
    json_decref(o);
}

static void kv_heredoc(void **state)
{
    json_t *o;

    (void)state;
    o = kv_ok("M<<EOF\nline1\n\nline2\nEOF\nE<<EOF\nEOF\nX<<EOF\n EOF\nEOFX\nfoo EOF\nEOF");
    assert_kv(o, "M", "line1\n\nline2");
    assert_kv(o, "E", "");
    assert_kv(o, "X", " EOF\nEOFX\nfoo EOF");
    json_decref(o);
    /* '<<' before '=' makes a heredoc whose delimiter holds '=' */
    o = kv_ok("A<<EOF=x\nv=1\nEOF=x\nB=c<<d\n");
    assert_kv(o, "A", "v=1");
    assert_kv(o, "B", "c<<d");
    json_decref(o);
    /* ghadelimiter style with random delimiter and a value containing '=' */
    o = kv_ok("json<<ghadelimiter_1f2e\n{\"a\": \"b=c\"}\nghadelimiter_1f2e\n");
    assert_kv(o, "json", "{\"a\": \"b=c\"}");
    json_decref(o);
}

static void kv_crlf(void **state)
{
    json_t *o;

    (void)state;
    /* on Linux only LF ends a line: CR stays in values and delimiters */
    o = kv_ok("A=1\r\nM<<EOF\r\nv\r\nEOF\r\n");
    assert_kv(o, "A", "1\r");
    assert_kv(o, "M", "v\r");
    json_decref(o);
    assert_kv_error("M<<EOF\r\nv\nEOF\n", 1, "Invalid value. Matching delimiter not found 'EOF\r'");
}

static void kv_errors(void **state)
{
    json_t *o = json_object();
    struct gr_diag d = {0};
    const char *text = "A=1\nJUSTTEXT\nB=2\n";

    (void)state;
    assert_kv_error("M<<EOF\nabc\n", 1, "Invalid value. Matching delimiter not found 'EOF'");
    assert_kv_error("X=1\nM<<EOF\n", 2, "Invalid value. Matching delimiter not found 'EOF'");
    assert_kv_error("M<<EOF\nabc", 2, "Invalid value. EOF marker missing new line.");
    assert_kv_error("=v", 1, "Invalid format '=v'. Name must not be empty");
    assert_kv_error("<<EOF\nx\nEOF\n", 1,
                    "Invalid format '<<EOF'. Name must not be empty and delimiter must not be "
                    "empty");
    assert_kv_error("A<<\n", 1,
                    "Invalid format 'A<<'. Name must not be empty and delimiter must not be empty");
    assert_kv_error("\n\nJUSTTEXT", 3, "Invalid format 'JUSTTEXT'");
    /* entries before the bad line stay applied */
    assert_int_equal(ex_filecmd_parse_kv("f", text, strlen(text), o, &d), GR_EPARSE);
    assert_kv(o, "A", "1");
    assert_null(json_object_get(o, "B"));
    json_decref(o);
    assert_int_equal(ex_filecmd_parse_kv("f", "A=1", 3, NULL, NULL), -EINVAL);
}

static void kv_bom_and_utf8(void **state)
{
    json_t *o;

    (void)state;
    o = kv_ok("\xEF\xBB\xBF"
              "A=\xff ok \xC3\xA9\nB=\xE2\x82");
    assert_kv(o, "A", "\xEF\xBF\xBD ok \xC3\xA9");
    assert_kv(o, "B", "\xEF\xBF\xBD");
    json_decref(o);
    /* NUL inside a value is kept */
    o = json_object();
    assert_int_equal(ex_filecmd_parse_kv("f", "A=x\0y\n", 6, o, NULL), 0);
    assert_int_equal(json_string_length(json_object_get(o, "A")), 3);
    json_decref(o);
}

static void path_file(void **state)
{
    json_t *a = json_pack("[ss]", "/x", "/b");
    const char *text = "/a\n\n/b\r\n/c\r/a\n /d \n";

    (void)state;
    assert_int_equal(ex_filecmd_parse_path(text, strlen(text), a), 0);
    assert_int_equal(json_array_size(a), 5);
    assert_string_equal(json_string_value(json_array_get(a, 0)), "/x");
    assert_string_equal(json_string_value(json_array_get(a, 1)), "/b");
    assert_string_equal(json_string_value(json_array_get(a, 2)), "/c");
    assert_string_equal(json_string_value(json_array_get(a, 3)), "/a");
    assert_string_equal(json_string_value(json_array_get(a, 4)), " /d ");
    assert_int_equal(ex_filecmd_parse_path("", 0, a), 0);
    assert_int_equal(json_array_size(a), 5);
    json_decref(a);
    a = json_object();
    assert_int_equal(ex_filecmd_parse_path("/a", 2, a), -EINVAL);
    json_decref(a);
}

static void path_file_large(void **state)
{
    struct gr_buf b = GR_BUF_INIT(0);
    json_t *a = json_array();
    int i;

    (void)state;
    for (i = 0; i < 100000; i++)
        assert_int_equal(gr_buf_addf(&b, "/p/%d\n", i % 50000), 0);
    assert_int_equal(ex_filecmd_parse_path(b.ptr, b.len, a), 0);
    assert_int_equal(json_array_size(a), 50000);
    assert_string_equal(json_string_value(json_array_get(a, 0)), "/p/0");
    assert_string_equal(json_string_value(json_array_get(a, 49999)), "/p/49999");
    json_decref(a);
    gr_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_lines),
        cmocka_unit_test(leading_whitespace_and_case),
        cmocka_unit_test(annotation_properties),
        cmocka_unit_test(data_escaping),
        cmocka_unit_test(escape_round_trip),
        cmocka_unit_test(position_repair),
        cmocka_unit_test(group_and_mask),
        cmocka_unit_test(echo_command),
        cmocka_unit_test(stop_and_resume),
        cmocka_unit_test(stop_invalid_tokens),
        cmocka_unit_test(stop_unsecure_tokens),
        cmocka_unit_test(deprecated_commands),
        cmocka_unit_test(failure_message_names_omitted_commands),
        cmocka_unit_test(legacy_form),
        cmocka_unit_test(matchers),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(kv_simple),
        cmocka_unit_test(kv_heredoc),
        cmocka_unit_test(kv_crlf),
        cmocka_unit_test(kv_errors),
        cmocka_unit_test(kv_bom_and_utf8),
        cmocka_unit_test(path_file),
        cmocka_unit_test(path_file_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
