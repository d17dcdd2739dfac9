/* Unit tests for executor/report_term.c: the terminal reporter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ex/engine.h"

#define MS 1000000ull
#define SEC 1000000000ull

struct cap {
    FILE *f;
    char *buf;
    size_t len;
    struct ex_term_reporter *t;
    const struct ex_reporter *r;
};

static void cap_open(struct cap *c, bool color, bool verbose)
{
    memset(c, 0, sizeof(*c));
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
    c->t = ex_term_reporter_new(c->f, color, verbose);
    c->r = ex_term_reporter_get(c->t);
    assert_ptr_equal(c->r->ctx, c->t);
}

/* Close the stream and return the text (owned by c until cap_free). */
static const char *cap_text(struct cap *c)
{
    fclose(c->f);
    c->f = NULL;
    return c->buf;
}

static void cap_free(struct cap *c)
{
    if (c->f)
        fclose(c->f);
    ex_term_reporter_free(c->t);
    free(c->buf);
}

static void log_s(struct cap *c, const void *job, const char *s)
{
    c->r->log_line(c->r->ctx, job, s, strlen(s));
}

static int JOB_A, JOB_B, JOB_C; /* addresses as opaque job handles */

static void basic_flow(void **state)
{
    struct cap c;

    (void)state;
    cap_open(&c, false, false);
    c.r->job_started(c.r->ctx, &JOB_A, "build");
    c.r->step_started(c.r->ctx, &JOB_A, 0, "Compile");
    log_s(&c, &JOB_A, "gcc -c a.c");
    log_s(&c, &JOB_A, "\x1b[32mok\x1b[0m done");
    c.r->step_finished(c.r->ctx, &JOB_A, 0, EX_RESULT_SUCCESS, EX_RESULT_SUCCESS, 1234 * MS);
    c.r->step_started(c.r->ctx, &JOB_A, 1, "Test");
    c.r->step_finished(c.r->ctx, &JOB_A, 1, EX_RESULT_FAILURE, EX_RESULT_SUCCESS, 75 * SEC);
    c.r->job_finished(c.r->ctx, &JOB_A, EX_RESULT_SUCCESS, NULL, 3700 * SEC);
    ex_term_reporter_finish(c.t);
    assert_string_equal(cap_text(&c),
                        "[build] 🚀  Start job\n"
                        "[build] ⭐ Run Main Compile\n"
                        "[build]   | gcc -c a.c\n"
                        "[build]   | ok done\n"
                        "[build]   ✅  Success - Main Compile [1.234s]\n"
                        "[build] ⭐ Run Main Test\n"
                        "[build]   ❌  Failure - Main Test [1m15s] (continue-on-error: success)\n"
                        "[build] 🏁  Job succeeded\n"
                        "\n"
                        "JOB    RESULT     DURATION\n"
                        "build  success    1h01m40s\n");
    cap_free(&c);
}

static void groups_folded_unless_verbose(void **state)
{
    struct cap c;
    int verbose;

    (void)state;
    for (verbose = 0; verbose <= 1; verbose++) {
        cap_open(&c, false, verbose);
        c.r->job_started(c.r->ctx, &JOB_A, "j");
        c.r->step_started(c.r->ctx, &JOB_A, 0, "s");
        c.r->group(c.r->ctx, &JOB_A, "Install deps", true);
        log_s(&c, &JOB_A, "inside");
        c.r->group(c.r->ctx, &JOB_A, NULL, false);
        log_s(&c, &JOB_A, "after");
        c.r->group(c.r->ctx, &JOB_A, "left open", true);
        log_s(&c, &JOB_A, "hidden");
        c.r->step_finished(c.r->ctx, &JOB_A, 0, EX_RESULT_SUCCESS, EX_RESULT_SUCCESS, 0);
        c.r->step_started(c.r->ctx, &JOB_A, 1, "next");
        log_s(&c, &JOB_A, "shown again");
        if (!verbose)
            assert_string_equal(cap_text(&c), "[j] 🚀  Start job\n"
                                              "[j] ⭐ Run Main s\n"
                                              "[j]   ▶ Install deps\n"
                                              "[j]   | after\n"
                                              "[j]   ▶ left open\n"
                                              "[j]   ✅  Success - Main s [0.000s]\n"
                                              "[j] ⭐ Run Main next\n"
                                              "[j]   | shown again\n");
        else
            assert_string_equal(cap_text(&c), "[j] 🚀  Start job\n"
                                              "[j] ⭐ Run Main s\n"
                                              "[j]   ▼ Install deps\n"
                                              "[j]   |   inside\n"
                                              "[j]   | after\n"
                                              "[j]   ▼ left open\n"
                                              "[j]   |   hidden\n"
                                              "[j]   ✅  Success - Main s [0.000s]\n"
                                              "[j] ⭐ Run Main next\n"
                                              "[j]   | shown again\n");
        cap_free(&c);
    }
}

static void annotations(void **state)
{
    struct cap c;
    struct ex_annotation a1 = {
        .level = "error", .message = "Missing semicolon", .file = "src/a.c", .line = 3, .col = 5};
    struct ex_annotation a2 = {
        .level = "warning", .message = "two\nlines", .title = "Lint", .file = "b.js", .line = 7};
    struct ex_annotation a3 = {.level = "notice", .message = "plain", .col = 4};

    (void)state;
    cap_open(&c, false, false);
    c.r->annotation(c.r->ctx, &JOB_A, &a1);
    c.r->annotation(c.r->ctx, &JOB_A, &a2);
    c.r->annotation(c.r->ctx, &JOB_A, &a3);
    assert_string_equal(cap_text(&c), "[job]   error: src/a.c:3:5: Missing semicolon\n"
                                      "[job]   warning: b.js:7: [Lint] two\n"
                                      "[job]   warning: b.js:7: [Lint] lines\n"
                                      "[job]   notice: plain\n");
    cap_free(&c);
}

static void color_output(void **state)
{
    struct cap c;
    struct ex_annotation a = {.level = "error", .message = "bad"};
    const char *out;

    (void)state;
    cap_open(&c, true, false);
    c.r->job_started(c.r->ctx, &JOB_A, "a");
    c.r->job_started(c.r->ctx, &JOB_B, "b");
    log_s(&c, &JOB_A, "\x1b[32mgreen\x1b[0m");
    c.r->annotation(c.r->ctx, &JOB_B, &a);
    c.r->job_finished(c.r->ctx, &JOB_A, EX_RESULT_FAILURE, NULL, SEC);
    out = cap_text(&c);
    /* each job its own colour; tool colours pass through; errors red */
    assert_non_null(strstr(out, "\x1b[36m[a]\x1b[0m 🚀  Start job\n"));
    assert_non_null(strstr(out, "\x1b[35m[b]\x1b[0m 🚀  Start job\n"));
    assert_non_null(strstr(out, "  | \x1b[32mgreen\x1b[0m\n"));
    assert_non_null(strstr(out, "\x1b[31m\x1b[1merror:\x1b[0m bad\n"));
    cap_free(&c);
}

static void interleaved_jobs_and_table(void **state)
{
    struct cap c;
    json_t *outputs = json_pack("{ss}", "version", "1.2.3");

    (void)state;
    cap_open(&c, false, true);
    c.r->job_started(c.r->ctx, &JOB_A, "build (ubuntu)");
    c.r->job_started(c.r->ctx, &JOB_B, "lint");
    log_s(&c, &JOB_B, "b1");
    log_s(&c, &JOB_A, "a1");
    c.r->job_finished(c.r->ctx, &JOB_B, EX_RESULT_FAILURE, NULL, 500 * MS);
    c.r->job_finished(c.r->ctx, &JOB_A, EX_RESULT_CANCELLED, outputs, 61 * SEC);
    c.r->job_started(c.r->ctx, &JOB_C, "deploy");
    c.r->job_finished(c.r->ctx, &JOB_C, EX_RESULT_SKIPPED, NULL, 0);
    ex_term_reporter_finish(c.t);
    assert_string_equal(cap_text(&c), "[build (ubuntu)] 🚀  Start job\n"
                                      "[lint] 🚀  Start job\n"
                                      "[lint]   | b1\n"
                                      "[build (ubuntu)]   | a1\n"
                                      "[lint] 🏁  Job failed\n"
                                      "[build (ubuntu)]   ⚙  outputs.version=1.2.3\n"
                                      "[build (ubuntu)] 🏁  Job cancelled\n"
                                      "[deploy] 🚀  Start job\n"
                                      "[deploy] 🏁  Job skipped\n"
                                      "\n"
                                      "JOB             RESULT     DURATION\n"
                                      "build (ubuntu)  cancelled  1m01s\n"
                                      "lint            failure    0.500s\n"
                                      "deploy          skipped    0.000s\n");
    json_decref(outputs);
    cap_free(&c);
}

/* After job_finished the engine may hand the same pointer to another job. */
static void handle_reused_after_finish(void **state)
{
    struct cap c;

    (void)state;
    cap_open(&c, false, false);
    c.r->job_started(c.r->ctx, &JOB_A, "first");
    c.r->job_finished(c.r->ctx, &JOB_A, EX_RESULT_SUCCESS, NULL, SEC);
    c.r->job_started(c.r->ctx, &JOB_A, "second");
    log_s(&c, &JOB_A, "x");
    c.r->job_finished(c.r->ctx, &JOB_A, EX_RESULT_FAILURE, NULL, 2 * SEC);
    ex_term_reporter_finish(c.t);
    assert_string_equal(cap_text(&c), "[first] 🚀  Start job\n"
                                      "[first] 🏁  Job succeeded\n"
                                      "[second] 🚀  Start job\n"
                                      "[second]   | x\n"
                                      "[second] 🏁  Job failed\n"
                                      "\n"
                                      "JOB     RESULT     DURATION\n"
                                      "first   success    1.000s\n"
                                      "second  failure    2.000s\n");
    cap_free(&c);
}

static void unfinished_job_in_table(void **state)
{
    struct cap c;

    (void)state;
    cap_open(&c, false, false);
    c.r->job_started(c.r->ctx, &JOB_A, "x");
    c.r->step_finished(c.r->ctx, &JOB_A, 4, EX_RESULT_SKIPPED, EX_RESULT_SKIPPED, 0);
    ex_term_reporter_finish(c.t);
    assert_string_equal(cap_text(&c), "[x] 🚀  Start job\n"
                                      "[x]   ⏭  Skipped - Main  [0.000s]\n"
                                      "\n"
                                      "JOB  RESULT     DURATION\n"
                                      "x    -          -\n");
    cap_free(&c);
}

static void runner_markers(void **state)
{
    struct cap c;
    const char *out;

    (void)state;
    cap_open(&c, false, false);
    log_s(&c, &JOB_A, "##[debug]Evaluating: success()");
    log_s(&c, &JOB_A, "##[warning]Skip output 'x' since it may contain secret.");
    log_s(&c, &JOB_A, "##[error]boom");
    log_s(&c, &JOB_A, "##[other]kept");
    assert_string_equal(cap_text(&c),
                        "[job]   | debug: Evaluating: success()\n"
                        "[job]   | warning: Skip output 'x' since it may contain secret.\n"
                        "[job]   | error: boom\n"
                        "[job]   | ##[other]kept\n");
    cap_free(&c);
    cap_open(&c, true, false);
    log_s(&c, &JOB_A, "##[debug]d");
    out = cap_text(&c);
    assert_non_null(strstr(out, "  | \x1b[2mdebug: d\x1b[0m\n"));
    cap_free(&c);
}

static void nothing_to_finish(void **state)
{
    struct cap c;

    (void)state;
    cap_open(&c, false, false);
    ex_term_reporter_finish(c.t);
    assert_string_equal(cap_text(&c), "");
    cap_free(&c);
}

static const char *render(struct cap *c, const char *md)
{
    c->r->job_started(c->r->ctx, &JOB_A, "j");
    c->r->summary(c->r->ctx, &JOB_A, md, strlen(md));
    c->r->job_finished(c->r->ctx, &JOB_A, EX_RESULT_SUCCESS, NULL, 0);
    ex_term_reporter_finish(c->t);
    return strstr(cap_text(c), "── Summary");
}

static void summary_markdown(void **state)
{
    struct cap c;
    const char *md = "# Test results\n"
                     "\n"
                     "Some **bold** and *em* and `code` and ~~old~~ text.\n"
                     "See [the docs](https://example.com/docs \"Docs\") or <https://x.y/z>.\n"
                     "\n"
                     "## Details &amp; more\n"
                     "- one\n"
                     "  - nested\n"
                     "- [x] done\n"
                     "- [ ] later\n"
                     "1. first\n"
                     "2) second\n"
                     "\n"
                     "| Suite | Passed | Time |\n"
                     "|:------|-------:|------|\n"
                     "| unit  | 120 | 1.2s |\n"
                     "| integration tests | 7 |\n"
                     "\n"
                     "```sh\n"
                     "make *test* | tee log\n"
                     "```\n"
                     "> quoted _text_\n"
                     "\n"
                     "---\n"
                     "### Small heading :rocket: ###\n"
                     "<details><summary>More</summary>hidden<br>text</details>\n"
                     "snake_case_name and 2 * 3 * 4 and \\*literal\\*\n"
                     "![logo](img.png)\n";

    (void)state;
    cap_open(&c, false, false);
    assert_string_equal(render(&c, md),
                        "── Summary: j ──\n"
                        "Test results\n"
                        "============\n"
                        "\n"
                        "Some bold and em and code and old text.\n"
                        "See the docs (https://example.com/docs) or https://x.y/z.\n"
                        "\n"
                        "Details & more\n"
                        "--------------\n"
                        "  • one\n"
                        "    • nested\n"
                        "  ☑ done\n"
                        "  ☐ later\n"
                        "  1. first\n"
                        "  2. second\n"
                        "\n"
                        "Suite             | Passed | Time\n"
                        "------------------+--------+-----\n"
                        "unit              |    120 | 1.2s\n"
                        "integration tests |      7 |\n"
                        "\n"
                        "    make *test* | tee log\n"
                        "│ quoted text\n"
                        "\n"
                        "────────────────────────────────────────\n"
                        "» Small heading 🚀\n"
                        "Morehidden text\n"
                        "snake_case_name and 2 * 3 * 4 and *literal*\n"
                        "[image: logo] (img.png)\n"
                        "\n"
                        "JOB  RESULT     DURATION\n"
                        "j    success    0.000s\n");
    cap_free(&c);
}

static void summaries_concatenated_per_job(void **state)
{
    struct cap c;
    const char *out;

    (void)state;
    cap_open(&c, true, false);
    c.r->job_started(c.r->ctx, &JOB_A, "a");
    c.r->job_started(c.r->ctx, &JOB_B, "b");
    c.r->summary(c.r->ctx, &JOB_B, "from b", 6);
    c.r->summary(c.r->ctx, &JOB_A, "step one", 8);
    c.r->summary(c.r->ctx, &JOB_A, "", 0);
    c.r->summary(c.r->ctx, &JOB_A, "**step two**\n", 13);
    ex_term_reporter_finish(c.t);
    out = cap_text(&c);
    const char *sa = strstr(out, "── Summary: a ──");
    const char *sb = strstr(out, "── Summary: b ──");
    assert_non_null(sa);
    assert_non_null(sb);
    assert_true(sa < sb); /* in the order jobs started */
    assert_non_null(strstr(sa, "step one\n\n\x1b[1mstep two\x1b[0m\n"));
    assert_non_null(strstr(sb, "from b\n"));
    cap_free(&c);
}

static void table_alignment_with_utf8_and_colors(void **state)
{
    struct cap c;

    (void)state;
    cap_open(&c, false, false);
    const char *out = render(&c, "| név | x |\n|---|---|\n| **ő** | `1` |\n| ab | 22 |\n");
    assert_non_null(strstr(out, "név | x\n----+---\nő   | 1\nab  | 22\n"));
    cap_free(&c);
}

/* Hostile summaries finish quickly and keep their text. */
static void summary_hostile_input(void **state)
{
    struct gr_buf md = GR_BUF_INIT(0);
    static const char *const units[] = {"[", "*", "<", "x`", "**a", "*_", "![", "&"};
    size_t u, k;
    struct cap c;
    clock_t t0 = clock();

    (void)state;
    for (u = 0; u < GR_ARRAY_SIZE(units); u++) {
        for (k = 0; k < 60000 / strlen(units[u]); k++)
            assert_int_equal(gr_buf_adds(&md, units[u]), 0);
        assert_int_equal(gr_buf_adds(&md, "\n"), 0);
    }
    for (k = 0; k < 200000; k++)
        assert_int_equal(gr_buf_addch(&md, 'x'), 0);
    assert_int_equal(gr_buf_adds(&md, "\n| h | i |\n|---|---|\n"), 0);
    for (k = 0; k < 20000; k++)
        assert_int_equal(gr_buf_adds(&md, "| a | b |\n"), 0);
    cap_open(&c, false, false);
    const char *out = render(&c, md.ptr);
    assert_non_null(out);
    assert_true(strlen(out) > 200000);
    assert_non_null(strstr(out, "[[[[[[[["));
    assert_non_null(strstr(out, "a | b\n"));
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 20.0);
    cap_free(&c);
    gr_buf_release(&md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basic_flow),
        cmocka_unit_test(groups_folded_unless_verbose),
        cmocka_unit_test(annotations),
        cmocka_unit_test(color_output),
        cmocka_unit_test(interleaved_jobs_and_table),
        cmocka_unit_test(handle_reused_after_finish),
        cmocka_unit_test(unfinished_job_in_table),
        cmocka_unit_test(runner_markers),
        cmocka_unit_test(nothing_to_finish),
        cmocka_unit_test(summary_markdown),
        cmocka_unit_test(summaries_concatenated_per_job),
        cmocka_unit_test(table_alignment_with_utf8_and_colors),
        cmocka_unit_test(summary_hostile_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
