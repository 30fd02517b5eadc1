#!/usr/bin/env bash
# Response rate limiting figures: one client network (127.0.0.1, loopback made non-exempt) floods one
# identical query at RATE/s for SECS seconds; prints full answers and TC slips per second it gets back,
# with RRL off and with RRL on (responses_per_second 20, window 5 s, slip 2), and that another network
# (127.0.9.1) asking the same name at 10/s (under the limit) at the same time is answered in full.
#   bench/rrl.sh [SECS=10] [RATE=10000]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}; RATE=${2:-10000}
BIN=${GTMD_BIN:-.build/release/gtmd}
[ -x "$BIN" ] || scripts/build-release.sh
work=$(mktemp -d); gp=
trap '[ -n "$gp" ] && kill $gp 2>/dev/null; rm -rf "$work"' EXIT
for mode in off on; do
  if [ $mode = off ]; then rrl="rrl: off"; else rrl="rrl: { responses_per_second: 20, window: 5s, slip: 2, exempt: [] }"; fi
  cat > "$work/gtmd.yaml" <<YAML
server: { listen: ["127.0.0.1:25433"], udp_workers: 1, $rrl }
zones: [ { origin: lab.example, file: $(pwd)/zones/lab.example.zone } ]
state_file: $work/state.json
YAML
  "$BIN" serve --config "$work/gtmd.yaml" --log-level warning 2> "$work/log" &
  gp=$!
  for _ in $(seq 100); do dig +short +time=1 +tries=1 @127.0.0.1 -p 25433 mail.lab.example >/dev/null 2>&1 && break; sleep 0.1; done
  echo "== RRL $mode"
  python3 bench/udp-flood.py 127.0.9.1 25433 mail.lab.example "$SECS" 10 | sed 's/^/other network 127.0.9.1: /' &
  other=$!
  python3 bench/udp-flood.py 127.0.0.1 25433 mail.lab.example "$SECS" "$RATE" | sed 's/^/flooding network 127.0.0.1: /'
  wait $other
  kill $gp; wait $gp 2>/dev/null || true; gp=
done
