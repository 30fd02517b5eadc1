#!/usr/bin/env bash
# Time from exec to main(): what a program's start costs before any of its own code runs (the kernel's exec
# has finished; the dynamic loader maps the shared libraries and relocates the binary's data, then the
# constructors run). N starts of each binary, interleaved, pinned to CPU 0; median and minimum milliseconds.
#   bench/premain.sh [-n 40] LABEL=BIN [LABEL=BIN ...]
# Each BIN runs with --help (gtmd prints its usage; the floors of bench/gen print theirs and exit), which does
# not change the time to main. Needs root and perf: a uprobe on BIN's `main` symbol (a stripped binary has
# none) and the sched:sched_process_exec tracepoint, read with `perf record`. Process-local: no network.
# Run on a single-threaded program until main, so the wall time is its CPU time, give or take preemption.
set -euo pipefail
n=40
while getopts "n:" o; do
  case $o in n) n=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: bench/premain.sh [-n 40] LABEL=BIN [LABEL=BIN ...]" >&2; exit 2; }
command -v perf >/dev/null || { echo "premain.sh: perf not found (apt-get install linux-perf)" >&2; exit 1; }
run=$(mktemp -d /tmp/gtmd-premain.XXXXXX)
labels=()
bins=()
events=(-e sched:sched_process_exec)
cleanup() {
  for l in "${labels[@]}"; do perf probe -q -d "premain:$l" 2>/dev/null || true; done
  rm -rf "$run"
}
trap cleanup EXIT
for spec in "$@"; do
  label=${spec%%=*}
  bin=$(readlink -f "${spec#*=}")
  [[ $label =~ ^[a-z0-9_]+$ ]] || { echo "premain.sh: label '$label': lower-case letters, digits, _" >&2; exit 2; }
  # grep reads all of nm's output (with -q it would stop early, nm would die of SIGPIPE, and pipefail fail it).
  nm "$bin" 2>/dev/null | grep ' T main$' >/dev/null || { echo "premain.sh: $bin has no main symbol (stripped?)" >&2; exit 1; }
  perf probe -q -d "premain:$label" 2>/dev/null || true
  perf probe -q -x "$bin" -a "premain:$label=main" >/dev/null
  labels+=("$label")
  bins+=("$bin")
  events+=(-e "premain:$label")
done
cat >"$run/starts.sh" <<EOF
#!/usr/bin/env bash
for ((i = 0; i < $n; i++)); do
$(for b in "${bins[@]}"; do printf '  cat %q >/dev/null; taskset -c 0 %q --help >/dev/null 2>&1 || true\n' "$b" "$b"; done)
done
EOF
chmod +x "$run/starts.sh"
perf record -q -a -o "$run/perf.data" "${events[@]}" -- "$run/starts.sh" >/dev/null 2>&1
# Per pid: the last exec (taskset execs the binary in its own process), then the first main.
perf script -i "$run/perf.data" -F pid,time,event 2>/dev/null | awk -v labels="${labels[*]}" '
  BEGIN { split(labels, order, " ") }
  { pid = $1; t = $2; sub(":", "", t); ev = $3 }
  ev ~ /sched_process_exec/ { exec_at[pid] = t; next }
  ev ~ /^premain:/ && (pid in exec_at) {
    l = ev; sub(/^premain:/, "", l); sub(/:$/, "", l)
    ms[l] = ms[l] " " (t - exec_at[pid]) * 1000; delete exec_at[pid]
  }
  END {
    for (k = 1; k in order; k++) {
      l = order[k]; c = split(ms[l], v, " ")
      if (c == 0) { printf "%s: no start reached main\n", l; continue }
      for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
      printf "%s: exec to main %.3f ms median, %.3f min (%d starts)\n", l, v[int((c + 1) / 2)], v[1], c
    }
  }'
