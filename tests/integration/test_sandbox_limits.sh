#!/usr/bin/env bash
# A job's own limits and GPU slots (executor/limits.c, docs/sandbox.md section 9), through a
# sandboxed `ghrun replay` with the runner settings of GHRUN_SANDBOX_CONFIG:
#   - runs-on labels lower the runner's limits (memory:64M kills a hog the runner's 512M
#     allows), never raise them (cpus:64 and memory:64G are refused, and said so), and a
#     limit label with a bad value fails the job with the file, line and column;
#   - a settings rule ("jobs") matching the job lowers pids and open files;
#   - GPUs: fake NVIDIA nodes (major 195, no driver) and a fake nvidia-smi; two jobs running
#     at once lease disjoint pairs of the four slots, see them in CUDA_VISIBLE_DEVICES (the
#     fake UUIDs) and can open only their own nodes; gpu:1 and gpu:0 lower the count; the
#     leases are free again after the jobs.
set -u
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: needs root for the sandbox and the device nodes"
    exit 0
fi
if ! command -v python3 >/dev/null; then
    echo "skipped: needs python3"
    exit 0
fi
base=${GR_BUILD_DIR:-$GR_SOURCE_DIR/build}
ws=$(mktemp -d "$base/gr-limits-ws.XXXXXX") # visible to the jobs (their /tmp is private)
dev=$(mktemp -d /var/tmp/gr-limits-dev.XXXXXX)
locks=$(mktemp -d "${TMPDIR:-/tmp}/gr-limits-locks.XXXXXX")
cleanup() { rm -rf "$ws" "$dev" "$locks"; }
trap cleanup EXIT
chmod 0755 "$ws" "$dev"

nodes_ok=1
for m in 0 1 2 3; do
    mknod "$dev/nvidia$m" c 195 "$m" 2>/dev/null || nodes_ok=0
done
mknod "$dev/nvidiactl" c 195 255 2>/dev/null || nodes_ok=0
chmod 0666 "$dev"/nvidia* 2>/dev/null
if [ "$nodes_ok" -ne 1 ]; then
    echo "skipped: cannot create device nodes under /var/tmp"
    exit 0
fi
cat >"$ws/nvidia-smi" <<'SH'
#!/bin/sh
# --query-gpu=index,uuid,pci.bus_id --format=csv,noheader
for i in 0 1 2 3; do echo "$i, GPU-fake-000$i, 00000000:1$i:00.0"; done
SH
chmod 0755 "$ws/nvidia-smi"
cat >"$ws/.sandbox" <<JSON
{"memory": "512M", "cpus": 2, "pids": 256, "gpus": [0, 1, 2, 3], "gpus_per_job": 2,
 "jobs": [{"job": "ruled", "pids": 40, "nofile": 512}, {"repository": "nobody/*", "pids": 8}]}
JSON
cat >"$ws/devs.py" <<'PY'
import errno, os, stat, sys
for name in sys.argv[2:]:
    try:
        fd = os.open(os.path.join(sys.argv[1], name), os.O_RDONLY)
        kind = "file" if stat.S_ISREG(os.fstat(fd).st_mode) else "device"
        os.close(fd)
        print(f"DEV {name}: opened {kind}", flush=True)
    except OSError as e:
        print(f"DEV {name}: {errno.errorcode.get(e.errno, e.errno)}", flush=True)
PY
cat >"$ws/hog.py" <<'PY'
chunks = [bytearray(1 << 20) for _ in range(200)]
print("HOG escaped: 200 MiB", flush=True)
PY

# a: waits for b and b for a, so both hold their GPUs at once
pair_step() { # NAME OTHER
    cat <<YML
      - run: |
          echo "GPUS \$CUDA_VISIBLE_DEVICES / \$NVIDIA_VISIBLE_DEVICES / \$CUDA_DEVICE_ORDER"
          python3 devs.py $dev nvidia0 nvidia1 nvidia2 nvidia3 nvidiactl
          touch pair-$1
          for i in \$(seq 300); do [ -e pair-$2 ] && break; sleep 0.1; done
          test -e pair-$2 && echo "PAIR $1 saw $2"
YML
}
cat >"$ws/wf.yml" <<YML
on: push
jobs:
  pair-a:
    runs-on: [self-hosted, linux]
    steps:
$(pair_step a b)
  pair-b:
    runs-on: self-hosted
    steps:
$(pair_step b a)
  one:
    needs: [pair-a, pair-b]
    runs-on: [self-hosted, "gpu:1"]
    steps:
      - run: |
          echo "ONE \$CUDA_VISIBLE_DEVICES"
          python3 devs.py $dev nvidia0 nvidia1 nvidia2 nvidia3
  none:
    needs: [one]
    runs-on: [self-hosted, "gpu:0"]
    steps:
      - run: |
          echo "NONE [\$CUDA_VISIBLE_DEVICES] \$NVIDIA_VISIBLE_DEVICES"
          python3 devs.py $dev nvidia0 nvidia1 nvidia2 nvidia3
  hog:
    needs: [none]
    runs-on: [self-hosted, "memory:64M"]
    steps:
      - run: python3 hog.py
  roomy:
    needs: [hog]
    if: always()
    runs-on: [self-hosted, "cpus:64", "memory:64G"]
    steps:
      - run: python3 hog.py
  ruled:
    needs: [roomy]
    if: always()
    runs-on: self-hosted
    steps:
      - run: echo "NOFILE \$(ulimit -n)"
  bad:
    needs: [ruled]
    if: always()
    runs-on:
      labels: [self-hosted, "memory:lots"]
    steps:
      - run: echo "BAD ran"
YML

out=$(cd "$ws" && GHRUN_SANDBOX_CONFIG=$ws/.sandbox GHRUN_GPU_DEV_DIR=$dev \
    GHRUN_GPU_PROC_DIR=/nonexistent GHRUN_NVIDIA_SMI=$ws/nvidia-smi GHRUN_GPU_LOCK_DIR=$locks \
    "$GHRUN" replay --jobs 2 -W wf.yml -C . 2>&1)
rc=$?
echo "$out" | grep -E 'GPUS|ONE|NONE|DEV|PAIR|HOG|NOFILE|BAD|sandbox:|error|protection off' | head -120
off=$(grep 'sandbox protection off' <<<"$out")

check "the replay fails (hog and bad fail), rc=$rc" test "$rc" -eq 1

# GPUs: two jobs at once, disjoint pairs, their UUIDs in the environment
check "the two GPU jobs ran at the same time" test "$(grep -c 'PAIR . saw' <<<"$out")" -eq 2
gpus=$(grep -o 'GPUS GPU-fake-000[0-3],GPU-fake-000[0-3] / [^ ]* / PCI_BUS_ID' <<<"$out" | sort)
check "each of them got two GPUs by UUID, in CUDA_ and NVIDIA_VISIBLE_DEVICES" \
    test "$(wc -l <<<"$gpus")" -eq 2
all=$(grep -o 'GPU-fake-000[0-3]' <<<"$(sed 's| / .*||' <<<"$gpus")" | sort -u | wc -l)
check "their pairs are disjoint: four different GPUs" test "$all" -eq 4
check "the job log names the leased minors" \
    grep -q 'sandbox: GPUs of this job: [0-3],[0-3] (2 of the runner.s 4)' <<<"$out"
check "gpu:1 lowers the job to one GPU" grep -qE 'ONE GPU-fake-000[0-3]$' <<<"$out"
check "gpu:0: no GPU, NVIDIA_VISIBLE_DEVICES=none" grep -q 'NONE \[\] none' <<<"$out"
check "gpu:0 is said in the job log" grep -q "sandbox: this job's own limits: gpu 0" <<<"$out"
opened=$(grep -c 'DEV nvidia[0-3]: ENXIO\|DEV nvidia[0-3]: ENODEV' <<<"$out")
if grep -q 'GPU isolation advisory' <<<"$out"; then
    echo "skipped: device checks: $(grep -m1 'GPU isolation advisory' <<<"$out")"
else
    # reaching the driver (ENXIO: allowed, no driver behind the fake node) only for leased GPUs:
    # 2 + 2 in the pair, 1 for gpu:1, 0 for gpu:0
    check "only leased GPU nodes reach the driver (5 of 16 opens), got $opened" test "$opened" -eq 5
    check "nvidiactl stays reachable" test "$(grep -c 'DEV nvidiactl: ENXIO\|DEV nvidiactl: ENODEV' <<<"$out")" -eq 2
    check "no GPU node opened as a device" test -z "$(grep 'DEV nvidia.*opened device' <<<"$out")"
fi
check "the leases are free after the run" \
    python3 -c "
import fcntl, glob, sys
locks = glob.glob(sys.argv[1] + '/gpu-*.lock')
assert len(locks) == 4, locks
for p in locks:
    fcntl.flock(open(p, 'w'), fcntl.LOCK_EX | fcntl.LOCK_NB)
" "$locks"

# limits by label and by rule
if grep -q 'no memory limit\|no cgroup' <<<"$off"; then
    echo "skipped: memory: $(grep 'no memory limit\|no cgroup' <<<"$off" | head -1)"
else
    check "memory:64M kills the hog at 64 MiB" \
        grep -q 'error: killed: memory limit of 64 MiB reached' <<<"$out"
    check "the hog job failed" grep -qE '^hog +failure' <<<"$out"
    check "memory:64G does not raise the runner's 512 MiB: the same hog runs" \
        grep -q 'HOG escaped: 200 MiB' <<<"$out"
    check "roomy succeeded" grep -qE '^roomy +success' <<<"$out"
fi
check "the job log says memory:64M" grep -q "sandbox: this job's own limits: memory 64 MiB" <<<"$out"
check "the job log says what was refused" \
    grep -q "asked for more than the runner allows, ignored: memory 64 GiB (the runner's 512 MiB stays), cpus 64" <<<"$out"
check "the rule lowers open files to 512" grep -q 'NOFILE 512$' <<<"$out"
check "the rule's limits are in the job log" \
    grep -q "sandbox: this job's own limits: pids 40, nofile 512" <<<"$out"
check "a rule for another repository does not apply" test -z "$(grep 'pids 8' <<<"$out")"
check "a bad limit label fails its job before its steps" test -z "$(grep 'BAD ran' <<<"$out")"
check "the error names the file, line and column and what it wants" \
    grep -q "wf.yml:[0-9]*:[0-9]*: runs-on label 'memory:lots': want a size" <<<"$out"
check "bad failed" grep -qE '^bad +failure' <<<"$out"

# a settings rule with a bad value is an error naming the file, before any job runs
echo '{"jobs": [{"job": "x", "memory": "lots"}]}' >"$ws/.sandbox"
out=$(cd "$ws" && GHRUN_SANDBOX_CONFIG=$ws/.sandbox "$GHRUN" replay -W wf.yml -C . 2>&1)
rc=$?
check "bad rule: exit 2 (got $rc)" test "$rc" -eq 2
check "bad rule: the error names the file, rule and key" \
    grep -q "$ws/.sandbox: sandbox setting 'jobs': rule 1: 'memory': want a size" <<<"$out"
finish
