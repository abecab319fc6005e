#!/usr/bin/env bash
# Sourced by test and bench scripts: throwaway PostgreSQL clusters run by private postmasters
# beside the machine's own server on 5432 (which is left alone), from Debian's server binaries.
#
#   nf_pg_bindir                                 the newest installed server's bin directory
#   nf_pg_start PORT DATADIR [postgres -c …]     initdb's DATADIR when it holds no cluster and
#                                                starts a postmaster on 127.0.0.1:PORT
#   nf_pg_stop DATADIR                           stops it (fast shutdown)
#   nf_start_replicated_postgres PRIMARY_PORT REPLICA_PORT DIR
#                                                a primary and a streaming replica of it
#                                                (pg_basebackup), echoes both URLs on one line
#   nf_stop_replicated_postgres DIR              stops both
#
# Every cluster trusts local connections and runs with fsync off: test data only.

nf_pg_log() { printf '[postgres] %s\n' "$*" >&2; }

nf_pg_bindir() {
    local bindir
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$bindir" ] && [ -x "$bindir/postgres" ] || { nf_pg_log "no PostgreSQL server binaries under /usr/lib/postgresql"; return 1; }
    printf '%s\n' "$bindir"
}

# Runs a server binary as the postgres user when the caller is root (initdb refuses root).
nf_pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

nf_pg_start() {
    local port=${1:?usage: nf_pg_start PORT DATADIR [-c name=value …]}
    local dir=${2:?usage: nf_pg_start PORT DATADIR [-c name=value …]}
    shift 2
    local bindir
    bindir=$(nf_pg_bindir) || return 1
    if [ ! -f "$dir/PG_VERSION" ]; then
        nf_pg_log "creating a throwaway PostgreSQL cluster in $dir"
        rm -rf "$dir" && mkdir -p "$dir" || return 1
        [ "$(id -u)" = 0 ] && chown postgres "$dir"
        nf_pg_as_owner "$bindir/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >/dev/null || return 1
    fi
    # The socket goes in the temporary directory: inside the cluster, pg_basebackup meets it.
    nf_pg_as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -o "-p $port -k ${TMPDIR:-/tmp} \
        -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off $*" start >/dev/null \
        || { nf_pg_log "postmaster did not start; see $dir/server.log"; return 1; }
}

nf_pg_stop() {
    local dir=${1:?usage: nf_pg_stop DATADIR} bindir
    [ -f "$dir/postmaster.pid" ] || return 0
    bindir=$(nf_pg_bindir) || return 1
    nf_pg_as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
}

nf_start_replicated_postgres() {
    local usage="usage: nf_start_replicated_postgres PRIMARY_PORT REPLICA_PORT DIR"
    local primary_port=${1:?$usage} replica_port=${2:?$usage} dir=${3:?$usage} bindir
    local primary="postgres://postgres@127.0.0.1:$primary_port"
    local replica="postgres://postgres@127.0.0.1:$replica_port"
    bindir=$(nf_pg_bindir) || return 1
    if psql "$primary/postgres" -Atqc 'select 1' >/dev/null 2>&1 \
        && [ "$(psql "$replica/postgres" -Atqc 'select pg_is_in_recovery()' 2>/dev/null)" = t ]; then
        nf_pg_log "reusing the primary at $primary and its replica at $replica"
        echo "$primary $replica"
        return 0
    fi
    mkdir -p "$dir" && { [ "$(id -u)" != 0 ] || chown postgres "$dir"; } || return 1
    # wal_level=replica and 10 WAL senders are PostgreSQL's defaults; initdb's pg_hba.conf
    # trusts local replication connections.
    nf_pg_start "$primary_port" "$dir/primary" -c wal_level=replica || return 1
    if [ ! -f "$dir/replica/PG_VERSION" ]; then
        rm -rf "$dir/replica"
        nf_pg_log "copying the primary into a streaming replica (pg_basebackup)"
        nf_pg_as_owner "$bindir/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres \
            -D "$dir/replica" -X stream -R -c fast >/dev/null || return 1
    fi
    nf_pg_start "$replica_port" "$dir/replica" -c hot_standby=on -c hot_standby_feedback=on || return 1
    nf_pg_log "primary $primary, streaming replica $replica"
    echo "$primary $replica"
}

nf_stop_replicated_postgres() {
    local dir=${1:?usage: nf_stop_replicated_postgres DIR}
    nf_pg_stop "$dir/replica"
    nf_pg_stop "$dir/primary"
}
