#!/usr/bin/env bash
# The whole test suite: domain unit tests, infra store and Redis adapter tests, the API
# integration tests on SQLite and on real PostgreSQL (with a streaming replica), Redis, a
# Kafka-compatible broker (tansu) and an S3-compatible object store (moto), the offline
# validation of the deployment files (compose, Kubernetes, nginx, Prometheus), the
# dashboard's unit and end-to-end tests in Chromium, then schema-based fuzzing of the API
# with schemathesis.
# scripts/test-env.sh provisions what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}

# shellcheck source=scripts/test-env.sh
. scripts/test-env.sh
nf_ensure_build_deps
nf_ensure_postgres
nf_ensure_redis
nf_ensure_tansu
nf_ensure_node
nf_drop_test_databases

# The store's telemetry tests again on a private PostgreSQL with TimescaleDB preloaded (built
# from Debian's source package by scripts/timescaledb.sh), where telemetry is a hypertable.
# shellcheck source=scripts/timescaledb.sh
. scripts/timescaledb.sh
tsdb_dir=${TMPDIR:-/tmp}/nimbusfleet-test-timescaledb
tsdb_port=${NIMBUS_TEST_TSDB_PORT:-55432}
NIMBUS_TEST_TSDB_URL=$(nf_start_timescaledb_postgres "$tsdb_port" "$tsdb_dir")
export NIMBUS_TEST_TSDB_URL

# The archive's object-store tests against an S3-compatible server (moto, from PyPI).
NIMBUS_TEST_S3_ENDPOINT=$(nf_start_s3 "${NIMBUS_TEST_S3_PORT:-59000}")
export NIMBUS_TEST_S3_ENDPOINT

# Read replicas: a private primary and a streaming replica of it made by pg_basebackup
# (scripts/private-postgres.sh, sourced by timescaledb.sh).
replica_dir=${TMPDIR:-/tmp}/nimbusfleet-test-replica
rm -rf "$replica_dir"
trap 'nf_stop_timescaledb_postgres "$tsdb_dir"; rm -rf "$tsdb_dir"; nf_stop_s3;
    nf_stop_replicated_postgres "$replica_dir"; rm -rf "$replica_dir"' EXIT
NIMBUS_TEST_REPLICA_URLS=$(nf_start_replicated_postgres "${NIMBUS_TEST_REPLICA_PORT:-55433}" \
    "$((${NIMBUS_TEST_REPLICA_PORT:-55433} + 1))" "$replica_dir")
export NIMBUS_TEST_REPLICA_URLS

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "[test] installing cargo-nextest" >&2
    cargo install cargo-nextest --locked
fi

# The committed OpenAPI document must match the code (also asserted by a test, which
# says how to fix it).
status=0
cargo nextest run --workspace --no-fail-fast --final-status-level fail || status=$?
nf_drop_test_databases

# Dockerfile, docker-compose.yml, k8s/ and deploy/, validated without an engine or a cluster.
scripts/validate-deploy.sh || status=$?

# The dashboard, against the server binary the integration tests just built.
cargo build --quiet --bin nimbusfleet
scripts/frontend-test.sh || status=$?

# The distributed topology as real processes behind nginx (scripts/cluster.sh) and its
# replica faults: kill -9 and rolling restart of API replicas, an ingest worker killed and
# one added, logout and live streams across replicas (about three minutes; bounded).
timeout --kill-after=90 480 scripts/cluster-faults.sh || status=$?

# Schema-based fuzzing of the served OpenAPI document as an admin, a viewer and a drone
# key (schemathesis from PyPI, a few minutes): no server error, no answer outside the
# documented schemas and status codes. bench/fuzz runs the long version.
scripts/fuzz.sh || status=$?
exit $status
