/**
 * The OpenAPI document describes the push routes as clients need them: the subscription body's
 * schema (strict, as the route validates it) and the 501 `push_disabled` answer of a server without
 * VAPID keys. That the catalogue lists every mounted push route is checked in test/unit/api/openapi.test.ts.
 */
import { openApiDocument } from '../../../src/api/routes/openapi.routes';

describe('the push routes in the OpenAPI document', () => {
  it('document the subscription body and the disabled answer', () => {
    const doc = openApiDocument() as any;
    const post = doc.paths['/push/subscriptions'].post;
    const body = post.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(expect.arrayContaining(['endpoint', 'keys']));
    expect(body.additionalProperties).toBe(false);
    expect(Object.keys(post.responses)).toEqual(expect.arrayContaining(['200', '201', '400', '401', '501']));
    expect(doc.paths['/push/vapid-public-key'].get.responses['501']).toBeDefined();
  });
});
