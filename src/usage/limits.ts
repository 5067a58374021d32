/**
 * Spend limits as data: which limit applies to a user (their own, else the lowest of their groups', else
 * the deployment's default; none at all while limits are disabled), and the error a request or a model
 * call gets once the period's spend reached it. Pure, shared by the API's checks (spend-check.ts) and the
 * worker's (turn-budget.ts).
 */
import { ConflictError } from '../errors';
import type { UsagePeriod } from './period';

/** The deployment's setting (chat_usage_limit_config); no row reads as disabled, monthly, no default. */
export interface LimitSetting {
  enabled: boolean;
  /** Null: no default limit, only users with their own or a group's limit are limited. */
  defaultLimitMicros: number | null;
  period: UsagePeriod;
  /** Null while the setting was never saved. */
  updatedAt: Date | null;
}

export const DISABLED_SETTING: LimitSetting = {
  enabled: false,
  defaultLimitMicros: null,
  period: 'month',
  updatedAt: null,
};

/** The limits a user has of their own: their override and the lowest limit among their groups. */
export interface OwnerLimits {
  userLimitMicros: number | null;
  groupLimitMicros: number | null;
}

/** Where a user's limit comes from. */
export type LimitSource = 'user' | 'group' | 'default';

export interface EffectiveLimit {
  limitMicros: number;
  period: UsagePeriod;
  source: LimitSource;
}

/**
 * The limit that applies to a user, or null for "unlimited": limits are disabled, or neither the user,
 * nor any of their groups, nor the default has one. The user's own limit wins even when a group's is
 * lower; among groups the lowest wins.
 */
export function effectiveLimit(setting: LimitSetting, owner: OwnerLimits): EffectiveLimit | null {
  if (!setting.enabled) return null;
  const { period } = setting;
  if (owner.userLimitMicros !== null) return { limitMicros: owner.userLimitMicros, period, source: 'user' };
  if (owner.groupLimitMicros !== null) return { limitMicros: owner.groupLimitMicros, period, source: 'group' };
  if (setting.defaultLimitMicros !== null)
    return { limitMicros: setting.defaultLimitMicros, period, source: 'default' };
  return null;
}

/** Micro-dollars as dollars for messages: at least two decimals, up to six, no trailing zeros beyond two. */
export function formatUsd(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(Math.trunc(micros));
  const dollars = Math.floor(abs / 1_000_000);
  const fraction = String(abs % 1_000_000)
    .padStart(6, '0')
    .replace(/0{1,4}$/, '');
  return `${sign}$${dollars}.${fraction.padEnd(2, '0')}`;
}

/**
 * The period's spend reached the user's limit: HTTP 409 `usage_limit_exceeded` with the numbers in
 * `details`; in a turn, a non-retryable `usage_limit` failure (activities/failures.ts). Nothing was written.
 */
export class UsageLimitExceededError extends ConflictError {
  constructor(
    readonly spentMicros: number,
    readonly limitMicros: number,
    readonly resetsAt: Date,
  ) {
    super(
      'usage_limit_exceeded',
      `Chat usage limit exceeded: ${formatUsd(spentMicros)} of ${formatUsd(limitMicros)} spent; ` +
        `it resets at ${resetsAt.toISOString()}.`,
      { spent_micros: spentMicros, limit_micros: limitMicros, resets_at: resetsAt.toISOString() },
    );
  }
}
