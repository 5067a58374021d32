/**
 * Chat configuration over HTTP: the admin's system prompt, each user's custom prompt
 * and per-model compaction thresholds. Limits are enforced at the edge (a rejected write changes
 * nothing), per-user settings never leak between users, the readers see exactly what the API
 * stored, and a change reaches the very next turn (the worker caches what it read until the config
 * generation moves).
 */
import { randomUUID } from 'node:crypto';
import {
  getSystemPrompt,
  getUserCompactionThreshold,
  getUserPrompt,
  MAX_PROMPT_CHARS,
} from '../../src/admin/chat-settings.service';
import { startTestApp, turnRequests, waitForChat, type TestApp } from '../support/app';
import { text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { createTestUser, type TestUser } from '../support/users';

describe('config', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let member: TestUser;
  let adminId: string;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
    member = await createTestUser(app);
    adminId = (await app.request('GET', '/users/me')).body.id;
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  const siteRows = () => app.deps.db.selectFrom('site_configs').selectAll().orderBy('key').execute();
  const userRows = () => app.deps.db.selectFrom('user_configs').selectAll().orderBy('user_id').orderBy('key').execute();

  describe('system prompt', () => {
    it('is written by admins, read by everyone, and unset by an empty string', async () => {
      expect((await app.request('GET', '/config/system-prompt')).body).toEqual({ system_prompt: '' });

      const put = await app.request('PUT', '/config/system-prompt', { system_prompt: 'Answer tersely.' });
      expect(put.status).toBe(204);
      const read = await app.request('GET', '/config/system-prompt', undefined, member.token);
      expect(read.status).toBe(200);
      expect(read.body).toEqual({ system_prompt: 'Answer tersely.' });
      expect(await getSystemPrompt(app.deps.db)).toBe('Answer tersely.');

      expect((await app.request('PUT', '/config/system-prompt', { system_prompt: '' })).status).toBe(204);
      expect((await app.request('GET', '/config/system-prompt')).body).toEqual({ system_prompt: '' });
      expect(await getSystemPrompt(app.deps.db)).toBeNull();
      expect((await siteRows()).map((r) => r.key)).not.toContain('chat_system_prompt');
    });

    it('accepts exactly 131,072 characters, counted as code points', async () => {
      // Each 📷 is two UTF-16 units: a length check in code units would wrongly refuse this.
      const longest = '📷'.repeat(MAX_PROMPT_CHARS);
      const res = await app.request('PUT', '/config/system-prompt', { system_prompt: longest });
      expect(res.status).toBe(204);
      expect(await getSystemPrompt(app.deps.db)).toBe(longest);
    });

    it.each([
      ['one character too many', { system_prompt: 'a'.repeat(MAX_PROMPT_CHARS + 1) }],
      ['a NUL character', { system_prompt: 'a\u0000b' }],
      ['a non-string', { system_prompt: 42 }],
      ['an unknown field', { system_prompt: 'x', include_default_system_prompt: true }],
    ])('refuses %s with 400 and changes nothing', async (_what, body) => {
      const before = await siteRows();
      const res = await app.request('PUT', '/config/system-prompt', body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(await siteRows()).toEqual(before);
    });

    it('refuses a member with 403 and changes nothing', async () => {
      const before = await siteRows();
      const res = await app.request('PUT', '/config/system-prompt', { system_prompt: 'mine' }, member.token);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
      expect(await siteRows()).toEqual(before);
    });
  });

  describe('user prompt', () => {
    it('is per user: each caller reads and writes only their own', async () => {
      const other = await createTestUser(app);
      expect((await app.request('PUT', '/config/user-prompt', { custom_prompt: 'Admin style.' })).body).toEqual({
        custom_prompt: 'Admin style.',
      });
      const put = await app.request(
        'PUT',
        '/config/user-prompt',
        { custom_prompt: 'Use British spelling.' },
        member.token,
      );
      expect(put.status).toBe(200);
      expect(put.body).toEqual({ custom_prompt: 'Use British spelling.' });

      expect((await app.request('GET', '/config/user-prompt')).body).toEqual({ custom_prompt: 'Admin style.' });
      expect((await app.request('GET', '/config/user-prompt', undefined, member.token)).body).toEqual({
        custom_prompt: 'Use British spelling.',
      });
      expect((await app.request('GET', '/config/user-prompt', undefined, other.token)).body).toEqual({
        custom_prompt: '',
      });
      expect(await getUserPrompt(app.deps.db, member.id)).toBe('Use British spelling.');
      expect(await getUserPrompt(app.deps.db, other.id)).toBeNull();

      const cleared = await app.request('PUT', '/config/user-prompt', { custom_prompt: '  ' }, member.token);
      expect(cleared.body).toEqual({ custom_prompt: '' });
      expect(await getUserPrompt(app.deps.db, member.id)).toBeNull();
      expect(await getUserPrompt(app.deps.db, adminId)).toBe('Admin style.');
    });

    it('refuses an oversize prompt with 400 and changes nothing', async () => {
      await app.request('PUT', '/config/user-prompt', { custom_prompt: 'keep me' }, member.token);
      const before = await userRows();
      const res = await app.request(
        'PUT',
        '/config/user-prompt',
        { custom_prompt: 'x'.repeat(MAX_PROMPT_CHARS + 1) },
        member.token,
      );
      expect(res.status).toBe(400);
      expect(await userRows()).toEqual(before);
      expect(await getUserPrompt(app.deps.db, member.id)).toBe('keep me');
    });
  });

  describe('compaction thresholds', () => {
    const path = (id: string) => `/config/compaction-thresholds/${id}`;

    it('stores a per-user override under chat_compaction_threshold_pct:<id> and removes it', async () => {
      const id = app.modelConfigId;
      expect((await app.request('GET', path(id), undefined, member.token)).body).toEqual({
        model_config_id: id,
        threshold_percent: null,
        default_threshold_percent: 70,
      });

      const put = await app.request('PUT', path(id), { threshold_percent: 55 }, member.token);
      expect(put.status).toBe(200);
      expect(put.body).toEqual({ model_config_id: id, threshold_percent: 55 });
      expect((await app.request('GET', path(id), undefined, member.token)).body.threshold_percent).toBe(55);
      expect((await app.request('GET', '/config/compaction-thresholds', undefined, member.token)).body).toEqual({
        thresholds: [{ model_config_id: id, threshold_percent: 55 }],
      });
      const row = await app.deps.db
        .selectFrom('user_configs')
        .selectAll()
        .where('user_id', '=', member.id)
        .where('key', '=', `chat_compaction_threshold_pct:${id}`)
        .executeTakeFirstOrThrow();
      expect(row.value).toBe(55);
      expect(await getUserCompactionThreshold(app.deps.db, member.id, id)).toBe(55);

      // Other users are unaffected.
      expect((await app.request('GET', '/config/compaction-thresholds')).body).toEqual({ thresholds: [] });
      expect(await getUserCompactionThreshold(app.deps.db, adminId, id)).toBeNull();

      // 0 and 100 are the bounds, both allowed.
      expect((await app.request('PUT', path(id), { threshold_percent: 0 }, member.token)).status).toBe(200);
      expect((await app.request('PUT', path(id), { threshold_percent: 100 }, member.token)).status).toBe(200);

      expect((await app.request('DELETE', path(id), undefined, member.token)).status).toBe(204);
      expect((await app.request('DELETE', path(id), undefined, member.token)).status).toBe(204);
      expect(await getUserCompactionThreshold(app.deps.db, member.id, id)).toBeNull();
      expect((await app.request('GET', '/config/compaction-thresholds', undefined, member.token)).body).toEqual({
        thresholds: [],
      });
    });

    it.each([
      ['101', { threshold_percent: 101 }],
      ['-1', { threshold_percent: -1 }],
      ['a fraction', { threshold_percent: 50.5 }],
      ['a string', { threshold_percent: '50' }],
      ['a missing value', {}],
    ])('refuses %s with 400 and changes nothing', async (_what, body) => {
      const before = await userRows();
      const res = await app.request('PUT', path(app.modelConfigId), body, member.token);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(await userRows()).toEqual(before);
    });

    it('answers 404 for an unknown model config and 400 for a malformed id', async () => {
      const before = await userRows();
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const res = await app.request(
          method,
          path(randomUUID()),
          method === 'PUT' ? { threshold_percent: 50 } : undefined,
        );
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('model_config_not_found');
      }
      expect((await app.request('PUT', path('123'), { threshold_percent: 50 })).status).toBe(400);
      expect(await userRows()).toEqual(before);
    });

    it('treats a disabled model config as unknown for members', async () => {
      const providers = await app.request('GET', '/chat-providers');
      const disabled = await app.request('POST', '/model-configs', {
        provider_id: providers.body[0].id,
        model: 'hidden-model',
        context_limit: 1000,
        enabled: false,
      });
      expect(disabled.status).toBe(201);
      const res = await app.request('PUT', path(disabled.body.id), { threshold_percent: 10 }, member.token);
      expect(res.status).toBe(404);
      expect((await app.request('PUT', path(disabled.body.id), { threshold_percent: 10 })).status).toBe(200);
    });

    it('treats a model config on a disabled provider as unknown for members', async () => {
      const provider = await app.request('POST', '/chat-providers', {
        provider: 'openai-compat',
        base_url: fake.openaiBaseUrl,
      });
      const config = await app.request('POST', '/model-configs', {
        provider_id: provider.body.id,
        model: 'compat-model',
        context_limit: 1000,
      });
      expect((await app.request('GET', path(config.body.id), undefined, member.token)).status).toBe(200);
      await app.request('PATCH', `/chat-providers/${provider.body.id}`, { enabled: false });
      const res = await app.request('GET', path(config.body.id), undefined, member.token);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('model_config_not_found');
    });
  });
  describe('the next turn', () => {
    /** Runs one turn of `chatId` (a new chat when undefined) and returns its provider request body. */
    async function turn(chatId: string | undefined, model: string, modelConfigId: string) {
      const before = turnRequests(fake, model).length;
      fake.enqueue(text('Noted.'));
      const content = [{ type: 'text', text: 'Next question' }];
      const sent = chatId
        ? await app.request('POST', `/chats/${chatId}/messages`, { content })
        : await app.request('POST', '/chats', { content, model_config_id: modelConfigId });
      expect(sent.status).toBeLessThan(300);
      const id: string = chatId ?? sent.body.id;
      await waitForChat(app, id, (c) => c.status === 'waiting');
      const requests = turnRequests(fake, model);
      expect(requests).toHaveLength(before + 1);
      return { id, body: JSON.stringify(requests[before]!.body) };
    }

    it('applies a changed system prompt, user prompt and model config at once', async () => {
      const providers = await app.request('GET', '/chat-providers');
      const config = await app.request('POST', '/model-configs', {
        provider_id: providers.body[0].id,
        model: 'config-model-a',
        context_limit: 128_000,
      });
      expect(config.status).toBe(201);
      await app.request('PUT', '/config/system-prompt', { system_prompt: 'SYSTEM-ONE' });
      await app.request('PUT', '/config/user-prompt', { custom_prompt: 'USER-ONE' });
      const first = await turn(undefined, 'config-model-a', config.body.id);
      expect(first.body).toContain('SYSTEM-ONE');
      expect(first.body).toContain('<user-instructions>');
      expect(first.body).toContain('USER-ONE');

      await app.request('PUT', '/config/system-prompt', { system_prompt: 'SYSTEM-TWO' });
      await app.request('PUT', '/config/user-prompt', { custom_prompt: 'USER-TWO' });
      const second = await turn(first.id, 'config-model-a', config.body.id);
      expect(second.body).toContain('SYSTEM-TWO');
      expect(second.body).toContain('USER-TWO');
      expect(second.body).not.toContain('SYSTEM-ONE');
      expect(second.body).not.toContain('USER-ONE');

      await app.request('PUT', '/config/system-prompt', { system_prompt: '' });
      await app.request('PUT', '/config/user-prompt', { custom_prompt: '' });
      expect((await app.request('PATCH', `/model-configs/${config.body.id}`, { model: 'config-model-b' })).status).toBe(
        200,
      );
      const third = await turn(first.id, 'config-model-b', config.body.id);
      expect(third.body).not.toContain('SYSTEM-TWO');
      expect(third.body).not.toContain('user-instructions');
    });
  });
});
