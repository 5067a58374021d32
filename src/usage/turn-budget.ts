/**
 * The budget check before every model call of a running turn (steps, compaction summaries, titles): once
 * the owner's spend in the current period reached their limit, the call is not made and the turn stops
 * with a `usage_limit` error (activities/failures.ts).
 *
 * Cheap by construction, per worker process:
 * - Limits are cached per config generation (src/turn/generation-cache.ts), which the step reads in its
 *   first statement anyway; limit writes move it (migration 2026_12_05_1300). While limits are disabled,
 *   or an owner has none, a check costs no statement at all.
 * - An owner's spend is read at most every `refreshMs` while more than `nearFraction` of the limit
 *   remains, and on every check once less does; in between, the costs of the calls this process made
 *   are added to it (`add`).
 *
 * Overshoot bound: a call starts only while the process's view of the spend is below the limit. Within
 * `nearFraction` of the limit that view is exact as of the check, so the overshoot is the cost of the
 * calls that were already running when the limit was crossed (one per running turn of the owner). Far
 * from the limit the view may miss what other processes spent in the last `refreshMs`; that matters only
 * if they spent more than `nearFraction` of the limit in that time.
 */
import type { Logger } from 'pino';
import { LruMap } from '../lru-map';
import { GenerationCache } from '../turn/generation-cache';
import {
  effectiveLimit,
  UsageLimitExceededError,
  type EffectiveLimit,
  type LimitSetting,
  type OwnerLimits,
} from './limits';
import { periodBounds } from './period';
import type { UsageStore } from './store';

export interface TurnBudgetOptions {
  /** Longest reuse of an owner's spend while far from their limit. */
  refreshMs: number;
  /** Below this share of the limit remaining, the spend is read before every call. Default 0.2. */
  nearFraction?: number;
  now?: () => Date;
  /** Owners whose limits and spend are kept at once (least recently used go first). Default 10,000. */
  maxOwners?: number;
}

/** An owner's spend as this process knows it. */
interface SpendView {
  /** Start of the period it was read for (ms). */
  periodStart: number;
  spent: number;
  readAt: number;
}

const SETTING = 'setting';

export class TurnBudget {
  private readonly settings = new GenerationCache<LimitSetting>(1);
  private readonly owners: GenerationCache<OwnerLimits>;
  private readonly spends: LruMap<string, SpendView>;
  private readonly now: () => Date;
  private readonly maxOwners: number;

  constructor(
    private readonly store: UsageStore,
    private readonly log: Logger,
    private readonly opts: TurnBudgetOptions,
  ) {
    this.now = opts.now ?? (() => new Date());
    this.maxOwners = opts.maxOwners ?? 10_000;
    this.owners = new GenerationCache<OwnerLimits>(this.maxOwners);
    this.spends = new LruMap(this.maxOwners);
  }

  /**
   * Throws UsageLimitExceededError when `ownerId`'s spend reached their limit; `configGeneration` is the
   * one the caller read (see step-settings.ts). A failed lookup is logged and lets the call go on.
   */
  async check(ownerId: string, configGeneration: number): Promise<void> {
    const exceeded = await this.exceeded(ownerId, configGeneration);
    if (exceeded) throw exceeded;
  }

  /** Like `check`, for calls that are skipped rather than failed (titles): false once the limit is reached. */
  async allows(ownerId: string, configGeneration: number): Promise<boolean> {
    return (await this.exceeded(ownerId, configGeneration)) === null;
  }

  /** Adds the cost of a call this process made for `ownerId` (null: unpriced) to what it knows of their spend. */
  add(ownerId: string, costMicros: number | null): void {
    const view = this.spends.get(ownerId);
    if (view && costMicros) view.spent += costMicros;
  }

  private async exceeded(ownerId: string, configGeneration: number): Promise<UsageLimitExceededError | null> {
    try {
      const limit = await this.limitFor(ownerId, configGeneration);
      if (!limit) return null;
      const now = this.now();
      const bounds = periodBounds(limit.period, now);
      let view = this.spends.get(ownerId);
      const reusable =
        view !== undefined &&
        view.periodStart === bounds.start.getTime() &&
        now.getTime() - view.readAt < this.opts.refreshMs &&
        limit.limitMicros - view.spent > (this.opts.nearFraction ?? 0.2) * limit.limitMicros;
      if (!reusable) {
        view = {
          periodStart: bounds.start.getTime(),
          spent: await this.store.readSpend(ownerId, bounds),
          readAt: now.getTime(),
        };
        this.spends.set(ownerId, view);
      }
      return view!.spent >= limit.limitMicros
        ? new UsageLimitExceededError(view!.spent, limit.limitMicros, bounds.end)
        : null;
    } catch (err) {
      this.log.warn({ err, ownerId }, 'spend limit lookup failed; the model call is allowed');
      return null;
    }
  }

  private async limitFor(ownerId: string, generation: number): Promise<EffectiveLimit | null> {
    const setting = this.settings.get(SETTING, generation);
    // Disabled: nobody is limited, and no owner's limits need reading.
    if (setting && !setting.enabled) return null;
    const owner = this.owners.get(ownerId, generation);
    if (setting && owner) return effectiveLimit(setting, owner);
    const loaded = await this.store.loadLimits(ownerId);
    this.settings.set(SETTING, generation, loaded.setting);
    this.owners.set(ownerId, generation, loaded.owner);
    return effectiveLimit(loaded.setting, loaded.owner);
  }
}
