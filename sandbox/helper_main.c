/* The gr-sandbox executable (sandbox/helper.c). */
#include "internal.h"

#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int rc = sb__helper_main(argc, argv);

    /*
     * _exit: no atexit work after the step ended. Under LeakSanitizer that
     * work would fork a tracer, which the step's pid namespace, now without
     * its init, refuses; the helper's few allocations live until exit anyway.
     */
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
}
