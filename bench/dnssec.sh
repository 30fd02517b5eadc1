#!/usr/bin/env bash
# DNSSEC costs (issue 16), everything on loopback:
#  1. signing a zone of N names: `gtmd check` (load + compile + sign every answer, NSEC chain) with and
#     without a dnssec section, next to `ldns-signzone` with the same key on the same zone (NSEC and NSEC3);
#  2. publish time of a switch and of its failback in a signed zone of N names (`table.build` in the log):
#     the switch signs the new answer once, the failback signs nothing;
#  3. the query path: ROUNDS interleaved dnsperf rounds of SECS seconds on the signed lab zone
#     (bench/queries/mix.txt), without and with DO (-D); median qps and ratio, and reply sizes.
#     bench/dnssec.sh [N=100000] [ROUNDS=3] [SECS=5]        GTMD_BIN=... (default .build/release/gtmd)
#  4. the NXDOMAIN path: NXDOMAIN-only queries with DO=1 and DO=0, next to one static name, same run;
#  5. reply sizes of signed answers against NSD serving the same lab zone pre-signed by ldns-signzone.
#     PARTS=12345 (default) runs all parts; e.g. PARTS=2 only the publish times. Output: .build/bench/dnssec.md
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
ROUNDS=${2:-3}
SECS=${3:-5}
PARTS=${PARTS:-12345}
BIN=${GTMD_BIN:-.build/release/gtmd}
[ -x "$BIN" ] || scripts/build-release.sh
BIN=$(realpath "$BIN")
work=$(mktemp -d)
mkdir -p .build/bench
out=.build/bench/dnssec.md
exec > >(tee "$out") 2>&1
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
  svc.big.test: { policy: failover, pools: [primary, standby] }
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
if [[ $PARTS == *3* || $PARTS == *4* ]]; then
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
if [[ $PARTS == *3* ]]; then
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
fi
if [[ $PARTS == *4* ]]; then
echo "== 4. NXDOMAIN path, signed lab zone: NXDOMAIN-only queries with and without DO, next to a static name, $ROUNDS x $SECS s"
awk 'BEGIN { for (i = 0; i < 10000; i++) printf "nx%d.lab.example A\n", i }' > "$work/nx.txt"
echo "ns1.lab.example A" > "$work/static.txt"
declare -A q4
for r in $(seq "$ROUNDS"); do
  for f in nx static; do
    for d in 0 1; do
      flag=(); [ "$d" = 1 ] && flag=(-D)
      v=$(taskset -c 1 dnsperf -s 127.0.0.1 -p 25434 -d "$work/$f.txt" -l "$SECS" -c 4 -q 256 "${flag[@]}" 2>/dev/null | awk '/Queries per second/ {print $4}')
      q4[$f$d]="${q4[$f$d]:-} $v"
    done
  done
  echo "round $r: nx DO=0 $(echo ${q4[nx0]} | awk '{print $NF}'), nx DO=1 $(echo ${q4[nx1]} | awk '{print $NF}'), static DO=0 $(echo ${q4[static0]} | awk '{print $NF}'), static DO=1 $(echo ${q4[static1]} | awk '{print $NF}') qps"
done
python3 - "${q4[nx0]}" "${q4[nx1]}" "${q4[static0]}" "${q4[static1]}" <<'PY'
import statistics, sys
m = [statistics.median(float(x) for x in a.split()) for a in sys.argv[1:]]
print(f"NXDOMAIN path medians (qps): nx DO=0 {m[0]:.0f}, nx DO=1 {m[1]:.0f}, static DO=0 {m[2]:.0f}, static DO=1 {m[3]:.0f}")
print(f"ratios: nx DO=1/DO=0 {m[1] / m[0]:.3f}; nx/static with DO {m[1] / m[3]:.3f}; nx/static without DO {m[0] / m[2]:.3f}")
PY
fi
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
fi

[[ $PARTS == *5* ]] || exit 0
echo "== 5. reply sizes: gtmd against NSD serving the same lab zone pre-signed by ldns-signzone (same key, NSEC)"
lkey=$("$BIN" dnssec keygen lab.example --dir "$work")
# ldns-signzone does not read $INCLUDE: the lab zone with its include inlined (the same records for both).
awk '/^\$INCLUDE/ { while ((getline l < ("zones/" $2)) > 0) print l; next } { print }' zones/lab.example.zone > "$work/lab.zone"
(cd "$work" && ldns-signzone -o lab.example -f "$work/lab.signed" lab.zone "$lkey")
cat > "$work/lab-static.yaml" <<YAML
server: { listen: ["127.0.0.1:25436"], udp_workers: 1 }
zones:
  - origin: lab.example
    file: $work/lab.zone
    dnssec: { keys: [$work/$lkey], denial: nsec }
state_file: $work/lab-static/state.json
control: { listen: "127.0.0.1:25437" }
YAML
"$BIN" serve --config "$work/lab-static.yaml" > "$work/lab-static.log" 2>&1 &
pids+=($!)
mkdir -p "$work/nsd"
cat > "$work/nsd/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@25438
  username: ""
  chroot: ""
  zonesdir: "$work"
  database: ""
  pidfile: "$work/nsd/nsd.pid"
  xfrdfile: "$work/nsd/xfrd.state"
  zonelistfile: "$work/nsd/zone.list"
  logfile: "$work/nsd/nsd.log"
remote-control:
  control-enable: no
zone:
  name: lab.example
  zonefile: "$work/lab.signed"
CONF
nsd -d -c "$work/nsd/nsd.conf" > "$work/nsd/out.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do grep -q 'listening' "$work/lab-static.log" && dig @127.0.0.1 -p 25438 lab.example SOA +short +time=1 +tries=1 >/dev/null 2>&1 && break; sleep 0.1; done
size() {
  dig @127.0.0.1 -p "$1" "$2" "$3" +norec +dnssec +bufsize=1232 > "$work/dig.out"
  echo "$(grep -o 'status: [A-Z]*' "$work/dig.out" | cut -d' ' -f2) $(grep -o 'MSG SIZE  rcvd: [0-9]*' "$work/dig.out" | grep -o '[0-9]*$')"
}
echo "| question | gtmd (rcode, bytes) | NSD, ldns-signzone (rcode, bytes) |"
echo "|---|---|---|"
for q in "ns1.lab.example A" "nothere.lab.example A" "ns1.lab.example AAAA" "x.wild.lab.example A" "lab.example DNSKEY" "lab.example SOA" "alias.lab.example A" "_sip._udp.lab.example SRV" "b.ent.lab.example A"; do
  set -- $q
  echo "| $1 $2 | $(size 25436 "$1" "$2") | $(size 25438 "$1" "$2") |"
done
