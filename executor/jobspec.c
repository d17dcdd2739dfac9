/*
 * The job message as a workflow (see ex/jobspec.h). Facts from actions/runner:
 * Sdk/DTObjectTemplating/ObjectTemplating/Tokens/TemplateTokenJsonConverter.cs
 * (token kinds 0..7), Sdk/DTPipelines/Pipelines/ContextData/
 * PipelineContextDataJsonConverter.cs (t 0..5), Runner.Worker/JobExtension.cs
 * (environmentVariables and defaults are lists: workflow, then job) and
 * Runner.Worker/ExecutionContext.cs (secret variables form `secrets`, except
 * system.github.token, which becomes github.token).
 */
#include "ex/jobspec.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JS_MAX_DEPTH 64

/* Case-insensitive member lookup: the server mixes camelCase and PascalCase. */
static json_t *iget(const json_t *o, const char *key)
{
    const char *k;
    json_t *v;

    if (!json_is_object(o))
        return NULL;
    v = json_object_get(o, key);
    if (v)
        return v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (strcasecmp(k, key) == 0)
            return v;
    }
    return NULL;
}

static const char *istr(const json_t *o, const char *key)
{
    return json_string_value(iget(o, key));
}

static int bad(struct gr_diag *d, const char *where, const char *what)
{
    return gr_diag_set(d, GR_EPROTO, NULL, 0, 0, "job message: %s: %s", where, what);
}

/* A literal string that must not be read as a template: ${{ 'text' }}. */
static json_t *literal_string(const char *s)
{
    struct gr_buf b = GR_BUF_INIT(0);
    json_t *j;

    if (!strstr(s, "${{"))
        return json_string(s);
    int r = gr_buf_adds(&b, "${{ '");

    for (; *s; s++) {
        if (*s == '\'')
            r |= gr_buf_addch(&b, '\'');
        r |= gr_buf_addch(&b, *s);
    }
    r |= gr_buf_adds(&b, "' }}");
    if (r < 0)
        abort();
    j = json_string(b.ptr);
    gr_buf_release(&b);
    return j;
}

static int token(const json_t *t, const char *where, int depth, json_t **ret, struct gr_diag *d);

static int token_seq(const json_t *items, const char *where, int depth, json_t **ret,
                     struct gr_diag *d)
{
    json_t *a = json_array(), *v;
    size_t i;
    int r = 0;

    if (items && !json_is_array(items))
        r = bad(d, where, "sequence token without a 'seq' array");
    json_array_foreach(items, i, v)
    {
        json_t *x = NULL;

        if (r < 0)
            break;
        r = token(v, where, depth + 1, &x, d);
        if (r == 0)
            json_array_append_new(a, x);
    }
    if (r < 0) {
        json_decref(a);
        return r;
    }
    *ret = a;
    return 0;
}

static int token_map(const json_t *pairs, const char *where, int depth, json_t **ret,
                     struct gr_diag *d)
{
    json_t *o = json_object(), *pair;
    size_t i;
    int r = 0;

    if (pairs && !json_is_array(pairs))
        r = bad(d, where, "mapping token without a 'map' array");
    json_array_foreach(pairs, i, pair)
    {
        json_t *k = NULL, *v = NULL;

        if (r < 0)
            break;
        r = token(iget(pair, "Key"), where, depth + 1, &k, d);
        if (r == 0 && (!json_is_string(k) || strstr(json_string_value(k), "${{")))
            r = bad(d, where, "mapping keys must be literal strings");
        if (r == 0)
            r = token(iget(pair, "Value"), where, depth + 1, &v, d);
        if (r == 0)
            json_object_set_new(o, json_string_value(k), v);
        json_decref(k);
    }
    if (r < 0) {
        json_decref(o);
        return r;
    }
    *ret = o;
    return 0;
}

static int token(const json_t *t, const char *where, int depth, json_t **ret, struct gr_diag *d)
{
    json_t *type;
    const char *s;

    if (depth > JS_MAX_DEPTH)
        return bad(d, where, "tokens nested too deeply");
    if (!t || json_is_null(t) || json_is_boolean(t) || json_is_number(t)) {
        *ret = t ? json_incref((json_t *)t) : json_null();
        return 0;
    }
    if (json_is_string(t)) {
        *ret = literal_string(json_string_value(t));
        return 0;
    }
    if (!json_is_object(t))
        return bad(d, where, "a token is neither a scalar nor an object");
    type = iget(t, "type");
    if (type && !json_is_integer(type))
        return bad(d, where, "token 'type' is not a number");
    switch (type ? json_integer_value(type) : 0) {
    case 0:
        s = istr(t, "lit");
        if (!s && iget(t, "lit") && !json_is_null(iget(t, "lit")))
            return bad(d, where, "string token whose 'lit' is not a string");
        *ret = literal_string(s ? s : "");
        return 0;
    case 1:
        return token_seq(iget(t, "seq"), where, depth, ret, d);
    case 2:
        return token_map(iget(t, "map"), where, depth, ret, d);
    case 3:
        s = istr(t, "expr");
        if (!s)
            return bad(d, where, "expression token without an 'expr' string");
        *ret = json_sprintf("${{ %s }}", s);
        return 0;
    case 4:
        return bad(d, where, "insert expressions (${{ insert }}) are not supported");
    case 5:
        *ret = json_boolean(json_is_true(iget(t, "bool")));
        return 0;
    case 6:
        *ret = json_is_number(iget(t, "num")) ? json_incref(iget(t, "num")) : json_integer(0);
        return 0;
    case 7:
        *ret = json_null();
        return 0;
    default:
        return bad(d, where, "unknown token type");
    }
}

int ex_token_to_json(const json_t *tok, const char *where, json_t **ret, struct gr_diag *reterr)
{
    return token(tok, where ? where : "token", 0, ret, reterr);
}

static int ctxdata(const json_t *v, const char *where, int depth, json_t **ret, struct gr_diag *d)
{
    json_t *t, *out, *x, *pair;
    size_t i;
    int r = 0;

    if (depth > JS_MAX_DEPTH)
        return bad(d, where, "context data nested too deeply");
    if (!v || json_is_null(v) || json_is_string(v) || json_is_boolean(v) || json_is_number(v)) {
        *ret = v ? json_incref((json_t *)v) : json_null();
        return 0;
    }
    if (json_is_array(v))
        return bad(d, where, "context data is a bare array");
    t = iget(v, "t");
    if (t && !json_is_integer(t))
        return bad(d, where, "context data 't' is not a number");
    switch (t ? json_integer_value(t) : 0) {
    case 0:
        *ret = json_string(istr(v, "s") ? istr(v, "s") : "");
        return 0;
    case 1:
        out = json_array();
        if (iget(v, "a") && !json_is_array(iget(v, "a")))
            r = bad(d, where, "array data without an 'a' array");
        json_array_foreach(iget(v, "a"), i, x)
        {
            json_t *y = NULL;

            if (r < 0)
                break;
            r = ctxdata(x, where, depth + 1, &y, d);
            if (r == 0)
                json_array_append_new(out, y);
        }
        break;
    case 2:
    case 5:
        out = json_object();
        if (iget(v, "d") && !json_is_array(iget(v, "d")))
            r = bad(d, where, "dictionary data without a 'd' array");
        json_array_foreach(iget(v, "d"), i, pair)
        {
            json_t *y = NULL;

            if (r < 0)
                break;
            if (!istr(pair, "k")) {
                r = bad(d, where, "dictionary entry without a 'k' string");
                break;
            }
            r = ctxdata(iget(pair, "v"), where, depth + 1, &y, d);
            if (r == 0)
                json_object_set_new(out, istr(pair, "k"), y);
        }
        break;
    case 3:
        *ret = json_boolean(json_is_true(iget(v, "b")));
        return 0;
    case 4:
        *ret = json_is_number(iget(v, "n")) ? json_incref(iget(v, "n")) : json_integer(0);
        return 0;
    default:
        return bad(d, where, "unknown context data type");
    }
    if (r < 0) {
        json_decref(out);
        return r;
    }
    *ret = out;
    return 0;
}

int ex_ctxdata_to_json(const json_t *d, const char *where, json_t **ret, struct gr_diag *reterr)
{
    return ctxdata(d, where ? where : "contextData", 0, ret, reterr);
}

/* ---- steps ---- */

static bool ident_ok(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_') || !strncmp(s, "__", 2))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

/* Set key to the converted token when present. */
static int put_token(json_t *obj, const char *key, const json_t *tok, const char *where,
                     struct gr_diag *d)
{
    json_t *v = NULL;
    int r;

    if (!tok)
        return 0;
    r = token(tok, where, 0, &v, d);
    if (r == 0)
        json_object_set_new(obj, key, v);
    return r;
}

static int step_uses(const json_t *ref, const char *where, json_t *st, struct gr_diag *d)
{
    json_t *rt = iget(ref, "type");
    const char *type = json_string_value(rt), *name = istr(ref, "name"), *path = istr(ref, "path");
    const char *rtype = istr(ref, "repositoryType"), *gitref = istr(ref, "ref");
    long n = json_is_integer(rt) ? (long)json_integer_value(rt) : -1;

    if ((type && !strcasecmp(type, "containerRegistry")) || n == 2) {
        if (!istr(ref, "image"))
            return bad(d, where, "container reference without an image");
        json_object_set_new(st, "uses", json_sprintf("docker://%s", istr(ref, "image")));
        return 0;
    }
    if (!(type && !strcasecmp(type, "repository")) && n != 1)
        return bad(d, where, "unknown step reference type");
    if (rtype && !strcasecmp(rtype, "self")) {
        if (!path || !*path)
            return bad(d, where, "local action reference without a path");
        json_object_set_new(
            st, "uses", !strncmp(path, "./", 2) ? json_string(path) : json_sprintf("./%s", path));
        return 0;
    }
    if (!name || !gitref)
        return bad(d, where, "action reference without a name or ref");
    json_object_set_new(st, "uses",
                        path && *path ? json_sprintf("%s/%s@%s", name, path, gitref)
                                      : json_sprintf("%s@%s", name, gitref));
    return 0;
}

static int step_script(const json_t *inputs, json_t *st, const char *where, struct gr_diag *d)
{
    json_t *m = NULL, *v;
    int r = token(inputs, where, 0, &m, d);

    if (r < 0)
        return r;
    if (!json_is_object(m) || !json_is_string(json_object_get(m, "script"))) {
        json_decref(m);
        return bad(d, where, "a script step needs inputs.script");
    }
    json_object_set(st, "run", json_object_get(m, "script"));
    if ((v = json_object_get(m, "shell")) && !json_is_null(v))
        json_object_set(st, "shell", v);
    if ((v = json_object_get(m, "workingDirectory")) && !json_is_null(v))
        json_object_set(st, "working-directory", v);
    json_decref(m);
    return 0;
}

static int one_step(const json_t *js, size_t i, json_t **ret, struct gr_diag *d)
{
    char where[64];
    const json_t *ref = iget(js, "reference");
    const char *type = istr(js, "type"), *ctx = istr(js, "contextName");
    const char *rtype = istr(ref, "type");
    json_t *st = json_object(), *rt = iget(ref, "type");
    int r = 0;

    snprintf(where, sizeof(where), "steps[%zu]", i);
    if (!json_is_object(js) || !istr(js, "id"))
        r = bad(d, where, "not a step object with an 'id'");
    else if (type && strcasecmp(type, "action") && strcmp(type, "4"))
        r = bad(d, where, "only action steps can run");
    else if (!json_is_object(ref))
        r = bad(d, where, "step without a 'reference'");
    if (r < 0)
        goto out;
    if (!ctx)
        ctx = istr(js, "name");
    if (ident_ok(ctx))
        json_object_set_new(st, "id", json_string(ctx));
    if ((rtype && !strcasecmp(rtype, "script")) || json_integer_value(rt) == 3) {
        snprintf(where, sizeof(where), "steps[%zu].inputs", i);
        r = step_script(iget(js, "inputs"), st, where, d);
    } else {
        r = step_uses(ref, where, st, d);
        snprintf(where, sizeof(where), "steps[%zu].inputs", i);
        if (r == 0)
            r = put_token(st, "with", iget(js, "inputs"), where, d);
    }
    snprintf(where, sizeof(where), "steps[%zu]", i);
    if (r == 0 && istr(js, "condition"))
        json_object_set_new(st, "if", json_string(istr(js, "condition")));
    if (r == 0 && iget(js, "displayNameToken"))
        r = put_token(st, "name", iget(js, "displayNameToken"), where, d);
    else if (r == 0 && istr(js, "displayName"))
        json_object_set_new(st, "name", literal_string(istr(js, "displayName")));
    if (r == 0)
        r = put_token(st, "env", iget(js, "environment"), where, d);
    if (r == 0)
        r = put_token(st, "continue-on-error", iget(js, "continueOnError"), where, d);
    if (r == 0)
        r = put_token(st, "timeout-minutes", iget(js, "timeoutInMinutes"), where, d);
out:
    if (r < 0) {
        json_decref(st);
        return r;
    }
    *ret = st;
    return 0;
}

/* ---- the job ---- */

static void add_mask(struct ex_jobspec *js, const char *s)
{
    if (!s || !*s)
        return;
    for (size_t i = 0; i < js->n_masks; i++)
        if (!strcmp(js->masks[i], s))
            return;
    js->masks = gr_xrealloc(js->masks, (js->n_masks + 1) * sizeof(*js->masks));
    js->masks[js->n_masks++] = gr_xstrdup(s);
}

/* Secret variables → secrets context and masks; github.token from system.github.token. */
static json_t *variables(const json_t *msg, struct ex_jobspec *js, json_t *github)
{
    json_t *secrets = json_object(), *v, *ep, *p;
    const char *k, *val;
    size_t i;

    json_object_foreach(iget(msg, "variables"), k, v)
    {
        val = istr(v, "value");
        if (!val)
            continue;
        if (!strcasecmp(k, "system.github.token")) {
            if (!json_object_get(github, "token"))
                json_object_set_new(github, "token", json_string(val));
            add_mask(js, val);
        } else if (json_is_true(iget(v, "isSecret"))) {
            add_mask(js, val);
            if (strcasecmp(k, "system.accessToken"))
                json_object_set_new(secrets, k, json_string(val));
        }
    }
    json_array_foreach(iget(msg, "mask"), i, v)
    {
        add_mask(js, istr(v, "value"));
    }
    json_array_foreach(iget(iget(msg, "resources"), "endpoints"), i, ep)
    {
        json_object_foreach(iget(iget(ep, "authorization"), "parameters"), k, p)
        {
            add_mask(js, json_string_value(p));
        }
    }
    return secrets;
}

/* environmentVariables / defaults: a list, workflow level first, job level last. */
static int layers(const json_t *list, const char *name, json_t *wf, json_t *job, const char *key,
                  struct gr_diag *d)
{
    json_t *item, *v, *wfv = NULL;
    char where[64];
    size_t i, n = json_array_size(list);
    int r;

    if (list && !json_is_null(list) && !json_is_array(list))
        return bad(d, name, "not a list");
    json_array_foreach(list, i, item)
    {
        snprintf(where, sizeof(where), "%s[%zu]", name, i);
        v = NULL;
        r = token(item, where, 0, &v, d);
        if (r == 0 && !json_is_object(v) && !json_is_null(v))
            r = bad(d, where, "not a mapping");
        if (r < 0) {
            json_decref(v);
            json_decref(wfv);
            return r;
        }
        if (json_is_null(v)) {
            json_decref(v);
        } else if (i + 1 == n) {
            json_object_set_new(job, key, v);
        } else {
            if (!wfv)
                wfv = json_object();
            json_object_update(wfv, v);
            json_decref(v);
        }
    }
    if (wfv)
        json_object_set_new(wf, key, wfv);
    return 0;
}

static char *job_ident(const json_t *msg)
{
    const char *s = istr(iget(iget(msg, "variables"), "system.github.job"), "value");

    return gr_xstrdup(s && *s && (isalpha((unsigned char)*s) || *s == '_') && !strchr(s, ' ') &&
                              !strchr(s, '.')
                          ? s
                          : "job");
}

static int build_workflow(const json_t *msg, struct ex_jobspec *js, json_t *ctx, json_t **ret,
                          struct gr_diag *d)
{
    json_t *wf = json_object(), *job = json_object(), *steps = json_array(), *jobs = json_object();
    json_t *matrix = json_object_get(ctx, "matrix"), *st, *v;
    const char *wfname =
        json_string_value(json_object_get(json_object_get(ctx, "github"), "workflow"));
    size_t i;
    int r = 0;

    json_object_set_new(wf, "name", literal_string(wfname ? wfname : "job message"));
    json_object_set_new(wf, "on", json_string("push"));
    json_object_set_new(job, "name", literal_string(js->display_name));
    json_object_set_new(job, "runs-on", json_string("self-hosted"));
    if (json_is_object(matrix) && json_object_size(matrix))
        json_object_set_new(job, "strategy", json_pack("{s:{s:[O]}}", "matrix", "include", matrix));
    r = layers(iget(msg, "environmentVariables"), "environmentVariables", wf, job, "env", d);
    if (r == 0)
        r = layers(iget(msg, "defaults"), "defaults", wf, job, "defaults", d);
    if (r == 0 && (v = iget(msg, "jobOutputs")) && !json_is_null(v))
        r = put_token(job, "outputs", v, "jobOutputs", d);
    if (r == 0 && (v = iget(msg, "jobContainer")) && !json_is_null(v))
        r = put_token(job, "container", v, "jobContainer", d);
    if (r == 0 && (v = iget(msg, "jobServiceContainers")) && !json_is_null(v))
        r = put_token(job, "services", v, "jobServiceContainers", d);
    if (r == 0 && iget(msg, "steps") && !json_is_array(iget(msg, "steps")))
        r = bad(d, "steps", "not a list");
    js->step_ids = gr_xcalloc(json_array_size(iget(msg, "steps")) + 1, sizeof(char *));
    json_array_foreach(iget(msg, "steps"), i, v)
    {
        if (r < 0)
            break;
        st = NULL;
        r = one_step(v, i, &st, d);
        if (r == 0) {
            json_array_append_new(steps, st);
            js->step_ids[js->n_steps++] = gr_xstrdup(istr(v, "id"));
        }
    }
    if (r == 0 && js->n_steps == 0)
        r = bad(d, "steps", "the job has no steps");
    json_object_set_new(job, "steps", steps);
    json_object_set_new(jobs, js->job_id, job);
    json_object_set_new(wf, "jobs", jobs);
    if (r < 0) {
        json_decref(wf);
        return r;
    }
    *ret = wf;
    return 0;
}

static int contexts(const json_t *msg, json_t **ret, struct gr_diag *d)
{
    const json_t *cd = iget(msg, "contextData");
    const char *k;
    json_t *v, *out = json_object();
    char where[80];
    int r = 0;

    if (cd && !json_is_null(cd) && !json_is_object(cd))
        r = bad(d, "contextData", "not an object");
    json_object_foreach((json_t *)cd, k, v)
    {
        json_t *x = NULL;

        if (r < 0)
            break;
        snprintf(where, sizeof(where), "contextData.%.60s", k);
        r = ctxdata(v, where, 0, &x, d);
        if (r == 0)
            json_object_set_new(out, k, x);
    }
    if (r < 0) {
        json_decref(out);
        return r;
    }
    *ret = out;
    return 0;
}

static int plan_it(struct ex_jobspec *js, json_t *ctx, json_t *secrets, const char *workspace,
                   struct gr_diag *d)
{
    json_t *github = json_object_get(ctx, "github"), *event = json_object_get(github, "event");
    json_t *inputs = json_object_get(ctx, "inputs"), *vars = json_object_get(ctx, "vars");
    struct ex_plan_opts po = {
        .event_name = "push",
        .event_payload = json_is_object(event) ? event : NULL,
        .secrets = secrets,
        .vars = json_is_object(vars) ? vars : NULL,
        .repo_dir = workspace,
        .ignore_filters = true,
    };
    struct ex_plan *p = NULL;
    int r = ex_plan_build(js->wf, &po, &p, d);

    if (r < 0)
        return r;
    js->plan = p;
    if (p->n_jobs != 1 || p->jobs[0].n_legs != 1)
        return bad(d, "steps", "the job does not make exactly one job to run");
    if (json_is_object(github)) {
        json_object_update(p->github, github);
        free(p->event_name);
        p->event_name = gr_xstrdup(json_string_value(json_object_get(github, "event_name"))
                                       ? json_string_value(json_object_get(github, "event_name"))
                                       : "push");
    }
    if (json_is_object(inputs)) {
        json_decref(p->inputs);
        p->inputs = json_incref(inputs);
    }
    free(p->jobs[0].legs[0].display_name);
    p->jobs[0].legs[0].display_name = gr_xstrdup(js->display_name);
    js->contexts = json_object();
    json_object_set_new(js->contexts, "needs",
                        json_is_object(json_object_get(ctx, "needs"))
                            ? json_incref(json_object_get(ctx, "needs"))
                            : json_object());
    if (json_is_object(json_object_get(ctx, "strategy")))
        json_object_set(js->contexts, "strategy", json_object_get(ctx, "strategy"));
    return 0;
}

int ex_jobspec_build(const json_t *msg, const char *workspace, struct ex_jobspec **ret,
                     struct gr_diag *reterr)
{
    struct ex_jobspec *js = gr_xcalloc(1, sizeof(*js));
    json_t *ctx = NULL, *secrets = NULL;
    char *text = NULL;
    int r;

    if (!json_is_object(msg)) {
        r = bad(reterr, "message", "not a JSON object");
        goto out;
    }
    js->job_id = job_ident(msg);
    js->display_name =
        gr_xstrdup(istr(msg, "jobDisplayName") ? istr(msg, "jobDisplayName") : js->job_id);
    r = contexts(msg, &ctx, reterr);
    if (r < 0)
        goto out;
    if (!json_is_object(json_object_get(ctx, "github")))
        json_object_set_new(ctx, "github", json_object());
    secrets = variables(msg, js, json_object_get(ctx, "github"));
    r = build_workflow(msg, js, ctx, &js->workflow, reterr);
    if (r < 0)
        goto out;
    text = json_dumps(js->workflow, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    r = ex_workflow_parse("job message", text, strlen(text), &js->wf, NULL, reterr);
    if (r == 0)
        r = plan_it(js, ctx, secrets, workspace, reterr);
out:
    free(text);
    json_decref(ctx);
    json_decref(secrets);
    if (r < 0) {
        ex_jobspec_free(js);
        return r;
    }
    *ret = js;
    return 0;
}

void ex_jobspec_free(struct ex_jobspec *js)
{
    if (!js)
        return;
    ex_plan_free(js->plan);
    ex_workflow_free(js->wf);
    free(js->job_id);
    free(js->display_name);
    for (size_t i = 0; i < js->n_steps; i++)
        free(js->step_ids[i]);
    free(js->step_ids);
    for (size_t i = 0; i < js->n_masks; i++)
        free(js->masks[i]);
    free(js->masks);
    json_decref(js->contexts);
    json_decref(js->workflow);
    free(js);
}
