/*
 * `ghrun expr`: evaluate one expression (or a batch of JSON lines) against
 * contexts from a JSON file and print the value as compact JSON.
 */
#include "rn.h"
#include "cli.h"
#include "ex.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPR_MAX_INPUT (16 * 1024 * 1024)

static void help(void)
{
    printf("usage: ghrun expr [--context FILE] [--] EXPR\n"
           "       ghrun expr --batch [--context FILE] < lines.jsonl\n\n"
           "Evaluate a GitHub Actions expression (written without ${{ }}) and print its value\n"
           "as compact JSON.\n\n"
           "  -c, --context FILE  JSON object whose keys are context names (github, env, vars,\n"
           "                      secrets, matrix, needs, steps, job, runner, strategy, inputs)\n"
           "  -b, --batch         read {\"expr\": \"...\", \"context\": {...}} lines on stdin and\n"
           "                      write {\"value\": ...} or {\"error\": \"...\"} for each\n"
           "  -h, --help          show this help\n\n"
           "Status functions read job.status (success, failure, cancelled; success when\n"
           "absent). Exit status: 0 on success, 2 on an error.\n");
}

/* Compact JSON with numbers formatted as GitHub formats them. */
static int dump_value(const json_t *v, struct gr_buf *out)
{
    int r = 0;

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *item;
        bool first = true;
        r = gr_buf_addch(out, '{');
        json_object_foreach((json_t *)v, k, item)
        {
            json_t *ks = json_string(k);
            char *ktxt = json_dumps(ks, JSON_ENCODE_ANY);
            if (r == 0 && !first)
                r = gr_buf_addch(out, ',');
            if (r == 0)
                r = gr_buf_adds(out, ktxt);
            if (r == 0)
                r = gr_buf_addch(out, ':');
            free(ktxt);
            json_decref(ks);
            if (r == 0)
                r = dump_value(item, out);
            first = false;
        }
        return r < 0 ? r : gr_buf_addch(out, '}');
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        r = gr_buf_addch(out, '[');
        json_array_foreach(v, i, item)
        {
            if (r == 0 && i > 0)
                r = gr_buf_addch(out, ',');
            if (r == 0)
                r = dump_value(item, out);
        }
        return r < 0 ? r : gr_buf_addch(out, ']');
    }
    case JSON_INTEGER:
    case JSON_REAL: {
        char *s = ex_value_to_string(v);
        /* NaN and Infinity have no JSON form; print them as strings would be wrong: keep text. */
        r = gr_buf_adds(out, s);
        free(s);
        return r;
    }
    default: {
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        r = gr_buf_adds(out, s ? s : "null");
        free(s);
        return r;
    }
    }
}

/* Top-level keys must be context names, as GitHub knows them. */
static int check_contexts(const json_t *ctx, char *err, size_t errlen)
{
    const char *k;
    json_t *v;

    if (!json_is_object(ctx)) {
        snprintf(err, errlen, "the context must be a JSON object");
        return -1;
    }
    json_object_foreach((json_t *)ctx, k, v)
    {
        if (!ex_ctx_bit(k, strlen(k))) {
            snprintf(err, errlen, "'%s' is not a context name", k);
            return -1;
        }
    }
    return 0;
}

static const char *job_status(const json_t *ctx)
{
    json_t *job = ctx ? ex_value_get(ctx, "job") : NULL;
    json_t *st = job ? ex_value_get(job, "status") : NULL;
    return json_is_string(st) ? json_string_value(st) : NULL;
}

/* Evaluate src; on success *ret_out holds compact JSON, else err holds the message. */
static int eval_one(const char *src, json_t *ctx, const char *workspace, char **ret_out, char *err,
                    size_t errlen)
{
    struct ex_eval_env env = {.contexts = ctx, .status = job_status(ctx), .workspace = workspace};
    struct gr_diag d = {0};
    struct gr_buf out = GR_BUF_INIT(0);
    json_t *val = NULL;
    int r;

    if (ctx && check_contexts(ctx, err, errlen) < 0)
        return -1;
    r = ex_expr_eval_str(src, &env, &val, &d);
    if (r < 0) {
        snprintf(err, errlen, "%s", d.msg[0] ? d.msg : gr_strerror(r));
        return r;
    }
    r = dump_value(val, &out);
    json_decref(val);
    if (r < 0) {
        gr_buf_release(&out);
        snprintf(err, errlen, "value too large");
        return r;
    }
    *ret_out = gr_buf_detach(&out, NULL);
    return 0;
}

static json_t *load_context(const char *path)
{
    json_error_t je;
    json_t *ctx = json_load_file(path, JSON_REJECT_DUPLICATES, &je);

    if (!ctx)
        fprintf(stderr, "ghrun expr: %s:%d:%d: %s\n", path, je.line, je.column, je.text);
    return ctx;
}

static void batch_line(const char *line, json_t *base, const char *workspace)
{
    json_error_t je;
    json_t *in = json_loads(line, 0, &je), *res = NULL, *ctx;
    char err[1024] = "", *val = NULL;
    const char *src;

    if (!in) {
        snprintf(err, sizeof(err), "invalid JSON line: %s", je.text);
        goto out;
    }
    src = json_string_value(json_object_get(in, "expr"));
    if (!src) {
        snprintf(err, sizeof(err), "the line has no \"expr\" string");
        goto out;
    }
    ctx = json_object_get(in, "context");
    if (eval_one(src, ctx ? ctx : base, workspace, &val, err, sizeof(err)) == 0) {
        printf("{\"value\":%s}\n", val);
        free(val);
        goto done;
    }
out:
    res = json_pack("{s:s}", "error", err);
    val = json_dumps(res, JSON_COMPACT);
    printf("%s\n", val);
    free(val);
done:
    json_decref(res);
    json_decref(in);
    fflush(stdout);
}

static int run_batch(json_t *base, const char *workspace)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (n > EXPR_MAX_INPUT) {
            printf("{\"error\":\"line too long\"}\n");
            continue;
        }
        batch_line(line, base, workspace);
    }
    free(line);
    return 0;
}

int rn_cmd_expr(int argc, char **argv)
{
    static const struct option opts[] = {
        {"context", required_argument, NULL, 'c'},
        {"batch", no_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *ctx_path = NULL;
    bool batch = false;
    json_t *ctx = NULL;
    char err[1024], *val = NULL, cwd[4096];
    int c, rc = 2;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:c:bh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            ctx_path = optarg;
            break;
        case 'b':
            batch = true;
            break;
        case 'h':
            help();
            return 0;
        default:
            return rn_cli_opt_error("expr", c, argv);
        }
    }
    if (!batch && optind != argc - 1)
        return rn_cli_usage_error("expr", optind >= argc ? "missing EXPR" : "too many arguments");
    if (batch && optind != argc)
        return rn_cli_usage_error("expr", "--batch takes no EXPR argument");
    if (ctx_path) {
        ctx = load_context(ctx_path);
        if (!ctx)
            return 2;
    }
    const char *workspace = getcwd(cwd, sizeof(cwd)) ? cwd : NULL;
    if (batch) {
        rc = run_batch(ctx, workspace);
        goto out;
    }
    if (eval_one(argv[optind], ctx, workspace, &val, err, sizeof(err)) < 0) {
        fprintf(stderr, "ghrun expr: %s\n", err);
        goto out;
    }
    printf("%s\n", val);
    free(val);
    rc = 0;
out:
    json_decref(ctx);
    return rc;
}
