#!/usr/bin/env bash
# How long gtmd's DNS thread waits for the core once woken, while 1,000 health probes a second run on that core:
# one `speed.py latency` round (50k qps, 2,000 TCP targets), with `perf sched record -a` for 2 s in the middle of
# the probing run, then the DNS thread's (gtmd-udp-0) scheduling delay per wake-up as percentiles, and the probe
# thread's runs longer than 0.2 and 1 ms. Needs perf (linux-perf) and root.
#   bench/sched-delay.sh [--gtmd BINARY] [--env KEY=VALUE]...
# The p99 of `speed.py latency` on a shared VM moves 5x between rounds; this delay is the part of the tail that the
# probe thread causes, measured on the scheduler's own clock.
set -euo pipefail
cd "$(dirname "$0")/.."
gtmd=.build/release/gtmd
envs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --gtmd) gtmd=$2; shift 2 ;;
    --env) envs+=(--gtmd-env "$2"); shift 2 ;;
    *) echo "sched-delay.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v perf >/dev/null || { echo "sched-delay.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
out=$(mktemp -d /tmp/gtmd-sched-delay.XXXXXX)
python3 bench/speed.py latency --gtmd "$gtmd" "${envs[@]}" --servers gtmd --rounds 1 --secs 20 --out "$out" \
  >"$out/speed.log" 2>&1 &
bench=$!
started=0
for _ in $(seq 1 240); do  # the run without probes comes first; the probing run starts when it has ended
  if grep -q "no probes.*gtmd:" "$out/speed.log"; then started=1; break; fi
  kill -0 "$bench" 2>/dev/null || break
  sleep 1
done
[ "$started" = 1 ] || { echo "sched-delay.sh: the latency run did not get to probing ($out/speed.log)" >&2; exit 1; }
sleep 16  # the server's start and the probes' settling (speed.py --probe-settle 6), then into the 20 s of load
perf sched record -a -o "$out/sched.data" -- sleep 2 >/dev/null 2>&1
wait "$bench"
grep "targets.*gtmd:" "$out/speed.log" || true
perf sched timehist -i "$out/sched.data" 2>/dev/null | tail -n +4 >"$out/timehist.txt"
awk '$3 ~ /gtmd-udp-0/ {print $5 * 1000}' "$out/timehist.txt" | sort -n | awk '
  {a[NR] = $1}
  END {
    if (NR == 0) { print "no wake-ups of gtmd-udp-0 recorded"; exit 1 }
    printf "gtmd-udp-0: %d wake-ups, scheduling delay µs p50 %.0f  p99 %.0f  p99.9 %.0f  max %.0f\n",
      NR, a[int(NR * .5) + 1], a[int(NR * .99) + 1], a[int(NR * .999) + 1], a[NR]
  }'
awk '$3 ~ /gtmd-probe/ {n++; r += $6; if ($6 > 0.2) a++; if ($6 > 1) c++}
  END {printf "gtmd-probe: %d runs, %.1f ms on the core, %d longer than 0.2 ms, %d longer than 1 ms\n", n, r, a, c}' \
  "$out/timehist.txt"
echo "raw: $out"
