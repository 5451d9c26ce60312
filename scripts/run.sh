#!/usr/bin/env bash
# Builds wsgate from nothing and starts it with configs/wsgate.toml (the README's run command).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc)" --target wsgate
build/release/src/wsgate --check -c configs/wsgate.toml
# Serves until Ctrl-C (graceful stop). Extra arguments go to wsgate.
exec build/release/src/wsgate -c configs/wsgate.toml "$@"
