/**
 * The reads spend checks make, behind a small interface: PostgreSQL in production, a stand-in in tests
 * (a failing one proves the checks fail open). Each read is one statement.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import { isChatOwnedBy, loadLimitRows, readSpend } from '../db/repositories/usage.repository';
import { DISABLED_SETTING, type LimitSetting, type OwnerLimits } from './limits';
import type { PeriodBounds } from './period';

export interface UsageStore {
  /** The deployment's setting and the user's own limits. */
  loadLimits(userId: string): Promise<{ setting: LimitSetting; owner: OwnerLimits }>;
  /** What the user's chats cost in the window. */
  readSpend(userId: string, window: PeriodBounds): Promise<number>;
  /** Whether the chat exists and the user owns it. */
  chatOwnedBy(chatId: string, userId: string): Promise<boolean>;
}

/** The store over chatd's database. */
export function pgUsageStore(db: Kysely<Database>): UsageStore {
  return {
    async loadLimits(userId) {
      const rows = await loadLimitRows(db, userId);
      const setting: LimitSetting = rows.setting
        ? {
            enabled: rows.setting.enabled,
            defaultLimitMicros: rows.setting.default_limit_micros,
            period: rows.setting.period,
            updatedAt: rows.setting.updated_at,
          }
        : DISABLED_SETTING;
      return { setting, owner: { userLimitMicros: rows.userLimitMicros, groupLimitMicros: rows.groupLimitMicros } };
    },
    readSpend: (userId, window) => readSpend(db, userId, window.start, window.end),
    chatOwnedBy: (chatId, userId) => isChatOwnedBy(db, chatId, userId),
  };
}
