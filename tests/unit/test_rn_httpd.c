/*
 * Unit tests of runner/httpd.c: the strict HTTP/1.1 server. The server runs on a private loop
 * in the main thread; a client thread speaks raw HTTP over blocking sockets, then wakes the
 * loop (uv_async) to close the server.
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

struct late {
    uv_timer_t timer;
    struct rn_http_req *req;
};

struct world {
    uv_loop_t loop;
    uv_async_t done;
    struct rn_httpd *srv;
    int port;
    char *file_path;
    void (*client)(struct world *w);
    int failures;
};

static void h_echo(struct rn_http_req *req, void *ctx)
{
    char *x = rn_http_req_query(req, "x");
    const char *hdr = rn_http_req_header(req, "x-test");
    char *out =
        gr_xasprintf("%s %s x=%s h=%s len=%zu body=%.*s", req->method, req->path, x ? x : "-",
                     hdr ? hdr : "-", req->body.len, (int)req->body.len, req->body.ptr);
    (void)ctx;
    rn_http_respond(req, 200, "text/plain", out, strlen(out));
    free(out);
    free(x);
}

static void late_closed(uv_handle_t *h)
{
    free(gr_container_of((uv_timer_t *)h, struct late, timer));
}

static void late_fire(uv_timer_t *t)
{
    struct late *l = gr_container_of(t, struct late, timer);
    rn_http_respond(l->req, 200, "text/plain", "late", 4);
    uv_close((uv_handle_t *)t, late_closed);
}

static void h_late(struct rn_http_req *req, void *ctx)
{
    struct world *w = ctx;
    struct late *l = gr_xcalloc(1, sizeof(*l));
    l->req = req;
    uv_timer_init(&w->loop, &l->timer);
    uv_timer_start(&l->timer, late_fire, 30, 0);
}

static void h_file(struct rn_http_req *req, void *ctx)
{
    struct world *w = ctx;
    rn_http_respond_file(req, 200, "application/octet-stream",
                         strcmp(req->path, "/file/missing") ? w->file_path : "/nonexistent/x");
}

static const struct rn_httpd_route routes[] = {
    {.method = "POST", .prefix = "/small", .max_body = 10, .fn = h_echo},
    {.method = NULL, .prefix = "/echo", .max_body = 1 << 20, .fn = h_echo},
    {.method = "GET", .prefix = "/late", .max_body = 0, .fn = h_late},
    {.method = "GET", .prefix = "/file", .max_body = 0, .fn = h_file},
};

/* ---- client side (thread) ------------------------------------------------ */

static int connect_to(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 10};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        abort();
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* Send raw bytes, read until the server closes; returns everything read (owned). */
static char *exchange_len(int port, const char *req, size_t len, size_t *ret_len)
{
    int fd = connect_to(port);
    struct gr_buf b = GR_BUF_INIT(0);
    char chunk[65536];

    send_all(fd, req, len);
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0)
            break;
        if (gr_buf_add(&b, chunk, (size_t)n) < 0)
            abort();
    }
    close(fd);
    return gr_buf_detach(&b, ret_len);
}

static char *exchange(int port, const char *req)
{
    size_t len;
    return exchange_len(port, req, strlen(req), &len);
}

#define CHECK(w, cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "check failed at line %d: %s\n", __LINE__, #cond);                     \
            (w)->failures++;                                                                       \
        }                                                                                          \
    } while (0)

static bool has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void *client_main(void *arg)
{
    struct world *w = arg;
    w->client(w);
    uv_async_send(&w->done);
    return NULL;
}

static void on_done(uv_async_t *a)
{
    struct world *w = a->data;
    rn_httpd_close(w->srv, NULL, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static void run_world(void (*client)(struct world *w))
{
    struct world w = {.client = client};
    char path[] = "/tmp/rn-httpd-test-XXXXXX";
    pthread_t th;
    int fd;

    fd = mkstemp(path);
    assert_true(fd >= 0);
    for (int i = 0; i < 1000; i++) {
        char line[1100];
        memset(line, 'a' + i % 26, sizeof(line) - 1);
        line[sizeof(line) - 1] = '\n';
        assert_int_equal(write(fd, line, sizeof(line)), (ssize_t)sizeof(line));
    }
    close(fd);
    w.file_path = path;
    assert_int_equal(uv_loop_init(&w.loop), 0);
    assert_int_equal(
        rn_httpd_start(&w.loop, "127.0.0.1", 0, routes, GR_ARRAY_SIZE(routes), &w, &w.srv), 0);
    w.port = rn_httpd_port(w.srv);
    assert_true(w.port > 0);
    uv_async_init(&w.loop, &w.done, on_done);
    w.done.data = &w;
    assert_int_equal(pthread_create(&th, NULL, client_main, &w), 0);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    assert_int_equal(uv_loop_close(&w.loop), 0);
    unlink(path);
    assert_int_equal(w.failures, 0);
}

/* ---- scenarios ------------------------------------------------------------ */

static void c_basic(struct world *w)
{
    char *r = exchange(w->port, "GET /echo/a%20b?x=1%2C2&y=3 HTTP/1.1\r\nHost: h\r\n"
                                "X-Test:  spaced value \r\nConnection: close\r\n\r\n");
    CHECK(w, gr_startswith(r, "HTTP/1.1 200 OK\r\n"));
    CHECK(w, has(r, "Content-Length: "));
    CHECK(w, has(r, "Connection: close"));
    CHECK(w, has(r, "\r\n\r\nGET /echo/a b x=1,2 h=spaced value len=0 body="));
    free(r);
}

static void test_basic(void **state)
{
    run_world(c_basic);
}

static void c_keepalive(struct world *w)
{
    /* Two requests in one write; the second closes. Also a leading empty line. */
    char *r = exchange(w->port, "\r\nGET /echo/1 HTTP/1.1\r\nHost: h\r\n\r\n"
                                "POST /echo/2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                                "Connection: close\r\n\r\nhello");
    CHECK(w, count(r, "HTTP/1.1 200 OK") == 2);
    CHECK(w, has(r, "GET /echo/1 x=- h=- len=0 body="));
    CHECK(w, has(r, "Connection: keep-alive"));
    CHECK(w, has(r, "POST /echo/2 x=- h=- len=5 body=hello"));
    free(r);
}

static void test_keepalive_pipelined(void **state)
{
    run_world(c_keepalive);
}

static void c_chunked(struct world *w)
{
    char *r =
        exchange(w->port, "PATCH /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                          "Connection: close\r\n\r\n"
                          "5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nTrailer: x\r\n\r\n");
    CHECK(w, has(r, "HTTP/1.1 200 OK"));
    CHECK(w, has(r, "PATCH /echo x=- h=- len=12 body=hello world!"));
    free(r);
    /* Bad chunk framing. */
    r = exchange(w->port, "PATCH /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "5\r\nhelloXX");
    CHECK(w, gr_startswith(r, "HTTP/1.1 400 "));
    free(r);
    r = exchange(w->port, "PATCH /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "zz\r\n");
    CHECK(w, gr_startswith(r, "HTTP/1.1 400 "));
    free(r);
    /* Chunks that add up past the route's limit. */
    r = exchange(w->port, "POST /small HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n");
    CHECK(w, gr_startswith(r, "HTTP/1.1 413 "));
    free(r);
}

static void test_chunked(void **state)
{
    run_world(c_chunked);
}

static void expect_status(struct world *w, const char *req, const char *status, int line)
{
    char *r = exchange(w->port, req);
    if (!gr_startswith(r, status)) {
        fprintf(stderr, "line %d: got '%.40s', want '%s'\n", line, r, status);
        w->failures++;
    }
    if (!has(r, "Connection: close")) {
        fprintf(stderr, "line %d: an error must close the connection\n", line);
        w->failures++;
    }
    free(r);
}

#define EXPECT(w, req, st) expect_status((w), (req), "HTTP/1.1 " st " ", __LINE__)

static void c_errors(struct world *w)
{
    char *big;

    EXPECT(w, "GET /nothing HTTP/1.1\r\nHost: h\r\n\r\n", "404");
    EXPECT(w, "DELETE /late HTTP/1.1\r\nHost: h\r\n\r\n", "405");
    EXPECT(w, "GET /echo HTTP/2.0\r\nHost: h\r\n\r\n", "505");
    EXPECT(w, "GET /echo FTP/1.1\r\nHost: h\r\n\r\n", "400");
    EXPECT(w, "get /echo HTTP/1.1\r\nHost: h\r\n\r\n", "400");
    EXPECT(w, "GET echo HTTP/1.1\r\nHost: h\r\n\r\n", "400");
    EXPECT(w, "GET /echo HTTP/1.1\r\n\r\n", "400"); /* no Host */
    EXPECT(w, "GET /echo HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", "400");
    EXPECT(w, "GET /echo HTTP/1.1\r\nHost : h\r\n\r\n", "400");
    EXPECT(w, "GET /echo HTTP/1.1\nHost: h\n\n", "400");
    EXPECT(w, "GET /echo HTTP/1.1\r\nHost: h\rX\r\n\r\n", "400");
    EXPECT(w, "GET /e%zzcho HTTP/1.1\r\nHost: h\r\n\r\n", "400");
    EXPECT(w, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
           "400");
    EXPECT(w, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", "400");
    EXPECT(w,
           "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
           "Transfer-Encoding: chunked\r\n\r\nabc",
           "400");
    EXPECT(w, "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", "501");
    EXPECT(w, "POST /small HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n01234567890", "413");
    EXPECT(w, "GET /echo HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n", "417");
    big = gr_xmalloc(RN_HTTPD_HEADER_MAX + 200);
    memset(big, 'a', RN_HTTPD_HEADER_MAX + 199);
    memcpy(big, "GET /echo HTTP/1.1\r\nHost: h\r\nX-Big: ", 36);
    big[RN_HTTPD_HEADER_MAX + 199] = '\0';
    EXPECT(w, big, "431");
    free(big);
}

static void test_errors(void **state)
{
    run_world(c_errors);
}

static void c_async_and_file(struct world *w)
{
    size_t len = 0;
    char *r = exchange(w->port, "GET /late HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    CHECK(w, has(r, "HTTP/1.1 200 OK") && has(r, "\r\n\r\nlate"));
    free(r);
    const char *req = "GET /file HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    r = exchange_len(w->port, req, strlen(req), &len);
    CHECK(w, has(r, "Content-Length: 1100000\r\n"));
    {
        const char *body = strstr(r, "\r\n\r\n");
        CHECK(w, body && (size_t)(r + len - (body + 4)) == 1100000);
        CHECK(w, body && body[4] == 'a' && r[len - 2] == 'a' + 999 % 26);
    }
    free(r);
    r = exchange(w->port, "GET /file/missing HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    CHECK(w, gr_startswith(r, "HTTP/1.1 404 "));
    free(r);
    /* Expect: 100-continue gets an interim answer, then the real one. */
    r = exchange(w->port, "POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                          "Content-Length: 2\r\nConnection: close\r\n\r\nok");
    CHECK(w, gr_startswith(r, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"));
    CHECK(w, has(r, "len=2 body=ok"));
    free(r);
}

static void test_async_and_file(void **state)
{
    run_world(c_async_and_file);
}

/* The peer disconnects while its request is with a handler: no crash, no leak. */
static void c_peer_gone(struct world *w)
{
    int fd = connect_to(w->port);
    const char *req = "GET /late HTTP/1.1\r\nHost: h\r\n\r\n";
    send_all(fd, req, strlen(req));
    close(fd);
    usleep(100000);
    /* A byte-at-a-time request still parses. */
    fd = connect_to(w->port);
    req = "GET /echo?x=slow HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    for (const char *p = req; *p; p++) {
        send_all(fd, p, 1);
        usleep(200);
    }
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    CHECK(w, has(buf, "x=slow"));
    close(fd);
}

static void test_peer_gone(void **state)
{
    run_world(c_peer_gone);
}

/* Past RN_HTTPD_MAX_CONNS open connections, a new one is closed at once. */
static void c_conn_limit(struct world *w)
{
    int fds[RN_HTTPD_MAX_CONNS], extra;
    char buf[16];
    char *r;

    for (int i = 0; i < RN_HTTPD_MAX_CONNS; i++)
        fds[i] = connect_to(w->port);
    usleep(200000);
    extra = connect_to(w->port);
    CHECK(w, recv(extra, buf, sizeof(buf), 0) == 0);
    close(extra);
    for (int i = 0; i < RN_HTTPD_MAX_CONNS; i++)
        close(fds[i]);
    /* The slots are free once the server has seen those closes, which a loaded machine may
     * take a while to get to: until then a new connection is closed at once. Up to 30 s. */
    r = NULL;
    for (int i = 0; i < 300 && !(r && gr_startswith(r, "HTTP/1.1 200 OK")); i++) {
        free(r);
        usleep(i ? 100000 : 20000);
        r = exchange(w->port, "GET /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    }
    CHECK(w, r && gr_startswith(r, "HTTP/1.1 200 OK"));
    free(r);
}

static void test_conn_limit(void **state)
{
    run_world(c_conn_limit);
}

static void test_unescape(void **state)
{
    char *s = rn_http_unescape("a%2Fb%20c+d", 11);
    assert_string_equal(s, "a/b c+d");
    free(s);
    assert_null(rn_http_unescape("a%2", 3));
    assert_null(rn_http_unescape("a%00", 4));
    assert_null(rn_http_unescape("%g0", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_keepalive_pipelined),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_async_and_file),
        cmocka_unit_test(test_peer_gone),
        cmocka_unit_test(test_conn_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
