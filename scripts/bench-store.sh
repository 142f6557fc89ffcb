#!/usr/bin/env bash
# The targets of the "One store" issue, each beside its reference measured in the same run
# (these machines are noisy; only the ratios mean something):
#   - the P-256 issuance ceiling, 1 / (1/sign + 2/verify) from `openssl speed -multi 2
#     ecdsap256` (each certificate costs one signature and two verifications: the CSR's and
#     the signed certificate's);
#   - `caforge bench issue --key-type p256 --count COUNT` on SQLite (durable), against that
#     ceiling (target >= 0.5);
#   - the same on PostgreSQL when CAFORGE_BENCH_POSTGRES_URL names a server it may create a
#     scratch database on, against the SQLite rate (target >= 0.5);
#   - `caforge bench crl --revoked 1000000` (target <= 1.5 s and <= 200 MB peak).
# Usage: scripts/bench-store.sh [COUNT]   (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-20000}
cargo build --release --quiet -p ca-cli
bin=target/release/caforge
field() { sed -E "s/.*\"$1\":([0-9.e+-]+).*/\1/"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a/b}'; }

read -r sign verify < <(openssl speed -seconds 5 -multi 2 ecdsap256 2>/dev/null |
  awk '/nistp256/ {s=$(NF-1); v=$NF} END {print s, v}')
ceiling=$(awk -v s="$sign" -v v="$verify" 'BEGIN{printf "%.0f", 1/(1/s + 2/v)}')
sqlite=$("$bin" bench issue --key-type p256 --count "$count" | field per_second)
echo "openssl speed -multi 2 ecdsap256: sign ${sign}/s verify ${verify}/s -> ceiling ${ceiling}/s"
printf 'p256 issuance, SQLite:     %8.0f/s  %s x ceiling (target >= 0.5)\n' "$sqlite" "$(ratio "$sqlite" "$ceiling")"
if [ -n "${CAFORGE_BENCH_POSTGRES_URL:-}" ]; then
  db="caforge_bench_$$"
  psql "$CAFORGE_BENCH_POSTGRES_URL" -qAtc "CREATE DATABASE $db" >/dev/null
  base=${CAFORGE_BENCH_POSTGRES_URL%/*}
  pg=$("$bin" bench issue --key-type p256 --count "$count" --db-url "$base/$db" | field per_second)
  psql "$CAFORGE_BENCH_POSTGRES_URL" -qAtc "DROP DATABASE $db WITH (FORCE)" >/dev/null
  printf 'p256 issuance, PostgreSQL: %8.0f/s  %s x SQLite (target >= 0.5)\n' "$pg" "$(ratio "$pg" "$sqlite")"
fi
crl=$("$bin" bench crl --revoked 1000000)
printf 'CRL, 1M entries:           %8.3f s, peak %s KiB (targets <= 1.5 s, <= 204800 KiB)\n' \
  "$(echo "$crl" | field seconds)" "$(echo "$crl" | field peak_rss_kib)"
