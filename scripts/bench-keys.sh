#!/usr/bin/env bash
# Signatures per second by key custodian, beside OpenSSL's raw rate, in one run (these
# machines are noisy; only the ratios mean something):
#   - `caforge bench sign` with the key in memory (caforge's own implementation);
#   - `caforge bench sign --key-store hsm-sim://…`: through a local hsm-sim (release build,
#     Unix socket, one connection per signing thread: request framing, the device's session
#     and PIN checks, its signature, the answer);
#   - `caforge bench sign --key-store pkcs11:…`: through SoftHSM2 (when installed; RSA and
#     P-256 — SoftHSM2 has no SM2), with a session per signing thread;
#   - `openssl speed -multi 2` as the reference.
# Every figure uses both cores (THREADS signing threads, default 2 × cores for the device so
# that one thread's round trip overlaps another's signature).
# Usage: scripts/bench-keys.sh [SECONDS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
cores=$(nproc)
threads=${THREADS:-$((cores * 2))}
cargo build --release --quiet -p ca-cli -p hsm-sim
bin=target/release/caforge
sim=target/release/hsm-sim
work=$(mktemp -d)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
field() { sed -E "s/.*\"$1\":([0-9.e+-]+).*/\1/"; }
speed() { # openssl speed -multi N signs/s for $1
  openssl speed -seconds "$secs" -multi "$cores" "$1" 2>/dev/null | awk '/sign\/s/ {getline; print $(NF-1); exit}'
}

# A throwaway device (test-only secrets).
head -c 32 /dev/urandom | base64 > "$work/master"
echo "bench-so-pin" > "$work/so-pin"
echo "bench-user-pin" > "$work/pin"
"$sim" init-token --state "$work/state" --master-key-file "$work/master" --label bench \
  --so-pin-file "$work/so-pin" --pin-file "$work/pin" >/dev/null
"$sim" serve --state "$work/state" --master-key-file "$work/master" --socket "$work/hsm.sock" \
  > "$work/sim.out" 2>/dev/null &
pid=$!
for _ in $(seq 50); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
store="hsm-sim://$work/hsm.sock?token=bench"

p11=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -e "$m" ] && command -v softhsm2-util >/dev/null && p11=$m && break
done
if [ -n "$p11" ]; then
  mkdir -p "$work/tokens"
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" > "$work/softhsm2.conf"
  export SOFTHSM2_CONF=$work/softhsm2.conf
  softhsm2-util --init-token --free --label bench --so-pin 87654321 --pin 12345678 >/dev/null
  echo 12345678 > "$work/p11pin"
  # A home whose configuration allows the module (caforge loads no other).
  "$bin" --home "$work/p11home" init >/dev/null
  printf '\n[keys]\npkcs11_modules = ["%s"]\n' "$p11" >> "$work/p11home/caforge.toml"
fi

printf '%-9s %14s %14s %14s %14s %12s %12s %12s\n' key "openssl sign/s" "memory sign/s" "hsm-sim sign/s" "softhsm sign/s" \
  "hsm/openssl" "hsm/memory" "p11/openssl"
for kt in p256 rsa2048 sm2; do
  mem=$("$bin" bench sign --key-type "$kt" --seconds "$secs" | field per_second)
  dev=$("$bin" --pin-file "$work/pin" bench sign --key-type "$kt" --seconds "$secs" \
    --key-store "$store" --threads "$threads" | field per_second)
  p11s=-
  if [ -n "$p11" ] && [ "$kt" != sm2 ]; then
    p11s=$("$bin" --home "$work/p11home" --pin-file "$work/p11pin" bench sign --key-type "$kt" --seconds "$secs" \
      --key-store "pkcs11:token=bench?module-path=$p11" --threads "$cores" | field per_second)
  fi
  case $kt in
    p256) o=$(speed ecdsap256) ;;
    rsa2048) o=$(speed rsa2048) ;;
    sm2) o=$(speed sm2) ;;
  esac
  ratio() { [ "$1" = - ] && echo - || awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a/b}'; }
  printf '%-9s %14.0f %14.0f %14.0f %14s %12s %12s %12s\n' "$kt" "$o" "$mem" "$dev" \
    "$( [ "$p11s" = - ] && echo - || printf '%.0f' "$p11s")" \
    "$(ratio "$dev" "$o")" "$(ratio "$dev" "$mem")" "$(ratio "$p11s" "$o")"
done
