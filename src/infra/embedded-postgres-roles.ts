/**
 * Credentials and roles of the embedded PostgreSQL. Each data directory gets its own random
 * superuser password and an application role (`chatd`) that owns chatd's database but is not a
 * superuser, both kept in a 0600 file inside the data directory. chatd's processes connect as the
 * application role, so a leaked connection string cannot run `COPY … FROM PROGRAM`, read server
 * files or alter other roles. Data directories initialised with the old fixed superuser password
 * are moved to random passwords on their next start. Split from embedded-postgres.ts, which owns
 * the server process.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Client } from 'pg';

/** The superuser initdb creates. */
export const SUPERUSER = 'postgres';
/** The role chatd's own processes connect as. */
export const APP_ROLE = 'chatd';
/** The superuser password of data directories created before passwords were random. */
export const LEGACY_SUPERUSER_PASSWORD = 'chatd';
/** Name of the credentials file inside the data directory. */
export const CREDENTIALS_FILE = 'chatd-credentials.json';

export interface EmbeddedCredentials {
  superuser: { user: string; password: string };
  app: { user: string; password: string };
}

/** Fresh random credentials (URL-safe, so they can be embedded in connection strings as they are). */
export function generateCredentials(): EmbeddedCredentials {
  const secret = (): string => randomBytes(24).toString('base64url');
  return { superuser: { user: SUPERUSER, password: secret() }, app: { user: APP_ROLE, password: secret() } };
}

/** The credentials stored in `dataDir`, or undefined when there is no file. Throws on a malformed file. */
export function readCredentials(dataDir: string): EmbeddedCredentials | undefined {
  const file = path.join(dataDir, CREDENTIALS_FILE);
  if (!existsSync(file)) return undefined;
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<EmbeddedCredentials>;
  const valid = (c: { user?: unknown; password?: unknown } | undefined): boolean =>
    typeof c?.user === 'string' && typeof c.password === 'string' && c.password.length > 0;
  if (!valid(parsed.superuser) || !valid(parsed.app)) throw new Error(`${file} is malformed: delete it to reset`);
  return parsed as EmbeddedCredentials;
}

/** Writes the credentials file (mode 0600) atomically: a crash leaves the old file or the new one. */
export function writeCredentials(dataDir: string, credentials: EmbeddedCredentials): void {
  const file = path.join(dataDir, CREDENTIALS_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

const isAuthFailure = (err: unknown): boolean => (err as { code?: string }).code === '28P01';

/**
 * A superuser connection to `database`. When the stored password is refused but the old fixed one
 * is accepted (a data directory from before random passwords, or a start that crashed between
 * writing the file and changing the password), the superuser's password is changed to the stored
 * one first, so the old password stops working.
 */
async function connectSuperuser(port: number, credentials: EmbeddedCredentials, database: string): Promise<Client> {
  const { Client } = await import('pg');
  const connect = async (password: string, db: string): Promise<Client> => {
    const client = new Client({ host: '127.0.0.1', port, user: credentials.superuser.user, password, database: db });
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  };
  try {
    return await connect(credentials.superuser.password, database);
  } catch (err) {
    if (!isAuthFailure(err)) throw err;
    const legacy = await connect(LEGACY_SUPERUSER_PASSWORD, database).catch(() => {
      throw err;
    });
    await legacy.query(
      `ALTER ROLE ${legacy.escapeIdentifier(credentials.superuser.user)} PASSWORD ${legacy.escapeLiteral(credentials.superuser.password)}`,
    );
    return legacy;
  }
}

/**
 * Statements that give every object the superuser owns in `database`'s own schemas to the
 * application role: tables (with their indexes and owned sequences), views, free-standing
 * sequences, routines, and enum/domain/range/composite types. Needed for databases created before
 * the application role existed, whose migrations ran as the superuser.
 */
const OWNERSHIP_STATEMENTS = `
  WITH own AS (SELECT current_user::text::regrole::oid AS oid),
  user_ns AS (
    SELECT oid, nspname, nspowner FROM pg_namespace
    WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
  )
  SELECT format('ALTER SCHEMA %I OWNER TO %I', n.nspname, $1::text) AS stmt
    FROM user_ns n, own WHERE n.nspowner = own.oid
  UNION ALL
  SELECT format('ALTER %s %s OWNER TO %I',
      CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                     WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
      c.oid::regclass, $1::text)
    FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace, own
    WHERE c.relowner = own.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND NOT (c.relkind = 'S' AND EXISTS (
        SELECT 1 FROM pg_depend d
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
  UNION ALL
  SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, $1::text)
    FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace, own WHERE p.proowner = own.oid
  UNION ALL
  SELECT format('ALTER TYPE %s OWNER TO %I', t.oid::regtype, $1::text)
    FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace, own
    WHERE t.typowner = own.oid AND t.typtype IN ('e', 'd', 'r', 'c')
      AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
`;

/**
 * Makes the cluster on `port` match `credentials`: the superuser's password (moving a legacy data
 * directory off the fixed one), the application role (login, NOSUPERUSER NOCREATEDB NOCREATEROLE
 * NOREPLICATION NOBYPASSRLS, no role memberships such as pg_execute_server_program or
 * pg_read_server_files, its password), and `database` owned by it together with every object in
 * it. Idempotent; runs on every start.
 */
export async function ensureAppRole(port: number, credentials: EmbeddedCredentials, database: string): Promise<void> {
  const admin = await connectSuperuser(port, credentials, 'postgres');
  let existed = true;
  try {
    const role = admin.escapeIdentifier(credentials.app.user);
    const attributes = `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD ${admin.escapeLiteral(credentials.app.password)}`;
    const found = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [credentials.app.user]);
    await admin.query(`${found.rowCount === 0 ? 'CREATE' : 'ALTER'} ROLE ${role} ${attributes}`);
    const memberships = await admin.query<{ granted: string }>(
      `SELECT m.roleid::regrole::text AS granted FROM pg_auth_members m
        WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
      [credentials.app.user],
    );
    for (const { granted } of memberships.rows) await admin.query(`REVOKE ${granted} FROM ${role}`);

    const db = await admin.query<{ owner: string }>(
      'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
      [database],
    );
    const dbName = admin.escapeIdentifier(database);
    if (db.rowCount === 0) {
      existed = false;
      await admin.query(`CREATE DATABASE ${dbName} OWNER ${role}`);
    } else if (db.rows[0]!.owner !== credentials.app.user) {
      await admin.query(`ALTER DATABASE ${dbName} OWNER TO ${role}`);
    }
  } finally {
    await admin.end();
  }
  if (!existed) return;
  // The objects inside: a database created before the application role has them owned by the superuser.
  const inDb = await connectSuperuser(port, credentials, database);
  try {
    const { rows } = await inDb.query<{ stmt: string }>(OWNERSHIP_STATEMENTS, [credentials.app.user]);
    for (const { stmt } of rows) await inDb.query(stmt);
  } finally {
    await inDb.end();
  }
}

/** `postgres://user:password@127.0.0.1:port/database` (the passwords are URL-safe). */
export function connectionUrl(user: { user: string; password: string }, port: number, database: string): string {
  return `postgres://${encodeURIComponent(user.user)}:${encodeURIComponent(user.password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
}
