#!/usr/bin/env bash
# Throughput of gtmd next to the peers (NSD, Knot DNS, gdnsd, PowerDNS) on the same zone and queries, measured in
# one run: every round starts each server in turn (the order rotates per round), loads it with dnsperf for SECS
# seconds, and stops it. The server runs on CPU 0, dnsperf on CPU 1 (taskset). Prints the median queries per
# second of each server and its ratio to the best; raw numbers go to .build/bench/<time>-peers/.
#
#   bench/peers.sh [--peers gtmd,gdnsd,nsd,knot,pdns] [--rounds 3] [--secs 10] [-c 4] [-q 256]
#                  [--queries bench/queries/mix.txt] [--gtmd PATH] [--gtmd-b PATH]
#
# --gtmd-b adds a second gtmd binary (a before/after comparison in one run): peers gtmd-b and gtmd-fo-b run it
# with gtmd's and gtmd-fo's configs, e.g. --peers gtmd,gtmd-b,gdnsd --gtmd-b old/gtmd.
# -c/-q are dnsperf's clients and outstanding queries: the defaults saturate a one-thread server on 2 cores
# (the "saturated" figure); -c 1 -q 100 makes dnsperf the limit. Loopback only (127.0.0.1, ports 25440-25449).
# Peers come from Debian (scripts/deps.sh --bench); configs are bench/peers/<name>/ (*.in rendered with
# @ADDR@ @PORT@ @RUN@, then `start` run by sh in the run dir; it must exec the server in the foreground).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
peers=gtmd,gdnsd,nsd,knot,pdns; rounds=3; secs=10; clients=4; outstanding=256
queries=$root/bench/queries/mix.txt; gtmd=""; gtmd_b=""
while [ $# -gt 0 ]; do
  case "$1" in
    --peers) peers=$2; shift 2;; --rounds) rounds=$2; shift 2;; --secs) secs=$2; shift 2;;
    -c) clients=$2; shift 2;; -q) outstanding=$2; shift 2;; --queries) queries=$(readlink -f "$2"); shift 2;;
    --gtmd) gtmd=$(readlink -f "$2"); shift 2;;
    --gtmd-b) gtmd_b=$(readlink -f "$2"); shift 2;;
    *) echo "peers.sh: unknown option $1 (see the header of bench/peers.sh)" >&2; exit 2;;
  esac
done
scripts/deps.sh --bench
if [ -z "$gtmd" ]; then
  scripts/build-release.sh >/dev/null
  gtmd=$root/.build/release/gtmd
fi
export GTMD=$gtmd GTMD_B=${gtmd_b:-$gtmd}
out=$root/.build/bench/$(date -u +%Y%m%dT%H%M%SZ)-peers
mkdir -p "$out"
IFS=, read -r -a names <<<"$peers"
pid=""
stop() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  pid=""
}
trap stop EXIT
trap 'exit 130' INT TERM HUP

# Starts peer $1 on port $2 in a fresh run dir; waits (at most 20 s) until www.lab.example answers.
start() {
  local name=$1 port=$2 run
  run=$(mktemp -d "${TMPDIR:-/tmp}/gtmd-bench-$name-XXXXXX")
  cp "$root/bench/zones/lab.example.zone" "$run/"
  for f in "$root/bench/peers/$name"/*; do
    case "$f" in
      *.in) sed "s|@ADDR@|127.0.0.1|g; s|@PORT@|$port|g; s|@RUN@|$run|g" "$f" > "$run/$(basename "${f%.in}")";;
      */start) ;;
      *) cp "$f" "$run/";;
    esac
  done
  (cd "$run" && exec taskset -c 0 timeout -k 5 $((secs * rounds * 4 + 120)) sh "$root/bench/peers/$name/start") \
    >"$out/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    if dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" www.lab.example A 2>/dev/null | grep -q 127.0.0.11; then return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "peers.sh: $name did not answer on port $port (log: $out/$name.log)" >&2
  tail -n 5 "$out/$name.log" >&2 || true
  return 1
}

echo "peer,round,qps" > "$out/qps.csv"
for ((r = 0; r < rounds; r++)); do
  for ((i = 0; i < ${#names[@]}; i++)); do
    k=$(( (i + r) % ${#names[@]} ))
    name=${names[$k]}
    port=$((25440 + k))
    start "$name" "$port"
    sleep 1
    qps=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$queries" -l "$secs" -c "$clients" -q "$outstanding" 2>&1 \
      | tee "$out/$name-round$r.dnsperf" | awk '/Queries per second/ {print $4}')
    stop
    echo "$name,$r,${qps:-0}" >> "$out/qps.csv"
    printf 'round %d  %-7s %10s qps\n' "$r" "$name" "${qps:-?}"
  done
done
python3 - "$out/qps.csv" <<'EOF' | tee "$out/table.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {}
for r in rows: by.setdefault(r["peer"], []).append(float(r["qps"]))
med = {p: statistics.median(v) for p, v in by.items()}
best = max(med.values()) or 1
print("| server | median qps | min | max | ratio to best |\n|---|---|---|---|---|")
for p, m in sorted(med.items(), key=lambda x: -x[1]):
    print(f"| {p} | {m:,.0f} | {min(by[p]):,.0f} | {max(by[p]):,.0f} | {m / best:.2f} |")
EOF
echo "raw: $out"
