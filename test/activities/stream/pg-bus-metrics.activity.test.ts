/**
 * The PostgreSQL stream bus's metrics on a real PostgreSQL: the producer's NOTIFY wait and the
 * consumer's delivery lag, measured from the publish time each event carries on the wire.
 */
import { randomUUID } from 'node:crypto';
import { createLogger } from '../../../src/log';
import { ChatdMetrics } from '../../../src/metrics/chatd-metrics';
import type { StreamEvent } from '../../../src/stream/events';
import { PgStreamBus } from '../../../src/stream/pg-stream-bus';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { waitUntil } from '../../support/wait';

const count = async (metrics: ChatdMetrics, name: string): Promise<number> => {
  const line = (await metrics.render()).body.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
};

describe('PgStreamBus metrics', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database.drop();
  });

  it("times each event from its publish to the consumer, and the producer's NOTIFY wait", async () => {
    const producerMetrics = new ChatdMetrics({ processMetrics: false });
    const consumerMetrics = new ChatdMetrics({ processMetrics: false });
    const log = createLogger('silent', 'test-bus');
    const producer = new PgStreamBus(database.url, log, producerMetrics);
    const consumer = new PgStreamBus(database.url, log, consumerMetrics);
    try {
      const chatId = randomUUID();
      const received: StreamEvent[] = [];
      const subscription = consumer.subscribeWithPartial(chatId, { event: (e) => received.push(e) });
      subscription.settle();
      await subscription.partial;

      for (const status of ['running', 'waiting'] as const)
        producer.publish(chatId, { type: 'status', chat_id: chatId, status });
      await waitUntil(() => received.length === 2, 15_000, 'both events');

      expect(await count(consumerMetrics, 'chatd_bus_delivery_lag_seconds_count')).toBe(2);
      expect(await count(producerMetrics, 'chatd_bus_notify_wait_seconds_count')).toBeGreaterThanOrEqual(2);
      // Each process measures its own side only.
      expect(await count(producerMetrics, 'chatd_bus_delivery_lag_seconds_count')).toBe(0);
      expect(await count(producerMetrics, 'chatd_bus_notify_dropped_total')).toBe(0);
      subscription.unsubscribe();
    } finally {
      await Promise.all([producer.close(), consumer.close()]);
    }
  });
});
