#!/usr/bin/env bash
# Containment probes (docs/sandbox.md section 11) run as workflow steps by a default
# (sandboxed, best-effort) `ghrun replay` with limits from GHRUN_SANDBOX_CONFIG: mount,
# unshare, ptrace of the runner, kexec_load, init_module, bpf, keyctl, reboot, the runner key
# file, /proc/*/environ, writes to /etc and to the runner's binaries, a cgroup escape, a fork
# bomb against the pids limit, a memory hog against the memory limit, CPU spinners against the
# CPU quota, a daemon left behind,
# and egress with network none. Each asserts the step's outcome and that the runner lives on
# (a later job runs, nothing is left behind). The workspace sits under /tmp on purpose.
# Skips, saying why, only what this host's kernel or privileges cannot provide.
set -u
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: needs root for the sandbox's namespaces and masks"
    exit 0
fi
if ! command -v python3 >/dev/null; then
    echo "skipped: the probes need python3"
    exit 0
fi
base=${GR_BUILD_DIR:-$GR_SOURCE_DIR/build}
ws=$(mktemp -d /tmp/gr-probe-ws.XXXXXX)
root=$(mktemp -d "$base/gr-probe-root.XXXXXX") # the fake runner root, outside /tmp
hostfile=$(mktemp /tmp/gr-probe-host.XXXXXX)
mark="gr-probe-daemon-$$-$RANDOM"
canary="gr-canary-$$-$RANDOM"
srv_pid=
cleanup() {
    [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
    for p in $(pgrep -f -- "$mark"); do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$ws" "$root" "$hostfile"
}
trap cleanup EXIT
cp "$GR_SOURCE_DIR/tests/integration/sandbox/probe.py" "$ws/probe.py"
printf '{"d":"%s"}\n' "$canary" >"$root/.credentials_rsaparams"
chmod 0644 "$root/.credentials_rsaparams" # world-readable: only the mask may hide it
helper=$(dirname "$GHRUN")/gr-sandbox
cat >"$root/.sandbox" <<JSON
{"memory": "64M", "pids": 64, "cpus": 0.25, "mask": ["$root"]}
JSON

cat >"$ws/wf.yml" <<YML
on: push
jobs:
  probes:
    runs-on: ubuntu-latest
    steps:
      - if: always() # every probe runs, whatever the one before did
        run: python3 probe.py syscalls
      - if: always()
        run: python3 probe.py runner
      - if: always()
        run: python3 probe.py environ $canary
      - if: always()
        run: python3 probe.py key $root/.credentials_rsaparams $canary
      - if: always()
        run: python3 probe.py write /etc/gr-probe-planted
      - if: always()
        run: python3 probe.py write $GHRUN
      - if: always()
        run: python3 probe.py write $helper
      - if: always()
        run: python3 probe.py cgroup
      - if: always()
        run: |
          test ! -e $hostfile && echo "PROBE private-tmp: held"
          test "\$HOME" != "$HOME" && touch "\$HOME/h" && echo "PROBE private-home: held \$HOME"
          touch ws-written && echo "PROBE workspace-under-tmp: held"
      - if: always()
        run: python3 probe.py daemon $mark
      - if: always()
        run: python3 probe.py daemon-gone $mark
  bomb:
    runs-on: ubuntu-latest
    steps:
      - run: python3 probe.py forkbomb 64
  hog:
    runs-on: ubuntu-latest
    steps:
      - run: python3 probe.py memhog
  spin:
    runs-on: ubuntu-latest
    steps:
      - run: python3 probe.py spin 0.25
  after:
    needs: [probes, bomb, hog, spin]
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "next job fine"
YML

out=$(cd "$ws" && GR_CANARY=$canary GHRUN_SANDBOX_CONFIG=$root/.sandbox \
    "$GHRUN" replay -W wf.yml -C . 2>&1)
rc=$?
echo "$out" | grep -E 'PROBE|error:|protection off|next job|killed|pids limit|peak' | head -90
off=$(grep 'sandbox protection off' <<<"$out")

held() { # held NAME: the probe printed "held" and nothing printed "ESCAPED"
    grep -q "PROBE $1: held" <<<"$out" && ! grep -q "PROBE $1: ESCAPED" <<<"$out"
}
check "the replay ends with a failure exit (the bomb and hog jobs fail), rc=$rc" test "$rc" -eq 1
check "no probe escaped" test -z "$(grep 'ESCAPED' <<<"$out")"
if grep -q 'no seccomp filter' <<<"$off"; then
    echo "skipped: syscall probes: the kernel has no seccomp"
else
    for p in mount unshare kexec_load init_module bpf keyctl reboot; do
        check "$p is refused" held "$p"
    done
fi
if grep -q 'per-job pid namespace\|no namespaces\|no mount/pid' <<<"$off"; then
    echo "skipped: runner visibility, masks and read-only root: $(head -1 <<<"$off")"
else
    check "the runner is invisible" held runner-invisible
    check "ptrace of the job's pid 1 is refused" held ptrace
    check "the runner's environment (canary) is out of reach" held environ
    check "/proc/1/environ is empty" held proc1-environ
    check "the runner's key file is masked" held runner-key
    check "/etc and the runner's binaries are read-only (3 writes refused)" \
        test "$(grep -c 'PROBE write: held' <<<"$out")" -eq 3
    check "cgroup.procs elsewhere cannot be written" held cgroup-escape
    check "/tmp is private" held private-tmp
    check "\$HOME is private and writable" held private-home
    check "a workspace under /tmp is visible and writable" held workspace-under-tmp
    check "the step really wrote the workspace" test -e "$ws/ws-written"
fi
check "the daemon started" grep -q "PROBE daemon: started" <<<"$out"
check "the daemon is gone before the next step" held daemon-gone
check "the daemon is gone from the host" test -z "$(pgrep -f "$mark")"
check "the probes job succeeded" grep -qE '^probes +success' <<<"$out"
if grep -q 'no pids limit\|no cgroup' <<<"$off"; then
    echo "skipped: fork bomb: $(grep 'no pids limit\|no cgroup' <<<"$off" | head -1)"
else
    check "the fork bomb stopped below the limit" grep -q 'PROBE forkbomb: stopped after' <<<"$out"
    check "the fork bomb step failed on the pids limit" grep -q 'error: pids limit of 64 reached' <<<"$out"
    check "the bomb job failed" grep -qE '^bomb +failure' <<<"$out"
    check "no bomb process is left" test -z "$(pgrep -f 'probe.py forkbomb')"
fi
if grep -q 'no memory limit\|no cgroup' <<<"$off"; then
    echo "skipped: memory hog: $(grep 'no memory limit\|no cgroup' <<<"$off" | head -1)"
else
    check "the memory hog is killed at the limit" \
        grep -q 'error: killed: memory limit of 64 MiB reached' <<<"$out"
    check "peak memory is in the log" grep -q 'sandbox: peak memory of the step: ' <<<"$out"
    check "the hog job failed" grep -qE '^hog +failure' <<<"$out"
fi
if grep -q 'no cpu limit\|no cgroup' <<<"$off"; then
    echo "skipped: cpu spinner: $(grep 'no cpu limit\|no cgroup' <<<"$off" | head -1)"
else
    check "two spinners stay near the 0.25 CPU quota" held cpu-quota
    check "the spin job succeeded" grep -qE '^spin +success' <<<"$out"
fi
check "the next job runs fine" grep -q '| next job fine' <<<"$out"
check "the next job succeeded" grep -qE '^after +success' <<<"$out"

# network: none, a host loopback listener must stay out of reach
port_file=$ws/port
python3 -c "
import socket, sys
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(8)
open(sys.argv[1], 'w').write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept(); c.close()
" "$port_file" &
srv_pid=$!
for _ in $(seq 300); do [ -s "$port_file" ] && break; sleep 0.1; done
port=$(cat "$port_file")
cat >"$root/.sandbox" <<JSON
{"network": "none", "mask": ["$root"]}
JSON
cat >"$ws/net.yml" <<YML
on: push
jobs:
  net:
    runs-on: ubuntu-latest
    steps:
      - run: python3 probe.py network-none $port
YML
out=$(cd "$ws" && GHRUN_SANDBOX_CONFIG=$root/.sandbox "$GHRUN" replay -W net.yml -C . 2>&1)
rc=$?
echo "$out" | grep -E 'PROBE|error:|protection off'
if grep -q 'network not isolated\|no namespaces' <<<"$out"; then
    echo "skipped: network none: $(grep 'network not isolated\|no namespaces' <<<"$out" | head -1)"
else
    check "network none: the step succeeds (rc=$rc)" test "$rc" -eq 0
    check "network none: only lo" held netns-lo-only
    check "network none: no egress" held egress
    check "network none: loopback works inside" held loopback
    check "network none: the host's loopback is out of reach" held host-loopback
fi

# a bad settings file is a clear error, not a crash
echo '{"memory": "lots"}' >"$root/.sandbox"
out=$(cd "$ws" && GHRUN_SANDBOX_CONFIG=$root/.sandbox "$GHRUN" replay -W net.yml -C . 2>&1)
rc=$?
check "bad settings: exit 2 (got $rc)" test "$rc" -eq 2
check "bad settings: the error names the file and key" \
    grep -q "$root/.sandbox: sandbox setting 'memory'" <<<"$out"

finish
