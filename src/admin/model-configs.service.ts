/**
 * Admin management of providers and model configs. API keys are sealed before they are stored,
 * bound to the provider's base URL (src/security/provider-keys.ts), and never returned: reads
 * report `has_api_key` and `api_key_confirmed` only. Exactly one live model config is the default;
 * every mutation tells the per-process model cache to forget what it holds.
 */
import type { Kysely } from 'kysely';
import type { ChatModelConfigRow, ChatProviderRow, Database, ProviderName } from '../db/database';
import {
  clearDefaultModelConfig,
  findLiveProvider,
  findModelConfig,
  isFallbackOfAnother,
  hasDefaultModelConfig,
  insertModelConfig,
  insertProvider,
  listModelConfigs,
  listProviders,
  lockModelConfigDefault,
  softDeleteModelConfig,
  softDeleteProvider,
  updateModelConfig,
  updateProvider,
  type ModelConfigPatch,
  type ProviderPatch,
} from '../db/repositories/model-configs.repository';
import { ConflictError, NotFoundError, ValidationError } from '../errors';
import type { ModelCallOptions } from '../llm/types';
import { decryptBoundKey, openProviderKey, sealProviderKey, type BoundProviderKey } from '../security/provider-keys';
import type { SecretBox } from '../security/secrets';
import type { Actor } from '../security/actor';

export interface ProviderDto {
  id: string;
  provider: ProviderName;
  display_name: string;
  base_url: string | null;
  api_mode: 'responses' | 'chat' | null;
  enabled: boolean;
  has_api_key: boolean;
  /** The stored key is bound to the current base_url and is sent; false without a key. */
  api_key_confirmed: boolean;
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
  fallback_model_config_id: string | null;
  created_at: string;
  updated_at: string;
}

/** What provider and model-config writes need: the database, the key sealer, the cache hook. */
export interface ModelConfigDeps {
  db: Kysely<Database>;
  secrets: SecretBox;
  /** Invalidates the per-process model cache; called after every committed mutation. */
  onModelConfigChange: () => void;
}

/**
 * Call options a model config may carry (`options.call_options`): what every model call of the
 * config gets (models.ts passes them through); the tool choice is per call, never configured.
 */
type CallOptionsInput = Omit<ModelCallOptions, 'toolChoice'>;

/** A model config's `options` object, as the API accepts it (a type alias, so it is a JSON record). */
export type ModelOptionsInput = {
  call_options?: CallOptionsInput;
  cost?: Record<string, number | undefined>;
};

export interface CreateProviderInput {
  provider: ProviderName;
  display_name?: string;
  api_key?: string;
  base_url?: string;
  api_mode?: 'responses' | 'chat';
  enabled?: boolean;
}

/** A provider update; `null` clears a nullable field, an absent key leaves it unchanged. */
export interface UpdateProviderInput {
  display_name?: string;
  api_key?: string | null;
  base_url?: string | null;
  api_mode?: 'responses' | 'chat' | null;
  enabled?: boolean;
  /** Re-binds the stored key to the (new) base_url without sending the key again. */
  confirm_api_key?: boolean;
}

export interface CreateModelConfigInput {
  provider_id: string;
  model: string;
  display_name?: string;
  context_limit: number;
  compression_threshold?: number;
  is_default?: boolean;
  enabled?: boolean;
  options?: ModelOptionsInput;
  /** The config a model step fails over to; `null` clears it on update. */
  fallback_model_config_id?: string | null;
}

/** A model config update; `options` replaces the whole options object. */
export type UpdateModelConfigInput = Partial<CreateModelConfigInput>;

/**
 * Maps a provider row to its wire shape (never the key, only whether there is one and whether it
 * is sent: decrypted for the current base URL, as a model call would, so an edited row reports the truth).
 */
export function toProviderDto(row: ChatProviderRow, secrets: SecretBox): ProviderDto {
  return {
    id: row.id,
    provider: row.provider,
    display_name: row.display_name,
    base_url: row.base_url,
    api_mode: row.api_mode,
    enabled: row.enabled,
    has_api_key: row.api_key_ciphertext !== null,
    api_key_confirmed: keyConfirmed(row, secrets),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function keyConfirmed(row: ChatProviderRow, secrets: SecretBox): boolean {
  try {
    return openProviderKey(secrets, row).state === 'confirmed';
  } catch {
    return false; // A key id missing from the ring: the key cannot be sent either.
  }
}

/** Maps a model config row to its wire shape. */
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
    fallback_model_config_id: row.fallback_model_config_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

const isUniqueViolation = (err: unknown): boolean => (err as { code?: string }).code === '23505';

const providerExists = (): ConflictError => new ConflictError('provider_exists', 'Chat provider already exists.');

/**
 * Provider-specific rules the schema cannot express: only OpenAI-style providers have an API mode,
 * and an OpenAI-compatible endpoint is nothing without its base URL.
 */
function checkProviderSettings(
  kind: ProviderName,
  settings: { base_url: string | null; api_mode: string | null },
): void {
  const issues: Array<{ path: string; message: string }> = [];
  if (kind === 'anthropic' && settings.api_mode !== null) {
    issues.push({ path: 'api_mode', message: 'api_mode applies to OpenAI providers only.' });
  }
  if (kind === 'openai-compat' && settings.base_url === null) {
    issues.push({ path: 'base_url', message: 'An OpenAI-compatible provider needs a base_url.' });
  }
  if (issues.length > 0) {
    throw new ValidationError('The provider settings are invalid.', issues, 'invalid_provider_options');
  }
}

/**
 * Call options that the chosen provider would reject or silently ignore. Rejecting them here keeps
 * a bad config from failing every turn later.
 */
function checkCallOptions(kind: ProviderName, options: ModelOptionsInput | undefined): void {
  const call = options?.call_options;
  if (!call) return;
  const issues: Array<{ path: string; message: string }> = [];
  const reject = (key: keyof CallOptionsInput, message: string): void => {
    if (call[key] !== undefined) issues.push({ path: `options.call_options.${key}`, message });
  };
  if (kind === 'anthropic') {
    for (const key of ['reasoningEffort', 'reasoningSummary', 'store'] as const) {
      reject(key, `${key} is an OpenAI option; Anthropic models use thinkingBudgetTokens.`);
    }
    if (call.temperature !== undefined && call.temperature > 1) {
      issues.push({ path: 'options.call_options.temperature', message: 'Anthropic accepts temperatures from 0 to 1.' });
    }
  } else {
    reject('thinkingBudgetTokens', 'thinkingBudgetTokens is an Anthropic option.');
  }
  if (issues.length > 0) {
    throw new ValidationError('The model options are invalid for this provider.', issues, 'invalid_model_options');
  }
}

/** Creates a provider. Throws ConflictError `provider_exists` for a second live hosted provider of a kind. */
export async function createProvider(
  deps: ModelConfigDeps,
  actor: Actor,
  input: CreateProviderInput,
): Promise<ProviderDto> {
  checkProviderSettings(input.provider, { base_url: input.base_url ?? null, api_mode: input.api_mode ?? null });
  let row: ChatProviderRow;
  try {
    row = await insertProvider(deps.db, {
      provider: input.provider,
      displayName: input.display_name ?? '',
      baseUrl: input.base_url ?? null,
      apiMode: input.api_mode ?? null,
      apiKey: input.api_key ? sealProviderKey(deps.secrets, input.api_key, input.base_url ?? null) : null,
      enabled: input.enabled,
      createdBy: actor.id,
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw providerExists();
    throw err;
  }
  deps.onModelConfigChange();
  return toProviderDto(row, deps.secrets);
}

/** Live providers, oldest first. */
export async function getProviders(deps: Pick<ModelConfigDeps, 'db' | 'secrets'>): Promise<ProviderDto[]> {
  return (await listProviders(deps.db)).map((row) => toProviderDto(row, deps.secrets));
}

/**
 * Updates a live provider. `api_key: null` removes the key; a new key is sealed with the active
 * encryption key for the resulting base URL. A base URL change without a new key leaves the stored
 * key bound to the old URL, so it is not sent (`api_key_confirmed: false`) until `api_key` or
 * `confirm_api_key: true` comes with this or a later update. Throws NotFoundError for an unknown or
 * deleted provider, ValidationError `api_key_not_confirmable` when there is no stored key to
 * confirm or it cannot be opened any more (enter it again).
 */
export async function updateProviderConfig(
  deps: ModelConfigDeps,
  id: string,
  input: UpdateProviderInput,
): Promise<ProviderDto> {
  const row = await deps.db.transaction().execute(async (trx) => {
    const current = await findLiveProvider(trx, id);
    if (!current) throw new NotFoundError('provider');
    checkProviderSettings(current.provider, {
      base_url: input.base_url === undefined ? current.base_url : input.base_url,
      api_mode: input.api_mode === undefined ? current.api_mode : input.api_mode,
    });
    const patch: ProviderPatch = {};
    if (input.display_name !== undefined) patch.display_name = input.display_name;
    if (input.base_url !== undefined) patch.base_url = input.base_url;
    if (input.api_mode !== undefined) patch.api_mode = input.api_mode;
    if (input.enabled !== undefined) patch.enabled = input.enabled;
    const baseUrl = input.base_url === undefined ? current.base_url : input.base_url;
    if (input.api_key !== undefined) {
      const sealed = input.api_key === null ? null : sealProviderKey(deps.secrets, input.api_key, baseUrl);
      patch.api_key_ciphertext = sealed?.ciphertext ?? null;
      patch.api_key_key_id = sealed?.keyId ?? null;
      patch.api_key_base_url = sealed?.baseUrl ?? null;
    } else if (input.confirm_api_key) {
      const sealed = confirmStoredKey(deps.secrets, current, baseUrl);
      patch.api_key_ciphertext = sealed.ciphertext;
      patch.api_key_key_id = sealed.keyId;
      patch.api_key_base_url = sealed.baseUrl;
    }
    const updated = await updateProvider(trx, id, patch);
    if (!updated) throw new NotFoundError('provider');
    return updated;
  });
  deps.onModelConfigChange();
  return toProviderDto(row, deps.secrets);
}

/**
 * The provider's stored key re-sealed for `baseUrl`: opened for the URL it is bound to (which an
 * edited row cannot fake, see provider-keys.ts), then bound to the new one.
 */
function confirmStoredKey(secrets: SecretBox, current: ChatProviderRow, baseUrl: string | null): BoundProviderKey {
  const unconfirmable = (message: string): ValidationError =>
    new ValidationError(message, [{ path: 'confirm_api_key', message }], 'api_key_not_confirmable');
  if (!current.api_key_ciphertext) throw unconfirmable('The provider has no stored API key to confirm.');
  const opened = decryptBoundKey(secrets, current);
  if (!opened) throw unconfirmable('The stored API key cannot be verified: send the api_key again.');
  return sealProviderKey(secrets, opened.apiKey, baseUrl);
}

/**
 * Soft-deletes a provider, erasing its key, and soft-deletes its model configs (their costs stay
 * attributed). Throws NotFoundError for an unknown or already deleted provider.
 */
export async function deleteProviderConfig(deps: ModelConfigDeps, id: string): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    // Deleting the default model config must not race a concurrent default switch.
    await lockModelConfigDefault(trx);
    if (!(await softDeleteProvider(trx, id))) throw new NotFoundError('provider');
  });
  deps.onModelConfigChange();
}

async function requireLiveProvider(db: Kysely<Database>, id: string): Promise<ChatProviderRow> {
  const provider = await findLiveProvider(db, id);
  if (!provider) {
    throw new ValidationError(
      'The provider is not configured.',
      [{ path: 'provider_id', message: 'Unknown provider.' }],
      'provider_not_configured',
    );
  }
  return provider;
}

/**
 * Creates a model config. It becomes the default when asked to, or when no live default exists
 * yet; the old default is cleared in the same transaction. Throws ValidationError when the
 * provider is unknown or deleted (`provider_not_configured`) or rejects the call options.
 */
export async function createModelConfig(
  deps: ModelConfigDeps,
  actor: Actor,
  input: CreateModelConfigInput,
): Promise<ModelConfigDto> {
  const row = await deps.db.transaction().execute(async (trx) => {
    const provider = await requireLiveProvider(trx, input.provider_id);
    checkCallOptions(provider.provider, input.options);
    await lockModelConfigDefault(trx);
    const isDefault = input.is_default ?? !(await hasDefaultModelConfig(trx));
    if (isDefault) await clearDefaultModelConfig(trx);
    return insertModelConfig(trx, {
      providerId: input.provider_id,
      model: input.model,
      displayName: input.display_name ?? input.model,
      isDefault,
      enabled: input.enabled,
      contextLimit: input.context_limit,
      compressionThreshold: input.compression_threshold ?? 70,
      options: input.options ?? {},
      fallbackModelConfigId: input.fallback_model_config_id
        ? await checkFallback(trx, null, input.fallback_model_config_id)
        : null,
      createdBy: actor.id,
    });
  });
  deps.onModelConfigChange();
  return toModelConfigDto(row);
}

/** Live model configs: all of them for admins, only usable (enabled) ones for members. */
export async function getModelConfigs(deps: { db: Kysely<Database> }, actor: Actor): Promise<ModelConfigDto[]> {
  return (await listModelConfigs(deps.db, { enabledOnly: actor.role !== 'admin' })).map(toModelConfigDto);
}

/**
 * The live model config `id` as `actor` may see it: admins see every live config, members only
 * enabled ones on an enabled, live provider (what GET /model-configs lists for them). Throws
 * NotFoundError otherwise.
 */
export async function requireVisibleModelConfig(
  db: Kysely<Database>,
  actor: Actor,
  id: string,
): Promise<ChatModelConfigRow> {
  const row = await findModelConfig(db, id);
  if (!row || row.deleted) throw new NotFoundError('model_config');
  if (actor.role !== 'admin') {
    const provider = row.enabled ? await findLiveProvider(db, row.provider_id) : undefined;
    if (!provider?.enabled) throw new NotFoundError('model_config');
  }
  return row;
}

/**
 * Updates a live model config. `is_default: true` moves the default here (clearing the old one in
 * the same transaction); `is_default: false` on the default is refused (`default_required`), since
 * exactly one config is the default — make another one the default instead. Throws NotFoundError,
 * or ValidationError for an unknown provider or options the provider rejects.
 */
export async function updateModelConfigById(
  deps: ModelConfigDeps,
  actor: Actor,
  id: string,
  input: UpdateModelConfigInput,
): Promise<ModelConfigDto> {
  const row = await deps.db.transaction().execute(async (trx) => {
    if (input.is_default !== undefined) await lockModelConfigDefault(trx);
    const current = await requireVisibleModelConfig(trx, actor, id);
    const providerId = input.provider_id ?? current.provider_id;
    const provider = await requireLiveProvider(trx, providerId);
    checkCallOptions(provider.provider, input.options ?? (current.options as ModelOptionsInput));
    if (input.is_default === false && current.is_default) {
      throw new ValidationError(
        'A default model config is required: make another model config the default instead.',
        undefined,
        'default_required',
      );
    }
    if (input.is_default === true) await clearDefaultModelConfig(trx, id);
    const patch: ModelConfigPatch = { updated_by: actor.id };
    if (input.provider_id !== undefined) patch.provider_id = input.provider_id;
    if (input.model !== undefined) patch.model = input.model;
    if (input.display_name !== undefined) patch.display_name = input.display_name;
    if (input.enabled !== undefined) patch.enabled = input.enabled;
    if (input.is_default !== undefined) patch.is_default = input.is_default;
    if (input.context_limit !== undefined) patch.context_limit = input.context_limit;
    if (input.compression_threshold !== undefined) patch.compression_threshold = input.compression_threshold;
    if (input.options !== undefined) patch.options = JSON.stringify(input.options);
    if (input.fallback_model_config_id !== undefined) {
      patch.fallback_model_config_id = input.fallback_model_config_id
        ? await checkFallback(trx, id, input.fallback_model_config_id)
        : null;
    }
    const updated = await updateModelConfig(trx, id, patch);
    if (!updated) throw new NotFoundError('model_config');
    return updated;
  });
  deps.onModelConfigChange();
  return toModelConfigDto(row);
}

/**
 * Checks a fallback for config `id` (null: a config being created) and returns it. Failover is one
 * hop: the fallback must be live, not the config itself, and have no fallback of its own, and a
 * config that is another's fallback cannot get one, so no chain (and no loop) can form.
 */
async function checkFallback(db: Kysely<Database>, id: string | null, fallbackId: string): Promise<string> {
  const invalid = (message: string): ValidationError =>
    new ValidationError(message, [{ path: 'fallback_model_config_id', message }], 'invalid_fallback');
  if (fallbackId === id) throw invalid('A model config cannot be its own fallback.');
  const fallback = await findModelConfig(db, fallbackId);
  if (!fallback || fallback.deleted) throw invalid('Unknown fallback model config.');
  if (fallback.fallback_model_config_id) throw invalid('The fallback model config has a fallback of its own.');
  if (id && (await isFallbackOfAnother(db, id))) {
    throw invalid('This model config is the fallback of another one, so it cannot have a fallback.');
  }
  return fallbackId;
}

/**
 * Soft-deletes a model config: it disappears from listings and stops being the default, while
 * messages and cost roll-ups keep referencing it. Throws NotFoundError for an unknown or deleted one.
 */
export async function deleteModelConfigById(deps: ModelConfigDeps, actor: Actor, id: string): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    await lockModelConfigDefault(trx);
    if (!(await softDeleteModelConfig(trx, id, actor.id))) throw new NotFoundError('model_config');
  });
  deps.onModelConfigChange();
}
