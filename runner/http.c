/*
 * HTTP client: libcurl multi on the caller's libuv loop (see http.h).
 *
 * DESIGN. curl tells us which sockets to watch (socket callback) and when to
 * wake it (timer callback); we never call curl_multi_socket_action from
 * inside those callbacks, only from the uv poll and timer callbacks. Each
 * socket gets exactly one struct rn_sock (a uv_poll_t), attached to curl with
 * curl_multi_assign and freed in its close callback. After every
 * socket_action we drain curl_multi_info_read and finish those requests, so
 * a done callback always runs from a uv callback, never from rn_http_start.
 */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RN_REQ_DEFAULT_TIMEOUT_MS 100000u
#define RN_REQ_DEFAULT_MAX_BODY (16u << 20)
#define RN_RETRY_CAP_MS 60000u

struct rn_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    char *cafile;
    unsigned nsocks;       /* rn_sock handles not yet closed */
    struct rn_sock *socks; /* open (not closing) sockets */
    struct rn_req *reqs;   /* running requests */
    bool closing;          /* rn_http_free called */
    bool timer_closed;     /* its close callback ran */
};

struct rn_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct rn_http *http;
    struct rn_sock *prev, *next; /* open sockets of http */
};

struct rn_req {
    struct rn_http *http;
    CURL *easy;
    char *method, *url;
    struct curl_slist *headers;
    struct gr_buf body, resp;
    long status;
    unsigned timeout_ms, attempts, max_attempts, retry_base_ms, tries;
    rn_req_retry_fn *retry_pred;
    rn_req_done_fn *cb;
    void *ctx;
    bool active;  /* started, final callback not yet run */
    bool running; /* an attempt is in the multi handle */
    bool timer_init, sync_done;
    bool too_big;               /* the response passed resp.max */
    bool follow;                /* follow redirects (rn_req_follow) */
    struct rn_req *prev, *next; /* running requests of http */
    int sync_status;
    uv_timer_t retry_timer;
    char errbuf[CURL_ERROR_SIZE];
};

static void http_maybe_free(struct rn_http *h)
{
    if (!h->closing || h->nsocks || !h->timer_closed)
        return;
    free(h->cafile);
    free(h);
}

static void finish_attempt(struct rn_req *req, int status);

static void drain_messages(struct rn_http *h)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(h->multi, &left))) {
        struct rn_req *req = NULL;
        int status = 0;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
        if (msg->data.result == CURLE_OPERATION_TIMEDOUT)
            status = -ETIMEDOUT;
        else if (msg->data.result == CURLE_WRITE_ERROR && req->too_big)
            status = -E2BIG;
        else if (msg->data.result != CURLE_OK)
            status = GR_ECURL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &req->status);
        finish_attempt(req, status);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct rn_sock *s = gr_container_of(p, struct rn_sock, poll);
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(s->http->multi, s->fd, flags, &running);
    drain_messages(s->http);
}

static void on_timer(uv_timer_t *t)
{
    struct rn_http *h = gr_container_of(t, struct rn_http, timer);
    int running;

    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_messages(h);
}

static void sock_closed(uv_handle_t *handle)
{
    struct rn_sock *s = gr_container_of((uv_poll_t *)handle, struct rn_sock, poll);
    struct rn_http *h = s->http;

    free(s);
    h->nsocks--;
    http_maybe_free(h);
}

static void sock_close(struct rn_http *h, struct rn_sock *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        h->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct rn_http *h = userp;
    struct rn_sock *s = socketp;
    int events = 0;

    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(h->multi, fd, NULL);
            sock_close(h, s);
        }
        return 0;
    }
    if (!s) {
        s = gr_xcalloc(1, sizeof(*s));
        s->fd = fd;
        s->http = h;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        h->nsocks++;
        s->next = h->socks;
        if (h->socks)
            h->socks->prev = s;
        h->socks = s;
        curl_multi_assign(h->multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct rn_http *h = userp;

    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

struct rn_http *rn_http_new(uv_loop_t *loop)
{
    struct rn_http *h = gr_xcalloc(1, sizeof(*h));

    curl_global_init(CURL_GLOBAL_DEFAULT);
    h->loop = loop;
    h->multi = curl_multi_init();
    if (!h->multi)
        abort(); /* only fails on out-of-memory */
    uv_timer_init(loop, &h->timer);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    return h;
}

static void timer_closed(uv_handle_t *handle)
{
    struct rn_http *h = gr_container_of((uv_timer_t *)handle, struct rn_http, timer);

    h->timer_closed = true;
    http_maybe_free(h);
}

void rn_http_free(struct rn_http *h)
{
    if (!h)
        return;
    h->closing = true;
    while (h->reqs)
        rn_req_cancel(h->reqs);
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    /* Whatever sockets curl did not report as removed are closed here. */
    while (h->socks)
        sock_close(h, h->socks);
    uv_close((uv_handle_t *)&h->timer, timer_closed);
}

void rn_http_set_cafile(struct rn_http *h, const char *path)
{
    free(h->cafile);
    h->cafile = path ? gr_xstrdup(path) : NULL;
}

const char *rn_http_cafile(const struct rn_http *h)
{
    return h->cafile;
}

uv_loop_t *rn_http_loop(struct rn_http *h)
{
    return h->loop;
}

struct rn_req *rn_req_new(const char *method, const char *url)
{
    struct rn_req *req = gr_xcalloc(1, sizeof(*req));

    req->method = gr_xstrdup(method);
    req->url = gr_xstrdup(url);
    req->body = GR_BUF_INIT(0);
    req->resp = GR_BUF_INIT(RN_REQ_DEFAULT_MAX_BODY);
    req->timeout_ms = RN_REQ_DEFAULT_TIMEOUT_MS;
    req->max_attempts = 1;
    req->retry_base_ms = 1000;
    /* no "Expect: 100-continue" wait (a second per large body on servers that skip it) */
    req->headers = curl_slist_append(req->headers, "Expect:");
    return req;
}

static void req_timer_closed(uv_handle_t *handle)
{
    free(gr_container_of((uv_timer_t *)handle, struct rn_req, retry_timer));
}

void rn_req_free(struct rn_req *req)
{
    if (!req)
        return;
    rn_req_cancel(req);
    if (req->easy)
        curl_easy_cleanup(req->easy);
    curl_slist_free_all(req->headers);
    gr_buf_release(&req->body);
    gr_buf_release(&req->resp);
    free(req->method);
    free(req->url);
    if (req->timer_init)
        uv_close((uv_handle_t *)&req->retry_timer, req_timer_closed);
    else
        free(req);
}

void rn_req_header(struct rn_req *req, const char *fmt, ...)
{
    va_list ap;
    char *line;
    struct gr_buf b = GR_BUF_INIT(0);

    va_start(ap, fmt);
    if (gr_buf_vaddf(&b, fmt, ap) < 0)
        abort();
    va_end(ap);
    line = gr_buf_detach(&b, NULL);
    req->headers = curl_slist_append(req->headers, line);
    free(line);
}

void rn_req_body(struct rn_req *req, const char *ctype, const void *data, size_t len)
{
    gr_buf_reset(&req->body);
    if (gr_buf_add(&req->body, data, len) < 0)
        abort(); /* the body buffer has no limit */
    if (ctype)
        rn_req_header(req, "Content-Type: %s", ctype);
}

void rn_req_json(struct rn_req *req, const json_t *body)
{
    char *s = rn_json_dump(body);

    rn_req_body(req, "application/json; charset=utf-8", s, strlen(s));
    free(s);
}

void rn_req_timeout(struct rn_req *req, unsigned ms)
{
    req->timeout_ms = ms;
}

void rn_req_max_body(struct rn_req *req, size_t max)
{
    req->resp.max = max;
}

void rn_req_follow(struct rn_req *req, bool on)
{
    req->follow = on;
}

void rn_req_retry(struct rn_req *req, unsigned attempts, unsigned base_ms, rn_req_retry_fn *pred)
{
    req->max_attempts = attempts ? attempts : 1;
    req->retry_base_ms = base_ms;
    req->retry_pred = pred;
}

bool rn_req_retry_default(const struct rn_req *req, int status)
{
    if (status == -E2BIG)
        return false;
    if (status < 0)
        return true;
    return req->status >= 500 || req->status == 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct rn_req *req = userp;

    if (gr_buf_add(&req->resp, data, size * nmemb) < 0) {
        req->too_big = true;
        return 0;
    } /* curl fails the transfer with CURLE_WRITE_ERROR */
    return size * nmemb;
}

static void setup_easy(struct rn_req *req)
{
    CURL *e = req->easy;

    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, req);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (req->http->cafile)
        curl_easy_setopt(e, CURLOPT_CAINFO, req->http->cafile);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ghrun/" GHRUN_VERSION);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->follow) {
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    }
    if (req->body.len || !strcmp(req->method, "POST") || !strcmp(req->method, "PUT") ||
        !strcmp(req->method, "PATCH")) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body.ptr);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
    } else if (!strcmp(req->method, "HEAD")) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    }
}

static void req_link(struct rn_req *req)
{
    struct rn_http *h = req->http;

    req->prev = NULL;
    req->next = h->reqs;
    if (h->reqs)
        h->reqs->prev = req;
    h->reqs = req;
    req->active = true;
}

static void req_unlink(struct rn_req *req)
{
    struct rn_http *h = req->http;

    if (req->prev)
        req->prev->next = req->next;
    else
        h->reqs = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
    req->active = false;
}

static void req_detach_easy(struct rn_req *req)
{
    if (!req->running)
        return;
    curl_multi_remove_handle(req->http->multi, req->easy);
    req->running = false;
}

static int start_attempt(struct rn_req *req)
{
    CURLMcode mc;

    if (!req->easy) {
        req->easy = curl_easy_init();
        if (!req->easy)
            return -ENOMEM;
    }
    setup_easy(req);
    gr_buf_reset(&req->resp);
    req->too_big = false;
    req->status = 0;
    req->errbuf[0] = '\0';
    req->tries++;
    mc = curl_multi_add_handle(req->http->multi, req->easy);
    if (mc != CURLM_OK)
        return GR_ECURL;
    req->running = true;
    return 0;
}

static void on_retry_timer(uv_timer_t *t)
{
    struct rn_req *req = gr_container_of(t, struct rn_req, retry_timer);
    int r;

    r = start_attempt(req);
    if (r < 0)
        finish_attempt(req, r);
}

static uint64_t backoff_ms(const struct rn_req *req)
{
    uint64_t ms = req->retry_base_ms;

    for (unsigned i = 1; i < req->tries && ms < RN_RETRY_CAP_MS; i++)
        ms *= 2;
    if (ms > RN_RETRY_CAP_MS)
        ms = RN_RETRY_CAP_MS;
    ms += ms ? (uint64_t)random() % (ms / 2 + 1) : 0;
    return ms;
}

static void finish_attempt(struct rn_req *req, int status)
{
    rn_req_retry_fn *pred = req->retry_pred ? req->retry_pred : rn_req_retry_default;

    req_detach_easy(req);
    if (req->tries < req->max_attempts && pred(req, status)) {
        uint64_t ms = backoff_ms(req);

        GR_LOG_DEBUG("'%s %s' failed (%s, HTTP %ld), retrying in %llums", req->method, req->url,
                     status < 0 ? gr_strerror(status) : "response", req->status,
                     (unsigned long long)ms);
        if (!req->timer_init) {
            uv_timer_init(req->http->loop, &req->retry_timer);
            req->timer_init = true;
        }
        uv_timer_start(&req->retry_timer, on_retry_timer, ms, 0);
        return;
    }
    req_unlink(req);
    req->cb(req, status, req->ctx);
}

int rn_http_start(struct rn_http *h, struct rn_req *req, rn_req_done_fn *cb, void *ctx)
{
    int r;

    if (req->active || h->closing)
        return -EBUSY;
    req->http = h;
    req->cb = cb;
    req->ctx = ctx;
    req->tries = 0;
    r = start_attempt(req);
    if (r == 0)
        req_link(req);
    return r;
}

void rn_req_cancel(struct rn_req *req)
{
    if (!req || !req->active)
        return;
    req_detach_easy(req);
    if (req->timer_init)
        uv_timer_stop(&req->retry_timer);
    req_unlink(req);
}

static void sync_done(struct rn_req *req, int status, void *ctx)
{
    req->sync_done = true;
    req->sync_status = status;
}

int rn_http_run_sync(struct rn_http *h, struct rn_req *req)
{
    int r;

    req->sync_done = false;
    r = rn_http_start(h, req, sync_done, NULL);
    if (r < 0)
        return r;
    while (!req->sync_done)
        uv_run(h->loop, UV_RUN_ONCE);
    return req->sync_status;
}

long rn_req_status(const struct rn_req *req)
{
    return req->status;
}

const struct gr_buf *rn_req_resp(const struct rn_req *req)
{
    return &req->resp;
}

const char *rn_req_url(const struct rn_req *req)
{
    return req->url;
}

const char *rn_req_method(const struct rn_req *req)
{
    return req->method;
}

unsigned rn_req_attempts(const struct rn_req *req)
{
    return req->tries;
}

const char *rn_req_errtext(const struct rn_req *req)
{
    return req->errbuf;
}

bool rn_req_ok(const struct rn_req *req)
{
    return req->status >= 200 && req->status < 300;
}

char *rn_url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = gr_xmalloc(strlen(s) * 3 + 1), *o = out;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* ---- JSON helpers ---- */

json_t *rn_json_parse(const char *text, size_t len, struct gr_diag *reterr)
{
    json_error_t err;
    json_t *v;

    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) {
        text += 3;
        len -= 3;
    }
    v = json_loadb(text, len, JSON_DECODE_ANY, &err);
    if (!v)
        gr_diag_set(reterr, GR_EPARSE, NULL, err.line, err.column, "invalid JSON: %s", err.text);
    return v;
}

json_t *rn_json_iget(const json_t *obj, const char *key)
{
    const char *k;
    json_t *v;

    if (!json_is_object(obj))
        return NULL;
    v = json_object_get(obj, key);
    if (v)
        return v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (!strcasecmp(k, key))
            return v;
    }
    return NULL;
}

json_t *rn_json_unwrap(json_t *v)
{
    json_t *inner;

    if (!json_is_object(v))
        return v;
    inner = rn_json_iget(v, "$value");
    return inner ? inner : v;
}

const char *rn_json_str(const json_t *obj, const char *key)
{
    return json_string_value(rn_json_unwrap(rn_json_iget(obj, key)));
}

long long rn_json_int(const json_t *obj, const char *key, long long def)
{
    json_t *v = rn_json_unwrap(rn_json_iget(obj, key));
    const char *s;
    char *end;
    long long n;

    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v))
        return (long long)json_real_value(v);
    s = json_string_value(v);
    if (!s || !*s)
        return def;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno || *end)
        return def;
    return n;
}

bool rn_json_bool(const json_t *obj, const char *key, bool def)
{
    json_t *v = rn_json_unwrap(rn_json_iget(obj, key));
    const char *s;

    if (json_is_boolean(v))
        return json_is_true(v);
    s = json_string_value(v);
    if (s && !strcasecmp(s, "true"))
        return true;
    if (s && !strcasecmp(s, "false"))
        return false;
    return def;
}

char *rn_json_dump(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    if (!s)
        abort(); /* jansson fails only on out-of-memory here */
    return s;
}
