#!/usr/bin/env bash
# packaging/: the systemd unit passes `systemd-analyze verify` (with ExecStart pointing at the
# built launcher) and keeps what `ghrun run` needs (a delegated cgroup subtree, SIGTERM first for
# the grace period); the sysusers.d file creates the job slot users with the ids the sandbox's
# slot code expects (ghr-slot<N> = SB_SLOT_BASE + N, each with its own group), checked by
# running systemd-sysusers into a temporary root.
set -u
. "$(dirname "$0")/lib.sh"

unit=$GR_SOURCE_DIR/packaging/ghrun.service
users=$GR_SOURCE_DIR/packaging/ghrun-sysusers.conf
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gr-pkg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

check "unit delegates its cgroup subtree" grep -qx 'Delegate=yes' "$unit"
check "unit stops with SIGTERM first" grep -qx 'KillSignal=SIGTERM' "$unit"
check "unit starts ghrun run" grep -qx 'ExecStart=/usr/local/bin/ghrun run' "$unit"
if command -v systemd-analyze >/dev/null; then
    sed "s|^ExecStart=/usr/local/bin/ghrun|ExecStart=$GHRUN|" "$unit" >"$tmp/ghrun.service"
    if out=$(systemd-analyze verify --man=no "$tmp/ghrun.service" 2>&1); then ok; else
        bad "systemd-analyze verify: $out"
    fi
else
    echo "note: no systemd-analyze here, unit not verified"
fi

base=$(sed -n 's/^#define SB_SLOT_BASE \([0-9]*\)$/\1/p' "$GR_SOURCE_DIR/sandbox/internal.h")
check "SB_SLOT_BASE found in sandbox/internal.h" test -n "$base"
n=0
while read -r kind name uid _; do
    [ "$kind" = u ] || continue
    if [ "$name" = "ghr-slot$n" ] && [ "$uid" = $((base + n)) ]; then ok; else
        bad "sysusers line $((n + 1)): '$name $uid', want 'ghr-slot$n $((base + n))'"
    fi
    n=$((n + 1))
done <"$users"
check "sysusers declares slots" test "$n" -ge 8
if command -v systemd-sysusers >/dev/null; then
    mkdir -p "$tmp/root/etc"
    if out=$(systemd-sysusers --root="$tmp/root" "$users" 2>&1); then ok; else
        bad "systemd-sysusers: $out"
    fi
    for i in 0 $((n - 1)); do
        want="ghr-slot$i:x:$((base + i)):$((base + i)):"
        check "passwd has $want" grep -q "^$want" "$tmp/root/etc/passwd"
        check "group ghr-slot$i" grep -q "^ghr-slot$i:x:$((base + i)):" "$tmp/root/etc/group"
    done
    check "slot users cannot log in" \
        test "$(grep -c '^ghr-slot.*:/usr/sbin/nologin$' "$tmp/root/etc/passwd")" -eq "$n"
else
    echo "note: no systemd-sysusers here, users file not applied"
fi
finish
