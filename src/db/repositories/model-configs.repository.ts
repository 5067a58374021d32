/**
 * Providers and model configs. A model config is always read together with its provider, since a
 * turn needs both (endpoint, key, model, limits, prices).
 */
import { sql, type Kysely, type Selectable, type Transaction, type Updateable } from 'kysely';
import type {
  ChatModelConfigRow,
  ChatModelConfigsTable,
  ChatProviderRow,
  ChatProvidersTable,
  Database,
  ProviderName,
} from '../database';

type Db = Kysely<Database> | Transaction<Database>;

export interface ModelConfigWithProvider {
  config: ChatModelConfigRow;
  provider: Selectable<ChatProvidersTable>;
}

export async function insertProvider(
  db: Db,
  row: {
    provider: ProviderName;
    displayName: string;
    baseUrl: string | null;
    apiMode: 'responses' | 'chat' | null;
    /** Sealed for baseUrl (src/security/provider-keys.ts); `baseUrl` is the URL it is bound to. */
    apiKey: { ciphertext: Buffer; keyId: string; baseUrl: string } | null;
    /** Defaults to true. */
    enabled?: boolean;
    createdBy: string | null;
  },
): Promise<ChatProviderRow> {
  return db
    .insertInto('chat_providers')
    .values({
      provider: row.provider,
      display_name: row.displayName,
      base_url: row.baseUrl,
      api_mode: row.apiMode,
      api_key_ciphertext: row.apiKey?.ciphertext ?? null,
      api_key_key_id: row.apiKey?.keyId ?? null,
      api_key_base_url: row.apiKey?.baseUrl ?? null,
      ...(row.enabled !== undefined ? { enabled: row.enabled } : {}),
      created_by: row.createdBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function insertModelConfig(
  db: Db,
  row: {
    providerId: string;
    model: string;
    displayName: string;
    isDefault: boolean;
    /** Defaults to true. */
    enabled?: boolean;
    contextLimit: number;
    compressionThreshold: number;
    options: Record<string, unknown>;
    /** Defaults to none. */
    fallbackModelConfigId?: string | null;
    createdBy: string | null;
  },
): Promise<ChatModelConfigRow> {
  return db
    .insertInto('chat_model_configs')
    .values({
      provider_id: row.providerId,
      model: row.model,
      display_name: row.displayName,
      is_default: row.isDefault,
      ...(row.enabled !== undefined ? { enabled: row.enabled } : {}),
      context_limit: row.contextLimit,
      compression_threshold: row.compressionThreshold,
      options: JSON.stringify(row.options),
      ...(row.fallbackModelConfigId ? { fallback_model_config_id: row.fallbackModelConfigId } : {}),
      created_by: row.createdBy,
      updated_by: row.createdBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findDefaultModelConfig(db: Db): Promise<ChatModelConfigRow | undefined> {
  return db
    .selectFrom('chat_model_configs')
    .selectAll()
    .where('is_default', '=', true)
    .where('deleted', '=', false)
    .where('enabled', '=', true)
    .executeTakeFirst();
}

export async function findModelConfig(db: Db, id: string): Promise<ChatModelConfigRow | undefined> {
  return db.selectFrom('chat_model_configs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findModelConfigWithProvider(db: Db, id: string): Promise<ModelConfigWithProvider | undefined> {
  const config = await findModelConfig(db, id);
  if (!config) return undefined;
  const provider = await db
    .selectFrom('chat_providers')
    .selectAll()
    .where('id', '=', config.provider_id)
    .executeTakeFirstOrThrow();
  return { config, provider };
}

/** Whether a live model config names `id` as its fallback. */
export async function isFallbackOfAnother(db: Db, id: string): Promise<boolean> {
  const row = await db
    .selectFrom('chat_model_configs')
    .select('id')
    .where('fallback_model_config_id', '=', id)
    .where('deleted', '=', false)
    .executeTakeFirst();
  return row !== undefined;
}

export async function listProviders(db: Db): Promise<ChatProviderRow[]> {
  return db.selectFrom('chat_providers').selectAll().where('deleted', '=', false).orderBy('created_at').execute();
}

/**
 * Non-deleted model configs, oldest first. `enabledOnly` (what members see) also hides configs whose
 * provider is disabled or deleted, since a turn could not run on them.
 */
export async function listModelConfigs(db: Db, opts: { enabledOnly: boolean }): Promise<ChatModelConfigRow[]> {
  let q = db
    .selectFrom('chat_model_configs')
    .selectAll('chat_model_configs')
    .where('chat_model_configs.deleted', '=', false);
  if (opts.enabledOnly) {
    q = q
      .innerJoin('chat_providers', 'chat_providers.id', 'chat_model_configs.provider_id')
      .where('chat_model_configs.enabled', '=', true)
      .where('chat_providers.enabled', '=', true)
      .where('chat_providers.deleted', '=', false);
  }
  return q.orderBy('chat_model_configs.created_at').orderBy('chat_model_configs.id').execute();
}

/** The non-deleted provider with this id, or undefined. */
export async function findLiveProvider(db: Db, id: string): Promise<ChatProviderRow | undefined> {
  return db
    .selectFrom('chat_providers')
    .selectAll()
    .where('id', '=', id)
    .where('deleted', '=', false)
    .executeTakeFirst();
}

/** Columns a provider update may change (the kind is fixed at creation). */
export type ProviderPatch = Pick<
  Updateable<ChatProvidersTable>,
  'display_name' | 'base_url' | 'api_mode' | 'enabled' | 'api_key_ciphertext' | 'api_key_key_id' | 'api_key_base_url'
>;

/** Applies the patch to a non-deleted provider and bumps updated_at; undefined when there is none. */
export async function updateProvider(db: Db, id: string, patch: ProviderPatch): Promise<ChatProviderRow | undefined> {
  return db
    .updateTable('chat_providers')
    .set({ ...patch, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('deleted', '=', false)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Stores a key re-sealed in its bound form (a key from before binding, at its first use), only if
 * the row still holds `previous`: a concurrent admin change wins. Not an admin change, so
 * updated_at stays.
 */
export async function rebindProviderKey(
  db: Db,
  id: string,
  previous: Buffer,
  key: { ciphertext: Buffer; keyId: string; baseUrl: string },
): Promise<void> {
  await db
    .updateTable('chat_providers')
    .set({ api_key_ciphertext: key.ciphertext, api_key_key_id: key.keyId, api_key_base_url: key.baseUrl })
    .where('id', '=', id)
    .where('api_key_ciphertext', '=', previous)
    .execute();
}

/**
 * Soft-deletes a provider and, with it, every model config on it (they could no longer run); the
 * rows stay so costs keep referencing them. Returns false when there was no live provider.
 */
export async function softDeleteProvider(db: Db, id: string): Promise<boolean> {
  const deleted = await db
    .updateTable('chat_providers')
    .set({
      deleted: true,
      api_key_ciphertext: null,
      api_key_key_id: null,
      api_key_base_url: null,
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', id)
    .where('deleted', '=', false)
    .executeTakeFirst();
  if (deleted.numUpdatedRows === 0n) return false;
  await db
    .updateTable('chat_model_configs')
    .set({ deleted: true, is_default: false, updated_at: sql<Date>`now()` })
    .where('provider_id', '=', id)
    .where('deleted', '=', false)
    .execute();
  return true;
}

/**
 * Serialises transactions that change which model config is the default, so two concurrent
 * "make X the default" requests cannot both clear the old default and then collide on the
 * single-default index. Transaction-scoped: released at commit or rollback.
 */
export async function lockModelConfigDefault(trx: Transaction<Database>): Promise<void> {
  await sql`select pg_advisory_xact_lock(727002)`.execute(trx);
}

/** Clears the default flag of every live model config except `exceptId`. */
export async function clearDefaultModelConfig(db: Db, exceptId?: string): Promise<void> {
  let q = db
    .updateTable('chat_model_configs')
    .set({ is_default: false, updated_at: sql<Date>`now()` })
    .where('is_default', '=', true);
  if (exceptId) q = q.where('id', '<>', exceptId);
  await q.execute();
}

/** Whether any live model config is the default. */
export async function hasDefaultModelConfig(db: Db): Promise<boolean> {
  const row = await db
    .selectFrom('chat_model_configs')
    .select('id')
    .where('is_default', '=', true)
    .where('deleted', '=', false)
    .executeTakeFirst();
  return row !== undefined;
}

/** Columns a model config update may change. `options` is the whole JSON object, already serialised. */
export type ModelConfigPatch = Pick<
  Updateable<ChatModelConfigsTable>,
  | 'provider_id'
  | 'model'
  | 'display_name'
  | 'enabled'
  | 'is_default'
  | 'context_limit'
  | 'compression_threshold'
  | 'options'
  | 'fallback_model_config_id'
  | 'updated_by'
>;

/** Applies the patch to a non-deleted model config and bumps updated_at; undefined when there is none. */
export async function updateModelConfig(
  db: Db,
  id: string,
  patch: ModelConfigPatch,
): Promise<ChatModelConfigRow | undefined> {
  return db
    .updateTable('chat_model_configs')
    .set({ ...patch, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('deleted', '=', false)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Soft-deletes a model config (it stops being the default); the row stays so messages and cost
 * roll-ups keep referencing it. Returns false when there was no live config.
 */
export async function softDeleteModelConfig(db: Db, id: string, deletedBy: string): Promise<boolean> {
  const result = await db
    .updateTable('chat_model_configs')
    .set({ deleted: true, is_default: false, updated_by: deletedBy, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('deleted', '=', false)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
