#!/usr/bin/env bash
# `ghrun replay -l/-n` over the shared corpus: every real workflow plans and
# names all its jobs; the plan-only rows of act-testdata/CASES.tsv give the
# expected plan or planner error; bad input gets a clear message and exit 2.
set -u
. "$(dirname "$0")/lib.sh"

corpus=$GR_SHARED_DIR/corpus
act=$corpus/act-testdata
if [ ! -d "$corpus/real-workflows" ]; then
    echo "SKIP: no corpus under $corpus"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Job ids of a workflow file: the keys one level under a top-level `jobs:`.
job_ids() {
    python3 - "$1" <<'PY'
import re, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
ids, indent, inside = [], None, False
for line in lines:
    if re.match(r"^jobs:\s*(#.*)?$", line):
        inside = True
        continue
    if not inside or not line.strip() or line.lstrip().startswith("#"):
        continue
    lead = len(line) - len(line.lstrip(" "))
    if lead == 0:
        break
    if indent is None:
        indent = lead
    if lead == indent:
        m = re.match(r"^\s*['\"]?([A-Za-z_][A-Za-z0-9_-]*)['\"]?\s*:", line)
        if m:
            ids.append(m.group(1))
print("\n".join(ids))
PY
}

# A repository for a corpus file owner__repo__name.yml: every corpus workflow of that
# repository under .github/workflows/ with its own name, so that local reusable
# workflows (uses: ./.github/workflows/x.yml) resolve. Prints the copied file's path.
repo_for() {
    local f=$1 base prefix dir g
    base=$(basename "$f")
    prefix=${base%__*}__
    dir=$tmp/repos/${prefix%__}
    if [ ! -d "$dir" ]; then
        mkdir -p "$dir/.github/workflows"
        for g in "$corpus/real-workflows/$prefix"*; do
            cp "$g" "$dir/.github/workflows/${g##*__}"
        done
    fi
    echo "$dir/.github/workflows/${base##*__}"
}

# -n on a file into $tmp/out (exit status kept); a required workflow_call input gets a
# value, as a caller would give it.
plan_n() {
    local f args=() name rc dir
    f=$(repo_for "$1")
    dir=${f%/.github/workflows/*}
    for _ in 1 2 3 4 5; do
        "$GHRUN" replay -n --ignore-filters -C "$dir" -W "$f" "${args[@]}" >"$tmp/out" 2>&1
        rc=$?
        name=$(sed -n "s/.*Input \([A-Za-z0-9_-]*\) is required, but not provided while calling.*/\1/p" "$tmp/out" | head -1)
        [ -z "$name" ] && break
        args+=(--input "$name=x")
    done
    return $rc
}

# 1. Real workflows: -n succeeds and lists every job; -l names them too.
for f in "$corpus"/real-workflows/*.yml; do
    base=$(basename "$f")
    plan_n "$f"
    rc=$?
    out=$(cat "$tmp/out")
    if [ $rc -ne 0 ]; then
        bad "$base: -n exit $rc: $(printf '%s\n' "$out" | head -3)"
        continue
    fi
    ok
    ids=$(job_ids "$f")
    [ -n "$ids" ] || bad "$base: no job ids found in the file"
    for id in $ids; do
        if printf '%s\n' "$out" | grep -qx "  Job $id"; then ok; else bad "$base: -n lacks job '$id'"; fi
    done
    n_ids=$(printf '%s\n' "$ids" | grep -c .)
    n_jobs=$(printf '%s\n' "$out" | grep -c '^  Job ')
    if [ "$n_ids" -eq "$n_jobs" ]; then ok; else bad "$base: $n_jobs jobs planned, file has $n_ids"; fi
done

# 2. act-testdata plan-only rows (CASES.tsv).
list_ids() { # job ids of a -l table, in order
    "$GHRUN" replay -l "$@" 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ {print $1 ":" $2}' | tr '\n' ' '
}
expect_stdout "0:check 1:build 2:test " list_ids -C "$tmp" -W "$act/basic/push.yml"
expect_stdout "" list_ids -C "$tmp" -W "$act/basic/push.yml" release
expect_rc 0 "$GHRUN" replay -l -C "$tmp" -W "$act/basic/push.yml" release
expect_out_has "not triggered by 'release'" "$GHRUN" replay -l -C "$tmp" -W "$act/basic/push.yml" release
# no `on:`: nothing planned, exit 0
expect_stdout "" list_ids -C "$tmp" -W "$act/issue-1595/no-event.yml"
expect_rc 0 "$GHRUN" replay -l -C "$tmp" -W "$act/issue-1595/no-event.yml"
expect_out_has "no events" "$GHRUN" replay -n -C "$tmp" -W "$act/issue-1595/no-event.yml"
# missing needs targets reject the whole file
expect_rc 2 "$GHRUN" replay -l -C "$tmp" -W "$act/issue-1595/no-first.yml"
expect_rc 2 "$GHRUN" replay -l -C "$tmp" -W "$act/issue-1595/missing.yml"
expect_err_has "missing.yml:7:" "$GHRUN" replay -l -C "$tmp" -W "$act/issue-1595/missing.yml"
expect_err_has "first" "$GHRUN" replay -l -C "$tmp" -W "$act/issue-1595/missing.yml"
expect_stdout "" list_ids -C "$tmp" -W "$act/issue-1595/missing.yml"
# a directory: bad files reported (exit 2), good ones still listed
expect_rc 2 "$GHRUN" replay -l -C "$tmp" -W "$act/issue-1595/"
expect_err_has "no-first.yml" "$GHRUN" replay -l -C "$tmp" -W "$act/issue-1595/"
# job ids
expect_rc 2 "$GHRUN" replay -l -C "$tmp" -W "$act/model-testdata/invalid-job-name/invalid-1.yml"
expect_err_has "invalid-JOB-Name-v1.2.3-docker_hub" "$GHRUN" replay -l -C "$tmp" -W "$act/model-testdata/invalid-job-name/invalid-1.yml"
expect_rc 2 "$GHRUN" replay -l -C "$tmp" -W "$act/model-testdata/invalid-job-name/invalid-2.yml"
expect_stdout "0:valid-JOB-Name-v123-docker_hub " list_ids -C "$tmp" -W "$act/model-testdata/invalid-job-name/valid-1.yml"
expect_stdout "0:___valid-JOB-Name-v123-docker_hub " list_ids -C "$tmp" -W "$act/model-testdata/invalid-job-name/valid-2.yml"
# empty file; a directory is read without recursing (act --no-recurse)
expect_rc 2 "$GHRUN" replay -l -C "$tmp" -W "$act/model-testdata/empty-workflow/push.yml"
expect_err_has "push.yml" "$GHRUN" replay -l -C "$tmp" -W "$act/model-testdata/empty-workflow/push.yml"
expect_rc 0 "$GHRUN" replay -l -C "$tmp" -W "$act/model-testdata/nested/"
expect_stdout "0:hello-world " list_ids -C "$tmp" -W "$act/model-testdata/nested/"

# 3. Matrix legs in -n (act-testdata matrix cases).
n_out() { "$GHRUN" replay -n -C "$tmp" "$@" 2>&1; }
out=$(n_out -W "$act/matrix-include-exclude/push.yml")
if printf '%s\n' "$out" | grep -q 'legs (8):'; then ok; else bad "matrix-include-exclude: want 8 legs"; fi
if printf '%s\n' "$out" | grep -qF -- '- PHP ubuntu-16.04 10 {"os":"ubuntu-16.04","node":10}'; then ok; else bad "matrix-include-exclude: include leg"; fi
if printf '%s\n' "$out" | grep -qF -- 'macos-latest 4'; then bad "matrix-include-exclude: excluded leg present"; else ok; fi
out=$(n_out -W "$act/matrix-with-user-inclusions/push.yml" --matrix node:8 --matrix node:8.x --matrix os:ubuntu-18.04)
if printf '%s\n' "$out" | grep -c '^      - ' | grep -qx 2; then ok; else bad "--matrix: want 2 legs in all: $out"; fi
out=$(n_out -W "$act/evalmatrix/push.yml")
if printf '%s\n' "$out" | grep -qF -- '{"A":"A"}'; then ok; else bad "evalmatrix: fromJson matrix not expanded"; fi
out=$(n_out -W "$act/evalmatrixneeds/push.yml")
if printf '%s\n' "$out" | grep -q 'expanded when its needs finish'; then ok; else bad "evalmatrixneeds: matrix not deferred"; fi
out=$(n_out -W "$act/evalmatrix-merge-map/push.yml")
if printf '%s\n' "$out" | grep -qF '"key1":"val1","key2":"val2","key3":"val3"'; then ok; else bad "evalmatrix-merge-map: $out"; fi
out=$(n_out -W "$act/evalmatrix-merge-array/push.yml")
if printf '%s\n' "$out" | grep -q 'legs (3):'; then ok; else bad "evalmatrix-merge-array: want 3 legs"; fi

# 4. Inputs (workflow_dispatch / workflow_call).
wd=$act/workflow_dispatch
expect_out_has 'Inputs: {"required":"required input","with_default":"default","boolean":true}' \
    "$GHRUN" replay workflow_dispatch -n -C "$tmp" -W "$wd/workflow_dispatch.yml" -e "$wd/event.json"
expect_out_has 'Inputs: {"required":"r","with_default":"default","boolean":false}' \
    "$GHRUN" replay workflow_dispatch -n -C "$tmp" -W "$wd/workflow_dispatch.yml" --input required=r
expect_rc 2 "$GHRUN" replay workflow_dispatch -n -C "$tmp" -W "$wd/workflow_dispatch.yml"
expect_err_has "workflow_dispatch.yml:6:7: Required input 'required' not provided" \
    "$GHRUN" replay workflow_dispatch -n -C "$tmp" -W "$wd/workflow_dispatch.yml"
expect_rc 2 "$GHRUN" replay workflow_dispatch -n -C "$tmp" -W "$wd/workflow_dispatch.yml" --input required=r --input boolean=maybe
expect_err_has "Provided value 'maybe' for input 'boolean' not in the list of allowed values" \
    "$GHRUN" replay workflow_dispatch -n -C "$tmp" -W "$wd/workflow_dispatch.yml" --input required=r --input boolean=maybe
expect_rc 2 "$GHRUN" replay workflow_dispatch -n -C "$tmp" -W "$wd/workflow_dispatch.yml" --input required=r --input nope=1
expect_err_has 'Unexpected inputs provided: ["nope"]' \
    "$GHRUN" replay workflow_dispatch -n -C "$tmp" -W "$wd/workflow_dispatch.yml" --input required=r --input nope=1
# the default event of a dispatch-only workflow is workflow_dispatch; inputs need such an event
expect_rc 0 "$GHRUN" replay -n -C "$tmp" -W "$wd/workflow_dispatch.yml" --input required=r
expect_rc 2 "$GHRUN" replay push -n -C "$tmp" -W "$wd/workflow_dispatch.yml" --input required=r
expect_err_has "--input needs a workflow_dispatch or workflow_call event" \
    "$GHRUN" replay push -n -C "$tmp" -W "$wd/workflow_dispatch.yml" --input required=r
wc=$act/workflow_call_inputs
expect_out_has '"boolean":true' "$GHRUN" replay workflow_call -n -C "$tmp" -W "$wc/workflow_call_inputs.yml" -e "$wc/event.json"
cat >"$tmp/choice.yml" <<'YML'
on:
  workflow_dispatch:
    inputs:
      level:
        type: choice
        options: [low, high]
        default: low
      count:
        type: number
        default: 3
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ inputs.level }}
YML
expect_out_has 'Inputs: {"level":"high","count":3}' "$GHRUN" replay -n -C "$tmp" -W "$tmp/choice.yml" --input level=high
expect_out_has 'Inputs: {"level":"low","count":2.5}' "$GHRUN" replay -n -C "$tmp" -W "$tmp/choice.yml" --input count=2.5
expect_rc 2 "$GHRUN" replay -n -C "$tmp" -W "$tmp/choice.yml" --input level=medium
expect_rc 2 "$GHRUN" replay -n -C "$tmp" -W "$tmp/choice.yml" --input count=many
expect_err_has "is not a valid number" "$GHRUN" replay -n -C "$tmp" -W "$tmp/choice.yml" --input count=many

# Reusable workflows: called jobs are listed as caller/job; act's uses-workflow passes a secret
# that the callee does not declare, which GitHub rejects (act does not check it).
mkdir -p "$tmp/rw/.github/workflows"
cat >"$tmp/rw/.github/workflows/callee.yml" <<'YML'
name: Callee
on:
  workflow_call:
    inputs:
      n: {type: number, required: true}
jobs:
  inner:
    runs-on: x
    steps: [{run: echo inner}]
YML
cat >"$tmp/rw/caller.yml" <<'YML'
on: push
jobs:
  call:
    uses: ./.github/workflows/callee.yml
    with: {n: 3}
YML
expect_stdout "0:call 0:call/inner " list_ids -C "$tmp/rw" -W "$tmp/rw/caller.yml"
expect_out_has '    |     name: call / inner' "$GHRUN" replay -n -C "$tmp/rw" -W "$tmp/rw/caller.yml"
expect_out_has '    inputs: {"n":3}' "$GHRUN" replay -n -C "$tmp/rw" -W "$tmp/rw/caller.yml"
expect_rc 2 "$GHRUN" replay -n -C "$act" -W "$act/uses-workflow/local-workflow.yml"
expect_err_has "local-workflow.yml:12:7: Invalid secret, secret is not defined in the referenced workflow." \
    "$GHRUN" replay -n -C "$act" -W "$act/uses-workflow/local-workflow.yml"

# Branch and path filters against a real repository (needs the git command).
if command -v git >/dev/null 2>&1; then
    r=$tmp/gitrepo
    mkdir -p "$r/src" "$r/docs"
    git -C "$r" init -q -b main
    git -C "$r" config user.name "Plan Test"
    git -C "$r" config user.email plan@example.com
    echo a >"$r/docs/a.md"
    git -C "$r" add . && git -C "$r" commit -qm one
    echo b >"$r/src/b.c"
    git -C "$r" add . && git -C "$r" commit -qm two
    for spec in "branches: [main]|1" "branches: [dev]|0" "paths: ['src/**']|1" \
        "paths: ['docs/**']|0" "paths-ignore: ['src/**']|0" "tags: ['v*']|0"; do
        filter=${spec%|*}
        printf 'on:\n  push:\n    %s\njobs:\n  j:\n    runs-on: x\n    steps: [{run: echo}]\n' \
            "$filter" >"$tmp/filter.yml"
        want=${spec##*|}
        got=$("$GHRUN" replay -l -C "$r" -W "$tmp/filter.yml" 2>/dev/null | grep -c '^0  ')
        if [ "$got" = "$want" ]; then ok; else bad "filter '$filter': $got jobs, want $want"; fi
    done
    expect_out_has "repository local/gitrepo, actor Plan Test" \
        "$GHRUN" replay -n -C "$r" -W "$tmp/filter.yml"
    expect_out_has "ref refs/heads/main" "$GHRUN" replay -n -C "$r" -W "$tmp/filter.yml"
    git -C "$r" remote add origin git@github.com:octo/demo.git
    expect_out_has "repository octo/demo" "$GHRUN" replay -n -C "$r" -W "$tmp/filter.yml"
    # --ignore-filters plans it anyway
    expect_stdout "0:j " list_ids -C "$r" -W "$tmp/filter.yml" --ignore-filters
else
    echo "SKIP: no git command for the filter checks"
fi

# 5. -j: the job and what it needs (act's PlanJob); unknown job.
expect_stdout "0:check 1:build " list_ids -C "$tmp" -W "$act/basic/push.yml" -j build
expect_stdout "0:check " list_ids -C "$tmp" -W "$act/basic/push.yml" -j check
expect_rc 2 "$GHRUN" replay -l -C "$tmp" -W "$act/basic/push.yml" -j nosuch
expect_err_has "job 'nosuch' not found" "$GHRUN" replay -l -C "$tmp" -W "$act/basic/push.yml" -j nosuch

# 6. Flags: one-line errors and exit 2.
expect_rc 2 "$GHRUN" replay --no-such-flag
expect_err_has "unknown option '--no-such-flag'" "$GHRUN" replay --no-such-flag
expect_one_line_err "$GHRUN" replay --no-such-flag
expect_rc 2 "$GHRUN" replay -W
expect_err_has "option '-W' needs a value" "$GHRUN" replay -W
expect_one_line_err "$GHRUN" replay -W
expect_rc 2 "$GHRUN" replay -l -W "$tmp/does-not-exist.yml"
expect_rc 2 "$GHRUN" replay -l -C "$tmp/nowhere"
expect_rc 2 "$GHRUN" replay -l --input novalue -W "$act/basic/push.yml"
expect_rc 2 "$GHRUN" replay -l --matrix novalue -W "$act/basic/push.yml"
expect_rc 2 "$GHRUN" replay -l --jobs 0 -W "$act/basic/push.yml"
expect_rc 2 "$GHRUN" replay -l push pull_request -W "$act/basic/push.yml"
expect_rc 2 "$GHRUN" replay -l -s GR_SURELY_UNSET_SECRET_VAR -W "$act/basic/push.yml"
expect_rc 2 "$GHRUN" replay -l -e "$tmp/choice.yml" -W "$act/basic/push.yml"
expect_rc 0 "$GHRUN" replay --help
expect_out_has "usage: ghrun replay" "$GHRUN" replay --help

# 7. Secrets never reach -n output; dotenv files are read as act reads them.
printf 'MY_SECRET=top-secret-value\nexport OTHER="a\\nb" # comment\n' >"$tmp/.secrets"
cat >"$tmp/sec.yml" <<'YML'
on: push
jobs:
  s:
    runs-on: ubuntu-latest
    env:
      X: ${{ secrets.MY_SECRET }}
    steps:
      - name: uses ${{ secrets.MY_SECRET }}
        run: echo "${{ secrets.MY_SECRET }}"
YML
out=$("$GHRUN" replay -n -C "$tmp" -W "$tmp/sec.yml" --secret-file "$tmp/.secrets" -s INLINE=inline-secret-value 2>&1)
rc=$?
if [ $rc -eq 0 ]; then ok; else bad "secrets: exit $rc: $out"; fi
if printf '%s\n' "$out" | grep -qE 'top-secret-value|inline-secret-value'; then bad "secret value printed by -n"; else ok; fi
printf 'BROKEN LINE\n' >"$tmp/.bad"
expect_rc 2 "$GHRUN" replay -n -C "$tmp" -W "$tmp/sec.yml" --secret-file "$tmp/.bad"
expect_err_has ".bad:1: invalid line" "$GHRUN" replay -n -C "$tmp" -W "$tmp/sec.yml" --secret-file "$tmp/.bad"

# vars from a dotenv file (plain, export, double and single quotes, "K: V", comments), then --var
cat >"$tmp/.vars" <<'ENV'
# a comment line
A=plain value # trailing comment
export B="x\ny"
C='single # kept'
D: colon-form

JSON={"foo": "bar"}
E=
ENV
cat >"$tmp/vars.yml" <<'YML'
on: push
jobs:
  v:
    runs-on: x
    strategy:
      matrix:
        all: ['${{ vars.A }}|${{ vars.B }}|${{ vars.C }}|${{ vars.D }}|${{ vars.JSON }}|${{ vars.E }}|${{ vars.F }}']
    steps: [{run: echo}]
YML
expect_out_has '{"all":"plain value|x\ny|single # kept|colon-form|{\"foo\": \"bar\"}||"}' \
    "$GHRUN" replay -n -C "$tmp" -W "$tmp/vars.yml" --var-file "$tmp/.vars"
expect_out_has '{"all":"over|x\ny|single # kept|colon-form|{\"foo\": \"bar\"}||f"}' \
    "$GHRUN" replay -n -C "$tmp" -W "$tmp/vars.yml" --var-file "$tmp/.vars" --var A=over --var F=f

# 8. --json writes the plan.
expect_rc 0 "$GHRUN" replay -l -C "$tmp" -W "$act/basic/push.yml" --json "$tmp/plan.json"
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); j=d["plans"][0]["jobs"]; sys.exit(0 if [x["id"] for x in j]==["check","build","test"] else 1)' "$tmp/plan.json"; then ok; else bad "--json plan"; fi

finish
