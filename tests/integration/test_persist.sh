#!/usr/bin/env bash
# Persisted dependency directories (ghrun replay --persist, GHRUN_PERSIST; ex/persist.h): what
# a job writes into ~/.cache/pip and ~/.npm is there in the next job of the same repository
# (sandboxed: its private HOME, the files owned by the slot uid when root; --sandbox off: the
# runner's HOME), not in another repository's; an unchanged directory is not saved again, a
# changed one replaces the older entry; entries are scoped by ref (a branch starts from the
# default branch's, which never sees the branch's); a corrupt entry is a warning and an empty
# directory; a timed-out or cancelled job saves nothing; bad directories are usage errors.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

command -v git >/dev/null || {
    echo "SKIP: git is not installed"
    exit 0
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ghrun-persist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.com GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export HOME=$tmp/home GHRUN_CACHE_DIR=$tmp/store
unset GHRUN_PERSIST
mkdir -p "$HOME"

# A repository whose job shows what it finds in ~/.cache/pip and ~/.npm, then writes $WRITE
# into them when set.
make_repo() {
    git init -q -b main "$1"
    cat >"$1/wf.yml" <<'EOF'
on: push
jobs:
  deps:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "pip=$(cat ~/.cache/pip/p.txt 2>/dev/null || echo none) npm=$(cat ~/.npm/n.txt 2>/dev/null || echo none)"
          if [ -f ~/.cache/pip/p.txt ]; then
            test "$(stat -c %u ~/.cache/pip/p.txt)" = "$(id -u)" && echo "owner-is-me"
          fi
          if [ -n "${WRITE:-}" ]; then
            mkdir -p ~/.cache/pip/wheels ~/.npm && echo "pip $WRITE" >~/.cache/pip/p.txt &&
              echo "npm $WRITE" >~/.npm/n.txt && echo "$WRITE" >~/.cache/pip/wheels/w.txt &&
              echo wrote
          fi
  slow:
    runs-on: ubuntu-latest
    timeout-minutes: 0.05
    steps:
      - run: mkdir -p ~/.npm && echo slow >~/.npm/n.txt && sleep 30
  hang:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p ~/.npm && echo hang >~/.npm/n.txt && touch started && sleep 30
EOF
    git -C "$1" add wf.yml && git -C "$1" commit -qm wf
}
make_repo "$tmp/app"
make_repo "$tmp/other"

# run DIR [ARGS...]: replay the deps job of DIR; sets out and rc.
run() {
    local dir=$1
    shift
    out=$(cd "$dir" && timeout 120 "$GHRUN" replay push -W wf.yml -j deps "$@" </dev/null 2>&1)
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
hasnt() { ! grep -qF -- "$1" <<<"$out"; }
entries() { "$GHRUN" cache --dir "$GHRUN_CACHE_DIR" list 2>/dev/null | grep -c "ghrun-persist:$1:"; }

P=(--persist '~/.cache/pip' --persist '~/.npm')

# ---- sandboxed (the default) ----------------------------------------------
run "$tmp/app" "${P[@]}" --env WRITE=one
want "job 1 succeeds" test "$rc" -eq 0
want "job 1 starts empty" has "pip=none npm=none"
want "job 1 says nothing was saved yet" has "persist: ~/.cache/pip: nothing saved yet"
want "job 1 writes" has "wrote"
want "job 1 saves ~/.cache/pip" has "persist: saved ~/.cache/pip (2 files, "
want "job 1 saves ~/.npm" has "persist: saved ~/.npm (1 file, "
want "the runner's HOME is untouched" test ! -e "$HOME/.cache/pip"
want "one entry per directory" test "$(entries '~/.cache/pip')" -eq 1

run "$tmp/app" --persist '~/.cache/pip,~/.npm'
want "job 2 succeeds" test "$rc" -eq 0
want "job 2 sees job 1's files" has "pip=pip one npm=npm one"
want "job 2 logs the restore" has "persist: restored ~/.cache/pip (2 files, "
if [ "$(id -u)" = 0 ]; then
    want "restored files belong to the job's user" has "owner-is-me"
fi
want "unchanged directories are not saved again" has "persist: ~/.npm unchanged (1 file, "
want "... nor ~/.cache/pip" has "persist: ~/.cache/pip unchanged"
want "... so there is still one entry" test "$(entries '~/.cache/pip')" -eq 1

run "$tmp/other" "${P[@]}"
want "another repository does not see them" has "pip=none npm=none"
want "... and is told so" has "persist: ~/.npm: nothing saved yet for local/other"

# GHRUN_PERSIST instead of the option; a change replaces the older entry
out=$(cd "$tmp/app" && GHRUN_PERSIST='~/.npm, ~/.cache/pip' timeout 120 "$GHRUN" replay push \
    -W wf.yml -j deps --env WRITE=two </dev/null 2>&1)
want "GHRUN_PERSIST restores" has "pip=pip one npm=npm one"
want "a changed directory is saved" has "persist: saved ~/.npm (1 file, 8 B) as ghrun-persist:~/.npm:"
want "... replacing the older entry" has "older entry removed"
want "... which is gone from the store" test "$(entries '~/.npm')" -eq 1
run "$tmp/app"
want "without --persist nothing is restored" has "pip=none npm=none"
want "... nor logged" hasnt "persist:"
run "$tmp/app" "${P[@]}"
want "the newest save wins" has "pip=pip two npm=npm two"

# a job that times out saves nothing
out=$(cd "$tmp/app" && timeout 120 "$GHRUN" replay push -W wf.yml -j slow "${P[@]}" </dev/null 2>&1)
want "a timed-out job saves nothing" has "persist: the job timed out: nothing saved"
run "$tmp/app" "${P[@]}"
want "... so the last good save stays" has "npm=npm two"

# a cancelled job (SIGINT) saves nothing either
(cd "$tmp/app" && exec timeout 120 "$GHRUN" replay push -W wf.yml -j hang "${P[@]}" \
    </dev/null >"$tmp/cancel.out" 2>&1) &
pid=$!
for _ in $(seq 1 600); do
    [ -e "$tmp/app/started" ] && break
    sleep 0.1
done
kill -INT "$pid"
wait "$pid"
rm -f "$tmp/app/started"
out=$(cat "$tmp/cancel.out")
want "a cancelled job saves nothing" has "persist: the job was cancelled: nothing saved"
run "$tmp/app" "${P[@]}"
want "... so the last good save stays" has "npm=npm two"

# refs scope the entries as GitHub scopes caches: a branch starts from the default branch's
# entries and saves its own, which the default branch never sees
git -C "$tmp/app" checkout -q -b feature
run "$tmp/app" "${P[@]}" --env WRITE=feat
want "a new branch starts from the default branch's entries" has "pip=pip two npm=npm two"
want "... and saves its own" has "persist: saved ~/.npm (1 file, 9 B) as ghrun-persist:~/.npm:refs/heads/feature:"
want "... next to the default branch's" test "$(entries '~/.npm')" -eq 2
run "$tmp/app" "${P[@]}"
want "the branch gets its own next time" has "npm=npm feat"
git -C "$tmp/app" checkout -q main
run "$tmp/app" "${P[@]}"
want "the default branch never sees a branch's entries" has "npm=npm two"

# a corrupt entry: a warning, an empty directory, the job goes on
for b in "$GHRUN_CACHE_DIR"/blobs/*; do printf 'garbage' >"$b"; done
run "$tmp/app" "${P[@]}"
want "a corrupt entry does not fail the job" test "$rc" -eq 0
want "... it is a warning" has "persist: cannot restore ~/.cache/pip, it starts empty"
want "... and the directory is empty" has "pip=none npm=none"
want "... and the entry is gone" test "$(entries '~/.cache/pip:refs/heads/main')" -eq 0

# ---- --sandbox off: the runner's HOME -------------------------------------
rm -rf "$GHRUN_CACHE_DIR"
HOME=$tmp/home1
mkdir -p "$HOME"
run "$tmp/app" "${P[@]}" --sandbox off --env WRITE=three
want "--sandbox off: job 1 writes into the runner's HOME" test -f "$tmp/home1/.npm/n.txt"
want "--sandbox off: job 1 saves" has "persist: saved ~/.npm"
HOME=$tmp/home2
mkdir -p "$HOME"
run "$tmp/app" "${P[@]}" --sandbox off
want "--sandbox off: job 2 (another HOME) sees the files" has "pip=pip three npm=npm three"
want "--sandbox off: restored into the runner's HOME" test -f "$tmp/home2/.cache/pip/wheels/w.txt"
echo "mine" >"$HOME/.npm/n.txt"
run "$tmp/app" "${P[@]}" --sandbox off
want "a directory that is there already is kept" has "persist: ~/.npm exists already"
want "... as it is" has "npm=mine"
want "... and not saved while the job does not change it" has "persist: ~/.npm unchanged"
run "$tmp/app" "${P[@]}" --sandbox off --env WRITE=four
want "... and saved when the job changes it" has "persist: saved ~/.npm"
HOME=$tmp/home

# ---- bad directories ------------------------------------------------------
out=$(cd "$tmp/app" && "$GHRUN" replay push -W wf.yml -j deps --persist /etc 2>&1)
rc=$?
want "an absolute directory is a usage error" test "$rc" -eq 2
want "... that says why" has "a path in the home directory"
out=$(cd "$tmp/app" && "$GHRUN" replay push -W wf.yml -j deps --persist '~/a/../b' 2>&1)
want "'..' is refused" has "'.' and '..' are not allowed"
out=$(cd "$tmp/app" && GHRUN_PERSIST='~' "$GHRUN" replay push -W wf.yml -j deps 2>&1)
rc=$?
want "GHRUN_PERSIST is checked too" test "$rc" -eq 2
want "... the whole home is refused" has "GHRUN_PERSIST: '~': a persisted directory"
out=$("$GHRUN" replay --help 2>&1)
want "--persist is in the help" has "--persist DIR"

finish
