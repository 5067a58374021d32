/**
 * Request and response schemas and route declarations of /config: the admin's
 * system prompt, the caller's custom prompt and their per-model compaction thresholds.
 */
import { z } from 'zod';
import { MAX_PROMPT_CHARS } from '../../admin/chat-settings.service';
import { defineRoute } from '../openapi';
import { uuidParam } from './common.schema';

/** Prompt text: at most MAX_PROMPT_CHARS Unicode characters (code points, not UTF-16 units), no NUL. */
function promptText(label: string) {
  return z
    .string()
    .refine((s) => !s.includes('\u0000'), `${label} must not contain NUL characters.`)
    .refine(
      // A cheap bound first: code points never outnumber UTF-16 units.
      (s) => s.length <= MAX_PROMPT_CHARS || [...s].length <= MAX_PROMPT_CHARS,
      `${label} exceeds maximum length (${MAX_PROMPT_CHARS} characters).`,
    );
}

export const putSystemPromptBody = z.strictObject({
  system_prompt: promptText('System prompt').describe('Added to every chat; an empty string unsets it.'),
});

export const putUserPromptBody = z.strictObject({
  custom_prompt: promptText('Custom prompt').describe('Your instructions for every chat; an empty string unsets them.'),
});

const percent = z
  .number()
  .int('threshold_percent must be an integer.')
  .min(0, 'threshold_percent must be between 0 and 100.')
  .max(100, 'threshold_percent must be between 0 and 100.');

export const putThresholdBody = z.strictObject({
  threshold_percent: percent.describe('Compact when the context is this full (percent; 100 disables compaction).'),
});

export const modelConfigIdParams = z.object({
  modelConfigId: uuidParam('model config').describe('The model config id.'),
});

export const systemPromptSchema = z.object({ system_prompt: z.string().describe('Empty when none is set.') });
export const userPromptSchema = z.object({ custom_prompt: z.string().describe('Empty when none is set.') });
export const thresholdSchema = z
  .object({ model_config_id: z.uuid(), threshold_percent: percent })
  .meta({ id: 'CompactionThreshold' });
export const thresholdSettingSchema = z
  .object({
    model_config_id: z.uuid(),
    threshold_percent: percent.nullable().describe('Your override; null when the model config’s threshold applies.'),
    default_threshold_percent: percent.describe('The model config’s own threshold.'),
  })
  .meta({ id: 'CompactionThresholdSetting' });

const tag = 'Config';

/** The config routes. */
export const configApi = {
  getSystemPrompt: defineRoute({
    operationId: 'getSystemPrompt',
    method: 'get',
    path: '/config/system-prompt',
    summary: 'The system prompt',
    tag,
    access: 'user',
    schemas: {},
    responses: { 200: { description: 'The admin’s system prompt.', schema: systemPromptSchema } },
  }),
  putSystemPrompt: defineRoute({
    operationId: 'setSystemPrompt',
    method: 'put',
    path: '/config/system-prompt',
    summary: 'Set the system prompt',
    tag,
    access: 'admin',
    schemas: { body: putSystemPromptBody },
    responses: { 204: { description: 'Saved (or unset, for an empty prompt).' } },
  }),
  getUserPrompt: defineRoute({
    operationId: 'getUserPrompt',
    method: 'get',
    path: '/config/user-prompt',
    summary: 'Your custom prompt',
    tag,
    access: 'user',
    schemas: {},
    responses: { 200: { description: 'The caller’s custom prompt.', schema: userPromptSchema } },
  }),
  putUserPrompt: defineRoute({
    operationId: 'setUserPrompt',
    method: 'put',
    path: '/config/user-prompt',
    summary: 'Set your custom prompt',
    tag,
    access: 'user',
    schemas: { body: putUserPromptBody },
    responses: { 200: { description: 'The stored prompt.', schema: userPromptSchema } },
  }),
  listThresholds: defineRoute({
    operationId: 'listCompactionThresholds',
    method: 'get',
    path: '/config/compaction-thresholds',
    summary: 'Your compaction threshold overrides',
    tag,
    access: 'user',
    schemas: {},
    responses: {
      200: {
        description: 'One entry per overridden model config.',
        schema: z.object({ thresholds: z.array(thresholdSchema) }),
      },
    },
  }),
  getThreshold: defineRoute({
    operationId: 'getCompactionThreshold',
    method: 'get',
    path: '/config/compaction-thresholds/:modelConfigId',
    summary: 'Your compaction threshold for a model config',
    tag,
    access: 'user',
    schemas: { params: modelConfigIdParams },
    responses: { 200: { description: 'The override and the default.', schema: thresholdSettingSchema } },
  }),
  putThreshold: defineRoute({
    operationId: 'setCompactionThreshold',
    method: 'put',
    path: '/config/compaction-thresholds/:modelConfigId',
    summary: 'Override the compaction threshold for a model config',
    tag,
    access: 'user',
    schemas: { params: modelConfigIdParams, body: putThresholdBody },
    responses: { 200: { description: 'The stored override.', schema: thresholdSchema } },
  }),
  deleteThreshold: defineRoute({
    operationId: 'deleteCompactionThreshold',
    method: 'delete',
    path: '/config/compaction-thresholds/:modelConfigId',
    summary: 'Remove your compaction threshold override',
    tag,
    access: 'user',
    schemas: { params: modelConfigIdParams },
    responses: { 204: { description: 'Removed (idempotent); the model config’s threshold applies.' } },
  }),
};
