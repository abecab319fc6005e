# Sourced by the benchmarks that run `nimbusfleet serve` against fresh PostgreSQL databases
# (bench/lifecycle.sh, bench/fleet-positions.sh):
#
#   nf_bench_installation PREFIX SHARDS ORG EMAIL
#
# builds the binary of $PROFILE (release by default; debug skips the release build) into
# $BIN, creates the databases PREFIX_catalog and PREFIX_s0 … on the machine's PostgreSQL
# (provisioned as `make test` does; dropped first if a run left them), exports the
# NIMBUS__… settings that point `serve` and `admin` at them, and creates organisation ORG on
# the enterprise plan with unlimited request rates, its admin EMAIL with the password
# $NIMBUS_ADMIN_PASSWORD.

nf_bench_installation() {
    local prefix=$1 shards=$2 org=$3 email=$4 db urls=()
    . scripts/test-env.sh
    nf_ensure_postgres
    if [ "${PROFILE:-release}" = release ]; then
        cargo build --release -q --bin nimbusfleet
    else
        cargo build -q --bin nimbusfleet
    fi
    BIN=$CARGO_TARGET_DIR/${PROFILE:-release}/nimbusfleet
    PG=$NIMBUS_TEST_PG_URL
    for db in "${prefix}_catalog" $(seq -f "${prefix}_s%g" 0 $((shards - 1))); do
        PGOPTIONS="-c client_min_messages=warning" psql "$PG/postgres" -qc "drop database if exists $db with (force)" -c "create database $db" >/dev/null
        [ "$db" = "${prefix}_catalog" ] || urls+=("$PG/$db")
    done
    export NIMBUS__STORAGE__CATALOG_URL=$PG/${prefix}_catalog
    NIMBUS__STORAGE__SHARD_URLS=$(IFS=,; echo "${urls[*]}")
    export NIMBUS__STORAGE__SHARD_URLS
    export NIMBUS__AUTH__JWT_SECRET=bench-secret-bench-secret-bench-secret-42
    export NIMBUS__LOG__LEVEL=warn
    export NIMBUS_ADMIN_PASSWORD=bench-admin-password
    "$BIN" admin create-org --name "$org" --admin-email "$email" >/dev/null
    "$BIN" admin set-plan --org "$org" --plan enterprise --rate 1000000 --burst 1000000 >/dev/null
}
