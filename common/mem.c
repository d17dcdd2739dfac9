/* Allocation that never returns NULL: out of memory aborts (STYLE.md section 5). */
#include "gr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die_oom(void)
{
    fputs("ghrun: out of memory\n", stderr);
    abort();
}

void *gr_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die_oom();
    return p;
}

void *gr_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        die_oom();
    return p;
}

void *gr_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        die_oom();
    return q;
}

char *gr_xstrdup(const char *s)
{
    return gr_xstrndup(s, strlen(s));
}

char *gr_xstrndup(const char *s, size_t n)
{
    char *p;

    n = strnlen(s, n);
    p = gr_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *gr_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p = NULL;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (r < 0)
        die_oom();
    return p;
}

void gr_xgrow(void **arr, size_t *cap, size_t n, size_t sz)
{
    size_t c = *cap;

    if (n <= c)
        return;
    if (c < 8)
        c = 8;
    while (c < n)
        c *= 2;
    *arr = gr_xrealloc(*arr, c * sz);
    *cap = c;
}
