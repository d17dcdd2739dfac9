/*
 * Matrix expansion as GitHub's service does it (workflow-semantics.md
 * section 1; actions/runner src/Sdk/WorkflowParser/Conversion/MatrixBuilder.cs
 * and JobNameBuilder.cs).
 *
 * Design: vectors are the keys of the matrix object other than include and
 * exclude, in object (YAML) order. Product rows are enumerated as a
 * mixed-radix counter with the first key slowest. Each include/exclude entry
 * is compiled into leaf tests "matrix[k][k2]... == literal" evaluated with the
 * expression language's loose equality (case-insensitive strings, numeric
 * coercion between primitives, missing keys read as null). Exclude drops
 * product rows; include extends matching product rows with its extra keys
 * (later entries overwrite earlier extras) and entries matching no product
 * row become new rows (filter keys first, then extras). A leg's display name
 * uses the scalar leaves of the row before extras were merged.
 */
#include "ex/plan.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EX_MATRIX_MAX_PRODUCT 65536 /* refuse to enumerate beyond this */
#define EX_MATRIX_NAME_MAX 100      /* JobNameBuilder maxNameLength */

/* ---- loose equality (Expressions2 EvaluationResult.AbstractEqual) ----- */

static double str_to_number(const char *s)
{
    char *end = NULL;
    double d;

    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        unsigned long long v;
        errno = 0;
        v = strtoull(s + 2, &end, 16);
        if (end == s + 2 || errno)
            return NAN;
        d = (double)v;
    } else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        unsigned long long v;
        errno = 0;
        v = strtoull(s + 2, &end, 8);
        if (end == s + 2 || errno)
            return NAN;
        d = (double)v;
    } else {
        if (strcmp(s, "Infinity") == 0)
            return INFINITY;
        if (strcmp(s, "-Infinity") == 0)
            return -INFINITY;
        if (strpbrk(s, "iInN")) /* strtod's inf/nan spellings are not numbers here */
            return NAN;
        d = strtod(s, &end);
        if (end == s)
            return NAN;
    }
    while (isspace((unsigned char)*end))
        end++;
    return *end ? NAN : d;
}

static bool is_primitive(const json_t *v)
{
    return !v || !(json_is_object(v) || json_is_array(v));
}

static double to_number(const json_t *v)
{
    if (!v || json_is_null(v))
        return 0;
    if (json_is_true(v))
        return 1;
    if (json_is_false(v))
        return 0;
    if (json_is_number(v))
        return json_number_value(v);
    if (json_is_string(v))
        return str_to_number(json_string_value(v));
    return NAN;
}

static int kind_of(const json_t *v)
{
    if (!v || json_is_null(v))
        return 0;
    if (json_is_boolean(v))
        return 1;
    if (json_is_number(v))
        return 2;
    if (json_is_string(v))
        return 3;
    return json_is_array(v) ? 4 : 5;
}

bool ex_matrix_value_eq(const json_t *a, const json_t *b)
{
    int ka = kind_of(a), kb = kind_of(b);

    if (ka == kb) {
        switch (ka) {
        case 0:
            return true;
        case 1:
            return json_is_true(a) == json_is_true(b);
        case 2:
            return json_number_value(a) == json_number_value(b);
        case 3:
            return strcasecmp(json_string_value(a), json_string_value(b)) == 0;
        default:
            return a == b; /* objects and arrays compare by reference */
        }
    }
    if (!is_primitive(a) || !is_primitive(b))
        return false;
    return to_number(a) == to_number(b); /* NaN never equals */
}

/* ---- value formatting -------------------------------------------------- */

char *ex_matrix_value_str(const json_t *v)
{
    char tmp[64];
    double d;

    if (!v || json_is_null(v))
        return gr_xstrdup("");
    if (json_is_string(v))
        return gr_xstrdup(json_string_value(v));
    if (json_is_true(v))
        return gr_xstrdup("true");
    if (json_is_false(v))
        return gr_xstrdup("false");
    if (json_is_integer(v))
        return gr_xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_real(v)) {
        d = json_real_value(v);
        if (isnan(d))
            return gr_xstrdup("NaN");
        if (isinf(d))
            return gr_xstrdup(d > 0 ? "Infinity" : "-Infinity");
        snprintf(tmp, sizeof(tmp), "%.15G", d); /* .NET "G15" */
        return gr_xstrdup(tmp);
    }
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
}

/* ---- display names ----------------------------------------------------- */

/* Scalar leaves in traversal order (pre-order, keys omitted), skipping null and ''. */
static void name_segments(const json_t *v, struct gr_buf *b, int depth)
{
    const char *k;
    json_t *it;
    size_t i;
    char *s;

    if (depth > 64)
        return;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, it) name_segments(it, b, depth + 1);
        return;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, it) name_segments(it, b, depth + 1);
        return;
    }
    if (!v || json_is_null(v))
        return;
    s = ex_matrix_value_str(v);
    if (*s && b->len && gr_buf_adds(b, ", ") < 0)
        *s = '\0';
    if (*s && gr_buf_adds(b, s) < 0)
        *s = '\0';
    free(s);
}

char *ex_matrix_display_name(const char *base, const json_t *leg)
{
    struct gr_buf segs = GR_BUF_INIT(0);
    char *name;
    size_t len;

    if (!base)
        base = "";
    name_segments(leg, &segs, 0);
    if (segs.len)
        name = gr_xasprintf("%s (%s)", base, segs.ptr);
    else
        name = gr_xstrdup(base);
    gr_buf_release(&segs);
    len = strlen(name);
    if (len > EX_MATRIX_NAME_MAX) {
        /* cut on a UTF-8 boundary so that the name stays valid text */
        size_t cut = EX_MATRIX_NAME_MAX - 3;
        while (cut > 0 && ((unsigned char)name[cut] & 0xC0) == 0x80)
            cut--;
        memcpy(name + cut, "...", 4);
    }
    return name;
}

/* ---- filters ----------------------------------------------------------- */

/* One leaf test: the path from the row to the leaf, and the literal. */
struct leaf_test {
    json_t *path; /* array of strings (object keys) and integers (array indexes) */
    const json_t *literal;
};

struct mfilter {
    struct leaf_test *tests;
    size_t n, cap;
    json_t *filter; /* include: the keys naming vectors; exclude: the whole entry */
    json_t *extra;  /* include only: the other keys */
    bool matched;
};

static void compile_leaves(struct mfilter *f, json_t *path, const json_t *v)
{
    const char *k;
    json_t *it;
    size_t i;

    if (json_is_object(v) || json_is_array(v)) {
        if (json_is_object(v)) {
            json_object_foreach((json_t *)v, k, it)
            {
                json_array_append_new(path, json_string(k));
                compile_leaves(f, path, it);
                json_array_remove(path, json_array_size(path) - 1);
            }
        } else {
            json_array_foreach(v, i, it)
            {
                json_array_append_new(path, json_integer((json_int_t)i));
                compile_leaves(f, path, it);
                json_array_remove(path, json_array_size(path) - 1);
            }
        }
        return;
    }
    GR_GROW(f->tests, f->cap, f->n + 1);
    f->tests[f->n].path = json_deep_copy(path);
    f->tests[f->n].literal = v;
    f->n++;
}

/* Index as the expression language does: objects by case-insensitive key. */
static const json_t *index_value(const json_t *v, const json_t *key)
{
    const char *k;
    json_t *it;

    if (json_is_string(key) && json_is_object(v)) {
        it = json_object_get(v, json_string_value(key));
        if (it)
            return it;
        json_object_foreach((json_t *)v, k,
                            it) if (strcasecmp(k, json_string_value(key)) == 0) return it;
        return NULL;
    }
    if (json_is_integer(key) && json_is_array(v))
        return json_array_get(v, (size_t)json_integer_value(key));
    return NULL;
}

static bool filter_match(const struct mfilter *f, const json_t *row)
{
    size_t i, j;

    for (i = 0; i < f->n; i++) {
        const json_t *cur = row;
        for (j = 0; cur && j < json_array_size(f->tests[i].path); j++)
            cur = index_value(cur, json_array_get(f->tests[i].path, j));
        if (!ex_matrix_value_eq(cur, f->tests[i].literal))
            return false;
    }
    return true;
}

static void mfilter_release(struct mfilter *f)
{
    size_t i;

    for (i = 0; i < f->n; i++)
        json_decref(f->tests[i].path);
    free(f->tests);
    json_decref(f->filter);
    json_decref(f->extra);
}

static void mfilter_compile(struct mfilter *f)
{
    json_t *path = json_array();

    compile_leaves(f, path, f->filter);
    json_decref(path);
}

/* ---- the builder ------------------------------------------------------- */

struct mbuild {
    json_t *vectors; /* object: key -> non-empty array, in order */
    struct mfilter *inc, *exc;
    size_t n_inc, n_exc;
    struct ex_leg *legs;
    size_t n_legs, cap_legs;
};

static void mbuild_release(struct mbuild *b)
{
    size_t i;

    for (i = 0; i < b->n_inc; i++)
        mfilter_release(&b->inc[i]);
    for (i = 0; i < b->n_exc; i++)
        mfilter_release(&b->exc[i]);
    free(b->inc);
    free(b->exc);
    json_decref(b->vectors);
}

void ex_legs_free(struct ex_leg *legs, size_t n)
{
    size_t i;

    for (i = 0; legs && i < n; i++) {
        json_decref(legs[i].matrix);
        free(legs[i].display_name);
    }
    free(legs);
}

static int parse_vectors(struct mbuild *b, const json_t *matrix, struct gr_diag *reterr)
{
    const char *k;
    json_t *v;

    b->vectors = json_object();
    json_object_foreach((json_t *)matrix, k, v)
    {
        if (strcmp(k, "include") == 0 || strcmp(k, "exclude") == 0)
            continue;
        if (!json_is_array(v))
            return gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0,
                               "Matrix vector '%s' must be a sequence", k);
        if (json_array_size(v) == 0)
            return gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0,
                               "Matrix vector '%s' does not contain any values", k);
        json_object_set(b->vectors, k, v);
    }
    return 0;
}

static int parse_excludes(struct mbuild *b, const json_t *seq, struct gr_diag *reterr)
{
    const char *k;
    json_t *e, *v;
    size_t i;

    if (!seq || json_is_null(seq))
        return 0;
    if (!json_is_array(seq))
        return gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0, "Matrix exclude must be a sequence");
    b->exc = gr_xcalloc(json_array_size(seq) + 1, sizeof(*b->exc));
    json_array_foreach(seq, i, e)
    {
        if (!json_is_object(e))
            return gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0,
                               "Matrix exclude item must be a mapping");
        if (json_object_size(e) == 0)
            return gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0,
                               "Matrix exclude filter must not be empty");
        json_object_foreach(e, k, v)
        {
            if (!json_object_get(b->vectors, k))
                return gr_diag_set(
                    reterr, GR_EINVAL_WF, NULL, 0, 0,
                    "Matrix exclude key '%s' does not match any key within the matrix", k);
        }
        b->exc[b->n_exc].filter = json_incref(e);
        mfilter_compile(&b->exc[b->n_exc]);
        b->n_exc++;
    }
    return 0;
}

static int parse_includes(struct mbuild *b, const json_t *seq, struct gr_diag *reterr)
{
    const char *k;
    json_t *e, *v;
    size_t i;

    if (!seq || json_is_null(seq))
        return 0;
    if (!json_is_array(seq))
        return gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0, "Matrix include must be a sequence");
    b->inc = gr_xcalloc(json_array_size(seq) + 1, sizeof(*b->inc));
    json_array_foreach(seq, i, e)
    {
        struct mfilter *f = &b->inc[b->n_inc];
        if (!json_is_object(e))
            return gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0,
                               "Matrix include item must be a mapping");
        if (json_object_size(e) == 0)
            return gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0,
                               "Matrix include mapping does not contain any values");
        f->filter = json_object();
        f->extra = json_object();
        json_object_foreach(e, k, v)
            json_object_set(json_object_get(b->vectors, k) ? f->filter : f->extra, k, v);
        mfilter_compile(f);
        b->n_inc++;
    }
    return 0;
}

static void add_leg(struct mbuild *b, json_t *row, char *name)
{
    GR_GROW(b->legs, b->cap_legs, b->n_legs + 1);
    b->legs[b->n_legs].matrix = row;
    b->legs[b->n_legs].display_name = name;
    b->n_legs++;
}

/* The product row with the given index (first vector slowest). */
static json_t *product_row(const json_t *vectors, size_t index, size_t size)
{
    json_t *row = json_object(), *vec;
    const char *k;
    size_t block = size;

    json_object_foreach((json_t *)vectors, k, vec)
    {
        size_t n = json_array_size(vec);
        block /= n;
        json_object_set(row, k, json_array_get(vec, (index / block) % n));
    }
    return row;
}

static int product_size(const json_t *vectors, size_t *ret, struct gr_diag *reterr)
{
    const char *k;
    json_t *vec;
    size_t size = 1;

    if (json_object_size(vectors) == 0) {
        *ret = 0;
        return 0;
    }
    json_object_foreach((json_t *)vectors, k, vec)
    {
        size *= json_array_size(vec);
        if (size > EX_MATRIX_MAX_PRODUCT)
            return gr_diag_set(reterr, -E2BIG, NULL, 0, 0,
                               "Strategy matrix has more than %d combinations; at most %d jobs "
                               "are allowed",
                               EX_MATRIX_MAX_PRODUCT, EX_MATRIX_MAX_LEGS);
    }
    *ret = size;
    return 0;
}

static void build_product(struct mbuild *b, size_t size, const char *base)
{
    size_t p, i;

    for (p = 0; p < size; p++) {
        json_t *row = product_row(b->vectors, p, size), *extra = NULL, *v;
        const char *k;
        bool excluded = false;

        for (i = 0; i < b->n_exc && !excluded; i++)
            excluded = filter_match(&b->exc[i], row);
        if (excluded) {
            json_decref(row);
            continue;
        }
        for (i = 0; i < b->n_inc; i++) {
            if (!filter_match(&b->inc[i], row))
                continue;
            b->inc[i].matched = true;
            if (!extra)
                extra = json_object();
            json_object_update(extra, b->inc[i].extra);
        }
        char *name = ex_matrix_display_name(base, row);
        if (extra)
            json_object_foreach(extra, k, v) json_object_set(row, k, v);
        json_decref(extra);
        add_leg(b, row, name);
    }
}

static void build_unmatched(struct mbuild *b, const char *base)
{
    size_t i;

    for (i = 0; i < b->n_inc; i++) {
        json_t *row;
        if (b->inc[i].matched)
            continue;
        row = json_deep_copy(b->inc[i].filter);
        json_object_update(row, b->inc[i].extra);
        add_leg(b, row, ex_matrix_display_name(base, row));
    }
}

/* act's --matrix filter: a key the user named must have one of the given values. */
static bool user_filter_keep(const json_t *filter, const json_t *row)
{
    const char *k;
    json_t *allowed, *v, *a;
    size_t i;
    bool ok = true;

    if (!filter)
        return true;
    json_object_foreach((json_t *)filter, k, allowed)
    {
        char *s;
        bool found = false;
        v = json_object_get(row, k);
        if (!v)
            continue;
        s = ex_matrix_value_str(v);
        json_array_foreach(allowed, i, a) if (json_is_string(a) &&
                                              strcmp(json_string_value(a), s) == 0) found = true;
        free(s);
        if (!found)
            ok = false;
    }
    return ok;
}

static void apply_user_filter(struct mbuild *b, const json_t *filter)
{
    size_t i, kept = 0;

    for (i = 0; i < b->n_legs; i++) {
        if (user_filter_keep(filter, b->legs[i].matrix)) {
            b->legs[kept++] = b->legs[i];
            continue;
        }
        json_decref(b->legs[i].matrix);
        free(b->legs[i].display_name);
    }
    b->n_legs = kept;
}

int ex_matrix_build(const json_t *matrix, const json_t *filter, const char *base,
                    struct ex_leg **ret_legs, size_t *ret_n, struct gr_diag *reterr)
{
    struct mbuild b = {0};
    size_t size = 0;
    int r;

    if (!json_is_object(matrix)) {
        r = gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0, "Matrix must be a mapping");
        goto out;
    }
    r = parse_vectors(&b, matrix, reterr);
    if (r < 0)
        goto out;
    r = parse_excludes(&b, json_object_get(matrix, "exclude"), reterr);
    if (r < 0)
        goto out;
    r = parse_includes(&b, json_object_get(matrix, "include"), reterr);
    if (r < 0)
        goto out;
    if (json_object_size(b.vectors) == 0 && b.n_inc == 0) {
        r = gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0, "Matrix must define at least one vector");
        goto out;
    }
    r = product_size(b.vectors, &size, reterr);
    if (r < 0)
        goto out;
    build_product(&b, size, base);
    build_unmatched(&b, base);
    if (b.n_legs > EX_MATRIX_MAX_LEGS) {
        r = gr_diag_set(reterr, -E2BIG, NULL, 0, 0,
                        "Strategy matrix produces %zu jobs; at most %d are allowed", b.n_legs,
                        EX_MATRIX_MAX_LEGS);
        goto out;
    }
    apply_user_filter(&b, filter);
    *ret_legs = b.legs;
    *ret_n = b.n_legs;
    b.legs = NULL;
    b.n_legs = 0;
    r = 0;
out:
    ex_legs_free(b.legs, b.n_legs);
    mbuild_release(&b);
    return r;
}

int ex_matrix_expand(const json_t *matrix, const json_t *filter, json_t **ret,
                     struct gr_diag *reterr)
{
    struct ex_leg *legs = NULL;
    size_t n = 0, i;
    json_t *arr;
    int r;

    r = ex_matrix_build(matrix, filter, NULL, &legs, &n, reterr);
    if (r < 0)
        return r;
    arr = json_array();
    for (i = 0; i < n; i++)
        json_array_append(arr, legs[i].matrix);
    ex_legs_free(legs, n);
    *ret = arr;
    return 0;
}
