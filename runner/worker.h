/*
 * Internal to runner/: the job worker (as the official Runner.Worker beside
 * Runner.Listener). The listener starts `ghrun-engine worker --root ROOT
 * --work WORK` (engine.h), usually ahead of the job (an idle worker blocked
 * reading stdin, its libraries loaded and its job-independent set-up done),
 * writes the job message to its stdin and closes it; the worker
 * runs the job with the executor engine on its own loop and writes one JSON
 * event per line to its stdout:
 *
 *   {"e":"job_started","name":N}
 *   {"e":"step_started","i":I,"name":N,"t":TIME}
 *   {"e":"log","l":LINE,"t":TIME}
 *   {"e":"group","title":T,"open":B}
 *   {"e":"annotation","level":L,"message":M,"title":T,"file":F,"line":N,"end_line":N,
 *    "col":N,"end_col":N}
 *   {"e":"step_finished","i":I,"outcome":R,"conclusion":R,"t":TIME}
 *   {"e":"summary","text":S}
 *   {"e":"job_finished","result":R,"outputs":{...}}
 *   {"e":"error","message":M}           the job could not be run at all
 *
 * Every string is masked before it is written (secret variables, mask hints,
 * endpoint credentials, the github token). SIGINT cancels the job (the
 * engine's handling: always() steps still run).
 */
#pragma once

#include <stdbool.h>

#include "engine.h"
#include "ex/engine.h"
#include "ex/jobspec.h"

/* Everything the online job's ex_run_opts are made from. */
struct rn_worker_job {
    const json_t *msg;               /* the job message */
    const struct ex_jobspec *spec;   /* decoded */
    const char *work;                /* work folder (absolute) */
    const char *workspace;           /* GITHUB_WORKSPACE */
    const char *state_dir;           /* the engine's scratch root (RUNNER_TEMP lives there) */
    const struct sb_policy *sandbox; /* the runner's sandbox policy (<root>/.sandbox) */
    const char *no_native;           /* its "no_native" list (ex/native.h), or NULL */
    const char *persist;             /* its "persist" list (ex/persist.h), or NULL */
};

/*
 * The ONE place where an online job's engine options are built (work folders,
 * step environment from the message's endpoint, actions, sandbox policy).
 * *step_env receives the owned NULL-terminated list that o->step_env points
 * to; free it with rn_strv_free after the run.
 */
void rn_worker_run_opts(const struct rn_worker_job *wj, struct ex_run_opts *o, char ***step_env);
void rn_strv_free(char **v);
/* The workspace for a message: <work>/<repo>/<repo> (github.repository's name). Owned. */
char *rn_worker_workspace(const json_t *msg, const char *work);
/*
 * Run one job whose message comes on stdin; returns the process exit code. Every step runs in
 * the sandbox that <root>/.sandbox describes (strict by default); root NULL: no sandbox. An
 * empty stdin, SIGTERM or SIGINT before the message (the listener stopping an idle worker)
 * exits 0 quietly. prepare (an idle worker, `--prepare`): while waiting, make the sandbox of a
 * job of the runner's last job's repository (ex_sandbox_prepare), used when the job asks for
 * exactly that policy and torn down otherwise.
 */
int rn_worker_main(const char *work, const char *root, bool prepare);

/* argv[0] is RN_WORKER_CMD; returns the exit code (2 on bad arguments). */
int rn_worker_cmd(int argc, char **argv);
