#!/usr/bin/env python3
"""Conformance against nektos/act's test data (shared corpus act-testdata/CASES.tsv).

For every row that can run on this host: copy the whole act-testdata directory into a
fresh temporary directory (act runs each case with that directory as its workdir),
run `ghrun replay <event> -W <workflow> -C <copy> --json out.json`, compare the exit
status with the expectation (pass = 0, fail = 1; [syntax] rows: rejected, 1 or 2) and
check in out.json that the steps really ran. Rows that cannot run here are listed in
SKIP with the reason and reported as skipped.

Environment: GHRUN (the binary), GR_SHARED_DIR (the shared folder with corpus/).
Usage: act_cases.py [-v] [case ...]
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

# case -> reason it does not run here
SKIP = {
    "defaults-run": "asserts $SHELL, which comes from the login shell on a host (act disables "
                    "it in host mode too)",
    "basic": "planner-only case (docker:// and Dockerfile actions)",
    "runs-on": "asserts act's default actor nektos/act",
    "issue-1195": "asserts act's default repository owner nektos",
    "input-from-cli": "act-specific: passes an undeclared input to a workflow whose required "
                      "inputs are missing; GitHub (and ghrun) reject that ('Unexpected inputs "
                      "provided')",
    # GitHub's workflow parser rejects a secret the callee does not declare, also when the
    # callee declares no secrets at all (actions/languageservices
    # workflow-parser/src/model/converter/job/secrets.ts convertWorkflowJobSecrets, and its
    # testdata/reader/errors-reusable-workflow-job-secrets-undefined.yml: a callee with a bare
    # `on: workflow_call` given `secrets: {foo: bar}`).
    "uses-workflow": "maps secret 'secret', which the callee (on.workflow_call without "
                     "secrets) does not declare: GitHub (and ghrun) reject that ('Invalid secret, "
                     "secret is not defined in the referenced workflow.'); the rest of the case "
                     "(typed inputs, secrets: inherit, on: as string and list, outputs) is "
                     "covered by test_reusable.sh",
    "uses-composite-with-pre-and-post-steps": "relies on act's single GITHUB_ENV file per job "
                                              "(steps append ';stepN' without a newline); "
                                              "GitHub and ghrun give each step a new file",
}

# extra command-line arguments per case (act's flags for the same case)
EXTRA = {
    "if-env-act": ["--env", "ACT=true"],
    "matrix-with-user-inclusions": ["--matrix", "node:8", "--matrix", "node:8.x",
                                    "--matrix", "os:ubuntu-18.04"],
    "secrets": ["--secret-file", "{copy}/secrets/.secrets", "--env-file",
                "{copy}/secrets/.env"],
}


def tags(notes):
    out = {}
    i = 0
    while True:
        a = notes.find("[", i)
        if a < 0:
            return out
        b = notes.find("]", a)
        if b < 0:
            return out
        t = notes[a + 1:b]
        k, _, v = t.partition("=")
        k2, _, v2 = k.partition(":")
        out[k2] = v if v else (v2 if v2 else True)
        i = b + 1


def help_text(ghrun):
    try:
        p = subprocess.run([ghrun, "replay", "--help"], capture_output=True, text=True,
                           timeout=30)
        return p.stdout + p.stderr
    except (OSError, subprocess.SubprocessError):
        return ""


def copy_corpus(src):
    tmp = tempfile.mkdtemp(prefix="ghrun-act-")
    dst = os.path.join(tmp, "act-testdata")
    shutil.copytree(src, dst, symlinks=True)
    for root, dirs, files in os.walk(dst):
        for n in dirs + files:
            p = os.path.join(root, n)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR)
    os.chmod(dst, os.stat(dst).st_mode | stat.S_IWUSR)
    return tmp, dst


def jobs_of(workflow):
    """Top-level job ids of a workflow (two-space indented keys under jobs:)."""
    ids, injobs = [], False
    with open(workflow, encoding="utf-8") as f:
        for line in f:
            s = line.split(" #", 1)[0].rstrip()
            if not s.strip() or s.lstrip().startswith("#"):
                continue
            if not s.startswith(" "):
                injobs = s.startswith("jobs:")
                continue
            if injobs and s.startswith("  ") and not s.startswith("   ") and s.strip().endswith(":"):
                ids.append(s.strip()[:-1])
    return ids


def ran_steps(doc):
    n = 0
    for j in doc.get("jobs", []):
        for s in j.get("steps", []):
            if s.get("outcome") != "skipped":
                n += 1
    return n


def run_one(ghrun, corpus, row, helptext, verbose):
    case, wf, event, expected, notes = row
    t = tags(notes)
    extra = EXTRA.get(case, [])
    for flag in [a for a in extra if a.startswith("--")]:
        if flag not in helptext:
            return "skip", "ghrun replay has no %s flag" % flag
    if t.get("needs") == "pwsh" and not shutil.which("pwsh"):
        return "skip", "needs pwsh on the host"
    if t.get("needs") == "python" and not shutil.which("python"):
        return "skip", "needs a `python` binary on the host"
    if case == "workdir" and (os.geteuid() != 0 or not os.access("/root", os.W_OK)):
        return "skip", "needs to run as root (working-directory /root)"
    tmp, copy = copy_corpus(corpus)
    try:
        jobs = [None]
        if "skip-jobs" in t:
            skip = set(str(t["skip-jobs"]).split(","))
            jobs = [j for j in jobs_of(os.path.join(copy, wf)) if j not in skip]
        rcs, docs, logs = [], [], []
        for j in jobs:
            out = os.path.join(tmp, "out-%s.json" % (j or "all"))
            cmd = [ghrun, "replay", event, "-W", os.path.join(copy, wf), "-C", copy,
                   "--json", out]
            if j:
                cmd += ["-j", j]
            if "event-json" in t:
                cmd += ["-e", os.path.join(copy, str(t["event-json"]))]
            cmd += [a.replace("{copy}", copy) for a in extra]
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                                   cwd=copy, errors="replace")
            except subprocess.TimeoutExpired:
                return "fail", "timed out: %s" % " ".join(cmd)
            rcs.append(p.returncode)
            logs.append(p.stdout + p.stderr)
            try:
                with open(out, encoding="utf-8") as f:
                    docs.append(json.load(f))
            except (OSError, ValueError):
                docs.append(None)
        return judge(expected, t, rcs, docs, logs, verbose)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def judge(expected, t, rcs, docs, logs, verbose):
    log = "\n".join(logs)
    if any(rc < 0 or rc > 2 for rc in rcs):
        return "fail", "crashed (exit %s)\n%s" % (rcs, log[-3000:])
    if t.get("syntax"):
        if all(rc in (1, 2) for rc in rcs):
            return "pass", "rejected"
        return "fail", "accepted an invalid workflow (exit %s)\n%s" % (rcs, log[-3000:])
    if any(d is None for d in docs):
        return "fail", "no --json results (exit %s)\n%s" % (rcs, log[-3000:])
    steps = sum(ran_steps(d) for d in docs)
    if steps == 0:
        return "fail", "no step ran\n" + log[-3000:]
    if expected.startswith("pass"):
        if all(rc == 0 for rc in rcs) and all(d.get("ok") for d in docs):
            return "pass", "%d steps ran" % steps
        return "fail", "expected success, exit %s\n%s" % (rcs, log[-4000:])
    if expected.startswith("fail"):
        failed = [j for d in docs for j in d.get("jobs", []) if j.get("result") == "failure"]
        if any(rc == 1 for rc in rcs) and failed:
            return "pass", "failed as expected (%s)" % ", ".join(j["id"] for j in failed)
        return "fail", "expected a failed job, exit %s\n%s" % (rcs, log[-4000:])
    return "fail", "unknown expectation " + expected


def main():
    verbose = "-v" in sys.argv
    only = [a for a in sys.argv[1:] if a != "-v"]
    ghrun = os.environ.get("GHRUN")
    shared = os.environ.get("GR_SHARED_DIR")
    if not ghrun or not shared:
        print("GHRUN and GR_SHARED_DIR must be set")
        return 2
    corpus = os.path.join(shared, "corpus", "act-testdata")
    helptext = help_text(ghrun)
    counts = {"pass": 0, "fail": 0, "skip": 0}
    with open(os.path.join(corpus, "CASES.tsv"), encoding="utf-8") as f:
        rows = [l.rstrip("\n").split("\t") for l in f][1:]
    for row in rows:
        if len(row) < 5:
            continue
        case, expected, notes = row[0], row[3], row[4]
        if only and case not in only:
            continue
        if case in SKIP:
            res, why = "skip", SKIP[case]
        elif "plan-only" in notes or expected.startswith("plan") or row[2] == "(PlanAll)":
            res, why = "skip", "planner-only case (covered by the plan tests)"
        else:
            res, why = run_one(ghrun, corpus, row, helptext, verbose)
        counts[res] += 1
        first = why.split("\n", 1)[0]
        print("%-4s %-45s %s" % (res.upper(), case, first))
        if res == "fail" or (verbose and "\n" in why):
            print("     " + why.replace("\n", "\n     "))
    print("%d passed, %d failed, %d skipped" % (counts["pass"], counts["fail"], counts["skip"]))
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
