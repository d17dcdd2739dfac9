/*
 * Shared internals of the sandbox. Three kinds of code live here:
 * parent-side preparation (sb_job_new, cgroup creation, filter compile),
 * the gr-sandbox helper (argv parsing, namespaces, mounts, credentials)
 * and what runs between fork and exec (no malloc, no stdio there).
 */
#pragma once

#include "sb.h"

#include <stddef.h>
#include <stdint.h>

#define SB_PATH 4096
#define SB_MAX_IDMAP 8

/* ---- small file helpers (util.c) ---- */
int sb__write_file(const char *path, const char *text, bool create);
int sb__write_filef(const char *path, bool create, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reads up to len-1 bytes, NUL-terminates. Returns bytes read or -errno. */
ssize_t sb__read_file(const char *path, char *buf, size_t len);
/* Value of "key N" in a flat keyed file (memory.events, cgroup.events). */
int sb__read_key_u64(const char *path, const char *key, uint64_t *ret);
int sb__read_u64(const char *path, uint64_t *ret);
int sb__path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int sb__mkdir_p(const char *path, mode_t mode);
/* Remove a tree without following symlinks. */
int sb__rm_rf(const char *path);
bool sb__exists(const char *path);
/* mkdtemp() of prefix followed by six random characters, into buf. */
int sb__mkdtemp(char *buf, size_t len, const char *prefix);
/* Error text for the last failure (sb_last_error). */
void sb__set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- cgroups (cgroup.c) ---- */
enum sb_cg_mode { SB_CG_NONE, SB_CG_V2, SB_CG_HYBRID, SB_CG_V1 };
enum sb_cg_ctl { SB_CTL_MEMORY, SB_CTL_PIDS, SB_CTL_CPU, SB_CTL_FREEZER, SB_CTL_DEVICES, SB_CTL_N };
enum sb_cg_on { SB_CG_OFF, SB_CG_ON_V2, SB_CG_ON_V1 };
enum sb_cg_kill { SB_KILL_NONE, SB_KILL_V2, SB_KILL_V2_FREEZE, SB_KILL_V1_FREEZER };

/* Where to look; all NULL means the real host. Tests point these at fake trees. */
struct sb_cg_env {
    const char *root;         /* "/sys/fs/cgroup" */
    const char *self_cgroup;  /* "/proc/self/cgroup" */
    const char *mountinfo;    /* "/proc/self/mountinfo"; NULL with fake: <root>/<ctl> */
    const char *proc_devices; /* "/proc/devices" (majors of nvidia-uvm, nvidia-caps) */
    bool fake;                /* plain files: create control files, no real processes */
};

/* The host's hierarchy, found once by sb_cg_detect(). */
struct sb_cg {
    enum sb_cg_mode mode;
    bool fake;
    char v2_mount[SB_PATH];          /* "" when there is no cgroup2 */
    char v2_self[SB_PATH];           /* our v2 cgroup, absolute path in the mount */
    char v1_self[SB_CTL_N][SB_PATH]; /* our v1 cgroup per controller; "" when unused */
    enum sb_cg_on on[SB_CTL_N];
    char proc_devices[SB_PATH]; /* where the char majors are listed */
};

/* A job's cgroups: one dir in v2 and/or one per v1 controller. */
struct sb_cgjob {
    struct sb_cg cg;
    char v2[SB_PATH];
    char v1[SB_CTL_N][SB_PATH];
    enum sb_cg_kill kill;
    uint64_t memory_limit;
    uint64_t pids_limit;
    uint64_t oom_seen; /* job oom_kill count at the last reap */
    uint64_t pids_seen;
    bool devices;   /* the v1 devices controller restricts the job (gpu_isolate) */
    bool devbpf;    /* a v2 device program restricts the job (gpu_isolate) */
    int devbpf_err; /* why it could not be attached (-errno), 0 when not tried */
    /*
     * Split layout (sb_cg_job_split): the job's init lives in init/, steps
     * in step/, under the v2 job dir and, when the tree kill is the v1
     * freezer, under the freezer's job dir. A step's reap and
     * sb_cg_job_kill() then end step/ only; the init survives until
     * sb_cg_job_destroy(). Limits and counters stay on the job dirs.
     */
    bool split;
    char v2_init[SB_PATH], v2_step[SB_PATH];
    char v1_init[SB_PATH], v1_step[SB_PATH]; /* freezer */
    pid_t keep[2]; /* never killed by a step's reap (sweep without a kill switch) */
};

const char *sb_cg_ctl_name(enum sb_cg_ctl c);
int sb_cg_detect(const struct sb_cg_env *env, struct sb_cg *ret);
/* "hybrid[mem:v1 pids:v1 cpu:v1 kill:v2]" */
void sb_cg_describe(const struct sb_cg *cg, enum sb_cg_kill kill, char *buf, size_t len);
int sb_cg_job_create(const struct sb_cg *cg, const char *name, const struct sb_policy *p,
                     struct sb_cgjob *ret);
/* Creates <dir>/step-<id> under every job dir and moves pid in. Helper side. */
int sb_cg_step_enter(const char *v2_job, const char *const *v1_jobs, size_t n_v1, bool fake,
                     pid_t pid, const char **ret_failed);
/* Moves pid into every job dir itself (no step cgroup). Helper side. */
int sb_cg_job_enter(const char *v2_job, const char *const *v1_jobs, size_t n_v1, bool fake,
                    pid_t pid, const char **ret_failed);
/* Kill and remove every step-* cgroup, summing statistics. */
int sb_cg_step_finish(struct sb_cgjob *j, struct sb_step_stats *ret);
int sb_cg_job_kill(struct sb_cgjob *j, int sig);
/* Kill everything, wait until empty, remove the job dirs. */
int sb_cg_job_destroy(struct sb_cgjob *j);
/* Remove the job dirs whose creating process is gone (a worker killed), when empty. */
void sb_cg_sweep_stale(const struct sb_cg *cg);
/* Creates the init/ and step/ leaves of the split layout. */
int sb_cg_job_split(struct sb_cgjob *j);
/* Distinct v1 job dirs in use (memory, pids, cpu, freezer), for the helper. */
size_t sb_cg_v1_dirs(const struct sb_cgjob *j, const char **ret, size_t max);

/* ---- the cgroup v2 device filter (devbpf.c) ---- */
struct bpf_insn;
/* One allowed device: type 'c', 'b' or 'a' (both); -1 = any major/minor; BPF_DEVCG_ACC_* bits. */
struct sb_dev_rule {
    char type;
    int major, minor;
    unsigned access;
};
/* The rules of a job: basic char devices, and for gpu_isolate the NVIDIA nodes of its lease. */
size_t sb_devbpf_rules(const struct sb_policy *p, const char *proc_devices, struct sb_dev_rule *out,
                       size_t max);
/* Assembles the program into out; returns the instruction count, -EINVAL or -E2BIG. */
int sb_devbpf_build(const struct sb_dev_rule *rules, size_t n, struct bpf_insn *out, size_t max);
/* Loads the program and attaches it (BPF_F_ALLOW_MULTI) to a v2 cgroup dir. 0 or -errno. */
int sb_devbpf_attach(const char *cgroup_dir, const struct bpf_insn *insns, size_t n, char *log,
                     size_t log_len);

/* ---- seccomp (seccomp.c) ---- */
/* Compile the deny-list for policy into fd as BPF (parent side, libseccomp). */
int sb_sc_export(const struct sb_policy *p, int fd, const char **ret_arches);
/* Install a BPF program (between fork and exec; after PR_SET_NO_NEW_PRIVS). */
int sb_sc_install(const void *bpf, size_t len);
/* Names of the denied syscalls, for the doctor and tests. */
size_t sb_sc_rule_count(void);
/* Table look-ups for the tests: the set-id mode rules, and a plain rule with its errno. */
size_t sb_sc_mode_rule_count(void);
bool sb_sc_has_rule(const char *name, int err);
bool sb_sc_has_mode_rule(const char *name, unsigned mode_arg);

/* ---- the helper (helper.c and friends) ---- */
int sb__helper_main(int argc, char **argv);

/* Everything the helper needs, parsed from argv. */
struct sb_hcfg {
    const char *cg2;
    const char *cg1[SB_CTL_N];
    size_t n_cg1;
    const char *seccomp;
    uid_t uid;
    gid_t gid;
    bool set_ids;
    const char *tmp;
    const char *empty;
    const char **mask;
    size_t n_mask;
    const char **rw;
    size_t n_rw;
    bool ro_root;
    bool ns_mnt, ns_pid, ns_net, ns_ipc, ns_uts, ns_cgroup;
    bool cgroup_flat; /* --cgroup-flat: join the job's cgroups, no step cgroup */
    uint64_t nofile, nproc;
    int status_fd;
    bool job_init;         /* --job-init: become the job's init, print its pid, stay */
    pid_t join;            /* --join: enter the namespaces of this job init */
    const char *home;      /* --home: HOME for the step ... */
    const char *home_from; /* ... when HOME is unset or still this (the runner's) */
    const char **idmap;    /* --idmap: rw paths bound idmapped (their owner -> idmap_uid) */
    size_t n_idmap;
    uid_t idmap_uid; /* --idmap-uid, --idmap-gid: the slot */
    gid_t idmap_gid;
    int idmap_fd[SB_MAX_IDMAP];  /* detached idmapped mounts, made before unshare; -1: none */
    int idmap_err;               /* errno of the first idmap failure, 0: all made */
    bool idmap_ro[SB_MAX_IDMAP]; /* --idmap-ro: read-only, attached unless masked */
    char **argv;
    /* the step server (stepd.c) */
    const char *socket;              /* --socket: the job init serves steps on this unix socket */
    const char *connect;             /* --connect: start the command through that socket */
    const char *init_cg2, *step_cg2; /* --init-cgroup2, --step-cgroup2 (split layout) */
    const char *init_cg1, *step_cg1; /* --init-cgroup1, --step-cgroup1 (v1 freezer) */
    int listen_fd;
    int step_cg2_fd, step_cg1_fd; /* O_PATH dirs, opened before the namespaces */
    int host_proc_fd;             /* the host's /proc, to tell the runner from steps */
    /* filled by the helper before forking */
    void *bpf;
    size_t bpf_len;
    char cwd[SB_PATH];
    int cap_last;
};

/*
 * mount.c: detached idmapped clones of c->idmap (owner of each path -> the
 * slot), made in the host namespaces before unshare. Never fails: a path it
 * cannot idmap gets idmap_fd -1 and idmap_err is set; sb_mnt_enter() binds
 * it plainly then.
 */
void sb_mnt_idmap_prepare(struct sb_hcfg *c);
/* stepd.c: the job init serves steps; the client is what the executor starts. */
int sb_stepd_prepare(struct sb_hcfg *c, const char **ret_what);
/* Moves the calling process into the init leaves (after the cgroup namespace). */
int sb_stepd_enter_init(struct sb_hcfg *c, const char **ret_what);
/*
 * The step server's loop, in the --job-init helper: outside the job's pid
 * namespace, in all its other namespaces; its children (the steps) are in
 * the job's pid namespace, where their parent is invisible. Ends with init.
 */
void sb_stepd_serve(struct sb_hcfg *c, pid_t init) __attribute__((noreturn));
/* --connect: returns the exit code to mirror (or exits by the step's signal). */
int sb_stepd_client(struct sb_hcfg *c);
/* helper.c, shared with stepd.c */
void sb__say(const struct sb_hcfg *c, const char *what, const char *path, int err);
int sb__mirror(int status);
void sb__mark_fds_cloexec(void);

/* mount.c: the step's filesystem view, in the new mount namespace. */
int sb_mnt_enter(const struct sb_hcfg *c, const char **ret_path);
/* net.c: bring lo up in a new network namespace. */
int sb_net_lo_up(void);
/* cred.c: rlimits, ids, capabilities, securebits, no_new_privs. */
int sb_cred_enter(const struct sb_hcfg *c, const char **ret_what);

/* ---- job slots (slot.c) ---- */
#define SB_SLOT_BASE 64000
#define SB_SLOT_MAX 256
#define SB_SLOT_LOCK_DIR "/run/ghrun/slots"

struct sb_slot {
    int n;     /* ghr-slot<n> */
    int fd;    /* the flock()ed lease; -1: none */
    uid_t uid; /* steps run as these */
    gid_t gid;
    bool named; /* the host has the user ghr-slot<n> */
};

/* Lease the lowest free slot. Returns 0, -EBUSY when all are held, or -errno. */
int sb__slot_lease(const struct sb_policy *p, struct sb_slot *ret);
void sb__slot_release(struct sb_slot *s);
/* "64000:64000 (ghr-slot0)" into buf. */
int sb__slot_describe(uid_t uid, gid_t gid, char *buf, size_t len);

/* ---- features (job.c, doctor.c) ---- */
bool sb__have_mount_setattr(void);
bool sb__have_seccomp(void);
bool sb__have_ns(const char *name);
int sb__find_helper(char *out, size_t len);
