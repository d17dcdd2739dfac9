/*
 * Registration and removal (runner-protocol.md section 3; R
 * Runner.Listener/Configuration/ConfigurationManager.cs, RunnerDotcomServer.cs;
 * G runnerconfiguration/add.go).
 *
 * Both run before any long-lived loop exists, so each call is a synchronous
 * request over the caller's loop (rn_http_run_sync). Tokens only ever travel
 * in headers: no URL and no log line carries one.
 */
#include "protocol.h"
#include "http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#define RN_API_VERSION_AGENTS "6.0-preview.2"

struct call {
    const char *method;
    char *url;        /* owned */
    const char *auth; /* full header value: "RemoteAuth x" or "Bearer x" */
    json_t *body;     /* borrowed, may be NULL */
    bool vss;         /* pipelines (VSS) call: api-version headers */
};

unsigned rn_proto_retry_base_ms(void)
{
    const char *e = getenv("GHRUN_RETRY_BASE_MS");
    char *end;
    unsigned long v;

    if (!e || !*e)
        return 1000;
    v = strtoul(e, &end, 10);
    return *end || v > 60000 ? 1000 : (unsigned)v;
}

/* Registration is not retried on 404 (R GetTenantCredential); anything 5xx or network is. */
static bool retry_pred(const struct rn_req *req, int status)
{
    return rn_req_retry_default(req, status);
}

static int http_error(const struct rn_req *req, int status, struct gr_diag *reterr)
{
    const struct gr_buf *b = rn_req_resp(req);
    json_t *j;
    const char *msg = NULL;
    int r;

    if (status < 0)
        return gr_diag_set(reterr, status, NULL, 0, 0, "%s %s: %s%s%s", rn_req_method(req),
                           rn_req_url(req), gr_strerror(status), *rn_req_errtext(req) ? ": " : "",
                           rn_req_errtext(req));
    j = rn_json_parse(b->ptr, b->len, NULL);
    msg = rn_json_str(j, "message");
    if (!msg)
        msg = rn_json_str(j, "errorMessage");
    r = gr_diag_set(reterr, GR_EHTTP, NULL, 0, 0, "%s %s: HTTP %ld%s%.300s", rn_req_method(req),
                    rn_req_url(req), rn_req_status(req), msg ? ": " : "", msg ? msg : "");
    json_decref(j);
    return r;
}

/* Run one call; on 2xx parse the body (NULL when empty) into *ret. */
static int do_call(struct rn_http *http, struct call *c, json_t **ret, struct gr_diag *reterr)
{
    struct rn_req *req = rn_req_new(c->method, c->url);
    const struct gr_buf *b;
    int r;

    rn_req_header(req, "Authorization: %s", c->auth);
    rn_req_header(req, "Accept: application/json%s%s", c->vss ? "; api-version=" : "",
                  c->vss ? RN_API_VERSION_AGENTS : "");
    if (c->vss)
        rn_req_header(req, "X-TFS-FedAuthRedirect: Suppress");
    if (c->body)
        rn_req_json(req, c->body);
    rn_req_timeout(req, 100000);
    rn_req_retry(req, 3, rn_proto_retry_base_ms(), retry_pred);
    r = rn_http_run_sync(http, req);
    if (r < 0 || !rn_req_ok(req)) {
        r = http_error(req, r, reterr);
        goto out;
    }
    b = rn_req_resp(req);
    *ret = NULL;
    if (b->len) {
        *ret = rn_json_parse(b->ptr, b->len, reterr);
        if (!*ret)
            r = GR_EPROTO;
    }
out:
    rn_req_free(req);
    free(c->url);
    c->url = NULL;
    return r;
}

struct tenant {
    char *url;   /* pipelines URL, ends in '/' */
    char *token; /* bearer for the admin calls */
    bool v2;     /* use_v2_flow */
};

static void tenant_release(struct tenant *t)
{
    if (t->token)
        memset(t->token, 0, strlen(t->token));
    free(t->url);
    free(t->token);
}

static int get_tenant(struct rn_http *http, const char *github_url, const char *token,
                      const char *event, struct tenant *ret, struct gr_diag *reterr)
{
    char *api = NULL, *auth = gr_xasprintf("RemoteAuth %s", token);
    json_t *body = json_pack("{s:s,s:s}", "url", github_url, "runner_event", event);
    json_t *resp = NULL;
    struct call c = {.method = "POST", .auth = auth, .body = body};
    const char *url, *tok;
    int r;

    r = rn_url_api(github_url, &api, NULL, reterr);
    if (r < 0)
        goto out;
    c.url = rn_url_join(api, "actions/runner-registration");
    r = do_call(http, &c, &resp, reterr);
    if (r < 0)
        goto out;
    url = rn_json_str(resp, "url");
    tok = rn_json_str(resp, "token");
    if (!url || !tok) {
        r = gr_diag_set(reterr, GR_EPROTO, NULL, 0, 0, "runner-registration: no url or token");
        goto out;
    }
    ret->url = rn_url_join(url, "");
    ret->token = gr_xstrdup(tok);
    ret->v2 = rn_json_bool(resp, "use_v2_flow", false);
out:
    memset(auth, 0, strlen(auth));
    free(auth);
    free(api);
    json_decref(body);
    json_decref(resp);
    return r;
}

static const char *os_arch(void)
{
    struct utsname u;

    if (uname(&u) < 0)
        return "X64";
    if (!strcmp(u.machine, "aarch64") || !strcmp(u.machine, "arm64"))
        return "ARM64";
    if (!strncmp(u.machine, "arm", 3))
        return "ARM";
    if (u.machine[0] == 'i' && !strcmp(u.machine + 2, "86"))
        return "X86";
    return "X64";
}

static char *os_description(void)
{
    struct utsname u;

    if (uname(&u) < 0)
        return gr_xstrdup("Linux");
    return gr_xasprintf("%s %s %s", u.sysname, u.release, u.version);
}

/* Labels as {name, type}: system labels first (unless dropped), then the user's. */
static json_t *labels_json(const struct rn_register_opts *o)
{
    json_t *a = json_array();
    const char *sys[] = {"self-hosted", "Linux", os_arch()};
    char *list, *save = NULL;

    for (size_t i = 0; i < GR_ARRAY_SIZE(sys) && !o->no_default_labels; i++)
        json_array_append_new(a, json_pack("{s:s,s:s}", "name", sys[i], "type", "system"));
    if (!o->labels)
        return a;
    list = gr_xstrdup(o->labels);
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (*t)
            json_array_append_new(a, json_pack("{s:s,s:s}", "name", t, "type", "user"));
    }
    free(list);
    return a;
}

/* ---- classic flow (pools and agents on the tenant) ---- */

static int pick_pool(struct rn_http *http, const struct tenant *t, const char *group,
                     long long *ret_id, char **ret_name, struct gr_diag *reterr)
{
    char *auth = gr_xasprintf("Bearer %s", t->token);
    struct call c = {.method = "GET", .auth = auth, .vss = true};
    json_t *resp = NULL, *v;
    size_t i;
    int r;

    c.url = rn_url_join(t->url, "_apis/distributedtask/pools?poolType=Automation");
    r = do_call(http, &c, &resp, reterr);
    if (r < 0)
        goto out;
    r = gr_diag_set(reterr, GR_ENOTFOUND, NULL, 0, 0, "no runner group named '%s'",
                    group ? group : "(default)");
    json_array_foreach(rn_json_iget(resp, "value"), i, v)
    {
        const char *name = rn_json_str(v, "name");
        if (rn_json_bool(v, "isHosted", false) || !name)
            continue;
        if (group ? !strcasecmp(name, group) : rn_json_bool(v, "isInternal", false)) {
            *ret_id = rn_json_int(v, "id", 0);
            *ret_name = gr_xstrdup(name);
            r = 0;
            break;
        }
    }
out:
    free(auth);
    json_decref(resp);
    return r;
}

static int find_agent(struct rn_http *http, const struct tenant *t, long long pool,
                      const char *name, long long *ret_id, struct gr_diag *reterr)
{
    char *auth = gr_xasprintf("Bearer %s", t->token), *esc = rn_url_escape(name);
    struct call c = {.method = "GET", .auth = auth, .vss = true};
    json_t *resp = NULL, *v;
    size_t i;
    int r;

    c.url =
        gr_xasprintf("%s_apis/distributedtask/pools/%lld/agents?agentName=%s", t->url, pool, esc);
    r = do_call(http, &c, &resp, reterr);
    *ret_id = 0;
    json_array_foreach(rn_json_iget(resp, "value"), i, v)
    {
        const char *n = rn_json_str(v, "name");
        if (n && !strcasecmp(n, name))
            *ret_id = rn_json_int(v, "id", 0);
    }
    free(esc);
    free(auth);
    json_decref(resp);
    return r;
}

static json_t *agent_json(const struct rn_register_opts *o, struct evp_pkey_st *key)
{
    char *n = NULL, *e = NULL, *osd = os_description();
    json_t *a = NULL;

    if (rn_key_public(key, &n, &e) == 0)
        a = json_pack("{s:s,s:s,s:s,s:i,s:b,s:b,s:o,s:{s:{s:s,s:s}}}", "name", o->name, "version",
                      o->version, "osDescription", osd, "maxParallelism", 1, "ephemeral",
                      o->ephemeral, "disableUpdate", o->disable_update, "labels", labels_json(o),
                      "authorization", "publicKey", "exponent", e, "modulus", n);
    free(n);
    free(e);
    free(osd);
    return a;
}

/* Read what the runner keeps from the created agent (classic flow). */
static int agent_result(const json_t *agent, const struct rn_register_opts *o,
                        struct rn_settings *s, struct rn_creds *c, struct gr_diag *reterr)
{
    json_t *auth = rn_json_iget(agent, "authorization");
    json_t *props = rn_json_iget(agent, "properties");
    const char *url = rn_json_str(auth, "authorizationUrl");
    const char *cid = rn_json_str(auth, "clientId");
    const char *v2 = rn_json_str(props, "ServerUrlV2");

    s->agent_id = rn_json_int(agent, "id", 0);
    if (!s->agent_id || !url || !cid)
        return gr_diag_set(reterr, GR_EPROTO, NULL, 0, 0,
                           "the service returned an agent without id or authorization");
    /* R aborts when an old server drops a setting it asked for. */
    if ((o->ephemeral && !rn_json_bool(agent, "ephemeral", false)) ||
        (o->disable_update && !rn_json_bool(agent, "disableUpdate", false)))
        return gr_diag_set(reterr, GR_EPROTO, NULL, 0, 0,
                           "the service does not support --ephemeral or --disableupdate");
    c->authorization_url = gr_xstrdup(url);
    c->client_id = gr_xstrdup(cid);
    c->require_fips = rn_json_bool(props, "RequireFipsCryptography", true);
    if (v2 && rn_json_bool(props, "UseV2Flow", false)) {
        s->server_url_v2 = rn_url_join(v2, "");
        s->use_v2_flow = true;
    }
    return 0;
}

static int classic_register(struct rn_http *http, const struct rn_register_opts *o,
                            struct evp_pkey_st *key, const struct tenant *t, struct rn_settings *s,
                            struct rn_creds *c, struct gr_diag *reterr)
{
    char *auth = gr_xasprintf("Bearer %s", t->token);
    struct call call = {.auth = auth, .vss = true};
    json_t *body = NULL, *resp = NULL;
    long long existing = 0;
    int r;

    r = pick_pool(http, t, o->group, &s->pool_id, &s->pool_name, reterr);
    if (r == 0)
        r = find_agent(http, t, s->pool_id, o->name, &existing, reterr);
    if (r == 0 && existing && !o->replace)
        r = gr_diag_set(reterr, -EEXIST, NULL, 0, 0,
                        "a runner named '%s' exists already (use --replace)", o->name);
    if (r < 0)
        goto out;
    body = agent_json(o, key);
    if (existing) {
        json_object_set_new(body, "id", json_integer(existing));
        call.method = "PUT";
        call.url = gr_xasprintf("%s_apis/distributedtask/pools/%lld/agents/%lld", t->url,
                                s->pool_id, existing);
    } else {
        call.method = "POST";
        call.url = gr_xasprintf("%s_apis/distributedtask/pools/%lld/agents", t->url, s->pool_id);
    }
    call.body = body;
    r = do_call(http, &call, &resp, reterr);
    if (r == 0)
        r = agent_result(resp, o, s, c, reterr);
out:
    free(auth);
    json_decref(body);
    json_decref(resp);
    return r;
}

/* ---- runner-admin flow (use_v2_flow; R RunnerDotcomServer.cs) ---- */

static int admin_group(struct rn_http *http, const char *api, const char *scope, const char *auth,
                       const char *group, long long *ret_id, char **ret_name,
                       struct gr_diag *reterr)
{
    struct call c = {.method = "GET", .auth = auth};
    json_t *resp = NULL, *v;
    size_t i;
    int r;

    c.url = gr_xasprintf("%s/%s/actions/runner-groups", api, scope);
    r = do_call(http, &c, &resp, reterr);
    if (r < 0)
        goto out;
    r = gr_diag_set(reterr, GR_ENOTFOUND, NULL, 0, 0, "no runner group named '%s'",
                    group ? group : "(default)");
    json_array_foreach(rn_json_iget(resp, "runner_groups"), i, v)
    {
        const char *name = rn_json_str(v, "name");
        if (!name || rn_json_bool(v, "is_hosted", false))
            continue;
        if (group ? !strcasecmp(name, group) : rn_json_bool(v, "default", false)) {
            *ret_id = rn_json_int(v, "id", 0);
            *ret_name = gr_xstrdup(name);
            r = 0;
            break;
        }
    }
out:
    json_decref(resp);
    return r;
}

static int admin_find(struct rn_http *http, const char *api, const char *scope, const char *auth,
                      const char *name, long long *ret_id, struct gr_diag *reterr)
{
    char *esc = rn_url_escape(name);
    struct call c = {.method = "GET", .auth = auth};
    json_t *resp = NULL, *v;
    size_t i;
    int r;

    c.url = gr_xasprintf("%s/%s/actions/runners?name=%s", api, scope, esc);
    r = do_call(http, &c, &resp, reterr);
    *ret_id = 0;
    json_array_foreach(rn_json_iget(resp, "runners"), i, v)
    {
        const char *n = rn_json_str(v, "name");
        if (n && !strcasecmp(n, name))
            *ret_id = rn_json_int(v, "id", 0);
    }
    free(esc);
    json_decref(resp);
    return r;
}

static json_t *admin_body(const struct rn_register_opts *o, struct evp_pkey_st *key,
                          long long group, long long existing)
{
    char *n = NULL, *e = NULL, *xml;
    json_t *b;

    if (rn_key_public(key, &n, &e) < 0)
        return NULL;
    xml = gr_xasprintf("<RSAKeyValue><Modulus>%s</Modulus><Exponent>%s</Exponent></RSAKeyValue>", n,
                       e);
    b = json_pack("{s:s,s:I,s:s,s:s,s:b,s:b,s:o,s:s}", "url", o->url, "group_id", (json_int_t)group,
                  "name", o->name, "version", o->version, "updates_disabled", o->disable_update,
                  "ephemeral", o->ephemeral, "labels", labels_json(o), "public_key", xml);
    if (existing) {
        json_object_set_new(b, "runner_id", json_integer(existing));
        json_object_set_new(b, "replace", json_true());
    }
    free(xml);
    free(n);
    free(e);
    return b;
}

static int admin_register(struct rn_http *http, const struct rn_register_opts *o,
                          struct evp_pkey_st *key, struct rn_settings *s, struct rn_creds *c,
                          struct gr_diag *reterr)
{
    char *api = NULL, *scope = NULL, *auth = gr_xasprintf("RemoteAuth %s", o->token);
    struct call call = {.method = "POST", .auth = auth};
    json_t *body = NULL, *resp = NULL, *a;
    long long existing = 0;
    const char *url, *cid, *srv;
    int r;

    r = rn_url_api(o->url, &api, &scope, reterr);
    if (r == 0)
        r = admin_group(http, api, scope, auth, o->group, &s->pool_id, &s->pool_name, reterr);
    if (r == 0)
        r = admin_find(http, api, scope, auth, o->name, &existing, reterr);
    if (r == 0 && existing && !o->replace)
        r = gr_diag_set(reterr, -EEXIST, NULL, 0, 0,
                        "a runner named '%s' exists already (use --replace)", o->name);
    if (r < 0)
        goto out;
    body = admin_body(o, key, s->pool_id, existing);
    call.body = body;
    call.url = rn_url_join(api, "actions/runners/register");
    r = do_call(http, &call, &resp, reterr);
    if (r < 0)
        goto out;
    a = rn_json_iget(resp, "authorization");
    url = rn_json_str(a, "authorization_url");
    cid = rn_json_str(a, "client_id");
    srv = rn_json_str(a, "server_url");
    s->agent_id = rn_json_int(resp, "id", 0);
    if (!s->agent_id || !url || !cid || !srv) {
        r = gr_diag_set(reterr, GR_EPROTO, NULL, 0, 0, "runners/register: incomplete answer");
        goto out;
    }
    c->authorization_url = gr_xstrdup(url);
    c->client_id = gr_xstrdup(cid);
    c->require_fips = true;
    s->server_url_v2 = rn_url_join(srv, "");
    s->use_v2_flow = s->use_runner_admin_flow = true;
out:
    memset(auth, 0, strlen(auth));
    free(auth);
    free(api);
    free(scope);
    json_decref(body);
    json_decref(resp);
    return r;
}

int rn_proto_register(struct rn_http *http, const struct rn_register_opts *o,
                      struct evp_pkey_st *key, struct rn_settings *ret_s, struct rn_creds *ret_c,
                      struct gr_diag *reterr)
{
    struct tenant t = {0};
    struct rn_settings s = {0};
    struct rn_creds c = {0};
    int r;

    r = get_tenant(http, o->url, o->token, "register", &t, reterr);
    if (r < 0)
        return r;
    if (t.v2)
        r = admin_register(http, o, key, &s, &c, reterr);
    else
        r = classic_register(http, o, key, &t, &s, &c, reterr);
    if (r == 0) {
        s.agent_name = gr_xstrdup(o->name);
        s.server_url = gr_xstrdup(t.url);
        s.github_url = gr_xstrdup(o->url);
        s.work_folder = gr_xstrdup(o->work ? o->work : "_work");
        s.disable_update = o->disable_update;
        s.ephemeral = o->ephemeral;
        *ret_s = s;
        *ret_c = c;
    } else {
        rn_settings_release(&s);
        rn_creds_release(&c);
    }
    tenant_release(&t);
    return r;
}

int rn_proto_unregister(struct rn_http *http, const struct rn_settings *s, const char *token,
                        struct gr_diag *reterr)
{
    struct tenant t = {0};
    char *auth = NULL, *api = NULL, *scope = NULL;
    struct call c = {.method = "DELETE"};
    json_t *resp = NULL;
    int r;

    r = get_tenant(http, s->github_url, token, "remove", &t, reterr);
    if (r < 0)
        return r;
    if (s->use_runner_admin_flow) {
        auth = gr_xasprintf("RemoteAuth %s", token);
        r = rn_url_api(s->github_url, &api, &scope, reterr);
        c.url = r == 0 ? gr_xasprintf("%s/%s/actions/runners/%lld", api, scope, s->agent_id) : NULL;
    } else {
        auth = gr_xasprintf("Bearer %s", t.token);
        c.vss = true;
        c.url = gr_xasprintf("%s_apis/distributedtask/pools/%lld/agents/%lld", t.url, s->pool_id,
                             s->agent_id);
    }
    c.auth = auth;
    if (r == 0)
        r = do_call(http, &c, &resp, reterr);
    memset(auth, 0, strlen(auth));
    free(auth);
    free(api);
    free(scope);
    json_decref(resp);
    tenant_release(&t);
    return r;
}

static unsigned env_ms(const char *name, unsigned def)
{
    const char *e = getenv(name);
    char *end;
    unsigned long v;

    if (!e || !*e)
        return def;
    v = strtoul(e, &end, 10);
    return *end || v == 0 || v > 3600000 ? def : (unsigned)v;
}

void rn_timing_load(struct rn_timing *t)
{
    t->retry_base_ms = rn_proto_retry_base_ms();
    t->renew_ms = env_ms("GHRUN_RENEW_MS", 60000);
    t->request_timeout_ms = env_ms("GHRUN_REQUEST_TIMEOUT_MS", 100000);
    t->poll_timeout_ms = env_ms("GHRUN_POLL_TIMEOUT_MS", 60000);
    t->session_retry_ms = env_ms("GHRUN_SESSION_RETRY_MS", 30000);
}
