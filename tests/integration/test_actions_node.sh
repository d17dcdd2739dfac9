#!/usr/bin/env bash
# JavaScript actions end to end, with the real @actions/core from the npm
# registry (installed once under the build dir; those checks are skipped with
# the reason when npm cannot install it): inputs, outputs, exportVariable,
# addPath, state across pre (in the job's set-up phase, for a repository
# action from --action-dir) / main / post (with the registering step's env),
# setSecret, annotations with file and line, the step summary, setFailed; a
# workspace action's pre never runs, as on GitHub; pre and post stages of actions nested in
# composite actions (fixtures actions/nestedpre). Without the toolkit: INPUT_ names with
# spaces, GITHUB_STATE -> STATE_*, post steps in reverse order with post-if,
# a failing post step failing the job, and a node older than runs.using.
# Fixtures: actions/node.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

if ! command -v node >/dev/null; then
    echo "SKIP: no node on PATH"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$here/actions/node" "$tmp/ws"

job() {
    local id=$1
    shift
    out=$(cd "$tmp/ws" && timeout 120 "$GHRUN" replay push -W wf.yml -C . -j "$id" \
        --json "$tmp/$id.json" "$@" </dev/null 2>&1)
    rc=$?
    json=$tmp/$id.json
}
want() {
    local desc=$1
    shift
    if "$@"; then ok; else bad "$desc"; echo "$out" | tail -25; fi
}
jcheck() {
    python3 - "$json" "$1" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
steps = doc["jobs"][0]["steps"]
main = [s for s in steps if s.get("id") == "js" and not s["name"].startswith(("Pre ", "Post "))]
js = main[0] if main else None
def ann(i, level):
    return [a for a in steps[i]["annotations"] if a["level"] == level]
def jann(level):
    return [a for a in js["annotations"] if a["level"] == level]
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}

# ---- without the toolkit ---------------------------------------------------
job plain
want "failing post fails the job" test "$rc" -eq 1
want "INPUT_ with a space in the name" grep -q "plain main first path=true" <<<"$out"
want "failing post ran" grep -q "failpost post" <<<"$out"
want "post-if success() skipped after the failed post" jcheck \
    'steps[-1]["outcome"] == "skipped" and steps[-1]["name"].startswith("Post")'
want "posts in reverse order" jcheck \
    '[s["outcome"] for s in steps] == ["success", "success", "failure", "skipped"]'
want "post failure annotated" grep -q "Process completed with exit code 4" <<<"$out"

printf '#!/bin/sh\necho v12.22.0\n' >"$tmp/old-node"
chmod +x "$tmp/old-node"
job oldnode --node "$tmp/old-node"
want "old node refused" test "$rc" -eq 1
want "old node message" grep -q \
    "action './act/plain' runs on node16 but '$tmp/old-node' is v12.22.0; install node 16 or newer" \
    <<<"$out"
job oldnode --node "$tmp/no-such-node"
want "missing node message" grep -q "needs node, but '$tmp/no-such-node' was not found" <<<"$out"

# ---- pre and post stages of nested actions ---------------------------------
# As actions/runner's ActionManager.PrepareActionsRecursiveAsync and
# CompositeActionHandler: the pre stages of the repository actions nested in a
# repository composite run in the job's set-up phase, inside one "Pre <step>"
# step, in step order and with their pre-if; none below a workspace (./)
# action ever runs (ActionRunner's "`pre` execution is not supported for local
# action" warning); the nested post stages run inside one "Post <step>" step,
# last step first, with their post-if; a post registered by a pre stage (in the
# set-up phase) runs after one registered by an earlier step's main stage.
# Fixtures: actions/nestedpre.
cp -r "$here/actions/nestedpre" "$tmp/np"
out=$(cd "$tmp/np/ws" && timeout 120 "$GHRUN" replay push -W wf.yml -C . -j nested \
    --action-dir "$tmp/np/adir" --json "$tmp/np.json" </dev/null 2>&1)
rc=$?
json=$tmp/np.json
stages=$(grep -o '| stage .*' <<<"$out" | cut -c3- | tr '\n' ';')
want "nested job succeeds" test "$rc" -eq 0
want "stage order: nested pre in the set-up phase, never before main, posts grouped" test \
    "$stages" = "stage pre a-w1 comp-env=[from-comp-step] step-env=[] repo=[acme/js];stage pre b-w1 comp-env=[from-comp-step] step-env=[inner-step] repo=[acme/js];stage pre c comp-env=[] step-env=[] repo=[acme/js];stage main f state=[];stage step-one;stage comp-run w1;stage main a-w1 state=[p-a-w1];stage main b-w1 state=[p-b-w1];stage main e state=[];stage main local-js;stage nopre-run;stage main c state=[p-c];stage main d state=[];stage main local-js;stage post d state=[/m-d] comp-env=[];stage post f state=[/m-f] comp-env=[];stage post c state=[p-c/m-c] comp-env=[];stage post b-w1 state=[p-b-w1/m-b-w1] comp-env=[from-comp-step];stage post a-w1 state=[p-a-w1/m-a-w1] comp-env=[from-comp-step];"
want "one Pre step per job step with a pre stage below it, one Post step per composite" jcheck \
    '[(s["name"], s["outcome"]) for s in steps] == [("Pre Run acme/js@v1", "skipped"), ("Pre Run acme/comp@v1", "success"), ("Pre Run acme/js@v1", "success"), ("Run acme/js@v1", "success"), ("Run echo \"stage step-one\"", "success"), ("Run acme/comp@v1", "success"), ("Run acme/nopre@v1", "success"), ("Run acme/js@v1", "success"), ("Run ./local-comp", "success"), ("Run ./local-js", "success"), ("Post Run ./local-comp", "success"), ("Post Run acme/js@v1", "success"), ("Post Run acme/js@v1", "success"), ("Post Run acme/comp@v1", "success")]'
want "local pre warnings on the workspace actions' steps" jcheck \
    '[[a["message"] for a in s["annotations"] if a["level"] == "warning"] for s in steps[5:10]] == [["`pre` execution is not supported for local action from '"'./local-js'"'"], [], [], ["`pre` execution is not supported for local action from '"'./local-comp'"'"], ["`pre` execution is not supported for local action from '"'./local-js'"'"]]'

# ---- with @actions/core ----------------------------------------------------
npmdir=$GR_NPM_BASE/npm-actions-core
if ! npm_install "$npmdir" @actions/core@1; then
    echo "SKIP: @actions/core checks: npm could not install it ($(tail -1 "$npmdir.tmp/install.log" 2>/dev/null))"
    finish
    exit $?
fi
ln -s "$npmdir/node_modules" "$tmp/ws/act/core/node_modules"
mkdir -p "$tmp/adir/acme/core"
cp -r "$tmp/ws/act/core" "$tmp/adir/acme/core/v1"

job core --action-dir "$tmp/adir"
want "toolkit job succeeds" test "$rc" -eq 0
want "step checks passed" grep -q "step-checks-passed" <<<"$out"
want "pre ran with inputs and the step's env" grep -q "pre ran for world step-only=\[from-the-step\]" <<<"$out"
want "pre runs in the set-up phase, before the first step" jcheck \
    'steps[0]["name"] == "Pre Run acme/core@v1" and steps[1]["name"] == "Run echo \"first step\""'
want "pre output comes before the first step's" test \
    "$(grep -n 'pre ran for world' <<<"$out" | cut -d: -f1)" -lt \
    "$(grep -n '| first step' <<<"$out" | cut -d: -f1)"
want "post runs with the registering step's env" grep -q "post env step-only=\[from-the-step\]" <<<"$out"
want "state reaches post, inputs too" grep -q "post state pre-value main-value input world" <<<"$out"
want "secret masked" grep -q "the token is \*\*\*" <<<"$out"
want "secret never printed" test "$(grep -c 's3cr3t-token' <<<"$out")" -eq 0
want "GITHUB_ACTION and GITHUB_ACTION_REPOSITORY" grep -q "env action=js repo=\[acme/core\]" <<<"$out"
want "summary" grep -q "summary from js" <<<"$out"
want "error annotation with file and line" jcheck \
    'jann("error")[0]["file"] == "src/a.js" and jann("error")[0]["line"] == 3'
want "warning annotation with line and column" jcheck \
    'jann("warning")[0]["line"] == 5 and jann("warning")[0]["col"] == 2'
want "notice annotation" jcheck 'jann("notice")[0]["message"] == "a notice"'
want "output recorded" jcheck 'js["outputs"]["greeting"] == "hello world"'

job fail
want "setFailed fails the job" test "$rc" -eq 1
want "setFailed message" grep -q "asked to fail" <<<"$out"
want "a workspace action's pre never runs" test "$(grep -c 'pre ran for' <<<"$out")" -eq 0

finish
