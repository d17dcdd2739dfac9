/*
 * Expression evaluator: walks the tree over borrowed json_t contexts.
 * Operators follow actions/runner src/Sdk/Expressions/Sdk/Operators/ (And.cs, Index.cs, ...):
 * && and || return an operand (not a boolean), ! and the comparisons return
 * booleans, and Index.cs gives property access (case-insensitive keys),
 * array indexing (numbers floored, out of range is null) and the .* / [*]
 * object filters, whose results index element-wise.
 *
 * Recursion depth is bounded by EX_EXPR_MAX_DEPTH, checked at parse time.
 */
#include "expr_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ------------------------------------------------------------- */

void ex__arena_init(struct ex_arena *ar)
{
    ar->chunks = NULL;
    ar->owned = NULL;
    ar->nowned = ar->capowned = 0;
    ar->total = 0;
    ar->inl_used = 0;
}

void *ex__arena_alloc(struct ex_arena *ar, size_t n)
{
    struct ex_chunk *c = ar->chunks;
    void *p;

    n = (n + 15) & ~(size_t)15;
    if (EX_ARENA_INLINE - ar->inl_used >= n) {
        p = ar->inl + ar->inl_used;
        ar->inl_used += n;
        ar->total += n;
        return p;
    }
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        c = gr_xmalloc(sizeof(*c) + cap);
        c->cap = cap;
        c->used = 0;
        c->next = ar->chunks;
        ar->chunks = c;
    }
    p = c->data + c->used;
    c->used += n;
    ar->total += n;
    return p;
}

void ex__arena_own(struct ex_arena *ar, json_t *j)
{
    GR_GROW(ar->owned, ar->capowned, ar->nowned + 1);
    ar->owned[ar->nowned++] = j;
}

void ex__arena_release(struct ex_arena *ar)
{
    while (ar->chunks) {
        struct ex_chunk *next = ar->chunks->next;
        free(ar->chunks);
        ar->chunks = next;
    }
    for (size_t i = 0; i < ar->nowned; i++)
        json_decref(ar->owned[i]);
    free(ar->owned);
    ex__arena_init(ar);
}

int ex__abuf_add(struct ex_ev *ev, struct ex_abuf *b, const char *s, size_t n)
{
    if (n > EX_MAX_MEMORY / 2 || b->len + n > EX_MAX_MEMORY / 2)
        return ex__ev_error(ev,
                            "The maximum allowed memory size was exceeded while evaluating the "
                            "following expression: %.*s",
                            (int)ev->expr->len, ev->expr->src);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = ex__arena_alloc(&ev->ar, cap);
        if (b->len)
            memcpy(p, b->p, b->len);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return ex__ev_check_memory(ev);
}

int ex__ev_error(struct ex_ev *ev, const char *fmt, ...)
{
    va_list ap;

    if (!ev->err)
        return GR_EEXPR;
    va_start(ap, fmt);
    vsnprintf(ev->err->msg, sizeof(ev->err->msg), fmt, ap);
    va_end(ap);
    ev->err->file = NULL;
    ev->err->line = 0;
    ev->err->col = 0;
    return GR_EEXPR;
}

int ex__ev_check_memory(struct ex_ev *ev)
{
    if (ev->ar.total <= EX_MAX_MEMORY)
        return 0;
    return ex__ev_error(ev,
                        "The maximum allowed memory size was exceeded while evaluating the "
                        "following expression: %.*s",
                        (int)ev->expr->len, ev->expr->src);
}

/* ---- filtered arrays --------------------------------------------------- */

static struct ex_farr *farr_new(struct ex_ev *ev)
{
    struct ex_farr *fa = ex__arena_alloc(&ev->ar, sizeof(*fa));
    *fa = (struct ex_farr){0};
    return fa;
}

static int farr_add(struct ex_ev *ev, struct ex_farr *fa, json_t *item)
{
    if (fa->n == fa->cap) {
        size_t cap = fa->cap ? fa->cap * 2 : 8;
        json_t **items = ex__arena_alloc(&ev->ar, cap * sizeof(*items));
        if (fa->n)
            memcpy(items, fa->items, fa->n * sizeof(*items));
        fa->items = items;
        fa->cap = cap;
    }
    fa->items[fa->n++] = item;
    return ex__ev_check_memory(ev);
}

static int farr_add_all(struct ex_ev *ev, struct ex_farr *fa, json_t *coll)
{
    const char *k;
    json_t *v;
    size_t i;
    int r = 0;

    if (json_is_object(coll)) {
        json_object_foreach(coll, k, v)
        {
            r = farr_add(ev, fa, v);
            if (r < 0)
                return r;
        }
    } else {
        json_array_foreach(coll, i, v)
        {
            r = farr_add(ev, fa, v);
            if (r < 0)
                return r;
        }
    }
    return r;
}

/* ---- indexing ---------------------------------------------------------- */

struct index_key {
    bool has_str, has_int;
    const char *s;
    size_t len;
    size_t i;
    char buf[32];
};

/* IndexHelper: the key as a string (primitives) and as an integer (>= 0, floored). */
static void index_key(const struct ex_val *k, struct index_key *ret)
{
    double d = ex__val_to_number(k);

    ret->has_str = ex__val_primitive(k);
    if (ret->has_str)
        ex__val_to_str(k, ret->buf, &ret->s, &ret->len);
    ret->has_int = !(isnan(d) || d < 0);
    if (ret->has_int) {
        d = floor(d);
        ret->has_int = d <= 2147483647.0;
        ret->i = ret->has_int ? (size_t)d : 0;
    }
}

static json_t *obj_get(json_t *obj, const char *key, size_t klen)
{
    const char *k;
    json_t *v;

    v = json_object_getn(obj, key, klen);
    if (v)
        return v;
    json_object_foreach(obj, k, v)
    {
        if (ex__ci_eq(k, strlen(k), key, klen))
            return v;
    }
    return NULL;
}

static json_t *keyed(json_t *coll, const struct index_key *key)
{
    if (json_is_object(coll))
        return key->has_str ? obj_get(coll, key->s, key->len) : NULL;
    if (json_is_array(coll))
        return key->has_int ? json_array_get(coll, key->i) : NULL;
    return NULL;
}

static int index_filtered(struct ex_ev *ev, const struct ex_val *left, bool wild,
                          const struct index_key *key, struct ex_val *ret)
{
    struct ex_farr *fa = farr_new(ev);
    int r = 0;

    for (size_t i = 0; r == 0 && i < left->fa->n; i++) {
        json_t *item = left->fa->items[i];
        json_t *v;
        if (!json_is_object(item) && !json_is_array(item))
            continue;
        if (wild) {
            r = farr_add_all(ev, fa, item);
            continue;
        }
        v = keyed(item, key);
        if (v)
            r = farr_add(ev, fa, v);
    }
    *ret = (struct ex_val){.kind = EX_V_ARR, .fa = fa};
    return r;
}

static int eval_index(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret)
{
    const struct ex_node *rn = n->args[1];
    bool wild = rn->kind == EX_N_WILDCARD;
    struct ex_val left, k;
    struct index_key key;
    json_t *v;
    int r;

    r = ex__eval(ev, n->args[0], &left);
    if (r < 0)
        return r;
    if (left.kind != EX_V_ARR && left.kind != EX_V_OBJ) {
        *ret = wild ? (struct ex_val){.kind = EX_V_ARR, .fa = farr_new(ev)}
                    : (struct ex_val){.kind = EX_V_NULL};
        return 0;
    }
    if (wild && left.fa) {
        return index_filtered(ev, &left, true, NULL, ret);
    } else if (wild) {
        struct ex_farr *fa = farr_new(ev);
        *ret = (struct ex_val){.kind = EX_V_ARR, .fa = fa};
        return farr_add_all(ev, fa, left.j);
    }
    if (rn->kind == EX_N_LITERAL && rn->lit.kind == EX_V_STR && left.kind == EX_V_OBJ) {
        v = obj_get(left.j, rn->lit.s, rn->lit.len); /* fast path: a.b */
    } else {
        r = ex__eval(ev, rn, &k);
        if (r < 0)
            return r;
        index_key(&k, &key);
        if (left.fa)
            return index_filtered(ev, &left, false, &key, ret);
        v = keyed(left.j, &key);
    }
    if (v)
        ex__val_from_json(v, ret);
    else
        *ret = (struct ex_val){.kind = EX_V_NULL};
    return 0;
}

/* ---- logic ------------------------------------------------------------- */

static int eval_andor(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret)
{
    bool want = n->kind == EX_N_OR; /* stop at the first operand whose truthiness is want */
    int r;

    for (size_t i = 0; i < n->nargs; i++) {
        r = ex__eval(ev, n->args[i], ret);
        if (r < 0)
            return r;
        if (ex__val_truthy(ret) == want)
            return 0;
    }
    return 0;
}

static int eval_cmp(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret)
{
    struct ex_val a, b;
    bool res;
    int r;

    r = ex__eval(ev, n->args[0], &a);
    if (r == 0)
        r = ex__eval(ev, n->args[1], &b);
    if (r < 0)
        return r;
    switch (n->op) {
    case EX_OP_EQ:
        res = ex__val_eq(&a, &b);
        break;
    case EX_OP_NE:
        res = !ex__val_eq(&a, &b);
        break;
    case EX_OP_GT:
        res = ex__val_gt(&a, &b);
        break;
    case EX_OP_GE:
        res = ex__val_eq(&a, &b) || ex__val_gt(&a, &b);
        break;
    case EX_OP_LT:
        res = ex__val_lt(&a, &b);
        break;
    default: /* EX_OP_LE */
        res = ex__val_eq(&a, &b) || ex__val_lt(&a, &b);
        break;
    }
    *ret = (struct ex_val){.kind = EX_V_BOOL, .b = res};
    return 0;
}

int ex__eval(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret)
{
    json_t *v;
    int r;

    switch (n->kind) {
    case EX_N_LITERAL:
        *ret = n->lit;
        return 0;
    case EX_N_CONTEXT:
        v = ev->env && ev->env->contexts ? json_object_get(ev->env->contexts, n->ctx) : NULL;
        if (v)
            ex__val_from_json(v, ret);
        else
            *ret = (struct ex_val){.kind = EX_V_NULL};
        return 0;
    case EX_N_WILDCARD: /* only reachable as an index, handled there */
        *ret = (struct ex_val){.kind = EX_V_STR, .s = "*", .len = 1};
        return 0;
    case EX_N_INDEX:
        return eval_index(ev, n, ret);
    case EX_N_NOT:
        r = ex__eval(ev, n->args[0], ret);
        if (r < 0)
            return r;
        *ret = (struct ex_val){.kind = EX_V_BOOL, .b = !ex__val_truthy(ret)};
        return 0;
    case EX_N_AND:
    case EX_N_OR:
        return eval_andor(ev, n, ret);
    case EX_N_CMP:
        return eval_cmp(ev, n, ret);
    default:
        return ex__eval_fn(ev, n, ret);
    }
}

/* ---- public ------------------------------------------------------------ */

/* Numbers that are whole come back as JSON integers, so callers print them without ".0". */
static json_t *result_json(const struct ex_val *v)
{
    if (v->kind == EX_V_NUM && v->n == floor(v->n) && fabs(v->n) <= 9007199254740992.0)
        return json_integer((json_int_t)v->n);
    return ex__val_to_json(v);
}

int ex_expr_eval(const struct ex_expr *e, const struct ex_eval_env *env, json_t **ret,
                 struct gr_diag *reterr)
{
    struct ex_ev ev; /* not zeroed whole: the arena's inline buffer stays raw */
    struct ex_val v = {.kind = EX_V_NULL};
    int r = 0;

    ev.env = env;
    ev.expr = e;
    ev.err = reterr;
    ex__arena_init(&ev.ar);
    if (e->root)
        r = ex__eval(&ev, e->root, &v);
    if (r == 0)
        *ret = result_json(&v);
    ex__arena_release(&ev.ar);
    return r;
}

int ex_expr_eval_str(const char *src, const struct ex_eval_env *env, json_t **ret,
                     struct gr_diag *reterr)
{
    struct ex_expr *e = NULL;
    int r;

    r = ex_expr_parse(src, strlen(src), EX_CTX_ALL, EX_FN_ALL, &e, reterr);
    if (r < 0)
        return r;
    r = ex_expr_eval(e, env, ret, reterr);
    ex_expr_free(e);
    return r;
}
