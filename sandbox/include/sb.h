/*
 * sb: the sandbox every step runs in (docs/sandbox.md). Uses only libc,
 * linux headers and libseccomp: no uv, no gr_, no threads.
 *
 * The executor never forks: it asks sb_wrap_command() for the command line
 * that starts a step inside the sandbox and spawns that. As root, the job's
 * init (one `gr-sandbox --job-init` per job, pid 1 of the job's namespaces,
 * filesystem view built once) starts each step itself: the command line is
 * `gr-step --connect <socket> -- argv...`, which hands the step's argv,
 * environment, working directory and stdio to the init and mirrors its
 * status; the executor does that itself where it can (sb_stepc_*, no
 * wrapper process) and spawns the wrapper otherwise. Without the job's
 * init it is the `gr-sandbox` helper with options, which sets up what it
 * can, drops privileges, installs the seccomp filter and execs the step.
 * Job-level resources (cgroups, the compiled seccomp filter, the private
 * /tmp, the init) live in an sb_job.
 *
 * Helper lookup, first match wins: sb_set_helper_path(); the environment
 * variable GR_SANDBOX_HELPER; `gr-sandbox` in the directory of
 * /proc/self/exe (it installs next to ghrun).
 *
 * Threads: every function runs on the caller's loop thread; none is
 * thread-safe (sb_last_error() is one static buffer).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define SB_GPU_MAX 32

/* What a step may do. Zero means "no limit" / "default". */
struct sb_policy {
    uint64_t memory_max;   /* bytes, set on the job cgroup (swap off) */
    uint64_t cpu_quota_us; /* per 100ms period */
    uint64_t pids_max;
    bool network_none;
    bool strict; /* refuse to run when an isolation feature is missing */
    /* Steps run as this uid/gid when the runner is root; 0 = not set. With slot_auto: the base. */
    uid_t slot_uid;
    gid_t slot_gid;
    /* NULL-terminated lists, copied by sb_job_new(). */
    const char *const *mask_paths; /* hidden: empty ro tmpfs (dirs) or empty file */
    const char *const *rw_paths;   /* stay writable, also inside a masked dir; / is read-only */
    const char *state_dir;         /* parent of the job's private dir; NULL: $TMPDIR, /tmp */
    uint64_t nofile;               /* RLIMIT_NOFILE; 0 = 65536 */
    bool allow_ptrace;             /* ptrace/process_vm_* (denied by default) */
    bool seccomp_audit;            /* log what the filter would deny, deny nothing (roll-out) */
    uint64_t swap_max;             /* bytes of swap on top of memory_max; 0 = no swap */
    /* strict without a slot uid: steps of a root runner run as root, capabilities dropped */
    bool slot_optional;
    /*
     * A root runner leases a job slot no other running job holds (an flock under
     * slot_lock_dir, across processes) and runs the job's steps as its ids: those of
     * the user ghr-slot<N> when the host has one, else uid = gid = base + N, base being
     * slot_uid or 64000. Without slot_auto, a non-zero slot_uid is used as given.
     * Release: sb_job_free(). Query: sb_job_slot().
     */
    bool slot_auto;
    const char *slot_lock_dir; /* NULL: /run/ghrun/slots */
    /*
     * rw_paths the slot writes through an idmapped bind mount (mount_setattr
     * MOUNT_ATTR_IDMAP, kernel 5.12+, a filesystem that supports it): the path's owner
     * appears to the steps as the slot's uid/gid, and what the steps create belongs to
     * that owner on disk. For a directory that must not be chowned (replay's project).
     * When the host cannot idmap one, the job runs its steps as root without
     * capabilities (no slot) and sb_job_degraded() says why. NULL-terminated, copied.
     */
    const char *const *idmap_paths;
    /*
     * Read-only idmapped binds with the same fallback (replay: the invoking user's home,
     * whose tools the steps ran before as that user), unless a mask or the private /tmp
     * hides the path. NULL-terminated, copied.
     */
    const char *const *idmap_ro_paths;
    /*
     * GPU isolation (docs/sandbox.md section 9): steps may open only the
     * basic char devices (null, zero, full, random, urandom, tty, ptmx,
     * pts), the NVIDIA control and uvm nodes, and /dev/nvidia<minor> of
     * these minors. Enforced by a cgroup v2 device program on the job's v2
     * cgroup, else by the v1 devices controller; without either the job
     * reports GPU isolation as advisory (strict refuses it).
     */
    bool gpu_isolate;
    int gpu_minors[SB_GPU_MAX];
    size_t n_gpu_minors;
};

struct sb_job; /* per-job sandbox state; opaque */

/*
 * Prepare a job: create its cgroup (when available), compile its seccomp
 * filter, create its private dir and decide the mode. name is used in paths
 * (job id); policy is copied deeply. Returns 0 or -errno; with
 * policy->strict, -EOPNOTSUPP when a required protection is missing
 * (sb_last_error() says which).
 */
int sb_job_new(const char *name, const struct sb_policy *policy, struct sb_job **ret);
/* Kill everything still running in the job and remove its cgroup and dirs. NULL-safe. */
void sb_job_free(struct sb_job *job);
/*
 * Whether job was made by sb_job_new() from a policy equal to p, field by field and list by
 * list (a job prepared ahead may serve a job that asks for exactly that). false for NULL.
 */
bool sb_job_policy_is(const struct sb_job *job, const struct sb_policy *p);
/*
 * Remove what jobs of processes that are gone left behind (a worker killed before its
 * sb_job_free): their private dirs under state_dir (NULL: $TMPDIR, /tmp) and, as root, their
 * empty cgroups. What a live process holds is left alone.
 */
void sb_job_sweep_stale(const char *state_dir);

/*
 * Build the argv that starts argv inside the job's sandbox: the wrapper
 * (gr-step or gr-sandbox) and its options, then "--", then argv. *ret_argv is a NULL-terminated
 * malloc'd array whose strings are malloc'd; free it with sb_argv_free(). The helper exits 125 when
 * it cannot set up the sandbox (its message goes to stderr, prefixed "gr-sandbox: "), 126/127 when
 * the command cannot be executed, and otherwise mirrors the step (exit code, or death by the same
 * signal). Signals sent to the helper are forwarded to the step's process group.
 */
int sb_wrap_command(const struct sb_job *job, char *const argv[], char ***ret_argv);
void sb_argv_free(char **argv);

/*
 * Called after a step's main process exited: kill what it left behind
 * (daemons included), collect its statistics (sb_step_result) and remove
 * its cgroup. Returns 0 or -errno.
 */
int sb_step_reap(struct sb_job *job);
/*
 * Timeout and cancellation. SIGKILL kills every process of the job now
 * (cgroup.kill, or freeze and sweep) and waits until the cgroup is empty.
 * Other signals go to the top of each running step (the helper), which
 * forwards them to the step's process group, like a terminal's ^C.
 * Returns 0 (also for a job without cgroup, where killing the helper is
 * the caller's part) or -errno.
 */
int sb_job_kill(struct sb_job *job, int sig);

/* What happened to the last reaped step. */
struct sb_step_stats {
    bool oom_killed;         /* the kernel OOM killer killed a process of the job */
    uint64_t oom_kills;      /* how many, during the step */
    uint64_t memory_limit;   /* bytes in effect for the job, 0 = none */
    uint64_t memory_peak;    /* bytes, 0 = unknown (v2 memory.peak, v1 max_usage_in_bytes) */
    uint64_t memory_failcnt; /* v1 only: times the limit was hit */
    uint64_t pids_limit_hit; /* forks refused by pids.max (pids.events), 0 = unknown */
    uint64_t pids_limit;     /* pids.max in effect for the job, 0 = none */
};
/* Statistics of the last step reaped by sb_step_reap(). Returns 0, or -ENODATA if none. */
int sb_step_result(const struct sb_job *job, struct sb_step_stats *ret);
/*
 * A one-line explanation for a step that died of an OOM kill, e.g.
 * "killed: memory limit of 4 GiB reached (peak 4.0 GiB)", or that ran into
 * the pids limit ("pids limit of 512 reached: 37 forks refused"), written
 * to buf. Returns the length, or 0 (buf "") when the stats show neither.
 */
size_t sb_step_stats_message(const struct sb_step_stats *st, char *buf, size_t len);

/*
 * Protections that are off for this job, as human strings (e.g. "no memory
 * limit: memory controller unavailable"). The array is NULL-terminated and
 * owned by the job.
 */
const char *const *sb_job_degraded(const struct sb_job *job);
/* One line describing the job's sandbox, e.g. "sandbox: uid=slot ns=mnt,pid,... cgroup=...". */
const char *sb_job_summary(const struct sb_job *job);

/*
 * The ids the job's steps run as when they are a slot's (writes *ret_uid, *ret_gid and
 * returns 0), or -ENOENT when steps run as root without capabilities or as the invoking
 * user (then the runner's files need no handing over). *ret_idmapped: the idmap_paths
 * are bound idmapped (may be NULL).
 */
int sb_job_slot(const struct sb_job *job, uid_t *ret_uid, gid_t *ret_gid, bool *ret_idmapped);

/*
 * The private HOME of the job's steps (<job dir>/home, created with the job, owned by the
 * slot's uid when steps run as a slot), or NULL for a job without sandbox. Steps see it at
 * the same path (it is bound read-write at itself in their mount namespace), so the runner
 * finds what they write there; it replaces the runner's HOME in their environment, unless
 * the step's environment sets another HOME. Valid until sb_job_free().
 */
const char *sb_job_home(const struct sb_job *job);

/*
 * Steps with no wrapper process (step_conn.c). A served job (root: its init
 * starts the steps, sb_wrap_command() gives `gr-step --connect <socket> --`)
 * takes a step straight from the caller over its step socket; the caller is
 * then what gr-step was: it sends the request with the step's stdin, stdout
 * and stderr, forwards signals, and gets the step's end. None of these
 * blocks: the caller polls sb_stepc_fd() (readable; writable too while
 * sb_stepc_want_write()) and calls sb_stepc_io().
 *
 * The job's step socket, or NULL when its steps start through the command line
 * of sb_wrap_command() only. Borrowed: valid until sb_job_free(). NULL-safe.
 */
const char *sb_job_step_socket(const struct sb_job *job);

struct sb_stepc; /* one step started through a step socket; opaque */

/* How a step ended, as the job's init reported it. */
struct sb_stepc_end {
    bool exited; /* status is the step's wait status (waitpid) */
    int status;  /* else an exit code: 125 (no step: sandbox), 126/127 (cannot execute) */
    /* with an exit code: the message the wrapper printed on stderr ("gr-sandbox: ...\n") */
    char text[4096];
    size_t text_len;
};

/*
 * Connect to sock and send the request: cwd (absolute, resolved in the job's
 * filesystem view), argv, envp (NULL: none) and fds (stdin, stdout, stderr:
 * sent with the request's header before this returns, so the caller may close
 * them then). The rest of a large request goes out in sb_stepc_io(). Returns 0,
 * or -errno when nothing was started (the socket is gone, the init's backlog
 * is full: EAGAIN): then the wrapper's command line still works. *ret: free
 * with sb_stepc_free(), which hangs up: the init kills a step whose client is
 * gone (process group and main process, SIGKILL).
 */
int sb_stepc_start(const char *sock, const char *cwd, char *const argv[], char *const envp[],
                   const int fds[3], struct sb_stepc **ret);
/* The socket to poll; owned by c. */
int sb_stepc_fd(const struct sb_stepc *c);
/* Part of the request or a signal still waits for the socket to be writable. */
bool sb_stepc_want_write(const struct sb_stepc *c);
/*
 * Send what is pending and read the reply. Returns 1 once the step ended
 * (*ret filled; a hang-up or a broken reply reads as exit code 125 with its
 * message), 0 while it runs, -EALREADY after the end.
 */
int sb_stepc_io(struct sb_stepc *c, struct sb_stepc_end *ret);
/* Queue sig for the step's process group (the main process if it left it). 0 or -errno. */
int sb_stepc_signal(struct sb_stepc *c, int sig);
/*
 * Hang up now (the fd stays open, so a poll on it may stop later): the init kills
 * the step's process group and main process (SIGKILL); no end will be read.
 */
void sb_stepc_hangup(struct sb_stepc *c);
/* Close the connection (NULL-safe); before the end, the init kills the step. */
void sb_stepc_free(struct sb_stepc *c);

/* Where the helper is; copied; NULL resets to the default lookup. Returns 0 or -errno. */
int sb_set_helper_path(const char *path);
/* The reason of the last failure of sb_job_new(), or "". */
const char *sb_last_error(void);

/* Write what this host supports for the sandbox, one feature a line. Returns 0 or -errno. */
int sb_doctor(FILE *out);

/*
 * GPU slots (docs/sandbox.md section 9): find the NVIDIA GPUs, lease some
 * exclusively to a job, and tell the job which ones it got.
 *
 * Discovery reads the device nodes (<dev>/nvidia<minor>), then the driver's
 * /proc/driver/nvidia/gpus/<bus id>/information (minor, UUID), and fills in
 * what is still missing from `nvidia-smi --query-gpu=index,uuid,pci.bus_id
 * --format=csv,noheader` (index taken as the minor). It may start
 * nvidia-smi (posix_spawn), so call it at start-up, not on the loop.
 *
 * A lease holds one flock()ed file per GPU in lock_dir: exclusive across
 * runner processes, and gone with the process if it dies.
 */
struct sb_gpu {
    int minor;
    char uuid[64];   /* "GPU-..." or "" */
    char bus_id[32]; /* "00000000:17:00.0" or "" */
};

struct sb_gpu_inv {
    struct sb_gpu gpu[SB_GPU_MAX];
    size_t n; /* sorted by minor */
};

/* Where to look; NULL fields mean the real host ("/dev", "/proc/driver/nvidia/gpus", PATH). */
struct sb_gpu_env {
    const char *dev_dir;
    const char *proc_dir;
    const char *nvidia_smi; /* "" to skip nvidia-smi */
};

struct sb_gpu_lease {
    size_t n;
    int idx[SB_GPU_MAX]; /* into the inventory */
    int fd[SB_GPU_MAX];  /* the held lock files */
};

int sb_gpu_discover(const struct sb_gpu_env *env, struct sb_gpu_inv *ret);
/* Lease want GPUs (the lowest free minors). Returns 0, -EBUSY if fewer are free, or -errno. */
int sb_gpu_lease(const struct sb_gpu_inv *inv, size_t want, const char *lock_dir,
                 struct sb_gpu_lease *ret);
void sb_gpu_release(struct sb_gpu_lease *lease);
/*
 * The step environment for a lease, as "NAME=value" lines separated by '\n':
 * CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES (UUIDs when known, else
 * minors) and CUDA_DEVICE_ORDER=PCI_BUS_ID. CUDA_VISIBLE_DEVICES alone is
 * advisory; hide the other GPUs with sb_gpu_mask_paths(). Returns 0 or -E2BIG.
 */
int sb_gpu_env_text(const struct sb_gpu_inv *inv, const struct sb_gpu_lease *lease, char *buf,
                    size_t len);
/*
 * Device nodes of the GPUs not leased, for sb_policy.mask_paths: a
 * NULL-terminated malloc'd array of malloc'd strings (free with
 * sb_argv_free()). Returns 0 or -ENOMEM.
 */
int sb_gpu_mask_paths(const struct sb_gpu_inv *inv, const struct sb_gpu_lease *lease,
                      const char *dev_dir, char ***ret);
