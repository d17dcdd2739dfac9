/* Owned growable strings with a size limit (see gr.h for the invariants). */
#include "gr.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char gr_buf_empty[1];

static int grow(struct gr_buf *b, size_t extra)
{
    size_t max = b->max ? b->max : SIZE_MAX - 1;
    size_t want;

    if (extra > max || b->len > max - extra)
        return -E2BIG;
    want = b->len + extra + 1;
    if (want <= b->cap)
        return 0;
    size_t ncap = b->cap < 64 ? 64 : b->cap;
    while (ncap < want)
        ncap = ncap > SIZE_MAX / 2 ? want : ncap * 2;
    if (b->cap == 0) {
        b->ptr = gr_xmalloc(ncap);
        b->ptr[0] = '\0';
    } else {
        b->ptr = gr_xrealloc(b->ptr, ncap);
    }
    b->cap = ncap;
    return 0;
}

int gr_buf_add(struct gr_buf *b, const void *data, size_t len)
{
    int r = grow(b, len);
    if (r < 0)
        return r;
    if (len)
        memcpy(b->ptr + b->len, data, len);
    b->len += len;
    b->ptr[b->len] = '\0';
    return 0;
}

int gr_buf_adds(struct gr_buf *b, const char *s)
{
    return gr_buf_add(b, s, strlen(s));
}

int gr_buf_addch(struct gr_buf *b, char c)
{
    return gr_buf_add(b, &c, 1);
}

void gr_buf_xadd(struct gr_buf *b, const void *data, size_t len)
{
    int r = gr_buf_add(b, data, len);
    assert(r == 0);
    (void)r;
}

void gr_buf_xadds(struct gr_buf *b, const char *s)
{
    gr_buf_xadd(b, s, strlen(s));
}

void gr_buf_xaddch(struct gr_buf *b, char c)
{
    gr_buf_xadd(b, &c, 1);
}

int gr_buf_vaddf(struct gr_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    char small[256];
    int n;

    va_copy(cp, ap);
    n = vsnprintf(small, sizeof(small), fmt, cp);
    va_end(cp);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof(small))
        return gr_buf_add(b, small, (size_t)n);
    int r = grow(b, (size_t)n);
    if (r < 0)
        return r;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int gr_buf_addf(struct gr_buf *b, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = gr_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return r;
}

void gr_buf_consume(struct gr_buf *b, size_t n)
{
    if (n >= b->len) {
        gr_buf_reset(b);
        return;
    }
    memmove(b->ptr, b->ptr + n, b->len - n);
    b->len -= n;
    b->ptr[b->len] = '\0';
}

void gr_buf_reset(struct gr_buf *b)
{
    b->len = 0;
    if (b->cap)
        b->ptr[0] = '\0';
}

void gr_buf_release(struct gr_buf *b)
{
    if (b->cap)
        free(b->ptr);
    b->ptr = gr_buf_empty;
    b->len = 0;
    b->cap = 0;
}

char *gr_buf_detach(struct gr_buf *b, size_t *ret_len)
{
    char *p = b->cap ? b->ptr : gr_xstrdup("");

    if (ret_len)
        *ret_len = b->len;
    b->ptr = gr_buf_empty;
    b->len = 0;
    b->cap = 0;
    return p;
}

bool gr_str_eq(struct gr_str a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && memcmp(a.ptr, b, n) == 0;
}

bool gr_str_caseeq(struct gr_str a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && strncasecmp(a.ptr, b, n) == 0;
}

bool gr_startswith(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool gr_endswith(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}
