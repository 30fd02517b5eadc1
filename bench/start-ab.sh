#!/usr/bin/env bash
# Start-up A/B of gtmd binaries: N interleaved cold starts of each on the peers config (bench/peers/gtmd: the
# benchmark zone, one UDP worker, control API off), server pinned to CPU 0 and the prober to CPU 1; prints the
# median wall and CPU milliseconds from exec to the first correct answer (bench/startprobe.c) per binary.
#   bench/start-ab.sh [-n 41] [-p PORT] BIN [BIN ...]
# Steadier than startup.py's few rounds for a small change: same config, many starts, the state file removed
# before each start, every binary read whole before its start (page cache warm). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
n=41
port=25999
while getopts "n:p:" o; do
  case $o in n) n=$OPTARG ;; p) port=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: bench/start-ab.sh [-n N] [-p PORT] BIN [BIN ...]" >&2; exit 2; }
run=$(mktemp -d /tmp/gtmd-start-ab.XXXXXX)
trap 'rm -rf "$run"' EXIT
cc -O2 -Wall -o "$run/startprobe" bench/startprobe.c
cp bench/zones/lab.example.zone "$run/"
sed "s#@ADDR@#127.0.0.1#; s#@PORT@#$port#; s#@RUN@#$run#" bench/peers/gtmd/gtmd.yaml.in >"$run/gtmd.yaml"
for ((i = 0; i < n; i++)); do
  for b in "$@"; do
    rm -f "$run"/state.json*
    cat "$b" >/dev/null
    # startprobe prints `ok MS PID QUERIES CPU_MS FAULTS THREADS` and stops the server when its stdin closes.
    r=$(sleep 0.05 | "$run/startprobe" -p "$port" -c 0 -C 1 -d "$run" -l "$run/log" -- "$b" serve --config gtmd.yaml --control off)
    echo "$b $r"
  done
done >"$run/results"
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "-" }'; }
for b in "$@"; do
  ok=$(grep -c "^$b ok" "$run/results" || true)
  wall=$(grep "^$b ok" "$run/results" | awk '{ print $3 }' | median)
  cpu=$(grep "^$b ok" "$run/results" | awk '{ print $6 }' | median)
  flt=$(grep "^$b ok" "$run/results" | awk '{ print $7 }' | median)
  thr=$(grep "^$b ok" "$run/results" | awk '{ print $8 }' | median)
  echo "$b: wall $wall ms, CPU $cpu ms, $flt minor faults, $thr threads at the first answer (median of $ok of $n starts)"
done
