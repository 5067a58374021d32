/**
 * The admin's side of spend limits: the deployment's setting (enabled, default limit, period) and the
 * per-user and per-group limits. Which one applies to a user is decided in src/usage/limits.ts; every
 * write here moves the config generation (database triggers), so running turns apply it at their next
 * model call, and this API process forgets its cached limits at once.
 */
import type { Kysely } from 'kysely';
import type { Database, UsagePeriod } from '../db/database';
import {
  findLimitSetting,
  listGroupLimits,
  listLiveModelConfigOptions,
  listUserLimits,
  putLimitSetting,
  setGroupLimit,
  setUserLimit,
} from '../db/repositories/usage.repository';
import { NotFoundError } from '../errors';
import { parsePrices } from '../turn/cost';
import type { SpendCheck } from '../usage/spend-check';
import { DISABLED_SETTING } from '../usage/limits';

/** What an unsaved setting reads as (see DISABLED_SETTING). */
const DISABLED_SETTING_ROW = {
  enabled: DISABLED_SETTING.enabled,
  period: DISABLED_SETTING.period,
  default_limit_micros: DISABLED_SETTING.defaultLimitMicros,
};

interface UsageAdminDeps {
  db: Kysely<Database>;
  usage?: SpendCheck;
}

/** A user with a limit of their own. */
export interface UserLimitDto {
  user_id: string;
  username: string;
  name: string;
  spend_limit_micros: number;
}

/** A group with a limit; its members without one of their own get the lowest of their groups'. */
export interface GroupLimitDto {
  group_id: string;
  group_name: string;
  group_display_name: string;
  member_count: number;
  spend_limit_micros: number;
}

/** GET /usage-limits. */
export interface UsageLimitConfigDto {
  enabled: boolean;
  period: UsagePeriod;
  /** The default limit; null when users without their own or a group's limit are not limited. */
  spend_limit_micros: number | null;
  /** Null while the setting was never saved. */
  updated_at: string | null;
  /** Live model configs without prices: their calls are unpriced and count nothing towards limits. */
  unpriced_model_count: number;
  overrides: UserLimitDto[];
  group_overrides: GroupLimitDto[];
}

/** The setting, every user and group limit, and how many model configs are unpriced. */
export async function getUsageLimitConfig(deps: UsageAdminDeps): Promise<UsageLimitConfigDto> {
  const [stored, users, groups, configs] = await Promise.all([
    findLimitSetting(deps.db),
    listUserLimits(deps.db),
    listGroupLimits(deps.db),
    listLiveModelConfigOptions(deps.db),
  ]);
  const setting = stored ?? { ...DISABLED_SETTING_ROW, updated_at: null };
  return {
    enabled: setting.enabled,
    period: setting.period,
    spend_limit_micros: setting.default_limit_micros,
    updated_at: setting.updated_at?.toISOString() ?? null,
    unpriced_model_count: configs.filter((c) => parsePrices(c.options) === null).length,
    overrides: users.map((u) => ({
      user_id: u.id,
      username: u.username,
      name: u.name,
      spend_limit_micros: u.chat_spend_limit_micros!,
    })),
    group_overrides: groups.map((g) => ({
      group_id: g.id,
      group_name: g.name,
      group_display_name: g.display_name,
      member_count: g.member_count ?? 0,
      spend_limit_micros: g.chat_spend_limit_micros!,
    })),
  };
}

/** Replaces the setting. */
export async function putUsageLimitConfig(
  deps: UsageAdminDeps,
  input: { enabled: boolean; period: UsagePeriod; spend_limit_micros?: number | null },
): Promise<UsageLimitConfigDto> {
  await putLimitSetting(deps.db, {
    enabled: input.enabled,
    period: input.period,
    default_limit_micros: input.spend_limit_micros ?? null,
  });
  deps.usage?.forget();
  return getUsageLimitConfig(deps);
}

/** Sets a user's own limit (it wins over their groups' and the default). NotFoundError for an unknown user. */
export async function putUserLimit(deps: UsageAdminDeps, userId: string, limitMicros: number): Promise<UserLimitDto> {
  const user = await setUserLimit(deps.db, userId, limitMicros);
  if (!user) throw new NotFoundError('user');
  deps.usage?.forget();
  return { user_id: user.id, username: user.username, name: user.name, spend_limit_micros: limitMicros };
}

/** Removes a user's own limit (also when there is none). NotFoundError for an unknown user. */
export async function deleteUserLimit(deps: UsageAdminDeps, userId: string): Promise<void> {
  if (!(await setUserLimit(deps.db, userId, null))) throw new NotFoundError('user');
  deps.usage?.forget();
}

/** Sets a group's limit. NotFoundError for an unknown group. */
export async function putGroupLimit(
  deps: UsageAdminDeps,
  groupId: string,
  limitMicros: number,
): Promise<GroupLimitDto> {
  const group = await setGroupLimit(deps.db, groupId, limitMicros);
  if (!group) throw new NotFoundError('group');
  deps.usage?.forget();
  return {
    group_id: group.id,
    group_name: group.name,
    group_display_name: group.display_name,
    member_count: group.member_count ?? 0,
    spend_limit_micros: limitMicros,
  };
}

/** Removes a group's limit (also when there is none). NotFoundError for an unknown group. */
export async function deleteGroupLimit(deps: UsageAdminDeps, groupId: string): Promise<void> {
  if (!(await setGroupLimit(deps.db, groupId, null))) throw new NotFoundError('group');
  deps.usage?.forget();
}
