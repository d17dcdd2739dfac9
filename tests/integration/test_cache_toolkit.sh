#!/usr/bin/env bash
# The real @actions/cache from the npm registry against `ghrun cache serve`: 3.x over the v1 REST
# API and 4.x over the v2 Twirp API: save, miss, exact hit, restore-key match, version isolation,
# refusal of a second save, corruption, auth.
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
command -v curl >/dev/null || skip "curl is not installed"
"$GHRUN" cache --help >/dev/null 2>&1 || skip "this ghrun has no 'cache' command"

# install MAJOR: @actions/cache@MAJOR under the build directory, kept so that later runs need no
# network. Prints the node_modules path; fails when the install fails.
install() {
    local dir=$GR_NPM_BASE/test-cache-npm$1
    npm_install "$dir" "@actions/cache@$1" || return 1
    echo "$dir/node_modules"
}

tmp=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# start_server NAME: a fresh store and server; sets url and token.
start_server() {
    mkdir -p "$tmp/$1/ws" "$tmp/$1/runner-tmp"
    token="job-token-$$-$RANDOM"
    "$GHRUN" cache --dir "$tmp/$1/store" serve --token "$token" --scope octo/repo \
        --port-file "$tmp/$1/port" >"$tmp/$1/serve.out" 2>"$tmp/$1/serve.err" &
    server=$!
    for _ in $(seq 1 300); do
        [ -s "$tmp/$1/port" ] && break
        sleep 0.1
    done
    [ -s "$tmp/$1/port" ] || return 1
    url="http://127.0.0.1:$(cat "$tmp/$1/port")/"
}

stop_server() {
    kill -TERM "$server"
    wait "$server"
    local rc=$?
    server=
    [ "$rc" -eq 0 ] && ok || bad "serve exited with $rc after SIGTERM"
}

# run_toolkit NAME MODULES ENV...: the round trip script with the given environment.
run_toolkit() {
    local name=$1 modules=$2
    shift 2
    if env ACTIONS_RUNTIME_TOKEN="$token" GITHUB_WORKSPACE="$tmp/$name/ws" \
        RUNNER_TEMP="$tmp/$name/runner-tmp" CACHE_STORE="$tmp/$name/store" NODE_PATH="$modules" \
        "$@" node "$GR_SOURCE_DIR/tests/integration/cache/toolkit_roundtrip.js" \
        >"$tmp/$name/node.out" 2>&1; then
        ok
    else
        bad "$name round trip: $(grep -E '^not ok|Error' "$tmp/$name/node.out" | head -5)"
    fi
    sed "s/^/$name: /" < <(grep -E '^(not )?ok' "$tmp/$name/node.out")
    grep -q "corrupt" "$tmp/$name/serve.err" && ok || bad "$name: no warning about corruption"
}

# v1: @actions/cache 3.x and the REST API.
if modules=$(install 3); then
    start_server v1 || { bad "server did not start"; finish; exit; }
    # Requests without the job's token are refused.
    code=$(curl -s -o /dev/null -w '%{http_code}' "${url}_apis/artifactcache/cache?keys=a&version=b")
    [ "$code" = 401 ] && ok || bad "no token: status $code, want 401"
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong" \
        "${url}_apis/artifactcache/cache?keys=a&version=b")
    [ "$code" = 401 ] && ok || bad "wrong token: status $code, want 401"
    run_toolkit v1 "$modules" ACTIONS_CACHE_URL="$url"
    expect_out_has "deps-linux-aaa" "$GHRUN" cache --dir "$tmp/v1/store" list
    expect_out_has "scope:     octo/repo" "$GHRUN" cache --dir "$tmp/v1/store" show deps-linux-aaa
    stop_server
else
    echo "SKIP: npm install @actions/cache@3 failed"
fi

# v2: @actions/cache 4.x, the Twirp CacheService and Azure blob uploads to our signed URLs.
if modules=$(install 4); then
    start_server v2 || { bad "server did not start"; finish; exit; }
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -d '{}' "${url}twirp/github.actions.results.api.v1.CacheService/CreateCacheEntry")
    [ "$code" = 401 ] && ok || bad "twirp without token: status $code, want 401"
    run_toolkit v2 "$modules" ACTIONS_RESULTS_URL="$url" ACTIONS_CACHE_SERVICE_V2=true
    stop_server
else
    echo "SKIP: npm install @actions/cache@4 failed"
fi
finish
