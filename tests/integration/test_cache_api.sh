#!/usr/bin/env bash
# The cache API of `ghrun cache serve` spoken with curl: v1 (chunk order, framing, conflicts,
# limits) and v2 (Twirp, Azure block uploads), then `ghrun cache list|show|prune|clear` on the store it filled.
# Skips (exit 0, with a reason) when curl is missing or this ghrun has no 'cache' command.
set -u
. "$(dirname "$0")/lib.sh"

skip() {
    echo "SKIP: $*"
    exit 0
}
command -v curl >/dev/null || skip "curl is not installed"
"$GHRUN" cache --help >/dev/null 2>&1 || skip "this ghrun has no 'cache' command"

tmp=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
token="tok-$$"
"$GHRUN" cache --dir "$tmp/store" serve --token "$token" --port-file "$tmp/port" \
    >"$tmp/serve.out" 2>"$tmp/serve.err" &
server=$!
for _ in $(seq 1 300); do
    [ -s "$tmp/port" ] && break
    sleep 0.1
done
[ -s "$tmp/port" ] || { bad "server did not start: $(cat "$tmp/serve.err")"; finish; exit; }
api="http://127.0.0.1:$(cat "$tmp/port")/_apis/artifactcache"
auth=(-H "Authorization: Bearer $token" -H "Accept: application/json;api-version=6.0-preview.1")

# status METHOD URL [curl args...]: prints the status code; the body goes to $tmp/body.
status() {
    local m=$1 u=$2
    shift 2
    curl -s -o "$tmp/body" -w '%{http_code}' -X "$m" "${auth[@]}" "$@" "$u"
}
want() {
    local desc=$1 exp=$2 got=$3
    [ "$got" = "$exp" ] && ok || bad "$desc: status $got, want $exp ($(head -c 200 "$tmp/body"))"
}

# A 300000-byte archive uploaded in three chunks, last one first.
head -c 300000 /dev/urandom >"$tmp/archive"
dd if="$tmp/archive" of="$tmp/c0" bs=100000 skip=0 count=1 2>/dev/null
dd if="$tmp/archive" of="$tmp/c1" bs=100000 skip=1 count=1 2>/dev/null
dd if="$tmp/archive" of="$tmp/c2" bs=100000 skip=2 count=1 2>/dev/null

want "reserve" 200 "$(status POST "$api/caches" -H 'Content-Type: application/json' \
    -d '{"key":"npm-linux-1","version":"v1","cacheSize":300000}')"
id=$(sed -n 's/.*"cacheId":\([0-9]*\).*/\1/p' "$tmp/body")
[ -n "$id" ] && ok || bad "no cacheId in $(cat "$tmp/body")"
want "second reservation of the key" 409 "$(status POST "$api/caches" \
    -d '{"key":"npm-linux-1","version":"v1"}')"
want "reserve without version" 400 "$(status POST "$api/caches" -d '{"key":"k"}')"
want "reserve with a malformed body" 400 "$(status POST "$api/caches" -d '{nope')"
want "chunk 2" 204 "$(status PATCH "$api/caches/$id" -H 'Content-Type: application/octet-stream' \
    -H 'Content-Range: bytes 200000-299999/*' --data-binary @"$tmp/c2")"
want "range that does not match the body" 400 "$(status PATCH "$api/caches/$id" \
    -H 'Content-Range: bytes 0-10/*' --data-binary @"$tmp/c0")"
want "chunk to an unknown id" 404 "$(status PATCH "$api/caches/999" \
    -H 'Content-Range: bytes 0-99999/*' --data-binary @"$tmp/c0")"
want "chunk 0 (chunked transfer)" 204 "$(status PATCH "$api/caches/$id" \
    -H 'Transfer-Encoding: chunked' -H 'Content-Range: bytes 0-99999/*' \
    --data-binary @"$tmp/c0")"
want "commit with a chunk missing" 400 "$(status POST "$api/caches/$id" -d '{"size":300000}')"
want "chunk 1" 204 "$(status PATCH "$api/caches/$id" \
    -H 'Content-Range: bytes 100000-199999/300000' --data-binary @"$tmp/c1")"
want "commit with the wrong size" 400 "$(status POST "$api/caches/$id" -d '{"size":299999}')"
want "commit" 204 "$(status POST "$api/caches/$id" -d '{"size":300000}')"
want "commit again" 404 "$(status POST "$api/caches/$id" -d '{"size":300000}')"
want "reserve a committed key" 409 "$(status POST "$api/caches" \
    -d '{"key":"npm-linux-1","version":"v1"}')"

want "lookup by restore key" 200 "$(status GET "$api/cache?keys=npm-windows-1,npm-linux-&version=v1")"
grep -q '"cacheKey":"npm-linux-1"' "$tmp/body" && ok || bad "cacheKey: $(cat "$tmp/body")"
loc=$(sed -n 's/.*"archiveLocation":"\([^"]*\)".*/\1/p' "$tmp/body")
curl -s -o "$tmp/download" "$loc"
cmp -s "$tmp/download" "$tmp/archive" && ok || bad "downloaded archive differs"
want "lookup of another version" 204 "$(status GET "$api/cache?keys=npm-linux-1&version=v2")"
want "lookup without keys" 400 "$(status GET "$api/cache?version=v1")"
want "list by key" 200 "$(status GET "$api/caches?key=npm-linux-1")"
grep -q '"totalCount":1' "$tmp/body" && ok || bad "list: $(cat "$tmp/body")"
# flip URL: the same URL with the last character of its signature changed.
flip() {
    case $1 in
    *0) echo "${1%?}1" ;;
    *) echo "${1%?}0" ;;
    esac
}
want "tampered archive location" 403 "$(curl -s -o "$tmp/body" -w '%{http_code}' "$(flip "$loc")")"
want "unknown method" 405 "$(status DELETE "$api/caches/$id")"

# v2: the Twirp CacheService and an Azure block-blob upload to the signed URL.
twirp="http://127.0.0.1:$(cat "$tmp/port")/twirp/github.actions.results.api.v1.CacheService"
tw() {
    curl -s -o "$tmp/body" -w '%{http_code}' -X POST "${auth[@]}" \
        -H 'Content-Type: application/json' -d "$2" "$twirp/$1"
}
want "twirp: create" 200 "$(tw CreateCacheEntry '{"key":"pip-1","version":"v9"}')"
up=$(sed -n 's/.*"signed_upload_url":"\([^"]*\)".*/\1/p' "$tmp/body")
[ -n "$up" ] && ok || bad "no signed_upload_url: $(cat "$tmp/body")"
want "twirp: create again" 409 "$(tw CreateCacheEntry '{"key":"pip-1","version":"v9"}')"
want "twirp: unknown method" 404 "$(tw Nope '{}')"
want "twirp: not JSON" 400 "$(tw CreateCacheEntry 'nope')"
blob() {
    curl -s -o "$tmp/body" -w '%{http_code}' -X PUT -H 'x-ms-version: 2024-11-04' "$@"
}
# Blocks staged out of order (ids are base64, so URL-encoded), then the list in order.
want "blob: block 2" 201 "$(blob --data-binary @"$tmp/c2" "$up&comp=block&blockid=MDAy")"
want "blob: block 0" 201 "$(blob --data-binary @"$tmp/c0" "$up&comp=block&blockid=MDAw")"
want "blob: block 1" 201 "$(blob --data-binary @"$tmp/c1" "$up&comp=block&blockid=MDAx")"
want "blob: bad signature" 403 "$(blob --data-binary @"$tmp/c1" "$(flip "$up")&comp=block&blockid=MDAx")"
want "twirp: finalize before the block list" 200 \
    "$(tw FinalizeCacheEntryUpload '{"key":"pip-1","version":"v9","size_bytes":"300000"}')"
grep -q '"ok":false' "$tmp/body" && ok || bad "finalize without data: $(cat "$tmp/body")"
want "blob: unknown block in the list" 400 "$(blob -H 'Content-Type: application/xml' \
    --data-binary '<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>MDA5</Latest></BlockList>' \
    "$up&comp=blocklist")"
want "blob: block list" 201 "$(blob -H 'Content-Type: application/xml' \
    --data-binary '<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>MDAw</Latest><Latest>MDAx</Latest><Latest>MDAy</Latest></BlockList>' \
    "$up&comp=blocklist")"
want "twirp: finalize" 200 \
    "$(tw FinalizeCacheEntryUpload '{"key":"pip-1","version":"v9","size_bytes":"300000"}')"
grep -q '"ok":true' "$tmp/body" && grep -q '"entry_id":"' "$tmp/body" && ok ||
    bad "finalize: $(cat "$tmp/body")"
want "twirp: lookup" 200 \
    "$(tw GetCacheEntryDownloadURL '{"key":"pip-2","restore_keys":["pip-"],"version":"v9"}')"
grep -q '"matched_key":"pip-1"' "$tmp/body" && ok || bad "lookup: $(cat "$tmp/body")"
down=$(sed -n 's/.*"signed_download_url":"\([^"]*\)".*/\1/p' "$tmp/body")
curl -s -o "$tmp/download2" "$down"
cmp -s "$tmp/download2" "$tmp/archive" && ok || bad "v2: downloaded archive differs"
want "twirp: miss" 200 "$(tw GetCacheEntryDownloadURL '{"key":"pip-1","version":"other"}')"
grep -q '"ok":false' "$tmp/body" && ok || bad "miss: $(cat "$tmp/body")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{}' "$twirp/GetCacheEntryDownloadURL")
[ "$code" = 401 ] && ok || bad "twirp without a token: $code"

kill -TERM "$server"
wait "$server"
rc=$?
server=
[ "$rc" -eq 0 ] && ok || bad "serve exited with $rc after SIGTERM"

# Management commands on the store the server filled.
store=(--dir "$tmp/store")
expect_out_has "npm-linux-1" "$GHRUN" cache "${store[@]}" list
expect_out_has "2 entries, 293.0 KiB of archives" "$GHRUN" cache "${store[@]}" list
expect_out_has "sha256:    $(sha256sum "$tmp/archive" | cut -d' ' -f1)" \
    "$GHRUN" cache "${store[@]}" show npm-linux-1
expect_rc 1 "$GHRUN" cache "${store[@]}" show no-such-key
expect_out_has "removed 0 entries" "$GHRUN" cache "${store[@]}" prune
expect_out_has "removed 2 entries" "$GHRUN" cache "${store[@]}" prune --max-size 100K
expect_out_has "0 entries" "$GHRUN" cache "${store[@]}" list
GHRUN_CACHE_DIR="$tmp/envstore" expect_out_has "0 entries" "$GHRUN" cache list
[ -d "$tmp/envstore/blobs" ] && ok || bad "GHRUN_CACHE_DIR was not used"
expect_rc 2 "$GHRUN" cache "${store[@]}" clear
expect_one_line_err "$GHRUN" cache "${store[@]}" clear
expect_out_has "cache cleared" "$GHRUN" cache "${store[@]}" clear --yes

# Usage errors: one line, exit 2.
expect_rc 0 "$GHRUN" cache --help
expect_out_has "usage: ghrun cache" "$GHRUN" cache --help
for args in "" "bogus" "list extra" "show" "prune --max-size 12Q" "serve" "--nope list"; do
    # shellcheck disable=SC2086
    expect_rc 2 "$GHRUN" cache $args
    # shellcheck disable=SC2086
    expect_one_line_err "$GHRUN" cache $args
done
finish
