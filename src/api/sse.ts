/**
 * A tiny Server-Sent Events writer on a Koa response: framing (`id`, `event`, `data`), heartbeat
 * comments, and a bound on unsent bytes. Writes never wait for the reader, so the producer and
 * other readers are never held up; a reader that stays behind is disconnected rather than buffered
 * without limit, and EventSource reconnects with Last-Event-ID and gets a fresh snapshot. A burst
 * (a snapshot, a flood of deltas) may pass the bound briefly; staying above it, or passing eight
 * times the bound, is what counts as too slow.
 */
import { PassThrough } from 'node:stream';
import type { Context } from 'koa';

export interface SseWriterOptions {
  /** Interval of `: ping` comments (default 15 s). */
  heartbeatMs?: number;
  /**
   * Unsent bytes a reader may hold for at most `slowReaderGraceMs` (default 1 MiB); eight times
   * this drops it at once.
   */
  maxBufferedBytes?: number;
  /** How long the unsent bytes may stay above `maxBufferedBytes` (default 5 s). */
  slowReaderGraceMs?: number;
}

/** Unsent bytes above this multiple of the bound drop the reader without a grace period. */
const HARD_LIMIT_FACTOR = 8;

/** One SSE response. Sending after close is a no-op; `onClose` handlers run once, on any close. */
export class SseWriter {
  private readonly stream = new PassThrough();
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;
  private readonly onCloseHandlers: Array<() => void> = [];
  private readonly maxBuffered: number;
  private readonly graceMs: number;
  private slowTimer: NodeJS.Timeout | null = null;
  private inBurst = false;
  private readonly socket: Context['req']['socket'];

  constructor(ctx: Context, options: SseWriterOptions = {}) {
    this.socket = ctx.req.socket;
    this.maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
    this.graceMs = options.slowReaderGraceMs ?? 5000;
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.req.socket.setKeepAlive(true);
    ctx.set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    ctx.status = 200;
    ctx.body = this.stream;
    this.heartbeat = setInterval(() => this.comment('ping'), options.heartbeatMs ?? 15_000);
    const close = (): void => this.close();
    ctx.req.on('close', close);
    this.stream.on('error', close);
    // Tell the client how long to wait before reconnecting.
    this.stream.write('retry: 1000\n\n');
  }

  /** True once the response ended (client gone, server closed it, or the reader was too slow). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Runs `handler` when the stream closes (at once if it already has). */
  onClose(handler: () => void): void {
    if (this.closed) handler();
    else this.onCloseHandlers.push(handler);
  }

  /**
   * Writes one event; `id: null` sends no id (the client keeps its Last-Event-ID). `json` is `data`
   * already serialised, when many clients get the same event.
   */
  send(id: number | null, event: string, data: unknown, json: string = JSON.stringify(data)): void {
    if (this.closed) return;
    this.write(`${id === null ? '' : `id: ${id}\n`}event: ${event}\ndata: ${json}\n\n`);
  }

  /**
   * Runs `write` as one burst (a snapshot): its size is bounded by whoever produced it, so only the
   * grace period applies to it, not the immediate cut-off.
   */
  burst(write: () => void): void {
    this.inBurst = true;
    try {
      write();
    } finally {
      this.inBurst = false;
    }
  }

  /** Writes a comment line (`: text`), which clients ignore: heartbeats and connection checks. */
  comment(text: string): void {
    if (!this.closed) this.write(`: ${text}\n\n`);
  }

  /** Sends a last event (without an id, so the client keeps its Last-Event-ID), then ends the response. */
  end(event: string, data: unknown): void {
    this.send(null, event, data);
    this.close();
  }

  /** Ends the response after what is already written. */
  close(): void {
    this.finish(false);
  }

  private finish(abort: boolean): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    if (this.slowTimer) clearTimeout(this.slowTimer);
    if (abort) {
      // Drop what the reader never took, at once: holding it is exactly what the bound prevents.
      this.stream.destroy();
      this.socket.destroy();
    } else {
      this.stream.end();
    }
    for (const handler of this.onCloseHandlers.splice(0)) handler();
  }

  private write(chunk: string): void {
    this.stream.write(chunk);
    const buffered = this.stream.writableLength;
    if (buffered > this.maxBuffered * HARD_LIMIT_FACTOR && !this.inBurst) {
      this.finish(true);
    } else if (buffered > this.maxBuffered && !this.slowTimer) {
      this.slowTimer = setTimeout(() => {
        this.slowTimer = null;
        if (this.stream.writableLength > this.maxBuffered) this.finish(true);
      }, this.graceMs);
    }
  }
}
