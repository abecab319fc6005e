#!/usr/bin/env bash
# The dashboard at fleet scale in Debian's Chromium (frontend/e2e/fleet-bench.mjs): frames
# per second idle and while zooming and panning, long tasks, search and selection latency
# and JS heap, each beside an empty page's frame rate measured in the same run.
#
#   bench/dashboard.sh            # 2,000 drones, about a minute
#   bench/dashboard.sh --full     # 10,000 and 50,000 drones, several minutes
#   BENCH_DRONES=10000 BENCH_SOAK_S=600 bench/dashboard.sh    # one size with a 10-minute heap run
#
# Uses the release build of the server when there is one (NIMBUS_BIN overrides it).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}
if [ -z "${NIMBUS_BIN:-}" ]; then
    cargo build --release --quiet --bin nimbusfleet
    NIMBUS_BIN=$CARGO_TARGET_DIR/release/nimbusfleet
fi
export NIMBUS_BIN
[ -x /usr/bin/chromium ] || { echo "bench/dashboard.sh: Chromium is missing (make test installs it)" >&2; exit 1; }
cd frontend
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build >/dev/null
exec node e2e/fleet-bench.mjs "$@"
