#!/usr/bin/env bash
# The DR lab's full table (lab/README.md): both profiles, every scenario, REPS runs of each, PARALLEL
# estates at a time (each estate has its own namespaces, gtmd, unbound and backends, so runs do not meet).
#   bench/lab.sh [--reps 3] [--parallel 3] [--ttl 30] [--gtmd PATH]   (root; builds the release gtmd unless --gtmd)
# Results: .build/bench/lab/<time>/{fast,default}-N.{json,log} and table.md (medians per scenario and client).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=3 parallel=3 ttl="" gtmd=""
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps="$2"; shift 2 ;;
    --parallel) parallel="$2"; shift 2 ;;
    --ttl) ttl="$2"; shift 2 ;;
    --gtmd) gtmd="$2"; shift 2 ;;
    *) echo "bench/lab.sh: unknown option '$1' (--reps N, --parallel N, --ttl S, --gtmd PATH)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench/lab.sh: the lab needs root (network namespaces)" >&2; exit 2; }
scripts/deps.sh
if [ -z "$gtmd" ]; then scripts/build-release.sh; gtmd=.build/release/gtmd; fi
out=".build/bench/lab/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
pids=()
# Ctrl-C / TERM: each drlab.py tears its estate down on SIGTERM.
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait' INT TERM
python3 lab/drlab.py down          # leftovers of crashed runs
for profile in fast default; do
  for rep in $(seq "$reps"); do
    while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do sleep 1; done
    python3 lab/drlab.py run --profile "$profile" ${ttl:+--ttl "$ttl"} --gtmd "$gtmd" \
      --json "$out/$profile-$rep.json" >"$out/$profile-$rep.log" 2>&1 &
    pids+=($!)
    sleep 2   # stagger the estates' builds
  done
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
[ "$fail" -eq 0 ] || echo "bench/lab.sh: some runs failed; see $out/*.log" >&2
python3 lab/drlab.py report "$out"/*.json | tee "$out/table.md"
echo "results: $out" >&2
exit "$fail"
