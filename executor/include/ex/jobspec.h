/*
 * An online job: GitHub's job message (AgentJobRequestMessage, the shared
 * runner-protocol.md sections 8 to 10) turned into the same workflow model
 * and plan that `ghrun replay` runs, so the engine evaluates the message's
 * expressions at run time exactly as it does for a local workflow.
 *
 * TemplateTokens become YAML values (basic expressions become `${{ expr }}`
 * strings); PipelineContextData becomes plain JSON. The generated workflow
 * has one job with the message's steps in order, so the engine's step index
 * i is the message step i (ex_jobspec.step_ids[i]).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "gr.h"
#include "ex/plan.h"
#include "ex/workflow.h"

struct ex_jobspec {
    struct ex_workflow *wf;
    struct ex_plan *plan; /* one job, one leg */
    char *job_id;         /* system.github.job (the workflow's job id) */
    char *display_name;   /* jobDisplayName */
    char **step_ids;      /* message step record ids, n_steps of them */
    size_t n_steps;
    /*
     * Contexts the engine must take from the message rather than compute
     * (needs, strategy): pass as ex_run_opts.contexts.
     */
    json_t *contexts;
    /* Every value to mask: secret variables, mask hints, endpoint credentials. */
    char **masks;
    size_t n_masks;
    json_t *workflow; /* the generated workflow document (for diagnostics and tests) */
};

/*
 * Decode msg (the parsed job message) into a job whose workspace is
 * workspace (GITHUB_WORKSPACE). Errors name the message field
 * ("steps[2].inputs: ..."), never crash on any JSON shape.
 */
int ex_jobspec_build(const json_t *msg, const char *workspace, struct ex_jobspec **ret,
                     struct gr_diag *reterr) GR_MUST_CHECK;
void ex_jobspec_free(struct ex_jobspec *js);

/*
 * One TemplateToken as a YAML-model JSON value: strings, numbers,
 * booleans, null, arrays and objects; a basic expression (type 3) becomes
 * "${{ expr }}", and a literal string containing "${{" is quoted as an
 * expression so it stays literal. `where` names the field in errors.
 */
int ex_token_to_json(const json_t *tok, const char *where, json_t **ret,
                     struct gr_diag *reterr) GR_MUST_CHECK;
/* PipelineContextData as JSON (dictionaries become objects). */
int ex_ctxdata_to_json(const json_t *d, const char *where, json_t **ret,
                       struct gr_diag *reterr) GR_MUST_CHECK;
