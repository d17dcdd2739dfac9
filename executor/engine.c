/*
 * The engine: runs a plan's jobs on one libuv loop.
 *
 * DESIGN. A scheduler pass (ex__schedule) runs after every change of state:
 * a pending job whose needs are all done gets its `if` evaluated (with the
 * needs context and the status of all its ancestors, actions/runner#2205)
 * and its matrix expanded when that was deferred; a ready job hands out legs
 * while the run's and the job's parallelism limits and its concurrency group
 * allow. Legs end through ex__leg_done(), which aggregates results and
 * outputs per job (last leg to finish wins per output key), applies
 * fail-fast to the remaining legs, and schedules again. uv_run() returns
 * when the last leg has closed its handles.
 */
#include "engine_internal.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const struct ex_reporter null_reporter = {0};

struct ex__jobrun *ex__jobrun_find(const struct ex__scope *sc, const char *id)
{
    for (size_t i = 0; i < sc->n_jobs; i++) {
        if (strcasecmp(sc->jobs[i]->pj->id, id) == 0)
            return sc->jobs[i];
    }
    return NULL;
}

json_t *ex__needs_context(const struct ex__jobrun *jr)
{
    const struct ex_job *job = jr->pj->job;
    json_t *needs = json_object();

    for (size_t i = 0; i < job->n_needs; i++) {
        struct ex__jobrun *dep = ex__jobrun_find(jr->scope, job->needs[i]);

        if (!dep)
            continue;
        json_object_set_new(
            needs, dep->pj->id,
            json_pack("{s:s,s:O}", "result", ex_result_name(dep->result), "outputs", dep->outputs));
    }
    return needs;
}

/* ---- job readiness ----------------------------------------------------- */

static bool needs_done(const struct ex__jobrun *jr)
{
    const struct ex_job *job = jr->pj->job;

    for (size_t i = 0; i < job->n_needs; i++) {
        struct ex__jobrun *dep = ex__jobrun_find(jr->scope, job->needs[i]);

        if (dep && dep->state != EX__JOB_DONE)
            return false;
    }
    return true;
}

/* Worst result among all ancestors, transitively. */
static void ancestors_scan(const struct ex__jobrun *jr, bool *seen, bool *failed, bool *other)
{
    const struct ex_job *job = jr->pj->job;

    for (size_t i = 0; i < job->n_needs; i++) {
        struct ex__jobrun *dep = ex__jobrun_find(jr->scope, job->needs[i]);
        size_t k;

        if (!dep)
            continue;
        k = dep->idx;
        if (seen[k])
            continue;
        seen[k] = true;
        if (dep->result == EX_RESULT_FAILURE)
            *failed = true;
        else if (dep->result != EX_RESULT_SUCCESS)
            *other = true;
        ancestors_scan(dep, seen, failed, other);
    }
}

/*
 * Job-level status for success()/failure(): "success" when every ancestor
 * succeeded, "failure" when one failed, otherwise (skipped or cancelled
 * ancestors) a status for which neither success() nor failure() holds.
 */
static const char *ancestors_status(struct ex__run *run, const struct ex__jobrun *jr)
{
    bool *seen = gr_xcalloc(run->n_jobs, sizeof(*seen));
    bool failed = false, other = false;

    ancestors_scan(jr, seen, &failed, &other);
    free(seen);
    if (failed)
        return "failure";
    return other ? "skipped" : "success";
}

static json_t *ctx_ref(json_t *v)
{
    return v ? json_incref(v) : json_object();
}

static json_t *job_level_ctx(const struct ex__jobrun *jr)
{
    const struct ex_plan *plan = jr->scope->plan;

    return json_pack("{s:o,s:o,s:o,s:o}", "github", ctx_ref(plan->github), "inputs",
                     ctx_ref(plan->inputs), "vars", ctx_ref(plan->vars), "needs",
                     ex__needs_context(jr));
}

static void job_done(struct ex__jobrun *jr, enum ex_result result)
{
    jr->state = EX__JOB_DONE;
    jr->result = result;
}

static int job_if(struct ex__run *run, struct ex__jobrun *jr, bool *ret, struct gr_diag *d)
{
    const struct ex_job *job = jr->pj->job;
    json_t *ctx = job_level_ctx(jr);
    struct ex_eval_env ev = {
        .contexts = ctx,
        .status = ancestors_status(run, jr),
        .workspace = run->workdir,
    };
    const char *cond = job->if_ ? ex_node_str(job->if_) : NULL;
    int r = ex_if_eval(cond ? cond : "", &ev, ret, d);

    json_decref(ctx);
    return r;
}

/* name inside a called workflow: "<calling leg> / name". Takes name. */
static char *scoped_name(const struct ex__jobrun *jr, char *name)
{
    char *s;

    if (!jr->scope->name)
        return name;
    s = gr_xasprintf("%s / %s", jr->scope->name, name);
    free(name);
    return s;
}

static char *leg_base_name(const struct ex__jobrun *jr)
{
    const struct ex_job *job = jr->pj->job;
    const char *name = ex_node_str(job->name);

    return scoped_name(jr, gr_xstrdup(name && *name && !ex_tmpl_has_expr(name) ? name : job->id));
}

/* strategy.matrix as a mapping whose keys may be expressions too (act-testdata evalmatrixneeds2).
 */
static int matrix_eval(const struct ex_node *n, const struct ex_eval_env *ev, json_t **ret,
                       struct gr_diag *d)
{
    json_t *out, *v = NULL, *k = NULL;
    int r = 0;

    if (n->kind != EX_NODE_MAP)
        return ex_node_eval(n, ev, ret, d);
    out = json_object();
    for (size_t i = 0; i < n->n && r == 0; i++) {
        const struct ex_node *key = n->keys[i];
        char *name = NULL;

        k = NULL;
        v = NULL;
        if (ex_tmpl_has_expr(key->str)) {
            r = ex_tmpl_eval(key->str, ev, &k, d);
            if (r == 0)
                name = json_is_string(k) ? gr_xstrdup(json_string_value(k)) : ex_value_to_string(k);
        } else {
            name = gr_xstrdup(key->str);
        }
        if (r == 0)
            r = ex_node_eval(n->vals[i], ev, &v, d);
        if (r == 0)
            json_object_set_new(out, name, v);
        free(name);
        json_decref(k);
    }
    if (r < 0) {
        json_decref(out);
        return r;
    }
    *ret = out;
    return 0;
}

/* strategy.matrix that depends on needs: evaluate and expand now. */
static int job_expand_deferred(struct ex__run *run, struct ex__jobrun *jr, struct gr_diag *d)
{
    const struct ex_job *job = jr->pj->job;
    json_t *ctx = job_level_ctx(jr);
    struct ex_eval_env ev = {.contexts = ctx, .workspace = run->workdir};
    json_t *m = NULL, *legs = NULL;
    char *base;
    int r;

    r = matrix_eval(job->matrix, &ev, &m, d);
    if (r == 0 && !json_is_object(m))
        r = gr_diag_set(d, GR_EINVAL_WF, job->matrix->file, job->matrix->line, job->matrix->col,
                        "strategy.matrix of job '%s' is not a mapping", job->id);
    if (r == 0)
        r = ex_matrix_expand(m, NULL, &legs, d);
    json_decref(m);
    json_decref(ctx);
    if (r < 0)
        return r;
    base = leg_base_name(jr);
    jr->n_legs = json_array_size(legs);
    jr->legs = legs;
    jr->leg_names = gr_xcalloc(jr->n_legs + 1, sizeof(char *));
    for (size_t i = 0; i < jr->n_legs; i++)
        jr->leg_names[i] = ex_matrix_display_name(base, json_array_get(legs, i));
    free(base);
    return 0;
}

static void job_legs_from_plan(struct ex__jobrun *jr)
{
    const struct ex_plan_job *pj = jr->pj;

    jr->legs = json_array();
    jr->n_legs = pj->n_legs;
    jr->leg_names = gr_xcalloc(pj->n_legs + 1, sizeof(char *));
    for (size_t i = 0; i < pj->n_legs; i++) {
        json_array_append(jr->legs, pj->legs[i].matrix ? pj->legs[i].matrix : json_null());
        jr->leg_names[i] = gr_xstrdup(pj->legs[i].display_name ? pj->legs[i].display_name : pj->id);
    }
}

/* A job that fails before any leg can start still gets one leg, which reports the error. */
static void job_single_error_leg(struct ex__jobrun *jr, const struct gr_diag *d)
{
    char msg[700];

    gr_diag_format(d, msg, sizeof(msg));
    json_decref(jr->legs);
    jr->legs = json_array();
    json_array_append_new(jr->legs, json_null());
    jr->n_legs = 1;
    jr->leg_names = gr_xcalloc(2, sizeof(char *));
    jr->leg_names[0] = leg_base_name(jr);
    jr->error = gr_xstrdup(msg);
}

static void job_make_ready(struct ex__run *run, struct ex__jobrun *jr)
{
    struct gr_diag d = {0};
    bool run_it = false;

    jr->t0 = gr_now_ns();
    if (run->cancel_requested || ex__scope_cancelled(jr->scope)) {
        job_done(jr, EX_RESULT_CANCELLED);
        ex__json_job_skipped(run, jr);
        return;
    }
    if (job_if(run, jr, &run_it, &d) < 0) {
        job_single_error_leg(jr, &d);
    } else if (!run_it) {
        job_done(jr, EX_RESULT_SKIPPED);
        ex__json_job_skipped(run, jr);
        return;
    } else if (jr->pj->matrix_deferred) {
        if (job_expand_deferred(run, jr, &d) < 0)
            job_single_error_leg(jr, &d);
    } else {
        job_legs_from_plan(jr);
    }
    jr->state = EX__JOB_READY;
    if (jr->n_legs == 0) {
        job_done(jr, EX_RESULT_SKIPPED);
        ex__json_job_skipped(run, jr);
    }
}

/* ---- legs -------------------------------------------------------------- */

/* A `name:` with an expression is evaluated per leg and used without the matrix suffix. */
static void leg_eval_name(struct ex__leg *leg)
{
    const char *name = ex_node_str(leg->jr->pj->job->name);
    struct ex_eval_env ev;
    struct gr_diag d = {0};
    json_t *v = NULL;

    if (!name || !ex_tmpl_has_expr(name))
        return;
    ex__leg_eval_env(leg, &ev);
    if (ex_tmpl_eval(name, &ev, &v, &d) < 0)
        return; /* keep the generated name */
    free(leg->display_name);
    leg->display_name = scoped_name(leg->jr, json_is_string(v) ? gr_xstrdup(json_string_value(v))
                                                               : ex_value_to_string(v));
    json_decref(v);
}

static struct ex__leg *leg_new(struct ex__run *run, struct ex__jobrun *jr, size_t idx)
{
    struct ex__leg *leg = gr_xcalloc(1, sizeof(*leg));
    json_t *m = json_array_get(jr->legs, idx);

    leg->run = run;
    leg->jr = jr;
    leg->plan = jr->scope->plan;
    leg->index = (int)idx;
    leg->matrix = json_is_object(m) ? json_incref(m) : NULL;
    leg->display_name = gr_xstrdup(jr->leg_names[idx]);
    leg->job_env = json_object();
    leg->path_list = json_array();
    leg->steps_ctx = json_object();
    leg->gen_ids = json_object();
    leg->status = "success";
    leg->leg_dir = gr_xasprintf("%s/%d-%s", run->state_dir, ++run->leg_seq, jr->pj->id);
    leg->temp_dir = gr_path_join(leg->leg_dir, "_temp");
    ex__leg_init_ctx(leg);
    if (jr->pj->matrix_deferred)
        leg_eval_name(leg);
    return leg;
}

/* Returns the group (lower case, owned) or NULL; *err on evaluation failure. */
static char *leg_concurrency(struct ex__leg *leg)
{
    const struct ex_node *n = leg->jr->pj->job->concurrency;
    struct ex_eval_env ev;
    struct gr_diag d = {0};
    char *g = NULL;

    if (!n)
        return NULL;
    if (n->kind == EX_NODE_MAP)
        n = ex_node_get(n, "group");
    if (!n)
        return NULL;
    ex__leg_eval_env(leg, &ev);
    if (ex__eval_string(n, &ev, "", &g, &d) < 0 || !*g) {
        free(g);
        return NULL;
    }
    for (char *p = g; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return g;
}

static void alive_add(struct ex__run *run, struct ex__leg *leg)
{
    GR_GROW(run->alive, run->cap_alive, run->n_alive + 1);
    run->alive[run->n_alive++] = leg;
}

static void alive_del(struct ex__run *run, struct ex__leg *leg)
{
    for (size_t i = 0; i < run->n_alive; i++) {
        if (run->alive[i] == leg) {
            run->alive[i] = run->alive[--run->n_alive];
            return;
        }
    }
}

void ex__leg_launch_error(struct ex__run *run, struct ex__jobrun *jr, size_t idx, const char *msg)
{
    struct ex__leg *leg = leg_new(run, jr, idx);

    run->running++;
    alive_add(run, leg);
    leg->preset_error = gr_xstrdup(msg);
    if (ex__leg_start(leg) < 0 && !run->error)
        run->error = GR_EFAILED;
}

/* Start one leg; false when it has to wait (concurrency group busy). */
static bool leg_launch(struct ex__run *run, struct ex__jobrun *jr)
{
    struct ex__leg *leg = leg_new(run, jr, jr->next_leg);
    char *group = leg_concurrency(leg);

    if (group && json_object_get(run->busy_groups, group)) {
        free(group);
        ex__leg_free(leg);
        return false;
    }
    if (group)
        json_object_set_new(run->busy_groups, group, json_true());
    leg->concurrency = group;
    jr->next_leg++;
    jr->running++;
    run->running++;
    alive_add(run, leg);
    if (jr->fail_fast_hit) {
        leg->cancelled = true;
        leg->status = "cancelled";
    }
    if (jr->error)
        leg->preset_error = gr_xstrdup(jr->error);
    if (ex__leg_start(leg) < 0 && !run->error)
        run->error = GR_EFAILED;
    return true;
}

static void job_dispatch(struct ex__run *run, struct ex__jobrun *jr)
{
    int mp = jr->pj->max_parallel;

    if (run->cancel_requested && jr->next_leg < jr->n_legs) {
        /* legs that never started count as cancelled */
        jr->finished += jr->n_legs - jr->next_leg;
        jr->next_leg = jr->n_legs;
        jr->any_cancelled = true;
    }
    /* a calling job takes no slot itself: its called jobs do */
    while (jr->next_leg < jr->n_legs && (jr->is_call || run->running < run->max_jobs) &&
           (mp <= 0 || (int)jr->running < mp)) {
        if (jr->is_call && !jr->error) {
            if (!ex__call_launch(run, jr))
                return;
        } else if (!leg_launch(run, jr)) {
            return;
        }
    }
}

static void job_maybe_complete(struct ex__jobrun *jr)
{
    if (jr->state != EX__JOB_READY || jr->finished < jr->n_legs)
        return;
    if (jr->any_failure)
        job_done(jr, EX_RESULT_FAILURE);
    else if (jr->any_cancelled)
        job_done(jr, EX_RESULT_CANCELLED);
    else
        job_done(jr, EX_RESULT_SUCCESS);
    jr->run->again = true;
}

static bool run_all_done(const struct ex__run *run)
{
    for (size_t i = 0; i < run->n_jobs; i++) {
        if (run->jobs[i]->state != EX__JOB_DONE)
            return false;
    }
    return true;
}

static void signals_stop(struct ex__run *run)
{
    run->signals_on = false;
    uv_close((uv_handle_t *)&run->sigint, NULL);
    uv_close((uv_handle_t *)&run->sigterm, NULL);
}

/*
 * Ctrl-C: steps run in their own sessions, so the terminal's SIGINT does not
 * reach them; cancel every running leg (killing its process group) and start
 * nothing new. A second signal kills whatever still runs.
 */
static void signal_cb(uv_signal_t *h, int signum)
{
    struct ex__run *run = h->data;

    if (run->cancel_requested) {
        for (size_t i = 0; i < run->n_alive; i++) {
            run->alive[i]->abandoned = true;
            ex__proc_kill(run->alive[i]->proc, SIGKILL);
        }
        return;
    }
    GR_LOG_WARN("%s: cancelling the run", strsignal(signum));
    run->cancel_requested = true;
    for (size_t i = 0; i < run->n_alive; i++)
        ex__leg_cancel(run->alive[i]);
    ex__schedule(run);
}

static void signals_start(struct ex__run *run)
{
    uv_signal_init(run->loop, &run->sigint);
    uv_signal_init(run->loop, &run->sigterm);
    run->sigint.data = run;
    run->sigterm.data = run;
    uv_signal_start(&run->sigint, signal_cb, SIGINT);
    uv_signal_start(&run->sigterm, signal_cb, SIGTERM);
    uv_unref((uv_handle_t *)&run->sigint);
    uv_unref((uv_handle_t *)&run->sigterm);
    run->signals_on = true;
}

void ex__schedule(struct ex__run *run)
{
    if (run->scheduling) {
        run->again = true;
        return;
    }
    run->scheduling = true;
    do {
        run->again = false;
        for (size_t i = 0; i < run->n_jobs; i++) {
            struct ex__jobrun *jr = run->jobs[i];

            if (jr->state == EX__JOB_PENDING && needs_done(jr)) {
                job_make_ready(run, jr);
                run->again = true;
            }
            if (jr->state == EX__JOB_READY)
                job_dispatch(run, jr);
            job_maybe_complete(jr);
        }
        for (size_t i = 1; i < run->n_scopes; i++)
            ex__scope_finish(run, run->scopes[i]);
    } while (run->again);
    run->scheduling = false;
    if (run->signals_on && run->n_alive == 0 && run_all_done(run))
        signals_stop(run);
}

bool ex__scope_cancelled(const struct ex__scope *sc)
{
    for (; sc; sc = sc->up) {
        if (sc->cancelled)
            return true;
    }
    return false;
}

static void fail_fast(struct ex__run *run, struct ex__jobrun *jr)
{
    if (!jr->pj->fail_fast || jr->fail_fast_hit)
        return;
    jr->fail_fast_hit = true;
    for (size_t i = 1; i < run->n_scopes; i++) {
        if (run->scopes[i]->caller == jr && !run->scopes[i]->done)
            run->scopes[i]->cancelled = true;
    }
    for (size_t i = 0; i < run->n_alive; i++) {
        if (run->alive[i]->jr == jr || ex__scope_cancelled(run->alive[i]->jr->scope))
            ex__leg_cancel(run->alive[i]);
    }
}

/* A calling job's leg ended (its scope finished, or it failed before one existed). */
void ex__call_leg_done(struct ex__run *run, struct ex__jobrun *jr, enum ex_result result,
                       const json_t *outputs)
{
    jr->running--;
    jr->finished++;
    if (result == EX_RESULT_FAILURE) {
        jr->any_failure = true;
        fail_fast(run, jr);
    } else if (result == EX_RESULT_CANCELLED) {
        jr->any_cancelled = true;
    }
    if (outputs)
        json_object_update(jr->outputs, (json_t *)outputs);
    run->again = true;
}

void ex__leg_done(struct ex__leg *leg)
{
    struct ex__run *run = leg->run;
    struct ex__jobrun *jr = leg->jr;

    alive_del(run, leg);
    jr->running--;
    run->running--;
    jr->finished++;
    if (leg->concurrency)
        json_object_del(run->busy_groups, leg->concurrency);
    if (leg->result == EX_RESULT_FAILURE && !leg->continue_on_error) {
        jr->any_failure = true;
        fail_fast(run, jr);
    } else if (leg->result == EX_RESULT_CANCELLED) {
        jr->any_cancelled = true;
    }
    json_object_update(jr->outputs, leg->outputs);
    if (leg->json)
        json_array_append(run->results, leg->json);
    ex__leg_free(leg);
    ex__schedule(run);
}

/* ---- the run ----------------------------------------------------------- */

static int run_init(struct ex__run *run, uv_loop_t *loop, const struct ex_plan *plan,
                    const struct ex_run_opts *opts, const struct ex_reporter *rep)
{
    char *abs;
    int r;

    run->loop = loop;
    run->plan = plan;
    run->opts = opts;
    run->rep = rep ? rep : &null_reporter;
    abs = realpath(opts->workdir ? opts->workdir : ".", NULL);
    if (!abs)
        return gr_log_err_errno(-errno, "cannot resolve the workspace '%s'",
                                opts->workdir ? opts->workdir : ".");
    run->workdir = abs;
    run->state_dir =
        opts->state_dir ? gr_xstrdup(opts->state_dir) : gr_path_join(run->workdir, ".ghrun");
    run->tool_cache = gr_path_join(run->state_dir, "_tool");
    r = gr_mkdir_p(run->state_dir, 0755);
    if (r < 0)
        return gr_log_err_errno(r, "cannot create '%s'", run->state_dir);
    run->max_jobs = opts->max_jobs > 0 ? opts->max_jobs : (int)uv_available_parallelism();
    if (run->max_jobs < 1)
        run->max_jobs = 1;
    run->busy_groups = json_object();
    run->results = json_array();
    (void)ex__scope_new(run, NULL, NULL, NULL, NULL);
    return 0;
}

static void run_release(struct ex__run *run)
{
    /* leave no empty scratch folders behind in the repository */
    if (run->tool_cache)
        (void)rmdir(run->tool_cache);
    if (run->state_dir)
        (void)rmdir(run->state_dir);
    for (size_t i = 0; i < run->n_jobs; i++) {
        struct ex__jobrun *jr = run->jobs[i];

        json_decref(jr->legs);
        json_decref(jr->outputs);
        for (size_t k = 0; jr->leg_names && jr->leg_names[k]; k++)
            free(jr->leg_names[k]);
        free(jr->leg_names);
        free(jr->error);
        free(jr->id);
        free(jr->name);
        free(jr);
    }
    free(run->jobs);
    for (size_t i = 0; i < run->n_scopes; i++) {
        ex_plan_free(run->scopes[i]->owned);
        free(run->scopes[i]->name);
        free(run->scopes[i]->id_prefix);
        free(run->scopes[i]->concurrency);
        free(run->scopes[i]->jobs);
        json_decref(run->scopes[i]->matrix);
        free(run->scopes[i]);
    }
    free(run->scopes);
    free(run->alive);
    json_decref(run->busy_groups);
    json_decref(run->results);
    free(run->workdir);
    free(run->state_dir);
    free(run->tool_cache);
}

static bool run_ok(const struct ex__run *run)
{
    for (size_t i = 0; i < run->n_jobs; i++) {
        enum ex_result r = run->jobs[i]->result;

        if (run->jobs[i]->state != EX__JOB_DONE)
            return false;
        if (r == EX_RESULT_FAILURE || r == EX_RESULT_CANCELLED)
            return false;
    }
    return true;
}

int ex_run_plan(uv_loop_t *loop, const struct ex_plan *plan, const struct ex_run_opts *opts,
                const struct ex_reporter *rep, bool *ret_ok)
{
    struct ex__run run = {0};
    bool ok;
    int r;

    r = run_init(&run, loop, plan, opts, rep);
    if (r == 0)
        r = ex__calls_check(&run);
    if (r < 0)
        goto out;
    signals_start(&run);
    ex__schedule(&run);
    r = uv_run(loop, UV_RUN_DEFAULT);
    if (run.signals_on) {
        signals_stop(&run);
        (void)uv_run(loop, UV_RUN_NOWAIT);
    }
    (void)r; /* returns non-zero only when uv_stop() was called */
    r = run.error;
    ok = run_ok(&run);
    if (opts->json_path) {
        int w = ex__json_write(&run, opts->json_path, ok);

        if (w < 0 && r == 0)
            r = gr_log_err_errno(w, "cannot write '%s'", opts->json_path);
    }
    if (r == 0)
        *ret_ok = ok;
out:
    run_release(&run);
    return r;
}
