#!/usr/bin/env bash
# Banned calls and fds opened without CLOEXEC (see STYLE.md section 13).
set -u
root=${1:-.}
cd "$root" || exit 2
dirs=(common executor runner sandbox)
fail=0
hits=$(grep -nE '\b(sprintf|strcat|strncat|gets|strtok|atoi|system|popen)\s*\(' \
    --include='*.c' --include='*.h' -r "${dirs[@]}" | grep -v 'checksrc: allow')
if [ -n "$hits" ]; then
    echo "banned functions:"
    echo "$hits"
    fail=1
fi
hits=$(grep -nE '\bopen(at)?\s*\([^;]*\);' --include='*.c' -r "${dirs[@]}" \
    | grep -v O_CLOEXEC | grep -v 'checksrc: allow')
if [ -n "$hits" ]; then
    echo "open() without O_CLOEXEC:"
    echo "$hits"
    fail=1
fi
if [ $fail -eq 0 ]; then
    echo "checksrc: clean"
fi
exit $fail
