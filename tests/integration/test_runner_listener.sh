#!/usr/bin/env bash
# The listener of `ghrun run` against tests/integration/fake_github.py: it survives the server
# going away (requests dropped, then the server frozen so that every request times out, also
# from start-up) and runs the next job; it follows a BrokerMigration message; it backs off from a server that
# answers long-polls at once; SIGTERM lets a running job finish within the grace period
# (GHRUN_SHUTDOWN_GRACE_MS), a second signal or the end of the grace period cancels it; the
# session is deleted every time. The worker started ahead: the job goes to the idle worker that
# was waiting before its message came; a killed idle worker is replaced and the next job still
# runs; with pre-starting off (GHRUN_PRESTART=0) each job starts its own worker.
RUNNER_PART=listener
. "$(dirname "$0")/test_runner_protocol.sh"

RPID=""
listen() { # start `ghrun run` in the background on ROOT with env assignments
    local root=$1
    shift
    # no `timeout` in between: it would pass our signals on to the job's processes too
    env "$@" "$RUNNER" run --root "$root" >>"$LOG" 2>&1 </dev/null &
    RPID=$!
}
wait_sessions() { # N: wait (up to 30 s) until the fake holds N sessions
    wait_until 30 sessions_are "$1"
}
renewed() {
    [ "$(state | q "[j['renewals'] for j in d['jobs'] if j['runner_request_id']=='$JOB_RID'][0]")" \
        -ge 1 ]
}
wait_renewed() { # wait (up to 30 s) until the queued job's lock was renewed (it runs)
    wait_until 30 renewed
}
completed() { [ "$(completions_of "$JOB_RID")" -ge 1 ]; }
wait_completed() { # wait (up to 60 s) for the queued job's completion
    wait_until 60 completed
}
log_has() { grep -qF -- "$1" "$LOG"; }
log_count() { grep -cF -- "$1" "$LOG"; }
# log_more TEXT N: the log has more than N lines with TEXT (the runner log is appended to by
# every runner of this test: count the lines from before, not just any)
log_more() { [ "$(log_count "$1")" -gt "$2" ]; }

first_config

# ---------------------------------------------------------------- the server goes away
# Seven long-polls in a row dropped without an answer (backoff grows after five), then the
# server frozen for longer than a long-poll's timeout: the runner keeps going and takes the
# job queued afterwards.
listen "$T/r1" GHRUN_POLL_TIMEOUT_MS=1500
check "outage: session created" wait_sessions 1
ctl fault '{"endpoint":"message","kind":"drop","count":7}' >/dev/null
faults_done() { [ "$(state | q 'len(d["faults_left"])')" = 0 ]; }
wait_until 60 faults_done
expect_eq "outage: every dropped poll was retried" "$(state | q 'len(d["faults_left"])')" 0
kill -STOP "$FAKE_PID"
sleep 4
kill -CONT "$FAKE_PID"
check "outage: runner still running" kill -0 "$RPID"
job '{"name":"after-outage","steps":[{"run":"echo back"}]}'
check "outage: job after the outage completed" wait_completed
expect_eq "outage: conclusion" "$(conclusion_of "$JOB_RID")" succeeded
kill -TERM "$RPID"
wait "$RPID"
expect_eq "outage: exit after SIGTERM" "$?" 0
expect_eq "outage: session deleted" "$(state | q 'd["sessions"]')" 0
check "outage: backoff logged" log_has "cannot get messages"

# Started while the server is frozen: the OAuth request times out and is retried until the
# server is back. The server stays frozen until the runner said so (a fixed delay was too
# short for a slow start under load), however long that takes.
kill -STOP "$FAKE_PID"
N0=$(log_count "cannot get an access token")
listen "$T/r1" GHRUN_REQUEST_TIMEOUT_MS=800
wait_until 60 log_more "cannot get an access token" "$N0"
kill -CONT "$FAKE_PID"
check "frozen at start: session created once the server is back" wait_sessions 1
job '{"name":"after-freeze","steps":[{"run":"true"}]}'
check "frozen at start: job completed" wait_completed
kill -TERM "$RPID"
wait "$RPID"
expect_eq "frozen at start: exit after SIGTERM" "$?" 0
expect_eq "frozen at start: session deleted" "$(state | q 'd["sessions"]')" 0
check "frozen at start: token retry logged" log_more "cannot get an access token" "$N0"

# ---------------------------------------------------------------- broker migration
# A BrokerMigration message on the classic flow: the next long-poll goes to the broker with
# the same session id, and what it returns (the job) is run.
ctl message "{\"type\":\"BrokerMigration\",\"body\":{\"brokerBaseUrl\":\"$BASE/broker/\"}}" >/dev/null
job '{"name":"migrated","steps":[{"run":"true"}]}'
timeout 120 "$RUNNER" run --root "$T/r1" --once >>"$LOG" 2>&1 </dev/null
expect_eq "migration: exit" "$?" 0
expect_eq "migration: completed" "$(conclusion_of "$JOB_RID")" succeeded
"$PY" - "$T/requests.jsonl" <<'EOF' && ok || bad "migration: the broker was polled with the session id"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
sessions = {r["query"].get("sessionId") for r in reqs
            if r["path"].startswith("/tenant/") and r["endpoint"] == "message"}
broker = [r for r in reqs if r["path"] == "/broker/message"]
sys.exit(0 if broker and broker[0]["query"].get("sessionId") in sessions else 1)
EOF

# ---------------------------------------------------------------- shutdown grace period
# SIGTERM while a job runs: no more polling, the job finishes and is reported succeeded.
job '{"name":"graceful","steps":[{"run":"sleep 1.5; echo finished"}]}'
listen "$T/r1" GHRUN_SHUTDOWN_GRACE_MS=30000
check "grace: job started" wait_renewed
kill -TERM "$RPID"
wait "$RPID"
expect_eq "grace: exit" "$?" 0
expect_eq "grace: one completion" "$(completions_of "$JOB_RID")" 1
expect_eq "grace: job finished normally" "$(conclusion_of "$JOB_RID")" succeeded
expect_eq "grace: session deleted" "$(state | q 'd["sessions"]')" 0

# A second signal cancels the job at once.
job '{"name":"impatient","steps":[{"run":"sleep 60"}]}'
listen "$T/r1" GHRUN_SHUTDOWN_GRACE_MS=60000
check "second signal: job started" wait_renewed
START=$(date +%s)
N0=$(log_count "letting the running job finish")
kill -TERM "$RPID"
# the second signal once the first was taken (the log says so), not after a fixed delay
check "second signal: the first was taken" wait_until 30 log_more "letting the running job finish" "$N0"
kill -INT "$RPID"
wait "$RPID"
expect_eq "second signal: exit" "$?" 0
expect_eq "second signal: cancelled" "$(conclusion_of "$JOB_RID")" failed
check "second signal: did not wait for the step" test $(($(date +%s) - START)) -lt 30
check "second signal: logged" log_has "cancelling the running job"

# The grace period ends: the job is cancelled and reported.
job '{"name":"too-slow","steps":[{"run":"sleep 60"}]}'
listen "$T/r1" GHRUN_SHUTDOWN_GRACE_MS=1000
check "grace over: job started" wait_renewed
kill -TERM "$RPID"
wait "$RPID"
expect_eq "grace over: exit" "$?" 0
expect_eq "grace over: one completion" "$(completions_of "$JOB_RID")" 1
expect_eq "grace over: cancelled" "$(conclusion_of "$JOB_RID")" failed
check "grace over: logged" log_has "did not finish within 1 s"
expect_eq "grace over: session deleted" "$(state | q 'd["sessions"]')" 0

# ---------------------------------------------------------------- the pre-started worker
idle_worker() { # print the pid of the listener's idle worker (up to 30 s), none of PIDS...
    local w end=$((SECONDS + 30)) not
    not=$(printf '%s\n' 0 "$@")
    while :; do
        w=$(pgrep -P "$RPID" -f "ghrun-engine worker" | grep -vxF "$not" | head -1)
        [ -n "$w" ] && echo "$w" && return 0
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.05
    done
}
listen "$T/r1"
check "prestart: session created" wait_sessions 1
W1=$(idle_worker) || bad "prestart: no idle worker before the job"
job '{"name":"warm","steps":[{"run":"echo warm"}]}'
check "prestart: job completed" wait_completed
expect_eq "prestart: conclusion" "$(conclusion_of "$JOB_RID")" succeeded
check "prestart: the idle worker ($W1) took the job" log_has "pre-started worker $W1 takes it"
W2=$(idle_worker "$W1") || bad "prestart: no new idle worker after the job"
kill -KILL "$W2"
W3=$(idle_worker "$W1" "$W2") || bad "prestart: the killed idle worker was not replaced"
check "prestart: the death was logged" log_has "idle worker $W2 was killed by signal 9"
job '{"name":"after-kill","steps":[{"run":"echo again"}]}'
check "prestart: job after the kill completed" wait_completed
expect_eq "prestart: conclusion after the kill" "$(conclusion_of "$JOB_RID")" succeeded
check "prestart: the replacement ($W3) took it" log_has "pre-started worker $W3 takes it"
kill -TERM "$RPID"
wait "$RPID"
expect_eq "prestart: exit after SIGTERM" "$?" 0
check "prestart: the idle worker stopped with the listener" \
    sh -c "! pgrep -f '[g]hrun-engine worker --root $T/r1' >/dev/null"

listen "$T/r1" GHRUN_PRESTART=0
check "no prestart: session created" wait_sessions 1
sleep 0.3
check "no prestart: no idle worker" sh -c "! pgrep -P $RPID >/dev/null"
job '{"name":"cold","steps":[{"run":"echo cold"}]}'
check "no prestart: job completed" wait_completed
expect_eq "no prestart: conclusion" "$(conclusion_of "$JOB_RID")" succeeded
WC=$(grep -o "job 'cold': worker [0-9]* started" "$LOG" | grep -o "[0-9]*")
check "no prestart: the job started its own worker" test -n "$WC"
kill -TERM "$RPID"
wait "$RPID"
expect_eq "no prestart: exit after SIGTERM" "$?" 0

# ---------------------------------------------------------------- a server that does not hold
# Every long-poll answered 202 at once: after 50 empty answers the runner waits (15-30 times
# the retry base) instead of spinning.
start_fake --poll-hold 0
config "$T/r3" r3 || bad "config r3"
BEFORE=$(wc -l <"$T/requests.jsonl") # the log is appended to: count this runner's polls only
N0=$(log_count "answers long-polls without waiting")
listen "$T/r3"
# the polls of its first 3 s (an upper bound: a slow machine polls less, never more)
sleep 3
POLLS=$(tail -n +"$((BEFORE + 1))" "$T/requests.jsonl" | grep -c '"endpoint": "message"')
# its 50 empty answers can take longer than 3 s under load: wait for the backoff itself
check "no hold: logged" wait_until 30 log_more "answers long-polls without waiting" "$N0"
kill -TERM "$RPID"
wait "$RPID"
expect_eq "no hold: exit" "$?" 0
check "no hold: the runner backed off ($POLLS polls in 3 s)" test "$POLLS" -lt 260

finish_all
