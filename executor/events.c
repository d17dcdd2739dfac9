/*
 * Events: does an event trigger the workflow, and the inputs of
 * workflow_dispatch / workflow_call (workflow-semantics.md section 9).
 *
 * Filter patterns follow GitHub's cheat sheet (docs: workflow-syntax,
 * "Filter pattern cheat sheet"): `*` any run of characters except '/', `**`
 * any run of characters, `**` followed by '/' also matches nothing, `?` zero
 * or one of the preceding character, `+` one or more of it, `[...]` one
 * character of a class (ranges allowed), `\` escapes. A list is applied in
 * order: a pattern starting with `!` removes earlier matches, a later
 * positive pattern adds them back.
 *
 * The matcher compiles a pattern into tokens and runs a dynamic programme
 * over (token, offset), so no pattern can make it exponential.
 */
#include "ex/plan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ex/expr.h"

#define EX_GLOB_MAX 1024        /* characters in a pattern or subject */
#define EX_PATHS_ALWAYS_RUN 300 /* a diff with more files always runs (GitHub's limit) */

enum gtok_kind { GT_CHAR, GT_CLASS, GT_STAR, GT_DSTAR, GT_DSTAR_SLASH };

struct gtok {
    enum gtok_kind kind;
    char quant; /* 0, '?' or '+' */
    unsigned char c;
    unsigned char set[32]; /* GT_CLASS bitmap */
};

static void set_bit(unsigned char *set, unsigned c)
{
    set[c >> 3] |= (unsigned char)(1u << (c & 7));
}

static bool has_bit(const unsigned char *set, unsigned c)
{
    return set[c >> 3] & (1u << (c & 7));
}

/* Parse "[...]" starting after '['; returns the index after ']' or -1. */
static int parse_class(const char *p, size_t i, size_t len, struct gtok *t)
{
    bool any = false;

    t->kind = GT_CLASS;
    memset(t->set, 0, sizeof(t->set));
    while (i < len && p[i] != ']') {
        unsigned char lo = (unsigned char)p[i];
        if (lo == '\\' && i + 1 < len)
            lo = (unsigned char)p[++i];
        if (i + 2 < len && p[i + 1] == '-' && p[i + 2] != ']') {
            unsigned char hi = (unsigned char)p[i + 2];
            for (unsigned c = lo; c <= hi; c++)
                set_bit(t->set, c);
            i += 3;
        } else {
            set_bit(t->set, lo);
            i++;
        }
        any = true;
    }
    if (i >= len || !any)
        return -1;
    return (int)i + 1;
}

static int compile_glob(const char *p, struct gtok *toks, size_t *ret_n)
{
    size_t len = strlen(p), i = 0, n = 0;

    if (len > EX_GLOB_MAX)
        return -E2BIG;
    while (i < len) {
        struct gtok *t = &toks[n];
        memset(t, 0, sizeof(*t));
        if (p[i] == '*') {
            if (i + 1 < len && p[i + 1] == '*') {
                i += 2;
                while (i < len && p[i] == '*')
                    i++;
                t->kind = GT_DSTAR;
                if (i < len && p[i] == '/') {
                    t->kind = GT_DSTAR_SLASH;
                    i++;
                }
            } else {
                t->kind = GT_STAR;
                i++;
            }
            n++;
            continue;
        }
        if ((p[i] == '?' || p[i] == '+') && n > 0 &&
            (toks[n - 1].kind == GT_CHAR || toks[n - 1].kind == GT_CLASS) && !toks[n - 1].quant) {
            toks[n - 1].quant = p[i];
            i++;
            continue;
        }
        if (p[i] == '[') {
            int next = parse_class(p, i + 1, len, t);
            if (next > 0) {
                i = (size_t)next;
                n++;
                continue;
            }
        }
        if (p[i] == '\\' && i + 1 < len)
            i++;
        t->kind = GT_CHAR;
        t->c = (unsigned char)p[i++];
        n++;
    }
    *ret_n = n;
    return 0;
}

static bool tok_accepts(const struct gtok *t, unsigned char c)
{
    return t->kind == GT_CHAR ? t->c == c : has_bit(t->set, c);
}

/* m[ti * (len + 1) + si]: tokens ti.. match s[si..len) */
static bool glob_run(const struct gtok *toks, size_t nt, const char *s, size_t len)
{
    size_t w = len + 1, ti, si, k;
    bool *m = gr_xcalloc((nt + 1) * w, sizeof(bool));
    bool r;

    m[nt * w + len] = true;
    for (ti = nt; ti-- > 0;) {
        const struct gtok *t = &toks[ti];
        for (si = len + 1; si-- > 0;) {
            bool ok = false;
            switch (t->kind) {
            case GT_STAR:
                for (k = si; !ok && k <= len; k++) {
                    ok = m[(ti + 1) * w + k];
                    if (k < len && s[k] == '/')
                        break;
                }
                break;
            case GT_DSTAR:
                for (k = si; !ok && k <= len; k++)
                    ok = m[(ti + 1) * w + k];
                break;
            case GT_DSTAR_SLASH:
                ok = m[(ti + 1) * w + si];
                for (k = si; !ok && k < len; k++)
                    ok = s[k] == '/' && m[(ti + 1) * w + k + 1];
                break;
            default:
                if (t->quant == '?')
                    ok = m[(ti + 1) * w + si];
                for (k = si; !ok && k < len && tok_accepts(t, (unsigned char)s[k]); k++) {
                    ok = m[(ti + 1) * w + k + 1];
                    if (t->quant != '+')
                        break;
                }
                break;
            }
            m[ti * w + si] = ok;
        }
    }
    r = m[0];
    free(m);
    return r;
}

bool ex_events_glob_match(const char *pattern, const char *s)
{
    size_t plen = strlen(pattern), n = 0, slen = strlen(s);
    struct gtok *toks;
    bool r = false;

    if (plen > EX_GLOB_MAX || slen > 4 * EX_GLOB_MAX)
        return false;
    toks = gr_xcalloc(plen + 1, sizeof(*toks));
    if (compile_glob(pattern, toks, &n) == 0)
        r = glob_run(toks, n, s, slen);
    free(toks);
    return r;
}

bool ex_events_patterns_match(const json_t *patterns, const char *s)
{
    bool matched = false;
    json_t *p;
    size_t i;

    if (json_is_string(patterns))
        return ex_events_glob_match(json_string_value(patterns), s);
    json_array_foreach(patterns, i, p)
    {
        const char *pat = json_string_value(p);
        if (!pat)
            continue;
        if (pat[0] == '!') {
            if (matched && ex_events_glob_match(pat + 1, s))
                matched = false;
        } else if (!matched && ex_events_glob_match(pat, s)) {
            matched = true;
        }
    }
    return matched;
}

/* ---- trigger check ----------------------------------------------------- */

static json_t *filter_list(const struct ex_trigger *t, const char *key)
{
    const struct ex_node *n;

    if (!t->node || t->node->kind != EX_NODE_MAP)
        return NULL;
    n = ex_node_get(t->node, key);
    if (!n)
        return NULL;
    return ex_node_to_json(n);
}

static void set_reason(char **ret_reason, const char *fmt, ...) GR_PRINTF(2, 3);
static void set_reason(char **ret_reason, const char *fmt, ...)
{
    va_list ap;
    struct gr_buf b = GR_BUF_INIT(0);

    if (!ret_reason || *ret_reason)
        return;
    va_start(ap, fmt);
    if (gr_buf_vaddf(&b, fmt, ap) == 0)
        *ret_reason = gr_buf_detach(&b, NULL);
    va_end(ap);
    gr_buf_release(&b);
}

/* branches/tags (and their -ignore forms) against github.ref. */
static bool ref_filters_pass(const struct ex_trigger *t, const char *ref, char **ret_reason)
{
    json_t *br = filter_list(t, "branches"), *bri = filter_list(t, "branches-ignore");
    json_t *tg = filter_list(t, "tags"), *tgi = filter_list(t, "tags-ignore");
    bool is_tag = gr_startswith(ref, "refs/tags/"), is_branch = gr_startswith(ref, "refs/heads/");
    bool branch_filters = br || bri, tag_filters = tg || tgi, ok = true;
    const char *name = ref;

    if (is_tag)
        name = ref + strlen("refs/tags/");
    else if (is_branch)
        name = ref + strlen("refs/heads/");
    /* no ref known (not a repository, detached HEAD without a tag): filters cannot decide */
    if ((!branch_filters && !tag_filters) || !*ref)
        goto out;
    if (is_tag && !tag_filters) {
        ok = false;
        set_reason(ret_reason, "tag '%s' does not match: only branch filters are set%s", name, "");
    } else if (!is_tag && !branch_filters) {
        ok = false;
        set_reason(ret_reason, "branch '%s' does not match: only tag filters are set%s", name, "");
    } else if (is_tag) {
        if (tg && !ex_events_patterns_match(tg, name))
            ok = false, set_reason(ret_reason, "tag '%s' does not match %s", name, "'tags'");
        if (tgi && ex_events_patterns_match(tgi, name))
            ok = false, set_reason(ret_reason, "tag '%s' matches %s", name, "'tags-ignore'");
    } else {
        if (br && !ex_events_patterns_match(br, name))
            ok = false, set_reason(ret_reason, "branch '%s' does not match %s", name, "'branches'");
        if (bri && ex_events_patterns_match(bri, name))
            ok = false, set_reason(ret_reason, "branch '%s' matches %s", name, "'branches-ignore'");
    }
out:
    json_decref(br);
    json_decref(bri);
    json_decref(tg);
    json_decref(tgi);
    return ok;
}

static bool paths_filters_pass(const struct ex_trigger *t, const json_t *changed, char **ret_reason)
{
    json_t *pa = filter_list(t, "paths"), *pai = filter_list(t, "paths-ignore"), *f;
    bool ok = true, any;
    size_t i;

    if (!pa && !pai)
        goto out;
    if (!changed || json_array_size(changed) > EX_PATHS_ALWAYS_RUN)
        goto out; /* unknown or too large a diff: GitHub always runs */
    if (json_array_size(changed) == 0) {
        ok = false;
        set_reason(ret_reason, "no changed files for the paths filters%s%s", "", "");
        goto out;
    }
    if (pa) {
        any = false;
        json_array_foreach(changed, i, f) any =
            any || ex_events_patterns_match(pa, json_string_value(f));
        if (!any)
            ok = false, set_reason(ret_reason, "no changed file matches %s%s", "'paths'", "");
    }
    if (pai) {
        any = false;
        json_array_foreach(changed, i, f) any =
            any || !ex_events_patterns_match(pai, json_string_value(f));
        if (!any)
            ok = false,
            set_reason(ret_reason, "every changed file matches %s%s", "'paths-ignore'", "");
    }
out:
    json_decref(pa);
    json_decref(pai);
    return ok;
}

/* pull_request types: default opened, synchronize, reopened. */
static bool types_pass(const struct ex_trigger *t, const json_t *payload, char **ret_reason)
{
    static const char *const pr_default[] = {"opened", "synchronize", "reopened"};
    const char *action = json_string_value(json_object_get(payload, "action"));
    json_t *types = filter_list(t, "types"), *it;
    bool ok = false, is_pr = strcmp(t->event, "pull_request") == 0 ||
                             strcmp(t->event, "pull_request_target") == 0;
    size_t i;

    if (!action || (!types && !is_pr)) {
        json_decref(types);
        return true;
    }
    if (json_is_string(types)) {
        ok = strcmp(json_string_value(types), action) == 0;
    } else if (types) {
        json_array_foreach(types, i, it) ok =
            ok || (json_is_string(it) && strcmp(json_string_value(it), action) == 0);
    } else {
        for (i = 0; i < GR_ARRAY_SIZE(pr_default); i++)
            ok = ok || strcmp(pr_default[i], action) == 0;
    }
    if (!ok)
        set_reason(ret_reason, "activity type '%s' is not in %s", action, "'types'");
    json_decref(types);
    return ok;
}

/* The ref the filters look at (owned): the base branch for pull requests, else github.ref. */
static char *filter_ref(const char *event, const json_t *github)
{
    const char *base = json_string_value(json_object_get(github, "base_ref"));
    const char *ref = json_string_value(json_object_get(github, "ref"));

    if ((strcmp(event, "pull_request") == 0 || strcmp(event, "pull_request_target") == 0) && base &&
        *base)
        return gr_xasprintf("refs/heads/%s", base);
    return gr_xstrdup(ref ? ref : "");
}

bool ex_events_triggered(const struct ex_trigger *t, const json_t *github, const json_t *changed,
                         char **ret_reason)
{
    char *ref = filter_ref(t->event, github);
    const json_t *payload = json_object_get(github, "event");
    bool ok = true, refs_apply;

    refs_apply = strcmp(t->event, "push") == 0 || strcmp(t->event, "pull_request") == 0 ||
                 strcmp(t->event, "pull_request_target") == 0;
    if (!types_pass(t, payload, ret_reason))
        ok = false;
    if (refs_apply && !ref_filters_pass(t, ref, ret_reason))
        ok = false;
    /* paths filters are not evaluated for tag pushes */
    if (refs_apply && !gr_startswith(ref, "refs/tags/") &&
        !paths_filters_pass(t, changed, ret_reason))
        ok = false;
    free(ref);
    return ok;
}

/* ---- inputs ------------------------------------------------------------ */

static bool is_number_str(const char *s, double *ret)
{
    char *end = NULL;
    double d;

    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return false;
    d = strtod(s, &end);
    while (end && (*end == ' ' || *end == '\t'))
        end++;
    if (end == s || *end || isnan(d) || isinf(d) || strpbrk(s, "xXnNiI"))
        return false;
    *ret = d;
    return true;
}

static json_t *number_value(double d)
{
    if (d == floor(d) && fabs(d) < 9007199254740992.0)
        return json_integer((json_int_t)d);
    return json_real(d);
}

static int input_err(struct gr_diag *reterr, const struct ex_node *n, const char *fmt, ...)
    GR_PRINTF(3, 4);
static int input_err(struct gr_diag *reterr, const struct ex_node *n, const char *fmt, ...)
{
    va_list ap;

    if (!reterr)
        return GR_EUSAGE;
    (void)gr_diag_set(reterr, GR_EUSAGE, n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0, "%s",
                      "");
    va_start(ap, fmt);
    vsnprintf(reterr->msg, sizeof(reterr->msg), fmt, ap);
    va_end(ap);
    return GR_EUSAGE;
}

/* Value given for one input (string from the CLI, or any JSON from a payload). */
static int coerce_input(const char *name, const char *type, const struct ex_node *decl,
                        const json_t *given, bool strict, json_t **ret, struct gr_diag *reterr)
{
    char *s = ex_matrix_value_str(given);
    double d;
    int r = 0;

    /* workflow_call `with:` values keep their types: a string is no boolean or number */
    if (strict && (strcmp(type, "boolean") == 0 || strcmp(type, "number") == 0) &&
        !(strcmp(type, "boolean") == 0 ? json_is_boolean(given) : json_is_number(given))) {
        r = input_err(reterr, decl, "Input '%s' expects a %s, got '%s'", name, type, s);
    } else if (strcmp(type, "boolean") == 0) {
        if (json_is_boolean(given))
            *ret = json_incref((json_t *)given);
        else if (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0)
            *ret = json_boolean(strcasecmp(s, "true") == 0);
        else
            r = input_err(reterr, decl,
                          "Provided value '%s' for input '%s' not in the list of allowed values", s,
                          name);
    } else if (strcmp(type, "number") == 0) {
        if (json_is_number(given))
            *ret = json_incref((json_t *)given);
        else if (is_number_str(s, &d))
            *ret = number_value(d);
        else
            r = input_err(reterr, decl, "Provided value '%s' for input '%s' is not a valid number",
                          s, name);
    } else {
        *ret = json_string(s);
    }
    free(s);
    return r;
}

static int check_choice(const char *name, const struct ex_node *key, const struct ex_node *decl,
                        const json_t *value, struct gr_diag *reterr)
{
    const struct ex_node *opts = ex_node_get(decl, "options");
    const char *v = json_string_value(value);
    size_t i;

    if (!opts || opts->kind != EX_NODE_SEQ)
        return input_err(reterr, key, "Input '%s' of type choice has no options%s", name, "");
    for (i = 0; i < opts->n; i++) {
        const char *o = ex_node_str(opts->items[i]);
        if (o && v && strcmp(o, v) == 0)
            return 0;
    }
    return input_err(reterr, key,
                     "Provided value '%s' for input '%s' not in the list of allowed values",
                     v ? v : "", name);
}

/* Default of an input: dispatch defaults are literal; workflow_call ones may use ${{ }}. */
static int input_default(const struct ex_node *def, const json_t *ctx, json_t **ret,
                         struct gr_diag *reterr)
{
    struct ex_eval_env env = {.contexts = (json_t *)ctx};
    const char *s = ex_node_str(def);
    int r;

    if (ctx && def->kind == EX_NODE_SCALAR && s && ex_tmpl_has_expr(s)) {
        r = ex_tmpl_eval(s, &env, ret, reterr);
        if (r < 0 && reterr && !reterr->file) {
            reterr->file = def->file;
            reterr->line = def->line;
            reterr->col = def->col;
        }
        return r;
    }
    *ret = ex_node_to_json(def);
    return 0;
}

static json_t *zero_value(const char *type)
{
    if (strcmp(type, "boolean") == 0)
        return json_false();
    if (strcmp(type, "number") == 0)
        return json_integer(0);
    return json_string("");
}

struct inputs_state {
    const char *event;
    unsigned flags;
    const json_t *given;
    const json_t *ctx; /* contexts for workflow_call defaults */
    json_t *typed, *strings;
};

static int one_input(struct inputs_state *st, const struct ex_node *key, const struct ex_node *decl,
                     struct gr_diag *reterr)
{
    const char *name = key->str;
    const struct ex_node *tn = decl ? ex_node_get(decl, "type") : NULL;
    const struct ex_node *rq = decl ? ex_node_get(decl, "required") : NULL;
    const struct ex_node *df = decl ? ex_node_get(decl, "default") : NULL;
    const char *type = tn && ex_node_str(tn) ? ex_node_str(tn) : "string";
    bool required = rq && rq->type == EX_SCALAR_BOOL && strcmp(rq->str, "true") == 0;
    bool call = strcmp(st->event, "workflow_call") == 0;
    json_t *given = json_object_get(st->given, name), *val = NULL, *raw = NULL;
    int r = 0;

    if (given) {
        r = coerce_input(name, type, key, given, st->flags & EX_INPUTS_STRICT, &val, reterr);
    } else if (df && !(df->kind == EX_NODE_SCALAR && df->type == EX_SCALAR_NULL)) {
        /* only workflow_call defaults may use expressions */
        r = input_default(df, call ? st->ctx : NULL, &raw, reterr);
        if (r >= 0)
            r = coerce_input(name, type, df, raw, false, &val, reterr);
    } else if (required && !(st->flags & EX_INPUTS_PARTIAL)) {
        r = input_err(reterr, key,
                      call ? "Input %s is required, but not provided while calling%s"
                           : "Required input '%s' not provided%s",
                      name, "");
    } else {
        val = zero_value(type);
    }
    if (r >= 0 && strcmp(type, "choice") == 0 && (given || df))
        r = check_choice(name, key, decl, val, reterr);
    if (r >= 0) {
        char *str = ex_matrix_value_str(val);
        json_object_set(st->typed, name, val);
        json_object_set_new(st->strings, name, json_string(str));
        free(str);
    }
    json_decref(raw);
    json_decref(val);
    return r;
}

static int check_given(const struct ex_node *decls, const json_t *given, bool call,
                       const struct ex_node *where, struct gr_diag *reterr)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)given, k, v)
    {
        if (decls && decls->kind == EX_NODE_MAP && ex_node_get(decls, k))
            continue;
        return input_err(reterr, where,
                         call ? "Invalid input, %s is not defined in the referenced workflow%s"
                              : "Unexpected inputs provided: [\"%s\"]%s",
                         k, "");
    }
    return 0;
}

int ex_events_inputs(const struct ex_trigger *t, const json_t *given, const json_t *ctx,
                     unsigned flags, json_t **ret_typed, json_t **ret_strings,
                     struct gr_diag *reterr)
{
    const struct ex_node *decls =
        t->node && t->node->kind == EX_NODE_MAP ? ex_node_get(t->node, "inputs") : NULL;
    struct inputs_state st = {.event = t->event, .flags = flags, .given = given, .ctx = ctx};
    size_t i;
    int r;

    r = check_given(decls, given, strcmp(t->event, "workflow_call") == 0, t->node, reterr);
    if (r < 0)
        return r;
    st.typed = json_object();
    st.strings = json_object();
    for (i = 0; decls && decls->kind == EX_NODE_MAP && i < decls->n; i++) {
        r = one_input(&st, decls->keys[i], decls->vals[i], reterr);
        if (r < 0)
            goto out;
    }
    *ret_typed = st.typed;
    *ret_strings = st.strings;
    st.typed = st.strings = NULL;
out:
    json_decref(st.typed);
    json_decref(st.strings);
    return r;
}
