/**
 * Chat configuration: the admin's system prompt (site-wide), each user's custom prompt and
 * per-model compaction threshold overrides. The readers take only the database; the model step
 * reads the same rows through its per-process cache (src/turn/step-settings.ts). Keys and value
 * decoding live in src/turn/settings-keys.ts, shared with that cache.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import {
  deleteSiteConfig,
  deleteUserConfig,
  getSiteConfig,
  getUserConfig,
  listUserConfigsByPrefix,
  putSiteConfig,
  putUserConfig,
} from '../db/repositories/configs.repository';
import { compactionThresholdKey } from '../turn/compaction';
import {
  asPercent,
  asPrompt,
  asThresholdOverride,
  SYSTEM_PROMPT_KEY,
  THRESHOLD_PREFIX,
  USER_PROMPT_KEY,
  type CompactionThresholdDto,
} from '../turn/settings-keys';
import { requireVisibleModelConfig } from './model-configs.service';
import type { Actor } from '../security/actor';

/** Longest system or user prompt, in characters (Unicode code points). */
export const MAX_PROMPT_CHARS = 131_072;

/** One model config's threshold as the user sees it: the override (or null) and the config's own. */
export interface CompactionThresholdSettingDto {
  model_config_id: string;
  /** The user's override; null when the model config's threshold applies. */
  threshold_percent: number | null;
  /** The model config's own threshold. */
  default_threshold_percent: number;
}

/** A blank prompt means "no prompt": it is removed rather than stored. */
const isBlank = (prompt: string): boolean => prompt.trim() === '';

/** The admin's system prompt, or null when none is set. */
export async function getSystemPrompt(db: Kysely<Database>): Promise<string | null> {
  return asPrompt(await getSiteConfig(db, SYSTEM_PROMPT_KEY));
}

/** Sets the system prompt; an empty (or blank) prompt unsets it. Length is checked at the edge. */
export async function setSystemPrompt(deps: { db: Kysely<Database> }, prompt: string): Promise<void> {
  if (isBlank(prompt)) await deleteSiteConfig(deps.db, SYSTEM_PROMPT_KEY);
  else await putSiteConfig(deps.db, SYSTEM_PROMPT_KEY, prompt);
}

/** The user's custom prompt, or null when none is set. */
export async function getUserPrompt(db: Kysely<Database>, userId: string): Promise<string | null> {
  return asPrompt(await getUserConfig(db, userId, USER_PROMPT_KEY));
}

/** Sets the caller's custom prompt (blank unsets it) and returns what is now stored. */
export async function setUserPrompt(
  deps: { db: Kysely<Database> },
  actor: Actor,
  prompt: string,
): Promise<string | null> {
  if (isBlank(prompt)) {
    await deleteUserConfig(deps.db, actor.id, USER_PROMPT_KEY);
    return null;
  }
  await putUserConfig(deps.db, actor.id, USER_PROMPT_KEY, prompt);
  return prompt;
}

/**
 * The user's compaction threshold override (percent, 0–100) for the model config, or null when the
 * model config's own threshold applies.
 */
export async function getUserCompactionThreshold(
  db: Kysely<Database>,
  userId: string,
  modelConfigId: string,
): Promise<number | null> {
  return asPercent(await getUserConfig(db, userId, compactionThresholdKey(modelConfigId)));
}

/** Every compaction threshold override of the caller, by model config id. */
export async function listCompactionThresholds(
  deps: { db: Kysely<Database> },
  actor: Actor,
): Promise<CompactionThresholdDto[]> {
  const rows = await listUserConfigsByPrefix(deps.db, actor.id, THRESHOLD_PREFIX);
  return rows.flatMap((row) => asThresholdOverride(row) ?? []);
}

/** The caller's threshold for one model config. Throws NotFoundError for a config they cannot see. */
export async function getCompactionThreshold(
  deps: { db: Kysely<Database> },
  actor: Actor,
  modelConfigId: string,
): Promise<CompactionThresholdSettingDto> {
  const config = await requireVisibleModelConfig(deps.db, actor, modelConfigId);
  return {
    model_config_id: config.id,
    threshold_percent: await getUserCompactionThreshold(deps.db, actor.id, config.id),
    default_threshold_percent: config.compression_threshold,
  };
}

/** Sets the caller's override (0–100, checked at the edge). Throws NotFoundError for an unknown config. */
export async function setCompactionThreshold(
  deps: { db: Kysely<Database> },
  actor: Actor,
  modelConfigId: string,
  percent: number,
): Promise<CompactionThresholdDto> {
  const config = await requireVisibleModelConfig(deps.db, actor, modelConfigId);
  await putUserConfig(deps.db, actor.id, compactionThresholdKey(config.id), percent);
  return { model_config_id: config.id, threshold_percent: percent };
}

/** Removes the caller's override (idempotent). Throws NotFoundError for an unknown config. */
export async function deleteCompactionThreshold(
  deps: { db: Kysely<Database> },
  actor: Actor,
  modelConfigId: string,
): Promise<void> {
  const config = await requireVisibleModelConfig(deps.db, actor, modelConfigId);
  await deleteUserConfig(deps.db, actor.id, compactionThresholdKey(config.id));
}
