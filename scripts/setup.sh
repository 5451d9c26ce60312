#!/usr/bin/env bash
# Installs the Debian packages wsgate needs, then the browser test's Node package
# (tests/browser: playwright-core, driving Debian's chromium). Idempotent, and silent when
# everything is present.
#   scripts/setup.sh          build + test dependencies
#   scripts/setup.sh fuzz     also clang-14 with libFuzzer (scripts/fuzz.sh)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libssl-dev zlib1g-dev libuv1-dev libtomlplusplus-dev node-llhttp  # libraries
  catch2 libbenchmark-dev clang-format                              # tests, lint, bench/
  python3-websockets python3-pytest nodejs node-ws nginx            # tests/interop
  chromium                                                          # tests/browser
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
if ((${#missing[@]} > 0)); then
  echo "setup.sh: installing ${missing[*]}" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# tests/browser/package.json pins playwright-core; node_modules/ is not committed.
browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
if [[ ! -d "$browser_dir/node_modules/playwright-core" ]]; then
  npm_bin=/usr/bin/npm
  [[ -x "$npm_bin" ]] || npm_bin=$(command -v npm || true)
  if [[ -z "$npm_bin" ]]; then
    echo "setup.sh: npm not found (it comes with nodejs); cannot install tests/browser" >&2
    exit 1
  fi
  echo "setup.sh: npm install in tests/browser" >&2
  (cd "$browser_dir" && "$npm_bin" install --no-audit --no-fund --loglevel=error >/dev/null)
fi
