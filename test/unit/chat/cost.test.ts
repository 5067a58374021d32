/**
 * Step cost in micro-dollars (src/turn/cost.ts). The rules that matter for billing and
 * usage limits: unpriced is null and never 0, the arithmetic is exact decimal with one ceil at the end, and
 * reasoning tokens are not charged twice.
 */
import { calculateCostMicros, parsePrices, type ModelPrices } from '../../../src/turn/cost';
import { emptyUsage, type Usage } from '../../../src/llm/types';

const usage = (overrides: Partial<Usage>): Usage => ({ ...emptyUsage(), ...overrides });

const ALL_PRICES: ModelPrices = {
  input_price_per_million_tokens: 3,
  output_price_per_million_tokens: 15,
  cache_read_price_per_million_tokens: 0.3,
  cache_write_price_per_million_tokens: 3.75,
};

describe('calculateCostMicros', () => {
  describe('returns null (unpriced, not free)', () => {
    it.each<[string, Usage, ModelPrices | null]>([
      ['when the model has no prices at all', usage({ inputTokens: 1000, outputTokens: 10 }), null],
      ['when the cost block is empty', usage({ inputTokens: 1000, outputTokens: 10 }), {}],
      [
        'when every price is null',
        usage({ inputTokens: 1000, outputTokens: 10 }),
        {
          input_price_per_million_tokens: null,
          output_price_per_million_tokens: null,
          cache_read_price_per_million_tokens: null,
          cache_write_price_per_million_tokens: null,
        },
      ],
      ['when every usage count is null', emptyUsage(), ALL_PRICES],
      [
        'when no category has both a count and a price',
        usage({ inputTokens: 1000, cacheReadTokens: 50 }),
        { output_price_per_million_tokens: 15, cache_write_price_per_million_tokens: 3.75 },
      ],
      [
        'when prices are malformed or negative',
        usage({ inputTokens: 1000, outputTokens: 10 }),
        { input_price_per_million_tokens: 'cheap', output_price_per_million_tokens: -1 },
      ],
      ['when only reasoning tokens are reported', usage({ reasoningTokens: 500 }), ALL_PRICES],
    ])('%s', (_name, u, prices) => {
      expect(calculateCostMicros(u, prices)).toBeNull();
    });
  });

  it.each<[string, Usage, ModelPrices, number]>([
    // A reported zero is a real measurement: it prices to 0, which differs from null (not measured).
    ['zero usage with a price costs 0', usage({ inputTokens: 0, outputTokens: 0 }), ALL_PRICES, 0],
    ['a zero price costs 0', usage({ inputTokens: 1000 }), { input_price_per_million_tokens: 0 }, 0],
    // 1,234,567 × 3.75 + 89 × 15 = 4,629,626.25 + 1,335 = 4,630,961.25 → ceil.
    [
      'multiplies tokens by USD per million exactly and rounds the sum up',
      usage({ inputTokens: 1_234_567, outputTokens: 89 }),
      { input_price_per_million_tokens: 3.75, output_price_per_million_tokens: 15 },
      4_630_962,
    ],
    // In floating point 100 × 0.07 is 7.000000000000001, which a float ceil would bill as 8.
    ['has no floating-point drift', usage({ inputTokens: 100 }), { input_price_per_million_tokens: 0.07 }, 7],
    // 1,000,001 × 0.075 = 75,000.075 → 75,001; the remainder is far below one micro but still rounds up.
    ['rounds any fraction up', usage({ inputTokens: 1_000_001 }), { input_price_per_million_tokens: '0.075' }, 75_001],
    [
      'rounds once, after summing categories',
      // 1 × 0.5 + 1 × 0.5 = 1 exactly; rounding each term first would give 2.
      usage({ inputTokens: 1, outputTokens: 1 }),
      { input_price_per_million_tokens: 0.5, output_price_per_million_tokens: 0.5 },
      1,
    ],
    [
      'charges all four categories, cache creation at the cache-write price',
      // 1000 × 3 + 200 × 15 + 4000 × 0.3 + 2000 × 3.75 = 3000 + 3000 + 1200 + 7500
      usage({ inputTokens: 1000, outputTokens: 200, cacheReadTokens: 4000, cacheCreationTokens: 2000 }),
      ALL_PRICES,
      14_700,
    ],
    [
      'does not charge reasoning tokens on top of output',
      usage({ inputTokens: 1000, outputTokens: 200, reasoningTokens: 150 }),
      ALL_PRICES,
      6000,
    ],
    [
      'charges only the categories that are priced',
      usage({ inputTokens: 1000, outputTokens: 200, cacheReadTokens: 4000 }),
      { input_price_per_million_tokens: 3 },
      3000,
    ],
    [
      'ignores a total that the categories do not explain',
      usage({ inputTokens: 10, totalTokens: 1_000_000 }),
      { input_price_per_million_tokens: 1 },
      10,
    ],
    [
      'accepts decimal strings with many places',
      usage({ inputTokens: 3, outputTokens: 7 }),
      { input_price_per_million_tokens: '0.000001', output_price_per_million_tokens: '12.3456789' },
      87,
    ],
    [
      'accepts exponent notation',
      // String(1e-7) is '1e-7'.
      usage({ inputTokens: 20_000_000 }),
      { input_price_per_million_tokens: 1e-7 },
      2,
    ],
  ])('%s', (_name, u, prices, expected) => {
    expect(calculateCostMicros(u, prices)).toBe(expected);
  });
});

describe('parsePrices', () => {
  it('reads the cost block', () => {
    expect(parsePrices({ cost: { input_price_per_million_tokens: 3, output_price_per_million_tokens: '15' } })).toEqual(
      { input_price_per_million_tokens: 3, output_price_per_million_tokens: '15' },
    );
  });

  // Older model configs stored the prices next to the call options instead of under `cost`.
  it('accepts legacy top-level keys', () => {
    const prices = parsePrices({ input_price_per_million_tokens: 0.15, cache_read_price_per_million_tokens: 0.075 });
    expect(prices).toEqual({ input_price_per_million_tokens: 0.15, cache_read_price_per_million_tokens: 0.075 });
    expect(calculateCostMicros(usage({ inputTokens: 1_000_000, cacheReadTokens: 1_000_000 }), prices)).toBe(225_000);
  });

  it('prefers the cost block over a legacy key for the same category', () => {
    expect(
      parsePrices({
        cost: { input_price_per_million_tokens: 2 },
        input_price_per_million_tokens: 9,
        output_price_per_million_tokens: 8,
      }),
    ).toEqual({ input_price_per_million_tokens: 2, output_price_per_million_tokens: 8 });
  });

  it.each<[string, Record<string, unknown>]>([
    ['no cost configuration', { call_options: { temperature: 0.2 } }],
    [
      'a cost block of nulls',
      { cost: { input_price_per_million_tokens: null, output_price_per_million_tokens: null } },
    ],
    ['a cost block that is not an object', { cost: 'free' }],
    ['invalid values only', { cost: { input_price_per_million_tokens: 'n/a', output_price_per_million_tokens: -2 } }],
  ])('returns null for %s', (_name, options) => {
    expect(parsePrices(options)).toBeNull();
  });
});
