/*
 * runner/http.c against a tiny loopback HTTP server that runs on the same
 * loop: plain replies, 5xx then success (retry), a dropped connection, a
 * server that never answers (timeout), an oversized body, concurrency.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

struct srv {
    uv_tcp_t tcp;
    int port;
    int fail_left; /* /flaky answers 503 this many times */
    int hits;
};

struct conn {
    uv_tcp_t tcp;
    struct srv *srv;
    char buf[8192];
    size_t len;
};

struct wreq {
    uv_write_t w;
    char *data;
    struct conn *c;
    bool close_after;
};

static void conn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void conn_close(struct conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void wrote(uv_write_t *w, int status)
{
    struct wreq *wr = (struct wreq *)w;

    if (wr->close_after)
        conn_close(wr->c);
    free(wr->data);
    free(wr);
}

static void reply(struct conn *c, int code, const char *body)
{
    struct wreq *wr = gr_xcalloc(1, sizeof(*wr));
    uv_buf_t b;

    wr->data = gr_xasprintf("HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                            code, strlen(body), body);
    wr->c = c;
    wr->close_after = true;
    b = uv_buf_init(wr->data, (unsigned)strlen(wr->data));
    uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, wrote);
}

static void handle(struct conn *c)
{
    struct srv *s = c->srv;

    s->hits++;
    if (!strncmp(c->buf, "GET /ok ", 8)) {
        reply(c, 200, "{\"hello\":\"world\"}");
    } else if (!strncmp(c->buf, "POST /echo ", 11)) {
        char *body = strstr(c->buf, "\r\n\r\n");
        reply(c, 201, body ? body + 4 : "");
    } else if (!strncmp(c->buf, "GET /flaky ", 11)) {
        if (s->fail_left-- > 0)
            reply(c, 503, "busy");
        else
            reply(c, 200, "finally");
    } else if (!strncmp(c->buf, "GET /drop ", 10)) {
        conn_close(c);
    } else if (!strncmp(c->buf, "GET /hang ", 10)) {
        /* never answer */
    } else if (!strncmp(c->buf, "GET /big ", 9)) {
        char *big = gr_xmalloc(5000);
        memset(big, 'x', 4999);
        big[4999] = '\0';
        reply(c, 200, big);
        free(big);
    } else {
        reply(c, 404, "nope");
    }
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = h->data;

    *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 - c->len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = st->data;
    char *hdr_end;

    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    hdr_end = strstr(c->buf, "\r\n\r\n");
    if (!hdr_end)
        return;
    /* Requests with a body in this test send Content-Length; wait for it. */
    char *cl = strcasestr(c->buf, "Content-Length:");
    if (cl && cl < hdr_end) {
        size_t want = strtoul(cl + 15, NULL, 10);
        if (c->len - (size_t)(hdr_end + 4 - c->buf) < want)
            return;
    }
    uv_read_stop(st);
    handle(c);
}

static void on_conn(uv_stream_t *server, int status)
{
    struct srv *s = gr_container_of((uv_tcp_t *)server, struct srv, tcp);
    struct conn *c = gr_xcalloc(1, sizeof(*c));

    c->srv = s;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) == 0)
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
    else
        conn_close(c);
}

static void srv_start(uv_loop_t *loop, struct srv *s)
{
    struct sockaddr_in addr;
    struct sockaddr_storage got;
    int len = sizeof(got);

    memset(s, 0, sizeof(*s));
    uv_tcp_init(loop, &s->tcp);
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(uv_tcp_bind(&s->tcp, (struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->tcp, 16, on_conn), 0);
    uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&got, &len);
    s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_TCP && h->data ? conn_closed : NULL);
}

struct fix {
    uv_loop_t loop;
    struct srv srv;
    struct rn_http *http;
};

static int setup(void **state)
{
    struct fix *f = gr_xcalloc(1, sizeof(*f));

    uv_loop_init(&f->loop);
    srv_start(&f->loop, &f->srv);
    f->http = rn_http_new(&f->loop);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;

    rn_http_free(f->http);
    uv_walk(&f->loop, close_walk, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static char *url(struct fix *f, const char *path)
{
    return gr_xasprintf("http://127.0.0.1:%d%s", f->srv.port, path);
}

static void test_get_ok(void **state)
{
    struct fix *f = *state;
    char *u = url(f, "/ok");
    struct rn_req *req = rn_req_new("GET", u);
    json_t *j;

    assert_int_equal(rn_http_run_sync(f->http, req), 0);
    assert_int_equal(rn_req_status(req), 200);
    assert_true(rn_req_ok(req));
    j = rn_json_parse(rn_req_resp(req)->ptr, rn_req_resp(req)->len, NULL);
    assert_string_equal(rn_json_str(j, "HELLO"), "world");
    json_decref(j);
    rn_req_free(req);
    free(u);
}

static void test_post_json(void **state)
{
    struct fix *f = *state;
    char *u = url(f, "/echo");
    struct rn_req *req = rn_req_new("POST", u);
    json_t *body = json_pack("{s:i}", "n", 42);

    rn_req_json(req, body);
    assert_int_equal(rn_http_run_sync(f->http, req), 0);
    assert_int_equal(rn_req_status(req), 201);
    assert_string_equal(rn_req_resp(req)->ptr, "{\"n\":42}");
    json_decref(body);
    rn_req_free(req);
    free(u);
}

static void test_retry_5xx(void **state)
{
    struct fix *f = *state;
    char *u = url(f, "/flaky");
    struct rn_req *req = rn_req_new("GET", u);

    f->srv.fail_left = 2;
    rn_req_retry(req, 4, 10, NULL);
    assert_int_equal(rn_http_run_sync(f->http, req), 0);
    assert_int_equal(rn_req_status(req), 200);
    assert_int_equal(rn_req_attempts(req), 3);
    assert_string_equal(rn_req_resp(req)->ptr, "finally");
    rn_req_free(req);
    free(u);
}

static void test_retry_gives_up(void **state)
{
    struct fix *f = *state;
    char *u = url(f, "/flaky");
    struct rn_req *req = rn_req_new("GET", u);

    f->srv.fail_left = 10;
    rn_req_retry(req, 2, 5, NULL);
    assert_int_equal(rn_http_run_sync(f->http, req), 0);
    assert_int_equal(rn_req_status(req), 503);
    assert_int_equal(rn_req_attempts(req), 2);
    rn_req_free(req);
    free(u);
}

static void test_no_retry_4xx(void **state)
{
    struct fix *f = *state;
    char *u = url(f, "/missing");
    struct rn_req *req = rn_req_new("GET", u);

    rn_req_retry(req, 5, 5, NULL);
    assert_int_equal(rn_http_run_sync(f->http, req), 0);
    assert_int_equal(rn_req_status(req), 404);
    assert_int_equal(rn_req_attempts(req), 1);
    rn_req_free(req);
    free(u);
}

static void test_dropped(void **state)
{
    struct fix *f = *state;
    char *u = url(f, "/drop");
    struct rn_req *req = rn_req_new("GET", u);

    rn_req_retry(req, 2, 5, NULL);
    assert_int_equal(rn_http_run_sync(f->http, req), GR_ECURL);
    assert_int_equal(rn_req_attempts(req), 2);
    assert_true(strlen(rn_req_errtext(req)) > 0);
    rn_req_free(req);
    free(u);
}

static void test_timeout(void **state)
{
    struct fix *f = *state;
    char *u = url(f, "/hang");
    struct rn_req *req = rn_req_new("GET", u);

    rn_req_timeout(req, 200);
    assert_int_equal(rn_http_run_sync(f->http, req), -ETIMEDOUT);
    rn_req_free(req);
    free(u);
}

static void test_body_limit(void **state)
{
    struct fix *f = *state;
    char *u = url(f, "/big");
    struct rn_req *req = rn_req_new("GET", u);

    rn_req_max_body(req, 1000);
    rn_req_retry(req, 3, 5, NULL);
    assert_int_equal(rn_http_run_sync(f->http, req), -E2BIG);
    assert_int_equal(rn_req_attempts(req), 1);
    rn_req_free(req);
    free(u);
}

static int ndone;

static void count_done(struct rn_req *req, int status, void *ctx)
{
    int *order = ctx;

    assert_int_equal(status, 0);
    assert_int_equal(rn_req_status(req), 200);
    *order = ++ndone;
}

static void test_concurrent_and_async(void **state)
{
    struct fix *f = *state;
    char *u = url(f, "/ok");
    struct rn_req *reqs[5];
    int order[5] = {0};

    ndone = 0;
    for (int i = 0; i < 5; i++) {
        reqs[i] = rn_req_new("GET", u);
        assert_int_equal(rn_http_start(f->http, reqs[i], count_done, &order[i]), 0);
        /* the callback never runs inside the start function */
        assert_int_equal(order[i], 0);
    }
    assert_int_equal(rn_http_start(f->http, reqs[0], count_done, &order[0]), -EBUSY);
    while (ndone < 5)
        uv_run(&f->loop, UV_RUN_ONCE);
    for (int i = 0; i < 5; i++) {
        assert_true(order[i] > 0);
        rn_req_free(reqs[i]);
    }
    free(u);
}

static void never_called(struct rn_req *req, int status, void *ctx)
{
    fail_msg("callback of a cancelled request ran");
}

static void test_cancel_and_free_running(void **state)
{
    struct fix *f = *state;
    char *u = url(f, "/hang");
    struct rn_req *a = rn_req_new("GET", u);
    struct rn_req *b = rn_req_new("GET", u);

    assert_int_equal(rn_http_start(f->http, a, never_called, NULL), 0);
    assert_int_equal(rn_http_start(f->http, b, never_called, NULL), 0);
    for (int i = 0; i < 5; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    rn_req_cancel(a);
    rn_req_free(a);
    /* b is still running: freeing the client stops it without a callback */
    rn_http_free(f->http);
    f->http = NULL;
    rn_req_free(b);
    free(u);
}

static void test_json_helpers(void **state)
{
    const char *text = "\xef\xbb\xbf{\"AgentId\":\"17\",\"UseV2Flow\":\"True\",\"n\":5,"
                       "\"p\":{\"$type\":\"System.Boolean\",\"$value\":false}}";
    json_t *j = rn_json_parse(text, strlen(text), NULL);
    struct gr_diag d = {0};

    assert_non_null(j);
    assert_int_equal(rn_json_int(j, "agentId", 0), 17);
    assert_int_equal(rn_json_int(j, "N", 0), 5);
    assert_int_equal(rn_json_int(j, "missing", -1), -1);
    assert_true(rn_json_bool(j, "useV2Flow", false));
    assert_false(rn_json_bool(j, "p", true));
    json_decref(j);
    assert_null(rn_json_parse("{bad", 4, &d));
    assert_int_equal(d.line, 1);
    assert_true(strstr(d.msg, "invalid JSON") != NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_5xx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_gives_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_retry_4xx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_and_async, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_free_running, setup, teardown),
        cmocka_unit_test(test_json_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
