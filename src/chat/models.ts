/**
 * Resolves a model config id to a ready provider client and the config's limits and options.
 * Rows are cached per process for a few seconds: every step needs them, and an admin's change is
 * picked up on the next step after the cache entry expires (or at once after `invalidate`).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import { findModelConfigWithProvider } from '../db/repositories/model-configs.repository';
import { createLlmProvider } from '../llm/registry';
import type { LlmProvider, ModelCallOptions, ProviderKind, ProviderToolOptions } from '../llm/types';
import type { SecretBox } from '../security/secrets';
import { parsePrices, type ModelPrices } from './cost';

export interface ResolvedModel {
  modelConfigId: string;
  providerKind: ProviderKind;
  model: string;
  contextLimit: number;
  compressionThreshold: number;
  callOptions: ModelCallOptions;
  prices: ModelPrices | null;
  /** Provider-executed tools enabled on the model config (web search). */
  providerTools: ProviderToolOptions | undefined;
  provider: LlmProvider;
}

/** The model config cannot be used (missing key, deleted, disabled provider); never retried. */
export class ModelConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelConfigError';
  }
}

export interface ProviderPresets {
  openai: { apiKey: string | undefined; baseUrl: string | undefined };
  anthropic: { apiKey: string | undefined; baseUrl: string | undefined };
}

export class ModelResolver {
  private readonly cache = new Map<string, { value: ResolvedModel; expires: number }>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly secrets: SecretBox,
    private readonly presets: ProviderPresets,
    private readonly userAgent: string,
    private readonly ttlMs = 10_000,
  ) {}

  invalidate(): void {
    this.cache.clear();
  }

  /** Throws ModelConfigError when the config cannot run a step. */
  async resolve(modelConfigId: string): Promise<ResolvedModel> {
    const hit = this.cache.get(modelConfigId);
    if (hit && hit.expires > Date.now()) return hit.value;
    const found = await findModelConfigWithProvider(this.db, modelConfigId);
    if (!found || found.config.deleted)
      throw new ModelConfigError('The chat\u2019s model configuration no longer exists.');
    const { config, provider } = found;
    if (!provider.enabled || provider.deleted) {
      throw new ModelConfigError(`The ${provider.display_name || provider.provider} provider is disabled.`);
    }
    const preset = provider.provider === 'openai-compat' ? undefined : this.presets[provider.provider];
    const apiKey =
      provider.api_key_ciphertext && provider.api_key_key_id
        ? this.secrets.open({ keyId: provider.api_key_key_id, ciphertext: provider.api_key_ciphertext })
        : preset?.apiKey;
    if (!apiKey && provider.provider !== 'openai-compat') {
      throw new ModelConfigError(`No API key is configured for the ${provider.provider} provider.`);
    }
    const value: ResolvedModel = {
      modelConfigId: config.id,
      providerKind: provider.provider,
      model: config.model,
      contextLimit: config.context_limit,
      compressionThreshold: config.compression_threshold,
      callOptions: (config.options.call_options ?? {}) as ModelCallOptions,
      prices: parsePrices(config.options),
      providerTools: webSearchOptions(config.options.web_search),
      provider: createLlmProvider(
        {
          kind: provider.provider,
          apiKey: apiKey ?? 'none',
          baseUrl: provider.base_url ?? preset?.baseUrl ?? null,
          apiMode: provider.api_mode ?? undefined,
        },
        { userAgent: this.userAgent },
      ),
    };
    this.cache.set(modelConfigId, { value, expires: Date.now() + this.ttlMs });
    return value;
  }
}

/** The model config's `web_search` block (validated by the admin API) as provider tool options. */
function webSearchOptions(raw: unknown): ProviderToolOptions | undefined {
  const ws = raw as { enabled?: boolean; allowed_domains?: string[]; blocked_domains?: string[] } | undefined;
  if (!ws?.enabled) return undefined;
  return {
    webSearch: {
      enabled: true,
      ...(ws.allowed_domains ? { allowedDomains: ws.allowed_domains } : {}),
      ...(ws.blocked_domains ? { blockedDomains: ws.blocked_domains } : {}),
    },
  };
}
