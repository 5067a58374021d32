/**
 * An SSE client that resumes as EventSource does: when its stream ends or cannot be opened (an API
 * that lost its database answers 503), it connects again after a short delay with Last-Event-ID
 * set to the last id it received. It keeps every event with the connection that delivered it, and
 * clientView() replays them the way a chat UI shows them, so a test can check what a user saw
 * across the breaks.
 */
import { until } from './wait';
import { SseClient, summarize, type SseEvent } from './sse';

/** How long the client waits before connecting again (shorter than the server's `retry: 1000`: quick tests). */
const RECONNECT_DELAY_MS = 250;

export interface ResumedEvent extends SseEvent {
  /** 1 for the first connection, then one more per attempt. */
  connection: number;
}

export class ResumingSseClient {
  private readonly attempts: SseClient[] = [];
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {
    void this.run();
  }

  /** Every event of every connection, in arrival order. */
  get events(): ResumedEvent[] {
    return this.attempts.flatMap((attempt, i) => attempt.events.map((e) => ({ ...e, connection: i + 1 })));
  }

  /** The HTTP status of each connection attempt (0: no response). */
  get statuses(): number[] {
    return this.attempts.map((a) => a.status);
  }

  /** Resolves once `check` holds for the events so far; rejects after `timeoutMs`, listing what arrived. */
  async waitFor(check: (events: ResumedEvent[]) => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    await until(
      async () => (check(this.events) ? true : undefined),
      what,
      timeoutMs,
      async () => this.summary(),
    );
  }

  summary(): string {
    return `${summarize(this.events)} (connections: ${this.statuses.join(', ')})`;
  }

  /** Drops the current connection, as a network blip would; the client resumes by itself. */
  reconnect(): void {
    this.attempts.at(-1)?.close();
  }

  close(): void {
    this.closed = true;
    this.attempts.at(-1)?.close();
  }

  private lastEventId(): string | undefined {
    for (let i = this.attempts.length - 1; i >= 0; i--) {
      const id = this.attempts[i]!.lastEventId;
      if (id !== undefined) return id;
    }
    return undefined;
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      const last = this.lastEventId();
      const attempt = SseClient.open(this.url, this.token, last === undefined ? {} : { 'Last-Event-ID': last });
      this.attempts.push(attempt);
      await attempt.done;
      if (!this.closed) await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS));
    }
  }
}

/** An assistant message a client received live, and the text it had streamed for it. */
export interface StreamedMessage {
  id: number;
  /** The deltas since the last (re)connect or `retry`, as the client showed them. */
  streamed: string;
  committed: string;
}

export interface ClientView {
  /** Ids of the `message` events, in arrival order. */
  messageIds: number[];
  /** Assistant messages that arrived live (not in a reconnect's snapshot), with their streamed text. */
  live: StreamedMessage[];
  /** True when every event id is larger than the one before, across reconnects. */
  idsAscending: boolean;
}

const textOf = (message: { content: Array<{ text?: string }> }): string =>
  message.content.map((p) => p.text ?? '').join('');

/**
 * Replays a resuming client's events as a UI would: a reconnect drops the partial answer it held
 * (the snapshot sends it again), so does a `retry`; deltas add to it, and a live assistant
 * `message` replaces it with the committed text. A snapshot ends with its `queue_update`.
 */
export function clientView(events: ResumedEvent[]): ClientView {
  const view: ClientView = { messageIds: [], live: [], idsAscending: true };
  let held = '';
  let connection = 0;
  let inSnapshot = false;
  let lastId = -1;
  for (const e of events) {
    if (e.connection !== connection) {
      connection = e.connection;
      held = '';
      inSnapshot = true;
    }
    const id = Number(e.id);
    if (e.id !== undefined) {
      if (!(id > lastId)) view.idsAscending = false;
      lastId = id;
    }
    if (e.event === 'retry') held = '';
    if (e.event === 'message_part') held += String(e.data.part.text ?? '');
    if (e.event === 'message') {
      view.messageIds.push(e.data.message.id);
      if (e.data.message.role === 'assistant') {
        if (!inSnapshot) view.live.push({ id: e.data.message.id, streamed: held, committed: textOf(e.data.message) });
        held = '';
      }
    }
    if (e.event === 'queue_update') inSnapshot = false;
  }
  return view;
}
