/*
 * Shared between yaml.c, workflow.c and validate*.c; never exported.
 *
 * The arena: every node, string and array of a document (and of the
 * workflow model built on it) is bump-allocated from fixed-size chunks and
 * freed at once with the document. Allocations are 8-byte aligned.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "ex/workflow.h"
#include "ex/yaml.h"

struct ex__chunk;

struct ex__yarena {
    struct ex__chunk *head;
    size_t total; /* bytes obtained from malloc */
    size_t next;  /* size of the next chunk (0: the default) */
};

void *ex__yarena_alloc(struct ex__yarena *a, size_t n);
void *ex__yarena_calloc(struct ex__yarena *a, size_t n);
char *ex__yarena_strndup(struct ex__yarena *a, const char *s, size_t n);
void ex__yarena_release(struct ex__yarena *a);

/* The arena of a document, for the model built on top of it. */
struct ex__yarena *ex__doc_arena(struct ex_doc *doc);

/* Add a diagnostic to a list (kept in document order by the caller). */
void ex__diags_add(struct ex_diags *d, const struct gr_diag *item);

/* ---- validation (validate*.c) ------------------------------------------ */

struct ex__vctx {
    const char *file; /* caller's path: diagnostics must outlive the document */
    struct ex_diags *out;
    int n_errors;
};

GR_PRINTF(3, 4)
void ex__verr(struct ex__vctx *v, const struct ex_node *at, const char *fmt, ...);

/* Schema-driven structural check of the whole document (validate_schema.c). */
void ex__validate_schema(struct ex__vctx *v, const struct ex_node *root);
/* Model checks: job ids, needs graph, steps, cron, `if` expressions (validate.c). */
void ex__validate_model(struct ex__vctx *v, const struct ex_workflow *wf);
/* Light cron syntax check: five fields of *, n, a-b, lists and /steps (names for month, day). */
bool ex__cron_valid(const char *cron);
/* Sort diagnostics into document order (line, then column; stable). */
void ex__diags_sort(struct ex_diags *d);

/* ---- the schema table (validate_table.c, derived from the runner's schema) ---- */

enum ex__skind {
    EX__SK_NULL,
    EX__SK_BOOL,
    EX__SK_NUMBER,
    EX__SK_STRING,
    EX__SK_SEQ,
    EX__SK_MAP,
    EX__SK_ONEOF,
};

struct ex__sprop {
    const char *key;
    unsigned short type;
    bool required;
};

/* Definition indices: 0 is the root, which no reference points back to, so 0 means "none". */
struct ex__sdef {
    unsigned char kind;
    bool non_empty;                /* string: require-non-empty */
    bool is_expr;                  /* string: the whole value is an expression (`if:`) */
    unsigned ctx, fn;              /* contexts and functions this definition adds */
    const char *constant;          /* string: the only value allowed */
    const char *const *allowed;    /* string: allowed values, NULL-terminated */
    unsigned short item;           /* sequence: item type */
    unsigned short loose_key;      /* mapping: type of other keys (0: none) */
    unsigned short loose_val;      /* mapping: type of their values */
    const struct ex__sprop *props; /* mapping: well-known keys */
    unsigned short n_props;
    const unsigned short *one_of;
    unsigned short n_one_of;
};

#define EX__S_ROOT 0
#define EX__S_ANY 1
extern const struct ex__sdef ex__schema[];
extern const size_t ex__schema_len;
