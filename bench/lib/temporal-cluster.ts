/**
 * A standalone Temporal server on PostgreSQL for the scale-out scenario (S12): the topology of
 * docker-compose.yml (Temporal's two databases on the same PostgreSQL server as chatd's, schemas
 * applied by temporal-sql-tool, deploy/temporal/dynamicconfig.yaml, the `default` namespace and
 * chatd's search attributes registered after start), without Docker. The binaries come from
 * scripts/temporal-server.sh (built from the Go module proxy, cached). All four services
 * (frontend, history, matching, worker) run in one process, as the temporalio/server image runs
 * them: on 2 cores, more processes would add gRPC hops and membership traffic between them, not
 * capacity. Everything it creates (process, databases) is removed by stop().
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { Client as PgClient } from 'pg';
import { freePort } from '../../src/infra/embedded-postgres';
import { SEARCH_ATTRIBUTE_KEYS } from '../../src/temporal/search-attributes';
import { REPO_ROOT } from './stack';
import { sleep } from './stats';

const run = promisify(execFile);

/**
 * History shards: fixed when the cluster's database is created. 4 is docker-compose.yml's default
 * (TEMPORAL_NUM_HISTORY_SHARDS); each shard is an owner of workflow state with its own background
 * queues and database writes, so on 2 cores more shards add work without adding parallelism, and
 * the dev server runs with 1.
 */
export const NUM_HISTORY_SHARDS = 4;

export interface TemporalServerBinaries {
  server: string;
  sqlTool: string;
  /** schema/postgresql/v12 of the server module (temporal/ and visibility/). */
  schemaDir: string;
}

/**
 * The server, its schema tool and schemas from scripts/temporal-server.sh (a build of several
 * minutes when not cached, unless `cachedOnly`), or the reason there are none (no Go, no module proxy).
 */
export function resolveTemporalServer(
  say: (line: string) => void,
  options: { cachedOnly?: boolean } = {},
): { binaries: TemporalServerBinaries } | { error: string } {
  const args = [path.join(REPO_ROOT, 'scripts/temporal-server.sh'), ...(options.cachedOnly ? ['--cached'] : [])];
  const res = spawnSync('bash', args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 20 * 60_000,
  });
  for (const line of (res.stderr ?? '').split('\n').filter(Boolean).slice(-3)) say(line);
  const [server, sqlTool, schemaDir] = (res.stdout ?? '').trim().split('\n');
  if (res.status !== 0 || !server || !sqlTool || !schemaDir) {
    const why = (res.stderr ?? '').trim().split('\n').slice(-2).join(' ') || res.error?.message || 'no output';
    return { error: `scripts/temporal-server.sh failed: ${why.slice(0, 300)}` };
  }
  return { binaries: { server, sqlTool, schemaDir } };
}

export class TemporalCluster {
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly address: string,
    readonly metricsUrl: string,
    readonly databases: string[],
    private readonly postgresUrl: string,
  ) {}

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  /**
   * Creates the databases and schemas on the PostgreSQL server `postgresUrl` (a superuser URL),
   * writes the config into `workDir`, starts the server, waits for its frontend and registers the
   * namespace and search attributes. On failure stops what it started and rethrows.
   */
  static async start(options: {
    binaries: TemporalServerBinaries;
    postgresUrl: string;
    workDir: string;
    say: (line: string) => void;
  }): Promise<TemporalCluster> {
    const { binaries, postgresUrl, workDir, say } = options;
    const started = Date.now();
    const suffix = randomBytes(3).toString('hex');
    const main = `temporal_${suffix}`;
    const visibility = `temporal_visibility_${suffix}`;
    const [frontend, history, matching, worker] = await Promise.all(Array.from({ length: 4 }, () => freePort()));
    const membership: number[] = [];
    while (membership.length < 4) {
      const port = await freeLowPort();
      if (!membership.includes(port)) membership.push(port);
    }
    const metricsPort = await freePort();
    const cluster = new TemporalCluster(
      `127.0.0.1:${frontend}`,
      `http://127.0.0.1:${metricsPort}/metrics`,
      [main, visibility],
      postgresUrl,
    );
    try {
      const pg = new URL(postgresUrl);
      await cluster.setupSchema(binaries, pg, main, path.join(binaries.schemaDir, 'temporal/versioned'));
      await cluster.setupSchema(binaries, pg, visibility, path.join(binaries.schemaDir, 'visibility/versioned'));
      say(`temporal schemas ready (${main}, ${visibility}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);

      const configDir = path.join(workDir, 'temporal-server', 'config');
      mkdirSync(configDir, { recursive: true });
      writeFileSync(
        path.join(configDir, 'development.yaml'),
        serverConfig({
          pg,
          main,
          visibility,
          ports: { frontend: frontend!, history: history!, matching: matching!, worker: worker! },
          membership,
          metricsPort,
        }),
      );
      const log = createWriteStream(path.join(workDir, 'temporal-server.log'));
      const proc = spawn(
        binaries.server,
        ['--root', path.dirname(configDir), '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      proc.stdout!.pipe(log);
      proc.stderr!.pipe(log);
      cluster.proc = proc;
      cluster.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
      await cluster.waitReady(say);
      say(`temporal server on postgres ready (${cluster.address}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** temporal-sql-tool: create the database, its version tables, then every versioned schema step. */
  private async setupSchema(binaries: TemporalServerBinaries, pg: URL, database: string, dir: string): Promise<void> {
    const base = [
      '--plugin',
      'postgres12',
      '--endpoint',
      pg.hostname,
      '--port',
      pg.port || '5432',
      '--user',
      decodeURIComponent(pg.username),
      '--database',
      database,
    ];
    // The password through the environment (the tool's SQL_PASSWORD), not the command line.
    const env = { ...process.env, SQL_PASSWORD: decodeURIComponent(pg.password) };
    for (const args of [['create-database'], ['setup-schema', '-v', '0.0'], ['update-schema', '-d', dir]]) {
      await run(binaries.sqlTool, [...base, ...args], { env, timeout: 120_000 }).catch(
        (err: Error & { stderr?: string }) => {
          throw new Error(`temporal-sql-tool ${args[0]} on ${database}: ${(err.stderr ?? err.message).slice(-500)}`);
        },
      );
    }
  }

  /**
   * Frontend answering → `default` namespace registered → chatd's search attributes added → a
   * workflow with those attributes can be started (every service's namespace and search-attribute
   * caches caught up; they refresh on their own timers).
   */
  private async waitReady(say: (line: string) => void): Promise<void> {
    const deadline = Date.now() + 120_000;
    const alive = (): void => {
      if (this.proc?.exitCode !== null || this.proc?.signalCode) {
        throw new Error('the Temporal server exited while starting (log: temporal-server.log in the work dir)');
      }
    };
    let connection: Connection | null = null;
    while (!connection) {
      alive();
      if (Date.now() > deadline) throw new Error('the Temporal server did not answer within 120 s');
      connection = await Connection.connect({ address: this.address, connectTimeout: 2_000 }).catch(() => null);
      if (!connection) await sleep(250);
    }
    try {
      const svc = connection.workflowService;
      for (;;) {
        alive();
        if (Date.now() > deadline) throw new Error('the Temporal server did not become ready within 120 s');
        const health = await svc.getSystemInfo({}).catch(() => null);
        if (health) break;
        await sleep(250);
      }
      await svc
        .registerNamespace({ namespace: 'default', workflowExecutionRetentionPeriod: msToTs('1 day') })
        .catch((err: Error) => {
          if (!/already/i.test(err.message)) throw err;
        });
      say('temporal namespace default registered; adding search attributes');
      const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
      const attributes = Object.fromEntries(SEARCH_ATTRIBUTE_KEYS.map((k) => [k.name, keyword]));
      for (;;) {
        alive();
        if (Date.now() > deadline) throw new Error('search attributes could not be added within 120 s');
        const ok = await connection.operatorService
          .addSearchAttributes({ namespace: 'default', searchAttributes: attributes })
          .then(
            () => true,
            (err: Error) => /already exists/i.test(err.message),
          );
        if (ok) break;
        await sleep(500);
      }
      const client = new TemporalClient({ connection });
      const probe = `chatd-bench-probe-${randomBytes(4).toString('hex')}`;
      for (;;) {
        alive();
        if (Date.now() > deadline) throw new Error('a probe workflow could not be started within 120 s');
        const handle = await client.workflow
          .start('probe', {
            taskQueue: probe,
            workflowId: probe,
            typedSearchAttributes: SEARCH_ATTRIBUTE_KEYS.map((key) => ({ key, value: 'probe' })),
          })
          .catch(() => null);
        if (handle) {
          await handle.terminate('readiness probe').catch(() => undefined);
          return;
        }
        await sleep(500);
      }
    } finally {
      await connection.close();
    }
  }

  /** Stops the server (SIGTERM, SIGKILL after 10 s) and drops its databases. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc && proc.exitCode === null && !proc.signalCode) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    this.proc = null;
    const admin = new PgClient({ connectionString: this.postgresUrl });
    await admin.connect();
    try {
      for (const db of this.databases) await admin.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }
}

/**
 * A free port below 32768: the server stores its membership port in a smallint column
 * (cluster_membership), so the kernel's ephemeral ports do not fit.
 */
async function freeLowPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/**
 * The server's static config (YAML): PostgreSQL persistence and visibility, the four services on
 * loopback ports, Prometheus metrics, and chatd's dynamic config file from deploy/temporal.
 */
function serverConfig(c: {
  pg: URL;
  main: string;
  visibility: string;
  ports: { frontend: number; history: number; matching: number; worker: number };
  membership: number[];
  metricsPort: number;
}): string {
  const q = (s: string): string => JSON.stringify(s);
  const store = (database: string, conns: number): string[] => [
    `      sql:`,
    `        pluginName: postgres12`,
    `        databaseName: ${q(database)}`,
    `        connectAddr: ${q(`${c.pg.hostname}:${c.pg.port || '5432'}`)}`,
    `        connectProtocol: tcp`,
    `        user: ${q(decodeURIComponent(c.pg.username))}`,
    `        password: ${q(decodeURIComponent(c.pg.password))}`,
    `        maxConns: ${conns}`,
    `        maxIdleConns: ${conns}`,
    `        maxConnLifetime: 1h`,
  ];
  const service = (name: string, grpc: number, membership: number): string[] => [
    `  ${name}:`,
    `    rpc:`,
    `      grpcPort: ${grpc}`,
    `      membershipPort: ${membership}`,
    `      bindOnIP: 127.0.0.1`,
  ];
  const dynamicConfig = path.join(REPO_ROOT, 'deploy/temporal/dynamicconfig.yaml');
  return [
    '# Written by bench/lib/temporal-cluster.ts for one bench run.',
    'log:',
    '  stdout: true',
    '  level: warn',
    'persistence:',
    '  defaultStore: default',
    '  visibilityStore: visibility',
    `  numHistoryShards: ${NUM_HISTORY_SHARDS}`,
    '  datastores:',
    '    default:',
    // Per service in the process; the same as the server image's default.
    ...store(c.main, 20),
    '    visibility:',
    ...store(c.visibility, 10),
    'global:',
    '  membership:',
    '    maxJoinDuration: 30s',
    '    broadcastAddress: 127.0.0.1',
    '  metrics:',
    '    prometheus:',
    '      framework: tally',
    '      timerType: histogram',
    `      listenAddress: 127.0.0.1:${c.metricsPort}`,
    'services:',
    ...service('frontend', c.ports.frontend, c.membership[0]!),
    ...service('history', c.ports.history, c.membership[1]!),
    ...service('matching', c.ports.matching, c.membership[2]!),
    ...service('worker', c.ports.worker, c.membership[3]!),
    'clusterMetadata:',
    '  enableGlobalNamespace: false',
    '  failoverVersionIncrement: 10',
    '  masterClusterName: active',
    '  currentClusterName: active',
    '  clusterInformation:',
    '    active:',
    '      enabled: true',
    '      initialFailoverVersion: 1',
    '      rpcName: frontend',
    `      rpcAddress: 127.0.0.1:${c.ports.frontend}`,
    'dcRedirectionPolicy:',
    '  policy: noop',
    'publicClient:',
    `  hostPort: 127.0.0.1:${c.ports.frontend}`,
    'dynamicConfigClient:',
    `  filepath: ${q(dynamicConfig)}`,
    '  pollInterval: 10s',
    '',
  ].join('\n');
}
