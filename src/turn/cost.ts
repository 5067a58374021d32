/**
 * The price of one model step in micro-dollars: token counts × the model config's
 * USD-per-million prices. Kept pure and separate because "unpriced" (null) must never collapse into 0, and
 * because the arithmetic is exact: prices are decimals like 0.075 or 3.75, so the sum is done over scaled
 * BigInts and only the final ceil becomes a number.
 */
import type { Usage } from '../llm/types';

/** A price as stored in a model config: a JSON number or a decimal string; null/absent = not priced. */
export type PriceValue = number | string | null | undefined;

/** USD per one million tokens, per usage category (the `cost` block of `chat_model_configs.options`). */
export interface ModelPrices {
  input_price_per_million_tokens?: PriceValue;
  output_price_per_million_tokens?: PriceValue;
  cache_read_price_per_million_tokens?: PriceValue;
  cache_write_price_per_million_tokens?: PriceValue;
}

const PRICE_KEYS = [
  'input_price_per_million_tokens',
  'output_price_per_million_tokens',
  'cache_read_price_per_million_tokens',
  'cache_write_price_per_million_tokens',
] as const satisfies ReadonlyArray<keyof ModelPrices>;

/** A non-negative decimal as `units / 10^scale`, so sums of them are exact. */
interface Decimal {
  units: bigint;
  scale: number;
}

// Digits with an optional fraction and exponent; `String(number)` produces this shape (e.g. `1e-7`, `3.75`).
const DECIMAL_PATTERN = /^\+?(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i;

/** Parses a price; null for absent, negative, non-finite or malformed values (treated as "not priced"). */
function toDecimal(value: PriceValue): Decimal | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' && (!Number.isFinite(value) || value < 0)) return null;
  const text = typeof value === 'number' ? String(value) : value.trim();
  const match = DECIMAL_PATTERN.exec(text);
  if (!match) return null;
  const whole = match[1] ?? '';
  const fraction = match[2] ?? '';
  if (whole === '' && fraction === '') return null;
  const exponent = Number(match[3] ?? '0');
  // Guards against absurd exponents in strings ("1e999999") that would build huge BigInts.
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 100) return null;
  let units = BigInt(`${whole}${fraction}` || '0');
  let scale = fraction.length - exponent;
  if (scale < 0) {
    units *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { units, scale };
}

/** A token count usable for pricing: a finite, non-negative integer. */
function toTokens(count: number | null): bigint | null {
  if (count === null || !Number.isSafeInteger(count) || count < 0) return null;
  return BigInt(count);
}

/**
 * Reads the prices of a model config's `options`: the `cost` block, with legacy top-level keys
 * (`options.input_price_per_million_tokens`, …) accepted for any category the block does not price.
 * Returns null when no category carries a valid price, so callers can store "unpriced".
 */
export function parsePrices(options: Record<string, unknown>): ModelPrices | null {
  const block = options.cost;
  const cost =
    typeof block === 'object' && block !== null && !Array.isArray(block) ? (block as Record<string, unknown>) : {};
  const prices: ModelPrices = {};
  let priced = false;
  for (const key of PRICE_KEYS) {
    const fromBlock = asPrice(cost[key]);
    const value = fromBlock ?? asPrice(options[key]);
    if (value === null) continue;
    prices[key] = value;
    priced = true;
  }
  return priced ? prices : null;
}

/** Keeps a raw JSON value only if it is a valid price, in its original form (number or decimal string). */
function asPrice(raw: unknown): number | string | null {
  if (typeof raw !== 'number' && typeof raw !== 'string') return null;
  return toDecimal(raw) === null ? null : raw;
}

/**
 * Micro-dollars for one step's usage: Σ tokens × price over input, output, cache read and cache write
 * (`cacheCreationTokens`). Tokens × USD per million tokens is exactly micro-USD. Reasoning tokens are not
 * added: providers already count them in output. The exact sum is rounded up to an integer.
 *
 * Returns null, meaning "unpriced" (which is not the same as free), when there are no prices, or no usage
 * category has both a reported count and a valid price. A reported count of 0 with a price costs 0.
 */
export function calculateCostMicros(usage: Usage, prices: ModelPrices | null): number | null {
  if (prices === null) return null;
  const terms: Array<[number | null, PriceValue]> = [
    [usage.inputTokens, prices.input_price_per_million_tokens],
    [usage.outputTokens, prices.output_price_per_million_tokens],
    [usage.cacheReadTokens, prices.cache_read_price_per_million_tokens],
    [usage.cacheCreationTokens, prices.cache_write_price_per_million_tokens],
  ];

  const products: Decimal[] = [];
  for (const [count, price] of terms) {
    const tokens = toTokens(count);
    const decimal = toDecimal(price);
    if (tokens === null || decimal === null) continue;
    products.push({ units: tokens * decimal.units, scale: decimal.scale });
  }
  if (products.length === 0) return null;

  const scale = Math.max(...products.map((p) => p.scale));
  const sum = products.reduce((acc, p) => acc + p.units * 10n ** BigInt(scale - p.scale), 0n);
  const divisor = 10n ** BigInt(scale);
  // Ceil for a non-negative sum: round the quotient up whenever there is a remainder.
  const micros = sum / divisor + (sum % divisor === 0n ? 0n : 1n);
  return Number(micros);
}
