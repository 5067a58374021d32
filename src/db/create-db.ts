/**
 * One Kysely instance per process over a small pg pool. int8 columns become JS numbers: message
 * ids, token counts and micro-dollar costs stay far below 2^53 in any real deployment. The pool
 * survives PostgreSQL going away (restart, failover): no connection error crashes the process, and
 * every error that comes from PostgreSQL or the connection to it is marked (isDatabaseError), so
 * callers can tell a database outage from other failures without parsing messages.
 */
import { Kysely, PostgresDialect, type PostgresPool, type PostgresPoolClient } from 'kysely';
import { Pool, types } from 'pg';
import type { Database } from './database';

const INT8_OID = 20;
types.setTypeParser(INT8_OID, (value) => Number(value));

export interface DbOptions {
  url: string;
  poolSize: number;
  applicationName: string;
  /** Wraps every statement (tracing's database spans, src/tracing/spans.ts); unset: statements run as they are. */
  wrapQuery?: <T>(sql: string, run: () => Promise<T>) => Promise<T>;
}

/** Opens the pool lazily (no connection until the first query). Call `db.destroy()` on shutdown. */
export function createDb(options: DbOptions): Kysely<Database> {
  const pool = new Pool({
    connectionString: options.url,
    max: options.poolSize,
    application_name: options.applicationName,
    idleTimeoutMillis: 30_000,
  });
  // A cut connection emits 'error' on its client, and an 'error' nobody listens to crashes the
  // process. pg-pool listens only while a client is idle (and re-emits it here: ignored, the pool
  // replaces the client); while a client is checked out the statement in flight fails by itself,
  // and the pool drops the broken client when it comes back.
  pool.on('error', ignore);
  pool.on('acquire', (client) => client.on('error', ignore));
  pool.on('release', (_err, client) => client.off('error', ignore));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: markingErrors(pool, options.wrapQuery) }) });
}

const ignore = (): void => undefined;

const databaseErrors = new WeakSet<object>();

/**
 * True for an error thrown by a database created with createDb: a statement PostgreSQL refused, a
 * connection it cut (restart, failover) or one that could not be opened.
 */
export function isDatabaseError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && databaseErrors.has(err);
}

/**
 * A database error that says the database cannot be reached right now, rather than that a
 * statement was wrong: no SQLSTATE (a refused or cut connection), class 08 (connection exception)
 * or 57P (shutting down, starting up).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!isDatabaseError(err)) return false;
  const code = (err as { code?: unknown }).code;
  return typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || code.startsWith('08') || code.startsWith('57P');
}

function rethrowMarked(err: unknown): never {
  if (typeof err === 'object' && err !== null) databaseErrors.add(err);
  throw err;
}

/**
 * The pool as Kysely uses it: connecting and every statement mark their errors (the same objects,
 * rethrown); `wrap`, when set, runs around each statement.
 */
function markingErrors(pool: Pool, wrap?: DbOptions['wrapQuery']): PostgresPool {
  return {
    async connect() {
      const client = await pool.connect().catch(rethrowMarked);
      const run = (sql: string, parameters: unknown[]) => client.query(sql, parameters).catch(rethrowMarked);
      const query = wrap ? (sql: string, parameters: unknown[]) => wrap(sql, () => run(sql, parameters)) : run;
      // Kysely calls only query(sql, parameters): this dialect has no cursor, so there is no cursor form to wrap.
      return { query: query as unknown as PostgresPoolClient['query'], release: () => client.release() };
    },
    end: () => pool.end(),
  };
}
