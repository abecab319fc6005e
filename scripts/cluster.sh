#!/usr/bin/env bash
# The distributed topology as real processes on this machine, no Docker (`make cluster`):
#
#   nginx (deploy/nginx/nginx.conf, rewritten by scripts/cluster/nginx-conf.py)
#     → 3 API replicas (`nimbusfleet serve --demo`)  → Kafka (tansu) → 2 ingest workers
#   Redis (a private redis-server), PostgreSQL (the machine's server, or the one
#   scripts/test-env.sh provisions) with a catalog and 4 shard databases.
#
#   scripts/cluster.sh up        start everything (fresh databases, topics, Redis), print the URL
#   scripts/cluster.sh down      stop everything it started (SIGTERM, then SIGKILL after 40 s)
#   scripts/cluster.sh status    each process: pid, port, readiness
#   scripts/cluster.sh start|stop|kill|restart NAME
#                                one process (api-1…, ingest-1…, nginx, tansu, redis); `start
#                                ingest-3` adds a worker. The fault scenarios use these.
#   scripts/cluster.sh pid|port NAME
#
# Everything lives in $NF_CLUSTER_DIR (default /tmp/nimbusfleet-cluster): pid files in run/,
# one log per process in logs/, nimbus.env (the processes' NIMBUS__* settings, mode 600),
# ports (the chosen ports). Ports are free 127.0.0.1 ports chosen at `up`; nginx listens on
# $NF_CLUSTER_PORT (default 8090, or a free port when that one is taken; 0: always a free
# one). Databases: ${NF_CLUSTER_DB}_catalog and ${NF_CLUSTER_DB}_shard_0..3 (default
# nf_cluster), dropped and created again by `up`; each process keeps at most
# $NF_CLUSTER_DB_POOL (default 2) connections per database, so that the whole cluster stays
# well inside PostgreSQL's default of 100 connections. NF_CLUSTER_READ_REPLICA=1 puts them on a
# private primary with a streaming replica (scripts/private-postgres.sh) that the API replicas
# read from (storage.shard_replica_urls, catalog_replica_urls); `down` stops both. The binary: $NIMBUS_BIN, default
# $CARGO_TARGET_DIR/debug/nimbusfleet (built with the dashboard by scripts/build.sh when
# missing).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/nimbusfleet/target}
DIR=${NF_CLUSTER_DIR:-/tmp/nimbusfleet-cluster}
BIN=${NIMBUS_BIN:-$CARGO_TARGET_DIR/debug/nimbusfleet}
DB=${NF_CLUSTER_DB:-nf_cluster}
SHARDS=4
REPLICAS=${NF_CLUSTER_REPLICAS:-3}
WORKERS=${NF_CLUSTER_WORKERS:-2}
PARTITIONS=${NF_CLUSTER_PARTITIONS:-6}
READY_TIMEOUT_S=${NF_CLUSTER_READY_TIMEOUT_S:-90}

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port_free() {
    python3 -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# --- state ---------------------------------------------------------------------------------

pidfile() { echo "$DIR/run/$1.pid"; }
logfile() { echo "$DIR/logs/$1.log"; }

# The ports file: NAME=PORT lines.
port_of() {
    [ -f "$DIR/ports" ] || return 1
    sed -n "s/^$1=//p" "$DIR/ports" | tail -n 1 | grep .
}
set_port() {
    touch "$DIR/ports"
    sed -i "/^$1=/d" "$DIR/ports"
    echo "$1=$2" >>"$DIR/ports"
}

# The pid of NAME when that process still runs (and is still ours: a recycled pid of some
# other program does not count).
alive_pid() {
    local file pid
    file=$(pidfile "$1")
    [ -f "$file" ] || return 1
    pid=$(cat "$file")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # A zombie (exited, not yet reaped by its new parent) is not running.
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
    case "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" in
        *nimbusfleet*|*tansu*|*redis-server*|*nginx*) echo "$pid" ;;
        *) return 1 ;;
    esac
}

names() { # every process the state directory knows, in start order
    local n
    for n in redis tansu; do echo "$n"; done
    sed -n 's/^\(api-[0-9]*\)=.*/\1/p' "$DIR/ports" 2>/dev/null | sort -t- -k2 -n -u
    sed -n 's/^\(ingest-[0-9]*\)=.*/\1/p' "$DIR/ports" 2>/dev/null | sort -t- -k2 -n -u
    echo nginx
}

# --- provisioning ----------------------------------------------------------------------------

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1
    fi
}

# Installs Debian packages without starting their services (policy-rc.d answering 101).
apt_install() {
    command -v apt-get >/dev/null || die "missing: $* (Debian packages)"
    log "installing from Debian's packages: $*"
    local policy=/usr/sbin/policy-rc.d created=
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\\nexit 101\\n' > $policy && chmod 755 $policy" \
            || die "cannot install $* (neither root nor sudo)"
        created=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    [ -z "$created" ] || as_root rm -f "$policy"
}

ensure_nginx() {
    NGINX=$(command -v nginx || true)
    [ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
    [ -n "$NGINX" ] && return 0
    apt_install nginx
    NGINX=/usr/sbin/nginx
}

ensure_build() {
    if [ -n "${NIMBUS_BIN:-}" ]; then
        [ -x "$BIN" ] || die "NIMBUS_BIN=$BIN is not an executable"
    elif [ ! -x "$BIN" ] || [ ! -f "$REPO/frontend/dist/index.html" ]; then
        log "building the binary and the dashboard (scripts/build.sh)"
        "$REPO/scripts/build.sh"
    fi
    [ -f "$REPO/frontend/dist/index.html" ] \
        || log "warning: no dashboard in frontend/dist (make build); / will say how to build it"
}

psql_pg() { PGOPTIONS="-c client_min_messages=warning" psql "$CLUSTER_PG/postgres" -v ON_ERROR_STOP=1 -Atq "$@"; }

fresh_databases() {
    local name
    for name in "${DB}_catalog" $(seq -f "${DB}_shard_%g" 0 $((SHARDS - 1))); do
        psql_pg -c "drop database if exists \"$name\" with (force)" >/dev/null
        psql_pg -c "create database \"$name\"" >/dev/null
    done
}

# --- processes -------------------------------------------------------------------------------

# Starts "$@" as NAME in its own session (a Ctrl-C in the terminal does not reach it), from
# the state directory (so that no ./nimbusfleet.toml of the clone is read), with the
# cluster's settings in its environment and its output in logs/NAME.log.
spawn() {
    local name=$1
    shift
    if alive_pid "$name" >/dev/null; then
        log "$name is already running (pid $(alive_pid "$name"))"
        return 0
    fi
    printf '\n=== %s: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$(logfile "$name")"
    (
        cd "$DIR"
        set -a
        # shellcheck disable=SC1091
        . "$DIR/nimbus.env"
        set +a
        unset RUST_LOG
        exec setsid "$@" </dev/null >>"$(logfile "$name")" 2>&1
    ) &
    echo $! >"$(pidfile "$name")"
}

start() {
    local name=$1 port
    case "$name" in
        redis)
            port=$(port_of redis)
            spawn redis redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
                --dir "$DIR/redis" --daemonize no
            ;;
        tansu)
            port=$(port_of tansu)
            # SQLite storage: tansu's memory:// storage loses committed offsets.
            spawn tansu sh -c "cd '$DIR/tansu' && exec '$NIMBUS_TEST_TANSU_BIN' broker \
                --listener-url tcp://127.0.0.1:$port --advertised-listener-url tcp://127.0.0.1:$port \
                --storage-engine sqlite://tansu.db"
            ;;
        api-*)
            port=$(port_of "$name") || die "unknown replica $name"
            # Every replica runs --demo: without it a replica would lock the demo accounts
            # (their well-known passwords stop working). Seeding is idempotent once the first
            # replica has created the organisation, which `up` waits for.
            spawn "$name" "$BIN" serve --demo --bind "127.0.0.1:$port"
            ;;
        ingest-*)
            port=$(port_of "$name" || true)
            if [ -z "$port" ]; then
                port=$(free_port)
                set_port "$name" "$port"
            fi
            spawn "$name" "$BIN" ingest --bind "127.0.0.1:$port"
            ;;
        nginx)
            write_nginx_conf
            spawn nginx "$NGINX" -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf" -e "$DIR/logs/nginx-error.log" \
                -g 'daemon off;'
            ;;
        *) die "unknown process $name" ;;
    esac
}

write_nginx_conf() {
    local upstream=() name user=()
    for name in $(names | grep '^api-'); do upstream+=("127.0.0.1:$(port_of "$name")"); done
    [ "$(id -u)" = 0 ] && user=(--user "nobody nogroup")
    local hard nofile=()
    hard=$(ulimit -Hn)
    case "$hard" in ''|*[!0-9]*) ;; *) nofile=(--max-nofile "$hard") ;; esac
    mkdir -p "$DIR/nginx"
    python3 "$REPO/scripts/cluster/nginx-conf.py" --source "$REPO/deploy/nginx/nginx.conf" \
        --listen "127.0.0.1:$(port_of nginx)" --upstream "$(IFS=,; echo "${upstream[*]}")" \
        --state "$DIR/nginx" --logs "$DIR/logs" "${nofile[@]}" "${user[@]}" >"$DIR/nginx/nginx.conf"
    "$NGINX" -t -q -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf" -e "$DIR/logs/nginx-error.log" \
        || die "nginx -t failed on $DIR/nginx/nginx.conf"
}

# Stops NAME: SIGTERM (SIGKILL with `kill`), then waits for it to exit (SIGKILL after
# 40 s).
stop() {
    local name=$1 signal=${2:-TERM} pid
    pid=$(alive_pid "$name") || { rm -f "$(pidfile "$name")"; return 0; }
    if [ "$name" = nginx ] && [ "$signal" = TERM ]; then signal=QUIT; fi # nginx: graceful
    kill "-$signal" "$pid" 2>/dev/null || true
    # A replica may take server.drain_delay_s + server.shutdown_timeout_s (2 + 30 s).
    for _ in $(seq 400); do alive_pid "$name" >/dev/null || break; sleep 0.1; done
    if alive_pid "$name" >/dev/null; then
        log "$name (pid $pid) did not stop within 40 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do alive_pid "$name" >/dev/null || break; sleep 0.1; done
    fi
    rm -f "$(pidfile "$name")"
}

# The HTTP status of GET URL (000 when nothing answers).
http_status() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true; }

ready_url() {
    case "$1" in
        api-*|ingest-*) echo "http://127.0.0.1:$(port_of "$1")/health/ready" ;;
        nginx) echo "http://127.0.0.1:$(port_of nginx)/health/ready" ;;
        *) return 1 ;;
    esac
}

is_ready() {
    case "$1" in
        redis) redis-cli -p "$(port_of redis)" ping 2>/dev/null | grep -q PONG ;;
        tansu) (exec 3<>"/dev/tcp/127.0.0.1/$(port_of tansu)") 2>/dev/null ;;
        *) [ "$(http_status "$(ready_url "$1")")" = 200 ] ;;
    esac
}

wait_ready() {
    local name=$1 deadline=$((SECONDS + ${2:-$READY_TIMEOUT_S}))
    while ! is_ready "$name"; do
        if ! alive_pid "$name" >/dev/null; then
            log "$name exited; the end of $(logfile "$name"):"
            tail -n 30 "$(logfile "$name")" >&2
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$name is not ready after ${2:-$READY_TIMEOUT_S} s; the end of $(logfile "$name"):"
            tail -n 30 "$(logfile "$name")" >&2
            return 1
        fi
        sleep 0.2
    done
}

# --- commands --------------------------------------------------------------------------------

up() {
    local name running=
    for name in $(names); do alive_pid "$name" >/dev/null && running=1; done
    if [ -n "$running" ]; then
        log "a cluster is already running in $DIR (make cluster-down first):"
        status
        return 0
    fi
    ensure_build
    # shellcheck source=scripts/test-env.sh disable=SC1091
    . "$REPO/scripts/test-env.sh"
    nf_ensure_postgres
    nf_ensure_tansu
    ensure_nginx
    # A private redis-server (so that `down` stops it and nothing else shares it).
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        apt_install redis-server
    fi

    rm -rf "$DIR/run" "$DIR/tansu" "$DIR/redis" "$DIR/nginx" "$DIR/data" "$DIR/ports"
    mkdir -p "$DIR"/{run,logs,tansu,redis,nginx,data}
    # nginx's workers (nobody, when run as root) must reach their temporary directories.
    chmod 755 "$DIR" "$DIR/nginx"
    rm -f "$DIR"/logs/*.log

    local port=${NF_CLUSTER_PORT:-8090}
    if [ "$port" = 0 ] || ! port_free "$port"; then
        [ "$port" != 0 ] && log "port $port is taken; nginx gets a free port"
        port=$(free_port)
    fi
    set_port nginx "$port"
    set_port redis "$(free_port)"
    set_port tansu "$(free_port)"
    local i
    for i in $(seq "$REPLICAS"); do set_port "api-$i" "$(free_port)"; done
    for i in $(seq "$WORKERS"); do set_port "ingest-$i" "$(free_port)"; done

    # PostgreSQL: the machine's server, or with NF_CLUSTER_READ_REPLICA=1 a private primary
    # and a streaming replica of it (scripts/private-postgres.sh) that the API replicas read
    # lists, history and fleet positions from.
    CLUSTER_PG=$NIMBUS_TEST_PG_URL
    local replica_env=""
    if [ "${NF_CLUSTER_READ_REPLICA:-0}" = 1 ]; then
        # shellcheck source=scripts/private-postgres.sh disable=SC1091
        . "$REPO/scripts/private-postgres.sh"
        local primary_port replica_port pair
        primary_port=$(free_port)
        replica_port=$(free_port)
        set_port postgres-primary "$primary_port"
        set_port postgres-replica "$replica_port"
        rm -rf "$DIR/postgres"
        pair=$(nf_start_replicated_postgres "$primary_port" "$replica_port" "$DIR/postgres") \
            || die "the primary and its replica did not start; see $DIR/postgres/*/server.log"
        CLUSTER_PG=${pair%% *}
        local replica=${pair##* } shard_replicas=()
        for i in $(seq 0 $((SHARDS - 1))); do shard_replicas+=("$replica/${DB}_shard_$i"); done
        replica_env="NIMBUS__STORAGE__SHARD_REPLICA_URLS='$(IFS=';'; echo "${shard_replicas[*]}")'
NIMBUS__STORAGE__CATALOG_REPLICA_URLS=$replica/${DB}_catalog"
    fi
    local pg=$CLUSTER_PG shards=() secret
    for i in $(seq 0 $((SHARDS - 1))); do shards+=("$pg/${DB}_shard_$i"); done
    secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
    (
        umask 077
        cat >"$DIR/nimbus.env" <<EOF
NIMBUS__STORAGE__CATALOG_URL=$pg/${DB}_catalog
NIMBUS__STORAGE__SHARD_URLS=$(IFS=,; echo "${shards[*]}")
NIMBUS__STORAGE__MAX_CONNECTIONS=${NF_CLUSTER_DB_POOL:-2}
NIMBUS__STORAGE__DATA_DIR=$DIR/data
NIMBUS__AUTH__JWT_SECRET=$secret
NIMBUS__REDIS__URL=redis://127.0.0.1:$(port_of redis)/0
NIMBUS__KAFKA__BROKERS=127.0.0.1:$(port_of tansu)
NIMBUS__SERVER__TRUST_FORWARDED_FOR=true
NIMBUS__SERVER__DASHBOARD_DIR=$REPO/frontend/dist
EOF
        [ -z "$replica_env" ] || echo "$replica_env" >>"$DIR/nimbus.env"
    )
    echo "NIMBUS_TEST_TANSU_BIN=$NIMBUS_TEST_TANSU_BIN" >"$DIR/tools"
    echo "NGINX=$NGINX" >>"$DIR/tools"

    log "fresh databases ${DB}_catalog and ${DB}_shard_0..$((SHARDS - 1)) on $pg"
    fresh_databases
    start redis && wait_ready redis 20
    start tansu && wait_ready tansu 30
    log "topics ($PARTITIONS partitions)"
    local deadline=$((SECONDS + 30))
    until run_bin admin create-topics --partitions "$PARTITIONS" >>"$(logfile admin)" 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "could not create the topics; see $(logfile admin)"
        sleep 1
    done
    log "migrations"
    run_bin migrate >>"$(logfile admin)" 2>&1 || die "migrations failed; see $(logfile admin)"

    # The first replica creates the demo organisation before the others start, so that
    # they find it instead of racing to create it.
    start api-1
    wait_ready api-1
    deadline=$((SECONDS + 60))
    until grep -q 'Demo organisation' "$(logfile api-1)"; do
        [ "$SECONDS" -lt "$deadline" ] || die "api-1 did not create the demo organisation; see $(logfile api-1)"
        alive_pid api-1 >/dev/null || die "api-1 exited; see $(logfile api-1)"
        sleep 0.2
    done
    for name in $(names | grep -v -e '^redis$' -e '^tansu$' -e '^api-1$' -e '^nginx$'); do start "$name"; done
    for name in $(names | grep -v -e '^redis$' -e '^tansu$' -e '^api-1$' -e '^nginx$'); do wait_ready "$name"; done
    start nginx
    wait_ready nginx 20
    summary
}

# The binary once, in the foreground, with the cluster's settings.
run_bin() {
    (
        cd "$DIR"
        set -a
        # shellcheck disable=SC1091
        . "$DIR/nimbus.env"
        set +a
        unset RUST_LOG
        "$BIN" "$@"
    )
}

summary() {
    local url
    url="http://127.0.0.1:$(port_of nginx)"
    cat <<EOF

NimbusFleet cluster is running behind nginx at $url/
  dashboard: $url/        API docs: $url/docs/        API: $url/api/v1/
  demo logins (every replica runs --demo):
    admin     admin@demo.nimbusfleet.local     password: demo-admin-password
    operator  operator@demo.nimbusfleet.local  password: demo-operator-password
    viewer    viewer@demo.nimbusfleet.local    password: demo-viewer-password
  logs: $DIR/logs/<process>.log (nginx: nginx-access.log, nginx-error.log)
  make cluster-status    each process, its port and readiness
  make cluster-down      stop everything
EOF
    status
}

status() {
    [ -f "$DIR/ports" ] || { echo "no cluster in $DIR"; return 0; }
    local name pid port ready
    printf '%-10s %-8s %-6s %-12s %s\n' process pid port ready log
    for name in $(names); do
        port=$(port_of "$name" || echo -)
        if pid=$(alive_pid "$name"); then
            case "$name" in
                redis|tansu) if is_ready "$name"; then ready=up; else ready=down; fi ;;
                *) ready=$(http_status "$(ready_url "$name")") ;;
            esac
        else
            pid=- ready=stopped
        fi
        local file
        file=$(logfile "$name")
        [ "$name" = nginx ] && file="$DIR/logs/nginx-access.log, nginx-error.log"
        printf '%-10s %-8s %-6s %-12s %s\n' "$name" "$pid" "$port" "$ready" "$file"
    done
    if [ -f "$DIR/nimbus.env" ]; then
        local where="the machine's server, not stopped by down"
        if grep -q '^NIMBUS__STORAGE__SHARD_REPLICA_URLS=' "$DIR/nimbus.env"; then
            where="a private primary on port $(port_of postgres-primary) and its streaming replica on $(port_of postgres-replica), stopped by down"
        fi
        printf '%-10s %-8s %-6s %-12s %s\n' postgres - - \
            "$(psql "$(sed -n 's/^NIMBUS__STORAGE__CATALOG_URL=//p' "$DIR/nimbus.env")" -Atqc 'select 1' 2>/dev/null | grep -q 1 && echo up || echo down)" \
            "${DB}_catalog, ${DB}_shard_0..$((SHARDS - 1)) ($where)"
    fi
}

down() {
    [ -d "$DIR/run" ] || { log "no cluster in $DIR"; return 0; }
    local tier name all
    all=$(names)
    # nginx first (no new requests), then the replicas (they drain and answer what they
    # hold), the workers (they write the batch in hand and commit), the broker and Redis.
    for tier in '^nginx$' '^api-' '^ingest-' '^tansu$' '^redis$'; do
        while read -r name; do
            if alive_pid "$name" >/dev/null; then
                log "stopping $name"
                stop "$name" &
            fi
        done < <(grep -e "$tier" <<<"$all")
        wait
    done
    local left=()
    for name in $all; do alive_pid "$name" >/dev/null && left+=("$name"); done
    [ ${#left[@]} -eq 0 ] || die "still running: ${left[*]}"
    if [ -d "$DIR/postgres" ]; then
        log "stopping the private primary and its replica"
        # shellcheck source=scripts/private-postgres.sh disable=SC1091
        . "$REPO/scripts/private-postgres.sh"
        nf_stop_replicated_postgres "$DIR/postgres"
    fi
    log "stopped; logs stay in $DIR/logs"
}

load_tools() {
    [ -f "$DIR/tools" ] || die "no cluster in $DIR (scripts/cluster.sh up)"
    # shellcheck disable=SC1091
    . "$DIR/tools"
}

command=${1:-}
case "$command" in
    up) up ;;
    down) down ;;
    status) status ;;
    start) load_tools; start "$2"; wait_ready "$2" ;;
    stop) stop "$2" ;;
    kill) stop "$2" KILL ;;
    restart) load_tools; stop "$2"; start "$2"; wait_ready "$2" ;;
    pid) alive_pid "$2" ;;
    port) port_of "$2" ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
