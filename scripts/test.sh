#!/usr/bin/env bash
# Builds wsgate from nothing and runs every test: first a -Werror build, then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer. This is the README's test command and .ci/run's.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

jobs=$(nproc)
run_suite() {  # run_suite BUILD_DIR CMAKE_ARGS...
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DWSGATE_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  ctest --test-dir "$dir" -j "$jobs" --output-on-failure
}

echo "== build/release: -Werror, RelWithDebInfo =="
run_suite build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== build/asan: AddressSanitizer + UndefinedBehaviorSanitizer =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_suite build/asan -DCMAKE_BUILD_TYPE=Debug -DWSGATE_SANITIZE=address,undefined -DWSGATE_BENCH=OFF
