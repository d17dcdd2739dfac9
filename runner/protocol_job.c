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
 * Classic jobs (PipelineAgentJobRequest, section 7.2; R JobDispatcher.cs
 * RenewJobRequestAsync/CompleteJobRequestAsync, JobRunner.cs CompleteJobAsync,
 * Sdk/DTWebApi/WebApi/TaskAgentHttpClient.cs, JobEvent.cs, Util/PlanUtil.cs)
 * arrive with the job in the message: the lock is renewed with PATCH
 * jobrequests/{requestId}?lockToken=<empty guid> and the runner's OAuth
 * token, and the job completes through the plan event JobCompleted (plan
 * version >= 8, job token) or, for older plans, by finishing the job request
 * with its result. The same exactly-once rule applies to both.
 *
 * The job itself runs in a worker process (worker.h), as the official
 * Runner.Worker beside Runner.Listener: `ghrun-engine worker` gets the
 * message on its stdin (usually a worker started ahead and idle until then,
 * rn_idle_worker_start), runs it with the executor engine and streams events
 * back; the GitHub reporter (reporter_github.h) turns them into timeline
 * updates, the live console and log uploads. A worker that dies before the
 * job ends fails the job; the completion is still sent exactly once and the
 * listener lives on. Events are also written, masked, to
 * <root>/_diag/job-<jobId>.log.
 */
#include "engine.h"
#include "http.h"
#include "jobmsg.h"
#include "protocol.h"
#include "reporter_github.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#define RN_EVENT_MAX (4u << 20)
#define RN_COMPLETE_ATTEMPTS 6
#define RN_FIRST_RENEW_ATTEMPTS 5
#define RN_WORKER_KILL_MS 60000 /* R: the worker gets timeout - 15 s, at least 60 s */

struct worker_proc {
    uv_process_t proc;
    uv_pipe_t in, out;
    uv_write_t write;
    int open;
    struct rn_job *job; /* NULL while idle (struct rn_idle_worker) */
    rn_idle_gone_fn *gone;
    void *gone_ctx;
    bool exited, stopping;
    char chunk[65536];
};

/* An idle worker is a worker_proc without a job (C11 6.7.2.1: a struct and its first member). */
struct rn_idle_worker {
    struct worker_proc wp;
};

struct rn_job {
    struct rn_job_env env;
    char *root, *work, *runner_name;
    struct rn_jobmsg msg;
    char *text; /* the message as handed to the worker (hooks added) */
    size_t text_len;
    rn_job_done_fn *cb;
    void *ctx;
    bool cancelled, shutdown, finished;
    const char *conclusion;
    FILE *log;
    struct rn_ghrep *ghrep;
    uint64_t t0_ns, first_step_ns;

    struct worker_proc *wp;
    bool worker_running, out_open;
    int worker_status, worker_sig;
    char *worker_error;
    struct gr_buf line;
    uv_timer_t kill_timer;

    uv_timer_t renew_timer;
    struct rn_req *renew_req;
    unsigned renew_tries;
    bool renewed_once;

    uv_timer_t complete_timer;
    struct rn_req *complete_req;
    unsigned complete_tries;
    bool complete_uncertain;

    bool classic;
    int plan_version;
    char *server_url; /* classic: the tenant URL for jobrequests */
    char *scope, *plan_type;

    int open_handles;
    bool freeing;
};

static void run_job(struct rn_job *job);
static void worker_feed(struct rn_job *job);
static void wp_close(struct worker_proc *wp, uv_handle_t *h);
static void complete_send(struct rn_job *job);

static void handle_gone(struct rn_job *job)
{
    if (--job->open_handles == 0 && job->freeing)
        free(job);
}

static void handle_closed(uv_handle_t *h)
{
    handle_gone(h->data);
}

static void close_handle(struct rn_job *job, uv_handle_t *h)
{
    (void)job;
    if (!uv_is_closing(h))
        uv_close(h, handle_closed);
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
    if (job->worker_running && !job->renewed_once) { /* it never got the message */
        (void)kill(job->wp->proc.pid, SIGKILL);
        wp_close(job->wp, (uv_handle_t *)&job->wp->in);
    }
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
            rn_trace_latency("listener: job locked (first renewal answered)");
            GR_LOG_INFO("job '%s' locked; running %zu step(s)", job->msg.display_name,
                        job->msg.nsteps);
            worker_feed(job);
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

/* The job request (R TaskAgentHttpClient: location fc825784, api 5.1-preview.1). */
static char *jobrequest_url(struct rn_job *job)
{
    char *rel = gr_xasprintf("_apis/distributedtask/pools/%lld/jobrequests/%lld?lockToken="
                             "00000000-0000-0000-0000-000000000000",
                             job->env.pool_id, job->msg.request_id);
    char *url = rn_url_join(job->server_url, rel);

    free(rel);
    return url;
}

/* A request with the runner's OAuth token (classic job requests); NULL while it has none. */
static struct rn_req *runner_req(struct rn_job *job, const char *method, const char *url)
{
    const char *tok = job->env.runner_token ? job->env.runner_token(job->env.token_ctx) : NULL;
    struct rn_req *req;

    if (!tok)
        return NULL;
    req = rn_req_new(method, url);
    rn_req_header(req, "Authorization: Bearer %s", tok);
    rn_req_header(req, "Accept: application/json; api-version=5.1-preview.1");
    return req;
}

static void renew_send(struct rn_job *job)
{
    char *url = job->classic ? jobrequest_url(job) : rn_url_join(job->msg.url, "renewjob");
    json_t *body =
        job->classic ? json_pack("{s:I}", "requestId", (json_int_t)job->msg.request_id)
                     : json_pack("{s:s,s:s}", "planId", job->msg.plan_id, "jobId", job->msg.job_id);
    int r;

    rn_req_free(job->renew_req);
    job->renew_req = job->classic ? runner_req(job, "PATCH", url) : rn_req_new("POST", url);
    if (!job->renew_req) { /* the listener is between tokens: soon again */
        renew_schedule(job, job->env.timing.retry_base_ms);
        json_decref(body);
        free(url);
        return;
    }
    if (!job->classic) {
        rn_req_header(job->renew_req, "Authorization: Bearer %s", job->msg.token);
        rn_req_header(job->renew_req, "Accept: application/json");
    }
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

/* ---- the worker ---- */

static void on_worker_done(struct rn_job *job);

static void wp_closed(uv_handle_t *h)
{
    struct worker_proc *wp = h->data;
    struct rn_job *job = wp->job;

    if (--wp->open == 0) {
        if (job && job->wp == wp)
            job->wp = NULL;
        free(wp);
    }
    if (job)
        handle_gone(job);
}

static void wp_close(struct worker_proc *wp, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        h->data = wp;
        uv_close(h, wp_closed);
    }
}

static enum ex_result result_of(const char *s)
{
    if (s && !strcmp(s, "success"))
        return EX_RESULT_SUCCESS;
    if (s && !strcmp(s, "cancelled"))
        return EX_RESULT_CANCELLED;
    if (s && !strcmp(s, "skipped"))
        return EX_RESULT_SKIPPED;
    return EX_RESULT_FAILURE;
}

/* One event line from the worker (worker.h) into the GitHub reporter. */
static void worker_event(struct rn_job *job, const char *line, size_t len)
{
    const struct ex_reporter *rep = rn_ghrep_reporter(job->ghrep);
    json_t *ev = json_loadb(line, len, 0, NULL);
    const char *e = json_string_value(json_object_get(ev, "e"));
    int i = (int)json_integer_value(json_object_get(ev, "i"));
    const char *s;

    if (!e) {
        GR_LOG_WARN("worker: unreadable event line ignored");
    } else if (!strcmp(e, "step_started")) {
        s = json_string_value(json_object_get(ev, "name"));
        if (!job->first_step_ns) {
            job->first_step_ns = uv_hrtime();
            GR_LOG_INFO("first step started %.1f ms after the job message",
                        (double)(job->first_step_ns - job->t0_ns) / 1e6);
        }
        job_log(job, "##[step] '%s'", s ? s : "");
        rep->step_started(rep->ctx, job, i, s ? s : "");
    } else if (!strcmp(e, "log") && (s = json_string_value(json_object_get(ev, "l")))) {
        job_log(job, "%s", s);
        rep->log_line(rep->ctx, job, s, json_string_length(json_object_get(ev, "l")));
    } else if (!strcmp(e, "group")) {
        s = json_string_value(json_object_get(ev, "title"));
        rep->group(rep->ctx, job, s ? s : "", json_is_true(json_object_get(ev, "open")));
    } else if (!strcmp(e, "annotation")) {
        struct ex_annotation a = {
            .level = json_string_value(json_object_get(ev, "level")),
            .message = json_string_value(json_object_get(ev, "message")),
            .title = json_string_value(json_object_get(ev, "title")),
            .file = json_string_value(json_object_get(ev, "file")),
            .line = (int)json_integer_value(json_object_get(ev, "line")),
            .end_line = (int)json_integer_value(json_object_get(ev, "end_line")),
            .col = (int)json_integer_value(json_object_get(ev, "col")),
            .end_col = (int)json_integer_value(json_object_get(ev, "end_col")),
        };
        rep->annotation(rep->ctx, job, &a);
    } else if (!strcmp(e, "step_finished")) {
        s = json_string_value(json_object_get(ev, "conclusion"));
        job_log(job, "##[step] finished: %s", s ? s : "?");
        rep->step_finished(rep->ctx, job, i,
                           result_of(json_string_value(json_object_get(ev, "outcome"))),
                           result_of(s), 0);
    } else if (!strcmp(e, "summary") && (s = json_string_value(json_object_get(ev, "text")))) {
        if (rep->summary)
            rep->summary(rep->ctx, job, s, json_string_length(json_object_get(ev, "text")));
    } else if (!strcmp(e, "job_finished")) {
        rep->job_finished(rep->ctx, job,
                          result_of(json_string_value(json_object_get(ev, "result"))),
                          json_object_get(ev, "outputs"), 0);
    } else if (!strcmp(e, "error")) {
        s = json_string_value(json_object_get(ev, "message"));
        free(job->worker_error);
        job->worker_error = gr_xstrdup(s ? s : "the worker failed");
        job_log(job, "##[error]%s", job->worker_error);
        GR_LOG_ERR("job '%s': %s", job->msg.display_name, job->worker_error);
    }
    json_decref(ev);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct worker_proc *wp = h->data;

    (void)hint;
    *buf = uv_buf_init(wp->chunk, sizeof(wp->chunk));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct worker_proc *wp = s->data;
    struct rn_job *job = wp->job;

    if (job->freeing && n >= 0)
        return;
    if (n < 0) {
        job->out_open = false;
        wp_close(wp, (uv_handle_t *)&wp->out);
        on_worker_done(job);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        char c = buf->base[i];

        if (c == '\n') {
            worker_event(job, job->line.ptr ? job->line.ptr : "", job->line.len);
            gr_buf_reset(&job->line);
        } else if (job->line.len < RN_EVENT_MAX && gr_buf_addch(&job->line, c) < 0) {
            abort();
        }
    }
}

static void idle_exit(struct worker_proc *wp, int64_t status, int sig);

static void on_worker_exit(uv_process_t *p, int64_t status, int sig)
{
    struct worker_proc *wp = p->data;
    struct rn_job *job = wp->job;

    if (!job) {
        idle_exit(wp, status, sig);
        return;
    }
    job->worker_status = (int)status;
    job->worker_sig = sig;
    job->worker_running = false;
    wp_close(wp, (uv_handle_t *)p);
    on_worker_done(job);
}

static void on_written(uv_write_t *w, int status)
{
    struct worker_proc *wp = w->data;

    rn_trace_latency("listener: message written to the worker");
    if (status < 0)
        GR_LOG_WARN("cannot hand the job message to the worker: %s", uv_strerror(status));
    wp_close(wp, (uv_handle_t *)&wp->in);
}

static void reports_sent(void *ctx)
{
    struct rn_job *job = ctx;

    complete_send(job);
}

/* The worker is gone (exit seen and its output read): conclude and complete. */
static void on_worker_done(struct rn_job *job)
{
    const char *result = NULL, *why = NULL;
    json_t *outputs = NULL;
    char buf[160];

    if (job->worker_running || job->out_open || job->conclusion || !job->renewed_once ||
        job->freeing)
        return;
    uv_timer_stop(&job->kill_timer);
    if (job->line.len) {
        worker_event(job, job->line.ptr, job->line.len);
        gr_buf_reset(&job->line);
    }
    rn_ghrep_result(job->ghrep, &result, &outputs);
    if (!result && !job->cancelled) {
        if (job->worker_error) {
            why = job->worker_error;
        } else {
            snprintf(buf, sizeof(buf), "the job's worker process %s %d before the job ended",
                     job->worker_sig ? "was killed by signal" : "exited with status",
                     job->worker_sig ? job->worker_sig : job->worker_status);
            why = buf;
            GR_LOG_ERR("job '%s': %s", job->msg.display_name, buf);
        }
    }
    rn_ghrep_abort(job->ghrep, job->cancelled ? "canceled" : "failed", why);
    if (job->cancelled)
        job->conclusion =
            job->shutdown ? "failed" : "canceled"; /* R: failed when the runner stops */
    else if (result && !strcmp(result, "success"))
        job->conclusion = "succeeded";
    else if (result && !strcmp(result, "cancelled"))
        job->conclusion = "canceled";
    else
        job->conclusion = "failed";
    rn_ghrep_conclude(job->ghrep, job->conclusion);
    rn_ghrep_finish(job->ghrep, job->env.timing.request_timeout_ms, reports_sent, job);
}

/* Spawn `ghrun-engine worker --root ROOT --work WORK`; it reads its message on stdin. */
/* idle: the worker waits for a job, and may prepare its sandbox meanwhile (--prepare). */
static int wp_spawn(uv_loop_t *loop, const char *root, const char *work, bool idle,
                    struct worker_proc **ret)
{
    char exe[4096];
    char *args[] = {exe,
                    RN_WORKER_CMD,
                    "--root",
                    (char *)root,
                    "--work",
                    (char *)work,
                    idle ? "--prepare" : NULL,
                    NULL};
    uv_process_options_t o = {0};
    uv_stdio_container_t stdio[3];
    struct worker_proc *wp;
    int r;

    r = rn_engine_path(exe, sizeof(exe));
    if (r < 0)
        return r;
    wp = &((struct rn_idle_worker *)gr_xcalloc(1, sizeof(struct rn_idle_worker)))->wp;
    uv_pipe_init(loop, &wp->in, 0);
    uv_pipe_init(loop, &wp->out, 0);
    wp->in.data = wp->out.data = wp->proc.data = wp;
    wp->open = 3;
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&wp->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&wp->out;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    o.file = exe;
    o.args = args;
    o.exit_cb = on_worker_exit;
    o.stdio = stdio;
    o.stdio_count = 3;
    o.flags = UV_PROCESS_DETACHED; /* the listener alone decides when the job is cancelled */
    r = uv_spawn(loop, &wp->proc, &o);
    if (r < 0) {
        wp_close(wp, (uv_handle_t *)&wp->proc);
        wp_close(wp, (uv_handle_t *)&wp->in);
        wp_close(wp, (uv_handle_t *)&wp->out);
        return r;
    }
    *ret = wp;
    return 0;
}

/* Whether an idle worker has exited already (its exit not yet reaped by the loop). */
static bool wp_dead(struct worker_proc *wp)
{
    siginfo_t si = {0};

    if (wp->exited || wp->stopping)
        return true;
    return waitid(P_PID, (id_t)wp->proc.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           si.si_pid != 0;
}

/* The job's worker: the idle one started ahead when it is alive, else a new one. */
static int worker_start(struct rn_job *job)
{
    struct worker_proc *wp = job->env.idle ? &job->env.idle->wp : NULL;
    int r;

    job->env.idle = NULL;
    if (wp && wp_dead(wp)) {
        rn_idle_worker_stop((struct rn_idle_worker *)wp);
        wp = NULL;
    }
    if (!wp) {
        r = wp_spawn(job->env.loop, job->root, job->work, false, &wp);
        if (r < 0)
            return r;
        GR_LOG_INFO("job '%s': worker %d started", job->msg.display_name, (int)wp->proc.pid);
    } else {
        GR_LOG_INFO("job '%s': pre-started worker %d takes it", job->msg.display_name,
                    (int)wp->proc.pid);
    }
    wp->job = job;
    job->open_handles += wp->open;
    job->wp = wp;
    job->worker_running = true;
    job->out_open = true;
    uv_read_start((uv_stream_t *)&wp->out, on_alloc, on_read);
    return 0;
}

/* ---- idle workers ---- */

static void idle_exit(struct worker_proc *wp, int64_t status, int sig)
{
    bool told = wp->stopping;

    wp->exited = true;
    wp->stopping = true;
    wp_close(wp, (uv_handle_t *)&wp->proc);
    wp_close(wp, (uv_handle_t *)&wp->in);
    wp_close(wp, (uv_handle_t *)&wp->out);
    if (!told) {
        GR_LOG_WARN("the idle worker %d %s %d", (int)wp->proc.pid,
                    sig ? "was killed by signal" : "exited with status", sig ? sig : (int)status);
        if (wp->gone)
            wp->gone(wp->gone_ctx);
    }
}

int rn_idle_worker_start(struct uv_loop_s *loop, const char *root, const char *work,
                         rn_idle_gone_fn *gone, void *ctx, struct rn_idle_worker **ret)
{
    struct worker_proc *wp;
    int r = wp_spawn(loop, root, work, true, &wp);

    if (r < 0)
        return r;
    wp->gone = gone;
    wp->gone_ctx = ctx;
    GR_LOG_DEBUG("idle worker %d started", (int)wp->proc.pid);
    *ret = (struct rn_idle_worker *)wp;
    return 0;
}

int rn_idle_worker_pid(const struct rn_idle_worker *iw)
{
    return iw ? iw->wp.proc.pid : 0;
}

void rn_idle_worker_stop(struct rn_idle_worker *iw)
{
    struct worker_proc *w = iw ? &iw->wp : NULL;

    if (!w || w->stopping)
        return;
    w->stopping = true;                 /* its exit is expected now: no gone callback */
    wp_close(w, (uv_handle_t *)&w->in); /* EOF without a message: the worker exits */
    wp_close(w, (uv_handle_t *)&w->out);
    if (!w->exited)
        (void)kill(w->proc.pid, SIGTERM); /* the exit callback closes the process handle */
}

/*
 * The worker starts with the job, before the first renewal is answered, so that
 * its start-up overlaps that round trip; it gets the message once the job is locked.
 */
static void worker_feed(struct rn_job *job)
{
    struct worker_proc *wp = job->wp;
    uv_buf_t b;
    int r;

    if (!wp || !job->worker_running) {
        on_worker_done(job);
        return;
    }
    b = uv_buf_init(job->text, (unsigned)job->text_len);
    wp->write.data = wp;
    r = uv_write(&wp->write, (uv_stream_t *)&wp->in, &b, 1, on_written);
    if (r < 0) {
        GR_LOG_WARN("cannot hand the job message to the worker: %s", uv_strerror(r));
        wp_close(wp, (uv_handle_t *)&wp->in);
    }
}

static void run_job(struct rn_job *job)
{
    int r = worker_start(job);

    if (r < 0) {
        GR_LOG_ERR("job '%s': cannot start its worker: %s", job->msg.display_name, uv_strerror(r));
        free(job->worker_error);
        job->worker_error = gr_xasprintf("cannot start the job's worker: %s", uv_strerror(r));
        on_worker_done(job);
    }
}

/* ---- completion ---- */

/* outputs {"name": {"value": "..."}} (R RunServer.CompleteJobAsync). */
static json_t *job_outputs(struct rn_job *job)
{
    const char *result, *k;
    json_t *outputs = NULL, *o = json_object(), *v;

    rn_ghrep_result(job->ghrep, &result, &outputs);
    json_object_foreach(outputs, k, v)
    {
        json_object_set_new(o, k,
                            json_pack("{s:s,s:b}", "value",
                                      json_is_string(v) ? json_string_value(v) : "", "isSecret",
                                      false));
    }
    return o;
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

/* outputs {"name": {"value": "..."}} of a JobCompleted event (R VariableValue). */
static json_t *event_outputs(struct rn_job *job)
{
    json_t *o = job_outputs(job), *v;
    const char *k;

    json_object_foreach(o, k, v)
    {
        json_object_del(v, "isSecret");
    }
    return o;
}

/*
 * Classic completion: the JobCompleted plan event with the job token (plan
 * version >= 8), else the job request finished with the runner's token.
 */
static struct rn_req *classic_complete_req(struct rn_job *job)
{
    struct rn_req *req;
    json_t *body;
    char *url, *rel, ts[40];

    if (job->plan_version >= 8) {
        rel = gr_xasprintf("%s/_apis/distributedtask/hubs/%s/plans/%s/events", job->scope,
                           job->plan_type, job->msg.plan_id);
        url = rn_url_join(job->msg.url, rel);
        free(rel);
        req = rn_req_new("POST", url);
        rn_req_header(req, "Authorization: Bearer %s", job->msg.token);
        rn_req_header(req, "Accept: application/json; api-version=2.0-preview.1");
        body = json_pack("{s:s,s:s,s:I,s:s,s:o}", "name", "JobCompleted", "jobId", job->msg.job_id,
                         "requestId", (json_int_t)job->msg.request_id, "result", job->conclusion,
                         "outputs", event_outputs(job));
    } else {
        url = jobrequest_url(job);
        req = runner_req(job, "PATCH", url);
        gr_time_iso8601(ts, sizeof(ts));
        body = json_pack("{s:I,s:s,s:s}", "requestId", (json_int_t)job->msg.request_id,
                         "finishTime", ts, "result", job->conclusion);
    }
    if (req)
        rn_req_json(req, body);
    json_decref(body);
    free(url);
    return req;
}

static void complete_start(struct rn_job *job)
{
    int r;

    rn_req_timeout(job->complete_req, job->env.timing.request_timeout_ms);
    r = rn_http_start(job->env.http, job->complete_req, complete_done, job);
    if (r < 0)
        uv_timer_start(&job->complete_timer, on_complete_timer, job->env.timing.retry_base_ms, 0);
}

static void complete_send(struct rn_job *job)
{
    char *url;
    json_t *body;

    job->complete_tries++;
    rn_req_free(job->complete_req);
    job->complete_req = NULL;
    if (job->classic) {
        job->complete_req = classic_complete_req(job);
        if (!job->complete_req) { /* no runner token at the moment */
            uv_timer_start(&job->complete_timer, on_complete_timer, job->env.timing.retry_base_ms,
                           0);
            return;
        }
        complete_start(job);
        return;
    }
    url = rn_url_join(job->msg.url, "completejob");
    body = json_pack("{s:s,s:s,s:s,s:o,s:o,s:[]}", "planId", job->msg.plan_id, "jobId",
                     job->msg.job_id, "conclusion", job->conclusion, "outputs", job_outputs(job),
                     "stepResults", rn_ghrep_step_results(job->ghrep), "annotations");
    job->complete_req = rn_req_new("POST", url);
    rn_req_header(job->complete_req, "Authorization: Bearer %s", job->msg.token);
    rn_req_header(job->complete_req, "Accept: application/json");
    rn_req_json(job->complete_req, body);
    json_decref(body);
    free(url);
    complete_start(job);
}

/* ---- hooks (ACTIONS_RUNNER_HOOK_JOB_STARTED / _COMPLETED, section 15.2) ---- */

/* A hook runs as an extra always() script step of the job: add it to the message. */
static void add_hook(json_t *msg, const char *var, const char *display, bool first)
{
    const char *path = getenv(var);
    json_t *steps = rn_json_iget(msg, "steps"), *st;
    char guid[37], *q, *script;

    if (!path || !*path || !json_is_array(steps))
        return;
    rn_guid(guid);
    /* single-quoted for the shell: ' becomes '\'' */
    q = gr_xstrdup("");
    for (const char *c = path; *c; c++) {
        char *n = *c == '\'' ? gr_xasprintf("%s'\\''", q) : gr_xasprintf("%s%c", q, *c);

        free(q);
        q = n;
    }
    script = gr_xasprintf("%s '%s'\n", gr_endswith(path, ".sh") ? "bash -e" : "exec", q);
    st = json_pack("{s:s,s:s,s:s,s:s,s:{s:s},s:{s:i,s:[{s:s,s:s}]},s:s,s:s}", "type", "action",
                   "id", guid, "name", first ? "ghrun_hook_started" : "ghrun_hook_completed",
                   "contextName", first ? "ghrun_hook_started" : "ghrun_hook_completed",
                   "reference", "type", "script", "inputs", "type", 2, "map", "Key", "script",
                   "Value", script, "condition", "always()", "displayName", display);
    if (first)
        json_array_insert_new(steps, 0, st);
    else
        json_array_append_new(steps, st);
    free(script);
    free(q);
}

/* ---- lifecycle ---- */

static void on_kill_timer(uv_timer_t *t)
{
    struct rn_job *job = t->data;

    if (!job->worker_running)
        return;
    GR_LOG_WARN("job '%s': the worker did not stop after the cancellation; killing it",
                job->msg.display_name);
    (void)kill(-job->wp->proc.pid, SIGKILL);
}

void rn_job_cancel(struct rn_job *job, bool shutdown)
{
    if (job->cancelled || job->finished)
        return;
    job->cancelled = true;
    job->shutdown = shutdown;
    GR_LOG_INFO("cancelling job '%s'", job->msg.display_name);
    if (!job->renewed_once) {
        finish(job, GR_ECANCELED);
    } else if (job->worker_running) {
        /* the engine cancels on SIGINT: steps get SIGINT, then SIGTERM and SIGKILL */
        (void)kill(job->wp->proc.pid, SIGINT);
        uv_timer_start(&job->kill_timer, on_kill_timer, RN_WORKER_KILL_MS, 0);
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

/* data[key] of the SystemVssConnection endpoint (borrowed) or NULL. */
static const char *endpoint_data(const json_t *msg, const char *key)
{
    return rn_json_str(rn_json_iget(rn_jobmsg_system_endpoint(msg), "data"), key);
}

static char *results_base(const json_t *msg)
{
    const char *u = rn_json_str(
        rn_json_iget(rn_json_iget(msg, "variables"), "system.github.results_endpoint"), "value");

    if (!u)
        u = endpoint_data(msg, "ResultsServiceUrl");
    return u && *u ? rn_url_join(u, "") : NULL;
}

static void classic_init(struct rn_job *job, const json_t *msg)
{
    const json_t *plan = rn_json_iget(msg, "plan");
    const char *scope = rn_json_str(plan, "scopeIdentifier");
    const char *type = rn_json_str(plan, "planType");

    job->classic = job->env.classic;
    job->plan_version = (int)rn_json_int(plan, "version", 0);
    job->server_url = job->env.server_url ? rn_url_join(job->env.server_url, "") : NULL;
    job->scope = gr_xstrdup(scope ? scope : "00000000-0000-0000-0000-000000000000");
    job->plan_type = gr_xstrdup(type ? type : "Actions");
    if (job->classic && (!job->server_url || !job->msg.request_id))
        GR_LOG_WARN("classic job '%s' has no job request to renew", job->msg.display_name);
}

static void reporter_new(struct rn_job *job, const json_t *msg)
{
    const json_t *plan = rn_json_iget(msg, "plan");
    const char **ids = gr_xcalloc(job->msg.nsteps + 1, sizeof(*ids));
    const char **refs = gr_xcalloc(job->msg.nsteps + 1, sizeof(*refs));
    char *results = !job->classic && strcasecmp(job->msg.message_type ? job->msg.message_type : "",
                                                "PipelineAgentJobRequest")
                        ? results_base(msg)
                        : NULL;
    struct rn_ghrep_cfg cfg = {
        .loop = job->env.loop,
        .http = job->env.http,
        .url = job->msg.url,
        .token = job->msg.token,
        .plan_id = job->msg.plan_id,
        .job_id = job->msg.job_id,
        .timeline_id = job->msg.timeline_id ? job->msg.timeline_id : job->msg.job_id,
        .scope = rn_json_str(plan, "scopeIdentifier"),
        .plan_type = rn_json_str(plan, "planType"),
        .results_url = results,
        .worker_name = job->runner_name,
        .display_name = job->msg.display_name,
        .runner_version = job->env.runner_version,
        .feed_stream_url = endpoint_data(msg, "FeedStreamUrl"),
        .step_ids = ids,
        .step_refs = refs,
        .n_steps = job->msg.nsteps,
        .retry_ms = job->env.timing.retry_base_ms,
    };

    for (size_t i = 0; i < job->msg.nsteps; i++) {
        ids[i] = job->msg.steps[i].id ? job->msg.steps[i].id : "";
        refs[i] = job->msg.steps[i].name;
    }
    job->ghrep = rn_ghrep_new(&cfg);
    free(ids);
    free(refs);
    free(results);
}

int rn_job_start(const struct rn_job_env *env, const char *text, size_t len, rn_job_done_fn *cb,
                 void *ctx, struct rn_job **ret, struct gr_diag *reterr)
{
    struct rn_job *job;
    json_t *msg;
    int r;

    rn_trace_latency("listener: job acquired");
    msg = rn_json_parse(text, len, reterr);
    if (!json_is_object(msg)) {
        r = msg ? gr_diag_set(reterr, GR_EPROTO, NULL, 0, 0, "job message is not an object")
                : GR_EPARSE;
        json_decref(msg);
        rn_idle_worker_stop(env->idle);
        return r;
    }
    add_hook(msg, "ACTIONS_RUNNER_HOOK_JOB_STARTED", "Set up runner", true);
    add_hook(msg, "ACTIONS_RUNNER_HOOK_JOB_COMPLETED", "Complete runner", false);
    job = gr_xcalloc(1, sizeof(*job));
    job->t0_ns = uv_hrtime();
    job->text = json_dumps(msg, JSON_COMPACT);
    job->text_len = strlen(job->text);
    r = rn_jobmsg_parse(job->text, job->text_len, &job->msg, reterr);
    if (r < 0) {
        json_decref(msg);
        memset(job->text, 0, job->text_len);
        free(job->text);
        free(job);
        rn_idle_worker_stop(env->idle);
        return r;
    }
    job->env = *env;
    job->root = gr_xstrdup(env->root);
    job->work = gr_xstrdup(env->work);
    job->runner_name = gr_xstrdup(env->runner_name ? env->runner_name : "ghrun");
    job->cb = cb;
    job->ctx = ctx;
    job->line = GR_BUF_INIT(0);
    if (!job->msg.display_name)
        job->msg.display_name = gr_xstrdup(job->msg.job_id);
    classic_init(job, msg);
    init_timer(job, &job->renew_timer);
    init_timer(job, &job->kill_timer);
    init_timer(job, &job->complete_timer);
    /* the lock first: the rest of the set-up overlaps its round trip (the job waits for it) */
    renew_send(job);
    reporter_new(job, msg);
    json_decref(msg);
    r = open_log(job);
    if (r < 0)
        gr_log_warn_errno(r, "cannot open the job log in '%s/_diag', ignoring", job->root);
    GR_LOG_INFO("running job '%s'", job->msg.display_name);
    rn_trace_latency("listener: job set up");
    job_log(job, "##[job] '%s' (%s)", job->msg.display_name, job->msg.job_id);
    run_job(job);
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
    rn_ghrep_free(job->ghrep);
    if (job->log)
        fclose(job->log);
    if (job->text) {
        memset(job->text, 0, job->text_len);
        free(job->text);
    }
    free(job->worker_error);
    gr_buf_release(&job->line);
    rn_jobmsg_release(&job->msg);
    free(job->server_url);
    free(job->scope);
    free(job->plan_type);
    free(job->root);
    free(job->work);
    free(job->runner_name);
    job->freeing = true;
    if (job->wp)
        wp_close(job->wp, (uv_handle_t *)&job->wp->in);
    close_handle(job, (uv_handle_t *)&job->renew_timer);
    close_handle(job, (uv_handle_t *)&job->kill_timer);
    close_handle(job, (uv_handle_t *)&job->complete_timer);
}
