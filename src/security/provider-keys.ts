/**
 * Provider API keys bound to the base URL they were entered for. The key is sealed with that URL
 * as GCM additional data and the URL is stored beside it (`api_key_base_url`), so a row whose
 * base_url is changed afterwards (by an admin, or by anyone who can write the table) no longer
 * yields the key: writing the stored URL too does not help, since the ciphertext opens only with
 * the URL it was sealed for and sealing a new one needs the encryption key, which the database
 * never holds. An admin re-confirms the key for the new URL (README "Provider keys and base URLs").
 */
import type { SealedSecret, SecretBox } from './secrets';

/** A sealed key and the (normalised) base URL it is bound to. */
export interface BoundProviderKey extends SealedSecret {
  baseUrl: string;
}

/** The stored key columns of a provider row. */
export interface StoredProviderKey {
  api_key_ciphertext: Buffer | null;
  api_key_key_id: string | null;
  api_key_base_url: string | null;
  base_url: string | null;
}

/** What a stored key opens to for the row's current base URL. */
export type OpenedProviderKey =
  | { state: 'none' }
  /** The key was bound to another URL than the row's base_url, or its binding does not verify. */
  | { state: 'unconfirmed' }
  /** `rebound`: the key was stored before binding existed; here it is, bound, for the caller to store. */
  | { state: 'confirmed'; apiKey: string; rebound?: BoundProviderKey };

/**
 * The URL as keys are bound to it: trimmed, without trailing slashes, '' for none (the provider's
 * default endpoint). Migration 2026_12_04_1200_bind_provider_keys applies the same rule in SQL.
 */
export function normaliseBaseUrl(url: string | null | undefined): string {
  return (url ?? '').trim().replace(/\/+$/, '');
}

const context = (boundUrl: string): string => `chatd provider key for base_url=${boundUrl}`;

/** Seals `apiKey` for `baseUrl` (the provider's base_url as it will be stored). */
export function sealProviderKey(secrets: SecretBox, apiKey: string, baseUrl: string | null): BoundProviderKey {
  const bound = normaliseBaseUrl(baseUrl);
  return { ...secrets.seal(apiKey, context(bound)), baseUrl: bound };
}

/**
 * Decrypts a stored key for the URL it is bound to, whatever the row's base_url is now. Keys
 * stored before binding (migrated rows: URL recorded, ciphertext without additional data) open
 * without it and are flagged `legacy`. Undefined when the ciphertext does not verify. Throws when
 * the key ring lacks the key id (an operator error, not a binding question).
 */
export function decryptBoundKey(
  secrets: SecretBox,
  stored: StoredProviderKey,
): { apiKey: string; legacy: boolean } | undefined {
  if (!stored.api_key_ciphertext || !stored.api_key_key_id) return undefined;
  const sealed = { keyId: stored.api_key_key_id, ciphertext: stored.api_key_ciphertext };
  if (!secrets.hasKey(sealed.keyId)) throw new Error(`no encryption key with id ${sealed.keyId} is configured`);
  if (stored.api_key_base_url !== null) {
    try {
      return { apiKey: secrets.open(sealed, context(stored.api_key_base_url)), legacy: false };
    } catch {
      // Not sealed for this URL: perhaps a key from before binding, tried next.
    }
  }
  try {
    return { apiKey: secrets.open(sealed), legacy: true };
  } catch {
    return undefined;
  }
}

/**
 * The stored key, when it may be sent to the row's current base URL: it must be bound to that URL
 * and its ciphertext must verify for it. A key from before binding is accepted when the URL the
 * migration recorded still matches, and returned re-sealed in `rebound` so the caller stores the
 * bound form (done at first use because migrations have no encryption keys; see the migration).
 */
export function openProviderKey(secrets: SecretBox, stored: StoredProviderKey): OpenedProviderKey {
  if (!stored.api_key_ciphertext || !stored.api_key_key_id) return { state: 'none' };
  const current = normaliseBaseUrl(stored.base_url);
  if (stored.api_key_base_url === null || normaliseBaseUrl(stored.api_key_base_url) !== current) {
    return { state: 'unconfirmed' };
  }
  const opened = decryptBoundKey(secrets, stored);
  if (!opened) return { state: 'unconfirmed' };
  if (!opened.legacy) return { state: 'confirmed', apiKey: opened.apiKey };
  return { state: 'confirmed', apiKey: opened.apiKey, rebound: sealProviderKey(secrets, opened.apiKey, current) };
}
