#!/usr/bin/env bash
# Build an optimised tree (build-bench/) and run every benchmark; each prints
# its medians and the ratio against a baseline measured in the same run.
# Results go to stdout; BENCHMARKS.md holds the table of the last full run.
# Usage: bash bench/run.sh [name ...]   (default: all bench_* programs)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GHRUN_BENCH_BUILD_DIR:-$root/build-bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGR_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null || exit 1

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in "$build"/bin/bench_*; do
        names+=("$(basename "$f")")
    done
fi
for n in "${names[@]}"; do
    n=${n#bench_}
    echo "===== bench_$n ($(date -u +%FT%TZ), $(nproc) cores)"
    case $n in
    steps) "$build/bin/bench_$n" "$build/bin/ghrun" ;;
    runner) "$build/bin/bench_$n" "$build/bin/ghrun" ;;
    *) "$build/bin/bench_$n" ;;
    esac
    echo
done
