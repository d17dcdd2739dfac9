/*
 * runner/ws.c: the RFC 6455 framing (frames of 0, 125, 126, 65535 and
 * 65536+ bytes, masking, fragmented messages, control frames, malformed
 * input), the handshake check (the RFC's own example key), and the client on
 * a loop against a small websocket server on loopback that runs on the same
 * loop: handshake, masked fragmented text, ping/pong, close, a refused
 * upgrade and a refused connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

/* ---- framing ---- */

struct got {
    int ops[16];
    char *msgs[16];
    size_t lens[16];
    int n;
};

static void collect(void *ctx, int op, const unsigned char *data, size_t len)
{
    struct got *g = ctx;

    assert_true(g->n < 16);
    g->ops[g->n] = op;
    g->msgs[g->n] = gr_xstrndup((const char *)data, len);
    g->lens[g->n] = len;
    g->n++;
}

static void got_free(struct got *g)
{
    for (int i = 0; i < g->n; i++)
        free(g->msgs[i]);
    memset(g, 0, sizeof(*g));
}

static void roundtrip(size_t len, bool masked, size_t want_hdr)
{
    static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    struct gr_buf b = GR_BUF_INIT(0);
    char *data = gr_xcalloc(1, len + 1);
    struct rn_ws_frame f;

    for (size_t i = 0; i < len; i++)
        data[i] = (char)('a' + i % 26);
    assert_int_equal(rn_ws_frame_encode(&b, RN_WS_BINARY, true, data, len, masked ? mask : NULL),
                     0);
    assert_int_equal(b.len, want_hdr + len);
    if (masked && len > 0) /* the payload on the wire is masked */
        assert_int_equal((unsigned char)b.ptr[want_hdr], (unsigned char)('a' ^ 0x37));
    /* every prefix is "need more" */
    assert_int_equal(rn_ws_frame_parse((unsigned char *)b.ptr, 1, 1 << 20, &f), 0);
    assert_int_equal(rn_ws_frame_parse((unsigned char *)b.ptr, want_hdr - 1, 1 << 20, &f), 0);
    if (len)
        assert_int_equal(rn_ws_frame_parse((unsigned char *)b.ptr, b.len - 1, 1 << 20, &f), 0);
    assert_int_equal(rn_ws_frame_parse((unsigned char *)b.ptr, b.len, 1 << 20, &f), (int)b.len);
    assert_int_equal(f.opcode, RN_WS_BINARY);
    assert_true(f.fin);
    assert_int_equal(f.masked, masked);
    assert_int_equal(f.len, len);
    assert_memory_equal(f.payload, data, len);
    gr_buf_release(&b);
    free(data);
}

static void test_frame_sizes(void **state)
{
    (void)state;
    roundtrip(0, false, 2);
    roundtrip(0, true, 6);
    roundtrip(125, false, 2);
    roundtrip(125, true, 6);
    roundtrip(126, false, 4);
    roundtrip(126, true, 8);
    roundtrip(65535, true, 8);
    roundtrip(65536, false, 10);
    roundtrip(65536, true, 14);
    roundtrip(200000, true, 14);
}

static void test_frame_header_bytes(void **state)
{
    struct gr_buf b = GR_BUF_INIT(0);
    static const unsigned char mask[4] = {1, 2, 3, 4};

    (void)state;
    /* RFC 6455 5.7: a single-frame unmasked text message "Hello" */
    assert_int_equal(rn_ws_frame_encode(&b, RN_WS_TEXT, true, "Hello", 5, NULL), 0);
    assert_memory_equal(b.ptr, "\x81\x05Hello", 7);
    gr_buf_reset(&b);
    /* a masked continuation frame without FIN, length 126 → 16-bit extended length */
    assert_int_equal(rn_ws_frame_encode(&b, RN_WS_CONT, false, gr_buf_empty, 0, mask), 0);
    assert_memory_equal(b.ptr, "\x00\x80\x01\x02\x03\x04", 6);
    gr_buf_release(&b);
    /* the limit of the output buffer is honoured and leaves it unchanged */
    b = GR_BUF_INIT(10);
    assert_int_equal(rn_ws_frame_encode(&b, RN_WS_TEXT, true, "0123456789", 10, NULL), -E2BIG);
    assert_int_equal(b.len, 0);
    gr_buf_release(&b);
}

static void test_frame_malformed(void **state)
{
    struct rn_ws_frame f;
    unsigned char rsv[] = {0xc1, 0x00};                                /* RSV1 set */
    unsigned char op3[] = {0x83, 0x00};                                /* reserved opcode */
    unsigned char opb[] = {0x8b, 0x00};                                /* reserved control opcode */
    unsigned char frag_ping[] = {0x09, 0x00};                          /* ping without FIN */
    unsigned char big_ping[] = {0x89, 0x7e, 0x00, 0x7e};               /* ping of 126 bytes */
    unsigned char top_bit[] = {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1}; /* 64-bit MSB */
    unsigned char huge[] = {0x82, 0x7f, 0, 0, 0, 1, 0, 0, 0, 0};       /* 4 GiB */

    (void)state;
    assert_int_equal(rn_ws_frame_parse(rsv, sizeof(rsv), 100, &f), -EPROTO);
    assert_int_equal(rn_ws_frame_parse(op3, sizeof(op3), 100, &f), -EPROTO);
    assert_int_equal(rn_ws_frame_parse(opb, sizeof(opb), 100, &f), -EPROTO);
    assert_int_equal(rn_ws_frame_parse(frag_ping, sizeof(frag_ping), 100, &f), -EPROTO);
    assert_int_equal(rn_ws_frame_parse(big_ping, sizeof(big_ping), 1000, &f), -EPROTO);
    assert_int_equal(rn_ws_frame_parse(top_bit, sizeof(top_bit), 100, &f), -EPROTO);
    assert_int_equal(rn_ws_frame_parse(huge, sizeof(huge), 1 << 20, &f), -E2BIG);
}

/* Encode a sequence of frames into one stream. */
static void put(struct gr_buf *b, int op, bool fin, const char *s, bool masked)
{
    static const unsigned char mask[4] = {0xde, 0xad, 0xbe, 0xef};

    assert_int_equal(rn_ws_frame_encode(b, op, fin, s, strlen(s), masked ? mask : NULL), 0);
}

static void test_reader_fragments_and_control(void **state)
{
    struct rn_ws_reader r;
    struct gr_buf b = GR_BUF_INIT(0);
    struct got g = {0};

    (void)state;
    rn_ws_reader_init(&r, 1 << 16, true);
    put(&b, RN_WS_TEXT, false, "{\"count\":", true);
    put(&b, RN_WS_PING, true, "p1", true); /* control frames may come between fragments */
    put(&b, RN_WS_CONT, false, "2,", true);
    put(&b, RN_WS_CONT, true, "\"x\":1}", true);
    put(&b, RN_WS_TEXT, true, "single", true);
    put(&b, RN_WS_CLOSE, true, "\x03\xe8", true);
    /* byte by byte: the reader must assemble across any split */
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(rn_ws_reader_feed(&r, b.ptr + i, 1, collect, &g), 0);
    assert_int_equal(g.n, 4);
    assert_int_equal(g.ops[0], RN_WS_PING);
    assert_string_equal(g.msgs[0], "p1");
    assert_int_equal(g.ops[1], RN_WS_TEXT);
    assert_string_equal(g.msgs[1], "{\"count\":2,\"x\":1}");
    assert_int_equal(g.ops[2], RN_WS_TEXT);
    assert_string_equal(g.msgs[2], "single");
    assert_int_equal(g.ops[3], RN_WS_CLOSE);
    assert_int_equal(g.lens[3], 2);
    got_free(&g);
    /* all at once gives the same */
    rn_ws_reader_release(&r);
    rn_ws_reader_init(&r, 1 << 16, true);
    assert_int_equal(rn_ws_reader_feed(&r, b.ptr, b.len, collect, &g), 0);
    assert_int_equal(g.n, 4);
    got_free(&g);
    rn_ws_reader_release(&r);
    gr_buf_release(&b);
}

static int feed_one(bool want_masked, size_t max, void (*build)(struct gr_buf *))
{
    struct rn_ws_reader r;
    struct gr_buf b = GR_BUF_INIT(0);
    struct got g = {0};
    int rc;

    rn_ws_reader_init(&r, max, want_masked);
    build(&b);
    rc = rn_ws_reader_feed(&r, b.ptr, b.len, collect, &g);
    got_free(&g);
    rn_ws_reader_release(&r);
    gr_buf_release(&b);
    return rc;
}

static void b_cont_first(struct gr_buf *b)
{
    put(b, RN_WS_CONT, true, "x", false);
}

static void b_text_in_text(struct gr_buf *b)
{
    put(b, RN_WS_TEXT, false, "a", false);
    put(b, RN_WS_TEXT, true, "b", false);
}

static void b_masked(struct gr_buf *b)
{
    put(b, RN_WS_TEXT, true, "server frames are never masked", true);
}

static void b_too_long(struct gr_buf *b)
{
    put(b, RN_WS_TEXT, false, "0123456789", false);
    put(b, RN_WS_CONT, true, "0123456789", false);
}

static void b_garbage(struct gr_buf *b)
{
    assert_int_equal(gr_buf_add(b, "GET / HTTP/1.1\r\n", 16), 0);
}

static void test_reader_malformed(void **state)
{
    (void)state;
    assert_int_equal(feed_one(false, 100, b_cont_first), -EPROTO);
    assert_int_equal(feed_one(false, 100, b_text_in_text), -EPROTO);
    assert_int_equal(feed_one(false, 100, b_masked), -EPROTO);
    assert_int_equal(feed_one(false, 15, b_too_long), -E2BIG);
    assert_int_equal(feed_one(false, 100, b_garbage), -EPROTO);
}

static void test_accept_and_response(void **state)
{
    char *a = rn_ws_accept("dGhlIHNhbXBsZSBub25jZQ==");
    const char *ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: keep-alive, Upgrade\r\n"
                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    const char *bad_accept = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n";
    const char *no_upgrade = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    const char *denied = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    long st = 0;

    (void)state;
    assert_string_equal(a, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455 1.3 */
    free(a);
    assert_int_equal(rn_ws_check_response(ok, strlen(ok), key, &st), 0);
    assert_int_equal(st, 101);
    assert_int_equal(rn_ws_check_response(bad_accept, strlen(bad_accept), key, &st), -EPROTO);
    assert_int_equal(rn_ws_check_response(no_upgrade, strlen(no_upgrade), key, &st), -EPROTO);
    assert_int_equal(rn_ws_check_response(denied, strlen(denied), key, &st), -EPROTO);
    assert_int_equal(st, 401);
    assert_int_equal(rn_ws_check_response("HTTP/1.1 1", 10, key, &st), -EPROTO);
}

/* ---- the client against a loopback server on the same loop ---- */

struct srv {
    uv_loop_t loop;
    uv_tcp_t tcp, conn;
    bool have_conn, refuse; /* refuse: answer 403 instead of 101 */
    int port;
    struct gr_buf hs;
    bool upgraded;
    struct rn_ws_reader rd;
    struct got got;   /* what the server received */
    char auth[128];   /* the Authorization header it saw */
    struct rn_ws *ws; /* the client */
    int events[8], nevents;
    struct got client_got; /* what the client received */
    int phase;
};

static void srv_write(struct srv *s, const void *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);

    assert_int_equal(uv_try_write((uv_stream_t *)&s->conn, &b, 1), (int)len);
}

static void srv_frame(struct srv *s, int op, const char *data, size_t len)
{
    struct gr_buf b = GR_BUF_INIT(0);

    assert_int_equal(rn_ws_frame_encode(&b, op, true, data, len, NULL), 0);
    srv_write(s, b.ptr, b.len);
    gr_buf_release(&b);
}

static void srv_got(void *ctx, int op, const unsigned char *data, size_t len)
{
    struct srv *s = ctx;

    collect(&s->got, op, data, len);
    if (op == RN_WS_TEXT && s->got.n == 1) {
        srv_frame(s, RN_WS_PING, "hb", 2); /* the client must answer with a pong "hb" */
        srv_frame(s, RN_WS_TEXT, "hello client", 12);
    } else if (op == RN_WS_PONG) {
        srv_frame(s, RN_WS_CLOSE, "\x03\xe8", 2);
    }
}

static void srv_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char buf[65536];

    (void)h;
    (void)hint;
    *b = uv_buf_init(buf, sizeof(buf));
}

static void srv_handshake(struct srv *s)
{
    char *end = strstr(s->hs.ptr, "\r\n\r\n"), *k, *a, *resp;
    char key[64] = "";

    if (!end)
        return;
    k = strcasestr(s->hs.ptr, "\nSec-WebSocket-Key: ");
    assert_non_null(k);
    sscanf(k + 20, "%63[^\r]", key);
    a = strcasestr(s->hs.ptr, "\nAuthorization: ");
    if (a)
        sscanf(a + 16, "%127[^\r]", s->auth);
    assert_non_null(strstr(s->hs.ptr, "GET /feed/x?a=1 HTTP/1.1\r\n"));
    if (s->refuse) {
        resp = gr_xstrdup("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    } else {
        char *acc = rn_ws_accept(key);

        resp = gr_xasprintf("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                            acc);
        free(acc);
        s->upgraded = true;
    }
    srv_write(s, resp, strlen(resp));
    free(resp);
}

static void srv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct srv *s = st->data;

    if (n <= 0) {
        if (n < 0)
            uv_read_stop(st);
        return;
    }
    if (!s->upgraded) {
        assert_int_equal(gr_buf_add(&s->hs, b->base, (size_t)n), 0);
        srv_handshake(s);
        return;
    }
    assert_int_equal(rn_ws_reader_feed(&s->rd, b->base, (size_t)n, srv_got, s), 0);
}

static void srv_accept(uv_stream_t *server, int status)
{
    struct srv *s = server->data;

    assert_int_equal(status, 0);
    assert_false(s->have_conn);
    uv_tcp_init(&s->loop, &s->conn);
    s->conn.data = s;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&s->conn), 0);
    s->have_conn = true;
    uv_read_start((uv_stream_t *)&s->conn, srv_alloc, srv_read);
}

static void client_event(struct rn_ws *ws, int status, void *ctx)
{
    struct srv *s = ctx;
    static char big[3000];

    assert_ptr_equal(ws, s->ws);
    s->events[s->nevents++] = status;
    if (status == 0) {
        /* a message over one fragment: sent as TEXT + CONT + CONT, each masked */
        memset(big, 'x', sizeof(big));
        memcpy(big, "{\"count\":1,\"value\":[\"", 21);
        memcpy(big + sizeof(big) - 3, "\"]}", 3);
        assert_int_equal(rn_ws_send_text(ws, big, sizeof(big)), 0);
        assert_true(rn_ws_pending(ws) > sizeof(big));
        return;
    }
    /* failed or closed: stop everything so that uv_run returns */
    rn_ws_free(ws);
    s->ws = NULL;
    uv_close((uv_handle_t *)&s->tcp, NULL);
    if (s->have_conn)
        uv_close((uv_handle_t *)&s->conn, NULL);
}

static void client_msg(void *ctx, int op, const unsigned char *data, size_t len)
{
    struct srv *s = ctx;

    collect(&s->client_got, op, data, len);
}

static void srv_start(struct srv *s)
{
    struct sockaddr_in a;
    struct sockaddr_storage got;
    int len = sizeof(got);

    memset(s, 0, sizeof(*s));
    assert_int_equal(uv_loop_init(&s->loop), 0);
    s->hs = GR_BUF_INIT(0);
    rn_ws_reader_init(&s->rd, 1 << 20, true);
    uv_tcp_init(&s->loop, &s->tcp);
    s->tcp.data = s;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&s->tcp, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->tcp, 4, srv_accept), 0);
    uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&got, &len);
    s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static void srv_finish(struct srv *s)
{
    assert_int_equal(uv_run(&s->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&s->loop), 0);
    gr_buf_release(&s->hs);
    rn_ws_reader_release(&s->rd);
}

static void connect_client(struct srv *s, const char *scheme, int port)
{
    char url[128];
    const char *hdrs[] = {"Authorization: Bearer jobtok-123", NULL};
    struct rn_ws_opts o = {.url = url,
                           .headers = hdrs,
                           .timeout_ms = 5000,
                           .cb = client_event,
                           .on_message = client_msg,
                           .ctx = s};

    snprintf(url, sizeof(url), "%s://127.0.0.1:%d/feed/x?a=1", scheme, port);
    assert_int_equal(rn_ws_connect(&s->loop, &o, &s->ws), 0);
    assert_false(rn_ws_is_open(s->ws));
    assert_int_equal(rn_ws_send_text(s->ws, "x", 1), -ENOTCONN);
    assert_int_equal(s->nevents, 0); /* never from inside rn_ws_connect */
}

static void test_client_roundtrip(void **state)
{
    struct srv s;

    (void)state;
    srv_start(&s);
    connect_client(&s, "ws", s.port);
    srv_finish(&s);
    assert_string_equal(s.auth, "Bearer jobtok-123");
    assert_int_equal(s.nevents, 2);
    assert_int_equal(s.events[0], 0);           /* open */
    assert_int_equal(s.events[1], -ECONNRESET); /* the server closed */
    /* the server got the reassembled text message and the pong */
    assert_int_equal(s.got.n, 2);
    assert_int_equal(s.got.ops[0], RN_WS_TEXT);
    assert_int_equal(s.got.lens[0], 3000);
    assert_memory_equal(s.got.msgs[0], "{\"count\":1,\"value\":[\"xxx", 24);
    assert_int_equal(s.got.ops[1], RN_WS_PONG);
    assert_string_equal(s.got.msgs[1], "hb");
    /* the client got the server's text */
    assert_int_equal(s.client_got.n, 1);
    assert_string_equal(s.client_got.msgs[0], "hello client");
    got_free(&s.got);
    got_free(&s.client_got);
}

static void test_client_refused_upgrade(void **state)
{
    struct srv s;

    (void)state;
    srv_start(&s);
    s.refuse = true;
    connect_client(&s, "http", s.port);
    srv_finish(&s);
    assert_int_equal(s.nevents, 1);
    assert_int_equal(s.events[0], -EACCES);
    got_free(&s.got);
    got_free(&s.client_got);
}

static void test_client_refused_connection(void **state)
{
    struct srv s;
    int dead_port;

    (void)state;
    srv_start(&s);
    /* a port nobody listens on: bind, note it, close */
    {
        uv_tcp_t t;
        struct sockaddr_in a;
        struct sockaddr_storage got;
        int len = sizeof(got);

        uv_tcp_init(&s.loop, &t);
        uv_ip4_addr("127.0.0.1", 0, &a);
        assert_int_equal(uv_tcp_bind(&t, (const struct sockaddr *)&a, 0), 0);
        uv_tcp_getsockname(&t, (struct sockaddr *)&got, &len);
        dead_port = ntohs(((struct sockaddr_in *)&got)->sin_port);
        uv_close((uv_handle_t *)&t, NULL);
        uv_run(&s.loop, UV_RUN_NOWAIT);
    }
    connect_client(&s, "ws", dead_port);
    srv_finish(&s);
    assert_int_equal(s.nevents, 1);
    assert_int_equal(s.events[0], -ECONNREFUSED);
}

static void test_client_bad_url(void **state)
{
    uv_loop_t loop;
    struct rn_ws *ws = NULL;
    struct rn_ws_opts o = {.url = "ftp://example.com/x", .cb = client_event};

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(rn_ws_connect(&loop, &o, &ws), -EINVAL);
    assert_null(ws);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_sizes),
        cmocka_unit_test(test_frame_header_bytes),
        cmocka_unit_test(test_frame_malformed),
        cmocka_unit_test(test_reader_fragments_and_control),
        cmocka_unit_test(test_reader_malformed),
        cmocka_unit_test(test_accept_and_response),
        cmocka_unit_test(test_client_roundtrip),
        cmocka_unit_test(test_client_refused_upgrade),
        cmocka_unit_test(test_client_refused_connection),
        cmocka_unit_test(test_client_bad_url),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
