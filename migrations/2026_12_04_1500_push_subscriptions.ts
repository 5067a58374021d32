/**
 * Web push subscriptions: each row is one browser's PushSubscription (its push service endpoint and
 * the keys a payload is encrypted to) for one user. An endpoint identifies a browser subscription
 * world-wide, so it is unique: a browser that subscribes again, or for another user, replaces its row.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE push_subscriptions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      endpoint text NOT NULL CHECK (endpoint LIKE 'https://%'),
      p256dh text NOT NULL CHECK (p256dh <> ''),
      auth text NOT NULL CHECK (auth <> ''),
      expires_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX push_subscriptions_endpoint_key ON push_subscriptions (endpoint);
    CREATE INDEX push_subscriptions_user_id_idx ON push_subscriptions (user_id, updated_at);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE push_subscriptions;`.execute(db);
}
