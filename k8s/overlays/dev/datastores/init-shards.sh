#!/usr/bin/env bash
# Creates NimbusFleet's role and databases in the TimescaleDB container of docker-compose.yml.
#
# The image's entrypoint runs every script in /docker-entrypoint-initdb.d once, on the first
# start with an empty data volume, as the `postgres` superuser, after its own scripts have
# installed TimescaleDB (000_…, 001_…; this one is mounted as 10-nimbus-shards.sh). Later
# starts skip it: to start over, `docker compose down -v` (deletes every database).
#
# It creates:
#   - the login role $NIMBUS_DB_USER (password $NIMBUS_DB_PASSWORD), not a superuser;
#   - nimbus_catalog and nimbus_shard_0 … nimbus_shard_<N-1> (N = $NIMBUS_SHARD_COUNT,
#     default 4), owned by that role, so its migrations can create and alter tables;
#   - the timescaledb extension in each shard. Creating an extension needs the superuser;
#     the migrations' own `CREATE EXTENSION IF NOT EXISTS timescaledb` then finds it
#     installed and turns telemetry into a hypertable.
#
# The shard count must match the number of NIMBUS__STORAGE__SHARD_URLS in docker-compose.yml.
# Every statement is idempotent, so running the script again by hand is harmless:
#   docker compose exec -e NIMBUS_DB_USER=nimbus -e NIMBUS_DB_PASSWORD=… postgres \
#     bash /docker-entrypoint-initdb.d/10-nimbus-shards.sh
set -euo pipefail

: "${NIMBUS_DB_USER:?NIMBUS_DB_USER is not set}"
: "${NIMBUS_DB_PASSWORD:?NIMBUS_DB_PASSWORD is not set}"
shards=${NIMBUS_SHARD_COUNT:-4}
case "$shards" in
    '' | *[!0-9]* | 0) echo "init-shards: NIMBUS_SHARD_COUNT must be a positive number, not '$shards'" >&2; exit 1 ;;
esac

# psql as the superuser over the entrypoint's local socket; stop at the first error.
# Values travel as psql variables (:'name' quotes a literal, :"name" an identifier), so
# that no password or name is ever spliced into SQL text.
sql() {
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
        --username "${POSTGRES_USER:-postgres}" \
        -v role="$NIMBUS_DB_USER" -v password="$NIMBUS_DB_PASSWORD" "$@"
}

echo "init-shards: role $NIMBUS_DB_USER"
sql --dbname postgres <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
SQL

databases=(nimbus_catalog)
for ((i = 0; i < shards; i++)); do
    databases+=("nimbus_shard_$i")
done

for db in "${databases[@]}"; do
    echo "init-shards: database $db"
    sql --dbname postgres -v db="$db" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
ALTER DATABASE :"db" OWNER TO :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT ALL ON DATABASE :"db" TO :"role";
SQL
    if [[ $db == nimbus_shard_* ]]; then
        # Only when the server can load it (the TimescaleDB image preloads it); without
        # it the migrations fall back to native range partitions.
        sql --dbname "$db" <<'SQL'
SELECT 'CREATE EXTENSION IF NOT EXISTS timescaledb'
WHERE EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
  AND current_setting('shared_preload_libraries') LIKE '%timescaledb%' \gexec
SQL
    fi
    # PostgreSQL 15+ lets only the database owner create objects in `public`; say so
    # explicitly for older servers too.
    sql --dbname "$db" <<'SQL'
ALTER SCHEMA public OWNER TO :"role";
SQL
done

echo "init-shards: ${#databases[@]} databases ready for $NIMBUS_DB_USER"
