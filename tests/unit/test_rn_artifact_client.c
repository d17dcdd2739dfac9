/*
 * The results-service artifact client (runner/artifact_client.c): backend ids from the runtime
 * token's scp claim as the toolkit reads them, the errors for a missing or bad token and URL,
 * and the retries on a service that does not answer (a closed port on loopback), none of which
 * show the token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "artifact_client.h"
#include "protocol.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JWT with these claims (the signature is not checked by the client). Owned. */
static char *jwt(const char *claims)
{
    char *h = rn_b64_encode("{\"typ\":\"JWT\",\"alg\":\"RS256\"}", 27, true);
    char *p = rn_b64_encode(claims, strlen(claims), true);
    char *t = gr_xasprintf("%s.%s.c2lnbmF0dXJl", h, p);

    free(h);
    free(p);
    return t;
}

static void expect_ids(const char *claims, const char *run, const char *job)
{
    char *t = jwt(claims), *r = NULL, *j = NULL;
    struct gr_diag d = {0};

    assert_int_equal(rn_artifact_backend_ids(t, &r, &j, &d), 0);
    assert_string_equal(r, run);
    assert_string_equal(j, job);
    free(r);
    free(j);
    free(t);
}

static void expect_bad(const char *token)
{
    char *r = NULL, *j = NULL;
    struct gr_diag d = {0};

    assert_int_equal(rn_artifact_backend_ids(token, &r, &j, &d), -EINVAL);
    assert_null(r);
    assert_null(j);
    assert_non_null(strstr(d.msg, "Failed to get backend IDs"));
    if (token && *token)
        assert_null(strstr(d.msg, token));
}

/* toolkit packages/artifact/__tests__/util.test.ts getBackendIdsFromToken */
static void test_backend_ids(void **state)
{
    char *t;

    (void)state;
    expect_ids("{\"scp\":\"Actions.ExampleScope Actions.Results:ce7f54c7-61c7-4aae-887f-"
               "30da475f5f1a:ca395085-040a-526b-2ce8-bdc85f692774\"}",
               "ce7f54c7-61c7-4aae-887f-30da475f5f1a", "ca395085-040a-526b-2ce8-bdc85f692774");
    expect_ids("{\"scp\":\"Actions.Results:run:job Actions.Other\"}", "run", "job");
    expect_ids("{\"scp\":\"  Actions.Results:a:b\"}", "a", "b");

    t = jwt("{\"scp\":\"Actions.ExampleScope\"}"); /* no Actions.Results */
    expect_bad(t);
    free(t);
    t = jwt("{\"scp\":\"Actions.Results:a:b:c\"}"); /* not exactly two ids */
    expect_bad(t);
    free(t);
    t = jwt("{\"scp\":\"Actions.Results:a\"}");
    expect_bad(t);
    free(t);
    t = jwt("{\"scp\":\"Actions.Results::b\"}");
    expect_bad(t);
    free(t);
    t = jwt("{\"sub\":\"x\"}"); /* no scp */
    expect_bad(t);
    free(t);
    t = jwt("[1]");
    expect_bad(t);
    free(t);
    expect_bad("jobtok-0123456789abcdef"); /* not a JWT */
    expect_bad("a.%%%%.c");                /* not base64 */
    expect_bad("a.bm90IGpzb24.c");         /* not JSON */
    expect_bad("");
    expect_bad(NULL);
}

struct logs {
    int n;
    char last[600];
};

static void on_log(void *arg, const char *line)
{
    struct logs *l = arg;

    l->n++;
    snprintf(l->last, sizeof(l->last), "%s", line);
}

static void test_call_errors(void **state)
{
    char *t = jwt("{\"scp\":\"Actions.Results:r:j\"}");
    struct logs l = {0};
    struct ex_artifact_call c = {
        .url = "http://127.0.0.1:9/", .token = NULL, .log = on_log, .log_arg = &l};
    const struct ex_artifact_remote *rm = &rn_artifact_client;
    struct ex_artifact *v = NULL;
    struct gr_diag d = {0};
    size_t n = 0;

    (void)state;
    assert_int_equal(rm->upload(rm->ctx, &c, "a", "/nonexistent", 0, NULL, &d), -EINVAL);
    assert_string_equal(d.msg, "Unable to get the ACTIONS_RUNTIME_TOKEN env variable");
    c.token = t;
    c.url = "";
    assert_int_equal(rm->list(rm->ctx, &c, NULL, &v, &n, &d), -EINVAL);
    assert_string_equal(d.msg, "Unable to get the ACTIONS_RESULTS_URL env variable");
    c.url = "results.example";
    assert_int_equal(rm->remove(rm->ctx, &c, "a", &d), -EINVAL);
    assert_non_null(strstr(d.msg, "ACTIONS_RESULTS_URL 'results.example' is not a URL"));
    c.token = "not-a-jwt-token";
    c.url = "http://127.0.0.1:9/";
    assert_int_equal(rm->download(rm->ctx, &c, 1, "/nonexistent", NULL, &d), -EINVAL);
    assert_null(strstr(d.msg, "not-a-jwt-token"));
    assert_int_equal(l.n, 0); /* nothing was sent */
    free(t);
}

/* Nobody listens on the discard port of loopback: five attempts, four waits, then the error. */
static void test_retries(void **state)
{
    char *t = jwt("{\"scp\":\"Actions.Results:r:j\"}");
    struct logs l = {0};
    struct ex_artifact_call c = {
        .url = "http://127.0.0.1:9/results/", .token = t, .log = on_log, .log_arg = &l};
    const struct ex_artifact_remote *rm = &rn_artifact_client;
    struct ex_artifact *v = NULL;
    struct gr_diag d = {0};
    size_t n = 0;
    int r;

    (void)state;
    setenv("GHRUN_RETRY_BASE_MS", "1", 1);
    r = rm->list(rm->ctx, &c, "x", &v, &n, &d);
    assert_true(r < 0);
    assert_int_equal(l.n, 4);
    assert_non_null(strstr(l.last, "Attempt 4 of 5 failed with error: "));
    assert_non_null(strstr(d.msg, "Failed to ListArtifacts: Failed to make request after 5 "
                                  "attempts: "));
    assert_null(strstr(d.msg, t));
    assert_null(strstr(l.last, t));
    unsetenv("GHRUN_RETRY_BASE_MS");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_ids),
        cmocka_unit_test(test_call_errors),
        cmocka_unit_test(test_retries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
