/*
 * Internals of actions (action.c, resolver.c, steps/composite.c,
 * steps/node.c). Never exported.
 *
 * A `uses:` step goes: parse the reference -> find the action's directory
 * (the workspace for ./path, else the resolver, which may clone on the
 * thread pool) -> load action.yml -> evaluate inputs -> run it as a
 * composite frame or as node stages. Post steps are queued per leg and run
 * after the job's steps, last registered first.
 */
#pragma once

#include "engine_internal.h"
#include "ex/action.h"

/*
 * A registered post stage of a node action, or (group) the one post step of a
 * job step's composite action, which runs the post stages of the actions
 * nested in it (nested, each with its own post-if), as the runner's
 * CompositeActionHandler does for ActionRunStage.Post.
 */
struct ex__post {
    const struct ex_step *step; /* the uses: step (workflow or a kept action's steps) */
    char *key;                  /* ex__action_step_key of the registering step */
    struct ex_action *act;      /* borrowed from the leg's list */
    json_t *inputs_env;         /* INPUT_* values */
    json_t *state;              /* STATE_* values saved by pre/main */
    json_t *gh;                 /* action_path, action_repository, action_ref */
    char *name;                 /* the step's display name */
    ex__native_post_fn *native; /* a native action's post step (act is NULL), or NULL */
    const char *post_if;        /* native: its post-if (static), or NULL for always() */
    json_t *env; /* explicit env of the registering step (its env: and its frames') */
    bool group;  /* a composite's post step: runs nested[] */
    struct ex__post *nested;
    size_t n_nested, cap_nested;
};

/* The explicit env a post step of se gets: its frames' env, then its own env: keys. */
json_t *ex__post_env(const struct ex__stepexec *se);

/* A pre stage that ran in the job's set-up phase: main and post get its state. */
struct ex__prepared {
    char *key; /* ex__action_step_key of the step */
    json_t *state;
};

/* The post group being run (ex__action_post_next). */
struct ex__postrun {
    struct ex__stepexec *se; /* "Post <composite step>" */
    struct ex__post group;   /* taken from the leg's list */
    size_t i;                /* next nested entry (nested[] is sorted in run order) */
    enum ex_result worst;
};

struct ex__actleg {
    struct ex_action **actions; /* every action loaded by the leg (steps point into them) */
    size_t n_actions, cap_actions;
    struct ex__post *posts;
    size_t n_posts, cap_posts;
    struct ex__prepared *pres;
    size_t n_pres, cap_pres;
    struct ex__postrun *postrun; /* a post group in progress, or NULL */
};

/* A running composite action. */
struct ex__frame {
    struct ex__stepexec *se; /* its uses: step */
    struct ex__frame *up;
    struct ex_action *act;
    size_t i;                     /* current step */
    int depth;                    /* 1 for a composite used by the job */
    uint64_t deadline_ms;         /* uv_now() limit from the uses: step's timeout-minutes, or 0 */
    json_t *inputs, *steps, *env; /* scoped contexts; env: explicit env of the uses: chain */
    json_t *saved_inputs, *saved_gh;
    json_t *saved_steps; /* borrowed: the outer leg->steps_ctx */
    const char *saved_status;
    bool pre;        /* the set-up phase: only the pre stages of nested actions run */
    bool pre_failed; /* pre mode: a nested pre stage failed */
    bool pre_warned; /* a local action: the "pre is not supported" warning was given */
    bool has_post;   /* outermost pre frame: an action below has (or may have) a post stage */
};

/* action.c */
struct ex__actleg *ex__actleg_get(struct ex__leg *leg);
/* Set github.action_path/_repository/_ref from gh (object); returns the previous values. */
json_t *ex__action_gh_swap(struct ex__leg *leg, const json_t *gh);
/* Annotate "step 'name': msg" and finish the step as failed. Returns 1. */
int ex__action_fail(struct ex__stepexec *se, const char *fmt, ...) GR_PRINTF(2, 3);
/* Start an action once its directory is known (after the resolver). Returns like ex__step_run. */
int ex__action_start(struct ex__stepexec *se, const struct ex_action_ref *ref, const char *dir,
                     json_t *gh);

/* steps/composite.c: inputs and gh stolen. Returns like ex__step_run. */
int ex__composite_start(struct ex__stepexec *se, struct ex_action *a, json_t *inputs, json_t *gh);
/*
 * The set-up phase of a composite action (se->pre): a frame whose steps only
 * run the pre stages of the repository actions nested in it (recursively),
 * in step order. Returns like ex__step_run; when it ends on the loop, the
 * set-up phase goes on (ex__leg_next) or the outer pre frame does.
 */
int ex__composite_pre_start(struct ex__stepexec *se, struct ex_action *a, json_t *inputs,
                            json_t *gh);
/* The uses: step of the outermost frame of se (se itself outside composite actions). */
struct ex__stepexec *ex__frame_top(struct ex__stepexec *se);

/* steps/node.c: inputs and gh stolen. Returns like ex__step_run. */
int ex__node_start(struct ex__stepexec *se, struct ex_action *a, json_t *inputs, json_t *gh);
/* Run the pre stage of a in the set-up phase as step se (se->pre). Returns like ex__step_run. */
int ex__node_pre_start(struct ex__stepexec *se, struct ex_action *a, json_t *inputs, json_t *gh);
/*
 * A step's place in the job, the same in every stage: the job step's index,
 * then the index of each step within the composite actions on the way down
 * ("3", "3/0/2"). Owned.
 */
char *ex__action_step_key(const struct ex__stepexec *se);
/* The state a set-up pre stage saved for the step with key, or NULL (borrowed). */
json_t *ex__action_pre_state(struct ex__leg *leg, const char *key);
/* Record the state of a set-up pre stage. */
void ex__action_pre_save(struct ex__leg *leg, const char *key, const json_t *state);
/*
 * A step of a pre frame (ex__composite_pre_start): a repository action gets
 * loaded and its pre stage run (node) or its steps walked (composite).
 * Returns like ex__step_run.
 */
int ex__action_pre_child(struct ex__leg *leg, const struct ex_step *st);
/*
 * Register the post stage of node action a for step se (once per step key;
 * a nested step's post joins its job step's post group). Returns the entry.
 */
struct ex__post *ex__action_post_register(struct ex__stepexec *se, struct ex_action *a,
                                          const json_t *inputs_env, const json_t *gh);
/* The post group of job step top (a composite action), registered now if it is not yet. */
struct ex__post *ex__action_post_group(struct ex__stepexec *top);
/* The registered post entry for key (top-level or nested), or NULL. */
struct ex__post *ex__action_post_find(struct ex__leg *leg, const char *key);
/* A post stage of the running post group ended: the group's next one, or its end. */
void ex__action_post_group_done(struct ex__leg *leg, enum ex_result outcome);
/*
 * Start the post stage p as step se (se->post) on the loop: 0, or <0 with
 * reterr set (se left as it was). When it ends, se finishes, or the running
 * post group goes on (ex__action_post_group_done).
 */
int ex__node_post_spawn(struct ex__stepexec *se, struct ex__post *p, struct gr_diag *reterr);

/*
 * resolver.c: find owner/repo[/path]@ref: the --action-dir tree, then a
 * clone from --actions-url (cached per owner/repo@commit under the state
 * dir) on the thread pool. Returns 0 when the step continues on the loop,
 * 1 when it finished synchronously (an error reported on the step).
 */
int ex__resolve_start(struct ex__stepexec *se, const struct ex_action_ref *ref);
/*
 * The resolver for any user (actions, reusable workflows): done(ctx, ref,
 * root, tried, async) gets the checked-out repository root, or NULL and the
 * sources tried. It runs inside this call when no clone is needed (async
 * false; ex__resolve returns its value), else from the after-work callback
 * (async true; ex__resolve returned 0).
 */
typedef int ex__resolved_fn(void *ctx, const struct ex_action_ref *ref, const char *root,
                            const char *tried, bool async);
int ex__resolve(struct ex__run *run, const struct ex_action_ref *ref, const char *uses,
                ex__resolved_fn *done, void *ctx);
