/*
 * GitHub's action download info and tarballs (actions_dl.h). Facts, from
 * actions/runner:
 *   - src/Runner.Worker/ActionManager.cs: GetDownloadInfoAsync sends every
 *     repository action of a job (key "owner/repo@ref") in one request, 3
 *     attempts, no retry of an unresolvable (422) or rate-limited (429)
 *     answer; an answer without a token gets github.token. Run-service jobs
 *     (MessageUtil.IsRunServiceJob: messageType "RunnerJobRequest") ask the
 *     launch service, others the job server. DownloadRepositoryArchive: 3
 *     tries, 20 minutes each, 404 and 403 final; CreateAuthHeader: Basic
 *     base64("x-access-token:<token>"), Bearer for codeload URLs (host
 *     "codeload.*" or path "/_codeload/") under the feature flag
 *     actions_use_bearer_token_for_codeload.
 *   - src/Sdk/WebApi/WebApi/LaunchHttpClient.cs, LaunchContracts.cs:
 *     POST {launch endpoint origin}/actions/build/{planId}/jobs/{jobId}/
 *     runnerresolve/actions, Bearer job token, body
 *     {"actions":[{"action","version","path"}]}, answer {"actions":{key:
 *     {"name","resolved_name","resolved_sha","version","tar_url","zip_url",
 *     "authentication":{"token","expires_at"}}}}, 422 {"errors":{key:
 *     {"message"}}}; the endpoint is the variable
 *     system.github.launch_endpoint (Runner.Worker/JobRunner.cs).
 *   - src/Sdk/DTWebApi/WebApi/ActionReference*.cs, ActionDownloadInfo*.cs,
 *     JobServer.ResolveActionDownloadInfoAsync (location 27d7f831-…,
 *     api-version 6.0-preview.1): POST {SystemVssConnection url}{scope}/
 *     _apis/distributedtask/hubs/{hub}/plans/{planId}/jobs/{jobId}/
 *     actiondownloadinfo, body {"actions":[{"nameWithOwner","ref","path"}]},
 *     answer {"actions":{key:{"nameWithOwner","resolvedNameWithOwner",
 *     "resolvedSha","ref","tarballUrl","zipballUrl","authentication":
 *     {"token","expiresAt"}}}}.
 * The executor calls resolve and download on libuv's thread pool; each call
 * runs its request on a private loop with its own rn_http (rn_http_run_sync),
 * so the job's loop never waits. Tokens never reach a log or an error text;
 * URLs in errors lose their query string.
 */
#include "actions_dl.h"
#include "ex/engine.h"
#include "http.h"
#include "jobmsg.h"
#include "protocol.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define DL_API_VERSION "6.0-preview.1"
#define DL_INFO_TIMEOUT_MS 100000u
#define DL_TARBALL_TIMEOUT_MS (20u * 60u * 1000u)

struct rn_actions_dl {
    struct ex_action_source src;
    uv_mutex_t mu;        /* everything below */
    bool launch;          /* a run-service job: the launch service */
    char *url;            /* the download info request */
    char *job_token;      /* its Authorization: Bearer */
    char *github_token;   /* a tarball's token when the answer has none */
    bool bearer_codeload; /* actions_use_bearer_token_for_codeload */
    char *cafile;         /* GHRUN_CA_FILE */
    json_t *infos;        /* "owner/repo@ref" -> {"sha","tar","token"} or {"error"} */
};

/* ---- the job message ---------------------------------------------------------------- */

static const char *var(const json_t *msg, const char *name)
{
    return rn_json_str(rn_json_iget(rn_json_iget(msg, "variables"), name), "value");
}

/* scheme://authority of url (C#'s new Uri(base, "/abs") keeps only that). Owned. */
static char *url_origin(const char *url)
{
    const char *p = strstr(url, "://");

    if (!p)
        return NULL;
    p += 3;
    return gr_xstrndup(url, (size_t)(p - url) + strcspn(p, "/?#"));
}

static char *request_url(const json_t *msg, bool launch)
{
    const json_t *plan = rn_json_iget(msg, "plan");
    const char *plan_id = rn_json_str(plan, "planId"), *job_id = rn_json_str(msg, "jobId");
    const char *scope = rn_json_str(plan, "scopeIdentifier"), *hub = rn_json_str(plan, "planType");
    const char *base = rn_json_str(rn_jobmsg_system_endpoint(msg), "url");
    char *origin, *rel, *url;

    if (!plan_id || !job_id)
        return NULL;
    if (launch) {
        origin = var(msg, "system.github.launch_endpoint")
                     ? url_origin(var(msg, "system.github.launch_endpoint"))
                     : NULL;
        url = origin ? gr_xasprintf("%s/actions/build/%s/jobs/%s/runnerresolve/actions", origin,
                                    plan_id, job_id)
                     : NULL;
        free(origin);
        return url;
    }
    if (!base)
        return NULL;
    rel = gr_xasprintf("%s/_apis/distributedtask/hubs/%s/plans/%s/jobs/%s/actiondownloadinfo",
                       scope ? scope : "00000000-0000-0000-0000-000000000000",
                       hub ? hub : "Actions", plan_id, job_id);
    url = rn_url_join(base, rel);
    free(rel);
    return url;
}

static int resolve_cb(void *ctx, struct ex_action_dl *acts, size_t n, struct gr_diag *reterr);
static int download_cb(void *ctx, const struct ex_action_dl *act, struct gr_buf *ret,
                       struct gr_diag *reterr);

struct rn_actions_dl *rn_actions_dl_new(const json_t *msg)
{
    const char *type = rn_json_str(msg, "messageType");
    const json_t *ep = rn_jobmsg_system_endpoint(msg);
    const char *tok =
        rn_json_str(rn_json_iget(rn_json_iget(ep, "authorization"), "parameters"), "AccessToken");
    const char *gh = var(msg, "system.github.token"), *ca = getenv("GHRUN_CA_FILE");
    const char *flag = var(msg, "actions_use_bearer_token_for_codeload");
    bool launch = type && !strcasecmp(type, "RunnerJobRequest");
    char *url = request_url(msg, launch);
    struct rn_actions_dl *a;

    if (!url || !tok || !*tok) {
        free(url);
        return NULL;
    }
    /* here on the loop thread: the thread-pool calls then only take a reference */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    a = gr_xcalloc(1, sizeof(*a));
    if (uv_mutex_init(&a->mu) != 0)
        abort();
    a->src = (struct ex_action_source){.ctx = a, .resolve = resolve_cb, .download = download_cb};
    a->launch = launch;
    a->url = url;
    a->job_token = gr_xstrdup(tok);
    a->github_token = gh ? gr_xstrdup(gh) : NULL;
    a->bearer_codeload = flag && !strcasecmp(flag, "true");
    a->cafile = ca && *ca ? gr_xstrdup(ca) : NULL;
    a->infos = json_object();
    return a;
}

const struct ex_action_source *rn_actions_dl_source(struct rn_actions_dl *a)
{
    return a ? &a->src : NULL;
}

void rn_actions_dl_free(struct rn_actions_dl *a)
{
    if (!a)
        return;
    uv_mutex_destroy(&a->mu);
    free(a->url);
    free(a->job_token);
    free(a->github_token);
    free(a->cafile);
    json_decref(a->infos);
    free(a);
}

void rn_actions_dl_opts(const json_t *msg, struct ex_run_opts *o)
{
    static struct rn_actions_dl *job_dl; /* the worker process runs one job */
    const char *order = getenv("GHRUN_ACTION_SOURCES"), *adir = getenv("GHRUN_ACTION_DIR");
    const char *url = getenv("GHRUN_ACTIONS_URL");

    rn_actions_dl_free(job_dl);
    job_dl = rn_actions_dl_new(msg);
    o->action_source = rn_actions_dl_source(job_dl);
    o->action_dir = adir && *adir ? adir : NULL;
    o->actions_url = url && *url ? url : NULL;
    if (order && *order)
        o->action_sources = order;
    else if (!job_dl)
        o->action_sources = "dir,clone";
    else
        o->action_sources = o->actions_url ? "dir,download,clone" : "dir,download";
}

/* ---- HTTP on a private loop (a thread-pool thread) ------------------------------------ */

static int run_sync(const struct rn_actions_dl *a, struct rn_req *req)
{
    struct rn_http *h;
    uv_loop_t loop;
    int r = uv_loop_init(&loop);

    if (r < 0)
        return r;
    h = rn_http_new(&loop);
    rn_http_set_cafile(h, a->cafile);
    r = rn_http_run_sync(h, req);
    rn_http_free(h);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
    return r;
}

/* The URL without its query string (a signed URL's token stays out of messages). Owned. */
static char *url_shown(const char *url)
{
    return gr_xstrndup(url, strcspn(url, "?#"));
}

static int http_error(const struct rn_req *req, int status, struct gr_diag *reterr)
{
    const struct gr_buf *b = rn_req_resp(req);
    char *url = url_shown(rn_req_url(req));
    json_t *j = status < 0 ? NULL : rn_json_parse(b->ptr, b->len, NULL);
    const char *msg = rn_json_str(j, "message");
    int r;

    if (status < 0)
        r = gr_diag_set(reterr, status, NULL, 0, 0, "%s %s: %s%s%s", rn_req_method(req), url,
                        gr_strerror(status), *rn_req_errtext(req) ? ": " : "", rn_req_errtext(req));
    else
        r = gr_diag_set(reterr, GR_EHTTP, NULL, 0, 0, "%s %s: HTTP %ld%s%.300s", rn_req_method(req),
                        url, rn_req_status(req), msg ? ": " : "", msg ? msg : "");
    json_decref(j);
    free(url);
    return r;
}

/* ---- download info -------------------------------------------------------------------- */

static char *key_of(const struct ex_action_dl *d)
{
    return gr_xasprintf("%s@%s", d->name_with_owner, d->ref);
}

static json_t *request_body(const struct rn_actions_dl *a, struct ex_action_dl *const *pending,
                            size_t n)
{
    json_t *list = json_array();

    for (size_t i = 0; i < n; i++) {
        json_t *o =
            json_pack("{s:s,s:s}", a->launch ? "action" : "nameWithOwner",
                      pending[i]->name_with_owner, a->launch ? "version" : "ref", pending[i]->ref);

        if (pending[i]->path && *pending[i]->path)
            json_object_set_new(o, "path", json_string(pending[i]->path));
        json_array_append_new(list, o);
    }
    return json_pack("{s:o}", "actions", list);
}

/* One answer entry into a->infos under key. */
static void info_store(struct rn_actions_dl *a, const char *key, const json_t *e)
{
    const char *sha = rn_json_str(e, a->launch ? "resolved_sha" : "resolvedSha");
    const char *tar = rn_json_str(e, a->launch ? "tar_url" : "tarballUrl");
    const char *tok = rn_json_str(rn_json_iget(e, "authentication"), "token");

    if (!tok || !*tok)
        tok = a->github_token;
    if (!sha || !tar)
        json_object_set_new(a->infos, key,
                            json_pack("{s:s}", "error", "the answer lacks its commit or tarball"));
    else
        json_object_set_new(a->infos, key,
                            json_pack("{s:s,s:s,s:s?}", "sha", sha, "tar", tar, "token", tok));
}

/* 422 from the launch service: {"errors":{key:{"message"}}}; returns how many were named. */
static size_t errors_store(struct rn_actions_dl *a, const json_t *body)
{
    const char *key;
    json_t *v;
    size_t n = 0;

    json_object_foreach((json_t *)rn_json_iget(body, "errors"), key, v)
    {
        const char *m = rn_json_str(v, "message");

        json_object_set_new(a->infos, key,
                            json_pack("{s:s}", "error", m ? m : "unresolvable action"));
        n++;
    }
    return n;
}

static bool info_retry(const struct rn_req *req, int status)
{
    return rn_req_retry_default(req, status);
}

/*
 * POST the request for pending[0..n). 0: answered (entries stored); > 0: a 422 that named
 * entries (stored), the rest is asked again; < 0 with reterr: failed for all.
 */
static int info_post(struct rn_actions_dl *a, struct ex_action_dl *const *pending, size_t n,
                     struct gr_diag *reterr)
{
    struct rn_req *req = rn_req_new("POST", a->url);
    json_t *body = request_body(a, pending, n), *ans = NULL, *acts;
    const struct gr_buf *b;
    int r;

    rn_req_header(req, "Authorization: Bearer %s", a->job_token);
    rn_req_header(req, "Accept: application/json%s",
                  a->launch ? "" : "; api-version=" DL_API_VERSION);
    rn_req_json(req, body);
    rn_req_timeout(req, DL_INFO_TIMEOUT_MS);
    rn_req_retry(req, 3, rn_proto_retry_base_ms(), info_retry);
    r = run_sync(a, req);
    b = rn_req_resp(req);
    if (r == 0 && rn_req_ok(req))
        ans = rn_json_parse(b->ptr, b->len, reterr);
    else if (r == 0 && rn_req_status(req) == 422)
        ans = rn_json_parse(b->ptr, b->len, NULL);
    if (r == 0 && rn_req_status(req) == 422 && ans && errors_store(a, ans) > 0) {
        r = 1;
    } else if (r < 0 || !rn_req_ok(req)) {
        r = http_error(req, r, reterr);
    } else if (!ans || !json_is_object(acts = rn_json_iget(ans, "actions"))) {
        r = ans ? gr_diag_set(reterr, GR_EPROTO, NULL, 0, 0, "the answer has no 'actions'")
                : GR_EPROTO;
    } else {
        for (size_t i = 0; i < n; i++) {
            char *key = key_of(pending[i]);
            const json_t *e = rn_json_iget(acts, key);

            if (e)
                info_store(a, key, e);
            else
                json_object_set_new(a->infos, key,
                                    json_pack("{s:s}", "error", "not in the download info"));
            free(key);
        }
    }
    json_decref(ans);
    json_decref(body);
    rn_req_free(req);
    return r;
}

/* The entries not answered yet. Owned array of borrowed pointers. */
static size_t todo_list(struct rn_actions_dl *a, struct ex_action_dl *acts, size_t n,
                        struct ex_action_dl ***ret)
{
    struct ex_action_dl **pending = gr_xcalloc(n ? n : 1, sizeof(*pending));
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        char *key = key_of(&acts[i]);

        if (!json_object_get(a->infos, key))
            pending[k++] = &acts[i];
        free(key);
    }
    *ret = pending;
    return k;
}

/* Ask for what is missing: the batch, after a 422 the rest, after another error acts[0] alone. */
static int info_fetch(struct rn_actions_dl *a, struct ex_action_dl *acts, size_t n,
                      struct gr_diag *reterr)
{
    struct ex_action_dl **pending = NULL;
    size_t k = todo_list(a, acts, n, &pending);
    int r = k ? info_post(a, pending, k, reterr) : 0;

    if (r > 0 || (r == GR_EHTTP && k > 1)) {
        free(pending);
        k = r > 0 ? todo_list(a, acts, n, &pending) : todo_list(a, acts, 1, &pending);
        r = k ? info_post(a, pending, k, reterr) : 0;
        r = r > 0 ? 0 : r;
    }
    if (r < 0 && k == 1) { /* its own answer: remembered, a ref is resolved once per job */
        char *key = key_of(pending[0]);

        json_object_set_new(a->infos, key,
                            json_pack("{s:s}", "error", reterr ? reterr->msg : "failed"));
        free(key);
        r = 0;
    }
    free(pending);
    return r;
}

static int resolve_cb(void *ctx, struct ex_action_dl *acts, size_t n, struct gr_diag *reterr)
{
    struct rn_actions_dl *a = ctx;
    int r;

    uv_mutex_lock(&a->mu);
    r = info_fetch(a, acts, n, reterr);
    for (size_t i = 0; r == 0 && i < n; i++) {
        char *key = key_of(&acts[i]);
        const json_t *e = json_object_get(a->infos, key);
        const char *sha = rn_json_str(e, "sha"), *err = rn_json_str(e, "error");

        free(acts[i].resolved_sha);
        free(acts[i].error);
        acts[i].resolved_sha = sha ? gr_xstrdup(sha) : NULL;
        acts[i].error =
            sha ? NULL : gr_xasprintf("%s: %s", key, err ? err : "not in the download info");
        free(key);
    }
    uv_mutex_unlock(&a->mu);
    return r;
}

/* ---- tarballs ------------------------------------------------------------------------ */

static const char *str_or(const char *s, const char *def)
{
    return s ? s : def;
}

static bool is_codeload(const char *url)
{
    const char *host = strstr(url, "://");
    size_t hl;

    if (!host)
        return false;
    host += 3;
    hl = strcspn(host, "/?#");
    return !strncasecmp(host, "codeload.", 9) || !strncasecmp(host + hl, "/_codeload/", 11);
}

static void auth_header(const struct rn_actions_dl *a, struct rn_req *req, const char *url,
                        const char *token)
{
    char *basic, *b64;

    if (!token || !*token)
        return;
    if (a->bearer_codeload && is_codeload(url)) {
        rn_req_header(req, "Authorization: Bearer %s", token);
        return;
    }
    basic = gr_xasprintf("x-access-token:%s", token);
    b64 = rn_b64_encode(basic, strlen(basic), false);
    rn_req_header(req, "Authorization: Basic %s", b64);
    free(b64);
    free(basic);
}

static int download_cb(void *ctx, const struct ex_action_dl *act, struct gr_buf *ret,
                       struct gr_diag *reterr)
{
    struct rn_actions_dl *a = ctx;
    char *key = key_of(act), *url = NULL, *token = NULL;
    struct rn_req *req = NULL;
    int r = 0;

    uv_mutex_lock(&a->mu);
    url = gr_xstrdup(str_or(rn_json_str(json_object_get(a->infos, key), "tar"), ""));
    token = gr_xstrdup(str_or(rn_json_str(json_object_get(a->infos, key), "token"), ""));
    uv_mutex_unlock(&a->mu);
    if (!*url) {
        r = gr_diag_set(reterr, GR_ENOTFOUND, NULL, 0, 0, "'%s' has no tarball URL", key);
        goto out;
    }
    req = rn_req_new("GET", url);
    auth_header(a, req, url, token);
    rn_req_follow(req, true);
    rn_req_timeout(req, DL_TARBALL_TIMEOUT_MS);
    rn_req_max_body(req, ret->max);
    rn_req_retry(req, 3, rn_proto_retry_base_ms(), NULL);
    r = run_sync(a, req);
    if (r < 0 || !rn_req_ok(req)) {
        r = http_error(req, r, reterr);
        goto out;
    }
    r = gr_buf_add(ret, rn_req_resp(req)->ptr, rn_req_resp(req)->len);
    if (r < 0)
        r = gr_diag_set(reterr, r, NULL, 0, 0, "the tarball is larger than %zu bytes", ret->max);
out:
    rn_req_free(req);
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    free(url);
    free(key);
    return r;
}
