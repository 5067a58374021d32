/**
 * Sealing of MCP secrets with the key ring (src/security/secrets.ts). Each kind is sealed with GCM
 * additional data naming what it belongs to, so a ciphertext copied to another row does not open:
 * server secrets are bound to the server's id and URL (a URL changed in the database without the admin
 * API, which re-seals, no longer yields the secrets), tokens to the server and user, PKCE verifiers to
 * the pending authorization's server and user.
 */
import type { SecretBox, SealedSecret } from '../security/secrets';
import type { McpServerSecrets } from './types';

const serverContext = (serverId: string, url: string): string => `chatd mcp server ${serverId} at ${url}`;
const tokenContext = (serverId: string, userId: string): string => `chatd mcp tokens ${serverId} for ${userId}`;
const verifierContext = (serverId: string, userId: string): string => `chatd mcp pkce ${serverId} for ${userId}`;

/** Seals a server's secrets for its id and URL; null when there are none. */
export function sealServerSecrets(
  box: SecretBox,
  serverId: string,
  url: string,
  secrets: McpServerSecrets,
): SealedSecret | null {
  const present = Object.values(secrets).some((v) => v !== undefined);
  return present ? box.seal(JSON.stringify(secrets), serverContext(serverId, url)) : null;
}

/**
 * Opens a server's stored secrets; `{}` when none are stored. Throws when they do not open for this id
 * and URL or the key ring lacks their key (the server cannot be used until an admin enters them again).
 */
export function openServerSecrets(
  box: SecretBox,
  row: { id: string; url: string; secrets_ciphertext: Buffer | null; secrets_key_id: string | null },
): McpServerSecrets {
  if (!row.secrets_ciphertext || !row.secrets_key_id) return {};
  const sealed = { keyId: row.secrets_key_id, ciphertext: row.secrets_ciphertext };
  return JSON.parse(box.open(sealed, serverContext(row.id, row.url))) as McpServerSecrets;
}

/** A user's OAuth tokens for a server, as sealed together. */
export interface StoredTokens {
  accessToken: string;
  refreshToken?: string;
}

export function sealTokens(box: SecretBox, serverId: string, userId: string, tokens: StoredTokens): SealedSecret {
  return box.seal(JSON.stringify(tokens), tokenContext(serverId, userId));
}

/** Throws when the ciphertext does not open for this server and user. */
export function openTokens(
  box: SecretBox,
  row: { server_id: string; user_id: string; tokens_ciphertext: Buffer; tokens_key_id: string },
): StoredTokens {
  const sealed = { keyId: row.tokens_key_id, ciphertext: row.tokens_ciphertext };
  return JSON.parse(box.open(sealed, tokenContext(row.server_id, row.user_id))) as StoredTokens;
}

export function sealVerifier(box: SecretBox, serverId: string, userId: string, verifier: string): SealedSecret {
  return box.seal(verifier, verifierContext(serverId, userId));
}

/** Throws when the ciphertext does not open for this server and user. */
export function openVerifier(
  box: SecretBox,
  row: { server_id: string; user_id: string; verifier_ciphertext: Buffer; verifier_key_id: string },
): string {
  return box.open(
    { keyId: row.verifier_key_id, ciphertext: row.verifier_ciphertext },
    verifierContext(row.server_id, row.user_id),
  );
}
