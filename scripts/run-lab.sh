#!/usr/bin/env bash
# The one command that runs the lab: installs what is missing, builds gtmd (release) and serves
# config/lab.yaml on 127.0.0.1:5353 and [::1]:5353 in the foreground. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build -c release --product gtmd
exec .build/release/gtmd serve --config config/lab.yaml "$@"
