/*
 * The typed workflow model over the YAML tree (see ex/workflow.h).
 *
 * DESIGN: parse (yaml.c), build the model tolerantly (a field is picked up
 * only when its node has a usable shape; the validators report the rest),
 * then validate: the schema walk (validate_schema.c) and the model checks
 * (validate.c) both append to one diagnostic list, which is sorted into
 * document order at the end. The model lives in the document's arena, so
 * ex_workflow_free releases everything at once.
 */
#include "ex/workflow.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ex/expr.h"
#include "workflow_internal.h"

/* ---- diagnostics ------------------------------------------------------- */

void ex_diags_release(struct ex_diags *d)
{
    if (!d)
        return;
    free(d->items);
    d->items = NULL;
    d->n = d->cap = 0;
}

void ex__diags_add(struct ex_diags *d, const struct gr_diag *item)
{
    GR_GROW(d->items, d->cap, d->n + 1);
    d->items[d->n++] = *item;
}

void ex__verr(struct ex__vctx *v, const struct ex_node *at, const char *fmt, ...)
{
    struct gr_diag d = {.file = v->file};
    va_list ap;

    if (at) {
        d.line = at->line;
        d.col = at->col;
    }
    va_start(ap, fmt);
    vsnprintf(d.msg, sizeof(d.msg), fmt, ap);
    va_end(ap);
    ex__diags_add(v->out, &d);
    v->n_errors++;
}

static int diag_cmp(const struct gr_diag *a, const struct gr_diag *b)
{
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return 0;
}

void ex__diags_sort(struct ex_diags *d)
{
    /* insertion sort: stable, and the list is nearly sorted already */
    for (size_t i = 1; i < d->n; i++) {
        struct gr_diag t = d->items[i];
        size_t j = i;
        while (j > 0 && diag_cmp(&d->items[j - 1], &t) > 0) {
            d->items[j] = d->items[j - 1];
            j--;
        }
        d->items[j] = t;
    }
}

/* ---- model ------------------------------------------------------------- */

static const struct ex_node *get_map(const struct ex_node *map, const char *key)
{
    const struct ex_node *n = ex_node_get(map, key);
    return n && n->kind == EX_NODE_MAP ? n : NULL;
}

static void build_step(struct ex_step *s, const struct ex_node *n, int index)
{
    const struct ex_node *id = ex_node_get(n, "id");

    s->node = n;
    s->index = index;
    /* a non-string scalar is read as its text, as the template reader converts it */
    s->id = id && id->kind == EX_NODE_SCALAR && id->type != EX_SCALAR_NULL ? id->str : NULL;
    s->name = ex_node_get(n, "name");
    s->if_ = ex_node_get(n, "if");
    s->uses = ex_node_get(n, "uses");
    s->run = ex_node_get(n, "run");
    s->shell = ex_node_get(n, "shell");
    s->working_directory = ex_node_get(n, "working-directory");
    s->env = ex_node_get(n, "env");
    s->with = ex_node_get(n, "with");
    s->continue_on_error = ex_node_get(n, "continue-on-error");
    s->timeout_minutes = ex_node_get(n, "timeout-minutes");
}

static void build_needs(struct ex__yarena *a, struct ex_job *j, const struct ex_node *needs)
{
    if (!needs)
        return;
    if (needs->kind == EX_NODE_SCALAR) {
        j->needs = ex__yarena_alloc(a, sizeof(*j->needs));
        j->needs[j->n_needs++] = needs->str;
        return;
    }
    if (needs->kind != EX_NODE_SEQ)
        return;
    j->needs = ex__yarena_alloc(a, needs->n * sizeof(*j->needs));
    for (size_t i = 0; i < needs->n; i++)
        if (needs->items[i]->kind == EX_NODE_SCALAR)
            j->needs[j->n_needs++] = needs->items[i]->str;
}

static void build_steps(struct ex__yarena *a, struct ex_job *j, const struct ex_node *steps)
{
    if (!steps || steps->kind != EX_NODE_SEQ)
        return;
    j->steps = ex__yarena_calloc(a, steps->n * sizeof(*j->steps));
    for (size_t i = 0; i < steps->n; i++)
        if (steps->items[i]->kind == EX_NODE_MAP) {
            build_step(&j->steps[j->n_steps], steps->items[i], (int)j->n_steps);
            j->n_steps++;
        }
}

static void build_job(struct ex__yarena *a, struct ex_job *j, const char *id,
                      const struct ex_node *n)
{
    j->node = n;
    j->id = id;
    j->name = ex_node_get(n, "name");
    j->if_ = ex_node_get(n, "if");
    j->runs_on = ex_node_get(n, "runs-on");
    j->env = ex_node_get(n, "env");
    j->outputs = ex_node_get(n, "outputs");
    j->environment = ex_node_get(n, "environment");
    j->permissions = ex_node_get(n, "permissions");
    j->defaults = get_map(n, "defaults");
    j->strategy = ex_node_get(n, "strategy");
    j->matrix = ex_node_get(j->strategy, "matrix");
    j->fail_fast = ex_node_get(j->strategy, "fail-fast");
    j->max_parallel = ex_node_get(j->strategy, "max-parallel");
    j->timeout_minutes = ex_node_get(n, "timeout-minutes");
    j->continue_on_error = ex_node_get(n, "continue-on-error");
    j->concurrency = ex_node_get(n, "concurrency");
    j->uses = ex_node_get(n, "uses");
    j->with = ex_node_get(n, "with");
    j->secrets = ex_node_get(n, "secrets");
    j->container = ex_node_get(n, "container");
    j->services = ex_node_get(n, "services");
    build_needs(a, j, ex_node_get(n, "needs"));
    build_steps(a, j, ex_node_get(n, "steps"));
}

static void build_jobs(struct ex__yarena *a, struct ex_workflow *wf)
{
    const struct ex_node *jobs = get_map(wf->root, "jobs");

    if (!jobs)
        return;
    wf->jobs = ex__yarena_calloc(a, jobs->n * sizeof(*wf->jobs));
    for (size_t i = 0; i < jobs->n; i++)
        if (jobs->vals[i]->kind == EX_NODE_MAP)
            build_job(a, &wf->jobs[wf->n_jobs++], jobs->keys[i]->str, jobs->vals[i]);
}

static void add_trigger(struct ex_workflow *wf, const char *event, const struct ex_node *cfg)
{
    if (cfg && cfg->kind == EX_NODE_SCALAR && cfg->type == EX_SCALAR_NULL)
        cfg = NULL;
    wf->triggers[wf->n_triggers++] = (struct ex_trigger){.event = event, .node = cfg};
}

static void build_triggers(struct ex__yarena *a, struct ex_workflow *wf)
{
    const struct ex_node *on = wf->on;

    if (!on)
        return;
    wf->triggers = ex__yarena_calloc(a, (on->n + 1) * sizeof(*wf->triggers));
    if (on->kind == EX_NODE_SCALAR && on->type != EX_SCALAR_NULL)
        add_trigger(wf, on->str, NULL);
    else if (on->kind == EX_NODE_SEQ)
        for (size_t i = 0; i < on->n; i++) {
            if (on->items[i]->kind == EX_NODE_SCALAR)
                add_trigger(wf, on->items[i]->str, NULL);
        }
    else if (on->kind == EX_NODE_MAP)
        for (size_t i = 0; i < on->n; i++)
            add_trigger(wf, on->keys[i]->str, on->vals[i]);
}

static struct ex_workflow *build(struct ex_doc *doc)
{
    struct ex_workflow *wf = gr_xcalloc(1, sizeof(*wf));
    struct ex__yarena *a = ex__doc_arena(doc);
    const struct ex_node *r = ex_doc_root(doc);

    wf->doc = doc;
    wf->path = ex_doc_file(doc);
    wf->root = r;
    wf->name = ex_node_get(r, "name");
    wf->run_name = ex_node_get(r, "run-name");
    wf->on = ex_node_get(r, "on");
    wf->env = ex_node_get(r, "env");
    wf->defaults = ex_node_get(r, "defaults");
    wf->concurrency = ex_node_get(r, "concurrency");
    wf->permissions = ex_node_get(r, "permissions");
    build_triggers(a, wf);
    build_jobs(a, wf);
    return wf;
}

void ex_workflow_free(struct ex_workflow *wf)
{
    if (!wf)
        return;
    ex_doc_free(wf->doc);
    free(wf);
}

/* ---- parse + validate -------------------------------------------------- */

/* Report the collected problems: first into reterr, all into the caller's list. */
static int finish(struct ex_diags *all, struct ex_diags *diags, struct gr_diag *reterr, int err)
{
    ex__diags_sort(all);
    if (reterr)
        *reterr = all->items[0];
    for (size_t i = 0; diags && i < all->n; i++)
        ex__diags_add(diags, &all->items[i]);
    ex_diags_release(all);
    return err;
}

int ex_workflow_parse(const char *path, const char *src, size_t len, struct ex_workflow **ret,
                      struct ex_diags *diags, struct gr_diag *reterr)
{
    struct ex_diags all = {0};
    struct ex__vctx v = {.file = path, .out = &all};
    struct ex_doc *doc = NULL;
    struct ex_workflow *wf;
    struct gr_diag d = {0};
    int r;

    r = ex_yaml_parse(path, src, len, &doc, &d);
    if (r < 0) {
        ex__diags_add(&all, &d);
        return finish(&all, diags, reterr, r);
    }
    if (!ex_doc_root(doc)) {
        ex_doc_free(doc);
        ex__verr(&v, NULL, "the workflow file is empty");
        return finish(&all, diags, reterr, GR_EINVAL_WF);
    }
    wf = build(doc);
    ex__validate_schema(&v, wf->root);
    ex__validate_model(&v, wf);
    if (v.n_errors > 0) {
        ex_workflow_free(wf);
        return finish(&all, diags, reterr, GR_EINVAL_WF);
    }
    *ret = wf;
    return 0;
}

int ex_workflow_load(const char *path, struct ex_workflow **ret, struct ex_diags *diags,
                     struct gr_diag *reterr)
{
    char *src = NULL;
    size_t len = 0;
    struct gr_diag d = {0};
    int r;

    r = gr_file_read(path, 4 * (size_t)EX_YAML_MAX_BYTES + 1, &src, &len);
    if (r < 0) {
        if (r == -E2BIG)
            gr_diag_set(&d, r, path, 0, 0, "the file is larger than %d characters",
                        EX_YAML_MAX_BYTES);
        else
            gr_diag_set(&d, r, path, 0, 0, "cannot read '%s': %s", path, gr_strerror(r));
        if (diags)
            ex__diags_add(diags, &d);
        if (reterr)
            *reterr = d;
        return r;
    }
    r = ex_workflow_parse(path, src, len, ret, diags, reterr);
    free(src);
    return r;
}

const struct ex_job *ex_workflow_job(const struct ex_workflow *wf, const char *id)
{
    for (size_t i = 0; wf && i < wf->n_jobs; i++)
        if (strcasecmp(wf->jobs[i].id, id) == 0)
            return &wf->jobs[i];
    return NULL;
}

const struct ex_trigger *ex_workflow_trigger(const struct ex_workflow *wf, const char *event)
{
    for (size_t i = 0; wf && i < wf->n_triggers; i++)
        if (strcmp(wf->triggers[i].event, event) == 0)
            return &wf->triggers[i];
    return NULL;
}

/* ---- host mode --------------------------------------------------------- */

int ex_workflow_check_host(const struct ex_workflow *wf, struct ex_diags *diags,
                           struct gr_diag *reterr)
{
    struct ex_diags all = {0};
    struct ex__vctx v = {.file = wf->path, .out = &all};

    for (size_t i = 0; i < wf->n_jobs; i++) {
        const struct ex_job *j = &wf->jobs[i];
        const struct ex_node *at = j->container ? j->container : j->services;
        if (!at)
            continue;
        /* point at the key, which is where a reader looks for it */
        for (size_t k = 0; k < j->node->n; k++)
            if (j->node->vals[k] == at)
                at = j->node->keys[k];
        ex__verr(&v, at, "job '%s': container and services are not supported in host mode", j->id);
    }
    if (v.n_errors == 0)
        return 0;
    return finish(&all, diags, reterr, GR_EINVAL_WF);
}

/* ---- evaluation -------------------------------------------------------- */

static int eval_scalar(const struct ex_node *n, const struct ex_eval_env *env, json_t **ret,
                       struct gr_diag *reterr)
{
    int r;

    if (n->type != EX_SCALAR_STRING || !ex_tmpl_has_expr(n->str)) {
        *ret = ex_node_to_json(n);
        return 0;
    }
    r = ex_tmpl_eval(n->str, env, ret, reterr);
    if (r < 0 && reterr) {
        reterr->file = n->file;
        reterr->line = n->line;
        reterr->col = n->col;
    }
    return r;
}

int ex_node_eval(const struct ex_node *n, const struct ex_eval_env *env, json_t **ret,
                 struct gr_diag *reterr)
{
    json_t *out = NULL, *item = NULL;
    int r = 0;

    if (!n) {
        *ret = json_null();
        return 0;
    }
    if (n->kind == EX_NODE_SCALAR)
        return eval_scalar(n, env, ret, reterr);
    out = n->kind == EX_NODE_SEQ ? json_array() : json_object();
    for (size_t i = 0; i < n->n; i++) {
        r = ex_node_eval(n->kind == EX_NODE_SEQ ? n->items[i] : n->vals[i], env, &item, reterr);
        if (r < 0)
            goto out;
        if (n->kind == EX_NODE_SEQ)
            json_array_append_new(out, item);
        else
            json_object_setn_new(out, n->keys[i]->str, n->keys[i]->len, item);
    }
    *ret = out;
    out = NULL;
out:
    json_decref(out);
    return r;
}
