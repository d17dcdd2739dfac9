/*
 * Internal to runner/: GitHub's self-hosted runner protocol (see the shared
 * runner-protocol.md; R = actions/runner, G = ChristopherHX/github-act-runner).
 *
 *   jwt.c          base64, the OAuth client assertion (RS256 / PS256)
 *   credentials.c  the runner's RSA key: generate, .credentials_rsaparams, OAEP, AES
 *   config.c       the runner root: .runner, .credentials, URLs, JIT blobs
 *   protocol.c     registration and removal (runner-registration, pools, agents)
 *   listener.c     `run`: OAuth token, session, long-poll, messages, jobs
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "gr.h"

struct evp_pkey_st;
struct rn_http;

#define RN_RUNNER_VERSION_DEFAULT "2.336.0"

/* ---- jwt.c ---- */

/* Base64 of data (standard alphabet with padding, or base64url without). Owned. */
char *rn_b64_encode(const void *data, size_t len, bool url);
/* Decode standard or url alphabet, padding optional; -EINVAL on bad input. */
int rn_b64_decode(const char *s, size_t len, unsigned char **ret, size_t *ret_len) GR_MUST_CHECK;
/*
 * The client assertion the runner exchanges for an access token (R
 * VssOAuthJwtBearerAssertion): iss = sub = client_id, aud = the
 * authorization URL, a random jti, nbf = now, exp = now + 5 min. pss picks
 * PS256 (requireFipsCryptography) over RS256. Owned string in *ret.
 */
int rn_jwt_assertion(struct evp_pkey_st *key, bool pss, const char *client_id, const char *aud,
                     long long now, char **ret) GR_MUST_CHECK;
/* A random lowercase GUID ("8-4-4-4-12") into out (>= 37 bytes). */
void rn_guid(char *out);

/* ---- credentials.c ---- */

int rn_key_generate(struct evp_pkey_st **ret) GR_MUST_CHECK;
void rn_key_free(struct evp_pkey_st *key);
/* .credentials_rsaparams JSON (d, dp, dq, exponent, inverseQ, modulus, p, q). Owned. */
int rn_key_to_rsaparams(struct evp_pkey_st *key, char **ret) GR_MUST_CHECK;
int rn_key_from_rsaparams(const char *text, size_t len, struct evp_pkey_st **ret,
                          struct gr_diag *reterr) GR_MUST_CHECK;
/* Public key as unsigned big-endian base64 (no leading zero bytes). Owned strings. */
int rn_key_public(struct evp_pkey_st *key, char **ret_modulus, char **ret_exponent) GR_MUST_CHECK;
/* RSA-OAEP decrypt (SHA-1 unless sha256); owned result. */
int rn_key_oaep_decrypt(struct evp_pkey_st *key, bool sha256, const unsigned char *in, size_t len,
                        unsigned char **ret, size_t *ret_len) GR_MUST_CHECK;
/* AES-CBC (128/192/256 by key length) decrypt with PKCS#7 padding; owned result. */
int rn_aes_cbc_decrypt(const unsigned char *key, size_t keylen, const unsigned char *iv,
                       size_t ivlen, const unsigned char *in, size_t len, unsigned char **ret,
                       size_t *ret_len) GR_MUST_CHECK;

/* ---- config.c ---- */

/* .runner (R ConfigurationStore RunnerSettings). */
struct rn_settings {
    long long agent_id;
    char *agent_name;
    long long pool_id;
    char *pool_name;
    char *server_url; /* tenant (pipelines) URL */
    char *github_url; /* --url */
    char *work_folder;
    char *server_url_v2; /* broker; with use_v2_flow */
    bool disable_update, ephemeral, use_v2_flow, use_runner_admin_flow;
};

/* .credentials (R CredentialData, scheme OAuth). */
struct rn_creds {
    char *client_id;
    char *authorization_url;
    bool require_fips; /* PS256 assertions; R defaults it to true */
};

void rn_settings_release(struct rn_settings *s);
void rn_creds_release(struct rn_creds *c);

/* Whether root holds a configured runner (.runner or .credentials present). */
bool rn_config_exists(const char *root);
/* Parse the three files; key may be NULL when not wanted. */
int rn_config_load(const char *root, struct rn_settings *ret_s, struct rn_creds *ret_c,
                   struct evp_pkey_st **ret_key, struct gr_diag *reterr) GR_MUST_CHECK;
/* Write the three files, each 0600 and atomically. */
int rn_config_save(const char *root, const struct rn_settings *s, const struct rn_creds *c,
                   struct evp_pkey_st *key) GR_MUST_CHECK;
/* Delete the three files; missing ones are fine. */
int rn_config_remove(const char *root) GR_MUST_CHECK;
/* Parse one file's text (exposed for tests and JIT blobs). */
int rn_settings_parse(const char *text, size_t len, struct rn_settings *ret,
                      struct gr_diag *reterr) GR_MUST_CHECK;
int rn_creds_parse(const char *text, size_t len, struct rn_creds *ret,
                   struct gr_diag *reterr) GR_MUST_CHECK;
/* Decode a JIT config blob and write its files into root (0600). */
int rn_jit_write(const char *root, const char *blob, struct gr_diag *reterr) GR_MUST_CHECK;

/*
 * GitHub API base for a --url (section 2 of runner-protocol.md): hosted
 * (github.com, *.ghe.com) → {scheme}://api.{host}; GHES → {url origin}/api/v3.
 * Keeps host:port. Also returns the scope path ("repos/o/r", "orgs/o",
 * "enterprises/e") when ret_scope is non-NULL. Only http(s) URLs are accepted;
 * plain http only for GHES.
 */
int rn_url_api(const char *github_url, char **ret_api, char **ret_scope,
               struct gr_diag *reterr) GR_MUST_CHECK;
/* Join a base URL that ends in '/' (added when missing) and a relative path. Owned. */
char *rn_url_join(const char *base, const char *rel);

/* ---- timing (defaults as the official runner; env overrides exist for tests) ---- */

struct rn_timing {
    unsigned retry_base_ms;      /* GHRUN_RETRY_BASE_MS, 1000: base of every backoff */
    unsigned renew_ms;           /* GHRUN_RENEW_MS, 60000: job lock renewal period */
    unsigned request_timeout_ms; /* GHRUN_REQUEST_TIMEOUT_MS, 100000: one attempt */
    unsigned poll_timeout_ms;    /* GHRUN_POLL_TIMEOUT_MS, 60000: one long-poll */
    unsigned session_retry_ms;   /* GHRUN_SESSION_RETRY_MS, 30000: after a 409 */
};

void rn_timing_load(struct rn_timing *t);

/* ---- protocol_job.c: one acquired job (renew, run, complete) ---- */

struct rn_job;
struct rn_idle_worker;
struct uv_loop_s;

/* Called once when the job is over (completed, or given up); free it then. */
typedef void rn_job_done_fn(struct rn_job *job, int status, void *ctx);

struct rn_job_env {
    struct uv_loop_s *loop;
    struct rn_http *http;
    const char *root; /* runner root; the job log goes to <root>/_diag */
    const char *work; /* work folder (absolute) */
    const char *runner_name;
    struct rn_timing timing;
    /*
     * Classic jobs (PipelineAgentJobRequest: the message body is the job; R
     * Runner.Listener/JobDispatcher.cs): the lock is renewed with PATCH
     * {server_url}_apis/distributedtask/pools/{pool_id}/jobrequests/{requestId}
     * and the runner's OAuth token, which runner_token(token_ctx) returns (NULL
     * while the listener has none); the job completes through the plan event
     * JobCompleted (plan version >= 8) or by finishing the job request.
     */
    bool classic;
    const char *server_url;
    long long pool_id;
    const char *(*runner_token)(void *token_ctx);
    void *token_ctx;
    const char *runner_version;  /* shown in "Set up job" */
    struct rn_idle_worker *idle; /* a worker started ahead, or NULL; rn_job_start takes it */
};

/*
 * Take an acquired job message (JSON text) and start it: the first lock
 * renewal, then the steps, then the completion. The callback never runs
 * inside this function.
 */
int rn_job_start(const struct rn_job_env *env, const char *msg, size_t len, rn_job_done_fn *cb,
                 void *ctx, struct rn_job **ret, struct gr_diag *reterr) GR_MUST_CHECK;
/* Cancel (JobCancellation, or runner shutdown when `shutdown`). */
void rn_job_cancel(struct rn_job *job, bool shutdown);
const char *rn_job_id(const struct rn_job *job);
/* The conclusion sent (or to be sent): "succeeded", "failed", "canceled". */
const char *rn_job_conclusion(const struct rn_job *job);
/* Free after the done callback; handles close asynchronously on the loop. */
void rn_job_free(struct rn_job *job);

/*
 * A worker started ahead of the next job (`ghrun-engine worker`: its libraries loaded and its
 * job-independent set-up done, blocked reading its job message). rn_job_start hands the
 * message to it when it is still alive and starts a new worker otherwise. gone runs (never
 * inside these functions) when it exits while idle; the handle is invalid after that.
 */
typedef void rn_idle_gone_fn(void *ctx);
int rn_idle_worker_start(struct uv_loop_s *loop, const char *root, const char *work,
                         rn_idle_gone_fn *gone, void *ctx,
                         struct rn_idle_worker **ret) GR_MUST_CHECK;
int rn_idle_worker_pid(const struct rn_idle_worker *w);
/* Stop it (EOF on its stdin, then SIGTERM); it frees itself once gone. NULL is fine. */
void rn_idle_worker_stop(struct rn_idle_worker *w);

/* ---- protocol.c ---- */

/* Base delay of retries (1 s; GHRUN_RETRY_BASE_MS overrides it for tests). */
unsigned rn_proto_retry_base_ms(void);

struct rn_register_opts {
    const char *url, *token, *name, *labels, *group, *work;
    const char *version; /* reported runner version */
    bool ephemeral, replace, disable_update, no_default_labels;
};

/* Register a new runner and fill s and c; key is the new key pair. */
int rn_proto_register(struct rn_http *http, const struct rn_register_opts *o,
                      struct evp_pkey_st *key, struct rn_settings *ret_s, struct rn_creds *ret_c,
                      struct gr_diag *reterr) GR_MUST_CHECK;
/* Delete the registration described by s using a removal token. */
int rn_proto_unregister(struct rn_http *http, const struct rn_settings *s, const char *token,
                        struct gr_diag *reterr) GR_MUST_CHECK;
