/*
 * Internal to runner/: HTTP client over libcurl's multi interface, driven by
 * the caller's libuv loop (STYLE.md section 8; curl docs/examples/multi-uv.c).
 *
 * One struct rn_http per loop holds the multi handle, one uv_timer_t for
 * curl's timeout and one uv_poll_t per socket. A request is a struct rn_req:
 * the caller builds it, starts it, and gets exactly one done callback later,
 * never from inside rn_http_start(). Requests run concurrently on the one
 * multi handle; nothing here uses threads.
 *
 * Retries: a request may be retried on transport errors and on 5xx (or
 * whatever its predicate says) with exponential backoff and jitter, on a uv
 * timer. The done callback sees only the final attempt.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "gr.h"

struct rn_http;
struct rn_req;

/*
 * Called once per started request, on the loop. status is 0 when an HTTP
 * response arrived (look at rn_req_status(), which may be any code), or
 * negative: -ETIMEDOUT, GR_ECURL (connection, TLS, DNS), -E2BIG (body over
 * its limit). The callback may free the request.
 */
typedef void rn_req_done_fn(struct rn_req *req, int status, void *ctx);

/* Decides whether a finished attempt is retried (status as in rn_req_done_fn). */
typedef bool rn_req_retry_fn(const struct rn_req *req, int status);

struct rn_http *rn_http_new(uv_loop_t *loop);
/*
 * Stop every request still running (their callbacks never run), close the
 * handles and free h once the loop has processed the close callbacks. The
 * requests themselves stay owned by their callers.
 */
void rn_http_free(struct rn_http *h);
/* CA bundle used to verify peers (tests); NULL means the system default. Copied. */
void rn_http_set_cafile(struct rn_http *h, const char *path);
/* The CA bundle set above, or NULL (the system default): for other connections (websocket). */
const char *rn_http_cafile(const struct rn_http *h);
uv_loop_t *rn_http_loop(struct rn_http *h);

/* A new request; method "GET", "POST", ... Never NULL. */
struct rn_req *rn_req_new(const char *method, const char *url);
/* Free a request that is not running (cancel it first); accepts NULL. */
void rn_req_free(struct rn_req *req);
/* Add a header line "Name: value" (copied). */
void rn_req_header(struct rn_req *req, const char *fmt, ...) GR_PRINTF(2, 3);
/* Request body (copied) and its content type. */
void rn_req_body(struct rn_req *req, const char *ctype, const void *data, size_t len);
/* JSON request body; the value is borrowed and serialised now. */
void rn_req_json(struct rn_req *req, const json_t *body);
/* Whole-transfer timeout of one attempt (default 100 s). */
void rn_req_timeout(struct rn_req *req, unsigned ms);
/* Largest response body accepted (default 16 MiB). */
void rn_req_max_body(struct rn_req *req, size_t max);
/*
 * Follow up to 5 redirects (http and https only; default off). curl sends the
 * Authorization header only to the original host.
 */
void rn_req_follow(struct rn_req *req, bool on);
/*
 * Up to `attempts` tries in total (default 1), waiting base_ms * 2^n plus up
 * to 50% random jitter (capped at 60 s) between them; pred NULL means
 * rn_req_retry_default.
 */
void rn_req_retry(struct rn_req *req, unsigned attempts, unsigned base_ms, rn_req_retry_fn *pred);
/* Network errors, timeouts and 5xx; never 4xx. */
bool rn_req_retry_default(const struct rn_req *req, int status);

/*
 * Start the request; returns 0 (the callback will run later) or a negative
 * error (the callback will not run). A request is started at most once at a
 * time.
 */
int rn_http_start(struct rn_http *h, struct rn_req *req, rn_req_done_fn *cb,
                  void *ctx) GR_MUST_CHECK;
/* Stop a running request or its pending retry; its callback will not run. Accepts NULL. */
void rn_req_cancel(struct rn_req *req);
/*
 * Start the request and run the loop until it is done (for the CLI before the
 * long-running loop exists; never from a loop callback). Returns the status
 * that the done callback would have seen.
 */
int rn_http_run_sync(struct rn_http *h, struct rn_req *req) GR_MUST_CHECK;

/* Results, valid after the done callback until the request is freed or restarted. */
long rn_req_status(const struct rn_req *req);
const struct gr_buf *rn_req_resp(const struct rn_req *req);
const char *rn_req_url(const struct rn_req *req);
const char *rn_req_method(const struct rn_req *req);
unsigned rn_req_attempts(const struct rn_req *req);
/* curl's error text for the last failed attempt, or "". */
const char *rn_req_errtext(const struct rn_req *req);
bool rn_req_ok(const struct rn_req *req); /* status 2xx */

/* Percent-encode s for a query value or path segment (RFC 3986 unreserved kept). Owned. */
char *rn_url_escape(const char *s);

/* ---- JSON helpers (case-insensitive reading, see runner-protocol.md section 1) ---- */

/* Parse the response body (a UTF-8 BOM is skipped); NULL on error with diag set. */
json_t *rn_json_parse(const char *text, size_t len, struct gr_diag *reterr);
/* Object member by case-insensitive key; borrowed; NULL when absent or obj not an object. */
json_t *rn_json_iget(const json_t *obj, const char *key);
/* String member (borrowed) or NULL. */
const char *rn_json_str(const json_t *obj, const char *key);
/* Integer member, also accepting "12"; def when absent or unparsable. */
long long rn_json_int(const json_t *obj, const char *key, long long def);
/* Boolean member, also accepting "True"/"false" strings; def when absent. */
bool rn_json_bool(const json_t *obj, const char *key, bool def);
/* Unwrap PropertiesCollection values {"$type":..,"$value":v}; returns v or the value itself. */
json_t *rn_json_unwrap(json_t *v);
/* Serialise compactly; owned string. */
char *rn_json_dump(const json_t *v);
