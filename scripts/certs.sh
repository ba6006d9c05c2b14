#!/usr/bin/env bash
# Make a local CA and a server certificate for localhost in DIR, if they are missing.
#
#   scripts/certs.sh DIR
#
# DIR/ca.crt, DIR/ca.key          a CA of its own (10 years), to give clients: curl --cacert DIR/ca.crt
# DIR/server.crt, DIR/server.key  signed by that CA, SAN DNS:localhost, IP:127.0.0.1, 825 days
#
# Idempotent: files that exist and are valid are kept; a server certificate that is
# missing, expires within 30 days or was not signed by DIR/ca.crt is made anew.
# Keys are mode 0600. Needs only openssl. For a public server use a real certificate
# (docs/deploy.md); this CA is for development and tests.
set -euo pipefail

if [[ $# -ne 1 || $1 == -h || $1 == --help ]]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    [[ $# -eq 1 ]] && exit 0 || exit 2
fi
dir=$1
command -v openssl >/dev/null || { echo "certs.sh: openssl is missing (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"

valid_cert() { # file: exists and does not expire within 30 days
    [[ -s $1 ]] && openssl x509 -in "$1" -noout -checkend $((30 * 86400)) >/dev/null 2>&1
}
key_matches() { # cert key
    [[ -s $2 ]] || return 1
    [[ $(openssl x509 -in "$1" -noout -pubkey 2>/dev/null) == "$(openssl pkey -in "$2" -pubout 2>/dev/null)" ]]
}

new_key() { # file: EC P-256, mode 0600 from the start
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.tmp" 2>/dev/null)
    mv -f "$1.tmp" "$1"
}

if valid_cert ca.crt && key_matches ca.crt ca.key; then
    echo "certs.sh: CA ok ($dir/ca.crt)"
else
    echo "certs.sh: making a local CA ($dir/ca.crt)"
    new_key ca.key
    openssl req -x509 -new -key ca.key -sha256 -days 3650 -out ca.crt.tmp \
        -subj "/CN=agentfcgi local development CA" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash"
    mv -f ca.crt.tmp ca.crt
    rm -f server.crt # signed by the old CA, if any
fi

if valid_cert server.crt && key_matches server.crt server.key &&
    openssl verify -CAfile ca.crt server.crt >/dev/null 2>&1; then
    echo "certs.sh: server certificate ok ($dir/server.crt)"
else
    echo "certs.sh: making the server certificate for localhost, 127.0.0.1 ($dir/server.crt)"
    new_key server.key
    ext=$(mktemp)
    trap 'rm -f "$ext" server.csr' EXIT
    cat >"$ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
    openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -sha256 -days 825 \
        -set_serial "0x$(openssl rand -hex 16)" -extfile "$ext" -out server.crt.tmp 2>/dev/null
    mv -f server.crt.tmp server.crt
fi
chmod 0600 ca.key server.key
chmod 0644 ca.crt server.crt
