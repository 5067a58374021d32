/**
 * The production entry points: `chatd migrate`, `chatd api`, `chatd worker`, `chatd workspace-host`
 * (only the tool calls of this host's workspaces, README "Workspace hosts") and `chatd start`, the
 * embedded all-in-one. Configured only by environment variables, validated at boot.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { ensureBootstrapAdmin, ensureDefaultModel } from '../admin/bootstrap';
import { ConfigError, parseConfig, type Config } from '../config';
import { createDb } from '../db/create-db';
import { migrateToLatest } from '../db/migrator';
import { createDeps } from './deps';
import { createLogger } from '../log';
import { PgStreamBus } from '../stream/pg-stream-bus';
import { workspaceHostTaskQueue } from '../temporal/task-queues';
import { onShutdownSignal, startApi, startWorker, startWorkspaceHost } from './processes';

const USAGE = 'usage: chatd <api|worker|workspace-host|migrate|start>';
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
  if (command === 'start') {
    // Loaded on demand: the api and worker roles never start the embedded PostgreSQL or Temporal.
    const { runEmbedded } = await import('./dev');
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
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const bus = config.streamBus === 'memory' ? undefined : new PgStreamBus(resolved.databaseUrl, log);
  const deps = await createDeps(config, log, { ...resolved, bus }, command);
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
    const worker =
      command === 'worker'
        ? await startWorker(deps, resolved.temporalAddress)
        : await startWorkspaceHost(deps, resolved.temporalAddress);
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
      await worker.stop();
      await deps.close();
    });
    await worker.done;
  }
}

main(process.argv[2]).catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
