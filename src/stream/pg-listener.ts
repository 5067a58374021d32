/**
 * The LISTEN connection of the PostgreSQL stream bus, one per process and shared by every channel it
 * listens on (chat events, chat control, owner watch). It parses each notification and hands it to the
 * channel's handlers, reconnects by itself (listening on every channel again) and tells the bus when it
 * was lost and when it is back. The bus's reads (an event sent by reference) run on it too, in order
 * with its LISTENs. Used by pg-stream-bus.ts.
 */
import { Client, type QueryResultRow } from 'pg';
import type { Logger } from 'pino';
import type { Unsubscribe } from './bus';
import type { BusMetrics } from './bus-metrics';
import { RECONNECT_MAX_MS, RECONNECT_MIN_MS } from './pg-publisher';
import type { Wire } from './pg-wire-format';

/** Runs a connection's queries one at a time, in call order (pg stops queueing them itself in v9). */
class QueryQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(query: () => Promise<T>): Promise<T> {
    const next = this.tail.then(query, query);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** What the listener tells its bus about the connection. */
export interface ListenerEvents {
  /** The connection is gone: notifications sent until it is back are lost to this process. */
  lost(): void;
  /** Connected again after a loss, with every channel listened on again. */
  recovered(): void;
}

export class PgListener {
  private client: Client | null = null;
  private connecting: Promise<Client> | null = null;
  /** Per channel: its handlers, and `live`, which resolves once its LISTEN is active. */
  private readonly channels = new Map<string, { handlers: Set<(wire: Wire) => void>; live: Promise<void> }>();
  private readonly queries = new QueryQueue();
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelay = RECONNECT_MIN_MS;
  /** Set when the connection was lost: the next one tells the bus it recovered. */
  private recovering = false;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
    private readonly events: ListenerEvents,
    private readonly metrics?: Pick<BusMetrics, 'delivered'>,
  ) {}

  /** Adds a handler for a channel; `live` resolves once the channel's LISTEN is active. */
  listen(channel: string, handler: (wire: Wire) => void): { off: Unsubscribe; live: Promise<void> } {
    let listened = this.channels.get(channel);
    if (!listened) {
      const live = this.connect().then(async (client) => {
        await this.queries.run(() => client.query(`LISTEN ${channel}`));
      });
      live.catch((err: unknown) => {
        this.log.warn({ err, channel }, 'LISTEN failed; retrying');
        this.scheduleReconnect();
      });
      this.channels.set(channel, (listened = { handlers: new Set(), live }));
    }
    listened.handlers.add(handler);
    const entry = listened;
    return {
      live: entry.live,
      off: () => {
        entry.handlers.delete(handler);
        if (entry.handlers.size > 0 || this.channels.get(channel) !== entry) return;
        this.channels.delete(channel);
        const client = this.client;
        if (client) void this.queries.run(() => client.query(`UNLISTEN ${channel}`)).catch(() => undefined);
      },
    };
  }

  /** Runs a query on this connection (opening it if need be), after the LISTENs and queries before it. */
  async query<R extends QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
    const client = await this.connect();
    const { rows } = await this.queries.run(() => client.query<R>(text, values));
    return rows;
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    return this.client?.end() ?? Promise.resolve();
  }

  private dispatch(channel: string, payload: string | undefined): void {
    const handlers = payload === undefined ? undefined : this.channels.get(channel)?.handlers;
    if (!handlers) return;
    let wire: Wire;
    try {
      wire = JSON.parse(payload!) as Wire;
    } catch {
      return;
    }
    if (wire.k === 'e' && typeof wire.t === 'number') this.metrics?.delivered(Math.max(0, Date.now() - wire.t) / 1000);
    for (const handler of [...handlers]) {
      try {
        handler(wire);
      } catch (err) {
        this.log.warn({ err }, 'stream subscriber failed');
      }
    }
  }

  /** The LISTEN connection, opened (and every channel listened on) if there is none. */
  private connect(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.open().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async open(): Promise<Client> {
    if (this.closed) throw new Error('The stream bus is closed.');
    const client = new Client({ connectionString: this.url, application_name: 'chatd-bus-listen' });
    client.on('notification', (msg) => this.dispatch(msg.channel, msg.payload));
    client.on('error', (err) => this.connectionLost(client, err));
    client.on('end', () => this.connectionLost(client));
    try {
      await client.connect();
      const channels = [...this.channels.keys()];
      if (channels.length > 0) await client.query(channels.map((channel) => `LISTEN ${channel}`).join('; '));
    } catch (err) {
      void client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    if (this.recovering) {
      this.recovering = false;
      this.reconnectDelay = RECONNECT_MIN_MS;
      this.events.recovered();
    }
    return client;
  }

  /** The LISTEN connection is gone: notifications sent until it is back are lost to this process. */
  private connectionLost(client: Client, err?: Error): void {
    if (this.client !== client) return;
    this.client = null;
    void client.end().catch(() => undefined);
    if (this.closed) return;
    this.log.warn({ err }, 'stream bus listener connection lost; reconnecting');
    this.recovering = true;
    this.events.lost();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.client || this.channels.size === 0) return;
      this.connect().then(
        () => undefined,
        (err: unknown) => {
          this.log.warn({ err }, 'stream bus reconnect failed; retrying');
          this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
          this.scheduleReconnect();
        },
      );
    }, this.reconnectDelay);
  }
}
