#!/usr/bin/env bash
# GET /api/v1/fleet/positions for a fleet spread over 4 PostgreSQL shards (the performance
# issue's "fleet positions for 10k drones over 4 shards"): drones registered through the API,
# one point each through POST /telemetry, then the whole fleet's positions read repeatedly
# over one keep-alive connection, and the same with a bounding box holding about a tenth.
#
#   bench/fleet-positions.sh                     # 10,000 drones, 4 shards, 100 reads
#   DRONES=2000 SHARDS=2 READS=50 bench/fleet-positions.sh
#   PROFILE=debug bench/fleet-positions.sh       # the debug binary (no release build)
#
# One JSON line per figure on stdout; progress on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}
DRONES=${DRONES:-10000}
SHARDS=${SHARDS:-4}
READS=${READS:-100}
PORT=${PORT:-18192}
PROFILE=${PROFILE:-release}

. bench/installation.sh
nf_bench_installation nf_pos "$SHARDS" Positions pos@example.test

$BIN serve --bind 127.0.0.1:$PORT >>/tmp/nimbusfleet-fleet-positions.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf localhost:$PORT/health/ready >/dev/null && break; sleep 0.2; done

python3 - "$PORT" "$DRONES" "$READS" "$SHARDS" <<'PY'
import http.client, json, statistics, sys, time
from datetime import datetime, timezone

port, drones, reads, shards = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

def log(msg):
    print(f"[fleet-positions] {msg}", file=sys.stderr, flush=True)

def call(method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
    return data

token = json.loads(call("POST", "/api/v1/auth/login", {"email": "pos@example.test", "password": "bench-admin-password"}))["access_token"]
log(f"registering {drones} drones")
t = time.time()
ids = []
for i in range(drones):
    ids.append(json.loads(call("POST", "/api/v1/drones", {"serial": f"POS-{i}", "name": f"POS-{i}", "model": "X",
        "max_altitude_m": 120, "max_speed_mps": 20, "endurance_min": 40}, token))["id"])
log(f"registered in {time.time() - t:.0f} s")
now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
# A grid, 100 drones to a column 0.001° apart (about 11 km north to south).
for start in range(0, drones, 1000):
    points = [{"drone_id": d, "ts": now, "lat": 47.3 + (i % 100) * 0.001, "lon": 8.5 + (i // 100) * 0.001,
               "alt_m": 60, "speed_mps": 10, "heading_deg": 90, "battery_pct": 80}
              for i, d in enumerate(ids[start:start + 1000], start)]
    call("POST", "/api/v1/telemetry", {"points": points}, token)
# Until every drone's latest position is stored.
for _ in range(100):
    if len(json.loads(call("GET", "/api/v1/fleet/positions", token=token))["items"]) == drones:
        break
    time.sleep(0.2)

def timed(path):
    times, size, n = [], 0, 0
    for _ in range(reads):
        t = time.perf_counter()
        body = call("GET", path, token=token)
        times.append((time.perf_counter() - t) * 1000)
        size, n = len(body), len(json.loads(body)["items"])
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
            "max_ms": round(times[-1], 1), "drones_in_answer": n, "bytes": size, "reads": reads}

whole = timed("/api/v1/fleet/positions")
log(f"whole fleet: {whole}")
boxed = timed("/api/v1/fleet/positions?bbox=8.5,47.3,8.6,47.31")
log(f"bbox: {boxed}")
print(json.dumps({"figure": "fleet_positions_ms", "drones": drones, "shards": shards, "goal_p95_ms": 25, **whole}))
print(json.dumps({"figure": "fleet_positions_bbox_ms", "drones": drones, "shards": shards, **boxed}))
PY
