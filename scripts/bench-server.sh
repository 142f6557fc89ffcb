#!/usr/bin/env bash
# Load benchmark of the HTTP OCSP responder beside OpenSSL's, measured in the same run on the
# same request (these machines are noisy; only the ratios mean something).
#
#   caforge  `caforge serve`, POST /ocsp: a nonce-less request (served pre-signed, RFC 5019)
#            and the same request with a nonce (signed afresh every time)
#   openssl  `openssl ocsp -index … -multi N` over the same CA key, same requests (it signs
#            every response)
#   cfssl    CFSSL's `cfssl ocspserve` (Debian golang-cfssl) serving a response pre-signed
#            by `cfssl ocspsign` with the same CA key (it only serves pre-signed responses)
#   ceiling  `ca-server/examples/static_responder`: hyper answering every request with the
#            bytes of caforge's pre-signed response, no routing or lookup at all: the most
#            any hyper server (caforge's HTTP stack) reaches on this machine under wrk
#
# Each cell is `wrk` for DURATION seconds at concurrency 1, 16 and 64; it reports responses/s
# and p50/p99 latency, and counts non-2xx answers (must be 0). Before measuring, every
# responder is asked once with `openssl ocsp -url` and must say "good". The ratio is against
# the faster of OpenSSL and CFSSL at the same concurrency.
#
# Runs inside a private network namespace (loopback only) when `unshare -n` works, because
# `openssl ocsp -port` binds every interface; either way all traffic is 127.0.0.1.
#
# Usage: scripts/bench-server.sh [KEY_TYPE...]   (default: p256 rsa2048)
# Env:   DURATION (default 10), MULTI (openssl responder processes, default 2)
# Needs: wrk and golang-cfssl (installed with apt-get when missing), openssl 3.x, curl.
set -euo pipefail
cd "$(dirname "$0")/.."

# Installed before entering the namespace, which has no route to the package mirror.
if ! command -v wrk >/dev/null || ! command -v cfssl >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -q >/dev/null; apt-get install -y -q wrk golang-cfssl >/dev/null; } \
    || { echo "wrk and golang-cfssl are needed: apt-get install wrk golang-cfssl" >&2; exit 1; }
fi

if [[ -z "${CAFORGE_BENCH_NETNS:-}" ]] && unshare -n true 2>/dev/null; then
  exec unshare -n env CAFORGE_BENCH_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi

key_types=("${@:-p256}")
[[ $# -eq 0 ]] && key_types=(p256 rsa2048)
duration=${DURATION:-10}
multi=${MULTI:-2}

cargo build --release --quiet -p ca-cli
cargo build --release --quiet -p ca-server --example static_responder
bin=$PWD/target/release/caforge
ceiling=$PWD/target/release/examples/static_responder
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # openssl -multi forks children that outlive a killed parent
  pkill -f "openssl ocsp -index $work" 2>/dev/null || true
  pkill -f "cfssl ocspserve -port" 2>/dev/null || true
  pkill -f "static_responder 127.0.0.1" 2>/dev/null || true
  wait 2>/dev/null || true
  [[ -n "${KEEP:-}" ]] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

# wrk: POST the body in $BODY; print one parseable line at the end.
cat > "$work/post.lua" <<'LUA'
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/ocsp-request"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %.3f %.3f %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status + e.connect + e.read + e.write + e.timeout))
end
LUA

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
  for _ in $(seq 100); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  echo "nothing answers at $1" >&2; exit 1
}
# wrk_run URL BODY CONCURRENCY → "resp/s p50ms p99ms errors"
wrk_run() {
  local threads=$(( $3 < 2 ? 1 : 2 ))
  BODY=$2 wrk -t "$threads" -c "$3" -d "${duration}s" --timeout 5s -s "$work/post.lua" "$1" \
    | awk '/^RESULT/ { print $2, $3, $4, $5 }'
}
check_good() {
  local out
  out=$(openssl ocsp -url "$1" -reqin "$2" -issuer "$3/ca.pem" -CAfile "$3/ca.pem" \
    -cert "$3/leaf.pem" -resp_text 2>&1 || true)
  grep -q ': good' <<<"$out" || { echo "responder at $1 did not say good:" >&2; echo "$out" >&2; exit 1; }
}

printf '%-8s %-22s %5s %10s %9s %9s %6s %8s\n' key responder conc "resp/s" "p50 ms" "p99 ms" errors "ratio"
for kt in "${key_types[@]}"; do
  d=$work/$kt
  mkdir -p "$d"
  export CAFORGE_HOME=$d/home CAFORGE_PASSPHRASE="test-only bench passphrase"
  cport=$(free_port)
  "$bin" init >/dev/null
  # One CA signing the leaf and its OCSP answers, as the other responders have it: a root
  # allowed to sign leaves and kept online by the server (caforge keeps roots offline by
  # default).
  "$bin" ca create-root --name root --key-type "$kt" --base-url "http://127.0.0.1:$cport" \
    --allow-leaves true >/dev/null
  "$bin" issue --ca root --key-type p256 --subject CN=bench.test --san dns:bench.test \
    --key-out "$d/leaf.key" --no-encrypt-key --out "$d/leaf.pem" >/dev/null
  "$bin" ca export root > "$d/ca.pem"
  # The same CA key, decrypted for openssl's responder (test-only; deleted on exit).
  openssl pkey -in "$CAFORGE_HOME/keys/root.key.pem" -passin env:CAFORGE_PASSPHRASE -out "$d/ca.key"
  serial=$(openssl x509 -in "$d/leaf.pem" -noout -serial | cut -d= -f2)
  printf 'V\t%s\t\t%s\tunknown\t/CN=bench.test\n' \
    "$(date -u -d "$(openssl x509 -in "$d/leaf.pem" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)" \
    "$serial" > "$d/index.txt"
  openssl ocsp -issuer "$d/ca.pem" -cert "$d/leaf.pem" -no_nonce -reqout "$d/presigned.der" >/dev/null
  openssl ocsp -issuer "$d/ca.pem" -cert "$d/leaf.pem" -reqout "$d/nonce.der" >/dev/null

  # CFSSL: the same CA key pre-signs the response it serves.
  cfssl ocspsign -ca "$d/ca.pem" -responder "$d/ca.pem" -responder-key "$d/ca.key" \
    -cert "$d/leaf.pem" -status good 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["ocspResponse"])' > "$d/cfssl.responses"
  fport=$(free_port)
  cfssl ocspserve -address 127.0.0.1 -port "$fport" -responses "$d/cfssl.responses" >"$d/cfssl.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$fport/"
  check_good "http://127.0.0.1:$fport/" "$d/presigned.der" "$d"

  CAFORGE_LOG=warn "$bin" serve --listen "127.0.0.1:$cport" --online-root root >"$d/serve.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$cport/healthz"
  check_good "http://127.0.0.1:$cport/ocsp" "$d/presigned.der" "$d"
  check_good "http://127.0.0.1:$cport/ocsp" "$d/nonce.der" "$d"
  # Steady state between revocations: the database quiet for longer than the store's
  # write-mark settle period (2 s), so pre-signed answers come from memory.
  sleep 2.5
  curl -s --data-binary @"$d/presigned.der" -H 'Content-Type: application/ocsp-request' \
    -o "$d/presigned.resp" "http://127.0.0.1:$cport/ocsp"
  sport=$(free_port)
  "$ceiling" "127.0.0.1:$sport" "$d/presigned.resp" >"$d/ceiling.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$sport/"

  for c in 1 16 64; do
    # A new openssl responder for every run: after a wrk run its workers stop answering.
    oport=$(free_port)
    openssl ocsp -index "$d/index.txt" -port "$oport" -rsigner "$d/ca.pem" -rkey "$d/ca.key" \
      -CA "$d/ca.pem" -multi "$multi" -ndays 1 >>"$d/openssl.log" 2>&1 &
    opid=$!
    for _ in $(seq 50); do
      openssl ocsp -url "http://127.0.0.1:$oport" -reqin "$d/nonce.der" -issuer "$d/ca.pem" \
        -CAfile "$d/ca.pem" -cert "$d/leaf.pem" >/dev/null 2>&1 && break
      sleep 0.1
    done
    check_good "http://127.0.0.1:$oport" "$d/nonce.der" "$d"
    o=$(wrk_run "http://127.0.0.1:$oport/" "$d/nonce.der" "$c")
    kill "$opid" 2>/dev/null || true
    pkill -f "openssl ocsp -index $d" 2>/dev/null || true
    ors=${o%% *}
    f=$(wrk_run "http://127.0.0.1:$fport/" "$d/presigned.der" "$c")
    ref=$(awk -v a="$ors" -v b="${f%% *}" 'BEGIN{print (a > b ? a : b)}')
    for row in "openssl (signs each)|http://127.0.0.1:$oport/|nonce.der" \
               "cfssl (pre-signed)|http://127.0.0.1:$fport/|presigned.der" \
               "caforge pre-signed|http://127.0.0.1:$cport/ocsp|presigned.der" \
               "caforge fresh (nonce)|http://127.0.0.1:$cport/ocsp|nonce.der" \
               "ceiling (static bytes)|http://127.0.0.1:$sport/|presigned.der"; do
      IFS='|' read -r name url body <<<"$row"
      case $name in
        openssl*) r=$o ;;
        cfssl*) r=$f ;;
        *) r=$(wrk_run "$url" "$d/$body" "$c") ;;
      esac
      read -r rps p50 p99 errs <<<"$r"
      printf '%-8s %-22s %5s %10s %9s %9s %6s %8s\n' "$kt" "$name" "$c" "$rps" "$p50" "$p99" "$errs" \
        "$(awk -v a="$rps" -v b="$ref" 'BEGIN{printf "%.2f", a/b}')"
    done
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f "openssl ocsp -index $d" 2>/dev/null || true
  wait 2>/dev/null || true
  pids=()
done
