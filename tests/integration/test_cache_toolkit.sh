#!/usr/bin/env bash
# The real @actions/cache 3.x (from the npm registry) against `ghrun cache serve`: save, miss,
# exact hit, restore-key match, version isolation, refusal of a second save, corruption, auth.
# Skips (exit 0, with a reason) when node/npm are missing, the install fails, or this ghrun
# has no 'cache' command.
set -u
. "$(dirname "$0")/lib.sh"

skip() {
    echo "SKIP: $*"
    exit 0
}

command -v node >/dev/null || skip "node is not installed"
command -v npm >/dev/null || skip "npm is not installed"
"$GHRUN" cache --help >/dev/null 2>&1 || skip "this ghrun has no 'cache' command"

# The install is kept under the build directory so that later runs need no network.
npm_dir=${GR_BUILD_DIR:-${TMPDIR:-/tmp}}/test-cache-npm
if [ ! -f "$npm_dir/node_modules/@actions/cache/package.json" ]; then
    mkdir -p "$npm_dir"
    if ! (cd "$npm_dir" && timeout 300 npm install --no-audit --no-fund --loglevel=error \
        @actions/cache@3 >"$npm_dir/install.log" 2>&1); then
        skip "npm install @actions/cache@3 failed (see $npm_dir/install.log)"
    fi
fi

tmp=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/ws" "$tmp/runner-tmp"
token="job-token-$$-$RANDOM"

"$GHRUN" cache --dir "$tmp/store" serve --token "$token" --scope octo/repo \
    --port-file "$tmp/port" >"$tmp/serve.out" 2>"$tmp/serve.err" &
server=$!
for _ in $(seq 1 100); do
    [ -s "$tmp/port" ] && break
    sleep 0.1
done
[ -s "$tmp/port" ] || { bad "server did not start: $(cat "$tmp/serve.err")"; finish; exit; }
port=$(cat "$tmp/port")
url="http://127.0.0.1:$port/"

# Requests without the job's token are refused.
code=$(curl -s -o /dev/null -w '%{http_code}' "${url}_apis/artifactcache/cache?keys=a&version=b")
[ "$code" = 401 ] && ok || bad "no token: status $code, want 401"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong" \
    "${url}_apis/artifactcache/cache?keys=a&version=b")
[ "$code" = 401 ] && ok || bad "wrong token: status $code, want 401"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
    "${url}_apis/artifactcache/cache?keys=a&version=b")
[ "$code" = 204 ] && ok || bad "miss: status $code, want 204"
code=$(curl -s -o /dev/null -w '%{http_code}' \
    "${url}_apis/artifactcache/artifacts/0000000000000000000000000000000000000000000000000000000000000000?sig=00")
[ "$code" = 403 ] && ok || bad "unsigned download: status $code, want 403"

if ACTIONS_CACHE_URL="$url" ACTIONS_RUNTIME_TOKEN="$token" GITHUB_WORKSPACE="$tmp/ws" \
    RUNNER_TEMP="$tmp/runner-tmp" CACHE_STORE="$tmp/store" NODE_PATH="$npm_dir/node_modules" \
    node "$GR_SOURCE_DIR/tests/integration/cache/toolkit_roundtrip.js" >"$tmp/node.out" 2>&1; then
    ok
else
    bad "toolkit round trip: $(grep -E '^not ok|Error' "$tmp/node.out" | head -5)"
fi
grep -E '^(not )?ok' "$tmp/node.out"
grep -q "corrupt" "$tmp/serve.err" && ok || bad "no warning about the corrupt archive"

expect_out_has "deps-linux-aaa" "$GHRUN" cache --dir "$tmp/store" list
expect_out_has "scope:     octo/repo" "$GHRUN" cache --dir "$tmp/store" show deps-linux-aaa

kill -TERM "$server"
wait "$server"
rc=$?
server=
[ "$rc" -eq 0 ] && ok || bad "serve exited with $rc after SIGTERM"
finish
