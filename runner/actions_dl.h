/*
 * Internal to runner/: remote actions of a job from GitHub through GitHub's
 * action download info API and tarballs (runner-protocol.md section 14), as
 * the executor's download-info source (struct ex_action_source,
 * ex/action.h). One per job; the worker process runs one job.
 */
#pragma once

#include <jansson.h>

#include "ex/action.h"

struct rn_actions_dl;

/*
 * The source for the job message msg (what it needs is copied): a run-service
 * job (messageType "RunnerJobRequest") asks the launch service at the
 * variable system.github.launch_endpoint, any other job the classic
 * actiondownloadinfo resource of its SystemVssConnection. NULL when the
 * message lacks what either needs (plan, job id, endpoint, token).
 */
struct rn_actions_dl *rn_actions_dl_new(const json_t *msg);
const struct ex_action_source *rn_actions_dl_source(struct rn_actions_dl *a);
/* Accepts NULL. No resolve or download may be running. */
void rn_actions_dl_free(struct rn_actions_dl *a);
/*
 * The remote-action options of an online job (called by rn_worker_run_opts): the source for
 * msg, kept until the next call; the operator's environment: GHRUN_ACTION_DIR (action_dir),
 * GHRUN_ACTIONS_URL (actions_url), GHRUN_ACTION_SOURCES (the order; default "dir,download",
 * plus ",clone" when GHRUN_ACTIONS_URL is set, or "dir,clone" when msg has no download info
 * endpoint).
 */
struct ex_run_opts;
void rn_actions_dl_opts(const json_t *msg, struct ex_run_opts *o);
