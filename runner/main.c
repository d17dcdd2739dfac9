/*
 * ghrun: the launcher (engine.h). It links libc alone, so that it costs well
 * under a millisecond, and execs `ghrun-listener` for `ghrun run` and
 * `ghrun-engine` for everything else, with the same arguments (the process
 * keeps its pid, so signals and exit codes are the program's own).
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *name = argc > 1 && !strcmp(argv[1], "run") ? RN_LISTENER_NAME : RN_ENGINE_NAME;
    char path[4096];
    int r;

    if (argc == 2 && !strcmp(argv[1], "--version")) {
        printf("ghrun %s\n", GHRUN_VERSION);
        return 0;
    }
    r = rn_sibling_path(name, path, sizeof(path));
    if (r == 0) {
        execv(path, argv);
        r = -errno;
    }
    fprintf(stderr, "ghrun: cannot start %s next to this program: %s\n", name, strerror(-r));
    return 2;
}
