#!/usr/bin/env bash
# The one command that runs every test from a clean clone: installs what is missing, builds, tests,
# then fuzzes each target briefly (FUZZ_SECONDS per target, default 10; 0 skips; scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
# Every target must declare what it imports (Package.swift), no more and no less.
swift build --build-tests --explicit-target-dependency-import-check error
# Tests run in parallel; integration tests start the real gtmd binary on loopback ports chosen by the OS.
# LabTests (the DR lab, lab/drlab.py: namespaces, unbound, ~90 s) run as root where network namespaces are
# allowed, and are skipped with the reason otherwise.
# The health prober's tests measure time on the cooperative thread pool; the integration tests block threads of
# that pool while they wait for processes. They run first, on their own, so the two never meet.
swift test --skip-build --filter HealthTests "$@"
swift test --skip-build --skip HealthTests "$@"
if [ "${FUZZ_SECONDS:-10}" != 0 ]; then scripts/fuzz.sh all "${FUZZ_SECONDS:-10}"; fi
