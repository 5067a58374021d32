/**
 * Providers and model configs over HTTP: keys are write-only, encrypted at rest and
 * sent only to the base URL they were entered for until an admin confirms another one; exactly one
 * config is the default, deletes are soft (history and costs keep their config), every invalid input
 * is a 400 that writes nothing, and members can only read enabled configs.
 */
import { randomUUID } from 'node:crypto';
import { openProviderKey } from '../../src/security/provider-keys';
import { startTestApp, type TestApp } from '../support/app';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { text } from '../../src/dev/fake-llm/script';
import { createTestUser, type TestUser } from '../support/users';

describe('providers and model configs', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let member: TestUser;
  let openaiProviderId: string;

  beforeAll(async () => {
    fake = await FakeLlmServer.start({ fallback: () => text('Fine.') });
    app = await startTestApp({ fake });
    member = await createTestUser(app);
    const providers = await app.request('GET', '/chat-providers');
    openaiProviderId = providers.body.find((p: { provider: string }) => p.provider === 'openai').id;
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  const db = () => app.deps.db;

  /** A snapshot of both tables, to prove a rejected request changed nothing. */
  const snapshot = async () => ({
    providers: await db().selectFrom('chat_providers').selectAll().orderBy('id').execute(),
    configs: await db().selectFrom('chat_model_configs').selectAll().orderBy('id').execute(),
  });

  const newCompatProvider = async (): Promise<string> => {
    const res = await app.request('POST', '/chat-providers', {
      provider: 'openai-compat',
      display_name: `compat ${randomUUID().slice(0, 6)}`,
      base_url: fake.openaiBaseUrl,
    });
    expect(res.status).toBe(201);
    return res.body.id;
  };

  const newConfig = async (overrides: Record<string, unknown> = {}): Promise<any> => {
    const res = await app.request('POST', '/model-configs', {
      provider_id: openaiProviderId,
      model: `m-${randomUUID().slice(0, 8)}`,
      context_limit: 100_000,
      ...overrides,
    });
    expect(res.status).toBe(201);
    return res.body;
  };

  const defaults = async (): Promise<string[]> =>
    (
      await db()
        .selectFrom('chat_model_configs')
        .select('id')
        .where('is_default', '=', true)
        .where('deleted', '=', false)
        .execute()
    ).map((r) => r.id);

  describe('API keys', () => {
    it('are write-only: responses say has_api_key, the column holds AES-GCM ciphertext', async () => {
      const secret = `sk-ant-${randomUUID()}`;
      const created = await app.request('POST', '/chat-providers', {
        provider: 'anthropic',
        display_name: 'Anthropic',
        api_key: secret,
        base_url: fake.anthropicBaseUrl,
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ provider: 'anthropic', has_api_key: true });
      expect(created.body).not.toHaveProperty('api_key');
      expect(JSON.stringify(created.body)).not.toContain(secret);
      const listed = await app.request('GET', '/chat-providers');
      expect(JSON.stringify(listed.body)).not.toContain(secret);

      const row = await db()
        .selectFrom('chat_providers')
        .selectAll()
        .where('id', '=', created.body.id)
        .executeTakeFirstOrThrow();
      expect(row.api_key_key_id).toBe('t1');
      expect(row.api_key_ciphertext!.includes(Buffer.from(secret))).toBe(false);
      // Sealed for its base URL (GCM additional data), which is recorded beside it.
      expect(row.api_key_base_url).toBe(fake.anthropicBaseUrl.replace(/\/+$/, ''));
      expect(openProviderKey(app.deps.secrets, row)).toEqual({ state: 'confirmed', apiKey: secret });
      expect(() =>
        app.deps.secrets.open({ keyId: row.api_key_key_id!, ciphertext: row.api_key_ciphertext! }),
      ).toThrow();

      // A second hosted Anthropic provider is a conflict and is not written.
      const before = await snapshot();
      const duplicate = await app.request('POST', '/chat-providers', { provider: 'anthropic', api_key: 'x' });
      expect(duplicate.status).toBe(409);
      expect(duplicate.body.error.code).toBe('provider_exists');
      expect(await snapshot()).toEqual(before);

      // Removing the key.
      const cleared = await app.request('PATCH', `/chat-providers/${created.body.id}`, { api_key: null });
      expect(cleared.status).toBe(200);
      expect(cleared.body.has_api_key).toBe(false);
      const clearedRow = await db()
        .selectFrom('chat_providers')
        .select(['api_key_ciphertext', 'api_key_key_id'])
        .where('id', '=', created.body.id)
        .executeTakeFirstOrThrow();
      expect(clearedRow).toEqual({ api_key_ciphertext: null, api_key_key_id: null });
    });

    it('allow any number of OpenAI-compatible providers', async () => {
      await newCompatProvider();
      await newCompatProvider();
    });
  });

  describe('provider validation', () => {
    it.each([
      ['an unknown provider kind', 'POST', { provider: 'gemini' }, 'validation_failed'],
      ['a non-http base_url', 'POST', { provider: 'openai-compat', base_url: 'ftp://x.test' }, 'validation_failed'],
      ['openai-compat without base_url', 'POST', { provider: 'openai-compat' }, 'invalid_provider_options'],
      [
        'an empty api_key',
        'POST',
        { provider: 'openai-compat', base_url: 'http://x.test', api_key: '' },
        'validation_failed',
      ],
      [
        'an unknown field',
        'POST',
        { provider: 'openai-compat', base_url: 'http://x.test', region: 'eu' },
        'validation_failed',
      ],
      ['an empty update', 'PATCH', {}, 'validation_failed'],
      ['clearing the base_url of openai-compat', 'PATCH', { base_url: null }, 'invalid_provider_options'],
    ])('refuses %s with 400 and writes nothing', async (_what, method, body, code) => {
      const compat = method === 'PATCH' ? await newCompatProvider() : undefined;
      const before = await snapshot();
      const res = await app.request(method, compat ? `/chat-providers/${compat}` : '/chat-providers', body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe(code);
      expect(await snapshot()).toEqual(before);
    });

    it('refuses api_mode on an Anthropic provider', async () => {
      const anthropic = (await app.request('GET', '/chat-providers')).body.find(
        (p: { provider: string }) => p.provider === 'anthropic',
      );
      const before = await snapshot();
      const res = await app.request('PATCH', `/chat-providers/${anthropic.id}`, { api_mode: 'chat' });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_provider_options');
      expect(await snapshot()).toEqual(before);
    });

    it('answers 404 for an unknown provider and 400 for a malformed id', async () => {
      const unknown = await app.request('PATCH', `/chat-providers/${randomUUID()}`, { enabled: false });
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.code).toBe('provider_not_found');
      expect((await app.request('DELETE', `/chat-providers/${randomUUID()}`)).status).toBe(404);
      expect((await app.request('DELETE', '/chat-providers/1')).status).toBe(400);
    });
  });

  describe('the default model config', () => {
    it('moves in one step: setting a new default clears the old one', async () => {
      const [original] = await defaults();
      expect(original).toBe(app.modelConfigId);

      const second = await newConfig({ is_default: true });
      expect(second.is_default).toBe(true);
      expect(await defaults()).toEqual([second.id]);

      const back = await app.request('PATCH', `/model-configs/${original}`, { is_default: true });
      expect(back.status).toBe(200);
      expect(back.body.is_default).toBe(true);
      expect(await defaults()).toEqual([original]);
      const listed = await app.request('GET', '/model-configs');
      expect(listed.body.filter((c: { is_default: boolean }) => c.is_default).map((c: { id: string }) => c.id)).toEqual(
        [original],
      );
    });

    it('cannot be unset without choosing another (default_required)', async () => {
      const before = await snapshot();
      const res = await app.request('PATCH', `/model-configs/${app.modelConfigId}`, { is_default: false });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('default_required');
      expect(await snapshot()).toEqual(before);
    });

    it('is not taken by a new config created without is_default while one exists', async () => {
      const config = await newConfig();
      expect(config.is_default).toBe(false);
      expect(await defaults()).toEqual([app.modelConfigId]);
    });
  });

  describe('model config validation', () => {
    const valid = () => ({ provider_id: openaiProviderId, model: 'gpt-x', context_limit: 1000 });

    it.each([
      ['context_limit 0', { context_limit: 0 }, 'validation_failed'],
      ['a missing context_limit', { context_limit: undefined }, 'validation_failed'],
      ['a fractional context_limit', { context_limit: 10.5 }, 'validation_failed'],
      ['a negative price', { options: { cost: { input_price_per_million_tokens: -1 } } }, 'validation_failed'],
      ['compression_threshold 101', { compression_threshold: 101 }, 'validation_failed'],
      ['compression_threshold -1', { compression_threshold: -1 }, 'validation_failed'],
      ['an unknown provider', { provider_id: randomUUID() }, 'provider_not_configured'],
      ['an unknown call option', { options: { call_options: { frequencyPenalty: 1 } } }, 'validation_failed'],
      ['an out-of-range temperature', { options: { call_options: { temperature: 3 } } }, 'validation_failed'],
      [
        'an Anthropic option on OpenAI',
        { options: { call_options: { thinkingBudgetTokens: 2048 } } },
        'invalid_model_options',
      ],
      ['an empty model', { model: '' }, 'validation_failed'],
    ])('refuses %s on create with 400 and writes nothing', async (_what, overrides, code) => {
      const before = await snapshot();
      const res = await app.request('POST', '/model-configs', { ...valid(), ...overrides, is_default: true });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe(code);
      expect(await snapshot()).toEqual(before);
    });

    it('refuses an OpenAI option on an Anthropic provider', async () => {
      const anthropic = (await app.request('GET', '/chat-providers')).body.find(
        (p: { provider: string }) => p.provider === 'anthropic',
      );
      const before = await snapshot();
      const res = await app.request('POST', '/model-configs', {
        ...valid(),
        provider_id: anthropic.id,
        options: { call_options: { reasoningEffort: 'high' } },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_model_options');
      expect(await snapshot()).toEqual(before);
    });

    it('refuses a deleted provider', async () => {
      const compat = await newCompatProvider();
      expect((await app.request('DELETE', `/chat-providers/${compat}`)).status).toBe(204);
      const before = await snapshot();
      const res = await app.request('POST', '/model-configs', { ...valid(), provider_id: compat });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('provider_not_configured');
      expect(await snapshot()).toEqual(before);
    });

    it.each([
      ['context_limit 0', { context_limit: 0 }],
      ['compression_threshold 101', { compression_threshold: 101 }],
      ['a negative price', { options: { cost: { output_price_per_million_tokens: -0.5 } } }],
      ['an unknown field', { pricing: 1 }],
      ['an empty update', {}],
    ])('refuses %s on update with 400 and changes nothing', async (_what, body) => {
      const config = await newConfig();
      const before = await snapshot();
      const res = await app.request('PATCH', `/model-configs/${config.id}`, body);
      expect(res.status).toBe(400);
      expect(await snapshot()).toEqual(before);
    });

    it('accepts a complete config and an update that replaces its options', async () => {
      const options = {
        call_options: { maxOutputTokens: 4096, temperature: 0.2, reasoningEffort: 'low' },
        cost: { input_price_per_million_tokens: 0.15, output_price_per_million_tokens: 0.6 },
      };
      const config = await newConfig({ display_name: 'Small', compression_threshold: 80, options });
      expect(config).toMatchObject({ display_name: 'Small', compression_threshold: 80, options, enabled: true });
      const patched = await app.request('PATCH', `/model-configs/${config.id}`, {
        context_limit: 200_000,
        options: { cost: { input_price_per_million_tokens: 0 } },
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({
        context_limit: 200_000,
        compression_threshold: 80,
        options: { cost: { input_price_per_million_tokens: 0 } },
      });
    });
  });

  describe('soft delete', () => {
    it('hides a deleted config while its messages keep referencing it', async () => {
      const config = await newConfig();
      const chat = await app.request('POST', '/chats', {
        content: [{ type: 'text', text: 'Hello there' }],
        model_config_id: config.id,
      });
      expect(chat.status).toBe(201);
      await waitForStatus(chat.body.id, 'waiting');

      expect((await app.request('DELETE', `/model-configs/${config.id}`)).status).toBe(204);
      const listed = await app.request('GET', '/model-configs');
      expect(listed.body.map((c: { id: string }) => c.id)).not.toContain(config.id);
      const row = await db()
        .selectFrom('chat_model_configs')
        .select(['deleted', 'is_default'])
        .where('id', '=', config.id)
        .executeTakeFirstOrThrow();
      expect(row).toEqual({ deleted: true, is_default: false });
      const messages = await db()
        .selectFrom('chat_messages')
        .select('role')
        .where('chat_id', '=', chat.body.id)
        .where('model_config_id', '=', config.id)
        .orderBy('id')
        .execute();
      // The first is the model-only workspace note written at creation.
      expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant']);

      expect((await app.request('DELETE', `/model-configs/${config.id}`)).status).toBe(404);
      const patch = await app.request('PATCH', `/model-configs/${config.id}`, { enabled: false });
      expect(patch.status).toBe(404);
      expect(patch.body.error.code).toBe('model_config_not_found');
    });

    it('deleting a provider soft-deletes its configs and erases its key', async () => {
      const compat = await app.request('POST', '/chat-providers', {
        provider: 'openai-compat',
        base_url: fake.openaiBaseUrl,
        api_key: 'sk-compat',
      });
      const config = await newConfig({ provider_id: compat.body.id });
      expect((await app.request('DELETE', `/chat-providers/${compat.body.id}`)).status).toBe(204);
      const provider = await db()
        .selectFrom('chat_providers')
        .select(['deleted', 'api_key_ciphertext'])
        .where('id', '=', compat.body.id)
        .executeTakeFirstOrThrow();
      expect(provider).toEqual({ deleted: true, api_key_ciphertext: null });
      const configRow = await db()
        .selectFrom('chat_model_configs')
        .select('deleted')
        .where('id', '=', config.id)
        .executeTakeFirstOrThrow();
      expect(configRow.deleted).toBe(true);
      const providers = await app.request('GET', '/chat-providers');
      expect(providers.body.map((p: { id: string }) => p.id)).not.toContain(compat.body.id);
    });
  });

  describe('cache invalidation', () => {
    it('a provider change reaches the next turn at once', async () => {
      const first = await app.request('POST', '/chats', { content: [{ type: 'text', text: 'one' }] });
      await waitForStatus(first.body.id, 'waiting');

      // Point the default provider at a second fake: the model cache (10 s TTL) must not keep the old URL.
      const other = await FakeLlmServer.start({ fallback: () => text('From the other server.') });
      try {
        const patched = await app.request('PATCH', `/chat-providers/${openaiProviderId}`, {
          base_url: other.openaiBaseUrl,
          confirm_api_key: true,
        });
        expect(patched.status).toBe(200);
        const second = await app.request('POST', '/chats', { content: [{ type: 'text', text: 'two' }] });
        await waitForStatus(second.body.id, 'waiting');
        expect(other.requests.length).toBeGreaterThan(0);
        expect(JSON.stringify(other.requests[0]!.body)).toContain('two');
      } finally {
        await app.request('PATCH', `/chat-providers/${openaiProviderId}`, {
          base_url: fake.openaiBaseUrl,
          confirm_api_key: true,
        });
        await other.close();
      }
    });
  });

  describe('API keys bound to their base_url', () => {
    /** A second endpoint, standing in for wherever a rewritten base_url points. */
    let elsewhere: FakeLlmServer;
    beforeAll(async () => {
      elsewhere = await FakeLlmServer.start({ fallback: () => text('From elsewhere.') });
    });
    afterAll(async () => {
      await elsewhere?.close();
    });

    /** An OpenAI-compatible provider with a key on the test's fake, and a model config on it. */
    const keyedProvider = async () => {
      const secret = `sk-bound-${randomUUID()}`;
      const provider = await app.request('POST', '/chat-providers', {
        provider: 'openai-compat',
        display_name: `bound ${randomUUID().slice(0, 6)}`,
        base_url: fake.openaiBaseUrl,
        api_key: secret,
      });
      expect(provider.body).toMatchObject({ has_api_key: true, api_key_confirmed: true });
      const config = await newConfig({ provider_id: provider.body.id });
      return { secret, providerId: provider.body.id as string, configId: config.id as string, model: config.model };
    };

    /** Runs one turn on `configId` and returns the chat once it settled. */
    const turnOn = async (configId: string, status: 'waiting' | 'error') => {
      const chat = await app.request('POST', '/chats', {
        content: [{ type: 'text', text: 'hi' }],
        model_config_id: configId,
      });
      expect(chat.status).toBe(201);
      await waitForStatus(chat.body.id, status);
      return (await app.request('GET', `/chats/${chat.body.id}`)).body;
    };

    /** Every Authorization header `server` has seen that carries `secret`. */
    const sentKeys = (server: FakeLlmServer, secret: string) =>
      server.requests.filter((r) => (r.headers.authorization ?? '').includes(secret));

    it('a base_url changed through the API gets the key only after an admin confirms it', async () => {
      const { secret, providerId, configId, model } = await keyedProvider();
      const moved = await app.request('PATCH', `/chat-providers/${providerId}`, { base_url: elsewhere.openaiBaseUrl });
      expect(moved.status).toBe(200);
      expect(moved.body).toMatchObject({
        base_url: elsewhere.openaiBaseUrl,
        has_api_key: true,
        api_key_confirmed: false,
      });
      const listed = await app.request('GET', '/chat-providers');
      expect(listed.body.find((p: { id: string }) => p.id === providerId)).toMatchObject({ api_key_confirmed: false });

      // The turn fails with the configuration error and nothing reaches the new URL.
      const failed = await turnOn(configId, 'error');
      expect(failed.last_error).toMatch(/not confirmed for its current base URL/);
      expect(failed.last_error).toMatch(/confirm_api_key/);
      expect(elsewhere.requests.filter((r) => r.model === model)).toEqual([]);
      expect(sentKeys(elsewhere, secret)).toEqual([]);

      // Confirming re-binds the stored key: the next turn sends it to the new URL.
      const confirmed = await app.request('PATCH', `/chat-providers/${providerId}`, { confirm_api_key: true });
      expect(confirmed.status).toBe(200);
      expect(confirmed.body).toMatchObject({ has_api_key: true, api_key_confirmed: true });
      await turnOn(configId, 'waiting');
      expect(sentKeys(elsewhere, secret).length).toBeGreaterThan(0);
    });

    it('a new api_key with the base_url confirms it at once; moving back to the bound URL needs nothing', async () => {
      const { secret, providerId, configId } = await keyedProvider();
      await app.request('PATCH', `/chat-providers/${providerId}`, { base_url: elsewhere.openaiBaseUrl });
      const back = await app.request('PATCH', `/chat-providers/${providerId}`, { base_url: `${fake.openaiBaseUrl}/` });
      expect(back.body).toMatchObject({ api_key_confirmed: true });
      const rekeyed = await app.request('PATCH', `/chat-providers/${providerId}`, {
        base_url: elsewhere.openaiBaseUrl,
        api_key: `${secret}-2`,
      });
      expect(rekeyed.body).toMatchObject({ api_key_confirmed: true });
      await turnOn(configId, 'waiting');
      expect(sentKeys(elsewhere, `${secret}-2`).length).toBeGreaterThan(0);
    });

    it('confirm_api_key without a stored key is a 400 that writes nothing', async () => {
      const providerId = await newCompatProvider();
      const before = await snapshot();
      const res = await app.request('PATCH', `/chat-providers/${providerId}`, { confirm_api_key: true });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('api_key_not_confirmable');
      expect(await snapshot()).toEqual(before);
    });

    it('a base_url rewritten in the database does not get the key, even with the stored URL rewritten too', async () => {
      const { secret, providerId, configId, model } = await keyedProvider();
      await db()
        .updateTable('chat_providers')
        .set({ base_url: elsewhere.openaiBaseUrl })
        .where('id', '=', providerId)
        .execute();
      const failed = await turnOn(configId, 'error');
      expect(failed.last_error).toMatch(/not confirmed/);

      // Rewriting the column that records the bound URL too: the ciphertext is sealed for the old URL.
      await db()
        .updateTable('chat_providers')
        .set({ api_key_base_url: elsewhere.openaiBaseUrl })
        .where('id', '=', providerId)
        .execute();
      const listed = await app.request('GET', '/chat-providers');
      expect(listed.body.find((p: { id: string }) => p.id === providerId)).toMatchObject({ api_key_confirmed: false });
      await turnOn(configId, 'error');
      expect(elsewhere.requests.filter((r) => r.model === model)).toEqual([]);
      expect(sentKeys(elsewhere, secret)).toEqual([]);
      // An admin can no longer confirm what cannot be verified: the key must be entered again.
      const confirm = await app.request('PATCH', `/chat-providers/${providerId}`, { confirm_api_key: true });
      expect(confirm.status).toBe(400);
      expect(confirm.body.error.code).toBe('api_key_not_confirmable');
    });

    it('a model config on an unchanged provider keeps sending its key', async () => {
      const { secret, configId, model } = await keyedProvider();
      await turnOn(configId, 'waiting');
      const sent = fake.requests.filter((r) => r.model === model);
      expect(sent.length).toBeGreaterThan(0);
      expect(sent.every((r) => r.headers.authorization === `Bearer ${secret}`)).toBe(true);
    });
  });

  describe('members', () => {
    it('see only enabled model configs', async () => {
      const hidden = await newConfig({ enabled: false });
      const shown = await newConfig();
      const asMember = await app.request('GET', '/model-configs', undefined, member.token);
      expect(asMember.status).toBe(200);
      const ids = asMember.body.map((c: { id: string }) => c.id);
      expect(ids).toContain(shown.id);
      expect(ids).not.toContain(hidden.id);
      expect(asMember.body.every((c: { enabled: boolean }) => c.enabled)).toBe(true);
      const asAdmin = await app.request('GET', '/model-configs');
      expect(asAdmin.body.map((c: { id: string }) => c.id)).toContain(hidden.id);
    });

    it('are refused every provider route and every model-config write with 403, writing nothing', async () => {
      const config = await newConfig();
      const before = await snapshot();
      const attempts: Array<[string, string, unknown?]> = [
        ['GET', '/chat-providers'],
        ['POST', '/chat-providers', { provider: 'openai-compat', base_url: 'http://x.test' }],
        ['PATCH', `/chat-providers/${openaiProviderId}`, { enabled: false }],
        ['DELETE', `/chat-providers/${openaiProviderId}`],
        ['POST', '/model-configs', { provider_id: openaiProviderId, model: 'x', context_limit: 1 }],
        ['PATCH', `/model-configs/${config.id}`, { is_default: true }],
        ['DELETE', `/model-configs/${config.id}`],
      ];
      for (const [method, path, body] of attempts) {
        const res = await app.request(method, path, body, member.token);
        expect({ method, path, status: res.status, code: res.body?.error?.code }).toEqual({
          method,
          path,
          status: 403,
          code: 'forbidden',
        });
      }
      expect(await snapshot()).toEqual(before);
    });
  });

  async function waitForStatus(chatId: string, status: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const chat = await app.request('GET', `/chats/${chatId}`);
      if (chat.body.status === status) return;
      if (Date.now() > deadline) throw new Error(`chat ${chatId} stayed ${chat.body.status}: ${chat.body.last_error}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
});
