/*
 * GITHUB_TOKEN permissions across reusable workflow calls.
 *
 * GitHub (docs.github.com "Reusing workflow configurations": "The
 * GITHUB_TOKEN permissions passed from the caller workflow can be only
 * downgraded (not elevated) by the called workflow"; "Access and
 * permissions for nested workflows": in A > B > C, if A grants
 * `packages: read`, B and C cannot have `packages: write`) refuses the run
 * when a called workflow asks for more than its caller grants, with "Error
 * calling workflow '<uses>'. The nested job '<id>' is requesting
 * 'contents: write', but is only allowed 'contents: read'." (or "The
 * workflow is requesting ..." for the callee's top-level `permissions`).
 *
 * What a call grants: the calling job's `permissions`, else its workflow's
 * top-level `permissions`, else what that workflow was granted by its own
 * caller. The workflow being replayed has no caller and the repository's
 * default token permissions are a setting ghrun cannot see, so without any
 * `permissions` on the way down nothing is checked.
 *
 * Scopes and levels follow actions/languageservices workflow-v1.0.json
 * (permissions-mapping); `read-all` gives read where a scope has it,
 * `write-all` each scope's highest level, `{}` none at all, and a scope a
 * mapping leaves out is none.
 */
#include "ex/plan.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int max; /* 2: read or write; 1: read only; -2: write only (id-token) */
} scopes[] = {
    {"actions", 2},
    {"artifact-metadata", 2},
    {"attestations", 2},
    {"checks", 2},
    {"contents", 2},
    {"deployments", 2},
    {"discussions", 2},
    {"id-token", -2},
    {"issues", 2},
    {"models", 1},
    {"packages", 2},
    {"pages", 2},
    {"pull-requests", 2},
    {"repository-projects", 2},
    {"security-events", 2},
    {"statuses", 2},
    {"vulnerability-alerts", 1},
};

static const char *const level_names[] = {"none", "read", "write"};

static int level_of(const char *s)
{
    if (s && strcmp(s, "write") == 0)
        return 2;
    return s && strcmp(s, "read") == 0 ? 1 : 0;
}

/* A `permissions:` value as {scope: level} over every scope. New reference. */
static json_t *perms_of(const struct ex_node *n)
{
    const char *all = n->kind == EX_NODE_SCALAR ? n->str : NULL;
    json_t *out = json_object();

    for (size_t i = 0; i < GR_ARRAY_SIZE(scopes); i++) {
        int max = scopes[i].max, lv = 0;

        if (all && strcmp(all, "write-all") == 0)
            lv = max < 0 ? -max : max;
        else if (all && strcmp(all, "read-all") == 0)
            lv = max > 0 ? 1 : 0;
        else if (n->kind == EX_NODE_MAP)
            lv = level_of(ex_node_str(ex_node_get(n, scopes[i].name)));
        json_object_set_new(out, scopes[i].name, json_integer(lv));
    }
    return out;
}

/* The first scope where asked exceeds granted: 0 and its name and levels, or 1 when none. */
static int perms_exceed(const json_t *asked, const json_t *granted, const char **ret_scope,
                        int *ret_asked, int *ret_granted)
{
    for (size_t i = 0; i < GR_ARRAY_SIZE(scopes); i++) {
        int a = (int)json_integer_value(json_object_get(asked, scopes[i].name));
        int g = (int)json_integer_value(json_object_get(granted, scopes[i].name));

        if (a > g) {
            *ret_scope = scopes[i].name;
            *ret_asked = a;
            *ret_granted = g;
            return 0;
        }
    }
    return 1;
}

/* what: "The workflow" or "The nested job 'id'". */
static int check_one(const struct ex_node *perm, const json_t *granted, const char *uses,
                     const char *what, const struct ex_node *at, struct gr_diag *reterr)
{
    json_t *asked = perms_of(perm);
    const char *scope = NULL;
    int a = 0, g = 0, r = 0;

    if (perms_exceed(asked, granted, &scope, &a, &g) == 0)
        r = gr_diag_set(reterr, GR_EINVAL_WF, at->file, at->line, at->col,
                        "Error calling workflow '%s'. %s is requesting '%s: %s', but is only "
                        "allowed '%s: %s'.",
                        uses, what, scope, level_names[a], scope, level_names[g]);
    json_decref(asked);
    return r;
}

int ex_plan_perms_check(const struct ex_plan *parent, const struct ex_plan_job *pj,
                        struct ex_plan *sub, struct gr_diag *reterr)
{
    const struct ex_node *grant = pj->job->permissions;
    const char *uses = ex_node_str(pj->job->uses);
    json_t *granted;
    int r = 0;

    if (!grant && parent->wf)
        grant = parent->wf->permissions;
    if (grant)
        granted = perms_of(grant);
    else if (parent->perm_max)
        granted = json_incref(parent->perm_max);
    else
        return 0;
    if (sub->wf->permissions)
        r = check_one(sub->wf->permissions, granted, uses, "The workflow", pj->job->uses, reterr);
    for (size_t i = 0; r == 0 && i < sub->wf->n_jobs; i++) {
        const struct ex_job *j = &sub->wf->jobs[i];
        char *what;

        if (!j->permissions)
            continue;
        what = gr_xasprintf("The nested job '%s'", j->id);
        r = check_one(j->permissions, granted, uses, what, pj->job->uses, reterr);
        free(what);
    }
    json_decref(sub->perm_max);
    sub->perm_max = granted;
    return r;
}
