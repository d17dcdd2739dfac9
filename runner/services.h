/*
 * Embedded job services on loopback: the cache API that @actions/cache calls, served over the
 * executor's cache store (ex_cache). Internal to runner/.
 */
#pragma once

#include <stdint.h>
#include <uv.h>

#include "gr.h"

struct rn_cache_service;

struct rn_cache_service_opts {
    const char *dir;   /* the store directory */
    uint64_t max_size; /* store cap in bytes; 0: the default */
    const char *token; /* the job's ACTIONS_RUNTIME_TOKEN; requests without it get 401 */
    const char *scope; /* the repository ("owner/name"); NULL: "local" */
    const char *host;  /* NULL: 127.0.0.1 */
    int port;          /* 0: ephemeral */
};

/*
 * Start the cache API on the loop: v1 (`_apis/artifactcache/...`, as @actions/cache 3.x calls
 * it; point ACTIONS_CACHE_URL at rn_cache_service_url()) and v2 (the Twirp CacheService with
 * Azure block-blob uploads, as 4.x calls it with ACTIONS_CACHE_SERVICE_V2 set; point
 * ACTIONS_RESULTS_URL at the same URL). Ignores SIGPIPE process-wide (see rn_httpd_start). Strings
 * in opts are copied. On success *ret is the service; close it with rn_cache_service_close().
 */
int rn_cache_service_start(uv_loop_t *loop, const struct rn_cache_service_opts *opts,
                           struct rn_cache_service **ret, struct gr_diag *reterr) GR_MUST_CHECK;

/* The value for ACTIONS_CACHE_URL / ACTIONS_RESULTS_URL ("http://127.0.0.1:PORT/"); valid until
 * the service closes. */
const char *rn_cache_service_url(const struct rn_cache_service *s);
int rn_cache_service_port(const struct rn_cache_service *s);

/*
 * Stop serving. cb(arg) runs on the loop when every handle is closed, all thread-pool work has
 * finished and the service is freed. Uncommitted uploads are discarded. cb may be NULL.
 */
void rn_cache_service_close(struct rn_cache_service *s, void (*cb)(void *arg), void *arg);
