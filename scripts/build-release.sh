#!/usr/bin/env bash
# The release build of gtmd: every script that needs a release binary builds it here, so .build/release is
# built one way and never rebuilt between scripts (a change of flags recompiles every module: ~12 min on 2 cores).
#   scripts/build-release.sh [swift build options, e.g. --scratch-path DIR]   -> .build/release/gtmd
#
# - --static-swift-stdlib: the Swift runtime, Foundation and ICU inside the binary; the system C libraries
#   (libldns, libmaxminddb, libc) stay dynamic.
# - -function-sections, and lld with --symbol-ordering-file scripts/link/gtmd.order: the functions that start-up
#   and serving run are packed at the front of .text. The kernel maps 64 KiB around every page a process touches,
#   so code spread over the whole binary made most of .text resident. scripts/link/make-order.py remakes the list.
# - -z pack-relative-relocs (DT_RELR, glibc >= 2.36): 120,000 relative relocations in 24 KB instead of 2.8 MB.
# - --no-export-dynamic: the runtime's static-stdlib link exports every symbol of our objects (30,000, a 3 MB
#   dynamic symbol table that the dynamic loader searches); nothing loads symbols from the gtmd executable.
# bench/README.md has what each of these gave.
set -euo pipefail
cd "$(dirname "$0")/.."
link=(-Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic
  -Xlinker --symbol-ordering-file="$PWD/scripts/link/gtmd.order" -Xlinker --no-warn-symbol-ordering)
# The Swift toolchains for Linux ship lld next to swift; without it, the system linker and no ordering.
if [ ! -x "$(dirname "$(readlink -f "$(command -v swift)")")/ld.lld" ]; then
  echo "build-release.sh: no ld.lld beside swift: linking without the symbol ordering (more memory)" >&2
  link=()
fi
exec swift build -c release --product gtmd --static-swift-stdlib \
  -Xswiftc -Xfrontend -Xswiftc -function-sections "${link[@]}" "$@"
