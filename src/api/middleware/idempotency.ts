/**
 * The `Idempotency-Key` request header (IETF httpapi draft "The Idempotency-Key HTTP Header Field") on the
 * routes that create something: POST /chats, POST /chats/:id/messages and POST /files. A retry with the
 * key of a finished request gets that request's response again (`Idempotent-Replayed: true`) and runs
 * nothing; docs/operations.md ("Idempotency") has the rules. In short:
 *
 * - Keys are per user; the fingerprint (SHA-256 of method, path and body) ties a key to one request, so a
 *   reuse with another body, or on another route, is 422 `idempotency_key_reused`.
 * - A retry while the first request runs is 409 `idempotency_key_in_progress`.
 * - 2xx and 4xx responses of the handler are stored and replayed, except 409 and 429 (try-again answers);
 *   a 5xx or a failure releases the key so a retry runs the request. Route validation (400
 *   `validation_failed`) runs before this wrapper and stores nothing.
 * - The route may store its 2xx response inside its own transaction (`storeInTransaction`), so a request
 *   that dies after committing is replayed, not run twice, once its claim went stale (60 s).
 * - Keys expire 24 h after their first use; expired rows are deleted lazily, at most every 10 minutes per
 *   process, by a request that carries a key. Requests without the header cost nothing.
 */
import { createHash, randomUUID } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Context } from 'koa';
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../db/database';
import {
  claimIdempotencyKey,
  deleteExpiredIdempotencyKeys,
  releaseIdempotencyKey,
  saveIdempotentResponse,
  type ExistingKey,
} from '../../db/repositories/idempotency.repository';
import { AppError, ConflictError, ValidationError } from '../../errors';
import type { RouteHandler } from '../openapi';
import { actor } from './auth';
import { errorHandler } from './error-handler';
import type { RouteSchemas } from './validate';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
/** Set (to `true`) on a response that is a stored one replayed. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';
/** Response headers stored with the response and replayed with it. */
const REPLAYED_RESPONSE_HEADERS = ['location', 'content-location'] as const;
/** How often a process deletes expired keys (lazily, from a request that carries a key). */
export const CLEANUP_INTERVAL_MS = 10 * 60_000;

/** How routes that take the header declare it (the OpenAPI document). */
export const idempotencyKeyHeaderDoc = {
  name: IDEMPOTENCY_KEY_HEADER,
  description:
    'Optional; 1 to 255 printable ASCII characters (a UUID is a good key), bare or as a quoted string. A retry ' +
    'with the same key and request within 24 h gets the first response again, marked `Idempotent-Replayed: true`, ' +
    'and runs nothing. Keys are per user; 2xx and 4xx responses are kept (not 409, 429 or 5xx).',
};

/** The responses the header adds: 409 and 422 (a route with its own 409 names both in one description). */
export const idempotencyResponseDocs = {
  inProgress: '`idempotency_key_in_progress`: a request with this Idempotency-Key is still running.',
  422: {
    description: '`idempotency_key_reused`: the Idempotency-Key was used for another request (another body or route).',
  },
};

/** An RFC 8941 sf-string, which the draft makes the header's syntax: `"…"` with `\"` and `\\` escapes. */
const SF_STRING = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/;
const KEY = /^[\x20-\x7e]{1,255}$/;

/**
 * The key a header value names: an sf-string is unquoted (`"abc"` and `abc` are the same key), a bare value
 * is taken as is. Undefined unless the key is 1 to 255 printable ASCII characters.
 */
export function parseIdempotencyKey(value: string): string | undefined {
  const quoted = SF_STRING.exec(value);
  const key = quoted ? quoted[1]!.replace(/\\(["\\])/g, '$1') : value;
  return KEY.test(key) ? key : undefined;
}

/** SHA-256 (hex) of a request's method, path (with query) and body bytes. */
export function requestFingerprint(method: string, path: string, body: Buffer | string): string {
  return createHash('sha256').update(method).update('\0').update(path).update('\0').update(body).digest('hex');
}

/** The default body of a fingerprint: the parsed JSON body as canonical JSON (RFC 8785), so key order and spacing do not matter. */
export function canonicalJsonBody(ctx: Context): string {
  return canonicalize((ctx.request as { body?: unknown }).body ?? null) ?? 'null';
}

/** Whether a handler's response is stored for replay: 2xx and 4xx, but not 409/429, which say "try again". */
export function isStoredStatus(status: number): boolean {
  return (status >= 200 && status < 300) || (status >= 400 && status < 500 && status !== 409 && status !== 429);
}

const lastCleanup = new WeakMap<object, number>();

/** Whether `db`'s expired keys are due for deletion now (and, if so, notes that they were). */
export function cleanupDue(db: object, now = Date.now()): boolean {
  const last = lastCleanup.get(db);
  if (last !== undefined && now - last < CLEANUP_INTERVAL_MS) return false;
  lastCleanup.set(db, now);
  return true;
}

interface Claim {
  userId: string;
  key: string;
  token: string;
}

export interface IdempotencyDeps {
  db: Kysely<Database>;
  log: Logger;
}

export interface IdempotencyOptions {
  /** The bytes identifying the request body in the fingerprint; default canonicalJsonBody. */
  body?: (ctx: Context) => Promise<Buffer | string> | Buffer | string;
}

/** Wraps a route handler with the Idempotency-Key behaviour; without the header the handler runs as is. */
export function idempotent<S extends RouteSchemas>(
  deps: IdempotencyDeps,
  handler: RouteHandler<S>,
  options: IdempotencyOptions = {},
): RouteHandler<S> {
  return async (ctx, input) => {
    const header = ctx.headers['idempotency-key'];
    if (header === undefined) return handler(ctx, input);
    const key = parseIdempotencyKey(Array.isArray(header) ? header.join(', ') : header);
    if (key === undefined) {
      throw new ValidationError(
        'The Idempotency-Key header must be 1 to 255 printable ASCII characters.',
        undefined,
        'invalid_idempotency_key',
      );
    }
    const userId = actor(ctx).id;
    const path = ctx.querystring ? `${ctx.path}?${ctx.querystring}` : ctx.path;
    const body = await (options.body ?? canonicalJsonBody)(ctx);
    const fingerprint = requestFingerprint(ctx.method, path, body);
    const token = randomUUID();
    const claimed = await claimIdempotencyKey(deps.db, { userId, key, method: ctx.method, path, fingerprint }, token);
    if (claimed.kind === 'busy') throw inProgress(ctx);
    if (claimed.kind === 'existing') return replay(ctx, claimed.row, fingerprint);

    const claim: Claim = { userId, key, token };
    ctx.state.idempotencyClaim = claim;
    // The route's errors become their response here, so a 4xx can be stored like a success.
    await errorHandler()(ctx, async () => {
      await handler(ctx, input);
    });
    await finish(deps, ctx, claim);
    await cleanUp(deps);
  };
}

/**
 * For a service's `beforeCommit`: stores the route's `status` and `response` under the request's claim in
 * the service's transaction, so the effect and the response commit together. Undefined without a key.
 * Throws 409 when the claim was taken over meanwhile, which rolls the effect back.
 */
export function storeInTransaction<T>(
  ctx: Context,
  status: number,
): ((trx: Transaction<Database>, response: T) => Promise<void>) | undefined {
  const claim = ctx.state.idempotencyClaim as Claim | undefined;
  if (!claim) return undefined;
  return async (trx, response) => {
    const body = JSON.stringify(response);
    const held = await saveIdempotentResponse(trx, claim, { status, body, headers: {}, completed: false });
    if (!held) throw inProgress(ctx);
  };
}

function inProgress(ctx: Context): AppError {
  ctx.set('Retry-After', '1');
  return new ConflictError(
    'idempotency_key_in_progress',
    'A request with this Idempotency-Key is still being processed; retry shortly.',
  );
}

/** Answers a retry from the key's row: the stored response, or 422 / 409. */
function replay(ctx: Context, row: ExistingKey, fingerprint: string): void {
  if (row.fingerprint !== fingerprint) {
    throw new AppError(
      422,
      'idempotency_key_reused',
      `This Idempotency-Key was already used for another request (${row.method} ${row.path} with ` +
        'another body); use a new key for a new request.',
    );
  }
  // A response stored in the first request's transaction is final once that request is gone.
  if (row.status === null || !(row.completed || row.claimStale)) throw inProgress(ctx);
  for (const [name, value] of Object.entries(row.headers)) ctx.set(name, value);
  ctx.set(REPLAYED_HEADER, 'true');
  ctx.status = row.status;
  if (row.body !== null) ctx.body = row.body;
}

/** Stores the response under the claim, or releases the claim when there is nothing to replay. */
async function finish(deps: IdempotencyDeps, ctx: Context, claim: Claim): Promise<void> {
  const body: unknown = ctx.body;
  const json = body === undefined || body === null || (typeof body === 'object' && !Buffer.isBuffer(body));
  const streamed = typeof (body as { pipe?: unknown } | null)?.pipe === 'function';
  try {
    if (isStoredStatus(ctx.status) && json && !streamed) {
      const headers: Record<string, string> = {};
      for (const name of REPLAYED_RESPONSE_HEADERS) {
        const value = ctx.response.get(name);
        if (value) headers[name] = value;
      }
      const text = body === undefined || body === null ? null : JSON.stringify(body);
      const held = await saveIdempotentResponse(deps.db, claim, {
        status: ctx.status,
        body: text,
        headers,
        completed: true,
      });
      if (!held)
        deps.log.warn({ key: claim.key, userId: claim.userId }, 'idempotency key was taken over; response not stored');
    } else {
      await releaseIdempotencyKey(deps.db, claim);
    }
  } catch (err) {
    // The response stands; an unstored claim goes stale and can be retaken after the claim timeout.
    deps.log.error({ err, key: claim.key, userId: claim.userId }, 'could not store the idempotency key');
  }
}

async function cleanUp(deps: IdempotencyDeps): Promise<void> {
  if (!cleanupDue(deps.db)) return;
  try {
    const deleted = await deleteExpiredIdempotencyKeys(deps.db);
    if (deleted > 0) deps.log.debug({ deleted }, 'deleted expired idempotency keys');
  } catch (err) {
    deps.log.warn({ err }, 'could not delete expired idempotency keys');
  }
}
