#!/usr/bin/env bash
# `make bench`: every performance figure beside its reference measured in the same run, then
# one Markdown table (bench/table.py) and the JSON lines it was made from, in
# target/bench/results.jsonl. About twelve minutes on 2 cores; run it alone, not beside a build.
#
#   bench/all.sh              # the read path (wrk, bare actix-web reference), ingest with raw
#                             # COPY and Kafka (tansu) references, live latency, the airspace
#                             # checks against scans, fleet positions, the dashboard
#   bench/all.sh --full       # the dashboard at 10,000 and 50,000 drones too (bench/dashboard.sh --full)
#
# The figures' own scripts take more options: bench/drone-get.sh, bench/ingest --help,
# bench/dashboard.sh, bench/load (the cluster scenarios), bench/fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}
out=target/bench
mkdir -p "$out"
results=$out/results.jsonl
: >"$results"
dashboard_args=()
[ "${1:-}" = "--full" ] && dashboard_args=(--full)

echo "[bench] 1/5 GET /drones/{id} (bench/drone-get.sh)" >&2
bench/drone-get.sh | tee -a "$results"
echo "[bench] 2/5 ingest, Kafka and live latency (bench/ingest --kafka)" >&2
bench/ingest --kafka | tee -a "$results"
echo "[bench] 3/5 airspace checks (bench/src/bin/airspace)" >&2
cargo build --release -q -p bench --bin airspace
"$CARGO_TARGET_DIR/release/airspace" | tee -a "$results"
echo "[bench] 4/5 fleet positions, 10,000 drones over 4 shards (bench/fleet-positions.sh)" >&2
bench/fleet-positions.sh | tee -a "$results"
echo "[bench] 5/5 dashboard (bench/dashboard.sh ${dashboard_args[*]:-})" >&2
bench/dashboard.sh "${dashboard_args[@]}" | tee -a "$results"

echo
echo "## Benchmarks, $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo
python3 bench/table.py "$results"
echo
echo "(JSON lines in $results)"
