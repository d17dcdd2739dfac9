/*
 * Line splitting and secret masking for step output (see ex/logs.h).
 *
 * DESIGN. The masker keeps every distinct pattern (registered values and
 * their encodings) in one array. Patterns of 4 bytes or more ("long") are
 * searched with Wu-Manber: a window of m bytes (m = shortest long pattern,
 * capped at 256) slides over the text; the last 2 bytes of the window index
 * `shift`, which says how far the window may move without skipping a
 * possible match; a zero shift means some pattern's bytes m-2..m-1 equal the
 * block, and the patterns chained from `head[block]` are compared at the
 * window start. Shorter patterns are found with a first-byte table. Matches
 * come out in order of their start, so the ranges are merged as they come.
 * Tables are updated as patterns are added; they are rebuilt only when a new
 * long pattern is shorter than the window.
 */
#include "ex/logs.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

GR_PRINTF(2, 3) static void xaddf(struct gr_buf *b, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = gr_buf_vaddf(b, fmt, ap);
    va_end(ap);
    assert(r == 0);
    (void)r;
}

#define SHORT_LEN 4 /* patterns shorter than this use the first-byte scan */
#define MAX_WINDOW 256
#define NBLOCKS 65536

struct pattern {
    char *s;
    size_t len;
    uint32_t next; /* next pattern (index + 1) in the same chain; 0 ends it */
};

/* Open-addressing set of indexes into an array of patterns (dedup in O(1)). */
struct strset {
    uint32_t *slots; /* index + 1; 0: empty */
    size_t cap, n;
};

struct ex_masker {
    struct pattern *pats;
    size_t npats, cap;
    struct strset pat_set;
    struct pattern *values; /* registered values, for ex_masker_count and dedup */
    size_t nvalues, values_cap;
    struct strset value_set;
    size_t nshort; /* patterns shorter than SHORT_LEN */
    size_t m;      /* window for long patterns; 0: none */
    uint8_t shift[NBLOCKS];
    uint32_t head[NBLOCKS];   /* long patterns by their block at m-2 */
    uint32_t short_head[256]; /* short patterns by first byte */
};

/* ---- tables ------------------------------------------------------------ */

static unsigned block_at(const char *p)
{
    return ((unsigned)(unsigned char)p[0] << 8) | (unsigned char)p[1];
}

static void index_long(struct ex_masker *m, uint32_t idx)
{
    struct pattern *p = &m->pats[idx];
    size_t q;

    for (q = 1; q < m->m; q++) {
        unsigned b = block_at(p->s + q - 1);
        size_t s = m->m - 1 - q;
        if (s < m->shift[b])
            m->shift[b] = (uint8_t)s;
    }
    unsigned last = block_at(p->s + m->m - 2);
    p->next = m->head[last];
    m->head[last] = idx + 1;
}

static void rebuild_long(struct ex_masker *m, size_t window)
{
    size_t i;

    m->m = window;
    memset(m->shift, (int)(window - 1), sizeof(m->shift));
    memset(m->head, 0, sizeof(m->head));
    for (i = 0; i < m->npats; i++)
        if (m->pats[i].len >= SHORT_LEN)
            index_long(m, (uint32_t)i);
}

static size_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    size_t i;

    for (i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

/* Slot holding s, or the empty slot where it would go. */
static uint32_t *set_slot(const struct strset *set, const struct pattern *arr, const char *s,
                          size_t len)
{
    size_t i = hash_bytes(s, len) & (set->cap - 1);

    for (;; i = (i + 1) & (set->cap - 1)) {
        uint32_t *slot = &set->slots[i];
        if (!*slot)
            return slot;
        const struct pattern *p = &arr[*slot - 1];
        if (p->len == len && memcmp(p->s, s, len) == 0)
            return slot;
    }
}

static bool set_has(const struct strset *set, const struct pattern *arr, const char *s, size_t len)
{
    return set->cap && *set_slot(set, arr, s, len) != 0;
}

/* Record arr[idx]; the set is kept at most half full. */
static void set_add(struct strset *set, const struct pattern *arr, uint32_t idx)
{
    if ((set->n + 1) * 2 > set->cap) {
        struct strset grown = {.cap = set->cap ? set->cap * 2 : 64};
        size_t i;
        grown.slots = gr_xcalloc(grown.cap, sizeof(uint32_t));
        for (i = 0; i < set->cap; i++)
            if (set->slots[i])
                *set_slot(&grown, arr, arr[set->slots[i] - 1].s, arr[set->slots[i] - 1].len) =
                    set->slots[i];
        grown.n = set->n;
        free(set->slots);
        *set = grown;
    }
    *set_slot(set, arr, arr[idx].s, arr[idx].len) = idx + 1;
    set->n++;
}

/* Add one pattern (copied); duplicates and empty strings are ignored. */
static void add_pattern(struct ex_masker *m, const char *s, size_t len)
{
    uint32_t idx;

    if (len == 0 || set_has(&m->pat_set, m->pats, s, len))
        return;
    GR_GROW(m->pats, m->cap, m->npats + 1);
    idx = (uint32_t)m->npats++;
    m->pats[idx] = (struct pattern){.s = gr_xstrndup(s, len), .len = len};
    set_add(&m->pat_set, m->pats, idx);
    if (len < SHORT_LEN) {
        m->nshort++;
        unsigned char c = (unsigned char)s[0];
        m->pats[idx].next = m->short_head[c];
        m->short_head[c] = idx + 1;
        return;
    }
    size_t window = len < MAX_WINDOW ? len : MAX_WINDOW;
    if (m->m == 0 || window < m->m)
        rebuild_long(m, window);
    else
        index_long(m, idx);
}

/* ---- encoders (actions/runner src/Sdk/DTLogging/Logging/ValueEncoders.cs) */

static void add_base64(struct ex_masker *m, const unsigned char *s, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    struct gr_buf b = GR_BUF_INIT(0);
    size_t i;

    for (i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        size_t n = len - i < 3 ? len - i : 3;
        char out[4];
        if (n > 1)
            v |= (uint32_t)s[i + 1] << 8;
        if (n > 2)
            v |= s[i + 2];
        out[0] = tbl[(v >> 18) & 63];
        out[1] = tbl[(v >> 12) & 63];
        out[2] = n > 1 ? tbl[(v >> 6) & 63] : '=';
        out[3] = n > 2 ? tbl[v & 63] : '=';
        gr_buf_xadd(&b, out, 4);
    }
    add_pattern(m, b.ptr, b.len);
    gr_buf_release(&b);
}

static void add_replaced(struct ex_masker *m, const char *s, size_t len, char from, const char *to)
{
    struct gr_buf b = GR_BUF_INIT(0);
    size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] == from)
            gr_buf_xadds(&b, to);
        else
            gr_buf_xaddch(&b, s[i]);
    }
    add_pattern(m, b.ptr, b.len);
    gr_buf_release(&b);
}

/* Newtonsoft JsonConvert.ToString without the quotes (default escape handling). */
static void add_json(struct ex_masker *m, const char *s, size_t len)
{
    struct gr_buf b = GR_BUF_INIT(0);
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        default:
            break;
        }
        if (esc) {
            gr_buf_xadds(&b, esc);
        } else if (c < 0x20) {
            xaddf(&b, "\\u%04x", c);
        } else if (c == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] == 0x85) {
            gr_buf_xadds(&b, "\\u0085");
            i++;
        } else if (c == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
                   ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
            xaddf(&b, "\\u202%c", (unsigned char)s[i + 2] == 0xA8 ? '8' : '9');
            i += 2;
        } else {
            gr_buf_xaddch(&b, (char)c);
        }
    }
    add_pattern(m, b.ptr, b.len);
    gr_buf_release(&b);
}

/* Uri.EscapeDataString: everything but the RFC 3986 unreserved set, per byte. */
static void add_uri(struct ex_masker *m, const char *s, size_t len)
{
    struct gr_buf b = GR_BUF_INIT(0);
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~';
        if (keep)
            gr_buf_xaddch(&b, (char)c);
        else
            xaddf(&b, "%%%02X", c);
    }
    add_pattern(m, b.ptr, b.len);
    gr_buf_release(&b);
}

/* SecurityElement.Escape */
static void add_xml(struct ex_masker *m, const char *s, size_t len)
{
    struct gr_buf b = GR_BUF_INIT(0);
    size_t i;

    for (i = 0; i < len; i++) {
        switch (s[i]) {
        case '<':
            gr_buf_xadds(&b, "&lt;");
            break;
        case '>':
            gr_buf_xadds(&b, "&gt;");
            break;
        case '"':
            gr_buf_xadds(&b, "&quot;");
            break;
        case '\'':
            gr_buf_xadds(&b, "&apos;");
            break;
        case '&':
            gr_buf_xadds(&b, "&amp;");
            break;
        default:
            gr_buf_xaddch(&b, s[i]);
            break;
        }
    }
    add_pattern(m, b.ptr, b.len);
    gr_buf_release(&b);
}

static const char *find2(const char *s, size_t len, const char *needle, size_t nlen, bool last)
{
    const char *found = NULL;
    size_t i;

    for (i = 0; i + nlen <= len; i++) {
        if (memcmp(s + i, needle, nlen) == 0) {
            found = s + i;
            if (!last)
                break;
        }
    }
    return found;
}

/* PowerShellPreAmpersandEscape and PowerShellPostAmpersandEscape. */
static void add_powershell(struct ex_masker *m, const char *s, size_t len)
{
    const char *amp_plus = find2(s, len, "&+", 2, false);
    const char *last_amp = find2(s, len, "&", 1, true);
    size_t pre = 0, post_off = 0, post = 0;

    if (!last_amp)
        return;
    if (amp_plus) {
        pre = (size_t)(amp_plus - s) + 2;
        post_off = pre + 1;
        post = len > post_off ? len - post_off : 0;
    } else {
        pre = (size_t)(last_amp - s) + 1;
        post_off = pre;
        post = len - pre;
    }
    if (pre >= 6)
        add_pattern(m, s, pre);
    if (post >= 6)
        add_pattern(m, s + post_off, post);
}

static void add_with_encodings(struct ex_masker *m, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;

    add_pattern(m, s, len);
    add_base64(m, u, len);
    add_base64(m, len > 1 ? u + 1 : u, len > 1 ? len - 1 : len);
    add_base64(m, len > 2 ? u + 2 : u, len > 2 ? len - 2 : len);
    add_replaced(m, s, len, '"', "\\\"");
    add_replaced(m, s, len, '\'', "''");
    add_json(m, s, len);
    add_uri(m, s, len);
    add_xml(m, s, len);
    if (len > 8 && s[0] == '"' && s[len - 1] == '"')
        add_pattern(m, s + 1, len - 2);
    add_powershell(m, s, len);
}

/* ---- registration ------------------------------------------------------ */

struct ex_masker *ex_masker_new(void)
{
    struct ex_masker *m = gr_xcalloc(1, sizeof(*m));
    return m;
}

void ex_masker_free(struct ex_masker *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < m->npats; i++)
        free(m->pats[i].s);
    for (i = 0; i < m->nvalues; i++)
        free(m->values[i].s);
    free(m->pats);
    free(m->values);
    free(m->pat_set.slots);
    free(m->value_set.slots);
    free(m);
}

static void add_value(struct ex_masker *m, const char *s, size_t len)
{
    uint32_t idx;

    if (len == 0 || set_has(&m->value_set, m->values, s, len))
        return;
    GR_GROW(m->values, m->values_cap, m->nvalues + 1);
    idx = (uint32_t)m->nvalues++;
    m->values[idx] = (struct pattern){.s = gr_xstrndup(s, len), .len = len};
    set_add(&m->value_set, m->values, idx);
    add_with_encodings(m, s, len);
}

static bool is_ascii_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

void ex_masker_add(struct ex_masker *m, const char *secret, size_t len)
{
    size_t i = 0;

    add_value(m, secret, len);
    while (i < len) {
        size_t start = i, end;
        while (i < len && secret[i] != '\r' && secret[i] != '\n')
            i++;
        end = i;
        while (start < end && is_ascii_space(secret[start]))
            start++;
        while (end > start && is_ascii_space(secret[end - 1]))
            end--;
        add_value(m, secret + start, end - start);
        i++;
    }
}

size_t ex_masker_count(const struct ex_masker *m)
{
    return m->nvalues;
}

/* ---- search ------------------------------------------------------------ */

struct range {
    size_t start, end;
};

/* Merged, sorted ranges; the first few live on the stack. */
struct ranges {
    struct range *v;
    size_t n, cap;
    struct range local[16];
};

static void ranges_init(struct ranges *r)
{
    r->v = r->local;
    r->n = 0;
    r->cap = GR_ARRAY_SIZE(r->local);
}

static void ranges_release(struct ranges *r)
{
    if (r->v != r->local)
        free(r->v);
}

/* Add [start, end); starts arrive in non-decreasing order. Touching ranges merge. */
static void ranges_add(struct ranges *r, size_t start, size_t end)
{
    if (r->n && start <= r->v[r->n - 1].end) {
        if (end > r->v[r->n - 1].end)
            r->v[r->n - 1].end = end;
        return;
    }
    if (r->n == r->cap) {
        size_t ncap = r->cap * 2;
        struct range *nv = gr_xmalloc(ncap * sizeof(*nv));
        memcpy(nv, r->v, r->n * sizeof(*nv));
        if (r->v != r->local)
            free(r->v);
        r->v = nv;
        r->cap = ncap;
    }
    r->v[r->n++] = (struct range){start, end};
}

static void scan_long(const struct ex_masker *m, const char *t, size_t len, struct ranges *out)
{
    size_t win = m->m, e = win - 1;

    while (e < len) {
        unsigned b = block_at(t + e - 1);
        size_t s = m->shift[b];
        if (s) {
            e += s;
            continue;
        }
        size_t start = e + 1 - win;
        uint32_t idx;
        for (idx = m->head[b]; idx; idx = m->pats[idx - 1].next) {
            const struct pattern *p = &m->pats[idx - 1];
            if (p->len <= len - start && p->s[0] == t[start] &&
                memcmp(p->s, t + start, p->len) == 0)
                ranges_add(out, start, start + p->len);
        }
        e++;
    }
}

static void scan_short(const struct ex_masker *m, const char *t, size_t len, struct ranges *out)
{
    size_t i;

    for (i = 0; i < len; i++) {
        uint32_t idx = m->short_head[(unsigned char)t[i]];
        for (; idx; idx = m->pats[idx - 1].next) {
            const struct pattern *p = &m->pats[idx - 1];
            if (p->len <= len - i && memcmp(p->s, t + i, p->len) == 0)
                ranges_add(out, i, i + p->len);
        }
    }
}

/* Union of both scans, sorted, with touching ranges merged. */
static void find_ranges(const struct ex_masker *m, const char *t, size_t len, struct ranges *out)
{
    struct ranges a, b;
    size_t i = 0, j = 0;

    if (m->m && !m->nshort) {
        scan_long(m, t, len, out);
        return;
    }
    ranges_init(&a);
    ranges_init(&b);
    if (m->m)
        scan_long(m, t, len, &a);
    scan_short(m, t, len, &b);
    while (i < a.n || j < b.n) {
        if (j >= b.n || (i < a.n && a.v[i].start <= b.v[j].start)) {
            ranges_add(out, a.v[i].start, a.v[i].end);
            i++;
        } else {
            ranges_add(out, b.v[j].start, b.v[j].end);
            j++;
        }
    }
    ranges_release(&a);
    ranges_release(&b);
}

bool ex_masker_matches(const struct ex_masker *m, const char *text, size_t len)
{
    struct ranges r;
    bool found;

    ranges_init(&r);
    find_ranges(m, text, len, &r);
    found = r.n > 0;
    ranges_release(&r);
    return found;
}

int ex_masker_apply(const struct ex_masker *m, const char *line, size_t len, struct gr_buf *out)
{
    struct ranges r;
    size_t i, pos = 0, start_len = out->len;
    int ret = 0;

    if (m->npats == 0)
        return gr_buf_add(out, line, len);
    ranges_init(&r);
    find_ranges(m, line, len, &r);
    for (i = 0; i < r.n && ret == 0; i++) {
        ret = gr_buf_add(out, line + pos, r.v[i].start - pos);
        if (ret == 0)
            ret = gr_buf_add(out, EX_MASK_TEXT, sizeof(EX_MASK_TEXT) - 1);
        pos = r.v[i].end;
    }
    if (ret == 0)
        ret = gr_buf_add(out, line + pos, len - pos);
    if (ret < 0) {
        /* leave out as it was, as gr_buf appends do */
        out->len = start_len;
        out->ptr[start_len] = '\0';
    }
    ranges_release(&r);
    return ret;
}

/* ---- line splitting ---------------------------------------------------- */

void ex_linesplit_init(struct ex_linesplit *ls, ex_line_fn cb, void *ctx)
{
    *ls = (struct ex_linesplit){
        .partial = GR_BUF_INIT(EX_LOG_MAX_LINE),
        .cb = cb,
        .ctx = ctx,
    };
}

/*
 * Append to the partial line. A full partial line is delivered only when
 * more bytes come, so a line of exactly EX_LOG_MAX_LINE bytes followed by
 * its newline is one line, not that line and an empty one.
 */
static void add_partial(struct ex_linesplit *ls, const char *p, size_t n)
{
    while (n) {
        if (ls->partial.len == EX_LOG_MAX_LINE) {
            ls->cb(ls->ctx, ls->partial.ptr, ls->partial.len);
            gr_buf_reset(&ls->partial);
        }
        size_t room = EX_LOG_MAX_LINE - ls->partial.len;
        size_t take = n < room ? n : room;
        gr_buf_xadd(&ls->partial, p, take);
        p += take;
        n -= take;
    }
}

/* A complete line [p, p+n): emit it, joined with any partial text before it. */
static void emit_line(struct ex_linesplit *ls, const char *p, size_t n)
{
    if (ls->partial.len == 0) {
        while (n > EX_LOG_MAX_LINE) {
            ls->cb(ls->ctx, p, EX_LOG_MAX_LINE);
            p += EX_LOG_MAX_LINE;
            n -= EX_LOG_MAX_LINE;
        }
        ls->cb(ls->ctx, p, n);
        return;
    }
    add_partial(ls, p, n);
    ls->cb(ls->ctx, ls->partial.ptr, ls->partial.len);
    gr_buf_reset(&ls->partial);
}

static const char *find_eol(const char *p, const char *end, const char **next_lf,
                            const char **next_cr)
{
    if (*next_lf && *next_lf < p)
        *next_lf = memchr(p, '\n', (size_t)(end - p));
    if (*next_cr && *next_cr < p)
        *next_cr = memchr(p, '\r', (size_t)(end - p));
    if (!*next_lf)
        return *next_cr;
    if (!*next_cr)
        return *next_lf;
    return *next_lf < *next_cr ? *next_lf : *next_cr;
}

void ex_linesplit_feed(struct ex_linesplit *ls, const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    const char *next_lf, *next_cr, *eol;

    if (len == 0)
        return;
    if (ls->after_cr && *p == '\n')
        p++;
    ls->after_cr = false;
    next_lf = memchr(p, '\n', (size_t)(end - p));
    next_cr = memchr(p, '\r', (size_t)(end - p));
    while (p < end) {
        eol = find_eol(p, end, &next_lf, &next_cr);
        if (!eol) {
            add_partial(ls, p, (size_t)(end - p));
            return;
        }
        emit_line(ls, p, (size_t)(eol - p));
        p = eol + 1;
        if (*eol == '\r') {
            if (p == end)
                ls->after_cr = true;
            else if (*p == '\n')
                p++;
        }
    }
}

void ex_linesplit_flush(struct ex_linesplit *ls)
{
    if (ls->partial.len) {
        ls->cb(ls->ctx, ls->partial.ptr, ls->partial.len);
        gr_buf_reset(&ls->partial);
    }
    ls->after_cr = false;
}

void ex_linesplit_release(struct ex_linesplit *ls)
{
    gr_buf_release(&ls->partial);
}
