/*
 * The planner: which event, whether it triggers the workflow, the github
 * and inputs contexts, the `needs` graph in stages and each job's matrix
 * legs (workflow-semantics.md sections 1, 2, 9).
 *
 * Design: stages follow Kahn's algorithm, a job's stage being one more than
 * the latest stage of its needs, so every stage only depends on earlier ones;
 * within a stage jobs keep file order. -j JOB plans that job plus everything
 * it needs, transitively (act's PlanJob in pkg/model/planner.go), and ignores
 * whether the event triggers the workflow, as act does.
 *
 * strategy.matrix is evaluated here when every expression in it uses only
 * contexts known before any job runs (github, inputs, vars); anything else
 * (needs.*) marks the job matrix_deferred and the engine expands it when the
 * job becomes runnable. The evaluation handles `${{ insert }}` keys in
 * mappings and splices an expression item of a sequence that yields an array
 * (act-testdata evalmatrix-merge-map, evalmatrix-merge-array).
 */
#include "ex/plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ex/expr.h"

#define PLAN_CTX (EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS)

/* Fill a diag's position from a node when the callee did not set one. */
static int at_node(struct gr_diag *d, const struct ex_node *n, int r)
{
    if (d && n && !d->file) {
        d->file = n->file;
        d->line = n->line;
        d->col = n->col;
    }
    return r;
}

/* ---- evaluation at plan time ------------------------------------------- */

static bool is_insert_key(const char *s)
{
    const char *p = s;

    if (strncmp(p, "${{", 3) != 0)
        return false;
    p += 3;
    while (*p == ' ')
        p++;
    if (strncasecmp(p, "insert", 6) != 0)
        return false;
    p += 6;
    while (*p == ' ')
        p++;
    return strcmp(p, "}}") == 0;
}

/* Every template in a subtree (keys too) uses only contexts in `allowed`. */
static bool node_uses_only(const struct ex_node *n, unsigned allowed)
{
    size_t i;

    if (!n)
        return true;
    if (n->kind == EX_NODE_SCALAR)
        return !ex_tmpl_has_expr(n->str) || ex_tmpl_check(n->str, allowed, 0, NULL) == 0;
    for (i = 0; i < n->n; i++) {
        if (n->kind == EX_NODE_MAP) {
            if (!is_insert_key(n->keys[i]->str) && !node_uses_only(n->keys[i], allowed))
                return false;
            if (!node_uses_only(n->vals[i], allowed))
                return false;
        } else if (!node_uses_only(n->items[i], allowed)) {
            return false;
        }
    }
    return true;
}

/* The scalar is one ${{ }} and nothing else (as ex_tmpl_eval keeps the value's type). */
static bool scalar_is_one_expr(const struct ex_node *n)
{
    const char *s = n->str, *e = n->str + n->len;

    while (*s == ' ' || *s == '\n' || *s == '\t')
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t'))
        e--;
    return e - s >= 5 && strncmp(s, "${{", 3) == 0 && strncmp(e - 2, "}}", 2) == 0 &&
           !strstr(s + 3, "${{");
}

static int eval_node(const struct ex_node *n, const struct ex_eval_env *env, json_t **ret,
                     struct gr_diag *reterr);

/*
 * Expression numbers are doubles; integral ones become JSON integers, as
 * YAML integers are, so that legs compare and print the same either way.
 */
static json_t *normalize_numbers(json_t *v)
{
    const char *k;
    json_t *it;
    size_t i;
    double d;

    if (json_is_real(v)) {
        d = json_real_value(v);
        if (d == (double)(json_int_t)d && d > -9007199254740992.0 && d < 9007199254740992.0) {
            json_decref(v);
            return json_integer((json_int_t)d);
        }
        return v;
    }
    if (json_is_object(v))
        json_object_foreach(v, k, it) json_object_set_new(v, k, normalize_numbers(json_incref(it)));
    else if (json_is_array(v))
        json_array_foreach(v, i, it) json_array_set_new(v, i, normalize_numbers(json_incref(it)));
    return v;
}

static int eval_scalar(const struct ex_node *n, const struct ex_eval_env *env, json_t **ret,
                       struct gr_diag *reterr)
{
    json_t *v = NULL;
    int r;

    if (n->kind == EX_NODE_SCALAR && ex_tmpl_has_expr(n->str)) {
        r = at_node(reterr, n, ex_tmpl_eval(n->str, env, &v, reterr));
        if (r < 0)
            return r;
        *ret = normalize_numbers(v);
        return 0;
    }
    *ret = ex_node_to_json(n);
    return 0;
}

static int eval_seq(const struct ex_node *n, const struct ex_eval_env *env, json_t **ret,
                    struct gr_diag *reterr)
{
    json_t *arr = json_array(), *v = NULL;
    size_t i;
    int r = 0;

    for (i = 0; i < n->n && r >= 0; i++) {
        const struct ex_node *it = n->items[i];
        r = eval_node(it, env, &v, reterr);
        if (r < 0)
            break;
        if (it->kind == EX_NODE_SCALAR && scalar_is_one_expr(it) && json_is_array(v))
            json_array_extend(arr, v);
        else
            json_array_append(arr, v);
        json_decref(v);
    }
    if (r < 0) {
        json_decref(arr);
        return r;
    }
    *ret = arr;
    return 0;
}

static int eval_map(const struct ex_node *n, const struct ex_eval_env *env, json_t **ret,
                    struct gr_diag *reterr)
{
    json_t *obj = json_object(), *k = NULL, *v = NULL;
    size_t i;
    int r = 0;

    for (i = 0; i < n->n; i++) {
        r = eval_node(n->vals[i], env, &v, reterr);
        if (r < 0)
            break;
        if (is_insert_key(n->keys[i]->str)) {
            if (!json_is_object(v))
                r = at_node(reterr, n->keys[i],
                            gr_diag_set(reterr, GR_EEXPR, NULL, 0, 0,
                                        "${{ insert }} needs a mapping value"));
            else
                json_object_update(obj, v);
        } else {
            r = eval_scalar(n->keys[i], env, &k, reterr);
            if (r >= 0) {
                char *ks = ex_matrix_value_str(k);
                json_object_set(obj, ks, v);
                free(ks);
            }
            json_decref(k);
            k = NULL;
        }
        json_decref(v);
        v = NULL;
        if (r < 0)
            break;
    }
    if (r < 0) {
        json_decref(obj);
        return r;
    }
    *ret = obj;
    return 0;
}

static int eval_node(const struct ex_node *n, const struct ex_eval_env *env, json_t **ret,
                     struct gr_diag *reterr)
{
    if (n->kind == EX_NODE_MAP)
        return eval_map(n, env, ret, reterr);
    if (n->kind == EX_NODE_SEQ)
        return eval_seq(n, env, ret, reterr);
    return eval_scalar(n, env, ret, reterr);
}

/* ---- contexts ---------------------------------------------------------- */

static json_t *plan_contexts(const struct ex_plan *p, const json_t *matrix)
{
    json_t *c = json_object();

    json_object_set(c, "github", p->github);
    json_object_set_new(c, "inputs", p->inputs ? json_incref(p->inputs) : json_object());
    json_object_set_new(c, "vars", p->vars ? json_incref(p->vars) : json_object());
    if (matrix)
        json_object_set(c, "matrix", (json_t *)matrix);
    return c;
}

static const char *default_event(const struct ex_workflow *wf)
{
    if (ex_workflow_trigger(wf, "push"))
        return "push";
    return wf->n_triggers > 0 ? wf->triggers[0].event : "push";
}

/* github.workflow, workflow_ref, token */
static void github_extras(struct ex_plan *p)
{
    const struct ex_workflow *wf = p->wf;
    const char *name = wf->name ? ex_node_str(wf->name) : NULL;
    const char *repo = json_string_value(json_object_get(p->github, "repository"));
    const char *ref = json_string_value(json_object_get(p->github, "ref"));
    const char *token = json_string_value(json_object_get(p->secrets, "GITHUB_TOKEN"));
    const char *path = wf->path ? wf->path : "";
    const char *gh = strstr(path, ".github/workflows/");
    char *wref;

    json_object_set_new(p->github, "workflow", json_string(name && *name ? name : path));
    wref = gr_xasprintf("%s/%s@%s", repo ? repo : "", gh ? gh : path, ref ? ref : "");
    json_object_set_new(p->github, "workflow_ref", json_string(wref));
    free(wref);
    json_object_set(p->github, "workflow_sha", json_object_get(p->github, "sha"));
    json_object_set_new(p->github, "token", json_string(token ? token : ""));
}

/*
 * What a generated payload cannot know without the workflow: schedule's cron
 * string (the first one) and workflow_dispatch's workflow path.
 */
static void payload_extras(struct ex_plan *p, const struct ex_trigger *t)
{
    json_t *ev = json_object_get(p->github, "event");
    const struct ex_node *first;

    if (!t || !json_is_object(ev))
        return;
    if (strcmp(t->event, "schedule") == 0 && t->node && t->node->kind == EX_NODE_SEQ &&
        t->node->n > 0) {
        first = ex_node_get(t->node->items[0], "cron");
        if (first && ex_node_str(first) && !json_object_get(ev, "schedule"))
            json_object_set_new(ev, "schedule", json_string(ex_node_str(first)));
    }
    if (strcmp(t->event, "workflow_dispatch") == 0 && !json_object_get(ev, "workflow"))
        json_object_set_new(ev, "workflow", json_string(p->wf->path ? p->wf->path : ""));
}

/* workflow_dispatch / workflow_call inputs: typed context and github.event.inputs. */
static int plan_inputs(struct ex_plan *p, const struct ex_trigger *t, const json_t *given_cli,
                       unsigned flags, struct gr_diag *reterr)
{
    json_t *event = json_object_get(p->github, "event");
    json_t *given = json_object(), *typed = NULL, *strings = NULL, *ctx;
    json_t *from_payload = json_object_get(event, "inputs");
    int r;

    if (json_is_object(from_payload))
        json_object_update(given, from_payload);
    if (given_cli)
        json_object_update(given, (json_t *)given_cli);
    ctx = plan_contexts(p, NULL);
    r = ex_events_inputs(t, given, ctx, flags, &typed, &strings, reterr);
    json_decref(ctx);
    json_decref(given);
    if (r < 0)
        return r;
    p->inputs = typed;
    if (strcmp(t->event, "workflow_dispatch") == 0 && json_is_object(event))
        json_object_set_new(event, "inputs", strings);
    else
        json_decref(strings);
    return 0;
}

/* Decide p->triggered; fills p->not_triggered (owned) when false. */
static void plan_trigger(struct ex_plan *p, const struct ex_trigger *t,
                         const struct ex_plan_opts *o)
{
    json_t *changed = NULL;
    struct gr_diag d = {0};

    if (o->job_id) {
        p->triggered = true;
        return;
    }
    if (!t) {
        p->triggered = false;
        if (p->wf->n_triggers == 0)
            p->not_triggered = gr_xstrdup("the workflow has no events ('on' is missing)");
        else if (ex_workflow_trigger(p->wf, "workflow_call"))
            p->not_triggered = gr_xasprintf("'on' has no '%s' event (a reusable workflow runs "
                                            "when a job calls it)",
                                            p->event_name);
        else
            p->not_triggered = gr_xasprintf("'on' has no '%s' event", p->event_name);
        return;
    }
    if (o->ignore_filters) {
        p->triggered = true;
        return;
    }
    /* the diff is computed only for triggers that filter on paths */
    if (t->node && t->node->kind == EX_NODE_MAP &&
        (ex_node_get(t->node, "paths") || ex_node_get(t->node, "paths-ignore")) &&
        ex_github_changed_files(o->repo_dir, p->github, &changed, &d) < 0)
        changed = NULL;
    p->triggered = ex_events_triggered(t, p->github, changed, &p->not_triggered);
    json_decref(changed);
}

/* ---- jobs and stages --------------------------------------------------- */

static const struct ex_job *find_job(const struct ex_workflow *wf, const char *id)
{
    size_t i;

    for (i = 0; i < wf->n_jobs; i++)
        if (strcasecmp(wf->jobs[i].id, id) == 0)
            return &wf->jobs[i];
    return NULL;
}

static size_t job_index(const struct ex_workflow *wf, const struct ex_job *j)
{
    return (size_t)(j - wf->jobs);
}

static int check_needs(const struct ex_workflow *wf, struct gr_diag *reterr)
{
    size_t i, k;

    for (i = 0; i < wf->n_jobs; i++) {
        const struct ex_job *j = &wf->jobs[i];
        for (k = 0; k < j->n_needs; k++) {
            if (find_job(wf, j->needs[k]))
                continue;
            return at_node(reterr, j->node,
                           gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0,
                                       "Job '%s' depends on unknown job '%s'", j->id, j->needs[k]));
        }
    }
    return 0;
}

/* Mark the selected jobs: all, or -j and its transitive needs. */
static int select_jobs(const struct ex_workflow *wf, const char *job_id, bool *sel,
                       struct gr_diag *reterr)
{
    const struct ex_job *j;
    size_t i, k;
    bool grew = true;

    if (!job_id) {
        for (i = 0; i < wf->n_jobs; i++)
            sel[i] = true;
        return 0;
    }
    j = find_job(wf, job_id);
    if (!j)
        return gr_diag_set(reterr, GR_ENOTFOUND, wf->path, 0, 0, "job '%s' not found in '%s'",
                           job_id, wf->path ? wf->path : "the workflow");
    sel[job_index(wf, j)] = true;
    while (grew) {
        grew = false;
        for (i = 0; i < wf->n_jobs; i++) {
            for (k = 0; sel[i] && k < wf->jobs[i].n_needs; k++) {
                size_t x = job_index(wf, find_job(wf, wf->jobs[i].needs[k]));
                grew = grew || !sel[x];
                sel[x] = true;
            }
        }
    }
    return 0;
}

/* stage[i] for selected jobs (Kahn by levels); error on a cycle. */
static int assign_stages(const struct ex_workflow *wf, const bool *sel, int *stage,
                         int *ret_n_stages, struct gr_diag *reterr)
{
    size_t i, k, left = 0;
    int s;

    for (i = 0; i < wf->n_jobs; i++) {
        stage[i] = -1;
        left += sel[i];
    }
    for (s = 0; left > 0; s++) {
        size_t placed = 0;
        for (i = 0; i < wf->n_jobs; i++) {
            bool ready = sel[i] && stage[i] < 0;
            for (k = 0; ready && k < wf->jobs[i].n_needs; k++) {
                int ns = stage[job_index(wf, find_job(wf, wf->jobs[i].needs[k]))];
                ready = ns >= 0 && ns < s;
            }
            if (ready) {
                stage[i] = s;
                placed++;
            }
        }
        if (placed == 0) {
            for (i = 0; i < wf->n_jobs && !(sel[i] && stage[i] < 0); i++)
                ;
            return at_node(reterr, wf->jobs[i].node,
                           gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0,
                                       "Job '%s' is part of a dependency cycle", wf->jobs[i].id));
        }
        left -= placed;
    }
    *ret_n_stages = s;
    return 0;
}

/* ---- one job ----------------------------------------------------------- */

static char *job_base_name(const struct ex_job *j, bool *ret_is_expr)
{
    const char *name = j->name ? ex_node_str(j->name) : NULL;

    *ret_is_expr = name && ex_tmpl_has_expr(name);
    return gr_xstrdup(name && *name ? name : j->id);
}

/* A job name written with ${{ }} is evaluated per leg and used without suffix. */
static void eval_leg_name(const struct ex_plan *p, const struct ex_job *j, struct ex_leg *leg)
{
    json_t *ctx = plan_contexts(p, leg->matrix), *v = NULL;
    struct ex_eval_env env = {.contexts = ctx};

    if (ex_tmpl_eval(ex_node_str(j->name), &env, &v, NULL) == 0) {
        free(leg->display_name);
        leg->display_name = ex_matrix_value_str(v);
        json_decref(v);
    }
    json_decref(ctx);
}

static int strategy_scalars(const struct ex_plan *p, struct ex_plan_job *pj, struct gr_diag *reterr)
{
    const struct ex_job *j = pj->job;
    json_t *ctx = plan_contexts(p, NULL), *v = NULL;
    struct ex_eval_env env = {.contexts = ctx};
    int r = 0;

    pj->fail_fast = true;
    if (j->fail_fast && node_uses_only(j->fail_fast, PLAN_CTX)) {
        r = eval_scalar(j->fail_fast, &env, &v, reterr);
        if (r >= 0)
            pj->fail_fast = ex_value_truthy(v);
        json_decref(v);
        v = NULL;
    }
    if (r >= 0 && j->max_parallel && node_uses_only(j->max_parallel, PLAN_CTX)) {
        r = eval_scalar(j->max_parallel, &env, &v, reterr);
        if (r >= 0 && json_is_number(v) && json_number_value(v) >= 1)
            pj->max_parallel = (int)json_number_value(v);
        json_decref(v);
    }
    json_decref(ctx);
    return r;
}

static int plan_matrix(const struct ex_plan *p, struct ex_plan_job *pj, const json_t *filter,
                       struct gr_diag *reterr)
{
    const struct ex_job *j = pj->job;
    json_t *ctx, *m = NULL;
    struct ex_eval_env env;
    bool name_expr;
    char *base = job_base_name(j, &name_expr);
    size_t i;
    int r;

    if (!node_uses_only(j->matrix, PLAN_CTX)) {
        pj->matrix_deferred = true;
        free(base);
        return 0;
    }
    ctx = plan_contexts(p, NULL);
    env = (struct ex_eval_env){.contexts = ctx};
    r = eval_node(j->matrix, &env, &m, reterr);
    json_decref(ctx);
    if (r >= 0)
        r = at_node(reterr, j->matrix,
                    ex_matrix_build(m, filter, base, &pj->legs, &pj->n_legs, reterr));
    for (i = 0; r >= 0 && name_expr && i < pj->n_legs; i++)
        eval_leg_name(p, j, &pj->legs[i]);
    json_decref(m);
    free(base);
    return r;
}

static int plan_called(const struct ex_plan *parent, struct ex_plan_job *pj,
                       const struct ex_plan_opts *o, struct gr_diag *reterr);

static int plan_job(const struct ex_plan *p, struct ex_plan_job *pj, const struct ex_plan_opts *o,
                    struct gr_diag *reterr)
{
    const struct ex_job *j = pj->job;
    bool name_expr;
    int r;

    pj->id = j->id;
    r = strategy_scalars(p, pj, reterr);
    if (r < 0)
        return r;
    if (j->matrix) {
        r = plan_matrix(p, pj, o->matrix_filter, reterr);
    } else {
        pj->legs = gr_xcalloc(1, sizeof(*pj->legs));
        pj->n_legs = 1;
        pj->legs[0].display_name = job_base_name(j, &name_expr);
        if (name_expr)
            eval_leg_name(p, j, &pj->legs[0]);
    }
    if (r >= 0 && j->uses)
        r = plan_called(p, pj, o, reterr);
    return r;
}

static int plan_jobs(struct ex_plan *p, const struct ex_plan_opts *o, struct gr_diag *reterr)
{
    const struct ex_workflow *wf = p->wf;
    bool *sel = gr_xcalloc(wf->n_jobs + 1, sizeof(*sel));
    int *stage = gr_xcalloc(wf->n_jobs + 1, sizeof(*stage));
    size_t i;
    int s, r;

    r = check_needs(wf, reterr);
    if (r >= 0)
        r = select_jobs(wf, o->job_id, sel, reterr);
    if (r >= 0)
        r = assign_stages(wf, sel, stage, &p->n_stages, reterr);
    if (r < 0)
        goto out;
    p->jobs = gr_xcalloc(wf->n_jobs + 1, sizeof(*p->jobs));
    for (s = 0; s < p->n_stages; s++) {
        for (i = 0; i < wf->n_jobs; i++) {
            if (!sel[i] || stage[i] != s)
                continue;
            p->jobs[p->n_jobs].job = &wf->jobs[i];
            p->jobs[p->n_jobs].stage = s;
            p->n_jobs++;
            r = plan_job(p, &p->jobs[p->n_jobs - 1], o, reterr);
            if (r < 0)
                goto out;
        }
    }
out:
    free(sel);
    free(stage);
    return r;
}

/* ---- the plan ---------------------------------------------------------- */

static json_t *copy_or_empty(const json_t *v)
{
    return v ? json_deep_copy(v) : json_object();
}

int ex_plan_build(const struct ex_workflow *wf, const struct ex_plan_opts *opts,
                  struct ex_plan **ret, struct gr_diag *reterr)
{
    struct ex_plan *p = gr_xcalloc(1, sizeof(*p));
    const struct ex_trigger *t;
    bool has_inputs;
    int r;

    p->wf = wf;
    p->event_name = gr_xstrdup(opts->event_name ? opts->event_name : default_event(wf));
    p->secrets = copy_or_empty(opts->secrets);
    p->vars = copy_or_empty(opts->vars);
    p->env = copy_or_empty(opts->env);
    p->repo_dir = gr_xstrdup(opts->repo_dir ? opts->repo_dir : ".");
    p->matrix_filter = opts->matrix_filter ? json_incref(opts->matrix_filter) : NULL;
    r = ex_github_context(opts->repo_dir, p->event_name, opts->event_payload, &p->github, reterr);
    if (r < 0)
        goto out;
    github_extras(p);
    t = ex_workflow_trigger(wf, p->event_name);
    if (!opts->event_payload)
        payload_extras(p, t);
    has_inputs = strcmp(p->event_name, "workflow_dispatch") == 0 ||
                 strcmp(p->event_name, "workflow_call") == 0;
    /*
     * A reusable workflow replayed on its own (its first trigger, not asked
     * for) has no caller to give its required inputs: they are left empty.
     */
    if (t && has_inputs)
        r = plan_inputs(p, t, opts->inputs,
                        !opts->event_name && strcmp(p->event_name, "workflow_call") == 0
                            ? EX_INPUTS_PARTIAL
                            : 0,
                        reterr);
    else if (!has_inputs && opts->inputs && json_object_size(opts->inputs) > 0)
        r = gr_diag_set(reterr, GR_EUSAGE, NULL, 0, 0,
                        "--input needs a workflow_dispatch or workflow_call event the workflow "
                        "declares (event is '%s')",
                        p->event_name);
    if (r < 0)
        goto out;
    plan_trigger(p, t, opts);
    if (p->triggered)
        r = plan_jobs(p, opts, reterr);
    if (r >= 0 && p->triggered)
        r = ex_plan_calls_count(p, NULL, reterr);
out:
    if (r < 0) {
        ex_plan_free(p);
        return r;
    }
    *ret = p;
    return 0;
}

void ex_plan_free(struct ex_plan *plan)
{
    size_t i;

    if (!plan)
        return;
    for (i = 0; i < plan->n_jobs; i++) {
        ex_legs_free(plan->jobs[i].legs, plan->jobs[i].n_legs);
        ex_plan_free(plan->jobs[i].called);
    }
    free(plan->jobs);
    free(plan->event_name);
    free(plan->not_triggered);
    json_decref(plan->github);
    json_decref(plan->inputs);
    json_decref(plan->secrets);
    json_decref(plan->vars);
    json_decref(plan->env);
    json_decref(plan->matrix_filter);
    json_decref(plan->perm_max);
    free(plan->repo_dir);
    ex_workflow_free(plan->owned_wf);
    free(plan);
}

/* ---- reusable workflows (workflow-semantics.md section 10) ------------- */

#define WF_DIR "./.github/workflows/"

char *ex_plan_callee_path(const struct ex_plan *parent, const char *uses)
{
    const char *repo = parent->repo_dir ? parent->repo_dir : ".";
    const char *wfp = parent->wf ? parent->wf->path : NULL;
    const char *slash = wfp ? strrchr(wfp, '/') : NULL;
    char *path = gr_path_join(repo, uses + 2), *dir, *alt;

    /*
     * `replay -W DIR` may read workflows from outside the repository: then
     * the caller's own directory stands in for .github/workflows.
     */
    if (gr_path_exists(path) || !gr_startswith(uses, WF_DIR) || !wfp)
        return path;
    dir = slash ? gr_xstrndup(wfp, (size_t)(slash - wfp)) : gr_xstrdup(".");
    alt = gr_path_join(dir, uses + strlen(WF_DIR));
    free(dir);
    if (!gr_path_exists(alt)) {
        free(alt);
        return path;
    }
    free(path);
    return alt;
}

static int load_callee(const struct ex_plan *parent, const struct ex_job *j,
                       struct ex_workflow **ret, struct gr_diag *reterr)
{
    const char *uses = ex_node_str(j->uses);
    char *path = ex_plan_callee_path(parent, uses);
    struct gr_diag d = {0};
    char where[700];
    int r;

    r = ex_workflow_load(path, ret, NULL, &d);
    if (r < 0) {
        if (!d.file)
            d.file = path;
        gr_diag_format(&d, where, sizeof(where));
        r = at_node(reterr, j->uses,
                    gr_diag_set(reterr, r, NULL, 0, 0, "cannot use '%s': %s", uses, where));
    }
    free(path);
    return r;
}

/* Contexts for `with:` and `secrets:`: the run's (c->ctx), else those known at plan time. */
static json_t *call_contexts(const struct ex_plan *parent, const json_t *run_ctx)
{
    json_t *ctx;

    if (run_ctx)
        return json_deep_copy(run_ctx);
    ctx = plan_contexts(parent, NULL);
    json_object_set(ctx, "secrets", parent->secrets);
    return ctx;
}

/* The key of map equal to key ignoring case (the workflow parser's createTokenMap), or NULL. */
static const struct ex_node *node_key_ci(const struct ex_node *map, const char *key)
{
    for (size_t i = 0; map && map->kind == EX_NODE_MAP && i < map->n; i++) {
        if (strcasecmp(map->keys[i]->str, key) == 0)
            return map->keys[i];
    }
    return NULL;
}

/*
 * secrets: inherit, or a mapping checked against on.workflow_call.secrets,
 * names compared ignoring case, as actions/languageservices
 * workflow-parser/src/model/converter/job/secrets.ts does; a secret the
 * callee does not declare is an error ("Invalid secret, ...").
 */
static int called_secrets(const struct ex_plan *parent, const struct ex_job *j,
                          const struct ex_trigger *t, const json_t *run_ctx, json_t **ret,
                          struct gr_diag *reterr)
{
    const struct ex_node *decl =
        t->node && t->node->kind == EX_NODE_MAP ? ex_node_get(t->node, "secrets") : NULL;
    const struct ex_node *map = j->secrets, *rq;
    json_t *out = json_object(), *ctx = call_contexts(parent, run_ctx), *v = NULL;
    struct ex_eval_env env = {.contexts = ctx};
    bool deferred = false;
    size_t i;
    int r = 0;

    if (map && map->kind == EX_NODE_SCALAR && strcmp(map->str, "inherit") == 0) {
        json_object_update(out, parent->secrets);
        goto out;
    }
    for (i = 0; map && map->kind == EX_NODE_MAP && i < map->n && r >= 0; i++) {
        const struct ex_node *dk = node_key_ci(decl, map->keys[i]->str);
        const char *k = dk ? dk->str : map->keys[i]->str;

        if (!dk) {
            r = at_node(reterr, map->keys[i],
                        gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0,
                                    "Invalid secret, %s is not defined in the referenced workflow.",
                                    k));
            break;
        }
        if (!run_ctx && !node_uses_only(map->vals[i], PLAN_CTX | EX_CTX_SECRETS)) {
            deferred = true;
            continue;
        }
        r = eval_scalar(map->vals[i], &env, &v, reterr);
        if (r >= 0)
            json_object_set_new(out, k,
                                json_string(json_string_value(v) ? json_string_value(v) : ""));
        json_decref(v);
        v = NULL;
    }
    for (i = 0; r >= 0 && decl && decl->kind == EX_NODE_MAP && i < decl->n; i++) {
        const char *k = decl->keys[i]->str;
        rq = ex_node_get(decl->vals[i], "required");
        if (!rq || rq->type != EX_SCALAR_BOOL || strcmp(rq->str, "true") != 0 ||
            json_object_get(out, k) || (deferred && node_key_ci(map, k)))
            continue;
        r = at_node(reterr, j->uses,
                    gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0,
                                "Secret %s is required, but not provided while calling.", k));
    }
out:
    if (r >= 0 && !json_object_get(out, "GITHUB_TOKEN") &&
        json_object_get(parent->secrets, "GITHUB_TOKEN"))
        json_object_set(out, "GITHUB_TOKEN", json_object_get(parent->secrets, "GITHUB_TOKEN"));
    json_decref(ctx);
    if (r < 0)
        json_decref(out);
    else
        *ret = out;
    return r;
}

/*
 * `with:` that needs run-time contexts: at plan time its keys are still
 * checked (unknown inputs, missing required ones) and the values known now
 * are evaluated; the engine evaluates all of it again when the job starts.
 */
static int with_partial(const struct ex_job *j, const struct ex_trigger *t,
                        const struct ex_eval_env *env, json_t **ret, struct gr_diag *reterr)
{
    const struct ex_node *decls =
        t->node && t->node->kind == EX_NODE_MAP ? ex_node_get(t->node, "inputs") : NULL;
    const struct ex_node *w = j->with, *rq;
    json_t *given = json_object(), *v = NULL;
    size_t i;
    int r = 0;

    for (i = 0; w->kind == EX_NODE_MAP && i < w->n && r >= 0; i++) {
        if (!decls || decls->kind != EX_NODE_MAP || !ex_node_get(decls, w->keys[i]->str))
            r = at_node(reterr, w->keys[i],
                        gr_diag_set(reterr, GR_EUSAGE, NULL, 0, 0,
                                    "Invalid input, %s is not defined in the referenced workflow",
                                    w->keys[i]->str));
        else if (node_uses_only(w->vals[i], PLAN_CTX) &&
                 (r = eval_node(w->vals[i], env, &v, reterr)) >= 0)
            json_object_set_new(given, w->keys[i]->str, v);
    }
    for (i = 0; r >= 0 && decls && decls->kind == EX_NODE_MAP && i < decls->n; i++) {
        rq = ex_node_get(decls->vals[i], "required");
        if (rq && rq->type == EX_SCALAR_BOOL && strcmp(rq->str, "true") == 0 &&
            !ex_node_get(w, decls->keys[i]->str))
            r = at_node(reterr, j->uses,
                        gr_diag_set(reterr, GR_EUSAGE, NULL, 0, 0,
                                    "Input %s is required, but not provided while calling",
                                    decls->keys[i]->str));
    }
    if (r < 0) {
        json_decref(given);
        return r;
    }
    *ret = given;
    return 0;
}

/* with: typed inputs (at plan time only what github/inputs/vars give). */
static int called_inputs(const struct ex_plan *parent, const struct ex_job *j,
                         const struct ex_trigger *t, const json_t *run_ctx, struct ex_plan *sub,
                         struct gr_diag *reterr)
{
    json_t *ctx = call_contexts(parent, run_ctx), *given = NULL, *strings = NULL;
    struct ex_eval_env env = {.contexts = ctx};
    unsigned flags = EX_INPUTS_STRICT;
    int r = 0;

    if (j->with && !run_ctx && !node_uses_only(j->with, PLAN_CTX)) {
        sub->inputs_deferred = true;
        flags |= EX_INPUTS_PARTIAL;
        r = with_partial(j, t, &env, &given, reterr);
    } else if (j->with) {
        r = eval_node(j->with, &env, &given, reterr);
    }
    if (r >= 0 && !json_is_object(given)) {
        json_decref(given);
        given = json_object();
    }
    if (r >= 0)
        r = ex_events_inputs(t, given, ctx, flags, &sub->inputs, &strings, reterr);
    json_decref(strings);
    json_decref(given);
    json_decref(ctx);
    return r;
}

/* "<caller> / <callee leg>" for every leg of the called plan, recursively. */
static void prefix_names(struct ex_plan *sub, const char *caller)
{
    size_t i, k;

    for (i = 0; i < sub->n_jobs; i++) {
        for (k = 0; k < sub->jobs[i].n_legs; k++) {
            char *n = gr_xasprintf("%s / %s", caller, sub->jobs[i].legs[k].display_name);
            free(sub->jobs[i].legs[k].display_name);
            sub->jobs[i].legs[k].display_name = n;
        }
        if (sub->jobs[i].called)
            prefix_names(sub->jobs[i].called, caller);
    }
}

/*
 * A problem inside the called workflow is reported at the caller's `uses:`,
 * with the callee's position in the message: the callee is freed with the
 * failed plan, so the diag must not point into it.
 */
static int rehome(struct gr_diag *d, const struct ex_node *at, int r)
{
    char where[sizeof(d->msg)];

    if (!d || r >= 0 || d->file == at->file)
        return r;
    if (gr_startswith(d->msg, "in the called workflow: ")) {
        /* already rehomed one level down: keep the innermost position in the message */
        d->file = at->file;
        d->line = at->line;
        d->col = at->col;
        return r;
    }
    gr_diag_format(d, where, sizeof(where));
    return gr_diag_set(d, r, at->file, at->line, at->col, "in the called workflow: %s", where);
}

static int call_build(const struct ex_plan *parent, const struct ex_plan_job *pj,
                      const struct ex_plan_call *c, struct ex_plan *sub, struct gr_diag *reterr)
{
    const struct ex_job *j = pj->job;
    struct ex_plan_opts so = {.repo_dir = sub->repo_dir, .matrix_filter = sub->matrix_filter};
    const struct ex_trigger *t;
    int r;

    if (parent->depth >= EX_REUSE_MAX_DEPTH)
        return at_node(reterr, j->uses,
                       gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0,
                                   "Nested reusable workflow depth exceeded %d.",
                                   EX_REUSE_MAX_DEPTH + 1));
    if (!sub->owned_wf) {
        r = load_callee(parent, j, &sub->owned_wf, reterr);
        if (r < 0)
            return r;
    }
    sub->wf = sub->owned_wf;
    t = ex_workflow_trigger(sub->wf, "workflow_call");
    if (!t)
        return at_node(reterr, j->uses,
                       gr_diag_set(reterr, GR_EINVAL_WF, NULL, 0, 0,
                                   "workflow_call key is not defined in the referenced workflow."));
    r = ex_plan_perms_check(parent, pj, sub, reterr);
    if (r >= 0)
        r = called_inputs(parent, j, t, c->ctx, sub, reterr);
    if (r >= 0)
        r = called_secrets(parent, j, t, c->ctx, &sub->secrets, reterr);
    if (r >= 0)
        r = plan_jobs(sub, &so, reterr);
    if (r >= 0)
        prefix_names(sub, c->caller_name);
    return r;
}

int ex_plan_call(const struct ex_plan *parent, const struct ex_plan_job *pj,
                 const struct ex_plan_call *c, struct ex_plan **ret, struct gr_diag *reterr)
{
    struct ex_plan *sub = gr_xcalloc(1, sizeof(*sub));
    int r;

    sub->owned_wf = c->wf;
    sub->caller = pj;
    sub->depth = parent->depth + 1;
    sub->repo_dir = gr_xstrdup(c->repo_dir ? c->repo_dir : parent->repo_dir);
    sub->matrix_filter = parent->matrix_filter ? json_incref(parent->matrix_filter) : NULL;
    sub->event_name = gr_xstrdup(parent->event_name);
    sub->github = json_deep_copy(parent->github);
    sub->vars = json_deep_copy(parent->vars);
    sub->env = json_deep_copy(parent->env);
    sub->triggered = true;
    r = rehome(reterr, pj->job->uses, call_build(parent, pj, c, sub, reterr));
    if (r < 0) {
        ex_plan_free(sub);
        return r;
    }
    *ret = sub;
    return 0;
}

static int plan_called(const struct ex_plan *parent, struct ex_plan_job *pj,
                       const struct ex_plan_opts *o, struct gr_diag *reterr)
{
    const char *uses = ex_node_str(pj->job->uses);
    struct ex_plan_call c = {0};
    bool name_expr;
    char *caller;
    int r;

    (void)o;
    if (!uses || !gr_startswith(uses, "./"))
        return 0; /* remote reusable workflows are fetched by the engine */
    caller =
        pj->n_legs == 1 ? gr_xstrdup(pj->legs[0].display_name) : job_base_name(pj->job, &name_expr);
    c.caller_name = caller;
    r = ex_plan_call(parent, pj, &c, &pj->called, reterr);
    free(caller);
    return r;
}
