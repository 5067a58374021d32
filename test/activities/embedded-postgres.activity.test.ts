/**
 * The embedded PostgreSQL's credentials (src/infra/embedded-postgres-roles.ts): every data directory
 * gets its own random superuser password and an application role that owns chatd's database but
 * cannot run programs or read files on the server, which is what a leaked connection string would
 * otherwise allow. Data directories from before (fixed superuser password `chatd`, everything owned
 * by the superuser) are moved over on their next start. Each test runs clusters of its own.
 */
import { statSync, mkdtempSync, chmodSync, rmSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { createDb } from '../../src/db/create-db';
import { migrateToLatest } from '../../src/db/migrator';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/infra/embedded-postgres';
import { CREDENTIALS_FILE, LEGACY_SUPERUSER_PASSWORD, readCredentials } from '../../src/infra/embedded-postgres-roles';

jest.setTimeout(60_000);

const dirs: string[] = [];
const running: EmbeddedPostgresHandle[] = [];

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chatd-embedded-pg-'));
  // As root the server runs as the postgres user, which must be able to reach its data directory.
  chmodSync(dir, 0o755);
  dirs.push(dir);
  return dir;
}

async function start(dataDir: string): Promise<EmbeddedPostgresHandle> {
  const pg = await startEmbeddedPostgres({ dataDir, database: 'chatd' });
  running.push(pg);
  return pg;
}

async function stop(pg: EmbeddedPostgresHandle): Promise<void> {
  await pg.stop();
  running.splice(running.indexOf(pg), 1);
}

/** Runs `sql` on its own connection to `url` and returns the rows. */
async function query<R extends Record<string, unknown>>(url: string, sql: string): Promise<R[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** The PostgreSQL error code `sql` fails with as `url`'s user, or 'ok'. */
async function failureOf(url: string, sql: string): Promise<string> {
  return query(url, sql).then(
    () => 'ok',
    (err: { code?: string }) => err.code ?? String(err),
  );
}

/** `url` with another password. */
const withPassword = (url: string, password: string): string => {
  const u = new URL(url);
  u.password = password;
  return u.toString();
};

afterAll(async () => {
  for (const pg of running) await pg.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('startEmbeddedPostgres', () => {
  it('stores random credentials per data directory in a 0600 file, distinct for two directories', async () => {
    const a = path.join(tempDir(), 'data');
    const b = path.join(tempDir(), 'data');
    const [pgA, pgB] = await Promise.all([start(a), start(b)]);
    for (const dir of [a, b]) {
      expect(statSync(path.join(dir, CREDENTIALS_FILE)).mode & 0o777).toBe(0o600);
    }
    const credsA = readCredentials(a)!;
    const credsB = readCredentials(b)!;
    expect(credsA.superuser.password).not.toBe(credsB.superuser.password);
    expect(credsA.app.password).not.toBe(credsB.app.password);
    expect(credsA.superuser.password.length).toBeGreaterThanOrEqual(32);
    expect([credsA.superuser.password, credsA.app.password]).not.toContain(LEGACY_SUPERUSER_PASSWORD);
    // What chatd connects with is the application role, never the superuser.
    expect(new URL(pgA.url).username).toBe(credsA.app.user);
    expect(new URL(pgA.adminUrl).username).toBe(credsA.superuser.user);
    expect(await failureOf(withPassword(pgA.adminUrl, LEGACY_SUPERUSER_PASSWORD), 'SELECT 1')).toBe('28P01');
    // One cluster's password does not open the other.
    expect(await failureOf(withPassword(pgB.url, credsA.app.password), 'SELECT 1')).toBe('28P01');
  });

  it('connects chatd as a role that owns its database, runs the migrations, and cannot reach the server', async () => {
    const pg = await start(path.join(tempDir(), 'data'));
    const [role] = await query<Record<string, boolean | string>>(
      pg.url,
      `SELECT r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, r.rolbypassrls,
              pg_get_userbyid(d.datdba) AS owner, current_user AS me,
              EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid) AS member_of_any
         FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()`,
    );
    expect(role).toEqual({
      rolsuper: false,
      rolcreatedb: false,
      rolcreaterole: false,
      rolreplication: false,
      rolbypassrls: false,
      owner: 'chatd',
      me: 'chatd',
      member_of_any: false,
    });

    const db = createDb({ url: pg.url, poolSize: 1, applicationName: 'chatd-embedded-test' });
    try {
      await migrateToLatest(db);
    } finally {
      await db.destroy();
    }
    const [tables] = await query<{ n: string }>(
      pg.url,
      "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' AND tableowner = 'chatd'",
    );
    expect(Number(tables!.n)).toBeGreaterThan(5);

    // What the attack used (a program run by the server, a server file read), and role changes: all refused.
    expect(await failureOf(pg.url, "COPY users (username) FROM PROGRAM 'id'")).toBe('42501');
    expect(await failureOf(pg.url, "SELECT pg_read_file('postgresql.conf')")).toBe('42501');
    expect(await failureOf(pg.url, 'ALTER ROLE postgres PASSWORD $$x$$')).toBe('42501');
    expect(await failureOf(pg.url, 'CREATE ROLE intruder SUPERUSER')).toBe('42501');
    // The superuser can do it (so the refusals above are the role's, not the server's).
    expect(await failureOf(pg.adminUrl, "SELECT pg_read_file('PG_VERSION')")).toBe('ok');
  });

  it('reuses the same credentials and data on restart', async () => {
    const dir = path.join(tempDir(), 'data');
    const first = await start(dir);
    const file = readFileSync(path.join(dir, CREDENTIALS_FILE), 'utf8');
    await query(first.url, 'CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)');
    await stop(first);

    const second = await start(dir);
    expect(readFileSync(path.join(dir, CREDENTIALS_FILE), 'utf8')).toBe(file);
    expect(new URL(second.url).password).toBe(new URL(first.url).password);
    expect(new URL(second.adminUrl).password).toBe(new URL(first.adminUrl).password);
    expect(await query(second.url, 'SELECT v FROM kept')).toEqual([{ v: 42 }]);
  });

  it('moves a data directory from the fixed password to random ones, handing its objects to the role', async () => {
    const dir = path.join(tempDir(), 'data');
    // Recreate what the old code left: superuser password `chatd`, no credentials file, no
    // application role, the database and every migrated table owned by the superuser.
    const fresh = await start(dir);
    const legacyAdmin = withPassword(fresh.adminUrl, LEGACY_SUPERUSER_PASSWORD);
    await query(
      fresh.adminUrl,
      `ALTER DATABASE chatd OWNER TO postgres; ALTER ROLE postgres PASSWORD '${LEGACY_SUPERUSER_PASSWORD}'`,
    );
    const oldDb = createDb({ url: legacyAdmin, poolSize: 1, applicationName: 'chatd-embedded-test' });
    try {
      await migrateToLatest(oldDb);
    } finally {
      await oldDb.destroy();
    }
    await query(legacyAdmin, 'DROP ROLE chatd');
    await stop(fresh);
    rmSync(path.join(dir, CREDENTIALS_FILE));

    const migrated = await start(dir);
    expect(statSync(path.join(dir, CREDENTIALS_FILE)).mode & 0o777).toBe(0o600);
    expect(await failureOf(withPassword(migrated.adminUrl, LEGACY_SUPERUSER_PASSWORD), 'SELECT 1')).toBe('28P01');
    expect(await failureOf(migrated.adminUrl, 'SELECT 1')).toBe('ok');
    const owners = await query<{ owner: string }>(
      migrated.url,
      `SELECT DISTINCT tableowner AS owner FROM pg_tables WHERE schemaname = 'public'
       UNION SELECT DISTINCT pg_get_userbyid(typowner) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype = 'e'
       UNION SELECT DISTINCT pg_get_userbyid(proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public'`,
    );
    expect(owners).toEqual([{ owner: 'chatd' }]);
    // The role can keep migrating and writing the tables the superuser created.
    const db = createDb({ url: migrated.url, poolSize: 1, applicationName: 'chatd-embedded-test' });
    try {
      await migrateToLatest(db);
    } finally {
      await db.destroy();
    }
    expect(await failureOf(migrated.url, "INSERT INTO users (username) VALUES ('after-move')")).toBe('ok');
    expect(await failureOf(migrated.url, "COPY users (username) FROM PROGRAM 'id'")).toBe('42501');
  });
});
