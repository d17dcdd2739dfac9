#!/usr/bin/env bash
# Run as a workflow step: bad requests to the artifact service the runner started for the job.
# Prints "<case> <HTTP status>" per case; the test compares them.
set -u
svc="${ACTIONS_RESULTS_URL}twirp/github.actions.results.api.v1.ArtifactService"
auth="Authorization: Bearer $ACTIONS_RUNTIME_TOKEN"

# post CASE METHOD BODY [curl args...]
post() {
    local c=$1 m=$2 body=$3
    shift 3
    echo "$c $(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        "$@" --data-binary "$body" "$svc/$m")"
}

post traversal CreateArtifact '{"name":"../x","version":4}' -H "$auth"
post absolute CreateArtifact '{"name":"/etc/x","version":4}' -H "$auth"
post backslash CreateArtifact '{"name":"a\\b","version":4}' -H "$auth"
post dotdot CreateArtifact '{"name":"..","version":4}' -H "$auth"
post badtoken CreateArtifact '{"name":"x","version":4}' -H "Authorization: Bearer nope"
post notoken CreateArtifact '{"name":"x","version":4}'
post malformed CreateArtifact '{"name":' -H "$auth"
post notobject CreateArtifact '[1]' -H "$auth"
post oversized CreateArtifact "{\"name\":\"$(head -c 100000 /dev/zero | tr '\0' a)\"}" -H "$auth"
post wrongrun ListArtifacts '{"workflow_run_backend_id":"other-run"}' -H "$auth"
post unknownmethod Nope '{}' -H "$auth"
post missing GetSignedArtifactURL '{"name":"nope"}' -H "$auth"
post duplicate CreateArtifact '{"name":"s1","version":4}' -H "$auth"

# An upload URL with a forged signature or expiry, a blob of the wrong size, a block list
# naming a block never staged: all refused, and none of it is ever finalized.
resp=$(curl -s -X POST -H "$auth" -H 'Content-Type: application/json' \
    --data-binary '{"name":"abandoned","version":4}' "$svc/CreateArtifact")
url=$(sed -E 's/.*"signed_upload_url":"([^"]*)".*/\1/' <<<"$resp")
echo "created $(test -n "$url" && echo 200)"
put() {
    echo "$1 $(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary "$3" "$2")"
}
put forged "$(sed -E 's/sig=[0-9a-f]{4}/sig=0000/' <<<"$url")" 0123456789
put expired "$(sed -E 's/se=[0-9]+/se=1000/' <<<"$url")" 0123456789
put blob "$url" 0123456789
post wrongsize FinalizeArtifact '{"name":"abandoned","size":"11"}' -H "$auth"
resp=$(curl -s -X POST -H "$auth" -H 'Content-Type: application/json' \
    --data-binary '{"name":"abandoned2","version":4}' "$svc/CreateArtifact")
url=$(sed -E 's/.*"signed_upload_url":"([^"]*)".*/\1/' <<<"$resp")
put unknownblock "$url&comp=blocklist" '<?xml version="1.0"?><BlockList><Latest>AAAA</Latest></BlockList>'

# A download URL for an existing artifact id, with a forged signature.
dl="${ACTIONS_RESULTS_URL}ghrun/artifacts/dl-1?se=99999999999&sig=$(printf '0%.0s' $(seq 64))"
echo "dlforged $(curl -s -o /dev/null -w '%{http_code}' "$dl")"
