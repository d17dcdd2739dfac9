#!/usr/bin/env bash
# Artifacts of jobs from GitHub go to the results service: a job uploads an artifact (three
# files, one of about 9 MB stored, so two 8 MiB blocks) with the native
# actions/upload-artifact@v4, and a second job of the same workflow run downloads it with
# actions/download-artifact@v4, through the fake GitHub's ArtifactService and blob storage.
# Checked: the backend ids of the token's scp claim in every call, CreateArtifact's name, mime
# type and version, the blocks and the block list, FinalizeArtifact's size and sha256 against
# the bytes received, the outputs (artifact-id, artifact-url, download-path), the blob's zip
# and the download byte for byte; a 500 on a block is retried; overwrite deletes first and a
# second upload of a name fails; a token without an Actions.Results scope and a token the
# service refuses (401, not retried) fail the step with a clear message that holds neither the
# token nor a mask of it.
RUNNER_PART=artifacts
. "$(dirname "$0")/test_runner_protocol.sh"
first_config

# The fake's state and artifacts, fetched once after each job (python starts are slow on a busy
# machine): snap; then completion, step_log and annotation read the snapshot.
snap() {
    ST=$(state)
    ARTS=$(curl -s "$BASE/_control/artifacts")
}
sq() { printf '%s' "$ST" | q "$1"; }
arts() { printf '%s' "$ARTS"; }
# the completion body; its stepResults without the Set up job / Complete job records (type
# runner, checked in test_runner_feed.sh)
BODYQ() {
    echo "(lambda b: dict(b, stepResults=[s for s in b['stepResults'] if s.get('type') != \
'runner']))([c['body'] for c in d['completions'] if str(c['request_id'])=='$JOB_RID'][0])"
}
completion() { sq "$(BODYQ)$1"; }
step_log() {
    sq "(lambda c, j: j['result_logs'][c['stepResults'][$1]['external_id']])($(BODYQ), \
[j for j in d['jobs'] if j['runner_request_id']=='$JOB_RID'][0])"
}
annotation() { completion "['stepResults'][$1]['annotations'][0]['message']"; }

RUN=run-$RANDOM$RANDOM
# The files: a.txt, sub/b.txt and sub/big.txt (seq 1 1300000: 9.3 MB, stored uncompressed).
MAKE='mkdir -p out/sub && echo alpha >out/a.txt && echo beta >out/sub/b.txt && seq 1 1300000 >out/sub/big.txt && echo hidden >out/.hidden'
job '{"name":"upload","jwt":true,"run_backend_id":"'"$RUN"'","steps":[
  {"run":"'"$MAKE"'"},
  {"id":"up","uses":"actions/upload-artifact@v4","with":{"name":"bundle","path":"out/","compression-level":"0","retention-days":"3"}},
  {"run":"echo \"id=${{ steps.up.outputs.artifact-id }} url=${{ steps.up.outputs.artifact-url }} digest=${{ steps.up.outputs.artifact-digest }}\""},
  {"id":"again","uses":"actions/upload-artifact@v4","with":{"name":"bundle","path":"out/a.txt"},"continue-on-error":true},
  {"id":"over","uses":"actions/upload-artifact@v4","with":{"name":"small","path":"out/a.txt"}},
  {"id":"over2","uses":"actions/upload-artifact@v4","with":{"name":"small","path":"out/sub/b.txt","overwrite":"true"}}
]}'
UP_JOB=$(echo "$JOB" | q 'd["job_id"]')
UP_RID=$JOB_RID
ctl fault '{"endpoint":"artifact.blob.put","kind":"500","count":1}' >/dev/null
run_once_expect "upload job" succeeded
snap
expect_eq "upload job: steps (the second upload of a name continues on error)" \
    "$(steps_of "$JOB_RID")" succeeded,succeeded,succeeded,succeeded,succeeded,succeeded
# the facts about the upload, from one python run: "key<TAB>value" lines into F
declare -A F
while IFS=$'\t' read -r k v; do F[$k]=$v; done < <(arts | "$PY" -c '
import base64, json, sys
d = json.load(sys.stdin)
a = [a for a in d["artifacts"] if a["name"] == "bundle"][0]
reqs = [json.loads(l) for l in open(sys.argv[2])]
facts = {
    "id": a["id"],
    "bundles": [x["finalized"] for x in d["artifacts"] if x["name"] == "bundle"],
    "run": a["run"], "job": a["job"], "mime": (a["mime_type"], a["version"]),
    "expires": (a["expires_at"] or "")[:10],
    "size_ok": a["size"] == a["blob_size"] > 9000000,
    "hash_ok": a["hash"] == "sha256:" + a["blob_sha256"],
    "blocks": sorted(p["len"] for p in a["puts"] if p["comp"] == "block") ==
        [a["blob_size"] - 8388608, 8388608] and a["puts"][-1]["comp"] == "blocklist",
    "order": [int(base64.b64decode(i)[36:]) for i in a["block_ids"]],
    "ids": [len(i) for i in a["block_ids"]], "ctype": a["content_type"],
    "sha": a["blob_sha256"],
    # the first upload: its blocks go up concurrently, so the log has them in the order
    # they ended, not began
    "block_puts": sorted([(e["status"], e["query"].get("comp")) for e in reqs
                          if e["endpoint"] == "artifact.blob.put"][:3]),
    "calls": [c["method"] for c in d["calls"] if c["job"] == sys.argv[1]],
    "smalls": len([x for x in d["artifacts"] if x["name"] == "small" and x["finalized"]]),
}
for k, v in facts.items():
    print("%s\t%s" % (k, v))
' "$UP_JOB" "$T/requests.jsonl")
ID=${F[id]}
expect_eq "upload: one bundle, finalized" "${F[bundles]}" "[True]"
expect_eq "upload: run backend id from the token" "${F[run]}" "$RUN"
expect_eq "upload: job backend id from the token" "${F[job]}" "$UP_JOB"
expect_eq "upload: CreateArtifact mime type and version" "${F[mime]}" "('application/zip', 7)"
expect_eq "upload: retention-days became expires_at" "${F[expires]}" "$(date -u -d '+3 days' +%Y-%m-%d)"
expect_eq "upload: finalized size is the blob's" "${F[size_ok]}" True
expect_eq "upload: finalized hash is the blob's sha256" "${F[hash_ok]}" True
expect_eq "upload: 8 MiB blocks, then the block list" "${F[blocks]}" True
expect_eq "upload: two blocks committed, 64-character ids" "${F[ids]}" "[64, 64]"
expect_eq "upload: the block list in file order" "${F[order]}" "[0, 1]"
expect_eq "upload: the block list sets the content type" "${F[ctype]}" application/zip
expect_eq "upload: the failed block was sent again (two blocks, three block PUTs)" \
    "${F[block_puts]}" "[(201, 'block'), (201, 'block'), (500, 'block')]"
expect_eq "upload: the injected 500 was used" "$(sq 'len(d["faults_left"])')" 0
LOGUP=$(step_log 1)
check "upload: the retry is in the step log" \
    grep -q "Attempt 1 of 5 failed with error: Failed request: (500) Internal Server Error. Retrying request in" <<<"$LOGUP"
check "upload: finalize logged" grep -q "Artifact bundle successfully finalized. Artifact ID $ID" <<<"$LOGUP"
check "upload: outputs" grep -q \
    "id=$ID url=https://github.com/acme/widgets/actions/runs/4242/artifacts/$ID digest=${F[sha]}" \
    <<<"$(step_log 2)"
# every call carried the token's backend ids (the fake refuses others) and each its method
expect_eq "upload: twirp calls" "${F[calls]}" \
    "['CreateArtifact', 'FinalizeArtifact', 'CreateArtifact', 'CreateArtifact', 'FinalizeArtifact', 'DeleteArtifact', 'CreateArtifact', 'FinalizeArtifact']"
check "upload: a second upload of a name is refused" \
    grep -q "an artifact with this name already exists on the workflow run (bundle)" <<<"$(annotation 3)"
expect_eq "upload: one artifact 'small' after the overwrite" "${F[smalls]}" 1
# the blob is the zip of the three files (hidden files left out), byte for byte
curl -s -o "$T/blob.zip" "$BASE/_control/artifacts?blob=$ID"
(cd "$T" && mkdir -p want/sub && echo alpha >want/a.txt && echo beta >want/sub/b.txt && seq 1 1300000 >want/sub/big.txt)
check "upload: the blob is the zip of the files" "$PY" - "$T/blob.zip" "$T/want" <<'EOF'
import os, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = sorted(z.namelist())
assert names == ["a.txt", "sub/b.txt", "sub/big.txt"], names
for n in names:
    assert z.read(n) == open(os.path.join(sys.argv[2], n), "rb").read(), n
EOF

# Blocks go up several at once (uploadStream's maxConcurrency): with each block PUT held for a
# second by the server, the second block arrives before the first is answered.
N0=$(wc -l <"$T/requests.jsonl")
job '{"name":"parallel","jwt":true,"run_backend_id":"'"$RUN-par"'","steps":[
  {"run":"seq 1 1300000 >big.txt"},
  {"uses":"actions/upload-artifact@v4","with":{"name":"par","path":"big.txt","compression-level":"0"}}]}'
ctl fault '{"endpoint":"artifact.blob.put","kind":"slow:1","count":2}' >/dev/null
run_once_expect "parallel blocks job" succeeded
snap
expect_eq "parallel: both block PUTs in flight together" "$(tail -n +"$((N0 + 1))" "$T/requests.jsonl" |
    "$PY" -c '
import json, sys
t = [e["t"] for e in map(json.loads, sys.stdin)
     if e["endpoint"] == "artifact.blob.put" and e["query"].get("comp") == "block"]
print(len(t) == 2 and abs(t[1] - t[0]) < 0.9)')" True
expect_eq "parallel: the artifact is whole" "$(arts | q "[a['size'] == a['blob_size'] > 9000000 and \
a['hash'] == 'sha256:' + a['blob_sha256'] for a in d['artifacts'] if a['name'] == 'par']")" "[True]"
SIZE=$(arts | q "[a['blob_size'] for a in d['artifacts'] if a['name'] == 'par'][0]")
check "parallel: the last progress line is the whole size" grep -q "Uploaded bytes $SIZE\$" \
    <<<"$(step_log 1)"

# The second job of the run downloads it: by name, and every artifact by pattern.
job '{"name":"download","jwt":true,"run_backend_id":"'"$RUN"'",
  "needs":{"upload":{"result":"success","outputs":{}}},"steps":[
  {"id":"dl","uses":"actions/download-artifact@v4","with":{"name":"bundle","path":"got"}},
  {"run":"seq 1 1300000 | cmp - got/sub/big.txt && test \"$(cat got/a.txt)\" = alpha && test \"$(cat got/sub/b.txt)\" = beta && test ! -e got/.hidden && echo download-same; echo \"path=${{ steps.dl.outputs.download-path }}\""},
  {"uses":"actions/download-artifact@v4","with":{"pattern":"*","path":"all"}},
  {"run":"cmp all/bundle/sub/big.txt got/sub/big.txt && test \"$(cat all/small/b.txt)\" = beta && echo all-same"},
  {"uses":"actions/download-artifact@v4","with":{"name":"nope"},"continue-on-error":true},
  {"uses":"actions/upload-artifact@v4","with":{"name":"x","path":"got/a.txt"},"continue-on-error":true}
]}'
DL_JOB=$(echo "$JOB" | q 'd["job_id"]')
TOKEN=$(echo "$JOB" | q 'd["job_token"]')
# the service refuses the token for CreateArtifact (401): not retried, said so, no token shown
ctl fault '{"endpoint":"artifact.CreateArtifact","kind":"401","count":5}' >/dev/null
run_once_expect "download job" succeeded
snap
expect_eq "download job: steps" "$(steps_of "$JOB_RID")" \
    succeeded,succeeded,succeeded,succeeded,succeeded,succeeded
MSG=$(annotation 5)
check "refused: clear message" grep -q "Failed to CreateArtifact: Received non-retryable error: Failed request: (401) Unauthorized" <<<"$MSG"
check "refused: the message holds no token" bash -c '! grep -qF -- "$1" <<<"$2" && ! grep -qF "***" <<<"$2"' _ "$TOKEN" "$MSG"
expect_eq "refused: asked once" "$(sq "[f['count'] for f in d['faults_left']]")" "[4]"
check "download: byte-exact" grep -q "download-same" <<<"$(step_log 1)"
check "download: download-path output" grep -q "path=$T/r1/_work/widgets/widgets/got" <<<"$(step_log 1)"
check "download: every artifact by pattern" grep -q "all-same" <<<"$(step_log 3)"
check "download: an unknown name fails" grep -q "Artifact not found for name: nope" <<<"$(annotation 4)"
expect_eq "download: list, then list by id and a signed URL per artifact" \
    "$(arts | q "[c['method'] for c in d['calls'] if c['job']=='$DL_JOB'][:3]")" \
    "['ListArtifacts', 'ListArtifacts', 'GetSignedArtifactURL']"
expect_eq "download: the signed URL asked with the uploading job's ids" \
    "$(arts | q "[c['body']['workflow_job_run_backend_id'] for c in d['calls'] if c['job']=='$DL_JOB' and c['method']=='GetSignedArtifactURL'][0]")" \
    "$UP_JOB"

# A token without an Actions.Results scope: the step fails before any request.
job '{"name":"noscope","jwt":"Actions.GenericRead:00000000-0000-0000-0000-000000000000","steps":[
  {"run":"echo x >f.txt"},
  {"uses":"actions/upload-artifact@v4","with":{"name":"x","path":"f.txt"}}]}'
TOKEN=$(echo "$JOB" | q 'd["job_token"]')
NCALLS=$(arts | q "len(d['calls'])")
run_once_expect "token without scope" failed
snap
MSG=$(annotation 1)
check "no scope: clear message" grep -q "Failed to get backend IDs: The provided JWT token is invalid and/or missing claims" <<<"$MSG"
check "no scope: the message holds no token" bash -c '! grep -qF -- "$1" <<<"$2" && ! grep -qF "***" <<<"$2"' _ "$TOKEN" "$MSG"
expect_eq "no scope: no artifact call" "$(arts | q "len(d['calls'])")" "$NCALLS"

finish_all
