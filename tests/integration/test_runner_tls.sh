#!/usr/bin/env bash
# TLS, end to end against tests/integration/fake_github.py serving HTTPS and wss with a
# certificate of a test CA: without that CA (GHRUN_CA_FILE) registration fails on the
# certificate and writes nothing; with it the runner registers, takes a job whose live console
# goes over a wss:// FeedStreamUrl, and completes it; a certificate for another host name is
# refused even with the CA. Peer and host verification stay on: there is no switch to turn them
# off.
RUNNER_PART=tls
FAKE_SCHEME=https
. "$(dirname "$0")/test_runner_protocol.sh"
if ! command -v openssl >/dev/null; then
    echo "skipped: no openssl command to make the test certificates"
    exit 0
fi
mkcert() { # NAME SAN: a key and a certificate for SAN, signed by the test CA
    openssl req -newkey rsa:2048 -nodes -keyout "$T/$1.key" -subj "/CN=$1" \
        -out "$T/$1.csr" 2>/dev/null &&
        printf 'subjectAltName=%s\n' "$2" >"$T/$1.ext" &&
        openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
            -days 2 -extfile "$T/$1.ext" -out "$T/$1.pem" 2>/dev/null
}
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" -days 2 \
    -subj "/CN=ghrun test CA" 2>/dev/null
check "test certificates" mkcert good IP:127.0.0.1
check "test certificates (other host)" mkcert other DNS:elsewhere.invalid
export CURL_CA_BUNDLE=$T/ca.pem # the test's own curl calls to the fake
echo REGTOKEN-1234567890 >>"$T/secrets"
echo REMTOKEN-1234567890 >>"$T/secrets"

start_fake --tls-cert "$T/good.pem" --tls-key "$T/good.key"
check "the fake serves https" curl -sf -o /dev/null "$BASE/_control/state"

# no CA: the certificate is not trusted, nothing is written
unset GHRUN_CA_FILE
: >"$LOG"
if config "$T/untrusted" untrusted; then bad "config without the CA succeeded"; else ok; fi
check "untrusted: the error names the certificate" grep -qi "certificate" "$LOG"
check "untrusted: no runner files" test ! -e "$T/untrusted/.runner" -a ! -e "$T/untrusted/.credentials"

# with the CA: register, then a job whose live console goes over wss (the step prints for 5 s:
# what comes before the socket connects goes over HTTP, which a loaded machine may make slow)
export GHRUN_CA_FILE=$T/ca.pem
check "config with the CA" config "$T/r1" r1
job '{"name":"tls","endpoint_data":{"FeedStreamUrl":"wss://127.0.0.1:'"$PORT"'/feedstream/live"},
  "steps":[{"run":"for i in $(seq 10); do echo over-tls-line; sleep 0.5; done"}]}'
run_once_expect "job over TLS" succeeded
curl -s "$BASE/_control/proto" >"$T/proto.json"
q_ws() { "$PY" -c "import json; d=json.load(open('$T/proto.json')); print($1)"; }
check "wss: connected" test "$(q_ws "d['$JOB_RID']['ws_connections']")" -ge 1
expect_eq "wss: the step's line arrived over the socket" \
    "$(q_ws "any('over-tls-line' in v for m in d['$JOB_RID']['ws'] if 'body' in m for v in m['body']['value'])")" True
check "the job's requests were https" grep -q '"endpoint": "completejob"' "$T/requests.jsonl"

# a certificate for another name: refused, CA or not
start_fake --tls-cert "$T/other.pem" --tls-key "$T/other.key"
: >"$LOG"
if config "$T/wrongname" wrongname; then bad "config with a certificate for another host succeeded"; else ok; fi
check "wrong name: the error says so" grep -qiE "certificate|subject name|host name" "$LOG"
check "wrong name: no runner files" test ! -e "$T/wrongname/.runner"

finish_all
