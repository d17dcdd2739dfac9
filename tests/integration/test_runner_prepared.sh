#!/usr/bin/env bash
# The idle worker's prepared sandbox (`ghrun run`, pre-started worker): after a job, the next
# idle worker makes the sandbox of a job of the same repository ahead, and the next job of that
# repository takes it (GHRUN_TRACE_LATENCY's "prepared sandbox taken"); a job of another
# repository discards it and makes its own; nothing of one job (its /tmp, its HOME, its
# workspace) is visible to the next; an idle worker killed with its sandbox made leaves
# nothing behind once its successor has swept (no process, no cgroup, no private dir, no slot
# lease); and a runner stopped while idle leaves nothing either.
RUNNER_PART=prepared
. "$(dirname "$0")/test_runner_protocol.sh"

if [ "$(id -u)" != 0 ]; then
    echo "SKIP: the prepared sandbox needs a root runner (namespaces, cgroups, slots)"
    exit 0
fi

RPID=""
stop_runner() {
    [ -n "$RPID" ] && kill -TERM "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
    RPID=""
}
trap 'stop_runner; cleanup' EXIT
listen() { # start `ghrun run` in the background on ROOT with env assignments
    local root=$1
    shift
    env "$@" "$RUNNER" run --root "$root" >>"$LOG" 2>&1 </dev/null &
    RPID=$!
}
completed() { [ "$(completions_of "$JOB_RID")" -ge 1 ]; }
wait_completed() { # wait (up to 60 s) for the queued job's completion
    wait_until 60 completed
}
jq_job() { state | q "[j for j in d['jobs'] if j['runner_request_id']=='$JOB_RID'][0]$1"; }
taken() { grep -c "ghrun-trace: job: prepared sandbox taken" "$LOG"; }
idle_worker() { # the listener's idle worker (its only child while no job runs)
    cat "/proc/$RPID/task/$RPID/children" 2>/dev/null | awk '{print $1}'
}
# the jobs' private dirs: ghrun-job-<worker pid>-<random> in $TMPDIR (sb_policy.state_dir)
STATE=${TMPDIR:-/tmp}
prepared_by() { # PID: whether PID has its prepared sandbox made (its private dir)
    compgen -G "$STATE/ghrun-job-$1-*" >/dev/null
}
wait_prepared() { # [NOT_PID]: wait (up to 60 s) until the idle worker (other than NOT_PID,
    # which the listener may not have reaped yet) has its sandbox prepared
    local w end=$((SECONDS + 60))
    while :; do
        w=$(idle_worker)
        [ -n "$w" ] && [ "$w" != "${1:-}" ] && prepared_by "$w" && { WORKER=$w; return 0; }
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.1
    done
}
# every job-* cgroup of ours, by the pid in its name (leaf_name: job-<name>-<pid>-<seq>)
cgroups_of() {
    find /sys/fs/cgroup -maxdepth 8 -type d -name "job-*-$1-*" 2>/dev/null
}
# live processes in a job cgroup of worker PID (helpers, inits, steps); not zombies, which a
# pid 1 that does not reap (some containers) keeps listed
procs_of() {
    local f n=0
    for f in $(grep -lE "/job-[^/]*-$1-[0-9]+(/|$)" /proc/[0-9]*/cgroup 2>/dev/null); do
        grep -qE '^State:[[:space:]]+Z' "${f%/cgroup}/status" 2>/dev/null || n=$((n + 1))
    done
    echo "$n"
}
# no_procs_of PID: wait (up to 30 s) until no live process of worker PID's sandbox is left.
# The kernel lets a cgroup be removed once its tasks are exiting, before they are gone (a pid
# namespace's init waits there for its namespace to empty): for a moment after the sweep or
# the stop, a killed sandbox's processes can still be listed, in the removed cgroup.
procs_gone() { [ "$(procs_of "$1")" -eq 0 ]; }
no_procs_of() {
    wait_until 30 procs_gone "$1" && return 0
    local f
    for f in $(grep -lE "/job-[^/]*-$1-[0-9]+(/|$)" /proc/[0-9]*/cgroup 2>/dev/null); do
        echo "left: ${f%/cgroup}: $(grep -E '^(Name|State|PPid):' "${f%/cgroup}/status" 2>/dev/null |
            tr -s '\t\n' '  ') $(cat "$f" 2>/dev/null)"
    done
    return 1
}
# slot leases (flock'd lock files, O_CLOEXEC) still open in worker PID or its job's processes
leases_of() {
    local p n=0
    for p in $1 $(grep -lE "/job-[^/]*-$1-[0-9]+(/|$)" /proc/[0-9]*/cgroup 2>/dev/null |
        cut -d/ -f3); do
        ls -l "/proc/$p/fd" 2>/dev/null | grep -q "/run/ghrun/slots/" && n=$((n + 1))
    done
    echo "$n"
}

WORKER=""
first_config
listen "$T/r1" GHRUN_TRACE_LATENCY=1

# Job A: the runner's first: nothing prepared yet. It leaves files in /tmp and HOME.
job '{"name":"a","steps":[{"run":"echo a-secret >/tmp/a-tmp; echo a >\"$HOME/a-home\"; echo \"a-home=$HOME\""}]}'
check "A: completed" wait_completed
expect_eq "A: conclusion" "$(conclusion_of "$JOB_RID")" succeeded
expect_eq "A: no prepared sandbox for the first job" "$(taken)" 0

# Job B: same repository: the idle worker's prepared sandbox serves it, fresh.
check "B: the idle worker prepared a sandbox" wait_prepared
job '{"name":"b","steps":[{"run":"test ! -e /tmp/a-tmp && echo tmp-fresh\ntest ! -e \"$HOME/a-home\" && echo home-fresh\necho b >/tmp/b-tmp\necho \"ws=$PWD\"\necho ws-ok >ws-b"}]}'
check "B: completed" wait_completed
expect_eq "B: conclusion" "$(conclusion_of "$JOB_RID")" succeeded
expect_eq "B: took the prepared sandbox" "$(taken)" 1
feed=$(jq_job "['feed']")
check "B: job A's /tmp is not there" grep -q tmp-fresh <<<"$feed"
check "B: job A's HOME files are not there" grep -q home-fresh <<<"$feed"
check "B: its workspace is its repository's" grep -q "ws=$T/r1/_work/widgets/widgets" <<<"$feed"
check "B: the workspace is writable" test -f "$T/r1/_work/widgets/widgets/ws-b"
check "B: the job log describes the sandbox" grep -q "sandbox: uid=slot" "$T"/r1/_diag/job-*.log

# Job C: another repository: the sandbox prepared for widgets is discarded, C makes its own.
check "C: the idle worker prepared a sandbox" wait_prepared
job '{"name":"c","github":{"repository":"acme/other"},"steps":[{"run":"echo \"ws=$PWD\"\ntest ! -e /tmp/b-tmp && echo tmp-fresh\ntest -e '"$T"'/r1/_work/widgets/widgets/ws-b || echo widgets-hidden\necho c >ws-c"}]}'
check "C: completed" wait_completed
expect_eq "C: conclusion" "$(conclusion_of "$JOB_RID")" succeeded
expect_eq "C: did not take a sandbox prepared for another workspace" "$(taken)" 1
feed=$(jq_job "['feed']")
check "C: runs in its own workspace" grep -q "ws=$T/r1/_work/other/other" <<<"$feed"
check "C: job B's /tmp is not there" grep -q tmp-fresh <<<"$feed"
check "C: the other repository's workspace is not visible" grep -q widgets-hidden <<<"$feed"
check "C: wrote its workspace" test -f "$T/r1/_work/other/other/ws-c"
expect_eq "C: the discarded sandbox left no cgroup" "$(cgroups_of "$WORKER" | wc -l)" 0

# Job D: the repository of C again: prepared and taken.
check "D: the idle worker prepared a sandbox" wait_prepared
job '{"name":"d","github":{"repository":"acme/other"},"steps":[{"run":"test -f ws-c && echo sees-own-ws"}]}'
check "D: completed" wait_completed
expect_eq "D: took the prepared sandbox" "$(taken)" 2
check "D: sees its repository's workspace" grep -q sees-own-ws <<<"$(jq_job "['feed']")"

# An idle worker killed with its sandbox made: its namespaces die with it, and the next
# idle worker sweeps its cgroup and private dir; the job after that still runs.
check "kill: the idle worker prepared a sandbox" wait_prepared
KILLED=$WORKER
check "kill: its sandbox has a cgroup" test "$(cgroups_of "$KILLED" | wc -l)" -ge 1
check "kill: its sandbox's init runs" test "$(procs_of "$KILLED")" -ge 1
check "kill: it holds a slot lease" test "$(leases_of "$KILLED")" -ge 1
kill -KILL "$KILLED"
check "kill: a new idle worker prepared a sandbox" wait_prepared "$KILLED"
check "kill: the new worker is another process" test "$WORKER" != "$KILLED"
no_procs_of "$KILLED"
expect_eq "kill: no process of the killed worker's sandbox left" "$(procs_of "$KILLED")" 0
expect_eq "kill: no cgroup of the killed worker left" "$(cgroups_of "$KILLED" | wc -l)" 0
check "kill: no private dir of the killed worker left" bash -c "! compgen -G '$STATE/ghrun-job-$KILLED-*'"
job '{"name":"e","github":{"repository":"acme/other"},"steps":[{"run":"echo after-kill"}]}'
check "kill: the next job completed" wait_completed
expect_eq "kill: the next job succeeded" "$(conclusion_of "$JOB_RID")" succeeded
expect_eq "kill: it took the new worker's sandbox" "$(taken)" 3

# Stopping the runner while its idle worker holds a prepared sandbox: nothing is left.
check "stop: the idle worker prepared a sandbox" wait_prepared
LAST=$WORKER
kill -TERM "$RPID"
wait "$RPID"
expect_eq "stop: exit after SIGTERM" "$?" 0
RPID=""
check "stop: the idle worker is gone" bash -c "! kill -0 $LAST 2>/dev/null"
expect_eq "stop: no cgroup left" "$(cgroups_of "$LAST" | wc -l)" 0
no_procs_of "$LAST"
expect_eq "stop: no process of its sandbox left" "$(procs_of "$LAST")" 0
expect_eq "stop: no slot lease left" "$(leases_of "$LAST")" 0
check "stop: no private dir left" bash -c "! compgen -G '$STATE/ghrun-job-$LAST-*'"

finish_all
