#!/usr/bin/env python3
"""A fake GitHub for the self-hosted runner protocol, on 127.0.0.1 only.

It speaks enough of runner-protocol.md for `ghrun config`, `ghrun run` and
`ghrun remove`: runner-registration, the classic pools/agents API, the
runner-admin API (--v2), the OAuth token endpoint (it verifies the JWT client
assertion, RS256 or PS256, against the registered public key), pipelines
sessions and messages, the broker (--broker), and the run service
(acquirejob, renewjob, completejob), and what a job reports: the classic
timeline (PATCH records), live console feed and logs under
{url}{scope}/_apis/distributedtask/hubs/{planType}/plans/{planId}/, and the
results service (twirp WorkflowStepsUpdate, step/job log signed URLs, blob
PUTs, log metadata). Every request's body is recorded in the log ("raw").

It prints "PORT <n>" on stdout once listening, appends every request to the
JSON-lines file given by --log (Authorization values redacted), and keeps its
state in memory. A control API under /_control/ enqueues jobs and messages,
injects faults and dumps the state:

  POST /_control/job      {"name": "...", "steps": [{"run": "echo hi", "name": "..", "if": ".."}]}
                          steps as in a workflow (run, uses, with, env, if, name, id, shell,
                          working-directory, continue-on-error, timeout-minutes); values
                          with ${{ }} become expression tokens as GitHub's server sends them.
                          Job keys: env, workflow_env, outputs, defaults, matrix, needs,
                          strategy, secrets, vars, inputs, github (extra github context),
                          mask (list), classic (no results service: classic timeline/logs),
                          raw_steps (message steps used as they are)
  POST /_control/message  {"type": "JobCancellation", "body": {...}}
  POST /_control/fault    {"endpoint": "completejob", "kind": "500", "count": 1}
  GET  /_control/state

Fault kinds: an HTTP status ("500", "401", "409"), "drop" (close without an
answer), "slow:S" (wait S seconds, then answer), "late:S" (apply the request,
then wait S seconds before answering: a client timeout after the server acted),
"expire" (the caller's session ends; 404 TaskAgentSessionExpiredException).
The same faults can be given at start: --fault completejob:late:3:1
(endpoint:kind[:arg]:count).

Artifacts (the results service's ArtifactService, as @actions/artifact 2.x calls it): Twirp
JSON at /twirp/github.actions.results.api.v1.ArtifactService/<method> (CreateArtifact,
FinalizeArtifact, ListArtifacts, GetSignedArtifactURL, DeleteArtifact; endpoints
"artifact.<method>") with the job's token as bearer and the backend ids of its scp claim, and
the signed Azure blob URLs they hand out (/artifact-blob/<id>: PUT &comp=block&blockid=,
PUT &comp=blocklist, a whole PUT with x-ms-blob-type: BlockBlob, GET; endpoints
"artifact.blob.put" / "artifact.blob.get"). Job keys: jwt (true, or the scp claim to put in
it: the job token becomes a JWT as GitHub's, scp "Actions.Results:<planId>:<jobId>" by
default), run_backend_id (jobs that share it are one workflow run: its planId).
GET /_control/artifacts lists every artifact with its requests; ?blob=<database_id> answers
the artifact's bytes.
"""

import argparse
import base64
import ssl
import re
import hashlib
import json
import os
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.RLock()
COND = threading.Condition(LOCK)


def b64url_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64_int(s):
    return int.from_bytes(base64.b64decode(s), "big")


SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


def mgf1(seed, length):
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def rsa_verify(n, e, msg, sig, alg):
    """RS256 (PKCS#1 v1.5) or PS256 (PSS, MGF1-SHA256, salt 32) verification."""
    k = (n.bit_length() + 7) // 8
    if len(sig) != k:
        return False
    em_int = pow(int.from_bytes(sig, "big"), e, n)
    digest = hashlib.sha256(msg).digest()
    if alg == "RS256":
        t = SHA256_PREFIX + digest
        expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
        return em_int.to_bytes(k, "big") == expected
    if alg != "PS256":
        return False
    embits = n.bit_length() - 1
    emlen = (embits + 7) // 8
    em = em_int.to_bytes(emlen, "big")
    hlen, slen = 32, 32
    if em[-1] != 0xBC or emlen < hlen + slen + 2:
        return False
    masked, h = em[: emlen - hlen - 1], em[emlen - hlen - 1 : -1]
    db = bytes(a ^ b for a, b in zip(masked, mgf1(h, len(masked))))
    db = bytes([db[0] & (0xFF >> (8 * emlen - embits))]) + db[1:]
    ps_len = emlen - hlen - slen - 2
    if db[:ps_len] != b"\x00" * ps_len or db[ps_len] != 1:
        return False
    salt = db[ps_len + 1 :]
    return hashlib.sha256(b"\x00" * 8 + digest + salt).digest() == h


class State:
    def __init__(self, args):
        self.args = args
        self.reg_token = args.token
        self.remove_token = args.remove_token
        self.admin_tokens = set()
        self.agents = {}  # id -> agent dict
        self.next_agent = 1
        self.access_tokens = {}  # token -> (agent id, expiry)
        self.sessions = {}  # session id -> agent id
        self.messages = []  # pending messages
        self.next_message = 1
        self.jobs = {}  # runner_request_id -> job dict
        self.job_tokens = {}  # job token -> runner_request_id
        self.completions = []  # effective completions
        self.faults = []  # dicts: endpoint, kind, count
        self.counts = {}
        self.session_conflicts = 0
        self.blobs = {}  # blob id -> (job, step id or "job")


STATE = None
LOGF = None
SCHEME = "http"


def log_request(entry):
    with LOCK:
        if LOGF:
            LOGF.write(json.dumps(entry) + "\n")
            LOGF.flush()


def take_fault(endpoint):
    with LOCK:
        for f in STATE.faults:
            if f["endpoint"] == endpoint and f["count"] > 0:
                f["count"] -= 1
                return f["kind"]
    return None


EXPR_RE = re.compile(r"\$\{\{(.*?)\}\}", re.S)
STATUS_RE = re.compile(r"\b(success|failure|cancelled|always)\s*\(")


def tok(v):
    """A workflow value as the TemplateToken the server sends (runner-protocol.md section 9)."""
    if isinstance(v, bool):
        return {"type": 5, "bool": v}
    if isinstance(v, (int, float)):
        return {"type": 6, "num": v}
    if v is None:
        return {"type": 7}
    if isinstance(v, list):
        return {"type": 1, "seq": [tok(x) for x in v]}
    if isinstance(v, dict):
        return {"type": 2, "map": [{"Key": k, "Value": tok(x)} for k, x in v.items()]}
    parts = EXPR_RE.split(v)
    if len(parts) == 1:
        return v
    if len(parts) == 3 and parts[0] == "" and parts[2] == "":
        return {"type": 3, "expr": parts[1].strip()}
    fmt, args = "", []
    for i, p in enumerate(parts):
        if i % 2 == 0:
            fmt += p.replace("{", "{{").replace("}", "}}").replace("'", "''")
        else:
            fmt += "{%d}" % len(args)
            args.append(p.strip())
    return {"type": 3, "expr": "format('%s', %s)" % (fmt, ", ".join(args))}


def ctx(v):
    """A JSON value as PipelineContextData."""
    if isinstance(v, bool):
        return {"t": 3, "b": v}
    if isinstance(v, (int, float)):
        return {"t": 4, "n": v}
    if isinstance(v, dict):
        return {"t": 2, "d": [{"k": k, "v": ctx(x)} for k, x in v.items()]}
    if isinstance(v, list):
        return {"t": 1, "a": [ctx(x) for x in v]}
    return v


def condition(c):
    """The server's ConvertToIfCondition: implicit success() unless a status function is used."""
    if c is None or c == "":
        return "success()"
    if isinstance(c, bool):
        c = "true" if c else "false"
    c = str(c).strip()
    m = EXPR_RE.fullmatch(c)
    if m:
        c = m.group(1).strip()
    return c if STATUS_RE.search(c) else "success() && (%s)" % c


def message_step(i, st):
    ctxname = st.get("id", "__run" if i == 0 else "__run_%d" % (i + 1))
    step = {
        "type": "action",
        "id": str(uuid.uuid4()),
        "name": ctxname,
        "contextName": ctxname,
        "condition": condition(st.get("if")),
    }
    if "uses" in st:
        uses = st["uses"]
        if uses.startswith("./"):
            step["reference"] = {"type": "repository", "repositoryType": "self", "path": uses}
        elif uses.startswith("docker://"):
            step["reference"] = {"type": "containerRegistry", "image": uses[9:]}
        else:
            name, _, ref = uses.partition("@")
            parts = name.split("/")
            step["reference"] = {"type": "repository", "repositoryType": "GitHub",
                                 "name": "/".join(parts[:2]), "ref": ref,
                                 "path": "/".join(parts[2:])}
        if st.get("with"):
            step["inputs"] = tok(st["with"])
    else:
        inputs = {"script": st["run"]}
        if st.get("shell"):
            inputs["shell"] = st["shell"]
        if st.get("working-directory"):
            inputs["workingDirectory"] = st["working-directory"]
        step["reference"] = {"type": "script"}
        step["inputs"] = tok(inputs)
    if st.get("name"):
        step["displayNameToken"] = tok(st["name"])
    if st.get("env"):
        step["environment"] = tok(st["env"])
    if "continue-on-error" in st:
        step["continueOnError"] = tok(st["continue-on-error"])
    if "timeout-minutes" in st:
        step["timeoutInMinutes"] = tok(st["timeout-minutes"])
    return step


def job_message(base, job):
    spec = job["spec"]
    if spec.get("raw_steps") is not None:
        steps = spec["raw_steps"]
    else:
        steps = [message_step(i, st) for i, st in enumerate(job["steps"])]
    job["step_ids"] = [s.get("id") for s in steps if isinstance(s, dict)]
    data = {"CacheServerUrl": base + "/cache/", "GenerateIdTokenUrl": base + "/idtoken"}
    if not spec.get("classic"):
        data["ResultsServiceUrl"] = base + "/results/"
    data.update(spec.get("endpoint_data", {}))  # e.g. FeedStreamUrl (test_runner_feed.sh)
    github = {"repository": "acme/widgets", "event_name": "push", "ref": "refs/heads/main",
              "ref_name": "main", "sha": "0123456789abcdef0123456789abcdef01234567",
              "actor": "octocat", "repository_owner": "acme", "workflow": "CI",
              "run_id": "4242", "run_number": "7", "server_url": "https://github.com",
              "event": {"ref": "refs/heads/main", "head_commit": {"message": "fix things"}}}
    github.update(spec.get("github", {}))
    contexts = {"github": ctx(github)}
    for k in ("matrix", "needs", "strategy", "inputs", "vars"):
        if k in spec:
            contexts[k] = ctx(spec[k])
    variables = {
        "system.github.token": {"value": job["github_token"], "isSecret": True},
        "system.github.job": {"value": spec.get("job_id", "build")},
        "MY_SECRET": {"value": job["secret"], "isSecret": True},
    }
    for k, v in spec.get("secrets", {}).items():
        variables[k] = {"value": v, "isSecret": True}
    envs = []
    if spec.get("workflow_env"):
        envs.append(tok(spec["workflow_env"]))
    envs.append(tok(job.get("env", {})))
    msg = {
        "messageType": "RunnerJobRequest",
        "plan": {
            "scopeIdentifier": "00000000-0000-0000-0000-000000000000",
            "planType": "actions",
            "planId": job["plan_id"],
            "version": 9,
        },
        "timeline": {"id": job["timeline_id"]},
        "jobId": job["job_id"],
        "jobDisplayName": job["name"],
        "jobName": "__default",
        "requestId": job["request_id"],
        "resources": {
            "endpoints": [
                {
                    "name": "SystemVssConnection",
                    "url": base + "/run/",
                    "authorization": {
                        "scheme": "OAuth",
                        "parameters": {"AccessToken": job["token"]},
                    },
                    "data": data,
                }
            ]
        },
        "variables": variables,
        "mask": [{"type": "regex", "value": m} for m in spec.get("mask", [])],
        "contextData": contexts,
        "environmentVariables": envs,
        "steps": steps,
        "fileTable": [".github/workflows/ci.yml"],
    }
    if "outputs" in spec:
        msg["jobOutputs"] = tok(spec["outputs"])
    if "defaults" in spec:
        msg["defaults"] = [tok(spec["defaults"])]
    return msg


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    # ---- plumbing ----
    def body_bytes(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, code, obj=None, raw=None):
        data = raw if raw is not None else (b"" if obj is None else obj if isinstance(
            obj, bytes) else json.dumps(obj).encode())
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.status = code

    def auth(self):
        a = self.headers.get("Authorization") or ""
        scheme, _, value = a.partition(" ")
        return scheme, value

    def bearer_agent(self):
        scheme, tok = self.auth()
        with LOCK:
            ent = STATE.access_tokens.get(tok) if scheme == "Bearer" else None
            if not ent or ent[1] < time.time():
                return None
            return ent[0]

    def base(self):
        return "%s://127.0.0.1:%d" % (SCHEME, self.server.server_address[1])

    def handle_any(self, method):
        self.status = 0
        url = urllib.parse.urlsplit(self.path)
        self.q = dict(urllib.parse.parse_qsl(url.query))
        self.body = self.body_bytes()
        parts = [p for p in url.path.split("/") if p]
        endpoint, fn = self.route(method, parts)
        late = None
        fault = take_fault(endpoint) if endpoint else None
        entry = {
            "t": time.time(),
            "method": method,
            "path": url.path,
            "query": self.q,
            "endpoint": endpoint,
            "auth": self.auth()[0],
            "fault": fault,
        }
        entry["raw"] = self.body.decode("utf-8", "replace")
        if endpoint in ("completejob", "acquirejob", "renewjob", "agents.create", "session"):
            try:
                entry["body"] = json.loads(self.body or b"null")
            except ValueError:
                entry["body"] = None
        try:
            if fault == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault == "expire":
                aid = self.bearer_agent()
                with LOCK:
                    for sid in [s for s, a in STATE.sessions.items() if a == aid]:
                        del STATE.sessions[sid]
                self.reply(404, {"message": "session expired",
                                 "typeKey": "TaskAgentSessionExpiredException"})
                return
            if fault and fault.startswith("slow:"):
                time.sleep(float(fault[5:]))
            elif fault and fault.startswith("late:"):
                late = float(fault[5:])
            elif fault and fault.isdigit():
                self.reply(int(fault), {"message": "injected fault", "typeKey": "Injected",
                                        "source": "actions-run-service",
                                        "statusCode": int(fault)})
                return
            if not fn:
                self.reply(404, {"message": "no route for %s %s" % (method, url.path)})
                return
            code, obj = fn(parts)
            if late:
                time.sleep(late)
            self.reply(code, obj)
        finally:
            entry["status"] = self.status
            log_request(entry)

    def do_GET(self):
        if (self.headers.get("Upgrade") or "").lower() == "websocket":
            return self.websocket()
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")

    # ---- routing ----
    def route(self, m, p):
        if p[:2] == ["_control", "artifacts"]:
            return None, self.c_artifacts
        if p[:2] == ["twirp", ARTIFACT_SVC] and m == "POST" and len(p) == 3:
            return "artifact." + p[2], self.artifact_twirp
        if p[:1] == ["artifact-blob"] and m in ("PUT", "GET") and len(p) >= 2:
            return "artifact.blob." + m.lower(), self.artifact_blob
        hit = self.proto_route(m, p)  # test_runner_feed.sh's endpoints (below)
        if hit:
            return hit
        if p[:1] == ["_control"]:
            return None, {"job": self.c_job, "message": self.c_message, "fault": self.c_fault,
                          "state": self.c_state}.get(p[1] if len(p) > 1 else "")
        if p[:2] == ["api", "v3"]:
            rest = p[2:]
            if m == "POST" and rest == ["actions", "runner-registration"]:
                return "registration", self.registration
            if m == "POST" and rest == ["actions", "runners", "register"]:
                return "admin.register", self.admin_register
            if m == "GET" and rest[-2:] == ["actions", "runner-groups"]:
                return "admin.groups", self.admin_groups
            if m == "GET" and rest[-2:] == ["actions", "runners"]:
                return "admin.runners", self.admin_runners
            if m == "DELETE" and len(rest) >= 3 and rest[-3:-1] == ["actions", "runners"]:
                return "admin.delete", self.admin_delete
        if p[:1] == ["tenant"] and p[1:4] == ["_apis", "distributedtask", "pools"]:
            rest = p[4:]
            if m == "GET" and rest == []:
                return "pools", self.pools
            if len(rest) >= 2 and rest[1] == "agents":
                if m == "GET":
                    return "agents.list", self.agents_list
                if m == "POST":
                    return "agents.create", self.agents_create
                if m == "PUT":
                    return "agents.replace", self.agents_create
                if m == "DELETE":
                    return "agents.delete", self.agents_delete
            if len(rest) >= 2 and rest[1] == "sessions":
                return ("session", self.session_create) if m == "POST" else (
                    "deletesession", self.session_delete)
            if len(rest) >= 2 and rest[1] == "messages":
                return ("message", self.message_get) if m == "GET" else (
                    "deletemessage", self.message_delete)
        if p[:1] == ["broker"]:
            if p[1:] == ["session"]:
                return ("session", self.session_create) if m == "POST" else (
                    "deletesession", self.session_delete)
            if p[1:] == ["message"]:
                return "message", self.message_get
            if p[1:] == ["acknowledge"]:
                return "acknowledge", self.acknowledge
        if p[:1] == ["oauth"] and m == "POST":
            return "oauth", self.oauth
        if p[:1] == ["run"] and m == "POST" and len(p) == 2:
            return p[1], {"acquirejob": self.acquire, "renewjob": self.renew,
                          "completejob": self.complete}.get(p[1])
        if p[:1] == ["run"] and p[2:5] == ["_apis", "distributedtask", "hubs"] and \
                p[6:7] == ["plans"] and len(p) > 8:
            rest = p[8:]
            if m == "PATCH" and len(rest) == 3 and rest[0] == "timelines" and rest[2] == "records":
                return "timeline", self.timeline
            if m == "POST" and len(rest) == 5 and rest[0] == "timelines" and rest[4] == "feed":
                return "feed", self.feed
            if m == "POST" and rest == ["logs"]:
                return "logs.create", self.logs_create
            if m == "POST" and len(rest) == 2 and rest[0] == "logs":
                return "logs.upload", self.logs_upload
        if p[:2] == ["results", "twirp"] and m == "POST" and len(p) == 4:
            return "results." + p[3], self.results
        if p[:1] == ["blob"] and m == "PUT" and len(p) == 2:
            return "blob", self.blob
        return None, None

    # ---- registration ----
    def registration(self, p):
        scheme, tok = self.auth()
        body = json.loads(self.body or b"{}")
        event = body.get("runner_event")
        want = STATE.reg_token if event == "register" else STATE.remove_token
        if scheme != "RemoteAuth" or tok != want:
            return 404, {"message": "Not Found"}
        if not body.get("url", "").startswith(self.base() + "/"):
            return 404, {"message": "unknown url"}
        admin = "admin-" + uuid.uuid4().hex
        with LOCK:
            STATE.admin_tokens.add(admin)
        return 200, {"url": self.base() + "/tenant/", "token_schema": "OAuthAccessToken",
                     "token": admin, "use_v2_flow": STATE.args.v2}

    def admin_ok(self):
        scheme, tok = self.auth()
        return scheme == "Bearer" and tok in STATE.admin_tokens

    def pools(self, p):
        if not self.admin_ok():
            return 401, {"message": "unauthorized"}
        return 200, {"count": 2, "value": [
            {"id": 1, "name": "Default", "isHosted": False, "isInternal": True},
            {"id": 2, "name": "gpu", "isHosted": False, "isInternal": False}]}

    def agents_list(self, p):
        if not self.admin_ok():
            return 401, {"message": "unauthorized"}
        name = self.q.get("agentName")
        with LOCK:
            found = [self.agent_view(a) for a in STATE.agents.values()
                     if a["pool"] == int(p[4]) and (not name or a["name"] == name)]
        return 200, {"count": len(found), "value": found}

    def agent_view(self, a):
        props = {}
        if STATE.args.broker:
            props["ServerUrlV2"] = {"$type": "System.String", "$value": self.base() + "/broker/"}
            props["UseV2Flow"] = {"$type": "System.Boolean", "$value": True}
        props["RequireFipsCryptography"] = {"$type": "System.Boolean", "$value": STATE.args.fips}
        return {"id": a["id"], "name": a["name"], "version": a["version"],
                "ephemeral": a["ephemeral"], "disableUpdate": a["disableUpdate"],
                "labels": a["labels"], "status": "offline",
                "authorization": {"authorizationUrl": a["auth_url"], "clientId": a["client_id"],
                                  "publicKey": a["publicKey"]},
                "properties": props}

    def new_agent(self, body, pool, existing=None):
        pk = body.get("authorization", {}).get("publicKey", {})
        n = b64_int(pk["modulus"])
        if n.bit_length() < 2048:
            raise ValueError("key too small")
        with LOCK:
            aid = existing or STATE.next_agent
            if not existing:
                STATE.next_agent += 1
            cid = str(uuid.uuid4())
            a = {"id": aid, "name": body["name"], "pool": pool, "version": body.get("version"),
                 "ephemeral": bool(body.get("ephemeral")),
                 "disableUpdate": bool(body.get("disableUpdate")),
                 "labels": body.get("labels", []), "publicKey": pk, "n": n,
                 "e": b64_int(pk["exponent"]), "client_id": cid,
                 "auth_url": self.base() + "/oauth/token/" + cid}
            STATE.agents[aid] = a
            return a

    def agents_create(self, p):
        if not self.admin_ok():
            return 401, {"message": "unauthorized"}
        body = json.loads(self.body)
        pool = int(p[4])
        existing = int(p[6]) if len(p) > 6 else None
        with LOCK:
            clash = [a for a in STATE.agents.values() if a["name"] == body.get("name")]
        if clash and not existing:
            return 409, {"message": "Agent exists", "typeKey": "TaskAgentExistsException"}
        try:
            a = self.new_agent(body, pool, existing)
        except (KeyError, ValueError) as e:
            return 400, {"message": "bad agent: %s" % e}
        return 200, self.agent_view(a)

    def agents_delete(self, p):
        if not self.admin_ok():
            return 401, {"message": "unauthorized"}
        with LOCK:
            if STATE.agents.pop(int(p[6]), None) is None:
                return 404, {"message": "no such agent", "typeKey": "TaskAgentNotFoundException"}
        return 204, None

    # ---- runner-admin flow ----
    def remote_ok(self):
        scheme, tok = self.auth()
        return scheme == "RemoteAuth" and tok in (STATE.reg_token, STATE.remove_token)

    def admin_groups(self, p):
        if not self.remote_ok():
            return 401, {"message": "unauthorized"}
        return 200, {"total_count": 1, "runner_groups": [
            {"id": 1, "name": "Default", "default": True, "is_hosted": False}]}

    def admin_runners(self, p):
        if not self.remote_ok():
            return 401, {"message": "unauthorized"}
        name = self.q.get("name")
        with LOCK:
            found = [{"id": a["id"], "name": a["name"]} for a in STATE.agents.values()
                     if a["name"] == name]
        return 200, {"total_count": len(found), "runners": found}

    def admin_register(self, p):
        if not self.remote_ok():
            return 401, {"message": "unauthorized"}
        body = json.loads(self.body)
        xml = body["public_key"]
        mod = xml.split("<Modulus>")[1].split("</Modulus>")[0]
        exp = xml.split("<Exponent>")[1].split("</Exponent>")[0]
        conv = {"name": body["name"], "version": body.get("version"),
                "ephemeral": body.get("ephemeral"), "disableUpdate": body.get("updates_disabled"),
                "labels": body.get("labels"),
                "authorization": {"publicKey": {"modulus": mod, "exponent": exp}}}
        a = self.new_agent(conv, body.get("group_id", 1), body.get("runner_id"))
        return 200, {"id": a["id"], "name": a["name"], "authorization": {
            "authorization_url": a["auth_url"], "server_url": self.base() + "/broker/",
            "client_id": a["client_id"]}}

    def admin_delete(self, p):
        if not self.remote_ok():
            return 401, {"message": "unauthorized"}
        with LOCK:
            if STATE.agents.pop(int(p[-1]), None) is None:
                return 404, {"message": "no such runner"}
        return 204, None

    # ---- OAuth ----
    def oauth(self, p):
        form = dict(urllib.parse.parse_qsl(self.body.decode()))
        if form.get("grant_type") != "client_credentials" or form.get(
                "client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return 400, {"error": "invalid_request"}
        jwt = form.get("client_assertion", "")
        try:
            h64, c64, s64 = jwt.split(".")
            hdr = json.loads(b64url_dec(h64))
            claims = json.loads(b64url_dec(c64))
            sig = b64url_dec(s64)
        except ValueError:
            return 400, {"error": "invalid_client", "error_description": "malformed assertion"}
        with LOCK:
            agent = next((a for a in STATE.agents.values()
                          if a["client_id"] == claims.get("iss")), None)
        if not agent:
            return 400, {"error": "invalid_client", "error_description": "unknown client"}
        now = time.time()
        ok = (claims.get("sub") == agent["client_id"]
              and claims.get("aud") == self.base() + self.path
              and claims.get("nbf", now + 999) <= now + 300
              and claims.get("exp", 0) > now
              and claims.get("exp", 0) - claims.get("nbf", 0) <= 600
              and hdr.get("alg") == ("PS256" if STATE.args.fips else "RS256")
              and rsa_verify(agent["n"], agent["e"], (h64 + "." + c64).encode(), sig,
                             hdr.get("alg")))
        if not ok:
            return 400, {"error": "invalid_client",
                         "error_description": "assertion rejected. Current server time is %d" % now}
        tok = "at-" + uuid.uuid4().hex
        with LOCK:
            STATE.access_tokens[tok] = (agent["id"], now + STATE.args.token_ttl)
        return 200, {"access_token": tok, "token_type": "JWT",
                     "expires_in": STATE.args.token_ttl}

    # ---- sessions and messages ----
    def session_create(self, p):
        aid = self.bearer_agent()
        if aid is None:
            return 401, {"message": "unauthorized"}
        body = json.loads(self.body or b"{}")
        with LOCK:
            if aid in STATE.sessions.values():
                STATE.session_conflicts += 1
                return 409, {"message": "session exists",
                             "typeKey": "TaskAgentSessionConflictException"}
            sid = str(uuid.uuid4())
            STATE.sessions[sid] = aid
        resp = {"sessionId": sid, "ownerName": body.get("ownerName"), "agent": body.get("agent"),
                "useFipsEncryption": False}
        return 200, resp

    def session_delete(self, p):
        aid = self.bearer_agent()
        if aid is None:
            return 401, {"message": "unauthorized"}
        sid = p[-1] if p[0] == "tenant" else self.q.get("sessionId")
        with LOCK:
            if p[0] == "broker":
                sid = next((s for s, a in STATE.sessions.items() if a == aid), None)
            if STATE.sessions.pop(sid, None) is None:
                return 404, {"message": "no session"}
        return 204, None

    def message_get(self, p):
        aid = self.bearer_agent()
        if aid is None:
            return 401, {"message": "unauthorized"}
        sid = self.q.get("sessionId")
        with LOCK:
            if STATE.sessions.get(sid) != aid:
                return 404, {"message": "session expired",
                             "typeKey": "TaskAgentSessionExpiredException"}
        if self.q.get("disableUpdate") != "true":
            return 400, {"message": "disableUpdate=true expected"}
        deadline = time.time() + STATE.args.poll_hold
        with COND:
            while True:
                pending = [m for m in STATE.messages if not m.get("taken")]
                if pending:
                    m = pending[0]
                    if p[0] == "broker":
                        m["taken"] = True  # no delete on the broker
                    return 200, {k: m[k] for k in ("messageId", "messageType", "iv", "body")}
                left = deadline - time.time()
                if left <= 0:
                    return 202, None
                COND.wait(left)

    def message_delete(self, p):
        aid = self.bearer_agent()
        if aid is None:
            return 401, {"message": "unauthorized"}
        mid = int(p[-1])
        with LOCK:
            before = len(STATE.messages)
            STATE.messages = [m for m in STATE.messages if m["messageId"] != mid]
            gone = before != len(STATE.messages)
        return (204, None) if gone else (404, {"message": "no message"})

    def acknowledge(self, p):
        if self.bearer_agent() is None:
            return 401, {"message": "unauthorized"}
        return 200, {}

    # ---- run service ----
    def acquire(self, p):
        if self.bearer_agent() is None:
            return 401, {"message": "unauthorized"}
        body = json.loads(self.body or b"{}")
        rid = body.get("jobMessageId")
        with LOCK:
            job = STATE.jobs.get(rid)
            if not job:
                return 404, {"source": "actions-run-service", "statusCode": 404,
                             "errorMessage": "no such job"}
            if job["acquired"]:
                return 409, {"source": "actions-run-service", "statusCode": 409,
                             "errorMessage": "already acquired"}
            job["acquired"] = True
        return 200, job_message(self.base(), job)

    def job_of(self):
        scheme, tok = self.auth()
        with LOCK:
            rid = STATE.job_tokens.get(tok) if scheme == "Bearer" else None
            return STATE.jobs.get(rid)

    def renew(self, p):
        job = self.job_of()
        body = json.loads(self.body or b"{}")
        if not job or body.get("jobId") != job["job_id"] or body.get("planId") != job["plan_id"]:
            return 404, {"source": "actions-run-service", "statusCode": 404,
                         "errorMessage": "job not found"}
        with LOCK:
            job["renewals"] += 1
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
        return 200, {"lockedUntil": until}

    def complete(self, p):
        job = self.job_of()
        body = json.loads(self.body or b"{}")
        if not job or body.get("jobId") != job["job_id"] or body.get("planId") != job["plan_id"]:
            return 404, {"source": "actions-run-service", "statusCode": 404,
                         "errorMessage": "job not found"}
        with LOCK:
            if job["completed"] is not None:
                # A repeated completion with the same result is accepted once more
                # without effect; a different result is a conflict.
                if job["completed"] == body.get("conclusion"):
                    return 200, {}
                return 409, {"source": "actions-run-service", "statusCode": 409,
                             "errorMessage": "job already completed"}
            job["completed"] = body.get("conclusion")
            STATE.completions.append({"request_id": job["request_id"], "body": body})
        return 200, {}

    # ---- job reports ----
    def reports_of(self):
        job = self.job_of()
        if not job:
            return None, (401, {"message": "not a job token"})
        return job, None

    def timeline(self, p):
        job, err = self.reports_of()
        if err:
            return err
        body = json.loads(self.body or b"{}")
        with LOCK:
            for rec in body.get("value", []):
                job["timeline"].setdefault(rec["id"], {}).update(rec)
        return 200, {"count": len(body.get("value", [])), "value": body.get("value", [])}

    def feed(self, p):
        job, err = self.reports_of()
        if err:
            return err
        body = json.loads(self.body or b"{}")
        with LOCK:
            job["feed"].append({"t": time.time(), "stepId": body.get("stepId"),
                                "startLine": body.get("startLine"), "lines": body.get("value", [])})
        return 200, {}

    def logs_create(self, p):
        job, err = self.reports_of()
        if err:
            return err
        body = json.loads(self.body or b"{}")
        with LOCK:
            lid = len(job["logs"]) + 1
            job["logs"][str(lid)] = {"path": body.get("path"), "text": ""}
        return 200, {"id": lid, "path": body.get("path")}

    def logs_upload(self, p):
        job, err = self.reports_of()
        if err:
            return err
        with LOCK:
            ent = job["logs"].get(p[-1])
            if ent is None:
                return 404, {"message": "no such log"}
            ent["text"] += self.body.decode("utf-8", "replace")
        return 200, {"id": int(p[-1])}

    def results(self, p):
        job, err = self.reports_of()
        if err:
            return err
        body = json.loads(self.body or b"{}")
        method = p[3]
        if body.get("workflow_job_run_backend_id") != job["job_id"] or \
                body.get("workflow_run_backend_id") != job["plan_id"]:
            return 400, {"msg": "wrong backend ids"}
        with LOCK:
            if method == "WorkflowStepsUpdate":
                job["change_orders"].append(body.get("change_order"))
                for st in body.get("steps", []):
                    job["results_steps"].setdefault(st["external_id"], {}).update(st)
                return 200, {"ok": True}
            if method in ("GetStepLogsSignedBlobURL", "GetJobLogsSignedBlobURL"):
                bid = uuid.uuid4().hex
                key = body.get("step_backend_id") or "job"
                STATE.blobs[bid] = (job, key)
                return 200, {"logs_url": self.base() + "/blob/" + bid + "?sig=x",
                             "blob_storage_type": "BLOB_STORAGE_TYPE_AZURE",
                             "soft_size_limit": 1 << 30}
            if method in ("CreateStepLogsMetadata", "CreateJobLogsMetadata"):
                key = body.get("step_backend_id") or "job"
                job["log_meta"][key] = body.get("line_count")
                return 200, {"ok": True}
        return 404, {"msg": "unknown method"}

    def blob(self, p):
        with LOCK:
            ent = STATE.blobs.get(p[1])
            if not ent:
                return 404, {"message": "no such blob"}
            if self.headers.get("x-ms-blob-type") != "BlockBlob":
                return 400, {"message": "x-ms-blob-type missing"}
            job, key = ent
            job["result_logs"][key] = self.body.decode("utf-8", "replace")
        return 201, None

    # ---- artifacts: the results service's ArtifactService and its blob storage ----
    def artifact_err(self, code, twirp_code, msg):
        return code, {"code": twirp_code, "msg": msg}

    def artifact_twirp(self, p):
        job = self.job_of()
        if not job:
            return self.artifact_err(401, "unauthenticated", "not a job token")
        try:
            body = json.loads(self.body or b"{}")
        except ValueError:
            return self.artifact_err(400, "malformed", "the body is not JSON")
        method, run = p[2], job["plan_id"]
        if body.get("workflow_run_backend_id") != run:
            return self.artifact_err(400, "invalid_argument", "wrong workflow_run_backend_id")
        if method != "GetSignedArtifactURL" and \
                body.get("workflow_job_run_backend_id") != job["job_id"]:
            return self.artifact_err(400, "invalid_argument", "wrong workflow_job_run_backend_id")
        fn = {"CreateArtifact": artifact_create, "FinalizeArtifact": artifact_finalize,
              "ListArtifacts": artifact_list, "GetSignedArtifactURL": artifact_signed_url,
              "DeleteArtifact": artifact_delete}.get(method)
        if not fn:
            return self.artifact_err(404, "bad_route", "no method " + method)
        with LOCK:
            ARTIFACTS["calls"].append({"method": method, "job": job["job_id"], "body": body})
            return fn(self.base(), job, body)

    def artifact_blob(self, p):
        with LOCK:
            art = ARTIFACTS["blobs"].get(p[1])
            if not art:
                return 404, {"message": "no such blob"}
            if self.command == "GET":
                if not art["finalized"] or self.q.get("sig") != art["get_sig"]:
                    return 403, {"message": "bad signature"}
                return 200, art["blob"]
            if art["finalized"] or self.q.get("sig") != art["put_sig"]:
                return 403, {"message": "bad signature"}
            comp = self.q.get("comp")
            art["puts"].append({"comp": comp, "len": len(self.body),
                                "blockid": self.q.get("blockid"),
                                "version": self.headers.get("x-ms-version")})
            if comp == "block":
                if not self.q.get("blockid"):
                    return 400, {"message": "blockid missing"}
                art["blocks"][self.q["blockid"]] = self.body
            elif comp == "blocklist":
                ids = re.findall(r"<(?:Latest|Committed|Uncommitted)>([^<]*)</",
                                 self.body.decode("utf-8", "replace"))
                if any(i not in art["blocks"] for i in ids):
                    return 400, {"message": "InvalidBlockList"}
                art["blob"] = b"".join(art["blocks"][i] for i in ids)
                art["block_ids"] = ids
                art["content_type"] = self.headers.get("x-ms-blob-content-type")
            elif self.headers.get("x-ms-blob-type") == "BlockBlob":
                art["blob"] = self.body
            else:
                return 400, {"message": "x-ms-blob-type missing"}
        return 201, None

    def c_artifacts(self, p):
        with LOCK:
            if "blob" in self.q:
                for art in ARTIFACTS["blobs"].values():
                    if str(art["id"]) == self.q["blob"]:
                        return 200, art["blob"] or b""
                return 404, {"message": "no such artifact"}
            return 200, {"artifacts": [artifact_view(a) for a in ARTIFACTS["blobs"].values()],
                         "calls": ARTIFACTS["calls"]}

    # ---- control ----
    def c_job(self, p):
        spec = json.loads(self.body or b"{}")
        with COND:
            rid = str(STATE.next_message + 1000)
            job = {"request_id": int(rid), "runner_request_id": rid, "name": spec.get("name", "build"),
                   "steps": spec.get("steps", []), "env": spec.get("env", {}),
                   "plan_id": str(uuid.uuid4()), "job_id": str(uuid.uuid4()),
                   "timeline_id": str(uuid.uuid4()), "token": "jobtok-" + uuid.uuid4().hex,
                   "github_token": "ghs_" + uuid.uuid4().hex, "secret": spec.get("secret", "s3cr3t-" + uuid.uuid4().hex[:8]),
                   "acquired": False, "completed": None, "renewals": 0, "spec": spec,
                   "timeline": {}, "feed": [], "logs": {}, "results_steps": {},
                   "change_orders": [], "result_logs": {}, "log_meta": {}}
            STATE.jobs[rid] = job
            artifact_job_setup(job, spec)
            STATE.job_tokens[job["token"]] = rid
            body = {"id": job["job_id"], "runner_request_id": rid,
                    "run_service_url": self.base() + "/run/", "should_acknowledge": True,
                    "billing_owner_id": "o1"}
            self.enqueue("RunnerJobRequest", body)
        return 200, {"runner_request_id": rid, "job_id": job["job_id"], "secret": job["secret"],
                     "github_token": job["github_token"], "job_token": job["token"]}

    def enqueue(self, mtype, body):
        with COND:
            mid = STATE.next_message
            STATE.next_message += 1
            STATE.messages.append({"messageId": mid, "messageType": mtype, "iv": None,
                                   "body": json.dumps(body) if body is not None else ""})
            COND.notify_all()
            return mid

    def c_message(self, p):
        spec = json.loads(self.body or b"{}")
        return 200, {"messageId": self.enqueue(spec["type"], spec.get("body"))}

    def c_fault(self, p):
        spec = json.loads(self.body or b"{}")
        with LOCK:
            STATE.faults.append({"endpoint": spec["endpoint"], "kind": str(spec["kind"]),
                                 "count": int(spec.get("count", 1))})
        return 200, {}

    def c_state(self, p):
        with LOCK:
            return 200, {
                "agents": [{k: a[k] for k in ("id", "name", "pool", "ephemeral", "disableUpdate",
                                              "labels", "version")}
                           for a in STATE.agents.values()],
                "sessions": len(STATE.sessions),
                "session_conflicts": STATE.session_conflicts,
                "pending_messages": len(STATE.messages),
                "completions": STATE.completions,
                "jobs": [{k: j[k] for k in ("runner_request_id", "acquired", "completed",
                                            "renewals", "timeline", "feed", "logs",
                                            "results_steps", "change_orders", "result_logs",
                                            "log_meta")}
                         for j in STATE.jobs.values()],
                "faults_left": [f for f in STATE.faults if f["count"] > 0],
            }

    # ---- test_runner_feed.sh: live console websocket, classic jobs, summaries ----
    #   GET  ws://.../feedstream/...   RFC 6455 server (stdlib): Bearer job token, frames must
    #                                  be masked; job spec "ws_mode": "ok" (default), "refuse"
    #                                  (403 on the upgrade), "drop" (close after the first
    #                                  message), "ping" (ping after the first message)
    #   POST /_control/pipeline_job    as /_control/job, delivered as PipelineAgentJobRequest
    #                                  (classic: the body is the job; spec "plan_version")
    #   PATCH .../pools/{p}/jobrequests/{id}?lockToken=   renew, or finish when "result" is set
    #   POST {P}/events                JobCompleted plan event
    #   PUT  {P}/timelines/{tl}/records/{rec}/attachments/{type}/{name}
    #   twirp GetStepSummarySignedBlobURL / CreateStepSummaryMetadata
    #   GET  /_control/proto           per job: ws (messages, masked, t), ws_connections,
    #                                  attachments, summary_meta, jobrequest_renewals, events
    def proto_route(self, m, p):
        if p[:2] == ["_control", "pipeline_job"]:
            return None, self.c_pipeline_job
        if p[:2] == ["_control", "proto"]:
            return None, self.c_proto
        if p[:1] == ["tenant"] and p[1:4] == ["_apis", "distributedtask", "pools"] and \
                len(p) == 7 and p[5] == "jobrequests" and m == "PATCH":
            return "jobrequest", self.jobrequest
        if p[:1] == ["run"] and p[2:5] == ["_apis", "distributedtask", "hubs"] and \
                p[6:7] == ["plans"] and len(p) > 8:
            rest = p[8:]
            if m == "POST" and rest == ["events"]:
                return "planevent", self.plan_event
            if m == "PUT" and len(rest) == 7 and rest[0] == "timelines" and \
                    rest[4] == "attachments":
                return "attachment", self.attachment
        if p[:2] == ["results", "twirp"] and m == "POST" and len(p) == 4 and \
                p[3] in ("GetStepSummarySignedBlobURL", "CreateStepSummaryMetadata"):
            return "results." + p[3], self.summary_results
        return None

    def proto(self, job):
        return job.setdefault("proto", {"ws": [], "ws_connections": 0, "attachments": [],
                                        "summary_meta": {}, "jobrequest_renewals": 0,
                                        "events": []})

    def c_pipeline_job(self, p):
        spec = json.loads(self.body or b"{}")
        spec["classic"] = True
        self.body = json.dumps(spec).encode()
        with COND:
            code, res = self.c_job(p)  # queues a RunnerJobRequest: turn it into the job itself
            job = STATE.jobs[res["runner_request_id"]]
            job["acquired"] = True
            msg = job_message(self.base(), job)
            msg["messageType"] = "PipelineAgentJobRequest"
            msg["plan"]["version"] = spec.get("plan_version", 9)
            msg["resources"]["endpoints"][0]["url"] = self.base() + "/run/"
            for m in STATE.messages:
                if m["messageType"] == "RunnerJobRequest" and \
                        json.loads(m["body"])["runner_request_id"] == res["runner_request_id"]:
                    m["messageType"] = "PipelineAgentJobRequest"
                    m["body"] = json.dumps(msg)
            self.proto(job)
        return code, res

    def c_proto(self, p):
        with LOCK:
            return 200, {j["runner_request_id"]: j.get("proto", {}) for j in STATE.jobs.values()}

    def job_by_request(self, rid):
        with LOCK:
            for j in STATE.jobs.values():
                if str(j["request_id"]) == str(rid):
                    return j
        return None

    def record_completion(self, job, body):
        """Exactly once: a repeat with the same result is accepted without effect."""
        with LOCK:
            if job["completed"] is not None:
                return (200, {}) if job["completed"] == body["conclusion"] else \
                    (409, {"message": "job already completed"})
            job["completed"] = body["conclusion"]
            STATE.completions.append({"request_id": job["request_id"], "body": body,
                                      "t": time.time()})
        return 200, {}

    def jobrequest(self, p):
        if self.bearer_agent() is None:
            return 401, {"message": "unauthorized"}
        if self.q.get("lockToken") != "00000000-0000-0000-0000-000000000000":
            return 400, {"message": "lockToken expected"}
        job = self.job_by_request(p[6])
        body = json.loads(self.body or b"{}")
        if not job or str(body.get("requestId")) != p[6]:
            return 404, {"message": "job request not found",
                         "typeKey": "TaskAgentJobNotFoundException"}
        if body.get("result"):
            return self.record_completion(job, {"conclusion": body["result"], "via": "finish",
                                                "finishTime": body.get("finishTime"),
                                                "stepResults": []})
        with LOCK:
            self.proto(job)["jobrequest_renewals"] += 1
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
        return 200, {"requestId": job["request_id"], "lockedUntil": until}

    def plan_event(self, p):
        job, err = self.reports_of()
        if err:
            return err
        body = json.loads(self.body or b"{}")
        with LOCK:
            self.proto(job)["events"].append(body)
        if body.get("name") != "JobCompleted" or body.get("jobId") != job["job_id"] or \
                p[7] != job["plan_id"]:
            return 400, {"message": "unexpected event"}
        return self.record_completion(job, {"conclusion": body.get("result"), "via": "event",
                                            "outputs": body.get("outputs", {}),
                                            "requestId": body.get("requestId"),
                                            "stepResults": []})

    def attachment(self, p):
        job, err = self.reports_of()
        if err:
            return err
        rest = p[8:]
        with LOCK:
            self.proto(job)["attachments"].append({
                "record": rest[3], "type": rest[5], "name": rest[6],
                "content_type": self.headers.get("Content-Type"),
                "text": self.body.decode("utf-8", "replace")})
        return 200, {"type": rest[5], "name": rest[6]}

    def summary_results(self, p):
        job, err = self.reports_of()
        if err:
            return err
        body = json.loads(self.body or b"{}")
        if body.get("workflow_job_run_backend_id") != job["job_id"] or \
                body.get("workflow_run_backend_id") != job["plan_id"] or \
                not body.get("step_backend_id"):
            return 400, {"msg": "wrong backend ids"}
        step = body["step_backend_id"]
        with LOCK:
            if p[3] == "GetStepSummarySignedBlobURL":
                bid = uuid.uuid4().hex
                STATE.blobs[bid] = (job, "summary:" + step)
                return 200, {"summary_url": self.base() + "/blob/" + bid + "?sig=s",
                             "soft_size_limit": 1 << 20,
                             "blob_storage_type": "BLOB_STORAGE_TYPE_AZURE"}
            self.proto(job)["summary_meta"][step] = {"size": body.get("size"),
                                                     "uploaded_at": body.get("uploaded_at")}
        return 200, {"ok": True}

    # the websocket itself (RFC 6455, server side)
    def ws_read_frame(self):
        hdr = self.rfile.read(2)
        if len(hdr) < 2:
            return None
        fin, op = hdr[0] & 0x80, hdr[0] & 0x0F
        masked, n = hdr[1] & 0x80, hdr[1] & 0x7F
        if n == 126:
            n = int.from_bytes(self.rfile.read(2), "big")
        elif n == 127:
            n = int.from_bytes(self.rfile.read(8), "big")
        key = self.rfile.read(4) if masked else b""
        data = bytearray(self.rfile.read(n))
        if masked:
            for i in range(len(data)):
                data[i] ^= key[i & 3]
        return bool(fin), op, bool(masked), bytes(data)

    def ws_send(self, op, data=b""):
        hdr = bytes([0x80 | op])
        hdr += bytes([len(data)]) if len(data) < 126 else bytes([126]) + len(data).to_bytes(2, "big")
        self.wfile.write(hdr + data)
        self.wfile.flush()

    def websocket(self):
        self.close_connection = True
        job = self.job_of()
        entry = {"t": time.time(), "method": "GET", "path": self.path, "endpoint": "feedstream",
                 "auth": self.auth()[0], "raw": "", "query": {}, "fault": None}
        mode = job["spec"].get("ws_mode", "ok") if job else None
        key = self.headers.get("Sec-WebSocket-Key")
        if not job or mode == "refuse" or not key or \
                self.headers.get("Sec-WebSocket-Version") != "13":
            entry["status"] = 401 if not job else 403
            self.reply(entry["status"], {"message": "no websocket for you"})
            log_request(entry)
            return
        acc = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", acc)
        self.end_headers()
        self.wfile.flush()
        entry["status"] = 101
        log_request(entry)
        with LOCK:
            self.proto(job)["ws_connections"] += 1
        msg, parts_masked, nmsg = b"", True, 0
        while True:
            fr = self.ws_read_frame()
            if fr is None:
                return
            fin, op, masked, data = fr
            parts_masked = parts_masked and masked
            if op == 0x8:
                self.ws_send(0x8, data[:2])
                return
            if op == 0xA:
                with LOCK:
                    self.proto(job)["ws"].append({"t": time.time(), "pong": data.decode()})
                continue
            if op == 0x9:
                self.ws_send(0xA, data)
                continue
            msg += data
            if not fin:
                continue
            try:
                body = json.loads(msg.decode())
            except ValueError:
                body = {"unparsable": msg.decode("utf-8", "replace")}
            with LOCK:
                self.proto(job)["ws"].append({"t": time.time(), "masked": parts_masked,
                                              "body": body})
            msg, parts_masked, nmsg = b"", True, nmsg + 1
            if nmsg == 1 and mode == "drop":
                self.connection.shutdown(2)
                return
            if nmsg == 1 and mode == "ping":
                self.ws_send(0x9, b"hb")


# ---- artifacts (results service ArtifactService) ----
ARTIFACT_SVC = "github.actions.results.api.v1.ArtifactService"
ARTIFACTS = {"next_id": 1, "blobs": {}, "calls": []}  # blob id -> artifact


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def artifact_job_setup(job, spec):
    """The job keys run_backend_id and jwt (see the top of this file)."""
    if spec.get("run_backend_id"):
        job["plan_id"] = spec["run_backend_id"]
    if spec.get("jwt"):
        scp = spec["jwt"] if isinstance(spec["jwt"], str) else \
            "Actions.GenericRead:00000000-0000-0000-0000-000000000000 Actions.Results:%s:%s" % (
                job["plan_id"], job["job_id"])
        claims = {"scp": scp, "nbf": int(time.time()) - 60, "exp": int(time.time()) + 3600,
                  "iss": "vstoken.actions.githubusercontent.com", "nonce": uuid.uuid4().hex}
        job["token"] = "%s.%s.%s" % (b64url(b'{"typ":"JWT","alg":"RS256","x5t":"fake"}'),
                                     b64url(json.dumps(claims).encode()),
                                     b64url(uuid.uuid4().bytes * 8))


def artifact_of(run, name):
    for a in ARTIFACTS["blobs"].values():
        if a["run"] == run and a["name"] == name and a["finalized"]:
            return a
    return None


def artifact_view(a):
    blob = a["blob"]
    return {"id": a["id"], "name": a["name"], "run": a["run"], "job": a["job"],
            "finalized": a["finalized"], "size": a["size"], "hash": a["hash"],
            "mime_type": a["mime_type"], "version": a["version"], "expires_at": a["expires_at"],
            "blob_size": None if blob is None else len(blob),
            "blob_sha256": None if blob is None else hashlib.sha256(blob).hexdigest(),
            "puts": a["puts"], "block_ids": a.get("block_ids"),
            "content_type": a.get("content_type")}


def artifact_create(base, job, body):
    name = body.get("name") or ""
    if not name or any(c in name for c in '":<>|*?\\/\r\n'):
        return 400, {"code": "invalid_argument", "msg": "invalid artifact name"}
    if artifact_of(job["plan_id"], name):
        return 409, {"code": "already_exists",
                     "msg": "an artifact with this name already exists on the workflow run"}
    bid = uuid.uuid4().hex
    art = {"id": ARTIFACTS["next_id"], "name": name, "run": job["plan_id"], "job": job["job_id"],
           "finalized": False, "size": None, "hash": None, "blob": None, "blocks": {},
           "puts": [], "mime_type": body.get("mime_type"), "version": body.get("version"),
           "expires_at": body.get("expires_at"), "put_sig": uuid.uuid4().hex,
           "get_sig": uuid.uuid4().hex, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime())}
    ARTIFACTS["next_id"] += 1
    ARTIFACTS["blobs"][bid] = art
    return 200, {"ok": True, "signed_upload_url": "%s/artifact-blob/%s?sig=%s&se=2099-01-01" % (
        base, bid, art["put_sig"])}


def artifact_finalize(base, job, body):
    art = None
    for a in ARTIFACTS["blobs"].values():
        if a["run"] == job["plan_id"] and a["name"] == body.get("name") and not a["finalized"]:
            art = a
    if not art:
        return 404, {"code": "not_found", "msg": "no artifact upload of this name"}
    if art["blob"] is None:
        return 400, {"code": "failed_precondition", "msg": "nothing was uploaded"}
    want_hash = "sha256:" + hashlib.sha256(art["blob"]).hexdigest()
    if str(body.get("size")) != str(len(art["blob"])) or body.get("hash") != want_hash:
        return 400, {"code": "invalid_argument", "msg": "size or hash does not match the blob"}
    art.update(finalized=True, size=len(art["blob"]), hash=want_hash)
    return 200, {"ok": True, "artifact_id": str(art["id"])}


def artifact_list(base, job, body):
    out = []
    for a in ARTIFACTS["blobs"].values():
        if a["run"] != job["plan_id"] or not a["finalized"]:
            continue
        if body.get("name_filter") is not None and a["name"] != body["name_filter"]:
            continue
        if body.get("id_filter") is not None and str(a["id"]) != str(body["id_filter"]):
            continue
        out.append({"workflow_run_backend_id": a["run"], "workflow_job_run_backend_id": a["job"],
                    "database_id": str(a["id"]), "name": a["name"], "size": str(a["size"]),
                    "created_at": a["created_at"], "digest": a["hash"]})
    return 200, {"artifacts": out}


def artifact_signed_url(base, job, body):
    art = artifact_of(job["plan_id"], body.get("name"))
    if not art or art["job"] != body.get("workflow_job_run_backend_id"):
        return 404, {"code": "not_found", "msg": "artifact not found"}
    bid = [k for k, v in ARTIFACTS["blobs"].items() if v is art][0]
    return 200, {"signed_url": "%s/artifact-blob/%s/%s.zip?sig=%s" % (
        base, bid, urllib.parse.quote(art["name"]), art["get_sig"])}


def artifact_delete(base, job, body):
    art = artifact_of(job["plan_id"], body.get("name"))
    if not art:
        return 404, {"code": "not_found", "msg": "artifact not found"}
    for k in [k for k, v in ARTIFACTS["blobs"].items() if v is art]:
        del ARTIFACTS["blobs"][k]
    return 200, {"ok": True, "artifact_id": str(art["id"])}


# ---- remote actions: download info (launch service and classic) and tarballs ----
# Repositories of actions come from POST /_control/action_repo {"name": "owner/repo",
# "refs": ["v1", ...], "files": {"path": "text"}, "links": {"path": "target"},
# "evil": [{"name": "member" ("!name": without the top directory), "type": "file"|"symlink"|"hardlink", "target": ".."}]};
# the answer maps each ref to its commit SHA. Every job message gets the variable
# system.github.launch_endpoint; job keys message_type (e.g. "PipelineAgentJobRequest" for
# the classic actiondownloadinfo) and variables (extra plain variables) change the message.
# GET /_control/actions lists what the action endpoints saw (bodies, whether the tokens were
# right). A tarball URL answers 302 to a signed /_codeload/ URL, as api.github.com does.
import io
import tarfile

ACTIONS = {"repos": {}, "tokens": {}, "signed": {}, "events": []}


def actions_event(**kw):
    with LOCK:
        ACTIONS["events"].append(kw)


def action_tarball(repo, sha):
    top = "%s-%s" % (repo["name"].replace("/", "-"), sha[:7])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT,
                      pax_headers={"comment": sha}) as tf:
        d = tarfile.TarInfo(top)
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(d)
        for path, text in sorted(repo.get("files", {}).items()):
            data = text.encode()
            ti = tarfile.TarInfo(top + "/" + path)
            ti.size, ti.mode = len(data), 0o755 if path.endswith(".sh") else 0o644
            tf.addfile(ti, io.BytesIO(data))
        for path, target in sorted(repo.get("links", {}).items()):
            ti = tarfile.TarInfo(top + "/" + path)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            tf.addfile(ti)
        for e in repo.get("evil", []):
            name = e["name"]
            if name.startswith("!"):  # as it is: no top-level directory in front
                name = name[1:]
            elif not name.startswith("/"):
                name = top + "/" + name
            ti = tarfile.TarInfo(name)
            if e["type"] == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e["target"]
                tf.addfile(ti)
            elif e["type"] == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, e["target"]
                tf.addfile(ti)
            else:
                data = e.get("text", "evil\n").encode()
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def actions_resolve(handler, launch):
    job = handler.job_of()
    body = json.loads(handler.body or b"{}")
    found, errors = {}, {}
    for a in body.get("actions") or []:
        name = a.get("action" if launch else "nameWithOwner", "")
        ref = a.get("version" if launch else "ref", "")
        key = "%s@%s" % (name, ref)
        with LOCK:
            repo = ACTIONS["repos"].get(name)
            sha = repo["refs"].get(ref) if repo else None
            if sha:
                tok = "dltok-" + uuid.uuid4().hex
                ACTIONS["tokens"][tok] = (name, sha)
        if not sha:
            errors[key] = {"message": "Unable to resolve action `%s`, not found" % key}
        elif launch:
            found[key] = {"name": name, "resolved_name": name, "resolved_sha": sha,
                          "version": ref, "tar_url": "%s/tarball/%s/%s" % (handler.base(), name, sha),
                          "zip_url": "%s/zipball/%s/%s" % (handler.base(), name, sha),
                          "authentication": {"token": tok, "expires_at": "2099-01-01T00:00:00Z"},
                          "package_details": None}
        else:
            found[key] = {"nameWithOwner": name, "resolvedNameWithOwner": name,
                          "resolvedSha": sha, "ref": ref,
                          "tarballUrl": "%s/tarball/%s/%s" % (handler.base(), name, sha),
                          "zipballUrl": "%s/zipball/%s/%s" % (handler.base(), name, sha),
                          "authentication": {"token": tok, "expiresAt": "2099-01-01T00:00:00Z"}}
    actions_event(kind="launch" if launch else "classic", body=body, job_auth=job is not None,
                  accept=handler.headers.get("Accept"), found=sorted(found), errors=sorted(errors))
    if job is None:
        return 401, {"message": "unauthorized"}
    if errors and launch:
        return 422, {"errors": errors}
    if errors:
        return 400, {"message": "; ".join(e["message"] for e in errors.values()),
                     "typeKey": "ActionNotFoundException"}
    return 200, {"actions": found}


class ActionsRedirect:
    def __init__(self, location):
        self.location = location


class ActionsRaw:
    def __init__(self, data):
        self.data = data


def actions_tarball(handler, parts):
    name, sha = "/".join(parts[1:3]), parts[3]
    scheme, value = handler.auth()
    tok = None
    if scheme == "Basic":
        user, _, tok = base64.b64decode(value).decode().partition(":")
        tok = tok if user == "x-access-token" else None
    elif scheme == "Bearer":
        tok = value
    with LOCK:
        ok = ACTIONS["tokens"].get(tok) == (name, sha)
        repo = ACTIONS["repos"].get(name)
        sig = uuid.uuid4().hex
        if ok:
            ACTIONS["signed"][sig] = (name, sha)
    actions_event(kind="tarball", name=name, sha=sha, scheme=scheme, token_ok=ok)
    if not ok or not repo:
        return 404, {"message": "Not Found"}
    return 302, ActionsRedirect("/_codeload/%s/%s?sig=%s" % (name, sha, sig))


def actions_codeload(handler, parts):
    name, sha = "/".join(parts[1:3]), parts[3]
    with LOCK:
        ok = ACTIONS["signed"].pop(handler.q.get("sig"), None) == (name, sha)
        repo = ACTIONS["repos"].get(name)
    actions_event(kind="codeload", name=name, sha=sha, signed=ok)
    if not ok or not repo:
        return 404, {"message": "Not Found"}
    return 200, ActionsRaw(action_tarball(repo, sha))


def actions_control_repo(handler, parts):
    spec = json.loads(handler.body or b"{}")
    refs = {}
    for ref in spec.get("refs", ["v1"]):
        h = hashlib.sha1(("%s@%s:%s" % (spec["name"], ref, json.dumps(spec, sort_keys=True)))
                         .encode()).hexdigest()
        refs[ref] = h
    with LOCK:
        ACTIONS["repos"][spec["name"]] = dict(spec, refs=refs)
    return 200, refs


def actions_route(handler, m, p):
    if p[:2] == ["_control", "action_repo"] and m == "POST":
        return None, lambda parts: actions_control_repo(handler, parts)
    if p[:2] == ["_control", "actions"]:
        return None, lambda parts: (200, ACTIONS["events"])
    if m == "POST" and p[:2] == ["actions", "build"] and p[3:4] == ["jobs"] and \
            p[5:] == ["runnerresolve", "actions"]:
        return "actions.launch", lambda parts: actions_resolve(handler, True)
    if m == "POST" and p[:1] == ["run"] and p[-1:] == ["actiondownloadinfo"]:
        return "actions.info", lambda parts: actions_resolve(handler, False)
    if m == "GET" and p[:1] == ["tarball"] and len(p) == 4:
        return "actions.tarball", lambda parts: actions_tarball(handler, parts)
    if m == "GET" and p[:1] == ["_codeload"] and len(p) == 4:
        return "actions.codeload", lambda parts: actions_codeload(handler, parts)
    return None


def _actions_wrap():
    global job_message
    base_route, base_reply, base_message = Handler.route, Handler.reply, job_message

    def route(self, m, p):
        return actions_route(self, m, p) or base_route(self, m, p)

    def reply(self, code, obj=None, raw=None):
        if isinstance(obj, ActionsRaw):
            self.send_response(code)
            self.send_header("Content-Type", "application/gzip")
            self.send_header("Content-Length", str(len(obj.data)))
            self.end_headers()
            self.wfile.write(obj.data)
            self.status = code
        elif isinstance(obj, ActionsRedirect):
            self.send_response(code)
            self.send_header("Location", obj.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.status = code
        else:
            base_reply(self, code, obj, raw)

    def message(base, job):
        msg = base_message(base, job)
        spec = job["spec"]
        msg["variables"]["system.github.launch_endpoint"] = {"value": base + "/launch/"}
        for k, v in spec.get("variables", {}).items():
            msg["variables"][k] = {"value": v}
        if spec.get("message_type"):
            msg["messageType"] = spec["message_type"]
        return msg

    Handler.route, Handler.reply, job_message = route, reply, message


_actions_wrap()


def parse_fault(spec):
    parts = spec.split(":")
    if len(parts) == 4:
        return {"endpoint": parts[0], "kind": parts[1] + ":" + parts[2], "count": int(parts[3])}
    if len(parts) == 3:
        return {"endpoint": parts[0], "kind": parts[1], "count": int(parts[2])}
    raise SystemExit("bad --fault '%s' (endpoint:kind[:arg]:count)" % spec)


def main():
    global STATE, LOGF, SCHEME
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", help="JSON-lines request log")
    ap.add_argument("--token", default="REGTOKEN-1234567890")
    ap.add_argument("--remove-token", default="REMTOKEN-1234567890")
    ap.add_argument("--v2", action="store_true", help="use_v2_flow: runner-admin registration")
    ap.add_argument("--broker", action="store_true", help="agents get ServerUrlV2/UseV2Flow")
    ap.add_argument("--fips", action="store_true", help="RequireFipsCryptography (PS256)")
    ap.add_argument("--poll-hold", type=float, default=2.0, help="long-poll hold in seconds")
    ap.add_argument("--token-ttl", type=int, default=3600)
    ap.add_argument("--fault", action="append", default=[])
    ap.add_argument("--tls-cert", help="serve HTTPS (and wss) with this PEM certificate chain")
    ap.add_argument("--tls-key", help="the certificate's PEM private key")
    args = ap.parse_args()
    STATE = State(args)
    STATE.faults = [parse_fault(f) for f in args.fault]
    if args.log:
        LOGF = open(args.log, "a")
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = tls.wrap_socket(srv.socket, server_side=True)
        SCHEME = "https"
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
