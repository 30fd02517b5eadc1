#!/usr/bin/env bash
# Makes the HealthTests certificates in DIR with OPENSSL: a CA, a second (untrusted) CA, and leaf certificates
# valid, expired, wrongname, soon (3 days), untrusted. Usage: make_test_certs.sh DIR OPENSSL
set -euo pipefail
cd "$1"
OPENSSL="$2"
ts() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
mkca() {
  "$OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.pem" \
    -subj "/CN=$2" -days 3650 -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
mkca ca "gtmd health test CA"
mkca otherca "some other CA"
mkdir -p db && : > db/index.txt && echo 1000 > db/serial
cat > ca.cnf <<'EOF'
[ca]
default_ca = tca
[tca]
database = db/index.txt
serial = db/serial
new_certs_dir = db
default_md = sha256
policy = pol
unique_subject = no
[pol]
commonName = supplied
EOF
leaf() { # name san start end ca
  printf 'basicConstraints=CA:FALSE\nsubjectAltName=%s\n' "$2" > "$1.ext"
  "$OPENSSL" req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=$1" 2>/dev/null
  "$OPENSSL" ca -batch -config ca.cnf -cert "$5.pem" -keyfile "$5.key" -in "$1.csr" -out "$1.pem" \
    -startdate "$3" -enddate "$4" -extfile "$1.ext" -notext 2>/dev/null
}
SAN="DNS:localhost,IP:127.0.0.1"
leaf valid "$SAN" "$(ts '-1 hour')" "$(ts '+90 days')" ca
leaf expired "$SAN" "$(ts '-3 days')" "$(ts '-1 day')" ca
leaf wrongname "DNS:wrong.example.net" "$(ts '-1 hour')" "$(ts '+90 days')" ca
leaf soon "$SAN" "$(ts '-1 hour')" "$(ts '+3 days')" ca
leaf untrusted "$SAN" "$(ts '-1 hour')" "$(ts '+90 days')" otherca
