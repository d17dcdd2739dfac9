/*
 * Job message decoding (see jobmsg.h). Keys are matched case-insensitively
 * (servers and JIT blobs mix camelCase and PascalCase; R reads leniently).
 */
#include "jobmsg.h"
#include "http.h"
#include "protocol.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RN_MASK_MIN 1 /* even one-character secrets are masked, as R does */

static char *dup_or_null(const char *s)
{
    return s ? gr_xstrdup(s) : NULL;
}

static void strv_add(char ***v, size_t *n, char *s)
{
    *v = gr_xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = s;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int rn_token_literal(const void *json_token, char **ret)
{
    const json_t *t = json_token;
    json_t *type;
    char buf[64];

    if (json_is_string(t)) {
        *ret = gr_xstrdup(json_string_value(t));
        return 0;
    }
    if (json_is_boolean(t)) {
        *ret = gr_xstrdup(json_is_true(t) ? "true" : "false");
        return 0;
    }
    if (json_is_integer(t)) {
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(t));
        *ret = gr_xstrdup(buf);
        return 0;
    }
    if (json_is_real(t)) {
        snprintf(buf, sizeof(buf), "%.15g", json_real_value(t));
        *ret = gr_xstrdup(buf);
        return 0;
    }
    if (json_is_null(t)) {
        *ret = gr_xstrdup("");
        return 0;
    }
    if (!json_is_object(t))
        return -EINVAL;
    type = rn_json_iget(t, "type");
    if (!type || rn_json_int(t, "type", -1) == 0)
        return rn_json_str(t, "lit") ? rn_token_literal(rn_json_iget(t, "lit"), ret) : -EINVAL;
    if (rn_json_int(t, "type", -1) == 5)
        return rn_token_literal(json_boolean(rn_json_bool(t, "bool", false)), ret);
    if (rn_json_int(t, "type", -1) == 6 && rn_json_iget(t, "num"))
        return rn_token_literal(rn_json_iget(t, "num"), ret);
    if (rn_json_int(t, "type", -1) == 7) {
        *ret = gr_xstrdup("");
        return 0;
    }
    return -EINVAL;
}

/* Walk a mapping token's pairs: fn(key, value token) for each; -EINVAL if not a mapping. */
static int map_each(const json_t *tok, int (*fn)(const char *k, const json_t *v, void *arg),
                    void *arg)
{
    json_t *pairs = rn_json_iget(tok, "map"), *pair;
    size_t i;
    int r;

    if (!tok || json_is_null(tok))
        return 0;
    if (rn_json_int(tok, "type", -1) != 2)
        return -EINVAL;
    json_array_foreach(pairs, i, pair)
    {
        char *key = NULL;
        r = rn_token_literal(rn_json_iget(pair, "Key"), &key);
        if (r == 0)
            r = fn(key, rn_json_iget(pair, "Value"), arg);
        free(key);
        if (r < 0)
            return r;
    }
    return 0;
}

struct env_acc {
    char ***v;
    size_t *n;
};

static int env_one(const char *k, const json_t *v, void *arg)
{
    struct env_acc *a = arg;
    char *val = NULL;
    int r = rn_token_literal(v, &val);

    if (r < 0)
        return r;
    strv_add(a->v, a->n, gr_xasprintf("%s=%s", k, val));
    free(val);
    return 0;
}

static int input_one(const char *k, const json_t *v, void *arg)
{
    struct rn_jobstep *st = arg;
    char **slot = !strcasecmp(k, "script")             ? &st->script
                  : !strcasecmp(k, "shell")            ? &st->shell
                  : !strcasecmp(k, "workingDirectory") ? &st->workdir
                                                       : NULL;

    if (!slot)
        return 0;
    free(*slot);
    *slot = NULL;
    return rn_token_literal(v, slot);
}

static void mark(struct rn_jobstep *st, const char *why)
{
    if (!st->unsupported)
        st->unsupported = gr_xstrdup(why);
}

static void parse_step(const json_t *js, struct rn_jobstep *st)
{
    const json_t *ref = rn_json_iget(js, "reference");
    const char *rtype = rn_json_str(ref, "type");
    struct env_acc acc = {&st->env, &st->nenv};
    json_t *coe = rn_json_iget(js, "continueOnError");
    char *coe_s = NULL;

    st->id = dup_or_null(rn_json_str(js, "id"));
    st->name = dup_or_null(rn_json_str(js, "contextName"));
    if (!st->name)
        st->name = dup_or_null(rn_json_str(js, "name"));
    st->condition =
        gr_xstrdup(rn_json_str(js, "condition") ? rn_json_str(js, "condition") : "success()");
    if (!rtype || (strcasecmp(rtype, "script") && rn_json_int(ref, "type", 0) != 3)) {
        mark(st, "only run: steps can run until the executor engine is merged");
    } else if (map_each(rn_json_iget(js, "inputs"), input_one, st) < 0 || !st->script) {
        mark(st, "the step's script, shell or working-directory needs expression evaluation");
    }
    if (map_each(rn_json_iget(js, "environment"), env_one, &acc) < 0)
        mark(st, "the step's env needs expression evaluation");
    if (coe && rn_token_literal(coe, &coe_s) == 0)
        st->continue_on_error = !strcmp(coe_s, "true");
    else if (coe)
        mark(st, "the step's continue-on-error needs expression evaluation");
    free(coe_s);
    if (rn_json_iget(js, "displayNameToken") &&
        rn_token_literal(rn_json_iget(js, "displayNameToken"), &st->display) < 0)
        st->display = NULL;
    if (!st->display && st->script) {
        size_t n = strcspn(st->script, "\n");
        st->display = gr_xasprintf("Run %.*s", (int)n, st->script);
    }
    if (!st->display)
        st->display = gr_xstrdup(st->name ? st->name : "step");
}

static void step_release(struct rn_jobstep *st)
{
    free(st->id);
    free(st->name);
    free(st->display);
    free(st->script);
    free(st->shell);
    free(st->workdir);
    free(st->condition);
    free(st->unsupported);
    strv_free(st->env, st->nenv);
}

void rn_jobmsg_release(struct rn_jobmsg *m)
{
    free(m->message_type);
    free(m->plan_id);
    free(m->job_id);
    free(m->timeline_id);
    free(m->display_name);
    free(m->url);
    if (m->token)
        memset(m->token, 0, strlen(m->token));
    free(m->token);
    free(m->repository);
    strv_free(m->secrets, m->nsecrets);
    strv_free(m->env, m->nenv);
    for (size_t i = 0; i < m->nsteps; i++)
        step_release(&m->steps[i]);
    free(m->steps);
    memset(m, 0, sizeof(*m));
}

static void add_secret(struct rn_jobmsg *m, const char *s)
{
    if (s && strlen(s) >= RN_MASK_MIN)
        strv_add(&m->secrets, &m->nsecrets, gr_xstrdup(s));
}

static void parse_endpoint(const json_t *resources, struct rn_jobmsg *m)
{
    json_t *eps = rn_json_iget(resources, "endpoints"), *ep, *params, *v;
    const char *k;
    size_t i;

    json_array_foreach(eps, i, ep)
    {
        params = rn_json_iget(rn_json_iget(ep, "authorization"), "parameters");
        /* R masks every value in any endpoint's authorization parameters. */
        json_object_foreach(params, k, v)
        {
            add_secret(m, json_string_value(v));
        }
        if (rn_json_str(ep, "name") &&
            !strcasecmp(rn_json_str(ep, "name"), "SystemVssConnection")) {
            free(m->url);
            free(m->token);
            m->url = rn_json_str(ep, "url") ? rn_url_join(rn_json_str(ep, "url"), "") : NULL;
            m->token = dup_or_null(rn_json_str(params, "AccessToken"));
        }
    }
}

const json_t *rn_jobmsg_system_endpoint(const json_t *msg)
{
    json_t *ep;
    size_t i;

    json_array_foreach(rn_json_iget(rn_json_iget(msg, "resources"), "endpoints"), i, ep)
    {
        const char *name = rn_json_str(ep, "name");

        if (name && !strcasecmp(name, "SystemVssConnection"))
            return ep;
    }
    return NULL;
}

static void parse_variables(const json_t *vars, const json_t *masks, struct rn_jobmsg *m)
{
    const char *k;
    json_t *v, *mask;
    size_t i;

    json_object_foreach((json_t *)vars, k, v)
    {
        if (rn_json_bool(v, "isSecret", false))
            add_secret(m, rn_json_str(v, "value"));
    }
    /* regex hints are escaped values; masking them literally covers the usual case */
    json_array_foreach(masks, i, mask)
    {
        add_secret(m, rn_json_str(mask, "value"));
    }
}

static char *github_ctx(const json_t *ctxdata, const char *key)
{
    json_t *gh = rn_json_iget(ctxdata, "github"), *pair;
    size_t i;

    json_array_foreach(rn_json_iget(gh, "d"), i, pair)
    {
        const char *k = rn_json_str(pair, "k");
        json_t *v = rn_json_iget(pair, "v");
        if (k && !strcasecmp(k, key))
            return json_is_string(v) ? gr_xstrdup(json_string_value(v))
                                     : dup_or_null(rn_json_str(v, "s"));
    }
    return NULL;
}

int rn_jobmsg_parse(const char *text, size_t len, struct rn_jobmsg *ret, struct gr_diag *reterr)
{
    json_t *o = rn_json_parse(text, len, reterr), *plan, *steps, *js, *envs, *e;
    struct rn_jobmsg m = {0};
    struct env_acc acc = {&m.env, &m.nenv};
    size_t i;
    int r = GR_EPROTO;

    if (!json_is_object(o)) {
        r = o ? gr_diag_set(reterr, GR_EPROTO, NULL, 0, 0, "job message is not an object")
              : GR_EPARSE;
        goto out;
    }
    plan = rn_json_iget(o, "plan");
    m.message_type = dup_or_null(rn_json_str(o, "messageType"));
    m.plan_id = dup_or_null(rn_json_str(plan, "planId"));
    m.job_id = dup_or_null(rn_json_str(o, "jobId"));
    m.timeline_id = dup_or_null(rn_json_str(rn_json_iget(o, "timeline"), "id"));
    m.display_name = dup_or_null(rn_json_str(o, "jobDisplayName"));
    m.request_id = rn_json_int(o, "requestId", 0);
    m.repository = github_ctx(rn_json_iget(o, "contextData"), "repository");
    parse_endpoint(rn_json_iget(o, "resources"), &m);
    parse_variables(rn_json_iget(o, "variables"), rn_json_iget(o, "mask"), &m);
    if (!m.plan_id || !m.job_id || !m.url || !m.token) {
        gr_diag_set(reterr, r, NULL, 0, 0,
                    "job message lacks plan.planId, jobId or the SystemVssConnection endpoint");
        goto out;
    }
    envs = rn_json_iget(o, "environmentVariables");
    json_array_foreach(envs, i, e)
    {
        if (map_each(e, env_one, &acc) < 0)
            m.env_unsupported = true;
    }
    steps = rn_json_iget(o, "steps");
    m.steps = gr_xcalloc(json_array_size(steps) + 1, sizeof(*m.steps));
    json_array_foreach(steps, i, js)
    {
        parse_step(js, &m.steps[m.nsteps]);
        if (m.env_unsupported)
            mark(&m.steps[m.nsteps], "the job's env needs expression evaluation");
        m.nsteps++;
    }
    /* display names reach the runner's own log: never with a secret in them */
    for (i = 0; i < m.nsteps; i++) {
        char *masked = rn_jobmsg_mask(&m, m.steps[i].display, strlen(m.steps[i].display));
        free(m.steps[i].display);
        m.steps[i].display = masked;
    }
    if (m.display_name) {
        char *masked = rn_jobmsg_mask(&m, m.display_name, strlen(m.display_name));
        free(m.display_name);
        m.display_name = masked;
    }
    *ret = m;
    memset(&m, 0, sizeof(m));
    r = 0;
out:
    rn_jobmsg_release(&m);
    json_decref(o);
    return r;
}

char *rn_jobmsg_mask(const struct rn_jobmsg *m, const char *line, size_t len)
{
    struct gr_buf b = GR_BUF_INIT(0);
    size_t i = 0;

    while (i < len) {
        size_t best = 0;
        for (size_t s = 0; s < m->nsecrets; s++) {
            size_t sl = strlen(m->secrets[s]);
            if (sl > best && sl <= len - i && !memcmp(line + i, m->secrets[s], sl))
                best = sl;
        }
        /* the buffer has no limit, so appends cannot fail */
        if (best) {
            if (gr_buf_adds(&b, "***") < 0)
                abort();
            i += best;
        } else if (gr_buf_addch(&b, line[i++]) < 0) {
            abort();
        }
    }
    return gr_buf_detach(&b, NULL);
}
