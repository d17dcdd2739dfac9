#!/usr/bin/env bash
# As root, the steps of a sandboxed job start through the job's init with no wrapper process:
# the runner hands each step over the init's socket (sb_stepc_*). The gr-step next to the helper
# here is a fake that fails loudly, so any step that still went through the wrapper shows.
# Checks exit codes, death by a signal, a command that cannot run (127 and the sandbox's
# message), output order, a timeout, and a cancelled run (SIGINT) whose step tree is gone.
set -u
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: needs root for the job's init"
    exit 0
fi
base=${GR_BUILD_DIR:-$GR_SOURCE_DIR/build}
helper=$(dirname "$GHRUN")/gr-sandbox
# Not under /tmp: the sandbox gives each job a private /tmp.
ws=$(mktemp -d "$base/direct-ws.XXXXXX")
# The job's private /tmp hides what the host has there: a shell the runner finds but the step
# cannot execute.
hosttmp=$(mktemp -d /tmp/gr-direct.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$ws" "$hosttmp"' EXIT
mkdir "$ws/bin"
cp "$helper" "$ws/bin/gr-sandbox"
printf '#!/bin/sh\necho "WRAPPER USED" >&2\nexit 99\n' >"$ws/bin/gr-step"
chmod +x "$ws/bin/gr-step"
printf '#!/bin/sh\nexec sh "$@"\n' >"$hosttmp/sh"
chmod +x "$hosttmp/sh"
export GR_SANDBOX_HELPER=$ws/bin/gr-sandbox
mark=$$$RANDOM
# gone PATTERN: no process matches PATTERN, within 30 s (a killed tree may take a moment to be
# reaped on a loaded machine; what survives its job stays for 1000 s)
gone() {
    local end=$((SECONDS + 30))
    while pgrep -f "$1" >/dev/null; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.1
    done
}

cat >"$ws/wf.yml" <<YML
on: push
jobs:
  direct:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "pid \$\$ uid \$(id -u)"
          grep -E '^(Seccomp|CapBnd|CapEff):' /proc/self/status
          i=1; while [ \$i -le 300 ]; do echo "seq \$i"; i=\$((i+1)); done
      - run: exit 3
        continue-on-error: true
      - run: kill -TERM \$\$
        continue-on-error: true
      - run: echo never
        shell: $hosttmp/sh {0}
        continue-on-error: true
      - run: sleep 1000.$mark & sleep 1001.$mark
        timeout-minutes: 0.02
        continue-on-error: true
      - run: echo "env \$GR_DIRECT_V in \$(pwd)"
        env:
          GR_DIRECT_V: value
        working-directory: sub
YML
mkdir "$ws/sub"

out=$("$GHRUN" replay -W "$ws/wf.yml" -C "$ws" --sandbox best-effort 2>&1)
rc=$?
if grep -v "cannot execute '$hosttmp" <<<"$out" | grep -q 'gr-sandbox: cannot\|protection off: no namespaces'; then
    echo "skipped: this host cannot run the job's init:"
    grep 'gr-sandbox\|sandbox protection off' <<<"$out" | head -3
    exit 0
fi
check "the job succeeds (rc $rc)" test "$rc" -eq 0
check "no step went through the wrapper" test -z "$(grep 'WRAPPER USED' <<<"$out")"
check "the step is in the job's pid namespace, as the slot" \
    grep -Eq '\| pid [0-9]+ uid [1-9][0-9]*$' <<<"$out"
check "the step has the seccomp filter" grep -q 'Seccomp:.2' <<<"$out"
check "the step has no capabilities" grep -q 'CapEff:.0000000000000000' <<<"$out"
check "the step's bounding set is empty" grep -q 'CapBnd:.0000000000000000' <<<"$out"
seq_out=$(grep -o 'seq [0-9]*$' <<<"$out" | awk '{print $2}' | tr '\n' ' ')
check "output lines keep their order" test "$seq_out" = "$(seq 1 300 | tr '\n' ' ')"
check "exit code 3 reported" grep -q 'Process completed with exit code 3\.' <<<"$out"
check "death by SIGTERM reported" grep -q 'Process was killed by signal 15\.' <<<"$out"
check "the sandbox's message reaches the log" \
    grep -q "| gr-sandbox: cannot execute '$hosttmp/sh': No such file or directory" <<<"$out"
check "a command that cannot be found exits 127" \
    grep -q 'Process completed with exit code 127\.' <<<"$out"
check "the timeout is reported" grep -q "has timed out after 0.02 minutes" <<<"$out"
check "env and working directory reach the step" \
    grep -q "| env value in $ws/sub$" <<<"$out"
check "the timed-out step's tree is gone" gone "sleep 100[01].$mark"

# Cancel (SIGINT to the runner) while a step runs: the step and its children die.
cat >"$ws/cancel.yml" <<YML
on: push
jobs:
  cancel:
    runs-on: ubuntu-latest
    steps:
      - run: |
          sleep 1002.$mark &
          echo started
          sleep 1003.$mark
          echo never-printed
YML
"$GHRUN" replay -W "$ws/cancel.yml" -C "$ws" --sandbox best-effort >"$ws/cancel.out" 2>&1 &
gp=$!
for _ in $(seq 600); do
    pgrep -f "sleep 1003.$mark" >/dev/null && break
    sleep 0.1
done
running() { pgrep -f "$1" >/dev/null; }
check "the step to cancel started" running "sleep 1003.$mark"
kill -INT "$gp"
wait "$gp"
rc=$?
check "a cancelled run fails (rc $rc)" test "$rc" -ne 0
check "the run reports the cancellation" grep -qi 'cancel' "$ws/cancel.out"
check "the step did not go on" test -z "$(grep never-printed "$ws/cancel.out")"
check "the cancelled step's tree is gone" gone "sleep 100[23].$mark"
check "no step of the cancelled run went through the wrapper" \
    test -z "$(grep 'WRAPPER USED' "$ws/cancel.out")"
finish
