/*
 * The GitHub reporter (see reporter_github.h). Step states and conclusions as
 * R Sdk/WebApi/WebApi/Contracts.cs (Status 3 in progress, 6 completed;
 * Conclusion 2 success, 3 failure, 4 cancelled, 7 skipped) and
 * Sdk/DTWebApi/WebApi/TimelineRecord.cs, Issue.cs (classic records).
 */
#include "reporter_github.h"
#include "http.h"
#include "protocol.h"
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GH_FEED_MAX_LINES 100    /* R: at most 100 lines per feed call */
#define GH_FEED_MAX_QUEUE 64     /* sealed batches kept while one is in flight */
#define GH_ISSUES_MAX 10         /* R: at most 10 issues per type per record */
#define GH_TIMELINE_DEBOUNCE 250 /* ms */
#define GH_WS_CONNECT_TRIES 3    /* R ResultsServer.ConnectWebSocketClient */
#define GH_WS_MIN_BATCHES 5      /* R JobServer: judge the socket after this many batches ... */
#define GH_WS_MAX_FAIL_PCT 50    /* ... and give it up above this failure rate */
#define GH_SUMMARY_TYPE "Checks.Step.Summary" /* R TaskAttachment.cs ChecksAttachmentType */
#define GH_RESULTS "twirp/results.services.receiver.Receiver/"
#define GH_STEPS_UPDATE                                                                            \
    "twirp/github.actions.results.api.v1.WorkflowStepUpdateService/WorkflowStepsUpdate"

enum rec_state { REC_PENDING, REC_RUNNING, REC_DONE };
enum rec_kind { REC_STEP, REC_SETUP, REC_COMPLETE };
enum ws_state { FEED_WS_NONE, FEED_WS_CONNECTING, FEED_WS_OPEN };

struct rec {
    char *id, *name, *ref;
    int order;
    enum rec_state state;
    const char *result; /* TaskResult name */
    char started[40], finished[40];
    json_t *annotations, *issues;
    int errors, warnings, notices;
    struct gr_buf log;
    size_t lines, feed_sent;
    long long log_id; /* classic log id, 0 = none */
    enum rec_kind kind;
};

struct op;
typedef bool op_done_fn(struct op *op, bool ok, const json_t *resp);

struct op {
    struct rn_ghrep *g;
    struct rn_req *req;
    op_done_fn *done;
    int rec; /* record index, -1 for the job log */
    int stage;
    char *data;
    size_t len, lines;
    struct op *next, *prev;
};

struct rn_ghrep {
    struct rn_ghrep_cfg cfg;
    struct ex_reporter rep;
    char *p_base;                 /* classic {P}/ */
    char **step_ids, **step_refs; /* owned copies */
    struct rec *recs;
    size_t n_recs;
    int cur; /* running record or -1 */
    int order;
    struct gr_buf joblog;
    size_t job_lines;
    /* live console */
    json_t *feed_lines; /* lines of feed_rec not yet in a batch */
    json_t *feed_queue; /* sealed batches of earlier records, oldest first */
    int feed_rec;
    size_t feed_start;
    bool feed_off, feed_busy;
    uv_timer_t feed_timer;
    /* live console over the websocket */
    struct rn_ws *ws;
    enum ws_state ws_state;
    unsigned ws_connects, ws_batches, ws_failures;
    uv_timer_t ws_timer;
    /* the job record (classic) */
    char job_started[40], job_finished[40];
    const char *job_result;
    int last_done;               /* the record that finished last, -1 */
    int setup_rec, complete_rec; /* "Set up job", "Complete job"; -1 until made */
    /* timeline */
    bool tl_dirty, tl_busy;
    long long change_order;
    uv_timer_t tl_timer;
    /* end */
    bool have_result;
    char result[16];
    json_t *outputs;
    struct op *ops;
    void (*finish_cb)(void *);
    void *finish_ctx;
    uv_timer_t finish_timer;
    uint64_t finish_deadline;
    bool finishing;
    int open_handles;
    bool freeing;
};

static void tl_schedule(struct rn_ghrep *g);
static void feed_flush(struct rn_ghrep *g);
static void on_feed_timer(uv_timer_t *t);
static void maybe_finished(struct rn_ghrep *g);

static char *xdup(const char *s)
{
    return gr_xstrdup(s ? s : "");
}

static void addb(struct gr_buf *b, const char *s, size_t n)
{
    if (gr_buf_add(b, s, n) < 0)
        abort();
}

/* ---- requests ---- */

static void op_free(struct op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        op->g->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    rn_req_free(op->req);
    free(op->data);
    free(op);
}

static void op_cb(struct rn_req *req, int status, void *ctx)
{
    struct op *op = ctx;
    struct rn_ghrep *g = op->g;
    bool ok = status == 0 && rn_req_ok(req);
    const struct gr_buf *b = rn_req_resp(req);
    json_t *resp = ok && b && b->len ? rn_json_parse(b->ptr, b->len, NULL) : NULL;

    if (!ok)
        GR_LOG_DEBUG("%s %s: %s (HTTP %ld)", rn_req_method(req), rn_req_url(req),
                     status < 0 ? gr_strerror(status) : "response", rn_req_status(req));
    if (!op->done || !op->done(op, ok, resp))
        op_free(op);
    json_decref(resp);
    maybe_finished(g);
}

static struct op *op_new(struct rn_ghrep *g, op_done_fn *done, int rec)
{
    struct op *op = gr_xcalloc(1, sizeof(*op));

    op->g = g;
    op->done = done;
    op->rec = rec;
    op->next = g->ops;
    if (g->ops)
        g->ops->prev = op;
    g->ops = op;
    return op;
}

/* Start op's next request; body: JSON (borrowed) or raw data. Returns false if not started. */
static bool op_send(struct op *op, const char *method, const char *url, const json_t *body,
                    const char *raw, size_t rawlen, bool blob)
{
    struct rn_ghrep *g = op->g;

    rn_req_free(op->req);
    op->req = rn_req_new(method, url);
    if (!blob)
        rn_req_header(op->req, "Authorization: Bearer %s", g->cfg.token);
    rn_req_header(op->req, "Accept: application/json");
    if (blob)
        rn_req_header(op->req, "x-ms-blob-type: BlockBlob");
    if (body)
        rn_req_json(op->req, body);
    else if (raw)
        rn_req_body(op->req, blob ? "text/plain" : "application/octet-stream", raw, rawlen);
    rn_req_timeout(op->req, 30000);
    rn_req_retry(op->req, 4, g->cfg.retry_ms, NULL);
    return rn_http_start(g->cfg.http, op->req, op_cb, op) == 0;
}

static char *results_url(struct rn_ghrep *g, const char *method)
{
    char *rel = gr_xasprintf(GH_RESULTS "%s", method);
    char *u = rn_url_join(g->cfg.results_url, rel);

    free(rel);
    return u;
}

/* ---- records ---- */

static const char *task_result(const char *ex)
{
    if (!strcmp(ex, "success"))
        return "succeeded";
    if (!strcmp(ex, "failure"))
        return "failed";
    if (!strcmp(ex, "cancelled"))
        return "canceled";
    return "skipped";
}

static int new_rec(struct rn_ghrep *g, const char *id, const char *ref)
{
    struct rec *r;
    char guid[37];

    g->recs = gr_xrealloc(g->recs, (g->n_recs + 1) * sizeof(*g->recs));
    r = &g->recs[g->n_recs];
    memset(r, 0, sizeof(*r));
    if (!id) {
        rn_guid(guid);
        id = guid;
    }
    r->id = xdup(id);
    r->ref = xdup(ref);
    r->name = xdup(ref);
    r->order = ++g->order;
    r->annotations = json_array();
    r->issues = json_array();
    r->log = GR_BUF_INIT(0);
    return (int)g->n_recs++;
}

/* Record for engine step i: the message's record the first time, a new one (post) after. */
static int rec_for_step(struct rn_ghrep *g, int step)
{
    if (step >= 0 && (size_t)step < g->cfg.n_steps) {
        const char *id = g->cfg.step_ids[step];

        for (size_t i = 0; i < g->n_recs; i++)
            if (!strcmp(g->recs[i].id, id)) {
                if (g->recs[i].state == REC_PENDING)
                    return (int)i;
                return new_rec(g, NULL, g->recs[i].ref);
            }
        return new_rec(g, id, g->cfg.step_refs ? g->cfg.step_refs[step] : NULL);
    }
    return new_rec(g, NULL, "__runner_step");
}

static json_t *timeline_record(struct rn_ghrep *g, const struct rec *r)
{
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s?,s:s?,s:s?,s:i,s:i,s:i,s:O}", "id", r->id,
                  "parentId", g->cfg.job_id, "type", "Task", "name", r->name, "refName", r->ref,
                  "order", r->order, "state",
                  r->state == REC_DONE      ? "completed"
                  : r->state == REC_RUNNING ? "inProgress"
                                            : "pending",
                  "result", r->result, "startTime", r->started[0] ? r->started : NULL, "finishTime",
                  r->finished[0] ? r->finished : NULL, "errorCount", r->errors, "warningCount",
                  r->warnings, "noticeCount", r->notices, "issues", r->issues);

    json_object_set_new(o, "workerName",
                        json_string(g->cfg.worker_name ? g->cfg.worker_name : "ghrun"));
    if (r->state == REC_DONE)
        json_object_set_new(o, "percentComplete", json_integer(100));
    if (r->log_id)
        json_object_set_new(o, "log", json_pack("{s:I}", "id", (json_int_t)r->log_id));
    return o;
}

/* The job's own record (R ExecutionContext: jobContext.Start() and Complete()). */
static json_t *job_record(struct rn_ghrep *g)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", g->cfg.job_id, "type", "Job", "name",
                          g->cfg.display_name ? g->cfg.display_name : g->cfg.job_id, "state",
                          g->job_result ? "completed" : "inProgress", "startTime", g->job_started,
                          "workerName", g->cfg.worker_name ? g->cfg.worker_name : "ghrun");

    if (g->job_result) {
        json_object_set_new(o, "result", json_string(g->job_result));
        json_object_set_new(o, "finishTime", json_string(g->job_finished));
        json_object_set_new(o, "percentComplete", json_integer(100));
    }
    return o;
}

static int results_status(const struct rec *r)
{
    return r->state == REC_DONE ? 6 : r->state == REC_RUNNING ? 3 : 5;
}

static int results_conclusion(const struct rec *r)
{
    if (!r->result)
        return 0;
    if (!strcmp(r->result, "succeeded"))
        return 2;
    if (!strcmp(r->result, "failed"))
        return 3;
    if (!strcmp(r->result, "canceled"))
        return 4;
    return 7;
}

static json_t *results_step(const struct rec *r)
{
    json_t *o = json_pack("{s:s,s:i,s:s,s:i}", "external_id", r->id, "number", r->order, "name",
                          r->name, "status", results_status(r));

    if (r->started[0])
        json_object_set_new(o, "started_at", json_string(r->started));
    if (r->finished[0])
        json_object_set_new(o, "completed_at", json_string(r->finished));
    if (r->result)
        json_object_set_new(o, "conclusion", json_integer(results_conclusion(r)));
    return o;
}

/* ---- timeline ---- */

static bool tl_done(struct op *op, bool ok, const json_t *resp)
{
    struct rn_ghrep *g = op->g;

    (void)resp;
    g->tl_busy = false;
    if (!ok)
        GR_LOG_WARN("cannot update the job's timeline; will send it again with the next change");
    if (g->tl_dirty)
        tl_schedule(g);
    return false;
}

static void tl_send(struct rn_ghrep *g)
{
    struct op *op;
    json_t *body, *arr = json_array();
    char *url;

    if (g->tl_busy || !g->tl_dirty)
        return;
    g->tl_dirty = false;
    g->tl_busy = true;
    op = op_new(g, tl_done, -1);
    if (g->cfg.results_url) {
        for (size_t i = 0; i < g->n_recs; i++)
            json_array_append_new(arr, results_step(&g->recs[i]));
        body = json_pack("{s:s,s:s,s:I,s:o}", "workflow_run_backend_id", g->cfg.plan_id,
                         "workflow_job_run_backend_id", g->cfg.job_id, "change_order",
                         (json_int_t)++g->change_order, "steps", arr);
        url = rn_url_join(g->cfg.results_url, GH_STEPS_UPDATE);
        if (!op_send(op, "POST", url, body, NULL, 0, false))
            tl_done(op, false, NULL), op_free(op);
    } else {
        char *rel = gr_xasprintf("timelines/%s/records", g->cfg.timeline_id);

        json_array_append_new(arr, job_record(g));
        for (size_t i = 0; i < g->n_recs; i++)
            json_array_append_new(arr, timeline_record(g, &g->recs[i]));
        body = json_pack("{s:I,s:o}", "count", (json_int_t)json_array_size(arr), "value", arr);
        url = rn_url_join(g->p_base, rel);
        free(rel);
        if (!op_send(op, "PATCH", url, body, NULL, 0, false))
            tl_done(op, false, NULL), op_free(op);
    }
    json_decref(body);
    free(url);
}

static void on_tl_timer(uv_timer_t *t)
{
    tl_send(t->data);
}

static void tl_schedule(struct rn_ghrep *g)
{
    g->tl_dirty = true;
    if (!g->tl_busy && !uv_is_active((uv_handle_t *)&g->tl_timer))
        uv_timer_start(&g->tl_timer, on_tl_timer, g->finishing ? 0 : GH_TIMELINE_DEBOUNCE, 0);
}

/* ---- live console ---- */

static void ws_connect(struct rn_ghrep *g);

static bool feed_done(struct op *op, bool ok, const json_t *resp)
{
    struct rn_ghrep *g = op->g;
    long code = rn_req_status(op->req);

    (void)ok;
    (void)resp;
    g->feed_busy = false;
    if (code == 404 || code == 405) {
        GR_LOG_INFO("the server has no live console feed for this job (HTTP %ld)", code);
        g->feed_off = true;
        if (g->ws_state != FEED_WS_OPEN) {
            json_array_clear(g->feed_lines);
            json_array_clear(g->feed_queue);
        }
    }
    if (json_array_size(g->feed_queue))
        feed_flush(g); /* batches of finished steps go without waiting */
    else if (json_array_size(g->feed_lines) && !uv_is_active((uv_handle_t *)&g->feed_timer))
        uv_timer_start(&g->feed_timer, on_feed_timer, g->finishing ? 0 : g->cfg.feed_ms, 0);
    return false;
}

static void on_ws_timer(uv_timer_t *t)
{
    ws_connect(t->data);
}

/* The socket failed (or a batch could not be queued): reconnect soon, or give it up. */
static void ws_failed(struct rn_ghrep *g)
{
    g->ws_failures++;
    rn_ws_free(g->ws);
    g->ws = NULL;
    if (g->ws_batches > GH_WS_MIN_BATCHES &&
        g->ws_failures * 100 / g->ws_batches > GH_WS_MAX_FAIL_PCT) {
        GR_LOG_INFO("the live console websocket failed %u of %u times; using the HTTP feed",
                    g->ws_failures, g->ws_batches);
        g->ws_state = FEED_WS_NONE;
        return;
    }
    /* R: a random backoff of 100-500 ms before connecting again */
    g->ws_state = FEED_WS_CONNECTING;
    g->ws_connects = 0;
    uv_timer_start(&g->ws_timer, on_ws_timer, 100 + (uint64_t)random() % 401, 0);
}

static void ws_event(struct rn_ws *ws, int status, void *ctx)
{
    struct rn_ghrep *g = ctx;

    (void)ws;
    if (status == 0) {
        GR_LOG_DEBUG("live console websocket connected");
        g->ws_state = FEED_WS_OPEN;
        feed_flush(g);
        return;
    }
    if (g->ws_state == FEED_WS_OPEN) {
        GR_LOG_DEBUG("live console websocket closed: %s", gr_strerror(status));
        ws_failed(g);
    } else if (g->ws_connects < GH_WS_CONNECT_TRIES) {
        rn_ws_free(g->ws);
        g->ws = NULL;
        uv_timer_start(&g->ws_timer, on_ws_timer, 100 + (uint64_t)random() % 401, 0);
    } else {
        GR_LOG_INFO("cannot connect the live console websocket (%s); using the HTTP feed",
                    gr_strerror(status));
        rn_ws_free(g->ws);
        g->ws = NULL;
        g->ws_state = FEED_WS_NONE;
    }
    /* lines that waited for the socket go by HTTP now */
    if (g->ws_state != FEED_WS_CONNECTING || g->finishing)
        feed_flush(g);
}

static void ws_connect(struct rn_ghrep *g)
{
    char *auth = gr_xasprintf("Authorization: Bearer %s", g->cfg.token);
    char *ua = gr_xasprintf("User-Agent: GitHubActionsRunner-linux-x64/%s",
                            g->cfg.runner_version ? g->cfg.runner_version : "ghrun");
    const char *hdrs[] = {auth, ua, NULL};
    struct rn_ws_opts o = {.url = g->cfg.feed_stream_url,
                           .headers = hdrs,
                           .cafile = rn_http_cafile(g->cfg.http),
                           .timeout_ms = 30000, /* R: 30 s per connect */
                           .cb = ws_event,
                           .ctx = g};
    int r;

    g->ws_connects++;
    g->ws_state = FEED_WS_CONNECTING;
    r = rn_ws_connect(g->cfg.loop, &o, &g->ws);
    if (r < 0) {
        GR_LOG_INFO("cannot use the live console websocket '%s' (%s); using the HTTP feed",
                    g->cfg.feed_stream_url, gr_strerror(r));
        g->ws = NULL;
        g->ws_state = FEED_WS_NONE;
    }
    free(auth);
    free(ua);
}

/* Take the next batch (at most 100 lines of one step) as a feed body. */
static json_t *feed_batch(struct rn_ghrep *g)
{
    json_t *batch = json_array();
    size_t n = json_array_size(g->feed_lines);
    json_t *body;

    if (n > GH_FEED_MAX_LINES)
        n = GH_FEED_MAX_LINES;
    for (size_t i = 0; i < n; i++)
        json_array_append(batch, json_array_get(g->feed_lines, i));
    for (size_t i = 0; i < n; i++)
        json_array_remove(g->feed_lines, 0);
    /* R TimelineRecordFeedLinesWrapper: count, value, stepId, startLine */
    body = json_pack("{s:I,s:o,s:s,s:I}", "count", (json_int_t)n, "value", batch, "stepId",
                     g->recs[g->feed_rec].id, "startLine", (json_int_t)g->feed_start);
    g->feed_start += n;
    return body;
}

/* Over the websocket; false when the batch has to go by HTTP. */
static bool feed_ws_send(struct rn_ghrep *g, const json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    int r = rn_ws_send_text(g->ws, text, strlen(text));

    free(text);
    g->ws_batches++;
    if (r == 0)
        return true;
    GR_LOG_DEBUG("live console websocket: %s; this batch goes by HTTP", gr_strerror(r));
    ws_failed(g);
    return false;
}

static void feed_http(struct rn_ghrep *g, const json_t *body)
{
    char *rel = gr_xasprintf("timelines/%s/records/%s/feed", g->cfg.timeline_id, g->cfg.job_id);
    char *url = rn_url_join(g->p_base, rel);
    struct op *op = op_new(g, feed_done, -1);

    g->feed_busy = true;
    if (!op_send(op, "POST", url, body, NULL, 0, false)) {
        feed_done(op, false, NULL);
        op_free(op);
    }
    free(rel);
    free(url);
}

/* The next batch to send (new reference): the oldest sealed one, else from the current lines. */
static json_t *feed_next(struct rn_ghrep *g)
{
    json_t *body;

    if (json_array_size(g->feed_queue)) {
        body = json_incref(json_array_get(g->feed_queue, 0));
        json_array_remove(g->feed_queue, 0);
        return body;
    }
    return json_array_size(g->feed_lines) ? feed_batch(g) : NULL;
}

static void feed_flush(struct rn_ghrep *g)
{
    json_t *body;

    if (g->ws_state == FEED_WS_CONNECTING && !g->finishing)
        return; /* R awaits the connect before sending; ws_event flushes */
    while (g->ws_state == FEED_WS_OPEN && (body = feed_next(g))) {
        if (!feed_ws_send(g, body)) {
            /* R JobServer.AppendTimelineRecordFeedAsync: this batch by HTTP instead */
            if (!g->feed_busy && !g->feed_off)
                feed_http(g, body);
            json_decref(body);
            return;
        }
        json_decref(body);
    }
    if (g->feed_busy || g->feed_off)
        return;
    body = feed_next(g);
    if (body)
        feed_http(g, body);
    json_decref(body);
}

static void on_feed_timer(uv_timer_t *t)
{
    feed_flush(t->data);
}

static void feed_push(struct rn_ghrep *g, int rec, const char *line, size_t len)
{
    json_t *s;

    if (g->feed_off && g->ws_state == FEED_WS_NONE)
        return;
    if (rec != g->feed_rec) {
        /* a new step: what is left of the previous one becomes sealed batches, sent now */
        while (json_array_size(g->feed_lines))
            json_array_append_new(g->feed_queue, feed_batch(g));
        while (json_array_size(g->feed_queue) > GH_FEED_MAX_QUEUE)
            json_array_remove(g->feed_queue, 0); /* best effort, as R's console */
        g->feed_rec = rec;
        g->feed_start = g->recs[rec].lines + 1; /* 1-based */
        uv_timer_stop(&g->feed_timer);
        feed_flush(g);
    }
    s = json_stringn(line, len);
    json_array_append_new(g->feed_lines, s ? s : json_string(""));
    if (!g->feed_busy && !uv_is_active((uv_handle_t *)&g->feed_timer))
        uv_timer_start(&g->feed_timer, on_feed_timer, g->cfg.feed_ms, 0);
}

/* ---- logs ---- */

/* stage 0: get URL (results) / create log (classic); 1: upload; 2: metadata (results). */
static bool log_done(struct op *op, bool ok, const json_t *resp)
{
    struct rn_ghrep *g = op->g;
    const char *step_id = op->rec >= 0 ? g->recs[op->rec].id : NULL;
    char ts[40], *url = NULL, *rel;
    json_t *body = NULL;
    bool sent = false;

    if (!ok) {
        GR_LOG_WARN("cannot upload the %s log (stage %d)", step_id ? "step" : "job", op->stage);
        return false;
    }
    op->stage++;
    if (g->cfg.results_url && op->stage == 1) {
        const char *u = rn_json_str(resp, "logs_url");

        if (!u) {
            GR_LOG_WARN("the results service gave no logs_url");
            return false;
        }
        sent = op_send(op, "PUT", u, NULL, op->data, op->len, true);
    } else if (g->cfg.results_url && op->stage == 2) {
        gr_time_iso8601(ts, sizeof(ts));
        body = json_pack("{s:s,s:s,s:s,s:I}", "workflow_run_backend_id", g->cfg.plan_id,
                         "workflow_job_run_backend_id", g->cfg.job_id, "uploaded_at", ts,
                         "line_count", (json_int_t)op->lines);
        if (step_id)
            json_object_set_new(body, "step_backend_id", json_string(step_id));
        url = results_url(g, step_id ? "CreateStepLogsMetadata" : "CreateJobLogsMetadata");
        sent = op_send(op, "POST", url, body, NULL, 0, false);
    } else if (!g->cfg.results_url && op->stage == 1) {
        long long id = rn_json_int(resp, "id", 0);

        if (!id)
            return false;
        if (op->rec >= 0) {
            g->recs[op->rec].log_id = id;
            tl_schedule(g);
        }
        rel = gr_xasprintf("logs/%lld", id);
        url = rn_url_join(g->p_base, rel);
        free(rel);
        sent = op_send(op, "POST", url, NULL, op->data, op->len, false);
    }
    json_decref(body);
    free(url);
    return sent;
}

static void log_upload(struct rn_ghrep *g, int rec, const struct gr_buf *log, size_t lines)
{
    struct op *op = op_new(g, log_done, rec);
    const char *step_id = rec >= 0 ? g->recs[rec].id : NULL;
    json_t *body;
    char *url, *rel;

    op->data = gr_xstrndup(log->ptr ? log->ptr : "", log->len);
    op->len = log->len;
    op->lines = lines;
    if (g->cfg.results_url) {
        body = json_pack("{s:s,s:s}", "workflow_run_backend_id", g->cfg.plan_id,
                         "workflow_job_run_backend_id", g->cfg.job_id);
        if (step_id)
            json_object_set_new(body, "step_backend_id", json_string(step_id));
        url = results_url(g, step_id ? "GetStepLogsSignedBlobURL" : "GetJobLogsSignedBlobURL");
    } else {
        rel = gr_xasprintf("logs\\%s", step_id ? step_id : g->cfg.job_id);
        body = json_pack("{s:s}", "path", rel);
        free(rel);
        url = rn_url_join(g->p_base, "logs");
    }
    if (!op_send(op, "POST", url, body, NULL, 0, false))
        op_free(op);
    json_decref(body);
    free(url);
}

static void on_job_started(void *ctx, const void *job, const char *name)
{
    (void)ctx;
    (void)job;
    (void)name;
}

/* ---- runner records: "Set up job" and "Complete job" (R JobExtension.cs) ---- */

static void on_log(void *ctx, const void *job, const char *line, size_t len);

/* A line of the runner's own in record i's log (and the job log and live console). */
static void runner_line(struct rn_ghrep *g, int i, const char *fmt, ...) GR_PRINTF(3, 4);

static void runner_line(struct rn_ghrep *g, int i, const char *fmt, ...)
{
    struct gr_buf b = GR_BUF_INIT(0);
    int save = g->cur;
    va_list ap;

    va_start(ap, fmt);
    if (gr_buf_vaddf(&b, fmt, ap) < 0)
        abort();
    va_end(ap);
    g->cur = i;
    on_log(g, NULL, b.ptr, b.len);
    g->cur = save;
    gr_buf_release(&b);
}

static int runner_rec(struct rn_ghrep *g, enum rec_kind kind, const char *name, const char *ref)
{
    int i = new_rec(g, NULL, ref);
    struct rec *r = &g->recs[i];

    r->kind = kind;
    free(r->name);
    r->name = xdup(name);
    r->state = REC_RUNNING;
    gr_time_iso8601(r->started, sizeof(r->started));
    tl_schedule(g);
    return i;
}

static void rec_done(struct rn_ghrep *g, int i, const char *result)
{
    struct rec *r = &g->recs[i];

    r->state = REC_DONE;
    r->result = result;
    gr_time_iso8601(r->finished, sizeof(r->finished));
    g->last_done = i;
    if (g->cur == i)
        g->cur = -1;
    if (r->log.len)
        log_upload(g, i, &r->log, r->lines);
    tl_schedule(g);
}

/* R JobExtension.InitializeJob: the record and what it prints first. */
static void setup_start(struct rn_ghrep *g)
{
    char host[256] = "";

    g->setup_rec = runner_rec(g, REC_SETUP, "Set up job", "JobExtension_Init");
    g->cur = g->setup_rec;
    (void)gethostname(host, sizeof(host) - 1);
    runner_line(g, g->setup_rec, "Current runner version: '%s'",
                g->cfg.runner_version ? g->cfg.runner_version : RN_RUNNER_VERSION_DEFAULT);
    runner_line(g, g->setup_rec, "Runner name: '%s'",
                g->cfg.worker_name ? g->cfg.worker_name : "ghrun");
    runner_line(g, g->setup_rec, "Machine name: '%s'", host);
    runner_line(g, g->setup_rec, "Runner: ghrun (a sandboxed self-hosted runner)");
}

/* "Set up job" ends when the first step starts (or the job ends without one). */
static void setup_finish(struct rn_ghrep *g)
{
    if (g->setup_rec < 0 || g->recs[g->setup_rec].state != REC_RUNNING)
        return;
    runner_line(g, g->setup_rec, "Complete job name: %s",
                g->cfg.display_name ? g->cfg.display_name : g->cfg.job_id);
    rec_done(g, g->setup_rec, "succeeded");
}

/* R JobExtension.FinalizeJob: job outputs, then the clean-up of the job's processes. */
static void complete_record(struct rn_ghrep *g, const json_t *outputs)
{
    const char *k;
    json_t *v;

    if (g->complete_rec >= 0)
        return;
    g->complete_rec = runner_rec(g, REC_COMPLETE, "Complete job", "JobExtension_Final");
    if (json_object_size(outputs)) {
        runner_line(g, g->complete_rec, "Evaluate and set job outputs");
        json_object_foreach((json_t *)outputs, k, v)
        {
            runner_line(g, g->complete_rec, "Set output '%s'", k);
        }
    }
    runner_line(g, g->complete_rec, "Cleaning up orphan processes");
}

/* ---- ex_reporter ---- */

static void on_step_started(void *ctx, const void *job, int step, const char *name)
{
    struct rn_ghrep *g = ctx;
    int i;
    struct rec *r;

    (void)job;
    setup_finish(g);
    i = rec_for_step(g, step);
    r = &g->recs[i];
    free(r->name);
    r->name = xdup(name);
    r->state = REC_RUNNING;
    gr_time_iso8601(r->started, sizeof(r->started));
    g->cur = i;
    tl_schedule(g);
}

static void on_log(void *ctx, const void *job, const char *line, size_t len)
{
    struct rn_ghrep *g = ctx;
    char ts[40];
    size_t tl;

    (void)job;
    gr_time_iso8601(ts, sizeof(ts));
    tl = strlen(ts);
    ts[tl++] = ' ';
    addb(&g->joblog, ts, tl);
    addb(&g->joblog, line, len);
    addb(&g->joblog, "\n", 1);
    g->job_lines++;
    if (g->cur < 0)
        return;
    addb(&g->recs[g->cur].log, ts, tl);
    addb(&g->recs[g->cur].log, line, len);
    addb(&g->recs[g->cur].log, "\n", 1);
    feed_push(g, g->cur, line, len);
    g->recs[g->cur].lines++;
}

static void on_group(void *ctx, const void *job, const char *title, bool open)
{
    char *line = open ? gr_xasprintf("##[group]%s", title) : gr_xstrdup("##[endgroup]");

    on_log(ctx, job, line, strlen(line));
    free(line);
}

static void on_annotation(void *ctx, const void *job, const struct ex_annotation *a)
{
    struct rn_ghrep *g = ctx;
    struct rec *r;
    const char *level = a->level ? a->level : "error";
    bool err = !strcmp(level, "error"), warn = !strcmp(level, "warning");
    json_t *ann, *data;
    char num[24];
    int *count;

    (void)job;
    if (g->cur < 0 && g->n_recs == 0)
        return;
    r = &g->recs[g->cur >= 0 ? g->cur : (int)g->n_recs - 1];
    count = err ? &r->errors : warn ? &r->warnings : &r->notices;
    ann = json_pack("{s:s,s:s,s:i,s:b}", "level",
                    err    ? "failure"
                    : warn ? "warning"
                           : "notice",
                    "message", a->message ? a->message : "", "stepNumber", r->order,
                    "isInfrastructureIssue", false);
    if (a->title && *a->title)
        json_object_set_new(ann, "title", json_string(a->title));
    if (a->file && *a->file)
        json_object_set_new(ann, "path", json_string(a->file));
    if (a->line > 0) {
        json_object_set_new(ann, "startLine", json_integer(a->line));
        json_object_set_new(ann, "endLine", json_integer(a->end_line > 0 ? a->end_line : a->line));
    }
    if (a->col > 0) {
        json_object_set_new(ann, "startColumn", json_integer(a->col));
        json_object_set_new(ann, "endColumn", json_integer(a->end_col > 0 ? a->end_col : a->col));
    }
    json_array_append_new(r->annotations, ann);
    if (*count < GH_ISSUES_MAX) {
        data = json_object();
        if (a->file && *a->file)
            json_object_set_new(data, "file", json_string(a->file));
#define PUT_NUM(key, v)                                                                            \
    if ((v) > 0) {                                                                                 \
        snprintf(num, sizeof(num), "%d", (v));                                                     \
        json_object_set_new(data, key, json_string(num));                                          \
    }
        PUT_NUM("line", a->line)
        PUT_NUM("endLine", a->end_line)
        PUT_NUM("col", a->col)
        PUT_NUM("endColumn", a->end_col)
        PUT_NUM("stepNumber", r->order)
#undef PUT_NUM
        if (a->title && *a->title)
            json_object_set_new(data, "title", json_string(a->title));
        json_array_append_new(r->issues,
                              json_pack("{s:s,s:s,s:s,s:o}", "type", level, "category", "Code",
                                        "message", a->message ? a->message : "", "data", data));
    }
    (*count)++;
    tl_schedule(g);
}

static void on_step_finished(void *ctx, const void *job, int step, enum ex_result outcome,
                             enum ex_result conclusion, uint64_t dur)
{
    struct rn_ghrep *g = ctx;
    int i;

    (void)job;
    (void)outcome;
    (void)dur;
    setup_finish(g);
    i = g->cur;
    if (i < 0) { /* skipped steps are never started */
        i = rec_for_step(g, step);
        gr_time_iso8601(g->recs[i].started, sizeof(g->recs[i].started));
    }
    g->cur = -1;
    rec_done(g, i, task_result(ex_result_name(conclusion)));
}

static void on_job_finished(void *ctx, const void *job, enum ex_result result, json_t *outputs,
                            uint64_t dur)
{
    struct rn_ghrep *g = ctx;

    (void)job;
    (void)dur;
    g->have_result = true;
    snprintf(g->result, sizeof(g->result), "%s", ex_result_name(result));
    json_decref(g->outputs);
    g->outputs = json_is_object(outputs) ? json_incref(outputs) : json_object();
    setup_finish(g);
    complete_record(g, g->outputs);
    rec_done(g, g->complete_rec, "succeeded");
}

/* ---- step summaries ---- */

/* results: 0 signed URL, 1 blob upload, 2 metadata; classic: one attachment PUT. */
static bool summary_done(struct op *op, bool ok, const json_t *resp)
{
    struct rn_ghrep *g = op->g;
    const char *step_id = g->recs[op->rec].id;
    char ts[40], *url;
    json_t *body;
    bool sent;

    if (!ok) {
        GR_LOG_WARN("cannot upload the step summary of '%s' (stage %d)", g->recs[op->rec].name,
                    op->stage);
        return false;
    }
    if (!g->cfg.results_url || ++op->stage > 2)
        return false;
    if (op->stage == 1) {
        const char *u = rn_json_str(resp, "summary_url");
        long long limit = rn_json_int(resp, "soft_size_limit", 0);

        if (!u || (limit > 0 && (long long)op->len > limit)) {
            GR_LOG_WARN("the results service refused the step summary (%zu bytes)", op->len);
            return false;
        }
        return op_send(op, "PUT", u, NULL, op->data, op->len, true);
    }
    gr_time_iso8601(ts, sizeof(ts));
    body = json_pack("{s:s,s:s,s:s,s:I,s:s}", "workflow_run_backend_id", g->cfg.plan_id,
                     "workflow_job_run_backend_id", g->cfg.job_id, "step_backend_id", step_id,
                     "size", (json_int_t)op->len, "uploaded_at", ts);
    url = results_url(g, "CreateStepSummaryMetadata");
    sent = op_send(op, "POST", url, body, NULL, 0, false);
    json_decref(body);
    free(url);
    return sent;
}

static void on_summary(void *ctx, const void *job, const char *md, size_t len)
{
    struct rn_ghrep *g = ctx;
    int i = g->cur >= 0 ? g->cur : g->last_done;
    struct op *op;
    json_t *body = NULL;
    char *url, *rel;

    (void)job;
    if (i < 0 || len == 0)
        return;
    op = op_new(g, summary_done, i);
    op->data = gr_xstrndup(md, len); /* masked by the engine, line by line as R does */
    op->len = len;
    if (g->cfg.results_url) {
        body = json_pack("{s:s,s:s,s:s}", "workflow_run_backend_id", g->cfg.plan_id,
                         "workflow_job_run_backend_id", g->cfg.job_id, "step_backend_id",
                         g->recs[i].id);
        url = results_url(g, "GetStepSummarySignedBlobURL");
    } else {
        /* attached to the job record, named by the step's record id */
        rel = gr_xasprintf("timelines/%s/records/%s/attachments/" GH_SUMMARY_TYPE "/%s",
                           g->cfg.timeline_id, g->cfg.job_id, g->recs[i].id);
        url = rn_url_join(g->p_base, rel);
        free(rel);
    }
    if (!(body ? op_send(op, "POST", url, body, NULL, 0, false)
               : op_send(op, "PUT", url, NULL, op->data, op->len, false)))
        op_free(op);
    json_decref(body);
    free(url);
}

/* ---- public ---- */

static void handle_closed(uv_handle_t *h)
{
    struct rn_ghrep *g = h->data;

    if (--g->open_handles == 0 && g->freeing)
        free(g);
}

struct rn_ghrep *rn_ghrep_new(const struct rn_ghrep_cfg *cfg)
{
    struct rn_ghrep *g = gr_xcalloc(1, sizeof(*g));
    char *rel;

    g->cfg = *cfg;
    /* keep our own copies of what the caller lends only for this call */
    g->step_ids = gr_xcalloc(cfg->n_steps + 1, sizeof(char *));
    g->step_refs = gr_xcalloc(cfg->n_steps + 1, sizeof(char *));
    for (size_t i = 0; i < cfg->n_steps; i++) {
        g->step_ids[i] = xdup(cfg->step_ids[i]);
        g->step_refs[i] = cfg->step_refs ? xdup(cfg->step_refs[i]) : NULL;
    }
    g->cfg.step_ids = (const char *const *)g->step_ids;
    g->cfg.results_url = cfg->results_url ? gr_xstrdup(cfg->results_url) : NULL;
    g->cfg.url = gr_xstrdup(cfg->url);
    g->cfg.token = gr_xstrdup(cfg->token);
    g->cfg.plan_id = gr_xstrdup(cfg->plan_id);
    g->cfg.job_id = gr_xstrdup(cfg->job_id);
    g->cfg.timeline_id = gr_xstrdup(cfg->timeline_id);
    g->cfg.worker_name = cfg->worker_name ? gr_xstrdup(cfg->worker_name) : NULL;
    g->cfg.step_refs = (const char *const *)g->step_refs;
    if (!g->cfg.feed_ms)
        g->cfg.feed_ms = 1000;
    g->cur = -1;
    g->feed_rec = -1;
    g->joblog = GR_BUF_INIT(0);
    g->feed_lines = json_array();
    g->feed_queue = json_array();
    rel = gr_xasprintf("%s/_apis/distributedtask/hubs/%s/plans/%s/",
                       cfg->scope ? cfg->scope : "00000000-0000-0000-0000-000000000000",
                       cfg->plan_type ? cfg->plan_type : "Actions", cfg->plan_id);
    g->p_base = rn_url_join(cfg->url, rel);
    free(rel);
    uv_timer_init(cfg->loop, &g->feed_timer);
    uv_timer_init(cfg->loop, &g->tl_timer);
    uv_timer_init(cfg->loop, &g->finish_timer);
    uv_timer_init(cfg->loop, &g->ws_timer);
    g->feed_timer.data = g->tl_timer.data = g->finish_timer.data = g->ws_timer.data = g;
    g->open_handles = 4;
    g->last_done = g->setup_rec = g->complete_rec = -1;
    g->cfg.display_name = cfg->display_name ? gr_xstrdup(cfg->display_name) : NULL;
    g->cfg.runner_version = cfg->runner_version ? gr_xstrdup(cfg->runner_version) : NULL;
    g->cfg.feed_stream_url =
        cfg->feed_stream_url && *cfg->feed_stream_url ? gr_xstrdup(cfg->feed_stream_url) : NULL;
    gr_time_iso8601(g->job_started, sizeof(g->job_started));
    g->rep = (struct ex_reporter){
        .ctx = g,
        .job_started = on_job_started,
        .step_started = on_step_started,
        .log_line = on_log,
        .group = on_group,
        .annotation = on_annotation,
        .step_finished = on_step_finished,
        .job_finished = on_job_finished,
        .summary = on_summary,
    };
    if (g->cfg.feed_stream_url)
        ws_connect(g);
    /* "Set up job" first, then the message's steps as pending records, in order */
    setup_start(g);
    for (size_t i = 0; i < cfg->n_steps; i++)
        new_rec(g, cfg->step_ids[i], cfg->step_refs ? cfg->step_refs[i] : NULL);
    return g;
}

const struct ex_reporter *rn_ghrep_reporter(struct rn_ghrep *g)
{
    return &g->rep;
}

void rn_ghrep_abort(struct rn_ghrep *g, const char *conclusion, const char *why)
{
    bool running = false;

    for (size_t i = 0; i < g->n_recs; i++)
        running |= g->recs[i].state == REC_RUNNING;
    if (g->complete_rec < 0) {
        /* no job_finished: "Complete job" still closes the job, carrying the reason */
        complete_record(g, NULL);
        if (running || !why)
            rec_done(g, g->complete_rec, "succeeded");
    }
    for (size_t i = 0; i < g->n_recs; i++) {
        struct rec *r = &g->recs[i];

        if (r->state != REC_RUNNING)
            continue;
        if (why) {
            struct ex_annotation a = {.level = "error", .message = why};
            int save = g->cur;

            g->cur = (int)i;
            on_annotation(g, NULL, &a);
            g->cur = save;
        }
        r->state = REC_DONE;
        r->result = conclusion;
        gr_time_iso8601(r->finished, sizeof(r->finished));
        if (r->log.len)
            log_upload(g, (int)i, &r->log, r->lines);
    }
    g->cur = -1;
    tl_schedule(g);
}

void rn_ghrep_conclude(struct rn_ghrep *g, const char *conclusion)
{
    g->job_result = conclusion;
    gr_time_iso8601(g->job_finished, sizeof(g->job_finished));
    tl_schedule(g);
}

json_t *rn_ghrep_step_results(struct rn_ghrep *g)
{
    json_t *a = json_array();

    for (size_t i = 0; i < g->n_recs; i++) {
        struct rec *r = &g->recs[i];

        if (r->state == REC_PENDING)
            continue;
        json_t *o =
            json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s?,s:O}", "external_id", r->id, "number",
                      r->order, "name", r->name, "type", r->kind == REC_STEP ? "run" : "runner",
                      "status", r->state == REC_DONE ? "completed" : "in_progress", "conclusion",
                      r->result ? r->result : "failed", "started_at", r->started, "completed_at",
                      r->finished[0] ? r->finished : NULL, "annotations", r->annotations);

        /* R StepTelemetry: Type "runner", Action "setup_job" / "complete_job" */
        if (r->kind != REC_STEP)
            json_object_set_new(o, "action_name",
                                json_string(r->kind == REC_SETUP ? "setup_job" : "complete_job"));
        json_array_append_new(a, o);
    }
    return a;
}

bool rn_ghrep_result(struct rn_ghrep *g, const char **result, json_t **outputs)
{
    *result = g->have_result ? g->result : NULL;
    *outputs = g->outputs;
    return g->have_result;
}

static void finish_now(struct rn_ghrep *g)
{
    void (*cb)(void *) = g->finish_cb;

    if (!cb)
        return;
    g->finish_cb = NULL;
    uv_timer_stop(&g->finish_timer);
    cb(g->finish_ctx);
}

static bool all_sent(const struct rn_ghrep *g)
{
    return !g->ops && !g->tl_dirty && !json_array_size(g->feed_lines) &&
           !json_array_size(g->feed_queue) &&
           !(g->ws_state == FEED_WS_OPEN && rn_ws_pending(g->ws));
}

static void on_finish_timer(uv_timer_t *t)
{
    struct rn_ghrep *g = t->data;

    if (!g->finish_cb)
        return;
    if (!all_sent(g) && uv_now(g->cfg.loop) < g->finish_deadline) {
        /* the websocket drains without telling anyone: look again soon */
        uv_timer_start(&g->finish_timer, on_finish_timer, 20, 0);
        return;
    }
    if (!all_sent(g))
        GR_LOG_WARN("some job reports were still in flight when the job was completed");
    finish_now(g);
}

static void maybe_finished(struct rn_ghrep *g)
{
    if (g->finishing && g->finish_cb && all_sent(g))
        uv_timer_start(&g->finish_timer, on_finish_timer, 0, 0);
}

void rn_ghrep_finish(struct rn_ghrep *g, unsigned timeout_ms, void (*cb)(void *ctx), void *ctx)
{
    g->finishing = true;
    g->finish_cb = cb;
    g->finish_ctx = ctx;
    g->finish_deadline = uv_now(g->cfg.loop) + timeout_ms;
    if (g->feed_off && g->ws_state != FEED_WS_OPEN) {
        json_array_clear(g->feed_lines);
        json_array_clear(g->feed_queue);
    }
    uv_timer_stop(&g->feed_timer);
    feed_flush(g);
    if (g->joblog.len)
        log_upload(g, -1, &g->joblog, g->job_lines);
    tl_schedule(g);
    uv_timer_start(&g->finish_timer, on_finish_timer, all_sent(g) ? 0 : 20, 0);
}

void rn_ghrep_free(struct rn_ghrep *g)
{
    if (!g)
        return;
    while (g->ops) {
        rn_req_cancel(g->ops->req);
        op_free(g->ops);
    }
    for (size_t i = 0; i < g->n_recs; i++) {
        free(g->recs[i].id);
        free(g->recs[i].name);
        free(g->recs[i].ref);
        json_decref(g->recs[i].annotations);
        json_decref(g->recs[i].issues);
        gr_buf_release(&g->recs[i].log);
    }
    free(g->recs);
    for (size_t i = 0; i < g->cfg.n_steps; i++) {
        free(g->step_ids[i]);
        free(g->step_refs[i]);
    }
    free(g->step_ids);
    free(g->step_refs);
    free((char *)g->cfg.results_url);
    free((char *)g->cfg.url);
    free((char *)g->cfg.token);
    free((char *)g->cfg.plan_id);
    free((char *)g->cfg.job_id);
    free((char *)g->cfg.timeline_id);
    free((char *)g->cfg.worker_name);
    free((char *)g->cfg.display_name);
    free((char *)g->cfg.runner_version);
    free((char *)g->cfg.feed_stream_url);
    rn_ws_free(g->ws);
    free(g->p_base);
    gr_buf_release(&g->joblog);
    json_decref(g->feed_lines);
    json_decref(g->feed_queue);
    json_decref(g->outputs);
    g->finish_cb = NULL;
    g->freeing = true;
    uv_close((uv_handle_t *)&g->feed_timer, handle_closed);
    uv_close((uv_handle_t *)&g->tl_timer, handle_closed);
    uv_close((uv_handle_t *)&g->finish_timer, handle_closed);
    uv_close((uv_handle_t *)&g->ws_timer, handle_closed);
}
