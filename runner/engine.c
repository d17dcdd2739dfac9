/* Where the other programs are (engine.h). libc only: the launcher links it alone. */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
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
