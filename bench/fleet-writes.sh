#!/usr/bin/env bash
# etcd writes per second of a 3-node fleet with 1,000 targets (FLEET_TARGETS), steady and with one target
# flapping, against a real local etcd on loopback. Prints one JSON line: requests the nodes sent (puts,
# keep-alives) and what etcd counted (etcd_mvcc_put_total + delete_total, LeaseKeepAlive messages) per second.
# Usage: bench/fleet-writes.sh            (FLEET_SECONDS=30 per window)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests >/dev/null
FLEET_BENCH=1 swift test --skip-build --filter FleetWritesBench 2>&1 | grep -E '^(\{"targets"|after )'
