#!/usr/bin/env bash
# Fails if any C++ file of the project differs from what .clang-format asks for.
# Fix with: clang-format -i $(git ls-files '*.cpp' '*.hpp')
set -euo pipefail
cd "$(dirname "$0")/.."
cf=$(command -v clang-format-14 || command -v clang-format)
mapfile -t files < <(find src tests fuzz bench -name '*.cpp' -o -name '*.hpp' | sort)
"$cf" --dry-run -Werror "${files[@]}"
echo "format ok (${#files[@]} files)"
