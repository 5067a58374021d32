/**
 * Web push end to end: a browser subscribes over HTTP, a real turn runs on Temporal with the fake
 * LLM, and the worker's push reaches a push service of our own (test/support/push-service.ts) that
 * verifies the VAPID signature and decrypts the aes128gcm payload with the subscription's private key
 * and auth secret, as the browser would. Proves the payload, which turn ends push and which do not,
 * the clean-up of subscriptions the service calls gone, and the subscription API's validation and
 * ownership rules.
 */
import { randomUUID } from 'node:crypto';
import { startTestApp, TEST_TITLE, textBody, type TestApp } from '../support/app';
import { FakePushService, type BrowserSubscription } from '../support/push-service';
import { SseClient } from '../support/sse';
import { createTestUser } from '../support/users';
import { waitUntil } from '../support/wait';
import { FakeLlmServer, type RecordedRequest } from '../../src/dev/fake-llm/server';
import { error, hang, text, toolCalls, type FakeStep } from '../../src/dev/fake-llm/script';
import { generateVapidKeyPair } from '../../src/push/keys';

const SUBJECT = 'mailto:push-ops@example.com';
const SUBTASK = 'SUBTASK: name three colours';

/** A long answer: the notification carries only its start. */
const ANSWER =
  'Here is the plan. First we read the failing test and the module it covers, then we reproduce the bug locally, ' +
  'and only then do we change any code.';

/** Sub-agent script (the queue is empty then): spawn → wait → answer; the child answers the subtask. */
function subagentScript(req: RecordedRequest): FakeStep {
  const body = JSON.stringify(req.body);
  if (body.includes(SUBTASK) && !body.includes('spawn_agent')) return text('red green blue');
  const child = /chat_id\\?"\s*:\s*\\?"([0-9a-f-]{36})/.exec(body)?.[1];
  if (!child) return toolCalls([{ id: 'call_spawn', name: 'spawn_agent', args: { prompt: SUBTASK } }]);
  if (!body.includes('red green blue'))
    return toolCalls([{ id: 'call_wait', name: 'wait_agent', args: { chat_id: child } }]);
  return text('The sub-agent named: red green blue.');
}

describe('web push', () => {
  const vapid = generateVapidKeyPair();
  let fake: FakeLlmServer;
  let pushService: FakePushService;
  let app: TestApp;
  let browser: BrowserSubscription;

  beforeAll(async () => {
    fake = await FakeLlmServer.start({ fallback: subagentScript });
    pushService = await FakePushService.start();
    app = await startTestApp({
      fake,
      env: {
        CHATD_VAPID_PUBLIC_KEY: vapid.publicKey,
        CHATD_VAPID_PRIVATE_KEY: vapid.privateKey,
        CHATD_VAPID_SUBJECT: SUBJECT,
      },
    });
    browser = pushService.newSubscription();
    const res = await app.request('POST', '/push/subscriptions', browser.json);
    expect(res.status).toBe(201);
  });

  afterAll(async () => {
    await app?.stop();
    await pushService?.close();
    await fake?.close();
  });

  const subscriptionRows = (endpoint?: string) => {
    let query = app.deps.db.selectFrom('push_subscriptions').selectAll();
    if (endpoint) query = query.where('endpoint', '=', endpoint);
    return query.execute();
  };

  async function startChat(prompt: string): Promise<string> {
    const created = await app.request('POST', '/chats', textBody(prompt));
    expect(created.status).toBe(201);
    return created.body.id;
  }

  async function finishedChat(prompt: string, answer: string): Promise<string> {
    fake.enqueue(text(answer));
    const chatId = await startChat(prompt);
    await app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`).result();
    return chatId;
  }

  /**
   * Runs one more turn and waits for its push. Pushes start in order of the turns' ends and take
   * the same path, so once this one arrived, a push an earlier turn had wrongly started has too.
   */
  async function waitForLaterPush(): Promise<void> {
    const marker = await finishedChat('Marker turn', 'marker answer');
    await pushService.waitFor((p) => p.payload.chat_id === marker && p.subscriptionId === browser.id, 'the marker');
  }

  describe('GET /push/vapid-public-key', () => {
    it('returns the configured public key for browsers to subscribe with', async () => {
      const res = await app.request('GET', '/push/vapid-public-key');
      expect(res).toEqual({ status: 200, body: { public_key: vapid.publicKey } });
    });
  });

  describe('when a root chat’s turn ends', () => {
    it('pushes the title and the start of the answer, encrypted to the subscription and signed with VAPID', async () => {
      fake.enqueue(text(ANSWER));
      const chatId = await startChat('Please fix the flaky test');

      const push = await pushService.waitFor((p) => p.payload.chat_id === chatId && p.subscriptionId === browser.id);
      expect(push.payload).toEqual({
        chat_id: chatId,
        title: TEST_TITLE,
        body: expect.stringMatching(/^Here is the plan\. First we read the failing test .*…$/),
        status: 'waiting',
      });
      expect(Array.from(push.payload.body as string).length).toBeLessThanOrEqual(120);
      expect(ANSWER.startsWith((push.payload.body as string).slice(0, -1))).toBe(true);
      // Signed with chatd's key for this push service, naming the operator's contact.
      expect(push.vapidKey).toBe(vapid.publicKey);
      expect(push.claims).toMatchObject({ aud: pushService.origin, sub: SUBJECT });
      // One topic per chat: an offline browser gets only the chat's latest notification.
      expect(push.headers.topic).toBe(chatId.replace(/-/g, ''));
      expect(pushService.rejected).toEqual([]);
    });

    it('pushes status error with the error message when the turn fails', async () => {
      fake.enqueue(error(401));
      const chatId = await startChat('This turn will fail');
      const push = await pushService.waitFor((p) => p.payload.chat_id === chatId && p.subscriptionId === browser.id);
      const chat = await app.request('GET', `/chats/${chatId}`);
      expect(chat.body.status).toBe('error');
      expect(push.payload).toMatchObject({ chat_id: chatId, status: 'error' });
      expect(push.payload.body).not.toBe('');
      expect(String(chat.body.last_error).startsWith(String(push.payload.body).replace(/…$/, ''))).toBe(true);
    });

    it('does not push when the user interrupts the turn', async () => {
      fake.enqueue(hang({ afterText: 'Thinking about it' }));
      const chatId = await startChat('Interrupt me');
      const stream = SseClient.open(`${app.url}/api/v1/chats/${chatId}/stream`, app.token);
      await stream.waitFor((e) => e.event === 'message_part');
      stream.close();
      expect((await app.request('POST', `/chats/${chatId}/interrupt`)).status).toBe(200);
      const result = await app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`).result();
      expect(result.outcome).toBe('interrupted');

      await waitForLaterPush();
      expect(pushService.received.filter((p) => p.payload.chat_id === chatId)).toEqual([]);
    });

    it('does not push for a chat archived while its turn ran', async () => {
      fake.enqueue(hang({ afterText: 'Still going' }));
      const chatId = await startChat('Archive me');
      const stream = SseClient.open(`${app.url}/api/v1/chats/${chatId}/stream`, app.token);
      await stream.waitFor((e) => e.event === 'message_part');
      stream.close();
      expect((await app.request('PATCH', `/chats/${chatId}`, { archived: true })).body.archived).toBe(true);
      await app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`).result();

      await waitForLaterPush();
      expect(pushService.received.filter((p) => p.payload.chat_id === chatId)).toEqual([]);
    });

    it('pushes for the root chat only, not for its sub-agent', async () => {
      const parentId = await startChat('Delegate the colours');
      const push = await pushService.waitFor(
        (p) => p.payload.chat_id === parentId && p.subscriptionId === browser.id,
        'the parent chat’s push',
        60_000,
      );
      expect(push.payload.body).toBe('The sub-agent named: red green blue.');
      const child = await app.deps.db
        .selectFrom('chats')
        .select(['id', 'status'])
        .where('parent_chat_id', '=', parentId)
        .executeTakeFirstOrThrow();
      // The child's turn ended (status waiting) before the parent's answer, so its push would be here.
      expect(child.status).toBe('waiting');
      expect(pushService.received.filter((p) => p.payload.chat_id === child.id)).toEqual([]);
    });

    it('deletes a subscription the push service answers 410 Gone, and keeps the others', async () => {
      const gone = pushService.newSubscription();
      expect((await app.request('POST', '/push/subscriptions', gone.json)).status).toBe(201);
      pushService.answer(gone.id, 410);

      const chatId = await finishedChat('Who is listening?', 'Everyone still subscribed.');
      await pushService.waitFor((p) => p.payload.chat_id === chatId && p.subscriptionId === gone.id);
      await waitUntil(async () => (await subscriptionRows(gone.json.endpoint)).length === 0, 15_000, 'the deletion');
      expect(await subscriptionRows(browser.json.endpoint)).toHaveLength(1);
    });
  });

  describe('POST /push/subscriptions', () => {
    it('stores a subscription again under the same id, with the new keys', async () => {
      const sub = pushService.newSubscription();
      const first = await app.request('POST', '/push/subscriptions', sub.json);
      expect(first.status).toBe(201);
      expect(first.body).toMatchObject({ endpoint: sub.json.endpoint, expiration_time: null });
      const renewed = pushService.newSubscription();
      const again = await app.request('POST', '/push/subscriptions', {
        ...sub.json,
        expirationTime: Date.parse('2030-01-01T00:00:00Z'),
        keys: renewed.json.keys,
      });
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ id: first.body.id, expiration_time: '2030-01-01T00:00:00.000Z' });
      const [row] = await subscriptionRows(sub.json.endpoint);
      expect(row).toMatchObject({ p256dh: renewed.json.keys.p256dh, auth: renewed.json.keys.auth });
    });

    it('rejects invalid subscriptions with 400 and stores nothing', async () => {
      const valid = pushService.newSubscription().json;
      const offCurve = Buffer.alloc(65, 7);
      offCurve[0] = 4;
      const invalid: Array<[string, unknown]> = [
        ['an http endpoint', { ...valid, endpoint: valid.endpoint.replace('https:', 'http:') }],
        ['a relative endpoint', { ...valid, endpoint: '/push/x' }],
        ['credentials in the endpoint', { ...valid, endpoint: valid.endpoint.replace('https://', 'https://u:p@') }],
        ['an overlong endpoint', { ...valid, endpoint: `${valid.endpoint}?${'a'.repeat(2100)}` }],
        ['no keys', { endpoint: valid.endpoint }],
        ['a short p256dh', { ...valid, keys: { ...valid.keys, p256dh: valid.keys.p256dh.slice(0, 60) } }],
        ['a p256dh off the curve', { ...valid, keys: { ...valid.keys, p256dh: offCurve.toString('base64url') } }],
        [
          'a p256dh outside base64url',
          { ...valid, keys: { ...valid.keys, p256dh: `${valid.keys.p256dh.slice(0, -1)}+` } },
        ],
        ['an auth of 15 bytes', { ...valid, keys: { ...valid.keys, auth: Buffer.alloc(15, 1).toString('base64url') } }],
        ['an auth of 17 bytes', { ...valid, keys: { ...valid.keys, auth: Buffer.alloc(17, 1).toString('base64url') } }],
        ['an unknown field', { ...valid, extra: true }],
        ['an unknown key field', { ...valid, keys: { ...valid.keys, extra: 'x' } }],
        ['a string expirationTime', { ...valid, expirationTime: 'soon' }],
      ];
      const before = (await subscriptionRows()).length;
      for (const [what, body] of invalid) {
        const res = await app.request('POST', '/push/subscriptions', body);
        expect({ what, status: res.status, code: res.body.error.code }).toEqual({
          what,
          status: 400,
          code: 'validation_failed',
        });
      }
      expect(await subscriptionRows()).toHaveLength(before);
      expect(await subscriptionRows(valid.endpoint)).toEqual([]);
    });

    it('keeps at most 20 subscriptions per user, dropping the least recently stored', async () => {
      const user = await createTestUser(app);
      const subs = Array.from({ length: 21 }, () => pushService.newSubscription());
      for (const sub of subs) {
        expect((await app.request('POST', '/push/subscriptions', sub.json, user.token)).status).toBe(201);
      }
      const rows = await app.deps.db
        .selectFrom('push_subscriptions')
        .select('endpoint')
        .where('user_id', '=', user.id)
        .execute();
      expect(rows).toHaveLength(20);
      expect(rows.map((r) => r.endpoint)).not.toContain(subs[0]!.json.endpoint);
    });
  });

  describe('DELETE /push/subscriptions', () => {
    it('lets only the owner delete a subscription, by id or by endpoint', async () => {
      const owner = await createTestUser(app);
      const other = await createTestUser(app);
      const sub = pushService.newSubscription();
      const created = await app.request('POST', '/push/subscriptions', sub.json, owner.token);
      const byEndpoint = `/push/subscriptions?endpoint=${encodeURIComponent(sub.json.endpoint)}`;

      const notYours = await app.request('DELETE', `/push/subscriptions/${created.body.id}`, undefined, other.token);
      expect(notYours.status).toBe(404);
      expect(notYours.body.error.code).toBe('push_subscription_not_found');
      expect((await app.request('DELETE', byEndpoint, undefined, other.token)).status).toBe(404);
      expect(await subscriptionRows(sub.json.endpoint)).toHaveLength(1);

      expect((await app.request('DELETE', byEndpoint, undefined, owner.token)).status).toBe(204);
      expect(await subscriptionRows(sub.json.endpoint)).toEqual([]);
      const again = await app.request('DELETE', `/push/subscriptions/${created.body.id}`, undefined, owner.token);
      expect(again.status).toBe(404);
    });

    it('deletes by id', async () => {
      const sub = pushService.newSubscription();
      const created = await app.request('POST', '/push/subscriptions', sub.json);
      expect((await app.request('DELETE', `/push/subscriptions/${created.body.id}`)).status).toBe(204);
      expect(await subscriptionRows(sub.json.endpoint)).toEqual([]);
    });
  });

  describe('without VAPID keys', () => {
    let plain: TestApp;

    beforeAll(async () => {
      plain = await startTestApp({
        fake,
        database: app.database,
        taskQueue: app.taskQueue,
        roles: { api: true, worker: false },
      });
    });

    afterAll(async () => {
      await plain?.stop();
    });

    it('answers 501 push_disabled for the key and for subscribing, and stores nothing', async () => {
      const key = await plain.request('GET', '/push/vapid-public-key');
      expect(key.status).toBe(501);
      expect(key.body.error.code).toBe('push_disabled');
      const sub = pushService.newSubscription();
      const res = await plain.request('POST', '/push/subscriptions', sub.json);
      expect(res.status).toBe(501);
      expect(res.body.error.code).toBe('push_disabled');
      expect(await subscriptionRows(sub.json.endpoint)).toEqual([]);
    });

    it('still lets a user delete a subscription', async () => {
      const sub = pushService.newSubscription();
      const created = await app.request('POST', '/push/subscriptions', sub.json);
      expect((await plain.request('DELETE', `/push/subscriptions/${created.body.id}`)).status).toBe(204);
      expect((await plain.request('DELETE', `/push/subscriptions/${randomUUID()}`)).status).toBe(404);
    });
  });
});
