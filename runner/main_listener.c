/*
 * ghrun-listener: `ghrun run` (engine.h), linked with only what the listener
 * needs, so that the long-lived listener loads a fraction of the libraries;
 * anything else is handed to ghrun-engine with the same arguments. Only
 * main() picks exit codes (STYLE.md section 4).
 */
#include "cmd_runner.h"
#include "engine.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char engine[4096];
    int r;

    /* A peer that closes a socket or pipe must give EPIPE, not kill the runner. */
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && !strcmp(argv[1], "run")) {
        /* one loop thread (and curl's short-lived resolver threads): one malloc arena */
        (void)mallopt(M_ARENA_MAX, 1);
        return rn_cmd_run(argc - 1, argv + 1);
    }
    if (argc == 2 && !strcmp(argv[1], "--version")) {
        printf("ghrun %s\n", GHRUN_VERSION);
        return 0;
    }
    r = rn_engine_path(engine, sizeof(engine));
    if (r == 0) {
        execv(engine, argv);
        r = -errno;
    }
    fprintf(stderr, "ghrun: cannot start %s next to this program: %s\n", RN_ENGINE_NAME,
            strerror(-r));
    return 2;
}
