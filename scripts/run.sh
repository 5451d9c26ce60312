#!/usr/bin/env bash
# Builds wsgate from nothing and starts it with configs/wsgate.toml (the README's run command).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc)" --target wsgate
build/release/src/wsgate --check -c configs/wsgate.toml
# Two demo users for the chat page (the secret is the one in configs/wsgate.toml).
secret=wsgate-demo-secret-change-me
ann=$(build/release/src/wsgate token --secret "$secret" --sub ann --name Ann --guild red)
bob=$(build/release/src/wsgate token --secret "$secret" --sub bob --name Bob --guild red)
cat <<EOF
wsgate: open http://127.0.0.1:8080/ (echo demo) or the chat, as two users in two windows:
  http://127.0.0.1:8080/chat.html#token=$ann
  http://127.0.0.1:8080/chat.html#token=$bob
EOF
# Serves until Ctrl-C (graceful stop). Extra arguments go to wsgate.
exec build/release/src/wsgate -c configs/wsgate.toml "$@"
