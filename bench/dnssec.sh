#!/usr/bin/env bash
# DNSSEC costs (issue 16), everything on loopback:
#  1. signing a zone of N names: `gtmd check` (load + compile + sign every answer, NSEC chain) with and
#     without a dnssec section, next to `ldns-signzone` with the same key on the same zone (NSEC and NSEC3);
#  2. publish time of a switch and of its failback in a signed zone of N names (`table.build` in the log):
#     the switch signs the new answer once, the failback signs nothing;
#  3. the query path: ROUNDS interleaved dnsperf rounds of SECS seconds on the signed lab zone
#     (bench/queries/mix.txt), without and with DO (-D); median qps and ratio, and reply sizes.
#     bench/dnssec.sh [N=100000] [ROUNDS=3] [SECS=5]        GTMD_BIN=... (default .build/release/gtmd)
#     PARTS=123 (default) runs all three parts; e.g. PARTS=2 only the publish times.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
ROUNDS=${2:-3}
SECS=${3:-5}
PARTS=${PARTS:-123}
BIN=${GTMD_BIN:-.build/release/gtmd}
[ -x "$BIN" ] || swift build -c release --product gtmd --static-swift-stdlib
BIN=$(realpath "$BIN")
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
secs() { python3 -c "import time; print(round(time.time() - $1, 2))"; }

echo "== 1. signing a zone of $N names (binary: $BIN)"
{
  echo '$ORIGIN big.test.'; echo '$TTL 300'
  echo '@ SOA ns1 hostmaster 1 3600 600 86400 30'; echo '@ NS ns1'; echo 'ns1 A 192.0.2.1'
  awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "h%d A 10.%d.%d.%d\n", i, int(i/65536)%256, int(i/256)%256, i%256 }'
} > "$work/big.zone"
key=$("$BIN" dnssec keygen big.test --dir "$work")
echo "token-$RANDOM$RANDOM" > "$work/token"
for mode in none nsec nsec3; do
  sec=""
  [ "$mode" != none ] && sec="    dnssec: { keys: [$work/$key], denial: $mode }"
  cat > "$work/$mode.yaml" <<YAML
server: { listen: ["127.0.0.1:25432"], udp_workers: 1 }
zones:
  - origin: big.test
    file: $work/big.zone
$sec
state_file: $work/state-$mode.json
control: { listen: "127.0.0.1:25433", token_file: $work/token }
pools:
  primary: { members: [192.0.2.11] }
  standby: { members: [192.0.2.12] }
services:
  h7.big.test: { policy: failover, pools: [primary, standby] }
YAML
  [[ $PARTS == *1* ]] || continue
  t=$(date +%s.%N); "$BIN" check --config "$work/$mode.yaml" >/dev/null; echo "gtmd check, $mode: $(secs "$t") s"
done
if [[ $PARTS == *1* ]]; then
  (cd "$work" && t=$(date +%s.%N) && ldns-signzone -f "$work/ldns-nsec.zone" big.zone "$key" && echo "ldns-signzone, nsec: $(secs "$t") s")
  (cd "$work" && t=$(date +%s.%N) && ldns-signzone -n -t 0 -f "$work/ldns-nsec3.zone" big.zone "$key" && echo "ldns-signzone, nsec3: $(secs "$t") s")
fi

if [[ $PARTS == *2* ]]; then
echo "== 2. publish of a switch and its failback, ${MODE:-nsec} zone of $N names"
"$BIN" serve --config "$work/${MODE:-nsec}.yaml" --log-level debug > "$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1200); do grep -q 'listening' "$work/serve.log" && break; sleep 0.1; done
builds() { grep -c 'answer table installed' "$work/serve.log" || true; }
"$BIN" override pool --config "$work/${MODE:-nsec}.yaml" primary down >/dev/null
for _ in $(seq 200); do [ "$(builds)" -ge 2 ] && break; sleep 0.1; done
"$BIN" override clear --config "$work/${MODE:-nsec}.yaml" pool primary >/dev/null
for _ in $(seq 200); do [ "$(builds)" -ge 3 ] && break; sleep 0.1; done
"$BIN" override pool --config "$work/${MODE:-nsec}.yaml" primary down >/dev/null
for _ in $(seq 200); do [ "$(builds)" -ge 4 ] && break; sleep 0.1; done
grep 'answer table installed' "$work/serve.log" | grep -o 'table.build=[^ ]*' | paste -sd' ' \
  | awk '{print "publish times: first " $1 ", switch (signs the standby answer) " $2 ", failback (signs nothing) " $3 ", switch again (signs nothing) " $4}'
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
fi
[[ $PARTS == *3* ]] || exit 0

echo "== 3. query path, signed lab zone: without DO against with DO (dnsperf -D), $ROUNDS x $SECS s"
cat > "$work/lab.yaml" <<YAML
server: { listen: ["127.0.0.1:25434"], udp_workers: 1 }
zones:
  - origin: lab.example
    file: $PWD/zones/lab.example.zone
    dnssec: { keys: auto }
state_file: $work/lab/state.json
control: { listen: "127.0.0.1:25435" }
YAML
taskset -c 0 "$BIN" serve --config "$work/lab.yaml" > "$work/lab.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do grep -q 'listening' "$work/lab.log" && break; sleep 0.1; done
for q in "www.lab.example A" "nx0.lab.example A" "www.lab.example AAAA" "x.wild.lab.example A"; do
  set -- $q
  plain=$(dig @127.0.0.1 -p 25434 "$1" "$2" +norec | grep -o 'MSG SIZE  rcvd: [0-9]*' | grep -o '[0-9]*$')
  signed=$(dig @127.0.0.1 -p 25434 "$1" "$2" +norec +dnssec | grep -o 'MSG SIZE  rcvd: [0-9]*' | grep -o '[0-9]*$')
  echo "reply size $1 $2: $plain bytes without DO, $signed with DO"
done
off=(); on=()
for r in $(seq "$ROUNDS"); do
  a=$(taskset -c 1 dnsperf -s 127.0.0.1 -p 25434 -d bench/queries/mix.txt -l "$SECS" -c 4 -q 256 2>/dev/null | awk '/Queries per second/ {print $4}')
  b=$(taskset -c 1 dnsperf -s 127.0.0.1 -p 25434 -d bench/queries/mix.txt -l "$SECS" -c 4 -q 256 -D 2>/dev/null | awk '/Queries per second/ {print $4}')
  echo "round $r: DO=0 $a qps, DO=1 $b qps"
  off+=("$a"); on+=("$b")
done
python3 - "${off[*]}" "${on[*]}" <<'PY'
import statistics, sys
off = [float(x) for x in sys.argv[1].split()]
on = [float(x) for x in sys.argv[2].split()]
a, b = statistics.median(off), statistics.median(on)
print(f"median: DO=0 {a:.0f} qps, DO=1 {b:.0f} qps, ratio DO=1/DO=0 {b / a:.3f}")
PY
