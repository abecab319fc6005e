#!/usr/bin/env bash
# Sourced by test and bench scripts that need TimescaleDB (hypertables, create_hypertable,
# show_chunks, drop_chunks, time_bucket) on the machine's Debian PostgreSQL.
#
# Neither Debian 12 (bookworm) nor PyPI, npm or crates.io ship a native TimescaleDB build for
# PostgreSQL 15, but Debian 13 (trixie) packages TimescaleDB's source ("timescaledb" source
# package, built there for PostgreSQL 17 only). Its upstream tarball is fetched from the
# Debian mirror by a pinned version with a sha256 check and built against the local server.
# It is the "+dfsg" tarball: Debian strips the TSL-licensed directory, so this is the
# Apache-2 edition (no compression, no retention/refresh policies, no continuous aggregates).
# The private postmaster comes from scripts/private-postgres.sh, sourced here.
#
#   nf_ensure_timescaledb                       installs what is missing (idempotent)
#   nf_start_timescaledb_postgres PORT DATADIR  private postmaster with timescaledb preloaded;
#                                               echoes its URL (postgres://postgres@127.0.0.1:PORT)
#
# The machine's own server on 5432 is left alone: TimescaleDB only works when it is in
# shared_preload_libraries, so tests use a private postmaster started with the second function.

# shellcheck source=scripts/private-postgres.sh
. "$(dirname "${BASH_SOURCE[0]}")/private-postgres.sh"

NF_TSDB_VERSION=2.19.3
NF_TSDB_SRC_VERSION=2.19.3+dfsg
NF_TSDB_SRC_SHA256=09fd11191768c220b071f61a108df9bd1df5522fbe4e7c2229f30f69b195454a
NF_TSDB_MIRROR=${NF_TSDB_MIRROR:-http://deb.debian.org/debian}

nf_tsdb_log() { printf '[timescaledb] %s\n' "$*" >&2; }

# The newest PostgreSQL whose server binaries are installed (15 on the usual machine).
nf_tsdb_pg_config() {
    local bindir
    bindir=$(nf_pg_bindir) || return 1
    printf '%s\n' "$bindir/pg_config"
}

nf_tsdb_installed() {
    local pgc=$1 libdir sharedir
    [ -x "$pgc" ] || return 1
    libdir=$("$pgc" --pkglibdir) && sharedir=$("$pgc" --sharedir) || return 1
    [ -f "$libdir/timescaledb-$NF_TSDB_VERSION.so" ] && [ -f "$libdir/timescaledb.so" ] \
        && [ -f "$sharedir/extension/timescaledb--$NF_TSDB_VERSION.sql" ] \
        && grep -q "default_version = '$NF_TSDB_VERSION'" "$sharedir/extension/timescaledb.control" 2>/dev/null
}

nf_ensure_timescaledb() {
    local t0=$SECONDS pgc major
    pgc=$(nf_tsdb_pg_config) || return 1
    major=$("$pgc" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
    if nf_tsdb_installed "$pgc"; then
        nf_tsdb_log "TimescaleDB $NF_TSDB_VERSION is installed for PostgreSQL $major"
        return 0
    fi
    case $major in 14|15|16|17) ;; *)
        nf_tsdb_log "TimescaleDB $NF_TSDB_VERSION supports PostgreSQL 14-17, found $major"; return 1 ;;
    esac

    # Build tools and server headers, from Debian's packages.
    local missing=()
    [ -f "/usr/include/postgresql/$major/server/postgres.h" ] || missing+=("postgresql-server-dev-$major")
    command -v cmake >/dev/null || missing+=(cmake)
    command -v gcc >/dev/null || missing+=(gcc)
    command -v make >/dev/null || missing+=(make)
    command -v curl >/dev/null || missing+=(curl)
    command -v xz >/dev/null || missing+=(xz-utils)
    if [ ${#missing[@]} -gt 0 ]; then
        command -v apt-get >/dev/null || { nf_tsdb_log "missing: ${missing[*]}; install them and retry"; return 1; }
        nf_tsdb_log "installing from Debian's packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # --no-install-recommends keeps the server package itself from being touched.
        apt-get update -qq >/dev/null \
            && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || return 1
    fi

    # Source tarball, cached per machine.
    local cache=${NF_TSDB_CACHE:-$HOME/.cache/nimbusfleet/timescaledb}
    local tarball="$cache/timescaledb_$NF_TSDB_SRC_VERSION.orig.tar.xz"
    mkdir -p "$cache" || return 1
    if ! echo "$NF_TSDB_SRC_SHA256  $tarball" | sha256sum -c --status 2>/dev/null; then
        nf_tsdb_log "downloading the TimescaleDB $NF_TSDB_SRC_VERSION source from Debian's archive"
        curl -sSfL --retry 3 -o "$tarball.part" \
            "$NF_TSDB_MIRROR/pool/main/t/timescaledb/timescaledb_$NF_TSDB_SRC_VERSION.orig.tar.xz" \
            || { rm -f "$tarball.part"; nf_tsdb_log "download failed"; return 1; }
        if ! echo "$NF_TSDB_SRC_SHA256  $tarball.part" | sha256sum -c --status; then
            rm -f "$tarball.part"
            nf_tsdb_log "sha256 mismatch for timescaledb_$NF_TSDB_SRC_VERSION.orig.tar.xz"
            return 1
        fi
        mv "$tarball.part" "$tarball"
    fi

    # Build with one job (the machine has two cores and is usually busy) and install.
    local work
    work=$(mktemp -d "${TMPDIR:-/tmp}/nf-timescaledb.XXXXXX") || return 1
    nf_tsdb_log "building TimescaleDB $NF_TSDB_VERSION (Apache-2 edition) for PostgreSQL $major"
    # (set -e does not apply inside an if condition, hence the && chain)
    if ! (
        tar -xJf "$tarball" -C "$work" \
        && cd "$work/timescaledb-$NF_TSDB_VERSION" \
        && BUILD_DIR=build ./bootstrap -DPG_CONFIG="$pgc" -DCMAKE_BUILD_TYPE=Release \
            -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
            -DSEND_TELEMETRY_DEFAULT=OFF -DUSE_TELEMETRY=OFF >"$work/configure.log" 2>&1 \
        && make -C build -j"${NF_TSDB_JOBS:-1}" >"$work/build.log" 2>&1 \
        && make -C build install >"$work/install.log" 2>&1
    ); then
        nf_tsdb_log "build failed; logs kept in $work"
        return 1
    fi
    rm -rf "$work"
    nf_tsdb_installed "$pgc" || { nf_tsdb_log "install did not produce the expected files"; return 1; }
    nf_tsdb_log "TimescaleDB $NF_TSDB_VERSION installed for PostgreSQL $major in $((SECONDS - t0)) s"
}

# nf_start_timescaledb_postgres PORT DATADIR: initdb's DATADIR when it holds no cluster, starts a
# postmaster on 127.0.0.1:PORT with timescaledb preloaded (or reuses one already answering there)
# and echoes its URL. Stop it with nf_stop_timescaledb_postgres DATADIR.
nf_start_timescaledb_postgres() {
    local port=${1:?usage: nf_start_timescaledb_postgres PORT DATADIR}
    local dir=${2:?usage: nf_start_timescaledb_postgres PORT DATADIR}
    local url="postgres://postgres@127.0.0.1:$port"
    nf_ensure_timescaledb || return 1
    if psql "$url/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
        if psql "$url/postgres" -Atqc 'show shared_preload_libraries' 2>/dev/null | grep -q timescaledb; then
            nf_tsdb_log "reusing the postmaster with timescaledb at $url"
            echo "$url"
            return 0
        fi
        nf_tsdb_log "port $port is taken by a server without timescaledb preloaded"
        return 1
    fi
    nf_pg_start "$port" "$dir" -c shared_preload_libraries=timescaledb || return 1
    nf_tsdb_log "PostgreSQL with TimescaleDB $NF_TSDB_VERSION: $url"
    echo "$url"
}

# nf_stop_timescaledb_postgres DATADIR: stops the postmaster nf_start_timescaledb_postgres started.
nf_stop_timescaledb_postgres() {
    nf_pg_stop "${1:?usage: nf_stop_timescaledb_postgres DATADIR}"
}
