/*
 * Expression functions, as actions/runner src/Sdk/Expressions/Sdk/Functions
 * (Contains.cs, Format.cs, Join.cs, ToJson.cs, FromJson.cs, Case.cs, ...) and
 * src/Runner.Worker/Expressions (SuccessFunction.cs etc.); hashFiles is in
 * hashfiles.c. Error texts are the runner's.
 */
#include "expr_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Copy s into the arena as a NUL-terminated string value. */
static int arena_string(struct ex_ev *ev, const char *s, size_t len, struct ex_val *ret)
{
    char *p = ex__arena_alloc(&ev->ar, len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    *ret = (struct ex_val){.kind = EX_V_STR, .s = p, .len = len};
    /* The runner counts UTF-16 characters, two bytes each: charge the copy twice. */
    ev->ar.total += len;
    return ex__ev_check_memory(ev);
}

static int buf_string(struct ex_ev *ev, struct gr_buf *b, int r, struct ex_val *ret)
{
    if (r == -E2BIG)
        r = ex__ev_error(ev,
                         "The maximum allowed memory size was exceeded while evaluating the "
                         "following expression: %.*s",
                         (int)ev->expr->len, ev->expr->src);
    if (r == 0)
        r = arena_string(ev, b->ptr, b->len, ret);
    gr_buf_release(b);
    return r;
}

/* The built string as the value; charged twice, as arena_string. */
static int abuf_string(struct ex_ev *ev, const struct ex_abuf *b, struct ex_val *ret)
{
    *ret = (struct ex_val){.kind = EX_V_STR, .s = b->len ? b->p : "", .len = b->len};
    ev->ar.total += b->len;
    return ex__ev_check_memory(ev);
}

static void set_bool(struct ex_val *ret, bool b)
{
    *ret = (struct ex_val){.kind = EX_V_BOOL, .b = b};
}

/* ---- string predicates ------------------------------------------------- */

static bool contains_item(const struct ex_val *arr, const struct ex_val *needle)
{
    size_t n = ex__arr_len(arr);

    for (size_t i = 0; i < n; i++) {
        struct ex_val item;
        ex__val_from_json(ex__arr_at(arr, i), &item);
        if (ex__val_eq(needle, &item))
            return true;
    }
    return false;
}

static int fn_strpred(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret)
{
    struct ex_val a, b;
    char abuf[32], bbuf[32];
    const char *as, *bs;
    size_t alen, blen;
    int r;

    set_bool(ret, false);
    r = ex__eval(ev, n->args[0], &a);
    if (r < 0)
        return r;
    if (!ex__val_primitive(&a)) {
        if (n->fn != EX_F_CONTAINS || a.kind != EX_V_ARR || ex__arr_len(&a) == 0)
            return 0;
        r = ex__eval(ev, n->args[1], &b);
        if (r == 0)
            set_bool(ret, contains_item(&a, &b));
        return r;
    }
    r = ex__eval(ev, n->args[1], &b);
    if (r < 0 || !ex__val_primitive(&b))
        return r;
    ex__val_to_str(&a, abuf, &as, &alen);
    ex__val_to_str(&b, bbuf, &bs, &blen);
    if (n->fn == EX_F_CONTAINS)
        set_bool(ret, ex__ci_find(as, alen, bs, blen));
    else if (n->fn == EX_F_STARTSWITH)
        set_bool(ret, ex__ci_starts(as, alen, bs, blen));
    else
        set_bool(ret, ex__ci_ends(as, alen, bs, blen));
    return 0;
}

/* ---- format ------------------------------------------------------------ */

struct fmt_arg {
    bool done;
    enum ex_vkind kind;
    const char *s;
    size_t len;
};

struct fmt {
    struct ex_ev *ev;
    const struct ex_node *n;
    const char *f;
    size_t flen;
    struct ex_abuf *out; /* NULL while only checking the format string */
    struct fmt_arg *args;
};

static long find_ch(const char *s, size_t len, size_t from, char c)
{
    const char *p = from < len ? memchr(s + from, c, len - from) : NULL;
    return p ? (long)(p - s) : -1;
}

static char at(const struct fmt *f, size_t i)
{
    return i < f->flen ? f->f[i] : '\0';
}

/* Format.ReadArgIndex: digits forming a byte (0..255). */
static bool read_arg_index(const struct fmt *f, size_t start, unsigned *ret, size_t *ret_end)
{
    size_t i = start;
    unsigned v = 0;

    while (at(f, i) >= '0' && at(f, i) <= '9') {
        v = v * 10 + (unsigned)(at(f, i) - '0');
        if (v > 255)
            v = 256;
        i++;
    }
    if (i == start || v > 255)
        return false;
    *ret = v;
    *ret_end = i - 1;
    return true;
}

/* Format.ReadFormatSpecifiers: "}" or ":spec}" with "}}" escaping inside spec. */
static bool read_specs(const struct fmt *f, size_t start, struct gr_buf *spec, size_t *ret_rbrace)
{
    size_t i = start + 1;

    if (at(f, start) == '}') {
        *ret_rbrace = start;
        return true;
    }
    if (at(f, start) != ':')
        return false;
    for (;;) {
        if (i >= f->flen)
            return false;
        if (f->f[i] != '}') {
            if (gr_buf_addch(spec, f->f[i]) < 0)
                return false;
            i++;
        } else if (at(f, i + 1) == '}') {
            if (gr_buf_addch(spec, '}') < 0)
                return false;
            i += 2;
        } else {
            *ret_rbrace = i;
            return true;
        }
    }
}

static int fmt_emit(struct fmt *f, const char *s, size_t len)
{
    return f->out && len ? ex__abuf_add(f->ev, f->out, s, len) : 0;
}

static int fmt_arg(struct fmt *f, unsigned idx, const struct gr_buf *spec)
{
    struct fmt_arg *a = &f->args[idx];
    int r;

    if (!f->out)
        return 0;
    if (!a->done) {
        struct ex_val v;
        char buf[32];
        r = ex__eval(f->ev, f->n->args[idx + 1], &v);
        if (r < 0)
            return r;
        ex__val_to_str(&v, buf, &a->s, &a->len);
        if (a->s == buf) {
            char *p = ex__arena_alloc(&f->ev->ar, a->len + 1);
            memcpy(p, buf, a->len + 1);
            a->s = p;
        }
        a->kind = v.kind;
        a->done = true;
    }
    if (spec->len)
        return ex__ev_error(f->ev,
                            "The format specifiers '%s' are not valid for objects of type '%s'",
                            spec->ptr, ex__kind_name(a->kind));
    return fmt_emit(f, a->s, a->len);
}

static int fmt_invalid(struct fmt *f)
{
    return ex__ev_error(f->ev, "The following format string is invalid: %.*s", (int)f->flen, f->f);
}

static int fmt_lbrace(struct fmt *f, size_t *index, long lbrace, long rbrace)
{
    struct gr_buf spec = GR_BUF_INIT(EX_MAX_MEMORY / 2);
    unsigned argi;
    size_t end, rb;
    int r;

    if (at(f, (size_t)lbrace + 1) == '{') {
        r = fmt_emit(f, f->f + *index, (size_t)lbrace - *index + 1);
        *index = (size_t)lbrace + 2;
        return r;
    }
    if (!(rbrace > lbrace + 1 && read_arg_index(f, (size_t)lbrace + 1, &argi, &end) &&
          read_specs(f, end + 1, &spec, &rb))) {
        gr_buf_release(&spec);
        return fmt_invalid(f);
    }
    if ((long)argi > (long)f->n->nargs - 2) {
        gr_buf_release(&spec);
        return ex__ev_error(f->ev,
                            "The following format string references more arguments than were "
                            "supplied: %.*s",
                            (int)f->flen, f->f);
    }
    r = fmt_emit(f, f->f + *index, (size_t)lbrace - *index);
    if (r == 0)
        r = fmt_arg(f, argi, &spec);
    *index = rb + 1;
    gr_buf_release(&spec);
    return r;
}

static int fmt_scan(struct fmt *f)
{
    size_t index = 0;
    int r = 0;

    while (r == 0 && index < f->flen) {
        long lb = find_ch(f->f, f->flen, index, '{');
        long rb = find_ch(f->f, f->flen, index, '}');
        if (lb >= 0 && (rb < 0 || rb > lb)) {
            r = fmt_lbrace(f, &index, lb, rb);
        } else if (rb >= 0) {
            if (at(f, (size_t)rb + 1) != '}')
                return fmt_invalid(f);
            r = fmt_emit(f, f->f + index, (size_t)rb - index + 1);
            index = (size_t)rb + 2;
        } else {
            r = fmt_emit(f, f->f + index, f->flen - index);
            break;
        }
    }
    return r;
}

static int fn_format(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret)
{
    struct ex_abuf out = {0};
    struct ex_val fv;
    char buf[32];
    struct fmt f = {.ev = ev, .n = n};
    int r;

    r = ex__eval(ev, n->args[0], &fv);
    if (r < 0)
        return r;
    ex__val_to_str(&fv, buf, &f.f, &f.flen);
    if (n->nargs > 1) {
        f.args = ex__arena_alloc(&ev->ar, (n->nargs - 1) * sizeof(*f.args));
        memset(f.args, 0, (n->nargs - 1) * sizeof(*f.args));
    }
    /* First check the whole format string: the runner reports a bad format string
     * before it evaluates any argument. */
    r = fmt_scan(&f);
    if (r < 0)
        return r;
    f.out = &out;
    r = fmt_scan(&f);
    if (r < 0)
        return r;
    return abuf_string(ev, &out, ret);
}

/* ---- join, toJSON, fromJSON -------------------------------------------- */

static int join_items(struct ex_ev *ev, const struct ex_node *n, const struct ex_val *arr,
                      struct ex_abuf *out)
{
    size_t count = ex__arr_len(arr);
    const char *sep = ",";
    size_t seplen = 1;
    char buf[32], sbuf[32];
    int r = 0;

    if (count > 1 && n->nargs > 1) {
        struct ex_val sv;
        r = ex__eval(ev, n->args[1], &sv);
        if (r < 0)
            return r;
        if (ex__val_primitive(&sv))
            ex__val_to_str(&sv, sbuf, &sep, &seplen);
    }
    for (size_t i = 0; r == 0 && i < count; i++) {
        struct ex_val item;
        const char *s;
        size_t len;
        ex__val_from_json(ex__arr_at(arr, i), &item);
        ex__val_to_str(&item, buf, &s, &len);
        if (i && seplen)
            r = ex__abuf_add(ev, out, sep, seplen);
        if (r == 0 && len)
            r = ex__abuf_add(ev, out, s, len);
    }
    return r;
}

static int fn_join(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret)
{
    struct ex_abuf out = {0};
    struct ex_val v;
    char buf[32];
    const char *s;
    size_t len;
    int r;

    r = ex__eval(ev, n->args[0], &v);
    if (r < 0)
        return r;
    if (v.kind == EX_V_ARR && ex__arr_len(&v) > 0) {
        r = join_items(ev, n, &v, &out);
        return r < 0 ? r : abuf_string(ev, &out, ret);
    }
    if (ex__val_primitive(&v)) {
        ex__val_to_str(&v, buf, &s, &len);
        return arena_string(ev, s, len, ret);
    }
    *ret = (struct ex_val){.kind = EX_V_STR, .s = "", .len = 0};
    return 0;
}

static int fn_tojson(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret)
{
    struct gr_buf out = GR_BUF_INIT(EX_MAX_MEMORY / 2);
    struct ex_val v;
    int r;

    r = ex__eval(ev, n->args[0], &v);
    if (r < 0)
        return r;
    return buf_string(ev, &out, ex__to_json_buf(&v, &out), ret);
}

static int fn_fromjson(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret)
{
    struct ex_val v;
    char buf[32];
    const char *s;
    size_t len;
    json_t *j;
    int r;

    r = ex__eval(ev, n->args[0], &v);
    if (r < 0)
        return r;
    ex__val_to_str(&v, buf, &s, &len);
    j = ex__json_parse(s, len); /* see expr_json.c */
    if (!j)
        return ex__ev_error(ev, "Error parsing fromJson");
    ex__arena_own(&ev->ar, j);
    ex__val_from_json(j, ret);
    return 0;
}

/* ---- case and the status functions ------------------------------------- */

static int fn_case(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret)
{
    struct ex_val pred;
    int r;

    for (size_t i = 0; i + 1 < n->nargs; i += 2) {
        r = ex__eval(ev, n->args[i], &pred);
        if (r < 0)
            return r;
        if (pred.kind != EX_V_BOOL)
            return ex__ev_error(ev, "case predicate must evaluate to a boolean value");
        if (pred.b)
            return ex__eval(ev, n->args[i + 1], ret);
    }
    return ex__eval(ev, n->args[n->nargs - 1], ret);
}

static bool status_is(const struct ex_ev *ev, const char *want)
{
    const char *s = ev->env && ev->env->status ? ev->env->status : "success";
    return strcmp(s, want) == 0;
}

int ex__eval_fn(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret)
{
    switch (n->fn) {
    case EX_F_CONTAINS:
    case EX_F_STARTSWITH:
    case EX_F_ENDSWITH:
        return fn_strpred(ev, n, ret);
    case EX_F_FORMAT:
        return fn_format(ev, n, ret);
    case EX_F_JOIN:
        return fn_join(ev, n, ret);
    case EX_F_TOJSON:
        return fn_tojson(ev, n, ret);
    case EX_F_FROMJSON:
        return fn_fromjson(ev, n, ret);
    case EX_F_CASE:
        return fn_case(ev, n, ret);
    case EX_F_SUCCESS:
        set_bool(ret, status_is(ev, "success"));
        return 0;
    case EX_F_FAILURE:
        set_bool(ret, status_is(ev, "failure"));
        return 0;
    case EX_F_CANCELLED:
        set_bool(ret, status_is(ev, "cancelled"));
        return 0;
    case EX_F_ALWAYS:
        set_bool(ret, true);
        return 0;
    case EX_F_HASHFILES:
        return ex__hashfiles(ev, n, ret);
    }
    return ex__ev_error(ev, "Unrecognized function: '%s'", n->str);
}
