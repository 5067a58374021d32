/**
 * Builds an `LlmProvider` from a provider row or environment preset, and names the per-provider defaults
 * (cheap title model, User-Agent). The only place that knows which adapter serves which `ProviderKind`.
 */
import { arch, platform } from 'node:os';
import { createAnthropicProvider } from './anthropic.provider';
import { LlmError, providerDisplayName } from './errors';
import { createOpenAiProvider } from './openai.provider';
import type { LlmProvider, OpenAiApiMode, ProviderKind } from './types';

/** The provider configuration `createLlmProvider` needs (decrypted key, optional base URL and API mode). */
export interface LlmProviderConfig {
  kind: ProviderKind;
  apiKey: string;
  baseUrl?: string | null;
  /** `openai` defaults to `responses`, `openai-compat` to `chat`. Ignored for Anthropic. */
  apiMode?: OpenAiApiMode;
}

/** Process-level dependencies of every provider client. */
export interface LlmProviderDeps {
  userAgent: string;
  /** Injected fetch, for tests and proxies; the SDKs use the global fetch otherwise. */
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** Key placeholder for compatible servers that need none (Ollama, LM Studio): the SDK requires a value. */
const NO_KEY_PLACEHOLDER = 'not-needed';

/**
 * Creates a provider client for one configuration. Cheap; call once per process per provider row and reuse.
 * Throws `LlmError` of kind `config` when the configuration cannot work (missing key for OpenAI or
 * Anthropic, missing base URL for an OpenAI-compatible endpoint), so the turn ends with a clear message.
 */
export function createLlmProvider(config: LlmProviderConfig, deps: LlmProviderDeps): LlmProvider {
  const baseUrl = config.baseUrl?.trim() || undefined;
  const apiKey = config.apiKey.trim();
  const common = {
    userAgent: deps.userAgent,
    ...(baseUrl ? { baseUrl } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
  };

  switch (config.kind) {
    case 'anthropic':
      if (!apiKey) throw missingKey('anthropic', 'ANTHROPIC_API_KEY');
      return createAnthropicProvider({ ...common, apiKey });
    case 'openai':
      if (!apiKey) throw missingKey('openai', 'OPENAI_API_KEY');
      return createOpenAiProvider({ ...common, apiKey, kind: 'openai', apiMode: config.apiMode ?? 'responses' });
    case 'openai-compat':
      if (!baseUrl) {
        throw new LlmError({
          kind: 'config',
          provider: 'openai-compat',
          userMessage: 'The OpenAI-compatible provider has no base URL configured.',
        });
      }
      // Compatible servers implement Chat Completions; a few (OpenRouter, vLLM) also offer Responses, so an
      // explicit apiMode is honoured.
      return createOpenAiProvider({
        ...common,
        apiKey: apiKey || NO_KEY_PLACEHOLDER,
        kind: 'openai-compat',
        apiMode: config.apiMode ?? 'chat',
      });
  }
}

function missingKey(provider: ProviderKind, envName: string): LlmError {
  return new LlmError({
    kind: 'config',
    provider,
    userMessage: `${envName} is not set: configure an API key for ${providerDisplayName(provider)}.`,
  });
}

/**
 * The cheap model used for title generation on each provider kind, or null for
 * OpenAI-compatible endpoints (Ollama, vLLM, …), which serve only their own models: the chat's
 * model writes the title there.
 */
export function titleModelFor(kind: ProviderKind): string | null {
  switch (kind) {
    case 'anthropic':
      return 'claude-haiku-4-5';
    case 'openai':
      return 'gpt-4o-mini';
    case 'openai-compat':
      return null;
  }
}

/** `User-Agent` sent on every provider request: `chatd/<version> (<platform>/<arch>)`, e.g. `chatd/0.1.0 (linux/x64)`. */
export function userAgentFor(version: string): string {
  return `chatd/${version} (${platform()}/${arch()})`;
}
