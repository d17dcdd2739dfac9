#!/usr/bin/env bash
# Local composite actions end to end: inputs (expression defaults), outputs
# through two levels, scoped step ids, the env chain, GITHUB_ENV from inside,
# github.action_path, working-directory, recursion and docker errors, a
# missing action, a bad runs.using, input warnings, timeout-minutes on the
# uses: step. Fixtures: actions/composite.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$here/actions/composite" "$tmp/ws"

# job ID: replay one job; sets rc and out
job() {
    out=$(cd "$tmp/ws" && timeout 120 "$GHRUN" replay push -W wf.yml -C . -j "$1" \
        --json "$tmp/$1.json" </dev/null 2>&1)
    rc=$?
}
want() {
    local desc=$1
    shift
    if "$@"; then ok; else bad "$desc"; echo "$out" | tail -20; fi
}

job ok
want "composite job succeeds" test "$rc" -eq 0
want "outputs, env and scoping checked" grep -q "all-checks-passed" <<<"$out"

job recursion
want "recursion fails" test "$rc" -eq 1
want "recursion error names the chain" grep -q \
    "composite action './act/self' is nested too deeply (at most 9 levels; it uses itself recursively): ./act/self -> ./act/self" \
    <<<"$out"

job docker
want "docker fails" test "$rc" -eq 1
want "docker:// error names the step" grep -q \
    "step 'Run docker://alpine:3': 'uses: docker://alpine:3' is a docker action" <<<"$out"
want "docker action error" grep -q "action './act/docker' is a docker action (runs.using: docker)" \
    <<<"$out"

job missing
want "missing action fails" test "$rc" -eq 1
want "missing action error" grep -q "cannot load action './act/nope': no action.yml or action.yaml in" \
    <<<"$out"

job badusing
want "bad runs.using fails" test "$rc" -eq 1
want "bad runs.using error with position" grep -q \
    "act/badusing/action.yml:3:10: unknown runs.using 'node10'" <<<"$out"

job warn
want "warnings do not fail" test "$rc" -eq 0
want "deprecated input warning" grep -q "Input 'old' has been deprecated with message: use new" \
    <<<"$out"
want "unexpected input warning" grep -q \
    "Unexpected input(s) 'bogus', valid inputs are \['old', 'new'\]" <<<"$out"
want "annotations in the JSON" python3 -c "
import json,sys
d=json.load(open('$tmp/warn.json'))
a=d['jobs'][0]['steps'][0]['annotations']
sys.exit(0 if len([x for x in a if x['level']=='warning'])==2 else 1)"

job timeout
want "timeout-minutes on the uses: step bounds its steps" test "$rc" -eq 1
want "timed out step named" grep -q "The action 'Run sleep 60' has timed out after" <<<"$out"
want "the job goes on after the timeout" grep -q "after-timeout" <<<"$out"

finish
