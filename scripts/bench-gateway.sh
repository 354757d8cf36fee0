#!/usr/bin/env bash
# make bench-gateway: benchmarks one gateway instance on this machine (issue 3, "Scale").
#
#   idle   N idle charger connections on one gateway process: resident memory per connection
#          (VmRSS delta / connections from /proc/<pid>/status). Target <= 16 KiB.
#   storm  with those N connected, the gateway is restarted (SIGTERM, start again): time until all
#          are connected and ready again. Target 60 s for 100,000.
#   load   OCPP messages/s through the gateway, durable JetStream publish included, and p99
#          call->result latency per action. Target >= 20,000/s; p99 < 20 ms MeterValues/Heartbeat,
#          < 50 ms transaction messages.
#   full   an attempt at BENCH_CHARGERS (100,000) connections when that exceeds what one process
#          may open here; reports how far it got.
#
# It runs `joule run api pricing` (registration) and `joule run gateway` (measured, alone in its
# process) in a database and NATS namespace of their own, created here and removed on exit, and
# `joule sim` as the load generator in separate processes. All traffic stays on 127.0.0.0/8; every
# wait is bounded; every process started here is stopped by its pid. Results go to $BENCH_OUT.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

: "${BENCH_CHARGERS:=100000}"     # the fleet the issue asks one gateway to carry
: "${BENCH_IDLE_CHARGERS:=auto}"  # auto: BENCH_CHARGERS, or what one process's open-file limit allows
: "${BENCH_LOAD_CHARGERS:=2000}"  # chargers in the throughput runs
: "${BENCH_LOAD_SECS:=60}"
: "${BENCH_RATE:=20000}"          # offered CALLs/s of the latency run
: "${BENCH_METER_SAMPLES:=10}"    # MeterValues per session in the load runs
: "${BENCH_PHASES:=idle storm load full}"
: "${BENCH_LOAD_RUNS:=max target half}"  # unlimited, at BENCH_RATE, at half the unlimited rate
: "${BENCH_LOG:=warn}"            # JOULE_LOG of the measured processes
: "${BENCH_SKIP_BUILD:=0}"
: "${BENCH_OUT:=${CARGO_TARGET_DIR:-target}/bench-gateway/$(date -u +%Y%m%dT%H%M%SZ)}"
PG=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
NATS_HOST=127.0.0.1
NATS_PORT=4222

log() { echo "[bench $(date -u +%H:%M:%S)] $*" | tee -a "$BENCH_OUT/bench.log" >&2; }
mkdir -p "$BENCH_OUT"
BENCH_OUT=$(cd "$BENCH_OUT" && pwd)

if [ "$BENCH_SKIP_BUILD" != 1 ]; then
  log "building release binaries"
  cargo build --release --bin joule
fi
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/joule
[ -x "$BIN" ] || { echo "no $BIN" >&2; exit 1; }

# --- our own database, namespace, ports --------------------------------------------------------
SUFFIX=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
DB=joule_bench_$SUFFIX
NS=bench$SUFFIX
TOKEN=bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')  # the api refuses a weak token
PREFIX=BENCH
read -r API_PORT GRPC_A_PORT GRPC_G_PORT OCPP_PORT < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
EOF
)
API=127.0.0.1:$API_PORT
OCPP=127.0.0.1:$OCPP_PORT
# The simulated chargers connect without a password (security profile 0, allowed explicitly), and
# one simulated charger sends far more than a real one: the per-connection limits are lifted.
COMMON_ENV=(JOULE_DATABASE_URL="$PG/$DB" JOULE_NAMESPACE="$NS" JOULE_ADMIN_TOKEN="$TOKEN"
  JOULE_LOG="$BENCH_LOG" JOULE_NATS_URL="nats://$NATS_HOST:$NATS_PORT"
  JOULE_OCPP_REQUIRE_AUTH=false JOULE_OCPP_MESSAGE_RATE_PER_SEC=1000000 JOULE_OCPP_MESSAGE_BURST=1000000
  JOULE_OCPP_MAX_CONNECTIONS=1000000)

PIDS=()
PLATFORM_PID=""
GATEWAY_PID=""

delete_streams() { python3 scripts/delete-nats-streams.py "$NS" "$NATS_HOST" "$NATS_PORT"; }

stop_pid() {  # stop_pid PID [grace seconds]: SIGTERM, then SIGKILL after the grace time
  local pid=$1 grace=${2:-20}
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((grace * 10))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  set +e
  log "cleaning up"
  for pid in "${PIDS[@]}"; do stop_pid "$pid" 20; done
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
  delete_streams >>"$BENCH_OUT/bench.log" 2>&1
  log "results in $BENCH_OUT"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/{print $2}' "/proc/$1/status"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }  # user nice system irq softirq
snap_ticks() { for p in "$@"; do echo "$p:$(ticks "$p")"; done; }  # pid:ticks words
delta_ticks() {  # delta_ticks "BEFORE-SNAPSHOT": ticks used since, by the processes still alive
  local t=0 entry pid before now
  for entry in $1; do
    pid=${entry%%:*}; before=${entry#*:}
    [ -r "/proc/$pid/stat" ] || continue
    now=$(ticks "$pid"); t=$((t + now - before))
  done
  echo $t
}
established() { ss -Htn state established "( src 127.0.0.1:$OCPP_PORT )" | wc -l; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: polls every 0.2 s
  local secs=$1 what=$2; shift 2
  for _ in $(seq 1 $((secs * 5))); do "$@" && return 0; sleep 0.2; done
  log "gave up waiting for $what after $secs s"; return 1
}
in_log() { grep -q -- "$2" "$1" 2>/dev/null; }

start_gateway() {  # start_gateway LOGFILE
  GATEWAY_LOG=$1
  # BENCH_GATEWAY_ENV: extra VAR=value words for the gateway alone (experiments, e.g. LD_PRELOAD).
  # shellcheck disable=SC2086
  (ulimit -n "$(ulimit -Hn)"; exec env "${COMMON_ENV[@]}" ${BENCH_GATEWAY_ENV:-} JOULE_OCPP_ADDR="$OCPP" \
    JOULE_GRPC_ADDR="127.0.0.1:$GRPC_G_PORT" JOULE_SHUTDOWN_GRACE_SECS=30 "$BIN" run gateway) >"$1" 2>&1 &
  GATEWAY_PID=$!
  PIDS+=("$GATEWAY_PID")
  wait_for 60 "the gateway to listen" port_open "$OCPP_PORT"
}

sim() {  # sim LOGFILE ARGS...: joule sim in the background; SIM_PID
  local out=$1; shift
  (ulimit -n "$(ulimit -Hn)"; exec "$BIN" sim --url "ws://$OCPP/ocpp" --id-prefix "$PREFIX" \
    --tokens 100 --progress-secs 1 "$@") >"$out" 2>&1 &
  SIM_PID=$!
  PIDS+=("$SIM_PID")
}

json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$@"; }

# --- machine and platform ----------------------------------------------------------------------
HARD_FDS=$(ulimit -Hn)
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || cat HEAD_COMMIT 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "nproc: $(nproc)"; echo "kernel: $(uname -r)"
  echo "cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
  free -h | sed 's/^/free: /'
  echo "open files: soft $(ulimit -Sn), hard $HARD_FDS; fs.nr_open $(cat /proc/sys/fs/nr_open)"
  echo "ip_local_port_range: $(cat /proc/sys/net/ipv4/ip_local_port_range); somaxconn: $(cat /proc/sys/net/core/somaxconn)"
  echo "database $DB, namespace $NS, ocpp $OCPP, api $API, JOULE_LOG=$BENCH_LOG"
} | tee "$BENCH_OUT/machine.txt"

psql "$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null
log "starting api + pricing (registration) and the gateway (measured, its own process)"
env "${COMMON_ENV[@]}" JOULE_API_ADDR="$API" JOULE_GRPC_ADDR="127.0.0.1:$GRPC_A_PORT" \
  "$BIN" run api pricing >"$BENCH_OUT/platform.log" 2>&1 &
PLATFORM_PID=$!
PIDS+=("$PLATFORM_PID")
wait_for 60 "the api" port_open "$API_PORT"
start_gateway "$BENCH_OUT/gateway-1.log"

IDLE_N=$BENCH_IDLE_CHARGERS
if [ "$IDLE_N" = auto ]; then
  # The gateway needs a few dozen descriptors besides its connections (pool, NATS, listener).
  IDLE_N=$(( BENCH_CHARGERS < HARD_FDS - 200 ? BENCH_CHARGERS : HARD_FDS - 200 ))
fi
REG_N=$BENCH_CHARGERS
[ "$BENCH_LOAD_CHARGERS" -gt "$REG_N" ] && REG_N=$BENCH_LOAD_CHARGERS
[ "$IDLE_N" -gt "$REG_N" ] && REG_N=$IDLE_N

log "registering $REG_N chargers and 100 tokens through the REST API"
start=$(date +%s.%N)
"$BIN" sim --register-only --api "http://$API" --token "$TOKEN" --chargers "$REG_N" --tokens 100 \
  --id-prefix "$PREFIX" --register-concurrency 64 | tee "$BENCH_OUT/register.log"
known() { [ "$(psql "$PG/$DB" -tAc 'SELECT count(*) FROM gateway.chargers')" -ge "$REG_N" ]; }
wait_for 900 "the gateway to know every charger" known
REGISTER_S=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
log "registration done: $REG_N chargers known to the gateway after $REGISTER_S s"
echo "registration: $REG_N chargers through REST and projected by the gateway in $REGISTER_S s" >"$BENCH_OUT/results.txt"

has() { [[ " $BENCH_PHASES " == *" $1 "* ]]; }

# --- idle connections and the reconnect storm --------------------------------------------------
if has idle || has storm; then
  sleep 5
  BASE_RSS=$(rss_kb "$GATEWAY_PID")
  log "idle: $IDLE_N chargers; gateway RSS before: $BASE_RSS KiB"
  sim "$BENCH_OUT/idle-sim.log" --mode idle --chargers "$IDLE_N" --duration 900 --drain 10 \
    --connect-rate 2000 --json "$BENCH_OUT/idle.json"
  IDLE_SIM=$SIM_PID
  if wait_for 600 "all chargers ready" in_log "$BENCH_OUT/idle-sim.log" "milestone all-ready"; then
    sleep 10
    RSS=$(rss_kb "$GATEWAY_PID"); HWM=$(hwm_kb "$GATEWAY_PID"); CONNS=$(established)
    FDS=$(ls "/proc/$GATEWAY_PID/fd" | wc -l)
    PER=$(python3 -c "print(f'{($RSS - $BASE_RSS) / $CONNS:.1f}')")
    grep -E "^(VmRSS|VmHWM|RssAnon|RssFile|VmData)" "/proc/$GATEWAY_PID/status" >"$BENCH_OUT/idle-gateway-status.txt"
    log "idle: $CONNS connections established, gateway RSS $RSS KiB (peak $HWM), $FDS fds -> $PER KiB per connection"
    echo "idle: $CONNS connections; gateway VmRSS $BASE_RSS -> $RSS KiB (VmHWM $HWM); $PER KiB per connection (target <= 16); load average $(cut -d' ' -f1 /proc/loadavg)" >>"$BENCH_OUT/results.txt"

    if has storm; then
      log "storm: restarting the gateway with $CONNS chargers connected"
      t0=$(date +%s.%N)
      stop_pid "$GATEWAY_PID" 60
      t1=$(date +%s.%N)
      start_gateway "$BENCH_OUT/gateway-2.log"
      t2=$(date +%s.%N)
      if command -v perf >/dev/null; then
        perf record -F 199 -g -p "$GATEWAY_PID" -o "$BENCH_OUT/perf-storm.data" -- sleep 10 >/dev/null 2>&1 &
      fi
      if wait_for 300 "all chargers ready again" in_log "$BENCH_OUT/idle-sim.log" "milestone ready-again"; then
        sleep 2
        line=$(grep -m1 "milestone reconnected" "$BENCH_OUT/idle-sim.log" || true)
        ready=$(grep -m1 "milestone ready-again" "$BENCH_OUT/idle-sim.log")
        SHUT=$(python3 -c "print(f'{$t1 - $t0:.1f}')"); UP=$(python3 -c "print(f'{$t2 - $t1:.1f}')")
        log "storm: old gateway stopped in $SHUT s, new one listening $UP s later; $line; $ready"
        echo "storm: $CONNS chargers; shutdown $SHUT s, restart to listening $UP s; sim: ${line#*] }; ${ready#*] } (target 60 s for 100,000); load average $(cut -d' ' -f1 /proc/loadavg)" >>"$BENCH_OUT/results.txt"
        echo "storm: gateway VmRSS after the storm $(rss_kb "$GATEWAY_PID") KiB with $(established) connections" >>"$BENCH_OUT/results.txt"
      fi
    fi
  fi
  stop_pid "$IDLE_SIM" 60
fi

# --- throughput and latency --------------------------------------------------------------------
load_run() {  # load_run NAME RATE
  local name=$1 rate=$2 nats pg g0 n0 p0 s0 b0 t0 g1 n1 p1 s1 b1 t1 secs
  log "load $name: $BENCH_LOAD_CHARGERS chargers, rate ${rate:-unlimited}, $BENCH_LOAD_SECS s"
  sim "$BENCH_OUT/load-$name-sim.log" --mode load --chargers "$BENCH_LOAD_CHARGERS" \
    --duration "$BENCH_LOAD_SECS" --drain 20 --rate "$rate" --connect-rate 5000 \
    --meter-samples "$BENCH_METER_SAMPLES" --json "$BENCH_OUT/load-$name.json"
  local simpid=$SIM_PID
  wait_for 120 "load chargers ready" in_log "$BENCH_OUT/load-$name-sim.log" "milestone all-ready" || true
  sleep 5
  nats=$(pgrep -x nats-server | tr '\n' ' '); pg=$(pgrep -x postgres | tr '\n' ' ')
  # shellcheck disable=SC2086
  g0=$(ticks "$GATEWAY_PID"); n0=$(snap_ticks $nats); p0=$(snap_ticks $pg); s0=$(ticks "$simpid"); b0=$(busy_ticks); t0=$(date +%s.%N)
  if [ "$name" = max ] && command -v perf >/dev/null; then
    perf record -F 199 -g -p "$GATEWAY_PID" -o "$BENCH_OUT/perf-gateway.data" -- sleep 15 >/dev/null 2>&1 || true
  else
    sleep 15
  fi
  g1=$(ticks "$GATEWAY_PID"); n1=$(delta_ticks "$n0"); p1=$(delta_ticks "$p0"); s1=$(ticks "$simpid"); b1=$(busy_ticks); t1=$(date +%s.%N)
  n0=0; p0=0
  local hz; hz=$(getconf CLK_TCK)
  secs=$(python3 -c "print($t1 - $t0)")
  CPU_LINE=$(python3 -c "
s=$secs; hz=$hz
g, n, p, m, b = [(x1 - x0) / hz / s for x0, x1 in (($g0, $g1), ($n0, $n1), ($p0, $p1), ($s0, $s1), ($b0, $b1))]
print('cpu over %.0f s (cores of %d): gateway %.2f, nats-server %.2f, postgres %.2f, sim %.2f, everything else on the machine %.2f; load average %s' % (s, $(nproc), g, n, p, m, b - g - n - p - m, open('/proc/loadavg').read().split()[0]))")
  log "load $name: $CPU_LINE"
  wait "$simpid" || true
  python3 - "$BENCH_OUT/load-$name.json" "$name" "$rate" "$CPU_LINE" >>"$BENCH_OUT/results.txt" <<'EOF'
import json, sys
path, name, rate, cpu = sys.argv[1:5]
d = json.load(open(path))
c, m, lat = d["counts"], d["milestones"], d["latency_ms"]
steady = m.get("steady") or {}
secs = steady.get("to_s", 0) - steady.get("from_s", 0)
tput = steady.get("answered", 0) / secs if secs > 0 else 0
a = lat["all"]
err = sum(x["call_errors"] for x in c["actions"].values())
timeouts = sum(x["timeouts"] for x in c["actions"].values())
sent = sum(x["sent"] for x in c["actions"].values())
offered = "unlimited" if rate == "0" else rate + "/s"
print(f"load {name} (offered {offered}): {tput:.0f} answered/s in the steady phase; sent {sent}, "
      f"answered {a['answered']}, CallErrors {err}, timeouts {timeouts}; sessions {c['sessions_completed']} completed")
for label, p in lat.items():
    print(f"  {label:<27} n={p['answered']:>9}  p50 {p['p50']} ms  p90 {p['p90']} ms  p99 {p['p99']} ms  max {p['max']} ms")
# The same without the ramp (the whole fleet connecting and booting at once, which the storm phase
# measures): calls sent once every charger was ready.
print("  steady phase only (calls sent after every charger was ready):")
for label, p in d.get("steady_latency_ms", {}).items():
    if p["answered"]:
        print(f"  {label:<27} n={p['answered']:>9}  p50 {p['p50']} ms  p90 {p['p90']} ms  p99 {p['p99']} ms  max {p['max']} ms")
print("  " + cpu)
EOF
}

run_wanted() { [[ " $BENCH_LOAD_RUNS " == *" $1 "* ]]; }
if has load; then
  run_wanted max && load_run max 0
  run_wanted target && load_run target "$BENCH_RATE"
  MAX=$(json_get "$BENCH_OUT/load-max.json" 'int(d["milestones"]["steady"]["answered"] / (d["milestones"]["steady"]["to_s"] - d["milestones"]["steady"]["from_s"]))' 2>/dev/null || echo 0)
  if run_wanted half && [ "${MAX:-0}" -gt 0 ] && [ "$MAX" -lt "$BENCH_RATE" ]; then
    load_run half $((MAX / 2))
  fi
fi

# --- the full fleet, where one process's descriptors do not suffice ----------------------------
if has full && [ "$BENCH_CHARGERS" -gt "$IDLE_N" ]; then
  log "full: attempting $BENCH_CHARGERS connections (the open-file hard limit is $HARD_FDS per process)"
  sim "$BENCH_OUT/full-sim.log" --mode idle --chargers "$BENCH_CHARGERS" --duration 150 --drain 10 \
    --connect-rate 4000 --reconnect-min-ms 5000 --json "$BENCH_OUT/full.json"
  FULL_SIM=$SIM_PID
  PEAK=0
  for _ in $(seq 1 140); do
    c=$(established); [ "$c" -gt "$PEAK" ] && PEAK=$c && PEAK_RSS=$(rss_kb "$GATEWAY_PID")
    sleep 1
  done
  EMFILE=$(grep -c "Too many open files" "$GATEWAY_LOG" || true)
  wait "$FULL_SIM" || true
  echo "full: attempted $BENCH_CHARGERS; at most $PEAK established at the gateway (VmRSS ${PEAK_RSS:-?} KiB); gateway log lines 'Too many open files': $EMFILE" >>"$BENCH_OUT/results.txt"
fi

for f in perf-gateway perf-storm; do
  [ -f "$BENCH_OUT/$f.data" ] || continue
  perf report -i "$BENCH_OUT/$f.data" --stdio --no-children --sort dso,symbol --percent-limit 0.7 \
    >"$BENCH_OUT/$f.txt" 2>/dev/null || true
done

echo; echo "== results ($BENCH_OUT/results.txt)"; cat "$BENCH_OUT/machine.txt" "$BENCH_OUT/results.txt"
