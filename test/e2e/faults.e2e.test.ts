/**
 * Fault injection at small scale: `chatd api` and `chatd worker` as separate processes on a
 * PostgreSQL and a Temporal dev server of the test's own (test/support/fault-stack.ts), while
 * several chats stream a paced answer to SSE clients. PostgreSQL restarts; the Temporal dev server
 * restarts (with a turn requested while it is down). Afterwards every turn has finished, each
 * committed assistant message exists exactly once, both processes are still up, and every client,
 * resuming with Last-Event-ID where its stream broke, got exactly the committed messages and
 * streamed each answer it saw live without a gap or a duplicate. A model step whose message was
 * committed while Temporal was down is retried without calling the model again.
 */
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { Client } from 'pg';
import { chatWorkflowId } from '../../src/temporal/workflow-ids';
import { lastUserText } from '../../src/dev/fake-llm/request';
import { text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { FaultStack } from '../support/fault-stack';
import { clientView, ResumingSseClient, type ResumedEvent } from '../support/resuming-sse';
import { textBody } from '../support/app';
import { partsText, textOf } from '../support/sse';
import { waitUntil } from '../support/wait';

const TOKENS_PER_SECOND = 10;
/**
 * Answers that must outlast a PostgreSQL restart stream for twelve seconds; the others for two: they
 * end while the fault lasts (the point of the short one in the PostgreSQL test), or they just keep
 * the test short.
 */
const LONG_ANSWERS = new Set(['Alpha', 'Bravo']);

/** Numbered tokens, so a lost or repeated delta shows in the failure diff. */
const answerTo = (question: string): string => {
  const tokens = LONG_ANSWERS.has(question) ? 120 : 20;
  return `${question} answered:${Array.from({ length: tokens }, (_, i) => ` t${i + 1}`).join('')}`;
};

describe('fault injection', () => {
  let fake: FakeLlmServer;
  let stack: FaultStack | undefined;
  const clients: ResumingSseClient[] = [];

  beforeEach(async () => {
    fake = await FakeLlmServer.start();
    fake.respondTo('fake-model', (req) => text(answerTo(lastUserText(req)), { tokensPerSecond: TOKENS_PER_SECOND }));
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await stack?.stop();
    stack = undefined;
    await fake.close();
  });

  function follow(chatId: string): ResumingSseClient {
    const client = new ResumingSseClient(stack!.streamUrl(chatId), stack!.token);
    clients.push(client);
    return client;
  }

  async function createChat(question: string): Promise<string> {
    const res = await stack!.request('POST', '/chats', textBody(question));
    if (res.status !== 201) throw new Error(`POST /chats: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.id;
  }

  /** Resolves once the client got the title and at least `tokens` tokens of the answer now streaming. */
  const streaming = (client: ResumingSseClient, tokens: number): Promise<void> =>
    client.waitFor(
      (events) => events.some((e) => e.event === 'title_change') && partsText(events).includes(` t${tokens} `),
      `the title and ${tokens} streamed tokens`,
    );

  /**
   * Resolves once the client holds `count` assistant messages and the chat's latest status is
   * `waiting` (or `error`, which the assertions then report). A reconnect's snapshot sends the
   * status before the messages.
   */
  async function turnsFinished(client: ResumingSseClient, count: number): Promise<void> {
    const ended = (events: ResumedEvent[]): boolean => {
      const status = events.findLast((e) => e.event === 'status')?.data.status;
      const answers = events.filter((e) => e.event === 'message' && e.data.message.role === 'assistant');
      return status === 'error' || (status === 'waiting' && answers.length >= count);
    };
    await client.waitFor(ended, `${count} finished turn(s)`, 90_000).catch((err: Error) => {
      throw new Error(`${err.message}\n\n${stack!.describe()}`);
    });
  }

  /**
   * The committed messages of a chat are the questions and their answers, each exactly once; the
   * client got exactly those messages, in order, with ascending event ids across its reconnects,
   * and every answer it received live it had streamed whole.
   */
  async function expectConsistent(chatId: string, questions: string[], client: ResumingSseClient): Promise<void> {
    const listed = (await stack!.request('GET', `/chats/${chatId}/messages?limit=200`)).body.messages as any[];
    expect(listed.map((m) => `${m.role}:${textOf(m)}`)).toEqual(
      questions.flatMap((q) => [`user:${q}`, `assistant:${answerTo(q)}`]),
    );
    // The model-only workspace note written at creation is not listed: only user-visible rows count.
    const stored = await stack!.query<{ id: number }>(
      "SELECT id FROM chat_messages WHERE chat_id = $1 AND visibility <> 'model' ORDER BY id",
      [chatId],
    );
    expect(stored.map((r) => r.id)).toEqual(listed.map((m) => m.id));

    const view = clientView(client.events);
    expect({ chatId, messageIds: view.messageIds, idsAscending: view.idsAscending }).toEqual({
      chatId,
      messageIds: listed.map((m) => m.id),
      idsAscending: true,
    });
    for (const answer of view.live) expect(answer.streamed).toBe(answer.committed);
  }

  function expectProcessesUp(): void {
    if (!stack!.api.alive || !stack!.worker.alive) throw new Error(`a chatd process died:\n${stack!.describe()}`);
  }

  /**
   * Holds the chat's row lock on a connection of the test's own, so the write that ends the chat's
   * model step waits, and resolves once the worker's write is waiting for it: PostgreSQL then goes
   * away under a statement in flight, as it does under a busy worker. Returns the locker's connection
   * (rolling it back releases the write).
   */
  async function holdStepWrite(chatId: string): Promise<Client> {
    const locker = new Client({ connectionString: stack!.databaseUrl, application_name: 'faults-test-locker' });
    // The restart cuts this connection too; that is the point, not an error.
    locker.on('error', () => undefined);
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM chats WHERE id = $1 FOR UPDATE', [chatId]);
    await waitUntil(
      async () =>
        (
          await stack!.query(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'chatd-worker' AND wait_event_type = 'Lock'",
          )
        ).length > 0,
      30_000,
      "the worker's write of the finished step to wait for the chat's row lock",
    );
    return locker;
  }

  it('finishes every turn across a PostgreSQL restart; clients resume from their cursor without a gap', async () => {
    stack = await FaultStack.start(fake);
    const questions = ['Alpha', 'Bravo', 'Charlie'];
    const chatIds = await Promise.all(questions.map(createChat));
    const followers = chatIds.map(follow);
    await Promise.all(followers.map((client) => streaming(client, 5)));
    // Charlie's short answer ends now; its write is in flight when PostgreSQL stops. The others stream on.
    await holdStepWrite(chatIds[2]!);

    await stack.stopPostgres();
    // Every client also loses its connection now, and resumes from its Last-Event-ID against an API
    // without a database: refused with 503 (an outage, not a server bug) until PostgreSQL is back.
    for (const client of followers) client.reconnect();
    await Promise.all(
      followers.map((client) => waitUntil(() => client.statuses.includes(503), 30_000, 'a reconnect refused with 503')),
    );
    await stack.startPostgres();

    await Promise.all(followers.map((client) => turnsFinished(client, 1)));
    expectProcessesUp();
    for (const [i, chatId] of chatIds.entries()) await expectConsistent(chatId, [questions[i]!], followers[i]!);
    // The long answers outlast the fault: they went on streaming to the resumed clients and arrived live.
    for (const [i, question] of questions.entries()) {
      if (LONG_ANSWERS.has(question))
        expect(clientView(followers[i]!.events).live.map((m) => m.committed)).toEqual([answerTo(question)]);
    }
  }, 150_000);

  it('finishes every turn across a Temporal restart; a turn requested while it is down is refused and changes nothing', async () => {
    stack = await FaultStack.start(fake);
    const idleChat = await createChat('Idle');
    const idleFollower = follow(idleChat);
    await turnsFinished(idleFollower, 1);
    const questions = ['Delta', 'Echo'];
    const chatIds = await Promise.all(questions.map(createChat));
    const followers = chatIds.map(follow);
    await Promise.all(followers.map((client) => streaming(client, 5)));
    const chatList = async (): Promise<string[]> =>
      ((await stack!.request('GET', '/chats')).body.chats as Array<{ id: string }>).map((c) => c.id).sort();
    const chatsBefore = await chatList();
    const idleBefore = (await stack.request('GET', `/chats/${idleChat}/messages`)).body;

    await stack.stopTemporal();
    const [sent, created] = await Promise.all([
      stack.request('POST', `/chats/${idleChat}/messages`, textBody('Foxtrot')),
      stack.request('POST', '/chats', textBody('Golf')),
    ]);
    for (const refused of [sent, created]) {
      expect(refused.status).toBe(503);
      expect(refused.body.error).toEqual({
        code: 'dependency_unavailable',
        message: expect.stringMatching(/unavailable/),
      });
    }
    expect(await chatList()).toEqual(chatsBefore);
    expect((await stack.request('GET', `/chats/${idleChat}/messages`)).body).toEqual(idleBefore);

    await stack.startTemporal();
    const retried = await stack.request('POST', `/chats/${idleChat}/messages`, textBody('Foxtrot'));
    expect(retried.status).toBe(200);

    await Promise.all([...followers.map((client) => turnsFinished(client, 1)), turnsFinished(idleFollower, 2)]);
    expectProcessesUp();
    for (const [i, chatId] of chatIds.entries()) await expectConsistent(chatId, [questions[i]!], followers[i]!);
    await expectConsistent(idleChat, ['Idle', 'Foxtrot'], idleFollower);
  }, 150_000);

  it('runs a model step exactly once when its message was committed while Temporal was down', async () => {
    stack = await FaultStack.start(fake);
    const chatId = await createChat('Hotel');
    const follower = follow(chatId);
    await streaming(follower, 5);
    // The step's final write waits for a lock of the test's; Temporal stops under it; then the write
    // commits, and the worker cannot report the activity's completion to anyone.
    const locker = await holdStepWrite(chatId);
    await stack.stopTemporal();
    await locker.query('ROLLBACK');
    await locker.end();
    await waitUntil(
      async () =>
        (await stack!.query("SELECT 1 FROM chat_messages WHERE chat_id = $1 AND role = 'assistant'", [chatId]))
          .length === 1,
      30_000,
      'the step message committed',
    );
    // Longer than the worker retries a completion against an unreachable server: the completion is lost.
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    await stack.startTemporal();

    await turnsFinished(follower, 1);
    expectProcessesUp();
    await expectConsistent(chatId, ['Hotel'], follower);
    // Temporal did run the step again (its heartbeat timed out) ...
    const connection = await Connection.connect({ address: stack.temporalAddress });
    try {
      const handle = new TemporalClient({ connection }).workflow.getHandle(chatWorkflowId(chatId));
      // The step's commit also ended the turn: the chat is idle before Temporal retries the step.
      await handle.result();
      const history = await handle.fetchHistory();
      const modelSteps = new Set(
        history
          .events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runModelStep')
          .map((e) => Number(e.eventId)),
      );
      const attempts = history
        .events!.filter((e) => modelSteps.has(Number(e.activityTaskStartedEventAttributes?.scheduledEventId)))
        .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 0);
      expect(Math.max(...attempts)).toBeGreaterThan(1);
    } finally {
      await connection.close();
    }
    // ... and the retry returned the committed step: the model was asked once, clients saw no `retry`.
    const asked = fake.requests.filter((r) => (r.body as any).model === 'fake-model');
    expect(asked).toHaveLength(1);
    expect(follower.events.filter((e) => e.event === 'retry')).toEqual([]);
  }, 150_000);
});
