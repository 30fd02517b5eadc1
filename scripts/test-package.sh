#!/usr/bin/env bash
# The clean-system test of the Debian package (slow: not part of scripts/test.sh; README "Install on Debian").
# Builds the .deb (scripts/package-deb.sh, or --deb FILE), bootstraps a minimal Debian 12 (bookworm) into a
# folder with debootstrap (no Swift toolchain there), installs the package with `apt-get install ./gtmd_*.deb`
# (apt fetches the declared dependencies from the Debian mirror), then inside it runs `gtmd --version`,
# `gtmd check` on the installed config, and serves one query on loopback that dig (on the host) asks.
# Root only (debootstrap, chroot, mounts); anyone else gets "skipped" with the reason and exit 0.
# The debootstrap download is cached as a tarball (--make-tarball/--unpack-tarball) in
# $GTMD_TEST_CACHE (default /var/cache/gtmd-test), so reruns download only the package lists and gtmd's
# dependencies. Prints the figures: .deb size, ldd of the installed binary, the unit's
# `systemd-analyze security` score, and the time taken.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
DEB=""
while [ $# -gt 0 ]; do
  case "$1" in
    --deb) DEB=$2; shift 2 ;;
    *) echo "test-package.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "test-package: skipped: needs root (debootstrap, chroot and mounts)"; exit 0
fi
fail() { echo "test-package: FAILED: $*" >&2; exit 1; }
need=()
for c in debootstrap dig dpkg-deb dpkg-shlibdeps systemd-analyze; do command -v "$c" >/dev/null || need+=("$c"); done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends debootstrap bind9-dnsutils dpkg-dev systemd >/dev/null
fi
[ -n "$DEB" ] || DEB=$(scripts/package-deb.sh | tail -n 1 | cut -d' ' -f1)
[ -f "$DEB" ] || fail "no package at $DEB"
version=$(dpkg-deb -f "$DEB" Version)
built=$(date +%s)

# The package's contents.
contents=$(dpkg-deb -c "$DEB")
for f in ./usr/bin/gtmd ./lib/systemd/system/gtmd.service ./etc/gtmd/gtmd.yaml ./etc/gtmd/zones/lab.example.zone \
         ./usr/share/man/man1/gtmd.1.gz ./usr/share/bash-completion/completions/gtmd \
         ./usr/share/zsh/vendor-completions/_gtmd ./usr/share/fish/vendor_completions.d/gtmd.fish; do
  grep -q " $f\$" <<<"$contents" || fail "$f is not in $DEB"
done
grep -q control.token <<<"$contents" && fail "$DEB carries a control token (it must be made per host)"
conffiles=$(dpkg-deb -I "$DEB" conffiles)
grep -qx /etc/gtmd/gtmd.yaml <<<"$conffiles" && grep -qx /etc/gtmd/zones/lab.example.zone <<<"$conffiles" \
  || fail "the config and zones are not conffiles: $conffiles"

# Debian 12 in a folder, from the cached tarball.
mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror=${GTMD_TEST_MIRROR:-${mirror:-http://deb.debian.org/debian}}
cache=${GTMD_TEST_CACHE:-/var/cache/gtmd-test}
tarball=$cache/bookworm-minbase.tgz
mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
  echo "test-package: downloading Debian 12 (minbase) from $mirror into $tarball (once)"
  tmp=$(mktemp -d "$cache/make.XXXXXX")
  debootstrap --variant=minbase --make-tarball="$tarball.part" bookworm "$tmp" "$mirror" >/dev/null
  mv "$tarball.part" "$tarball"; rm -rf "$tmp"
fi
root=$(mktemp -d /var/tmp/gtmd-debian12.XXXXXX)
mounted=()
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT
debootstrap --variant=minbase --unpack-tarball="$tarball" bookworm "$root" "$mirror" >/dev/null \
  || fail "debootstrap (see $root/debootstrap/debootstrap.log)"
bootstrapped=$(date +%s)
[ -e "$root/opt/swift" ] && fail "the chroot has a Swift toolchain"
for m in proc dev; do mount --bind "/$m" "$root/$m"; mounted+=("$root/$m"); done
cp /etc/resolv.conf "$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod 0755 "$root/usr/sbin/policy-rc.d"
echo "deb $mirror bookworm main" > "$root/etc/apt/sources.list"
cp "$DEB" "$root/tmp/"
inroot() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
inroot apt-get update -qq >/dev/null || fail "apt-get update in the chroot"
inroot env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "./tmp/$(basename "$DEB")" \
  >"$root/tmp/apt.log" 2>&1 || { cat "$root/tmp/apt.log" >&2; fail "apt-get install ./$(basename "$DEB")"; }

# The installed binary: no toolchain libraries, nothing missing.
ldd_out=$(inroot ldd /usr/bin/gtmd)
grep -E 'not found|swift' <<<"$ldd_out" && fail "the installed binary misses libraries: $ldd_out"
got=$(inroot gtmd --version) || fail "gtmd --version"
[ "$got" = "$version" ] || fail "gtmd --version printed '$got', the package is $version"
[ "$(stat -c %a "$root/etc/gtmd/control.token")" = 600 ] || fail "postinst did not make /etc/gtmd/control.token (0600)"
grep -qx 'state_file: /var/lib/gtmd/state.json' "$root/etc/gtmd/gtmd.yaml" || fail "the installed config sets no state_file"
check=$(inroot gtmd check --config /etc/gtmd/gtmd.yaml) || fail "gtmd check on the installed config: $check"
grep -q '^ok:' <<<"$check" || fail "gtmd check printed: $check"

# Serve one query: the installed config and zone, on a free loopback port (the chroot shares the host's network).
rm -f "$root/tmp/ready.json"
chroot "$root" /usr/bin/gtmd serve --config /etc/gtmd/gtmd.yaml --listen 127.0.0.1:0 --control off \
  --state-file /tmp/state.json --ready-file /tmp/ready.json >"$root/tmp/serve.log" 2>&1 &
server=$!
for _ in $(seq 200); do [ -s "$root/tmp/ready.json" ] && break; kill -0 "$server" 2>/dev/null || break; sleep 0.05; done
[ -s "$root/tmp/ready.json" ] || { cat "$root/tmp/serve.log" >&2; fail "gtmd serve did not get ready in 10 s"; }
port=$(sed -n 's/.*"listen" *: *\[ *"127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$root/tmp/ready.json")
[ -n "$port" ] || fail "no port in $(cat "$root/tmp/ready.json")"
answer=$(dig @127.0.0.1 -p "$port" +time=2 +tries=2 +norec lab.example SOA)
grep -q 'status: NOERROR' <<<"$answer" && grep -q 'flags: qr aa' <<<"$answer" && grep -qE 'lab\.example\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+SOA' <<<"$answer" \
  || fail "the query on 127.0.0.1:$port got: $answer"
kill "$server"; wait "$server" 2>/dev/null || true; server=""

score=$(systemd-analyze security --offline=true "$root/lib/systemd/system/gtmd.service" 2>/dev/null \
  | sed -n 's/.*Overall exposure level for .*: *//p')
echo "test-package: passed in $(( $(date +%s) - start )) s (package $(( built - start )) s, debootstrap $(( bootstrapped - built )) s)"
echo "  $(basename "$DEB"): $(du -k "$DEB" | cut -f1) KiB; Depends: $(dpkg-deb -f "$DEB" Depends)"
echo "  systemd-analyze security (offline) of the packaged unit: ${score:-?}"
echo "  ldd /usr/bin/gtmd in Debian 12:"; sed 's/^/   /' <<<"$ldd_out"
