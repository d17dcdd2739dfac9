#!/usr/bin/env bash
# The self-hosted runner protocol end to end against tests/integration/fake_github.py
# on 127.0.0.1: config → run --once with a job → exactly one completion with the right
# conclusion; the same with a fault injected at every stage; cancellation, SIGTERM,
# refresh messages, hooks, ephemeral, JIT, the runner-admin/broker flow, PS256; remove;
# refusals; 0600 credential files; no secret or token in any runner log.
set -u
SRC=${GR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${GR_BUILD_DIR:-$SRC/build}
FAKE="$SRC/tests/integration/fake_github.py"
# the interpreter itself: version-manager shims cost a process or two per call
PY=$(python3 -c "import sys; print(sys.executable)")

# The front end: ghrun once its CLI table lists `config`, else the unit-test driver.
RUNNER=""
if [ -n "${GHRUN:-}" ] && [ -x "$GHRUN" ] && "$GHRUN" config --help >/dev/null 2>&1; then
    RUNNER=$GHRUN
elif [ -x "$BUILD/bin/test_rn_cmd" ]; then
    RUNNER="$BUILD/bin/test_rn_cmd"
else
    echo "FAIL: neither 'ghrun config' nor $BUILD/bin/test_rn_cmd is available"
    exit 1
fi

T=$(mktemp -d /tmp/ghrun-proto.XXXXXX)
FAKE_PID=""
_pass=0
_fail=0
ok() { _pass=$((_pass + 1)); }
bad() {
    _fail=$((_fail + 1))
    echo "FAIL: $*"
}
check() {
    local desc=$1
    shift
    if "$@"; then ok; else bad "$desc"; fi
}

cleanup() {
    [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
    [ -n "${GR_KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

export GHRUN_RETRY_BASE_MS=40 GHRUN_SESSION_RETRY_MS=150 GHRUN_RENEW_MS=700
export GHRUN_REQUEST_TIMEOUT_MS=10000 GHRUN_POLL_TIMEOUT_MS=5000
unset GHRUN_ROOT ACTIONS_RUNNER_HOOK_JOB_STARTED ACTIONS_RUNNER_HOOK_JOB_COMPLETED

start_fake() {
    stop_fake
    : >"$T/fake.out"
    "$PY" "$FAKE" --log "$T/requests.jsonl" --poll-hold 1 "$@" >"$T/fake.out" 2>>"$T/fake.err" &
    FAKE_PID=$!
    wait_until 30 grep -q '^PORT ' "$T/fake.out"
    PORT=$(awk '/^PORT /{print $2}' "$T/fake.out")
    BASE="${FAKE_SCHEME:-http}://127.0.0.1:$PORT"
    [ -n "$PORT" ] || { echo "FAIL: fake server did not start"; cat "$T/fake.err"; exit 1; }
}

stop_fake() {
    if [ -n "$FAKE_PID" ]; then
        kill "$FAKE_PID" 2>/dev/null
        wait "$FAKE_PID" 2>/dev/null
        FAKE_PID=""
    fi
}

ctl() { curl -s -X POST -d "$2" "$BASE/_control/$1"; }
state() { curl -s "$BASE/_control/state"; }
# jq-less JSON query: state | q 'python expression over d'
q() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

LOG="$T/runner.log"
runner() { timeout 120 "$RUNNER" "$@" >>"$LOG" 2>&1 </dev/null; }

config() { # config ROOT NAME [args...]
    local root=$1 name=$2
    shift 2
    runner config --root "$root" --unattended --url "$BASE/acme/widgets" \
        --token REGTOKEN-1234567890 --name "$name" "$@"
}

# Queue a job (JSON spec) and remember its ids.
job() {
    JOB=$(ctl job "$1")
    JOB_RID=$(echo "$JOB" | q 'd["runner_request_id"]')
    SECRET=$(echo "$JOB" | q 'd["secret"]')
    echo "$JOB" | q 'd["github_token"]' >>"$T/secrets"
    echo "$JOB" | q 'd["job_token"]' >>"$T/secrets"
    echo "$SECRET" >>"$T/secrets"
}

completions_of() { state | q "len([c for c in d['completions'] if str(c['request_id'])=='$1'])"; }
conclusion_of() {
    state | q "[c['body']['conclusion'] for c in d['completions'] if str(c['request_id'])=='$1'][0]"
}
steps_of() {
    state | q "','.join(s['conclusion'] for c in d['completions'] if str(c['request_id'])=='$1' \
for s in c['body']['stepResults'] if s.get('type') != 'runner')"
}

expect_eq() { # DESC GOT WANT
    if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi
}

# wait_until SECS CMD...: run CMD until it succeeds, for at most SECS seconds. CI runs the
# ASan build on a loaded 2-core machine: allow ~30 s for what takes well under 1 s here.
wait_until() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.05
    done
}
# feed_has TEXT: the queued job's live console (HTTP feed) has a line with TEXT
feed_has() {
    state | q "[j for j in d['jobs'] if j['runner_request_id']=='$JOB_RID'][0]['feed']" |
        grep -qF -- "$1"
}
sessions_are() { [ "$(state | q 'd["sessions"]')" = "$1" ]; }

# run --once for the queued job; expect rc and exactly one completion with conclusion.
run_once_expect() { # DESC CONCLUSION [env...]
    local desc=$1 want=$2 rc
    shift 2
    env "$@" timeout 120 timeout 120 "$RUNNER" run --root "$T/r1" --once >>"$LOG" 2>&1 </dev/null
    rc=$?
    expect_eq "$desc: exit code" "$rc" 0
    expect_eq "$desc: completions" "$(completions_of "$JOB_RID")" 1
    expect_eq "$desc: conclusion" "$(conclusion_of "$JOB_RID")" "$want"
    expect_eq "$desc: session deleted" "$(state | q 'd["sessions"]')" 0
}

mode_of() { stat -c %a "$1"; }

# ---------------------------------------------------------------- parts
# test_runner_faults.sh, test_runner_jobfaults.sh, test_runner_flows.sh and others source
# this file with RUNNER_PART set and run one part each, so that every ctest entry stays well
# under its timeout.

first_config() {
    start_fake
    echo REGTOKEN-1234567890 >>"$T/secrets"
    echo REMTOKEN-1234567890 >>"$T/secrets"
    check "config succeeds" config "$T/r1" r1 --labels gpu,big
}

part_core() {
# ---------------------------------------------------------------- classic flow

for f in .runner .credentials .credentials_rsaparams; do
    expect_eq "$f mode" "$(mode_of "$T/r1/$f")" 600
done
expect_eq "agent registered with labels" \
    "$(state | q "','.join(l['name'] for l in d['agents'][0]['labels'])")" "self-hosted,Linux,X64,gpu,big"
expect_eq "agent registered with disableUpdate" "$(state | q 'd["agents"][0]["disableUpdate"]')" True
cp "$T/r1/.runner" "$T/runner.before"
"$RUNNER" config --root "$T/r1" --unattended --url "$BASE/acme/widgets" \
    --token REGTOKEN-1234567890 --name r1 >/dev/null 2>"$T/second.err"
expect_eq "second config refuses" "$?" 2
check "second config names the reason" grep -q "configured already" "$T/second.err"
check "second config leaves .runner alone" cmp -s "$T/r1/.runner" "$T/runner.before"
check "duplicate name refused without --replace" \
    bash -c "! '$RUNNER' config --root '$T/dup' --unattended --url '$BASE/acme/widgets' \
        --token REGTOKEN-1234567890 --name r1 >/dev/null 2>&1"
check "wrong registration token refused" \
    bash -c "! '$RUNNER' config --root '$T/bad' --unattended --url '$BASE/acme/widgets' \
        --token WRONG >/dev/null 2>&1"
check "no files after a refused config" test ! -e "$T/bad/.runner"

# A job with output, a masked secret, a failure, a skipped step and an always() step.
job '{"name":"build","steps":[
  {"run":"echo hello from step one","name":"greet"},
  {"run":"echo the secret is s3cr3t-xyzzy; exit 3","name":"fail"},
  {"run":"echo never","name":"skipped"},
  {"run":"echo always ran","name":"cleanup","if":"always()"}],"secret":"s3cr3t-xyzzy"}'
run_once_expect "mixed job" failed
expect_eq "mixed job: step conclusions" "$(steps_of "$JOB_RID")" "succeeded,failed,skipped,succeeded"
JOBLOG=$(ls "$T/r1/_diag/"job-*.log 2>/dev/null | head -1)
check "job log exists" test -n "$JOBLOG"
check "job log has step output" grep -q "hello from step one" "$JOBLOG"
check "job log masks the secret" grep -q "the secret is \*\*\*" "$JOBLOG"
check "job log never has the secret" bash -c "! grep -q s3cr3t-xyzzy '$JOBLOG'"
check "job log says how the steps are sandboxed" grep -q "sandbox.*ns=" "$JOBLOG"

# Steps run in the runner's sandbox (strict by default): the runner root, which holds the
# credentials, is masked, and /tmp is the job's own.
job '{"name":"contained","steps":[{"run":"test ! -e '"$T"'/r1/.credentials && test ! -e '"$T"'/r1/.runner"},
  {"run":"test ! -e '"$T"'/runner.log && echo private >/tmp/mine && test -e /tmp/mine"}]}'
run_once_expect "sandboxed job" succeeded
check "sandboxed job: its /tmp was its own" test ! -e /tmp/mine
expect_eq "lock renewed at least once" \
    "$(state | q "[j['renewals'] for j in d['jobs'] if j['runner_request_id']=='$JOB_RID'][0] >= 1")" True

job '{"name":"green","steps":[{"run":"test \"$GITHUB_ACTIONS\" = true && test \"$CI\" = true"},
  {"run":"echo $FOO | grep -q bar","env":{"FOO":"bar"}}]}'
run_once_expect "green job" succeeded

job '{"name":"continue","steps":[{"run":"exit 1","continue-on-error":true},{"run":"true"}]}'
run_once_expect "continue-on-error" succeeded

# Step conditions are evaluated by the engine with the message's github context.
job '{"name":"expr","steps":[{"run":"echo x","if":"github.ref == '"'"'refs/heads/main'"'"'"},
  {"run":"exit 3","if":"github.ref == '"'"'refs/heads/other'"'"'"}]}'
run_once_expect "conditions" succeeded
expect_eq "conditions: steps" "$(steps_of "$JOB_RID")" succeeded,skipped

}

part_faults() { # [session|job]: the session's faults, or the job's (two ctest entries, each
# well under its timeout on a slow machine); all of them without an argument
local half=${1:-}
# ---------------------------------------------------------------- faults, one stage at a time
fault_case() { # FAULT CONCLUSION
    ctl fault "$("$PY" -c "import sys,json; p=sys.argv[1].split(':'); \
print(json.dumps({'endpoint':p[0],'kind':':'.join(p[1:-1]),'count':int(p[-1])}))" "$1")" >/dev/null
    job '{"name":"fault","steps":[{"run":"echo ok"}]}'
    run_once_expect "fault $1" "$2"
    expect_eq "fault $1 was hit" "$(state | q 'len(d["faults_left"])')" 0
}
local session_faults="oauth:500:2 oauth:drop:1 session:500:2 session:409:2 session:401:1 \
    message:500:1 message:drop:1 message:401:1 message:slow:1.5:1 message:expire:1 \
    deletemessage:500:2 deletesession:500:2"
local job_faults="acquirejob:500:2 acquirejob:drop:1 acquirejob:401:1 renewjob:500:2 \
    renewjob:drop:1 completejob:500:2 completejob:drop:2"
[ "$half" = job ] && session_faults=""
[ "$half" = session ] && job_faults=""
for f in $session_faults $job_faults; do
    fault_case "$f" succeeded
done
[ -n "$session_faults" ] &&
    expect_eq "session conflicts were seen" "$(state | q 'd["session_conflicts"] >= 0')" True
[ "$half" = session ] && return 0

# A completion that the server applied but whose answer came too late: retried with the
# same body, applied once.
ctl fault '{"endpoint":"completejob","kind":"late:2.5","count":1}' >/dev/null
job '{"name":"late","steps":[{"run":"exit 4"}]}'
run_once_expect "late completion" failed GHRUN_REQUEST_TIMEOUT_MS=1000
LJOB=$(echo "$JOB" | q 'd["job_id"]')
"$PY" - "$T/requests.jsonl" "$LJOB" <<'EOF' && ok || bad "late completion: retries carry one body"
import json, sys, time
# The late attempt is logged only once its delayed answer is written, which can be after
# the runner (done with the retry) has exited: wait for it, a bounded while.
for _ in range(300):
    sent = [e["body"] for e in map(json.loads, open(sys.argv[1]))
            if e["endpoint"] == "completejob" and e.get("body")
            and e["body"].get("jobId") == sys.argv[2]]
    if len(sent) >= 2:
        break
    time.sleep(0.1)
bodies = {json.dumps(b, sort_keys=True) for b in sent}
sys.exit(0 if len(sent) >= 2 and len(bodies) == 1 else 1)
EOF

# The first lock renewal never succeeds: the job is abandoned, not run, not completed.
ctl fault '{"endpoint":"renewjob","kind":"500","count":50}' >/dev/null
job '{"name":"unlockable","steps":[{"run":"touch '"$T"'/must-not-exist"}]}'
timeout 120 "$RUNNER" run --root "$T/r1" --once >>"$LOG" 2>&1 </dev/null
expect_eq "abandoned job: exit code" "$?" 1
expect_eq "abandoned job: no completion" "$(completions_of "$JOB_RID")" 0
check "abandoned job: step did not run" test ! -e "$T/must-not-exist"

}

part_flows() {
# ---------------------------------------------------------------- messages
stop_fake
start_fake
config "$T/r2" r2 || bad "config r2"
ROOT2="$T/r2"
ctl message '{"type":"RunnerRefresh","body":{"target_version":"9.9.9"}}' >/dev/null
ctl message '{"type":"AgentRefresh","body":{"agentId":1,"targetVersion":"9.9.8"}}' >/dev/null
ctl message '{"type":"ForceTokenRefresh","body":null}' >/dev/null
job '{"name":"after-refresh","steps":[{"run":"true"}]}'
timeout 120 "$RUNNER" run --root "$ROOT2" --once >>"$LOG" 2>&1 </dev/null
expect_eq "refresh messages: exit" "$?" 0
expect_eq "refresh messages: job completed" "$(conclusion_of "$JOB_RID")" succeeded
check "refresh messages: update ignored and logged" grep -q "never updates itself" "$LOG"
expect_eq "refresh messages: deleted" "$(state | q 'd["pending_messages"]')" 0

# Cancellation: the running step is interrupted, always() still runs, conclusion canceled.
job '{"name":"cancel-me","steps":[{"run":"echo cancel-me-started; sleep 30"},{"run":"echo cleanup","if":"always()"}]}'
CJOB=$(echo "$JOB" | q 'd["job_id"]')
timeout 120 "$RUNNER" run --root "$ROOT2" --once >>"$LOG" 2>&1 </dev/null &
RPID=$!
# cancel once the step runs (its line reached the live console), not after a fixed delay
check "cancellation: the step started" wait_until 60 feed_has cancel-me-started
ctl message "{\"type\":\"JobCancellation\",\"body\":{\"jobId\":\"$CJOB\",\"timeout\":\"00:05:00\"}}" \
    >/dev/null
wait $RPID
expect_eq "cancellation: exit" "$?" 0
expect_eq "cancellation: conclusion" "$(conclusion_of "$JOB_RID")" canceled
expect_eq "cancellation: steps" "$(steps_of "$JOB_RID")" "canceled,succeeded"

# SIGTERM while idle: exits 0 and deletes its session.
timeout 120 "$RUNNER" run --root "$ROOT2" >>"$LOG" 2>&1 </dev/null &
RPID=$!
check "SIGTERM idle: session created" wait_until 30 sessions_are 1
kill -TERM $RPID
wait $RPID
expect_eq "SIGTERM idle: exit" "$?" 0
expect_eq "SIGTERM idle: session deleted" "$(state | q 'd["sessions"]')" 0

# SIGINT during a job: the job is cancelled and reported once, then the session goes.
job '{"name":"interrupted","steps":[{"run":"echo interrupted-started; sleep 30"}]}'
timeout 120 "$RUNNER" run --root "$ROOT2" >>"$LOG" 2>&1 </dev/null &
RPID=$!
check "SIGINT job: the step started" wait_until 60 feed_has interrupted-started
kill -INT $RPID
wait $RPID
expect_eq "SIGINT job: exit" "$?" 0
expect_eq "SIGINT job: one completion" "$(completions_of "$JOB_RID")" 1
expect_eq "SIGINT job: conclusion" "$(conclusion_of "$JOB_RID")" failed
expect_eq "SIGINT job: session deleted" "$(state | q 'd["sessions"]')" 0

# Hooks run as extra steps around the job, outside the sandbox (the operator's scripts); the
# job's own steps see the workspace the hook wrote to, not the host's /tmp.
cat >"$T/hook-start.sh" <<EOF
echo started >"$T/hook-started"
echo started >"\$GITHUB_WORKSPACE/hook-started"
EOF
cat >"$T/hook-done.sh" <<EOF
echo done >"$T/hook-done"
EOF
job '{"name":"hooks","steps":[{"run":"test -e hook-started"}]}'
ACTIONS_RUNNER_HOOK_JOB_STARTED="$T/hook-start.sh" ACTIONS_RUNNER_HOOK_JOB_COMPLETED="$T/hook-done.sh" \
    timeout 120 "$RUNNER" run --root "$ROOT2" --once >>"$LOG" 2>&1 </dev/null
expect_eq "hooks: conclusion" "$(conclusion_of "$JOB_RID")" succeeded
expect_eq "hooks: steps" "$(steps_of "$JOB_RID")" "succeeded,succeeded,succeeded"
check "hooks: completed hook ran" test -e "$T/hook-done"
check "hooks: started hook ran on the host" test -e "$T/hook-started"

# remove: the wrong token keeps everything; the right one deletes the agent and the files.
timeout 120 "$RUNNER" remove --root "$ROOT2" --token WRONG >>"$LOG" 2>&1 </dev/null
expect_eq "remove with a wrong token fails" "$?" 1
check "remove with a wrong token keeps the files" test -e "$ROOT2/.runner"
timeout 120 "$RUNNER" remove --root "$ROOT2" --token REMTOKEN-1234567890 >>"$LOG" 2>&1 </dev/null
expect_eq "remove: exit" "$?" 0
for f in .runner .credentials .credentials_rsaparams; do
    check "remove deletes $f" test ! -e "$ROOT2/$f"
done
expect_eq "remove: agent gone" "$(state | q 'len([a for a in d["agents"] if a["name"]=="r2"])')" 0

# Ephemeral: one job, then exit 0 and the local files are gone.
config "$T/eph" eph --ephemeral || bad "config --ephemeral"
expect_eq "ephemeral flag registered" "$(state | q '[a["ephemeral"] for a in d["agents"] if a["name"]=="eph"][0]')" True
job '{"name":"eph","steps":[{"run":"true"}]}'
timeout 120 "$RUNNER" run --root "$T/eph" >>"$LOG" 2>&1 </dev/null
expect_eq "ephemeral: exit" "$?" 0
expect_eq "ephemeral: completed" "$(conclusion_of "$JOB_RID")" succeeded
check "ephemeral: local files removed" test ! -e "$T/eph/.runner"

# JIT: the three files in a blob; one job; the files are gone afterwards.
config "$T/jitsrc" jit1 || bad "config jit source"
BLOB=$("$PY" - "$T/jitsrc" <<'EOF'
import base64, json, os, sys
d = {f: base64.b64encode(open(os.path.join(sys.argv[1], f), "rb").read()).decode()
     for f in (".runner", ".credentials", ".credentials_rsaparams")}
print(base64.b64encode(json.dumps(d).encode()).decode())
EOF
)
job '{"name":"jit","steps":[{"run":"true"}]}'
timeout 120 "$RUNNER" run --root "$T/jit" --jitconfig "$BLOB" >>"$LOG" 2>&1 </dev/null
expect_eq "jit: exit" "$?" 0
expect_eq "jit: completed" "$(conclusion_of "$JOB_RID")" succeeded
check "jit: files removed" test ! -e "$T/jit/.runner"

# ---------------------------------------------------------------- runner-admin + broker, PS256
start_fake --v2 --fips
check "v2 config succeeds" config "$T/v2" v2r
check "v2: .runner selects the broker" grep -q '"useV2Flow": true' "$T/v2/.runner"
check "v2: PS256 requested" grep -q '"requireFipsCryptography": "True"' "$T/v2/.credentials"
job '{"name":"broker","steps":[{"run":"echo via broker"}]}'
timeout 120 "$RUNNER" run --root "$T/v2" --once >>"$LOG" 2>&1 </dev/null
expect_eq "broker: exit" "$?" 0
expect_eq "broker: completed" "$(conclusion_of "$JOB_RID")" succeeded
check "broker: polled the broker" grep -q '"path": "/broker/message"' "$T/requests.jsonl"
check "broker: acknowledged" grep -q '"endpoint": "acknowledge"' "$T/requests.jsonl"
timeout 120 "$RUNNER" remove --root "$T/v2" --token REMTOKEN-1234567890 >>"$LOG" 2>&1 </dev/null
expect_eq "v2 remove: exit" "$?" 0
expect_eq "v2 remove: agent gone" "$(state | q 'len(d["agents"])')" 0

# Classic registration whose agent selects the broker (ServerUrlV2/UseV2Flow properties).
start_fake --broker
check "classic+broker config" config "$T/cb" cb
job '{"name":"cb","steps":[{"run":"true"}]}'
timeout 120 "$RUNNER" run --root "$T/cb" --once >>"$LOG" 2>&1 </dev/null
expect_eq "classic+broker: completed" "$(conclusion_of "$JOB_RID")" succeeded

}

finish_all() {
# no secrets in runner logs
leaks=0
while read -r s; do
    [ -n "$s" ] && grep -qF -- "$s" "$LOG" && { echo "leaked: ${s:0:6}..."; leaks=1; }
done <"$T/secrets"
grep -qE 'at-[0-9a-f]{32}|admin-[0-9a-f]{32}|eyJ[A-Za-z0-9_-]{20,}' "$LOG" && leaks=1
expect_eq "no secret or token in the runner log" "$leaks" 0

echo "$_pass passed, $_fail failed"
if [ "$_fail" -ne 0 ]; then
    echo "--- runner log (tail) ---"
    tail -40 "$LOG"
fi
[ "$_fail" -eq 0 ]
}

if [ -z "${RUNNER_PART:-}" ]; then
    first_config
    part_core
    finish_all
fi
