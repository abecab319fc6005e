#!/usr/bin/env bash
# Measures GET /api/v1/drones/{id} throughput and latency (p50/p99) against a release build
# on PostgreSQL with a catalog and two shards, using wrk over loopback, in three set-ups:
#   embedded  - no Redis: in-process sessions and cache
#   redis     - sessions, rate limits and the drone cache in Redis
#   no-cache  - sessions and rate limits in Redis, every read from PostgreSQL
# and prints the cache hit ratio of the redis run. Bounded: per set-up one warm-up and one
# measured run of $DURATION, then the server is stopped.
#
#   bench/drone-get.sh                 # defaults: 2 threads, 32 connections, 20 s
#   CONNECTIONS=64 DURATION=30s MODES="redis no-cache" bench/drone-get.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-20s}
DRONES=${DRONES:-100}
PORT=${PORT:-18181}
MODES=${MODES:-embedded redis no-cache}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
. scripts/test-env.sh
nf_ensure_postgres
nf_ensure_redis
cargo build --release -q --bin nimbusfleet
BIN=$CARGO_TARGET_DIR/release/nimbusfleet

run_mode() {
MODE=$1
unset NIMBUS__REDIS__URL NIMBUS__CACHE__ENABLED
case $MODE in
    embedded) ;;
    redis) export NIMBUS__REDIS__URL=$NIMBUS_TEST_REDIS_URL NIMBUS__REDIS__KEY_PREFIX="nfbench:$$:" ;;
    no-cache) export NIMBUS__REDIS__URL=$NIMBUS_TEST_REDIS_URL NIMBUS__REDIS__KEY_PREFIX="nfbench:$$:" NIMBUS__CACHE__ENABLED=false ;;
    *) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
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
# The benchmark measures the read path, not the rate limiter: give it a quota it never reaches.
$BIN admin set-plan --org Bench --plan enterprise --rate 1000000 --burst 1000000 >/dev/null
$BIN serve --bind 127.0.0.1:$PORT >/tmp/nimbusfleet-bench-$MODE.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
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
echo "# $MODE: GET /api/v1/drones/{id}, PostgreSQL 2 shards, $DRONES drones, wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a warm-up run)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d5s -s "$SCRIPT" "http://127.0.0.1:$PORT" >/dev/null
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$SCRIPT" "http://127.0.0.1:$PORT"
rm -f "$SCRIPT"
if [ "$MODE" != embedded ]; then
    curl -sf localhost:$PORT/metrics | awk -F'[{} ]' '/^nimbusfleet_cache_lookups_total\{cache="drone"/ {
        if ($0 ~ /outcome="hit"/) hit=$NF; else miss=$NF }
        END { if (hit+miss > 0) printf "drone cache: %d hits, %d misses, hit ratio %.4f\n", hit, miss, hit/(hit+miss) }'
fi
kill $SERVER; wait $SERVER 2>/dev/null || true
}

for mode in $MODES; do
    run_mode "$mode"
done
for db in nf_bench_catalog nf_bench_s0 nf_bench_s1; do
    PGOPTIONS="-c client_min_messages=warning" psql "$NIMBUS_TEST_PG_URL/postgres" -qc "drop database if exists $db with (force)" >/dev/null
done
