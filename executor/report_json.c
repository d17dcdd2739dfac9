/*
 * `--json FILE`: the run's results as one JSON document, written at the end:
 *
 *   {"ok": bool, "jobs": [{"id", "name", "matrix", "result", "continue_on_error",
 *     "duration_ms", "outputs", "annotations",
 *     "steps": [{"index", "id", "name", "outcome", "conclusion", "duration_ms",
 *                "outputs", "annotations"}]}]}
 *
 * Jobs appear in the order their legs finished; a job whose `if` was false
 * appears once with result "skipped" and no steps (one that a cancelled run
 * never started: "cancelled"). Every string that came
 * from a step went through the masker.
 */
#include "engine_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

json_t *ex__json_text(const char *s)
{
    json_t *v;
    char *copy;

    if (!s)
        return json_null();
    v = json_string(s);
    if (v)
        return v;
    /* not UTF-8 (binary output in a name or message): keep ASCII, replace the rest */
    copy = gr_xstrdup(s);
    for (char *p = copy; *p; p++) {
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    }
    v = json_string(copy);
    free(copy);
    return v;
}

json_t *ex__json_leg_new(const struct ex__leg *leg)
{
    return json_pack("{s:s,s:o,s:O,s:s,s:[],s:[],s:{}}", "id", leg->jr->id, "name",
                     ex__json_text(leg->display_name), "matrix",
                     leg->matrix ? leg->matrix : json_null(), "result", "pending", "steps",
                     "annotations", "outputs");
}

void ex__json_step_add(struct ex__leg *leg, const struct ex__stepexec *se, enum ex_result outcome,
                       enum ex_result conclusion, uint64_t dur_ns)
{
    json_t *steps = json_object_get(leg->json, "steps");
    json_t *s;

    if (!steps)
        return;
    s = json_pack("{s:i,s:s?,s:s,s:o,s:s,s:s,s:f,s:O,s:O}", "index", se->step->index, "id",
                  se->step->id, "context_name", se->ctx_name, "name",
                  ex__json_text(se->name ? se->name : se->ctx_name), "outcome",
                  ex_result_name(outcome), "conclusion", ex_result_name(conclusion), "duration_ms",
                  (double)dur_ns / 1e6, "outputs", se->outputs, "annotations", se->annotations);
    json_array_append_new(steps, s);
}

void ex__json_leg_finish(struct ex__leg *leg, uint64_t dur_ns)
{
    if (!leg->json)
        return;
    json_object_set_new(leg->json, "result", json_string(ex_result_name(leg->result)));
    json_object_set_new(leg->json, "continue_on_error", json_boolean(leg->continue_on_error));
    json_object_set_new(leg->json, "duration_ms", json_real((double)dur_ns / 1e6));
    json_object_set(leg->json, "outputs", leg->outputs ? leg->outputs : json_object());
}

void ex__json_job_skipped(struct ex__run *run, const struct ex__jobrun *jr)
{
    json_t *j =
        json_pack("{s:s,s:s,s:n,s:s,s:b,s:f,s:{},s:[],s:[]}", "id", jr->id, "name", jr->name,
                  "matrix", "result", ex_result_name(jr->result), "continue_on_error", 0,
                  "duration_ms", 0.0, "outputs", "annotations", "steps");
    const struct ex_reporter *rep = run->rep;

    json_array_append_new(run->results, j);
    if (rep->job_started)
        rep->job_started(rep->ctx, jr, jr->name);
    if (rep->job_finished)
        rep->job_finished(rep->ctx, jr, jr->result, NULL, 0);
}

int ex__json_write(const struct ex__run *run, const char *path, bool ok)
{
    json_t *doc = json_pack("{s:b,s:O}", "ok", ok, "jobs", run->results);
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    int r;

    json_decref(doc);
    if (!text)
        return -ENOMEM;
    r = gr_file_write_atomic(path, text, strlen(text), 0644);
    free(text);
    return r;
}
