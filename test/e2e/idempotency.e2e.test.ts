/**
 * The Idempotency-Key header on POST /chats, POST /chats/{id}/messages and POST /files over real HTTP,
 * PostgreSQL and Temporal: a retry replays the first response and starts no second turn, a reuse for
 * another request is 422, a retry while the first request runs is 409, keys are per user, expire after
 * 24 h, and only what the handler answered (2xx/4xx, not validation failures or 5xx) is kept. Each test
 * uses its own user and keys; turns are counted at the turn launcher and at the fake model.
 */
import { randomUUID } from 'node:crypto';
import canonicalize from 'canonicalize';
import { sql, type RawBuilder } from 'kysely';
import { requestFingerprint } from '../../src/api/middleware/idempotency';
import { deleteExpiredIdempotencyKeys } from '../../src/db/repositories/idempotency.repository';
import { text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import type { TurnRequest } from '../../src/chat/turn-launcher';
import { startTestApp, textBody, turnRequests, type TestApp } from '../support/app';
import { until } from '../support/wait';
import { createTestUser, type TestUser } from '../support/users';

// A real 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);

interface Answer {
  status: number;
  body: any;
  replayed: string | null;
  headers: Headers;
}

describe('Idempotency-Key', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let user: TestUser;
  let requestTurn: jest.SpyInstance<Promise<void>, [TurnRequest]>;
  let originalRequestTurn: (request: TurnRequest) => Promise<void>;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    fake.respondTo('fake-model', () => text('Done.'));
    app = await startTestApp({ fake });
  });

  beforeEach(async () => {
    user = await createTestUser(app);
    originalRequestTurn = app.deps.turns.requestTurn;
    requestTurn = jest.spyOn(app.deps.turns, 'requestTurn');
  });

  afterEach(() => requestTurn.mockRestore());

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  async function send(
    method: string,
    path: string,
    options: {
      key?: string;
      body?: unknown;
      raw?: RequestInit['body'];
      headers?: Record<string, string>;
      token?: string;
    } = {},
  ): Promise<Answer> {
    const res = await fetch(`${app.url}/api/v1${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${options.token ?? user.token}`,
        ...(options.key !== undefined ? { 'Idempotency-Key': options.key } : {}),
        ...(options.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...options.headers,
      },
      body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
    });
    const raw = await res.text();
    return {
      status: res.status,
      body: raw ? JSON.parse(raw) : undefined,
      replayed: res.headers.get('idempotent-replayed'),
      headers: res.headers,
    };
  }

  const createChat = (body: unknown, key?: string, token?: string) => send('POST', '/chats', { body, key, token });
  const upload = (key: string | undefined, fileName = 'a.png') =>
    send('POST', '/files', {
      key,
      raw: PNG,
      headers: { 'Content-Type': 'image/png', 'Content-Disposition': `attachment; filename="${fileName}"` },
    });

  const count = async (query: RawBuilder<{ n: number }>): Promise<number> =>
    (await query.execute(app.deps.db)).rows[0]!.n;
  const chatsOf = (owner: TestUser = user) =>
    count(sql<{ n: number }>`select count(*)::int as n from chats where owner_id = ${owner.id}`);
  const userMessages = (chatId: string) =>
    count(sql<{ n: number }>`select count(*)::int as n from chat_messages where chat_id = ${chatId} and role = 'user'`);
  const filesOf = (owner: TestUser = user) =>
    count(sql<{ n: number }>`select count(*)::int as n from chat_files where owner_id = ${owner.id}`);
  const keysOf = (owner: TestUser = user) =>
    count(sql<{ n: number }>`select count(*)::int as n from idempotency_keys where user_id = ${owner.id}`);
  const turnsRequestedFor = (chatId: string) => requestTurn.mock.calls.filter(([r]) => r.chatId === chatId).length;
  const modelRequestsWith = (marker: string) =>
    turnRequests(fake).filter((r) => JSON.stringify(r.body).includes(marker)).length;

  /** Waits until the user's chat is `waiting` (its turn ended). */
  const turnEnded = (chatId: string) =>
    until(async () => {
      const chat = await send('GET', `/chats/${chatId}`);
      return chat.body?.status === 'waiting' ? chat : undefined;
    }, `chat ${chatId} to wait`);

  /** Holds the next turn request until `release()`; `entered` resolves once the request reached it. */
  function holdNextTurnRequest(): { entered: Promise<void>; release: () => void } {
    let entered!: () => void;
    let release!: () => void;
    const enteredP = new Promise<void>((resolve) => (entered = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    requestTurn.mockImplementationOnce(async (request) => {
      entered();
      await released;
      return originalRequestTurn.call(app.deps.turns, request);
    });
    return { entered: enteredP, release };
  }

  it('POST /chats retried with the key replays the first response: one chat, one turn', async () => {
    const marker = `idem-create-${randomUUID()}`;
    const key = randomUUID();
    const first = await createChat(textBody(marker), key);
    expect(first.status).toBe(201);
    expect(first.replayed).toBeNull();

    const retry = await createChat(textBody(marker), key);
    expect(retry).toMatchObject({ status: 201, body: first.body, replayed: 'true' });
    // The same JSON with other key order and spacing is the same request.
    const reordered = await send('POST', '/chats', {
      key,
      raw: `{ "content" : [ { "text": ${JSON.stringify(marker)}, "type": "text" } ] }`,
      headers: { 'Content-Type': 'application/json' },
    });
    expect(reordered).toMatchObject({ status: 201, body: first.body, replayed: 'true' });

    await turnEnded(first.body.id);
    expect(await chatsOf()).toBe(1);
    expect(turnsRequestedFor(first.body.id)).toBe(1);
    expect(modelRequestsWith(marker)).toBe(1);
  });

  it('POST /chats/{id}/messages retried with the key stores one message and runs one turn', async () => {
    const chat = await createChat(textBody('start'));
    await turnEnded(chat.body.id);
    const marker = `idem-message-${randomUUID()}`;
    const key = randomUUID();

    const first = await send('POST', `/chats/${chat.body.id}/messages`, { key, body: textBody(marker) });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ queued: false, message: { role: 'user' } });
    const retry = await send('POST', `/chats/${chat.body.id}/messages`, { key, body: textBody(marker) });
    expect(retry).toMatchObject({ status: 200, body: first.body, replayed: 'true' });

    await turnEnded(chat.body.id);
    expect(await userMessages(chat.body.id)).toBe(2);
    expect(turnsRequestedFor(chat.body.id)).toBe(2);
    expect(modelRequestsWith(marker)).toBe(1);
  });

  it('POST /files retried with the key stores one file', async () => {
    const key = randomUUID();
    const first = await upload(key);
    expect(first.status).toBe(201);
    const retry = await upload(key);
    expect(retry).toMatchObject({ status: 201, body: first.body, replayed: 'true' });
    expect(await filesOf()).toBe(1);
    // Another file name is another request.
    const renamed = await upload(key, 'b.png');
    expect(renamed.status).toBe(422);
    expect(renamed.body.error.code).toBe('idempotency_key_reused');
    expect(await filesOf()).toBe(1);
  });

  it('a reuse with another body or on another route is 422 and creates nothing', async () => {
    const key = randomUUID();
    const first = await createChat(textBody('one'), key);
    expect(first.status).toBe(201);
    const messagesBefore = await userMessages(first.body.id);

    const otherBody = await createChat(textBody('two'), key);
    expect(otherBody.status).toBe(422);
    expect(otherBody.body.error.code).toBe('idempotency_key_reused');
    expect(otherBody.replayed).toBeNull();
    const otherRoute = await send('POST', `/chats/${first.body.id}/messages`, { key, body: textBody('one') });
    expect(otherRoute.status).toBe(422);
    expect(otherRoute.body.error.code).toBe('idempotency_key_reused');
    expect((await upload(key)).status).toBe(422);

    expect(await chatsOf()).toBe(1);
    expect(await userMessages(first.body.id)).toBe(messagesBefore);
    expect(await filesOf()).toBe(0);
    expect(turnsRequestedFor(first.body.id)).toBe(1);
  });

  it('a retry while the first request runs is 409; once it finished the retry replays it', async () => {
    const key = randomUUID();
    const held = holdNextTurnRequest();
    const first = createChat(textBody('slow'), key);
    await held.entered;

    const concurrent = await createChat(textBody('slow'), key);
    expect(concurrent.status).toBe(409);
    expect(concurrent.body.error.code).toBe('idempotency_key_in_progress');
    expect(concurrent.headers.get('retry-after')).toBe('1');

    held.release();
    const done = await first;
    expect(done.status).toBe(201);
    const retry = await createChat(textBody('slow'), key);
    expect(retry).toMatchObject({ status: 201, body: done.body, replayed: 'true' });
    expect(await chatsOf()).toBe(1);
    expect(requestTurn.mock.calls.filter(([r]) => r.chatId === done.body.id)).toHaveLength(1);
  });

  it('a message retried while its turn is being requested is 409 at once, then replayed', async () => {
    const chat = await createChat(textBody('start'));
    await turnEnded(chat.body.id);
    const key = randomUUID();
    const path = `/chats/${chat.body.id}/messages`;
    const held = holdNextTurnRequest();
    // The first request now holds the chat's row lock inside its transaction.
    const first = send('POST', path, { key, body: textBody('held message') });
    await held.entered;

    const concurrent = await send('POST', path, { key, body: textBody('held message') });
    expect(concurrent.status).toBe(409);
    expect(concurrent.body.error.code).toBe('idempotency_key_in_progress');
    held.release();
    const done = await first;
    expect(done.status).toBe(200);
    const retry = await send('POST', path, { key, body: textBody('held message') });
    expect(retry).toMatchObject({ status: 200, body: done.body, replayed: 'true' });
    await turnEnded(chat.body.id);
    expect(await userMessages(chat.body.id)).toBe(2);
    expect(turnsRequestedFor(chat.body.id)).toBe(2);
  });

  it('a chat committed by a request that then died is replayed once its claim is stale, not created again', async () => {
    const key = randomUUID();
    const held = holdNextTurnRequest();
    const first = createChat(textBody('crash'), key);
    await held.entered;

    // The chat and its response committed together; the request has not finished.
    const row = await app.deps.db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('user_id', '=', user.id)
      .where('key', '=', key)
      .executeTakeFirstOrThrow();
    expect(row.response_status).toBe(201);
    expect(row.completed_at).toBeNull();
    // As if the process died a minute ago.
    await sql`update idempotency_keys set claimed_at = now() - interval '61 seconds'
              where user_id = ${user.id} and key = ${key}`.execute(app.deps.db);

    const retry = await createChat(textBody('crash'), key);
    expect(retry).toMatchObject({ status: 201, replayed: 'true' });
    expect(retry.body.id).toBe((row.response_body as { id: string }).id);
    held.release();
    expect((await first).body.id).toBe(retry.body.id);
    expect(await chatsOf()).toBe(1);
  });

  it('a stale claim without a response is taken over; a fresh one is 409, or 422 for another request', async () => {
    const body = textBody('again');
    const stale = randomUUID();
    const fresh = randomUUID();
    const freshOther = randomUUID();
    const same = requestFingerprint('POST', '/api/v1/chats', canonicalize(body)!);
    for (const [key, fingerprint, age] of [
      [stale, same, '61 seconds'],
      [fresh, same, '1 second'],
      [freshOther, '0'.repeat(64), '1 second'],
    ] as const) {
      await sql`insert into idempotency_keys
                  (user_id, key, request_method, request_path, fingerprint, claim_token, claimed_at)
                values (${user.id}, ${key}, 'POST', '/api/v1/chats', ${fingerprint}, ${randomUUID()},
                        now() - ${age}::interval)`.execute(app.deps.db);
    }
    const takeover = await createChat(body, stale);
    expect(takeover.status).toBe(201);
    expect(takeover.replayed).toBeNull();
    const running = await createChat(body, fresh);
    expect(running.status).toBe(409);
    expect(running.body.error.code).toBe('idempotency_key_in_progress');
    expect((await createChat(body, freshOther)).status).toBe(422);
    expect(await chatsOf()).toBe(1);
  });

  it('keys are per user', async () => {
    const other = await createTestUser(app);
    const key = randomUUID();
    const mine = await createChat(textBody('shared key'), key);
    const theirs = await createChat(textBody('shared key'), key, other.token);
    expect([mine.status, theirs.status]).toEqual([201, 201]);
    expect(theirs.replayed).toBeNull();
    expect(theirs.body.id).not.toBe(mine.body.id);
    expect(theirs.body.owner_id).toBe(other.id);
    expect([await chatsOf(), await chatsOf(other)]).toEqual([1, 1]);
  });

  it.each([
    ['empty', ''],
    ['an empty quoted string', '""'],
    ['longer than 255 characters', 'k'.repeat(256)],
    ['not ASCII', 'caf\u00e9'],
    ['a tab', 'a\tb'],
  ])('a key that is %s is 400 invalid_idempotency_key and creates nothing', async (_what, key) => {
    const res = await createChat(textBody('bad key'), key);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_idempotency_key');
    expect(await chatsOf()).toBe(0);
    expect(await keysOf()).toBe(0);
  });

  it('accepts 255 characters and the quoted form of a key as the same key', async () => {
    const key = `${randomUUID()}${'k'.repeat(219)}`;
    expect(key).toHaveLength(255);
    const first = await createChat(textBody('long key'), key);
    expect(first.status).toBe(201);
    const quoted = await createChat(textBody('long key'), `"${key}"`);
    expect(quoted).toMatchObject({ status: 201, body: first.body, replayed: 'true' });
  });

  it('an expired key runs the request again; expired rows are deleted', async () => {
    const key = randomUUID();
    const first = await createChat(textBody('expiring'), key);
    expect(first.status).toBe(201);
    const age = sql`update idempotency_keys set created_at = now() - interval '25 hours'
                    where user_id = ${user.id} and key = ${key}`;
    await age.execute(app.deps.db);

    const again = await createChat(textBody('expiring'), key);
    expect(again.status).toBe(201);
    expect(again.replayed).toBeNull();
    expect(again.body.id).not.toBe(first.body.id);
    expect(await chatsOf()).toBe(2);
    // The retaken key lives 24 h from now, so a retry replays the second chat.
    expect((await createChat(textBody('expiring'), key)).body.id).toBe(again.body.id);

    const live = randomUUID();
    expect((await createChat(textBody('live'), live)).status).toBe(201);
    await age.execute(app.deps.db);
    expect(await deleteExpiredIdempotencyKeys(app.deps.db)).toBeGreaterThanOrEqual(1);
    const left = await app.deps.db
      .selectFrom('idempotency_keys')
      .select('key')
      .where('user_id', '=', user.id)
      .execute();
    expect(left.map((r) => r.key)).toEqual([live]);
  });

  it('replays a 4xx the handler answered, even after the cause went away', async () => {
    const { provider_id } = await app.deps.db
      .selectFrom('chat_model_configs')
      .select('provider_id')
      .where('id', '=', app.modelConfigId)
      .executeTakeFirstOrThrow();
    const config = await app.request('POST', '/model-configs', {
      provider_id,
      model: 'fake-model',
      context_limit: 128_000,
      enabled: false,
    });
    expect(config.status).toBe(201);
    const body = { ...textBody('disabled model'), model_config_id: config.body.id };
    const key = randomUUID();
    const refused = await createChat(body, key);
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('model_config_not_found');

    expect((await app.request('PATCH', `/model-configs/${config.body.id}`, { enabled: true })).status).toBe(200);
    const retry = await createChat(body, key);
    expect(retry).toMatchObject({ status: 400, body: refused.body, replayed: 'true' });
    expect(await chatsOf()).toBe(0);
    // A new key runs the request, which now succeeds.
    expect((await createChat(body, randomUUID())).status).toBe(201);
  });

  it('stores nothing for a route validation failure or a 5xx: the retry runs', async () => {
    const key = randomUUID();
    const invalid = await createChat({ content: [] }, key);
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('validation_failed');
    expect(await keysOf()).toBe(0);

    requestTurn.mockRejectedValueOnce(new Error('Temporal is down'));
    const unavailable = await createChat(textBody('after an outage'), key);
    expect(unavailable.status).toBe(503);
    expect(await keysOf()).toBe(0);
    expect(await chatsOf()).toBe(0);

    const retry = await createChat(textBody('after an outage'), key);
    expect(retry.status).toBe(201);
    expect(retry.replayed).toBeNull();
    expect(await chatsOf()).toBe(1);
  });

  it('a request without the header stores no key', async () => {
    expect((await createChat(textBody('no key'))).status).toBe(201);
    expect((await upload(undefined)).status).toBe(201);
    expect(await keysOf()).toBe(0);
  });
});
