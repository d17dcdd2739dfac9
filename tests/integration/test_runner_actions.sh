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

repo() { curl -s -X POST -d "$1" "$BASE/_control/action_repo"; }
CACHE="$T/r1/_work/_ghrun/_actions"
# After each job the fake's state and what its action endpoints saw are read once (every
# python start costs on a busy machine): S, E; sq/eq query them.
sq() { q "$1" <<<"$S"; }
eq() { q "$1" <<<"$E"; }
JOBQ() { echo "[j for j in d['jobs'] if j['runner_request_id']=='$JOB_RID'][0]"; }
# the completion body; its stepResults without the Set up job / Complete job records (type
# runner, checked in test_runner_feed.sh)
COMPQ() {
    echo "(lambda b: dict(b, stepResults=[s for s in b['stepResults'] if s.get('type') != \
'runner']))([c['body'] for c in d['completions'] if str(c['request_id'])=='$JOB_RID'][0])"
}
run_job() { # DESC CONCLUSION [env...]: run --once for the queued job
    local desc=$1 want=$2 rc
    shift 2
    env "$@" timeout 120 "$RUNNER" run --root "$T/r1" --once >>"$LOG" 2>&1 </dev/null
    rc=$?
    S=$(state)
    E=$(curl -s "$BASE/_control/actions")
    expect_eq "$desc: exit code" "$rc" 0
    expect_eq "$desc: conclusion and steps" \
        "$(sq "(lambda c: c['conclusion'] + ':' + ','.join(s['conclusion'] for s in \
c['stepResults']))($(COMPQ))")" "$want"
}
joblog() { sq "$(JOBQ)['result_logs']['job']"; }
# the annotation of step I (0-based)
step_msg() { sq "$(COMPQ)['stepResults'][$1]['annotations'][0]['message']"; }
n_events() { eq "len([e for e in d if e['kind']=='$1'])"; }

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
run_job "remote actions" "succeeded:$want_steps"
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
expect_eq "composite output reaches the job outputs" "$(sq "$(COMPQ)['outputs']['said']['value']")" yes
LQ="[e for e in d if e['kind']=='launch']"
expect_eq "download info: one request for the job, one for the composite's action; \
the first names both repositories, the second the nested action; all with the job token" \
    "$(eq "(len($LQ), sorted((a['action'], a['version'], a.get('path')) for a in \
$LQ[0]['body']['actions']), $LQ[1]['body'], all(e['job_auth'] for e in $LQ))")" \
    "(2, [('acme/other', 'v3', None), ('acme/tools', 'v1', None)], \
{'actions': [{'action': 'acme/nested', 'version': 'v2'}]}, True)"
expect_eq "download info: at the launch endpoint's origin" \
    "$(grep -c '"path": "/actions/build/[^"]*/jobs/[^"]*/runnerresolve/actions"' "$T/requests.jsonl")" 2
expect_eq "tarballs: one per repository, each with its own token (Basic x-access-token), \
the redirect to the signed URL followed" \
    "$(eq "(len([e for e in d if e['kind']=='tarball']), sorted(set((e['scheme'], e['token_ok']) \
for e in d if e['kind']=='tarball')), sum(1 for e in d if e['kind']=='codeload' and e['signed']))")" \
    "(3, [('Basic', True)], 3)"
check "cache: the commit's directory holds the action" test -f "$CACHE/acme/tools/$SHA_TOOLS/sub/action.yml"
check "cache: GitHub's top-level directory was stripped" \
    test ! -e "$CACHE/acme/tools/$SHA_TOOLS/acme-tools-${SHA_TOOLS:0:7}"
check "cache: a link inside the action kept" test -L "$CACHE/acme/tools/$SHA_TOOLS/sub/link.sh"
check "cache: the nested action too" test -f "$CACHE/acme/nested/$SHA_NESTED/action.yml"

# ---------------------------------------------------------------- second job: the cache
job '{"name":"again","steps":['"$steps"']}'
run_job "cached actions" "succeeded:${want_steps%,succeeded}"
check "cached: the actions ran again" grep -q "nested-ran" <<<"$(joblog)"
expect_eq "cached: no tarball fetched again; refs resolved again for the new job" \
    "$(n_events tarball) $(n_events launch)" "3 4"

# ---------------------------------------------------------------- classic job
# The classic resource fails a request with an unknown action as a whole (one error): the
# needed action is asked again alone, and the unknown one fails only its own step.
job '{"name":"classic","classic":true,"message_type":"PipelineAgentJobRequest",
  "steps":[{"uses":"acme/other@v3"},{"uses":"acme/nope@v9","continue-on-error":true}]}'
run_job "classic job" "succeeded:succeeded,succeeded"
CQ="[e for e in d if e['kind']=='classic']"
expect_eq "classic: the actiondownloadinfo resource asked for both, then each alone" \
    "$(eq "[e['body'] for e in $CQ]")" \
    "[{'actions': [{'nameWithOwner': 'acme/other', 'ref': 'v3'}, {'nameWithOwner': 'acme/nope', \
'ref': 'v9'}]}, {'actions': [{'nameWithOwner': 'acme/other', 'ref': 'v3'}]}, \
{'actions': [{'nameWithOwner': 'acme/nope', 'ref': 'v9'}]}]"
expect_eq "classic: api-version" "$(eq "$CQ[0]['accept']")" "application/json; api-version=6.0-preview.1"
expect_eq "classic: the job token" "$(eq "all(e['job_auth'] for e in $CQ)")" True
check "classic: the action ran" grep -q "other-ran" <<<"$(sq "' '.join(l['text'] \
for l in $(JOBQ)['logs'].values())")"
check "classic: the unknown action's error names it" \
    grep -q "Unable to resolve action .acme/nope@v9." <<<"$(step_msg 1)"

# ---------------------------------------------------------------- sources: order, unknown
ADIR="$T/adir"
mkdir -p "$ADIR/acme/other/v3"
printf 'name: local\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo from-action-dir\n' \
    >"$ADIR/acme/other/v3/action.yml"
job '{"name":"order","steps":[{"uses":"acme/other@v3"},{"uses":"acme/nope@v9"},{"run":"echo after"}]}'
run_job "action dir first; an unknown action" "failed:succeeded,failed,skipped" \
    GHRUN_ACTION_DIR="$ADIR"
check "action dir first: its copy ran" grep -q "from-action-dir" <<<"$(joblog)"
MSG=$(step_msg 1)
check "unknown: the message names the action and the ref ($MSG)" \
    grep -q "action 'acme/nope@v9' (ref 'v9') was not found" <<<"$MSG"
check "unknown: it names the action directory tried" \
    grep -qF -- "--action-dir '$ADIR/acme/nope/v9' (no such directory)" <<<"$MSG"
check "unknown: it names the download info and its answer" \
    grep -qF "GitHub's action download info (acme/nope@v9: Unable to resolve action" <<<"$MSG"
expect_eq "unknown: resolved once for the job (set-up and step)" \
    "$(eq "sum(1 for e in d if e['kind']=='launch' and 'acme/nope@v9' in e['errors'])")" 1

job '{"name":"order3","steps":[{"uses":"acme/other@v3"}]}'
run_job "bad source name" "failed:failed" GHRUN_ACTION_SOURCES=dir,ftp
check "bad source name: named" grep -q "unknown action source 'ftp'" <<<"$(step_msg 0)"

# ---------------------------------------------------------------- malicious tarballs
# With download before dir: GitHub's copy of acme/other runs. Then a step per malicious
# tarball: each is refused, nothing of it runs or stays in the cache, nothing is written
# outside.
OUT="$T/outside"
mkdir -p "$OUT"
EVIL=(dotdot absolute linkout linkabs hardlink twotop)
EVIL_SPEC=('{"name":"../../../../outside/dotdot","type":"file"}'
    '{"name":"'"$OUT"'/absolute","type":"file"}'
    '{"name":"up","type":"symlink","target":"../../../../../../outside"},{"name":"up/linkout","type":"file"}'
    '{"name":"abs","type":"symlink","target":"'"$OUT"'"},{"name":"abs/linkabs","type":"file"}'
    '{"name":"passwd","type":"hardlink","target":"/etc/passwd"}'
    '{"name":"!second/file","type":"file"}')
EVIL_WANT=("refusing archive member" "refusing archive member '$OUT/absolute'"
    "refusing symbolic link" "refusing symbolic link" "refusing hard link"
    "more than one top-level entry")
steps='{"uses":"acme/other@v3"}' want=succeeded
for i in "${!EVIL[@]}"; do
    n=${EVIL[$i]}
    EVIL_SHA[$i]=$(repo '{"name":"acme/'"$n"'","refs":["v1"],"files":{"action.yml":"name: e\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo evil-ran\n"},"evil":['"${EVIL_SPEC[$i]}"']}' | q 'd["v1"]')
    steps="$steps,{\"uses\":\"acme/$n@v1\",\"continue-on-error\":true}"
    want="$want,succeeded"
done
job '{"name":"evil","steps":['"$steps"']}'
run_job "download first; malicious tarballs" "succeeded:$want" GHRUN_ACTION_DIR="$ADIR" \
    GHRUN_ACTION_SOURCES=download,dir
check "download first: GitHub's copy ran" grep -q "other-ran" <<<"$(joblog)"
for i in "${!EVIL[@]}"; do
    n=${EVIL[$i]}
    check "$n: refused (${EVIL_WANT[$i]})" grep -qF "${EVIL_WANT[$i]}" <<<"$(step_msg $((i + 1)))"
    check "$n: nothing in the cache" test ! -e "$CACHE/acme/$n/${EVIL_SHA[$i]}"
done
expect_eq "malicious: each tarball fetched once" \
    "$(eq "sorted(set(e['name'] for e in d if e['kind']=='tarball' and 'acme/' in e['name'] \
and e['name'].split('/')[1] in '${EVIL[*]}'.split()))")" \
    "$("$PY" -c "import sys; print(sorted('acme/' + n for n in sys.argv[1:]))" "${EVIL[@]}")"
expect_eq "malicious: no tarball fetched twice" \
    "$(eq "(lambda t: len(t) == len(set(t)))([e['name'] for e in d if e['kind']=='tarball'])")" True
check "malicious: nothing ran" bash -c '! grep -q evil-ran <<<"$1"' _ "$(joblog)"
check "malicious: nothing written outside" test -z "$(ls -A "$OUT")"
check "malicious: nothing beside the work folder" test ! -e "$T/r1/outside"
check "no temporary directory left in the cache" \
    test -z "$(find "$CACHE" -maxdepth 3 -name '.tmp-*' -print -quit)"

finish_all
