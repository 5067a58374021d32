/**
 * The spend check of the requests that start model work (create a chat, send, queue, edit, promote,
 * spawn a sub-agent): a 409 `usage_limit_exceeded` once the period's spend reached the user's limit,
 * before anything is written. Fail-open: a lookup that fails is logged and the request goes through.
 *
 * Cheap for users without a limit: the setting and each user's limits are kept in memory for
 * `cacheMs` (limit writes through this process forget them at once; other API processes see them
 * within `cacheMs`, and running turns at their next model call, see turn-budget.ts). The spend of a
 * limited user is read fresh on every check.
 */
import type { Logger } from 'pino';
import { NotFoundError } from '../errors';
import { LruMap } from '../lru-map';
import {
  effectiveLimit,
  UsageLimitExceededError,
  type EffectiveLimit,
  type LimitSetting,
  type OwnerLimits,
} from './limits';
import { periodBounds, type UsagePeriod } from './period';
import type { UsageStore } from './store';

export interface SpendCheckOptions {
  /** How long a setting or a user's limits read by this process are reused; 0 reads them on every check. */
  cacheMs: number;
  now?: () => Date;
  /** Users whose limits are kept at once (least recently used go first). */
  maxUsers?: number;
}

/** A user's limit and spend in the current period (GET /usage-limits/status). */
export interface UsageStatusDto {
  is_limited: boolean;
  period: UsagePeriod | null;
  spend_limit_micros: number | null;
  /** `user` (their own), `group` (the lowest of their groups') or `default`; null when not limited. */
  limit_source: EffectiveLimit['source'] | null;
  current_spend: number;
  period_start: string | null;
  period_end: string | null;
}

interface Cached<T> {
  value: T;
  at: number;
}

export class SpendCheck {
  private setting: Cached<LimitSetting> | null = null;
  private readonly owners: LruMap<string, Cached<OwnerLimits>>;
  private readonly now: () => Date;

  constructor(
    private readonly store: UsageStore,
    private readonly log: Logger,
    private readonly opts: SpendCheckOptions,
  ) {
    this.now = opts.now ?? (() => new Date());
    this.owners = new LruMap(opts.maxUsers ?? 10_000);
  }

  /**
   * Throws UsageLimitExceededError when `userId` has a limit and the current period's spend reached it.
   * With `chatId`, a chat the user does not own is a NotFoundError first, as the request would have been.
   * Never throws for a failed lookup.
   */
  async assertWithinLimit(userId: string, chatId?: string): Promise<void> {
    let exceeded: UsageLimitExceededError | null;
    try {
      exceeded = await this.exceeded(userId);
    } catch (err) {
      this.log.warn({ err, userId }, 'spend limit lookup failed; the request is allowed');
      return;
    }
    if (!exceeded) return;
    if (chatId !== undefined && !(await this.store.chatOwnedBy(chatId, userId).catch(() => true))) {
      throw new NotFoundError('chat');
    }
    throw exceeded;
  }

  /** The user's limit and spend now, read fresh. */
  async status(userId: string): Promise<UsageStatusDto> {
    const { setting, owner } = await this.store.loadLimits(userId);
    const limit = effectiveLimit(setting, owner);
    // Unlimited users still see their spend, over the period the setting names.
    const bounds = periodBounds(limit?.period ?? setting.period, this.now());
    return {
      is_limited: limit !== null,
      period: limit?.period ?? null,
      spend_limit_micros: limit?.limitMicros ?? null,
      limit_source: limit?.source ?? null,
      current_spend: await this.store.readSpend(userId, bounds),
      period_start: limit ? bounds.start.toISOString() : null,
      period_end: limit ? bounds.end.toISOString() : null,
    };
  }

  /** Forgets every cached setting and limit (this process just changed one). */
  forget(): void {
    this.setting = null;
    this.owners.clear();
  }

  private async exceeded(userId: string): Promise<UsageLimitExceededError | null> {
    const limit = await this.limitFor(userId);
    if (!limit) return null;
    const bounds = periodBounds(limit.period, this.now());
    const spent = await this.store.readSpend(userId, bounds);
    return spent >= limit.limitMicros ? new UsageLimitExceededError(spent, limit.limitMicros, bounds.end) : null;
  }

  private async limitFor(userId: string): Promise<EffectiveLimit | null> {
    const at = this.now().getTime();
    const fresh = <T>(c: Cached<T> | null | undefined): c is Cached<T> => !!c && at - c.at < this.opts.cacheMs;
    // Disabled: nobody is limited, and no user's limits need reading.
    if (fresh(this.setting) && !this.setting.value.enabled) return null;
    const owner = this.owners.get(userId);
    if (fresh(this.setting) && fresh(owner)) return effectiveLimit(this.setting.value, owner.value);
    const loaded = await this.store.loadLimits(userId);
    this.setting = { value: loaded.setting, at };
    this.owners.set(userId, { value: loaded.owner, at });
    return effectiveLimit(loaded.setting, loaded.owner);
  }
}
