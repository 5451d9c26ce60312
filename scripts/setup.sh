#!/usr/bin/env bash
# Installs the Debian packages wsgate needs. Idempotent, and silent when everything is present.
#   scripts/setup.sh          build + test dependencies
#   scripts/setup.sh fuzz     also clang-14 with libFuzzer (scripts/fuzz.sh)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libssl-dev zlib1g-dev libuv1-dev libtomlplusplus-dev node-llhttp  # libraries
  catch2 libbenchmark-dev clang-format                              # tests, lint, bench/
  python3-websockets python3-pytest nodejs node-ws nginx            # tests/interop
)
for group in "$@"; do
  case "$group" in
    fuzz) packages+=(clang-14 libclang-rt-14-dev) ;;
    *) echo "setup.sh: unknown group '$group'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

echo "setup.sh: installing ${missing[*]}" >&2
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
