/*
 * Schema-driven validation of a workflow document, as the runner's template
 * reader does it (actions/runner src/Sdk/WorkflowParser/ObjectTemplating/
 * TemplateReader.cs, ReadValue / HandleMappingWithWellKnownProperties /
 * Validate), over the table in validate_table.c.
 *
 * DESIGN: a recursive walk carrying the current definition and the contexts
 * allowed there (the union of the definition's own `context` list and its
 * ancestors', as DefinitionInfo does). A one-of definition is flattened into
 * the definitions of the kind the node has: scalars must match one scalar
 * definition (a non-string is retried as its string form, so `name: 3` is
 * fine and `fail-fast: no` is not), a sequence takes the first sequence
 * definition, and a mapping narrows its candidate mapping definitions key by
 * key until one remains. Strings holding ${{ }} are expressions: they are
 * checked with the allowed contexts and are exempt from type checks. The
 * walk depth is bounded by the YAML layer (EX_YAML_MAX_DEPTH).
 */
#include <stdlib.h>
#include <string.h>

#include "ex/expr.h"
#include "workflow_internal.h"

#define MAX_FLAT 64

struct dinfo {
    unsigned short def;
    unsigned ctx, fn;
    bool has_ctx;
};

static void read_value(struct ex__vctx *v, const struct ex_node *n, struct dinfo di);

static struct dinfo child(struct dinfo parent, unsigned short def)
{
    const struct ex__sdef *d = &ex__schema[def];
    struct dinfo di = parent;

    di.def = def;
    di.ctx |= d->ctx;
    di.fn |= d->fn;
    di.has_ctx = parent.has_ctx || d->ctx || d->fn;
    return di;
}

/* The definitions of one kind reachable through one-of (scalar kinds when kind < SEQ). */
static size_t flatten(unsigned short def, int kind, unsigned short *out, size_t n)
{
    const struct ex__sdef *d = &ex__schema[def];

    if (d->kind == EX__SK_ONEOF) {
        for (size_t i = 0; i < d->n_one_of; i++)
            n = flatten(d->one_of[i], kind, out, n);
        return n;
    }
    if (n < MAX_FLAT && (d->kind == kind || (kind < 0 && d->kind < EX__SK_SEQ)))
        out[n++] = def;
    return n;
}

static bool has_expr(const struct ex_node *n)
{
    return n->kind == EX_NODE_SCALAR && n->type == EX_SCALAR_STRING && strstr(n->str, "${{");
}

static void report_expr(struct ex__vctx *v, const struct ex_node *n, const struct gr_diag *d)
{
    ex__verr(v, n, "%s", d->msg[0] ? d->msg : "invalid expression");
}

/* A whole-value expression without ${{ }} (the `if:` form). */
static void check_bare_expr(struct ex__vctx *v, const struct ex_node *n, struct dinfo di)
{
    struct ex_expr *e = NULL;
    struct gr_diag d = {0};

    if (n->len == 0 || strspn(n->str, " \t\r\n") == n->len)
        return;
    if (ex_expr_parse(n->str, n->len, di.ctx, di.fn, &e, &d) < 0)
        report_expr(v, n, &d);
    ex_expr_free(e);
}

/*
 * Check the ${{ }} parts with the contexts allowed here; false after
 * reporting. Where no context is allowed the parse already fails on named
 * values ("Unrecognized named-value: 'github'"); the caller then refuses
 * any expression that is not a literal (TemplateReader.ParseScalar, Validate).
 */
static bool check_template(struct ex__vctx *v, const struct ex_node *n, struct dinfo di)
{
    struct gr_diag d = {0};

    if (ex_tmpl_check(n->str, di.ctx, di.fn, &d) < 0) {
        report_expr(v, n, &d);
        return false;
    }
    return true;
}

static void not_allowed(struct ex__vctx *v, const struct ex_node *n)
{
    ex__verr(v, n, "A template expression is not allowed in this context");
}

/*
 * A value that is exactly one ${{ }} holding only single-quoted strings
 * (`${{ 'a' }}`, `${{ 'it''s' }}`) is a literal, as the template reader
 * turns it back into a string. Returns the unquoted text (owned) or NULL.
 */
static char *literal_of(const char *s, size_t len)
{
    const char *p, *end;
    char *out, *o;
    bool in_str = false;

    if (len < 5 || strncmp(s, "${{", 3) != 0 || strcmp(s + len - 2, "}}") != 0)
        return NULL;
    p = s + 3;
    end = s + len - 2;
    while (p < end && strchr(" \t\r\n", *p))
        p++;
    while (end > p && strchr(" \t\r\n", end[-1]))
        end--;
    if (p == end || *p != '\'')
        return NULL;
    out = o = gr_xmalloc((size_t)(end - p) + 1);
    for (const char *c = p; c < end; c++) {
        if (*c == '\'') {
            in_str = !in_str;
            if (in_str && c != p)
                *o++ = *c;
        } else if (!in_str) {
            free(out);
            return NULL;
        } else {
            *o++ = *c;
        }
    }
    *o = '\0';
    if (in_str) {
        free(out);
        return NULL;
    }
    return out;
}

static bool string_matches(const struct ex__sdef *d, const struct ex_node *n)
{
    if (d->constant && strcmp(d->constant, n->str) != 0)
        return false;
    if (d->non_empty && n->len == 0)
        return false;
    if (d->allowed) {
        for (const char *const *a = d->allowed; *a; a++)
            if (strcmp(*a, n->str) == 0)
                return true;
        return false;
    }
    return true;
}

static bool scalar_matches(const struct ex__sdef *d, const struct ex_node *n, bool as_string)
{
    enum ex_scalar_type t = as_string ? EX_SCALAR_STRING : n->type;

    switch (d->kind) {
    case EX__SK_NULL:
        return t == EX_SCALAR_NULL;
    case EX__SK_BOOL:
        return t == EX_SCALAR_BOOL;
    case EX__SK_NUMBER:
        return t == EX_SCALAR_INT || t == EX_SCALAR_FLOAT;
    case EX__SK_STRING:
        return t == EX_SCALAR_STRING && string_matches(d, n);
    default:
        return false;
    }
}

/* Validate a literal scalar (TemplateReader.Validate); returns the matching definition or 0. */
static const struct ex__sdef *match_scalar(const struct ex_node *n, unsigned short def)
{
    unsigned short defs[MAX_FLAT];
    size_t nd = flatten(def, -1, defs, 0);

    for (size_t i = 0; i < nd; i++)
        if (scalar_matches(&ex__schema[defs[i]], n, false))
            return &ex__schema[defs[i]];
    if (n->type == EX_SCALAR_STRING)
        return NULL;
    for (size_t i = 0; i < nd; i++)
        if (scalar_matches(&ex__schema[defs[i]], n, true))
            return &ex__schema[defs[i]];
    return NULL;
}

static void read_literal(struct ex__vctx *v, const struct ex_node *n, struct dinfo di)
{
    const struct ex__sdef *d = match_scalar(n, di.def);

    if (!d) {
        ex__verr(v, n, "Unexpected value '%s'", n->str);
        return;
    }
    if (d->is_expr)
        check_bare_expr(v, n, di);
}

static void read_scalar(struct ex__vctx *v, const struct ex_node *n, struct dinfo di)
{
    struct ex_node lit;

    if (!has_expr(n)) {
        read_literal(v, n, di);
        return;
    }
    if (!check_template(v, n, di))
        return;
    lit = *n;
    lit.str = literal_of(n->str, n->len);
    if (!lit.str) {
        if (!di.has_ctx)
            not_allowed(v, n);
        return;
    }
    lit.len = strlen(lit.str);
    lit.type = EX_SCALAR_STRING;
    read_literal(v, &lit, di);
    free(lit.str);
}

static void read_seq(struct ex__vctx *v, const struct ex_node *n, struct dinfo di)
{
    unsigned short defs[MAX_FLAT];

    if (flatten(di.def, EX__SK_SEQ, defs, 0) == 0) {
        ex__verr(v, n, "A sequence was not expected");
        return;
    }
    for (size_t i = 0; i < n->n; i++)
        read_value(v, n->items[i], child(di, ex__schema[defs[0]].item));
}

static bool is_insert_directive(const char *s)
{
    s += strspn(s, " \t");
    if (strncmp(s, "${{", 3) != 0)
        return false;
    s += 3;
    s += strspn(s, " \t");
    if (strncmp(s, "insert", 6) != 0)
        return false;
    s += 6;
    s += strspn(s, " \t");
    if (strncmp(s, "}}", 2) != 0)
        return false;
    s += 2;
    return s[strspn(s, " \t")] == '\0';
}

/* A key holding ${{ }}: legal only where contexts are; its value is `any`. */
static void read_expr_key(struct ex__vctx *v, const struct ex_node *k, const struct ex_node *val,
                          struct dinfo di)
{
    if (!is_insert_directive(k->str) && !check_template(v, k, di))
        return;
    if (!di.has_ctx) {
        not_allowed(v, k);
        return;
    }
    read_value(v, val, child(di, EX__S_ANY));
}

/* TemplateSchema.TryMatchKey: find key in the candidates and drop those without it. */
static int match_key(unsigned short *cands, size_t *nc, const char *key)
{
    int type = -1;
    size_t w = 0;

    for (size_t i = 0; i < *nc; i++) {
        const struct ex__sdef *d = &ex__schema[cands[i]];
        for (size_t j = 0; j < d->n_props; j++) {
            if (strcmp(d->props[j].key, key) == 0) {
                if (type < 0)
                    type = d->props[j].type;
                cands[w++] = cands[i];
                break;
            }
        }
    }
    if (type >= 0)
        *nc = w;
    return type;
}

static void read_loose(struct ex__vctx *v, const struct ex_node *k, const struct ex_node *val,
                       struct dinfo di, const struct ex__sdef *m)
{
    if (!match_scalar(k, child(di, m->loose_key).def))
        ex__verr(v, k, "Unexpected value '%s'", k->str);
    read_value(v, val, child(di, m->loose_val));
}

static void list_one_of(struct ex__vctx *v, const struct ex_node *n, const unsigned short *cands,
                        size_t nc)
{
    char list[400] = "";
    const char *names[128];
    size_t nn = 0, len = 0;

    for (size_t i = 0; i < nc; i++) {
        const struct ex__sdef *d = &ex__schema[cands[i]];
        for (size_t j = 0; j < d->n_props && nn < GR_ARRAY_SIZE(names); j++) {
            size_t hits = 0;
            for (size_t c = 0; c < nc; c++)
                for (size_t p = 0; p < ex__schema[cands[c]].n_props; p++)
                    hits += strcmp(ex__schema[cands[c]].props[p].key, d->props[j].key) == 0;
            if (hits == 1)
                names[nn++] = d->props[j].key;
        }
    }
    for (size_t i = 1; i < nn; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (size_t i = 0; i < nn && len + strlen(names[i]) + 3 < sizeof(list); i++)
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", names[i]);
    ex__verr(v, n,
             "There's not enough info to determine what you meant. "
             "Add one of these properties: %s",
             list);
}

static void check_required(struct ex__vctx *v, const struct ex_node *n, const struct ex__sdef *d)
{
    for (size_t i = 0; i < d->n_props; i++) {
        bool found = false;
        if (!d->props[i].required)
            continue;
        for (size_t k = 0; k < n->n && !found; k++)
            found = strcmp(n->keys[k]->str, d->props[i].key) == 0;
        if (!found)
            ex__verr(v, n, "Required property is missing: %s", d->props[i].key);
    }
}

static void read_map(struct ex__vctx *v, const struct ex_node *n, struct dinfo di)
{
    unsigned short cands[MAX_FLAT];
    size_t nc = flatten(di.def, EX__SK_MAP, cands, 0);
    const struct ex__sdef *first;
    bool expr_key = false;

    if (nc == 0) {
        ex__verr(v, n, "A mapping was not expected");
        return;
    }
    first = &ex__schema[cands[0]];
    for (size_t i = 0; i < n->n; i++) {
        const struct ex_node *k = n->keys[i];
        int type;
        if (has_expr(k)) {
            expr_key = true;
            read_expr_key(v, k, n->vals[i], di);
            continue;
        }
        type = nc > 1 || first->n_props ? match_key(cands, &nc, k->str) : -1;
        if (type >= 0)
            read_value(v, n->vals[i], child(di, (unsigned short)type));
        else if (first->loose_key)
            read_loose(v, k, n->vals[i], di, first);
        else
            ex__verr(v, k, "Unexpected value '%s'", k->str);
    }
    if (nc > 1 && !expr_key)
        list_one_of(v, n, cands, nc);
    else if (nc == 1 && !expr_key)
        check_required(v, n, &ex__schema[cands[0]]);
}

static void read_value(struct ex__vctx *v, const struct ex_node *n, struct dinfo di)
{
    switch (n->kind) {
    case EX_NODE_SCALAR:
        read_scalar(v, n, di);
        break;
    case EX_NODE_SEQ:
        read_seq(v, n, di);
        break;
    case EX_NODE_MAP:
        read_map(v, n, di);
        break;
    }
}

void ex__validate_schema(struct ex__vctx *v, const struct ex_node *root)
{
    struct dinfo di = {.def = EX__S_ROOT};

    read_value(v, root, child(di, EX__S_ROOT));
}
