/* Internal to runner/: the `ghrun run` listener (see listener.c). */
#pragma once

#include <stdbool.h>

struct rn_listener_opts {
    const char *root;         /* runner root holding .runner and friends */
    const char *version;      /* runner version reported to the service */
    bool once;                /* take one job, then exit (also when the runner is ephemeral) */
    bool *ret_ephemeral_done; /* set when an ephemeral runner finished its job; may be NULL */
};

/* Run until stopped; returns the exit code (0 ok, 1 fatal error). Owns its loop. */
int rn_listener_run(const struct rn_listener_opts *opts);
