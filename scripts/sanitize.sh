#!/usr/bin/env bash
# Runs the test suites that exercise the hot path, TCP, health probing and reload under a sanitizer.
# Usage: scripts/sanitize.sh address|thread [extra swift test args, e.g. --filter RateLimit]
# Everything (gtmd, its dependencies and the tests) is built with --sanitize in its own scratch folder
# (.build/sanitize-KIND; the first build takes long), and the integration tests start that instrumented
# gtmd binary. Every sanitizer report (from the test process or any gtmd it started) goes to
# .build/sanitize-KIND/reports/; the script fails when a test fails or any report was written.
# Not part of .ci/run (the two instrumented builds take far longer than the suite; see README "Hardening").
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}; shift || true
case $kind in address|thread) ;; *) echo "usage: scripts/sanitize.sh address|thread [swift test args]" >&2; exit 2;; esac
scratch=.build/sanitize-$kind
reports=$(pwd)/$scratch/reports
rm -rf "$reports"; mkdir -p "$reports"
start=$(date +%s)
swift build --build-tests --sanitize="$kind" --scratch-path "$scratch" 2>&1 | grep -E "error:|Build complete|Compiling gtmd" || true
built=$(date +%s)
echo "sanitize $kind: build took $(( built - start )) s"
filter='AnswersTests|ServerTests|HealthTests|AppTests|IntegrationTests|DNSWireTests|ZonesTests|ConfigTests|PolicyTests'
export GTMD_SANITIZER=$kind   # tests skip RSS bounds under ASan (its quarantine keeps freed memory)
# detect_leaks=0: the Swift runtime keeps metadata caches for the process lifetime, reported as leaks.
export ASAN_OPTIONS="detect_leaks=0:log_path=$reports/asan:handle_abort=1"
# TSan reports contended Synchronization.Mutex sections as races (scripts/sanitize/tsan-mutex-repro.swift);
# the suppressions name the closures where that happens, nothing else.
export TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=0:second_deadlock_stack=1:suppressions=$(pwd)/scripts/sanitize/tsan-suppressions.txt"
set +e
# Two Health tests assert wall-clock bounds under 1 s that the instrumented (2-15x slower) build misses.
swift test --skip-build --sanitize="$kind" --scratch-path "$scratch" --filter "$filter" \
  --skip 'cancellationEndsAProbe|firstRoundGivesVerdicts' "$@" 2>&1 | tee "$scratch/test.log" | grep -E "^✘|Test run with|error:" 
rc=${PIPESTATUS[0]}
set -e
echo "sanitize $kind: tests took $(( $(date +%s) - built )) s, exit $rc"
n=$(ls "$reports" | wc -l)
if [ "$n" -gt 0 ]; then
  echo "sanitize $kind: $n report file(s) in $reports:" >&2
  grep -h -E "^(WARNING|ERROR): |SUMMARY: " "$reports"/* | sort | uniq -c | head -n 40 >&2
  exit 1
fi
[ "$rc" -eq 0 ] || exit "$rc"
echo "sanitize $kind: clean"
