/*
 * `ghrun doctor`: the sandbox's view of this host (sb_doctor), so an
 * operator can see which protections a job will get before registering.
 */
#include "cmd_doctor.h"

#include "sb.h"

#include <stdio.h>
#include <string.h>

int rn_cmd_doctor(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: ghrun doctor\n\nReport what this host supports for the step sandbox:\n"
               "namespaces, seccomp, cgroups (v2, hybrid, v1), the gr-sandbox helper,\n"
               "and which protections a job would run without.\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "ghrun doctor: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    return sb_doctor(stdout) < 0 ? 1 : 0;
}
