/**
 * Providers and model configs. A model config is always read together with its provider, since a
 * turn needs both (endpoint, key, model, limits, prices).
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { ChatModelConfigRow, ChatProviderRow, ChatProvidersTable, Database, ProviderName } from '../database';

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
    apiKey: { ciphertext: Buffer; keyId: string } | null;
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
    contextLimit: number;
    compressionThreshold: number;
    options: Record<string, unknown>;
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
      context_limit: row.contextLimit,
      compression_threshold: row.compressionThreshold,
      options: JSON.stringify(row.options),
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

export async function listProviders(db: Db): Promise<ChatProviderRow[]> {
  return db.selectFrom('chat_providers').selectAll().where('deleted', '=', false).orderBy('created_at').execute();
}

export async function listModelConfigs(db: Db, opts: { enabledOnly: boolean }): Promise<ChatModelConfigRow[]> {
  let q = db.selectFrom('chat_model_configs').selectAll().where('deleted', '=', false);
  if (opts.enabledOnly) q = q.where('enabled', '=', true);
  return q.orderBy('created_at').execute();
}
