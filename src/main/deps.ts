/**
 * createDeps(config): everything a chatd process needs, built once in src/main/* and injected
 * everywhere else (no module singletons): the database, the stream bus, the secret box, the
 * Temporal client, the model resolver and the logger. `close()` releases them in order.
 */
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { ModelResolver } from '../turn/models';
import { StepSettingsCache } from '../turn/step-settings';
import { StepHandoff } from '../turn/step-handoff';
import type { ActivityDeps } from '../../activities';
import type { Config } from '../config';
import { createDb } from '../db/create-db';
import type { Database } from '../db/database';
import { userAgentFor } from '../llm/registry';
import type { VapidDetails } from '../push/keys';
import { TurnPushNotifier } from '../push/turn-notifier';
import { SecretBox } from '../security/secrets';
import type { StreamBus } from '../stream/bus';
import { MemoryStreamBus } from '../stream/memory-stream-bus';
import { temporalConnectionOptions } from '../temporal/connection-options';
import { TemporalTurnLauncher } from '../temporal/turns';
import { databaseSpans } from '../tracing/spans';
import { tracingClientInterceptor } from '../tracing/temporal';
import type { Tracing } from '../tracing/tracing';
import { buildToolRegistry } from '../tools/registry';
import { createProvisioningTools, createWorkspaceTools } from '../tools';
import { subagentToolSpecs } from '../tools/subagent.tools';
import { VERSION } from '../version';
import { McpClientPool } from '../mcp/client-pool';
import { ChatdMetrics } from '../metrics/chatd-metrics';
import { readQueueDepth } from '../metrics/queue-depth';
import { McpToolCatalog } from '../mcp/catalog';
import { McpOAuth } from '../mcp/oauth';
import { chatToolSet } from '../turn/chat-tools';
import { ChatWorkspaces } from '../workspaces/chat-workspaces';
import { LocalWorkspaceProvider, type SandboxStatus } from '../workspaces/local.provider';
import { DEFAULT_UIDS } from '../workspaces/sandbox';
import { SpendCheck } from '../usage/spend-check';
import { pgUsageStore } from '../usage/store';
import { TurnBudget } from '../usage/turn-budget';

export interface Deps extends ActivityDeps {
  config: Config;
  db: Kysely<Database>;
  bus: StreamBus;
  secrets: SecretBox;
  log: Logger;
  temporal: { connection: Connection; client: Client };
  turns: TemporalTurnLauncher;
  /** Whether this process's workspace commands are sandboxed (docs/workspaces.md). */
  workspaceSandbox(): Promise<SandboxStatus>;
  /** The VAPID public key browsers subscribe with; undefined when web push is off. */
  vapidPublicKey: string | undefined;
  /** This process's tracing when it is on (README "Traces"); `close()` flushes and stops it. */
  tracing?: Tracing;
  /** This process's metrics, served on `/metrics` (README "Metrics"). */
  metrics: ChatdMetrics;
  close(): Promise<void>;
}

/** The longest one MCP tool call may take, progress or not: below the tool activity's 20-minute limit. */
const MCP_MAX_CALL_MS = 15 * 60_000;

export interface DepsOverrides {
  databaseUrl: string;
  temporalAddress: string;
  encryptionKeys: string;
  bus?: StreamBus;
  /** VAPID keys and subject that are not in the config (the embedded start generates them). */
  vapid?: VapidDetails;
  /** Tracing, when the entry point started it (src/tracing); the deps own it from then on. */
  tracing?: Tracing;
  /** The process's metrics, when its entry point made them first (for its bus, or the Temporal SDK's part). */
  metrics?: ChatdMetrics;
}

/** The configured VAPID settings, when web push is on. */
function configuredVapid(config: Config): VapidDetails | undefined {
  const { keys, subject } = config.webPush;
  return keys && subject ? { ...keys, subject } : undefined;
}

export async function createDeps(config: Config, log: Logger, resolved: DepsOverrides, role: string): Promise<Deps> {
  const { tracing } = resolved;
  const db = createDb({
    url: resolved.databaseUrl,
    poolSize: config.dbPoolSize,
    applicationName: `chatd-${role}`,
    ...(tracing ? { wrapQuery: databaseSpans(tracing.tracer) } : {}),
  });
  const bus = resolved.bus ?? new MemoryStreamBus();
  const secrets = new SecretBox(resolved.encryptionKeys);
  const connection = await Connection.connect({
    ...temporalConnectionOptions(config.temporal, resolved.temporalAddress),
    // While Temporal is down, gRPC's reconnect backoff grows (x1.6, up to 2 minutes) and calls
    // wait for its next attempt: a turn request took 10-16 s after a 20 s outage; capped, about 1 s.
    channelArgs: { 'grpc.max_reconnect_backoff_ms': 2_000 },
  });
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    ...(tracing ? { interceptors: { workflow: [tracingClientInterceptor(tracing)] } } : {}),
  });
  const metrics = resolved.metrics ?? new ChatdMetrics();
  metrics.readQueueDepthFrom(() => readQueueDepth(db));
  const models = new ModelResolver(db, secrets, config.presets, userAgentFor(VERSION), metrics);
  const turns = new TemporalTurnLauncher(client, config.temporal.taskQueue);
  const usageStore = pgUsageStore(db);
  // Commands in workspaces get a minimal environment, never the worker's (database URLs, keys).
  const workspaceProvider = new LocalWorkspaceProvider({
    baseDir: path.resolve(config.dataDir, 'workspaces'),
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
    sandbox: config.sandbox.mode,
    network: config.sandbox.network,
    limits: config.sandbox.limits,
    cgroup: config.sandbox.cgroup,
    idleReapMs: config.sandbox.idleMinutes * 60_000,
    uids: { base: config.sandbox.uidBase, count: DEFAULT_UIDS.count },
    log,
  });
  // The process serving this host's workspaces picks their cgroup backend (logged) and sweeps stale ones.
  if (role === 'workspace-host' || (role !== 'api' && config.workspaceHost.servedByWorker)) {
    await workspaceProvider.prepareHost();
  }
  // Workspaces this process creates record its host, where their tool calls are routed from then on.
  const workspaces = new ChatWorkspaces({ db, provider: workspaceProvider, hostId: config.workspaceHost.id });
  const workspaceTools = createWorkspaceTools();
  const provisioningTools = createProvisioningTools({ workspaces });
  const registry = buildToolRegistry([...workspaceTools, ...provisioningTools]);
  const rootSpecs = [...registry.specs(), ...subagentToolSpecs()];
  // Sub-agents work in their parent's workspace and cannot provision workspaces or spawn agents.
  const childNames = new Set(workspaceTools.map((t) => t.name));
  const childSpecs = registry.specs().filter((spec) => childNames.has(spec.name));
  // MCP servers: one connection pool and token refresher per process; the catalog is the turn's tool source.
  const mcpOAuth = new McpOAuth({ db, secrets, httpTimeoutMs: config.mcp.connectTimeoutMs, log });
  const mcpPool = new McpClientPool({
    connectTimeoutMs: config.mcp.connectTimeoutMs,
    idleMs: 5 * 60_000,
    version: VERSION,
    log,
  });
  const mcpTools = new McpToolCatalog({
    db,
    secrets,
    pool: mcpPool,
    oauth: mcpOAuth,
    toolsTtlMs: config.mcp.toolsTtlMs,
    callTimeoutMs: config.mcp.callTimeoutMs,
    maxCallMs: MCP_MAX_CALL_MS,
    log,
  });
  // Web push is sent by whichever process runs finishTurn (the worker); without keys it is off.
  const vapid = resolved.vapid ?? configuredVapid(config);
  const push = vapid ? new TurnPushNotifier({ db, log, vapid }) : undefined;
  return {
    config,
    db,
    bus,
    secrets,
    log,
    models,
    settings: new StepSettingsCache(db),
    handoff: new StepHandoff(),
    usage: new SpendCheck(usageStore, log, { cacheMs: config.usageCacheMs }),
    budget: new TurnBudget(usageStore, log, { refreshMs: config.usageCacheMs }),
    maxSteps: config.maxSteps,
    approvalTimeoutMs: config.toolApprovalTimeoutMs,
    maxRunningTurnsPerUser: config.maxRunningTurnsPerUser,
    wakeQueuedTurn: (chatId) =>
      turns.wakeQueuedTurn(chatId).catch((err: unknown) => log.warn({ err, chatId }, 'could not wake a queued turn')),
    temporal: { connection, client },
    turns,
    workspaceSandbox: () => workspaceProvider.sandboxStatus(),
    tools: registry,
    externalTools: mcpTools,
    chatTools: (chat, generation) =>
      chatToolSet(chat, chat.parent_chat_id ? childSpecs : rootSpecs, mcpTools, generation),
    workspaceFor: (chatId, linked) => workspaces.forChat(chatId, linked),
    workspaceHostTimeoutSeconds: config.workspaceHost.pickupTimeoutSeconds,
    notifySubagentFinished: (parent, child) => turns.notifySubagentFinished(parent, child),
    onTurnEnded: push ? (ended) => push.turnEnded(ended) : undefined,
    vapidPublicKey: vapid?.publicKey,
    tracing,
    tracer: tracing?.tracer,
    metrics,
    async close() {
      // Pushes under way still need the database; each is bounded by its send timeout.
      await push?.close();
      await mcpPool.close();
      await workspaceProvider.dispose();
      await bus.close();
      await connection.close();
      await db.destroy();
      await tracing?.shutdown();
    },
  };
}
