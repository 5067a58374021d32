/**
 * TokenAuthenticator: a live token is looked up once and trusted for TOKEN_CACHE_MS, never past its
 * expiry; a revocation through this process (`forget`) refuses it at once, also when it races a
 * lookup; unknown tokens are never remembered. The lookup is a stub counting calls, the clock a
 * variable.
 */
import { hashToken, TOKEN_CACHE_MS, TokenAuthenticator, type LiveToken } from '../../../src/security/tokens';

describe('TokenAuthenticator', () => {
  let now: number;
  let live: Map<string, LiveToken>;
  let lookups: number;
  let authenticator: TokenAuthenticator;

  const token = (id: string, expiresAt: Date | null = null): string => {
    const secret = `chatd_secret_${id}`;
    live.set(hashToken(secret).toString('hex'), { tokenId: id, userId: `user-${id}`, role: 'member', expiresAt });
    return secret;
  };
  /** What the database would say now: revoking removes the row from the live set. */
  const revokeInDatabase = (id: string): void => {
    for (const [hash, row] of live) if (row.tokenId === id) live.delete(hash);
  };

  beforeEach(() => {
    now = 1_000_000;
    live = new Map();
    lookups = 0;
    authenticator = new TokenAuthenticator(
      async (hash) => {
        lookups += 1;
        return live.get(hash.toString('hex'));
      },
      () => now,
    );
  });

  it('looks a live token up once and trusts it for TOKEN_CACHE_MS', async () => {
    const secret = token('a');
    expect(await authenticator.authenticate(secret)).toMatchObject({ tokenId: 'a', userId: 'user-a' });
    now += TOKEN_CACHE_MS - 1;
    expect(await authenticator.authenticate(secret)).toMatchObject({ tokenId: 'a' });
    expect(lookups).toBe(1);

    // Revoked by another process: refused once the entry has run out.
    revokeInDatabase('a');
    now += 1;
    expect(await authenticator.authenticate(secret)).toBeUndefined();
    expect(lookups).toBe(2);
  });

  it('refuses a token revoked through this process at once', async () => {
    const secret = token('a');
    const other = token('b');
    await authenticator.authenticate(secret);
    await authenticator.authenticate(other);
    revokeInDatabase('a');
    authenticator.forget('a');
    expect(await authenticator.authenticate(secret)).toBeUndefined();
    expect(await authenticator.authenticate(other)).toMatchObject({ tokenId: 'b' });
    expect(lookups).toBe(3);
  });

  it('does not remember a lookup that raced a revocation', async () => {
    const secret = token('a');
    let release!: () => void;
    const slow = new TokenAuthenticator(async (hash) => {
      lookups += 1;
      const row = live.get(hash.toString('hex'));
      await new Promise<void>((r) => (release = r));
      return row;
    });
    const pending = slow.authenticate(secret);
    // The lookup read the token before the revocation committed; the request itself may pass.
    revokeInDatabase('a');
    slow.forget('a');
    release();
    expect(await pending).toMatchObject({ tokenId: 'a' });
    const again = slow.authenticate(secret);
    release();
    expect(await again).toBeUndefined();
    expect(lookups).toBe(2);
  });

  it('never trusts a token past its expiry', async () => {
    const secret = token('a', new Date(now + 1_000));
    expect(await authenticator.authenticate(secret)).toMatchObject({ tokenId: 'a' });
    now += 1_000;
    // The database no longer matches an expired token.
    revokeInDatabase('a');
    expect(await authenticator.authenticate(secret)).toBeUndefined();
    expect(lookups).toBe(2);
  });

  it('never remembers an unknown token', async () => {
    expect(await authenticator.authenticate('chatd_unknown')).toBeUndefined();
    expect(await authenticator.authenticate('chatd_unknown')).toBeUndefined();
    expect(lookups).toBe(2);
    // A token created afterwards works at once.
    live.set(hashToken('chatd_unknown').toString('hex'), {
      tokenId: 'c',
      userId: 'user-c',
      role: 'admin',
      expiresAt: null,
    });
    expect(await authenticator.authenticate('chatd_unknown')).toMatchObject({ tokenId: 'c', role: 'admin' });
  });
});
