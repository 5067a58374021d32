/**
 * Spend limits and spend in the database: the deployment's limit setting, users' and groups' limits, a
 * user's spend in a window, and the usage records of title and compaction calls. Spend is the cost of the
 * user's chats' assistant messages (soft-deleted ones too: an edit refunds nothing) plus their usage
 * records; sub-agent chats belong to the same owner, so they count. One statement per function.
 */
import { sql, type Insertable, type Kysely, type Transaction } from 'kysely';
import { jsonObjectFrom } from 'kysely/helpers/postgres';
import type { ChatUsageRecordsTable, Database, UsagePeriod } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

/** The stored limit setting (no row: never saved) and a user's own and lowest group limit. */
export interface LimitRows {
  setting: { enabled: boolean; default_limit_micros: number | null; period: UsagePeriod; updated_at: Date } | null;
  userLimitMicros: number | null;
  groupLimitMicros: number | null;
}

/** The setting and `userId`'s limits, in one statement. */
export async function loadLimitRows(db: Db, userId: string): Promise<LimitRows> {
  const row = await db
    .selectNoFrom((eb) => [
      jsonObjectFrom(
        eb.selectFrom('chat_usage_limit_config').select(['enabled', 'default_limit_micros', 'period', 'updated_at']),
      ).as('setting'),
      eb.selectFrom('users').select('chat_spend_limit_micros').where('id', '=', userId).as('user_limit'),
      eb
        .selectFrom('group_members')
        .innerJoin('groups', 'groups.id', 'group_members.group_id')
        .select((e) => e.fn.min('groups.chat_spend_limit_micros').as('m'))
        .where('group_members.user_id', '=', userId)
        .as('group_limit'),
    ])
    .executeTakeFirstOrThrow();
  const setting = row.setting as
    (Omit<NonNullable<LimitRows['setting']>, 'updated_at'> & { updated_at: string }) | null;
  return {
    setting: setting && { ...setting, updated_at: new Date(setting.updated_at) },
    userLimitMicros: row.user_limit === null ? null : Number(row.user_limit),
    groupLimitMicros: row.group_limit === null ? null : Number(row.group_limit),
  };
}

/** The stored limit setting; undefined while it was never saved. */
export async function findLimitSetting(db: Db): Promise<LimitRows['setting'] | undefined> {
  return db
    .selectFrom('chat_usage_limit_config')
    .select(['enabled', 'default_limit_micros', 'period', 'updated_at'])
    .executeTakeFirst();
}

/** What `userId`'s chats cost in `[start, end)`: assistant messages (deleted ones too) and usage records. */
export async function readSpend(db: Db, userId: string, start: Date, end: Date): Promise<number> {
  const row = await db
    .selectNoFrom((eb) => [
      eb
        .selectFrom('chat_messages')
        .innerJoin('chats', 'chats.id', 'chat_messages.chat_id')
        .select(sql<number>`coalesce(sum(chat_messages.total_cost_micros), 0)::bigint`.as('s'))
        .where('chats.owner_id', '=', userId)
        .where('chat_messages.role', '=', 'assistant')
        .where('chat_messages.created_at', '>=', start)
        .where('chat_messages.created_at', '<', end)
        .as('messages'),
      eb
        .selectFrom('chat_usage_records')
        .innerJoin('chats', 'chats.id', 'chat_usage_records.chat_id')
        .select(sql<number>`coalesce(sum(chat_usage_records.total_cost_micros), 0)::bigint`.as('s'))
        .where('chats.owner_id', '=', userId)
        .where('chat_usage_records.created_at', '>=', start)
        .where('chat_usage_records.created_at', '<', end)
        .as('records'),
    ])
    .executeTakeFirstOrThrow();
  return Number(row.messages ?? 0) + Number(row.records ?? 0);
}

/** Whether the chat exists and `userId` owns it. */
export async function isChatOwnedBy(db: Db, chatId: string, userId: string): Promise<boolean> {
  const row = await db
    .selectFrom('chats')
    .select('id')
    .where('id', '=', chatId)
    .where('owner_id', '=', userId)
    .executeTakeFirst();
  return row !== undefined;
}

/** Stores the usage of one title or compaction call. */
export async function insertUsageRecord(db: Db, record: Insertable<ChatUsageRecordsTable>): Promise<void> {
  await db.insertInto('chat_usage_records').values(record).execute();
}

/**
 * A live config on the same provider as `modelConfigId` that names `model`, for pricing a call the
 * worker made on that model (the cheap title model); undefined when the deployment has none.
 */
export async function findSiblingModelConfig(
  db: Db,
  modelConfigId: string,
  model: string,
): Promise<{ id: string; options: Record<string, unknown> } | undefined> {
  return db
    .selectFrom('chat_model_configs as sibling')
    .innerJoin('chat_model_configs as own', 'own.provider_id', 'sibling.provider_id')
    .select(['sibling.id', 'sibling.options'])
    .where('own.id', '=', modelConfigId)
    .where('sibling.model', '=', model)
    .where('sibling.deleted', '=', false)
    .orderBy('sibling.enabled', 'desc')
    .orderBy('sibling.created_at')
    .limit(1)
    .executeTakeFirst();
}

/** Saves the limit setting (inserting the row the first time). */
export async function putLimitSetting(
  db: Db,
  setting: { enabled: boolean; default_limit_micros: number | null; period: UsagePeriod },
): Promise<void> {
  await db
    .insertInto('chat_usage_limit_config')
    .values({ singleton: true, ...setting })
    .onConflict((oc) => oc.column('singleton').doUpdateSet({ ...setting, updated_at: sql<Date>`now()` }))
    .execute();
}

/** Sets (a number) or clears (null) a user's limit; the user's row, or undefined when there is no such user. */
export async function setUserLimit(
  db: Db,
  userId: string,
  limitMicros: number | null,
): Promise<UserLimitRow | undefined> {
  return db
    .updateTable('users')
    .set({ chat_spend_limit_micros: limitMicros, updated_at: sql<Date>`now()` })
    .where('id', '=', userId)
    .returning(['id', 'username', 'name', 'chat_spend_limit_micros'])
    .executeTakeFirst();
}

/** A group's limit row as the admin API shows it. */
export interface GroupLimitRow {
  id: string;
  name: string;
  display_name: string;
  chat_spend_limit_micros: number | null;
  member_count: number | null;
}

/** A user's limit row as the admin API shows it. */
export interface UserLimitRow {
  id: string;
  username: string;
  name: string;
  chat_spend_limit_micros: number | null;
}

/** Sets or clears a group's limit; the group's row with its member count, or undefined when there is no such group. */
export async function setGroupLimit(
  db: Db,
  groupId: string,
  limitMicros: number | null,
): Promise<GroupLimitRow | undefined> {
  return db
    .with('updated', (w) =>
      w
        .updateTable('groups')
        .set({ chat_spend_limit_micros: limitMicros, updated_at: sql<Date>`now()` })
        .where('id', '=', groupId)
        .returning(['id', 'name', 'display_name', 'chat_spend_limit_micros']),
    )
    .selectFrom('updated')
    .select((eb) => [
      'updated.id',
      'updated.name',
      'updated.display_name',
      'updated.chat_spend_limit_micros',
      eb
        .selectFrom('group_members')
        .select(sql<number>`count(*)::int`.as('n'))
        .whereRef('group_members.group_id', '=', 'updated.id')
        .as('member_count'),
    ])
    .executeTakeFirst();
}

/** Users with a limit of their own, by username. */
export async function listUserLimits(db: Db): Promise<UserLimitRow[]> {
  return db
    .selectFrom('users')
    .select(['id', 'username', 'name', 'chat_spend_limit_micros'])
    .where('chat_spend_limit_micros', 'is not', null)
    .orderBy('username')
    .execute();
}

/** Groups with a limit, by name, with their member counts. */
export async function listGroupLimits(db: Db): Promise<GroupLimitRow[]> {
  return db
    .selectFrom('groups')
    .select((eb) => [
      'groups.id',
      'groups.name',
      'groups.display_name',
      'groups.chat_spend_limit_micros',
      eb
        .selectFrom('group_members')
        .select(sql<number>`count(*)::int`.as('n'))
        .whereRef('group_members.group_id', '=', 'groups.id')
        .as('member_count'),
    ])
    .where('chat_spend_limit_micros', 'is not', null)
    .orderBy('name')
    .execute();
}

/** The options of every live model config (to count the unpriced ones). */
export async function listLiveModelConfigOptions(db: Db): Promise<Array<{ options: Record<string, unknown> }>> {
  return db.selectFrom('chat_model_configs').select('options').where('deleted', '=', false).execute();
}
