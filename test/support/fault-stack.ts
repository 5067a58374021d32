/**
 * A chatd deployment owned by one fault-injection test: an embedded PostgreSQL and a Temporal dev
 * server (SQLite file) that the test stops and starts again on the same data and port, and
 * `chatd api` and `chatd worker` as OS processes of their own (src/main/cli.ts with
 * CHATD_STREAM_BUS=postgres), exactly as a production deployment runs them. The model is the
 * test's fake LLM, seeded as the default model by the API at boot (CHATD_DEFAULT_MODEL). The run's
 * shared PostgreSQL and Temporal are never touched: other test files use them at the same time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { createDb } from '../../src/db/create-db';
import { migrateToLatest } from '../../src/db/migrator';
import { freePort, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/infra/embedded-postgres';
import { resolveTemporalCli } from '../../src/infra/temporal-binaries';
import { startTemporalDevServer, type DevServerHandle } from '../../src/infra/temporal-dev-server';
import { SecretBox } from '../../src/security/secrets';
import { generateToken } from '../../src/security/tokens';
import { titleModelFor } from '../../src/llm/registry';
import { text } from '../../src/dev/fake-llm/script';
import type { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { waitUntil } from './wait';

const REPO_ROOT = path.resolve(__dirname, '../..');
/** What the fake answers to the title model of the `openai` provider. */
const TITLE = 'Fault test title';

/** One chatd role (`api` or `worker`) in its own Node process, with its output kept for failure messages. */
export class ChatdProcess {
  private output = '';
  readonly exited: Promise<void>;

  private constructor(
    readonly role: string,
    private readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer): void => {
      // The tail is what explains a failure; the head is the start-up.
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Spawns `chatd <role>` and resolves once it logged `readyLine`. */
  static async start(role: 'api' | 'worker', env: Record<string, string>, readyLine: string): Promise<ChatdProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main/cli.ts', role], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.homedir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new ChatdProcess(role, child);
    try {
      await waitUntil(
        () => {
          if (!proc.alive) throw new Error(`chatd ${role} exited while starting:\n${proc.output}`);
          return proc.output.includes(readyLine);
        },
        120_000,
        `chatd ${role} to start`,
      );
    } catch (err) {
      await proc.kill();
      throw err;
    }
    return proc;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Whether it still runs, and the last lines it printed (shortened), for failure messages. */
  describe(): string {
    const end = this.alive ? 'running' : `exited (code ${this.child.exitCode}, signal ${this.child.signalCode})`;
    const lines = this.output
      .split('\n')
      .filter((line) => line.trim())
      .slice(-20)
      // Prefixed, or Jest would take the lines of a crash's stack trace for its own and rewrite them.
      .map((line) => `| ${line.length > 400 ? `${line.slice(0, 400)}…` : line}`);
    return `chatd ${this.role} ${end}; last output:\n${lines.join('\n') || '(none)'}`;
  }

  /** Kills it (SIGKILL): the deployment is thrown away with it. */
  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }
}

export class FaultStack {
  private constructor(
    private readonly dir: string,
    private postgres: EmbeddedPostgresHandle | null,
    private readonly postgresPort: number,
    private temporal: DevServerHandle | null,
    private readonly temporalPort: number,
    readonly databaseUrl: string,
    readonly api: ChatdProcess,
    readonly worker: ChatdProcess,
    readonly apiUrl: string,
    readonly token: string,
  ) {}

  /**
   * Starts PostgreSQL (migrated), Temporal, and the API and worker processes (what started is
   * stopped again if a later part fails). The default model is `fake-model` on the fake's OpenAI
   * endpoint (the test decides what it answers); titles come from the provider's title model, which
   * the fake answers here.
   */
  static async start(fake: FakeLlmServer): Promise<FaultStack> {
    fake.respondTo(titleModelFor('openai')!, () => text(TITLE));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chatd-faults-'));
    // As root, PostgreSQL runs as the postgres user, which must be able to reach its data directory.
    chmodSync(dir, 0o755);
    const started: Array<() => Promise<void>> = [];
    try {
      const [postgresPort, temporalPort] = await Promise.all([freePort(), freePort()]);
      const postgres = await startPostgres(dir, postgresPort);
      started.push(() => postgres.stop());
      const migrations = createDb({ url: postgres.url, poolSize: 1, applicationName: 'chatd-faults-migrate' });
      await migrateToLatest(migrations).finally(() => migrations.destroy());
      const temporal = await startTemporal(dir, temporalPort);
      started.push(() => temporal.stop());

      const token = generateToken();
      // Picked last: the Temporal dev server opens more ports (UI, metrics) while it starts.
      let apiPort = await freePort();
      const env = {
        DATABASE_URL: postgres.url,
        TEMPORAL_ADDRESS: temporal.address,
        CHATD_ENCRYPTION_KEYS: SecretBox.generateKeyEntry('f1'),
        CHATD_BOOTSTRAP_ADMIN_TOKEN: token,
        CHATD_STREAM_BUS: 'postgres',
        CHATD_HTTP_HOST: '127.0.0.1',
        CHATD_HTTP_PORT: String(apiPort),
        CHATD_DEFAULT_MODEL: 'openai:fake-model',
        OPENAI_API_KEY: 'test-key',
        OPENAI_BASE_URL: fake.openaiBaseUrl,
        CHATD_DATA_DIR: path.join(dir, 'chatd'),
        CHATD_LOG_LEVEL: 'info',
      };
      // The API first: it creates the admin and the default model before the worker needs them.
      let api: ChatdProcess;
      for (let attempt = 1; ; attempt++) {
        try {
          api = await ChatdProcess.start('api', env, 'api listening');
          break;
        } catch (err) {
          // Another process took the free port between the probe and the listen: probe again.
          if (attempt >= 3 || !String(err).includes('EADDRINUSE')) throw err;
          apiPort = await freePort();
          env.CHATD_HTTP_PORT = String(apiPort);
        }
      }
      started.push(() => api.kill());
      const worker = await ChatdProcess.start('worker', env, 'worker polling');
      return new FaultStack(
        dir,
        postgres,
        postgresPort,
        temporal,
        temporalPort,
        postgres.url,
        api,
        worker,
        `http://127.0.0.1:${apiPort}`,
        token,
      );
    } catch (err) {
      for (const stop of started.reverse()) await stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** A JSON request to the API as the admin; returns the status and the parsed body. */
  async request<T = any>(method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.apiUrl}/api/v1${route}`, {
      method,
      headers: {
        Authorization: `Bearer ${this.token}`,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const raw = await res.text();
    return { status: res.status, body: raw ? JSON.parse(raw) : undefined };
  }

  streamUrl(chatId: string): string {
    return `${this.apiUrl}/api/v1/chats/${chatId}/stream`;
  }

  /** Stops PostgreSQL with a fast shutdown: every connection is cut, open transactions roll back. */
  async stopPostgres(): Promise<void> {
    await this.postgres?.stop();
    this.postgres = null;
  }

  /** Starts PostgreSQL again on the same data directory and port. */
  async startPostgres(): Promise<void> {
    this.postgres = await startPostgres(this.dir, this.postgresPort);
  }

  /** Kills the Temporal dev server; its state stays in the SQLite file. */
  async stopTemporal(): Promise<void> {
    await this.temporal?.stop();
    this.temporal = null;
  }

  /** host:port of the Temporal dev server (the same across its restarts). */
  get temporalAddress(): string {
    return `127.0.0.1:${this.temporalPort}`;
  }

  /** Starts the Temporal dev server again on the same SQLite file and port. */
  async startTemporal(): Promise<void> {
    this.temporal = await startTemporal(this.dir, this.temporalPort);
  }

  /** Runs `query` on a connection of its own (the database as it is now, not as a process saw it). */
  async query<R extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    const client = new Client({ connectionString: this.databaseUrl });
    await client.connect();
    try {
      return (await client.query<R>(sql, params)).rows;
    } finally {
      await client.end();
    }
  }

  /** Both processes' state and output, for failure messages. */
  describe(): string {
    return `${this.api.describe()}\n\n${this.worker.describe()}`;
  }

  async stop(): Promise<void> {
    await Promise.all([this.api.kill(), this.worker.kill()]);
    await this.temporal?.stop();
    await this.postgres?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function startPostgres(dir: string, port: number): Promise<EmbeddedPostgresHandle> {
  return startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres'), database: 'chatd', port });
}

function startTemporal(dir: string, port: number): Promise<DevServerHandle> {
  const binary = resolveTemporalCli(process.env);
  if (!binary) throw new Error('No Temporal CLI: set TEMPORAL_CLI_PATH (the global setup resolves it).');
  return startTemporalDevServer({ binary, dbFilename: path.join(dir, 'temporal.sqlite'), port });
}
