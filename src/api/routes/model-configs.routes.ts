/** /chat-providers (admin) and /model-configs (members list enabled ones; admins write). */
import Router from '@koa/router';
import { z } from 'zod';
import type { Actor } from '../../chat/chat.service';
import { createModelConfig, createProvider, getModelConfigs, getProviders } from '../../chat/model-configs.service';
import type { AppDeps } from '../app';
import { requireAdmin } from '../middleware/auth';
import { input, validate } from '../middleware/validate';

export const createProviderBody = z.strictObject({
  provider: z.enum(['openai', 'anthropic', 'openai-compat']),
  display_name: z.string().max(200).optional(),
  api_key: z.string().min(1).max(4096).optional().describe('Write-only; stored encrypted.'),
  base_url: z.url({ protocol: /^https?$/ }).optional(),
  api_mode: z
    .enum(['responses', 'chat'])
    .optional()
    .describe('OpenAI only: Responses API (default) or Chat Completions.'),
});

const price = z.number().min(0, 'Prices must not be negative.');
export const createModelConfigBody = z.strictObject({
  provider_id: z.uuid(),
  model: z.string().min(1).max(200),
  display_name: z.string().max(200).optional(),
  context_limit: z.number().int().positive('Context limit is required.'),
  compression_threshold: z.number().int().min(0).max(100).optional(),
  is_default: z.boolean().optional(),
  options: z
    .strictObject({
      call_options: z
        .strictObject({
          maxOutputTokens: z.number().int().positive().optional(),
          temperature: z.number().min(0).max(2).optional(),
          topP: z.number().min(0).max(1).optional(),
          reasoningEffort: z.enum(['minimal', 'low', 'medium', 'high']).optional(),
          reasoningSummary: z.enum(['auto', 'concise', 'detailed']).optional(),
          thinkingBudgetTokens: z.number().int().min(1024).optional(),
          store: z.boolean().optional(),
        })
        .optional(),
      cost: z
        .strictObject({
          input_price_per_million_tokens: price.optional(),
          output_price_per_million_tokens: price.optional(),
          cache_read_price_per_million_tokens: price.optional(),
          cache_write_price_per_million_tokens: price.optional(),
        })
        .optional(),
    })
    .optional(),
});

export function modelConfigsRouter(deps: AppDeps): Router {
  const router = new Router();
  const actor = (ctx: { state: { actor?: Actor } }): Actor => ctx.state.actor!;

  router.get('/chat-providers', requireAdmin(), async (ctx) => {
    ctx.body = await getProviders(deps);
  });
  const providerSchemas = { body: createProviderBody };
  router.post('/chat-providers', requireAdmin(), validate(providerSchemas), async (ctx) => {
    ctx.status = 201;
    ctx.body = await createProvider(deps, actor(ctx), input(ctx, providerSchemas).body);
  });

  router.get('/model-configs', async (ctx) => {
    ctx.body = await getModelConfigs(deps, actor(ctx));
  });
  const configSchemas = { body: createModelConfigBody };
  router.post('/model-configs', requireAdmin(), validate(configSchemas), async (ctx) => {
    ctx.status = 201;
    ctx.body = await createModelConfig(deps, actor(ctx), input(ctx, configSchemas).body);
    deps.onModelConfigChange();
  });
  return router;
}
