#!/bin/sh
# The chatd-db-setup job (docker-compose.yml), on every `up`: makes chatd's database role and
# database what chatd needs and nothing more. The role ($CHATD_DB_USER) logs in with
# $CHATD_DB_PASSWORD, owns the database ($CHATD_DB_NAME) and every object in it, and is NOT a
# superuser: no CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS and no role memberships (so no
# pg_execute_server_program / pg_read_server_files), so a leaked DATABASE_URL cannot run programs
# on the server (COPY … FROM PROGRAM), read its files or touch other roles. Connects as the
# superuser ($PGUSER / $PGPASSWORD at $PGHOST). Idempotent: also re-applies a changed password.
#
# Volumes created before this job existed have chatd's role as their superuser (then named by
# POSTGRES_USER, default `chatd`): set POSTGRES_USER to that role and CHATD_DB_USER to a new name
# (e.g. chatd_app); this job then hands the database and its objects to the new role.

set -eu
: "${CHATD_DB_PASSWORD:?CHATD_DB_PASSWORD must be set}"
APP_USER="${CHATD_DB_USER:-chatd}"
APP_DB="${CHATD_DB_NAME:-chatd}"

# psql variables (:'name' is a quoted literal) keep the values safely quoted; %I / %L quote again
# for the generated statements.
psql -v ON_ERROR_STOP=1 --dbname postgres \
  -v app_user="$APP_USER" -v app_password="$CHATD_DB_PASSWORD" -v app_db="$APP_DB" <<'SQL'
SELECT set_config('chatd.app_user', :'app_user', false);
DO $$
BEGIN
  IF current_setting('chatd.app_user') = current_user
     OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_setting('chatd.app_user') AND rolsuper) THEN
    RAISE EXCEPTION 'CHATD_DB_USER (%) is a superuser; chatd must connect as a role that is not: set CHATD_DB_USER to a new role name (see .env.example)',
      current_setting('chatd.app_user');
  END IF;
END
$$;
SELECT format('CREATE ROLE %I', :'app_user')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user')
\gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L',
              :'app_user', :'app_password')
\gexec
SELECT format('REVOKE %I FROM %I', r.rolname, :'app_user')
  FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
 WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = :'app_user')
\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_user')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'app_db')
\gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'app_db', :'app_user')
\gexec
SQL

# Inside the database: what the superuser owns there (a database from before this job, migrated
# as the superuser) goes to the role. Owned sequences follow their tables.
psql -v ON_ERROR_STOP=1 --dbname "$APP_DB" -v app_user="$APP_USER" <<'SQL'
WITH own AS (SELECT current_user::text::regrole::oid AS oid),
user_ns AS (
  SELECT oid, nspname, nspowner FROM pg_namespace
   WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
)
SELECT format('ALTER SCHEMA %I OWNER TO %I', n.nspname, :'app_user')
  FROM user_ns n, own WHERE n.nspowner = own.oid
UNION ALL
SELECT format('ALTER %s %s OWNER TO %I',
    CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                   WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
    c.oid::regclass, :'app_user')
  FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace, own
 WHERE c.relowner = own.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND NOT (c.relkind = 'S' AND EXISTS (
     SELECT 1 FROM pg_depend d
      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
UNION ALL
SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, :'app_user')
  FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace, own WHERE p.proowner = own.oid
UNION ALL
SELECT format('ALTER TYPE %s OWNER TO %I', t.oid::regtype, :'app_user')
  FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace, own
 WHERE t.typowner = own.oid AND t.typtype IN ('e', 'd', 'r', 'c')
   AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
\gexec
SQL
echo "chatd-db-setup.sh: role ${APP_USER} (not a superuser) owns database ${APP_DB}"
