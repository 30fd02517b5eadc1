#!/usr/bin/env bash
# Installs gtmd as a systemd service on Debian: the binary, the unit, a config and the zones.
#   sudo scripts/install.sh                  # build (release), install under /usr/local and /etc/gtmd, daemon-reload
#   scripts/install.sh --destdir /tmp/stage --no-deps --no-systemctl   # stage into a folder (packaging, tests)
# Options: --prefix DIR (default /usr/local), --destdir DIR, --binary FILE (skip the build),
#          --no-deps (no apt), --no-systemctl (no daemon-reload).
# An existing /etc/gtmd/gtmd.yaml or zone file is never overwritten. The unit uses DynamicUser, so no
# user is created; overrides live in /var/lib/gtmd (StateDirectory). A random control API token is written
# to /etc/gtmd/control.token (0600, kept if present).
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=/usr/local DESTDIR="" BINARY="" DEPS=1 SYSTEMCTL=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=$2; shift 2 ;;
    --destdir) DESTDIR=$2; shift 2 ;;
    --binary) BINARY=$2; shift 2 ;;
    --no-deps) DEPS=0; shift ;;
    --no-systemctl) SYSTEMCTL=0; shift ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$DEPS" = 1 ] && scripts/deps.sh
if [ -z "$BINARY" ]; then scripts/build-release.sh; BINARY=.build/release/gtmd; fi
etc="$DESTDIR/etc/gtmd"
install -D -m 0755 "$BINARY" "$DESTDIR$PREFIX/bin/gtmd"
install -d -m 0755 "$etc/zones"
sed "s|/usr/local/bin/gtmd|$PREFIX/bin/gtmd|g" systemd/gtmd.service > "$DESTDIR/gtmd.service.tmp"
install -D -m 0644 "$DESTDIR/gtmd.service.tmp" "$DESTDIR/etc/systemd/system/gtmd.service"
rm -f "$DESTDIR/gtmd.service.tmp"
# Zones (and included files), never overwriting the operator's.
(cd zones && find . -type f) | while read -r f; do
  [ -e "$etc/zones/$f" ] || install -D -m 0644 "zones/$f" "$etc/zones/$f"
done
# The control API's bearer token: random, readable by root only (the unit hands it over with LoadCredential=).
if [ ! -e "$etc/control.token" ]; then
  (umask 077; head -c 32 /dev/urandom | base64 | tr -d '=+/\n' > "$etc/control.token")
fi
if [ ! -e "$etc/gtmd.yaml" ]; then
  # The example, with zone paths relative to /etc/gtmd, the standard DNS port and the token file.
  sed -e 's|\.\./zones/|zones/|' -e 's|127.0.0.1:5300|127.0.0.1:53|' -e 's|\[::1\]:5300|[::1]:53|' \
      -e 's|^  # token_file: /etc/gtmd/control.token|  token_file: /etc/gtmd/control.token|' \
      -e '/^state_file:/d' \
    config/example.yaml > "$etc/gtmd.yaml"
  # One state file for the service (StateDirectory=gtmd) and `gtmd override --offline` (the example's own
  # state_file line, which points into the checkout, is dropped above).
  printf '\n# Overrides and the services'"'"' current pools: the service and `gtmd override --offline` use this file.\nstate_file: /var/lib/gtmd/state.json\n' >> "$etc/gtmd.yaml"
  chmod 0644 "$etc/gtmd.yaml"
fi
echo "installed: $DESTDIR$PREFIX/bin/gtmd, $DESTDIR/etc/systemd/system/gtmd.service, $etc/"
if [ "$SYSTEMCTL" = 1 ] && [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  echo "next: edit /etc/gtmd/gtmd.yaml, then: gtmd check --config /etc/gtmd/gtmd.yaml && systemctl enable --now gtmd"
fi
