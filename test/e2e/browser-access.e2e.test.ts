/**
 * What browser clients rely on, over real HTTP: `?access_token=` works on the two SSE streams (an
 * EventSource cannot send headers) and nowhere else, so a token in any other URL is refused; CORS
 * headers go only to the origins in CHATD_CORS_ORIGINS, on preflights, answers and errors alike, and
 * to none when it is unset.
 */
import { startTestApp, textBody, type TestApp } from '../support/app';
import { text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';

const ALLOWED = 'https://app.example.com';
const OTHER = 'https://evil.example.net';

/** Status and headers of a GET; the body is not read past the headers (streams never end on their own). */
async function head(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers }> {
  const abort = new AbortController();
  const res = await fetch(url, { headers, signal: abort.signal });
  abort.abort();
  return { status: res.status, headers: res.headers };
}

function preflight(app: TestApp, origin: string): Promise<Response> {
  return fetch(`${app.url}/api/v1/chats`, {
    method: 'OPTIONS',
    headers: {
      Origin: origin,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization,content-type,last-event-id',
    },
  });
}

describe('browser access', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let plain: TestApp;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake, env: { CHATD_CORS_ORIGINS: `${ALLOWED},http://localhost:5173` } });
    plain = await startTestApp({ fake, roles: { api: true, worker: false }, seedModel: false });
  });

  afterAll(async () => {
    await plain?.stop();
    await app?.stop();
    await fake?.close();
  });

  it('accepts ?access_token= on the chat stream and the watch stream only', async () => {
    fake.enqueue(text('Hello.'));
    const created = await app.request('POST', '/chats', textBody('Hi'));
    expect(created.status).toBe(201);
    const chatId = created.body.id as string;
    const token = encodeURIComponent(app.token);

    const stream = await head(`${app.url}/api/v1/chats/${chatId}/stream?access_token=${token}`);
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const watch = await head(`${app.url}/api/v1/chats/watch?access_token=${token}`);
    expect(watch.status).toBe(200);
    expect(watch.headers.get('content-type')).toMatch(/^text\/event-stream/);

    // A valid token in the URL of any other route is not a credential.
    for (const path of ['/chats', `/chats/${chatId}`, '/users/me', `/chats/${chatId}/messages`]) {
      expect({ path, status: (await head(`${app.url}/api/v1${path}?access_token=${token}`)).status }).toEqual({
        path,
        status: 401,
      });
    }
    // The header still works there, and the query parameter is never accepted on other methods.
    expect((await app.request('GET', '/chats')).status).toBe(200);
    const post = await fetch(`${app.url}/api/v1/chats?access_token=${token}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(textBody('Not allowed')),
    });
    expect(post.status).toBe(401);
  });

  it('answers a preflight from a listed origin with the headers a browser client needs', async () => {
    const res = await preflight(app, ALLOWED);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(',');
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type', 'last-event-id']));
    expect(res.headers.get('vary')).toMatch(/Origin/);
  });

  it('exposes the rate-limit, retry and request-id headers on answers and errors of a listed origin', async () => {
    const ok = await fetch(`${app.url}/api/v1/chats`, {
      headers: { Origin: ALLOWED, Authorization: `Bearer ${app.token}` },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    const exposed = (ok.headers.get('access-control-expose-headers') ?? '').split(',');
    expect(exposed).toEqual(expect.arrayContaining(['RateLimit-Remaining', 'Retry-After', 'X-Request-Id']));

    const denied = await fetch(`${app.url}/api/v1/chats`, { headers: { Origin: ALLOWED } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe(ALLOWED);
  });

  it('gives an unlisted origin no CORS headers, and none to anyone when CHATD_CORS_ORIGINS is unset', async () => {
    for (const [target, origin] of [
      [app, OTHER],
      [plain, ALLOWED],
    ] as const) {
      const pre = await preflight(target, origin);
      expect(pre.headers.get('access-control-allow-origin')).toBeNull();
      expect(pre.headers.get('access-control-allow-headers')).toBeNull();
      const get = await fetch(`${target.url}/api/v1/chats`, {
        headers: { Origin: origin, Authorization: `Bearer ${target.token}` },
      });
      expect(get.status).toBe(200);
      expect(get.headers.get('access-control-allow-origin')).toBeNull();
      expect(get.headers.get('access-control-expose-headers')).toBeNull();
    }
  });
});
