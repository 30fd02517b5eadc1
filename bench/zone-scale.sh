#!/usr/bin/env bash
# Cost as the zone grows (issue 17): load time, memory and the publish time of a switch for zones of 10k, 100k
# and 1M names (bench/gen-zone.py), gtmd next to Knot DNS, NSD and gdnsd on the same zone, interleaved rounds,
# medians and ratios to Knot. The measurements are described in bench/zone_scale.py's header.
#
#   bench/zone-scale.sh [--sizes 10000,100000,1000000] [--rounds 3] [--peers gtmd-ctl,knot,nsd-ctl,gdnsd]
#                       [--gtmd PATH] [--gtmd-b PATH] [--timeout 900]
#
# --gtmd-b adds peer gtmd-ctl-b (the same config on a second binary: before/after in one run). Without --gtmd,
# a release build of this checkout. Loopback only (ports 25460-25469, control API 25560-25569); the servers
# run on CPU 0. Results: .build/bench/<time>-zone-scale/{results.csv,table.md}; zones cached in .build/bench/zones/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --bench
args=("$@")
have_gtmd=0
for a in "$@"; do [ "$a" = --gtmd ] && have_gtmd=1; done
if [ "$have_gtmd" = 0 ]; then
  scripts/build-release.sh >/dev/null
  args+=(--gtmd "$PWD/.build/release/gtmd")
fi
exec python3 bench/zone_scale.py "${args[@]}"
