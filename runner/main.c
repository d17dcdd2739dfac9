/* ghrun: entry point. Only main() picks exit codes (STYLE.md section 4). */
#include "rn.h"

#include <signal.h>

int main(int argc, char **argv)
{
    /* A peer that closes a socket or pipe must give EPIPE, not kill the runner. */
    signal(SIGPIPE, SIG_IGN);
    return rn_cli_main(argc, argv);
}
