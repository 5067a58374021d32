/**
 * `npm start`: chatd with embedded defaults. One process runs the API and the worker, starting a
 * Temporal dev server (SQLite file and Web UI) and an embedded PostgreSQL unless TEMPORAL_ADDRESS
 * or DATABASE_URL point elsewhere. State lives under CHATD_DATA_DIR (.data/) and survives restarts.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ensureBootstrapAdmin, ensureDefaultModel } from '../admin/bootstrap';
import { ConfigError, parseConfig, type Config } from '../config';
import { createDb } from '../db/create-db';
import { migrateToLatest } from '../db/migrator';
import { createDeps, type Deps } from './deps';
import { ChildReaper } from '../infra/child-reaper';
import { resolveWebDir, webAppBuilt } from '../api/web-app';
import { signedInUrl } from '../client/playground-link';
import { DataDirInUseError, lockDataDir } from '../infra/data-dir-lock';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../infra/embedded-postgres';
import { assertPortsFree, awaitPortsFree, embeddedPorts, PortInUseError } from '../infra/ports';
import { resolveTemporalCli } from '../infra/temporal-binaries';
import { startTemporalDevServer, stopLeftoverDevServers, type DevServerHandle } from '../infra/temporal-dev-server';
import type { Logger } from 'pino';
import { createLogger } from '../log';
import { ChatdMetrics } from '../metrics/chatd-metrics';
import { loadOrCreateVapidKeys, VAPID_KEYS_FILE } from '../push/vapid-file';
import { SecretBox } from '../security/secrets';
import { installTemporalRuntime } from '../temporal/runtime';
import { tracingFromEnv } from '../tracing/tracing';
import { onShutdownSignal, startApi, startWorker } from './processes';

/** A file under the data dir holding a generated secret, created once with mode 0600. */
function persistentSecret(file: string, generate: () => string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const value = generate();
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return value;
}

/**
 * The VAPID contact of `chatd start` when CHATD_VAPID_SUBJECT is unset. Enough for development; some
 * push services refuse a localhost contact, so set CHATD_VAPID_SUBJECT to a real address for them.
 */
export const EMBEDDED_VAPID_SUBJECT = 'mailto:chatd@localhost';

export interface EmbeddedChatd {
  apiUrl: string;
  temporalAddress: string;
  temporalUiUrl: string | null;
  /** The admin token: generated on first start and kept (0600) under the data dir in embedded mode. */
  token: string;
  deps: Deps;
  /** Resolves when the worker stops (or rejects when it fails). */
  workerDone: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts everything `npm start` runs and returns once the API listens. `say` receives progress
 * lines. Anything started before a failure is stopped again before the error propagates.
 */
export async function startEmbedded(
  config: Config,
  log: Logger,
  say: (line: string) => void,
  /** The Temporal SDK's metrics exporter of this process (installTemporalRuntime), served on the API's /metrics. */
  options: { temporalMetricsUrl?: string | null } = {},
): Promise<EmbeddedChatd> {
  const dataDir = path.resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const cleanups: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse())
      await cleanup().catch((err: unknown) => log.warn({ err }, 'shutdown step failed'));
  };

  try {
    // One start per data directory; leftovers of a killed earlier start are stopped below.
    const unlock = lockDataDir(dataDir);
    cleanups.push(async () => unlock());
    // The servers started here die with this process, even on SIGKILL (src/infra/child-reaper.ts).
    const reaper = ChildReaper.start();
    cleanups.push(async () => reaper.close());
    const temporalDb = path.join(dataDir, 'temporal.sqlite');
    const stopped = config.temporal.address ? 0 : await stopLeftoverDevServers(temporalDb, say);
    const ports = embeddedPorts(config);
    // A stopped leftover's ports may take a moment to be released.
    await awaitPortsFree([...ports.api, ...ports.temporal], stopped > 0 ? 10_000 : 0);

    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      say(`starting embedded PostgreSQL (data in ${path.join(dataDir, 'postgres')})`);
      const pg: EmbeddedPostgresHandle = await startEmbeddedPostgres({
        dataDir: path.join(dataDir, 'postgres'),
        database: 'chatd',
        log: (line) => log.debug({ postgres: line }),
        notice: say,
        reaper,
      });
      cleanups.push(() => pg.stop());
      databaseUrl = pg.url;
    }

    let temporalAddress = config.temporal.address;
    let uiUrl: string | null = null;
    if (!temporalAddress) {
      const binary = resolveTemporalCli(process.env);
      if (!binary) {
        throw new Error(
          'no Temporal CLI: none cached, none on PATH, the Temporal SDK download is unreachable and Go is not ' +
            'installed to build one. Install Go (>= 1.25), put a `temporal` on PATH, set TEMPORAL_CLI_PATH, or ' +
            'set TEMPORAL_ADDRESS to an existing Temporal server (README "Temporal binaries").',
        );
      }
      say(`starting Temporal dev server (${binary.source}: ${binary.path})`);
      // Checked again right before: the SDK's readiness check would take a stale server on the port for ours.
      await assertPortsFree(ports.temporal);
      const temporal: DevServerHandle = await startTemporalDevServer({
        binary,
        dbFilename: temporalDb,
        port: config.dev.temporalPort,
        ui: true,
        uiPort: config.dev.temporalUiPort,
        reaper,
      });
      cleanups.push(() => temporal.stop());
      temporalAddress = temporal.address;
      uiUrl = temporal.uiUrl;
    }

    const encryptionKeys =
      config.encryptionKeys ??
      persistentSecret(path.join(dataDir, 'encryption-keys'), () => SecretBox.generateKeyEntry('k1'));

    const migrationDb = createDb({ url: databaseUrl, poolSize: 1, applicationName: 'chatd-migrate' });
    await migrateToLatest(migrationDb).finally(() => migrationDb.destroy());

    // Web push works out of the box: keys from the environment, else a pair kept in the data dir.
    const vapid = {
      ...(config.webPush.keys ?? loadOrCreateVapidKeys(path.join(dataDir, VAPID_KEYS_FILE))),
      subject: config.webPush.subject ?? EMBEDDED_VAPID_SUBJECT,
    };
    const metrics = new ChatdMetrics({ temporalMetricsUrl: options.temporalMetricsUrl });
    const tracing = tracingFromEnv(process.env, 'chatd') ?? undefined;
    const deps = await createDeps(
      config,
      log,
      { databaseUrl, temporalAddress, encryptionKeys, vapid, metrics, tracing },
      'dev',
    );
    cleanups.push(() => deps.close());
    const tokenFile = path.join(dataDir, 'admin-token');
    const created = await ensureBootstrapAdmin(deps.db, config.bootstrapAdminToken);
    if (created) writeFileSync(tokenFile, `${created}\n`, { mode: 0o600 });
    const token =
      config.bootstrapAdminToken ??
      created ??
      (existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : '(created earlier; not stored)');
    await ensureDefaultModel(deps.db, deps.secrets, config.defaultModel, config.presets);

    const worker = await startWorker(deps, temporalAddress, undefined, { withApi: true });
    cleanups.push(() => worker.stop());
    const api = await startApi(deps, config.http.host, config.http.port);
    cleanups.push(() => api.stop());
    return {
      apiUrl: api.url,
      temporalAddress,
      temporalUiUrl: uiUrl,
      token,
      deps,
      workerDone: worker.done,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** `npm start` / `chatd start`: runs until Ctrl-C. */
export async function runEmbedded(): Promise<void> {
  const config = parseConfig(process.env);
  const log = createLogger(config.logLevel, 'chatd');
  const say = (line: string): void => void process.stderr.write(`[chatd] ${line}\n`);
  // One process: the API's /metrics serves the worker's and the Temporal SDK's metrics too.
  const { metricsUrl: temporalMetricsUrl } = await installTemporalRuntime(log, { metrics: true });
  const chatd = await startEmbedded(config, log, say, { temporalMetricsUrl }).catch((err: unknown) => {
    // What to do is in the message; a stack trace would only bury it.
    if (err instanceof PortInUseError || err instanceof DataDirInUseError) {
      say(err.message);
      process.exit(1);
    }
    throw err;
  });
  say('ready');
  const sandbox = await chatd.deps.workspaceSandbox();
  if (!sandbox.ok) say(`WARNING: workspace tools are unavailable: ${sandbox.reason}`);
  else if (sandbox.off) say('WARNING: CHATD_WORKSPACE_SANDBOX=off: workspace commands run unsandboxed on this host');
  process.stdout.write(
    [
      '',
      `  Playground       ${
        webAppBuilt(resolveWebDir(config.webDir))
          ? signedInUrl(chatd.apiUrl, chatd.token)
          : 'not built (npm run build:web)'
      }`,
      `  chatd API        ${chatd.apiUrl}/api/v1`,
      `  Temporal UI      ${chatd.temporalUiUrl ?? `(external Temporal at ${chatd.temporalAddress})`}`,
      `  Admin token      ${chatd.token}`,
      '',
      `  Try: curl -H "Authorization: Bearer ${chatd.token}" ${chatd.apiUrl}/api/v1/users/me`,
      '  Stop with Ctrl-C.',
      '',
    ].join('\n') + '\n',
  );
  onShutdownSignal(async (signal) => {
    say(`${signal}: shutting down`);
    await chatd.stop();
  });
  chatd.workerDone.catch(async (err: unknown) => {
    log.error({ err }, 'worker stopped');
    await chatd.stop();
    process.exit(1);
  });
}

if (require.main === module) {
  runEmbedded().catch((err: unknown) => {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(1);
  });
}
