#!/usr/bin/env bash
# Revocation benchmarks beside OpenSSL, measured in the same run (these machines are noisy;
# only the ratios mean something):
#   CRL: `caforge bench crl` (build + sign N entries, RSA-2048) vs `openssl ca -gencrl` over
#        an index.txt with N revoked entries — wall time and peak RSS of each.
#   OCSP: `caforge bench ocsp` (fresh signatures with nonces; pre-signed RFC 5019 responses)
#        vs `openssl speed` signatures/s for the same key.
# Usage: scripts/bench-revocation.sh [ENTRIES...]   (default: 100000 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("${@:-100000 1000000}")
# shellcheck disable=SC2206
counts=(${counts[*]})

cargo build --release --quiet -p ca-cli
bin=target/release/caforge
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A throwaway RSA-2048 CA for openssl ca (test-only key, deleted on exit).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" \
  -subj "/CN=Bench CA" -days 30 2>/dev/null
cat > "$work/ca.cnf" <<CNF
[ ca ]
default_ca = bench
[ bench ]
database = $work/index.txt
crlnumber = $work/crlnumber
certificate = $work/ca.pem
private_key = $work/ca.key
default_md = sha256
default_crl_days = 7
crl_extensions = crl_ext
[ crl_ext ]
authorityKeyIdentifier = keyid:always
CNF

printf '%-8s %10s %12s %12s %12s %8s %8s\n' entries "caforge s" "openssl s" "caforge MiB" "openssl MiB" "t ratio" "m ratio"
for n in "${counts[@]}"; do
  c=$("$bin" bench crl --entries "$n" --key-type rsa2048)
  cs=$(echo "$c" | sed -E 's/.*"seconds":([0-9.e-]+).*/\1/')
  cm=$(echo "$c" | sed -E 's/.*"peak_rss_kib":([0-9]+).*/\1/')
  # index.txt: R <expiry> <revocation date,reason> <serial> unknown <dn>, tab-separated.
  awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++)
      printf "R\t301231000000Z\t261101000000Z,keyCompromise\t40%030X\tunknown\t/CN=h%d\n", i, i }' \
      > "$work/index.txt"
  echo 01 > "$work/crlnumber"
  # time(1) reports on stderr after openssl's own messages: keep its last line.
  o=$(/usr/bin/time -f '%e %M' openssl ca -gencrl -config "$work/ca.cnf" -out "$work/crl.pem" 2>&1 >/dev/null | tail -1)
  os=${o% *}; om=${o#* }
  printf '%-8s %10.3f %12.3f %12.1f %12.1f %8.2f %8.2f\n' "$n" "$cs" "$os" \
    "$(awk -v k="$cm" 'BEGIN{print k/1024}')" "$(awk -v k="$om" 'BEGIN{print k/1024}')" \
    "$(awk -v a="$cs" -v b="$os" 'BEGIN{print a/b}')" "$(awk -v a="$cm" -v b="$om" 'BEGIN{print a/b}')"
done

echo
printf '%-8s %14s %16s %16s %8s\n' key "fresh resp/s" "presigned resp/s" "openssl sign/s" "ratio"
for kt in rsa2048 p256; do
  r=$("$bin" bench ocsp --seconds 5 --key-type "$kt")
  fresh=$(echo "$r" | sed -E 's/.*"fresh_per_second":([0-9.]+).*/\1/')
  pre=$(echo "$r" | sed -E 's/.*"presigned_per_second":([0-9.]+).*/\1/')
  case $kt in
    rsa2048) o=$(openssl speed -seconds 5 rsa2048 2>/dev/null | grep -E '^rsa 2048 bits' | awk '{print $(NF-1)}') ;;
    p256) o=$(openssl speed -seconds 5 ecdsap256 2>/dev/null | grep -E 'ecdsa \(nistp256\)' | tail -1 | awk '{print $(NF-1)}') ;;
  esac
  printf '%-8s %14.0f %16.0f %16s %8.2f\n' "$kt" "$fresh" "$pre" "$o" "$(awk -v a="$fresh" -v b="$o" 'BEGIN{print a/b}')"
done
