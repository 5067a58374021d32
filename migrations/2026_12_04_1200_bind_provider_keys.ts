/**
 * Binds each provider API key to the base URL it was entered for (src/security/provider-keys.ts):
 * `api_key_base_url` records that URL, and a key is sent only while it equals the row's base_url,
 * so rewriting base_url stops the key until an admin confirms it again.
 *
 * Existing keys are bound to the URL their row has now (normalised as normaliseBaseUrl does:
 * trimmed, trailing slashes removed, '' for none), so they keep working. Their ciphertext cannot
 * be re-sealed with the URL as additional data here: that needs the encryption keys, which
 * migrations never see (`chatd migrate` and the test helpers run them with a database connection
 * only). chatd re-seals each such key at its first use instead (ModelResolver).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE chat_providers ADD COLUMN api_key_base_url text;
    UPDATE chat_providers
       SET api_key_base_url = regexp_replace(btrim(coalesce(base_url, ''), E' \\t\\r\\n'), '/+$', '')
     WHERE api_key_ciphertext IS NOT NULL;
    ALTER TABLE chat_providers ADD CONSTRAINT chat_providers_api_key_base_url_check
      CHECK (api_key_base_url IS NULL OR api_key_ciphertext IS NOT NULL);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // Keys sealed with their URL since then do not open without it: confirm them again after going back.
  await sql`ALTER TABLE chat_providers DROP COLUMN api_key_base_url;`.execute(db);
}
