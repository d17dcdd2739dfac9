#!/usr/bin/env bash
# Steps of a root runner run as a job slot's own uid, never root (docs/sandbox.md section 2):
# in a sandboxed replay (the project bound idmapped for the slot, never chowned) and in an
# online job of `ghrun run` against the fake GitHub (the workspace handed to the slot for the
# job). The slot can write the workspace, RUNNER_TEMP and HOME; GITHUB_ENV, GITHUB_OUTPUT,
# GITHUB_PATH, GITHUB_STATE and the step summary work across steps; files of the native
# checkout and cache restore are the slot's; a step that swaps $GITHUB_OUTPUT (or the
# file-command dir) for a link to a root-only file does not make the runner read, leak or
# write through it; root-only files and the runner's key and .credentials stay unreadable;
# concurrent jobs get different uids.
set -u
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: job slots are for a root runner (a non-root replay runs steps as the user)"
    exit 0
fi
if ! "$GHRUN" doctor 2>/dev/null | grep -q '^slot: uid:gid'; then
    echo "skipped: this host gives jobs no slot uid: $("$GHRUN" doctor 2>&1 | grep '^slot')"
    exit 0
fi
ws=$(mktemp -d "${TMPDIR:-/tmp}/gr-slot-ws.XXXXXX")
priv=$(mktemp -d /var/tmp/gr-slot-priv.XXXXXX) # outside the job's private /tmp
plant=$(mktemp -d "${TMPDIR:-/tmp}/gr-slot-plant.XXXXXX")
canary="gr-slot-canary-$$-$RANDOM"
rfs=
slot_cleanup() {
    [ -n "$rfs" ] && umount "$rfs" 2>/dev/null
    rm -rf "$ws" "$priv" "$plant"
}
trap slot_cleanup EXIT
export GHRUN_CACHE_DIR="$priv/cache" # the native actions/cache store of these replays
chmod 0755 "$priv"
printf 'leak=%s\n' "$canary" >"$priv/root-only"
chmod 0600 "$priv/root-only"
echo "owner's file" >"$ws/mine.txt"
ws_owner=$(stat -c %u:%g "$ws")
mkdir -p "$ws/act/stateful"
cat >"$ws/act/stateful/action.yml" <<'EOF'
name: stateful
runs:
  using: node20
  main: main.js
  post: post.js
EOF
cat >"$ws/act/stateful/main.js" <<'EOF'
require('fs').appendFileSync(process.env.GITHUB_STATE, 'kept=state-of-main\n');
EOF
cat >"$ws/act/stateful/post.js" <<'EOF'
console.log('post saw ' + process.env.STATE_kept + ' as uid ' + process.getuid());
EOF

# ---- ghrun doctor: the slot uid a job gets ----
mkdir "$priv/root"
dout=$("$GHRUN" doctor --root "$priv/root" 2>&1)
check "doctor: names the slot uid" grep -qE '^slot: uid:gid [1-9][0-9]*:[1-9][0-9]* ' <<<"$dout"
check "doctor: a runner job's steps run as a slot uid" \
    grep -qE '^runner job: steps run as uid [1-9][0-9]* gid [1-9][0-9]* \(a job slot' <<<"$dout"
check "doctor: the job summary shows it" grep -q '^runner job: sandbox: uid=slot:' <<<"$dout"

# ---- replay: the project idmapped for the slot ----
cat >"$ws/wf.yml" <<YML
on: push
jobs:
  files:
    runs-on: ubuntu-latest
    steps:
      - id: who
        run: |
          echo "uid=\$(id -u) gid=\$(id -g)"
          echo "mine.txt belongs to \$(stat -c %u mine.txt)"
          echo made >ws-made && echo "ws writable"
          echo t >"\$RUNNER_TEMP/t" && echo "temp writable"
          echo h >"\$HOME/h" && echo "home writable \$HOME"
          cat $priv/root-only && echo "READ-ROOT-ONLY" || echo "root-only file refused"
          echo "FROM_ENV=env-ok" >>"\$GITHUB_ENV"
          echo "out=output-ok" >>"\$GITHUB_OUTPUT"
          mkdir -p "\$RUNNER_TEMP/bin" && printf '#!/bin/sh\necho path-ok\n' >"\$RUNNER_TEMP/bin/slot-tool"
          chmod +x "\$RUNNER_TEMP/bin/slot-tool" && echo "\$RUNNER_TEMP/bin" >>"\$GITHUB_PATH"
          echo "### slot summary ok" >>"\$GITHUB_STEP_SUMMARY"
          ls "$HOME" >/dev/null && echo "user home readable"
          touch "$HOME/gr-slot-probe-\$\$" 2>/dev/null || echo "user home read-only"
      - run: |
          echo "env=\$FROM_ENV output=\${{ steps.who.outputs.out }}"
          slot-tool
      - uses: ./act/stateful
      - id: swap
        run: |
          rm -f "\$GITHUB_OUTPUT" && ln -s $priv/root-only "\$GITHUB_OUTPUT" && echo swapped
      - if: always()
        run: |
          echo "leaked=[\${{ steps.swap.outputs.leak }}]"
          cd "\$RUNNER_TEMP" && mv _runner_file_commands moved && ln -s $plant _runner_file_commands
      - if: always()
        id: heal
        run: echo "after the dir swap" && echo "healed=yes" >>"\$GITHUB_OUTPUT"
      - if: always()
        run: echo "file commands work again=\${{ steps.heal.outputs.healed }}"
      - if: always()
        id: setid
        continue-on-error: true
        run: |
          printf '#!/bin/sh\n' >setid-made && chmod +x setid-made && echo "chmod +x works"
          chmod u+s setid-made
          echo "SETUID-SET"
      - if: always()
        run: echo "setid outcome=\${{ steps.setid.outcome }}"
YML
out=$(timeout 120 "$GHRUN" replay -W "$ws/wf.yml" -C "$ws" --json "$ws/res.json" 2>&1)
uid=$(sed -n 's/.*| uid=\([0-9]*\) gid=.*/\1/p' <<<"$out" | head -1)
gid=$(sed -n 's/.*| uid=[0-9]* gid=\([0-9]*\).*/\1/p' <<<"$out" | head -1)
check "replay: the step runs as a slot uid, not root (uid '$uid')" test -n "$uid" -a "$uid" != 0
check "replay: and a slot gid, not root (gid '$gid')" test -n "$gid" -a "$gid" != 0
check "replay: the project's owner appears as the slot" grep -q "mine.txt belongs to $uid\$" <<<"$out"
check "replay: the workspace is writable" grep -q '| ws writable' <<<"$out"
check "replay: RUNNER_TEMP is writable" grep -q '| temp writable' <<<"$out"
check "replay: HOME is writable" grep -q '| home writable' <<<"$out"
check "replay: the invoking user's home is readable (their tools)" \
    grep -q '| user home readable' <<<"$out"
check "replay: and read-only" grep -q '| user home read-only' <<<"$out"
check "replay: a root-only file is refused" grep -q '| root-only file refused' <<<"$out"
check "replay: a root-only file is never read" bash -c "! grep -q READ-ROOT-ONLY <<<\"\$1\"" _ "$out"
expect_eq() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
expect_eq "replay: files the slot made belong to the project's owner on disk" \
    "$(stat -c %u:%g "$ws/ws-made")" "$ws_owner"
expect_eq "replay: the project was not chowned" "$(stat -c %u:%g "$ws" "$ws/mine.txt" | sort -u)" \
    "$ws_owner"
check "replay: GITHUB_ENV and GITHUB_OUTPUT across steps" \
    grep -q '| env=env-ok output=output-ok' <<<"$out"
check "replay: GITHUB_PATH across steps" grep -q '| path-ok' <<<"$out"
check "replay: GITHUB_STATE reaches the post step" \
    grep -q "| post saw state-of-main as uid $uid" <<<"$out"
check "replay: the step summary is read" grep -q 'slot summary ok' <<<"$out"
check "replay: the link swap happened" grep -q '| swapped' <<<"$out"
check "replay: a linked \$GITHUB_OUTPUT is refused" \
    grep -q "cannot read the file command file" <<<"$out"
check "replay: the linked file's content is not an output" grep -q '| leaked=\[\]' <<<"$out"
check "replay: the canary is nowhere in the log" bash -c "! grep -q '$canary' <<<\"\$1\"" _ "$out"
check "replay: the canary is not in the results" bash -c "! grep -q '$canary' '$ws/res.json'"
check "replay: the step after the dir swap still ran" grep -q '| after the dir swap' <<<"$out"
check "replay: the file-command dir is made again, link gone" \
    grep -q '| file commands work again=yes' <<<"$out"
check "replay: nothing was created through the linked dir" test -z "$(ls -A "$plant")"
# the project is idmapped: a setuid file made there would be root's on the host
check "replay: chmod +x works in the project" grep -q '| chmod +x works' <<<"$out"
check "replay: chmod u+s fails the step" grep -q '| setid outcome=failure$' <<<"$out"
check "replay: and the step stopped there" bash -c "! grep -q SETUID-SET <<<\"\$1\"" _ "$out"
expect_eq "replay: the file on disk has no setuid bit" "$(stat -c %a "$ws/setid-made")" 755
# negative control: with the seccomp filter only auditing, the same chmod leaves a setuid file
# of the project's owner on disk (what the rule is for)
echo '{"seccomp": "audit"}' >"$priv/audit.json"
printf 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: %s\n' \
    'echo x >setid-audit && chmod u+s setid-audit' >"$ws/wf-audit.yml"
GHRUN_SANDBOX_CONFIG="$priv/audit.json" timeout 120 "$GHRUN" replay -W "$ws/wf-audit.yml" \
    -C "$ws" >/dev/null 2>&1
expect_eq "replay: unfiltered, chmod u+s would leave the owner's setuid file" \
    "$(stat -c %a:%u:%g "$ws/setid-audit" 2>&1)" "4644:$ws_owner"
check "replay: the root-only file is unchanged" grep -q "^leak=$canary\$" "$priv/root-only"

# a cache saved by one job is restored by the native actions/cache in the next: the files
# are the slot's
ckey="slot-cache-$$-$RANDOM"
cat >"$ws/wf2.yml" <<YML
on: push
jobs:
  save:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache@v4
        with:
          path: cached-dir
          key: $ckey
      - run: mkdir -p cached-dir && echo c >cached-dir/c.txt
  restore:
    needs: save
    runs-on: ubuntu-latest
    steps:
      - run: rm -rf cached-dir
      - uses: actions/cache@v4
        with:
          path: cached-dir
          key: $ckey
      - run: |
          echo "restored owner \$(stat -c %u cached-dir/c.txt) me \$(id -u)"
          echo more >>cached-dir/c.txt && rm cached-dir/c.txt && echo "restored file is mine"
YML
out2=$(timeout 120 "$GHRUN" replay -W "$ws/wf2.yml" -C "$ws" 2>&1)
me=$(sed -n 's/.*| restored owner [0-9]* me \([0-9]*\)$/\1/p' <<<"$out2")
check "replay: cache restore brought the file back (me '$me')" test -n "$me"
check "replay: the restored file is the slot's" grep -q "| restored owner $me me $me\$" <<<"$out2"
check "replay: the slot can change and delete the restored file" \
    grep -q '| restored file is mine' <<<"$out2"

# two jobs at the same time: distinct slots, each waiting until the other has started
cat >"$ws/wf3.yml" <<'YML'
on: push
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: |
          touch one.started; for i in $(seq 600); do test -e two.started && break; sleep 0.1; done
          echo "job one uid=$(id -u) overlap=$(test -e two.started && echo yes)"
  two:
    runs-on: ubuntu-latest
    steps:
      - run: |
          touch two.started; for i in $(seq 600); do test -e one.started && break; sleep 0.1; done
          echo "job two uid=$(id -u) overlap=$(test -e one.started && echo yes)"
YML
out3=$(timeout 120 "$GHRUN" replay -W "$ws/wf3.yml" -C "$ws" --jobs 2 2>&1)
u1=$(sed -n 's/.*job one uid=\([0-9]*\) overlap=yes.*/\1/p' <<<"$out3")
u2=$(sed -n 's/.*job two uid=\([0-9]*\) overlap=yes.*/\1/p' <<<"$out3")
check "replay: both jobs ran at the same time ('$u1', '$u2')" test -n "$u1" -a -n "$u2"
check "replay: concurrent jobs run as different uids" test "$u1" != "$u2" -a "$u1" != 0 -a "$u2" != 0

# a project on a filesystem that cannot be idmapped (ramfs): steps run as root without
# capabilities, and the job log says why
if mount -t ramfs ramfs "$priv/root" 2>/dev/null; then
    rfs="$priv/root"
    printf 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: %s\n' \
        'echo "uid=$(id -u)" && touch f && echo wrote' >"$rfs/wf.yml"
    out4=$(timeout 120 "$GHRUN" replay -W "$rfs/wf.yml" -C "$rfs" 2>&1)
    check "no idmap: the job says why steps run as root" \
        grep -q "sandbox protection off: steps run as root without capabilities: cannot idmap '$rfs'" \
        <<<"$out4"
    check "no idmap: the step runs as root (without capabilities)" grep -q '| uid=0$' <<<"$out4"
    check "no idmap: the project is still writable" grep -q '| wrote$' <<<"$out4"
    umount "$rfs"
    rfs=
else
    echo "note: no ramfs here: the fallback for a filesystem without idmapped mounts is not run"
fi

# ---- online: `ghrun run` against the fake GitHub ----
# (the protocol harness starts its counters, helpers and exit trap afresh: keep ours)
pass_so_far=$_pass
fail_so_far=$_fail
RUNNER_PART=slot
. "$(dirname "$0")/test_runner_protocol.sh"
_pass=$pass_so_far
_fail=$fail_so_far
trap 'cleanup; slot_cleanup' EXIT
first_config
WS="$T/r1/_work/widgets/widgets"
jq_job() { state | q "[j for j in d['jobs'] if j['runner_request_id']=='$JOB_RID'][0]$1"; }
git init -q --bare "$T/git/acme/widgets.git"
git init -q "$T/src"
echo "from the clone" >"$T/src/hello.txt"
git -C "$T/src" add hello.txt
git -C "$T/src" -c user.name=t -c user.email=t@e commit -qm one
git -C "$T/src" push -q "$T/git/acme/widgets.git" HEAD:refs/heads/main
SHA=$(git -C "$T/src" rev-parse HEAD)
job '{"name":"slot","github":{"server_url":"file://'"$T"'/git","sha":"'"$SHA"'"},
  "steps":[{"uses":"actions/checkout@v4"},
   {"run":"echo \"online uid=$(id -u) gid=$(id -g) clone-owner=$(stat -c %u hello.txt)\"\ngit status --short >/dev/null && echo git-ok\necho more >>hello.txt && echo ws-ok\necho t >\"$RUNNER_TEMP/t\" && echo temp-ok\necho h >\"$HOME/h\" && echo home-ok\necho v=online-out >>\"$GITHUB_OUTPUT\""},
   {"run":"cat '"$T"'/r1/.credentials_rsaparams || echo key-refused\ncat '"$T"'/r1/.credentials || echo creds-refused\ncat '"$priv"'/root-only || echo root-only-refused"}]}'
run_once_expect "online slot job" succeeded
feed=$(jq_job "['feed']")
ouid=$(sed -n 's/.*online uid=\([0-9]*\) .*/\1/p' <<<"$feed" | head -1)
check "online: the step runs as a slot uid, not root (uid '$ouid')" test -n "$ouid" -a "$ouid" != 0
check "online: the checked-out files are the slot's" grep -q "gid=[1-9][0-9]* clone-owner=$ouid" <<<"$feed"
check "online: git accepts the slot's checkout" grep -q git-ok <<<"$feed"
check "online: the workspace is writable" grep -q ws-ok <<<"$feed"
check "online: RUNNER_TEMP is writable" grep -q temp-ok <<<"$feed"
check "online: HOME is writable" grep -q home-ok <<<"$feed"
check "online: the runner's key file is not readable" grep -q key-refused <<<"$feed"
check "online: .credentials is not readable" grep -q creds-refused <<<"$feed"
check "online: a root-only file is not readable" grep -q root-only-refused <<<"$feed"
check "online: the job log names the slot" grep -q "sandbox: uid=slot:$ouid" "$T"/r1/_diag/job-*.log
expect_eq "online: the workspace is the runner's again after the job" \
    "$(find "$WS" -not -uid 0 | head -3)" ""
finish_all
