#!/usr/bin/env bash
# Configure and build ghrun into build/ (binary: build/bin/ghrun).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GHRUN_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGR_WERROR=ON "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
