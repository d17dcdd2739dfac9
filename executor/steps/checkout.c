/*
 * `uses: actions/checkout@*` in replay: the workspace already holds the
 * repository being replayed, so the step only checks that it was asked for
 * that repository and sets the outputs actions/checkout declares (`ref`,
 * `commit`). A different `repository:` fails with a clear error, since this
 * build does not fetch.
 */
#include "engine_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int eval_with(struct ex__stepexec *se, json_t **ret, struct gr_diag *d)
{
    struct ex_eval_env ev;

    if (!se->step->with) {
        *ret = json_object();
        return 0;
    }
    ex__leg_eval_env(se->leg, &ev);
    return ex_node_eval(se->step->with, &ev, ret, d);
}

int ex__checkout_run(struct ex__stepexec *se, const char *uses)
{
    const json_t *gh = json_object_get(se->leg->ctx, "github");
    const char *own = json_string_value(json_object_get(gh, "repository"));
    const char *sha = json_string_value(json_object_get(gh, "sha"));
    const char *ref = json_string_value(json_object_get(gh, "ref"));
    struct gr_diag d = {0};
    json_t *with = NULL;
    const char *repo, *wref;
    char *msg;

    if (eval_with(se, &with, &d) < 0) {
        ex__leg_annotate(se->leg, se, "error", d.msg, NULL);
        ex__step_finished(se, EX_RESULT_FAILURE);
        return 1;
    }
    repo = json_string_value(json_object_get(with, "repository"));
    wref = json_string_value(json_object_get(with, "ref"));
    if (repo && *repo && own && strcasecmp(repo, own) != 0) {
        msg = gr_xasprintf("step '%s': %s cannot check out '%s': only the replayed "
                           "repository ('%s') is available in this build",
                           se->name, uses, repo, own);
        ex__leg_annotate(se->leg, se, "error", msg, NULL);
        free(msg);
        json_decref(with);
        ex__step_finished(se, EX_RESULT_FAILURE);
        return 1;
    }
    ex__leg_log(se->leg, "%s: using the workspace '%s' as is", uses, se->leg->run->workdir);
    json_object_set_new(se->outputs, "ref", json_string(wref && *wref ? wref : ref ? ref : ""));
    json_object_set_new(se->outputs, "commit", json_string(sha ? sha : ""));
    json_decref(with);
    ex__step_finished(se, EX_RESULT_SUCCESS);
    return 1;
}
