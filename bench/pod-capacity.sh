#!/usr/bin/env bash
# How much one pod carries at its CPU request (k8s/base: 500m for serve and for ingest), for
# the scaling arithmetic in k8s/README.md. Each process under test runs in a CPU cgroup of its
# own capped at CPU_REQUEST (cfs quota), the load generators and datastores outside it:
#
#   drone-get   serve (embedded cache and sessions) in the cgroup; wrk GETs a drone
#               -> requests/s and p50/p99 at the request
#   telemetry   serve producing to Kafka (a private tansu broker) in the cgroup; the
#               simulator sends; an uncapped ingest worker writes -> points/s accepted
#   ingest      serve uncapped, the ingest worker in the cgroup -> points/s written
#
#   bench/pod-capacity.sh                        # all three, CPU_REQUEST=500m, 20 s each
#   CPU_REQUEST=1000m SCENARIOS="ingest" DURATION=30 bench/pod-capacity.sh
#
# One JSON line per figure on stdout, each beside the same figure without the cap, measured
# in the same run. Needs root (cgroups); traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}
CPU_REQUEST=${CPU_REQUEST:-500m}
DURATION=${DURATION:-20}
SCENARIOS=${SCENARIOS:-drone-get telemetry ingest}
DRONES=${DRONES:-5000}
RATE=${RATE:-10}

log() { printf '[pod-capacity] %s\n' "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# shellcheck source=scripts/test-env.sh
. scripts/test-env.sh
nf_ensure_build_deps
nf_ensure_postgres
nf_ensure_tansu
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
log "building the release binary"
cargo build --release -q --bin nimbusfleet
BIN=$CARGO_TARGET_DIR/release/nimbusfleet

millicores=${CPU_REQUEST%m}
quota=$((millicores * 100))   # µs per 100 ms period
if [ -d /sys/fs/cgroup/cpu ] && [ -w /sys/fs/cgroup/cpu ]; then
    CG=/sys/fs/cgroup/cpu/nimbusfleet-bench-$$
    mkdir -p "$CG"
    echo 100000 >"$CG/cpu.cfs_period_us"
    echo "$quota" >"$CG/cpu.cfs_quota_us"
    confine() { echo "$1" >"$CG/cgroup.procs"; }
elif [ -f /sys/fs/cgroup/cgroup.controllers ] && [ -w /sys/fs/cgroup ]; then
    CG=/sys/fs/cgroup/nimbusfleet-bench-$$
    mkdir -p "$CG"
    echo "$quota 100000" >"$CG/cpu.max"
    confine() { echo "$1" >"$CG/cgroup.procs"; }
else
    log "no writable CPU cgroup here (needs root): cannot cap a process at $CPU_REQUEST"
    exit 1
fi

PIDS=()
WORK=$(mktemp -d /tmp/nimbusfleet-pod-capacity.XXXXXX)
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rmdir "$CG" 2>/dev/null || true
    for db in nf_pod_catalog nf_pod_s0 nf_pod_s1; do
        psql "$NIMBUS_TEST_PG_URL/postgres" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

fresh_databases() {
    for db in nf_pod_catalog nf_pod_s0 nf_pod_s1; do
        PGOPTIONS="-c client_min_messages=warning" psql "$NIMBUS_TEST_PG_URL/postgres" -qc "drop database if exists $db with (force)" -c "create database $db" >/dev/null
    done
    export NIMBUS__STORAGE__CATALOG_URL=$NIMBUS_TEST_PG_URL/nf_pod_catalog
    export NIMBUS__STORAGE__SHARD_URLS=$NIMBUS_TEST_PG_URL/nf_pod_s0,$NIMBUS_TEST_PG_URL/nf_pod_s1
    export NIMBUS__AUTH__JWT_SECRET=pod-capacity-secret-pod-capacity-secret-42
    export NIMBUS__LOG__LEVEL=warn
    export NIMBUS_ADMIN_PASSWORD=pod-capacity-admin-password
    "$BIN" migrate >/dev/null
    "$BIN" admin create-org --name Pods --admin-email pods@example.test >/dev/null
    "$BIN" admin set-plan --org Pods --plan enterprise --rate 1000000 --burst 1000000 >/dev/null
}

wait_ready() {
    for _ in $(seq 150); do curl -sf "$1/health/ready" >/dev/null && return 0; sleep 0.2; done
    log "$1 did not become ready"; return 1
}

token() {
    curl -sf -X POST "$1/api/v1/auth/login" -H 'content-type: application/json' \
        -d '{"email":"pods@example.test","password":"pod-capacity-admin-password"}' |
        python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])'
}

# counter NAME at URL (0 when absent)
counter() {
    curl -sf "$1" | awk -v n="$2" '$1 == n { print $2; found=1 } END { if (!found) print 0 }'
}

# start_serve capped|free [extra env...]: starts serve, sets SERVE_URL (not in a subshell,
# so that its pid stays in PIDS for the clean-up)
start_serve() {
    local mode=$1 port
    shift
    port=$(free_port)
    env "$@" "$BIN" serve --bind "127.0.0.1:$port" >>"$WORK/serve.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    [ "$mode" = capped ] && confine "$pid"
    SERVE_URL=http://127.0.0.1:$port
    wait_ready "$SERVE_URL"
}

drone_get() {
    local capped=$1 base tk id out rps p50 p99
    fresh_databases
    start_serve "$capped"
    base=$SERVE_URL
    tk=$(token "$base")
    id=$(curl -sf -X POST "$base/api/v1/drones" -H "authorization: Bearer $tk" -H 'content-type: application/json' \
        -d '{"serial":"POD-1","name":"Pod 1","model":"Quad","manufacturer":"Acme","max_altitude_m":120,"max_speed_mps":15,"endurance_min":30,"home":{"lat":47.37,"lon":8.54,"alt_m":0}}' |
        python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
    wrk -t1 -c16 -d2s -H "authorization: Bearer $tk" "$base/api/v1/drones/$id" >/dev/null
    out=$(wrk -t1 -c16 -d"${DURATION}s" --latency -H "authorization: Bearer $tk" "$base/api/v1/drones/$id")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    printf '{"figure":"pod_drone_get_requests_per_s","cpu":"%s","value":%s,"p50":"%s","p99":"%s"}\n' \
        "$([ "$capped" = capped ] && echo "$CPU_REQUEST" || echo uncapped)" "$rps" "$p50" "$p99"
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
}

start_broker() {
    BROKER_PORT=$(free_port)
    mkdir -p "$WORK/tansu"
    (cd "$WORK/tansu" && exec "$NIMBUS_TEST_TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$BROKER_PORT" \
        --advertised-listener-url "tcp://127.0.0.1:$BROKER_PORT" --storage-engine sqlite://tansu.db >broker.log 2>&1) &
    PIDS+=("$!")
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$BROKER_PORT") 2>/dev/null && break; sleep 0.1; done
    export NIMBUS__KAFKA__BROKERS=127.0.0.1:$BROKER_PORT
    "$BIN" admin create-topics --partitions 8 >/dev/null
}

# telemetry|ingest capped|free: the rate the capped process reaches with the simulator sending
kafka_path() {
    local which=$1 capped=$2 base tk worker_port before after serve_mode ingest_mode
    fresh_databases
    start_broker
    serve_mode=free; ingest_mode=free
    [ "$which" = telemetry ] && serve_mode=$capped
    [ "$which" = ingest ] && ingest_mode=$capped
    start_serve "$serve_mode"
    base=$SERVE_URL
    worker_port=$(free_port)
    "$BIN" ingest --bind "127.0.0.1:$worker_port" >>"$WORK/ingest.log" 2>&1 &
    PIDS+=("$!")
    [ "$ingest_mode" = capped ] && confine "$!"
    wait_ready "http://127.0.0.1:$worker_port"
    tk=$(token "$base")
    local sim_log=$WORK/sim-$which-$capped.log
    NIMBUS_SIM_PASSWORD=pod-capacity-admin-password "$BIN" simulate --url "$base" --email pods@example.test \
        --drones "$DRONES" --rate "$RATE" --concurrency 8 --batch-ms 500 --duration $((DURATION + 10)) \
        --prefix "POD$which" >"$sim_log" 2>&1 &
    local sim=$!
    PIDS+=("$sim")
    sleep 8   # registering drones and warming up
    if [ "$which" = telemetry ]; then
        before=$(counter "$base/metrics" nimbusfleet_kafka_points_produced_total)
        sleep "$DURATION"
        after=$(counter "$base/metrics" nimbusfleet_kafka_points_produced_total)
    else
        before=$(counter "http://127.0.0.1:$worker_port/metrics" nimbusfleet_telemetry_points_written_total)
        sleep "$DURATION"
        after=$(counter "http://127.0.0.1:$worker_port/metrics" nimbusfleet_telemetry_points_written_total)
    fi
    wait "$sim" 2>/dev/null || true
    local offered
    offered=$(grep -o '[0-9.]* points/s (target [0-9.]*)' "$sim_log" | tail -1)
    printf '{"figure":"pod_%s_points_per_s","cpu":"%s","value":%s,"simulator":"%s"}\n' \
        "$which" "$([ "$capped" = capped ] && echo "$CPU_REQUEST" || echo uncapped)" \
        "$(python3 -c "print(round(($after - $before) / $DURATION, 1))")" "$offered"
    # Newest first (simulator, worker, serve, broker), each before the next: the worker
    # commits to a broker that is still there.
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[i]}" 2>/dev/null || true
        wait "${PIDS[i]}" 2>/dev/null || true
    done
    PIDS=()
    unset NIMBUS__KAFKA__BROKERS
}

for scenario in $SCENARIOS; do
    for capped in capped free; do
        log "$scenario, $([ "$capped" = capped ] && echo "capped at $CPU_REQUEST" || echo uncapped)"
        case $scenario in
        drone-get) drone_get "$capped" ;;
        telemetry | ingest) kafka_path "$scenario" "$capped" ;;
        *) log "unknown scenario $scenario"; exit 2 ;;
        esac
    done
done
log "logs in $WORK (removed at exit)"
