#!/usr/bin/env bash
# The long fuzz run (the test command runs 10 s per target): every target for SECS seconds (default
# 600), continuing from the corpus earlier runs left in .build/fuzz/corpus. Prints executions,
# exec/s and libFuzzer coverage (cov: edges, ft: features) per target.   bench/fuzz.sh [SECS=600]
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/fuzz.sh all "${1:-600}"
