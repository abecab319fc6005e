#!/usr/bin/env bash
# Sourced by scripts/test.sh and bench scripts: makes sure a PostgreSQL server that the tests
# can use is running and exports NIMBUS_TEST_PG_URL (a base URL without database name).
#
# 1. a server already listening on 127.0.0.1:5432 with trust auth for `postgres` (the
#    usual developer and CI machine) is used as it is;
# 2. otherwise a throwaway cluster is created with initdb under $NF_PG_DIR and started on
#    port 55432 (PostgreSQL is installed from Debian's packages first when missing).

nf_log() { printf '[test-env] %s\n' "$*" >&2; }

nf_pg_ok() { psql "$1/postgres" -Atqc 'select 1' >/dev/null 2>&1; }

nf_install_postgres() {
    if ! command -v apt-get >/dev/null; then
        nf_log "PostgreSQL is missing and apt-get is not available; install PostgreSQL 13+ and retry"
        return 1
    fi
    nf_log "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq postgresql postgresql-client >/dev/null
}

nf_pg_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

nf_start_throwaway_cluster() {
    local bindir dir port=55432
    bindir=$(nf_pg_bindir)
    [ -n "$bindir" ] || { nf_install_postgres && bindir=$(nf_pg_bindir); }
    [ -n "$bindir" ] || { nf_log "no PostgreSQL binaries found"; return 1; }
    dir=${NF_PG_DIR:-/tmp/nimbusfleet-pg}
    local url="postgres://postgres@127.0.0.1:$port"
    if nf_pg_ok "$url"; then NIMBUS_TEST_PG_URL=$url; return 0; fi
    local run_as=()
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
        run_as=(runuser -u postgres --)
    fi
    if [ ! -f "$dir/PG_VERSION" ]; then
        nf_log "creating a throwaway PostgreSQL cluster in $dir"
        rm -rf "$dir" && mkdir -p "$dir"
        [ "$(id -u)" = 0 ] && chown postgres "$dir"
        "${run_as[@]}" "$bindir/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    "${run_as[@]}" "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
        -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null
    NIMBUS_TEST_PG_URL=$url
}

nf_ensure_postgres() {
    local url=${NIMBUS_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}
    command -v psql >/dev/null || nf_install_postgres || return 1
    if ! nf_pg_ok "$url" && [ -z "${NIMBUS_TEST_PG_URL:-}" ]; then
        # The machine's own server may just be stopped.
        if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
            for v in $(ls /etc/postgresql); do
                pg_ctlcluster --skip-systemctl-redirect "$v" main start >/dev/null 2>&1 || true
            done
            sleep 1
        fi
    fi
    if nf_pg_ok "$url"; then
        NIMBUS_TEST_PG_URL=$url
    else
        nf_log "no usable PostgreSQL at $url; starting a throwaway cluster"
        nf_start_throwaway_cluster || return 1
    fi
    export NIMBUS_TEST_PG_URL
    nf_log "PostgreSQL: $NIMBUS_TEST_PG_URL ($(psql "$NIMBUS_TEST_PG_URL/postgres" -Atqc 'show server_version'))"
}

# Drops databases that earlier test runs left behind (every test creates its own).
nf_drop_test_databases() {
    local db
    for db in $(psql "$NIMBUS_TEST_PG_URL/postgres" -Atqc \
        "select datname from pg_database where datname like 'nft\_%' or datname like 'nf\_test\_%'"); do
        psql "$NIMBUS_TEST_PG_URL/postgres" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true
    done
}

nf_redis_ok() { redis-cli -u "$1" ping 2>/dev/null | grep -q PONG; }

# Makes sure redis-server is installed (tests also start private instances of it) and that
# one answers at NIMBUS_TEST_REDIS_URL (default: 127.0.0.1:6379, started if needed).
nf_ensure_redis() {
    local url=${NIMBUS_TEST_REDIS_URL:-redis://127.0.0.1:6379}
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        command -v apt-get >/dev/null || { nf_log "redis-server is missing; install Redis 7 and retry"; return 1; }
        nf_log "installing Redis from Debian's packages"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null
    fi
    if ! nf_redis_ok "$url"; then
        local port=${url##*:}
        port=${port%%/*}
        nf_log "starting redis-server on port $port"
        redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
            --logfile /tmp/nimbusfleet-redis.log >/dev/null
        for _ in $(seq 50); do nf_redis_ok "$url" && break; sleep 0.1; done
    fi
    nf_redis_ok "$url" || { nf_log "Redis does not answer at $url"; return 1; }
    export NIMBUS_TEST_REDIS_URL=$url
    nf_log "Redis: $url ($(redis-cli -u "$url" info server | grep -m1 redis_version | tr -d '\r'))"
}

# rdkafka builds librdkafka from source with CMake (its `cmake-build` feature); Debian's
# packaged librdkafka is too old. Installs the build tools when they are missing.
nf_ensure_build_deps() {
    local missing=()
    command -v cmake >/dev/null || missing+=(cmake)
    command -v g++ >/dev/null || missing+=(g++)
    command -v make >/dev/null || missing+=(make)
    [ -e /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -e /usr/include/curl/curl.h ] \
        || [ -e /usr/include/aarch64-linux-gnu/curl/curl.h ] || missing+=(libcurl4-openssl-dev)
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || { nf_log "missing build tools: ${missing[*]}; install them and retry"; return 1; }
    nf_log "installing build tools from Debian's packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The Kafka-compatible broker the Kafka tests start privately (one per test): tansu from
# crates.io, built once per machine into a cache directory (about 15 minutes the first time).
NF_TANSU_VERSION=0.6.0
nf_ensure_tansu() {
    local root=${NF_TANSU_ROOT:-$HOME/.cache/nimbusfleet/tansu}
    local bin=$root/bin/tansu
    if ! "$bin" --version 2>/dev/null | grep -q "tansu $NF_TANSU_VERSION"; then
        nf_log "installing tansu $NF_TANSU_VERSION into $root (once per machine; about 15 minutes)"
        CARGO_TARGET_DIR="$root/build" cargo install --quiet --root "$root" tansu \
            --version "$NF_TANSU_VERSION" --locked --features libsql
        rm -rf "$root/build"
    fi
    export NIMBUS_TEST_TANSU_BIN=$bin
    nf_log "Kafka broker for tests: $("$bin" --version)"
}

# An S3-compatible object store for the archive tests: moto's server from PyPI (5.x, pinned),
# in a virtualenv of the cache directory, installed once per machine (about 30 s).
NF_MOTO_VERSION=5.2.5
nf_ensure_s3() {
    local root=${NF_MOTO_ROOT:-$HOME/.cache/nimbusfleet/moto}
    if ! "$root/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$NF_MOTO_VERSION')" 2>/dev/null; then
        nf_log "installing moto $NF_MOTO_VERSION (an S3-compatible server) into $root"
        python3 -m venv "$root"
        "$root/bin/pip" install --quiet "moto[server]==$NF_MOTO_VERSION"
    fi
    NF_MOTO_BIN=$root/bin/moto_server
}

# Starts the S3-compatible server on 127.0.0.1:PORT in the background and prints its
# endpoint once it answers; nf_stop_s3 stops it.
NF_S3_PIDFILE=${TMPDIR:-/tmp}/nimbusfleet-test-s3.pid
nf_start_s3() {
    local port=$1 log=${TMPDIR:-/tmp}/nimbusfleet-test-s3.log
    nf_ensure_s3
    "$NF_MOTO_BIN" -H 127.0.0.1 -p "$port" >"$log" 2>&1 </dev/null &
    echo $! >"$NF_S3_PIDFILE"
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null; then
            echo "http://127.0.0.1:$port"
            return 0
        fi
        sleep 0.2
    done
    nf_log "the S3-compatible server did not start on port $port: $(tail -5 "$log")"
    return 1
}

nf_stop_s3() {
    if [ -f "$NF_S3_PIDFILE" ]; then
        kill "$(cat "$NF_S3_PIDFILE")" 2>/dev/null || true
        rm -f "$NF_S3_PIDFILE"
    fi
}

# Node.js 20+ with npm, for the dashboard (Debian's package when missing or too old).
nf_ensure_node() {
    local major
    major=$(node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/')
    if [ -n "$major" ] && [ "$major" -ge 20 ] && command -v npm >/dev/null; then
        return 0
    fi
    command -v apt-get >/dev/null || { nf_log "Node.js 20+ and npm are needed for the dashboard"; return 1; }
    nf_log "installing Node.js and npm from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq nodejs npm >/dev/null
}
