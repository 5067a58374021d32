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

/** Why a token an open stream uses stopped being valid. */
export type TokenEndReason = 'token_revoked' | 'token_expired';

/** The open streams of one token: one re-validation timer for all of them. */
interface Watched {
  token: string;
  tokenId: string;
  expiresAt: Date | null;
  listeners: Set<(reason: TokenEndReason) => void>;
  timer: NodeJS.Timeout | null;
}

/**
 * Resolves bearer tokens to their owners, remembering each live token for TOKEN_CACHE_MS: a client's
 * requests come in bursts (send, stream, list) and each would otherwise read api_tokens. A token
 * revoked through this process is forgotten at once (`forget`); other processes refuse it within
 * TOKEN_CACHE_MS. An entry never outlives its token's expiry, and unknown tokens are never
 * remembered (a new token works at once, and guessing fills no memory). Concurrent lookups of one
 * token share one read.
 *
 * Open streams `watch` their token: each watched token is checked again when its entry runs out (at
 * most TOKEN_CACHE_MS after the last check, and at its expiry), through the same cache, so a token
 * costs one lookup per TOKEN_CACHE_MS however many streams it holds. A token found revoked or expired
 * ends its streams; `forget` ends them at once.
 */
export class TokenAuthenticator {
  private readonly entries = new Map<string, { token: LiveToken; until: number }>();
  private readonly pending = new Map<string, Promise<LiveToken | undefined>>();
  private readonly watched = new Map<string, Watched>();
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
    let pending = this.pending.get(key);
    if (!pending) {
      const started = this.load(hash, key).finally(() => {
        if (this.pending.get(key) === started) this.pending.delete(key);
      });
      this.pending.set(key, (pending = started));
    }
    return pending;
  }

  /** Stops trusting the token with this id (it was revoked through this process) and ends its streams. */
  forget(tokenId: string): void {
    this.revocations += 1;
    // A lookup already under way may have read the token before the revocation: let no one join it.
    this.pending.clear();
    for (const [key, entry] of this.entries) if (entry.token.tokenId === tokenId) this.entries.delete(key);
    for (const [key, watched] of this.watched) if (watched.tokenId === tokenId) this.end(key, watched, 'token_revoked');
  }

  /**
   * Calls `onEnd` once when `token` (which authenticated as `live`) is found revoked or expired;
   * returns the function that stops watching. A lookup that fails (the database is unreachable) ends
   * nothing: the token is checked again a TOKEN_CACHE_MS later.
   */
  watch(token: string, live: LiveToken, onEnd: (reason: TokenEndReason) => void): () => void {
    const key = hashToken(token).toString('base64');
    let watched = this.watched.get(key);
    if (!watched) {
      watched = { token, tokenId: live.tokenId, expiresAt: live.expiresAt, listeners: new Set(), timer: null };
      this.watched.set(key, watched);
      this.schedule(key, watched, 0);
    }
    const listeners = watched.listeners;
    listeners.add(onEnd);
    return () => {
      listeners.delete(onEnd);
      const current = this.watched.get(key);
      if (current && current.listeners.size === 0) {
        if (current.timer) clearTimeout(current.timer);
        this.watched.delete(key);
      }
    };
  }

  /** Tokens with open streams (for tests and metrics). */
  get watchedTokens(): number {
    return this.watched.size;
  }

  private async load(hash: Buffer, key: string): Promise<LiveToken | undefined> {
    const revocations = this.revocations;
    const live = await this.lookup(hash);
    if (!live || revocations !== this.revocations) return live;
    const until = Math.min(this.now() + TOKEN_CACHE_MS, live.expiresAt?.getTime() ?? Infinity);
    if (this.entries.size >= MAX_CACHED_TOKENS) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { token: live, until });
    return live;
  }

  /**
   * Checks the token again when its cache entry runs out, or at its expiry; without an entry (a
   * revocation raced the lookup, or the cache is full), after `withoutEntryMs`.
   */
  private schedule(key: string, watched: Watched, withoutEntryMs: number): void {
    const now = this.now();
    const until = Math.min(
      this.entries.get(key)?.until ?? now + withoutEntryMs,
      watched.expiresAt?.getTime() ?? Infinity,
      now + TOKEN_CACHE_MS,
    );
    watched.timer = setTimeout(() => void this.check(key, watched), Math.max(0, until - now));
    watched.timer.unref();
  }

  private async check(key: string, watched: Watched): Promise<void> {
    watched.timer = null;
    if (this.watched.get(key) !== watched) return;
    const expired = (): boolean => watched.expiresAt !== null && watched.expiresAt.getTime() <= this.now();
    if (expired()) return this.end(key, watched, 'token_expired');
    let live: LiveToken | undefined;
    try {
      live = await this.authenticate(watched.token);
    } catch {
      // The database is unreachable: an outage is no revocation; try again a cache period later.
      if (this.watched.get(key) !== watched) return;
      watched.timer = setTimeout(() => void this.check(key, watched), TOKEN_CACHE_MS);
      watched.timer.unref();
      return;
    }
    if (this.watched.get(key) !== watched) return;
    if (!live) return this.end(key, watched, expired() ? 'token_expired' : 'token_revoked');
    watched.expiresAt = live.expiresAt;
    this.schedule(key, watched, TOKEN_CACHE_MS);
  }

  private end(key: string, watched: Watched, reason: TokenEndReason): void {
    if (watched.timer) clearTimeout(watched.timer);
    watched.timer = null;
    if (this.watched.get(key) === watched) this.watched.delete(key);
    for (const listener of [...watched.listeners]) listener(reason);
    watched.listeners.clear();
  }
}
