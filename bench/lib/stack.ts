/**
 * The real stack on loopback, as separate processes: embedded PostgreSQL (or a server the caller
 * already runs), the Temporal dev server (SQLite in a temp dir, metrics endpoint on), the fake LLM,
 * and chatd's `api` (one or more) and `worker` roles as `node --import tsx src/main/cli.ts <role>`
 * children, so CPU and memory are theirs alone and `kill -9` hits exactly one role. Each bench run
 * gets a fresh database and task queue; everything it started is stopped by stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { createDb } from '../../src/db/create-db';
import { migrateToLatest } from '../../src/db/migrator';
import { freePort, startEmbeddedPostgres } from '../../src/infra/embedded-postgres';
import { resolveTemporalCli } from '../../src/infra/temporal-binaries';
import { startTemporalDevServer } from '../../src/infra/temporal-dev-server';
import { findPids, parentOf, type ProcessGroups } from './proc';
import { sleep } from './stats';

export const REPO_ROOT = path.resolve(__dirname, '../..');

export interface StackOptions {
  /** Progress lines. */
  say: (line: string) => void;
  /** Use this PostgreSQL server (a URL to any database on it) instead of starting one. */
  postgresUrl?: string;
  /** Use this Temporal frontend instead of starting a dev server. */
  temporalAddress?: string;
  /** With temporalAddress: the server's pid and Prometheus endpoint, when the caller knows them (S12). */
  temporalPid?: number | null;
  temporalMetricsUrl?: string | null;
}

/** A chatd role or the fake LLM running as a child process. */
export class Child {
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined = undefined;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        resolve(this.exitCode);
      }),
    );
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  /** kill -9. */
  async kill9(): Promise<void> {
    if (!this.alive) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 8000): Promise<void> {
    if (!this.alive) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface ApiChild extends Child {
  url: string;
  port: number;
}

/** Why a spawned role did not come up, with the tail of its log. */
class StartError extends Error {}

export class BenchStack {
  readonly token = `chatd_bench_${randomBytes(16).toString('hex')}`;
  readonly encryptionKeys = `k1:${randomBytes(32).toString('base64')}`;
  readonly taskQueue = `chatd-bench-${randomBytes(4).toString('hex')}`;
  readonly database = `chatd_bench_${randomBytes(4).toString('hex')}`;
  readonly workDir: string;
  databaseUrl = '';
  temporalAddress = '';
  temporalMetricsUrl: string | null = null;
  temporalPid: number | null = null;
  postgresPid: number | null = null;
  fakeUrl = '';
  fake: Child | null = null;
  apis: ApiChild[] = [];
  worker: Child | null = null;
  /** Workers beyond the first (addWorker, S12). */
  extraWorkers: Child[] = [];
  private workersStarted = 1;
  /** The PostgreSQL server's superuser URL (or the caller's postgresUrl). */
  postgresServerUrl = '';
  temporal: { connection: Connection; client: TemporalClient } | null = null;
  private readonly cleanups: Array<() => Promise<void>> = [];
  private children = new Set<Child>();

  private constructor(private readonly options: StackOptions) {
    // Logs, the Temporal SQLite file and PostgreSQL's data.
    this.workDir = mkdtempSync(path.join(os.tmpdir(), 'chatd-bench-'));
    // As root, PostgreSQL runs as the postgres user, which must reach its data directory.
    chmodSync(this.workDir, 0o755);
  }

  /** Starts everything; on failure stops what was started and rethrows. */
  static async start(options: StackOptions): Promise<BenchStack> {
    const stack = new BenchStack(options);
    try {
      await stack.boot();
      return stack;
    } catch (err) {
      await stack.stop();
      throw err;
    }
  }

  get api(): ApiChild {
    const api = this.apis[0];
    if (!api) throw new Error('no api process');
    return api;
  }

  /** The process groups to meter: chatd roles, PostgreSQL (whole tree), Temporal, the fake, the runner. */
  groups(): ProcessGroups {
    const groups: ProcessGroups = {};
    this.apis.forEach((api, i) => {
      if (api.alive) groups[i === 0 ? 'api' : `api${i + 1}`] = { pid: api.pid };
    });
    if (this.worker?.alive) groups.worker = { pid: this.worker.pid };
    this.extraWorkers.forEach((w, i) => {
      if (w.alive) groups[`worker${i + 2}`] = { pid: w.pid };
    });
    if (this.postgresPid) groups.postgres = { pid: this.postgresPid, tree: true };
    if (this.temporalPid) groups.temporal = { pid: this.temporalPid };
    if (this.fake?.alive) groups.fake = { pid: this.fake.pid };
    groups.runner = { pid: process.pid };
    return groups;
  }

  private async boot(): Promise<void> {
    const say = this.options.say;
    const started = Date.now();

    // PostgreSQL: a server of our own (pg_stat_statements preloaded), or the caller's; a fresh database.
    let serverUrl = this.options.postgresUrl;
    if (!serverUrl) {
      const dataDir = path.join(this.workDir, 'postgres');
      const pg = await startEmbeddedPostgres({ dataDir, database: 'chatd' });
      this.cleanups.push(() => pg.stop());
      // The superuser: the bench creates a database per run and reads pg_stat_statements.
      serverUrl = pg.adminUrl;
      this.postgresPid = findPids(['-D', dataDir])[0] ?? null;
    }
    this.postgresServerUrl = serverUrl;
    const admin = new PgClient({ connectionString: serverUrl });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE "${this.database}"`);
      if (!this.postgresPid) {
        const { rows } = await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        this.postgresPid = parentOf(rows[0]!.pid);
      }
    } finally {
      await admin.end();
    }
    const url = new URL(serverUrl);
    url.pathname = `/${this.database}`;
    this.databaseUrl = url.toString();
    this.cleanups.push(() => this.dropDatabase(serverUrl));
    const migrationDb = createDb({ url: this.databaseUrl, poolSize: 1, applicationName: 'chatd-bench-migrate' });
    await migrateToLatest(migrationDb).finally(() => migrationDb.destroy());
    say(`postgres ready (${this.database})`);

    // Temporal: the dev server with the cached CLI, SQLite in the work dir, Prometheus metrics on.
    if (this.options.temporalAddress) {
      this.temporalAddress = this.options.temporalAddress;
      const port = this.temporalAddress.split(':').pop()!;
      this.temporalPid = this.options.temporalPid ?? findPids(['start-dev', `--port ${port}`])[0] ?? null;
      this.temporalMetricsUrl = this.options.temporalMetricsUrl ?? null;
    } else {
      const binary = resolveTemporalCli(process.env);
      if (!binary) throw new Error('No Temporal CLI (install Go to build it, or set TEMPORAL_CLI_PATH).');
      const metricsPort = await freePort();
      const dbFile = path.join(this.workDir, 'temporal.sqlite');
      const server = await startTemporalDevServer({
        binary,
        dbFilename: dbFile,
        extraArgs: ['--metrics-port', String(metricsPort)],
      });
      this.cleanups.push(() => server.stop());
      this.temporalAddress = server.address;
      this.temporalMetricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
      this.temporalPid = findPids([binary.path, dbFile])[0] ?? null;
    }
    const connection = await Connection.connect({ address: this.temporalAddress });
    this.temporal = { connection, client: new TemporalClient({ connection }) };
    this.cleanups.push(() => connection.close());
    say(`temporal ready (${this.temporalAddress})`);

    // The fake LLM, then chatd: one API (it creates the bootstrap admin) and one worker, in parallel.
    const fakePort = await freePort();
    this.fake = await this.spawnChild(
      'fake',
      ['src/dev/fake-llm/main.ts', '--port', String(fakePort), '--ttft', '0', '--tps', '0', '--record', '3000'],
      {},
      async (child, output) => {
        while (!output().includes('fake-llm listening')) {
          if (!child.alive) throw new StartError('fake LLM exited');
          await sleep(50);
        }
      },
    );
    this.fakeUrl = `http://127.0.0.1:${fakePort}`;
    const [api] = await Promise.all([this.startApi(), this.startWorker()]);
    this.addApi(api);
    say(`chatd api + worker ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  /** Environment of a chatd role. */
  private chatdEnv(port: number): Record<string, string> {
    return {
      DATABASE_URL: this.databaseUrl,
      TEMPORAL_ADDRESS: this.temporalAddress,
      CHATD_ENCRYPTION_KEYS: this.encryptionKeys,
      CHATD_BOOTSTRAP_ADMIN_TOKEN: this.token,
      CHATD_STREAM_BUS: 'postgres',
      CHATD_HTTP_HOST: '127.0.0.1',
      CHATD_HTTP_PORT: String(port),
      CHATD_LOG_LEVEL: 'warn',
      CHATD_TASK_QUEUE: this.taskQueue,
      CHATD_DATA_DIR: path.join(this.workDir, 'chatd-data'),
      // Benchmarks drive hundreds of streams and requests with one token: measure chatd, not its limits.
      CHATD_RATE_LIMIT_REQUESTS: '0',
      CHATD_MAX_STREAMS_PER_USER: '0',
      // One user drives every turn; the per-user cap would measure the queue, not chatd.
      CHATD_MAX_RUNNING_TURNS_PER_USER: '0',
    };
  }

  /** Starts an API process (on `port`, or a free one) and waits for /healthz. */
  async startApi(port?: number): Promise<ApiChild> {
    const p = port ?? (await freePort());
    const url = `http://127.0.0.1:${p}`;
    const child = await this.spawnChild(
      `api${this.apis.length + 1}`,
      ['src/main/cli.ts', 'api'],
      this.chatdEnv(p),
      async (c) => {
        for (;;) {
          if (!c.alive) throw new StartError('api exited while starting');
          const ok = await fetch(`${url}/api/v1/healthz`).then(
            (r) => r.ok,
            () => false,
          );
          if (ok) return;
          await sleep(100);
        }
      },
    );
    const api = Object.assign(child, { url, port: p }) as ApiChild;
    return api;
  }

  /** Registers an API process as one of the stack's (index 0 is the main one). */
  addApi(api: ApiChild, index?: number): void {
    if (index === undefined) this.apis.push(api);
    else this.apis[index] = api;
  }

  /** Starts a worker and waits until it polls the task queue (its pid shows among the pollers). */
  async startWorker(): Promise<Child> {
    const child = await this.spawnWorker('worker', {});
    this.worker = child;
    return child;
  }

  /**
   * Starts one more worker on the same task queue (S12), with its own workspace host id and data
   * directory like docker-compose.yml's chatd-worker-2.
   */
  async addWorker(): Promise<Child> {
    const n = ++this.workersStarted;
    const child = await this.spawnWorker(`worker${n}`, {
      CHATD_WORKSPACE_HOST_ID: `bench-worker-${n}`,
      CHATD_DATA_DIR: path.join(this.workDir, `chatd-data-${n}`),
    });
    this.extraWorkers.push(child);
    return child;
  }

  /**
   * Starts `chatd start` on this stack's PostgreSQL and Temporal: the API and a worker in one process, as
   * `npm start` runs them (S2's one-process path: the early first step). Its worker polls the shared task
   * queue too; the caller stops it when done. `env` adds to its environment.
   */
  async startOneProcess(env: Record<string, string> = {}): Promise<ApiChild> {
    const p = await freePort();
    const url = `http://127.0.0.1:${p}`;
    const child = await this.spawnChild(
      'one-process',
      ['src/main/cli.ts', 'start'],
      {
        ...this.chatdEnv(p),
        CHATD_WORKER_HTTP_PORT: String(await freePort()),
        CHATD_WORKSPACE_HOST_ID: 'bench-one-process',
        CHATD_DATA_DIR: path.join(this.workDir, 'chatd-data-one-process'),
        ...env,
      },
      async (c) => {
        for (;;) {
          if (!c.alive) throw new StartError('chatd start exited while starting');
          const ok = await fetch(`${url}/api/v1/readyz`).then(
            (r) => r.ok,
            () => false,
          );
          if (ok) return;
          await sleep(100);
        }
      },
    );
    return Object.assign(child, { url, port: p }) as ApiChild;
  }

  /** Stops the workers addWorker started, all but the first `keep` of them. */
  async stopExtraWorkers(keep = 0): Promise<void> {
    const stopping = this.extraWorkers.slice(keep);
    this.extraWorkers = this.extraWorkers.slice(0, keep);
    await Promise.all(stopping.map((w) => w.stop()));
  }

  private async spawnWorker(name: string, env: Record<string, string>): Promise<Child> {
    // Its health and metrics server on a free port, not the fixed default: several workers share the host.
    const healthPort = String(await freePort());
    return this.spawnChild(
      name,
      ['src/main/cli.ts', 'worker'],
      { ...this.chatdEnv(0), CHATD_WORKER_HTTP_PORT: healthPort, ...env },
      async (c) => {
        await this.waitForPoller(c);
      },
    );
  }

  /** Time from spawn until the new worker polls, for restart measurements. */
  private async waitForPoller(c: Child): Promise<void> {
    const client = this.temporal!.client;
    for (;;) {
      if (!c.alive) throw new StartError('worker exited while starting');
      const res = await client.workflowService
        .describeTaskQueue({ namespace: 'default', taskQueue: { name: this.taskQueue }, taskQueueType: 2 })
        .catch(() => null);
      if (res?.pollers?.some((p) => (p.identity ?? '').startsWith(`${c.pid}@`))) return;
      await sleep(100);
    }
  }

  private async spawnChild(
    name: string,
    args: string[],
    env: Record<string, string>,
    ready: (child: Child, output: () => string) => Promise<void>,
  ): Promise<Child> {
    const logFile = path.join(this.workDir, `${name}-${Date.now()}.log`);
    const log = createWriteStream(logFile);
    const proc = spawn(process.execPath, ['--import', 'tsx', ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.homedir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const child = new Child(name, proc);
    this.children.add(child);
    let output = '';
    const capture = (d: Buffer): void => {
      const text = d.toString();
      if (output.length < 64_000) output += text;
      log.write(text);
    };
    proc.stdout!.on('data', capture);
    proc.stderr!.on('data', capture);
    void child.exited.then(() => log.end());
    const deadlineMs = 120_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StartError(`${name} did not become ready within ${deadlineMs / 1000} s`)),
        deadlineMs,
      );
    });
    try {
      await Promise.race([ready(child, () => output), timeout]);
    } catch (err) {
      await child.kill9();
      throw new Error(`${(err as Error).message}; log ${logFile}:\n${output.slice(-3000)}`);
    } finally {
      clearTimeout(timer);
    }
    return child;
  }

  /** Stops everything this stack started (children first), and removes the work dir unless asked not to. */
  async stop(keepWorkDir = false): Promise<void> {
    await Promise.all([...this.children].map((c) => c.stop().catch(() => undefined)));
    for (const cleanup of this.cleanups.reverse()) await cleanup().catch(() => undefined);
    this.cleanups.length = 0;
    if (!keepWorkDir) rmSync(this.workDir, { recursive: true, force: true });
  }

  private async dropDatabase(serverUrl: string): Promise<void> {
    const admin = new PgClient({ connectionString: serverUrl });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS "${this.database}" WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }
}
