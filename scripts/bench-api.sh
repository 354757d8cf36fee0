#!/usr/bin/env bash
# make bench-api (issue 14, "Speed"): authenticated `GET /v1/sessions/{id}` under load, measured
# with wrk (Debian's package, installed here if missing). Target: >= 5,000 requests/s on this
# 2-core machine with p99 < 20 ms.
#
# `joule demo --serve` (release build) runs every service in one process on a database and NATS
# namespace of its own, charges real OCPP sessions and creates an API key; wrk then asks for one of
# those sessions with that key, BENCH_RUNS times for BENCH_SECS each, BENCH_CONNECTIONS connections
# over 2 threads. Each run prints requests/s, p50/p99 latency and Joule's CPU time per request. The
# machine's ceiling for this work, measured in the same run: raw PostgreSQL point reads per second
# (`pgbench -S`, 2 threads, BENCH_CONNECTIONS/4 clients), since every such request is one point read
# of the sessions read model behind a gRPC call to sessions: in process (ADR 044), or with
# BENCH_GRPC=network over a loopback h2c connection to the process's own gRPC listener (how every
# same-process call went before ADR 044), to compare the two in the same minutes. wrk runs on the
# same two cores. Everything started here is stopped and removed on exit. Results in $BENCH_OUT.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

: "${BENCH_RUNS:=5}"
: "${BENCH_SECS:=20}"
: "${BENCH_CONNECTIONS:=64}"
: "${BENCH_SKIP_BUILD:=0}"
: "${BENCH_GRPC:=in-process}"
: "${BENCH_OUT:=${CARGO_TARGET_DIR:-target}/bench-api/$(date -u +%Y%m%dT%H%M%SZ)}"
PG=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
mkdir -p "$BENCH_OUT"
BENCH_OUT=$(cd "$BENCH_OUT" && pwd)
log() { echo "[bench-api $(date -u +%H:%M:%S)] $*" | tee -a "$BENCH_OUT/bench.log" >&2; }

if ! command -v wrk >/dev/null; then
  log "installing wrk (apt)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi
if [ "$BENCH_SKIP_BUILD" != 1 ]; then
  log "building the release binary"
  cargo build --release --quiet --bin joule
fi
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/joule

SUFFIX=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
DB=joule_bench_api_$SUFFIX
CEILING_DB=joule_bench_pg_$SUFFIX
NS=benchapi$SUFFIX
read -r API_PORT OCPP_PORT GRPC_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
JOULE_PID=""
TOKEN=bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')  # the api refuses a weak admin token

cleanup() {
  set +e
  if [ -n "$JOULE_PID" ] && kill -0 "$JOULE_PID" 2>/dev/null; then
    kill -TERM "$JOULE_PID"
    for _ in $(seq 1 100); do kill -0 "$JOULE_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$JOULE_PID" 2>/dev/null
  fi
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $CEILING_DB WITH (FORCE)" >/dev/null
  python3 scripts/delete-nats-streams.py "$NS" >>"$BENCH_OUT/bench.log" 2>&1
  log "results in $BENCH_OUT"
}
trap cleanup EXIT

# --- the machine's ceiling: raw PostgreSQL point reads ----------------------------------------
psql "$PG/postgres" -qc "CREATE DATABASE $CEILING_DB" >/dev/null
pgbench -q -i -s 1 "$PG/$CEILING_DB" >/dev/null 2>&1
CLIENTS=$(( BENCH_CONNECTIONS / 4 > 0 ? BENCH_CONNECTIONS / 4 : 1 ))
CEILING=$(pgbench -S -n -c "$CLIENTS" -j 2 -T 10 "$PG/$CEILING_DB" 2>/dev/null \
  | awk '/^tps/ {printf "%d", $3}')
log "machine ceiling: $CEILING PostgreSQL point reads/s (pgbench -S, $CLIENTS clients, 2 threads)"

# --- Joule with sessions to read ---------------------------------------------------------------
psql "$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null
if [ "$BENCH_GRPC" = network ]; then
  SELF="http://127.0.0.1:$GRPC_PORT"
  for service in SESSIONS PRICING INVOICING LEDGER PAYMENTS GATEWAY WEBHOOKS; do
    export "JOULE_${service}_GRPC_URL=$SELF"
  done
fi
log "gRPC between the services: $BENCH_GRPC"
JOULE_DATABASE_URL="$PG/$DB" JOULE_NAMESPACE="$NS" JOULE_LOG=warn JOULE_ADMIN_TOKEN="$TOKEN" \
  JOULE_API_ADDR="127.0.0.1:$API_PORT" JOULE_OCPP_ADDR="127.0.0.1:$OCPP_PORT" \
  JOULE_GRPC_ADDR="127.0.0.1:$GRPC_PORT" \
  JOULE_API_RATE_LIMITS="default=1000000/1000000" JOULE_API_TENANT_RATE_LIMIT="1000000/1000000" \
  "$BIN" demo --serve --log-file "$BENCH_OUT/joule.log" >"$BENCH_OUT/demo.out" 2>&1 &
JOULE_PID=$!
for _ in $(seq 1 600); do
  grep -qs "/v1/sessions/" "$BENCH_OUT/demo.out" && break
  kill -0 "$JOULE_PID" 2>/dev/null || { cat "$BENCH_OUT/demo.out" >&2; exit 1; }
  sleep 0.5
done
KEY=$(awk '$1 == "API" && $2 == "key" {print $3; exit}' "$BENCH_OUT/demo.out")
URL=$(grep -o 'http://[^"]*/v1/sessions/[^"]*' "$BENCH_OUT/demo.out" | head -n1)
[ -n "$KEY" ] && [ -n "$URL" ] || { log "the demo printed no key or session"; exit 1; }
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" "$URL")
[ "$STATUS" = 200 ] || { log "GET $URL answered $STATUS"; exit 1; }
log "Joule (pid $JOULE_PID) serves $URL"

# --- the load ----------------------------------------------------------------------------------
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
wrk -t2 -c"$BENCH_CONNECTIONS" -d5s -H "Authorization: Bearer $KEY" "$URL" >/dev/null  # warm-up
for run in $(seq 1 "$BENCH_RUNS"); do
  before=$(ticks "$JOULE_PID")
  wrk -t2 -c"$BENCH_CONNECTIONS" -d"${BENCH_SECS}s" --latency \
    -H "Authorization: Bearer $KEY" "$URL" >"$BENCH_OUT/wrk-$run.txt"
  used=$(( $(ticks "$JOULE_PID") - before ))
  python3 - "$BENCH_OUT/wrk-$run.txt" "$used" "$HZ" "$CEILING" "$run" <<'EOF' | tee -a "$BENCH_OUT/results.txt"
import re, sys
text, ticks, hz, ceiling, run = open(sys.argv[1]).read(), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def ms(label):
    m = re.search(r"^\s+%s\s+([\d.]+)(us|ms|s)" % label, text, re.M)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
requests = int(re.search(r"(\d+) requests in", text).group(1))
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = int(errors.group(1)) if errors else 0
cpu_us = ticks / hz * 1e6 / max(requests, 1)
print(f"run {run}: {rate:.0f} requests/s, p50 {ms('50%'):.2f} ms, p99 {ms('99%'):.2f} ms, "
      f"{errors} non-2xx, Joule CPU {cpu_us:.0f} us/request, {rate / ceiling:.3f} of the PostgreSQL ceiling")
EOF
done
log "median of $BENCH_RUNS runs:"
sort -t' ' -k3 -n "$BENCH_OUT/results.txt" | awk -v n="$BENCH_RUNS" 'NR == int((n + 1) / 2)' | tee -a "$BENCH_OUT/bench.log"
