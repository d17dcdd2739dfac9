/*
 * GitHub Actions expressions: lexer, parser to an AST, evaluator over json_t
 * contexts. Semantics follow actions/runner (src/Sdk/Expressions) and
 * actions/languageservices (expressions/): operators and precedence, loose
 * equality coercion, case-insensitive strings and property names, object
 * filters, the function set, number formatting.
 *
 * Thread-safety: a parsed ex_expr is immutable and may be evaluated from any
 * thread concurrently.
 */
#pragma once

#include <stdbool.h>
#include <jansson.h>

#include "gr.h"

#define EX_EXPR_MAX_LEN (21000) /* characters in one expression, as the runner */
#define EX_EXPR_MAX_DEPTH 50

/* Context names, used to say which contexts are available where. */
enum ex_ctx_bit {
    EX_CTX_GITHUB = 1u << 0,
    EX_CTX_ENV = 1u << 1,
    EX_CTX_VARS = 1u << 2,
    EX_CTX_SECRETS = 1u << 3,
    EX_CTX_MATRIX = 1u << 4,
    EX_CTX_NEEDS = 1u << 5,
    EX_CTX_STEPS = 1u << 6,
    EX_CTX_JOB = 1u << 7,
    EX_CTX_JOBS = 1u << 8,
    EX_CTX_RUNNER = 1u << 9,
    EX_CTX_STRATEGY = 1u << 10,
    EX_CTX_INPUTS = 1u << 11,
    EX_CTX_ALL = (1u << 12) - 1,
};
/* Functions beyond the always-available ones. */
enum ex_fn_bit {
    EX_FN_STATUS = 1u << 0,    /* success() failure() cancelled() always() */
    EX_FN_HASHFILES = 1u << 1, /* hashFiles() */
    EX_FN_ALL = (1u << 2) - 1,
};

/* Name of a context bit ("github") and the bit of a name (0 if unknown, case-insensitive). */
const char *ex_ctx_name(unsigned bit);
unsigned ex_ctx_bit(const char *name, size_t len);

struct ex_expr; /* parsed expression; opaque, immutable */

/*
 * Parse src[0..len). Names of contexts outside allowed_ctx and functions
 * outside allowed_fn are syntax errors ("Unrecognized named-value: 'env'"),
 * as GitHub reports them. reterr->col is the 1-based column within src.
 */
int ex_expr_parse(const char *src, size_t len, unsigned allowed_ctx, unsigned allowed_fn,
                  struct ex_expr **ret, struct gr_diag *reterr) GR_MUST_CHECK;
void ex_expr_free(struct ex_expr *e);
/* True when the expression calls one of success/failure/cancelled/always. */
bool ex_expr_uses_status(const struct ex_expr *e);

/* What an evaluation sees. Everything is borrowed for the duration of the call. */
struct ex_eval_env {
    json_t *contexts; /* object: context name (lower case) -> value; may be NULL */
    const char
        *status; /* job status for the status functions: "success" (NULL), "failure", "cancelled" */
    const char *workspace; /* base directory of hashFiles(); NULL makes hashFiles an error */
};

/*
 * Evaluate; *ret is a new reference. Whole numbers within +-2^53 come back as
 * JSON integers, other numbers as reals; NaN and +-Infinity, which JSON cannot
 * hold, come back as the strings "NaN", "Infinity", "-Infinity". A value read
 * from the contexts is returned by reference (json_incref), not copied: treat
 * results as read-only. Errors carry the runner's message (reterr->col is 0
 * for evaluation errors).
 */
int ex_expr_eval(const struct ex_expr *e, const struct ex_eval_env *env, json_t **ret,
                 struct gr_diag *reterr) GR_MUST_CHECK;
/* Parse with every context and function allowed, then evaluate. */
int ex_expr_eval_str(const char *src, const struct ex_eval_env *env, json_t **ret,
                     struct gr_diag *reterr) GR_MUST_CHECK;

/* ---- templates: strings holding ${{ }} --------------------------------- */

bool ex_tmpl_has_expr(const char *s);
/* Syntax-check every ${{ }} in s (for validation); reterr->col is the 1-based column in s. */
int ex_tmpl_check(const char *s, unsigned allowed_ctx, unsigned allowed_fn,
                  struct gr_diag *reterr) GR_MUST_CHECK;
/*
 * Evaluate a template. A string that is exactly one ${{ expr }} yields the
 * expression's value with its type; otherwise (any text around it, even
 * whitespace, as GitHub's TemplateReader) the parts are converted to strings
 * and joined. *ret is a new reference.
 */
int ex_tmpl_eval(const char *s, const struct ex_eval_env *env, json_t **ret,
                 struct gr_diag *reterr) GR_MUST_CHECK;
/*
 * Evaluate an `if:` condition as the runner does: optional ${{ }} wrapper,
 * implicit success() && (...) unless a status function is used; an empty
 * condition means success().
 */
int ex_if_eval(const char *cond, const struct ex_eval_env *env, bool *ret,
               struct gr_diag *reterr) GR_MUST_CHECK;

/* ---- value helpers ----------------------------------------------------- */

bool ex_value_truthy(const json_t *v);
/* String form as the runner converts values (null -> "", numbers as GitHub formats them). Owned. */
char *ex_value_to_string(const json_t *v);
/* toJSON() form (pretty, 2-space indent as the runner). Owned. */
char *ex_value_to_json(const json_t *v);
/* Case-insensitive object property lookup (exact match first). Borrowed. */
json_t *ex_value_get(const json_t *obj, const char *key);
