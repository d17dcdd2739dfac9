#!/usr/bin/env bash
# What a job reports beyond its steps, end to end against tests/integration/fake_github.py:
# the live console over the FeedStreamUrl websocket (masked frames, lines arriving while
# the step still runs, ping/pong, a dropped socket reconnected, a refused upgrade falling
# back to the HTTP feed), classic PipelineAgentJobRequest jobs (renewed through the job
# request, completed exactly once through the JobCompleted plan event or, for old plans,
# by finishing the job request), GITHUB_STEP_SUMMARY uploads (the Checks.Step.Summary
# attachment, or the results service's signed blob + metadata), and the "Set up job" /
# "Complete job" records around the steps.
RUNNER_PART=feed
. "$(dirname "$0")/test_runner_protocol.sh"
first_config

proto() { curl -s "$BASE/_control/proto" | q "d['$JOB_RID']$1"; }
jq_job() { state | q "[j for j in d['jobs'] if j['runner_request_id']=='$JOB_RID'][0]$1"; }
completion() { state | q "[c['body'] for c in d['completions'] if str(c['request_id'])=='$JOB_RID'][0]$1"; }
pipeline_job() {
    JOB=$(ctl pipeline_job "$1")
    JOB_RID=$(echo "$JOB" | q 'd["runner_request_id"]')
    JOB_GUID=$(echo "$JOB" | q 'd["job_id"]')
    echo "$JOB" | q 'd["github_token"]' >>"$T/secrets"
    echo "$JOB" | q 'd["job_token"]' >>"$T/secrets"
    echo "$JOB" | q 'd["secret"]' >>"$T/secrets"
}
FEED_URL="ws://127.0.0.1:$PORT/feedstream/live"

# ---------------------------------------------------------------- classic job, websocket
pipeline_job '{"name":"live","ws_mode":"ping","endpoint_data":{"FeedStreamUrl":"'"$FEED_URL"'"},
  "outputs":{"answer":"${{ steps.a.outputs.v }}"},
  "steps":[{"id":"a","run":"echo early-line\necho v=42 >>\"$GITHUB_OUTPUT\"\necho \"## Summary of a\" >>\"$GITHUB_STEP_SUMMARY\"\necho \"- token ${{ secrets.MY_SECRET }}\" >>\"$GITHUB_STEP_SUMMARY\"\nsleep 4\necho late-line"}]}'
run_once_expect "classic websocket job" succeeded GHRUN_RENEW_MS=500
expect_eq "classic: completed through the JobCompleted plan event" "$(completion "['via']")" event
expect_eq "classic: the event names the job request" "$(completion "['requestId']")" "$JOB_RID"
expect_eq "classic: job outputs in the event" "$(completion "['outputs']['answer']['value']")" 42
check "classic: the lock was renewed through the job request" \
    test "$(proto "['jobrequest_renewals']")" -ge 2
expect_eq "classic: one JobCompleted event" "$(proto "['events'].__len__()")" 1
expect_eq "classic: no run-service calls" \
    "$(grep -cE '"endpoint": "(acquirejob|renewjob|completejob)"' "$T/requests.jsonl")" 0

STEP=$(state | q "[j for j in d['jobs'] if j['runner_request_id']=='$JOB_RID'][0]['timeline']" |
    "$PY" -c "import ast,sys; t=ast.literal_eval(sys.stdin.read()); \
print([r['id'] for r in t.values() if r.get('refName')=='a'][0])")
check "websocket: connected" test "$(proto "['ws_connections']")" -ge 1
WSQ="[m for m in d['$JOB_RID']['ws'] if 'body' in m]"
curl -s "$BASE/_control/proto" >"$T/proto.json"
q_ws() { "$PY" -c "import json; d=json.load(open('$T/proto.json')); print($1)"; }
expect_eq "websocket: every message arrived, every frame masked" \
    "$(q_ws "(len($WSQ) > 0, all(m['masked'] for m in $WSQ))")" "(True, True)"
T_EARLY=$(q_ws "[m['t'] for m in $WSQ if 'early-line' in m['body']['value']][0]")
T_LATE=$(q_ws "[m['t'] for m in $WSQ if 'late-line' in m['body']['value']][0]")
check "websocket: the first line arrived while the step still ran (>2 s before the last, 4 s later)" \
    "$PY" -c "import sys; sys.exit(0 if $T_LATE - $T_EARLY > 2 else 1)"
expect_eq "websocket: batch shape (count, stepId, startLine)" \
    "$(q_ws "[(m['body']['count'] == len(m['body']['value']), m['body']['stepId'], m['body']['startLine']) for m in $WSQ if 'early-line' in m['body']['value']][0]")" \
    "(True, '$STEP', 1)"
expect_eq "websocket: the ping got its pong" "$(q_ws "[m['pong'] for m in d['$JOB_RID']['ws'] if 'pong' in m]")" "['hb']"
expect_eq "websocket: no line went by the HTTP feed" \
    "$(jq_job "['feed'].__len__()")" 0

# the step summary: the Checks.Step.Summary attachment on the job record, named by the step
expect_eq "summary: one attachment" "$(proto "['attachments'].__len__()")" 1
expect_eq "summary: type, record and name" \
    "$(proto "['attachments'][0]['type']"):$(proto "['attachments'][0]['record']"):$(proto "['attachments'][0]['name']")" \
    "Checks.Step.Summary:$JOB_GUID:$STEP"
SUMMARY=$(proto "['attachments'][0]['text']")
check "summary: the markdown reached the server" grep -q "## Summary of a" <<<"$SUMMARY"
check "summary: secrets masked" grep -q -- "- token \*\*\*" <<<"$SUMMARY"

# the records: Set up job first, the step, Complete job last; the job record completed
recs() {
    jq_job "['timeline']" | "$PY" -c "import ast,sys; t=ast.literal_eval(sys.stdin.read()); \
r=sorted([v for v in t.values() if v.get('type')=='Task'], key=lambda v: v['order']); print($1)"
}
expect_eq "records: names in order" "$(recs "[v['name'] for v in r]")" \
    "['Set up job', 'Run echo early-line', 'Complete job']"
expect_eq "records: orders" "$(recs "[v['order'] for v in r]")" "[1, 2, 3]"
expect_eq "records: all completed and succeeded" \
    "$(recs "sorted(set((v['state'], v['result']) for v in r))")" "[('completed', 'succeeded')]"
expect_eq "records: refNames of the runner's own" "$(recs "[r[0]['refName'], r[2]['refName']]")" \
    "['JobExtension_Init', 'JobExtension_Final']"
expect_eq "records: all children of the job" "$(recs "set(v['parentId'] for v in r)")" "{'$JOB_GUID'}"
expect_eq "records: the job record" \
    "$(jq_job "['timeline']['$JOB_GUID']['type']"):$(jq_job "['timeline']['$JOB_GUID']['state']"):$(jq_job "['timeline']['$JOB_GUID']['result']")" \
    Job:completed:succeeded
SETUP_LOG=$(recs "r[0]['log']['id']")
check "records: the Set up job log says the runner version" \
    grep -q "Current runner version: '" <<<"$(jq_job "['logs']['$SETUP_LOG']['text']")"
FINAL_LOG=$(recs "r[2]['log']['id']")
check "records: the Complete job log" \
    grep -q "Cleaning up orphan processes" <<<"$(jq_job "['logs']['$FINAL_LOG']['text']")"

# ---------------------------------------------------------------- old plan, refused websocket
# plan version 7: the listener finishes the job request itself; a refused upgrade (tried 3
# times, 100-500 ms apart: the first step lasts long enough for all of them) leaves the job on
# the HTTP feed; a failing job; a dropped JobCompleted is not sent
pipeline_job '{"name":"old","plan_version":7,"ws_mode":"refuse",
  "endpoint_data":{"FeedStreamUrl":"'"$FEED_URL"'"},
  "steps":[{"run":"echo over-http; sleep 2"},{"run":"exit 4"},{"run":"echo after","if":"always()"}]}'
ctl fault '{"endpoint":"jobrequest","kind":"500","count":1}' >/dev/null
run_once_expect "old plan job" failed
expect_eq "old plan: completed by finishing the job request" "$(completion "['via']")" finish
check "old plan: with a finish time" test -n "$(completion "['finishTime']")"
expect_eq "old plan: no plan event" "$(proto "['events'].__len__()")" 0
expect_eq "refused websocket: three upgrade attempts" \
    "$(grep -c '"endpoint": "feedstream".*"status": 403' "$T/requests.jsonl")" 3
check "refused websocket: the lines went by the HTTP feed" \
    grep -q over-http <<<"$(jq_job "['feed']")"
expect_eq "old plan: records" "$(recs "[(v['name'], v['result']) for v in r]")" \
    "[('Set up job', 'succeeded'), ('Run echo over-http; sleep 2', 'succeeded'), ('Run exit 4', 'failed'), ('Run echo after', 'succeeded'), ('Complete job', 'succeeded')]"
expect_eq "old plan: the job record failed" "$(jq_job "['timeline']['$JOB_GUID']['result']")" failed

# ---------------------------------------------------------------- exactly once
# the plan event is dropped once (the server may or may not have acted): one completion
pipeline_job '{"name":"once","steps":[{"run":"echo once"}]}'
ctl fault '{"endpoint":"planevent","kind":"drop","count":1}' >/dev/null
ctl fault '{"endpoint":"planevent","kind":"500","count":1}' >/dev/null
run_once_expect "dropped plan event" succeeded

# ---------------------------------------------------------------- run-service job
# results service: the socket drops after the first message and is connected again;
# the summary goes through GetStepSummarySignedBlobURL, the blob and CreateStepSummaryMetadata
job '{"name":"results","ws_mode":"drop","endpoint_data":{"FeedStreamUrl":"'"$FEED_URL"'"},
  "steps":[{"id":"r","run":"echo one\nsleep 1.5\necho two\nsleep 1.5\necho three\nprintf \"# Results\\n\\nall good\\n\" >>\"$GITHUB_STEP_SUMMARY\""}]}'
run_once_expect "results job" succeeded
check "dropped websocket: connected again" test "$(proto "['ws_connections']")" -ge 2
curl -s "$BASE/_control/proto" >"$T/proto.json"
check "dropped websocket: the last line still arrived" \
    grep -q three <<<"$(q_ws "d['$JOB_RID']['ws']")$(jq_job "['feed']")"
RSTEP=$(state | q "[s['external_id'] for c in d['completions'] if str(c['request_id'])=='$JOB_RID' \
for s in c['body']['stepResults'] if s['type']=='run'][0]")
expect_eq "results summary: metadata size = blob size" \
    "$(proto "['summary_meta']['$RSTEP']['size']")" \
    "$(jq_job "['result_logs']['summary:$RSTEP'].encode().__len__()")"
check "results summary: the markdown in the blob" \
    grep -q "all good" <<<"$(jq_job "['result_logs']['summary:$RSTEP']")"
expect_eq "results: stepResults around the step" \
    "$(state | q "[(s['name'], s['type'], s.get('action_name'), s['number']) for c in d['completions'] \
if str(c['request_id'])=='$JOB_RID' for s in c['body']['stepResults']]")" \
    "[('Set up job', 'runner', 'setup_job', 1), ('Run echo one', 'run', None, 2), ('Complete job', 'runner', 'complete_job', 3)]"
expect_eq "results: WorkflowStepsUpdate knows all three" \
    "$(state | q "[s['name'] for j in d['jobs'] if j['runner_request_id']=='$JOB_RID' \
for s in sorted(j['results_steps'].values(), key=lambda s: s['number'])]")" \
    "['Set up job', 'Run echo one', 'Complete job']"

finish_all
