#!/usr/bin/env bash
# Builds the `nimbusfleet` binary and the dashboard it serves at `/` (frontend/dist),
# installing the build tools rdkafka and the dashboard need when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}

# shellcheck source=scripts/test-env.sh
. scripts/test-env.sh
nf_ensure_build_deps
cargo build --bin nimbusfleet

nf_ensure_node
cd frontend
# Reinstall only when the lockfile changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
fi
npm run build
