/**
 * The route registry behind /api/v1/openapi.json. A route is declared once — method, path, summary,
 * access, zod schemas, responses — and `mountRoute` registers it on its Koa router with the access
 * guard and `validate()` built from that declaration, so the OpenAPI 3.2 document generated here
 * (with `z.toJSONSchema`) describes exactly what the server enforces. Zod schemas registered with
 * `.meta({ id })` become named components (`#/components/schemas/<id>`); an input variant that
 * differs from the output one (defaults, transforms) is named `<id>Input`. The two Server-Sent
 * Events streams are described with OpenAPI 3.2's `itemSchema` (one item per SSE event).
 */
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { requireAdmin } from './middleware/auth';
import { validate, type RouteSchemas, type ValidatedInput } from './middleware/validate';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Who may call a route: anyone, any authenticated user, or admins only. */
export type Access = 'public' | 'user' | 'admin';

/**
 * One documented response. `schema` is a JSON body; `contentType` documents a non-JSON body; `sse`
 * makes it a `text/event-stream` whose events carry `data` (JSON) and, with `ids`, an `id`.
 */
export interface ResponseDoc {
  description: string;
  schema?: z.ZodType;
  contentType?: string;
  sse?: { data: z.ZodType; ids: boolean };
}

/** A route's declaration: what the router mounts and what the OpenAPI document shows. */
export interface RouteDoc<S extends RouteSchemas = RouteSchemas> {
  /** The operation's name in the document and in generated clients (`createChat`); unique, never renamed. */
  operationId: string;
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
  .meta({ id: 'Error', description: 'Error envelope.' });

type JsonSchema = Record<string, unknown>;

const COMPONENTS = '#/components/schemas/';

/** Rewrites every `$ref` to `#/$defs/<id>` in `value` with `name(id)`. */
function renameRefs(value: unknown, name: (id: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => renameRefs(v, name));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/')
        ? COMPONENTS + name(v.slice('#/$defs/'.length))
        : renameRefs(v, name),
    ]),
  );
}

const refsOf = (def: unknown): string[] =>
  [...JSON.stringify(def).matchAll(/"\$ref":"#\/\$defs\/([^"]+)"/g)].map((m) => m[1]!);

/**
 * The named schemas of one document. Output (response) variants take the plain id; an input variant
 * equal to the output one (its named sub-schemas included) shares it, any other is `<id>Input`.
 * Two different schemas under one id are an error.
 */
class Components {
  readonly schemas: Record<string, JsonSchema> = {};
  /** Output variants as zod emitted them (refs still `#/$defs/…`), to compare input variants with. */
  private readonly rawOutputs = new Map<string, string>();

  /** A JSON Schema (draft 2020-12, OpenAPI 3.1+'s dialect) for `schema`; named parts become `$ref`s. */
  convert(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
    const {
      $schema: _dialect,
      $defs,
      ...root
    } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema;
    const defs = ($defs ?? {}) as Record<string, JsonSchema>;
    let name: (id: string) => string = (id) => id;
    if (io === 'input') {
      // An input variant shares the output's name only when it and all it refers to are unchanged.
      const same = new Set(Object.keys(defs).filter((id) => this.rawOutputs.get(id) === JSON.stringify(defs[id])));
      for (let changed = true; changed;) {
        changed = false;
        for (const id of same) {
          if (refsOf(defs[id]).some((ref) => !same.has(ref))) {
            same.delete(id);
            changed = true;
          }
        }
      }
      name = (id) => (same.has(id) ? id : `${id}Input`);
    }
    for (const [id, def] of Object.entries(defs)) {
      if (io === 'output') this.rawOutputs.set(id, JSON.stringify(def));
      this.add(name(id), renameRefs(def, name) as JsonSchema);
    }
    return renameRefs(root, name) as JsonSchema;
  }

  private add(name: string, schema: JsonSchema): void {
    const existing = this.schemas[name];
    if (existing && JSON.stringify(existing) !== JSON.stringify(schema)) {
      throw new Error(`two different schemas are named ${name}`);
    }
    this.schemas[name] = schema;
  }
}

/** `/chats/:id/messages` → `/chats/{id}/messages`. */
export function toOpenApiPath(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}

/** One OpenAPI parameter per property of an object schema. */
function parameters(components: Components, schema: z.ZodType | undefined, location: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const object = components.convert(schema, 'input');
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

const ERROR_REF = { $ref: `${COMPONENTS}Error` };

const errorResponse = (description: string): JsonSchema => ({
  description,
  content: { 'application/json': { schema: ERROR_REF } },
});

/**
 * OpenAPI 3.2's `itemSchema` of a `text/event-stream`: one item per event, its `data` the JSON of
 * `data` (the `retry` and comment lines the stream also sends carry no data).
 */
function eventStreamItem(components: Components, sse: NonNullable<ResponseDoc['sse']>): JsonSchema {
  return {
    type: 'object',
    properties: {
      event: { type: 'string', description: 'The event name: the `type` (chat stream) or `kind` (watch) of `data`.' },
      data: {
        type: 'string',
        contentMediaType: 'application/json',
        contentSchema: components.convert(sse.data, 'output'),
      },
      ...(sse.ids
        ? { id: { type: 'string', description: 'The event id; send it back as `Last-Event-ID` to resume after it.' } }
        : {}),
      retry: { type: 'integer', minimum: 0, description: 'Milliseconds to wait before reconnecting.' },
    },
  };
}

function responseBody(components: Components, response: ResponseDoc, isError: boolean): JsonSchema | undefined {
  if (response.sse) return { 'text/event-stream': { itemSchema: eventStreamItem(components, response.sse) } };
  if (response.schema) {
    return { [response.contentType ?? 'application/json']: { schema: components.convert(response.schema, 'output') } };
  }
  if (response.contentType) return { [response.contentType]: {} };
  return isError ? { 'application/json': { schema: ERROR_REF } } : undefined;
}

function operation(components: Components, doc: RouteDoc): JsonSchema {
  const responses: Record<string, JsonSchema> = {};
  for (const [status, response] of Object.entries(doc.responses)) {
    const body = responseBody(components, response, Number(status) >= 400);
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
  const allParams = [
    ...parameters(components, params, 'path'),
    ...parameters(components, query, 'query'),
    ...headerParams,
  ];
  const requestBody = body
    ? { required: true, content: { 'application/json': { schema: components.convert(body, 'input') } } }
    : doc.rawBody
      ? {
          required: true,
          description: doc.rawBody.description,
          content: Object.fromEntries(doc.rawBody.contentTypes.map((type) => [type, {}])),
        }
      : undefined;
  return {
    operationId: doc.operationId,
    summary: doc.summary,
    ...(doc.description ? { description: doc.description } : {}),
    tags: [doc.tag],
    ...(doc.access === 'public' ? { security: [] } : {}),
    ...(allParams.length > 0 ? { parameters: allParams } : {}),
    ...(requestBody ? { requestBody } : {}),
    responses,
  };
}

/**
 * The OpenAPI 3.2 document for `routes`, served below `serverUrl`. `extraSchemas` are named schemas
 * no route refers to that clients still need (e.g. the events a stream's union does not list).
 * Throws on a duplicate route or operationId, and on two different schemas under one name.
 */
export function buildOpenApiDocument(
  routes: readonly RouteDoc[],
  info: { title: string; version: string; description?: string; serverUrl: string },
  extraSchemas: readonly z.ZodType[] = [],
): JsonSchema {
  const components = new Components();
  components.convert(errorEnvelopeSchema, 'output');
  for (const schema of extraSchemas) components.convert(schema, 'output');
  const paths: Record<string, Record<string, JsonSchema>> = {};
  const operationIds = new Set<string>();
  for (const doc of routes) {
    const path = toOpenApiPath(doc.path);
    const item = (paths[path] ??= {});
    if (item[doc.method]) throw new Error(`route ${doc.method.toUpperCase()} ${doc.path} is declared twice`);
    if (operationIds.has(doc.operationId)) throw new Error(`operationId ${doc.operationId} is declared twice`);
    operationIds.add(doc.operationId);
    item[doc.method] = operation(components, doc);
  }
  return {
    openapi: '3.2.0',
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
      schemas: Object.fromEntries(Object.entries(components.schemas).sort(([a], [b]) => a.localeCompare(b))),
    },
  };
}
