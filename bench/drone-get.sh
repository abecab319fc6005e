#!/usr/bin/env bash
# Measures GET /api/v1/drones/{id} throughput and latency (p50/p99) against a release build
# on PostgreSQL with a catalog and two shards, using wrk over loopback, in three set-ups:
#   embedded  - no Redis: in-process sessions and cache
#   redis     - sessions, rate limits and the drone cache in Redis
#   no-cache  - sessions and rate limits in Redis, every read from PostgreSQL
# each beside the reference measured in the same run: a bare actix-web server answering the
# same route with a fixed 400-byte JSON body (bench/src/bin/reference). Prints the cache hit
# ratio of the redis run (on stderr), one JSON line per figure, then a Markdown table
# (bench/table.py: figure, reference, value, ratio, goal, met). Bounded: per set-up one warm-up and one measured run of
# $DURATION, then the server is stopped.
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

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
. scripts/test-env.sh
nf_ensure_postgres
nf_ensure_redis
cargo build --release -q --bin nimbusfleet --bin reference
BIN=$CARGO_TARGET_DIR/release/nimbusfleet
RESULTS=$(mktemp)

# wrk's summary as "req/s p99_ms errors".
measure() {
    local script=$1 url=$2 out
    wrk -t"$THREADS" -c"$CONNECTIONS" -d5s -s "$script" "$url" >/dev/null
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "$url")
    echo "$out" >&2
    echo "$out" | awk '/^Requests\/sec:/ {rps=$2} /^p50 / {p99=$8} /^non-2xx or errors:/ {err=$4} END {printf "%s %s %s\n", rps, p99, err}'
}

# The bare actix-web server, on the same machine and wrk settings, with the same requests
# ($2: the wrk script; it answers any id and ignores the token).
reference() {
    "$CARGO_TARGET_DIR/release/reference" --bind "127.0.0.1:$((PORT - 1))" &
    local ref=$!
    for _ in $(seq 50); do curl -s -o /dev/null "localhost:$((PORT - 1))/api/v1/drones/1" && break; sleep 0.1; done
    echo "# reference before $1: bare actix-web, fixed 400-byte body, wrk -t$THREADS -c$CONNECTIONS -d$DURATION" >&2
    measure "$2" "http://127.0.0.1:$((PORT - 1))"
    kill $ref; wait $ref 2>/dev/null || true
}

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
kill -STOP $SERVER
REF=$(reference "$MODE" "$SCRIPT")
kill -CONT $SERVER
echo "# $MODE: GET /api/v1/drones/{id}, PostgreSQL 2 shards, $DRONES drones, wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a warm-up run)" >&2
VALUE=$(measure "$SCRIPT" "http://127.0.0.1:$PORT")
read -r ref_rps _ _ <<<"$REF"
read -r rps p99 errors <<<"$VALUE"
printf '{"figure":"drone_get_%s","reference_rps":%s,"rps":%s,"p99_ms":%s,"errors":%s,"ratio":%s}\n' \
    "$MODE" "$ref_rps" "$rps" "$p99" "$errors" "$(awk -v a="$rps" -v b="$ref_rps" 'BEGIN { printf "%.3f", a / b }')" >>"$RESULTS"
rm -f "$SCRIPT"
if [ "$MODE" != embedded ]; then
    curl -sf localhost:$PORT/metrics | awk -F'[{} ]' '/^nimbusfleet_cache_lookups_total\{cache="drone"/ {
        if ($0 ~ /outcome="hit"/) hit=$NF; else miss=$NF }
        END { if (hit+miss > 0) printf "drone cache: %d hits, %d misses, hit ratio %.4f\n", hit, miss, hit/(hit+miss) }' >&2
fi
kill $SERVER; wait $SERVER 2>/dev/null || true
}

for mode in $MODES; do
    run_mode "$mode"
done
for db in nf_bench_catalog nf_bench_s0 nf_bench_s1; do
    PGOPTIONS="-c client_min_messages=warning" psql "$NIMBUS_TEST_PG_URL/postgres" -qc "drop database if exists $db with (force)" >/dev/null
done

# The JSON lines, then the table with the goals (bench/table.py, as make bench prints it).
cat "$RESULTS"
echo
python3 bench/table.py "$RESULTS"
rm -f "$RESULTS"
