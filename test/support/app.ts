/**
 * startTestApp(): the whole of chatd for an e2e test: a fresh migrated database, a worker on its
 * own task queue (real Temporal), the real Koa API on port 0, an admin token, and a provider plus
 * default model config pointing at the test's fake LLM server. Drive it only through HTTP.
 */
import { randomUUID } from 'node:crypto';
import { ensureBootstrapAdmin } from '../../src/bootstrap';
import { createDeps, type Deps } from '../../src/deps';
import { createLogger } from '../../src/log';
import { startApi, startWorker, type RunningApi, type RunningWorker } from '../../src/main/processes';
import { SecretBox } from '../../src/security/secrets';
import type { StreamBus } from '../../src/stream/bus';
import type { FakeLlmServer } from './fake-llm/server';
import { testConfig } from './config';
import { createTestDatabase, type TestDatabase } from './db';
import { getWorkflowBundle, temporalAddress } from './temporal';

export interface TestApp {
  url: string;
  token: string;
  deps: Deps;
  database: TestDatabase;
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
}

export async function startTestApp(options: TestAppOptions): Promise<TestApp> {
  const database = options.database ?? (await createTestDatabase());
  const taskQueue = options.taskQueue ?? `chatd-test-${randomUUID()}`;
  const config = testConfig({ CHATD_TASK_QUEUE: taskQueue });
  const deps = await createDeps(
    config,
    createLogger('silent', 'test'),
    {
      databaseUrl: database.url,
      temporalAddress: temporalAddress(),
      encryptionKeys: SecretBox.generateKeyEntry('t1'),
      bus: options.bus,
    },
    'test',
  );
  const roles = options.roles ?? { api: true, worker: true };
  let worker: RunningWorker | undefined;
  let api: RunningApi | undefined;
  if (roles.worker) worker = await startWorker(deps, temporalAddress(), await getWorkflowBundle());
  if (roles.api) api = await startApi(deps, '127.0.0.1', 0);
  const token = (await ensureBootstrapAdmin(deps.db, undefined)) ?? '';
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

  let modelConfigId = '';
  if (api) {
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
