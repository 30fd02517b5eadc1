#!/usr/bin/env bash
# The fleet lab (issue 15): three sites (an etcd member and a gtmd node each), two regions, a resolver (unbound,
# the three nodes as its NS set) and a client, each in its own network namespace; scenarios 1-6 (--profile fast:
# 1-4, the CI's), ending with one JSON line of figures.
# Needs root, network namespaces, etcd and unbound (scripts/deps.sh), python3 and a built gtmd (--gtmd PATH, else
# $GTMD_BIN, else .build/debug/gtmd). Where it cannot run it says why on stderr, prints {"skipped": "..."} and exits 0.
# Usage: lab/fleet.sh [--profile fast|full] [--gtmd PATH] [--json FILE] [--keep-logs DIR]
#        lab/fleet.sh down [--all]     (remove estates left by killed runs)
set -euo pipefail
cd "$(dirname "$0")/.."
skip() {
  echo "lab/fleet.sh: skipped: $1" >&2
  printf '{"skipped": "%s"}\n' "$1"
  exit 0
}
if [ "${1:-}" = down ]; then shift; exec python3 lab/fleetlab.py down "$@"; fi
[ "$(id -u)" = 0 ] || skip "needs root (ip netns, veth)"
for t in ip python3 etcd unbound unbound-checkconf; do command -v "$t" >/dev/null || skip "needs '$t' (scripts/deps.sh installs iproute2, python3, etcd-server, unbound)"; done
probe="gtfleet-probe$$"
if ! err=$(ip netns add "$probe" 2>&1); then skip "this machine does not allow network namespaces ($err)"; fi
ip netns del "$probe"
args=("$@")
if ! printf '%s\n' "$@" | grep -qx -- --gtmd; then
  bin="${GTMD_BIN:-.build/debug/gtmd}"
  [ -x "$bin" ] || skip "no gtmd binary at $bin (swift build, or pass --gtmd PATH)"
  args+=(--gtmd "$bin")
fi
exec python3 lab/fleetlab.py run "${args[@]}"
