/*
 * Composite actions (runs.using: composite), as actions/runner's
 * CompositeActionHandler: the action's steps run one after another under
 * the uses: step, with their own `steps` context (ids scoped to the action),
 * the `inputs` context of the action, github.action_path /
 * GITHUB_ACTION_PATH pointing at the action's directory, and a status of
 * their own (a failing step skips the rest unless their `if` says
 * otherwise). The uses: step fails when a step of the action failed; its
 * outputs are the action's `outputs.<name>.value`, evaluated at the end even
 * after a failure.
 *
 * timeout-minutes on the uses: step bounds the action's steps together
 * (each step's own limit is cut to what is left).
 *
 * Env: a step of the action starts from the job's env (with GITHUB_ENV
 * updates, also those made inside the action), then the `env:` of every
 * uses: step on the way down (outermost first), then its own `env:`. So a
 * step env given to the uses: step reaches the action's steps but not the
 * job's later steps.
 *
 * The frame swaps its contexts into the leg's contexts object while it
 * runs (a leg runs one step at a time) and puts the outer ones back at the
 * end.
 *
 * Pre stages of nested actions (actions/runner docs/adrs/
 * 1144-composite-actions.md, "Pre/Post Steps in nested Actions": one pre
 * step and one post step for the whole composite action, its nested
 * actions' states kept apart): as actions/runner's ActionManager
 * (PrepareActionsRecursiveAsync collects the `pre` of every repository
 * action nested in a repository composite into the composite's PreSteps;
 * the composite then HasPre and gets a "Pre <name>" step in the job's
 * set-up phase, whose CompositeActionHandler run for ActionRunStage.Pre
 * runs those pre stages with their pre-if), a pre frame walks the action's
 * steps and runs only the pre stages of the repository actions in it, in
 * step order and depth first. Main never runs a pre. Workspace actions
 * (./path) are never prepared ahead (the SelfAlias checks there), so no pre
 * below one ever runs (ActionRunner warns "`pre` execution is not supported
 * for local action").
 */
#include "action_internal.h"

#include <stdlib.h>
#include <string.h>

json_t *ex__frame_env(struct ex__frame *f)
{
    json_t *base = json_deep_copy(f->se->leg->job_env);

    json_object_update(base, f->env);
    return base;
}

static void frame_free(struct ex__frame *f)
{
    json_decref(f->inputs);
    json_decref(f->steps);
    json_decref(f->env);
    json_decref(f->saved_inputs);
    json_decref(f->saved_gh);
    free(f);
}

/* Explicit env of the uses: step, evaluated over the env the step started from. */
static int frame_env(struct ex__frame *f, struct gr_diag *d)
{
    struct ex__leg *leg = f->se->leg;
    const struct ex_node *env = f->se->step->env;
    json_t *base, *v = NULL;
    struct ex_eval_env ev;
    int r = 0;

    f->env = f->up ? json_deep_copy(f->up->env) : json_object();
    if (!env)
        return 0;
    base = f->up ? ex__frame_env(f->up) : json_deep_copy(leg->job_env);
    json_object_set_new(leg->ctx, "env", base);
    ex__leg_eval_env(leg, &ev);
    r = ex_node_eval(env, &ev, &v, d);
    if (r == 0)
        ex__env_merge(f->env, v);
    json_decref(v);
    json_object_set(leg->ctx, "env", f->se->env);
    return r;
}

/* The chain of actions from the job down, for the depth error. */
static char *frame_chain(const struct ex__frame *f, const char *last)
{
    struct gr_buf b = GR_BUF_INIT(0);
    const struct ex__frame *chain[EX_ACTION_MAX_DEPTH + 2];
    size_t n = 0;
    int r = 0;

    for (; f && n < GR_ARRAY_SIZE(chain); f = f->up)
        chain[n++] = f;
    while (n > 0)
        r |= gr_buf_addf(&b, "%s -> ", ex_node_str(chain[--n]->se->step->uses));
    r |= gr_buf_adds(&b, last);
    (void)r;
    return gr_buf_detach(&b, NULL);
}

struct ex__stepexec *ex__frame_top(struct ex__stepexec *se)
{
    struct ex__frame *f = se->frame;

    if (!f)
        return se;
    while (f->up)
        f = f->up;
    return f->se;
}

static bool frame_recursive(const struct ex__frame *f, const struct ex_action *a)
{
    for (; f; f = f->up) {
        if (strcmp(f->act->path, a->path) == 0)
            return true;
    }
    return false;
}

static void frame_enter(struct ex__frame *f, json_t *gh)
{
    struct ex__leg *leg = f->se->leg;

    f->saved_steps = leg->steps_ctx;
    f->saved_inputs = json_incref(json_object_get(leg->ctx, "inputs"));
    f->saved_gh = ex__action_gh_swap(leg, gh);
    f->saved_status = leg->status;
    leg->steps_ctx = f->steps;
    json_object_set(leg->ctx, "steps", f->steps);
    json_object_set(leg->ctx, "inputs", f->inputs);
    /* pre and post conditions see the job's status (runner: SuccessFunction) */
    if (!leg->cancelled && !f->pre)
        leg->status = "success";
    leg->frame = f;
}

static void frame_outputs(struct ex__frame *f)
{
    struct ex__leg *leg = f->se->leg;
    const struct ex_action *a = f->act;
    struct ex_eval_env ev;

    json_object_set_new(leg->ctx, "env", ex__frame_env(f));
    ex__leg_eval_env(leg, &ev);
    for (size_t i = 0; i < a->n_outputs; i++) {
        struct gr_diag d = {0};
        char msg[700], *s = NULL;

        if (ex__eval_string(a->outputs[i].value, &ev, "", &s, &d) < 0) {
            gr_diag_format(&d, msg, sizeof(msg));
            ex__leg_annotate(leg, f->se, "error", msg, NULL);
            continue;
        }
        json_object_set_new(f->se->outputs, a->outputs[i].name, json_string(s));
        free(s);
    }
}

static void frame_leave(struct ex__frame *f)
{
    struct ex__leg *leg = f->se->leg;
    json_t *old;

    leg->steps_ctx = f->saved_steps;
    json_object_set(leg->ctx, "steps", f->saved_steps);
    json_object_set(leg->ctx, "inputs", f->saved_inputs);
    old = ex__action_gh_swap(leg, f->saved_gh);
    json_decref(old);
    if (!leg->cancelled)
        leg->status = f->saved_status;
    leg->frame = f->up;
    leg->cur = f->se;
    json_object_set(leg->ctx, "env", f->se->env);
}

static void frame_finish(struct ex__frame *f)
{
    struct ex__leg *leg = f->se->leg;
    enum ex_result outcome = EX_RESULT_SUCCESS;

    if (leg->cancelled)
        outcome = EX_RESULT_CANCELLED;
    else if (f->pre ? f->pre_failed : strcmp(leg->status, "failure") == 0)
        outcome = EX_RESULT_FAILURE;
    if (!f->pre)
        frame_outputs(f);
    frame_leave(f);
    /* a composite with a pre step registers its post step then (ActionRunner, Stage Pre) */
    if (f->pre && !f->up && f->has_post && !f->se->quiet)
        (void)ex__action_post_group(f->se);
    ex__step_finished(f->se, outcome);
    frame_free(f);
}

/* Steps from f->i on; 1 when the action ended (f freed), 0 when a step runs on the loop. */
static int frame_run(struct ex__frame *f)
{
    struct ex__leg *leg = f->se->leg;

    while (f->i < f->act->n_steps && !leg->abandoned) {
        const struct ex_step *st = &f->act->steps[f->i];

        if ((f->pre ? ex__action_pre_child(leg, st) : ex__step_run(leg, st)) == 0)
            return 0;
        f->i++;
    }
    frame_finish(f);
    return 1;
}

double ex__frame_timeout(struct ex__frame *f, double own_min)
{
    uint64_t now = uv_now(f->se->leg->run->loop);
    double left = 0;

    for (; f; f = f->up) {
        double l;

        if (!f->deadline_ms)
            continue;
        l = f->deadline_ms > now ? (double)(f->deadline_ms - now) / 60000.0 : 1.0 / 60000.0;
        if (left <= 0 || l < left)
            left = l;
    }
    if (left <= 0)
        return own_min;
    return own_min > 0 && own_min < left ? own_min : left;
}

void ex__composite_child_done(struct ex__frame *f, const struct ex__stepexec *child,
                              enum ex_result conclusion)
{
    json_array_extend(f->se->annotations, child->annotations);
    if (f->pre && conclusion == EX_RESULT_FAILURE)
        f->pre_failed = true;
}

void ex__composite_next(struct ex__frame *f)
{
    struct ex__leg *leg = f->se->leg;
    struct ex__frame *up = f->up;
    bool pre = f->pre;

    f->i++;
    if (frame_run(f) == 1) {
        if (pre && !up)
            ex__leg_next(leg); /* the set-up phase goes on */
        else
            ex__step_advance(leg, up);
    }
}

static int frame_start(struct ex__stepexec *se, struct ex_action *a, json_t *inputs, json_t *gh,
                       bool pre)
{
    struct ex__frame *f = gr_xcalloc(1, sizeof(*f));
    const char *uses = ex_node_str(se->step->uses);
    struct gr_diag d = {0};
    char *chain;
    int r;

    f->se = se;
    f->up = se->leg->frame;
    f->act = a;
    f->depth = f->up ? f->up->depth + 1 : 1;
    f->inputs = inputs;
    f->pre = pre;
    f->steps = json_object();
    if (se->timeout_min > 0)
        f->deadline_ms = uv_now(se->leg->run->loop) + (uint64_t)(se->timeout_min * 60000.0 + 0.5);
    if (f->depth > EX_ACTION_MAX_DEPTH && pre) {
        /* main reports it */
        json_decref(gh);
        frame_free(f);
        ex__step_finished(se, EX_RESULT_SKIPPED);
        return 1;
    }
    if (f->depth > EX_ACTION_MAX_DEPTH) {
        chain = frame_chain(f->up, uses);
        r = ex__action_fail(se,
                            "composite action '%s' is nested too deeply (at most %d levels%s): %s",
                            uses, EX_ACTION_MAX_DEPTH,
                            frame_recursive(f->up, a) ? "; it uses itself recursively" : "", chain);
        free(chain);
        json_decref(gh);
        frame_free(f);
        return r;
    }
    if (frame_env(f, &d) < 0) {
        char msg[700];

        json_decref(gh);
        frame_free(f);
        if (pre) {
            ex__step_finished(se, EX_RESULT_SKIPPED); /* main reports it */
            return 1;
        }
        gr_diag_format(&d, msg, sizeof(msg));
        return ex__action_fail(se, "%s", msg);
    }
    frame_enter(f, gh);
    json_decref(gh);
    return frame_run(f);
}

int ex__composite_start(struct ex__stepexec *se, struct ex_action *a, json_t *inputs, json_t *gh)
{
    return frame_start(se, a, inputs, gh, false);
}

int ex__composite_pre_start(struct ex__stepexec *se, struct ex_action *a, json_t *inputs,
                            json_t *gh)
{
    return frame_start(se, a, inputs, gh, true);
}
