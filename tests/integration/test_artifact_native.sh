#!/usr/bin/env bash
# Native actions/upload-artifact@v4 and actions/download-artifact@v4 (no Node.js) in replay:
# globs with `!` exclusions and hidden files, the root as the action computes it (one search
# path, a single file, the least common ancestor of several), if-no-files-found, overwrite,
# compression-level, outputs; download by name, by pattern, merge-multiple; a zip whose members
# leave the target directory is refused. With node and the npm toolkit (else those checks are
# skipped): native upload -> @actions/artifact download, and the reverse.
set -u
. "$(dirname "$0")/lib.sh"

command -v git >/dev/null || { echo "SKIP: git is not installed"; exit 0; }
base=${GR_BUILD_DIR:-${TMPDIR:-/tmp}}
ws=$(mktemp -d "$base/artifact-native.XXXXXX")
trap 'rm -rf "$ws"' EXIT
git -C "$ws" init -q .
cp "$GR_SOURCE_DIR"/tests/integration/artifact/{toolkit.js,put_zip.sh,evil_zip.py} "$ws/"

cat >"$ws/wf.yml" <<'YML'
on: push
jobs:
  up:
    runs-on: ubuntu-latest
    steps:
      - run: |
          mkdir -p out/a/sub out/b
          echo 1 > out/a/one.txt; echo 2 > out/a/sub/two.txt; echo 3 > out/b/three.log
          echo h > out/a/.secret; echo x > single.txt
      - id: tree
        uses: actions/upload-artifact@v4
        with:
          name: tree
          path: |
            out/
            !out/**/*.log
          retention-days: 5
      - id: single
        uses: actions/upload-artifact@v4
        with:
          name: single
          path: single.txt
          compression-level: 0
      - uses: actions/upload-artifact@v4
        with:
          name: multi
          path: |
            out/a/sub
            out/b
      - uses: actions/upload-artifact@v4
        with:
          name: hidden
          path: out/a
          include-hidden-files: true
      - uses: actions/upload-artifact@v4
        with:
          name: none
          path: nothing-here/*
      - run: |
          echo "tree-id=${{ steps.tree.outputs.artifact-id }}"
          echo "tree-url=${{ steps.tree.outputs.artifact-url }}"
          echo "single-digest=${{ steps.single.outputs.artifact-digest }}"
      - id: again
        continue-on-error: true
        uses: actions/upload-artifact@v4
        with:
          name: single
          path: out/b
      - uses: actions/upload-artifact@v4
        with:
          name: single
          path: out/b
          overwrite: true
      - id: err
        continue-on-error: true
        uses: actions/upload-artifact@v4
        with:
          name: none2
          path: nothing-here
          if-no-files-found: error
      - run: echo "outcomes ${{ steps.again.outcome }} ${{ steps.err.outcome }}"
      - run: python3 evil_zip.py evil.zip && bash put_zip.sh evil evil.zip
  down:
    needs: up
    runs-on: ubuntu-latest
    steps:
      - id: one
        uses: actions/download-artifact@v4
        with:
          name: tree
          path: got/tree
      - run: |
          echo "download-path=${{ steps.one.outputs.download-path }}"
          (cd got && find . -type f | sort | tr '\n' ' '); echo
      - uses: actions/download-artifact@v4
        with:
          pattern: "[mh]*"
          path: all
      - run: (cd all && find . -type f | sort | tr '\n' ' '); echo
      - uses: actions/download-artifact@v4
        with:
          pattern: "[ms]*"
          path: merged
          merge-multiple: true
      - run: (cd merged && find . -type f | sort | tr '\n' ' '); echo
      - id: evil
        continue-on-error: true
        uses: actions/download-artifact@v4
        with:
          name: evil
          path: evil
      - id: missing
        continue-on-error: true
        uses: actions/download-artifact@v4
        with:
          name: missing
      - run: |
          echo "evil ${{ steps.evil.outcome }} missing ${{ steps.missing.outcome }}"
          test -e escaped.txt && echo "ESCAPED" || true
YML
git -C "$ws" add -A >/dev/null
git -C "$ws" -c user.email=t@example.com -c user.name=t commit -qm wf
out=$(cd "$ws" && GHRUN_CACHE_DIR="$ws/.cache-store" timeout 300 "$GHRUN" replay -W wf.yml 2>&1)
rc=$?
check "replay exits 0 (got $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || echo "$out" | tail -30
has() { check "$1" grep -qF -- "$2" <<<"$out"; }
has "tree: 2 files (exclusion, no hidden)" "Artifact tree has been successfully uploaded"
has "tree id output" "| tree-id=1"
has "artifact-url output" "/actions/runs/"
check "digest output" grep -qE "\| single-digest=[0-9a-f]{64}$" <<<"$out"
has "several search paths: least common ancestor" "The least common ancestor"
has "no files: a warning" "warning: No files were found with the provided path: nothing-here/*"
has "same name twice fails" "an artifact with this name already exists"
has "if-no-files-found: error fails" "error: No files were found with the provided path: nothing-here"
has "outcomes" "| outcomes failure failure"
has "by name, into path" "| ./tree/a/one.txt ./tree/a/sub/two.txt "
has "download-path output" "download-path=$ws/got/tree"
has "by pattern, one folder each" "| ./hidden/.secret ./hidden/one.txt ./hidden/sub/two.txt ./multi/a/sub/two.txt ./multi/b/three.log "
has "merge-multiple, overwritten single" "| ./a/sub/two.txt ./b/three.log ./three.log "
has "traversal member refused" "refusing the archive member '../escaped.txt'"
has "missing artifact" "Artifact not found for name: missing"
has "failed downloads" "| evil failure missing failure"
check "nothing escaped" bash -c '! grep -q ESCAPED <<<"$1" && test ! -e "$2/escaped.txt"' _ "$out" "$ws"
check "the store holds the zips" test -f "$ws/.ghrun/artifacts/$(ls "$ws/.ghrun/artifacts")/tree.zip"
check "native zips are real zips" python3 -c 'import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert sorted(z.namelist())==["a/one.txt","a/sub/two.txt"], z.namelist()' "$ws"/.ghrun/artifacts/*/tree.zip

# Cross-compatibility with the real @actions/artifact, when it can be installed.
modules=$GR_NPM_BASE/test-artifact-npm
if command -v node >/dev/null && npm_install "$modules" @actions/artifact@2 @actions/cache@4; then
    cat >"$ws/wf2.yml" <<'YML'
on: push
jobs:
  up:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p x/d && head -c 3000000 /dev/urandom > x/d/blob.bin && echo js > x/js.txt
      - uses: actions/upload-artifact@v4
        with:
          name: from-native
          path: x/d
      - run: node toolkit.js upload x from-js=js.txt,d/blob.bin
  down:
    needs: up
    runs-on: ubuntu-latest
    steps:
      - run: node toolkit.js download from-native js-got && cmp js-got/blob.bin x/d/blob.bin && echo "native to js same"
      - uses: actions/download-artifact@v4
        with:
          name: from-js
          path: native-got
      - run: cmp native-got/d/blob.bin x/d/blob.bin && cmp native-got/js.txt x/js.txt && echo "js to native same"
YML
    git -C "$ws" add -A >/dev/null
    out=$(cd "$ws" && GHRUN_CACHE_DIR="$ws/.cache-store" timeout 300 "$GHRUN" replay -W wf2.yml \
        --env NODE_PATH="$modules/node_modules" 2>&1)
    check "cross replay exits 0" test $? -eq 0
    has "native upload, toolkit download" "| native to js same"
    has "toolkit upload, native download" "| js to native same"
else
    echo "SKIP: cross-compatibility with @actions/artifact (node, npm or the install missing)"
fi
finish
