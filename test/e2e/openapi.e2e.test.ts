/**
 * The public OpenAPI document and the error envelope at the HTTP edge: clients generate code from
 * /api/v1/openapi.json, so it must be reachable without a token and list every route; malformed
 * or oversize bodies must get the standard envelope and change nothing. Responses of the main routes,
 * and the events of both streams, must match the document (test/support/openapi-check.ts), so a
 * handler that drifts from its schema fails here.
 */
import { sql } from 'kysely';
import { createChatdClient, IDLE_STATUSES, type ChatdClient } from '../../src/client';
import { text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { startTestApp, textBody, type TestApp } from '../support/app';
import { checkedRequests, responseChecker, type ResponseChecker } from '../support/openapi-check';

describe('the API edge', () => {
  let fake: FakeLlmServer;
  let app: TestApp;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  const counts = async () =>
    (
      await sql<{ users: number; providers: number; configs: number; site: number; chats: number }>`
        select (select count(*)::int from users) as users,
               (select count(*)::int from chat_providers) as providers,
               (select count(*)::int from chat_model_configs) as configs,
               (select count(*)::int from site_configs) as site,
               (select count(*)::int from chats) as chats`.execute(app.deps.db)
    ).rows[0];

  describe('GET /api/v1/openapi.json', () => {
    it('is public, OpenAPI 3.2 JSON and lists every route', async () => {
      const res = await fetch(`${app.url}/api/v1/openapi.json`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const doc = JSON.parse(await res.text());
      expect(doc.openapi).toBe('3.2.0');
      expect(doc.servers).toEqual([{ url: '/api/v1' }]);

      const operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
        Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
      );
      expect(operations).toEqual(
        expect.arrayContaining([
          'GET /users/me',
          'POST /users',
          'GET /users',
          'POST /users/{id}/tokens',
          'DELETE /tokens/{id}',
          'POST /groups',
          'PUT /groups/{id}/members/{userId}',
          'DELETE /groups/{id}/members/{userId}',
          'GET /chat-providers',
          'POST /chat-providers',
          'PATCH /chat-providers/{id}',
          'DELETE /chat-providers/{id}',
          'GET /model-configs',
          'POST /model-configs',
          'PATCH /model-configs/{id}',
          'DELETE /model-configs/{id}',
          'GET /chats',
          'POST /chats',
          'GET /chats/watch',
          'GET /chats/{id}',
          'PATCH /chats/{id}',
          'GET /chats/{id}/messages',
          'POST /chats/{id}/messages',
          'PATCH /chats/{id}/messages/{messageId}',
          'POST /chats/{id}/interrupt',
          'DELETE /chats/{id}/queue/{queuedId}',
          'POST /chats/{id}/queue/{queuedId}/promote',
          'GET /chats/{id}/stream',
          'GET /chats/{id}/diff',
          'POST /files',
          'GET /files/{id}',
          'GET /workspaces',
          'GET /admin/mcp-servers',
          'POST /admin/mcp-servers',
          'GET /admin/mcp-servers/{id}',
          'PATCH /admin/mcp-servers/{id}',
          'DELETE /admin/mcp-servers/{id}',
          'GET /mcp-servers',
          'POST /mcp-servers/{id}/oauth/connect',
          'DELETE /mcp-servers/{id}/oauth',
          'GET /mcp-servers/oauth/callback',
          'GET /config/system-prompt',
          'PUT /config/system-prompt',
          'GET /config/user-prompt',
          'PUT /config/user-prompt',
          'GET /config/compaction-thresholds',
          'GET /config/compaction-thresholds/{modelConfigId}',
          'PUT /config/compaction-thresholds/{modelConfigId}',
          'DELETE /config/compaction-thresholds/{modelConfigId}',
          'GET /healthz',
          'GET /readyz',
          'GET /openapi.json',
        ]),
      );
      // Every path parameter in a path template is declared.
      for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
        const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        for (const op of Object.values(item)) {
          const declared = (op.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name);
          expect({ path, declared }).toEqual({ path, declared: names });
        }
      }
      // Request bodies come from the validation schemas.
      const createUser = doc.paths['/users'].post.requestBody.content['application/json'].schema;
      expect(createUser.required).toEqual(expect.arrayContaining(['username', 'role']));
      expect(createUser.properties.role.enum).toEqual(['admin', 'member']);
      expect(Object.keys(doc.paths['/files'].post.requestBody.content)).toEqual([
        'image/png',
        'image/jpeg',
        'image/webp',
        'image/gif',
      ]);
    });
  });

  describe('bad input', () => {
    it.each([
      ['POST', '/users'],
      ['POST', '/model-configs'],
      ['POST', '/chat-providers'],
      ['PUT', '/config/system-prompt'],
      ['POST', '/chats'],
    ])('%s %s with malformed JSON is 400 invalid_json and writes nothing', async (method, path) => {
      const before = await counts();
      const res = await app.request(method, path, '{"username": "x",');
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: { code: 'invalid_json', message: expect.any(String) } });
      expect(await counts()).toEqual(before);
    });

    it('a JSON body that is not an object is 400', async () => {
      const res = await app.request('POST', '/users', '"admin"');
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_json');
      const array = await app.request('POST', '/users', '[1]');
      expect(array.status).toBe(400);
      expect(array.body.error.code).toBe('validation_failed');
    });

    it('an oversize JSON body is 413 payload_too_large and writes nothing', async () => {
      const before = await counts();
      const res = await app.request('PUT', '/config/system-prompt', { system_prompt: 'x'.repeat(2 * 1024 * 1024) });
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('payload_too_large');
      expect(await counts()).toEqual(before);
    });

    it('unknown routes are 404 route_not_found and wrong methods 405', async () => {
      const missing = await app.request('GET', '/no-such-thing');
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('route_not_found');
      const wrongMethod = await app.request('PATCH', '/users');
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.body.error.code).toBe('method_not_allowed');
    });

    it('malformed ids are 400 with the envelope', async () => {
      for (const path of ['/model-configs/123', '/chat-providers/abc', '/files/%00', '/tokens/x']) {
        const res = await app.request(path.startsWith('/files') ? 'GET' : 'DELETE', path);
        expect({ path, status: res.status, code: res.body.error.code }).toEqual({
          path,
          status: 400,
          code: 'validation_failed',
        });
      }
    });
  });

  describe('responses match the document', () => {
    let checker: ResponseChecker;
    let api: TestApp['request'];
    let client: ChatdClient;

    beforeAll(async () => {
      checker = await responseChecker(app.url);
      api = checkedRequests(app.request, checker);
      client = createChatdClient({ baseUrl: app.url, token: app.token });
    });

    /** Streams the chat until its turn is over, checking every event against the document. */
    async function streamUntilIdle(chatId: string): Promise<string[]> {
      const types: string[] = [];
      for await (const event of client.streamChat(chatId)) {
        checker.checkEvent(`/chats/${chatId}/stream`, event);
        types.push(event.type);
        if (event.type === 'status' && IDLE_STATUSES.includes(event.status)) break;
      }
      return types;
    }

    it('the chat routes and the chat stream', async () => {
      fake.enqueue(text('First answer.'));
      const created = await api('POST', '/chats', textBody('Document me'));
      expect(created.status).toBe(201);
      const chatId: string = created.body.id;

      const types = await streamUntilIdle(chatId);
      expect(types).toEqual(expect.arrayContaining(['status', 'message', 'message_part', 'queue_update']));

      expect((await api('GET', `/chats/${chatId}`)).status).toBe(200);
      expect((await api('GET', '/chats')).body.chats.length).toBeGreaterThan(0);
      const page = await api('GET', `/chats/${chatId}/messages`);
      expect(page.body.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
      expect(page.body.messages[1].usage).toBeDefined();

      fake.enqueue(text('Second answer.'));
      const sent = await api('POST', `/chats/${chatId}/messages`, textBody('And again'));
      expect(sent.body.queued).toBe(false);
      await streamUntilIdle(chatId);

      const renamed = await api('PATCH', `/chats/${chatId}`, { title: 'Renamed', pin_order: 1, labels: { a: 'b' } });
      expect(renamed.body).toMatchObject({ title: 'Renamed', pin_order: 1 });
      expect((await api('POST', `/chats/${chatId}/read`, {})).body.has_unread).toBe(false);
      expect((await api('POST', `/chats/${chatId}/interrupt`)).status).toBe(200);
      expect((await api('GET', `/chats/${chatId}/tool-approvals`)).body).toEqual({ approvals: [] });
      expect((await api('GET', `/chats/${chatId}/diff`)).status).toBe(200);

      const userMessage = page.body.messages[0].id;
      fake.enqueue(text('Edited answer.'));
      const edited = await api('PATCH', `/chats/${chatId}/messages/${userMessage}`, textBody('Edited'));
      expect(edited.status).toBe(200);
      await streamUntilIdle(chatId);
    });

    it('the watch stream', async () => {
      const abort = new AbortController();
      const seen: string[] = [];
      const watching = (async () => {
        for await (const event of client.watchChats({ signal: abort.signal })) {
          checker.checkEvent('/chats/watch', event);
          seen.push(event.kind);
          if (event.kind === 'created') abort.abort();
        }
      })();
      // The watch is live only: create chats until one is seen after the stream opened.
      for (let i = 0; seen.length === 0 && i < 50; i++) {
        fake.enqueue(text('Watched.'));
        await api('POST', '/chats', textBody(`Watch me ${i}`));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await watching;
      expect(seen).toContain('created');
    });

    it('the identity, model and settings routes', async () => {
      expect((await api('GET', '/users/me')).status).toBe(200);
      const user = await api('POST', '/users', { username: `openapi-${Date.now()}`, role: 'member' });
      expect(user.status).toBe(201);
      expect((await api('GET', '/users')).status).toBe(200);
      const token = await api('POST', `/users/${user.body.id}/tokens`, { name: 'doc' });
      expect(token.status).toBe(201);
      expect((await api('DELETE', `/tokens/${token.body.id}`)).status).toBe(204);
      expect((await api('POST', '/groups', { name: `group-${Date.now()}` })).status).toBe(201);

      expect((await api('GET', '/chat-providers')).body.length).toBeGreaterThan(0);
      const provider = await api('POST', '/chat-providers', {
        provider: 'openai-compat',
        display_name: 'Documented',
        api_key: 'k',
        base_url: fake.openaiBaseUrl,
      });
      expect(provider.status).toBe(201);
      expect((await api('PATCH', `/chat-providers/${provider.body.id}`, { display_name: 'Renamed' })).status).toBe(200);
      const models = await api('GET', '/model-configs');
      expect(models.body.length).toBeGreaterThan(0);
      const config = await api('POST', '/model-configs', {
        provider_id: provider.body.id,
        model: 'doc-model',
        context_limit: 1000,
      });
      expect(config.status).toBe(201);
      expect((await api('PATCH', `/model-configs/${config.body.id}`, { context_limit: 2000 })).status).toBe(200);

      expect((await api('GET', '/workspaces')).status).toBe(200);
      expect((await api('GET', '/mcp-servers')).status).toBe(200);
      expect((await api('GET', '/admin/mcp-servers')).status).toBe(200);
      expect((await api('GET', '/usage-limits/status')).status).toBe(200);
      expect((await api('GET', '/usage-limits')).status).toBe(200);
      expect((await api('GET', '/config/system-prompt')).status).toBe(200);
      expect((await api('GET', '/config/user-prompt')).status).toBe(200);
      expect((await api('GET', '/config/compaction-thresholds')).status).toBe(200);
      expect((await api('GET', '/admin/tool-approval-policy')).status).toBe(200);
      expect((await api('GET', '/cost/me/summary')).status).toBe(200);
      expect((await api('GET', '/cost/users')).status).toBe(200);
    });

    it('the checker catches a body that drifts from its schema', () => {
      const chat = { id: '00000000-0000-4000-8000-000000000000' };
      expect(() => checker.check('GET', `/chats/${chat.id}`, { status: 200, body: chat })).toThrow(
        /does not match the OpenAPI document/,
      );
      expect(() => checker.check('GET', '/users/me', { status: 418, body: {} })).toThrow(/does not document status/);
    });
  });
});
