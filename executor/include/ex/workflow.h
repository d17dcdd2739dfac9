/*
 * The typed workflow model over the YAML tree, and validation as GitHub's
 * "Invalid workflow file" does it (schema: actions-runner-workflow-v1.0.json):
 * unknown keys, wrong types, bad or cyclic needs, invalid `on`, job ids,
 * expression syntax, contexts used where they are not available. Every error
 * is "file:line:column: message".
 *
 * Fields that may hold expressions stay YAML nodes (with their positions);
 * the planner and the engine evaluate them. All pointers are owned by the
 * workflow and valid until ex_workflow_free().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "gr.h"
#include "ex/yaml.h"

struct ex_step {
    const struct ex_node *node; /* the step mapping */
    int index;                  /* 0-based position in the job */
    const char *id;             /* `id:` or NULL */
    const struct ex_node *name, *if_, *uses, *run, *shell, *working_directory;
    const struct ex_node *env, *with, *continue_on_error, *timeout_minutes;
};

struct ex_job {
    const struct ex_node *node; /* the job mapping */
    const char *id;
    const struct ex_node *name, *if_, *runs_on, *env, *outputs, *environment, *permissions;
    const struct ex_node *defaults;     /* `defaults:` mapping (run.shell, run.working-directory) */
    const struct ex_node *strategy;     /* `strategy:` mapping */
    const struct ex_node *matrix;       /* strategy.matrix (mapping or expression string) */
    const struct ex_node *fail_fast;    /* strategy.fail-fast */
    const struct ex_node *max_parallel; /* strategy.max-parallel */
    const struct ex_node *timeout_minutes, *continue_on_error, *concurrency;
    const struct ex_node *uses, *with, *secrets; /* reusable workflow call */
    const struct ex_node *container, *services;
    const char **needs; /* job ids, in the order written */
    size_t n_needs;
    struct ex_step *steps;
    size_t n_steps;
};

/* One trigger under `on:` */
struct ex_trigger {
    const char *event;          /* "push", "pull_request", "workflow_dispatch", ... */
    const struct ex_node *node; /* its configuration (NULL for the bare forms) */
};

struct ex_workflow {
    struct ex_doc *doc;
    const char *path;
    const struct ex_node *root;
    const struct ex_node *name, *run_name, *on, *env, *defaults, *concurrency, *permissions;
    struct ex_trigger *triggers;
    size_t n_triggers;
    struct ex_job *jobs; /* in file order */
    size_t n_jobs;
};

/* All problems found, in document order. Zero-initialise; free with ex_diags_release(). */
struct ex_diags {
    struct gr_diag *items;
    size_t n, cap;
};
void ex_diags_release(struct ex_diags *d);

/*
 * Parse and validate. On error returns GR_EINVAL_WF (or GR_EPARSE for broken
 * YAML, -E2BIG for a YAML limit, -errno when the file cannot be read), sets
 * reterr to the first problem and, when diags is non-NULL, appends every
 * problem to it, sorted by line and column. Diagnostics' `file` is the
 * caller's `path` pointer, so they stay valid as long as `path` does.
 * *ret is written only on success.
 *
 * Host mode is NOT checked here: a workflow with container:/services: jobs
 * parses and validates (listing and planning real workflows must work); the
 * planner calls ex_workflow_check_host() when it is about to run jobs on the
 * host.
 */
int ex_workflow_parse(const char *path, const char *src, size_t len, struct ex_workflow **ret,
                      struct ex_diags *diags, struct gr_diag *reterr) GR_MUST_CHECK;
int ex_workflow_load(const char *path, struct ex_workflow **ret, struct ex_diags *diags,
                     struct gr_diag *reterr) GR_MUST_CHECK;
void ex_workflow_free(struct ex_workflow *wf);

/*
 * Host-mode check, separate from validation: every job with `container:` or
 * `services:` is an error "job 'X': container and services are not supported
 * in host mode" at that key. Same reporting as ex_workflow_parse (GR_EINVAL_WF;
 * diags and reterr as there; their file is wf->path, valid until
 * ex_workflow_free).
 */
int ex_workflow_check_host(const struct ex_workflow *wf, struct ex_diags *diags,
                           struct gr_diag *reterr) GR_MUST_CHECK;

/* Job by id, ignoring case as `needs` does (ids are unique ignoring case). NULL if absent. */
const struct ex_job *ex_workflow_job(const struct ex_workflow *wf, const char *id);
/* Trigger by event name (case-sensitive, as GitHub's event names). NULL if absent. */
const struct ex_trigger *ex_workflow_trigger(const struct ex_workflow *wf, const char *event);

/*
 * Evaluate every template in a subtree (mapping values, sequence items,
 * scalars) and return the resulting json_t (new reference). Keys are not
 * evaluated. Errors carry the node's file:line:column.
 */
struct ex_eval_env;
int ex_node_eval(const struct ex_node *n, const struct ex_eval_env *env, json_t **ret,
                 struct gr_diag *reterr) GR_MUST_CHECK;
