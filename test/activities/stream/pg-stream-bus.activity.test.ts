/**
 * PgStreamBus on a real PostgreSQL, with a producer bus (the worker running the step) and a
 * consumer bus (an API process serving streams): subscribers joining mid-step, many at once, each
 * get the in-flight partial and then exactly the rest of the step, also when the producer answers
 * late; and when PostgreSQL drops the
 * bus's connections (pg_terminate_backend) the bus reconnects by itself, and what was published
 * meanwhile still arrives, once and in order.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { createLogger } from '../../../src/log';
import type { InFlightPartial, LiveHandler } from '../../../src/stream/bus';
import type { StreamEvent } from '../../../src/stream/events';
import { PgStreamBus } from '../../../src/stream/pg-stream-bus';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { waitUntil } from '../../support/wait';

const part = (chatId: string, text: string): StreamEvent => ({
  type: 'message_part',
  chat_id: chatId,
  role: 'assistant',
  part: { type: 'text', text },
});
const persisted = (chatId: string): StreamEvent => ({
  type: 'message',
  chat_id: chatId,
  message: {
    id: 1,
    chat_id: chatId,
    created_by: null,
    model_config_id: null,
    created_at: new Date(0).toISOString(),
    role: 'assistant',
    content: [],
  },
});
const tokens = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `t${from + i} `);

/** One subscriber's view: its partial, then what it received live. */
class Subscriber implements LiveHandler {
  partial: InFlightPartial | null = null;
  readonly live: StreamEvent[] = [];
  resyncs = 0;

  event(event: StreamEvent): void {
    this.live.push(event);
  }

  resync(): void {
    this.resyncs += 1;
  }

  /** The step's text as the client shows it: the partial, then the live deltas. */
  text(): string {
    return [...(this.partial?.parts ?? []), ...this.live]
      .map((e) => (e.type === 'message_part' ? e.part.text : ''))
      .join('');
  }

  has(type: StreamEvent['type']): boolean {
    return this.live.some((e) => e.type === type);
  }
}

describe('PgStreamBus', () => {
  let database: TestDatabase;
  const buses: PgStreamBus[] = [];
  const newBus = (): PgStreamBus => {
    const bus = new PgStreamBus(database.url, createLogger('silent', 'test-bus'));
    buses.push(bus);
    return bus;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterEach(async () => {
    await Promise.all(buses.splice(0).map((bus) => bus.close()));
  });

  afterAll(async () => {
    await database.drop();
  });

  /** Ends every bus connection of one kind, as a PostgreSQL restart or an operator would. */
  async function terminate(applicationName: 'chatd-bus-listen' | 'chatd-bus-publish'): Promise<number> {
    const { rows } = await sql<{ pid: number }>`
      SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = ${applicationName}`.execute(database.db);
    return rows.length;
  }

  /**
   * Keeps `producer` streaming tokens from `t<from>` on until `subscriber` shows the whole step so
   * far (the consumer asks again for what it missed while parts keep coming); returns the next token.
   */
  async function streamUntilWhole(
    producer: PgStreamBus,
    chatId: string,
    subscriber: Subscriber,
    from: number,
    what: string,
  ): Promise<number> {
    let next = from;
    await waitUntil(
      () => {
        if (subscriber.text() === tokens(0, next).join('')) return true;
        producer.publish(chatId, part(chatId, `t${next++} `));
        return false;
      },
      15_000,
      what,
    );
    return next;
  }

  /** A producer streaming a step of `chatId`: it holds the control listener, as a running activity does. */
  function producing(chatId: string): PgStreamBus {
    const producer = newBus();
    producer.onControl(chatId, () => undefined);
    return producer;
  }

  it('gives each of a burst of subscribers joining mid-step the partial once, then the rest of the step', async () => {
    const chatId = randomUUID();
    const producer = producing(chatId);
    const consumer = newBus();
    // A subscriber already listening sees the step from its start.
    const early = new Subscriber();
    early.partial = await consumer.subscribeWithPartial(chatId, early).partial;
    for (const t of tokens(0, 40)) producer.publish(chatId, part(chatId, t));
    await waitUntil(() => early.live.length === 40, 15_000, 'the first deltas');

    // A burst of clients reconnecting at once, while the step keeps streaming.
    const burst = Array.from({ length: 50 }, () => new Subscriber());
    const partials = burst.map((s) => consumer.subscribeWithPartial(chatId, s).partial);
    for (const t of tokens(40, 80)) producer.publish(chatId, part(chatId, t));
    await Promise.all(partials.map(async (partial, i) => (burst[i]!.partial = await partial)));
    for (const t of tokens(80, 100)) producer.publish(chatId, part(chatId, t));
    producer.publish(chatId, persisted(chatId));
    await waitUntil(() => [early, ...burst].every((s) => s.has('message')), 15_000, 'the step to end');

    const whole = tokens(0, 100).join('');
    expect(early.text()).toBe(whole);
    for (const subscriber of burst) expect(subscriber.text()).toBe(whole);
    // Some joined with a partial, after which the step's parts arrived live.
    expect(burst.every((s) => s.partial!.parts.length >= 40)).toBe(true);
  });

  it('gives a subscriber the whole step even when the producer answers only after the wait is over', async () => {
    const chatId = randomUUID();
    const producer = newBus();
    const consumer = newBus();
    // Sent before the consumer listens, by a producer that cannot answer yet (a busy or restarting worker).
    for (const t of tokens(0, 10)) producer.publish(chatId, part(chatId, t));
    const subscriber = new Subscriber();
    subscriber.partial = await consumer.subscribeWithPartial(chatId, subscriber).partial;
    expect(subscriber.partial).toEqual({ step: null, parts: [] });

    producer.onControl(chatId, () => undefined);
    // The step goes on; the consumer asks again for what it missed until the producer answers.
    const next = await streamUntilWhole(producer, chatId, subscriber, 10, 'the whole step');
    producer.publish(chatId, persisted(chatId));
    await waitUntil(() => subscriber.has('message'), 15_000, 'the step to end');
    expect(subscriber.text()).toBe(tokens(0, next).join(''));
  });

  it('gives a subscriber joining an idle chat an empty partial, and the next step whole', async () => {
    const chatId = randomUUID();
    const producer = newBus();
    const consumer = newBus();
    const subscriber = new Subscriber();
    const subscription = consumer.subscribeWithPartial(chatId, subscriber);
    subscription.settle();
    subscriber.partial = await subscription.partial;
    expect(subscriber.partial).toEqual({ step: null, parts: [] });
    for (const t of tokens(0, 10)) producer.publish(chatId, part(chatId, t));
    producer.publish(chatId, persisted(chatId));
    await waitUntil(() => subscriber.has('message'), 15_000, 'the step');
    expect(subscriber.text()).toBe(tokens(0, 10).join(''));
  });

  it('reconnects after its LISTEN connection is terminated and delivers the parts sent meanwhile', async () => {
    const chatId = randomUUID();
    const ownerId = randomUUID();
    const producer = producing(chatId);
    const consumer = newBus();
    const subscriber = new Subscriber();
    subscriber.partial = await consumer.subscribeWithPartial(chatId, subscriber).partial;
    let watchLost = 0;
    consumer.subscribeWatch(
      ownerId,
      () => undefined,
      () => (watchLost += 1),
    );
    for (const t of tokens(0, 10)) producer.publish(chatId, part(chatId, t));
    await waitUntil(() => subscriber.live.length === 10, 15_000, 'the first deltas');

    expect(await terminate('chatd-bus-listen')).toBeGreaterThanOrEqual(2);
    // Sent while nobody listens: the consumer gets these from the producer's copy.
    for (const t of tokens(10, 20)) producer.publish(chatId, part(chatId, t));
    await waitUntil(() => subscriber.resyncs === 1, 15_000, 'the consumer to listen again');
    // The producer keeps streaming; the consumer asks again until it has the missing parts.
    const next = await streamUntilWhole(producer, chatId, subscriber, 20, 'the missing parts');
    producer.publish(chatId, persisted(chatId));
    await waitUntil(() => subscriber.has('message'), 15_000, 'the step to end');
    expect(subscriber.text()).toBe(tokens(0, next).join(''));
    expect(watchLost).toBe(1);
  });

  it('reconnects after its NOTIFY connection is terminated and sends what was published meanwhile', async () => {
    const chatId = randomUUID();
    const producer = producing(chatId);
    const consumer = newBus();
    const subscriber = new Subscriber();
    subscriber.partial = await consumer.subscribeWithPartial(chatId, subscriber).partial;
    producer.publish(chatId, part(chatId, 't0 '));
    await waitUntil(() => subscriber.live.length === 1, 15_000, 'the first delta');

    expect(await terminate('chatd-bus-publish')).toBeGreaterThanOrEqual(1);
    for (const t of tokens(1, 30)) producer.publish(chatId, part(chatId, t));
    producer.publish(chatId, persisted(chatId));
    await waitUntil(() => subscriber.has('message'), 15_000, 'the step to end');
    expect(subscriber.text()).toBe(tokens(0, 30).join(''));
  });
});
