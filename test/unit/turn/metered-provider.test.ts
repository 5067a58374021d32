/** meteredProvider (src/turn/metrics.ts): each model call's time to first output, duration and outcome. */
import { LlmError } from '../../../src/llm/errors';
import { emptyUsage, type LlmProvider, type ModelRequest, type ModelStreamEvent } from '../../../src/llm/types';
import { meteredProvider, type TurnMetrics } from '../../../src/turn/metrics';

type Call = Parameters<TurnMetrics['modelCall']>[0];

function fakeProvider(events: ModelStreamEvent[], fail?: Error): LlmProvider {
  return {
    kind: 'openai',
    async streamStep(_request, options) {
      for (const event of events) options.onEvent(event);
      if (fail) throw fail;
      return { content: [], finishReason: 'stop', usage: emptyUsage() };
    },
  };
}

const request = { model: 'gpt-x', messages: [], tools: [], options: {} } as unknown as ModelRequest;

describe('meteredProvider', () => {
  it('reports a call with output: provider, model, ok, a first-token time within the duration', async () => {
    const calls: Call[] = [];
    const seen: ModelStreamEvent[] = [];
    const provider = meteredProvider(fakeProvider([{ type: 'text-delta', delta: 'hi' }]), {
      modelCall: (c) => calls.push(c),
    });
    expect(provider.kind).toBe('openai');
    await provider.streamStep(request, { onEvent: (e) => seen.push(e) });
    // Events still reach the caller.
    expect(seen).toEqual([{ type: 'text-delta', delta: 'hi' }]);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ provider: 'openai', model: 'gpt-x', outcome: 'ok' });
    expect(calls[0]!.firstTokenSeconds).not.toBeNull();
    expect(calls[0]!.firstTokenSeconds!).toBeLessThanOrEqual(calls[0]!.seconds);
  });

  it('reports no first token for a call that streamed none, and the failure kind of a failed call', async () => {
    const calls: Call[] = [];
    const metrics = { modelCall: (c: Call) => calls.push(c) };
    const overloaded = new LlmError({ kind: 'overloaded', provider: 'openai' });
    await expect(
      meteredProvider(fakeProvider([{ type: 'tool-call-delta', id: 'a', delta: '{' }], overloaded), metrics).streamStep(
        request,
        { onEvent: () => undefined },
      ),
    ).rejects.toBe(overloaded);
    await expect(
      meteredProvider(fakeProvider([], new Error('bug')), metrics).streamStep(request, { onEvent: () => undefined }),
    ).rejects.toThrow('bug');
    expect(calls.map((c) => [c.outcome, c.firstTokenSeconds])).toEqual([
      ['overloaded', null],
      ['unknown', null],
    ]);
  });
});
