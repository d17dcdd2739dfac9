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
    const char *event_name;  /* NULL: push if the workflow has it, else its first trigger */
    json_t *event_payload;   /* from -e FILE, or NULL for a generated default */
    json_t *inputs;          /* --input k=v as an object of strings, or NULL */
    json_t *secrets;         /* object, or NULL */
    json_t *vars;            /* object, or NULL */
    json_t *env;             /* --env: extra environment for every step, or NULL */
    json_t *matrix_filter;   /* --matrix k:v: object of key -> array of accepted strings, or NULL */
    const char *job_id;      /* -j: only this job (and nothing else), or NULL */
    const char *repo_dir;    /* the repository being replayed (workspace) */
    bool ignore_filters;     /* run even if branch/path filters say no */
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
    int max_parallel;     /* 0 = unlimited */
};

struct ex_plan {
    const struct ex_workflow *wf; /* borrowed */
    char *event_name;
    json_t *github;  /* the github context (event payload in github.event) */
    json_t *inputs;  /* typed inputs context (workflow_dispatch / workflow_call) or NULL */
    json_t *secrets, *vars, *env;
    struct ex_plan_job *jobs; /* in stage order, then file order */
    size_t n_jobs;
    int n_stages;
    bool triggered;  /* false when the event (or a filter) does not trigger the workflow */
};

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
