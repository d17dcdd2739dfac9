/*
 * bench_expr: evaluations per second of 20 realistic expressions, each parsed
 * once and evaluated in a loop over realistic contexts (no hashFiles). The
 * target is 2 million evaluations per second on one core. The baseline, run
 * in the same process, does the same context lookups and comparisons by hand
 * with jansson (json_object_get chains, strcmp), i.e. what the expressions
 * would cost written directly in C.
 *
 * Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so that other
 * processes on a busy machine disturb the numbers less.
 *
 * Usage: bench_expr [iterations-per-run]   (default 200000; 5 runs, median)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <time.h>

#include "ex/expr.h"

#define RUNS 5
#define TARGET 2000000.0

static const char *const exprs[] = {
    "github.event_name == 'push' && startsWith(github.ref, 'refs/tags/')",
    "matrix.os == 'ubuntu-latest'",
    "contains(github.event.head_commit.message, '[skip ci]')",
    "format('{0}-{1}', runner.os, matrix.node)",
    "steps.build.outputs.version",
    "needs.test.result == 'success'",
    "toJSON(matrix)",
    "fromJSON(needs.plan.outputs.matrix).include",
    "success() && !cancelled()",
    "github.event.pull_request.head.repo.full_name != github.repository",
    "github.ref == 'refs/heads/main' || github.ref == 'refs/heads/develop'",
    "env.NODE_VERSION",
    "secrets.TOKEN != ''",
    "!contains(github.event.pull_request.labels.*.name, 'skip')",
    "inputs.debug == true",
    "github.event_name == 'pull_request' && github.event.action != 'closed'",
    "join(matrix.tags, ', ')",
    "endsWith(github.repository, '/ghrun')",
    "vars.DEPLOY_ENV || 'staging'",
    "case(github.ref_name == 'main', 'prod', 'dev')",
};
#define NEXPR (sizeof(exprs) / sizeof(exprs[0]))

static const char *const contexts_json =
    "{\"github\": {\"event_name\": \"pull_request\", \"ref\": \"refs/pull/42/merge\","
    " \"ref_name\": \"42/merge\", \"repository\": \"octo/ghrun\", \"sha\": \"0123456789abcdef\","
    " \"workspace\": \"/home/runner/work/ghrun/ghrun\", \"run_id\": \"1234567\", \"actor\": "
    "\"mona\","
    " \"event\": {\"action\": \"synchronize\", \"number\": 42,"
    "  \"head_commit\": {\"id\": \"abc\", \"message\": \"fix: parser [skip ci]\"},"
    "  \"pull_request\": {\"title\": \"Parser\", \"head\": {\"ref\": \"feature\", \"repo\":"
    "   {\"full_name\": \"fork/ghrun\", \"id\": 1}}, \"base\": {\"ref\": \"main\"},"
    "   \"labels\": [{\"name\": \"bug\"}, {\"name\": \"parser\"}, {\"name\": \"ci\"}]},"
    "  \"repository\": {\"full_name\": \"octo/ghrun\", \"private\": false}}},"
    " \"env\": {\"NODE_VERSION\": \"20\", \"CI\": \"true\"},"
    " \"vars\": {\"REGION\": \"eu\"},"
    " \"secrets\": {\"TOKEN\": \"s3cr3t\"},"
    " \"matrix\": {\"os\": \"ubuntu-latest\", \"node\": 20, \"tags\": [\"a\", \"b\", \"c\"]},"
    " \"needs\": {\"test\": {\"result\": \"success\", \"outputs\": {}},"
    "  \"plan\": {\"result\": \"success\", \"outputs\": {\"matrix\":"
    "   \"{\\\"include\\\": [{\\\"os\\\": \\\"linux\\\"}, {\\\"os\\\": \\\"mac\\\"}]}\"}}},"
    " \"steps\": {\"build\": {\"outputs\": {\"version\": \"1.2.3\"}, \"outcome\": \"success\"}},"
    " \"runner\": {\"os\": \"Linux\", \"arch\": \"X64\"},"
    " \"inputs\": {\"debug\": true},"
    " \"job\": {\"status\": \"success\"}}";

static uint64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static json_t *path(json_t *v, const char *a, const char *b, const char *c)
{
    v = json_object_get(v, a);
    if (b)
        v = json_object_get(v, b);
    if (c)
        v = json_object_get(v, c);
    return v;
}

static bool str_is(json_t *v, const char *s)
{
    return json_is_string(v) && strcasecmp(json_string_value(v), s) == 0;
}

/* The same lookups and comparisons, hand-written; returns a checksum so nothing is elided. */
static size_t baseline_once(json_t *ctx)
{
    json_t *gh = json_object_get(ctx, "github");
    json_t *pr = path(gh, "event", "pull_request", NULL);
    size_t sum = 0;

    sum += str_is(json_object_get(gh, "event_name"), "push") &&
           strncmp(json_string_value(json_object_get(gh, "ref")), "refs/tags/", 10) == 0;
    sum += str_is(path(ctx, "matrix", "os", NULL), "ubuntu-latest");
    sum += strstr(json_string_value(path(gh, "event", "head_commit", "message")), "[skip ci]") != 0;
    sum += json_string_length(path(ctx, "runner", "os", NULL)) +
           (size_t)json_integer_value(path(ctx, "matrix", "node", NULL));
    sum += json_string_length(path(ctx, "steps", "build", "outputs"));
    sum += str_is(path(ctx, "needs", "test", "result"), "success");
    sum += json_object_size(json_object_get(ctx, "matrix"));
    sum += json_string_length(path(ctx, "needs", "plan", "outputs"));
    sum += str_is(path(ctx, "job", "status", NULL), "success");
    sum += !str_is(path(pr, "head", "repo", "full_name"),
                   json_string_value(json_object_get(gh, "repository")));
    sum += str_is(json_object_get(gh, "ref"), "refs/heads/main") ||
           str_is(json_object_get(gh, "ref"), "refs/heads/develop");
    sum += json_string_length(path(ctx, "env", "NODE_VERSION", NULL));
    sum += !str_is(path(ctx, "secrets", "TOKEN", NULL), "");
    {
        json_t *labels = json_object_get(pr, "labels"), *l;
        size_t i;
        bool found = false;
        json_array_foreach(labels, i, l)
        {
            found = found || str_is(json_object_get(l, "name"), "skip");
        }
        sum += !found;
    }
    sum += json_is_true(path(ctx, "inputs", "debug", NULL));
    sum += str_is(json_object_get(gh, "event_name"), "pull_request") &&
           !str_is(path(gh, "event", "action", NULL), "closed");
    sum += json_array_size(path(ctx, "matrix", "tags", NULL));
    sum += strlen(json_string_value(json_object_get(gh, "repository"))) > 6;
    sum += path(ctx, "vars", "DEPLOY_ENV", NULL) == NULL;
    sum += str_is(json_object_get(gh, "ref_name"), "main");
    return sum;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return v[n / 2];
}

static double run_expr(struct ex_expr **parsed, const struct ex_eval_env *env, long iters)
{
    uint64_t t0 = cpu_ns();

    for (long i = 0; i < iters; i++) {
        for (size_t k = 0; k < NEXPR; k++) {
            json_t *v = NULL;
            if (ex_expr_eval(parsed[k], env, &v, NULL) < 0) {
                fprintf(stderr, "evaluation failed: %s\n", exprs[k]);
                exit(1);
            }
            json_decref(v);
        }
    }
    return (double)iters * NEXPR / ((double)(cpu_ns() - t0) / 1e9);
}

static double run_one(struct ex_expr *e, const struct ex_eval_env *env, long iters)
{
    uint64_t t0 = cpu_ns();

    for (long i = 0; i < iters; i++) {
        json_t *v = NULL;
        if (ex_expr_eval(e, env, &v, NULL) < 0)
            exit(1);
        json_decref(v);
    }
    return (double)iters / ((double)(cpu_ns() - t0) / 1e9);
}

static double run_baseline(json_t *ctx, long iters, size_t *sink)
{
    uint64_t t0 = cpu_ns();

    for (long i = 0; i < iters; i++)
        *sink += baseline_once(ctx);
    return (double)iters * NEXPR / ((double)(cpu_ns() - t0) / 1e9);
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    struct ex_expr *parsed[NEXPR] = {0};
    double ours[RUNS], base[RUNS];
    json_error_t je;
    json_t *ctx = json_loads(contexts_json, 0, &je);
    struct ex_eval_env env = {.contexts = ctx, .status = "success"};
    size_t sink = 0;

    if (!ctx || iters <= 0) {
        fprintf(stderr, "bench_expr: bad setup (%s)\n", ctx ? "iterations" : je.text);
        return 2;
    }
    for (size_t k = 0; k < NEXPR; k++) {
        struct gr_diag d = {0};
        if (ex_expr_parse(exprs[k], strlen(exprs[k]), EX_CTX_ALL, EX_FN_ALL, &parsed[k], &d) < 0) {
            fprintf(stderr, "parse failed: %s: %s\n", exprs[k], d.msg);
            return 2;
        }
    }
    for (int r = 0; r < RUNS; r++) {
        ours[r] = run_expr(parsed, &env, iters);
        base[r] = run_baseline(ctx, iters, &sink);
    }
    double m = median(ours, RUNS), b = median(base, RUNS);
    printf("expressions: %zu, iterations per run: %ld, runs: %d\n", NEXPR, iters, RUNS);
    printf("ex_expr_eval:     %12.0f evals/s (median)\n", m);
    printf("jansson baseline: %12.0f evals/s (median, hand-written lookups)\n", b);
    printf("ratio to 2M/s target: %.2f\n", m / TARGET);
    printf("ratio to baseline:    %.2f (baseline is %.1fx faster)\n", m / b, b / m);
    printf("(checksum %zu)\n", sink);
    printf("per expression (one run):\n");
    for (size_t k = 0; k < NEXPR; k++)
        printf("  %10.0f/s  %s\n", run_one(parsed[k], &env, iters), exprs[k]);
    for (size_t k = 0; k < NEXPR; k++)
        ex_expr_free(parsed[k]);
    json_decref(ctx);
    return 0;
}
