#!/usr/bin/env bash
# The one command that runs the lab: installs what is missing, builds gtmd (release), starts the two
# region backends (127.0.0.11:8081 primary, 127.0.0.12:8081 standby) and serves config/lab.yaml on
# 127.0.0.1:5353 and [::1]:5353 in the foreground. Ctrl-C stops everything.
#   LAB_BACKENDS=0 scripts/run-lab.sh   # when someone else provides the backends
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build-release.sh
# The control API token config/lab.yaml names (random, readable by this user only; kept when present).
mkdir -p .lab-state
if [ ! -s .lab-state/control.token ]; then
  (umask 077; head -c 32 /dev/urandom | base64 | tr -d '=+/\n' > .lab-state/control.token)
fi
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
if [ "${LAB_BACKENDS:-1}" != 0 ]; then
  for addr in 127.0.0.11 127.0.0.12; do
    python3 Tests/tools/lab_backend.py "$addr" 8081 &
    pids+=($!)
  done
  # Wait until both backends accept connections, so the first probe round sees them up.
  for addr in 127.0.0.11 127.0.0.12; do
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/$addr/8081") 2>/dev/null && break; sleep 0.1; done
  done
fi
.build/release/gtmd serve --config config/lab.yaml "$@" &
pids+=($!)
wait "${pids[-1]}"
