#!/bin/sh
# One-shot job (temporalio/admin-tools image): creates Temporal's PostgreSQL databases and brings
# their schemas to the version shipped in this admin-tools image. Idempotent: `create` ignores an
# existing database, `setup-schema -v 0.0` only adds the version tables when they are missing, and
# `update-schema` applies only the versions not applied yet. Run it again (same image tag as the
# server) after upgrading Temporal.
#
# Environment: POSTGRES_SEEDS, DB_PORT, POSTGRES_USER, POSTGRES_PWD (the names the server image
# uses), TEMPORAL_DBNAME, TEMPORAL_VISIBILITY_DBNAME.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${POSTGRES_PWD:?POSTGRES_PWD is required}"
DB_PORT="${DB_PORT:-5432}"
SCHEMA_DIR="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"

# temporal-sql-tool reads its password from SQL_PASSWORD (flag --password/--pw); keeping it out of
# the command line keeps it out of `ps`.
export SQL_PASSWORD="$POSTGRES_PWD"

echo "waiting for PostgreSQL at ${POSTGRES_SEEDS}:${DB_PORT}"
i=0
until nc -z -w 5 "$POSTGRES_SEEDS" "$DB_PORT"; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then echo "PostgreSQL is not reachable" >&2; exit 1; fi
  sleep 2
done

sql_tool() {
  temporal-sql-tool --plugin postgres12 --endpoint "$POSTGRES_SEEDS" --port "$DB_PORT" \
    --user "$POSTGRES_USER" "$@"
}

setup_db() {
  db="$1"
  dir="$2"
  echo "== $db: create database, version tables, schema updates from $dir"
  sql_tool --database "$db" create-database
  sql_tool --database "$db" setup-schema -v 0.0
  sql_tool --database "$db" update-schema -d "$dir"
}

setup_db "${TEMPORAL_DBNAME:-temporal}" "$SCHEMA_DIR/temporal/versioned"
setup_db "${TEMPORAL_VISIBILITY_DBNAME:-temporal_visibility}" "$SCHEMA_DIR/visibility/versioned"
echo "Temporal schemas are up to date"
