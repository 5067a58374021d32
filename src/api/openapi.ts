/**
 * The route registry behind /api/v1/openapi.json. A route is declared once — method, path, summary,
 * access, zod schemas, responses — and `mountRoute` registers it on its Koa router with the access
 * guard and `validate()` built from that declaration, so the OpenAPI 3.1 document generated here
 * (with `z.toJSONSchema`) describes exactly what the server enforces.
 */
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { requireAdmin } from './middleware/auth';
import { validate, type RouteSchemas, type ValidatedInput } from './middleware/validate';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Who may call a route: anyone, any authenticated user, or admins only. */
export type Access = 'public' | 'user' | 'admin';

/** One documented response. `schema` is JSON; `contentType` documents a non-JSON body. */
export interface ResponseDoc {
  description: string;
  schema?: z.ZodType;
  contentType?: string;
}

/** A route's declaration: what the router mounts and what the OpenAPI document shows. */
export interface RouteDoc<S extends RouteSchemas = RouteSchemas> {
  method: HttpMethod;
  /** Koa-style path below /api/v1, e.g. `/chats/:id`. */
  path: string;
  summary: string;
  description?: string;
  /** Groups operations in the document (e.g. `Users`). */
  tag: string;
  access: Access;
  schemas: S;
  /** A non-JSON request body (raw uploads): its accepted content types and a description. */
  rawBody?: { contentTypes: readonly string[]; description: string };
  /** Request headers the route reads. */
  headers?: ReadonlyArray<{ name: string; description: string; required?: boolean }>;
  /** Success (and route-specific error) responses; the common 4xx responses are added automatically. */
  responses: Record<number, ResponseDoc>;
}

/** Declares a route (identity function that keeps the schemas' types for the handler). */
export function defineRoute<const S extends RouteSchemas>(doc: RouteDoc<S>): RouteDoc<S> {
  return doc;
}

/** A route handler: receives the validated input typed by the route's schemas. */
export type RouteHandler<S extends RouteSchemas> = (ctx: Context, input: ValidatedInput<S>) => Promise<void> | void;

/**
 * Registers `doc` on `router`: the admin guard when `access` is `admin`, then `validate()` with the
 * declared schemas, then the handler. Authentication itself comes from where the router is mounted
 * (public routers before the authentication middleware, the others after it).
 */
export function mountRoute<S extends RouteSchemas>(router: Router, doc: RouteDoc<S>, handler: RouteHandler<S>): void {
  const chain: Middleware[] = [];
  if (doc.access === 'admin') chain.push(requireAdmin());
  chain.push(validate(doc.schemas));
  chain.push(async (ctx) => {
    await handler(ctx, ctx.state.input as ValidatedInput<S>);
  });
  router.register(doc.path, [doc.method], chain);
}

/** The error envelope every 4xx/5xx response carries. */
export const errorEnvelopeSchema = z
  .object({
    error: z.object({
      code: z.string().describe('Stable snake_case machine code; never renamed.'),
      message: z.string().describe('Human-readable explanation.'),
      details: z.unknown().optional().describe('Structured details, e.g. the invalid fields.'),
    }),
  })
  .describe('Error envelope.');

type JsonSchema = Record<string, unknown>;

/** A JSON Schema (draft 2020-12, OpenAPI 3.1's dialect) for a zod schema, without the `$schema` key. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

/** `/chats/:id/messages` → `/chats/{id}/messages`. */
export function toOpenApiPath(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}

const operationId = (doc: RouteDoc): string =>
  [doc.method, ...doc.path.split('/').filter(Boolean)]
    .map((part) => part.replace(/^:/, 'by_').replace(/[^A-Za-z0-9]+/g, '_'))
    .join('_')
    .replace(/_+/g, '_');

/** One OpenAPI parameter per property of an object schema. */
function parameters(schema: z.ZodType | undefined, location: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const object = jsonSchema(schema, 'input');
  const properties = (object.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((object.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: location,
      required: location === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: propertySchema,
    };
  });
}

const ERROR_REF = { $ref: '#/components/schemas/Error' };

const errorResponse = (description: string): JsonSchema => ({
  description,
  content: { 'application/json': { schema: ERROR_REF } },
});

function operation(doc: RouteDoc): JsonSchema {
  const responses: Record<string, JsonSchema> = {};
  for (const [status, response] of Object.entries(doc.responses)) {
    const isError = Number(status) >= 400;
    const body = response.schema
      ? { [response.contentType ?? 'application/json']: { schema: jsonSchema(response.schema, 'output') } }
      : response.contentType
        ? { [response.contentType]: {} }
        : isError
          ? { 'application/json': { schema: ERROR_REF } }
          : undefined;
    responses[status] = { description: response.description, ...(body ? { content: body } : {}) };
  }
  const { params, query, body } = doc.schemas;
  const addError = (status: number, description: string): void => {
    responses[status] ??= errorResponse(description);
  };
  if (params || query || body || doc.rawBody)
    addError(400, 'The request is invalid (`validation_failed`, `invalid_json`, …).');
  if (doc.access !== 'public') addError(401, 'No valid API token (`unauthorized`).');
  if (doc.access === 'admin') addError(403, 'The caller is not an admin (`forbidden`).');
  if (params) addError(404, 'No such resource visible to the caller.');
  if (body || doc.rawBody) addError(413, 'The request body is too large (`payload_too_large`).');
  if (doc.access !== 'public')
    addError(
      429,
      'Too many requests with this token (`rate_limited`; `Retry-After` and `RateLimit-*` say when to retry), ' +
        'or too many invalid tokens from this address (`too_many_auth_failures`, with `Retry-After`).',
    );

  const headerParams = (doc.headers ?? []).map((h) => ({
    name: h.name,
    in: 'header',
    required: h.required ?? false,
    description: h.description,
    schema: { type: 'string' },
  }));
  const allParams = [...parameters(params, 'path'), ...parameters(query, 'query'), ...headerParams];
  const requestBody = body
    ? { required: true, content: { 'application/json': { schema: jsonSchema(body, 'input') } } }
    : doc.rawBody
      ? {
          required: true,
          description: doc.rawBody.description,
          content: Object.fromEntries(doc.rawBody.contentTypes.map((type) => [type, {}])),
        }
      : undefined;
  return {
    operationId: operationId(doc),
    summary: doc.summary,
    ...(doc.description ? { description: doc.description } : {}),
    tags: [doc.tag],
    ...(doc.access === 'public' ? { security: [] } : {}),
    ...(allParams.length > 0 ? { parameters: allParams } : {}),
    ...(requestBody ? { requestBody } : {}),
    responses,
  };
}

/** The OpenAPI 3.1 document for `routes`, served below `serverUrl`. Throws on a duplicate route. */
export function buildOpenApiDocument(
  routes: readonly RouteDoc[],
  info: { title: string; version: string; description?: string; serverUrl: string },
): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const doc of routes) {
    const path = toOpenApiPath(doc.path);
    const item = (paths[path] ??= {});
    if (item[doc.method]) throw new Error(`route ${doc.method.toUpperCase()} ${doc.path} is declared twice`);
    item[doc.method] = operation(doc);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      ...(info.description ? { description: info.description } : {}),
    },
    servers: [{ url: info.serverUrl }],
    security: [{ bearerAuth: [] }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API token (`chatd_…`).' },
      },
      schemas: { Error: jsonSchema(errorEnvelopeSchema, 'output') },
    },
  };
}
