/**
 * The worker's budget check (src/usage/turn-budget.ts) on real PostgreSQL, counting the statements it
 * sends: none while limits are off or the owner is far from their limit (the spend is reused for the
 * refresh interval, plus the costs this process adds), a spend read on every check once less than 20 %
 * remains, a limit change seen at the next check through the config generation, and the refusal once the
 * period's spend reached the limit. These are what keep a model step as cheap as before (bench S7).
 */
import { Kysely, PostgresDialect } from 'kysely';
import { Pool } from 'pg';
import type { Database } from '../../../src/db/database';
import { findChatWithConfigGeneration } from '../../../src/db/repositories/steps.repository';
import { insertUser } from '../../../src/db/repositories/users.repository';
import { putLimitSetting, setUserLimit } from '../../../src/db/repositories/usage.repository';
import { createLogger } from '../../../src/log';
import { UsageLimitExceededError } from '../../../src/usage/limits';
import { pgUsageStore } from '../../../src/usage/store';
import { TurnBudget } from '../../../src/usage/turn-budget';
import { createTestDatabase, insertUnusedModelConfig, type TestDatabase } from '../../support/db';

describe('TurnBudget', () => {
  let database: TestDatabase;
  /** The same database through a Kysely that counts every statement it sends. */
  let counted: Kysely<Database>;
  let statements: string[];
  let modelConfigId: string;
  const log = createLogger('silent', 'test');

  beforeAll(async () => {
    database = await createTestDatabase();
    modelConfigId = (await insertUnusedModelConfig(database.db)).id;
    statements = [];
    counted = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: new Pool({ connectionString: database.url, max: 2 }) }),
      log: (event) => {
        if (event.level === 'query') statements.push(event.query.sql);
      },
    });
  });

  afterAll(async () => {
    await counted?.destroy();
    await database?.drop();
  });

  /** A user with a chat, and the generation a step of that chat would read now. */
  async function owner(): Promise<{ userId: string; chatId: string; generation: () => Promise<number> }> {
    const userId = (
      await insertUser(database.db, { username: `budget-${Math.random().toString(36).slice(2)}`, role: 'member' })
    ).id;
    const chat = await database.db
      .insertInto('chats')
      .values({ owner_id: userId, last_model_config_id: modelConfigId, labels: '{}' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const generation = async () => (await findChatWithConfigGeneration(database.db, chat.id))!.configGeneration;
    return { userId, chatId: chat.id, generation };
  }

  /** Makes `chatId` cost `micros` now: one assistant message of that cost. */
  async function spend(chatId: string, micros: number): Promise<void> {
    await database.db
      .insertInto('chat_messages')
      .values({ chat_id: chatId, role: 'assistant', content: '[]', total_cost_micros: micros } as never)
      .execute();
  }

  /** Statements `fn` sends through the counted database. */
  async function statementsOf(fn: () => Promise<unknown>): Promise<number> {
    const before = statements.length;
    await fn();
    return statements.length - before;
  }

  it('costs no statement while limits are disabled, for any owner, once the setting was read', async () => {
    await putLimitSetting(database.db, { enabled: false, default_limit_micros: 1000, period: 'month' });
    const a = await owner();
    const b = await owner();
    const generation = await a.generation();
    const budget = new TurnBudget(pgUsageStore(counted), log, { refreshMs: 60_000 });
    expect(await statementsOf(() => budget.check(a.userId, generation))).toBe(1);
    expect(await statementsOf(() => budget.check(a.userId, generation))).toBe(0);
    expect(await statementsOf(() => budget.check(b.userId, generation))).toBe(0);
  });

  it('reuses the spend far from the limit, adds its own costs, and reads it on every check when close', async () => {
    await putLimitSetting(database.db, { enabled: true, default_limit_micros: null, period: 'month' });
    const { userId, chatId, generation } = await owner();
    await setUserLimit(database.db, userId, 1_000_000);
    await spend(chatId, 100_000);
    const gen = await generation();
    const budget = new TurnBudget(pgUsageStore(counted), log, { refreshMs: 60_000 });

    // The first check reads the limits and the spend; then nothing while 90 % remains.
    expect(await statementsOf(() => budget.check(userId, gen))).toBe(2);
    for (let i = 0; i < 5; i++) expect(await statementsOf(() => budget.check(userId, gen))).toBe(0);

    // A step of this process cost 750,000: 15 % remains, so the next checks read the spend (only).
    await spend(chatId, 750_000);
    budget.add(userId, 750_000);
    expect(await statementsOf(() => budget.check(userId, gen))).toBe(1);
    expect(await statementsOf(() => budget.check(userId, gen))).toBe(1);

    // Spend at the limit: refused, with the period's end as the reset time.
    await spend(chatId, 150_000);
    const refused = await budget.check(userId, gen).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(UsageLimitExceededError);
    const now = new Date();
    expect((refused as UsageLimitExceededError).details).toEqual({
      spent_micros: 1_000_000,
      limit_micros: 1_000_000,
      resets_at: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString(),
    });
  });

  it('does not see spend of other processes until the refresh interval passed (the documented lag)', async () => {
    await putLimitSetting(database.db, { enabled: true, default_limit_micros: 1_000_000, period: 'day' });
    const { userId, chatId, generation } = await owner();
    const gen = await generation();
    let now = new Date();
    const budget = new TurnBudget(pgUsageStore(counted), log, { refreshMs: 10_000, now: () => now });
    await budget.check(userId, gen);
    await spend(chatId, 1_000_000);
    // Another process spent everything: invisible for now (far from the limit as far as this one knows)...
    await expect(budget.check(userId, gen)).resolves.toBeUndefined();
    // ...and read once the interval passed.
    now = new Date(now.getTime() + 10_000);
    await expect(budget.check(userId, gen)).rejects.toBeInstanceOf(UsageLimitExceededError);
  });

  it('applies a limit change at the next check: the write moved the config generation', async () => {
    await putLimitSetting(database.db, { enabled: true, default_limit_micros: null, period: 'week' });
    const { userId, chatId, generation } = await owner();
    await spend(chatId, 5_000);
    const budget = new TurnBudget(pgUsageStore(counted), log, { refreshMs: 60_000 });
    const before = await generation();
    // No limit of any kind: unlimited, and free from then on.
    await budget.check(userId, before);
    expect(await statementsOf(() => budget.check(userId, before))).toBe(0);

    await setUserLimit(database.db, userId, 5_000);
    const after = await generation();
    expect(after).toBeGreaterThan(before);
    await expect(budget.check(userId, after)).rejects.toBeInstanceOf(UsageLimitExceededError);

    // A group membership moves it too (the lowest group limit applies when the user has none).
    await setUserLimit(database.db, userId, null);
    const group = await database.db
      .insertInto('groups')
      .values({ name: `g-${Math.random().toString(36).slice(2)}`, chat_spend_limit_micros: 1_000_000 })
      .returning('id')
      .executeTakeFirstOrThrow();
    const g1 = await generation();
    await expect(budget.check(userId, g1)).resolves.toBeUndefined();
    await database.db.insertInto('group_members').values({ group_id: group.id, user_id: userId }).execute();
    await database.db
      .updateTable('groups')
      .set({ chat_spend_limit_micros: 4_000 })
      .where('id', '=', group.id)
      .execute();
    const g2 = await generation();
    expect(g2).toBeGreaterThan(g1);
    await expect(budget.check(userId, g2)).rejects.toBeInstanceOf(UsageLimitExceededError);
  });

  it('fails open: a lookup that fails lets the call go on, and is logged', async () => {
    const warnings: unknown[] = [];
    const logger = { warn: (...args: unknown[]) => warnings.push(args) } as unknown as typeof log;
    const broken = {
      loadLimits: async () => {
        throw new Error('limits unavailable');
      },
      readSpend: async () => {
        throw new Error('spend unavailable');
      },
      chatOwnedBy: async () => true,
    };
    const budget = new TurnBudget(broken, logger, { refreshMs: 60_000 });
    await expect(budget.check('00000000-0000-4000-8000-000000000001', 1)).resolves.toBeUndefined();
    await expect(budget.allows('00000000-0000-4000-8000-000000000001', 1)).resolves.toBe(true);
    expect(warnings).toHaveLength(2);
  });
});
