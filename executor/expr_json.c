/*
 * fromJSON's reader. The runner reads with Newtonsoft's JsonTextReader
 * (src/Sdk/Expressions/Sdk/Functions/FromJson.cs; StrictJsonParsing is off by
 * default, WorkflowFeatures.cs), which is lenient: comments, single-quoted
 * strings, unquoted property names and trailing commas are accepted, and
 * reading stops after the first value. Strict JSON goes straight to jansson;
 * text that jansson rejects is rewritten into strict JSON once and retried.
 * NaN and Infinity literals are not supported (jansson cannot hold them).
 */
#include "expr_internal.h"

#include <errno.h>
#include <string.h>

struct lenient {
    const char *s;
    size_t len, i;
    struct gr_buf *out;
};

static bool is_ident(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
           (!first && c >= '0' && c <= '9');
}

/* Skip whitespace and comments; false on an unterminated comment. */
static bool skip_space(struct lenient *l)
{
    while (l->i < l->len) {
        char c = l->s[l->i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            l->i++;
        } else if (c == '/' && l->i + 1 < l->len && l->s[l->i + 1] == '/') {
            while (l->i < l->len && l->s[l->i] != '\n')
                l->i++;
        } else if (c == '/' && l->i + 1 < l->len && l->s[l->i + 1] == '*') {
            const char *end = memmem(l->s + l->i + 2, l->len - l->i - 2, "*/", 2);
            if (!end)
                return false;
            l->i = (size_t)(end - l->s) + 2;
        } else {
            break;
        }
    }
    return true;
}

/* A quoted string in either quote style, written with double quotes. */
static int copy_string(struct lenient *l)
{
    char q = l->s[l->i++];
    int r = gr_buf_addch(l->out, '"');

    while (r == 0 && l->i < l->len && l->s[l->i] != q) {
        char c = l->s[l->i++];
        if (c == '\\' && l->i < l->len) {
            char e = l->s[l->i++];
            if (e == '\'')
                r = gr_buf_addch(l->out, '\'');
            else
                r = gr_buf_add(l->out, (char[]){'\\', e}, 2);
        } else if (c == '"') {
            r = gr_buf_add(l->out, "\\\"", 2);
        } else {
            r = gr_buf_addch(l->out, c);
        }
    }
    if (l->i >= l->len)
        return -EINVAL;
    l->i++;
    return r ? r : gr_buf_addch(l->out, '"');
}

/* An unquoted property name (followed by ':') is quoted; other words pass. */
static int copy_word(struct lenient *l)
{
    size_t start = l->i, save;
    bool key;
    int r;

    while (l->i < l->len && is_ident(l->s[l->i], false))
        l->i++;
    save = l->i;
    if (!skip_space(l))
        return -EINVAL;
    key = l->i < l->len && l->s[l->i] == ':';
    l->i = save;
    if (!key)
        return gr_buf_add(l->out, l->s + start, l->i - start);
    r = gr_buf_addch(l->out, '"');
    if (r == 0)
        r = gr_buf_add(l->out, l->s + start, l->i - start);
    return r ? r : gr_buf_addch(l->out, '"');
}

/* A comma right before ] or } is dropped. */
static int copy_comma(struct lenient *l)
{
    size_t save = ++l->i;

    if (!skip_space(l))
        return -EINVAL;
    if (l->i < l->len && (l->s[l->i] == ']' || l->s[l->i] == '}'))
        return 0;
    l->i = save;
    return gr_buf_addch(l->out, ',');
}

static int rewrite(struct lenient *l)
{
    int r = 0;

    while (r == 0 && l->i < l->len) {
        char c = l->s[l->i];
        if (c == '/' && l->i + 1 < l->len && (l->s[l->i + 1] == '/' || l->s[l->i + 1] == '*')) {
            if (!skip_space(l))
                return -EINVAL;
            r = gr_buf_addch(l->out, ' '); /* a comment separates like a space */
        } else if (c == '"' || c == '\'') {
            r = copy_string(l);
        } else if (c == ',') {
            r = copy_comma(l);
        } else if (is_ident(c, true)) {
            r = copy_word(l);
        } else {
            r = gr_buf_addch(l->out, l->s[l->i++]);
        }
    }
    return r;
}

json_t *ex__json_parse(const char *s, size_t len)
{
    const size_t flags = JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK;
    struct gr_buf b = GR_BUF_INIT(EX_MAX_MEMORY);
    struct lenient l = {.s = s, .len = len, .out = &b};
    json_error_t jerr;
    json_t *j;

    j = json_loadb(s, len, flags, &jerr);
    if (!j) /* integers past int64: read every number as a double */
        j = json_loadb(s, len, flags | JSON_DECODE_INT_AS_REAL, &jerr);
    if (j || rewrite(&l) < 0 || b.len == 0)
        goto out;
    j = json_loadb(b.ptr, b.len, flags, &jerr);
    if (!j)
        j = json_loadb(b.ptr, b.len, flags | JSON_DECODE_INT_AS_REAL, &jerr);
out:
    gr_buf_release(&b);
    return j;
}
