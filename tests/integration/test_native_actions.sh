#!/usr/bin/env bash
# Native actions/cache (+ restore, save) and actions/checkout in replay.
# Cache: miss then hit across two runs and across two jobs, the post save skipped on an exact
# hit, restore-keys, lookup-only, fail-on-cache-miss, `!` exclusions, `~` paths, a second save
# of a key (warning), bad keys, --no-native; cross-compatibility with the real @actions/cache
# (npm, 4.x over `ghrun cache serve`) both ways when node and npm can install it.
# Checkout: a local bare repository (file:// --actions-url) with branches, tags and a
# submodule; fetch-depth 1 vs 0, sparse-checkout, the workspace as is, a clone of the
# replayed repository at a path, clean, outputs; unknown ref, path outside, lfs without git-lfs.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

command -v git >/dev/null || {
    echo "SKIP: git is not installed"
    exit 0
}
tmp=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.com GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export HOME=$tmp/home GHRUN_CACHE_DIR=$tmp/store
mkdir -p "$HOME"

# run WF JOB [ARGS...]: replay one job of $tmp/ws/WF; sets out and rc.
run() {
    local wf=$1 job=$2
    shift 2
    out=$(cd "$tmp/ws" && timeout 120 "$GHRUN" replay push -W "$wf" -C . -j "$job" "$@" \
        </dev/null 2>&1)
    rc=$?
}
want() {
    local desc=$1
    shift
    if "$@"; then ok; else
        bad "$desc"
        echo "$out" | tail -30
    fi
}
has() { grep -qF -- "$1" <<<"$out"; }
hasnt() { ! grep -qF -- "$1" <<<"$out"; }

git init -q -b main "$tmp/ws"
cd "$tmp/ws" || exit 1

# ---- actions/cache ---------------------------------------------------------
cat >cache.yml <<'EOF'
on: push
jobs:
  main:
    runs-on: ubuntu-latest
    steps:
      # `~` is the HOME the steps see: the job's private one in the sandbox
      - run: if [ -n "${HOME_DATA:-}" ]; then mkdir -p ~/.tool-cache && echo "$HOME_DATA" >~/.tool-cache/h.txt; fi
      - id: c
        uses: actions/cache@v4
        with:
          path: |
            deps
            ~/.tool-cache
          key: deps-${{ runner.os }}-1
      - run: |
          echo "hit=${{ steps.c.outputs.cache-hit }} primary=${{ steps.c.outputs.cache-primary-key }}"
          if [ -f ~/.tool-cache/h.txt ]; then
            echo "home=$(head -n1 ~/.tool-cache/h.txt) owner-is-me=$(test "$(stat -c %u ~/.tool-cache/h.txt)" = "$(id -u)" && echo yes)"
            echo more >>~/.tool-cache/h.txt && echo home-writable
          fi
  offsave:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache/save@v4
        with:
          path: ~/.tool-cache
          key: home-off-1
  offrestore:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache/restore@v4
        with:
          path: ~/.tool-cache
          key: home-off-1
      - run: echo "offhome=$(cat ~/.tool-cache/h.txt 2>/dev/null || echo none)"
  partial:
    runs-on: ubuntu-latest
    steps:
      - id: c
        uses: actions/cache@v4
        with:
          path: |
            deps
            ~/.tool-cache
          key: deps-${{ runner.os }}-2
          restore-keys: |
            nothing-
            deps-${{ runner.os }}-
      - run: echo "hit=${{ steps.c.outputs.cache-hit }}"
  lookup:
    runs-on: ubuntu-latest
    steps:
      - id: c
        uses: actions/cache/restore@v4
        with:
          path: |
            deps
            ~/.tool-cache
          key: deps-${{ runner.os }}-1
          lookup-only: true
      - run: echo "hit=${{ steps.c.outputs.cache-hit }} primary=${{ steps.c.outputs.cache-primary-key }} matched=${{ steps.c.outputs.cache-matched-key }}"
  mustfail:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache@v4
        with:
          path: deps
          key: absent-key
          fail-on-cache-miss: true
      - run: echo "reached-$((1+1))"
  producer:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p gen && echo "generated $GITHUB_RUN_ID" > gen/out.txt
      - uses: actions/cache@v4
        with:
          path: gen
          key: gen-key
  consumer:
    runs-on: ubuntu-latest
    needs: producer
    steps:
      - run: rm -rf gen
      - id: c
        uses: actions/cache@v4
        with:
          path: gen
          key: gen-key
      - run: echo "consumer hit=${{ steps.c.outputs.cache-hit }} $(cat gen/out.txt)"
  exclude:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache/save@v4
        with:
          path: |
            ex/*
            !ex/skip
          key: ex-key
      - uses: actions/cache/save@v4
        with:
          path: |
            ex/*
            !ex/skip
          key: ex-key
  exrestore:
    runs-on: ubuntu-latest
    steps:
      - id: r
        uses: actions/cache/restore@v4
        with:
          path: |
            ex/*
            !ex/skip
          key: ex-key
      - run: echo "restored=${{ steps.r.outputs.cache-matched-key }}"
  nokey:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache@v4
        with:
          path: deps
  comma:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache@v4
        with:
          path: deps
          key: a,b
EOF
git add cache.yml && git commit -qm cache

mkdir -p deps/sub
echo "dep one" >deps/sub/one.txt
ln -s sub/one.txt deps/link

run cache.yml main --env "HOME_DATA=home data"
want "first run succeeds" test "$rc" -eq 0
want "first run misses" has "hit=false primary="
want "miss names the keys" has "Cache not found for input keys: deps-Linux-1"
want "post step saves" has "Cache saved with key: deps-Linux-1"
want "store lists the entry" grep -q "deps-Linux-1" <<<"$("$GHRUN" cache --dir "$GHRUN_CACHE_DIR" list)"

want "the steps' ~ is not the runner's HOME" test ! -e "$HOME/.tool-cache"

rm -rf deps
run cache.yml main
want "second run hits" has "hit=true"
want "restored from the key" has "Cache restored from key: deps-Linux-1"
want "post skipped on an exact hit" has "Cache hit occurred on the primary key deps-Linux-1, not saving cache."
want "workspace files restored" grep -qx "dep one" deps/sub/one.txt
want "symlink restored" test "$(readlink deps/link)" = sub/one.txt
want "~ path restored into the job's HOME" has "home=home data owner-is-me=yes"
want "restored ~ files are the steps' to write" has "home-writable"
want "the runner's HOME still untouched" test ! -e "$HOME/.tool-cache"

# Without a sandbox `~` is the runner's HOME; entries cross between the two both ways.
rm -rf deps
run cache.yml main --sandbox off
want "--sandbox off hits the sandboxed entry" has "hit=true"
want "--sandbox off restores ~ into the runner's HOME" grep -qx "home data" "$HOME/.tool-cache/h.txt"
echo "off data" >"$HOME/.tool-cache/h.txt"
run cache.yml offsave --sandbox off
want "--sandbox off saves ~" has "Cache saved with key: home-off-1"
rm -rf "$HOME/.tool-cache"
run cache.yml offrestore
want "a sandboxed job restores it into its own HOME" has "offhome=off data"
want "... not into the runner's" test ! -e "$HOME/.tool-cache"

rm -rf deps "$HOME/.tool-cache"
run cache.yml partial
want "restore-key match is not a hit" has "hit=false"
want "restore-key match restores" has "Cache restored from key: deps-Linux-1"
want "restore-key match saves the new key" has "Cache saved with key: deps-Linux-2"
want "restore-key files" grep -qx "dep one" deps/sub/one.txt

rm -rf deps "$HOME/.tool-cache"
run cache.yml lookup
want "lookup-only hit" has "hit=true primary=deps-Linux-1 matched=deps-Linux-1"
want "lookup-only message" has "Cache found and can be restored from key: deps-Linux-1"
want "lookup-only restores nothing" test ! -e deps

run cache.yml mustfail
want "fail-on-cache-miss fails the job" test "$rc" -eq 1
want "fail-on-cache-miss message" has "Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: absent-key"
want "fail-on-cache-miss stops the job" hasnt "reached-2"

rm -rf gen
run cache.yml consumer
want "producer and consumer succeed" test "$rc" -eq 0
want "consumer hits what the producer saved" has "consumer hit=true generated"

mkdir -p ex/keep ex/skip
echo k >ex/keep/k.txt
echo s >ex/skip/s.txt
run cache.yml exclude
want "save action saves" has "Cache saved with key: ex-key"
want "second save of a key is a warning" has "Unable to reserve cache with key ex-key, another job may be creating this cache."
want "second save does not fail the job" test "$rc" -eq 0
rm -rf ex
run cache.yml exrestore
want "restore action output" has "restored=ex-key"
want "included path restored" test -f ex/keep/k.txt
want "! exclusion left out" test ! -e ex/skip

run cache.yml nokey
want "missing key fails" test "$rc" -eq 1
want "missing key message" has "Input required and not supplied: key"
run cache.yml comma
want "key with a comma fails" test "$rc" -eq 1
want "comma message" has "Key Validation Error: a,b cannot contain commas."

run cache.yml main --no-native --actions-url "file://$tmp/no-actions/"
want "--no-native runs the JavaScript action" has "action 'actions/cache@v4'"

# Corrupt the archive: a warning, a miss, nothing extracted.
rm -rf deps "$HOME/.tool-cache"
for b in "$GHRUN_CACHE_DIR"/blobs/*; do printf 'garbage' >"$b"; done
run cache.yml partial
want "corrupt archive is a warning" has "is corrupt"
want "corrupt archive is not extracted" test ! -e deps/sub/one.txt

# ---- cross-compatibility with @actions/cache ------------------------------
npm_dir=$GR_NPM_BASE/test-cache-npm4
if command -v node >/dev/null && command -v zstd >/dev/null &&
    npm_install "$npm_dir" "@actions/cache@4"; then
    xstore=$tmp/xstore
    "$GHRUN" cache --dir "$xstore" serve --token xtok --scope local/ws \
        --port-file "$tmp/xport" >"$tmp/serve.out" 2>&1 &
    server=$!
    for _ in $(seq 1 300); do
        [ -s "$tmp/xport" ] && break
        sleep 0.1
    done
    toolkit() {
        env GITHUB_WORKSPACE="$tmp/ws" RUNNER_TEMP="$tmp/rt" ACTIONS_RUNTIME_TOKEN=xtok \
            ACTIONS_RESULTS_URL="http://127.0.0.1:$(cat "$tmp/xport")/" \
            ACTIONS_CACHE_SERVICE_V2=true NODE_PATH="$npm_dir/node_modules" \
            node "$here/cache/native_cross.js" "$@" 2>&1 | grep -E '^(saved|restored|miss|save failed|error)'
    }
    mkdir -p "$tmp/rt" deps/sub
    echo "native side" >deps/sub/one.txt
    GHRUN_CACHE_DIR=$xstore run cache.yml main --env "HOME_DATA=native home"
    want "native save into the served store" has "Cache saved with key: deps-Linux-1"
    rm -rf deps "$HOME/.tool-cache"
    got=$(toolkit restore deps-Linux-1 deps '~/.tool-cache')
    want "toolkit restores what native saved ($got)" test "$got" = "restored deps-Linux-1"
    want "toolkit restored the workspace file" grep -qx "native side" deps/sub/one.txt
    want "toolkit restored the ~ file" grep -qx "native home" "$HOME/.tool-cache/h.txt"

    echo "toolkit side" >deps/sub/one.txt
    echo "toolkit home" >"$HOME/.tool-cache/h.txt"
    got=$(toolkit save deps-Linux-9 deps '~/.tool-cache')
    want "toolkit saves ($got)" grep -q "^saved" <<<"$got"
    rm -rf deps "$HOME/.tool-cache"
    sed 's/deps-${{ runner.os }}-1/deps-${{ runner.os }}-9/' cache.yml >cache9.yml
    git add cache9.yml && git commit -qm cache9
    GHRUN_CACHE_DIR=$xstore run cache9.yml main
    want "native restores what the toolkit saved" has "hit=true"
    want "native restored the workspace file" grep -qx "toolkit side" deps/sub/one.txt
    want "native restored the ~ file" has "home=toolkit home"

    # the toolkit in a workflow step of the same replay harness
    cat >jsstep.yml <<'EOF2'
on: push
jobs:
  js:
    runs-on: ubuntu-latest
    steps:
      - run: rm -rf deps && node "$CROSS" restore deps-Linux-1 deps '~/.tool-cache' && cat deps/sub/one.txt
EOF2
    git add jsstep.yml && git commit -qm jsstep
    # the script from the project (a source tree under /tmp is out of a sandboxed step's sight)
    cp "$here/cache/native_cross.js" "$PWD/native_cross.js"
    run jsstep.yml js --env "CROSS=$PWD/native_cross.js" --env ACTIONS_RUNTIME_TOKEN=xtok \
        --env "ACTIONS_RESULTS_URL=http://127.0.0.1:$(cat "$tmp/xport")/" \
        --env ACTIONS_CACHE_SERVICE_V2=true --env "NODE_PATH=$npm_dir/node_modules"
    want "toolkit in a workflow step restores the native entry" has "restored deps-Linux-1"
    want "... with the native bytes" has "native side"
    kill "$server"
    wait "$server" 2>/dev/null
    server=
else
    echo "SKIP: cross-compatibility (needs node, npm, zstd and @actions/cache@4 from npm)"
fi

# ---- actions/checkout --------------------------------------------------------
base=$tmp/base
mkdir -p "$base/octo"
git init -q -b main "$tmp/inner-src"
(cd "$tmp/inner-src" && echo inner >i.txt && git add . && git commit -qm inner)
git clone -q --bare "$tmp/inner-src" "$base/octo/inner.git"
git init -q -b main "$tmp/sub-src"
(
    cd "$tmp/sub-src" || exit 1
    echo sub >s.txt && git add . && git commit -qm sub
    # a relative URL, resolved against the superproject's remote
    git remote add origin "$base/octo/sub.git"
    git -c protocol.file.allow=always submodule add -q ../inner.git inner
    git commit -qm inner
) || exit 1
git clone -q --bare "$tmp/sub-src" "$base/octo/sub.git"
git init -q -b main "$tmp/lib-src"
(
    cd "$tmp/lib-src" || exit 1
    echo one >a.txt && mkdir -p dir1 dir2 && echo d1 >dir1/x && echo d2 >dir2/y
    git add . && git commit -qm c1
    echo two >>a.txt && git commit -qam c2 && git tag v1
    git -c protocol.file.allow=always submodule add -q "$base/octo/sub.git" modsub
    git commit -qm c3
    git checkout -qb feature && echo f >f.txt && git add f.txt && git commit -qm feat
    git checkout -q main
) || exit 1
git clone -q --bare "$tmp/lib-src" "$base/octo/lib.git"
v1=$(git -C "$tmp/lib-src" rev-parse v1)
main_sha=$(git -C "$tmp/lib-src" rev-parse main)

cat >co.yml <<'EOF'
on: push
jobs:
  co:
    runs-on: ubuntu-latest
    steps:
      - id: ws
        uses: actions/checkout@v4
      - id: a
        uses: actions/checkout@v4
        with: {repository: octo/lib, path: lib1}
      - id: b
        uses: actions/checkout@v4
        with: {repository: octo/lib, path: lib2, ref: v1, fetch-depth: 0}
      - id: c
        uses: actions/checkout@v4
        with: {repository: octo/lib, path: lib3, ref: feature, submodules: true}
      - id: d
        uses: actions/checkout@v4
        with: {repository: octo/lib, path: lib4, sparse-checkout: dir1}
      - id: e
        uses: actions/checkout@v4
        with: {path: self}
      - uses: actions/checkout@v4
        with: {repository: octo/lib, path: lib5, submodules: recursive}
      - run: |
          echo "ws=${{ steps.ws.outputs.commit }}"
          echo "recursive=$(cat lib5/modsub/inner/i.txt) notrec=$(ls -A lib3/modsub/inner | wc -l)"
          echo "substatus=$(git -C lib5 submodule status | cut -c1)$(git -C lib5 status --porcelain | wc -l)"
          echo "a=${{ steps.a.outputs.ref }} ${{ steps.a.outputs.commit }}"
          echo "b=${{ steps.b.outputs.ref }} ${{ steps.b.outputs.commit }}"
          echo "e=${{ steps.e.outputs.ref }} ${{ steps.e.outputs.commit }}"
          echo "depth1=$(git -C lib1 rev-list --count HEAD) depth0=$(git -C lib2 rev-list --count HEAD)"
          echo "branches1=$(git -C lib1 branch -r | wc -l) tags0=$(git -C lib2 tag | tr '\n' ' ')"
          echo "branch3=$(git -C lib3 rev-parse --abbrev-ref HEAD) sub=$(cat lib3/modsub/s.txt)"
          echo "sparse=$(ls lib4 | tr '\n' ' ') status4=$(git -C lib4 status --porcelain | wc -l)"
          echo "selfco=$(test -f self/co.yml && echo y) selfdirty=$(test -e self/dirty.txt && echo y || echo n)"
  again:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: {repository: octo/lib, path: lib1, ref: feature}
      - run: echo "untracked=$(test -e lib1/junk && echo kept || echo gone) f=$(cat lib1/f.txt)"
  badref:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: {repository: octo/lib, path: bad, ref: nope}
  outside:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: {path: ../elsewhere}
  lfs:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: {repository: octo/lib, path: lfs, lfs: true}
  intows:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: {repository: octo/lib}
EOF
git add co.yml && git commit -qm co
ws_sha=$(git rev-parse HEAD)
echo "uncommitted" >dirty.txt

run co.yml co --actions-url "file://$base/"
want "checkout job succeeds" test "$rc" -eq 0
want "workspace checkout is a no-op" has "using the workspace"
want "workspace commit output" has "ws=$ws_sha"
want "uncommitted file kept" test -f dirty.txt
want "default branch ref and commit" has "a=refs/heads/main $main_sha"
want "tag ref and commit" has "b=v1 $v1"
want "fetch-depth 1 is shallow, 0 has history" has "depth1=1 depth0=2"
want "fetch-depth 1 fetches one branch, 0 the tags" has "branches1=1 tags0=v1 "
want "branch and submodule" has "branch3=feature sub=sub"
want "recursive submodules, relative URL" has "recursive=inner notrec=0"
want "git sees the submodule initialized, the tree clean" has "substatus= 0"
want "sparse-checkout writes dir1 and top files" has "sparse=a.txt dir1  status4=0"
want "self clone has the committed tree only" has "selfco=y selfdirty=n"
want "self clone ref and commit" has "e=refs/heads/main $ws_sha"
want "no token in the log" hasnt "x-access-token"

echo junk >lib1/junk
run co.yml again --actions-url "file://$base/"
want "re-checkout of an existing clone" test "$rc" -eq 0
want "clean removes untracked files, ref switches" has "untracked=gone f=f"

run co.yml badref --actions-url "file://$base/"
want "unknown ref fails" test "$rc" -eq 1
want "unknown ref named" has "A branch or tag with the name 'nope' could not be found"
run co.yml outside
want "path outside the workspace fails" test "$rc" -eq 1
want "path outside message" has "is not under"
if ! command -v git-lfs >/dev/null; then
    run co.yml lfs --actions-url "file://$base/"
    want "lfs without git-lfs fails" test "$rc" -eq 1
    want "lfs message" has "needs git-lfs"
fi
run co.yml intows --actions-url "file://$base/"
want "another repository into the workspace is refused" has "would replace the replayed repository"
want "the workspace is untouched" test -f dirty.txt
finish
