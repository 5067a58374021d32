/**
 * GET /openapi.json (public) and the catalogue it is generated from: every route of the API. Route
 * modules declare their routes with `defineRoute` beside their schemas and are listed here by
 * reference; the health routes, which predate the registry, are described here. The unit test
 * test/unit/api/openapi.test.ts fails when a mounted route is missing from the catalogue.
 */
import Router from '@koa/router';
import { z } from 'zod';
import { VERSION } from '../../version';
import { buildOpenApiDocument, defineRoute, mountRoute, type RouteDoc } from '../openapi';
import { chatsApi } from './chats.schema';
import { configApi } from './config.schema';
import { costApi } from './cost.schema';
import { filesApi } from './files.schema';
import { mcpServersApi } from './mcp-servers.schema';
import { modelConfigsApi } from './model-configs.schema';
import { pushApi } from './push.schema';
import { toolApprovalsApi } from './tool-approvals.schema';
import { usageLimitsApi } from './usage-limits.schema';
import { usersApi } from './users.schema';
import { workspacesApi } from './workspaces.schema';

const opsTag = 'Operations';

const readiness = z.object({
  status: z.enum(['ok', 'unavailable', 'draining']),
  postgres: z.boolean().optional().describe('PostgreSQL answered (absent while draining).'),
  temporal: z.boolean().optional().describe('Temporal answered (absent while draining).'),
});

/** The public routes (health.routes.ts and the document itself). */
export const publicApi = {
  healthz: defineRoute({
    operationId: 'getLiveness',
    method: 'get',
    path: '/healthz',
    summary: 'Liveness',
    tag: opsTag,
    access: 'public',
    schemas: {},
    responses: { 200: { description: 'The process is up.', schema: z.object({ status: z.literal('ok') }) } },
  }),
  readyz: defineRoute({
    operationId: 'getReadiness',
    method: 'get',
    path: '/readyz',
    summary: 'Readiness',
    tag: opsTag,
    access: 'public',
    schemas: {},
    responses: {
      200: { description: 'PostgreSQL and Temporal are reachable.', schema: readiness },
      503: {
        description: 'A dependency is unreachable (the body says which), or the process is shutting down (`draining`).',
        schema: readiness,
      },
    },
  }),
  openapi: defineRoute({
    operationId: 'getOpenApiDocument',
    method: 'get',
    path: '/openapi.json',
    summary: 'This OpenAPI document',
    tag: opsTag,
    access: 'public',
    schemas: {},
    responses: {
      200: {
        description: 'The OpenAPI 3.2 document.',
        schema: z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) }),
      },
    },
  }),
};

/** Every route of /api/v1, in document order. */
export const apiRoutes: readonly RouteDoc[] = [
  ...Object.values(publicApi),
  ...Object.values(usersApi),
  ...Object.values(modelConfigsApi),
  ...Object.values(chatsApi),
  ...Object.values(toolApprovalsApi),
  ...Object.values(filesApi),
  ...Object.values(configApi),
  ...Object.values(workspacesApi),
  ...Object.values(pushApi),
  ...Object.values(mcpServersApi),
  ...Object.values(usageLimitsApi),
  ...Object.values(costApi),
];

/** The OpenAPI document of the whole API. */
export function openApiDocument(): Record<string, unknown> {
  return buildOpenApiDocument(apiRoutes, {
    title: 'chatd API',
    version: VERSION,
    description: 'Durable AI coding-agent chats. Errors are `{"error": {"code", "message", "details"?}}`.',
    serverUrl: '/api/v1',
  });
}

/** Serves GET /openapi.json; mount it before authentication. The document is built once. */
export function openApiRouter(): Router {
  const router = new Router();
  let document: Record<string, unknown> | undefined;
  mountRoute(router, publicApi.openapi, (ctx) => {
    document ??= openApiDocument();
    ctx.body = document;
  });
  return router;
}
