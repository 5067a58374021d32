/**
 * Cost roll-ups over a time window: everything the users' chats cost, from the assistant messages of
 * their turns (soft-deleted ones too: an edit refunds nothing) and the usage records of their title and
 * compaction calls. By model config (deleted configs keep their rows, so their costs stay named), by root
 * chat (a sub-agent's cost counts towards the chat that started it) and by user. One statement each.
 */
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

/** Sums every roll-up carries. Message counts are of assistant messages; side calls are titles and compactions. */
export interface CostTotals {
  total_cost_micros: number;
  /** Assistant messages with a cost above zero. */
  priced_message_count: number;
  /** Assistant messages without a cost (unpriced model, or no usage reported) or with a cost of zero. */
  unpriced_message_count: number;
  side_call_count: number;
  total_input_tokens: number;
  total_output_tokens: number;
  total_reasoning_tokens: number;
  total_cache_read_tokens: number;
  total_cache_creation_tokens: number;
}

export interface ModelCost extends CostTotals {
  /** Null for side calls on a model no config priced. */
  model_config_id: string | null;
  display_name: string;
  provider: string | null;
  model: string;
  /** The model config was deleted since; its costs stay. */
  deleted: boolean;
}

export interface ChatCost extends CostTotals {
  root_chat_id: string;
  chat_title: string | null;
}

export interface UserCost extends CostTotals {
  user_id: string;
  username: string;
  name: string;
  message_count: number;
  chat_count: number;
}

/** The window `[start, end)` and, for one user's report, whose chats. */
export interface CostWindow {
  start: Date;
  end: Date;
  userId: string | null;
}

const TOTALS: ReadonlyArray<keyof CostTotals> = [
  'total_cost_micros',
  'priced_message_count',
  'unpriced_message_count',
  'side_call_count',
  'total_input_tokens',
  'total_output_tokens',
  'total_reasoning_tokens',
  'total_cache_read_tokens',
  'total_cache_creation_tokens',
];

/** The CostTotals aggregates over rows of `usage`. */
const aggregates = sql.raw(`
  COALESCE(SUM(cost), 0)::bigint AS total_cost_micros,
  (COUNT(*) FILTER (WHERE is_message AND cost > 0))::int AS priced_message_count,
  (COUNT(*) FILTER (WHERE is_message AND (cost IS NULL OR cost = 0)))::int AS unpriced_message_count,
  (COUNT(*) FILTER (WHERE NOT is_message))::int AS side_call_count,
  COALESCE(SUM(input_tokens), 0)::bigint AS total_input_tokens,
  COALESCE(SUM(output_tokens), 0)::bigint AS total_output_tokens,
  COALESCE(SUM(reasoning_tokens), 0)::bigint AS total_reasoning_tokens,
  COALESCE(SUM(cache_read_tokens), 0)::bigint AS total_cache_read_tokens,
  COALESCE(SUM(cache_creation_tokens), 0)::bigint AS total_cache_creation_tokens`);

/** `alias.total_cost_micros, alias.priced_message_count, …`. */
const totalsOf = (alias: string): RawBuilder<unknown> => sql.raw(TOTALS.map((c) => `${alias}.${c}`).join(', '));

/** One row per costed call in the window: the assistant messages and the usage records. */
function usageRows(w: CostWindow): RawBuilder<unknown> {
  const owner = w.userId === null ? sql`` : sql`AND c.owner_id = ${w.userId}`;
  return sql`
    SELECT c.owner_id, c.id AS chat_id, COALESCE(c.root_chat_id, c.id) AS root_chat_id, m.model_config_id,
      NULL::text AS model, m.total_cost_micros AS cost, true AS is_message, m.input_tokens, m.output_tokens,
      m.reasoning_tokens, m.cache_read_tokens, m.cache_creation_tokens
    FROM chat_messages m JOIN chats c ON c.id = m.chat_id
    WHERE m.role = 'assistant' AND m.created_at >= ${w.start} AND m.created_at < ${w.end} ${owner}
    UNION ALL
    SELECT c.owner_id, c.id, COALESCE(c.root_chat_id, c.id), r.model_config_id, r.model, r.total_cost_micros, false,
      r.input_tokens, r.output_tokens, r.reasoning_tokens, r.cache_read_tokens, r.cache_creation_tokens
    FROM chat_usage_records r JOIN chats c ON c.id = r.chat_id
    WHERE r.created_at >= ${w.start} AND r.created_at < ${w.end} ${owner}`;
}

/** The summary of a window: totals, the costs per model config and per root chat (the `chatLimit` costliest). */
export async function costSummary(
  db: Db,
  w: CostWindow,
  chatLimit: number,
): Promise<{ totals: CostTotals; chatCount: number; byModel: ModelCost[]; byChat: ChatCost[] }> {
  const { rows } = await sql<{ totals: CostTotals; chat_count: number; by_model: ModelCost[]; by_chat: ChatCost[] }>`
    WITH usage AS (${usageRows(w)}),
    by_model AS (
      SELECT model_config_id, MAX(model) AS called_model, ${aggregates}
      FROM usage GROUP BY model_config_id, CASE WHEN model_config_id IS NULL THEN model END
    ),
    by_chat AS (
      SELECT root_chat_id, ${aggregates} FROM usage GROUP BY root_chat_id
      ORDER BY total_cost_micros DESC, root_chat_id LIMIT ${chatLimit}
    )
    SELECT
      (SELECT row_to_json(t) FROM (SELECT ${aggregates} FROM usage) t) AS totals,
      (SELECT COUNT(DISTINCT root_chat_id)::int FROM usage) AS chat_count,
      (SELECT COALESCE(json_agg(x ORDER BY x.total_cost_micros DESC, x.display_name), '[]'::json) FROM (
        SELECT b.model_config_id,
          COALESCE(NULLIF(mc.display_name, ''), mc.model, b.called_model, 'unknown') AS display_name,
          p.provider::text AS provider, COALESCE(mc.model, b.called_model, 'unknown') AS model,
          COALESCE(mc.deleted, false) AS deleted, ${totalsOf('b')}
        FROM by_model b
        LEFT JOIN chat_model_configs mc ON mc.id = b.model_config_id
        LEFT JOIN chat_providers p ON p.id = mc.provider_id
      ) x) AS by_model,
      (SELECT COALESCE(json_agg(x ORDER BY x.total_cost_micros DESC, x.root_chat_id), '[]'::json) FROM (
        SELECT b.root_chat_id, rc.title AS chat_title, ${totalsOf('b')}
        FROM by_chat b LEFT JOIN chats rc ON rc.id = b.root_chat_id
      ) x) AS by_chat`.execute(db);
  const row = rows[0]!;
  return { totals: row.totals, chatCount: row.chat_count, byModel: row.by_model, byChat: row.by_chat };
}

/**
 * Every user's cost in the window, costliest first (then by username): those whose chats cost or
 * called anything, optionally only usernames containing `username` (case-insensitive), one page of them,
 * and how many there are in all.
 */
export async function costByUser(
  db: Db,
  w: Omit<CostWindow, 'userId'>,
  page: { username: string | null; limit: number; offset: number },
): Promise<{ count: number; users: UserCost[] }> {
  const nameFilter = page.username === null ? sql`` : sql`WHERE strpos(lower(u.username), lower(${page.username})) > 0`;
  const { rows } = await sql<{ count: number; users: UserCost[] }>`
    WITH usage AS (${usageRows({ ...w, userId: null })}),
    per_user AS (
      SELECT owner_id, ${aggregates}, COUNT(DISTINCT chat_id)::int AS chat_count FROM usage GROUP BY owner_id
    ),
    filtered AS (
      SELECT pu.owner_id AS user_id, u.username, u.name,
        (pu.priced_message_count + pu.unpriced_message_count) AS message_count, pu.chat_count, ${totalsOf('pu')}
      FROM per_user pu JOIN users u ON u.id = pu.owner_id ${nameFilter}
    )
    SELECT
      (SELECT COUNT(*)::int FROM filtered) AS count,
      (SELECT COALESCE(json_agg(x ORDER BY x.total_cost_micros DESC, x.username), '[]'::json) FROM (
        SELECT * FROM filtered ORDER BY total_cost_micros DESC, username LIMIT ${page.limit} OFFSET ${page.offset}
      ) x) AS users`.execute(db);
  return rows[0]!;
}
