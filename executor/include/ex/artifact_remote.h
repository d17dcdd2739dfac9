/*
 * ex_artifact_remote: an artifact service outside the run. When ex_run_opts.artifact_remote is
 * set (jobs from GitHub), the native actions/upload-artifact and actions/download-artifact
 * (steps/artifact_actions.c) zip and unzip as in replay but keep the archive there instead of
 * in the local store (ex/artifact.h). The runner implements it for GitHub's results service
 * (runner/artifact_client.c); the executor never speaks HTTP itself, it hands each call the
 * endpoint and token of the step's environment (ACTIONS_RESULTS_URL, ACTIONS_RUNTIME_TOKEN).
 *
 * Threads: every operation blocks (network, file I/O) and is called on libuv's thread pool,
 * possibly for several steps at once: the table, ctx and the functions must allow that.
 * Errors: a negative code (GR_EHTTP, GR_ENOTFOUND, -EEXIST, -errno, ...) and a one-line reason
 * in reterr, which never contains the token or a signed URL's query.
 */
#pragma once

#include <stddef.h>

#include "gr.h"
#include "ex/artifact.h"

/* One step's view of the service. Strings are borrowed for the duration of the call. */
struct ex_artifact_call {
    const char *url;   /* ACTIONS_RESULTS_URL */
    const char *token; /* ACTIONS_RUNTIME_TOKEN (a JWT whose scp names the run and the job) */
    /* Progress and retry lines for the step's log (may be NULL); called on the caller's thread. */
    void (*log)(void *arg, const char *line);
    void *log_arg;
};

struct ex_artifact_remote {
    void *ctx;
    /*
     * Upload the finished zip at path as the artifact name of the run; retention_days <= 0:
     * the repository's default. -EEXIST when the run has an artifact of that name already.
     * *ret (may be NULL) receives id, name, size and sha256.
     */
    int (*upload)(void *ctx, const struct ex_artifact_call *c, const char *name, const char *path,
                  int retention_days, struct ex_artifact *ret, struct gr_diag *reterr);
    /*
     * The run's artifacts, the newest of each name, by id; name non-NULL: only that name.
     * *ret (may be NULL when *ret_n is 0) is freed with ex_artifacts_free.
     */
    int (*list)(void *ctx, const struct ex_artifact_call *c, const char *name,
                struct ex_artifact **ret, size_t *ret_n, struct gr_diag *reterr);
    /*
     * Download the artifact with this id into the file path (created or truncated). *ret_sha256
     * (EX_ARTIFACT_HEX_LEN bytes) receives the hex SHA-256 of what arrived.
     */
    int (*download)(void *ctx, const struct ex_artifact_call *c, uint64_t id, const char *path,
                    char *ret_sha256, struct gr_diag *reterr);
    /* Delete the artifact name of the run: 0, or GR_ENOTFOUND when there is none. */
    int (*remove)(void *ctx, const struct ex_artifact_call *c, const char *name,
                  struct gr_diag *reterr);
};
