/**
 * The request limits without HTTP: the client address the auth throttle counts (only entries the
 * trusted proxies wrote; IPv6 by /64), the per-token rate limit with its RateLimit headers and
 * Retry-After, and the throttle of failed authentications per address. Each limiter is new per
 * test, and the contexts are stubs recording the headers set.
 */
import type { Context } from 'koa';
import { AuthFailureThrottle, clientAddress, requestRateLimit } from '../../../src/api/limits/rate-limit';
import { ConfigError, parseConfig, type RequestLimits } from '../../../src/config';
import { RateLimitedError } from '../../../src/errors';

const LIMITS: RequestLimits = {
  requestsPerWindow: 3,
  windowSeconds: 60,
  authFailures: 2,
  authWindowSeconds: 60,
  proxyHops: 1,
  maxStreamsPerUser: 0,
};

interface StubContext {
  ctx: Context;
  headers: Record<string, string>;
}

/** A request from `peer` with an optional X-Forwarded-For, as the middleware reads it. */
function stub(peer: string, forwardedFor?: string, tokenId = 'token-a'): StubContext {
  const headers: Record<string, string> = {};
  const ctx = {
    req: { socket: { remoteAddress: peer } },
    get: (name: string) => (name.toLowerCase() === 'x-forwarded-for' ? (forwardedFor ?? '') : ''),
    set: (field: string | Record<string, string>, value?: string) => {
      if (typeof field === 'string') headers[field] = value!;
      else Object.assign(headers, field);
    },
    state: { tokenId },
  } as unknown as Context;
  return { ctx, headers };
}

async function rejection(promise: Promise<unknown>): Promise<RateLimitedError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RateLimitedError);
  return err as RateLimitedError;
}

describe('clientAddress', () => {
  it('uses the peer when no proxy is trusted, whatever X-Forwarded-For says', () => {
    expect(clientAddress(stub('192.0.2.1', '203.0.113.9').ctx, 0)).toBe('192.0.2.1');
  });

  it('takes the entry the trusted proxy appended, never the ones the client wrote', () => {
    // The client sent "198.51.100.1"; the proxy appended the address it saw.
    expect(clientAddress(stub('10.0.0.2', '198.51.100.1, 203.0.113.9').ctx, 1)).toBe('203.0.113.9');
    expect(clientAddress(stub('10.0.0.2', '198.51.100.1, 203.0.113.9, 10.0.0.3').ctx, 2)).toBe('203.0.113.9');
    // Fewer entries than trusted hops: the farthest one there is.
    expect(clientAddress(stub('10.0.0.2', '203.0.113.9').ctx, 3)).toBe('203.0.113.9');
    // No header: the peer.
    expect(clientAddress(stub('192.0.2.1').ctx, 1)).toBe('192.0.2.1');
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped one as IPv4', () => {
    const a = clientAddress(stub('2001:db8:1:2:aaaa::1').ctx, 0);
    const b = clientAddress(stub('2001:db8:1:2:bbbb::7').ctx, 0);
    const other = clientAddress(stub('2001:db8:1:3::1').ctx, 0);
    expect(a).toBe(b);
    expect(a).not.toBe(other);
    expect(clientAddress(stub('::ffff:192.0.2.1').ctx, 0)).toBe('192.0.2.1');
  });
});

describe('requestRateLimit', () => {
  const tokenIdOf = (ctx: Context) => (ctx.state as { tokenId: string }).tokenId;

  it('lets a token make its quota of requests with RateLimit headers, then refuses it with 429 and Retry-After', async () => {
    const limit = requestRateLimit(LIMITS, tokenIdOf);
    let handled = 0;
    const next = async () => {
      handled += 1;
    };
    for (let remaining = 2; remaining >= 0; remaining--) {
      const { ctx, headers } = stub('192.0.2.1');
      await limit(ctx, next);
      expect(headers).toMatchObject({
        'RateLimit-Limit': '3',
        'RateLimit-Remaining': String(remaining),
        'RateLimit-Policy': '3;w=60',
      });
      expect(Number(headers['RateLimit-Reset'])).toBeGreaterThan(0);
      expect(Number(headers['RateLimit-Reset'])).toBeLessThanOrEqual(60);
    }
    const over = stub('192.0.2.1');
    const err = await rejection(limit(over.ctx, next));
    expect(err).toMatchObject({ status: 429, code: 'rate_limited' });
    expect(over.headers['RateLimit-Remaining']).toBe('0');
    expect(Number(over.headers['Retry-After'])).toBeGreaterThanOrEqual(1);
    expect(Number(over.headers['Retry-After'])).toBeLessThanOrEqual(60);
    expect(handled).toBe(3);

    // Another token has its own quota.
    const other = stub('192.0.2.1', undefined, 'token-b');
    await limit(other.ctx, next);
    expect(other.headers['RateLimit-Remaining']).toBe('2');
    expect(handled).toBe(4);
  });

  it('is off at 0: no headers, no refusals', async () => {
    const limit = requestRateLimit({ ...LIMITS, requestsPerWindow: 0 }, tokenIdOf);
    for (let i = 0; i < 10; i++) {
      const { ctx, headers } = stub('192.0.2.1');
      await limit(ctx, async () => undefined);
      expect(headers).toEqual({});
    }
  });
});

describe('AuthFailureThrottle', () => {
  it('refuses an address after more than the allowed failures, before any lookup; other addresses go on', async () => {
    const throttle = new AuthFailureThrottle(LIMITS);
    const attacker = () => stub('10.0.0.2', '203.0.113.9');
    for (let i = 0; i < 3; i++) {
      await throttle.check(attacker().ctx);
      await throttle.failed(attacker().ctx);
    }
    const refused = attacker();
    const err = await rejection(throttle.check(refused.ctx));
    expect(err).toMatchObject({ status: 429, code: 'too_many_auth_failures' });
    expect(Number(refused.headers['Retry-After'])).toBeGreaterThanOrEqual(1);
    // A client-written X-Forwarded-For entry does not make it someone else.
    await rejection(throttle.check(stub('10.0.0.2', '198.51.100.1, 203.0.113.9').ctx));
    // Another address behind the same proxy is not affected.
    await expect(throttle.check(stub('10.0.0.2', '203.0.113.10').ctx)).resolves.toBeUndefined();
  });

  it('is off at 0', async () => {
    const throttle = new AuthFailureThrottle({ ...LIMITS, authFailures: 0 });
    for (let i = 0; i < 10; i++) await throttle.failed(stub('192.0.2.1').ctx);
    await expect(throttle.check(stub('192.0.2.1').ctx)).resolves.toBeUndefined();
  });
});

describe('the CHATD_RATE_LIMIT_* and CHATD_MAX_STREAMS_PER_USER variables', () => {
  it('default to limits a UI never meets, and take 0 as off', () => {
    expect(parseConfig({}).requestLimits).toEqual({
      requestsPerWindow: 300,
      windowSeconds: 10,
      authFailures: 30,
      authWindowSeconds: 60,
      proxyHops: 1,
      maxStreamsPerUser: 32,
    });
    const off = parseConfig({
      CHATD_RATE_LIMIT_REQUESTS: '0',
      CHATD_RATE_LIMIT_AUTH_FAILURES: '0',
      CHATD_RATE_LIMIT_PROXY_HOPS: '0',
      CHATD_MAX_STREAMS_PER_USER: '0',
    }).requestLimits;
    expect(off).toMatchObject({ requestsPerWindow: 0, authFailures: 0, proxyHops: 0, maxStreamsPerUser: 0 });
  });

  it('name every invalid one', () => {
    let error: unknown;
    try {
      parseConfig({
        CHATD_RATE_LIMIT_REQUESTS: '-1',
        CHATD_RATE_LIMIT_WINDOW: '0',
        CHATD_MAX_STREAMS_PER_USER: 'many',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues.join('\n');
    for (const name of ['CHATD_RATE_LIMIT_REQUESTS', 'CHATD_RATE_LIMIT_WINDOW', 'CHATD_MAX_STREAMS_PER_USER'])
      expect(issues).toContain(name);
  });
});
