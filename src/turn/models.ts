/**
 * Resolves a model config id to a ready provider client and the config's limits and options.
 * Every step needs them, so they are cached per process for the config generation the step read
 * (src/turn/generation-cache.ts): an admin's change, in any process, is picked up by the next step.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import type { ChatProviderRow } from '../db/database';
import {
  findModelConfig,
  findModelConfigWithProvider,
  rebindProviderKey,
} from '../db/repositories/model-configs.repository';
import { createLlmProvider } from '../llm/registry';
import type { LlmProvider, ModelCallOptions, ProviderKind, ProviderToolOptions } from '../llm/types';
import { normaliseBaseUrl, openProviderKey } from '../security/provider-keys';
import type { SecretBox } from '../security/secrets';
import { parsePrices, type ModelPrices } from './cost';
import { GenerationCache } from './generation-cache';
import { meteredProvider, type TurnMetrics } from './metrics';

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
  /** The live, enabled config a step fails over to when this one's provider stays overloaded, if any. */
  fallback: { modelConfigId: string; model: string } | null;
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

/** Model configs a process keeps resolved; a deployment has a handful. */
const MAX_CACHED_MODELS = 256;

export class ModelResolver {
  private readonly cache = new GenerationCache<ResolvedModel>(MAX_CACHED_MODELS);

  constructor(
    private readonly db: Kysely<Database>,
    private readonly secrets: SecretBox,
    private readonly presets: ProviderPresets,
    private readonly userAgent: string,
    /** Told of every provider call of the resolved models (src/turn/metrics.ts); unset: calls are not timed. */
    private readonly metrics?: Pick<TurnMetrics, 'modelCall'>,
  ) {}

  /** Forgets every resolved config (this process changed one; other processes see the generation move). */
  invalidate(): void {
    this.cache.clear();
  }

  /**
   * The config as of `configGeneration` (read by the caller, see steps.repository) or newer. Throws
   * ModelConfigError when the config cannot run a step.
   */
  async resolve(modelConfigId: string, configGeneration: number): Promise<ResolvedModel> {
    const hit = this.cache.get(modelConfigId, configGeneration);
    if (hit) return hit;
    const found = await findModelConfigWithProvider(this.db, modelConfigId);
    if (!found || found.config.deleted)
      throw new ModelConfigError('The chat\u2019s model configuration no longer exists.');
    const { config, provider } = found;
    if (!provider.enabled || provider.deleted) {
      throw new ModelConfigError(`The ${provider.display_name || provider.provider} provider is disabled.`);
    }
    const preset = provider.provider === 'openai-compat' ? undefined : this.presets[provider.provider];
    const apiKey = await this.apiKeyFor(provider, preset);
    if (!apiKey && provider.provider !== 'openai-compat') {
      throw new ModelConfigError(`No API key is configured for the ${provider.provider} provider.`);
    }
    const fallback = config.fallback_model_config_id
      ? await findModelConfig(this.db, config.fallback_model_config_id)
      : undefined;
    const value: ResolvedModel = {
      modelConfigId: config.id,
      providerKind: provider.provider,
      model: config.model,
      contextLimit: config.context_limit,
      compressionThreshold: config.compression_threshold,
      callOptions: (config.options.call_options ?? {}) as ModelCallOptions,
      prices: parsePrices(config.options),
      providerTools: webSearchOptions(config.options.web_search),
      provider: this.metered(
        createLlmProvider(
          {
            kind: provider.provider,
            apiKey: apiKey ?? 'none',
            baseUrl: provider.base_url ?? preset?.baseUrl ?? null,
            apiMode: provider.api_mode ?? undefined,
          },
          { userAgent: this.userAgent },
        ),
      ),
      fallback:
        fallback && !fallback.deleted && fallback.enabled
          ? { modelConfigId: fallback.id, model: fallback.model }
          : null,
    };
    this.cache.set(modelConfigId, configGeneration, value);
    return value;
  }

  private metered(provider: LlmProvider): LlmProvider {
    return this.metrics ? meteredProvider(provider, this.metrics) : provider;
  }

  /**
   * The key to send to the provider's base URL: its stored key only while bound to that URL
   * (src/security/provider-keys.ts), else the environment preset's key only while the row uses the
   * preset's endpoint, so neither follows a base_url rewritten behind the admin's back. A stored key
   * from before binding is stored again in bound form here. Throws ModelConfigError when the key
   * is not confirmed for the URL.
   */
  private async apiKeyFor(
    provider: ChatProviderRow,
    preset: ProviderPresets['openai'] | undefined,
  ): Promise<string | undefined> {
    const name = provider.display_name || provider.provider;
    const stored = openProviderKey(this.secrets, provider);
    if (stored.state === 'unconfirmed') {
      throw new ModelConfigError(
        `The API key of the ${name} provider was not confirmed for its current base URL, so it is not sent. ` +
          `An admin must confirm it: PATCH /chat-providers/${provider.id} with the api_key, or with confirm_api_key: true.`,
      );
    }
    if (stored.state === 'confirmed') {
      if (stored.rebound) {
        // Best effort: if it fails, the next resolve tries again.
        await rebindProviderKey(this.db, provider.id, provider.api_key_ciphertext!, stored.rebound).catch(
          () => undefined,
        );
      }
      return stored.apiKey;
    }
    if (!preset?.apiKey || provider.provider === 'openai-compat') return undefined;
    const rowUrl = normaliseBaseUrl(provider.base_url);
    if (rowUrl !== '' && rowUrl !== normaliseBaseUrl(preset.baseUrl)) {
      const env = PRESET_ENV[provider.provider];
      throw new ModelConfigError(
        `The ${name} provider's base URL is not ${env}_BASE_URL, so ${env}_API_KEY is not sent to it. ` +
          `An admin must store a key for this URL: PATCH /chat-providers/${provider.id} with the api_key.`,
      );
    }
    return preset.apiKey;
  }
}

/** Environment variable names of a hosted provider's preset. */
const PRESET_ENV = { openai: 'OPENAI', anthropic: 'ANTHROPIC' } as const;

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
