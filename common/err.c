/* Error codes and diagnostics: one table for our codes, strerror for errno. */
#include "gr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *gr_strerror(int err)
{
    switch (err) {
#define XX(name, val, msg)                                                                         \
    case GR_##name:                                                                                \
        return msg;
        GR_ERRNO_MAP(XX)
#undef XX
    default:
        break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}

const char *gr_errname(int err)
{
    switch (err) {
#define XX(name, val, msg)                                                                         \
    case GR_##name:                                                                                \
        return "GR_" #name;
        GR_ERRNO_MAP(XX)
#undef XX
    default:
        break;
    }
    if (err < 0 && err > -4096) {
        const char *n = strerrorname_np(-err);
        return n ? n : "E?";
    }
    return "E?";
}

int gr_diag_set(struct gr_diag *d, int err, const char *file, int line, int col, const char *fmt,
                ...)
{
    va_list ap;

    if (!d)
        return err;
    d->file = file;
    d->line = line;
    d->col = col;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
    return err;
}

void gr_diag_format(const struct gr_diag *d, char *out, size_t outlen)
{
    if (d->file && d->line > 0 && d->col > 0)
        snprintf(out, outlen, "%s:%d:%d: %s", d->file, d->line, d->col, d->msg);
    else if (d->file && d->line > 0)
        snprintf(out, outlen, "%s:%d: %s", d->file, d->line, d->msg);
    else if (d->file)
        snprintf(out, outlen, "%s: %s", d->file, d->msg);
    else
        snprintf(out, outlen, "%s", d->msg);
}
