#!/usr/bin/env bash
# `ghrun run` (jobs from the fake GitHub) with per-job rules and GPU slots in <root>/.sandbox:
# a job of the repository a rule names gets the rule's lower open-files limit, and a job of
# another repository does not; with fake NVIDIA nodes and a fake nvidia-smi, a job leases the
# configured number of GPUs, sees their UUIDs in CUDA_VISIBLE_DEVICES, and reaches only their
# nodes (GitHub sends no runs-on labels with the job: rules are how online jobs get limits).
RUNNER_PART=limits
. "$(dirname "$0")/test_runner_protocol.sh"
first_config

if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: needs root for the runner's sandbox and the device nodes"
    finish_all
    exit 0
fi
JOBQ() { echo "[j for j in d['jobs'] if j['runner_request_id']=='$JOB_RID'][0]"; }
joblog() { state | q "$(JOBQ)['result_logs']['job']"; }

dev=$(mktemp -d /var/tmp/gr-rlimits-dev.XXXXXX)
trap 'rm -rf "$dev"' EXIT
chmod 0755 "$dev"
for m in 0 1 2; do mknod "$dev/nvidia$m" c 195 "$m" 2>/dev/null; done
mknod "$dev/nvidiactl" c 195 255 2>/dev/null
chmod 0666 "$dev"/nvidia* 2>/dev/null
cat >"$dev/nvidia-smi" <<'SH'
#!/bin/sh
for i in 0 1 2; do echo "$i, GPU-runner-$i, 00000000:2$i:00.0"; done
SH
chmod 0755 "$dev/nvidia-smi"
GPU_ENV=(GHRUN_GPU_DEV_DIR="$dev" GHRUN_GPU_PROC_DIR=/nonexistent GHRUN_NVIDIA_SMI="$dev/nvidia-smi"
    GHRUN_GPU_LOCK_DIR="$T/gpu-locks")

cat >"$T/r1/.sandbox" <<JSON
{"gpus": [0, 1, 2], "gpus_per_job": 2,
 "jobs": [{"repository": "acme/small-*", "nofile": 512}, {"workflow": "Nightly", "pids": 50}]}
JSON
STEP='echo "NOFILE $(ulimit -n) GPUS $CUDA_VISIBLE_DEVICES"; for n in 0 1 2; do r=0; (exec 3<'"$dev"'/nvidia$n) 2>/dev/null || r=$?; echo "DEV $n $r"; done'

job '{"name":"small","github":{"repository":"acme/small-tool"},"steps":[{"run":"'"${STEP//\"/\\\"}"'"}]}'
run_once_expect "a job a rule matches" succeeded "${GPU_ENV[@]}"
L=$(joblog)
check "the rule lowers open files" grep -q "NOFILE 512 " <<<"$L"
check "the job log says so" grep -q "sandbox: this job's own limits: nofile 512" <<<"$L"
check "the job got two of the three GPUs by UUID" \
    grep -qE "GPUS GPU-runner-[0-2],GPU-runner-[0-2]$" <<<"$L"
check "the job log names its GPUs" grep -q "sandbox: GPUs of this job: 0,1 (2 of the runner's 3)" <<<"$L"
if grep -q "GPU isolation advisory" <<<"$L" "$LOG"; then
    echo "skipped: device checks: GPU isolation is advisory on this host"
else
    # the shell's redirection of a fake node: ENXIO (status 1) both for a leased node (no
    # driver behind it) and a masked one (an empty file opens: status 0)
    check "its two nodes reach the driver, the third is hidden" \
        test "$(grep -c 'DEV [0-2] 1$' <<<"$L")" -eq 2 -a "$(grep -c 'DEV [0-2] 0$' <<<"$L")" -eq 1
fi

job '{"name":"other","github":{"repository":"acme/widgets"},"steps":[{"run":"'"${STEP//\"/\\\"}"'"}]}'
run_once_expect "a job no rule matches" succeeded "${GPU_ENV[@]}"
L=$(joblog)
check "no rule: the runner's open files stay" bash -c 'grep -qE "NOFILE [0-9]+ " <<<"$1" && ! grep -q "NOFILE 512 " <<<"$1"' _ "$L"
check "no rule: no own limits in the log" bash -c '! grep -q "own limits" <<<"$1"' _ "$L"
check "the GPUs of the first job were given back" \
    grep -q "sandbox: GPUs of this job: 0,1 (2 of the runner's 3)" <<<"$L"

job '{"name":"nightly","github":{"workflow":"Nightly"},"steps":[{"run":"echo ok"}]}'
run_once_expect "a rule by workflow" succeeded "${GPU_ENV[@]}"
check "a rule by workflow name applies" grep -q "own limits: pids 50" <<<"$(joblog)"

rm -f "$T/r1/.sandbox"
finish_all
