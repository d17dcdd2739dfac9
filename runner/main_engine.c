/*
 * ghrun-engine: every subcommand, and the job workers the listener starts
 * (engine.h). Only main() picks exit codes (STYLE.md section 4).
 */
#include "rn.h"
#include "worker.h"

#include <signal.h>
#include <string.h>

int main(int argc, char **argv)
{
    /* A peer that closes a socket or pipe must give EPIPE, not kill the runner. */
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && !strcmp(argv[1], RN_WORKER_CMD))
        return rn_worker_cmd(argc - 1, argv + 1);
    return rn_cli_main(argc, argv);
}
