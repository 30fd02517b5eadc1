#!/usr/bin/env bash
# Builds a Debian package of gtmd that runs without the Swift toolchain:
#   scripts/package-deb.sh                  # -> dist/gtmd_<version>_<arch>.deb
#   scripts/package-deb.sh --out DIR        # another output folder
#   scripts/package-deb.sh --binary FILE    # package this (already static) binary instead of building
# The binary is a release build with the Swift runtime and Foundation linked statically
# (`--static-swift-stdlib`), libldns and libmaxminddb too; libc and OpenSSL's libcrypto (loaded when DNSSEC
# first needs it) stay shared and are declared as dependencies (dpkg-shlibdeps, and libssl3 by name). The
# package holds the binary, the systemd unit, the default config and zones under /etc/gtmd (conffiles: dpkg
# never overwrites an edited one on upgrade), a man page made by swift-argument-parser's generate-manual plugin,
# and bash/zsh/fish completions from the argument parser. The unit uses DynamicUser, so no user is created. postinst writes a random control API
# token to /etc/gtmd/control.token (0600) when there is none; the token is never part of the package.
# The version is the binary's own (`gtmd --version`).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=dist BINARY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --binary) BINARY=$2; shift 2 ;;
    *) echo "package-deb.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v dpkg-deb >/dev/null && command -v dpkg-shlibdeps >/dev/null || {
  echo "package-deb.sh: needs dpkg-deb and dpkg-shlibdeps (apt-get install dpkg-dev)" >&2; exit 1; }

# Its own build folder, so the static link does not disturb .build (tests, scripts/run-lab.sh).
scratch=.build-deb
if [ -z "$BINARY" ]; then
  scripts/build-release.sh --scratch-path "$scratch"
  BINARY=$scratch/release/gtmd
fi
# The man page from the argument parser: `--help` makes swift-argument-parser's generate-manual plugin build
# its tool (and nothing else); the tool then reads the help of the binary being packaged.
swift package --scratch-path "$scratch" generate-manual --help >/dev/null
tool=$(find "$scratch" -path '*/generate-manual-tool' -type f -perm -u+x | head -n 1)
[ -n "$tool" ] || { echo "package-deb.sh: the generate-manual tool was not built" >&2; exit 1; }
rm -rf "$scratch/manual"; mkdir -p "$scratch/manual"
"$tool" "$BINARY" --output-directory "$scratch/manual" >/dev/null
manual=$scratch/manual/gtmd.1
[ -f "$manual" ] || { echo "package-deb.sh: generate-manual did not write $manual" >&2; exit 1; }
# Refuse a binary that still needs the toolchain's runtime libraries.
if ldd "$BINARY" | grep -E 'libswift|libFoundation|libdispatch|libBlocksRuntime|/opt/swift|not found' >&2; then
  echo "package-deb.sh: $BINARY links the Swift runtime dynamically (build it with scripts/build-release.sh)" >&2; exit 1
fi

version=$("$BINARY" --version)
arch=$(dpkg --print-architecture)
work=$(mktemp -d "${TMPDIR:-/tmp}/gtmd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/gtmd
# Binary, unit, /etc/gtmd (config with the state file, zones): the same staging as scripts/install.sh.
scripts/install.sh --destdir "$root" --prefix /usr --binary "$BINARY" --no-deps --no-systemctl >/dev/null
rm -f "$root/etc/gtmd/control.token"           # per host: postinst makes one
install -d "$root/lib/systemd/system"
mv "$root/etc/systemd/system/gtmd.service" "$root/lib/systemd/system/gtmd.service"
rm -rf "$root/etc/systemd"
strip --strip-unneeded "$root/usr/bin/gtmd"
# Man page and completions.
install -d "$root/usr/share/man/man1"
gzip -9n < "$manual" > "$root/usr/share/man/man1/gtmd.1.gz"
install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
           "$root/usr/share/fish/vendor_completions.d"
"$BINARY" --generate-completion-script bash > "$root/usr/share/bash-completion/completions/gtmd"
"$BINARY" --generate-completion-script zsh > "$root/usr/share/zsh/vendor-completions/_gtmd"
"$BINARY" --generate-completion-script fish > "$root/usr/share/fish/vendor_completions.d/gtmd.fish"
install -d "$root/usr/share/doc/gtmd"
install -m 0644 README.md "$root/usr/share/doc/gtmd/README.md"
install -m 0644 config/example.yaml "$root/usr/share/doc/gtmd/example.yaml"
find "$root" -type d -exec chmod 0755 {} +
find "$root/etc" "$root/usr/share" "$root/lib" -type f -exec chmod 0644 {} +

# Dependencies of the binary's shared libraries.
install -d "$work/debian"
printf 'Source: gtmd\n\nPackage: gtmd\nArchitecture: any\n' > "$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O -e"gtmd/usr/bin/gtmd" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "package-deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
# OpenSSL's libcrypto is loaded when DNSSEC first needs it (Sources/CLibcrypto), so it is no DT_NEEDED entry
# that dpkg-shlibdeps could see: its package is named here.
if ! readelf -d "$root/usr/bin/gtmd" | grep -q 'libcrypto\.so' && grep -qa 'libcrypto\.so\.3' "$root/usr/bin/gtmd"; then
  crypto_pkg=$(dpkg-query -S '*/libcrypto.so.3' 2>/dev/null | head -1 | cut -d: -f1)
  depends="$depends, ${crypto_pkg:-libssl3} (>= 3.0.0)"
fi
rm -rf "$work/debian"

install -d "$root/DEBIAN"
(cd "$root" && find etc -type f | sort | sed 's|^|/|') > "$root/DEBIAN/conffiles"
cat > "$root/DEBIAN/control" <<EOF
Package: gtmd
Version: $version
Architecture: $arch
Maintainer: gtmd developers <gtmd@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Recommends: systemd
Suggests: bind9-dnsutils
Section: net
Priority: optional
Homepage: https://github.com/gtmd/gtmd
Description: health-checking authoritative DNS server for disaster-recovery failover
 gtmd answers for a service name with the primary region's address while it is
 healthy, probes every endpoint (HTTP, HTTPS, TCP) and switches the answers to a
 standby region on failure and back on recovery, with shorter TTLs while
 degraded, nearest-region answers (network rules, MaxMind databases, EDNS Client
 Subnet), operator overrides and a control API with Prometheus metrics.
EOF
cat > "$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  # The control API's bearer token: random, per host, readable by root only (the unit passes it on
  # with LoadCredential=). Kept when present.
  if [ ! -e /etc/gtmd/control.token ]; then
    (umask 077; head -c 32 /dev/urandom | base64 | tr -d '=+/\n' > /etc/gtmd/control.token)
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
    if [ -z "$2" ]; then
      echo "gtmd: edit /etc/gtmd/gtmd.yaml, then: gtmd check --config /etc/gtmd/gtmd.yaml && systemctl enable --now gtmd"
    elif systemctl is-active --quiet gtmd; then
      systemctl try-restart gtmd || true
    fi
  fi
fi
exit 0
EOF
cat > "$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop gtmd >/dev/null 2>&1 || true
fi
exit 0
EOF
cat > "$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  rm -f /etc/gtmd/control.token
  rm -rf /var/lib/private/gtmd /var/lib/gtmd
  rmdir /etc/gtmd 2>/dev/null || true
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
exit 0
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

mkdir -p "$OUT"
deb="$OUT/gtmd_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb ($(du -k "$deb" | cut -f1) KiB; Depends: $depends)"
