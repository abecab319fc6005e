#!/usr/bin/env bash
# Telemetry lifecycle figures on PostgreSQL (catalog and two shards): downsampled history
# over 30 days of one drone at 1 Hz before and after the rollups, the rollup's backfill rate,
# and fleet replay frames for many drones. History is loaded with SQL (generate_series on each
# drone's shard), not through the API, so that the run measures the reads.
#
#   bench/lifecycle.sh                       # 30 days of one drone, replay of 10,000 drones
#   DAYS=7 REPLAY_DRONES=2000 bench/lifecycle.sh
#   PROFILE=debug bench/lifecycle.sh         # the debug binary (no release build)
#
# One JSON line per figure on stdout; progress on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}
DAYS=${DAYS:-30}
REPLAY_DRONES=${REPLAY_DRONES:-10000}
REPLAY_FRAMES=${REPLAY_FRAMES:-60}
PORT=${PORT:-18191}
PROFILE=${PROFILE:-release}

. bench/installation.sh
nf_bench_installation nf_life 2 Lifecycle life@example.test

SERVER=
serve() {
    NIMBUS__TELEMETRY__ROLLUP_INTERVAL_S=$1 $BIN serve --bind 127.0.0.1:$PORT >>/tmp/nimbusfleet-lifecycle.log 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do curl -sf localhost:$PORT/health/ready >/dev/null && return; sleep 0.2; done
    echo "the server did not become ready; see /tmp/nimbusfleet-lifecycle.log" >&2
    exit 1
}
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null || true' EXIT

# No rollup round during the "before" figures.
serve 86400
exec python3 - "$PORT" "$PG" "$DAYS" "$REPLAY_DRONES" "$REPLAY_FRAMES" "$BIN" <<'PY'
import http.client, json, os, signal, statistics, subprocess, sys, time
from datetime import datetime, timedelta, timezone

port, pg, days, replay_drones, frames, binary = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=600)

def log(msg):
    print(f"[lifecycle] {msg}", file=sys.stderr, flush=True)

def call(method, path, body=None, token=None):
    global conn
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = conn.getresponse()
    except (http.client.RemoteDisconnected, ConnectionError):
        # The server closed an idle keep-alive connection (while the data was loading).
        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=600)
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
    return data

def psql(db, sql):
    out = subprocess.run(["psql", f"{pg}/{db}", "-qAtc", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()

token = json.loads(call("POST", "/api/v1/auth/login", {"email": "life@example.test", "password": "bench-admin-password"}))["access_token"]
def drone(serial):
    return json.loads(call("POST", "/api/v1/drones", {"serial": serial, "name": serial, "model": "X",
        "max_altitude_m": 120, "max_speed_mps": 20, "endurance_min": 40}, token))["id"]

history_drone = drone("LIFE-HISTORY")
log(f"registering {replay_drones} drones for the replay")
t = time.time()
for i in range(replay_drones):
    drone(f"LIFE-R-{i}")
log(f"registered in {time.time() - t:.0f} s")

now = datetime.now(timezone.utc).replace(microsecond=0)
history_from = now - timedelta(days=days)
replay_from = now - timedelta(minutes=5)
log(f"loading {days} days at 1 Hz of one drone and {replay_drones} drones x 3 min at 1 Hz with SQL")
t = time.time()
rows = 0
for shard in ("nf_life_s0", "nf_life_s1"):
    psql(shard, f"""INSERT INTO telemetry (drone_id, org_id, ts, lat, lon, alt_m, speed_mps, heading_deg, battery_pct)
        SELECT d.id, d.org_id, g, 47 + 0.01 * sin(extract(epoch FROM g) / 600), 8 + 0.01 * cos(extract(epoch FROM g) / 600),
               60 + 40 * sin(extract(epoch FROM g) / 97), 10 + 5 * cos(extract(epoch FROM g) / 31),
               (extract(epoch FROM g)::bigint % 360), 100 - (extract(epoch FROM g)::bigint % 3600) / 40.0
        FROM drones d CROSS JOIN generate_series('{history_from.isoformat()}'::timestamptz, '{now.isoformat()}'::timestamptz - interval '1 second', interval '1 second') g
        WHERE d.serial = 'LIFE-HISTORY'""")
    psql(shard, f"""INSERT INTO telemetry (drone_id, org_id, ts, lat, lon, alt_m, speed_mps, heading_deg, battery_pct)
        SELECT d.id, d.org_id, g + (abs(hashtext(d.id::text)) % 1000) * interval '1 millisecond',
               47 + (abs(hashtext(d.id::text)) % 1000) / 5000.0 + extract(epoch FROM g - '{replay_from.isoformat()}'::timestamptz) * 1e-5,
               8 + (abs(hashtext(d.serial)) % 1000) / 5000.0, 50, 10, 90, 80
        FROM drones d CROSS JOIN generate_series('{replay_from.isoformat()}'::timestamptz, '{replay_from.isoformat()}'::timestamptz + interval '179 seconds', interval '1 second') g
        WHERE d.serial LIKE 'LIFE-R-%'""")
    psql(shard, "ANALYZE telemetry")
    rows += int(psql(shard, "SELECT count(*) FROM telemetry"))
log(f"loaded {rows} rows in {time.time() - t:.0f} s")

def timed(path, runs=5):
    times, body = [], None
    for _ in range(runs):
        t = time.perf_counter()
        body = call("GET", path, token=token)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times), json.loads(body)

q = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
hist = f"/api/v1/drones/{history_drone}/telemetry?interval=1h&from={q(history_from)}&to={q(now)}"
before_ms, before_max, before = timed(hist)
log(f"interval=1h over {days} days, raw: median {before_ms:.1f} ms")
conn.close()

# A server that rolls up every second; the backfill is timed until both watermarks are
# within reach of now.
first = int(subprocess.run(["pgrep", "-f", f"{binary} serve --bind 127.0.0.1:{port}"], capture_output=True, text=True).stdout.split()[0])
os.kill(first, signal.SIGTERM)
while os.path.exists(f"/proc/{first}") and "zombie" not in open(f"/proc/{first}/status").read():
    time.sleep(0.1)
env = dict(os.environ, NIMBUS__TELEMETRY__ROLLUP_INTERVAL_S="1")
server = subprocess.Popen([binary, "serve", "--bind", f"127.0.0.1:{port}"], env=env, stdout=open("/tmp/nimbusfleet-lifecycle.log", "a"), stderr=subprocess.STDOUT)
for _ in range(300):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=600)
        conn.request("GET", "/health/ready")
        ready = conn.getresponse()
        ready.read()
        if ready.status == 200:
            break
    except OSError:
        pass
    time.sleep(0.2)
# Sessions are in-process without Redis: the new server needs a new login.
token = json.loads(call("POST", "/api/v1/auth/login", {"email": "life@example.test", "password": "bench-admin-password"}))["access_token"]
t = time.time()
shard = next(s for s in ("nf_life_s0", "nf_life_s1") if psql(s, f"SELECT count(*) FROM drones WHERE id = '{history_drone}'") == "1")
target = now - timedelta(minutes=11)
while True:
    w = psql(shard, "SELECT min(watermark) FROM telemetry_rollup_state")
    if w and datetime.fromisoformat(w.replace(" ", "T") + ("" if "+" in w else "+00:00")) >= target.replace(minute=0, second=0) and \
            psql(shard, "SELECT count(*) FROM telemetry_rollup_state") == "2":
        break
    if time.time() - t > 1800:
        raise SystemExit("the rollup did not catch up within 30 minutes")
    time.sleep(0.5)
backfill_s = time.time() - t
minutes = sum(int(psql(s, "SELECT count(*) FROM telemetry_1m")) for s in ("nf_life_s0", "nf_life_s1"))
log(f"rolled up {rows} rows into {minutes} minute rows in {backfill_s:.0f} s")

after_ms, after_max, after = timed(hist)
log(f"interval=1h over {days} days, rollups: median {after_ms:.1f} ms")
assert len(before["buckets"]) == len(after["buckets"]), "the answers differ in bucket count"
for b, a in zip(before["buckets"], after["buckets"]):
    assert b["count"] == a["count"] and b["start"] == a["start"], (b, a)
    assert abs(b["alt_m"]["avg"] - a["alt_m"]["avg"]) < 1e-6, (b, a)

frame_path = f"/api/v1/fleet/replay?from={q(replay_from + timedelta(seconds=60))}&to={q(replay_from + timedelta(seconds=60 + frames))}&step=1s"
conn.request("GET", frame_path, headers={"authorization": f"Bearer {token}"})
t = time.perf_counter()
r = conn.getresponse()
stamps, sizes, drones_in = [], [], []
buf = b""
while True:
    chunk = r.read1(1 << 20) if hasattr(r, "read1") else r.read(1 << 16)
    if not chunk:
        break
    buf += chunk
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        stamps.append(time.perf_counter())
        sizes.append(len(line))
        drones_in.append(len(json.loads(line)["items"]))
gaps = [(b - a) * 1000 for a, b in zip([t] + stamps, stamps)]
gaps_sorted = sorted(gaps)
p99 = gaps_sorted[min(len(gaps_sorted) - 1, int(len(gaps_sorted) * 0.99))]
log(f"replay: {len(stamps)} frames of {statistics.median(drones_in):.0f} drones, median {statistics.median(gaps):.1f} ms per frame, p99 {p99:.1f} ms")
server.terminate()
server.wait()

# Bytes per point in PostgreSQL (every telemetry partition, heap and indexes, over the rows
# they hold), then the days before today archived to Parquet by `admin archive`.
pg_bytes = pg_rows = 0
for s in ("nf_life_s0", "nf_life_s1"):
    pg_bytes += int(psql(s, "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits WHERE inhparent = 'telemetry'::regclass"))
    pg_rows += int(psql(s, "SELECT count(*) FROM telemetry"))
archive_dir = f"/tmp/nimbusfleet-lifecycle-archive-{os.getpid()}"
subprocess.run(["rm", "-rf", archive_dir], check=True)
env = dict(os.environ, NIMBUS__TELEMETRY__ARCHIVE_URL=archive_dir)
t = time.time()
out = subprocess.run([binary, "admin", "archive", "--before", now.strftime("%Y-%m-%d")], env=env, check=True, capture_output=True, text=True).stdout
archive_s = time.time() - t
log(out.strip())
archived_rows = sum(int(psql(s, "SELECT coalesce(sum(rows), 0) FROM telemetry_archive")) for s in ("nf_life_s0", "nf_life_s1"))
archived_bytes = sum(int(psql(s, "SELECT coalesce(sum(bytes), 0) FROM telemetry_archive")) for s in ("nf_life_s0", "nf_life_s1"))
subprocess.run(["rm", "-rf", archive_dir], check=True)

def emit(**kw):
    print(json.dumps(kw), flush=True)
emit(figure="history_interval_1h_30d_raw_ms", value=round(before_ms, 1), max_ms=round(before_max, 1), days=days, rows_of_the_drone=days * 86400)
emit(figure="history_interval_1h_30d_rollup_ms", value=round(after_ms, 1), max_ms=round(after_max, 1), reference_raw_ms=round(before_ms, 1), ratio=round(before_ms / after_ms, 1))
emit(figure="rollup_backfill_rows_per_s", value=round(rows / backfill_s), rows=rows, seconds=round(backfill_s, 1))
emit(figure="replay_frame_ms", value=round(statistics.median(gaps), 1), p99_ms=round(p99, 1), drones=int(statistics.median(drones_in)), frames=len(stamps), bytes_per_frame=int(statistics.median(sizes)))
emit(figure="bytes_per_point_postgres", value=round(pg_bytes / pg_rows, 1), rows=pg_rows, bytes=pg_bytes)
emit(figure="bytes_per_point_parquet", value=round(archived_bytes / max(archived_rows, 1), 1), rows=archived_rows, bytes=archived_bytes, reference_postgres=round(pg_bytes / pg_rows, 1))
emit(figure="archive_rows_per_s", value=round(archived_rows / archive_s), rows=archived_rows, seconds=round(archive_s, 1))
PY
