#!/usr/bin/env bash
# The test suite: builds with -Werror under AddressSanitizer and
# UndefinedBehaviorSanitizer and runs every unit, integration and lint test
# through ctest. Extra arguments go to ctest (e.g. -L unit, -R expr).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GHRUN_TEST_BUILD_DIR:-$root/build-asan}
jobs=$(nproc)

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DGR_WERROR=ON -DGR_ASAN=ON -DGR_UBSAN=ON \
    >/dev/null
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs" "$@"
