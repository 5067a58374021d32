/**
 * startTestApp(): the whole of chatd for an e2e test: a fresh migrated database, a worker on its
 * own task queue (real Temporal), the real Koa API on port 0, an admin token, and a provider plus
 * default model config pointing at the test's fake LLM server. Drive it only through HTTP.
 * Multi-process tests start several apps on one database and task queue, each playing one role
 * (API only or worker only) with its own stream bus, as separate `chatd api` / `chatd worker` would.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBootstrapAdmin } from '../../src/admin/bootstrap';
import { findDefaultModelConfig } from '../../src/db/repositories/model-configs.repository';
import { insertApiToken } from '../../src/db/repositories/users.repository';
import { createDeps, type Deps } from '../../src/main/deps';
import { createLogger } from '../../src/log';
import { startApi, startWorker, type ApiOptions, type RunningApi, type RunningWorker } from '../../src/main/processes';
import { SecretBox } from '../../src/security/secrets';
import { generateToken, hashToken } from '../../src/security/tokens';
import type { StreamBus } from '../../src/stream/bus';
import type { Tracing } from '../../src/tracing/tracing';
import { PgStreamBus } from '../../src/stream/pg-stream-bus';
import { titleModelFor } from '../../src/llm/registry';
import { text } from '../../src/dev/fake-llm/script';
import type { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { testConfig } from './config';
import { createTestDatabase, type TestDatabase } from './db';
import { getTracedWorkflowBundle, getWorkflowBundle, temporalAddress } from './temporal';
import { until } from './wait';

/** Re-exported: e2e tests and their helpers poll with it alongside the app. */

export interface TestApp {
  url: string;
  token: string;
  deps: Deps;
  database: TestDatabase;
  taskQueue: string;
  modelConfigId: string;
  /** JSON request with the admin token (or `token`); returns status and parsed body. */
  request<T = any>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

export interface TestAppOptions {
  fake: FakeLlmServer;
  provider?: 'openai' | 'anthropic' | 'openai-compat';
  apiMode?: 'responses' | 'chat';
  model?: string;
  bus?: StreamBus;
  /** Run only the API or only the worker (multi-process tests assemble their own). */
  roles?: { api: boolean; worker: boolean };
  database?: TestDatabase;
  taskQueue?: string;
  /** Port of the API (default: any free one); a restarted API can take over its predecessor's port. */
  port?: number;
  /** SSE tuning (a short heartbeat, a small per-client buffer). */
  api?: ApiOptions;
  /** Create a provider and default model config (default true; reused when the database has one). */
  seedModel?: boolean;
  /** Workspace host id of this app (default: a fresh one, so each app polls its own host queue). */
  workspaceHostId?: string;
  /** Extra environment for the app's config (CHATD_DATA_DIR, CHATD_WORKSPACE_HOST_TIMEOUT, …). */
  env?: Record<string, string>;
  /** Tracing for the app (the worker then runs the traced workflow bundle); stopping the app stops it. */
  tracing?: Tracing;
}

/** A cross-process stream bus on the test database, as `CHATD_STREAM_BUS=postgres` gives each process. */
export function pgBus(database: TestDatabase): PgStreamBus {
  return new PgStreamBus(database.url, createLogger('silent', 'test-bus'));
}

/** What the fake answers to the cheap title model of each hosted provider (see titleModelFor). */
export const TEST_TITLE = 'Generated test title';

/** A message body with one text part (POST /chats, POST /chats/{id}/messages, a message edit). */
export const textBody = (text: string) => ({ content: [{ type: 'text', text }] });

/** The requests of the turn itself, without side calls such as title generation. */
export function turnRequests(fake: FakeLlmServer, model = 'fake-model'): FakeLlmServer['requests'] {
  return fake.requests.filter((r) => r.model === model);
}

export async function startTestApp(options: TestAppOptions): Promise<TestApp> {
  for (const kind of ['openai', 'anthropic'] as const) {
    const model = titleModelFor(kind);
    if (model) options.fake.respondTo(model, () => text(TEST_TITLE));
  }
  const database = options.database ?? (await createTestDatabase());
  const taskQueue = options.taskQueue ?? `chatd-test-${randomUUID()}`;
  const config = testConfig({
    CHATD_TASK_QUEUE: taskQueue,
    CHATD_WORKSPACE_HOST_ID: options.workspaceHostId ?? `test-${randomUUID()}`,
    ...options.env,
  });
  const deps = await createDeps(
    config,
    createLogger('silent', 'test'),
    {
      databaseUrl: database.url,
      temporalAddress: temporalAddress(),
      // Apps sharing a database share its key, as the processes of one deployment do.
      encryptionKeys: encryptionKeysFor(database),
      bus: options.bus,
      tracing: options.tracing,
    },
    'test',
  );
  const roles = options.roles ?? { api: true, worker: true };
  let worker: RunningWorker | undefined;
  let api: RunningApi | undefined;
  if (roles.worker) {
    const bundle = options.tracing ? await getTracedWorkflowBundle() : await getWorkflowBundle();
    worker = await startWorker(deps, temporalAddress(), bundle, { withApi: roles.api });
  }
  if (roles.api) api = await startApi(deps, '127.0.0.1', options.port ?? 0, options.api);
  const token = (await ensureBootstrapAdmin(deps.db, undefined)) ?? (await adminToken(deps));
  const url = api?.url ?? '';

  const request: TestApp['request'] = async (method, path, body, asToken) => {
    const res = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${asToken ?? token}`,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  let modelConfigId = (await findDefaultModelConfig(deps.db))?.id ?? '';
  if (api && !modelConfigId && options.seedModel !== false) {
    const kind = options.provider ?? 'openai';
    const provider = await request('POST', '/chat-providers', {
      provider: kind,
      api_key: 'test-key',
      base_url: kind === 'anthropic' ? options.fake.anthropicBaseUrl : options.fake.openaiBaseUrl,
      ...(options.apiMode ? { api_mode: options.apiMode } : {}),
    });
    if (provider.status !== 201) throw new Error(`provider setup failed: ${JSON.stringify(provider.body)}`);
    const modelConfig = await request('POST', '/model-configs', {
      provider_id: provider.body.id,
      model: options.model ?? 'fake-model',
      context_limit: 128_000,
      is_default: true,
    });
    if (modelConfig.status !== 201) throw new Error(`model config setup failed: ${JSON.stringify(modelConfig.body)}`);
    modelConfigId = modelConfig.body.id;
  }

  return {
    url,
    token,
    deps,
    database,
    taskQueue,
    modelConfigId,
    request,
    async stop() {
      await api?.stop();
      await worker?.stop();
      await deps.close();
      if (!options.database) await database.drop();
    },
  };
}

/**
 * Starts the worker role on the database and task queue of an API-only `app`, as a separate
 * `chatd worker` would. Stop it before `app`, which may own the database.
 */
export function startWorkerFor(app: TestApp, fake: FakeLlmServer): Promise<TestApp> {
  return startTestApp({ fake, database: app.database, taskQueue: app.taskQueue, roles: { api: false, worker: true } });
}

const keysByDatabase = new WeakMap<TestDatabase, string>();
function encryptionKeysFor(database: TestDatabase): string {
  let keys = keysByDatabase.get(database);
  if (!keys) keysByDatabase.set(database, (keys = SecretBox.generateKeyEntry('t1')));
  return keys;
}

/** A worker running as a child process (see worker-process.ts). */
export interface WorkerProcess {
  pid: number;
  /** Kills it with SIGKILL (no shutdown, no cleanup) and waits until it is gone. */
  kill(): Promise<void>;
}

let bundlePath: Promise<string> | undefined;

/**
 * Starts a worker role in a separate OS process on the database and task queue of an app, with a
 * PostgreSQL stream bus, and resolves once it polls. Shares the test file's workflow bundle.
 */
export async function startWorkerProcess(options: {
  database: TestDatabase;
  taskQueue: string;
  /** Extra environment of the worker's config (CHATD_WORKSPACE_HOST_ID, CHATD_DATA_DIR, …). */
  env?: Record<string, string>;
}): Promise<WorkerProcess> {
  bundlePath ??= getWorkflowBundle().then((bundle) => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'chatd-bundle-')), 'workflows.js');
    writeFileSync(file, bundle.code);
    return file;
  });
  const args = [
    options.database.url,
    temporalAddress(),
    options.taskQueue,
    encryptionKeysFor(options.database),
    await bundlePath,
    JSON.stringify({ CHATD_WORKSPACE_HOST_ID: `test-${randomUUID()}`, ...options.env }),
  ];
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'worker-process.ts'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
    void exited.then(() => reject(new Error(`worker process exited before it was ready: ${stderr}`)));
  });
  return {
    pid: child.pid!,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A fresh token for the bootstrap admin of a database another app already set up. */
async function adminToken(deps: Deps): Promise<string> {
  const admin = await deps.db
    .selectFrom('users')
    .select('id')
    .where('username', '=', 'admin')
    .executeTakeFirstOrThrow();
  const token = generateToken();
  await insertApiToken(deps.db, { userId: admin.id, name: 'test', tokenHash: hashToken(token), expiresAt: null });
  return token;
}

/** Waits until GET /chats/{id} satisfies `predicate` and returns the chat. */
export function waitForChat(
  app: TestApp,
  chatId: string,
  predicate: (chat: any) => boolean,
  what = 'the chat state',
  timeoutMs = 60_000,
): Promise<any> {
  let last: unknown;
  return until(
    async () => {
      const res = await app.request('GET', `/chats/${chatId}`);
      last = res.body;
      return res.status === 200 && predicate(res.body) ? res.body : undefined;
    },
    what,
    timeoutMs,
    async () => JSON.stringify(last),
  );
}
