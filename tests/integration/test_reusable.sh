#!/usr/bin/env bash
# Reusable workflows (jobs.<id>.uses) end to end in `ghrun replay`: a matrix
# caller whose with: uses needs and matrix, explicit and inherited secrets,
# on.workflow_call.outputs reaching a downstream job, a failing called job
# failing its caller, a nested call, a remote reusable workflow served from a
# local bare git repository through --actions-url, `-l`, bad calls
# rejected before anything runs, and GitHub's limits (nesting depth, unique
# reusable workflows per run).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

tmp=$(mktemp -d)
[ -n "${GR_KEEP_TMP:-}" ] && echo "keeping $tmp" || trap 'rm -rf "$tmp"' EXIT
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.com GIT_CONFIG_NOSYSTEM=1 HOME=$tmp

# json FILE PYTHON: run python asserts over the --json results in `jobs` (list) and `by` (name).
json() {
    python3 - "$1" "$2" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
jobs = doc["jobs"]
by = {j["name"]: j for j in jobs}
exec(sys.argv[2])
PY
}

repo=$tmp/repo
mkdir -p "$repo/.github/workflows"
wfd=$repo/.github/workflows

# ---- the main scenario ------------------------------------------------------
cat >"$wfd/main.yml" <<'YML'
name: main
on: push
env:
  CALLER_ONLY: from-the-caller
jobs:
  prep:
    runs-on: ubuntu-latest
    outputs:
      v: ${{ steps.s.outputs.v }}
    steps:
      - id: s
        run: echo "v=fromprep" >> "$GITHUB_OUTPUT"
  build:
    needs: prep
    strategy:
      matrix:
        os: [lin, win]
        py: ["3"]
    uses: ./.github/workflows/build.yml
    with:
      label: ${{ matrix.os }}-${{ needs.prep.outputs.v }}
      count: 3
      flag: true
    secrets:
      token: ${{ secrets.TOKEN }}
  inherit:
    uses: ./.github/workflows/secrets.yml
    secrets: inherit
  after:
    needs: [build, inherit]
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "after: label=${{ needs.build.outputs.label }} result=${{ needs.build.result }}"
          echo "after: nested=${{ needs.inherit.outputs.nested }}"
YML
cat >"$wfd/build.yml" <<'YML'
name: build
on:
  workflow_call:
    inputs:
      label: {type: string, required: true}
      count: {type: number, default: 1}
      flag: {type: boolean, default: false}
      dflt: {type: string, default: "d-${{ github.event_name }}"}
    secrets:
      token: {required: true}
      other: {required: false}
    outputs:
      label:
        value: ${{ jobs.compile.outputs.label }}
      result:
        value: ${{ jobs.compile.result }}
jobs:
  compile:
    name: Compile
    runs-on: ubuntu-latest
    outputs:
      label: ${{ steps.x.outputs.label }}
    steps:
      - id: x
        run: |
          echo "compile: label=${{ inputs.label }} count=${{ inputs.count }} flag=${{ toJSON(inputs.flag) }} dflt=${{ inputs.dflt }}"
          echo "compile: job=$GITHUB_JOB caller-env=${CALLER_ONLY:-unset}"
          [ "${{ secrets.token }}" = "t0ken-value" ] && echo "compile: token ok"
          [ -z "${{ secrets.other }}" ] && echo "compile: other empty"
          echo "compile: token=${{ secrets.token }}"
          echo "label=${{ inputs.label }}" >> "$GITHUB_OUTPUT"
  test:
    needs: compile
    runs-on: ubuntu-latest
    steps:
      - run: echo "test sees ${{ needs.compile.outputs.label }}"
YML
cat >"$wfd/secrets.yml" <<'YML'
on: workflow_call
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: |
          [ "${{ secrets.TOKEN }}" = "t0ken-value" ] && echo "inherit: TOKEN ok"
          [ "${{ secrets.OTHER }}" = "other-value" ] && echo "inherit: OTHER ok"
  deeper:
    uses: ./.github/workflows/nested.yml
    with:
      who: deeper
YML
cat >"$wfd/nested.yml" <<'YML'
on:
  workflow_call:
    inputs:
      who: {type: string, required: true}
    outputs:
      nested:
        value: ${{ jobs.leaf.outputs.o }}
jobs:
  leaf:
    name: Leaf
    runs-on: ubuntu-latest
    outputs:
      o: ${{ steps.s.outputs.o }}
    steps:
      - id: s
        run: |
          echo "leaf: who=${{ inputs.who }} token=[${{ secrets.TOKEN }}]"
          echo "o=leaf-of-${{ inputs.who }}" >> "$GITHUB_OUTPUT"
YML
# the secrets.yml call exposes no outputs of its own: add the nested one
python3 - "$wfd/secrets.yml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read().replace("on: workflow_call\n", """on:
  workflow_call:
    outputs:
      nested:
        value: ${{ jobs.deeper.outputs.nested }}
""")
open(p, "w").write(s)
PY

out=$tmp/main.out
"$GHRUN" replay -W "$wfd/main.yml" -C "$repo" --secret TOKEN=t0ken-value \
    --secret OTHER=other-value --json "$tmp/main.json" >"$out" 2>&1
rc=$?
check "main scenario exits 0 (got $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || sed 's/^/  | /' "$out" | tail -40
check "with: evaluated per leg with matrix and needs" \
    grep -q "compile: label=lin-fromprep count=3 flag=true dflt=d-push" "$out"
check "second leg gets its own inputs" grep -q "compile: label=win-fromprep" "$out"
check "explicit secret reaches the callee" grep -q "compile: token ok" "$out"
check "undeclared-but-mapped-nowhere secret is empty" grep -q "compile: other empty" "$out"
check "secret value is masked" grep -q "compile: token=\*\*\*" "$out"
check "secret value never printed" test "$(grep -c t0ken-value "$out")" -eq 0
check "GITHUB_JOB is the callee's job id" grep -q "compile: job=compile caller-env=unset" "$out"
check "secrets: inherit passes every secret" grep -q "inherit: TOKEN ok" "$out"
check "secrets: inherit passes OTHER too" grep -q "inherit: OTHER ok" "$out"
check "matrix leg names 'caller (a, b) / Job'" grep -q "^\[build (lin, 3) / Compile\]" "$out"
check "called needs resolve inside the call" grep -q "test sees win-fromprep" "$out"
check "nested call named caller / callee / job" grep -q "^\[inherit / deeper / Leaf\]" "$out"
check "secrets are not passed on to a nested call" grep -q "leaf: who=deeper token=\[\]" "$out"
check "workflow outputs reach needs.<caller>.outputs" \
    grep -Eq "after: label=(lin|win)-fromprep result=success" "$out"
check "nested outputs bubble up two levels" grep -q "after: nested=leaf-of-deeper" "$out"
json "$tmp/main.json" '
ids = sorted({j["id"] for j in jobs})
assert ids == ["after", "build", "build/compile", "build/test", "inherit", "inherit/deeper",
               "inherit/deeper/leaf", "inherit/show", "prep"], ids
assert by["build (lin, 3) / Compile"]["result"] == "success"
calls = [j for j in jobs if j["id"] == "build"]
assert len(calls) == 2 and all(c["uses"] == "./.github/workflows/build.yml" for c in calls), calls
assert {c["outputs"]["label"] for c in calls} == {"lin-fromprep", "win-fromprep"}, calls
assert all(c["outputs"]["result"] == "success" for c in calls), calls
assert by["inherit"]["outputs"] == {"nested": "leaf-of-deeper"}, by["inherit"]
assert doc["ok"] is True
'
check "--json: ids caller/job, one entry per calling leg with its outputs" test $? -eq 0

# -l: the expanded graph
"$GHRUN" replay -l -W "$wfd/main.yml" -C "$repo" >"$tmp/list.out" 2>&1
check "-l lists called jobs as caller/job, once per caller leg" \
    grep -Eq "^1 +build/compile +build \(lin, 3\) / Compile" "$tmp/list.out"
check "-l lists the second caller leg" grep -Eq "^1 +build/compile +build \(win, 3\) / Compile" "$tmp/list.out"
check "-l lists nested calls" grep -q "inherit/deeper/leaf" "$tmp/list.out"

# ---- a failing called job fails its caller -----------------------------------
mkdir -p "$tmp/fail/.github/workflows"
cat >"$tmp/fail/.github/workflows/main.yml" <<'YML'
on: push
jobs:
  call:
    uses: ./.github/workflows/c.yml
  dependent:
    needs: call
    runs-on: ubuntu-latest
    steps:
      - run: echo "dependent ran"
  report:
    needs: call
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "report sees ${{ needs.call.result }}"
  never:
    if: false
    uses: ./.github/workflows/c.yml
  named:
    name: Named caller
    if: github.event_name == 'push'
    uses: ./.github/workflows/c.yml
YML
cat >"$tmp/fail/.github/workflows/c.yml" <<'YML'
on: workflow_call
jobs:
  good:
    runs-on: ubuntu-latest
    steps:
      - run: echo ok
  bad:
    runs-on: ubuntu-latest
    steps:
      - run: exit 3
YML
"$GHRUN" replay -W "$tmp/fail/.github/workflows/main.yml" -C "$tmp/fail" --json "$tmp/fail.json" \
    >"$tmp/fail.out" 2>&1
rc=$?
check "failing called job: exit 1 (got $rc)" test "$rc" -eq 1
check "dependent of a failed caller is skipped" test "$(grep -c 'dependent ran' "$tmp/fail.out")" -eq 0
check "always() dependent sees needs.call.result failure" grep -q "report sees failure" "$tmp/fail.out"
json "$tmp/fail.json" '
assert by["call / bad"]["result"] == "failure", by["call / bad"]
assert by["call / good"]["result"] == "success"
assert by["call"]["result"] == "failure", by["call"]
assert by["dependent"]["result"] == "skipped", by["dependent"]
assert by["never"]["result"] == "skipped", by["never"]
assert not [j for j in jobs if j["id"].startswith("never/")], jobs
assert by["Named caller / bad"]["id"] == "named/bad", by["Named caller / bad"]
assert doc["ok"] is False
'
check "--json: the caller rolls up its called jobs' failure" test $? -eq 0

# ---- a matrix caller: fail-fast cancels the other legs' calls -----------------
mkdir -p "$tmp/ff/.github/workflows"
cat >"$tmp/ff/.github/workflows/main.yml" <<'YML'
on: push
jobs:
  m:
    strategy:
      matrix:
        n: [fast, slow]
    uses: ./.github/workflows/c.yml
    with:
      n: ${{ matrix.n }}
YML
cat >"$tmp/ff/.github/workflows/c.yml" <<'YML'
on:
  workflow_call:
    inputs:
      n: {type: string, required: true}
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: |
          if [ "${{ inputs.n }}" = fast ]; then exit 1; fi
          sleep 60
YML
start=$(date +%s)
"$GHRUN" replay -W "$tmp/ff/.github/workflows/main.yml" -C "$tmp/ff" --json "$tmp/ff.json" \
    >"$tmp/ff.out" 2>&1
rc=$?
took=$(($(date +%s) - start))
check "fail-fast matrix caller: exit 1 (got $rc)" test "$rc" -eq 1
# a leg that is not cancelled takes 60 s; a loaded machine may need a while for the rest
check "fail-fast cancels the other leg's called job (took ${took}s)" test "$took" -lt 45
json "$tmp/ff.json" '
assert by["m (fast) / j"]["result"] == "failure", by["m (fast) / j"]
assert by["m (slow) / j"]["result"] == "cancelled", by["m (slow) / j"]
'
check "--json: fast leg failed, slow leg cancelled" test $? -eq 0

# ---- a remote reusable workflow from a bare repository ------------------------
if command -v git >/dev/null; then
    src=$tmp/wfsrc
    mkdir -p "$src/.github/workflows"
    cat >"$src/.github/workflows/remote.yml" <<'YML'
on:
  workflow_call:
    inputs:
      who: {type: string, default: nobody}
    outputs:
      greeting:
        value: ${{ jobs.hello.outputs.g }}
jobs:
  hello:
    runs-on: ubuntu-latest
    outputs:
      g: ${{ steps.s.outputs.g }}
    steps:
      - id: s
        run: |
          echo "remote: hello ${{ inputs.who }}"
          echo "g=hi-${{ inputs.who }}" >> "$GITHUB_OUTPUT"
  local-in-remote:
    uses: ./.github/workflows/inner.yml
YML
    cat >"$src/.github/workflows/inner.yml" <<'YML'
on: workflow_call
jobs:
  inner:
    runs-on: ubuntu-latest
    steps:
      - run: echo "remote inner ran"
YML
    git -C "$src" init -q -b main && git -C "$src" add -A && git -C "$src" commit -qm v1 &&
        git -C "$src" tag v1
    mkdir -p "$tmp/remotes/acme"
    git clone -q --bare "$src" "$tmp/remotes/acme/wfs.git"
    mkdir -p "$tmp/rem/.github/workflows"
    cat >"$tmp/rem/.github/workflows/main.yml" <<'YML'
on: push
jobs:
  r:
    uses: acme/wfs/.github/workflows/remote.yml@v1
    with:
      who: world
  use:
    needs: r
    runs-on: ubuntu-latest
    steps:
      - run: echo "use got ${{ needs.r.outputs.greeting }}"
  missing:
    uses: acme/wfs/.github/workflows/remote.yml@nope
YML
    "$GHRUN" replay -W "$tmp/rem/.github/workflows/main.yml" -C "$tmp/rem" \
        --actions-url "file://$tmp/remotes" --json "$tmp/rem.json" >"$tmp/rem.out" 2>&1
    rc=$?
    check "remote: exit 1 for the unknown ref (got $rc)" test "$rc" -eq 1
    check "remote: the workflow ran with its input" grep -q "remote: hello world" "$tmp/rem.out"
    check "remote: its ./ call resolves in the remote repository" \
        grep -q "remote inner ran" "$tmp/rem.out"
    check "remote: outputs reach the downstream job" grep -q "use got hi-world" "$tmp/rem.out"
    check "remote: unknown ref names the workflow, the ref and the source" \
        grep -q "reusable workflow 'acme/wfs/.github/workflows/remote.yml@nope' (ref 'nope') was not found: tried clone of" "$tmp/rem.out"
    json "$tmp/rem.json" '
assert by["r / hello"]["result"] == "success"
assert by["r / local-in-remote / inner"]["result"] == "success"
assert by["missing"]["result"] == "failure", by["missing"]
assert by["use"]["result"] == "success"
'
    check "--json: remote call results" test $? -eq 0
    # a bad call of a remote workflow is found before anything runs
    cat >"$tmp/rem/.github/workflows/bad.yml" <<'YML'
on: push
jobs:
  first:
    runs-on: ubuntu-latest
    steps:
      - run: echo "first ran"
  badinput:
    needs: first
    uses: acme/wfs/.github/workflows/remote.yml@v1
    with:
      what: 1
YML
    "$GHRUN" replay -W "$tmp/rem/.github/workflows/bad.yml" -C "$tmp/rem" \
        --actions-url "file://$tmp/remotes" >"$tmp/rembad.out" 2>&1
    rc=$?
    check "remote: an unknown input is an error before anything runs (got $rc)" test "$rc" -eq 2
    check "remote: the error names the input" \
        grep -q "Invalid input, what is not defined in the referenced workflow" "$tmp/rembad.out"
    check "remote: the error points at the caller's uses:" grep -q "bad.yml:9:11:" "$tmp/rembad.out"
    check "remote: nothing ran" test "$(grep -c 'first ran' "$tmp/rembad.out")" -eq 0
else
    echo "SKIP: no git for the remote reusable workflow"
fi

# ---- bad calls: an error before anything runs ---------------------------------
bad=$tmp/bad
mkdir -p "$bad/.github/workflows"
cat >"$bad/.github/workflows/callee.yml" <<'YML'
on:
  workflow_call:
    inputs:
      need: {type: string, required: true}
      b: {type: boolean, default: false}
    secrets:
      s: {required: true}
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo "callee ran"
YML
cat >"$bad/.github/workflows/notcall.yml" <<'YML'
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
YML
cat >"$bad/.github/workflows/self.yml" <<'YML'
on: [push, workflow_call]
jobs:
  again:
    uses: ./.github/workflows/self.yml
YML
# badcase NAME JOBS-YAML EXPECTED-MESSAGE
badcase() {
    local f=$bad/.github/workflows/$1.yml
    printf 'on: push\njobs:\n  first:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "first ran"\n%s\n' "$2" >"$f"
    "$GHRUN" replay -W "$f" -C "$bad" >"$tmp/$1.out" 2>&1
    local rc=$?
    check "$1: exit 2 (got $rc)" test "$rc" -eq 2
    check "$1: says '$3'" grep -qF -- "$3" "$tmp/$1.out"
    check "$1: nothing ran" test "$(grep -c 'first ran\|callee ran' "$tmp/$1.out")" -eq 0
}
badcase missing-input '  c:
    uses: ./.github/workflows/callee.yml
    secrets: {s: x}' "Input need is required, but not provided while calling"
badcase unknown-input '  c:
    uses: ./.github/workflows/callee.yml
    with: {need: a, nope: 1}
    secrets: {s: x}' "Invalid input, nope is not defined in the referenced workflow"
badcase deferred-unknown '  c:
    needs: first
    strategy: {matrix: {x: [1]}}
    uses: ./.github/workflows/callee.yml
    with: {need: "${{ matrix.x }}", nope: "${{ needs.first.result }}"}
    secrets: {s: x}' "Invalid input, nope is not defined in the referenced workflow"
badcase deferred-missing '  c:
    strategy: {matrix: {x: [1]}}
    uses: ./.github/workflows/callee.yml
    with: {b: "${{ matrix.x == 1 }}"}
    secrets: {s: x}' "Input need is required, but not provided while calling"
badcase wrong-type '  c:
    uses: ./.github/workflows/callee.yml
    with: {need: a, b: "yes"}
    secrets: {s: x}' "Input 'b' expects a boolean, got 'yes'"
badcase missing-secret '  c:
    uses: ./.github/workflows/callee.yml
    with: {need: a}' "Secret s is required, but not provided while calling."
badcase unknown-secret '  c:
    uses: ./.github/workflows/callee.yml
    with: {need: a}
    secrets: {s: x, t: y}' "Invalid secret, t is not defined in the referenced workflow."
badcase not-callable '  c:
    uses: ./.github/workflows/notcall.yml' "workflow_call key is not defined in the referenced workflow."
badcase no-file '  c:
    uses: ./.github/workflows/nothere.yml' "cannot use './.github/workflows/nothere.yml'"
badcase recursion '  c:
    uses: ./.github/workflows/self.yml' "Nested reusable workflow depth exceeded 10."
check "missing input points at the caller's uses: (file:line:col)" \
    grep -q "missing-input.yml:8:11:" "$tmp/missing-input.out"
# secret names match ignoring case (workflow-parser converter/job/secrets.ts createTokenMap)
printf 'on: push\njobs:\n  c:\n    uses: ./.github/workflows/callee.yml\n    with: {need: a}\n    secrets: {S: x}\n' \
    >"$bad/.github/workflows/secret-case.yml"
"$GHRUN" replay -W "$bad/.github/workflows/secret-case.yml" -C "$bad" >"$tmp/secret-case.out" 2>&1
check "a secret named in another case is the declared one" test $? -eq 0
check "a secret named in another case: the callee ran" grep -q "callee ran" "$tmp/secret-case.out"

# ---- permissions and concurrency on a calling job --------------------------------
# The called workflow may keep or reduce the GITHUB_TOKEN permissions its caller grants, never
# raise them (docs.github.com "Reusing workflow configurations": supported keywords, notes on
# jobs.<job_id>.permissions; "Access and permissions for nested workflows"); GitHub's error:
# "Error calling workflow '...'. The nested job 'x' is requesting 'contents: write', but is only
# allowed 'contents: read'." Values are checked against workflow-v1.0.json (permissions-mapping).
pm=$tmp/perm
pw=$pm/.github/workflows
mkdir -p "$pw"
cat >"$pw/reads.yml" <<'YML'
on: workflow_call
jobs:
  j:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      pull-requests: read
    steps:
      - run: echo "reads ran"
YML
cat >"$pw/writes.yml" <<'YML'
on: workflow_call
jobs:
  fine:
    runs-on: ubuntu-latest
    steps:
      - run: echo "writes ran"
  w:
    runs-on: ubuntu-latest
    permissions:
      contents: write
    steps:
      - run: echo "writes ran"
YML
cat >"$pw/top-issues.yml" <<'YML'
on: workflow_call
permissions:
  issues: write
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: echo "top-issues ran"
YML
cat >"$pw/middle.yml" <<'YML'
on: workflow_call
jobs:
  down:
    uses: ./.github/workflows/writes.yml
YML
# pcase NAME RC WORKFLOW-YAML [EXPECTED-MESSAGE]
pcase() {
    local f=$pw/$1.yml
    printf '%s\n' "$3" >"$f"
    "$GHRUN" replay -W "$f" -C "$pm" >"$tmp/$1.out" 2>&1
    local rc=$?
    check "$1: exit $2 (got $rc)" test "$rc" -eq "$2"
    [ -n "${4:-}" ] && check "$1: says '$4'" grep -qF -- "$4" "$tmp/$1.out"
    [ "$2" -eq 2 ] && check "$1: nothing ran" test "$(grep -c ' ran$' "$tmp/$1.out")" -eq 0
}
pcase perm-keep 0 'on: push
jobs:
  c:
    uses: ./.github/workflows/reads.yml
    permissions:
      contents: write
      pull-requests: read'
check "perm-keep: the callee ran" grep -q "reads ran" "$tmp/perm-keep.out"
pcase perm-raise 2 'on: push
jobs:
  c:
    uses: ./.github/workflows/writes.yml
    permissions:
      contents: read' \
    "perm-raise.yml:4:11: Error calling workflow './.github/workflows/writes.yml'. The nested job 'w' is requesting 'contents: write', but is only allowed 'contents: read'."
pcase perm-workflow-level 2 'on: push
permissions: read-all
jobs:
  c:
    uses: ./.github/workflows/top-issues.yml' \
    "The workflow is requesting 'issues: write', but is only allowed 'issues: read'."
pcase perm-none 2 'on: push
jobs:
  c:
    uses: ./.github/workflows/reads.yml
    permissions: {}' \
    "The nested job 'j' is requesting 'contents: read', but is only allowed 'contents: none'."
pcase perm-nested 2 'on: push
jobs:
  c:
    uses: ./.github/workflows/middle.yml
    permissions:
      contents: read' \
    "perm-nested.yml:4:11: in the called workflow: $pw/middle.yml:4:11: Error calling workflow './.github/workflows/writes.yml'. The nested job 'w' is requesting 'contents: write', but is only allowed 'contents: read'."
pcase perm-unset 0 'on: push
jobs:
  c:
    uses: ./.github/workflows/writes.yml'
pcase perm-bad-level 2 'on: push
jobs:
  c:
    uses: ./.github/workflows/reads.yml
    permissions:
      contents: admin' "perm-bad-level.yml:6:17:"
pcase perm-bad-scope 2 'on: push
jobs:
  c:
    uses: ./.github/workflows/reads.yml
    permissions:
      everything: write' "perm-bad-scope.yml:6:7:"

# concurrency on calling jobs: the group (with matrix and needs) is evaluated as for any job,
# case-insensitively, and held while the called jobs run; members of one group run one at a time
cat >"$pw/slow.yml" <<'YML'
on:
  workflow_call:
    inputs:
      tag: {type: string, required: true}
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "start ${{ inputs.tag }}"
          sleep 1
          echo "end ${{ inputs.tag }}"
YML
cat >"$pw/conc.yml" <<'YML'
on: push
jobs:
  c1:
    uses: ./.github/workflows/slow.yml
    concurrency: shared-${{ github.event_name }}
    with: {tag: c1}
  c2:
    strategy:
      matrix:
        n: [a, b]
    uses: ./.github/workflows/slow.yml
    concurrency:
      group: SHARED-push
      cancel-in-progress: false
    with: {tag: "c2-${{ matrix.n }}"}
  plain:
    runs-on: ubuntu-latest
    concurrency: Shared-Push
    steps:
      - run: |
          echo "start plain"
          sleep 1
          echo "end plain"
YML
"$GHRUN" replay -W "$pw/conc.yml" -C "$pm" --jobs 8 >"$tmp/conc.out" 2>&1
check "concurrency: the run succeeds" test $? -eq 0
seq_lines=$(grep -o '| \(start\|end\) [a-z0-9-]*$' "$tmp/conc.out" | cut -c3- | tr '\n' ';')
check "concurrency: four members, one at a time ($seq_lines)" python3 -c "
import sys
s = [x.split() for x in sys.argv[1].split(';') if x]
ok = len(s) == 8 and all(s[i][0] == 'start' and s[i + 1] == ['end', s[i][1]] for i in range(0, 8, 2))
ok = ok and sorted(x[1] for x in s[::2]) == ['c1', 'c2-a', 'c2-b', 'plain']
sys.exit(0 if ok else 1)" "$seq_lines"

# ---- GitHub's limits: ten levels of workflows, 50 unique reusable workflows -----
# docs.github.com "Reusing workflow configurations" -> "Limitations of reusable workflows"
# (github.com since 2025): "You can connect up to ten levels of workflows" (the caller and
# nine nested calls) and "a maximum of 50 unique reusable workflows from a single workflow
# file", nested trees included.
lim=$tmp/lim
mkdir -p "$lim/.github/workflows"
lw=$lim/.github/workflows
for i in 1 2 3 4 5 6 7 8 9; do
    printf 'on: workflow_call\njobs:\n  down:\n    uses: ./.github/workflows/n%d.yml\n' \
        $((i + 1)) >"$lw/n$i.yml"
done
printf 'on: workflow_call\njobs:\n  leaf:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "leaf ran"\n' \
    >"$lw/n10.yml"
printf 'on: push\njobs:\n  top:\n    uses: ./.github/workflows/n2.yml\n' >"$lw/deep9.yml"
printf 'on: push\njobs:\n  top:\n    uses: ./.github/workflows/n1.yml\n' >"$lw/deep10.yml"
"$GHRUN" replay -W "$lw/deep9.yml" -C "$lim" >"$tmp/deep9.out" 2>&1
check "ten levels (caller + 9 nested) run" test $? -eq 0
check "ten levels: the innermost job ran" grep -q "leaf ran" "$tmp/deep9.out"
"$GHRUN" replay -W "$lw/deep10.yml" -C "$lim" >"$tmp/deep10.out" 2>&1
check "eleven levels: exit 2" test $? -eq 2
check "eleven levels: the error at the caller's uses: with the innermost position" grep -q \
    "deep10.yml:4:11: in the called workflow: .*n9.yml:4:11: Nested reusable workflow depth exceeded 10." \
    "$tmp/deep10.out"
check "eleven levels: nothing ran" test "$(grep -c 'leaf ran' "$tmp/deep10.out")" -eq 0

for i in $(seq 1 52); do
    printf 'on: workflow_call\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "u%d ran"\n' \
        "$i" >"$lw/u$i.yml"
done
# calls N WF...: a push workflow whose jobs call each WF (top jobs c1..)
calls() {
    local f=$lw/$1.yml k=0 w
    shift
    printf 'on: push\njobs:\n  first:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "first ran"\n' >"$f"
    for w in "$@"; do
        k=$((k + 1))
        printf '  c%d:\n    uses: ./.github/workflows/%s.yml\n' "$k" "$w" >>"$f"
    done
}
# 50 unique (u1 called twice, through a path spelled differently): fine
calls fifty $(seq -f 'u%g' 1 50) u1
sed -i '$ s|uses: ./.github/workflows/u1.yml|uses: ./.github/workflows/../workflows/u1.yml|' "$lw/fifty.yml"
"$GHRUN" replay -W "$lw/fifty.yml" -C "$lim" -l >"$tmp/fifty.out" 2>&1
check "50 unique reusable workflows are fine" test $? -eq 0
calls fiftyone $(seq -f 'u%g' 1 51)
"$GHRUN" replay -W "$lw/fiftyone.yml" -C "$lim" >"$tmp/fiftyone.out" 2>&1
check "51 unique: exit 2" test $? -eq 2
check "51 unique: error at the 51st call's uses: (file:line:col)" grep -q \
    "fiftyone.yml:108:11: too many reusable workflows: './.github/workflows/u51.yml' is number 51, but a workflow may call at most 50 unique reusable workflows" \
    "$tmp/fiftyone.out"
check "51 unique: nothing ran" test "$(grep -c 'first ran\| ran$' "$tmp/fiftyone.out")" -eq 0
# nested trees count: 49 direct + mid.yml + the two mid calls = 52
printf 'on: workflow_call\njobs:\n  a:\n    uses: ./.github/workflows/u51.yml\n  b:\n    uses: ./.github/workflows/u52.yml\n' \
    >"$lw/mid.yml"
calls nested $(seq -f 'u%g' 1 49) mid
"$GHRUN" replay -W "$lw/nested.yml" -C "$lim" >"$tmp/nested.out" 2>&1
check "nested trees count: exit 2" test $? -eq 2
check "nested trees count: error at the caller's uses: with the inner position" grep -q \
    "nested.yml:106:11: in the called workflow: .*mid.yml:4:11: too many reusable workflows: './.github/workflows/u51.yml' is number 51" \
    "$tmp/nested.out"

finish
