/*
 * One acquired run-service job (runner-protocol.md section 7.1; R
 * Runner.Common/RunServer.cs, Runner.Listener/JobDispatcher.cs).
 *
 * DESIGN. A job is a state machine on the loop:
 *   renew (must succeed once) → steps one by one → completejob → done.
 * Renewal repeats every timing.renew_ms with the job token until the
 * completion is sent. The completion is sent exactly once in effect: every
 * retry carries the identical body, and when an attempt whose outcome we
 * could not see (timeout, dropped connection, 5xx) is followed by a 404 or
 * 409, the earlier attempt is taken to have landed, because the run service
 * answers those for a job that is already complete.
 *
 * Until the executor engine is merged, steps run through the small path
 * below: literal `run:` scripts with bash or sh, literal env, and the status
 * conditions. Anything else fails the step with a clear reason; nothing is
 * ever reported as run that did not run. Step output is masked and written
 * to <root>/_diag/job-<jobId>.log.
 */
#include "http.h"
#include "jobmsg.h"
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <uv.h>

#define RN_LINE_MAX (64u << 10)
#define RN_COMPLETE_ATTEMPTS 6
#define RN_FIRST_RENEW_ATTEMPTS 5

extern char **environ;

struct step_result {
    char started[40], finished[40];
    const char *conclusion; /* NULL: not reached */
};

struct rn_job {
    struct rn_job_env env;
    char *root, *work, *runner_name;
    struct rn_jobmsg msg;
    rn_job_done_fn *cb;
    void *ctx;
    struct step_result *results;
    size_t step;
    bool failed, cancelled, shutdown, finished;
    const char *conclusion;
    FILE *log;

    struct step_proc *sp; /* the running step's process, or NULL */
    bool proc_running, pipe_open;
    int proc_status;
    struct gr_buf line;
    char *script_path;
    uv_timer_t kill_timer;
    int kill_stage;

    uv_timer_t renew_timer;
    struct rn_req *renew_req;
    unsigned renew_tries;
    bool renewed_once;

    uv_timer_t complete_timer;
    struct rn_req *complete_req;
    unsigned complete_tries;
    bool complete_uncertain;

    int open_handles;
    bool freeing;
};

/* A step's process and pipe live apart from the job: they close asynchronously. */
struct step_proc {
    uv_process_t proc;
    uv_pipe_t pipe;
    int open;
    struct rn_job *job;
};

static void run_next_step(struct rn_job *job);
static void complete_send(struct rn_job *job);

static void handle_gone(struct rn_job *job)
{
    if (--job->open_handles == 0 && job->freeing) {
        free(job->results);
        free(job);
    }
}

static void handle_closed(uv_handle_t *h)
{
    handle_gone(h->data);
}

static void close_handle(struct rn_job *job, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, handle_closed);
}

static void sp_closed(uv_handle_t *h)
{
    struct step_proc *sp = h->type == UV_PROCESS
                               ? gr_container_of((uv_process_t *)h, struct step_proc, proc)
                               : gr_container_of((uv_pipe_t *)h, struct step_proc, pipe);
    struct rn_job *job = sp->job;

    if (--sp->open == 0)
        free(sp);
    handle_gone(job);
}

static void sp_close(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, sp_closed);
}

static void init_timer(struct rn_job *job, uv_timer_t *t)
{
    uv_timer_init(job->env.loop, t);
    t->data = job;
    job->open_handles++;
}

static void job_log(struct rn_job *job, const char *fmt, ...) GR_PRINTF(2, 3);

/* A masked, timestamped line in the job log. */
static void job_log(struct rn_job *job, const char *fmt, ...)
{
    char ts[40], *raw, *masked;
    struct gr_buf b = GR_BUF_INIT(0);
    va_list ap;

    if (!job->log)
        return;
    va_start(ap, fmt);
    if (gr_buf_vaddf(&b, fmt, ap) < 0)
        abort();
    va_end(ap);
    raw = gr_buf_detach(&b, NULL);
    masked = rn_jobmsg_mask(&job->msg, raw, strlen(raw));
    gr_time_iso8601(ts, sizeof(ts));
    fprintf(job->log, "%s %s\n", ts, masked);
    fflush(job->log);
    free(masked);
    free(raw);
}

static void finish(struct rn_job *job, int status)
{
    if (job->finished)
        return;
    job->finished = true;
    uv_timer_stop(&job->renew_timer);
    if (job->renew_req)
        rn_req_cancel(job->renew_req);
    job->cb(job, status, job->ctx);
}

/* ---- renewal ---- */

static void renew_schedule(struct rn_job *job, uint64_t ms);

static void renew_done(struct rn_req *req, int status, void *ctx)
{
    struct rn_job *job = ctx;
    long code = rn_req_status(req);

    if (status == 0 && rn_req_ok(req)) {
        job->renew_tries = 0;
        if (!job->renewed_once) {
            job->renewed_once = true;
            GR_LOG_INFO("job '%s' locked; running %zu step(s)", job->msg.display_name,
                        job->msg.nsteps);
            run_next_step(job);
        }
        renew_schedule(job, job->env.timing.renew_ms);
        return;
    }
    if (status == 0 && code == 404) {
        GR_LOG_WARN("job '%s' is gone (renewjob answered 404); cancelling it",
                    job->msg.display_name);
        if (!job->renewed_once) {
            finish(job, GR_ENOTFOUND);
            return;
        }
        rn_job_cancel(job, false);
        return;
    }
    job->renew_tries++;
    if (!job->renewed_once && job->renew_tries >= RN_FIRST_RENEW_ATTEMPTS) {
        GR_LOG_ERR("cannot lock job '%s' (renewjob: %s, HTTP %ld); abandoning it",
                   job->msg.display_name, status < 0 ? gr_strerror(status) : "response", code);
        finish(job, GR_EHTTP);
        return;
    }
    GR_LOG_WARN("renewjob failed (%s, HTTP %ld), retrying",
                status < 0 ? gr_strerror(status) : "response", code);
    renew_schedule(job, job->env.timing.retry_base_ms *
                            (1u << (job->renew_tries < 5 ? job->renew_tries : 5)));
}

static void renew_send(struct rn_job *job)
{
    char *url = rn_url_join(job->msg.url, "renewjob");
    json_t *body = json_pack("{s:s,s:s}", "planId", job->msg.plan_id, "jobId", job->msg.job_id);
    int r;

    rn_req_free(job->renew_req);
    job->renew_req = rn_req_new("POST", url);
    rn_req_header(job->renew_req, "Authorization: Bearer %s", job->msg.token);
    rn_req_header(job->renew_req, "Accept: application/json");
    rn_req_json(job->renew_req, body);
    rn_req_timeout(job->renew_req, job->env.timing.request_timeout_ms);
    r = rn_http_start(job->env.http, job->renew_req, renew_done, job);
    if (r < 0)
        renew_schedule(job, job->env.timing.retry_base_ms);
    json_decref(body);
    free(url);
}

static void on_renew_timer(uv_timer_t *t)
{
    renew_send(t->data);
}

static void renew_schedule(struct rn_job *job, uint64_t ms)
{
    if (!job->finished)
        uv_timer_start(&job->renew_timer, on_renew_timer, ms, 0);
}

/* ---- steps ---- */

/* The status functions only; -1 when the condition needs the expression engine. */
static int condition_eval(const struct rn_job *job, const char *cond)
{
    static const char *const forms[] = {"success()", "always()", "failure()", "cancelled()",
                                        "!cancelled()"};
    size_t n = strlen(cond), i;

    while (n && cond[n - 1] == ' ')
        n--;
    while (*cond == ' ')
        cond++, n--;
    for (i = 0; i < GR_ARRAY_SIZE(forms); i++)
        if (strlen(forms[i]) == n && !strncasecmp(cond, forms[i], n))
            break;
    switch (i) {
    case 0:
        return !job->failed && !job->cancelled;
    case 1:
        return 1;
    case 2:
        return job->failed && !job->cancelled;
    case 3:
        return job->cancelled;
    case 4:
        return !job->cancelled;
    default:
        return -1;
    }
}

static void step_done(struct rn_job *job, const char *conclusion)
{
    struct step_result *res = &job->results[job->step];
    struct rn_jobstep *st = &job->msg.steps[job->step];

    gr_time_iso8601(res->finished, sizeof(res->finished));
    res->conclusion = conclusion;
    job_log(job, "##[step] finished '%s': %s", st->display, conclusion);
    GR_LOG_INFO("step '%s': %s", st->display, conclusion);
    job->step++;
    run_next_step(job);
}

static void flush_line(struct rn_job *job)
{
    if (job->line.len)
        job_log(job, "%s", job->line.ptr);
    gr_buf_reset(&job->line);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char chunk[16384];

    *buf = uv_buf_init(chunk, sizeof(chunk));
}

static void maybe_step_finished(struct rn_job *job)
{
    struct rn_jobstep *st = &job->msg.steps[job->step];
    const char *c;

    if (job->proc_running || job->pipe_open)
        return;
    flush_line(job);
    uv_timer_stop(&job->kill_timer);
    if (job->script_path) {
        (void)unlink(job->script_path);
        free(job->script_path);
        job->script_path = NULL;
    }
    if (job->proc_status == 0) {
        c = "succeeded";
    } else if (job->cancelled) {
        c = "canceled";
    } else {
        job_log(job, "##[error]Process completed with exit code %d.", job->proc_status);
        c = st->continue_on_error ? "succeeded" : "failed";
        if (!st->continue_on_error)
            job->failed = true;
    }
    step_done(job, c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct rn_job *job = s->data;

    if (n < 0) {
        job->pipe_open = false;
        sp_close((uv_handle_t *)&job->sp->pipe);
        maybe_step_finished(job);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        char c = buf->base[i];
        if (c == '\n' || job->line.len >= RN_LINE_MAX) {
            flush_line(job);
            if (c == '\n')
                continue;
        }
        if (c != '\r' && gr_buf_addch(&job->line, c) < 0)
            flush_line(job);
    }
}

static void on_proc_exit(uv_process_t *p, int64_t status, int sig)
{
    struct rn_job *job = p->data;

    job->proc_status = sig ? 128 + sig : (int)status;
    job->proc_running = false;
    sp_close((uv_handle_t *)p);
    maybe_step_finished(job);
}

static char **build_env(struct rn_job *job, const struct rn_jobstep *st, const char *workspace)
{
    size_t n = 0, cap = 0;
    char **env = NULL;
    const char *extra[] = {"GITHUB_ACTIONS=true", "CI=true", "RUNNER_OS=Linux",
                           "RUNNER_ENVIRONMENT=self-hosted"};

    for (char **e = environ; *e; e++) {
        GR_GROW(env, cap, n + 1);
        env[n++] = gr_xstrdup(*e);
    }
    for (size_t i = 0; i < GR_ARRAY_SIZE(extra); i++) {
        GR_GROW(env, cap, n + 1);
        env[n++] = gr_xstrdup(extra[i]);
    }
    GR_GROW(env, cap, n + 4);
    env[n++] = gr_xasprintf("RUNNER_NAME=%s", job->runner_name);
    env[n++] = gr_xasprintf("GITHUB_WORKSPACE=%s", workspace);
    env[n++] = gr_xasprintf("RUNNER_TEMP=%s/_temp", job->work);
    for (size_t i = 0; i < job->msg.nenv; i++) {
        GR_GROW(env, cap, n + 1);
        env[n++] = gr_xstrdup(job->msg.env[i]);
    }
    for (size_t i = 0; i < st->nenv; i++) {
        GR_GROW(env, cap, n + 1);
        env[n++] = gr_xstrdup(st->env[i]);
    }
    GR_GROW(env, cap, n + 1);
    env[n] = NULL;
    return env;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static char *workspace_dir(struct rn_job *job)
{
    const char *repo = job->msg.repository ? strchr(job->msg.repository, '/') : NULL;
    const char *name = repo && repo[1] && !strstr(repo + 1, "..") ? repo + 1 : "workspace";

    return gr_xasprintf("%s/%s/%s", job->work, name, name);
}

/* Write the script and spawn its shell; returns 0 or a reason in *why. */
static int spawn_step(struct rn_job *job, const struct rn_jobstep *st, const char **why)
{
    char guid[37], *ws = workspace_dir(job), *cwd = NULL, *tmp;
    char *args[8] = {0};
    char **env = NULL;
    uv_file fds[2];
    uv_process_options_t o = {0};
    uv_stdio_container_t stdio[3];
    int r;

    *why = NULL;
    if (st->shell && strcmp(st->shell, "bash") && strcmp(st->shell, "sh")) {
        *why = "only the bash and sh shells can run until the executor engine is merged";
        r = -ENOTSUP;
        goto out;
    }
    tmp = gr_xasprintf("%s/_temp", job->work);
    r = gr_mkdir_p(tmp, 0700);
    free(tmp);
    if (r == 0)
        r = gr_mkdir_p(ws, 0755);
    if (r < 0) {
        *why = "cannot create the work folders";
        goto out;
    }
    rn_guid(guid);
    job->script_path = gr_xasprintf("%s/_temp/%s.sh", job->work, guid);
    r = gr_file_write_atomic(job->script_path, st->script, strlen(st->script), 0600);
    if (r < 0) {
        *why = "cannot write the step script";
        goto out;
    }
    if (!st->shell || !strcmp(st->shell, "bash")) {
        char *a[] = {"bash", "--noprofile", "--norc", "-e", "-o", "pipefail", job->script_path};
        memcpy(args, a, sizeof(a));
    } else {
        char *a[] = {"sh", "-e", job->script_path};
        memcpy(args, a, sizeof(a));
    }
    cwd = st->workdir && st->workdir[0] == '/' ? gr_xstrdup(st->workdir)
          : st->workdir                        ? gr_path_join(ws, st->workdir)
                                               : gr_xstrdup(ws);
    env = build_env(job, st, ws);
    /* one pipe for stdout and stderr, so lines keep their order */
    r = uv_pipe(fds, 0, 0);
    if (r < 0) {
        *why = uv_strerror(r);
        goto out;
    }
    job->sp = gr_xcalloc(1, sizeof(*job->sp));
    job->sp->job = job;
    uv_pipe_init(job->env.loop, &job->sp->pipe, 0);
    (void)uv_pipe_open(&job->sp->pipe, fds[0]);
    job->sp->pipe.data = job;
    job->sp->open++;
    job->open_handles++;
    job->pipe_open = true;
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = fds[1];
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = fds[1];
    o.file = args[0];
    o.args = args;
    o.env = env;
    o.cwd = cwd;
    o.exit_cb = on_proc_exit;
    o.stdio = stdio;
    o.stdio_count = 3;
    o.flags = UV_PROCESS_DETACHED; /* own process group: cancellation signals the whole tree */
    job->sp->proc.data = job;
    job->sp->open++;
    job->open_handles++;
    r = uv_spawn(job->env.loop, &job->sp->proc, &o);
    close(fds[1]);
    if (r < 0) {
        /* a failed uv_spawn still needs its handle closed */
        sp_close((uv_handle_t *)&job->sp->proc);
        job->pipe_open = false;
        sp_close((uv_handle_t *)&job->sp->pipe);
        *why = uv_strerror(r);
        (void)unlink(job->script_path);
        free(job->script_path);
        job->script_path = NULL;
        goto out;
    }
    job->proc_running = true;
    uv_read_start((uv_stream_t *)&job->sp->pipe, on_alloc, on_read);
out:
    free_strv(env);
    free(cwd);
    free(ws);
    return r;
}

static void run_next_step(struct rn_job *job)
{
    struct rn_jobstep *st;
    const char *why = NULL;
    int cond;

    if (job->step >= job->msg.nsteps) {
        job->conclusion = job->cancelled ? "canceled" : job->failed ? "failed" : "succeeded";
        if (job->cancelled && job->shutdown)
            job->conclusion = "failed"; /* R reports failed when the runner itself stops */
        complete_send(job);
        return;
    }
    st = &job->msg.steps[job->step];
    gr_time_iso8601(job->results[job->step].started, sizeof(job->results[job->step].started));
    cond = condition_eval(job, st->condition);
    if (st->unsupported || cond < 0) {
        why = st->unsupported ? st->unsupported
                              : "the step's if: condition needs expression evaluation";
    } else if (cond == 0) {
        step_done(job, "skipped");
        return;
    } else if (spawn_step(job, st, &why) == 0) {
        job_log(job, "##[step] '%s'", st->display);
        return;
    }
    job_log(job, "##[error]cannot run step '%s': %s", st->display, why);
    GR_LOG_ERR("cannot run step '%s': %s", st->display, why);
    job->failed = true;
    step_done(job, "failed");
}

/* ---- completion ---- */

static json_t *step_results(struct rn_job *job)
{
    json_t *a = json_array();

    for (size_t i = 0; i < job->msg.nsteps; i++) {
        struct rn_jobstep *st = &job->msg.steps[i];
        struct step_result *res = &job->results[i];
        json_t *o;

        if (!res->conclusion)
            continue;
        o = json_pack("{s:s?,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:[]}", "external_id", st->id, "number",
                      (json_int_t)(i + 1), "name", st->display, "type", "run", "status",
                      "completed", "conclusion", res->conclusion, "started_at", res->started,
                      "completed_at", res->finished, "annotations");
        json_array_append_new(a, o);
    }
    return a;
}

static void on_complete_timer(uv_timer_t *t)
{
    complete_send(t->data);
}

static void complete_done(struct rn_req *req, int status, void *ctx)
{
    struct rn_job *job = ctx;
    long code = rn_req_status(req);

    if (status == 0 && rn_req_ok(req)) {
        GR_LOG_INFO("job '%s' completed: %s", job->msg.display_name, job->conclusion);
        finish(job, 0);
        return;
    }
    if (status == 0 && (code == 404 || code == 409) && job->complete_uncertain) {
        GR_LOG_INFO("job '%s' was completed by an earlier attempt (HTTP %ld now)",
                    job->msg.display_name, code);
        finish(job, 0);
        return;
    }
    if (status < 0 || code >= 500 || code == 429) {
        job->complete_uncertain = true;
        if (job->complete_tries < RN_COMPLETE_ATTEMPTS) {
            uint64_t ms = (uint64_t)job->env.timing.retry_base_ms << (job->complete_tries - 1);
            GR_LOG_WARN("completejob failed (%s, HTTP %ld), retrying in %llums",
                        status < 0 ? gr_strerror(status) : "response", code,
                        (unsigned long long)ms);
            uv_timer_start(&job->complete_timer, on_complete_timer, ms, 0);
            return;
        }
    }
    GR_LOG_ERR("cannot complete job '%s' (%s, HTTP %ld)", job->msg.display_name,
               status < 0 ? gr_strerror(status) : "response", code);
    finish(job, GR_EHTTP);
}

static void complete_send(struct rn_job *job)
{
    char *url = rn_url_join(job->msg.url, "completejob");
    json_t *body = json_pack("{s:s,s:s,s:s,s:{},s:o,s:[]}", "planId", job->msg.plan_id, "jobId",
                             job->msg.job_id, "conclusion", job->conclusion, "outputs",
                             "stepResults", step_results(job), "annotations");
    int r;

    job->complete_tries++;
    rn_req_free(job->complete_req);
    job->complete_req = rn_req_new("POST", url);
    rn_req_header(job->complete_req, "Authorization: Bearer %s", job->msg.token);
    rn_req_header(job->complete_req, "Accept: application/json");
    rn_req_json(job->complete_req, body);
    rn_req_timeout(job->complete_req, job->env.timing.request_timeout_ms);
    r = rn_http_start(job->env.http, job->complete_req, complete_done, job);
    if (r < 0)
        uv_timer_start(&job->complete_timer, on_complete_timer, job->env.timing.retry_base_ms, 0);
    json_decref(body);
    free(url);
}

/* ---- hooks (ACTIONS_RUNNER_HOOK_JOB_STARTED / _COMPLETED, section 15.2) ---- */

static void add_hook(struct rn_job *job, const char *var, const char *display, bool first)
{
    const char *path = getenv(var);
    struct rn_jobstep st = {0};
    char guid[37];

    if (!path || !*path)
        return;
    rn_guid(guid);
    st.id = gr_xstrdup(guid);
    st.name = gr_xstrdup(first ? "__runner_hook_started" : "__runner_hook_completed");
    st.display = gr_xstrdup(display);
    st.condition = gr_xstrdup("always()");
    if (strchr(path, '\''))
        st.unsupported = gr_xstrdup("the hook path contains a single quote");
    else
        st.script = gr_xasprintf("%s '%s'\n", gr_endswith(path, ".sh") ? "bash -e" : "exec", path);
    job->msg.steps = gr_xrealloc(job->msg.steps, (job->msg.nsteps + 1) * sizeof(st));
    if (first)
        memmove(job->msg.steps + 1, job->msg.steps, job->msg.nsteps * sizeof(st));
    job->msg.steps[first ? 0 : job->msg.nsteps] = st;
    job->msg.nsteps++;
}

/* ---- lifecycle ---- */

static void on_kill_timer(uv_timer_t *t)
{
    struct rn_job *job = t->data;

    if (!job->proc_running)
        return;
    job->kill_stage++;
    (void)kill(-job->sp->proc.pid, job->kill_stage == 1 ? SIGTERM : SIGKILL);
    if (job->kill_stage == 1)
        uv_timer_start(&job->kill_timer, on_kill_timer, 2500, 0);
}

void rn_job_cancel(struct rn_job *job, bool shutdown)
{
    if (job->cancelled || job->finished)
        return;
    job->cancelled = true;
    job->shutdown = shutdown;
    GR_LOG_INFO("cancelling job '%s'", job->msg.display_name);
    if (job->proc_running) {
        /* SIGINT, then SIGTERM after 7.5 s, then SIGKILL after 2.5 s more (R ProcessInvoker) */
        (void)kill(-job->sp->proc.pid, SIGINT);
        job->kill_stage = 0;
        uv_timer_start(&job->kill_timer, on_kill_timer, 7500, 0);
    } else if (!job->renewed_once) {
        finish(job, GR_ECANCELED);
    }
}

static int open_log(struct rn_job *job)
{
    char *dir = gr_path_join(job->root, "_diag");
    char *path = gr_xasprintf("%s/job-%s.log", dir, job->msg.job_id);
    int r = gr_mkdir_p(dir, 0700), fd = -1;

    if (r == 0 && strchr(job->msg.job_id, '/'))
        r = -EINVAL;
    if (r == 0) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        r = fd < 0 ? -errno : 0;
    }
    if (r == 0) {
        job->log = fdopen(fd, "a");
        if (!job->log) {
            r = -errno;
            close(fd);
        }
    }
    free(path);
    free(dir);
    return r;
}

int rn_job_start(const struct rn_job_env *env, const char *text, size_t len, rn_job_done_fn *cb,
                 void *ctx, struct rn_job **ret, struct gr_diag *reterr)
{
    struct rn_job *job = gr_xcalloc(1, sizeof(*job));
    int r;

    r = rn_jobmsg_parse(text, len, &job->msg, reterr);
    if (r < 0) {
        free(job);
        return r;
    }
    job->env = *env;
    job->root = gr_xstrdup(env->root);
    job->work = gr_xstrdup(env->work);
    job->runner_name = gr_xstrdup(env->runner_name ? env->runner_name : "ghrun");
    job->cb = cb;
    job->ctx = ctx;
    job->line = GR_BUF_INIT(RN_LINE_MAX + 1);
    if (!job->msg.display_name)
        job->msg.display_name = gr_xstrdup(job->msg.job_id);
    add_hook(job, "ACTIONS_RUNNER_HOOK_JOB_STARTED", "Set up runner", true);
    add_hook(job, "ACTIONS_RUNNER_HOOK_JOB_COMPLETED", "Complete runner", false);
    job->results = gr_xcalloc(job->msg.nsteps + 1, sizeof(*job->results));
    r = open_log(job);
    if (r < 0)
        gr_log_warn_errno(r, "cannot open the job log in '%s/_diag', ignoring", job->root);
    init_timer(job, &job->renew_timer);
    init_timer(job, &job->kill_timer);
    init_timer(job, &job->complete_timer);
    GR_LOG_INFO("running job '%s'", job->msg.display_name);
    job_log(job, "##[job] '%s' (%s)", job->msg.display_name, job->msg.job_id);
    renew_send(job);
    *ret = job;
    return 0;
}

const char *rn_job_id(const struct rn_job *job)
{
    return job->msg.job_id;
}

const char *rn_job_conclusion(const struct rn_job *job)
{
    return job->conclusion;
}

void rn_job_free(struct rn_job *job)
{
    if (!job)
        return;
    rn_req_free(job->renew_req);
    rn_req_free(job->complete_req);
    if (job->log)
        fclose(job->log);
    free(job->script_path);
    gr_buf_release(&job->line);
    rn_jobmsg_release(&job->msg);
    free(job->root);
    free(job->work);
    free(job->runner_name);
    job->freeing = true;
    close_handle(job, (uv_handle_t *)&job->renew_timer);
    close_handle(job, (uv_handle_t *)&job->kill_timer);
    close_handle(job, (uv_handle_t *)&job->complete_timer);
}
