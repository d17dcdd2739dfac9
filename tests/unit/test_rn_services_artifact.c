/*
 * Unit tests of runner/services_artifact.c: the Twirp ArtifactService and its signed blob URLs.
 * The service runs on a private loop in the main thread; a client thread speaks raw HTTP/1.1
 * (Connection: close) over blocking sockets, then wakes the loop to close the service.
 */
#include "services.h"
#include "ex/artifact.h"

#include <arpa/inet.h>
#include <dirent.h>
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

#define TOKEN "job-token"
#define TWIRP "/twirp/github.actions.results.api.v1.ArtifactService/"

struct world {
    uv_loop_t loop;
    uv_async_t done;
    struct rn_artifact_service *svc;
    struct rn_artifact_service_opts opts;
    char dir[64];
    int port;
    void (*client)(struct world *w);
    int failures;
};

#define CHECK(w, cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "check failed at line %d: %s\n", __LINE__, #cond);                     \
            (w)->failures++;                                                                       \
        }                                                                                          \
    } while (0)

struct resp {
    int status;
    char *body; /* owned, NUL-terminated */
    size_t len;
};

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

/* One request; target is path[?query]; auth NULL: no Authorization header. */
static struct resp http(struct world *w, const char *method, const char *target, const char *auth,
                        const char *body, size_t blen)
{
    char *head = gr_xasprintf("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s%s%s"
                              "Content-Length: %zu\r\n\r\n",
                              method, target, auth ? "Authorization: Bearer " : "",
                              auth ? auth : "", auth ? "\r\n" : "", blen);
    struct gr_buf b = GR_BUF_INIT(0);
    struct resp r = {0};
    int fd = connect_to(w->port);
    char chunk[65536], *sep;

    if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0 ||
        (blen && send(fd, body, blen, MSG_NOSIGNAL) < 0))
        abort();
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0)
            break;
        if (gr_buf_add(&b, chunk, (size_t)n) < 0)
            abort();
    }
    close(fd);
    free(head);
    sscanf(b.ptr, "HTTP/1.1 %d", &r.status);
    sep = strstr(b.ptr, "\r\n\r\n");
    r.body = gr_xstrdup(sep ? sep + 4 : "");
    r.len = sep ? b.len - (size_t)(sep + 4 - b.ptr) : 0;
    gr_buf_release(&b);
    return r;
}

static struct resp twirp(struct world *w, const char *method, const char *auth, const char *json)
{
    char *target = gr_xasprintf(TWIRP "%s", method);
    struct resp r = http(w, "POST", target, auth, json, strlen(json));

    free(target);
    return r;
}

/* The path and query of the "signed_*url" in a Twirp answer (owned), or NULL. */
static char *url_target(const char *answer)
{
    const char *q = strstr(answer, "url\":\"http://");

    if (!q)
        return NULL;
    q = strchr(q + strlen("url\":\"http://"), '/');
    return gr_xstrndup(q, strcspn(q, "\""));
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

    rn_artifact_service_close(w->svc, NULL, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static bool dir_empty(const char *dir, const char *sub)
{
    char *path = gr_path_join(dir, sub);
    DIR *d = opendir(path);
    struct dirent *de;
    int n = 0;

    while (d && (de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (d)
        closedir(d);
    free(path);
    return d && n == 0;
}

static void run_world(void (*client)(struct world *w), uint64_t max_size, int ttl)
{
    struct world w = {.client = client};
    struct gr_diag d = {0};
    pthread_t th;

    snprintf(w.dir, sizeof(w.dir), "/tmp/rn-artifact-test-XXXXXX");
    assert_non_null(mkdtemp(w.dir));
    w.opts = (struct rn_artifact_service_opts){.dir = w.dir,
                                               .token = TOKEN,
                                               .run_backend_id = "run1",
                                               .max_size = max_size,
                                               .url_ttl_s = ttl};
    assert_int_equal(uv_loop_init(&w.loop), 0);
    assert_int_equal(rn_artifact_service_start(&w.loop, &w.opts, &w.svc, &d), 0);
    w.port = rn_artifact_service_port(w.svc);
    assert_true(w.port > 0);
    uv_async_init(&w.loop, &w.done, on_done);
    w.done.data = &w;
    assert_int_equal(pthread_create(&th, NULL, client_main, &w), 0);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    assert_int_equal(uv_loop_close(&w.loop), 0);
    /* Unfinished uploads are gone once the service has closed. */
    CHECK(&w, dir_empty(w.dir, ".tmp"));
    assert_int_equal(gr_rm_rf(w.dir), 0);
    assert_int_equal(w.failures, 0);
}

static void free_resp(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* ---- scenarios ------------------------------------------------------------ */

static void c_round_trip(struct world *w)
{
    const char *xml = "<?xml version=\"1.0\"?><BlockList><Latest>QQ==</Latest>"
                      "<Latest>Qg==</Latest></BlockList>";
    struct resp r = twirp(w, "CreateArtifact", TOKEN,
                          "{\"workflow_run_backend_id\":\"run1\",\"name\":\"pkg\",\"version\":4}");
    char *up = url_target(r.body), *t;

    CHECK(w, r.status == 200 && up && strstr(r.body, "\"ok\":true"));
    free_resp(&r);
    if (!up)
        return;
    /* Blocks out of order; the block list decides: "hello " then "world". */
    t = gr_xasprintf("%s&comp=block&blockid=Qg%%3D%%3D", up);
    r = http(w, "PUT", t, NULL, "world", 5);
    CHECK(w, r.status == 201);
    free_resp(&r);
    free(t);
    t = gr_xasprintf("%s&comp=block&blockid=QQ%%3D%%3D", up);
    r = http(w, "PUT", t, NULL, "hello ", 6);
    CHECK(w, r.status == 201);
    free_resp(&r);
    free(t);
    t = gr_xasprintf("%s&comp=blocklist", up);
    r = http(w, "PUT", t, NULL, xml, strlen(xml));
    CHECK(w, r.status == 201);
    free_resp(&r);
    free(t);
    /* A wrong digest is refused, and the upload is dropped. */
    r = twirp(w, "FinalizeArtifact", TOKEN,
              "{\"name\":\"pkg\",\"size\":\"11\",\"hash\":\"sha256:00\"}");
    CHECK(w, r.status == 400);
    free_resp(&r);
    r = twirp(w, "ListArtifacts", TOKEN, "{}");
    CHECK(w, r.status == 200 && !strstr(r.body, "pkg"));
    free_resp(&r);
    free(up);

    /* Again as one Put Blob, finalized with the right size and digest. */
    r = twirp(w, "CreateArtifact", TOKEN, "{\"name\":\"pkg\",\"version\":4}");
    up = url_target(r.body);
    free_resp(&r);
    CHECK(w, up != NULL);
    if (!up)
        return;
    r = http(w, "PUT", up, NULL, "hello world", 11);
    CHECK(w, r.status == 201);
    free_resp(&r);
    free(up);
    r = twirp(w, "FinalizeArtifact", TOKEN,
              "{\"name\":\"pkg\",\"size\":\"11\",\"hash\":\"sha256:"
              "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9\"}");
    CHECK(w, r.status == 200 && strstr(r.body, "\"artifact_id\":\"1\""));
    free_resp(&r);
    r = twirp(w, "ListArtifacts", TOKEN, "{\"name_filter\":\"pkg\"}");
    CHECK(w, r.status == 200 && strstr(r.body, "\"name\":\"pkg\"") &&
                 strstr(r.body, "\"size\":\"11\"") && strstr(r.body, "\"database_id\":\"1\"") &&
                 strstr(r.body, "\"digest\":\"sha256:b94d27b9"));
    free_resp(&r);
    r = twirp(w, "ListArtifacts", TOKEN, "{\"id_filter\":\"7\"}");
    CHECK(w, r.status == 200 && !strstr(r.body, "pkg"));
    free_resp(&r);
    r = twirp(w, "CreateArtifact", TOKEN, "{\"name\":\"pkg\",\"version\":4}");
    CHECK(w, r.status == 409);
    free_resp(&r);

    r = twirp(w, "GetSignedArtifactURL", TOKEN, "{\"name\":\"pkg\"}");
    up = url_target(r.body);
    free_resp(&r);
    CHECK(w, up != NULL);
    if (up) {
        r = http(w, "GET", up, NULL, NULL, 0);
        CHECK(w, r.status == 200 && r.len == 11 && !memcmp(r.body, "hello world", 11));
        free_resp(&r);
        t = gr_xstrdup(up);
        t[strlen(t) - 1] = t[strlen(t) - 1] == '0' ? '1' : '0'; /* one wrong digit */
        r = http(w, "GET", t, NULL, NULL, 0);
        CHECK(w, r.status == 403);
        free_resp(&r);
        free(t);
        free(up);
    }
    r = twirp(w, "DeleteArtifact", TOKEN, "{\"name\":\"pkg\"}");
    CHECK(w, r.status == 200 && strstr(r.body, "\"artifact_id\":\"1\""));
    free_resp(&r);
    r = twirp(w, "GetSignedArtifactURL", TOKEN, "{\"name\":\"pkg\"}");
    CHECK(w, r.status == 404);
    free_resp(&r);
}

/* Blocks staged in list order (the usual case: the staging file becomes the zip); a block
 * after the commit is refused. */
static void c_in_order(struct world *w)
{
    static const char *parts[][2] = {{"QQ%3D%3D", "hello "}, {"Qg%3D%3D", "world"}};
    const char *xml = "<BlockList><Latest>QQ==</Latest><Latest>Qg==</Latest></BlockList>";
    struct resp r = twirp(w, "CreateArtifact", TOKEN, "{\"name\":\"seq\"}");
    char *up = url_target(r.body), *t;

    free_resp(&r);
    CHECK(w, up != NULL);
    if (!up)
        return;
    for (size_t i = 0; i < GR_ARRAY_SIZE(parts); i++) {
        t = gr_xasprintf("%s&comp=block&blockid=%s", up, parts[i][0]);
        r = http(w, "PUT", t, NULL, parts[i][1], strlen(parts[i][1]));
        CHECK(w, r.status == 201);
        free_resp(&r);
        free(t);
    }
    t = gr_xasprintf("%s&comp=blocklist", up);
    r = http(w, "PUT", t, NULL, xml, strlen(xml));
    CHECK(w, r.status == 201);
    free_resp(&r);
    free(t);
    t = gr_xasprintf("%s&comp=block&blockid=Qw%%3D%%3D", up);
    r = http(w, "PUT", t, NULL, "late", 4);
    CHECK(w, r.status == 409);
    free_resp(&r);
    free(t);
    r = twirp(w, "FinalizeArtifact", TOKEN, "{\"name\":\"seq\",\"size\":\"11\"}");
    CHECK(w, r.status == 200);
    free_resp(&r);
    free(up);
    r = twirp(w, "GetSignedArtifactURL", TOKEN, "{\"name\":\"seq\"}");
    up = url_target(r.body);
    free_resp(&r);
    if (up) {
        r = http(w, "GET", up, NULL, NULL, 0);
        CHECK(w, r.status == 200 && r.len == 11 && !memcmp(r.body, "hello world", 11));
        free_resp(&r);
    }
    CHECK(w, up != NULL);
    free(up);
}

static void test_in_order(void **state)
{
    (void)state;
    run_world(c_in_order, 0, 0);
}

static void test_round_trip(void **state)
{
    (void)state;
    run_world(c_round_trip, 0, 0);
}

static void c_refusals(struct world *w)
{
    struct resp r;
    char *up;

    r = twirp(w, "CreateArtifact", NULL, "{\"name\":\"a\"}");
    CHECK(w, r.status == 401);
    free_resp(&r);
    r = twirp(w, "CreateArtifact", "job-tokeN", "{\"name\":\"a\"}");
    CHECK(w, r.status == 401);
    free_resp(&r);
    r = twirp(w, "CreateArtifact", TOKEN, "{\"name\":\"../a\"}");
    CHECK(w, r.status == 400 && strstr(r.body, "invalid_argument"));
    free_resp(&r);
    r = twirp(w, "CreateArtifact", TOKEN, "{\"name\":");
    CHECK(w, r.status == 400 && strstr(r.body, "malformed"));
    free_resp(&r);
    r = twirp(w, "ListArtifacts", TOKEN, "{\"workflow_run_backend_id\":\"run2\"}");
    CHECK(w, r.status == 404);
    free_resp(&r);
    r = twirp(w, "FinalizeArtifact", TOKEN, "{\"name\":\"never\",\"size\":\"1\"}");
    CHECK(w, r.status == 404);
    free_resp(&r);
    r = twirp(w, "Nope", TOKEN, "{}");
    CHECK(w, r.status == 404 && strstr(r.body, "bad_route"));
    free_resp(&r);
    /* The store's cap (64 bytes here) is enforced on staged bytes. */
    r = twirp(w, "CreateArtifact", TOKEN, "{\"name\":\"big\"}");
    up = url_target(r.body);
    free_resp(&r);
    CHECK(w, up != NULL);
    if (up) {
        char blob[100];
        memset(blob, 'x', sizeof(blob));
        r = http(w, "PUT", up, NULL, blob, sizeof(blob));
        CHECK(w, r.status == 413);
        free_resp(&r);
        r = http(w, "PUT", up, NULL, blob, 10); /* left unfinished: dropped at close */
        CHECK(w, r.status == 201);
        free_resp(&r);
        free(up);
    }
}

static void test_refusals(void **state)
{
    (void)state;
    run_world(c_refusals, 64, 0);
}

static void c_expired(struct world *w)
{
    struct resp r = twirp(w, "CreateArtifact", TOKEN, "{\"name\":\"late\"}");
    char *up = url_target(r.body);

    CHECK(w, r.status == 200 && up);
    free_resp(&r);
    if (up) {
        r = http(w, "PUT", up, NULL, "data", 4);
        CHECK(w, r.status == 403 && strstr(r.body, "expired"));
        free_resp(&r);
        free(up);
    }
}

static void test_expired_url(void **state)
{
    (void)state;
    run_world(c_expired, 0, -10); /* URLs that expired ten seconds before they were made */
}

/* base64url without padding, decoded (owned). */
static char *b64url_decode(const char *s, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = gr_xcalloc(len + 1, 1);
    uint32_t acc = 0;
    size_t o = 0;
    int bits = 0;

    for (size_t i = 0; i < len; i++) {
        const char *p = strchr(tbl, s[i]);
        assert_non_null(p);
        acc = acc << 6 | (uint32_t)(p - tbl);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)(acc >> bits & 0xff);
        }
    }
    return out;
}

static void test_token_shape(void **state)
{
    char *tok = rn_artifact_token_new("run-7", "job-9"), *dot1, *dot2, *claims;

    (void)state;
    dot1 = strchr(tok, '.');
    assert_non_null(dot1);
    dot2 = strchr(dot1 + 1, '.');
    assert_non_null(dot2);
    assert_null(strchr(dot2 + 1, '.'));
    assert_null(strpbrk(tok, "+/="));
    claims = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    /* What the toolkit's getBackendIdsFromToken looks for in the scp claim. */
    assert_non_null(strstr(claims, "\"scp\":\""));
    assert_non_null(strstr(claims, " Actions.Results:run-7:job-9\""));
    free(claims);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_shape), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_in_order),    cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_expired_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
