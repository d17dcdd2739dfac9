/* Where the other programs are (engine.h). libc only: the launcher links it alone. */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int rn_sibling_path(const char *name, char *buf, size_t len)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    if (n <= 0)
        return n < 0 ? -errno : -ENOENT;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (!slash)
        return -ENOENT;
    slash[1] = '\0';
    if ((size_t)snprintf(buf, len, "%s%s", self, name) >= len)
        return -ENAMETOOLONG;
    return access(buf, X_OK) == 0 ? 0 : -errno;
}

int rn_engine_path(char *buf, size_t len)
{
    return rn_sibling_path(RN_ENGINE_NAME, buf, len);
}

void rn_trace_latency(const char *what)
{
    static int on = -1;
    struct timespec ts;
    char line[160];
    int n;

    if (on < 0) {
        const char *v = getenv("GHRUN_TRACE_LATENCY");
        on = v && *v && strcmp(v, "0") != 0;
    }
    if (!on)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    n = snprintf(line, sizeof(line), "ghrun-trace: %s %llu\n", what,
                 (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
    if (n > 0 && (size_t)n < sizeof(line))
        (void)!write(2, line, (size_t)n);
}
