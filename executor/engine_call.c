/*
 * Reusable workflows at run time (workflow-semantics.md section 10).
 *
 * A job with `uses:` runs no process of its own. Each of its legs (one per
 * matrix combination) becomes a scope: the called workflow planned again
 * with that leg's contexts (so `with:` and `secrets:` may use needs, matrix
 * and strategy, and the callee's matrix sees the real inputs), whose jobs
 * join the run's job list and are scheduled like any other, with `needs`
 * resolved inside the scope. When the scope's last job is done, the
 * callee's on.workflow_call.outputs are evaluated over its `jobs` context
 * and become the caller's outputs (last leg wins per key, as for matrix
 * jobs), and the worst result of its jobs is the leg's result.
 *
 * `./.github/workflows/F` is read from the repository (ex_plan_callee_path);
 * `owner/repo/path@ref` goes through the actions resolver (--action-dir,
 * then a clone from --actions-url) and its own ./ calls resolve in that
 * checkout. A call that cannot start (bad inputs, missing workflow, depth)
 * fails its leg with the error, reported under the leg's name.
 */
#include "action_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- scopes ------------------------------------------------------------ */

static struct ex__jobrun *jobrun_new(struct ex__run *run, struct ex__scope *sc,
                                     const struct ex_plan_job *pj)
{
    struct ex__jobrun *jr = gr_xcalloc(1, sizeof(*jr));
    const char *name = ex_node_str(pj->job->name);

    jr->run = run;
    jr->pj = pj;
    jr->scope = sc;
    jr->idx = run->n_jobs;
    jr->id = gr_xasprintf("%s%s", sc->id_prefix, pj->id);
    if (!sc->name)
        jr->name = gr_xstrdup(pj->id);
    else
        jr->name = gr_xasprintf("%s / %s", sc->name,
                                name && *name && !ex_tmpl_has_expr(name) ? name : pj->id);
    jr->is_call = pj->job->uses != NULL;
    jr->outputs = json_object();
    jr->result = EX_RESULT_SKIPPED;
    GR_GROW(run->jobs, run->cap_jobs, run->n_jobs + 1);
    run->jobs[run->n_jobs++] = jr;
    return jr;
}

struct ex__scope *ex__scope_new(struct ex__run *run, struct ex__scope *up,
                                struct ex__jobrun *caller, struct ex_plan *plan, const char *name)
{
    struct ex__scope *sc = gr_xcalloc(1, sizeof(*sc));

    sc->up = up;
    sc->caller = caller;
    sc->owned = plan;
    sc->plan = plan ? plan : run->plan;
    sc->name = name ? gr_xstrdup(name) : NULL;
    sc->t0 = gr_now_ns();
    sc->id_prefix = up ? gr_xasprintf("%s%s/", up->id_prefix, caller->pj->id) : gr_xstrdup("");
    GR_GROW(run->scopes, run->cap_scopes, run->n_scopes + 1);
    run->scopes[run->n_scopes++] = sc;
    sc->jobs = gr_xcalloc(sc->plan->n_jobs + 1, sizeof(*sc->jobs));
    for (size_t i = 0; i < sc->plan->n_jobs; i++)
        sc->jobs[sc->n_jobs++] = jobrun_new(run, sc, &sc->plan->jobs[i]);
    run->again = true;
    return sc;
}

/* on.workflow_call.outputs.<o>.value over github, inputs, vars and jobs. */
static json_t *scope_outputs(const struct ex__scope *sc)
{
    const struct ex_plan *p = sc->plan;
    const struct ex_trigger *t = ex_workflow_trigger(p->wf, "workflow_call");
    const struct ex_node *outs =
        t && t->node && t->node->kind == EX_NODE_MAP ? ex_node_get(t->node, "outputs") : NULL;
    json_t *out = json_object(), *jobs = json_object(), *ctx;
    struct ex_eval_env ev;

    if (!outs || outs->kind != EX_NODE_MAP)
        goto out;
    for (size_t i = 0; i < sc->n_jobs; i++) {
        const struct ex__jobrun *jr = sc->jobs[i];

        json_object_set_new(
            jobs, jr->pj->id,
            json_pack("{s:s,s:O}", "result", ex_result_name(jr->result), "outputs", jr->outputs));
    }
    ctx = json_pack("{s:O,s:o,s:o,s:o}", "github", p->github, "inputs",
                    p->inputs ? json_incref(p->inputs) : json_object(), "vars",
                    p->vars ? json_incref(p->vars) : json_object(), "jobs", jobs);
    ev = (struct ex_eval_env){.contexts = ctx, .workspace = sc->caller->run->workdir};
    for (size_t i = 0; i < outs->n; i++) {
        const struct ex_node *val = ex_node_get(outs->vals[i], "value");
        struct gr_diag d = {0};
        char msg[700];
        json_t *v = NULL;

        if (!val)
            continue;
        if (ex_node_eval(val, &ev, &v, &d) < 0) {
            gr_diag_format(&d, msg, sizeof(msg));
            GR_LOG_WARN("%s: output '%s': %s", sc->name, outs->keys[i]->str, msg);
            continue;
        }
        if (json_is_string(v)) {
            json_object_set(out, outs->keys[i]->str, v);
        } else {
            char *s = ex_value_to_string(v);
            json_object_set_new(out, outs->keys[i]->str, json_string(s));
            free(s);
        }
        json_decref(v);
    }
    json_decref(ctx);
    return out;
out:
    json_decref(jobs);
    return out;
}

void ex__scope_finish(struct ex__run *run, struct ex__scope *sc)
{
    enum ex_result res = EX_RESULT_SUCCESS;
    json_t *outputs;

    if (sc->done || !sc->caller)
        return;
    for (size_t i = 0; i < sc->n_jobs; i++) {
        if (sc->jobs[i]->state != EX__JOB_DONE)
            return;
    }
    sc->done = true;
    if (sc->concurrency) {
        json_object_del(run->busy_groups, sc->concurrency);
        free(sc->concurrency);
        sc->concurrency = NULL;
    }
    for (size_t i = 0; i < sc->n_jobs; i++) {
        if (sc->jobs[i]->result == EX_RESULT_FAILURE)
            res = EX_RESULT_FAILURE;
        else if (sc->jobs[i]->result == EX_RESULT_CANCELLED && res == EX_RESULT_SUCCESS)
            res = EX_RESULT_CANCELLED;
    }
    outputs = scope_outputs(sc);
    json_array_append_new(
        run->results,
        json_pack("{s:s,s:o,s:O,s:s,s:s,s:b,s:f,s:O,s:[],s:[]}", "id", sc->caller->id, "name",
                  ex__json_text(sc->name), "matrix", sc->matrix ? sc->matrix : json_null(), "uses",
                  ex_node_str(sc->caller->pj->job->uses), "result", ex_result_name(res),
                  "continue_on_error", 0, "duration_ms", (double)(gr_now_ns() - sc->t0) / 1e6,
                  "outputs", outputs, "annotations", "steps"));
    ex__call_leg_done(run, sc->caller, res, outputs);
    json_decref(outputs);
}

/* ---- starting a call --------------------------------------------------- */

/* What `with:` and `secrets:` may use: github, inputs, vars, needs, strategy, matrix, secrets. */
static json_t *call_contexts(const struct ex__jobrun *jr, size_t idx)
{
    const struct ex_plan *p = jr->scope->plan;
    const struct ex_plan_job *pj = jr->pj;
    json_t *m = json_array_get(jr->legs, idx);
    json_t *gh = json_deep_copy(p->github);
    int total = (int)jr->n_legs;

    json_object_set_new(gh, "job", json_string(pj->id));
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:O,s:{s:b,s:i,s:i,s:i}}", "github", gh, "inputs",
                     p->inputs ? json_deep_copy(p->inputs) : json_object(), "vars",
                     p->vars ? json_deep_copy(p->vars) : json_object(), "secrets",
                     p->secrets ? json_deep_copy(p->secrets) : json_object(), "needs",
                     ex__needs_context(jr), "matrix", json_is_object(m) ? m : json_null(),
                     "strategy", "fail-fast", pj->fail_fast, "job-index", (int)idx, "job-total",
                     total, "max-parallel", pj->max_parallel > 0 ? pj->max_parallel : total);
}

/*
 * The calling leg's concurrency group, as for any job (engine.c
 * leg_concurrency: `concurrency` or `concurrency.group`, lower case, with
 * the contexts a calling job's keys get); NULL when there is none or it
 * cannot be evaluated. Owned.
 */
static char *call_group(const struct ex__jobrun *jr, size_t idx)
{
    const struct ex_node *n = jr->pj->job->concurrency;
    json_t *ctx;
    struct ex_eval_env ev;
    struct gr_diag d = {0};
    char *g = NULL;

    if (n && n->kind == EX_NODE_MAP)
        n = ex_node_get(n, "group");
    if (!n)
        return NULL;
    ctx = call_contexts(jr, idx);
    ev = (struct ex_eval_env){.contexts = ctx, .workspace = jr->run->workdir};
    if (ex__eval_string(n, &ev, "", &g, &d) < 0 || !*g) {
        free(g);
        g = NULL;
    }
    json_decref(ctx);
    for (char *p = g; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return g;
}

static void group_release(struct ex__run *run, char *group)
{
    if (!group)
        return;
    json_object_del(run->busy_groups, group);
    free(group);
}

/*
 * wf: a loaded remote callee (stolen) or NULL; repo_dir: its checkout, or
 * NULL; group: the leg's concurrency group (stolen; the scope holds it).
 */
static void call_start(struct ex__run *run, struct ex__jobrun *jr, size_t idx,
                       struct ex_workflow *wf, const char *repo_dir, char *group)
{
    json_t *ctx = call_contexts(jr, idx);
    struct ex_plan_call c = {
        .ctx = ctx,
        .wf = wf,
        .repo_dir = repo_dir,
        .caller_name = jr->leg_names[idx],
    };
    struct ex_plan *sub = NULL;
    struct ex__scope *sc;
    struct gr_diag d = {0};
    char msg[800];
    json_t *m;

    if (ex_plan_call(jr->scope->plan, jr->pj, &c, &sub, &d) < 0) {
        group_release(run, group);
        gr_diag_format(&d, msg, sizeof(msg));
        ex__leg_launch_error(run, jr, idx, msg);
    } else {
        sc = ex__scope_new(run, jr->scope, jr, sub, jr->leg_names[idx]);
        m = json_array_get(jr->legs, idx);
        sc->matrix = json_is_object(m) ? json_incref(m) : NULL;
        sc->concurrency = group;
    }
    json_decref(ctx);
}

struct call_fetch {
    struct ex__run *run;
    struct ex__jobrun *jr;
    size_t idx;
    char *group;
};

/* The remote repository is checked out: load the workflow and start the call. */
static int call_resolved(void *ctx, const struct ex_action_ref *ref, const char *root,
                         const char *tried, bool async)
{
    struct call_fetch *f = ctx;
    const char *uses = ex_node_str(f->jr->pj->job->uses);
    struct ex_workflow *wf = NULL;
    struct gr_diag d = {0};
    char *path, *msg;
    char where[700];

    if (!root) {
        group_release(f->run, f->group);
        msg = gr_xasprintf("reusable workflow '%s' (ref '%s') was not found: tried %s", uses,
                           ref->ref, tried);
        ex__leg_launch_error(f->run, f->jr, f->idx, msg);
        free(msg);
    } else {
        path = gr_path_join(root, ref->path);
        if (ex_workflow_load(path, &wf, NULL, &d) < 0) {
            if (!d.file)
                d.file = path;
            gr_diag_format(&d, where, sizeof(where));
            group_release(f->run, f->group);
            msg = gr_xasprintf("cannot use '%s': %s", uses, where);
            ex__leg_launch_error(f->run, f->jr, f->idx, msg);
            free(msg);
        } else {
            call_start(f->run, f->jr, f->idx, wf, root, f->group);
        }
        free(path);
    }
    if (async)
        ex__schedule(f->run);
    free(f);
    return 0;
}

bool ex__call_launch(struct ex__run *run, struct ex__jobrun *jr)
{
    const char *uses = ex_node_str(jr->pj->job->uses);
    size_t idx = jr->next_leg;
    struct ex_action_ref ref = {0};
    struct call_fetch *f;
    struct gr_diag d = {0};
    char *group = NULL;

    if (!jr->fail_fast_hit && !run->cancel_requested && !ex__scope_cancelled(jr->scope)) {
        group = call_group(jr, idx);
        if (group && json_object_get(run->busy_groups, group)) {
            free(group);
            return false; /* started again when the group's holder ends */
        }
        if (group)
            json_object_set_new(run->busy_groups, group, json_true());
    }
    jr->next_leg++;
    jr->running++;
    if (jr->fail_fast_hit || run->cancel_requested || ex__scope_cancelled(jr->scope)) {
        ex__call_leg_done(run, jr, EX_RESULT_CANCELLED, NULL);
        return true;
    }
    if (uses && gr_startswith(uses, "./")) {
        call_start(run, jr, idx, NULL, NULL, group);
        return true;
    }
    if (ex_action_ref_parse(uses ? uses : "", &ref, &d) < 0 || ref.kind != EX_USES_REMOTE ||
        !*ref.path) {
        if (!d.msg[0])
            gr_diag_set(&d, GR_EINVAL_WF, NULL, 0, 0,
                        "'uses: %s' is not a reusable workflow: expected "
                        "./.github/workflows/FILE or OWNER/REPO/.github/workflows/FILE@REF",
                        uses ? uses : "");
        group_release(run, group);
        ex__leg_launch_error(run, jr, idx, d.msg);
        ex_action_ref_release(&ref);
        return true;
    }
    f = gr_xcalloc(1, sizeof(*f));
    *f = (struct call_fetch){.run = run, .jr = jr, .idx = idx, .group = group};
    (void)ex__resolve(run, &ref, uses, call_resolved, f);
    ex_action_ref_release(&ref);
    return true;
}

/* ---- remote calls checked before the run ------------------------------- */

struct precheck {
    const struct ex_plan *plan;
    const struct ex_plan_job *pj;
    char *path, *root; /* the callee file and its checkout, once resolved */
    bool done;
};

static int precheck_resolved(void *ctx, const struct ex_action_ref *ref, const char *root,
                             const char *tried, bool async)
{
    struct precheck *pc = ctx;

    (void)tried; /* a workflow that cannot be fetched fails its caller's legs at run time */
    (void)async;
    if (root) {
        pc->root = gr_xstrdup(root);
        pc->path = gr_path_join(root, ref->path);
    }
    pc->done = true;
    return 0;
}

static void precheck_collect(const struct ex_plan *plan, struct precheck **list, size_t *n,
                             size_t *cap)
{
    for (size_t i = 0; i < plan->n_jobs; i++) {
        const struct ex_plan_job *pj = &plan->jobs[i];
        const char *uses = ex_node_str(pj->job->uses);

        if (pj->called)
            precheck_collect(pj->called, list, n, cap);
        if (!uses || gr_startswith(uses, "./"))
            continue;
        GR_GROW(*list, *cap, *n + 1);
        (*list)[(*n)++] = (struct precheck){.plan = plan, .pj = pj};
    }
}

/*
 * Plan the fetched callee as the planner plans ./ calls: inputs and secrets
 * checked, and its own calls counted into seen (the limit on unique reusable
 * workflows covers the whole tree, plan_calls.c).
 */
static int precheck_one(struct precheck *pc, json_t *seen)
{
    const char *uses = ex_node_str(pc->pj->job->uses);
    struct ex_plan_call c = {.repo_dir = pc->root, .caller_name = pc->pj->id};
    struct ex_plan *sub = NULL;
    struct gr_diag d = {0};
    char msg[800];
    int r;

    r = ex_workflow_load(pc->path, &c.wf, NULL, &d);
    if (r == 0)
        r = ex_plan_call(pc->plan, pc->pj, &c, &sub, &d);
    if (r == 0)
        r = ex_plan_calls_count(sub, seen, &d);
    if (r < 0) {
        gr_diag_format(&d, msg, sizeof(msg)); /* before sub, which d may point into, is freed */
        GR_LOG_ERR("reusable workflow '%s': %s", uses, msg);
    }
    ex_plan_free(sub);
    return r;
}

int ex__calls_check(struct ex__run *run)
{
    struct precheck *list = NULL;
    size_t n = 0, cap = 0, i;
    bool waiting = true;
    json_t *seen = json_object();
    struct gr_diag cd = {0};
    int r = 0;

    precheck_collect(run->plan, &list, &n, &cap);
    for (i = 0; i < n; i++) {
        const char *uses = ex_node_str(list[i].pj->job->uses);
        struct ex_action_ref ref = {0};
        struct gr_diag d = {0};

        if (ex_action_ref_parse(uses, &ref, &d) < 0 || ref.kind != EX_USES_REMOTE || !*ref.path)
            list[i].done = true; /* reported on the caller's legs */
        else
            (void)ex__resolve(run, &ref, uses, precheck_resolved, &list[i]);
        ex_action_ref_release(&ref);
    }
    while (waiting) {
        waiting = false;
        for (i = 0; i < n; i++)
            waiting = waiting || !list[i].done;
        if (waiting && uv_run(run->loop, UV_RUN_ONCE) == 0)
            break;
    }
    if (n > 0 && ex_plan_calls_count(run->plan, seen, &cd) < 0)
        r = GR_EINVAL_WF; /* the planner reported it already */
    for (i = 0; i < n; i++) {
        if (list[i].path && r == 0)
            r = precheck_one(&list[i], seen);
        free(list[i].path);
        free(list[i].root);
    }
    json_decref(seen);
    free(list);
    return r;
}
