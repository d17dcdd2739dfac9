#!/usr/bin/env bash
# `ghrun run` costs: start-up to first poll, idle memory and CPU, job latency, against the C
# fake GitHub in bench/bench_runner.c (built with the tree). Usage:
#   bench/bench_runner.sh [BUILD_DIR] [bench_runner options: -r runs -j jobs -i idle_s -H hold_s
#                          -w settle_ms -L -T]
# GHRUN (default BUILD_DIR/bin/ghrun) is the launcher; ghrun-listener and ghrun-engine lie next to it.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-bench}
[ $# -gt 0 ] && shift
exec "$BUILD/bin/bench_runner" "$@" "${GHRUN:-$BUILD/bin/ghrun}"
