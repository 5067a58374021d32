/**
 * Request limits of one API process, counted in its memory with rate-limiter-flexible (fixed
 * windows): a per-token request rate with the IETF draft RateLimit header fields, and a throttle
 * on failed authentications per client address. README "Request limits" and docs/operations.md
 * "Request limits" describe them for clients and operators.
 */
import ipaddr from 'ipaddr.js';
import type { Context, Middleware } from 'koa';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { RequestLimits } from '../../config';
import { RateLimitedError } from '../../errors';

/** Every limit off: what an app built without a configuration gets. */
export const NO_REQUEST_LIMITS: RequestLimits = Object.freeze({
  requestsPerWindow: 0,
  windowSeconds: 1,
  authFailures: 0,
  authWindowSeconds: 1,
  proxyHops: 0,
  maxStreamsPerUser: 0,
});

/** Whole seconds until `res`'s window ends, at least `min`. */
const secondsLeft = (res: RateLimiterRes, min: number): number => Math.max(min, Math.ceil(res.msBeforeNext / 1000));

/** `consume` rejects with the limiter's result when the key is over its limit; anything else is an error. */
async function consume(limiter: RateLimiterMemory, key: string): Promise<{ res: RateLimiterRes; over: boolean }> {
  try {
    return { res: await limiter.consume(key), over: false };
  } catch (rejected) {
    if (rejected instanceof RateLimiterRes) return { res: rejected, over: true };
    throw rejected;
  }
}

/**
 * At most `requestsPerWindow` requests per API token per window; mounted after authentication, keyed
 * by the token id `tokenIdOf` reads. Every response says where the caller stands in the draft-6 form
 * of the IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Limit`,
 * `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the window ends) and `RateLimit-Policy`
 * (`300;w=10`). Over the limit: 429 `rate_limited` with `Retry-After`.
 */
export function requestRateLimit(limits: RequestLimits, tokenIdOf: (ctx: Context) => string): Middleware {
  const { requestsPerWindow: points, windowSeconds } = limits;
  if (points === 0) return (_ctx, next) => next();
  const limiter = new RateLimiterMemory({ keyPrefix: 'token', points, duration: windowSeconds });
  const policy = `${points};w=${windowSeconds}`;
  return async (ctx, next) => {
    const { res, over } = await consume(limiter, tokenIdOf(ctx));
    const reset = secondsLeft(res, 0);
    ctx.set({
      'RateLimit-Limit': String(points),
      'RateLimit-Remaining': String(res.remainingPoints),
      'RateLimit-Reset': String(reset),
      'RateLimit-Policy': policy,
    });
    if (over) {
      const retryAfter = secondsLeft(res, 1);
      ctx.set('Retry-After', String(retryAfter));
      throw new RateLimitedError(
        'rate_limited',
        `Too many requests with this API token: at most ${points} per ${windowSeconds} s. Retry after ${retryAfter} s.`,
        { limit: points, window_seconds: windowSeconds, retry_after_seconds: retryAfter },
      );
    }
    await next();
  };
}

/**
 * The address a request came from, as the throttle counts it. With `proxyHops` reverse proxies in
 * front, the entry the farthest of them appended to X-Forwarded-For (the `proxyHops`-th from the
 * right); entries left of it are whatever the client sent and are never trusted. With 0, the socket's
 * peer. IPv6 addresses count by their /64 (one host usually holds a whole /64); IPv4-mapped ones as IPv4.
 */
export function clientAddress(ctx: Pick<Context, 'get' | 'req'>, proxyHops: number): string {
  const peer = ctx.req.socket.remoteAddress ?? '';
  let address = peer;
  if (proxyHops > 0) {
    const forwarded = ctx
      .get('X-Forwarded-For')
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    if (forwarded.length > 0) address = forwarded[Math.max(0, forwarded.length - proxyHops)]!;
  }
  if (!ipaddr.isValid(address)) return address.slice(0, 100);
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4);
  return `${parts.map((p) => p.toString(16)).join(':')}::/64`;
}

/**
 * Throttles failed authentications per client address: after more than `authFailures` requests with
 * an invalid (unknown, revoked or expired) token within `authWindowSeconds`, every request of that
 * address to an authenticated route is refused with 429 `too_many_auth_failures` and `Retry-After`
 * for `authWindowSeconds`, before its token is looked up, valid or not. Requests without a token cost
 * no lookup and do not count; successful ones do not reset the count.
 */
export class AuthFailureThrottle {
  private readonly limiter: RateLimiterMemory | null;

  constructor(private readonly limits: RequestLimits) {
    this.limiter =
      limits.authFailures === 0
        ? null
        : new RateLimiterMemory({
            keyPrefix: 'auth',
            points: limits.authFailures,
            duration: limits.authWindowSeconds,
            blockDuration: limits.authWindowSeconds,
          });
  }

  /** Throws 429 when the request's address is refused. */
  async check(ctx: Context): Promise<void> {
    if (!this.limiter) return;
    const res = await this.limiter.get(clientAddress(ctx, this.limits.proxyHops));
    if (!res || res.consumedPoints <= this.limits.authFailures || res.msBeforeNext <= 0) return;
    const retryAfter = secondsLeft(res, 1);
    ctx.set('Retry-After', String(retryAfter));
    throw new RateLimitedError(
      'too_many_auth_failures',
      `Too many requests with an invalid API token from this address. Retry after ${retryAfter} s.`,
      { retry_after_seconds: retryAfter },
    );
  }

  /** Counts a failed authentication of the request's address. */
  async failed(ctx: Context): Promise<void> {
    if (this.limiter) await consume(this.limiter, clientAddress(ctx, this.limits.proxyHops));
  }
}
