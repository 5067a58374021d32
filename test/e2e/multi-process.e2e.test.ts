/**
 * chatd as separate processes (`CHATD_STREAM_BUS=postgres`): the API and the worker each have
 * their own PgStreamBus on one database and one task queue, as `chatd api` and `chatd worker` do.
 * A client streaming from an API process sees what a worker produces (also the in-flight partial
 * when it connects late); an interrupt on one API process reaches streams on another and the
 * worker; clients resume with Last-Event-ID after their API process is stopped, a burst of them
 * each getting the in-flight partial exactly once; a config change made through an API process
 * reaches the worker's next turn; and a turn whose worker is killed with SIGKILL completes on
 * another worker, its message persisted once.
 */
import { randomUUID } from 'node:crypto';
import {
  pgBus,
  startTestApp,
  startWorkerProcess,
  textBody,
  turnRequests,
  waitForChat,
  type TestApp,
  type WorkerProcess,
} from '../support/app';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { hang, text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { EventSourceProcess, isAssistant, isStatus, partsText, SseClient, textOf } from '../support/sse';

const EVENT_TYPES = ['status', 'message_part', 'message', 'queue_update', 'retry', 'error', 'history_truncated'];

describe('separate API and worker processes', () => {
  let fake: FakeLlmServer;
  let database: TestDatabase;
  let taskQueue: string;
  const apps: TestApp[] = [];
  let child: WorkerProcess | undefined;

  beforeEach(async () => {
    fake = await FakeLlmServer.start();
    database = await createTestDatabase();
    taskQueue = `chatd-test-${randomUUID()}`;
  });

  afterEach(async () => {
    await child?.kill();
    child = undefined;
    for (const app of apps.splice(0).reverse()) await app.stop();
    await database?.drop();
    await fake?.close();
  });

  /** An API-only process with its own PostgreSQL stream bus. */
  async function startApiProcess(port?: number): Promise<TestApp> {
    const app = await startTestApp({
      fake,
      database,
      taskQueue,
      port,
      roles: { api: true, worker: false },
      bus: pgBus(database),
    });
    apps.push(app);
    return app;
  }

  /** A worker-only process (in this Node process) with its own PostgreSQL stream bus. */
  async function startWorkerRole(): Promise<TestApp> {
    const app = await startTestApp({
      fake,
      database,
      taskQueue,
      roles: { api: false, worker: true },
      bus: pgBus(database),
    });
    apps.push(app);
    return app;
  }

  async function dbMessages(api: TestApp, chatId: string): Promise<any[]> {
    return (await api.request('GET', `/chats/${chatId}/messages?limit=200`)).body.messages;
  }

  it('streams the worker’s tokens to a client of the API, with the in-flight partial for a late client', async () => {
    const api = await startApiProcess();
    fake.enqueue(text('A complete answer from the worker process.', { tokensPerSecond: 100 }));
    const created = await api.request('POST', '/chats', textBody('First'));
    const chatId: string = created.body.id;
    const early = SseClient.open(`${api.url}/api/v1/chats/${chatId}/stream`, api.token);
    await early.waitFor((e) => e.event === 'queue_update');
    // The worker starts once the client listens, so it sees every delta.
    await startWorkerRole();
    const answer = await early.waitFor(isAssistant());
    expect(textOf(answer.data.message)).toBe('A complete answer from the worker process.');
    expect(partsText(early.events)).toBe('A complete answer from the worker process.');
    await early.waitFor(isStatus('waiting'));

    // A step that stays in flight: a client connecting now gets its partial from the worker.
    fake.enqueue(hang({ afterText: 'Still streaming on the worker' }));
    await api.request('POST', `/chats/${chatId}/messages`, textBody('Second'));
    await early.waitForParts('Still streaming on the worker', early.events.indexOf(answer) + 1);
    const late = SseClient.open(`${api.url}/api/v1/chats/${chatId}/stream`, api.token);
    await late.waitFor((e) => e.event === 'queue_update');
    expect(late.events[0]!.data.status).toBe('running');
    expect(partsText(late.events)).toBe('Still streaming on the worker');

    await api.request('POST', `/chats/${chatId}/interrupt`);
    await late.waitFor(isAssistant('Still streaming on the worker'));
    early.close();
    late.close();
    const ids = late.events.filter((e) => e.event === 'message').map((e) => e.data.message.id);
    expect(ids).toEqual((await dbMessages(api, chatId)).map((m) => m.id));
  });

  it('carries an interrupt sent to one API process to streams on another and to the worker', async () => {
    const apiA = await startApiProcess();
    const apiB = await startApiProcess();
    await startWorkerRole();
    fake.enqueue(hang({ afterText: 'Working' }));
    const chatId: string = (await apiA.request('POST', '/chats', textBody('Long job'))).body.id;
    const onB = SseClient.open(`${apiB.url}/api/v1/chats/${chatId}/stream`, apiB.token);
    await onB.waitFor((e) => e.event === 'message_part');

    const res = await apiA.request('POST', `/chats/${chatId}/interrupt`);
    expect(res.body.status).toBe('waiting');
    await onB.waitFor(isStatus('waiting'));
    await onB.waitFor(isAssistant('Working'));
    onB.close();
    // The worker stopped the provider call.
    expect(turnRequests(fake)[0]!.aborted).toBe(true);
  });

  it('lets an EventSource client resume with Last-Event-ID after its API process stops', async () => {
    const first = await startApiProcess();
    await startWorkerRole();
    const port = Number(new URL(first.url).port);
    fake.enqueue(text('Answer before the restart.'));
    const chatId: string = (await first.request('POST', '/chats', textBody('Before'))).body.id;
    await waitForChat(first, chatId, (c) => c.status === 'waiting');
    fake.enqueue(hang({ afterText: 'In flight across the restart' }));
    await first.request('POST', `/chats/${chatId}/messages`, textBody('During'));

    // Authorization through EventSource's fetch option; Last-Event-ID is EventSource's own doing.
    const source = EventSourceProcess.open(`${first.url}/api/v1/chats/${chatId}/stream`, EVENT_TYPES, first.token);
    try {
      await source.waitForParts('In flight across the restart');
      await source.waitFor((e) => e.event === 'queue_update');
      const before = source.events.length;

      await first.stop();
      apps.splice(apps.indexOf(first), 1);
      const second = await startApiProcess(port);
      await source.waitForOpens(2, 60_000);
      // The reconnect's snapshot: no message again, the partial again (drop the one held), the queue.
      await source.waitFor((e) => e.event === 'queue_update', 30_000, before);
      const resumed = source.events.slice(before);
      expect(resumed[0]!.event).toBe('status');
      expect(resumed.filter((e) => e.event === 'message')).toEqual([]);
      expect(partsText(resumed)).toBe('In flight across the restart');

      await second.request('POST', `/chats/${chatId}/interrupt`);
      await source.waitFor(isAssistant('In flight across the restart'), 30_000, before);
      const ids = source.events.filter((e) => e.event === 'message').map((e) => e.data.message.id);
      expect(ids).toEqual((await dbMessages(second, chatId)).map((m) => m.id));
      const eventIds = source.events.map((e) => Number(e.id));
      expect(eventIds.every((id, i) => i === 0 || id > eventIds[i - 1]!)).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('gives each of a burst of clients resuming on a restarted API process the in-flight partial once, then the rest', async () => {
    const first = await startApiProcess();
    await startWorkerRole();
    const port = Number(new URL(first.url).port);
    fake.enqueue(text('Answer before the restart.'));
    const chatId: string = (await first.request('POST', '/chats', textBody('Before'))).body.id;
    await waitForChat(first, chatId, (c) => c.status === 'waiting');
    const answer = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    fake.enqueue(text(answer, { tokensPerSecond: 20 }));
    await first.request('POST', `/chats/${chatId}/messages`, textBody('During'));
    const url = `${first.url}/api/v1/chats/${chatId}/stream`;
    const before = Array.from({ length: 20 }, () => SseClient.open(url, first.token));
    await Promise.all(before.map((client) => client.waitFor((e) => e.event === 'message_part')));

    await first.stop();
    apps.splice(apps.indexOf(first), 1);
    for (const client of before) client.close();
    const second = await startApiProcess(port);
    // All at once, each from the last event it saw, as EventSource does.
    const resumed = before.map((client) => SseClient.open(url, second.token, { 'Last-Event-ID': client.lastEventId! }));
    const messages = await Promise.all(resumed.map((client) => client.waitFor(isAssistant(answer))));
    for (const client of resumed) {
      client.close();
      // The partial, then the live deltas: the whole answer, each delta once, and no message again.
      expect(partsText(client.events)).toBe(answer);
      expect(client.events.filter((e) => e.event === 'message')).toHaveLength(1);
    }
    expect(new Set(messages.map((m) => m.data.message.id)).size).toBe(1);
  });

  it('completes a turn on another worker after its worker process is killed, persisting the answer once', async () => {
    const api = await startApiProcess();
    child = await startWorkerProcess({ database, taskQueue });
    fake.enqueue(hang({ afterText: 'Half an' }), text('The whole answer.'));
    const chatId: string = (await api.request('POST', '/chats', textBody('Survive a crash'))).body.id;
    const stream = SseClient.open(`${api.url}/api/v1/chats/${chatId}/stream`, api.token);
    await stream.waitForParts('Half an');

    await child.kill();
    child = undefined;
    await startWorkerRole();
    // The step's heartbeat times out and Temporal retries it on the new worker.
    await stream.waitFor(isAssistant('The whole answer.'), 80_000);
    await stream.waitFor(isStatus('waiting'), 90_000);
    stream.close();

    const messages = await dbMessages(api, chatId);
    expect(messages.map((m) => `${m.role}:${textOf(m)}`)).toEqual([
      'user:Survive a crash',
      'assistant:The whole answer.',
    ]);
    expect(stream.events.filter(isAssistant())).toHaveLength(1);
    expect(turnRequests(fake)).toHaveLength(2);
  }, 240_000);

  /**
   * The worker caches the config rows it reads; the API process's writes move the config
   * generation, which the worker reads with each step, so the very next turn applies them.
   */
  it('applies config changes made through an API process to the next turn on a worker', async () => {
    const api = await startApiProcess();
    await startWorkerRole();
    fake.enqueue(text('First answer.'));
    const chatId: string = (await api.request('POST', '/chats', textBody('One'))).body.id;
    await waitForChat(api, chatId, (c) => c.status === 'waiting');

    await api.request('PUT', '/config/system-prompt', { system_prompt: 'Prompt set on the API process.' });
    const patched = await api.request('PATCH', `/model-configs/${api.modelConfigId}`, { model: 'renamed-model' });
    expect(patched.status).toBe(200);
    fake.enqueue(text('Second answer.'));
    await api.request('POST', `/chats/${chatId}/messages`, textBody('Two'));
    await waitForChat(api, chatId, (c) => c.status === 'waiting');

    const renamed = turnRequests(fake, 'renamed-model');
    expect(renamed).toHaveLength(1);
    expect(JSON.stringify(renamed[0]!.body)).toContain('Prompt set on the API process.');
    expect(JSON.stringify(turnRequests(fake)[0]!.body)).not.toContain('Prompt set on the API process.');
  });

  /** A graceful worker shutdown is not an interrupt: the step is retried on another worker. */
  it('hands a step to another worker when its worker shuts down mid-stream, persisting the answer once', async () => {
    const api = await startApiProcess();
    const first = await startWorkerRole();
    fake.enqueue(hang({ afterText: 'Half an' }), text('The whole answer.'));
    const chatId: string = (await api.request('POST', '/chats', textBody('Survive a deploy'))).body.id;
    const stream = SseClient.open(`${api.url}/api/v1/chats/${chatId}/stream`, api.token);
    await stream.waitForParts('Half an');

    const stopping = first.stop();
    apps.splice(apps.indexOf(first), 1);
    await startWorkerRole();
    await stopping;
    await stream.waitFor((e) => isAssistant('The whole answer.')(e) || isStatus('error')(e), 80_000);
    stream.close();
    expect(stream.events.some(isStatus('error'))).toBe(false);
    const messages = await dbMessages(api, chatId);
    expect(messages.map((m) => `${m.role}:${textOf(m)}`)).toEqual([
      'user:Survive a deploy',
      'assistant:The whole answer.',
    ]);
  }, 120_000);
});
