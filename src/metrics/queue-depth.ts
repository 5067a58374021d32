/** The queue depth gauge's read (src/metrics/chatd-metrics.ts): two counts on small, indexed sets. */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/database';
import type { QueueDepth } from './chatd-metrics';

export async function readQueueDepth(db: Kysely<Database>): Promise<QueueDepth> {
  const { rows } = await sql<{ awaiting_slot: number; queued_messages: number }>`
    select (select count(*)::int from chats where awaiting_slot_since is not null) as awaiting_slot,
           (select count(*)::int from chat_queued_messages) as queued_messages`.execute(db);
  const row = rows[0];
  return { awaitingSlot: row?.awaiting_slot ?? 0, queuedMessages: row?.queued_messages ?? 0 };
}
