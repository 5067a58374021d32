/**
 * A tiny Server-Sent Events writer on a Koa response: framing (`id`, `event`, `data`), heartbeat
 * comments, and a bound on unsent bytes. A reader too slow to keep up is disconnected rather than
 * buffered without limit; EventSource reconnects with Last-Event-ID and gets a fresh snapshot.
 */
import { PassThrough } from 'node:stream';
import type { Context } from 'koa';

export interface SseWriterOptions {
  heartbeatMs?: number;
  /** Unsent bytes above which the connection is dropped. */
  maxBufferedBytes?: number;
}

export class SseWriter {
  private readonly stream = new PassThrough();
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;
  private readonly onCloseHandlers: Array<() => void> = [];
  private readonly maxBuffered: number;

  constructor(ctx: Context, options: SseWriterOptions = {}) {
    this.maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
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

  get isClosed(): boolean {
    return this.closed;
  }

  onClose(handler: () => void): void {
    if (this.closed) handler();
    else this.onCloseHandlers.push(handler);
  }

  send(id: number | null, event: string, data: unknown): void {
    if (this.closed) return;
    const json = JSON.stringify(data);
    this.write(`${id === null ? '' : `id: ${id}\n`}event: ${event}\ndata: ${json}\n\n`);
  }

  comment(text: string): void {
    if (!this.closed) this.write(`: ${text}\n\n`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.stream.end();
    for (const handler of this.onCloseHandlers.splice(0)) handler();
  }

  private write(chunk: string): void {
    this.stream.write(chunk);
    if (this.stream.writableLength > this.maxBuffered) this.close();
  }
}
