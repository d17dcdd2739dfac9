/*
 * The limit on how many reusable workflows one run may call.
 *
 * GitHub documents (docs.github.com, "Reusing workflow configurations" ->
 * "Limitations of reusable workflows", github.com and GHEC since 2025): a
 * workflow may call at most 50 unique reusable workflows, counting every
 * tree of nested calls below the top-level caller (so top -> a.yml -> b.yml
 * counts 2), and at most ten levels of workflows (the caller and nine
 * nested calls; EX_REUSE_MAX_DEPTH, checked in plan.c).
 *
 * A reusable workflow is the same one when its `uses:` names the same file:
 * `./path` is the file under the calling workflow's repository, and
 * `owner/repo/path@ref` is compared with owner and repo in lower case (as
 * GitHub resolves them) and the path and ref as written.
 */
#include "ex/plan.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ex/action.h"

/* The identity of the reusable workflow that `uses` of a job of plan names. Owned. */
static char *call_key(const struct ex_plan *plan, const char *uses)
{
    struct ex_action_ref ref = {0};
    struct gr_diag d = {0};
    char *key, *real;
    size_t n;

    if (gr_startswith(uses, "./")) {
        key = ex_plan_callee_path(plan, uses);
        real = realpath(key, NULL);
        if (real) {
            free(key);
            key = real;
        }
        return key;
    }
    if (ex_action_ref_parse(uses, &ref, &d) < 0 || ref.kind != EX_USES_REMOTE) {
        ex_action_ref_release(&ref);
        return gr_xstrdup(uses);
    }
    key = gr_xasprintf("%s/%s/%s@%s", ref.owner, ref.repo, ref.path, ref.ref);
    n = strlen(ref.owner) + 1 + strlen(ref.repo);
    for (size_t i = 0; i < n; i++)
        key[i] = (char)tolower((unsigned char)key[i]);
    ex_action_ref_release(&ref);
    return key;
}

/*
 * Add plan's calls to seen, depth first. The first call beyond the limit is
 * an error at its `uses:`, or at top's (a call of the top-level workflow)
 * with the inner position in the message.
 */
static int count(const struct ex_plan *plan, json_t *seen, const struct ex_node *top,
                 struct gr_diag *reterr)
{
    for (size_t i = 0; i < plan->n_jobs; i++) {
        const struct ex_plan_job *pj = &plan->jobs[i];
        const struct ex_node *at = pj->job->uses;
        const char *uses = ex_node_str(at);
        char *key, where[sizeof(reterr->msg)];
        int r;

        if (!uses)
            continue;
        key = call_key(plan, uses);
        json_object_set_new(seen, key, json_true());
        free(key);
        if (json_object_size(seen) > EX_REUSE_MAX_CALLS) {
            (void)gr_diag_set(
                reterr, GR_EINVAL_WF, at->file, at->line, at->col,
                "too many reusable workflows: '%s' is number %zu, but a workflow may "
                "call at most %d unique reusable workflows, counting the ones they call",
                uses, json_object_size(seen), EX_REUSE_MAX_CALLS);
            if (!top || top->file == at->file)
                return GR_EINVAL_WF;
            gr_diag_format(reterr, where, sizeof(where));
            return gr_diag_set(reterr, GR_EINVAL_WF, top->file, top->line, top->col,
                               "in the called workflow: %s", where);
        }
        if (pj->called) {
            r = count(pj->called, seen, top ? top : at, reterr);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

int ex_plan_calls_count(const struct ex_plan *plan, json_t *seen, struct gr_diag *reterr)
{
    json_t *own = seen ? NULL : json_object();
    int r = count(plan, seen ? seen : own, NULL, reterr);

    json_decref(own);
    return r;
}
