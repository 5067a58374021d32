/** The partial answer kept on interrupt is rebuilt from the stream events seen so far. */
import { StepAccumulator } from '../../../src/turn/step-accumulator';

describe('StepAccumulator', () => {
  it('merges deltas into parts in stream order and keeps a half-streamed tool call', () => {
    const acc = new StepAccumulator();
    acc.add({ type: 'reasoning-delta', delta: 'think' });
    acc.add({ type: 'reasoning-delta', delta: 'ing' });
    acc.add({ type: 'text-delta', delta: 'Hel' });
    acc.add({ type: 'text-delta', delta: 'lo' });
    acc.add({ type: 'tool-call', id: 'c1', name: 'read_file', input: { path: 'a' } });
    acc.add({ type: 'tool-call-start', id: 'c2', name: 'execute' });
    acc.add({ type: 'tool-call-delta', id: 'c2', delta: '{"command":"ls"' });
    expect(acc.snapshot()).toEqual([
      { type: 'reasoning', text: 'thinking' },
      { type: 'text', text: 'Hello' },
      { type: 'tool-call', id: 'c1', name: 'read_file', input: { path: 'a' } },
      // Cut off mid-arguments: kept, with an object input (what parses, else empty).
      { type: 'tool-call', id: 'c2', name: 'execute', input: {} },
    ]);
  });

  it('returns copies, so later deltas do not change an earlier snapshot', () => {
    const acc = new StepAccumulator();
    acc.add({ type: 'text-delta', delta: 'a' });
    const first = acc.snapshot();
    acc.add({ type: 'text-delta', delta: 'b' });
    expect(first).toEqual([{ type: 'text', text: 'a' }]);
  });
});
