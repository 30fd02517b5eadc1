#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (swiftc -sanitize=fuzzer,address) of gtmd's parsers and responder.
#
#   scripts/fuzz.sh TARGET|all SECONDS   exploratory: a fresh random seed, SECONDS per target, new inputs kept
#                                        in .build/fuzz/corpus/TARGET (not committed). Run it before you stop.
#   scripts/fuzz.sh --ci [SCALE] [TARGET] deterministic (what scripts/test.sh runs): first every committed input
#                                        (Fuzz/corpus/TARGET, Fuzz/regressions/TARGET) is replayed, then a fixed
#                                        seed (1) runs a fixed number of inputs per target (× SCALE, default 1)
#                                        from the committed seeds only, so a commit always gives the same result.
#                                        TARGET (default all) runs one target, e.g. `scripts/fuzz.sh --ci control`.
#
# TARGET: see `all` below and Fuzz/README.md. Prints one line per target: executions, exec/s, coverage
# (libFuzzer cov: edges, ft: features), corpus size, seed. A crash or failed property stops that target,
# leaves the input in .build/fuzz/crashes/, and makes the script exit 1: commit the input to
# Fuzz/regressions/TARGET/ (the normal test suite replays it, Tests/AnswersTests/FuzzReplayTests.swift)
# together with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
all=(query responder edns zone config state control cli)
# Inputs per target in --ci mode: about 10 s each on one core of the CI machine.
declare -A ci_runs=([query]=300000 [responder]=60000 [edns]=50000 [zone]=10000 [config]=10000 [state]=1500 [control]=5000 [cli]=2000)
ci=0
if [ "${1:-}" = "--ci" ]; then
  ci=1; target=all; scale=1
  for a in "${@:2}"; do case $a in ''|*[!0-9]*) target=$a;; *) scale=$a;; esac; done
else target=${1:-all}; seconds=${2:-20}; fi
if [ "$target" = all ]; then targets=("${all[@]}"); else targets=("$target"); fi
for t in "${targets[@]}"; do
  case " ${all[*]} " in *" $t "*) ;; *) echo "fuzz: unknown target '$t' (one of: ${all[*]} all)" >&2; exit 2;; esac
done
start=$(date +%s)
# libFuzzer's driver without its main() (SwiftPM renames executables' entry points), plus its C++ runtime.
libfuzzer=$(ls "$(dirname "$(readlink -f "$(command -v swift)")")"/../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a | head -n 1)
bin=$(swift build --package-path Fuzz --show-bin-path)/gtmd-fuzz
rm -f "$bin"
swift build --package-path Fuzz --product gtmd-fuzz -Xlinker "$libfuzzer" -Xlinker -lstdc++ 2>&1 \
  | grep -E "error:|Build complete" || true
[ -x "$bin" ] || { echo "fuzz: build failed (run: swift build --package-path Fuzz)" >&2; exit 1; }
echo "fuzz: build took $(( $(date +%s) - start )) s"
mkdir -p .build/fuzz/crashes .build/fuzz/logs
failed=0
for t in "${targets[@]}"; do
  case $t in zone|config|state) maxlen=8192;; control) maxlen=4096;; cli) maxlen=256;; *) maxlen=1500;; esac
  dict=(); [ -f "Fuzz/dict/$t.dict" ] && dict=(-dict="Fuzz/dict/$t.dict")
  log=.build/fuzz/logs/$t.log
  set +e
  if [ $ci = 1 ]; then
    # Swift seeds its hashing per process (Set and Dictionary order): fixed here, or one seed gives two runs.
    export SWIFT_DETERMINISTIC_HASHING=1
    # Replay: every committed input once (a directory with -runs=0 runs its files and stops).
    GTMD_FUZZ_TARGET=$t GTMD_FUZZ_ZONES="$root/zones" ASAN_OPTIONS=detect_leaks=0 \
      "$bin" -runs=0 -max_len=$maxlen -timeout=10 -rss_limit_mb=2048 "${dict[@]}" \
      -artifact_prefix=".build/fuzz/crashes/$t-" "Fuzz/corpus/$t" "Fuzz/regressions/$t" >"$log.replay" 2>&1
    rc=$?
    if [ $rc = 0 ]; then
      work=$(mktemp -d); seed=1; runs=$(( ${ci_runs[$t]} * scale ))
      # Same inputs, same result: no address randomisation (setarch -R), no corpus reload timer, and none of the
      # features that feed on comparison operands or run history (two runs of seed 1 differed by 3 edges without).
      GTMD_FUZZ_TARGET=$t GTMD_FUZZ_ZONES="$root/zones" ASAN_OPTIONS=detect_leaks=0 setarch "$(uname -m)" -R \
        "$bin" -seed=$seed -runs=$runs -max_len=$maxlen -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -reload=0 -use_cmp=0 -use_memmem=0 -entropic=0 -reduce_inputs=0 \
        "${dict[@]}" -artifact_prefix=".build/fuzz/crashes/$t-" "$work" "Fuzz/corpus/$t" "Fuzz/regressions/$t" >"$log" 2>&1
      rc=$?
      rm -rf "$work"
    else
      cp "$log.replay" "$log"
    fi
  else
    work=.build/fuzz/corpus/$t; mkdir -p "$work"
    seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    GTMD_FUZZ_TARGET=$t GTMD_FUZZ_ZONES="$root/zones" ASAN_OPTIONS=detect_leaks=0 \
      "$bin" -seed=$seed -max_total_time="$seconds" -max_len=$maxlen -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "${dict[@]}" -artifact_prefix=".build/fuzz/crashes/$t-" "$work" "Fuzz/corpus/$t" "Fuzz/regressions/$t" >"$log" 2>&1
    rc=$?
  fi
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last"); ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
  printf 'fuzz %-9s execs %-9s exec/s %-7s cov %-5s ft %-6s corpus %-10s seed %s\n' "$t" "$execs" "$rate" "$cov" "$ft" "$corp" "$seed"
  if [ $rc -ne 0 ]; then
    failed=1
    echo "fuzz $t: FAILED (exit $rc); log: $log" >&2
    grep -E 'gtmd-fuzz|ERROR|SUMMARY|Test unit written' "$log" | head -n 8 >&2 || true
  fi
done
echo "fuzz: total $(( $(date +%s) - start )) s"
exit $failed
