/**
 * The public OpenAPI document and the error envelope at the HTTP edge: clients generate code from
 * /api/v1/openapi.json, so it must be reachable without a token and list every route; malformed
 * or oversize bodies must get the standard envelope and change nothing.
 */
import { sql } from 'kysely';
import { startTestApp, type TestApp } from '../support/app';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';

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
    it('is public, valid OpenAPI 3.1 JSON and lists every route', async () => {
      const res = await fetch(`${app.url}/api/v1/openapi.json`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const doc = JSON.parse(await res.text());
      expect(doc.openapi).toBe('3.1.0');
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
});
