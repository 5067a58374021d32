/**
 * Checks API responses against the OpenAPI document the server serves (GET /api/v1/openapi.json):
 * the schema of the operation's method + path + status, validated with Ajv (JSON Schema 2020-12,
 * formats included). Response objects are closed (`additionalProperties: false`), so a field the
 * handler adds, drops or changes without its schema fails the test that saw it.
 */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

type Json = Record<string, any>;

export interface ResponseChecker {
  /** The document as served. */
  document: Json;
  /** Throws unless `body` matches the documented JSON body of `method path` answering `status`. */
  check(method: string, path: string, response: { status: number; body: unknown }): void;
  /** Throws unless `data` matches the documented `data` of an event of the SSE route `path`. */
  checkEvent(path: string, data: unknown): void;
}

/** The document's path template that `path` (a concrete path, maybe with a query) is an instance of. */
function templateOf(document: Json, path: string): string {
  const concrete = path.split('?')[0]!.split('/');
  const matches = Object.keys(document.paths).filter((template) => {
    const parts = template.split('/');
    return parts.length === concrete.length && parts.every((p, i) => p.startsWith('{') || p === concrete[i]);
  });
  // A literal segment wins over a parameter (`/chats/watch` over `/chats/{id}`).
  const literals = (template: string) => template.split('/').filter((p) => !p.startsWith('{')).length;
  const [best] = matches.sort((a, b) => literals(b) - literals(a));
  if (!best) throw new Error(`no documented path matches ${path}`);
  return best;
}

export async function responseChecker(baseUrl: string): Promise<ResponseChecker> {
  const res = await fetch(`${baseUrl}/api/v1/openapi.json`);
  if (!res.ok) throw new Error(`GET /api/v1/openapi.json: ${res.status}`);
  const document = (await res.json()) as Json;
  // `components` rides along so that `#/components/schemas/…` references resolve.
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const compiled = new Map<string, ValidateFunction>();
  const validator = (key: string, schema: Json): ValidateFunction => {
    let validate = compiled.get(key);
    if (!validate) {
      validate = ajv.compile({ ...schema, components: document.components });
      compiled.set(key, validate);
    }
    return validate;
  };
  const assertValid = (key: string, schema: Json, value: unknown): void => {
    const validate = validator(key, schema);
    if (!validate(value)) {
      throw new Error(
        `${key} does not match the OpenAPI document: ${ajv.errorsText(validate.errors)}\n` +
          JSON.stringify(value, null, 2).slice(0, 4000),
      );
    }
  };

  return {
    document,
    check(method, path, response) {
      const template = templateOf(document, path);
      const operation = document.paths[template][method.toLowerCase()];
      if (!operation) throw new Error(`${method} ${template} is not documented`);
      const documented = operation.responses[String(response.status)];
      if (!documented) throw new Error(`${method} ${template} does not document status ${response.status}`);
      const schema = documented.content?.['application/json']?.schema;
      if (!schema) {
        if (response.body !== undefined && response.body !== '' && response.status !== 204) {
          throw new Error(`${method} ${template} ${response.status} documents no JSON body but sent one`);
        }
        return;
      }
      assertValid(`${method.toUpperCase()} ${template} ${response.status}`, schema, response.body);
    },
    checkEvent(path, data) {
      const template = templateOf(document, path);
      const item = document.paths[template].get?.responses['200']?.content?.['text/event-stream']?.itemSchema;
      if (!item) throw new Error(`GET ${template} documents no event stream`);
      assertValid(`event of GET ${template}`, item.properties.data.contentSchema, data);
    },
  };
}

/**
 * `app.request` that checks every response against the document before returning it, e.g.
 * `const api = checkedRequests(app.request, checker); await api('POST', '/chats', body)`.
 */
export function checkedRequests<R extends { status: number; body: any }>(
  request: (method: string, path: string, body?: unknown, token?: string) => Promise<R>,
  checker: ResponseChecker,
): (method: string, path: string, body?: unknown, token?: string) => Promise<R> {
  return async (method, path, body, token) => {
    const response = await request(method, path, body, token);
    checker.check(method, path, response);
    return response;
  };
}
