#!/usr/bin/env bash
# Schema-based fuzzing of the HTTP API with schemathesis (pinned in scripts/fuzz-env.sh).
#
# Starts the server binary on a free loopback port in embedded mode with the demo
# organisation (`serve --demo`, SQLite in a temporary folder), seeds a little data
# (telemetry for DEMO-0001, a flight plan for DEMO-0002, a drone API key), then runs
# schemathesis against the document the server serves (/api-docs/openapi.json) once per
# principal: the demo viewer (Bearer), DEMO-0001's API key (X-API-Key) and the demo admin
# (Bearer). The admin goes last because its run deletes drones, keys and users.
#
# Checks: not_a_server_error, status_code_conformance, response_schema_conformance,
# content_type_conformance. Phases: examples, coverage, fuzzing, stateful; positive and
# negative data (mode `all`).
#
# Prints one line per principal, `fuzz: <principal>: <cases> cases, <failures> failures`,
# and exits non-zero when any run found a failure or an error, or did not finish.
#
# Settings (environment):
#   NIMBUS_BIN        server binary (default: the debug build in CARGO_TARGET_DIR)
#   FUZZ_EXAMPLES     schemathesis --max-examples, per operation and phase (default 50:
#                     about 8,000 cases and 2-2.5 minutes for the three runs on 2 cores)
#   FUZZ_MAX_TIME     optional schemathesis --max-time per run, in seconds (fuzzing and
#                     stateful phases then repeat until it is spent)
#   FUZZ_TIMEOUT      hard limit per run, in seconds (default 120); the run is interrupted
#                     (SIGINT, then SIGKILL 20 s later) and counts as failed
#   FUZZ_PRINCIPALS   which runs, in order (default "viewer drone admin")
#   FUZZ_WORKERS      schemathesis --workers (default 2)
#   FUZZ_SEED         schemathesis --seed (default: random; the seed is printed)
#   FUZZ_MODE         positive | negative | all (default all)
#   FUZZ_PHASES       default examples,coverage,fuzzing,stateful
#   FUZZ_KEEP         1 keeps the temporary folder's SQLite data too (logs and reports are
#                     always kept)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}
NIMBUS_BIN=${NIMBUS_BIN:-$CARGO_TARGET_DIR/debug/nimbusfleet}
FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-50}
FUZZ_MAX_TIME=${FUZZ_MAX_TIME:-}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-120}
FUZZ_PRINCIPALS=${FUZZ_PRINCIPALS:-viewer drone admin}
FUZZ_WORKERS=${FUZZ_WORKERS:-2}
FUZZ_SEED=${FUZZ_SEED:-}
FUZZ_MODE=${FUZZ_MODE:-all}
FUZZ_PHASES=${FUZZ_PHASES:-examples,coverage,fuzzing,stateful}
FUZZ_KEEP=${FUZZ_KEEP:-0}
CHECKS=not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance

log() { printf '[fuzz] %s\n' "$*" >&2; }
now() { date +%s; }

if [ ! -x "$NIMBUS_BIN" ]; then
    log "no server binary at $NIMBUS_BIN (build it with cargo build --bin nimbusfleet, or set NIMBUS_BIN)"
    exit 1
fi
for n in "$FUZZ_EXAMPLES" "$FUZZ_TIMEOUT" "$FUZZ_WORKERS" ${FUZZ_MAX_TIME:+"$FUZZ_MAX_TIME"}; do
    case $n in '' | *[!0-9]*) log "not a positive integer: '$n'"; exit 2 ;; esac
done

# shellcheck source=scripts/fuzz-env.sh
. scripts/fuzz-env.sh
t0=$(now)
nf_ensure_schemathesis
PY=$NF_FUZZ_VENV/bin/python
log "setup: $(($(now) - t0)) s"

WORK=$(mktemp -d /tmp/nimbusfleet-fuzz.XXXXXX)
chmod 700 "$WORK"
SERVER_LOG=$WORK/server.log
SERVER_PID=""

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    local rc=$?
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local _i
        for _i in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            log "the server did not stop within 10 s of SIGTERM; sending SIGKILL"
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    [ "$FUZZ_KEEP" = 1 ] || rm -rf "$WORK/data" "$WORK/creds.env"
    log "server log: $SERVER_LOG"
    log "reports and schemathesis output: $WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
BASE=http://127.0.0.1:$PORT

# Embedded mode: no configuration file (the server runs in $WORK, where there is none) and
# none of the caller's NIMBUS__* overrides.
t0=$(now)
log "starting $NIMBUS_BIN serve --demo --bind 127.0.0.1:$PORT --data-dir $WORK/data (log: $SERVER_LOG)"
(
    cd "$WORK"
    while read -r var; do unset "$var"; done < <(compgen -e | grep '^NIMBUS__' || true)
    exec "$NIMBUS_BIN" serve --demo --bind "127.0.0.1:$PORT" --data-dir "$WORK/data"
) >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

ready=0
for _ in $(seq 1 120); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log "the server exited during start-up; its log:"
        tail -n 30 "$SERVER_LOG" >&2
        exit 1
    fi
    if "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$BASE/health/ready" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.5
done
[ "$ready" = 1 ] || { log "the server did not become ready within 60 s"; exit 1; }
log "server ready at $BASE in $(($(now) - t0)) s"

# Logins (one session to fuzz with and one for POST /auth/logout per user, so that logging
# out does not end the session of the rest of the run), a drone key for DEMO-0001, a few
# telemetry points with that key and a flight plan for DEMO-0002, then one schemathesis
# configuration per principal. Secrets go to creds.env (mode 600) and reach schemathesis
# through the environment (the TOML files only name the variables).
t0=$(now)
"$PY" - "$BASE" "$WORK" <<'PY'
import datetime as dt
import json
import os
import shlex
import sys
import urllib.error
import urllib.request

base, work = sys.argv[1], sys.argv[2]


def call(method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def must(status_body, what, ok=(200, 201, 202)):
    status, body = status_body
    if status not in ok:
        sys.exit(f"[fuzz] {what}: HTTP {status}: {body}")
    return body


def login(role):
    email = f"{role}@demo.nimbusfleet.local"
    body = {"email": email, "password": f"demo-{role}-password"}
    return must(call("POST", "/api/v1/auth/login", body), f"login as {email}")["access_token"]


admin, viewer = login("admin"), login("viewer")
admin_logout, viewer_logout = login("admin"), login("viewer")
bearer = {"Authorization": f"Bearer {admin}"}
drones = {d["serial"]: d["id"] for d in must(call("GET", "/api/v1/drones?limit=100", headers=bearer), "list drones")["items"]}
users = {u["email"]: u["id"] for u in must(call("GET", "/api/v1/users?limit=100", headers=bearer), "list users")["items"]}
if "DEMO-0001" not in drones:
    sys.exit(f"[fuzz] no demo drone DEMO-0001 among {sorted(drones)}")
drone = drones["DEMO-0001"]
key = must(call("POST", f"/api/v1/drones/{drone}/api-keys", {}, bearer), "create a drone API key")["secret"]

now = dt.datetime.now(dt.timezone.utc)
points = [
    {
        "drone_id": drone,
        "ts": (now - dt.timedelta(seconds=10 * (20 - i))).isoformat().replace("+00:00", "Z"),
        "lat": 47.3769 + i * 0.0001, "lon": 8.5417 + i * 0.0001, "alt_m": 30.0 + i,
        "speed_mps": 8.0, "heading_deg": 45.0, "battery_pct": 90.0 - i,
        "vertical_speed_mps": 0.5, "satellites": 12, "link_quality_pct": 95.0,
    }
    for i in range(20)
]
status, body = call("POST", "/api/v1/telemetry", {"points": points}, {"X-API-Key": key})
if status != 202 or body.get("accepted") != len(points):
    print(f"[fuzz] warning: seeding telemetry: HTTP {status}: {body}", file=sys.stderr)

plans = []
if "DEMO-0002" in drones:
    start = now + dt.timedelta(days=1)
    plan = {
        "drone_id": drones["DEMO-0002"], "name": "fuzz seed",
        "planned_start": start.isoformat().replace("+00:00", "Z"),
        "planned_end": (start + dt.timedelta(minutes=20)).isoformat().replace("+00:00", "Z"),
        "waypoints": [
            {"lat": 47.3810, "lon": 8.5350, "alt_m": 0.0},
            {"lat": 47.3830, "lon": 8.5370, "alt_m": 60.0, "speed_mps": 10.0, "hold_s": 5.0},
            {"lat": 47.3810, "lon": 8.5350, "alt_m": 0.0},
        ],
    }
    status, body = call("POST", "/api/v1/flight-plans", plan, bearer)
    if status == 201:
        plans.append(body["id"])
    else:
        print(f"[fuzz] warning: seeding a flight plan: HTTP {status}: {body}", file=sys.stderr)

creds = {
    "NF_FUZZ_ADMIN_TOKEN": admin, "NF_FUZZ_VIEWER_TOKEN": viewer,
    "NF_FUZZ_ADMIN_LOGOUT_TOKEN": admin_logout, "NF_FUZZ_VIEWER_LOGOUT_TOKEN": viewer_logout,
    "NF_FUZZ_DRONE_KEY": key,
}
fd = os.open(os.path.join(work, "creds.env"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    for k, v in creds.items():
        f.write(f"export {k}={shlex.quote(v)}\n")


def toml_list(values):
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def config(principal):
    if principal == "drone":
        headers = '{ "X-API-Key" = "${NF_FUZZ_DRONE_KEY}" }'
        logout = None
        drone_ids, probability = [drone], 0.8
    else:
        headers = f'{{ "Authorization" = "Bearer ${{NF_FUZZ_{principal.upper()}_TOKEN}}" }}'
        logout = f'{{ "Authorization" = "Bearer ${{NF_FUZZ_{principal.upper()}_LOGOUT_TOKEN}}" }}'
        drone_ids, probability = sorted(drones.values()), 0.5
    user_ids = [users[e] for e in ("operator@demo.nimbusfleet.local",) if e in users]
    lines = [
        f"# schemathesis configuration for the {principal} run (scripts/fuzz.sh)",
        f"headers = {headers}",
        f"hooks = {json.dumps(os.path.join(work, 'hooks.py'))}",
        "",
        "",
        "# Only the credential above: no generated Authorization or X-API-Key (the server refuses",
        "# requests with both), no sign-up of a user of its own.",
        "[generation]",
        "with-security-parameters = false",
        "[auth]",
        "auto-signup = false",
        "",
        "[dictionaries.drones]",
        f"values = {toml_list(drone_ids)}",
        "[dictionaries.actions]",
        'values = ["submit", "approve", "reject", "activate", "complete", "cancel"]',
    ]
    if plans:
        lines += ["[dictionaries.plans]", f"values = {toml_list(plans)}"]
    if user_ids:
        lines += ["[dictionaries.users]", f"values = {toml_list(user_ids)}"]
    ops = [
        ("^/api/v1/drones/\\{id\\}", {"path.id": "drones"}),
        ("^/api/v1/flight-plans$", {"body.drone_id": "drones"}),
        ("^/api/v1/telemetry$", {"body.points[*].drone_id": "drones"}),
        ("^/api/v1/flight-plans/\\{id\\}/\\{action\\}$", {"path.action": "actions"}),
    ]
    if plans:
        ops.append(("^/api/v1/flight-plans/\\{id\\}", {"path.id": "plans"}))
    if user_ids:
        ops.append(("^/api/v1/users/\\{id\\}$", {"path.id": "users"}))
    for regex, params in ops:
        bindings = ", ".join(
            f'"{name}" = {{ dictionary = "{d}", probability = {probability} }}' for name, d in params.items()
        )
        lines += ["", "[[operations]]", f"include-path-regex = '{regex}'", f"parameters = {{ {bindings} }}"]
    # The live stream never ends by itself: read its first event (`ready`) and stop.
    lines += ["", "[[operations]]", 'include-path = "/api/v1/live"', "max-stream-events = 1", "request-timeout = 3"]
    if logout:
        lines += ["", "[[operations]]", 'include-path = "/api/v1/auth/logout"', f"headers = {logout}"]
    with open(os.path.join(work, f"{principal}.toml"), "w") as f:
        f.write("\n".join(lines) + "\n")


# The admin's run would otherwise delete or demote the demo admin (once its stateful phase
# has created another admin) and spend the rest of the run on 401s: calls that DELETE or
# PATCH the caller's own user go to an id that does not exist instead.
own = [users[e] for e in ("admin@demo.nimbusfleet.local", "viewer@demo.nimbusfleet.local") if e in users]
with open(os.path.join(work, "hooks.py"), "w") as f:
    f.write(f"""# schemathesis hooks for scripts/fuzz.sh
import schemathesis

OWN_USERS = {own!r}
ABSENT = "00000000-0000-7000-8000-000000000000"


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path == "/api/v1/users/{{id}}" and case.method.upper() in ("DELETE", "PATCH"):
        if str((case.path_parameters or {{}}).get("id")) in OWN_USERS:
            case.path_parameters["id"] = ABSENT
""")

for principal in ("admin", "viewer", "drone"):
    config(principal)
print(f"[fuzz] seeded: drone key for DEMO-0001 ({drone}), {len(points)} telemetry points, "
      f"{len(plans)} flight plan(s)", file=sys.stderr)
PY
# shellcheck source=/dev/null
. "$WORK/creds.env"
log "logins, drone key and seed data: $(($(now) - t0)) s"

# One schemathesis run; its output goes to $WORK/<principal>.out and the terminal, its
# JSON report to $WORK/<principal>-report/.
run_one() {
    local principal=$1 rc=0 args
    args=(run "$BASE/api-docs/openapi.json" --url "$BASE"
        --checks "$CHECKS" --phases "$FUZZ_PHASES" --mode "$FUZZ_MODE"
        --max-examples "$FUZZ_EXAMPLES" --workers "$FUZZ_WORKERS" --continue-on-failure
        --request-timeout 10 --wait-for-schema 10 --no-color
        --report "json,junit,ndjson" --report-dir "$WORK/$principal-report"
        --report-json-path "$WORK/$principal-report/report.json"
        --report-junit-path "$WORK/$principal-report/junit.xml"
        --report-ndjson-path "$WORK/$principal-report/events.ndjson")
    [ -z "$FUZZ_SEED" ] || args+=(--seed "$FUZZ_SEED")
    [ -z "$FUZZ_MAX_TIME" ] || args+=(--max-time "$FUZZ_MAX_TIME")
    log "$principal: $NF_SCHEMATHESIS --config-file $WORK/$principal.toml ${args[*]}"
    (cd "$WORK" && timeout -s INT -k 20 "$FUZZ_TIMEOUT" \
        "$NF_SCHEMATHESIS" --config-file "$WORK/$principal.toml" "${args[@]}") 2>&1 \
        | tee "$WORK/$principal.out" || rc=$?
    return "$rc"
}

# `<cases> <failures> <errors> <complete>` from a JSON report, or nothing.
report_counts() {
    "$PY" - "$1" <<'PY' 2>/dev/null || true
import json, sys
r = json.load(open(sys.argv[1]))
t = r["test_cases"]
print(t["generated"], t["unique_failures"], len(r.get("errors") or []), int(bool(r.get("complete"))))
PY
}

status=0
summary=()
total_cases=0
for principal in $FUZZ_PRINCIPALS; do
    case $principal in admin | viewer | drone) ;; *) log "unknown principal '$principal'"; exit 2 ;; esac
    t0=$(now)
    rc=0
    run_one "$principal" || rc=$?
    secs=$(($(now) - t0))
    counts=$(report_counts "$WORK/$principal-report/report.json")
    if [ -z "$counts" ]; then
        summary+=("fuzz: $principal: 0 cases, 1 failures (no report; schemathesis exit $rc after $secs s)")
        status=1
        continue
    fi
    read -r cases failures errors complete <<<"$counts"
    total_cases=$((total_cases + cases))
    line="fuzz: $principal: $cases cases, $failures failures"
    [ "$errors" = 0 ] || line+=" ($errors errors)"
    [ "$rc" != 124 ] || line+=" (stopped by FUZZ_TIMEOUT=$FUZZ_TIMEOUT s)"
    [ "$complete" = 1 ] || [ "$rc" = 124 ] || line+=" (incomplete)"
    summary+=("$line")
    log "$principal: $secs s, schemathesis exit $rc"
    if [ "$rc" != 0 ] || [ "$failures" != 0 ] || [ "$errors" != 0 ]; then status=1; fi
done

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    summary+=("fuzz: the server died during the run (see $SERVER_LOG)")
    status=1
fi
echo
printf '%s\n' "${summary[@]}"
echo "fuzz: $total_cases cases in total"
cd "$ROOT"
exit "$status"
