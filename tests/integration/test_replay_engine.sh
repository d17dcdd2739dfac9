#!/usr/bin/env bash
# The engine end to end through `ghrun replay`: bad input at run time (malformed file
# commands, huge and binary output, steps that leave children holding their pipes,
# steps and jobs that never end), fail-fast, concurrency groups, job outputs with
# secrets, masking, unsupported actions. Every case must end with a clear outcome,
# quickly, without a crash.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME [ghrun args...]: replay $tmp/NAME.yml in a fresh workspace $tmp/NAME;
# sets rc, out (stdout+stderr), secs, json (path).
run() {
    local name=$1 t0 t1
    shift
    ws=$tmp/$name
    mkdir -p "$ws"
    json=$tmp/$name.json
    t0=$(date +%s)
    timeout 120 "$GHRUN" replay push -W "$tmp/$name.yml" -C "$ws" --json "$json" "$@" \
        </dev/null >"$tmp/$name.log" 2>&1
    rc=$?
    out=$(tr -d '\000' <"$tmp/$name.log")
    t1=$(date +%s)
    secs=$((t1 - t0))
}

# jq-like checks over the --json file with python: jcheck 'python expression over doc'
jcheck() {
    python3 - "$json" "$1" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
jobs = doc["jobs"]
def job(i, leg=0):
    return [j for j in jobs if j["id"] == i][leg]
def step(i, n, leg=0):
    return job(i, leg)["steps"][n]
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
}

want() {
    local desc=$1
    shift
    if "$@"; then ok; else bad "$desc (rc=$rc, ${secs}s)"; echo "$out" | tail -20; fi
}

# ---- malformed file commands ------------------------------------------------
cat >"$tmp/filecmd.yml" <<'EOF'
on: push
jobs:
  env:
    runs-on: ubuntu-latest
    steps:
      - id: bad
        run: |
          echo "GOOD=1" >> "$GITHUB_ENV"
          echo "no equals sign here" >> "$GITHUB_ENV"
      - if: always()
        run: test "$GOOD" = 1
  out:
    runs-on: ubuntu-latest
    steps:
      - run: printf 'x<<EOF\nline\n' >> "$GITHUB_OUTPUT"
EOF
run filecmd
want "malformed file commands fail the run" test "$rc" -eq 1
want "malformed GITHUB_ENV is reported" grep -q "Unable to process file command 'env'" <<<"$out"
want "malformed GITHUB_ENV fails its step, earlier pairs apply" \
    jcheck 'step("env",0)["outcome"]=="failure" and step("env",1)["outcome"]=="success"'
want "unterminated heredoc fails the step" jcheck 'step("out",0)["outcome"]=="failure"'

# ---- huge and binary output -------------------------------------------------
cat >"$tmp/output.yml" <<'EOF'
on: push
jobs:
  big:
    runs-on: ubuntu-latest
    steps:
      - run: head -c 5000000 /dev/zero | tr '\0' a; echo; echo tail-line
      - run: head -c 200000 /dev/urandom; echo
      - run: printf 'no newline at the end'
EOF
run output
want "huge and binary output succeed" test "$rc" -eq 0
want "the line after a huge one arrives" grep -q "tail-line" <<<"$out"
want "an unterminated last line arrives" grep -q "no newline at the end" <<<"$out"

# ---- children holding the pipes ---------------------------------------------
cat >"$tmp/bg.yml" <<'EOF'
on: push
jobs:
  bg:
    runs-on: ubuntu-latest
    steps:
      - run: |
          sleep 60 &
          (sleep 4; touch "$GITHUB_WORKSPACE/leaked") &
          echo started
      - run: |
          exec >&- 2>&-
          sleep 2
          touch "$GITHUB_WORKSPACE/closed-ok"
      - run: test -f closed-ok
EOF
run bg
want "background children do not hang the step" test "$rc" -eq 0 -a "$secs" -lt 45
want "a step that closed its stdout still runs to its end" test -f "$tmp/bg/closed-ok"
sleep 5
want "leftover processes die with the job" test ! -e "$tmp/bg/leaked"

# ---- timeouts -----------------------------------------------------------------
cat >"$tmp/timeout.yml" <<'EOF'
on: push
jobs:
  step:
    runs-on: ubuntu-latest
    steps:
      - run: sleep 60
        timeout-minutes: 0.05
      - if: always()
        run: echo cleanup-ran
  job:
    runs-on: ubuntu-latest
    timeout-minutes: 0.05
    steps:
      - run: sleep 60
      - run: echo never-runs
EOF
run timeout
want "timeouts fail the run quickly" test "$rc" -eq 1 -a "$secs" -lt 45
want "step timeout message" grep -q "has timed out after 0.05 minutes" <<<"$out"
want "always() runs after a step timeout" grep -q "cleanup-ran" <<<"$out"
want "job timeout message" grep -q "exceeded the maximum execution time" <<<"$out"
want "timed-out job fails, later step skipped" \
    jcheck 'job("job")["result"]=="failure" and step("job",1)["outcome"]=="skipped"'

# ---- fail-fast and max-parallel ------------------------------------------------
cat >"$tmp/failfast.yml" <<'EOF'
on: push
jobs:
  m:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2, 3]
    steps:
      - run: if [ "${{ matrix.n }}" = 1 ]; then exit 1; fi; sleep 60
EOF
run failfast --jobs 4
want "fail-fast cancels the other legs" test "$rc" -eq 1 -a "$secs" -lt 45
want "fail-fast results" jcheck 'sorted(j["result"] for j in jobs)==["cancelled","cancelled","failure"]'

# ---- concurrency groups ---------------------------------------------------------
cat >"$tmp/conc.yml" <<'EOF'
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    concurrency: same-${{ github.event_name }}
    steps:
      - run: date +%s%N > a.start; sleep 1; date +%s%N > a.end
  b:
    runs-on: ubuntu-latest
    concurrency:
      group: SAME-push
    steps:
      - run: date +%s%N > b.start; sleep 1; date +%s%N > b.end
EOF
run conc --jobs 4
want "concurrency run succeeds" test "$rc" -eq 0
serial() {
    local as ae bs be
    as=$(cat "$tmp/conc/a.start") ae=$(cat "$tmp/conc/a.end")
    bs=$(cat "$tmp/conc/b.start") be=$(cat "$tmp/conc/b.end")
    [ "$ae" -le "$bs" ] || [ "$be" -le "$as" ]
}
want "jobs of one concurrency group do not overlap" serial

# ---- outputs, secrets, masking ------------------------------------------------
cat >"$tmp/outputs.yml" <<'EOF'
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    outputs:
      plain: ${{ steps.s.outputs.plain }}
      empty: ${{ steps.s.outputs.nothing }}
      secret: ${{ steps.s.outputs.secret }}
    steps:
      - id: s
        run: |
          echo "plain=hello" >> "$GITHUB_OUTPUT"
          echo "secret=xx-${{ secrets.TOKEN }}-xx" >> "$GITHUB_OUTPUT"
          echo "value is ${{ secrets.TOKEN }}"
          echo "::add-mask::mask-me-later"
          echo "then mask-me-later"
  b:
    needs: a
    runs-on: ubuntu-latest
    steps:
      - run: |
          test "${{ needs.a.outputs.plain }}" = hello
          test -z "${{ needs.a.outputs.secret }}"
          test "${{ needs.a.result }}" = success
EOF
run outputs -s TOKEN=sup3rs3cr3t
want "outputs run succeeds" test "$rc" -eq 0
want "secrets are masked in the log" bash -c '! grep -q sup3rs3cr3t <<<"$1" && grep -q "value is \*\*\*" <<<"$1"' _ "$out"
want "add-mask applies to later lines" bash -c '! grep -q mask-me-later <<<"$1"' _ "$out"
want "empty and secret-bearing outputs are dropped" \
    jcheck 'job("a")["outputs"]=={"plain":"hello"}'
want "secret warning" grep -q "Skip output 'secret' since it may contain secret" <<<"$out"

# ---- unsupported actions, bad shells, bad working directories -------------------
cat >"$tmp/unsup.yml" <<'EOF'
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - uses: some-org/some-action@v1
      - if: always()
        run: echo x
        shell: perl -w
      - if: always()
        run: echo x
        working-directory: does/not/exist
      - if: always()
        run: echo "::set-env name=X::y"
      - if: always()
        uses: actions/checkout@v4
EOF
run unsup
want "unsupported steps fail the run" test "$rc" -eq 1
want "unsupported action error" grep -q "action 'some-org/some-action@v1' (ref 'v1') was not found" <<<"$out"
want "invalid shell error" grep -q "format string containing '{0}'" <<<"$out"
want "missing working directory error" grep -q "does/not/exist' does not exist" <<<"$out"
want "set-env disabled" grep -q "The \`set-env\` command is disabled" <<<"$out"
want "checkout of the replayed repository succeeds" jcheck 'step("a",4)["outcome"]=="success"'

# ---- env precedence, default variables, shells ---------------------------------
cat >"$tmp/envs.yml" <<'EOF'
on: push
env:
  A: wf
  B: wf
  C: wf
jobs:
  e:
    runs-on: ubuntu-latest
    env:
      B: job
      C: job
    steps:
      - run: |
          echo "C=ghenv" >> "$GITHUB_ENV"
          echo "/first" >> "$GITHUB_PATH"
          echo "/second" >> "$GITHUB_PATH"
          test "$GITHUB_ACTION" = __run
      - env:
          D: step
          E: ${{ env.D }}-${{ env.C }}
        run: |
          test "$A/$B/$C/$D/$E" = "wf/job/ghenv/step/-ghenv"
          case "$PATH" in /second:/first:*) ;; *) exit 1 ;; esac
          test "$GITHUB_ACTION" = __run_2
          test "$CI" = true -a "$GITHUB_ACTIONS" = true -a "$RUNNER_OS" = Linux
          test -d "$RUNNER_TEMP" -a -f "$GITHUB_EVENT_PATH" -a "$GITHUB_WORKSPACE" = "$PWD"
          test "$GITHUB_JOB" = e -a "$GITHUB_EVENT_NAME" = push
      - run: false | true
      - id: pf
        continue-on-error: true
        shell: bash
        run: false | true
      - run: test "${{ steps.pf.outcome }}/${{ steps.pf.conclusion }}" = failure/success
      - shell: python
        run: |
          import os
          assert os.environ["C"] == "ghenv"
EOF
run envs
want "env precedence, defaults and shells" test "$rc" -eq 0
want "no pipefail without shell, pipefail with shell: bash" \
    jcheck 'step("e",2)["outcome"]=="success" and step("e",3)["outcome"]=="failure"'

# ---- Ctrl-C cancels the run and its process groups ------------------------------
cat >"$tmp/sigint.yml" <<'EOF'
on: push
jobs:
  long:
    runs-on: ubuntu-latest
    steps:
      - run: |
          (sleep 3; touch "$GITHUB_WORKSPACE/survived") &
          touch "$GITHUB_WORKSPACE/started"
          sleep 60
      - if: always()
        run: echo cleanup-after-cancel
  later:
    needs: long
    runs-on: ubuntu-latest
    steps:
      - run: echo never
EOF
mkdir -p "$tmp/sigint"
"$GHRUN" replay push -W "$tmp/sigint.yml" -C "$tmp/sigint" --json "$tmp/sigint.json" \
    >"$tmp/sigint.log" 2>&1 </dev/null &
pid=$!
# interrupt once the step runs (a fixed delay could hit a slow start-up, before the handler)
for _ in $(seq 600); do
    [ -e "$tmp/sigint/started" ] && break
    sleep 0.1
done
want "the step to interrupt started" test -e "$tmp/sigint/started"
t0=$(date +%s)
kill -INT "$pid"
wait "$pid"
rc=$? secs=$(($(date +%s) - t0)) out=$(cat "$tmp/sigint.log") json=$tmp/sigint.json
want "SIGINT ends the run quickly with a failure" test "$rc" -eq 1 -a "$secs" -lt 15
want "always() steps run after cancellation" grep -q "cleanup-after-cancel" <<<"$out"
want "cancelled results" jcheck 'job("long")["result"]=="cancelled" and job("later")["result"]=="cancelled"'
sleep 3
want "the step's processes were killed" test ! -e "$tmp/sigint/survived"

finish
