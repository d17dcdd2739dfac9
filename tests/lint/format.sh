#!/usr/bin/env bash
# Every tracked C file is formatted as .clang-format says (STYLE.md section 13).
set -u
root=${1:-.}
cd "$root" || exit 2
if ! command -v clang-format >/dev/null 2>&1; then
    echo "skipped: clang-format is not installed"
    exit 0
fi
if [ ! -d .git ] && ! git rev-parse --git-dir >/dev/null 2>&1; then
    files=$(find common executor runner sandbox tests bench -name '*.[ch]')
else
    files=$(git ls-files '*.c' '*.h')
fi
bad=0
for f in $files; do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f (run clang-format -i $f)"
        bad=1
    fi
done
[ $bad -eq 0 ] && echo "format: clean"
exit $bad
