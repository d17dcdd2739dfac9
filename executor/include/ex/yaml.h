/*
 * YAML as GitHub reads it (workflow-semantics.md section 13), on libyaml.
 * One document per file; every node remembers file, line and column.
 * Scalars keep their text and whether they were plain; ex_node_to_json()
 * resolves plain scalars with the YAML 1.2 core schema (so `on` stays a
 * string). Aliases are expanded (node count bounded); duplicate keys are
 * rejected case-insensitively.
 *
 * Aliases are not copied: an alias points at the anchored node, so a tree
 * may share subtrees (it is a DAG; positions of shared nodes are the
 * anchor's). Nodes are immutable after parsing and live in one arena owned
 * by the ex_doc. Errors are fatal and reported once: "file:line:col: msg",
 * with reterr->file the caller's `file` argument (it must outlive reterr).
 * Codes: GR_EPARSE (syntax, tags, aliases, duplicate keys, a second
 * document), -E2BIG (size, depth and node-count limits), -errno (load).
 *
 * Threads: the parser keeps no global state, so documents may be parsed on
 * any thread (e.g. in uv_queue_work); a finished document is read-only and
 * may be read from several threads at once.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "gr.h"

#define EX_YAML_MAX_BYTES (1024 * 1024) /* characters per file, as GitHub */
#define EX_YAML_MAX_DEPTH 50
#define EX_YAML_MAX_NODES 50000

enum ex_node_kind {
    EX_NODE_SCALAR,
    EX_NODE_SEQ,
    EX_NODE_MAP,
};

/* Scalar type after resolution (plain scalars by the core schema, quoted = string). */
enum ex_scalar_type {
    EX_SCALAR_STRING,
    EX_SCALAR_NULL,
    EX_SCALAR_BOOL,
    EX_SCALAR_INT,
    EX_SCALAR_FLOAT,
};

struct ex_node {
    enum ex_node_kind kind;
    const char *file; /* borrowed from the document */
    int line, col;    /* 1-based */
    /* EX_NODE_SCALAR */
    char *str; /* NUL-terminated text as written (after YAML unescaping) */
    size_t len;
    enum ex_scalar_type type;
    /* EX_NODE_SEQ: items[0..n); EX_NODE_MAP: keys[i] -> vals[i] for i < n (keys are scalars) */
    struct ex_node **items;
    struct ex_node **keys;
    struct ex_node **vals;
    size_t n;
    /* Added by the yaml module: */
    bool plain;      /* scalar written in plain style without a tag */
    unsigned weight; /* nodes in this subtree, aliases expanded (the 50,000 bound) */
};

struct ex_doc; /* owns every node; opaque */

/* Parse src (len bytes) read from `file` (used in diagnostics; copied). */
int ex_yaml_parse(const char *file, const char *src, size_t len, struct ex_doc **ret,
                  struct gr_diag *reterr) GR_MUST_CHECK;
int ex_yaml_load(const char *path, struct ex_doc **ret, struct gr_diag *reterr) GR_MUST_CHECK;
void ex_doc_free(struct ex_doc *doc);
/* Root node (NULL for an empty document). Valid until ex_doc_free. */
const struct ex_node *ex_doc_root(const struct ex_doc *doc);
const char *ex_doc_file(const struct ex_doc *doc);

/* Map lookup, case-sensitive (GitHub keys are). NULL when absent or not a map. */
const struct ex_node *ex_node_get(const struct ex_node *map, const char *key);
/* Scalar text or NULL when not a scalar. */
const char *ex_node_str(const struct ex_node *n);
/* Convert a subtree to a new json_t (scalars resolved by type). */
json_t *ex_node_to_json(const struct ex_node *n);
/* Human name of a node kind ("mapping", "sequence", "string", ...) for messages. */
const char *ex_node_kind_name(const struct ex_node *n);
/* Scalar resolution by the YAML 1.2 core schema (plain scalars only). */
enum ex_scalar_type ex_yaml_resolve(const char *s, size_t len);
/* Number value of an EX_SCALAR_INT/FLOAT scalar (decimal, 0x, 0o, .inf, .nan). */
double ex_node_number(const struct ex_node *n);
/* Memory held by the document's arena, in bytes (for benchmarks). */
size_t ex_doc_mem(const struct ex_doc *doc);
