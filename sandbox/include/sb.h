/*
 * sb: the sandbox every step runs in (docs/sandbox.md). Uses only libc,
 * linux headers and libseccomp: no uv, no gr_, no threads.
 *
 * The executor never forks: it asks sb_wrap_command() for the command line
 * that starts a step inside the sandbox and uv_spawn()s that. Job-level
 * resources (cgroup, private dirs) live in an sb_job.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* What a step may do. Zero means "no limit" / "default". */
struct sb_policy {
    uint64_t memory_max;   /* bytes */
    uint64_t cpu_quota_us; /* per 100ms period */
    uint64_t pids_max;
    bool network_none;
    bool strict; /* refuse to run when an isolation feature is missing */
};

struct sb_job; /* per-job sandbox state; opaque */

/*
 * Prepare a job: create its cgroup (when available) and decide the mode.
 * name is used in paths (job id); policy is copied. Returns 0 or -errno.
 */
int sb_job_new(const char *name, const struct sb_policy *policy, struct sb_job **ret);
/* Kill everything still running in the job and remove its cgroup. NULL-safe. */
void sb_job_free(struct sb_job *job);

/*
 * Build the argv that starts argv inside the job's sandbox (for now, the
 * plain command). *ret_argv is a NULL-terminated malloc'd array whose strings
 * are malloc'd; free it with sb_argv_free().
 */
int sb_wrap_command(const struct sb_job *job, char *const argv[], char ***ret_argv);
void sb_argv_free(char **argv);

/* Called after a step's main process exited: kill what it left behind. Returns 0 or -errno. */
int sb_step_reap(struct sb_job *job);
/* Kill every process of the job now (timeout, cancellation), with sig. */
int sb_job_kill(struct sb_job *job, int sig);
