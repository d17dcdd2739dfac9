/*
 * Running a replay plan: one libuv loop, the terminal reporter on stdout and
 * the engine. The exit code says whether every job succeeded.
 */
#include "internal.h"
#include "sandbox_config.h"
#include "sb.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int loop_close(uv_loop_t *loop)
{
    int r = uv_loop_close(loop);

    if (r == UV_EBUSY) {
        uv_walk(loop, walk_close, NULL);
        (void)uv_run(loop, UV_RUN_DEFAULT);
        r = uv_loop_close(loop);
    }
    return r;
}

/* Says once, before the first job, what the sandbox cannot enforce on this host. */
static int sandbox_report(const struct sb_policy *p)
{
    static bool said;
    struct sb_job *probe = NULL;

    if (said)
        return 0;
    said = true;
    if (sb_job_new("probe", p, &probe) < 0) {
        fprintf(stderr, "ghrun replay: %s\n", sb_last_error());
        return -1;
    }
    for (const char *const *d = sb_job_degraded(probe); *d; d++)
        fprintf(stderr, "ghrun replay: sandbox protection off: %s\n", *d);
    sb_job_free(probe);
    return 0;
}

/*
 * Limits, masks and network for a sandboxed replay come from the runner's
 * sandbox settings file named by GHRUN_SANDBOX_CONFIG (sandbox_config.h);
 * steps still run as the invoking user and --sandbox sets the strictness.
 */
static int sandbox_settings(struct rn_sandbox_config *sc, struct sb_policy *policy)
{
    const char *path = getenv("GHRUN_SANDBOX_CONFIG");
    struct gr_diag d = {0};
    bool strict = policy->strict;
    char msg[700];

    if (!path || !*path)
        return 0;
    if (rn_sandbox_config_load_file(path, NULL, sc, &d) < 0) {
        gr_diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "ghrun replay: %s\n", msg);
        return -1;
    }
    rn_config_sandbox_policy(sc, policy);
    policy->strict = strict;
    policy->slot_uid = policy->slot_gid = 0;
    return 0;
}

int rn_replay_run(struct ex_plan *plan, const struct rn_replay_opts *o)
{
    struct ex_run_opts ro = {
        .max_jobs = o->jobs,
        .verbose = o->verbose,
        .workdir = o->directory ? o->directory : ".",
        .json_path = o->json_path,
        .node = o->node,
        .action_dir = o->action_dir,
        .actions_url = o->actions_url,
        .no_native = o->no_native,
    };
    /* Replay (sandboxed by default, best-effort) keeps the invoking user (no slot uid) and
     * adds only the workspace and state directory as writable paths (the engine does that);
     * the rest of / is read-only, /tmp and $HOME are private to each job. */
    struct sb_policy policy = {.strict = o->sandbox && !strcmp(o->sandbox, "strict")};
    struct rn_sandbox_config sc = {0};
    struct ex_term_reporter *term = NULL;
    uv_loop_t loop;
    bool ok = false;
    int r;

    if (o->sandbox)
        ro.sandbox = &policy;
    if (o->sandbox && (sandbox_settings(&sc, &policy) < 0 || sandbox_report(&policy) < 0)) {
        rn_sandbox_config_release(&sc);
        return 2;
    }
    r = uv_loop_init(&loop);
    if (r < 0) {
        fprintf(stderr, "ghrun replay: cannot create the event loop: %s\n", uv_strerror(r));
        rn_sandbox_config_release(&sc);
        return 2;
    }
    term = ex_term_reporter_new(stdout, isatty(STDOUT_FILENO) == 1, o->verbose);
    r = ex_run_plan(&loop, plan, &ro, ex_term_reporter_get(term), &ok);
    ex_term_reporter_finish(term);
    ex_term_reporter_free(term);
    fflush(stdout);
    rn_sandbox_config_release(&sc);
    if (loop_close(&loop) < 0)
        fprintf(stderr, "ghrun replay: event loop still busy at exit, ignoring\n");
    if (r < 0) {
        fprintf(stderr, "ghrun replay: %s: %s\n", plan->wf && plan->wf->path ? plan->wf->path : "",
                gr_strerror(r));
        return 2;
    }
    return ok ? 0 : 1;
}
