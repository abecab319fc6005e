#!/usr/bin/env bash
# Measures GET /api/v1/drones/{id} throughput and latency (p50/p99) against a release build
# on PostgreSQL with a catalog and two shards, using wrk over loopback. Bounded: one
# warm-up and one measured run of $DURATION each, then the server is stopped.
#
#   bench/drone-get.sh                 # defaults: 2 threads, 32 connections, 20 s
#   CONNECTIONS=64 DURATION=30s bench/drone-get.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-20s}
DRONES=${DRONES:-100}
PORT=${PORT:-18181}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
. scripts/test-env.sh
nf_ensure_postgres
cargo build --release -q -p api --bin nimbusfleet
BIN=$CARGO_TARGET_DIR/release/nimbusfleet

for db in nf_bench_catalog nf_bench_s0 nf_bench_s1; do
    PGOPTIONS="-c client_min_messages=warning" psql "$NIMBUS_TEST_PG_URL/postgres" -qc "drop database if exists $db with (force)" -c "create database $db" >/dev/null
done
export NIMBUS__STORAGE__CATALOG_URL=$NIMBUS_TEST_PG_URL/nf_bench_catalog
export NIMBUS__STORAGE__SHARD_URLS=$NIMBUS_TEST_PG_URL/nf_bench_s0,$NIMBUS_TEST_PG_URL/nf_bench_s1
export NIMBUS__AUTH__JWT_SECRET=bench-secret-bench-secret-bench-secret-42
export NIMBUS__LOG__LEVEL=warn
export NIMBUS__STORAGE__MAX_CONNECTIONS=${MAX_CONNECTIONS:-16}
export NIMBUS_ADMIN_PASSWORD=bench-admin-password

$BIN admin create-org --name Bench --admin-email bench@example.test >/dev/null
$BIN serve --bind 127.0.0.1:$PORT >/tmp/nimbusfleet-bench.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf localhost:$PORT/health/ready >/dev/null && break; sleep 0.2; done

TOKEN=$(curl -sf -X POST localhost:$PORT/api/v1/auth/login -H 'content-type: application/json' \
    -d '{"email":"bench@example.test","password":"bench-admin-password"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
IDS=()
for i in $(seq "$DRONES"); do
    IDS+=("$(curl -sf -X POST localhost:$PORT/api/v1/drones -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
        -d "{\"serial\":\"B-$i\",\"name\":\"Bench $i\",\"model\":\"X\",\"max_altitude_m\":120,\"max_speed_mps\":20,\"endurance_min\":40}" \
        | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')")
done
SCRIPT=$(mktemp --suffix=.lua)
{
    echo "ids = {"; printf '"%s",\n' "${IDS[@]}"; echo "}"
    echo "token = \"$TOKEN\""
    cat <<'LUA'
counter = 0
request = function()
  counter = counter + 1
  local id = ids[(counter % #ids) + 1]
  return wrk.format("GET", "/api/v1/drones/" .. id, { ["Authorization"] = "Bearer " .. token })
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000))
end
LUA
} >"$SCRIPT"
echo "# GET /api/v1/drones/{id}: PostgreSQL, 2 shards, $DRONES drones, wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a warm-up run)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d5s -s "$SCRIPT" "http://127.0.0.1:$PORT" >/dev/null
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$SCRIPT" "http://127.0.0.1:$PORT"
rm -f "$SCRIPT"
