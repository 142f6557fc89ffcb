#!/bin/bash
# Builds a small but varied caforge home with the caforge binary given as $1 and the
# database URL as $2 (empty: the home's SQLite file).
set -euo pipefail
bin=$1; db=${2:-}
export CAFORGE_HOME=home CAFORGE_PASSPHRASE="test-only passphrase, not a secret"
args=()
[ -n "$db" ] && args=(--db "$db")
c() { "$bin" "${args[@]}" "$@"; }
c init
c ca create-root --name root --key-type p256 --subject "CN=Fixture Root,O=caforge test"
c ca create-intermediate --parent root --name issuing --key-type sm2 --path-len 0 --permitted-dns fixture.example
c ca create-intermediate --parent root --name rsa-issuing --key-type rsa2048 --path-len 0
c ca configure issuing --base-url http://127.0.0.1:18080 --crl-lifetime 7d --ocsp-signer delegated
c issue --ca issuing --subject "CN=www.fixture.example" --key-type p256 --key-out www.key --san dns:www.fixture.example --out www.pem
c issue --ca issuing --subject "CN=old.fixture.example" --key-type p256 --key-out old.key --san dns:old.fixture.example --out old.pem
c issue --ca issuing --subject "CN=hold.fixture.example" --key-type sm2 --key-out hold.key --san dns:hold.fixture.example --out hold.pem
c issue --ca rsa-issuing --subject "CN=api.fixture.example" --key-type ed25519 --key-out api.key --san dns:api.fixture.example --out api.pem
old=$(openssl x509 -in old.pem -noout -serial | cut -d= -f2)
hold=$(openssl x509 -in hold.pem -noout -serial | cut -d= -f2)
c revoke "$old" --reason keyCompromise
c revoke "$hold" --reason certificateHold
c crl --ca issuing --out issuing.crl
c unrevoke "$hold"
c crl --ca issuing --delta --out delta.crl
c token create --name fixture --ca issuing --profile tls-server
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ext.key -subj "/CN=external.fixture.example" -days 30 -out ext.pem 2>/dev/null
c inventory import ext.pem
c renew "$(openssl x509 -in api.pem -noout -serial | cut -d= -f2)" --out api2.pem >/dev/null 2>&1 || echo "renew skipped"
c audit verify
c cert list
