/**
 * The API's spend check (src/usage/spend-check.ts) over an in-memory store that counts its reads: the
 * refusal and its numbers, reads saved for users without a limit while the cache holds, a limit write
 * through this process seen at once (forget), a foreign chat reported as not found before the limit, and
 * fail-open when the store fails.
 */
import { NotFoundError } from '../../../src/errors';
import { createLogger } from '../../../src/log';
import { UsageLimitExceededError, type LimitSetting, type OwnerLimits } from '../../../src/usage/limits';
import { SpendCheck } from '../../../src/usage/spend-check';
import type { UsageStore } from '../../../src/usage/store';

const NOW = new Date('2026-03-11T15:00:00.000Z');

function memoryStore(state: { setting: LimitSetting; owners: Record<string, OwnerLimits>; spent: number }) {
  const reads = { limits: 0, spend: 0 };
  const store: UsageStore = {
    async loadLimits(userId) {
      reads.limits++;
      return {
        setting: state.setting,
        owner: state.owners[userId] ?? { userLimitMicros: null, groupLimitMicros: null },
      };
    },
    async readSpend() {
      reads.spend++;
      return state.spent;
    },
    async chatOwnedBy(chatId) {
      return chatId === 'own-chat';
    },
  };
  return { store, reads };
}

const enabled: LimitSetting = { enabled: true, defaultLimitMicros: null, period: 'week', updatedAt: null };
const log = createLogger('silent', 'test');

describe('SpendCheck', () => {
  it('refuses once the period’s spend reached the limit, with the week’s end as the reset', async () => {
    const { store } = memoryStore({
      setting: enabled,
      owners: { u: { userLimitMicros: 100, groupLimitMicros: null } },
      spent: 100,
    });
    const check = new SpendCheck(store, log, { cacheMs: 10_000, now: () => NOW });
    const err = await check.assertWithinLimit('u').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageLimitExceededError);
    expect((err as UsageLimitExceededError).details).toEqual({
      spent_micros: 100,
      limit_micros: 100,
      resets_at: '2026-03-16T00:00:00.000Z',
    });
  });

  it('allows below the limit, reading the spend every time but the limits once per cache period', async () => {
    const { store, reads } = memoryStore({
      setting: enabled,
      owners: { u: { userLimitMicros: 100, groupLimitMicros: null } },
      spent: 99,
    });
    let now = NOW;
    const check = new SpendCheck(store, log, { cacheMs: 10_000, now: () => now });
    await check.assertWithinLimit('u');
    await check.assertWithinLimit('u');
    expect(reads).toEqual({ limits: 1, spend: 2 });
    now = new Date(NOW.getTime() + 10_000);
    await check.assertWithinLimit('u');
    expect(reads).toEqual({ limits: 2, spend: 3 });
  });

  it('reads nothing for users without a limit while the cache holds, and nothing at all while disabled', async () => {
    const state = { setting: enabled, owners: {}, spent: 1_000 };
    const { store, reads } = memoryStore(state);
    const check = new SpendCheck(store, log, { cacheMs: 10_000, now: () => NOW });
    for (let i = 0; i < 3; i++) await check.assertWithinLimit('unlimited');
    expect(reads).toEqual({ limits: 1, spend: 0 });

    state.setting = { ...enabled, enabled: false, defaultLimitMicros: 1 };
    check.forget();
    await check.assertWithinLimit('a');
    await check.assertWithinLimit('b');
    await check.assertWithinLimit('c');
    expect(reads).toEqual({ limits: 2, spend: 0 });
  });

  it('sees a limit written through this process at once (forget)', async () => {
    const state = { setting: enabled, owners: {} as Record<string, OwnerLimits>, spent: 50 };
    const { store } = memoryStore(state);
    const check = new SpendCheck(store, log, { cacheMs: 60_000, now: () => NOW });
    await expect(check.assertWithinLimit('u')).resolves.toBeUndefined();
    state.owners.u = { userLimitMicros: 10, groupLimitMicros: null };
    await expect(check.assertWithinLimit('u')).resolves.toBeUndefined();
    check.forget();
    await expect(check.assertWithinLimit('u')).rejects.toBeInstanceOf(UsageLimitExceededError);
  });

  it('reports a chat the user does not own as not found, not as over the limit', async () => {
    const { store } = memoryStore({ setting: { ...enabled, defaultLimitMicros: 1 }, owners: {}, spent: 5 });
    const check = new SpendCheck(store, log, { cacheMs: 0, now: () => NOW });
    await expect(check.assertWithinLimit('u', 'someone-elses-chat')).rejects.toBeInstanceOf(NotFoundError);
    await expect(check.assertWithinLimit('u', 'own-chat')).rejects.toBeInstanceOf(UsageLimitExceededError);
  });

  it('fails open: a failing lookup lets the request through and is logged', async () => {
    const warnings: unknown[] = [];
    const logger = { warn: (...args: unknown[]) => warnings.push(args) } as unknown as typeof log;
    const failing: UsageStore = {
      loadLimits: () => Promise.reject(new Error('database is down')),
      readSpend: () => Promise.reject(new Error('database is down')),
      chatOwnedBy: () => Promise.reject(new Error('database is down')),
    };
    const check = new SpendCheck(failing, logger, { cacheMs: 0, now: () => NOW });
    await expect(check.assertWithinLimit('u', 'chat')).resolves.toBeUndefined();
    expect(warnings).toHaveLength(1);
  });
});
