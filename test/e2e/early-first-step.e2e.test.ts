/**
 * The early first step over HTTP and SSE on real Temporal and PostgreSQL (docs/architecture.md "Early
 * first step"). In a process running the API and the worker, the turn of a message sent to an idle
 * chat asks the provider once, before the workflow's first model step activity starts; that activity
 * runs on the process's own task queue and stores the streamed answer. A new chat's first turn (it
 * also generates the title), an API-only process and CHATD_EARLY_FIRST_STEP=false keep the first step
 * on the shared queue.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { startTestApp, turnRequests, type TestApp } from '../support/app';
import { captureHistory } from '../support/temporal';
import { SseClient } from '../support/sse';
import { waitUntil } from '../support/wait';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { text } from '../../src/dev/fake-llm/script';
import { createTestDatabase, type TestDatabase } from '../support/db';

/** The task queue of each runModelStep the run scheduled, and when the first of them started. */
async function modelSteps(handle: WorkflowHandle): Promise<{ queues: string[]; firstStartedAt: number }> {
  const { events } = await handle.fetchHistory();
  const queues = events!
    .map((e) => e.activityTaskScheduledEventAttributes)
    .filter((a) => a?.activityType?.name === 'runModelStep')
    .map((a) => a!.taskQueue!.name!);
  const started = events!.find((e) => e.activityTaskStartedEventAttributes)!;
  const at = started.eventTime!;
  return { queues, firstStartedAt: Number(at.seconds) * 1000 + Math.floor((at.nanos ?? 0) / 1e6) };
}

describe('the early first step', () => {
  let fake: FakeLlmServer;
  let app: TestApp;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  beforeEach(() => fake.reset());

  it('asks the provider once, before the first step activity starts, for a sent message (not a new chat)', async () => {
    fake.enqueue(text('First answer.'), text('Second answer.'));
    const created = await app.request('POST', '/chats', { content: [{ type: 'text', text: 'One' }] });
    expect(created.status).toBe(201);
    const chatId: string = created.body.id;
    const stream = SseClient.open(`${app.url}/api/v1/chats/${chatId}/stream`, app.token);
    await stream.waitFor((e) => e.event === 'message' && e.data.message.role === 'assistant');
    await stream.waitFor((e) => e.event === 'status' && e.data.status === 'waiting');
    const handle = app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`);
    await handle.result();
    expect((await modelSteps(handle)).queues).toEqual([app.taskQueue]);

    const sent = await app.request('POST', `/chats/${chatId}/messages`, { content: [{ type: 'text', text: 'Two' }] });
    expect(sent.status).toBe(200);
    await stream.waitFor(
      (e) => e.event === 'message' && e.data.message.role === 'assistant' && JSON.stringify(e.data).includes('Second'),
    );
    const waiting = () => stream.events.filter((e) => e.event === 'status' && e.data.status === 'waiting').length;
    await waitUntil(() => waiting() === 2, 15_000, 'the second turn to end');
    stream.close();
    const latest = app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`);
    expect(await latest.result()).toEqual({ outcome: 'completed', steps: 1 });
    const second = await modelSteps(latest);
    expect(second.queues).toEqual([expect.stringMatching(/^chatd-early-/)]);
    expect(turnRequests(fake)[1]!.receivedAt).toBeLessThan(second.firstStartedAt);

    // Each turn asked once, streamed its answer, stored it once, and clients were never told to drop it.
    expect(turnRequests(fake)).toHaveLength(2);
    const types = stream.events.map((e) => e.event);
    expect(types).not.toContain('retry');
    const streamed = stream.events
      .filter((e) => e.event === 'message_part')
      .map((e) => e.data.part.text as string)
      .join('');
    expect(streamed).toBe('First answer.Second answer.');
    const messages = await app.request('GET', `/chats/${chatId}/messages`);
    expect(messages.body.messages.map((m: { role: string }) => m.role)).toEqual([
      'user',
      'assistant',
      'user',
      'assistant',
    ]);
    await captureHistory(latest, 'chat-workflow.early-first-step');
  });

  describe('elsewhere', () => {
    let database: TestDatabase;
    const apps: TestApp[] = [];

    beforeAll(async () => {
      database = await createTestDatabase();
    });

    afterAll(async () => {
      for (const a of apps) await a.stop();
      await database?.drop();
    });

    it('runs the first step on the shared queue from an API-only process and with the setting off', async () => {
      const worker = await startTestApp({ fake, database, roles: { api: false, worker: true } });
      apps.push(worker);
      const apiOnly = await startTestApp({
        fake,
        database,
        roles: { api: true, worker: false },
        taskQueue: worker.taskQueue,
      });
      apps.push(apiOnly);
      const off = await startTestApp({ fake, database, env: { CHATD_EARLY_FIRST_STEP: 'false' } });
      apps.push(off);
      for (const target of [apiOnly, off]) {
        fake.enqueue(text('Answer.'), text('Another.'));
        const created = await target.request('POST', '/chats', { content: [{ type: 'text', text: 'Hi' }] });
        expect(created.status).toBe(201);
        const chatId: string = created.body.id;
        await target.deps.temporal.client.workflow.getHandle(`chat-${chatId}`).result();
        const sent = await target.request('POST', `/chats/${chatId}/messages`, {
          content: [{ type: 'text', text: 'More' }],
        });
        expect(sent.status).toBe(200);
        await waitUntil(async () => (await target.request('GET', `/chats/${chatId}`)).body.status === 'waiting');
        const handle = target.deps.temporal.client.workflow.getHandle(`chat-${chatId}`);
        await handle.result();
        expect((await modelSteps(handle)).queues).toEqual([target.taskQueue]);
      }
    });
  });
});
