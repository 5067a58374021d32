/**
 * The chat configuration a model step applies (written by src/admin/chat-settings.service.ts, stored
 * under the keys in src/turn/settings-keys.ts): the admin's system prompt and approval policy for the
 * built-in tools, the chat owner's custom prompt and their compaction threshold overrides. Cached per process for the config generation the
 * step read (src/turn/generation-cache.ts), so steps read the config tables only after a change, and
 * then in one statement.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import { listSiteAndUserConfigs } from '../db/repositories/configs.repository';
import { asPrompt, asThresholdOverride, SYSTEM_PROMPT_KEY, THRESHOLD_PREFIX, USER_PROMPT_KEY } from './settings-keys';
import { GenerationCache } from './generation-cache';
import type { ToolApprovalPolicy } from './chat-tools';
import {
  asBuiltInPolicy,
  builtInApproval,
  DEFAULT_BUILT_IN_POLICY,
  TOOL_APPROVAL_KEY,
  type BuiltInApprovalPolicy,
} from './tool-approval-policy';

/** What a step applies for one user. */
export interface StepSettings {
  systemPrompt: string | null;
  userPrompt: string | null;
  /** The user's compaction threshold override (percent) for a model config, or null. */
  userThreshold(modelConfigId: string): number | null;
  /** The admin's approval policy for a built-in tool (docs/tool-approval.md). */
  builtInApproval(name: string): ToolApprovalPolicy;
}

interface SiteSettings {
  systemPrompt: string | null;
  approval: BuiltInApprovalPolicy;
}

interface UserSettings {
  prompt: string | null;
  thresholds: ReadonlyMap<string, number>;
}

const SITE = 'site';
/** Users whose settings a process keeps; a prompt is at most 128K characters. */
const MAX_CACHED_USERS = 256;

export class StepSettingsCache {
  private readonly site = new GenerationCache<SiteSettings>(1);
  private readonly users = new GenerationCache<UserSettings>(MAX_CACHED_USERS);

  constructor(private readonly db: Kysely<Database>) {}

  /** The settings for `userId` as of `configGeneration` (read by the caller) or newer. */
  async forUser(userId: string, configGeneration: number): Promise<StepSettings> {
    const site = this.site.get(SITE, configGeneration);
    const user = this.users.get(userId, configGeneration);
    if (site && user) return settings(site, user);
    const loaded = await this.load(userId);
    this.site.set(SITE, configGeneration, loaded.site);
    this.users.set(userId, configGeneration, loaded.user);
    return settings(loaded.site, loaded.user);
  }

  private async load(userId: string): Promise<{ site: SiteSettings; user: UserSettings }> {
    const rows = await listSiteAndUserConfigs(
      this.db,
      [SYSTEM_PROMPT_KEY, TOOL_APPROVAL_KEY],
      userId,
      [USER_PROMPT_KEY],
      THRESHOLD_PREFIX,
    );
    const thresholds = new Map<string, number>();
    const site: SiteSettings = { systemPrompt: null, approval: DEFAULT_BUILT_IN_POLICY };
    let prompt: string | null = null;
    for (const row of rows) {
      if (row.scope === 'site') {
        if (row.key === SYSTEM_PROMPT_KEY) site.systemPrompt = asPrompt(row.value);
        else site.approval = asBuiltInPolicy(row.value);
      } else if (row.key === USER_PROMPT_KEY) prompt = asPrompt(row.value);
      else {
        const override = asThresholdOverride(row);
        if (override) thresholds.set(override.model_config_id, override.threshold_percent);
      }
    }
    return { site, user: { prompt, thresholds } };
  }
}

function settings(site: SiteSettings, user: UserSettings): StepSettings {
  return {
    systemPrompt: site.systemPrompt,
    userPrompt: user.prompt,
    userThreshold: (modelConfigId) => user.thresholds.get(modelConfigId) ?? null,
    builtInApproval: (name) => builtInApproval(site.approval, name),
  };
}
