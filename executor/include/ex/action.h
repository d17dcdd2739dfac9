/*
 * Action metadata (action.yml / action.yaml) over the workflow YAML model,
 * as actions/runner reads it (src/Runner.Worker/ActionManifestManager.cs and
 * action_yaml.json): name, inputs (required, default, deprecationMessage),
 * outputs (composite: value expressions) and runs (using: composite,
 * node12/16/20/24 or docker). Every error is "file:line:col: message".
 *
 * Fields that may hold expressions stay YAML nodes; the engine evaluates
 * them. Everything is owned by the struct ex_action and valid until
 * ex_action_free(). Parsing keeps no global state (any thread).
 *
 * Where an action comes from (a path in the workspace, a local actions
 * directory laid out as owner/repo/ref/, or a git clone) is the resolver's
 * business (executor/resolver.c); see ex_action_ref below.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "gr.h"
#include "ex/workflow.h"
#include "ex/yaml.h"

#define EX_ACTION_MAX_DEPTH 9 /* nested composite actions, as the runner's limit */

enum ex_action_kind {
    EX_ACTION_COMPOSITE,
    EX_ACTION_NODE,
    EX_ACTION_DOCKER,
};

struct ex_action_input {
    const char *name;
    const struct ex_node *default_;    /* NULL: none (the input is then "") */
    const struct ex_node *required;    /* NULL: false */
    const struct ex_node *deprecation; /* deprecationMessage, or NULL */
};

struct ex_action_output {
    const char *name;
    const struct ex_node *value; /* composite: the expression; else NULL */
};

struct ex_action {
    struct ex_doc *doc;
    char *path; /* the action file */
    char *dir;  /* its directory (GITHUB_ACTION_PATH) */
    const struct ex_node *name;
    enum ex_action_kind kind;
    const char *using; /* as written */
    int node_major;    /* 12, 16, 20 or 24 for EX_ACTION_NODE */
    /* node: scripts relative to dir (main required); conditions default to always() */
    const char *main, *pre, *post;
    const struct ex_node *pre_if, *post_if;
    const char *image; /* docker */
    struct ex_action_input *inputs;
    size_t n_inputs;
    struct ex_action_output *outputs;
    size_t n_outputs;
    struct ex_step *steps; /* composite */
    size_t n_steps;
};

/*
 * Parse an action file (src, len bytes, read from path). On error returns
 * GR_EPARSE (YAML), -E2BIG (YAML limits) or GR_EINVAL_WF (metadata);
 * reterr is self-contained: "path:line:col: message" is its message and
 * its file is NULL.
 */
int ex_action_parse(const char *path, const char *src, size_t len, struct ex_action **ret,
                    struct gr_diag *reterr) GR_MUST_CHECK;
/*
 * Load dir/action.yml, else dir/action.yaml. A missing file is -ENOENT
 * ("no action.yml or action.yaml in 'dir'"). reterr is self-contained
 * (position folded into its message), so it outlives the call.
 */
int ex_action_load(const char *dir, struct ex_action **ret, struct gr_diag *reterr) GR_MUST_CHECK;
void ex_action_free(struct ex_action *a);

/* "INPUT_" + name upper-cased with spaces as '_' (runner: Handler.AddInputsToEnvironment). */
char *ex_action_input_env(const char *name);

/* A parsed `uses:` of a step. */
enum ex_uses_kind {
    EX_USES_LOCAL,  /* ./path or ../path, relative to the workspace */
    EX_USES_REMOTE, /* owner/repo[/path]@ref */
    EX_USES_DOCKER, /* docker://image */
};

struct ex_action_ref {
    enum ex_uses_kind kind;
    char *owner, *repo, *path, *ref; /* remote (path "" for the root) */
    char *local;                     /* local: the path as written */
};

/*
 * Parse a `uses:` value. Remote form errors follow the runner: "Expected
 * format {owner}/{repo}[/path]@{ref}. Actual 'x'". Fields owned by ret;
 * release with ex_action_ref_release().
 */
int ex_action_ref_parse(const char *uses, struct ex_action_ref *ret,
                        struct gr_diag *reterr) GR_MUST_CHECK;
void ex_action_ref_release(struct ex_action_ref *r);

/*
 * The download-info source of remote actions, for jobs from GitHub: the runner
 * resolves owner/repo@ref with GitHub's action download info API and fetches the
 * commit's tarball (runner/actions_dl.c), as actions/runner does
 * (src/Runner.Worker/ActionManager.cs); the resolver extracts it into its cache
 * (<state dir>/_actions/owner/repo/<sha>/). The executor never sees a URL or a token.
 */
struct ex_action_dl {
    char *name_with_owner; /* "owner/repo" */
    char *ref;
    char *path;         /* "" for the repository root */
    char *resolved_sha; /* set by resolve (malloc'd): the commit */
    char *error;        /* set by resolve (malloc'd) when this action cannot be resolved */
};
void ex_action_dl_release(struct ex_action_dl *a);

struct ex_action_source {
    void *ctx;
    /*
     * Resolve acts[0..n) in one request (an entry this job resolved before is
     * answered from memory): set each entry's resolved_sha or its error. Returns
     * 0, or < 0 with reterr when the service failed for all of them. Runs on a
     * libuv thread-pool thread, maybe on several at once; it may block.
     */
    int (*resolve)(void *ctx, struct ex_action_dl *acts, size_t n, struct gr_diag *reterr);
    /*
     * Fetch the tarball of an entry resolve answered into *ret (a gr_buf with its
     * max set by the caller). Returns 0, or < 0 with reterr. Same threads as resolve.
     */
    int (*download)(void *ctx, const struct ex_action_dl *act, struct gr_buf *ret,
                    struct gr_diag *reterr);
};
