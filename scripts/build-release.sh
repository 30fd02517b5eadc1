#!/usr/bin/env bash
# The release build of gtmd: every script that needs a release binary builds it here, so .build/release is
# built one way and never rebuilt between scripts (a change of flags recompiles every module: ~12 min on 2 cores).
#   scripts/build-release.sh [swift build options, e.g. --scratch-path DIR]   -> .build/release/gtmd
#
# - --static-swift-stdlib: the Swift runtime and FoundationEssentials inside the binary (no source file of gtmd's
#   or of its dependencies imports full Foundation, so neither CoreFoundation nor ICU is linked); libc stays
#   dynamic.
# - -function-sections, and lld with --symbol-ordering-file scripts/link/gtmd.order: the functions that start-up
#   and serving run are packed at the front of .text. The kernel maps 64 KiB around every page a process touches,
#   so code spread over the whole binary made most of .text resident. scripts/link/make-order.py remakes the list.
# - scripts/link/sections.ld: the Swift compiler emits its conformance descriptors in input sections named .rodata
#   with the write flag, and lld gave the whole merged .rodata (36 MB of constants and ICU data) that flag and put
#   it in a writable segment. Those inputs get a small output section of their own; .rodata stays read-only (a
#   stray write to a constant faults) and its start-up pages are released with the code's (CMalloc's
#   gtmd_release_loaded_pages leaves writable mappings alone): idle RSS 7.6 -> 5.1 MB.
# - -z pack-relative-relocs (DT_RELR, glibc >= 2.36): 120,000 relative relocations in 24 KB instead of 2.8 MB.
# - --no-export-dynamic: the runtime's static-stdlib link exports every symbol of our objects (30,000, a 3 MB
#   dynamic symbol table that the dynamic loader searches); nothing loads symbols from the gtmd executable.
# - -disable-concrete-type-metadata-mangled-name-accessors (every module, dependencies too): the metadata of a
#   concrete generic type (`[DNSName: Zone]`, `Optional<Set<String>>`, NIO's and Yams' own) is made by calling its
#   accessor with the conformances the compiler knows, instead of demangling its name at first use; demangling
#   looks every conformance up again, and each first look-up scans all of the binary's 9,000 conformance records.
#   That was a fifth of the CPU of a start (lab config: 21.4 -> 18.0 CPU ms to the first answer); +0.3 MB of code.
# bench/README.md has what each of these gave.
set -euo pipefail
cd "$(dirname "$0")/.."
# - Static libstdc++, libldns, libmaxminddb, libyaml and zlib (Debian's own archives from the -dev packages): the dynamic
#   loader no longer resolves libstdc++'s 4,300 symbol relocations, nor ldns's, at every start. OpenSSL stays a
#   shared library, so Debian's security updates reach it, but there is no -lcrypto: it is loaded when DNSSEC
#   first needs it (Sources/CLibcrypto; mapping it and its 3,500 symbol relocations were ~1.6 ms of every start).
#   The linker takes `-lX` from the first directory that has either file, so a directory holding only the archives
#   goes first: the system libraries' pkg-config files (which SwiftPM reads for the -L of CLdns, CMaxMindDB and CYAML)
#   are copied with that directory as their libdir.
static=.build/static-libs
mkdir -p "$static/pkgconfig"
rm -f "$static"/*.a
for a in "$(gcc -print-file-name=libstdc++.a 2>/dev/null || true)" \
  "$(pkg-config --variable=libdir ldns)/libldns.a" \
  "$(pkg-config --variable=libdir libmaxminddb)/libmaxminddb.a" \
  "$(pkg-config --variable=libdir yaml-0.1)/libyaml.a" \
  "$(pkg-config --variable=libdir zlib 2>/dev/null || echo /usr/lib/x86_64-linux-gnu)/libz.a"; do
  # Without an archive the shared library is linked instead (a larger start, same behaviour).
  if [ -f "$a" ]; then ln -sf "$(readlink -f "$a")" "$static/"; else echo "build-release.sh: no ${a:-libstdc++.a}; linking its shared library" >&2; fi
done
for pc in ldns libmaxminddb yaml-0.1; do
  sed "s#^libdir=.*#libdir=$PWD/$static#" "$(pkg-config --variable=pcfiledir "$pc")/$pc.pc" >"$static/pkgconfig/$pc.pc"
done
export PKG_CONFIG_PATH="$PWD/$static/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
link=(-Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic
  -Xlinker --symbol-ordering-file="$PWD/scripts/link/gtmd.order" -Xlinker --no-warn-symbol-ordering
  -Xlinker -T -Xlinker "$PWD/scripts/link/sections.ld")
# lld's map of the link beside the binary (gtmd.map: every input section, its object and its symbols), which
# scripts/link/make-order.py reads to tell a function section of its own from a shared one.
bindir="$(swift build -c release "$@" --show-bin-path)"
mkdir -p "$bindir"
link+=(-Xlinker -Map="$bindir/gtmd.map")
# The Swift toolchains for Linux ship lld next to swift; without it, the system linker and no ordering.
if [ ! -x "$(dirname "$(readlink -f "$(command -v swift)")")/ld.lld" ]; then
  echo "build-release.sh: no ld.lld beside swift: linking without the symbol ordering (more memory)" >&2
  link=()
fi
swift build -c release --product gtmd --static-swift-stdlib \
  -Xswiftc -Xfrontend -Xswiftc -function-sections "${link[@]}" \
  -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors "$@"
# A toolchain or linker change that puts .rodata back in a writable segment fails the build here, not quietly.
if [ ${#link[@]} -gt 0 ] && command -v readelf >/dev/null; then
  bin="$bindir/gtmd"
  # The section table is read once into a variable: a reader that stops early (`grep -q`, awk's `exit`) on a pipe
  # from readelf would end readelf by SIGPIPE, which pipefail made the script's exit status (141, a failed build).
  sections=$(readelf -SW "$bin")
  # readelf -S: [Nr] Name Type Address Off Size ES Flg ...; the flags are the sixth field after the name.
  flags=$(awk '{ for (i = 1; i <= NF; i++) if ($i == ".rodata") { print $(i + 6); exit } }' <<<"$sections")
  # Full Foundation (CoreFoundation's constant strings, ICU's 33 MB of data, their start-up constructors) must not
  # come back through an `import Foundation`: FoundationEssentials is what gtmd needs.
  if grep -q '\.cfstr\.data' <<<"$sections"; then
    echo "build-release.sh: $bin links full Foundation (CoreFoundation); import FoundationEssentials instead" >&2
    exit 1
  fi
  case "$flags" in
    *W*) echo "build-release.sh: $bin has a writable .rodata (flags $flags); see scripts/link/sections.ld" >&2; exit 1 ;;
    "") echo "build-release.sh: no .rodata section found in $bin" >&2; exit 1 ;;
  esac
fi
