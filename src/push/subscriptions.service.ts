/**
 * The API side of web push: a user's browsers subscribe and unsubscribe here. Subscriptions are
 * stored per user, one row per push endpoint, at most MAX_SUBSCRIPTIONS_PER_USER per user (the
 * oldest go first), and only their owner can see or delete them.
 */
import type { Kysely } from 'kysely';
import type { Database, PushSubscriptionRow } from '../db/database';
import {
  deletePushSubscriptionOfUser,
  deletePushSubscriptionOfUserByEndpoint,
  trimPushSubscriptions,
  upsertPushSubscription,
} from '../db/repositories/push-subscriptions.repository';
import { AppError, NotFoundError } from '../errors';
import type { Actor } from '../security/actor';

/**
 * Browsers kept per user. Browsers rarely say when they drop a subscription, and a push service
 * reports it only when chatd next sends, so the cap bounds how many stale rows one user can pile up.
 */
export const MAX_SUBSCRIPTIONS_PER_USER = 20;

/** 501 `push_disabled`: this deployment has no VAPID keys, so it cannot send web push. */
export class PushDisabledError extends AppError {
  constructor() {
    super(
      501,
      'push_disabled',
      'Web push is not enabled on this server (no VAPID keys are configured: CHATD_VAPID_PUBLIC_KEY, CHATD_VAPID_PRIVATE_KEY, CHATD_VAPID_SUBJECT).',
    );
  }
}

/** A browser's PushSubscription as it serialises it (`subscription.toJSON()`), already validated. */
export interface PushSubscriptionInput {
  endpoint: string;
  /** Milliseconds since the epoch when the subscription expires, or null. */
  expirationTime?: number | null;
  keys: { p256dh: string; auth: string };
}

/** A stored subscription as the API shows it (never its keys). */
export interface PushSubscriptionDto {
  id: string;
  endpoint: string;
  expiration_time: string | null;
  created_at: string;
  updated_at: string;
}

function toDto(row: PushSubscriptionRow): PushSubscriptionDto {
  return {
    id: row.id,
    endpoint: row.endpoint,
    expiration_time: row.expires_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/**
 * Stores the caller's subscription. A browser that subscribes again, even after signing in as
 * another user, replaces its row (`created: false`): pushes follow whoever subscribed it last.
 */
export async function subscribe(
  db: Kysely<Database>,
  actor: Actor,
  input: PushSubscriptionInput,
): Promise<{ subscription: PushSubscriptionDto; created: boolean }> {
  return db.transaction().execute(async (trx) => {
    const row = await upsertPushSubscription(trx, {
      userId: actor.id,
      endpoint: input.endpoint,
      p256dh: input.keys.p256dh,
      auth: input.keys.auth,
      expiresAt: input.expirationTime == null ? null : new Date(input.expirationTime),
    });
    await trimPushSubscriptions(trx, actor.id, MAX_SUBSCRIPTIONS_PER_USER);
    const { inserted, ...stored } = row;
    return { subscription: toDto(stored), created: inserted };
  });
}

/**
 * Deletes one of the caller's subscriptions, by id or by endpoint. Throws NotFoundError
 * (`push_subscription_not_found`) when the caller has no such subscription, whoever else may.
 */
export async function unsubscribe(
  db: Kysely<Database>,
  actor: Actor,
  which: { id: string } | { endpoint: string },
): Promise<void> {
  const deleted =
    'id' in which
      ? await deletePushSubscriptionOfUser(db, actor.id, which.id)
      : await deletePushSubscriptionOfUserByEndpoint(db, actor.id, which.endpoint);
  if (!deleted) throw new NotFoundError('push_subscription');
}
