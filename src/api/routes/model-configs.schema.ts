/**
 * Request and response schemas and route declarations of /chat-providers and /model-configs.
 * Provider keys are write-only: no response schema has a field for them.
 */
import { z } from 'zod';
import { defineRoute } from '../openapi';
import { idParams, plainText, timestamp } from './common.schema';

const providerKind = z
  .enum(['openai', 'anthropic', 'openai-compat'])
  .describe('`openai` and `anthropic` are hosted (one live row each); `openai-compat` is any compatible endpoint.');

const apiMode = z.enum(['responses', 'chat']).describe('OpenAI only: Responses API (default) or Chat Completions.');

const baseUrl = z
  .url({ protocol: /^https?$/, message: 'base_url must be an http(s) URL.' })
  .max(2048)
  .describe('Endpoint base URL; required for openai-compat.');

const apiKey = plainText(4096, 'The API key').min(1).describe('Write-only; stored encrypted (AES-256-GCM).');

const nonEmpty = (body: object): boolean => Object.keys(body).length > 0;

export const createProviderBody = z.strictObject({
  provider: providerKind,
  display_name: plainText(200, 'The display name').optional(),
  api_key: apiKey.optional(),
  base_url: baseUrl.optional(),
  api_mode: apiMode.optional(),
  enabled: z.boolean().optional().describe('Defaults to true.'),
});

export const updateProviderBody = z
  .strictObject({
    display_name: plainText(200, 'The display name').optional(),
    api_key: apiKey
      .nullable()
      .optional()
      .describe('A new key (stored encrypted, bound to the resulting base_url), or null to remove the key.'),
    base_url: baseUrl
      .nullable()
      .optional()
      .describe(
        'Changing it without api_key or confirm_api_key leaves the stored key unconfirmed: it is not sent to the new URL.',
      ),
    api_mode: apiMode.nullable().optional(),
    enabled: z.boolean().optional(),
    confirm_api_key: z
      .boolean()
      .optional()
      .describe('true: keep the stored key and allow sending it to the (new) base_url. 400 when there is no key.'),
  })
  .refine(nonEmpty, 'Nothing to update.');

const price = z
  .number()
  .min(0, 'Prices must not be negative.')
  .max(1_000_000, 'Prices are USD per million tokens; at most 1,000,000.');

export const callOptionsSchema = z
  .strictObject({
    maxOutputTokens: z.number().int().positive().optional(),
    temperature: z.number().min(0).max(2).optional(),
    topP: z.number().min(0).max(1).optional(),
    reasoningEffort: z.enum(['minimal', 'low', 'medium', 'high']).optional().describe('OpenAI reasoning models.'),
    reasoningSummary: z.enum(['auto', 'concise', 'detailed']).optional().describe('OpenAI reasoning models.'),
    thinkingBudgetTokens: z.number().int().min(1024).optional().describe('Anthropic extended thinking budget.'),
    store: z.boolean().optional().describe('OpenAI Responses API chain mode.'),
  })
  .describe('Provider call options; options the provider does not support are rejected.');

export const modelOptionsSchema = z.strictObject({
  call_options: callOptionsSchema.optional(),
  web_search: z
    .strictObject({
      enabled: z.boolean(),
      allowed_domains: z.array(z.string().min(1).max(253)).max(100).optional(),
      blocked_domains: z.array(z.string().min(1).max(253)).max(100).optional(),
    })
    .optional()
    .describe('Provider-executed web search (OpenAI and Anthropic); results stay in the assistant message.'),
  cost: z
    .strictObject({
      input_price_per_million_tokens: price.optional(),
      output_price_per_million_tokens: price.optional(),
      cache_read_price_per_million_tokens: price.optional(),
      cache_write_price_per_million_tokens: price.optional(),
    })
    .optional()
    .describe('USD per million tokens; an absent price leaves that usage unpriced (never free).'),
});

const modelConfigFields = {
  provider_id: z.uuid({ message: 'Invalid provider id.' }).describe('A live provider.'),
  model: plainText(200, 'The model').min(1, 'The model is required.').describe('Model id at the provider.'),
  display_name: plainText(200, 'The display name').optional().describe('Defaults to the model id.'),
  context_limit: z
    .number({ error: 'Context limit is required.' })
    .int('Context limit must be an integer.')
    .positive('Context limit must be greater than 0.')
    .describe('Context window in tokens.'),
  compression_threshold: z
    .number()
    .int()
    .min(0, 'The compression threshold is a percentage from 0 to 100.')
    .max(100, 'The compression threshold is a percentage from 0 to 100.')
    .optional()
    .describe('Compact the conversation when the context is this full (percent; 100 disables). Default 70.'),
  is_default: z
    .boolean()
    .optional()
    .describe('Make this the default model config (the old default is cleared). The first config becomes the default.'),
  enabled: z.boolean().optional().describe('Members see enabled configs only. Defaults to true.'),
  options: modelOptionsSchema.optional(),
  fallback_model_config_id: z
    .uuid({ message: 'Invalid fallback model config id.' })
    .nullable()
    .optional()
    .describe(
      'A live model config, without a fallback of its own, that a model step fails over to when this ' +
        "config's provider stays overloaded or rate-limited; null clears it.",
    ),
};

export const createModelConfigBody = z.strictObject(modelConfigFields);

export const updateModelConfigBody = z.strictObject(modelConfigFields).partial().refine(nonEmpty, 'Nothing to update.');

export const providerIdParams = idParams('provider');
export const modelConfigIdParams = idParams('model config');

export const providerSchema = z
  .object({
    id: z.uuid(),
    provider: providerKind,
    display_name: z.string(),
    base_url: z.string().nullable(),
    api_mode: apiMode.nullable(),
    enabled: z.boolean(),
    has_api_key: z.boolean().describe('Whether a key is stored; the key itself is never returned.'),
    api_key_confirmed: z
      .boolean()
      .describe(
        'Whether the stored key is bound to the current base_url and is sent. False after base_url changed ' +
          'until an admin sends api_key or confirm_api_key: true; false without a key.',
      ),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'ChatProvider' });

export const modelConfigSchema = z
  .object({
    id: z.uuid(),
    provider_id: z.uuid(),
    model: z.string(),
    display_name: z.string(),
    enabled: z.boolean(),
    is_default: z.boolean(),
    context_limit: z.number().int(),
    compression_threshold: z.number().int(),
    options: modelOptionsSchema,
    fallback_model_config_id: z.uuid().nullable(),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'ModelConfig' });

const providersTag = 'Providers';
const modelsTag = 'Model configs';

/** The provider and model-config routes. */
export const modelConfigsApi = {
  listProviders: defineRoute({
    operationId: 'listChatProviders',
    method: 'get',
    path: '/chat-providers',
    summary: 'List providers',
    tag: providersTag,
    access: 'admin',
    schemas: {},
    responses: { 200: { description: 'Live providers, oldest first.', schema: z.array(providerSchema) } },
  }),
  createProvider: defineRoute({
    operationId: 'createChatProvider',
    method: 'post',
    path: '/chat-providers',
    summary: 'Create a provider',
    tag: providersTag,
    access: 'admin',
    schemas: { body: createProviderBody },
    responses: {
      201: { description: 'The new provider.', schema: providerSchema },
      409: { description: 'A live provider of this hosted kind exists (`provider_exists`).' },
    },
  }),
  updateProvider: defineRoute({
    operationId: 'updateChatProvider',
    method: 'patch',
    path: '/chat-providers/:id',
    summary: 'Update a provider',
    tag: providersTag,
    access: 'admin',
    schemas: { params: providerIdParams, body: updateProviderBody },
    responses: { 200: { description: 'The updated provider.', schema: providerSchema } },
  }),
  deleteProvider: defineRoute({
    operationId: 'deleteChatProvider',
    method: 'delete',
    path: '/chat-providers/:id',
    summary: 'Delete a provider',
    description: 'Soft delete: erases the key and soft-deletes the provider’s model configs (costs stay attributed).',
    tag: providersTag,
    access: 'admin',
    schemas: { params: providerIdParams },
    responses: { 204: { description: 'Deleted.' } },
  }),
  listModelConfigs: defineRoute({
    operationId: 'listModelConfigs',
    method: 'get',
    path: '/model-configs',
    summary: 'List model configs',
    description: 'Admins see every live config; members see enabled configs on enabled providers.',
    tag: modelsTag,
    access: 'user',
    schemas: {},
    responses: { 200: { description: 'Model configs, oldest first.', schema: z.array(modelConfigSchema) } },
  }),
  createModelConfig: defineRoute({
    operationId: 'createModelConfig',
    method: 'post',
    path: '/model-configs',
    summary: 'Create a model config',
    tag: modelsTag,
    access: 'admin',
    schemas: { body: createModelConfigBody },
    responses: { 201: { description: 'The new model config.', schema: modelConfigSchema } },
  }),
  updateModelConfig: defineRoute({
    operationId: 'updateModelConfig',
    method: 'patch',
    path: '/model-configs/:id',
    summary: 'Update a model config',
    description:
      '`options` replaces the whole options object. `is_default: false` on the default is refused (`default_required`).',
    tag: modelsTag,
    access: 'admin',
    schemas: { params: modelConfigIdParams, body: updateModelConfigBody },
    responses: { 200: { description: 'The updated model config.', schema: modelConfigSchema } },
  }),
  deleteModelConfig: defineRoute({
    operationId: 'deleteModelConfig',
    method: 'delete',
    path: '/model-configs/:id',
    summary: 'Delete a model config',
    description: 'Soft delete: messages and cost reports keep referencing it.',
    tag: modelsTag,
    access: 'admin',
    schemas: { params: modelConfigIdParams },
    responses: { 204: { description: 'Deleted.' } },
  }),
};
