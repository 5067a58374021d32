/**
 * Which spend limit applies to a user (their own, else the lowest of their groups', else the default;
 * none while limits are off) and how the 409 describes the refusal.
 */
import { effectiveLimit, formatUsd, UsageLimitExceededError, type LimitSetting } from '../../../src/usage/limits';

const on = (defaultLimitMicros: number | null): LimitSetting => ({
  enabled: true,
  defaultLimitMicros,
  period: 'week',
  updatedAt: null,
});

describe('effectiveLimit', () => {
  it.each([
    ['the user’s own limit over a lower group limit and the default', on(900), 500, 100, 500, 'user'],
    ['the group limit (already the lowest of the groups) over the default', on(900), null, 100, 100, 'group'],
    ['the default when the user has neither', on(900), null, null, 900, 'default'],
  ] as const)('takes %s', (_what, setting, user, group, limitMicros, source) => {
    expect(effectiveLimit(setting, { userLimitMicros: user, groupLimitMicros: group })).toEqual({
      limitMicros,
      source,
      period: 'week',
    });
  });

  it('is unlimited without any limit, and whenever limits are disabled', () => {
    expect(effectiveLimit(on(null), { userLimitMicros: null, groupLimitMicros: null })).toBeNull();
    const off = { ...on(900), enabled: false };
    expect(effectiveLimit(off, { userLimitMicros: 500, groupLimitMicros: 100 })).toBeNull();
  });
});

describe('UsageLimitExceededError', () => {
  it('is a 409 usage_limit_exceeded with the numbers in its details and message', () => {
    const err = new UsageLimitExceededError(1_500_000, 1_000_000, new Date('2026-03-16T00:00:00.000Z'));
    expect(err.status).toBe(409);
    expect(err.code).toBe('usage_limit_exceeded');
    expect(err.details).toEqual({
      spent_micros: 1_500_000,
      limit_micros: 1_000_000,
      resets_at: '2026-03-16T00:00:00.000Z',
    });
    expect(err.message).toBe('Chat usage limit exceeded: $1.50 of $1.00 spent; it resets at 2026-03-16T00:00:00.000Z.');
  });

  it.each([
    [0, '$0.00'],
    [1, '$0.000001'],
    [1_234, '$0.001234'],
    [1_230_000, '$1.23'],
    [1_234_500, '$1.2345'],
    [42_000_000, '$42.00'],
  ])('formats %i micro-dollars as %s', (micros, text) => {
    expect(formatUsd(micros)).toBe(text);
  });
});
