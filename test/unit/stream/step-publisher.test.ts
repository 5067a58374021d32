/**
 * Delta coalescing: the first delta is published at once (time to first token), a burst after it
 * becomes one event per window, and nothing is lost or reordered.
 */
import { StepPublisher } from '../../../src/stream/step-publisher';
import { MemoryStreamBus } from '../../../src/stream/memory-stream-bus';
import type { StreamEvent } from '../../../src/stream/events';

describe('StepPublisher', () => {
  it('sends the first delta immediately and merges the burst that follows', async () => {
    const bus = new MemoryStreamBus();
    const seen: StreamEvent[] = [];
    bus.subscribe('c', (e) => seen.push(e));
    const publisher = new StepPublisher(bus, 'c', 5);
    publisher.onEvent({ type: 'text-delta', delta: 'H' });
    expect(seen).toHaveLength(1);
    for (const d of 'ello world') publisher.onEvent({ type: 'text-delta', delta: d });
    expect(seen).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 20));
    publisher.close();
    const parts = seen.map((e) => (e.type === 'message_part' ? e.part.text : ''));
    expect(parts.join('')).toBe('Hello world');
    expect(seen.length).toBe(2);
  });

  it('does not merge across part kinds and keeps their order', () => {
    const bus = new MemoryStreamBus();
    const seen: StreamEvent[] = [];
    bus.subscribe('c', (e) => seen.push(e));
    const publisher = new StepPublisher(bus, 'c', 5);
    publisher.onEvent({ type: 'reasoning-delta', delta: 'a' });
    publisher.onEvent({ type: 'reasoning-delta', delta: 'b' });
    publisher.onEvent({ type: 'text-delta', delta: 'c' });
    publisher.onEvent({ type: 'tool-call-start', id: 't', name: 'execute' });
    publisher.onEvent({ type: 'tool-call-delta', id: 't', delta: '{"a"' });
    publisher.onEvent({ type: 'tool-call-delta', id: 't', delta: ':1}' });
    publisher.close();
    expect(seen.map((e) => (e.type === 'message_part' ? [e.part.type, e.part.text ?? e.part.args_delta] : []))).toEqual(
      [
        ['reasoning', 'a'],
        ['reasoning', 'b'],
        ['text', 'c'],
        // The call's start (with its name) and its argument deltas travel as one part.
        ['tool-call', '{"a":1}'],
      ],
    );
  });
});
