/*
 * rn_httpd: a small, strict HTTP/1.1 server on a libuv loop for the embedded job services
 * (cache, artifacts). It listens on loopback only, parses requests itself (request line,
 * headers, Content-Length or chunked bodies), bounds every size, keeps connections alive,
 * and never blocks the loop: bodies are buffered in memory up to the route's limit and files
 * are sent with uv_fs reads.
 *
 * A request is handed to the first route whose method and path prefix match. The handler runs
 * on the loop; it must answer every request exactly once with one of the rn_http_respond*
 * functions, either before returning or later (for example from a uv_queue_work completion).
 * Until then the connection reads nothing more. The request and the strings it holds stay
 * valid until the response is given.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gr.h"

#define RN_HTTPD_HEADER_MAX (16 * 1024)
#define RN_HTTPD_MAX_HEADERS 64
#define RN_HTTPD_IDLE_MS 60000
#define RN_HTTPD_MAX_CONNS 256

struct json_t;
struct rn_httpd;
struct rn_httpd_conn;

struct rn_http_header {
    char *name; /* as sent */
    char *value;
};

struct rn_http_req {
    struct rn_httpd_conn *conn;
    char method[16];
    char *target;      /* request target as sent: path[?query] */
    char *path;        /* the path, percent-decoded */
    const char *query; /* after '?', not decoded ("" when none) */
    struct rn_http_header headers[RN_HTTPD_MAX_HEADERS];
    size_t nheaders;
    struct gr_buf body;
    void *ctx; /* the server's ctx */
};

typedef void (*rn_httpd_handler_fn)(struct rn_http_req *req, void *ctx);

struct rn_httpd_route {
    const char *method; /* "GET", "POST", ...; NULL for any */
    const char *prefix; /* the path starts with it */
    size_t max_body;    /* larger bodies are answered 413 */
    rn_httpd_handler_fn fn;
    void *ctx; /* passed to fn instead of the server's ctx when not NULL */
};

/*
 * Listen on host:port (port 0: an ephemeral port; see rn_httpd_port). routes is borrowed and
 * must outlive the server. On success *ret is the server; stop it with rn_httpd_close().
 */
int rn_httpd_start(uv_loop_t *loop, const char *host, int port, const struct rn_httpd_route *routes,
                   size_t nroutes, void *ctx, struct rn_httpd **ret) GR_MUST_CHECK;
int rn_httpd_port(const struct rn_httpd *s);

/*
 * Stop listening and close every connection. cb(arg) runs on the loop once all handles are
 * closed and the server is freed; requests still in a handler keep their connection until
 * answered. cb may be NULL.
 */
void rn_httpd_close(struct rn_httpd *s, void (*cb)(void *arg), void *arg);

/* Case-insensitive header lookup; NULL when absent. */
const char *rn_http_req_header(const struct rn_http_req *req, const char *name);

/*
 * Value of query parameter name, percent-decoded (owned string), or NULL when absent.
 */
char *rn_http_req_query(const struct rn_http_req *req, const char *name);

/* Answer with a body (copied). content_type may be NULL when len is 0. */
void rn_http_respond(struct rn_http_req *req, int status, const char *content_type,
                     const void *body, size_t len);
/* Answer with {"message": msg} as JSON (the shape GitHub's services use for errors). */
void rn_http_respond_error(struct rn_http_req *req, int status, const char *msg);
/* Answer with v (its reference is taken) as compact JSON. */
void rn_http_respond_json(struct rn_http_req *req, int status, struct json_t *v);
/* A Twirp error: {"code": code, "msg": msg}. */
void rn_http_respond_twirp_error(struct rn_http_req *req, int status, const char *code,
                                 const char *msg);
/* Whether the request carries "Authorization: Bearer <token>" (compared in constant time). */
bool rn_http_req_bearer_ok(const struct rn_http_req *req, const char *token);
/* Answer with the contents of a file, read with uv_fs (404 when it cannot be opened). */
void rn_http_respond_file(struct rn_http_req *req, int status, const char *content_type,
                          const char *path);

/* The reason phrase of a status code. */
const char *rn_http_reason(int status);

/* Percent-decode src[0..len) into an owned string; NULL when malformed or decoding to NUL. */
char *rn_http_unescape(const char *src, size_t len);
