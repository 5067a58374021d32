/**
 * Pinned chats. `chats.pin_order` (0: not pinned, N > 0: position N among the owner's pinned chats)
 * becomes settable, and GET /chats lists pinned chats first. This partial index serves the pinned
 * part of the listing (few rows per owner, in pin order); the unpinned part keeps using
 * chats_owner_listing_idx. The CHECK keeps positions non-negative whatever writes them.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE INDEX chats_owner_pinned_idx ON chats (owner_id, archived, pin_order, updated_at DESC, id DESC)
      WHERE pin_order > 0;
    ALTER TABLE chats ADD CONSTRAINT chats_pin_order_check CHECK (pin_order >= 0) NOT VALID;
    ALTER TABLE chats VALIDATE CONSTRAINT chats_pin_order_check;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE chats DROP CONSTRAINT chats_pin_order_check;
    DROP INDEX chats_owner_pinned_idx;
  `.execute(db);
}
