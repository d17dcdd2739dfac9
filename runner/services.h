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

struct rn_httpd_route;

/*
 * The cache service's routes with their ctx set to s, copied into out (at most max; returns
 * how many), so that another server can answer them too: ACTIONS_RESULTS_URL must name one
 * origin for both the CacheService and the ArtifactService Twirp APIs. Valid while s is.
 */
size_t rn_cache_service_routes(struct rn_cache_service *s, struct rn_httpd_route *out, size_t max);

/* ---- artifacts (services_artifact.c) ---------------------------------------------------- */

struct rn_artifact_service;

#define RN_ARTIFACT_MAX_EXTRA_ROUTES 16

struct rn_artifact_service_opts {
    const char *dir;            /* the run's store (ex_artifact_open) */
    const char *token;          /* the job's ACTIONS_RUNTIME_TOKEN; other requests get 401 */
    const char *run_backend_id; /* the run's id in the token's scp claim */
    uint64_t max_size;          /* largest artifact in bytes; 0: 10 GiB */
    int url_ttl_s;              /* lifetime of signed URLs; 0: 6 h uploads, 1 h downloads */
    const char *host;           /* NULL: 127.0.0.1 */
    int port;                   /* 0: ephemeral */
    /* more routes served on the same port (rn_cache_service_routes); copied */
    const struct rn_httpd_route *extra;
    size_t nextra;
};

/*
 * A runtime token in the shape @actions/artifact 2.x decodes (toolkit packages/artifact/src/
 * internal/shared/util.ts getBackendIdsFromToken): a JWT whose "scp" claim holds
 * "Actions.Results:<run_backend_id>:<job_backend_id>", signed with a random key nobody keeps.
 * Owned.
 */
char *rn_artifact_token_new(const char *run_backend_id, const char *job_backend_id);

/*
 * Serve the Twirp ArtifactService (github.actions.results.api.v1: CreateArtifact,
 * FinalizeArtifact, ListArtifacts, GetSignedArtifactURL, DeleteArtifact) and the Azure blob
 * requests @actions/artifact 2.x makes on the signed URLs it hands out (Put Block, Put Block
 * List, Put Blob; GET to download). Point ACTIONS_RESULTS_URL at rn_artifact_service_url().
 * Strings in opts are copied. Close with rn_artifact_service_close().
 */
int rn_artifact_service_start(uv_loop_t *loop, const struct rn_artifact_service_opts *opts,
                              struct rn_artifact_service **ret,
                              struct gr_diag *reterr) GR_MUST_CHECK;
const char *rn_artifact_service_url(const struct rn_artifact_service *s); /* "http://h:p/" */
int rn_artifact_service_port(const struct rn_artifact_service *s);

/* Stop serving; unfinished uploads are discarded. cb(arg) runs once everything is freed. */
void rn_artifact_service_close(struct rn_artifact_service *s, void (*cb)(void *arg), void *arg);
