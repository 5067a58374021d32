/**
 * MCP servers (docs/mcp.md): the servers admins configure, each user's OAuth tokens for them, and the
 * pending OAuth authorizations. Secrets (API keys, custom header values, the OAuth client secret, tokens,
 * PKCE code verifiers) are AES-256-GCM ciphertext with the id of the key that sealed them; the database
 * never holds a key. Pending authorizations are looked up by the SHA-256 of their `state`, live for a few
 * minutes and are consumed once.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE mcp_servers (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      slug text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,30}$'),
      display_name text NOT NULL,
      description text NOT NULL DEFAULT '',
      url text NOT NULL CHECK (url ~ '^https?://'),
      transport text NOT NULL CHECK (transport IN ('streamable_http', 'sse')),
      auth_type text NOT NULL CHECK (auth_type IN ('none', 'api_key', 'headers', 'oauth2')),
      api_key_header text,
      header_names text[] NOT NULL DEFAULT '{}',
      oauth2_client_id text,
      oauth2_scopes text[] NOT NULL DEFAULT '{}',
      oauth2_authorization_url text,
      oauth2_token_url text,
      secrets_ciphertext bytea,
      secrets_key_id text,
      availability text NOT NULL DEFAULT 'default_off'
        CHECK (availability IN ('force_on', 'default_on', 'default_off')),
      tool_allow_list text[] NOT NULL DEFAULT '{}',
      tool_deny_list text[] NOT NULL DEFAULT '{}',
      approval text NOT NULL DEFAULT 'auto' CHECK (approval IN ('auto', 'ask')),
      tool_approval jsonb NOT NULL DEFAULT '{}',
      enabled boolean NOT NULL DEFAULT true,
      created_by uuid REFERENCES users (id) ON DELETE SET NULL,
      updated_by uuid REFERENCES users (id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK ((secrets_ciphertext IS NULL) = (secrets_key_id IS NULL)),
      CHECK (auth_type <> 'oauth2' OR oauth2_client_id IS NOT NULL)
    );
    CREATE UNIQUE INDEX mcp_servers_slug_key ON mcp_servers (slug);

    CREATE TABLE mcp_server_user_tokens (
      server_id uuid NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      tokens_ciphertext bytea NOT NULL,
      tokens_key_id text NOT NULL,
      token_type text NOT NULL DEFAULT 'Bearer',
      expires_at timestamptz,
      scope text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (server_id, user_id)
    );
    CREATE INDEX mcp_server_user_tokens_user_idx ON mcp_server_user_tokens (user_id);

    CREATE TABLE mcp_oauth_states (
      state_hash bytea PRIMARY KEY,
      server_id uuid NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      verifier_ciphertext bytea NOT NULL,
      verifier_key_id text NOT NULL,
      redirect_uri text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX mcp_oauth_states_expires_idx ON mcp_oauth_states (expires_at);

    -- Workers cache the server rows per config generation: every write moves it.
    CREATE TRIGGER mcp_servers_bump_config_generation
      AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mcp_servers
      FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation();
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER mcp_servers_bump_config_generation ON mcp_servers;`.execute(db);
  await sql`DROP TABLE mcp_oauth_states, mcp_server_user_tokens, mcp_servers;`.execute(db);
}
