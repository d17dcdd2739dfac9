#!/usr/bin/env bash
# The gr-sandbox helper as the executor sees it: exit codes (125 setup,
# 126/127 exec, the step's own code, death by the step's signal), signal
# forwarding to the step, and (as root) leftovers gone with the step's pid
# namespace. Skips (exit 0, "skipped: ...") when the helper is not built.
set -u
helper="${GR_BUILD_DIR:-build}/bin/gr-sandbox"
if [ ! -x "$helper" ]; then
    echo "skipped: no gr-sandbox at $helper"
    exit 0
fi
helper=$(realpath "$helper")
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # name want got
    if [ "$2" != "$3" ]; then
        echo "FAIL $1: want '$2', got '$3'"
        fail=1
    else
        echo "ok   $1"
    fi
}

"$helper" 2>"$tmp/err"
check "no command exits 125" 125 $?
grep -q "gr-sandbox: usage" "$tmp/err" || { echo "FAIL usage message"; fail=1; }
"$helper" --bogus 1 -- true 2>"$tmp/err"
check "unknown option exits 125" 125 $?
grep -q "invalid option '--bogus'" "$tmp/err" || { echo "FAIL invalid option message"; fail=1; }
"$helper" -- sh -c 'exit 3'
check "exit code mirrored" 3 $?
"$helper" -- /nonexistent/gr-cmd 2>"$tmp/err"
check "missing command exits 127" 127 $?
grep -q "cannot execute '/nonexistent/gr-cmd'" "$tmp/err" || { echo "FAIL exec message"; fail=1; }
"$helper" --seccomp /nonexistent.bpf -- true 2>"$tmp/err"
check "unreadable filter exits 125" 125 $?

# gr-step, the per-step wrapper of a job whose init starts the steps (no libc)
step="$(dirname "$helper")/gr-step"
if [ -x "$step" ]; then
    "$step" 2>"$tmp/err"
    check "gr-step without a command exits 125" 125 $?
    grep -q "gr-step: usage" "$tmp/err" || { echo "FAIL gr-step usage message"; fail=1; }
    "$step" --connect "$tmp/no.sock" -- true 2>"$tmp/err"
    check "gr-step without a job init exits 125" 125 $?
    grep -q "cannot reach the job's sandbox '$tmp/no.sock'" "$tmp/err" ||
        { echo "FAIL gr-step connect message"; fail=1; }
else
    echo "skipped: no gr-step next to the helper"
fi

if [ "$(id -u)" != 0 ]; then
    echo "skipped: namespace cases need root"
    exit $fail
fi

"$helper" --ns mnt,pid,ipc,uts,cgroup -- sh -c 'exit 7'
check "exit code through the pid namespace init" 7 $?
"$helper" --ns pid -- sh -c 'kill -TERM $$'
check "death by signal mirrored" 143 $?
"$helper" --ns pid -- sh -c 'echo $$' >"$tmp/out"
check "step is pid 2 under its init" 2 "$(cat "$tmp/out")"

# SIGTERM to the helper reaches the step's trap
"$helper" --ns pid -- sh -c 'trap "echo got-term; exit 9" TERM; echo ready; while :; do sleep 0.1; done' \
    >"$tmp/fwd" &
hp=$!
for _ in $(seq 600); do grep -q ready "$tmp/fwd" 2>/dev/null && break; sleep 0.05; done
kill -TERM "$hp"
wait "$hp"
check "SIGTERM forwarded to the step" 9 $?
grep -q got-term "$tmp/fwd" || { echo "FAIL trap output"; fail=1; }

# a background process outlives its step only until the step's init exits
mark="1000.$$"
"$helper" --ns pid -- sh -c "(setsid sleep $mark &); exit 0"
check "step with a daemon exits" 0 $?
sleep 0.2
if pgrep -f "sleep $mark" >/dev/null; then
    echo "FAIL daemon survived its step"
    fail=1
else
    echo "ok   daemon gone with the pid namespace"
fi

# not root: the helper runs the step as the invoking user, without namespaces
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
if ! command -v setpriv >/dev/null; then
    echo "skipped: no setpriv for the unprivileged case"
elif ! (cd / && as_nobody test -x "$helper"); then
    echo "skipped: nobody cannot reach $helper"
else
    out=$(cd / && as_nobody "$helper" -- id -u)
    check "unprivileged helper runs as the invoking user" 65534 "$out"
fi
exit $fail
