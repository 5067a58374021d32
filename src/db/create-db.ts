/**
 * One Kysely instance per process over a small pg pool. int8 columns become JS numbers: message
 * ids, token counts and micro-dollar costs stay far below 2^53 in any real deployment.
 */
import { Kysely, PostgresDialect } from 'kysely';
import { Pool, types } from 'pg';
import type { Database } from './database';

const INT8_OID = 20;
types.setTypeParser(INT8_OID, (value) => Number(value));

export interface DbOptions {
  url: string;
  poolSize: number;
  applicationName: string;
}

/** Opens the pool lazily (no connection until the first query). Call `db.destroy()` on shutdown. */
export function createDb(options: DbOptions): Kysely<Database> {
  const pool = new Pool({
    connectionString: options.url,
    max: options.poolSize,
    application_name: options.applicationName,
    idleTimeoutMillis: 30_000,
  });
  // An idle client erroring (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
