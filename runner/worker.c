/*
 * The job worker (see worker.h). Facts: actions/runner Runner.Worker/Worker.cs
 * (one job per process, the message arrives over a pipe), JobRunner.cs and
 * Handlers/ScriptHandler.cs, NodeScriptActionHandler.cs (ACTIONS_RUNTIME_URL,
 * ACTIONS_RUNTIME_TOKEN, ACTIONS_CACHE_URL, ACTIONS_RESULTS_URL, ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN
 * from the SystemVssConnection endpoint).
 */
#include "worker.h"
#include "actions_dl.h"
#include "artifact_client.h"
#include "http.h"
#include "jobmsg.h"
#include "memtrim.h"
#include "sandbox_config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <git2.h>

#define WK_MSG_MAX (64u << 20)

struct wk {
    int fd; /* events */
    char **masks;
    size_t n_masks;
};

void rn_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void strv_push(char ***v, size_t *n, char *s)
{
    *v = gr_xrealloc(*v, (*n + 2) * sizeof(**v));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

char *rn_worker_workspace(const json_t *msg, const char *work)
{
    const json_t *gh = rn_json_iget(rn_json_iget(msg, "contextData"), "github"), *pair;
    const char *repo = NULL, *name;
    size_t i;

    json_array_foreach(rn_json_iget(gh, "d"), i, pair)
    {
        const char *k = rn_json_str(pair, "k");
        json_t *v = rn_json_iget(pair, "v");

        if (k && !strcasecmp(k, "repository"))
            repo = json_is_string(v) ? json_string_value(v) : rn_json_str(v, "s");
    }
    name = repo && strchr(repo, '/') ? strchr(repo, '/') + 1 : repo;
    if (!name || !*name || strstr(name, "..") || strchr(name, '/'))
        name = "workspace";
    return gr_xasprintf("%s/%s/%s", work, name, name);
}

/* The job hooks (protocol_job.c adds them as steps): the operator's scripts, run on the host. */
static const char *const hook_steps[] = {"ghrun_hook_started", "ghrun_hook_completed", NULL};

void rn_worker_run_opts(const struct rn_worker_job *wj, struct ex_run_opts *o, char ***step_env)
{
    const json_t *ep = rn_jobmsg_system_endpoint(wj->msg);
    const json_t *data = rn_json_iget(ep, "data");
    const char *url = rn_json_str(ep, "url"), *pipelines = rn_json_str(data, "PipelinesServiceUrl");
    const char *token =
        rn_json_str(rn_json_iget(rn_json_iget(ep, "authorization"), "parameters"), "AccessToken");
    const char *cache = rn_json_str(data, "CacheServerUrl");
    const char *results = rn_json_str(data, "ResultsServiceUrl");
    const char *idtok = rn_json_str(data, "GenerateIdTokenUrl");
    char **env = NULL;
    size_t n = 0;

    memset(o, 0, sizeof(*o));
    o->max_jobs = 1;
    o->workdir = wj->workspace;
    o->state_dir = wj->state_dir;
    o->contexts = wj->spec->contexts;
    o->sandbox = wj->sandbox;
    o->host_steps = hook_steps;
    o->checkout_clones = true; /* the workspace starts empty */
    o->no_native_list = wj->no_native;
    o->persist = wj->persist;                 /* NULL: GHRUN_PERSIST */
    o->artifact_remote = &rn_artifact_client; /* artifacts go to the results service */
    rn_actions_dl_opts(wj->msg, o);
    if (url || pipelines)
        strv_push(&env, &n, gr_xasprintf("ACTIONS_RUNTIME_URL=%s", pipelines ? pipelines : url));
    if (token)
        strv_push(&env, &n, gr_xasprintf("ACTIONS_RUNTIME_TOKEN=%s", token));
    if (cache)
        strv_push(&env, &n, gr_xasprintf("ACTIONS_CACHE_URL=%s", cache));
    if (results)
        strv_push(&env, &n, gr_xasprintf("ACTIONS_RESULTS_URL=%s", results));
    if (idtok && token) {
        strv_push(&env, &n, gr_xasprintf("ACTIONS_ID_TOKEN_REQUEST_URL=%s", idtok));
        strv_push(&env, &n, gr_xasprintf("ACTIONS_ID_TOKEN_REQUEST_TOKEN=%s", token));
    }
    *step_env = env;
    o->step_env = (const char *const *)env;
}

/* ---- events ---- */

/* Every mask, longest first, and each line of multi-line ones (R masks lines too). */
static void masks_init(struct wk *w, const struct ex_jobspec *js)
{
    size_t n = 0;

    for (size_t i = 0; i < js->n_masks; i++) {
        const char *s = js->masks[i];

        strv_push(&w->masks, &n, gr_xstrdup(s));
        while (strchr(s, '\n')) {
            const char *nl = strchr(s, '\n');

            if (nl > s)
                strv_push(&w->masks, &n, gr_xstrndup(s, (size_t)(nl - s)));
            s = nl + 1;
        }
        if (s != js->masks[i] && *s)
            strv_push(&w->masks, &n, gr_xstrdup(s));
    }
    w->n_masks = n;
    for (size_t i = 1; i < n; i++) /* longest first: a secret containing another stays hidden */
        for (size_t j = i; j > 0 && strlen(w->masks[j]) > strlen(w->masks[j - 1]); j--) {
            char *t = w->masks[j];
            w->masks[j] = w->masks[j - 1];
            w->masks[j - 1] = t;
        }
}

static json_t *masked(const struct wk *w, const char *s, size_t len)
{
    struct gr_buf b = GR_BUF_INIT(len + 1);
    json_t *j;
    size_t i = 0;

    if (!s)
        return json_null();
    while (i < len) {
        size_t k, ml = 0;

        for (k = 0; k < w->n_masks; k++) {
            ml = strlen(w->masks[k]);
            if (ml && ml <= len - i && !memcmp(s + i, w->masks[k], ml))
                break;
        }
        if (k < w->n_masks) {
            if (gr_buf_adds(&b, "***") < 0)
                abort();
            i += ml;
        } else if (gr_buf_addch(&b, s[i++]) < 0) {
            abort();
        }
    }
    j = json_stringn(b.ptr ? b.ptr : "", b.len);
    if (!j) /* not UTF-8: keep it readable */
        j = json_string("<invalid UTF-8 output>");
    gr_buf_release(&b);
    return j;
}

static json_t *ms(const struct wk *w, const char *s)
{
    return masked(w, s, s ? strlen(s) : 0);
}

/* Mask every string in a JSON value (outputs); new reference. */
static json_t *masked_json(const struct wk *w, const json_t *v)
{
    const char *k;
    json_t *x, *o;
    size_t i;

    if (json_is_string(v))
        return masked(w, json_string_value(v), json_string_length(v));
    if (json_is_object(v)) {
        o = json_object();
        json_object_foreach((json_t *)v, k, x)
        {
            json_object_set_new(o, k, masked_json(w, x));
        }
        return o;
    }
    if (json_is_array(v)) {
        o = json_array();
        json_array_foreach(v, i, x)
        {
            json_array_append_new(o, masked_json(w, x));
        }
        return o;
    }
    return v ? json_incref((json_t *)v) : json_null();
}

static void emit(struct wk *w, json_t *ev)
{
    char *text = json_dumps(ev, JSON_COMPACT);
    size_t len = strlen(text), off = 0;

    text[len] = '\n'; /* json_dumps' NUL becomes the line end */
    while (off <= len) {
        ssize_t n = write(w->fd, text + off, len + 1 - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    free(text);
    json_decref(ev);
}

static void now(char *ts, size_t n)
{
    gr_time_iso8601(ts, n);
}

static void on_job_started(void *ctx, const void *job, const char *name)
{
    struct wk *w = ctx;

    (void)job;
    emit(w, json_pack("{s:s,s:o}", "e", "job_started", "name", ms(w, name)));
}

static void on_step_started(void *ctx, const void *job, int step, const char *name)
{
    struct wk *w = ctx;
    char ts[40];

    (void)job;
    now(ts, sizeof(ts));
    emit(w, json_pack("{s:s,s:i,s:o,s:s}", "e", "step_started", "i", step, "name", ms(w, name), "t",
                      ts));
}

static void on_log(void *ctx, const void *job, const char *line, size_t len)
{
    struct wk *w = ctx;
    char ts[40];

    (void)job;
    now(ts, sizeof(ts));
    emit(w, json_pack("{s:s,s:o,s:s}", "e", "log", "l", masked(w, line, len), "t", ts));
}

static void on_group(void *ctx, const void *job, const char *title, bool open)
{
    struct wk *w = ctx;

    (void)job;
    emit(w, json_pack("{s:s,s:o,s:b}", "e", "group", "title", ms(w, title), "open", open));
}

static void on_annotation(void *ctx, const void *job, const struct ex_annotation *a)
{
    struct wk *w = ctx;

    (void)job;
    emit(w, json_pack("{s:s,s:s,s:o,s:o,s:o,s:i,s:i,s:i,s:i}", "e", "annotation", "level",
                      a->level ? a->level : "error", "message", ms(w, a->message), "title",
                      ms(w, a->title), "file", ms(w, a->file), "line", a->line, "end_line",
                      a->end_line, "col", a->col, "end_col", a->end_col));
}

static void on_step_finished(void *ctx, const void *job, int step, enum ex_result outcome,
                             enum ex_result conclusion, uint64_t dur)
{
    struct wk *w = ctx;
    char ts[40];

    (void)job;
    (void)dur;
    now(ts, sizeof(ts));
    emit(w, json_pack("{s:s,s:i,s:s,s:s,s:s}", "e", "step_finished", "i", step, "outcome",
                      ex_result_name(outcome), "conclusion", ex_result_name(conclusion), "t", ts));
}

static void on_job_finished(void *ctx, const void *job, enum ex_result result, json_t *outputs,
                            uint64_t dur)
{
    struct wk *w = ctx;

    (void)job;
    (void)dur;
    emit(w, json_pack("{s:s,s:s,s:o}", "e", "job_finished", "result", ex_result_name(result),
                      "outputs", masked_json(w, outputs ? outputs : json_object())));
}

static void on_summary(void *ctx, const void *job, const char *md, size_t len)
{
    struct wk *w = ctx;

    (void)job;
    emit(w, json_pack("{s:s,s:o}", "e", "summary", "text", masked(w, md, len)));
}

/* SIGTERM or SIGINT that came while the worker was idle (idle_signals), else 0 */
static volatile sig_atomic_t stop_sig;

static int read_stdin(char **ret, size_t *ret_len)
{
    struct gr_buf b = GR_BUF_INIT(0);
    char chunk[65536];

    for (;;) {
        ssize_t n = read(0, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR && !stop_sig)
            continue;
        if (n < 0) {
            gr_buf_release(&b);
            return -errno;
        }
        if (n == 0)
            break;
        if (b.len + (size_t)n > WK_MSG_MAX || gr_buf_add(&b, chunk, (size_t)n) < 0) {
            gr_buf_release(&b);
            return -E2BIG;
        }
    }
    *ret_len = b.len;
    *ret = gr_buf_detach(&b, NULL);
    return 0;
}

static int fail(struct wk *w, const char *fmt, ...) GR_PRINTF(2, 3);

static int fail(struct wk *w, const char *fmt, ...)
{
    struct gr_buf b = GR_BUF_INIT(0);
    va_list ap;

    va_start(ap, fmt);
    if (gr_buf_vaddf(&b, fmt, ap) < 0)
        abort();
    va_end(ap);
    GR_LOG_ERR("%s", b.ptr);
    emit(w, json_pack("{s:s,s:o}", "e", "error", "message", ms(w, b.ptr)));
    gr_buf_release(&b);
    return 1;
}

/* The job-independent set-up, done before the message comes (an idle worker does it ahead). */
struct wk_prep {
    struct rn_sandbox_config sc;
    struct sb_policy policy;
    struct ex_gpu_slots gpus;
    bool have_gpus; /* the settings name GPU slots */
    bool sandboxed;
    int err; /* loading <root>/.sandbox failed: reported once the job is known */
    char errmsg[700];
    struct sb_job *next; /* --prepare: the sandbox of a job of the last job's repository */
};

/*
 * The repository name of the runner's last job, in <work>/WK_NEXT_FILE: the next job is most
 * likely of the same one, so an idle worker prepares the sandbox for its workspace. Steps
 * cannot write the file (<work> is read-only to them); a job of another repository, or any
 * other difference in the policy, discards the prepared sandbox (ex_run_opts.sandbox_ready).
 */
#define WK_NEXT_FILE ".ghrun-next-workspace"

static void next_record(const char *work, const char *ws)
{
    const char *name = strrchr(ws, '/') ? strrchr(ws, '/') + 1 : ws;
    char *path = gr_path_join(work, WK_NEXT_FILE), *text = gr_xasprintf("%s\n", name);
    int r = gr_file_write_atomic(path, text, strlen(text), 0644);

    if (r < 0)
        gr_log_warn_errno(r, "cannot write '%s', ignoring", path);
    free(text);
    free(path);
}

/* <work>/NAME/NAME of the last job, or NULL. Owned. */
static char *next_workspace(const char *work)
{
    char *path = gr_path_join(work, WK_NEXT_FILE), *text = NULL, *ws = NULL;
    size_t len = 0;

    if (gr_file_read(path, 256, &text, &len) == 0) {
        text[strcspn(text, "\r\n")] = '\0';
        if (*text && !strstr(text, "..") && !strchr(text, '/'))
            ws = gr_xasprintf("%s/%s/%s", work, text, text);
    }
    free(text);
    free(path);
    return ws;
}

/* The options rn_worker_run_opts gives the engine, as far as the job's sandbox goes. */
static void prep_sandbox(struct wk_prep *p, const char *work)
{
    char *ws = next_workspace(work), *state = gr_path_join(work, "_ghrun");
    const char *adir = getenv("GHRUN_ACTION_DIR");
    struct ex_run_opts o = {
        .workdir = ws,
        .state_dir = state,
        .sandbox = &p->policy,
        .checkout_clones = true,
        .action_dir = adir && *adir ? adir : NULL,
    };
    int r;

    /* what a worker killed with its sandbox made left (their private dirs' parent) */
    sb_job_sweep_stale(p->policy.state_dir);
    if (ws && gr_mkdir_p(ws, 0755) == 0 && gr_mkdir_p(state, 0755) == 0) {
        r = ex_sandbox_prepare(&o, &p->next);
        if (r < 0)
            GR_LOG_DEBUG("worker: no prepared sandbox: %s", sb_last_error());
    }
    free(state);
    free(ws);
}

static void prep_init(struct wk_prep *p, const char *root, const char *work, bool prepare)
{
    struct gr_diag d = {0};

    memset(p, 0, sizeof(*p));
    /*
     * libgit2 stays initialised for the worker's life: each first initialisation makes its TLS
     * back end parse the whole system CA bundle (tens of ms), and building every job's github
     * context initialises and shuts it down again.
     */
    git_libgit2_init();
    if (!root)
        return;
    p->err = rn_sandbox_config_load(root, &p->sc, &d);
    if (p->err < 0) {
        gr_diag_format(&d, p->errmsg, sizeof(p->errmsg));
        return;
    }
    rn_config_sandbox_policy(&p->sc, &p->policy);
    p->have_gpus = rn_config_gpu_slots(&p->sc, &p->gpus) > 0;
    p->sandboxed = true;
    if (prepare)
        prep_sandbox(p, work);
}

static int run_job(struct wk *w, const json_t *msg, const char *work, struct wk_prep *prep)
{
    struct ex_jobspec *js = NULL;
    struct gr_diag d = {0};
    struct ex_run_opts o;
    struct rn_worker_job wj = {.msg = msg, .work = work};
    struct ex_reporter rep = {
        .ctx = w,
        .job_started = on_job_started,
        .step_started = on_step_started,
        .log_line = on_log,
        .group = on_group,
        .annotation = on_annotation,
        .step_finished = on_step_finished,
        .job_finished = on_job_finished,
        .summary = on_summary,
    };
    char msgbuf[700], **step_env = NULL, *ws = rn_worker_workspace(msg, work);
    char *state = gr_path_join(work, "_ghrun");
    uv_loop_t loop;
    bool ok = false;
    int r, rc = 0;

    r = gr_mkdir_p(ws, 0755);
    if (r < 0) {
        rc = fail(w, "cannot create the workspace '%s': %s", ws, gr_strerror(r));
        goto out;
    }
    r = ex_jobspec_build(msg, ws, &js, &d);
    rn_trace_latency("worker: job decoded");
    if (r < 0) {
        gr_diag_format(&d, msgbuf, sizeof(msgbuf));
        rc = fail(w, "%s", msgbuf);
        goto out;
    }
    masks_init(w, js);
    if (prep->err < 0) {
        rc = fail(w, "the runner's sandbox settings: %s", prep->errmsg);
        goto out;
    }
    if (prep->sandboxed)
        wj.sandbox = &prep->policy;
    wj.no_native = prep->sc.no_native; /* zero when there is no .sandbox */
    wj.persist = prep->sc.persist;
    wj.spec = js;
    wj.workspace = ws;
    wj.state_dir = state;
    rn_worker_run_opts(&wj, &o, &step_env);
    o.trace = rn_trace_latency;
    o.sandbox_ready = &prep->next;
    o.limit_rules = prep->sc.rules;
    o.n_limit_rules = prep->sc.n_rules;
    o.gpus = prep->have_gpus ? &prep->gpus : NULL;
    uv_loop_init(&loop);
    r = ex_run_plan(&loop, js->plan, &o, &rep, &ok);
    if (uv_loop_close(&loop) < 0)
        GR_LOG_WARN("the job's loop still had handles at the end");
    if (r < 0)
        rc = fail(w, "the job could not run: %s", gr_strerror(r));
    next_record(work, ws);
out:
    rn_strv_free(step_env);
    ex_jobspec_free(js);
    free(state);
    free(ws);
    return rc;
}

static void on_stop(int sig)
{
    stop_sig = sig;
}

/*
 * SIGTERM/SIGINT while idle end the wait (the listener stopping this worker) instead of the
 * process, so that a prepared sandbox is torn down; the engine installs its own for the job.
 */
static void idle_signals(bool on)
{
    struct sigaction sa = {.sa_handler = on ? on_stop : SIG_DFL};

    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGTERM, &sa, NULL);
    (void)sigaction(SIGINT, &sa, NULL);
}

int rn_worker_main(const char *work, const char *root, bool prepare)
{
    struct wk w = {0};
    json_t *msg;
    char *text = NULL;
    size_t len = 0;
    struct gr_diag d = {0};
    struct wk_prep prep;
    char buf[700];
    int r, rc;

    /* events get the original stdout; anything else printed goes to stderr */
    w.fd = dup(1);
    if (w.fd < 0 || dup2(2, 1) < 0) {
        GR_LOG_ERR("worker: cannot set up the event pipe");
        return 1;
    }
    idle_signals(true);
    prep_init(&prep, root, work, prepare);
    /* an idle worker waits here for its job, holding only what it will use again */
    (void)rn_mem_trim(NULL);
    r = stop_sig ? -EINTR : read_stdin(&text, &len);
    rn_trace_latency("worker: job received");
    if (r == 0 && len > 0) {
        idle_signals(false); /* the job's: the engine handles them while it runs */
        if (stop_sig) {
            /* the message came, and the signal with it: as before, the signal ends the worker */
            sb_job_free(prep.next);
            prep.next = NULL;
            raise(stop_sig);
        }
    } else if (stop_sig || r == 0) {
        /* the listener stopped this idle worker (EOF, then SIGTERM): the handlers stay until
         * the prepared sandbox is torn down */
        rc = 0;
        goto out;
    }
    if (r < 0) {
        rc = fail(&w, "cannot read the job message: %s", gr_strerror(r));
        goto out;
    }
    msg = rn_json_parse(text, len, &d);
    if (!msg) {
        gr_diag_format(&d, buf, sizeof(buf));
        rc = fail(&w, "the job message is not JSON: %s", buf);
        goto out;
    }
    rc = run_job(&w, msg, work, &prep);
    json_decref(msg);
out:
    sb_job_free(prep.next); /* not taken: no job, or a job that asked for another */
    rn_sandbox_config_release(&prep.sc);
    git_libgit2_shutdown();
    if (text) {
        memset(text, 0, len);
        free(text);
    }
    for (size_t i = 0; i < w.n_masks; i++)
        free(w.masks[i]);
    free(w.masks);
    close(w.fd);
    return rc;
}

int rn_worker_cmd(int argc, char **argv)
{
    const char *root = NULL, *work = NULL;
    bool bad = false, prepare = false;

    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--root") && i + 1 < argc)
            root = argv[++i];
        else if (!strcmp(argv[i], "--work") && i + 1 < argc)
            work = argv[++i];
        else if (!strcmp(argv[i], "--prepare"))
            prepare = true;
        else
            bad = true;
    }
    if (bad || !work || work[0] != '/') {
        fprintf(stderr, "ghrun-engine " RN_WORKER_CMD ": internal; usage: " RN_WORKER_CMD
                        " [--root ROOT] --work ABSOLUTE_DIR [--prepare] (started by `ghrun"
                        " run`)\n");
        return 2;
    }
    return rn_worker_main(work, root, prepare);
}
