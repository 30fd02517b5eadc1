#!/usr/bin/env bash
# The one command that runs every test from a clean clone: installs what is missing, builds, tests,
# then fuzzes each target deterministically: the committed inputs replayed, then a fixed seed and a fixed number of
# inputs per target (scripts/fuzz.sh --ci; FUZZ=0 skips). Exploratory fuzzing with fresh seeds: scripts/fuzz.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
# The tree follows the checked-in .swift-format (120 columns); `swift format -i -r -p Sources Tests ...` fixes it.
swift format lint --strict -r -p Package.swift Sources Tests Fuzz/Package.swift Fuzz/Sources/gtmd-fuzz
# Every target must declare what it imports (Package.swift), no more and no less.
swift build --build-tests --explicit-target-dependency-import-check error
# Tests run in parallel; integration tests start the real gtmd binary on loopback ports chosen by the OS.
# LabTests (the DR lab, lab/drlab.py: namespaces, unbound, ~90 s) run as root where network namespaces are
# allowed, and are skipped with the reason otherwise.
# The health prober's tests measure time on the cooperative thread pool; the integration tests block threads of
# that pool while they wait for processes. They run first, on their own, so the two never meet.
swift test --skip-build --filter HealthTests "$@"
# The fleet's tests run last, on their own: its in-process async tests (real etcd members on loopback, leases of a
# few seconds) first, then its blocking ones (gtmd processes, the fleet lab's fast profile in network namespaces),
# which hold the cooperative threads the async ones need (on 2 cores their waits were starved past 30 s).
fleet_procs='^IntegrationTests\.(FleetProcesses|FleetLabRun)'
swift test --skip-build --skip HealthTests --skip '^FleetTests\.' --skip "$fleet_procs" "$@"
swift test --skip-build --filter '^FleetTests\.' "$@"
swift test --skip-build --filter "$fleet_procs" "$@"
# FUZZ=0 (or the older FUZZ_SECONDS=0) skips it.
if [ "${FUZZ:-1}" != 0 ] && [ "${FUZZ_SECONDS:-1}" != 0 ]; then scripts/fuzz.sh --ci; fi
