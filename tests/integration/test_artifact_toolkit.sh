#!/usr/bin/env bash
# The real @actions/artifact 2.x and @actions/cache 4.x from the npm registry, called from the
# steps of a replayed workflow against the services `ghrun replay` starts on loopback: several
# artifacts uploaded at once (one over 200 MB), listed, deleted, downloaded byte-exact in a
# later job (`needs`); a cache saved in one job and restored through a restore key in the next.
# Killing the runner mid-upload leaves no artifact, whole or partial, visible.
# Bad input from a step (traversal names, bad token, malformed or oversized Twirp bodies, forged
# upload URLs, wrong sizes) gets a 4xx and leaves nothing in the store.
# Skips (exit 0, with a reason) when node, npm or curl are missing or the install fails.
set -u
. "$(dirname "$0")/lib.sh"

skip() {
    echo "SKIP: $*"
    exit 0
}

command -v node >/dev/null || skip "node is not installed"
command -v npm >/dev/null || skip "npm is not installed"
command -v curl >/dev/null || skip "curl is not installed"
command -v git >/dev/null || skip "git is not installed"

# The toolkit packages under the build directory, kept so that later runs need no network.
modules=$GR_NPM_BASE/test-artifact-npm
npm_install "$modules" @actions/artifact@2 @actions/cache@4 ||
    skip "npm install @actions/artifact@2 @actions/cache@4 failed (see $modules.tmp/install.log)"
modules=$modules/node_modules

base=${GR_BUILD_DIR:-${TMPDIR:-/tmp}}
ws=$(mktemp -d "$base/artifact-ws.XXXXXX")
trap 'rm -rf "$ws"' EXIT
git -C "$ws" init -q .
cp "$GR_SOURCE_DIR/tests/integration/artifact/toolkit.js" "$ws/"
cp "$GR_SOURCE_DIR/tests/integration/artifact/bad_input.sh" "$ws/"
cat >"$ws/wf.yml" <<'YML'
on: push
jobs:
  up:
    runs-on: ubuntu-latest
    steps:
      - name: make files
        run: |
          mkdir -p data/tree/sub data/deps
          head -c 210000000 /dev/urandom > data/big.bin
          for i in 1 2 3; do head -c $((i * 100000)) /dev/urandom > data/small$i.bin; done
          echo one > data/tree/a.txt; echo two > data/tree/sub/b.txt; : > data/tree/empty.txt
          echo "dependency bytes $RANDOM" > data/deps/lib.txt
          cp -r data/deps deps
      - name: upload
        env:
          TK_LEVEL: "1"
        run: >
          node toolkit.js upload data big=big.bin s1=small1.bin s2=small2.bin
          s3=small3.bin tree=tree/a.txt,tree/sub/b.txt,tree/empty.txt doomed=small1.bin
      - run: node toolkit.js delete doomed
      - run: node toolkit.js list
      - run: node toolkit.js cache-save deps-linux-1 deps
      - name: bad input
        run: bash bad_input.sh
  down:
    needs: up
    runs-on: ubuntu-latest
    steps:
      - name: download
        run: |
          for a in big s1 s2 s3 tree; do node toolkit.js download $a "got/$a" || exit 1; done
          cmp got/big/big.bin data/big.bin && echo "same big"
          for i in 1 2 3; do cmp got/s$i/small$i.bin data/small$i.bin && echo "same small$i"; done
          diff -r got/tree/tree data/tree && echo "same tree"
          if node toolkit.js download doomed got/doomed; then echo "deleted artifact downloaded"; fi
      - name: cache restore
        run: |
          rm -rf deps
          node toolkit.js cache-restore deps-linux-2 deps-linux- deps
          diff -r deps data/deps && echo "same deps"
YML
git -C "$ws" add -A >/dev/null
git -C "$ws" -c user.email=t@example.com -c user.name=t commit -qm wf

out=$(cd "$ws" && GHRUN_CACHE_DIR="$ws/.cache-store" timeout 600 "$GHRUN" replay -W wf.yml \
    --env NODE_PATH="$modules" 2>&1)
rc=$?
check "replay exits 0 (got $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || echo "$out" | tail -40
for a in big s1 s2 s3 tree doomed; do
    check "uploaded $a" grep -q "uploaded $a id=" <<<"$out"
done
check "deleted doomed" grep -q "deleted doomed id=" <<<"$out"
check "listed 5 artifacts" grep -q "Found 5 artifact(s)" <<<"$out"
check "big is over 200 MB" grep -qE "artifact big 2[0-9]{8} sha256:[0-9a-f]{64}" <<<"$out"
check "cache saved" grep -q "saved deps-linux-1 as" <<<"$out"
for f in big small1 small2 small3 tree deps; do
    check "$f byte-exact" grep -q "same $f" <<<"$out"
done
check "a deleted artifact is not downloadable" bash -c '! grep -q "deleted artifact downloaded" <<<"$1"' _ "$out"
check "restore key matched" grep -q "restored deps-linux-1" <<<"$out"
for c in "traversal 400" "absolute 400" "backslash 400" "dotdot 400" "badtoken 401" \
    "notoken 401" "malformed 400" "notobject 400" "oversized 413" "forged 403" \
    "expired 403" "wrongsize 400" "unknownblock 400" "wrongrun 404" "unknownmethod 404" \
    "missing 404" "dlforged 403" "created 200" "duplicate 409"; do
    check "bad input: $c" grep -q "| $c\$" <<<"$out"
done

# The end-of-run listing and the store: exactly the five finalized artifacts, no leftovers.
check "listing at the end" grep -qE "^  big +2[0-9]{8} bytes" <<<"$out"
store=$(ls -d "$ws"/.ghrun/artifacts/*/ 2>/dev/null | head -1)
check "store exists" test -n "$store"
zips=$(cd "$store" && ls *.zip 2>/dev/null | sort | tr '\n' ' ')
check "store holds the five zips (got '$zips')" test "$zips" = "big.zip s1.zip s2.zip s3.zip tree.zip "
check "no temp files left" test -z "$(ls -A "$store/.tmp" 2>/dev/null)"
check "no stray metadata" test "$(ls "$store/.meta" | wc -l)" -eq 5

# --artifact-dir puts the store elsewhere; a run without artifacts leaves no store behind.
cat >"$ws/wf2.yml" <<'YML'
on: push
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: node toolkit.js upload data s1=small1.bin
YML
out=$(cd "$ws" && GHRUN_CACHE_DIR="$ws/.cache-store" "$GHRUN" replay -W wf2.yml \
    --artifact-dir "$ws/elsewhere" --env NODE_PATH="$modules" 2>&1)
check "--artifact-dir: stored there" test -f "$ws/elsewhere/s1.zip"
cat >"$ws/wf3.yml" <<'YML'
on: push
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: echo nothing
YML
rm -rf "$ws/.ghrun"
out=$(cd "$ws" && GHRUN_CACHE_DIR="$ws/.cache-store" "$GHRUN" replay -W wf3.yml 2>&1)
check "no artifacts: no store left in the workspace" test ! -e "$ws/.ghrun"

# Crash safety: kill -9 the runner (and its steps) in the middle of a 210 MB upload; the store
# then holds no artifact, whole or partial, only an orphaned temp file.
cat >"$ws/wf4.yml" <<'YML'
on: push
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: node toolkit.js upload data big=big.bin
YML
rm -rf "$ws/.ghrun"
(cd "$ws" && exec setsid env GHRUN_CACHE_DIR="$ws/.cache-store" TK_LEVEL=0 \
    ACTIONS_ARTIFACT_UPLOAD_CONCURRENCY=1 "$GHRUN" replay -W wf4.yml \
    --env NODE_PATH="$modules" >"$ws/crash.out" 2>&1) &
pid=$!
# The terminal output is buffered: watch the staging file in the store instead.
staging() { find "$ws"/.ghrun/artifacts/*/.tmp -type f -size +1M 2>/dev/null | head -1; }
for _ in $(seq 1 600); do
    [ -n "$(staging)" ] && break
    sleep 0.1
done
check "the upload was under way" test -n "$(staging)"
kill -KILL -- "-$pid" 2>/dev/null
wait "$pid" 2>/dev/null
store=$(ls -d "$ws"/.ghrun/artifacts/*/ 2>/dev/null | head -1)
check "killed mid-upload: no zip" test -z "$(ls "$store" 2>/dev/null | grep '\.zip$')"
check "killed mid-upload: no metadata" test -z "$(ls -A "$store/.meta" 2>/dev/null)"
# The killed runner's staging file is abandoned (its writer is gone): prune removes it.
check "killed mid-upload: staging file left" test -n "$(ls -A "$store/.tmp" 2>/dev/null)"
out=$("$GHRUN" cache --dir "$ws/.cache-store" prune --artifact-dir "$ws/.ghrun/artifacts" 2>&1)
check "prune reports the abandoned upload" grep -q "[1-9][0-9]* abandoned temp file" <<<"$out"
check "prune removed the staging file" test -z "$(ls -A "$store/.tmp" 2>/dev/null)"
finish
