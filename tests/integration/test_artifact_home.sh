#!/usr/bin/env bash
# `~` in the native actions/upload-artifact and actions/download-artifact paths is the HOME the
# steps see: in a sandboxed job its private HOME (what a step wrote under ~ is uploaded; a
# download into ~ lands where the next step finds it, and belongs to the steps' user), with
# --sandbox off the runner's. The runner's own HOME is never read or written in the sandbox.
set -u
. "$(dirname "$0")/lib.sh"

command -v git >/dev/null || {
    echo "SKIP: git is not installed"
    exit 0
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ghrun-arthome.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp/home GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME" "$tmp/ws"
git -C "$tmp/ws" init -q .
cat >"$tmp/ws/wf.yml" <<'YML'
on: push
jobs:
  up:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p ~/outdir/sub && echo "made in $RUN_KIND" >~/outdir/sub/a.txt
      - uses: actions/upload-artifact@v4
        with:
          name: home
          path: ~/outdir
  down:
    runs-on: ubuntu-latest
    needs: up
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: home
          path: ~/got
      - run: |
          echo "got=$(cat ~/got/sub/a.txt)"
          test "$(stat -c %u ~/got/sub/a.txt)" = "$(id -u)" && echo owner-is-me
          echo more >>~/got/sub/a.txt && echo writable
YML

run() {
    out=$(cd "$tmp/ws" && timeout 120 "$GHRUN" replay push -W wf.yml "$@" </dev/null 2>&1)
    rc=$?
}
want() {
    local desc=$1
    shift
    if "$@"; then ok; else
        bad "$desc"
        echo "$out" | tail -25
    fi
}
has() { grep -qF -- "$1" <<<"$out"; }

run --env RUN_KIND=sandbox --artifact-dir "$tmp/art1"
want "sandboxed: both jobs succeed" test "$rc" -eq 0
want "sandboxed: the step's ~ is uploaded and downloaded into ~" has "got=made in sandbox"
want "sandboxed: the download belongs to the steps' user" has "owner-is-me"
want "sandboxed: ... who can write it" has "writable"
want "sandboxed: the runner's HOME is untouched" test ! -e "$HOME/outdir" -a ! -e "$HOME/got"

run --sandbox off --env RUN_KIND=host --artifact-dir "$tmp/art2"
want "--sandbox off: both jobs succeed" test "$rc" -eq 0
want "--sandbox off: ~ is the runner's HOME" has "got=made in host"
want "--sandbox off: the upload came from there" test -f "$HOME/outdir/sub/a.txt"
want "--sandbox off: the download went there" test -f "$HOME/got/sub/a.txt"

finish
