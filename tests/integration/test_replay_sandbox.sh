#!/usr/bin/env bash
# `ghrun replay --sandbox`: every step runs in gr-sandbox (no_new_privs, seccomp, its own pid
# namespace, / read-only) while the workspace stays writable; without the flag steps are plain
# host processes. Skips where the host cannot sandbox (not root, no namespaces).
set -u
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: needs root for mount and pid namespaces"
    exit 0
fi
base=${GR_BUILD_DIR:-$GR_SOURCE_DIR/build}
# Not under /tmp: the sandbox gives each job a private /tmp.
ws=$(mktemp -d "$base/sandbox-ws.XXXXXX")
trap 'rm -rf "$ws"' EXIT
cat >"$ws/wf.yml" <<'YML'
on: push
jobs:
  probe:
    runs-on: ubuntu-latest
    steps:
      - run: |
          grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status
          echo "pid $$"
          if touch /etc/ghrun-probe 2>/dev/null; then echo "etc writable"; rm -f /etc/ghrun-probe; else echo "etc read-only"; fi
          touch ws-file && echo "workspace writable"
YML

out=$("$GHRUN" replay -W "$ws/wf.yml" -C "$ws" --sandbox best-effort 2>&1)
rc=$?
if grep -q 'gr-sandbox: cannot' <<<"$out"; then
    echo "skipped: this host cannot run the sandbox helper:"
    grep 'gr-sandbox' <<<"$out" | head -3
    exit 0
fi
check "sandboxed replay exits 0 (got $rc)" test "$rc" -eq 0
check "no_new_privs is set" grep -q 'NoNewPrivs:.1' <<<"$out"
check "the seccomp filter is on" grep -q 'Seccomp:.2' <<<"$out"
check "the step has its own pid namespace" grep -q '| pid 2$' <<<"$out"
check "/etc is read-only" grep -q 'etc read-only' <<<"$out"
check "the workspace is writable" grep -q 'workspace writable' <<<"$out"

out=$("$GHRUN" replay -W "$ws/wf.yml" -C "$ws" --sandbox off 2>&1)
check "with --sandbox off seccomp is off" grep -q 'Seccomp:.0' <<<"$out"
check "with --sandbox off nothing is reported" test -z "$(grep 'sandbox protection off' <<<"$out")"

out=$("$GHRUN" replay -W "$ws/wf.yml" -C "$ws" 2>&1)
check "the sandbox is on by default" grep -q 'Seccomp:.2' <<<"$out"
n=$(grep 'ghrun replay: sandbox protection off: ' <<<"$out" | sort | uniq -d | wc -l)
check "best-effort names what is off once ($n repeated lines)" test "$n" -eq 0

expect_rc 2 "$GHRUN" replay -W "$ws/wf.yml" -C "$ws" --sandbox sometimes
expect_err_has "--sandbox takes off, best-effort or strict" "$GHRUN" replay -W "$ws/wf.yml" -C "$ws" --sandbox sometimes

# ghrun doctor: the runner's sandbox settings and a job under them
mkdir -p "$ws/root"
out=$("$GHRUN" doctor --root "$ws/root" 2>&1)
check "doctor without settings: defaults, strict, the runner root masked" \
    grep -q "settings: masked: $ws/root" <<<"$out"
check "doctor without settings: strictness=strict" grep -q 'strictness=strict' <<<"$out"
echo '{"network": "none", "memory": "1G", "strictness": "best-effort"}' >"$ws/root/.sandbox"
out=$("$GHRUN" doctor --root "$ws/root" 2>&1)
check "doctor reads the settings" grep -q 'memory=1073741824 .*network=none strictness=best-effort' <<<"$out"
check "doctor: a job under them has no network" grep -q '^runner job: sandbox: .*net=none' <<<"$out"
echo '{"network": "off"}' >"$ws/root/.sandbox"
expect_rc 1 "$GHRUN" doctor --root "$ws/root"
expect_err_has "$ws/root/.sandbox: sandbox setting 'network'" "$GHRUN" doctor --root "$ws/root"
expect_rc 2 "$GHRUN" doctor --bogus

finish
