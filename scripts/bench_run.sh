#!/usr/bin/env bash
# The side-by-side benchmark of issue 7: wsgate against nginx, haproxy, websockify, raw loopback
# TCP and a minimal C++ WebSocket server, in one run, as ratios. Not a test (the test suite runs
# only `--smoke`, tests/integration/test_bench_smoke.py).
#
#   scripts/bench_run.sh [--smoke] [--only a,b,...] [--rounds N] [--duration S] [--out FILE]
#                        [--workers N] [--fanout-n N] [--rss-n N] [--no-pin] [--no-install]
#                        [--proxy-cpu LIST] [--client-cpu LIST] [--list]
#
# Systems: wsgate (WSGATE_BIN, default build/release/src/wsgate; the load generator and the
# backends come from the bench/ directory beside its src/); nginx (WebSocket proxy with
# proxy_buffer_size 64k, proxy_http_version 1.1, Upgrade/Connection headers; HTTP proxy with an
# upstream keepalive pool; access_log off; worker_processes = --workers), haproxy (WebSocket
# proxy, nbthread = --workers), websockify (the Debian package, as a WebSocket -> TCP bridge).
# wsgate runs with the same number of workers and access_log off. All of them sit in front of
# the same backends (wsgate-bench-backend) on 127.0.0.1.
#
# Method: each scenario runs its two systems alternately, A B A B ..., for --rounds rounds
# (default 3) of --duration seconds (default 10) each, and reports medians. The CPU time of the
# system under test is read from /proc/PID/stat (utime+stime, plus cutime+cstime, summed over
# its process tree: nginx workers, websockify's per-connection children) before and after each
# run, for "messages per CPU-second of the proxy". RSS scenarios open idle WebSockets with
# `wsgate-bench connect` (several processes past 19,900 connections, spread over 127.0.0.x
# source addresses) and read VmRSS from /proc/PID/status while they are held, each on a freshly
# started system (a process with no heap history). The CPU time covers the whole client run,
# set-up included (for fan-out: N logins and joins), so messages per CPU-second are a lower bound.
#
# Pinning (taskset): the system under test (wsgate, nginx, haproxy, websockify, and the minimal
# WebSocket server when it is the peer of wsgate's built-in echo) runs on core 0 (--proxy-cpu);
# the load generator and every backend share core 1 (--client-cpu). The proxy then has a core of
# its own, as it would in production, and the comparison is between proxies, not between how
# the scheduler happened to place them; client and backend are cheap epoll loops that reach
# loopback speed on one core (bench/loadgen/README.md). With more --workers, give the proxy more
# cores (--proxy-cpu 0,1). With one core (or --no-pin) nothing is pinned.
#
# Debian packages: nginx, haproxy, websockify, wrk (installed with apt-get when missing, unless
# --smoke or --no-install; then the scenarios that need them are skipped). Without wrk the
# HTTP scenario uses `wsgate-bench http` for both systems instead.
#
# Everything it starts it stops by PID (trap on EXIT); configs live in a mktemp directory.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

ALL_SCENARIOS=(ws-echo-64 ws-echo-64-haproxy ws-echo-64-tunnel ws-echo-16k bridge-64
  bridge-sink-16k http-100 builtin-echo-64 fanout-chat rss-idle rss-proxied)
OPTIONAL_SCENARIOS=(fanout-broker)  # needs the broker handler (ws_publish); not in "all" yet

smoke=0 only="" rounds=3 duration=10 out="" workers=1 fanout_n=10000 rss_n=10000
pin=1 install=1 proxy_cpu=0 client_cpu=1
while (($#)); do
  case "$1" in
    --smoke) smoke=1 ;;
    --only) only=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --duration) duration=$2; shift ;;
    --out) out=$2; shift ;;
    --workers) workers=$2; shift ;;
    --fanout-n) fanout_n=$2; shift ;;
    --rss-n) rss_n=$2; shift ;;
    --proxy-cpu) proxy_cpu=$2; shift ;;
    --client-cpu) client_cpu=$2; shift ;;
    --no-pin) pin=0 ;;
    --no-install) install=0 ;;
    --list) printf '%s\n' "${ALL_SCENARIOS[@]}" "${OPTIONAL_SCENARIOS[@]}"; exit 0 ;;
    -h|--help) sed -n '2,44p' "$0"; exit 0 ;;
    *) echo "bench_run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if ((smoke)); then rounds=1 duration=1 fanout_n=50 rss_n=300 install=0; fi
[[ $(nproc) -ge 2 ]] || pin=0

WSGATE_BIN=${WSGATE_BIN:-$ROOT/build/release/src/wsgate}
BENCH_DIR=${WSGATE_BENCH_DIR:-$(dirname "$(dirname "$WSGATE_BIN")")/bench}
LOADGEN=$BENCH_DIR/wsgate-bench
BACKEND=$BENCH_DIR/wsgate-bench-backend
if [[ ! -x $WSGATE_BIN || ! -x $LOADGEN || ! -x $BACKEND ]]; then
  if ((smoke)); then
    echo "bench_run.sh: missing $WSGATE_BIN, $LOADGEN or $BACKEND (build them first)" >&2; exit 3
  fi
  build=$(dirname "$(dirname "$WSGATE_BIN")")
  cmake -S "$ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" --target wsgate wsgate-bench wsgate-bench-backend
fi

if [[ -z $only ]]; then selected=("${ALL_SCENARIOS[@]}"); else IFS=, read -ra selected <<<"$only"; fi
for s in "${selected[@]}"; do
  [[ " ${ALL_SCENARIOS[*]} ${OPTIONAL_SCENARIOS[*]} " == *" $s "* ]] ||
    { echo "bench_run.sh: unknown scenario $s (see --list)" >&2; exit 2; }
done

have() { command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 ]]; }
missing_pkgs=()
for p in nginx haproxy websockify wrk; do have "$p" || missing_pkgs+=("$p"); done
if ((install)) && ((${#missing_pkgs[@]})) && [[ $(id -u) -eq 0 ]]; then
  echo "bench_run.sh: installing ${missing_pkgs[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing_pkgs[@]}" >/dev/null || echo "bench_run.sh: apt-get failed; skipping what needs it" >&2
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

# ------------------------------------------------------------------------------------------
# Processes: started pinned, logged, stopped by PID (and their children) on exit.
tmp=$(mktemp -d /tmp/wsgate-bench.XXXXXX)
pids=()
descendants() {  # PID -> PID and every descendant, one per line
  local p=$1 c
  echo "$p"
  for c in $(pgrep -P "$p" 2>/dev/null); do descendants "$c"; done
}
stop_all() {
  local p all=()
  for p in "${pids[@]}"; do all+=($(descendants "$p")); done
  ((${#all[@]})) && kill -TERM "${all[@]}" 2>/dev/null
  for _ in $(seq 30); do
    local alive=0
    for p in "${all[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  ((${#all[@]})) && kill -KILL "${all[@]}" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap 'stop_all || true' EXIT
trap 'exit 130' INT TERM

on_cpu() {  # on_cpu CPU cmd... (taskset when pinning)
  local cpu=$1; shift
  if ((pin)); then taskset -c "$cpu" "$@"; else "$@"; fi
}
start() {  # start NAME CPU cmd... -> sets $last_pid, the PID of the program itself
  local name=$1 cpu=$2; shift 2
  # Not through on_cpu: a backgrounded function is a subshell, and $! would be its PID.
  # taskset execs the program, so $! is the program's PID.
  if ((pin)); then
    taskset -c "$cpu" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  else
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  fi
  last_pid=$!
  pids+=("$last_pid")
}
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {  # wait_port PORT NAME
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench_run.sh: $2 did not listen on $1; its log:" >&2; cat "$tmp/$2.err" >&2; exit 1
}
cpu_ticks() {  # utime+stime+cutime+cstime over the process tree of PID
  local t=0 p f
  for p in $(descendants "$1"); do
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    f=${f##*) }  # drop "pid (comm) "
    read -ra a <<<"$f"
    t=$((t + a[11] + a[12] + a[13] + a[14]))
  done
  echo "$t"
}
rss_kib() {  # VmRSS summed over the process tree of PID
  local t=0 p v
  for p in $(descendants "$1"); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
HZ=$(getconf CLK_TCK)

# ------------------------------------------------------------------------------------------
# The systems. Backends on the client core; the systems under test on the proxy core.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
for n in tcpecho sink wsecho http wsgate nginx haproxy wsfy wsserver; do
  printf -v "P_$n" '%s' "$(free_port)"
done
SECRET=wsgate-bench-secret-0123456789
declare -A PID=()

start_backends() {
  start be-tcpecho "$client_cpu" "$BACKEND" tcp-echo --listen "127.0.0.1:$P_tcpecho"
  PID[be-tcpecho]=$last_pid
  start be-sink "$client_cpu" "$BACKEND" tcp-sink --listen "127.0.0.1:$P_sink" --size 16384
  PID[be-sink]=$last_pid
  start be-wsecho "$client_cpu" "$BACKEND" ws-echo --listen "127.0.0.1:$P_wsecho"
  PID[be-wsecho]=$last_pid
  start be-http "$client_cpu" "$BACKEND" http --listen "127.0.0.1:$P_http" --size 100
  PID[be-http]=$last_pid
  for n in tcpecho:be-tcpecho sink:be-sink wsecho:be-wsecho http:be-http; do
    local v="P_${n%%:*}"; wait_port "${!v}" "${n#*:}"
  done
}

start_wsgate() {
  cat >"$tmp/wsgate.toml" <<TOML
[server]
workers = $workers
access_log = "off"
log_level = "warn"
[[listen]]
address = "127.0.0.1:$P_wsgate"
[[route]]
path = "/echo"
kind = "echo"
[[route]]
path = "/ws"
kind = "proxy"
upstream = "wsecho"
[[route]]
path = "/wstunnel"
kind = "proxy"
upstream = "wsecho"
passthrough = true
[[route]]
path = "/http"
kind = "proxy"
upstream = "http"
[[route]]
path = "/tcpecho"
kind = "bridge"
upstream = "tcpecho"
[[route]]
path = "/sink"
kind = "bridge"
upstream = "sink"
[[route]]
path = "/chat"
kind = "chat"
jwt_secret = "$SECRET"
presence = "off"
rate = 0
history = 0
max_online = 0
[[route]]
path = "/events"
kind = "broker"
ws_publish = true
[upstream.wsecho]
servers = ["127.0.0.1:$P_wsecho"]
[upstream.http]
servers = ["127.0.0.1:$P_http"]
keepalive = 64
[upstream.tcpecho]
servers = ["127.0.0.1:$P_tcpecho"]
[upstream.sink]
servers = ["127.0.0.1:$P_sink"]
TOML
  start wsgate "$proxy_cpu" "$WSGATE_BIN" -c "$tmp/wsgate.toml"
  PID[wsgate]=$last_pid
  wait_port "$P_wsgate" wsgate
}

start_nginx() {
  mkdir -p "$tmp/nginx/logs"
  cat >"$tmp/nginx.conf" <<CONF
worker_processes $workers;
worker_rlimit_nofile 20000;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
user root;
events { worker_connections 19900; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  upstream httpup { server 127.0.0.1:$P_http; keepalive 64; }
  server {
    listen 127.0.0.1:$P_nginx backlog=4096;
    location /ws {
      proxy_pass http://127.0.0.1:$P_wsecho;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_buffer_size 64k;
      proxy_buffers 4 64k;            # proxy_buffer_size 64k needs these to be consistent
      proxy_busy_buffers_size 128k;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
    location /http {
      proxy_pass http://httpup;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
  start nginx "$proxy_cpu" "$NGINX" -p "$tmp/nginx" -c "$tmp/nginx.conf" -g 'daemon off;'
  PID[nginx]=$last_pid
  wait_port "$P_nginx" nginx
}

start_haproxy() {
  cat >"$tmp/haproxy.cfg" <<CFG
global
  maxconn 9000   # two sockets per proxied connection: under the 20,000-file cap
  nbthread $workers
defaults
  mode http
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
frontend fe
  bind 127.0.0.1:$P_haproxy
  default_backend be
backend be
  server s1 127.0.0.1:$P_wsecho
CFG
  start haproxy "$proxy_cpu" "$HAPROXY" -db -f "$tmp/haproxy.cfg"
  PID[haproxy]=$last_pid
  wait_port "$P_haproxy" haproxy
}

start_websockify() {
  start websockify "$proxy_cpu" /usr/bin/websockify "127.0.0.1:$P_wsfy" "127.0.0.1:$P_tcpecho"
  PID[websockify]=$last_pid
  wait_port "$P_wsfy" websockify
}

start_wsserver() {  # the minimal WebSocket server, as the system under test
  start wsserver "$proxy_cpu" "$BACKEND" ws-echo --listen "127.0.0.1:$P_wsserver" \
    --threads "$workers"
  PID[wsserver]=$last_pid
  wait_port "$P_wsserver" wsserver
}

ensure() {  # ensure SYSTEM: start it once
  [[ -n ${PID[$1]:-} ]] && return 0
  case $1 in
    nginx) start_nginx ;; haproxy) start_haproxy ;; websockify) start_websockify ;;
    wsserver) start_wsserver ;; wsgate) start_wsgate ;;
  esac
}

restart() {  # restart SYSTEM: a fresh process (RSS is measured on a process with no history)
  local p=${PID[$1]:-} all
  if [[ -n $p ]]; then
    all=($(descendants "$p"))
    kill -TERM "${all[@]}" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${all[@]}" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    unset "PID[$1]"
  fi
  ensure "$1"
}

# ------------------------------------------------------------------------------------------
# One measured run: the client on the client core, the system's CPU time around it.
results=$tmp/results.tsv meta=$tmp/meta.tsv
: >"$results"; : >"$meta"
record() {  # record SCEN NAME ROUND METRIC JSON_FILE CPU_TICKS(-1: none) RC
  /usr/bin/python3 "$ROOT/bench/runner/record.py" "$results" "$@" "$HZ"
}
run_measured() {  # run_measured SCEN NAME ROUND METRIC CMD...
  local scen=$1 name=$2 round=$3 metric=$4; shift 4
  local spid=${PID[$name]:-0} c0=0 c1=0 rc=0
  [[ $spid != 0 ]] && c0=$(cpu_ticks "$spid")
  on_cpu "$client_cpu" "$@" >"$tmp/run.out" 2>"$tmp/run.err" || rc=$?
  [[ $spid != 0 ]] && c1=$(cpu_ticks "$spid")
  ((rc == 0)) || { echo "  ($name: exit $rc)"; tail -3 "$tmp/run.err"; } >&2
  record "$scen" "$name" "$round" "$metric" "$tmp/run.out" "$([[ $spid != 0 ]] && echo $((c1 - c0)) || echo -1)" "$rc"
}
run_rss() {  # run_rss SCEN NAME ROUND URL N
  local scen=$1 name=$2 round=$3 url=$4 n=$5 per=9500 hold=3 procs=() i=0 m before after
  ((smoke)) && hold=1
  restart "$name"
  sleep 0.3
  before=$(rss_kib "${PID[$name]}")
  while ((n > 0)); do
    m=$((n < per ? n : per)); n=$((n - m)); i=$((i + 1))
    start "conn$i" "$client_cpu" "$LOADGEN" connect --url "$url" -c "$m" --sources 8 -d "$hold"
    procs+=("$last_pid")
  done
  for ((j = 1; j <= i; j++)); do
    for _ in $(seq 600); do grep -q holding "$tmp/conn$j.err" && break; sleep 0.05; done
  done
  sleep 0.5
  after=$(rss_kib "${PID[$name]}")
  for p in "${procs[@]}"; do wait "$p" || true; done
  cat "$tmp"/conn*.out >"$tmp/run.out"
  rm -f "$tmp"/conn*.out "$tmp"/conn*.err
  /usr/bin/python3 "$ROOT/bench/runner/record.py" "$results" "$scen" "$name" "$round" rss \
    "$tmp/run.out" -1 0 "$HZ" "$before" "$after"
  progress
}
progress() {
  tail -1 "$results" | awk -F'\t' '{printf "  %-18s %-10s round %s: %s (p99 %s us, errors %s)\n", $1, $2, $3, $4, $5, $8}' >&2
}

# pair SCEN METRIC A_NAME "A args" [B_NAME "B args"]: A B A B ... for $rounds rounds. A
# command is wsgate-bench's arguments, or a full command line starting with "wrk".
pair() {
  local scen=$1 metric=$2 r; shift 2
  for ((r = 1; r <= rounds; r++)); do
    local args=("$@")
    while ((${#args[@]} >= 2)); do
      local name=${args[0]} cmd=${args[1]}
      args=("${args[@]:2}")
      if [[ $cmd == wrk* ]]; then
        run_measured "$scen" "$name" "$r" "$metric" $cmd
      else
        run_measured "$scen" "$name" "$r" "$metric" "$LOADGEN" $cmd
      fi
      progress
    done
  done
}
meta_row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$meta"; }  # SCEN LABEL UNIT PEER TARGET
skip() { meta_row "$1" "$2" - - "skipped: $3"; echo "bench_run.sh: $1 skipped: $3" >&2; }

D=$duration
http_client() {  # http_client URL -> command for pair
  if have wrk; then echo "wrk -t1 -c50 -d${D}s --latency $1"; else echo "http --url $1 -c 50 -s 100 -d $D"; fi
}
scenario() {
  local s=$1 W=ws://127.0.0.1:$P_wsgate
  echo "== $s" >&2
  case $s in
    ws-echo-64|ws-echo-64-tunnel|ws-echo-16k|rss-proxied|http-100)
      have nginx || { skip "$s" "$s" "nginx not installed"; return; }; ensure nginx ;;&
    ws-echo-64-haproxy) have haproxy || { skip "$s" "$s" "haproxy not installed"; return; }
      ensure haproxy ;;
    bridge-64) have websockify || { skip "$s" "$s" "websockify not installed"; return; }
      ensure websockify ;;
    builtin-echo-64|rss-idle) ensure wsserver ;;
  esac
  local N=ws://127.0.0.1:$P_nginx
  case $s in
    ws-echo-64) meta_row "$s" "WS proxy, echo 64 B, c50 w8" msg/s nginx "≥ 1.2×"
      pair "$s" messages_per_s wsgate "echo --url $W/ws -c 50 -w 8 -s 64 -d $D" \
        nginx "echo --url $N/ws -c 50 -w 8 -s 64 -d $D" ;;
    ws-echo-64-haproxy) meta_row "$s" "WS proxy, echo 64 B, c50 w8" msg/s haproxy "-"
      pair "$s" messages_per_s wsgate "echo --url $W/ws -c 50 -w 8 -s 64 -d $D" \
        haproxy "echo --url ws://127.0.0.1:$P_haproxy/ws -c 50 -w 8 -s 64 -d $D" ;;
    ws-echo-64-tunnel) meta_row "$s" "WS proxy as a byte tunnel (passthrough = true), echo 64 B, c50 w8" msg/s nginx "-"
      pair "$s" messages_per_s wsgate "echo --url $W/wstunnel -c 50 -w 8 -s 64 -d $D" \
        nginx "echo --url $N/ws -c 50 -w 8 -s 64 -d $D" ;;
    ws-echo-16k) meta_row "$s" "WS proxy, echo 16 KiB, c10 w8" MB/s nginx "≥ 1.0×"
      pair "$s" mb_per_s wsgate "echo --url $W/ws -c 10 -w 8 -s 16384 -d $D" \
        nginx "echo --url $N/ws -c 10 -w 8 -s 16384 -d $D" ;;
    bridge-64) meta_row "$s" "bridge WS→TCP echo, 64 B, c50 w8" msg/s websockify "≥ 15×"
      pair "$s" messages_per_s wsgate "echo --stream --url $W/tcpecho -c 50 -w 8 -s 64 -d $D" \
        websockify "echo --stream --url ws://127.0.0.1:$P_wsfy/ -c 50 -w 8 -s 64 -d $D" ;;
    bridge-sink-16k) meta_row "$s" "bridge sink 16 KiB, c4" MB/s "raw TCP" "≥ 0.5×"
      pair "$s" mb_per_s wsgate "sink --url $W/sink -c 4 -s 16384 -d $D" \
        raw "tcp-sink --addr 127.0.0.1:$P_sink -c 4 -s 16384 -d $D" ;;
    http-100) meta_row "$s" "HTTP proxy keep-alive, 100 B, c50 ($(have wrk && echo wrk || echo wsgate-bench))" req/s nginx "≥ 1.0×"
      pair "$s" messages_per_s wsgate "$(http_client "http://127.0.0.1:$P_wsgate/http")" \
        nginx "$(http_client "http://127.0.0.1:$P_nginx/http")" ;;
    builtin-echo-64) meta_row "$s" "built-in echo 64 B, c50 w8" msg/s "minimal C++ server" "≥ 0.8×"
      pair "$s" messages_per_s wsgate "echo --url $W/echo -c 50 -w 8 -s 64 -d $D" \
        wsserver "echo --url ws://127.0.0.1:$P_wsserver/ -c 50 -w 8 -s 64 -d $D" ;;
    fanout-chat) meta_row "$s" "fan-out, chat room, $fanout_n subscribers" deliveries/s - "≥ 2,000,000/s"
      pair "$s" deliveries_per_s wsgate "fanout --kind chat --url $W/chat --secret $SECRET -c $fanout_n -w 16 -d $D" ;;
    fanout-broker) meta_row "$s" "fan-out, broker topic, $fanout_n subscribers" deliveries/s - "≥ 2,000,000/s"
      pair "$s" deliveries_per_s wsgate "fanout --kind broker --url $W/events -c $fanout_n -w 16 -d $D" ;;
    rss-idle) meta_row "$s" "RSS per idle WebSocket, built-in route, $rss_n conns" KiB/conn "minimal C++ server" "≤ 2 KiB"
      for ((r = 1; r <= rounds; r++)); do
        run_rss "$s" wsgate "$r" "$W/echo" "$rss_n"
        run_rss "$s" wsserver "$r" "ws://127.0.0.1:$P_wsserver/" "$rss_n"
      done ;;
    rss-proxied) local n=$((rss_n < 9000 ? rss_n : 9000))  # two sockets per pair: 20,000-file cap
      meta_row "$s" "RSS per idle proxied pair, $n pairs" KiB/conn nginx "≤ 4 KiB"
      for ((r = 1; r <= rounds; r++)); do
        run_rss "$s" wsgate "$r" "$W/ws" "$n"
        run_rss "$s" nginx "$r" "$N/ws" "$n"
      done ;;
  esac
}

start_backends
ensure wsgate
pin_note="unpinned"
((pin)) && pin_note="system under test on core $proxy_cpu, client and backends on core $client_cpu"
echo "bench_run.sh: $rounds round(s) of ${duration}s, $workers worker(s), $pin_note" >&2
for s in "${selected[@]}"; do scenario "$s"; done
# The backends validated what reached them (tcp-sink checks every record of the sink rows):
# stop them now and add their verdict to the results.
backend_note=""
for b in be-tcpecho be-sink be-wsecho be-http; do
  p=${PID[$b]}  # always set: start_backends ran (never kill 0, the process group)
  kill -TERM "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  v=$(/usr/bin/python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline()); print(d["records"], d["errors"])' "$tmp/$b.out" 2>/dev/null || echo "? 1")
  backend_note+=" ${b#be-} ${v% *} records/${v#* } errors;"
  [[ ${v#* } == 0 ]] || backend_bad=1
done
# Exit status: 0 only if no run and no backend saw an error (the table is printed either way).
status=0
/usr/bin/python3 "$ROOT/bench/runner/table.py" "$meta" "$results" "$out" \
  "$rounds round(s) of ${duration}s each, alternating A B; $workers worker(s); $pin_note. Backends:$backend_note" || status=1
((${backend_bad:-0} == 0)) || { echo "bench_run.sh: a backend saw invalid input" >&2; status=1; }
exit $status
