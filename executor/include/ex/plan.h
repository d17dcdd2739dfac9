/*
 * The plan: which workflow(s) an event triggers, the `needs` graph in stages,
 * matrix legs (workflow-semantics.md sections 1, 2, 9), the event payload and
 * the github context.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#include "gr.h"
#include "ex/workflow.h"

#define EX_MATRIX_MAX_LEGS 256 /* GitHub's limit on jobs a matrix may generate */

/* What the user asked for (ghrun replay's flags). Borrowed for the call. */
struct ex_plan_opts {
    const char *event_name; /* NULL: push if the workflow has it, else its first trigger */
    json_t *event_payload;  /* from -e FILE, or NULL for a generated default */
    json_t *inputs;         /* --input k=v as an object of strings, or NULL */
    json_t *secrets;        /* object, or NULL */
    json_t *vars;           /* object, or NULL */
    json_t *env;            /* --env: extra environment for every step, or NULL */
    json_t *matrix_filter;  /* --matrix k:v: object of key -> array of accepted strings, or NULL */
    const char *job_id;     /* -j: this job and the jobs it needs (as act's PlanJob), or NULL */
    const char *repo_dir;   /* the repository being replayed (workspace) */
    bool ignore_filters;    /* run even if branch/path filters say no */
};

/* One matrix leg (or the single leg of a job without a matrix). */
struct ex_leg {
    json_t *matrix;     /* object, or NULL when the job has no matrix */
    char *display_name; /* "build (ubuntu, 3.12)" as GitHub names it */
};

struct ex_plan_job {
    const struct ex_job *job;
    const char *id;
    int stage;            /* 0-based; all needs are in earlier stages */
    bool matrix_deferred; /* matrix depends on needs/run-time values: expand when the job starts */
    struct ex_leg *legs;
    size_t n_legs;
    bool fail_fast;
    int max_parallel; /* 0 = unlimited */
    /*
     * `uses: ./path/to/workflow.yml`: the called workflow's plan (owned),
     * with its typed inputs and mapped secrets; its jobs' legs are named
     * "<caller> / <callee job>". NULL for other jobs and for remote
     * `owner/repo/path@ref` calls (not fetched at plan time).
     */
    struct ex_plan *called;
};

struct ex_plan {
    const struct ex_workflow *wf; /* borrowed */
    char *event_name;
    json_t *github; /* the github context (event payload in github.event) */
    json_t *inputs; /* typed inputs context (workflow_dispatch / workflow_call) or NULL */
    json_t *secrets, *vars, *env;
    struct ex_plan_job *jobs; /* in stage order, then file order */
    size_t n_jobs;
    int n_stages;
    bool triggered;      /* false when the event (or a filter) does not trigger the workflow */
    char *not_triggered; /* why not (owned), or NULL */
    /* Called workflows only (see ex_plan_job.called): */
    struct ex_workflow *owned_wf;     /* the callee, freed with the plan */
    const struct ex_plan_job *caller; /* the calling job in the parent plan */
    int depth;                        /* 0 for the workflow being replayed */
    /* `with:` uses needs/matrix: inputs hold defaults only; the engine re-checks them */
    bool inputs_deferred;
    char *repo_dir;        /* where `./` paths resolve (owned) */
    json_t *matrix_filter; /* --matrix, or NULL */
    /* GITHUB_TOKEN permissions its caller grants ({scope: 0 none, 1 read, 2 write}), or NULL */
    json_t *perm_max;
};

#define EX_REUSE_MAX_DEPTH 9  /* nested calls below the top workflow (github.com: 10 levels) */
#define EX_REUSE_MAX_CALLS 50 /* unique reusable workflows below one workflow (github.com) */

/*
 * Count the unique reusable workflows that plan calls, through its planned
 * ./ calls (ex_plan_job.called) and naming remote ones, into seen (an
 * object whose keys are the workflows counted so far; NULL: a new one).
 * Beyond EX_REUSE_MAX_CALLS: GR_EINVAL_WF at the `uses:` of the call that
 * went beyond (in plan's own file, the inner position in the message).
 */
/*
 * The permissions pj (a calling job of parent) grants the called workflow
 * sub (loaded): the callee's top-level and job `permissions` may ask for no
 * more (GR_EINVAL_WF at pj's `uses:` otherwise, in GitHub's words); sets
 * sub->perm_max. Nothing is checked when no `permissions` grants anything
 * on the way down (the repository default is not known to ghrun).
 */
int ex_plan_perms_check(const struct ex_plan *parent, const struct ex_plan_job *pj,
                        struct ex_plan *sub, struct gr_diag *reterr) GR_MUST_CHECK;
int ex_plan_calls_count(const struct ex_plan *plan, json_t *seen,
                        struct gr_diag *reterr) GR_MUST_CHECK;

/*
 * One call of a reusable workflow (jobs.<id>.uses) for ex_plan_call. At plan
 * time ctx is NULL: `with:`/`secrets:` values that need run-time contexts
 * are deferred (their keys are still checked). The engine passes the
 * calling leg's contexts (github, inputs, vars, needs, strategy, matrix,
 * secrets) and gets every value evaluated and checked.
 */
struct ex_plan_call {
    const json_t *ctx;
    struct ex_workflow *wf;  /* a callee loaded by the caller (remote; stolen), or NULL: ./path */
    const char *repo_dir;    /* the callee's repository for its own ./ calls; NULL: the parent's */
    const char *caller_name; /* the calling leg's display name ("test (20)") */
};
/*
 * The plan of the workflow that pj (a job of parent with `uses:`) calls:
 * typed inputs, mapped secrets, its jobs named "<caller> / <job>". Errors
 * (missing workflow_call, unknown or missing inputs and secrets, depth
 * beyond EX_REUSE_MAX_DEPTH) point at pj's `uses:`.
 */
int ex_plan_call(const struct ex_plan *parent, const struct ex_plan_job *pj,
                 const struct ex_plan_call *c, struct ex_plan **ret,
                 struct gr_diag *reterr) GR_MUST_CHECK;
/*
 * The file a local `uses: ./...` of parent names: under its repository, or,
 * for ./.github/workflows/F when the repository has none, F next to the
 * calling workflow file (replay -W reading workflows from another folder).
 * Owned.
 */
char *ex_plan_callee_path(const struct ex_plan *parent, const char *uses);

int ex_plan_build(const struct ex_workflow *wf, const struct ex_plan_opts *opts,
                  struct ex_plan **ret, struct gr_diag *reterr) GR_MUST_CHECK;
void ex_plan_free(struct ex_plan *plan);

/*
 * Expand strategy.matrix (already evaluated to a json_t object) into legs as
 * GitHub's MatrixBuilder does: cross product in key order, exclude (partial
 * matching), include (extend matching legs without overwriting original keys,
 * else add). filter (may be NULL) keeps legs matching --matrix. *ret is a new
 * array of objects.
 */
int ex_matrix_expand(const json_t *matrix, const json_t *filter, json_t **ret,
                     struct gr_diag *reterr) GR_MUST_CHECK;
/* "name (v1, v2)" display name for a leg as GitHub builds it. Owned. */
char *ex_matrix_display_name(const char *base, const json_t *leg);

/*
 * The github context for a local repository: sha, ref, ref_name, repository
 * and repository_owner from the remote URL, actor, workspace, run_id,
 * run_number, event_name, event (payload). Uses libgit2. *ret new reference.
 */
int ex_github_context(const char *repo_dir, const char *event_name, const json_t *payload,
                      json_t **ret, struct gr_diag *reterr) GR_MUST_CHECK;

/* `ghrun replay -l`: the job graph by stage. `-n`: the full plan. */
void ex_plan_print_list(const struct ex_plan *plan, FILE *out);
void ex_plan_print_dryrun(const struct ex_plan *plan, FILE *out);
/* A step's display name as the runner generates it ("Run echo hi"). Owned. */
char *ex_plan_step_name(const struct ex_step *st);
/* -l for several workflows in one table (stages side by side, as act merges them). */
void ex_plan_print_list_many(const struct ex_plan *const *plans, size_t n, FILE *out);

/* ---- additions (plan helper) ------------------------------------------- */

/*
 * Like ex_matrix_expand, but each leg also gets its display name built from
 * base (the job's name or id; NULL or "" gives names without a prefix).
 * *ret_legs is a new array of *ret_n legs; free it with ex_legs_free.
 */
int ex_matrix_build(const json_t *matrix, const json_t *filter, const char *base,
                    struct ex_leg **ret_legs, size_t *ret_n, struct gr_diag *reterr) GR_MUST_CHECK;
void ex_legs_free(struct ex_leg *legs, size_t n);
/* The expression language's loose `==` (case-insensitive strings, number coercion). */
bool ex_matrix_value_eq(const json_t *a, const json_t *b);
/* String form of a value as the expression language converts it. Owned. */
char *ex_matrix_value_str(const json_t *v);

/* GitHub's filter glob (branches, tags, paths): *, **, ?, +, [..], backslash escapes. */
bool ex_events_glob_match(const char *pattern, const char *s);
/* A string or array of patterns applied in order, `!p` removing earlier matches. */
bool ex_events_patterns_match(const json_t *patterns, const char *s);
/*
 * Whether trigger t fires for this github context: pull_request activity
 * types, branches/tags(-ignore) against github.ref (the base branch for
 * pull_request), paths(-ignore) against changed (array of repo-relative
 * paths, or NULL when unknown: then paths filters pass). When false and
 * ret_reason is non-NULL, *ret_reason is an owned explanation.
 */
bool ex_events_triggered(const struct ex_trigger *t, const json_t *github, const json_t *changed,
                         char **ret_reason);
/*
 * Inputs of a workflow_dispatch or workflow_call trigger. given: object of
 * values (strings from --input, any JSON from a payload's "inputs"). ctx:
 * contexts for workflow_call defaults written as expressions (may be NULL).
 * *ret_typed is the `inputs` context (booleans and numbers typed);
 * *ret_strings holds every value as a string (github.event.inputs).
 * Unknown or missing required inputs, bad booleans/numbers and choices not
 * in `options` are GR_EUSAGE errors with the declaration's position.
 * EX_INPUTS_STRICT: given values are typed (a caller's `with:`), so a string
 * for a boolean or number input is an error. EX_INPUTS_PARTIAL: a missing
 * required input is no error (the caller's values are known only later).
 */
#define EX_INPUTS_STRICT 1u
#define EX_INPUTS_PARTIAL 2u
int ex_events_inputs(const struct ex_trigger *t, const json_t *given, const json_t *ctx,
                     unsigned flags, json_t **ret_typed, json_t **ret_strings,
                     struct gr_diag *reterr) GR_MUST_CHECK;

/*
 * Files changed by the event in the local repository (libgit2): push: the
 * payload's before..after when both are commits here, else HEAD^..HEAD (every
 * file of HEAD for a root commit); pull_request: merge base of the base
 * branch and HEAD, to HEAD. *ret is a new array of paths, or NULL when the
 * directory is not a repository or has no commits.
 */
int ex_github_changed_files(const char *repo_dir, const json_t *github, json_t **ret,
                            struct gr_diag *reterr) GR_MUST_CHECK;
/*
 * Owner and name from a remote URL: https://host/o/r(.git), git@host:o/r(.git),
 * ssh://git@host[:port]/o/r(.git). Returns false when the URL has neither.
 * *ret_host, *ret_owner, *ret_name are owned.
 */
bool ex_github_parse_remote(const char *url, char **ret_host, char **ret_owner, char **ret_name);
