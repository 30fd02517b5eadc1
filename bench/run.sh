#!/usr/bin/env bash
# Benchmarks gtmd next to the peers, in the same run, with this repository alone (bench/peers.sh does the work).
#   bench/run.sh static         # saturated: gtmd vs gdnsd, NSD, Knot, PowerDNS, mixed queries, dnsperf -c 4 -q 256
#   bench/run.sh light          # the same with dnsperf -c 1 -q 100 (dnsperf is the limit: latency-bound)
#   bench/run.sh failover-qps   # the failover name (gtmd-fo) vs the static name (gtmd), www queries only
# Extra arguments go to bench/peers.sh (e.g. --rounds 5 --secs 20 --gtmd PATH). Results: .build/bench/<time>-peers/.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-static}; shift || true
case "$what" in
  static) exec bench/peers.sh --peers gtmd,gdnsd,nsd,knot,pdns -c 4 -q 256 "$@" ;;
  light) exec bench/peers.sh --peers gtmd,gdnsd,nsd,knot,pdns -c 1 -q 100 "$@" ;;
  failover-qps) exec bench/peers.sh --peers gtmd,gtmd-fo --queries bench/queries/www.txt -c 1 -q 100 "$@" ;;
  *) echo "usage: bench/run.sh static|light|failover-qps [bench/peers.sh options]" >&2; exit 2 ;;
esac
