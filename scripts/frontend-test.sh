#!/usr/bin/env bash
# The dashboard's checks: dependencies, generated API types + tsc, unit tests, build, and the
# end-to-end test against a real server with Debian's Chromium.
# NIMBUS_BIN: the server binary (default: the debug build in CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}"
export NIMBUS_BIN="${NIMBUS_BIN:-$CARGO_TARGET_DIR/debug/nimbusfleet}"

if [ ! -x "$NIMBUS_BIN" ]; then
  echo "frontend-test: no server binary at $NIMBUS_BIN (build it with cargo, or set NIMBUS_BIN)" >&2
  exit 1
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "frontend-test: installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

cd frontend
echo "frontend-test: npm ci"
npm ci --no-audit --no-fund
echo "frontend-test: API types + tsc"
npm run typecheck
echo "frontend-test: unit tests"
npm test
echo "frontend-test: build"
npm run build
echo "frontend-test: end-to-end (screenshots in target/e2e/)"
node e2e/dashboard.e2e.mjs
# The bounded dashboard benchmark (2,000 drones, about a minute; bench/dashboard.sh --full
# runs 10,000 and 50,000): its figures are printed, not asserted.
echo "frontend-test: fleet benchmark, 2,000 drones"
node e2e/fleet-bench.mjs
