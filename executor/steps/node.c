/*
 * JavaScript actions (runs.using: node12/16/20/24), as actions/runner's
 * NodeScriptActionHandler: `node <action dir>/<script>` in the workspace
 * with the step's environment plus INPUT_<NAME> for every input,
 * STATE_<name> for the values the action saved (GITHUB_STATE or
 * ::save-state::) in its earlier stages, GITHUB_ACTION_PATH,
 * GITHUB_ACTION_REPOSITORY and GITHUB_ACTION_REF.
 *
 * Stages: `pre` (when pre-if, default always(), holds) of a repository
 * action runs in the job's set-up phase: a job step's as its own "Pre"
 * step, a nested one's inside the "Pre" step of its job step's composite
 * action (action.c, steps/composite.c), and main starts with the state it
 * saved (keyed by the step's place, ex__action_step_key). Main never runs
 * a pre: a workspace action (./path), or one nested below one, never runs
 * its pre, and the step gets ActionRunner's warning. `post` is registered
 * when pre or main starts and runs after the job's steps (post-if, default
 * always()) with the env of the step that registered it.
 *
 * The node binary is --node or `node` on PATH; its version is asked once
 * per binary (`node --version`, on the loop) and a node older than the
 * action's runs.using is refused.
 */
#include "action_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char **environ;

enum stage { STAGE_PROBE, STAGE_PRE, STAGE_MAIN, STAGE_POST };

struct node_run {
    struct ex__stepexec *se;
    struct ex_action *a;
    json_t *inputs_env, *gh;
    char *node;
    enum stage stage;
    char *post_key; /* step key of the registered post stage, or NULL */
    char version[32];
};

/* node binary -> major version, asked once per process */
static struct {
    char path[PATH_MAX];
    char version[32];
    int major;
} probe_cache;

static void nr_free(struct node_run *nr)
{
    json_decref(nr->inputs_env);
    json_decref(nr->gh);
    free(nr->node);
    free(nr->post_key);
    free(nr);
}

static char *node_find(struct ex__stepexec *se)
{
    const char *opt = se->leg->run->opts->node;
    const json_t *pathv = json_object_get(se->env, "PATH");
    const char *base = pathv ? json_string_value(pathv) : getenv("PATH");
    char *path = ex__path_value(se->leg->path_list, base);
    char *prog = ex__which(opt && *opt ? opt : "node", path);

    free(path);
    return prog;
}

static void stage_line(void *ctx, const char *line, size_t len)
{
    struct node_run *nr = ctx;

    ex__step_line(nr->se, line, len);
}

static void stage_done(void *ctx, int status, bool timed_out);

static void files_reset(struct ex__stepexec *se)
{
    char **files[] = {&se->file_env, &se->file_output, &se->file_path, &se->file_state,
                      &se->file_summary};

    for (size_t i = 0; i < GR_ARRAY_SIZE(files); i++) {
        free(*files[i]);
        *files[i] = NULL;
    }
}

static json_t *stage_env(struct node_run *nr, const json_t *state)
{
    json_t *extra = json_deep_copy(nr->inputs_env);
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)state, k, v)
    {
        char *name = gr_xasprintf("STATE_%s", k);

        json_object_set(extra, name, v);
        free(name);
    }
    return extra;
}

static int stage_spawn(struct node_run *nr, const char *script, const json_t *state,
                       struct gr_diag *d)
{
    struct ex__stepexec *se = nr->se;
    struct ex__leg *leg = se->leg;
    char *argv[3] = {nr->node, NULL, NULL};
    char **wrapped = NULL, **envp;
    struct ex__proc_opts o;
    json_t *old;
    int r;

    files_reset(se);
    json_decref(se->extra_env);
    se->extra_env = stage_env(nr, state);
    old = ex__action_gh_swap(leg, nr->gh);
    envp = ex__step_process_env(se);
    json_decref(ex__action_gh_swap(leg, old));
    json_decref(old);
    argv[1] = script[0] == '/' ? gr_xstrdup(script) : gr_path_join(nr->a->dir, script);
    r = sb_wrap_command(leg->sb, argv, &wrapped);
    if (r < 0) {
        gr_diag_set(d, r, NULL, 0, 0, "sandbox cannot wrap the step: %s", gr_strerror(r));
        goto out;
    }
    o = (struct ex__proc_opts){
        .argv = wrapped,
        .envp = envp,
        .cwd = leg->run->workdir,
        .timeout_s = se->timeout_min * 60.0,
        .on_line = stage_line,
        .on_done = stage_done,
        .ctx = nr,
        .step_socket = sb_job_step_socket(leg->sb),
        .step_argv = argv,
    };
    r = ex__proc_start(leg->run->loop, &o, &leg->proc);
    if (r < 0) {
        gr_diag_set(d, r, NULL, 0, 0, "cannot start '%s': %s", nr->node, gr_strerror(r));
        goto out;
    }
    if (ex__proc_pgid(leg->proc) > 0) { /* 0: the job's init started it */
        GR_GROW(leg->pgids, leg->cap_pgids, leg->n_pgids + 1);
        leg->pgids[leg->n_pgids++] = ex__proc_pgid(leg->proc);
    }
out:
    free(argv[1]);
    sb_argv_free(wrapped);
    ex__argv_free(envp);
    return r;
}

/* The registering step's explicit env: its frames' env, then the keys of its own env:. */
json_t *ex__post_env(const struct ex__stepexec *se)
{
    const struct ex_node *env = se->step->env;
    json_t *out = se->frame ? json_deep_copy(se->frame->env) : json_object();

    for (size_t i = 0; env && env->kind == EX_NODE_MAP && i < env->n; i++) {
        json_t *v = json_object_get(se->env, env->keys[i]->str);

        if (v)
            json_object_set(out, env->keys[i]->str, v);
    }
    return out;
}

static void post_register(struct node_run *nr)
{
    (void)ex__action_post_register(nr->se, nr->a, nr->inputs_env, nr->gh);
    free(nr->post_key);
    nr->post_key = ex__action_step_key(nr->se);
}

static bool step_is_local(const struct ex__stepexec *se)
{
    const char *uses = ex_node_str(se->step->uses);

    return uses && (gr_startswith(uses, "./") || gr_startswith(uses, "../"));
}

/*
 * A pre stage that never ran because a workspace action is on the way:
 * ActionRunner's warning on that action's step (for a composite once, where
 * the runner gives it as the composite starts).
 */
static void pre_local_warn(struct ex__stepexec *se)
{
    struct ex__stepexec *at = step_is_local(se) ? se : NULL;
    struct ex__frame *f = se->frame;
    char *msg;

    for (; !at && f; f = f->up) {
        if (step_is_local(f->se)) {
            if (f->pre_warned)
                return;
            f->pre_warned = true;
            at = f->se;
        }
    }
    if (!at)
        return;
    msg = gr_xasprintf("`pre` execution is not supported for local action from '%s'",
                       ex_node_str(at->step->uses));
    ex__leg_annotate(se->leg, at, "warning", msg, NULL);
    free(msg);
}

/* Start main. Returns like ex__step_run; frees nr when done. */
static int stages_next(struct node_run *nr)
{
    struct ex__stepexec *se = nr->se;
    struct gr_diag d = {0};
    char *key = ex__action_step_key(se);
    json_t *pre_state = ex__action_pre_state(se->leg, key);
    int r;

    /* the pre stage ran in the set-up phase (or never) */
    free(key);
    if (pre_state && json_object_size(pre_state) > 0) {
        if (!se->state)
            se->state = json_object();
        json_object_update(se->state, pre_state);
    }
    if (nr->a->pre && *nr->a->pre && !pre_state)
        pre_local_warn(se);
    nr->stage = STAGE_MAIN;
    if (nr->a->post && *nr->a->post)
        post_register(nr);
    r = stage_spawn(nr, nr->a->main, se->state, &d);
    if (r < 0)
        goto fail;
    return 0;
fail:
    nr_free(nr);
    return ex__action_fail(se, "%s", d.msg);
}

static void post_state(struct node_run *nr)
{
    struct ex__post *p = ex__action_post_find(nr->se->leg, nr->post_key);

    if (p && nr->se->state)
        json_object_update(p->state, nr->se->state);
}

static void stage_done(void *ctx, int status, bool timed_out)
{
    struct node_run *nr = ctx;
    struct ex__stepexec *se = nr->se;
    struct ex__leg *leg = se->leg;
    struct ex__frame *frame = se->frame;
    enum ex_result outcome;
    int r;

    leg->proc = NULL;
    r = sb_step_reap(leg->sb);
    if (r < 0)
        GR_LOG_DEBUG("sandbox step reap: %s", gr_strerror(r));
    ex__step_filecmds(se);
    post_state(nr);
    outcome = ex__step_outcome(se, status, timed_out);
    if (se->pre) {
        /* the set-up phase: keep the state for main and post, then the next pre */
        char *key = ex__action_step_key(se);

        ex__action_pre_save(leg, key, se->state);
        free(key);
        nr_free(nr);
        ex__step_finished(se, outcome);
        if (frame)
            ex__composite_next(frame);
        else
            ex__leg_next(leg);
        return;
    }
    nr_free(nr);
    if (leg->act && leg->act->postrun && leg->act->postrun->se == se) {
        ex__action_post_group_done(leg, outcome);
        return;
    }
    ex__step_finished(se, outcome);
    ex__step_advance(leg, frame);
}

/* ---- the version of node ----------------------------------------------- */

static int version_check(struct node_run *nr)
{
    int need = nr->a->node_major;

    if (probe_cache.major <= 0) {
        int r = ex__action_fail(nr->se, "cannot tell the version of '%s' (output '%s')", nr->node,
                                probe_cache.version);

        nr_free(nr);
        return r;
    }
    if (probe_cache.major < need) {
        int r = ex__action_fail(nr->se,
                                "action '%s' runs on %s but '%s' is %s; install node %d or "
                                "newer, or pass --node",
                                ex_node_str(nr->se->step->uses), nr->a->using, nr->node,
                                probe_cache.version, need);

        nr_free(nr);
        return r;
    }
    return stages_next(nr);
}

static void probe_line(void *ctx, const char *line, size_t len)
{
    struct node_run *nr = ctx;

    if (!nr->version[0])
        snprintf(nr->version, sizeof(nr->version), "%.*s", (int)len, line);
}

static void probe_done(void *ctx, int status, bool timed_out)
{
    struct node_run *nr = ctx;
    struct ex__leg *leg = nr->se->leg;
    struct ex__frame *frame = nr->se->frame;

    leg->proc = NULL;
    (void)timed_out;
    snprintf(probe_cache.path, sizeof(probe_cache.path), "%s", nr->node);
    snprintf(probe_cache.version, sizeof(probe_cache.version), "%s", nr->version);
    probe_cache.major =
        status == 0 && nr->version[0] == 'v' ? (int)strtol(nr->version + 1, NULL, 10) : 0;
    if (version_check(nr) == 1)
        ex__step_advance(leg, frame);
}

static int probe_start(struct node_run *nr)
{
    char *argv[] = {nr->node, "--version", NULL};
    char **envp = ex__step_environ(environ, NULL, NULL, NULL);
    struct ex__proc_opts o = {
        .argv = argv,
        .envp = envp,
        .cwd = nr->se->leg->run->workdir,
        .timeout_s = 30,
        .on_line = probe_line,
        .on_done = probe_done,
        .ctx = nr,
    };
    int r = ex__proc_start(nr->se->leg->run->loop, &o, &nr->se->leg->proc);

    ex__argv_free(envp);
    if (r < 0) {
        r = ex__action_fail(nr->se, "cannot start '%s': %s", nr->node, gr_strerror(r));
        nr_free(nr);
        return r;
    }
    return 0;
}

static json_t *inputs_env(const json_t *inputs)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)inputs, k, v)
    {
        char *name = ex_action_input_env(k);

        json_object_set(out, name, v);
        free(name);
    }
    return out;
}

int ex__node_start(struct ex__stepexec *se, struct ex_action *a, json_t *inputs, json_t *gh)
{
    struct node_run *nr = gr_xcalloc(1, sizeof(*nr));

    nr->se = se;
    nr->a = a;
    nr->gh = gh;
    nr->inputs_env = inputs_env(inputs);
    json_decref(inputs);
    nr->node = node_find(se);
    if (!nr->node) {
        const char *opt = se->leg->run->opts->node;

        nr_free(nr);
        return ex__action_fail(se, "action '%s' (%s) needs node, but '%s' was not found%s",
                               ex_node_str(se->step->uses), a->using, opt ? opt : "node",
                               opt ? "" : " on PATH (pass --node)");
    }
    nr->stage = STAGE_PROBE;
    if (strcmp(probe_cache.path, nr->node) == 0)
        return version_check(nr);
    return probe_start(nr);
}

int ex__node_post_spawn(struct ex__stepexec *se, struct ex__post *p, struct gr_diag *reterr)
{
    struct node_run *nr = gr_xcalloc(1, sizeof(*nr));
    int r;

    nr->se = se;
    nr->a = p->act;
    nr->gh = json_incref(p->gh);
    nr->inputs_env = json_incref(p->inputs_env);
    nr->stage = STAGE_POST;
    nr->node = node_find(se);
    if (!nr->node) {
        nr_free(nr);
        return gr_diag_set(reterr, -ENOENT, NULL, 0, 0, "'node' was not found");
    }
    r = stage_spawn(nr, p->act->post, p->state, reterr);
    if (r < 0)
        nr_free(nr);
    return r;
}

int ex__node_pre_start(struct ex__stepexec *se, struct ex_action *a, json_t *inputs, json_t *gh)
{
    struct node_run *nr = gr_xcalloc(1, sizeof(*nr));
    struct gr_diag d = {0};

    nr->se = se;
    nr->a = a;
    nr->gh = gh;
    nr->stage = STAGE_PRE;
    nr->inputs_env = inputs_env(inputs);
    json_decref(inputs);
    nr->node = node_find(se);
    if (!nr->node || (strcmp(probe_cache.path, nr->node) == 0 && probe_cache.major > 0 &&
                      probe_cache.major < a->node_major)) {
        /* main reports the missing or old node */
        nr_free(nr);
        ex__step_finished(se, EX_RESULT_SKIPPED);
        return 1;
    }
    if (a->post && *a->post)
        post_register(nr); /* ActionRunner registers the post at the pre stage already */
    if (stage_spawn(nr, a->pre, NULL, &d) < 0) {
        nr_free(nr);
        return ex__action_fail(se, "%s", d.msg);
    }
    return 0;
}
