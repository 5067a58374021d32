/**
 * The OpenAPI catalogue must list every mounted route: the document is the API's contract for
 * clients, so a route added to a router without a declaration would be an undocumented endpoint.
 */
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
});
