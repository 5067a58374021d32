#!/bin/sh
# Runs once, when the official postgres image initialises an empty data directory (it runs every
# *.sh / *.sql in /docker-entrypoint-initdb.d). The image itself creates the superuser
# $POSTGRES_USER and the database $POSTGRES_DB (chatd's); this adds the role Temporal uses. Temporal's
# two databases (temporal, temporal_visibility) are created by the temporal-schema job, as that
# role, which is why it gets CREATEDB.
#
# The entrypoint executes this file when it is executable and sources it otherwise, so it sets no
# shell options and fails through `exit` only.
#
# Changing TEMPORAL_DB_PASSWORD later does NOT update an existing volume: run
#   ALTER ROLE temporal PASSWORD '…';
# in psql, or recreate the volume.

if [ -z "${TEMPORAL_DB_PASSWORD:-}" ]; then
  echo "10-temporal-role.sh: TEMPORAL_DB_PASSWORD must be set for the postgres service" >&2
  exit 1
fi

# psql variables (:'name' is a quoted literal) keep the values safely quoted; %I / %L quote again
# for the generated statement.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v temporal_user="${TEMPORAL_DB_USER:-temporal}" -v temporal_password="$TEMPORAL_DB_PASSWORD" <<'SQL' || exit 1
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'temporal_user', :'temporal_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'temporal_user')
\gexec
SQL
echo "10-temporal-role.sh: role ${TEMPORAL_DB_USER:-temporal} is ready"
