#!/usr/bin/env bash
# Runs the libFuzzer targets under ASan+UBSan (clang-14). Not part of the test suite.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      default: 300 s, every target
# Each target starts from a copy of fuzz/corpus/<name>/ in fuzz/work/<name>/ (so the committed
# corpus only grows on purpose: see fuzz/README.md), and crashes land in fuzz/artifacts/<name>/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh fuzz

seconds=${1:-300}
shift || true
CC=clang-14 CXX=clang++-14 cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWSGATE_FUZZ=ON -DWSGATE_SANITIZE=address,undefined -DWSGATE_TESTS=OFF -DWSGATE_BENCH=OFF \
  >/dev/null

targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in fuzz/*_fuzz.cpp; do n=$(basename "$f" .cpp); targets+=("${n%_fuzz}"); done
fi
cmake --build build/fuzz -j "$(nproc)" --target "${targets[@]/%/_fuzz}"

status=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/work/$t" "fuzz/artifacts/$t"
  cp -n fuzz/corpus/"$t"/* "fuzz/work/$t/" 2>/dev/null || true
  echo "== $t: ${seconds}s =="
  if ! "build/fuzz/fuzz/${t}_fuzz" -max_total_time="$seconds" -print_final_stats=1 \
       -artifact_prefix="fuzz/artifacts/$t/" "fuzz/work/$t" 2>"fuzz/work/$t.log"; then
    echo "!! $t found a problem: see fuzz/work/$t.log and fuzz/artifacts/$t/"; status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|^Done" "fuzz/work/$t.log" || true
done
exit $status
