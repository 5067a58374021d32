/**
 * The key-value config tables: site-wide rows (site_configs, e.g. the system prompt) and per-user
 * rows (user_configs, e.g. the custom prompt and compaction threshold overrides). Values are jsonb;
 * callers own their shapes and parse what they read.
 */
import { sql, type Kysely, type SelectQueryBuilder, type Transaction } from 'kysely';
import type { Database } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

/** The site config value under `key`, or undefined when it is not set. */
export async function getSiteConfig(db: Db, key: string): Promise<unknown> {
  const row = await db.selectFrom('site_configs').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value;
}

/** Sets (inserts or replaces) the site config value under `key`. */
export async function putSiteConfig(db: Db, key: string, value: unknown): Promise<void> {
  await db
    .insertInto('site_configs')
    .values({ key, value: JSON.stringify(value) })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: JSON.stringify(value), updated_at: sql<Date>`now()` }))
    .execute();
}

/** Removes the site config value under `key`; removing an unset key changes nothing. */
export async function deleteSiteConfig(db: Db, key: string): Promise<void> {
  await db.deleteFrom('site_configs').where('key', '=', key).execute();
}

/** The user's config value under `key`, or undefined when it is not set. */
export async function getUserConfig(db: Db, userId: string, key: string): Promise<unknown> {
  const row = await db
    .selectFrom('user_configs')
    .select('value')
    .where('user_id', '=', userId)
    .where('key', '=', key)
    .executeTakeFirst();
  return row?.value;
}

/** The user's config rows whose key starts with `prefix`, by key. */
export async function listUserConfigsByPrefix(
  db: Db,
  userId: string,
  prefix: string,
): Promise<Array<{ key: string; value: unknown }>> {
  // starts_with, not LIKE: a prefix containing % or _ must match literally.
  return db
    .selectFrom('user_configs')
    .select(['key', 'value'])
    .where('user_id', '=', userId)
    .where(sql<boolean>`starts_with(key, ${prefix})`)
    .orderBy('key')
    .execute();
}

/** Sets (inserts or replaces) the user's config value under `key`. */
export async function putUserConfig(db: Db, userId: string, key: string, value: unknown): Promise<void> {
  await db
    .insertInto('user_configs')
    .values({ user_id: userId, key, value: JSON.stringify(value) })
    .onConflict((oc) =>
      oc.columns(['user_id', 'key']).doUpdateSet({ value: JSON.stringify(value), updated_at: sql<Date>`now()` }),
    )
    .execute();
}

/** Removes the user's config value under `key`; returns whether a row was removed. */
export async function deleteUserConfig(db: Db, userId: string, key: string): Promise<boolean> {
  const result = await db
    .deleteFrom('user_configs')
    .where('user_id', '=', userId)
    .where('key', '=', key)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/**
 * The config generation as a query to embed (a scalar subquery) in a statement that runs anyway:
 * every write to the config tables increments it (see the config_generation migration).
 */
export function configGenerationQuery(
  db: Db,
): SelectQueryBuilder<Database, 'config_generation', { generation: number }> {
  return db.selectFrom('config_generation').select('generation');
}

/**
 * In one statement: the site config values under `siteKeys` (scope `site`) and the user's config rows
 * whose key is one of `userKeys` or starts with `userPrefix` (scope `user`).
 */
export async function listSiteAndUserConfigs(
  db: Db,
  siteKeys: string[],
  userId: string,
  userKeys: string[],
  userPrefix: string,
): Promise<Array<{ scope: 'site' | 'user'; key: string; value: unknown }>> {
  return db
    .selectFrom('site_configs')
    .select([sql<'site' | 'user'>`'site'`.as('scope'), 'key', 'value'])
    .where('key', 'in', siteKeys)
    .unionAll(
      db
        .selectFrom('user_configs')
        .select([sql<'site' | 'user'>`'user'`.as('scope'), 'key', 'value'])
        .where('user_id', '=', userId)
        .where((eb) => eb.or([eb('key', 'in', userKeys), sql<boolean>`starts_with(key, ${userPrefix})`])),
    )
    .execute();
}
