/**
 * SSE test clients. SseClient: a small client over fetch that parses frames (id, event, data,
 * comments), records every event and lets a test wait for one. EventSourceProcess: the standard
 * `eventsource` npm package, unmodified, in a child Node process (it is ESM-only, which Jest's
 * CommonJS runtime cannot load), reporting what it receives as JSON lines.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: any;
}

/** Waits for a predicate over a growing list of events; shared by both clients. */
class EventLog {
  readonly events: SseEvent[] = [];
  private waiters: Array<() => void> = [];
  ended = false;

  push(event: SseEvent): void {
    this.events.push(event);
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  async waitUntil<T>(check: () => T | undefined, describe: () => string, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = check();
      if (found !== undefined) return found;
      if (this.ended) throw new Error(`stream ended before the event arrived; got: ${describe()}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for an event; got: ${describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** The text parts of a chat message (from the API or a `message` event), concatenated. */
export function textOf(message: { content: Array<{ text?: string }> }): string {
  return message.content.map((p) => p.text ?? '').join('');
}

/** Matches the `message` event of an assistant message (with exactly text `t`, when given). */
export const isAssistant = (t?: string) => (e: SseEvent) =>
  e.event === 'message' && e.data.message.role === 'assistant' && (t === undefined || textOf(e.data.message) === t);

/** Matches the `status` event announcing `status`. */
export const isStatus = (status: string) => (e: SseEvent) => e.event === 'status' && e.data.status === status;

/** The text of the `message_part` events from `fromIndex` on, concatenated. */
export function partsText(events: SseEvent[], fromIndex = 0): string {
  return events
    .slice(fromIndex)
    .filter((e) => e.event === 'message_part')
    .map((e) => String(e.data.part.text ?? ''))
    .join('');
}

/** One line per event, for failure messages. */
export function summarize(events: SseEvent[]): string {
  return events
    .map(
      (e) =>
        `${e.event}${
          e.event === 'status'
            ? `(${e.data.status})`
            : e.event === 'error'
              ? `(${e.data.kind}: ${e.data.message})`
              : e.event === 'message'
                ? `(${e.data.message.role} #${e.data.message.id} ${JSON.stringify(textOf(e.data.message).slice(0, 40))})`
                : ''
        }`,
    )
    .join(', ');
}

export class SseClient {
  private readonly log = new EventLog();
  readonly events: SseEvent[] = this.log.events;
  /** Comment lines (`: ping`) received, without the colon. */
  readonly comments: string[] = [];
  private readonly abort = new AbortController();
  readonly done: Promise<void>;
  status = 0;
  /** Response headers, once they arrived. */
  headers: Headers | undefined;
  /** The error body when the server refused the stream (status ≠ 200). */
  errorBody: any;

  private constructor(
    private readonly url: string,
    private readonly headersToSend: Record<string, string>,
  ) {
    this.done = this.run();
  }

  static open(url: string, token: string, headers: Record<string, string> = {}): SseClient {
    return new SseClient(url, { Authorization: `Bearer ${token}`, Accept: 'text/event-stream', ...headers });
  }

  /** True once the server ended the stream (or the request failed). */
  get ended(): boolean {
    return this.log.ended;
  }

  /** The id of the last event that carried one (what EventSource would send as Last-Event-ID). */
  get lastEventId(): string | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) if (this.events[i]!.id !== undefined) return this.events[i]!.id;
    return undefined;
  }

  /** Resolves with the first event (at or after `fromIndex`) that matches; rejects after `timeoutMs`. */
  waitFor(predicate: (e: SseEvent) => boolean, timeoutMs = 60_000, fromIndex = 0): Promise<SseEvent> {
    return this.log.waitUntil(
      () => this.events.slice(fromIndex).find(predicate),
      () => this.summary(),
      timeoutMs,
    );
  }

  /** Resolves once the deltas from `fromIndex` on spell `text` (however they were split). */
  waitForParts(text: string, fromIndex = 0, timeoutMs = 60_000): Promise<SseEvent> {
    return this.waitFor(() => partsText(this.events, fromIndex) === text, timeoutMs, fromIndex);
  }

  /** Resolves once `count` comment lines arrived. */
  waitForComments(count: number, timeoutMs = 60_000): Promise<string[]> {
    return this.log.waitUntil(
      () => (this.comments.length >= count ? this.comments : undefined),
      () => `${this.comments.length} comment(s)`,
      timeoutMs,
    );
  }

  /** Resolves when the server ends the stream. */
  async waitForEnd(timeoutMs = 60_000): Promise<void> {
    await this.log
      .waitUntil(
        () => (this.log.ended ? true : undefined),
        () => this.summary(),
        timeoutMs,
      )
      .catch((err: Error) => {
        if (!this.log.ended) throw err;
      });
  }

  summary(): string {
    return summarize(this.events);
  }

  close(): void {
    this.abort.abort();
  }

  private async run(): Promise<void> {
    try {
      const res = await fetch(this.url, { headers: this.headersToSend, signal: this.abort.signal });
      this.status = res.status;
      this.headers = res.headers;
      if (res.status !== 200) {
        this.errorBody = await res.json().catch(() => undefined);
        return;
      }
      if (!res.body) return;
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let sep: number;
        while ((sep = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, sep);
          buffer = buffer.slice(sep + 2);
          this.parse(frame);
        }
      }
    } catch (err) {
      // Aborted by the test, or cut by the server (a stopped API, a dropped slow reader).
      if ((err as Error).name !== 'AbortError' && (err as Error).name !== 'TypeError') throw err;
    } finally {
      this.log.end();
    }
  }

  private parse(frame: string): void {
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    for (const line of frame.split('\n')) {
      if (line.startsWith(':')) {
        this.comments.push(line.slice(1).trim());
        this.log.wake();
        continue;
      }
      const [field, ...rest] = line.split(':');
      const value = rest.join(':').replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    this.log.push({ id, event, data: JSON.parse(data.join('\n')) });
  }
}

/** What the child reports: events, and the EventSource's own open/error notifications. */
interface ChildLine {
  type: 'event' | 'open' | 'error';
  id?: string;
  event?: string;
  data?: string;
  message?: string;
}

/**
 * The `eventsource` package (v5) in a child process: it reconnects by itself after a dropped
 * connection, sending Last-Event-ID, exactly as it would in an application.
 */
export class EventSourceProcess {
  private readonly log = new EventLog();
  readonly events: SseEvent[] = this.log.events;
  /** How many times the connection opened (1 + reconnects). */
  opens = 0;
  errors: string[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly exited: Promise<void>;

  private constructor(url: string, eventTypes: string[], token?: string) {
    const script = path.join(__dirname, 'eventsource-client.mjs');
    this.child = spawn(process.execPath, [script, url, eventTypes.join(','), token ?? ''], { stdio: 'pipe' });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    let buffer = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.trim()) this.onLine(JSON.parse(line) as ChildLine);
      }
    });
    this.child.stderr.on('data', (chunk: Buffer) => this.errors.push(chunk.toString()));
    void this.exited.then(() => this.log.end());
  }

  /**
   * Opens `url` with EventSource, listening for `eventTypes`. With `token`, it is sent as an
   * Authorization header through EventSource's `fetch` option; otherwise put `access_token` in the url.
   */
  static open(url: string, eventTypes: string[], token?: string): EventSourceProcess {
    return new EventSourceProcess(url, eventTypes, token);
  }

  waitFor(predicate: (e: SseEvent) => boolean, timeoutMs = 60_000, fromIndex = 0): Promise<SseEvent> {
    return this.log.waitUntil(
      () => this.events.slice(fromIndex).find(predicate),
      () => `${summarize(this.events)} (opens: ${this.opens}, errors: ${this.errors.join(' | ')})`,
      timeoutMs,
    );
  }

  /** Resolves once the deltas from `fromIndex` on spell `text` (however they were split). */
  waitForParts(text: string, fromIndex = 0, timeoutMs = 60_000): Promise<SseEvent> {
    return this.waitFor(() => partsText(this.events, fromIndex) === text, timeoutMs, fromIndex);
  }

  /** Resolves once the connection has opened `count` times in all. */
  waitForOpens(count: number, timeoutMs = 60_000): Promise<number> {
    return this.log.waitUntil(
      () => (this.opens >= count ? this.opens : undefined),
      () => `opens: ${this.opens}, errors: ${this.errors.join(' | ')}`,
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    this.child.kill('SIGTERM');
    await this.exited;
  }

  private onLine(line: ChildLine): void {
    if (line.type === 'open') {
      this.opens += 1;
      this.log.wake();
    } else if (line.type === 'error') {
      this.errors.push(line.message ?? 'error');
      this.log.wake();
    } else {
      this.log.push({
        id: line.id || undefined,
        event: line.event ?? 'message',
        data: JSON.parse(line.data ?? 'null'),
      });
    }
  }
}
