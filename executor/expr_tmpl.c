/*
 * Templates ("a ${{ x }} b") and `if:` conditions, as actions/runner
 * src/Sdk/WorkflowParser/ObjectTemplating/TemplateReader.cs ParseScalar (the
 * closing }} is searched outside '...' literals; a value that is exactly one
 * ${{ }} keeps its type, anything else becomes format() of the parts, i.e. a
 * string) and WorkflowTemplateConverter.ConvertToIfCondition (empty means
 * success(); without a status function the condition is success() && (...)).
 */
#include "expr_internal.h"

#include <stdlib.h>
#include <string.h>

struct seg {
    bool is_expr;
    size_t start, len; /* expression: the trimmed text between ${{ and }} */
    size_t open;       /* expression: offset of its ${{ */
};

struct segs {
    struct seg *v;
    size_t n, cap;
};

static void seg_add(struct segs *ss, bool is_expr, size_t start, size_t len, size_t open)
{
    GR_GROW(ss->v, ss->cap, ss->n + 1);
    ss->v[ss->n++] = (struct seg){.is_expr = is_expr, .start = start, .len = len, .open = open};
}

static bool ws_at_end(const char *s, size_t len, size_t *ret_sp)
{
    /* Unicode spaces are at most 3 bytes: try each length. */
    for (size_t k = 1; k <= 3 && k <= len; k++) {
        if (ex__space_len(s + len - k, k) == k) {
            *ret_sp = k;
            return true;
        }
    }
    return false;
}

static void trim(const char *s, size_t *start, size_t *len)
{
    size_t sp;

    while (*len && (sp = ex__space_len(s + *start, *len)) > 0) {
        *start += sp;
        *len -= sp;
    }
    while (*len && ws_at_end(s + *start, *len, &sp))
        *len -= sp;
}

/* Find the end of the expression opened at open: the index just past "}}", or 0. */
static size_t find_close(const char *s, size_t len, size_t open)
{
    bool in_str = false;

    for (size_t i = open + 3; i < len; i++) {
        if (s[i] == '\'')
            in_str = !in_str; /* 'a''b' toggles twice, which is fine */
        else if (!in_str && s[i] == '}' && s[i - 1] == '}')
            return i + 1;
    }
    return 0;
}

static int split(const char *s, struct segs *ss, struct gr_diag *reterr)
{
    size_t len = strlen(s), i = 0;
    const char *p = strstr(s, "${{");

    while (p) {
        size_t open = (size_t)(p - s), end, start, elen;
        if (open > i)
            seg_add(ss, false, i, open - i, 0);
        end = find_close(s, len, open);
        if (end == 0)
            return gr_diag_set(reterr, GR_EEXPR, NULL, 0, ex__char_col(s, open),
                               "The expression is not closed. An unescaped ${{ sequence was "
                               "found, but the closing }} sequence was not found.");
        start = open + 3;
        elen = end - 2 - start;
        trim(s, &start, &elen);
        if (elen == 0)
            return gr_diag_set(reterr, GR_EEXPR, NULL, 0, ex__char_col(s, open),
                               "An expression was expected");
        seg_add(ss, true, start, elen, open);
        i = end;
        p = strstr(s + i, "${{");
    }
    if (i < len)
        seg_add(ss, false, i, len - i, 0);
    return 0;
}

static int parse_seg(const char *s, const struct seg *sg, unsigned allowed_ctx, unsigned allowed_fn,
                     struct ex_expr **ret, struct gr_diag *reterr)
{
    int r = ex_expr_parse(s + sg->start, sg->len, allowed_ctx, allowed_fn, ret, reterr);

    /* Columns count from the start of the template, not of the expression. */
    if (r < 0 && reterr && reterr->col > 0)
        reterr->col += ex__char_col(s, sg->start) - 1;
    else if (r < 0 && reterr)
        reterr->col = ex__char_col(s, sg->open);
    return r;
}

bool ex_tmpl_has_expr(const char *s)
{
    return s && strstr(s, "${{") != NULL;
}

int ex_tmpl_check(const char *s, unsigned allowed_ctx, unsigned allowed_fn, struct gr_diag *reterr)
{
    struct segs ss = {0};
    struct ex_expr *e = NULL;
    int r;

    r = split(s, &ss, reterr);
    for (size_t i = 0; r == 0 && i < ss.n; i++) {
        if (!ss.v[i].is_expr)
            continue;
        r = parse_seg(s, &ss.v[i], allowed_ctx, allowed_fn, &e, reterr);
        ex_expr_free(e);
        e = NULL;
    }
    free(ss.v);
    return r;
}

static int eval_seg(const char *s, const struct seg *sg, const struct ex_eval_env *env,
                    json_t **ret, bool *ret_status, struct gr_diag *reterr)
{
    struct ex_expr *e = NULL;
    int r;

    r = parse_seg(s, sg, EX_CTX_ALL, EX_FN_ALL, &e, reterr);
    if (r < 0)
        return r;
    if (ret_status)
        *ret_status = *ret_status || ex_expr_uses_status(e);
    r = ex_expr_eval(e, env, ret, reterr);
    ex_expr_free(e);
    return r;
}

/* Join the parts as strings, as the format() call the runner builds does. */
static int join_segs(const char *s, const struct segs *ss, const struct ex_eval_env *env,
                     json_t **ret, bool *ret_status, struct gr_diag *reterr)
{
    struct gr_buf b = GR_BUF_INIT(0);
    int r = 0;

    for (size_t i = 0; r == 0 && i < ss->n; i++) {
        const struct seg *sg = &ss->v[i];
        json_t *v = NULL;
        char *str;
        if (!sg->is_expr) {
            r = gr_buf_add(&b, s + sg->start, sg->len);
            continue;
        }
        r = eval_seg(s, sg, env, &v, ret_status, reterr);
        if (r < 0)
            break;
        str = ex_value_to_string(v);
        r = gr_buf_adds(&b, str);
        free(str);
        json_decref(v);
    }
    if (r == 0)
        *ret = json_stringn(b.ptr, b.len);
    gr_buf_release(&b);
    return r;
}

int ex_tmpl_eval(const char *s, const struct ex_eval_env *env, json_t **ret, struct gr_diag *reterr)
{
    struct segs ss = {0};
    int r;

    if (!ex_tmpl_has_expr(s)) {
        *ret = json_string(s ? s : "");
        return 0;
    }
    r = split(s, &ss, reterr);
    if (r == 0 && ss.n == 1 && ss.v[0].is_expr)
        r = eval_seg(s, &ss.v[0], env, ret, NULL, reterr);
    else if (r == 0)
        r = join_segs(s, &ss, env, ret, NULL, reterr);
    free(ss.v);
    return r;
}

static bool job_ok(const struct ex_eval_env *env)
{
    return !env || !env->status || strcmp(env->status, "success") == 0;
}

static int if_expr(const char *src, size_t len, const struct ex_eval_env *env, bool *ret,
                   struct gr_diag *reterr)
{
    struct ex_expr *e = NULL;
    json_t *v = NULL;
    int r;

    r = ex_expr_parse(src, len, EX_CTX_ALL, EX_FN_ALL, &e, reterr);
    if (r < 0)
        return r;
    if (!e->root || (!e->uses_status && !job_ok(env))) {
        *ret = job_ok(env);
        goto out;
    }
    r = ex_expr_eval(e, env, &v, reterr);
    if (r == 0)
        *ret = ex_value_truthy(v);
out:
    json_decref(v);
    ex_expr_free(e);
    return r;
}

/* An `if:` mixing text and ${{ }}: a string, true when not empty. */
static int if_template(const char *s, const struct segs *ss, const struct ex_eval_env *env,
                       bool *ret, struct gr_diag *reterr)
{
    bool uses_status = false;
    json_t *v = NULL;
    int r;

    r = join_segs(s, ss, env, &v, &uses_status, reterr);
    if (r == 0)
        *ret = (uses_status || job_ok(env)) && ex_value_truthy(v);
    json_decref(v);
    return r;
}

int ex_if_eval(const char *cond, const struct ex_eval_env *env, bool *ret, struct gr_diag *reterr)
{
    struct segs ss = {0};
    size_t start = 0, len = cond ? strlen(cond) : 0;
    char *text;
    int r;

    trim(cond ? cond : "", &start, &len);
    if (len == 0) {
        *ret = job_ok(env);
        return 0;
    }
    if (!ex_tmpl_has_expr(cond))
        return if_expr(cond + start, len, env, ret, reterr);
    /* YAML hands over the scalar trimmed; an `if:` that is one ${{ }} is that expression. */
    text = gr_xstrndup(cond + start, len);
    r = split(text, &ss, reterr);
    if (r == 0 && ss.n == 1 && ss.v[0].is_expr)
        r = if_expr(text + ss.v[0].start, ss.v[0].len, env, ret, reterr);
    else if (r == 0)
        r = if_template(text, &ss, env, ret, reterr);
    free(ss.v);
    free(text);
    return r;
}
