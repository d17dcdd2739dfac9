/*
 * The engine: runs a plan's jobs and steps on a libuv loop (needs order,
 * parallel legs, fail-fast, timeouts, cancellation), feeding a reporter.
 * Owned by the engine work; this is the contract the CLI calls.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include <jansson.h>

#include "gr.h"
#include "ex/plan.h"

struct ex_limit_rule;
struct ex_gpu_slots;

struct sb_policy;
struct sb_job;
struct ex_artifact_remote;
struct ex_action_source;

enum ex_result {
    EX_RESULT_SUCCESS,
    EX_RESULT_FAILURE,
    EX_RESULT_CANCELLED,
    EX_RESULT_SKIPPED,
};
const char *ex_result_name(enum ex_result r); /* "success", "failure", ... */

struct ex_annotation {
    const char *level; /* "error", "warning", "notice" */
    const char *message, *title, *file;
    int line, end_line, col, end_col;
};

/*
 * Progress of a run. Every callback is optional and runs on the loop thread;
 * string arguments are borrowed for the duration of the call. `job` is an
 * opaque handle stable from job_started to job_finished; after job_finished
 * the same pointer may name another job.
 */
struct ex_reporter {
    void *ctx;
    void (*job_started)(void *ctx, const void *job, const char *display_name);
    void (*step_started)(void *ctx, const void *job, int step, const char *name);
    void (*log_line)(void *ctx, const void *job, const char *line, size_t len); /* masked */
    void (*group)(void *ctx, const void *job, const char *title, bool open);
    void (*annotation)(void *ctx, const void *job, const struct ex_annotation *a);
    void (*step_finished)(void *ctx, const void *job, int step, enum ex_result outcome,
                          enum ex_result conclusion, uint64_t duration_ns);
    void (*job_finished)(void *ctx, const void *job, enum ex_result result, json_t *outputs,
                         uint64_t duration_ns);
    void (*summary)(void *ctx, const void *job, const char *markdown, size_t len);
};

struct ex_run_opts {
    int max_jobs;          /* parallel jobs; <= 0: number of cores */
    bool verbose;          /* show group contents and ::debug:: */
    const char *workdir;   /* where the repository lives (GITHUB_WORKSPACE) */
    const char *state_dir; /* scratch root for RUNNER_TEMP etc.; NULL: <workdir>/.ghrun */
    const char *json_path; /* --json FILE, or NULL */
    /*
     * Sandbox policy for every job, or NULL for plain processes. The engine
     * adds the workspace and state_dir to its rw_paths (steps write there).
     */
    const struct sb_policy *sandbox;
    /*
     * A job sandbox made ahead by ex_sandbox_prepare() from options equal to these, or NULL:
     * the first job whose policy (the one it would get from sb_job_new) is exactly the
     * prepared one's takes it instead of making its own; a job asking for anything else frees
     * it first. Either way *sandbox_ready becomes NULL; the caller frees what is left after
     * the run (sb_job_free).
     */
    struct sb_job **sandbox_ready;
    /* actions (ex/action.h): */
    const char *node;        /* node binary for JavaScript actions; NULL: `node` on PATH */
    const char *action_dir;  /* local actions laid out as owner/repo/ref/, or NULL */
    const char *actions_url; /* clone base for owner/repo; NULL: https://github.com */
    /*
     * NULL-terminated "KEY=VALUE" list added to every step's environment (the job services:
     * ACTIONS_RUNTIME_URL, ACTIONS_RUNTIME_TOKEN, ACTIONS_CACHE_URL, ACTIONS_RESULTS_URL, ...),
     * or NULL. A key the env context sets explicitly (workflow, job or step env:, --env)
     * keeps that value.
     */
    const char *const *step_env;
    /* Run every `uses:` through its real action, never a native implementation (--no-native). */
    bool no_native;
    /*
     * The actions that run through their real action although they have a native version: a
     * comma-separated no-native list (ex/native.h: "actions/checkout,actions/cache", "all"),
     * checked with ex_native_list_check(); NULL or "": none.
     */
    const char *no_native_list;
    /*
     * The dependency cache store of the native actions/cache (ex/cache.h); NULL: the
     * default of `ghrun cache` and the embedded cache service, $GHRUN_CACHE_DIR, else
     * $HOME/.cache/ghrun/cache.
     */
    const char *cache_dir;
    /*
     * The run's artifact store (ex/artifact.h), where the native upload-artifact and
     * download-artifact write and read; NULL: <state_dir>/artifacts/<github.run_id>.
     */
    const char *artifact_dir;
    /*
     * The artifact service the native upload-artifact and download-artifact use instead of the
     * local store (ex/artifact_remote.h; jobs from GitHub: GitHub's results service), or NULL.
     * Borrowed for the run.
     */
    const struct ex_artifact_remote *artifact_remote;
    /*
     * Contexts given from outside that replace the computed ones in every leg (an
     * online job's `needs` and `strategy` come from GitHub's job message), or NULL.
     */
    const json_t *contexts;
    /*
     * NULL-terminated context names of `run:` steps that run outside the sandbox, as plain
     * processes of the runner's user (the operator's job hooks, trusted like the runner), or
     * NULL.
     */
    const char *const *host_steps;
    /*
     * The workspace starts empty (a job from GitHub): `actions/checkout` of github.repository
     * clones it from actions_url, else github.server_url, at github.sha, with github.token as
     * the default token, instead of taking the workspace as the repository (replay).
     */
    bool checkout_clones;
    /* Do not log the sandbox's summary at the start of each job (replay says it once). */
    bool quiet_sandbox;
    /*
     * Latency marks, or NULL: called on the loop's thread with a fixed label as each job's
     * set-up passes a point (sandbox ready, workspace ready, set-up done, first step started).
     */
    void (*trace)(const char *what);
    /*
     * Remote actions (ex/action.h): the download-info source of a job from GitHub, or NULL;
     * and the order of the sources, comma-separated names "dir" (action_dir), "download"
     * (action_source) and "clone" (actions_url); NULL: "dir,download,clone". A source that
     * is not configured is left out.
     */
    const struct ex_action_source *action_source;
    const char *action_sources;
    /*
     * Dependency directories of the job's HOME that persist per repository through the cache
     * store (ex/persist.h): a comma-separated list ("~/.cache/pip,~/.npm"); NULL: the
     * environment variable GHRUN_PERSIST; "": none.
     */
    const char *persist;
    /*
     * A job's own limits (ex/limits.h), only ever below the sandbox policy's: the runner's
     * rules (a job matching one gets its limits), or NULL; and the GPU slots jobs lease
     * exclusively, or NULL when the runner has none. Both apply to sandboxed jobs only.
     */
    const struct ex_limit_rule *limit_rules;
    size_t n_limit_rules;
    const struct ex_gpu_slots *gpus;
};

/*
 * Run the plan to completion on loop (uv_run is called inside). Returns 0 and
 * *ret_ok = all jobs succeeded (skipped jobs and failed jobs with
 * continue-on-error count as succeeded); < 0 on an internal error.
 *
 * Steps run on the host as GitHub's runner runs them (workflow-semantics.md
 * sections 3 to 8): `run:` steps with the runner's shell templates,
 * `actions/checkout` of the replayed repository as a no-op with its outputs;
 * any other `uses:` runs as an action (ex/action.h: composite and JavaScript
 * actions; docker ones fail their step with a one-line error). Each step process
 * gets its own session (kill(-pgid) on timeout and cancellation); leftovers
 * die at the end of the job. Step environment: the runner's own environment,
 * the env context, GITHUB_* and RUNNER_* (RUNNER_TEMP under state_dir, emptied
 * per job), GITHUB_ACTIONS=true, CI=true unless set, GHRUN=true. ACT is not
 * set (GitHub does not set it); act-compatible workflows can get it with
 * `--env ACT=true`.
 *
 * SIGINT/SIGTERM during the run cancel it: running steps are killed, steps
 * with always()/cancelled() still run, jobs not started are cancelled; a
 * second signal kills what is left. The signal handlers are installed only
 * while ex_run_plan runs.
 *
 * opts->json_path: {"ok", "jobs": [{"id", "name", "matrix", "result",
 * "continue_on_error", "duration_ms", "outputs", "annotations", "steps":
 * [{"index", "id", "context_name", "name", "outcome", "conclusion",
 * "duration_ms", "outputs", "annotations"}]}]}, one entry per leg. Jobs of a
 * called workflow (jobs.<id>.uses) have the id "caller/job" and the name
 * "caller / Job" ("caller (a, b) / Job" for a matrix leg of the caller); each
 * leg of the calling job gets one more entry, with "uses", its result (the
 * worst of its called jobs) and its outputs, after its called jobs.
 */
int ex_run_plan(uv_loop_t *loop, const struct ex_plan *plan, const struct ex_run_opts *opts,
                const struct ex_reporter *rep, bool *ret_ok) GR_MUST_CHECK;

/*
 * Make ahead the job sandbox that a job run with these options would make when it starts
 * (sb_job_new with opts->sandbox plus the workspace and state dir, as the engine adds them),
 * for opts->sandbox_ready of a later ex_run_plan. workdir and state_dir must exist. 0 or
 * -errno (sb_last_error() says why); -EINVAL without opts->sandbox.
 */
int ex_sandbox_prepare(const struct ex_run_opts *opts, struct sb_job **ret) GR_MUST_CHECK;

/* The terminal reporter (act-style `[job] ` lines; colour on a TTY). */
struct ex_term_reporter;
struct ex_term_reporter *ex_term_reporter_new(FILE *out, bool color, bool verbose);
const struct ex_reporter *ex_term_reporter_get(struct ex_term_reporter *t);
/* Print collected step summaries and the final table of jobs. */
void ex_term_reporter_finish(struct ex_term_reporter *t);
void ex_term_reporter_free(struct ex_term_reporter *t);
