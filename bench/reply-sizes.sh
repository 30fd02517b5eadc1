#!/usr/bin/env bash
# Reply sizes and throughput of gtmd before and after a change, next to Knot and NSD (issue 14).
#
#   bench/reply-sizes.sh BEFORE_BIN AFTER_BIN [ROUNDS] [SECS]
#
# Serves zones/lab.example.zone (its $INCLUDE expanded into one file for Knot and NSD) with the two
# gtmd binaries (`gtmd serve --zone`), knotd and nsd, all on 127.0.0.1, and prints
#  1. bytes per reply for every question of bench/reply-sizes.txt, without EDNS and with EDNS (dig
#     +nocookie: no server cookie to add), a column per server;
#  2. saturated throughput of the two gtmd binaries (dnsperf -c 1 -T 1 -q 100 over the same
#     questions, server on CPU 0, dnsperf on CPU 1, ROUNDS interleaved rounds of SECS seconds):
#     median qps and the ratio after/before.
# Every process it starts is stopped by PID on exit. Needs knot, nsd, dnsperf (scripts/deps.sh --bench).
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:?usage: bench/reply-sizes.sh BEFORE_BIN AFTER_BIN [ROUNDS] [SECS]}
AFTER=${2:?usage: bench/reply-sizes.sh BEFORE_BIN AFTER_BIN [ROUNDS] [SECS]}
ROUNDS=${3:-5}
SECS=${4:-10}
P_BEFORE=25530 P_AFTER=25531 P_KNOT=25532 P_NSD=25533
RUN=$(mktemp -d /tmp/gtmd-sizes.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$RUN"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# One zone file for Knot and NSD: the $INCLUDE expanded in place.
python3 - "$RUN/lab.example.zone" <<'PY'
import os, sys
def expand(path):
    out = []
    for line in open(path):
        if line.startswith("$INCLUDE"):
            out += expand(os.path.join(os.path.dirname(path), line.split()[1]))
        else:
            out.append(line)
    return out
open(sys.argv[1], "w").writelines(expand("zones/lab.example.zone"))
PY
mkdir -p "$RUN/knot/db" "$RUN/nsd"
cat > "$RUN/knot/knot.conf" <<CONF
server:
    rundir: "$RUN/knot"
    listen: 127.0.0.1@$P_KNOT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$RUN/knot/db"
log:
  - target: "$RUN/knot/knot.log"
    any: info
zone:
  - domain: lab.example
    storage: "$RUN"
    file: "lab.example.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
CONF
cat > "$RUN/nsd/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.1@$P_NSD
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "$RUN"
    database: ""
    pidfile: "$RUN/nsd/nsd.pid"
    xfrdfile: "$RUN/nsd/xfrd.state"
    zonelistfile: "$RUN/nsd/zone.list"
    logfile: "$RUN/nsd/nsd.log"
    server-count: 1
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "lab.example"
    zonefile: "$RUN/lab.example.zone"
CONF

start() {  # name port command...
    local name=$1 port=$2; shift 2
    taskset -c 0 "$@" > "$RUN/$name.out" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        dig @127.0.0.1 -p "$port" +tries=1 +time=1 lab.example SOA 2>/dev/null | grep -q "status: NOERROR" && return 0
        sleep 0.1
    done
    echo "$name did not answer on port $port:" >&2; cat "$RUN/$name.out" >&2; exit 1
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
gtmd_cmd() { echo "$1" serve --zone lab.example=zones/lab.example.zone --listen "127.0.0.1:$2" --control off --udp-workers 1 --state-file "$RUN/state-$2.json"; }

start before "$P_BEFORE" $(gtmd_cmd "$BEFORE" "$P_BEFORE")
start after "$P_AFTER" $(gtmd_cmd "$AFTER" "$P_AFTER")
start knot "$P_KNOT" knotd -c "$RUN/knot/knot.conf"
start nsd "$P_NSD" nsd -d -c "$RUN/nsd/nsd.conf"

size() {  # port name type [dig options]
    local port=$1 name=$2 type=$3; shift 3
    dig @127.0.0.1 -p "$port" +norec +nocookie +tries=1 +time=2 "$@" "$name" "$type" | sed -n 's/^;; MSG SIZE  rcvd: //p'
}
echo "## Bytes per reply (gtmd before, after; Knot; NSD)"
echo
echo "| question | EDNS | before | after | Knot | NSD | after ≤ Knot |"
echo "|---|---|---|---|---|---|---|"
worse=0
while read -r name type; do
    case "$name" in ''|'#'*) continue ;; esac
    for edns in no yes; do
        opt=(+noedns); [ "$edns" = yes ] && opt=(+edns=0 +bufsize=1232)
        b=$(size $P_BEFORE "$name" "$type" "${opt[@]}"); a=$(size $P_AFTER "$name" "$type" "${opt[@]}")
        k=$(size $P_KNOT "$name" "$type" "${opt[@]}"); n=$(size $P_NSD "$name" "$type" "${opt[@]}")
        ok=yes; if [ -n "$a" ] && [ -n "$k" ] && [ "$a" -gt "$k" ]; then ok=NO; worse=$((worse + 1)); fi
        echo "| $name $type | $edns | ${b:--} | ${a:--} | ${k:--} | ${n:--} | $ok |"
    done
done < bench/reply-sizes.txt
echo
echo "Replies larger than Knot's: $worse"

# Throughput: only the two gtmd binaries, one at a time on CPU 0, dnsperf on CPU 1 (ROUNDS 0: skip).
stop_all
[ "$ROUNDS" -gt 0 ] || exit 0
grep -v '^#' bench/reply-sizes.txt | grep -v '^$' > "$RUN/queries.txt"
qps() {  # binary port
    start gtmd "$2" $(gtmd_cmd "$1" "$2")
    taskset -c 1 dnsperf -s 127.0.0.1 -p "$2" -d "$RUN/queries.txt" -l "$SECS" -c 1 -T 1 -q 100 2>&1 \
        | sed -n 's/^ *Queries per second: *//p'
    stop_all
}
echo
echo "## Saturated throughput (dnsperf -c 1 -T 1 -q 100, $ROUNDS interleaved rounds × $SECS s)"
echo
bs=(); as=()
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then b=$(qps "$BEFORE" $P_BEFORE); a=$(qps "$AFTER" $P_AFTER)
    else a=$(qps "$AFTER" $P_AFTER); b=$(qps "$BEFORE" $P_BEFORE); fi
    echo "round $r: before $b qps, after $a qps"
    bs+=("$b"); as+=("$a")
done
python3 - "${bs[*]}" "${as[*]}" <<'PY'
import statistics, sys
b = [float(x) for x in sys.argv[1].split()]; a = [float(x) for x in sys.argv[2].split()]
mb, ma = statistics.median(b), statistics.median(a)
print(f"\nmedian: before {mb:,.0f} qps, after {ma:,.0f} qps, after/before {ma / mb:.3f}")
PY
