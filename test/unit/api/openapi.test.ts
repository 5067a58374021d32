/**
 * The OpenAPI catalogue must list every mounted route: the document is the API's contract for
 * clients, so a route added to a router without a declaration would be an undocumented endpoint.
 * The document must also be valid OpenAPI 3.2 (checked by @scalar/openapi-parser), type every
 * success response, name its resources as components and give each operation a usable id.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import type Router from '@koa/router';
import { z } from 'zod';
import { StreamGuard } from '../../../src/api/limits/streams';
import { buildOpenApiDocument, defineRoute, toOpenApiPath } from '../../../src/api/openapi';
import { chatsRouter } from '../../../src/api/routes/chats.routes';
import { configRouter } from '../../../src/api/routes/config.routes';
import { costRouter } from '../../../src/api/routes/cost.routes';
import { filesRouter } from '../../../src/api/routes/files.routes';
import { healthRouter } from '../../../src/api/routes/health.routes';
import { mcpOAuthCallbackRouter, mcpServersRouter } from '../../../src/api/routes/mcp-servers.routes';
import { modelConfigsRouter } from '../../../src/api/routes/model-configs.routes';
import { apiRoutes, openApiDocument, openApiRouter } from '../../../src/api/routes/openapi.routes';
import { pushRouter } from '../../../src/api/routes/push.routes';
import { toolApprovalsRouter } from '../../../src/api/routes/tool-approvals.routes';
import { usageLimitsRouter } from '../../../src/api/routes/usage-limits.routes';
import { usersRouter } from '../../../src/api/routes/users.routes';
import { workspacesRouter } from '../../../src/api/routes/workspaces.routes';
import { TokenAuthenticator } from '../../../src/security/tokens';
import type { AppDeps } from '../../../src/api/deps';

// Routers only read their deps when a request arrives, so building them needs none.
const deps = {} as AppDeps;

function mounted(router: Router): string[] {
  return router.stack.flatMap((layer) =>
    layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${toOpenApiPath(String(layer.path))}`),
  );
}

describe('the OpenAPI catalogue', () => {
  it('declares exactly the routes the routers mount', () => {
    const routers = [
      healthRouter(deps),
      openApiRouter(),
      chatsRouter(deps, new StreamGuard(new TokenAuthenticator(async () => undefined), 0)),
      usersRouter(deps, new TokenAuthenticator(async () => undefined)),
      modelConfigsRouter(deps),
      configRouter(deps),
      filesRouter(deps),
      workspacesRouter(deps),
      pushRouter(deps),
      toolApprovalsRouter(deps),
      mcpServersRouter(deps),
      mcpOAuthCallbackRouter(deps),
      usageLimitsRouter(deps),
      costRouter(deps),
    ];
    const actual = routers.flatMap(mounted).sort();
    const declared = apiRoutes.map((r) => `${r.method.toUpperCase()} ${toOpenApiPath(r.path)}`).sort();
    expect(declared).toEqual(actual);
  });

  it('generates request schemas from the validation schemas', () => {
    const doc = openApiDocument() as any;
    const body = doc.paths['/model-configs'].post.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(expect.arrayContaining(['provider_id', 'model', 'context_limit']));
    expect(body.properties.compression_threshold).toMatchObject({ minimum: 0, maximum: 100 });
    expect(body.additionalProperties).toBe(false);
    const limit = doc.paths['/chats/{id}/messages'].get.parameters.find((p: any) => p.name === 'limit');
    expect(limit).toMatchObject({ in: 'query', required: false, schema: { minimum: 1, maximum: 200 } });
  });

  it('marks public routes and adds the common error responses', () => {
    const doc = openApiDocument() as any;
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    const put = doc.paths['/config/system-prompt'].put;
    expect(put.security).toBeUndefined();
    expect(Object.keys(put.responses).sort()).toEqual(['204', '400', '401', '403', '413', '429']);
    expect(put.responses['403'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
  });

  it('refuses to document one method and path twice', () => {
    const route = defineRoute({
      operationId: 'getX',
      method: 'get',
      path: '/x/:id',
      summary: 'x',
      tag: 't',
      access: 'user',
      schemas: { params: z.object({ id: z.string() }) },
      responses: { 200: { description: 'ok' } },
    });
    expect(() => buildOpenApiDocument([route, route], { title: 't', version: '1', serverUrl: '/' })).toThrow(
      /declared twice/,
    );
  });

  it('refuses one operationId on two routes', () => {
    const route = (path: string) =>
      defineRoute({
        operationId: 'same',
        method: 'get',
        path,
        summary: 'x',
        tag: 't',
        access: 'user',
        schemas: {},
        responses: { 200: { description: 'ok' } },
      });
    expect(() =>
      buildOpenApiDocument([route('/a'), route('/b')], { title: 't', version: '1', serverUrl: '/' }),
    ).toThrow(/operationId same is declared twice/);
  });
});

describe('the OpenAPI document', () => {
  const doc = openApiDocument() as any;
  const operations = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([route, item]) =>
    Object.entries(item).map(([method, op]) => ({ route, method, op })),
  );

  it('is valid OpenAPI 3.2 for a strict parser, with every reference resolved', () => {
    const validate = (document: unknown) =>
      JSON.parse(
        execFileSync(process.execPath, [path.join(__dirname, '../../support/validate-openapi.mjs')], {
          input: JSON.stringify(document),
          encoding: 'utf8',
        }),
      );
    expect(doc.openapi).toBe('3.2.0');
    expect(validate(doc)).toEqual({ valid: true, version: '3.2', errors: [] });
    // The parser is strict: a dangling reference or an unknown keyword fails.
    const broken = structuredClone(doc);
    broken.paths['/chats'].post.responses['201'].content['application/json'].schema = {
      $ref: '#/components/schemas/NoSuchSchema',
    };
    expect(validate(broken).valid).toBe(false);
  });

  it('gives every operation a unique camelCase operationId', () => {
    const ids = operations.map(({ op }) => op.operationId);
    expect(ids.every((id) => /^[a-z][A-Za-z0-9]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const id = (route: string, method: string) => doc.paths[route][method].operationId;
    expect([
      id('/chats', 'post'),
      id('/chats', 'get'),
      id('/chats/{id}', 'get'),
      id('/chats/{id}', 'patch'),
      id('/chats/{id}/messages', 'post'),
      id('/chats/{id}/messages', 'get'),
      id('/chats/{id}/messages/{messageId}', 'patch'),
      id('/chats/{id}/interrupt', 'post'),
      id('/chats/{id}/stream', 'get'),
      id('/chats/watch', 'get'),
    ]).toEqual([
      'createChat',
      'listChats',
      'getChat',
      'updateChat',
      'sendMessage',
      'listMessages',
      'editMessage',
      'interruptChat',
      'streamChat',
      'watchChats',
    ]);
  });

  it('types every success response that has a body', () => {
    const untyped = operations.flatMap(({ route, method, op }) =>
      Object.entries(op.responses as Record<string, any>)
        .filter(([status, response]) => Number(status) < 300 && response.content)
        .flatMap(([status, response]) =>
          Object.entries(response.content as Record<string, any>)
            .filter(([type, media]) => !media.schema && !media.itemSchema && !/^(image|text\/html)/.test(type))
            .map(([type]) => `${method.toUpperCase()} ${route} ${status} ${type}`),
        ),
    );
    expect(untyped).toEqual([]);
    // A body-less success is only a 204, or a binary/HTML answer.
    const bodyless = operations.flatMap(({ route, method, op }) =>
      Object.entries(op.responses as Record<string, any>)
        .filter(([status, response]) => Number(status) < 300 && status !== '204' && !response.content)
        .map(([status]) => `${method.toUpperCase()} ${route} ${status}`),
    );
    expect(bodyless).toEqual([]);
  });

  it('names the main resources as components and refers to them', () => {
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining([
        'Chat',
        'ChatMessage',
        'ChatMessagePart',
        'QueuedMessage',
        'ModelConfig',
        'ChatProvider',
        'User',
        'ApiToken',
        'McpServer',
        'ToolApproval',
        'StreamEvent',
        'WatchEvent',
        'ChatStreamEnd',
        'WatchStreamEnd',
        'Error',
      ]),
    );
    const json = (route: string, method: string, status: string) =>
      doc.paths[route][method].responses[status].content['application/json'].schema;
    expect(json('/chats', 'post', '201')).toEqual({ $ref: '#/components/schemas/Chat' });
    expect(json('/chats/{id}/messages', 'post', '200')).toEqual({ $ref: '#/components/schemas/SendMessageResult' });
    expect(json('/users', 'get', '200')).toEqual({ type: 'array', items: { $ref: '#/components/schemas/User' } });
    // Nullable is not optional: a chat always carries parent_chat_id, possibly null.
    const chat = doc.components.schemas.Chat;
    expect(chat.required).toEqual(expect.arrayContaining(['parent_chat_id', 'workspace_id', 'last_read_message_id']));
    expect(chat.properties.parent_chat_id.anyOf).toEqual([
      expect.objectContaining({ format: 'uuid' }),
      { type: 'null' },
    ]);
    expect(chat.additionalProperties).toBe(false);
    // Optional is not nullable: only assistant messages carry usage.
    const message = doc.components.schemas.ChatMessage;
    expect(message.required).not.toContain('usage');
    expect(message.required).toEqual(expect.arrayContaining(['created_by', 'model_config_id']));
    // Every reference resolves to a component.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
    expect(refs.filter((name) => !(name! in doc.components.schemas))).toEqual([]);
  });

  it('describes both streams with itemSchema, their data from the event schemas', () => {
    const item = (route: string) =>
      doc.paths[route].get.responses['200'].content['text/event-stream'].itemSchema.properties;
    const chat = item('/chats/{id}/stream');
    expect(chat.data).toMatchObject({
      contentMediaType: 'application/json',
      contentSchema: {
        anyOf: [{ $ref: '#/components/schemas/StreamEvent' }, { $ref: '#/components/schemas/ChatStreamEnd' }],
      },
    });
    expect(chat.id).toBeDefined();
    const watch = item('/chats/watch');
    expect(watch.data.contentSchema.anyOf).toEqual([
      { $ref: '#/components/schemas/WatchEvent' },
      { $ref: '#/components/schemas/WatchStreamEnd' },
    ]);
    expect(watch.id).toBeUndefined();
    // One variant per event type, the type strings unchanged.
    const types = doc.components.schemas.StreamEvent.oneOf.map((v: any) => v.properties.type.const);
    expect(types).toEqual([
      'status',
      'message_part',
      'message',
      'queue_update',
      'retry',
      'error',
      'title_change',
      'history_truncated',
      'diff_status_change',
      'action_required',
      'turn_queued',
      'action_decided',
    ]);
  });

  it('names an input variant that differs from the output one <id>Input', () => {
    const thing = z.object({ size: z.number().default(1) }).meta({ id: 'UnitTestThing' });
    const route = defineRoute({
      operationId: 'putThing',
      method: 'put',
      path: '/thing',
      summary: 'x',
      tag: 't',
      access: 'user',
      schemas: { body: z.object({ thing }) },
      responses: { 200: { description: 'ok', schema: thing } },
    });
    const built = buildOpenApiDocument([route], { title: 't', version: '1', serverUrl: '/' }) as any;
    const op = built.paths['/thing'].put;
    expect(op.responses['200'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/UnitTestThing',
    });
    expect(op.requestBody.content['application/json'].schema.properties.thing).toEqual({
      $ref: '#/components/schemas/UnitTestThingInput',
    });
    expect(built.components.schemas.UnitTestThing.required).toEqual(['size']);
    expect(built.components.schemas.UnitTestThingInput.required).toBeUndefined();
  });
});
