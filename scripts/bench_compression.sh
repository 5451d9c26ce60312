#!/usr/bin/env bash
# permessage-deflate cost, measured: 16 KiB JSON-like echo through wsgate with compression off,
# shared and dedicated (the same run, alternating), and wsgate's CPU per message. Not a test.
#   scripts/bench_compression.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
rounds=${2:-3}
scripts/setup.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release --target wsgate >/dev/null
dir=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$dir/wsgate.toml" <<TOML
[server]
workers = 1
access_log = "off"
log_level = "warn"
[[listen]]
address = "127.0.0.1:$port"
[[route]]
path = "/off"
kind = "echo"
[[route]]
path = "/shared"
kind = "echo"
compression = "shared"
[[route]]
path = "/dedicated"
kind = "echo"
compression = "dedicated"
TOML
taskset -c 0 build/release/src/wsgate -c "$dir/wsgate.toml" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
sleep 0.5
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }  # utime + stime, clock ticks
hz=$(getconf CLK_TCK)
echo "mode        round  msg/s   payload MB/s  wsgate CPU s  msgs per wsgate CPU s"
for r in $(seq "$rounds"); do
  for mode in off shared dedicated; do
    deflate=1; [[ $mode == off ]] && deflate=0
    before=$(cpu)
    line=$(NODE_PATH=/usr/share/nodejs taskset -c 1 node bench/interop/ws_echo_load.js \
      "ws://127.0.0.1:$port/$mode" 8 8 "$secs" "$deflate")
    after=$(cpu)
    /usr/bin/python3 - "$mode" "$r" "$line" "$before" "$after" "$hz" "$secs" <<'PY'
import json, sys
mode, r, line, before, after, hz, secs = sys.argv[1:]
d = json.loads(line)
cpu = (int(after) - int(before)) / int(hz)
total = d["messages_per_s"] * float(secs)
print(f"{mode:<11} {r:>5}  {d['messages_per_s']:>6}  {d['payload_mb_per_s']:>12}  {cpu:>12.2f}"
      f"  {total / cpu if cpu else 0:>10.0f}   errors={d['errors']}")
PY
  done
done
