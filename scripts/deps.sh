#!/usr/bin/env bash
# Installs the Debian packages gtmd needs to build and test, only when something is missing.
# Usage: scripts/deps.sh [--bench]   (--bench adds the benchmark peers: dnsperf, nsd, knot, gdnsd)
set -euo pipefail
# etcd: the fleet's tests and lab. chromium + chromium-driver: the console's browser test (Tests/IntegrationTests/ConsoleTests.swift).
pkgs=(libldns-dev ldnsutils libmaxminddb-dev libyaml-dev zlib1g-dev bind9-dnsutils bind9-utils openssl python3 python3-pip iproute2 unbound etcd-server etcd-client chromium chromium-driver)
if [ "${1:-}" = "--bench" ]; then pkgs+=(dnsperf nsd knot gdnsd pdns-server pdns-backend-bind); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# promtool (checks contrib/prometheus/gtmd.rules.yml): taken from Debian's prometheus package without
# installing the server (whose package would start it), into /usr/local/bin.
if ! command -v promtool >/dev/null; then
  echo "deps: installing promtool (from Debian's prometheus package) into /usr/local/bin" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  tmp=$(mktemp -d)
  if (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1 || { $SUDO apt-get update -qq && apt-get download -qq prometheus; }) \
     && dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool; then
    $SUDO install -m 0755 "$tmp/usr/bin/promtool" /usr/local/bin/promtool
  else
    echo "deps: could not get promtool; the alert rules test checks metric names only" >&2
  fi
  rm -rf "$tmp"
fi
# selenium (PyPI) drives chromium-driver for the console test; Debian 12's python marks itself externally managed.
if ! python3 -c 'import selenium' 2>/dev/null; then
  echo "deps: installing selenium (PyPI) for the console's browser test" >&2
  python3 -m pip install -q selenium 2>/dev/null || python3 -m pip install -q --break-system-packages selenium
fi
command -v swift >/dev/null || { echo "deps: swift (6.x) is not on PATH; install the Swift toolchain first" >&2; exit 1; }
