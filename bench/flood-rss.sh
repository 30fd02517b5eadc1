#!/usr/bin/env bash
# Memory under a sustained query flood plus a probe storm: gtmd (release) serves the lab zones while
# dnsperf sends the mixed query set at full speed for SECS seconds and 500 pool members are TCP-probed
# every 200 ms (half of them up: a local listener; half refused) with health.max_in_flight 64.
# Prints gtmd's RSS (VmRSS, /proc) before the flood, every
# 30 s, and after; plus dnsperf's summary. With PEERS=1 NSD gets the same flood (RSS before/after) for
# comparison.    bench/flood-rss.sh [SECS=180]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-180}
BIN=${GTMD_BIN:-.build/release/gtmd}
[ -x "$BIN" ] || scripts/build-release.sh
work=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null; done; rm -rf "$work"' EXIT
rss() { awk '/VmRSS/ {print $2}' /proc/$1/status; }
# A TCP listener that accepts and closes (the "up" half of the members listen on 127.0.77.x:8099).
python3 - <<'PY' > /dev/null 2>&1 &
import socket, selectors
sel = selectors.DefaultSelector()
for i in range(1, 251):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((f"127.0.77.{i}", 8099)); s.listen(256); s.setblocking(False); sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        try:
            c, _ = key.fileobj.accept(); c.close()
        except OSError:
            pass
PY
pids+=($!)
{
  echo "server: { listen: [\"127.0.0.1:25434\"], udp_workers: 1, rrl: off }"
  echo "zones: [ { origin: lab.example, file: $(pwd)/zones/lab.example.zone } ]"
  echo "state_file: $work/state.json"
  echo "health: { max_in_flight: 64 }"
  echo "checks: { tcp: { type: tcp, port: 8099, interval: 200ms, timeout: 150ms, rise: 1, fall: 1 } }"
  echo "pools:"
  echo "  storm: { rule: any, checks: [tcp], members: [$(for i in $(seq 1 250); do printf '127.0.77.%d, 127.0.78.%d, ' $i $i; done | sed 's/, $//')] }"
  echo "services: { www.lab.example: { policy: failover, pools: [storm], ttl: 30 } }"
} > "$work/gtmd.yaml"
"$BIN" serve --config "$work/gtmd.yaml" --log-level warning 2> "$work/log" &
gp=$!; pids+=($gp)
for _ in $(seq 200); do
  kill -0 $gp 2>/dev/null || { echo "gtmd exited:"; cat "$work/log"; exit 1; }
  dig +short +time=1 +tries=1 @127.0.0.1 -p 25434 mail.lab.example >/dev/null 2>&1 && break; sleep 0.1
done
sleep 5
echo "gtmd RSS before the flood: $(rss $gp) KiB"
dnsperf -s 127.0.0.1 -p 25434 -d bench/queries/mix.txt -l "$SECS" -c 4 -q 200 > "$work/dnsperf" 2>&1 &
dp=$!; pids+=($dp)
t=0
while kill -0 $dp 2>/dev/null && [ $t -lt "$SECS" ]; do
  sleep 30; t=$((t + 30)); echo "gtmd RSS at ${t}s: $(rss $gp) KiB"
done
wait $dp || true
echo "gtmd RSS after the flood: $(rss $gp) KiB"
grep -E "Queries sent|Queries completed|Queries lost|Queries per second" "$work/dnsperf"
if [ "${PEERS:-0}" = 1 ] && command -v nsd >/dev/null; then
  mkdir -p "$work/nsd"
  cat > "$work/nsd/nsd.conf" <<NSD
server:
  ip-address: 127.0.0.1@25435
  zonesdir: "$(pwd)/zones"
  pidfile: "$work/nsd/nsd.pid"
  zonelistfile: "$work/nsd/zone.list"
  xfrdfile: "$work/nsd/xfrd.state"
  database: ""
  username: ""
  server-count: 1
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: lab.example
  zonefile: lab.example.zone
NSD
  nsd -d -c "$work/nsd/nsd.conf" 2>/dev/null &
  np=$!; pids+=($np); sleep 2
  echo "nsd RSS before: $(rss $np) KiB"
  dnsperf -s 127.0.0.1 -p 25435 -d bench/queries/mix.txt -l "$SECS" -c 4 -q 200 2>&1 | grep -E "Queries per second"
  echo "nsd RSS after: $(rss $np) KiB"
fi
