#!/usr/bin/env bash
# How long a health change takes to publish for a zone of N names: gtmd rebuilds the whole answer table
# off to the side (from the zones already in memory) and swaps it in. Prints the build times logged at
# start-up and for a forced switch.   bench/table-build.sh [N=100000]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
BIN=${GTMD_BIN:-.build/release/gtmd}
[ -x "$BIN" ] || scripts/build-release.sh
work=$(mktemp -d); trap 'kill $gp 2>/dev/null || true; rm -rf "$work"' EXIT
{
  echo '$ORIGIN big.test.'; echo '$TTL 300'
  echo '@ SOA ns1 hostmaster 1 3600 600 86400 30'; echo '@ NS ns1'; echo 'ns1 A 192.0.2.1'
  awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "h%d A 10.%d.%d.%d\n", i, int(i/65536)%256, int(i/256)%256, i%256 }'
} > "$work/big.zone"
cat > "$work/gtmd.yaml" <<YAML
server: { listen: ["127.0.0.1:25431"], udp_workers: 1 }
zones: [ { origin: big.test, file: $work/big.zone } ]
state_file: $work/state.json
pools:
  primary: { members: [192.0.2.11] }
  standby: { members: [192.0.2.12] }
services:
  www.big.test: { policy: failover, pools: [primary, standby] }
YAML
start=$(date +%s.%N)
"$BIN" serve --config "$work/gtmd.yaml" --log-level debug > "$work/log" 2>&1 &
gp=$!
for _ in $(seq 600); do grep -q '"listening"\|listening' "$work/log" && break; sleep 0.1; done
echo "zone: $N names; start-up to listening: $(python3 -c "import time; print(round(time.time() - $start, 2))") s (ldns parse + validation + build)"
grep -o 'table.build=[^ ]*' "$work/log" | head -1 | sed 's/^/first build: /'
"$BIN" override pool --config "$work/gtmd.yaml" primary down >/dev/null
for _ in $(seq 100); do grep -q 'failover switch' "$work/log" && break; sleep 0.1; done
grep 'failover switch' "$work/log" | grep -o 'table.build=[^ ]*' | sed 's/^/rebuild on a switch: /'
echo "RSS: $(awk '/VmRSS/ {print $2}' /proc/$gp/status) KiB"
