/**
 * Per-user OAuth 2 for MCP servers (docs/mcp.md "OAuth"): the authorization code flow with PKCE (S256)
 * through the MCP SDK's client auth helpers, the authorization server found from the admin's endpoints
 * or discovered from the MCP server (protected resource metadata, then RFC 8414 / OpenID discovery);
 * tokens stored sealed per user and server, refreshed before they expire and after a 401, one refresh at
 * a time per user and server (under the token row's lock), across processes.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  discoverOAuthServerInfo,
  exchangeAuthorization,
  refreshAuthorization,
  startAuthorization,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { InvalidGrantError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import type { AuthorizationServerMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/database';
import {
  deleteUserToken,
  findMcpServer,
  findUserToken,
  insertOAuthState,
  lockUserToken,
  pruneOAuthStates,
  takeOAuthState,
  upsertUserToken,
} from '../db/repositories/mcp-servers.repository';
import { UpstreamError, ValidationError } from '../errors';
import type { SecretBox } from '../security/secrets';
import type { BearerSource } from './client-pool';
import { openServerSecrets, openTokens, openVerifier, sealTokens, sealVerifier } from './secrets';
import { toMcpServerConfig } from './server-config';
import type { McpServerConfig } from './types';

/** How long a started authorization may take the user. */
export const OAUTH_STATE_TTL_MS = 10 * 60_000;
/** A token this close to its expiry is refreshed before use. */
export const REFRESH_MARGIN_MS = 60_000;
/** Discovered endpoints are reused this long. */
const ENDPOINTS_TTL_MS = 60 * 60_000;

export interface McpOAuthDeps {
  db: Kysely<Database>;
  secrets: SecretBox;
  /** Each request to an authorization or MCP server (discovery, token exchange, refresh). Default 10 s. */
  httpTimeoutMs?: number;
  log?: Logger;
  /** The fetch under the SDK helpers (tests); global fetch by default. */
  fetch?: FetchLike;
}

/** Where to send the user and where to exchange codes and refresh tokens. */
export interface OAuthEndpoints {
  authorizationServerUrl: string;
  metadata: AuthorizationServerMetadata;
  /** The RFC 8707 resource indicator, when the MCP server published protected resource metadata. */
  resource?: URL;
}

/** A user's current access token for a server. */
export interface TokenState {
  accessToken: string;
  expiresAt: Date | null;
}

/** The SHA-256 of a state value: what the database keeps, so a database read does not yield live states. */
export const hashState = (state: string): Buffer => createHash('sha256').update(state).digest();

const expiresAt = (tokens: OAuthTokens): Date | null =>
  tokens.expires_in !== undefined ? new Date(Date.now() + tokens.expires_in * 1000) : null;

const dueForRefresh = (expiry: Date | null, now = Date.now()): boolean =>
  expiry !== null && expiry.getTime() - now < REFRESH_MARGIN_MS;

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 300);

export class McpOAuth {
  private readonly endpointsCache = new Map<string, { at: number; endpoints: Promise<OAuthEndpoints> }>();
  private readonly fetchFn: FetchLike;

  constructor(private readonly deps: McpOAuthDeps) {
    const timeout = deps.httpTimeoutMs ?? 10_000;
    const base = deps.fetch ?? fetch;
    this.fetchFn = (url, init) => base(url, { ...init, signal: init?.signal ?? AbortSignal.timeout(timeout) });
  }

  /**
   * The server's authorization endpoints: configured, or discovered (cached for an hour per server
   * version). Throws UpstreamError `mcp_oauth_discovery_failed`.
   */
  endpoints(config: McpServerConfig): Promise<OAuthEndpoints> {
    const key = `${config.id}:${config.updatedAt.getTime()}`;
    const cached = this.endpointsCache.get(key);
    if (cached && Date.now() - cached.at < ENDPOINTS_TTL_MS) return cached.endpoints;
    const endpoints = this.findEndpoints(config);
    this.endpointsCache.set(key, { at: Date.now(), endpoints });
    endpoints.catch(() => this.endpointsCache.delete(key));
    return endpoints;
  }

  private async findEndpoints(config: McpServerConfig): Promise<OAuthEndpoints> {
    const oauth = config.oauth2!;
    if (oauth.authorizationUrl && oauth.tokenUrl) {
      const issuer = new URL(oauth.authorizationUrl).origin;
      return {
        authorizationServerUrl: issuer,
        metadata: {
          issuer,
          authorization_endpoint: oauth.authorizationUrl,
          token_endpoint: oauth.tokenUrl,
          response_types_supported: ['code'],
          code_challenge_methods_supported: ['S256'],
        },
      };
    }
    let info: Awaited<ReturnType<typeof discoverOAuthServerInfo>>;
    try {
      info = await discoverOAuthServerInfo(config.url, { fetchFn: this.fetchFn });
    } catch (err) {
      throw new UpstreamError('mcp_oauth_discovery_failed', `OAuth discovery failed: ${describe(err)}`);
    }
    if (!info.authorizationServerMetadata) {
      throw new UpstreamError(
        'mcp_oauth_discovery_failed',
        'The MCP server publishes no OAuth metadata; configure the authorization and token URLs.',
      );
    }
    const metadata = {
      ...info.authorizationServerMetadata,
      ...(oauth.authorizationUrl ? { authorization_endpoint: oauth.authorizationUrl } : {}),
      ...(oauth.tokenUrl ? { token_endpoint: oauth.tokenUrl } : {}),
    };
    return {
      authorizationServerUrl: info.authorizationServerUrl,
      metadata,
      ...(info.resourceMetadata ? { resource: new URL(info.resourceMetadata.resource) } : {}),
    };
  }

  private clientInformation(config: McpServerConfig, row: Parameters<typeof openServerSecrets>[1]) {
    const { clientSecret } = openServerSecrets(this.deps.secrets, row);
    return { client_id: config.oauth2!.clientId, ...(clientSecret ? { client_secret: clientSecret } : {}) };
  }

  /** What every call to the server's token endpoint (code exchange, refresh) is given. */
  private async tokenEndpoint(config: McpServerConfig, row: Parameters<typeof openServerSecrets>[1]) {
    const endpoints = await this.endpoints(config);
    return {
      url: endpoints.authorizationServerUrl,
      options: {
        metadata: endpoints.metadata,
        clientInformation: this.clientInformation(config, row),
        ...(endpoints.resource ? { resource: endpoints.resource } : {}),
        fetchFn: this.fetchFn,
      },
    };
  }

  /**
   * Starts an authorization for `userId`: a fresh state and PKCE verifier (stored sealed, for 10
   * minutes, for one use) and the authorization server's URL to send the user to.
   */
  async beginAuthorization(
    config: McpServerConfig,
    row: Parameters<typeof openServerSecrets>[1],
    userId: string,
    redirectUri: string,
  ): Promise<{ authorizationUrl: string; expiresAt: Date }> {
    const endpoints = await this.endpoints(config);
    const state = randomBytes(32).toString('base64url');
    const scopes = config.oauth2!.scopes;
    let started: { authorizationUrl: URL; codeVerifier: string };
    try {
      started = await startAuthorization(endpoints.authorizationServerUrl, {
        metadata: endpoints.metadata,
        clientInformation: this.clientInformation(config, row),
        redirectUrl: redirectUri,
        state,
        ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}),
        ...(endpoints.resource ? { resource: endpoints.resource } : {}),
      });
    } catch (err) {
      throw new UpstreamError('mcp_oauth_discovery_failed', `The authorization server is unusable: ${describe(err)}`);
    }
    const expires = new Date(Date.now() + OAUTH_STATE_TTL_MS);
    const sealed = sealVerifier(this.deps.secrets, config.id, userId, started.codeVerifier);
    await pruneOAuthStates(this.deps.db);
    await insertOAuthState(this.deps.db, {
      state_hash: hashState(state),
      server_id: config.id,
      user_id: userId,
      verifier_ciphertext: sealed.ciphertext,
      verifier_key_id: sealed.keyId,
      redirect_uri: redirectUri,
      expires_at: expires,
    });
    return { authorizationUrl: started.authorizationUrl.href, expiresAt: expires };
  }

  /**
   * Finishes an authorization from the callback: consumes the state (once), exchanges the code with the
   * stored verifier and stores the tokens. Throws ValidationError `mcp_oauth_state_invalid` for an
   * unknown, used or expired state, `mcp_oauth_denied` when the user or server refused, and
   * UpstreamError `mcp_oauth_exchange_failed` when the token endpoint did.
   */
  async completeAuthorization(input: {
    state: string;
    code?: string;
    error?: string;
  }): Promise<{ serverId: string; userId: string; displayName: string }> {
    const pending = await takeOAuthState(this.deps.db, hashState(input.state));
    const row = pending ? await findMcpServer(this.deps.db, pending.server_id) : undefined;
    if (!pending || !row || row.auth_type !== 'oauth2' || !row.enabled) {
      throw new ValidationError(
        'The authorization request is unknown, was already used or has expired; connect again.',
        undefined,
        'mcp_oauth_state_invalid',
      );
    }
    if (input.error !== undefined || !input.code) {
      throw new ValidationError(
        `The authorization was not granted${input.error ? ` (${input.error.slice(0, 100)})` : ''}.`,
        undefined,
        'mcp_oauth_denied',
      );
    }
    const config = toMcpServerConfig(row);
    const endpoint = await this.tokenEndpoint(config, row);
    let tokens: OAuthTokens;
    try {
      tokens = await exchangeAuthorization(endpoint.url, {
        ...endpoint.options,
        authorizationCode: input.code,
        codeVerifier: openVerifier(this.deps.secrets, pending),
        redirectUri: pending.redirect_uri,
      });
    } catch (err) {
      throw new UpstreamError('mcp_oauth_exchange_failed', `The token exchange failed: ${describe(err)}`);
    }
    await this.store(this.deps.db, config.id, pending.user_id, tokens);
    return { serverId: config.id, userId: pending.user_id, displayName: config.displayName };
  }

  /** Forgets a user's tokens for a server; false when there were none. */
  disconnect(serverId: string, userId: string): Promise<boolean> {
    return deleteUserToken(this.deps.db, serverId, userId);
  }

  /** The user's stored token, refreshed first when it is about to expire; null when not connected. */
  async token(config: McpServerConfig, userId: string): Promise<TokenState | null> {
    const row = await findUserToken(this.deps.db, config.id, userId);
    if (!row) return null;
    if (dueForRefresh(row.expires_at)) return this.refresh(config, userId, null);
    return { accessToken: openTokens(this.deps.secrets, row).accessToken, expiresAt: row.expires_at };
  }

  /**
   * Refreshes the user's token under its row lock, unless another process already did (the stored token
   * is not `rejected` and not about to expire). Null when there is no token or refresh token, or the
   * authorization server refused the refresh token (the tokens are then deleted: the user must connect
   * again). Throws when the authorization server could not be reached.
   */
  async refresh(config: McpServerConfig, userId: string, rejected: string | null): Promise<TokenState | null> {
    const row = await findMcpServer(this.deps.db, config.id);
    if (!row) return null;
    return this.deps.db.transaction().execute(async (trx) => {
      const locked = await lockUserToken(trx, config.id, userId);
      if (!locked) return null;
      const stored = openTokens(this.deps.secrets, locked);
      const current = { accessToken: stored.accessToken, expiresAt: locked.expires_at };
      if (stored.accessToken !== rejected && !dueForRefresh(locked.expires_at)) return current;
      if (!stored.refreshToken) return null;
      const endpoint = await this.tokenEndpoint(config, row);
      let tokens: OAuthTokens;
      try {
        tokens = await refreshAuthorization(endpoint.url, { ...endpoint.options, refreshToken: stored.refreshToken });
      } catch (err) {
        if (!(err instanceof InvalidGrantError)) throw err;
        this.deps.log?.info({ serverId: config.id, userId }, 'MCP refresh token refused; the user must connect again');
        await deleteUserToken(trx, config.id, userId);
        return null;
      }
      return this.store(trx, config.id, userId, tokens);
    });
  }

  /**
   * A bearer source for one user's connection to one server, starting from `initial`: it refreshes before
   * expiry and after a 401. `rejectedAll` turns true once a 401 could not be answered with a new token.
   */
  bearer(config: McpServerConfig, userId: string, initial: TokenState): BearerSource & { rejectedAll: boolean } {
    let state = initial;
    const source = {
      rejectedAll: false,
      current: async (): Promise<string> => {
        if (dueForRefresh(state.expiresAt)) state = (await this.refresh(config, userId, state.accessToken)) ?? state;
        return state.accessToken;
      },
      afterRejection: async (token: string): Promise<string | null> => {
        const next = await this.refresh(config, userId, token).catch((err: unknown) => {
          this.deps.log?.warn({ err, serverId: config.id }, 'MCP token refresh failed');
          return null;
        });
        if (!next || next.accessToken === token) {
          source.rejectedAll = true;
          return null;
        }
        source.rejectedAll = false;
        state = next;
        return next.accessToken;
      },
    };
    return source;
  }

  private async store(
    db: Kysely<Database> | Transaction<Database>,
    serverId: string,
    userId: string,
    tokens: OAuthTokens,
  ): Promise<TokenState> {
    const sealed = sealTokens(this.deps.secrets, serverId, userId, {
      accessToken: tokens.access_token,
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
    });
    const expiry = expiresAt(tokens);
    await upsertUserToken(db, {
      server_id: serverId,
      user_id: userId,
      tokens_ciphertext: sealed.ciphertext,
      tokens_key_id: sealed.keyId,
      token_type: tokens.token_type || 'Bearer',
      expires_at: expiry,
      scope: tokens.scope ?? null,
    });
    return { accessToken: tokens.access_token, expiresAt: expiry };
  }
}
