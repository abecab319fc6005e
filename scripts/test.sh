#!/usr/bin/env bash
# The whole test suite: domain unit tests, infra store and Redis adapter tests, and the API
# integration tests, on SQLite and on real PostgreSQL and Redis (provisioned by scripts/test-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}

# shellcheck source=scripts/test-env.sh
. scripts/test-env.sh
nf_ensure_postgres
nf_ensure_redis
nf_drop_test_databases

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "[test] installing cargo-nextest" >&2
    cargo install cargo-nextest --locked
fi

# The committed OpenAPI document must match the code (also asserted by a test, which
# says how to fix it).
cargo nextest run --workspace --no-fail-fast --final-status-level fail
nf_drop_test_databases
