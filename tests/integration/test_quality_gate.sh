#!/usr/bin/env bash
# The README's main job: replay the team's quality gate on the example
# project (all green), and on its failing variant (red, with annotations).
# The gate is a reusable workflow (workflows/_template.yml) called by
# workflows/quality-gate.yml, so its jobs are named "gate / Lint" etc.
set -u
. "$(dirname "$0")/lib.sh"

for tool in black mypy pytest python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "skipped: '$tool' is not installed (scripts/setup.sh installs it)"
        exit 0
    fi
done

wf=$GR_SOURCE_DIR/workflows/quality-gate.yml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Green: every job succeeds, the coverage figure reaches the summary.
cp -r "$GR_SOURCE_DIR/examples/quality-gate" "$tmp/good"
"$GHRUN" replay -W "$wf" -C "$tmp/good" --json "$tmp/good.json" >"$tmp/good.out" 2>&1
rc=$?
check "green gate exits 0 (got $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || sed 's/^/  | /' "$tmp/good.out" | tail -40
check "green gate ran pytest" grep -q "passed" "$tmp/good.out"
check "green gate prints the coverage summary" grep -qi "line coverage" "$tmp/good.out"
check "green gate names the called jobs 'gate / Lint'" grep -q "^\[gate / Lint\]" "$tmp/good.out"
check "green gate checks the python-version input" grep -q "the gate needs 3.9 or newer" "$tmp/good.out"
python3 - "$tmp/good.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
jobs = {j["id"]: j for j in res["jobs"]}
want = {"gate/" + j for j in ("lint", "format", "typecheck", "test", "import-health", "report")}
assert want <= set(jobs), f"jobs {sorted(jobs)}"
for jid in want:
    assert jobs[jid]["result"] == "success", (jid, jobs[jid]["result"])
    assert jobs[jid]["steps"], jid
assert jobs["gate/lint"]["name"] == "gate / Lint", jobs["gate/lint"]["name"]
cov = float(jobs["gate/test"]["outputs"]["coverage"])
assert cov >= 80, cov
# the calling job: the template's on.workflow_call.outputs reach it
assert jobs["gate"]["result"] == "success", jobs["gate"]
assert float(jobs["gate"]["outputs"]["coverage"]) == cov, jobs["gate"]
PY
check "green gate --json has every job green with coverage output" test $? -eq 0

# Red: lint, format and types fail with annotations; the report job still runs and fails.
cp -r "$GR_SOURCE_DIR/examples/quality-gate-failing" "$tmp/bad"
"$GHRUN" replay -W "$wf" -C "$tmp/bad" --json "$tmp/bad.json" >"$tmp/bad.out" 2>&1
rc=$?
check "red gate exits 1 (got $rc)" test "$rc" -eq 1
check "red gate shows the unused import" grep -q "F401" "$tmp/bad.out"
python3 - "$tmp/bad.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
jobs = {j["id"]: j for j in res["jobs"]}
for jid in ("lint", "format", "typecheck"):
    assert jobs["gate/" + jid]["result"] == "failure", (jid, jobs["gate/" + jid]["result"])
assert jobs["gate/test"]["result"] == "success"
assert jobs["gate/report"]["result"] == "failure"
assert jobs["gate"]["result"] == "failure", jobs["gate"]["result"]
anns = [a for j in res["jobs"] for a in j.get("annotations", [])]
anns += [a for j in res["jobs"] for s in j["steps"] for a in s.get("annotations", [])]
lint = [a for a in anns if a.get("file", "").endswith("core.py") and a.get("line") == 5]
assert lint and lint[0]["level"] == "error", anns
assert any(a.get("title") == "mypy" for a in anns), anns
PY
check "red gate --json has the failures and the annotations" test $? -eq 0

finish
