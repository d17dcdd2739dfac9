/*
 * Expression parser: the runner's operator-precedence algorithm (actions/runner
 * src/Sdk/Expressions/ExpressionParser.cs, Tokens/Token.cs) with an operand
 * and an operator stack, no recursion. Nested && and || are flattened as the
 * runner does, which matters for the depth limit (ExpressionConstants.MaxDepth).
 * Error texts are ParseException's: "Unexpected symbol: 'x'. Located at
 * position N within expression: ...", N counted in UTF-16 units from 1.
 */
#include "expr_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const ctx_names[] = {
    "github", "env", "vars", "secrets", "matrix",   "needs",
    "steps",  "job", "jobs", "runner",  "strategy", "inputs",
};

const char *ex_ctx_name(unsigned bit)
{
    for (size_t i = 0; i < GR_ARRAY_SIZE(ctx_names); i++)
        if (bit == 1u << i)
            return ctx_names[i];
    return NULL;
}

unsigned ex_ctx_bit(const char *name, size_t len)
{
    for (size_t i = 0; i < GR_ARRAY_SIZE(ctx_names); i++)
        if (strlen(ctx_names[i]) == len && strncasecmp(ctx_names[i], name, len) == 0)
            return 1u << i;
    return 0;
}

struct fn_info {
    const char *name;
    enum ex_fn_id id;
    unsigned min, max;
    unsigned need; /* enum ex_fn_bit, 0 for the always-available ones */
};

/* ExpressionConstants.cs; the status functions and hashFiles as StepsRunner.cs registers them. */
static const struct fn_info fns[] = {
    {"contains", EX_F_CONTAINS, 2, 2, 0},
    {"startsWith", EX_F_STARTSWITH, 2, 2, 0},
    {"endsWith", EX_F_ENDSWITH, 2, 2, 0},
    {"format", EX_F_FORMAT, 1, 255, 0},
    {"join", EX_F_JOIN, 1, 2, 0},
    {"toJson", EX_F_TOJSON, 1, 1, 0},
    {"fromJson", EX_F_FROMJSON, 1, 1, 0},
    {"case", EX_F_CASE, 3, 255, 0},
    {"success", EX_F_SUCCESS, 0, 0, EX_FN_STATUS},
    {"failure", EX_F_FAILURE, 0, 0, EX_FN_STATUS},
    {"cancelled", EX_F_CANCELLED, 0, 0, EX_FN_STATUS},
    {"always", EX_F_ALWAYS, 0, 0, EX_FN_STATUS},
    {"hashFiles", EX_F_HASHFILES, 1, 255, EX_FN_HASHFILES},
};

static const struct fn_info *fn_lookup(const char *s, size_t len, unsigned allowed)
{
    for (size_t i = 0; i < GR_ARRAY_SIZE(fns); i++)
        if (strlen(fns[i].name) == len && strncasecmp(fns[i].name, s, len) == 0)
            return (fns[i].need & ~allowed) ? NULL : &fns[i];
    return NULL;
}

struct ex_node *ex__node_new(enum ex_node_kind kind, size_t pos, size_t tlen)
{
    struct ex_node *n = gr_xcalloc(1, sizeof(*n));

    n->kind = kind;
    n->pos = pos;
    n->tlen = tlen;
    n->depth = 1;
    return n;
}

void ex__node_add(struct ex_node *n, struct ex_node *child)
{
    GR_GROW(n->args, n->capargs, n->nargs + 1);
    n->args[n->nargs++] = child;
    if (child->depth + 1 > n->depth)
        n->depth = child->depth + 1;
}

void ex__node_free(struct ex_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nargs; i++)
        ex__node_free(n->args[i]);
    free(n->args);
    free(n->str);
    free(n);
}

/* ---- parse state ------------------------------------------------------- */

struct pctx {
    const char *src;
    size_t len;
    unsigned allowed_ctx, allowed_fn;
    struct ex_lexer lx;
    struct ex_tok tok, last;
    struct ex_node **opnd;
    size_t nopnd, capopnd;
    struct ex_tok *ops;
    size_t nops, capops;
    struct gr_diag *err;
};

enum { DESC_UNEXPECTED, DESC_END, DESC_FUNC, DESC_NAMED, DESC_FEW, DESC_MANY, DESC_EVEN };

static const char *const descs[] = {
    "Unexpected symbol",
    "Unexpected end of expression",
    "Unrecognized function",
    "Unrecognized named-value",
    "Too few parameters supplied",
    "Too many parameters supplied",
    "Even number of parameters supplied, requires an odd number of parameters",
};

static int perr(struct pctx *p, int desc, size_t pos, size_t tlen)
{
    return gr_diag_set(p->err, GR_EEXPR, NULL, 0, ex__char_col(p->src, pos),
                       "%s: '%.*s'. Located at position %zu within expression: %.*s", descs[desc],
                       (int)tlen, p->src + pos, ex__utf16_pos(p->src, pos), (int)p->len, p->src);
}

static bool tok_is_operator(const struct ex_tok *t)
{
    switch (t->kind) {
    case EX_TK_START_GROUP:
    case EX_TK_START_INDEX:
    case EX_TK_START_PARAMS:
    case EX_TK_END_GROUP:
    case EX_TK_END_INDEX:
    case EX_TK_END_PARAMS:
    case EX_TK_SEPARATOR:
    case EX_TK_DEREF:
    case EX_TK_LOGICAL:
        return true;
    default:
        return false;
    }
}

static int tok_precedence(const struct ex_tok *t)
{
    switch (t->kind) {
    case EX_TK_START_GROUP:
        return 20;
    case EX_TK_START_INDEX:
    case EX_TK_START_PARAMS:
    case EX_TK_DEREF:
        return 19;
    case EX_TK_LOGICAL:
        switch (t->op) {
        case EX_OP_NOT:
            return 16;
        case EX_OP_GT:
        case EX_OP_GE:
        case EX_OP_LT:
        case EX_OP_LE:
            return 11;
        case EX_OP_EQ:
        case EX_OP_NE:
            return 10;
        case EX_OP_AND:
            return 6;
        case EX_OP_OR:
            return 5;
        default:
            return 0;
        }
    case EX_TK_END_GROUP:
    case EX_TK_END_INDEX:
    case EX_TK_END_PARAMS:
    case EX_TK_SEPARATOR:
        return 1;
    default:
        return 0;
    }
}

static bool tok_left_to_right(const struct ex_tok *t)
{
    if (t->kind == EX_TK_START_GROUP || (t->kind == EX_TK_LOGICAL && t->op == EX_OP_NOT))
        return false;
    return tok_is_operator(t);
}

static void push_opnd(struct pctx *p, struct ex_node *n)
{
    GR_GROW(p->opnd, p->capopnd, p->nopnd + 1);
    p->opnd[p->nopnd++] = n;
}

static struct ex_node *pop_opnd(struct pctx *p)
{
    return p->nopnd ? p->opnd[--p->nopnd] : NULL;
}

static void push_op(struct pctx *p, const struct ex_tok *t)
{
    GR_GROW(p->ops, p->capops, p->nops + 1);
    p->ops[p->nops++] = *t;
}

/* ---- operands ---------------------------------------------------------- */

static struct ex_node *literal_node(struct ex_tok *t)
{
    struct ex_node *n = ex__node_new(EX_N_LITERAL, t->pos, t->len);

    switch (t->kind) {
    case EX_TK_NULL:
        n->lit.kind = EX_V_NULL;
        break;
    case EX_TK_BOOL:
        n->lit.kind = EX_V_BOOL;
        n->lit.b = t->b;
        break;
    case EX_TK_NUMBER:
        n->lit.kind = EX_V_NUM;
        n->lit.n = t->num;
        break;
    default: /* string or property name */
        n->lit.kind = EX_V_STR;
        n->str = t->str;
        n->lit.s = t->str;
        n->lit.len = t->slen;
        t->str = NULL;
        break;
    }
    return n;
}

static int push_operand(struct pctx *p)
{
    struct ex_tok *t = &p->tok;
    struct ex_node *n;

    if (t->kind == EX_TK_FUNCTION) {
        const struct fn_info *fi = fn_lookup(p->src + t->pos, t->len, p->allowed_fn);
        if (!fi)
            return perr(p, DESC_FUNC, t->pos, t->len);
        n = ex__node_new(EX_N_FUNC, t->pos, t->len);
        n->fn = fi->id;
        n->str = gr_xstrndup(fi->name, strlen(fi->name));
    } else if (t->kind == EX_TK_NAMED) {
        unsigned bit = ex_ctx_bit(p->src + t->pos, t->len);
        if (!(bit & p->allowed_ctx))
            return perr(p, DESC_NAMED, t->pos, t->len);
        n = ex__node_new(EX_N_CONTEXT, t->pos, t->len);
        n->ctx = ex_ctx_name(bit);
    } else if (t->kind == EX_TK_WILDCARD) {
        n = ex__node_new(EX_N_WILDCARD, t->pos, t->len);
    } else if (t->kind == EX_TK_PROPERTY) {
        t->str = gr_xstrndup(p->src + t->pos, t->len);
        t->slen = t->len;
        n = literal_node(t);
    } else {
        n = literal_node(t);
    }
    push_opnd(p, n);
    return 0;
}

/* ---- operators --------------------------------------------------------- */

static struct ex_node *operator_node(const struct ex_tok *t)
{
    if (t->kind == EX_TK_DEREF || t->kind == EX_TK_START_INDEX)
        return ex__node_new(EX_N_INDEX, t->pos, t->len);
    switch (t->op) {
    case EX_OP_NOT:
        return ex__node_new(EX_N_NOT, t->pos, t->len);
    case EX_OP_AND:
        return ex__node_new(EX_N_AND, t->pos, t->len);
    case EX_OP_OR:
        return ex__node_new(EX_N_OR, t->pos, t->len);
    default: {
        struct ex_node *n = ex__node_new(EX_N_CMP, t->pos, t->len);
        n->op = t->op;
        return n;
    }
    }
}

/* Pop count operands in their listed order and add them to n, flattening && and ||. */
static void take_operands(struct pctx *p, struct ex_node *n, size_t count)
{
    size_t base = p->nopnd >= count ? p->nopnd - count : 0;

    for (size_t i = base; i < p->nopnd; i++) {
        struct ex_node *c = p->opnd[i];
        if ((n->kind == EX_N_AND || n->kind == EX_N_OR) && c->kind == n->kind) {
            for (size_t k = 0; k < c->nargs; k++)
                ex__node_add(n, c->args[k]);
            c->nargs = 0;
            ex__node_free(c);
            continue;
        }
        ex__node_add(n, c);
    }
    p->nopnd = base;
}

static int check_arity(struct pctx *p, const struct ex_node *fn)
{
    const struct fn_info *fi = fn_lookup(fn->str, strlen(fn->str), EX_FN_ALL);

    /* The function's name token is reported, as GitHub's service does (languageservices
     * expressions/testdata/case.json). */
    if (fn->nargs < fi->min)
        return perr(p, DESC_FEW, fn->pos, fn->tlen);
    if (fn->nargs > fi->max)
        return perr(p, DESC_MANY, fn->pos, fn->tlen);
    if (fi->id == EX_F_CASE && fn->nargs % 2 == 0)
        return perr(p, DESC_EVEN, fn->pos, fn->tlen);
    return 0;
}

static int flush_end_params(struct pctx *p)
{
    struct ex_node *fn;

    p->nops--; /* ")" */
    if (p->last.kind == EX_TK_START_PARAMS) {
        fn = p->opnd[p->nopnd - 1];
    } else {
        size_t count = 1;
        while (p->nops && p->ops[p->nops - 1].kind == EX_TK_SEPARATOR) {
            count++;
            p->nops--;
        }
        size_t base = p->nopnd - count;
        fn = p->opnd[base - 1];
        for (size_t i = base; i < p->nopnd; i++)
            ex__node_add(fn, p->opnd[i]);
        p->nopnd = base;
    }
    p->nops--; /* "(" */
    return check_arity(p, fn);
}

static int flush_top(struct pctx *p)
{
    struct ex_tok *top = &p->ops[p->nops - 1];
    struct ex_node *n;

    switch (top->kind) {
    case EX_TK_END_GROUP:
        p->nops -= 2;
        return 0;
    case EX_TK_END_INDEX:
        p->nops--;
        n = operator_node(&p->ops[--p->nops]);
        take_operands(p, n, 2);
        push_opnd(p, n);
        return 0;
    case EX_TK_END_PARAMS:
        return flush_end_params(p);
    default:
        break;
    }
    p->nops--;
    n = operator_node(top);
    take_operands(p, n, top->kind == EX_TK_LOGICAL && top->op == EX_OP_NOT ? 1 : 2);
    push_opnd(p, n);
    return 0;
}

static bool stops_flush(enum ex_tok_kind k)
{
    return k == EX_TK_START_GROUP || k == EX_TK_START_INDEX || k == EX_TK_START_PARAMS ||
           k == EX_TK_SEPARATOR;
}

static int push_operator(struct pctx *p)
{
    int r;

    if (tok_left_to_right(&p->tok)) {
        int prec = tok_precedence(&p->tok);
        while (p->nops) {
            struct ex_tok *top = &p->ops[p->nops - 1];
            if (prec > tok_precedence(top) || stops_flush(top->kind))
                break;
            r = flush_top(p);
            if (r < 0)
                return r;
        }
    }
    push_op(p, &p->tok);
    if (p->tok.kind == EX_TK_END_GROUP || p->tok.kind == EX_TK_END_INDEX ||
        p->tok.kind == EX_TK_END_PARAMS)
        return flush_top(p);
    return 0;
}

static int check_end(struct pctx *p)
{
    bool bad;

    if (!p->nops)
        return 0;
    switch (p->last.kind) {
    case EX_TK_END_GROUP:
    case EX_TK_END_INDEX:
    case EX_TK_END_PARAMS:
        bad = false;
        break;
    case EX_TK_FUNCTION:
        bad = true;
        break;
    default:
        bad = tok_is_operator(&p->last);
        break;
    }
    if (bad || p->lx.nunclosed)
        return perr(p, DESC_END, p->last.pos, p->last.len);
    return 0;
}

static int parse_tokens(struct pctx *p)
{
    int r = 0;

    while (ex__lex_next(&p->lx, &p->tok)) {
        if (p->tok.kind == EX_TK_UNEXPECTED)
            return perr(p, DESC_UNEXPECTED, p->tok.pos, p->tok.len);
        r = tok_is_operator(&p->tok) ? push_operator(p) : push_operand(p);
        free(p->tok.str);
        p->tok.str = NULL;
        if (r < 0)
            return r;
        p->last = p->tok;
    }
    if (p->last.kind == EX_TK_NONE)
        return 0;
    r = check_end(p);
    while (r == 0 && p->nops)
        r = flush_top(p);
    return r;
}

static bool find_status(const struct ex_node *n)
{
    if (n->kind == EX_N_FUNC && n->fn >= EX_F_SUCCESS && n->fn <= EX_F_ALWAYS)
        return true;
    for (size_t i = 0; i < n->nargs; i++)
        if (find_status(n->args[i]))
            return true;
    return false;
}

int ex_expr_parse(const char *src, size_t len, unsigned allowed_ctx, unsigned allowed_fn,
                  struct ex_expr **ret, struct gr_diag *reterr)
{
    struct pctx p = {.src = src,
                     .len = len,
                     .allowed_ctx = allowed_ctx,
                     .allowed_fn = allowed_fn,
                     .err = reterr};
    struct ex_expr *e = NULL;
    int r;

    if (len > EX_EXPR_MAX_LEN)
        return gr_diag_set(reterr, GR_EEXPR, NULL, 0, 0, "Exceeded max expression length %d",
                           EX_EXPR_MAX_LEN);
    ex__lex_init(&p.lx, src, len);
    r = parse_tokens(&p);
    if (r < 0)
        goto out;
    e = gr_xcalloc(1, sizeof(*e));
    e->src = gr_xstrndup(src, len);
    e->len = len;
    e->root = pop_opnd(&p);
    if (e->root && e->root->depth > EX_EXPR_MAX_DEPTH) {
        r = gr_diag_set(reterr, GR_EEXPR, NULL, 0, 0, "Exceeded max expression depth %d",
                        EX_EXPR_MAX_DEPTH);
        goto out;
    }
    e->uses_status = e->root && find_status(e->root);
    *ret = e;
    e = NULL;
out:
    ex_expr_free(e);
    free(p.tok.str);
    while (p.nopnd)
        ex__node_free(pop_opnd(&p));
    free(p.opnd);
    free(p.ops);
    ex__lex_release(&p.lx);
    return r;
}

void ex_expr_free(struct ex_expr *e)
{
    if (!e)
        return;
    ex__node_free(e->root);
    free(e->src);
    free(e);
}

bool ex_expr_uses_status(const struct ex_expr *e)
{
    return e && e->uses_status;
}
