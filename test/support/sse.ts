/**
 * A small SSE test client over fetch: parses frames (id, event, data), records every event and
 * lets a test wait for one. Tests that need a standard client use the `eventsource` package.
 */
export interface SseEvent {
  id: string | undefined;
  event: string;
  data: any;
}

export class SseClient {
  readonly events: SseEvent[] = [];
  private readonly abort = new AbortController();
  private waiters: Array<() => void> = [];
  private ended = false;
  readonly done: Promise<void>;
  status = 0;

  private constructor(
    private readonly url: string,
    private readonly headers: Record<string, string>,
  ) {
    this.done = this.run();
  }

  static open(url: string, token: string, headers: Record<string, string> = {}): SseClient {
    return new SseClient(url, { Authorization: `Bearer ${token}`, Accept: 'text/event-stream', ...headers });
  }

  /** Resolves with the first event (after `fromIndex`) that matches; rejects after `timeoutMs`. */
  async waitFor(predicate: (e: SseEvent) => boolean, timeoutMs = 15_000, fromIndex = 0): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(fromIndex).find(predicate);
      if (found) return found;
      if (this.ended) throw new Error(`stream ended before the event arrived; got: ${this.summary()}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for an event; got: ${this.summary()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  summary(): string {
    return this.events
      .map(
        (e) =>
          `${e.event}${e.event === 'status' ? `(${e.data.status})` : e.event === 'error' ? `(${e.data.kind}: ${e.data.message})` : ''}`,
      )
      .join(', ');
  }

  close(): void {
    this.abort.abort();
  }

  private async run(): Promise<void> {
    try {
      const res = await fetch(this.url, { headers: this.headers, signal: this.abort.signal });
      this.status = res.status;
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
      if ((err as Error).name !== 'AbortError') throw err;
    } finally {
      this.ended = true;
      this.wake();
    }
  }

  private parse(frame: string): void {
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    for (const line of frame.split('\n')) {
      if (line.startsWith(':')) continue;
      const [field, ...rest] = line.split(':');
      const value = rest.join(':').replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    this.events.push({ id, event, data: JSON.parse(data.join('\n')) });
    this.wake();
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
