/**
 * The activity dependencies of activity tests: real PostgreSQL through `db`, a real model resolver
 * (providers come from the database: see insertFakeProvider), no tools, no workspaces, and a turn
 * launcher that starts nothing. Tests override what they exercise.
 */
import type { Kysely } from 'kysely';
import type { ActivityDeps } from '../../activities';
import type { Database } from '../../src/db/database';
import { createLogger } from '../../src/log';
import type { SecretBox } from '../../src/security/secrets';
import type { StreamBus } from '../../src/stream/bus';
import { buildToolRegistry } from '../../src/tools/registry';
import { ModelResolver } from '../../src/turn/models';
import { StepSettingsCache } from '../../src/turn/step-settings';

export function testActivityDeps(
  db: Kysely<Database>,
  bus: StreamBus,
  secrets: SecretBox,
  overrides: Partial<ActivityDeps> = {},
): ActivityDeps {
  return {
    db,
    bus,
    models: new ModelResolver(
      db,
      secrets,
      { openai: { apiKey: undefined, baseUrl: undefined }, anthropic: { apiKey: undefined, baseUrl: undefined } },
      'chatd/test',
    ),
    settings: new StepSettingsCache(db),
    log: createLogger('silent', 'test'),
    maxSteps: 10,
    approvalTimeoutMs: 86_400_000,
    maxRunningTurnsPerUser: 0,
    chatTools: async () => ({ specs: [], notes: [], approval: () => undefined }),
    tools: buildToolRegistry([]),
    workspaceFor: async () => null,
    turns: {
      requestTurn: async () => undefined,
      interrupt: async () => undefined,
      notifySubagentFinished: async () => undefined,
      decideToolCall: async () => 'not_waiting' as const,
    },
    ...overrides,
  };
}
