/*
 * Internals of the engine (engine.c, job.c, step.c, env.c, report_json.c,
 * steps/script.c, steps/checkout.c). Never exported.
 *
 * Shape of a run: one struct ex__run per ex_run_plan() call holds one
 * struct ex__jobrun per plan job (pending -> ready -> done); a ready job
 * hands out struct ex__leg objects (one per matrix leg), each a small state
 * machine that walks the job's steps. A script step runs as a struct
 * ex__proc: one process in its own process group, a pidfd poll, two pipes and
 * two timers, freed in the last close callback.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>
#include <jansson.h>

#include "ex.h"
#include "sb.h"

#define EX__FILECMD_MAX (16u * 1024 * 1024) /* bytes read back from one file command file */
#define EX__SUMMARY_MAX (1024u * 1024)      /* $GITHUB_STEP_SUMMARY, as the runner */
#define EX__ANNOTATIONS_PER_TYPE 10         /* kept per type per step */
#define EX__CANCEL_TIMEOUT_MIN 5.0          /* cancel-timeout-minutes default (WorkflowConstants) */
#define EX__PIPE_GRACE_MS 100 /* after the main process exits, wait this long for EOF */

struct ex__run;
struct ex__jobrun;
struct ex__leg;
struct ex__frame;  /* a running composite action (steps/composite.c) */
struct ex__actleg; /* per-leg action state: loaded actions, post steps (action.c) */

/* ---- shells (steps/script.c) ------------------------------------------- */

/*
 * How to run a script: argv template split from the shell's command line,
 * with "{0}" standing for the script path, and the script file extension.
 */
struct ex__shell {
    char **argv;     /* NULL-terminated; argv[0] is the program as written */
    const char *ext; /* ".sh", ".py", ".ps1", ".cmd" or "" */
    bool pwsh;       /* PowerShell prelude/epilogue */
    char *prog;      /* argv[0] as found on the path when parsing searched it (unspecified
                        shell), else NULL; owned */
};
/*
 * Resolve a step's `shell` (NULL or "" = unspecified) into a template.
 * path is the PATH to search for bash when the shell is unspecified.
 * Returns 0, or GR_EFAILED with reterr's message for an invalid shell.
 */
int ex__shell_parse(const char *shell, const char *path, struct ex__shell *ret,
                    struct gr_diag *reterr) GR_MUST_CHECK;
void ex__shell_release(struct ex__shell *sh);
/* Split a command line with the Windows/.NET rules the runner relies on. NULL-terminated. */
char **ex__split_args(const char *s);
void ex__argv_free(char **argv);
/* Look prog up in path (colon-separated) unless it contains '/'. Owned, or NULL. */
char *ex__which(const char *prog, const char *path);
/* The script text as written to the file (PowerShell gets the prelude and exit epilogue). */
char *ex__script_text(const struct ex__shell *sh, const char *run);
/* argv for a script path: the template with {0} replaced. Owned. */
char **ex__shell_argv(const struct ex__shell *sh, const char *script_path);

/* ---- environment (env.c) ----------------------------------------------- */

/* GITHUB_PATH semantics: move each dir to the end of list (an array of strings). */
void ex__path_add(json_t *list, const char *dir);
/* PATH value: list reversed (last added first), then base. Owned. */
char *ex__path_value(const json_t *list, const char *base);
/*
 * The process environment of a step: base (environ), then env (the env
 * context), then GITHUB_ and RUNNER_ values from the github/runner contexts and extra
 * (object of forced values), GITHUB_ACTIONS=true, CI=true unless set, PATH.
 * Returns a NULL-terminated "K=V" array (ex__argv_free).
 */
char **ex__step_environ(char *const *base, const json_t *env, const json_t *forced,
                        const json_t *path_list);
/* Merge src's string values into dst (later wins). Non-strings become strings. */
void ex__env_merge(json_t *dst, const json_t *src);
/* Runner arch name (X64, ARM64, ...) for this build. */
const char *ex__runner_arch(void);

/* ---- processes (step.c) ------------------------------------------------ */

/*
 * Write a scratch file under RUNNER_TEMP (script, file command files): no
 * fsync or rename, since nothing survives the job anyway. 0 or -errno.
 */
int ex__scratch_write(const char *path, const char *data, size_t len) GR_MUST_CHECK;
/* The kinds of a step's scratch files; leg->spare holds the previous step's of each. */
enum {
    EX__SLOT_ENV,
    EX__SLOT_OUTPUT,
    EX__SLOT_PATH,
    EX__SLOT_STATE,
    EX__SLOT_SUMMARY,
    EX__SLOT_SCRIPT,
    EX__N_SLOTS
};
/*
 * What the engine uses for a step's scratch files (step.c): path, below leg->temp_dir, made a
 * new file holding data (len bytes; 0: empty), the uid the steps run as owning it from its
 * creation (fchown on the descriptor), its directories opened through no link and made when
 * missing (ex__scratch_dir); a file a step planted under the name is removed first. The
 * previous step's file of the same slot (leg->spare), in the same directory, is removed rather
 * than emptied and reused: on ext4, truncating a file that held data makes its close write
 * back (auto_da_alloc), about 2 ms per file here, while unlinking one and creating the next
 * reuses the freed inode at once. 0 or -errno.
 */
int ex__scratch_new(struct ex__leg *leg, int slot, const char *path, const char *data,
                    size_t len) GR_MUST_CHECK;

/* ---- job slots (slot.c) ------------------------------------------------ */

/* Read back a file below leg->temp_dir that steps could write: no link followed anywhere below
 * RUNNER_TEMP, no FIFO opened, only a regular file of the steps' uid with one link (-EPERM),
 * at most max bytes (-E2BIG). *ret owned. */
int ex__scratch_read(const struct ex__leg *leg, const char *path, size_t max, char **ret,
                     size_t *ret_len) GR_MUST_CHECK;
/* The directory of path (below leg->temp_dir), opened through no link (made, with create); the
 * last component in *ret_name (points into path). Returns the fd or -errno. */
int ex__scratch_dir(const struct ex__leg *leg, const char *path, bool create,
                    const char **ret_name) GR_MUST_CHECK;
/* After sb_job_new(): the slot the steps run as (leg->slot...); an online job's workspace is
 * handed to it. 0 or -errno. */
int ex__slot_setup(struct ex__leg *leg) GR_MUST_CHECK;
/* A file or dir the runner just made for the steps goes to the slot (no-op without one). */
int ex__slot_own(const struct ex__leg *leg, const char *path) GR_MUST_CHECK;
int ex__slot_own_fd(const struct ex__leg *leg, int fd) GR_MUST_CHECK;
/* After a native step wrote into the workspace as the runner: what it made goes to the uid the
 * steps write as on disk (the slot; in an idmapped project, the project's owner). */
void ex__slot_claim(struct ex__leg *leg);
/* The end of an online job: the workspace back to the runner. */
void ex__slot_reclaim(struct ex__leg *leg);

struct ex__proc;
typedef void (*ex__line_cb)(void *ctx, const char *line, size_t len);
/* status: exit code (>= 0), or -signal when killed, or < -1000 on spawn error (-errno - 1000) */
typedef void (*ex__proc_done_cb)(void *ctx, int exit_status, bool timed_out);

struct ex__proc_opts {
    char **argv;
    char **envp;
    const char *cwd;
    double timeout_s; /* <= 0: none */
    ex__line_cb on_line;
    ex__proc_done_cb on_done;
    void *ctx;
    /*
     * A served sandbox job's step socket (sb_job_step_socket()): the step, step_argv, starts
     * through the job's init with no wrapper process; argv (the wrapper's command line) is
     * the fallback when the socket takes no request. NULL: argv is spawned.
     */
    const char *step_socket;
    char *const *step_argv;
};
/*
 * Spawn argv detached (own process group) with stdout/stderr piped; every
 * complete line goes to on_line; on_done runs once, after the main process
 * exited and its pipes reached EOF (or the grace period passed), from a
 * close callback, never inside this call. Returns 0 or -errno (spawn failed:
 * on_done will not run).
 */
int ex__proc_start(uv_loop_t *loop, const struct ex__proc_opts *o,
                   struct ex__proc **ret) GR_MUST_CHECK;
/*
 * Kill the process group now (timeouts, cancellation). A step started through the job's
 * socket: SIGKILL hangs up (the init kills the step's group and main process, and the
 * step counts as killed at once, as a wrapper killed would), other signals are forwarded.
 */
void ex__proc_kill(struct ex__proc *p, int sig);
/* The process group to kill at the end of the job, or 0 when there is none of ours. */
pid_t ex__proc_pgid(const struct ex__proc *p);

/* ---- contexts and evaluation helpers (job.c) --------------------------- */

struct ex__leg {
    struct ex__run *run;
    struct ex__jobrun *jr;
    const struct ex_plan *plan; /* the workflow of the job: the run's, or a called one */
    int index;                  /* leg index within the job */
    json_t *matrix;
    char *display_name;
    json_t *ctx;        /* contexts object (github, env, steps, ...) */
    json_t *job_env;    /* job-wide env map: workflow < job < GITHUB_ENV */
    json_t *path_list;  /* GITHUB_PATH additions */
    json_t *steps_ctx;  /* steps.<id> */
    double timeout_min; /* job timeout-minutes */
    const char *status; /* "success", "failure", "cancelled" */
    bool cancelled, timed_out, continue_on_error, started, finished;
    bool abandoned; /* the cancel timeout passed: no further steps */
    enum ex_result result;
    struct sb_job *sb;
    /* steps run as a job slot's uid (slot.c): what they write is handed to it */
    bool slot;
    uid_t slot_uid;
    gid_t slot_gid;
    bool ws_idmapped; /* replay: the project is bound idmapped for the slot */
    bool ws_owned;    /* online: the workspace was handed to the slot */
    uid_t ws_uid;     /* owner of the workspace at the start */
    gid_t ws_gid;
    struct ex_masker *masker;
    struct ex_cmd_state cmds; /* stop-commands carries over steps; echo is reset per step */
    char *temp_dir, *leg_dir;
    size_t step_i;
    struct ex__proc *proc;    /* running step process */
    struct ex__stepexec *cur; /* running step */
    char *spare[EX__N_SLOTS]; /* previous step's scratch files, removed by the next */
    pid_t *pgids;
    size_t n_pgids, cap_pgids;
    uv_timer_t timer; /* job timeout */
    bool timer_on;
    uint64_t t0;
    char *concurrency;       /* group held (lower case) or NULL */
    char *preset_error;      /* the job failed before its steps (reported at start) */
    json_t *outputs;         /* job outputs after the end */
    json_t *json;            /* results entry */
    json_t *gen_ids;         /* generated step context names used so far */
    struct ex__frame *frame; /* innermost running composite action, or NULL */
    struct ex__actleg *act;  /* action state (action.c), NULL until an action runs */
    size_t pre_i;            /* set-up phase: next job step whose action may have a pre stage */
    bool pre_done;           /* the set-up phase (pre stages) is over */
    bool traced_step;        /* opts->trace heard of the first step started */
    /* persisted directories (persist_job.c), or NULL */
    struct ex__persist *persist;
    /* the job's GPUs (ex_run_opts.gpus) and their step environment ("K=V", NULL-terminated) */
    struct sb_gpu_lease gpu_lease;
    char **gpu_env;
};

/* One step in flight. */
struct ex__stepexec {
    struct ex__leg *leg;
    const struct ex_step *step;
    char *name, *ctx_name; /* display name; context name (id or generated) */
    json_t *env;           /* env context for this step: job map + step env */
    json_t *outputs;
    json_t *annotations;
    int n_err, n_warn, n_notice;
    bool failed_cmd; /* a command failed the step */
    bool debug;
    char *file_env, *file_output, *file_path, *file_state, *file_summary, *script;
    unsigned filecmds_empty; /* after the step: bit EX__SLOT_*, that file was left empty */
    uint64_t t0;
    double timeout_min;
    struct gr_buf line;
    struct ex__frame *frame; /* composite action this step belongs to (NULL: the job's) */
    json_t *extra_env;       /* forced process env of an action (INPUT_*, STATE_*) or NULL */
    json_t *state;           /* GITHUB_STATE / save-state values of this step, or NULL */
    bool post;               /* a post step: not recorded in the steps context */
    bool pre;                /* a pre step of the job's set-up phase: not recorded either */
    bool quiet; /* not reported (yet): a composite's pre step with no pre stage found so far */
};

enum ex__job_state { EX__JOB_PENDING, EX__JOB_READY, EX__JOB_DONE };

/*
 * The jobs of one workflow: the run's plan, or one call of a reusable
 * workflow by one leg of a calling job (with its own plan, built when the
 * leg starts, with that leg's inputs and secrets). `needs` resolve within a
 * scope; the scope ends when its last job is done, which ends the caller's leg.
 */
struct ex__scope {
    const struct ex_plan *plan;
    struct ex_plan *owned;     /* a call's plan */
    struct ex__scope *up;      /* the calling job's scope; NULL for the run's */
    struct ex__jobrun *caller; /* NULL for the run's */
    char *name;                /* the calling leg's display name, or NULL */
    char *id_prefix;           /* "caller/" for each level, "" for the run's */
    struct ex__jobrun **jobs;  /* its jobs (owned by the run) */
    size_t n_jobs;
    json_t *matrix;    /* the calling leg's matrix, or NULL */
    char *concurrency; /* the calling leg's concurrency group (held until the scope ends) */
    uint64_t t0;
    bool cancelled, done;
};

struct ex__jobrun {
    struct ex__run *run;
    const struct ex_plan_job *pj;
    struct ex__scope *scope;
    size_t idx;   /* in run->jobs */
    char *id;     /* "caller/job" for a called job, else the job id */
    char *name;   /* display name without matrix: "caller / job" for a called job */
    bool is_call; /* jobs.<id>.uses: legs are scopes, not processes */
    enum ex__job_state state;
    json_t *legs; /* array of matrix objects (null when no matrix) */
    char **leg_names;
    size_t n_legs, next_leg, running, finished;
    bool fail_fast_hit;
    bool any_failure, any_cancelled;
    enum ex_result result; /* for needs (continue-on-error applied) */
    json_t *outputs;
    char *error; /* set when the job failed before its legs could be built */
    uint64_t t0;
};

struct ex__run {
    uv_loop_t *loop;
    const struct ex_plan *plan;
    const struct ex_run_opts *opts;
    const struct ex_reporter *rep;
    struct ex__jobrun **jobs; /* every job of every scope (grows as calls start) */
    size_t n_jobs, cap_jobs;
    struct ex__scope **scopes; /* [0] is the run's plan */
    size_t n_scopes, cap_scopes;
    int max_jobs, running;
    char *workdir, *state_dir, *event_json, *tool_cache;
    json_t *busy_groups;    /* concurrency groups in use */
    json_t *results;        /* --json document's "jobs" array */
    struct ex__leg **alive; /* started legs not yet done */
    size_t n_alive, cap_alive;
    int leg_seq;
    bool scheduling, again;
    bool cancel_requested; /* SIGINT/SIGTERM: cancel what runs, start nothing new */
    bool signals_on;
    uv_signal_t sigint, sigterm;
    int error; /* first internal error */
};

/* engine.c */
void ex__schedule(struct ex__run *run);
void ex__leg_done(struct ex__leg *leg);
struct ex__jobrun *ex__jobrun_find(const struct ex__scope *sc, const char *id);
/* needs.<id>.result and .outputs for jr's direct needs. New reference. */
json_t *ex__needs_context(const struct ex__jobrun *jr);
/*
 * engine_call.c: start the next leg of a calling job (jobs.<id>.uses); false
 * when it has to wait (its concurrency group is busy).
 */
bool ex__call_launch(struct ex__run *run, struct ex__jobrun *jr);
/* A called scope whose jobs are all done: outputs and result go to its caller. */
void ex__scope_finish(struct ex__run *run, struct ex__scope *sc);
/* New scope for a call's plan (stolen); its jobs are added to the run, pending. */
struct ex__scope *ex__scope_new(struct ex__run *run, struct ex__scope *up,
                                struct ex__jobrun *caller, struct ex_plan *plan, const char *name);
/* sc or a scope above it was cancelled (fail-fast of a calling matrix). */
bool ex__scope_cancelled(const struct ex__scope *sc);
/* A calling job's leg ended: its scope finished (outputs may be NULL) or it never started. */
void ex__call_leg_done(struct ex__run *run, struct ex__jobrun *jr, enum ex_result result,
                       const json_t *outputs);
/*
 * Before anything runs: fetch every remote reusable workflow the plan calls
 * (and its local calls call) and check its inputs and secrets as the
 * planner checks ./ calls. Errors are logged; returns the first one.
 */
int ex__calls_check(struct ex__run *run) GR_MUST_CHECK;
/* Start a leg that only reports msg as its error and fails. */
void ex__leg_launch_error(struct ex__run *run, struct ex__jobrun *jr, size_t idx, const char *msg);

/* job.c */
/* Run steps from leg->step_i on until one goes async or the job ends. */
void ex__leg_next(struct ex__leg *leg);
int ex__leg_start(struct ex__leg *leg) GR_MUST_CHECK;
void ex__leg_cancel(struct ex__leg *leg);
void ex__leg_free(struct ex__leg *leg);
/* Contexts known before the job starts (github, inputs, vars, secrets, matrix, needs, ...). */
void ex__leg_init_ctx(struct ex__leg *leg);
/* Evaluation env over the leg's contexts with its status. */
void ex__leg_eval_env(const struct ex__leg *leg, struct ex_eval_env *ret);
/* Evaluate a node as a string (NULL node: def). Owned result or NULL with reterr set. */
int ex__eval_string(const struct ex_node *n, const struct ex_eval_env *env, const char *def,
                    char **ret, struct gr_diag *reterr) GR_MUST_CHECK;
/* Evaluate a node as a boolean / number. */
int ex__eval_bool(const struct ex_node *n, const struct ex_eval_env *env, bool def, bool *ret,
                  struct gr_diag *reterr) GR_MUST_CHECK;
int ex__eval_number(const struct ex_node *n, const struct ex_eval_env *env, double def, double *ret,
                    struct gr_diag *reterr) GR_MUST_CHECK;
/* Emit a (masked) log line for the leg. */
void ex__leg_log(struct ex__leg *leg, const char *fmt, ...) GR_PRINTF(2, 3);
void ex__leg_logn(struct ex__leg *leg, const char *line, size_t len);
/* s with every registered secret masked. Owned; NULL for NULL. */
char *ex__leg_mask(struct ex__leg *leg, const char *s);
/* Record an annotation (masked) for the current step and report it. */
void ex__leg_annotate(struct ex__leg *leg, struct ex__stepexec *se, const char *level,
                      const char *msg, const struct ex_cmd *pos);
/*
 * Drop job outputs that are empty or that the masker would change (GitHub
 * skips them with a warning). outputs: object of strings; modified in place.
 */
void ex__outputs_filter(struct ex__leg *leg, json_t *outputs);

/* step.c */
/*
 * Start step i of the leg. Returns 1 when the step finished synchronously
 * (skipped, failed before running, builtin), 0 when it runs on the loop and
 * will call ex__step_finished later.
 */
int ex__step_run(struct ex__leg *leg, const struct ex_step *step);
/* Record the step's result (continue-on-error, steps context, reporter) and free se. */
void ex__step_finished(struct ex__stepexec *se, enum ex_result outcome);
/* The process environment for an action step (creates its file command files). */
char **ex__step_process_env(struct ex__stepexec *se);
/* One line of step output: workflow commands, masking, reporter. */
void ex__step_line(struct ex__stepexec *se, const char *line, size_t len);
/* The step's process ended: file commands, outcome, next step. */
void ex__step_proc_done(struct ex__stepexec *se, int status, bool timed_out);

/* The stepexec for st (its frame is leg->frame). */
struct ex__stepexec *ex__stepexec_new(struct ex__leg *leg, const struct ex_step *st);
void ex__step_report_start(struct ex__stepexec *se);
/* Read back the step's file commands (env, output, state, path, summary). */
void ex__step_filecmds(struct ex__stepexec *se);
/* Outcome of a step process that ended with status (annotates failures). */
enum ex_result ex__step_outcome(struct ex__stepexec *se, int status, bool timed_out);
/* After a step ended on the loop: the next step of its composite frame, or of the job. */
void ex__step_advance(struct ex__leg *leg, struct ex__frame *frame);

/* action.c, steps/composite.c, steps/node.c */
/* A `uses:` step other than actions/checkout. Returns like ex__step_run. */
int ex__action_run(struct ex__stepexec *se);
/*
 * The job's set-up phase: start the pre stage of the next job step's action
 * (a repository action whose runs.pre holds), in step order; 0 when one
 * runs on the loop (ex__leg_next is called again after it), 1 when none is
 * left.
 */
int ex__action_pre_next(struct ex__leg *leg);
/* Start the next post step; 0 when one runs on the loop, 1 when none is left. */
int ex__action_post_next(struct ex__leg *leg);
void ex__action_leg_free(struct ex__leg *leg);
/* The env a step of frame starts from (new reference). */
json_t *ex__frame_env(struct ex__frame *f);
/* Timeout of a step of frame: its own, cut to what is left of the uses: step's (minutes). */
double ex__frame_timeout(struct ex__frame *f, double own_min);
/* A step of frame is being recorded: its annotations go to the uses: step. */
void ex__composite_child_done(struct ex__frame *f, const struct ex__stepexec *child,
                              enum ex_result conclusion);
/* A step of frame ended on the loop: run the frame's next steps. */
void ex__composite_next(struct ex__frame *f);

/* steps/script.c */
/* Returns like ex__step_run. */
int ex__script_run(struct ex__stepexec *se);
/* steps/checkout.c */
int ex__checkout_run(struct ex__stepexec *se, const char *uses);
/* steps/cache_action.c: actions/cache, actions/cache/restore, actions/cache/save */
int ex__cache_run(struct ex__stepexec *se, const char *uses);
int ex__cache_restore_run(struct ex__stepexec *se, const char *uses);
int ex__cache_save_run(struct ex__stepexec *se, const char *uses);
/*
 * The archive members of the `path` patterns (array of strings, "!" for exclusions) as
 * @actions/cache resolves them: paths relative to ws (normalized, absolute), "../" for those
 * outside, `~` being home; sorted, without members below another member (a directory is
 * archived with everything in it). Owned array of owned strings; *ret_n may be 0.
 */
char **ex__cache_members(const json_t *patterns, const char *ws, const char *home, size_t *ret_n);

/*
 * Native implementations of well-known actions (steps/native.c holds the table). A native
 * step function runs the step for `uses` (owner/repo[/path]@ref) and returns as
 * ex__action_run does. ex__native_lookup returns NULL when `uses` has no native version.
 */
typedef int ex__native_fn(struct ex__stepexec *se, const char *uses);
ex__native_fn *ex__native_lookup(const char *uses);
/* ex__native_lookup unless o turns the native version of uses off (no_native, no_native_list). */
ex__native_fn *ex__native_for(const struct ex_run_opts *o, const char *uses);
/* A native step's evaluated `with:`: an object of strings, trimmed as core.getInput trims. */
int ex__native_with(struct ex__stepexec *se, json_t **ret, struct gr_diag *d);
/* Input `name` of an evaluated `with:` (names match case-insensitively, as core.getInput); "" when
 * absent. */
const char *ex__native_input(const json_t *with, const char *name);
/* The input is "true" (any case). */
bool ex__native_input_bool(const json_t *with, const char *name);
/*
 * A native post step, run as step se (se->post) at the end of the job with the data given to
 * ex__native_post_add. Returns like ex__step_run.
 */
typedef int ex__native_post_fn(struct ex__stepexec *se, const json_t *data);
/*
 * Queue fn as the post step of se's step (post steps run last queued first) when post_if
 * (a static string, NULL: always()) holds then. data is stolen.
 */
void ex__native_post_add(struct ex__stepexec *se, ex__native_post_fn *fn, const char *post_if,
                         json_t *data);

/* report_json.c */
/* A JSON string for text that may not be UTF-8 (bytes >= 0x80 become '?' then). */
json_t *ex__json_text(const char *s);
json_t *ex__json_leg_new(const struct ex__leg *leg);
void ex__json_step_add(struct ex__leg *leg, const struct ex__stepexec *se, enum ex_result outcome,
                       enum ex_result conclusion, uint64_t dur_ns);
void ex__json_leg_finish(struct ex__leg *leg, uint64_t dur_ns);
/* A job that never started (`if` false, run cancelled): one entry with jr->result. */
void ex__json_job_skipped(struct ex__run *run, const struct ex__jobrun *jr);
int ex__json_write(const struct ex__run *run, const char *path, bool ok) GR_MUST_CHECK;
