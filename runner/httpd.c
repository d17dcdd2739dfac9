/*
 * A small, strict HTTP/1.1 server for the embedded job services.
 *
 * DESIGN. One struct rn_httpd_conn per accepted TCP connection, each a little state machine:
 * HEAD (collect the header block, at most RN_HTTPD_HEADER_MAX bytes) -> BODY or CHUNK_* (move
 * bytes into the request's body buffer, bounded by the route's max_body) -> HANDLING (reading
 * stops; the handler answers, now or later) -> back to HEAD on keep-alive, where bytes that
 * were pipelined behind the request are parsed next. Anything malformed is answered with a
 * 4xx (or 5xx for what we do not support) and the connection is closed, since its framing can
 * no longer be trusted. An idle timer closes connections that send nothing for
 * RN_HTTPD_IDLE_MS. Files are answered with uv_fs reads, one chunk written at a time.
 *
 * Lifetime: a connection is freed only when both of its handles are closed and no request is
 * with a handler, so a handler that answers after the peer went away is safe.
 */
#include "httpd.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define READ_CHUNK 65536
#define FILE_CHUNK (256 * 1024)
#define CHUNK_LINE_MAX 1024

enum conn_state {
    C_HEAD,
    C_BODY,
    C_CHUNK_SIZE,
    C_CHUNK_DATA,
    C_CHUNK_CRLF,
    C_TRAILER,
    C_HANDLING,
};

struct rn_httpd {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    const struct rn_httpd_route *routes;
    size_t nroutes;
    void *ctx;
    int port;
    struct rn_httpd_conn *conns;
    size_t nconns;
    bool closing;
    bool listener_closed;
    void (*close_cb)(void *arg);
    void *close_arg;
};

struct rn_httpd_conn {
    struct rn_httpd *srv;
    struct rn_httpd_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    int handles; /* open handles: 2 until closed */
    bool closed;
    struct gr_buf in;
    enum conn_state st;
    uint64_t remaining;
    size_t max_body;
    const struct rn_httpd_route *route;
    bool keep_alive;
    bool in_handler;
    char *raw; /* the header block, split in place into req's strings */
    struct rn_http_req req;
    /* answering with a file */
    uv_fs_t fs;
    uv_file fd;
    char *fbuf;
    uint64_t fleft;
};

struct wreq {
    uv_write_t w;
    struct rn_httpd_conn *conn;
    char *head;
    char *body;
    bool last; /* the end of the response */
};

static void process(struct rn_httpd_conn *c);
static void file_read_next(struct rn_httpd_conn *c);

const char *rn_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 505:
        return "HTTP Version Not Supported";
    }
    return "Unknown";
}

/* ---- connection lifetime ------------------------------------------------ */

static void server_maybe_free(struct rn_httpd *s)
{
    if (!s->closing || !s->listener_closed || s->conns)
        return;
    if (s->close_cb)
        s->close_cb(s->close_arg);
    free(s);
}

static void req_release(struct rn_httpd_conn *c)
{
    free(c->raw);
    c->raw = NULL;
    free(c->req.path);
    gr_buf_release(&c->req.body);
    memset(&c->req, 0, sizeof(c->req));
    c->req.body = GR_BUF_INIT(0);
    c->req.conn = c;
}

static void conn_maybe_free(struct rn_httpd_conn *c)
{
    struct rn_httpd *s = c->srv;

    if (c->handles > 0 || c->in_handler)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    req_release(c);
    gr_buf_release(&c->in);
    free(c->fbuf);
    free(c);
    s->nconns--;
    server_maybe_free(s);
}

static void handle_closed(uv_handle_t *h)
{
    struct rn_httpd_conn *c = h->data;
    c->handles--;
    conn_maybe_free(c);
}

static void conn_close(struct rn_httpd_conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    uv_close((uv_handle_t *)&c->tcp, handle_closed);
    uv_close((uv_handle_t *)&c->timer, handle_closed);
}

static void idle_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

/* ---- writing responses -------------------------------------------------- */

static void end_request(struct rn_httpd_conn *c);

static void write_done(uv_write_t *w, int status)
{
    struct wreq *wr = gr_container_of(w, struct wreq, w);
    struct rn_httpd_conn *c = wr->conn;
    bool last = wr->last;

    free(wr->head);
    free(wr->body);
    free(wr);
    if (status < 0)
        c->keep_alive = false;
    if (last)
        end_request(c);
}

/* Queue head and body (both owned, may be NULL) on the connection. */
static void send_owned(struct rn_httpd_conn *c, char *head, char *body, size_t blen, bool last)
{
    struct wreq *wr = gr_xcalloc(1, sizeof(*wr));
    uv_buf_t bufs[2];
    unsigned n = 0;
    int r;

    wr->conn = c;
    wr->head = head;
    wr->body = body;
    wr->last = last;
    if (head)
        bufs[n++] = uv_buf_init(head, (unsigned)strlen(head));
    if (body && blen)
        bufs[n++] = uv_buf_init(body, (unsigned)blen);
    if (c->closed) {
        write_done(&wr->w, UV_ECANCELED);
        return;
    }
    r = uv_write(&wr->w, (uv_stream_t *)&c->tcp, bufs, n, write_done);
    if (r < 0)
        write_done(&wr->w, r);
}

static char *make_head(struct rn_httpd_conn *c, int status, const char *ctype, uint64_t len)
{
    return gr_xasprintf("HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %llu\r\nConnection: %s\r\n\r\n",
                        status, rn_http_reason(status), ctype ? "Content-Type: " : "",
                        ctype ? ctype : "", ctype ? "\r\n" : "", (unsigned long long)len,
                        c->keep_alive ? "keep-alive" : "close");
}

void rn_http_respond(struct rn_http_req *req, int status, const char *content_type,
                     const void *body, size_t len)
{
    struct rn_httpd_conn *c = req->conn;
    char *copy = NULL;

    if (len) {
        copy = gr_xmalloc(len);
        memcpy(copy, body, len);
    }
    send_owned(c, make_head(c, status, content_type, len), copy, len, true);
}

void rn_http_respond_json(struct rn_http_req *req, int status, struct json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);

    json_decref(v);
    if (!text)
        abort();
    rn_http_respond(req, status, "application/json", text, strlen(text));
    free(text);
}

void rn_http_respond_twirp_error(struct rn_http_req *req, int status, const char *code,
                                 const char *msg)
{
    rn_http_respond_json(req, status, json_pack("{s:s,s:s}", "code", code, "msg", msg));
}

bool rn_http_req_bearer_ok(const struct rn_http_req *req, const char *token)
{
    const char *auth = rn_http_req_header(req, "Authorization");
    size_t tlen = strlen(token);

    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    auth += 7;
    return strlen(auth) == tlen && CRYPTO_memcmp(auth, token, tlen) == 0;
}

void rn_http_respond_error(struct rn_http_req *req, int status, const char *msg)
{
    struct gr_buf b = GR_BUF_INIT(0);

    /* Minimal JSON escaping: our messages are plain text without control characters. */
    if (gr_buf_adds(&b, "{\"message\":\"") < 0)
        abort();
    for (const char *p = msg; *p; p++) {
        int r = (*p == '"' || *p == '\\') ? gr_buf_addch(&b, '\\') : 0;
        if (r < 0 || gr_buf_addch(&b, (unsigned char)*p < 0x20 ? ' ' : *p) < 0)
            abort();
    }
    if (gr_buf_adds(&b, "\"}") < 0)
        abort();
    rn_http_respond(req, status, "application/json", b.ptr, b.len);
    gr_buf_release(&b);
}

/* Answer a request the parser rejected, then close. */
static void fail(struct rn_httpd_conn *c, int status)
{
    const char *msg = rn_http_reason(status);

    c->keep_alive = false;
    c->st = C_HANDLING;
    c->in_handler = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    rn_http_respond_error(&c->req, status, msg);
}

static void file_done(struct rn_httpd_conn *c)
{
    uv_fs_t close_req;

    if (c->fd >= 0) {
        /* Closing a regular file does not wait on I/O. */
        (void)uv_fs_close(NULL, &close_req, c->fd, NULL);
        uv_fs_req_cleanup(&close_req);
        c->fd = -1;
    }
    end_request(c);
}

static void file_write_done(uv_write_t *w, int status)
{
    struct wreq *wr = gr_container_of(w, struct wreq, w);
    struct rn_httpd_conn *c = wr->conn;

    free(wr->head);
    free(wr);
    if (status < 0 || c->closed) {
        c->keep_alive = false;
        file_done(c);
        return;
    }
    file_read_next(c);
}

static void file_read_done(uv_fs_t *fs)
{
    struct rn_httpd_conn *c = gr_container_of(fs, struct rn_httpd_conn, fs);
    ssize_t n = fs->result;
    struct wreq *wr;
    uv_buf_t buf;
    int r;

    uv_fs_req_cleanup(fs);
    if (n <= 0 || c->closed) {
        /* A short file cannot keep its promised Content-Length: drop the connection. */
        c->keep_alive = false;
        file_done(c);
        return;
    }
    c->fleft -= (uint64_t)n;
    wr = gr_xcalloc(1, sizeof(*wr));
    wr->conn = c;
    buf = uv_buf_init(c->fbuf, (unsigned)n);
    r = uv_write(&wr->w, (uv_stream_t *)&c->tcp, &buf, 1, file_write_done);
    if (r < 0)
        file_write_done(&wr->w, r);
}

static void file_read_next(struct rn_httpd_conn *c)
{
    size_t want = c->fleft < FILE_CHUNK ? (size_t)c->fleft : FILE_CHUNK;
    uv_buf_t buf;
    int r;

    if (want == 0) {
        file_done(c);
        return;
    }
    if (!c->fbuf)
        c->fbuf = gr_xmalloc(FILE_CHUNK);
    buf = uv_buf_init(c->fbuf, (unsigned)want);
    r = uv_fs_read(c->srv->loop, &c->fs, c->fd, &buf, 1, -1, file_read_done);
    if (r < 0) {
        c->keep_alive = false;
        file_done(c);
    }
}

struct file_ctx {
    int status;
    char *ctype;
};

static void file_stat_done(uv_fs_t *fs)
{
    struct rn_httpd_conn *c = gr_container_of(fs, struct rn_httpd_conn, fs);
    struct file_ctx *fc = fs->data;
    uint64_t size = (uint64_t)fs->statbuf.st_size;
    bool ok = fs->result >= 0;
    char *head;

    uv_fs_req_cleanup(fs);
    if (!ok) {
        file_done(c);
    } else {
        head = make_head(c, fc->status, fc->ctype, size);
        c->fleft = size;
        send_owned(c, head, NULL, 0, false);
        file_read_next(c);
    }
    free(fc->ctype);
    free(fc);
}

static void file_open_done(uv_fs_t *fs)
{
    struct rn_httpd_conn *c = gr_container_of(fs, struct rn_httpd_conn, fs);
    struct file_ctx *fc = fs->data;
    ssize_t fd = fs->result;

    uv_fs_req_cleanup(fs);
    if (fd < 0 || c->closed) {
        free(fc->ctype);
        free(fc);
        if (fd >= 0) {
            c->fd = (uv_file)fd;
            file_done(c);
            return;
        }
        rn_http_respond_error(&c->req, 404, "not found");
        return;
    }
    c->fd = (uv_file)fd;
    c->fs.data = fc;
    if (uv_fs_fstat(c->srv->loop, &c->fs, c->fd, file_stat_done) < 0) {
        free(fc->ctype);
        free(fc);
        c->keep_alive = false;
        file_done(c);
    }
}

void rn_http_respond_file(struct rn_http_req *req, int status, const char *content_type,
                          const char *path)
{
    struct rn_httpd_conn *c = req->conn;
    struct file_ctx *fc = gr_xcalloc(1, sizeof(*fc));

    fc->status = status;
    fc->ctype = content_type ? gr_xstrdup(content_type) : NULL;
    c->fs.data = fc;
    if (uv_fs_open(c->srv->loop, &c->fs, path, O_RDONLY | O_CLOEXEC, 0, file_open_done) < 0) {
        free(fc->ctype);
        free(fc);
        rn_http_respond_error(req, 404, "not found");
    }
}

/* ---- reading ------------------------------------------------------------ */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct rn_httpd_conn *c = h->data;

    (void)suggested;
    if (c->in.cap - c->in.len < READ_CHUNK + 1) {
        c->in.cap = c->in.len + READ_CHUNK + 1;
        c->in.ptr =
            c->in.ptr == gr_buf_empty ? gr_xmalloc(c->in.cap) : gr_xrealloc(c->in.ptr, c->in.cap);
        if (c->in.len == 0)
            c->in.ptr[0] = '\0';
    }
    *buf = uv_buf_init(c->in.ptr + c->in.len, READ_CHUNK);
}

static void read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    struct rn_httpd_conn *c = stream->data;

    (void)buf;
    if (n < 0) {
        conn_close(c);
        return;
    }
    if (n == 0)
        return;
    c->in.len += (size_t)n;
    c->in.ptr[c->in.len] = '\0';
    uv_timer_again(&c->timer);
    process(c);
}

static void end_request(struct rn_httpd_conn *c)
{
    c->in_handler = false;
    req_release(c);
    if (c->closed) {
        conn_maybe_free(c);
        return;
    }
    if (!c->keep_alive || c->srv->closing) {
        conn_close(c);
        return;
    }
    c->st = C_HEAD;
    uv_timer_again(&c->timer);
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0) {
        conn_close(c);
        return;
    }
    process(c);
}

/* ---- parsing ------------------------------------------------------------ */

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

char *rn_http_unescape(const char *src, size_t len)
{
    char *out = gr_xmalloc(len + 1);
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (src[i] != '%') {
            out[o++] = src[i];
            continue;
        }
        if (i + 2 >= len) {
            free(out);
            return NULL;
        }
        int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

const char *rn_http_req_header(const struct rn_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (!strcasecmp(req->headers[i].name, name))
            return req->headers[i].value;
    return NULL;
}

char *rn_http_req_query(const struct rn_http_req *req, const char *name)
{
    size_t nlen = strlen(name);

    for (const char *p = req->query; p && *p;) {
        size_t len = strcspn(p, "&");
        if (len > nlen && p[nlen] == '=' && !strncmp(p, name, nlen))
            return rn_http_unescape(p + nlen + 1, len - nlen - 1);
        if (len == nlen && !strncmp(p, name, nlen))
            return gr_xstrdup("");
        p += len;
        if (*p == '&')
            p++;
    }
    return NULL;
}

/* Parse "METHOD SP target SP HTTP/1.x"; line is NUL-terminated. Returns 0 or an HTTP status. */
static int parse_request_line(struct rn_httpd_conn *c, char *line)
{
    char *sp1 = strchr(line, ' '), *sp2, *q;
    size_t mlen;

    if (!sp1)
        return 400;
    mlen = (size_t)(sp1 - line);
    if (mlen == 0 || mlen >= sizeof(c->req.method))
        return mlen ? 501 : 400;
    for (size_t i = 0; i < mlen; i++)
        if (line[i] < 'A' || line[i] > 'Z')
            return 400;
    memcpy(c->req.method, line, mlen);
    sp2 = strchr(sp1 + 1, ' ');
    if (!sp2 || sp1[1] != '/')
        return 400;
    *sp2 = '\0';
    for (char *p = sp1 + 1; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return 400;
    if (!strcmp(sp2 + 1, "HTTP/1.1"))
        c->keep_alive = true;
    else if (!strcmp(sp2 + 1, "HTTP/1.0"))
        c->keep_alive = false;
    else
        return strncmp(sp2 + 1, "HTTP/", 5) ? 400 : 505;
    c->req.target = sp1 + 1;
    q = strchr(c->req.target, '?');
    c->req.query = q ? q + 1 : "";
    c->req.path =
        rn_http_unescape(c->req.target, q ? (size_t)(q - c->req.target) : strlen(c->req.target));
    return c->req.path ? 0 : 400;
}

/* Split "Name: value" in place into the request's header table. */
static int parse_header_line(struct rn_httpd_conn *c, char *line)
{
    char *colon = strchr(line, ':'), *v, *end;

    if (line[0] == ' ' || line[0] == '\t')
        return 400; /* obsolete line folding */
    if (!colon || colon == line)
        return 400;
    for (char *p = line; p < colon; p++)
        if (!is_tchar((unsigned char)*p))
            return 400;
    *colon = '\0';
    v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    end = v + strlen(v);
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    for (char *p = v; *p; p++)
        if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
            return 400;
    if (c->req.nheaders == RN_HTTPD_MAX_HEADERS)
        return 431;
    c->req.headers[c->req.nheaders].name = line;
    c->req.headers[c->req.nheaders].value = v;
    c->req.nheaders++;
    return 0;
}

static int parse_length(const char *v, uint64_t *ret)
{
    uint64_t n = 0;

    if (!*v || strlen(v) > 18)
        return 400;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return 400;
        n = n * 10 + (uint64_t)(*p - '0');
    }
    *ret = n;
    return 0;
}

static int find_route(struct rn_httpd_conn *c)
{
    struct rn_httpd *s = c->srv;
    bool path_seen = false;

    for (size_t i = 0; i < s->nroutes; i++) {
        const struct rn_httpd_route *rt = &s->routes[i];
        if (!gr_startswith(c->req.path, rt->prefix))
            continue;
        path_seen = true;
        if (rt->method && strcmp(rt->method, c->req.method))
            continue;
        c->route = rt;
        c->max_body = rt->max_body;
        return 0;
    }
    return path_seen ? 405 : 404;
}

/* Framing and connection headers; decides the body state. */
static int parse_framing(struct rn_httpd_conn *c)
{
    const char *te = NULL, *conn, *expect;
    bool have_len = false, http11 = c->keep_alive;
    uint64_t len = 0;
    int r;

    for (size_t i = 0; i < c->req.nheaders; i++) {
        const struct rn_http_header *h = &c->req.headers[i];
        uint64_t v;
        if (!strcasecmp(h->name, "Content-Length")) {
            r = parse_length(h->value, &v);
            if (r || (have_len && v != len))
                return 400;
            have_len = true;
            len = v;
        } else if (!strcasecmp(h->name, "Transfer-Encoding")) {
            if (te)
                return 400;
            te = h->value;
        }
    }
    if (http11 && !rn_http_req_header(&c->req, "Host"))
        return 400;
    conn = rn_http_req_header(&c->req, "Connection");
    if (conn && !strcasecmp(conn, "close"))
        c->keep_alive = false;
    else if (conn && !http11 && !strcasecmp(conn, "keep-alive"))
        c->keep_alive = true;
    if (te && have_len)
        return 400;
    if (te && strcasecmp(te, "chunked"))
        return 501;
    r = find_route(c);
    if (r)
        return r;
    if (have_len && len > c->max_body)
        return 413;
    expect = rn_http_req_header(&c->req, "Expect");
    if (expect && strcasecmp(expect, "100-continue"))
        return 417;
    if (expect && http11)
        send_owned(c, gr_xstrdup("HTTP/1.1 100 Continue\r\n\r\n"), NULL, 0, false);
    c->remaining = len;
    c->st = te ? C_CHUNK_SIZE : C_BODY;
    return 0;
}

static int parse_head(struct rn_httpd_conn *c, size_t head_len)
{
    char *line, *next;
    int r;

    c->raw = gr_xstrndup(c->in.ptr, head_len);
    line = c->raw;
    next = strstr(line, "\r\n");
    *next = '\0';
    r = parse_request_line(c, line);
    for (line = next + 2; r == 0 && *line; line = next + 2) {
        next = strstr(line, "\r\n");
        *next = '\0';
        if (strchr(line, '\r') || strchr(line, '\n'))
            return 400;
        r = parse_header_line(c, line);
    }
    return r ? r : parse_framing(c);
}

static void dispatch(struct rn_httpd_conn *c)
{
    c->st = C_HANDLING;
    c->in_handler = true;
    c->req.conn = c;
    c->req.ctx = c->route->ctx ? c->route->ctx : c->srv->ctx;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->route->fn(&c->req, c->req.ctx);
}

/* No NUL, no LF without CR before it, no CR without LF after it (RFC 9112 2.2: strict). */
static bool head_chars_ok(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\0' || (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')))
            return false;
        if (p[i] == '\r' && i + 1 < len && p[i + 1] != '\n')
            return false;
    }
    return true;
}

/* One step of the state machine: >0 progress, 0 needs more input (or has answered). */
static int step_head(struct rn_httpd_conn *c)
{
    char *end;
    int r;

    while (c->in.len >= 2 && c->in.ptr[0] == '\r' && c->in.ptr[1] == '\n')
        gr_buf_consume(&c->in, 2); /* empty lines before a request (RFC 9112 2.2) */
    end = strstr(c->in.ptr, "\r\n\r\n");
    if (!head_chars_ok(c->in.ptr, end ? (size_t)(end - c->in.ptr) + 2 : c->in.len)) {
        fail(c, 400);
        return 0;
    }
    if (!end) {
        if (c->in.len > RN_HTTPD_HEADER_MAX)
            fail(c, 431);
        return 0;
    }
    if ((size_t)(end - c->in.ptr) + 4 > RN_HTTPD_HEADER_MAX) {
        fail(c, 431);
        return 0;
    }
    r = parse_head(c, (size_t)(end - c->in.ptr) + 2);
    gr_buf_consume(&c->in, (size_t)(end - c->in.ptr) + 4);
    if (r) {
        fail(c, r);
        return 0;
    }
    return 1;
}

static int take_body(struct rn_httpd_conn *c)
{
    size_t take = c->in.len < c->remaining ? c->in.len : (size_t)c->remaining;

    if (take == 0 && c->remaining)
        return 0;
    if (gr_buf_add(&c->req.body, c->in.ptr, take) < 0)
        abort();
    gr_buf_consume(&c->in, take);
    c->remaining -= take;
    return 1;
}

static int step_chunk_size(struct rn_httpd_conn *c)
{
    char *eol = strstr(c->in.ptr, "\r\n");
    uint64_t size = 0;
    size_t digits = 0;
    const char *p;

    if (!eol) {
        if (c->in.len > CHUNK_LINE_MAX)
            fail(c, 400);
        return 0;
    }
    for (p = c->in.ptr; hexval(*p) >= 0 && digits < 16; p++, digits++)
        size = size * 16 + (uint64_t)hexval(*p);
    if (digits == 0 || digits == 16 || (p != eol && *p != ';')) {
        fail(c, 400);
        return 0;
    }
    gr_buf_consume(&c->in, (size_t)(eol - c->in.ptr) + 2);
    if (size > c->max_body || c->req.body.len + size > c->max_body) {
        fail(c, 413);
        return 0;
    }
    c->remaining = size;
    c->st = size ? C_CHUNK_DATA : C_TRAILER;
    return 1;
}

static int step_trailer(struct rn_httpd_conn *c)
{
    char *eol = strstr(c->in.ptr, "\r\n");

    if (!eol) {
        if (c->in.len > CHUNK_LINE_MAX)
            fail(c, 431);
        return 0;
    }
    if (eol == c->in.ptr) {
        gr_buf_consume(&c->in, 2);
        dispatch(c);
        return 0;
    }
    gr_buf_consume(&c->in, (size_t)(eol - c->in.ptr) + 2); /* trailer fields are ignored */
    return 1;
}

static int step(struct rn_httpd_conn *c)
{
    switch (c->st) {
    case C_HEAD:
        return step_head(c);
    case C_BODY:
        if (!take_body(c))
            return 0;
        if (c->remaining == 0)
            dispatch(c);
        return c->remaining ? 1 : 0;
    case C_CHUNK_SIZE:
        return step_chunk_size(c);
    case C_CHUNK_DATA:
        if (!take_body(c))
            return 0;
        if (c->remaining == 0)
            c->st = C_CHUNK_CRLF;
        return 1;
    case C_CHUNK_CRLF:
        if (c->in.len < 2)
            return 0;
        if (c->in.ptr[0] != '\r' || c->in.ptr[1] != '\n') {
            fail(c, 400);
            return 0;
        }
        gr_buf_consume(&c->in, 2);
        c->st = C_CHUNK_SIZE;
        return 1;
    case C_TRAILER:
        return step_trailer(c);
    case C_HANDLING:
        return 0;
    }
    return 0;
}

static void process(struct rn_httpd_conn *c)
{
    while (!c->closed && c->st != C_HANDLING && step(c) > 0) {
        if (c->st == C_BODY && c->remaining && c->in.len == 0)
            break;
    }
}

/* ---- listening ---------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status)
{
    struct rn_httpd *s = server->data;
    struct rn_httpd_conn *c;

    if (status < 0 || s->closing)
        return;
    c = gr_xcalloc(1, sizeof(*c));
    c->srv = s;
    c->fd = -1;
    c->in = GR_BUF_INIT(0);
    c->req.body = GR_BUF_INIT(0);
    c->req.conn = c;
    c->st = C_HEAD;
    c->handles = 2;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    /* Past the limit a connection is accepted and closed at once, so it does not queue. */
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 || s->nconns > RN_HTTPD_MAX_CONNS ||
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0) {
        conn_close(c);
        return;
    }
    (void)uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_start(&c->timer, idle_timeout, RN_HTTPD_IDLE_MS, RN_HTTPD_IDLE_MS);
}

int rn_httpd_start(uv_loop_t *loop, const char *host, int port, const struct rn_httpd_route *routes,
                   size_t nroutes, void *ctx, struct rn_httpd **ret)
{
    struct rn_httpd *s = gr_xcalloc(1, sizeof(*s));
    struct sockaddr_storage ss;
    int len = sizeof(ss), r;

    /*
     * A peer that closes while we answer would otherwise kill the process with SIGPIPE: libuv
     * writes with write(2), not send(MSG_NOSIGNAL). The runner never wants SIGPIPE.
     */
    signal(SIGPIPE, SIG_IGN);
    s->loop = loop;
    s->routes = routes;
    s->nroutes = nroutes;
    s->ctx = ctx;
    r = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
    if (r < 0) {
        free(s);
        return r;
    }
    uv_tcp_init(loop, &s->tcp);
    s->tcp.data = s;
    r = uv_tcp_bind(&s->tcp, (const struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&s->tcp, 128, on_connection);
    if (r == 0)
        r = uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len);
    if (r < 0) {
        rn_httpd_close(s, NULL, NULL);
        return r;
    }
    s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *ret = s;
    return 0;
}

int rn_httpd_port(const struct rn_httpd *s)
{
    return s->port;
}

static void listener_closed(uv_handle_t *h)
{
    struct rn_httpd *s = h->data;
    s->listener_closed = true;
    server_maybe_free(s);
}

void rn_httpd_close(struct rn_httpd *s, void (*cb)(void *arg), void *arg)
{
    s->closing = true;
    s->close_cb = cb;
    s->close_arg = arg;
    for (struct rn_httpd_conn *c = s->conns; c; c = c->next)
        if (!c->in_handler)
            conn_close(c);
    uv_close((uv_handle_t *)&s->tcp, listener_closed);
}
