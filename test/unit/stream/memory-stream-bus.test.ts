/**
 * The in-process bus: the in-flight partial a late subscriber starts from, the no-overlap contract
 * of subscribeWithPartial (a part is either in the partial or delivered live, never both), and the
 * step each part belongs to.
 */
import type { LiveHandler } from '../../../src/stream/bus';
import type { StreamEvent } from '../../../src/stream/events';
import { MemoryStreamBus } from '../../../src/stream/memory-stream-bus';

const part = (text: string): StreamEvent => ({
  type: 'message_part',
  chat_id: 'c',
  role: 'assistant',
  part: { type: 'text', text },
});
const texts = (events: StreamEvent[]) => events.map((e) => (e.type === 'message_part' ? e.part.text : e.type));
const ignore: LiveHandler = { event: () => undefined };

describe('MemoryStreamBus', () => {
  it('starts a subscriber from the partial and delivers only later events', async () => {
    const bus = new MemoryStreamBus();
    bus.publish('c', part('a'));
    bus.publish('c', part('b'));
    const live: StreamEvent[] = [];
    const sub = bus.subscribeWithPartial('c', { event: (e) => live.push(e) });
    bus.publish('c', part('c'));
    const partial = await sub.partial;
    expect(texts(partial.parts)).toEqual(['a', 'b']);
    expect(texts(live)).toEqual(['c']);
    sub.unsubscribe();
    bus.publish('c', part('d'));
    expect(texts(live)).toEqual(['c']);
  });

  it('names the step of each part and tells subscribers when it ends', async () => {
    const bus = new MemoryStreamBus();
    const seen: string[] = [];
    const sub = bus.subscribeWithPartial('c', {
      event: (e, step) => seen.push(`${e.type}${step ? ` ${step}` : ''}`),
      stepEnded: (step) => seen.push(`ended ${step}`),
    });
    bus.publish('c', part('a'));
    bus.publish('c', { type: 'message', chat_id: 'c', message: { role: 'assistant' } as never });
    bus.publish('c', part('b'));
    expect(seen).toEqual(['message_part local.1', 'ended local.1', 'message', 'message_part local.2']);
    expect((await sub.partial).step).toBeNull();
  });

  it.each<[string, StreamEvent]>([
    ['the step is persisted', { type: 'message', chat_id: 'c', message: { role: 'assistant' } as never }],
    ['a retry starts', { type: 'retry', chat_id: 'c', attempt: 2, delay_ms: 1, retrying_at: '', error: {} as never }],
    [
      'the turn fails',
      { type: 'error', chat_id: 'c', message: 'x', kind: 'auth', provider: null, retryable: false, status_code: 401 },
    ],
    ['the chat leaves running', { type: 'status', chat_id: 'c', status: 'waiting' }],
    ['an edit rewrites the history', { type: 'history_truncated', chat_id: 'c', from_message_id: 1 }],
  ])('clears the partial when %s', async (_when, event) => {
    const bus = new MemoryStreamBus();
    bus.publish('c', part('a'));
    bus.publish('c', event);
    expect(await bus.subscribeWithPartial('c', ignore).partial).toEqual({ step: null, parts: [] });
  });

  it('keeps the partial across a user message', async () => {
    const bus = new MemoryStreamBus();
    bus.publish('c', part('a'));
    bus.publish('c', { type: 'message', chat_id: 'c', message: { role: 'user' } as never });
    expect(texts((await bus.subscribeWithPartial('c', ignore).partial).parts)).toEqual(['a']);
  });

  it('drops late deltas of the step an edit interrupted, until the next turn runs', () => {
    const bus = new MemoryStreamBus();
    const seen: StreamEvent[] = [];
    bus.subscribe('c', (e) => seen.push(e));
    bus.publish('c', { type: 'history_truncated', chat_id: 'c', from_message_id: 1 });
    bus.publish('c', part('late'));
    bus.publish('c', { type: 'status', chat_id: 'c', status: 'running' });
    bus.publish('c', part('new turn'));
    expect(texts(seen)).toEqual(['history_truncated', 'status', 'new turn']);
  });

  it('isolates a throwing subscriber from the producer and the other subscribers', () => {
    const bus = new MemoryStreamBus();
    const seen: StreamEvent[] = [];
    bus.subscribe('c', () => {
      throw new Error('broken client');
    });
    bus.subscribe('c', (e) => seen.push(e));
    expect(() => bus.publish('c', part('a'))).not.toThrow();
    expect(texts(seen)).toEqual(['a']);
  });
});
