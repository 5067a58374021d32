/**
 * The pure parts of the Idempotency-Key support: the header's syntax (bare or an RFC 8941 string), the
 * request fingerprint, which responses are kept for replay, how often expired keys are deleted, and that the
 * three routes taking the header document it with its 409 and 422 answers (the HTTP behaviour is in
 * test/e2e/idempotency.e2e.test.ts).
 */
import type { Context } from 'koa';
import {
  canonicalJsonBody,
  cleanupDue,
  CLEANUP_INTERVAL_MS,
  isStoredStatus,
  parseIdempotencyKey,
  requestFingerprint,
} from '../../../src/api/middleware/idempotency';
import { openApiDocument } from '../../../src/api/routes/openapi.routes';

describe('parseIdempotencyKey', () => {
  it.each([
    ['a bare key', 'k1', 'k1'],
    ['a UUID', '8e03978e-40d5-43e8-bc93-6894a57f9324', '8e03978e-40d5-43e8-bc93-6894a57f9324'],
    ['a quoted key (the draft’s sf-string)', '"k1"', 'k1'],
    ['escapes in a quoted key', '"a\\"b\\\\c"', 'a"b\\c'],
    ['spaces and punctuation', 'a b,c;d=e', 'a b,c;d=e'],
    ['255 characters', 'x'.repeat(255), 'x'.repeat(255)],
    ['a bare value that is not a valid sf-string', '"a"b"', '"a"b"'],
  ])('accepts %s', (_what, value, key) => {
    expect(parseIdempotencyKey(value)).toBe(key);
  });

  it.each([
    ['empty', ''],
    ['an empty quoted string', '""'],
    ['256 characters', 'x'.repeat(256)],
    ['a quoted key of 256 characters', `"${'x'.repeat(256)}"`],
    ['non-ASCII', 'caf\u00e9'],
    ['a control character', 'a\tb'],
    ['DEL', 'a\u007fb'],
  ])('refuses %s', (_what, value) => {
    expect(parseIdempotencyKey(value)).toBeUndefined();
  });
});

describe('requestFingerprint', () => {
  const base = requestFingerprint('POST', '/api/v1/chats', '{"a":1}');

  it('is a SHA-256 over method, path and body', () => {
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(requestFingerprint('POST', '/api/v1/chats', '{"a":1}')).toBe(base);
    expect(requestFingerprint('PUT', '/api/v1/chats', '{"a":1}')).not.toBe(base);
    expect(requestFingerprint('POST', '/api/v1/files', '{"a":1}')).not.toBe(base);
    expect(requestFingerprint('POST', '/api/v1/chats', '{"a":2}')).not.toBe(base);
    expect(requestFingerprint('POST', '/api/v1/chats', Buffer.from('{"a":1}'))).toBe(base);
  });

  it('keeps its parts apart', () => {
    expect(requestFingerprint('POST', '/a', 'b')).not.toBe(requestFingerprint('POST', '/ab', ''));
  });

  it('reads a JSON body as canonical JSON: key order does not matter, values do', () => {
    const body = (value: unknown) => canonicalJsonBody({ request: { body: value } } as unknown as Context);
    expect(body({ b: [1, { y: 2, x: 1 }], a: 'z' })).toBe(body({ a: 'z', b: [1, { x: 1, y: 2 }] }));
    expect(body({ a: 1 })).not.toBe(body({ a: '1' }));
    expect(body(undefined)).toBe('null');
  });
});

describe('isStoredStatus', () => {
  it.each([200, 201, 204, 400, 404, 413, 422])('keeps %i for replay', (status) => {
    expect(isStoredStatus(status)).toBe(true);
  });

  it.each([409, 429, 500, 502, 503, 301])('does not keep %i', (status) => {
    expect(isStoredStatus(status)).toBe(false);
  });
});

describe('cleanupDue', () => {
  it('is due at once, then once per interval, for each database', () => {
    const db = {};
    const other = {};
    expect(cleanupDue(db, 1_000)).toBe(true);
    expect(cleanupDue(db, 1_000 + CLEANUP_INTERVAL_MS - 1)).toBe(false);
    expect(cleanupDue(other, 1_000)).toBe(true);
    expect(cleanupDue(db, 1_000 + CLEANUP_INTERVAL_MS)).toBe(true);
    expect(cleanupDue(db, 1_000 + CLEANUP_INTERVAL_MS + 1)).toBe(false);
  });
});

describe('the OpenAPI document', () => {
  const doc = openApiDocument() as any;
  const header = (operation: any) =>
    (operation.parameters ?? []).find((p: any) => p.in === 'header' && p.name === 'Idempotency-Key');

  it.each([
    ['/chats', 'post'],
    ['/chats/{id}/messages', 'post'],
    ['/files', 'post'],
  ])('%s %s takes an optional Idempotency-Key and documents 409 and 422', (path, method) => {
    const operation = doc.paths[path][method];
    expect(header(operation)).toMatchObject({ required: false, schema: { type: 'string' } });
    expect(operation.responses['409'].description).toContain('idempotency_key_in_progress');
    expect(operation.responses['422'].description).toContain('idempotency_key_reused');
  });

  it('is not offered by other routes', () => {
    expect(header(doc.paths['/chats/{id}'].patch)).toBeUndefined();
    expect(header(doc.paths['/chats/{id}/messages/{messageId}'].patch)).toBeUndefined();
  });
});
