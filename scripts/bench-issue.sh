#!/usr/bin/env bash
# End-to-end issuance beside its references, measured in the same run (these machines are
# noisy; only the ratios mean something):
#   - `caforge bench issue` (CSR parsed and checked, policy, lint, durable serial reservation,
#     signature verified, durable commit; SQLite with group commit) at concurrency 64;
#   - the raw signing ceilings: `openssl speed -multi 2` and `caforge bench sign` (caforge's own
#     implementation, on every core);
#   - `openssl ca -batch -infiles` issuing the same number of P-256 CSRs under a P-256 CA;
#   - the same caforge benchmark on PostgreSQL when CAFORGE_BENCH_POSTGRES_URL names a server
#     it may create a scratch database on (e.g. postgres://postgres@127.0.0.1:5432/postgres).
# Usage: scripts/bench-issue.sh [COUNT]   (default 4000; openssl ca gets COUNT/8 CSRs)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-4000}
conc=${CONCURRENCY:-64}
cargo build --release --quiet -p ca-cli
bin=target/release/caforge
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
field() { sed -E "s/.*\"$1\":([0-9.e+-]+).*/\1/"; }
speed() { # openssl speed -multi 2 signs/s for $1
  openssl speed -seconds 3 -multi 2 "$1" 2>/dev/null | awk '/sign\/s/ {getline; print $(NF-1); exit}'
}

printf '%-9s %-10s %14s %14s %14s %10s %10s\n' key store "caforge cert/s" "openssl sign/s" "caforge sign/s" "vs openssl" "vs own"
for kt in p256 rsa2048 sm2; do
  c=$("$bin" bench issue --key-type "$kt" --count "$count" --concurrency "$conc" | field per_second)
  own=$("$bin" bench sign --key-type "$kt" --seconds 3 | field per_second)
  case $kt in
    p256) o=$(speed ecdsap256) ;;
    rsa2048) o=$(speed rsa2048) ;;
    sm2) o=$(speed sm2) ;;
  esac
  printf '%-9s %-10s %14.0f %14.0f %14.0f %10.3f %10.3f\n' "$kt" sqlite "$c" "$o" "$own" \
    "$(awk -v a="$c" -v b="$o" 'BEGIN{print a/b}')" "$(awk -v a="$c" -v b="$own" 'BEGIN{print a/b}')"
done

if [ -n "${CAFORGE_BENCH_POSTGRES_URL:-}" ]; then
  db="caforge_bench_$$"
  psql "$CAFORGE_BENCH_POSTGRES_URL" -qAtc "CREATE DATABASE $db" >/dev/null
  base=${CAFORGE_BENCH_POSTGRES_URL%/*}
  c=$("$bin" bench issue --key-type p256 --count "$count" --concurrency "$conc" --db-url "$base/$db" | field per_second)
  psql "$CAFORGE_BENCH_POSTGRES_URL" -qAtc "DROP DATABASE $db WITH (FORCE)" >/dev/null
  o=$(speed ecdsap256)
  printf '%-9s %-10s %14.0f %14.0f %14s %10.3f %10s\n' p256 postgresql "$c" "$o" - \
    "$(awk -v a="$c" -v b="$o" 'BEGIN{print a/b}')" -
fi

# openssl ca over COUNT/8 P-256 CSRs (one key, distinct subjects), P-256 CA, SHA-256.
n=$((count / 8))
openssl ecparam -name prime256v1 -genkey -noout -out "$work/ca.key" 2>/dev/null
openssl req -x509 -new -key "$work/ca.key" -out "$work/ca.pem" -subj "/CN=Bench CA" -days 30
openssl ecparam -name prime256v1 -genkey -noout -out "$work/leaf.key" 2>/dev/null
mkdir -p "$work/csr" "$work/out"
for i in $(seq "$n"); do
  openssl req -new -key "$work/leaf.key" -subj "/CN=host$i.bench.example" -out "$work/csr/$i.csr"
done
: > "$work/index.txt"
echo 01 > "$work/serial"
cat > "$work/ca.cnf" <<CNF
[ ca ]
default_ca = bench
[ bench ]
database = $work/index.txt
serial = $work/serial
new_certs_dir = $work/out
certificate = $work/ca.pem
private_key = $work/ca.key
default_md = sha256
default_days = 30
policy = anything
unique_subject = no
x509_extensions = leaf
[ anything ]
commonName = supplied
[ leaf ]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
start=$(date +%s.%N)
openssl ca -batch -config "$work/ca.cnf" -out "$work/all.pem" -infiles "$work"/csr/*.csr 2>/dev/null
end=$(date +%s.%N)
ocas=$(awk -v n="$n" -v a="$start" -v b="$end" 'BEGIN{print n/(b-a)}')
c=$("$bin" bench issue --key-type p256 --count "$count" --concurrency "$conc" | field per_second)
echo
printf 'openssl ca -batch -infiles: %d certificates, %.0f/s; caforge p256 sqlite %.0f/s: %.1fx\n' \
  "$n" "$ocas" "$c" "$(awk -v a="$c" -v b="$ocas" 'BEGIN{print a/b}')"
