/*
 * YAML as GitHub's workflow parser reads it (workflow-semantics.md section
 * 13; actions/runner src/Sdk/WorkflowParser/Conversion/YamlObjectReader.cs).
 *
 * DESIGN: one pass over libyaml's event stream builds the node tree. Open
 * collections sit on a frame stack; their children are pushed on one shared
 * scratch vector and copied into the arena when the collection closes, so a
 * node costs one arena allocation and no realloc. Anchors are recorded when
 * their node completes; an alias points at the anchored node and adds its
 * weight (subtree size) to the node count, which bounds alias bombs at
 * EX_YAML_MAX_NODES without expanding anything. Duplicate keys are caught
 * when the key is read (a linear scan for small mappings, a hash set past
 * KEYSET_FROM keys), so the first error is the first in the document. The
 * arena's first chunk is sized from the input, so a typical document is one
 * allocation.
 */
#include "ex/yaml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "workflow_internal.h"

#define CHUNK_SIZE (64 * 1024)
#define CHUNK_MAX (4 * 1024 * 1024)
#define TAG_PREFIX "tag:yaml.org,2002:"

/* ---- arena ------------------------------------------------------------- */

struct ex__chunk {
    struct ex__chunk *next;
    size_t used, size;
    max_align_t data[];
};

void *ex__yarena_alloc(struct ex__yarena *a, size_t n)
{
    struct ex__chunk *c = a->head;
    void *p;

    n = (n + 7) & ~(size_t)7;
    if (!c || c->size - c->used < n) {
        size_t size = a->next > CHUNK_SIZE ? a->next : CHUNK_SIZE;
        if (size < n)
            size = n;
        c = gr_xmalloc(sizeof(*c) + size);
        c->size = size;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->total += sizeof(*c) + size;
        /* grow geometrically: few chunks, and untouched tail pages cost no memory */
        a->next = size < CHUNK_MAX / 2 ? 2 * size : CHUNK_MAX;
    }
    p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

void *ex__yarena_calloc(struct ex__yarena *a, size_t n)
{
    void *p = ex__yarena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *ex__yarena_strndup(struct ex__yarena *a, const char *s, size_t n)
{
    char *p = ex__yarena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void ex__yarena_release(struct ex__yarena *a)
{
    struct ex__chunk *c = a->head;

    while (c) {
        struct ex__chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

/* ---- document ---------------------------------------------------------- */

struct ex_doc {
    char *file;
    struct ex_node *root;
    struct ex__yarena arena;
};

struct ex__yarena *ex__doc_arena(struct ex_doc *doc)
{
    return &doc->arena;
}

void ex_doc_free(struct ex_doc *doc)
{
    if (!doc)
        return;
    ex__yarena_release(&doc->arena);
    free(doc->file);
    free(doc);
}

const struct ex_node *ex_doc_root(const struct ex_doc *doc)
{
    return doc ? doc->root : NULL;
}

const char *ex_doc_file(const struct ex_doc *doc)
{
    return doc ? doc->file : NULL;
}

size_t ex_doc_mem(const struct ex_doc *doc)
{
    return doc ? doc->arena.total : 0;
}

/* ---- scalar resolution (YAML 1.2 core schema) -------------------------- */

static bool all_in(const char *s, size_t len, const char *set)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr(set, s[i]) || s[i] == '\0')
            return false;
    return true;
}

static bool is_one_of(const char *s, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == len && memcmp(*words, s, len) == 0)
            return true;
    return false;
}

static bool is_int(const char *s, size_t len)
{
    if (len > 2 && s[0] == '0' && s[1] == 'o')
        return all_in(s + 2, len - 2, "01234567");
    if (len > 2 && s[0] == '0' && s[1] == 'x')
        return all_in(s + 2, len - 2, "0123456789abcdefABCDEF");
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        s++;
        len--;
    }
    return all_in(s, len, "0123456789");
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool is_float_num(const char *s, size_t len)
{
    size_t i = 0, digits = 0;

    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < len && s[i] >= '0' && s[i] <= '9' && ++digits)
        i++;
    if (i < len && s[i] == '.') {
        size_t frac = 0;
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9' && ++frac)
            i++;
        if (digits == 0 && frac == 0)
            return false;
    } else if (digits == 0) {
        return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        if (!all_in(s + i, len - i, "0123456789"))
            return false;
        i = len;
    }
    return i == len;
}

static bool is_float(const char *s, size_t len)
{
    static const char *const inf[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nan[] = {".nan", ".NaN", ".NAN", NULL};

    if (is_one_of(s, len, nan))
        return true;
    if (len > 0 && (s[0] == '-' || s[0] == '+') && is_one_of(s + 1, len - 1, inf))
        return true;
    return is_one_of(s, len, inf) || is_float_num(s, len);
}

enum ex_scalar_type ex_yaml_resolve(const char *s, size_t len)
{
    static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};

    if (len == 0 || is_one_of(s, len, nulls))
        return EX_SCALAR_NULL;
    if (is_one_of(s, len, bools))
        return EX_SCALAR_BOOL;
    if (is_int(s, len))
        return EX_SCALAR_INT;
    if (is_float(s, len))
        return EX_SCALAR_FLOAT;
    return EX_SCALAR_STRING;
}

double ex_node_number(const struct ex_node *n)
{
    const char *s = n->str;
    bool neg = s[0] == '-';
    const char *u = (s[0] == '-' || s[0] == '+') ? s + 1 : s;

    if (u[0] == '.' && (u[1] == 'n' || u[1] == 'N'))
        return NAN;
    if (u[0] == '.' && (u[1] == 'i' || u[1] == 'I'))
        return neg ? -INFINITY : INFINITY;
    if (s[0] == '0' && s[1] == 'o')
        return (double)strtoull(s + 2, NULL, 8);
    if (s[0] == '0' && s[1] == 'x')
        return (double)strtoull(s + 2, NULL, 16);
    return strtod(s, NULL);
}

/* ---- the event-driven builder ------------------------------------------ */

/*
 * Keys seen in one mapping, for the duplicate check: a linear scan while the
 * mapping is small, then an open-addressing set of case-insensitive hashes
 * (slots hold the key's offset from the frame base plus one), so a mapping
 * of many keys stays linear.
 */
#define KEYSET_FROM 16

struct keyset {
    uint32_t *hash;
    uint32_t *slot;
    size_t cap, count;
};

struct frame {
    struct ex_node *node;
    size_t base; /* first child in the scratch vector */
    const char *anchor;
    struct keyset keys;
};

struct anchor {
    const char *name;
    struct ex_node *node;
};

struct builder {
    struct ex_doc *doc;
    const char *file; /* the caller's, for diagnostics */
    struct gr_diag *reterr;
    struct frame *frames;
    size_t n_frames, cap_frames;
    struct ex_node **scratch;
    size_t n_scratch, cap_scratch;
    struct anchor *anchors;
    size_t n_anchors, cap_anchors;
    unsigned long nodes;
};

GR_PRINTF(4, 5)
static int fail(struct builder *b, int err, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[sizeof(b->reterr->msg)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return gr_diag_set(b->reterr, err, b->file, (int)m->line + 1, (int)m->column + 1, "%s", msg);
}

static int count_nodes(struct builder *b, unsigned weight, const yaml_mark_t *m)
{
    b->nodes += weight;
    if (b->nodes > EX_YAML_MAX_NODES)
        return gr_diag_set(b->reterr, -E2BIG, b->file, (int)m->line + 1, (int)m->column + 1,
                           "the document has more than %d nodes (aliases expanded)",
                           EX_YAML_MAX_NODES);
    return 0;
}

static struct ex_node *new_node(struct builder *b, enum ex_node_kind kind, const yaml_mark_t *m)
{
    struct ex_node *n = ex__yarena_calloc(&b->doc->arena, sizeof(*n));
    n->kind = kind;
    n->file = b->doc->file;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    n->weight = 1;
    return n;
}

static const char *short_tag(const char *tag)
{
    if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0)
        return tag + strlen(TAG_PREFIX);
    return NULL;
}

/* Apply an explicit scalar tag: !!str/!!bool/!!int/!!float/!!null (and "!"). */
static int apply_tag(struct builder *b, struct ex_node *n, const char *tag, const yaml_mark_t *m)
{
    enum ex_scalar_type t = ex_yaml_resolve(n->str, n->len);
    const char *name = short_tag(tag);

    if (strcmp(tag, "!") == 0 || (name && strcmp(name, "str") == 0)) {
        n->type = EX_SCALAR_STRING;
        return 0;
    }
    if (!name)
        return fail(b, GR_EPARSE, m, "unsupported tag '%s'", tag);
    if (strcmp(name, "null") == 0 && t == EX_SCALAR_NULL)
        n->type = t;
    else if (strcmp(name, "bool") == 0 && t == EX_SCALAR_BOOL)
        n->type = t;
    else if (strcmp(name, "int") == 0 && t == EX_SCALAR_INT)
        n->type = t;
    else if (strcmp(name, "float") == 0 && (t == EX_SCALAR_FLOAT || t == EX_SCALAR_INT))
        n->type = EX_SCALAR_FLOAT;
    else if (strcmp(name, "null") && strcmp(name, "bool") && strcmp(name, "int") &&
             strcmp(name, "float"))
        return fail(b, GR_EPARSE, m, "unsupported tag '!!%s'", name);
    else
        return gr_diag_set(b->reterr, GR_EPARSE, b->file, n->line, n->col,
                           "'%s' is not a valid value for the tag '!!%s'", n->str, name);
    return 0;
}

static int add_anchor(struct builder *b, const char *name, struct ex_node *n)
{
    if (!name)
        return 0;
    GR_GROW(b->anchors, b->cap_anchors, b->n_anchors + 1);
    b->anchors[b->n_anchors++] = (struct anchor){.name = name, .node = n};
    return 0;
}

static struct ex_node *find_anchor(struct builder *b, const char *name)
{
    for (size_t i = b->n_anchors; i > 0; i--)
        if (strcmp(b->anchors[i - 1].name, name) == 0)
            return b->anchors[i - 1].node;
    return NULL;
}

static uint32_t key_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        h = (h ^ (c >= 'A' && c <= 'Z' ? c + 32u : c)) * 16777619u;
    }
    return h;
}

static bool same_key(const struct ex_node *a, const struct ex_node *b)
{
    return a->len == b->len && strncasecmp(a->str, b->str, a->len) == 0;
}

static void keyset_release(struct keyset *ks)
{
    free(ks->hash);
    free(ks->slot);
    *ks = (struct keyset){0};
}

/* Insert key number `idx` (offset from the frame base); returns the clashing key or NULL. */
static const struct ex_node *keyset_add(struct keyset *ks, struct ex_node **kids, uint32_t idx);

static void keyset_grow(struct keyset *ks, struct ex_node **kids)
{
    struct keyset old = *ks;

    ks->cap = old.cap ? old.cap * 2 : 64;
    ks->count = 0;
    ks->hash = gr_xcalloc(ks->cap, sizeof(*ks->hash));
    ks->slot = gr_xcalloc(ks->cap, sizeof(*ks->slot));
    for (size_t i = 0; i < old.cap; i++)
        if (old.slot[i])
            (void)keyset_add(ks, kids, old.slot[i] - 1);
    keyset_release(&old);
}

static const struct ex_node *keyset_add(struct keyset *ks, struct ex_node **kids, uint32_t idx)
{
    const struct ex_node *key = kids[idx];
    uint32_t h = key_hash(key->str, key->len);
    size_t i;

    if (2 * (ks->count + 1) > ks->cap)
        keyset_grow(ks, kids);
    for (i = h & (ks->cap - 1); ks->slot[i]; i = (i + 1) & (ks->cap - 1))
        if (ks->hash[i] == h && same_key(kids[ks->slot[i] - 1], key))
            return kids[ks->slot[i] - 1];
    ks->hash[i] = h;
    ks->slot[i] = idx + 1;
    ks->count++;
    return NULL;
}

/* A key must be a scalar, and unique in its mapping (ignoring case). */
static int check_key(struct builder *b, struct frame *f, const struct ex_node *key)
{
    struct ex_node **kids = b->scratch + f->base;
    size_t n = (b->n_scratch - f->base) / 2; /* keys before this one */
    const struct ex_node *clash = NULL;

    if (key->kind != EX_NODE_SCALAR)
        return gr_diag_set(b->reterr, GR_EPARSE, b->file, key->line, key->col,
                           "a mapping key must be a scalar, not a %s", ex_node_kind_name(key));
    if (n < KEYSET_FROM) {
        for (size_t i = 0; i < n && !clash; i++)
            if (same_key(kids[2 * i], key))
                clash = kids[2 * i];
    } else {
        if (!f->keys.cap)
            for (size_t i = 0; i < n; i++)
                (void)keyset_add(&f->keys, kids, (uint32_t)(2 * i));
        /* the key is not on the scratch vector yet: check it through a temporary slot */
        GR_GROW(b->scratch, b->cap_scratch, b->n_scratch + 1);
        kids = b->scratch + f->base;
        kids[2 * n] = (struct ex_node *)key;
        clash = keyset_add(&f->keys, kids, (uint32_t)(2 * n));
    }
    if (clash)
        return gr_diag_set(b->reterr, GR_EPARSE, b->file, key->line, key->col,
                           "'%s' is already defined", key->str);
    return 0;
}

static int add_child(struct builder *b, struct ex_node *n)
{
    struct frame *f;
    int r;

    if (b->n_frames == 0) {
        b->doc->root = n;
        return 0;
    }
    f = &b->frames[b->n_frames - 1];
    if (f->node->kind == EX_NODE_MAP && (b->n_scratch - f->base) % 2 == 0) {
        r = check_key(b, f, n);
        if (r < 0)
            return r;
    }
    GR_GROW(b->scratch, b->cap_scratch, b->n_scratch + 1);
    b->scratch[b->n_scratch++] = n;
    return 0;
}

static char *anchor_name(struct builder *b, const yaml_char_t *anchor)
{
    if (!anchor)
        return NULL;
    return ex__yarena_strndup(&b->doc->arena, (const char *)anchor, strlen((const char *)anchor));
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    const yaml_mark_t *m = &ev->start_mark;
    struct ex_node *n;
    int r;

    r = count_nodes(b, 1, m);
    if (r < 0)
        return r;
    n = new_node(b, EX_NODE_SCALAR, m);
    n->len = ev->data.scalar.length;
    n->str = ex__yarena_strndup(&b->doc->arena, (const char *)ev->data.scalar.value, n->len);
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag;
    if (ev->data.scalar.tag) {
        r = apply_tag(b, n, (const char *)ev->data.scalar.tag, m);
        if (r < 0)
            return r;
    } else {
        n->type = n->plain ? ex_yaml_resolve(n->str, n->len) : EX_SCALAR_STRING;
    }
    r = add_anchor(b, anchor_name(b, ev->data.scalar.anchor), n);
    if (r < 0)
        return r;
    return add_child(b, n);
}

static int on_start(struct builder *b, const yaml_event_t *ev, enum ex_node_kind kind)
{
    const yaml_mark_t *m = &ev->start_mark;
    const yaml_char_t *tag, *anchor;
    const char *want = kind == EX_NODE_MAP ? "map" : "seq";
    const char *name;
    int r;

    tag = kind == EX_NODE_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
    anchor = kind == EX_NODE_MAP ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    name = tag ? short_tag((const char *)tag) : NULL;
    if (tag && strcmp((const char *)tag, "!") != 0 && (!name || strcmp(name, want) != 0))
        return fail(b, GR_EPARSE, m, "unsupported tag '%s'", (const char *)tag);
    if (b->n_frames >= EX_YAML_MAX_DEPTH)
        return gr_diag_set(b->reterr, -E2BIG, b->file, (int)m->line + 1, (int)m->column + 1,
                           "maximum object depth exceeded (more than %d levels)",
                           EX_YAML_MAX_DEPTH);
    r = count_nodes(b, 1, m);
    if (r < 0)
        return r;
    GR_GROW(b->frames, b->cap_frames, b->n_frames + 1);
    b->frames[b->n_frames++] = (struct frame){
        .node = new_node(b, kind, m),
        .base = b->n_scratch,
        .anchor = anchor_name(b, anchor),
    };
    return 0;
}

static int on_end(struct builder *b)
{
    struct frame f = b->frames[--b->n_frames];
    struct ex_node *n = f.node;

    keyset_release(&f.keys);
    size_t count = b->n_scratch - f.base;
    struct ex_node **kids = b->scratch + f.base;
    struct ex__yarena *a = &b->doc->arena;

    for (size_t i = 0; i < count; i++)
        n->weight += kids[i]->weight;
    if (n->kind == EX_NODE_SEQ) {
        n->n = count;
        n->items = ex__yarena_alloc(a, count * sizeof(*n->items));
        if (count > 0)
            memcpy(n->items, kids, count * sizeof(*n->items));
    } else {
        n->n = count / 2;
        n->keys = ex__yarena_alloc(a, n->n * sizeof(*n->keys));
        n->vals = ex__yarena_alloc(a, n->n * sizeof(*n->vals));
        for (size_t i = 0; i < n->n; i++) {
            n->keys[i] = kids[2 * i];
            n->vals[i] = kids[2 * i + 1];
        }
    }
    b->n_scratch = f.base;
    (void)add_anchor(b, f.anchor, n);
    return add_child(b, n);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    struct ex_node *n = find_anchor(b, name);
    int r;

    if (!n)
        return fail(b, GR_EPARSE, &ev->start_mark, "unknown alias '%s'", name);
    r = count_nodes(b, n->weight, &ev->start_mark);
    if (r < 0)
        return r;
    return add_child(b, n);
}

static int on_event(struct builder *b, const yaml_event_t *ev, int *docs)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1)
            return fail(b, GR_EPARSE, &ev->start_mark, "%s",
                        "only one YAML document is allowed (expected the end of the stream)");
        return 0;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, ev, EX_NODE_SEQ);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, ev, EX_NODE_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(b);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    default:
        return 0;
    }
}

/* Reader errors (encoding) carry a byte offset, not a mark: count lines and characters. */
static int reader_error(struct builder *b, const yaml_parser_t *p, const char *src, size_t len)
{
    size_t off = p->problem_offset < len ? p->problem_offset : len;
    int line = 1, col = 1;
    char what[32] = "";

    for (size_t i = 0; i < off; i++) {
        if (src[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)src[i] & 0xc0) != 0x80) {
            col++;
        }
    }
    if (p->problem_value >= 0)
        snprintf(what, sizeof(what), " (0x%02x)", (unsigned)p->problem_value & 0xffu);
    return gr_diag_set(b->reterr, GR_EPARSE, b->file, line, col, "%s%s",
                       p->problem ? p->problem : "invalid input", what);
}

static int libyaml_error(struct builder *b, const yaml_parser_t *p, const char *src, size_t len)
{
    const yaml_mark_t *m = &p->problem_mark;
    const char *problem = p->problem ? p->problem : "invalid YAML";

    if (p->error == YAML_READER_ERROR)
        return reader_error(b, p, src, len);

    if (p->error == YAML_MEMORY_ERROR)
        return gr_diag_set(b->reterr, -ENOMEM, b->file, 0, 0, "out of memory parsing YAML");
    if (p->context)
        return gr_diag_set(b->reterr, GR_EPARSE, b->file, (int)m->line + 1, (int)m->column + 1,
                           "%s %s", problem, p->context);
    return fail(b, GR_EPARSE, m, "%s", problem);
}

static int run_parser(struct builder *b, const char *src, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    int docs = 0, r = 0;
    bool done = false;

    if (!yaml_parser_initialize(&parser))
        return gr_diag_set(b->reterr, -ENOMEM, b->file, 0, 0, "cannot initialise libyaml");
    yaml_parser_set_input_string(&parser, (const unsigned char *)src, len);
    while (!done && r == 0) {
        if (!yaml_parser_parse(&parser, &ev)) {
            r = libyaml_error(b, &parser, src, len);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        r = on_event(b, &ev, &docs);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return r;
}

static int check_size(const char *file, const char *src, size_t len, struct gr_diag *reterr)
{
    size_t chars = 0;

    if (len > 4 * (size_t)EX_YAML_MAX_BYTES)
        return gr_diag_set(reterr, -E2BIG, file, 0, 0, "the file is larger than %d characters",
                           EX_YAML_MAX_BYTES);
    for (size_t i = 0; i < len; i++)
        chars += ((unsigned char)src[i] & 0xc0) != 0x80;
    if (chars > EX_YAML_MAX_BYTES)
        return gr_diag_set(reterr, -E2BIG, file, 0, 0, "the file is larger than %d characters",
                           EX_YAML_MAX_BYTES);
    return 0;
}

int ex_yaml_parse(const char *file, const char *src, size_t len, struct ex_doc **ret,
                  struct gr_diag *reterr)
{
    struct builder b = {.file = file, .reterr = reterr};
    int r;

    r = check_size(file, src, len, reterr);
    if (r < 0)
        return r;
    b.doc = gr_xcalloc(1, sizeof(*b.doc));
    /* a tree takes about eight times its text: one chunk holds most documents */
    b.doc->arena.next = len < CHUNK_MAX / 8 ? len * 8 : CHUNK_MAX;
    b.doc->file = gr_xstrdup(file ? file : "");
    r = run_parser(&b, src, len);
    for (size_t i = 0; i < b.n_frames; i++)
        keyset_release(&b.frames[i].keys);
    free(b.frames);
    free(b.scratch);
    free(b.anchors);
    if (r < 0) {
        ex_doc_free(b.doc);
        return r;
    }
    *ret = b.doc;
    return 0;
}

int ex_yaml_load(const char *path, struct ex_doc **ret, struct gr_diag *reterr)
{
    char *src = NULL;
    size_t len = 0;
    int r;

    r = gr_file_read(path, 4 * (size_t)EX_YAML_MAX_BYTES + 1, &src, &len);
    if (r == -E2BIG)
        return gr_diag_set(reterr, r, path, 0, 0, "the file is larger than %d characters",
                           EX_YAML_MAX_BYTES);
    if (r < 0)
        return gr_diag_set(reterr, r, path, 0, 0, "cannot read '%s': %s", path, gr_strerror(r));
    r = ex_yaml_parse(path, src, len, ret, reterr);
    free(src);
    return r;
}

/* ---- accessors --------------------------------------------------------- */

const struct ex_node *ex_node_get(const struct ex_node *map, const char *key)
{
    if (!map || map->kind != EX_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i]->str, key) == 0)
            return map->vals[i];
    return NULL;
}

const char *ex_node_str(const struct ex_node *n)
{
    return n && n->kind == EX_NODE_SCALAR ? n->str : NULL;
}

const char *ex_node_kind_name(const struct ex_node *n)
{
    if (!n)
        return "nothing";
    if (n->kind == EX_NODE_MAP)
        return "mapping";
    if (n->kind == EX_NODE_SEQ)
        return "sequence";
    switch (n->type) {
    case EX_SCALAR_NULL:
        return "null";
    case EX_SCALAR_BOOL:
        return "boolean";
    case EX_SCALAR_INT:
    case EX_SCALAR_FLOAT:
        return "number";
    case EX_SCALAR_STRING:
        break;
    }
    return "string";
}

static json_t *scalar_to_json(const struct ex_node *n)
{
    double d;

    switch (n->type) {
    case EX_SCALAR_NULL:
        return json_null();
    case EX_SCALAR_BOOL:
        return json_boolean(n->str[0] == 't' || n->str[0] == 'T');
    case EX_SCALAR_INT:
    case EX_SCALAR_FLOAT:
        d = ex_node_number(n);
        if (n->type == EX_SCALAR_INT && d >= -9.007199254740992e15 && d <= 9.007199254740992e15)
            return json_integer((json_int_t)d);
        if (isfinite(d))
            return json_real(d);
        break;
    case EX_SCALAR_STRING:
        break;
    }
    return json_stringn(n->str, n->len);
}

json_t *ex_node_to_json(const struct ex_node *n)
{
    json_t *j;

    if (!n)
        return json_null();
    if (n->kind == EX_NODE_SCALAR)
        return scalar_to_json(n);
    if (n->kind == EX_NODE_SEQ) {
        j = json_array();
        for (size_t i = 0; i < n->n; i++)
            json_array_append_new(j, ex_node_to_json(n->items[i]));
        return j;
    }
    j = json_object();
    for (size_t i = 0; i < n->n; i++)
        json_object_setn_new(j, n->keys[i]->str, n->keys[i]->len, ex_node_to_json(n->vals[i]));
    return j;
}
