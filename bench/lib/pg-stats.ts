/**
 * Database cost as PostgreSQL sees it: statement counts from pg_stat_statements (limited to chatd's
 * database, reset at the start of each measurement window), write transactions from the
 * transaction-id counter (every write and every pg_notify takes an xid; reads do not), and
 * connection states from pg_stat_activity. The probe's own queries carry the marker comment
 * `/*bench*\/` after their first keyword (pg_stat_statements drops leading comments) and are left
 * out of every count. pg_stat_database is not used: backends flush it lazily (up to 10 s late).
 */
import { Client } from 'pg';

const MARK = '/*bench*/';
const UTILITY = /^\s*(begin|commit|rollback|savepoint|release|set|show|listen|unlisten|discard|deallocate|start)\b/i;
const CONFIG_TABLES = /"?(chat_model_configs|chat_providers|site_configs|user_configs)"?/i;

export interface StatementRow {
  query: string;
  calls: number;
  rows: number;
  total_ms: number;
}

/** What happened in chatd's database during one window. */
export interface PgDelta {
  /** Application statements (no transaction control, LISTEN, pg_notify or bench probes). */
  app_statements: number;
  by_kind: Record<'select' | 'insert' | 'update' | 'delete' | 'other', number>;
  by_table: Record<string, number>;
  /** Statements reading model configs, providers or site/user configs. */
  config_reads: number;
  /** Explicit transactions (COMMIT statements). */
  explicit_commits: number;
  rollbacks: number;
  /** Bus messages published (pg_notify calls). */
  notifies: number;
  /** LISTEN / UNLISTEN statements (bus subscriptions). */
  listens: number;
  /** Every statement sent (application, BEGIN/COMMIT, LISTEN, pg_notify): database round trips. */
  round_trips: number;
  /** Write transactions: transaction ids consumed minus the ones pg_notify took. */
  write_transactions: number;
  /** Total execution time of the application statements, ms. */
  app_exec_ms: number;
  /** The most frequent application statements. */
  top: StatementRow[];
}

function tableOf(query: string): string {
  const match = /\b(?:from|into|update)\s+"?([a-z_][a-z0-9_]*)"?/i.exec(query);
  return match ? match[1]!.toLowerCase() : 'other';
}

function kindOf(query: string): keyof PgDelta['by_kind'] {
  const q = query.trimStart().toLowerCase();
  if (q.startsWith('select') || q.startsWith('with')) {
    if (/\binsert\s+into\b/.test(q)) return 'insert';
    if (/\bupdate\s+"?\w/.test(q) && /\bset\b/.test(q)) return 'update';
    return 'select';
  }
  if (q.startsWith('insert')) return 'insert';
  if (q.startsWith('update')) return 'update';
  if (q.startsWith('delete')) return 'delete';
  return 'other';
}

/** One connection to chatd's database for measuring it. */
export class PgProbe {
  private readonly client: Client;
  private startXmax: bigint | null = null;

  constructor(
    readonly url: string,
    readonly database: string,
  ) {
    this.client = new Client({ connectionString: url, application_name: 'chatd-bench' });
  }

  async connect(): Promise<void> {
    await this.client.connect();
    await this.client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }

  /** Runs a bench query (marked, so it is never counted as chatd's). */
  async query<T extends Record<string, any>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const marked = sql.replace(/^\s*(\w+)/, `$1 ${MARK}`);
    const { rows } = await this.client.query<T>(marked, params);
    return rows;
  }

  /** Starts a window: resets pg_stat_statements and remembers the counters. */
  async begin(): Promise<void> {
    await this.query('SELECT pg_stat_statements_reset()');
    this.startXmax = await this.xmax();
  }

  /** Ends the window begun by begin(). */
  async end(): Promise<PgDelta> {
    const startXmax = this.startXmax;
    if (startXmax === null) throw new Error('PgProbe.end() without begin()');
    const statements = await this.query<{ query: string; calls: string; rows: string; total_ms: number }>(
      `SELECT s.query, s.calls::text AS calls, s.rows::text AS rows, s.total_exec_time AS total_ms
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = $1`,
      [this.database],
    );
    const xmaxNow = await this.xmax();
    const delta: PgDelta = {
      app_statements: 0,
      by_kind: { select: 0, insert: 0, update: 0, delete: 0, other: 0 },
      by_table: {},
      config_reads: 0,
      explicit_commits: 0,
      rollbacks: 0,
      notifies: 0,
      listens: 0,
      round_trips: 0,
      write_transactions: 0,
      app_exec_ms: 0,
      top: [],
    };
    const app: StatementRow[] = [];
    for (const s of statements) {
      const calls = Number(s.calls);
      const query = s.query.replace(/\s+/g, ' ').trim();
      if (query.includes(MARK) || query.includes('pg_stat_statements')) continue;
      delta.round_trips += calls;
      if (/pg_notify/i.test(query)) {
        delta.notifies += calls;
        continue;
      }
      if (UTILITY.test(query)) {
        const verb = query.trimStart().split(/\s/)[0]!.toLowerCase();
        if (verb === 'commit') delta.explicit_commits += calls;
        else if (verb === 'rollback') delta.rollbacks += calls;
        else if (verb === 'listen' || verb === 'unlisten') delta.listens += calls;
        continue;
      }
      delta.app_statements += calls;
      delta.app_exec_ms += s.total_ms;
      delta.by_kind[kindOf(query)] += calls;
      const table = tableOf(query);
      delta.by_table[table] = (delta.by_table[table] ?? 0) + calls;
      if (kindOf(query) === 'select' && CONFIG_TABLES.test(query)) delta.config_reads += calls;
      app.push({ query: query.slice(0, 220), calls, rows: Number(s.rows), total_ms: Math.round(s.total_ms) });
    }
    delta.app_exec_ms = Math.round(delta.app_exec_ms);
    delta.write_transactions = Math.max(0, Number(xmaxNow - startXmax) - delta.notifies);
    delta.top = app.sort((a, b) => b.calls - a.calls).slice(0, 25);
    this.startXmax = null;
    return delta;
  }

  /** Connections of chatd's database by application name and state. */
  async activity(): Promise<Array<{ app: string; state: string; n: number }>> {
    return this.query<{ app: string; state: string; n: number }>(
      `SELECT application_name AS app, coalesce(state, '') AS state, count(*)::int AS n
         FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() GROUP BY 1, 2`,
      [this.database],
    );
  }

  private async xmax(): Promise<bigint> {
    const [row] = await this.query<{ x: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS x');
    return BigInt(row!.x);
  }
}
