/**
 * Request limits over real HTTP (README "Request limits"): the per-token rate limit with its
 * RateLimit headers and Retry-After, the cap on open streams per user, the throttle of invalid
 * tokens per client address (X-Forwarded-For from one trusted proxy), and open streams ending with a
 * final `stream_end` event when their token is revoked (through this API process or another) or
 * expires. Each limit gets an app of its own with that limit set low; every user and token is the
 * test's own.
 */
import { startTestApp, textBody, type TestApp } from '../support/app';
import { EventSourceProcess, SseClient } from '../support/sse';
import { createTestUser, type TestUser } from '../support/users';
import { until, waitUntil } from '../support/wait';
import { text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { TOKEN_CACHE_MS } from '../../src/security/tokens';

/** How long a stream may take to end after its token went: a correctness bound, not a speed target. */
const END_BOUND_MS = 15_000;

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

/** GET below /api/v1 with `token` (none when undefined) and extra headers; keeps the response headers. */
async function get(app: TestApp, path: string, token: string | undefined, headers: Record<string, string> = {}) {
  const res = await fetch(`${app.url}/api/v1${path}`, {
    headers: { ...(token !== undefined ? { Authorization: `Bearer ${token}` } : {}), ...headers },
  });
  const body = await res.text();
  return { status: res.status, body: body ? JSON.parse(body) : undefined, headers: res.headers } satisfies Answer;
}

/** Opens an SSE client and waits until the server answered (200, or an error status). */
async function openStream(url: string, token: string): Promise<SseClient> {
  const client = SseClient.open(url, token);
  await until(async () => (client.status !== 0 || client.ended ? true : undefined), 'the stream response', 15_000);
  return client;
}

/** Issues another token for `user` (optionally expiring), as the bootstrap admin. */
async function issueToken(app: TestApp, user: TestUser, expiresAt?: Date): Promise<{ id: string; token: string }> {
  const res = await app.request('POST', `/users/${user.id}/tokens`, {
    name: 'stream',
    ...(expiresAt ? { expires_at: expiresAt.toISOString() } : {}),
  });
  expect(res.status).toBe(201);
  return { id: res.body.id, token: res.body.token };
}

describe('request limits', () => {
  let fake: FakeLlmServer;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
  });

  afterAll(async () => {
    for (const app of apps.splice(0).reverse()) await app.stop();
    await fake?.close();
  });

  async function start(env: Record<string, string>, options: Partial<Parameters<typeof startTestApp>[0]> = {}) {
    const app = await startTestApp({ fake, env, ...options });
    apps.push(app);
    return app;
  }

  /** A chat of `user`, its first turn answered. */
  async function chatOf(app: TestApp, user: TestUser): Promise<string> {
    fake.enqueue(text('Hello.'));
    const created = await app.request('POST', '/chats', textBody('Hi'), user.token);
    expect(created.status).toBe(201);
    await until(
      async () => {
        const chat = await app.request('GET', `/chats/${created.body.id}`, undefined, user.token);
        return chat.body?.status === 'waiting' ? true : undefined;
      },
      'the first answer',
      60_000,
    );
    return created.body.id;
  }

  describe('per-token rate limit', () => {
    let app: TestApp;

    beforeAll(async () => {
      app = await start(
        { CHATD_RATE_LIMIT_REQUESTS: '10', CHATD_RATE_LIMIT_WINDOW: '5' },
        { roles: { api: true, worker: false }, seedModel: false },
      );
    });

    it('answers 429 rate_limited with Retry-After past the quota, leaves other tokens alone, and resets', async () => {
      const [limited, other] = [await createTestUser(app), await createTestUser(app)];
      for (let remaining = 9; remaining >= 0; remaining--) {
        const res = await get(app, '/users/me', limited.token);
        expect(res.status).toBe(200);
        expect(res.headers.get('RateLimit-Limit')).toBe('10');
        expect(res.headers.get('RateLimit-Remaining')).toBe(String(remaining));
        expect(res.headers.get('RateLimit-Policy')).toBe('10;w=5');
        const reset = Number(res.headers.get('RateLimit-Reset'));
        expect(reset).toBeGreaterThanOrEqual(0);
        expect(reset).toBeLessThanOrEqual(5);
      }
      const refused = await get(app, '/users/me', limited.token);
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('rate_limited');
      expect(refused.headers.get('RateLimit-Remaining')).toBe('0');
      const retryAfter = Number(refused.headers.get('Retry-After'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(5);
      // Streams count as requests too.
      const stream = await openStream(`${app.url}/api/v1/chats/watch`, limited.token);
      expect(stream.status).toBe(429);
      expect(stream.errorBody.error.code).toBe('rate_limited');

      // Another token has its own quota.
      const fine = await get(app, '/users/me', other.token);
      expect(fine.status).toBe(200);
      expect(fine.headers.get('RateLimit-Remaining')).toBe('9');

      // A new window: the first request of it has the whole quota left but one.
      const again = await until(
        async () => {
          const res = await get(app, '/users/me', limited.token);
          return res.status === 200 ? res : undefined;
        },
        'the next window',
        15_000,
      );
      expect(again.headers.get('RateLimit-Remaining')).toBe('9');
    });

    it('never limits health, readiness or the OpenAPI document', async () => {
      for (let i = 0; i < 15; i++) {
        for (const path of ['/healthz', '/openapi.json']) {
          const res = await fetch(`${app.url}/api/v1${path}`);
          expect(res.status).toBe(200);
          expect(res.headers.get('RateLimit-Limit')).toBeNull();
          await res.arrayBuffer();
        }
      }
      const ready = await fetch(`${app.url}/api/v1/readyz`);
      expect(ready.headers.get('RateLimit-Limit')).toBeNull();
      await ready.arrayBuffer();
    });
  });

  describe('open streams per user', () => {
    let app: TestApp;

    beforeAll(async () => {
      app = await start({ CHATD_MAX_STREAMS_PER_USER: '2' });
    });

    it('refuses a stream over the cap with 429 too_many_streams; closing one frees its slot', async () => {
      const [user, other] = [await createTestUser(app), await createTestUser(app)];
      const chatId = await chatOf(app, user);
      const chatUrl = `${app.url}/api/v1/chats/${chatId}/stream`;
      const watchUrl = `${app.url}/api/v1/chats/watch`;

      const chatStream = await openStream(chatUrl, user.token);
      expect(chatStream.status).toBe(200);
      const watch = await openStream(watchUrl, user.token);
      expect(watch.status).toBe(200);
      for (const url of [watchUrl, chatUrl]) {
        const refused = await openStream(url, user.token);
        expect(refused.status).toBe(429);
        expect(refused.errorBody.error.code).toBe('too_many_streams');
      }
      // The cap is per user: another user streams, and ordinary requests go on.
      const others = await openStream(watchUrl, other.token);
      expect(others.status).toBe(200);
      expect((await get(app, '/users/me', user.token)).status).toBe(200);

      chatStream.close();
      const reopened = await until(
        async () => {
          const client = await openStream(chatUrl, user.token);
          if (client.status === 200) return client;
          expect(client.errorBody.error.code).toBe('too_many_streams');
          return undefined;
        },
        'the closed stream’s slot to be free',
        15_000,
      );
      await reopened.waitFor((e) => e.event === 'status', 15_000);
      // Both slots are taken again.
      expect((await openStream(watchUrl, user.token)).status).toBe(429);
      for (const client of [reopened, watch, others]) client.close();
    });
  });

  describe('invalid tokens per client address', () => {
    let app: TestApp;

    beforeAll(async () => {
      app = await start(
        { CHATD_RATE_LIMIT_AUTH_FAILURES: '5', CHATD_RATE_LIMIT_AUTH_WINDOW: '3' },
        { roles: { api: true, worker: false }, seedModel: false },
      );
    });

    it('refuses an address after too many invalid tokens, valid ones included, until the window ends', async () => {
      const user = await createTestUser(app);
      // One proxy in front (CHATD_RATE_LIMIT_PROXY_HOPS=1): it appends the address it saw.
      const from = (address: string) => ({ 'X-Forwarded-For': address });
      const attacker = from('198.51.100.7');
      const neighbour = from('198.51.100.8');

      // Requests without a token cost no lookup and are not counted.
      for (let i = 0; i < 8; i++) expect((await get(app, '/users/me', undefined, attacker)).status).toBe(401);
      // Five failures are allowed; the sixth refuses the address.
      for (let i = 0; i < 6; i++) {
        const res = await get(app, '/users/me', `chatd_guess_${i}`, attacker);
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('unauthorized');
      }
      const refused = await get(app, '/users/me', 'chatd_guess_next', attacker);
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('too_many_auth_failures');
      const retryAfter = Number(refused.headers.get('Retry-After'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(3);
      // The whole address is refused while the block lasts, a valid token too (by design: no lookup at all).
      expect((await get(app, '/users/me', user.token, attacker)).status).toBe(429);
      // An entry the client wrote itself in front of the proxy's does not make it someone else.
      const spoofed = await get(app, '/users/me', 'chatd_guess_spoof', from('203.0.113.1, 198.51.100.7'));
      expect(spoofed.status).toBe(429);
      // Public routes are never throttled.
      expect((await get(app, '/healthz', undefined, attacker)).status).toBe(200);

      // Other addresses are unaffected: valid tokens work, invalid ones are plain 401s.
      expect((await get(app, '/users/me', user.token, neighbour)).status).toBe(200);
      expect((await get(app, '/users/me', 'chatd_wrong', neighbour)).status).toBe(401);
      expect((await get(app, '/users/me', user.token)).status).toBe(200);

      // Once the window has passed, the address is served again.
      await until(
        async () => ((await get(app, '/users/me', user.token, attacker)).status === 200 ? true : undefined),
        'the block to end',
        15_000,
      );
      expect((await get(app, '/users/me', 'chatd_guess_after', attacker)).status).toBe(401);
    });
  });

  describe('streams of a token that goes', () => {
    let app: TestApp;
    let user: TestUser;
    let chatId: string;

    beforeAll(async () => {
      app = await start({});
      user = await createTestUser(app);
      chatId = await chatOf(app, user);
    });

    const chatUrl = () => `${app.url}/api/v1/chats/${chatId}/stream`;
    const watchUrl = () => `${app.url}/api/v1/chats/watch`;

    /** Waits for the final event, then for the server to close the connection; nothing comes after it. */
    async function expectEnded(client: SseClient, reason: string, shape: Record<string, unknown>) {
      const end = await client.waitFor((e) => e.event === 'stream_end', END_BOUND_MS);
      expect(end.data).toEqual({ ...shape, reason });
      expect(end.id).toBeUndefined();
      await client.waitForEnd(END_BOUND_MS);
      expect(client.ended).toBe(true);
      expect(client.events.at(-1)).toBe(end);
    }

    it('ends the chat and watch streams of a token revoked through this process, and no other stream', async () => {
      const doomed = await issueToken(app, user);
      const chatStream = await openStream(chatUrl(), doomed.token);
      await chatStream.waitFor((e) => e.event === 'status', 15_000);
      const watch = await openStream(watchUrl(), doomed.token);
      await watch.waitForComments(1, 15_000);
      // A standard EventSource, authenticating with ?access_token= as browsers must.
      const browser = EventSourceProcess.open(`${watchUrl()}?access_token=${doomed.token}`, ['stream_end']);
      await browser.waitForOpens(1, 15_000);
      const survivor = await openStream(watchUrl(), user.token);
      expect(survivor.status).toBe(200);

      expect((await app.request('DELETE', `/tokens/${doomed.id}`)).status).toBe(204);
      await expectEnded(chatStream, 'token_revoked', { type: 'stream_end', chat_id: chatId });
      await expectEnded(watch, 'token_revoked', { kind: 'stream_end' });
      const seen = await browser.waitFor((e) => e.event === 'stream_end', END_BOUND_MS);
      expect(seen.data).toEqual({ kind: 'stream_end', reason: 'token_revoked' });
      // EventSource reconnects once, is refused with 401 and stays closed.
      await waitUntil(() => browser.errors.some((e) => e.includes('401')), 15_000, 'the refused reconnect');
      expect(browser.opens).toBe(1);
      await browser.close();

      // The user's other token keeps its stream; the revoked one opens nothing.
      expect(survivor.ended).toBe(false);
      expect((await openStream(watchUrl(), doomed.token)).status).toBe(401);
      survivor.close();
    });

    it('ends a stream on another API process within the token cache lifetime of the revocation', async () => {
      const other = await start(
        {},
        { database: app.database, taskQueue: app.taskQueue, roles: { api: true, worker: false } },
      );
      const doomed = await issueToken(app, user);
      const stream = await openStream(`${other.url}/api/v1/chats/${chatId}/stream`, doomed.token);
      await stream.waitFor((e) => e.event === 'status', 15_000);
      const survivor = await openStream(`${other.url}/api/v1/chats/watch`, user.token);
      expect(survivor.status).toBe(200);

      // Revoked through the first process: the other one learns it from the database.
      expect((await app.request('DELETE', `/tokens/${doomed.id}`)).status).toBe(204);
      await expectEnded(stream, 'token_revoked', { type: 'stream_end', chat_id: chatId });
      expect(END_BOUND_MS).toBeGreaterThan(TOKEN_CACHE_MS);
      expect(survivor.ended).toBe(false);
      survivor.close();
    });

    it('ends the streams of an expiring token at its expiry', async () => {
      const expiresAt = new Date(Date.now() + 4_000);
      const expiring = await issueToken(app, user, expiresAt);
      const chatStream = await openStream(chatUrl(), expiring.token);
      expect(chatStream.status).toBe(200);
      const watch = await openStream(watchUrl(), expiring.token);
      expect(watch.status).toBe(200);

      // Not before the expiry: both are still open shortly before it.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt.getTime() - 500 - Date.now())));
      if (Date.now() < expiresAt.getTime()) {
        for (const client of [chatStream, watch]) {
          expect(client.ended).toBe(false);
          expect(client.events.filter((e) => e.event === 'stream_end')).toEqual([]);
        }
      }
      await expectEnded(chatStream, 'token_expired', { type: 'stream_end', chat_id: chatId });
      await expectEnded(watch, 'token_expired', { kind: 'stream_end' });
      expect((await openStream(watchUrl(), expiring.token)).status).toBe(401);
    });
  });
});
