#!/usr/bin/env bash
# Probe load: gtmd serving the lab zone while probing N targets (TCP connect checks, interval 1 s) —
# CPU and memory of gtmd, and DNS latency (dnsperf at a fixed rate) with and without the probes.
#   bench/probe-load.sh [N=1000] [SECS=30] [QPS=20000]
# Needs the release binary (bench/run.sh builds it) and dnsperf. Everything stays on 127.0.0.0/8.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}; SECS=${2:-30}; QPS=${3:-20000}
BIN=${GTMD_BIN:-.build/release/gtmd}
[ -x "$BIN" ] || scripts/build-release.sh
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cp bench/zones/lab.example.zone "$work/lab.example.zone"
# One accept-and-close listener on 0.0.0.0:PORT answers the TCP checks of every 127.x address.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("0.0.0.0",0)); print(s.getsockname()[1])')
python3 - "$PORT" <<'PY' &
import socket, sys, signal
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(4096)
while True:
    c, _ = s.accept(); c.close()
PY
pids+=($!)
config() { # $1 = number of targets
  cat <<YAML
server: { listen: ["127.0.0.1:25430"], udp_workers: 1 }
zones: [ { origin: lab.example, file: $work/lab.example.zone } ]
state_file: $work/state.json
YAML
  [ "$1" -gt 0 ] || return 0
  echo "checks: { conn: { type: tcp, port: $PORT, interval: 1s, timeout: 500ms, fall: 3, rise: 2 } }"
  echo "pools:"
  echo "  many:"
  echo "    checks: [conn]"
  echo "    members:"
  for i in $(seq 0 $(($1 - 1))); do echo "      - 127.$((100 + i / 62500)).$(((i / 250) % 250)).$((i % 250 + 1))"; done
  echo "services: { many.lab.example: { policy: all, pools: [many] } }"
}
run() { # $1 = label, $2 = targets
  config "$2" > "$work/gtmd.yaml"
  taskset -c 0 "$BIN" serve --config "$work/gtmd.yaml" --log-level warning &
  local gp=$!
  for _ in $(seq 100); do dig +short +time=1 +tries=1 @127.0.0.1 -p 25430 www.lab.example >/dev/null 2>&1 && break; sleep 0.1; done
  sleep 3
  local t0 c0; t0=$(date +%s.%N); c0=$(awk '{print $14+$15}' /proc/$gp/stat)
  taskset -c 1 dnsperf -s 127.0.0.1 -p 25430 -d bench/queries/mix.txt -l "$SECS" -Q "$QPS" -v 2>/dev/null \
    | awk '/^> NOERROR|^> NXDOMAIN/ {print $NF}' > "$work/lat.txt" || true
  local t1 c1 rss; t1=$(date +%s.%N); c1=$(awk '{print $14+$15}' /proc/$gp/stat)
  rss=$(awk '/VmRSS/ {print $2}' /proc/$gp/status)
  local hz; hz=$(getconf CLK_TCK)
  python3 - "$1" "$2" "$work/lat.txt" "$c0" "$c1" "$t0" "$t1" "$hz" "$rss" <<'PY'
import sys, statistics
label, n, f, c0, c1, t0, t1, hz, rss = sys.argv[1:]
lat = sorted(float(x) * 1000 for x in open(f) if x.strip())
cpu = (float(c1) - float(c0)) / float(hz) / (float(t1) - float(t0)) * 100
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
print(f"| {label} | {n} | {len(lat)} | {q(0.5):.3f} | {q(0.99):.3f} | {q(0.999):.3f} | {cpu:.1f} | {int(rss)//1024} |")
PY
  kill "$gp"; wait "$gp" 2>/dev/null || true
}
echo "| run | targets | answers | p50 ms | p99 ms | p99.9 ms | gtmd CPU % of a core | RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
run "no probes" 0
run "probing" "$N"
run "no probes (again)" 0
run "probing (again)" "$N"
