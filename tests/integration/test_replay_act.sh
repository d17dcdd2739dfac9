#!/usr/bin/env bash
# Conformance: nektos/act's offline test cases (shared corpus act-testdata) replayed by
# ghrun on the host. Which cases run and which are skipped (with reasons) is in
# act_cases.py next to this file.
set -u
: "${GHRUN:?GHRUN must point at the ghrun binary}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export GR_SHARED_DIR=${GR_SHARED_DIR:-$here/../../../shared}
if [ ! -f "$GR_SHARED_DIR/corpus/act-testdata/CASES.tsv" ]; then
    echo "SKIP: no act-testdata corpus under GR_SHARED_DIR=$GR_SHARED_DIR"
    exit 0
fi
exec python3 "$here/act_cases.py" "$@"
