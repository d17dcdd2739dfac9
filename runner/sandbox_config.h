/*
 * The runner's sandbox settings (docs/sandbox.md sections 5, 7, 8, 9, 10):
 * <root>/.sandbox, a JSON object whose keys are all optional:
 *
 *   {"memory": "4G", "swap": 0, "cpus": 2, "pids": 16384, "nofile": 65536,
 *    "network": "host" | "none", "strictness": "strict" | "best-effort",
 *    "slot_uid": 64000, "gpus": [0, 1], "gpus_per_job": 1,
 *    "mask": ["/srv/secrets"], "allow_ptrace": false, "seccomp": "enforce" | "audit",
 *    "no_native": true | ["actions/checkout", "actions/cache"],
 *    "persist": ["~/.cache/pip", "~/.npm"],
 *    "jobs": [{"repository": "acme/deploy", "workflow": "Deploy", "job": "gpu-?",
 *              "memory": "8G", "cpus": 4, "pids": 4096, "nofile": 4096, "swap": 0,
 *              "gpus": 1, "network": "none"}]}
 *
 * Sizes are bytes, or strings with a K/M/G/T suffix (powers of 1024).
 * Unknown keys are errors: a misspelt limit must not pass silently. "no_native" names the
 * actions that run through their JavaScript action, inside the sandbox, instead of natively in
 * the worker (true: all of them; ex/native.h). "persist" names the dependency directories of
 * the job's HOME that persist from one job of a repository to the next (ex/persist.h; a list,
 * or one comma-separated string). rn_sandbox_config_load() lets the environment variables
 * GHRUN_NO_NATIVE and GHRUN_PERSIST, when set, replace them.
 *
 * "jobs" are per-job rules (ex/limits.h): a job whose github.repository, github.workflow and
 * github.job match a rule's patterns (fnmatch; a missing one matches anything) gets the rule's
 * limits, which only ever lower the runner's. "gpus" may also be "all": every GPU the host has.
 */
#pragma once

#include "gr.h"
#include "sb.h"
#include "ex/limits.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define RN_SANDBOX_FILE ".sandbox"

struct rn_sandbox_config {
    uint64_t memory; /* bytes, 0 = no limit */
    uint64_t swap;   /* bytes of swap on top of memory */
    double cpus;     /* CPUs of quota, 0 = no limit */
    uint64_t pids;   /* default 16384 */
    uint64_t nofile; /* default 65536 */
    bool network_none;
    bool strict;          /* default true: a registered runner takes code from pull requests */
    uid_t slot_uid;       /* base of the slot uids (slot N: base + N); 0 = 64000 */
    int gpus[SB_GPU_MAX]; /* minors the runner may lease */
    size_t n_gpus;
    size_t gpus_per_job; /* without "gpus_per_job" (gpus_per_job_set false): all the slots */
    bool gpus_per_job_set;
    bool allow_ptrace;
    bool seccomp_audit;
    /* "no_native": a no-native list (ex/native.h; "all" for true), or NULL */
    char *no_native;
    /* "persist": the persisted directories, comma-separated (ex/persist.h), or NULL */
    char *persist;
    /* masked from steps: the runner root first, then the defaults and "mask"; NULL-terminated */
    char **masks;
    size_t n_masks;
    bool gpus_all; /* "gpus": "all" */
    /* "jobs": the per-job rules */
    struct ex_limit_rule *rules;
    size_t n_rules;
};

/* Defaults (no file): strict, pids 16384, nofile 65536, the runner root and the defaults masked. */
void rn_sandbox_config_defaults(struct rn_sandbox_config *ret, const char *root);
/* Parse text (path names it in errors) over the defaults for root (NULL: no runner root). */
int rn_sandbox_config_parse(const char *text, size_t len, const char *path, const char *root,
                            struct rn_sandbox_config *ret, struct gr_diag *reterr) GR_MUST_CHECK;
/* <root>/.sandbox, or the defaults when there is none; then GHRUN_NO_NATIVE and GHRUN_PERSIST. */
int rn_sandbox_config_load(const char *root, struct rn_sandbox_config *ret,
                           struct gr_diag *reterr) GR_MUST_CHECK;
/* A config file anywhere (replay's GHRUN_SANDBOX_CONFIG); root may be NULL. */
int rn_sandbox_config_load_file(const char *path, const char *root, struct rn_sandbox_config *ret,
                                struct gr_diag *reterr) GR_MUST_CHECK;
void rn_sandbox_config_release(struct rn_sandbox_config *c);

/*
 * The sb_policy for an online job. Its mask list points into c, which must
 * outlive sb_job_new() (which copies it). rw paths (workspace, temp) are the
 * engine's to add. A root runner leases a job slot per job (sb_policy.slot_auto):
 * steps run as the user ghr-slot<N> when it exists, else as uid and gid
 * slot_uid + N (64000 + N by default); concurrent jobs hold distinct slots. With
 * GPUs configured, gpu_isolate is set and no GPU is allowed: put the minors
 * of the job's sb_gpu_lease() in gpu_minors, sb_gpu_mask_paths() in the
 * masks and sb_gpu_env_text() in the job's environment.
 */
void rn_config_sandbox_policy(const struct rn_sandbox_config *c, struct sb_policy *ret);

/*
 * The GPU slots of the settings (ex/limits.h): the host's GPUs (sb_gpu_discover, which may
 * start nvidia-smi: call it at start-up), those of "gpus" that exist as the slots, and
 * "gpus_per_job". Returns 1 with *ret filled when the settings name GPUs, 0 when they do
 * not. A configured GPU the host lacks is said on stderr and left out. For tests,
 * GHRUN_GPU_DEV_DIR, GHRUN_GPU_PROC_DIR and GHRUN_NVIDIA_SMI replace /dev,
 * /proc/driver/nvidia/gpus and nvidia-smi on PATH, and GHRUN_GPU_LOCK_DIR the lock dir
 * (default /run/ghrun/gpus as root, else $XDG_RUNTIME_DIR/ghrun-gpus or
 * /tmp/ghrun-gpus-<uid>); ret's strings point into the environment or static storage.
 */
int rn_config_gpu_slots(const struct rn_sandbox_config *c, struct ex_gpu_slots *ret);
