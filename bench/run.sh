#!/usr/bin/env bash
# Benchmarks gtmd next to the peers of ../shared/bench, in the same run (see its README).
#   bench/run.sh static      # gtmd vs gdnsd, NSD, Knot: mixed queries, interleaved rounds
#   bench/run.sh failover-qps  # the failover name vs a static name, next to gdnsd's health-checked record
#   bench/run.sh failover    # kill the primary backend: time to the standby answer, and back (gtmd-fo vs gdnsd-fo)
# Extra arguments go to peerbench.py. Results: .build/bench/<stamp>-<command>/.
set -euo pipefail
cd "$(dirname "$0")/.."
HERE=$PWD/bench
SHARED=${GTMD_SHARED_BENCH:-$PWD/../shared/bench}
scripts/deps.sh --bench
swift build -c release --product gtmd
BIN=$PWD/.build/bench-bin/gtmd
mkdir -p "$(dirname "$BIN")" .build/bench
cp .build/release/gtmd "$BIN"
peer() { grep "^$1 " bench/peers.conf | sed "s|@HERE@|$HERE|; s|@BIN@|$BIN|"; }
what=${1:-static}; shift || true
case "$what" in
  static)
    exec "$SHARED/peers.sh" --peers gdnsd,nsd,knot,gtmd --mode interleaved --rounds 5 --secs 10 \
      --out .build/bench --peer "$(peer gtmd)" "$@" ;;
  failover-qps)
    exec python3 "$SHARED/peerbench.py" throughput --peers gdnsd,gdnsd-fo,gtmd,gtmd-fo --queries queries/www.txt \
      -c 1 -T 1 -q 100 --mode interleaved --rounds 3 --secs 10 --out .build/bench \
      --peer "$(peer gtmd)" --peer "$(peer gtmd-fo)" "$@" ;;
  failover)
    exec python3 "$SHARED/peerbench.py" failover --peers gdnsd-fo,gtmd-fo --reps 5 --out .build/bench \
      --peer "$(peer gtmd-fo)" "$@" ;;
  *) echo "usage: bench/run.sh static|failover-qps|failover [peerbench options]" >&2; exit 2 ;;
esac
