/**
 * Admin management of providers and model configs. API keys are sealed before they are stored
 * and never returned: reads report `has_api_key` only.
 */
import type { Kysely } from 'kysely';
import type { ChatModelConfigRow, ChatProviderRow, Database, ProviderName } from '../db/database';
import {
  insertModelConfig,
  insertProvider,
  listModelConfigs,
  listProviders,
} from '../db/repositories/model-configs.repository';
import { ConflictError, ValidationError } from '../errors';
import type { SecretBox } from '../security/secrets';
import type { Actor } from './chat.service';

export interface ProviderDto {
  id: string;
  provider: ProviderName;
  display_name: string;
  base_url: string | null;
  api_mode: 'responses' | 'chat' | null;
  enabled: boolean;
  has_api_key: boolean;
  created_at: string;
  updated_at: string;
}

export interface ModelConfigDto {
  id: string;
  provider_id: string;
  model: string;
  display_name: string;
  enabled: boolean;
  is_default: boolean;
  context_limit: number;
  compression_threshold: number;
  options: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export function toProviderDto(row: ChatProviderRow): ProviderDto {
  return {
    id: row.id,
    provider: row.provider,
    display_name: row.display_name,
    base_url: row.base_url,
    api_mode: row.api_mode,
    enabled: row.enabled,
    has_api_key: row.api_key_ciphertext !== null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export function toModelConfigDto(row: ChatModelConfigRow): ModelConfigDto {
  return {
    id: row.id,
    provider_id: row.provider_id,
    model: row.model,
    display_name: row.display_name,
    enabled: row.enabled,
    is_default: row.is_default,
    context_limit: row.context_limit,
    compression_threshold: row.compression_threshold,
    options: row.options,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

const isUniqueViolation = (err: unknown): boolean => (err as { code?: string }).code === '23505';

export async function createProvider(
  deps: { db: Kysely<Database>; secrets: SecretBox },
  actor: Actor,
  input: {
    provider: ProviderName;
    display_name?: string;
    api_key?: string;
    base_url?: string;
    api_mode?: 'responses' | 'chat';
  },
): Promise<ProviderDto> {
  try {
    const row = await insertProvider(deps.db, {
      provider: input.provider,
      displayName: input.display_name ?? '',
      baseUrl: input.base_url ?? null,
      apiMode: input.api_mode ?? null,
      apiKey: input.api_key ? deps.secrets.seal(input.api_key) : null,
      createdBy: actor.id,
    });
    return toProviderDto(row);
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError('provider_exists', 'Chat provider already exists.');
    throw err;
  }
}

export async function getProviders(deps: { db: Kysely<Database> }): Promise<ProviderDto[]> {
  return (await listProviders(deps.db)).map(toProviderDto);
}

export async function createModelConfig(
  deps: { db: Kysely<Database> },
  actor: Actor,
  input: {
    provider_id: string;
    model: string;
    display_name?: string;
    context_limit: number;
    compression_threshold?: number;
    is_default?: boolean;
    options?: Record<string, unknown>;
  },
): Promise<ModelConfigDto> {
  return deps.db.transaction().execute(async (trx) => {
    const provider = await trx
      .selectFrom('chat_providers')
      .select('id')
      .where('id', '=', input.provider_id)
      .where('deleted', '=', false)
      .executeTakeFirst();
    if (!provider) throw new ValidationError('The provider is not configured.', undefined, 'provider_not_configured');
    if (input.is_default) {
      await trx.updateTable('chat_model_configs').set({ is_default: false }).where('is_default', '=', true).execute();
    }
    const row = await insertModelConfig(trx, {
      providerId: input.provider_id,
      model: input.model,
      displayName: input.display_name ?? input.model,
      isDefault: input.is_default ?? false,
      contextLimit: input.context_limit,
      compressionThreshold: input.compression_threshold ?? 70,
      options: input.options ?? {},
      createdBy: actor.id,
    });
    return toModelConfigDto(row);
  });
}

export async function getModelConfigs(deps: { db: Kysely<Database> }, actor: Actor): Promise<ModelConfigDto[]> {
  return (await listModelConfigs(deps.db, { enabledOnly: actor.role !== 'admin' })).map(toModelConfigDto);
}
