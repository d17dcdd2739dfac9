/*
 * Unit tests for executor/jobspec.c: GitHub's job message (TemplateTokens,
 * PipelineContextData, steps, variables) decoded into the workflow and plan the
 * engine runs; bad messages give errors that name the field, never a crash.
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

#include "ex.h"
#include "ex/jobspec.h"
#include "jobmsg.h"

static json_t *J(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);

    if (!v)
        fail_msg("bad test JSON: %s", text);
    return v;
}

/* Token text → converted JSON text (compact, sorted keys), or "ERR: msg". */
static char *tok(const char *text)
{
    json_t *t = J(text), *out = NULL;
    struct gr_diag d = {0};
    char *s;

    if (ex_token_to_json(t, "x", &out, &d) < 0)
        s = gr_xasprintf("ERR: %s", d.msg);
    else
        s = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(t);
    json_decref(out);
    return s;
}

static char *cd(const char *text)
{
    json_t *t = J(text), *out = NULL;
    struct gr_diag d = {0};
    char *s;

    if (ex_ctxdata_to_json(t, "c", &out, &d) < 0)
        s = gr_xasprintf("ERR: %s", d.msg);
    else
        s = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(t);
    json_decref(out);
    return s;
}

#define EXPECT(fn, in, want)                                                                       \
    do {                                                                                           \
        char *got_ = fn(in);                                                                       \
        assert_string_equal(got_, want);                                                           \
        free(got_);                                                                                \
    } while (0)

#define EXPECT_ERR(fn, in, part)                                                                   \
    do {                                                                                           \
        char *got_ = fn(in);                                                                       \
        if (strncmp(got_, "ERR: ", 5) || !strstr(got_, part))                                      \
            fail_msg("%s: got '%s', want an error with '%s'", in, got_, part);                     \
        free(got_);                                                                                \
    } while (0)

static void test_tokens(void **state)
{
    (void)state;
    EXPECT(tok, "\"echo hi\"", "\"echo hi\"");
    EXPECT(tok, "{\"type\":0,\"lit\":\"a\"}", "\"a\"");
    EXPECT(tok, "{\"lit\":\"no type\"}", "\"no type\"");
    EXPECT(tok, "{\"type\":3,\"expr\":\"matrix.os\"}", "\"${{ matrix.os }}\"");
    /* a literal that looks like a template stays literal */
    EXPECT(tok, "\"it's ${{ x }}\"", "\"${{ 'it''s ${{ x }}' }}\"");
    EXPECT(tok, "{\"type\":5,\"bool\":true}", "true");
    EXPECT(tok, "{\"type\":5}", "false");
    EXPECT(tok, "{\"type\":6,\"num\":2.5}", "2.5");
    EXPECT(tok, "{\"type\":7}", "null");
    EXPECT(tok, "true", "true");
    EXPECT(tok, "null", "null");
    EXPECT(tok, "{\"type\":1,\"seq\":[\"a\",{\"type\":6,\"num\":1}]}", "[\"a\",1]");
    EXPECT(tok,
           "{\"type\":2,\"map\":[{\"Key\":\"A\",\"Value\":{\"type\":3,\"expr\":\"secrets.X\"}},"
           "{\"key\":{\"type\":0,\"lit\":\"b\"},\"value\":\"v\"}]}",
           "{\"A\":\"${{ secrets.X }}\",\"b\":\"v\"}");
    EXPECT(tok, "{\"type\":2}", "{}");
}

static void test_bad_tokens(void **state)
{
    char deep[2048] = "";

    (void)state;
    EXPECT_ERR(tok, "{\"type\":42}", "unknown token type");
    EXPECT_ERR(tok, "{\"type\":\"3\"}", "not a number");
    EXPECT_ERR(tok, "{\"type\":3}", "without an 'expr'");
    EXPECT_ERR(tok, "{\"type\":4,\"directive\":\"insert\"}", "insert expressions");
    EXPECT_ERR(tok, "{\"type\":2,\"map\":{}}", "'map' array");
    EXPECT_ERR(tok, "{\"type\":1,\"seq\":3}", "'seq' array");
    EXPECT_ERR(tok, "{\"type\":2,\"map\":[{\"Key\":{\"type\":3,\"expr\":\"a\"},\"Value\":1}]}",
               "keys must be literal");
    EXPECT_ERR(tok, "{\"type\":2,\"map\":[{\"Key\":1,\"Value\":1}]}", "keys must be literal");
    EXPECT_ERR(tok, "{\"type\":0,\"lit\":5}", "'lit' is not a string");
    EXPECT_ERR(tok, "[1]", "neither a scalar nor an object");
    for (int i = 0; i < 100; i++)
        strcat(deep, "{\"type\":1,\"seq\":[");
    strcat(deep, "1");
    for (int i = 0; i < 100; i++)
        strcat(deep, "]}");
    EXPECT_ERR(tok, deep, "nested too deeply");
}

static void test_context_data(void **state)
{
    (void)state;
    EXPECT(cd, "\"s\"", "\"s\"");
    EXPECT(cd, "{\"t\":0,\"s\":\"x\"}", "\"x\"");
    EXPECT(cd, "{\"t\":0}", "\"\"");
    EXPECT(cd, "{\"t\":3,\"b\":true}", "true");
    EXPECT(cd, "{\"t\":4,\"n\":3}", "3");
    EXPECT(cd, "{\"t\":4}", "0");
    EXPECT(cd, "{\"t\":1,\"a\":[\"a\",{\"t\":3,\"b\":false}]}", "[\"a\",false]");
    EXPECT(cd,
           "{\"t\":2,\"d\":[{\"k\":\"os\",\"v\":\"ubuntu\"},{\"k\":\"fail-fast\",\"v\":true},"
           "{\"k\":\"job-index\",\"v\":0},{\"k\":\"n\",\"v\":{\"t\":5,\"d\":[{\"k\":\"A\",\"v\":"
           "\"1\"}]}}]}",
           "{\"fail-fast\":true,\"job-index\":0,\"n\":{\"A\":\"1\"},\"os\":\"ubuntu\"}");
    EXPECT_ERR(cd, "{\"t\":9}", "unknown context data type");
    EXPECT_ERR(cd, "{\"t\":2,\"d\":[{\"v\":1}]}", "without a 'k'");
    EXPECT_ERR(cd, "{\"t\":2,\"d\":5}", "'d' array");
    EXPECT_ERR(cd, "[1,2]", "bare array");
}

/* A message as the run service sends it (runner-protocol.md section 8). */
static const char sample[] =
    "{\"messageType\":\"RunnerJobRequest\",\"plan\":{\"planId\":\"p1\"},\"jobId\":\"j1\","
    "\"jobDisplayName\":\"build (ubuntu)\",\"timeline\":{\"id\":\"t1\"},"
    "\"resources\":{\"endpoints\":[{\"name\":\"SystemVssConnection\",\"url\":\"http://x/run/\","
    "\"authorization\":{\"parameters\":{\"AccessToken\":\"jobtoken-abc\"}}}]},"
    "\"variables\":{\"system.github.token\":{\"value\":\"ghs_tok\",\"isSecret\":true},"
    "\"system.github.job\":{\"value\":\"build\"},\"MY_SECRET\":{\"value\":\"s3\\nline2\","
    "\"isSecret\":true},\"plain\":{\"value\":\"p\"}},"
    "\"mask\":[{\"type\":\"regex\",\"value\":\"hint-1\"}],"
    "\"contextData\":{\"github\":{\"t\":2,\"d\":[{\"k\":\"repository\",\"v\":\"acme/w\"},"
    "{\"k\":\"ref\",\"v\":\"refs/heads/main\"},{\"k\":\"event_name\",\"v\":\"pull_request\"}]},"
    "\"matrix\":{\"t\":2,\"d\":[{\"k\":\"os\",\"v\":\"ubuntu\"}]},"
    "\"needs\":{\"t\":2,\"d\":[{\"k\":\"a\",\"v\":{\"t\":2,\"d\":[{\"k\":\"result\",\"v\":"
    "\"success\"}]}}]},\"strategy\":{\"t\":2,\"d\":[{\"k\":\"job-index\",\"v\":{\"t\":4,"
    "\"n\":2}}]}},"
    "\"environmentVariables\":[{\"type\":2,\"map\":[{\"Key\":\"W\",\"Value\":\"1\"}]},"
    "{\"type\":2,\"map\":[{\"Key\":\"J\",\"Value\":{\"type\":3,\"expr\":\"matrix.os\"}}]}],"
    "\"defaults\":[{\"type\":2,\"map\":[{\"Key\":\"run\",\"Value\":{\"type\":2,\"map\":[{\"Key\":"
    "\"shell\",\"Value\":\"bash\"}]}}]}],"
    "\"jobOutputs\":{\"type\":2,\"map\":[{\"Key\":\"o\",\"Value\":{\"type\":3,\"expr\":"
    "\"steps.s1.outputs.v\"}}]},"
    "\"steps\":["
    "{\"type\":\"action\",\"id\":\"id-1\",\"contextName\":\"s1\",\"reference\":{\"type\":"
    "\"script\"},\"inputs\":{\"type\":2,\"map\":[{\"Key\":\"script\",\"Value\":\"echo hi\"},"
    "{\"Key\":\"workingDirectory\",\"Value\":\"src\"}]},\"condition\":\"success()\","
    "\"continueOnError\":{\"type\":5,\"bool\":true},\"timeoutInMinutes\":{\"type\":6,\"num\":5},"
    "\"displayNameToken\":{\"type\":3,\"expr\":\"format('Hi {0}', matrix.os)\"}},"
    "{\"type\":\"action\",\"id\":\"id-2\",\"contextName\":\"__actions_checkout\",\"reference\":"
    "{\"type\":\"repository\",\"name\":\"actions/checkout\",\"ref\":\"v4\",\"repositoryType\":"
    "\"GitHub\"},\"inputs\":{\"type\":2,\"map\":[{\"Key\":\"fetch-depth\",\"Value\":{\"type\":6,"
    "\"num\":0}}]}},"
    "{\"type\":\"action\",\"id\":\"id-3\",\"contextName\":\"loc\",\"reference\":{\"type\":"
    "\"repository\",\"repositoryType\":\"self\",\"path\":\".github/actions/x\"}},"
    "{\"type\":\"action\",\"id\":\"id-4\",\"contextName\":\"sub\",\"reference\":{\"type\":1,"
    "\"name\":\"o/r\",\"ref\":\"main\",\"path\":\"sub/dir\"},\"environment\":{\"type\":2,\"map\":"
    "[{\"Key\":\"E\",\"Value\":{\"type\":3,\"expr\":\"secrets.MY_SECRET\"}}]},"
    "\"condition\":\"success() && (github.ref == 'refs/heads/main')\"}"
    "]}";

static struct ex_jobspec *build(const char *text, struct gr_diag *d)
{
    json_t *m = J(text);
    struct ex_jobspec *js = NULL;
    int r = ex_jobspec_build(m, "/nonexistent-ws", &js, d);

    json_decref(m);
    return r < 0 ? NULL : js;
}

static bool has_mask(const struct ex_jobspec *js, const char *s)
{
    for (size_t i = 0; i < js->n_masks; i++)
        if (!strcmp(js->masks[i], s))
            return true;
    return false;
}

static const char *wstr(const json_t *wf, const char *path)
{
    json_t *v = json_object_get(json_object_get(wf, "jobs"), "build");
    char *copy = gr_xstrdup(path), *save = NULL;

    for (char *k = strtok_r(copy, ".", &save); k && v; k = strtok_r(NULL, ".", &save)) {
        if (json_is_array(v))
            v = json_array_get(v, (size_t)atoi(k));
        else
            v = json_object_get(v, k);
    }
    free(copy);
    return json_string_value(v);
}

static void test_jobspec(void **state)
{
    struct gr_diag d = {0};
    struct ex_jobspec *js = build(sample, &d);
    const struct ex_plan *p;
    json_t *wf;

    (void)state;
    if (!js)
        fail_msg("jobspec: %s", d.msg);
    p = js->plan;
    wf = js->workflow;
    assert_string_equal(js->job_id, "build");
    assert_string_equal(js->display_name, "build (ubuntu)");
    assert_int_equal(js->n_steps, 4);
    assert_string_equal(js->step_ids[0], "id-1");
    assert_string_equal(js->step_ids[3], "id-4");
    assert_int_equal(p->n_jobs, 1);
    assert_int_equal(p->jobs[0].n_legs, 1);
    assert_string_equal(p->jobs[0].legs[0].display_name, "build (ubuntu)");
    assert_string_equal(json_string_value(json_object_get(p->jobs[0].legs[0].matrix, "os")),
                        "ubuntu");
    /* contexts from the message; github.token from system.github.token */
    assert_string_equal(json_string_value(json_object_get(p->github, "repository")), "acme/w");
    assert_string_equal(json_string_value(json_object_get(p->github, "token")), "ghs_tok");
    assert_string_equal(p->event_name, "pull_request");
    assert_string_equal(json_string_value(json_object_get(p->secrets, "MY_SECRET")), "s3\nline2");
    assert_null(json_object_get(p->secrets, "system.github.token"));
    assert_null(json_object_get(p->secrets, "plain"));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(js->contexts, "strategy"), "job-index")),
        2);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(js->contexts, "needs"), "a"), "result")),
        "success");
    assert_true(has_mask(js, "ghs_tok"));
    assert_true(has_mask(js, "jobtoken-abc"));
    assert_true(has_mask(js, "hint-1"));
    assert_true(has_mask(js, "s3\nline2"));
    assert_false(has_mask(js, "p"));
    /* the generated workflow */
    assert_string_equal(json_string_value(json_object_get(json_object_get(wf, "env"), "W")), "1");
    assert_string_equal(wstr(wf, "env.J"), "${{ matrix.os }}");
    assert_string_equal(wstr(wf, "defaults.run.shell"), "bash");
    assert_string_equal(wstr(wf, "outputs.o"), "${{ steps.s1.outputs.v }}");
    assert_string_equal(wstr(wf, "steps.0.id"), "s1");
    assert_string_equal(wstr(wf, "steps.0.run"), "echo hi");
    assert_string_equal(wstr(wf, "steps.0.working-directory"), "src");
    assert_string_equal(wstr(wf, "steps.0.name"), "${{ format('Hi {0}', matrix.os) }}");
    assert_string_equal(wstr(wf, "steps.0.if"), "success()");
    assert_null(wstr(wf, "steps.1.id")); /* generated context names stay out of `steps` */
    assert_string_equal(wstr(wf, "steps.1.uses"), "actions/checkout@v4");
    assert_string_equal(wstr(wf, "steps.2.uses"), "./.github/actions/x");
    assert_string_equal(wstr(wf, "steps.3.uses"), "o/r/sub/dir@main");
    assert_string_equal(wstr(wf, "steps.3.env.E"), "${{ secrets.MY_SECRET }}");
    assert_string_equal(wstr(wf, "steps.3.if"), "success() && (github.ref == 'refs/heads/main')");
    assert_true(json_is_true(json_object_get(
        json_array_get(
            json_object_get(json_object_get(json_object_get(wf, "jobs"), "build"), "steps"), 0),
        "continue-on-error")));
    ex_jobspec_free(js);
}

/* sample with `from` replaced by `to` (must occur) */
static char *patched(const char *from, const char *to)
{
    const char *at = strstr(sample, from);

    if (!at)
        fail_msg("'%s' not in the sample", from);
    return gr_xasprintf("%.*s%s%s", (int)(at - sample), sample, to, at + strlen(from));
}

static void expect_bad(const char *text, const char *part)
{
    struct gr_diag d = {0};
    struct ex_jobspec *js = build(text, &d);
    char buf[1024];

    if (js) {
        ex_jobspec_free(js);
        fail_msg("accepted; want an error with '%s'", part);
    }
    gr_diag_format(&d, buf, sizeof(buf));
    if (!strstr(buf, part))
        fail_msg("error '%s' lacks '%s'", buf, part);
}

static void test_bad_messages(void **state)
{
    char *m;

    (void)state;
    expect_bad("[]", "not a JSON object");
    expect_bad("{\"steps\":[]}", "the job has no steps");
    expect_bad("{\"steps\":{}}", "steps: not a list");
    expect_bad("{\"steps\":[{\"reference\":{\"type\":\"script\"}}]}", "steps[0]: not a step");
    expect_bad("{\"steps\":[{\"id\":\"a\",\"reference\":{\"type\":\"script\"}}]}",
               "steps[0].inputs: a script step needs inputs.script");
    expect_bad("{\"steps\":[{\"id\":\"a\",\"reference\":{\"type\":\"weird\"}}]}",
               "unknown step reference type");
    expect_bad("{\"steps\":[{\"id\":\"a\",\"reference\":{\"type\":\"repository\"}}]}",
               "without a name or ref");
    expect_bad("{\"contextData\":[],\"steps\":[]}", "contextData: not an object");
    m = patched("{\"t\":4,\"n\":2}", "{\"t\":\"x\"}");
    expect_bad(m, "contextData.strategy");
    free(m);
    m = patched("{\"type\":6,\"num\":5}", "{\"type\":99}");
    expect_bad(m, "steps[0]: unknown token type");
    free(m);
    m = patched("\"environmentVariables\":[", "\"environmentVariables\":[\"x\",");
    expect_bad(m, "environmentVariables[0]: not a mapping");
    free(m);
    /* an expression that does not parse is the workflow validator's error */
    m = patched("\"expr\":\"steps.s1.outputs.v\"", "\"expr\":\"steps.(\"");
    expect_bad(m, "job message:");
    expect_bad(m, "steps.(");
    free(m);
}

/* Replace the n-th object member (depth first) below node by val; false when there is none. */
static bool replace_nth(json_t *node, int *n, json_t *val)
{
    const char *k;
    json_t *v;
    size_t i;

    if (json_is_object(node)) {
        json_object_foreach(node, k, v)
        {
            if ((*n)-- == 0) {
                json_object_set(node, k, val);
                return true;
            }
            if (replace_nth(v, n, val))
                return true;
        }
    } else if (json_is_array(node)) {
        json_array_foreach(node, i, v)
        {
            if (replace_nth(v, n, val))
                return true;
        }
    }
    return false;
}

/* Every member of the sample replaced by odd values in turn: an error or success, no crash. */
static void test_mutations(void **state)
{
    static const char *const odd[] = {
        "null", "7", "\"s\"", "[]", "{}", "{\"type\":3}", "{\"t\":1,\"a\":5}"};
    json_t *sample_json = J(sample);
    int count = 0;

    (void)state;
    for (size_t o = 0; o < GR_ARRAY_SIZE(odd); o++) {
        json_t *val = J(odd[o]);

        for (int nth = 0;; nth++) {
            json_t *m = json_deep_copy(sample_json);
            struct ex_jobspec *js = NULL;
            struct gr_diag d = {0};
            int n = nth;
            bool found = replace_nth(m, &n, val);

            if (found && ex_jobspec_build(m, "/nonexistent-ws", &js, &d) == 0)
                ex_jobspec_free(js);
            else if (found)
                assert_true(d.msg[0] != '\0');
            json_decref(m);
            if (!found)
                break;
            count++;
        }
        json_decref(val);
    }
    assert_true(count > 300);
    json_decref(sample_json);
}

/*
 * runner/jobmsg.c on a classic PipelineAgentJobRequest message (the job is the
 * message body): the job request id that renewal and completion need, the
 * pipelines URL and job token, and everything secret masked.
 */
static void test_classic_message(void **state)
{
    const char *text =
        "{\"messageType\":\"PipelineAgentJobRequest\",\"requestId\":\"1234\","
        "\"plan\":{\"planId\":\"p-1\",\"planType\":\"Actions\",\"version\":7},"
        "\"timeline\":{\"id\":\"tl-1\"},\"jobId\":\"j-1\",\"jobDisplayName\":\"build\","
        "\"resources\":{\"endpoints\":[{\"name\":\"SystemVssConnection\","
        "\"url\":\"https://pipelines.example/abc\",\"authorization\":{\"scheme\":\"OAuth\","
        "\"parameters\":{\"AccessToken\":\"jobtok-9\"}},\"data\":{\"FeedStreamUrl\":"
        "\"wss://feed.example/x\"}}]},"
        "\"variables\":{\"MY\":{\"value\":\"hush-1\",\"isSecret\":true}},"
        "\"steps\":[{\"type\":\"action\",\"id\":\"s-1\",\"name\":\"a\","
        "\"reference\":{\"type\":\"script\"},\"inputs\":{\"type\":2,\"map\":"
        "[{\"Key\":\"script\",\"Value\":\"echo hi\"}]}}]}";
    struct rn_jobmsg m;
    struct gr_diag d = {0};
    char *masked;

    (void)state;
    assert_int_equal(rn_jobmsg_parse(text, strlen(text), &m, &d), 0);
    assert_string_equal(m.message_type, "PipelineAgentJobRequest");
    assert_int_equal(m.request_id, 1234); /* "1234" as a string is read too */
    assert_string_equal(m.plan_id, "p-1");
    assert_string_equal(m.timeline_id, "tl-1");
    assert_string_equal(m.job_id, "j-1");
    assert_string_equal(m.url, "https://pipelines.example/abc/"); /* joined with a slash */
    assert_string_equal(m.token, "jobtok-9");
    assert_int_equal(m.nsteps, 1);
    assert_string_equal(m.steps[0].id, "s-1");
    masked = rn_jobmsg_mask(&m, "t=jobtok-9 s=hush-1", 19);
    assert_string_equal(masked, "t=*** s=***");
    free(masked);
    rn_jobmsg_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),          cmocka_unit_test(test_bad_tokens),
        cmocka_unit_test(test_context_data),    cmocka_unit_test(test_jobspec),
        cmocka_unit_test(test_bad_messages),    cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_classic_message),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
