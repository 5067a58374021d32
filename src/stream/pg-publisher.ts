/**
 * The publishing connection of the PostgreSQL stream bus: every NOTIFY of a process goes through it,
 * in call order, so a producer's events arrive in the order it sent them. Used by pg-stream-bus.ts;
 * its reconnect backoff is shared with pg-listener.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import type { Logger } from 'pino';
import type { BusMetrics } from './bus-metrics';

/**
 * NOTIFYs sent in one statement (one transaction) when they queue up behind a round trip; bounded
 * so that the first of a big burst is not held back long by the rest.
 */
const MAX_BATCH = 500;
const MAX_BATCH_CHARS = 128 * 1024;
/** Unsent NOTIFY payload kept while the publishing connection is down; the oldest are dropped beyond. */
const MAX_UNSENT_CHARS = 16 * 1024 * 1024;
/** Reconnect backoff of the bus's connections (this one and the LISTEN connection). */
export const RECONNECT_MIN_MS = 100;
export const RECONNECT_MAX_MS = 5000;

const NOTIFY_ONE = 'SELECT pg_notify($1, $2)';
/** unnest keeps the array order, and PostgreSQL delivers a transaction's notifications in order. */
const NOTIFY_MANY = 'SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)';

/** A lost or refused connection (as opposed to a statement PostgreSQL rejected). */
function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return code.startsWith('08') || code.startsWith('57');
}

/**
 * The publishing connection. NOTIFYs go out in call order; those that queue up behind a round trip
 * go together in one statement, one transaction. It commits asynchronously (`synchronous_commit =
 * off`): a NOTIFY is ephemeral, the durable data is committed elsewhere. After a lost connection it
 * reconnects and sends what is still unsent; beyond a bound the oldest are dropped, and receivers
 * fill a missing part from the producer's copy.
 */
export class NotifyPublisher {
  private client: Client | null = null;
  /** `at`: when it was published (performance.now()), for the metrics. */
  private unsent: Array<{ channel: string; payload: string; at: number }> = [];
  private unsentChars = 0;
  private dropped = 0;
  private sending = false;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
    private readonly metrics?: Pick<BusMetrics, 'sent' | 'dropped'>,
  ) {}

  notify(channel: string, payload: string): void {
    if (this.closed) return;
    this.unsent.push({ channel, payload, at: performance.now() });
    this.unsentChars += payload.length;
    if (this.unsentChars > MAX_UNSENT_CHARS) this.dropOldest();
    void this.flush();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => undefined);
  }

  private dropOldest(): void {
    while (this.unsentChars > MAX_UNSENT_CHARS && this.unsent.length > 1) {
      this.unsentChars -= this.unsent.shift()!.payload.length;
      this.dropped += 1;
      this.metrics?.dropped(1);
    }
  }

  private async flush(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    let backoff = RECONNECT_MIN_MS;
    try {
      while (this.unsent.length > 0 && !this.closed) {
        const batch = this.unsent.splice(0, this.batchSize());
        try {
          await this.send(batch);
          if (this.metrics) {
            const now = performance.now();
            for (const sent of batch) this.metrics.sent((now - sent.at) / 1000);
          }
          backoff = RECONNECT_MIN_MS;
          this.reportDropped();
        } catch (err) {
          if (!isConnectionError(err)) {
            this.log.warn({ err }, 'NOTIFY rejected; dropped');
          } else {
            this.log.warn({ err }, 'stream bus publisher connection lost; reconnecting');
            this.unsent.unshift(...batch);
            this.disconnect();
            await sleep(backoff);
            backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
            continue;
          }
        }
        for (const sent of batch) this.unsentChars -= sent.payload.length;
      }
    } finally {
      this.sending = false;
    }
  }

  /** Once connected again: how many NOTIFYs the backlog bound dropped meanwhile (one line, not one per drop). */
  private reportDropped(): void {
    if (this.dropped === 0) return;
    this.log.warn({ dropped: this.dropped }, 'stream bus publisher was disconnected too long; oldest NOTIFYs dropped');
    this.dropped = 0;
  }

  /** How many of the oldest unsent NOTIFYs go in the next statement (at least one). */
  private batchSize(): number {
    let count = 0;
    let chars = 0;
    for (const { payload } of this.unsent) {
      if (count === MAX_BATCH || (count > 0 && chars + payload.length > MAX_BATCH_CHARS)) break;
      count += 1;
      chars += payload.length;
    }
    return count;
  }

  private async send(batch: Array<{ channel: string; payload: string }>): Promise<void> {
    const client = this.client ?? (await this.connect());
    if (batch.length === 1) await client.query(NOTIFY_ONE, [batch[0]!.channel, batch[0]!.payload]);
    else await client.query(NOTIFY_MANY, [batch.map((n) => n.channel), batch.map((n) => n.payload)]);
  }

  private async connect(): Promise<Client> {
    const client = new Client({ connectionString: this.url, application_name: 'chatd-bus-publish' });
    const forget = (): void => {
      if (this.client === client) this.client = null;
    };
    client.on('error', (err) => {
      this.log.warn({ err }, 'stream bus publisher connection failed');
      forget();
    });
    client.on('end', forget);
    try {
      await client.connect();
      await client.query('SET synchronous_commit = off');
    } catch (err) {
      void client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    return client;
  }

  private disconnect(): void {
    const client = this.client;
    this.client = null;
    void client?.end().catch(() => undefined);
  }
}
