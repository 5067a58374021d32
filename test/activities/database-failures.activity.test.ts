/**
 * PostgreSQL going away under a worker (a restart or failover; here pg_terminate_backend cuts the
 * connection of a statement in flight, or nothing listens on the port): the pool survives it (no
 * crash from the cut connection's 'error' event, the next statement gets a fresh connection), and
 * activities/failures.ts classifies the failure as the database's, an internal failure that is
 * retried, never as the model provider's, whatever its message looks like.
 */
import { sql } from 'kysely';
import { toActivityFailure } from '../../activities/failures';
import { createDb, isDatabaseError } from '../../src/db/create-db';
import { freePort } from '../../src/infra/embedded-postgres';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { waitUntil } from '../support/wait';

const APPLICATION = 'chatd-cut-test';

/** What a model step's failure becomes when the provider is already known (as after the model resolved). */
const classified = (err: unknown) => {
  const { failure, payload, retryable } = toActivityFailure(err, 'openai');
  return { type: failure.type, retryable, kind: payload.kind };
};
const INTERNAL = { type: 'InternalError', retryable: true, kind: 'generic' };

describe('a database connection cut under a statement', () => {
  let database: TestDatabase;
  const db = () => createDb({ url: database.url, poolSize: 2, applicationName: APPLICATION });

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database.drop();
  });

  /** Terminates the backend running the test's pg_sleep, once it runs. */
  async function cutSleepingConnection(): Promise<void> {
    let pid: number | undefined;
    await waitUntil(async () => {
      const { rows } = await sql<{ pid: number }>`
        select pid from pg_stat_activity
         where application_name = ${APPLICATION} and state = 'active' and query like '%pg_sleep%'`.execute(database.db);
      pid = rows[0]?.pid;
      return pid !== undefined;
    });
    await sql`select pg_terminate_backend(${pid})`.execute(database.db);
  }

  it('fails the transaction as a retryable internal failure, and the pool carries on', async () => {
    const target = db();
    try {
      const failed = target
        .transaction()
        .execute((trx) => sql`select pg_sleep(60)`.execute(trx))
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      await cutSleepingConnection();
      const err = await failed;
      expect(isDatabaseError(err)).toBe(true);
      expect(classified(err)).toEqual(INTERNAL);
      expect((await sql<{ one: number }>`select 1 as one`.execute(target)).rows).toEqual([{ one: 1 }]);
    } finally {
      await target.destroy();
    }
  });

  it('fails a single statement (SQLSTATE 57P01) as a retryable internal failure, not an unknown provider error', async () => {
    const target = db();
    try {
      const failed = sql`select pg_sleep(60)`.execute(target).then(
        () => undefined,
        (err: unknown) => err,
      );
      await cutSleepingConnection();
      const err = await failed;
      expect((err as { code?: string }).code).toBe('57P01');
      expect(classified(err)).toEqual(INTERNAL);
    } finally {
      await target.destroy();
    }
  });

  it('tells a database that refuses connections from a provider that does', async () => {
    const url = new URL(database.url);
    url.port = String(await freePort());
    const unreachable = createDb({ url: url.toString(), poolSize: 1, applicationName: APPLICATION });
    try {
      const err = await sql`select 1`.execute(unreachable).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as { code?: string }).code).toBe('ECONNREFUSED');
      expect(classified(err)).toEqual(INTERNAL);
      // The same refusal from the provider's side is the provider's, and retried as such.
      const fromProvider = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:443'), { code: 'ECONNREFUSED' });
      expect(classified(fromProvider)).toEqual({ type: 'LlmError.Server', retryable: true, kind: 'server' });
    } finally {
      await unreachable.destroy();
    }
  });
});
