/*
 * Internal to runner/: the GitHub reporter, an ex_reporter that reports one
 * job to GitHub (runner-protocol.md sections 11 and 12; R
 * Runner.Common/JobServerQueue.cs, ResultsServer.cs, Runner.Worker/
 * ExecutionContext.cs):
 *
 *   live console   batches of at most 100 lines, one per second while lines
 *                  flow: over a websocket to the endpoint's FeedStreamUrl when
 *                  the message has one (R JobServer.cs, ResultsServer.cs: JSON
 *                  {count, value, stepId, startLine} per batch, Bearer job
 *                  token), else, and whenever the socket fails, POST
 *                  {P}/timelines/{tl}/records/{jobId}/feed (turned off for the
 *                  job after a 404/405). A failed socket is reconnected after
 *                  100-500 ms unless more than half of over 5 batches failed;
 *                  a failed connect (3 tries) leaves the job on the HTTP feed.
 *   records        "Set up job" first and "Complete job" last (R
 *                  JobExtension.cs InitializeJob/FinalizeJob), each with its
 *                  log; classic jobs also update the job record (type Job).
 *   summaries      GITHUB_STEP_SUMMARY: results jobs GetStepSummarySignedBlobURL
 *                  + blob + CreateStepSummaryMetadata; classic jobs the attachment
 *                  Checks.Step.Summary/<stepId> on the job record (R
 *                  FileCommandManager.cs CreateStepSummaryCommand,
 *                  JobServerQueue.cs, ResultsHttpClient.cs UploadStepSummaryAsync)
 *   timeline       run-service jobs: results WorkflowStepsUpdate; classic
 *                  jobs: PATCH {P}/timelines/{tl}/records with issues
 *                  (annotations with file/line/col) and error/warning counts
 *   logs           each step's log when it ends, the job log at the end:
 *                  results signed-URL upload + metadata, or classic {P}/logs
 *   completion     rn_ghrep_step_results() and rn_ghrep_annotations() for
 *                  completejob's stepResults
 *
 * {P} = {url}{scopeIdentifier}/_apis/distributedtask/hubs/{planType}/plans/{planId}.
 * Uploads run concurrently with the job (nothing waits on them);
 * rn_ghrep_finish() waits for what is still in flight, bounded in time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <uv.h>

#include "ex/engine.h"

struct rn_http;
struct rn_ghrep;

struct rn_ghrep_cfg {
    uv_loop_t *loop;
    struct rn_http *http;
    const char *url;   /* SystemVssConnection url (ends in '/') */
    const char *token; /* job token */
    const char *plan_id, *job_id, *timeline_id, *scope, *plan_type;
    const char *results_url; /* results service base (ends in '/'), or NULL: classic */
    const char *worker_name;
    const char *display_name;     /* jobDisplayName (the job record, "Complete job name") */
    const char *runner_version;   /* for "Set up job" */
    const char *feed_stream_url;  /* SystemVssConnection data FeedStreamUrl, or NULL */
    const char *const *step_ids;  /* message step record ids; step i reports to step_ids[i] */
    const char *const *step_refs; /* their context names */
    size_t n_steps;
    unsigned feed_ms;  /* live console batching period (1000) */
    unsigned retry_ms; /* base of upload retries */
};

struct rn_ghrep *rn_ghrep_new(const struct rn_ghrep_cfg *cfg);
const struct ex_reporter *rn_ghrep_reporter(struct rn_ghrep *g);
/* The worker died: steps still in progress end with conclusion ("failed"/"canceled"). */
void rn_ghrep_abort(struct rn_ghrep *g, const char *conclusion, const char *why);
/* stepResults for completejob (new reference), in record order. */
json_t *rn_ghrep_step_results(struct rn_ghrep *g);
/* Whether job_finished was reported, its result ("success", ...) and outputs (borrowed). */
bool rn_ghrep_result(struct rn_ghrep *g, const char **result, json_t **outputs);
/* The job's conclusion (TaskResult name) for the job record; before rn_ghrep_finish. */
void rn_ghrep_conclude(struct rn_ghrep *g, const char *conclusion);
/*
 * Flush the live console, upload the job log and the last timeline state;
 * cb runs (never inside this call) when all is sent or after timeout_ms.
 */
void rn_ghrep_finish(struct rn_ghrep *g, unsigned timeout_ms, void (*cb)(void *ctx), void *ctx);
/* Stop everything; handles close asynchronously. */
void rn_ghrep_free(struct rn_ghrep *g);
