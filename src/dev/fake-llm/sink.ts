/**
 * The write side of one fake-LLM HTTP response: SSE framing, batching with backpressure, real-timer token
 * pacing, and detection of a client that hung up. "As fast as possible" batches events into ~16 KB writes and
 * yields to the event loop between batches, so a 2,000-token burst never starves other connections.
 */
import type { ServerResponse } from 'node:http';

/** Thrown inside a renderer when the response is already closed; the renderer just stops. */
export class StreamClosedError extends Error {
  constructor() {
    super('fake-llm: response closed');
    this.name = 'StreamClosedError';
  }
}

const BATCH_BYTES = 16 * 1024;
const YIELD_EVERY_BYTES = 64 * 1024;

/** Buffered writer over a `ServerResponse` that knows whether the client went away. */
export class ResponseSink {
  /** Resolves when the underlying response closes (finished, destroyed, or the client hung up). */
  readonly closed: Promise<void>;
  private buffer: string[] = [];
  private bufferedBytes = 0;
  private bytesSinceYield = 0;
  private isClosed = false;
  private destroyedByServer = false;

  /** `onClientAbort` runs once if the client closes the connection before the response finished. */
  constructor(
    readonly res: ServerResponse,
    onClientAbort: () => void,
  ) {
    this.closed = new Promise<void>((resolve) => {
      res.once('close', () => {
        this.isClosed = true;
        if (!res.writableFinished && !this.destroyedByServer) onClientAbort();
        resolve();
      });
    });
  }

  /** True once the response can no longer be written. */
  get done(): boolean {
    return this.isClosed || this.res.destroyed || this.res.writableEnded;
  }

  /** Sends the status line and headers now (so the client's `fetch` resolves). */
  head(status: number, headers: Record<string, string>): void {
    if (this.done) return;
    this.res.writeHead(status, headers);
    this.res.flushHeaders();
  }

  /** Sends a complete JSON response (with `content-length`, as the providers do) and ends it. */
  json(status: number, headers: Record<string, string>, body: unknown): void {
    if (this.done) return;
    const payload = JSON.stringify(body);
    this.res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(payload)) });
    this.res.end(payload);
  }

  /** Queues one SSE event: an optional `event:` line and one `data:` line. */
  event(name: string | null, data: unknown): void {
    const payload = typeof data === 'string' ? data : JSON.stringify(data);
    this.raw(name === null ? `data: ${payload}\n\n` : `event: ${name}\ndata: ${payload}\n\n`);
  }

  /** Queues raw bytes. */
  raw(chunk: string): void {
    this.buffer.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  /** Writes everything queued, waiting for `drain` under backpressure and yielding to the event loop now and then. */
  async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    if (this.done) throw new StreamClosedError();
    const chunk = this.buffer.join('');
    this.buffer = [];
    this.bufferedBytes = 0;
    const ok = this.res.write(chunk);
    this.bytesSinceYield += chunk.length;
    if (!ok) {
      await Promise.race([new Promise<void>((resolve) => this.res.once('drain', resolve)), this.closed]);
      this.bytesSinceYield = 0;
    } else if (this.bytesSinceYield >= YIELD_EVERY_BYTES) {
      this.bytesSinceYield = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (this.done) throw new StreamClosedError();
  }

  /** Flushes only when a batch worth writing has accumulated. */
  async flushIfFull(): Promise<void> {
    if (this.bufferedBytes >= BATCH_BYTES) await this.flush();
  }

  /** Waits `ms` on a real timer; throws {@link StreamClosedError} early if the response closes meanwhile. */
  async sleep(ms: number): Promise<void> {
    if (this.done) throw new StreamClosedError();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), this.closed]);
    clearTimeout(timer);
    if (this.done) throw new StreamClosedError();
  }

  /** Writes what is queued and ends the response normally. */
  end(body?: string): void {
    if (this.done) return;
    const rest = this.buffer.join('') + (body ?? '');
    this.buffer = [];
    this.bufferedBytes = 0;
    this.res.end(rest);
  }

  /**
   * Writes what is queued, then closes the socket mid-response (a "cut"): everything written so far reaches the
   * client, then the connection ends without the terminating chunk, so the client sees a broken stream.
   */
  async destroy(): Promise<void> {
    if (this.done) return;
    const rest = this.buffer.join('');
    this.buffer = [];
    this.bufferedBytes = 0;
    if (rest.length > 0) await new Promise<void>((resolve) => this.res.write(rest, () => resolve()));
    this.destroyedByServer = true;
    const socket = this.res.socket;
    if (!socket) {
      this.res.destroy();
      return;
    }
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
    await this.closed;
  }

  /** Ends a response from the server side without counting it as a client abort (used by `close()`). */
  terminate(): void {
    this.destroyedByServer = true;
    this.res.socket?.destroy();
    this.res.destroy();
  }
}

/** Resolved pacing of one step. */
export interface Pacing {
  chunkSize: number;
  firstTokenDelayMs: number;
  tokensPerSecond: number;
}

/**
 * Schedules token chunks on an absolute timeline (`t0 + emitted / tps`) so timer jitter never accumulates.
 * With `tokensPerSecond` 0 chunks are batched and written as fast as the socket accepts them.
 */
export class Pacer {
  private started = false;
  private t0 = 0;
  private emitted = 0;

  constructor(
    private readonly sink: ResponseSink,
    private readonly pacing: Pacing,
  ) {}

  /** Flushes the preamble and waits the first-token delay (once). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.sink.flush();
    if (this.pacing.firstTokenDelayMs > 0) await this.sink.sleep(this.pacing.firstTokenDelayMs);
    this.t0 = performance.now();
  }

  /** Waits for the slot of the next chunk of `tokens` tokens, runs `write` to queue it, then flushes as paced. */
  async emit(tokens: number, write: () => void): Promise<void> {
    await this.start();
    const tps = this.pacing.tokensPerSecond;
    if (tps > 0) {
      const wait = this.t0 + (this.emitted * 1000) / tps - performance.now();
      if (wait >= 1) {
        await this.sink.flush();
        await this.sink.sleep(wait);
      }
    }
    if (this.sink.done) throw new StreamClosedError();
    write();
    this.emitted += tokens;
    if (tps > 0) await this.sink.flush();
    else await this.sink.flushIfFull();
  }

  /** Waits the time `tokens` tokens would take (non-streaming answers). */
  async simulate(tokens: number): Promise<void> {
    if (this.pacing.firstTokenDelayMs > 0) await this.sink.sleep(this.pacing.firstTokenDelayMs);
    if (this.pacing.tokensPerSecond > 0 && tokens > 0) {
      await this.sink.sleep((tokens * 1000) / this.pacing.tokensPerSecond);
    }
  }
}
