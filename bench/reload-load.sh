#!/usr/bin/env bash
# Reloads under load: dnsperf at a fixed rate against the lab zone while gtmd gets SIGHUP every
# 200 ms (half of them with a broken zone file, which must change nothing). Prints dnsperf's lost count
# and the rcode mix: no query may be lost or REFUSED.   bench/reload-load.sh [SECS=20] [QPS=20000]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}; QPS=${2:-20000}
BIN=${GTMD_BIN:-.build/release/gtmd}
[ -x "$BIN" ] || scripts/build-release.sh
work=$(mktemp -d); gp=
trap '[ -n "$gp" ] && kill $gp 2>/dev/null; rm -rf "$work"' EXIT
cp bench/zones/lab.example.zone "$work/good.zone"
printf '$TTL 60\n@ SOA ns1 host 1 3600 600 86400 30\nwww A 999.1.1.1\n' > "$work/bad.zone"
cp "$work/good.zone" "$work/lab.zone"
cat > "$work/gtmd.yaml" <<YAML
server: { listen: ["127.0.0.1:25432"], udp_workers: 1 }
zones: [ { origin: lab.example, file: $work/lab.zone } ]
state_file: $work/state.json
YAML
taskset -c 0 "$BIN" serve --config "$work/gtmd.yaml" --log-level notice 2> "$work/log" &
gp=$!
for _ in $(seq 100); do dig +short +time=1 +tries=1 @127.0.0.1 -p 25432 www.lab.example >/dev/null 2>&1 && break; sleep 0.1; done
( end=$((SECONDS + SECS)); n=0
  while [ $SECONDS -lt $end ]; do
    if [ $((n % 2)) = 0 ]; then cp "$work/bad.zone" "$work/lab.zone"; else cp "$work/good.zone" "$work/lab.zone"; fi
    kill -HUP $gp; n=$((n + 1)); sleep 0.2
  done; cp "$work/good.zone" "$work/lab.zone"; echo "reloads sent: $n" ) &
rl=$!
taskset -c 1 dnsperf -s 127.0.0.1 -p 25432 -d bench/queries/mix.txt -l "$SECS" -Q "$QPS" 2>&1 \
  | grep -E "Queries sent|Queries completed|Queries lost|Response codes"
wait $rl
echo "reloads that installed a new table: $(grep -c 'notice gtmd:.*reloaded' "$work/log"); SIGHUPs received: $(grep -c 'SIGHUP' "$work/log") (the rest failed validation and kept the old config)"
