/**
 * TokenAuthenticator.watch, which ends open streams whose token goes: a token revoked elsewhere is
 * found within TOKEN_CACHE_MS at the cost of one lookup per cache period however many streams hold
 * it; `forget` ends its streams at once; an expiry ends them at the expiry; a failed lookup (an
 * outage) ends nothing. Jest's fake timers drive both the timers and Date.now; the lookup is a stub
 * over a map standing for api_tokens.
 */
import {
  hashToken,
  TOKEN_CACHE_MS,
  TokenAuthenticator,
  type LiveToken,
  type TokenEndReason,
} from '../../../src/security/tokens';

describe('TokenAuthenticator.watch', () => {
  let live: Map<string, LiveToken>;
  let lookups: number;
  let failing: boolean;
  let authenticator: TokenAuthenticator;

  const token = (id: string, expiresAt: Date | null = null): string => {
    const secret = `chatd_watch_${id}`;
    live.set(hashToken(secret).toString('hex'), { tokenId: id, userId: `user-${id}`, role: 'member', expiresAt });
    return secret;
  };
  const revokeInDatabase = (id: string): void => {
    for (const [hash, row] of live) if (row.tokenId === id) live.delete(hash);
  };

  /** Authenticates `secret` as a request would, then watches it as a stream does; records the end. */
  async function openStream(secret: string): Promise<{ ended: TokenEndReason[]; stop: () => void }> {
    const found = await authenticator.authenticate(secret);
    expect(found).toBeDefined();
    const ended: TokenEndReason[] = [];
    const stop = authenticator.watch(secret, found!, (reason) => ended.push(reason));
    return { ended, stop };
  }

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
    live = new Map();
    lookups = 0;
    failing = false;
    authenticator = new TokenAuthenticator(async (hash) => {
      lookups += 1;
      if (failing) throw new Error('database unreachable');
      return live.get(hash.toString('hex'));
    });
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('ends every stream of a token revoked elsewhere within TOKEN_CACHE_MS, with one lookup per period', async () => {
    const secret = token('a');
    const streams = await Promise.all([openStream(secret), openStream(secret), openStream(secret)]);
    const other = await openStream(token('b'));
    expect(lookups).toBe(2);

    // Still valid: each period costs one lookup per token, not per stream.
    await jest.advanceTimersByTimeAsync(TOKEN_CACHE_MS * 3);
    expect(lookups).toBe(2 + 3 * 2);
    expect(streams.flatMap((s) => s.ended)).toEqual([]);

    revokeInDatabase('a');
    await jest.advanceTimersByTimeAsync(TOKEN_CACHE_MS);
    expect(streams.map((s) => s.ended)).toEqual([['token_revoked'], ['token_revoked'], ['token_revoked']]);
    expect(other.ended).toEqual([]);
    expect(authenticator.watchedTokens).toBe(1);
    other.stop();
    expect(authenticator.watchedTokens).toBe(0);
  });

  it('ends the streams of a token forgotten through this process at once', async () => {
    const secret = token('a');
    const stream = await openStream(secret);
    revokeInDatabase('a');
    authenticator.forget('a');
    expect(stream.ended).toEqual(['token_revoked']);
    // Once only, and nothing is left to check.
    await jest.advanceTimersByTimeAsync(TOKEN_CACHE_MS * 2);
    expect(stream.ended).toEqual(['token_revoked']);
    expect(authenticator.watchedTokens).toBe(0);
  });

  it('ends the streams of an expiring token at its expiry, not before', async () => {
    const expiresAt = new Date(Date.now() + TOKEN_CACHE_MS * 2 + 1_234);
    const stream = await openStream(token('a', expiresAt));
    await jest.advanceTimersByTimeAsync(expiresAt.getTime() - Date.now() - 1);
    expect(stream.ended).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(stream.ended).toEqual(['token_expired']);
  });

  it('keeps the streams through a failed lookup and checks again later', async () => {
    const secret = token('a');
    const stream = await openStream(secret);
    failing = true;
    await jest.advanceTimersByTimeAsync(TOKEN_CACHE_MS * 3);
    expect(stream.ended).toEqual([]);
    failing = false;
    revokeInDatabase('a');
    await jest.advanceTimersByTimeAsync(TOKEN_CACHE_MS);
    expect(stream.ended).toEqual(['token_revoked']);
  });

  it('stops checking a token whose last stream closed', async () => {
    const stream = await openStream(token('a'));
    stream.stop();
    const before = lookups;
    await jest.advanceTimersByTimeAsync(TOKEN_CACHE_MS * 3);
    expect(lookups).toBe(before);
    expect(stream.ended).toEqual([]);
  });
});
