#!/usr/bin/env python3
"""The client side of the cluster's fault scenarios (scripts/cluster-faults.sh), Python
standard library only.

  load.py drones   --url U --email E --password P --prefix S --count N --out FILE
      creates N drones (serials S-0001…) through U and writes their ids, one a line.
  load.py traffic  --url U --email E --password P --drones FILE --out DIR
                   [--posters 2] [--batch 100] [--readers 2] [--reader-hz 50] [--stop-file F]
      steady load through U until SIGTERM or the stop file appears: posters send telemetry
      batches (each point a new (drone_id, ts)), readers list and get drones. Writes
      DIR/acked.tsv (every acknowledged point: drone id, ts in epoch ms) and DIR/summary.json
      (requests, failures by cause with their times, points sent/acknowledged).
  load.py verify   --acked FILE --shards URL,URL… [--within 60]
      waits until every acknowledged point is stored in the shards (psql), then prints the
      counts; fails when some are still missing at the deadline.
  load.py logout   --replicas URL,URL… --email E --password P [--within 1.0]
      logs in on the first replica, logs out there and measures how long each other replica
      still accepts the token.
  load.py live     --url U --replicas URL,URL… --email E --password P --drones FILE
                   --workers URL,URL… [--within 10]
      opens a live stream (SSE, with a ticket from U as the dashboard does) on every replica,
      writes one point per drone through U, and checks that every stream receives every
      drone and that every worker wrote some of them.
  load.py gauge    --url METRICS_URL --name NAME
      prints the sum of a metric's samples (0 when absent; -1 when nothing answers).
  load.py alerts   --url U --replicas URL,URL… --email E --password P (an admin) [--within 15]
      the monitor in the ingest workers: sets the organisation's battery warning to 50 % on
      one replica and a drone's own link timeout to 120 s on another, subscribes a webhook
      (a receiver on 127.0.0.1: the cluster must allow private addresses) to battery_low,
      writes one flying point per drone through U, and checks that the 45 % drone warns, that
      only the drone without its own timeout loses its link, and that the webhook receives
      the warning signed; then it puts everything back.

Every check prints exact counts and exits non-zero when it fails.
"""

import argparse
import datetime
import http.client
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid


def parse_url(url):
    parts = urllib.parse.urlsplit(url)
    return parts.hostname, parts.port or 80


class Client:
    """One keep-alive HTTP/1.1 connection; reconnects after any error."""

    def __init__(self, base, timeout=30.0):
        self.host, self.port = parse_url(base)
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """(status, parsed JSON or text); raises on a transport error."""
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=data, headers=headers)
            res = self.conn.getresponse()
            raw = res.read()
            if res.will_close:
                self.close()
        except Exception:
            self.close()
            raise
        text = raw.decode(errors="replace")
        try:
            return res.status, json.loads(text) if text else None
        except ValueError:
            return res.status, text

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def login(base, email, password):
    status, body = Client(base).request("POST", "/api/v1/auth/login", {"email": email, "password": password})
    if status != 200:
        sys.exit(f"login as {email} at {base}: {status} {body}")
    return body["access_token"]


def auth(token):
    return {"authorization": f"Bearer {token}"}


def iso_ms(epoch_ms):
    return datetime.datetime.fromtimestamp(epoch_ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f"
    )[:-3] + "Z"


def point(drone, ts_ms, n):
    return {
        "drone_id": drone, "ts": iso_ms(ts_ms), "lat": 47.3 + (n % 1000) * 1e-5, "lon": 8.5,
        "alt_m": 50.0, "speed_mps": 10.0, "heading_deg": 90.0, "battery_pct": 80.0,
    }


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


# --- drones ------------------------------------------------------------------------------

def cmd_drones(args):
    token = login(args.url, args.email, args.password)
    client = Client(args.url)
    ids = []
    for i in range(1, args.count + 1):
        status, body = client.request("POST", "/api/v1/drones", {
            "serial": f"{args.prefix}-{i:04d}", "name": f"{args.prefix} {i}", "model": "Cluster test",
            "max_altitude_m": 120, "max_speed_mps": 20, "endurance_min": 40,
            "home": {"lat": 47.3, "lon": 8.5, "alt_m": 0},
        }, auth(token))
        if status != 201:
            sys.exit(f"creating drone {args.prefix}-{i:04d}: {status} {body}")
        ids.append(body["id"])
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(ids) + "\n")


# --- traffic -----------------------------------------------------------------------------

class Traffic:
    def __init__(self, args):
        self.args = args
        self.drones = read_lines(args.drones)
        self.token = login(args.url, args.email, args.password)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.seq = 0
        # Points of each drone are 1 ms apart from here on: every (drone, ts) is new. The
        # start is far enough back that the run never reaches the future.
        self.start_ms = int(time.time() * 1000) - 20 * 60 * 1000
        self.started = time.time()
        self.counts = {"post": 0, "get": 0, "post_ok": 0, "get_ok": 0}
        self.failures = []  # (seconds since start, kind, cause)
        self.sent_points = 0
        self.acked_points = 0
        self.rejected_points = 0
        self.acked_file = open(os.path.join(args.out, "acked.tsv"), "w", encoding="utf-8")

    def next_points(self):
        with self.lock:
            first = self.seq
            self.seq += self.args.batch
        n = len(self.drones)
        return [
            (self.drones[s % n], self.start_ms + s // n, s)
            for s in range(first, first + self.args.batch)
        ]

    def fail(self, kind, cause):
        with self.lock:
            self.failures.append((round(time.time() - self.started, 3), kind, cause))

    def poster(self):
        client = Client(self.args.url)
        while not self.stop.is_set():
            batch = self.next_points()
            body = {"points": [point(d, ts, s) for d, ts, s in batch]}
            with self.lock:
                self.counts["post"] += 1
                self.sent_points += len(batch)
            try:
                # With an Idempotency-Key, as a careful client sends it: nginx may then resend
                # the batch to another replica when the first reset the connection.
                headers = auth(self.token) | {"idempotency-key": str(uuid.uuid4())}
                status, answer = client.request("POST", "/api/v1/telemetry", body, headers)
            except Exception as e:  # noqa: BLE001 - every transport error is a failed request
                self.fail("post", type(e).__name__)
                continue
            if status != 202:
                self.fail("post", f"http_{status}")
                continue
            refused = {e["index"] for e in answer.get("errors", [])}
            lines = [f"{d}\t{ts}\n" for i, (d, ts, _) in enumerate(batch) if i not in refused]
            with self.lock:
                self.counts["post_ok"] += 1
                self.acked_points += len(lines)
                self.rejected_points += len(refused)
                self.acked_file.writelines(lines)

    def reader(self, index):
        client = Client(self.args.url)
        n = 0
        pace = 1.0 / self.args.reader_hz
        next_at = time.monotonic()
        while not self.stop.is_set():
            # Paced, so that the load stays well inside the demo organisation's rate limit
            # (Professional: 500 requests/s over all replicas), whose 429s would count as failures.
            next_at += pace
            self.stop.wait(max(0.0, next_at - time.monotonic()))
            n += 1
            if n % 2:
                path = "/api/v1/drones?limit=20"
            else:
                path = f"/api/v1/drones/{self.drones[(n + index) % len(self.drones)]}"
            with self.lock:
                self.counts["get"] += 1
            try:
                status, _ = client.request("GET", path, headers=auth(self.token))
            except Exception as e:  # noqa: BLE001
                self.fail("get", type(e).__name__)
                continue
            if status != 200:
                self.fail("get", f"http_{status}")
                continue
            with self.lock:
                self.counts["get_ok"] += 1

    def run(self):
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        threads = [threading.Thread(target=self.poster) for _ in range(self.args.posters)]
        threads += [threading.Thread(target=self.reader, args=(i,)) for i in range(self.args.readers)]
        for t in threads:
            t.start()
        with open(os.path.join(self.args.out, "started"), "w", encoding="utf-8") as f:
            f.write(f"{self.started}\n")
        while not self.stop.is_set():
            if self.args.stop_file and os.path.exists(self.args.stop_file):
                self.stop.set()
            self.stop.wait(0.1)
        for t in threads:
            t.join()
        self.acked_file.close()
        requests = self.counts["post"] + self.counts["get"]
        summary = {
            "seconds": round(time.time() - self.started, 2),
            "requests": requests,
            "posts": self.counts["post"],
            "gets": self.counts["get"],
            "failed": len(self.failures),
            "failed_ratio": len(self.failures) / requests if requests else 0.0,
            "failures": self.failures,
            "points_sent": self.sent_points,
            "points_acked": self.acked_points,
            "points_refused_in_202": self.rejected_points,
        }
        with open(os.path.join(self.args.out, "summary.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f)


def cmd_traffic(args):
    os.makedirs(args.out, exist_ok=True)
    Traffic(args).run()


# --- verify ------------------------------------------------------------------------------

def stored_keys(shards, drones):
    ids = "{" + ",".join(sorted(drones)) + "}"
    sql = (
        "copy (select drone_id, (extract(epoch from ts) * 1000)::bigint from telemetry "
        f"where drone_id = any('{ids}'::uuid[])) to stdout"
    )
    keys = set()
    for url in shards:
        run = subprocess.run(["psql", url, "-Atqc", sql], capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise RuntimeError(f"psql {url}: {run.stderr.strip()}")
        for line in run.stdout.splitlines():
            drone, ts = line.split("\t")
            keys.add((drone, int(ts)))
    return keys


def cmd_verify(args):
    acked = set()
    for line in read_lines(args.acked):
        drone, ts = line.split("\t")
        acked.add((drone, int(ts)))
    shards = args.shards.split(",")
    drones = {d for d, _ in acked}
    started = time.time()
    stored, error = set(), None
    while True:
        try:
            stored, error = (stored_keys(shards, drones) if drones else set()), None
        except RuntimeError as e:  # e.g. the server's connections all taken: ask again
            error = str(e)
        missing = acked - stored
        if (not missing and error is None) or time.time() - started > args.within:
            break
        time.sleep(0.5)
    if error is not None:
        sys.exit(f"cannot count the stored points: {error}")
    waited = time.time() - started
    extra = stored - acked
    print(
        f"acked {len(acked)} points, stored {len(acked) - len(missing)} of them, missing {len(missing)}; "
        f"{len(extra)} more stored that were sent but not acknowledged; "
        f"all stored {waited:.1f} s after the load stopped"
        if not missing else
        f"acked {len(acked)} points, stored {len(acked) - len(missing)} of them, MISSING {len(missing)} "
        f"after {waited:.1f} s (e.g. {sorted(missing)[:3]})"
    )
    sys.exit(1 if missing else 0)


# --- logout ------------------------------------------------------------------------------

def labels(urls, names):
    """Each URL's label: its name from --names when given, else the URL."""
    names = names.split(",") if names else []
    return {u: (names[i] if i < len(names) else u) for i, u in enumerate(urls)}


def cmd_logout(args):
    replicas = args.replicas.split(",")
    label = labels(replicas, args.names)
    token = login(replicas[0], args.email, args.password)
    clients = [Client(r) for r in replicas]
    for r, c in zip(replicas, clients):
        status, body = c.request("GET", "/api/v1/auth/me", headers=auth(token))
        if status != 200:
            sys.exit(f"before logout, {r} answers /auth/me with {status} {body}")
    status, body = clients[0].request("POST", "/api/v1/auth/logout", headers=auth(token))
    if status not in (200, 204):
        sys.exit(f"logout at {replicas[0]}: {status} {body}")
    logged_out = time.monotonic()
    refused_after = {}
    pending = dict(zip(replicas, clients))
    while pending and time.monotonic() - logged_out < 10:
        for r, c in list(pending.items()):
            status, _ = c.request("GET", "/api/v1/auth/me", headers=auth(token))
            if status == 401:
                refused_after[r] = time.monotonic() - logged_out
                del pending[r]
        time.sleep(0.005)
    ok = not pending and all(s <= args.within for s in refused_after.values())
    for r in replicas:
        took = refused_after.get(r)
        print(f"  {label[r]}: token refused (401) {took * 1000:.0f} ms after the logout answer"
              if took is not None else f"  {label[r]}: token STILL ACCEPTED 10 s after the logout")
    print(f"logout on {label[replicas[0]]}: {len(refused_after)} of {len(replicas)} replicas refuse the token, "
          f"slowest {max(refused_after.values(), default=0) * 1000:.0f} ms (limit {args.within * 1000:.0f} ms)")
    sys.exit(0 if ok else 1)


# --- alerts -------------------------------------------------------------------------------

def cmd_alerts(args):
    replicas = args.replicas.split(",")
    label = labels(replicas, args.names)
    token = login(args.url, args.email, args.password)
    clients = [Client(r) for r in replicas]
    lb = Client(args.url)
    received = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def call(client, method, path, body=None, expect=(200,)):
        status, answer = client.request(method, path, body, headers=auth(token))
        if status not in expect:
            sys.exit(f"{method} {path}: {status} {answer}")
        return answer

    call(clients[0], "PATCH", "/api/v1/organization/monitoring", {"battery_warn_pct": 50.0})
    hook = call(lb, "POST", "/api/v1/webhooks", {
        "url": f"http://127.0.0.1:{server.server_address[1]}/hook", "kinds": ["battery_low"],
    }, expect=(201,))
    run = uuid.uuid4().hex[:8]
    drones = []
    for name in ("low", "satellite"):
        drone = call(lb, "POST", "/api/v1/drones", {
            "serial": f"ALERT-{name}-{run}", "name": f"Alert {name}", "model": "scenario",
            "max_altitude_m": 120.0, "max_speed_mps": 20.0, "endurance_min": 30,
        }, expect=(201,))
        drones.append(drone["id"])
    low, satellite = drones
    call(clients[-1], "PATCH", f"/api/v1/drones/{satellite}", {"link_timeout_s": 120.0})
    now_ms = int(time.time() * 1000)
    points = [point(low, now_ms, 0), point(satellite, now_ms, 1)]
    points[0]["battery_pct"] = 45.0
    call(lb, "POST", "/api/v1/telemetry", {"points": points}, expect=(202,))
    sent = time.monotonic()

    def alerts(drone, kind):
        return call(lb, "GET", f"/api/v1/alerts?drone_id={drone}&kind={kind}")["items"]

    found = {}
    while time.monotonic() - sent < args.within and len(found) < 3:
        if "battery" not in found and alerts(low, "battery_low"):
            found["battery"] = time.monotonic() - sent
        if "link" not in found and alerts(low, "link_lost"):
            found["link"] = time.monotonic() - sent
        if "webhook" not in found and any(b["data"]["alert"]["drone_id"] == low for _, b in received):
            found["webhook"] = time.monotonic() - sent
        time.sleep(0.2)
    satellite_lost = alerts(satellite, "link_lost")
    signed = all("webhook-signature" in h and "webhook-id" in h for h, _ in received)
    call(lb, "DELETE", f"/api/v1/webhooks/{hook['id']}", expect=(204,))
    call(lb, "PATCH", "/api/v1/organization/monitoring", {"battery_warn_pct": None})
    server.shutdown()

    def at(key):
        return f"{found[key] * 1000:.0f} ms" if key in found else "NEVER"

    ok = len(found) == 3 and not satellite_lost and signed
    print(f"alerts by the workers: 45 % battery warned after {at('battery')} (organisation threshold 50 %, "
          f"set on {label[replicas[0]]}); link lost after {at('link')} (timeout 5 s); the drone with its own 120 s "
          f"timeout (set on {label[replicas[-1]]}) {'LOST ITS LINK' if satellite_lost else 'did not lose its link'}; "
          f"webhook received the warning after {at('webhook')}, {len(received)} deliveries, "
          f"{'all signed' if signed else 'NOT ALL SIGNED'}")
    sys.exit(0 if ok else 1)


# --- live --------------------------------------------------------------------------------

def metric_sum(url, name):
    """The sum of a metric's samples at url; None when nothing answers."""
    try:
        status, text = Client(url, timeout=5).request("GET", urllib.parse.urlsplit(url).path or "/metrics")
    except Exception:  # noqa: BLE001
        return None
    if status != 200 or not isinstance(text, str):
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (len(line) == len(name) or line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Stream(threading.Thread):
    """One SSE stream; records the drone ids of every `positions` event."""

    def __init__(self, replica, path):
        super().__init__(daemon=True)
        self.replica, self.path = replica, path
        self.ready = threading.Event()
        self.seen = set()
        self.error = None
        self.lock = threading.Lock()

    def run(self):
        host, port = parse_url(self.replica)
        try:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            conn.request("GET", self.path, headers={"accept": "text/event-stream"})
            res = conn.getresponse()
            if res.status != 200:
                self.error = f"http_{res.status} {res.read()[:200]!r}"
                self.ready.set()
                return
            event = None
            while True:
                line = res.fp.readline()
                if not line:
                    self.error = self.error or "stream closed"
                    return
                line = line.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    if event == "ready":
                        self.ready.set()
                    elif event == "positions":
                        ids = {p["drone_id"] for p in json.loads(line[6:])["positions"]}
                        with self.lock:
                            self.seen |= ids
        except Exception as e:  # noqa: BLE001
            self.error = f"{type(e).__name__}: {e}"
            self.ready.set()


def cmd_live(args):
    replicas = args.replicas.split(",")
    workers = args.workers.split(",")
    label = labels(replicas, args.names) | labels(workers, args.worker_names)
    drones = read_lines(args.drones)
    token = login(args.url, args.email, args.password)
    nginx = Client(args.url)
    streams = []
    for r in replicas:
        # As the dashboard does: a single-use ticket (here from whichever replica nginx picks),
        # redeemed by the replica that serves the stream.
        status, body = nginx.request("POST", "/api/v1/live/tickets", headers=auth(token))
        if status not in (200, 201):
            sys.exit(f"live ticket: {status} {body}")
        stream = Stream(r, f"/api/v1/live?max_hz=10&ticket={urllib.parse.quote(body['ticket'])}")
        stream.start()
        streams.append(stream)
    for s in streams:
        if not s.ready.wait(10) or s.error:
            sys.exit(f"live stream on {label[s.replica]} did not open: {s.error}")
    before = [metric_sum(w, "nimbusfleet_ingest_points_consumed_total") for w in workers]
    now = int(time.time() * 1000)
    status, body = nginx.request(
        "POST", "/api/v1/telemetry", {"points": [point(d, now, i) for i, d in enumerate(drones)]}, auth(token)
    )
    if status != 202 or body.get("accepted") != len(drones):
        sys.exit(f"posting the live points: {status} {body}")
    sent = time.monotonic()
    want = set(drones)
    arrived = {}
    while time.monotonic() - sent < args.within and len(arrived) < len(streams):
        for s in streams:
            with s.lock:
                if s.replica not in arrived and want <= s.seen:
                    arrived[s.replica] = time.monotonic() - sent
        time.sleep(0.01)
    time.sleep(1.0)  # the workers' counters, after their batch
    after = [metric_sum(w, "nimbusfleet_ingest_points_consumed_total") for w in workers]
    written = [(a - b) if a is not None and b is not None else None for a, b in zip(after, before)]
    for s in streams:
        with s.lock:
            got = len(want & s.seen)
        took = arrived.get(s.replica)
        print(f"  stream on {label[s.replica]}: {got} of {len(want)} drones' points"
              + (f", all within {took * 1000:.0f} ms" if took is not None else f" (error: {s.error})"))
    for w, n in zip(workers, written):
        print(f"  worker {label[w]}: wrote {int(n) if n is not None else '?'} of the {len(drones)} points")
    ok = len(arrived) == len(streams) and all(n and n > 0 for n in written)
    print(f"live: {len(arrived)} of {len(streams)} streams received all {len(drones)} points; "
          f"{sum(1 for n in written if n)} of {len(workers)} workers wrote some of them")
    sys.exit(0 if ok else 1)


def cmd_gauge(args):
    value = metric_sum(args.url, args.name)
    print(-1 if value is None else int(value) if value == int(value) else value)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def creds(p):
        p.add_argument("--email", required=True)
        p.add_argument("--password", required=True)

    p = sub.add_parser("drones")
    p.add_argument("--url", required=True)
    creds(p)
    p.add_argument("--prefix", required=True)
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_drones)

    p = sub.add_parser("traffic")
    p.add_argument("--url", required=True)
    creds(p)
    p.add_argument("--drones", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--posters", type=int, default=2)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--readers", type=int, default=2)
    p.add_argument("--reader-hz", type=float, default=50.0, help="requests per second per reader, at most")
    p.add_argument("--stop-file")
    p.set_defaults(func=cmd_traffic)

    p = sub.add_parser("verify")
    p.add_argument("--acked", required=True)
    p.add_argument("--shards", required=True)
    p.add_argument("--within", type=float, default=60.0)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("logout")
    p.add_argument("--replicas", required=True)
    creds(p)
    p.add_argument("--within", type=float, default=1.0)
    p.add_argument("--names", help="comma-separated names of the replicas, for the output")
    p.set_defaults(func=cmd_logout)

    p = sub.add_parser("live")
    p.add_argument("--url", required=True)
    p.add_argument("--replicas", required=True)
    p.add_argument("--workers", required=True)
    creds(p)
    p.add_argument("--drones", required=True)
    p.add_argument("--within", type=float, default=10.0)
    p.add_argument("--names", help="comma-separated names of the replicas, for the output")
    p.add_argument("--worker-names", help="comma-separated names of the workers, for the output")
    p.set_defaults(func=cmd_live)

    p = sub.add_parser("alerts")
    p.add_argument("--url", required=True)
    p.add_argument("--replicas", required=True)
    creds(p)
    p.add_argument("--within", type=float, default=15.0)
    p.add_argument("--names", help="comma-separated names of the replicas, for the output")
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser("gauge")
    p.add_argument("--url", required=True)
    p.add_argument("--name", required=True)
    p.set_defaults(func=cmd_gauge)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
