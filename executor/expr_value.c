/*
 * Expression values: truthiness, coercion and loose comparison as
 * actions/runner src/Sdk/Expressions/EvaluationResult.cs (JavaScript's
 * abstract equality, except that strings compare OrdinalIgnoreCase and
 * objects are never coerced), ParseNumber and number formatting as
 * Sdk/ExpressionUtility.cs and ExpressionConstants.NumberFormat ("G15",
 * with -0 printed as 0), and the public ex_value_* helpers.
 */
#include "expr_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- numbers ----------------------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* .NET Double.TryParse with AllowLeadingSign | AllowDecimalPoint | AllowExponent. */
static bool decimal_syntax(const char *s, size_t len)
{
    size_t i = 0, digits = 0;

    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    while (i < len && is_digit(s[i])) {
        i++;
        digits++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && is_digit(s[i])) {
            i++;
            digits++;
        }
    }
    if (digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        while (i < len && is_digit(s[i])) {
            i++;
            exp++;
        }
        if (exp == 0)
            return false;
    }
    return i == len;
}

static double parse_decimal(const char *s, size_t len)
{
    char small[128];
    char *tmp = len < sizeof(small) ? small : gr_xmalloc(len + 1);
    double d;

    memcpy(tmp, s, len);
    tmp[len] = '\0';
    d = strtod(tmp, NULL);
    if (tmp != small)
        free(tmp);
    return d;
}

/* .NET Core also accepts the Infinity and NaN symbols, ignoring case, with a sign. */
static bool special_symbol(const char *s, size_t len, double *ret)
{
    double sign = 1;

    if (len && (s[0] == '+' || s[0] == '-')) {
        sign = s[0] == '-' ? -1 : 1;
        s++;
        len--;
    }
    if (len == 8 && strncasecmp(s, "infinity", 8) == 0) {
        *ret = sign * INFINITY;
        return true;
    }
    if (len == 3 && strncasecmp(s, "nan", 3) == 0) {
        *ret = NAN;
        return true;
    }
    return false;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 0x.. and 0o..: 32-bit two's complement as Int32.TryParse(hex) / Convert.ToInt32(s, 8). */
static double parse_radix(const char *s, size_t len, unsigned radix)
{
    uint64_t v = 0;

    for (size_t i = 2; i < len; i++) {
        int d = hex_val(s[i]);
        if (d < 0 || (unsigned)d >= radix)
            return NAN;
        v = v * radix + (unsigned)d;
        if (v > UINT32_MAX)
            return NAN;
    }
    return (double)(int32_t)(uint32_t)v;
}

static bool ascii_space(char c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0d);
}

double ex__parse_number(const char *s, size_t len)
{
    double d;
    size_t sp;

    while (len && (sp = ex__space_len(s, len)) > 0) {
        s += sp;
        len -= sp;
    }
    while (len && ascii_space(s[len - 1]))
        len--;
    if (len == 0)
        return 0;
    if (decimal_syntax(s, len))
        return parse_decimal(s, len);
    if (special_symbol(s, len, &d))
        return d;
    if (len > 2 && s[0] == '0' && s[1] == 'x')
        return parse_radix(s, len, 16);
    if (len > 2 && s[0] == '0' && s[1] == 'o')
        return parse_radix(s, len, 8);
    return NAN;
}

size_t ex__fmt_number(double d, char *buf)
{
    int n;

    if (isnan(d))
        return (size_t)snprintf(buf, 32, "NaN");
    if (isinf(d))
        return (size_t)snprintf(buf, 32, d < 0 ? "-Infinity" : "Infinity");
    if (d == 0)
        d = 0; /* -0 prints as 0 (EvaluationResult.ConvertToString) */
    if (d == floor(d) && fabs(d) < 1e15) {
        /* Whole numbers of up to 15 digits print as integers under G15: skip printf. */
        char tmp[24];
        size_t k = 0, len = 0;
        uint64_t u = (uint64_t)fabs(d);
        do {
            tmp[k++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (d < 0)
            buf[len++] = '-';
        while (k)
            buf[len++] = tmp[--k];
        buf[len] = '\0';
        return len;
    }
    /* printf's %G switches to exponent form exactly where .NET's G15 does. */
    n = snprintf(buf, 32, "%.15G", d);
    return (size_t)n;
}

const char *ex__kind_name(enum ex_vkind k)
{
    static const char *const names[] = {"Null", "Boolean", "Number", "String", "Array", "Object"};
    return names[k];
}

/* ---- conversions ------------------------------------------------------- */

void ex__val_from_json(json_t *j, struct ex_val *ret)
{
    /* j stays set so that a value read from the contexts goes back out by reference. */
    *ret = (struct ex_val){.kind = EX_V_NULL, .j = j};
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        ret->kind = EX_V_OBJ;
        ret->j = j;
        break;
    case JSON_ARRAY:
        ret->kind = EX_V_ARR;
        ret->j = j;
        break;
    case JSON_STRING:
        ret->kind = EX_V_STR;
        ret->s = json_string_value(j);
        ret->len = json_string_length(j);
        break;
    case JSON_INTEGER:
        ret->kind = EX_V_NUM;
        ret->n = (double)json_integer_value(j);
        break;
    case JSON_REAL:
        ret->kind = EX_V_NUM;
        ret->n = json_real_value(j);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        ret->kind = EX_V_BOOL;
        ret->b = json_is_true(j);
        break;
    default:
        break;
    }
}

json_t *ex__val_to_json(const struct ex_val *v)
{
    json_t *a;

    if (v->j && v->kind != EX_V_NULL)
        return json_incref(v->j);
    switch (v->kind) {
    case EX_V_BOOL:
        return json_boolean(v->b);
    case EX_V_NUM:
        if (isnan(v->n) || isinf(v->n)) {
            /* JSON has no NaN or Infinity: hand back the text the runner prints. */
            char buf[32];
            size_t n = ex__fmt_number(v->n, buf);
            return json_stringn(buf, n);
        }
        return json_real(v->n);
    case EX_V_STR:
        return json_stringn_nocheck(v->s, v->len);
    case EX_V_OBJ:
        return json_incref(v->j);
    case EX_V_ARR:
        if (v->j)
            return json_incref(v->j);
        a = json_array();
        for (size_t i = 0; i < v->fa->n; i++)
            json_array_append(a, v->fa->items[i]);
        return a;
    default:
        return json_null();
    }
}

bool ex__val_truthy(const struct ex_val *v)
{
    switch (v->kind) {
    case EX_V_NULL:
        return false;
    case EX_V_BOOL:
        return v->b;
    case EX_V_NUM:
        return !(v->n == 0 || isnan(v->n));
    case EX_V_STR:
        return v->len > 0;
    default:
        return true;
    }
}

bool ex__val_primitive(const struct ex_val *v)
{
    return v->kind != EX_V_ARR && v->kind != EX_V_OBJ;
}

double ex__val_to_number(const struct ex_val *v)
{
    switch (v->kind) {
    case EX_V_NULL:
        return 0;
    case EX_V_BOOL:
        return v->b ? 1 : 0;
    case EX_V_NUM:
        return v->n;
    case EX_V_STR:
        return ex__parse_number(v->s, v->len);
    default:
        return NAN;
    }
}

void ex__val_to_str(const struct ex_val *v, char *buf, const char **ret, size_t *ret_len)
{
    switch (v->kind) {
    case EX_V_NULL:
        *ret = "";
        *ret_len = 0;
        return;
    case EX_V_BOOL:
        *ret = v->b ? "true" : "false";
        *ret_len = v->b ? 4 : 5;
        return;
    case EX_V_NUM:
        *ret_len = ex__fmt_number(v->n, buf);
        *ret = buf;
        return;
    case EX_V_STR:
        *ret = v->s;
        *ret_len = v->len;
        return;
    default:
        *ret = ex__kind_name(v->kind);
        *ret_len = strlen(*ret);
        return;
    }
}

size_t ex__arr_len(const struct ex_val *v)
{
    return v->j ? json_array_size(v->j) : v->fa->n;
}

json_t *ex__arr_at(const struct ex_val *v, size_t i)
{
    return v->j ? json_array_get(v->j, i) : v->fa->items[i];
}

/* ---- loose comparison -------------------------------------------------- */

static void to_num(struct ex_val *v)
{
    v->n = ex__val_to_number(v);
    v->kind = EX_V_NUM;
    v->j = NULL;
}

/* EvaluationResult.CoerceTypes */
static void coerce(struct ex_val *l, struct ex_val *r)
{
    for (;;) {
        if (l->kind == r->kind)
            return;
        if (l->kind == EX_V_NUM && r->kind == EX_V_STR) {
            to_num(r);
        } else if (l->kind == EX_V_STR && r->kind == EX_V_NUM) {
            to_num(l);
        } else if (l->kind == EX_V_BOOL || l->kind == EX_V_NULL) {
            to_num(l);
            continue;
        } else if (r->kind == EX_V_BOOL || r->kind == EX_V_NULL) {
            to_num(r);
            continue;
        }
        return;
    }
}

bool ex__val_eq(const struct ex_val *a, const struct ex_val *b)
{
    struct ex_val l = *a, r = *b;

    coerce(&l, &r);
    if (l.kind != r.kind)
        return false;
    switch (l.kind) {
    case EX_V_NULL:
        return true;
    case EX_V_NUM:
        return l.n == r.n; /* false when either is NaN */
    case EX_V_STR:
        return ex__ci_eq(l.s, l.len, r.s, r.len);
    case EX_V_BOOL:
        return l.b == r.b;
    default:
        return l.j == r.j && l.fa == r.fa;
    }
}

bool ex__val_gt(const struct ex_val *a, const struct ex_val *b)
{
    struct ex_val l = *a, r = *b;

    coerce(&l, &r);
    if (l.kind != r.kind)
        return false;
    switch (l.kind) {
    case EX_V_NUM:
        return l.n > r.n;
    case EX_V_STR:
        return ex__ci_cmp(l.s, l.len, r.s, r.len) > 0;
    case EX_V_BOOL:
        return l.b && !r.b;
    default:
        return false;
    }
}

bool ex__val_lt(const struct ex_val *a, const struct ex_val *b)
{
    return ex__val_gt(b, a);
}

/* ---- case-insensitive text --------------------------------------------- */

static uint32_t utf8_next(const char *s, size_t len, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s + *i;
    size_t left = len - *i;

    if (u[0] < 0x80 || left < 2) {
        (*i)++;
        return u[0];
    }
    if ((u[0] & 0xe0) == 0xc0) {
        *i += 2;
        return ((uint32_t)(u[0] & 0x1f) << 6) | (u[1] & 0x3f);
    }
    if ((u[0] & 0xf0) == 0xe0 && left >= 3) {
        *i += 3;
        return ((uint32_t)(u[0] & 0x0f) << 12) | ((uint32_t)(u[1] & 0x3f) << 6) | (u[2] & 0x3f);
    }
    if ((u[0] & 0xf8) == 0xf0 && left >= 4) {
        *i += 4;
        return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3f) << 12) |
               ((uint32_t)(u[2] & 0x3f) << 6) | (u[3] & 0x3f);
    }
    (*i)++;
    return u[0];
}

/*
 * ToUpperInvariant (simple case mapping) for ASCII, Latin-1, Latin Extended-A,
 * Greek, Cyrillic, Armenian, Latin Extended Additional and fullwidth Latin;
 * other characters compare as they are.
 */
static uint32_t upper(uint32_t c)
{
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') ? c - 32 : c;
    if (c == 0xb5)
        return 0x39c;
    if (c >= 0xe0 && c <= 0xfe && c != 0xf7)
        return c - 0x20;
    if (c == 0xff)
        return 0x178;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177))
        return c & ~1u;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
        return (c & 1u) ? c : c - 1;
    if (c == 0x3ac)
        return 0x386;
    if (c >= 0x3ad && c <= 0x3af)
        return c - 0x25;
    if (c == 0x3c2)
        return 0x3a3;
    if (c >= 0x3b1 && c <= 0x3cb)
        return c - 0x20;
    if (c == 0x3cc)
        return 0x38c;
    if (c == 0x3cd || c == 0x3ce)
        return c - 0x3f;
    if (c >= 0x430 && c <= 0x44f)
        return c - 0x20;
    if (c >= 0x450 && c <= 0x45f)
        return c - 0x50;
    if ((c >= 0x460 && c <= 0x481) || (c >= 0x48a && c <= 0x4bf) || (c >= 0x4d0 && c <= 0x52f))
        return c & ~1u;
    if (c >= 0x561 && c <= 0x586)
        return c - 0x30;
    if ((c >= 0x1e00 && c <= 0x1e95) || (c >= 0x1ea0 && c <= 0x1eff))
        return c & ~1u;
    if (c >= 0xff41 && c <= 0xff5a)
        return c - 0x20;
    return c;
}

/* Compare a prefix of n with h from i; *ret_end receives the end in h when it matches. */
static int ci_prefix(const char *h, size_t hlen, size_t i, const char *n, size_t nlen,
                     size_t *ret_end)
{
    size_t k = 0;

    while (k < nlen) {
        if (i >= hlen)
            return -1;
        uint32_t a = upper(utf8_next(h, hlen, &i));
        uint32_t b = upper(utf8_next(n, nlen, &k));
        if (a != b)
            return a < b ? -1 : 1;
    }
    *ret_end = i;
    return 0;
}

static bool ascii_only(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

static unsigned char lower_ascii(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* With an ASCII needle, bytes compare directly: no other character folds to ASCII. */
static bool ascii_at(const char *h, const char *n, size_t nlen)
{
    for (size_t k = 0; k < nlen; k++)
        if (lower_ascii((unsigned char)h[k]) != lower_ascii((unsigned char)n[k]))
            return false;
    return true;
}

int ex__ci_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0, k = 0;

    while (i < alen && k < blen) {
        unsigned char ca = (unsigned char)a[i], cb = (unsigned char)b[k];
        uint32_t x, y;
        if (ca < 0x80 && cb < 0x80) {
            x = upper(ca);
            y = upper(cb);
            i++;
            k++;
        } else {
            x = upper(utf8_next(a, alen, &i));
            y = upper(utf8_next(b, blen, &k));
        }
        if (x != y)
            return x < y ? -1 : 1;
    }
    if (i < alen)
        return 1;
    return k < blen ? -1 : 0;
}

bool ex__ci_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen == blen && memcmp(a, b, alen) == 0)
        return true;
    return ex__ci_cmp(a, alen, b, blen) == 0;
}

bool ex__ci_starts(const char *h, size_t hlen, const char *n, size_t nlen)
{
    size_t end;

    if (ascii_only(n, nlen))
        return nlen <= hlen && ascii_at(h, n, nlen);
    return ci_prefix(h, hlen, 0, n, nlen, &end) == 0;
}

bool ex__ci_find(const char *h, size_t hlen, const char *n, size_t nlen)
{
    size_t end;

    if (ascii_only(n, nlen)) {
        if (nlen == 0)
            return true;
        unsigned char first = lower_ascii((unsigned char)n[0]);
        for (size_t i = 0; i + nlen <= hlen; i++)
            if (lower_ascii((unsigned char)h[i]) == first && ascii_at(h + i, n, nlen))
                return true;
        return false;
    }

    for (size_t i = 0; i <= hlen; i++) {
        if (i < hlen && ((unsigned char)h[i] & 0xc0) == 0x80)
            continue;
        if (ci_prefix(h, hlen, i, n, nlen, &end) == 0)
            return true;
    }
    return false;
}

bool ex__ci_ends(const char *h, size_t hlen, const char *n, size_t nlen)
{
    size_t end;

    if (ascii_only(n, nlen))
        return nlen <= hlen && ascii_at(h + hlen - nlen, n, nlen);

    for (size_t i = 0; i <= hlen; i++) {
        if (i < hlen && ((unsigned char)h[i] & 0xc0) == 0x80)
            continue;
        if (ci_prefix(h, hlen, i, n, nlen, &end) == 0 && end == hlen)
            return true;
    }
    return false;
}

/* ---- toJSON ------------------------------------------------------------ */

/* Newtonsoft JsonConvert.ToString(string): quotes, backslash, controls, U+0085/2028/2029. */
static int json_quote(struct gr_buf *b, const char *s, size_t len)
{
    int r = gr_buf_addch(b, '"');
    size_t run = 0;

    for (size_t i = 0; r == 0 && i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char tmp[8];
        size_t elen = 2;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c == '\b')
            esc = "\\b";
        else if (c == '\f')
            esc = "\\f";
        else if (c < 0x20 || (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] == 0x85) ||
                 (c == 0xe2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
                  ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9))) {
            size_t i0 = i;
            uint32_t cp = utf8_next(s, len, &i);
            i--;
            snprintf(tmp, sizeof(tmp), "\\u%04x", cp);
            esc = tmp;
            elen = 6;
            r = gr_buf_add(b, s + run, i0 - run);
            run = i + 1;
            if (r == 0)
                r = gr_buf_add(b, esc, elen);
            continue;
        }
        if (!esc)
            continue;
        r = gr_buf_add(b, s + run, i - run);
        if (r == 0)
            r = gr_buf_add(b, esc, elen);
        run = i + 1;
    }
    if (r == 0)
        r = gr_buf_add(b, s + run, len - run);
    if (r == 0)
        r = gr_buf_addch(b, '"');
    return r;
}

static int indent(struct gr_buf *b, unsigned level)
{
    int r = gr_buf_addch(b, '\n');
    for (unsigned i = 0; r == 0 && i < level; i++)
        r = gr_buf_add(b, "  ", 2);
    return r;
}

static int to_json_rec(const struct ex_val *v, struct gr_buf *b, unsigned level);

static int to_json_arr(const struct ex_val *v, struct gr_buf *b, unsigned level)
{
    size_t n = ex__arr_len(v);
    int r;

    if (n == 0)
        return gr_buf_add(b, "[]", 2);
    r = gr_buf_addch(b, '[');
    for (size_t i = 0; r == 0 && i < n; i++) {
        struct ex_val item;
        ex__val_from_json(ex__arr_at(v, i), &item);
        if (i)
            r = gr_buf_addch(b, ',');
        if (r == 0)
            r = indent(b, level + 1);
        if (r == 0)
            r = to_json_rec(&item, b, level + 1);
    }
    if (r == 0)
        r = indent(b, level);
    return r ? r : gr_buf_addch(b, ']');
}

static int to_json_obj(const struct ex_val *v, struct gr_buf *b, unsigned level)
{
    const char *key;
    json_t *val;
    int r = 0;
    bool first = true;

    if (json_object_size(v->j) == 0)
        return gr_buf_add(b, "{}", 2);
    r = gr_buf_addch(b, '{');
    json_object_foreach(v->j, key, val)
    {
        struct ex_val item;
        if (r < 0)
            break;
        ex__val_from_json(val, &item);
        if (!first)
            r = gr_buf_addch(b, ',');
        first = false;
        if (r == 0)
            r = indent(b, level + 1);
        if (r == 0)
            r = json_quote(b, key, strlen(key));
        if (r == 0)
            r = gr_buf_add(b, ": ", 2);
        if (r == 0)
            r = to_json_rec(&item, b, level + 1);
    }
    if (r == 0)
        r = indent(b, level);
    return r ? r : gr_buf_addch(b, '}');
}

static int to_json_rec(const struct ex_val *v, struct gr_buf *b, unsigned level)
{
    char num[32];
    size_t n;

    switch (v->kind) {
    case EX_V_NULL:
        return gr_buf_add(b, "null", 4);
    case EX_V_BOOL:
        return gr_buf_adds(b, v->b ? "true" : "false");
    case EX_V_NUM:
        n = ex__fmt_number(v->n, num);
        return gr_buf_add(b, num, n);
    case EX_V_STR:
        return json_quote(b, v->s, v->len);
    case EX_V_ARR:
        return to_json_arr(v, b, level);
    default:
        return to_json_obj(v, b, level);
    }
}

int ex__to_json_buf(const struct ex_val *v, struct gr_buf *b)
{
    return to_json_rec(v, b, 0);
}

/* ---- public helpers ---------------------------------------------------- */

bool ex_value_truthy(const json_t *v)
{
    struct ex_val x;

    if (!v)
        return false;
    ex__val_from_json((json_t *)v, &x);
    return ex__val_truthy(&x);
}

char *ex_value_to_string(const json_t *v)
{
    struct ex_val x = {.kind = EX_V_NULL};
    char buf[32];
    const char *s;
    size_t len;

    if (v)
        ex__val_from_json((json_t *)v, &x);
    ex__val_to_str(&x, buf, &s, &len);
    return gr_xstrndup(s, len);
}

char *ex_value_to_json(const json_t *v)
{
    struct ex_val x = {.kind = EX_V_NULL};
    struct gr_buf b = GR_BUF_INIT(0);

    if (v)
        ex__val_from_json((json_t *)v, &x);
    if (ex__to_json_buf(&x, &b) < 0 || b.len == 0) {
        gr_buf_release(&b);
        return gr_xstrdup("");
    }
    return gr_buf_detach(&b, NULL);
}

json_t *ex_value_get(const json_t *obj, const char *key)
{
    json_t *v;
    const char *k;
    size_t klen = strlen(key);

    if (!json_is_object(obj))
        return NULL;
    v = json_object_get(obj, key);
    if (v)
        return v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (ex__ci_eq(k, strlen(k), key, klen))
            return v;
    }
    return NULL;
}
