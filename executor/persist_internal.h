/*
 * The job's side of ex/persist.h (persist_job.c) and the HOME the steps see. Loop thread only.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

struct ex__leg;
struct ex__persist;

typedef void (*ex__leg_fn)(struct ex__leg *leg);

/*
 * The start of a job, after its sandbox and before its first step: restore the persisted
 * directories (ex_run_opts.persist, else $GHRUN_PERSIST) into the job's HOME on the thread
 * pool, log one line per directory, then call next(leg). Without directories next runs
 * before this returns. Nothing here fails the job: problems are warnings.
 */
void ex__persist_start(struct ex__leg *leg, ex__leg_fn next);
/*
 * The end of a job, after its post steps: save the directories that changed since the start
 * (not for a cancelled or timed-out job), then call end(leg), once. A call while the save
 * runs does nothing (end comes when it is done).
 */
void ex__persist_end(struct ex__leg *leg, ex__leg_fn end);
/* NULL-safe; with the leg. */
void ex__persist_free(struct ex__persist *p);

/*
 * The HOME a step with the environment env (the env context; NULL: the job's) sees, as the
 * runner finds it: the job's private home (sb_job_home) unless env sets a HOME other than
 * the runner's (the sandbox keeps that one), else env's HOME, else the runner's. NULL when
 * there is none. Borrowed: valid while the leg and env live.
 */
const char *ex__leg_home(const struct ex__leg *leg, const json_t *env);
/*
 * When home is the job's private home and steps run as a slot: true and the slot's ids, to
 * which what the runner writes there for the steps must go (gr_chown_tree from
 * geteuid(), on any thread). Else false.
 */
bool ex__leg_home_owner(const struct ex__leg *leg, const char *home, uid_t *ret_uid,
                        gid_t *ret_gid);
