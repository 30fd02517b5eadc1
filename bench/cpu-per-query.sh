#!/usr/bin/env bash
# Server CPU time per query (user + system, from /proc/<pid>/stat) at a fixed query rate: a per-query cost that
# holds up on a loaded machine far better than saturated queries per second, which swing with whatever else runs.
# Each round starts every binary in turn (order rotated) with the same peer config (bench/peers/<peer>/), sends
# the query mix at RATE qps for SECS seconds (dnsperf -Q, on CPU 1; the server on CPU 0), and divides the CPU time
# the server used during the load by the queries answered. Prints the median µs per query and the ratio to the
# first binary.
#
#   bench/cpu-per-query.sh [--peer gtmd|gtmd-fo] [--rounds 5] [--secs 5] [--rate 20000] BIN [BIN ...]
#
# Loopback only (127.0.0.1, a free port). Needs dnsperf (scripts/deps.sh --bench).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
peer=gtmd; rounds=5; secs=5; rate=20000; bins=()
while [ $# -gt 0 ]; do
  case "$1" in
    --peer) peer=$2; shift 2;; --rounds) rounds=$2; shift 2;; --secs) secs=$2; shift 2;; --rate) rate=$2; shift 2;;
    -*) echo "cpu-per-query.sh: unknown option $1 (see the header)" >&2; exit 2;;
    *) bins+=("$(readlink -f "$1")"); shift;;
  esac
done
[ ${#bins[@]} -gt 0 ] || { echo "usage: bench/cpu-per-query.sh [--peer P] [--rounds N] [--secs S] [--rate Q] BIN [BIN ...]" >&2; exit 2; }
command -v dnsperf >/dev/null || scripts/deps.sh --bench
out=$root/.build/bench/$(date -u +%Y%m%dT%H%M%SZ)-cpu-per-query
mkdir -p "$out"
tck=$(getconf CLK_TCK)
pid=""; run=""
stop() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid=""
  [ -z "$run" ] || rm -rf "$run"
  run=""
}
trap stop EXIT
cpu() { awk -v t="$tck" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
echo "binary,round,queries,cpu_s,us_per_query" > "$out/runs.csv"
for ((r = 0; r < rounds; r++)); do
  for ((i = 0; i < ${#bins[@]}; i++)); do
    k=$(( (i + r) % ${#bins[@]} ))
    bin=${bins[$k]}
    run=$(mktemp -d "${TMPDIR:-/tmp}/gtmd-cpq-XXXXXX")
    port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cp bench/zones/lab.example.zone "$run/"
    sed "s|@ADDR@|127.0.0.1|g; s|@PORT@|$port|g; s|@RUN@|$run|g" "bench/peers/$peer/gtmd.yaml.in" > "$run/gtmd.yaml"
    [ "$peer" = gtmd ] || sed -i '/^www[[:space:]]/d' "$run/lab.example.zone"
    (cd "$run" && exec taskset -c 0 "$bin" serve --config gtmd.yaml --control off) > "$out/server-$k-$r.log" 2>&1 &
    pid=$!
    ok=""
    for _ in $(seq 200); do
      if dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" www.lab.example A 2>/dev/null | grep -q 127.0.0.11; then ok=1; break; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$ok" ] || { echo "cpu-per-query.sh: $bin did not answer (log $out/server-$k-$r.log)" >&2; exit 1; }
    before=$(cpu "$pid")
    taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d bench/queries/mix.txt -l "$secs" -Q "$rate" -c 1 -q 100 \
      > "$out/dnsperf-$k-$r.txt" 2>&1
    after=$(cpu "$pid")
    n=$(awk '/Queries completed:/ {print $3}' "$out/dnsperf-$k-$r.txt")
    us=$(python3 -c "print(round(($after - $before) * 1e6 / max($n, 1), 2))")
    echo "$k,$r,$n,$(python3 -c "print(round($after - $before, 3))"),$us" >> "$out/runs.csv"
    printf 'round %d  %s  %s queries  %s µs/query\n' "$r" "$bin" "$n" "$us"
    stop
  done
done
python3 - "$out/runs.csv" "${bins[@]}" <<'PY' | tee "$out/table.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
bins = sys.argv[2:]
med = {}
for k, b in enumerate(bins):
    v = [float(r["us_per_query"]) for r in rows if int(r["binary"]) == k]
    med[k] = (statistics.median(v), v)
print("| binary | server CPU µs per query, median (all rounds) | ratio to the first |\n|---|---|---|")
for k, b in enumerate(bins):
    m, v = med[k]
    print(f"| {b} | {m:.2f} ({', '.join(f'{x:.2f}' for x in v)}) | {m / med[0][0]:.3f} |")
PY
echo "raw: $out"
