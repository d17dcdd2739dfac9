/*
 * RFC 6455 websocket client (see ws.h).
 *
 * DESIGN. Three phases on the caller's loop:
 *   connect    a private CURLM with one CONNECT_ONLY easy handle, driven as
 *              curl docs/examples/multi-uv.c does (socket and timer callbacks
 *              only arm uv handles; socket_action runs from uv callbacks);
 *   handshake  the GET Upgrade request and the 101 answer, written and read
 *              with curl_easy_send/curl_easy_recv on the connected socket;
 *   open       masked frames out (a bounded queue, written when the socket is
 *              writable), frames in through rn_ws_reader (pong for ping,
 *              close answered).
 * The easy handle stays in its multi handle for the whole life of the
 * connection: removing a CONNECT_ONLY handle closes its connection. Every
 * event reaches the owner from a uv callback; rn_ws_free may be called from
 * inside one, so the code checks `freeing` after each owner callback and the
 * memory itself goes only when the last handle has closed.
 */
#include "ws.h"
#include "protocol.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 1.3 */
#define WS_HANDSHAKE_MAX 16384
#define WS_READ_CHUNK 16384
#define WS_SOCK(p) ((struct ws_sock *)((char *)(p)-offsetof(struct ws_sock, poll)))

/* ---- framing ---- */

static void random_bytes(unsigned char *p, size_t n)
{
    if (RAND_bytes(p, (int)n) != 1)
        abort(); /* no randomness: nothing sensible to do */
}

int rn_ws_frame_encode(struct gr_buf *out, int opcode, bool fin, const void *data, size_t len,
                       const unsigned char *mask)
{
    unsigned char hdr[14];
    size_t h = 0, start = out->len;
    const unsigned char *src = data;
    int r;

    hdr[h++] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) {
        hdr[h++] = (unsigned char)((mask ? 0x80 : 0) | len);
    } else if (len <= 0xffff) {
        hdr[h++] = (unsigned char)((mask ? 0x80 : 0) | 126);
        hdr[h++] = (unsigned char)(len >> 8);
        hdr[h++] = (unsigned char)len;
    } else {
        hdr[h++] = (unsigned char)((mask ? 0x80 : 0) | 127);
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    if (mask) {
        memcpy(hdr + h, mask, 4);
        h += 4;
    }
    r = gr_buf_add(out, hdr, h);
    if (r == 0)
        r = gr_buf_add(out, data, len);
    if (r < 0) {
        out->len = start;
        out->ptr[start] = '\0';
        return r;
    }
    if (mask) {
        unsigned char *p = (unsigned char *)out->ptr + start + h;

        for (size_t i = 0; i < len; i++)
            p[i] = (unsigned char)(src[i] ^ mask[i & 3]);
    }
    return 0;
}

static bool opcode_known(int op)
{
    return op == RN_WS_CONT || op == RN_WS_TEXT || op == RN_WS_BINARY || op == RN_WS_CLOSE ||
           op == RN_WS_PING || op == RN_WS_PONG;
}

int rn_ws_frame_parse(unsigned char *buf, size_t len, size_t max, struct rn_ws_frame *ret)
{
    size_t h = 2;
    uint64_t plen;
    int op;

    if (len < 2)
        return 0;
    op = buf[0] & 0x0f;
    if ((buf[0] & 0x70) || !opcode_known(op))
        return -EPROTO;
    plen = buf[1] & 0x7f;
    if (op >= RN_WS_CLOSE && (!(buf[0] & 0x80) || plen > RN_WS_CONTROL_MAX))
        return -EPROTO;
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = (uint64_t)buf[2] << 8 | buf[3];
        h = 4;
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        if (buf[2] & 0x80)
            return -EPROTO;
        plen = 0;
        for (int i = 2; i < 10; i++)
            plen = plen << 8 | buf[i];
        h = 10;
    }
    if (plen > max || plen > (uint64_t)INT_MAX - 14)
        return -E2BIG;
    if (buf[1] & 0x80)
        h += 4;
    if (len < h + plen)
        return 0;
    ret->opcode = op;
    ret->fin = buf[0] & 0x80;
    ret->masked = buf[1] & 0x80;
    ret->payload = buf + h;
    ret->len = (size_t)plen;
    if (ret->masked) {
        const unsigned char *m = buf + h - 4;

        for (size_t i = 0; i < ret->len; i++)
            ret->payload[i] ^= m[i & 3];
    }
    return (int)(h + plen);
}

void rn_ws_reader_init(struct rn_ws_reader *r, size_t max, bool want_masked)
{
    r->in = GR_BUF_INIT(0);
    r->msg = GR_BUF_INIT(max);
    r->msg_opcode = -1;
    r->want_masked = want_masked;
    r->max = max;
}

void rn_ws_reader_release(struct rn_ws_reader *r)
{
    gr_buf_release(&r->in);
    gr_buf_release(&r->msg);
    r->msg_opcode = -1;
}

/* One parsed frame into the message being assembled. */
static int reader_frame(struct rn_ws_reader *r, const struct rn_ws_frame *f, rn_ws_msg_fn *cb,
                        void *ctx)
{
    int op;

    if (f->masked != r->want_masked)
        return -EPROTO; /* RFC 6455 5.1 */
    if (f->opcode >= RN_WS_CLOSE) {
        cb(ctx, f->opcode, f->payload, f->len);
        return 0;
    }
    if (f->opcode == RN_WS_CONT) {
        if (r->msg_opcode < 0)
            return -EPROTO;
        if (gr_buf_add(&r->msg, f->payload, f->len) < 0)
            return -E2BIG;
    } else {
        if (r->msg_opcode >= 0)
            return -EPROTO;
        if (f->fin) {
            cb(ctx, f->opcode, f->payload, f->len);
            return 0;
        }
        r->msg_opcode = f->opcode;
        gr_buf_reset(&r->msg);
        if (gr_buf_add(&r->msg, f->payload, f->len) < 0)
            return -E2BIG;
    }
    if (!f->fin)
        return 0;
    op = r->msg_opcode;
    r->msg_opcode = -1;
    cb(ctx, op, (const unsigned char *)r->msg.ptr, r->msg.len);
    gr_buf_reset(&r->msg);
    return 0;
}

int rn_ws_reader_feed(struct rn_ws_reader *r, const void *data, size_t len, rn_ws_msg_fn *cb,
                      void *ctx)
{
    struct rn_ws_frame f;
    int n, rc;

    if (gr_buf_add(&r->in, data, len) < 0)
        return -E2BIG;
    for (;;) {
        n = rn_ws_frame_parse((unsigned char *)r->in.ptr, r->in.len, r->max, &f);
        if (n <= 0)
            return n;
        rc = reader_frame(r, &f, cb, ctx);
        if (rc < 0)
            return rc;
        gr_buf_consume(&r->in, (size_t)n);
    }
}

char *rn_ws_accept(const char *key)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char *cat = gr_xasprintf("%s" WS_GUID, key);
    char *out = NULL;

    if (EVP_Digest(cat, strlen(cat), md, &mdlen, EVP_sha1(), NULL) == 1)
        out = rn_b64_encode(md, mdlen, false);
    free(cat);
    return out ? out : gr_xstrdup("");
}

/* Value of header `name` in a response (trimmed, owned) or NULL. */
static char *header_value(const char *resp, size_t len, const char *name)
{
    size_t nl = strlen(name);
    const char *end = resp + len, *p = memchr(resp, '\n', len);

    while (p && p + 1 < end) {
        const char *line = p + 1, *eol = memchr(line, '\n', (size_t)(end - line));
        const char *v;

        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > nl && !strncasecmp(line, name, nl) && line[nl] == ':') {
            v = line + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            while (eol > v && (eol[-1] == '\r' || eol[-1] == ' ' || eol[-1] == '\t'))
                eol--;
            return gr_xstrndup(v, (size_t)(eol - v));
        }
        p = eol < end ? eol : NULL;
    }
    return NULL;
}

/* Whether the comma-separated list has token tok (case-insensitive). */
static bool has_token(const char *list, const char *tok)
{
    size_t tl = strlen(tok);

    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!strncasecmp(p, tok, tl) && (p[tl] == '\0' || p[tl] == ',' || p[tl] == ' '))
            return true;
        p = strchr(p, ',');
    }
    return false;
}

int rn_ws_check_response(const char *resp, size_t len, const char *key, long *ret_status)
{
    char *upgrade = NULL, *conn = NULL, *accept = NULL, *want = NULL;
    long status = 0;
    int r = -EPROTO;

    if (len < 12 || strncmp(resp, "HTTP/1.", 7) || resp[8] != ' ')
        goto out;
    for (int i = 9; i < 12; i++) {
        if (resp[i] < '0' || resp[i] > '9')
            goto out;
        status = status * 10 + (resp[i] - '0');
    }
    *ret_status = status;
    if (status != 101)
        goto out;
    upgrade = header_value(resp, len, "Upgrade");
    conn = header_value(resp, len, "Connection");
    accept = header_value(resp, len, "Sec-WebSocket-Accept");
    want = rn_ws_accept(key);
    if (upgrade && !strcasecmp(upgrade, "websocket") && conn && has_token(conn, "upgrade") &&
        accept && !strcmp(accept, want))
        r = 0;
out:
    free(upgrade);
    free(conn);
    free(accept);
    free(want);
    return r;
}

/* ---- client ---- */

enum ws_state { WS_CONNECTING, WS_HANDSHAKE, WS_OPEN, WS_DEAD };

struct ws_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct rn_ws *ws;
    struct ws_sock *next;
};

struct rn_ws {
    uv_loop_t *loop;
    CURLM *multi;
    CURL *easy;
    uv_timer_t curl_timer, deadline;
    struct ws_sock *socks; /* watched for curl while connecting */
    struct ws_sock *conn;  /* the connection's socket, once made (one uv_poll_t per fd) */
    bool close_sent, in_multi;
    enum ws_state state;
    char *url, *host, *target, **headers;
    char key[32];
    struct gr_buf out, hs;
    struct rn_ws_reader rd;
    rn_ws_event_fn *cb;
    rn_ws_msg_fn *on_message;
    void *ctx;
    int open_handles;
    bool freeing;
};

static void ws_handle_closed(uv_handle_t *h)
{
    struct rn_ws *ws = h->data;

    if (h != (uv_handle_t *)&ws->curl_timer && h != (uv_handle_t *)&ws->deadline)
        free(WS_SOCK(h));
    if (--ws->open_handles > 0 || !ws->freeing)
        return;
    rn_ws_reader_release(&ws->rd);
    gr_buf_release(&ws->out);
    gr_buf_release(&ws->hs);
    for (size_t i = 0; ws->headers && ws->headers[i]; i++)
        free(ws->headers[i]);
    free(ws->headers);
    free(ws->url);
    free(ws->host);
    free(ws->target);
    free(ws);
}

static void ws_close_handle(struct rn_ws *ws, uv_handle_t *h)
{
    h->data = ws;
    if (!uv_is_closing(h))
        uv_close(h, ws_handle_closed);
}

static void stop_io(struct rn_ws *ws)
{
    uv_timer_stop(&ws->curl_timer);
    uv_timer_stop(&ws->deadline);
    if (ws->conn)
        uv_poll_stop(&ws->conn->poll);
    for (struct ws_sock *s = ws->socks; s; s = s->next)
        uv_poll_stop(&s->poll);
}

/* The connection is over: tell the owner once. */
static void fail(struct rn_ws *ws, int status)
{
    if (ws->state == WS_DEAD || ws->freeing)
        return;
    ws->state = WS_DEAD;
    stop_io(ws);
    GR_LOG_DEBUG("websocket '%s': %s", ws->url, gr_strerror(status));
    ws->cb(ws, status, ws->ctx);
}

static void on_main_poll(uv_poll_t *p, int status, int events);

static void update_poll(struct rn_ws *ws)
{
    int ev = UV_READABLE | (ws->out.len ? UV_WRITABLE : 0);

    if (ws->state != WS_DEAD && ws->conn && !ws->freeing)
        (void)uv_poll_start(&ws->conn->poll, ev, on_main_poll);
}

/* ---- connection phase (curl multi) ---- */

static void on_sock_poll(uv_poll_t *p, int status, int events);
static void check_connected(struct rn_ws *ws);

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct rn_ws *ws = userp;
    struct ws_sock *s = socketp, **pp;
    int ev = 0;

    (void)e;
    if (ws->freeing)
        return 0;
    if (what == CURL_POLL_REMOVE) {
        if (!s)
            return 0;
        for (pp = &ws->socks; *pp; pp = &(*pp)->next)
            if (*pp == s) {
                *pp = s->next;
                break;
            }
        curl_multi_assign(ws->multi, fd, NULL);
        ws_close_handle(ws, (uv_handle_t *)&s->poll);
        return 0;
    }
    if (!s) {
        s = gr_xcalloc(1, sizeof(*s));
        s->fd = fd;
        s->ws = ws;
        if (uv_poll_init_socket(ws->loop, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        s->poll.data = ws;
        ws->open_handles++;
        s->next = ws->socks;
        ws->socks = s;
        curl_multi_assign(ws->multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, on_sock_poll);
    return 0;
}

static void on_curl_timer(uv_timer_t *t)
{
    struct rn_ws *ws = t->data;
    int running;

    curl_multi_socket_action(ws->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_connected(ws);
}

static int timer_cb(CURLM *m, long ms, void *userp)
{
    struct rn_ws *ws = userp;

    (void)m;
    if (ws->freeing)
        return 0;
    if (ms < 0)
        uv_timer_stop(&ws->curl_timer);
    else
        uv_timer_start(&ws->curl_timer, on_curl_timer, (uint64_t)ms, 0);
    return 0;
}

static void on_sock_poll(uv_poll_t *p, int status, int events)
{
    struct ws_sock *s = WS_SOCK(p);
    struct rn_ws *ws = s->ws;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(ws->multi, s->fd, flags, &running);
    check_connected(ws);
}

static void start_handshake(struct rn_ws *ws);

/* The connected socket's poll: the one curl used for fd when it still has it, else a new one. */
static int adopt_socket(struct rn_ws *ws, curl_socket_t fd)
{
    struct ws_sock **pp, *s = NULL;

    for (pp = &ws->socks; *pp; pp = &(*pp)->next)
        if ((*pp)->fd == fd) {
            s = *pp;
            *pp = s->next;
            curl_multi_assign(ws->multi, fd, NULL);
            break;
        }
    for (struct ws_sock *o = ws->socks; o; o = o->next)
        uv_poll_stop(&o->poll); /* curl watches nothing more */
    if (!s) {
        s = gr_xcalloc(1, sizeof(*s));
        s->fd = fd;
        s->ws = ws;
        if (uv_poll_init_socket(ws->loop, &s->poll, fd) < 0) {
            free(s);
            return -EIO;
        }
        s->poll.data = ws;
        ws->open_handles++;
    }
    s->next = NULL;
    ws->conn = s;
    return 0;
}

static void check_connected(struct rn_ws *ws)
{
    CURLMsg *m;
    int left;
    curl_socket_t fd = CURL_SOCKET_BAD;

    while (ws->state == WS_CONNECTING && (m = curl_multi_info_read(ws->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        if (m->data.result != CURLE_OK) {
            GR_LOG_DEBUG("websocket '%s': %s", ws->url, curl_easy_strerror(m->data.result));
            fail(ws, m->data.result == CURLE_COULDNT_CONNECT      ? -ECONNREFUSED
                     : m->data.result == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
                                                                  : GR_ECURL);
            return;
        }
        if (curl_easy_getinfo(ws->easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK ||
            fd == CURL_SOCKET_BAD) {
            fail(ws, GR_ECURL);
            return;
        }
        if (adopt_socket(ws, fd) < 0) {
            fail(ws, -EIO);
            return;
        }
        start_handshake(ws);
    }
}

/* ---- handshake and frames ---- */

static void flush_out(struct rn_ws *ws)
{
    while (ws->out.len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(ws->easy, ws->out.ptr, ws->out.len, &n);

        if (rc == CURLE_AGAIN)
            break;
        if (rc != CURLE_OK) {
            fail(ws, -ECONNRESET);
            return;
        }
        gr_buf_consume(&ws->out, n);
    }
    update_poll(ws);
}

static void start_handshake(struct rn_ws *ws)
{
    unsigned char raw[16];
    char *k;
    int r;

    random_bytes(raw, sizeof(raw));
    k = rn_b64_encode(raw, sizeof(raw), false);
    snprintf(ws->key, sizeof(ws->key), "%s", k);
    free(k);
    r = gr_buf_addf(&ws->out,
                    "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
                    ws->target, ws->host, ws->key);
    for (size_t i = 0; r == 0 && ws->headers && ws->headers[i]; i++)
        r = gr_buf_addf(&ws->out, "%s\r\n", ws->headers[i]);
    if (r == 0)
        r = gr_buf_adds(&ws->out, "\r\n");
    if (r < 0) {
        fail(ws, r);
        return;
    }
    ws->state = WS_HANDSHAKE;
    uv_poll_start(&ws->conn->poll, UV_READABLE | UV_WRITABLE, on_main_poll);
}

static int queue_frame(struct rn_ws *ws, int op, bool fin, const void *data, size_t len)
{
    unsigned char mask[4];

    random_bytes(mask, sizeof(mask));
    return rn_ws_frame_encode(&ws->out, op, fin, data, len, mask);
}

static void on_frame(void *ctx, int op, const unsigned char *data, size_t len)
{
    struct rn_ws *ws = ctx;

    if (ws->freeing || ws->state == WS_DEAD)
        return;
    if (op == RN_WS_PING) {
        (void)queue_frame(ws, RN_WS_PONG, true, data, len); /* a full queue drops it */
    } else if (op == RN_WS_CLOSE) {
        if (!ws->close_sent) {
            ws->close_sent = true;
            (void)queue_frame(ws, RN_WS_CLOSE, true, data, len >= 2 ? 2 : 0);
            flush_out(ws);
        }
        fail(ws, -ECONNRESET);
    } else if (op != RN_WS_PONG && ws->on_message) {
        ws->on_message(ws->ctx, op, data, len);
    }
}

static int read_handshake(struct rn_ws *ws, const char *data, size_t len)
{
    const char *end;
    size_t hl;
    long status = 0;
    int r;

    if (gr_buf_add(&ws->hs, data, len) < 0)
        return -EPROTO;
    end = strstr(ws->hs.ptr, "\r\n\r\n");
    if (!end)
        return 0;
    hl = (size_t)(end - ws->hs.ptr) + 4;
    r = rn_ws_check_response(ws->hs.ptr, hl, ws->key, &status);
    if (r < 0) {
        GR_LOG_DEBUG("websocket '%s': handshake refused (HTTP %ld)", ws->url, status);
        return status == 401 || status == 403 ? -EACCES : -EPROTO;
    }
    ws->state = WS_OPEN;
    uv_timer_stop(&ws->deadline);
    ws->cb(ws, 0, ws->ctx);
    if (ws->freeing || ws->state != WS_OPEN)
        return 0;
    r = rn_ws_reader_feed(&ws->rd, ws->hs.ptr + hl, ws->hs.len - hl, on_frame, ws);
    gr_buf_release(&ws->hs);
    return r;
}

static void read_all(struct rn_ws *ws)
{
    char buf[WS_READ_CHUNK];
    int r;

    while (!ws->freeing && (ws->state == WS_HANDSHAKE || ws->state == WS_OPEN)) {
        size_t n = 0;
        CURLcode rc = curl_easy_recv(ws->easy, buf, sizeof(buf), &n);

        if (rc == CURLE_AGAIN)
            return;
        if (rc != CURLE_OK || n == 0) {
            fail(ws, -ECONNRESET);
            return;
        }
        if (ws->state == WS_HANDSHAKE)
            r = read_handshake(ws, buf, n);
        else
            r = rn_ws_reader_feed(&ws->rd, buf, n, on_frame, ws);
        if (r < 0) {
            fail(ws, r);
            return;
        }
    }
}

static void on_main_poll(uv_poll_t *p, int status, int events)
{
    struct rn_ws *ws = WS_SOCK(p)->ws;

    if (status < 0) {
        fail(ws, -ECONNRESET);
        return;
    }
    if (events & UV_WRITABLE)
        flush_out(ws);
    if (events & UV_READABLE)
        read_all(ws);
    if (!ws->freeing && ws->state != WS_DEAD)
        update_poll(ws);
}

static void on_deadline(uv_timer_t *t)
{
    fail(t->data, -ETIMEDOUT);
}

/* ---- public ---- */

/* http(s) URL for curl, "Host:" value and request target of a ws(s)/http(s) URL. */
static int split_url(struct rn_ws *ws, const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *path = NULL, *query = NULL;
    int r = -EINVAL;

    if (!strncasecmp(url, "wss://", 6))
        ws->url = gr_xasprintf("https://%s", url + 6);
    else if (!strncasecmp(url, "ws://", 5))
        ws->url = gr_xasprintf("http://%s", url + 5);
    else if (!strncasecmp(url, "https://", 8) || !strncasecmp(url, "http://", 7))
        ws->url = gr_xstrdup(url);
    else
        goto out;
    if (!u || curl_url_set(u, CURLUPART_URL, ws->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        goto out;
    (void)curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT);
    (void)curl_url_get(u, CURLUPART_QUERY, &query, 0);
    ws->host = port ? gr_xasprintf("%s:%s", host, port) : gr_xstrdup(host);
    ws->target = query ? gr_xasprintf("%s?%s", path, query) : gr_xstrdup(path);
    r = 0;
out:
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
    return r;
}

static void ws_init_handles(struct rn_ws *ws)
{
    uv_timer_init(ws->loop, &ws->curl_timer);
    uv_timer_init(ws->loop, &ws->deadline);
    ws->curl_timer.data = ws->deadline.data = ws;
    ws->open_handles = 2;
}

int rn_ws_connect(uv_loop_t *loop, const struct rn_ws_opts *o, struct rn_ws **ret)
{
    struct rn_ws *ws = gr_xcalloc(1, sizeof(*ws));
    size_t nh = 0;
    int r;

    ws->loop = loop;
    ws->cb = o->cb;
    ws->on_message = o->on_message;
    ws->ctx = o->ctx;
    ws->out = GR_BUF_INIT(RN_WS_OUT_MAX);
    ws->hs = GR_BUF_INIT(WS_HANDSHAKE_MAX);
    rn_ws_reader_init(&ws->rd, RN_WS_MSG_MAX, false);
    while (o->headers && o->headers[nh])
        nh++;
    ws->headers = gr_xcalloc(nh + 1, sizeof(char *));
    for (size_t i = 0; i < nh; i++)
        ws->headers[i] = gr_xstrdup(o->headers[i]);
    ws_init_handles(ws);
    r = split_url(ws, o->url);
    if (r == 0) {
        ws->multi = curl_multi_init();
        ws->easy = curl_easy_init();
        r = ws->multi && ws->easy ? 0 : -ENOMEM;
    }
    if (r == 0) {
        curl_easy_setopt(ws->easy, CURLOPT_URL, ws->url);
        curl_easy_setopt(ws->easy, CURLOPT_CONNECT_ONLY, 1L);
        /* through an HTTP proxy (the *_proxy environment) the socket is a CONNECT tunnel */
        curl_easy_setopt(ws->easy, CURLOPT_HTTPPROXYTUNNEL, 1L);
        curl_easy_setopt(ws->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(ws->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(o->timeout_ms ?: 30000));
        if (o->cafile)
            curl_easy_setopt(ws->easy, CURLOPT_CAINFO, o->cafile);
        curl_multi_setopt(ws->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
        curl_multi_setopt(ws->multi, CURLMOPT_SOCKETDATA, ws);
        curl_multi_setopt(ws->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
        curl_multi_setopt(ws->multi, CURLMOPT_TIMERDATA, ws);
        r = curl_multi_add_handle(ws->multi, ws->easy) == CURLM_OK ? 0 : GR_ECURL;
    }
    if (r < 0) {
        ws->state = WS_DEAD;
        rn_ws_free(ws);
        return r;
    }
    ws->in_multi = true;
    uv_timer_start(&ws->deadline, on_deadline, o->timeout_ms ? o->timeout_ms : 30000, 0);
    *ret = ws;
    return 0;
}

bool rn_ws_is_open(const struct rn_ws *ws)
{
    return ws && ws->state == WS_OPEN;
}

size_t rn_ws_pending(const struct rn_ws *ws)
{
    return ws ? ws->out.len : 0;
}

int rn_ws_send_text(struct rn_ws *ws, const char *data, size_t len)
{
    size_t start = ws->out.len, off = 0;
    int r = 0;

    if (!rn_ws_is_open(ws))
        return -ENOTCONN;
    do {
        size_t n = len - off < RN_WS_FRAGMENT ? len - off : RN_WS_FRAGMENT;

        r = queue_frame(ws, off == 0 ? RN_WS_TEXT : RN_WS_CONT, off + n >= len, data + off, n);
        off += n;
    } while (r == 0 && off < len);
    if (r < 0) { /* all or nothing */
        ws->out.len = start;
        ws->out.ptr[start] = '\0';
        return r;
    }
    update_poll(ws); /* written from the poll callback, never from here */
    return 0;
}

void rn_ws_free(struct rn_ws *ws)
{
    if (!ws || ws->freeing)
        return;
    if (ws->state == WS_OPEN && !ws->close_sent) {
        unsigned char code[2] = {0x03, 0xe8}; /* 1000 normal closure, best effort */
        size_t n;

        gr_buf_reset(&ws->out);
        if (queue_frame(ws, RN_WS_CLOSE, true, code, sizeof(code)) == 0)
            (void)curl_easy_send(ws->easy, ws->out.ptr, ws->out.len, &n);
    }
    ws->freeing = true;
    stop_io(ws);
    /* uv first (the fd is still open), then curl, which closes the socket */
    if (ws->conn)
        ws_close_handle(ws, (uv_handle_t *)&ws->conn->poll);
    while (ws->socks) {
        struct ws_sock *s = ws->socks;

        ws->socks = s->next;
        ws_close_handle(ws, (uv_handle_t *)&s->poll);
    }
    if (ws->in_multi)
        curl_multi_remove_handle(ws->multi, ws->easy);
    curl_easy_cleanup(ws->easy);
    curl_multi_cleanup(ws->multi);
    ws->easy = NULL;
    ws->multi = NULL;
    ws_close_handle(ws, (uv_handle_t *)&ws->curl_timer);
    ws_close_handle(ws, (uv_handle_t *)&ws->deadline);
}
