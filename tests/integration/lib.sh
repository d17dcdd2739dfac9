# Shared helpers for integration tests (sourced). Each check prints one line;
# finish prints "N passed, N failed" and sets the exit status.
: "${GHRUN:?GHRUN must point at the ghrun binary}"
GR_SOURCE_DIR=${GR_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
GR_SHARED_DIR=${GR_SHARED_DIR:-$GR_SOURCE_DIR/../shared}
_pass=0
_fail=0

ok() {
    _pass=$((_pass + 1))
}

bad() {
    _fail=$((_fail + 1))
    echo "FAIL: $*"
}

# check DESC CMD...: CMD must succeed.
check() {
    local desc=$1
    shift
    if "$@"; then ok; else bad "$desc"; fi
}

expect_rc() {
    local want=$1 rc
    shift
    "$@" >/dev/null 2>&1 </dev/null
    rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else bad "exit $rc, want $want: $*"; fi
}

expect_stdout() {
    local want=$1 got
    shift
    got=$("$@" 2>/dev/null </dev/null)
    if [ "$got" = "$want" ]; then ok; else bad "stdout '$got', want '$want': $*"; fi
}

expect_out_has() {
    local want=$1
    shift
    if "$@" 2>/dev/null </dev/null | grep -qF -- "$want"; then ok; else bad "stdout lacks '$want': $*"; fi
}

expect_err_has() {
    local want=$1
    shift
    if "$@" 2>&1 >/dev/null </dev/null | grep -qF -- "$want"; then ok; else bad "stderr lacks '$want': $*"; fi
}

expect_one_line_err() {
    local n
    n=$("$@" 2>&1 >/dev/null </dev/null | wc -l)
    if [ "$n" -eq 1 ]; then ok; else bad "stderr has $n lines, want 1: $*"; fi
}

finish() {
    echo "$_pass passed, $_fail failed"
    [ "$_fail" -eq 0 ]
}

# Where tests keep npm packages: the build dir, unless it lies under /tmp (or there is none).
# Sandboxed steps get a private /tmp, so a tree under the host's /tmp is out of their sight;
# then /var/tmp, per user.
case "${GR_BUILD_DIR:-/tmp}/" in
/tmp/*) GR_NPM_BASE=/var/tmp/ghrun-test-npm-$(id -u) ;;
*) GR_NPM_BASE=$GR_BUILD_DIR ;;
esac

# npm_install DIR PKG...: install the npm packages PKG... into DIR/node_modules once, kept for
# later runs. Tests running at the same time share DIR: the install is serialised with flock
# and made in DIR.tmp, then renamed, so DIR/node_modules is either complete or absent.
# Returns non-zero when npm is missing or the install fails (its log: DIR.tmp/install.log).
npm_install() {
    local dir=$1
    shift
    [ -d "$dir/node_modules" ] && return 0
    command -v npm >/dev/null || return 1
    mkdir -p "$(dirname "$dir")"
    (
        flock 9
        [ -d "$dir/node_modules" ] && exit 0
        rm -rf "$dir.tmp" && mkdir -p "$dir.tmp" &&
            (cd "$dir.tmp" && timeout 300 npm install --no-audit --no-fund --loglevel=error \
                "$@" >install.log 2>&1) &&
            rm -rf "$dir" && mv "$dir.tmp" "$dir"
    ) 9>"$dir.lock"
}
