#!/usr/bin/env bash
# Builds and runs the proto microbenchmarks (bench/*_bench.cpp) on one core. Not a test.
#   scripts/bench.sh [BENCHMARK_FILTER]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc)"
for b in build/release/bench/*_bench; do
  echo "== $(basename "$b") =="
  taskset -c 0 "$b" --benchmark_min_time=0.5 --benchmark_filter="${1:-.}"
done
