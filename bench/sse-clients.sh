#!/usr/bin/env bash
# What live streams cost the API: CPU (cores) and resident memory of a release `serve`
# (embedded, SQLite) while `nimbusfleet simulate` flies N drones at 1 Hz from its own
# process, first with no live client (the reference, same run), then with C Server-Sent
# Events clients on /api/v1/live. One JSON line per figure on stdout:
#
#   sse_clients_cpu_cores   the API's CPU with C clients, beside the same fleet with none
#                           (goal: C = 100 clients cost ≤ 1 core more)
#   api_rss_mb              the API's RSS with N drones live and C clients (goal ≤ 100 MB)
#
#   bench/sse-clients.sh                                   # 10,000 drones, 100 clients, 20 s each
#   BENCH_DRONES=2000 BENCH_SSE_CLIENTS=20 BENCH_SSE_SECONDS=10 bench/sse-clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}
DRONES=${BENCH_DRONES:-10000}
CLIENTS=${BENCH_SSE_CLIENTS:-100}
WINDOW_S=${BENCH_SSE_SECONDS:-20}

cargo build --release -q --bin nimbusfleet
BIN=$CARGO_TARGET_DIR/release/nimbusfleet
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
log() { echo "[sse-clients] $*" >&2; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
API=http://127.0.0.1:$port
NIMBUS__LIVE__MAX_STREAMS_PER_PRINCIPAL=$((CLIENTS + 8)) NIMBUS__LIVE__MAX_STREAMS_PER_ORG=$((CLIENTS + 8)) \
    "$BIN" serve --demo --bind "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 100); do curl -sf "$API/health/ready" >/dev/null && break; sleep 0.2; done
curl -sf "$API/health/ready" >/dev/null || { log "the server did not start; see $work/server.log"; exit 1; }

EMAIL=admin@demo.nimbusfleet.local PASSWORD=demo-admin-password
token=$(curl -s -X POST "$API/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

log "flying $DRONES drones at 1 Hz (simulator in its own process)"
NIMBUS_PASSWORD=$PASSWORD "$BIN" simulate --url "$API" --email "$EMAIL" --password "$PASSWORD" \
    --drones "$DRONES" --prefix SSEBENCH >"$work/simulator.log" 2>&1 &
pids+=("$!")
# Registration first; then wait until the fleet reports at its full rate.
for _ in $(seq 300); do
    reporting=$(curl -s "$API/api/v1/fleet/summary" -H "authorization: Bearer $token" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["reporting_last_60s"])' 2>/dev/null || echo 0)
    [ "${reporting:-0}" -ge "$DRONES" ] && break
    sleep 1
done
sleep 5

ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$server/status"; }
hz=$(getconf CLK_TCK)
cores_over() {
    local before after
    before=$(ticks); sleep "$WINDOW_S"; after=$(ticks)
    python3 -c "print(round(($after - $before) / $hz / $WINDOW_S, 3))"
}

log "measuring the API with no live client for $WINDOW_S s"
idle=$(cores_over)
idle_rss=$(rss_mb)
log "opening $CLIENTS live streams"
for _ in $(seq "$CLIENTS"); do
    curl -sN "$API/api/v1/live?max_hz=2" -H "authorization: Bearer $token" >/dev/null 2>&1 &
    pids+=("$!")
done
sleep 5
log "measuring the API with $CLIENTS live clients for $WINDOW_S s"
busy=$(cores_over)
busy_rss=$(rss_mb)
open=$(ss -Htn state established "( sport = :$port )" | wc -l)
python3 - "$DRONES" "$CLIENTS" "$idle" "$busy" "$idle_rss" "$busy_rss" "$open" <<'PY'
import json, sys
drones, clients, idle, busy, idle_rss, busy_rss, open_ = sys.argv[1:]
drones, clients, idle, busy = int(drones), int(clients), float(idle), float(busy)
print(json.dumps({"figure": "sse_clients_cpu_cores", "drones": drones, "clients": clients,
                  "reference": "the same fleet, no live client", "reference_value": idle,
                  "value": busy, "clients_cost_cores": round(busy - idle, 3),
                  "connections_open": int(open_), "goal_clients_cost_cores": 1.0}))
print(json.dumps({"figure": "api_rss_mb", "drones": drones, "clients": clients,
                  "reference": "the same fleet, no live client", "reference_value": float(idle_rss),
                  "value": float(busy_rss), "goal": 100}))
PY
