/**
 * The pure half of compaction (src/turn/compaction.ts): which threshold applies, how
 * full the context is, when to compact, and the exact shape of the three persisted messages. The provider
 * call is covered against the fake server in test/activities/chat/compaction.activity.test.ts.
 */
import {
  buildCompactionMessages,
  compactionThresholdKey,
  contextTokens,
  DEFAULT_COMPACTION_THRESHOLD_PERCENT,
  effectiveContextLimit,
  measureContext,
  resolveThreshold,
  shouldCompact,
  SUMMARY_PREFIX,
  SUMMARY_PROMPT,
  summaryCallId,
  summaryToolCallPart,
  usagePercent,
} from '../../../src/turn/compaction';
import { emptyUsage, type Usage } from '../../../src/llm/types';

const usage = (overrides: Partial<Usage>): Usage => ({ ...emptyUsage(), ...overrides });

describe('resolveThreshold', () => {
  it.each<[string, number, number | null, number]>([
    ['uses the model config value without a user override', 55, null, 55],
    ['lets a user override win over the model config', 55, 80, 80],
    ['accepts a user override of 0 (compact after every step)', 70, 0, 0],
    ['accepts a user override of 100 (disabled)', 70, 100, 100],
    ['ignores a user override above 100', 60, 150, 60],
    ['ignores a negative user override', 60, -5, 60],
    ['ignores a non-finite user override', 60, Number.NaN, 60],
    ['falls back to the default for an invalid model value', 250, null, DEFAULT_COMPACTION_THRESHOLD_PERCENT],
  ])('%s', (_name, modelDefault, override, expected) => {
    expect(resolveThreshold(modelDefault, override)).toBe(expected);
  });

  it('defaults to 70 %', () => {
    expect(DEFAULT_COMPACTION_THRESHOLD_PERCENT).toBe(70);
  });

  it('names the per-model user config key', () => {
    expect(compactionThresholdKey('8d0c…')).toBe('chat_compaction_threshold_pct:8d0c…');
  });
});

describe('contextTokens', () => {
  it.each<[string, Partial<Usage>, number | null]>([
    // inputTokens excludes cached tokens, so the prompt is the sum of the three.
    [
      'adds cache read and cache creation to input',
      { inputTokens: 1000, cacheReadTokens: 5000, cacheCreationTokens: 200 },
      6200,
    ],
    ['treats unreported categories as 0 when one is reported', { cacheReadTokens: 4000 }, 4000],
    ['ignores output and reasoning tokens', { inputTokens: 100, outputTokens: 900, reasoningTokens: 800 }, 100],
    [
      'falls back to total tokens when no prompt category is reported',
      { totalTokens: 12_345, outputTokens: 45 },
      12_345,
    ],
    ['is null when nothing is reported', {}, null],
  ])('%s', (_name, u, expected) => {
    expect(contextTokens(usage(u))).toBe(expected);
  });
});

describe('effectiveContextLimit', () => {
  it.each<[string, number | null | undefined, number | null | undefined, number]>([
    ['prefers the provider-reported window', 200_000, 128_000, 200_000],
    ['uses the model config limit when the provider reports none', undefined, 128_000, 128_000],
    ['uses the fallback when neither is known', null, null, 100_000],
    ['skips non-positive values', 0, -1, 100_000],
  ])('%s', (_name, reported, config, expected) => {
    expect(effectiveContextLimit(reported, config, 100_000)).toBe(expected);
  });
});

describe('usagePercent and measureContext', () => {
  it('computes percent of the window', () => {
    expect(usagePercent(50_000, 200_000)).toBe(25);
  });

  it('is null for unknown tokens or an unusable limit', () => {
    expect(usagePercent(null, 200_000)).toBeNull();
    expect(usagePercent(1000, 0)).toBeNull();
  });

  // A conversation served mostly from the prompt cache reports small input counts; ignoring the cache
  // would keep the meter near zero until the provider rejects the request for length.
  it('counts cached tokens toward the context', () => {
    const measured = measureContext(
      usage({ inputTokens: 2_000, cacheReadTokens: 140_000, cacheCreationTokens: 3_000, outputTokens: 500 }),
      200_000,
    );
    expect(measured).toEqual({ contextTokens: 145_000, contextLimit: 200_000, usagePercent: 72.5 });
  });

  it('is null when the step reported no token counts', () => {
    expect(measureContext(emptyUsage(), 200_000)).toBeNull();
  });
});

describe('shouldCompact', () => {
  it.each<[string, number | null, number, boolean]>([
    ['does not compact below the threshold', 69.99, 70, false],
    ['compacts exactly at the threshold', 70, 70, true],
    ['compacts above the threshold', 91, 70, true],
    ['never compacts when the threshold is 100', 150, 100, false],
    ['never compacts when usage is unknown', null, 70, false],
    ['compacts at any usage with a threshold of 0', 0.1, 0, true],
  ])('%s', (_name, percent, threshold, expected) => {
    expect(shouldCompact(percent, threshold)).toBe(expected);
  });

  it('does not compact a measured step below the threshold', () => {
    const measured = measureContext(usage({ inputTokens: 60_000, cacheReadTokens: 9_000 }), 100_000);
    expect(shouldCompact(measured?.usagePercent ?? null, resolveThreshold(70, null))).toBe(false);
  });
});

describe('buildCompactionMessages', () => {
  const callId = summaryCallId('5b1e6a6e-51a1-4a4e-9f4c-0d3d2c7b9a11');
  const [summaryMessage, callMessage, resultMessage] = buildCompactionMessages({
    summary: 'Goal: port the parser.\nNext: run the tests.',
    thresholdPercent: 70,
    usagePercent: 72.5,
    contextTokens: 145_000,
    contextLimit: 200_000,
    callId,
  });

  it('uses the chat_summarized_<uuid> call id', () => {
    expect(callId).toBe('chat_summarized_5b1e6a6e-51a1-4a4e-9f4c-0d3d2c7b9a11');
  });

  // The model reads this message in place of the history; users never see it.
  it('hides the prefixed summary from users (visibility model)', () => {
    expect(summaryMessage).toEqual({
      role: 'user',
      visibility: 'model',
      compressed: true,
      content: [{ type: 'text', text: `${SUMMARY_PREFIX}\n\nGoal: port the parser.\nNext: run the tests.` }],
    });
  });

  it('shows users an assistant chat_summarized tool call (visibility user)', () => {
    expect(callMessage).toEqual({
      role: 'assistant',
      visibility: 'user',
      compressed: true,
      content: [
        {
          type: 'tool-call',
          tool_call_id: callId,
          tool_name: 'chat_summarized',
          args: { source: 'automatic', threshold_percent: 70 },
        },
      ],
    });
  });

  it('records the summary and measurements in the tool result (visibility both)', () => {
    expect(resultMessage).toEqual({
      role: 'tool',
      visibility: 'both',
      compressed: true,
      content: [
        {
          type: 'tool-result',
          tool_call_id: callId,
          tool_name: 'chat_summarized',
          result: {
            summary: 'Goal: port the parser.\nNext: run the tests.',
            source: 'automatic',
            threshold_percent: 70,
            usage_percent: 72.5,
            context_tokens: 145_000,
            context_limit_tokens: 200_000,
          },
        },
      ],
    });
  });

  // The part published before the summary call must match the persisted one, or the UI shows two calls.
  it('publishes the same tool-call part it persists', () => {
    expect(summaryToolCallPart(callId, 70)).toEqual(callMessage.content[0]);
  });
});

describe('prompts', () => {
  it('tells the model the summary is unfinished work to continue', () => {
    expect(SUMMARY_PREFIX).toBe(
      'Earlier turns of this conversation were condensed into the handoff notes below to free context. ' +
        'You were in the middle of this work: pick it up where the notes leave off.',
    );
  });

  it('asks for a continuation brief covering goals, decisions, files, commands, state and next steps', () => {
    for (const topic of ['Goals', 'Decisions', 'Files', 'Commands', 'Current state', 'Next steps']) {
      expect(SUMMARY_PROMPT).toContain(topic);
    }
  });
});
