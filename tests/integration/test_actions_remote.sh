#!/usr/bin/env bash
# Remote actions (owner/repo[/path]@ref) end to end without a network: a local
# bare repository with a tag, a branch and a commit, reached through
# --actions-url as a path and as file://; an action in a subdirectory; the
# per-commit cache under the state dir (a full SHA is served from it after
# the remote is gone); --action-dir tried first; a missing action names every
# source tried.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

if ! command -v git >/dev/null; then
    echo "SKIP: no git to build the test repository"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.com GIT_CONFIG_NOSYSTEM=1 HOME=$tmp

# ---- the remote: acme/tools with v1 (tag), main (branch), an older commit ---
src=$tmp/src
mkdir -p "$src/sub/dir"
composite() { # composite NAME: an action.yml printing NAME and the action env
    cat <<YML
inputs:
  x:
    default: dx
runs:
  using: composite
  steps:
    - run: echo "$1 x=\${{ inputs.x }} repo=\$GITHUB_ACTION_REPOSITORY ref=\$GITHUB_ACTION_REF"
      shell: bash
YML
}
composite "root-old" >"$src/action.yml"
git -C "$src" init -q -b main
git -C "$src" add -A
git -C "$src" commit -qm old
old_sha=$(git -C "$src" rev-parse HEAD)
composite "root-v1" >"$src/action.yml"
composite "sub-main" >"$src/sub/dir/action.yml"
git -C "$src" add -A
git -C "$src" commit -qm v1
git -C "$src" tag v1
mkdir -p "$tmp/remotes/acme"
git clone -q --bare "$src" "$tmp/remotes/acme/tools.git"

ws=$tmp/ws
mkdir -p "$ws"
cat >"$ws/wf.yml" <<YML
on: push
jobs:
  tag:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/tools@v1
        with:
          x: given
  branch:
    needs: tag
    runs-on: ubuntu-latest
    steps:
      - uses: acme/tools/sub/dir@main
  sha:
    needs: branch
    runs-on: ubuntu-latest
    steps:
      - uses: acme/tools@$old_sha
  cached:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/tools@$old_sha
  missing:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/tools@nope
  norepo:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/other@v2
YML

run() {
    out=$(cd "$ws" && timeout 120 "$GHRUN" replay push -W wf.yml -C . "$@" </dev/null 2>&1)
    rc=$?
}
want() {
    local desc=$1
    shift
    if "$@"; then ok; else bad "$desc"; echo "$out" | tail -20; fi
}

run -j sha --actions-url "$tmp/remotes"
want "tag, branch and sha jobs succeed" test "$rc" -eq 0
want "tag resolved" grep -q "root-v1 x=given repo=acme/tools ref=v1" <<<"$out"
want "branch and subdirectory" grep -q "sub-main x=dx repo=acme/tools ref=main" <<<"$out"
want "commit sha" grep -q "root-old x=dx repo=acme/tools ref=$old_sha" <<<"$out"
want "cache per commit" test -f "$ws/.ghrun/_actions/acme/tools/$old_sha/action.yml"

run -j tag --actions-url "file://$tmp/remotes"
want "file:// URL" grep -q "root-v1 x=given" <<<"$out"

mv "$tmp/remotes" "$tmp/gone"
run -j cached --actions-url "$tmp/remotes"
want "a cached full SHA needs no remote" grep -q "root-old x=dx" <<<"$out"

mkdir -p "$tmp/adir/acme/tools/v1"
composite "from-action-dir" >"$tmp/adir/acme/tools/v1/action.yml"
run -j tag --action-dir "$tmp/adir" --actions-url "$tmp/remotes"
want "--action-dir first" grep -q "from-action-dir x=given" <<<"$out"

mv "$tmp/gone" "$tmp/remotes"
run -j missing --action-dir "$tmp/adir" --actions-url "$tmp/remotes"
want "missing ref fails" test "$rc" -eq 1
want "missing ref names the sources" grep -q \
    "action 'acme/tools@nope' (ref 'nope') was not found: tried --action-dir '$tmp/adir/acme/tools/nope' (no such directory); clone of '$tmp/remotes/acme/tools.git' (no tag, branch or commit 'nope')" \
    <<<"$out"
run -j norepo --actions-url "$tmp/remotes"
want "missing repository fails" test "$rc" -eq 1
want "missing repository names the clone" grep -q \
    "action 'acme/other@v2' (ref 'v2') was not found: tried clone of '$tmp/remotes/acme/other.git'" \
    <<<"$out"
# GHRUN_ACTION_SOURCES orders the sources in replay too
GHRUN_ACTION_SOURCES=clone,dir run -j missing --action-dir "$tmp/adir" --actions-url "$tmp/remotes"
want "GHRUN_ACTION_SOURCES: clone tried first" grep -q \
    "(ref 'nope') was not found: tried clone of '$tmp/remotes/acme/tools.git' (no tag, branch or commit 'nope'); --action-dir '$tmp/adir/acme/tools/nope'" \
    <<<"$out"
GHRUN_ACTION_SOURCES=bogus run -j missing --action-dir "$tmp/adir"
want "GHRUN_ACTION_SOURCES: an unknown source is named" grep -q \
    "unknown action source 'bogus' (known: dir, download, clone)" <<<"$out"

finish
