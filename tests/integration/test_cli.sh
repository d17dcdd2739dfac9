#!/usr/bin/env bash
# The CLI's contract: --help for every subcommand, one-line errors with exit 2
# for unknown flags and missing arguments, and `ghrun expr` end to end.
set -u
. "$(dirname "$0")/lib.sh"

# Top level.
expect_rc 0 "$GHRUN" --help
expect_rc 0 "$GHRUN" version
expect_out_has "ghrun " "$GHRUN" version
expect_rc 2 "$GHRUN"
expect_rc 2 "$GHRUN" frobnicate
expect_err_has "unknown command 'frobnicate'" "$GHRUN" frobnicate

# Every subcommand listed by --help has its own --help, and rejects unknown flags in one line.
for cmd in $("$GHRUN" --help | awk '/^commands:/{f=1;next} f && /^  [a-z]/{print $1}'); do
    expect_rc 0 "$GHRUN" "$cmd" --help
    expect_out_has "usage: ghrun $cmd" "$GHRUN" "$cmd" --help
    [ "$cmd" = help ] && continue
    expect_rc 2 "$GHRUN" "$cmd" --no-such-flag
    expect_one_line_err "$GHRUN" "$cmd" --no-such-flag
done
expect_rc 0 "$GHRUN" help expr

# expr: values as compact JSON.
expect_stdout '3' "$GHRUN" expr '1 == 1 && 3'
expect_rc 2 "$GHRUN" expr '1 + 2'
expect_stdout '"a-1.5"' "$GHRUN" expr "format('{0}-{1}', 'a', 1.50)"
expect_stdout 'true' "$GHRUN" expr "startsWith('Hello', 'he')"
expect_stdout '[1,2]' "$GHRUN" expr "fromJSON('[1,2]')"
expect_stdout 'null' "$GHRUN" expr "null"
expect_stdout '255' "$GHRUN" expr "0xff"

# expr with a context file; status from job.status.
ctx=$(mktemp)
cat >"$ctx" <<'JSON'
{"github": {"event_name": "push", "ref": "refs/tags/v1.2"},
 "matrix": {"os": "Linux"}, "job": {"status": "failure"},
 "needs": {"a": {"result": "success"}, "b": {"result": "failure"}}}
JSON
expect_stdout 'true' "$GHRUN" expr --context "$ctx" "github.event_name == 'push' && startsWith(github.ref, 'refs/tags/')"
expect_stdout 'true' "$GHRUN" expr --context "$ctx" "MATRIX.OS == 'linux'"
expect_stdout 'true' "$GHRUN" expr --context "$ctx" "failure()"
expect_stdout 'false' "$GHRUN" expr --context "$ctx" "success()"
expect_stdout '["success","failure"]' "$GHRUN" expr --context "$ctx" "needs.*.result"

# expr errors: exit 2, message on stderr.
expect_rc 2 "$GHRUN" expr "1 +"
expect_rc 2 "$GHRUN" expr "nosuchcontext.x"
expect_err_has "nosuchcontext" "$GHRUN" expr "nosuchcontext.x"
expect_rc 2 "$GHRUN" expr "unknownfn(1)"
expect_rc 2 "$GHRUN" expr
expect_rc 2 "$GHRUN" expr a b
expect_rc 2 "$GHRUN" expr --context
expect_rc 2 "$GHRUN" expr --context /nonexistent.json "1"
echo '{"bogus": {}}' >"$ctx"
expect_rc 2 "$GHRUN" expr --context "$ctx" "1"
expect_err_has "'bogus' is not a context name" "$GHRUN" expr --context "$ctx" "1"

# expr --batch: one output line per input line, errors inline.
out=$(printf '%s\n' '{"expr": "1 == 1"}' '{"expr": "env.A", "context": {"env": {"A": "x"}}}' \
    '{"expr": "1 +"}' 'not json' | "$GHRUN" expr --batch)
check "batch line 1" test "$(sed -n 1p <<<"$out")" = '{"value":true}'
check "batch line 2" test "$(sed -n 2p <<<"$out")" = '{"value":"x"}'
check "batch line 3 is an error" grep -q '^{"error":' <<<"$(sed -n 3p <<<"$out")"
check "batch line 4 is an error" grep -q '^{"error":' <<<"$(sed -n 4p <<<"$out")"
check "batch has 4 lines" test "$(wc -l <<<"$out")" -eq 4
rm -f "$ctx"

finish
