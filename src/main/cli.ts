/**
 * The production entry points: `chatd migrate`, `chatd api`, `chatd worker`, `chatd workspace-host`
 * (only the tool calls of this host's workspaces, README "Workspace hosts") and `chatd start`, the
 * embedded all-in-one. Configured only by environment variables, validated at boot.
 */
import { ensureBootstrapAdmin, ensureDefaultModel } from '../admin/bootstrap';
import { ConfigError, parseConfig, type Config } from '../config';
import { createDb } from '../db/create-db';
import { migrateToLatest } from '../db/migrator';
import { createDeps } from './deps';
import { createLogger } from '../log';
import { ChatdMetrics } from '../metrics/chatd-metrics';
import { PgStreamBus } from '../stream/pg-stream-bus';
import { installTemporalRuntime } from '../temporal/runtime';
import { workspaceHostTaskQueue } from '../temporal/task-queues';
import { tracingFromEnv } from '../tracing/tracing';
import { onShutdownSignal, startApi, startWorker, startWorkspaceHost, type RunningWorker } from './processes';
import { startWorkerHttp } from './worker-http';

const USAGE =
  'usage: chatd <api|worker|workspace-host|migrate|start|chat> (start: development only, after `npm install`; chat: `chatd chat --help`)';
const ROLES = ['api', 'worker', 'workspace-host', 'migrate'] as const;
type Role = (typeof ROLES)[number];
const isRole = (command: string | undefined): command is Role => ROLES.includes(command as Role);

/** Production roles need their dependencies named explicitly; one error lists all that are missing. */
function requireProduction(config: Config): { databaseUrl: string; temporalAddress: string; encryptionKeys: string } {
  const missing = [
    !config.databaseUrl && 'DATABASE_URL: required',
    !config.temporal.address && 'TEMPORAL_ADDRESS: required',
    !config.encryptionKeys && 'CHATD_ENCRYPTION_KEYS: required (id:base64-32-byte-key[,…])',
  ].filter((m): m is string => typeof m === 'string');
  if (missing.length) throw new ConfigError(missing);
  return {
    databaseUrl: config.databaseUrl!,
    temporalAddress: config.temporal.address!,
    encryptionKeys: config.encryptionKeys!,
  };
}

async function main(command: string | undefined): Promise<void> {
  if (command === 'chat') {
    // The terminal client (README "Terminal client"), loaded on demand: it needs no server modules.
    const { runChat, ChatUsageError } = await import('../terminal');
    const { ChatdApiError } = await import('../client');
    // A client's failures are one plain line (not a configuration error of this process).
    const failure = (err: unknown): string | null => {
      if (err instanceof ChatUsageError) return err.message;
      if (err instanceof ChatdApiError) return `chatd chat: ${err.message} (${err.code})`;
      const cause = err instanceof TypeError ? (err.cause as Error | undefined)?.message : undefined;
      return cause ? `chatd chat: ${cause}` : null;
    };
    try {
      await runChat(process.argv.slice(3), process.env);
    } catch (err) {
      const line = failure(err);
      if (line === null) throw err;
      process.stderr.write(`${line}\n`);
      process.exit(1);
    }
    process.exit(0);
  }
  if (command === 'start') {
    // Loaded on demand: the api and worker roles never start the embedded PostgreSQL or Temporal, whose
    // packages are development dependencies (a production install, `npm ci --omit=dev`, has none).
    const { runEmbedded } = await import('./dev').catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
      throw new ConfigError([
        `chatd start: development only; it needs the development packages (${(err as Error).message.split('\n')[0]}). ` +
          'Run `npm install`, or use chatd api|worker|migrate with DATABASE_URL and TEMPORAL_ADDRESS.',
      ]);
    });
    await runEmbedded();
    return;
  }
  if (!isRole(command)) throw new ConfigError([USAGE]);
  const config = parseConfig(process.env);
  const log = createLogger(config.logLevel, `chatd-${command}`);

  if (command === 'migrate') {
    if (!config.databaseUrl) throw new ConfigError(['DATABASE_URL: required']);
    const db = createDb({ url: config.databaseUrl, poolSize: 1, applicationName: 'chatd-migrate' });
    try {
      const result = await migrateToLatest(db);
      for (const r of result.results ?? []) log.info({ migration: r.migrationName, status: r.status }, 'migration');
      log.info({ applied: result.results?.length ?? 0 }, 'database is up to date');
    } finally {
      await db.destroy();
    }
    return;
  }

  const resolved = requireProduction(config);
  // Worker roles serve the Temporal SDK's metrics with their own on the worker's /metrics.
  const serveWorkerHttp = command !== 'api' && config.workerHttpPort !== 0;
  const runtime = await installTemporalRuntime(log, { metrics: serveWorkerHttp });
  const metrics = new ChatdMetrics({ temporalMetricsUrl: runtime.metricsUrl });
  const bus = config.streamBus === 'memory' ? undefined : new PgStreamBus(resolved.databaseUrl, log, metrics);
  const tracing = tracingFromEnv(process.env, `chatd-${command}`) ?? undefined;
  const deps = await createDeps(config, log, { ...resolved, bus, metrics, tracing }, command);
  if (command === 'api') {
    const token = await ensureBootstrapAdmin(deps.db, config.bootstrapAdminToken);
    await ensureDefaultModel(deps.db, deps.secrets, config.defaultModel, config.presets);
    if (token && !config.bootstrapAdminToken) process.stdout.write(`bootstrap admin token (shown once): ${token}\n`);
    const api = await startApi(deps, config.http.host, config.http.port);
    log.info({ url: api.url }, 'api listening');
    onShutdownSignal(async () => {
      await api.stop();
      await deps.close();
    });
  } else {
    let started: RunningWorker | null = null;
    const health = serveWorkerHttp
      ? await startWorkerHttp({
          host: config.http.host,
          port: config.workerHttpPort,
          metrics,
          metricsToken: config.metricsToken,
          readiness: () => started?.readiness() ?? 'starting',
          log,
        })
      : null;
    if (health) log.info({ url: health.url }, 'worker health and metrics listening');
    const worker =
      command === 'worker'
        ? await startWorker(deps, resolved.temporalAddress)
        : await startWorkspaceHost(deps, resolved.temporalAddress);
    started = worker;
    const hosting = command === 'workspace-host' || config.workspaceHost.servedByWorker;
    log.info(
      {
        taskQueue: command === 'worker' ? config.temporal.taskQueue : null,
        workspaceHostId: hosting ? config.workspaceHost.id : null,
        workspaceHostTaskQueue: hosting ? workspaceHostTaskQueue(config.workspaceHost.id) : null,
      },
      `${command} polling`,
    );
    onShutdownSignal(async () => {
      // /readyz answers 503 from the first moment of the drain until the process exits.
      await worker.stop();
      await deps.close();
    });
    await worker.done;
    await health?.close();
  }
}

main(process.argv[2]).catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
