/** What one turn of a chat used, summed over its stored model steps (the turn's trace records it). */
import type { Kysely } from 'kysely';
import type { Database } from '../database';

export interface TurnUsage {
  /** Null when no step of the turn was priced (unpriced is not free). */
  costMicros: number | null;
  inputTokens: number;
  outputTokens: number;
}

export async function turnUsage(db: Kysely<Database>, chatId: string, turn: number): Promise<TurnUsage> {
  const row = await db
    .selectFrom('chat_messages')
    .where('chat_id', '=', chatId)
    .where('turn', '=', turn)
    .where('role', '=', 'assistant')
    .select((eb) => [
      eb.fn.sum<number | null>('total_cost_micros').as('cost'),
      eb.fn.sum<number | null>('input_tokens').as('input'),
      eb.fn.sum<number | null>('output_tokens').as('output'),
    ])
    .executeTakeFirstOrThrow();
  // sum() of int8 is numeric, which pg returns as a string.
  const num = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
  return { costMicros: num(row.cost), inputTokens: num(row.input) ?? 0, outputTokens: num(row.output) ?? 0 };
}
