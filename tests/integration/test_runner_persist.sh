#!/usr/bin/env bash
# `ghrun run` (jobs from the fake GitHub) honours GHRUN_NO_NATIVE as replay does: without it
# actions/cache@v4 runs natively; with GHRUN_NO_NATIVE=actions/cache (or "true") it runs
# through the action's download; a bad value fails the job with a message naming the variable.
# GHRUN_PERSIST: what one job writes into ~/.npm (its private HOME in the runner's sandbox) the
# next job of the same repository finds there.
RUNNER_PART=persist
. "$(dirname "$0")/test_runner_protocol.sh"
first_config

repo() { curl -s -X POST -d "$1" "$BASE/_control/action_repo"; }
JOBQ() { echo "[j for j in d['jobs'] if j['runner_request_id']=='$JOB_RID'][0]"; }
joblog() { state | q "$(JOBQ)['result_logs']['job']"; }
STORE=$T/store

# a stand-in for actions/cache@v4 that says when it is the one that ran
repo '{"name":"actions/cache","refs":["v4"],"files":{
 "action.yml":"name: cache\ninputs:\n  path: {required: false}\n  key: {required: false}\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo downloaded-cache-action-ran\n"}}' >/dev/null

CACHE_JOB='{"name":"cache","steps":[
  {"uses":"actions/cache@v4","with":{"path":"deps","key":"k-1"}},
  {"run":"echo after"}
]}'
job "$CACHE_JOB"
run_once_expect "native cache" succeeded GHRUN_CACHE_DIR="$STORE"
L=$(joblog)
check "without GHRUN_NO_NATIVE the cache action is native" grep -q "Cache not found for input keys: k-1" <<<"$L"
check "... not the downloaded one" bash -c '! grep -q downloaded-cache-action-ran <<<"$1"' _ "$L"

job "$CACHE_JOB"
run_once_expect "GHRUN_NO_NATIVE=actions/cache" succeeded GHRUN_CACHE_DIR="$STORE" \
    GHRUN_NO_NATIVE=actions/cache
L=$(joblog)
check "GHRUN_NO_NATIVE=actions/cache runs the downloaded action" grep -q downloaded-cache-action-ran <<<"$L"
check "... not the native one" bash -c '! grep -q "Cache not found" <<<"$1"' _ "$L"

job "$CACHE_JOB"
run_once_expect "GHRUN_NO_NATIVE=true" succeeded GHRUN_CACHE_DIR="$STORE" GHRUN_NO_NATIVE=true
check "GHRUN_NO_NATIVE=true: the downloaded action" grep -q downloaded-cache-action-ran <<<"$(joblog)"

job "$CACHE_JOB"
run_once_expect "bad GHRUN_NO_NATIVE" failed GHRUN_CACHE_DIR="$STORE" \
    GHRUN_NO_NATIVE=actions/nothing
check "a bad GHRUN_NO_NATIVE is named" grep -q "GHRUN_NO_NATIVE" "$LOG"

# GHRUN_PERSIST
job '{"name":"write","steps":[{"run":"cat ~/.npm/n.txt 2>/dev/null || echo npm=none; mkdir -p ~/.npm && echo npm-from-job-1 >~/.npm/n.txt"}]}'
run_once_expect "persist: job 1" succeeded GHRUN_CACHE_DIR="$STORE" GHRUN_PERSIST='~/.npm'
L=$(joblog)
check "persist: job 1 starts empty" grep -q "npm=none" <<<"$L"
check "persist: job 1 saves" grep -q "persist: saved ~/.npm (1 file, 15 B)" <<<"$L"
job '{"name":"read","steps":[{"run":"echo \"got $(cat ~/.npm/n.txt)\""}]}'
run_once_expect "persist: job 2" succeeded GHRUN_CACHE_DIR="$STORE" GHRUN_PERSIST='~/.npm'
L=$(joblog)
check "persist: job 2 restores" grep -q "persist: restored ~/.npm (1 file, 15 B)" <<<"$L"
check "persist: job 2 sees job 1's file" grep -q "got npm-from-job-1" <<<"$L"
check "persist: unchanged, not saved again" grep -q "persist: ~/.npm unchanged" <<<"$L"

check "ghrun run --help names GHRUN_PERSIST and GHRUN_NO_NATIVE" bash -c \
    '"$1" run --help | grep -q GHRUN_PERSIST && "$1" run --help | grep -q GHRUN_NO_NATIVE' _ "$RUNNER"

# "persist" in <root>/.sandbox, without the environment variable
printf '{"persist": ["~/.cache/pip"]}\n' >"$T/r1/.sandbox"
job '{"name":"pipw","steps":[{"run":"mkdir -p ~/.cache/pip && echo pip-from-job >~/.cache/pip/p.txt"}]}'
run_once_expect "persist from .sandbox: job 1" succeeded GHRUN_CACHE_DIR="$STORE"
check "persist from .sandbox: job 1 saves" grep -q "persist: saved ~/.cache/pip (1 file" <<<"$(joblog)"
job '{"name":"pipr","steps":[{"run":"echo \"got $(cat ~/.cache/pip/p.txt)\""}]}'
run_once_expect "persist from .sandbox: job 2" succeeded GHRUN_CACHE_DIR="$STORE"
check "persist from .sandbox: job 2 sees it" grep -q "got pip-from-job" <<<"$(joblog)"
rm -f "$T/r1/.sandbox"

finish_all
