/**
 * StepSettingsCache on real PostgreSQL: what a step applies for a user (system prompt, their prompt,
 * their threshold per model config), served from memory while the config generation the step read
 * stays the same, and read again once a write moved it. Users never see each other's settings.
 */
import { compactionThresholdKey } from '../../../src/turn/compaction';
import { StepSettingsCache } from '../../../src/turn/step-settings';
import { putSiteConfig, putUserConfig } from '../../../src/db/repositories/configs.repository';
import { findChatWithConfigGeneration } from '../../../src/db/repositories/steps.repository';
import { insertUser } from '../../../src/db/repositories/users.repository';
import { createTestDatabase, insertUnusedModelConfig, type TestDatabase } from '../../support/db';

describe('StepSettingsCache', () => {
  let database: TestDatabase;
  let chatId: string;
  let userId: string;
  let otherId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    userId = (await insertUser(database.db, { username: 'settings-user', role: 'member' })).id;
    otherId = (await insertUser(database.db, { username: 'settings-other', role: 'member' })).id;
    const config = await insertUnusedModelConfig(database.db);
    chatId = (
      await database.db
        .insertInto('chats')
        .values({ owner_id: userId, last_model_config_id: config.id, labels: '{}' })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  });

  afterAll(async () => {
    await database?.drop();
  });

  /** The generation a step reading the chat now would see. */
  const generation = async () => (await findChatWithConfigGeneration(database.db, chatId))!.configGeneration;

  it('serves what was read while the generation holds, and the new values once it moves', async () => {
    const cache = new StepSettingsCache(database.db);
    const before = await generation();
    const empty = await cache.forUser(userId, before);
    expect({ system: empty.systemPrompt, user: empty.userPrompt, threshold: empty.userThreshold('m1') }).toEqual({
      system: null,
      user: null,
      threshold: null,
    });

    await putSiteConfig(database.db, 'chat_system_prompt', 'Be brief.');
    await putUserConfig(database.db, userId, 'chat_user_prompt', 'Use metric units.');
    await putUserConfig(database.db, userId, compactionThresholdKey('m1'), 40);
    await putUserConfig(database.db, userId, compactionThresholdKey('m2'), 150);
    await putUserConfig(database.db, otherId, 'chat_user_prompt', 'Not yours.');

    // A step that read the old generation is served from memory.
    expect((await cache.forUser(userId, before)).systemPrompt).toBeNull();

    const after = await generation();
    expect(after).toBeGreaterThan(before);
    const current = await cache.forUser(userId, after);
    expect(current.systemPrompt).toBe('Be brief.');
    expect(current.userPrompt).toBe('Use metric units.');
    expect(current.userThreshold('m1')).toBe(40);
    // Out of range: the model config's own threshold applies.
    expect(current.userThreshold('m2')).toBeNull();
    expect(current.userThreshold('m3')).toBeNull();

    const other = await cache.forUser(otherId, after);
    expect(other.userPrompt).toBe('Not yours.');
    expect(other.userThreshold('m1')).toBeNull();
    expect(other.systemPrompt).toBe('Be brief.');
  });
});
