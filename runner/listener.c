/*
 * The listener behind `ghrun run` (runner-protocol.md sections 4-7 and 15; R
 * Runner.Listener/MessageListener.cs, BrokerMessageListener.cs, Runner.cs,
 * JobDispatcher.cs).
 *
 * DESIGN. One struct rn_listener drives everything from callbacks on the one
 * loop: OAuth token → session → long-poll → messages. Every call that needs
 * the runner's OAuth token goes through need_token(): when the token is
 * missing or about to expire the operation parks itself as a waiter, one
 * token request runs, and all waiters resume. A 401 drops the token and
 * re-runs the operation. The long-poll keeps running while a job runs (that
 * is how cancellations arrive), with status Busy. Shutdown (signal, --once
 * done, fatal error) cancels a running job, waits for its completion, deletes
 * the session and closes every handle so that uv_run returns.
 *
 * PRE-STARTED WORKER. Once the first long-poll is out, and again as soon as a
 * job is over, the listener starts the next job's worker (protocol.h,
 * rn_idle_worker_start): it loads its libraries and does its job-independent
 * set-up while the runner is idle, then blocks reading its message, so that a
 * job's message goes straight to a warm process. One that dies while idle is
 * replaced (at once the first time, then with a growing delay, so that a
 * worker that cannot start does not spin). --no-prestart / GHRUN_PRESTART=0
 * start each worker with its job instead.
 *
 * IDLE MEMORY. A second after the runner goes idle (first poll out, or a job
 * over) the listener trims its heap and drops the library pages only start-up
 * used (rn_mem_trim).
 */
#include "listener.h"
#include "engine.h"
#include "http.h"
#include "memtrim.h"
#include "protocol.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define RN_MAX_WAITERS 8
#define RN_SESSION_CONFLICT_TRIES 8 /* R: every 30 s for up to 4 minutes */
#define RN_TOKEN_SLACK_S 60
#define RN_EMPTY_LIMIT 50               /* R: 50 empty answers within 30 minutes ... */
#define RN_EMPTY_WINDOW_MS (30 * 60000) /* ... mean a misbehaving server: back off */
#define RN_PRESTART_DELAY_MS 10         /* after the first poll is out: let it leave first */
#define RN_PRESTART_MAX_MS 60000        /* the longest wait before replacing a dead one */
#define RN_TRIM_DELAY_MS 1000           /* idle this long: give back start-up's memory */
#define RN_RETRIM_MS 30000              /* after an empty poll, trim again at most this often */

struct rn_listener;
typedef void op_fn(struct rn_listener *l);

/* The job request being acquired (RunnerJobRequest body). */
struct pending_job {
    char *request_id, *run_service_url, *billing_owner;
};

/* A request whose answer nobody waits for (message delete, acknowledge). */
struct side_req {
    struct rn_req *req;
    struct rn_listener *l;
    struct side_req *prev, *next;
};

struct rn_listener {
    uv_loop_t *loop;
    struct rn_http *http;
    struct rn_timing timing;
    struct rn_listener_opts opts;
    struct rn_settings s;
    struct rn_creds c;
    struct evp_pkey_st *key;
    char *work;

    char *token;
    time_t token_expiry;
    struct rn_req *token_req;
    op_fn *waiters[RN_MAX_WAITERS];
    unsigned nwaiters, token_failures;

    char *session_id;
    unsigned char *session_key;
    size_t session_key_len;
    struct rn_req *session_req;
    unsigned session_tries;

    struct rn_req *poll_req;
    long long last_message_id;
    unsigned poll_errors;
    unsigned empty_count; /* empty answers since empty_since (uv_now) */
    uint64_t empty_since;
    char *migration_url; /* BrokerMigration: poll there next */

    struct rn_req *acquire_req;
    struct pending_job pending;
    struct rn_job *job;
    bool job_taken; /* --once / ephemeral: the one job has been taken */

    struct side_req *side;
    uv_timer_t retry_timer; /* session/poll/token backoff */
    op_fn *retry_op;
    uv_timer_t reap_timer;  /* frees a finished job outside its callbacks */
    uv_timer_t grace_timer; /* shutdown: how long a running job may still take */
    uv_timer_t idle_timer;  /* starts the pre-started worker */
    uv_timer_t trim_timer;  /* rn_mem_trim once idle */
    uint64_t trimmed_at;    /* uv_now of the last trim */
    struct rn_idle_worker *idle;
    unsigned idle_deaths; /* idle workers that died in a row */
    bool idle_failed;     /* one could not be started at all: stop trying */
    unsigned grace_ms;    /* GHRUN_SHUTDOWN_GRACE_MS */
    uv_signal_t sigint, sigterm;

    bool stopping, closed, delete_session;
    unsigned jobs_done;
    int exit_code;
};

static void op_session(struct rn_listener *l);
static void op_poll(struct rn_listener *l);
static void stop(struct rn_listener *l, int code, bool delete_session);
static void idle_start(struct rn_listener *l);
static void on_idle_timer(uv_timer_t *t);
static void on_trim_timer(uv_timer_t *t);

/* ---- small helpers ---- */

static const char *arch(void)
{
    struct utsname u;

    if (uname(&u) < 0)
        return "X64";
    if (!strcmp(u.machine, "aarch64"))
        return "ARM64";
    if (!strncmp(u.machine, "arm", 3))
        return "ARM";
    return "X64";
}

static bool broker(const struct rn_listener *l)
{
    return l->s.use_v2_flow && l->s.server_url_v2;
}

static void on_retry_timer(uv_timer_t *t)
{
    struct rn_listener *l = t->data;
    op_fn *op = l->retry_op;

    l->retry_op = NULL;
    if (op && !l->closed)
        op(l);
}

/* Run op after lo ms plus a random share of jitter ms. */
static void retry_between(struct rn_listener *l, op_fn *op, uint64_t lo, uint64_t jitter)
{
    uint64_t ms = lo + (jitter ? (uint64_t)random() % (jitter + 1) : 0);

    l->retry_op = op;
    uv_timer_start(&l->retry_timer, on_retry_timer, ms, 0);
}

/* Run op after ms plus up to 50% jitter. */
static void retry_later(struct rn_listener *l, op_fn *op, uint64_t ms)
{
    retry_between(l, op, ms, ms / 2);
}

/* Whether this empty long-poll answer is one too many (R MessageListener). */
static bool too_many_empty(struct rn_listener *l)
{
    uint64_t now = uv_now(l->loop);

    if (!l->empty_count || now - l->empty_since > RN_EMPTY_WINDOW_MS) {
        l->empty_since = now;
        l->empty_count = 0;
    }
    if (++l->empty_count < RN_EMPTY_LIMIT)
        return false;
    l->empty_count = 0;
    return true;
}

static struct rn_req *runner_req(struct rn_listener *l, const char *method, char *url)
{
    struct rn_req *req = rn_req_new(method, url);

    free(url);
    rn_req_header(req, "Authorization: Bearer %s", l->token);
    rn_req_header(req, "Accept: application/json");
    rn_req_timeout(req, l->timing.request_timeout_ms);
    return req;
}

static void side_done(struct rn_req *req, int status, void *ctx)
{
    struct side_req *sr = ctx;
    struct rn_listener *l = sr->l;

    if (status < 0 || !rn_req_ok(req))
        GR_LOG_DEBUG("'%s %s' failed (HTTP %ld), ignoring", rn_req_method(req), rn_req_url(req),
                     rn_req_status(req));
    if (sr->prev)
        sr->prev->next = sr->next;
    else
        l->side = sr->next;
    if (sr->next)
        sr->next->prev = sr->prev;
    rn_req_free(sr->req);
    free(sr);
}

static void side_start(struct rn_listener *l, struct rn_req *req)
{
    struct side_req *sr = gr_xcalloc(1, sizeof(*sr));

    sr->req = req;
    sr->l = l;
    rn_req_retry(req, 3, l->timing.retry_base_ms, NULL);
    if (rn_http_start(l->http, req, side_done, sr) < 0) {
        rn_req_free(req);
        free(sr);
        return;
    }
    sr->next = l->side;
    if (l->side)
        l->side->prev = sr;
    l->side = sr;
}

/* ---- OAuth (section 4) ---- */

static void drop_token(struct rn_listener *l)
{
    if (l->token)
        memset(l->token, 0, strlen(l->token));
    free(l->token);
    l->token = NULL;
}

static void token_fetch(struct rn_listener *l);

static void token_done(struct rn_req *req, int status, void *ctx)
{
    struct rn_listener *l = ctx;
    const struct gr_buf *b = rn_req_resp(req);
    json_t *j = rn_json_parse(b->ptr, b->len, NULL);
    const char *tok = rn_json_str(j, "access_token"), *err = rn_json_str(j, "error");
    op_fn *w[RN_MAX_WAITERS];
    unsigned n = l->nwaiters;

    if (status == 0 && rn_req_ok(req) && tok) {
        l->token = gr_xstrdup(tok);
        l->token_expiry = time(NULL) + rn_json_int(j, "expires_in", 3600);
        l->token_failures = 0;
        json_decref(j);
        memcpy(w, l->waiters, sizeof(w));
        l->nwaiters = 0;
        for (unsigned i = 0; i < n; i++)
            w[i](l);
        return;
    }
    if (status == 0 && err && !strcmp(err, "invalid_client")) {
        const char *desc = rn_json_str(j, "error_description");
        GR_LOG_ERR("the service refused this runner's credentials (%s); if the runner was "
                   "deleted, configure it again; if the clock is off, fix it",
                   desc ? desc : "invalid_client");
        json_decref(j);
        stop(l, 1, false);
        return;
    }
    json_decref(j);
    l->token_failures++;
    GR_LOG_WARN("cannot get an access token (%s, HTTP %ld), retrying",
                status < 0 ? gr_strerror(status) : "response", rn_req_status(req));
    retry_later(l, token_fetch,
                (uint64_t)l->timing.retry_base_ms *
                    (l->token_failures < 5 ? l->token_failures : 5));
}

static void token_fetch(struct rn_listener *l)
{
    char *jwt = NULL, *esc, *form;
    int r;

    if (l->stopping && !l->delete_session)
        return;
    r = rn_jwt_assertion(l->key, l->c.require_fips, l->c.client_id, l->c.authorization_url,
                         (long long)time(NULL), &jwt);
    if (r < 0) {
        GR_LOG_ERR("cannot sign the client assertion");
        stop(l, 1, false);
        return;
    }
    esc = rn_url_escape(jwt);
    form = gr_xasprintf("grant_type=client_credentials&client_assertion_type=urn%%3Aietf%%3Aparams"
                        "%%3Aoauth%%3Aclient-assertion-type%%3Ajwt-bearer&client_assertion=%s",
                        esc);
    rn_req_free(l->token_req);
    l->token_req = rn_req_new("POST", l->c.authorization_url);
    rn_req_header(l->token_req, "Accept: application/json");
    rn_req_body(l->token_req, "application/x-www-form-urlencoded", form, strlen(form));
    rn_req_timeout(l->token_req, l->timing.request_timeout_ms);
    rn_req_retry(l->token_req, 3, l->timing.retry_base_ms, NULL);
    if (rn_http_start(l->http, l->token_req, token_done, l) < 0)
        retry_later(l, token_fetch, l->timing.retry_base_ms);
    memset(jwt, 0, strlen(jwt));
    free(jwt);
    free(esc);
    free(form);
}

/* True when op has to wait for a token (it will be called again). */
static bool need_token(struct rn_listener *l, op_fn *op)
{
    if (l->token && time(NULL) < l->token_expiry - RN_TOKEN_SLACK_S)
        return false;
    drop_token(l);
    for (unsigned i = 0; i < l->nwaiters; i++)
        if (l->waiters[i] == op)
            return true;
    if (l->nwaiters < RN_MAX_WAITERS)
        l->waiters[l->nwaiters++] = op;
    if (l->nwaiters == 1 && !(l->retry_op == token_fetch))
        token_fetch(l);
    return true;
}

/* ---- sessions (section 5) ---- */

static char *session_url(struct rn_listener *l, bool with_id)
{
    if (broker(l))
        return rn_url_join(l->s.server_url_v2, "session");
    if (with_id)
        return gr_xasprintf("%s_apis/distributedtask/pools/%lld/sessions/%s", l->s.server_url,
                            l->s.pool_id, l->session_id);
    return gr_xasprintf("%s_apis/distributedtask/pools/%lld/sessions", l->s.server_url,
                        l->s.pool_id);
}

static int session_key(struct rn_listener *l, const json_t *sess)
{
    json_t *k = rn_json_iget(sess, "encryptionKey");
    const char *v = rn_json_str(k, "value");
    unsigned char *raw = NULL;
    size_t len = 0;
    int r;

    if (!v || !*v)
        return 0;
    r = rn_b64_decode(v, strlen(v), &raw, &len);
    if (r < 0)
        return r;
    if (rn_json_bool(k, "encrypted", false)) {
        r = rn_key_oaep_decrypt(l->key, rn_json_bool(sess, "useFipsEncryption", false), raw, len,
                                &l->session_key, &l->session_key_len);
        free(raw);
        return r;
    }
    l->session_key = raw;
    l->session_key_len = len;
    return 0;
}

static void session_done(struct rn_req *req, int status, void *ctx)
{
    struct rn_listener *l = ctx;
    const struct gr_buf *b = rn_req_resp(req);
    long code = rn_req_status(req);
    json_t *j = NULL;

    if (status == 0 && code == 401) {
        drop_token(l);
        op_session(l);
        return;
    }
    if (status == 0 && code == 409) {
        if (++l->session_tries >= RN_SESSION_CONFLICT_TRIES) {
            GR_LOG_ERR("another listener with this registration is online; giving up");
            stop(l, 1, false);
            return;
        }
        GR_LOG_WARN("a session for this runner exists already, retrying in %us",
                    l->timing.session_retry_ms / 1000);
        retry_later(l, op_session, l->timing.session_retry_ms);
        return;
    }
    if (status == 0 && rn_req_ok(req))
        j = rn_json_parse(b->ptr, b->len, NULL);
    if (!rn_json_str(j, "sessionId") || session_key(l, j) < 0) {
        json_decref(j);
        GR_LOG_WARN("cannot create a session (%s, HTTP %ld), retrying",
                    status < 0 ? gr_strerror(status) : "response", code);
        retry_later(l, op_session, l->timing.session_retry_ms);
        return;
    }
    l->session_id = gr_xstrdup(rn_json_str(j, "sessionId"));
    l->session_tries = 0;
    json_decref(j);
    GR_LOG_INFO("connected as '%s'; listening for jobs", l->s.agent_name);
    op_poll(l);
    if (!l->idle && !uv_is_active((uv_handle_t *)&l->idle_timer))
        uv_timer_start(&l->idle_timer, on_idle_timer, RN_PRESTART_DELAY_MS, 0);
    uv_timer_start(&l->trim_timer, on_trim_timer, RN_TRIM_DELAY_MS, 0);
}

static void op_session(struct rn_listener *l)
{
    char host[256] = "localhost", *osd, *owner;
    struct utsname u;
    json_t *body;

    if (l->stopping || need_token(l, op_session))
        return;
    (void)gethostname(host, sizeof(host) - 1);
    osd = uname(&u) == 0 ? gr_xasprintf("%s %s", u.sysname, u.release) : gr_xstrdup("Linux");
    owner = gr_xasprintf("%s (PID: %ld)", host, (long)getpid());
    body = json_pack("{s:s,s:{s:I,s:s,s:s,s:s},s:b}", "ownerName", owner, "agent", "id",
                     (json_int_t)l->s.agent_id, "name", l->s.agent_name, "version", l->opts.version,
                     "osDescription", osd, "useFipsEncryption", 0);
    rn_req_free(l->session_req);
    l->session_req = runner_req(l, "POST", session_url(l, false));
    rn_req_json(l->session_req, body);
    rn_req_retry(l->session_req, 3, l->timing.retry_base_ms, NULL);
    if (rn_http_start(l->http, l->session_req, session_done, l) < 0)
        retry_later(l, op_session, l->timing.session_retry_ms);
    json_decref(body);
    free(owner);
    free(osd);
}

static void session_delete_done(struct rn_req *req, int status, void *ctx)
{
    struct rn_listener *l = ctx;

    if (status < 0 || !rn_req_ok(req))
        GR_LOG_WARN("cannot delete the session (%s, HTTP %ld), ignoring",
                    status < 0 ? gr_strerror(status) : "response", rn_req_status(req));
    free(l->session_id);
    l->session_id = NULL;
    stop(l, l->exit_code, false);
}

static void op_session_delete(struct rn_listener *l)
{
    if (need_token(l, op_session_delete))
        return;
    rn_req_free(l->session_req);
    l->session_req = runner_req(l, "DELETE", session_url(l, true));
    rn_req_timeout(l->session_req, 30000);
    rn_req_retry(l->session_req, 3, l->timing.retry_base_ms, NULL);
    if (rn_http_start(l->http, l->session_req, session_delete_done, l) < 0)
        session_delete_done(l->session_req, GR_ECURL, l);
}

/* ---- messages (section 6) ---- */

static char *poll_url(struct rn_listener *l)
{
    const char *status = l->job ? "Busy" : "Online";
    struct gr_buf b = GR_BUF_INIT(0);
    char *v = rn_url_escape(l->opts.version);
    int r;

    if (l->migration_url)
        r = gr_buf_addf(&b, "%smessage?sessionId=%s", l->migration_url, l->session_id);
    else if (broker(l))
        r = gr_buf_addf(&b, "%smessage?sessionId=%s", l->s.server_url_v2, l->session_id);
    else
        r = gr_buf_addf(&b, "%s_apis/distributedtask/pools/%lld/messages?sessionId=%s",
                        l->s.server_url, l->s.pool_id, l->session_id);
    if (r == 0 && l->last_message_id && !broker(l))
        r = gr_buf_addf(&b, "&lastMessageId=%lld", l->last_message_id);
    if (r == 0)
        r = gr_buf_addf(&b,
                        "&status=%s&runnerVersion=%s&os=Linux&architecture=%s"
                        "&disableUpdate=true",
                        status, v, arch());
    free(v);
    if (r < 0)
        abort(); /* the buffer has no limit */
    return gr_buf_detach(&b, NULL);
}

static void delete_message(struct rn_listener *l, long long id)
{
    struct rn_req *req;

    if (broker(l) || !l->token)
        return;
    req = runner_req(l, "DELETE",
                     gr_xasprintf("%s_apis/distributedtask/pools/%lld/messages/%lld?sessionId=%s",
                                  l->s.server_url, l->s.pool_id, id, l->session_id));
    rn_req_timeout(req, 30000);
    side_start(l, req);
}

/* Decrypt body in place when the session has a key and the message an iv. */
static int decrypt_body(struct rn_listener *l, const json_t *msg, char **body)
{
    const char *iv64 = rn_json_str(msg, "iv");
    unsigned char *iv = NULL, *ct = NULL, *pt = NULL;
    size_t ivl = 0, ctl = 0, ptl = 0;
    int r;

    if (!iv64 || !*iv64 || !l->session_key)
        return 0;
    r = rn_b64_decode(iv64, strlen(iv64), &iv, &ivl);
    if (r == 0)
        r = rn_b64_decode(*body, strlen(*body), &ct, &ctl);
    if (r == 0)
        r = rn_aes_cbc_decrypt(l->session_key, l->session_key_len, iv, ivl, ct, ctl, &pt, &ptl);
    if (r == 0) {
        size_t skip = ptl >= 3 && !memcmp(pt, "\xef\xbb\xbf", 3) ? 3 : 0;
        free(*body);
        *body = gr_xstrndup((char *)pt + skip, ptl - skip);
    }
    free(iv);
    free(ct);
    free(pt);
    return r;
}

static void job_done(struct rn_job *job, int status, void *ctx);
static void op_acquire(struct rn_listener *l);

static void acquire_done(struct rn_req *req, int status, void *ctx)
{
    struct rn_listener *l = ctx;
    const struct gr_buf *b = rn_req_resp(req);
    long code = rn_req_status(req);
    struct rn_job_env env = {.loop = l->loop,
                             .http = l->http,
                             .root = l->opts.root,
                             .work = l->work,
                             .runner_name = l->s.agent_name,
                             .timing = l->timing,
                             .runner_version = l->opts.version,
                             .idle = NULL};
    struct gr_diag d = {0};
    char msg[700];

    if (status == 0 && code == 401) {
        drop_token(l);
        op_acquire(l);
        return;
    }
    if (status < 0 || !rn_req_ok(req)) {
        /* 404/409/422: the job is gone, taken or unprocessable; skip it (R JobDispatcher) */
        GR_LOG_WARN("cannot acquire job %s (%s, HTTP %ld), skipping it", l->pending.request_id,
                    status < 0 ? gr_strerror(status) : "response", code);
        if (l->opts.once)
            l->job_taken = false;
        return;
    }
    if (l->idle) {
        env.idle = l->idle; /* the job takes it */
        l->idle = NULL;
        l->idle_deaths = 0;
    }
    if (rn_job_start(&env, b->ptr, b->len, job_done, l, &l->job, &d) < 0) {
        gr_diag_format(&d, msg, sizeof(msg));
        GR_LOG_ERR("cannot run job %s: %s", l->pending.request_id, msg);
        if (l->opts.once)
            l->job_taken = false;
        idle_start(l); /* the job had taken the idle worker */
        return;
    }
    /* status changes to Busy: restart the long-poll so the service sees it */
    rn_req_cancel(l->poll_req);
    op_poll(l);
}

static void op_acquire(struct rn_listener *l)
{
    json_t *body;

    if (l->stopping || need_token(l, op_acquire))
        return;
    body = json_pack("{s:s,s:s,s:s?}", "jobMessageId", l->pending.request_id, "runnerOS", "Linux",
                     "billingOwnerId", l->pending.billing_owner);
    rn_req_free(l->acquire_req);
    l->acquire_req = runner_req(l, "POST", rn_url_join(l->pending.run_service_url, "acquirejob"));
    rn_req_json(l->acquire_req, body);
    rn_req_retry(l->acquire_req, 5, l->timing.retry_base_ms * 5, NULL);
    rn_trace_latency("listener: acquire sent");
    if (rn_http_start(l->http, l->acquire_req, acquire_done, l) < 0)
        GR_LOG_ERR("cannot start acquiring job %s", l->pending.request_id);
    json_decref(body);
}

static void acknowledge(struct rn_listener *l, const char *request_id)
{
    char *v = rn_url_escape(l->opts.version);
    struct rn_req *req =
        runner_req(l, "POST",
                   gr_xasprintf("%sacknowledge?sessionId=%s&status=Busy&runnerVersion=%s&os=Linux"
                                "&architecture=%s",
                                l->s.server_url_v2, l->session_id, v, arch()));
    json_t *body = json_pack("{s:s}", "runnerRequestId", request_id);

    rn_req_json(req, body);
    rn_req_timeout(req, 5000);
    side_start(l, req);
    json_decref(body);
    free(v);
}

/* RunnerJobRequest: returns whether the message may be deleted. */
static bool on_job_request(struct rn_listener *l, const json_t *body)
{
    const char *rid = rn_json_str(body, "runner_request_id");
    const char *url = rn_json_str(body, "run_service_url");

    if (!rid || !url) {
        GR_LOG_ERR("job request without runner_request_id or run_service_url; ignoring it");
        return true;
    }
    if (l->pending.request_id && !strcmp(l->pending.request_id, rid))
        return true; /* delivered again before our delete landed: it is ours already */
    if (l->job || l->job_taken) {
        GR_LOG_WARN("a job is running already; leaving job request %s to others", rid);
        return false;
    }
    if (broker(l) && rn_json_bool(body, "should_acknowledge", false))
        acknowledge(l, rid);
    free(l->pending.request_id);
    free(l->pending.run_service_url);
    free(l->pending.billing_owner);
    l->pending.request_id = gr_xstrdup(rid);
    l->pending.run_service_url = rn_url_join(url, "");
    l->pending.billing_owner = rn_json_str(body, "billing_owner_id")
                                   ? gr_xstrdup(rn_json_str(body, "billing_owner_id"))
                                   : NULL;
    if (l->opts.once)
        l->job_taken = true;
    op_acquire(l);
    return true;
}

static const char *runner_token(void *ctx)
{
    return ((struct rn_listener *)ctx)->token;
}

/* PipelineAgentJobRequest: the body is the job; protocol_job.c renews and completes it. */
static bool on_pipeline_job(struct rn_listener *l, const char *text)
{
    struct rn_job_env env = {.loop = l->loop,
                             .http = l->http,
                             .root = l->opts.root,
                             .work = l->work,
                             .runner_name = l->s.agent_name,
                             .timing = l->timing,
                             .classic = true,
                             .server_url = l->s.server_url,
                             .pool_id = l->s.pool_id,
                             .runner_token = runner_token,
                             .token_ctx = l,
                             .runner_version = l->opts.version};
    struct gr_diag d = {0};
    char msg[700];

    if (l->job || l->job_taken) {
        GR_LOG_WARN("a job is running already; leaving this job request to others");
        return false;
    }
    if (rn_job_start(&env, text, strlen(text), job_done, l, &l->job, &d) < 0) {
        gr_diag_format(&d, msg, sizeof(msg));
        GR_LOG_ERR("cannot run the classic job request: %s", msg);
        return true;
    }
    l->job_taken = l->opts.once; /* the next long-poll (poll_done) already says Busy */
    return true;
}

static void on_cancel(struct rn_listener *l, const json_t *body)
{
    const char *id = rn_json_str(body, "jobId");

    if (l->job && id && !strcasecmp(id, rn_job_id(l->job)))
        rn_job_cancel(l->job, false);
    else
        GR_LOG_INFO("cancellation for job '%s', which is not running here", id ? id : "?");
}

static void handle_message(struct rn_listener *l, json_t *msg)
{
    const char *type = rn_json_str(msg, "messageType");
    long long id = rn_json_int(msg, "messageId", 0);
    char *text = gr_xstrdup(rn_json_str(msg, "body") ? rn_json_str(msg, "body") : "");
    json_t *body = NULL;
    bool del = true, refresh = false;

    if (decrypt_body(l, msg, &text) < 0) {
        GR_LOG_ERR("cannot decrypt message %lld; ignoring it", id);
        goto out;
    }
    body = rn_json_parse(text, strlen(text), NULL);
    if (!type) {
        GR_LOG_WARN("message %lld has no type; ignoring it", id);
    } else if (!strcasecmp(type, "RunnerJobRequest")) {
        del = on_job_request(l, body);
    } else if (!strcasecmp(type, "JobCancellation")) {
        on_cancel(l, body);
    } else if (!strcasecmp(type, "AgentRefresh") || !strcasecmp(type, "RunnerRefresh")) {
        const char *v = rn_json_str(body, "targetVersion");
        GR_LOG_INFO("ignoring the request to update to version %s: ghrun never updates itself",
                    v                                     ? v
                    : rn_json_str(body, "target_version") ? rn_json_str(body, "target_version")
                                                          : "?");
    } else if (!strcasecmp(type, "ForceTokenRefresh")) {
        refresh = true; /* after the delete below, which still uses the old token */
    } else if (!strcasecmp(type, "BrokerMigration")) {
        const char *u = rn_json_str(body, "brokerBaseUrl");
        free(l->migration_url);
        l->migration_url = u ? rn_url_join(u, "") : NULL;
    } else if (!strcasecmp(type, "RunnerShutdown")) {
        GR_LOG_INFO("the service asked this runner to shut down");
        stop(l, 0, false);
    } else if (!strcasecmp(type, "PipelineAgentJobRequest")) {
        del = on_pipeline_job(l, text);
    } else {
        GR_LOG_DEBUG("ignoring message type '%s'", type);
    }
out:
    if (del && id)
        delete_message(l, id);
    if (refresh)
        drop_token(l);
    json_decref(body);
    free(text);
}

static bool session_expired(const struct rn_req *req)
{
    const struct gr_buf *b = rn_req_resp(req);
    json_t *j = rn_json_parse(b->ptr, b->len, NULL);
    const char *tk = rn_json_str(j, "typeKey"), *kind = rn_json_str(j, "errorKind");
    bool r = (tk && !strcmp(tk, "TaskAgentSessionExpiredException")) ||
             (kind && !strcmp(kind, "RunnerSessionInvalid"));

    json_decref(j);
    return r;
}

static void poll_done(struct rn_req *req, int status, void *ctx)
{
    struct rn_listener *l = ctx;
    const struct gr_buf *b = rn_req_resp(req);
    long code = rn_req_status(req);
    json_t *msg;

    free(l->migration_url);
    l->migration_url = NULL;
    if (status == -ETIMEDOUT || (status == 0 && rn_req_ok(req) && b->len == 0)) {
        l->poll_errors = 0;
        if (too_many_empty(l)) {
            GR_LOG_WARN("the service answers long-polls without waiting; backing off");
            retry_between(l, op_poll, 15ull * l->timing.retry_base_ms,
                          15ull * l->timing.retry_base_ms);
            return;
        }
        op_poll(l);
        /* handling the answer brought library pages back: give them back again */
        if (uv_now(l->loop) - l->trimmed_at >= RN_RETRIM_MS)
            uv_timer_start(&l->trim_timer, on_trim_timer, RN_TRIM_DELAY_MS, 0);
        return;
    }
    if (status == 0 && code == 401) {
        drop_token(l);
        op_poll(l);
        return;
    }
    if (status == 0 && (code == 404 || session_expired(req)) && code < 500) {
        GR_LOG_INFO("the session expired; creating a new one");
        free(l->session_id);
        l->session_id = NULL;
        op_session(l);
        return;
    }
    if (status == 0 && rn_req_ok(req))
        rn_trace_latency("listener: poll answered");
    msg = status == 0 && rn_req_ok(req) ? rn_json_parse(b->ptr, b->len, NULL) : NULL;
    if (!msg) {
        /* R: 15-30 s, after 5 consecutive errors 30-60 s; never gives up */
        uint64_t ms = (uint64_t)l->timing.retry_base_ms * (++l->poll_errors > 5 ? 30 : 15);
        GR_LOG_WARN("cannot get messages (%s, HTTP %ld), retrying in %llu-%llus",
                    status < 0 ? gr_strerror(status) : "response", code,
                    (unsigned long long)(ms / 1000), (unsigned long long)(ms * 2 / 1000));
        retry_between(l, op_poll, ms, ms);
        return;
    }
    l->poll_errors = 0;
    if (rn_json_int(msg, "messageId", 0) > l->last_message_id)
        l->last_message_id = rn_json_int(msg, "messageId", 0);
    handle_message(l, msg);
    json_decref(msg);
    op_poll(l);
}

static void op_poll(struct rn_listener *l)
{
    if (l->stopping || !l->session_id || need_token(l, op_poll))
        return;
    if (l->poll_req)
        rn_req_cancel(l->poll_req);
    rn_req_free(l->poll_req);
    l->poll_req = runner_req(l, "GET", poll_url(l));
    rn_req_timeout(l->poll_req, l->timing.poll_timeout_ms);
    if (rn_http_start(l->http, l->poll_req, poll_done, l) < 0)
        retry_later(l, op_poll, l->timing.retry_base_ms);
}

/* ---- the pre-started worker ---- */

static void on_idle_timer(uv_timer_t *t)
{
    idle_start(t->data);
}

static void idle_gone(void *ctx)
{
    struct rn_listener *l = ctx;
    uint64_t ms = 0;

    l->idle = NULL;
    if (l->idle_deaths++)
        ms = (uint64_t)l->timing.retry_base_ms << (l->idle_deaths < 7 ? l->idle_deaths : 7);
    if (ms > RN_PRESTART_MAX_MS)
        ms = RN_PRESTART_MAX_MS;
    GR_LOG_INFO("starting a new idle worker%s", ms ? " after a delay" : "");
    if (!l->closed)
        uv_timer_start(&l->idle_timer, on_idle_timer, ms, 0);
}

static void on_trim_timer(uv_timer_t *t)
{
    struct rn_listener *l = t->data;
    long kb = 0;

    if (l->job || l->closed)
        return;
    l->trimmed_at = uv_now(l->loop);
    if (rn_mem_trim(&kb) == 0)
        GR_LOG_DEBUG("idle: %ld kB of start-up pages given back", kb);
}

/* Start the next job's worker now, when one is wanted and none is there. */
static void idle_start(struct rn_listener *l)
{
    int r;

    uv_timer_stop(&l->idle_timer);
    if (!l->opts.prestart || l->idle || l->idle_failed || l->stopping || l->closed ||
        l->job_taken || l->job)
        return;
    r = rn_idle_worker_start(l->loop, l->opts.root, l->work, idle_gone, l, &l->idle);
    if (r < 0) {
        GR_LOG_WARN("cannot start a worker ahead of the jobs (%s); each job will start its own",
                    gr_strerror(r));
        l->idle_failed = true;
    }
}

/* ---- jobs ---- */

static void on_reap(uv_timer_t *t)
{
    struct rn_listener *l = t->data;
    struct rn_job *job = l->job;

    l->job = NULL;
    rn_job_free(job);
    if (l->stopping) {
        stop(l, l->exit_code, l->delete_session);
        return;
    }
    if (l->opts.once) {
        stop(l, l->exit_code, true);
        return;
    }
    idle_start(l); /* before going Online: the next job may come at once */
    rn_req_cancel(l->poll_req);
    op_poll(l); /* back to Online */
    uv_timer_start(&l->trim_timer, on_trim_timer, RN_TRIM_DELAY_MS, 0);
}

static void job_done(struct rn_job *job, int status, void *ctx)
{
    struct rn_listener *l = ctx;

    if (status < 0 && l->opts.once)
        l->exit_code = 1;
    if (status == 0)
        l->jobs_done++;
    uv_timer_start(&l->reap_timer, on_reap, 0, 0);
}

/* ---- lifecycle ---- */

static void close_all(struct rn_listener *l)
{
    l->closed = true;
    uv_timer_stop(&l->retry_timer);
    uv_close((uv_handle_t *)&l->retry_timer, NULL);
    uv_close((uv_handle_t *)&l->reap_timer, NULL);
    uv_timer_stop(&l->grace_timer);
    uv_close((uv_handle_t *)&l->grace_timer, NULL);
    uv_close((uv_handle_t *)&l->idle_timer, NULL);
    uv_close((uv_handle_t *)&l->trim_timer, NULL);
    rn_idle_worker_stop(l->idle);
    l->idle = NULL;
    uv_close((uv_handle_t *)&l->sigint, NULL);
    uv_close((uv_handle_t *)&l->sigterm, NULL);
    while (l->side) {
        struct side_req *sr = l->side;
        l->side = sr->next;
        rn_req_free(sr->req);
        free(sr);
    }
    /* freed here, not after uv_run: a request with a retry timer closes it on the loop */
    rn_req_free(l->token_req);
    rn_req_free(l->session_req);
    rn_req_free(l->poll_req);
    rn_req_free(l->acquire_req);
    l->token_req = l->session_req = l->poll_req = l->acquire_req = NULL;
    rn_http_free(l->http);
    l->http = NULL;
}

/*
 * Stop listening. A running job is cancelled first and its completion sent;
 * then the session is deleted (unless delete_session is false); then every
 * handle closes and uv_run returns.
 */
static void stop(struct rn_listener *l, int code, bool delete_session)
{
    if (l->closed)
        return;
    if (!l->stopping) {
        l->stopping = true;
        l->exit_code = code;
        l->delete_session = delete_session;
    }
    if (l->poll_req)
        rn_req_cancel(l->poll_req);
    if (l->acquire_req)
        rn_req_cancel(l->acquire_req);
    uv_timer_stop(&l->retry_timer);
    l->retry_op = NULL;
    uv_timer_stop(&l->idle_timer);
    rn_idle_worker_stop(l->idle);
    l->idle = NULL;
    if (l->job) {
        rn_job_cancel(l->job, true);
        return; /* job_done → on_reap → stop again */
    }
    if (l->delete_session && l->session_id) {
        l->nwaiters = 0;
        op_session_delete(l);
        return;
    }
    if (l->token_req)
        rn_req_cancel(l->token_req);
    if (l->session_req)
        rn_req_cancel(l->session_req);
    close_all(l);
}

static void on_grace(uv_timer_t *t)
{
    struct rn_listener *l = t->data;

    if (!l->job)
        return;
    GR_LOG_WARN("the running job did not finish within %u s; cancelling it", l->grace_ms / 1000);
    rn_job_cancel(l->job, true);
}

/*
 * SIGINT/SIGTERM: stop polling; a running job may finish within the grace
 * period (a second signal cancels it at once); then the session is deleted.
 */
static void on_signal(uv_signal_t *s, int signum)
{
    struct rn_listener *l = s->data;
    const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";

    if (l->stopping && l->job && uv_is_active((uv_handle_t *)&l->grace_timer)) {
        GR_LOG_INFO("received %s again; cancelling the running job", name);
        uv_timer_stop(&l->grace_timer);
        rn_job_cancel(l->job, true);
        return;
    }
    if (l->stopping) {
        GR_LOG_WARN("already stopping; waiting for the job's completion to be sent");
        return;
    }
    if (l->job && l->grace_ms) {
        GR_LOG_INFO("received %s; letting the running job finish within %u s (send it again "
                    "to cancel the job now)",
                    name, l->grace_ms / 1000);
        l->stopping = true;
        l->exit_code = 0;
        l->delete_session = true;
        rn_req_cancel(l->poll_req);
        uv_timer_stop(&l->retry_timer);
        l->retry_op = NULL;
        uv_timer_start(&l->grace_timer, on_grace, l->grace_ms, 0);
        return; /* job_done → on_reap → stop */
    }
    GR_LOG_INFO("received %s; shutting down", name);
    stop(l, 0, true);
}

/* A duration from the environment (0 to 24 h), or def. */
static unsigned env_ms(const char *name, unsigned def)
{
    const char *e = getenv(name);
    char *end;
    unsigned long v;

    if (!e || !*e)
        return def;
    errno = 0;
    v = strtoul(e, &end, 10);
    if (errno || *end || v > 86400000ul) {
        GR_LOG_WARN("ignoring %s='%s' (milliseconds, up to 24 h)", name, e);
        return def;
    }
    return (unsigned)v;
}

/* Runners started together must not retry in step: seed random() per process. */
static void seed_jitter(void)
{
    unsigned seed = 0;

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
    srandom(seed);
}

static void listener_release(struct rn_listener *l)
{
    rn_req_free(l->token_req);
    rn_req_free(l->session_req);
    rn_req_free(l->poll_req);
    rn_req_free(l->acquire_req);
    drop_token(l);
    free(l->session_id);
    if (l->session_key)
        memset(l->session_key, 0, l->session_key_len);
    free(l->session_key);
    free(l->migration_url);
    free(l->work);
    free(l->pending.request_id);
    free(l->pending.run_service_url);
    free(l->pending.billing_owner);
    memset(&l->pending, 0, sizeof(l->pending));
    rn_settings_release(&l->s);
    rn_creds_release(&l->c);
    rn_key_free(l->key);
}

int rn_listener_run(const struct rn_listener_opts *opts)
{
    struct rn_listener l = {.opts = *opts};
    struct gr_diag d = {0};
    char msg[700];
    uv_loop_t loop;
    int r;

    r = rn_config_load(opts->root, &l.s, &l.c, &l.key, &d);
    if (r < 0) {
        gr_diag_format(&d, msg, sizeof(msg));
        GR_LOG_ERR("cannot load the runner configuration from '%s': %s", opts->root, msg);
        return 1;
    }
    if (l.s.ephemeral)
        l.opts.once = true;
    l.work = l.s.work_folder && l.s.work_folder[0] == '/'
                 ? gr_xstrdup(l.s.work_folder)
                 : gr_path_join(opts->root, l.s.work_folder ? l.s.work_folder : "_work");
    rn_timing_load(&l.timing);
    uv_loop_init(&loop);
    l.loop = &loop;
    l.http = rn_http_new(&loop);
    rn_http_set_cafile(l.http, getenv("GHRUN_CA_FILE"));
    uv_timer_init(&loop, &l.retry_timer);
    uv_timer_init(&loop, &l.reap_timer);
    uv_timer_init(&loop, &l.grace_timer);
    uv_timer_init(&loop, &l.idle_timer);
    uv_timer_init(&loop, &l.trim_timer);
    l.retry_timer.data = l.reap_timer.data = l.grace_timer.data = l.idle_timer.data = &l;
    l.trim_timer.data = &l;
    l.grace_ms = env_ms("GHRUN_SHUTDOWN_GRACE_MS", 0);
    seed_jitter();
    uv_signal_init(&loop, &l.sigint);
    uv_signal_init(&loop, &l.sigterm);
    l.sigint.data = l.sigterm.data = &l;
    uv_signal_start(&l.sigint, on_signal, SIGINT);
    uv_signal_start(&l.sigterm, on_signal, SIGTERM);
    GR_LOG_INFO("runner '%s' starting (%s flow)", l.s.agent_name,
                broker(&l) ? "broker" : "classic");
    op_session(&l);
    uv_run(&loop, UV_RUN_DEFAULT);
    r = uv_loop_close(&loop);
    if (r < 0)
        GR_LOG_DEBUG("the loop still had handles at exit");
    if (opts->ret_ephemeral_done)
        *opts->ret_ephemeral_done = l.s.ephemeral && l.jobs_done > 0;
    listener_release(&l);
    return l.exit_code;
}
