#!/usr/bin/env bash
# Run as a workflow step: upload the zip $2 as artifact $1 through the artifact service, as the
# toolkit does (CreateArtifact, Put Blob on the signed URL, FinalizeArtifact).
set -eu
svc="${ACTIONS_RESULTS_URL}twirp/github.actions.results.api.v1.ArtifactService"
auth="Authorization: Bearer $ACTIONS_RUNTIME_TOKEN"
resp=$(curl -sf -X POST -H "$auth" -H 'Content-Type: application/json' \
    --data-binary "{\"name\":\"$1\",\"version\":4}" "$svc/CreateArtifact")
url=$(sed -E 's/.*"signed_upload_url":"([^"]*)".*/\1/' <<<"$resp")
curl -sf -X PUT --data-binary "@$2" "$url" >/dev/null
curl -sf -X POST -H "$auth" -H 'Content-Type: application/json' \
    --data-binary "{\"name\":\"$1\",\"size\":\"$(stat -c %s "$2")\"}" "$svc/FinalizeArtifact"
echo
