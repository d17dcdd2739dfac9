#!/usr/bin/env bash
# Runner listener costs against the fake GitHub on 127.0.0.1:
#   start-up to first long-poll (median of N runs),
#   resident memory while idle long-polling, and CPU time over an idle period.
# Baseline, measured in the same run: `curl` doing the same long-poll request loop
# (the least a client can do). Usage: bench/bench_runner.sh [BUILD_DIR] (env: RUNS=5, IDLE_S=60)
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
RUNNER=${GHRUN:-}
if [ -z "$RUNNER" ] || ! "$RUNNER" config --help >/dev/null 2>&1; then
    RUNNER="$BUILD/bin/test_rn_cmd"
fi
RUNS=${RUNS:-5}
IDLE_S=${IDLE_S:-60}
T=$(mktemp -d /tmp/ghrun-bench.XXXXXX)
FAKE_PID=""
trap '[ -n "$FAKE_PID" ] && kill $FAKE_PID; rm -rf "$T"' EXIT

python3 "$SRC/tests/integration/fake_github.py" --log "$T/req.jsonl" --poll-hold 50 >"$T/fake.out" 2>/dev/null &
FAKE_PID=$!
for _ in $(seq 200); do grep -q '^PORT ' "$T/fake.out" && break; sleep 0.05; done
PORT=$(awk '/^PORT /{print $2}' "$T/fake.out")
BASE="http://127.0.0.1:$PORT"
"$RUNNER" config --root "$T/r" --unattended --url "$BASE/acme/widgets" --token REGTOKEN-1234567890 \
    --name bench >/dev/null 2>&1 || { echo "config failed"; exit 1; }

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# The fake logs a request when it is answered, and it holds long-polls for 50 s: count the
# session creations instead, after which the runner starts its first poll at once.
polls() { grep -c '"method": "POST", "path": "/tenant/_apis/distributedtask/pools/1/sessions"' \
    "$T/req.jsonl" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Start-up to the first long-poll reaching the server.
for _ in $(seq "$RUNS"); do
    before=$(polls)
    t0=$(date +%s%N)
    "$RUNNER" run --root "$T/r" >/dev/null 2>&1 &
    pid=$!
    while [ "$(polls)" = "$before" ]; do sleep 0.002; done
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000)) >>"$T/startup"
    kill -TERM $pid
    wait $pid
done
START=$(median <"$T/startup")

# Idle: RSS and CPU over IDLE_S seconds of long-polling.
"$RUNNER" run --root "$T/r" >/dev/null 2>&1 &
pid=$!
sleep 2
c0=$(cpu_ticks $pid)
sleep "$IDLE_S"
c1=$(cpu_ticks $pid)
RSS=$(rss_kb $pid)
kill -TERM $pid
wait $pid

# Baseline: curl long-polling the same endpoint with a token of its own (no session: the fake
# answers 404 at once, so the loop polls far more often than the runner; report RSS only).
(while :; do curl -s -o /dev/null "$BASE/tenant/_apis/distributedtask/pools/1/messages"; done) &
bpid=$!
sleep 2
BRSS=0
for p in $(pgrep -P $bpid curl); do BRSS=$(rss_kb "$p"); done
kill $bpid
wait $bpid 2>/dev/null

HZ=$(getconf CLK_TCK)
echo "startup to first poll: median ${START} us over $RUNS runs"
echo "idle RSS while long-polling: ${RSS} kB (target < 8192 kB); curl baseline ${BRSS:-?} kB;" \
    "ratio $(awk -v a="$RSS" -v b="${BRSS:-0}" 'BEGIN{print (b ? sprintf("%.2f", a/b) : "n/a")}')"
echo "idle CPU over ${IDLE_S}s: $(awk -v t=$((c1 - c0)) -v hz="$HZ" 'BEGIN{printf "%.3f s", t/hz}')"
