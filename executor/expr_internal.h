/*
 * Internals of the expression engine shared by executor/expr_*.c.
 *
 * Pipeline: expr_lex.c turns the source into tokens and applies the runner's
 * token legality rules (LexicalAnalyzer.CreateToken), expr_parse.c builds the
 * tree with the runner's operator-precedence (shunting-yard) algorithm, so
 * that parse errors name the same token at the same position as GitHub's;
 * expr_eval.c walks the tree over borrowed json_t contexts with struct ex_val
 * values, expr_fn.c holds the functions, expr_value.c the coercion rules and
 * number formatting, expr_tmpl.c the ${{ }} templates and `if:` conditions.
 *
 * Evaluation allocates nothing for literals, context and property lookups,
 * comparisons or boolean logic: strings borrowed from json_t or from the tree
 * travel as (ptr, len). Strings built by functions live in a per-evaluation
 * arena (struct ex_arena), released when the evaluation returns.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "ex/expr.h"

/* ---- tokens ------------------------------------------------------------ */

enum ex_tok_kind {
    EX_TK_NONE,
    EX_TK_START_GROUP,  /* "(" logical grouping */
    EX_TK_START_INDEX,  /* "[" */
    EX_TK_START_PARAMS, /* "(" function call */
    EX_TK_END_GROUP,
    EX_TK_END_INDEX,
    EX_TK_END_PARAMS,
    EX_TK_SEPARATOR, /* "," */
    EX_TK_DEREF,     /* "." */
    EX_TK_WILDCARD,  /* "*" */
    EX_TK_LOGICAL,   /* ! != > >= < <= == && || */
    EX_TK_NULL,
    EX_TK_BOOL,
    EX_TK_NUMBER,
    EX_TK_STRING,
    EX_TK_PROPERTY,
    EX_TK_FUNCTION,
    EX_TK_NAMED,
    EX_TK_UNEXPECTED,
};

enum ex_op {
    EX_OP_NONE,
    EX_OP_NOT,
    EX_OP_NE,
    EX_OP_GT,
    EX_OP_GE,
    EX_OP_LT,
    EX_OP_LE,
    EX_OP_EQ,
    EX_OP_AND,
    EX_OP_OR,
};

struct ex_tok {
    enum ex_tok_kind kind;
    enum ex_op op;
    size_t pos, len; /* byte range of the raw token in the source */
    double num;
    bool b;
    char *str; /* unescaped string literal (owned), NUL-terminated */
    size_t slen;
};

struct ex_lexer {
    const char *src;
    size_t len, idx;
    enum ex_tok_kind last;
    enum ex_tok_kind *unclosed; /* stack of "(" "[" kinds */
    size_t nunclosed, capunclosed;
};

void ex__lex_init(struct ex_lexer *lx, const char *src, size_t len);
void ex__lex_release(struct ex_lexer *lx);
/* Next token; false at the end. A token the runner would reject is EX_TK_UNEXPECTED. */
bool ex__lex_next(struct ex_lexer *lx, struct ex_tok *tok);
/* Bytes of whitespace (Char.IsWhiteSpace, UTF-8) at s[0..len), 0 if none. */
size_t ex__space_len(const char *s, size_t len);
bool ex__is_legal_keyword(const char *s, size_t len);

/* ---- tree -------------------------------------------------------------- */

enum ex_fn_id {
    EX_F_CONTAINS,
    EX_F_STARTSWITH,
    EX_F_ENDSWITH,
    EX_F_FORMAT,
    EX_F_JOIN,
    EX_F_TOJSON,
    EX_F_FROMJSON,
    EX_F_CASE,
    EX_F_SUCCESS,
    EX_F_FAILURE,
    EX_F_CANCELLED,
    EX_F_ALWAYS,
    EX_F_HASHFILES,
};

enum ex_node_kind {
    EX_N_LITERAL,
    EX_N_CONTEXT,
    EX_N_WILDCARD,
    EX_N_INDEX,
    EX_N_NOT,
    EX_N_AND,
    EX_N_OR,
    EX_N_CMP,
    EX_N_FUNC,
};

enum ex_vkind { EX_V_NULL, EX_V_BOOL, EX_V_NUM, EX_V_STR, EX_V_ARR, EX_V_OBJ };

struct ex_farr; /* filtered array, the result of .* and [*] */

/*
 * A value during evaluation. Strings are (s, len), borrowed from a json_t,
 * the tree or the arena, and NUL-terminated. Arrays are either a json_t
 * (j) or a filtered array (fa); objects are always a json_t.
 */
struct ex_val {
    enum ex_vkind kind;
    bool b;
    double n;
    const char *s;
    size_t len;
    json_t *j;
    struct ex_farr *fa;
};

struct ex_farr {
    json_t **items;
    size_t n, cap;
};

struct ex_node {
    enum ex_node_kind kind;
    enum ex_op op;     /* EX_N_CMP */
    enum ex_fn_id fn;  /* EX_N_FUNC */
    unsigned depth;    /* 1 for a leaf */
    size_t pos, tlen;  /* the token that made the node */
    struct ex_val lit; /* EX_N_LITERAL; strings point into str */
    char *str;         /* owned text: literal string or name */
    const char *ctx;   /* EX_N_CONTEXT: canonical lower-case name */
    struct ex_node **args;
    size_t nargs, capargs;
};

struct ex_expr {
    struct ex_node *root; /* NULL for an empty expression */
    char *src;            /* copy of the source, for messages */
    size_t len;
    bool uses_status;
};

struct ex_node *ex__node_new(enum ex_node_kind kind, size_t pos, size_t tlen);
void ex__node_add(struct ex_node *n, struct ex_node *child);
void ex__node_free(struct ex_node *n);

/* 1-based position as the runner counts it (UTF-16 units) of byte offset off. */
size_t ex__utf16_pos(const char *s, size_t off);
/* 1-based column in characters (code points) of byte offset off. */
int ex__char_col(const char *s, size_t off);

/* ---- evaluation -------------------------------------------------------- */

#define EX_MAX_MEMORY (1024 * 1024) /* bytes, as the runner's EvaluationOptions */

struct ex_chunk {
    struct ex_chunk *next;
    size_t cap, used;
    char data[];
};

#define EX_ARENA_INLINE 1024

/* Not zero-initialised as a whole: ex__arena_init sets the fields, the inline bytes stay raw. */
struct ex_arena {
    struct ex_chunk *chunks;
    json_t **owned; /* json values made during evaluation (fromJSON) */
    size_t nowned, capowned;
    size_t total; /* bytes handed out, against EX_MAX_MEMORY */
    size_t inl_used;
    _Alignas(16) char inl[EX_ARENA_INLINE]; /* first allocations, no malloc */
};

/* A string growing inside the arena. */
struct ex_abuf {
    char *p;
    size_t len, cap;
};

struct ex_ev {
    const struct ex_eval_env *env;
    const struct ex_expr *expr;
    struct ex_arena ar;
    struct gr_diag *err;
};

void ex__arena_init(struct ex_arena *ar);
void *ex__arena_alloc(struct ex_arena *ar, size_t n);
/* Append to b; past EX_MAX_MEMORY / 2 bytes it fails with the runner's memory message. */
int ex__abuf_add(struct ex_ev *ev, struct ex_abuf *b, const char *s, size_t n) GR_MUST_CHECK;
void ex__arena_own(struct ex_arena *ar, json_t *j);
void ex__arena_release(struct ex_arena *ar);

int ex__eval(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret);
int ex__eval_fn(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret);
int ex__hashfiles(struct ex_ev *ev, const struct ex_node *n, struct ex_val *ret);
int ex__ev_error(struct ex_ev *ev, const char *fmt, ...) GR_PRINTF(2, 3);
/* Fail with the memory message when the arena passes EX_MAX_MEMORY. */
int ex__ev_check_memory(struct ex_ev *ev);

/* ---- values ------------------------------------------------------------ */

void ex__val_from_json(json_t *j, struct ex_val *ret);
/* A new reference holding v (strings and numbers copied). */
json_t *ex__val_to_json(const struct ex_val *v);
bool ex__val_truthy(const struct ex_val *v);
bool ex__val_primitive(const struct ex_val *v);
/* Abstract (loose) equality and ordering as EvaluationResult. */
bool ex__val_eq(const struct ex_val *a, const struct ex_val *b);
bool ex__val_gt(const struct ex_val *a, const struct ex_val *b);
bool ex__val_lt(const struct ex_val *a, const struct ex_val *b);
double ex__val_to_number(const struct ex_val *v);
/* ConvertToString; small results use buf (>= 32 bytes), the rest borrow. */
void ex__val_to_str(const struct ex_val *v, char *buf, const char **ret, size_t *ret_len);
/* The runner's ParseNumber (JavaScript Number() rules); NaN when not a number. */
double ex__parse_number(const char *s, size_t len);
/* G15 formatting as .NET, -0 as 0; buf >= 32 bytes. Returns the length. */
size_t ex__fmt_number(double d, char *buf);
const char *ex__kind_name(enum ex_vkind k);

size_t ex__farr_len(const struct ex_val *v);
json_t *ex__farr_at(const struct ex_val *v, size_t i);
size_t ex__arr_len(const struct ex_val *v);
json_t *ex__arr_at(const struct ex_val *v, size_t i);

/* Case-insensitive (OrdinalIgnoreCase) comparisons over UTF-8. */
int ex__ci_cmp(const char *a, size_t alen, const char *b, size_t blen);
bool ex__ci_eq(const char *a, size_t alen, const char *b, size_t blen);
bool ex__ci_find(const char *h, size_t hlen, const char *n, size_t nlen);
bool ex__ci_starts(const char *h, size_t hlen, const char *n, size_t nlen);
bool ex__ci_ends(const char *h, size_t hlen, const char *n, size_t nlen);

/* fromJSON's reader: strict JSON, else Newtonsoft's lenient forms. New reference or NULL. */
json_t *ex__json_parse(const char *s, size_t len);

/* toJSON text of v into b (pretty, 2-space, as the runner). */
int ex__to_json_buf(const struct ex_val *v, struct gr_buf *b) GR_MUST_CHECK;
