/* Internal to runner/: the `ghrun run` listener (see listener.c). */
#pragma once

#include <stdbool.h>

struct rn_listener_opts {
    const char *root;         /* runner root holding .runner and friends */
    const char *version;      /* runner version reported to the service */
    bool once;                /* take one job, then exit (also when the runner is ephemeral) */
    bool prestart;            /* keep an idle worker started ahead of the next job */
    bool *ret_ephemeral_done; /* set when an ephemeral runner finished its job; may be NULL */
};

/*
 * Run until stopped; returns the exit code (0 ok, 1 fatal error). Owns its loop.
 * SIGINT/SIGTERM stop polling and delete the session; a running job is cancelled at once (as
 * the official runner does), or, with GHRUN_SHUTDOWN_GRACE_MS set, may finish within that many
 * milliseconds first (a second signal cancels it at once; actions-runner-controller's
 * graceful-stop.sh gives 15 s the same way around the official runner).
 */
int rn_listener_run(const struct rn_listener_opts *opts);
