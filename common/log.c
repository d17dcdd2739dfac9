/* Diagnostic logging to stderr. A job's own output never goes through here. */
#include "gr.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static enum gr_log_level cur_level = GR_LOG_INFO;

void gr_log_set_level(enum gr_log_level lvl)
{
    cur_level = lvl;
}

enum gr_log_level gr_log_get_level(void)
{
    return cur_level;
}

static const char *prefix(enum gr_log_level lvl)
{
    switch (lvl) {
    case GR_LOG_ERROR:
        return "error: ";
    case GR_LOG_WARNING:
        return "warning: ";
    case GR_LOG_DEBUG:
        return "debug: ";
    default:
        return "";
    }
}

static void vlog(enum gr_log_level lvl, const char *fmt, va_list ap, const char *suffix)
{
    char line[2048];
    int n;

    if (lvl > cur_level)
        return;
    n = vsnprintf(line, sizeof(line), fmt, ap);
    if (n < 0)
        return;
    fprintf(stderr, "ghrun: %s%s%s%s\n", prefix(lvl), line, suffix ? ": " : "",
            suffix ? suffix : "");
}

void gr_log(enum gr_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, fmt, ap, NULL);
    va_end(ap);
}

int gr_log_errno(enum gr_log_level lvl, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, fmt, ap, gr_strerror(err));
    va_end(ap);
    return err;
}

uint64_t gr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void gr_time_iso8601_ms(int64_t ms, char *out, size_t outlen)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char base[32];

    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03dZ", base, (int)(ms % 1000));
}

void gr_time_iso8601(char *out, size_t outlen)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    gr_time_iso8601_ms((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, out, outlen);
}
