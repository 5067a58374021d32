/**
 * Fair scheduling of turns (docs/operations.md "Fair scheduling"): each user may run a bounded number of
 * root-chat turns at once. `users.running_turns` counts the slots a user's chats hold and is only moved
 * by single atomic UPDATEs (taken when a turn starts, given back when it ends), so the cap holds across
 * any number of workers; `chats.holds_turn_slot` says which chat holds one. A turn refused a slot
 * stays `pending` with `awaiting_slot_since` set: waiting turns start in that order.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE users ADD COLUMN running_turns integer NOT NULL DEFAULT 0 CHECK (running_turns >= 0);
    ALTER TABLE chats
      ADD COLUMN holds_turn_slot boolean NOT NULL DEFAULT false,
      ADD COLUMN awaiting_slot_since timestamptz;
    CREATE INDEX chats_awaiting_slot_idx ON chats (owner_id, awaiting_slot_since) WHERE awaiting_slot_since IS NOT NULL;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP INDEX chats_awaiting_slot_idx;
    ALTER TABLE chats DROP COLUMN holds_turn_slot, DROP COLUMN awaiting_slot_since;
    ALTER TABLE users DROP COLUMN running_turns;
  `.execute(db);
}
