#!/usr/bin/env bash
# Health scheduler load run: many http and tcp checks (interval 1 s) plus hanging ones against a python3
# backend on 127.0.0.1, for a fixed time. Prints probes/s, CPU per probe, latency percentiles and the
# share of the schedule the checks got. Loopback only; bounded in time.
# Usage: scripts/bench-probes.sh [seconds] [http checks] [tcp checks] [hanging checks]
set -euo pipefail
cd "$(dirname "$0")/.."
export GTMD_HEALTH_BENCH=1
export BENCH_SECONDS="${1:-10}" BENCH_HTTP="${2:-500}" BENCH_TCP="${3:-500}" BENCH_HANG="${4:-50}"
swift build --scratch-path .build-health --build-tests >/dev/null
swift test --scratch-path .build-health --skip-build --filter 'HealthTests.BenchTests' 2>&1 | grep -E '^BENCH|✘|error' || true
