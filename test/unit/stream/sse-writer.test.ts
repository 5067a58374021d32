/**
 * SseWriter framing and its bound: events are `id`/`event`/`data` frames, heartbeats are comments,
 * and a reader that stops reading is cut off once the unsent bytes pass the bound, without the
 * writer ever waiting for it (so a producer writing to many clients is never held up by one).
 */
import { EventEmitter } from 'node:events';
import type { PassThrough } from 'node:stream';
import type { Context } from 'koa';
import { SseWriter } from '../../../src/api/sse';

function fakeContext() {
  const socket = Object.assign(new EventEmitter(), {
    setTimeout: jest.fn(),
    setNoDelay: jest.fn(),
    setKeepAlive: jest.fn(),
    destroy: jest.fn(),
  });
  const req = Object.assign(new EventEmitter(), { socket });
  const ctx = { req, status: 0, body: undefined as unknown, headers: {} as Record<string, string>, set: jest.fn() };
  return { ctx, socket, req, body: () => ctx.body as PassThrough };
}

async function read(stream: PassThrough): Promise<string> {
  let out = '';
  let chunk: Buffer | null;
  while ((chunk = stream.read() as Buffer | null) !== null) out += chunk.toString();
  return out;
}

describe('SseWriter', () => {
  afterEach(() => jest.useRealTimers());

  it('frames events with id, event and JSON data, and ids may be omitted', async () => {
    const { ctx, body } = fakeContext();
    const sse = new SseWriter(ctx as unknown as Context, { heartbeatMs: 60_000 });
    sse.send(7, 'status', { status: 'running' });
    sse.send(null, 'created', { kind: 'created' });
    const text = await read(body());
    expect(text).toBe(
      'retry: 1000\n\nid: 7\nevent: status\ndata: {"status":"running"}\n\nevent: created\ndata: {"kind":"created"}\n\n',
    );
    expect(ctx.status).toBe(200);
    sse.close();
  });

  // Streams run on process.nextTick: only the timers are faked.
  const fakeTimers = () => jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });

  it('writes a ping comment every heartbeat interval', async () => {
    fakeTimers();
    const { ctx, body } = fakeContext();
    const sse = new SseWriter(ctx as unknown as Context, { heartbeatMs: 1000 });
    jest.advanceTimersByTime(2500);
    expect(await read(body())).toBe('retry: 1000\n\n: ping\n\n: ping\n\n');
    sse.close();
  });

  it('cuts off a reader at once when unsent bytes pass eight times the bound, without waiting for it', () => {
    const { ctx, socket } = fakeContext();
    const sse = new SseWriter(ctx as unknown as Context, { heartbeatMs: 60_000, maxBufferedBytes: 10_000 });
    const closed = jest.fn();
    sse.onClose(closed);
    let sent = 0;
    for (; sent < 1000 && !sse.isClosed; sent++) sse.send(sent, 'message_part', { text: 'x'.repeat(1000) });
    expect(sse.isClosed).toBe(true);
    // Eight times the bound (beyond what the stream's own read buffer holds), and not much more.
    expect(sent * 1000).toBeGreaterThan(80_000);
    expect(sent * 1000).toBeLessThan(200_000);
    expect(closed).toHaveBeenCalledTimes(1);
    expect(socket.destroy).toHaveBeenCalled();
    // Later sends are no-ops, not errors.
    expect(() => sse.send(1001, 'status', {})).not.toThrow();
  });

  it('lets a burst pass the bound, and cuts off a reader that stays above it past the grace period', async () => {
    fakeTimers();
    const { ctx, body } = fakeContext();
    const sse = new SseWriter(ctx as unknown as Context, {
      heartbeatMs: 60_000,
      maxBufferedBytes: 50_000,
      slowReaderGraceMs: 1000,
    });
    for (let i = 0; i < 150; i++) sse.send(i, 'message_part', { text: 'x'.repeat(1000) });
    expect(sse.isClosed).toBe(false);
    // The reader catches up in time: the burst is forgiven.
    await read(body());
    jest.advanceTimersByTime(1500);
    expect(sse.isClosed).toBe(false);
    // Then it stops reading for good.
    for (let i = 0; i < 200; i++) sse.send(i, 'message_part', { text: 'x'.repeat(1000) });
    jest.advanceTimersByTime(999);
    expect(sse.isClosed).toBe(false);
    jest.advanceTimersByTime(2);
    expect(sse.isClosed).toBe(true);
  });

  it('lets a snapshot burst pass eight times the bound, subject only to the grace period', () => {
    const { ctx } = fakeContext();
    const sse = new SseWriter(ctx as unknown as Context, { heartbeatMs: 60_000, maxBufferedBytes: 10_000 });
    sse.burst(() => {
      for (let i = 0; i < 300; i++) sse.send(i, 'message_part', { text: 'x'.repeat(1000) });
    });
    expect(sse.isClosed).toBe(false);
    // Live traffic on top of an undrained burst is cut off.
    sse.send(301, 'status', { status: 'running' });
    expect(sse.isClosed).toBe(true);
  });

  it('closes when the client goes away and runs close handlers once', () => {
    const { ctx, req } = fakeContext();
    const sse = new SseWriter(ctx as unknown as Context, { heartbeatMs: 60_000 });
    const closed = jest.fn();
    sse.onClose(closed);
    req.emit('close');
    req.emit('close');
    expect(closed).toHaveBeenCalledTimes(1);
    const late = jest.fn();
    sse.onClose(late);
    expect(late).toHaveBeenCalledTimes(1);
  });
});
