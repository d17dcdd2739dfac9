#!/usr/bin/env bash
# Remote actions of jobs from GitHub through the action download info API and tarballs, end
# to end against the fake GitHub: config → run --once. A run-service job asks the launch
# service (one request for the job's actions, one more for a composite action's own remote
# action), fetches each tarball with the token the answer gave (following the redirect to a
# signed URL), extracts it into the per-commit cache and runs a composite action, one in a
# subdirectory and a JavaScript one (when node is on PATH). A second job reuses the cache
# (no tarball fetched again); a classic job (PipelineAgentJobRequest) asks the
# actiondownloadinfo resource; an unknown action fails its step naming the sources tried;
# malicious tarballs ("..", absolute names, links out, two top-level directories) are
# refused without writing outside the cache; GHRUN_ACTION_SOURCES orders the sources.
RUNNER_PART=actions
. "$(dirname "$0")/test_runner_protocol.sh"
first_config

jq_job() { state | q "[j for j in d['jobs'] if j['runner_request_id']=='$JOB_RID'][0]$1"; }
completion() { state | q "[c['body'] for c in d['completions'] if str(c['request_id'])=='$JOB_RID'][0]$1"; }
events() { curl -s "$BASE/_control/actions"; }
# events KIND: how many the action endpoints saw
n_events() { events | q "len([e for e in d if e['kind']=='$1'])"; }
repo() { curl -s -X POST -d "$1" "$BASE/_control/action_repo"; }
joblog() { jq_job "['result_logs']['job']"; }
CACHE="$T/r1/_work/_ghrun/_actions"

have_node=0
command -v node >/dev/null && have_node=1

TOOLS=$(repo '{"name":"acme/tools","refs":["v1"],"files":{
 "action.yml":"name: tools\ninputs:\n  who: {required: true}\noutputs:\n  said: {value: \"${{ steps.s.outputs.said }}\"}\nruns:\n  using: composite\n  steps:\n    - id: s\n      shell: bash\n      run: echo \"tools-root who=${{ inputs.who }} path=$GITHUB_ACTION_PATH\" && echo said=yes >>\"$GITHUB_OUTPUT\"\n    - uses: acme/nested@v2\n",
 "sub/action.yml":"name: sub\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo tools-sub-ran && bash \"$GITHUB_ACTION_PATH/hello.sh\"\n",
 "sub/hello.sh":"echo hello-from-script\n",
 "js/action.yml":"name: js\ninputs:\n  greeting: {default: hi}\nruns:\n  using: node20\n  main: index.js\n",
 "js/index.js":"console.log(\"js-action \" + process.env.INPUT_GREETING + \" \" + process.env.GITHUB_ACTION_REPOSITORY);\n"},
 "links":{"sub/link.sh":"hello.sh"}}')
SHA_TOOLS=$(echo "$TOOLS" | q 'd["v1"]')
NESTED=$(repo '{"name":"acme/nested","refs":["v2"],"files":{
 "action.yml":"name: nested\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo nested-ran\n"}}')
SHA_NESTED=$(echo "$NESTED" | q 'd["v2"]')
repo '{"name":"acme/other","refs":["v3"],"files":{
 "action.yml":"name: other\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo other-ran\n"}}' >/dev/null

steps='{"id":"t","uses":"acme/tools@v1","with":{"who":"me"}},
  {"uses":"acme/tools/sub@v1"},
  {"uses":"acme/other@v3"}'
want_steps=succeeded,succeeded,succeeded,succeeded
if [ $have_node = 1 ]; then
    steps="$steps"',{"uses":"acme/tools/js@v1","with":{"greeting":"hey"}}'
    want_steps=$want_steps,succeeded
fi

# ---------------------------------------------------------------- first job: launch service
job '{"name":"remote","outputs":{"said":"${{ steps.t.outputs.said }}"},"steps":['"$steps"',
  {"run":"echo all-done"}]}'
run_once_expect "remote actions" succeeded
expect_eq "remote actions: steps" "$(steps_of "$JOB_RID")" $want_steps
JLOG=$(joblog)
check "composite action at the root ran with its input" grep -q "tools-root who=me" <<<"$JLOG"
check "its action path is the per-commit cache" \
    grep -q "path=.*_ghrun/_actions/acme/tools/$SHA_TOOLS" <<<"$JLOG"
check "a remote action inside a composite action ran" grep -q "nested-ran" <<<"$JLOG"
check "an action in a subdirectory ran" grep -q "tools-sub-ran" <<<"$JLOG"
check "its files came along" grep -q "hello-from-script" <<<"$JLOG"
check "a second repository's action ran" grep -q "other-ran" <<<"$JLOG"
if [ $have_node = 1 ]; then
    check "a JavaScript action ran" grep -q "js-action hey acme/tools" <<<"$JLOG"
fi
expect_eq "composite output reaches the job outputs" "$(completion "['outputs']['said']['value']")" yes
expect_eq "download info: one request for the job, one for the composite's action" \
    "$(n_events launch)" 2
expect_eq "download info: the job's request names both repositories" \
    "$(events | q "sorted((a['action'], a['version'], a.get('path')) for a in \
[e for e in d if e['kind']=='launch'][0]['body']['actions'])")" \
    "[('acme/other', 'v3', None), ('acme/tools', 'v1', None)]"
expect_eq "download info: the second request asks for the nested action" \
    "$(events | q "[e for e in d if e['kind']=='launch'][1]['body']")" \
    "{'actions': [{'action': 'acme/nested', 'version': 'v2'}]}"
expect_eq "download info: with the job token" \
    "$(events | q "all(e['job_auth'] for e in d if e['kind']=='launch')")" True
expect_eq "download info: at the launch endpoint's origin" \
    "$(grep -c '"path": "/actions/build/[^"]*/jobs/[^"]*/runnerresolve/actions"' "$T/requests.jsonl")" 2
expect_eq "tarballs: one per repository" "$(n_events tarball)" 3
expect_eq "tarballs: each with its own token (Basic x-access-token)" \
    "$(events | q "sorted(set((e['scheme'], e['token_ok']) for e in d if e['kind']=='tarball'))")" \
    "[('Basic', True)]"
expect_eq "tarballs: the redirect to the signed URL followed" \
    "$(events | q "sum(1 for e in d if e['kind']=='codeload' and e['signed'])")" 3
check "cache: the commit's directory holds the action" test -f "$CACHE/acme/tools/$SHA_TOOLS/sub/action.yml"
check "cache: GitHub's top-level directory was stripped" \
    test ! -e "$CACHE/acme/tools/$SHA_TOOLS/acme-tools-${SHA_TOOLS:0:7}"
check "cache: a link inside the action kept" test -L "$CACHE/acme/tools/$SHA_TOOLS/sub/link.sh"
check "cache: the nested action too" test -f "$CACHE/acme/nested/$SHA_NESTED/action.yml"
check "cache: no temporary directory left" \
    test -z "$(find "$CACHE" -maxdepth 3 -name '.tmp-*' -print -quit)"

# ---------------------------------------------------------------- second job: the cache
job '{"name":"again","steps":['"$steps"']}'
run_once_expect "cached actions" succeeded
check "cached: the actions ran again" grep -q "nested-ran" <<<"$(joblog)"
expect_eq "cached: no tarball fetched again" "$(n_events tarball)" 3
expect_eq "cached: refs resolved again for the new job" "$(n_events launch)" 4

# ---------------------------------------------------------------- classic job
job '{"name":"classic","classic":true,"message_type":"PipelineAgentJobRequest",
  "steps":[{"uses":"acme/other@v3"}]}'
run_once_expect "classic job" succeeded
expect_eq "classic: the actiondownloadinfo resource asked" "$(n_events classic)" 1
expect_eq "classic: its body" "$(events | q "[e for e in d if e['kind']=='classic'][0]['body']")" \
    "{'actions': [{'nameWithOwner': 'acme/other', 'ref': 'v3'}]}"
expect_eq "classic: api-version" "$(events | q "[e for e in d if e['kind']=='classic'][0]['accept']")" \
    "application/json; api-version=6.0-preview.1"
check "classic: the action ran" grep -q "other-ran" <<<"$(state | q "' '.join(l['text'] \
for j in d['jobs'] if j['runner_request_id']=='$JOB_RID' for l in j['logs'].values())")"

# ---------------------------------------------------------------- unknown action
ADIR="$T/adir"
mkdir -p "$ADIR"
job '{"name":"unknown","steps":[{"uses":"acme/nope@v9"},{"run":"echo after"}]}'
run_once_expect "unknown action" failed GHRUN_ACTION_DIR="$ADIR"
expect_eq "unknown: steps" "$(steps_of "$JOB_RID")" failed,skipped
MSG=$(completion "['stepResults'][0]['annotations'][0]['message']")
check "unknown: the message names the action and the ref ($MSG)" \
    grep -q "action 'acme/nope@v9' (ref 'v9') was not found" <<<"$MSG"
check "unknown: it names the action directory tried" \
    grep -qF -- "--action-dir '$ADIR/acme/nope/v9' (no such directory)" <<<"$MSG"
check "unknown: it names the download info and its answer" \
    grep -qF "GitHub's action download info (acme/nope@v9: Unable to resolve action" <<<"$MSG"
# the classic resource answers a batch with an unknown action with one error: asked again alone
job '{"name":"unknown-classic","classic":true,"message_type":"PipelineAgentJobRequest",
  "steps":[{"uses":"acme/other@v3"},{"uses":"acme/nope@v9"}]}'
run_once_expect "unknown action (classic)" failed
expect_eq "unknown (classic): steps" "$(steps_of "$JOB_RID")" succeeded,failed
check "unknown (classic): the error names the action" \
    grep -q "Unable to resolve action .acme/nope@v9." \
    <<<"$(completion "['stepResults'][1]['annotations'][0]['message']")"

# ---------------------------------------------------------------- the order of the sources
mkdir -p "$ADIR/acme/other/v3"
printf 'name: local\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo from-action-dir\n' \
    >"$ADIR/acme/other/v3/action.yml"
job '{"name":"order","steps":[{"uses":"acme/other@v3"}]}'
run_once_expect "action dir first" succeeded GHRUN_ACTION_DIR="$ADIR"
check "action dir first: its copy ran" grep -q "from-action-dir" <<<"$(joblog)"
job '{"name":"order2","steps":[{"uses":"acme/other@v3"}]}'
run_once_expect "download first" succeeded GHRUN_ACTION_DIR="$ADIR" GHRUN_ACTION_SOURCES=download,dir
check "download first: GitHub's copy ran" grep -q "other-ran" <<<"$(joblog)"
job '{"name":"order3","steps":[{"uses":"acme/other@v3"}]}'
run_once_expect "bad source name" failed GHRUN_ACTION_SOURCES=dir,ftp
check "bad source name: named" grep -q "unknown action source 'ftp'" \
    <<<"$(completion "['stepResults'][0]['annotations'][0]['message']")"

# ---------------------------------------------------------------- malicious tarballs
OUT="$T/outside"
mkdir -p "$OUT"
evil() { # NAME EVIL-JSON WANT-IN-MESSAGE
    local sha
    sha=$(repo '{"name":"acme/'"$1"'","refs":["v1"],"files":{"action.yml":"name: e\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo evil-ran\n"},"evil":['"$2"']}' | q 'd["v1"]')
    job '{"name":"'"$1"'","steps":[{"uses":"acme/'"$1"'@v1"}]}'
    run_once_expect "$1" failed
    check "$1: refused ($3)" grep -qF "$3" <<<"$(completion "['stepResults'][0]['annotations'][0]['message']")"
    check "$1: nothing ran" bash -c '! grep -q evil-ran <<<"$1"' _ "$(joblog)"
    check "$1: nothing in the cache" test ! -e "$CACHE/acme/$1/$sha"
}
evil dotdot '{"name":"../../../../outside/dotdot","type":"file"}' "refusing archive member"
evil absolute '{"name":"'"$OUT"'/absolute","type":"file"}' "refusing archive member '$OUT/absolute'"
evil linkout '{"name":"up","type":"symlink","target":"../../../../../../outside"},
  {"name":"up/linkout","type":"file"}' "refusing symbolic link"
evil linkabs '{"name":"abs","type":"symlink","target":"'"$OUT"'"},
  {"name":"abs/linkabs","type":"file"}' "refusing symbolic link"
evil hardlink '{"name":"passwd","type":"hardlink","target":"/etc/passwd"}' "refusing hard link"
evil twotop '{"name":"!second/file","type":"file"}' "more than one top-level entry"
check "malicious: nothing written outside" test -z "$(ls -A "$OUT")"
check "malicious: nothing beside the work folder" test ! -e "$T/r1/outside"
check "malicious: no temporary directory left" \
    test -z "$(find "$CACHE" -maxdepth 3 -name '.tmp-*' -print -quit)"

finish_all
