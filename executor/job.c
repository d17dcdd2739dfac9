/*
 * One job leg on the loop: contexts, the job-wide env map (workflow < job
 * < GITHUB_ENV), RUNNER_TEMP, the job timeout, the step loop, cancellation
 * and the job's outputs (evaluated at the end, even after a failure; empty
 * ones and ones holding a masked value are dropped, as the runner's
 * JobExtension.FinalizeJob does).
 */
#include "engine_internal.h"
#include "persist_internal.h"
#include "ex/limits.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- evaluation helpers ------------------------------------------------ */

void ex__leg_eval_env(const struct ex__leg *leg, struct ex_eval_env *ret)
{
    json_t *job = json_object_get(leg->ctx, "job");

    json_object_set_new(job, "status", json_string(leg->status));
    *ret = (struct ex_eval_env){
        .contexts = leg->ctx,
        .status = leg->status,
        .workspace = leg->run->workdir,
    };
}

int ex__eval_string(const struct ex_node *n, const struct ex_eval_env *env, const char *def,
                    char **ret, struct gr_diag *reterr)
{
    json_t *v = NULL;
    int r;

    if (!n) {
        *ret = gr_xstrdup(def);
        return 0;
    }
    r = ex_node_eval(n, env, &v, reterr);
    if (r < 0)
        return r;
    *ret = json_is_string(v) ? gr_xstrdup(json_string_value(v)) : ex_value_to_string(v);
    json_decref(v);
    return 0;
}

int ex__eval_bool(const struct ex_node *n, const struct ex_eval_env *env, bool def, bool *ret,
                  struct gr_diag *reterr)
{
    json_t *v = NULL;
    int r;

    if (!n) {
        *ret = def;
        return 0;
    }
    r = ex_node_eval(n, env, &v, reterr);
    if (r < 0)
        return r;
    if (json_is_boolean(v))
        *ret = json_is_true(v);
    else if (json_is_string(v))
        *ret = strcasecmp(json_string_value(v), "true") == 0;
    else
        *ret = ex_value_truthy(v);
    json_decref(v);
    return 0;
}

int ex__eval_number(const struct ex_node *n, const struct ex_eval_env *env, double def, double *ret,
                    struct gr_diag *reterr)
{
    json_t *v = NULL;
    char *end = NULL;
    double d = def;
    int r;

    if (!n) {
        *ret = def;
        return 0;
    }
    r = ex_node_eval(n, env, &v, reterr);
    if (r < 0)
        return r;
    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (json_is_string(v) && *json_string_value(v)) {
        d = strtod(json_string_value(v), &end);
        if (*end)
            r = gr_diag_set(reterr, GR_EEXPR, n->file, n->line, n->col,
                            "expected a number, got '%s'", json_string_value(v));
    } else if (!json_is_null(v) && !json_is_string(v)) {
        r = gr_diag_set(reterr, GR_EEXPR, n->file, n->line, n->col, "expected a number");
    }
    json_decref(v);
    if (r == 0)
        *ret = d;
    return r;
}

/* ---- logging through the masker ---------------------------------------- */

void ex__leg_logn(struct ex__leg *leg, const char *line, size_t len)
{
    const struct ex_reporter *rep = leg->run->rep;
    struct gr_buf m = GR_BUF_INIT(0);

    if (!rep->log_line)
        return;
    if (ex_masker_apply(leg->masker, line, len, &m) == 0)
        rep->log_line(rep->ctx, leg, m.ptr, m.len);
    gr_buf_release(&m);
}

void ex__leg_log(struct ex__leg *leg, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    ex__leg_logn(leg, s, (size_t)n);
    free(s);
}

static int *annotation_counter(struct ex__stepexec *se, const char *level)
{
    if (strcmp(level, "error") == 0)
        return &se->n_err;
    if (strcmp(level, "warning") == 0)
        return &se->n_warn;
    return &se->n_notice;
}

static json_t *annotation_json(const struct ex_annotation *a)
{
    json_t *o = json_pack("{s:s,s:o}", "level", a->level, "message", ex__json_text(a->message));

    if (a->title)
        json_object_set_new(o, "title", ex__json_text(a->title));
    if (a->file)
        json_object_set_new(o, "file", ex__json_text(a->file));
    if (a->line)
        json_object_set_new(o, "line", json_integer(a->line));
    if (a->end_line)
        json_object_set_new(o, "end_line", json_integer(a->end_line));
    if (a->col)
        json_object_set_new(o, "col", json_integer(a->col));
    if (a->end_col)
        json_object_set_new(o, "end_col", json_integer(a->end_col));
    return o;
}

char *ex__leg_mask(struct ex__leg *leg, const char *s)
{
    struct gr_buf m = GR_BUF_INIT(0);

    if (!s)
        return NULL;
    if (ex_masker_apply(leg->masker, s, strlen(s), &m) < 0) {
        gr_buf_release(&m);
        return gr_xstrdup("***");
    }
    return gr_buf_detach(&m, NULL);
}

void ex__leg_annotate(struct ex__leg *leg, struct ex__stepexec *se, const char *level,
                      const char *msg, const struct ex_cmd *pos)
{
    const struct ex_reporter *rep = leg->run->rep;
    char *m = ex__leg_mask(leg, msg), *title = pos ? ex__leg_mask(leg, pos->title) : NULL;
    struct ex_annotation a = {.level = level, .message = m, .title = title};
    json_t *list = se ? se->annotations : json_object_get(leg->json, "annotations");
    int *cnt = se ? annotation_counter(se, level) : NULL;

    if (pos) {
        a.file = pos->file;
        a.line = pos->line;
        a.end_line = pos->end_line;
        a.col = pos->col;
        a.end_col = pos->end_col;
    }
    if (rep->annotation)
        rep->annotation(rep->ctx, leg, &a);
    if (list && (!cnt || (*cnt)++ < EX__ANNOTATIONS_PER_TYPE))
        json_array_append_new(list, annotation_json(&a));
    free(m);
    free(title);
}

/* ---- contexts ---------------------------------------------------------- */

static json_t *ctx_or_empty(json_t *v)
{
    return v ? json_deep_copy(v) : json_object();
}

static json_t *runner_context(struct ex__leg *leg)
{
    char *ws_parent = gr_xstrdup(leg->run->workdir);
    char *slash = strrchr(ws_parent, '/');
    json_t *r;

    if (slash && slash != ws_parent)
        *slash = '\0';
    r = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "os", "Linux", "arch", ex__runner_arch(), "name",
                  "ghrun", "environment", "self-hosted", "temp", leg->temp_dir, "tool_cache",
                  leg->run->tool_cache, "workspace", ws_parent);
    free(ws_parent);
    return r;
}

static json_t *strategy_context(struct ex__leg *leg)
{
    const struct ex_plan_job *pj = leg->jr->pj;
    int total = (int)leg->jr->n_legs;
    int mp = pj->max_parallel > 0 ? pj->max_parallel : total;

    return json_pack("{s:b,s:i,s:i,s:i}", "fail-fast", pj->fail_fast, "job-index", leg->index,
                     "job-total", total, "max-parallel", leg->matrix ? mp : 1);
}

static json_t *github_context(struct ex__leg *leg, const char *event_path)
{
    json_t *gh = ctx_or_empty(leg->plan->github);

    json_object_set_new(gh, "job", json_string(leg->jr->pj->id));
    json_object_set_new(gh, "workspace", json_string(leg->run->workdir));
    json_object_set_new(gh, "event_path", json_string(event_path));
    json_object_set_new(gh, "action", json_string(""));
    json_object_set_new(gh, "action_path", json_string(""));
    json_object_set_new(gh, "action_repository", json_string(""));
    json_object_set_new(gh, "action_ref", json_string(""));
    if (!json_object_get(gh, "server_url"))
        json_object_set_new(gh, "server_url", json_string("https://github.com"));
    if (!json_object_get(gh, "api_url"))
        json_object_set_new(gh, "api_url", json_string("https://api.github.com"));
    if (!json_object_get(gh, "graphql_url"))
        json_object_set_new(gh, "graphql_url", json_string("https://api.github.com/graphql"));
    if (!json_object_get(gh, "retention_days"))
        json_object_set_new(gh, "retention_days", json_string("90"));
    if (!json_object_get(gh, "run_attempt"))
        json_object_set_new(gh, "run_attempt", json_string("1"));
    if (!json_object_get(gh, "workflow") && leg->plan->wf) {
        const char *name = ex_node_str(leg->plan->wf->name);

        json_object_set_new(gh, "workflow", json_string(name ? name : leg->plan->wf->path));
    }
    return gh;
}

/* Contexts available before the job starts (concurrency, name): no env, steps or runner yet. */
void ex__leg_init_ctx(struct ex__leg *leg)
{
    const struct ex_plan *plan = leg->plan;
    char *event_path = gr_xasprintf("%s/_github_workflow/event.json", leg->temp_dir);

    leg->ctx = json_object();
    json_object_set_new(leg->ctx, "github", github_context(leg, event_path));
    json_object_set_new(leg->ctx, "inputs", ctx_or_empty(plan->inputs));
    json_object_set_new(leg->ctx, "vars", ctx_or_empty(plan->vars));
    json_object_set_new(leg->ctx, "secrets", ctx_or_empty(plan->secrets));
    json_object_set(leg->ctx, "matrix", leg->matrix ? leg->matrix : json_null());
    json_object_set_new(leg->ctx, "needs", ex__needs_context(leg->jr));
    json_object_set_new(leg->ctx, "strategy", strategy_context(leg));
    json_object_set_new(leg->ctx, "job", json_pack("{s:s}", "status", "success"));
    json_object_set_new(leg->ctx, "runner", runner_context(leg));
    json_object_set(leg->ctx, "steps", leg->steps_ctx);
    json_object_set(leg->ctx, "env", leg->job_env);
    if (leg->run->opts->contexts)
        json_object_update(leg->ctx, (json_t *)leg->run->opts->contexts);
    free(event_path);
}

/* ---- start ------------------------------------------------------------- */

/* The job's secrets and, in a called workflow, the run's (never printed either). */
static void register_secrets(struct ex__leg *leg)
{
    const json_t *sets[] = {leg->plan->secrets, leg->run->plan->secrets};
    const char *k;
    json_t *v;

    for (size_t i = 0; i < GR_ARRAY_SIZE(sets); i++) {
        json_object_foreach((json_t *)sets[i], k, v)
        {
            if (json_is_string(v))
                ex_masker_add(leg->masker, json_string_value(v), json_string_length(v));
        }
    }
}

static void trace(struct ex__leg *leg, const char *what)
{
    if (leg->run->opts->trace)
        leg->run->opts->trace(what);
}

/* gr_mkdir_p(path, 0755) in one mkdir when only path itself is missing, or nothing is. */
static int mkdir_chain(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    return errno == ENOENT ? gr_mkdir_p(path, 0755) : -errno;
}

static int leg_dirs(struct ex__leg *leg, struct gr_diag *d)
{
    char *ev_dir = gr_path_join(leg->temp_dir, "_github_workflow");
    char *ev_path = gr_path_join(ev_dir, "event.json");
    json_t *event = json_object_get(json_object_get(leg->ctx, "github"), "event");
    char *text = json_dumps(event ? event : json_object_get(leg->ctx, "inputs"), JSON_INDENT(2));
    int r = gr_rm_rf(leg->leg_dir);

    /* the leg's dirs, one level at a time (the state dir is there after the first job) */
    if (r == 0)
        r = mkdir_chain(leg->leg_dir);
    if (r == 0)
        r = mkdir_chain(leg->temp_dir);
    if (r == 0)
        r = mkdir_chain(ev_dir);
    if (r == 0)
        r = mkdir_chain(leg->run->tool_cache);
    /* the tool cache outlives the job and serves every slot: sticky and world-writable */
    if (r == 0 && leg->slot && chmod(leg->run->tool_cache, 01777) < 0)
        r = -errno;
    /* a scratch file in a dir made just now: no fsync (as the step scripts) */
    if (r == 0)
        r = ex__scratch_write(ev_path, text ? text : "{}", text ? strlen(text) : 2);
    /* RUNNER_TEMP is the steps' to write (made just now: nothing of theirs is in the way) */
    if (r == 0)
        r = ex__slot_own(leg, leg->temp_dir);
    if (r == 0)
        r = ex__slot_own(leg, ev_dir);
    if (r < 0)
        gr_diag_set(d, r, NULL, 0, 0, "cannot prepare '%s': %s", leg->leg_dir, gr_strerror(r));
    free(text);
    free(ev_dir);
    free(ev_path);
    return r;
}

/* workflow env (github, inputs, vars, secrets), then job env (adds needs, strategy, matrix). */
static int leg_env(struct ex__leg *leg, struct gr_diag *d)
{
    const struct ex_node *layers[] = {leg->plan->wf->env, leg->jr->pj->job->env};
    struct ex_eval_env ev;
    json_t *v;
    int r;

    ex__env_merge(leg->job_env, leg->plan->env);
    json_object_del(leg->ctx, "env");
    for (size_t i = 0; i < GR_ARRAY_SIZE(layers); i++) {
        if (!layers[i])
            continue;
        v = NULL;
        ex__leg_eval_env(leg, &ev);
        r = ex_node_eval(layers[i], &ev, &v, d);
        if (r < 0)
            return r;
        ex__env_merge(leg->job_env, v);
        json_decref(v);
    }
    json_object_set(leg->ctx, "env", leg->job_env);
    return 0;
}

static void timeout_cb(uv_timer_t *t)
{
    struct ex__leg *leg = gr_container_of(t, struct ex__leg, timer);
    char *msg;

    if (leg->timed_out) {
        /* cancel-timeout-minutes passed too: stop whatever still runs, run nothing more */
        ex__leg_log(leg, "##[error]The job was not cancelled within %g minutes; stopping it.",
                    EX__CANCEL_TIMEOUT_MIN);
        leg->abandoned = true;
        ex__proc_kill(leg->proc, SIGKILL);
        return;
    }
    msg = gr_xasprintf("The job running on runner ghrun has exceeded the maximum "
                       "execution time of %g minutes.",
                       leg->timeout_min);
    leg->timed_out = true;
    ex__leg_annotate(leg, NULL, "error", msg, NULL);
    free(msg);
    ex__leg_cancel(leg);
    /* steps that still run after the cancellation (always()) get a grace period */
    uv_timer_start(&leg->timer, timeout_cb, (uint64_t)(EX__CANCEL_TIMEOUT_MIN * 60000.0), 0);
}

static int leg_settings(struct ex__leg *leg, struct gr_diag *d)
{
    const struct ex_job *job = leg->jr->pj->job;
    struct ex_eval_env ev;
    double tmo = 360;
    int r;

    ex__leg_eval_env(leg, &ev);
    r = ex__eval_bool(job->continue_on_error, &ev, false, &leg->continue_on_error, d);
    if (r < 0)
        return r;
    r = ex__eval_number(job->timeout_minutes, &ev, 360, &tmo, d);
    if (r < 0)
        return r;
    leg->timeout_min = tmo;
    if (job->container || job->services)
        return gr_diag_set(d, GR_EFAILED, job->node->file, job->node->line, job->node->col,
                           "job '%s': %s is not supported in host mode (steps run on this host, "
                           "without containers)",
                           job->id, job->container ? "container:" : "services:");
    if (tmo > 0) {
        uv_timer_start(&leg->timer, timeout_cb, (uint64_t)(tmo * 60000.0 + 0.5), 0);
        leg->timer_on = true;
    }
    return 0;
}

static void leg_end(struct ex__leg *leg);

/* A job's sandbox policy: the run's plus its writable paths and masks (lists owned). */
struct job_policy {
    struct sb_policy pol;
    const char **rw, **masks;
    size_t n_masks;
    char *gpu_masks[SB_GPU_MAX]; /* the nodes of GPUs not leased to the job */
    const char *idmap[2], *idmap_ro[2];
};

/* The run's policy plus the workspace and state dir writable (base is opts->sandbox). */
static void job_policy_init(struct job_policy *jp, const struct ex_run_opts *o, const char *workdir,
                            const char *state_dir)
{
    const struct sb_policy *base = o->sandbox;
    /* ... and the invoking user's home (their tools: pyenv, cargo, nvm) readable, as before */
    const char *home = getenv("HOME");
    size_t n = 0, m;

    memset(jp, 0, sizeof(*jp));
    jp->pol = *base;
    while (base->rw_paths && base->rw_paths[n])
        n++;
    jp->rw = gr_xcalloc(n + 4, sizeof(*jp->rw));
    /* the run's artifact store (the runner's staging files) is the services', not the steps' */
    for (m = 0; base->mask_paths && base->mask_paths[m]; m++)
        ;
    jp->masks = gr_xcalloc(m + 2 + SB_GPU_MAX, sizeof(*jp->masks));
    if (m)
        memcpy(jp->masks, base->mask_paths, m * sizeof(*jp->masks));
    jp->masks[m] = o->artifact_dir;
    jp->n_masks = m + (o->artifact_dir != NULL);
    jp->pol.mask_paths = jp->masks;
    for (size_t i = 0; i < n; i++)
        jp->rw[i] = base->rw_paths[i];
    jp->rw[n++] = workdir;
    jp->rw[n++] = state_dir;
    /* --action-dir must stay visible to the steps that run its actions, also under the
     * job's private /tmp */
    if (o->action_dir)
        jp->rw[n++] = o->action_dir;
    jp->pol.rw_paths = jp->rw;
    if (!o->checkout_clones) {
        /* replay: the project is the user's, never chowned: the slot writes it idmapped */
        jp->idmap[0] = workdir;
        jp->idmap_ro[0] = home && home[0] == '/' && home[1] && gr_path_is_dir(home) ? home : NULL;
        jp->pol.idmap_paths = jp->idmap;
        jp->pol.idmap_ro_paths = jp->idmap_ro;
    }
}

static void job_policy_release(struct job_policy *jp)
{
    free(jp->rw);
    free(jp->masks);
    for (size_t i = 0; i < SB_GPU_MAX; i++)
        free(jp->gpu_masks[i]);
}

/* The labels of an evaluated runs-on: a label, a list, or {group, labels}. */
static int runs_on_labels(const json_t *v, struct ex_limits *lim, const char **ret_bad,
                          const char **ret_want)
{
    const json_t *labels = json_is_object(v) ? json_object_get(v, "labels") : v;
    const json_t *e;
    size_t i;

    if (json_is_string(labels))
        return ex_limits_label(lim, json_string_value(labels), ret_want) < 0
                   ? (*ret_bad = json_string_value(labels), -EINVAL)
                   : 0;
    json_array_foreach(labels, i, e)
    {
        if (json_is_string(e) && ex_limits_label(lim, json_string_value(e), ret_want) < 0) {
            *ret_bad = json_string_value(e);
            return -EINVAL;
        }
    }
    return 0;
}

/*
 * The job's own limits (ex/limits.h): its runs-on labels, lowered further by the runner's
 * rules it matches. A runs-on that does not evaluate asks for nothing (GitHub, not the
 * runner, checks runs-on); a limit label with a bad value fails the job.
 */
static int leg_limits(struct ex__leg *leg, struct ex_limits *ret, struct gr_diag *d)
{
    const struct ex_run_opts *o = leg->run->opts;
    const struct ex_job *job = leg->jr->pj->job;
    const json_t *gh = json_object_get(leg->ctx, "github");
    const char *bad = NULL, *want = "";
    struct gr_diag ignored = {0};
    struct ex_eval_env ev;
    json_t *v = NULL;
    int r = 0;

    memset(ret, 0, sizeof(*ret));
    ex__leg_eval_env(leg, &ev);
    if (job->runs_on && ex_node_eval(job->runs_on, &ev, &v, &ignored) == 0)
        r = runs_on_labels(v, ret, &bad, &want);
    if (r < 0) /* bad points into v */
        r = gr_diag_set(d, GR_EFAILED, job->runs_on->file, job->runs_on->line, job->runs_on->col,
                        "runs-on label '%s': want %s", bad, want);
    json_decref(v);
    if (r < 0)
        return r;
    for (size_t i = 0; i < o->n_limit_rules; i++) {
        const struct ex_limit_rule *rule = &o->limit_rules[i];

        if (ex_limit_rule_matches(rule, json_string_value(json_object_get(gh, "repository")),
                                  json_string_value(json_object_get(gh, "workflow")),
                                  json_string_value(json_object_get(gh, "job"))))
            ex_limits_merge(ret, &rule->lim);
    }
    return 0;
}

/* "NAME=value" lines to a NULL-terminated list. */
static char **env_lines(const char *text)
{
    size_t n = 0, k = 0;
    char **v;

    for (const char *p = text; *p; p++)
        n += *p == '\n';
    v = gr_xcalloc(n + 1, sizeof(*v));
    for (const char *p = text, *nl; *p && k < n; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl)
            break;
        v[k++] = gr_xstrndup(p, (size_t)(nl - p));
    }
    return v;
}

/*
 * Lease the job's GPUs from the runner's slots: only their device nodes pass the job's
 * device filter, every other GPU node of the host is hidden, and the steps get
 * CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES naming them (docs/sandbox.md section 9).
 */
static int leg_gpus(struct ex__leg *leg, struct job_policy *jp, size_t want, struct gr_diag *d)
{
    const struct ex_gpu_slots *g = leg->run->opts->gpus;
    const char *dir = g->lock_dir ? g->lock_dir : "/run/ghrun/gpus";
    char env[SB_GPU_MAX * 80 + 128], ids[SB_GPU_MAX * 5] = "";
    size_t k = 0;
    int r = gr_mkdir_p(dir, 0700);

    if (r == 0)
        r = sb_gpu_lease(&g->slots, want, dir, &leg->gpu_lease);
    if (r == -EBUSY)
        return gr_diag_set(d, r, NULL, 0, 0,
                           "cannot lease %zu GPU(s) for the job: the runner's %zu GPU slot(s) "
                           "are held by other jobs",
                           want, g->slots.n);
    if (r < 0)
        return gr_diag_set(d, r, NULL, 0, 0, "cannot lease GPUs in '%s': %s", dir, gr_strerror(r));
    jp->pol.gpu_isolate = true;
    jp->pol.n_gpu_minors = leg->gpu_lease.n;
    for (size_t i = 0; i < leg->gpu_lease.n; i++) {
        int minor = g->slots.gpu[leg->gpu_lease.idx[i]].minor;

        jp->pol.gpu_minors[i] = minor;
        snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), "%s%d", i ? "," : "", minor);
    }
    for (size_t i = 0; i < g->all.n; i++) {
        bool mine = false;

        for (size_t j = 0; j < jp->pol.n_gpu_minors; j++)
            mine = mine || jp->pol.gpu_minors[j] == g->all.gpu[i].minor;
        if (mine)
            continue;
        jp->gpu_masks[k] =
            gr_xasprintf("%s/nvidia%d", g->dev_dir ? g->dev_dir : "/dev", g->all.gpu[i].minor);
        jp->masks[jp->n_masks++] = jp->gpu_masks[k++];
    }
    r = sb_gpu_env_text(&g->slots, &leg->gpu_lease, env, sizeof(env));
    if (r < 0)
        return gr_diag_set(d, r, NULL, 0, 0, "cannot describe the job's GPUs: %s", gr_strerror(r));
    leg->gpu_env = env_lines(env);
    ex__leg_log(leg, "sandbox: GPUs of this job: %s (%zu of the runner's %zu)",
                leg->gpu_lease.n ? ids : "none", leg->gpu_lease.n, g->slots.n);
    return 0;
}

/* The job's policy lowered to its own limits, and its GPUs leased. */
static int leg_policy(struct ex__leg *leg, struct job_policy *jp, struct gr_diag *d)
{
    const struct ex_gpu_slots *g = leg->run->opts->gpus;
    size_t gpus = g ? g->per_job : 0;
    struct ex_limits lim;
    char note[512], refused[512];
    int r = leg_limits(leg, &lim, d);

    if (r < 0)
        return r;
    ex_limits_apply(&lim, &jp->pol, &gpus, note, sizeof(note), refused, sizeof(refused));
    if (note[0])
        ex__leg_log(leg, "sandbox: this job's own limits: %s", note);
    if (refused[0])
        ex__leg_log(leg, "sandbox: asked for more than the runner allows, ignored: %s", refused);
    return g ? leg_gpus(leg, jp, gpus, d) : 0;
}

int ex_sandbox_prepare(const struct ex_run_opts *opts, struct sb_job **ret)
{
    /* as ex_run_plan names them: the workspace resolved, the state dir as given */
    char *workdir = realpath(opts->workdir ? opts->workdir : ".", NULL);
    char *state = !workdir          ? NULL
                  : opts->state_dir ? gr_xstrdup(opts->state_dir)
                                    : gr_path_join(workdir, ".ghrun");
    struct job_policy jp;
    int r;

    if (!opts->sandbox || !workdir) {
        r = workdir ? -EINVAL : -errno;
        free(workdir);
        return r;
    }
    job_policy_init(&jp, opts, workdir, state);
    r = sb_job_new("next", &jp.pol, ret);
    job_policy_release(&jp);
    free(state);
    free(workdir);
    return r;
}

/* The prepared sandbox when it was made for exactly this policy; else it goes now. */
static int take_or_new(struct ex__leg *leg, const struct sb_policy *pol)
{
    struct sb_job **ready = leg->run->opts->sandbox_ready;
    struct sb_job *sb = ready ? *ready : NULL;

    if (ready)
        *ready = NULL;
    if (sb && sb_job_policy_is(sb, pol)) {
        leg->sb = sb;
        trace(leg, "job: prepared sandbox taken");
        return 0;
    }
    sb_job_free(sb); /* nothing of it may reach another job's policy */
    return sb_job_new(leg->jr->pj->id, pol, &leg->sb); /* copies the policy */
}

/*
 * The job's sandbox: the run's policy (if any) plus the workspace and state dir writable,
 * lowered to the job's own limits, with its GPUs.
 */
static int leg_sandbox(struct ex__leg *leg, struct gr_diag *d)
{
    struct job_policy jp;
    int r;

    if (!leg->run->opts->sandbox) {
        if (leg->run->opts->sandbox_ready) {
            sb_job_free(*leg->run->opts->sandbox_ready);
            *leg->run->opts->sandbox_ready = NULL;
        }
        r = sb_job_new(leg->jr->pj->id, NULL, &leg->sb);
        return r < 0 ? gr_diag_set(d, r, NULL, 0, 0, "cannot set up the job sandbox: %s",
                                   gr_strerror(r))
                     : 0;
    }
    job_policy_init(&jp, leg->run->opts, leg->run->workdir, leg->run->state_dir);
    r = leg_policy(leg, &jp, d);
    if (r < 0) {
        job_policy_release(&jp);
        return r;
    }
    r = take_or_new(leg, &jp.pol);
    trace(leg, "job: sandbox job created");
    if (r < 0 && *sb_last_error())
        GR_LOG_ERR("sandbox: %s", sb_last_error());
    if (r == 0 && !leg->run->opts->quiet_sandbox)
        ex__leg_log(leg, "%s", sb_job_summary(leg->sb));
    /* every job log says how its steps are isolated, and what is off (sandbox.md 10); a quiet
     * run said it once, except what only this job's workspace decides (its idmap) */
    for (const char *const *off = r == 0 ? sb_job_degraded(leg->sb) : NULL; off && *off; off++)
        if (!leg->run->opts->quiet_sandbox || strstr(*off, "cannot idmap"))
            ex__leg_log(leg, "sandbox protection off: %s", *off);
    job_policy_release(&jp);
    if (r == 0)
        r = ex__slot_setup(leg);
    trace(leg, "job: slot set up");
    if (r < 0)
        gr_diag_set(d, r, NULL, 0, 0, "cannot set up the job sandbox: %s", gr_strerror(r));
    return r;
}

int ex__leg_start(struct ex__leg *leg)
{
    const struct ex_reporter *rep = leg->run->rep;
    struct gr_diag d = {0};
    char msg[700];
    int r;

    leg->started = true;
    trace(leg, "job: started");
    leg->t0 = uv_now(leg->run->loop);
    uv_timer_init(leg->run->loop, &leg->timer);
    leg->masker = ex_masker_new();
    register_secrets(leg);
    leg->json = ex__json_leg_new(leg);
    if (rep->job_started)
        rep->job_started(rep->ctx, leg, leg->display_name);
    r = leg_sandbox(leg, &d);
    if (r == 0 && leg->preset_error)
        r = gr_diag_set(&d, GR_EFAILED, NULL, 0, 0, "%s", leg->preset_error);
    if (r == 0)
        r = leg_dirs(leg, &d);
    trace(leg, "job: workspace ready");
    if (r == 0)
        r = leg_env(leg, &d);
    if (r == 0)
        r = leg_settings(leg, &d);
    trace(leg, "job: set-up done");
    if (r < 0) {
        gr_diag_format(&d, msg, sizeof(msg));
        ex__leg_annotate(leg, NULL, "error", msg, NULL);
        leg->status = "failure";
        leg_end(leg);
        return 0;
    }
    ex__persist_start(leg, ex__leg_next); /* then the steps */
    return 0;
}

/* ---- steps and the end ------------------------------------------------- */

void ex__leg_next(struct ex__leg *leg)
{
    const struct ex_job *job = leg->jr->pj->job;

    if (leg->finished)
        return;
    if (!leg->pre_done) {
        if (ex__action_pre_next(leg) == 0)
            return;
        leg->pre_done = true;
    }
    while (leg->step_i < job->n_steps && !leg->abandoned) {
        if (ex__step_run(leg, &job->steps[leg->step_i]) == 0) {
            if (!leg->traced_step) /* the first step whose process was started */
                trace(leg, "job: first step started");
            leg->traced_step = true;
            return;
        }
        leg->step_i++;
    }
    if (ex__action_post_next(leg) == 0)
        return;
    ex__persist_end(leg, leg_end); /* then leg_end */
}

static bool running_step_survives(struct ex__leg *leg)
{
    struct ex_eval_env ev;
    struct gr_diag d = {0};
    const char *cond;
    bool keep = false;

    if (!leg->cur || !leg->cur->step->if_)
        return false;
    cond = ex_node_str(leg->cur->step->if_);
    ex__leg_eval_env(leg, &ev);
    return cond && ex_if_eval(cond, &ev, &keep, &d) == 0 && keep;
}

void ex__leg_cancel(struct ex__leg *leg)
{
    int r;

    if (leg->cancelled || leg->finished)
        return;
    leg->cancelled = true;
    leg->status = "cancelled";
    if (!leg->proc || running_step_survives(leg))
        return;
    ex__proc_kill(leg->proc, SIGKILL);
    r = sb_job_kill(leg->sb, SIGKILL);
    if (r < 0)
        GR_LOG_DEBUG("sandbox job kill: %s", gr_strerror(r));
}

void ex__outputs_filter(struct ex__leg *leg, json_t *outputs)
{
    const char *k;
    json_t *v, *tmp;

    json_object_foreach_safe(outputs, tmp, k, v)
    {
        char *s = json_is_string(v) ? gr_xstrdup(json_string_value(v)) : ex_value_to_string(v);
        char *m = ex__leg_mask(leg, s);

        if (!*s) {
            json_object_del(outputs, k);
        } else if (strcmp(s, m) != 0) {
            ex__leg_log(leg, "##[warning]Skip output '%s' since it may contain secret.", k);
            json_object_del(outputs, k);
        } else if (!json_is_string(v)) {
            json_object_set_new(outputs, k, json_string(s));
        }
        free(s);
        free(m);
    }
}

static void leg_outputs(struct ex__leg *leg)
{
    const struct ex_node *outs = leg->jr->pj->job->outputs;
    struct ex_eval_env ev;

    leg->outputs = json_object();
    if (!outs || outs->kind != EX_NODE_MAP)
        return;
    json_object_set(leg->ctx, "env", leg->job_env);
    ex__leg_eval_env(leg, &ev);
    for (size_t i = 0; i < outs->n; i++) {
        struct gr_diag d = {0};
        char msg[700];
        json_t *v = NULL;

        if (ex_node_eval(outs->vals[i], &ev, &v, &d) < 0) {
            gr_diag_format(&d, msg, sizeof(msg));
            ex__leg_annotate(leg, NULL, "error", msg, NULL);
            continue;
        }
        json_object_set_new(leg->outputs, outs->keys[i]->str, v);
    }
    ex__outputs_filter(leg, leg->outputs);
}

static void leg_kill_leftovers(struct ex__leg *leg)
{
    for (size_t i = 0; i < leg->n_pgids; i++)
        (void)kill(-leg->pgids[i], SIGKILL);
    if (leg->sb && sb_job_kill(leg->sb, SIGKILL) < 0)
        GR_LOG_DEBUG("sandbox job kill failed");
}

static void leg_closed(uv_handle_t *h)
{
    ex__leg_done(h->data);
}

static void leg_end(struct ex__leg *leg)
{
    const struct ex_reporter *rep = leg->run->rep;
    uint64_t dur = (uv_now(leg->run->loop) - leg->t0) * 1000000ull;
    int r;

    leg->finished = true;
    uv_timer_stop(&leg->timer);
    leg_outputs(leg);
    if (leg->timed_out)
        leg->result = EX_RESULT_FAILURE;
    else if (leg->cancelled)
        leg->result = EX_RESULT_CANCELLED;
    else if (strcmp(leg->status, "failure") == 0)
        leg->result = EX_RESULT_FAILURE;
    else
        leg->result = EX_RESULT_SUCCESS;
    leg_kill_leftovers(leg);
    sb_gpu_release(&leg->gpu_lease); /* its processes are gone: the GPUs are free again */
    ex__slot_reclaim(leg);
    if (rep->job_finished)
        rep->job_finished(rep->ctx, leg, leg->result, leg->outputs, dur);
    ex__json_leg_finish(leg, dur);
    r = gr_rm_rf(leg->leg_dir);
    if (r < 0)
        GR_LOG_WARN("cannot remove '%s': %s, ignoring", leg->leg_dir, gr_strerror(r));
    leg->timer.data = leg;
    uv_close((uv_handle_t *)&leg->timer, leg_closed);
}

void ex__leg_free(struct ex__leg *leg)
{
    if (!leg)
        return;
    json_decref(leg->matrix);
    free(leg->display_name);
    json_decref(leg->ctx);
    json_decref(leg->job_env);
    json_decref(leg->path_list);
    json_decref(leg->steps_ctx);
    json_decref(leg->outputs);
    json_decref(leg->json);
    json_decref(leg->gen_ids);
    ex__action_leg_free(leg);
    ex__persist_free(leg->persist);
    sb_job_free(leg->sb);
    sb_gpu_release(&leg->gpu_lease);
    sb_argv_free(leg->gpu_env);
    ex_masker_free(leg->masker);
    ex_cmd_state_release(&leg->cmds);
    free(leg->temp_dir);
    free(leg->leg_dir);
    for (int i = 0; i < EX__N_SLOTS; i++)
        free(leg->spare[i]);
    free(leg->pgids);
    free(leg->concurrency);
    free(leg->preset_error);
    free(leg);
}
