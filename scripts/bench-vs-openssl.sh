#!/usr/bin/env bash
# Runs the criterion issuance benchmark and `openssl speed` for the same algorithms in one
# go, and prints caforge's certificates/s next to OpenSSL's raw signatures/s as a ratio.
# Usage: scripts/bench-vs-openssl.sh   (figures go into BENCHMARKS.md by hand)
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench -p ca-core --bench issuance -- --noplot 2>/dev/null | tee /tmp/caforge-bench.txt >/dev/null
openssl speed -seconds 3 rsa2048 rsa3072 ecdsap256 ecdsap384 ed25519 sm2 2>/dev/null >/tmp/openssl-speed.txt

# criterion: "issue_build_sign/p256  time:   [12.3 µs 12.4 µs 12.6 µs]" → median in seconds
crit() {
  awk -v name="issue_build_sign/$1" '
    $1 == name { getline_line = $0 }
    index($0, name) == 1 && /time:/ { line = $0 }
    index($0, name) == 1 && !/time:/ { getline; line = $0 }
    END {
      n = split(line, f, /[][ ]+/)
      for (i = 1; i <= n; i++) if (f[i] ~ /^[0-9.]+$/) { v[++k] = f[i]; u[k] = f[i+1] }
      val = v[2]; unit = u[2]
      mult = (unit == "ns") ? 1e-9 : (unit == "µs" || unit == "us") ? 1e-6 : (unit == "ms") ? 1e-3 : 1
      printf "%.1f", 1 / (val * mult)
    }' /tmp/caforge-bench.txt
}
# openssl speed: the sign/s column (second to last) of the matching line
ossl() { grep -E "$1" /tmp/openssl-speed.txt | tail -1 | awk '{print $(NF-1)}'; }

printf '%-9s %14s %16s %7s\n' "key" "caforge cert/s" "openssl sign/s" "ratio"
row() {
  local c o
  c=$(crit "$1"); o=$(ossl "$2")
  printf '%-9s %14s %16s %7s\n' "$1" "$c" "$o" "$(awk -v c="$c" -v o="$o" 'BEGIN{printf "%.2f", c/o}')"
}
row rsa2048 '^rsa 2048 bits'
row rsa3072 '^rsa 3072 bits'
row p256 'ecdsa \(nistp256\)'
row p384 'ecdsa \(nistp384\)'
row ed25519 'EdDSA \(Ed25519\)'
row sm2 'SM2 \(CurveSM2\)'
