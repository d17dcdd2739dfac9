#!/usr/bin/env bash
# A real job through the whole runner: config → run --once → the job message decoded into
# the executor's plan and run by the engine in a worker process, reported to the fake
# GitHub: expressions (github, matrix, needs, secrets, steps), env layers, step outputs,
# a masked secret that never reaches any request, an ::error file=,line=:: annotation in
# the timeline and the completion, continue-on-error, if: failure(), a skipped step, a
# local composite action, job outputs, step and job logs, the live console (batched), the
# classic timeline/log endpoints, a bad message, a worker that dies, and cancellation.
RUNNER_PART=job
. "$(dirname "$0")/test_runner_protocol.sh"
first_config

WS="$T/r1/_work/widgets/widgets"
mkdir -p "$WS/.github/actions/hello"
cat >"$WS/.github/actions/hello/action.yml" <<'EOF'
name: hello
inputs:
  who: {required: true}
outputs:
  said: {value: "${{ steps.say.outputs.said }}"}
runs:
  using: composite
  steps:
    - id: say
      shell: bash
      run: echo "hello ${{ inputs.who }}" && echo "said=yes-${{ inputs.who }}" >>"$GITHUB_OUTPUT"
EOF

SEC=topsecret-XYZ-$RANDOM$RANDOM
echo "$SEC" >>"$T/secrets"
# values for a python helper reading the fake's state: job(d) is this job's state entry
jq_job() { state | q "[j for j in d['jobs'] if j['runner_request_id']=='$JOB_RID'][0]$1"; }
# the message's steps (Set up job / Complete job, type runner, are test_runner_feed.sh's)
completion() { state | q "[dict(c['body'], stepResults=[s for s in c['body']['stepResults'] \
if s.get('type') != 'runner']) for c in d['completions'] if str(c['request_id'])=='$JOB_RID'][0]$1"; }

job '{"name":"build (ubuntu, 3.12)","job_id":"build",
  "workflow_env":{"WF":"wf-${{ github.ref_name }}"},
  "env":{"JOBV":"${{ matrix.os }}-x","LEVEL":"job"},
  "matrix":{"os":"ubuntu","py":"3.12"},
  "strategy":{"fail-fast":true,"job-index":1,"job-total":2,"max-parallel":2},
  "needs":{"setup":{"result":"success","outputs":{"tag":"v1"}}},
  "secrets":{"X":"'"$SEC"'"},
  "outputs":{"greeting":"${{ steps.s1.outputs.val }}","composite":"${{ steps.hi.outputs.said }}",
             "leak":"${{ secrets.X }}"},
  "steps":[
   {"id":"s1","run":"echo \"::error file=a.py,line=3::bad thing\"\necho val=hello >>\"$GITHUB_OUTPUT\"\necho \"sha=${{ github.sha }} mx=${{ matrix.os }} needs=${{ needs.setup.outputs.tag }} idx=${{ strategy.job-index }}\"\necho \"wf=$WF job=$JOBV level=$LEVEL\"\necho \"rt=$ACTIONS_RUNTIME_URL id=$ACTIONS_ID_TOKEN_REQUEST_URL cache=$ACTIONS_CACHE_URL res=$ACTIONS_RESULTS_URL\"\ntest -n \"$ACTIONS_RUNTIME_TOKEN\" && echo has-runtime-token"},
   {"name":"Greet ${{ matrix.py }}","run":"echo \"got ${{ steps.s1.outputs.val }}\"\necho \"secret=${{ secrets.X }} env=$MYS\"\necho \"level=$LEVEL\"",
    "env":{"MYS":"${{ secrets.X }}","LEVEL":"step"}},
   {"id":"hi","uses":"./.github/actions/hello","with":{"who":"${{ matrix.os }}"}},
   {"id":"bad","run":"exit 3","continue-on-error":true},
   {"run":"for i in $(seq 30); do echo line-$i; sleep 0.05; done\nexit 1"},
   {"run":"echo after-failure outcome=${{ steps.bad.outcome }} conclusion=${{ steps.bad.conclusion }}","if":"failure()"},
   {"run":"echo never"}
  ]}'
FULL_RID=$JOB_RID
T0=$(date +%s.%N)
run_once_expect "full job" failed
expect_eq "full job: step conclusions" "$(steps_of "$JOB_RID")" \
    succeeded,succeeded,succeeded,succeeded,failed,succeeded,skipped
expect_eq "full job: display name from a token" "$(completion "['stepResults'][1]['name']")" \
    "Greet 3.12"
expect_eq "full job: annotation level" \
    "$(completion "['stepResults'][0]['annotations'][0]['level']")" failure
expect_eq "full job: annotation path/line" \
    "$(completion "['stepResults'][0]['annotations'][0]['path']"):$(completion \
    "['stepResults'][0]['annotations'][0]['startLine']")" a.py:3
expect_eq "full job: annotation message" \
    "$(completion "['stepResults'][0]['annotations'][0]['message']")" "bad thing"
expect_eq "full job: output from a step" "$(completion "['outputs']['greeting']['value']")" hello
expect_eq "full job: output from a composite action" \
    "$(completion "['outputs']['composite']['value']")" yes-ubuntu
S1=$(completion "['stepResults'][0]['external_id']")
S2=$(completion "['stepResults'][1]['external_id']")
S3=$(completion "['stepResults'][2]['external_id']")
S6=$(completion "['stepResults'][5]['external_id']")
LOG1=$(jq_job "['result_logs']['$S1']")
check "step log: github and matrix expressions" grep -q "sha=0123456789abcdef0123456789abcdef01234567 mx=ubuntu" <<<"$LOG1"
check "step log: needs and strategy from the message" grep -q "needs=v1 idx=1" <<<"$LOG1"
check "step log: workflow and job env" grep -q "wf=wf-main job=ubuntu-x level=job" <<<"$LOG1"
check "step log: service URLs in the step env" \
    grep -q "rt=$BASE/run/ id=$BASE/idtoken cache=$BASE/cache/ res=$BASE/results/" <<<"$LOG1"
check "step log: runtime token given" grep -q "has-runtime-token" <<<"$LOG1"
check "step log: lines carry timestamps" grep -qE '^20[0-9-]+T[0-9:.]+Z ' <<<"$LOG1"
LOG2=$(jq_job "['result_logs']['$S2']")
check "step output flows to the next step" grep -q "got hello" <<<"$LOG2"
check "secret masked in the step log" grep -q 'secret=\*\*\* env=\*\*\*' <<<"$LOG2"
check "step env overrides job env" grep -q "level=step" <<<"$LOG2"
check "composite action ran with its input" grep -q "hello ubuntu" <<<"$(jq_job "['result_logs']['$S3']")"
check "if: failure() step sees outcome and conclusion" \
    grep -q "after-failure outcome=failure conclusion=success" <<<"$(jq_job "['result_logs']['$S6']")"
check "job log uploaded" grep -q "got hello" <<<"$(jq_job "['result_logs']['job']")"
expect_eq "log metadata line count" "$(jq_job "['log_meta']['$S2']")" 3
# 7 message steps between "Set up job" and "Complete job"
expect_eq "timeline: results steps for every step" "$(jq_job "['results_steps'].__len__()")" 9
JOBQ="[j for j in d['jobs'] if j['runner_request_id']=='$JOB_RID'][0]"
expect_eq "timeline: results conclusions by step number" \
    "$(state | q "','.join(str(s['conclusion']) for s in sorted($JOBQ['results_steps'].values(), \
key=lambda s: s['number']))")" 2,2,2,2,2,3,2,7,2
expect_eq "timeline: results status completed" \
    "$(state | q "sorted(set(s['status'] for s in $JOBQ['results_steps'].values()))")" "[6]"
expect_eq "timeline: change_order grows by one per update" \
    "$(state | q "(lambda c: c == list(range(1, len(c) + 1)) and len(c) > 1)($JOBQ['change_orders'])")" True
check "live console: lines of the failing step arrived" \
    grep -q "line-30" <<<"$(jq_job "['feed']")"
# the 30 lines take 1.5 s (longer on a loaded machine: the step log's timestamps say how
# long): batched at most about once a second, not once per line
S5=$(completion "['stepResults'][4]['external_id']")
SPAN=$(jq_job "['result_logs']['$S5']" | "$PY" -c '
import re, sys
t = {}
for l in sys.stdin:
    m = re.match(r"\S*T(\d+):(\d+):([\d.]+)Z (line-1|line-30)$", l.strip())
    if m:
        t[m.group(4)] = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
print(int(t["line-30"] - t["line-1"]) % 86400 if len(t) == 2 else 1)')
NFEED=$(state | q "sum(1 for j in d['jobs'] if j['runner_request_id']=='$JOB_RID' \
for f in j['feed'] if any(l.startswith('line-') for l in f['lines']))")
check "live console: batched (got $NFEED requests for 30 lines in ${SPAN}.x s)" \
    test "$NFEED" -le $((SPAN + 3))
check "live console: batched requests carry several lines" test "$NFEED" -ge 1
# no secret or token reaches the server in any request body (the control API aside)
check "no secret in any request body" "$PY" - "$T/requests.jsonl" "$T/secrets" <<'EOF'
import json, sys
secrets = [s.strip() for s in open(sys.argv[2]) if s.strip()]
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["endpoint"] is None or e["endpoint"] in ("registration", "admin.register"):
        continue
    for s in secrets:
        if s in e["raw"]:
            sys.exit("%s carries %s..." % (e["path"], s[:6]))
EOF
# GitHub skips a job output that contains a secret
expect_eq "job output with a secret is left out" "$(completion "['outputs'].get('leak')")" None

# The classic endpoints (no results service): timeline records with issues, logs, feed.
job '{"name":"classic","classic":true,"steps":[
   {"run":"echo \"::warning file=src/b.c,line=7,col=2::careful\"\necho classic-out"}]}'
run_once_expect "classic job" succeeded
REC=$(completion "['stepResults'][0]['external_id']")
expect_eq "classic: record completed" "$(jq_job "['timeline']['$REC']['state']")" completed
expect_eq "classic: record result" "$(jq_job "['timeline']['$REC']['result']")" succeeded
expect_eq "classic: issue file/line/col" \
    "$(jq_job "['timeline']['$REC']['issues'][0]['data']['file']"):$(jq_job \
    "['timeline']['$REC']['issues'][0]['data']['line']"):$(jq_job \
    "['timeline']['$REC']['issues'][0]['data']['col']")" src/b.c:7:2
expect_eq "classic: warning count" "$(jq_job "['timeline']['$REC']['warningCount']")" 1
LID=$(jq_job "['timeline']['$REC']['log']['id']")
check "classic: step log uploaded and referenced" \
    grep -q classic-out <<<"$(jq_job "['logs']['$LID']['text']")"
check "classic: feed got the line" grep -q classic-out <<<"$(jq_job "['feed']")"

# actions/checkout in a job from GitHub: the workspace starts empty and the repository is
# cloned from github.server_url at github.sha (here a file:// base holding acme/widgets.git).
git init -q --bare "$T/git/acme/widgets.git"
git init -q "$T/src"
echo "from the clone" >"$T/src/hello.txt"
git -C "$T/src" add hello.txt
git -C "$T/src" -c user.name=t -c user.email=t@e commit -qm one
git -C "$T/src" push -q "$T/git/acme/widgets.git" HEAD:refs/heads/main
SHA=$(git -C "$T/src" rev-parse HEAD)
job '{"name":"checkout","github":{"server_url":"file://'"$T"'/git","sha":"'"$SHA"'"},
  "steps":[{"uses":"actions/checkout@v4"},
   {"run":"test \"$(cat hello.txt)\" = \"from the clone\" && test \"$(git rev-parse HEAD)\" = '"$SHA"'"}]}'
run_once_expect "checkout job" succeeded
expect_eq "checkout job: steps" "$(steps_of "$JOB_RID")" "succeeded,succeeded"

# A message the decoder rejects: the job fails with the reason; the runner carries on.
job '{"name":"broken","raw_steps":[{"id":"s","type":"action","reference":{"type":"script"},
  "inputs":{"type":2,"map":[{"Key":"script","Value":{"type":42}}]}}]}'
run_once_expect "bad message" failed
check "bad message: the reason reaches the completion" \
    grep -q "unknown token type" <<<"$(state | q "d['completions']")"

# A worker that dies mid-job fails the job, which is still completed exactly once. (Killed
# from outside: a step, running as its job slot's uid in its own pid namespace, cannot.)
job '{"name":"crash","steps":[{"run":"echo crash-step-started; sleep 30"},{"run":"echo later"}]}'
(
    for _ in $(seq 600); do
        w=$(sed -n "s/.*job 'crash': \(pre-started \)\{0,1\}worker \([0-9]*\) \(started\|takes it\).*/\2/p" "$LOG" | tail -1)
        if [ -n "$w" ] && grep -q crash-step-started <<<"$(jq_job "['feed']")"; then
            kill -KILL "$w"
            break
        fi
        sleep 0.1
    done
) &
run_once_expect "worker crash" failed
check "worker crash: the reason is reported" \
    grep -q "killed by signal 9" <<<"$(completion "['stepResults']")"

# Cancellation mid-step: SIGINT to the step, always() still runs, conclusion canceled.
job '{"name":"cancel","steps":[{"run":"echo started; sleep 30"},
  {"run":"echo cleanup","if":"always()"},{"run":"echo not-me"}]}'
CJOB=$(echo "$JOB" | q 'd["job_id"]')
timeout 120 "$RUNNER" run --root "$T/r1" --once >>"$LOG" 2>&1 </dev/null &
RPID=$!
check "cancel: the step started" wait_until 60 feed_has started
ctl message "{\"type\":\"JobCancellation\",\"body\":{\"jobId\":\"$CJOB\",\"timeout\":\"00:05:00\"}}" \
    >/dev/null
wait $RPID
expect_eq "cancel: exit" "$?" 0
expect_eq "cancel: completions" "$(completions_of "$JOB_RID")" 1
expect_eq "cancel: conclusion" "$(conclusion_of "$JOB_RID")" canceled
expect_eq "cancel: steps" "$(steps_of "$JOB_RID")" canceled,succeeded,skipped

finish_all
