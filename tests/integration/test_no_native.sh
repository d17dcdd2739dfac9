#!/usr/bin/env bash
# Per-action --no-native: `ghrun replay --no-native=actions/cache` runs actions/cache through
# its real action (here a stand-in from --action-dir that says so) while actions/checkout stays
# native, and the reverse; GHRUN_NO_NATIVE with the same syntax; bare --no-native turns every
# native action off; a misspelt action is a usage error (exit 2) that names it.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

command -v git >/dev/null || {
    echo "SKIP: git is not installed"
    exit 0
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ghrun-nonative.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 HOME=$tmp/home
export GHRUN_CACHE_DIR=$tmp/store
unset GHRUN_NO_NATIVE
mkdir -p "$HOME"

# Stand-ins for the real actions, as --action-dir lays them out (owner/repo/ref/).
for a in checkout cache; do
    mkdir -p "$tmp/actions/actions/$a/v4"
    printf '%s\n' "name: $a stand-in" "inputs:" "  path: {required: false}" \
        "  key: {required: false}" "runs:" "  using: composite" "  steps:" \
        "    - shell: bash" "      run: echo \"javascript $a action ran\"" \
        >"$tmp/actions/actions/$a/v4/action.yml"
done

git init -q -b main "$tmp/ws"
cd "$tmp/ws" || exit 1
mkdir -p .github/workflows
cat >.github/workflows/ci.yml <<'EOF'
on: push
jobs:
  main:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/cache@v4
        with: {path: deps, key: k1}
EOF
git add -A && git -c user.name=t -c user.email=t@e commit -qm init

# run [ARGS...]: replay; sets out and rc.
run() {
    out=$(timeout 120 "$GHRUN" replay push --sandbox off --action-dir "$tmp/actions" \
        --actions-url "file://$tmp/no-actions/" "$@" </dev/null 2>&1)
    rc=$?
}
want() {
    local desc=$1
    shift
    if "$@"; then ok; else
        bad "$desc"
        echo "$out" | tail -20
    fi
}
has() { grep -qF -- "$1" <<<"$out"; }
hasnt() { ! grep -qF -- "$1" <<<"$out"; }
NATIVE_CHECKOUT="actions/checkout@v4: using the workspace"
NATIVE_CACHE="Cache not found for input keys: k1"

run
want "default: succeeds" test "$rc" -eq 0
want "default: checkout is native" has "$NATIVE_CHECKOUT"
want "default: cache is native" has "$NATIVE_CACHE"
want "default: no stand-in ran" hasnt "javascript"

run --no-native=actions/cache
want "--no-native=actions/cache: succeeds" test "$rc" -eq 0
want "--no-native=actions/cache: checkout stays native" has "$NATIVE_CHECKOUT"
want "--no-native=actions/cache: the cache action ran" has "javascript cache action ran"
want "--no-native=actions/cache: not the native cache" hasnt "$NATIVE_CACHE"
want "--no-native=actions/cache: no post step of the native cache" hasnt "Post Run actions/cache"

run "--no-native= Actions/Checkout ,"
want "--no-native=actions/checkout: succeeds" test "$rc" -eq 0
want "--no-native=actions/checkout: checkout action ran" has "javascript checkout action ran"
want "--no-native=actions/checkout: not the native checkout" hasnt "$NATIVE_CHECKOUT"
want "--no-native=actions/checkout: cache stays native" has "$NATIVE_CACHE"

export GHRUN_NO_NATIVE=actions/cache
run
want "GHRUN_NO_NATIVE=actions/cache: the cache action ran" has "javascript cache action ran"
want "GHRUN_NO_NATIVE=actions/cache: checkout stays native" has "$NATIVE_CHECKOUT"
run --no-native=actions/checkout
want "the flag wins over GHRUN_NO_NATIVE" has "javascript checkout action ran"
want "the flag wins over GHRUN_NO_NATIVE: cache native" has "$NATIVE_CACHE"
export GHRUN_NO_NATIVE=actions/setup-node
run
want "bad GHRUN_NO_NATIVE: usage error" test "$rc" -eq 2
want "bad GHRUN_NO_NATIVE: named" has "GHRUN_NO_NATIVE: 'actions/setup-node' is not a native action"
unset GHRUN_NO_NATIVE

run --no-native
want "bare --no-native: the checkout stand-in ran" has "javascript checkout action ran"
want "bare --no-native: the cache stand-in ran" has "javascript cache action ran"
want "bare --no-native: nothing native" hasnt "$NATIVE_CACHE"

run --no-native=actions/chekout
want "misspelt action: usage error" test "$rc" -eq 2
want "misspelt action: named" has "'actions/chekout' is not a native action"
want "misspelt action: nothing ran" hasnt "Start job"

expect_out_has "--no-native[=LIST]" "$GHRUN" replay --help

finish
