/**
 * Idempotency keys (docs/operations.md, "Idempotency"): one row per user and `Idempotency-Key` header value
 * on the routes that take one (POST /chats, POST /chats/:id/messages, POST /files). A row is first a claim
 * (`claim_token`, `claimed_at`, no response) taken atomically with INSERT … ON CONFLICT, then holds the
 * response to replay: its status, JSON body and the headers worth replaying. `fingerprint` is a SHA-256 of
 * the method, path and body, so a reuse for another request is recognised. A row expires 24 h after
 * `created_at`; the API deletes expired rows lazily through the `created_at` index.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE idempotency_keys (
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      -- 1 to 255 printable ASCII characters (space to tilde).
      key text NOT NULL CHECK (key ~ '^[ -~]{1,255}$'),
      request_method text NOT NULL,
      request_path text NOT NULL,
      fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
      claim_token uuid NOT NULL,
      claimed_at timestamptz NOT NULL DEFAULT now(),
      created_at timestamptz NOT NULL DEFAULT now(),
      response_status smallint CHECK (response_status BETWEEN 200 AND 499),
      -- json, not jsonb: the replay is the first response's text, key order included.
      response_body json,
      response_headers jsonb NOT NULL DEFAULT '{}',
      completed_at timestamptz,
      PRIMARY KEY (user_id, key),
      CHECK (completed_at IS NULL OR response_status IS NOT NULL)
    );
    CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE idempotency_keys;`.execute(db);
}
