/**
 * Idempotency keys (`idempotency_keys`, docs/operations.md "Idempotency"). A key is claimed atomically with
 * INSERT … ON CONFLICT, so of two API processes racing for one key exactly one runs the request; the
 * claimant then stores its response (or releases the claim) by its claim token, so a request whose claim was
 * taken over never overwrites the new holder's row. Times are the database's clock, shared by every process.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

/** A key lives this long from its first use; an older row is ignored and deleted lazily. */
export const IDEMPOTENCY_KEY_TTL_HOURS = 24;
/** A claim without a response older than this is a crashed request's: another request may take it over. */
export const IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS = 60;

const expired = sql<boolean>`idempotency_keys.created_at < now() - make_interval(hours => ${IDEMPOTENCY_KEY_TTL_HOURS})`;
const claimStale = sql<boolean>`idempotency_keys.claimed_at < now() - make_interval(secs => ${IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS})`;

export interface IdempotentRequest {
  userId: string;
  key: string;
  method: string;
  path: string;
  /** SHA-256 (hex) of the method, path and body. */
  fingerprint: string;
}

/** A live key another request took: what it was for and, once stored, its response. */
export interface ExistingKey {
  method: string;
  path: string;
  fingerprint: string;
  /** The stored response's status; null while the first request runs. */
  status: number | null;
  body: unknown;
  headers: Record<string, string>;
  /** The first request finished (its response is final). */
  completed: boolean;
  /** The claim is older than IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS. */
  claimStale: boolean;
}

export type ClaimResult =
  { kind: 'claimed'; token: string } | { kind: 'existing'; row: ExistingKey } | { kind: 'busy' };

/**
 * Claims `request.key` for the request: inserts the row, or takes over one that expired or whose claim went
 * stale without a response. Otherwise returns the live row for the caller to replay or refuse. A row that
 * vanishes between the two statements (its request failed and released it) is claimed on the next round;
 * `busy` only if that keeps happening.
 */
export async function claimIdempotencyKey(db: Db, request: IdempotentRequest, token: string): Promise<ClaimResult> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const claimed = await db
      .insertInto('idempotency_keys')
      .values({
        user_id: request.userId,
        key: request.key,
        request_method: request.method,
        request_path: request.path,
        fingerprint: request.fingerprint,
        claim_token: token,
      })
      .onConflict((oc) =>
        oc
          .columns(['user_id', 'key'])
          .doUpdateSet({
            request_method: (eb) => eb.ref('excluded.request_method'),
            request_path: (eb) => eb.ref('excluded.request_path'),
            fingerprint: (eb) => eb.ref('excluded.fingerprint'),
            claim_token: (eb) => eb.ref('excluded.claim_token'),
            claimed_at: sql<Date>`now()`,
            created_at: sql<Date>`now()`,
            response_status: null,
            response_body: null,
            response_headers: '{}',
            completed_at: null,
          })
          .where((eb) => eb.or([expired, eb.and([eb('idempotency_keys.response_status', 'is', null), claimStale])])),
      )
      .returning('claim_token')
      .executeTakeFirst();
    if (claimed) return { kind: 'claimed', token };

    const row = await db
      .selectFrom('idempotency_keys')
      .select([
        'request_method',
        'request_path',
        'fingerprint',
        'response_status',
        'response_body',
        'response_headers',
        'completed_at',
        expired.as('expired'),
        claimStale.as('claim_stale'),
      ])
      .where('user_id', '=', request.userId)
      .where('key', '=', request.key)
      .executeTakeFirst();
    if (row && !row.expired) {
      return {
        kind: 'existing',
        row: {
          method: row.request_method,
          path: row.request_path,
          fingerprint: row.fingerprint,
          status: row.response_status,
          body: row.response_body,
          headers: row.response_headers,
          completed: row.completed_at !== null,
          claimStale: row.claim_stale,
        },
      };
    }
  }
  return { kind: 'busy' };
}

export interface IdempotentResponse {
  status: number;
  /** The JSON text of the body; null for none. */
  body: string | null;
  headers: Record<string, string>;
  /**
   * Final (the request finished); false for a response stored inside the request's own transaction, which a
   * retry replays only once the claim went stale (the request died after committing).
   */
  completed: boolean;
}

/** Stores the response under the caller's claim. False when the claim is no longer the caller's. */
export async function saveIdempotentResponse(
  db: Db,
  claim: { userId: string; key: string; token: string },
  response: IdempotentResponse,
): Promise<boolean> {
  const result = await db
    .updateTable('idempotency_keys')
    .set({
      response_status: response.status,
      response_body: response.body,
      response_headers: JSON.stringify(response.headers),
      completed_at: response.completed ? sql<Date>`now()` : null,
    })
    .where('user_id', '=', claim.userId)
    .where('key', '=', claim.key)
    .where('claim_token', '=', claim.token)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Drops the caller's claim (its request failed with nothing to replay), so a retry runs the request. */
export async function releaseIdempotencyKey(
  db: Db,
  claim: { userId: string; key: string; token: string },
): Promise<void> {
  await db
    .deleteFrom('idempotency_keys')
    .where('user_id', '=', claim.userId)
    .where('key', '=', claim.key)
    .where('claim_token', '=', claim.token)
    .execute();
}

/** Deletes every expired key (through the `created_at` index). Returns how many went. */
export async function deleteExpiredIdempotencyKeys(db: Db): Promise<number> {
  const result = await db.deleteFrom('idempotency_keys').where(expired).executeTakeFirst();
  return Number(result.numDeletedRows);
}
