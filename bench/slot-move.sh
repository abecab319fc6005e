#!/usr/bin/env bash
# An online slot move under ingest (the data scale-out issue's figure): an installation on 2
# PostgreSQL shards gets a third (`admin add-shard`), slots 512-767 (a quarter of the slots,
# half of shard 1) are loaded with ROWS telemetry rows, then moved to the new shard with
# `admin move-slots` while a sender posts RATE points/s through POST /telemetry to every
# drone, the moving ones included. Afterwards: the copy rate, the fenced (write-blocked)
# time, the requests refused during the move, and acknowledged against stored points, with
# nothing of the range left on the source.
#
#   bench/slot-move.sh                        # 1,000,000 rows in the range, 5,000 points/s
#   ROWS=200000 RATE=2000 bench/slot-move.sh
#   PROFILE=debug bench/slot-move.sh          # the debug binary (no release build)
#
# One JSON line per figure on stdout; progress on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}
ROWS=${ROWS:-1000000}
RATE=${RATE:-5000}
DRONES=${DRONES:-1000}
PORT=${PORT:-18193}
PROFILE=${PROFILE:-release}

. bench/installation.sh
nf_bench_installation nf_mv 2 Movers mv@example.test
PGOPTIONS="-c client_min_messages=warning" psql "$PG/postgres" -qc "drop database if exists nf_mv_s2 with (force)" -c "create database nf_mv_s2" >/dev/null
"$BIN" admin add-shard --url "$PG/nf_mv_s2" >/dev/null
export NIMBUS__STORAGE__SHARD_URLS="$NIMBUS__STORAGE__SHARD_URLS,$PG/nf_mv_s2"

$BIN serve --bind 127.0.0.1:$PORT >>/tmp/nimbusfleet-slot-move.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf localhost:$PORT/health/ready >/dev/null && break; sleep 0.2; done

python3 - "$PORT" "$DRONES" "$ROWS" "$RATE" "$BIN" "$PG" <<'PY'
import http.client, json, subprocess, sys, threading, time
from datetime import datetime, timedelta, timezone

port, drones, rows, rate, binary, pg = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
RANGE = "'{[512,768)}'::int4multirange"

def log(msg):
    print(f"[slot-move] {msg}", file=sys.stderr, flush=True)

def psql(db, sql):
    out = subprocess.run(["psql", f"{pg}/{db}", "-qAtc", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()

class Client:
    def __init__(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    def call(self, method, path, body=None, token=None):
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = self.conn.getresponse()
        return r.status, r.read()

c = Client()
status, data = c.call("POST", "/api/v1/auth/login", {"email": "mv@example.test", "password": "bench-admin-password"})
token = json.loads(data)["access_token"]
log(f"registering {drones} drones")
ids = []
for i in range(drones):
    status, data = c.call("POST", "/api/v1/drones", {"serial": f"MV-{i}", "name": f"MV-{i}", "model": "X",
        "max_altitude_m": 120, "max_speed_mps": 20, "endurance_min": 40}, token)
    assert status == 201, data
    ids.append(json.loads(data)["id"])
moving = int(psql("nf_mv_s1", f"SELECT count(*) FROM drones WHERE nf_slot(id) <@ {RANGE}"))
per_drone = max(1, rows // max(moving, 1))
now = datetime.now(timezone.utc).replace(microsecond=0)
history_from = now - timedelta(seconds=per_drone + 60)
log(f"loading {per_drone} points for each of the {moving} drones in slots 512-767 with SQL")
t = time.time()
psql("nf_mv_s1", f"""INSERT INTO telemetry (drone_id, org_id, ts, lat, lon, alt_m, speed_mps, heading_deg, battery_pct)
    SELECT d.id, d.org_id, '{history_from.isoformat()}'::timestamptz + g * interval '1 second', 47 + g * 1e-6, 8, 60, 10, 90, 80
    FROM drones d CROSS JOIN generate_series(0, {per_drone - 1}) g WHERE nf_slot(d.id) <@ {RANGE}""")
psql("nf_mv_s1", "ANALYZE")
loaded = int(psql("nf_mv_s1", f"SELECT count(*) FROM telemetry WHERE nf_slot(drone_id) <@ {RANGE}"))
log(f"loaded {loaded} rows in {time.time() - t:.0f} s")

# The sender: RATE points/s in batches of 500, each point a new (drone, ts); every point of a
# 202 without a per-point error is acknowledged.
stop = threading.Event()
ledger = {"acked": 0, "refused_points": 0, "unavailable": 0, "failed": 0, "requests": 0, "first": None}
start_ts = now + timedelta(seconds=1)
def send():
    s = Client()
    batch, seq, interval = 500, 0, 500 / rate
    next_at = time.perf_counter()
    while not stop.is_set():
        points = []
        for _ in range(batch):
            d = ids[seq % len(ids)]
            ts = start_ts + timedelta(milliseconds=seq // len(ids))
            points.append({"drone_id": d, "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "lat": 47.1, "lon": 8.1,
                "alt_m": 50, "speed_mps": 5, "heading_deg": 0, "battery_pct": 70})
            seq += 1
        status, data = s.call("POST", "/api/v1/telemetry", {"points": points}, token)
        ledger["requests"] += 1
        if status == 202:
            errors = json.loads(data).get("errors") or []
            ledger["acked"] += batch - len(errors)
            ledger["refused_points"] += len(errors)
            if errors:
                ledger["unavailable"] += 1
        elif status == 503:
            ledger["unavailable"] += 1
            ledger["refused_points"] += batch
        else:
            ledger["failed"] += 1
        next_at += interval
        time.sleep(max(0, next_at - time.perf_counter()))
sender = threading.Thread(target=send)
sender.start()
time.sleep(3)
log(f"moving slots 512-767 (shard 1) to shard 2 under {rate} points/s")
t = time.time()
move = subprocess.run([binary, "admin", "move-slots", "--slots", "512-767", "--to", "2"], capture_output=True, text=True)
took = time.time() - t
if move.returncode != 0:
    raise SystemExit(f"move-slots failed: {move.stderr}")
log(move.stdout.strip().splitlines()[-1])
time.sleep(3)
stop.set()
sender.join()
time.sleep(2)
progress, fence_ms = psql("nf_mv_catalog", "SELECT progress, fence_ms FROM slot_moves ORDER BY id DESC LIMIT 1").split("|")
progress = json.loads(progress)
copied = sum(progress["rows"].values())
stored = sum(int(psql(db, f"SELECT count(*) FROM telemetry WHERE ts >= '{start_ts.isoformat()}'")) for db in ("nf_mv_s0", "nf_mv_s1", "nf_mv_s2"))
left = int(psql("nf_mv_s1", f"SELECT (SELECT count(*) FROM telemetry WHERE nf_slot(drone_id) <@ {RANGE}) + (SELECT count(*) FROM drones WHERE nf_slot(id) <@ {RANGE})"))
on_target = int(psql("nf_mv_s2", "SELECT count(*) FROM telemetry"))
wrong = int(psql("nf_mv_s2", f"SELECT count(*) FROM telemetry WHERE NOT nf_slot(drone_id) <@ {RANGE}"))
log(f"copied {copied} rows in {progress['copy_ms'] / 1000:.1f} s; fence {fence_ms} ms; acknowledged {ledger['acked']}, stored {stored}; {left} rows left on the source")
common = {"moving_rows": loaded, "rate_points_per_s": rate, "requests": ledger["requests"]}
print(json.dumps({"figure": "slot_move_copy_rows_per_s", "value": round(copied * 1000 / max(progress["copy_ms"], 1)), "rows_copied": copied, "copy_s": progress["copy_ms"] / 1000, "move_s": round(took, 1), **common}))
print(json.dumps({"figure": "slot_move_fence_ms", "value": int(fence_ms), **common}))
print(json.dumps({"figure": "slot_move_refused", "value": ledger["unavailable"], "refused_points": ledger["refused_points"], "failed": ledger["failed"], **common}))
print(json.dumps({"figure": "slot_move_acknowledged_vs_stored", "acknowledged": ledger["acked"], "stored": stored,
    "lost": max(0, ledger["acked"] - stored), "left_on_source": left, "on_target": on_target, "misplaced_on_target": wrong, **common}))
if ledger["failed"] or stored < ledger["acked"] or left or wrong:
    raise SystemExit("the move lost, misplaced or left rows, or a request failed")
PY
