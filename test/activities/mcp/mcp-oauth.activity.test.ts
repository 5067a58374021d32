/**
 * Per-user OAuth for MCP servers against a real authorization server (oauth2-mock-server) guarding an MCP
 * server that verifies its tokens: discovery from the MCP server, PKCE S256, one-time states stored only
 * as hashes, tokens stored sealed, and refresh both before expiry and after a 401.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createMcpServer } from '../../../src/admin/mcp-servers.service';
import { findMcpServer, findUserToken, upsertUserToken } from '../../../src/db/repositories/mcp-servers.repository';
import { insertUser } from '../../../src/db/repositories/users.repository';
import { AppError } from '../../../src/errors';
import { McpToolCatalog } from '../../../src/mcp/catalog';
import { McpClientPool } from '../../../src/mcp/client-pool';
import { McpOAuth } from '../../../src/mcp/oauth';
import { sealTokens } from '../../../src/mcp/secrets';
import { toMcpServerConfig } from '../../../src/mcp/server-config';
import { SecretBox } from '../../../src/security/secrets';
import type { ChatForTools } from '../../../src/turn/chat-tools';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { startOAuthMcpServer } from '../../support/mcp/servers';

const REDIRECT_URI = 'http://127.0.0.1:1/api/v1/mcp-servers/oauth/callback';

describe('OAuth for MCP servers', () => {
  let database: TestDatabase;
  let secrets: SecretBox;
  let pool: McpClientPool;
  let oauth: McpOAuth;
  let server: Awaited<ReturnType<typeof startOAuthMcpServer>>;
  let userId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    secrets = new SecretBox(SecretBox.generateKeyEntry('k1'));
    pool = new McpClientPool({ connectTimeoutMs: 5_000, idleMs: 60_000, version: 'test' });
    oauth = new McpOAuth({ db: database.db, secrets });
    server = await startOAuthMcpServer();
    userId = (await insertUser(database.db, { username: 'oauth-user', role: 'member' })).id;
  });

  afterAll(async () => {
    await pool?.close();
    await server?.stop();
    await database?.drop();
  });

  async function addServer() {
    const slug = `o${randomUUID().slice(0, 8)}`;
    const dto = await createMcpServer(
      { db: database.db, secrets },
      { id: userId, role: 'admin' },
      { slug, display_name: 'Tracker', url: server.info.mcpUrl, auth: { type: 'oauth2', client_id: 'chatd' } },
    );
    const row = (await findMcpServer(database.db, dto.id))!;
    return { row, config: toMcpServerConfig(row), slug };
  }

  /** Follows the authorization URL as a browser would; the mock server grants at once. */
  async function authorize(url: string): Promise<{ code: string; state: string }> {
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const back = new URL(res.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI);
    return { code: back.searchParams.get('code')!, state: back.searchParams.get('state')! };
  }

  async function connect(added: Awaited<ReturnType<typeof addServer>>) {
    const started = await oauth.beginAuthorization(added.config, added.row, userId, REDIRECT_URI);
    return oauth.completeAuthorization(await authorize(started.authorizationUrl));
  }

  const codeOf = async (work: Promise<unknown>) => {
    const err = await work.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    return (err as AppError).code;
  };

  it('sends the user to the discovered authorization server with PKCE S256 and a state kept only as a hash', async () => {
    const added = await addServer();
    const started = await oauth.beginAuthorization(added.config, added.row, userId, REDIRECT_URI);
    const url = new URL(started.authorizationUrl);
    expect(url.origin).toBe(new URL(server.info.issuer).origin);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: 'chatd',
      code_challenge_method: 'S256',
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      redirect_uri: REDIRECT_URI,
      resource: server.info.mcpUrl,
      state: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    const state = url.searchParams.get('state')!;
    const rows = await database.db.selectFrom('mcp_oauth_states').selectAll().execute();
    const row = rows.find((r) => r.server_id === added.row.id)!;
    expect(row.state_hash).toEqual(createHash('sha256').update(state).digest());
    expect(row.expires_at.getTime() - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(JSON.stringify(rows)).not.toContain(state);
  });

  it('exchanges the code once, stores the tokens sealed, and refuses the same state again', async () => {
    const added = await addServer();
    const started = await oauth.beginAuthorization(added.config, added.row, userId, REDIRECT_URI);
    const callback = await authorize(started.authorizationUrl);
    const before = (await server.stats()).grants.authorization_code ?? 0;
    expect(await oauth.completeAuthorization(callback)).toMatchObject({ serverId: added.row.id, userId });
    expect((await server.stats()).grants.authorization_code).toBe(before + 1);
    const stored = (await findUserToken(database.db, added.row.id, userId))!;
    expect(stored.expires_at!.getTime()).toBeGreaterThan(Date.now());
    expect(stored.tokens_ciphertext.toString('latin1')).not.toMatch(/eyJ/);
    expect(await codeOf(oauth.completeAuthorization(callback))).toBe('mcp_oauth_state_invalid');
  });

  it('refuses an expired state and reports a refused authorization', async () => {
    const added = await addServer();
    const first = await oauth.beginAuthorization(added.config, added.row, userId, REDIRECT_URI);
    const expired = await authorize(first.authorizationUrl);
    await database.db
      .updateTable('mcp_oauth_states')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .execute();
    expect(await codeOf(oauth.completeAuthorization(expired))).toBe('mcp_oauth_state_invalid');

    const second = await oauth.beginAuthorization(added.config, added.row, userId, REDIRECT_URI);
    const { state } = await authorize(second.authorizationUrl);
    expect(await codeOf(oauth.completeAuthorization({ state, error: 'access_denied' }))).toBe('mcp_oauth_denied');
    expect(await findUserToken(database.db, added.row.id, userId)).toBeUndefined();
  });

  it('calls the server with the user’s token and refreshes it after a 401 and before it expires', async () => {
    const added = await addServer();
    await connect(added);
    const catalog = new McpToolCatalog({
      db: database.db,
      secrets,
      pool,
      oauth,
      toolsTtlMs: 60_000,
      callTimeoutMs: 5_000,
      maxCallMs: 30_000,
    });
    const chat: ChatForTools = {
      id: randomUUID(),
      owner_id: userId,
      parent_chat_id: null,
      mcp_server_ids: [added.row.id],
    };
    const ctx = {
      chatId: chat.id,
      toolCallId: 'c',
      signal: new AbortController().signal,
      workspace: null,
      heartbeat() {},
    };
    const echo = async () =>
      (await catalog.toolsFor(chat)).execute({ id: 'c', name: `${added.slug}__echo`, input: { message: 'hi' } }, ctx);
    expect(await echo()).toEqual({ result: 'Echo: hi (as johndoe)', isError: false });

    // The server stops accepting the token: the 401 is answered by one refresh and the call goes through.
    const before = await server.stats();
    await server.revokeSeenTokens();
    expect(await echo()).toEqual({ result: 'Echo: hi (as johndoe)', isError: false });
    const after = await server.stats();
    expect(after.unauthorized).toBeGreaterThan(before.unauthorized);
    expect(after.grants.refresh_token).toBe((before.grants.refresh_token ?? 0) + 1);

    // A token about to expire is refreshed before it is used: no 401 this time.
    await server.setTokenTtl(2);
    await server.revokeSeenTokens();
    await echo(); // refreshed after a 401, now with a 2-second token
    const short = (await findUserToken(database.db, added.row.id, userId))!;
    expect(short.expires_at!.getTime() - Date.now()).toBeLessThan(3_000);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const expired = await server.stats();
    expect(await echo()).toEqual({ result: 'Echo: hi (as johndoe)', isError: false });
    const refreshed = await server.stats();
    expect(refreshed.unauthorized).toBe(expired.unauthorized);
    expect(refreshed.grants.refresh_token).toBeGreaterThan(expired.grants.refresh_token!);
    await server.setTokenTtl(3600);
  });

  it('deletes tokens whose refresh token is refused, and the model is told the user must connect', async () => {
    const added = await addServer();
    const sealed = sealTokens(secrets, added.row.id, userId, { accessToken: 'stale', refreshToken: 'unknown' });
    await upsertUserToken(database.db, {
      server_id: added.row.id,
      user_id: userId,
      tokens_ciphertext: sealed.ciphertext,
      tokens_key_id: sealed.keyId,
      expires_at: new Date(Date.now() - 1000),
    });
    const catalog = new McpToolCatalog({
      db: database.db,
      secrets,
      pool,
      oauth,
      toolsTtlMs: 60_000,
      callTimeoutMs: 5_000,
      maxCallMs: 30_000,
    });
    const tools = await catalog.toolsFor({
      id: randomUUID(),
      owner_id: userId,
      parent_chat_id: null,
      mcp_server_ids: [added.row.id],
    });
    expect(tools.specs).toEqual([]);
    expect(tools.notes).toEqual([expect.stringContaining('has not connected their account')]);
    expect(await findUserToken(database.db, added.row.id, userId)).toBeUndefined();
  });
});
