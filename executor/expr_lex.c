/*
 * Expression lexer. Follows actions/runner src/Sdk/Expressions/Tokens/
 * LexicalAnalyzer.cs: the same token boundaries, the same rules for what may
 * follow what (a token in the wrong place becomes "unexpected"), and the same
 * tracking of unclosed "(" and "[" to tell a function's ")" from a group's.
 */
#include "expr_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ex__lex_init(struct ex_lexer *lx, const char *src, size_t len)
{
    *lx = (struct ex_lexer){.src = src, .len = len, .last = EX_TK_NONE};
}

void ex__lex_release(struct ex_lexer *lx)
{
    free(lx->unclosed);
    lx->unclosed = NULL;
}

/* Char.IsWhiteSpace over UTF-8: ASCII spaces plus the Unicode space separators. */
size_t ex__space_len(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;

    if (len == 0)
        return 0;
    if (u[0] == ' ' || (u[0] >= 0x09 && u[0] <= 0x0d))
        return 1;
    if (len >= 2 && u[0] == 0xc2 && (u[1] == 0x85 || u[1] == 0xa0))
        return 2;
    if (len >= 3 && u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80)
        return 3; /* U+1680 */
    if (len >= 3 && u[0] == 0xe2 && u[1] == 0x80 &&
        ((u[2] >= 0x80 && u[2] <= 0x8a) || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf))
        return 3; /* U+2000..200A, U+2028, U+2029, U+202F */
    if (len >= 3 && u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f)
        return 3; /* U+205F */
    if (len >= 3 && u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80)
        return 3; /* U+3000 */
    return 0;
}

static bool is_boundary(const struct ex_lexer *lx, size_t i)
{
    switch (lx->src[i]) {
    case '(':
    case '[':
    case ')':
    case ']':
    case ',':
    case '.':
    case '!':
    case '>':
    case '<':
    case '=':
    case '&':
    case '|':
        return true;
    default:
        return ex__space_len(lx->src + i, lx->len - i) > 0;
    }
}

bool ex__is_legal_keyword(const char *s, size_t len)
{
    if (len == 0)
        return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool last_in(const struct ex_lexer *lx, unsigned mask)
{
    return (mask >> lx->last) & 1u;
}

#define K(k) (1u << (k))
/* Is first, or follows "," "(" "[" or a logical operator. */
#define AFTER_START                                                                                \
    (K(EX_TK_NONE) | K(EX_TK_SEPARATOR) | K(EX_TK_START_GROUP) | K(EX_TK_START_PARAMS) |           \
     K(EX_TK_START_INDEX) | K(EX_TK_LOGICAL))
/* Follows ")", "]", "*", a property name or a named-value. */
#define AFTER_REF                                                                                  \
    (K(EX_TK_END_GROUP) | K(EX_TK_END_PARAMS) | K(EX_TK_END_INDEX) | K(EX_TK_WILDCARD) |           \
     K(EX_TK_PROPERTY) | K(EX_TK_NAMED))
/* As AFTER_REF, or a literal. */
#define AFTER_VALUE (AFTER_REF | K(EX_TK_NULL) | K(EX_TK_BOOL) | K(EX_TK_NUMBER) | K(EX_TK_STRING))

static unsigned legal_after(const struct ex_tok *t)
{
    switch (t->kind) {
    case EX_TK_START_GROUP:
        return AFTER_START;
    case EX_TK_START_INDEX:
    case EX_TK_DEREF:
        return AFTER_REF;
    case EX_TK_START_PARAMS:
        return K(EX_TK_FUNCTION);
    case EX_TK_END_GROUP:
    case EX_TK_END_INDEX:
    case EX_TK_SEPARATOR:
        return AFTER_VALUE;
    case EX_TK_END_PARAMS:
        return AFTER_VALUE | K(EX_TK_START_PARAMS);
    case EX_TK_WILDCARD:
        return K(EX_TK_START_INDEX) | K(EX_TK_DEREF);
    case EX_TK_LOGICAL:
        return t->op == EX_OP_NOT ? AFTER_START : AFTER_VALUE;
    case EX_TK_NULL:
    case EX_TK_BOOL:
    case EX_TK_NUMBER:
    case EX_TK_STRING:
    case EX_TK_FUNCTION:
    case EX_TK_NAMED:
        return AFTER_START;
    case EX_TK_PROPERTY:
        return K(EX_TK_DEREF);
    default:
        return 0;
    }
}

static enum ex_tok_kind unclosed_top(const struct ex_lexer *lx)
{
    return lx->nunclosed ? lx->unclosed[lx->nunclosed - 1] : EX_TK_NONE;
}

/* The runner's CreateToken: check legality and track open brackets. */
static void finish_token(struct ex_lexer *lx, struct ex_tok *t)
{
    if (!last_in(lx, legal_after(t))) {
        t->kind = EX_TK_UNEXPECTED;
        return;
    }
    switch (t->kind) {
    case EX_TK_START_GROUP:
    case EX_TK_START_INDEX:
    case EX_TK_START_PARAMS:
        GR_GROW(lx->unclosed, lx->capunclosed, lx->nunclosed + 1);
        lx->unclosed[lx->nunclosed++] = t->kind;
        break;
    case EX_TK_END_GROUP:
    case EX_TK_END_INDEX:
    case EX_TK_END_PARAMS: {
        enum ex_tok_kind open = t->kind == EX_TK_END_GROUP   ? EX_TK_START_GROUP
                                : t->kind == EX_TK_END_INDEX ? EX_TK_START_INDEX
                                                             : EX_TK_START_PARAMS;
        if (unclosed_top(lx) != open)
            t->kind = EX_TK_UNEXPECTED;
        else
            lx->nunclosed--;
        break;
    }
    case EX_TK_SEPARATOR:
        if (unclosed_top(lx) != EX_TK_START_PARAMS)
            t->kind = EX_TK_UNEXPECTED;
        break;
    default:
        break;
    }
}

static void read_number(struct ex_lexer *lx, struct ex_tok *t)
{
    size_t start = lx->idx;

    do {
        lx->idx++;
    } while (lx->idx < lx->len && (!is_boundary(lx, lx->idx) || lx->src[lx->idx] == '.'));
    t->pos = start;
    t->len = lx->idx - start;
    t->num = ex__parse_number(lx->src + start, t->len);
    t->kind = isnan(t->num) ? EX_TK_UNEXPECTED : EX_TK_NUMBER;
}

static bool word_is(const char *s, size_t len, const char *w)
{
    return strlen(w) == len && memcmp(s, w, len) == 0;
}

static void classify_keyword(struct ex_lexer *lx, struct ex_tok *t)
{
    const char *s = lx->src + t->pos;
    size_t i = lx->idx;

    if (lx->last == EX_TK_DEREF) {
        t->kind = EX_TK_PROPERTY;
    } else if (word_is(s, t->len, "null")) {
        t->kind = EX_TK_NULL;
    } else if (word_is(s, t->len, "true") || word_is(s, t->len, "false")) {
        t->kind = EX_TK_BOOL;
        t->b = s[0] == 't';
    } else if (word_is(s, t->len, "NaN")) {
        t->kind = EX_TK_NUMBER;
        t->num = NAN;
    } else if (word_is(s, t->len, "Infinity")) {
        t->kind = EX_TK_NUMBER;
        t->num = INFINITY;
    } else {
        size_t sp;
        while (i < lx->len && (sp = ex__space_len(lx->src + i, lx->len - i)) > 0)
            i += sp;
        t->kind = (i < lx->len && lx->src[i] == '(') ? EX_TK_FUNCTION : EX_TK_NAMED;
    }
}

static void read_keyword(struct ex_lexer *lx, struct ex_tok *t)
{
    size_t start = lx->idx;

    /* Step over the first character whole, so that a UTF-8 sequence stays in one token. */
    lx->idx++;
    while (lx->idx < lx->len && ((unsigned char)lx->src[lx->idx] & 0xc0) == 0x80)
        lx->idx++;
    while (lx->idx < lx->len && !is_boundary(lx, lx->idx))
        lx->idx++;
    t->pos = start;
    t->len = lx->idx - start;
    if (!ex__is_legal_keyword(lx->src + start, t->len)) {
        t->kind = EX_TK_UNEXPECTED;
        return;
    }
    classify_keyword(lx, t);
}

static void read_string(struct ex_lexer *lx, struct ex_tok *t)
{
    size_t start = lx->idx;
    bool closed = false;
    char *out = gr_xmalloc(lx->len - start + 1);
    size_t n = 0;

    lx->idx++;
    while (lx->idx < lx->len) {
        char c = lx->src[lx->idx++];
        if (c == '\'') {
            if (lx->idx >= lx->len || lx->src[lx->idx] != '\'') {
                closed = true;
                break;
            }
            lx->idx++;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    t->pos = start;
    t->len = lx->idx - start;
    if (!closed) {
        free(out);
        t->kind = EX_TK_UNEXPECTED;
        return;
    }
    t->kind = EX_TK_STRING;
    t->str = out;
    t->slen = n;
}

static enum ex_op op_of(const char *s, size_t len)
{
    static const struct {
        const char *text;
        enum ex_op op;
    } ops[] = {
        {"!=", EX_OP_NE}, {">=", EX_OP_GE}, {"<=", EX_OP_LE}, {"==", EX_OP_EQ}, {"&&", EX_OP_AND},
        {"||", EX_OP_OR}, {"!", EX_OP_NOT}, {">", EX_OP_GT},  {"<", EX_OP_LT},
    };
    for (size_t i = 0; i < GR_ARRAY_SIZE(ops); i++)
        if (word_is(s, len, ops[i].text))
            return ops[i].op;
    return EX_OP_NONE;
}

static void read_operator(struct ex_lexer *lx, struct ex_tok *t)
{
    size_t start = lx->idx;

    t->pos = start;
    t->kind = EX_TK_LOGICAL;
    if (start + 1 < lx->len && (t->op = op_of(lx->src + start, 2)) != EX_OP_NONE) {
        lx->idx = start + 2;
        t->len = 2;
        return;
    }
    lx->idx = start + 1;
    t->len = 1;
    t->op = op_of(lx->src + start, 1);
    if (t->op != EX_OP_NONE)
        return;
    while (lx->idx < lx->len && !is_boundary(lx, lx->idx))
        lx->idx++;
    t->len = lx->idx - start;
    t->kind = EX_TK_UNEXPECTED;
}

static void punct(struct ex_lexer *lx, struct ex_tok *t, enum ex_tok_kind kind)
{
    t->kind = kind;
    t->pos = lx->idx++;
    t->len = 1;
}

static bool number_may_start_with_dot(const struct ex_lexer *lx)
{
    return last_in(lx, K(EX_TK_NONE) | K(EX_TK_SEPARATOR) | K(EX_TK_START_GROUP) |
                           K(EX_TK_START_INDEX) | K(EX_TK_START_PARAMS) | K(EX_TK_LOGICAL));
}

static void read_token(struct ex_lexer *lx, struct ex_tok *t)
{
    char c = lx->src[lx->idx];

    switch (c) {
    case '(':
        punct(lx, t, lx->last == EX_TK_FUNCTION ? EX_TK_START_PARAMS : EX_TK_START_GROUP);
        return;
    case '[':
        punct(lx, t, EX_TK_START_INDEX);
        return;
    case ')':
        punct(lx, t, unclosed_top(lx) == EX_TK_START_PARAMS ? EX_TK_END_PARAMS : EX_TK_END_GROUP);
        return;
    case ']':
        punct(lx, t, EX_TK_END_INDEX);
        return;
    case ',':
        punct(lx, t, EX_TK_SEPARATOR);
        return;
    case '*':
        punct(lx, t, EX_TK_WILDCARD);
        return;
    case '\'':
        read_string(lx, t);
        return;
    case '!':
    case '>':
    case '<':
    case '=':
    case '&':
    case '|':
        read_operator(lx, t);
        return;
    default:
        break;
    }
    if (c == '.') {
        if (number_may_start_with_dot(lx))
            read_number(lx, t);
        else
            punct(lx, t, EX_TK_DEREF);
    } else if (c == '-' || c == '+' || (c >= '0' && c <= '9')) {
        read_number(lx, t);
    } else {
        read_keyword(lx, t);
    }
}

bool ex__lex_next(struct ex_lexer *lx, struct ex_tok *t)
{
    size_t sp;

    *t = (struct ex_tok){.kind = EX_TK_NONE};
    while (lx->idx < lx->len && (sp = ex__space_len(lx->src + lx->idx, lx->len - lx->idx)) > 0)
        lx->idx += sp;
    if (lx->idx >= lx->len)
        return false;
    read_token(lx, t);
    if (t->kind != EX_TK_UNEXPECTED)
        finish_token(lx, t);
    lx->last = t->kind;
    return true;
}

size_t ex__utf16_pos(const char *s, size_t off)
{
    size_t n = 0;

    for (size_t i = 0; i < off; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xc0) == 0x80)
            continue;
        n += c >= 0xf0 ? 2 : 1; /* a 4-byte sequence is a surrogate pair */
    }
    return n + 1;
}

int ex__char_col(const char *s, size_t off)
{
    int n = 0;

    for (size_t i = 0; i < off; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            n++;
    return n + 1;
}
