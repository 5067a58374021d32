/**
 * API tokens: `chatd_` + 43 characters of base64url randomness (256 bits). Only the SHA-256 digest
 * is stored; the token itself is shown once, when it is created.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { UserRole } from '../db/database';

export const TOKEN_PREFIX = 'chatd_';

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** A live token as authentication needs it. */
export interface LiveToken {
  tokenId: string;
  userId: string;
  role: UserRole;
  expiresAt: Date | null;
}

/** How long an API process trusts a token it looked up: the most a revocation elsewhere waits. */
export const TOKEN_CACHE_MS = 5_000;

/** Tokens an API process remembers at once; the oldest entry goes first. */
const MAX_CACHED_TOKENS = 10_000;

/**
 * Resolves bearer tokens to their owners, remembering each live token for TOKEN_CACHE_MS: a client's
 * requests come in bursts (send, stream, list) and each would otherwise read api_tokens. A token
 * revoked through this process is forgotten at once (`forget`); other processes refuse it within
 * TOKEN_CACHE_MS. An entry never outlives its token's expiry, and unknown tokens are never
 * remembered (a new token works at once, and guessing fills no memory).
 */
export class TokenAuthenticator {
  private readonly entries = new Map<string, { token: LiveToken; until: number }>();
  /** Counts `forget` calls, so a lookup that raced a revocation is not remembered. */
  private revocations = 0;

  constructor(
    private readonly lookup: (tokenHash: Buffer) => Promise<LiveToken | undefined>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The live token, or undefined when it is unknown, expired or revoked. */
  async authenticate(token: string): Promise<LiveToken | undefined> {
    const hash = hashToken(token);
    const key = hash.toString('base64');
    const hit = this.entries.get(key);
    if (hit && hit.until > this.now()) return hit.token;
    this.entries.delete(key);
    const revocations = this.revocations;
    const live = await this.lookup(hash);
    if (!live || revocations !== this.revocations) return live;
    const until = Math.min(this.now() + TOKEN_CACHE_MS, live.expiresAt?.getTime() ?? Infinity);
    if (this.entries.size >= MAX_CACHED_TOKENS) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { token: live, until });
    return live;
  }

  /** Stops trusting the token with this id (it was revoked through this process). */
  forget(tokenId: string): void {
    this.revocations += 1;
    for (const [key, entry] of this.entries) if (entry.token.tokenId === tokenId) this.entries.delete(key);
  }
}
