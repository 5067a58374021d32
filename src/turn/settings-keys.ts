/**
 * Where the chat settings are stored and how a stored value is read back: the config-table keys of
 * the admin's system prompt, a user's custom prompt and their compaction threshold overrides, and
 * the decoders that turn a jsonb value into a setting. The admin service writes these rows
 * (src/admin/chat-settings.service.ts) and the model step reads them (src/turn/step-settings.ts);
 * both take the keys from here, so the worker never loads the admin services.
 */
import { compactionThresholdKey } from './compaction';

/** site_configs key of the admin's system prompt. */
export const SYSTEM_PROMPT_KEY = 'chat_system_prompt';

/** user_configs key of a user's custom prompt. */
export const USER_PROMPT_KEY = 'chat_user_prompt';

/** Prefix of the user_configs keys holding compaction threshold overrides (one per model config). */
export const THRESHOLD_PREFIX = compactionThresholdKey('');

/** A user's compaction threshold override for one model config. */
export interface CompactionThresholdDto {
  model_config_id: string;
  threshold_percent: number;
}

/** A stored prompt value as a prompt: null unless a non-empty string. */
export const asPrompt = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

/** A stored threshold value as a percent: null unless an integer in 0–100. */
export const asPercent = (value: unknown): number | null =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 100 ? value : null;

/** A user_configs row under THRESHOLD_PREFIX as the override it holds; null for a value that is not a percent. */
export function asThresholdOverride(row: { key: string; value: unknown }): CompactionThresholdDto | null {
  const percent = asPercent(row.value);
  return percent === null
    ? null
    : { model_config_id: row.key.slice(THRESHOLD_PREFIX.length), threshold_percent: percent };
}
